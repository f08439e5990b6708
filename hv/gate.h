/* SPDX-License-Identifier: MIT */
/*
 * The record/replay gate: every nondeterministic value reaches the guest
 * through here, in one of three modes (DESIGN.md 3.2):
 *   NONE    live values from the host, nothing logged;
 *   RECORD  live values, each logged with the exit ordinal it reached the
 *           guest at (and the guest rip and hypercall number, as a check);
 *   REPLAY  values from the log, nothing from the host.
 * What passes: PVFTOP_time results, PVFTOP_random bytes, the unique-id
 * nonce (BOOT), VIRQ_TIMER firings, console input (bytes and its end). A
 * wake-up from SCHEDOP_block is the delivery that ends it, at the block's
 * own exit ordinal.
 *
 * State digests (memory, registers, console output so far) are logged
 * every so many exits or so much guest time; a replay recomputes each one
 * where the log has it. The first difference of any kind stops a replay
 * with one line naming the record, the exit ordinal, what the log expected
 * and what the guest did (HV_EXIT_DIVERGED).
 *
 * vCPU thread only, except gate__perturb_host (any thread).
 */
#ifndef PVFT_HV_GATE_H
#define PVFT_HV_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "logfile.h"
#include "logfmt.h"

struct chan;
struct domain;
struct netback_frame;
struct vcpu_exit;

enum gate_mode {
	GATE_NONE,
	GATE_RECORD,
	GATE_REPLAY,
};

/* Digest interval in guest time, per 64 MiB of memory (hv/main.c). */
#define GATE_DEFAULT_DIGEST_MS 500

struct gate {
	enum gate_mode mode;
	const char *path; /* the log file; NULL for a live pair's stream */
	/*
	 * A live pair (logchan/chan.h): RECORD streams to the backup instead
	 * of a file, REPLAY takes records from the primary as they come.
	 */
	struct chan *chan;
	uint8_t *chan_buf;	      /* REPLAY: the record being replayed */
	struct logfmt_record horizon; /* "nothing at this exit" (peek) */
	int live_out_fd;	      /* REPLAY: console output once live */
	bool went_live;		      /* REPLAY -> NONE at failover */
	struct logfmt_header header;  /* REPLAY: the log's */

	/* RECORD */
	struct logfile_writer w;
	uint64_t record_limit; /* the log file's size limit (--record-limit) */
	bool writer_open;
	uint64_t digest_exits; /* a digest every this many exits; 0: off */
	uint64_t digest_ns;    /* ... or this much guest time; 0: off */
	uint64_t last_digest_exit, last_digest_coarse; /* host time */

	/* REPLAY */
	struct logfile_reader r;
	bool reader_open;
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

	struct netback_frame *frame_buf; /* live rx: NETBACK_BATCH frames */

	uint32_t perturb_seed; /* PVFT_DEBUG_PERTURB: 0 off; set once */
	uint32_t perturb_vcpu; /* the vCPU thread's random state */
};

/*
 * Before the domain is built. REPLAY: open @path, read its header and
 * BOOT record; *mem_size_r and @cmdline (MAX_GUEST_CMDLINE bytes) get the
 * recorded values. With @chan (a live pair; @path NULL): RECORD streams
 * to the backup from gate__boot on; REPLAY waits here for the primary
 * and takes its header and BOOT. 0, or an HV_EXIT_* status after saying
 * why.
 */
int gate__init(struct gate *g, enum gate_mode mode, const char *path,
	       struct chan *chan, uint64_t *mem_size_r, char *cmdline);
/* Backup: the primary's run cannot be served here (and why): tell it. */
void gate__refuse(struct gate *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Once the image is loaded: RECORD writes the header and BOOT record;
 * REPLAY refuses a log made for another image, memory size, ABI or CPUID
 * table. Sets the unique-id nonce. 0, or an HV_EXIT_* status.
 */
int gate__boot(struct domain *d);
/* After the run: RECORD writes END and closes; REPLAY checks END. */
int gate__finish(struct domain *d);
void gate__dispose(struct gate *g);

/*
 * At every guest-caused exit, once d->exits counts it: takes or checks
 * the digest due here. gate__exit_done when the exit has been handled.
 */
void gate__exit(struct domain *d, const struct vcpu_exit *e);
void gate__exit_done(struct domain *d);
/* REPLAY, before entering the guest: does the log end the run here? */
void gate__before_run(struct domain *d);

/* The nondeterministic values. 0 or -errno, as the hypercall returns. */
long gate__time(struct domain *d, uint32_t clock, int64_t *value_r);
long gate__random(struct domain *d, uint8_t *buf, uint32_t len);

/*
 * Deliver due inputs at this exit: the timer, console input. RECORD and
 * NONE take them live (RECORD logs them); REPLAY takes what the log has at
 * this exit ordinal.
 */
void gate__deliver(struct domain *d);
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

/*
 * Console output, for the digests' output hash. True: the gate took the
 * bytes (a primary's, held under the output rule), the console must not
 * write them itself.
 */
bool gate__output(struct domain *d, const void *buf, uint64_t len);
/*
 * A network frame the guest sent (netback, at an exit): out through the
 * host side (NONE, a recording to a file), held under the output rule (a
 * primary), or dropped (a replay: the recorded run sent it).
 */
void gate__net_output(struct domain *d, const uint8_t *frame, size_t len);
/* REPLAY, between gate__init and gate__boot: the log's BOOT record. */
const struct logfmt_boot *gate__log_boot(const struct gate *g);
/* The channel gave this replica's pair to the other: halt (any thread). */
void gate__fenced(void *domain);
/*
 * vCPU thread, at an exit boundary (pvft promote): a primary hands the pair
 * over to its backup (chan__handover). 0: done, the domain must end and
 * release nothing more; -1: not a paired primary, or the backup failed
 * first (it runs on). The outcome also goes to d->handover_done.
 */
int gate__handover(struct domain *d);

/* Test hook: random short sleeps in host threads (PVFT_DEBUG_PERTURB). */
void gate__perturb_host(struct gate *g, uint32_t *state);

static inline bool gate__replaying(const struct gate *g)
{
	return g->mode == GATE_REPLAY;
}

#endif /* PVFT_HV_GATE_H */
