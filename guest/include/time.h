/* SPDX-License-Identifier: MIT */
/*
 * Time and timers. The hypercalls are the guest's only clocks (RDTSC would
 * read the host's counter and break replay: DESIGN.md section 6).
 *
 * One hv timer (set_timer_op, VIRQ_TIMER) serves a sorted list of software
 * timers; it is always armed at or before the earliest of them, so a
 * deadline is never missed (an early wake-up just re-arms).
 */
#ifndef GUEST_TIME_H
#define GUEST_TIME_H

#include <stdbool.h>
#include <stdint.h>

#define NSEC_PER_USEC 1000LL
#define NSEC_PER_MSEC 1000000LL
#define NSEC_PER_SEC 1000000000LL
#define MICROSECS(us) ((int64_t)(us)*NSEC_PER_USEC)
#define MILLISECS(ms) ((int64_t)(ms)*NSEC_PER_MSEC)
#define SECONDS(s) ((int64_t)(s)*NSEC_PER_SEC)

/* ns since the domain booted (PVFTOP_time, PVFT_CLOCK_MONOTONIC). */
int64_t monotonic_clock(void);
#define NOW() monotonic_clock()
/* ns since the UNIX epoch (PVFT_CLOCK_WALL). */
int64_t wall_clock(void);

struct timer {
	struct timer *next; /* in the sorted list while pending */
	int64_t expires;    /* monotonic ns */
	bool pending;
	void (*fn)(struct timer *t, void *data);
	void *data;
};

void init_time(void);

void init_timer(struct timer *t, void (*fn)(struct timer *t, void *data),
		void *data);
/* (Re)arm @t to run @fn once NOW() >= @expires. */
void add_timer(struct timer *t, int64_t expires);
void del_timer(struct timer *t);
static inline bool timer_pending(const struct timer *t)
{
	return t->pending;
}

/*
 * Sleep until an event is pending or @until (monotonic ns) has passed,
 * whichever comes first, then deliver events. Never from a handler.
 */
void block_domain(int64_t until);
/* Sleep for at least @ns, delivering events meanwhile. */
void sleep_ns(int64_t ns);
void msleep(uint32_t ms);

#endif /* GUEST_TIME_H */
