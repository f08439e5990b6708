// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chan.h"
#include "device.h"
#include "domain.h"
#include "log.h"
#include "pair.h"

int pair__init(struct pair *p, struct chan *chan)
{
	memset(p, 0, sizeof(*p));
	p->chan = chan;
	p->buf = malloc(LOGFMT_MAX_RECORD);
	return p->buf ? 0 : -ENOMEM;
}

/* The channel replaced last: gone now (the caller's own is its to end). */
static void retire(struct pair *p)
{
	if (p->retired && p->retired_owned) {
		chan__dispose(p->retired);
		free(p->retired);
	}
	p->retired = NULL;
}

void pair__dispose(struct pair *p)
{
	retire(p);
	if (p->chan && p->chan_owned) {
		chan__dispose(p->chan);
		free(p->chan);
	}
	free(p->buf);
	p->buf = NULL;
}

void pair__set_chan(struct pair *p, struct chan *c)
{
	retire(p);
	p->retired = p->chan;
	p->retired_owned = p->chan_owned;
	p->chan_owned = true;
	__atomic_store_n(&p->chan, c, __ATOMIC_RELEASE);
}

void pair__fenced(void *domain)
{
	sched__request_stop(domain, SCHED_STOP_FENCED);
}

static long long realtime_us(void)
{
	struct timespec wall;

	clock_gettime(CLOCK_REALTIME, &wall);
	return (long long)wall.tv_sec * 1000000ll + wall.tv_nsec / 1000;
}

/* What the pair did, for the operator and the benchmarks. */
static void print_stats(struct pair *p, const struct domain *d)
{
	struct chan_stats st;
	uint64_t secs_ns;

	chan__get_stats(p->chan, &st);
	secs_ns = clock__mono_ns() - st.paired_ns;
	pr_info("pair: %s with %s; %llu records, %llu bytes %s (%.2f Mbit/s); "
		"lag max %.1f ms; output held %.0f us on average over %llu "
		"writes; throttled %.1f ms",
		chan__state_name(st.state), p->chan->peer,
		(unsigned long long)st.records, (unsigned long long)st.bytes,
		d->gate.src ? "received" : "sent",
		secs_ns ? st.bytes * 8.0 * 1000.0 / secs_ns : 0.0,
		st.max_lag_ns / 1e6,
		st.held_count ? st.held_ns_total / 1e3 / st.held_count : 0.0,
		(unsigned long long)st.held_count, st.throttled_ns / 1e6);
}

/* ---- the primary: the stream as the gate's sink ------------------------- */

static int sink_open(struct domain *d, void *priv, struct logfmt_header *h,
		     struct logfmt_record *boot)
{
	struct pair *p = priv;

	d->gate.replicated = true;
	h->flags = LOGFMT_F_STREAM;
	h->pair_id = p->chan->cfg.pair;
	h->epoch = p->chan->cfg.epoch;
	boot->ordinal = d->exits;
	return chan__connect(p->chan, h, boot) ? -ECONNREFUSED : 0;
}

static int sink_put(struct domain *d, void *priv, struct logfmt_record *rec)
{
	struct pair *p = priv;

	/* The arbiter gave the pair to the backup: say no more. */
	if (chan__append(p->chan, rec)) {
		if (!d->shut_down)
			domain__shutdown(d, HV_EXIT_FENCED, DOMAIN_END_FENCED);
		return -1;
	}
	return 0;
}

static bool sink_output(void *priv, const void *buf, size_t len)
{
	struct pair *p = priv;

	chan__output(p->chan, buf, len);
	return true;
}

static bool sink_frame(void *priv, const void *frame, size_t len)
{
	struct pair *p = priv;

	chan__output_frame(p->chan, frame, len);
	return true;
}

static void sink_kick(struct domain *d, void *priv)
{
	struct pair *p = priv;

	(void)d;
	chan__kick(p->chan);
}

/*
 * Before entering the guest: say how far the guest got, keep out of it
 * while the backup lags too far (so that a failover replays a bounded
 * stretch), and once left alone, stop logging.
 */
static void sink_before_run(struct domain *d, void *priv)
{
	struct pair *p = priv;
	enum chan_state st;

	/* This exit's records are all out (but an END, if stopped next). */
	chan__progress(p->chan, d->exits + 1);
	while (chan__throttle(p->chan, 10, &st) && !sched__stop_requested(d))
		;
	if (st == CHAN_ALONE) {
		/* Held output first, so that nothing overtakes it. */
		chan__finish(p->chan);
		gate__set_sink(d, NULL, NULL);
		pr_info("running alone from exit ordinal %llu: no more log, "
			"output goes out at once",
			(unsigned long long)d->exits);
	} else if (st == CHAN_FENCED && !d->shut_down) {
		d->gate.log_ended = true;
		domain__shutdown(d, HV_EXIT_FENCED, DOMAIN_END_FENCED);
	}
}

static int sink_handover(struct domain *d, void *priv, const char **why_r)
{
	struct pair *p = priv;
	uint64_t t0 = clock__mono_ns();

	if (chan__state(p->chan) != CHAN_PAIRED) {
		*why_r = "the pair is not protected (no backup to hand over "
			 "to)";
		pr_warn("cannot hand over: %s", *why_r);
		return -1;
	}
	pr_info("handing the pair over to %s at exit ordinal %llu "
		"(realtime_us=%lld)",
		p->chan->peer, (unsigned long long)d->exits, realtime_us());
	/*
	 * The exit it stopped after is over: the backup replays all of it,
	 * its output included (which is out: going live inside it would write
	 * that output again), and goes live at the next. Unless the stop took
	 * the vCPU out of a block with nothing delivered: that is no finished
	 * exit, and the backup goes live inside the block, as after a failure
	 * (a block writes nothing).
	 */
	if (!d->sched.block_cut)
		chan__progress(p->chan, d->exits + 1);
	d->sched.block_cut = false;
	if (chan__handover(p->chan)) {
		*why_r = chan__state(p->chan) == CHAN_FENCED
			     ? "the backup failed first and won the arbiter"
			     : "the backup failed first: running alone";
		pr_warn("handover failed: %s", *why_r);
		return -1;
	}
	pr_info("handed over after %.1f ms: every record acknowledged, all "
		"output released; the backup takes over",
		(clock__mono_ns() - t0) / 1e6);
	print_stats(p, d);
	return 0;
}

/* END is out: wait for the backup to have it all, then close. */
static int sink_close(struct domain *d, void *priv,
		      const struct logfmt_record *end)
{
	struct pair *p = priv;

	if (!end)
		return d->exit_status;
	if (chan__finish(p->chan)) {
		d->gate.log_ended = true;
		pr_err("halted: the arbiter gave the pair to the backup");
		return HV_EXIT_FENCED;
	}
	pr_info("streamed %llu records; exit status %d",
		(unsigned long long)d->gate.records, d->exit_status);
	print_stats(p, d);
	return d->exit_status;
}

const struct gate_sink_ops pair_sink = {
	.name = "stream",
	.open = sink_open,
	.put = sink_put,
	.output = sink_output,
	.frame = sink_frame,
	.kick = sink_kick,
	.before_run = sink_before_run,
	.handover = sink_handover,
	.close = sink_close,
};

/* ---- the backup: the stream as the gate's source ------------------------ */

/* The primary's header and BOOT, off the stream. */
static int src_open(struct domain *d, void *priv, struct logfmt_header *h,
		    struct logfmt_record *boot)
{
	struct pair *p = priv;

	d->gate.replicated = true;
	d->gate.what = "the primary runs";
	return chan__accept(p->chan, h, boot) ? -ECONNREFUSED : 0;
}

/*
 * Backup: everything the primary sent is replayed and the arbiter gave
 * this node the pair. The same execution goes on here, live: values and
 * deliveries from the host, output to the console, and first the output
 * the old primary may not have let out (a duplicated tail at worst, never
 * a gap: Documentation/pair.md).
 */
static void go_live(struct pair *p, struct domain *d)
{
	struct chan_stats st;
	uint64_t tail;

	gate__went_live(d);
	tail = chan__emit_tail(p->chan);
	/* The console's output, the service address or the MAC announced. */
	devices__go_live(d);
	chan__get_stats(p->chan, &st);
	/* The wall clock too: benchmarks time kill -> live across processes. */
	pr_info("went live at exit ordinal %llu: replayed %llu records, "
		"checked %llu digests; re-emitted %llu bytes of console output "
		"the old primary may not have released; %.1f ms after it was "
		"last heard (realtime_us=%lld)",
		(unsigned long long)d->exits,
		(unsigned long long)d->gate.records,
		(unsigned long long)d->gate.digests_checked,
		(unsigned long long)tail,
		(clock__mono_ns() - st.silent_ns) / 1e6, realtime_us());
}

/*
 * Wait for the primary's next record, or to learn that it is past this
 * exit without one, or that this replica goes live or halts.
 */
static enum gate_next src_next(struct domain *d, void *priv,
			       struct logfmt_record *rec)
{
	struct pair *p = priv;
	bool in_hv = __atomic_load_n(&d->sched.in_hv, __ATOMIC_RELAXED);
	enum gate_next ret = GATE_NEXT_STOP;

	/* Waiting for the primary is no silent guest (the watchdog). */
	__atomic_store_n(&d->sched.in_hv, true, __ATOMIC_RELAXED);
	for (;;) {
		enum chan_next next = chan__next(p->chan, d->exits, p->buf,
						 LOGFMT_MAX_RECORD, rec, 100);

		if (next == CHAN_NEXT_RECORD) {
			ret = GATE_NEXT_RECORD;
			break;
		}
		if (next == CHAN_NEXT_NONE) {
			ret = GATE_NEXT_NONE;
			break;
		}
		if (next == CHAN_NEXT_LIVE) {
			go_live(p, d);
			ret = GATE_NEXT_LIVE;
			break;
		}
		if (next == CHAN_NEXT_FENCED) {
			ret = GATE_NEXT_FENCED;
			break;
		}
		/*
		 * CHAN_NEXT_WAIT: a stop signal ends the wait; a migration's
		 * cut waits for the exit boundary (the record comes first).
		 */
		int stop = sched__stop_requested(d);

		if (stop && !sched__boundary_stop(stop))
			break;
	}
	__atomic_store_n(&d->sched.in_hv, in_hv, __ATOMIC_RELAXED);
	return ret;
}

static int src_answer(void *priv, const char *why)
{
	struct pair *p = priv;

	return chan__answer(p->chan, why);
}

static void src_output(void *priv, const void *buf, size_t len)
{
	struct pair *p = priv;

	chan__replayed_output(p->chan, buf, len);
}

/* After END: the primary closes once its output is out, or fails. */
static int src_close(struct domain *d, void *priv)
{
	struct pair *p = priv;

	if (chan__finish_backup(p->chan)) {
		pr_err("halted: the arbiter gave the pair to the primary");
		return HV_EXIT_FENCED;
	}
	if (chan__state(p->chan) == CHAN_ALONE) {
		uint64_t n = chan__emit_tail(p->chan);

		pr_info("the primary failed after its end: emitted the last "
			"%llu bytes of console output it may not have released",
			(unsigned long long)n);
	}
	print_stats(p, d);
	return 0;
}

/*
 * LOG_TAIL's body (migration-stream.md 5.9): u32 the length of the record
 * the gate holds peeked (0: none), u32 0, its bytes padded to 8, then the
 * channel's move blob (chan__move_export: the rest of the stream).
 */
#define TAIL_HEAD 8u

static long src_move_out(struct domain *d, void *priv, void *buf, size_t cap)
{
	struct pair *p = priv;
	struct logfmt_error e;
	uint8_t *o = buf;
	uint32_t plen = 0;
	size_t off;
	long n;

	if (d->gate.have_next) {
		n = logfmt__record_total(p->buf, &e);
		if (n < 0)
			return -EIO;
		plen = (uint32_t)n;
	}
	off = TAIL_HEAD + ((plen + 7u) & ~7u);
	if (cap < off)
		return -ENOSPC;
	memset(o, 0, off);
	memcpy(o, &plen, sizeof(plen));
	memcpy(o + TAIL_HEAD, p->buf, plen);
	n = chan__move_export(p->chan, o + off, cap - off);
	return n < 0 ? n : (long)(off + (size_t)n);
}

static int src_move_commit(void *priv, const char *addr)
{
	struct pair *p = priv;

	return chan__move_commit(p->chan, addr);
}

static void src_move_abort(void *priv)
{
	struct pair *p = priv;

	chan__move_abort(p->chan);
}

const struct gate_source_ops pair_source = {
	.name = "stream",
	.live = true,
	.open = src_open,
	.next = src_next,
	.answer = src_answer,
	.output = src_output,
	.close = src_close,
	.move_out = src_move_out,
	.move_commit = src_move_commit,
	.move_abort = src_move_abort,
};

int pair__resume(struct pair *p, struct domain *d, const void *tail, size_t len)
{
	struct logfmt_error e;
	const uint8_t *in = tail;
	uint32_t plen, zero;
	size_t off;

	if (len < TAIL_HEAD)
		goto bad;
	memcpy(&plen, in, sizeof(plen));
	memcpy(&zero, in + 4, sizeof(zero));
	off = TAIL_HEAD + (((size_t)plen + 7u) & ~(size_t)7u);
	if (zero || plen > LOGFMT_MAX_RECORD || off > len)
		goto bad;
	if (chan__move_import(p->chan, in + off, len - off))
		return -EINVAL;
	if (plen) {
		memcpy(p->buf, in + TAIL_HEAD, plen);
		if (logfmt__decode_record(p->buf, plen, &d->gate.next, &e) !=
		    (long)plen) {
			pr_err("LOG_TAIL: the peeked record: %s", e.msg);
			return -EINVAL;
		}
		d->gate.have_next = true;
	}
	gate__resume(d, &pair_source, p);
	return 0;
bad:
	pr_err("LOG_TAIL: %zu bytes, not a peeked record and a channel's "
	       "state",
	       len);
	return -EINVAL;
}

long pair__join_tail(struct chan *c, void *buf, size_t cap)
{
	long n;

	if (cap < TAIL_HEAD)
		return -ENOSPC;
	memset(buf, 0, TAIL_HEAD);
	n = chan__join_blob(c, (uint8_t *)buf + TAIL_HEAD, cap - TAIL_HEAD);
	return n < 0 ? n : (long)(TAIL_HEAD + (size_t)n);
}

/* ---- the end and the status --------------------------------------------- */

int pair__finished(struct pair *p, struct domain *d, int status)
{
	/* Fenced as the run ended: the other replica has the pair. */
	if (p->chan && chan__state(p->chan) == CHAN_FENCED &&
	    !__atomic_load_n(&d->gate.went_live, __ATOMIC_RELAXED)) {
		d->exit_status = HV_EXIT_FENCED;
		return HV_EXIT_FENCED;
	}
	return status;
}

void pair__role_state(struct pair *p, const struct domain *d, bool handing_over,
		      const char **role_r, const char **state_r)
{
	struct chan *c = pair__chan(p);
	bool joining = __atomic_load_n(&p->joining, __ATOMIC_RELAXED);
	bool primary = !c || c->cfg.role == LOGFMT_ROLE_PRIMARY ||
		       __atomic_load_n(&d->gate.went_live, __ATOMIC_RELAXED);

	*role_r = primary ? "primary" : "backup";
	/* A backup joins: from the start to the commit (then the channel's). */
	if (joining) {
		*state_r = "joining";
		return;
	}
	if (!c) {
		*state_r = "unprotected";
		return;
	}
	switch (chan__state(c)) {
	case CHAN_IDLE:
		*state_r = primary ? "pairing" : "waiting";
		break;
	case CHAN_PAIRED:
		/* Never "protected" while the guest waits for the backup. */
		*state_r = handing_over	   ? "handing-over"
			   : chan__held(c) ? "held"
					   : "protected";
		break;
	case CHAN_ASKING:
		*state_r = "asking-arbiter";
		break;
	case CHAN_ALONE:
		*state_r = primary ? "unprotected" : "taking-over";
		break;
	case CHAN_FENCED:
		*state_r = "fenced";
		break;
	case CHAN_CLOSED:
		*state_r = chan__handed_over(c) ? "handed-over" : "ended";
		break;
	case CHAN_MOVING:
		/* Output held (primary), or frozen for the export (backup). */
		*state_r = !primary	      ? "moving"
			   : chan__joining(c) ? "joining"
					      : "backup-moving";
		break;
	}
}
