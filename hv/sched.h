/* SPDX-License-Identifier: MIT */
/*
 * Time, the one-shot timer's deadline (set_timer_op; its firing is the
 * timer device's, timer.h), stop requests, the vCPU's wake-up, and the
 * scheduling operations but SCHEDOP_block (deliver.h: a block waits on the
 * devices). The lowest layer above the domain: it calls no device.
 */
#ifndef PVFT_HV_SCHED_H
#define PVFT_HV_SCHED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"

struct domain;

struct sched {
	uint64_t boot_ns;  /* host CLOCK_MONOTONIC when the domain booted */
	uint64_t deadline; /* timer, in ns since boot */
	bool timer_armed;
	int wake_fd; /* eventfd: wakes a blocked vCPU (any thread) */
	/*
	 * Set by the vCPU thread, read by the watchdog: is the vCPU in the
	 * hv (a hypercall, a block) rather than running guest code?
	 */
	bool in_hv;
	/*
	 * vCPU thread: the latest block was ended by a stop request with no
	 * event pending (not a wake-up: a handover must not call it done).
	 */
	bool block_cut;
	/* Why pvft-hv must stop: a signal, SCHED_STOP_STALLED, 0 if not. */
	int stop_signal;
	pthread_t vcpu_thread;
};

int sched__init(struct sched *s);
void sched__dispose(struct sched *s);

uint64_t sched__now(const struct domain *d);
/* Any thread, async-signal-safe: wake the vCPU if it is blocked. */
void sched__wake(struct sched *s);

/*
 * Any thread but the vCPU's: end the domain as soon as the vCPU is out of
 * the guest, out of a block and out of any blocking host call. @sig is the
 * stop signal, or SCHED_STOP_STALLED: a replay whose guest stopped making
 * exits (gate.h).
 */
#define SCHED_STOP_STALLED (-1)
/* A live pair's replica that lost the arbiter: halt at once. */
#define SCHED_STOP_FENCED (-2)
/*
 * pvft promote: the primary stops at its next exit boundary and hands the
 * pair over (gate__handover); a failed handover clears it and runs on.
 */
#define SCHED_STOP_HANDOVER (-3)
/*
 * A save or live migration (hv/migrate.c): the vCPU stops at its next exit
 * boundary for the stop-and-copy (migrate__cut), then ends or runs on.
 */
#define SCHED_STOP_MIGRATE (-4)
void sched__request_stop(struct domain *d, int sig);
/* SCHED_STOP_HANDOVER unless a stop is already asked for: true if set. */
bool sched__request_handover(struct domain *d);
/* vCPU thread: a failed handover is no stop. */
void sched__clear_handover(struct domain *d);
/* The same for SCHED_STOP_MIGRATE (any thread but the vCPU's). */
bool sched__request_migrate(struct domain *d);
void sched__clear_migrate(struct domain *d);
int sched__stop_requested(const struct domain *d);
/*
 * A stop at the next exit boundary (a handover, a migration's cut): the
 * vCPU goes on to that boundary, and a wait for a record is no reason to
 * end (the others, signals and the pair's verdicts, end the domain).
 */
static inline bool sched__boundary_stop(int sig)
{
	return sig == SCHED_STOP_HANDOVER || sig == SCHED_STOP_MIGRATE;
}
/* The vCPU thread: catch the kick signal (SIGUSR1) without dying of it. */
int sched__init_kick(struct domain *d);

/* Live: has the armed timer's deadline passed? */
bool sched__timer_due(struct domain *d);

long sched__set_timer(struct domain *d, uint64_t deadline);
/* SCHEDOP_yield and SCHEDOP_shutdown (block: deliver__block). */
long sched__op(struct domain *d, uint64_t cmd, uint64_t arg);

#endif /* PVFT_HV_SCHED_H */
