/* SPDX-License-Identifier: MIT */
/*
 * Inside the log channel: what chan.c (lifecycle, the channel thread,
 * failure and the pair policy), primary.c and backup.c (each role's
 * pairing, stream and vCPU-thread calls) share. Nothing outside logchan/
 * includes it but the channel's unit test.
 *
 * Every field below is under the channel's lock (struct chan.lock) unless
 * it says otherwise.
 */
#ifndef PVFT_LOGCHAN_CHAN_INTERNAL_H
#define PVFT_LOGCHAN_CHAN_INTERNAL_H

#include <stdarg.h>

#include "chan.h"
#include "logfmt.h"

/* Unsent bytes the primary buffers before its vCPU waits. */
#define CHAN_TX_MAX (8u << 20)
/*
 * Bytes the primary keeps, sent or not, until the backup acknowledges
 * them (a moved backup's successor is sent them again) before its vCPU
 * waits: the unsent ones and what is in flight.
 */
#define CHAN_RETAIN_MAX (2 * CHAN_TX_MAX)
/* Records in flight (not yet replayed) before the vCPU waits. */
#define CHAN_SEQ_RING 65536u
/* Received records the backup holds before it stops reading. */
#define CHAN_QUEUE_MAX (16u << 20)
/* Held console output, and the backup's unreleased tail. */
#define CHAN_OUT_MAX (16u << 20)
#define CHAN_RX_CAP (LOGFMT_MAX_RECORD + 65536)
/* The primary waits this long for the backup's answer after its own wait. */
#define CHAN_HELLO_S 10
/* The whole opening of a connection (TLS, header, BOOT, HELLO) takes. */
#define CHAN_HANDSHAKE_MS 5000
/* How often a replica that cannot get an answer asks its policy again. */
#define CHAN_DECIDE_RETRY_MS 100

/* A held chunk of output: console bytes or a network frame. */
struct chan_out {
	struct chan_out *next;
	uint64_t tag;	  /* records with seq below this must be acked */
	uint64_t made_ns; /* when the guest wrote it */
	bool frame;	  /* a network frame, not console bytes */
	size_t len;
	uint8_t data[];
};

/* The primary's side: its log out, acks in, the output rule. */
struct chan_primary {
	pthread_cond_t w_cond; /* the writer thread waits here */
	bool out_wake; /* output waits: wake the thread (chan__kick; atomic) */
	uint64_t next_seq, last_ordinal;
	uint64_t peer_seq; /* the backup's next record */
	uint64_t progress; /* atomic: chan__progress() takes no lock */
	uint64_t progress_sent;
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
	uint64_t tx_total; /* stream bytes appended (the opening not) */
	uint64_t *seq_end; /* tx_total after seq % CHAN_SEQ_RING */
	uint64_t released, released_sent;
	bool end_sent, final_sent, shut_wr;
	uint64_t throttle_said; /* when the lag was last reported */
	uint64_t end_seq;
	bool handover_req;     /* chan__handover(): HANDOVER once all out */
	uint64_t handover_seq; /* ... and all records before this acked */
	/* The header and BOOT as first sent: a resumption sends them again. */
	uint8_t *opening;
	size_t opening_len;
	/*
	 * The backup moves (pair.md, "Moving the backup"): MOVE without an
	 * address (move_hold: it is frozen, its stalls do not count until
	 * move_deadline), then with one (CHAN_MOVING: dial move_addr until
	 * move_deadline, resend from move_seq).
	 */
	bool move_hold;
	bool joining; /* chan__join_open(): the first resumption is a join */
	uint64_t move_seq; /* the backup has every record below this */
	uint64_t move_deadline, move_next_try;
	char move_addr[LOGFMT_MOVE_ADDR_MAX + 1];
};

/* The backup's side: the primary's log in, acks out, the output tail. */
struct chan_backup {
	int listen_fd; /* until paired */
	/* q[q_off, q_len): records received, not yet replayed. */
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
	uint64_t tx_seq; /* its own stream's next record */
	/* Console output replayed past what the primary said it released. */
	uint8_t *tail;
	size_t tail_len, tail_cap;
	uint64_t tail_start; /* output byte offset of tail[0] */
	uint64_t out_total;  /* output bytes replayed */
	/* The primary's header and BOOT as it sent them (a move takes them). */
	uint8_t hdr[LOGFMT_HEADER_SIZE];
	uint8_t boot[LOGFMT_OPENING_BOOT_MAX];
	size_t boot_len;
	/*
	 * Moving this backup (chan__move_export): frozen, it takes nothing
	 * more from the link and its ACKs stand still; committing: its MOVE
	 * with the successor's address is queued, the link closes once it
	 * is out.
	 */
	bool frozen, committing;
	/*
	 * The link failed while frozen: not this replica's to act on now
	 * (the successor decides once committed; an abort asks the policy).
	 */
	bool link_failed;
	char link_why[160];
	/* A successor (chan__move_import): takes only the resuming primary. */
	bool resume;
};

static inline bool chan_is_primary(const struct chan *c)
{
	return c->cfg.role == LOGFMT_ROLE_PRIMARY;
}

/* ---- chan.c: for both roles ---- */

/* Lock held. Wakes the channel thread when it sleeps in poll(). */
void chan_wake(struct chan *c);
/* Lock held: waits on c->cond for up to @ms. */
void chan_timed_wait(struct chan *c, unsigned int ms);
/* A CLOCK_MONOTONIC deadline @ms from now, for the condition variables. */
void chan_deadline_after(struct timespec *ts, unsigned int ms);
/*
 * Pairing: asks the policy whether (pair, epoch) already has an owner.
 * 0: nobody; -EEXIST or -ETIMEDOUT (the policy said why).
 */
int chan_check_owner(struct chan *c, uint64_t deadline_ns);
/* The pair formed: the channel's threads start. 0 or -1 after saying why. */
int chan_start(struct chan *c);
/*
 * Lock held, the channel thread: the peer is gone or silent. Nothing more
 * is sent or taken from it; the policy is asked until it answers.
 */
void chan_peer_failed(struct chan *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Lock held: the stream ended as it should (step 4). */
void chan_closed(struct chan *c);
/* A HELLO of this replica, accepted (@refusal NULL) or refusing. */
void chan_hello(struct chan *c, struct logfmt_record *r, const char *refusal);
/* The peer's node id from its HELLO. */
void chan_copy_node(char *dst, const struct logfmt_hello *h);

/* ---- primary.c ---- */

int primary__init(struct chan *c);
void primary__dispose(struct chan *c);
/* Channel thread, paired: one round. Events to poll the link for, or -1. */
int primary__round(struct chan *c, uint64_t now);
/* Channel thread, alone: held output out without acks. */
void primary__round_alone(struct chan *c);
/* Channel thread: one record from the backup. false: take no more. */
bool primary__take(struct chan *c, const struct logfmt_record *r);
/* Channel thread, CHAN_MOVING: dial the moved backup. As primary__round. */
int primary__round_moving(struct chan *c, uint64_t now);
/* The writer thread (released console output to cfg.out). */
void *primary__writer(void *arg);
/* Lock held: the backup's lag, at @now. */
uint64_t primary__lag_ns(const struct chan *c, uint64_t now);

/* ---- backup.c ---- */

int backup__init(struct chan *c);
void backup__dispose(struct chan *c);
/* Channel thread, paired: one round. Events to poll the link for, or -1. */
int backup__round(struct chan *c, uint64_t now);
/* The queue is full: the channel thread reads no more for now. */
bool backup__queue_full(const struct chan *c);
/* Channel thread: one record from the primary (@n bytes at @raw). */
bool backup__take(struct chan *c, const uint8_t *raw, size_t n,
		  const struct logfmt_record *r);
/* Lock held: what the backup has replayed, as a seq count. */
uint64_t backup__replayed_count(const struct chan *c);

/*
 * The fields of a moved backup's blob (chan__move_export; a joining
 * backup's, chan__join_blob): backup__blob_encode() is the one writer.
 */
struct move_blob {
	const uint8_t *hdr; /* LOGFMT_HEADER_SIZE bytes */
	const uint8_t *boot;
	size_t boot_len;
	const char *node; /* the primary's */
	uint64_t next_seq, last_ordinal, peer_progress, peer_released;
	uint64_t acked_sent, replayed_sent;
	uint64_t out_total, tail_start;
	const uint8_t *tail, *q;
	size_t tail_len, q_len;
};
/* The blob into @buf; its length, or -ENOSPC. */
long backup__blob_encode(const struct move_blob *mb, uint8_t *buf, size_t cap);

#endif /* PVFT_LOGCHAN_CHAN_INTERNAL_H */
