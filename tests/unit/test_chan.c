// SPDX-License-Identifier: MIT
/*
 * The log channel (logchan/: chan.c, primary.c, backup.c, stream.c,
 * transport.c) in one process: a primary and a backup struct chan over
 * loopback TCP, each with its channel thread, the backup's blocking
 * chan__accept() on a thread of its own, and for the failure cases
 * pvft-hv's own pair policy (hv/fence.c) asking a pvft:// arbiter served by
 * a thread of this file (the line protocol of
 * Documentation/arbiter-protocol.md, through arbiter/proto.c) or one that
 * cannot be reached (a port bound but not listening). After those, the
 * transport's ops on their own (plaintext and TLS) and the channel with a
 * fake policy in place of the arbiter, one test per verdict.
 *
 * Time: nothing here waits for a fixed time to pass and then expects
 * something to have happened. Every wait is for a state to be reached,
 * bounded by WAIT_S (of no progress); a few checks are that something does
 * NOT happen within QUIET_MS, which a slow machine can make weaker, never
 * wrong. Dead peers are found by their closed socket, so TIMEOUT_MS is far
 * above anything a loaded machine makes a replica wait; only the primary
 * of the "silent backup" test runs on a short timeout, the one that test
 * is about.
 *
 * To hold the backup (so that it acknowledges nothing), a test takes its
 * channel lock: its channel thread then can neither read nor send. To make
 * it fail, a test shuts its socket down while holding that lock. What a
 * broken or lying backup sends, a fake one (a raw socket) sends instead.
 * A call that should return but blocks ends the run (_exit) after WAIT_S:
 * its thread cannot be cleaned up after.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "arbiter.h"
#include "chan-internal.h"
#include "clock.h"
#include "fence.h"
#include "logfmt.h"
#include "proto.h"
#include "tls.h"
#include "transport.h"
#include "pvft/abi.h"
#include "unit.h"

#define PAIR 42
#define EPOCH 3
#define PRIMARY_NODE "hostA"
#define BACKUP_NODE "hostB"
#define CMDLINE "console=hvc quiet"
#define HEARTBEAT_MS 5
#define TIMEOUT_MS 60000      /* no peer is ever taken for silent */
#define SILENT_TIMEOUT_MS 100 /* the one test about the timeout */
#define WAIT_S 10	      /* the bound of every wait for a state */
#define QUIET_MS 150	      /* "nothing happens" is checked this long */
#define MANY_RECORDS 6000     /* the volume test: ~12 MB */

static uint8_t pattern[PVFT_RANDOM_MAX + MANY_RECORDS]; /* never 0 */

/* A thread that should have ended did not: a hang is a failure, and the
 * process cannot clean up after a thread stuck in the code under test. */
static void join_bounded(pthread_t t, const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_S;
	if (pthread_timedjoin_np(t, NULL, &ts)) {
		fprintf(stderr, "\n  test_chan: %s still blocked after %d s\n",
			what, WAIT_S);
		_exit(EXIT_FAILURE);
	}
}

/* ---- blocking calls, each on a thread joined within WAIT_S ---- */

struct call {
	struct chan *c;
	int (*fn)(struct chan *c);
	int rc;
};

static void *call_main(void *arg)
{
	struct call *k = arg;

	k->rc = k->fn(k->c);
	return NULL;
}

static int call_bounded(int (*fn)(struct chan *), struct chan *c,
			const char *what)
{
	struct call k = { c, fn, 0 };
	pthread_t t;

	CU_ASSERT_FATAL(pthread_create(&t, NULL, call_main, &k) == 0);
	join_bounded(t, what);
	return k.rc;
}

static int dispose_fn(struct chan *c)
{
	chan__dispose(c);
	return 0;
}

/* ---- loopback sockets ---- */

/* A socket bound to 127.0.0.1 on a port the kernel picked; its port. */
static int bound_socket(int *port_r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	*port_r = ntohs(sa.sin_port);
	return fd;
}

/*
 * A port free right now for the backup to listen on. Not one the kernel
 * picks (port 0): between letting it go and the backup binding it, any
 * connection made meanwhile (another test binary's, say) could be given
 * it. Below the ephemeral range, only another listener can take it.
 */
static int free_port(void)
{
	static unsigned int seed;
	unsigned int lo = 32768, hi = 60999;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2 || lo <= 10000)
			lo = 32768;
		fclose(f);
	}
	if (!seed)
		seed = (unsigned int)getpid() ^ (unsigned int)clock__mono_ms();
	for (int tries = 0; tries < 1000; tries++) {
		int port = 10000 + (int)(rand_r(&seed) % (lo - 10000));
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr =
					      htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool ok =
		    fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa));

		if (fd >= 0)
			close(fd);
		if (ok)
			return port;
	}
	CU_FAIL_FATAL("no free port");
	return -1;
}

/* Connected to 127.0.0.1:@port, retrying until it listens; -1 after WAIT_S. */
static int raw_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		close(fd);
		if (clock__mono_ms() > end)
			return -1;
		usleep(2000);
	}
}

static bool write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t r = send(fd, p, len, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		len -= (size_t)r;
	}
	return true;
}

/* Everything @fd sends until it closes (bounded by WAIT_S and @cap). */
static size_t read_to_eof(int fd, uint8_t *buf, size_t cap)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;
	size_t got = 0;

	while (got < cap && clock__mono_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = recv(fd, buf + got, cap - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* ---- console output pipes ---- */

/* Up to @len bytes from the non-blocking @fd, waiting WAIT_S at most. */
static size_t read_output(int fd, char *buf, size_t len)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;
	size_t got = 0;

	while (got < len && clock__mono_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		r = read(fd, buf + got, len - got);
		if (r > 0)
			got += (size_t)r;
	}
	return got;
}

/* Nothing arrives on @fd within @ms. */
static bool output_quiet(int fd, unsigned int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, (int)ms) == 0;
}

#define CHECK_OUTPUT(fd, want)                                                \
	do {                                                                  \
		char got_[256] = "";                                          \
		size_t n_ = read_output((fd), got_, strlen(want));            \
		CU_ASSERT_EQUAL(n_, strlen(want));                            \
		CU_ASSERT(!memcmp(got_, (want), strlen(want)));               \
		if (n_ != strlen(want) || memcmp(got_, (want), n_))           \
			fprintf(stderr, "\n  output \"%.*s\", want \"%s\"\n", \
				(int)n_, got_, (want));                       \
	} while (0)

/* ---- a pvft:// arbiter in a thread ---- */

struct fake_arbiter {
	int fd;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;
	char owner[ARBITER_NODE_MAX + 1]; /* of (PAIR, EPOCH): "" is free */
	unsigned int granted, denied, bad;
	/*
	 * Pairing asks whether the key is free (pair.md, stale replicas):
	 * until the pair formed it is, and the arbiter answers; armed, it
	 * becomes what the test set up (owned by the backup, or silent).
	 */
	atomic_bool armed;
	bool silent_when_armed;
	char owner_when_armed[ARBITER_NODE_MAX + 1];
};

/* One connection: one request line, one reply (arbiter.c sends one). */
static void fake_serve(struct fake_arbiter *a, int fd)
{
	char line[PROTO_LINE_MAX + 1], out[PROTO_BUF_SIZE], why[128];
	struct proto_reply rep = { .kind = PROTO_ERROR };
	struct proto_request req;
	uint64_t end = clock__mono_ms() + 2000;
	size_t got = 0;
	char *nl = NULL;
	int n;

	while (!nl && got < PROTO_LINE_MAX && clock__mono_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		r = recv(fd, line + got, PROTO_LINE_MAX - got, 0);
		if (r <= 0)
			return;
		nl = memchr(line + got, '\n', (size_t)r);
		got += (size_t)r;
	}
	if (!nl)
		return;
	/* Unreachable: it takes the line and never answers. */
	if (a->silent_when_armed && atomic_load(&a->armed))
		return;
	pthread_mutex_lock(&a->lock);
	if (proto__parse_request(line, (size_t)(nl - line), &req, why,
				 sizeof(why)) ||
	    req.pair != PAIR || req.epoch != EPOCH) {
		snprintf(rep.reason, sizeof(rep.reason), "not this test's key");
		a->bad++;
	} else if (req.verb == PROTO_QUERY) {
		rep.kind = a->owner[0] ? PROTO_OWNER : PROTO_FREE;
		snprintf(rep.node, sizeof(rep.node), "%s", a->owner);
	} else {
		if (!a->owner[0])
			snprintf(a->owner, sizeof(a->owner), "%s", req.node);
		rep.kind =
		    strcmp(a->owner, req.node) ? PROTO_DENIED : PROTO_GRANTED;
		snprintf(rep.node, sizeof(rep.node), "%s", a->owner);
		if (rep.kind == PROTO_GRANTED)
			a->granted++;
		else
			a->denied++;
	}
	pthread_mutex_unlock(&a->lock);
	n = proto__format_reply(&rep, out);
	write_all(fd, out, (size_t)n);
}

static void *fake_arbiter_main(void *arg)
{
	struct fake_arbiter *a = arg;

	while (!atomic_load(&a->stop)) {
		struct pollfd pfd = { .fd = a->fd, .events = POLLIN };
		int fd;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		fake_serve(a, fd);
		close(fd);
	}
	return NULL;
}

/* ---- the pair ---- */

enum arb_kind {
	ARB_GRANTS,	 /* the key is free: the first to ask wins it */
	ARB_BACKUP_OWNS, /* the backup won it already: the primary is denied */
	ARB_UNREACHABLE, /* nobody listens */
};

struct pair {
	struct chan p, b;
	struct tls_creds *p_creds, *b_creds; /* the pair runs over TLS */
	struct arbiter *arb;
	struct fake_arbiter fake;
	bool fake_on;
	int dead_fd; /* the unreachable arbiter's port, bound, not listening */
	int port;
	char addr[32];
	int p_out[2], b_out[2]; /* console output: [0] is read here */
	atomic_int fenced_p, fenced_b;
	uint8_t *buf; /* for chan__next */

	/* The backup's handshake thread and what it learnt. */
	pthread_t accept_thread;
	bool accept_running;
	const char *refusal;
	int accept_rc, answer_rc;
	struct logfmt_header h_got;
	struct logfmt_record boot_got;
	char cmdline_got[64];
};

static struct pair T;
static const uint8_t test_key[TLS_KEY_LEN] = { 0x70, 0x76, 0x66, 0x74 };
/*
 * The next pair runs plaintext (--insecure): its test plays one end
 * itself, in raw bytes. Every other pair runs over TLS.
 */
static bool plaintext;

/*
 * A pair policy of this file's in place of the arbiter (hv/fence.c): it
 * answers what the test set, and counts the questions.
 */
struct fake_policy {
	pthread_mutex_t lock;
	enum chan_verdict verdict; /* what decide() answers */
	int check_rc;		   /* what check_owner() answers */
	unsigned int checks, decides;
	char asked_by[LOGFMT_HELLO_NODE_MAX + 1]; /* the last decide()'s node */
};

static struct fake_policy fake_pol = { .lock = PTHREAD_MUTEX_INITIALIZER };
/* The next pair asks fake_pol, not the arbiter. */
static bool use_fake_policy;

static const char *fake_name(void *opaque)
{
	(void)opaque;
	return "fake://policy";
}

static int fake_check_owner(void *opaque, uint64_t pair, uint64_t epoch,
			    uint64_t deadline_ns)
{
	struct fake_policy *f = opaque;
	int rc;

	CU_ASSERT_EQUAL(pair, PAIR);
	CU_ASSERT_EQUAL(epoch, EPOCH);
	CU_ASSERT(deadline_ns > clock__mono_ns());
	pthread_mutex_lock(&f->lock);
	f->checks++;
	rc = f->check_rc;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static enum chan_verdict fake_decide(void *opaque, uint64_t pair,
				     uint64_t epoch, const char *node,
				     char *owner, size_t owner_len, char *why,
				     size_t why_len)
{
	struct fake_policy *f = opaque;
	enum chan_verdict v;

	CU_ASSERT_EQUAL(pair, PAIR);
	CU_ASSERT_EQUAL(epoch, EPOCH);
	pthread_mutex_lock(&f->lock);
	f->decides++;
	snprintf(f->asked_by, sizeof(f->asked_by), "%s", node);
	v = f->verdict;
	pthread_mutex_unlock(&f->lock);
	if (v == CHAN_VERDICT_FENCED)
		snprintf(owner, owner_len, "%s", "someone-else");
	if (v == CHAN_VERDICT_RETRY)
		snprintf(why, why_len, "%s", "the fake says: not now");
	return v;
}

static const struct chan_policy fake_policy_ops = {
	.name = fake_name,
	.check_owner = fake_check_owner,
	.decide = fake_decide,
};

static void fake_policy_set(enum chan_verdict v)
{
	pthread_mutex_lock(&fake_pol.lock);
	fake_pol.verdict = v;
	pthread_mutex_unlock(&fake_pol.lock);
}

static unsigned int fake_policy_decides(void)
{
	unsigned int n;

	pthread_mutex_lock(&fake_pol.lock);
	n = fake_pol.decides;
	pthread_mutex_unlock(&fake_pol.lock);
	return n;
}

static void on_fenced(void *opaque)
{
	atomic_fetch_add((atomic_int *)opaque, 1);
}

/* @p_timeout_ms for the primary; the backup's is TIMEOUT_MS. */
static void pair_init(struct pair *t, enum arb_kind kind,
		      unsigned int p_timeout_ms)
{
	struct chan_config cfg = {
		.pair = PAIR,
		.epoch = EPOCH,
		.heartbeat_ms = HEARTBEAT_MS,
		.timeout_ms = p_timeout_ms,
		.max_lag_ms = CHAN_DEFAULT_MAX_LAG_MS,
		.connect_s = WAIT_S,
		.fenced = on_fenced,
	};
	char url[64], why[256];
	int port;

	memset(t, 0, sizeof(*t));
	t->dead_fd = -1;
	t->fake.fd = -1;
	CU_ASSERT_FATAL(pipe2(t->p_out, O_CLOEXEC) == 0);
	CU_ASSERT_FATAL(pipe2(t->b_out, O_CLOEXEC) == 0);
	fcntl(t->p_out[0], F_SETFL, O_NONBLOCK);
	fcntl(t->b_out[0], F_SETFL, O_NONBLOCK);
	t->buf = malloc(LOGFMT_MAX_RECORD);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t->buf);

	/* Free while the pair forms; what @kind says once it formed. */
	t->fake.fd = bound_socket(&port);
	CU_ASSERT_FATAL(listen(t->fake.fd, 16) == 0);
	pthread_mutex_init(&t->fake.lock, NULL);
	if (kind == ARB_BACKUP_OWNS)
		snprintf(t->fake.owner_when_armed,
			 sizeof(t->fake.owner_when_armed), "%s", BACKUP_NODE);
	t->fake.silent_when_armed = kind == ARB_UNREACHABLE;
	CU_ASSERT_FATAL(pthread_create(&t->fake.thread, NULL, fake_arbiter_main,
				       &t->fake) == 0);
	t->fake_on = true;
	snprintf(url, sizeof(url), "pvft://127.0.0.1:%d", port);
	CU_ASSERT_FATAL(
	    arbiter__open(&t->arb, url,
			  &(struct arbiter_auth){ .insecure = true }, why,
			  sizeof(why)) == 0);

	t->port = free_port();
	snprintf(t->addr, sizeof(t->addr), "127.0.0.1:%d", t->port);
	cfg.addr = t->addr;
	cfg.policy = &fence__policy;
	cfg.policy_opaque = t->arb;
	if (use_fake_policy) {
		cfg.policy = &fake_policy_ops;
		cfg.policy_opaque = &fake_pol;
	}

	CU_ASSERT_FATAL(tls__creds_psk(&t->p_creds, TLS_CLIENT,
				       "pvft-chan-test", test_key, why,
				       sizeof(why)) == 0);
	CU_ASSERT_FATAL(tls__creds_psk(&t->b_creds, TLS_SERVER,
				       "pvft-chan-test", test_key, why,
				       sizeof(why)) == 0);

	cfg.role = LOGFMT_ROLE_PRIMARY;
	cfg.node = PRIMARY_NODE;
	cfg.out.fd = t->p_out[1];
	cfg.opaque = &t->fenced_p;
	cfg.creds = plaintext ? NULL : t->p_creds;
	CU_ASSERT_FATAL(chan__init(&t->p, &cfg) == 0);

	cfg.creds = plaintext ? NULL : t->b_creds;
	cfg.role = LOGFMT_ROLE_BACKUP;
	cfg.node = BACKUP_NODE;
	cfg.timeout_ms = TIMEOUT_MS;
	cfg.out.fd = t->b_out[1];
	cfg.opaque = &t->fenced_b;
	CU_ASSERT_FATAL(chan__init(&t->b, &cfg) == 0);
}

static void *accept_main(void *arg)
{
	struct pair *t = arg;

	t->accept_rc = chan__accept(&t->b, &t->h_got, &t->boot_got);
	if (t->accept_rc)
		return NULL;
	/* BOOT's command line points into the backup's stream buffer. */
	if (t->boot_got.u.boot.cmdline_len < sizeof(t->cmdline_got))
		memcpy(t->cmdline_got, t->boot_got.u.boot.cmdline,
		       t->boot_got.u.boot.cmdline_len);
	t->answer_rc = chan__answer(&t->b, t->refusal);
	return NULL;
}

static void start_backup(struct pair *t, const char *refusal)
{
	t->refusal = refusal;
	t->accept_rc = t->answer_rc = -2;
	CU_ASSERT_FATAL(
	    pthread_create(&t->accept_thread, NULL, accept_main, t) == 0);
	t->accept_running = true;
}

static void join_backup(struct pair *t)
{
	if (!t->accept_running)
		return;
	join_bounded(t->accept_thread, "the backup's chan__accept");
	t->accept_running = false;
}

static const struct logfmt_header header = {
	.version = LOGFMT_VERSION,
	.flags = LOGFMT_F_STREAM,
	.pair_id = PAIR,
	.epoch = EPOCH,
	.image_hash = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6 },
	.mem_size = 32ull << 20,
	.abi_version = PVFT_ABI_VERSION,
	.cpuid_hash = 0x0123456789abcdefull,
};

static struct logfmt_record boot_record(void)
{
	return (struct logfmt_record){
		.type = LOGFMT_BOOT,
		.u.boot = { 1700000000000000000ull, 0x5eed,
			    (uint32_t)strlen(CMDLINE), CMDLINE },
	};
}

/* The pair formed (or not): the arbiter becomes what the test set up. */
static void arm_arbiter(struct pair *t)
{
	pthread_mutex_lock(&t->fake.lock);
	if (t->fake.owner_when_armed[0])
		snprintf(t->fake.owner, sizeof(t->fake.owner), "%s",
			 t->fake.owner_when_armed);
	pthread_mutex_unlock(&t->fake.lock);
	atomic_store(&t->fake.armed, true);
}

/* The backup accepts (or refuses) in its thread, the primary connects. */
static int pair_connect(struct pair *t, const char *refusal)
{
	struct logfmt_record boot = boot_record();
	int rc;

	start_backup(t, refusal);
	rc = chan__connect(&t->p, &header, &boot);
	join_backup(t);
	arm_arbiter(t);
	return rc;
}

static void pair_dispose(struct pair *t)
{
	if (t->accept_running) {
		/* A failed test left it in accept(): a cancellation point. */
		pthread_cancel(t->accept_thread);
		join_bounded(t->accept_thread, "the backup's chan__accept");
	}
	call_bounded(dispose_fn, &t->p, "chan__dispose (primary)");
	call_bounded(dispose_fn, &t->b, "chan__dispose (backup)");
	if (t->fake_on) {
		atomic_store(&t->fake.stop, true);
		join_bounded(t->fake.thread, "the arbiter thread");
		pthread_mutex_destroy(&t->fake.lock);
	}
	if (t->fake.fd >= 0)
		close(t->fake.fd);
	if (t->dead_fd >= 0)
		close(t->dead_fd);
	arbiter__close(t->arb);
	tls__creds_free(t->p_creds);
	tls__creds_free(t->b_creds);
	plaintext = false;
	use_fake_policy = false;
	close(t->p_out[0]);
	close(t->p_out[1]);
	close(t->b_out[0]);
	close(t->b_out[1]);
	free(t->buf);
}

/* A paired primary and backup, or the test ends here. */
static void pair_up(struct pair *t, enum arb_kind kind,
		    unsigned int p_timeout_ms)
{
	pair_init(t, kind, p_timeout_ms);
	if (pair_connect(t, NULL)) {
		pair_dispose(t);
		CU_FAIL_FATAL("the pair did not form");
	}
}

static bool wait_state(struct chan *c, enum chan_state want)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;

	while (chan__state(c) != want) {
		if (clock__mono_ms() > end) {
			fprintf(stderr, "\n  state %s, want %s\n",
				chan__state_name(chan__state(c)),
				chan__state_name(want));
			return false;
		}
		usleep(1000);
	}
	return true;
}

static bool wait_count(atomic_int *n, int want)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;

	while (atomic_load(n) != want) {
		if (clock__mono_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

/* chan__next at exit @exits until it says something but WAIT. */
static enum chan_next next_bounded(struct pair *t, uint64_t exits,
				   struct logfmt_record *rec)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;
	enum chan_next n;

	do
		n = chan__next(&t->b, exits, t->buf, LOGFMT_MAX_RECORD, rec,
			       20);
	while (n == CHAN_NEXT_WAIT && clock__mono_ms() < end);
	return n;
}

/* The primary counts @want console bytes released. */
static bool wait_released(struct pair *t, uint64_t want)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;
	struct chan_stats st;

	for (;;) {
		chan__get_stats(&t->p, &st);
		if (st.released_bytes == want)
			return true;
		if (clock__mono_ms() > end)
			return false;
		usleep(1000);
	}
}

/* What the backup was last told the primary released. */
static uint64_t backup_peer_released(struct pair *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->b.lock);
	n = t->b.bak->peer_released;
	pthread_mutex_unlock(&t->b.lock);
	return n;
}

static bool wait_peer_released(struct pair *t, uint64_t want)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;

	while (backup_peer_released(t) != want) {
		if (clock__mono_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

/* Record @i of a log: every mandatory type but BOOT and END. */
static struct logfmt_record make_record(uint32_t i, uint64_t ordinal)
{
	struct logfmt_record r = { .ordinal = ordinal };
	struct logfmt_pos pos = { 0x100000 + i, i % 64 };

	switch (i % 5) {
	case 0:
		r.type = LOGFMT_TIME;
		r.u.time = (struct logfmt_time){ pos, i % 2, (int64_t)i * 7 };
		break;
	case 1:
		r.type = LOGFMT_RANDOM;
		r.u.random = (struct logfmt_random){
			pos, 1 + (i * 997) % PVFT_RANDOM_MAX, pattern + i
		};
		break;
	case 2:
		r.type = LOGFMT_TIMER;
		r.u.timer.pos = pos;
		break;
	case 3:
		r.type = LOGFMT_CONSOLE_IN;
		r.u.console_in =
		    (struct logfmt_console_in){ pos, 0, i % 300, pattern + i };
		break;
	default:
		r.type = LOGFMT_DIGEST;
		r.u.digest = (struct logfmt_digest){
			pos, i, { i * 3ull, i * 5ull, i * 7ull, i * 11ull }
		};
		break;
	}
	return r;
}

/* END, saying the guest wrote @out_bytes console bytes in all. */
static struct logfmt_record end_record(uint64_t ordinal, uint64_t out_bytes)
{
	return (struct logfmt_record){
		.type = LOGFMT_END,
		.ordinal = ordinal,
		.u.end = { 0,
			   LOGFMT_END_SHUTDOWN,
			   0,
			   5,
			   { 1, 2, out_bytes, 4 } },
	};
}

/* Set an encoded record's seq (and its CRC). */
static void resign(uint8_t *rec, size_t len)
{
	uint32_t crc = logfmt__crc32c(0, rec, len - LOGFMT_TAIL_SIZE);

	for (int i = 0; i < 4; i++)
		rec[len - LOGFMT_TAIL_SIZE + i] = (uint8_t)(crc >> (8 * i));
}

/* The same record, as encoded: a byte compare covers every field. */
static bool same(const struct logfmt_record *a, const struct logfmt_record *b)
{
	static uint8_t ea[LOGFMT_HEAD_SIZE + 8192], eb[sizeof(ea)];
	long na = logfmt__encode_record(a, ea, sizeof(ea));
	long nb = logfmt__encode_record(b, eb, sizeof(eb));

	return na > 0 && na == nb && !memcmp(ea, eb, (size_t)na);
}

/*
 * Hold the backup (its lock: its thread takes nothing in and sends
 * nothing), append a record and write output after it on the primary:
 * held, since the backup cannot have acknowledged the record. Then cut
 * the backup's socket, as a dead host or a cut link would: the primary
 * sees its peer gone. The backup stays held: the caller lets it go.
 */
static void hold_and_cut_backup(struct pair *t, const char *out)
{
	struct logfmt_record r = make_record(0, 1);
	struct chan_stats st;

	pthread_mutex_lock(&t->b.lock);
	CU_ASSERT_EQUAL(chan__append(&t->p, &r), 0);
	chan__output(&t->p, out, strlen(out));
	CU_ASSERT(output_quiet(t->p_out[0], QUIET_MS));
	chan__get_stats(&t->p, &st);
	CU_ASSERT(st.acked <= r.seq);
	CU_ASSERT_EQUAL(st.released_bytes, 0);
	CU_ASSERT_FATAL(t->b.stream.t && t->b.stream.t->fd >= 0);
	shutdown(t->b.stream.t->fd, SHUT_RDWR);
}

/* ---- stderr, for what the code under test says ---- */

static int saved_stderr = -1, captured = -1;

static void capture_stderr(void)
{
	fflush(stderr);
	captured = memfd_create("stderr", MFD_CLOEXEC);
	saved_stderr = dup(2);
	CU_ASSERT_FATAL(captured >= 0 && saved_stderr >= 0);
	dup2(captured, 2);
}

/* What was written to stderr since capture_stderr(), NUL-terminated. */
static void end_capture(char *buf, size_t cap)
{
	ssize_t n;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	n = pread(captured, buf, cap - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(captured);
}

/* ---- the tests ---- */

/* Entries in a /proc/self directory (fds, threads). */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int fds_at_start, threads_at_start;

static int suite_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 31 + 5) | 1;
	fds_at_start = count_entries("/proc/self/fd");
	threads_at_start = count_entries("/proc/self/task");
	return 0;
}

static void test_handshake(void)
{
	struct pair *t = &T;
	struct chan_stats st;

	pair_init(t, ARB_UNREACHABLE, TIMEOUT_MS);
	CU_ASSERT_EQUAL(pair_connect(t, NULL), 0);
	CU_ASSERT_EQUAL(t->accept_rc, 0);
	CU_ASSERT_EQUAL(t->answer_rc, 0);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_PAIRED);
	CU_ASSERT_EQUAL(chan__state(&t->b), CHAN_PAIRED);
	/* Each side learnt the other's node id from its HELLO. */
	CU_ASSERT_STRING_EQUAL(t->p.peer, BACKUP_NODE);
	CU_ASSERT_STRING_EQUAL(t->b.peer, PRIMARY_NODE);
	/* The header arrived as sent. */
	CU_ASSERT_EQUAL(t->h_got.version, LOGFMT_VERSION);
	CU_ASSERT_EQUAL(t->h_got.flags, LOGFMT_F_STREAM);
	CU_ASSERT_EQUAL(t->h_got.pair_id, PAIR);
	CU_ASSERT_EQUAL(t->h_got.epoch, EPOCH);
	CU_ASSERT(!memcmp(t->h_got.image_hash, header.image_hash, 16));
	CU_ASSERT_EQUAL(t->h_got.mem_size, header.mem_size);
	CU_ASSERT_EQUAL(t->h_got.abi_version, header.abi_version);
	CU_ASSERT_EQUAL(t->h_got.cpuid_hash, header.cpuid_hash);
	/* BOOT: record 0 at ordinal 0, with the command line and nonce. */
	CU_ASSERT_EQUAL(t->boot_got.type, LOGFMT_BOOT);
	CU_ASSERT_EQUAL(t->boot_got.seq, 0);
	CU_ASSERT_EQUAL(t->boot_got.ordinal, 0);
	CU_ASSERT_EQUAL(t->boot_got.u.boot.wall_ns, 1700000000000000000ull);
	CU_ASSERT_EQUAL(t->boot_got.u.boot.id_nonce, 0x5eed);
	CU_ASSERT_EQUAL(t->boot_got.u.boot.cmdline_len, strlen(CMDLINE));
	CU_ASSERT_STRING_EQUAL(t->cmdline_got, CMDLINE);
	chan__get_stats(&t->p, &st);
	CU_ASSERT_EQUAL(st.state, CHAN_PAIRED);
	CU_ASSERT(st.records >= 2); /* BOOT and HELLO */
	CU_ASSERT(st.paired_ns > 0);
	chan__get_stats(&t->b, &st);
	CU_ASSERT_EQUAL(st.state, CHAN_PAIRED);
	pair_dispose(t);
}

static void test_refused(void)
{
	struct pair *t = &T;
	char err[4096], want[512];

	pair_init(t, ARB_UNREACHABLE, TIMEOUT_MS);
	capture_stderr();
	CU_ASSERT_EQUAL(pair_connect(t, "image hash differs"), -1);
	end_capture(err, sizeof(err));
	CU_ASSERT_EQUAL(t->accept_rc, 0);
	CU_ASSERT_EQUAL(t->answer_rc, 0);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_IDLE);
	CU_ASSERT_EQUAL(chan__state(&t->b), CHAN_IDLE);
	CU_ASSERT_STRING_EQUAL(t->p.peer, BACKUP_NODE);
	/* The primary says who refused and why. */
	snprintf(want, sizeof(want),
		 "backup " BACKUP_NODE " at %s refused the pair: image hash "
		 "differs\n",
		 t->addr);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	if (!strstr(err, want))
		fprintf(stderr, "\n  stderr: \"%s\"\n  want \"%s\"\n", err,
			want);
	pair_dispose(t);
}

/* A refusal longer than a HELLO's reason goes out cut to 400 bytes. */
static void test_refused_long_reason(void)
{
	static char reason[LOGFMT_HELLO_REASON_MAX + 100 + 1];
	static const char prefix[] = "refused the pair: ";
	char err[4096], want[sizeof(prefix) + LOGFMT_HELLO_REASON_MAX + 1];
	struct pair *t = &T;

	memset(reason, 'r', sizeof(reason) - 1);
	/* The prefix, exactly 400 of the reason's bytes, the line's end. */
	memcpy(want, prefix, sizeof(prefix) - 1);
	memset(want + sizeof(prefix) - 1, 'r', LOGFMT_HELLO_REASON_MAX);
	strcpy(want + sizeof(prefix) - 1 + LOGFMT_HELLO_REASON_MAX, "\n");
	pair_init(t, ARB_UNREACHABLE, TIMEOUT_MS);
	capture_stderr();
	CU_ASSERT_EQUAL(pair_connect(t, reason), -1);
	end_capture(err, sizeof(err));
	CU_ASSERT_EQUAL(t->answer_rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	pair_dispose(t);
}

/*
 * A connection to the backup that sends @bytes: the backup's answer, if
 * any (a HELLO), is decoded into @hello with its text in @text.
 */
static bool backup_answer(struct pair *t, const void *bytes, size_t len,
			  struct logfmt_record *hello, char *text,
			  size_t text_cap)
{
	static uint8_t ans[4096];
	struct logfmt_error e;
	size_t n;
	int fd = raw_connect(t->port);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write_all(fd, bytes, len));
	/* All it gets: it must not wait for more. */
	shutdown(fd, SHUT_WR);
	n = read_to_eof(fd, ans, sizeof(ans));
	close(fd);
	if (!n)
		return false;
	CU_ASSERT_EQUAL(logfmt__decode_record(ans, n, hello, &e), (long)n);
	CU_ASSERT_EQUAL(hello->type, LOGFMT_HELLO);
	CU_ASSERT_EQUAL(hello->seq, 0);
	CU_ASSERT_EQUAL(hello->u.hello.role, LOGFMT_ROLE_BACKUP);
	CU_ASSERT_EQUAL(hello->u.hello.refused, 1);
	CU_ASSERT_EQUAL(hello->u.hello.node_len, strlen(BACKUP_NODE));
	CU_ASSERT(
	    !memcmp(hello->u.hello.node, BACKUP_NODE, strlen(BACKUP_NODE)));
	snprintf(text, text_cap, "%.*s", (int)hello->u.hello.reason_len,
		 hello->u.hello.reason ? hello->u.hello.reason : "");
	return true;
}

#define EXPECT_REFUSAL(t, bytes, len, want)                                  \
	do {                                                                 \
		struct logfmt_record h_;                                     \
		char why_[512] = "";                                         \
		CU_ASSERT(backup_answer((t), (bytes), (len), &h_, why_,      \
					sizeof(why_)));                      \
		CU_ASSERT_STRING_EQUAL(why_, (want));                        \
		if (strcmp(why_, (want)))                                    \
			fprintf(stderr, "\n  refusal \"%s\", want \"%s\"\n", \
				why_, (want));                               \
	} while (0)

/* A stream of @h, then @n records. */
static size_t stream_bytes(uint8_t *buf, const struct logfmt_header *h,
			   const struct logfmt_record *recs, size_t n)
{
	size_t len = LOGFMT_HEADER_SIZE;

	logfmt__encode_header(h, buf);
	for (size_t i = 0; i < n; i++)
		len += (size_t)logfmt__encode_record(&recs[i], buf + len, 4096);
	return len;
}

static void test_not_a_primary_then_primary(void)
{
	static uint8_t bytes[16384];
	struct logfmt_record recs[2], hello;
	struct logfmt_header h;
	struct pair *t = &T;
	char text[64];
	size_t len;

	plaintext = true; /* a fake peer of raw bytes: no TLS */
	pair_init(t, ARB_UNREACHABLE, TIMEOUT_MS);
	start_backup(t, NULL);

	/* Junk: closed without an answer (it may not even be a pvft peer). */
	memset(bytes, 'j', LOGFMT_HEADER_SIZE);
	CU_ASSERT_FALSE(backup_answer(t, bytes, LOGFMT_HEADER_SIZE, &hello,
				      text, sizeof(text)));
	/* Fewer bytes than a header, then the end. */
	CU_ASSERT_FALSE(
	    backup_answer(t, "PVFTLOG", 7, &hello, text, sizeof(text)));

	/* A pvft stream, but not this pair's: refused, and told why. */
	h = header;
	h.pair_id = 99;
	len = stream_bytes(bytes, &h, NULL, 0);
	EXPECT_REFUSAL(t, bytes, len,
		       "it is pair 99 epoch 3, this backup serves pair 42 "
		       "epoch 3");
	h = header;
	h.epoch = 2;
	len = stream_bytes(bytes, &h, NULL, 0);
	EXPECT_REFUSAL(t, bytes, len,
		       "it is pair 42 epoch 2, this backup serves pair 42 "
		       "epoch 3");
	h = header;
	h.flags = 0;
	len = stream_bytes(bytes, &h, NULL, 0);
	EXPECT_REFUSAL(t, bytes, len, "its header is a file's, not a stream's");

	/* Record 0 is not BOOT. */
	recs[0] = make_record(0, 1);
	len = stream_bytes(bytes, &header, recs, 1);
	EXPECT_REFUSAL(t, bytes, len,
		       "its BOOT record: TIME first: record 0 must be BOOT");
	/* Record 1 is not a primary's HELLO. */
	recs[0] = boot_record();
	recs[1] = (struct logfmt_record){ .seq = 1, .type = LOGFMT_NOTE };
	len = stream_bytes(bytes, &header, recs, 2);
	EXPECT_REFUSAL(t, bytes, len,
		       "record 1 is NOTE, not a primary's HELLO");
	recs[1] = (struct logfmt_record){ .seq = 1, .type = LOGFMT_HELLO };
	recs[1].u.hello =
	    (struct logfmt_hello){ LOGFMT_ROLE_BACKUP, 0, 1, 0, "x", NULL };
	len = stream_bytes(bytes, &header, recs, 2);
	EXPECT_REFUSAL(t, bytes, len,
		       "record 1 is HELLO, not a primary's HELLO");
	/* A primary with this backup's node id. */
	recs[1].u.hello = (struct logfmt_hello){ LOGFMT_ROLE_PRIMARY, 0,   5, 0,
						 BACKUP_NODE,	      NULL };
	len = stream_bytes(bytes, &header, recs, 2);
	EXPECT_REFUSAL(t, bytes, len,
		       "it has this replica's node id " BACKUP_NODE
		       ": the arbiter could not tell the two apart");
	/* A bad CRC in BOOT. */
	recs[1].u.hello.role = LOGFMT_ROLE_PRIMARY;
	len = stream_bytes(bytes, &header, recs, 2);
	bytes[LOGFMT_HEADER_SIZE + 30] ^= 1;
	{
		struct logfmt_record h_;
		char why_[512] = "";

		CU_ASSERT(
		    backup_answer(t, bytes, len, &h_, why_, sizeof(why_)));
		CU_ASSERT(!strncmp(why_,
				   "its BOOT record: record CRC32C mismatch",
				   strlen("its BOOT record: record CRC32C "
					  "mismatch")));
	}

	/* Then a real primary pairs. */
	{
		struct logfmt_record boot = boot_record();

		CU_ASSERT_EQUAL(chan__connect(&t->p, &header, &boot), 0);
	}
	join_backup(t);
	CU_ASSERT_EQUAL(t->accept_rc, 0);
	CU_ASSERT_EQUAL(t->answer_rc, 0);
	CU_ASSERT_STRING_EQUAL(t->cmdline_got, CMDLINE);
	CU_ASSERT(wait_state(&t->b, CHAN_PAIRED));
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_PAIRED);
	pair_dispose(t);
}

static void test_records_in_order(void)
{
	enum { N = 500 };
	static struct logfmt_record sent[N];
	struct logfmt_record got;
	struct pair *t = &T;
	uint64_t ordinal = 1, last_seq = 1;
	bool ok = true;

	pair_up(t, ARB_UNREACHABLE, TIMEOUT_MS);
	for (uint32_t i = 0; i < N; i++) {
		/* A few records per exit, and exits without any. */
		uint64_t next = 1 + i / 3 * 2;

		if (next != ordinal)
			chan__progress(&t->p, next);
		ordinal = next;
		sent[i] = make_record(i, ordinal);
		CU_ASSERT_EQUAL(chan__append(&t->p, &sent[i]), 0);
		/* After BOOT (0) and HELLO (1); control records between. */
		if (sent[i].seq <= last_seq)
			ok = false;
		last_seq = sent[i].seq;
	}
	CU_ASSERT(ok);
	chan__progress(&t->p, ordinal + 1);
	/* At each record's exit, that record: never NONE before it. */
	for (uint32_t i = 0; i < N && ok; i++) {
		enum chan_next n = next_bounded(t, sent[i].ordinal, &got);

		if (n != CHAN_NEXT_RECORD || got.seq != sent[i].seq ||
		    !same(&got, &sent[i])) {
			fprintf(stderr, "\n  record %u: next %d, seq %llu\n", i,
				n, (unsigned long long)got.seq);
			ok = false;
		}
	}
	CU_ASSERT(ok);
	/* The primary left the last exit: nothing more there. */
	CU_ASSERT_EQUAL(next_bounded(t, ordinal, &got), CHAN_NEXT_NONE);
	CU_ASSERT_EQUAL(
	    chan__next(&t->b, ordinal + 1, t->buf, LOGFMT_MAX_RECORD, &got, 10),
	    CHAN_NEXT_WAIT);
	pair_dispose(t);
}

static void test_next_none_and_wait(void)
{
	struct logfmt_record r, got;
	struct pair *t = &T;

	pair_up(t, ARB_UNREACHABLE, TIMEOUT_MS);
	/* Nothing yet, and no word that exit 1 is over: wait. */
	CU_ASSERT_EQUAL(
	    chan__next(&t->b, 1, t->buf, LOGFMT_MAX_RECORD, &got, 20),
	    CHAN_NEXT_WAIT);
	/* The primary is past exits 1 and 2 (it entered the guest for 3). */
	chan__progress(&t->p, 3);
	CU_ASSERT_EQUAL(next_bounded(t, 2, &got), CHAN_NEXT_NONE);
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_NONE);
	CU_ASSERT_EQUAL(
	    chan__next(&t->b, 3, t->buf, LOGFMT_MAX_RECORD, &got, 20),
	    CHAN_NEXT_WAIT);
	CU_ASSERT_EQUAL(
	    chan__next(&t->b, 4, t->buf, LOGFMT_MAX_RECORD, &got, 20),
	    CHAN_NEXT_WAIT);
	/* A record at exit 3: the backup at exit 3 gets it. */
	r = make_record(1, 3);
	CU_ASSERT_EQUAL(chan__append(&t->p, &r), 0);
	CU_ASSERT_EQUAL(next_bounded(t, 3, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &r));
	/* More may come at exit 3 until the primary says it left it. */
	CU_ASSERT_EQUAL(
	    chan__next(&t->b, 3, t->buf, LOGFMT_MAX_RECORD, &got, 20),
	    CHAN_NEXT_WAIT);
	chan__progress(&t->p, 4);
	CU_ASSERT_EQUAL(next_bounded(t, 3, &got), CHAN_NEXT_NONE);
	/* Progress never goes back. */
	chan__progress(&t->p, 2);
	CU_ASSERT_EQUAL(next_bounded(t, 3, &got), CHAN_NEXT_NONE);
	pair_dispose(t);
}

/* Output waits for the backup to have every record before it. */
static void test_output_rule(void)
{
	struct logfmt_record r, got;
	struct chan_stats st;
	struct pair *t = &T;

	pair_up(t, ARB_UNREACHABLE, TIMEOUT_MS);
	chan__output(&t->p, "before ", 7);
	CHECK_OUTPUT(t->p_out[0], "before ");

	/* The backup held: a record, then output, which must wait. */
	pthread_mutex_lock(&t->b.lock);
	r = make_record(1, 1);
	CU_ASSERT_EQUAL(chan__append(&t->p, &r), 0);
	chan__output(&t->p, "after", 5);
	CU_ASSERT(output_quiet(t->p_out[0], QUIET_MS));
	chan__get_stats(&t->p, &st);
	CU_ASSERT(st.acked <= r.seq);
	CU_ASSERT_EQUAL(st.released_bytes, 7);
	CU_ASSERT_EQUAL(st.state, CHAN_PAIRED);
	pthread_mutex_unlock(&t->b.lock);

	/* The backup takes the record and acknowledges it: out it goes. */
	CHECK_OUTPUT(t->p_out[0], "after");
	/* Counted once written (the pipe may be read first). */
	CU_ASSERT(wait_released(t, 12));
	chan__get_stats(&t->p, &st);
	CU_ASSERT(st.acked > r.seq);
	CU_ASSERT_EQUAL(st.held_count, 2);
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &r));
	/* The backup is told, so that its replayed copy is let go. */
	CU_ASSERT(wait_peer_released(t, 12));
	pair_dispose(t);
}

/*
 * The backup keeps what it replays past the primary's last RELEASED, and
 * writes just that when it goes live (a duplicated tail, never a gap).
 */
static void test_replayed_output_tail(void)
{
	/* One execution's console output: both sides produce the same. */
	static const char s[] = "hello world\n0123456789\nabcdef";
	struct pair *t = &T;
	char got[64];

	pair_up(t, ARB_UNREACHABLE, TIMEOUT_MS);
	/* Replayed ahead of what the primary let out: all kept. */
	chan__replayed_output(&t->b, s, 9); /* "hello wor" */
	chan__output(&t->p, s, 8);	    /* "hello wo" */
	CHECK_OUTPUT(t->p_out[0], "hello wo");
	CU_ASSERT_FATAL(wait_peer_released(t, 8));
	chan__replayed_output(&t->b, s + 9, 3); /* "ld\n" */
	CU_ASSERT_EQUAL(chan__emit_tail(&t->b), 4);
	CHECK_OUTPUT(t->b_out[0], "rld\n");
	CU_ASSERT_EQUAL(chan__emit_tail(&t->b), 0);
	CU_ASSERT(output_quiet(t->b_out[0], 0));

	/* Replayed behind what the primary let out: only the rest kept. */
	chan__output(&t->p, s + 8, 8); /* "rld\n0123" */
	CHECK_OUTPUT(t->p_out[0], "rld\n0123");
	CU_ASSERT_FATAL(wait_peer_released(t, 16));
	chan__replayed_output(&t->b, s + 12, 3); /* "012": all out already */
	chan__replayed_output(&t->b, s + 15, 8); /* "3456789\n" */
	CU_ASSERT_EQUAL(chan__emit_tail(&t->b), 7);
	CHECK_OUTPUT(t->b_out[0], "456789\n");

	/* Replayed, then released in part: trimmed when RELEASED comes. */
	chan__replayed_output(&t->b, s + 23, 6); /* "abcdef" */
	chan__output(&t->p, s + 16, 10);	 /* "456789\nabc" */
	CHECK_OUTPUT(t->p_out[0], "456789\nabc");
	CU_ASSERT_FATAL(wait_peer_released(t, 26));
	CU_ASSERT_EQUAL(chan__emit_tail(&t->b), 3);
	CU_ASSERT_EQUAL(read_output(t->b_out[0], got, 3), 3);
	CU_ASSERT(!memcmp(got, "def", 3));
	pair_dispose(t);
}

/* The end: END through, both finish, both CLOSED. */
static void test_end(void)
{
	struct logfmt_record r = make_record(0, 1), end = end_record(2, 4), got;
	struct chan_stats st;
	struct pair *t = &T;

	pair_up(t, ARB_UNREACHABLE, TIMEOUT_MS);
	CU_ASSERT_EQUAL(chan__append(&t->p, &r), 0);
	chan__progress(&t->p, 2);
	chan__output(&t->p, "bye\n", 4);
	CU_ASSERT_EQUAL(chan__append(&t->p, &end), 0);
	/* The backup replays all of it. */
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &r));
	CU_ASSERT_EQUAL(next_bounded(t, 2, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &end));
	CU_ASSERT_EQUAL(got.seq, end.seq);

	CU_ASSERT_EQUAL(call_bounded(chan__finish, &t->p, "chan__finish"), 0);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_CLOSED);
	CU_ASSERT_EQUAL(
	    call_bounded(chan__finish_backup, &t->b, "chan__finish_backup"), 0);
	CU_ASSERT_EQUAL(chan__state(&t->b), CHAN_CLOSED);
	CHECK_OUTPUT(t->p_out[0], "bye\n");
	chan__get_stats(&t->p, &st);
	CU_ASSERT_EQUAL(st.released_bytes, 4);
	CU_ASSERT(st.acked > end.seq);
	/* Nothing more at any exit; the backup never goes live. */
	CU_ASSERT_EQUAL(next_bounded(t, 2, &got), CHAN_NEXT_NONE);
	CU_ASSERT_EQUAL(next_bounded(t, 3, &got), CHAN_NEXT_NONE);
	/* Everything it replayed was released: no tail. */
	CU_ASSERT(wait_peer_released(t, 4));
	CU_ASSERT_EQUAL(t->fenced_p + t->fenced_b, 0);
	pair_dispose(t);
}

/* A clean close with records the backup has not replayed yet. */
static void test_end_before_replay(void)
{
	struct logfmt_record r = make_record(3, 1), end = end_record(1, 0), got;
	struct pair *t = &T;

	pair_up(t, ARB_UNREACHABLE, TIMEOUT_MS);
	CU_ASSERT_EQUAL(chan__append(&t->p, &r), 0);
	CU_ASSERT_EQUAL(chan__append(&t->p, &end), 0);
	CU_ASSERT_EQUAL(call_bounded(chan__finish, &t->p, "chan__finish"), 0);
	CU_ASSERT_EQUAL(
	    call_bounded(chan__finish_backup, &t->b, "chan__finish_backup"), 0);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_CLOSED);
	CU_ASSERT_EQUAL(chan__state(&t->b), CHAN_CLOSED);
	/* The queue outlives the stream. */
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &r));
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &end));
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_NONE);
	pair_dispose(t);
}

/*
 * The primary's last word after END must cover END's output: a close
 * after a RELEASED short of it is no end but a failure.
 */
static void test_end_output_not_covered(void)
{
	struct logfmt_record end = end_record(1, 4), got;
	struct pair *t = &T;

	pair_up(t, ARB_UNREACHABLE, TIMEOUT_MS);
	chan__output(&t->p, "bye", 3); /* END says 4 */
	CU_ASSERT_EQUAL(chan__append(&t->p, &end), 0);
	CU_ASSERT_EQUAL(call_bounded(chan__finish, &t->p, "chan__finish"), 0);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_CLOSED);
	CU_ASSERT(wait_state(&t->b, CHAN_ASKING));
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_RECORD);
	CU_ASSERT_EQUAL(got.type, LOGFMT_END);
	/* Asking, not live: the arbiter cannot be reached. */
	CU_ASSERT_EQUAL(
	    chan__next(&t->b, 1, t->buf, LOGFMT_MAX_RECORD, &got, 10),
	    CHAN_NEXT_WAIT);
	pair_dispose(t);
}

/* The backup gone, the arbiter grants: alone, held output out first. */
static void test_primary_alone(void)
{
	struct logfmt_record r = make_record(2, 5), got;
	struct pair *t = &T;

	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	hold_and_cut_backup(t, "held");
	CU_ASSERT(wait_state(&t->p, CHAN_ALONE));
	CHECK_OUTPUT(t->p_out[0], "held");
	pthread_mutex_lock(&t->fake.lock);
	CU_ASSERT_STRING_EQUAL(t->fake.owner, PRIMARY_NODE);
	CU_ASSERT_EQUAL(t->fake.granted, 1);
	pthread_mutex_unlock(&t->fake.lock);
	/* Alone: records go nowhere, output no longer waits. */
	CU_ASSERT_EQUAL(chan__append(&t->p, &r), 0);
	chan__output(&t->p, "more", 4);
	CHECK_OUTPUT(t->p_out[0], "more");
	CU_ASSERT_EQUAL(call_bounded(chan__finish, &t->p, "chan__finish"), 0);
	CU_ASSERT_EQUAL(t->fenced_p, 0);

	/* The backup, let go, finds its primary gone and loses the race. */
	pthread_mutex_unlock(&t->b.lock);
	CU_ASSERT(wait_state(&t->b, CHAN_FENCED));
	CU_ASSERT(wait_count(&t->fenced_b, 1));
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_FENCED);
	CU_ASSERT_EQUAL(
	    call_bounded(chan__finish_backup, &t->b, "chan__finish_backup"),
	    -1);
	CU_ASSERT_EQUAL(chan__emit_tail(&t->b), 0);
	pair_dispose(t);
}

struct drainer {
	int fd;
	size_t want, got;
	char last[4];
};

/* After QUIET_MS, read @want bytes from the pipe (keeping the last 4). */
static void *drainer_main(void *arg)
{
	struct drainer *d = arg;
	uint64_t end;

	usleep(QUIET_MS * 1000);
	end = clock__mono_ms() + WAIT_S * 1000;
	while (d->got < d->want && clock__mono_ms() < end) {
		char buf[4096];
		size_t n = read_output(d->fd, buf,
				       sizeof(buf) < d->want - d->got
					   ? sizeof(buf)
					   : d->want - d->got);

		if (n >= 4)
			memcpy(d->last, buf + n - 4, 4);
		d->got += n;
	}
	return NULL;
}

/*
 * A primary left alone finishes once all its output is out, not merely
 * handed to the thread that writes it: pvft-hv exits after chan__finish,
 * and what is not yet written then is lost. The output pipe is full and
 * read only after QUIET_MS, so the writer is still blocked on it when a
 * chan__finish that does not wait for it returns.
 */
static void test_alone_finish_waits_for_output(void)
{
	struct drainer d = { 0 };
	struct chan_stats st;
	struct pair *t = &T;
	static char fill[1 << 20];
	pthread_t th;
	int cap;

	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	hold_and_cut_backup(t, "held");
	CU_ASSERT_FATAL(wait_state(&t->p, CHAN_ALONE));
	CHECK_OUTPUT(t->p_out[0], "held");
	CU_ASSERT_FATAL(wait_released(t, 4));
	pthread_mutex_unlock(&t->b.lock);

	cap = fcntl(t->p_out[1], F_GETPIPE_SZ);
	CU_ASSERT_FATAL(cap > 0 && (size_t)cap <= sizeof(fill));
	memset(fill, 'f', (size_t)cap);
	CU_ASSERT_FATAL(write(t->p_out[1], fill, (size_t)cap) == cap);
	d.fd = t->p_out[0];
	d.want = (size_t)cap + 4;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, drainer_main, &d) == 0);

	chan__output(&t->p, "more", 4);
	CU_ASSERT_EQUAL(call_bounded(chan__finish, &t->p, "chan__finish"), 0);
	chan__get_stats(&t->p, &st);
	CU_ASSERT_EQUAL(st.released_bytes, 8);
	if (st.released_bytes != 8)
		fprintf(stderr,
			"\n  chan__finish returned with %llu of 8 bytes out\n",
			(unsigned long long)st.released_bytes);
	join_bounded(th, "the pipe's drainer");
	CU_ASSERT_EQUAL(d.got, d.want);
	CU_ASSERT(!memcmp(d.last, "more", 4));
	pair_dispose(t);
}

/* The backup gone, the pair is the backup's already: halt, release none. */
static void test_primary_fenced(void)
{
	struct logfmt_record r = make_record(2, 5), got;
	struct chan_stats st;
	struct pair *t = &T;
	enum chan_next n;

	pair_up(t, ARB_BACKUP_OWNS, TIMEOUT_MS);
	hold_and_cut_backup(t, "held");
	CU_ASSERT(wait_state(&t->p, CHAN_FENCED));
	CU_ASSERT(wait_count(&t->fenced_p, 1));
	/* Nothing more: not the held output, not what comes after. */
	CU_ASSERT_EQUAL(chan__append(&t->p, &r), -1);
	chan__output(&t->p, "more", 4);
	CU_ASSERT(output_quiet(t->p_out[0], QUIET_MS));
	CU_ASSERT_EQUAL(call_bounded(chan__finish, &t->p, "chan__finish"), -1);
	chan__get_stats(&t->p, &st);
	CU_ASSERT_EQUAL(st.released_bytes, 0);
	CU_ASSERT_EQUAL(st.state, CHAN_FENCED);
	CU_ASSERT_EQUAL(t->fenced_p, 1);
	pthread_mutex_lock(&t->fake.lock);
	CU_ASSERT_EQUAL(t->fake.denied, 1);
	pthread_mutex_unlock(&t->fake.lock);

	/* The backup, let go, owns the pair: it replays what it has and
	 * goes live. */
	pthread_mutex_unlock(&t->b.lock);
	CU_ASSERT(wait_state(&t->b, CHAN_ALONE));
	do
		n = next_bounded(t, 1, &got);
	while (n == CHAN_NEXT_RECORD);
	CU_ASSERT_EQUAL(n, CHAN_NEXT_LIVE);
	CU_ASSERT_EQUAL(t->fenced_b, 0);
	CU_ASSERT_EQUAL(
	    call_bounded(chan__finish_backup, &t->b, "chan__finish_backup"), 0);
	pair_dispose(t);
}

/* The backup gone, no arbiter answers: neither acts alone, ever. */
static void test_arbiter_unreachable(void)
{
	struct logfmt_record got;
	struct pair *t = &T;
	uint64_t end;
	bool asking = true;
	enum chan_next n;

	pair_up(t, ARB_UNREACHABLE, TIMEOUT_MS);
	hold_and_cut_backup(t, "held");
	CU_ASSERT(wait_state(&t->p, CHAN_ASKING));
	for (end = clock__mono_ms() + 2 * QUIET_MS; clock__mono_ms() < end;) {
		asking = asking && chan__state(&t->p) == CHAN_ASKING;
		usleep(5000);
	}
	CU_ASSERT(asking);
	CU_ASSERT(output_quiet(t->p_out[0], QUIET_MS));
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_ASKING);
	CU_ASSERT_EQUAL(t->fenced_p, 0);

	/* The backup, let go, asks too, and never goes live. */
	pthread_mutex_unlock(&t->b.lock);
	CU_ASSERT(wait_state(&t->b, CHAN_ASKING));
	do
		n = chan__next(&t->b, 1, t->buf, LOGFMT_MAX_RECORD, &got, 20);
	while (n == CHAN_NEXT_RECORD);
	CU_ASSERT_EQUAL(n, CHAN_NEXT_WAIT);
	CU_ASSERT_EQUAL(chan__state(&t->b), CHAN_ASKING);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_ASKING);
	/* Disposing them ends their asking (bounded by pair_dispose). */
	pair_dispose(t);
}

/*
 * A backup that falls silent is a failed peer after the primary's
 * timeout_ms. (The backup's own timeout is long: were it short, a loaded
 * machine could make the backup take the primary for silent first, and
 * win the arbiter.)
 */
static void test_silent_backup(void)
{
	struct pair *t = &T;

	pair_up(t, ARB_GRANTS, SILENT_TIMEOUT_MS);
	pthread_mutex_lock(&t->b.lock);
	CU_ASSERT(wait_state(&t->p, CHAN_ALONE));
	pthread_mutex_lock(&t->fake.lock);
	CU_ASSERT_STRING_EQUAL(t->fake.owner, PRIMARY_NODE);
	pthread_mutex_unlock(&t->fake.lock);
	/* The backup, let go, finds the primary gone: it asks, and halts. */
	pthread_mutex_unlock(&t->b.lock);
	CU_ASSERT(wait_state(&t->b, CHAN_FENCED));
	CU_ASSERT(wait_count(&t->fenced_b, 1));
	CU_ASSERT_EQUAL(t->fenced_p, 0);
	pair_dispose(t);
}

/* The primary gone: the backup replays what it got, then goes live. */
static void test_backup_goes_live(void)
{
	struct logfmt_record a = make_record(1, 1), b = make_record(2, 2), got;
	struct chan_stats st;
	struct pair *t = &T;
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;

	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	CU_ASSERT_EQUAL(chan__append(&t->p, &a), 0);
	CU_ASSERT_EQUAL(chan__append(&t->p, &b), 0);
	do
		chan__get_stats(&t->b, &st);
	while (st.acked <= b.seq && clock__mono_ms() < end && !usleep(1000));
	CU_ASSERT(st.acked > b.seq);
	chan__replayed_output(&t->b, "unreleased", 10);

	call_bounded(dispose_fn, &t->p, "chan__dispose (primary)");
	CU_ASSERT(wait_state(&t->b, CHAN_ALONE));
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &a));
	CU_ASSERT_EQUAL(next_bounded(t, 2, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &b));
	CU_ASSERT_EQUAL(next_bounded(t, 2, &got), CHAN_NEXT_LIVE);
	CU_ASSERT_EQUAL(chan__emit_tail(&t->b), 10);
	CHECK_OUTPUT(t->b_out[0], "unreleased");
	pthread_mutex_lock(&t->fake.lock);
	CU_ASSERT_STRING_EQUAL(t->fake.owner, BACKUP_NODE);
	pthread_mutex_unlock(&t->fake.lock);
	CU_ASSERT_EQUAL(t->fenced_b, 0);
	pair_dispose(t);
}

/*
 * pvft promote: the primary hands over once every record is acknowledged
 * and all output released; the backup takes the pair at once, replays
 * everything and has no tail to re-emit; the primary never asked.
 */
static void test_handover(void)
{
	struct logfmt_record a = make_record(1, 1), b = make_record(2, 2), got;
	struct chan_stats st;
	struct pair *t = &T;

	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	CU_ASSERT_EQUAL(chan__append(&t->p, &a), 0);
	chan__output(&t->p, "one\n", 4);
	CU_ASSERT_EQUAL(chan__append(&t->p, &b), 0);
	chan__output(&t->p, "two\n", 4);
	chan__progress(&t->p, 3);
	/* The backup replays the same output before it hears of any. */
	chan__replayed_output(&t->b, "one\ntwo\n", 8);

	CU_ASSERT_EQUAL(call_bounded(chan__handover, &t->p, "chan__handover"),
			0);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_CLOSED);
	/* Everything out before HANDOVER: the output rule held throughout. */
	CHECK_OUTPUT(t->p_out[0], "one\ntwo\n");
	chan__get_stats(&t->p, &st);
	CU_ASSERT_EQUAL(st.released_bytes, 8);
	CU_ASSERT(st.acked > b.seq);

	CU_ASSERT(wait_state(&t->b, CHAN_ALONE));
	/* By HANDOVER, not by a timeout. */
	CU_ASSERT(chan__handed_over(&t->b));
	CU_ASSERT(chan__handed_over(&t->p));
	CU_ASSERT_EQUAL(next_bounded(t, 1, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &a));
	CU_ASSERT_EQUAL(next_bounded(t, 2, &got), CHAN_NEXT_RECORD);
	CU_ASSERT(same(&got, &b));
	/* PROGRESS said exit 2 was over; live from where the primary was. */
	CU_ASSERT_EQUAL(next_bounded(t, 2, &got), CHAN_NEXT_NONE);
	CU_ASSERT_EQUAL(next_bounded(t, 3, &got), CHAN_NEXT_LIVE);
	/* The primary said it let all 8 bytes out: nothing to re-emit. */
	CU_ASSERT_EQUAL(chan__emit_tail(&t->b), 0);
	CU_ASSERT(output_quiet(t->b_out[0], 0));
	pthread_mutex_lock(&t->fake.lock);
	CU_ASSERT_STRING_EQUAL(t->fake.owner, BACKUP_NODE);
	pthread_mutex_unlock(&t->fake.lock);
	CU_ASSERT_EQUAL(t->fenced_p + t->fenced_b, 0);
	/* Given away: no second handover, nothing appended goes anywhere. */
	CU_ASSERT_EQUAL(chan__handover(&t->p), -1);
	pair_dispose(t);
}

/* A handover needs a pair: a primary running alone has none. */
static void test_handover_alone(void)
{
	struct pair *t = &T;

	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	call_bounded(dispose_fn, &t->b, "chan__dispose (backup)");
	CU_ASSERT(wait_state(&t->p, CHAN_ALONE));
	CU_ASSERT_EQUAL(call_bounded(chan__handover, &t->p, "chan__handover"),
			-1);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_ALONE);
	pair_dispose(t);
}

/* ---- the pair policy: a fake one, each verdict ---- */

/* A paired primary and backup asking fake_pol, which answers @v. */
static void fake_pair_up(struct pair *t, enum chan_verdict v)
{
	pthread_mutex_lock(&fake_pol.lock);
	fake_pol.verdict = v;
	fake_pol.check_rc = 0;
	fake_pol.checks = fake_pol.decides = 0;
	fake_pol.asked_by[0] = '\0';
	pthread_mutex_unlock(&fake_pol.lock);
	use_fake_policy = true;
	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	/* Each side asked whether the pair had an owner, once. */
	pthread_mutex_lock(&fake_pol.lock);
	CU_ASSERT_EQUAL(fake_pol.checks, 2);
	CU_ASSERT_EQUAL(fake_pol.decides, 0);
	pthread_mutex_unlock(&fake_pol.lock);
}

/* ALONE: the primary goes on alone and lets its held output out. */
static void test_policy_alone(void)
{
	struct logfmt_record r = make_record(0, 2);
	struct pair *t = &T;

	fake_pair_up(t, CHAN_VERDICT_ALONE);
	hold_and_cut_backup(t, "held");
	CU_ASSERT(wait_state(&t->p, CHAN_ALONE));
	CHECK_OUTPUT(t->p_out[0], "held");
	pthread_mutex_lock(&fake_pol.lock);
	CU_ASSERT_EQUAL(fake_pol.decides, 1);
	CU_ASSERT_STRING_EQUAL(fake_pol.asked_by, PRIMARY_NODE);
	pthread_mutex_unlock(&fake_pol.lock);
	CU_ASSERT_EQUAL(chan__append(&t->p, &r), 0);
	CU_ASSERT_EQUAL(call_bounded(chan__finish, &t->p, "chan__finish"), 0);
	CU_ASSERT_EQUAL(t->fenced_p, 0);

	/* The backup, let go, is told FENCED: it halts. */
	fake_policy_set(CHAN_VERDICT_FENCED);
	pthread_mutex_unlock(&t->b.lock);
	CU_ASSERT(wait_state(&t->b, CHAN_FENCED));
	CU_ASSERT(wait_count(&t->fenced_b, 1));
	pthread_mutex_lock(&fake_pol.lock);
	CU_ASSERT_STRING_EQUAL(fake_pol.asked_by, BACKUP_NODE);
	pthread_mutex_unlock(&fake_pol.lock);
	pair_dispose(t);
}

/* FENCED: the primary halts, lets nothing more out, calls cfg.fenced. */
static void test_policy_fenced(void)
{
	struct pair *t = &T;

	fake_pair_up(t, CHAN_VERDICT_FENCED);
	hold_and_cut_backup(t, "held");
	CU_ASSERT(wait_state(&t->p, CHAN_FENCED));
	CU_ASSERT(wait_count(&t->fenced_p, 1));
	CU_ASSERT(output_quiet(t->p_out[0], QUIET_MS));
	CU_ASSERT_EQUAL(fake_policy_decides(), 1);
	CU_ASSERT_EQUAL(call_bounded(chan__finish, &t->p, "chan__finish"), -1);
	pthread_mutex_unlock(&t->b.lock);
	pair_dispose(t);
}

/* RETRY: asked again and again, never alone meanwhile; then ALONE. */
static void test_policy_retry(void)
{
	struct pair *t = &T;
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;

	fake_pair_up(t, CHAN_VERDICT_RETRY);
	hold_and_cut_backup(t, "held");
	CU_ASSERT(wait_state(&t->p, CHAN_ASKING));
	while (fake_policy_decides() < 3 && clock__mono_ms() < end)
		usleep(1000);
	CU_ASSERT(fake_policy_decides() >= 3);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_ASKING);
	CU_ASSERT(output_quiet(t->p_out[0], QUIET_MS));
	CU_ASSERT_EQUAL(t->fenced_p, 0);
	/* The answer comes: alone, and the held output goes out. */
	fake_policy_set(CHAN_VERDICT_ALONE);
	CU_ASSERT(wait_state(&t->p, CHAN_ALONE));
	CHECK_OUTPUT(t->p_out[0], "held");
	CU_ASSERT_EQUAL(call_bounded(chan__finish, &t->p, "chan__finish"), 0);
	fake_policy_set(CHAN_VERDICT_FENCED);
	pthread_mutex_unlock(&t->b.lock);
	CU_ASSERT(wait_state(&t->b, CHAN_FENCED));
	pair_dispose(t);
}

/* check_owner says the pair has an owner: the primary does not pair. */
static void test_policy_owned(void)
{
	struct logfmt_record boot = boot_record();
	struct pair *t = &T;

	use_fake_policy = true;
	pthread_mutex_lock(&fake_pol.lock);
	fake_pol.check_rc = -EEXIST;
	fake_pol.checks = fake_pol.decides = 0;
	pthread_mutex_unlock(&fake_pol.lock);
	pair_init(t, ARB_GRANTS, TIMEOUT_MS);
	CU_ASSERT_EQUAL(chan__connect(&t->p, &header, &boot), -1);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_IDLE);
	pthread_mutex_lock(&fake_pol.lock);
	CU_ASSERT_EQUAL(fake_pol.checks, 1);
	CU_ASSERT_EQUAL(fake_pol.decides, 0);
	fake_pol.check_rc = 0;
	pthread_mutex_unlock(&fake_pol.lock);
	pair_dispose(t);
}

/* ---- the transport's ops on their own ---- */

/* Both ends' handshakes, stepped in turn, each to its end (*@ra_r, *@rb_r). */
static void handshake_both(struct transport *a, struct transport *b, int *ra_r,
			   int *rb_r)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;
	char why[256];
	int ra = -EAGAIN, rb = -EAGAIN;

	while ((ra == -EAGAIN || rb == -EAGAIN) && clock__mono_ms() < end) {
		struct pollfd pfd[2] = {
			{ .fd = a->fd, .events = transport__events(a) },
			{ .fd = b->fd, .events = transport__events(b) },
		};

		if (ra == -EAGAIN)
			ra = transport__handshake(a, why, sizeof(why));
		if (rb == -EAGAIN)
			rb = transport__handshake(b, why, sizeof(why));
		if (ra == -EAGAIN || rb == -EAGAIN)
			poll(pfd, 2, 10);
	}
	*ra_r = ra;
	*rb_r = rb;
}

/* @n bytes from @to, through the ops, within WAIT_S. */
static size_t recv_some(struct transport *t, uint8_t *buf, size_t n)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;
	size_t got = 0;

	while (got < n && clock__mono_ms() < end) {
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };
		ssize_t r;

		if (!transport__pending(t))
			poll(&pfd, 1, 10);
		r = transport__recv(t, buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r != -EAGAIN)
			break;
	}
	return got;
}

/* A round trip both ways, then the client's end read as 0. */
static void round_trip(struct transport *c, struct transport *s)
{
	static uint8_t big[100000], got[sizeof(big)];
	uint8_t small[4];
	ssize_t r;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 1);
	CU_ASSERT_EQUAL(
	    transport__send_all(c, big, sizeof(big),
				clock__mono_ns() + WAIT_S * 1000000000ull),
	    0);
	CU_ASSERT_EQUAL(recv_some(s, got, sizeof(got)), sizeof(got));
	CU_ASSERT(!memcmp(big, got, sizeof(big)));
	CU_ASSERT_EQUAL(
	    transport__send_all(s, "pong", 4,
				clock__mono_ns() + WAIT_S * 1000000000ull),
	    0);
	CU_ASSERT_EQUAL(
	    transport__recv_all(c, small, 4,
				clock__mono_ns() + WAIT_S * 1000000000ull),
	    0);
	CU_ASSERT(!memcmp(small, "pong", 4));
	/* Nothing more: -EAGAIN, not an end. */
	CU_ASSERT_EQUAL(transport__recv(c, small, 4), -EAGAIN);
	transport__shutdown_write(c);
	CU_ASSERT_EQUAL(
	    transport__recv_all(s, small, 1,
				clock__mono_ns() + WAIT_S * 1000000000ull),
	    -ECONNRESET);
	r = transport__recv(s, small, 1);
	CU_ASSERT_EQUAL(r, 0);
}

/* Plaintext over TCP: dial, listen, accept, the ops, no handshake. */
static void test_transport_plaintext(void)
{
	struct transport *c = NULL, *s = NULL;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char addr[32], why[64];
	int lfd, fd;

	lfd = transport__listen("127.0.0.1:0");
	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_FATAL(!getsockname(lfd, (struct sockaddr *)&sa, &sl));
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	fd = transport__dial(addr);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(transport__open(&c, NULL, fd), 0);
	CU_ASSERT_EQUAL_FATAL(transport__accept(&s, lfd, NULL), 0);
	CU_ASSERT_EQUAL(transport__accept(&s, lfd, NULL) == -EAGAIN, true);
	CU_ASSERT(!transport__secure(c) && !transport__secure(s));
	CU_ASSERT_PTR_EQUAL(c->ops, &transport_plain_ops);
	CU_ASSERT(!strncmp(s->addr, "127.0.0.1:", 10));
	CU_ASSERT(!strcmp(c->addr, addr));
	/* Nobody to authenticate: done at once. */
	CU_ASSERT_EQUAL(transport__handshake(c, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(transport__handshake(s, why, sizeof(why)), 0);
	CU_ASSERT(!transport__pending(s));
	round_trip(c, s);
	transport__close(c);
	transport__close(s);
	close(lfd);
	/* What is no HOST:PORT is refused before any socket. */
	CU_ASSERT_EQUAL(transport__listen("127.0.0.1"), -EINVAL);
	CU_ASSERT_EQUAL(transport__listen(":7000"), -EINVAL);
	CU_ASSERT_EQUAL(transport__dial("127.0.0.1:"), -EINVAL);
}

/* TLS: the PSK handshake through the ops, a wrong key refused. */
static void test_transport_tls(void)
{
	static const uint8_t other_key[TLS_KEY_LEN] = { 1 };
	struct tls_creds *cc, *sc, *bad;
	struct transport *c, *s;
	char why[256];
	int sv[2], rc, rs;

	CU_ASSERT_FATAL(!tls__creds_psk(&cc, TLS_CLIENT, "pvft-chan-test",
					test_key, why, sizeof(why)));
	CU_ASSERT_FATAL(!tls__creds_psk(&sc, TLS_SERVER, "pvft-chan-test",
					test_key, why, sizeof(why)));
	CU_ASSERT_FATAL(!tls__creds_psk(&bad, TLS_CLIENT, "pvft-chan-test",
					other_key, why, sizeof(why)));
	CU_ASSERT_FATAL(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CU_ASSERT_EQUAL_FATAL(transport__open(&c, cc, sv[0]), 0);
	CU_ASSERT_EQUAL_FATAL(transport__open(&s, sc, sv[1]), 0);
	CU_ASSERT(transport__secure(c) && transport__secure(s));
	CU_ASSERT_PTR_EQUAL(c->ops, &transport_tls_ops);
	/* Nothing goes before the handshake. */
	CU_ASSERT_EQUAL(transport__send(c, "x", 1), -ENOTCONN);
	handshake_both(c, s, &rc, &rs);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(rs, 0);
	round_trip(c, s);
	transport__close(c);
	transport__close(s);

	CU_ASSERT_FATAL(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CU_ASSERT_EQUAL_FATAL(transport__open(&c, bad, sv[0]), 0);
	CU_ASSERT_EQUAL_FATAL(transport__open(&s, sc, sv[1]), 0);
	/*
	 * The server checks the key and, as the backup does, closes the
	 * connection unanswered: the client's handshake ends with that.
	 */
	handshake_both(c, s, &rc, &rs);
	CU_ASSERT_EQUAL(rs, -EACCES);
	transport__close(s);
	rc = transport__handshake_until(
	    c, clock__mono_ns() + WAIT_S * 1000000000ull, why, sizeof(why));
	CU_ASSERT(rc < 0 && rc != -EAGAIN && rc != -ETIMEDOUT);
	transport__close(c);
	tls__creds_free(cc);
	tls__creds_free(sc);
	tls__creds_free(bad);
}

/* ---- the primary against a fake backup (raw bytes) ---- */

static bool read_exact(int fd, uint8_t *buf, size_t len)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;
	size_t got = 0;

	while (got < len && clock__mono_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = recv(fd, buf + got, len - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return got == len;
}

/* One record from @fd into @buf (LOGFMT_MAX_RECORD bytes), decoded. */
static bool read_raw_record(int fd, uint8_t *buf, struct logfmt_record *r)
{
	struct logfmt_error e;
	size_t total;

	if (!read_exact(fd, buf, LOGFMT_HEAD_SIZE))
		return false;
	total = LOGFMT_HEAD_SIZE +
		((buf[20] | (size_t)buf[21] << 8) + 7) / 8 * 8 +
		LOGFMT_TAIL_SIZE;
	if (buf[22] || buf[23] || total > LOGFMT_MAX_RECORD ||
	    !read_exact(fd, buf + LOGFMT_HEAD_SIZE, total - LOGFMT_HEAD_SIZE))
		return false;
	return logfmt__decode_record(buf, total, r, &e) == (long)total;
}

struct fake_backup {
	int listen_fd, fd;
	const char *node; /* its HELLO's */
	bool handshake_ok;
	pthread_t thread;
};

/* Take the primary's header, BOOT and HELLO; answer: accepted. */
static void *fake_backup_main(void *arg)
{
	struct fake_backup *f = arg;
	struct pollfd pfd = { .fd = f->listen_fd, .events = POLLIN };
	struct logfmt_record boot, hello, ans = { .type = LOGFMT_HELLO };
	uint8_t *buf = malloc(LOGFMT_MAX_RECORD), out[256];
	struct logfmt_header h;
	struct logfmt_error e;
	long n;

	if (!buf || poll(&pfd, 1, WAIT_S * 1000) != 1)
		goto out;
	f->fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (f->fd < 0 || !read_exact(f->fd, buf, LOGFMT_HEADER_SIZE) ||
	    logfmt__decode_header(buf, LOGFMT_HEADER_SIZE, &h, &e) ||
	    !read_raw_record(f->fd, buf, &boot) || boot.type != LOGFMT_BOOT ||
	    !read_raw_record(f->fd, buf, &hello) || hello.type != LOGFMT_HELLO)
		goto out;
	ans.u.hello = (struct logfmt_hello){ LOGFMT_ROLE_BACKUP,
					     0,
					     (uint32_t)strlen(f->node),
					     0,
					     f->node,
					     NULL };
	n = logfmt__encode_record(&ans, out, sizeof(out));
	f->handshake_ok = n > 0 && write_all(f->fd, out, (size_t)n);
out:
	free(buf);
	return NULL;
}

/*
 * The primary of @t paired with a fake backup on @t->port, whose socket
 * takes at most @rcvbuf bytes (0: the default) and is never read. The
 * fake's connection is f->fd. 0, or chan__connect's -1.
 */
static int fake_backup_pair(struct pair *t, struct fake_backup *f,
			    const char *node, int rcvbuf)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)t->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct logfmt_record boot = boot_record();
	int one = 1, rc;

	*f = (struct fake_backup){ .listen_fd = -1, .fd = -1, .node = node };
	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(f->listen_fd >= 0);
	setsockopt(f->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rcvbuf)
		setsockopt(f->listen_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			   sizeof(rcvbuf));
	CU_ASSERT_FATAL(
	    bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(listen(f->listen_fd, 1) == 0);
	CU_ASSERT_FATAL(pthread_create(&f->thread, NULL, fake_backup_main, f) ==
			0);
	rc = chan__connect(&t->p, &header, &boot);
	join_bounded(f->thread, "the fake backup");
	arm_arbiter(t);
	CU_ASSERT(f->handshake_ok);
	return rc;
}

static void fake_backup_close(struct fake_backup *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
}

/* The backup's record @r (its seq given), encoded into @buf; its size. */
static size_t backup_record(uint8_t *buf, struct logfmt_record r)
{
	long n = logfmt__encode_record(&r, buf, 256);

	CU_ASSERT_FATAL(n > 0);
	return (size_t)n;
}

static struct logfmt_record ack(uint64_t seq, uint64_t received,
				uint64_t replayed)
{
	return (struct logfmt_record){ .seq = seq,
				       .type = LOGFMT_ACK,
				       .u.ack = { received, replayed } };
}

/* What the primary's next record will be numbered (its thread's too). */
static uint64_t primary_next_seq(struct pair *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->p.lock);
	n = t->p.pri->next_seq;
	pthread_mutex_unlock(&t->p.lock);
	return n;
}

/* Whatever a backup sends that is no ACK in order is a failed backup. */
static void test_backup_breaks_stream(void)
{
	enum { NR_CASES = 8 };
	struct fake_backup f;
	struct pair *t = &T;

	for (int i = 0; i < NR_CASES; i++) {
		uint8_t bytes[512];
		size_t len = 0;

		plaintext = true; /* a fake peer of raw bytes: no TLS */
		pair_init(t, ARB_UNREACHABLE, TIMEOUT_MS);
		if (fake_backup_pair(t, &f, BACKUP_NODE, 0)) {
			CU_FAIL("the fake backup did not pair");
			fake_backup_close(&f);
			pair_dispose(t);
			continue;
		}
		switch (i) {
		case 0: /* a record skipped: its seq 1 comes as 2 */
			len = backup_record(bytes, ack(2, 2, 2));
			break;
		case 1: /* a second HELLO */
			len = backup_record(
			    bytes, (struct logfmt_record){
				       .seq = 1,
				       .type = LOGFMT_HELLO,
				       .u.hello = { LOGFMT_ROLE_BACKUP, 0, 1, 0,
						    "b", NULL } });
			break;
		case 2: { /* a mandatory record */
			struct logfmt_record m = make_record(0, 1);

			m.seq = 1;
			len = backup_record(bytes, m);
			break;
		}
		case 3: /* a damaged one */
			len = backup_record(bytes, ack(1, 2, 2));
			bytes[LOGFMT_HEAD_SIZE + 3] ^= 0x10;
			break;
		case 4: /* more acknowledged than the primary ever made */
			len = backup_record(bytes, ack(1, 1000, 0));
			break;
		case 5: /* more replayed than received (laid out by hand) */
			len = backup_record(bytes, ack(1, 2, 2));
			bytes[LOGFMT_HEAD_SIZE + 8] = 3;
			resign(bytes, len);
			break;
		case 6: /* junk where a record should start */
			memset(bytes, 0xff, 64);
			len = 64;
			break;
		default: /* a close */
			break;
		}
		if (len) {
			CU_ASSERT(write_all(f.fd, bytes, len));
		} else {
			shutdown(f.fd, SHUT_RDWR);
		}
		if (!wait_state(&t->p, CHAN_ASKING))
			fprintf(stderr, "\n  case %d: not taken for failed\n",
				i);
		fake_backup_close(&f);
		pair_dispose(t);
	}
}

/* An unknown optional record from the backup is skipped, as the format
 * says; the ACK after it counts. */
static void test_backup_optional_record(void)
{
	struct logfmt_record opt = { .seq = 1, .type = 0x8123 };
	struct fake_backup f;
	struct pair *t = &T;
	uint8_t bytes[512];
	size_t len;

	plaintext = true; /* a fake peer of raw bytes: no TLS */
	pair_init(t, ARB_UNREACHABLE, TIMEOUT_MS);
	CU_ASSERT_FATAL(fake_backup_pair(t, &f, BACKUP_NODE, 0) == 0);
	chan__output(&t->p, "ok", 2);
	len = backup_record(bytes, opt);
	len += backup_record(bytes + len, ack(2, primary_next_seq(t), 0));
	CU_ASSERT(write_all(f.fd, bytes, len));
	CHECK_OUTPUT(t->p_out[0], "ok");
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_PAIRED);
	fake_backup_close(&f);
	pair_dispose(t);
}

/* Two replicas with one node id: the arbiter could not tell them apart. */
static void test_backup_same_node(void)
{
	struct fake_backup f;
	struct pair *t = &T;
	char err[4096];

	plaintext = true; /* a fake peer of raw bytes: no TLS */
	pair_init(t, ARB_UNREACHABLE, TIMEOUT_MS);
	capture_stderr();
	CU_ASSERT_EQUAL(fake_backup_pair(t, &f, PRIMARY_NODE, 0), -1);
	end_capture(err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(err, "has this replica's node id " PRIMARY_NODE));
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_IDLE);
	fake_backup_close(&f);
	pair_dispose(t);
}

/*
 * A backup that acknowledges records the primary has not even sent yet
 * (they are still in its buffer: the backup reads nothing and its socket
 * is full) is lying: it is a failed backup, and the output after those
 * records must stay held.
 */
static void test_backup_acks_unsent(void)
{
	struct fake_backup f;
	struct chan_stats st;
	struct pair *t = &T;
	uint64_t appended = 0, sent, end, n;
	uint8_t bytes[256];
	size_t len;
	bool released = false;

	plaintext = true; /* a fake peer of raw bytes: no TLS */
	pair_init(t, ARB_UNREACHABLE, TIMEOUT_MS);
	CU_ASSERT_FATAL(fake_backup_pair(t, &f, BACKUP_NODE, 4096) == 0);
	/* 6 MiB: more than the sockets hold (tcp_wmem's 4 MiB at most). */
	for (uint32_t i = 0; appended < (6u << 20); i++) {
		struct logfmt_record r = make_record(1, 1 + i);

		r.u.random.len = PVFT_RANDOM_MAX;
		appended += logfmt__record_size(&r);
		CU_ASSERT_FATAL(chan__append(&t->p, &r) == 0);
	}
	/* Wait until nothing more goes out. */
	chan__get_stats(&t->p, &st);
	end = clock__mono_ms() + WAIT_S * 1000;
	do {
		sent = st.bytes;
		usleep(50000);
		chan__get_stats(&t->p, &st);
	} while (st.bytes != sent && clock__mono_ms() < end);
	CU_ASSERT_FATAL(sent < appended);

	chan__output(&t->p, "lie", 3);
	n = primary_next_seq(t);
	len = backup_record(bytes, ack(1, n, 0));
	CU_ASSERT(write_all(f.fd, bytes, len));
	for (end = clock__mono_ms() + WAIT_S * 1000;
	     clock__mono_ms() < end && chan__state(&t->p) == CHAN_PAIRED &&
	     !released;)
		released = !output_quiet(t->p_out[0], 10);
	CU_ASSERT_FALSE(released);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_ASKING);
	chan__get_stats(&t->p, &st);
	CU_ASSERT(st.acked < n);
	fake_backup_close(&f);
	pair_dispose(t);
}

/* Many records, some large, through every buffer's wrap-around. */
struct consumer {
	struct pair *t;
	const struct logfmt_record *sent;
	uint64_t *seqs;
	uint32_t n;
	atomic_uint good;
	enum chan_next bad_next;
};

static void *consumer_main(void *arg)
{
	struct consumer *k = arg;
	uint8_t *buf = malloc(LOGFMT_MAX_RECORD);
	struct logfmt_record got;

	k->bad_next = CHAN_NEXT_RECORD;
	for (uint32_t i = 0; buf && i < k->n; i++) {
		uint64_t end = clock__mono_ms() + WAIT_S * 1000;
		struct logfmt_record want = k->sent[i];
		enum chan_next n;

		/* sent[i].seq is the appender's to write: compare the rest. */
		do
			n = chan__next(&k->t->b, want.ordinal, buf,
				       LOGFMT_MAX_RECORD, &got, 20);
		while (n == CHAN_NEXT_WAIT && clock__mono_ms() < end);
		if (n != CHAN_NEXT_RECORD) {
			k->bad_next = n;
			break;
		}
		want.seq = got.seq;
		k->seqs[i] = got.seq;
		if (!same(&got, &want))
			break;
		k->good++;
	}
	free(buf);
	return NULL;
}

static void test_many_records(void)
{
	static struct logfmt_record sent[MANY_RECORDS];
	static uint64_t seqs[MANY_RECORDS];
	struct consumer k = { &T, sent, seqs, MANY_RECORDS, 0, 0 };
	struct pair *t = &T;
	struct chan_stats st;
	pthread_t th;
	bool ok = true;

	for (uint32_t i = 0; i < MANY_RECORDS; i++) {
		sent[i] = make_record(i, 1 + i / 2);
		/* Mostly RANDOM records of up to 4096 bytes. */
		if (i % 5 != 1 && i % 3) {
			sent[i].type = LOGFMT_RANDOM;
			sent[i].u.random =
			    (struct logfmt_random){ { i, 0 },
						    1 + (i * 4093) %
							    PVFT_RANDOM_MAX,
						    pattern + i };
		}
	}
	pair_up(t, ARB_UNREACHABLE, TIMEOUT_MS);
	CU_ASSERT_FATAL(pthread_create(&th, NULL, consumer_main, &k) == 0);
	for (uint32_t i = 0; i < MANY_RECORDS; i++) {
		if (chan__append(&t->p, &sent[i]))
			ok = false;
		chan__progress(&t->p, sent[i].ordinal);
	}
	CU_ASSERT(ok);
	/* Bounded by WAIT_S without a record taken, not in all. */
	for (;;) {
		unsigned int before = atomic_load(&k.good);
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += WAIT_S;
		if (!pthread_timedjoin_np(th, NULL, &ts))
			break;
		if (atomic_load(&k.good) == before) {
			fprintf(stderr,
				"\n  test_chan: no record taken in %d s\n",
				WAIT_S);
			_exit(EXIT_FAILURE);
		}
	}
	CU_ASSERT_EQUAL(k.good, MANY_RECORDS);
	CU_ASSERT_EQUAL(k.bad_next, CHAN_NEXT_RECORD);
	for (uint32_t i = 0; i < k.good; i++)
		ok = ok && seqs[i] == sent[i].seq;
	CU_ASSERT(ok);
	chan__get_stats(&t->p, &st);
	CU_ASSERT(st.bytes > 8u << 20);
	CU_ASSERT_EQUAL(st.state, CHAN_PAIRED);
	pair_dispose(t);
}

/* Last: every test closed what it opened and joined what it started. */
/* ---- moving the backup (pair.md, "Moving the backup") ---- */

#define SUCCESSOR_NODE "hostC"
/*
 * The primary's --timeout-ms in the two tests about a move's timing: its
 * grace is then 2 s, and a loaded machine's hiccup is no failed backup.
 */
#define MOVE_TIMEOUT_MS 250

/* The backup's successor: a third channel, a backup at another address. */
struct successor {
	struct chan c;
	char addr[32];
	int port;
	pthread_t thread;
	bool running;
	int rc;
};

static struct successor S;

static void successor_init(struct pair *t, struct successor *s,
			   unsigned int connect_s)
{
	struct chan_config cfg = t->b.cfg;

	memset(s, 0, sizeof(*s));
	s->port = free_port();
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
	cfg.addr = s->addr;
	cfg.node = SUCCESSOR_NODE;
	cfg.connect_s = connect_s;
	CU_ASSERT_FATAL(chan__init(&s->c, &cfg) == 0);
}

static void *successor_main(void *arg)
{
	struct successor *s = arg;

	s->rc = chan__accept_resume(&s->c);
	return NULL;
}

static void successor_start(struct successor *s)
{
	s->rc = -2;
	CU_ASSERT_FATAL(pthread_create(&s->thread, NULL, successor_main, s) ==
			0);
	s->running = true;
}

static void successor_join(struct successor *s)
{
	if (s->running)
		join_bounded(s->thread, "the successor's chan__accept_resume");
	s->running = false;
}

static int successor_dispose_fn(struct chan *c)
{
	chan__dispose(c);
	return 0;
}

static void successor_dispose(struct successor *s)
{
	successor_join(s);
	call_bounded(successor_dispose_fn, &s->c, "chan__dispose (successor)");
}

/* chan__next on @c at exit @exits until it says something but WAIT. */
static enum chan_next next_on(struct chan *c, uint8_t *buf, uint64_t exits,
			      struct logfmt_record *rec)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;
	enum chan_next n;

	do
		n = chan__next(c, exits, buf, LOGFMT_MAX_RECORD, rec, 20);
	while (n == CHAN_NEXT_WAIT && clock__mono_ms() < end);
	return n;
}

/* The primary counts every record below @seq acknowledged. */
static bool wait_acked(struct chan *p, uint64_t seq)
{
	uint64_t end = clock__mono_ms() + WAIT_S * 1000;
	struct chan_stats st;

	for (;;) {
		chan__get_stats(p, &st);
		if (st.acked >= seq)
			return true;
		if (clock__mono_ms() > end)
			return false;
		usleep(1000);
	}
}

/* The records of a move test: @n from record @from on, one per exit. */
static void append_records(struct pair *t, struct logfmt_record *recs,
			   uint32_t from, uint32_t n)
{
	for (uint32_t i = from; i < from + n; i++) {
		recs[i] = make_record(i, 1 + i);
		CU_ASSERT_EQUAL(chan__append(&t->p, &recs[i]), 0);
		chan__progress(&t->p, 1 + i);
	}
}

/* Records @from..@to-1 of @recs, exactly, in order, from @c. */
static bool next_are(struct chan *c, uint8_t *buf,
		     const struct logfmt_record *recs, uint32_t from,
		     uint32_t to)
{
	struct logfmt_record got;

	for (uint32_t i = from; i < to; i++) {
		enum chan_next n = next_on(c, buf, recs[i].ordinal, &got);

		if (n != CHAN_NEXT_RECORD || !same(&got, &recs[i])) {
			fprintf(stderr,
				"\n  record %u (seq %llu): next %d, seq %llu\n",
				i, (unsigned long long)recs[i].seq, n,
				n == CHAN_NEXT_RECORD
				    ? (unsigned long long)got.seq
				    : 0ull);
			return false;
		}
	}
	return true;
}

static void fake_policy_reset(enum chan_verdict v)
{
	pthread_mutex_lock(&fake_pol.lock);
	fake_pol.verdict = v;
	fake_pol.check_rc = 0;
	fake_pol.checks = fake_pol.decides = 0;
	fake_pol.asked_by[0] = '\0';
	pthread_mutex_unlock(&fake_pol.lock);
	use_fake_policy = true;
}

/*
 * The whole move: the backup, mid-stream, exports (with records queued
 * and not replayed, and records sent after the cut that it never takes);
 * a successor imports; the backup commits; the primary follows to the
 * successor and resends. The successor gets every record exactly once,
 * in order: the imported ones, the resent ones, then new ones; acks
 * resume and the output held across the move is released. No one asked
 * the policy.
 */
static void test_move(void)
{
	enum { N1 = 20, REPLAYED = 5, N2 = 10, N3 = 10 };
	static struct logfmt_record recs[N1 + N2 + N3];
	struct pair *t = &T;
	struct successor *s = &S;
	struct logfmt_record got;
	struct chan_stats st;
	uint8_t *blob = malloc(CHAN_MOVE_MAX);
	long n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
	fake_policy_reset(CHAN_VERDICT_FENCED);
	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	append_records(t, recs, 0, N1);
	chan__output(&t->p, "before\n", 7);
	CU_ASSERT(wait_acked(&t->p, recs[N1 - 1].seq + 1));
	CHECK_OUTPUT(t->p_out[0], "before\n");
	CU_ASSERT(next_are(&t->b, t->buf, recs, 0, REPLAYED));
	chan__replayed_output(&t->b, "before\n", 7);

	/* The cut. */
	n = chan__move_export(&t->b, blob, CHAN_MOVE_MAX);
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(chan__state(&t->b), CHAN_MOVING);
	CU_ASSERT_EQUAL(chan__move_export(&t->b, blob, 100), -ENOSPC);
	CU_ASSERT_EQUAL(chan__move_export(&t->b, blob, CHAN_MOVE_MAX), n);
	/* Sent now, never taken by the frozen backup: held output waits. */
	append_records(t, recs, N1, N2);
	chan__output(&t->p, "during\n", 7);
	CU_ASSERT(output_quiet(t->p_out[0], QUIET_MS));
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_PAIRED);

	successor_init(t, s, WAIT_S);
	CU_ASSERT_EQUAL_FATAL(chan__move_import(&s->c, blob, (size_t)n), 0);
	successor_start(s);
	CU_ASSERT_EQUAL(chan__move_commit(&t->b, s->addr), 0);
	CU_ASSERT_EQUAL(chan__state(&t->b), CHAN_CLOSED);
	successor_join(s);
	CU_ASSERT_EQUAL(s->rc, 0);
	/* The successor acked the resent records: the held output goes. */
	CU_ASSERT(wait_acked(&t->p, recs[N1 + N2 - 1].seq + 1));
	CHECK_OUTPUT(t->p_out[0], "during\n");
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_PAIRED);
	CU_ASSERT_EQUAL(chan__state(&s->c), CHAN_PAIRED);
	chan__peer(&t->p, (char *)t->buf, 64);
	CU_ASSERT_STRING_EQUAL((char *)t->buf, SUCCESSOR_NODE);
	chan__peer(&s->c, (char *)t->buf, 64);
	CU_ASSERT_STRING_EQUAL((char *)t->buf, PRIMARY_NODE);

	append_records(t, recs, N1 + N2, N3);
	chan__output(&t->p, "after\n", 6);
	CU_ASSERT(next_are(&s->c, t->buf, recs, REPLAYED, N1 + N2 + N3));
	CU_ASSERT(wait_acked(&t->p, recs[N1 + N2 + N3 - 1].seq + 1));
	CHECK_OUTPUT(t->p_out[0], "after\n");
	/* Nothing more: not a record twice. */
	chan__progress(&t->p, N1 + N2 + N3 + 2);
	CU_ASSERT_EQUAL(next_on(&s->c, t->buf, N1 + N2 + N3 + 1, &got),
			CHAN_NEXT_NONE);
	chan__get_stats(&s->c, &st);
	CU_ASSERT_EQUAL(st.replayed, st.acked);
	/* The successor kept the replayed output the primary did not say. */
	pthread_mutex_lock(&s->c.lock);
	CU_ASSERT_EQUAL(s->c.bak->out_total, 7);
	pthread_mutex_unlock(&s->c.lock);
	CU_ASSERT_EQUAL(fake_policy_decides(), 0);
	CU_ASSERT_EQUAL(t->fenced_p + t->fenced_b, 0);
	successor_dispose(s);
	pair_dispose(t);
	free(blob);
}

/*
 * Nobody answers at the address the backup moved to: the primary dials
 * for max(2 s, 10 timeouts), then takes the backup for failed and asks
 * the policy; granted, it runs alone and lets its held output out.
 */
static void test_move_unanswered(void)
{
	static struct logfmt_record recs[4];
	struct pair *t = &T;
	uint8_t *blob = malloc(CHAN_MOVE_MAX);
	char nowhere[32];
	uint64_t t0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
	fake_policy_reset(CHAN_VERDICT_ALONE);
	pair_up(t, ARB_GRANTS, MOVE_TIMEOUT_MS);
	append_records(t, recs, 0, 2);
	CU_ASSERT(wait_acked(&t->p, recs[1].seq + 1));
	CU_ASSERT(chan__move_export(&t->b, blob, CHAN_MOVE_MAX) > 0);
	append_records(t, recs, 2, 2);
	chan__output(&t->p, "held", 4);
	snprintf(nowhere, sizeof(nowhere), "127.0.0.1:%d", free_port());
	t0 = clock__mono_ms();
	CU_ASSERT_EQUAL(chan__move_commit(&t->b, nowhere), 0);
	CU_ASSERT(wait_state(&t->p, CHAN_MOVING));
	CU_ASSERT(output_quiet(t->p_out[0], QUIET_MS));
	CU_ASSERT(wait_state(&t->p, CHAN_ALONE));
	CU_ASSERT(clock__mono_ms() - t0 >= 2000);
	CHECK_OUTPUT(t->p_out[0], "held");
	pthread_mutex_lock(&fake_pol.lock);
	CU_ASSERT_EQUAL(fake_pol.decides, 1);
	CU_ASSERT_STRING_EQUAL(fake_pol.asked_by, PRIMARY_NODE);
	pthread_mutex_unlock(&fake_pol.lock);
	pair_dispose(t);
	free(blob);
}

/* Reseal a blob after a test changed it (its CRC32C, at len - 8). */
static void blob_reseal(uint8_t *blob, size_t len)
{
	uint32_t crc = logfmt__crc32c(0, blob, len - 8);

	for (int i = 0; i < 4; i++)
		blob[len - 8 + i] = (uint8_t)(crc >> (8 * i));
}

/* A damaged or doctored blob is refused, naming the field. */
static void test_move_import_refused(void)
{
	static struct logfmt_record recs[6];
	struct pair *t = &T;
	struct successor *s = &S;
	uint8_t *blob = malloc(CHAN_MOVE_MAX), *bad = malloc(CHAN_MOVE_MAX);
	char err[4096];
	size_t len;
	long n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
	fake_policy_reset(CHAN_VERDICT_FENCED);
	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	append_records(t, recs, 0, 6);
	CU_ASSERT(wait_acked(&t->p, recs[5].seq + 1));
	n = chan__move_export(&t->b, blob, CHAN_MOVE_MAX);
	CU_ASSERT_FATAL(n > 232 + 8);
	len = (size_t)n;
	successor_init(t, s, WAIT_S);

#define EXPECT_BLOB_REFUSED(blen, want)                                        \
	do {                                                                   \
		capture_stderr();                                              \
		CU_ASSERT_EQUAL(chan__move_import(&s->c, bad, (blen)),         \
				-EINVAL);                                      \
		end_capture(err, sizeof(err));                                 \
		CU_ASSERT_PTR_NOT_NULL(strstr(err, (want)));                   \
		if (!strstr(err, (want)))                                      \
			fprintf(stderr, "\n  said \"%s\", want \"%s\"\n", err, \
				(want));                                       \
	} while (0)

	/* A flipped bit anywhere. */
	memcpy(bad, blob, len);
	bad[len / 2] ^= 0x10;
	EXPECT_BLOB_REFUSED(len, "crc: mismatch");
	/* Cut short, and shorter than its fixed part. */
	memcpy(bad, blob, len);
	EXPECT_BLOB_REFUSED(len - 8, "crc");
	EXPECT_BLOB_REFUSED(100, "fewer than its fixed");
	/* Another version. */
	memcpy(bad, blob, len);
	bad[8] = 2;
	blob_reseal(bad, len);
	EXPECT_BLOB_REFUSED(len, "version 2");
	/* A length field that does not add up. */
	memcpy(bad, blob, len);
	bad[96] += 8; /* q_len */
	blob_reseal(bad, len);
	EXPECT_BLOB_REFUSED(len, "length");
	/* R before the opening. */
	memcpy(bad, blob, len);
	memset(bad + 24, 0, 8);
	bad[24] = 1;
	blob_reseal(bad, len);
	EXPECT_BLOB_REFUSED(len, "next_seq 1");
	/* Another pair's header. */
	memcpy(bad, blob, len);
	bad[104 + 16] ^= 1; /* pair_id, then the header's own CRC fails */
	blob_reseal(bad, len);
	EXPECT_BLOB_REFUSED(len, "header:");
	/* A queued record damaged (its own CRC), the blob resealed. */
	memcpy(bad, blob, len);
	bad[len - 8 - 16] ^= 1;
	blob_reseal(bad, len);
	EXPECT_BLOB_REFUSED(len, "queued record");
#undef EXPECT_BLOB_REFUSED
	/* The good one, after all that, is taken. */
	CU_ASSERT_EQUAL(chan__move_import(&s->c, blob, len), 0);
	chan__move_abort(&t->b);
	successor_dispose(s);
	pair_dispose(t);
	free(blob);
	free(bad);
}

/*
 * A connection to the successor at @port sending @bytes: its answer, a
 * refusal, and why (into @why).
 */
static bool successor_refuses(int port, const void *bytes, size_t len,
			      char *why, size_t why_cap)
{
	static uint8_t ans[4096];
	struct logfmt_record hello;
	struct logfmt_error e;
	size_t n;
	int fd = raw_connect(port);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write_all(fd, bytes, len));
	shutdown(fd, SHUT_WR);
	n = read_to_eof(fd, ans, sizeof(ans));
	close(fd);
	if (!n || logfmt__decode_record(ans, n, &hello, &e) != (long)n ||
	    hello.type != LOGFMT_HELLO || !hello.u.hello.refused)
		return false;
	snprintf(why, why_cap, "%.*s", (int)hello.u.hello.reason_len,
		 hello.u.hello.reason ? hello.u.hello.reason : "");
	return true;
}

/*
 * The successor takes only the primary resuming its stream at R: a
 * resumption at another record, or a primary that does not resume, is
 * refused and it waits on; then the real one resumes.
 */
static void test_move_resume_refused(void)
{
	static struct logfmt_record recs[4];
	struct logfmt_record boot = boot_record(), resume, hello;
	struct pair *t = &T;
	struct successor *s = &S;
	uint8_t *blob = malloc(CHAN_MOVE_MAX), opening[4096];
	char why[512];
	size_t len = LOGFMT_HEADER_SIZE;
	uint64_t r_seq;
	long n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
	fake_policy_reset(CHAN_VERDICT_FENCED);
	plaintext = true; /* this test plays a primary in raw bytes */
	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	append_records(t, recs, 0, 3);
	CU_ASSERT(wait_acked(&t->p, recs[2].seq + 1));
	n = chan__move_export(&t->b, blob, CHAN_MOVE_MAX);
	CU_ASSERT_FATAL(n > 0);
	pthread_mutex_lock(&t->b.lock);
	r_seq = t->b.bak->order.next_seq;
	pthread_mutex_unlock(&t->b.lock);
	successor_init(t, s, WAIT_S);
	CU_ASSERT_EQUAL_FATAL(chan__move_import(&s->c, blob, (size_t)n), 0);
	successor_start(s);

	/* The primary's own opening, resuming one record late. */
	logfmt__encode_header(&header, opening);
	boot.seq = 0;
	len += (size_t)logfmt__encode_record(&boot, opening + len, 2048);
	resume = (struct logfmt_record){ .type = LOGFMT_RESUME, .seq = 1 };
	resume.u.resume.first_seq = r_seq + 1;
	len += (size_t)logfmt__encode_record(&resume, opening + len, 64);
	chan_hello(&t->p, &hello, NULL);
	hello.seq = 2;
	len += (size_t)logfmt__encode_record(&hello, opening + len, 1024);
	CU_ASSERT(successor_refuses(s->port, opening, len, why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "resumes at record"));
	/* A primary that does not resume at all. */
	len = LOGFMT_HEADER_SIZE;
	len += (size_t)logfmt__encode_record(&boot, opening + len, 2048);
	hello.seq = 1;
	len += (size_t)logfmt__encode_record(&hello, opening + len, 1024);
	CU_ASSERT(successor_refuses(s->port, opening, len, why, sizeof(why)));
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "not RESUME"));
	/* Still waiting: the real primary resumes. */
	CU_ASSERT_EQUAL(s->rc, -2);
	CU_ASSERT_EQUAL(chan__move_commit(&t->b, s->addr), 0);
	successor_join(s);
	CU_ASSERT_EQUAL(s->rc, 0);
	CU_ASSERT(wait_state(&t->p, CHAN_PAIRED));
	append_records(t, recs, 3, 1);
	CU_ASSERT(next_are(&s->c, t->buf, recs, 0, 4));
	CU_ASSERT_EQUAL(fake_policy_decides(), 0);
	successor_dispose(s);
	pair_dispose(t);
	free(blob);
}

/*
 * The primary never resumes (it died): the successor, after its connect
 * timeout, asks the policy as for a failed primary; granted, it replays
 * the imported records and goes live.
 */
static void test_move_primary_never_comes(void)
{
	static struct logfmt_record recs[5];
	struct logfmt_record got;
	struct pair *t = &T;
	struct successor *s = &S;
	uint8_t *blob = malloc(CHAN_MOVE_MAX);
	long n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
	fake_policy_reset(CHAN_VERDICT_ALONE);
	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	append_records(t, recs, 0, 5);
	CU_ASSERT(wait_acked(&t->p, recs[4].seq + 1));
	n = chan__move_export(&t->b, blob, CHAN_MOVE_MAX);
	CU_ASSERT_FATAL(n > 0);
	successor_init(t, s, 1);
	CU_ASSERT_EQUAL_FATAL(chan__move_import(&s->c, blob, (size_t)n), 0);
	CU_ASSERT_EQUAL(chan__accept_resume(&s->c), 1);
	CU_ASSERT_EQUAL(chan__state(&s->c), CHAN_ALONE);
	pthread_mutex_lock(&fake_pol.lock);
	CU_ASSERT_STRING_EQUAL(fake_pol.asked_by, SUCCESSOR_NODE);
	pthread_mutex_unlock(&fake_pol.lock);
	CU_ASSERT(next_are(&s->c, t->buf, recs, 0, 5));
	CU_ASSERT_EQUAL(next_on(&s->c, t->buf, 5, &got), CHAN_NEXT_LIVE);
	chan__move_abort(&t->b);
	successor_dispose(s);
	pair_dispose(t);
	free(blob);
}

/*
 * The export's freeze lasts as long as the domain's copy, far past
 * --timeout-ms: the primary, told by MOVE that the backup moves, does
 * not take it for stalled (records sent and never acked) meanwhile.
 */
static void test_move_freeze_outlasts_timeout(void)
{
	static struct logfmt_record recs[6];
	struct pair *t = &T;
	uint8_t *blob = malloc(CHAN_MOVE_MAX);

	CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
	fake_policy_reset(CHAN_VERDICT_FENCED);
	pair_up(t, ARB_GRANTS, MOVE_TIMEOUT_MS);
	append_records(t, recs, 0, 3);
	CU_ASSERT(wait_acked(&t->p, recs[2].seq + 1));
	CU_ASSERT(chan__move_export(&t->b, blob, CHAN_MOVE_MAX) > 0);
	append_records(t, recs, 3, 3);
	/* Four timeouts, within the grace (max(2 s, 10 timeouts)). */
	usleep(4 * MOVE_TIMEOUT_MS * 1000);
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_PAIRED);
	CU_ASSERT_EQUAL(fake_policy_decides(), 0);
	chan__move_abort(&t->b);
	CU_ASSERT(next_are(&t->b, t->buf, recs, 0, 6));
	CU_ASSERT(wait_acked(&t->p, recs[5].seq + 1));
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_PAIRED);
	pair_dispose(t);
	free(blob);
}

/*
 * The move is called off before its commit: the backup goes on, and
 * takes the records sent while it was frozen; nothing lost, nothing
 * twice, output released.
 */
static void test_move_abort(void)
{
	enum { N1 = 8, N2 = 8, N3 = 4 };
	static struct logfmt_record recs[N1 + N2 + N3];
	struct pair *t = &T;
	uint8_t *blob = malloc(CHAN_MOVE_MAX);

	CU_ASSERT_PTR_NOT_NULL_FATAL(blob);
	fake_policy_reset(CHAN_VERDICT_FENCED);
	pair_up(t, ARB_GRANTS, TIMEOUT_MS);
	append_records(t, recs, 0, N1);
	CU_ASSERT(wait_acked(&t->p, recs[N1 - 1].seq + 1));
	CU_ASSERT(next_are(&t->b, t->buf, recs, 0, 2));
	CU_ASSERT(chan__move_export(&t->b, blob, CHAN_MOVE_MAX) > 0);
	append_records(t, recs, N1, N2);
	chan__output(&t->p, "held", 4);
	CU_ASSERT(output_quiet(t->p_out[0], QUIET_MS));
	/* Frozen: the vCPU gets nothing. */
	CU_ASSERT_EQUAL(chan__next(&t->b, recs[2].ordinal, t->buf,
				   LOGFMT_MAX_RECORD, &recs[N1 + N2], 10),
			CHAN_NEXT_WAIT);
	CU_ASSERT_EQUAL(chan__move_commit(&t->b, ""), -EINVAL);
	chan__move_abort(&t->b);
	CU_ASSERT_EQUAL(chan__state(&t->b), CHAN_PAIRED);
	CU_ASSERT_EQUAL(chan__move_commit(&t->b, "127.0.0.1:1"), -EINVAL);
	append_records(t, recs, N1 + N2, N3);
	CU_ASSERT(next_are(&t->b, t->buf, recs, 2, N1 + N2 + N3));
	CU_ASSERT(wait_acked(&t->p, recs[N1 + N2 + N3 - 1].seq + 1));
	CHECK_OUTPUT(t->p_out[0], "held");
	CU_ASSERT_EQUAL(chan__state(&t->p), CHAN_PAIRED);
	CU_ASSERT_EQUAL(fake_policy_decides(), 0);
	pair_dispose(t);
	free(blob);
}

static void test_nothing_left_behind(void)
{
	CU_ASSERT_EQUAL(count_entries("/proc/self/fd"), fds_at_start);
	CU_ASSERT_EQUAL(count_entries("/proc/self/task"), threads_at_start);
}

/* A channel with nobody to ask when its peer fails is refused up front. */
static void test_init_needs_policy(void)
{
	static struct chan c;
	struct chan_config cfg = { .role = LOGFMT_ROLE_PRIMARY };
	struct chan_policy half = { .name = fake_name };

	CU_ASSERT_EQUAL(chan__init(&c, &cfg), -EINVAL);
	cfg.policy = &half; /* no decide */
	CU_ASSERT_EQUAL(chan__init(&c, &cfg), -EINVAL);
	cfg.policy = &fake_policy_ops;
	CU_ASSERT_EQUAL(chan__init(&c, &cfg), 0);
	chan__dispose(&c);
}

static CU_TestInfo chan_tests[] = {
	{ "a channel needs a pair policy", test_init_needs_policy },
	{ "handshake: node ids, header and BOOT", test_handshake },
	{ "handshake refused by the backup, and why", test_refused },
	{ "a refusal is cut to what HELLO holds", test_refused_long_reason },
	{ "not a primary of this pair: refused, then a primary pairs",
	  test_not_a_primary_then_primary },
	{ "records arrive in order, decoded", test_records_in_order },
	{ "next: WAIT until PROGRESS says the exit is over, then NONE",
	  test_next_none_and_wait },
	{ "output waits for the records before it", test_output_rule },
	{ "replayed output: RELEASED trims, the tail is emitted",
	  test_replayed_output_tail },
	{ "the end: END, finish, both CLOSED", test_end },
	{ "the end with records not yet replayed", test_end_before_replay },
	{ "the end without END's output released is a failure",
	  test_end_output_not_covered },
	{ "backup gone, arbiter grants: primary alone, output out",
	  test_primary_alone },
	{ "alone: chan__finish waits until all output is written",
	  test_alone_finish_waits_for_output },
	{ "backup gone, arbiter denies: primary fenced, nothing out",
	  test_primary_fenced },
	{ "backup gone, arbiter unreachable: never alone",
	  test_arbiter_unreachable },
	{ "a silent backup is a failed one", test_silent_backup },
	{ "primary gone: the backup replays, then goes live",
	  test_backup_goes_live },
	{ "promote: HANDOVER once all is acked and out, the backup takes over",
	  test_handover },
	{ "promote: no handover without a backup", test_handover_alone },
	{ "a backup breaking the stream is a failed one",
	  test_backup_breaks_stream },
	{ "an unknown optional record from the backup is skipped",
	  test_backup_optional_record },
	{ "a backup with the primary's node id is refused",
	  test_backup_same_node },
	{ "a backup acknowledging records not yet sent is a failed one",
	  test_backup_acks_unsent },
	{ "many records through every buffer", test_many_records },
	{ "policy ALONE: the primary goes on alone", test_policy_alone },
	{ "policy FENCED: the primary halts, nothing out", test_policy_fenced },
	{ "policy RETRY: asked again, never alone until it says so",
	  test_policy_retry },
	{ "policy check_owner: an owned pair does not pair",
	  test_policy_owned },
	{ "transport: plaintext ops over TCP", test_transport_plaintext },
	{ "transport: TLS ops, and a wrong key", test_transport_tls },
	{ "move: the backup moves mid-stream, nothing lost or doubled",
	  test_move },
	{ "move: nobody at the new address, the primary asks the policy",
	  test_move_unanswered },
	{ "move: a damaged or doctored state is refused",
	  test_move_import_refused },
	{ "move: the successor refuses a wrong resumption, then resumes",
	  test_move_resume_refused },
	{ "move: the primary never resumes, the successor asks the policy",
	  test_move_primary_never_comes },
	{ "move: called off, the backup goes on, nothing lost",
	  test_move_abort },
	{ "move: a freeze past the timeout is no stalled backup",
	  test_move_freeze_outlasts_timeout },
	{ "no fd or thread left behind", test_nothing_left_behind },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo chan_suites[] = {
	{ "chan", suite_init, NULL, NULL, NULL, chan_tests },
	CU_SUITE_INFO_NULL,
};

void test_chan__register(void)
{
	CU_register_suites(chan_suites);
}
