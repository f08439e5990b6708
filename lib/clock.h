/* SPDX-License-Identifier: MIT */
/*
 * The monotonic clock, the one every deadline, timeout and "how long ago"
 * in pvft's host programs is measured on (CLOCK_MONOTONIC: never set back,
 * and what pthread_cond_timedwait() and poll() deadlines are taken
 * against). Header only: a clock read is a vDSO call, not worth a call of
 * its own.
 */
#ifndef PVFT_LIB_CLOCK_H
#define PVFT_LIB_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns. */
static inline uint64_t clock__mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * CLOCK_MONOTONIC_COARSE in ns: a memory read even where the precise clock
 * is not (a VM's emulated clocksource), a few ms behind. For what is asked
 * at every exit and needs no precision (a digest interval).
 */
static inline uint64_t clock__coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in ms. */
static inline uint64_t clock__mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif /* PVFT_LIB_CLOCK_H */
