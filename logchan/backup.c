// SPDX-License-Identifier: MIT
/*
 * The log channel's backup side (chan.h; the protocol's steps are at the
 * top of chan.c): hearing out the connections that would be its primary
 * (chan__accept: many at once, each within a deadline, a flood kept from
 * crowding out the real one), answering HELLO, queueing the primary's
 * records for the replay and acknowledging them, and the replayed console
 * output the primary may not have let out (its tail, for going live).
 *
 * Threads: the pairing thread calls chan__accept/answer; the vCPU thread
 * chan__next/replayed_output/emit_tail/finish_backup; the channel thread
 * (chan.c) the backup__ functions. All under the channel's lock once
 * paired.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan-internal.h"
#include "clock.h"
#include "io.h"
#include "log.h"
#include "transport.h"

/*
 * The backup serves this many handshakes at once (per source address:
 * CHAN_PENDING_PER_SOURCE), each with CHAN_HANDSHAKE_MS for all of it:
 * TLS, header, BOOT and HELLO. A few idle connections can then never hold
 * off the real primary, which connects again while it waits.
 */
#define CHAN_PENDING_MAX 32
#define CHAN_PENDING_PER_SOURCE 8
/*
 * A new connection may take the place of an older one only once that had
 * this long to finish: a TLS handshake takes milliseconds, so a flood's
 * reconnections can push out each other but never a primary in time.
 */
#define CHAN_HANDSHAKE_GRACE_MS 1000
#define CHAN_OPENING_MAX LOGFMT_OPENING_MAX

int backup__init(struct chan *c)
{
	struct chan_backup *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	c->bak = b;
	b->listen_fd = -1;
	b->q_cap = CHAN_QUEUE_MAX + LOGFMT_MAX_RECORD;
	b->q = malloc(b->q_cap);
	b->tail_cap = 65536;
	b->tail = malloc(b->tail_cap);
	return b->q && b->tail ? 0 : -ENOMEM;
}

void backup__dispose(struct chan *c)
{
	struct chan_backup *b = c->bak;

	if (b->listen_fd >= 0)
		close(b->listen_fd);
	free(b->q);
	free(b->tail);
	free(b);
	c->bak = NULL;
}

/* ---- pairing ----------------------------------------------------------------
 */

/* The backup's HELLO: accepted (@why NULL) or refused, once authenticated. */
static void answer(struct chan *c, struct transport *t, const char *why)
{
	struct logfmt_record r;
	uint8_t buf[LOGFMT_HEAD_SIZE + 1024];
	long n;

	chan_hello(c, &r, why);
	n = logfmt__encode_record(&r, buf, sizeof(buf));
	if (n > 0)
		transport__send_all(t, buf, (size_t)n,
				    clock__mono_ns() +
					CHAN_HANDSHAKE_MS * 1000000ull);
}

/* A connection the backup is hearing out (step 1). */
struct pending {
	struct transport *t;
	uint64_t deadline;
	bool authed; /* the handshake is over (at once when plaintext) */
	bool proved; /* ... and it proved the key */
	size_t len;
	uint8_t buf[CHAN_OPENING_MAX];
};

static void pending_drop(struct pending **pp)
{
	struct pending *p = *pp;

	transport__close(p->t);
	free(p);
	*pp = NULL;
}

static bool same_source(const struct pending *a,
			const struct sockaddr_storage *sa)
{
	const struct sockaddr_storage *b = &a->t->sa;

	if (b->ss_family != sa->ss_family)
		return false;
	if (sa->ss_family == AF_INET)
		return ((const struct sockaddr_in *)b)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
	/* One host of IPv6 has a /64 to pick addresses from. */
	if (sa->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)b)->sin6_addr,
			       &((const struct sockaddr_in6 *)sa)->sin6_addr,
			       8);
	return false;
}

/*
 * What the backup says of connections it turned away: at most 10 lines a
 * second, then how many it did not show. A flood of them must not flood
 * the log (the disk) too.
 */
static void refused_conn(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void refused_conn(const char *fmt, ...)
{
	static uint64_t window_ns;
	static unsigned int said, unsaid;
	uint64_t now = clock__mono_ns();
	char msg[512];
	va_list ap;

	if (now - window_ns >= 1000000000ull) {
		if (unsaid)
			pr_warn("%u more connections turned away in a second "
				"(not shown)",
				unsaid);
		window_ns = now;
		said = unsaid = 0;
	}
	if (said >= 10) {
		unsaid++;
		return;
	}
	said++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_warn("%s", msg);
}

static int count_source(struct pending **slots,
			const struct sockaddr_storage *sa)
{
	int i, n = 0;

	for (i = 0; i < CHAN_PENDING_MAX; i++)
		n += slots[i] && same_source(slots[i], sa);
	return n;
}

/*
 * A slot for a connection from @sa with @same connections already in: a
 * free one, or, with all taken, that of the oldest connection of the
 * source holding the most when it holds more than @sa would. A flood
 * from a few addresses then makes room for a primary from any other at
 * once, and cannot take it back by reconnecting (found by the security
 * suite: closing newcomers let reconnecting idle clients starve it). -1:
 * no room (the newcomer's own source is at its cap, or as big as any).
 */
static int find_slot(struct pending **slots, const struct sockaddr_storage *sa)
{
	int i, victim = -1, most = 0, oldest = -1, own_oldest = -1, empty = -1;
	int same = count_source(slots, sa);
	uint64_t young =
	    clock__mono_ns() +
	    (CHAN_HANDSHAKE_MS - CHAN_HANDSHAKE_GRACE_MS) * 1000000ull;

	for (i = 0; i < CHAN_PENDING_MAX; i++) {
		struct pending *p = slots[i];
		int n;

		if (!p) {
			empty = empty < 0 ? i : empty;
			continue;
		}
		/* One that proved the key, or had no time yet, stays. */
		if (p->proved || p->deadline > young)
			continue;
		if (oldest < 0 || p->deadline < slots[oldest]->deadline)
			oldest = i;
		if (same_source(p, sa) &&
		    (own_oldest < 0 ||
		     p->deadline < slots[own_oldest]->deadline))
			own_oldest = i;
		n = count_source(slots, &p->t->sa);
		if (n > most ||
		    (n == most && p->deadline < slots[victim]->deadline)) {
			most = n;
			victim = i;
		}
	}
	/*
	 * Its own address at its cap: it takes the place of that address's
	 * oldest (the real primary may share an address with a flood).
	 * A full table: the oldest of the address holding the most, when
	 * that is more than this one would; else the oldest of all. A
	 * connection that waits for a slot of its own would wait forever.
	 */
	if (same >= CHAN_PENDING_PER_SOURCE)
		victim = own_oldest;
	else if (empty >= 0)
		return empty;
	else if (most <= same + 1)
		victim = oldest;
	if (victim < 0)
		return -1;
	refused_conn("a connection from %s made room for a newer one",
		     slots[victim]->t->addr);
	pending_drop(&slots[victim]);
	return victim;
}

/* A new connection, if there is room for it. */
static void take_connection(struct chan *c, struct pending **slots)
{
	struct transport *t;
	struct pending *p = NULL;
	int slot;

	if (transport__accept(&t, c->bak->listen_fd, c->cfg.creds))
		return;
	slot = find_slot(slots, &t->sa);
	if (slot >= 0)
		p = calloc(1, sizeof(*p));
	if (!p) {
		/* Closed unanswered: nothing is told before the key. */
		transport__close(t);
		return;
	}
	p->t = t;
	p->deadline = clock__mono_ns() + CHAN_HANDSHAKE_MS * 1000000ull;
	p->authed = !transport__secure(t);
	slots[slot] = p;
}

/*
 * Step 1 on one connection, as far as its bytes go: 0 more to come, 1
 * a primary of this pair running what this backup runs, -1 done with it
 * (refused: told why only once it proved the key).
 */
static int hear_out(struct chan *c, struct pending *p, struct logfmt_header *h,
		    struct logfmt_record *boot)
{
	struct logfmt_record hello;
	struct logfmt_error why;
	char reason[LOGFMT_HELLO_REASON_MAX + 1];
	bool eof = false;
	int rc;

	if (!p->authed) {
		rc = transport__handshake(p->t, reason, sizeof(reason));
		if (rc == -EAGAIN)
			return 0;
		if (rc) {
			refused_conn("a connection from %s did not prove this "
				     "pair's key: %s; waiting for another",
				     p->t->addr, reason);
			return -1;
		}
		p->authed = p->proved = true;
	}
	while (p->len < sizeof(p->buf)) {
		ssize_t r = transport__recv(p->t, p->buf + p->len,
					    sizeof(p->buf) - p->len);

		if (r == -EAGAIN)
			break;
		if (r <= 0) {
			eof = true;
			break;
		}
		p->len += (size_t)r;
	}
	/* Bytes that are no pvft stream get no answer: it may be no peer. */
	if (p->len >= LOGFMT_HEADER_SIZE &&
	    logfmt__decode_header(p->buf, LOGFMT_HEADER_SIZE, h, &why)) {
		refused_conn("a connection from %s is not a pvft primary: "
			     "%s; waiting for another",
			     p->t->addr, why.msg);
		return -1;
	}
	rc = logfmt__decode_opening(p->buf, p->len, h, boot, &hello, &why);
	if (rc < 0)
		goto refused;
	/* Another pair is told so as soon as its header is in. */
	if (p->len >= LOGFMT_HEADER_SIZE &&
	    (h->pair_id != c->cfg.pair || h->epoch != c->cfg.epoch)) {
		logfmt__error(&why,
			      "it is pair %" PRIu64 " epoch %" PRIu64
			      ", this backup serves pair %" PRIu64
			      " epoch %" PRIu64,
			      h->pair_id, h->epoch, c->cfg.pair, c->cfg.epoch);
		goto refused;
	}
	if (!rc && eof)
		refused_conn("a connection from %s closed before its "
			     "HELLO; waiting for another",
			     p->t->addr);
	if (!rc)
		return eof ? -1 : 0;
	chan_copy_node(c->peer, &hello.u.hello);
	if (!strcmp(c->peer, c->cfg.node)) {
		logfmt__error(&why,
			      "it has this replica's node id %s: the arbiter "
			      "could not tell the two apart",
			      c->peer);
		goto refused;
	}
	if (c->cfg.check &&
	    c->cfg.check(c->cfg.opaque, h, boot, reason, sizeof(reason))) {
		logfmt__error(&why, "%s", reason);
		goto refused;
	}
	/*
	 * A primary gone before the answer: accepting it would pair with
	 * nobody, and the policy would then give this backup a domain its
	 * primary never ran (pair.md's race, every time).
	 */
	if (eof) {
		refused_conn("a connection from %s closed after its HELLO; "
			     "waiting for another",
			     p->t->addr);
		return -1;
	}
	return 1;
refused:
	refused_conn("a connection from %s is not a primary of this pair: "
		     "%s; waiting for another",
		     p->t->addr, why.msg);
	answer(c, p->t, why.msg);
	return -1;
}

int chan__accept(struct chan *c, struct logfmt_header *h_r,
		 struct logfmt_record *boot_r)
{
	struct chan_backup *b = c->bak;
	struct pending *slots[CHAN_PENDING_MAX] = { NULL };
	struct logfmt_record hello;
	struct logfmt_error why;
	int i, rc, won = -1;

	b->listen_fd = transport__listen(c->cfg.addr);
	if (b->listen_fd == -EINVAL) {
		pr_err("--listen %s: not a HOST:PORT this host resolves",
		       c->cfg.addr);
		b->listen_fd = -1;
		return -1;
	}
	if (b->listen_fd < 0) {
		pr_err("cannot listen on %s: %s", c->cfg.addr,
		       strerror(-b->listen_fd));
		b->listen_fd = -1;
		return -1;
	}
	if (!c->cfg.creds)
		pr_warn("--insecure: the log channel is plaintext and "
			"unauthenticated: anyone who reaches %s can pose as "
			"the primary",
			c->cfg.addr);
	pr_info("waiting for the primary on %s (pair %" PRIu64 " epoch %" PRIu64
		")",
		c->cfg.addr, c->cfg.pair, c->cfg.epoch);
	while (won < 0) {
		struct pollfd pfd[CHAN_PENDING_MAX + 1];
		uint64_t now = clock__mono_ns();
		int timeout = 1000;

		pfd[0] =
		    (struct pollfd){ .fd = b->listen_fd, .events = POLLIN };
		for (i = 0; i < CHAN_PENDING_MAX; i++) {
			struct pending *p = slots[i];

			pfd[i + 1] = (struct pollfd){ .fd = -1 };
			if (!p)
				continue;
			if (now >= p->deadline) {
				refused_conn("a connection from %s sent no "
					     "HELLO within %d ms; waiting for "
					     "another",
					     p->t->addr, CHAN_HANDSHAKE_MS);
				pending_drop(&slots[i]);
				continue;
			}
			pfd[i + 1].fd = p->t->fd;
			pfd[i + 1].events =
			    p->authed ? POLLIN : transport__events(p->t);
			if ((p->deadline - now) / 1000000 + 1 <
			    (uint64_t)timeout)
				timeout =
				    (int)((p->deadline - now) / 1000000 + 1);
			if (p->authed && transport__pending(p->t))
				timeout = 0;
		}
		if (poll(pfd, CHAN_PENDING_MAX + 1, timeout) < 0 &&
		    errno != EINTR) {
			pr_err("poll on %s: %s", c->cfg.addr, strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN)
			take_connection(c, slots);
		for (i = 0; i < CHAN_PENDING_MAX && won < 0; i++) {
			int rc;

			if (!slots[i] || (!pfd[i + 1].revents &&
					  !(slots[i]->authed &&
					    transport__pending(slots[i]->t))))
				continue;
			rc = hear_out(c, slots[i], h_r, boot_r);
			if (rc > 0)
				won = i;
			else if (rc < 0)
				pending_drop(&slots[i]);
		}
	}
	for (i = 0; i < CHAN_PENDING_MAX; i++)
		if (slots[i] && i != won)
			pending_drop(&slots[i]);
	close(b->listen_fd);
	b->listen_fd = -1;
	if (won < 0)
		return -1;
	/* BOOT's command line points into rx: the opening moves there. */
	memcpy(c->stream.rx, slots[won]->buf, slots[won]->len);
	if (logfmt__decode_opening(c->stream.rx, slots[won]->len, h_r, boot_r,
				   &hello, &why) != 1) {
		pending_drop(&slots[won]);
		return -1;
	}
	b->order = (struct logfmt_order){ 0 };
	logfmt__check_order(&b->order, boot_r, &why);
	logfmt__check_order(&b->order, &hello, &why);
	c->stream.t = slots[won]->t;
	pr_info("primary %s connected from %s%s", c->peer, c->stream.t->addr,
		c->cfg.creds ? "" : " (plaintext)");
	free(slots[won]);
	/*
	 * The primary waits CHAN_HELLO_S past its own pairing for the
	 * answer: the check ends well before, so an answer never goes to a
	 * primary that gave up.
	 */
	rc = chan_check_owner(c, clock__mono_ns() +
				     CHAN_HELLO_S / 2 * 1000000000ull);
	if (rc) {
		answer(c, c->stream.t,
		       rc == -EEXIST ? "the arbiter says the pair belongs to "
				       "another node at this epoch"
				     : "this backup cannot reach its arbiter "
				       "to check the pair");
		stream__close(&c->stream);
		return -1;
	}
	return 0;
}

int chan__answer(struct chan *c, const char *refusal)
{
	if (refusal) {
		answer(c, c->stream.t, refusal);
		stream__close(&c->stream);
		return 0;
	}
	answer(c, c->stream.t, NULL);
	c->bak->tx_seq = 1;
	/* What the handshake delivered: BOOT and HELLO. */
	c->bak->peer_progress = 0;
	pr_info("paired with primary %s: pair %" PRIu64 " epoch %" PRIu64,
		c->peer, c->cfg.pair, c->cfg.epoch);
	return chan_start(c);
}

/* ---- the stream, channel thread ---------------------------------------------
 */

bool backup__queue_full(const struct chan *c)
{
	return c->bak->q_len - c->bak->q_off >= CHAN_QUEUE_MAX;
}

/*
 * Lock held: the primary let out @out_bytes of console output in all:
 * what it had replayed up to there needs no re-emitting.
 */
static void peer_released(struct chan *c, uint64_t out_bytes)
{
	struct chan_backup *b = c->bak;
	uint64_t drop;

	if (out_bytes <= b->peer_released)
		return;
	b->peer_released = out_bytes;
	if (b->peer_released > b->tail_start) {
		drop = b->peer_released - b->tail_start;
		if (drop > b->tail_len)
			drop = b->tail_len;
		memmove(b->tail, b->tail + drop, b->tail_len - drop);
		b->tail_len -= drop;
		b->tail_start += drop;
	}
}

bool backup__take(struct chan *c, const uint8_t *raw, size_t n,
		  const struct logfmt_record *r)
{
	struct chan_backup *b = c->bak;
	struct logfmt_error e;

	if (logfmt__check_order(&b->order, r, &e)) {
		chan_peer_failed(c, "the stream broke the log's order (%s)",
				 e.msg);
		return false;
	}
	c->stats.records++;
	c->stats.bytes += n;
	switch (r->type) {
	case LOGFMT_PROGRESS:
		if (r->u.progress.next_ordinal > b->peer_progress)
			b->peer_progress = r->u.progress.next_ordinal;
		break;
	case LOGFMT_RELEASED:
		peer_released(c, r->u.released.out_bytes);
		/* After END, all of END's output released: the last word. */
		if (b->got_end && r->u.released.out_bytes == b->end_out_bytes)
			b->peer_closed = true;
		break;
	case LOGFMT_HANDOVER:
		/*
		 * pvft promote: the primary stopped, has every record acked
		 * and all output out, and lets this replica take over now
		 * rather than after the timeout. The policy still decides.
		 */
		peer_released(c, r->u.released.out_bytes);
		b->handed_over = true;
		chan_peer_failed(c, "handed the pair over (pvft promote)");
		return false;
	case LOGFMT_HELLO:
	case LOGFMT_ACK:
		chan_peer_failed(c, "the primary sent a %s record",
				 logfmt__type_name(r->type));
		return false;
	default:
		if (r->type & LOGFMT_TYPE_OPTIONAL)
			break;
		if (b->q_off && b->q_off == b->q_len)
			b->q_off = b->q_len = 0;
		if (b->q_len + n > b->q_cap) {
			memmove(b->q, b->q + b->q_off, b->q_len - b->q_off);
			b->q_len -= b->q_off;
			b->q_off = 0;
		}
		memcpy(b->q + b->q_len, raw, n);
		b->q_len += n;
		/* Records come in ordinal order: all before this are here. */
		if (r->ordinal > b->peer_progress)
			b->peer_progress = r->ordinal;
		if (r->type == LOGFMT_END) {
			b->got_end = true;
			b->end_out_bytes = r->u.end.v.out_bytes;
			b->end_rx_ns = clock__mono_ns();
		}
		break;
	}
	return true;
}

uint64_t backup__replayed_count(const struct chan *c)
{
	const struct chan_backup *b = c->bak;
	struct logfmt_record r;
	struct logfmt_error e;

	if (b->q_off == b->q_len)
		return b->order.next_seq;
	if (logfmt__decode_record(b->q + b->q_off, b->q_len - b->q_off, &r,
				  &e) <= 0)
		return b->order.next_seq;
	return r.seq;
}

/* Lock held: the ACK the thread sends this round, if one is due. */
static void queue_ack(struct chan *c, uint64_t now)
{
	struct chan_backup *b = c->bak;
	struct stream *s = &c->stream;
	struct logfmt_record r;
	bool heartbeat =
	    now - s->last_tx_ns >= c->cfg.heartbeat_ms * 1000000ull;
	uint64_t rp = backup__replayed_count(c);

	if (b->order.next_seq == b->acked_sent && rp == b->replayed_sent &&
	    !heartbeat)
		return;
	r = (struct logfmt_record){ .type = LOGFMT_ACK };
	r.u.ack.received = b->order.next_seq;
	r.u.ack.replayed = rp;
	r.seq = b->tx_seq;
	r.ordinal = 0;
	if (s->tx_off && s->tx_off == s->tx_len)
		s->tx_off = s->tx_len = 0;
	/* No room: the next round. */
	if (stream__put(s, &r, LOGFMT_MAX_RECORD) < 0)
		return;
	b->tx_seq++;
	b->acked_sent = r.u.ack.received;
	b->replayed_sent = rp;
}

int backup__round(struct chan *c, uint64_t now)
{
	struct chan_backup *b = c->bak;
	uint64_t timeout = c->cfg.timeout_ms * 1000000ull, sent;
	int events = 0, rc;

	/* Not reading by choice is no silence of the peer. */
	if (backup__queue_full(c))
		c->stream.last_rx_ns = now;
	if (now - c->stream.last_rx_ns > timeout) {
		chan_peer_failed(c, "silent for %" PRIu64 " ms",
				 (now - c->stream.last_rx_ns) / 1000000);
		return -1;
	}
	/* A primary that says END must close soon after. */
	if (b->got_end && !b->peer_closed &&
	    now - b->end_rx_ns > 20 * timeout + 5000000000ull) {
		chan_peer_failed(c, "no close %" PRIu64 " ms after its END",
				 (now - b->end_rx_ns) / 1000000);
		return -1;
	}
	queue_ack(c, now);
	rc = stream__flush(&c->stream, &sent);
	if (sent) {
		c->stats.bytes += sent;
		pthread_cond_broadcast(&c->cond);
	}
	if (rc) {
		chan_peer_failed(c, "connection lost (%s)", strerror(-rc));
		return -1;
	}
	/*
	 * A backup with a full queue reads nothing: the primary waits on
	 * TCP's window, and a close or reset is seen once the vCPU has made
	 * room (what is unread was never acknowledged).
	 */
	if (!backup__queue_full(c))
		events = POLLIN;
	if (stream__unsent(&c->stream))
		events |= POLLOUT;
	return events;
}

/* ---- the vCPU thread ------------------------------------------------------
 */

enum chan_next chan__next(struct chan *c, uint64_t exits, uint8_t *buf,
			  size_t cap, struct logfmt_record *rec,
			  unsigned int wait_ms)
{
	struct chan_backup *b = c->bak;
	enum chan_next ret = CHAN_NEXT_WAIT;
	struct logfmt_error e;
	int round;

	pthread_mutex_lock(&c->lock);
	for (round = 0; round < 2; round++) {
		if (c->state == CHAN_FENCED) {
			ret = CHAN_NEXT_FENCED;
			break;
		}
		if (b->q_off < b->q_len) {
			long n = logfmt__decode_record(
			    b->q + b->q_off, b->q_len - b->q_off, rec, &e);

			/* Checked on receipt: cannot fail here. */
			if (n <= 0 || (size_t)n > cap) {
				ret = CHAN_NEXT_FENCED;
				break;
			}
			memcpy(buf, b->q + b->q_off, (size_t)n);
			logfmt__decode_record(buf, (size_t)n, rec, &e);
			b->q_off += (size_t)n;
			if (b->q_off == b->q_len) {
				b->q_off = b->q_len = 0;
				chan_wake(c); /* caught up: say so in an ACK */
			}
			ret = CHAN_NEXT_RECORD;
			break;
		}
		if (b->peer_progress > exits || c->state == CHAN_CLOSED) {
			ret = CHAN_NEXT_NONE;
			break;
		}
		if (c->state == CHAN_ALONE) {
			ret = CHAN_NEXT_LIVE;
			break;
		}
		if (round == 0)
			chan_timed_wait(c, wait_ms);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void chan__replayed_output(struct chan *c, const void *buf, size_t len)
{
	struct chan_backup *b = c->bak;
	const uint8_t *p = buf;
	uint64_t skip = 0;

	pthread_mutex_lock(&c->lock);
	while (c->state == CHAN_PAIRED && b->tail_len + len > CHAN_OUT_MAX)
		chan_timed_wait(c, 100);
	if (b->peer_released > b->out_total)
		skip = b->peer_released - b->out_total;
	if (skip > len)
		skip = len;
	if (!b->tail_len)
		b->tail_start = b->out_total + skip;
	if (len > skip) {
		size_t add = len - (size_t)skip;

		if (b->tail_len + add > b->tail_cap) {
			size_t cap = b->tail_cap;
			uint8_t *t;

			while (cap < b->tail_len + add)
				cap *= 2;
			t = realloc(b->tail, cap);
			if (!t) {
				pr_warn("replayed console output not kept: out "
					"of memory");
				goto out;
			}
			b->tail = t;
			b->tail_cap = cap;
		}
		memcpy(b->tail + b->tail_len, p + skip, add);
		b->tail_len += add;
	}
out:
	b->out_total += len;
	pthread_mutex_unlock(&c->lock);
}

uint64_t chan__emit_tail(struct chan *c)
{
	struct chan_backup *b = c->bak;
	uint64_t n;
	size_t off = 0;
	uint8_t *tee = NULL;
	int rc;

	pthread_mutex_lock(&c->lock);
	n = b->tail_len;
	if (c->cfg.out.fd >= 0 && b->tail_len) {
		rc = io__write_all(c->cfg.out.fd, b->tail, b->tail_len, &off);
		if (rc)
			pr_warn("console output lost: %s", strerror(-rc));
	}
	/* Viewers see it too, outside the lock (they take their own). */
	if (off && c->cfg.out.tee) {
		tee = malloc(off);
		if (tee)
			memcpy(tee, b->tail, off);
	}
	b->tail_start += b->tail_len;
	b->tail_len = 0;
	pthread_mutex_unlock(&c->lock);
	if (tee) {
		c->cfg.out.tee(c->cfg.out.tee_opaque, tee, off);
		free(tee);
	}
	return n;
}

int chan__finish_backup(struct chan *c)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	while (c->state == CHAN_PAIRED || c->state == CHAN_ASKING)
		chan_timed_wait(c, 100);
	if (c->state == CHAN_FENCED)
		rc = -1;
	pthread_mutex_unlock(&c->lock);
	return rc;
}
