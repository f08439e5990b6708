// SPDX-License-Identifier: MIT
/*
 * Re-protection, the running domain's side: join.h says what each step
 * does, Documentation/pair.md why.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arbiter.h"
#include "clock.h"
#include "domain.h"
#include "fence.h"
#include "gate.h"
#include "hostport.h"
#include "join.h"
#include "log.h"
#include "pair.h"

/* How long the arbiter is asked before a join gives up (no answer). */
#define JOIN_ARBITER_S 10

static struct joiner {
	struct join_env env;
	bool set_up;
	/* The join under way (one at a time: migrate__start's rule). */
	struct domain *d;
	char backup[LOGFMT_MOVE_ADDR_MAX + 1];
	uint64_t epoch; /* the one it moves the pair to */
	struct chan *chan;
} J;

void join__setup(const struct join_env *env)
{
	J.env = *env;
	J.set_up = true;
}

uint64_t join__epoch(void)
{
	struct chan *c = J.set_up ? pair__chan(J.env.pair) : NULL;

	return c ? c->cfg.epoch : J.env.epoch;
}

/* Migration thread: this node holds E, and opens E+1 (ADVANCE). */
static int join_prepare(void *opaque, char *why, size_t why_len)
{
	struct joiner *j = opaque;
	uint64_t e = j->epoch - 1, pair = j->env.cfg.pair;
	uint64_t deadline = clock__mono_ns() + JOIN_ARBITER_S * 1000000000ull;
	const char *node = j->env.cfg.node;
	char owner[ARBITER_NODE_MAX + 1], w[256] = "";
	enum arbiter_answer ans;

	/* Its holder is granted again; a domain never paired takes it now. */
	for (;;) {
		ans = arbiter__acquire(j->env.arbiter, pair, e, node, 1000,
				       owner, w, sizeof(w));
		if (ans != ARBITER_UNREACHABLE || clock__mono_ns() >= deadline)
			break;
		usleep(100000);
	}
	if (ans == ARBITER_DENIED) {
		snprintf(why, why_len,
			 "pair %" PRIu64 " epoch %" PRIu64
			 " belongs to node %s, not to this one (%s): only the "
			 "holder of an epoch's grant may re-protect the pair",
			 pair, e, owner, node);
		return -EPERM;
	}
	if (ans != ARBITER_GRANTED) {
		snprintf(why, why_len, "cannot reach the arbiter %s: %s",
			 arbiter__url(j->env.arbiter), w);
		return -ETIMEDOUT;
	}
	return fence__advance(j->env.arbiter, pair, e, node, deadline, why,
			      why_len);
}

/* vCPU thread, at the cut: the new epoch's channel and its LOG_TAIL. */
static long join_tail(void *opaque, struct domain *d, void *buf, size_t cap)
{
	struct joiner *j = opaque;
	struct chan_config cc = j->env.cfg;
	struct logfmt_header h;
	struct logfmt_record boot;
	int rc;

	cc.role = LOGFMT_ROLE_PRIMARY;
	cc.addr = j->backup;
	cc.epoch = j->epoch;
	cc.creds = j->env.creds;
	cc.check = NULL;
	j->chan = calloc(1, sizeof(*j->chan));
	if (!j->chan)
		return -ENOMEM;
	rc = chan__init(j->chan, &cc);
	if (rc) {
		free(j->chan);
		j->chan = NULL;
		return rc;
	}
	gate__opening(d, &h, &boot);
	h.flags = LOGFMT_F_STREAM;
	h.pair_id = cc.pair;
	h.epoch = cc.epoch;
	/* Every record of this exit and the ones before is in the checkpoint.
	 */
	rc = chan__join_open(j->chan, &h, &boot, d->exits + 1);
	if (rc)
		return rc;
	return pair__join_tail(j->chan, buf, cap);
}

/* vCPU thread: the backup holds the checkpoint: the pair of E+1 it is. */
static void join_commit(void *opaque, struct domain *d)
{
	struct joiner *j = opaque;
	struct pair *p = j->env.pair;
	struct chan *c = j->chan;

	j->chan = NULL;
	pair__set_chan(p, c);
	__atomic_store_n(&p->joining, false, __ATOMIC_RELAXED);
	gate__set_sink(d, &pair_sink, p);
	d->gate.replicated = true;
	d->gate.what = "the primary runs";
	if (chan__join_go(c)) {
		/*
		 * The backup may go live without us once its wait ends: this
		 * copy must not run on alone without the arbiter, and cannot
		 * ask it without its channel.
		 */
		pr_err("re-protection: cannot start the new log channel: "
		       "halting (the backup asks the arbiter)");
		/* No channel thread ever ends it: END is not to wait for it. */
		d->gate.log_ended = true;
		domain__shutdown(d, HV_EXIT_HOST, DOMAIN_END_HOST);
	}
}

/* The join failed before the backup's answer: alone at E, as before. */
static void join_abort(void *opaque, struct domain *d, const char *why)
{
	struct joiner *j = opaque;

	if (j->chan) {
		chan__dispose(j->chan);
		free(j->chan);
		j->chan = NULL;
	}
	/* Said before the next join may start (it rewrites j). */
	if (__atomic_load_n(&d->shut_down, __ATOMIC_RELAXED))
		pr_warn("re-protection with the backup at %s failed%s%s",
			j->backup, why[0] ? ": " : "", why);
	else
		pr_warn("re-protection with the backup at %s failed%s%s: this "
			"domain runs on unprotected at epoch %" PRIu64,
			j->backup, why[0] ? ": " : "", why, j->epoch - 1);
	__atomic_store_n(&j->env.pair->joining, false, __ATOMIC_RELAXED);
}

static const struct migrate_join_ops join_ops = {
	.prepare = join_prepare,
	.tail = join_tail,
	.commit = join_commit,
	.abort = join_abort,
};

/* Why this domain cannot take a backup now, or NULL. */
static const char *cannot_join(struct domain *d)
{
	struct chan *c = pair__chan(J.env.pair);

	if (c) {
		switch (chan__state(c)) {
		case CHAN_ALONE:
			break;
		case CHAN_PAIRED:
		case CHAN_MOVING:
			return "the domain is protected: it has a backup";
		case CHAN_ASKING:
			return "its pair lost a replica and asks the arbiter";
		case CHAN_IDLE:
			return "its pair has not formed yet";
		default:
			return "its pair is ending (fenced or over)";
		}
	}
	switch (gate__mode(&d->gate)) {
	case GATE_NONE:
		return NULL;
	case GATE_REPLAY:
		return c ? "this backup is taking over: ask again once it is "
			   "live"
			 : "this domain replays a log";
	default:
		return c ? "the primary is leaving its pair: ask again in a "
			   "moment"
			 : "this domain records a log";
	}
}

int join__start(struct domain *d, const struct join_request *rq,
		void (*done)(void *opaque, const struct migrate_stats *st),
		void *opaque, char *err, size_t errlen)
{
	const char *why;
	uint64_t e;
	int rc;

	if (!J.set_up || !J.env.arbiter) {
		snprintf(err, errlen,
			 "this domain has no pair to be protected in: start "
			 "it with --pair, --node, --arbiter and the domain's "
			 "credentials");
		return -EINVAL;
	}
	if (!rq->to || !rq->backup ||
	    strlen(rq->backup) > LOGFMT_MOVE_ADDR_MAX ||
	    hostport__split(rq->backup, strlen(rq->backup),
			    &(struct hostport){ 0 })) {
		snprintf(err, errlen,
			 "backup: the joining backup's --listen HOST:PORT (at "
			 "most %d bytes), and to: its --incoming",
			 LOGFMT_MOVE_ADDR_MAX);
		return -EINVAL;
	}
	why = cannot_join(d);
	if (why) {
		snprintf(err, errlen, "cannot re-protect: %s", why);
		return -EINVAL;
	}
	e = join__epoch();
	if (e == UINT64_MAX) {
		snprintf(err, errlen, "epoch %" PRIu64 " has no next", e);
		return -EINVAL;
	}
	if (__atomic_load_n(&J.env.pair->joining, __ATOMIC_RELAXED)) {
		snprintf(err, errlen, "a backup is joining already");
		return -EBUSY;
	}
	J.d = d;
	J.epoch = e + 1;
	snprintf(J.backup, sizeof(J.backup), "%s", rq->backup);
	__atomic_store_n(&J.env.pair->joining, true, __ATOMIC_RELAXED);
	rc = migrate__start(d,
			    &(struct migrate_request){
				.to = rq->to,
				.creds = rq->creds,
				.config = rq->config,
				.downtime_ms = rq->downtime_ms,
				.max_rounds = rq->max_rounds,
				.pair_id = J.env.cfg.pair,
				.epoch = J.epoch,
				.join = &join_ops,
				.join_opaque = &J,
			    },
			    done, opaque, err, errlen);
	if (rc) {
		__atomic_store_n(&J.env.pair->joining, false, __ATOMIC_RELAXED);
		return rc;
	}
	pr_info("re-protecting: a backup joins at %s (log channel %s), pair "
		"%" PRIu64 " epoch %" PRIu64 " -> %" PRIu64,
		rq->to, rq->backup, J.env.cfg.pair, e, J.epoch);
	return 0;
}
