// SPDX-License-Identifier: MIT
/*
 * pvft-hv's pair policy, the arbiter: fence.h says what each call does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "arbiter.h"
#include "clock.h"
#include "fence.h"
#include "log.h"

/* Each question's bound, and the pause before asking again at pairing. */
#define FENCE_TIMEOUT_MS 1000
#define FENCE_RETRY_MS 100

static const char *fence_name(void *opaque)
{
	return arbiter__url(opaque);
}

/*
 * A (pair, epoch) the arbiter already gave to a node was failed over; a
 * replica of it starting afresh would run a blank domain under the name
 * of one whose state lives on elsewhere (pair.md, "Stale replicas").
 */
static int fence_check_owner(void *opaque, uint64_t pair, uint64_t epoch,
			     uint64_t deadline)
{
	struct arbiter *a = opaque;
	char owner[ARBITER_NODE_MAX + 1], why[256];
	uint64_t said = 0;

	for (;;) {
		enum arbiter_answer ans = arbiter__query(
		    a, pair, epoch, FENCE_TIMEOUT_MS, owner, why, sizeof(why));
		uint64_t now = clock__mono_ns();

		if (ans == ARBITER_FREE)
			return 0;
		if (ans == ARBITER_GRANTED || ans == ARBITER_DENIED) {
			pr_err("pair %" PRIu64 " epoch %" PRIu64
			       " already belongs to node %s (the arbiter "
			       "%s gave it after a failover): this replica "
			       "would run a stale domain; not pairing. Start "
			       "a new pair at epoch %" PRIu64
			       " or later, or find node %s",
			       pair, epoch, owner, arbiter__url(a), epoch + 1,
			       owner);
			return -EEXIST;
		}
		if (now >= deadline) {
			pr_err("cannot reach the arbiter %s to check pair "
			       "%" PRIu64 " epoch %" PRIu64 " (%s): not "
			       "pairing",
			       arbiter__url(a), pair, epoch, why);
			return -ETIMEDOUT;
		}
		if (now - said >= 2000000000ull) {
			pr_warn("cannot reach the arbiter %s (%s): asking "
				"again before pairing",
				arbiter__url(a), why);
			said = now;
		}
		usleep(FENCE_RETRY_MS * 1000);
	}
}

static enum chan_verdict fence_decide(void *opaque, uint64_t pair,
				      uint64_t epoch, const char *node,
				      char *owner, size_t owner_len, char *why,
				      size_t why_len)
{
	char who[ARBITER_NODE_MAX + 1] = "";

	switch (arbiter__acquire(opaque, pair, epoch, node, FENCE_TIMEOUT_MS,
				 who, why, why_len)) {
	case ARBITER_GRANTED:
		return CHAN_VERDICT_ALONE;
	case ARBITER_DENIED:
		snprintf(owner, owner_len, "%s", who);
		return CHAN_VERDICT_FENCED;
	default:
		return CHAN_VERDICT_RETRY;
	}
}

const struct chan_policy fence__policy = {
	.name = fence_name,
	.check_owner = fence_check_owner,
	.decide = fence_decide,
};
