// SPDX-License-Identifier: MIT
/*
 * pvft-hv's pair policy, the arbiter: fence.h says what each call does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
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
		/*
		 * Opened: the holder of epoch - 1's grant is re-protecting a
		 * running domain into this epoch; a replica booted from the
		 * image has none of that domain's state.
		 */
		if (ans == ARBITER_OPENED) {
			pr_err("pair %" PRIu64 " epoch %" PRIu64
			       " was opened by node %s to re-protect a running "
			       "domain: a replica started from boot would run "
			       "a blank domain; not pairing",
			       pair, epoch, owner);
			return -EEXIST;
		}
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

int fence__advance(struct arbiter *a, uint64_t pair, uint64_t epoch,
		   const char *node, uint64_t deadline_ns, char *why,
		   size_t why_len)
{
	char owner[ARBITER_NODE_MAX + 1], last[256];

	for (;;) {
		enum arbiter_answer ans =
		    arbiter__advance(a, pair, epoch, node, FENCE_TIMEOUT_MS,
				     owner, last, sizeof(last));

		switch (ans) {
		case ARBITER_GRANTED:
			return 0;
		case ARBITER_DENIED:
			if (!strcmp(owner, node))
				snprintf(why, why_len,
					 "the arbiter %s refused to open pair "
					 "%" PRIu64 " epoch %" PRIu64
					 ": %s owns it already (the pair "
					 "moved on past epoch %" PRIu64 ")",
					 arbiter__url(a), pair, epoch + 1, node,
					 epoch);
			else
				snprintf(why, why_len,
					 "the arbiter %s refused to open pair "
					 "%" PRIu64 " epoch %" PRIu64
					 " for %s: node %s holds epoch "
					 "%" PRIu64 "'s grant, or owns or "
					 "opened epoch %" PRIu64,
					 arbiter__url(a), pair, epoch + 1, node,
					 owner, epoch, epoch + 1);
			return -EPERM;
		case ARBITER_FREE:
			snprintf(why, why_len,
				 "the arbiter %s refused to open pair %" PRIu64
				 " epoch %" PRIu64 " for %s: nobody holds "
				 "epoch %" PRIu64 "'s grant",
				 arbiter__url(a), pair, epoch + 1, node, epoch);
			return -EPERM;
		case ARBITER_OPENED: /* no answer to an advance */
		case ARBITER_UNREACHABLE:
			break;
		}
		if (clock__mono_ns() >= deadline_ns) {
			snprintf(why, why_len,
				 "cannot reach the arbiter %s to open pair "
				 "%" PRIu64 " epoch %" PRIu64 ": %s",
				 arbiter__url(a), pair, epoch + 1, last);
			return -ETIMEDOUT;
		}
		usleep(FENCE_RETRY_MS * 1000);
	}
}

int fence__check_join(struct arbiter *a, uint64_t pair, uint64_t epoch,
		      const char *primary_node, char *opener_r,
		      uint64_t deadline_ns, char *why, size_t why_len)
{
	char owner[ARBITER_NODE_MAX + 1], last[256];

	for (;;) {
		enum arbiter_answer ans =
		    arbiter__query(a, pair, epoch, FENCE_TIMEOUT_MS, owner,
				   last, sizeof(last));

		switch (ans) {
		case ARBITER_OPENED:
			if (opener_r)
				snprintf(opener_r, ARBITER_NODE_MAX + 1, "%s",
					 owner);
			if (!primary_node || !strcmp(owner, primary_node))
				return 0;
			snprintf(why, why_len,
				 "pair %" PRIu64 " epoch %" PRIu64
				 " was opened by %s, not by the primary %s: "
				 "not joining",
				 pair, epoch, owner, primary_node);
			return -EPERM;
		case ARBITER_GRANTED:
		case ARBITER_DENIED:
			snprintf(why, why_len,
				 "pair %" PRIu64 " epoch %" PRIu64
				 " is owned by %s: a replica of it went on "
				 "alone already; not joining",
				 pair, epoch, owner);
			return -EPERM;
		case ARBITER_FREE:
			/* Epoch 0 has no epoch before it: never opened. */
			snprintf(why, why_len,
				 "pair %" PRIu64 " epoch %" PRIu64
				 " was never opened: only the holder of epoch "
				 "%" PRIu64 "'s grant may re-protect; not "
				 "joining",
				 pair, epoch, epoch ? epoch - 1 : 0);
			return -EPERM;
		case ARBITER_UNREACHABLE:
			break;
		}
		if (clock__mono_ns() >= deadline_ns) {
			snprintf(why, why_len,
				 "cannot reach the arbiter %s to check pair "
				 "%" PRIu64 " epoch %" PRIu64 ": %s",
				 arbiter__url(a), pair, epoch, last);
			return -ETIMEDOUT;
		}
		usleep(FENCE_RETRY_MS * 1000);
	}
}
