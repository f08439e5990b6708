// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t's size, to clear it whole */
#include <xxhash.h>

#include "cpuid.h"
#include "digest.h"
#include "domain.h"
#include "gate.h"
#include "hcname.h"
#include "log.h"
#include "vcpu.h"

static const char *const mode_name[] = { "none", "record", "replay" };

/* The log's word for why a run ended, and back. */
static uint32_t end_cause_to_log(enum domain_end cause)
{
	switch (cause) {
	case DOMAIN_END_SHUTDOWN:
		return LOGFMT_END_SHUTDOWN;
	case DOMAIN_END_FAULT:
		return LOGFMT_END_FAULT;
	case DOMAIN_END_STOPPED:
	case DOMAIN_END_MIGRATED:
	case DOMAIN_END_FENCED: /* never logged: a fenced replica says no more
				 */
		return LOGFMT_END_STOPPED;
	default: /* the host; a recording never diverges */
		return LOGFMT_END_HOST;
	}
}

static const enum domain_end end_cause_from_log[] = {
	[LOGFMT_END_SHUTDOWN] = DOMAIN_END_SHUTDOWN,
	[LOGFMT_END_FAULT] = DOMAIN_END_FAULT,
	[LOGFMT_END_STOPPED] = DOMAIN_END_STOPPED,
	[LOGFMT_END_HOST] = DOMAIN_END_HOST,
};

/* What the guest sees of CPUID: pvft's table, or the host's (ptrace). */
static uint64_t guest_cpuid_hash(const struct domain *d)
{
	return d->backend->host_cpuid ? cpuid__host_hash() : cpuid__hash();
}

static bool live_source(const struct gate *g)
{
	return g->src && g->src->live;
}

void gate__bad_log(struct domain *d, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s: %s", mode_name[d->gate.mode], msg);
	d->gate.log_ended = true;
	d->gate.have_next = false;
	if (!d->shut_down)
		domain__shutdown(d, HV_EXIT_LOG, DOMAIN_END_HOST);
	else
		d->exit_status = HV_EXIT_LOG;
}

/*
 * One line: which record, at which exit ordinal, expected what, saw what.
 * A divergence outranks however the run was about to end.
 */
void gate__diverged(struct domain *d, const struct logfmt_record *rec,
		    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	/* Digests the host could not take say nothing of the guest. */
	if (d->gate.host_failed)
		return;
	/* A live stream's "nothing at this exit" is no record to name. */
	if (rec == &d->gate.horizon)
		rec = NULL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rec)
		pr_err("replay diverged at record #%llu (%s, exit ordinal "
		       "%llu): %s",
		       (unsigned long long)rec->seq,
		       logfmt__type_name(rec->type),
		       (unsigned long long)rec->ordinal, msg);
	else
		pr_err("replay diverged at exit ordinal %llu: %s",
		       (unsigned long long)d->exits, msg);
	d->gate.log_ended = true;
	d->gate.have_next = false;
	domain__shutdown(d, HV_EXIT_DIVERGED, DOMAIN_END_DIVERGED);
	d->exit_status = HV_EXIT_DIVERGED;
	d->end_cause = DOMAIN_END_DIVERGED;
}

/* A digest of now; a host that cannot take one ends the domain. */
static void take_digest(struct domain *d, struct logfmt_digest_value *v)
{
	if (digest__take(d, v)) {
		d->gate.host_failed = true;
		domain__shutdown(d, HV_EXIT_HOST, DOMAIN_END_HOST);
	}
}

/* ---- the log, record side ---------------------------------------------- */

struct logfmt_pos gate__here(const struct domain *d)
{
	const struct vcpu_exit *e = d->gate.exit;

	return (struct logfmt_pos){
		.rip = e ? e->rip : d->last_rip,
		.nr = e && e->kind == VCPU_EXIT_HYPERCALL ? (uint32_t)e->hc.nr
							  : ~0u,
	};
}

void gate__put(struct domain *d, struct logfmt_record *rec)
{
	struct gate *g = &d->gate;

	if (g->mode != GATE_RECORD || g->log_ended)
		return;
	rec->ordinal = d->exits;
	if (g->sink->put(d, g->sink_priv, rec)) {
		g->log_ended = true;
		return;
	}
	g->records++;
}

void gate__set_sink(struct domain *d, const struct gate_sink_ops *sink,
		    void *priv)
{
	struct gate *g = &d->gate;

	g->sink = sink;
	g->sink_priv = priv;
	if (sink) {
		/* A stream from here: its digests count from here too. */
		g->last_digest_exit = d->exits;
		g->last_digest_coarse = clock__coarse_ns();
		g->log_ended = false;
	}
	__atomic_store_n(&g->mode, sink ? GATE_RECORD : GATE_NONE,
			 __ATOMIC_RELAXED);
}

/* ---- the log, replay side ---------------------------------------------- */

/*
 * The guest time a record was made at, when it says: a digest's or the
 * end's, a monotonic clock reading, a timer's deadline. 0: it does not.
 */
static uint64_t record_time(struct domain *d, const struct logfmt_record *rec)
{
	switch (rec->type) {
	case LOGFMT_DIGEST:
		return rec->u.digest.guest_ns;
	case LOGFMT_END:
		return rec->u.end.guest_ns;
	case LOGFMT_TIME:
		return rec->u.time.clock == PVFT_CLOCK_MONOTONIC &&
			       rec->u.time.value > 0
			   ? (uint64_t)rec->u.time.value
			   : 0;
	case LOGFMT_TIMER:
		return d->sched.timer_armed ? d->sched.deadline : 0;
	default:
		return 0;
	}
}

/*
 * How long the guest may run without an exit before the next record,
 * for the stall check: GATE_STALL_S, plus twice the guest time the
 * recording took to get there when the record says.
 */
static void set_stall_limit(struct domain *d, const struct logfmt_record *rec)
{
	struct gate *g = &d->gate;
	uint64_t t = record_time(d, rec), s = GATE_STALL_S;

	if (t > g->known_ns)
		s += 2 * ((t - g->known_ns) / 1000000000ull + 1);
	/* The log's word, so bounded: a day is no PV guest's exit gap. */
	if (s > GATE_STALL_MAX_S)
		s = GATE_STALL_MAX_S;
	__atomic_store_n(&g->stall_limit_s, s, __ATOMIC_RELAXED);
}

void gate__consume(struct domain *d)
{
	struct gate *g = &d->gate;
	uint64_t t = record_time(d, &g->next);

	if (t > g->known_ns)
		g->known_ns = t;
	g->have_next = false;
	g->records++;
}

void gate__learn_time(struct gate *g, uint64_t ns)
{
	if (ns > g->known_ns)
		g->known_ns = ns;
}

/*
 * The source's next record; or, from a live one, that the primary is past
 * this exit without one (the horizon: an ordinal after this exit), or that
 * this replica went live (NULL, mode now NONE) or halts (NULL).
 */
static const struct logfmt_record *peek(struct domain *d)
{
	struct gate *g = &d->gate;

	if (g->have_next)
		return &g->next;
	if (g->log_ended || g->mode != GATE_REPLAY)
		return NULL;
	for (;;) {
		switch (g->src->next(d, g->src_priv, &g->next)) {
		case GATE_NEXT_RECORD:
			/* Optional records (NOTE, newer kinds) change nothing.
			 */
			if (g->next.type & LOGFMT_TYPE_OPTIONAL)
				continue;
			/* As a file's END is checked before its replay. */
			if (g->src->live && g->next.type == LOGFMT_END &&
			    !gate__end_plausible(&g->next.u.end)) {
				gate__diverged(
				    d, NULL,
				    "the primary's END says exit status %u "
				    "for %s, which no pvft-hv gives",
				    g->next.u.end.status,
				    logfmt__end_cause_name(
					g->next.u.end.cause));
				return NULL;
			}
			g->have_next = true;
			set_stall_limit(d, &g->next);
			return &g->next;
		case GATE_NEXT_NONE:
			g->horizon = (struct logfmt_record){
				.type = LOGFMT_PROGRESS,
				.ordinal = d->exits + 1,
			};
			/* The primary said nothing of what comes next. */
			__atomic_store_n(&g->stall_limit_s, GATE_STALL_MAX_S,
					 __ATOMIC_RELAXED);
			return &g->horizon;
		case GATE_NEXT_FENCED:
			g->log_ended = true;
			if (!d->shut_down)
				domain__shutdown(d, HV_EXIT_FENCED,
						 DOMAIN_END_FENCED);
			return NULL;
		case GATE_NEXT_ERROR:
			g->log_ended = true;
			g->have_next = false;
			return NULL;
		default: /* LIVE, STOP */
			return NULL;
		}
	}
}

const struct logfmt_record *gate__peek_here(struct domain *d)
{
	const struct logfmt_record *rec = peek(d);

	return rec && rec->ordinal == d->exits ? rec : NULL;
}

static const char *hc_name(uint32_t nr)
{
	return nr == ~0u ? "none (a fault)" : hcname__name(nr);
}

bool gate__at_pos(struct domain *d, const struct logfmt_record *rec,
		  const struct logfmt_pos *want)
{
	struct logfmt_pos now = gate__here(d);

	if (want->rip == now.rip && want->nr == now.nr)
		return true;
	gate__diverged(d, rec,
		       "the log has it at rip 0x%llx in hypercall %s, the "
		       "replay is at rip 0x%llx in hypercall %s",
		       (unsigned long long)want->rip, hc_name(want->nr),
		       (unsigned long long)now.rip, hc_name(now.nr));
	return false;
}

/*
 * Was the recorded run ended from outside (a signal, a host failure) at
 * this exit? Then so is the replay, with the recorded status: it has
 * nothing more to check.
 */
static bool ended_here(struct domain *d, const struct logfmt_record *rec)
{
	/*
	 * A live backup may be past the exit a stopped primary's END names:
	 * the primary's vCPU ran on past it too (RAN_ON), and had said so.
	 */
	bool ran_on_here = live_source(&d->gate) && rec->type == LOGFMT_END &&
			   rec->ordinal < d->exits &&
			   (rec->u.end.flags & LOGFMT_END_RAN_ON);

	if (rec->type != LOGFMT_END ||
	    (rec->ordinal != d->exits && !ran_on_here) ||
	    (rec->u.end.cause != LOGFMT_END_STOPPED &&
	     rec->u.end.cause != LOGFMT_END_HOST))
		return false;
	/* Its status is one pvft-hv gives for that: gate__end_plausible(). */
	d->gate.ended_by_log = true;
	if (!d->shut_down) {
		pr_info("replay: the recorded run was %s at exit ordinal %llu "
			"(exit status %u); so is this one",
			rec->u.end.cause == LOGFMT_END_STOPPED
			    ? "stopped by a signal"
			    : "ended by a host failure",
			(unsigned long long)d->exits, rec->u.end.status);
		domain__shutdown(d, rec->u.end.status,
				 end_cause_from_log[rec->u.end.cause]);
	}
	return true;
}

const struct logfmt_record *gate__expect(struct domain *d, uint16_t type)
{
	const struct logfmt_record *rec = peek(d);

	if (!rec || ended_here(d, rec))
		return NULL;
	if (rec->ordinal != d->exits || rec->type != type) {
		gate__diverged(d, rec,
			       "the guest asked for %s at exit ordinal %llu "
			       "(rip 0x%llx, hypercall %s); the log's next "
			       "record is this one",
			       logfmt__type_name(type),
			       (unsigned long long)d->exits,
			       (unsigned long long)gate__here(d).rip,
			       hc_name(gate__here(d).nr));
		return NULL;
	}
	return rec;
}

/* ---- set-up and the end ------------------------------------------------- */

/*
 * Could pvft-hv have ended a run so? A replay exits with that status: it
 * must be one pvft-hv gives for that cause. (gate-file.c checks a whole
 * log with it before its replay.)
 */
bool gate__end_plausible(const struct logfmt_end *e)
{
	bool from_outside =
	    e->cause == LOGFMT_END_STOPPED || e->cause == LOGFMT_END_HOST;

	if ((e->flags & LOGFMT_END_RAN_ON) && !from_outside)
		return false;
	switch (e->cause) {
	case LOGFMT_END_SHUTDOWN:
		return e->status <= 255; /* the guest's code, or a crash */
	case LOGFMT_END_FAULT:
		return e->status == HV_EXIT_GUEST_FAULT;
	case LOGFMT_END_STOPPED:
		return e->status > 128 && e->status < 192;
	default:
		return e->status == HV_EXIT_HOST ||
		       e->status == HV_EXIT_GUEST_FAULT;
	}
}

void gate__refuse(struct gate *g, const char *fmt, ...)
{
	char msg[LOGFMT_HELLO_REASON_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s", msg);
	if (g->mode == GATE_REPLAY && g->src->answer)
		g->src->answer(g->src_priv, msg);
}

int gate__init(struct domain *d, enum gate_mode mode,
	       const struct gate_sink_ops *sink, void *sink_priv,
	       const struct gate_source_ops *src, void *src_priv,
	       uint64_t *mem_size_r, char *cmdline)
{
	struct gate *g = &d->gate;
	const char *perturb = getenv("PVFT_DEBUG_PERTURB");
	int rc;

	memset(g, 0, sizeof(*g));
	g->mode = mode;
	g->sink = sink;
	g->sink_priv = sink_priv;
	g->src = src;
	g->src_priv = src_priv;
	g->digest_ns = GATE_DEFAULT_DIGEST_MS * 1000000ull;
	if (perturb && *perturb) {
		g->perturb_seed = strtoul(perturb, NULL, 0) | 1;
		g->perturb_vcpu = g->perturb_seed;
		pr_warn("PVFT_DEBUG_PERTURB=%s: host threads sleep at random "
			"(a test of determinism)",
			perturb);
	}
	if (mode != GATE_NONE) {
		g->out_state = XXH3_createState();
		if (!g->out_state)
			return -ENOMEM;
		/*
		 * Whole: reset leaves reserved64 as malloc left it, and a
		 * migration's receiver refuses a state whose reserved field
		 * is not 0 (hash_state_ok in hv/migrate.c).
		 */
		memset(g->out_state, 0, sizeof(XXH3_state_t));
		XXH3_64bits_reset(g->out_state);
	}
	if (mode != GATE_REPLAY)
		return 0;
	rc = src->open(d, src_priv, &g->header, &g->next);
	if (rc)
		return rc;
	*mem_size_r = g->header.mem_size;
	memcpy(cmdline, g->next.u.boot.cmdline, g->next.u.boot.cmdline_len);
	cmdline[g->next.u.boot.cmdline_len] = '\0';
	/* The source's buffer is reused: keep only what BOOT says. */
	g->next.u.boot.cmdline = NULL;
	g->next.u.boot.cmdline_len = 0;
	g->have_next = true; /* gate__boot takes the nonce from it */
	return 0;
}

static int boot_replay(struct domain *d, const struct logfmt_header *h)
{
	struct gate *g = &d->gate;
	const struct logfmt_header *l = &g->header;
	const char *what = g->src->live ? "the primary runs" : g->what;
	const char *was = g->src->live ? "" : " was recorded";
	int bad = g->src->live ? -ECONNREFUSED : -EBADMSG;

	if (memcmp(l->image_hash, h->image_hash, sizeof(h->image_hash))) {
		gate__refuse(g,
			     "%s: %s%s with another guest image (its hash "
			     "differs)",
			     mode_name[g->mode], what, was);
		return bad;
	}
	if (l->mem_size != h->mem_size || l->abi_version != h->abi_version) {
		gate__refuse(
		    g,
		    "%s: %s%s with %llu MiB of memory and PV ABI %u, "
		    "not %llu MiB and ABI %u",
		    mode_name[g->mode], what, was,
		    (unsigned long long)(l->mem_size >> 20), l->abi_version,
		    (unsigned long long)(h->mem_size >> 20), h->abi_version);
		return bad;
	}
	if (l->cpuid_hash != h->cpuid_hash) {
		gate__refuse(g,
			     "%s: %s%s where the guest saw another CPUID "
			     "(hash %016llx, here %016llx): record and replay "
			     "on the same backend",
			     mode_name[g->mode], what, was,
			     (unsigned long long)l->cpuid_hash,
			     (unsigned long long)h->cpuid_hash);
		return bad;
	}
	d->id_nonce = g->next.u.boot.id_nonce;
	gate__consume(d);
	if (g->src->answer && g->src->answer(g->src_priv, NULL))
		return -EIO;
	return 0;
}

void gate__opening(struct domain *d, struct logfmt_header *h,
		   struct logfmt_record *boot)
{
	struct timespec ts;

	*h = (struct logfmt_header){
		.version = LOGFMT_VERSION,
		.mem_size = d->mem_size,
		.abi_version = PVFT_ABI_VERSION,
		.cpuid_hash = guest_cpuid_hash(d),
	};
	memcpy(h->image_hash, d->image_hash, sizeof(h->image_hash));
	clock_gettime(CLOCK_REALTIME, &ts);
	*boot = (struct logfmt_record){ .type = LOGFMT_BOOT };
	boot->u.boot = (struct logfmt_boot){
		.wall_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec,
		.id_nonce = d->id_nonce,
		.cmdline_len = strlen(d->cmdline),
		.cmdline = d->cmdline,
		.nr_vifs = d->nr_vifs,
	};
	memcpy(boot->u.boot.vif_mac, d->vif_mac, sizeof(boot->u.boot.vif_mac));
}

int gate__boot(struct domain *d)
{
	struct gate *g = &d->gate;
	struct logfmt_header h;
	struct logfmt_record rec;
	int rc;

	if (g->mode == GATE_REPLAY) {
		gate__opening(d, &h, &rec);
		return boot_replay(d, &h);
	}
	if (getrandom(&d->id_nonce, sizeof(d->id_nonce), 0) < 0)
		d->id_nonce = getpid();
	if (g->mode == GATE_NONE)
		return 0;
	gate__opening(d, &h, &rec);
	rc = g->sink->open(d, g->sink_priv, &h, &rec);
	if (rc)
		return rc;
	g->records++;
	return g->log_ended ? -EBADMSG : 0;
}

static int finish_record(struct domain *d)
{
	struct gate *g = &d->gate;
	struct logfmt_record rec = { .type = LOGFMT_END };

	rec.u.end = (struct logfmt_end){
		.status = d->exit_status,
		.cause = end_cause_to_log(d->end_cause),
		.flags = d->ran_on && (d->end_cause == DOMAIN_END_STOPPED ||
				       d->end_cause == DOMAIN_END_HOST)
			     ? LOGFMT_END_RAN_ON
			     : 0,
		.guest_ns = sched__now(d),
	};
	/* A fenced replica says nothing more, not even END. */
	if (d->end_cause == DOMAIN_END_FENCED || g->log_ended)
		return d->exit_status;
	take_digest(d, &rec.u.end.v);
	gate__put(d, &rec);
	return g->sink->close(d, g->sink_priv, g->log_ended ? NULL : &rec);
}

static int finish_replay(struct domain *d)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;
	struct logfmt_digest_value v, want;
	char diff[400];
	bool ran_on;
	int rc;

	if (d->end_cause == DOMAIN_END_DIVERGED || g->log_ended)
		return d->exit_status;
	if (d->end_cause == DOMAIN_END_STOPPED && !g->ended_by_log) {
		pr_info("replay stopped by a signal at exit ordinal %llu, "
			"before the end of its log",
			(unsigned long long)d->exits);
		return d->exit_status;
	}
	rec = peek(d);
	if (!rec)
		return d->exit_status;
	/* ended_here() took an END the backup had run past (RAN_ON). */
	if (rec->type != LOGFMT_END ||
	    (rec->ordinal != d->exits &&
	     !(live_source(g) && g->ended_by_log && rec->ordinal < d->exits &&
	       (rec->u.end.flags & LOGFMT_END_RAN_ON)))) {
		gate__diverged(d, rec,
			       "the replay ended at exit ordinal %llu (exit "
			       "status %d) before this record",
			       (unsigned long long)d->exits, d->exit_status);
		return d->exit_status;
	}
	if (rec->u.end.status != (uint32_t)d->exit_status ||
	    end_cause_from_log[rec->u.end.cause] != d->end_cause) {
		gate__diverged(d, rec,
			       "the log ends with exit status %u (%s), the "
			       "replay with %d",
			       rec->u.end.status,
			       logfmt__end_cause_name(rec->u.end.cause),
			       d->exit_status);
		return d->exit_status;
	}
	take_digest(d, &v);
	want = rec->u.end.v;
	/*
	 * Ended from outside while the guest ran: the recording's vCPU went
	 * on from its last exit until the signal took it out of the guest,
	 * the replay stops at that exit. Only what left the guest by then,
	 * its console output, can be the same.
	 */
	ran_on = g->ended_by_log && (rec->u.end.flags & LOGFMT_END_RAN_ON);
	if (ran_on) {
		want.mem = v.mem;
		want.regs = v.regs;
	}
	digest__diff(&want, &v, diff, sizeof(diff));
	if (diff[0]) {
		gate__diverged(d, rec, "final state differs: %s", diff);
		return d->exit_status;
	}
	gate__consume(d);
	g->log_ended = true;
	rc = g->src->close ? g->src->close(d, g->src_priv) : 0;
	if (rc)
		return rc;
	pr_info("replayed %llu records, checked %llu digest%s and the end%s: "
		"the run matches its recording; exit status %d",
		(unsigned long long)g->records,
		(unsigned long long)g->digests_checked,
		g->digests_checked == 1 ? "" : "s",
		ran_on ? " (console output only: the recording's guest ran on "
			 "after this exit)"
		       : "",
		d->exit_status);
	digest__print("final digest", &v);
	return d->exit_status;
}

void gate__resume(struct domain *d, const struct gate_source_ops *src,
		  void *priv)
{
	struct gate *g = &d->gate;

	g->mode = GATE_REPLAY;
	g->src = src;
	g->src_priv = priv;
	g->replicated = src->live;
	g->what = src->live ? "the primary runs" : "the log";
	__atomic_store_n(&g->stall_limit_s, GATE_STALL_MAX_S, __ATOMIC_RELAXED);
}

int gate__finish(struct domain *d)
{
	if (d->end_cause == DOMAIN_END_FENCED)
		return HV_EXIT_FENCED;
	/* Moved: it goes on elsewhere, this copy ends saying nothing more. */
	if (d->end_cause == DOMAIN_END_MIGRATED)
		return d->exit_status;
	switch (d->gate.mode) {
	case GATE_RECORD:
		return finish_record(d);
	case GATE_REPLAY:
		return finish_replay(d);
	default:
		return d->exit_status;
	}
}

void gate__dispose(struct gate *g)
{
	if (g->out_state)
		XXH3_freeState(g->out_state);
	g->out_state = NULL;
}

/* ---- exits -------------------------------------------------------------- */

static bool digest_due(struct domain *d)
{
	struct gate *g = &d->gate;

	if (g->digest_exits &&
	    d->exits - g->last_digest_exit >= g->digest_exits)
		return true;
	return g->digest_ns &&
	       clock__coarse_ns() - g->last_digest_coarse >= g->digest_ns;
}

static void record_digest(struct domain *d)
{
	struct gate *g = &d->gate;
	struct logfmt_record rec = { .type = LOGFMT_DIGEST };

	rec.u.digest.pos = gate__here(d);
	rec.u.digest.guest_ns = sched__now(d);
	take_digest(d, &rec.u.digest.v);
	g->last_digest_exit = d->exits;
	g->last_digest_coarse = clock__coarse_ns();
	gate__put(d, &rec);
	/*
	 * Out to stable storage at each digest: a recording killed outright
	 * keeps all but its last interval, up to a digest to check it against.
	 */
	if (!g->log_ended && g->sink->flush)
		g->sink->flush(d, g->sink_priv);
}

static void check_digest(struct domain *d, const struct logfmt_record *rec)
{
	struct logfmt_digest_value v;
	char diff[400];

	if (!gate__at_pos(d, rec, &rec->u.digest.pos))
		return;
	take_digest(d, &v);
	digest__diff(&rec->u.digest.v, &v, diff, sizeof(diff));
	if (diff[0]) {
		gate__diverged(d, rec, "%s", diff);
		return;
	}
	d->gate.digests_checked++;
	gate__consume(d);
}

/*
 * A live backup learns before anything else at an exit whether it is
 * still replaying: the primary's word on this exit may be that it went
 * live (then the devices take their live branch).
 */
void gate__sync(struct domain *d)
{
	struct gate *g = &d->gate;

	if (g->mode == GATE_REPLAY && g->src->live && !d->shut_down)
		peek(d);
}

void gate__exit(struct domain *d, const struct vcpu_exit *e)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;

	g->exit = e;
	gate__sync(d);
	if (g->mode == GATE_RECORD) {
		if (digest_due(d))
			record_digest(d);
		return;
	}
	if (g->mode != GATE_REPLAY)
		return;
	rec = peek(d);
	if (rec && rec->ordinal == d->exits && rec->type == LOGFMT_DIGEST)
		check_digest(d, rec);
	/* A stopped primary's END, from before this exit: end before it. */
	else if (rec && rec->type == LOGFMT_END && rec->ordinal < d->exits)
		ended_here(d, rec);
}

void gate__exit_done(struct domain *d)
{
	d->gate.exit = NULL;
}

void gate__kick(struct domain *d)
{
	struct gate *g = &d->gate;

	if (g->mode == GATE_RECORD && g->sink->kick)
		g->sink->kick(d, g->sink_priv);
}

void gate__before_run(struct domain *d)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;

	gate__perturb_host(g, &g->perturb_vcpu);
	if (g->mode == GATE_RECORD && g->sink->before_run)
		g->sink->before_run(d, g->sink_priv);
	if (g->mode != GATE_REPLAY || d->shut_down)
		return;
	rec = peek(d);
	if (!rec || rec->ordinal > d->exits || ended_here(d, rec))
		return;
	gate__diverged(d, rec,
		       "the guest left exit ordinal %llu without taking it "
		       "and would run on",
		       (unsigned long long)d->exits);
}

/* ---- the rest ----------------------------------------------------------- */

bool gate__replay_ended(struct domain *d)
{
	const struct logfmt_record *rec = peek(d);

	/* Gone live here: the block goes on, live. */
	if (!rec && d->gate.went_live)
		return false;
	return !rec || ended_here(d, rec);
}

void gate__replay_unwoken(struct domain *d)
{
	gate__diverged(d, peek(d),
		       "the guest blocked at exit ordinal %llu and the log has "
		       "no wake-up for it there",
		       (unsigned long long)d->exits);
}

void gate__stalled(struct domain *d)
{
	gate__diverged(
	    d, peek(d),
	    "the guest made no exit for %llu s after exit ordinal %llu (the "
	    "stall limit for this stretch of its log): the log's next record "
	    "will never come",
	    (unsigned long long)__atomic_load_n(&d->gate.stall_limit_s,
						__ATOMIC_RELAXED),
	    (unsigned long long)d->exits);
}

bool gate__frame(struct domain *d, const uint8_t *frame, size_t len)
{
	struct gate *g = &d->gate;

	if (g->mode == GATE_REPLAY)
		return true;
	return g->mode == GATE_RECORD && g->sink->frame &&
	       g->sink->frame(g->sink_priv, frame, len);
}

const struct logfmt_boot *gate__log_boot(const struct gate *g)
{
	return g->mode == GATE_REPLAY && g->have_next &&
		       g->next.type == LOGFMT_BOOT
		   ? &g->next.u.boot
		   : NULL;
}

bool gate__output(struct domain *d, const void *buf, uint64_t len)
{
	struct gate *g = &d->gate;

	if (!g->out_state)
		return false;
	XXH3_64bits_update(g->out_state, buf, len);
	g->out_bytes += len;
	if (g->mode == GATE_RECORD && g->sink->output)
		return g->sink->output(g->sink_priv, buf, len);
	if (g->mode == GATE_REPLAY && g->src->output)
		g->src->output(g->src_priv, buf, len);
	return false;
}

void gate__went_live(struct domain *d)
{
	struct gate *g = &d->gate;
	uint64_t now = sched__now(d);

	__atomic_store_n(&g->mode, GATE_NONE, __ATOMIC_RELAXED);
	__atomic_store_n(&g->went_live, true, __ATOMIC_RELAXED);
	g->have_next = false;
	/* The guest's clock never goes back: on from the latest it saw. */
	if (g->known_ns > now)
		d->sched.boot_ns -= g->known_ns - now;
}

int gate__handover(struct domain *d)
{
	struct gate *g = &d->gate;
	const char *why = NULL;
	int rc = -1;

	if (g->mode != GATE_RECORD || !g->sink->handover)
		why = g->replicated ? "this replica is not the pair's primary"
				    : "this domain is not replicated";
	if (why) {
		pr_warn("cannot hand over: %s", why);
	} else {
		rc = g->sink->handover(d, g->sink_priv, &why);
		/* Nothing more goes out: no END, the backup is the pair now. */
		if (!rc)
			g->log_ended = true;
	}
	if (d->handover_done)
		d->handover_done(d->handover_opaque, rc, why);
	return rc;
}

void gate__perturb_host(struct gate *g, uint32_t *state)
{
	uint32_t x = *state;

	if (!g->perturb_seed)
		return;
	/* xorshift32: cheap, and each thread keeps its own state. */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	if (x % 4 == 0)
		usleep(x % 2000);
}
