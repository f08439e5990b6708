// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "chan.h"
#include "cpuid.h"
#include "domain.h"
#include "gate.h"
#include "log.h"
#include "netback.h"
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

static void bad_log(struct domain *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The log cannot be used (corrupt, truncated, unwritable): stop. */
static void bad_log(struct domain *d, const char *fmt, ...)
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

static void diverged(struct domain *d, const struct logfmt_record *rec,
		     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * One line: which record, at which exit ordinal, expected what, saw what.
 * A divergence outranks however the run was about to end.
 */
static void diverged(struct domain *d, const struct logfmt_record *rec,
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

/* ---- state digests ------------------------------------------------------ */

/* x87/SSE registers; a backend that cannot read them is a host failure. */
static uint64_t vector_hash(struct domain *d)
{
	struct vcpu_fpu f;
	int rc = d->backend->get_fpu(d, &f);

	if (rc) {
		/* A vCPU already gone (a host failure) has no state to hash. */
		if (!d->shut_down)
			pr_err("%s backend: cannot read the vector registers "
			       "for a digest: %s",
			       d->backend->name, strerror(-rc));
		d->gate.host_failed = true;
		domain__shutdown(d, HV_EXIT_HOST, DOMAIN_END_HOST);
		return 0;
	}
	return XXH3_64bits(&f, sizeof(f)); /* zeroed first: no stray padding */
}

/* The event channels the guest has bound (EVTCHNOP_status shows them). */
static uint64_t ports_hash(const struct evtchn_table *t)
{
	static uint64_t v[2 * PVFT_NR_EVTCHN]; /* vCPU thread only */
	unsigned int n = 0;

	for (uint32_t p = 0; p < PVFT_NR_EVTCHN; p++) {
		const struct evtchn *e = &t->port[p];

		if (e->state == EVTCHN_FREE)
			continue;
		v[n++] = (uint64_t)p << 32 | (uint64_t)e->state << 16 |
			 e->remote_dom;
		v[n++] = (uint64_t)e->peer << 32 | e->virq;
	}
	return XXH3_64bits(v, n * sizeof(v[0]));
}

/*
 * Registers as of the exit, with the exit's rip (KVM may report it past
 * the doorbell write) and only the flags the guest's instructions set;
 * plus the guest-visible state the hv holds outside guest memory.
 */
static uint64_t regs_hash(struct domain *d)
{
	struct vcpu_regs r;
	uint64_t v[28];
	unsigned int n = 0;

	d->backend->get_regs(d, &r);
	v[n++] = r.rax;
	v[n++] = r.rbx;
	v[n++] = r.rcx;
	v[n++] = r.rdx;
	v[n++] = r.rsi;
	v[n++] = r.rdi;
	v[n++] = r.rbp;
	v[n++] = r.rsp;
	v[n++] = r.r8;
	v[n++] = r.r9;
	v[n++] = r.r10;
	v[n++] = r.r11;
	v[n++] = r.r12;
	v[n++] = r.r13;
	v[n++] = r.r14;
	v[n++] = r.r15;
	v[n++] = r.rflags & 0xcd5; /* CF PF AF ZF SF DF OF */
	v[n++] = d->last_rip;
	v[n++] = d->sched.timer_armed ? d->sched.deadline : ~0ull;
	v[n++] = d->id_counter;
	v[n++] = d->console.staged_len;
	v[n++] = d->console.closed_seen;
	v[n++] = d->in_trap_handler;
	v[n++] = vector_hash(d);
	v[n++] = XXH3_64bits(d->console.staged, d->console.staged_len);
	v[n++] = XXH3_64bits(d->trap_handler, sizeof(d->trap_handler));
	v[n++] = ports_hash(&d->evtchn);
	return XXH3_64bits(v, n * sizeof(v[0]));
}

static void take_digest(struct domain *d, struct logfmt_digest_value *v)
{
	v->mem = XXH3_64bits(d->mem, d->mem_size);
	v->regs = regs_hash(d);
	v->out_bytes = d->gate.out_bytes;
	v->out_hash =
	    d->gate.out_state ? XXH3_64bits_digest(d->gate.out_state) : 0;
}

static void print_digest(const char *what, const struct logfmt_digest_value *v)
{
	pr_info("%s: mem %016llx regs %016llx output %llu bytes %016llx", what,
		(unsigned long long)v->mem, (unsigned long long)v->regs,
		(unsigned long long)v->out_bytes,
		(unsigned long long)v->out_hash);
}

/* "" when equal, else which parts differ, both values. */
static void digest_diff(const struct logfmt_digest_value *want,
			const struct logfmt_digest_value *got, char *buf,
			size_t len)
{
	int n = 0;

	buf[0] = '\0';
#define DIFF(field, name)                                                    \
	if (want->field != got->field && n >= 0 && (size_t)n < len)          \
		n += snprintf(buf + n, len - n,                              \
			      "%s%s %016llx, replay %016llx", n ? "; " : "", \
			      name, (unsigned long long)want->field,         \
			      (unsigned long long)got->field);
	DIFF(mem, "memory hash: log")
	DIFF(regs, "register hash: log")
	DIFF(out_bytes, "console output bytes: log")
	DIFF(out_hash, "console output hash: log")
#undef DIFF
}

/* ---- the log, record side ---------------------------------------------- */

static struct logfmt_pos here(const struct domain *d)
{
	const struct vcpu_exit *e = d->gate.exit;

	return (struct logfmt_pos){
		.rip = e ? e->rip : d->last_rip,
		.nr = e && e->kind == VCPU_EXIT_HYPERCALL ? (uint32_t)e->hc.nr
							  : ~0u,
	};
}

static void put(struct domain *d, struct logfmt_record *rec)
{
	struct gate *g = &d->gate;
	struct logfmt_error err;
	int rc;

	if (g->log_ended)
		return;
	rec->ordinal = d->exits;
	if (g->chan) {
		/* The arbiter gave the pair to the backup: say no more. */
		if (chan__append(g->chan, rec)) {
			g->log_ended = true;
			if (!d->shut_down)
				domain__shutdown(d, HV_EXIT_FENCED,
						 DOMAIN_END_FENCED);
			return;
		}
		g->records++;
		return;
	}
	rc = logfile__append(&g->w, rec, &err);
	if (rc < 0) {
		bad_log(d, "cannot write the log: %s", err.msg);
		return;
	}
	g->records++;
	/*
	 * At its --record-limit but for one exit and END: stopped after
	 * this exit as by SIGXFSZ, a process's signal past its file size
	 * limit (exit status 153). END says "stopped": the log replays
	 * to there, as any stopped run's.
	 */
	if (rc == LOGFILE_FULL && rec->type != LOGFMT_END) {
		pr_err("record: %s reached its limit of %llu bytes: the domain "
		       "is stopped",
		       g->path, (unsigned long long)g->w.limit);
		sched__request_stop(d, SIGXFSZ);
	}
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

static void consume(struct domain *d)
{
	struct gate *g = &d->gate;
	uint64_t t = record_time(d, &g->next);

	if (t > g->known_ns)
		g->known_ns = t;
	g->have_next = false;
	g->records++;
}

/* Optional records (NOTE, kinds newer than this pvft) change nothing. */
static int next_record(struct gate *g, struct logfmt_error *err)
{
	int rc;

	do
		rc = logfile__next(&g->r, &g->next, err);
	while (rc == 1 && (g->next.type & LOGFMT_TYPE_OPTIONAL));
	return rc;
}

static void go_live(struct domain *d);
static bool end_plausible(const struct logfmt_end *e);

/*
 * A live stream: wait for the primary's next record, or to learn that it
 * is past this exit without one (the horizon: an ordinal after this exit),
 * or that this replica goes live (NULL, mode now NONE) or halts (NULL).
 */
static const struct logfmt_record *peek_live(struct domain *d)
{
	struct gate *g = &d->gate;
	bool in_hv = __atomic_load_n(&d->sched.in_hv, __ATOMIC_RELAXED);
	const struct logfmt_record *rec = NULL;
	enum chan_next next;

	/* Waiting for the primary is no silent guest (the watchdog). */
	__atomic_store_n(&d->sched.in_hv, true, __ATOMIC_RELAXED);
	for (;;) {
		next = chan__next(g->chan, d->exits, g->chan_buf,
				  LOGFMT_MAX_RECORD, &g->next, 100);
		if (next == CHAN_NEXT_RECORD) {
			if (g->next.type & LOGFMT_TYPE_OPTIONAL)
				continue;
			/* As a file's END is checked before its replay. */
			if (g->next.type == LOGFMT_END &&
			    !end_plausible(&g->next.u.end)) {
				diverged(d, NULL,
					 "the primary's END says exit status "
					 "%u for %s, which no pvft-hv gives",
					 g->next.u.end.status,
					 logfmt__end_cause_name(
					     g->next.u.end.cause));
				break;
			}
			g->have_next = true;
			set_stall_limit(d, &g->next);
			rec = &g->next;
			break;
		}
		if (next == CHAN_NEXT_NONE) {
			g->horizon = (struct logfmt_record){
				.type = LOGFMT_PROGRESS,
				.ordinal = d->exits + 1,
			};
			/* The primary said nothing of what comes next. */
			__atomic_store_n(&g->stall_limit_s, GATE_STALL_MAX_S,
					 __ATOMIC_RELAXED);
			rec = &g->horizon;
			break;
		}
		if (next == CHAN_NEXT_LIVE) {
			go_live(d);
			break;
		}
		if (next == CHAN_NEXT_FENCED) {
			g->log_ended = true;
			if (!d->shut_down)
				domain__shutdown(d, HV_EXIT_FENCED,
						 DOMAIN_END_FENCED);
			break;
		}
		/* CHAN_NEXT_WAIT: a stop signal ends the wait. */
		if (sched__stop_requested(d))
			break;
	}
	__atomic_store_n(&d->sched.in_hv, in_hv, __ATOMIC_RELAXED);
	return rec;
}

/* The next record, or NULL once the log is over or broken. */
static const struct logfmt_record *peek(struct domain *d)
{
	struct gate *g = &d->gate;
	struct logfmt_error err;
	int rc;

	if (g->have_next)
		return &g->next;
	if (g->log_ended)
		return NULL;
	if (g->chan)
		return peek_live(d);
	rc = next_record(g, &err);
	if (rc == 1) {
		g->have_next = true;
		set_stall_limit(d, &g->next);
		return &g->next;
	}
	if (rc == 0)
		bad_log(d, "%s: the log ends before the replay does", g->path);
	else
		bad_log(d, "%s", err.msg);
	return NULL;
}

static const char *hc_name(uint32_t nr)
{
	return nr == ~0u ? "none (a fault)" : hypercall__name(nr);
}

/* The record's position against the exit the guest is at. */
static bool at_pos(struct domain *d, const struct logfmt_record *rec,
		   const struct logfmt_pos *want)
{
	struct logfmt_pos now = here(d);

	if (want->rip == now.rip && want->nr == now.nr)
		return true;
	diverged(d, rec,
		 "the log has it at rip 0x%llx in hypercall %s, the replay is "
		 "at rip 0x%llx in hypercall %s",
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
	bool ran_on_here = d->gate.chan && rec->type == LOGFMT_END &&
			   rec->ordinal < d->exits &&
			   (rec->u.end.flags & LOGFMT_END_RAN_ON);

	if (rec->type != LOGFMT_END ||
	    (rec->ordinal != d->exits && !ran_on_here) ||
	    (rec->u.end.cause != LOGFMT_END_STOPPED &&
	     rec->u.end.cause != LOGFMT_END_HOST))
		return false;
	/* Its status is one pvft-hv gives for that: check_whole_log(). */
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

/* The record of @type this exit must take, or NULL (diverged or ended). */
static const struct logfmt_record *expect(struct domain *d, uint16_t type)
{
	const struct logfmt_record *rec = peek(d);

	if (!rec || ended_here(d, rec))
		return NULL;
	if (rec->ordinal != d->exits || rec->type != type) {
		diverged(d, rec,
			 "the guest asked for %s at exit ordinal %llu (rip "
			 "0x%llx, hypercall %s); the log's next record is "
			 "this one",
			 logfmt__type_name(type), (unsigned long long)d->exits,
			 (unsigned long long)here(d).rip, hc_name(here(d).nr));
		return NULL;
	}
	return rec;
}

/* ---- set-up and the end ------------------------------------------------- */

/*
 * Could pvft-hv have ended a run so? A replay exits with that status: it
 * must be one pvft-hv gives for that cause.
 */
static bool end_plausible(const struct logfmt_end *e)
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

/*
 * A replay reads its whole log once before running anything: a bad record
 * anywhere, or an END no pvft-hv would write, refuses it up front. Then
 * back to the first record, on the same open file.
 */
static int check_whole_log(struct gate *g)
{
	struct logfmt_record rec;
	struct logfmt_error err;
	int rc;

	while ((rc = logfile__next(&g->r, &rec, &err)) == 1)
		if (rec.type == LOGFMT_END && !end_plausible(&rec.u.end)) {
			pr_err("replay: %s: record #%llu: END says the run "
			       "was %s with exit status %u, which pvft-hv "
			       "never gives for that",
			       g->path, (unsigned long long)rec.seq,
			       logfmt__end_cause_name(rec.u.end.cause),
			       rec.u.end.status);
			return -1;
		}
	if (rc < 0 || logfile__rewind(&g->r, &err)) {
		pr_err("replay: %s", err.msg);
		return -1;
	}
	return 0;
}

/* Backup: the primary's header and BOOT, off the stream. */
static int init_live_replay(struct gate *g, uint64_t *mem_size_r, char *cmdline)
{
	struct logfmt_record boot;

	g->chan_buf = malloc(LOGFMT_MAX_RECORD);
	if (!g->chan_buf)
		return HV_EXIT_HOST;
	if (chan__accept(g->chan, &g->header, &boot))
		return HV_EXIT_PAIR;
	*mem_size_r = g->header.mem_size;
	memcpy(cmdline, boot.u.boot.cmdline, boot.u.boot.cmdline_len);
	cmdline[boot.u.boot.cmdline_len] = '\0';
	/* The stream's buffer is reused once paired: keep what BOOT says. */
	g->next = boot;
	g->next.u.boot.cmdline = NULL;
	g->next.u.boot.cmdline_len = 0;
	g->have_next = true; /* gate__boot takes the nonce from it */
	return 0;
}

void gate__refuse(struct gate *g, const char *fmt, ...)
{
	char msg[LOGFMT_HELLO_REASON_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s", msg);
	if (g->chan && g->mode == GATE_REPLAY)
		chan__answer(g->chan, msg);
}

int gate__init(struct gate *g, enum gate_mode mode, const char *path,
	       struct chan *chan, uint64_t *mem_size_r, char *cmdline)
{
	struct logfmt_error err;
	const char *perturb = getenv("PVFT_DEBUG_PERTURB");
	struct stat st;
	int rc;

	memset(g, 0, sizeof(*g));
	g->mode = mode;
	g->path = path;
	g->chan = chan;
	g->live_out_fd = -1;
	g->digest_ns = GATE_DEFAULT_DIGEST_MS * 1000000ull;
	g->frame_buf = malloc(NETBACK_BATCH * sizeof(*g->frame_buf));
	if (!g->frame_buf)
		return HV_EXIT_HOST;
	if (perturb && *perturb) {
		g->perturb_seed = strtoul(perturb, NULL, 0) | 1;
		g->perturb_vcpu = g->perturb_seed;
		pr_warn("PVFT_DEBUG_PERTURB=%s: host threads sleep at random "
			"(a test of determinism)",
			perturb);
	}
	if (mode != GATE_NONE) {
		g->out_state = XXH3_createState();
		if (!g->out_state || XXH3_64bits_reset(g->out_state))
			return HV_EXIT_HOST;
	}
	if (mode != GATE_REPLAY)
		return 0;
	if (chan)
		return init_live_replay(g, mem_size_r, cmdline);

	/*
	 * Regular files only: a pipe could neither be read through first nor
	 * be interrupted by a stop signal (checked before open, which would
	 * block on a FIFO, and on the open file).
	 */
	if ((stat(path, &st) == 0 && !S_ISREG(st.st_mode))) {
		pr_err("replay: %s: not a regular file", path);
		return HV_EXIT_LOG;
	}
	if (logfile__open(&g->r, path, &g->header, &err)) {
		pr_err("replay: %s", err.msg);
		return HV_EXIT_LOG;
	}
	g->reader_open = true;
	if (fstat(g->r.fd, &st) || !S_ISREG(st.st_mode)) {
		pr_err("replay: %s: not a regular file", path);
		return HV_EXIT_LOG;
	}
	if (check_whole_log(g))
		return HV_EXIT_LOG;
	/* Checked above: record 0 is BOOT (logfile.c). */
	rc = next_record(g, &err);
	if (rc != 1) {
		pr_err("replay: %s", rc ? err.msg : "no BOOT record");
		return HV_EXIT_LOG;
	}
	*mem_size_r = g->header.mem_size;
	memcpy(cmdline, g->next.u.boot.cmdline, g->next.u.boot.cmdline_len);
	cmdline[g->next.u.boot.cmdline_len] = '\0';
	g->have_next = true; /* gate__boot takes the nonce from it */
	return 0;
}

int gate__boot(struct domain *d)
{
	struct gate *g = &d->gate;
	struct logfmt_header h = {
		.version = LOGFMT_VERSION,
		.mem_size = d->mem_size,
		.abi_version = PVFT_ABI_VERSION,
		.cpuid_hash = guest_cpuid_hash(d),
	};
	struct logfmt_record rec = { .type = LOGFMT_BOOT };
	struct logfmt_error err;
	struct timespec ts;

	memcpy(h.image_hash, d->image_hash, sizeof(h.image_hash));
	if (g->mode == GATE_REPLAY) {
		const struct logfmt_header *l = &g->header;
		const char *what = g->chan ? "the primary runs" : g->path;
		const char *was = g->chan ? "" : " was recorded";
		int bad = g->chan ? HV_EXIT_PAIR : HV_EXIT_LOG;

		if (memcmp(l->image_hash, h.image_hash, sizeof(h.image_hash))) {
			gate__refuse(g,
				     "%s: %s%s with another guest image (its "
				     "hash differs)",
				     mode_name[g->mode], what, was);
			return bad;
		}
		if (l->mem_size != h.mem_size ||
		    l->abi_version != h.abi_version) {
			gate__refuse(g,
				     "%s: %s%s with %llu MiB of memory and PV "
				     "ABI %u, not %llu MiB and ABI %u",
				     mode_name[g->mode], what, was,
				     (unsigned long long)(l->mem_size >> 20),
				     l->abi_version,
				     (unsigned long long)(h.mem_size >> 20),
				     h.abi_version);
			return bad;
		}
		if (l->cpuid_hash != h.cpuid_hash) {
			gate__refuse(g,
				     "%s: %s%s where the guest saw another "
				     "CPUID (hash %016llx, here %016llx): "
				     "record and replay on the same backend",
				     mode_name[g->mode], what, was,
				     (unsigned long long)l->cpuid_hash,
				     (unsigned long long)h.cpuid_hash);
			return bad;
		}
		d->id_nonce = g->next.u.boot.id_nonce;
		consume(d);
		if (g->chan && chan__answer(g->chan, NULL))
			return HV_EXIT_HOST;
		return 0;
	}

	if (getrandom(&d->id_nonce, sizeof(d->id_nonce), 0) < 0)
		d->id_nonce = getpid();
	if (g->mode == GATE_NONE)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	rec.u.boot = (struct logfmt_boot){
		.wall_ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec,
		.id_nonce = d->id_nonce,
		.cmdline_len = strlen(d->cmdline),
		.cmdline = d->cmdline,
	};
	if (d->net) {
		rec.u.boot.nr_vifs = 1;
		memcpy(rec.u.boot.vif_mac[0], d->net->cfg.mac, 6);
	}
	if (g->chan) {
		h.flags = LOGFMT_F_STREAM;
		h.pair_id = g->chan->cfg.pair;
		h.epoch = g->chan->cfg.epoch;
		if (chan__connect(g->chan, &h, &rec))
			return HV_EXIT_PAIR;
		g->records++;
		return 0;
	}
	if (logfile__create(&g->w, g->path, &h, &err)) {
		pr_err("record: %s", err.msg);
		return HV_EXIT_LOG;
	}
	g->writer_open = true;
	if (logfile__set_limit(&g->w, g->record_limit)) {
		pr_err("record: --record-limit %llu: less than %u bytes",
		       (unsigned long long)g->record_limit, LOGFILE_LIMIT_MIN);
		return HV_EXIT_USAGE;
	}
	put(d, &rec);
	return g->log_ended ? HV_EXIT_LOG : 0;
}

/* What the pair did, for the operator and the benchmarks. */
static void print_pair_stats(struct domain *d)
{
	struct chan_stats st;
	uint64_t secs_ns;

	chan__get_stats(d->gate.chan, &st);
	secs_ns = sched__host_now_ns() - st.paired_ns;
	pr_info("pair: %s with %s; %llu records, %llu bytes %s (%.2f Mbit/s); "
		"lag max %.1f ms; output held %.0f us on average over %llu "
		"writes; throttled %.1f ms",
		chan__state_name(st.state), d->gate.chan->peer,
		(unsigned long long)st.records, (unsigned long long)st.bytes,
		d->gate.mode == GATE_RECORD ? "sent" : "received",
		secs_ns ? st.bytes * 8.0 * 1000.0 / secs_ns : 0.0,
		st.max_lag_ns / 1e6,
		st.held_count ? st.held_ns_total / 1e3 / st.held_count : 0.0,
		(unsigned long long)st.held_count, st.throttled_ns / 1e6);
}

/* Primary: END is out; wait for the backup to have it all, then close. */
static int finish_stream(struct domain *d)
{
	struct gate *g = &d->gate;

	if (chan__finish(g->chan)) {
		g->log_ended = true;
		pr_err("halted: the arbiter gave the pair to the backup");
		return HV_EXIT_FENCED;
	}
	pr_info("streamed %llu records; exit status %d",
		(unsigned long long)g->records, d->exit_status);
	print_pair_stats(d);
	return d->exit_status;
}

static int finish_record(struct domain *d)
{
	struct gate *g = &d->gate;
	struct logfmt_record rec = { .type = LOGFMT_END };
	struct logfmt_error err;
	uint64_t bytes;

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
	put(d, &rec);
	if (g->chan)
		return g->log_ended ? d->exit_status : finish_stream(d);
	bytes = g->w.bytes;
	g->writer_open = false;
	if (logfile__close(&g->w, &err)) {
		bad_log(d, "cannot write the log: %s", err.msg);
		return d->exit_status;
	}
	if (g->log_ended)
		return d->exit_status;
	pr_info("recorded %llu records, %llu bytes to %s; exit status %d",
		(unsigned long long)g->records, (unsigned long long)bytes,
		g->path, d->exit_status);
	print_digest("final digest", &rec.u.end.v);
	return d->exit_status;
}

static int finish_replay(struct domain *d)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;
	struct logfmt_digest_value v, want;
	struct logfmt_record extra;
	struct logfmt_error err;
	char diff[400];

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
	     !(g->chan && g->ended_by_log && rec->ordinal < d->exits &&
	       (rec->u.end.flags & LOGFMT_END_RAN_ON)))) {
		diverged(d, rec,
			 "the replay ended at exit ordinal %llu (exit status "
			 "%d) before this record",
			 (unsigned long long)d->exits, d->exit_status);
		return d->exit_status;
	}
	if (rec->u.end.status != (uint32_t)d->exit_status ||
	    end_cause_from_log[rec->u.end.cause] != d->end_cause) {
		diverged(d, rec,
			 "the log ends with exit status %u (%s), the replay "
			 "with %d",
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
	if (g->ended_by_log && (rec->u.end.flags & LOGFMT_END_RAN_ON)) {
		want.mem = v.mem;
		want.regs = v.regs;
	}
	digest_diff(&want, &v, diff, sizeof(diff));
	if (diff[0]) {
		diverged(d, rec, "final state differs: %s", diff);
		return d->exit_status;
	}
	consume(d);
	g->log_ended = true;
	if (g->chan) {
		/* The primary closes once its output is out, or fails. */
		if (chan__finish_backup(g->chan)) {
			pr_err("halted: the arbiter gave the pair to the "
			       "primary");
			return HV_EXIT_FENCED;
		}
		if (chan__state(g->chan) == CHAN_ALONE) {
			uint64_t n = chan__emit_tail(g->chan);

			pr_info("the primary failed after its end: emitted "
				"the last %llu bytes of console output it may "
				"not have released",
				(unsigned long long)n);
		}
		print_pair_stats(d);
	} else if (logfile__next(&g->r, &extra, &err) != 0) {
		bad_log(d, "%s", err.msg);
		return d->exit_status;
	}
	pr_info("replayed %llu records, checked %llu digest%s and the end%s: "
		"the run matches its recording; exit status %d",
		(unsigned long long)g->records,
		(unsigned long long)g->digests_checked,
		g->digests_checked == 1 ? "" : "s",
		g->ended_by_log && (rec->u.end.flags & LOGFMT_END_RAN_ON)
		    ? " (console output only: the recording's guest ran on "
		      "after this exit)"
		    : "",
		d->exit_status);
	print_digest("final digest", &v);
	return d->exit_status;
}

static int finish(struct domain *d);

int gate__finish(struct domain *d)
{
	int status;

	if (d->end_cause == DOMAIN_END_FENCED)
		return HV_EXIT_FENCED;
	status = finish(d);
	/* Fenced as the run ended: the other replica has the pair. */
	if (d->gate.chan && chan__state(d->gate.chan) == CHAN_FENCED &&
	    !d->gate.went_live) {
		d->exit_status = HV_EXIT_FENCED;
		return HV_EXIT_FENCED;
	}
	return status;
}

static int finish(struct domain *d)
{
	switch (d->gate.mode) {
	case GATE_RECORD:
		return d->gate.writer_open || d->gate.chan ? finish_record(d)
							   : d->exit_status;
	case GATE_REPLAY:
		return finish_replay(d);
	default:
		return d->exit_status;
	}
}

void gate__dispose(struct gate *g)
{
	struct logfmt_error err;

	if (g->writer_open)
		logfile__close(&g->w, &err);
	if (g->reader_open)
		logfile__close_reader(&g->r);
	g->writer_open = g->reader_open = false;
	if (g->out_state)
		XXH3_freeState(g->out_state);
	g->out_state = NULL;
	free(g->chan_buf);
	g->chan_buf = NULL;
	free(g->frame_buf);
	g->frame_buf = NULL;
}

/* ---- exits -------------------------------------------------------------- */

/*
 * The coarse clock is a memory read even where the precise one is not
 * (a VM's emulated clocksource): asked at every exit, it must be cheap,
 * and a few ms of slack do not matter to a digest interval.
 */
static uint64_t coarse_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static bool digest_due(struct domain *d)
{
	struct gate *g = &d->gate;

	if (g->digest_exits &&
	    d->exits - g->last_digest_exit >= g->digest_exits)
		return true;
	return g->digest_ns &&
	       coarse_now_ns() - g->last_digest_coarse >= g->digest_ns;
}

static void record_digest(struct domain *d)
{
	struct gate *g = &d->gate;
	struct logfmt_record rec = { .type = LOGFMT_DIGEST };
	struct logfmt_error err;

	rec.u.digest.pos = here(d);
	rec.u.digest.guest_ns = sched__now(d);
	take_digest(d, &rec.u.digest.v);
	g->last_digest_exit = d->exits;
	g->last_digest_coarse = coarse_now_ns();
	put(d, &rec);
	/*
	 * Out to the file at each digest: a recording killed outright keeps
	 * all but its last interval, up to a digest to check it against.
	 */
	if (!g->log_ended && !g->chan && logfile__flush(&g->w, &err))
		bad_log(d, "cannot write the log: %s", err.msg);
}

static void check_digest(struct domain *d, const struct logfmt_record *rec)
{
	struct logfmt_digest_value v;
	char diff[400];

	if (!at_pos(d, rec, &rec->u.digest.pos))
		return;
	take_digest(d, &v);
	digest_diff(&rec->u.digest.v, &v, diff, sizeof(diff));
	if (diff[0]) {
		diverged(d, rec, "%s", diff);
		return;
	}
	d->gate.digests_checked++;
	consume(d);
}

/*
 * A live backup learns before anything else at an exit whether it is
 * still replaying: the primary's word on this exit may be that it went
 * live (then the hooks take their live branch).
 */
static void sync_live(struct domain *d)
{
	struct gate *g = &d->gate;

	if (g->chan && g->mode == GATE_REPLAY && !d->shut_down)
		peek(d);
}

void gate__exit(struct domain *d, const struct vcpu_exit *e)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;

	g->exit = e;
	sync_live(d);
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

/*
 * Primary, before entering the guest: say how far the guest got, keep
 * out of it while the backup lags too far (so that a failover replays a
 * bounded stretch), and once left alone, stop logging.
 */
static void before_run_primary(struct domain *d)
{
	struct gate *g = &d->gate;
	enum chan_state st;

	/* This exit's records are all out (but an END, if stopped next). */
	chan__progress(g->chan, d->exits + 1);
	while (chan__throttle(g->chan, 10, &st) && !sched__stop_requested(d))
		;
	if (st == CHAN_ALONE) {
		/* Held output first, so that nothing overtakes it. */
		chan__finish(g->chan);
		g->mode = GATE_NONE;
		pr_info("running alone from exit ordinal %llu: no more log, "
			"output goes out at once",
			(unsigned long long)d->exits);
	} else if (st == CHAN_FENCED && !d->shut_down) {
		g->log_ended = true;
		domain__shutdown(d, HV_EXIT_FENCED, DOMAIN_END_FENCED);
	}
}

void gate__before_run(struct domain *d)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;

	gate__perturb_host(g, &g->perturb_vcpu);
	if (g->chan && g->mode == GATE_RECORD)
		before_run_primary(d);
	if (g->mode != GATE_REPLAY || d->shut_down)
		return;
	rec = peek(d);
	if (!rec || rec->ordinal > d->exits || ended_here(d, rec))
		return;
	diverged(d, rec,
		 "the guest left exit ordinal %llu without taking it and would "
		 "run on",
		 (unsigned long long)d->exits);
}

/* ---- values ------------------------------------------------------------- */

static int64_t live_time(struct domain *d, uint32_t clock)
{
	struct timespec ts;

	if (clock == PVFT_CLOCK_MONOTONIC)
		return sched__now(d);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

long gate__time(struct domain *d, uint32_t clock, int64_t *value_r)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;
	struct logfmt_record out = { .type = LOGFMT_TIME };

	sync_live(d);
	if (g->mode != GATE_REPLAY) {
		*value_r = live_time(d, clock);
		if (g->mode == GATE_RECORD) {
			out.u.time = (struct logfmt_time){
				.pos = here(d),
				.clock = clock,
				.value = *value_r,
			};
			put(d, &out);
		}
		return 0;
	}
	*value_r = 0;
	rec = expect(d, LOGFMT_TIME);
	if (!rec || !at_pos(d, rec, &rec->u.time.pos))
		return 0;
	if (rec->u.time.clock != clock) {
		diverged(d, rec, "the log has clock %u, the guest asked for %u",
			 rec->u.time.clock, clock);
		return 0;
	}
	*value_r = rec->u.time.value;
	consume(d);
	return 0;
}

static long live_random(uint8_t *buf, uint32_t len)
{
	uint32_t got = 0;

	while (got < len) {
		ssize_t r = getrandom(buf + got, len - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			pr_err("getrandom: %s", strerror(errno));
			return -EIO;
		}
		got += r;
	}
	return 0;
}

long gate__random(struct domain *d, uint8_t *buf, uint32_t len)
{
	struct gate *g = &d->gate;
	const struct logfmt_record *rec;
	struct logfmt_record out = { .type = LOGFMT_RANDOM };
	long rc;

	sync_live(d);
	if (g->mode != GATE_REPLAY) {
		rc = live_random(buf, len);
		if (rc && g->mode == GATE_RECORD) {
			/* A host failure no replay could give the guest. */
			domain__shutdown(d, HV_EXIT_HOST, DOMAIN_END_HOST);
			return rc;
		}
		if (g->mode == GATE_RECORD && len) {
			out.u.random = (struct logfmt_random){
				.pos = here(d),
				.len = len,
				.bytes = buf,
			};
			put(d, &out);
		}
		return rc;
	}
	memset(buf, 0, len);
	if (!len)
		return 0;
	rec = expect(d, LOGFMT_RANDOM);
	/* Ended here (as by the recording's getrandom failure): as it did. */
	if (!rec)
		return -EIO;
	if (!at_pos(d, rec, &rec->u.random.pos))
		return 0;
	if (rec->u.random.len != len) {
		diverged(d, rec,
			 "the log has %u random bytes, the guest asked "
			 "for %u",
			 rec->u.random.len, len);
		return 0;
	}
	memcpy(buf, rec->u.random.bytes, len);
	consume(d);
	return 0;
}

/* ---- deliveries --------------------------------------------------------- */

/* New console input is announced on the console's hv-bound port. */
static void announce_console(struct domain *d)
{
	if (d->evtchn.port[PVFT_CONSOLE_PORT].state == EVTCHN_HV)
		evtchn__set_pending(&d->evtchn, PVFT_CONSOLE_PORT);
}

/* false: the guest's ring broke under it (the frame is dropped). */
static bool deliver_frame(struct domain *d, const struct netback_frame *f)
{
	struct logfmt_record rec;

	/* Logged only once in the guest's buffer: a replay redoes just that. */
	if (netback__rx_put(d->net, f->data, f->len))
		return false;
	if (d->gate.mode != GATE_RECORD)
		return true;
	rec = (struct logfmt_record){ .type = LOGFMT_NET_RX };
	rec.u.net_rx = (struct logfmt_net_rx){
		.pos = here(d),
		.len = f->len,
		.bytes = f->data,
	};
	put(d, &rec);
	return true;
}

/*
 * Live: frames into the guest's posted rx buffers, as many as it has
 * posted: the host side's own first (ARP answers), then a batch at a
 * time straight from the host side.
 */
static void deliver_frames(struct domain *d)
{
	struct netback *nb = d->net;
	struct netback_frame *f = d->gate.frame_buf;
	unsigned int slots = netback__rx_slots(nb), n;

	while (slots && netback__rx_pop(nb, f)) {
		if (!deliver_frame(d, f))
			goto out;
		slots--;
	}
	while (slots && (n = netback__rx_fetch(nb, f, slots))) {
		for (unsigned int i = 0; i < n; i++)
			if (!deliver_frame(d, &f[i]))
				goto out;
		slots -= n;
	}
out:
	netback__rx_push(nb);
}

static void deliver_live(struct domain *d)
{
	struct gate *g = &d->gate;
	struct logfmt_record rec;
	bool closed;
	size_t n;

	if (sched__timer_due(d)) {
		sched__fire_timer(d);
		if (g->mode == GATE_RECORD) {
			rec = (struct logfmt_record){ .type = LOGFMT_TIMER };
			rec.u.timer.pos = here(d);
			put(d, &rec);
		}
	}
	n = console__stage_input(&d->console, &closed);
	/* Bytes, or just the end of input: both change what the guest sees. */
	if ((n || closed) && g->mode == GATE_RECORD) {
		rec = (struct logfmt_record){ .type = LOGFMT_CONSOLE_IN };
		rec.u.console_in = (struct logfmt_console_in){
			.pos = here(d),
			.flags = closed ? LOGFMT_CONSOLE_CLOSED : 0,
			.len = n,
			.bytes = d->console.staged + d->console.staged_len - n,
		};
		put(d, &rec);
	}
	if (n)
		announce_console(d);
	if (d->net)
		deliver_frames(d);
}

static void deliver_replayed(struct domain *d)
{
	const struct logfmt_record *rec;

	while ((rec = peek(d)) && rec->ordinal == d->exits) {
		if (rec->type == LOGFMT_TIMER) {
			if (!at_pos(d, rec, &rec->u.timer.pos))
				break;
			if (!d->sched.timer_armed) {
				diverged(d, rec,
					 "the log fires the timer, the "
					 "guest has none armed");
				break;
			}
			/* Guest time reached the deadline: learn it first. */
			if (d->sched.deadline > d->gate.known_ns)
				d->gate.known_ns = d->sched.deadline;
			sched__fire_timer(d);
		} else if (rec->type == LOGFMT_CONSOLE_IN) {
			const struct logfmt_console_in *in = &rec->u.console_in;

			if (!at_pos(d, rec, &in->pos))
				break;
			if (console__stage_replayed(
				&d->console, in->bytes, in->len,
				in->flags & LOGFMT_CONSOLE_CLOSED)) {
				diverged(d, rec,
					 "%u bytes of console input "
					 "do not fit: the guest has "
					 "not read earlier input",
					 in->len);
				break;
			}
			if (in->len)
				announce_console(d);
		} else if (rec->type == LOGFMT_NET_RX) {
			const struct logfmt_net_rx *in = &rec->u.net_rx;
			int rc;

			if (!at_pos(d, rec, &in->pos))
				break;
			rc = d->net
				 ? netback__rx_put(d->net, in->bytes, in->len)
				 : -ENODEV;
			if (rc) {
				diverged(d, rec,
					 "the log delivers a %u-byte frame, "
					 "the guest has %s",
					 in->len,
					 rc == -ENOSPC ? "no rx buffer posted"
						       : "no connected vif");
				break;
			}
		} else {
			break;
		}
		consume(d);
	}
	if (d->net)
		netback__rx_push(d->net);
}

void gate__deliver(struct domain *d)
{
	gate__perturb_host(&d->gate, &d->gate.perturb_vcpu);
	/* A domain that is over takes nothing more (nor logs it). */
	if (d->shut_down)
		return;
	sync_live(d);
	/* Outputs first: what the guest sent before it takes anything in. */
	netback__tx(d);
	if (d->gate.mode == GATE_REPLAY)
		deliver_replayed(d);
	else
		deliver_live(d);
	if (d->gate.chan && d->gate.mode == GATE_RECORD)
		chan__kick(d->gate.chan);
}

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
	diverged(d, peek(d),
		 "the guest blocked at exit ordinal %llu and the log has no "
		 "wake-up for it there",
		 (unsigned long long)d->exits);
}

void gate__stalled(struct domain *d)
{
	diverged(d, peek(d),
		 "the guest made no exit for %llu s after exit ordinal %llu "
		 "(the stall limit for this stretch of its log): the log's "
		 "next record will never come",
		 (unsigned long long)__atomic_load_n(&d->gate.stall_limit_s,
						     __ATOMIC_RELAXED),
		 (unsigned long long)d->exits);
}

void gate__net_output(struct domain *d, const uint8_t *frame, size_t len)
{
	struct gate *g = &d->gate;

	if (g->mode == GATE_REPLAY)
		return;
	if (g->mode == GATE_RECORD && g->chan)
		chan__output_frame(g->chan, frame, len);
	else
		netback__send(d->net, frame, len);
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
	if (!g->chan)
		return false;
	if (g->mode == GATE_RECORD) {
		chan__output(g->chan, buf, len);
		return true;
	}
	if (g->mode == GATE_REPLAY)
		chan__replayed_output(g->chan, buf, len);
	return false;
}

/*
 * Backup: everything the primary sent is replayed and the arbiter gave
 * this node the pair. The same execution goes on here, live: values and
 * deliveries from the host, output to the console, and first the output
 * the old primary may not have let out (a duplicated tail at worst, never
 * a gap: Documentation/pair.md).
 */
static void go_live(struct domain *d)
{
	struct gate *g = &d->gate;
	struct chan_stats st;
	struct timespec wall;
	uint64_t now = sched__now(d), tail;

	g->mode = GATE_NONE;
	g->went_live = true;
	g->have_next = false;
	/* The guest's clock never goes back: on from the latest it saw. */
	if (g->known_ns > now)
		d->sched.boot_ns -= g->known_ns - now;
	tail = chan__emit_tail(g->chan);
	d->console.out_fd = g->live_out_fd;
	/* The network identity: the service address, or the MAC announced. */
	if (d->net)
		netback__go_live(d->net);
	chan__get_stats(g->chan, &st);
	clock_gettime(CLOCK_REALTIME, &wall);
	/* The wall clock too: benchmarks time kill -> live across processes. */
	pr_info("went live at exit ordinal %llu: replayed %llu records, "
		"checked %llu digests; re-emitted %llu bytes of console output "
		"the old primary may not have released; %.1f ms after it was "
		"last heard (realtime_us=%lld)",
		(unsigned long long)d->exits, (unsigned long long)g->records,
		(unsigned long long)g->digests_checked,
		(unsigned long long)tail,
		(sched__host_now_ns() - st.silent_ns) / 1e6,
		(long long)wall.tv_sec * 1000000ll + wall.tv_nsec / 1000);
}

int gate__handover(struct domain *d)
{
	struct gate *g = &d->gate;
	const char *why = NULL;
	struct timespec wall;
	uint64_t t0 = sched__host_now_ns();
	int rc = -1;

	if (!g->chan || g->mode != GATE_RECORD)
		why = g->chan ? "this replica is not the pair's primary"
			      : "this domain is not replicated";
	else if (chan__state(g->chan) != CHAN_PAIRED)
		why = "the pair is not protected (no backup to hand over to)";
	if (why) {
		pr_warn("cannot hand over: %s", why);
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &wall);
	pr_info("handing the pair over to %s at exit ordinal %llu "
		"(realtime_us=%lld)",
		g->chan->peer, (unsigned long long)d->exits,
		(long long)wall.tv_sec * 1000000ll + wall.tv_nsec / 1000);
	/*
	 * The exit it stopped after is over: the backup replays all of it,
	 * its output included (which is out: going live inside it would write
	 * that output again), and goes live at the next. Unless the stop took
	 * the vCPU out of a block with nothing delivered: that is no finished
	 * exit, and the backup goes live inside the block, as after a failure
	 * (a block writes nothing).
	 */
	if (!d->sched.block_cut)
		chan__progress(g->chan, d->exits + 1);
	d->sched.block_cut = false;
	rc = chan__handover(g->chan);
	if (rc) {
		why = chan__state(g->chan) == CHAN_FENCED
			  ? "the backup failed first and won the arbiter"
			  : "the backup failed first: running alone";
		pr_warn("handover failed: %s", why);
		goto out;
	}
	/* Nothing more goes out: no END, the backup is the pair now. */
	g->log_ended = true;
	pr_info("handed over after %.1f ms: every record acknowledged, all "
		"output released; the backup takes over",
		(sched__host_now_ns() - t0) / 1e6);
	print_pair_stats(d);
out:
	if (d->handover_done)
		d->handover_done(d, rc, why);
	return rc;
}

void gate__fenced(void *domain)
{
	sched__request_stop(domain, SCHED_STOP_FENCED);
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
