// SPDX-License-Identifier: MIT
/*
 * pvft-arbiter-probe: the arbiter suite's client (tests/arbiter/run.sh
 * builds it from this file against build/). It asks through the real
 * client library with credentials `pvft arbiter` does not take, and
 * speaks the line protocol by hand, with or without a pair's key, the way
 * well-behaved and hostile clients do:
 *
 *   derive DOMAIN_KEY PAIR OUT       write pair PAIR's arbiter key to OUT
 *   ask [AUTH] acquire|advance|query URL PAIR EPOCH [NODE]
 *                                    as `pvft arbiter`: prints the answer,
 *                                    exit 0 granted/advanced/owned/opened/
 *                                    free (query), 1 denied or free
 *                                    (advance), 3 unreachable (why on
 *                                    stderr)
 *   lines [CONN] HOST:PORT LINE...   send the lines (one write each), then
 *                                    read one reply per line without
 *                                    closing; prints the replies; exit 3
 *                                    if the connection ends first
 *   raw [CONN] HOST:PORT LINE...     plaintext lines, then everything
 *                                    until the arbiter closes: prints
 *                                    "bytes N" and any text it sent
 *   stream [CONN] --state-dir DIR --count N HOST:PORT PAIR EPOCH
 *                                    pipelined ACQUIREs (see stream())
 *   slow [CONN] --conns N --every-ms MS HOST:PORT
 *                                    N connections that each send a byte
 *                                    every MS; exit 0 once the arbiter
 *                                    closed them all
 *   hold [CONN] --conns N HOST:PORT  N connections (with a key: past the
 *                                    handshake), "held N" on stdout, kept
 *                                    until the probe is killed
 * AUTH: --key FILE (the domain key), --insecure, --ca/--cert/--cert-key
 * FILE, --user U --password-file FILE, --timeout-ms MS. CONN: --key FILE
 * --pair N (speak TLS as pair N), --bind ADDR (the source address; with
 * --sources N, N addresses from ADDR on, in turn).
 *
 * Every wait is bounded by a hang guard (HANG_GUARD_S): a test that
 * hangs fails, it is no threshold on how fast anything is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arbiter.h"
#include "proto.h"
#include "clock.h"
#include "tls.h"

#define HANG_GUARD_S 30
#define CONNS_MAX 256
#define EXIT_UNREACHABLE 3

struct opts {
	const char *key_file, *ca, *cert, *cert_key, *user, *password_file;
	const char *bind, *state_dir;
	bool insecure, have_pair;
	uint64_t pair;
	unsigned timeout_ms, conns, every_ms, count, sources;
};

static uint64_t guard_ns(void)
{
	return clock__mono_ns() + HANG_GUARD_S * 1000000000ull;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("probe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t number(const char *what, const char *s)
{
	uint64_t v;

	if (proto__parse_u64(s, strlen(s), &v))
		fail("bad %s '%s'", what, s);
	return v;
}

static void load_key(const char *path, uint8_t key[TLS_KEY_LEN])
{
	char why[512];

	if (tls__load_key(path, key, why, sizeof(why)))
		fail("%s", why);
}

/*
 * A connected socket to HOST:PORT (numeric), from --bind if given: the
 * @i-th address from it when --sources spreads connections over several.
 */
static int dial_from(const struct opts *o, const char *hostport, unsigned i)
{
	char host[PROTO_HOST_MAX + 1], port[6], why[256];
	struct sockaddr_in sa = { .sin_family = AF_INET }, src = sa;
	int fd, one = 1;

	if (proto__parse_hostport(hostport, strlen(hostport), host, port, false,
				  why, sizeof(why)) ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		fail("bad HOST:PORT '%s' %s", hostport, why);
	sa.sin_port = htons((uint16_t)atoi(port));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->bind) {
		if (inet_pton(AF_INET, o->bind, &src.sin_addr) != 1)
			fail("bad --bind '%s'", o->bind);
		if (o->sources)
			src.sin_addr.s_addr =
			    htonl(ntohl(src.sin_addr.s_addr) + i % o->sources);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)))
			fail("bind %s: %s", o->bind, strerror(errno));
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		fail("connect %s: %s", hostport, strerror(errno));
	return fd;
}

static int dial(const struct opts *o, const char *hostport)
{
	return dial_from(o, hostport, 0);
}

/*
 * A connection as CONN says: TLS as pair --pair with its key derived from
 * --key, or plaintext. NULL with *@why when the handshake fails.
 */
static struct tls_conn *open_conn(const struct opts *o, int fd, char *why,
				  size_t why_len)
{
	char identity[TLS_IDENTITY_MAX + 1];
	uint8_t dk[TLS_KEY_LEN], key[TLS_KEY_LEN];
	struct tls_creds *creds = NULL;
	struct tls_conn *conn;

	if (o->key_file) {
		if (!o->have_pair)
			fail("--key here needs --pair");
		load_key(o->key_file, dk);
		tls__arbiter_key(dk, o->pair, key, identity, sizeof(identity));
		if (tls__creds_psk(&creds, TLS_CLIENT, identity, key, why,
				   why_len))
			fail("%s", why);
	}
	/* The creds stay allocated for the connection's life: a test tool. */
	if (tls__conn_new(&conn, creds, fd))
		fail("out of memory");
	if (tls__handshake_until(conn, guard_ns(), why, why_len)) {
		tls__conn_free(conn);
		return NULL;
	}
	return conn;
}

static void send_line(struct tls_conn *conn, const char *line)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s\n", line);

	if (n >= (int)sizeof(buf) ||
	    tls__send_all(conn, buf, (size_t)n, guard_ns()))
		fail("cannot send '%s'", line);
}

/* Wait for a reply byte or decrypted bytes: 0, or -ETIMEDOUT. */
static int wait_in(struct tls_conn *conn, int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (tls__pending(conn))
		return 0;
	return poll(&pfd, 1, ms) == 1 ? 0 : -ETIMEDOUT;
}

/*
 * Read reply lines into @buf (@size bytes) until it holds @n newlines:
 * the number it holds, fewer if the connection ended or the hang guard
 * passed. @block: wait for them; else take only what is there now.
 */
static int read_replies(struct tls_conn *conn, int fd, char *buf, size_t size,
			size_t *len, int n, bool block)
{
	uint64_t end = guard_ns();
	int have = 0;
	ssize_t r;
	size_t i;

	for (i = 0; i < *len; i++)
		have += buf[i] == '\n';
	while (have < n && *len < size) {
		if (wait_in(conn, fd, block ? 100 : 0)) {
			if (!block || clock__mono_ns() > end)
				break;
			continue;
		}
		r = tls__recv(conn, buf + *len, size - *len);
		if (r == -EAGAIN)
			continue;
		if (r <= 0)
			break;
		for (i = *len; i < *len + (size_t)r; i++)
			have += buf[i] == '\n';
		*len += (size_t)r;
	}
	return have;
}

/* ---- the commands ---- */

static int cmd_derive(int argc, char **argv)
{
	char identity[TLS_IDENTITY_MAX + 1], why[512];
	uint8_t dk[TLS_KEY_LEN], key[TLS_KEY_LEN];

	if (argc != 3)
		fail("derive DOMAIN_KEY PAIR OUT");
	load_key(argv[0], dk);
	tls__arbiter_key(dk, number("PAIR", argv[1]), key, identity,
			 sizeof(identity));
	if (tls__write_key(argv[2], key, true, why, sizeof(why)))
		fail("%s", why);
	return 0;
}

static char *read_password(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");

	if (!f || !fgets(buf, sizeof(buf), f))
		fail("cannot read the password in %s", path);
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static int cmd_ask(const struct opts *o, int argc, char **argv)
{
	char owner[ARBITER_NODE_MAX + 1], why[2048];
	struct arbiter_auth auth = {
		.insecure = o->insecure,
		.ca = o->ca,
		.cert = o->cert,
		.key = o->cert_key,
		.user = o->user,
	};
	uint8_t dk[TLS_KEY_LEN];
	enum arbiter_answer ans;
	struct arbiter *a;
	bool acquire, advance;

	acquire = argc > 0 && !strcmp(argv[0], "acquire");
	advance = argc > 0 && !strcmp(argv[0], "advance");
	if (argc < 4 || argc != (acquire || advance ? 5 : 4))
		fail("ask [AUTH] acquire|advance|query URL PAIR EPOCH [NODE]");
	if (o->key_file) {
		load_key(o->key_file, dk);
		auth.domain_key = dk;
	}
	if (o->password_file)
		auth.password = read_password(o->password_file);
	if (arbiter__open(&a, argv[1], &auth, why, sizeof(why))) {
		fprintf(stderr, "probe: %s\n", why);
		return 2;
	}
	if (acquire)
		ans = arbiter__acquire(a, number("PAIR", argv[2]),
				       number("EPOCH", argv[3]), argv[4],
				       o->timeout_ms, owner, why, sizeof(why));
	else if (advance)
		ans = arbiter__advance(a, number("PAIR", argv[2]),
				       number("EPOCH", argv[3]), argv[4],
				       o->timeout_ms, owner, why, sizeof(why));
	else
		ans = arbiter__query(a, number("PAIR", argv[2]),
				     number("EPOCH", argv[3]), o->timeout_ms,
				     owner, why, sizeof(why));
	arbiter__close(a);
	switch (ans) {
	case ARBITER_GRANTED:
		printf(advance	 ? "advanced by %s\n"
		       : acquire ? "granted to %s\n"
				 : "owned by %s\n",
		       owner);
		return 0;
	case ARBITER_DENIED:
		printf(advance ? "denied: %s\n" : "denied: owned by %s\n",
		       owner);
		return 1;
	case ARBITER_FREE:
		printf("free\n");
		return advance ? 1 : 0;
	case ARBITER_OPENED:
		printf("opened by %s\n", owner);
		return 0;
	case ARBITER_UNREACHABLE:
		break;
	}
	fprintf(stderr, "probe: unreachable: %s\n", why);
	return EXIT_UNREACHABLE;
}

static int cmd_lines(const struct opts *o, int argc, char **argv)
{
	char buf[64 << 10], why[256];
	struct tls_conn *conn;
	size_t len = 0;
	int fd, i, got;

	if (argc < 2)
		fail("lines [CONN] HOST:PORT LINE...");
	fd = dial(o, argv[0]);
	conn = open_conn(o, fd, why, sizeof(why));
	if (!conn) {
		fprintf(stderr, "probe: no handshake: %s\n", why);
		return EXIT_UNREACHABLE;
	}
	/* One write each: the second goes while the first is served. */
	for (i = 1; i < argc; i++)
		send_line(conn, argv[i]);
	got = read_replies(conn, fd, buf, sizeof(buf), &len, argc - 1, true);
	fwrite(buf, 1, len, stdout);
	if (got < argc - 1) {
		fprintf(stderr,
			"probe: %d replies of %d before the "
			"connection ended or the hang guard\n",
			got, argc - 1);
		return EXIT_UNREACHABLE;
	}
	return 0;
}

static int cmd_raw(const struct opts *o, int argc, char **argv)
{
	struct pollfd pfd = { .events = POLLIN };
	uint64_t end = guard_ns();
	char buf[64 << 10];
	size_t total = 0, i;
	bool closed = false;
	ssize_t n;
	int k;

	if (argc < 1)
		fail("raw [CONN] HOST:PORT LINE...");
	pfd.fd = dial(o, argv[0]);
	for (k = 1; k < argc; k++)
		if (dprintf(pfd.fd, "%s\n", argv[k]) < 0)
			break;
	while (!closed && total < sizeof(buf) && clock__mono_ns() < end) {
		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = recv(pfd.fd, buf + total, sizeof(buf) - total, 0);
		if (n <= 0)
			closed = true;
		else
			total += (size_t)n;
	}
	/* What it sent, as text where it is text. */
	for (i = 0; i < total; i++)
		putchar(buf[i] == '\n' || (buf[i] >= 0x20 && buf[i] < 0x7f)
			    ? buf[i]
			    : '.');
	if (total && buf[total - 1] != '\n')
		putchar('\n');
	printf("bytes %zu, %s\n", total,
	       closed ? "closed" : "still open at the hang guard");
	return closed ? 0 : EXIT_UNREACHABLE;
}

/*
 * Pipelined ACQUIREs of pair PAIR, epochs EPOCH+1 .. EPOCH+N, each of
 * which the arbiter must fsync: lines 1 and 2 at once, then line k+2 as
 * soon as the state file of line k shows the arbiter serving it, so the
 * client never stops sending while the arbiter works. When the file of
 * line k appears, the arbiter has long answered line k-2 (it sends each
 * reply before it reads on): that reply must already be here. The old
 * arbiter read on until its input ran dry and answered nothing until this
 * client stopped. Prints "late N" (replies not here in time) and checks
 * every reply; exit 0 only if none was late and all were GRANTED.
 */
static int cmd_stream(const struct opts *o, int argc, char **argv)
{
	char buf[64 << 10], line[128], path[4096], why[256];
	uint64_t pair, epoch, end = guard_ns();
	unsigned k, n = o->count, late = 0;
	struct tls_conn *conn;
	struct stat st;
	size_t len = 0;
	int fd, got, i;
	char *p;

	if (argc != 3 || !o->state_dir || n < 3)
		fail("stream [CONN] --state-dir DIR --count N>=3 HOST:PORT "
		     "PAIR EPOCH");
	pair = number("PAIR", argv[1]);
	epoch = number("EPOCH", argv[2]);
	fd = dial(o, argv[0]);
	conn = open_conn(o, fd, why, sizeof(why));
	if (!conn) {
		fprintf(stderr, "probe: no handshake: %s\n", why);
		return EXIT_UNREACHABLE;
	}
	for (k = 1; k <= 2; k++) {
		snprintf(line, sizeof(line),
			 "ACQUIRE %" PRIu64 " %" PRIu64 " streamer", pair,
			 epoch + k);
		send_line(conn, line);
	}
	for (k = 1; k <= n; k++) {
		snprintf(path, sizeof(path), "%s/%" PRIu64 "-%" PRIu64,
			 o->state_dir, pair, epoch + k);
		while (stat(path, &st)) {
			if (clock__mono_ns() > end)
				fail("no state file %s by the hang guard",
				     path);
			usleep(100);
		}
		got = read_replies(conn, fd, buf, sizeof(buf), &len, (int)n,
				   false);
		if (k >= 3 && got < (int)k - 2) {
			fprintf(stderr,
				"probe: line %u being served, %d "
				"replies here, want %u\n",
				k, got, k - 2);
			late++;
		}
		if (k + 2 <= n) {
			snprintf(line, sizeof(line),
				 "ACQUIRE %" PRIu64 " %" PRIu64 " streamer",
				 pair, epoch + k + 2);
			send_line(conn, line);
		}
	}
	got = read_replies(conn, fd, buf, sizeof(buf), &len, (int)n, true);
	printf("late %u\n", late);
	for (i = 0, p = buf; i < got; i++, p = strchr(p, '\n') + 1)
		if (strncmp(p, "GRANTED streamer\n", 17)) {
			fprintf(stderr, "probe: reply %d is not GRANTED\n",
				i + 1);
			return 1;
		}
	if (got < (int)n) {
		fprintf(stderr, "probe: %d replies of %u\n", got, n);
		return 1;
	}
	return late ? 1 : 0;
}

/*
 * Slow clients: each sends one byte every --every-ms, forever (with a
 * key: after its handshake, the bytes of a request line; without: a TLS
 * record header that promises 512 bytes, then the bytes, one by one, or
 * with --insecure a request line). Done when the arbiter closed them all.
 */
static int cmd_slow(const struct opts *o, int argc, char **argv)
{
	static const char tls_hdr[] = "\x16\x03\x01\x02\x00";
	static const char line[] = "QUERY 1 1\n";
	struct pollfd pfd[CONNS_MAX];
	struct tls_conn *conn[CONNS_MAX] = { 0 };
	size_t sent[CONNS_MAX] = { 0 };
	uint64_t end = guard_ns();
	unsigned i, open, n = o->conns;
	char why[256], c;

	if (argc != 1 || !n || n > CONNS_MAX || !o->every_ms)
		fail("slow [CONN] --conns N --every-ms MS HOST:PORT");
	for (i = 0; i < n; i++) {
		pfd[i] = (struct pollfd){ .fd = dial_from(o, argv[0], i),
					  .events = POLLIN };
		if (o->key_file) {
			conn[i] = open_conn(o, pfd[i].fd, why, sizeof(why));
			if (!conn[i])
				fail("no handshake: %s", why);
		}
	}
	printf("opened %u\n", n);
	fflush(stdout);
	for (open = n; open && clock__mono_ns() < end;) {
		for (i = 0; i < n; i++) {
			if (pfd[i].fd < 0)
				continue;
			/* The arbiter closed it (or said something). */
			if (poll(&pfd[i], 1, 0) == 1) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open--;
				continue;
			}
			if (conn[i]) {
				c = line[sent[i] % (sizeof(line) - 2)];
				tls__send_all(conn[i], &c, 1, end);
			} else if (o->insecure) {
				c = line[sent[i] % (sizeof(line) - 2)];
				(void)!send(pfd[i].fd, &c, 1, MSG_NOSIGNAL);
			} else {
				c = sent[i] < 5 ? tls_hdr[sent[i]] : 0;
				(void)!send(pfd[i].fd, &c, 1, MSG_NOSIGNAL);
			}
			sent[i]++;
		}
		if (open)
			usleep(o->every_ms * 1000);
	}
	printf("closed by the arbiter: %u of %u\n", n - open, n);
	return open ? EXIT_UNREACHABLE : 0;
}

static void cmd_hold(const struct opts *o, int argc, char **argv)
    __attribute__((noreturn));

static void cmd_hold(const struct opts *o, int argc, char **argv)
{
	char why[256];
	unsigned i;
	int fd;

	if (argc != 1 || !o->conns || o->conns > CONNS_MAX)
		fail("hold [CONN] --conns N HOST:PORT");
	for (i = 0; i < o->conns; i++) {
		fd = dial_from(o, argv[0], i);
		if (o->key_file && !open_conn(o, fd, why, sizeof(why)))
			fail("connection %u: no handshake: %s", i + 1, why);
	}
	printf("held %u\n", o->conns);
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	enum {
		O_INSECURE = 256,
		O_CA,
		O_CERT,
		O_CERT_KEY,
		O_USER,
		O_PASSWORD_FILE,
		O_TIMEOUT,
		O_PAIR,
		O_BIND,
		O_CONNS,
		O_EVERY,
		O_STATE,
		O_COUNT,
		O_SOURCES,
	};
	static const struct option lopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "insecure", no_argument, NULL, O_INSECURE },
		{ "ca", required_argument, NULL, O_CA },
		{ "cert", required_argument, NULL, O_CERT },
		{ "cert-key", required_argument, NULL, O_CERT_KEY },
		{ "user", required_argument, NULL, O_USER },
		{ "password-file", required_argument, NULL, O_PASSWORD_FILE },
		{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
		{ "pair", required_argument, NULL, O_PAIR },
		{ "bind", required_argument, NULL, O_BIND },
		{ "conns", required_argument, NULL, O_CONNS },
		{ "every-ms", required_argument, NULL, O_EVERY },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "count", required_argument, NULL, O_COUNT },
		{ "sources", required_argument, NULL, O_SOURCES },
		{ 0 },
	};
	struct opts o = { .timeout_ms = 2000 };
	const char *cmd;
	int c;

	if (argc < 2)
		fail("derive|ask|lines|raw|stream|slow|hold ...");
	cmd = argv[1];
	optind = 2;
	if (!strcmp(cmd, "derive"))
		return cmd_derive(argc - 2, argv + 2);
	while ((c = getopt_long(argc, argv, "+k:", lopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o.key_file = optarg;
			break;
		case O_INSECURE:
			o.insecure = true;
			break;
		case O_CA:
			o.ca = optarg;
			break;
		case O_CERT:
			o.cert = optarg;
			break;
		case O_CERT_KEY:
			o.cert_key = optarg;
			break;
		case O_USER:
			o.user = optarg;
			break;
		case O_PASSWORD_FILE:
			o.password_file = optarg;
			break;
		case O_TIMEOUT:
			o.timeout_ms = (unsigned)number("--timeout-ms", optarg);
			break;
		case O_PAIR:
			o.pair = number("--pair", optarg);
			o.have_pair = true;
			break;
		case O_BIND:
			o.bind = optarg;
			break;
		case O_CONNS:
			o.conns = (unsigned)number("--conns", optarg);
			break;
		case O_EVERY:
			o.every_ms = (unsigned)number("--every-ms", optarg);
			break;
		case O_STATE:
			o.state_dir = optarg;
			break;
		case O_COUNT:
			o.count = (unsigned)number("--count", optarg);
			break;
		case O_SOURCES:
			o.sources = (unsigned)number("--sources", optarg);
			break;
		default:
			fail("bad option");
		}
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(cmd, "ask"))
		return cmd_ask(&o, argc, argv);
	if (!strcmp(cmd, "lines"))
		return cmd_lines(&o, argc, argv);
	if (!strcmp(cmd, "raw"))
		return cmd_raw(&o, argc, argv);
	if (!strcmp(cmd, "stream"))
		return cmd_stream(&o, argc, argv);
	if (!strcmp(cmd, "slow"))
		return cmd_slow(&o, argc, argv);
	if (!strcmp(cmd, "hold"))
		cmd_hold(&o, argc, argv);
	fail("unknown command '%s'", cmd);
}
