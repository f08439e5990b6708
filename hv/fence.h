/* SPDX-License-Identifier: MIT */
/*
 * pvft-hv's pair policy (DESIGN.md 3.4, Documentation/pair.md): the
 * arbiter (arbiter/arbiter.h) decides which replica of a pair goes on
 * alone. The log channel asks through struct chan_policy (logchan/
 * chan.h) and knows nothing of the arbiter; this file is the one that
 * asks it, with its bounded waits:
 *
 *   check_owner  pairing (the pairing thread): QUERY (pair, epoch); an
 *                owner means this replica is stale and must not pair,
 *                an opener (OPENED) that a running domain is being
 *                re-protected into the epoch, which a boot pair must
 *                not take;
 *                no answer is asked again until the channel's deadline;
 *   decide       the peer failed (the channel thread): test-and-set
 *                (pair, epoch) with this node id; granted: alone,
 *                denied: fenced, no answer: the channel asks again.
 *
 * Each call is bounded by FENCE_TIMEOUT_MS (arbiter__acquire: at most
 * twice that); a struct arbiter is used by one thread at a time, and the
 * pairing thread is done with it before the channel thread starts.
 */
#ifndef PVFT_HV_FENCE_H
#define PVFT_HV_FENCE_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"

struct arbiter;

/* Its opaque (chan_config.policy_opaque) is the struct arbiter. */
extern const struct chan_policy fence__policy;

/*
 * Re-protection (Documentation/arbiter-protocol.md 3.5): the survivor
 * @node, holder of (@pair, @epoch)'s grant, opens (@pair, @epoch + 1)
 * before it sends a joining backup its checkpoint. Asked again every
 * FENCE_RETRY_MS while the arbiter does not answer, until @deadline_ns
 * (clock__mono_ns). 0 advanced (now or already); -EPERM refused, @why
 * naming who holds what (or that nobody holds epoch's grant);
 * -ETIMEDOUT no answer by @deadline_ns, @why says the last failure.
 */
int fence__advance(struct arbiter *a, uint64_t pair, uint64_t epoch,
		   const char *node, uint64_t deadline_ns, char *why,
		   size_t why_len);

/*
 * The joining backup of (@pair, @epoch): the epoch must be opened by
 * @primary_node, the survivor that sends the checkpoint (NULL: by any
 * node), and owned by nobody. 0 if so, the opener into @opener_r
 * (ARBITER_NODE_MAX + 1 bytes, or NULL); -EPERM with @why (owned by
 * someone, opened by another node, never opened); -ETIMEDOUT as
 * fence__advance(). Retried the same.
 */
int fence__check_join(struct arbiter *a, uint64_t pair, uint64_t epoch,
		      const char *primary_node, char *opener_r,
		      uint64_t deadline_ns, char *why, size_t why_len);

#endif /* PVFT_HV_FENCE_H */
