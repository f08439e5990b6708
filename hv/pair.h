/* SPDX-License-Identifier: MIT */
/*
 * A live pair's replica (Documentation/pair.md), on the gate's side: the
 * log channel (logchan/chan.h) as the gate's sink on the primary and its
 * source on the backup, and the pair's lifecycle as the vCPU thread sees
 * it: throttling while the backup lags, running alone or halting when the
 * arbiter has spoken (the channel thread asks it: hv/fence.c), going live
 * on the backup, the planned handover (pvft promote), and the end.
 *
 * vCPU thread, except pair__fenced (the channel thread) and
 * pair__role_state (any thread).
 */
#ifndef PVFT_HV_PAIR_H
#define PVFT_HV_PAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "gate.h"

struct chan;
struct domain;

struct pair {
	/*
	 * The channel of the pair this replica is in now (NULL: none yet,
	 * a domain started unprotected). A re-protection replaces it at an
	 * exit boundary (pair__set_chan): other threads read it with
	 * pair__chan(), and a channel replaced is disposed of only at the
	 * next replacement or the end, long after any reader let go.
	 */
	struct chan *chan;
	struct chan *retired; /* the one replaced last, or NULL */
	bool retired_owned;   /* pair__set_chan allocated it: free it too */
	bool chan_owned;
	bool joining; /* a join runs, not yet committed (atomic) */
	uint8_t *buf; /* backup: the record being replayed */
};

/* Any thread: the channel now, or NULL. */
static inline struct chan *pair__chan(const struct pair *p)
{
	return __atomic_load_n(&p->chan, __ATOMIC_ACQUIRE);
}

/*
 * vCPU thread, at an exit boundary: @c (malloc'd, chan__init'd) is the
 * pair's channel from now on; the one before is disposed of later.
 */
void pair__set_chan(struct pair *p, struct chan *c);
/*
 * A joining backup's LOG_TAIL (migration-stream.md 5.9) from @c, a
 * primary channel after chan__join_open(): no peeked record, the
 * channel's blob. Its length, or -errno.
 */
long pair__join_tail(struct chan *c, void *buf, size_t cap);

extern const struct gate_sink_ops pair_sink;	 /* the primary's */
extern const struct gate_source_ops pair_source; /* the backup's */

/* 0 or -ENOMEM. The gate's *_priv is the pair. */
int pair__init(struct pair *p, struct chan *chan);
void pair__dispose(struct pair *p);

/*
 * A backup restored from a move (hv/migrate.c): the LOG_TAIL record's
 * body (@tail, @len) into the channel (chan__move_import) and the gate
 * (the record it held peeked, REPLAY from the stream). 0, or -EINVAL
 * after saying why. chan__accept_resume() then pairs it again.
 */
int pair__resume(struct pair *p, struct domain *d, const void *tail,
		 size_t len);
/* chan_config.fenced (the channel thread): @domain must halt. */
void pair__fenced(void *domain);
/*
 * After gate__finish: fenced as the run ended (the other replica has the
 * pair) unless this one went live. The exit status.
 */
int pair__finished(struct pair *p, struct domain *d, int status);

/*
 * What the replica is and how it is doing, in the words of pvft list
 * (any thread): role primary/backup, state pairing/waiting/protected/
 * held/handing-over/asking-arbiter/unprotected/taking-over/fenced/ended/
 * handed-over.
 */
void pair__role_state(struct pair *p, const struct domain *d, bool handing_over,
		      const char **role_r, const char **state_r);

#endif /* PVFT_HV_PAIR_H */
