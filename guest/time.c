// SPDX-License-Identifier: MIT
/*
 * Clocks, software timers over the hv's one-shot timer, and blocking.
 *
 * The hv timer (set_timer_op) is a single deadline. Invariant: while the
 * timer list is non-empty, the hv's deadline is at or before the list's
 * head, or VIRQ_TIMER is already pending. An hv deadline earlier than
 * needed (left from block_domain(), or from a deleted timer) only causes
 * a wake-up that re-arms; we never spend an exit cancelling it.
 */
#include "console.h"
#include "events.h"
#include "hypervisor.h"
#include "lib.h"
#include "time.h"

static struct timer *timers; /* pending timers, earliest first */
static int64_t armed;	     /* the hv's deadline as we last set it; 0: none */

static int64_t clock_read(unsigned int clock)
{
	long ns = HYPERVISOR_pvft_op(PVFTOP_time, clock, 0);

	/* Only a broken hv fails this, and without time nothing works. */
	BUG_ON(ns < 0);
	return ns;
}

int64_t monotonic_clock(void)
{
	return clock_read(PVFT_CLOCK_MONOTONIC);
}

int64_t wall_clock(void)
{
	return clock_read(PVFT_CLOCK_WALL);
}

static void arm(int64_t deadline)
{
	/* 0 would cancel; a deadline of boot time is simply overdue. */
	if (deadline < 1)
		deadline = 1;
	if (deadline == armed)
		return;
	HYPERVISOR_set_timer_op(deadline);
	armed = deadline;
}

static void timer_event(evtchn_port_t port, void *data)
{
	int64_t now;

	(void)port;
	(void)data;
	armed = 0; /* one-shot: it fired */
	now = NOW();
	while (timers && timers->expires <= now) {
		struct timer *t = timers;

		/* Unlinked before it runs, so fn may add_timer() it again. */
		timers = t->next;
		t->next = NULL;
		t->pending = false;
		t->fn(t, t->data);
	}
	if (timers)
		arm(timers->expires);
}

void init_time(void)
{
	int port = bind_virq(VIRQ_TIMER, timer_event, NULL);

	if (port < 0)
		panic("time: cannot bind VIRQ_TIMER: %d", port);
}

void init_timer(struct timer *t, void (*fn)(struct timer *t, void *data),
		void *data)
{
	*t = (struct timer){ .fn = fn, .data = data };
}

static void unlink_timer(struct timer *t)
{
	struct timer **pp;

	for (pp = &timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->next = NULL;
	t->pending = false;
}

void add_timer(struct timer *t, int64_t expires)
{
	struct timer **pp;

	if (t->pending)
		unlink_timer(t);
	t->expires = expires;
	/* After timers with the same deadline: they run in the order added. */
	for (pp = &timers; *pp && (*pp)->expires <= expires; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	t->pending = true;
	if (timers == t)
		arm(expires);
}

void del_timer(struct timer *t)
{
	if (t->pending)
		unlink_timer(t);
}

void block_domain(int64_t until)
{
	/* A handler that blocked would re-enter the dispatcher it runs in. */
	BUG_ON(HYPERVISOR_shared_info->vcpu_info[0].evtchn_upcall_mask);
	console_flush();
	/*
	 * No NOW() check first: a deadline already past fires at once (the
	 * hv treats it as due at this very exit), which saves an exit on
	 * every block that does sleep.
	 */
	arm(timers && timers->expires < until ? timers->expires : until);
	HYPERVISOR_sched_op(SCHEDOP_block, NULL);
	hypervisor_check_events();
}

void sleep_ns(int64_t ns)
{
	int64_t until = NOW() + ns;

	do
		block_domain(until);
	while (NOW() < until);
}

void msleep(uint32_t ms)
{
	sleep_ns(MILLISECS(ms));
}
