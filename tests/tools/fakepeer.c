// SPDX-License-Identifier: MIT
/*
 * pvft-fakepeer: a hostile or broken peer of a pair's log channel, for
 * the security tests (tests/security/run.sh). One of four modes:
 *
 *   primary  --connect HOST:PORT  (--key FILE [--wrong-key] | --insecure)
 *            [--pair N] [--epoch N] [--image ELF | --garbage-hash]
 *            [--memory MIB] [--cpuid-hash HEX] [--cmdline S] [--node ID]
 *            [--forge] [--dump FILE]
 *     Poses as a primary: TLS (or plaintext), the stream header, BOOT and
 *     HELLO; with --forge, once accepted, a forged RANDOM and NET_RX and a
 *     HANDOVER. Prints what it read back: "read N bytes", "hello: none",
 *     "hello: accepted by NODE" or "hello: refused by NODE: REASON".
 *     --wrong-key: the identity of --key's channel key, another secret.
 *     --dump: every byte read from the socket, raw.
 *     Exit: 2 refused at the handshake (or closed with no HELLO), 3
 *     accepted, 4 refused with a reason.
 *   idle     --connect HOST:PORT [--count N] [--one-byte] [--hold S]
 *            [--bind ADDR] [--reopen]
 *     Opens N connections (from source address ADDR), sends nothing (or
 *     one byte each), holds them; --reopen: one the peer closes is opened
 *     again at once. Prints "opened N", then "reopened M" at the end.
 *   backup   --listen HOST:PORT --key FILE --ack noack|noreplay [--hold S]
 *     Accepts one primary, answers HELLO accepted, reads every record and
 *     every 10 ms sends ACK: noack {2, 2} (nothing acknowledged past the
 *     opening), noreplay {received, 2} (nothing replayed). Ends at the
 *     primary's close or after S s.
 *   relay    --listen HOST:PORT --connect HOST:PORT --capture FILE
 *     Joins each connection to one to --connect and appends every byte
 *     that passes, both ways, to FILE. Runs until killed or --hold S.
 *
 * A listening mode prints "listening on PORT" on stdout (port 0: any).
 * Exit 1: bad usage or a local failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xxhash.h>

#include "logfmt.h"
#include "tcp.h"
#include "clock.h"
#include "tls.h"

#define FP_EXIT_HANDSHAKE 2
#define FP_EXIT_ACCEPTED 3
#define FP_EXIT_REFUSED 4
#define FP_BUF (4u << 20)
#define FP_ANSWER_S 30 /* a backup builds its domain before it answers */

static struct {
	const char *mode, *connect, *listen, *key, *image, *cmdline, *node;
	const char *dump, *capture, *ack, *bind;
	bool wrong_key, insecure, garbage_hash, forge, one_byte, reopen;
	uint64_t pair, epoch, memory_mib, cpuid_hash;
	unsigned int count, hold_s;
} o = {
	.cmdline = "",
	.node = "fake",
	.pair = 1,
	.epoch = 1,
	.memory_mib = 64,
	.count = 1,
	.hold_s = 600,
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("fakepeer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t after_s(unsigned int s)
{
	return clock__mono_ns() + (uint64_t)s * 1000000000ull;
}

/* A connection to @addr, from --bind's address if given. */
static int connect_to(const char *addr)
{
	struct addrinfo *ai;
	char err[TCP_ERR_MAX];
	int fd;

	if (tcp__resolve(addr, false, &ai, err))
		die("%s", err);
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && o.bind) {
		struct addrinfo *src;
		char bind_to[128];

		snprintf(bind_to, sizeof(bind_to), "%s:0", o.bind);
		if (tcp__resolve(bind_to, true, &src, err))
			die("--bind: %s", err);
		if (bind(fd, src->ai_addr, src->ai_addrlen))
			die("--bind %s: %s", o.bind, strerror(errno));
		freeaddrinfo(src);
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen))
		die("connect %s: %s", addr, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

static int listen_on(const char *addr)
{
	char err[TCP_ERR_MAX];
	int fd = tcp__listen(addr, err);

	if (fd < 0)
		die("%s", err);
	printf("listening on %u\n", tcp__port(fd));
	fflush(stdout);
	return fd;
}

/* One connection from @lfd within @deadline, blocking; -1 at the deadline. */
static int accept_until(int lfd, uint64_t deadline)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	while (clock__mono_ns() < deadline) {
		if (poll(&p, 1, 100) > 0) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				return fd;
		}
	}
	return -1;
}

/* The channel's PSK credentials from --key, as hv/main.c pair_creds(). */
static struct tls_creds *channel_creds(enum tls_side side)
{
	uint8_t key[TLS_KEY_LEN], ck[TLS_KEY_LEN];
	char why[512], id[TLS_KEY_ID_LEN + 1], identity[64];
	struct tls_creds *creds;

	if (o.insecure)
		return NULL;
	if (!o.key)
		die("--key FILE or --insecure");
	if (tls__load_key(o.key, key, why, sizeof(why)))
		die("--key: %s", why);
	tls__derive(key, TLS_LABEL_CHANNEL, ck);
	tls__key_id(ck, id);
	snprintf(identity, sizeof(identity), "pvft-chan-%s", id);
	if (o.wrong_key)
		ck[0] ^= 0x5a; /* the right name, another secret */
	if (tls__creds_psk(&creds, side, identity, ck, why, sizeof(why)))
		die("credentials: %s", why);
	return creds;
}

static void send_record(struct tls_conn *t, struct logfmt_record *r)
{
	uint8_t buf[LOGFMT_HEAD_SIZE + 4096];
	long n = logfmt__encode_record(r, buf, sizeof(buf));

	if (n < 0)
		die("cannot encode a %s record", logfmt__type_name(r->type));
	if (tls__send_all(t, buf, (size_t)n, after_s(5)))
		fprintf(stderr, "fakepeer: the peer took no %s record\n",
			logfmt__type_name(r->type));
}

/* ---- primary ---------------------------------------------------------- */

static void make_header(struct logfmt_header *h)
{
	*h = (struct logfmt_header){
		.flags = LOGFMT_F_STREAM,
		.pair_id = o.pair,
		.epoch = o.epoch,
		.mem_size = o.memory_mib << 20,
		.abi_version = PVFT_ABI_VERSION,
		.cpuid_hash = o.cpuid_hash,
	};
	if (o.image && !o.garbage_hash) {
		FILE *f = fopen(o.image, "rb");
		static uint8_t img[64u << 20];
		size_t n;
		XXH128_hash_t hash;

		if (!f)
			die("--image %s: %s", o.image, strerror(errno));
		n = fread(img, 1, sizeof(img), f);
		fclose(f);
		hash = XXH3_128bits(img, n);
		XXH128_canonicalFromHash((XXH128_canonical_t *)h->image_hash,
					 hash);
	} else {
		memset(h->image_hash, 0xa5, sizeof(h->image_hash));
	}
}

/* Forged inputs for an accepted fake: what a thief of the pair would send. */
static void forge(struct tls_conn *t)
{
	static const uint8_t frame[64] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t bytes[16] = "forged-random!!";
	struct logfmt_record r = { .type = LOGFMT_RANDOM,
				   .seq = 2,
				   .ordinal = 1 };

	r.u.random =
	    (struct logfmt_random){ .len = sizeof(bytes), .bytes = bytes };
	send_record(t, &r);
	r = (struct logfmt_record){ .type = LOGFMT_NET_RX,
				    .seq = 3,
				    .ordinal = 2 };
	r.u.net_rx =
	    (struct logfmt_net_rx){ .len = sizeof(frame), .bytes = frame };
	send_record(t, &r);
	r = (struct logfmt_record){ .type = LOGFMT_HANDOVER,
				    .seq = 4,
				    .ordinal = 2 };
	send_record(t, &r);
}

static int run_primary(void)
{
	static uint8_t in[65536];
	struct tls_creds *creds = channel_creds(TLS_CLIENT);
	struct logfmt_record boot = { .type = LOGFMT_BOOT, .seq = 0 };
	struct logfmt_record hello = { .type = LOGFMT_HELLO, .seq = 1 };
	struct logfmt_header h;
	uint8_t out[LOGFMT_HEADER_SIZE + 4096];
	struct tls_conn *t;
	struct logfmt_error e;
	FILE *dump = NULL;
	size_t have = 0;
	long n;
	char why[512];
	int fd, rc;

	if (!o.connect)
		die("primary: --connect HOST:PORT");
	fd = connect_to(o.connect);
	if (o.dump && !(dump = fopen(o.dump, "wb")))
		die("--dump %s: %s", o.dump, strerror(errno));
	if (tls__conn_new(&t, creds, fd))
		die("out of memory");
	if (creds) {
		rc = tls__handshake_until(t, after_s(10), why, sizeof(why));
		if (rc) {
			printf("read 0 bytes\nhello: none\nhandshake refused: "
			       "%s\n",
			       why);
			return FP_EXIT_HANDSHAKE;
		}
	}
	make_header(&h);
	logfmt__encode_header(&h, out);
	boot.u.boot =
	    (struct logfmt_boot){ .cmdline = o.cmdline,
				  .cmdline_len = (uint32_t)strlen(o.cmdline) };
	hello.u.hello = (struct logfmt_hello){
		.role = LOGFMT_ROLE_PRIMARY,
		.node = o.node,
		.node_len = (uint32_t)strlen(o.node),
	};
	n = logfmt__encode_record(&boot, out + LOGFMT_HEADER_SIZE,
				  sizeof(out) - LOGFMT_HEADER_SIZE);
	if (n < 0)
		die("cannot encode BOOT");
	have = LOGFMT_HEADER_SIZE + (size_t)n;
	n = logfmt__encode_record(&hello, out + have, sizeof(out) - have);
	if (n < 0)
		die("cannot encode HELLO");
	have += (size_t)n;
	if (tls__send_all(t, out, have, after_s(5)))
		fprintf(stderr, "fakepeer: the backup took no opening\n");
	/* Whatever comes back, raw, until a whole record or the end. */
	have = 0;
	for (;;) {
		struct logfmt_record ans;

		rc = tls__recv_all(t, in + have, 1, after_s(FP_ANSWER_S));
		if (rc)
			break;
		if (dump)
			fwrite(in + have, 1, 1, dump);
		have++;
		n = logfmt__decode_record(in, have, &ans, &e);
		if (n == 0 && have < sizeof(in))
			continue;
		printf("read %zu bytes\n", have);
		if (n < 0 || ans.type != LOGFMT_HELLO) {
			printf("hello: none\nnot a HELLO: %s\n",
			       n < 0 ? e.msg : logfmt__type_name(ans.type));
			return FP_EXIT_HANDSHAKE;
		}
		if (ans.u.hello.refused) {
			printf("hello: refused by %.*s: %.*s\n",
			       (int)ans.u.hello.node_len, ans.u.hello.node,
			       (int)ans.u.hello.reason_len, ans.u.hello.reason);
			return FP_EXIT_REFUSED;
		}
		printf("hello: accepted by %.*s\n", (int)ans.u.hello.node_len,
		       ans.u.hello.node);
		if (o.forge)
			forge(t);
		return FP_EXIT_ACCEPTED;
	}
	printf("read %zu bytes\nhello: none\nclosed: %s\n", have,
	       strerror(-rc));
	return FP_EXIT_HANDSHAKE;
}

/* ---- idle ------------------------------------------------------------- */

static int idle_one(void)
{
	int fd = connect_to(o.connect);

	/* One byte: a TLS record begun and never finished. */
	if (o.one_byte && write(fd, "\x16", 1) != 1)
		die("write: %s", strerror(errno));
	return fd;
}

static int run_idle(void)
{
	struct pollfd p[256];
	uint64_t deadline = after_s(o.hold_s), reopened = 0;
	unsigned int i;

	if (!o.connect || o.count > 256)
		die("idle: --connect HOST:PORT, --count at most 256");
	for (i = 0; i < o.count; i++)
		p[i] = (struct pollfd){ .fd = idle_one(), .events = POLLIN };
	printf("opened %u\n", o.count);
	if (!o.reopen)
		sleep(o.hold_s);
	while (o.reopen && clock__mono_ns() < deadline) {
		if (poll(p, o.count, 100) <= 0)
			continue;
		for (i = 0; i < o.count; i++) {
			char b[512];

			if (!p[i].revents || read(p[i].fd, b, sizeof(b)) > 0)
				continue;
			close(p[i].fd);
			p[i].fd = idle_one();
			reopened++;
		}
	}
	printf("reopened %llu\n", (unsigned long long)reopened);
	return 0;
}

/* ---- backup ----------------------------------------------------------- */

static int run_backup(void)
{
	static uint8_t rx[FP_BUF];
	struct tls_creds *creds = channel_creds(TLS_SERVER);
	struct logfmt_header h;
	struct logfmt_record boot, hello, r;
	struct logfmt_error e;
	struct tls_conn *t;
	bool noack;
	uint64_t deadline = after_s(o.hold_s), received = 2, tx_seq = 0;
	uint64_t last_ack = 0, bytes = 0;
	size_t len = 0, off;
	char why[512];
	int lfd, fd, rc;

	if (!o.listen || !o.ack)
		die("backup: --listen HOST:PORT --ack noack|noreplay");
	noack = !strcmp(o.ack, "noack");
	if (!noack && strcmp(o.ack, "noreplay"))
		die("--ack noack|noreplay");
	lfd = listen_on(o.listen);
	fd = accept_until(lfd, deadline);
	if (fd < 0)
		die("no primary came");
	if (tls__conn_new(&t, creds, fd))
		die("out of memory");
	if (creds && tls__handshake_until(t, after_s(10), why, sizeof(why)))
		die("handshake: %s", why);
	do {
		rc = tls__recv_all(t, rx + len, 1, after_s(10));
		if (rc)
			die("no opening: %s", strerror(-rc));
		len++;
		rc = logfmt__decode_opening(rx, len, &h, &boot, &hello, &e);
	} while (rc == 0 && len < LOGFMT_OPENING_MAX);
	if (rc != 1)
		die("a bad opening: %s", e.msg);
	fprintf(stderr, "fakepeer: primary %.*s, pair %llu epoch %llu\n",
		(int)hello.u.hello.node_len, hello.u.hello.node,
		(unsigned long long)h.pair_id, (unsigned long long)h.epoch);
	r = (struct logfmt_record){ .type = LOGFMT_HELLO, .seq = tx_seq++ };
	r.u.hello =
	    (struct logfmt_hello){ .role = LOGFMT_ROLE_BACKUP,
				   .node = o.node,
				   .node_len = (uint32_t)strlen(o.node) };
	send_record(t, &r);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	len = 0;
	while (clock__mono_ns() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (!tls__pending(t))
			poll(&p, 1, 5);
		got = tls__recv(t, rx + len, sizeof(rx) - len);
		if (got == 0 || (got < 0 && got != -EAGAIN))
			break;
		if (got > 0) {
			len += (size_t)got;
			bytes += (uint64_t)got;
		}
		/* Count whole records; keep a partial one for the next read. */
		for (off = 0;;) {
			long n =
			    logfmt__decode_record(rx + off, len - off, &r, &e);
			if (n < 0)
				die("a bad record: %s", e.msg);
			if (n == 0)
				break;
			received = r.seq + 1;
			off += (size_t)n;
		}
		memmove(rx, rx + off, len - off);
		len -= off;
		if (clock__mono_ns() - last_ack >= 10000000ull) {
			r = (struct logfmt_record){ .type = LOGFMT_ACK,
						    .seq = tx_seq++ };
			r.u.ack.received = noack ? 2 : received;
			r.u.ack.replayed = 2;
			send_record(t, &r);
			last_ack = clock__mono_ns();
		}
	}
	printf("backup: %llu records, %llu bytes\n",
	       (unsigned long long)received, (unsigned long long)bytes);
	return 0;
}

/* ---- relay ------------------------------------------------------------ */

/* Copy one connection both ways until both ends are done. */
static void relay_one(int a, int b, FILE *cap)
{
	struct pollfd p[2] = { { .fd = a, .events = POLLIN },
			       { .fd = b, .events = POLLIN } };
	static uint8_t buf[65536];
	int open_ends = 2, i;

	while (open_ends > 0 && poll(p, 2, -1) > 0) {
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(p[!i].fd, SHUT_WR);
				p[i].fd = -1;
				open_ends--;
				continue;
			}
			fwrite(buf, 1, (size_t)n, cap);
			fflush(cap);
			if (write(i ? a : b, buf, (size_t)n) != n)
				open_ends = 0;
		}
	}
	close(a);
	close(b);
}

static int run_relay(void)
{
	uint64_t deadline = after_s(o.hold_s);
	FILE *cap;
	int lfd;

	if (!o.listen || !o.connect || !o.capture)
		die("relay: --listen HOST:PORT --connect HOST:PORT --capture "
		    "FILE");
	cap = fopen(o.capture, "ab");
	if (!cap)
		die("--capture %s: %s", o.capture, strerror(errno));
	lfd = listen_on(o.listen);
	for (;;) {
		int a = accept_until(lfd, deadline);

		if (a < 0)
			return 0;
		relay_one(a, connect_to(o.connect), cap);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'M' },
		{ "connect", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "key", required_argument, NULL, 'k' },
		{ "wrong-key", no_argument, NULL, 'W' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "pair", required_argument, NULL, 'p' },
		{ "epoch", required_argument, NULL, 'e' },
		{ "image", required_argument, NULL, 'i' },
		{ "garbage-hash", no_argument, NULL, 'G' },
		{ "memory", required_argument, NULL, 'm' },
		{ "cpuid-hash", required_argument, NULL, 'C' },
		{ "cmdline", required_argument, NULL, 'L' },
		{ "node", required_argument, NULL, 'n' },
		{ "forge", no_argument, NULL, 'F' },
		{ "dump", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'N' },
		{ "one-byte", no_argument, NULL, '1' },
		{ "hold", required_argument, NULL, 'H' },
		{ "ack", required_argument, NULL, 'a' },
		{ "capture", required_argument, NULL, 'w' },
		{ "bind", required_argument, NULL, 'B' },
		{ "reopen", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'M':
			o.mode = optarg;
			break;
		case 'c':
			o.connect = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'k':
			o.key = optarg;
			break;
		case 'W':
			o.wrong_key = true;
			break;
		case 'I':
			o.insecure = true;
			break;
		case 'p':
			o.pair = strtoull(optarg, NULL, 0);
			break;
		case 'e':
			o.epoch = strtoull(optarg, NULL, 0);
			break;
		case 'i':
			o.image = optarg;
			break;
		case 'G':
			o.garbage_hash = true;
			break;
		case 'm':
			o.memory_mib = strtoull(optarg, NULL, 0);
			break;
		case 'C':
			o.cpuid_hash = strtoull(optarg, NULL, 16);
			break;
		case 'L':
			o.cmdline = optarg;
			break;
		case 'n':
			o.node = optarg;
			break;
		case 'F':
			o.forge = true;
			break;
		case 'd':
			o.dump = optarg;
			break;
		case 'N':
			o.count = (unsigned int)atoi(optarg);
			break;
		case '1':
			o.one_byte = true;
			break;
		case 'H':
			o.hold_s = (unsigned int)atoi(optarg);
			break;
		case 'a':
			o.ack = optarg;
			break;
		case 'w':
			o.capture = optarg;
			break;
		case 'B':
			o.bind = optarg;
			break;
		case 'R':
			o.reopen = true;
			break;
		default:
			die("see the top of tests/tools/fakepeer.c");
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!o.mode)
		die("--mode primary|idle|backup|relay");
	if (!strcmp(o.mode, "primary"))
		return run_primary();
	if (!strcmp(o.mode, "idle"))
		return run_idle();
	if (!strcmp(o.mode, "backup"))
		return run_backup();
	if (!strcmp(o.mode, "relay"))
		return run_relay();
	die("--mode %s: want primary, idle, backup or relay", o.mode);
}
