/* SPDX-License-Identifier: MIT */
/*
 * The log channel of a live pair (DESIGN.md 3.3-3.5): the primary's log,
 * in the log format, streamed over TCP to the backup, which acknowledges
 * what it received and reports what it replayed.
 *
 * One thread per replica (the channel thread) owns the socket: it sends,
 * receives, keeps the heartbeats, detects a silent peer and then asks the
 * arbiter whether this replica may go on alone. The vCPU thread only
 * touches the buffers, under the lock:
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
 */
#ifndef PVFT_LOGCHAN_CHAN_H
#define PVFT_LOGCHAN_CHAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logfmt.h"

struct arbiter;
struct tls_conn;
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
	CHAN_ASKING, /* the peer fell silent: asking the arbiter */
	CHAN_ALONE,  /* the arbiter said yes: this replica runs alone */
	CHAN_FENCED, /* the arbiter gave the pair to the peer: halt */
	CHAN_CLOSED, /* the pair ended together (END, both sides) */
};

struct chan_config {
	enum logfmt_role role;
	const char *addr; /* primary: the backup's HOST:PORT; backup: listen */
	const char *node; /* this replica's node id */
	uint64_t pair, epoch;
	unsigned int heartbeat_ms, timeout_ms, max_lag_ms;
	unsigned int connect_s; /* primary: how long to try to pair */
	struct arbiter *arbiter;
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
	int out_fd; /* where released console output goes; -1: nowhere */
	/* Released network frames go here (the channel thread). */
	void (*frame_out)(void *opaque, const void *frame, size_t len);
	void (*frame_flush)(void *opaque); /* after each batch of frames */
	void *frame_opaque;
	/* Console output as it is released (after out_fd), or NULL. */
	void (*out_tee)(void *opaque, const void *buf, size_t len);
	/* Called on the channel thread when the replica must halt. */
	void (*fenced)(void *opaque);
	void *opaque;
};

/* What the backup's vCPU thread learns from chan__next(). */
enum chan_next {
	CHAN_NEXT_RECORD, /* the next record */
	CHAN_NEXT_NONE,	  /* the primary is past this exit: nothing at it */
	CHAN_NEXT_LIVE,	  /* all replayed, the arbiter said yes: go live */
	CHAN_NEXT_FENCED, /* the arbiter said no: halt */
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
	uint64_t decided_ns; /* when the arbiter answered */
	uint64_t stalled_ns; /* primary: the backup's position stood still */
	bool held;	     /* primary: the guest waits for the backup now */
	enum chan_state state;
};

struct chan_out; /* a held chunk of console output */

struct chan {
	struct chan_config cfg;
	int fd;		      /* the connection */
	struct tls_conn *tls; /* on fd: all its bytes go through it */
	int listen_fd;	      /* backup, until paired */
	int wake_fd;	      /* eventfd: wakes the channel thread */
	pthread_t thread;
	bool thread_started;
	char peer[LOGFMT_HELLO_NODE_MAX + 1];

	pthread_mutex_t lock;
	pthread_cond_t cond;   /* the vCPU thread waits here */
	pthread_cond_t w_cond; /* the writer thread waits here */
	bool out_wake;	       /* output waits: wake the thread (chan__kick) */
	enum chan_state state;
	bool stopping; /* chan__stop(): the thread ends */
	bool sleeping; /* the thread is in poll(): wake it */
	uint64_t last_rx_ns, last_tx_ns;

	/* Primary. tx[tx_off, tx_len) is yet to be sent. */
	uint8_t *tx;
	size_t tx_off, tx_len, tx_cap;
	uint64_t next_seq, last_ordinal;
	uint64_t progress, progress_sent;
	uint64_t acked, replayed; /* the backup's counts */
	/* When acked (replayed) last moved, or was owed nothing. */
	uint64_t ack_moved_ns, replay_moved_ns;
	bool throttling;  /* the vCPU waits in chan__throttle() */
	uint64_t *seq_ns; /* append time by seq % CHAN_SEQ_RING */
	struct chan_out *out_head, *out_tail; /* held: not yet acked */
	struct chan_out *w_head, *w_tail;     /* acked: for the writer */
	size_t out_bytes;		      /* held or being written */
	bool writing;			      /* the writer holds a chunk */
	struct chan_out *f_head, *f_tail;     /* acked frames: this thread's */
	bool sending;			      /* ... and it is sending them */
	pthread_t writer;
	bool writer_started;
	uint64_t tx_total, sent_total; /* stream bytes appended, sent */
	uint64_t *seq_end;	       /* tx_total after seq % CHAN_SEQ_RING */
	uint64_t released, released_sent;
	bool end_sent, final_sent, shut_wr;
	uint64_t throttle_said; /* when the lag was last reported */
	uint64_t end_seq;
	bool handover_req;     /* chan__handover(): HANDOVER once all out */
	uint64_t handover_seq; /* ... and all records before this acked */

	/* Backup. q[q_off, q_len): records received, not yet replayed. */
	uint8_t *rx;
	size_t rx_off, rx_len, rx_cap;
	uint8_t *q;
	size_t q_off, q_len, q_cap;
	struct logfmt_order order;
	uint64_t peer_progress; /* no records before this ordinal remain */
	uint64_t peer_released;
	bool got_end, peer_closed;
	bool handed_over;	/* the primary sent HANDOVER (pvft promote) */
	uint64_t end_out_bytes; /* END's console byte count */
	uint64_t end_rx_ns;	/* when END arrived */
	uint64_t acked_sent, replayed_sent;
	uint64_t tx_seq; /* the backup's own stream */
	/* Console output replayed past what the primary said it released. */
	uint8_t *tail;
	size_t tail_len, tail_cap;
	uint64_t tail_start; /* output byte offset of tail[0] */
	uint64_t out_total;  /* output bytes replayed */

	struct chan_stats stats;
};

/* Set up (nothing connects yet). 0 or -errno. */
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
 * (everything past its last RELEASED) to cfg.out_fd. Returns the bytes.
 */
uint64_t chan__emit_tail(struct chan *c);
/*
 * Backup, after its END: wait for the primary to close the stream (its
 * output is all out) or to fail (then ask the arbiter; emit the tail
 * when granted). 0, or -1 when fenced.
 */
int chan__finish_backup(struct chan *c);

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
