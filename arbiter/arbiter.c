// SPDX-License-Identifier: MIT
/*
 * The arbiter client (arbiter.h; the wire formats are specified in
 * Documentation/arbiter-protocol.md). One driver runs every call over the
 * URL's endpoints; a backend (pvft-arbiter's line protocol, or etcd's v3
 * JSON gateway) does one exchange with one endpoint and says how it went:
 * answered, failed before the request could act, or failed after it may
 * have. The last kind is what makes an acquire ambiguous, and the driver
 * resolves it by reading the owner back.
 *
 * Everything a server sends is untrusted: replies are read into bounded
 * buffers, parsed strictly, and a reply that does not parse is a failed
 * exchange, never a crash and never a grant.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "arbiter.h"
#include "clock.h"
#include "proto.h"
#include "tls.h"

#define ARBITER_URL_MAX 1024
#define ARBITER_ENDPOINTS_MAX 16
#define ARBITER_EXCHANGE_WHY 256 /* bytes of one endpoint's failure */
/*
 * "pvft/arbiter/", two u64s with a '/' between them, and "/opened" and a
 * NUL byte (the end of a query's range).
 */
#define ARBITER_KEY_MAX 80
#define ETCD_REPLY_MAX (64u << 10) /* bytes: an etcd reply here is ~400 */
#define ETCD_JSON_DEPTH 16
#define ETCD_BODY_MAX 2048
/* An etcd auth token, as the gateway hands it out (~30 bytes, simple). */
#define ETCD_TOKEN_MAX 1024
/* The body of an authenticate request: a user and a password, escaped. */
#define ETCD_LOGIN_MAX 4096
/* Base64 of @n bytes, NUL included. */
#define B64_SIZE(n) (((n) + 2) / 3 * 4 + 1)

enum outcome {
	OUT_ANSWER, /* the server answered: the call's ans and owner say what */
	OUT_FAILED, /* no answer, and the request cannot have acted */
	OUT_MAYBE,  /* no answer, but the request may have acted */
};

struct endpoint {
	char host[PROTO_HOST_MAX + 1];
	char port[6];
	/*
	 * etcd with a user: the token this endpoint gave us ("" none yet).
	 * Kept per endpoint because a member may not know another's token.
	 */
	char token[ETCD_TOKEN_MAX + 1];
};

/* One question to one endpoint. */
struct call {
	uint64_t pair, epoch;
	const char *node; /* acquire, advance: the node asking; query: NULL */
	bool advance;	  /* an advance (@node set), not an acquire */
	uint64_t deadline_ms; /* CLOCK_MONOTONIC, for this exchange */
	/*
	 * Out: GRANTED (@owner owns the key; advance: @node opened the next
	 * epoch), DENIED (acquire, advance), FREE, OPENED (query).
	 */
	enum arbiter_answer ans;
	char owner[ARBITER_NODE_MAX + 1];
	char why[ARBITER_EXCHANGE_WHY]; /* a failed exchange: what happened */
};

struct backend {
	const char *scheme;
	size_t max_endpoints;
	bool secure; /* TLS; a plaintext scheme is opened only when insecure */
	int (*init)(struct arbiter *a, const struct arbiter_auth *auth,
		    char *why, size_t why_len);
	void (*dispose)(struct arbiter *a);
	enum outcome (*exchange)(struct arbiter *a, struct endpoint *ep,
				 struct call *c);
};

struct arbiter {
	char *url;
	const struct backend *be;
	struct endpoint ep[ARBITER_ENDPOINTS_MAX];
	size_t nr_ep;
	size_t last; /* the endpoint that answered last: asked first */
	/* pvft:// over TLS: the domain key each call derives its key from. */
	bool have_key;
	uint8_t domain_key[TLS_KEY_LEN];
	/* etcd: one handle, so that its connections are reused. */
	CURL *curl;
	char *ca, *cert, *key, *user, *password; /* copies, or NULL */
};

/* Every why is one line of printable ASCII, whoever wrote its bytes. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void set_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	one_line(why);
}

/* Append to @why, after "; " when it holds something already. */
static void add_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_why(char *why, size_t why_len, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (!why || !why_len)
		return;
	used = strnlen(why, why_len - 1);
	if (used && used + 2 < why_len) {
		memcpy(why + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + used, why_len - used, fmt, ap);
	va_end(ap);
	one_line(why);
}

/* Milliseconds left until @deadline, 0 when it has passed. */
static unsigned left_ms(uint64_t deadline)
{
	uint64_t now = clock__mono_ms();

	return now < deadline ? (unsigned)(deadline - now) : 0;
}

/* As left_ms, for poll(), which waits forever for a negative int. */
static int left_ms_int(uint64_t deadline)
{
	unsigned left = left_ms(deadline);

	return left > INT_MAX ? INT_MAX : (int)left;
}

bool arbiter__valid_node(const char *node)
{
	size_t i;

	if (!node)
		return false;
	for (i = 0; node[i]; i++) {
		char c = node[i];

		if (i == ARBITER_NODE_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return i > 0;
}

const char *arbiter__answer_name(enum arbiter_answer ans)
{
	switch (ans) {
	case ARBITER_GRANTED:
		return "granted";
	case ARBITER_DENIED:
		return "denied";
	case ARBITER_FREE:
		return "free";
	case ARBITER_OPENED:
		return "opened";
	case ARBITER_UNREACHABLE:
		return "unreachable";
	}
	return "unknown";
}

/* ---- pvft://: the line protocol over TCP ---- */

/* Wait for @events on @fd until @deadline: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	for (;;) {
		r = poll(&pfd, 1, left_ms_int(deadline));
		if (r > 0)
			return 0;
		if (!r)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* A connected non-blocking socket to @ep, or -1 with c->why. */
static int tcp_connect(const struct endpoint *ep, struct call *c)
{
	struct addrinfo hints = {
		.ai_family = AF_INET,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *res, *ai;
	socklen_t len;
	int fd = -1, r, err = 0, one = 1;

	r = getaddrinfo(ep->host, ep->port, &hints, &res);
	if (r) {
		set_why(c->why, sizeof(c->why), "cannot resolve '%s': %s",
			ep->host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0);
		if (fd < 0) {
			err = errno;
			break;
		}
		/*
		 * The request follows the handshake's last flight at once:
		 * Nagle would hold it until the arbiter acknowledged that
		 * flight, which a delayed ack puts off by tens of ms.
		 */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		err = errno;
		if (err == EINPROGRESS) {
			r = wait_fd(fd, POLLOUT, c->deadline_ms);
			len = sizeof(err);
			if (!r &&
			    !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) &&
			    !err)
				break;
			if (r)
				err = -r;
		}
		close(fd);
		fd = -1;
		if (err == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		set_why(c->why, sizeof(c->why), "connect: %s",
			err == ETIMEDOUT ? "timed out" : strerror(err));
	return fd;
}

static uint64_t deadline_ns(const struct call *c)
{
	return c->deadline_ms * 1000000;
}

/*
 * One reply line into @buf (PROTO_LINE_MAX bytes): its length without the
 * newline, or -1 with c->why. Bytes after the newline are dropped.
 */
static int recv_line(struct tls_conn *conn, int fd, char *buf, struct call *c)
{
	size_t got = 0;
	char *nl;
	ssize_t n;
	int r;

	for (;;) {
		/* Decrypted bytes already held are not the socket's to say. */
		if (!tls__pending(conn)) {
			r = wait_fd(fd, POLLIN, c->deadline_ms);
			if (r) {
				set_why(c->why, sizeof(c->why), "no reply: %s",
					r == -ETIMEDOUT ? "timed out"
							: strerror(-r));
				return -1;
			}
		}
		n = tls__recv(conn, buf + got, PROTO_LINE_MAX - got);
		if (n == -EAGAIN)
			continue;
		if (n < 0) {
			set_why(c->why, sizeof(c->why), "recv: %s",
				strerror((int)-n));
			return -1;
		}
		if (!n) {
			set_why(c->why, sizeof(c->why),
				"connection closed before the reply");
			return -1;
		}
		nl = memchr(buf + got, '\n', (size_t)n);
		got += (size_t)n;
		if (nl)
			return (int)(nl - buf);
		if (got == PROTO_LINE_MAX) {
			set_why(c->why, sizeof(c->why),
				"bad reply: longer than %d bytes",
				PROTO_LINE_MAX);
			return -1;
		}
	}
}

/* The verb @c asks with. */
static enum proto_verb call_verb(const struct call *c)
{
	return c->advance ? PROTO_ADVANCE
	       : c->node  ? PROTO_ACQUIRE
			  : PROTO_QUERY;
}

/*
 * What a pvft-arbiter reply means for @c: OUT_ANSWER or a failure. A
 * reply that does not fit the request is no answer.
 */
static enum outcome pvft_reply(struct call *c, const struct proto_reply *rep,
			       enum outcome failed)
{
	enum proto_verb verb = call_verb(c);
	bool mine = c->node && !strcmp(rep->node, c->node);

	switch (rep->kind) {
	case PROTO_GRANTED:
		/* GRANTED names the asker, an ACQUIRE's DENIED someone else. */
		if (verb != PROTO_ACQUIRE || !mine)
			break;
		c->ans = ARBITER_GRANTED;
		goto owner;
	case PROTO_ADVANCED:
		if (verb != PROTO_ADVANCE || !mine)
			break;
		c->ans = ARBITER_GRANTED;
		goto owner;
	case PROTO_DENIED:
		/* An ADVANCE's DENIED may name the asker: it owns E + 1. */
		if (verb == PROTO_QUERY || (verb == PROTO_ACQUIRE && mine))
			break;
		c->ans = ARBITER_DENIED;
		goto owner;
	case PROTO_OWNER:
	case PROTO_OPENED:
		if (verb != PROTO_QUERY)
			break;
		c->ans =
		    rep->kind == PROTO_OWNER ? ARBITER_GRANTED : ARBITER_OPENED;
		goto owner;
	case PROTO_FREE:
		if (verb == PROTO_ACQUIRE)
			break;
		c->ans = ARBITER_FREE;
		return OUT_ANSWER;
	case PROTO_ERROR:
		set_why(c->why, sizeof(c->why), "arbiter error: %s",
			rep->reason);
		return failed;
	}
	set_why(c->why, sizeof(c->why), "bad reply: %s does not answer %s",
		proto__reply_word(rep->kind), proto__verb_word(verb));
	return failed;
owner:
	snprintf(c->owner, sizeof(c->owner), "%s", rep->node);
	return OUT_ANSWER;
}

/*
 * This call's credentials: the pair's arbiter key, derived from the
 * domain key, under the pair's identity; NULL (plaintext) without a key.
 * 0, or -1 with c->why.
 */
static int pvft_creds(const struct arbiter *a, struct call *c,
		      struct tls_creds **creds_r)
{
	char identity[TLS_IDENTITY_MAX + 1], why[ARBITER_EXCHANGE_WHY];
	uint8_t key[TLS_KEY_LEN];
	int r;

	*creds_r = NULL;
	if (!a->have_key)
		return 0;
	tls__arbiter_key(a->domain_key, c->pair, key, identity,
			 sizeof(identity));
	r = tls__creds_psk(creds_r, TLS_CLIENT, identity, key, why,
			   sizeof(why));
	explicit_bzero(key, sizeof(key));
	if (r) {
		set_why(c->why, sizeof(c->why), "%s", why);
		return -1;
	}
	return 0;
}

static enum outcome pvft_exchange(struct arbiter *a, struct endpoint *ep,
				  struct call *c)
{
	struct proto_request req = {
		.verb = call_verb(c),
		.pair = c->pair,
		.epoch = c->epoch,
	};
	/* From the first byte sent on, an ACQUIRE or ADVANCE may have been
	 * acted on. */
	enum outcome failed = c->node ? OUT_MAYBE : OUT_FAILED;
	enum outcome out = OUT_FAILED;
	struct tls_creds *creds = NULL;
	struct tls_conn *conn = NULL;
	char line[PROTO_BUF_SIZE], why[ARBITER_EXCHANGE_WHY];
	struct proto_reply rep;
	int fd = -1, len, r;

	if (c->node)
		snprintf(req.node, sizeof(req.node), "%s", c->node);
	len = proto__format_request(&req, line);
	if (len < 0) {
		set_why(c->why, sizeof(c->why), "bad node id");
		return OUT_FAILED;
	}
	if (pvft_creds(a, c, &creds))
		return OUT_FAILED;
	fd = tcp_connect(ep, c);
	if (fd < 0)
		goto out;
	r = tls__conn_new(&conn, creds, fd);
	if (r) {
		set_why(c->why, sizeof(c->why), "TLS: %s", strerror(-r));
		goto out;
	}
	/* Nothing of the request has left before the handshake is over. */
	r = tls__handshake_until(conn, deadline_ns(c), why, sizeof(why));
	/*
	 * pvft-arbiter says nothing to a client that does not prove a key it
	 * holds: it closes the connection. Name the likely causes.
	 */
	if (r == -ECONNRESET)
		set_why(c->why, sizeof(c->why),
			"the arbiter closed the connection in the TLS "
			"handshake (no key for pair %" PRIu64
			" there, another key, or too many clients)",
			c->pair);
	else if (r == -EACCES)
		set_why(c->why, sizeof(c->why),
			"the arbiter does not take pair %" PRIu64 "'s key: %s",
			c->pair, why);
	else if (r)
		set_why(c->why, sizeof(c->why), "%s", why);
	if (r)
		goto out;
	out = failed;
	r = tls__send_all(conn, line, (size_t)len, deadline_ns(c));
	if (r) {
		set_why(c->why, sizeof(c->why), "send: %s",
			r == -ETIMEDOUT ? "timed out" : strerror(-r));
		goto out;
	}
	len = recv_line(conn, fd, line, c);
	if (len < 0)
		goto out;
	if (proto__parse_reply(line, (size_t)len, &rep)) {
		set_why(c->why, sizeof(c->why),
			"bad reply: not a line of the protocol");
		goto out;
	}
	out = pvft_reply(c, &rep, failed);
out:
	tls__conn_free(conn);
	tls__creds_free(creds);
	if (fd >= 0)
		close(fd);
	return out;
}

/* ---- etcd://: the v3 JSON gateway ---- */

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* @len bytes as padded base64 in @out (B64_SIZE(@len) bytes). */
static void b64_encode(const char *s, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, o = 0;

	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = b64_chars[v >> 18 & 63];
		out[o++] = b64_chars[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64_chars[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? b64_chars[v & 63] : '=';
	}
	out[o] = '\0';
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_chars, c) : NULL;

	return p ? (int)(p - b64_chars) : -1;
}

/*
 * Strict padded base64 (@len bytes of @s) into @out (@size bytes): the
 * decoded length, or -1 if it is not canonical base64 or does not fit.
 */
static int b64_decode(const char *s, size_t len, char *out, size_t size)
{
	size_t i, o = 0;
	int v[4], k;

	if (len % 4)
		return -1;
	for (i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int pad = 0;

		for (k = 0; k < 4; k++) {
			v[k] = b64_value(s[i + k]);
			if (v[k] >= 0 && !pad)
				continue;
			/* '=' only at the end of the last quantum, 2 at most.
			 */
			if (s[i + k] != '=' || !last || k < 2)
				return -1;
			pad++;
			v[k] = 0;
		}
		/* Bits the padding drops must be zero: one spelling. */
		if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
			return -1;
		if (o + 3 - (size_t)pad > size)
			return -1;
		out[o++] = (char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (char)((v[2] & 3) << 6 | v[3]);
	}
	return (int)o;
}

struct etcd_reply {
	char *buf;
	size_t len, cap;
	bool too_big;
};

static size_t etcd_write(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct etcd_reply *r = opaque;
	size_t n = size * nmemb, cap;
	char *buf;

	if (n > ETCD_REPLY_MAX - r->len) {
		r->too_big = true;
		return 0;
	}
	if (r->len + n > r->cap) {
		cap = r->cap ? r->cap : 1024;
		while (cap < r->len + n)
			cap *= 2;
		buf = realloc(r->buf, cap);
		if (!buf)
			return 0;
		r->buf = buf;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return n;
}

/* @len bytes of JSON, all of it one value: the value, or NULL. */
static struct json_object *json_parse(const char *buf, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj;
	size_t end;

	if (!len || len > ETCD_REPLY_MAX)
		return NULL;
	tok = json_tokener_new_ex(ETCD_JSON_DEPTH);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (obj && json_tokener_get_error(tok) == json_tokener_success) {
		while (end < len && buf[end] && strchr(" \t\r\n", buf[end]))
			end++;
		if (end == len) {
			json_tokener_free(tok);
			return obj;
		}
	}
	json_object_put(obj);
	json_tokener_free(tok);
	return NULL;
}

/* Member @name of object @o if it has type @type, else NULL. */
static struct json_object *member(struct json_object *o, const char *name,
				  enum json_type type)
{
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

/* The keys of one call: its own, and those an advance or query reads. */
struct etcd_keys {
	char key[ARBITER_KEY_MAX];    /* pvft/arbiter/P/E */
	char opened[ARBITER_KEY_MAX]; /* pvft/arbiter/P/E/opened */
	/* Advance: pvft/arbiter/P/E+1 and its opened mark. */
	char next[ARBITER_KEY_MAX], next_opened[ARBITER_KEY_MAX];
};

/*
 * A kv object's key into @key (ARBITER_KEY_MAX bytes, NUL-terminated, no
 * NUL inside) and the node id its value holds into @owner: 0, or -1 with
 * c->why.
 */
static int kv_read(struct json_object *kv, char *key, char *owner,
		   struct call *c)
{
	struct json_object *k = member(kv, "key", json_type_string);
	struct json_object *v = member(kv, "value", json_type_string);
	char buf[ARBITER_KEY_MAX];
	int n;

	if (!k || !v) {
		set_why(c->why, sizeof(c->why),
			"bad reply: a kv without key or value");
		return -1;
	}
	n = b64_decode(json_object_get_string(k),
		       (size_t)json_object_get_string_len(k), key,
		       ARBITER_KEY_MAX - 1);
	if (n >= 0)
		key[n] = '\0';
	if (n <= 0 || strlen(key) != (size_t)n) {
		set_why(c->why, sizeof(c->why),
			"bad reply: a kv of a key that is none of ours");
		return -1;
	}
	n = b64_decode(json_object_get_string(v),
		       (size_t)json_object_get_string_len(v), buf,
		       ARBITER_NODE_MAX);
	if (n > 0)
		buf[n] = '\0';
	/* strlen: a NUL in the value must not cut it to a valid id. */
	if (n <= 0 || strlen(buf) != (size_t)n || !arbiter__valid_node(buf)) {
		set_why(c->why, sizeof(c->why),
			"key %s holds a value that is not a node id", key);
		return -1;
	}
	memcpy(owner, buf, (size_t)n + 1);
	return 0;
}

/*
 * The one kv of @kvs (an array, or NULL: no kv), of key @key, into
 * @owner: 1, 0 none, -1 with c->why.
 */
static int one_kv(struct json_object *kvs, const char *key, char *owner,
		  struct call *c)
{
	size_t n = kvs ? json_object_array_length(kvs) : 0;
	char got[ARBITER_KEY_MAX];

	if (!n)
		return 0;
	if (n > 1) {
		set_why(c->why, sizeof(c->why), "bad reply: %zu kvs for key %s",
			n, key);
		return -1;
	}
	if (kv_read(json_object_array_get_idx(kvs, 0), got, owner, c))
		return -1;
	if (strcmp(got, key)) {
		set_why(c->why, sizeof(c->why),
			"bad reply: a kv of another key than %s", key);
		return -1;
	}
	return 1;
}

/*
 * A query's range, [key, key's opened mark]: its kvs into c->ans and
 * c->owner (the owner, else the opener). OUT_ANSWER, or @failed with
 * c->why.
 */
static enum outcome etcd_query_answer(struct json_object *kvs,
				      const struct etcd_keys *k, struct call *c,
				      enum outcome failed)
{
	char key[ARBITER_KEY_MAX], node[ARBITER_NODE_MAX + 1];
	char owner[ARBITER_NODE_MAX + 1] = "",
				      opener[ARBITER_NODE_MAX + 1] = "";
	size_t n = kvs ? json_object_array_length(kvs) : 0, i;

	if (n > 2) {
		set_why(c->why, sizeof(c->why), "bad reply: %zu kvs for key %s",
			n, k->key);
		return failed;
	}
	for (i = 0; i < n; i++) {
		char *slot;

		if (kv_read(json_object_array_get_idx(kvs, i), key, node, c))
			return failed;
		slot = !strcmp(key, k->key)	 ? owner
		       : !strcmp(key, k->opened) ? opener
						 : NULL;
		if (!slot) {
			set_why(c->why, sizeof(c->why),
				"bad reply: a kv of another key than %s",
				k->key);
			return failed;
		}
		if (slot[0]) {
			set_why(c->why, sizeof(c->why),
				"bad reply: 2 kvs for key %s", key);
			return failed;
		}
		snprintf(slot, ARBITER_NODE_MAX + 1, "%s", node);
	}
	c->ans = owner[0]    ? ARBITER_GRANTED
		 : opener[0] ? ARBITER_OPENED
			     : ARBITER_FREE;
	snprintf(c->owner, sizeof(c->owner), "%s", owner[0] ? owner : opener);
	return OUT_ANSWER;
}

/*
 * The failure branch of an advance's txn: the ranges of the epoch, the
 * next one and its opened mark say why the compare failed.
 */
static enum outcome etcd_advance_answer(struct json_object *responses,
					const struct etcd_keys *k,
					struct call *c, enum outcome failed)
{
	const char *keys[3] = { k->key, k->next, k->next_opened };
	char owner[3][ARBITER_NODE_MAX + 1];
	struct json_object *range;
	int got[3];
	size_t i;

	if (json_object_array_length(responses) != 3)
		goto bad;
	for (i = 0; i < 3; i++) {
		range = member(json_object_array_get_idx(responses, i),
			       "response_range", json_type_object);
		if (!range)
			goto bad;
		got[i] = one_kv(member(range, "kvs", json_type_array), keys[i],
				owner[i], c);
		if (got[i] < 0)
			return failed;
	}
	if (!got[0]) {
		c->ans = ARBITER_FREE;
		return OUT_ANSWER;
	}
	/* Whoever owns E, then whoever owns E + 1, then its opener. */
	for (i = 0; i < 3; i++) {
		if (!got[i] || (!strcmp(owner[i], c->node) && i != 1))
			continue;
		c->ans = ARBITER_DENIED;
		snprintf(c->owner, sizeof(c->owner), "%s", owner[i]);
		return OUT_ANSWER;
	}
	if (!got[2]) {
		set_why(c->why, sizeof(c->why),
			"bad reply: the txn failed, yet key %s is %s's and "
			"%s and %s are absent",
			k->key, c->node, k->next, k->next_opened);
		return failed;
	}
	/* Opened by this node already, E still its own: idempotent. */
	c->ans = ARBITER_GRANTED;
	snprintf(c->owner, sizeof(c->owner), "%s", c->node);
	return OUT_ANSWER;
bad:
	set_why(c->why, sizeof(c->why), "bad reply: not a txn response");
	return failed;
}

/*
 * Read a 200 reply to a txn (@c->node set) or a range. Anything missing
 * or mistyped is a bad reply: OUT_ANSWER only for a full answer.
 */
static enum outcome etcd_answer(struct json_object *top,
				const struct etcd_keys *k, struct call *c,
				enum outcome failed)
{
	struct json_object *succeeded, *responses, *range, *kvs;
	int r;

	/* Every etcd response has its header: this is not some other JSON. */
	if (!member(top, "header", json_type_object))
		goto bad;
	if (!c->node) {
		/* A range: no "kvs" (proto3 leaves empty fields out) is free.
		 */
		kvs = member(top, "kvs", json_type_array);
		if (!kvs && json_object_object_get_ex(top, "kvs", NULL))
			goto bad;
		return etcd_query_answer(kvs, k, c, failed);
	}
	/* A txn: "succeeded" is left out when false. */
	succeeded = member(top, "succeeded", json_type_boolean);
	if (!succeeded && json_object_object_get_ex(top, "succeeded", NULL))
		goto bad;
	if (succeeded && json_object_get_boolean(succeeded)) {
		c->ans = ARBITER_GRANTED;
		snprintf(c->owner, sizeof(c->owner), "%s", c->node);
		return OUT_ANSWER;
	}
	responses = member(top, "responses", json_type_array);
	if (!responses)
		goto bad;
	if (c->advance)
		return etcd_advance_answer(responses, k, c, failed);
	/* The compare failed: the key exists and the range says whose. */
	if (json_object_array_length(responses) != 1)
		goto bad;
	range = member(json_object_array_get_idx(responses, 0),
		       "response_range", json_type_object);
	if (!range)
		goto bad;
	r = one_kv(member(range, "kvs", json_type_array), k->key, c->owner, c);
	if (r < 0)
		return failed;
	if (!r) {
		set_why(c->why, sizeof(c->why),
			"bad reply: the txn failed, yet key %s is absent",
			k->key);
		return failed;
	}
	c->ans = strcmp(c->owner, c->node) ? ARBITER_DENIED : ARBITER_GRANTED;
	return OUT_ANSWER;
bad:
	set_why(c->why, sizeof(c->why), "bad reply: not a %s response",
		c->node ? "txn" : "range");
	return failed;
}

#define ETCD_ERROR_SHOWN 160 /* bytes of an error reply in a why */

/*
 * An error reply's message into c->why: the gateway's JSON error, or the
 * first line of a plain-text one (etcd's HTTP layer refuses some requests
 * before the gateway sees them, such as a client certificate with a
 * Common Name once auth is on).
 */
static void etcd_error(struct json_object *top, const char *text, long status,
		       struct call *c)
{
	struct json_object *msg = member(top, "message", json_type_string);

	if (!msg)
		msg = member(top, "error", json_type_string);
	if (msg)
		set_why(c->why, sizeof(c->why), "HTTP %ld: %.160s", status,
			json_object_get_string(msg));
	else if (!top && text[0])
		set_why(c->why, sizeof(c->why), "HTTP %ld: %.*s", status,
			(int)strcspn(text, "\r\n"), text);
	else
		set_why(c->why, sizeof(c->why), "HTTP %ld", status);
}

/*
 * The token this endpoint gave us is no longer good: it expired (etcd's
 * simple tokens live 5 minutes unused), or the auth store changed since.
 * A fresh one is asked for and the request made again.
 */
static bool etcd_stale_token(struct json_object *top, long status)
{
	struct json_object *msg = member(top, "error", json_type_string);

	return status == 401 ||
	       (msg && strstr(json_object_get_string(msg),
			      "revision of auth store is old"));
}

/* What became of one POST to etcd. */
struct etcd_post {
	CURLcode res;
	long status;			 /* HTTP status, when res is CURLE_OK */
	long sent;			 /* bytes of the request that left */
	struct json_object *top;	 /* the reply's JSON, or NULL */
	char text[ETCD_ERROR_SHOWN + 1]; /* its start, for errors */
};

/*
 * POST @body to @path of @ep, by c->deadline_ms, with the token of @ep if
 * it has one. The transport is the URL's: https verifies etcd against the
 * CA alone (no system CAs: etcd's is a private one) and presents the
 * client certificate. On a transport failure, c->why says what happened.
 */
static void etcd_post(struct arbiter *a, struct endpoint *ep, const char *path,
		      const char *body, struct call *c, struct etcd_post *p)
{
	char url[PROTO_HOST_MAX + 48], errbuf[CURL_ERROR_SIZE] = "";
	char auth[ETCD_TOKEN_MAX + 32];
	struct etcd_reply reply = { 0 };
	struct curl_slist *headers = NULL, *h;
	bool https = a->be->secure;
	CURL *cu = a->curl;

	*p = (struct etcd_post){ .res = CURLE_OUT_OF_MEMORY };
	snprintf(url, sizeof(url), "%s://%s:%s%s", https ? "https" : "http",
		 ep->host, ep->port, path);
	h = curl_slist_append(NULL, "Content-Type: application/json");
	/* "Expect:" off: no 100-continue round trip, ever. */
	headers = h ? curl_slist_append(h, "Expect:") : NULL;
	if (headers && ep->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: %s", ep->token);
		h = curl_slist_append(headers, auth);
		explicit_bzero(auth, sizeof(auth));
		headers = h;
	}
	if (!headers) {
		curl_slist_free_all(h);
		set_why(c->why, sizeof(c->why), "out of memory");
		return;
	}

	curl_easy_reset(cu);
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
	curl_easy_setopt(cu, CURLOPT_PROXY, "");
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(cu, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, etcd_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS,
			 (long)(left_ms(c->deadline_ms) ?: 1));
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(left_ms(c->deadline_ms) ?: 1));
	if (https) {
		curl_easy_setopt(cu, CURLOPT_SSLVERSION,
				 (long)CURL_SSLVERSION_TLSv1_2);
		curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 2L);
		curl_easy_setopt(cu, CURLOPT_CAINFO, a->ca);
		curl_easy_setopt(cu, CURLOPT_CAPATH, NULL);
		if (a->cert) {
			curl_easy_setopt(cu, CURLOPT_SSLCERT, a->cert);
			curl_easy_setopt(cu, CURLOPT_SSLCERTTYPE, "PEM");
			curl_easy_setopt(cu, CURLOPT_SSLKEY, a->key);
			curl_easy_setopt(cu, CURLOPT_SSLKEYTYPE, "PEM");
		}
	}

	p->res = curl_easy_perform(cu);
	curl_easy_getinfo(cu, CURLINFO_REQUEST_SIZE, &p->sent);
	/* The handle keeps what it was given until the next reset. */
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	if (p->res != CURLE_OK) {
		if (reply.too_big)
			set_why(c->why, sizeof(c->why),
				"bad reply: longer than %u bytes",
				ETCD_REPLY_MAX);
		else
			set_why(c->why, sizeof(c->why), "%s",
				errbuf[0] ? errbuf
					  : curl_easy_strerror(p->res));
		free(reply.buf);
		return;
	}
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &p->status);
	p->top = json_parse(reply.buf, reply.len);
	if (reply.len)
		snprintf(p->text, sizeof(p->text), "%.*s",
			 (int)(reply.len < ETCD_ERROR_SHOWN ? reply.len
							    : ETCD_ERROR_SHOWN),
			 reply.buf);
	free(reply.buf);
}

/* Did the request of a failed POST never leave (so it cannot have acted)? */
static bool etcd_not_sent(const struct etcd_post *p)
{
	return p->res == CURLE_COULDNT_CONNECT ||
	       p->res == CURLE_COULDNT_RESOLVE_HOST ||
	       p->res == CURLE_SSL_CONNECT_ERROR ||
	       p->res == CURLE_PEER_FAILED_VERIFICATION ||
	       p->res == CURLE_SSL_CERTPROBLEM || !p->sent;
}

/*
 * Log in to @ep as a->user: its token into ep->token. 0, or -1 with
 * c->why. No request has left that could act on a key.
 */
static int etcd_login(struct arbiter *a, struct endpoint *ep, struct call *c)
{
	struct json_object *req, *tok;
	struct etcd_post p;
	const char *body, *t;
	size_t i, len;
	int rc = -1;

	ep->token[0] = '\0';
	/* json-c escapes the user and password: either may hold anything. */
	req = json_object_new_object();
	if (!req ||
	    json_object_object_add(req, "name",
				   json_object_new_string(a->user)) ||
	    json_object_object_add(req, "password",
				   json_object_new_string(a->password))) {
		json_object_put(req);
		set_why(c->why, sizeof(c->why), "out of memory");
		return -1;
	}
	body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	etcd_post(a, ep, "/v3/auth/authenticate", body, c, &p);
	/* The password leaves no copy behind in freed memory. */
	explicit_bzero((char *)body, strlen(body));
	json_object_put(req);
	if (p.res != CURLE_OK) {
		add_why(c->why, sizeof(c->why), "(logging in as %.64s)",
			a->user);
		return -1;
	}
	if (p.status != 200) {
		etcd_error(p.top, p.text, p.status, c);
		add_why(c->why, sizeof(c->why), "(logging in as %.64s)",
			a->user);
		goto out;
	}
	tok = member(p.top, "token", json_type_string);
	t = tok ? json_object_get_string(tok) : "";
	len = tok ? (size_t)json_object_get_string_len(tok) : 0;
	/* It goes into a header: one line of visible ASCII, nothing else. */
	for (i = 0; i < len && t[i] > 0x20 && t[i] < 0x7f; i++)
		;
	if (!member(p.top, "header", json_type_object) || !len ||
	    len > ETCD_TOKEN_MAX || i != len) {
		set_why(c->why, sizeof(c->why),
			"bad reply: no token for user %.64s", a->user);
		goto out;
	}
	memcpy(ep->token, t, len + 1);
	rc = 0;
out:
	json_object_put(p.top);
	return rc;
}

/* A key in base64, its NUL included. */
#define KEY64_SIZE B64_SIZE(ARBITER_KEY_MAX)

/* The request body of @c, with its keys in @k. */
static void etcd_body(const struct call *c, struct etcd_keys *k, char *body)
{
	char key64[KEY64_SIZE], end64[KEY64_SIZE], next64[KEY64_SIZE];
	char nopen64[KEY64_SIZE], node64[B64_SIZE(ARBITER_NODE_MAX)];
	size_t len;

	snprintf(k->key, sizeof(k->key), "pvft/arbiter/%" PRIu64 "/%" PRIu64,
		 c->pair, c->epoch);
	snprintf(k->opened, sizeof(k->opened),
		 "pvft/arbiter/%" PRIu64 "/%" PRIu64 "/opened", c->pair,
		 c->epoch);
	b64_encode(k->key, strlen(k->key), key64);
	if (!c->node) {
		/*
		 * One range, [K, K/opened]: the owner and the opener, read
		 * at one revision. The end is exclusive: K/opened and a NUL.
		 */
		len = strlen(k->opened) + 1;
		b64_encode(k->opened, len, end64);
		snprintf(body, ETCD_BODY_MAX,
			 "{\"key\":\"%s\",\"range_end\":\"%s\"}", key64, end64);
		return;
	}
	b64_encode(c->node, strlen(c->node), node64);
	if (!c->advance) {
		snprintf(body, ETCD_BODY_MAX,
			 "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\","
			 "\"create_revision\":\"0\"}],"
			 "\"success\":[{\"request_put\":{\"key\":\"%s\","
			 "\"value\":\"%s\"}}],"
			 "\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
			 key64, key64, node64, key64);
		return;
	}
	/*
	 * Advance: E is this node's (a missing key fails a VALUE compare),
	 * E + 1 has no owner and no opener; then E + 1 is opened by it.
	 */
	snprintf(k->next, sizeof(k->next), "pvft/arbiter/%" PRIu64 "/%" PRIu64,
		 c->pair, c->epoch + 1);
	snprintf(k->next_opened, sizeof(k->next_opened),
		 "pvft/arbiter/%" PRIu64 "/%" PRIu64 "/opened", c->pair,
		 c->epoch + 1);
	b64_encode(k->next, strlen(k->next), next64);
	b64_encode(k->next_opened, strlen(k->next_opened), nopen64);
	snprintf(body, ETCD_BODY_MAX,
		 "{\"compare\":[{\"key\":\"%s\",\"target\":\"VALUE\","
		 "\"result\":\"EQUAL\",\"value\":\"%s\"},"
		 "{\"key\":\"%s\",\"target\":\"CREATE\","
		 "\"create_revision\":\"0\"},"
		 "{\"key\":\"%s\",\"target\":\"CREATE\","
		 "\"create_revision\":\"0\"}],"
		 "\"success\":[{\"request_put\":{\"key\":\"%s\","
		 "\"value\":\"%s\"}}],"
		 "\"failure\":[{\"request_range\":{\"key\":\"%s\"}},"
		 "{\"request_range\":{\"key\":\"%s\"}},"
		 "{\"request_range\":{\"key\":\"%s\"}}]}",
		 key64, node64, next64, nopen64, nopen64, node64, key64, next64,
		 nopen64);
}

static enum outcome etcd_exchange(struct arbiter *a, struct endpoint *ep,
				  struct call *c)
{
	char body[ETCD_BODY_MAX];
	/* Once the request may have left, a txn may have been applied. */
	enum outcome failed = c->node ? OUT_MAYBE : OUT_FAILED, out;
	const char *path = c->node ? "/v3/kv/txn" : "/v3/kv/range";
	bool fresh_token = false;
	struct etcd_keys k;
	struct etcd_post p;

	etcd_body(c, &k, body);

	if (a->user && !ep->token[0]) {
		if (etcd_login(a, ep, c))
			return OUT_FAILED;
		fresh_token = true;
	}
	etcd_post(a, ep, path, body, c, &p);
	/*
	 * A token etcd no longer takes is refused before anything is
	 * applied: log in again and ask once more (an ACQUIRE asked twice
	 * by the same node is granted the same).
	 */
	if (p.res == CURLE_OK && a->user && !fresh_token &&
	    etcd_stale_token(p.top, p.status)) {
		json_object_put(p.top);
		if (etcd_login(a, ep, c))
			return OUT_FAILED;
		etcd_post(a, ep, path, body, c, &p);
	}
	if (p.res != CURLE_OK)
		return etcd_not_sent(&p) ? OUT_FAILED : failed;
	if (p.status != 200) {
		etcd_error(p.top, p.text, p.status, c);
		out = failed;
	} else if (!p.top) {
		set_why(c->why, sizeof(c->why), "bad reply: not JSON");
		out = failed;
	} else {
		out = etcd_answer(p.top, &k, c, failed);
	}
	json_object_put(p.top);
	return out;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_global_rc;

static void curl_global(void)
{
	curl_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* A copy of @s in *@dst (NULL stays NULL): 0, or -1 with @why. */
static int copy_str(char **dst, const char *s, char *why, size_t why_len)
{
	*dst = s ? strdup(s) : NULL;
	if (s && !*dst) {
		set_why(why, why_len, "out of memory");
		return -1;
	}
	return 0;
}

/* A credential file that cannot be read is said now, not at failover. */
static int readable(const char *scheme, const char *what, const char *path,
		    char *why, size_t why_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		set_why(why, why_len, "%s://: %s %.200s: %s", scheme, what,
			path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int etcd_init(struct arbiter *a, const struct arbiter_auth *auth,
		     char *why, size_t why_len)
{
	const char *sc = a->be->scheme;

	if (a->be->secure) {
		if (!auth->ca) {
			set_why(why, why_len,
				"%s://: no CA to verify etcd's certificate "
				"with",
				sc);
			return -1;
		}
		if (!auth->cert != !auth->key) {
			set_why(why, why_len,
				"%s://: a client certificate needs its key, "
				"and a key its certificate",
				sc);
			return -1;
		}
		if (readable(sc, "CA", auth->ca, why, why_len) ||
		    (auth->cert &&
		     readable(sc, "certificate", auth->cert, why, why_len)) ||
		    (auth->key && readable(sc, "key", auth->key, why, why_len)))
			return -1;
	}
	if (!auth->user != !auth->password) {
		set_why(why, why_len,
			"%s://: an etcd user needs its password, and a "
			"password its user",
			sc);
		return -1;
	}
	if (copy_str(&a->ca, a->be->secure ? auth->ca : NULL, why, why_len) ||
	    copy_str(&a->cert, a->be->secure ? auth->cert : NULL, why,
		     why_len) ||
	    copy_str(&a->key, a->be->secure ? auth->key : NULL, why, why_len) ||
	    copy_str(&a->user, auth->user, why, why_len) ||
	    copy_str(&a->password, auth->password, why, why_len))
		return -1;
	pthread_once(&curl_once, curl_global);
	if (curl_global_rc == CURLE_OK)
		a->curl = curl_easy_init();
	if (!a->curl) {
		set_why(why, why_len, "%s://: cannot set up libcurl", sc);
		return -1;
	}
	return 0;
}

static void etcd_dispose(struct arbiter *a)
{
	size_t i;

	if (a->curl)
		curl_easy_cleanup(a->curl);
	if (a->password)
		explicit_bzero(a->password, strlen(a->password));
	for (i = 0; i < a->nr_ep; i++)
		explicit_bzero(a->ep[i].token, sizeof(a->ep[i].token));
	free(a->ca);
	free(a->cert);
	free(a->key);
	free(a->user);
	free(a->password);
}

static int pvft_init(struct arbiter *a, const struct arbiter_auth *auth,
		     char *why, size_t why_len)
{
	if (auth->domain_key) {
		memcpy(a->domain_key, auth->domain_key, TLS_KEY_LEN);
		a->have_key = true;
		return 0;
	}
	if (auth->insecure)
		return 0;
	set_why(why, why_len,
		"pvft://: no key: pvft-arbiter takes only clients that prove "
		"their pair's key (the domain key), or plaintext when "
		"insecure");
	return -1;
}

static void pvft_dispose(struct arbiter *a)
{
	explicit_bzero(a->domain_key, sizeof(a->domain_key));
}

static const struct backend backends[] = {
	{ "pvft", 1, true, pvft_init, pvft_dispose, pvft_exchange },
	{ "etcds", ARBITER_ENDPOINTS_MAX, true, etcd_init, etcd_dispose,
	  etcd_exchange },
	{ "etcd", ARBITER_ENDPOINTS_MAX, false, etcd_init, etcd_dispose,
	  etcd_exchange },
};

/* ---- URLs ---- */

int arbiter__open(struct arbiter **a_r, const char *url,
		  const struct arbiter_auth *auth, char *why, size_t why_len)
{
	static const struct arbiter_auth none = { 0 };
	const struct backend *be = NULL;
	char hp_why[ARBITER_EXCHANGE_WHY];
	const char *sep, *p, *comma;
	struct arbiter *a = NULL;
	size_t len, i, scheme_len;

	*a_r = NULL;
	set_why(why, why_len, "%s", "");
	len = url ? strnlen(url, ARBITER_URL_MAX + 1) : 0;
	if (!len) {
		set_why(why, why_len, "empty URL");
		return -1;
	}
	if (len > ARBITER_URL_MAX) {
		set_why(why, why_len, "URL longer than %d bytes",
			ARBITER_URL_MAX);
		return -1;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] > 0x7e) {
			set_why(why, why_len,
				"URL holds a space or a byte that is not "
				"printable ASCII");
			return -1;
		}
	sep = strstr(url, "://");
	if (!sep) {
		set_why(why, why_len,
			"'%.64s' is not a URL: want pvft://HOST:PORT or "
			"etcds://HOST:PORT[,HOST:PORT...]",
			url);
		return -1;
	}
	scheme_len = (size_t)(sep - url);
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strlen(backends[i].scheme) == scheme_len &&
		    !memcmp(backends[i].scheme, url, scheme_len))
			be = &backends[i];
	if (!be) {
		set_why(why, why_len,
			"unknown scheme '%.*s': want pvft://, etcds:// or "
			"etcd://",
			(int)(scheme_len < 32 ? scheme_len : 32), url);
		return -1;
	}
	a = calloc(1, sizeof(*a));
	if (!a || !(a->url = strdup(url))) {
		set_why(why, why_len, "out of memory");
		goto fail;
	}
	a->be = be;
	for (p = sep + 3;; p = comma + 1) {
		comma = strchr(p, ',');
		if (!comma)
			comma = p + strlen(p);
		if (a->nr_ep == be->max_endpoints) {
			set_why(why, why_len, "%s://: %s", be->scheme,
				be->max_endpoints == 1
				    ? "one HOST:PORT only"
				    : "too many endpoints (at most 16)");
			goto fail;
		}
		if (proto__parse_hostport(
			p, (size_t)(comma - p), a->ep[a->nr_ep].host,
			a->ep[a->nr_ep].port, false, hp_why, sizeof(hp_why))) {
			set_why(why, why_len, "%s://: %s", be->scheme, hp_why);
			goto fail;
		}
		a->nr_ep++;
		if (!*comma)
			break;
	}
	if (!auth)
		auth = &none;
	if (!be->secure && !auth->insecure) {
		set_why(why, why_len,
			"%s:// is plaintext: use etcds:// (https), or allow "
			"plaintext (insecure)",
			be->scheme);
		goto fail;
	}
	if (be->init(a, auth, why, why_len))
		goto fail;
	*a_r = a;
	return 0;
fail:
	arbiter__close(a);
	return -1;
}

void arbiter__close(struct arbiter *a)
{
	if (!a)
		return;
	if (a->be && a->be->dispose)
		a->be->dispose(a);
	free(a->url);
	free(a);
}

const char *arbiter__url(const struct arbiter *a)
{
	return a->url;
}

/* ---- the driver ---- */

/*
 * Ask @c of the endpoints in turn, from the one that answered last, until
 * one answers, within @timeout_ms in all: each gets an equal share of the
 * time left, so a dead endpoint that does not refuse cannot use it all.
 * OUT_ANSWER, or OUT_FAILED with each endpoint's failure added to @why;
 * *@maybe_r is set if an exchange failed after it may have acted.
 */
static enum outcome ask(struct arbiter *a, struct call *c, unsigned timeout_ms,
			bool *maybe_r, char *why, size_t why_len)
{
	uint64_t end = clock__mono_ms() + timeout_ms;
	struct endpoint *ep;
	enum outcome out;
	size_t i, idx;
	unsigned left;

	for (i = 0; i < a->nr_ep; i++) {
		idx = (a->last + i) % a->nr_ep;
		ep = &a->ep[idx];
		left = left_ms(end);
		if (!left) {
			add_why(why, why_len, "%s:%s: not asked: out of time",
				ep->host, ep->port);
			continue;
		}
		c->deadline_ms = clock__mono_ms() + left / (a->nr_ep - i) + 1;
		c->why[0] = '\0';
		out = a->be->exchange(a, ep, c);
		if (out == OUT_ANSWER) {
			a->last = idx;
			return OUT_ANSWER;
		}
		if (out == OUT_MAYBE)
			*maybe_r = true;
		add_why(why, why_len, "%s:%s: %s", ep->host, ep->port,
			c->why[0] ? c->why : "failed");
	}
	return OUT_FAILED;
}

enum arbiter_answer arbiter__acquire(struct arbiter *a, uint64_t pair,
				     uint64_t epoch, const char *node,
				     unsigned timeout_ms, char *owner,
				     char *why, size_t why_len)
{
	struct call c = { .pair = pair, .epoch = epoch, .node = node };
	struct call q = { .pair = pair, .epoch = epoch };
	bool maybe = false, ignored = false;

	owner[0] = '\0';
	set_why(why, why_len, "%s", "");
	if (!arbiter__valid_node(node)) {
		set_why(why, why_len,
			"bad node id: want 1 to %d of "
			"[A-Za-z0-9._-]",
			ARBITER_NODE_MAX);
		return ARBITER_UNREACHABLE;
	}
	if (ask(a, &c, timeout_ms, &maybe, why, why_len) == OUT_ANSWER) {
		set_why(why, why_len, "%s", "");
		snprintf(owner, ARBITER_NODE_MAX + 1, "%s", c.owner);
		return c.ans;
	}
	if (!maybe)
		return ARBITER_UNREACHABLE;
	add_why(why, why_len, "reading the owner back");
	/*
	 * The request may have been applied with its answer lost: the owner,
	 * read back, says whether it was. Never answer UNREACHABLE for a key
	 * this node may own without trying this first, with time of its own.
	 */
	if (ask(a, &q, timeout_ms, &ignored, why, why_len) != OUT_ANSWER)
		return ARBITER_UNREACHABLE;
	/* Opened (by an advance) is still owned by nobody. */
	if (q.ans == ARBITER_FREE || q.ans == ARBITER_OPENED) {
		add_why(why, why_len,
			"read back: the key is free, the "
			"request was not applied");
		return ARBITER_UNREACHABLE;
	}
	set_why(why, why_len, "%s", "");
	snprintf(owner, ARBITER_NODE_MAX + 1, "%s", q.owner);
	return strcmp(q.owner, node) ? ARBITER_DENIED : ARBITER_GRANTED;
}

enum arbiter_answer arbiter__query(struct arbiter *a, uint64_t pair,
				   uint64_t epoch, unsigned timeout_ms,
				   char *owner, char *why, size_t why_len)
{
	struct call q = { .pair = pair, .epoch = epoch };
	bool ignored = false;

	owner[0] = '\0';
	set_why(why, why_len, "%s", "");
	if (ask(a, &q, timeout_ms, &ignored, why, why_len) != OUT_ANSWER)
		return ARBITER_UNREACHABLE;
	set_why(why, why_len, "%s", "");
	if (q.ans == ARBITER_GRANTED || q.ans == ARBITER_OPENED)
		snprintf(owner, ARBITER_NODE_MAX + 1, "%s", q.owner);
	return q.ans;
}

enum arbiter_answer arbiter__advance(struct arbiter *a, uint64_t pair,
				     uint64_t epoch, const char *node,
				     unsigned timeout_ms, char *owner,
				     char *why, size_t why_len)
{
	struct call c = {
		.pair = pair,
		.epoch = epoch,
		.node = node,
		.advance = true,
	};
	struct call q = { .pair = pair, .epoch = epoch + 1 };
	bool maybe = false, ignored = false;

	owner[0] = '\0';
	set_why(why, why_len, "%s", "");
	if (!arbiter__valid_node(node)) {
		set_why(why, why_len,
			"bad node id: want 1 to %d of "
			"[A-Za-z0-9._-]",
			ARBITER_NODE_MAX);
		return ARBITER_UNREACHABLE;
	}
	if (epoch == UINT64_MAX) {
		set_why(why, why_len,
			"epoch %" PRIu64 " has no next epoch to open", epoch);
		return ARBITER_UNREACHABLE;
	}
	if (ask(a, &c, timeout_ms, &maybe, why, why_len) == OUT_ANSWER) {
		set_why(why, why_len, "%s", "");
		if (c.ans != ARBITER_FREE)
			snprintf(owner, ARBITER_NODE_MAX + 1, "%s", c.owner);
		return c.ans;
	}
	if (!maybe)
		return ARBITER_UNREACHABLE;
	add_why(why, why_len, "reading the next epoch back");
	/* As an acquire's: was it applied, with its answer lost? */
	if (ask(a, &q, timeout_ms, &ignored, why, why_len) != OUT_ANSWER)
		return ARBITER_UNREACHABLE;
	if (q.ans != ARBITER_OPENED || strcmp(q.owner, node)) {
		add_why(why, why_len,
			"read back: epoch %" PRIu64 " is %s%s, not opened by "
			"%s",
			epoch + 1,
			q.ans == ARBITER_GRANTED  ? "owned by "
			: q.ans == ARBITER_OPENED ? "opened by "
						  : "free",
			q.ans == ARBITER_FREE ? "" : q.owner, node);
		return ARBITER_UNREACHABLE;
	}
	set_why(why, why_len, "%s", "");
	snprintf(owner, ARBITER_NODE_MAX + 1, "%s", node);
	return ARBITER_GRANTED;
}
