// SPDX-License-Identifier: MIT
/*
 * pvft-kv-fake: the kv protocol (include/pvft/kv.h) on a host UDP socket,
 * served correctly or wrongly on purpose, to test pvft-kv-client's checks.
 *
 *   pvft-kv-fake [--listen HOST:PORT] [--mode MODE] [--seed N]
 *
 * Modes:
 *   ok             the protocol as Documentation/kv-protocol.md says;
 *   drop-replies   as ok, but a reply in FAKE_DROP_PCT is not sent: the
 *                  client must retry, and the retry is answered from the
 *                  dedup cache (still correct);
 *   double         replies dropped as above, and a retry is applied again
 *                  instead of answered from the cache (wrong: writes
 *                  applied twice);
 *   lose           every FAKE_LOSE_EVERY-th PUT is acknowledged but not
 *                  stored (wrong: acknowledged writes lost);
 *   stale-garbage  as ok, but before some replies the client also gets
 *                  malformed datagrams and replies to its earlier requests
 *                  (correct replies among garbage).
 *
 * stdout gets one line, "ready", once it listens; stderr says where
 * ("kv-fake: listening on HOST:PORT, mode MODE"). SIGTERM or SIGINT end
 * it with a line of counts on stderr, status 0.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pvft/kv.h"
#include "tcp.h"

#define FAKE_BUCKETS 4096
#define FAKE_KEYS_MAX 65536 /* then KV_FULL */
#define FAKE_CLIENTS_MAX 65536
#define FAKE_DROP_PCT 30
#define FAKE_LOSE_EVERY 10
#define FAKE_GARBAGE_PCT 50
#define FAKE_GARBAGE_KINDS 12

enum fake_mode {
	FAKE_OK,
	FAKE_DROP,
	FAKE_DOUBLE,
	FAKE_LOSE,
	FAKE_GARBAGE,
};

static const char *const mode_name[] = {
	[FAKE_OK] = "ok",
	[FAKE_DROP] = "drop-replies",
	[FAKE_DOUBLE] = "double",
	[FAKE_LOSE] = "lose",
	[FAKE_GARBAGE] = "stale-garbage",
};

struct entry {
	struct entry *next;
	uint16_t key_len, val_len;
	bool present;
	uint64_t writes;
	uint8_t key[KV_KEY_MAX];
	uint8_t val[KV_VAL_MAX];
};

/* Per client: its last request's number and the reply it got. */
struct fclient {
	struct fclient *next;
	uint64_t id, last;
	size_t rep_len;
	uint8_t rep[KV_REP_MAX];
};

static struct {
	enum fake_mode mode;
	uint64_t rng;
	int fd;
	struct entry *keys[FAKE_BUCKETS];
	struct fclient *clients[FAKE_BUCKETS];
	unsigned long nkeys, nclients;
	unsigned long puts;
	/* Counts for the last line. */
	unsigned long requests, malformed, cached, applied, dropped, doubled,
	    lost, garbage;
} fk;

static uint64_t rnd(void)
{
	fk.rng ^= fk.rng >> 12;
	fk.rng ^= fk.rng << 25;
	fk.rng ^= fk.rng >> 27;
	return fk.rng * 0x2545f4914f6cdd1dull;
}

static bool chance(unsigned int pct)
{
	return rnd() % 100 < pct;
}

/* FNV-1a. */
static unsigned int hash(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % FAKE_BUCKETS;
}

static struct entry *key_find(const uint8_t *key, uint16_t len, bool create)
{
	struct entry **head = &fk.keys[hash(key, len)], *e;

	for (e = *head; e; e = e->next)
		if (e->key_len == len && !memcmp(e->key, key, len))
			return e;
	if (!create || fk.nkeys >= FAKE_KEYS_MAX)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key_len = len;
	memcpy(e->key, key, len);
	e->next = *head;
	*head = e;
	fk.nkeys++;
	return e;
}

static struct fclient *client_find(uint64_t id)
{
	uint8_t b[8];
	struct fclient **head, *c;

	kv__put64(b, id);
	head = &fk.clients[hash(b, sizeof(b))];
	for (c = *head; c; c = c->next)
		if (c->id == id)
			return c;
	if (fk.nclients >= FAKE_CLIENTS_MAX)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = id;
	c->next = *head;
	*head = c;
	fk.nclients++;
	return c;
}

static void send_to(const uint8_t *b, size_t len,
		    const struct sockaddr_storage *to, socklen_t tolen)
{
	sendto(fk.fd, b, len, MSG_DONTWAIT, (const struct sockaddr *)to, tolen);
}

/* Datagrams no correct reply looks like, and replies to older requests. */
static void send_garbage(const uint8_t *rep, size_t len,
			 const struct sockaddr_storage *to, socklen_t tolen)
{
	unsigned int n = 1 + (unsigned int)(rnd() % 3);

	for (unsigned int i = 0; i < n; i++) {
		uint8_t g[KV_REP_MAX + 64];
		size_t glen = len;
		uint64_t req = kv__get64(rep + KV_REQ_OFF);

		memcpy(g, rep, len);
		switch (rnd() % FAKE_GARBAGE_KINDS) {
		case 0:
			glen = rnd() % 100;
			for (size_t j = 0; j < glen; j++)
				g[j] = (uint8_t)rnd();
			break;
		case 1:
			g[KV_MAGIC_OFF] ^= 0x20;
			break;
		case 2:
			g[KV_VERSION_OFF]++;
			break;
		case 3:
			g[KV_CLIENT_OFF] ^= 1;
			break;
		case 4:
			/* Far ahead of anything the client has sent yet. */
			kv__put64(g + KV_REQ_OFF, req + 1000000);
			break;
		case 5:
			glen = len - 1;
			break;
		case 6:
			kv__put16(
			    g + KV_RVALLEN_OFF,
			    (uint16_t)(kv__get16(g + KV_RVALLEN_OFF) + 1));
			break;
		case 7:
			g[KV_STATUS_OFF + 1] = 1;
			break;
		case 8:
			g[KV_STATUS_OFF] = 9;
			break;
		case 9:
			g[KV_OP_OFF] = (uint8_t)(g[KV_OP_OFF] % 3 + 1);
			break;
		case 10:
			/* A reply to an earlier request: late, not bad. */
			if (req < 2)
				continue;
			kv__put64(g + KV_REQ_OFF, req - 1);
			break;
		default:
			memset(g + len, 'x', 64);
			glen = len + 64;
			if (glen <= KV_REP_MAX)
				g[KV_STATUS_OFF + 1] = 1;
			break;
		}
		send_to(g, glen, to, tolen);
		fk.garbage++;
	}
}

/* Apply request @b (valid) into reply @rep; its length. */
static size_t apply(const uint8_t *b, uint8_t *rep)
{
	uint8_t op = b[KV_OP_OFF];
	uint16_t klen = kv__get16(b + KV_KEYLEN_OFF);
	uint16_t vlen = kv__get16(b + KV_VALLEN_OFF);
	const uint8_t *key = b + KV_REQ_HDR;
	struct entry *e = key_find(key, klen, op == KV_PUT);
	uint8_t status = KV_OK;
	uint64_t writes = e ? e->writes : 0;
	size_t len = KV_REP_HDR;

	fk.applied++;
	switch (op) {
	case KV_PUT:
		if (!e) {
			status = KV_FULL;
			writes = 0;
			break;
		}
		writes = e->writes + 1;
		if (fk.mode == FAKE_LOSE && ++fk.puts % FAKE_LOSE_EVERY == 0) {
			fk.lost++;
			break;
		}
		e->present = true;
		e->writes = writes;
		e->val_len = vlen;
		memcpy(e->val, key + klen, vlen);
		break;
	case KV_GET:
		if (!e || !e->present) {
			status = KV_NOT_FOUND;
			break;
		}
		memcpy(rep + KV_REP_HDR, e->val, e->val_len);
		len += e->val_len;
		break;
	default:
		if (!e || !e->present) {
			status = KV_NOT_FOUND;
			break;
		}
		e->present = false;
		writes = ++e->writes;
		break;
	}
	rep[KV_STATUS_OFF] = status;
	kv__put16(rep + KV_RVALLEN_OFF, (uint16_t)(len - KV_REP_HDR));
	kv__put64(rep + KV_WRITES_OFF, writes);
	return len;
}

static void serve(const uint8_t *b, size_t n,
		  const struct sockaddr_storage *from, socklen_t fromlen)
{
	uint8_t rep[KV_REP_MAX];
	size_t len = KV_REP_HDR;
	struct fclient *c;
	uint8_t op;
	uint64_t req;
	uint16_t klen, vlen;

	fk.requests++;
	if (n < KV_REQ_HDR || kv__get16(b + KV_MAGIC_OFF) != KV_MAGIC ||
	    b[KV_VERSION_OFF] != KV_VERSION) {
		fk.malformed++;
		return;
	}
	op = b[KV_OP_OFF];
	req = kv__get64(b + KV_REQ_OFF);
	klen = kv__get16(b + KV_KEYLEN_OFF);
	vlen = kv__get16(b + KV_VALLEN_OFF);
	memset(rep, 0, KV_REP_HDR);
	memcpy(rep, b, KV_REQ_HDR - 4); /* magic .. req */
	if (op < KV_PUT || op > KV_DEL || !klen || klen > KV_KEY_MAX ||
	    vlen > KV_VAL_MAX || n != KV_REQ_HDR + (size_t)klen + vlen ||
	    (op != KV_PUT && vlen) || !req) {
		fk.malformed++;
		rep[KV_STATUS_OFF] = KV_BAD;
		send_to(rep, len, from, fromlen);
		return;
	}
	c = client_find(kv__get64(b + KV_CLIENT_OFF));
	if (!c)
		return;
	if (req < c->last) {
		rep[KV_STATUS_OFF] = KV_STALE;
		send_to(rep, len, from, fromlen);
		return;
	}
	if (req == c->last && fk.mode != FAKE_DOUBLE) {
		fk.cached++;
		memcpy(rep, c->rep, c->rep_len);
		len = c->rep_len;
	} else {
		if (req == c->last)
			fk.doubled++;
		len = apply(b, rep);
		c->last = req;
		c->rep_len = len;
		memcpy(c->rep, rep, len);
	}
	if ((fk.mode == FAKE_DROP || fk.mode == FAKE_DOUBLE) &&
	    chance(FAKE_DROP_PCT)) {
		fk.dropped++;
		return;
	}
	/* Before the reply: after it, the client may already be ahead. */
	if (fk.mode == FAKE_GARBAGE && chance(FAKE_GARBAGE_PCT))
		send_garbage(rep, len, from, fromlen);
	send_to(rep, len, from, fromlen);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: pvft-kv-fake [--listen HOST:PORT] [--mode MODE] "
		   "[--seed N]\n"
		   "A kv service for testing pvft-kv-client. MODE: ok "
		   "(default), drop-replies,\n"
		   "double, lose, stale-garbage. --listen: 127.0.0.1:0 (any "
		   "port, said on stderr).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "mode", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_addr = "127.0.0.1:0";
	struct addrinfo *ai = NULL;
	char err[TCP_ERR_MAX];
	struct pollfd pfd[2];
	bool mode_ok = true;
	sigset_t set;
	int o, sig_fd;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			listen_addr = optarg;
			break;
		case 'm':
			mode_ok = false;
			for (size_t i = 0;
			     i < sizeof(mode_name) / sizeof(mode_name[0]);
			     i++) {
				if (!strcmp(optarg, mode_name[i])) {
					fk.mode = (enum fake_mode)i;
					mode_ok = true;
				}
			}
			break;
		case 's':
			fk.rng = strtoull(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !mode_ok) {
		usage(stderr);
		return 2;
	}
	if (!fk.rng && getrandom(&fk.rng, sizeof(fk.rng), 0) < 0)
		fk.rng = (uint64_t)getpid();
	fk.rng |= 1;

	if (tcp__resolve(listen_addr, true, &ai, err)) {
		fprintf(stderr, "kv-fake: error: %s\n", err);
		return EXIT_FAILURE;
	}
	fk.fd =
	    socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fk.fd < 0 || bind(fk.fd, ai->ai_addr, ai->ai_addrlen)) {
		fprintf(stderr, "kv-fake: error: bind %s: %s\n", listen_addr,
			strerror(errno));
		return EXIT_FAILURE;
	}
	freeaddrinfo(ai);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sig_fd < 0) {
		fprintf(stderr, "kv-fake: error: signalfd: %s\n",
			strerror(errno));
		return EXIT_FAILURE;
	}
	/* tcp__resolve() found the colon. */
	fprintf(stderr, "kv-fake: listening on %.*s:%u, mode %s\n",
		(int)(strrchr(listen_addr, ':') - listen_addr), listen_addr,
		tcp__port(fk.fd), mode_name[fk.mode]);
	printf("ready\n");
	fflush(stdout);

	pfd[0] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = fk.fd, .events = POLLIN };
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kv-fake: error: poll: %s\n",
				strerror(errno));
			return EXIT_FAILURE;
		}
		if (pfd[0].revents)
			break;
		for (;;) {
			uint8_t b[KV_REQ_MAX + 1];
			struct sockaddr_storage from;
			socklen_t fromlen = sizeof(from);
			ssize_t r = recvfrom(
			    fk.fd, b, sizeof(b), MSG_DONTWAIT | MSG_TRUNC,
			    (struct sockaddr *)&from, &fromlen);

			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				continue;
			}
			serve(b, (size_t)r > sizeof(b) ? sizeof(b) : (size_t)r,
			      &from, fromlen);
		}
	}
	fprintf(stderr,
		"kv-fake: %lu requests: %lu applied, %lu answered from the "
		"cache, %lu malformed, %lu replies dropped, %lu applied "
		"twice, %lu lost, %lu garbage datagrams\n",
		fk.requests, fk.applied, fk.cached, fk.malformed, fk.dropped,
		fk.doubled, fk.lost, fk.garbage);
	return EXIT_SUCCESS;
}
