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
#include "le.h"
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
 * A successor (chan__move_import) takes only the primary of the stream it
 * holds, resuming it where the moved backup stopped: the same header and
 * BOOT to the byte (pair, epoch, image, memory, ABI, CPUID, command line),
 * the same node, and RESUME at the first record it lacks. 0, or -1 with
 * @why.
 */
static int resume_refused(struct chan *c, const uint8_t *opening,
			  const struct logfmt_record *boot,
			  const struct logfmt_record *hello,
			  const struct logfmt_record *resume,
			  struct logfmt_error *why)
{
	struct chan_backup *b = c->bak;
	size_t boot_len =
	    LOGFMT_HEAD_SIZE + ((boot->len + 7) & ~7u) + LOGFMT_TAIL_SIZE;

	if (memcmp(opening, b->hdr, LOGFMT_HEADER_SIZE))
		return logfmt__error(why, "its header is not that of the "
					  "stream this backup resumes");
	if (boot_len != b->boot_len ||
	    memcmp(opening + LOGFMT_HEADER_SIZE, b->boot, boot_len))
		return logfmt__error(why, "its BOOT is not that of the stream "
					  "this backup resumes");
	if (hello->u.hello.node_len != strlen(c->peer) ||
	    memcmp(hello->u.hello.node, c->peer, hello->u.hello.node_len))
		return logfmt__error(why,
				     "it is node %.*s, the stream this backup "
				     "resumes is node %s's",
				     (int)hello->u.hello.node_len,
				     hello->u.hello.node, c->peer);
	if (resume->u.resume.first_seq != b->order.next_seq)
		return logfmt__error(why,
				     "it resumes at record %" PRIu64
				     ", this backup has every record below "
				     "%" PRIu64 " and no other",
				     resume->u.resume.first_seq,
				     b->order.next_seq);
	return 0;
}

/*
 * Step 1 on one connection, as far as its bytes go: 0 more to come, 1
 * a primary of this pair running what this backup runs, -1 done with it
 * (refused: told why only once it proved the key).
 */
static int hear_out(struct chan *c, struct pending *p, struct logfmt_header *h,
		    struct logfmt_record *boot)
{
	struct chan_backup *b = c->bak;
	struct logfmt_record hello, resume;
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
	rc = b->resume ? logfmt__decode_resume_opening(p->buf, p->len, h, boot,
						       &resume, &hello, &why)
		       : logfmt__decode_opening(p->buf, p->len, h, boot, &hello,
						&why);
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
	if (!b->resume)
		chan_copy_node(c->peer, &hello.u.hello);
	if (!strcmp(c->peer, c->cfg.node)) {
		logfmt__error(&why,
			      "it has this replica's node id %s: the arbiter "
			      "could not tell the two apart",
			      c->peer);
		goto refused;
	}
	if (b->resume && resume_refused(c, p->buf, boot, &hello, &resume, &why))
		goto refused;
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

/*
 * Steps 1-2 until a primary of this pair (@deadline_ns, 0 for none, passed:
 * 1): its link in c->stream, its opening in rx (@boot_r's command line
 * points there), decoded. 0, 1 timed out, -1 after saying why.
 */
static int hear_primaries(struct chan *c, struct logfmt_header *h_r,
			  struct logfmt_record *boot_r, uint64_t deadline_ns)
{
	struct chan_backup *b = c->bak;
	struct pending *slots[CHAN_PENDING_MAX] = { NULL };
	struct logfmt_record hello, resume;
	struct logfmt_error why;
	int i, rc, won = -1;
	bool timed_out = false;

	/* chan__listen() may have opened it already. */
	if (b->listen_fd < 0)
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
		"%s)",
		c->cfg.addr, c->cfg.pair, c->cfg.epoch,
		b->resume ? ", to resume its stream" : "");
	while (won < 0) {
		struct pollfd pfd[CHAN_PENDING_MAX + 1];
		uint64_t now = clock__mono_ns();
		int timeout = 1000;

		if (deadline_ns && now >= deadline_ns) {
			timed_out = true;
			break;
		}
		if (deadline_ns &&
		    (deadline_ns - now) / 1000000 + 1 < (uint64_t)timeout)
			timeout = (int)((deadline_ns - now) / 1000000 + 1);
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
		return timed_out ? 1 : -1;
	/* BOOT's command line points into rx: the opening moves there. */
	memcpy(c->stream.rx, slots[won]->buf, slots[won]->len);
	rc = b->resume
		 ? logfmt__decode_resume_opening(c->stream.rx, slots[won]->len,
						 h_r, boot_r, &resume, &hello,
						 &why)
		 : logfmt__decode_opening(c->stream.rx, slots[won]->len, h_r,
					  boot_r, &hello, &why);
	if (rc != 1) {
		pending_drop(&slots[won]);
		return -1;
	}
	if (!b->resume) {
		/* A move hands them to a successor (chan__move_export). */
		memcpy(b->hdr, c->stream.rx, LOGFMT_HEADER_SIZE);
		b->boot_len = (size_t)logfmt__decode_record(
		    c->stream.rx + LOGFMT_HEADER_SIZE,
		    slots[won]->len - LOGFMT_HEADER_SIZE, boot_r, &why);
		memcpy(b->boot, c->stream.rx + LOGFMT_HEADER_SIZE, b->boot_len);
		b->order = (struct logfmt_order){ 0 };
		logfmt__check_order(&b->order, boot_r, &why);
		logfmt__check_order(&b->order, &hello, &why);
	}
	c->stream.t = slots[won]->t;
	pr_info("primary %s connected from %s%s", c->peer, c->stream.t->addr,
		c->cfg.creds ? "" : " (plaintext)");
	free(slots[won]);
	return 0;
}

int chan__accept(struct chan *c, struct logfmt_header *h_r,
		 struct logfmt_record *boot_r)
{
	int rc;

	if (c->bak->resume) {
		pr_err("log channel: a successor takes its primary with "
		       "chan__accept_resume");
		return -1;
	}
	if (hear_primaries(c, h_r, boot_r, 0))
		return -1;
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
	stream__tx_reset_if_empty(s);
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
	if (backup__queue_full(c) || b->frozen)
		c->stream.last_rx_ns = now;
	/*
	 * Moved: MOVE with the successor's address is the last word; once
	 * it is out the link closes, without asking anyone (the successor
	 * is the primary's backup now).
	 */
	if (b->committing) {
		rc = b->link_failed ? -EPIPE : stream__flush(&c->stream, &sent);
		if (rc) {
			/*
			 * After GO the successor holds every record: it asks
			 * the policy if the primary does not come to it. This
			 * replica never does (two deciding would lose the
			 * pair to the one that cannot run it).
			 */
			pr_warn("the link to the primary failed while moving "
				"(%s): the successor decides",
				b->link_failed ? b->link_why : strerror(-rc));
			chan_closed(c);
			return -1;
		}
		if (!stream__unsent(&c->stream)) {
			transport__shutdown_write(c->stream.t);
			chan_closed(c);
			return -1;
		}
		return POLLOUT;
	}
	/* Frozen with the link gone: the commit or the abort says what next. */
	if (b->link_failed && b->frozen)
		return 0;
	if (b->link_failed) {
		chan_peer_failed(c, "%s", b->link_why);
		return -1;
	}
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
	/* Frozen, its ACKs stand still: their heartbeat goes on. */
	queue_ack(c, now);
	rc = stream__flush(&c->stream, &sent);
	if (sent) {
		c->stats.bytes += sent;
		pthread_cond_broadcast(&c->cond);
	}
	if (rc && b->frozen) {
		b->link_failed = true;
		snprintf(b->link_why, sizeof(b->link_why),
			 "connection lost while frozen for a move (%s)",
			 strerror(-rc));
		return 0;
	}
	if (rc) {
		chan_peer_failed(c, "connection lost (%s)", strerror(-rc));
		return -1;
	}
	/*
	 * A backup with a full queue reads nothing: the primary waits on
	 * TCP's window, and a close or reset is seen once the vCPU has made
	 * room (what is unread was never acknowledged). Nor does a frozen
	 * one: what it did not take is the successor's, resent to it.
	 */
	if (!backup__queue_full(c) && !b->frozen)
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
		/* Exported: its records are the successor's (or, on abort,
		 * its own again). */
		if (b->frozen) {
			if (round == 0)
				chan_timed_wait(c, wait_ms);
			continue;
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

/* ---- moving the backup (pair.md, "Moving the backup") -----------------------
 */

/*
 * The blob a moved backup hands its successor: everything its side of the
 * channel holds that the successor needs, little-endian, 8-byte aligned:
 *
 *   0   magic "PVFTMOVE"
 *   8   version u32 (CHAN_MOVE_VERSION), reserved u32 (0)
 *   16  boot_len u32, node_len u32
 *   24  next_seq u64 (R: every record below it received), last_ordinal u64
 *   40  peer_progress u64, peer_released u64
 *   56  acked_sent u64, replayed_sent u64
 *   72  out_total u64, tail_start u64, tail_len u64, q_len u64
 *   104 the primary's stream header (128 bytes)
 *   232 its BOOT record, its node id, the output tail (each padded to 8),
 *       the queued records (q[q_off, q_len))
 *   end crc u32 (CRC32C of all before it), reserved u32 (0)
 *
 * Bump CHAN_MOVE_VERSION on any change: a successor refuses other ones.
 */
#define CHAN_MOVE_MAGIC "PVFTMOVE"
#define CHAN_MOVE_VERSION 1
#define MOVE_FIXED 232
#define MOVE_TAIL 8

_Static_assert(CHAN_MOVE_MAX >= MOVE_FIXED + LOGFMT_OPENING_BOOT_MAX + 64 +
				    CHAN_OUT_MAX + CHAN_QUEUE_MAX +
				    LOGFMT_MAX_RECORD + MOVE_TAIL,
	       "CHAN_MOVE_MAX holds every blob");

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

long backup__blob_encode(const struct move_blob *mb, uint8_t *buf, size_t cap)
{
	size_t node_len = strlen(mb->node);
	size_t len = MOVE_FIXED + pad8(mb->boot_len) + pad8(node_len) +
		     pad8(mb->tail_len) + mb->q_len + MOVE_TAIL;
	uint8_t *p;

	if (len > cap)
		return -ENOSPC;
	memset(buf, 0, len);
	memcpy(buf, CHAN_MOVE_MAGIC, 8);
	le__put32(buf + 8, CHAN_MOVE_VERSION);
	le__put32(buf + 16, (uint32_t)mb->boot_len);
	le__put32(buf + 20, (uint32_t)node_len);
	le__put64(buf + 24, mb->next_seq);
	le__put64(buf + 32, mb->last_ordinal);
	le__put64(buf + 40, mb->peer_progress);
	le__put64(buf + 48, mb->peer_released);
	le__put64(buf + 56, mb->acked_sent);
	le__put64(buf + 64, mb->replayed_sent);
	le__put64(buf + 72, mb->out_total);
	le__put64(buf + 80, mb->tail_start);
	le__put64(buf + 88, mb->tail_len);
	le__put64(buf + 96, mb->q_len);
	memcpy(buf + 104, mb->hdr, LOGFMT_HEADER_SIZE);
	p = buf + MOVE_FIXED;
	memcpy(p, mb->boot, mb->boot_len);
	p += pad8(mb->boot_len);
	memcpy(p, mb->node, node_len);
	p += pad8(node_len);
	if (mb->tail_len)
		memcpy(p, mb->tail, mb->tail_len);
	p += pad8(mb->tail_len);
	if (mb->q_len)
		memcpy(p, mb->q, mb->q_len);
	p += mb->q_len;
	le__put32(p, logfmt__crc32c(0, buf, (size_t)(p - buf)));
	return (long)len;
}

/* Lock held: the blob into @buf; its length, or -ENOSPC. */
static long move_encode(const struct chan *c, uint8_t *buf, size_t cap)
{
	const struct chan_backup *b = c->bak;

	return backup__blob_encode(
	    &(struct move_blob){
		.hdr = b->hdr,
		.boot = b->boot,
		.boot_len = b->boot_len,
		.node = c->peer,
		.next_seq = b->order.next_seq,
		.last_ordinal = b->order.last_ordinal,
		.peer_progress = b->peer_progress,
		.peer_released = b->peer_released,
		.acked_sent = b->acked_sent,
		.replayed_sent = b->replayed_sent,
		.out_total = b->out_total,
		.tail_start = b->tail_start,
		.tail = b->tail,
		.tail_len = b->tail_len,
		.q = b->q + b->q_off,
		.q_len = b->q_len - b->q_off,
	    },
	    buf, cap);
}

/* Lock held: MOVE {R, @addr} into the backup's own stream. 0 or -1. */
static int put_move(struct chan *c, const char *addr)
{
	struct chan_backup *b = c->bak;
	struct stream *s = &c->stream;
	struct logfmt_record r = { .type = LOGFMT_MOVE, .seq = b->tx_seq };

	r.u.move.received = b->order.next_seq;
	r.u.move.addr_len = addr ? (uint32_t)strlen(addr) : 0;
	r.u.move.addr = addr;
	stream__tx_reset_if_empty(s);
	if (stream__put(s, &r, LOGFMT_MAX_RECORD) < 0)
		return -1;
	b->tx_seq++;
	chan_wake(c);
	return 0;
}

long chan__move_export(struct chan *c, void *buf, size_t cap)
{
	struct chan_backup *b = c->bak;
	long n;

	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (b->committing ||
	    (c->state != CHAN_PAIRED && c->state != CHAN_MOVING)) {
		pthread_mutex_unlock(&c->lock);
		return -EINVAL;
	}
	/* After END the pair is ending: nothing to move it for. */
	if (b->got_end || b->handed_over) {
		pthread_mutex_unlock(&c->lock);
		return -EBUSY;
	}
	if (!b->frozen) {
		/*
		 * The cut: the channel thread takes no more records (those
		 * not taken stay in rx and the socket, for an abort), its
		 * ACKs stand still, and the primary hears that a move is
		 * under way (its stall clocks wait for it).
		 */
		if (put_move(c, NULL)) {
			pthread_mutex_unlock(&c->lock);
			return -EAGAIN;
		}
		b->frozen = true;
		c->state = CHAN_MOVING;
		c->stats.state = c->state;
		pr_info("moving this backup: frozen at record %" PRIu64
			" (%zu bytes of records not yet replayed)",
			b->order.next_seq, b->q_len - b->q_off);
		pthread_cond_broadcast(&c->cond);
	}
	n = move_encode(c, buf, cap);
	pthread_mutex_unlock(&c->lock);
	return n;
}

int chan__move_commit(struct chan *c, const char *new_addr)
{
	struct chan_backup *b = c->bak;
	size_t len = new_addr ? strlen(new_addr) : 0;
	struct timespec ts;
	int rc;

	if (!b || !len || len > LOGFMT_MOVE_ADDR_MAX)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (!b->frozen || b->committing || c->state != CHAN_MOVING) {
		pthread_mutex_unlock(&c->lock);
		return -EINVAL;
	}
	/* Point of no return: once MOVE is out, the successor is the backup. */
	if (put_move(c, new_addr)) {
		pthread_mutex_unlock(&c->lock);
		return -EAGAIN;
	}
	b->committing = true;
	chan_deadline_after(&ts, CHAN_HANDSHAKE_MS);
	while (c->state == CHAN_MOVING &&
	       pthread_cond_timedwait(&c->cond, &c->lock, &ts) != ETIMEDOUT)
		;
	rc = c->state == CHAN_CLOSED ? 0 : -EIO;
	if (!rc)
		pr_info("this backup moved to %s: it holds every record below "
			"%" PRIu64 "; this replica's part is over",
			new_addr, b->order.next_seq);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void chan__move_abort(struct chan *c)
{
	struct chan_backup *b = c->bak;

	if (!b)
		return;
	pthread_mutex_lock(&c->lock);
	if (b->frozen && !b->committing) {
		/* A link lost meanwhile: the channel thread asks the policy. */
		b->frozen = false;
		if (c->state == CHAN_MOVING)
			c->state = CHAN_PAIRED;
		c->stats.state = c->state;
		/* Not reading was by choice, not the primary's silence. */
		c->stream.last_rx_ns = clock__mono_ns();
		pr_info("the move was called off: backing up from record "
			"%" PRIu64 " on",
			b->order.next_seq);
		chan_wake(c);
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
}

/* -EINVAL after saying which field of the blob is wrong. */
static int bad_blob(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_blob(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("moved backup's state refused: %s", msg);
	return -EINVAL;
}

/*
 * The queued records: whole, valid records (every check of the log
 * format), mandatory and of an exit (no BOOT, no END: a pair past END is
 * not moved), seq rising below R, ordinals rising up to the last one.
 */
static int check_queue(const uint8_t *q, size_t len, uint64_t next_seq,
		       uint64_t last_ordinal)
{
	uint64_t seq = 1, ordinal = 1;
	size_t off = 0;

	while (off < len) {
		struct logfmt_record r;
		struct logfmt_error e;
		long n = logfmt__decode_record(q + off, len - off, &r, &e);

		if (n <= 0)
			return bad_blob("queued record at byte %zu: %s", off,
					n ? e.msg : "truncated");
		if ((r.type & LOGFMT_TYPE_OPTIONAL) || r.type == LOGFMT_BOOT ||
		    r.type == LOGFMT_END)
			return bad_blob("queued record at byte %zu is %s", off,
					logfmt__type_name(r.type));
		if (r.seq <= seq || r.seq >= next_seq)
			return bad_blob("queued record at byte %zu has seq "
					"%" PRIu64 " (after %" PRIu64
					", below next_seq %" PRIu64 ")",
					off, r.seq, seq, next_seq);
		if (r.ordinal < ordinal || r.ordinal > last_ordinal)
			return bad_blob("queued record at byte %zu has exit "
					"ordinal %" PRIu64 " (after %" PRIu64
					", last_ordinal %" PRIu64 ")",
					off, r.ordinal, ordinal, last_ordinal);
		seq = r.seq;
		ordinal = r.ordinal;
		off += (size_t)n;
	}
	return 0;
}

int chan__move_import(struct chan *c, const void *buf, size_t len)
{
	struct chan_backup *b = c->bak;
	const uint8_t *in = buf, *p;
	struct logfmt_header h;
	struct logfmt_record boot;
	struct logfmt_order order = { 0 };
	struct logfmt_error e = { "" };
	uint32_t boot_len, node_len;
	uint64_t next_seq, last_ordinal, acked_sent, replayed_sent;
	uint64_t out_total, tail_start, tail_len, q_len, want;
	int rc;

	if (!b || c->state != CHAN_IDLE || b->resume)
		return -EINVAL;
	/* Input from another host: every field checked before it is used. */
	if (len < MOVE_FIXED + MOVE_TAIL)
		return bad_blob("%zu bytes, fewer than its fixed %d", len,
				MOVE_FIXED + MOVE_TAIL);
	if (memcmp(in, CHAN_MOVE_MAGIC, 8))
		return bad_blob("magic: not a moved backup's state");
	if (le__get32(in + 8) != CHAN_MOVE_VERSION)
		return bad_blob("version %u, this pvft reads %d",
				le__get32(in + 8), CHAN_MOVE_VERSION);
	if (le__get32(in + 12) || le__get32(in + len - 4))
		return bad_blob("reserved: not zero");
	if (le__get32(in + len - MOVE_TAIL) !=
	    logfmt__crc32c(0, in, len - MOVE_TAIL))
		return bad_blob("crc: mismatch (damaged)");
	boot_len = le__get32(in + 16);
	node_len = le__get32(in + 20);
	next_seq = le__get64(in + 24);
	last_ordinal = le__get64(in + 32);
	acked_sent = le__get64(in + 56);
	replayed_sent = le__get64(in + 64);
	out_total = le__get64(in + 72);
	tail_start = le__get64(in + 80);
	tail_len = le__get64(in + 88);
	q_len = le__get64(in + 96);
	if (boot_len < LOGFMT_HEAD_SIZE || boot_len > LOGFMT_OPENING_BOOT_MAX)
		return bad_blob("boot_len %u out of range", boot_len);
	if (node_len < 1 || node_len > LOGFMT_HELLO_NODE_MAX)
		return bad_blob("node_len %u out of range", node_len);
	if (tail_len > CHAN_OUT_MAX)
		return bad_blob("tail_len %" PRIu64 " over %u", tail_len,
				CHAN_OUT_MAX);
	if (q_len > b->q_cap)
		return bad_blob("q_len %" PRIu64 " over %zu", q_len, b->q_cap);
	/* Bounded above: no sum can wrap. */
	want = MOVE_FIXED + pad8(boot_len) + pad8(node_len) +
	       pad8((size_t)tail_len) + q_len + MOVE_TAIL;
	if (want != len)
		return bad_blob("length %zu, its fields make %" PRIu64, len,
				want);
	if (logfmt__decode_header(in + 104, LOGFMT_HEADER_SIZE, &h, &e))
		return bad_blob("header: %s", e.msg);
	if (!(h.flags & LOGFMT_F_STREAM))
		return bad_blob("header: a file's, not a stream's");
	if (h.pair_id != c->cfg.pair || h.epoch != c->cfg.epoch)
		return bad_blob("header: pair %" PRIu64 " epoch %" PRIu64
				", this backup serves pair %" PRIu64
				" epoch %" PRIu64,
				h.pair_id, h.epoch, c->cfg.pair, c->cfg.epoch);
	p = in + MOVE_FIXED;
	if (logfmt__decode_record(p, boot_len, &boot, &e) != (long)boot_len)
		return bad_blob("boot: %s",
				e.msg[0] ? e.msg : "not one record");
	if (logfmt__check_order(&order, &boot, &e))
		return bad_blob("boot: %s", e.msg);
	p += pad8(boot_len);
	if (memchr(p, '\0', node_len))
		return bad_blob("node: holds a NUL byte");
	if (node_len == strlen(c->cfg.node) &&
	    !memcmp(p, c->cfg.node, node_len))
		return bad_blob("node: the primary's node id is this "
				"replica's, %s",
				c->cfg.node);
	/* BOOT and HELLO (seq 0 and 1) came before anything of an exit. */
	if (next_seq < 2)
		return bad_blob("next_seq %" PRIu64 ": before the opening",
				next_seq);
	if (acked_sent > next_seq || replayed_sent > acked_sent)
		return bad_blob("acked_sent %" PRIu64 " / replayed_sent "
				"%" PRIu64 " beyond next_seq %" PRIu64,
				acked_sent, replayed_sent, next_seq);
	if (tail_start > out_total || tail_len > out_total - tail_start)
		return bad_blob("tail: bytes %" PRIu64 "+%" PRIu64
				" beyond out_total %" PRIu64,
				tail_start, tail_len, out_total);
	rc = check_queue(p + pad8(node_len) + pad8((size_t)tail_len),
			 (size_t)q_len, next_seq, last_ordinal);
	if (rc)
		return rc;

	/* All checked: the successor takes the moved backup's place. */
	if (tail_len > b->tail_cap) {
		uint8_t *t = realloc(b->tail, (size_t)tail_len);

		if (!t)
			return -ENOMEM;
		b->tail = t;
		b->tail_cap = (size_t)tail_len;
	}
	memcpy(b->hdr, in + 104, LOGFMT_HEADER_SIZE);
	memcpy(b->boot, in + MOVE_FIXED, boot_len);
	b->boot_len = boot_len;
	memcpy(c->peer, p, node_len);
	c->peer[node_len] = '\0';
	p += pad8(node_len);
	memcpy(b->tail, p, (size_t)tail_len);
	b->tail_len = (size_t)tail_len;
	b->tail_start = tail_start;
	b->out_total = out_total;
	p += pad8((size_t)tail_len);
	memcpy(b->q, p, (size_t)q_len);
	b->q_off = 0;
	b->q_len = (size_t)q_len;
	b->order = (struct logfmt_order){ .next_seq = next_seq,
					  .last_ordinal = last_ordinal };
	b->peer_progress = le__get64(in + 40);
	b->peer_released = le__get64(in + 48);
	b->acked_sent = acked_sent;
	b->replayed_sent = replayed_sent;
	b->resume = true;
	pr_info("took a moved backup's state: pair %" PRIu64 " epoch %" PRIu64
		" of primary %s, every record below %" PRIu64 " (%" PRIu64
		" bytes not yet replayed)",
		c->cfg.pair, c->cfg.epoch, c->peer, next_seq, q_len);
	return 0;
}

int chan__listen(struct chan *c)
{
	struct chan_backup *b = c->bak;

	if (!b)
		return -EINVAL;
	if (b->listen_fd < 0)
		b->listen_fd = transport__listen(c->cfg.addr);
	return b->listen_fd < 0 ? b->listen_fd : 0;
}

int chan__accept_resume(struct chan *c)
{
	struct chan_backup *b = c->bak;
	struct logfmt_header h;
	struct logfmt_record boot;
	int rc;

	if (!b || !b->resume)
		return pr_err("log channel: nothing to resume (no "
			      "chan__move_import)"),
		       -1;
	rc = hear_primaries(c, &h, &boot,
			    clock__mono_ns() +
				(uint64_t)c->cfg.connect_s * 1000000000ull);
	if (rc < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	if (rc > 0) {
		/*
		 * It never came: it failed (or never heard of the move). This
		 * replica has every record below R, all any released output
		 * depended on: it asks the policy as a backup whose primary
		 * fell silent, and may go live.
		 */
		chan_peer_failed(c,
				 "did not resume the pair within %u s of the "
				 "move",
				 c->cfg.connect_s);
		c->stats.state = c->state;
		pthread_mutex_unlock(&c->lock);
		return 1;
	}
	pthread_mutex_unlock(&c->lock);
	/*
	 * No owner check (chan__accept's): a primary that resumes is paired
	 * and was not failed over, or it would not dial its moved backup.
	 */
	answer(c, c->stream.t, NULL);
	b->tx_seq = 1;
	pr_info("resumed pair %" PRIu64 " epoch %" PRIu64
		" with primary %s from record %" PRIu64,
		c->cfg.pair, c->cfg.epoch, c->peer, b->order.next_seq);
	/*
	 * A successor's vCPU and control threads already read the state:
	 * under the lock (the channel thread takes it when it starts).
	 */
	pthread_mutex_lock(&c->lock);
	rc = chan_start(c);
	pthread_mutex_unlock(&c->lock);
	return rc;
}
