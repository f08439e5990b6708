// SPDX-License-Identifier: MIT
/*
 * The line protocol's grammar. Lines come from the network: every length
 * is checked before a byte is read, nothing assumes a NUL terminator, and
 * a line that does not match the grammar exactly is refused, not repaired.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hostport.h"
#include "proto.h"
#include "tls.h"

#define MAX_FIELDS 4	  /* the most a request has: ACQUIRE + 3 */
#define VERB_SHOWN 32	  /* characters of an unknown verb in the reason */
#define U64_DIGITS_MAX 20 /* 18446744073709551615 */
#define DNS_LABEL_MAX 63

struct field {
	const char *p;
	size_t len;
};

static void set_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* A CR right before the (removed) newline is tolerated: telnet sends it. */
static size_t strip_cr(const char *line, size_t len)
{
	return len && line[len - 1] == '\r' ? len - 1 : len;
}

static bool printable(const char *p, size_t len, bool space_ok)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x20 || c > 0x7e || (c == ' ' && !space_ok))
			return false;
	}
	return true;
}

static bool is_field(const struct field *f, const char *s)
{
	return f->len == strlen(s) && !memcmp(f->p, s, f->len);
}

int proto__parse_u64(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t i;

	if (!len || len > U64_DIGITS_MAX || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

/* A node id field into @node (ARBITER_NODE_MAX + 1 bytes): 0 or -EINVAL. */
static int parse_node(const struct field *f, char *node)
{
	char buf[ARBITER_NODE_MAX + 1];

	if (!f->len || f->len > ARBITER_NODE_MAX)
		return -EINVAL;
	memcpy(buf, f->p, f->len);
	buf[f->len] = '\0';
	if (!arbiter__valid_node(buf))
		return -EINVAL;
	memcpy(node, buf, f->len + 1);
	return 0;
}

/*
 * Split @line at single spaces into at most MAX_FIELDS fields: their
 * number, or -EINVAL for an empty field (a leading, trailing or doubled
 * space) or too many.
 */
static int split(const char *line, size_t len, struct field *fields)
{
	size_t start = 0, i;
	int n = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (i == start || n == MAX_FIELDS)
			return -EINVAL;
		fields[n].p = line + start;
		fields[n].len = i - start;
		n++;
		start = i + 1;
	}
	return n;
}

int proto__parse_request(const char *line, size_t len,
			 struct proto_request *req, char *why, size_t why_len)
{
	struct field f[MAX_FIELDS];
	int n, want;

	len = strip_cr(line, len);
	if (!len) {
		set_why(why, why_len, "empty line");
		return -EINVAL;
	}
	if (len >= PROTO_LINE_MAX) {
		set_why(why, why_len, "line too long");
		return -EINVAL;
	}
	if (!printable(line, len, true)) {
		set_why(why, why_len, "not printable ASCII");
		return -EINVAL;
	}
	n = split(line, len, f);
	if (n < 0) {
		set_why(why, why_len,
			"fields must be separated by exactly one space");
		return -EINVAL;
	}
	*req = (struct proto_request){ 0 };
	if (is_field(&f[0], "ACQUIRE")) {
		req->verb = PROTO_ACQUIRE;
		want = 4;
	} else if (is_field(&f[0], "QUERY")) {
		req->verb = PROTO_QUERY;
		want = 3;
	} else if (is_field(&f[0], "ADVANCE")) {
		req->verb = PROTO_ADVANCE;
		want = 4;
	} else {
		set_why(why, why_len, "unknown verb '%.*s'",
			(int)(f[0].len < VERB_SHOWN ? f[0].len : VERB_SHOWN),
			f[0].p);
		return -EINVAL;
	}
	if (n != want) {
		set_why(why, why_len, "%s takes %s",
			proto__verb_word(req->verb),
			want == 4 ? "PAIR EPOCH NODE" : "PAIR EPOCH");
		return -EINVAL;
	}
	if (proto__parse_u64(f[1].p, f[1].len, &req->pair)) {
		set_why(why, why_len, "bad PAIR: want a decimal u64");
		return -EINVAL;
	}
	if (proto__parse_u64(f[2].p, f[2].len, &req->epoch)) {
		set_why(why, why_len, "bad EPOCH: want a decimal u64");
		return -EINVAL;
	}
	if (want == 4 && parse_node(&f[3], req->node)) {
		set_why(why, why_len,
			"bad NODE: want 1 to %d of [A-Za-z0-9._-]",
			ARBITER_NODE_MAX);
		return -EINVAL;
	}
	if (req->verb == PROTO_ADVANCE && req->epoch == UINT64_MAX) {
		set_why(why, why_len,
			"bad EPOCH: %" PRIu64 " has no next epoch to open",
			req->epoch);
		return -EINVAL;
	}
	return 0;
}

const char *proto__verb_word(enum proto_verb verb)
{
	switch (verb) {
	case PROTO_ACQUIRE:
		return "ACQUIRE";
	case PROTO_QUERY:
		return "QUERY";
	case PROTO_ADVANCE:
		return "ADVANCE";
	}
	return "?";
}

int proto__format_request(const struct proto_request *req, char *buf)
{
	if (req->verb == PROTO_QUERY)
		return snprintf(buf, PROTO_BUF_SIZE,
				"QUERY %" PRIu64 " %" PRIu64 "\n", req->pair,
				req->epoch);
	if (!arbiter__valid_node(req->node) ||
	    (req->verb == PROTO_ADVANCE && req->epoch == UINT64_MAX))
		return -EINVAL;
	return snprintf(buf, PROTO_BUF_SIZE, "%s %" PRIu64 " %" PRIu64 " %s\n",
			proto__verb_word(req->verb), req->pair, req->epoch,
			req->node);
}

int proto__parse_identity(const char *identity, uint64_t *pair_r)
{
	size_t plen = strlen(TLS_ARBITER_IDENTITY_PREFIX), len;

	len = strnlen(identity, TLS_IDENTITY_MAX + 1);
	if (len > TLS_IDENTITY_MAX || len <= plen ||
	    memcmp(identity, TLS_ARBITER_IDENTITY_PREFIX, plen))
		return -EINVAL;
	return proto__parse_u64(identity + plen, len - plen, pair_r);
}

static const char *const reply_words[] = {
	[PROTO_GRANTED] = "GRANTED", [PROTO_DENIED] = "DENIED",
	[PROTO_OWNER] = "OWNER",     [PROTO_FREE] = "FREE",
	[PROTO_ERROR] = "ERROR",     [PROTO_ADVANCED] = "ADVANCED",
	[PROTO_OPENED] = "OPENED",
};

const char *proto__reply_word(enum proto_reply_kind kind)
{
	return (size_t)kind < sizeof(reply_words) / sizeof(reply_words[0])
		   ? reply_words[kind]
		   : "?";
}

int proto__parse_reply(const char *line, size_t len, struct proto_reply *rep)
{
	const char *sp;
	struct field arg;
	size_t i, word_len;

	len = strip_cr(line, len);
	if (!len || len >= PROTO_LINE_MAX || !printable(line, len, true))
		return -EINVAL;
	sp = memchr(line, ' ', len);
	word_len = sp ? (size_t)(sp - line) : len;
	arg.p = sp ? sp + 1 : line + len;
	arg.len = sp ? len - word_len - 1 : 0;
	*rep = (struct proto_reply){ 0 };
	for (i = 0; i < sizeof(reply_words) / sizeof(reply_words[0]); i++)
		if (word_len == strlen(reply_words[i]) &&
		    !memcmp(line, reply_words[i], word_len))
			break;
	switch (i) {
	case PROTO_GRANTED:
	case PROTO_DENIED:
	case PROTO_OWNER:
	case PROTO_ADVANCED:
	case PROTO_OPENED:
		if (!sp || parse_node(&arg, rep->node))
			return -EINVAL;
		break;
	case PROTO_FREE:
		if (sp)
			return -EINVAL;
		break;
	case PROTO_ERROR:
		if (!sp || !arg.len || arg.len > PROTO_REASON_MAX)
			return -EINVAL;
		memcpy(rep->reason, arg.p, arg.len);
		rep->reason[arg.len] = '\0';
		break;
	default:
		return -EINVAL;
	}
	rep->kind = (enum proto_reply_kind)i;
	return 0;
}

int proto__format_reply(const struct proto_reply *rep, char *buf)
{
	const char *word = reply_words[rep->kind];
	size_t n, i;

	switch (rep->kind) {
	case PROTO_GRANTED:
	case PROTO_DENIED:
	case PROTO_OWNER:
	case PROTO_ADVANCED:
	case PROTO_OPENED:
		return snprintf(buf, PROTO_BUF_SIZE, "%s %s\n", word,
				rep->node);
	case PROTO_FREE:
		return snprintf(buf, PROTO_BUF_SIZE, "%s\n", word);
	case PROTO_ERROR:
		break;
	}
	n = (size_t)snprintf(buf, PROTO_BUF_SIZE, "ERROR ");
	for (i = 0; rep->reason[i] && i < PROTO_REASON_MAX; i++) {
		unsigned char c = (unsigned char)rep->reason[i];

		buf[n++] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
	}
	if (!i)
		buf[n++] = '?';
	buf[n++] = '\n';
	buf[n] = '\0';
	return (int)n;
}

/* A DNS name: dot-separated labels of [A-Za-z0-9-], none starting or
 * ending with '-'. */
static bool valid_dns_name(const char *s, size_t len)
{
	size_t i, label = 0;

	if (!len || len > PROTO_HOST_MAX)
		return false;
	for (i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';

		if (c == '.') {
			if (!label || s[i - 1] == '-' || s[i - label] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-') ||
		    ++label > DNS_LABEL_MAX)
			return false;
	}
	return true;
}

int proto__parse_hostport(const char *s, size_t len, char *host, char *port,
			  bool port_zero_ok, char *why, size_t why_len)
{
	const char *first;
	struct hostport hp;
	size_t host_len, port_len, i;
	bool numeric = true;
	struct in_addr addr;
	uint64_t v;

	if (!len) {
		set_why(why, why_len, "no HOST:PORT");
		return -EINVAL;
	}
	if (!printable(s, len, false)) {
		set_why(why, why_len,
			"HOST:PORT holds a space or a byte that is "
			"not printable ASCII");
		return -EINVAL;
	}
	if (s[0] == '[') {
		set_why(why, why_len, "'%.*s': IPv6 is not supported", (int)len,
			s);
		return -EINVAL;
	}
	if (hostport__split(s, len, &hp)) {
		set_why(why, why_len, "'%.*s': no port", (int)len, s);
		return -EINVAL;
	}
	/* No IPv6 here: HOST ends at the first colon, a second is PORT's. */
	first = memchr(s, ':', len);
	host_len = (size_t)(first - s);
	port_len = len - host_len - 1;
	if (!host_len) {
		set_why(why, why_len, "'%.*s': no host", (int)len, s);
		return -EINVAL;
	}
	if (first + 1 != hp.port ||
	    proto__parse_u64(hp.port, hp.port_len, &v) || v > 65535 ||
	    (!v && !port_zero_ok)) {
		set_why(why, why_len, "'%.*s': bad port '%.*s'", (int)len, s,
			(int)port_len, first + 1);
		return -EINVAL;
	}
	for (i = 0; i < host_len; i++)
		numeric &= (s[i] >= '0' && s[i] <= '9') || s[i] == '.';
	if (host_len > PROTO_HOST_MAX || !valid_dns_name(s, host_len)) {
		set_why(why, why_len, "'%.*s': bad host", (int)len, s);
		return -EINVAL;
	}
	memcpy(host, s, host_len);
	host[host_len] = '\0';
	/* All digits and dots is an IPv4 address, never a name. */
	if (numeric && inet_pton(AF_INET, host, &addr) != 1) {
		set_why(why, why_len, "'%.*s': bad IPv4 address", (int)len, s);
		return -EINVAL;
	}
	snprintf(port, 6, "%" PRIu64, v);
	return 0;
}
