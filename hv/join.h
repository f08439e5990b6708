/* SPDX-License-Identifier: MIT */
/*
 * Re-protection, the running domain's side (Documentation/pair.md,
 * "Re-protection"): a domain that runs alone at epoch E (the survivor of
 * a failover or promote, or a domain started unprotected) gets a backup
 * without stopping, and runs on as the primary of epoch E+1.
 *
 *   1. join__start (control thread): the domain must run alone, logging
 *      nothing; the migration of hv/migrate.c starts with this file's
 *      join ops.
 *   2. prepare (migration thread): the arbiter's word: this node holds
 *      (pair, E) (ACQUIRE, granted again to its holder) and opens E+1
 *      (ADVANCE). Else the join is refused: only E's holder moves the pair.
 *   3. pre-copy while the guest runs (hv/migrate.c); the domain is still
 *      alone at E, its output goes out at once.
 *   4. tail (vCPU thread, at the cut): the new epoch's channel is made
 *      (chan__join_open) and its starting state goes as LOG_TAIL.
 *   5. commit (vCPU thread), once the backup answered that it holds the
 *      checkpoint: the channel is the pair's (pair__set_chan), the gate
 *      records into it from this exit on, and the channel thread dials the
 *      backup (chan__join_go). From here a failure of the backup is a
 *      failure of the pair of E+1: the arbiter decides (ACQUIRE E+1).
 *      abort instead (any failure before the backup's answer): the domain
 *      runs on alone at E, as before.
 */
#ifndef PVFT_HV_JOIN_H
#define PVFT_HV_JOIN_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "migrate.h"

struct arbiter;
struct domain;
struct pair;
struct tls_creds;

/* What pvft-hv's main knows of the pair this domain may join. */
struct join_env {
	struct pair *pair; /* the domain's (its channel, if any, now) */
	/*
	 * The new channels' config but for role, addr, epoch and creds (set
	 * per join): node, pair id, timeouts, policy, output sinks.
	 */
	struct chan_config cfg;
	struct arbiter *arbiter;
	/* The log channel's credentials as its client; NULL: plaintext. */
	struct tls_creds *creds;
	uint64_t epoch; /* before any channel: the epoch it runs at */
};

/* Once, before the control socket serves (@env is copied). */
void join__setup(const struct join_env *env);

struct join_request {
	const char *to;		 /* HOST:PORT: the backup's --incoming */
	const char *backup;	 /* HOST:PORT: the backup's --listen */
	struct tls_creds *creds; /* the checkpoint link's (taken over) */
	const char *config;
	uint64_t downtime_ms;
	unsigned int max_rounds;
};

/*
 * Control thread: start a join; @done as migrate__start's. 0, or -EINVAL,
 * -EBUSY with @err saying why (not a domain running alone, no pair to
 * join, a migration under way, a bad address).
 */
int join__start(struct domain *d, const struct join_request *rq,
		void (*done)(void *opaque, const struct migrate_stats *st),
		void *opaque, char *err, size_t errlen);

/* Any thread: the epoch the domain runs at now (its channel's). */
uint64_t join__epoch(void);

#endif /* PVFT_HV_JOIN_H */
