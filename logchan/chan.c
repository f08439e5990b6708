// SPDX-License-Identifier: MIT
/*
 * The log channel: chan.h says who does what. The protocol, in order:
 *
 *   0. Each side asks the arbiter whether (pair id, epoch) already has
 *      an owner (a stale replica); one has: neither pairs.
 *   1. The backup listens; the primary connects, and the two do a TLS
 *      1.3 handshake (lib/tls.c: the domain's PSK, or x509) before any
 *      byte of the stream; then the primary sends the log header
 *      (LOGFMT_F_STREAM), BOOT (seq 0) and HELLO (seq 1: role, node id).
 *      The backup hears out many connections at once, each within a
 *      deadline; one that fails the handshake is closed unanswered.
 *   2. The backup checks them (pair id, epoch here; image, memory, ABI,
 *      CPUID, command line and vif by the hv's check) and answers HELLO:
 *      accepted, or refused and why. A connection that is no pvft primary
 *      of this pair is refused and the backup waits for another.
 *   3. Paired: the primary streams records as the guest makes them, a
 *      PROGRESS record whenever the guest moved past exits that made none
 *      (and as the heartbeat), a RELEASED record whenever console output
 *      was let out. The backup queues records for its vCPU thread and
 *      answers with ACK {received, replayed} on every receipt and as its
 *      heartbeat.
 *   4. The end: the primary sends END; once all is acknowledged and all
 *      output released it sends a last RELEASED and closes its side; the
 *      backup closes on that. A stream that ends any other way, falls
 *      silent for timeout_ms, or (a backup) acknowledges or replays
 *      nothing it owes (backup_stalled()), is a failed peer: ask the
 *      arbiter (step 5).
 *   5. Test-and-set on (pair id, epoch) with this node id. Granted: go on
 *      alone (the primary releases its output without acks; the backup
 *      replays what it has and goes live). Denied: halt, releasing
 *      nothing more. No answer: say so, wait, ask again; never act alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "arbiter.h"
#include "chan.h"
#include "log.h"
#include "tls.h"

/* Unsent bytes the primary buffers before its vCPU waits. */
#define CHAN_TX_MAX (8u << 20)
/* Records in flight (not yet replayed) before the vCPU waits. */
#define CHAN_SEQ_RING 65536u
/* Received records the backup holds before it stops reading. */
#define CHAN_QUEUE_MAX (16u << 20)
/* Held console output, and the backup's unreleased tail. */
#define CHAN_OUT_MAX (16u << 20)
#define CHAN_RX_CAP (LOGFMT_MAX_RECORD + 65536)
/* The primary waits this long for the backup's answer after its own wait. */
#define CHAN_HELLO_S 10
/*
 * The backup serves this many handshakes at once (per source address:
 * CHAN_PENDING_PER_SOURCE), each with CHAN_HANDSHAKE_MS for all of it:
 * TLS, header, BOOT and HELLO. A few idle connections can then never hold
 * off the real primary, which connects again while it waits.
 */
#define CHAN_PENDING_MAX 32
#define CHAN_PENDING_PER_SOURCE 8
#define CHAN_HANDSHAKE_MS 5000
/*
 * A new connection may take the place of an older one only once that had
 * this long to finish: a TLS handshake takes milliseconds, so a flood's
 * reconnections can push out each other but never a primary in time.
 */
#define CHAN_HANDSHAKE_GRACE_MS 1000
#define CHAN_OPENING_MAX LOGFMT_OPENING_MAX
#define CHAN_ARBITER_TIMEOUT_MS 1000
#define CHAN_ARBITER_RETRY_MS 100

struct chan_out {
	struct chan_out *next;
	uint64_t tag;	  /* records with seq below this must be acked */
	uint64_t made_ns; /* when the guest wrote it */
	bool frame;	  /* a network frame, not console bytes */
	size_t len;
	uint8_t data[];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void deadline_after(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000l;
	if (ts->tv_nsec >= 1000000000l) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000l;
	}
}

static void timed_wait(struct chan *c, unsigned int ms)
{
	struct timespec ts;

	deadline_after(&ts, ms);
	pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

/* Lock held. The thread only needs a poke when it sleeps in poll(). */
static void wake(struct chan *c)
{
	uint64_t one = 1;

	if (c->sleeping && write(c->wake_fd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		pr_warn("log channel: cannot wake its thread: %s",
			strerror(errno));
}

const char *chan__state_name(enum chan_state s)
{
	static const char *const names[] = {
		[CHAN_IDLE] = "idle",	  [CHAN_PAIRED] = "paired",
		[CHAN_ASKING] = "asking", [CHAN_ALONE] = "alone",
		[CHAN_FENCED] = "fenced", [CHAN_CLOSED] = "closed",
	};

	return (unsigned int)s < sizeof(names) / sizeof(names[0]) ? names[s]
								  : "?";
}

static const char *peer_role(const struct chan *c)
{
	return c->cfg.role == LOGFMT_ROLE_PRIMARY ? "backup" : "primary";
}

/* ---- set-up -------------------------------------------------------------- */

int chan__init(struct chan *c, const struct chan_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->fd = c->listen_fd = -1;
	c->state = CHAN_IDLE;
	pthread_mutex_init(&c->lock, NULL);
	{
		pthread_condattr_t a;

		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		pthread_cond_init(&c->cond, &a);
		pthread_cond_init(&c->w_cond, &a);
		pthread_condattr_destroy(&a);
	}
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->tx_cap = CHAN_TX_MAX + LOGFMT_MAX_RECORD;
	c->tx = malloc(c->tx_cap);
	c->rx_cap = CHAN_RX_CAP;
	c->rx = malloc(c->rx_cap);
	if (cfg->role == LOGFMT_ROLE_PRIMARY) {
		c->seq_ns = calloc(CHAN_SEQ_RING, sizeof(*c->seq_ns));
		c->seq_end = calloc(CHAN_SEQ_RING, sizeof(*c->seq_end));
	} else {
		c->q_cap = CHAN_QUEUE_MAX + LOGFMT_MAX_RECORD;
		c->q = malloc(c->q_cap);
		c->tail_cap = 65536;
		c->tail = malloc(c->tail_cap);
	}
	if (c->wake_fd < 0 || !c->tx || !c->rx ||
	    (cfg->role == LOGFMT_ROLE_PRIMARY ? !c->seq_ns || !c->seq_end
					      : !c->q || !c->tail)) {
		chan__dispose(c);
		return -ENOMEM;
	}
	return 0;
}

void chan__dispose(struct chan *c)
{
	struct chan_out *o, *next;

	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	wake(c);
	pthread_cond_broadcast(&c->cond);
	pthread_cond_broadcast(&c->w_cond);
	pthread_mutex_unlock(&c->lock);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	if (c->writer_started)
		pthread_join(c->writer, NULL);
	c->thread_started = c->writer_started = false;
	tls__conn_free(c->tls);
	c->tls = NULL;
	if (c->fd >= 0)
		close(c->fd);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	c->fd = c->listen_fd = c->wake_fd = -1;
	for (o = c->out_head; o; o = next) {
		next = o->next;
		free(o);
	}
	for (o = c->w_head; o; o = next) {
		next = o->next;
		free(o);
	}
	for (o = c->f_head; o; o = next) {
		next = o->next;
		free(o);
	}
	c->out_head = c->out_tail = c->w_head = c->w_tail = NULL;
	c->f_head = c->f_tail = NULL;
	free(c->tx);
	free(c->rx);
	free(c->q);
	free(c->tail);
	free(c->seq_ns);
	free(c->seq_end);
	c->tx = c->rx = c->q = c->tail = NULL;
	c->seq_ns = c->seq_end = NULL;
}

/* The connection and its TLS session, gone. */
static void drop_conn(struct chan *c)
{
	tls__conn_free(c->tls);
	c->tls = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* "HOST:PORT" -> addrinfo list (IPv4 or IPv6; "[v6]:port" too). */
static int resolve(const char *addr, bool passive, struct addrinfo **res_r)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = passive ? AI_PASSIVE : 0,
	};
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hl;
	int r;

	if (!colon || colon == addr || !colon[1])
		return -1;
	hl = (size_t)(colon - addr);
	if (addr[0] == '[' && colon[-1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	r = getaddrinfo(host, colon + 1, &hints, res_r);
	return r ? -1 : 0;
}

static void tune_socket(int fd)
{
	int one = 1;

	/* Records are small and each one's ack releases output: no Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/*
 * One whole record from the link into @buf (LOGFMT_MAX_RECORD bytes),
 * decoded into @rec, by @deadline. 0 or -1 with @why.
 */
static int read_record(struct tls_conn *t, uint8_t *buf,
		       struct logfmt_record *rec, uint64_t deadline,
		       struct logfmt_error *why)
{
	uint32_t len;
	size_t total;
	int rc;

	rc = tls__recv_all(t, buf, LOGFMT_HEAD_SIZE, deadline);
	if (rc)
		return logfmt__error(why, "reading a record: %s",
				     strerror(-rc));
	len = (uint32_t)buf[20] | (uint32_t)buf[21] << 8 |
	      (uint32_t)buf[22] << 16 | (uint32_t)buf[23] << 24;
	if (len > LOGFMT_MAX_PAYLOAD)
		return logfmt__error(why, "a record of %u bytes", len);
	total = LOGFMT_HEAD_SIZE + ((len + 7u) & ~7u) + LOGFMT_TAIL_SIZE;
	rc = tls__recv_all(t, buf + LOGFMT_HEAD_SIZE, total - LOGFMT_HEAD_SIZE,
			   deadline);
	if (rc)
		return logfmt__error(why, "reading a record: %s",
				     strerror(-rc));
	if (logfmt__decode_record(buf, total, rec, why) != (long)total)
		return -1;
	return 0;
}

static void say_hello(struct chan *c, struct logfmt_record *r,
		      const char *refusal)
{
	*r = (struct logfmt_record){ .type = LOGFMT_HELLO };
	r->u.hello = (struct logfmt_hello){
		.role = c->cfg.role,
		.refused = refusal != NULL,
		.node_len = (uint32_t)strlen(c->cfg.node),
		.node = c->cfg.node,
		.reason_len = refusal ? (uint32_t)strlen(refusal) : 0,
		.reason = refusal,
	};
	if (r->u.hello.reason_len > LOGFMT_HELLO_REASON_MAX)
		r->u.hello.reason_len = LOGFMT_HELLO_REASON_MAX;
}

static void copy_node(char *dst, const struct logfmt_hello *h)
{
	memcpy(dst, h->node, h->node_len);
	dst[h->node_len] = '\0';
}

static void *chan_thread(void *arg);
static void *writer_thread(void *arg);

/*
 * The channel's threads take no signals: a stop signal is the I/O
 * thread's (its signalfd), and the default action of one taken here would
 * end pvft-hv without its END.
 */
static int spawn(pthread_t *t, void *(*fn)(void *), struct chan *c)
{
	sigset_t all, old;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(t, NULL, fn, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -r;
}

static int start_thread(struct chan *c)
{
	int r;

	c->state = CHAN_PAIRED;
	c->stats.paired_ns = c->last_rx_ns = c->last_tx_ns = now_ns();
	c->ack_moved_ns = c->replay_moved_ns = c->stats.paired_ns;
	r = set_nonblock(c->fd);
	if (!r)
		r = spawn(&c->thread, chan_thread, c);
	if (!r)
		c->thread_started = true;
	if (!r && c->cfg.role == LOGFMT_ROLE_PRIMARY) {
		r = spawn(&c->writer, writer_thread, c);
		c->writer_started = !r;
	}
	if (r) {
		pr_err("log channel: cannot start its threads: %s",
		       strerror(-r));
		return -1;
	}
	return 0;
}

/*
 * Pairing asks the arbiter first: a (pair, epoch) it already gave to a
 * node was failed over; a replica of it starting afresh would run a blank
 * domain under the name of one whose state lives on elsewhere
 * (pair.md, "Stale replicas"). 0: nobody owns it; -1 after saying why.
 * No answer is asked again until @deadline.
 */
static int check_unowned(struct chan *c, uint64_t deadline)
{
	char owner[ARBITER_NODE_MAX + 1], why[256];
	uint64_t said = 0;

	if (!c->cfg.arbiter)
		return 0;
	for (;;) {
		enum arbiter_answer a = arbiter__query(
		    c->cfg.arbiter, c->cfg.pair, c->cfg.epoch,
		    CHAN_ARBITER_TIMEOUT_MS, owner, why, sizeof(why));
		uint64_t now = now_ns();

		if (a == ARBITER_FREE)
			return 0;
		if (a == ARBITER_GRANTED || a == ARBITER_DENIED) {
			pr_err("pair %" PRIu64 " epoch %" PRIu64
			       " already belongs to node %s (the arbiter "
			       "%s gave it after a failover): this replica "
			       "would run a stale domain; not pairing. Start "
			       "a new pair at epoch %" PRIu64
			       " or later, or find node %s",
			       c->cfg.pair, c->cfg.epoch, owner,
			       arbiter__url(c->cfg.arbiter), c->cfg.epoch + 1,
			       owner);
			return -EEXIST;
		}
		if (now >= deadline) {
			pr_err("cannot reach the arbiter %s to check pair "
			       "%" PRIu64 " epoch %" PRIu64 " (%s): not "
			       "pairing",
			       arbiter__url(c->cfg.arbiter), c->cfg.pair,
			       c->cfg.epoch, why);
			return -ETIMEDOUT;
		}
		if (now - said >= 2000000000ull) {
			pr_warn("cannot reach the arbiter %s (%s): asking "
				"again before pairing",
				arbiter__url(c->cfg.arbiter), why);
			said = now;
		}
		usleep(CHAN_ARBITER_RETRY_MS * 1000);
	}
}

/* ---- primary: pairing ------------------------------------------------------
 */

/* A connected socket to @addr, or -1; retries until @deadline. */
static int connect_until(const char *addr, uint64_t deadline)
{
	bool said = false;

	for (;;) {
		struct addrinfo *res, *ai;
		int fd = -1;

		if (resolve(addr, false, &res) == 0) {
			for (ai = res; ai; ai = ai->ai_next) {
				fd = socket(ai->ai_family,
					    ai->ai_socktype | SOCK_CLOEXEC, 0);
				if (fd < 0)
					continue;
				if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
					break;
				close(fd);
				fd = -1;
			}
			freeaddrinfo(res);
		}
		if (fd >= 0)
			return fd;
		if (now_ns() >= deadline)
			return -1;
		if (!said)
			pr_info("waiting for the backup at %s (%s)", addr,
				strerror(errno));
		said = true;
		usleep(50000);
	}
}

/*
 * The backup's TLS handshake, on a fresh connection: 0, 1 to try another
 * connection (the backup was busy or went away before answering), -1
 * when it cannot be this pair's backup (it failed to prove the key).
 */
static int secure_connect(struct chan *c, uint64_t deadline)
{
	char why[256];
	int rc;

	if (set_nonblock(c->fd) || tls__conn_new(&c->tls, c->cfg.creds, c->fd))
		return pr_err("log channel: out of memory"), -1;
	if (!c->cfg.creds)
		return 0;
	rc = tls__handshake_until(c->tls, deadline, why, sizeof(why));
	if (!rc)
		return 0;
	if (rc == -EACCES) {
		pr_err("the peer at %s is not this pair's backup: %s",
		       c->cfg.addr, why);
		return -1;
	}
	pr_info("backup at %s: %s; connecting again", c->cfg.addr, why);
	drop_conn(c);
	return 1;
}

int chan__connect(struct chan *c, const struct logfmt_header *h,
		  struct logfmt_record *boot)
{
	uint8_t hdr[LOGFMT_HEADER_SIZE];
	struct logfmt_record hello, ans;
	struct logfmt_error why;
	uint64_t deadline =
	    now_ns() + (uint64_t)c->cfg.connect_s * 1000000000ull;
	uint64_t hs_ns = 0;
	long n;
	int rc;

	if (check_unowned(c, deadline))
		return -1;
	do {
		c->fd = connect_until(c->cfg.addr, deadline);
		if (c->fd < 0) {
			pr_err("cannot reach the backup at %s within %u s: "
			       "not starting an unprotected domain",
			       c->cfg.addr, c->cfg.connect_s);
			return -1;
		}
		tune_socket(c->fd);
		hs_ns = now_ns();
		/* The handshake gets its own time, past a late connect. */
		rc = secure_connect(c,
				    now_ns() + CHAN_HANDSHAKE_MS * 1000000ull);
		if (rc > 0 && now_ns() < deadline)
			usleep(50000);
	} while (rc > 0 && now_ns() < deadline);
	if (rc) {
		if (rc > 0)
			pr_err("no handshake with the backup at %s within "
			       "%u s: not starting an unprotected domain",
			       c->cfg.addr, c->cfg.connect_s);
		return -1;
	}
	hs_ns = now_ns() - hs_ns;
	/* Step 1: header, BOOT, HELLO, in one write, once authenticated. */
	logfmt__encode_header(h, hdr);
	memcpy(c->tx, hdr, sizeof(hdr));
	c->tx_len = sizeof(hdr);
	boot->seq = 0;
	boot->ordinal = 0;
	n = logfmt__encode_record(boot, c->tx + c->tx_len,
				  c->tx_cap - c->tx_len);
	if (n < 0)
		return pr_err("log channel: cannot encode BOOT"), -1;
	c->tx_len += (size_t)n;
	say_hello(c, &hello, NULL);
	hello.seq = 1;
	n = logfmt__encode_record(&hello, c->tx + c->tx_len,
				  c->tx_cap - c->tx_len);
	if (n < 0)
		return pr_err("log channel: cannot encode HELLO"), -1;
	c->tx_len += (size_t)n;
	c->next_seq = 2;
	c->stats.records = 2;
	c->stats.bytes = c->tx_len;
	rc = tls__send_all(c->tls, c->tx, c->tx_len,
			   now_ns() + CHAN_HANDSHAKE_MS * 1000000ull);
	if (rc) {
		pr_err("log channel: cannot send to the backup at %s: %s",
		       c->cfg.addr, strerror(-rc));
		return -1;
	}
	c->tx_len = 0;
	/* Step 2: its answer. It builds its domain first: give it time. */
	if (read_record(c->tls, c->rx, &ans,
			deadline + CHAN_HELLO_S * 1000000000ull, &why)) {
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
	copy_node(c->peer, &ans.u.hello);
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
	c->tx_seq = 1; /* the backup's next record */
	/* The handshake's two records are in: no lag from them. */
	c->acked = c->replayed = c->next_seq;
	pr_info("paired with backup %s at %s: pair %" PRIu64 " epoch %" PRIu64
		" (%s, handshake %.2f ms)",
		c->peer, c->cfg.addr, c->cfg.pair, c->cfg.epoch,
		c->cfg.creds ? "TLS 1.3" : "plaintext: --insecure",
		hs_ns / 1e6);
	return start_thread(c);
}

/* ---- backup: pairing -------------------------------------------------------
 */

static int listen_on(struct chan *c)
{
	struct addrinfo *res, *ai;
	int one = 1;

	if (resolve(c->cfg.addr, true, &res)) {
		pr_err("--listen %s: not a HOST:PORT this host resolves",
		       c->cfg.addr);
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int fd =
		    socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);

		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 64) &&
		    !set_nonblock(fd)) {
			c->listen_fd = fd;
			break;
		}
		close(fd);
	}
	freeaddrinfo(res);
	if (c->listen_fd < 0) {
		pr_err("cannot listen on %s: %s", c->cfg.addr, strerror(errno));
		return -1;
	}
	return 0;
}

/* The backup's HELLO: accepted (@why NULL) or refused, once authenticated. */
static void answer(struct chan *c, struct tls_conn *t, const char *why)
{
	struct logfmt_record r;
	uint8_t buf[LOGFMT_HEAD_SIZE + 1024];
	long n;

	say_hello(c, &r, why);
	n = logfmt__encode_record(&r, buf, sizeof(buf));
	if (n > 0)
		tls__send_all(t, buf, (size_t)n,
			      now_ns() + CHAN_HANDSHAKE_MS * 1000000ull);
}

/* A connection the backup is hearing out (step 1). */
struct pending {
	int fd;
	struct tls_conn *tls;
	uint64_t deadline;
	bool authed; /* the handshake is over (at once when plaintext) */
	bool proved; /* ... and it proved the key */
	size_t len;
	uint8_t buf[CHAN_OPENING_MAX];
	struct sockaddr_storage sa;
	char host[NI_MAXHOST], serv[NI_MAXSERV];
};

static void pending_drop(struct pending **pp)
{
	struct pending *p = *pp;

	tls__conn_free(p->tls);
	close(p->fd);
	free(p);
	*pp = NULL;
}

static bool same_source(const struct pending *a,
			const struct sockaddr_storage *sa)
{
	if (a->sa.ss_family != sa->ss_family)
		return false;
	if (sa->ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
	/* One host of IPv6 has a /64 to pick addresses from. */
	if (sa->ss_family == AF_INET6)
		return !memcmp(
		    &((const struct sockaddr_in6 *)&a->sa)->sin6_addr,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, 8);
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
	uint64_t now = now_ns();
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
	    now_ns() +
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
		n = count_source(slots, &p->sa);
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
	refused_conn("a connection from %s:%s made room for a newer one",
		     slots[victim]->host, slots[victim]->serv);
	pending_drop(&slots[victim]);
	return victim;
}

/* A new connection, if there is room for it. */
static void take_connection(struct chan *c, struct pending **slots)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	struct pending *p = NULL;
	int fd, slot;

	fd = accept4(c->listen_fd, (struct sockaddr *)&sa, &sl,
		     SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	slot = find_slot(slots, &sa);
	if (slot >= 0)
		p = calloc(1, sizeof(*p));
	if (!p || tls__conn_new(&p->tls, c->cfg.creds, fd)) {
		/* Closed unanswered: nothing is told before the key. */
		free(p);
		close(fd);
		return;
	}
	p->fd = fd;
	p->sa = sa;
	p->deadline = now_ns() + CHAN_HANDSHAKE_MS * 1000000ull;
	p->authed = !c->cfg.creds;
	getnameinfo((struct sockaddr *)&sa, sl, p->host, sizeof(p->host),
		    p->serv, sizeof(p->serv), NI_NUMERICHOST | NI_NUMERICSERV);
	tune_socket(fd);
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
		rc = tls__handshake(p->tls, reason, sizeof(reason));
		if (rc == -EAGAIN)
			return 0;
		if (rc) {
			refused_conn(
			    "a connection from %s:%s did not prove this "
			    "pair's key: %s; waiting for another",
			    p->host, p->serv, reason);
			return -1;
		}
		p->authed = p->proved = true;
	}
	while (p->len < sizeof(p->buf)) {
		ssize_t r =
		    tls__recv(p->tls, p->buf + p->len, sizeof(p->buf) - p->len);

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
		refused_conn("a connection from %s:%s is not a pvft primary: "
			     "%s; waiting for another",
			     p->host, p->serv, why.msg);
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
		refused_conn("a connection from %s:%s closed before its "
			     "HELLO; waiting for another",
			     p->host, p->serv);
	if (!rc)
		return eof ? -1 : 0;
	copy_node(c->peer, &hello.u.hello);
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
	 * nobody, and the arbiter would then give this backup a domain its
	 * primary never ran (pair.md's race, every time).
	 */
	if (eof) {
		refused_conn("a connection from %s:%s closed after its HELLO; "
			     "waiting for another",
			     p->host, p->serv);
		return -1;
	}
	return 1;
refused:
	refused_conn(
	    "a connection from %s:%s is not a primary of this pair: %s; "
	    "waiting for another",
	    p->host, p->serv, why.msg);
	answer(c, p->tls, why.msg);
	return -1;
}

int chan__accept(struct chan *c, struct logfmt_header *h_r,
		 struct logfmt_record *boot_r)
{
	struct pending *slots[CHAN_PENDING_MAX] = { NULL };
	struct logfmt_record hello;
	struct logfmt_error why;
	int i, rc, won = -1;

	if (listen_on(c))
		return -1;
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
		uint64_t now = now_ns();
		int timeout = 1000;

		pfd[0] =
		    (struct pollfd){ .fd = c->listen_fd, .events = POLLIN };
		for (i = 0; i < CHAN_PENDING_MAX; i++) {
			struct pending *p = slots[i];

			pfd[i + 1] = (struct pollfd){ .fd = -1 };
			if (!p)
				continue;
			if (now >= p->deadline) {
				refused_conn("a connection from %s:%s sent no "
					     "HELLO within %d ms; waiting for "
					     "another",
					     p->host, p->serv,
					     CHAN_HANDSHAKE_MS);
				pending_drop(&slots[i]);
				continue;
			}
			pfd[i + 1].fd = p->fd;
			pfd[i + 1].events =
			    p->authed ? POLLIN : tls__events(p->tls);
			if ((p->deadline - now) / 1000000 + 1 <
			    (uint64_t)timeout)
				timeout =
				    (int)((p->deadline - now) / 1000000 + 1);
			if (p->authed && tls__pending(p->tls))
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
					    tls__pending(slots[i]->tls))))
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
	close(c->listen_fd);
	c->listen_fd = -1;
	if (won < 0)
		return -1;
	/* BOOT's command line points into rx: the opening moves there. */
	memcpy(c->rx, slots[won]->buf, slots[won]->len);
	if (logfmt__decode_opening(c->rx, slots[won]->len, h_r, boot_r, &hello,
				   &why) != 1) {
		pending_drop(&slots[won]);
		return -1;
	}
	c->order = (struct logfmt_order){ 0 };
	logfmt__check_order(&c->order, boot_r, &why);
	logfmt__check_order(&c->order, &hello, &why);
	c->fd = slots[won]->fd;
	c->tls = slots[won]->tls;
	pr_info("primary %s connected from %s:%s%s", c->peer, slots[won]->host,
		slots[won]->serv, c->cfg.creds ? "" : " (plaintext)");
	free(slots[won]);
	/*
	 * The primary waits CHAN_HELLO_S past its own pairing for the
	 * answer: the check ends well before, so an answer never goes to a
	 * primary that gave up.
	 */
	rc = check_unowned(c, now_ns() + CHAN_HELLO_S / 2 * 1000000000ull);
	if (rc) {
		answer(c, c->tls,
		       rc == -EEXIST ? "the arbiter says the pair belongs to "
				       "another node at this epoch"
				     : "this backup cannot reach its arbiter "
				       "to check the pair");
		drop_conn(c);
		return -1;
	}
	return 0;
}

int chan__answer(struct chan *c, const char *refusal)
{
	if (refusal) {
		answer(c, c->tls, refusal);
		drop_conn(c);
		return 0;
	}
	answer(c, c->tls, NULL);
	c->tx_seq = 1;
	/* What the handshake delivered: BOOT and HELLO. */
	c->peer_progress = 0;
	pr_info("paired with primary %s: pair %" PRIu64 " epoch %" PRIu64,
		c->peer, c->cfg.pair, c->cfg.epoch);
	return start_thread(c);
}

/* ---- failure and the arbiter ----------------------------------------------
 */

/*
 * Lock held; the thread's own path. The peer is gone or silent: nothing
 * more is sent or taken from it; ask the arbiter until it answers.
 */
static void peer_failed(struct chan *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void peer_failed(struct chan *c, const char *fmt, ...)
{
	char what[256], owner[ARBITER_NODE_MAX + 1], why[256];
	uint64_t last_said = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->state = CHAN_ASKING;
	c->stats.silent_ns = c->last_rx_ns;
	drop_conn(c);
	pthread_cond_broadcast(&c->cond);
	pr_warn("%s %s: %s; asking the arbiter %s for pair %" PRIu64
		" epoch %" PRIu64,
		peer_role(c), c->peer, what, arbiter__url(c->cfg.arbiter),
		c->cfg.pair, c->cfg.epoch);
	while (!c->stopping) {
		enum arbiter_answer ans;

		pthread_mutex_unlock(&c->lock);
		ans = arbiter__acquire(
		    c->cfg.arbiter, c->cfg.pair, c->cfg.epoch, c->cfg.node,
		    CHAN_ARBITER_TIMEOUT_MS, owner, why, sizeof(why));
		pthread_mutex_lock(&c->lock);
		if (ans == ARBITER_GRANTED) {
			c->state = CHAN_ALONE;
			c->stats.decided_ns = now_ns();
			pr_info("the arbiter gave pair %" PRIu64
				" epoch %" PRIu64 " to this node (%s): %s",
				c->cfg.pair, c->cfg.epoch, c->cfg.node,
				c->cfg.role == LOGFMT_ROLE_PRIMARY
				    ? "running alone, output no longer waits"
				    : "going live once all received is "
				      "replayed");
			break;
		}
		if (ans == ARBITER_DENIED) {
			c->state = CHAN_FENCED;
			c->stats.decided_ns = now_ns();
			pr_err("the arbiter gave pair %" PRIu64
			       " epoch %" PRIu64 " to %s: halting, "
			       "releasing nothing more",
			       c->cfg.pair, c->cfg.epoch, owner);
			break;
		}
		if (!last_said || now_ns() - last_said > 2000000000ull) {
			pr_warn("cannot reach the arbiter %s (%s): not going "
				"on alone; asking again",
				arbiter__url(c->cfg.arbiter), why);
			last_said = now_ns();
		}
		timed_wait(c, CHAN_ARBITER_RETRY_MS);
	}
	c->stats.state = c->state;
	pthread_cond_broadcast(&c->cond);
	if (c->state == CHAN_FENCED && c->cfg.fenced) {
		pthread_mutex_unlock(&c->lock);
		c->cfg.fenced(c->cfg.opaque);
		pthread_mutex_lock(&c->lock);
	}
}

/* ---- the thread -------------------------------------------------------------
 */

/*
 * Lock held: append a record the thread makes itself (PROGRESS, RELEASED;
 * the backup's ACK). The primary's take the next seq of its log.
 */
static bool put_control(struct chan *c, struct logfmt_record *r,
			uint64_t ordinal)
{
	long n;

	if (c->tx_off && c->tx_off == c->tx_len)
		c->tx_off = c->tx_len = 0;
	if (c->tx_off && c->tx_len + LOGFMT_MAX_RECORD > c->tx_cap) {
		memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
		c->tx_len -= c->tx_off;
		c->tx_off = 0;
	}
	r->seq = c->cfg.role == LOGFMT_ROLE_PRIMARY ? c->next_seq : c->tx_seq;
	r->ordinal = ordinal;
	n = logfmt__encode_record(r, c->tx + c->tx_len, c->tx_cap - c->tx_len);
	if (n < 0)
		return false; /* no room: the next round */
	c->tx_len += (size_t)n;
	if (c->cfg.role == LOGFMT_ROLE_PRIMARY) {
		c->tx_total += (uint64_t)n;
		c->seq_ns[c->next_seq % CHAN_SEQ_RING] = now_ns();
		c->seq_end[c->next_seq % CHAN_SEQ_RING] = c->tx_total;
		c->next_seq++;
	} else {
		c->tx_seq++;
	}
	return true;
}

/* Lock held. Sends what it can without blocking; -errno on a dead link. */
static int flush_tx(struct chan *c)
{
	while (c->tx_off < c->tx_len) {
		ssize_t r =
		    tls__send(c->tls, c->tx + c->tx_off, c->tx_len - c->tx_off);

		if (r == -EAGAIN)
			break;
		if (r < 0) {
			errno = (int)-r;
			return (int)r;
		}
		c->tx_off += (size_t)r;
		c->sent_total += (uint64_t)r;
		c->stats.bytes += (uint64_t)r;
		c->last_tx_ns = now_ns();
		pthread_cond_broadcast(&c->cond); /* room in tx */
	}
	if (c->tx_off == c->tx_len)
		c->tx_off = c->tx_len = 0;
	return 0;
}

static uint64_t lag_ns(const struct chan *c, uint64_t now)
{
	uint64_t t;

	if (c->replayed >= c->next_seq)
		return 0;
	t = c->seq_ns[c->replayed % CHAN_SEQ_RING];
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
	uint64_t now = now_ns();
	bool any = false;

	while (c->out_head &&
	       (c->state == CHAN_ALONE || c->out_head->tag <= c->acked)) {
		struct chan_out *o = c->out_head, **head, **tail;

		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		o->next = NULL;
		head = o->frame ? &c->f_head : &c->w_head;
		tail = o->frame ? &c->f_tail : &c->w_tail;
		if (!o->frame)
			pthread_cond_signal(&c->w_cond);
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
	return !c->out_head && !c->w_head && !c->writing && !c->f_head &&
	       !c->sending;
}

/*
 * The writer: released output to out_fd. It writes only while this
 * replica may: paired and hearing its peer (a replica stopped past the
 * timeout writes nothing before the channel thread has asked the arbiter),
 * or alone. A fenced replica's writer drops what it has.
 */
/* One released chunk out: a frame to its sink, console bytes to out_fd. */
static void write_chunk(struct chan *c, const struct chan_out *o)
{
	size_t off = 0;

	if (o->frame) {
		if (c->cfg.frame_out)
			c->cfg.frame_out(c->cfg.frame_opaque, o->data, o->len);
		return;
	}
	while (c->cfg.out_fd >= 0 && off < o->len) {
		ssize_t r = write(c->cfg.out_fd, o->data + off, o->len - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			pr_warn("console output lost: %s", strerror(errno));
			break;
		}
		off += (size_t)r;
	}
	if (c->cfg.out_fd >= 0 && c->cfg.out_tee)
		c->cfg.out_tee(c->cfg.opaque, o->data, o->len);
}

/*
 * Channel thread, lock held, while this replica may let output out: the
 * released frames, in one batch (frame_flush: one system call).
 */
static void send_frames(struct chan *c)
{
	struct chan_out *list = c->f_head, *o, *next;

	if (!list)
		return;
	c->f_head = c->f_tail = NULL;
	c->sending = true;
	pthread_mutex_unlock(&c->lock);
	for (o = list; o; o = o->next)
		write_chunk(c, o);
	if (c->cfg.frame_flush)
		c->cfg.frame_flush(c->cfg.frame_opaque);
	pthread_mutex_lock(&c->lock);
	c->sending = false;
	for (o = list; o; o = next) {
		next = o->next;
		c->out_bytes -= o->len;
		c->stats.released_frames++;
		free(o);
	}
	pthread_cond_broadcast(&c->cond);
}

static void *writer_thread(void *arg)
{
	struct chan *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping && c->state != CHAN_FENCED) {
		struct chan_out *list = c->w_head, *o, *next;
		bool may = c->state == CHAN_ALONE || c->state == CHAN_CLOSED ||
			   (c->state == CHAN_PAIRED &&
			    now_ns() - c->last_rx_ns <=
				c->cfg.timeout_ms * 1000000ull);
		bool console = false;
		struct timespec ts;

		/* Its own condition: the vCPU's wake-ups are not its. */
		if (!list || !may) {
			deadline_after(&ts, list ? 5 : 100);
			pthread_cond_timedwait(&c->w_cond, &c->lock, &ts);
			continue;
		}
		/* All that is released, in one go: one lock round trip. */
		c->w_head = c->w_tail = NULL;
		c->writing = true;
		pthread_mutex_unlock(&c->lock);
		/* Console bytes only: frames are send_frames()'s. */
		for (o = list; o; o = o->next)
			write_chunk(c, o);
		pthread_mutex_lock(&c->lock);
		c->writing = false;
		for (o = list; o; o = next) {
			next = o->next;
			c->out_bytes -= o->len;
			/* Only bytes really out count as released (RELEASED).
			 */
			if (o->frame) {
				c->stats.released_frames++;
			} else {
				c->released += o->len;
				c->stats.released_bytes = c->released;
				console = true;
			}
			free(o);
		}
		/* RELEASED is about console bytes (and the end waits for all).
		 */
		if (console || c->end_sent)
			wake(c);
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void on_ack(struct chan *c, const struct logfmt_record *r)
{
	const struct logfmt_ack *a = &r->u.ack;
	uint64_t now = now_ns(), lag;

	/* Records still in tx cannot have arrived: a lying backup. */
	if (a->received > c->next_seq ||
	    (a->received > c->acked &&
	     c->seq_end[(a->received - 1) % CHAN_SEQ_RING] > c->sent_total)) {
		peer_failed(c,
			    "acknowledged %" PRIu64
			    " records, more than were sent: a broken backup",
			    a->received);
		return;
	}
	if (a->received > c->acked)
		c->ack_moved_ns = now;
	if (a->replayed > c->replayed)
		c->replay_moved_ns = now;
	if (a->received > c->acked)
		c->acked = a->received;
	if (a->replayed > c->replayed)
		c->replayed = a->replayed;
	lag = lag_ns(c, now);
	c->stats.lag_ns = lag;
	if (lag > c->stats.max_lag_ns)
		c->stats.max_lag_ns = lag;
	pthread_cond_broadcast(&c->cond);
}

/* Lock held: the stream ended as it should (step 4). */
static void closed(struct chan *c)
{
	drop_conn(c);
	c->state = CHAN_CLOSED;
	c->stats.state = c->state;
	pthread_cond_broadcast(&c->cond);
}

/* Lock held. Records sent by the peer, from rx; false: the peer failed. */
static bool take_records(struct chan *c);

static bool read_peer(struct chan *c)
{
	for (;;) {
		ssize_t r;

		if (c->rx_off && c->rx_off == c->rx_len)
			c->rx_off = c->rx_len = 0;
		if (c->rx_len == c->rx_cap) {
			memmove(c->rx, c->rx + c->rx_off,
				c->rx_len - c->rx_off);
			c->rx_len -= c->rx_off;
			c->rx_off = 0;
		}
		if (c->rx_len == c->rx_cap) /* cannot be: records fit */
			break;
		/* The backup stops reading while its queue is full. */
		if (c->cfg.role == LOGFMT_ROLE_BACKUP &&
		    c->q_len - c->q_off >= CHAN_QUEUE_MAX)
			break;
		r = tls__recv(c->tls, c->rx + c->rx_len, c->rx_cap - c->rx_len);
		if (r == -EAGAIN)
			break;
		if (r < 0)
			errno = (int)-r;
		/*
		 * Step 4: the primary's last word, then its close; or, once
		 * the primary has closed its side, however the backup goes.
		 */
		if (r <= 0 &&
		    ((c->cfg.role == LOGFMT_ROLE_BACKUP && c->peer_closed &&
		      !r) ||
		     (c->cfg.role == LOGFMT_ROLE_PRIMARY && c->shut_wr))) {
			closed(c);
			return false;
		}
		if (r < 0) {
			peer_failed(c, "connection lost (%s)", strerror(errno));
			return false;
		}
		if (r == 0) {
			peer_failed(c, "connection closed");
			return false;
		}
		c->rx_len += (size_t)r;
		c->last_rx_ns = now_ns();
		if (!take_records(c))
			return false;
	}
	return true;
}

/*
 * Backup, lock held: the primary let out @out_bytes of console output in
 * all: what it had replayed up to there needs no re-emitting.
 */
static void peer_released(struct chan *c, uint64_t out_bytes)
{
	uint64_t drop;

	if (out_bytes <= c->peer_released)
		return;
	c->peer_released = out_bytes;
	if (c->peer_released > c->tail_start) {
		drop = c->peer_released - c->tail_start;
		if (drop > c->tail_len)
			drop = c->tail_len;
		memmove(c->tail, c->tail + drop, c->tail_len - drop);
		c->tail_len -= drop;
		c->tail_start += drop;
	}
}

/* Backup, lock held: one record from the primary, checked and decoded. */
static bool take_primary_record(struct chan *c, const uint8_t *raw, size_t n,
				const struct logfmt_record *r)
{
	struct logfmt_error e;

	if (logfmt__check_order(&c->order, r, &e)) {
		peer_failed(c, "the stream broke the log's order (%s)", e.msg);
		return false;
	}
	c->stats.records++;
	c->stats.bytes += n;
	switch (r->type) {
	case LOGFMT_PROGRESS:
		if (r->u.progress.next_ordinal > c->peer_progress)
			c->peer_progress = r->u.progress.next_ordinal;
		break;
	case LOGFMT_RELEASED:
		peer_released(c, r->u.released.out_bytes);
		/* After END, all of END's output released: the last word. */
		if (c->got_end && r->u.released.out_bytes == c->end_out_bytes)
			c->peer_closed = true;
		break;
	case LOGFMT_HANDOVER:
		/*
		 * pvft promote: the primary stopped, has every record acked
		 * and all output out, and lets this replica take over now
		 * rather than after the timeout. The arbiter still decides.
		 */
		peer_released(c, r->u.released.out_bytes);
		c->handed_over = true;
		peer_failed(c, "handed the pair over (pvft promote)");
		return false;
	case LOGFMT_HELLO:
	case LOGFMT_ACK:
		peer_failed(c, "the primary sent a %s record",
			    logfmt__type_name(r->type));
		return false;
	default:
		if (r->type & LOGFMT_TYPE_OPTIONAL)
			break;
		if (c->q_off && c->q_off == c->q_len)
			c->q_off = c->q_len = 0;
		if (c->q_len + n > c->q_cap) {
			memmove(c->q, c->q + c->q_off, c->q_len - c->q_off);
			c->q_len -= c->q_off;
			c->q_off = 0;
		}
		memcpy(c->q + c->q_len, raw, n);
		c->q_len += n;
		/* Records come in ordinal order: all before this are here. */
		if (r->ordinal > c->peer_progress)
			c->peer_progress = r->ordinal;
		if (r->type == LOGFMT_END) {
			c->got_end = true;
			c->end_out_bytes = r->u.end.v.out_bytes;
			c->end_rx_ns = now_ns();
		}
		break;
	}
	return true;
}

static bool take_records(struct chan *c)
{
	bool any = false;

	while (c->rx_off < c->rx_len) {
		struct logfmt_record r;
		struct logfmt_error e;
		long n = logfmt__decode_record(c->rx + c->rx_off,
					       c->rx_len - c->rx_off, &r, &e);

		if (n == 0)
			break;
		if (n < 0) {
			peer_failed(c, "a bad record from it (%s)", e.msg);
			return false;
		}
		if (c->cfg.role == LOGFMT_ROLE_BACKUP) {
			if (!take_primary_record(c, c->rx + c->rx_off,
						 (size_t)n, &r))
				return false;
			/* Room for the rest? Reading stops when full. */
			if (c->q_len - c->q_off >= CHAN_QUEUE_MAX) {
				c->rx_off += (size_t)n;
				any = true;
				break;
			}
		} else {
			if (r.seq != c->tx_seq) {
				peer_failed(c,
					    "its record %" PRIu64
					    " came as %" PRIu64,
					    c->tx_seq, r.seq);
				return false;
			}
			c->tx_seq++;
			if (r.type == LOGFMT_ACK) {
				on_ack(c, &r);
				if (c->state != CHAN_PAIRED)
					return false;
			} else if (!(r.type & LOGFMT_TYPE_OPTIONAL) ||
				   r.type == LOGFMT_HELLO) {
				peer_failed(c, "the backup sent a %s record",
					    logfmt__type_name(r.type));
				return false;
			}
		}
		c->rx_off += (size_t)n;
		any = true;
	}
	if (any)
		pthread_cond_broadcast(&c->cond);
	return true;
}

/* Backup, lock held: what it has replayed, as a seq count. */
static uint64_t replayed_count(struct chan *c)
{
	struct logfmt_record r;
	struct logfmt_error e;

	if (c->q_off == c->q_len)
		return c->order.next_seq;
	if (logfmt__decode_record(c->q + c->q_off, c->q_len - c->q_off, &r,
				  &e) <= 0)
		return c->order.next_seq;
	return r.seq;
}

/* Lock held: the records the thread itself sends this round. */
static void queue_control(struct chan *c, uint64_t now)
{
	struct logfmt_record r;
	bool heartbeat =
	    now - c->last_tx_ns >= c->cfg.heartbeat_ms * 1000000ull;

	if (c->cfg.role == LOGFMT_ROLE_BACKUP) {
		uint64_t rp = replayed_count(c);

		if (c->order.next_seq != c->acked_sent ||
		    rp != c->replayed_sent || heartbeat) {
			r = (struct logfmt_record){ .type = LOGFMT_ACK };
			r.u.ack.received = c->order.next_seq;
			r.u.ack.replayed = rp;
			if (put_control(c, &r, 0)) {
				c->acked_sent = r.u.ack.received;
				c->replayed_sent = rp;
			}
		}
		return;
	}
	if (c->shut_wr)
		return;
	/*
	 * pvft promote: the vCPU stopped; once the backup has every record
	 * it made and all their output is out, HANDOVER is the last word.
	 */
	if (c->handover_req && !c->final_sent && c->acked >= c->handover_seq &&
	    output_done(c)) {
		r = (struct logfmt_record){ .type = LOGFMT_HANDOVER };
		r.u.released.out_bytes = c->released;
		if (put_control(c, &r, c->last_ordinal)) {
			c->released_sent = c->released;
			c->final_sent = true;
		}
		return;
	}
	/* The last word: END acknowledged, all its output out. */
	if (c->end_sent && c->acked > c->end_seq && output_done(c) &&
	    !c->final_sent) {
		r = (struct logfmt_record){ .type = LOGFMT_RELEASED };
		r.u.released.out_bytes = c->released;
		if (put_control(c, &r, c->last_ordinal)) {
			c->released_sent = c->released;
			c->final_sent = true;
		}
		return;
	}
	if (c->released != c->released_sent) {
		r = (struct logfmt_record){ .type = LOGFMT_RELEASED };
		r.u.released.out_bytes = c->released;
		if (put_control(c, &r, c->last_ordinal))
			c->released_sent = c->released;
	}
	if (__atomic_load_n(&c->progress, __ATOMIC_ACQUIRE) >
		c->progress_sent ||
	    heartbeat) {
		/* Acquire: the records of the exits before it are in tx. */
		uint64_t p = __atomic_load_n(&c->progress, __ATOMIC_ACQUIRE);

		r = (struct logfmt_record){ .type = LOGFMT_PROGRESS };
		r.u.progress.next_ordinal = p;
		if (put_control(c, &r, c->last_ordinal))
			c->progress_sent = p;
	}
}

/*
 * Primary, lock held: liveness is progress, not heartbeats. A backup that
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
	uint64_t replay_bound = 2 * timeout + c->cfg.max_lag_ms * 1000000ull;

	bool unacked = c->acked < c->next_seq &&
		       c->seq_end[c->acked % CHAN_SEQ_RING] <= c->sent_total;

	if (!unacked)
		c->ack_moved_ns = now;
	if (!c->throttling || c->replayed >= c->next_seq)
		c->replay_moved_ns = now;
	if (now - c->ack_moved_ns > timeout) {
		*ms_r = (now - c->ack_moved_ns) / 1000000;
		return "acknowledged none of the records it was sent";
	}
	if (now - c->replay_moved_ns > replay_bound) {
		*ms_r = (now - c->replay_moved_ns) / 1000000;
		return "replayed nothing while the guest waited for it";
	}
	return NULL;
}

/* Lock held: the vCPU waits for the backup (a stall's clock starts). */
static void hold_begin(struct chan *c)
{
	if (!c->throttling) {
		c->throttling = true;
		c->replay_moved_ns = now_ns();
	}
}

static void *chan_thread(void *arg)
{
	struct chan *c = arg;
	bool backup = c->cfg.role == LOGFMT_ROLE_BACKUP;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		uint64_t now = now_ns(),
			 timeout = c->cfg.timeout_ms * 1000000ull;
		struct pollfd pfd[2] = { { .fd = c->wake_fd, .events = POLLIN },
					 { .fd = -1 } };
		int wait_ms = (int)c->cfg.heartbeat_ms / 2 + 1;
		const char *stall;
		uint64_t junk, stall_ms = 0;

		if (c->state == CHAN_ALONE && !backup) {
			release_output(c);
			send_frames(c);
		} else if (c->state == CHAN_PAIRED) {
			/* Not reading by choice is no silence of the peer. */
			if (backup && c->q_len - c->q_off >= CHAN_QUEUE_MAX)
				c->last_rx_ns = now;
			/*
			 * Once HANDOVER is out this replica gave the pair
			 * away: it never asks for it back. A backup that did
			 * not get it times out and asks the arbiter itself.
			 */
			if (!backup && c->final_sent && c->handover_req &&
			    now - c->last_rx_ns > timeout) {
				closed(c);
				continue;
			}
			/*
			 * Checked before anything is read: a replica that was
			 * stopped (SIGSTOP, a long stall) past the timeout
			 * must not act on acks that are by now stale.
			 */
			if (now - c->last_rx_ns > timeout) {
				peer_failed(c, "silent for %" PRIu64 " ms",
					    (now - c->last_rx_ns) / 1000000);
				continue;
			}
			stall =
			    backup ? NULL
				   : backup_stalled(c, now, timeout, &stall_ms);
			if (stall && !c->final_sent) {
				peer_failed(c,
					    "%s for %" PRIu64
					    " ms (acknowledged %" PRIu64
					    ", replayed %" PRIu64 " of %" PRIu64
					    ")",
					    stall, stall_ms, c->acked,
					    c->replayed, c->next_seq);
				continue;
			}
			/* A primary that says END must close soon after. */
			if (backup && c->got_end && !c->peer_closed &&
			    now - c->end_rx_ns > 20 * timeout + 5000000000ull) {
				peer_failed(c,
					    "no close %" PRIu64 " ms after its "
					    "END",
					    (now - c->end_rx_ns) / 1000000);
				continue;
			}
			if (!backup)
				release_output(c);
			queue_control(c, now);
			if (flush_tx(c)) {
				if (!backup && c->shut_wr)
					closed(c);
				else
					peer_failed(c, "connection lost (%s)",
						    strerror(errno));
				continue;
			}
			if (!backup)
				send_frames(c);
			/* Step 4: the last word is out: close our side. */
			if (!backup && c->final_sent && c->tx_len == 0 &&
			    !c->shut_wr) {
				tls__shutdown_write(c->tls);
				c->shut_wr = true;
			}
			/*
			 * A backup with a full queue reads nothing: the primary
			 * waits on TCP's window, and a close or reset is seen
			 * once the vCPU has made room (what is unread was never
			 * acknowledged).
			 */
			if (!backup || c->q_len - c->q_off < CHAN_QUEUE_MAX)
				pfd[1].events = POLLIN;
			if (c->tx_len > c->tx_off)
				pfd[1].events |= POLLOUT;
			if (pfd[1].events)
				pfd[1].fd = c->fd;
		} else if (c->state != CHAN_ALONE || backup) {
			break;
		}
		if (pfd[1].fd >= 0 && (pfd[1].events & POLLIN) &&
		    tls__pending(c->tls))
			wait_ms = 0;
		c->sleeping = true;
		pthread_mutex_unlock(&c->lock);
		if (poll(pfd, 2, wait_ms) > 0 && (pfd[0].revents & POLLIN) &&
		    read(c->wake_fd, &junk, sizeof(junk)) < 0)
			junk = 0;
		pthread_mutex_lock(&c->lock);
		c->sleeping = false;
		/* Bytes TLS decrypted already wait in it, not in the socket. */
		if (c->state != CHAN_PAIRED || pfd[1].fd < 0 ||
		    !(pfd[1].events & POLLIN) ||
		    (!pfd[1].revents && !tls__pending(c->tls)) ||
		    now_ns() - c->last_rx_ns > timeout)
			continue;
		read_peer(c);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- primary, vCPU thread --------------------------------------------------
 */

int chan__append(struct chan *c, struct logfmt_record *rec)
{
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
		if (c->tx_len - c->tx_off + need <= CHAN_TX_MAX &&
		    c->next_seq - c->replayed < CHAN_SEQ_RING - 64)
			break;
		hold_begin(c);
		timed_wait(c, 100);
	}
	c->throttling = false;
	if (c->tx_off && c->tx_len + need > c->tx_cap) {
		memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
		c->tx_len -= c->tx_off;
		c->tx_off = 0;
	}
	rec->seq = c->next_seq;
	n = logfmt__encode_record(rec, c->tx + c->tx_len,
				  c->tx_cap - c->tx_len);
	if (n > 0) {
		c->tx_total += (uint64_t)n;
		c->seq_ns[c->next_seq % CHAN_SEQ_RING] = now_ns();
		c->seq_end[c->next_seq % CHAN_SEQ_RING] = c->tx_total;
		c->next_seq++;
		c->tx_len += (size_t)n;
		if (rec->ordinal > c->last_ordinal)
			c->last_ordinal = rec->ordinal;
		c->stats.records++;
		if (rec->type == LOGFMT_END) {
			c->end_sent = true;
			c->end_seq = rec->seq;
		}
		/*
		 * The thread sends at least every heartbeat/2 anyway: poke it
		 * only when output waits on these records' acks, when much is
		 * queued, or at the end. A wake-up per record costs the host
		 * more than the record itself.
		 */
		if (c->tx_len - c->tx_off > 65536 || rec->type == LOGFMT_END)
			wake(c);
		else if (c->out_head)
			__atomic_store_n(&c->out_wake, true, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void chan__progress(struct chan *c, uint64_t ordinal)
{
	/* Release: the records appended before are in tx for whoever sees it.
	 */
	if (ordinal > __atomic_load_n(&c->progress, __ATOMIC_RELAXED))
		__atomic_store_n(&c->progress, ordinal, __ATOMIC_RELEASE);
}

static void hold(struct chan *c, bool frame, const void *buf, size_t len)
{
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
	o->made_ns = now_ns();
	memcpy(o->data, buf, len);
	pthread_mutex_lock(&c->lock);
	while ((c->state == CHAN_PAIRED || c->state == CHAN_ASKING) &&
	       c->out_bytes + len > CHAN_OUT_MAX) {
		/* Room comes with acks: the records must go out now. */
		hold_begin(c);
		wake(c);
		timed_wait(c, 100);
	}
	c->throttling = false;
	if (c->state == CHAN_FENCED) {
		pthread_mutex_unlock(&c->lock);
		free(o);
		return;
	}
	/* Every record appended so far comes before these bytes. */
	o->tag = c->next_seq;
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	c->out_bytes += len;
	/*
	 * Its records go out at the end of this exit (chan__kick): the
	 * sooner acked, the sooner released; one wake-up for the exit's
	 * whole batch.
	 */
	__atomic_store_n(&c->out_wake, true, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->lock);
}

void chan__kick(struct chan *c)
{
	if (!__atomic_load_n(&c->out_wake, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&c->lock);
	c->out_wake = false;
	wake(c);
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
	uint64_t now = 0, lag = 0;
	bool wait;

	/*
	 * Once per guest entry: one lock, and a clock read only with
	 * records the backup has not replayed yet.
	 */
	pthread_mutex_lock(&c->lock);
	if (c->state == CHAN_PAIRED && c->replayed < c->next_seq) {
		now = now_ns();
		lag = lag_ns(c, now);
	}
	wait = c->state == CHAN_PAIRED && lag > c->cfg.max_lag_ms * 1000000ull;
	if (wait) {
		if (!c->throttle_said ||
		    now - c->throttle_said > 5000000000ull) {
			pr_info(
			    "the backup lags %.1f ms (more than --max-lag-ms "
			    "%u): holding the guest until it catches up",
			    lag / 1e6, c->cfg.max_lag_ms);
			c->throttle_said = now;
		}
		hold_begin(c);
		timed_wait(c, wait_ms);
		c->stats.throttled_ns += now_ns() - now;
	} else {
		c->throttling = false;
	}
	*state_r = c->state;
	pthread_mutex_unlock(&c->lock);
	return wait;
}

int chan__finish(struct chan *c)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	c->throttling = false; /* the guest ended: no longer held */
	wake(c);
	while (c->state == CHAN_PAIRED || c->state == CHAN_ASKING ||
	       (c->state == CHAN_ALONE && !output_done(c))) {
		wake(c);
		timed_wait(c, 100);
	}
	rc = c->state == CHAN_FENCED ? -1 : 0;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

bool chan__handed_over(struct chan *c)
{
	bool yes;

	pthread_mutex_lock(&c->lock);
	yes = c->cfg.role == LOGFMT_ROLE_PRIMARY
		  ? c->handover_req && c->final_sent
		  : c->handed_over;
	pthread_mutex_unlock(&c->lock);
	return yes;
}

int chan__handover(struct chan *c)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	if (c->state != CHAN_PAIRED || c->end_sent) {
		pthread_mutex_unlock(&c->lock);
		return -1;
	}
	c->handover_req = true;
	c->handover_seq = c->next_seq;
	c->throttling = false; /* the vCPU stopped to hand over */
	wake(c);
	while (c->state == CHAN_PAIRED || c->state == CHAN_ASKING) {
		wake(c);
		timed_wait(c, 100);
	}
	/* Closed with HANDOVER out: given away. Else the backup failed. */
	rc = c->state == CHAN_CLOSED && c->final_sent ? 0 : -1;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---- backup, vCPU thread ----------------------------------------------------
 */

enum chan_next chan__next(struct chan *c, uint64_t exits, uint8_t *buf,
			  size_t cap, struct logfmt_record *rec,
			  unsigned int wait_ms)
{
	enum chan_next ret = CHAN_NEXT_WAIT;
	struct logfmt_error e;
	int round;

	pthread_mutex_lock(&c->lock);
	for (round = 0; round < 2; round++) {
		if (c->state == CHAN_FENCED) {
			ret = CHAN_NEXT_FENCED;
			break;
		}
		if (c->q_off < c->q_len) {
			long n = logfmt__decode_record(
			    c->q + c->q_off, c->q_len - c->q_off, rec, &e);

			/* Checked on receipt: cannot fail here. */
			if (n <= 0 || (size_t)n > cap) {
				ret = CHAN_NEXT_FENCED;
				break;
			}
			memcpy(buf, c->q + c->q_off, (size_t)n);
			logfmt__decode_record(buf, (size_t)n, rec, &e);
			c->q_off += (size_t)n;
			if (c->q_off == c->q_len) {
				c->q_off = c->q_len = 0;
				wake(c); /* caught up: say so in an ACK */
			}
			ret = CHAN_NEXT_RECORD;
			break;
		}
		if (c->peer_progress > exits || c->state == CHAN_CLOSED) {
			ret = CHAN_NEXT_NONE;
			break;
		}
		if (c->state == CHAN_ALONE) {
			ret = CHAN_NEXT_LIVE;
			break;
		}
		if (round == 0)
			timed_wait(c, wait_ms);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void chan__replayed_output(struct chan *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t skip = 0;

	pthread_mutex_lock(&c->lock);
	while (c->state == CHAN_PAIRED && c->tail_len + len > CHAN_OUT_MAX)
		timed_wait(c, 100);
	if (c->peer_released > c->out_total)
		skip = c->peer_released - c->out_total;
	if (skip > len)
		skip = len;
	if (!c->tail_len)
		c->tail_start = c->out_total + skip;
	if (len > skip) {
		size_t add = len - (size_t)skip;

		if (c->tail_len + add > c->tail_cap) {
			size_t cap = c->tail_cap;
			uint8_t *t;

			while (cap < c->tail_len + add)
				cap *= 2;
			t = realloc(c->tail, cap);
			if (!t) {
				pr_warn("replayed console output not kept: out "
					"of memory");
				goto out;
			}
			c->tail = t;
			c->tail_cap = cap;
		}
		memcpy(c->tail + c->tail_len, p + skip, add);
		c->tail_len += add;
	}
out:
	c->out_total += len;
	pthread_mutex_unlock(&c->lock);
}

uint64_t chan__emit_tail(struct chan *c)
{
	uint64_t n;
	size_t off = 0;
	uint8_t *tee = NULL;

	pthread_mutex_lock(&c->lock);
	n = c->tail_len;
	while (c->cfg.out_fd >= 0 && off < c->tail_len) {
		ssize_t r =
		    write(c->cfg.out_fd, c->tail + off, c->tail_len - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			pr_warn("console output lost: %s", strerror(errno));
			break;
		}
		off += (size_t)r;
	}
	/* Viewers see it too, outside the lock (they take their own). */
	if (off && c->cfg.out_tee) {
		tee = malloc(off);
		if (tee)
			memcpy(tee, c->tail, off);
	}
	c->tail_start += c->tail_len;
	c->tail_len = 0;
	pthread_mutex_unlock(&c->lock);
	if (tee) {
		c->cfg.out_tee(c->cfg.opaque, tee, off);
		free(tee);
	}
	return n;
}

int chan__finish_backup(struct chan *c)
{
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	while (c->state == CHAN_PAIRED || c->state == CHAN_ASKING)
		timed_wait(c, 100);
	if (c->state == CHAN_FENCED)
		rc = -1;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---- both
 * -------------------------------------------------------------------- */

bool chan__held(struct chan *c)
{
	bool held;

	pthread_mutex_lock(&c->lock);
	held = c->throttling && c->state == CHAN_PAIRED;
	pthread_mutex_unlock(&c->lock);
	return held;
}

enum chan_state chan__state(struct chan *c)
{
	enum chan_state s;

	pthread_mutex_lock(&c->lock);
	s = c->state;
	pthread_mutex_unlock(&c->lock);
	return s;
}

void chan__get_stats(struct chan *c, struct chan_stats *s)
{
	pthread_mutex_lock(&c->lock);
	*s = c->stats;
	s->state = c->state;
	if (c->cfg.role == LOGFMT_ROLE_PRIMARY) {
		s->acked = c->acked;
		s->replayed = c->replayed;
		s->lag_ns = lag_ns(c, now_ns());
		s->held = c->throttling && c->state == CHAN_PAIRED;
	} else {
		s->acked = c->order.next_seq;
		s->replayed = replayed_count(c);
	}
	pthread_mutex_unlock(&c->lock);
}

void chan__peer(struct chan *c, char *buf, size_t len)
{
	pthread_mutex_lock(&c->lock);
	snprintf(buf, len, "%s", c->peer);
	pthread_mutex_unlock(&c->lock);
}
