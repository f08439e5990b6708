/* SPDX-License-Identifier: MIT */
/*
 * The log channel of a live pair (DESIGN.md 3.3-3.5): the primary's log,
 * in the log format, streamed over TCP to the backup, which acknowledges
 * what it received and reports what it replayed.
 *
 * One thread per replica (the channel thread) owns the socket: it sends,
 * receives, keeps the heartbeats, detects a silent peer and then asks the
 * pair policy (struct chan_policy: pvft-hv's is the arbiter, hv/fence.c)
 * whether this replica may go on alone. The vCPU thread only touches the
 * buffers, under the lock:
 *
 *   primary  chan__append() each record (a bounded buffer: it waits for
 *            room), chan__progress() before entering the guest,
 *            chan__output() console bytes (released by the channel thread
 *            once the backup acknowledged every record before them: the
 *            output rule), chan__throttle() while the backup lags;
 *   backup   chan__next() the next record, waiting for it, or learning
 *            that the exit it is at has none, or that it is to go live.
 *
 * Streams (Documentation/log-format.md, "The live stream"):
 *   primary -> backup  the 128-byte header, BOOT (seq 0), HELLO (seq 1),
 *                      then records, PROGRESS and RELEASED among them;
 *   backup -> primary  HELLO (seq 0: accepted or refused, and why), then
 *                      ACK records.
 *
 * The files: chan.c the lifecycle, the channel thread and failure;
 * primary.c and backup.c each role's pairing, records and vCPU-thread
 * calls (their state: struct chan_primary, struct chan_backup in
 * chan-internal.h); stream.c the framing of records both ways;
 * transport.c the TCP link and its TLS or plaintext ops.
 */
#ifndef PVFT_LOGCHAN_CHAN_H
#define PVFT_LOGCHAN_CHAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consink.h"
#include "logfmt.h"
#include "stream.h"

struct chan_backup;
struct chan_primary;
struct tls_creds;

/* Defaults: Documentation/pair.md says why. */
#define CHAN_DEFAULT_HEARTBEAT_MS 10
#define CHAN_DEFAULT_TIMEOUT_MS 80
#define CHAN_DEFAULT_MAX_LAG_MS 50
#define CHAN_DEFAULT_CONNECT_S 30
/* What pvft-hv's options and pvft.cfg's ft_ keys accept. */
#define CHAN_HEARTBEAT_MS_MAX 10000
#define CHAN_TIMEOUT_MS_MAX 600000 /* and at least twice the heartbeat */
#define CHAN_MAX_LAG_MS_MAX 600000
#define CHAN_CONNECT_S_MAX 86400

enum chan_state {
	CHAN_IDLE,   /* not paired yet */
	CHAN_PAIRED, /* replicating */
	CHAN_ASKING, /* the peer fell silent: asking the policy */
	CHAN_ALONE,  /* the policy said yes: this replica runs alone */
	CHAN_FENCED, /* the policy gave the pair to the peer: halt */
	CHAN_CLOSED, /* the pair ended together (END, both sides) */
	/*
	 * The backup moves to another process or host (pair.md, "Moving the
	 * backup"): on the backup, frozen for its export; on the primary,
	 * reconnecting to the successor, output held.
	 */
	CHAN_MOVING,
};

/* What the pair policy answers when the peer failed (step 5). */
enum chan_verdict {
	CHAN_VERDICT_ALONE,  /* this node has the pair now: go on alone */
	CHAN_VERDICT_FENCED, /* the peer's node has it: halt */
	CHAN_VERDICT_RETRY,  /* no answer: never act alone; ask again */
};

/*
 * Who decides which replica of a pair goes on alone: the caller's (the
 * channel only asks). pvft-hv's asks the arbiter (hv/fence.c).
 */
struct chan_policy {
	/* For messages: what decides ("pvft://HOST:PORT"). */
	const char *(*name)(void *opaque);
	/*
	 * Pairing, on the pairing thread: does (@pair, @epoch) already have
	 * an owner (a stale replica)? 0 no; -EEXIST it has, -ETIMEDOUT no
	 * answer by @deadline_ns (clock__mono_ns): said why either way. NULL:
	 * nobody checks.
	 */
	int (*check_owner)(void *opaque, uint64_t pair, uint64_t epoch,
			   uint64_t deadline_ns);
	/*
	 * The peer fell silent, on the channel thread (without the lock):
	 * may @node go on alone with (@pair, @epoch)? Returns within a
	 * bounded time; RETRY is asked again CHAN_DECIDE_RETRY_MS later,
	 * for as long as it takes. @owner (@owner_len bytes) gets who has
	 * the pair when FENCED; @why what went wrong when RETRY.
	 */
	enum chan_verdict (*decide)(void *opaque, uint64_t pair, uint64_t epoch,
				    const char *node, char *owner,
				    size_t owner_len, char *why,
				    size_t why_len);
};

struct chan_config {
	enum logfmt_role role;
	const char *addr; /* primary: the backup's HOST:PORT; backup: listen */
	const char *node; /* this replica's node id */
	uint64_t pair, epoch;
	unsigned int heartbeat_ms, timeout_ms, max_lag_ms;
	unsigned int connect_s; /* primary: how long to try to pair */
	/* Required (chan__init refuses a config without ->decide). */
	const struct chan_policy *policy;
	void *policy_opaque;
	/*
	 * The link's credentials (lib/tls.h): this domain's PSK or x509.
	 * NULL only for an explicit --insecure (plaintext).
	 */
	struct tls_creds *creds;
	/*
	 * Backup: does the primary that proved the key run what this backup
	 * runs (image, memory, ABI, CPUID, command line, vif)? 0 yes, else
	 * the refusal in @why; the backup then waits for another primary.
	 */
	int (*check)(void *opaque, const struct logfmt_header *h,
		     const struct logfmt_record *boot, char *why,
		     size_t why_len);
	/*
	 * Where released console output goes (lib/consink.h: an fd, -1 for
	 * nowhere, and the viewers' tee), the same sink the console device
	 * writes to when nothing holds its output.
	 */
	struct console_sink out;
	/* Released network frames go here (the channel thread). */
	void (*frame_out)(void *opaque, const void *frame, size_t len);
	void (*frame_flush)(void *opaque); /* after each batch of frames */
	void *frame_opaque;
	/* Called on the channel thread when the replica must halt. */
	void (*fenced)(void *opaque);
	void *opaque;
};

/* What the backup's vCPU thread learns from chan__next(). */
enum chan_next {
	CHAN_NEXT_RECORD, /* the next record */
	CHAN_NEXT_NONE,	  /* the primary is past this exit: nothing at it */
	CHAN_NEXT_LIVE,	  /* all replayed, the policy said yes: go live */
	CHAN_NEXT_FENCED, /* the policy said no: halt */
	CHAN_NEXT_WAIT,	  /* nothing yet (a bounded wait passed): ask again */
};

struct chan_stats {
	uint64_t records, bytes; /* sent (primary) or received (backup) */
	uint64_t acked, replayed;
	uint64_t lag_ns, max_lag_ns; /* oldest record not yet replayed */
	uint64_t throttled_ns;	     /* primary: time kept out of the guest */
	uint64_t released_bytes;     /* console bytes let out */
	uint64_t released_frames;    /* network frames let out */
	uint64_t held_ns_total, held_count; /* output: produced -> released */
	uint64_t paired_ns;  /* when the pair formed (monotonic) */
	uint64_t silent_ns;  /* when the peer was last heard, at failure */
	uint64_t decided_ns; /* when the policy answered */
	uint64_t stalled_ns; /* primary: the backup's position stood still */
	bool held;	     /* primary: the guest waits for the backup now */
	enum chan_state state;
};

/*
 * A replica's channel. pvft-hv reads cfg, peer (under the lock) and the
 * stats through the calls below; the rest is the channel's.
 */
struct chan {
	struct chan_config cfg;
	struct stream stream; /* the link to the peer, and its buffers */
	int wake_fd;	      /* eventfd: wakes the channel thread */
	pthread_t thread;
	bool thread_started;
	char peer[LOGFMT_HELLO_NODE_MAX + 1];

	pthread_mutex_t lock;
	pthread_cond_t cond; /* the vCPU thread waits here */
	enum chan_state state;
	bool stopping; /* chan__dispose(): the threads end */
	bool sleeping; /* the thread is in poll(): wake it */

	/* The role's own state: one of the two, by cfg.role. */
	struct chan_primary *pri;
	struct chan_backup *bak;

	struct chan_stats stats;
};

/* Set up (nothing connects yet). 0, or -EINVAL (no policy), -errno. */
int chan__init(struct chan *c, const struct chan_config *cfg);
/* Stop the thread, close everything, free. */
void chan__dispose(struct chan *c);

/*
 * Primary: connect to the backup (retrying for cfg.connect_s), send the
 * header, BOOT and HELLO, and wait for the backup's answer; then start
 * the channel thread. 0, or -1 after saying why (unreachable, refused and
 * why, a bad answer).
 */
int chan__connect(struct chan *c, const struct logfmt_header *h,
		  struct logfmt_record *boot);
/*
 * Backup: listen and take the primary's header, BOOT and HELLO (copied:
 * @boot's cmdline points into @c). A connection that is not a pvft
 * primary of this pair (bad bytes, another pair id or epoch) is refused
 * and the next one awaited. 0, or -1 after saying why (cannot listen, a
 * stop signal).
 */
int chan__accept(struct chan *c, struct logfmt_header *h_r,
		 struct logfmt_record *boot_r);
/* Backup: accept the pair (@refusal NULL: and start the thread) or not. */
int chan__answer(struct chan *c, const char *refusal);

/* Primary, vCPU thread. */
/* Assigns @rec's seq. Waits for room while paired. 0, or -1: fenced. */
int chan__append(struct chan *c, struct logfmt_record *rec);
/* Every record of the exits before @ordinal is appended. */
void chan__progress(struct chan *c, uint64_t ordinal);
/* Console output: held under the output rule, released in order. */
void chan__output(struct chan *c, const void *buf, size_t len);
/*
 * A network frame: held the same way and, once released, handed to
 * cfg.frame_out by the channel thread (cfg.frame_flush after each batch). A
 * backup keeps no frames: those the primary had not released when it failed are
 * lost, as on any network (Documentation/net.md).
 */
void chan__output_frame(struct chan *c, const void *frame, size_t len);
/*
 * At the end of each exit: output made during it waits on acks, so the
 * channel thread sends its records now (one wake-up for the exit).
 */
void chan__kick(struct chan *c);
/*
 * Before each entry into the guest. While the backup lags more than
 * max_lag_ms: waits up to @wait_ms and returns true (call again, after
 * checking for a stop); false: go on. *@state_r: the state it saw.
 */
bool chan__throttle(struct chan *c, unsigned int wait_ms,
		    enum chan_state *state_r);
/*
 * After END: wait until the backup has every record and all output is
 * released (or this replica was left alone, or fenced) and the stream is
 * closed. 0, or -1 when fenced. Waits as long as that takes: a replica
 * that cannot reach the arbiter does not act alone, also at the end.
 */
int chan__finish(struct chan *c);

/*
 * Primary, vCPU thread, with the guest stopped at an exit (pvft promote):
 * wait until the backup has every record appended so far and all their
 * output is released, then send HANDOVER (the backup takes over at once,
 * without waiting for a timeout) and close the stream. 0: handed over,
 * this replica must release nothing more and end; -1: not paired, or the
 * backup failed first (the state says how it went: alone, fenced).
 */
int chan__handover(struct chan *c);
/* Backup, vCPU thread. */
/*
 * The next record for exit ordinal @exits, copied to @buf (@cap >=
 * LOGFMT_MAX_RECORD) and decoded into @rec. Waits up to @wait_ms.
 */
enum chan_next chan__next(struct chan *c, uint64_t exits, uint8_t *buf,
			  size_t cap, struct logfmt_record *rec,
			  unsigned int wait_ms);
/* Console output of the replay (kept for going live). */
void chan__replayed_output(struct chan *c, const void *buf, size_t len);
/*
 * Going live: write the replayed output the primary may not have let out
 * (everything past its last RELEASED) to cfg.out. Returns the bytes.
 */
uint64_t chan__emit_tail(struct chan *c);
/*
 * Backup, after its END: wait for the primary to close the stream (its
 * output is all out) or to fail (then ask the arbiter; emit the tail
 * when granted). 0, or -1 when fenced.
 */
int chan__finish_backup(struct chan *c);

/*
 * Moving a pair's backup to another process or host, the channel's part
 * (Documentation/pair.md, "Moving the backup"; hv/migrate.c moves the
 * domain). On the old backup, at its cut (the vCPU thread, stopped at an
 * exit boundary, the channel paired):
 */
/* Every blob chan__move_export() writes fits in this many bytes. */
#define CHAN_MOVE_MAX (34u << 20)
/*
 * Freeze the channel (state CHAN_MOVING: the channel thread takes no more
 * records from the link, its ACKs stand still; the primary is told a move
 * is under way) and write into @buf the versioned blob of what this
 * backup holds for its successor: the records received and not yet
 * replayed, the next seq it expects (R: every record below it received),
 * the primary's progress and released counts, the order, the replayed
 * output's tail, the header, BOOT and the primary's node id. Called again
 * while frozen, it writes the same. The blob's length, or -ENOSPC (@cap
 * too small: still frozen; CHAN_MOVE_MAX always does), -EINVAL (not a
 * paired backup), -EBUSY (the pair is at its END or handed over),
 * -EAGAIN (no room in the stream now: not frozen).
 */
long chan__move_export(struct chan *c, void *buf, size_t cap);
/*
 * After the successor took the blob (chan__move_import) and listens at
 * @new_addr (HOST:PORT, at most LOGFMT_MOVE_ADDR_MAX bytes): tell the
 * primary (MOVE: R and @new_addr), flush, close, without asking the
 * policy. 0: moved (state CHAN_CLOSED; this replica's part is over, it
 * must release and replay nothing more); -EINVAL (not frozen, a bad
 * address); -EIO: MOVE did not get out within CHAN_HANDSHAKE_MS, or the
 * link failed first (then the channel asks the policy as on any failure;
 * the successor, never resumed, asks it too: one of the two gets the
 * pair).
 */
int chan__move_commit(struct chan *c, const char *new_addr);
/*
 * The move failed before its commit: unfreeze; this replica goes on as
 * the backup from where it stopped (what it did not take is still in its
 * buffers and socket, and the primary kept it).
 */
void chan__move_abort(struct chan *c);
/*
 * On the successor, a backup channel after chan__init() and before any
 * accept: take the blob (@len bytes). Every field is checked (lengths,
 * version, CRC, the header against this backup's pair and epoch, BOOT,
 * every queued record's framing and order); a bad one is -EINVAL, after
 * saying which field. 0, or -ENOMEM.
 */
int chan__move_import(struct chan *c, const void *buf, size_t len);
/*
 * On the successor, after chan__move_import(): listen on cfg.addr for the
 * primary resuming the imported stream (the same header and BOOT, node,
 * RESUME at R); every other connection is refused as chan__accept()
 * refuses, and the wait goes on, for up to cfg.connect_s. Then, paired,
 * the channel runs as a backup's: chan__next() returns the imported
 * records first, then the resent and new ones. 0 resumed; 1 the primary
 * never came: the policy was asked as for a failed primary (the state
 * says ALONE or FENCED; chan__next() gives the imported records, then
 * LIVE or FENCED); -1 after saying why (cannot listen).
 */
int chan__accept_resume(struct chan *c);
/*
 * Backup: listen on cfg.addr now (a joining backup, before it answers its
 * primary's checkpoint: the primary dials at once), so that a connection
 * waits in the backlog until chan__accept_resume(). 0 or -errno (then
 * the accept says why).
 */
int chan__listen(struct chan *c);

/*
 * A backup joining a running primary (pair.md, "Re-protection"). On a
 * primary channel after chan__init() (cfg.addr: where the joining backup
 * listens; cfg.epoch: the new epoch), on the vCPU thread at the cut:
 * chan__join_open() takes the stream's header and BOOT and the exit
 * ordinal the stream starts past (@progress: every record of the exits
 * before it is in the checkpoint), chan__join_blob() writes the state the
 * joining backup starts its channel from (a moved backup's blob, taken
 * by chan__move_import(): every record below 2, none queued), and, once
 * the backup holds the checkpoint, chan__join_go() starts the channel
 * thread, which dials it and resumes the stream at record 2 as for a
 * moved backup (state CHAN_MOVING, then CHAN_PAIRED). Records appended
 * meanwhile wait; output waits on their acks. A backup that never takes
 * the pair within the move's grace is a failed backup: the policy is
 * asked. 0 or -EINVAL (not a fresh primary channel), -EIO.
 */
int chan__join_open(struct chan *c, const struct logfmt_header *h,
		    struct logfmt_record *boot, uint64_t progress);
long chan__join_blob(struct chan *c, void *buf, size_t cap);
int chan__join_go(struct chan *c);
/* Primary: a joining backup has not taken the pair yet. */
bool chan__joining(struct chan *c);

enum chan_state chan__state(struct chan *c);
/* The peer's node id ("" until paired) into @buf (any thread). */
void chan__peer(struct chan *c, char *buf, size_t len);
/* Primary: the guest waits for the backup now (lag, or a full buffer). */
bool chan__held(struct chan *c);
/* Primary: it sent HANDOVER; backup: it received one (pvft promote). */
bool chan__handed_over(struct chan *c);
void chan__get_stats(struct chan *c, struct chan_stats *s);
const char *chan__state_name(enum chan_state s);

#endif /* PVFT_LOGCHAN_CHAN_H */
