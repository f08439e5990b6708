/* SPDX-License-Identifier: MIT */
/*
 * The pvft-arbiter line protocol (Documentation/arbiter-protocol.md): the
 * one grammar of request and reply lines, shared by the client (arbiter.c)
 * and the daemon (pvft-arbiter.c), and the HOST:PORT syntax of URLs and
 * --listen. A line is handed over without its newline, as bytes that may
 * hold anything a peer sent (NULs included); a CR right before the newline
 * is allowed and ignored.
 */
#ifndef PVFT_ARBITER_PROTO_H
#define PVFT_ARBITER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arbiter.h"

#define PROTO_LINE_MAX 256 /* bytes in a line, its newline included */
/* A buffer for a line written out: the longest line and a NUL. */
#define PROTO_BUF_SIZE (PROTO_LINE_MAX + 1)
/* The longest reason an ERROR line carries: the line minus "ERROR \n". */
#define PROTO_REASON_MAX (PROTO_LINE_MAX - 7)
#define PROTO_HOST_MAX 253 /* a DNS name's limit */

enum proto_verb {
	PROTO_ACQUIRE,
	PROTO_QUERY,
	PROTO_ADVANCE,
};

struct proto_request {
	enum proto_verb verb;
	uint64_t pair, epoch;
	char node[ARBITER_NODE_MAX + 1]; /* ACQUIRE, ADVANCE */
};

enum proto_reply_kind {
	PROTO_GRANTED,	/* ACQUIRE: node owns the key */
	PROTO_DENIED,	/* ACQUIRE, ADVANCE: node is the other owner (or,
			 * ADVANCE, the owner or opener of the next epoch) */
	PROTO_OWNER,	/* QUERY: node owns the key */
	PROTO_FREE,	/* QUERY: nobody owns or opened it; ADVANCE:
			 * nobody owns the epoch advanced from */
	PROTO_ERROR,	/* the request was not understood or not served */
	PROTO_ADVANCED, /* ADVANCE: node opened the next epoch */
	PROTO_OPENED,	/* QUERY: nobody owns the key, node opened it */
};

struct proto_reply {
	enum proto_reply_kind kind;
	/* GRANTED, DENIED, OWNER, ADVANCED, OPENED */
	char node[ARBITER_NODE_MAX + 1];
	char reason[PROTO_REASON_MAX + 1]; /* ERROR */
};

/*
 * A decimal u64 as the protocol writes it: 1 to 20 digits, no sign, no
 * leading zero (one spelling per number), no overflow. 0 or -EINVAL.
 */
int proto__parse_u64(const char *s, size_t len, uint64_t *v_r);

/*
 * Parse a request line. 0, or -EINVAL with @why (printable ASCII, at most
 * PROTO_REASON_MAX characters) saying what is wrong. An ADVANCE of epoch
 * 2^64 - 1 is refused here: there is no next epoch to open.
 */
int proto__parse_request(const char *line, size_t len,
			 struct proto_request *req, char *why, size_t why_len);
/*
 * The request as a line, newline included, in @buf (PROTO_BUF_SIZE bytes,
 * NUL-terminated): its length, or -EINVAL for a bad node (or an ADVANCE
 * of epoch 2^64 - 1).
 */
int proto__format_request(const struct proto_request *req, char *buf);

/*
 * The pair a pvft-arbiter client proved the key of, from its PSK identity
 * "pvft-pair-<pair>" (TLS_ARBITER_IDENTITY_PREFIX, then the pair spelled
 * as every number here: one identity per pair). 0 or -EINVAL.
 */
int proto__parse_identity(const char *identity, uint64_t *pair_r);

/* A request's verb as written on the line ("ACQUIRE", ...). */
const char *proto__verb_word(enum proto_verb verb);
/* A reply's first word ("GRANTED", ...). */
const char *proto__reply_word(enum proto_reply_kind kind);

/* Parse a reply line: 0 or -EINVAL. */
int proto__parse_reply(const char *line, size_t len, struct proto_reply *rep);
/*
 * The reply as a line, newline included, in @buf (PROTO_BUF_SIZE bytes,
 * NUL-terminated): its length. An ERROR reason is cut to fit, and bytes
 * that are not printable ASCII become '?'.
 */
int proto__format_reply(const struct proto_reply *rep, char *buf);

/*
 * Split "HOST:PORT" (@len bytes of @s) into @host (PROTO_HOST_MAX + 1
 * bytes) and @port (6 bytes). HOST is an IPv4 address or a DNS name;
 * PORT is 1..65535, or 0 too with @port_zero_ok. 0, or -EINVAL with @why.
 */
int proto__parse_hostport(const char *s, size_t len, char *host, char *port,
			  bool port_zero_ok, char *why, size_t why_len);

#endif /* PVFT_ARBITER_PROTO_H */
