// SPDX-License-Identifier: MIT
/*
 * The log channel's primary side (chan.h; the protocol's steps are at the
 * top of chan.c): pairing with the backup (chan__connect), the records
 * its vCPU thread appends, the acks that come back, the output rule (held
 * output released once every record before it is acknowledged) and the
 * writer thread that lets released console bytes out.
 *
 * Threads: the vCPU thread calls chan__append/progress/output/kick/
 * throttle/finish/handover; the channel thread (chan.c) calls the
 * primary__ functions; the writer thread runs primary__writer(). All
 * under the channel's lock, but chan__progress (an atomic).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan-internal.h"
#include "consink.h"
#include "clock.h"
#include "io.h"
#include "log.h"
#include "transport.h"

int primary__init(struct chan *c)
{
	struct chan_primary *p = calloc(1, sizeof(*p));
	pthread_condattr_t a;

	if (!p)
		return -ENOMEM;
	c->pri = p;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&p->w_cond, &a);
	pthread_condattr_destroy(&a);
	p->seq_ns = calloc(CHAN_SEQ_RING, sizeof(*p->seq_ns));
	p->seq_end = calloc(CHAN_SEQ_RING, sizeof(*p->seq_end));
	p->opening = malloc(LOGFMT_OPENING_MAX);
	return p->seq_ns && p->seq_end && p->opening ? 0 : -ENOMEM;
}

static void free_list(struct chan_out *o)
{
	struct chan_out *next;

	for (; o; o = next) {
		next = o->next;
		free(o);
	}
}

/* After the channel thread ended (c->stopping is set). */
void primary__dispose(struct chan *c)
{
	struct chan_primary *p = c->pri;

	if (p->writer_started)
		pthread_join(p->writer, NULL);
	free_list(p->out_head);
	free_list(p->w_head);
	free_list(p->f_head);
	free(p->seq_ns);
	free(p->seq_end);
	free(p->opening);
	pthread_cond_destroy(&p->w_cond);
	free(p);
	c->pri = NULL;
}

/* ---- pairing ----------------------------------------------------------------
 */

/* A connected socket to @addr, or -1; retries until @deadline. */
static int connect_until(const char *addr, uint64_t deadline)
{
	bool said = false;

	for (;;) {
		int fd = transport__dial(addr);

		if (fd >= 0)
			return fd;
		if (clock__mono_ns() >= deadline)
			return -1;
		if (!said)
			pr_info("waiting for the backup at %s (%s)", addr,
				strerror(-fd));
		said = true;
		usleep(50000);
	}
}

/*
 * The backup's handshake, on a fresh connection @fd: 0, 1 to try another
 * connection (the backup was busy or went away before answering), -1
 * when it cannot be this pair's backup (it failed to prove the key).
 */
static int secure_connect(struct chan *c, int fd, uint64_t deadline)
{
	char why[256];
	int rc;

	if (transport__open(&c->stream.t, c->cfg.creds, fd))
		return pr_err("log channel: out of memory"), -1;
	rc =
	    transport__handshake_until(c->stream.t, deadline, why, sizeof(why));
	if (!rc)
		return 0;
	if (rc == -EACCES) {
		pr_err("the peer at %s is not this pair's backup: %s",
		       c->cfg.addr, why);
		return -1;
	}
	pr_info("backup at %s: %s; connecting again", c->cfg.addr, why);
	stream__close(&c->stream);
	return 1;
}

int chan__connect(struct chan *c, const struct logfmt_header *h,
		  struct logfmt_record *boot)
{
	struct chan_primary *p = c->pri;
	struct stream *s = &c->stream;
	uint8_t hdr[LOGFMT_HEADER_SIZE];
	struct logfmt_record hello, ans;
	struct logfmt_error why;
	uint64_t deadline =
	    clock__mono_ns() + (uint64_t)c->cfg.connect_s * 1000000000ull;
	uint64_t hs_ns = 0;
	int rc;

	if (chan_check_owner(c, deadline))
		return -1;
	do {
		int fd = connect_until(c->cfg.addr, deadline);

		if (fd < 0) {
			pr_err("cannot reach the backup at %s within %u s: "
			       "not starting an unprotected domain",
			       c->cfg.addr, c->cfg.connect_s);
			return -1;
		}
		hs_ns = clock__mono_ns();
		/* The handshake gets its own time, past a late connect. */
		rc = secure_connect(
		    c, fd, clock__mono_ns() + CHAN_HANDSHAKE_MS * 1000000ull);
		if (rc > 0 && clock__mono_ns() < deadline)
			usleep(50000);
	} while (rc > 0 && clock__mono_ns() < deadline);
	if (rc) {
		if (rc > 0)
			pr_err("no handshake with the backup at %s within "
			       "%u s: not starting an unprotected domain",
			       c->cfg.addr, c->cfg.connect_s);
		return -1;
	}
	hs_ns = clock__mono_ns() - hs_ns;
	/* Step 1: header, BOOT, HELLO, in one write, once authenticated. */
	logfmt__encode_header(h, hdr);
	memcpy(s->tx, hdr, sizeof(hdr));
	s->tx_keep = s->tx_off = 0;
	s->tx_len = sizeof(hdr);
	boot->seq = 0;
	boot->ordinal = 0;
	if (stream__put(s, boot, 0) < 0 || s->tx_len > LOGFMT_OPENING_MAX)
		return pr_err("log channel: cannot encode BOOT"), -1;
	/* A moved backup's successor is sent them again (RESUME). */
	memcpy(p->opening, s->tx, s->tx_len);
	p->opening_len = s->tx_len;
	chan_hello(c, &hello, NULL);
	hello.seq = 1;
	if (stream__put(s, &hello, 0) < 0)
		return pr_err("log channel: cannot encode HELLO"), -1;
	p->next_seq = 2;
	c->stats.records = 2;
	c->stats.bytes = s->tx_len;
	rc = stream__send_queued(s, clock__mono_ns() +
					CHAN_HANDSHAKE_MS * 1000000ull);
	if (rc) {
		pr_err("log channel: cannot send to the backup at %s: %s",
		       c->cfg.addr, strerror(-rc));
		return -1;
	}
	/* Step 2: its answer. It builds its domain first: give it time. */
	if (stream__read_record(
		s, &ans, deadline + CHAN_HELLO_S * 1000000000ull, &why)) {
		pr_err("the backup at %s did not answer: %s", c->cfg.addr,
		       why.msg);
		return -1;
	}
	if (ans.type != LOGFMT_HELLO || ans.seq != 0 ||
	    ans.u.hello.role != LOGFMT_ROLE_BACKUP) {
		pr_err("the peer at %s is not a pvft backup (it answered %s "
		       "record %" PRIu64 ")",
		       c->cfg.addr, logfmt__type_name(ans.type), ans.seq);
		return -1;
	}
	chan_copy_node(c->peer, &ans.u.hello);
	if (!ans.u.hello.refused && !strcmp(c->peer, c->cfg.node)) {
		pr_err(
		    "backup at %s has this replica's node id %s: the arbiter "
		    "could not tell the two apart",
		    c->cfg.addr, c->peer);
		return -1;
	}
	if (ans.u.hello.refused) {
		pr_err("backup %s at %s refused the pair: %.*s", c->peer,
		       c->cfg.addr, (int)ans.u.hello.reason_len,
		       ans.u.hello.reason ? ans.u.hello.reason : "");
		return -1;
	}
	p->peer_seq = 1; /* the backup's next record */
	/* The handshake's two records are in: no lag from them. */
	p->acked = p->replayed = p->next_seq;
	/* From here on what is sent stays until acked. */
	stream__keep(s);
	pr_info("paired with backup %s at %s: pair %" PRIu64 " epoch %" PRIu64
		" (%s, handshake %.2f ms)",
		c->peer, c->cfg.addr, c->cfg.pair, c->cfg.epoch,
		transport__secure(s->t) ? "TLS 1.3" : "plaintext: --insecure",
		hs_ns / 1e6);
	return chan_start(c);
}

/* ---- the stream, channel thread ---------------------------------------------
 */

/* Lock held: a record of the primary's log into tx, with the next seq. */
static long put_record(struct chan *c, struct logfmt_record *r, size_t need)
{
	struct chan_primary *p = c->pri;
	long n;

	r->seq = p->next_seq;
	n = stream__put(&c->stream, r, need);
	if (n > 0) {
		p->tx_total += (uint64_t)n;
		p->seq_ns[p->next_seq % CHAN_SEQ_RING] = clock__mono_ns();
		p->seq_end[p->next_seq % CHAN_SEQ_RING] = p->tx_total;
		p->next_seq++;
	}
	return n;
}

/*
 * Where record @seq starts in the stream after the opening (tx_total's
 * count). Records 0 and 1 are the opening's; @seq is one the ring still
 * holds (within CHAN_SEQ_RING of next_seq: the vCPU waits before that).
 */
static uint64_t seq_pos(const struct chan_primary *p, uint64_t seq)
{
	return seq <= 2 ? 0 : p->seq_end[(seq - 1) % CHAN_SEQ_RING];
}

/* Lock held: where the bytes tx keeps start, in the same count. */
static uint64_t kept_pos(const struct chan *c)
{
	return c->pri->tx_total - stream__kept(&c->stream);
}

/*
 * Lock held: the backup has every record below @acked: their bytes need
 * no keeping (no successor of it will ask for them).
 */
static void trim_kept(struct chan *c, uint64_t acked)
{
	uint64_t from = kept_pos(c), to = seq_pos(c->pri, acked);

	if (to > from)
		stream__trim(&c->stream, (size_t)(to - from));
}

/*
 * Lock held: append a record the thread makes itself (PROGRESS, RELEASED,
 * HANDOVER). It takes the next seq of the log.
 */
static bool put_control(struct chan *c, struct logfmt_record *r,
			uint64_t ordinal)
{
	struct stream *s = &c->stream;
	struct chan_primary *p = c->pri;

	/*
	 * The sequence ring holds every record not yet replayed: a control
	 * record waits for room as the vCPU's do (chan__append), else a
	 * backup that stands still (frozen for a move, for seconds) would
	 * have heartbeats overwrite the oldest records' positions.
	 */
	if (p->next_seq - p->replayed >= CHAN_SEQ_RING - 1)
		return false;
	stream__tx_reset_if_empty(s);
	r->ordinal = ordinal;
	/* No room: the next round. */
	return put_record(c, r, LOGFMT_MAX_RECORD) >= 0;
}

uint64_t primary__lag_ns(const struct chan *c, uint64_t now)
{
	const struct chan_primary *p = c->pri;
	uint64_t t;

	if (p->replayed >= p->next_seq)
		return 0;
	t = p->seq_ns[p->replayed % CHAN_SEQ_RING];
	return now > t ? now - t : 0;
}

/*
 * Lock held: the output the acks allow goes, in order: console bytes to
 * the writer thread (a slow stdout must not keep this thread from the
 * socket), frames to this thread's own list (send_frames: sockets and
 * taps do not block, and one thread hop less is ~10 us a batch here).
 */
static void release_output(struct chan *c)
{
	struct chan_primary *p = c->pri;
	uint64_t now = clock__mono_ns();
	bool any = false;

	while (p->out_head &&
	       (c->state == CHAN_ALONE || p->out_head->tag <= p->acked)) {
		struct chan_out *o = p->out_head, **head, **tail;

		p->out_head = o->next;
		if (!p->out_head)
			p->out_tail = NULL;
		o->next = NULL;
		head = o->frame ? &p->f_head : &p->w_head;
		tail = o->frame ? &p->f_tail : &p->w_tail;
		if (!o->frame)
			pthread_cond_signal(&p->w_cond);
		if (*tail)
			(*tail)->next = o;
		else
			*head = o;
		*tail = o;
		c->stats.held_ns_total += now - o->made_ns;
		c->stats.held_count++;
		any = true;
	}
	if (any)
		pthread_cond_broadcast(&c->cond);
}

/* Is all output out (none held, none left to write)? Lock held. */
static bool output_done(const struct chan *c)
{
	const struct chan_primary *p = c->pri;

	return !p->out_head && !p->w_head && !p->writing && !p->f_head &&
	       !p->sending;
}

/* One released chunk out: a frame to its sink, console bytes to cfg.out. */
static void write_chunk(struct chan *c, const struct chan_out *o)
{
	int rc;

	if (o->frame) {
		if (c->cfg.frame_out)
			c->cfg.frame_out(c->cfg.frame_opaque, o->data, o->len);
		return;
	}
	rc = consink__write(&c->cfg.out, o->data, o->len, NULL);
	if (rc)
		pr_warn("console output lost: %s", strerror(-rc));
}

/*
 * Channel thread, lock held, while this replica may let output out: the
 * released frames, in one batch (frame_flush: one system call).
 */
static void send_frames(struct chan *c)
{
	struct chan_primary *p = c->pri;
	struct chan_out *list = p->f_head, *o, *next;

	if (!list)
		return;
	p->f_head = p->f_tail = NULL;
	p->sending = true;
	pthread_mutex_unlock(&c->lock);
	for (o = list; o; o = o->next)
		write_chunk(c, o);
	if (c->cfg.frame_flush)
		c->cfg.frame_flush(c->cfg.frame_opaque);
	pthread_mutex_lock(&c->lock);
	p->sending = false;
	for (o = list; o; o = next) {
		next = o->next;
		p->out_bytes -= o->len;
		c->stats.released_frames++;
		free(o);
	}
	pthread_cond_broadcast(&c->cond);
}

/*
 * The writer: released output to cfg.out. It writes only while this
 * replica may: paired and hearing its peer (a replica stopped past the
 * timeout writes nothing before the channel thread has asked the policy),
 * or alone. A fenced replica's writer drops what it has.
 */
void *primary__writer(void *arg)
{
	struct chan *c = arg;
	struct chan_primary *p = c->pri;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping && c->state != CHAN_FENCED) {
		struct chan_out *list = p->w_head, *o, *next;
		bool may = c->state == CHAN_ALONE || c->state == CHAN_CLOSED ||
			   (c->state == CHAN_PAIRED &&
			    clock__mono_ns() - c->stream.last_rx_ns <=
				c->cfg.timeout_ms * 1000000ull);
		bool console = false;
		struct timespec ts;

		/* Its own condition: the vCPU's wake-ups are not its. */
		if (!list || !may) {
			chan_deadline_after(&ts, list ? 5 : 100);
			pthread_cond_timedwait(&p->w_cond, &c->lock, &ts);
			continue;
		}
		/* All that is released, in one go: one lock round trip. */
		p->w_head = p->w_tail = NULL;
		p->writing = true;
		pthread_mutex_unlock(&c->lock);
		/* Console bytes only: frames are send_frames()'s. */
		for (o = list; o; o = o->next)
			write_chunk(c, o);
		pthread_mutex_lock(&c->lock);
		p->writing = false;
		for (o = list; o; o = next) {
			next = o->next;
			p->out_bytes -= o->len;
			/* Only bytes really out count as released (RELEASED).
			 */
			if (o->frame) {
				c->stats.released_frames++;
			} else {
				p->released += o->len;
				c->stats.released_bytes = p->released;
				console = true;
			}
			free(o);
		}
		/* RELEASED is about console bytes (and the end waits for all).
		 */
		if (console || p->end_sent)
			chan_wake(c);
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void on_ack(struct chan *c, const struct logfmt_record *r)
{
	struct chan_primary *p = c->pri;
	const struct logfmt_ack *a = &r->u.ack;
	uint64_t now = clock__mono_ns(), lag;

	/* Records still in tx cannot have arrived: a lying backup. */
	if (a->received > p->next_seq ||
	    (a->received > p->acked &&
	     p->seq_end[(a->received - 1) % CHAN_SEQ_RING] >
		 c->stream.sent_total)) {
		chan_peer_failed(c,
				 "acknowledged %" PRIu64
				 " records, more than were sent: a broken "
				 "backup",
				 a->received);
		return;
	}
	if (a->received > p->acked)
		p->ack_moved_ns = now;
	if (a->replayed > p->replayed)
		p->replay_moved_ns = now;
	if (a->received > p->acked) {
		p->acked = a->received;
		trim_kept(c, p->acked);
	}
	if (a->replayed > p->replayed)
		p->replayed = a->replayed;
	/* Records taken past its MOVE: it stayed, its stalls count. */
	if (p->move_hold && a->received > p->move_seq)
		p->move_hold = false;
	lag = primary__lag_ns(c, now);
	c->stats.lag_ns = lag;
	if (lag > c->stats.max_lag_ns)
		c->stats.max_lag_ns = lag;
	pthread_cond_broadcast(&c->cond);
}

/* How long a moving backup is waited for: its freeze, then its successor. */
static uint64_t move_grace_ns(const struct chan *c)
{
	uint64_t ns = 10ull * c->cfg.timeout_ms * 1000000ull;

	return ns > 2000000000ull ? ns : 2000000000ull;
}

/*
 * The backup moves (pair.md, "Moving the backup"). Without an address: it
 * froze at its cut and is being copied; it keeps sending ACKs (standing
 * still), and its stalls do not count until the grace ends. With one: it
 * handed its records, every one below @received, to a successor at the
 * address and closed: this link is over; the channel thread dials the
 * successor (primary__round_moving) and resends from @received on.
 */
static bool on_move(struct chan *c, const struct logfmt_record *r)
{
	struct chan_primary *p = c->pri;
	const struct logfmt_move *m = &r->u.move;
	uint64_t now = clock__mono_ns();

	/* It cannot hold less than it acked, nor what is still in tx. */
	if (m->received < p->acked || m->received > p->next_seq ||
	    seq_pos(p, m->received) > c->stream.sent_total ||
	    (p->move_hold && m->received != p->move_seq)) {
		chan_peer_failed(c,
				 "moved holding %" PRIu64
				 " records (acknowledged %" PRIu64
				 ", sent fewer than %" PRIu64 "): a broken "
				 "backup",
				 m->received, p->acked, p->next_seq);
		return false;
	}
	if (!m->addr_len) {
		if (!p->move_hold)
			pr_info("backup %s is moving; it holds the records "
				"below %" PRIu64,
				c->peer, m->received);
		p->move_hold = true;
		p->move_seq = m->received;
		p->move_deadline = now + move_grace_ns(c);
		return true;
	}
	memcpy(p->move_addr, m->addr, m->addr_len);
	p->move_addr[m->addr_len] = '\0';
	p->move_seq = m->received;
	p->move_hold = false;
	p->move_deadline = now + move_grace_ns(c);
	p->move_next_try = 0;
	/* What is left of the old link goes with it. */
	stream__close(&c->stream);
	c->stream.rx_off = c->stream.rx_len = 0;
	c->state = CHAN_MOVING;
	c->stats.state = c->state;
	pr_info("backup %s moved to %s holding the records below %" PRIu64
		": reconnecting there, output held meanwhile",
		c->peer, p->move_addr, p->move_seq);
	pthread_cond_broadcast(&c->cond);
	return false;
}

bool primary__take(struct chan *c, const struct logfmt_record *r)
{
	struct chan_primary *p = c->pri;

	if (r->seq != p->peer_seq) {
		chan_peer_failed(c, "its record %" PRIu64 " came as %" PRIu64,
				 p->peer_seq, r->seq);
		return false;
	}
	p->peer_seq++;
	if (r->type == LOGFMT_MOVE)
		return on_move(c, r);
	if (r->type == LOGFMT_ACK) {
		on_ack(c, r);
		if (c->state != CHAN_PAIRED)
			return false;
	} else if (!(r->type & LOGFMT_TYPE_OPTIONAL) ||
		   r->type == LOGFMT_HELLO) {
		chan_peer_failed(c, "the backup sent a %s record",
				 logfmt__type_name(r->type));
		return false;
	}
	return true;
}

/* Lock held: the records the thread itself sends this round. */
static void queue_control(struct chan *c, uint64_t now)
{
	struct chan_primary *p = c->pri;
	struct logfmt_record r;
	bool heartbeat =
	    now - c->stream.last_tx_ns >= c->cfg.heartbeat_ms * 1000000ull;

	if (p->shut_wr)
		return;
	/*
	 * pvft promote: the vCPU stopped; once the backup has every record
	 * it made and all their output is out, HANDOVER is the last word.
	 */
	if (p->handover_req && !p->final_sent && p->acked >= p->handover_seq &&
	    output_done(c)) {
		r = (struct logfmt_record){ .type = LOGFMT_HANDOVER };
		r.u.released.out_bytes = p->released;
		if (put_control(c, &r, p->last_ordinal)) {
			p->released_sent = p->released;
			p->final_sent = true;
		}
		return;
	}
	/* The last word: END acknowledged, all its output out. */
	if (p->end_sent && p->acked > p->end_seq && output_done(c) &&
	    !p->final_sent) {
		r = (struct logfmt_record){ .type = LOGFMT_RELEASED };
		r.u.released.out_bytes = p->released;
		if (put_control(c, &r, p->last_ordinal)) {
			p->released_sent = p->released;
			p->final_sent = true;
		}
		return;
	}
	if (p->released != p->released_sent) {
		r = (struct logfmt_record){ .type = LOGFMT_RELEASED };
		r.u.released.out_bytes = p->released;
		if (put_control(c, &r, p->last_ordinal))
			p->released_sent = p->released;
	}
	if (__atomic_load_n(&p->progress, __ATOMIC_ACQUIRE) >
		p->progress_sent ||
	    heartbeat) {
		/* Acquire: the records of the exits before it are in tx. */
		uint64_t pr = __atomic_load_n(&p->progress, __ATOMIC_ACQUIRE);

		r = (struct logfmt_record){ .type = LOGFMT_PROGRESS };
		r.u.progress.next_ordinal = pr;
		if (put_control(c, &r, p->last_ordinal))
			p->progress_sent = pr;
	}
}

/*
 * Lock held: liveness is progress, not heartbeats. A backup that
 * answers but does not take the records it was sent (acked stands still)
 * or, while the guest waits for it, does not replay them (replayed stands
 * still) holds the domain up as surely as a dead one: it has failed.
 * Each clock runs only while the backup owes that: records it was sent
 * and has not acknowledged; replay the held guest waits for. Receipt is
 * the channel thread's, prompt: the timeout. Replay stands still while a
 * healthy backup runs a long stretch of guest code between two exits, up
 * to its lag: twice the timeout plus --max-lag-ms. NULL, or what it
 * failed to do, and for how long (@ms_r).
 */
static const char *backup_stalled(struct chan *c, uint64_t now,
				  uint64_t timeout, uint64_t *ms_r)
{
	struct chan_primary *p = c->pri;
	uint64_t replay_bound = 2 * timeout + c->cfg.max_lag_ms * 1000000ull;

	bool unacked =
	    p->acked < p->next_seq &&
	    p->seq_end[p->acked % CHAN_SEQ_RING] <= c->stream.sent_total;

	/* Frozen for its move, within the grace: nothing it owes counts. */
	if (p->move_hold && now >= p->move_deadline) {
		pr_warn("backup %s said it was moving but neither moved nor "
			"went on within %" PRIu64 " ms",
			c->peer, move_grace_ns(c) / 1000000);
		p->move_hold = false;
	}
	if (p->move_hold)
		unacked = false;
	if (!unacked)
		p->ack_moved_ns = now;
	if (!p->throttling || p->replayed >= p->next_seq || p->move_hold)
		p->replay_moved_ns = now;
	if (now - p->ack_moved_ns > timeout) {
		*ms_r = (now - p->ack_moved_ns) / 1000000;
		return "acknowledged none of the records it was sent";
	}
	if (now - p->replay_moved_ns > replay_bound) {
		*ms_r = (now - p->replay_moved_ns) / 1000000;
		return "replayed nothing while the guest waited for it";
	}
	return NULL;
}

void primary__round_alone(struct chan *c)
{
	release_output(c);
	send_frames(c);
}

int primary__round(struct chan *c, uint64_t now)
{
	struct chan_primary *p = c->pri;
	uint64_t timeout = c->cfg.timeout_ms * 1000000ull, stall_ms = 0, sent;
	const char *stall;
	int events, rc;

	/*
	 * Once HANDOVER is out this replica gave the pair away: it never
	 * asks for it back. A backup that did not get it times out and asks
	 * the policy itself.
	 */
	if (p->final_sent && p->handover_req &&
	    now - c->stream.last_rx_ns > timeout) {
		chan_closed(c);
		return -1;
	}
	/*
	 * Checked before anything is read: a replica that was stopped
	 * (SIGSTOP, a long stall) past the timeout must not act on acks that
	 * are by now stale.
	 */
	if (now - c->stream.last_rx_ns > timeout) {
		chan_peer_failed(c, "silent for %" PRIu64 " ms",
				 (now - c->stream.last_rx_ns) / 1000000);
		return -1;
	}
	stall = backup_stalled(c, now, timeout, &stall_ms);
	if (stall && !p->final_sent) {
		chan_peer_failed(c,
				 "%s for %" PRIu64 " ms (acknowledged %" PRIu64
				 ", replayed %" PRIu64 " of %" PRIu64 ")",
				 stall, stall_ms, p->acked, p->replayed,
				 p->next_seq);
		return -1;
	}
	release_output(c);
	queue_control(c, now);
	rc = stream__flush(&c->stream, &sent);
	if (sent) {
		c->stats.bytes += sent;
		pthread_cond_broadcast(&c->cond); /* room in tx */
	}
	if (rc) {
		if (p->shut_wr)
			chan_closed(c);
		else
			chan_peer_failed(c, "connection lost (%s)",
					 strerror(-rc));
		return -1;
	}
	send_frames(c);
	/* Step 4: the last word is out: close our side. */
	if (p->final_sent && !stream__unsent(&c->stream) && !p->shut_wr) {
		transport__shutdown_write(c->stream.t);
		p->shut_wr = true;
	}
	events = POLLIN;
	if (stream__unsent(&c->stream))
		events |= POLLOUT;
	return events;
}

/* ---- moving the backup: the successor, channel thread ----------------------
 */

/*
 * The successor's answer to a resumption, on @t by @deadline: 0 accepted
 * (its node id into @node), -1 with @why.
 */
static int resume_answer(struct chan *c, struct transport *t, uint64_t deadline,
			 char *node, char *why, size_t why_len)
{
	uint8_t buf[LOGFMT_HEAD_SIZE + 1024];
	struct logfmt_record ans;
	struct logfmt_error e;
	long total;
	int rc;

	rc = transport__recv_all(t, buf, LOGFMT_HEAD_SIZE, deadline);
	if (rc)
		return snprintf(why, why_len, "no answer (%s)", strerror(-rc)),
		       -1;
	total = logfmt__record_total(buf, &e);
	if (total < 0 || (size_t)total > sizeof(buf))
		return snprintf(why, why_len, "a bad answer (%s)",
				total < 0 ? e.msg : "too long"),
		       -1;
	rc = transport__recv_all(t, buf + LOGFMT_HEAD_SIZE,
				 (size_t)total - LOGFMT_HEAD_SIZE, deadline);
	if (rc)
		return snprintf(why, why_len, "no answer (%s)", strerror(-rc)),
		       -1;
	if (logfmt__decode_record(buf, (size_t)total, &ans, &e) != total)
		return snprintf(why, why_len, "a bad answer (%s)", e.msg), -1;
	if (ans.type != LOGFMT_HELLO || ans.seq != 0 ||
	    ans.u.hello.role != LOGFMT_ROLE_BACKUP)
		return snprintf(why, why_len,
				"not a pvft backup (it answered "
				"%s record %" PRIu64 ")",
				logfmt__type_name(ans.type), ans.seq),
		       -1;
	chan_copy_node(node, &ans.u.hello);
	if (ans.u.hello.refused)
		return snprintf(why, why_len, "backup %s refused: %.*s", node,
				(int)ans.u.hello.reason_len,
				ans.u.hello.reason ? ans.u.hello.reason : ""),
		       -1;
	if (!strcmp(node, c->cfg.node))
		return snprintf(why, why_len, "it has this replica's node id"),
		       -1;
	return 0;
}

/*
 * One attempt at the successor, without the lock (the vCPU appends
 * meanwhile): connect, the TLS handshake, the opening as first sent
 * (header, BOOT) with RESUME {first_seq} between BOOT and HELLO, and its
 * answer. The transport, or NULL with @why.
 */
static struct transport *resume_dial(struct chan *c, const char *addr,
				     uint64_t first_seq, uint64_t deadline,
				     char *node, char *why, size_t why_len)
{
	struct chan_primary *p = c->pri;
	uint8_t buf[LOGFMT_OPENING_MAX + LOGFMT_HEAD_SIZE + 1024];
	struct logfmt_record r;
	struct transport *t = NULL;
	size_t len = p->opening_len; /* set once, at pairing */
	long n;
	int fd, rc;

	/* A dropped SYN holds this thread half a second, not TCP's minutes. */
	fd = transport__dial_until(addr,
				   deadline < clock__mono_ns() + 500000000ull
				       ? deadline
				       : clock__mono_ns() + 500000000ull);
	if (fd < 0) {
		snprintf(why, why_len, "%s", strerror(-fd));
		return NULL;
	}
	if (transport__open(&t, c->cfg.creds, fd)) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	if (transport__handshake_until(t, deadline, why, why_len))
		goto fail;
	memcpy(buf, p->opening, len);
	r = (struct logfmt_record){ .type = LOGFMT_RESUME, .seq = 1 };
	r.u.resume.first_seq = first_seq;
	n = logfmt__encode_record(&r, buf + len, sizeof(buf) - len);
	if (n > 0) {
		len += (size_t)n;
		chan_hello(c, &r, NULL);
		r.seq = 2;
		n = logfmt__encode_record(&r, buf + len, sizeof(buf) - len);
	}
	if (n <= 0) {
		snprintf(why, why_len, "cannot encode the opening");
		goto fail;
	}
	len += (size_t)n;
	rc = transport__send_all(t, buf, len, deadline);
	if (rc) {
		snprintf(why, why_len, "%s", strerror(-rc));
		goto fail;
	}
	if (resume_answer(c, t, deadline, node, why, why_len))
		goto fail;
	return t;
fail:
	transport__close(t);
	return NULL;
}

int primary__round_moving(struct chan *c, uint64_t now)
{
	struct chan_primary *p = c->pri;
	struct stream *s = &c->stream;
	char addr[sizeof(p->move_addr)], node[LOGFMT_HELLO_NODE_MAX + 1];
	char why[256];
	uint64_t first = p->move_seq, deadline;
	struct transport *t;

	if (now >= p->move_deadline) {
		chan_peer_failed(c,
				 "moved to %s, and no backup took the pair "
				 "there within %" PRIu64 " ms",
				 p->move_addr, move_grace_ns(c) / 1000000);
		return -1;
	}
	if (now < p->move_next_try)
		return 0;
	memcpy(addr, p->move_addr, sizeof(addr));
	deadline = now + CHAN_HANDSHAKE_MS * 1000000ull;
	if (deadline > p->move_deadline)
		deadline = p->move_deadline;
	pthread_mutex_unlock(&c->lock);
	t = resume_dial(c, addr, first, deadline, node, why, sizeof(why));
	pthread_mutex_lock(&c->lock);
	if (!t) {
		if (!p->move_next_try)
			pr_info("waiting for the moved backup at %s (%s)", addr,
				why);
		p->move_next_try = clock__mono_ns() + 50000000ull;
		return 0;
	}
	if (c->stopping || c->state != CHAN_MOVING) {
		transport__close(t);
		return -1;
	}
	/*
	 * The successor has every record below @first: the kept bytes from
	 * there on go again, the counts of what the link took with them.
	 */
	s->t = t;
	s->rx_off = s->rx_len = 0;
	stream__rewind(s, (size_t)(seq_pos(p, first) - kept_pos(c)));
	s->sent_total = seq_pos(p, first);
	p->peer_seq = 1;
	snprintf(c->peer, sizeof(c->peer), "%s", node);
	now = clock__mono_ns();
	s->last_rx_ns = s->last_tx_ns = now;
	p->ack_moved_ns = p->replay_moved_ns = now;
	c->state = CHAN_PAIRED;
	c->stats.state = c->state;
	if (p->joining) {
		struct timespec wall;

		clock_gettime(CLOCK_REALTIME, &wall);
		p->joining = false;
		pr_info(
		    "protected again: backup %s joined at %s, pair %" PRIu64
		    " epoch %" PRIu64 " (%" PRIu64
		    " records since the cut; realtime_us=%lld)",
		    node, addr, c->cfg.pair, c->cfg.epoch, p->next_seq - first,
		    (long long)wall.tv_sec * 1000000ll + wall.tv_nsec / 1000);
	} else {
		pr_info("paired with backup %s at %s again: resending from "
			"record %" PRIu64 " (%" PRIu64 " records, %zu bytes)",
			node, addr, first, p->next_seq - first,
			stream__unsent(s));
	}
	pthread_cond_broadcast(&c->cond);
	return -1;
}

/* ---- a backup joining a running primary ------------------------------------
 */

int chan__join_open(struct chan *c, const struct logfmt_header *h,
		    struct logfmt_record *boot, uint64_t progress)
{
	struct chan_primary *p = c->pri;
	struct stream *s = &c->stream;

	if (!p || c->state != CHAN_IDLE || c->thread_started ||
	    strlen(c->cfg.addr) > LOGFMT_MOVE_ADDR_MAX)
		return -EINVAL;
	/* The opening as chan__connect would send it, kept for RESUME. */
	logfmt__encode_header(h, s->tx);
	s->tx_keep = s->tx_off = 0;
	s->tx_len = LOGFMT_HEADER_SIZE;
	boot->seq = 0;
	boot->ordinal = 0;
	if (stream__put(s, boot, 0) < 0 || s->tx_len > LOGFMT_OPENING_MAX)
		return pr_err("log channel: cannot encode BOOT"), -EINVAL;
	memcpy(p->opening, s->tx, s->tx_len);
	p->opening_len = s->tx_len;
	s->tx_keep = s->tx_off = s->tx_len = 0;
	stream__keep(s);
	/*
	 * The joining backup holds the domain at the cut and "every record
	 * below 2" (the opening's): it is a moved backup's successor whose
	 * stream starts here, so the move's resumption pairs the two.
	 */
	p->next_seq = p->acked = p->replayed = 2;
	p->peer_seq = 1;
	p->progress = p->progress_sent = progress;
	p->last_ordinal = progress ? progress - 1 : 0;
	p->move_seq = 2;
	snprintf(p->move_addr, sizeof(p->move_addr), "%s", c->cfg.addr);
	p->move_hold = false;
	p->joining = true;
	c->stats.records = 2;
	return 0;
}

bool chan__joining(struct chan *c)
{
	bool j;

	if (!c->pri)
		return false;
	pthread_mutex_lock(&c->lock);
	j = c->pri->joining;
	pthread_mutex_unlock(&c->lock);
	return j;
}

int chan__join_go(struct chan *c)
{
	struct chan_primary *p = c->pri;
	int rc;

	if (!p || !p->opening_len || c->state != CHAN_IDLE || c->thread_started)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	p->move_deadline = clock__mono_ns() + move_grace_ns(c);
	p->move_next_try = 0;
	c->state = CHAN_MOVING;
	rc = chan_start(c);
	pthread_mutex_unlock(&c->lock);
	if (!rc)
		pr_info("protecting the domain again: backup at %s, pair "
			"%" PRIu64 " epoch %" PRIu64 " from exit ordinal "
			"%" PRIu64 "; output held until it acknowledges",
			c->cfg.addr, c->cfg.pair, c->cfg.epoch, p->progress);
	return rc ? -EIO : 0;
}

long chan__join_blob(struct chan *c, void *buf, size_t cap)
{
	struct chan_primary *p = c->pri;
	long n;

	if (!p || !p->opening_len)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	n = backup__blob_encode(
	    &(struct move_blob){
		.hdr = p->opening,
		.boot = p->opening + LOGFMT_HEADER_SIZE,
		.boot_len = p->opening_len - LOGFMT_HEADER_SIZE,
		.node = c->cfg.node,
		.next_seq = 2,
		.last_ordinal = p->last_ordinal,
		.peer_progress = p->progress_sent,
		.acked_sent = 2,
		.replayed_sent = 2,
	    },
	    buf, cap);
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* ---- the vCPU thread ------------------------------------------------------
 */

/* Lock held: the vCPU waits for the backup (a stall's clock starts). */
static void hold_begin(struct chan *c)
{
	if (!c->pri->throttling) {
		c->pri->throttling = true;
		c->pri->replay_moved_ns = clock__mono_ns();
	}
}

int chan__append(struct chan *c, struct logfmt_record *rec)
{
	struct chan_primary *p = c->pri;
	struct stream *s = &c->stream;
	size_t need = logfmt__record_size(rec);
	long n;

	if (!need)
		return pr_err("log channel: cannot encode a %s record",
			      logfmt__type_name(rec->type)),
		       -1;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->state == CHAN_FENCED) {
			pthread_mutex_unlock(&c->lock);
			return -1;
		}
		if (c->state == CHAN_ALONE || c->state == CHAN_CLOSED) {
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		if (stream__unsent(s) + need <= CHAN_TX_MAX &&
		    stream__kept(s) + need <= CHAN_RETAIN_MAX &&
		    p->next_seq - p->replayed < CHAN_SEQ_RING - 64)
			break;
		hold_begin(c);
		chan_timed_wait(c, 100);
	}
	p->throttling = false;
	n = put_record(c, rec, need);
	if (n > 0) {
		if (rec->ordinal > p->last_ordinal)
			p->last_ordinal = rec->ordinal;
		c->stats.records++;
		if (rec->type == LOGFMT_END) {
			p->end_sent = true;
			p->end_seq = rec->seq;
		}
		/*
		 * The thread sends at least every heartbeat/2 anyway: poke it
		 * only when output waits on these records' acks, when much is
		 * queued, or at the end. A wake-up per record costs the host
		 * more than the record itself.
		 */
		if (stream__unsent(s) > 65536 || rec->type == LOGFMT_END)
			chan_wake(c);
		else if (p->out_head)
			__atomic_store_n(&p->out_wake, true, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void chan__progress(struct chan *c, uint64_t ordinal)
{
	struct chan_primary *p = c->pri;

	/* Release: the records appended before are in tx for whoever sees it.
	 */
	if (ordinal > __atomic_load_n(&p->progress, __ATOMIC_RELAXED))
		__atomic_store_n(&p->progress, ordinal, __ATOMIC_RELEASE);
}

static void hold(struct chan *c, bool frame, const void *buf, size_t len)
{
	struct chan_primary *p = c->pri;
	struct chan_out *o;

	if (!len)
		return;
	o = malloc(sizeof(*o) + len);
	if (!o) {
		pr_warn("%s lost: out of memory",
			frame ? "network frame" : "console output");
		return;
	}
	o->next = NULL;
	o->frame = frame;
	o->len = len;
	o->made_ns = clock__mono_ns();
	memcpy(o->data, buf, len);
	pthread_mutex_lock(&c->lock);
	while ((c->state == CHAN_PAIRED || c->state == CHAN_ASKING ||
		c->state == CHAN_MOVING) &&
	       p->out_bytes + len > CHAN_OUT_MAX) {
		/* Room comes with acks: the records must go out now. */
		hold_begin(c);
		chan_wake(c);
		chan_timed_wait(c, 100);
	}
	p->throttling = false;
	if (c->state == CHAN_FENCED) {
		pthread_mutex_unlock(&c->lock);
		free(o);
		return;
	}
	/* Every record appended so far comes before these bytes. */
	o->tag = p->next_seq;
	if (p->out_tail)
		p->out_tail->next = o;
	else
		p->out_head = o;
	p->out_tail = o;
	p->out_bytes += len;
	/*
	 * Its records go out at the end of this exit (chan__kick): the
	 * sooner acked, the sooner released; one wake-up for the exit's
	 * whole batch.
	 */
	__atomic_store_n(&p->out_wake, true, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->lock);
}

void chan__kick(struct chan *c)
{
	struct chan_primary *p = c->pri;

	if (!__atomic_load_n(&p->out_wake, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&c->lock);
	p->out_wake = false;
	chan_wake(c);
	pthread_mutex_unlock(&c->lock);
}

void chan__output(struct chan *c, const void *buf, size_t len)
{
	hold(c, false, buf, len);
}

void chan__output_frame(struct chan *c, const void *frame, size_t len)
{
	hold(c, true, frame, len);
}

bool chan__throttle(struct chan *c, unsigned int wait_ms,
		    enum chan_state *state_r)
{
	struct chan_primary *p = c->pri;
	uint64_t now = 0, lag = 0;
	bool wait;

	/*
	 * Once per guest entry: one lock, and a clock read only with
	 * records the backup has not replayed yet.
	 */
	pthread_mutex_lock(&c->lock);
	/* Moving: replay does not move, so the guest may wait on max-lag. */
	if ((c->state == CHAN_PAIRED || c->state == CHAN_MOVING) &&
	    p->replayed < p->next_seq) {
		now = clock__mono_ns();
		lag = primary__lag_ns(c, now);
	}
	wait = (c->state == CHAN_PAIRED || c->state == CHAN_MOVING) &&
	       lag > c->cfg.max_lag_ms * 1000000ull;
	if (wait) {
		if (!p->throttle_said ||
		    now - p->throttle_said > 5000000000ull) {
			pr_info(
			    "the backup lags %.1f ms (more than --max-lag-ms "
			    "%u): holding the guest until it catches up",
			    lag / 1e6, c->cfg.max_lag_ms);
			p->throttle_said = now;
		}
		hold_begin(c);
		chan_timed_wait(c, wait_ms);
		c->stats.throttled_ns += clock__mono_ns() - now;
	} else {
		p->throttling = false;
	}
	*state_r = c->state;
	pthread_mutex_unlock(&c->lock);
	return wait;
}

int chan__finish(struct chan *c)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	c->pri->throttling = false; /* the guest ended: no longer held */
	chan_wake(c);
	while (c->state == CHAN_PAIRED || c->state == CHAN_ASKING ||
	       c->state == CHAN_MOVING ||
	       (c->state == CHAN_ALONE && !output_done(c))) {
		chan_wake(c);
		chan_timed_wait(c, 100);
	}
	rc = c->state == CHAN_FENCED ? -1 : 0;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int chan__handover(struct chan *c)
{
	struct chan_primary *p = c->pri;
	int rc;

	pthread_mutex_lock(&c->lock);
	if (c->state != CHAN_PAIRED || p->end_sent) {
		pthread_mutex_unlock(&c->lock);
		return -1;
	}
	p->handover_req = true;
	p->handover_seq = p->next_seq;
	p->throttling = false; /* the vCPU stopped to hand over */
	chan_wake(c);
	while (c->state == CHAN_PAIRED || c->state == CHAN_ASKING ||
	       c->state == CHAN_MOVING) {
		chan_wake(c);
		chan_timed_wait(c, 100);
	}
	/* Closed with HANDOVER out: given away. Else the backup failed. */
	rc = c->state == CHAN_CLOSED && p->final_sent ? 0 : -1;
	pthread_mutex_unlock(&c->lock);
	return rc;
}
