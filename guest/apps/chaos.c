// SPDX-License-Identifier: MIT
/*
 * Nondeterminism stress: every round reads both clocks, draws random
 * bytes and unique ids, races software timers with random short delays
 * against blocking, yields, bounces events over a loopback event-channel
 * pair and sleeps a random while. Everything observed (values, and the
 * order in which timer and event callbacks ran) is folded into one FNV-1a
 * digest. Two live runs print different digests; a replay of a recorded
 * run must print the recorded one, line for line.
 *
 * Along the way it checks what must hold whatever the inputs: clocks
 * never go back, a timer never runs before its deadline, a deleted timer
 * never runs.
 *
 * cmdline: rounds=K (default 200)
 */
#include "console.h"
#include "events.h"
#include "hypervisor.h"
#include "lib.h"
#include "time.h"

#define CHAOS_DEFAULT_ROUNDS 200
#define CHAOS_PROGRESS_EVERY 50
#define CHAOS_PAIR_EVERY 64 /* re-create the loopback pair */
#define CHAOS_MAX_TIMERS 3
#define CHAOS_MAX_DELAY_NS 2000000 /* timers: 0..2 ms */
#define CHAOS_MAX_SLEEP_US 500
#define CHAOS_MAX_SENDS 3
#define CHAOS_MAX_IDS 3

#define FNV64_OFFSET 0xcbf29ce484222325ull
#define FNV64_PRIME 0x100000001b3ull

struct chaos {
	uint64_t digest;
	unsigned long round;
	unsigned long events, timers;
	unsigned int failures;
	int64_t last_now;
	/* The loopback pair: a send on one makes the other pending. */
	evtchn_port_t a, b;
	unsigned int fired; /* this round's timers that ran */
};

static struct chaos chaos = { .digest = FNV64_OFFSET };
static uint8_t rbuf[PVFT_RANDOM_MAX];

static void fold(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--) {
		chaos.digest ^= *b++;
		chaos.digest *= FNV64_PRIME;
	}
}

static void fold_u64(uint64_t v)
{
	fold(&v, sizeof(v));
}

static void fail(const char *what, long long got, long long want)
{
	chaos.failures++;
	printf("chaos: FAIL round %lu: %s: got %lld want %lld\n", chaos.round,
	       what, got, want);
}

/* NOW(), folded in and checked against the previous reading. */
static int64_t observe_now(void)
{
	int64_t now = NOW();

	if (now < chaos.last_now)
		fail("monotonic clock went back", now, chaos.last_now);
	chaos.last_now = now;
	fold_u64(now);
	return now;
}

static void timer_fn(struct timer *t, void *data)
{
	uintptr_t index = (uintptr_t)data;
	int64_t now = observe_now();

	if (now < t->expires)
		fail("timer ran early", now, t->expires);
	fold_u64(index);
	chaos.timers++;
	chaos.fired++;
}

/* It may run before del_timer() (a short delay and a poll), never after. */
static void cancelled_fn(struct timer *t, void *data)
{
	bool *deleted = data;

	if (*deleted)
		fail("deleted timer ran", NOW(), t->expires);
	fold_u64(CHAOS_MAX_TIMERS);
}

static void event_fn(evtchn_port_t port, void *data)
{
	(void)data;
	fold_u64(port);
	fold_u64(chaos.round);
	chaos.events++;
}

static int make_pair(void)
{
	int rc;

	rc = evtchn_alloc_unbound(DOMID_SELF, event_fn, NULL, &chaos.a);
	if (rc)
		return rc;
	rc = evtchn_bind_interdomain(DOMID_SELF, chaos.a, event_fn, NULL,
				     &chaos.b);
	if (rc)
		return rc;
	fold_u64(chaos.a);
	fold_u64(chaos.b);
	return 0;
}

static int drop_pair(void)
{
	int rc = unbind_evtchn(chaos.b);

	return rc ? rc : unbind_evtchn(chaos.a);
}

static int one_round(void)
{
	struct timer timers[CHAOS_MAX_TIMERS], cancelled;
	uint64_t dec[8]; /* this round's random decisions */
	unsigned int i, n;
	int64_t now, last = 0;
	bool deleted = false;
	size_t len;
	int rc;

	observe_now();
	fold_u64(wall_clock());

	rc = get_random_bytes(dec, sizeof(dec));
	if (rc)
		return rc;
	fold(dec, sizeof(dec));
	len = 1 + dec[0] % PVFT_RANDOM_MAX;
	rc = get_random_bytes(rbuf, len);
	if (rc)
		return rc;
	fold(rbuf, len);

	n = 1 + dec[1] % CHAOS_MAX_IDS;
	for (i = 0; i < n; i++)
		fold_u64(get_unique_id());

	/* Timers with random deadlines, plus one deleted, maybe before due. */
	n = 1 + dec[2] % CHAOS_MAX_TIMERS;
	chaos.fired = 0;
	now = observe_now();
	for (i = 0; i < n; i++) {
		int64_t expires = now + (int64_t)((dec[3] >> (16 * i)) %
						  (CHAOS_MAX_DELAY_NS + 1));

		init_timer(&timers[i], timer_fn, (void *)(uintptr_t)i);
		add_timer(&timers[i], expires);
		last = max(last, expires);
	}
	init_timer(&cancelled, cancelled_fn, &deleted);
	add_timer(&cancelled, now + (int64_t)(dec[4] % CHAOS_MAX_DELAY_NS));
	if (dec[4] & 1)
		poll_events();
	del_timer(&cancelled);
	deleted = true;
	while (chaos.fired < n)
		block_domain(last);

	poll_events();
	observe_now();

	/* Events both ways over the loopback pair, then let them land. */
	n = dec[5] % (CHAOS_MAX_SENDS + 1);
	for (i = 0; i < n; i++) {
		rc = notify_remote_via_evtchn(dec[5] >> (8 + i) & 1 ? chaos.a
								    : chaos.b);
		if (rc)
			return rc;
	}
	poll_events();

	sleep_ns(MICROSECS(dec[6] % (CHAOS_MAX_SLEEP_US + 1)));
	observe_now();
	return 0;
}

int app_main(const char *cmdline)
{
	unsigned long rounds =
	    cmdline_get_ulong(cmdline, "rounds", CHAOS_DEFAULT_ROUNDS);
	int rc;

	rc = make_pair();
	if (rc) {
		printf("chaos: loopback event channel: error %d\n", rc);
		return 1;
	}
	for (chaos.round = 1; chaos.round <= rounds; chaos.round++) {
		rc = one_round();
		if (!rc && chaos.round % CHAOS_PAIR_EVERY == 0) {
			rc = drop_pair();
			if (!rc)
				rc = make_pair();
		}
		if (rc) {
			printf("chaos: round %lu: hypercall error %d\n",
			       chaos.round, rc);
			return 1;
		}
		if (chaos.round % CHAOS_PROGRESS_EVERY == 0)
			printf("chaos: round %lu digest=%016llx\n", chaos.round,
			       (unsigned long long)chaos.digest);
	}
	fold_u64(evtchn_stray_count());
	printf("chaos: done rounds=%lu events=%lu timers=%lu digest=%016llx\n",
	       rounds, chaos.events, chaos.timers,
	       (unsigned long long)chaos.digest);
	return chaos.failures ? 1 : 0;
}
