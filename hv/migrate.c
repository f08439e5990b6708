// SPDX-License-Identifier: MIT
/*
 * Save, restore and live migration: migrate.h says what and why; the
 * stream is Documentation/migration-stream.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t's size: the output hash's \
				   state */
#include <xxhash.h>

#include "clock.h"
#include "cpuid.h"
#include "device.h"
#include "digest.h"
#include "domain.h"
#include "guestmem.h"
#include "hostport.h"
#include "io.h"
#include "log.h"
#include "migrate.h"
#include "tls.h"
#include "transport.h"
#include "vcpu.h"

_Static_assert(MIGSTREAM_NR_TRAPS == PVFT_NR_TRAPS, "trap table size");
_Static_assert(sizeof(((struct vcpu_state *)0)->fxsave) ==
		   MIGSTREAM_FXSAVE_SIZE,
	       "FXSAVE image size");

#define PAGE_SHIFT 12
/* Stream bytes buffered before they go out. */
#define FLUSH_AT (4u << 20)
#define HANDSHAKE_MS 10000

static const char *const state_name[] = {
	[MIGRATE_NONE] = "none",	 [MIGRATE_ACTIVE] = "active",
	[MIGRATE_STOPPING] = "stopping", [MIGRATE_COMPLETED] = "completed",
	[MIGRATE_FAILED] = "failed",	 [MIGRATE_INCOMING] = "incoming",
};

const char *migrate__state_name(enum migrate_state s)
{
	return s < sizeof(state_name) / sizeof(state_name[0]) ? state_name[s]
							      : "?";
}

/* ---- the save side -------------------------------------------------------
 */

static struct migration {
	pthread_mutex_t lock; /* stats, running, cut */
	pthread_cond_t cond;
	struct migrate_stats st;
	bool running;		/* started, its done() not yet called */
	bool thread;		/* a migration thread to join */
	bool disposed;		/* the domain is over: no more migrations */
	uint64_t *old_hv_dirty; /* the last one's, freed once surely unused */
	pthread_t tid;

	/* The migration thread's, then the vCPU thread's during the cut. */
	struct domain *d;
	char *file, *tmp, *to, *config;
	bool keep_running;
	uint64_t downtime_ns;
	unsigned int max_rounds;
	struct tls_creds *creds;
	int fd;
	struct transport *t;
	struct migstream_buf buf;
	uint64_t *dirty; /* pages to send: one bit a page */
	uint64_t nr_pages;
	bool tracking; /* the backend logs the guest's writes */
	uint64_t start_ns, rate_bps;

	/* The cut: asked by the migration thread, done by the vCPU's. */
	bool cut_asked, cut_started, cut_done;
	bool committed; /* the destination took it: never run on here */
	/* A pair's backup moving: its successor's address, the source's tail.
	 */
	bool backup, exported;
	char *backup_addr;
	/* A join: the caller's ops; joined: ->commit was called. */
	const struct migrate_join_ops *join;
	void *join_opaque;
	bool joined;
	uint64_t pair_id, epoch;
	int cut_rc;

	void (*done)(void *opaque, const struct migrate_stats *st);
	void *done_opaque;
} mig = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.fd = -1,
};

void migrate__stats(struct migrate_stats *st)
{
	pthread_mutex_lock(&mig.lock);
	*st = mig.st;
	if (mig.st.state == MIGRATE_ACTIVE || mig.st.state == MIGRATE_STOPPING)
		st->total_ms = (clock__mono_ns() - mig.start_ns) / 1e6;
	pthread_mutex_unlock(&mig.lock);
}

static void set_state(struct migration *m, enum migrate_state s)
{
	pthread_mutex_lock(&m->lock);
	m->st.state = s;
	pthread_mutex_unlock(&m->lock);
}

/* What is under way, as the messages name it. */
static const char *kind(bool join, bool live)
{
	return join ? "re-protection" : live ? "migration" : "save";
}

/*
 * Lock held: this replica ended under the migration, which fails for it.
 * A pair's backup ends alone: its primary runs the domain on.
 */
static void said_ended(struct migration *m)
{
	unsigned int round = m->st.round ? m->st.round : 1;

	if (m->st.error[0])
		return;
	m->st.ended = true;
	if (m->backup)
		snprintf(m->st.error, sizeof(m->st.error),
			 "this backup ended during its move (round %u): the "
			 "primary runs on without it",
			 round);
	else
		snprintf(m->st.error, sizeof(m->st.error),
			 "the domain ended during the %s (round %u): nothing "
			 "is left to move",
			 kind(m->join, m->to), round);
}

/* The domain ended (seen by the migration thread): the migration fails. */
static void fail_ended(struct migration *m)
{
	pthread_mutex_lock(&m->lock);
	said_ended(m);
	pthread_mutex_unlock(&m->lock);
}

static void fail(struct migration *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct migration *m, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->lock);
	/*
	 * The domain ended (its guest shut down, or pvft-hv was stopped)
	 * and migrate__dispose shut the link: that, not what the link
	 * says, is why.
	 */
	if (m->disposed)
		said_ended(m);
	if (!m->st.error[0]) {
		va_start(ap, fmt);
		vsnprintf(m->st.error, sizeof(m->st.error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&m->lock);
}

/*
 * After the destination's NO: its reason (a u32 length, at most
 * MIGSTREAM_ACK_MSG_MAX bytes, printable here) becomes the error. True
 * when it came whole.
 */
static bool take_reason(struct migration *m)
{
	uint64_t by = clock__mono_ns() + 1000000000ull;
	char why[MIGSTREAM_ACK_MSG_MAX + 1];
	uint32_t len;

	if (transport__recv_all(m->t, &len, sizeof(len), by) ||
	    len > MIGSTREAM_ACK_MSG_MAX ||
	    transport__recv_all(m->t, why, len, by))
		return false;
	why[len] = '\0';
	for (uint32_t i = 0; i < len; i++)
		if (why[i] < 0x20 || why[i] > 0x7e)
			why[i] = '?';
	fail(m, "the destination refused the domain: %s", why);
	return true;
}

/*
 * The destination refused before END (it may: migration-stream.md 9):
 * its reason, if it sent one before closing. True when it did.
 */
static bool refusal(struct migration *m)
{
	char ack[MIGSTREAM_ACK_SIZE];

	return !transport__recv_all(m->t, ack, sizeof(ack),
				    clock__mono_ns() + 1000000000ull) &&
	       !memcmp(ack, MIGSTREAM_ACK_NO, sizeof(ack)) && take_reason(m);
}

/* Out with what is buffered: to the file or the destination. */
static int flush(struct migration *m)
{
	int rc;

	if (!m->buf.len)
		return 0;
	if (m->t)
		rc = transport__send_all(
		    m->t, m->buf.p, m->buf.len,
		    clock__mono_ns() + MIGRATE_IO_TIMEOUT_MS * 1000000ull);
	else
		rc = io__write_all(m->fd, m->buf.p, m->buf.len, NULL) < 0
			 ? -errno
			 : 0;
	if (rc && m->t && refusal(m))
		return rc;
	if (rc) {
		fail(m, "%s: %s", m->t ? "sending to the destination" : m->tmp,
		     rc == -ETIMEDOUT ? "the destination took nothing for 30 s"
				      : strerror(-rc));
		return rc;
	}
	pthread_mutex_lock(&m->lock);
	m->st.bytes += m->buf.len;
	pthread_mutex_unlock(&m->lock);
	migstream__buf_reset(&m->buf);
	return 0;
}

static int out_of_memory(struct migration *m)
{
	fail(m, "out of memory");
	return -ENOMEM;
}

/* Pages whose bits are set in @bits (all pages when NULL), cleared. */
static int send_pages(struct migration *m, uint64_t *bits)
{
	struct domain *d = m->d;
	uint64_t pfn[MIGSTREAM_BATCH_MAX], bytes, zero = 0, sent = 0;
	uint32_t n = 0;
	int rc;

	for (uint64_t p = 0; p <= m->nr_pages; p++) {
		if (p < m->nr_pages) {
			if (bits && !(bits[p / 64] & (1ull << (p % 64)))) {
				/* A whole clear word at once. */
				if (!bits[p / 64] && p % 64 == 0)
					p += 63;
				continue;
			}
			if (bits)
				bits[p / 64] &= ~(1ull << (p % 64));
			pfn[n++] = p;
			if (n < MIGSTREAM_BATCH_MAX)
				continue;
		}
		if (!n)
			break;
		if (migstream__put_pages(&m->buf, d->mem, pfn, n, &bytes))
			return out_of_memory(m);
		zero += n - bytes / MIGSTREAM_PAGE_SIZE;
		sent += n;
		n = 0;
		if (m->buf.len >= FLUSH_AT) {
			rc = flush(m);
			if (rc)
				return rc;
		}
		pthread_mutex_lock(&m->lock);
		m->st.pages += sent;
		m->st.zero_pages += zero;
		m->st.pages_left =
		    m->st.pages_left > sent ? m->st.pages_left - sent : 0;
		pthread_mutex_unlock(&m->lock);
		sent = zero = 0;
	}
	return flush(m);
}

/* The pages written since the last count, into m->dirty: how many. */
static uint64_t count_dirty(struct migration *m)
{
	struct domain *d = m->d;
	uint64_t n = 0, words = (m->nr_pages + 63) / 64;

	if (m->tracking && d->backend->dirty_fetch(d, m->dirty)) {
		/* Without the guest's writes, only all of memory is safe. */
		m->tracking = false;
		pr_warn("migration: the %s backend's dirty log failed: "
			"sending all of memory at the cut",
			d->backend->name);
	}
	if (!m->tracking)
		memset(m->dirty, 0xff, words * 8);
	for (uint64_t i = 0; i < words; i++) {
		m->dirty[i] |=
		    __atomic_exchange_n(&d->hv_dirty[i], 0, __ATOMIC_RELAXED);
		if (i == words - 1 && m->nr_pages % 64)
			m->dirty[i] &= (1ull << (m->nr_pages % 64)) - 1;
		n += __builtin_popcountll(m->dirty[i]);
	}
	return n;
}

static int put_or_fail(struct migration *m, int rc)
{
	return rc ? out_of_memory(m) : 0;
}

/* The vCPU, the devices, the gate: the domain outside its memory. */
static int send_state(struct migration *m)
{
	struct domain *d = m->d;
	struct migstream_vcpu v = { 0 };
	struct migstream_gate g = { 0 };
	struct vcpu_state vs;
	void *dev;
	long len;
	int rc;

	rc = d->backend->get_state(d, &vs);
	if (rc) {
		fail(m, "cannot read the vCPU's state: %s", strerror(-rc));
		return rc;
	}
	memcpy(v.gpr, &vs.regs, sizeof(v.gpr));
	v.rflags = vs.regs.rflags;
	v.rip = vs.rip;
	memcpy(v.fxsave, vs.fxsave, sizeof(v.fxsave));
	memcpy(v.trap_handler, d->trap_handler, sizeof(v.trap_handler));
	v.in_trap_handler = d->in_trap_handler;
	if (put_or_fail(m, migstream__put_vcpu(&m->buf, &v)))
		return -ENOMEM;

	dev = malloc(DOMAIN_MAX_DEVICES * (DEVICE_SAVE_MAX + 64));
	if (!dev)
		return out_of_memory(m);
	len =
	    devices__save(d, dev, DOMAIN_MAX_DEVICES * (DEVICE_SAVE_MAX + 64));
	if (len < 0) {
		free(dev);
		fail(m, "a device could not save its state: %s",
		     strerror((int)-len));
		return (int)len;
	}
	rc = migstream__put(&m->buf, MIGSTREAM_DEVICES, dev, (uint32_t)len);
	free(dev);
	if (put_or_fail(m, rc))
		return -ENOMEM;

	g.exits = d->exits;
	g.records = d->gate.records;
	/* A backup's clock is the log's (it goes on from there if it goes
	 * live). */
	g.guest_ns =
	    d->gate.mode == GATE_REPLAY ? d->gate.known_ns : sched__now(d);
	g.last_rip = d->last_rip;
	g.id_counter = d->id_counter;
	g.id_nonce = d->id_nonce;
	g.mode = d->gate.mode;
	g.last_digest_exit = d->gate.last_digest_exit;
	/* A joining backup hashes the output on from this one's hash. */
	if (m->join && !d->gate.out_state) {
		d->gate.out_state = XXH3_createState();
		if (!d->gate.out_state)
			return out_of_memory(m);
		/* reset leaves reserved64 as malloc left it: the peer checks.
		 */
		memset(d->gate.out_state, 0, sizeof(XXH3_state_t));
		XXH3_64bits_reset(d->gate.out_state);
		d->gate.out_bytes = 0;
	}
	g.out_bytes = d->gate.out_bytes;
	/*
	 * The output hash state, when this domain keeps one (a replica's,
	 * or one alone after its pair): VERIFY's digest covers it.
	 */
	if (d->gate.out_state) {
		/*
		 * The hash state holds a pointer to the library's default
		 * secret, an address of this process: it goes as NULL, and
		 * the receiver points it at its own (apply_gate).
		 */
		static XXH3_state_t st;

		memcpy(&st, d->gate.out_state, sizeof(st));
		st.extSecret = NULL;
		g.out_hash = XXH3_64bits_digest(d->gate.out_state);
		g.out_state = (const uint8_t *)&st;
		g.out_state_len = sizeof(st);
	}
	return put_or_fail(m, migstream__put_gate(&m->buf, &g));
}

/* After a ROUND: the destination has taken everything before it. */
static int await_sync(struct migration *m)
{
	char ack[MIGSTREAM_ACK_SIZE];
	int rc = transport__recv_all(m->t, ack, sizeof(ack),
				     clock__mono_ns() +
					 MIGRATE_IO_TIMEOUT_MS * 1000000ull);

	if (!rc && !memcmp(ack, MIGSTREAM_SYNC, sizeof(ack)))
		return 0;
	if (!rc && !memcmp(ack, MIGSTREAM_ACK_NO, sizeof(ack)) &&
	    take_reason(m))
		return -EPROTO;
	fail(m, "the destination did not keep up: %s",
	     rc ? (rc == -ECONNRESET ? "it closed the link" : strerror(-rc))
		: "it answered a round with what no pvft-hv says");
	return rc ? rc : -EPROTO;
}

/* The destination's word once it has END: 0 it runs, else why not. */
static int await_answer(struct migration *m)
{
	char ack[MIGSTREAM_ACK_SIZE];
	uint64_t by = clock__mono_ns() + MIGRATE_IO_TIMEOUT_MS * 1000000ull;
	int rc;

	rc = transport__recv_all(m->t, ack, sizeof(ack), by);
	if (!rc && !memcmp(ack, MIGSTREAM_ACK_OK, sizeof(ack))) {
		/*
		 * It holds the domain: from here on this one never runs
		 * again, whether or not the go arrives (two running copies
		 * would be worse than none: migration-stream.md).
		 */
		m->committed = true;
		rc = transport__send_all(m->t, MIGSTREAM_GO, 8, by);
		if (rc)
			pr_err("the destination holds the domain but the go "
			       "could not be sent (%s): it may not run; this "
			       "copy stops all the same",
			       strerror(-rc));
		return 0;
	}
	if (!rc && !memcmp(ack, MIGSTREAM_ACK_NO, sizeof(ack)) &&
	    take_reason(m))
		return -EPROTO;
	if (!rc) {
		fail(m, "the destination answered what no pvft-hv says");
		return -EPROTO;
	}
	fail(m, "no answer from the destination after END: %s",
	     rc == -ECONNRESET ? "it closed the link" : strerror(-rc));
	return rc;
}

static double ms_since(uint64_t t0)
{
	return (clock__mono_ns() - t0) / 1e6;
}

/* The stop-and-copy, on the vCPU thread: see migrate.h. */
static int cut(struct migration *m)
{
	struct domain *d = m->d;
	struct logfmt_digest_value dv;
	struct migstream_verify v = { 0 };
	uint64_t n;
	int rc;

	uint64_t t0 = clock__mono_ns(), t1, t2, t3, t4;

	uint8_t *tail = NULL;
	long tail_len = 0;

	/* A joining backup's stream starts at this exit: its LOG_TAIL. */
	if (m->join) {
		tail = malloc(MIGSTREAM_LOG_TAIL_MAX);
		if (!tail)
			return out_of_memory(m);
		tail_len = m->join->tail(m->join_opaque, d, tail,
					 MIGSTREAM_LOG_TAIL_MAX);
		if (tail_len < 0) {
			free(tail);
			fail(m, "the new log stream cannot start: %s",
			     strerror((int)-tail_len));
			return (int)tail_len;
		}
	}
	/* A backup stops taking records: what it holds goes as LOG_TAIL. */
	if (m->backup) {
		tail = malloc(MIGSTREAM_LOG_TAIL_MAX);
		if (!tail)
			return out_of_memory(m);
		tail_len = d->gate.src->move_out(d, d->gate.src_priv, tail,
						 MIGSTREAM_LOG_TAIL_MAX);
		if (tail_len < 0) {
			free(tail);
			fail(m, "the backup's log channel cannot move now: %s",
			     tail_len == -EINVAL  ? "it is not paired"
			     : tail_len == -EBUSY ? "the pair is at its end"
						  : strerror((int)-tail_len));
			return (int)tail_len;
		}
		m->exported = true;
	}
	/* shared_info: events and time, written by every exit. */
	guestmem__mark(d, PVFT_SHARED_INFO_GPA, PVFT_PAGE_SIZE);
	n = count_dirty(m);
	pthread_mutex_lock(&m->lock);
	m->st.pages_left = n;
	pthread_mutex_unlock(&m->lock);
	rc = send_pages(m, m->dirty);
	if (rc)
		return rc;
	t1 = clock__mono_ns();
	rc = send_state(m);
	if (!rc && tail)
		rc = put_or_fail(m, migstream__put(&m->buf, MIGSTREAM_LOG_TAIL,
						   tail, (uint32_t)tail_len));
	free(tail);
	if (!rc)
		rc = flush(m);
	if (rc)
		return rc;
	t2 = clock__mono_ns();
	if (digest__take(d, &dv)) {
		fail(m, "cannot take the domain's digest");
		return -EIO;
	}
	digest__print("migration: digest at the cut", &dv);
	v.mem = dv.mem;
	v.regs = dv.regs;
	v.out_bytes = dv.out_bytes;
	v.out_hash = dv.out_hash;
	pthread_mutex_lock(&m->lock);
	v.pages_sent = m->st.pages;
	v.rounds = m->st.round;
	pthread_mutex_unlock(&m->lock);
	if (put_or_fail(m, migstream__put_verify(&m->buf, &v)) ||
	    put_or_fail(m, migstream__put(&m->buf, MIGSTREAM_END, NULL, 0)))
		return -ENOMEM;
	rc = flush(m);
	if (rc)
		return rc;
	t3 = clock__mono_ns();
	if (m->t)
		rc = await_answer(m);
	t4 = clock__mono_ns();
	pr_debug("migration: the cut: %llu dirty pages %.1f ms, state %.1f ms, "
		 "digest %.1f ms, the destination's answer %.1f ms",
		 (unsigned long long)n, (t1 - t0) / 1e6, (t2 - t1) / 1e6,
		 (t3 - t2) / 1e6, (t4 - t3) / 1e6);
	if (m->t)
		return rc;
	if (fsync(m->fd) || rename(m->tmp, m->file)) {
		rc = -errno;
		fail(m, "%s: %s", m->file, strerror(errno));
		return rc;
	}
	return 0;
}

static void stop_tracking(struct migration *m)
{
	struct domain *d = m->d;
	uint64_t *bits = d->hv_dirty;

	if (m->tracking)
		d->backend->dirty_stop(d);
	m->tracking = false;
	__atomic_store_n(&d->hv_dirty, NULL, __ATOMIC_RELEASE);
	/*
	 * A guestmem__mark on the vCPU thread may still hold it for a
	 * moment: freed at the next migration's start, or at the end.
	 */
	pthread_mutex_lock(&m->lock);
	free(m->old_hv_dirty);
	m->old_hv_dirty = bits;
	pthread_mutex_unlock(&m->lock);
}

void migrate__cut(struct domain *d)
{
	struct migration *m = &mig;
	uint64_t t0 = clock__mono_ns();
	char where[PATH_MAX];
	double pause_ms;
	bool live, stop;
	int rc;

	pthread_mutex_lock(&m->lock);
	sched__clear_migrate(d);
	if (!m->cut_asked || m->d != d) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	m->cut_started = true;
	m->st.state = MIGRATE_STOPPING;
	/* What m holds may change once cut_done is out: copied. */
	live = m->t != NULL;
	snprintf(where, sizeof(where), "%s", live ? m->to : m->file);
	stop = !m->keep_running;
	pthread_mutex_unlock(&m->lock);

	rc = cut(m);
	if (rc && m->committed)
		rc = 0;
	/* To the destination's word that it runs (a backup's commit after). */
	pause_ms = ms_since(t0);
	if (m->exported && !rc) {
		/* After GO: the primary goes on with the successor. */
		if (d->gate.src->move_commit(d->gate.src_priv, m->backup_addr))
			pr_err("the primary could not be told where the backup "
			       "went (%s): it asks the arbiter, as the "
			       "successor does",
			       m->backup_addr);
	} else if (m->exported) {
		d->gate.src->move_abort(d->gate.src_priv);
	}
	m->exported = false;
	/*
	 * A join: once the backup said it holds the checkpoint, this domain
	 * is the new pair's primary, whether or not GO reached it (a
	 * backup without GO never goes live; this one then loses its
	 * backup and asks the arbiter for the new epoch).
	 */
	if (m->join && m->committed) {
		m->join->commit(m->join_opaque, d);
		m->joined = true;
		rc = 0;
	}
	if (m->join)
		stop = false;

	pthread_mutex_lock(&m->lock);
	m->st.pause_ms = pause_ms;
	m->cut_rc = rc;
	m->cut_done = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (!rc && stop) {
		pr_info("%s at exit ordinal %llu: the domain goes on %s%s "
			"(paused %.1f ms)",
			live ? "migrated" : "saved",
			(unsigned long long)d->exits, live ? "at " : "from ",
			where, pause_ms);
		domain__shutdown(d, 0, DOMAIN_END_MIGRATED);
	}
}

/* Wait for the vCPU thread's cut; false if the domain ended first. */
static bool ask_cut(struct migration *m)
{
	struct domain *d = m->d;
	uint64_t by = clock__mono_ns() + MIGRATE_IO_TIMEOUT_MS * 1000000ull;
	struct timespec ts;

	pthread_mutex_lock(&m->lock);
	m->cut_asked = true;
	pthread_mutex_unlock(&m->lock);
	while (!sched__request_migrate(d)) {
		if (__atomic_load_n(&d->shut_down, __ATOMIC_RELAXED) ||
		    sched__stop_requested(d) > 0 ||
		    sched__stop_requested(d) == SCHED_STOP_FENCED)
			goto ended;
		usleep(1000); /* a promote's stop: it clears or ends */
	}
	pthread_mutex_lock(&m->lock);
	while (!m->cut_done) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&m->cond, &m->lock, &ts);
		if (!m->cut_done && !m->cut_started &&
		    (__atomic_load_n(&d->shut_down, __ATOMIC_RELAXED) ||
		     sched__stop_requested(d) != SCHED_STOP_MIGRATE)) {
			/* Ended another way (a signal, the guest itself). */
			m->cut_asked = false;
			pthread_mutex_unlock(&m->lock);
			sched__clear_migrate(d);
			goto ended;
		}
		/*
		 * No exit boundary in time: a guest in a loop without a
		 * hypercall, or a backup waiting for its primary's next
		 * record (an idle primary sends none). It runs on as it was.
		 */
		if (!m->cut_done && !m->cut_started && clock__mono_ns() > by) {
			m->cut_asked = false;
			pthread_mutex_unlock(&m->lock);
			sched__clear_migrate(d);
			fail(m, "the vCPU reached no exit boundary in %d s%s",
			     MIGRATE_IO_TIMEOUT_MS / 1000,
			     m->backup ? " (a backup waits for its primary's "
					 "next record: is its guest idle?)"
				       : "");
			return false;
		}
	}
	m->cut_asked = false;
	pthread_mutex_unlock(&m->lock);
	return true;
ended:
	fail_ended(m);
	return false;
}

static int connect_destination(struct migration *m)
{
	char why[256] = "";
	struct transport *t;
	int fd, rc;

	fd = transport__dial_until(m->to, clock__mono_ns() +
					      HANDSHAKE_MS * 1000000ull);
	if (fd < 0) {
		fail(m, "cannot reach the destination %s: %s", m->to,
		     strerror(-fd));
		return fd;
	}
	rc = transport__open(&t, m->creds, fd);
	if (rc) {
		fail(m, "the destination %s: %s", m->to, strerror(-rc));
		return rc;
	}
	/* Under the lock: migrate__dispose shuts the link it finds. */
	pthread_mutex_lock(&m->lock);
	m->t = t;
	if (m->disposed)
		shutdown(t->fd, SHUT_RDWR);
	pthread_mutex_unlock(&m->lock);
	rc = transport__handshake_until(
	    t, clock__mono_ns() + HANDSHAKE_MS * 1000000ull, why, sizeof(why));
	if (rc) {
		fail(m, "the destination %s: %s", m->to,
		     why[0] ? why : strerror(-rc));
		pthread_mutex_lock(&m->lock);
		m->t = NULL;
		pthread_mutex_unlock(&m->lock);
		transport__close(t);
		return rc;
	}
	return 0;
}

static int open_file(struct migration *m)
{
	m->fd = open(m->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (m->fd < 0) {
		fail(m, "%s: %s", m->tmp, strerror(errno));
		return -errno;
	}
	return 0;
}

static int send_opening(struct migration *m)
{
	struct domain *d = m->d;
	struct migstream_domain_info di = {
		.mem_size = d->mem_size,
		.cmdline_hash = XXH3_64bits(d->cmdline, strlen(d->cmdline)),
		.cpuid_hash =
		    d->backend->host_cpuid ? cpuid__host_hash() : cpuid__hash(),
		.abi_version = PVFT_ABI_VERSION,
		.nr_vifs = d->nr_vifs,
		.backend = d->backend->host_cpuid,
		.entry = d->entry,
		.hypercall_page = d->hypercall_page,
		.role = m->join	    ? MIGSTREAM_ROLE_JOIN
			: m->backup ? LOGFMT_ROLE_BACKUP
				    : 0,
		.pair_id = m->pair_id,
		.epoch = m->epoch,
	};

	memcpy(di.image_hash, d->image_hash, sizeof(di.image_hash));
	snprintf(di.name, sizeof(di.name), "%s", d->name ? d->name : "");
	snprintf(di.cmdline, sizeof(di.cmdline), "%s", d->cmdline);
	if (put_or_fail(m, migstream__put_header(
			       &m->buf, m->t ? MIGSTREAM_F_LIVE : 0)) ||
	    put_or_fail(m, migstream__put_domain_info(&m->buf, &di)))
		return -ENOMEM;
	if (m->config &&
	    put_or_fail(m, migstream__put(&m->buf, MIGSTREAM_CONFIG, m->config,
					  strlen(m->config))))
		return -ENOMEM;
	return flush(m);
}

/* Pre-copy: rounds while the guest runs, until the rest fits the budget. */
static int precopy(struct migration *m)
{
	struct domain *d = m->d;
	struct migstream_round r = { 0 };
	uint64_t t0, bytes0, left = m->nr_pages, dirty_t0 = clock__mono_ns();
	int rc;

	m->tracking = d->backend->dirty_start && !d->backend->dirty_start(d);
	if (!m->tracking) {
		pr_warn("migration: the %s backend cannot log the guest's "
			"writes: no pre-copy, all of memory goes at the cut",
			d->backend->name);
		return 0;
	}
	for (unsigned int round = 1;; round++) {
		if (__atomic_load_n(&d->shut_down, __ATOMIC_RELAXED)) {
			fail_ended(m);
			return -ECANCELED;
		}
		pthread_mutex_lock(&m->lock);
		m->st.round = round;
		m->st.pages_left = left;
		bytes0 = m->st.bytes;
		pthread_mutex_unlock(&m->lock);
		t0 = clock__mono_ns();
		rc = send_pages(m, round == 1 ? NULL : m->dirty);
		if (rc)
			return rc;
		r = (struct migstream_round){
			.round = round,
			.flags = MIGSTREAM_ROUND_SYNC,
			.pages = left,
			.dirty = left,
		};
		pthread_mutex_lock(&m->lock);
		r.bytes = m->st.bytes - bytes0;
		pthread_mutex_unlock(&m->lock);
		r.duration_ns = clock__mono_ns() - t0;
		rc = migstream__put_round(&m->buf, &r) ? out_of_memory(m)
						       : flush(m);
		if (!rc)
			rc = await_sync(m);
		if (rc)
			return rc;
		/*
		 * The rate the pages went in at, the destination's backlog
		 * included, from the rounds that moved enough to say.
		 */
		r.duration_ns = clock__mono_ns() - t0;
		if (r.bytes >= (1u << 20) && r.duration_ns)
			m->rate_bps = r.bytes * 1000000000ull / r.duration_ns;
		left = count_dirty(m);
		{
			uint64_t now = clock__mono_ns();
			double est = m->rate_bps
					 ? (double)left * MIGSTREAM_PAGE_SIZE *
					       1e3 / m->rate_bps
					 : 0;

			pthread_mutex_lock(&m->lock);
			m->st.pages_left = left;
			m->st.dirty_pps =
			    now > dirty_t0
				? left * 1000000000ull / (now - dirty_t0)
				: 0;
			m->st.mbit_s = m->rate_bps * 8 / 1e6;
			m->st.est_pause_ms = est;
			pthread_mutex_unlock(&m->lock);
			dirty_t0 = now;
			if (est * 1e6 <= (double)m->downtime_ns)
				break;
		}
		if (round >= m->max_rounds) {
			pr_info("migration: round %u of %u and %llu pages "
				"still dirty: stopping the guest to copy them",
				round, m->max_rounds, (unsigned long long)left);
			break;
		}
	}
	return 0;
}

static void finish(struct migration *m, int rc)
{
	struct migrate_stats st;
	void (*done)(void *, const struct migrate_stats *);
	struct transport *t;

	stop_tracking(m);
	tls__creds_free(m->creds);
	m->creds = NULL;
	pthread_mutex_lock(&m->lock); /* migrate__dispose may shut it down */
	t = m->t;
	m->t = NULL;
	pthread_mutex_unlock(&m->lock);
	transport__close(t);
	if (m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
		if (rc)
			unlink(m->tmp);
	}
	migstream__buf_free(&m->buf);
	free(m->dirty);
	m->dirty = NULL;
	pthread_mutex_lock(&m->lock);
	m->st.state = rc ? MIGRATE_FAILED : MIGRATE_COMPLETED;
	m->st.stopped = !rc && !m->keep_running && !m->join;
	m->st.total_ms = ms_since(m->start_ns);
	if (m->st.round == 0)
		m->st.round = 1;
	st = m->st;
	done = m->done;
	m->done = NULL;
	m->running = false;
	pthread_mutex_unlock(&m->lock);
	if (m->join && !m->joined)
		m->join->abort(m->join_opaque, m->d, rc ? st.error : "");
	if (rc)
		pr_warn("%s failed: %s%s", kind(st.join, st.live), st.error,
			st.ended ? "" : ": the domain runs on here");
	else
		pr_info("%s: %" PRIu64 " pages (%" PRIu64
			" zero) in %u round%s, "
			"%.1f MiB, %.0f ms in all, paused %.1f ms",
			st.live ? "migration" : "save", st.pages, st.zero_pages,
			st.round, st.round == 1 ? "" : "s",
			st.bytes / 1048576.0, st.total_ms, st.pause_ms);
	if (done)
		done(m->done_opaque, &st);
}

static void *migration_thread(void *arg)
{
	struct migration *m = arg;
	int rc = 0;

	if (m->join) {
		char why[256] = "";

		rc = m->join->prepare(m->join_opaque, why, sizeof(why));
		if (rc)
			fail(m, "%s", why);
	}
	if (!rc)
		rc = m->to ? connect_destination(m) : open_file(m);
	if (!rc)
		rc = send_opening(m);
	if (!rc && m->to)
		rc = precopy(m);
	if (!rc) {
		if (!ask_cut(m))
			rc = -ECANCELED;
		else
			rc = m->cut_rc;
	}
	finish(m, rc);
	return NULL;
}

/* The last request's strings (lock held, or the domain over). */
static void free_request(struct migration *m)
{
	free(m->file);
	free(m->tmp);
	free(m->to);
	free(m->config);
	free(m->backup_addr);
	m->file = m->tmp = m->to = m->config = m->backup_addr = NULL;
}

int migrate__start(struct domain *d, const struct migrate_request *rq,
		   void (*done)(void *opaque, const struct migrate_stats *st),
		   void *opaque, char *err, size_t errlen)
{
	struct migration *m = &mig;
	uint64_t words = (d->mem_size / MIGSTREAM_PAGE_SIZE + 63) / 64;
	uint64_t *hv_dirty;
	bool backup;
	int rc;

	if (!rq->file == !rq->to) {
		snprintf(err, errlen,
			 "a save needs a file, a migration a "
			 "destination");
		return -EINVAL;
	}
	backup = d->gate.mode == GATE_REPLAY && d->gate.replicated &&
		 d->gate.src && d->gate.src->move_out &&
		 !__atomic_load_n(&d->gate.went_live, __ATOMIC_RELAXED);
	/* A replica alone (GATE_NONE: it logs nothing) goes as a single. */
	if (d->gate.replicated && !backup && d->gate.mode != GATE_NONE) {
		snprintf(err, errlen,
			 "this domain is a pair's primary: moving it comes "
			 "with re-protection; a migration moves its backup");
		return -EINVAL;
	}
	if (!backup && d->gate.mode != GATE_NONE) {
		snprintf(err, errlen,
			 "this domain %s: only an unreplicated domain that "
			 "records no log, or a pair's backup, can be saved or "
			 "moved",
			 d->gate.mode == GATE_RECORD ? "records a log"
						     : "replays a log");
		return -EINVAL;
	}
	if (backup && rq->backup_addr &&
	    (strlen(rq->backup_addr) > LOGFMT_MOVE_ADDR_MAX ||
	     hostport__split(rq->backup_addr, strlen(rq->backup_addr),
			     &(struct hostport){ 0 }))) {
		/* Checked now: the primary is told only after GO. */
		snprintf(err, errlen,
			 "listen: not a HOST:PORT of at most %d "
			 "bytes",
			 LOGFMT_MOVE_ADDR_MAX);
		return -EINVAL;
	}
	if (backup && (!rq->to || !rq->backup_addr)) {
		snprintf(err, errlen,
			 "a pair's backup moves live only (a save file would "
			 "be a replica no primary feeds), with the address its "
			 "successor listens on for the primary (listen)");
		return -EINVAL;
	}
	if (!d->backend->get_state || !d->backend->set_state) {
		snprintf(err, errlen, "the %s backend cannot save a vCPU",
			 d->backend->name);
		return -EINVAL;
	}
	if (rq->config && strlen(rq->config) > MIGRATE_CONFIG_MAX) {
		snprintf(err, errlen, "config: longer than %d bytes",
			 MIGRATE_CONFIG_MAX);
		return -EINVAL;
	}
	if (rq->max_rounds > MIGRATE_MAX_ROUNDS_LIMIT) {
		snprintf(err, errlen, "max_rounds: at most %d",
			 MIGRATE_MAX_ROUNDS_LIMIT);
		return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	if (m->disposed || __atomic_load_n(&d->shut_down, __ATOMIC_RELAXED)) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "the domain is ending: nothing to move");
		return -ESHUTDOWN;
	}
	if (m->running) {
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "a save or migration is under way");
		return -EBUSY;
	}
	if (m->thread) {
		/* Over but not joined: this caller joins it, nobody else. */
		m->thread = false;
		pthread_mutex_unlock(&m->lock);
		pthread_join(m->tid, NULL);
		pthread_mutex_lock(&m->lock);
	}
	free(m->old_hv_dirty);
	m->old_hv_dirty = NULL;
	free_request(m);
	m->file = rq->file ? strdup(rq->file) : NULL;
	m->to = rq->to ? strdup(rq->to) : NULL;
	m->config = rq->config ? strdup(rq->config) : NULL;
	if (rq->file && asprintf(&m->tmp, "%s.part", rq->file) < 0)
		m->tmp = NULL;
	m->dirty = calloc(words, 8);
	hv_dirty = calloc(words, 8);
	if ((rq->file && (!m->file || !m->tmp)) || (rq->to && !m->to) ||
	    (rq->config && !m->config) || !m->dirty || !hv_dirty) {
		pthread_mutex_unlock(&m->lock);
		free(m->dirty);
		free(hv_dirty);
		m->dirty = NULL;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* From now on pvft-hv's own writes are marked (guestmem__mark). */
	__atomic_store_n(&d->hv_dirty, hv_dirty, __ATOMIC_RELEASE);
	m->d = d;
	m->nr_pages = d->mem_size / MIGSTREAM_PAGE_SIZE;
	m->keep_running = rq->file && rq->keep_running;
	m->downtime_ns = rq->downtime_ms * 1000000ull;
	m->max_rounds = rq->max_rounds ? rq->max_rounds : 1;
	m->creds = rq->creds;
	m->backup = backup;
	m->exported = false;
	m->pair_id = rq->pair_id;
	m->epoch = rq->epoch;
	m->backup_addr = backup ? strdup(rq->backup_addr) : NULL;
	m->join = rq->join;
	m->join_opaque = rq->join_opaque;
	m->joined = false;
	m->fd = -1;
	m->t = NULL;
	m->rate_bps = 0;
	m->cut_asked = m->cut_started = m->cut_done = m->committed = false;
	m->cut_rc = 0;
	m->done = done;
	m->done_opaque = opaque;
	m->start_ns = clock__mono_ns();
	memset(&m->st, 0, sizeof(m->st));
	m->st.state = MIGRATE_ACTIVE;
	m->st.live = rq->to != NULL;
	m->st.join = rq->join != NULL;
	m->running = true;
	rc = pthread_create(&m->tid, NULL, migration_thread, m);
	if (rc) {
		m->running = false;
		m->st.state = MIGRATE_FAILED;
		pthread_mutex_unlock(&m->lock);
		snprintf(err, errlen, "cannot start a thread: %s",
			 strerror(rc));
		return -rc;
	}
	m->thread = true;
	pthread_mutex_unlock(&m->lock);
	pr_info("%s %s: %llu MiB", rq->to ? "migrating to" : "saving to",
		rq->to ? rq->to : rq->file,
		(unsigned long long)(d->mem_size >> 20));
	return 0;
}

int migrate__creds(struct tls_creds **creds_r, bool destination,
		   const uint8_t *domain_key, char *why, size_t why_len)
{
	uint8_t mk[TLS_KEY_LEN];
	char id[TLS_KEY_ID_LEN + 1], identity[64];
	int rc;

	tls__derive(domain_key, TLS_LABEL_MIGRATION, mk);
	tls__key_id(mk, id);
	snprintf(identity, sizeof(identity), "pvft-mig-%s", id);
	rc = tls__creds_psk(creds_r, destination ? TLS_SERVER : TLS_CLIENT,
			    identity, mk, why, why_len);
	memset(mk, 0, sizeof(mk));
	return rc ? -1 : 0;
}

void migrate__dispose(struct domain *d)
{
	struct migration *m = &mig;
	bool join;

	pthread_mutex_lock(&m->lock);
	m->disposed = true;
	join = m->thread && m->d == d;
	m->thread = false;
	/* The domain is over: a send or a wait on the link ends now. */
	if (join && m->t)
		shutdown(m->t->fd, SHUT_RDWR);
	pthread_mutex_unlock(&m->lock);
	if (join)
		pthread_join(m->tid, NULL);
	free(d->hv_dirty);
	d->hv_dirty = NULL;
	free(m->old_hv_dirty);
	m->old_hv_dirty = NULL;
	free_request(m);
}

/* ---- the restore side ----------------------------------------------------
 */

struct migrate_in {
	int fd;		     /* a save file, or -1 */
	struct transport *t; /* a live source, or NULL */
	const char *what;    /* for messages: the file, or the source */
	char source[sizeof(((struct transport *)0)->addr) + 16];
	uint8_t *rec;
	size_t cap;
	char *config;
	struct migstream_rec pending; /* read, not yet taken */
	char err[512];		      /* why it was refused */
	bool have_pending;
	uint64_t mem_size;
	/*
	 * Pages written so far: a zero page over one never written costs
	 * nothing (fresh memory is zero, and stays unallocated).
	 */
	uint64_t *written;
	uint32_t role; /* the stream's domain: LOGFMT_ROLE_BACKUP or 0 */
	struct migstream_order order;
	void *log_tail;
	size_t log_tail_len;
};

static const char *in_what(const struct migrate_in *in)
{
	return in->what;
}

/* Exactly @len bytes: 0, -ENODATA at the stream's end, or -errno. */
static int in_read(struct migrate_in *in, void *buf, size_t len)
{
	if (in->t) {
		int rc = transport__recv_all(
		    in->t, buf, len,
		    clock__mono_ns() + MIGRATE_IO_TIMEOUT_MS * 1000000ull);

		return rc == -ECONNRESET ? -ENODATA : rc;
	}
	for (size_t got = 0; got < len;) {
		ssize_t r = read(in->fd, (uint8_t *)buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			return -ENODATA;
		got += r;
	}
	return 0;
}

static int in_fail(const struct migrate_in *in, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int in_fail(const struct migrate_in *in, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("restore from %s: %s", in_what(in), msg);
	if (!in->err[0])
		snprintf(((struct migrate_in *)in)->err, sizeof(in->err), "%s",
			 msg);
	return rc;
}

const char *migrate__in_error(const struct migrate_in *in)
{
	return in ? in->err : "";
}

static int in_io_fail(const struct migrate_in *in, int rc, const char *where)
{
	if (rc == -ENODATA)
		return in_fail(in, -EBADMSG, "truncated: the stream ends %s",
			       where);
	if (rc == -ETIMEDOUT)
		return in_fail(in, -EBADMSG,
			       "the source sent nothing for %d s (%s)",
			       MIGRATE_IO_TIMEOUT_MS / 1000, where);
	return in_fail(in, -EBADMSG, "cannot read %s: %s", where,
		       strerror(-rc));
}

/* The next record, whole and checked. 0, or -EBADMSG (said). */
static int in_next(struct migrate_in *in, struct migstream_rec *r)
{
	char err[256];
	int rc;

	if (in->have_pending) {
		*r = in->pending;
		in->have_pending = false;
		return 0;
	}
	rc = in_read(in, in->rec, MIGSTREAM_REC_HDR_SIZE);
	if (rc)
		return in_io_fail(in, rc, "before END");
	rc = migstream__decode(in->rec, MIGSTREAM_REC_HDR_SIZE, r, err,
			       sizeof(err));
	/* The order first: a record out of place is not even read. */
	if ((!rc || rc == -EAGAIN) &&
	    migstream__order_next(&in->order, r->type, err, sizeof(err)))
		return in_fail(in, -EBADMSG, "%s", err);
	if (rc == -EAGAIN) {
		if (r->size > in->cap) {
			uint8_t *p = realloc(in->rec, r->size);

			if (!p)
				return in_fail(in, -ENOMEM, "out of memory");
			in->rec = p;
			in->cap = r->size;
		}
		rc = in_read(in, in->rec + MIGSTREAM_REC_HDR_SIZE,
			     r->size - MIGSTREAM_REC_HDR_SIZE);
		if (rc) {
			snprintf(err, sizeof(err), "inside a %s record",
				 migstream__type_name(r->type));
			return in_io_fail(in, rc, err);
		}
		rc = migstream__decode(in->rec, r->size, r, err, sizeof(err));
	}
	if (rc)
		return in_fail(in, -EBADMSG, "%s", err);
	return 0;
}

static int check_domain(struct migrate_in *in,
			const struct migstream_domain_info *di,
			const struct migrate_own *own)
{
	uint64_t mib = di->mem_size >> 20;

	if (di->abi_version != PVFT_ABI_VERSION)
		return in_fail(in, -EINVAL,
			       "the domain speaks PV ABI version %u, this "
			       "pvft-hv %u",
			       di->abi_version, PVFT_ABI_VERSION);
	if (di->mem_size % (2ull << 20) || mib < PVFT_MIN_MEMORY_MIB ||
	    mib > PVFT_MAX_MEMORY_MIB)
		return in_fail(in, -EBADMSG,
			       "memory size %llu bytes is not one pvft-hv runs",
			       (unsigned long long)di->mem_size);
	if (own->mem_size && own->mem_size != di->mem_size)
		return in_fail(in, -EINVAL,
			       "the domain has %llu MiB of memory, this one "
			       "is to have %llu (--memory)",
			       (unsigned long long)mib,
			       (unsigned long long)(own->mem_size >> 20));
	if (memcmp(di->image_hash, own->image_hash, sizeof(own->image_hash)))
		return in_fail(in, -EINVAL,
			       "the domain runs another guest image than the "
			       "one given here (its hash differs)");
	if (XXH3_64bits(di->cmdline, strlen(di->cmdline)) != di->cmdline_hash)
		return in_fail(in, -EBADMSG,
			       "DOMAIN_INFO: the command line does not match "
			       "its hash");
	if (own->cmdline && strcmp(own->cmdline, di->cmdline))
		return in_fail(in, -EINVAL,
			       "the domain's command line is '%s', not '%s' "
			       "(--cmdline)",
			       di->cmdline, own->cmdline);
	if (di->cpuid_hash != own->cpuid_hash)
		return in_fail(in, -EINVAL,
			       "the domain saw another CPUID table (it ran on "
			       "the %s backend%s)",
			       di->backend ? "ptrace" : "kvm",
			       di->backend ? ", which shows the host's" : "");
	/* A backup takes a moved backup, or joins a running primary. */
	if (di->role == MIGSTREAM_ROLE_JOIN && own->role != LOGFMT_ROLE_BACKUP)
		return in_fail(in, -EINVAL,
			       "the stream is a running primary's checkpoint "
			       "for a backup that joins it: it takes --role "
			       "backup");
	if (di->role != own->role && di->role != MIGSTREAM_ROLE_JOIN)
		return in_fail(in, -EINVAL,
			       di->role == LOGFMT_ROLE_BACKUP
				   ? "the domain is a pair's backup: its "
				     "successor takes --role backup"
				   : "the domain is not a pair's backup: a "
				     "backup cannot take it (no --role)");
	if (di->role &&
	    (di->pair_id != own->pair_id || di->epoch != own->epoch))
		return in_fail(in, -EINVAL,
			       "the %s is of pair %llu epoch %llu, this one "
			       "of pair %llu epoch %llu",
			       di->role == MIGSTREAM_ROLE_JOIN ? "pair to join"
							       : "backup",
			       (unsigned long long)di->pair_id,
			       (unsigned long long)di->epoch,
			       (unsigned long long)own->pair_id,
			       (unsigned long long)own->epoch);
	if (di->nr_vifs != own->nr_vifs)
		return in_fail(
		    in, -EINVAL, "the domain has %u vif%s, this one %u (--vif)",
		    di->nr_vifs, di->nr_vifs == 1 ? "" : "s", own->nr_vifs);
	return 0;
}

/* Connections proving themselves at once: a silent one holds no slot long. */
#define PENDING_MAX 8

struct pending {
	struct transport *t;
	uint64_t by; /* its handshake's deadline */
};

static void turned_away(struct pending *p, const char *why, uint64_t *last)
{
	if (clock__mono_ns() - *last > 1000000000ull) {
		pr_warn("turned away %s: %s", p->t->addr, why);
		*last = clock__mono_ns();
	}
	transport__close(p->t);
	p->t = NULL;
}

/*
 * Wait for one source that proves the credentials. The handshakes run side
 * by side, each for at most HANDSHAKE_MS: a client that connects and says
 * nothing (or many of them) cannot keep the real source out.
 */
static int accept_source(struct migrate_in *in, const char *addr,
			 struct tls_creds *creds)
{
	struct pending p[PENDING_MAX] = { { 0 } };
	struct pollfd fds[PENDING_MAX + 1];
	int lfd = transport__listen(addr), rc = 0, won = -1;
	uint64_t last_warn = 0;
	char why[256];

	if (lfd < 0) {
		pr_err("--incoming %s: %s", addr,
		       lfd == -EINVAL ? "not an address here" : strerror(-lfd));
		return lfd == -EINVAL ? -EINVAL : lfd;
	}
	pr_info("waiting for the domain on %s (%s)", addr,
		creds ? "TLS" : "plaintext");
	while (won < 0) {
		int n = 1;

		fds[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < PENDING_MAX; i++)
			if (p[i].t)
				fds[n++] = (struct pollfd){
					.fd = p[i].t->fd,
					.events = transport__events(p[i].t),
				};
		if (poll(fds, n, 100) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		/* New connections: into a free slot, else the oldest goes. */
		for (;;) {
			struct transport *t;
			int slot = 0;

			rc = transport__accept(&t, lfd, creds);
			if (rc)
				break;
			for (int i = 0; i < PENDING_MAX; i++) {
				if (!p[i].t) {
					slot = i;
					break;
				}
				if (p[i].by < p[slot].by)
					slot = i;
			}
			if (p[slot].t)
				turned_away(&p[slot],
					    "too many connections "
					    "proving themselves",
					    &last_warn);
			p[slot] = (struct pending){
				.t = t,
				.by = clock__mono_ns() +
				      HANDSHAKE_MS * 1000000ull,
			};
		}
		if (rc != -EAGAIN && rc != -EINTR && rc != -ECONNABORTED)
			pr_warn("--incoming %s: accept: %s", addr,
				strerror(-rc));
		rc = 0;
		for (int i = 0; i < PENDING_MAX && won < 0; i++) {
			if (!p[i].t)
				continue;
			why[0] = '\0';
			rc = transport__handshake(p[i].t, why, sizeof(why));
			if (!rc)
				won = i;
			else if (rc != -EAGAIN)
				turned_away(&p[i], why[0] ? why : strerror(-rc),
					    &last_warn);
			else if (clock__mono_ns() > p[i].by)
				turned_away(&p[i],
					    "it did not prove itself in "
					    "time",
					    &last_warn);
			rc = 0;
		}
	}
	for (int i = 0; i < PENDING_MAX; i++)
		if (i != won && p[i].t)
			transport__close(p[i].t);
	close(lfd);
	if (won < 0) {
		pr_err("--incoming %s: %s", addr, strerror(-rc));
		return rc ? rc : -EIO;
	}
	in->t = p[won].t;
	snprintf(in->source, sizeof(in->source), "the source %s", in->t->addr);
	in->what = in->source;
	pr_info("%s proved the domain's credentials: receiving", in->t->addr);
	return 0;
}

int migrate__in_open(struct migrate_in **in_r, const char *file,
		     const char *listen_addr, struct tls_creds *creds,
		     const struct migrate_own *own,
		     struct migstream_domain_info *di)
{
	struct migrate_in *in = calloc(1, sizeof(*in));
	uint8_t hdr[MIGSTREAM_HEADER_SIZE];
	struct migstream_rec r;
	uint32_t flags;
	char err[256];
	int rc;

	if (!in)
		return -ENOMEM;
	*in_r = in;
	/* pvft migrate waits for this before it tells the source to go. */
	set_state(&mig, MIGRATE_INCOMING);
	in->fd = -1;
	in->cap = 1u << 16;
	in->rec = malloc(in->cap);
	if (!in->rec)
		return -ENOMEM;
	if (file) {
		in->what = file;
		in->fd = open(file, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0) {
			pr_err("--restore %s: %s", file, strerror(errno));
			return errno == ENOENT || errno == EACCES ? -EINVAL
								  : -errno;
		}
	} else {
		rc = accept_source(in, listen_addr, creds);
		if (rc)
			return rc;
	}
	rc = in_read(in, hdr, sizeof(hdr));
	if (rc == -ENODATA)
		return in_fail(in, -EBADMSG, "not a pvft migration stream (%s)",
			       "shorter than its header");
	if (rc)
		return in_io_fail(in, rc, "in its header");
	rc = migstream__decode_header(hdr, sizeof(hdr), &flags, err,
				      sizeof(err));
	if (rc)
		return in_fail(in, -EBADMSG, "%s", err);
	migstream__order_init(&in->order, flags);
	if (!(flags & MIGSTREAM_F_LIVE) != !in->t)
		return in_fail(in, -EBADMSG, "a %s stream where a %s was due",
			       in->t ? "save file's" : "live migration's",
			       in->t ? "live one" : "save file");
	rc = in_next(in, &r);
	if (rc)
		return rc;
	if (r.type != MIGSTREAM_DOMAIN_INFO)
		return in_fail(in, -EBADMSG,
			       "the stream starts with a %s record, not "
			       "DOMAIN_INFO",
			       migstream__type_name(r.type));
	if (migstream__get_domain_info(&r, di, err, sizeof(err)))
		return in_fail(in, -EBADMSG, "%s", err);
	rc = check_domain(in, di, own);
	if (rc)
		return rc;
	in->mem_size = di->mem_size;
	in->role = di->role;
	rc = in_next(in, &r);
	if (rc)
		return rc;
	if (r.type == MIGSTREAM_CONFIG) {
		in->config = strndup((const char *)r.body, r.len);
		if (!in->config)
			return -ENOMEM;
	} else {
		/* Its bytes stay in in->rec until in_next is called again. */
		in->pending = r;
		in->have_pending = true;
	}
	return 0;
}

const char *migrate__in_config(const struct migrate_in *in)
{
	return in->config;
}

bool migrate__in_join(const struct migrate_in *in)
{
	return in->role == MIGSTREAM_ROLE_JOIN;
}

const void *migrate__in_log_tail(const struct migrate_in *in, size_t *len_r)
{
	*len_r = in->log_tail_len;
	return in->log_tail;
}

static int apply_pages(struct migrate_in *in, struct domain *d,
		       const struct migstream_rec *r, uint64_t *pages)
{
	struct migstream_pages p;
	const uint8_t *data;
	char err[256];

	if (migstream__get_pages(r, in->mem_size / MIGSTREAM_PAGE_SIZE, &p, err,
				 sizeof(err)))
		return in_fail(in, -EBADMSG, "%s", err);
	data = p.data;
	for (uint32_t i = 0; i < p.count; i++) {
		uint8_t *page = d->mem + (p.pfn[i] & MIGSTREAM_PFN_MASK) *
					     MIGSTREAM_PAGE_SIZE;

		uint64_t pfn = p.pfn[i] & MIGSTREAM_PFN_MASK,
			 bit = 1ull << (pfn % 64);

		if (p.pfn[i] & MIGSTREAM_PFN_ZERO) {
			if (in->written[pfn / 64] & bit)
				memset(page, 0, MIGSTREAM_PAGE_SIZE);
		} else {
			memcpy(page, data, MIGSTREAM_PAGE_SIZE);
			data += MIGSTREAM_PAGE_SIZE;
			in->written[pfn / 64] |= bit;
		}
	}
	*pages += p.count;
	return 0;
}

static int apply_vcpu(struct migrate_in *in, struct domain *d,
		      const struct migstream_vcpu *v)
{
	struct vcpu_state vs = { 0 };
	int rc;

	memcpy(&vs.regs, v->gpr, sizeof(v->gpr));
	vs.regs.rflags = v->rflags;
	vs.rip = v->rip;
	memcpy(vs.fxsave, v->fxsave, sizeof(vs.fxsave));
	rc = d->backend->set_state(d, &vs);
	if (rc)
		return in_fail(in, rc,
			       "the %s backend cannot take the vCPU's "
			       "state: %s",
			       d->backend->name, strerror(-rc));
	memcpy(d->trap_handler, v->trap_handler, sizeof(d->trap_handler));
	d->in_trap_handler = v->in_trap_handler;
	return 0;
}

/*
 * The console output's hash state came from the peer: every field the
 * library indexes or bounds by must be what a state of the default
 * variant that hashed @bytes holds, else its next update writes where it
 * says (bufferedSize, nbStripesSoFar, secretLimit). The secret pointer
 * went as NULL (send_state) and becomes this process's default one.
 */
static bool hash_state_ok(XXH3_state_t *st, uint64_t bytes)
{
	XXH3_state_t fresh;

	if (XXH3_64bits_reset(&fresh) != XXH_OK || !fresh.extSecret ||
	    st->extSecret)
		return false;
	if (st->useSeed != fresh.useSeed || st->seed != fresh.seed ||
	    st->reserved64 || st->secretLimit != fresh.secretLimit ||
	    st->nbStripesPerBlock != fresh.nbStripesPerBlock ||
	    st->nbStripesSoFar >= st->nbStripesPerBlock ||
	    st->bufferedSize > sizeof(st->buffer) || st->totalLen != bytes ||
	    st->bufferedSize > bytes ||
	    (bytes <= sizeof(st->buffer) && st->bufferedSize != bytes))
		return false;
	st->extSecret = fresh.extSecret;
	return true;
}

static int apply_gate(struct migrate_in *in, struct domain *d,
		      const struct migstream_gate *g)
{
	bool join = in->role == MIGSTREAM_ROLE_JOIN;
	bool replay = in->role == LOGFMT_ROLE_BACKUP || join;

	/* A joined primary ran alone (no log) up to the cut. */
	if (g->mode != (replay && !join ? GATE_REPLAY : GATE_NONE))
		return in_fail(in, -EBADMSG,
			       "GATE: the domain was in %s mode, not what %s "
			       "is in",
			       g->mode == GATE_RECORD	? "record"
			       : g->mode == GATE_REPLAY ? "replay"
							: "no log",
			       join	? "a primary a backup joins"
			       : replay ? "a backup"
					: "an unreplicated domain");
	/*
	 * A replay needs the output hash state; a single domain has one if
	 * it was a replica once (then ran alone), else none.
	 */
	if (g->out_state_len != sizeof(XXH3_state_t) &&
	    (replay || g->out_state_len))
		return in_fail(in, -EBADMSG,
			       "GATE: an output hash state of %u bytes, not "
			       "%zu%s",
			       g->out_state_len, sizeof(XXH3_state_t),
			       replay ? "" : " or none");
	if (g->out_state_len) {
		/* A replay hashes its console output for the digests. */
		if (!d->gate.out_state)
			d->gate.out_state = XXH3_createState();
		if (!d->gate.out_state)
			return in_fail(in, -ENOMEM, "out of memory");
		XXH3_state_t *st = d->gate.out_state;

		memcpy(st, g->out_state, sizeof(*st));
		if (!hash_state_ok(st, g->out_bytes))
			return in_fail(in, -EBADMSG,
				       "GATE: an output hash state this pvft "
				       "does not make (its counts do not "
				       "hold for %llu bytes)",
				       (unsigned long long)g->out_bytes);
		/* An opaque state: only its hash says it is whole. */
		if (XXH3_64bits_digest(d->gate.out_state) != g->out_hash)
			return in_fail(in, -EBADMSG,
				       "GATE: the output hash state does not "
				       "give its hash");
	}
	if (replay)
		d->gate.known_ns = g->guest_ns;
	d->exits = g->exits;
	d->gate.records = g->records;
	d->last_rip = g->last_rip;
	d->id_counter = g->id_counter;
	d->id_nonce = g->id_nonce;
	d->gate.last_digest_exit = g->last_digest_exit;
	d->gate.out_bytes = g->out_bytes;
	/* Guest time goes on from where it was, not from 0. */
	d->sched.boot_ns = clock__mono_ns() - g->guest_ns;
	return 0;
}

int migrate__in_build(struct migrate_in *in, struct domain *d)
{
	struct migstream_vcpu v;
	struct migstream_gate g;
	struct migstream_verify want;
	struct logfmt_digest_value got;
	struct migstream_rec r;
	bool have_vcpu = false, have_dev = false, have_gate = false,
	     have_verify = false;
	uint64_t pages = 0, rounds = 0, t0 = clock__mono_ns();
	char err[512];
	int rc;

	set_state(&mig, MIGRATE_INCOMING);
	in->written = calloc((in->mem_size / MIGSTREAM_PAGE_SIZE + 63) / 64, 8);
	if (!in->written)
		return in_fail(in, -ENOMEM, "out of memory");
	/* The caller touched all of memory (hv/main.c, touch_memory). */
	for (;;) {
		rc = in_next(in, &r);
		if (rc)
			return rc;
		switch (r.type) {
		case MIGSTREAM_PAGE_DATA:
			if (have_verify)
				goto order;
			rc = apply_pages(in, d, &r, &pages);
			break;
		case MIGSTREAM_ROUND: {
			struct migstream_round rd;

			if (have_vcpu)
				goto order;
			if (migstream__get_round(&r, &rd, err, sizeof(err)))
				return in_fail(in, -EBADMSG, "%s", err);
			rounds++;
			if ((rd.flags & MIGSTREAM_ROUND_SYNC) && in->t &&
			    transport__send_all(
				in->t, MIGSTREAM_SYNC, MIGSTREAM_ACK_SIZE,
				clock__mono_ns() +
				    MIGRATE_IO_TIMEOUT_MS * 1000000ull))
				return in_fail(in, -EBADMSG,
					       "the source went away after "
					       "round %u",
					       rd.round);
			break;
		}
		case MIGSTREAM_VCPU:
			if (have_vcpu)
				goto order;
			pr_debug(
			    "restore: the cut's records begin after %.1f ms "
			    "of pages",
			    ms_since(t0));
			if (migstream__get_vcpu(&r, &v, err, sizeof(err)))
				return in_fail(in, -EBADMSG, "%s", err);
			have_vcpu = true;
			break;
		case MIGSTREAM_DEVICES:
			if (have_dev || !have_vcpu)
				goto order;
			rc = devices__restore(d, r.body, r.len);
			if (rc)
				return in_fail(in, -EBADMSG,
					       "DEVICES: refused (%s)",
					       strerror(-rc));
			have_dev = true;
			break;
		case MIGSTREAM_GATE:
			if (have_gate || !have_dev)
				goto order;
			if (migstream__get_gate(&r, &g, err, sizeof(err)))
				return in_fail(in, -EBADMSG, "%s", err);
			rc = apply_gate(in, d, &g);
			have_gate = true;
			if (rc)
				break;
			/*
			 * Everything the digest covers is here: taken now,
			 * while the source takes its own for VERIFY.
			 */
			rc = apply_vcpu(in, d, &v);
			if (!rc && digest__take(d, &got))
				rc =
				    in_fail(in, -EIO, "cannot take the digest");
			pr_debug("restore: the digest taken at %.1f ms",
				 ms_since(t0));
			break;
		case MIGSTREAM_VERIFY:
			if (have_verify || !have_gate ||
			    (in->role != 0 && !in->log_tail))
				goto order;
			if (migstream__get_verify(&r, &want, err, sizeof(err)))
				return in_fail(in, -EBADMSG, "%s", err);
			pr_debug("restore: VERIFY arrived at %.1f ms",
				 ms_since(t0));
			digest__diff(
			    &(struct logfmt_digest_value){
				.mem = want.mem,
				.regs = want.regs,
				.out_bytes = want.out_bytes,
				.out_hash = want.out_hash,
			    },
			    &got, err, sizeof(err));
			if (err[0])
				return in_fail(in, -EBADMSG,
					       "VERIFY: what was built is not "
					       "the domain that was sent: %s",
					       err);
			digest__print("migration: digest at the cut", &got);
			pr_debug("restore: VERIFY checked at %.1f ms",
				 ms_since(t0));
			if (want.pages_sent != pages || want.rounds != rounds)
				return in_fail(
				    in, -EBADMSG,
				    "VERIFY: %llu pages in %llu rounds sent, "
				    "%llu in %llu received",
				    (unsigned long long)want.pages_sent,
				    (unsigned long long)want.rounds,
				    (unsigned long long)pages,
				    (unsigned long long)rounds);
			have_verify = true;
			break;
		case MIGSTREAM_END:
			if (!have_verify)
				goto order;
			pr_info("restored from %s: %llu pages, exit ordinal "
				"%llu, digests match",
				in_what(in), (unsigned long long)pages,
				(unsigned long long)d->exits);
			return 0;
		case MIGSTREAM_LOG_TAIL:
			if (!have_gate || have_verify || in->log_tail ||
			    !in->role)
				goto order;
			in->log_tail = malloc(r.len ? r.len : 1);
			if (!in->log_tail)
				return in_fail(in, -ENOMEM, "out of memory");
			memcpy(in->log_tail, r.body, r.len);
			in->log_tail_len = r.len;
			break;
		default:
			goto order;
		}
		if (rc)
			return rc;
	}
order:
	return in_fail(in, -EBADMSG, "a %s record out of order (%s)",
		       migstream__type_name(r.type),
		       !have_vcpu     ? "before VCPU"
		       : !have_dev    ? "before DEVICES"
		       : !have_gate   ? "before GATE"
		       : !have_verify ? "before VERIFY"
				      : "after VERIFY");
}

int migrate__in_answer(struct migrate_in *in, const char *why)
{
	uint64_t by = clock__mono_ns() + MIGRATE_IO_TIMEOUT_MS * 1000000ull;
	uint32_t len;
	int rc;

	char go[8];

	if (!in->t)
		return 0;
	if (!why) {
		rc = transport__send_all(in->t, MIGSTREAM_ACK_OK, 8, by);
		if (!rc)
			rc = transport__recv_all(in->t, go, sizeof(go), by);
		if (!rc && memcmp(go, MIGSTREAM_GO, sizeof(go)))
			rc = -EPROTO;
		/* Restored: nothing is under way any more. */
		if (!rc)
			set_state(&mig, MIGRATE_NONE);
		if (rc)
			pr_err(
			    "the source did not say go after the domain was "
			    "built (%s): it may run on, so this one does not",
			    rc == -ECONNRESET ? "it closed the link"
			    : rc == -EPROTO   ? "it said something else"
					      : strerror(-rc));
		return rc;
	}
	len = strlen(why);
	if (len > MIGSTREAM_ACK_MSG_MAX)
		len = MIGSTREAM_ACK_MSG_MAX;
	rc = transport__send_all(in->t, MIGSTREAM_ACK_NO, 8, by);
	if (!rc)
		rc = transport__send_all(in->t, &len, sizeof(len), by);
	if (!rc)
		rc = transport__send_all(in->t, why, len, by);
	/*
	 * What the source still sends is read and dropped for a moment: a
	 * close with unread bytes resets the link, and the source could
	 * lose the reason with them.
	 */
	if (!rc) {
		char sink[65536];
		uint64_t until = clock__mono_ns() + 2000000000ull;

		transport__shutdown_write(in->t);
		while (clock__mono_ns() < until) {
			ssize_t r = transport__recv(in->t, sink, sizeof(sink));
			struct pollfd p = { .fd = in->t->fd, .events = POLLIN };

			if (r == 0 || (r < 0 && r != -EAGAIN))
				break;
			if (r == -EAGAIN && !transport__pending(in->t))
				poll(&p, 1, 100);
		}
	}
	return rc;
}

void migrate__in_close(struct migrate_in *in)
{
	if (!in)
		return;
	if (in->fd >= 0)
		close(in->fd);
	transport__close(in->t);
	free(in->rec);
	free(in->config);
	free(in->written);
	free(in->log_tail);
	free(in);
}
