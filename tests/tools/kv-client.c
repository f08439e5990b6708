// SPDX-License-Identifier: MIT
/*
 * pvft-kv-client: load and exactly-once checking for a kv service
 * (include/pvft/kv.h; Documentation/kv-protocol.md is the protocol and
 * section 6 there says what this program checks, and how).
 *
 *   pvft-kv-client [--server HOST:PORT] [--clients N] [--duration SEC]
 *                  [--requests N] [--keys K] [--value-size B] ...
 *
 * N clients, each with its own UDP socket, its own random 64-bit id and
 * at most one request outstanding, run as state machines in one thread
 * and one epoll. Every key belongs to one client, so a client knows what
 * each of its keys must hold and how many writes it must have had: every
 * reply is checked against that, and at the end every key written is read
 * back and checked once more.
 *
 * stdout: the summary (or with --json one JSON object); stderr: progress
 * and each violation as it is found. Exit status: 0 all checks passed;
 * 1 a check failed; 2 usage or setup error; 3 the server never answered.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "pvft/kv.h"
#include "tcp.h"

#define KVC_EXIT_CHECK 1
#define KVC_EXIT_USAGE 2
#define KVC_EXIT_SILENT 3

/* The guest's client table: more clients than this break exactly-once. */
#define KVC_CLIENTS_MAX 4096
#define KVC_KEYS_MAX 1024
#define KVC_BACKOFF_MAX_MS 500
#define KVC_BUCKET_NS 100000000LL /* --timeline rows */
#define KVC_PROGRESS_NS 1000000000LL
#define KVC_EVENTS 64
/* Datagrams taken from one socket per wake-up: a flood on one starves none. */
#define KVC_RECV_BURST 16
/* Violations printed and put in the JSON; all are counted. */
#define KVC_SHOWN_MAX 100
#define KVC_DESC_MAX 256
#define KVC_SHOW_VALUE 40 /* bytes of a value a violation shows */

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL

/* Latency histogram, in us: 2^(LAT_SUB_BITS-1) steps per power of two. */
#define LAT_SUB_BITS 8
#define LAT_SUB (1u << LAT_SUB_BITS)
#define LAT_TOP_BITS 40
#define LAT_BUCKETS \
	((LAT_TOP_BITS - LAT_SUB_BITS + 1) * (LAT_SUB / 2) + LAT_SUB)

enum phase {
	PH_RUN,	   /* random requests */
	PH_VERIFY, /* a GET of each key written */
	PH_DONE,
};

/* What a client believes one of its keys holds on the service. */
struct key {
	uint64_t writes;  /* the key's write count on the service */
	uint64_t val_req; /* present: the PUT (request number) it holds */
	bool present;
	bool val_unknown; /* present, with a value we did not write */
	bool written;	  /* a write to it was sent: checked at the end */
	bool pending;	  /* ... and was outstanding when the run stopped */
	uint8_t pending_op;
	uint64_t pending_req;
};

struct client {
	int fd;
	uint64_t id;
	uint64_t req; /* the last request's number */
	bool busy;    /* ... and it is outstanding */
	uint8_t op;
	unsigned int key;
	unsigned int tries;
	unsigned int timeout_ms;
	int64_t sent_ns;	 /* the first send */
	int64_t retry_ns;	 /* the next one */
	unsigned int next_check; /* PH_VERIFY: the next key to read back */
	struct key *keys;
	size_t len;
	uint8_t msg[KV_REQ_MAX];
};

/* A growing array of latencies, us. */
struct samples {
	uint32_t *v;
	size_t n, cap;
};

struct violation {
	const char *kind;
	char key[KV_KEY_MAX + 1];
	uint8_t op;
	uint64_t req;
	char expected[2 * KVC_DESC_MAX];
	char got[KVC_DESC_MAX];
};

static struct {
	const char *server;
	unsigned int clients, keys, value_size, timeout_ms;
	double get_ratio, del_ratio;
	int64_t duration_ns; /* 0: no limit */
	uint64_t requests;   /* 0: no limit */
	int64_t connect_timeout_ns;
	bool progress, json, verify;
	const char *timeline;
} opt = {
	.server = "127.0.0.1:7000",
	.clients = 16,
	.keys = 8,
	.value_size = 64,
	.timeout_ms = 50,
	.get_ratio = 0.2,
	.connect_timeout_ns = 10 * NS_PER_S,
	.verify = true,
};

static struct {
	uint64_t requests; /* distinct requests of the run */
	uint64_t answered; /* ... answered */
	uint64_t retries, abandoned;
	uint64_t bad;	 /* invalid datagrams */
	uint64_t late;	 /* valid replies to an earlier request */
	uint64_t full;	 /* KV_FULL: not applied, not a fault */
	uint64_t errors; /* KV_STALE or KV_BAD to a well-formed request */
	uint64_t lost, doubled;
	uint64_t checked, unverified; /* keys read back at the end */
	uint64_t violations;
	int64_t blackout_ns, blackout_at_ns;
} st;

static struct {
	enum phase phase;
	struct client *c;
	int ep, sig_fd;
	uint64_t rng;
	int64_t start_ns, stop_ns, deadline_ns, last_reply_ns;
	int64_t scan_ns; /* no retry is due before this */
	int64_t progress_ns;
	unsigned int busy; /* clients with a request outstanding */
	int64_t busy_since_ns;
	bool answered; /* a valid reply came */
	uint64_t hist[LAT_BUCKETS];
	uint64_t hist_n, max_us;
	/* Latencies of the current second (--progress), and bucket. */
	struct samples second, bucket;
	uint64_t second_answered;
	FILE *timeline;
	int64_t bucket_no; /* the current --timeline row */
	struct violation shown[KVC_SHOWN_MAX];
} run;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kv-client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kv-client: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(status);
}

/* xorshift64*: the workload's choices (ids come from getrandom). */
static uint64_t rnd(void)
{
	run.rng ^= run.rng >> 12;
	run.rng ^= run.rng << 25;
	run.rng ^= run.rng >> 27;
	return run.rng * 0x2545f4914f6cdd1dull;
}

static double rnd_unit(void)
{
	return (double)(rnd() >> 11) / (double)(1ull << 53);
}

static uint64_t random64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		die(KVC_EXIT_USAGE, "getrandom: %s", strerror(errno));
	return v;
}

static const char *op_name(uint8_t op)
{
	return op == KV_PUT ? "PUT" : op == KV_GET ? "GET" : "DEL";
}

static int key_name(const struct client *c, unsigned int key, char *buf)
{
	return snprintf(buf, KV_KEY_MAX + 1, "c%016" PRIx64 "-k%u", c->id, key);
}

/*
 * The value PUT request @req of client @c writes to @key: its number
 * first, so that even a short value differs from the key's earlier ones.
 */
static void make_value(const struct client *c, unsigned int key, uint64_t req,
		       uint8_t *buf)
{
	char tag[64];
	int n = snprintf(tag, sizeof(tag),
			 "r%" PRIu64 "-c%016" PRIx64 "-k%u:", req, c->id, key);

	for (unsigned int i = 0; i < opt.value_size; i++)
		buf[i] = i < (unsigned int)n ? (uint8_t)tag[i]
					     : (uint8_t)('a' + (req + i) % 26);
}

/* @v as text for a message: printable ASCII, escaped, cut. */
static void show_bytes(char *out, size_t size, const uint8_t *v, size_t len)
{
	size_t o = 0;

	o += (size_t)snprintf(out + o, size - o, "\"");
	for (size_t i = 0; i < len && i < KVC_SHOW_VALUE && o < size; i++) {
		if (v[i] >= 0x20 && v[i] < 0x7f && v[i] != '"' && v[i] != '\\')
			o += (size_t)snprintf(out + o, size - o, "%c", v[i]);
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x",
					      v[i]);
	}
	if (o < size)
		snprintf(out + o, size - o, "\"%s (%zu bytes)",
			 len > KVC_SHOW_VALUE ? "..." : "", len);
}

/* --- latency ---------------------------------------------------------- */

static unsigned int lat_index(uint64_t us)
{
	unsigned int shift;

	if (us >= 1ull << LAT_TOP_BITS)
		us = (1ull << LAT_TOP_BITS) - 1;
	if (us < LAT_SUB)
		return (unsigned int)us;
	shift = (unsigned int)(63 - __builtin_clzll(us)) - LAT_SUB_BITS + 1;
	return shift * (LAT_SUB / 2) + (unsigned int)(us >> shift);
}

/* The highest latency histogram bucket @i holds. */
static uint64_t lat_value(unsigned int i)
{
	unsigned int shift;

	if (i < LAT_SUB)
		return i;
	shift = i / (LAT_SUB / 2) - 1;
	return ((uint64_t)(i - shift * (LAT_SUB / 2)) << shift) +
	       (1ull << shift) - 1;
}

/* The @num/@den quantile of the histogram (0 if empty). */
static uint64_t hist_quantile(uint64_t num, uint64_t den)
{
	uint64_t rank = (run.hist_n * num + den - 1) / den, seen = 0;

	if (!run.hist_n)
		return 0;
	if (!rank)
		rank = 1;
	for (unsigned int i = 0; i < LAT_BUCKETS; i++) {
		seen += run.hist[i];
		if (seen >= rank) {
			uint64_t v = lat_value(i);

			return v < run.max_us ? v : run.max_us;
		}
	}
	return run.max_us;
}

static void samples_add(struct samples *s, uint32_t v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		uint32_t *p = realloc(s->v, cap * sizeof(*p));

		if (!p)
			die(KVC_EXIT_USAGE, "out of memory");
		s->v = p;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The @num/@den quantile of sorted @s (0 if empty). */
static uint32_t samples_quantile(const struct samples *s, size_t num,
				 size_t den)
{
	size_t rank = (s->n * num + den - 1) / den;

	if (!s->n)
		return 0;
	return s->v[rank ? rank - 1 : 0];
}

/* Write --timeline rows up to (not including) row @upto. */
static void timeline_flush(int64_t upto)
{
	struct samples *b = &run.bucket;

	for (; run.bucket_no < upto; run.bucket_no++) {
		qsort(b->v, b->n, sizeof(*b->v), cmp_u32);
		fprintf(run.timeline,
			"%.1f,%zu,%" PRIu32 ",%" PRIu32 ",%" PRIu32 "\n",
			(double)run.bucket_no * KVC_BUCKET_NS / NS_PER_S, b->n,
			samples_quantile(b, 50, 100),
			samples_quantile(b, 99, 100),
			b->n ? b->v[b->n - 1] : 0);
		b->n = 0;
	}
}

static void record_latency(int64_t now, int64_t lat_ns)
{
	uint64_t us = (uint64_t)(lat_ns / 1000);
	uint32_t us32 = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;

	run.hist[lat_index(us)]++;
	run.hist_n++;
	if (us > run.max_us)
		run.max_us = us;
	if (opt.progress)
		samples_add(&run.second, us32);
	if (run.timeline) {
		timeline_flush((now - run.start_ns) / KVC_BUCKET_NS);
		samples_add(&run.bucket, us32);
	}
}

static void progress(int64_t now)
{
	unsigned int retrying = 0;

	for (unsigned int i = 0; i < opt.clients; i++)
		if (run.c[i].busy && run.c[i].tries > 1)
			retrying++;
	qsort(run.second.v, run.second.n, sizeof(*run.second.v), cmp_u32);
	say("%.1f s: %" PRIu64 " req/s, p50 %" PRIu32 " us, retrying %u, "
	    "answered %" PRIu64 ", violations %" PRIu64,
	    (double)(now - run.start_ns) / NS_PER_S, run.second_answered,
	    samples_quantile(&run.second, 50, 100), retrying, st.answered,
	    st.violations);
	run.second.n = 0;
	run.second_answered = 0;
}

/* --- checking --------------------------------------------------------- */

/* A key's state on the service as the client expects or finds it. */
struct kstate {
	bool present;
	uint64_t writes;
	const uint8_t *val; /* present: the bytes, NULL if unknown */
	size_t len;
};

static void describe(char *out, const struct kstate *s)
{
	char v[KVC_DESC_MAX - 48];

	if (!s->present)
		snprintf(out, KVC_DESC_MAX, "writes %" PRIu64 ", no value",
			 s->writes);
	else if (!s->val)
		snprintf(out, KVC_DESC_MAX, "writes %" PRIu64 ", some value",
			 s->writes);
	else {
		show_bytes(v, sizeof(v), s->val, s->len);
		snprintf(out, KVC_DESC_MAX, "writes %" PRIu64 ", value %s",
			 s->writes, v);
	}
}

static bool same_state(const struct kstate *want, const struct kstate *got)
{
	if (want->present != got->present || want->writes != got->writes)
		return false;
	if (!want->present || !want->val)
		return true;
	return want->len == got->len && !memcmp(want->val, got->val, got->len);
}

static void violation(const char *kind, const struct client *c,
		      unsigned int key, const char *expected, const char *got)
{
	if (st.violations < KVC_SHOWN_MAX) {
		struct violation *v = &run.shown[st.violations];

		v->kind = kind;
		key_name(c, key, v->key);
		v->op = c->op;
		v->req = c->req;
		snprintf(v->expected, sizeof(v->expected), "%s", expected);
		snprintf(v->got, sizeof(v->got), "%s", got);
		say("%s: key %s (%s #%" PRIu64 "): expected %s; got %s", kind,
		    v->key, op_name(c->op), c->req, expected, got);
	} else if (st.violations == KVC_SHOWN_MAX) {
		say("more violations: counted, not shown");
	}
	st.violations++;
}

/*
 * Compare what the service says a key holds (@got) with what it must hold
 * (@want, or, when a write of the run was left without a reply, @alt).
 * A higher write count than allowed is writes applied twice; a lower one,
 * or the right count with another value, writes lost.
 */
static bool check(const struct client *c, const struct kstate *want,
		  const struct kstate *alt, const struct kstate *got)
{
	const struct kstate *hi = alt ? alt : want;
	char e[2 * KVC_DESC_MAX], e2[KVC_DESC_MAX], g[KVC_DESC_MAX];
	const char *kind;
	uint64_t n;

	if (same_state(want, got) || (alt && same_state(alt, got)))
		return true;
	if (got->writes > hi->writes) {
		kind = "applied twice";
		n = got->writes - hi->writes;
		st.doubled += n;
	} else {
		kind = "lost";
		n = got->writes < want->writes ? want->writes - got->writes : 1;
		st.lost += n;
	}
	describe(e, want);
	if (alt) {
		describe(e2, alt);
		strcat(e, " or ");
		strcat(e, e2);
	}
	describe(g, got);
	violation(kind, c, c->key, e, g);
	return false;
}

static void expected_state(const struct client *c, const struct key *k,
			   struct kstate *s, uint8_t *buf)
{
	s->present = k->present;
	s->writes = k->writes;
	s->val = NULL;
	s->len = opt.value_size;
	if (k->present && !k->val_unknown) {
		make_value(c, c->key, k->val_req, buf);
		s->val = buf;
	}
}

/* The state after write @op (request @req) on @s. */
static void after_write(const struct client *c, uint8_t op, uint64_t req,
			struct kstate *s, uint8_t *buf)
{
	if (op == KV_DEL && !s->present)
		return; /* NOT_FOUND: not a write */
	s->writes++;
	s->present = op == KV_PUT;
	s->val = NULL;
	if (op == KV_PUT) {
		make_value(c, c->key, req, buf);
		s->val = buf;
		s->len = opt.value_size;
	}
}

/* Make the client's idea of @k what the service said (@got). */
static void resync(struct key *k, const struct kstate *got)
{
	k->writes = got->writes;
	k->present = got->present;
	k->val_unknown = got->present;
}

static void describe_write(char *out, uint8_t status, uint64_t writes)
{
	snprintf(out, KVC_DESC_MAX, "%s, writes %" PRIu64,
		 status == KV_OK ? "KV_OK" : "KV_NOT_FOUND", writes);
}

/*
 * The reply to a PUT or DEL says whether the key held a value (DEL) and
 * its write count after the request: exactly one more than before if it
 * was a write.
 */
static void write_check(struct client *c, uint8_t status, uint64_t writes)
{
	struct key *k = &c->keys[c->key];
	uint8_t want = c->op == KV_DEL && !k->present ? KV_NOT_FOUND : KV_OK;
	uint64_t want_writes = k->writes + (want == KV_OK);
	char e[KVC_DESC_MAX], g[KVC_DESC_MAX];
	const char *kind = "lost";

	if (status != want || writes != want_writes) {
		if (writes > want_writes) {
			kind = "applied twice";
			st.doubled += writes - want_writes;
		} else if (c->op == KV_DEL && status == KV_NOT_FOUND &&
			   writes == want_writes) {
			/* Deleted and counted, then found deleted: twice. */
			kind = "applied twice";
			st.doubled++;
		} else {
			/* Fewer writes, or a DEL that found another state. */
			st.lost +=
			    writes < want_writes ? want_writes - writes : 1;
		}
		describe_write(e, want, want_writes);
		describe_write(g, status, writes);
		violation(kind, c, c->key, e, g);
	}
	k->writes = writes;
	k->present = c->op == KV_PUT;
	k->val_req = c->req;
	k->val_unknown = false;
}

/* A valid KV_OK or KV_NOT_FOUND reply to the outstanding request. */
static void reply_check(struct client *c, uint8_t status, uint64_t writes,
			const uint8_t *val, size_t len)
{
	uint8_t wbuf[KV_VAL_MAX], abuf[KV_VAL_MAX];
	struct key *k = &c->keys[c->key];
	struct kstate want, alt,
	    got = {
		    .present = status == KV_OK,
		    .writes = writes,
		    .val = val,
		    .len = len,
	    };

	if (c->op != KV_GET) {
		write_check(c, status, writes);
		return;
	}
	expected_state(c, k, &want, wbuf);
	if (run.phase == PH_RUN) {
		if (!check(c, &want, NULL, &got))
			resync(k, &got);
		return;
	}
	/* The final GET: a write left unanswered may have been applied. */
	st.checked++;
	if (k->pending) {
		alt = want;
		if (alt.val) {
			memcpy(abuf, alt.val, alt.len);
			alt.val = abuf;
		}
		after_write(c, k->pending_op, k->pending_req, &alt, abuf);
	}
	check(c, &want, k->pending ? &alt : NULL, &got);
}

/* --- requests --------------------------------------------------------- */

static void send_msg(struct client *c)
{
	/*
	 * A refusal (ICMP) reported by an earlier datagram fails this send
	 * and is then cleared: try once more. Anything else is a datagram
	 * lost, which the retry timer covers.
	 */
	if (send(c->fd, c->msg, c->len, MSG_DONTWAIT) < 0 &&
	    errno == ECONNREFUSED)
		send(c->fd, c->msg, c->len, MSG_DONTWAIT);
}

static void issue(struct client *c, uint8_t op, unsigned int key, int64_t now)
{
	char name[KV_KEY_MAX + 1];
	int klen = key_name(c, key, name);
	uint16_t vlen = op == KV_PUT ? (uint16_t)opt.value_size : 0;
	uint8_t *m = c->msg;

	c->req++;
	c->op = op;
	c->key = key;
	kv__put16(m + KV_MAGIC_OFF, KV_MAGIC);
	m[KV_VERSION_OFF] = KV_VERSION;
	m[KV_OP_OFF] = op;
	kv__put64(m + KV_CLIENT_OFF, c->id);
	kv__put64(m + KV_REQ_OFF, c->req);
	kv__put16(m + KV_KEYLEN_OFF, (uint16_t)klen);
	kv__put16(m + KV_VALLEN_OFF, vlen);
	memcpy(m + KV_REQ_HDR, name, (size_t)klen);
	if (op == KV_PUT)
		make_value(c, key, c->req, m + KV_REQ_HDR + klen);
	c->len = KV_REQ_HDR + (size_t)klen + vlen;
	if (op != KV_GET)
		c->keys[key].written = true;

	c->busy = true;
	if (!run.busy++)
		run.busy_since_ns = now;
	c->tries = 1;
	c->timeout_ms = opt.timeout_ms;
	c->sent_ns = now;
	c->retry_ns = now + c->timeout_ms * NS_PER_MS;
	if (c->retry_ns < run.scan_ns)
		run.scan_ns = c->retry_ns;
	send_msg(c);
}

/* Give @c its next request, if the phase has one for it. */
static void next_request(struct client *c, int64_t now)
{
	double u;
	uint8_t op;

	if (run.phase == PH_VERIFY) {
		while (c->next_check < opt.keys &&
		       !c->keys[c->next_check].written)
			c->next_check++;
		if (c->next_check < opt.keys)
			issue(c, KV_GET, c->next_check++, now);
		return;
	}
	if (run.phase != PH_RUN || run.stop_ns ||
	    (opt.requests && st.requests >= opt.requests))
		return;
	u = rnd_unit();
	op = u < opt.get_ratio			 ? KV_GET
	     : u < opt.get_ratio + opt.del_ratio ? KV_DEL
						 : KV_PUT;
	st.requests++;
	issue(c, op, (unsigned int)(rnd() % opt.keys), now);
}

/* No reply came since @from up to @now, with requests outstanding. */
static void blackout(int64_t now)
{
	int64_t from = run.busy_since_ns > run.last_reply_ns
			   ? run.busy_since_ns
			   : run.last_reply_ns;

	if (now - from > st.blackout_ns) {
		st.blackout_ns = now - from;
		st.blackout_at_ns = from - run.start_ns;
	}
}

static void done(struct client *c, int64_t now)
{
	c->busy = false;
	run.busy--;
	if (run.phase == PH_RUN)
		blackout(now);
	run.last_reply_ns = now;
}

/* Is @status one the service may answer @op with? */
static bool status_fits(uint8_t op, uint8_t status)
{
	switch (status) {
	case KV_OK:
	case KV_STALE:
	case KV_BAD:
		return true;
	case KV_NOT_FOUND:
		return op == KV_GET || op == KV_DEL;
	case KV_FULL:
		return op == KV_PUT;
	default:
		return false;
	}
}

/* One datagram from @c's socket: anything at all may arrive here. */
static void datagram(struct client *c, const uint8_t *b, size_t n, int64_t now)
{
	uint8_t op, status;
	uint64_t req, writes;
	uint16_t vlen;

	if (n < KV_REP_HDR || kv__get16(b + KV_MAGIC_OFF) != KV_MAGIC ||
	    b[KV_VERSION_OFF] != KV_VERSION ||
	    kv__get64(b + KV_CLIENT_OFF) != c->id || b[KV_STATUS_OFF + 1]) {
		st.bad++;
		return;
	}
	op = b[KV_OP_OFF];
	req = kv__get64(b + KV_REQ_OFF);
	status = b[KV_STATUS_OFF];
	vlen = kv__get16(b + KV_RVALLEN_OFF);
	writes = kv__get64(b + KV_WRITES_OFF);
	if (op < KV_PUT || op > KV_DEL || vlen > KV_VAL_MAX ||
	    n != KV_REP_HDR + (size_t)vlen || !status_fits(op, status) ||
	    (vlen && !(op == KV_GET && status == KV_OK))) {
		st.bad++;
		return;
	}
	if (!req) {
		st.bad++;
		return;
	}
	if (req < c->req || (req == c->req && !c->busy)) {
		/* An answer to a retry of a request answered before. */
		st.late++;
		return;
	}
	if (req > c->req || op != c->op) {
		st.bad++;
		return;
	}

	run.answered = true;
	done(c, now);
	if (status == KV_STALE || status == KV_BAD) {
		char got[KVC_DESC_MAX];

		snprintf(got, sizeof(got), "%s",
			 status == KV_STALE ? "KV_STALE" : "KV_BAD");
		st.errors++;
		violation("refused", c, c->key, "an answer", got);
	} else if (status == KV_FULL) {
		st.full++;
	} else {
		reply_check(c, status, writes, b + KV_REP_HDR, vlen);
	}
	if (run.phase == PH_RUN && status != KV_STALE && status != KV_BAD) {
		st.answered++;
		run.second_answered++;
		record_latency(now, now - c->sent_ns);
	}
	next_request(c, now);
}

static void receive(struct client *c, int64_t now)
{
	uint8_t buf[KV_REP_MAX + 1];

	for (int i = 0; i < KVC_RECV_BURST; i++) {
		ssize_t r =
		    recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			continue; /* ECONNREFUSED: nobody there yet */
		}
		if ((size_t)r > sizeof(buf))
			st.bad++;
		else
			datagram(c, buf, (size_t)r, now);
	}
}

/* Send again what is overdue; find when the next one will be. */
static void retry_due(int64_t now)
{
	unsigned int cap = opt.timeout_ms > KVC_BACKOFF_MAX_MS
			       ? opt.timeout_ms
			       : KVC_BACKOFF_MAX_MS;

	if (now < run.scan_ns)
		return;
	run.scan_ns = INT64_MAX;
	for (unsigned int i = 0; i < opt.clients; i++) {
		struct client *c = &run.c[i];

		if (!c->busy)
			continue;
		if (c->retry_ns <= now) {
			c->tries++;
			if (run.phase == PH_RUN)
				st.retries++;
			c->timeout_ms =
			    2 * c->timeout_ms < cap ? 2 * c->timeout_ms : cap;
			c->retry_ns = now + c->timeout_ms * NS_PER_MS;
			send_msg(c);
		}
		if (c->retry_ns < run.scan_ns)
			run.scan_ns = c->retry_ns;
	}
}

/*
 * The run ends: what is outstanding is abandoned, and a write among it
 * may or may not have been applied (the final check allows either).
 */
static void stop_run(int64_t now)
{
	run.stop_ns = now;
	if (run.busy)
		blackout(now);
	for (unsigned int i = 0; i < opt.clients; i++) {
		struct client *c = &run.c[i];

		if (!c->busy)
			continue;
		st.abandoned++;
		if (c->op != KV_GET) {
			c->keys[c->key].pending = true;
			c->keys[c->key].pending_op = c->op;
			c->keys[c->key].pending_req = c->req;
		}
		c->busy = false;
	}
	run.busy = 0;
	if (run.timeline)
		timeline_flush((now - run.start_ns + KVC_BUCKET_NS - 1) /
			       KVC_BUCKET_NS);
	if (!run.answered)
		die(KVC_EXIT_SILENT, "no reply from %s in %.1f s", opt.server,
		    (double)(now - run.start_ns) / NS_PER_S);
	if (!opt.verify) {
		run.phase = PH_DONE;
		return;
	}
	run.phase = PH_VERIFY;
	run.last_reply_ns = now;
	for (unsigned int i = 0; i < opt.clients; i++)
		next_request(&run.c[i], now);
}

/* The final check had no answer for too long: what is left is unverified. */
static void give_up(void)
{
	for (unsigned int i = 0; i < opt.clients; i++) {
		struct client *c = &run.c[i];

		if (c->busy) {
			violation("unverified", c, c->key, "an answer",
				  "no answer to the final GET");
			st.unverified++;
			c->busy = false;
		}
		for (; c->next_check < opt.keys; c->next_check++)
			if (c->keys[c->next_check].written)
				st.unverified++;
	}
	run.busy = 0;
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void loop(void)
{
	struct epoll_event ev[KVC_EVENTS];

	while (run.phase != PH_DONE) {
		int64_t now = ((int64_t)clock__mono_ns()), wake = run.scan_ns;
		int n, timeout_ms;

		if (run.phase == PH_RUN) {
			if (!run.stop_ns &&
			    ((run.deadline_ns && now >= run.deadline_ns) ||
			     (!run.busy && opt.requests &&
			      st.requests >= opt.requests))) {
				stop_run(now);
				continue;
			}
			if (!run.answered &&
			    now - run.start_ns >= opt.connect_timeout_ns)
				die(KVC_EXIT_SILENT,
				    "no reply from %s in %.1f s", opt.server,
				    (double)opt.connect_timeout_ns / NS_PER_S);
			if (opt.progress && now >= run.progress_ns) {
				progress(now);
				run.progress_ns += KVC_PROGRESS_NS;
			}
			if (run.deadline_ns)
				wake = min64(wake, run.deadline_ns);
			if (!run.answered)
				wake = min64(wake, run.start_ns +
						       opt.connect_timeout_ns);
			if (opt.progress)
				wake = min64(wake, run.progress_ns);
		} else {
			if (!run.busy) {
				run.phase = PH_DONE;
				break;
			}
			if (now - run.last_reply_ns >= opt.connect_timeout_ns) {
				give_up();
				run.phase = PH_DONE;
				break;
			}
			wake = min64(wake, run.last_reply_ns +
					       opt.connect_timeout_ns);
		}
		retry_due(now);
		wake = min64(wake, run.scan_ns);
		/* At least once a second: a bound, not a schedule. */
		wake = min64(wake, now + NS_PER_S);
		timeout_ms =
		    wake <= now
			? 0
			: (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS);
		n = epoll_wait(run.ep, ev, KVC_EVENTS, timeout_ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die(KVC_EXIT_USAGE, "epoll_wait: %s", strerror(errno));
		}
		now = ((int64_t)clock__mono_ns());
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == UINT32_MAX) {
				struct signalfd_siginfo si;

				if (read(run.sig_fd, &si, sizeof(si)) !=
				    sizeof(si))
					continue;
				say("%s: %s", strsignal((int)si.ssi_signo),
				    run.phase == PH_RUN
					? "ending the run"
					: "ending the final check");
				if (run.phase == PH_RUN) {
					if (!run.stop_ns)
						stop_run(now);
				} else {
					give_up();
					run.phase = PH_DONE;
				}
				continue;
			}
			receive(&run.c[ev[i].data.u32], now);
		}
	}
}

/* --- set-up and report ------------------------------------------------ */

static void setup(void)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct addrinfo *ai = NULL;
	char err[TCP_ERR_MAX];
	struct rlimit rl;
	sigset_t set;

	if (tcp__resolve(opt.server, false, &ai, err))
		die(KVC_EXIT_USAGE, "--server %s", err);
	/* One socket a client: more than the usual 1024 fds may be needed. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < opt.clients + 64u) {
		rl.rlim_cur = rl.rlim_max < opt.clients + 64u
				  ? rl.rlim_max
				  : opt.clients + 64u;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	run.ep = epoll_create1(EPOLL_CLOEXEC);
	if (run.ep < 0)
		die(KVC_EXIT_USAGE, "epoll_create1: %s", strerror(errno));
	run.c = calloc(opt.clients, sizeof(*run.c));
	if (!run.c)
		die(KVC_EXIT_USAGE, "out of memory");
	for (unsigned int i = 0; i < opt.clients; i++) {
		struct client *c = &run.c[i];

		c->keys = calloc(opt.keys, sizeof(*c->keys));
		if (!c->keys)
			die(KVC_EXIT_USAGE, "out of memory");
		do
			c->id = random64();
		while (!c->id);
		/* Connected: only the server's datagrams reach it. */
		c->fd = socket(ai->ai_family,
			       SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen))
			die(KVC_EXIT_USAGE, "socket for %s: %s", opt.server,
			    strerror(errno));
		e.data.u32 = i;
		if (epoll_ctl(run.ep, EPOLL_CTL_ADD, c->fd, &e))
			die(KVC_EXIT_USAGE, "epoll_ctl: %s", strerror(errno));
	}
	freeaddrinfo(ai);

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	run.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	e.data.u32 = UINT32_MAX;
	if (run.sig_fd < 0 || epoll_ctl(run.ep, EPOLL_CTL_ADD, run.sig_fd, &e))
		die(KVC_EXIT_USAGE, "signalfd: %s", strerror(errno));

	if (opt.timeline) {
		run.timeline = fopen(opt.timeline, "w");
		if (!run.timeline)
			die(KVC_EXIT_USAGE, "%s: %s", opt.timeline,
			    strerror(errno));
		fprintf(run.timeline, "t_s,replies,p50_us,p99_us,max_us\n");
	}
	run.rng = random64() | 1;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static bool passed(void)
{
	return !st.lost && !st.doubled && !st.errors && !st.unverified;
}

static void report_json(double secs, double rps)
{
	size_t shown =
	    st.violations < KVC_SHOWN_MAX ? st.violations : KVC_SHOWN_MAX;

	printf("{\"server\":");
	json_string(opt.server);
	printf(",\"clients\":%u,\"keys\":%u,\"value_size\":%u,"
	       "\"duration_s\":%.3f,\"requests\":%" PRIu64
	       ",\"answered\":%" PRIu64 ",\"retries\":%" PRIu64
	       ",\"abandoned\":%" PRIu64 ",\"throughput_rps\":%.1f,",
	       opt.clients, opt.keys, opt.value_size, secs, st.requests,
	       st.answered, st.retries, st.abandoned, rps);
	printf("\"latency_us\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64
	       ",\"p99\":%" PRIu64 ",\"p99.9\":%" PRIu64 ",\"max\":%" PRIu64
	       "},",
	       hist_quantile(50, 100), hist_quantile(90, 100),
	       hist_quantile(99, 100), hist_quantile(999, 1000), run.max_us);
	printf("\"blackout_ms\":%.3f,\"blackout_at_s\":%.3f,"
	       "\"bad_replies\":%" PRIu64 ",\"late_replies\":%" PRIu64
	       ",\"full\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"verified\":%s,\"checked_keys\":%" PRIu64
	       ",\"unverified_keys\":%" PRIu64 ",\"lost\":%" PRIu64
	       ",\"doubled\":%" PRIu64 ",\"violations\":[",
	       (double)st.blackout_ns / NS_PER_MS,
	       (double)st.blackout_at_ns / NS_PER_S, st.bad, st.late, st.full,
	       st.errors, opt.verify ? "true" : "false", st.checked,
	       st.unverified, st.lost, st.doubled);
	for (size_t i = 0; i < shown; i++) {
		const struct violation *v = &run.shown[i];

		printf("%s{\"kind\":", i ? "," : "");
		json_string(v->kind);
		printf(",\"key\":");
		json_string(v->key);
		printf(",\"op\":\"%s\",\"req\":%" PRIu64 ",\"expected\":",
		       op_name(v->op), v->req);
		json_string(v->expected);
		printf(",\"got\":");
		json_string(v->got);
		putchar('}');
	}
	printf("],\"ok\":%s}\n", passed() ? "true" : "false");
}

static void report(void)
{
	double secs = (double)(run.stop_ns - run.start_ns) / NS_PER_S;
	double rps = secs > 0 ? (double)st.answered / secs : 0;

	if (opt.json) {
		report_json(secs, rps);
		return;
	}
	printf("server:        %s, %u clients, %u keys each, %u-byte values\n",
	       opt.server, opt.clients, opt.keys, opt.value_size);
	printf("requests:      %" PRIu64 " in %.3f s (retries %" PRIu64
	       ", abandoned at the end %" PRIu64 ")\n",
	       st.requests, secs, st.retries, st.abandoned);
	printf("answered:      %" PRIu64 " (KV_FULL %" PRIu64
	       ", refused %" PRIu64 ")\n",
	       st.answered, st.full, st.errors);
	printf("throughput:    %.1f req/s\n", rps);
	printf("latency (us):  p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64
	       "  p99.9 %" PRIu64 "  max %" PRIu64 "\n",
	       hist_quantile(50, 100), hist_quantile(90, 100),
	       hist_quantile(99, 100), hist_quantile(999, 1000), run.max_us);
	printf("blackout:      %.3f s longest (from %.3f s)\n",
	       (double)st.blackout_ns / NS_PER_S,
	       (double)st.blackout_at_ns / NS_PER_S);
	printf("bad replies:   %" PRIu64 " (late replies %" PRIu64 ")\n",
	       st.bad, st.late);
	if (opt.verify)
		printf("final check:   %" PRIu64 " keys (unverified %" PRIu64
		       ")\n",
		       st.checked, st.unverified);
	else
		printf("final check:   skipped (--no-verify)\n");
	printf("lost writes:   %" PRIu64 "\n", st.lost);
	printf("applied twice: %" PRIu64 "\n", st.doubled);
	printf("result:        %s\n", passed() ? "OK" : "FAILED");
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: pvft-kv-client [OPTION]...\n"
	    "Load a kv service (include/pvft/kv.h) and check that every\n"
	    "acknowledged write is applied exactly once.\n"
	    "  --server HOST:PORT      the service (127.0.0.1:%d)\n"
	    "  --clients N             concurrent clients, 1..%d (16)\n"
	    "  --duration SEC          run this long (10 if no --requests)\n"
	    "  --requests N            run this many requests in all\n"
	    "  --keys K                keys per client, 1..%d (8)\n"
	    "  --value-size B          bytes a PUT writes, 0..%d (64)\n"
	    "  --get-ratio F           fraction of GETs (0.2)\n"
	    "  --del-ratio F           fraction of DELs (0); PUTs the rest\n"
	    "  --timeout-ms T          resend after T ms, doubling up to "
	    "%d (50)\n"
	    "  --connect-timeout SEC   give up with no reply at all (10)\n"
	    "  --progress              a line a second on stderr\n"
	    "  --json                  the report as one JSON object\n"
	    "  --timeline FILE         CSV a 100 ms: t_s,replies,p50_us,"
	    "p99_us,max_us\n"
	    "  --no-verify             skip the final read of every key\n"
	    "Exit status: 0 checks passed, 1 a check failed, 2 usage,\n"
	    "3 the server never answered.\n",
	    KV_DEFAULT_PORT, KVC_CLIENTS_MAX, KVC_KEYS_MAX, KV_VAL_MAX,
	    KVC_BACKOFF_MAX_MS);
}

static void usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kv-client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	usage(stderr);
	exit(KVC_EXIT_USAGE);
}

static uint64_t parse_uint(const char *name, const char *s, uint64_t min,
			   uint64_t max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		usage_error("--%s %s: not a number in %" PRIu64 "..%" PRIu64,
			    name, s, min, max);
	return v;
}

static double parse_real(const char *name, const char *s, double max)
{
	double v;
	char *end;

	errno = 0;
	v = strtod(s, &end);
	/* NaN fails both comparisons. */
	if (errno || end == s || *end || !(v >= 0 && v <= max))
		usage_error("--%s %s: not a number in 0..%g", name, s, max);
	return v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "clients", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "requests", required_argument, NULL, 'n' },
		{ "keys", required_argument, NULL, 'k' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "get-ratio", required_argument, NULL, 'g' },
		{ "del-ratio", required_argument, NULL, 'D' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "progress", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeline", required_argument, NULL, 'T' },
		{ "no-verify", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	/* A year: far beyond any run, well inside int64_t ns. */
	const double secs_max = 365 * 86400.0;
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			opt.server = optarg;
			break;
		case 'c':
			opt.clients = (unsigned int)parse_uint(
			    "clients", optarg, 1, KVC_CLIENTS_MAX);
			break;
		case 'd':
			opt.duration_ns =
			    (int64_t)(parse_real("duration", optarg, secs_max) *
				      NS_PER_S);
			if (!opt.duration_ns)
				usage_error("--duration %s: not above 0",
					    optarg);
			break;
		case 'n':
			opt.requests =
			    parse_uint("requests", optarg, 1, UINT64_MAX);
			break;
		case 'k':
			opt.keys = (unsigned int)parse_uint("keys", optarg, 1,
							    KVC_KEYS_MAX);
			break;
		case 'v':
			opt.value_size = (unsigned int)parse_uint(
			    "value-size", optarg, 0, KV_VAL_MAX);
			break;
		case 'g':
			opt.get_ratio = parse_real("get-ratio", optarg, 1);
			break;
		case 'D':
			opt.del_ratio = parse_real("del-ratio", optarg, 1);
			break;
		case 't':
			opt.timeout_ms = (unsigned int)parse_uint(
			    "timeout-ms", optarg, 1, 60000);
			break;
		case 'C':
			opt.connect_timeout_ns =
			    (int64_t)(parse_real("connect-timeout", optarg,
						 secs_max) *
				      NS_PER_S);
			if (!opt.connect_timeout_ns)
				usage_error("--connect-timeout %s: not above 0",
					    optarg);
			break;
		case 'p':
			opt.progress = true;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'T':
			opt.timeline = optarg;
			break;
		case 'N':
			opt.verify = false;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			exit(KVC_EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage_error("unexpected argument \"%s\"", argv[optind]);
	if (opt.get_ratio + opt.del_ratio > 1)
		usage_error("--get-ratio plus --del-ratio is above 1");
	if (!opt.duration_ns && !opt.requests)
		opt.duration_ns = 10 * NS_PER_S;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	setup();

	run.start_ns = ((int64_t)clock__mono_ns());
	run.last_reply_ns = run.start_ns;
	run.scan_ns = INT64_MAX;
	run.progress_ns = run.start_ns + KVC_PROGRESS_NS;
	if (opt.duration_ns)
		run.deadline_ns = run.start_ns + opt.duration_ns;
	for (unsigned int i = 0; i < opt.clients; i++)
		next_request(&run.c[i], run.start_ns);
	loop();

	report();
	if (run.timeline && fclose(run.timeline))
		say("%s: %s", opt.timeline, strerror(errno));
	return passed() ? EXIT_SUCCESS : KVC_EXIT_CHECK;
}
