// SPDX-License-Identifier: MIT
/*
 * The log channel: chan.h says who does what; this file holds its life
 * (set-up, the channel thread, failure), primary.c and backup.c each
 * role's part. The protocol, in order:
 *
 *   0. Each side asks the pair policy (the arbiter) whether (pair id,
 *      epoch) already has an owner (a stale replica); one has: neither
 *      pairs.
 *   1. The backup listens; the primary connects, and the two do a TLS
 *      1.3 handshake (transport.c over lib/tls.c: the domain's PSK, or
 *      x509) before any byte of the stream; then the primary sends the
 *      log header (LOGFMT_F_STREAM), BOOT (seq 0) and HELLO (seq 1: role,
 *      node id). The backup hears out many connections at once, each
 *      within a deadline; one that fails the handshake is closed
 *      unanswered.
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
 *      nothing it owes (backup_stalled() in primary.c), is a failed peer:
 *      ask the policy (step 5).
 *   5. The policy's test-and-set on (pair id, epoch) with this node id.
 *      Granted: go on alone (the primary releases its output without
 *      acks; the backup replays what it has and goes live). Denied: halt,
 *      releasing nothing more. No answer: say so, wait, ask again; never
 *      act alone.
 *
 * Steps 0-2 run on the thread that pairs (pvft-hv's main thread), 3-5 on
 * the channel thread (chan_thread() below), which owns the link.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "chan-internal.h"
#include "clock.h"
#include "log.h"
#include "transport.h"

void chan_deadline_after(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000l;
	if (ts->tv_nsec >= 1000000000l) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000l;
	}
}

void chan_timed_wait(struct chan *c, unsigned int ms)
{
	struct timespec ts;

	chan_deadline_after(&ts, ms);
	pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

/* Lock held. The thread only needs a poke when it sleeps in poll(). */
void chan_wake(struct chan *c)
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
		[CHAN_MOVING] = "moving",
	};

	return (unsigned int)s < sizeof(names) / sizeof(names[0]) ? names[s]
								  : "?";
}

static const char *peer_role(const struct chan *c)
{
	return chan_is_primary(c) ? "backup" : "primary";
}

/* ---- set-up -------------------------------------------------------------- */

int chan__init(struct chan *c, const struct chan_config *cfg)
{
	pthread_condattr_t a;
	int rc;

	/* Whoever loses its peer must have someone to ask. */
	if (!cfg->policy || !cfg->policy->decide || !cfg->policy->name)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->state = CHAN_IDLE;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &a);
	pthread_condattr_destroy(&a);
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* The primary keeps its records until acked (a move resends them). */
	rc = stream__init(&c->stream,
			  (chan_is_primary(c) ? CHAN_RETAIN_MAX : CHAN_TX_MAX) +
			      LOGFMT_MAX_RECORD,
			  CHAN_RX_CAP);
	if (!rc)
		rc = chan_is_primary(c) ? primary__init(c) : backup__init(c);
	if (c->wake_fd < 0 || rc) {
		chan__dispose(c);
		return -ENOMEM;
	}
	return 0;
}

void chan__dispose(struct chan *c)
{
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	chan_wake(c);
	pthread_cond_broadcast(&c->cond);
	if (c->pri)
		pthread_cond_broadcast(&c->pri->w_cond);
	pthread_mutex_unlock(&c->lock);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	c->thread_started = false;
	/* The role's own threads (the primary's writer) end there too. */
	if (c->pri)
		primary__dispose(c);
	if (c->bak)
		backup__dispose(c);
	stream__dispose(&c->stream);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	c->wake_fd = -1;
}

void chan_hello(struct chan *c, struct logfmt_record *r, const char *refusal)
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

void chan_copy_node(char *dst, const struct logfmt_hello *h)
{
	memcpy(dst, h->node, h->node_len);
	dst[h->node_len] = '\0';
}

/*
 * Pairing asks the policy first: a (pair, epoch) it already gave to a
 * node was failed over; a replica of it starting afresh would run a blank
 * domain under the name of one whose state lives on elsewhere
 * (pair.md, "Stale replicas").
 */
int chan_check_owner(struct chan *c, uint64_t deadline_ns)
{
	const struct chan_policy *p = c->cfg.policy;

	if (!p || !p->check_owner)
		return 0;
	return p->check_owner(c->cfg.policy_opaque, c->cfg.pair, c->cfg.epoch,
			      deadline_ns);
}

static void *chan_thread(void *arg);

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

int chan_start(struct chan *c)
{
	int r;

	/* A joining primary starts by dialing its backup (chan__join). */
	if (c->state != CHAN_MOVING)
		c->state = CHAN_PAIRED;
	c->stats.state = c->state;
	c->stats.paired_ns = c->stream.last_rx_ns = c->stream.last_tx_ns =
	    clock__mono_ns();
	if (c->pri)
		c->pri->ack_moved_ns = c->pri->replay_moved_ns =
		    c->stats.paired_ns;
	r = spawn(&c->thread, chan_thread, c);
	if (!r)
		c->thread_started = true;
	if (!r && c->pri) {
		r = spawn(&c->pri->writer, primary__writer, c);
		c->pri->writer_started = !r;
	}
	if (r) {
		pr_err("log channel: cannot start its threads: %s",
		       strerror(-r));
		return -1;
	}
	return 0;
}

/* ---- failure and the pair policy ------------------------------------------
 */

void chan_peer_failed(struct chan *c, const char *fmt, ...)
{
	const struct chan_policy *p = c->cfg.policy;
	void *opaque = c->cfg.policy_opaque;
	char what[256], owner[LOGFMT_HELLO_NODE_MAX + 1], why[256];
	uint64_t last_said = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->state = CHAN_ASKING;
	c->stats.silent_ns = c->stream.last_rx_ns;
	stream__close(&c->stream);
	pthread_cond_broadcast(&c->cond);
	pr_warn("%s %s: %s; asking the arbiter %s for pair %" PRIu64
		" epoch %" PRIu64,
		peer_role(c), c->peer, what, p->name(opaque), c->cfg.pair,
		c->cfg.epoch);
	while (!c->stopping) {
		enum chan_verdict v;

		owner[0] = why[0] = '\0';
		pthread_mutex_unlock(&c->lock);
		v = p->decide(opaque, c->cfg.pair, c->cfg.epoch, c->cfg.node,
			      owner, sizeof(owner), why, sizeof(why));
		pthread_mutex_lock(&c->lock);
		if (v == CHAN_VERDICT_ALONE) {
			c->state = CHAN_ALONE;
			c->stats.decided_ns = clock__mono_ns();
			pr_info("the arbiter gave pair %" PRIu64
				" epoch %" PRIu64 " to this node (%s): %s",
				c->cfg.pair, c->cfg.epoch, c->cfg.node,
				chan_is_primary(c)
				    ? "running alone, output no longer waits"
				    : "going live once all received is "
				      "replayed");
			break;
		}
		if (v == CHAN_VERDICT_FENCED) {
			c->state = CHAN_FENCED;
			c->stats.decided_ns = clock__mono_ns();
			pr_err("the arbiter gave pair %" PRIu64
			       " epoch %" PRIu64 " to %s: halting, "
			       "releasing nothing more",
			       c->cfg.pair, c->cfg.epoch, owner);
			break;
		}
		if (!last_said ||
		    clock__mono_ns() - last_said > 2000000000ull) {
			pr_warn("cannot reach the arbiter %s (%s): not going "
				"on alone; asking again",
				p->name(opaque), why);
			last_said = clock__mono_ns();
		}
		chan_timed_wait(c, CHAN_DECIDE_RETRY_MS);
	}
	c->stats.state = c->state;
	pthread_cond_broadcast(&c->cond);
	if (c->state == CHAN_FENCED && c->cfg.fenced) {
		pthread_mutex_unlock(&c->lock);
		c->cfg.fenced(c->cfg.opaque);
		pthread_mutex_lock(&c->lock);
	}
}

void chan_closed(struct chan *c)
{
	stream__close(&c->stream);
	c->state = CHAN_CLOSED;
	c->stats.state = c->state;
	pthread_cond_broadcast(&c->cond);
}

/* ---- the thread -------------------------------------------------------------
 */

/* Lock held. Records sent by the peer, from rx; false: the peer failed. */
static bool take_records(struct chan *c)
{
	struct stream *s = &c->stream;
	bool any = false;

	for (;;) {
		struct logfmt_record r;
		struct logfmt_error e;
		long n = stream__peek(s, &r, &e);

		if (n == 0)
			break;
		if (n < 0) {
			chan_peer_failed(c, "a bad record from it (%s)", e.msg);
			return false;
		}
		if (c->bak) {
			if (!backup__take(c, s->rx + s->rx_off, (size_t)n, &r))
				return false;
			/* Room for the rest? Reading stops when full. */
			if (backup__queue_full(c)) {
				stream__consume(s, (size_t)n);
				any = true;
				break;
			}
		} else if (!primary__take(c, &r)) {
			return false;
		}
		stream__consume(s, (size_t)n);
		any = true;
	}
	if (any)
		pthread_cond_broadcast(&c->cond);
	return true;
}

static void read_peer(struct chan *c)
{
	for (;;) {
		ssize_t r;

		/* The backup stops reading while its queue is full. */
		if (c->bak && backup__queue_full(c))
			break;
		r = stream__fill(&c->stream);
		if (r == -EAGAIN)
			break;
		/*
		 * Step 4: the primary's last word, then its close; or, once
		 * the primary has closed its side, however the backup goes.
		 */
		if (r <= 0 && ((c->bak && c->bak->peer_closed && !r) ||
			       (c->pri && c->pri->shut_wr))) {
			chan_closed(c);
			return;
		}
		if (r < 0) {
			chan_peer_failed(c, "connection lost (%s)",
					 strerror((int)-r));
			return;
		}
		if (r == 0) {
			chan_peer_failed(c, "connection closed");
			return;
		}
		c->stream.rx_len += (size_t)r;
		c->stream.last_rx_ns = clock__mono_ns();
		if (!take_records(c))
			return;
	}
}

static void *chan_thread(void *arg)
{
	struct chan *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		uint64_t now = clock__mono_ns(),
			 timeout = c->cfg.timeout_ms * 1000000ull;
		struct pollfd pfd[2] = { { .fd = c->wake_fd, .events = POLLIN },
					 { .fd = -1 } };
		int wait_ms = (int)c->cfg.heartbeat_ms / 2 + 1;
		uint64_t junk;

		if (c->state == CHAN_ALONE && c->pri) {
			primary__round_alone(c);
		} else if (c->state == CHAN_MOVING && c->pri) {
			if (primary__round_moving(c, now) < 0)
				continue;
		} else if (c->state == CHAN_PAIRED ||
			   (c->state == CHAN_MOVING && c->bak)) {
			int events = c->pri ? primary__round(c, now)
					    : backup__round(c, now);

			if (events < 0)
				continue;
			if (events) {
				pfd[1].fd = c->stream.t->fd;
				pfd[1].events = (short)events;
			}
		} else if (c->state != CHAN_ALONE || c->bak) {
			break;
		}
		if (pfd[1].fd >= 0 && (pfd[1].events & POLLIN) &&
		    transport__pending(c->stream.t))
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
		    (!pfd[1].revents && !transport__pending(c->stream.t)) ||
		    clock__mono_ns() - c->stream.last_rx_ns > timeout)
			continue;
		read_peer(c);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- both roles -------------------------------------------------------------
 */

bool chan__held(struct chan *c)
{
	bool held;

	pthread_mutex_lock(&c->lock);
	held = c->pri && c->pri->throttling && c->state == CHAN_PAIRED;
	pthread_mutex_unlock(&c->lock);
	return held;
}

bool chan__handed_over(struct chan *c)
{
	bool yes;

	pthread_mutex_lock(&c->lock);
	yes = c->pri ? c->pri->handover_req && c->pri->final_sent
		     : c->bak->handed_over;
	pthread_mutex_unlock(&c->lock);
	return yes;
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
	if (c->pri) {
		s->acked = c->pri->acked;
		s->replayed = c->pri->replayed;
		s->lag_ns = primary__lag_ns(c, clock__mono_ns());
		s->held = c->pri->throttling && c->state == CHAN_PAIRED;
	} else {
		s->acked = c->bak->order.next_seq;
		s->replayed = backup__replayed_count(c);
	}
	pthread_mutex_unlock(&c->lock);
}

void chan__peer(struct chan *c, char *buf, size_t len)
{
	pthread_mutex_lock(&c->lock);
	snprintf(buf, len, "%s", c->peer);
	pthread_mutex_unlock(&c->lock);
}
