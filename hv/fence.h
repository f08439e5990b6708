/* SPDX-License-Identifier: MIT */
/*
 * pvft-hv's pair policy (DESIGN.md 3.4, Documentation/pair.md): the
 * arbiter (arbiter/arbiter.h) decides which replica of a pair goes on
 * alone. The log channel asks through struct chan_policy (logchan/
 * chan.h) and knows nothing of the arbiter; this file is the one that
 * asks it, with its bounded waits:
 *
 *   check_owner  pairing (the pairing thread): QUERY (pair, epoch); an
 *                owner means this replica is stale and must not pair;
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

#include "chan.h"

/* Its opaque (chan_config.policy_opaque) is the struct arbiter. */
extern const struct chan_policy fence__policy;

#endif /* PVFT_HV_FENCE_H */
