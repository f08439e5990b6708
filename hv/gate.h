/* SPDX-License-Identifier: MIT */
/*
 * The record/replay gate: every nondeterministic value reaches the guest
 * through here, in one of three modes (DESIGN.md 3.2):
 *   NONE    live values from the host, nothing logged;
 *   RECORD  live values, each put into the log with the exit ordinal it
 *           reached the guest at (and the guest rip and hypercall number,
 *           as a check);
 *   REPLAY  values from the log, nothing from the host.
 *
 * The gate is only the core: put (RECORD), expect / consume (REPLAY), the
 * divergence report and the exit ordinal's digests. Where records go is a
 * sink (struct gate_sink_ops: a file, hv/gate-file.c; the live stream to a
 * backup, hv/pair.c), where they come from a source (a file, the stream);
 * both are chosen at start, and the sink can be replaced at an exit
 * boundary (gate__set_sink: a primary left alone stops logging; a running
 * domain gets a backup). The values themselves are produced by the
 * devices (device.h: console input, timer, frames) and values.c (time,
 * random); the gate never calls a device by name.
 *
 * State digests (memory, registers, the devices' state, console output so
 * far: digest.h) are logged every so many exits or so much guest time; a
 * replay recomputes each one where the log has it. The first difference of
 * any kind stops a replay with one line naming the record, the exit
 * ordinal, what the log expected and what the guest did
 * (HV_EXIT_DIVERGED).
 *
 * vCPU thread only, except gate__perturb_host and gate__mode (any thread).
 */
#ifndef PVFT_HV_GATE_H
#define PVFT_HV_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logfmt.h"

struct domain;
struct gate;
struct vcpu_exit;

enum gate_mode {
	GATE_NONE,
	GATE_RECORD,
	GATE_REPLAY,
};

/* Digest interval in guest time, per 64 MiB of memory (hv/main.c). */
#define GATE_DEFAULT_DIGEST_MS 500

/* Where records go (RECORD). Ops may be NULL where a sink has nothing. */
struct gate_sink_ops {
	const char *name;
	/*
	 * Take the log's header and BOOT (the sink sets what it alone knows
	 * in @h: a stream's flags, pair and epoch). 0, or -errno after saying
	 * why (domain.h: which errno means what).
	 */
	int (*open)(struct domain *d, void *priv, struct logfmt_header *h,
		    struct logfmt_record *boot);
	/*
	 * One record (its ordinal set). 0; -1: it cannot go, and the sink
	 * has ended the domain saying why (the gate then logs no more).
	 */
	int (*put)(struct domain *d, void *priv, struct logfmt_record *rec);
	/* At each digest: out to stable storage. */
	void (*flush)(struct domain *d, void *priv);
	/*
	 * The guest's output under the output rule: true when the sink holds
	 * it and releases it itself (a primary's); false: out at once.
	 */
	bool (*output)(void *priv, const void *buf, size_t len);
	bool (*frame)(void *priv, const void *frame, size_t len);
	/* After each pass of deliveries (the stream sends their records). */
	void (*kick)(struct domain *d, void *priv);
	/* Before each entry into the guest (a stream's progress, throttle). */
	void (*before_run)(struct domain *d, void *priv);
	/* pvft promote, at an exit boundary: 0 handed over; -1 and @why. */
	int (*handover)(struct domain *d, void *priv, const char **why);
	/*
	 * After END was put (@end, NULL when none was): close. Returns the
	 * exit status.
	 */
	int (*close)(struct domain *d, void *priv,
		     const struct logfmt_record *end);
};

/* What a source has at the exit the guest is at. */
enum gate_next {
	GATE_NEXT_RECORD, /* the next record, in *rec */
	GATE_NEXT_NONE,	  /* a live primary is past this exit: nothing here */
	GATE_NEXT_LIVE,	  /* the source made this replica live (mode NONE) */
	GATE_NEXT_FENCED, /* the pair went to the other replica: halt */
	GATE_NEXT_STOP,	  /* a stop was asked for while waiting */
	GATE_NEXT_ERROR,  /* the log ended or broke: the source said why */
};

/* Where records come from (REPLAY). */
struct gate_source_ops {
	const char *name;
	/* A live stream (a backup) rather than a log written before. */
	bool live;
	/*
	 * Before the domain is built: the log's header and BOOT record (its
	 * cmdline valid until the first ->next). 0, or -errno after saying
	 * why.
	 */
	int (*open)(struct domain *d, void *priv, struct logfmt_header *h,
		    struct logfmt_record *boot);
	/* The next record (kinds this pvft does not know included). */
	enum gate_next (*next)(struct domain *d, void *priv,
			       struct logfmt_record *rec);
	/* The run checked out (@why NULL: go on) or is refused, and why. */
	int (*answer)(void *priv, const char *why);
	/* The replay's console output (a backup keeps its tail). */
	void (*output)(void *priv, const void *buf, size_t len);
	/*
	 * After the replay took END: 0, or the exit status it ends with
	 * instead (a log with bytes after END, a fenced backup).
	 */
	int (*close)(struct domain *d, void *priv);
	/*
	 * A live source's replica moving elsewhere (hv/migrate.c), at an
	 * exit boundary. ->move_out: stop taking records and write into
	 * @buf what a successor needs to go on replaying from here (the
	 * stream's LOG_TAIL, migration-stream.md): its length, or -errno.
	 * ->move_commit once the successor holds the domain: tell the
	 * primary where it listens (@addr); 0 or -errno. ->move_abort: the
	 * move failed before its commit, go on as before. NULL: a source
	 * that cannot move (a file).
	 */
	long (*move_out)(struct domain *d, void *priv, void *buf, size_t cap);
	int (*move_commit)(void *priv, const char *addr);
	void (*move_abort)(void *priv);
};

struct gate {
	enum gate_mode mode; /* read by other threads: gate__mode() */
	const struct gate_sink_ops *sink;
	void *sink_priv;
	const struct gate_source_ops *src;
	void *src_priv;
	/* For messages: the log's path, or "the primary runs". */
	const char *what;
	/* A live pair's replica (pvft promote asks only those). */
	bool replicated;
	bool went_live; /* REPLAY -> NONE at failover (read by control) */
	struct logfmt_header header;  /* REPLAY: the log's */
	struct logfmt_record horizon; /* "nothing at this exit" (peek) */

	/* RECORD */
	uint64_t digest_exits; /* a digest every this many exits; 0: off */
	uint64_t digest_ns;    /* ... or this much guest time; 0: off */
	uint64_t last_digest_exit, last_digest_coarse; /* host time */

	/* REPLAY */
	struct logfmt_record next; /* peeked, valid until consumed */
	bool have_next;
	bool log_ended;	   /* END consumed or the log broke */
	bool ended_by_log; /* its END says: ended from outside, here */
	bool host_failed;  /* a digest could not be taken */
	uint64_t digests_checked;
	uint64_t known_ns;	/* latest guest time the log has told */
	uint64_t stall_limit_s; /* read by the I/O thread (gate__stalled) */

	/* Both: the exit being handled, for positions and digests. */
	const struct vcpu_exit *exit;
	void *out_state; /* XXH3 state of the console output */
	uint64_t out_bytes;
	uint64_t records; /* written or replayed */

	uint32_t perturb_seed; /* PVFT_DEBUG_PERTURB: 0 off; set once */
	uint32_t perturb_vcpu; /* the vCPU thread's random state */
};

/*
 * Set up in @mode; RECORD with @sink, REPLAY with @src (and their priv).
 * REPLAY opens the source: *mem_size_r and @cmdline (MAX_GUEST_CMDLINE
 * bytes) get the recorded values. 0, or -errno after saying why.
 */
int gate__init(struct domain *d, enum gate_mode mode,
	       const struct gate_sink_ops *sink, void *sink_priv,
	       const struct gate_source_ops *src, void *src_priv,
	       uint64_t *mem_size_r, char *cmdline);
/* Replay: the recorded run cannot be served here (and why): say so. */
void gate__refuse(struct gate *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Once the image is loaded: RECORD opens the sink with the header and
 * BOOT record; REPLAY refuses a log made for another image, memory size,
 * ABI or CPUID table. Sets the unique-id nonce. 0, or -errno.
 */
int gate__boot(struct domain *d);
/* After the run: RECORD puts END and closes; REPLAY checks END. */
int gate__finish(struct domain *d);
void gate__dispose(struct gate *g);

/*
 * At an exit boundary: a new sink (NULL: mode NONE, nothing logged from
 * here on), as when a primary is left alone or a domain gets a backup.
 */
void gate__set_sink(struct domain *d, const struct gate_sink_ops *sink,
		    void *priv);
/*
 * The log's header and BOOT record for this domain as it is now (its
 * cmdline points into @d): what gate__boot opens a sink with, and what
 * a stream that starts later (a joining backup's) opens with.
 */
void gate__opening(struct domain *d, struct logfmt_header *h,
		   struct logfmt_record *boot);
/*
 * A replica restored from a move (hv/migrate.c): REPLAY from @src (open
 * already: its records go on where the moved one's stopped), at the exit
 * ordinal and clock the stream gave.
 */
void gate__resume(struct domain *d, const struct gate_source_ops *src,
		  void *priv);
/* A backup's source made it live: NONE from here, the clock goes on. */
void gate__went_live(struct domain *d);

/*
 * At every guest-caused exit, once d->exits counts it: takes or checks
 * the digest due here. gate__exit_done when the exit has been handled.
 */
void gate__exit(struct domain *d, const struct vcpu_exit *e);
void gate__exit_done(struct domain *d);
/*
 * After each pass of deliveries (an exit's, each round of a block): what
 * they logged and the output they wait on go out now (the sink's kick).
 */
void gate__kick(struct domain *d);
/* Before entering the guest: the sink's turn; does the log end here? */
void gate__before_run(struct domain *d);
/* A live source's word on this exit first (it may go live here). */
void gate__sync(struct domain *d);

/* ---- for the devices and values.c ---------------------------------- */

/* Where the guest is: the exit's rip and hypercall number. */
struct logfmt_pos gate__here(const struct domain *d);
/* RECORD: into the log at this exit ordinal (else nothing). */
void gate__put(struct domain *d, struct logfmt_record *rec);
/*
 * REPLAY: the record of @type this exit must take, or NULL (diverged or
 * ended: said). gate__consume() once it is taken.
 */
const struct logfmt_record *gate__expect(struct domain *d, uint16_t type);
/* REPLAY: the next record if it is at this exit ordinal, else NULL. */
const struct logfmt_record *gate__peek_here(struct domain *d);
void gate__consume(struct domain *d);
/* Is the record's position this exit's? If not: diverged, said. */
bool gate__at_pos(struct domain *d, const struct logfmt_record *rec,
		  const struct logfmt_pos *want);
/* REPLAY: guest time reached @ns (a timer's deadline). */
void gate__learn_time(struct gate *g, uint64_t ns);
void gate__diverged(struct domain *d, const struct logfmt_record *rec,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Could pvft-hv have ended a run with this END (a replay's exit status)? */
bool gate__end_plausible(const struct logfmt_end *e);
/* The log cannot be used (corrupt, truncated, unwritable): stop. */
void gate__bad_log(struct domain *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Console output, for the digests' output hash. True: the sink took the
 * bytes (a primary's, held under the output rule), the console must not
 * write them itself.
 */
bool gate__output(struct domain *d, const void *buf, uint64_t len);
/*
 * A network frame the guest sent: true when the gate took it (held under
 * the output rule by a primary's sink, or dropped in a replay: the
 * recorded run sent it); false: the device sends it out now.
 */
bool gate__frame(struct domain *d, const uint8_t *frame, size_t len);

/*
 * REPLAY's SCHEDOP_block never sleeps: the deliveries the log has at this
 * exit end it. When they did not: was the recording ended from outside
 * here (then so is the replay: true)? Else, unless the guest is dead for
 * lack of anything that could wake it (as it was when recorded), the
 * replay diverged: gate__replay_unwoken() says so.
 */
bool gate__replay_ended(struct domain *d);
void gate__replay_unwoken(struct domain *d);

/*
 * REPLAY: the guest made no exit for stall_limit_s seconds, so the record
 * the log has next will never come (a PV guest makes a hypercall every few
 * ms; DESIGN.md 2). The limit is GATE_STALL_S plus twice the guest time
 * the recording took to reach that record, when the log says (digests,
 * clock readings, timers). The I/O thread's watchdog asks for the stop;
 * the vCPU thread reports the divergence with gate__stalled().
 */
#define GATE_STALL_S 10
#define GATE_STALL_MAX_S 86400
void gate__stalled(struct domain *d);
/* REPLAY, between gate__init and gate__boot: the log's BOOT record. */
const struct logfmt_boot *gate__log_boot(const struct gate *g);
/*
 * vCPU thread, at an exit boundary (pvft promote): a primary hands the pair
 * over to its backup (the sink's handover). 0: done, the domain must end
 * and release nothing more; -1: not a paired primary, or the backup failed
 * first (it runs on). The outcome also goes to d->handover_done.
 */
int gate__handover(struct domain *d);

/* Test hook: random short sleeps in host threads (PVFT_DEBUG_PERTURB). */
void gate__perturb_host(struct gate *g, uint32_t *state);

static inline bool gate__replaying(const struct gate *g)
{
	return g->mode == GATE_REPLAY;
}

static inline bool gate__recording(const struct gate *g)
{
	return g->mode == GATE_RECORD;
}

/* Any thread. */
static inline enum gate_mode gate__mode(const struct gate *g)
{
	return __atomic_load_n(&g->mode, __ATOMIC_RELAXED);
}

#endif /* PVFT_HV_GATE_H */
