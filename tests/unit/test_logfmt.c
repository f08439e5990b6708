// SPDX-License-Identifier: MIT
/*
 * logfmt: the CRC against published vectors; header and records against
 * bytes laid out here by hand from Documentation/log-format.md (not by the
 * encoder under test); then one mutation per check the decoder makes. Any
 * input the decoder sees is copied into a buffer of exactly its size, so
 * that ASan catches a read past what it was given.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "logfmt.h"
#include "pvft/abi.h"
#include "unit.h"

/* Assert with the caller's line, so a failure names the mutated case. */
#define CHECK_AT(cond, line) \
	CU_assertImplementation(!!(cond), (line), #cond, __FILE__, "", CU_FALSE)

#define SAMPLE_SEQ 7
#define SAMPLE_ORDINAL 0x123456789aull
#define SAMPLE_RIP 0xffffffff80001234ull
#define SAMPLE_NR 48
#define SAMPLE_NEXT_ORDINAL 0x123456789bull
#define SAMPLE_OUT_BYTES 0x0102030405060708ull
#define SAMPLE_RECEIVED 0x1122334455667788ull
#define SAMPLE_REPLAYED 0x1122334455660000ull
#define UNKNOWN_OPTIONAL 0x8123
#define BIG 8192 /* more than any test record here takes */

static uint8_t pattern[PVFT_RANDOM_MAX + 8]; /* never 0 */

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* An exact-size heap copy: reading past @len is an ASan report. */
static uint8_t *exact(const uint8_t *buf, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	if (len)
		memcpy(p, buf, len);
	return p;
}

static long decode(const uint8_t *buf, size_t len, struct logfmt_record *r,
		   struct logfmt_error *e)
{
	uint8_t *p = exact(buf, len);
	long n;

	memset(e, 0, sizeof(*e));
	n = logfmt__decode_record(p, len, r, e);
	free(p);
	/* r's pointers pointed into p: only its scalar fields are used. */
	return n;
}

/* A record laid out by hand: head, @payload padded, tail, good CRC. */
static size_t raw_record(uint8_t *out, uint16_t type, uint16_t flags,
			 const uint8_t *payload, uint32_t len)
{
	size_t padded = (len + 7) & ~7u;

	memset(out, 0, 24 + padded + 8);
	le64(out, SAMPLE_SEQ);
	le64(out + 8, SAMPLE_ORDINAL);
	le16(out + 16, type);
	le16(out + 18, flags);
	le32(out + 20, len);
	if (len)
		memcpy(out + 24, payload, len);
	le32(out + 24 + padded, logfmt__crc32c(0, out, 24 + padded));
	return 24 + padded + 8;
}

/* Recompute the CRC after a mutation, so that the next check is hit. */
static void resign(uint8_t *rec)
{
	size_t padded = (rd32(rec + 20) + 7) & ~7u;

	le32(rec + 24 + padded, logfmt__crc32c(0, rec, 24 + padded));
}

static void expect_error_at(const uint8_t *buf, size_t len, const char *msg,
			    int line)
{
	struct logfmt_record r;
	struct logfmt_error e;

	CHECK_AT(decode(buf, len, &r, &e) == -1, line);
	CHECK_AT(strstr(e.msg, msg), line);
	if (!strstr(e.msg, msg))
		fprintf(stderr, "\n  line %d: got \"%s\", want \"%s\"\n", line,
			e.msg, msg);
}

#define expect_error(buf, len, msg) \
	expect_error_at((buf), (len), (msg), __LINE__)

/* A raw record of @type with @payload, expected to be refused. */
#define expect_payload_error(type, payload, len, msg)                      \
	do {                                                               \
		uint8_t rec_[BIG];                                         \
		size_t n_ = raw_record(rec_, (type), 0, (payload), (len)); \
		expect_error(rec_, n_, (msg));                             \
	} while (0)

static const struct logfmt_pos sample_pos = { SAMPLE_RIP, SAMPLE_NR };
static const struct logfmt_digest_value sample_v = { 0x1111111111111111ull,
						     0x2222222222222222ull,
						     12345,
						     0x4444444444444444ull };

/*
 * HELLO has two lengths: sample(LOGFMT_HELLO, len) has a reason of @len
 * bytes (refused if any) and a node id of this many, so that one length
 * walks both through their ranges.
 */
static uint32_t hello_node_len(uint32_t len)
{
	return 1 + len % LOGFMT_HELLO_NODE_MAX;
}

/* A record of @type with distinct values in every field; @len for the
 * variable-length ones. */
static struct logfmt_record sample(uint16_t type, uint32_t len)
{
	struct logfmt_record r = { .seq = SAMPLE_SEQ,
				   .ordinal = SAMPLE_ORDINAL,
				   .type = type };

	switch (type) {
	case LOGFMT_BOOT:
		r.u.boot = (struct logfmt_boot){
			1700000000123456789ull, 0xabcd1234, len,
			(const char *)pattern,	0,	    { { 0 } }
		};
		break;
	case LOGFMT_TIME:
		r.u.time =
		    (struct logfmt_time){ sample_pos, PVFT_CLOCK_WALL, -22 };
		break;
	case LOGFMT_RANDOM:
		r.u.random = (struct logfmt_random){ sample_pos, len, pattern };
		break;
	case LOGFMT_TIMER:
		r.u.timer.pos = sample_pos;
		break;
	case LOGFMT_CONSOLE_IN:
		r.u.console_in = (struct logfmt_console_in){
			sample_pos, LOGFMT_CONSOLE_CLOSED, len, pattern
		};
		break;
	case LOGFMT_NET_RX:
		r.u.net_rx =
		    (struct logfmt_net_rx){ sample_pos, 0,
					    len < PVFT_NET_FRAME_MIN ? 60 : len,
					    pattern };
		break;
	case LOGFMT_DIGEST:
		r.u.digest =
		    (struct logfmt_digest){ sample_pos, 987654321000ull,
					    sample_v };
		break;
	case LOGFMT_END:
		r.u.end = (struct logfmt_end){ 3, LOGFMT_END_HOST, 0,
					       987654321999ull, sample_v };
		break;
	case LOGFMT_NOTE:
		r.u.note = (struct logfmt_note){ len, (const char *)pattern };
		break;
	case LOGFMT_PROGRESS:
		r.u.progress.next_ordinal = SAMPLE_NEXT_ORDINAL;
		break;
	case LOGFMT_RELEASED:
	case LOGFMT_HANDOVER:
		r.u.released.out_bytes = SAMPLE_OUT_BYTES;
		break;
	case LOGFMT_ACK:
		r.u.ack =
		    (struct logfmt_ack){ SAMPLE_RECEIVED, SAMPLE_REPLAYED };
		break;
	case LOGFMT_HELLO:
		r.u.hello = (struct logfmt_hello){
			LOGFMT_ROLE_BACKUP,    len > 0,
			hello_node_len(len),   len,
			(const char *)pattern, (const char *)pattern + 64
		};
		break;
	case LOGFMT_MOVE:
		r.u.move =
		    (struct logfmt_move){ SAMPLE_RECEIVED,
					  len % (LOGFMT_MOVE_ADDR_MAX + 1),
					  len ? (const char *)pattern : NULL };
		break;
	case LOGFMT_RESUME:
		r.u.resume.first_seq = SAMPLE_RECEIVED;
		break;
	default:
		r.len = len;
		r.payload = pattern;
		break;
	}
	return r;
}

static void put_pos(uint8_t *p)
{
	le64(p, SAMPLE_RIP);
	le32(p + 8, SAMPLE_NR);
}

static void put_v(uint8_t *p)
{
	le64(p, sample_v.mem);
	le64(p + 8, sample_v.regs);
	le64(p + 16, sample_v.out_bytes);
	le64(p + 24, sample_v.out_hash);
}

/* sample(@type, @len)'s payload, laid out from the spec's tables. */
static uint32_t sample_payload(uint16_t type, uint32_t len, uint8_t *p)
{
	memset(p, 0, BIG);
	switch (type) {
	case LOGFMT_BOOT:
		le64(p, 1700000000123456789ull);
		le32(p + 8, 0xabcd1234);
		le32(p + 12, len);
		memcpy(p + 16, pattern, len);
		return 16 + len;
	case LOGFMT_TIME:
		put_pos(p);
		le32(p + 16, PVFT_CLOCK_WALL);
		le64(p + 24, (uint64_t)-22);
		return 32;
	case LOGFMT_RANDOM:
		put_pos(p);
		le32(p + 16, len);
		memcpy(p + 24, pattern, len);
		return 24 + len;
	case LOGFMT_TIMER:
		put_pos(p);
		return 16;
	case LOGFMT_CONSOLE_IN:
		put_pos(p);
		le32(p + 16, LOGFMT_CONSOLE_CLOSED);
		le32(p + 20, len);
		memcpy(p + 24, pattern, len);
		return 24 + len;
	case LOGFMT_NET_RX:
		if (len < PVFT_NET_FRAME_MIN)
			len = 60;
		put_pos(p);
		le32(p + 20, len);
		memcpy(p + 24, pattern, len);
		return 24 + len;
	case LOGFMT_DIGEST:
		put_pos(p);
		le64(p + 16, 987654321000ull);
		put_v(p + 24);
		return 56;
	case LOGFMT_END:
		le32(p, 3);
		le32(p + 4, LOGFMT_END_HOST);
		le64(p + 8, 987654321999ull);
		put_v(p + 16);
		return 48;
	case LOGFMT_PROGRESS:
		le64(p, SAMPLE_NEXT_ORDINAL);
		return 8;
	case LOGFMT_RELEASED:
	case LOGFMT_HANDOVER:
		le64(p, SAMPLE_OUT_BYTES);
		return 8;
	case LOGFMT_ACK:
		le64(p, SAMPLE_RECEIVED);
		le64(p + 8, SAMPLE_REPLAYED);
		return 16;
	case LOGFMT_HELLO: {
		uint32_t node_len = hello_node_len(len);

		le32(p, 2); /* backup */
		le32(p + 4, len > 0);
		le32(p + 8, node_len);
		le32(p + 12, len);
		memcpy(p + 16, pattern, node_len);
		memcpy(p + 16 + node_len, pattern + 64, len);
		return 16 + node_len + len;
	}
	case LOGFMT_MOVE: {
		uint32_t addr_len = len % (LOGFMT_MOVE_ADDR_MAX + 1);

		le64(p, SAMPLE_RECEIVED);
		le32(p + 8, addr_len);
		le32(p + 12, 0);
		memcpy(p + 16, pattern, addr_len);
		return 16 + addr_len;
	}
	case LOGFMT_RESUME:
		le64(p, SAMPLE_RECEIVED);
		return 8;
	default: /* NOTE and unknown optional types: the bytes as they are */
		memcpy(p, pattern, len);
		return len;
	}
}

static bool pos_equal(const struct logfmt_pos *a, const struct logfmt_pos *b)
{
	return a->rip == b->rip && a->nr == b->nr;
}

static bool v_equal(const struct logfmt_digest_value *a,
		    const struct logfmt_digest_value *b)
{
	return a->mem == b->mem && a->regs == b->regs &&
	       a->out_bytes == b->out_bytes && a->out_hash == b->out_hash;
}

static bool bytes_equal(const void *a, const void *b, size_t n)
{
	return !n || !memcmp(a, b, n);
}

/* Did decoding give back what @w was encoded from? */
static bool fields_equal(const struct logfmt_record *w,
			 const struct logfmt_record *g)
{
	if (w->seq != g->seq || w->ordinal != g->ordinal ||
	    w->type != g->type || g->flags)
		return false;
	switch (w->type) {
	case LOGFMT_BOOT:
		return w->u.boot.wall_ns == g->u.boot.wall_ns &&
		       w->u.boot.id_nonce == g->u.boot.id_nonce &&
		       w->u.boot.cmdline_len == g->u.boot.cmdline_len &&
		       bytes_equal(w->u.boot.cmdline, g->u.boot.cmdline,
				   w->u.boot.cmdline_len);
	case LOGFMT_TIME:
		return pos_equal(&w->u.time.pos, &g->u.time.pos) &&
		       w->u.time.clock == g->u.time.clock &&
		       w->u.time.value == g->u.time.value;
	case LOGFMT_RANDOM:
		return pos_equal(&w->u.random.pos, &g->u.random.pos) &&
		       w->u.random.len == g->u.random.len &&
		       bytes_equal(w->u.random.bytes, g->u.random.bytes,
				   w->u.random.len);
	case LOGFMT_TIMER:
		return pos_equal(&w->u.timer.pos, &g->u.timer.pos);
	case LOGFMT_CONSOLE_IN:
		return pos_equal(&w->u.console_in.pos, &g->u.console_in.pos) &&
		       w->u.console_in.flags == g->u.console_in.flags &&
		       w->u.console_in.len == g->u.console_in.len &&
		       bytes_equal(w->u.console_in.bytes, g->u.console_in.bytes,
				   w->u.console_in.len);
	case LOGFMT_NET_RX:
		return pos_equal(&w->u.net_rx.pos, &g->u.net_rx.pos) &&
		       w->u.net_rx.vif == g->u.net_rx.vif &&
		       w->u.net_rx.len == g->u.net_rx.len &&
		       bytes_equal(w->u.net_rx.bytes, g->u.net_rx.bytes,
				   w->u.net_rx.len);
	case LOGFMT_DIGEST:
		return pos_equal(&w->u.digest.pos, &g->u.digest.pos) &&
		       w->u.digest.guest_ns == g->u.digest.guest_ns &&
		       v_equal(&w->u.digest.v, &g->u.digest.v);
	case LOGFMT_END:
		return w->u.end.status == g->u.end.status &&
		       w->u.end.cause == g->u.end.cause &&
		       w->u.end.guest_ns == g->u.end.guest_ns &&
		       v_equal(&w->u.end.v, &g->u.end.v);
	case LOGFMT_NOTE:
		return w->u.note.len == g->u.note.len &&
		       bytes_equal(w->u.note.text, g->u.note.text,
				   w->u.note.len);
	case LOGFMT_PROGRESS:
		return w->u.progress.next_ordinal == g->u.progress.next_ordinal;
	case LOGFMT_RELEASED:
	case LOGFMT_HANDOVER:
		return w->u.released.out_bytes == g->u.released.out_bytes;
	case LOGFMT_ACK:
		return w->u.ack.received == g->u.ack.received &&
		       w->u.ack.replayed == g->u.ack.replayed;
	case LOGFMT_HELLO:
		return w->u.hello.role == g->u.hello.role &&
		       w->u.hello.refused == g->u.hello.refused &&
		       w->u.hello.node_len == g->u.hello.node_len &&
		       w->u.hello.reason_len == g->u.hello.reason_len &&
		       bytes_equal(w->u.hello.node, g->u.hello.node,
				   w->u.hello.node_len) &&
		       bytes_equal(w->u.hello.reason, g->u.hello.reason,
				   w->u.hello.reason_len) &&
		       (g->u.hello.reason_len || !g->u.hello.reason);
	case LOGFMT_MOVE:
		return w->u.move.received == g->u.move.received &&
		       w->u.move.addr_len == g->u.move.addr_len &&
		       bytes_equal(w->u.move.addr, g->u.move.addr,
				   w->u.move.addr_len) &&
		       (g->u.move.addr_len || !g->u.move.addr);
	case LOGFMT_RESUME:
		return w->u.resume.first_seq == g->u.resume.first_seq;
	default:
		return w->len == g->len &&
		       bytes_equal(w->payload, g->payload, w->len);
	}
}

/*
 * Encode sample(@type, @len), compare with the bytes laid out by hand,
 * decode an exact-size copy and compare the fields, encode that again.
 */
static void round_trip_at(uint16_t type, uint32_t len, int line)
{
	struct logfmt_record w = sample(type, len), g;
	static uint8_t want[BIG], got[BIG], payload[BIG];
	struct logfmt_error e = { "" };
	uint32_t plen = sample_payload(type, len, payload);
	size_t want_size = raw_record(want, type, 0, payload, plen);
	uint8_t *copy;
	long n;

	CHECK_AT(logfmt__record_size(&w) == want_size, line);
	n = logfmt__encode_record(&w, got, sizeof(got));
	CHECK_AT(n == (long)want_size, line);
	CHECK_AT(!memcmp(got, want, want_size), line);

	copy = exact(want, want_size);
	memset(&g, 0xa5, sizeof(g));
	n = logfmt__decode_record(copy, want_size, &g, &e);
	CHECK_AT(n == (long)want_size, line);
	CHECK_AT(e.msg[0] == '\0', line);
	if (n > 0) {
		CHECK_AT(fields_equal(&w, &g), line);
		CHECK_AT(g.len == plen, line);
		CHECK_AT(g.payload == copy + 24, line);
		memset(got, 0, sizeof(got));
		CHECK_AT(logfmt__encode_record(&g, got, sizeof(got)) == n,
			 line);
		CHECK_AT(!memcmp(got, want, want_size), line);
	}
	free(copy);
}

#define round_trip(type, len) round_trip_at((type), (len), __LINE__)

static int suite_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 13 + 7) | 1;
	return 0;
}

/* RFC 3720 (iSCSI) B.4 and the usual check value. */
static void test_crc_vectors(void)
{
	uint8_t buf[32];

	CU_ASSERT_EQUAL(logfmt__crc32c(0, "123456789", 9), 0xe3069283);
	CU_ASSERT_EQUAL(logfmt__crc32c(0, "", 0), 0);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(logfmt__crc32c(0, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, sizeof(buf));
	CU_ASSERT_EQUAL(logfmt__crc32c(0, buf, 32), 0x62a8ab43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(logfmt__crc32c(0, buf, 32), 0x46dd794e);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	CU_ASSERT_EQUAL(logfmt__crc32c(0, buf, 32), 0x113fdb5c);
}

/* Bit by bit, as the definition: the reference the fast path must match. */
static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = ~0u;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? 0x82f63b78u : 0);
	}
	return ~c;
}

static void test_crc_chaining_and_alignment(void)
{
	uint8_t buf[300];
	bool ok = true;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 17);
	/* Every split point: crc(crc(a), b) == crc(a || b). */
	for (size_t cut = 0; cut <= sizeof(buf); cut++) {
		uint32_t a = logfmt__crc32c(0, buf, cut);

		if (logfmt__crc32c(a, buf + cut, sizeof(buf) - cut) !=
		    logfmt__crc32c(0, buf, sizeof(buf)))
			ok = false;
	}
	CU_ASSERT(ok);
	/* Every start alignment and every length around the 8-byte step. */
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n + off <= 80; n++)
			if (logfmt__crc32c(0, buf + off, n) !=
			    crc_bitwise(buf + off, n))
				ok = false;
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(logfmt__crc32c(0, buf, sizeof(buf)),
			crc_bitwise(buf, sizeof(buf)));
}

static void test_names(void)
{
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_BOOT), "BOOT");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_TIME), "TIME");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_RANDOM), "RANDOM");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_TIMER), "TIMER");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_CONSOLE_IN),
			       "CONSOLE_IN");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_DIGEST), "DIGEST");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_END), "END");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_NOTE), "NOTE");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_PROGRESS), "PROGRESS");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_RELEASED), "RELEASED");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_ACK), "ACK");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_HELLO), "HELLO");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_HANDOVER), "HANDOVER");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_MOVE), "MOVE");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_RESUME), "RESUME");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(0x8009), "unknown");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(0), "unknown");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(UNKNOWN_OPTIONAL), "unknown");
	CU_ASSERT_STRING_EQUAL(logfmt__end_cause_name(LOGFMT_END_SHUTDOWN),
			       "shutdown");
	CU_ASSERT_STRING_EQUAL(logfmt__end_cause_name(LOGFMT_END_FAULT),
			       "fault");
	CU_ASSERT_STRING_EQUAL(logfmt__end_cause_name(LOGFMT_END_STOPPED),
			       "stopped");
	CU_ASSERT_STRING_EQUAL(logfmt__end_cause_name(LOGFMT_END_HOST), "host");
	CU_ASSERT_STRING_EQUAL(logfmt__end_cause_name(LOGFMT_END_NR),
			       "unknown");
	CU_ASSERT_STRING_EQUAL(logfmt__end_cause_name(~0u), "unknown");
}

static const struct logfmt_header sample_header = {
	.version = LOGFMT_VERSION,
	.flags = LOGFMT_F_STREAM,
	.pair_id = 0x0102030405060708ull,
	.epoch = 42,
	.image_hash = { 0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78,
			0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f },
	.mem_size = 64ull << 20,
	.abi_version = PVFT_ABI_VERSION,
	.cpuid_hash = 0x8877665544332211ull,
};

static void test_header_layout(void)
{
	uint8_t b[LOGFMT_HEADER_SIZE];
	struct logfmt_header h = sample_header;
	bool zero = true;

	h.version = 9; /* not read: the encoder writes the version it knows */
	memset(b, 0xcc, sizeof(b));
	logfmt__encode_header(&h, b);
	CU_ASSERT(!memcmp(b, "PVFTLOG\0", 8));
	CU_ASSERT(b[8] == 1 && b[9] == 0);
	CU_ASSERT(b[10] == 128 && b[11] == 0);
	CU_ASSERT_EQUAL(rd32(b + 12), LOGFMT_F_STREAM);
	CU_ASSERT_EQUAL(rd64(b + 16), 0x0102030405060708ull);
	CU_ASSERT_EQUAL(rd64(b + 24), 42);
	CU_ASSERT(!memcmp(b + 32, sample_header.image_hash, 16));
	CU_ASSERT_EQUAL(rd64(b + 48), 64ull << 20);
	CU_ASSERT_EQUAL(rd32(b + 56), PVFT_ABI_VERSION);
	CU_ASSERT_EQUAL(rd32(b + 60), 0);
	CU_ASSERT_EQUAL(rd64(b + 64), 0x8877665544332211ull);
	for (int i = 72; i < 124; i++)
		zero = zero && !b[i];
	CU_ASSERT(zero);
	CU_ASSERT_EQUAL(rd32(b + 124), logfmt__crc32c(0, b, 124));
}

static int decode_header(const uint8_t *buf, size_t len,
			 struct logfmt_header *h, struct logfmt_error *e)
{
	uint8_t *p = exact(buf, len);
	int rc;

	memset(e, 0, sizeof(*e));
	rc = logfmt__decode_header(p, len, h, e);
	free(p);
	return rc;
}

static void test_header_round_trip(void)
{
	uint8_t b[LOGFMT_HEADER_SIZE + 8] = { 0 };
	struct logfmt_header h;
	struct logfmt_error e;

	logfmt__encode_header(&sample_header, b);
	memset(&h, 0xa5, sizeof(h));
	CU_ASSERT_EQUAL_FATAL(decode_header(b, LOGFMT_HEADER_SIZE, &h, &e), 0);
	CU_ASSERT_EQUAL(h.version, LOGFMT_VERSION);
	CU_ASSERT_EQUAL(h.flags, sample_header.flags);
	CU_ASSERT_EQUAL(h.pair_id, sample_header.pair_id);
	CU_ASSERT_EQUAL(h.epoch, sample_header.epoch);
	CU_ASSERT(!memcmp(h.image_hash, sample_header.image_hash, 16));
	CU_ASSERT_EQUAL(h.mem_size, sample_header.mem_size);
	CU_ASSERT_EQUAL(h.abi_version, sample_header.abi_version);
	CU_ASSERT_EQUAL(h.cpuid_hash, sample_header.cpuid_hash);
	/* Bytes after the header (the first record) are not its business. */
	CU_ASSERT_EQUAL(decode_header(b, sizeof(b), &h, &e), 0);
	/* A file log: no flags. */
	h.flags = 0;
	logfmt__encode_header(&h, b);
	CU_ASSERT_EQUAL(decode_header(b, LOGFMT_HEADER_SIZE, &h, &e), 0);
	CU_ASSERT_EQUAL(h.flags, 0);
}

static void resign_header(uint8_t *b)
{
	le32(b + 124, logfmt__crc32c(0, b, 124));
}

static void expect_header_error_at(const uint8_t *b, size_t len,
				   const char *msg, int line)
{
	struct logfmt_header h;
	struct logfmt_error e;

	CHECK_AT(decode_header(b, len, &h, &e) == -1, line);
	CHECK_AT(strstr(e.msg, msg), line);
	if (!strstr(e.msg, msg))
		fprintf(stderr, "\n  line %d: got \"%s\", want \"%s\"\n", line,
			e.msg, msg);
}

#define expect_header_error(b, msg) \
	expect_header_error_at((b), LOGFMT_HEADER_SIZE, (msg), __LINE__)

static void test_header_checks(void)
{
	uint8_t good[LOGFMT_HEADER_SIZE], b[LOGFMT_HEADER_SIZE];
	char msg[64];

	logfmt__encode_header(&sample_header, good);

	for (size_t len = 0; len < LOGFMT_HEADER_SIZE; len++) {
		snprintf(msg, sizeof(msg),
			 "log header truncated: %zu of 128 bytes", len);
		expect_header_error_at(good, len, msg, __LINE__);
	}

	for (int i = 0; i < 8; i++) {
		memcpy(b, good, sizeof(b));
		b[i] ^= 0x20;
		resign_header(b);
		expect_header_error(b, "not a pvft log (bad magic)");
	}

	memcpy(b, good, sizeof(b));
	le16(b + 8, 2);
	resign_header(b);
	expect_header_error(b,
			    "log format version 2, this pvft reads version 1");
	le16(b + 8, 0);
	expect_header_error(b, "log format version 0, this pvft reads");
	/* The version is checked before the CRC: version 2 may move it. */
	le16(b + 8, 0xffff);
	expect_header_error(b, "log format version 65535, this pvft reads");

	memcpy(b, good, sizeof(b));
	le16(b + 10, 256);
	resign_header(b);
	expect_header_error(b, "log header size is 256 bytes, want 128");

	memcpy(b, good, sizeof(b));
	le32(b + 12, 0x80000003);
	resign_header(b);
	expect_header_error(b, "log header has unknown flags 0x80000002");

	for (int i = 60; i < 124; i++) {
		if (i >= 64 && i < 72)
			continue; /* the CPUID hash */
		memcpy(b, good, sizeof(b));
		b[i] = 0x5a;
		resign_header(b);
		snprintf(msg, sizeof(msg),
			 "log header reserved byte at offset %d is 0x5a", i);
		expect_header_error(b, msg);
	}

	/* Every bit of every byte the earlier checks leave to the CRC. */
	for (int i = 12; i < LOGFMT_HEADER_SIZE; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(b, good, sizeof(b));
			b[i] ^= (uint8_t)(1u << bit);
			expect_header_error(b, "log header CRC32C mismatch");
		}
	memcpy(b, good, sizeof(b));
	b[124] ^= 1;
	snprintf(msg, sizeof(msg), "stored 0x%08x, computed 0x%08x",
		 rd32(b + 124), rd32(good + 124));
	expect_header_error(b, msg);
}

static const uint16_t fixed_types[] = { LOGFMT_TIME,	 LOGFMT_TIMER,
					LOGFMT_DIGEST,	 LOGFMT_END,
					LOGFMT_PROGRESS, LOGFMT_RELEASED,
					LOGFMT_ACK,	 LOGFMT_HANDOVER,
					LOGFMT_RESUME };

static void test_round_trip_every_type(void)
{
	for (size_t i = 0; i < sizeof(fixed_types) / sizeof(fixed_types[0]);
	     i++)
		round_trip(fixed_types[i], 0);
	round_trip(LOGFMT_BOOT, 23);
	round_trip(LOGFMT_RANDOM, 16);
	round_trip(LOGFMT_CONSOLE_IN, 5);
	round_trip(LOGFMT_NOTE, 11);
	round_trip(UNKNOWN_OPTIONAL, 13);
	round_trip(LOGFMT_HELLO, 0);
	round_trip(LOGFMT_HELLO, 9);
	round_trip(LOGFMT_MOVE, 0);
	round_trip(LOGFMT_MOVE, 14);
	round_trip(LOGFMT_MOVE, LOGFMT_MOVE_ADDR_MAX);
}

static void test_round_trip_boundaries(void)
{
	/* Every length within a few bytes of each limit, and every padding. */
	for (uint32_t n = 0; n < 17; n++) {
		round_trip(LOGFMT_BOOT, n);
		round_trip(LOGFMT_CONSOLE_IN, n);
		round_trip(LOGFMT_NOTE, n);
		round_trip(UNKNOWN_OPTIONAL, n);
		round_trip(LOGFMT_HELLO, n);
		if (n)
			round_trip(LOGFMT_RANDOM, n);
	}
	for (uint32_t n = 1015; n <= 1023; n++)
		round_trip(LOGFMT_BOOT, n);
	/* HELLO: a node id of 63 (and of 1 after it), reasons up to 400. */
	for (uint32_t n = 60; n <= 64; n++)
		round_trip(LOGFMT_HELLO, n);
	for (uint32_t n = 124; n <= 126; n++)
		round_trip(LOGFMT_HELLO, n);
	for (uint32_t n = 392; n <= LOGFMT_HELLO_REASON_MAX; n++)
		round_trip(LOGFMT_HELLO, n);
	for (uint32_t n = 4088; n <= 4096; n++) {
		round_trip(LOGFMT_RANDOM, n);
		round_trip(LOGFMT_CONSOLE_IN, n);
		round_trip(LOGFMT_NOTE, n);
	}
}

static void test_values_at_limits(void)
{
	struct logfmt_record r = sample(LOGFMT_TIME, 0), g;
	uint8_t buf[BIG], *copy;
	struct logfmt_error e;
	long n;

	r.seq = ~0ull;
	r.ordinal = ~0ull;
	r.u.time.pos = (struct logfmt_pos){ ~0ull, ~0u };
	r.u.time.clock = ~0u;
	r.u.time.value = INT64_MIN;
	n = logfmt__encode_record(&r, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(n, 64);
	CU_ASSERT_EQUAL_FATAL(decode(buf, (size_t)n, &g, &e), 64);
	CU_ASSERT(fields_equal(&r, &g));

	r = sample(LOGFMT_END, 0);
	for (uint32_t c = 0; c < LOGFMT_END_NR; c++) {
		r.u.end.cause = c;
		r.u.end.status = ~0u;
		n = logfmt__encode_record(&r, buf, sizeof(buf));
		CU_ASSERT_EQUAL(decode(buf, (size_t)n, &g, &e), n);
		CU_ASSERT(fields_equal(&r, &g));
	}

	/* Stream records: every u64 at its extremes, ACK at its equality. */
	{
		static const uint64_t values[] = { 0, 1, ~0ull - 1, ~0ull };

		for (size_t i = 0; i < 4; i++) {
			r = sample(LOGFMT_PROGRESS, 0);
			r.u.progress.next_ordinal = values[i];
			n = logfmt__encode_record(&r, buf, sizeof(buf));
			CU_ASSERT_EQUAL(n, 40);
			CU_ASSERT_EQUAL(decode(buf, (size_t)n, &g, &e), 40);
			CU_ASSERT(fields_equal(&r, &g));

			r = sample(LOGFMT_RELEASED, 0);
			r.u.released.out_bytes = values[i];
			n = logfmt__encode_record(&r, buf, sizeof(buf));
			CU_ASSERT_EQUAL(n, 40);
			CU_ASSERT_EQUAL(decode(buf, (size_t)n, &g, &e), 40);
			CU_ASSERT(fields_equal(&r, &g));

			for (size_t j = 0; j <= i; j++) {
				r = sample(LOGFMT_ACK, 0);
				r.u.ack.received = values[i];
				r.u.ack.replayed = values[j];
				n = logfmt__encode_record(&r, buf, sizeof(buf));
				CU_ASSERT_EQUAL(n, 48);
				CU_ASSERT_EQUAL(decode(buf, (size_t)n, &g, &e),
						48);
				CU_ASSERT(fields_equal(&r, &g));
			}
		}
	}
	/* HELLO: both roles, both answers, and a reason with a refusal-less
	 * answer (the format allows it). */
	for (uint32_t role = LOGFMT_ROLE_PRIMARY; role <= LOGFMT_ROLE_BACKUP;
	     role++)
		for (uint32_t refused = 0; refused <= 1; refused++) {
			r = sample(LOGFMT_HELLO, 3);
			r.u.hello.role = role;
			r.u.hello.refused = refused;
			n = logfmt__encode_record(&r, buf, sizeof(buf));
			copy = exact(buf, (size_t)n);
			CU_ASSERT_EQUAL(
			    logfmt__decode_record(copy, (size_t)n, &g, &e), n);
			CU_ASSERT(fields_equal(&r, &g));
			free(copy);
		}

	/* The largest record there is: an optional one of the maximum. */
	{
		size_t size = LOGFMT_MAX_RECORD;
		uint8_t *big = calloc(1, size), *raw = calloc(1, size);

		CU_ASSERT_PTR_NOT_NULL_FATAL(big);
		CU_ASSERT_PTR_NOT_NULL_FATAL(raw);
		r = (struct logfmt_record){ .type = UNKNOWN_OPTIONAL,
					    .len = LOGFMT_MAX_PAYLOAD,
					    .payload = raw };
		CU_ASSERT_EQUAL(logfmt__record_size(&r), size);
		CU_ASSERT_EQUAL(logfmt__encode_record(&r, big, size),
				(long)size);
		CU_ASSERT_EQUAL(logfmt__decode_record(big, size, &g, &e),
				(long)size);
		CU_ASSERT_EQUAL(g.len, LOGFMT_MAX_PAYLOAD);
		free(big);
		free(raw);
	}
}

/* A record the encoder must refuse: -1, size 0, no byte written. */
static void expect_unencodable_at(const struct logfmt_record *r, int line)
{
	uint8_t buf[BIG];
	bool untouched = true;

	memset(buf, 0xcc, sizeof(buf));
	CHECK_AT(logfmt__record_size(r) == 0, line);
	CHECK_AT(logfmt__encode_record(r, buf, sizeof(buf)) == -1, line);
	for (size_t i = 0; i < sizeof(buf); i++)
		untouched = untouched && buf[i] == 0xcc;
	CHECK_AT(untouched, line);
}

#define expect_unencodable(r) expect_unencodable_at(&(r), __LINE__)

static void test_encode_refuses(void)
{
	static const char nul[] = "a\0b";
	struct logfmt_record r;

	r = sample(LOGFMT_BOOT, 1024);
	expect_unencodable(r);
	r = sample(LOGFMT_BOOT, 3);
	r.u.boot.cmdline = nul;
	expect_unencodable(r);
	r.u.boot.cmdline = NULL;
	expect_unencodable(r);

	r = sample(LOGFMT_RANDOM, 0);
	expect_unencodable(r);
	r = sample(LOGFMT_RANDOM, PVFT_RANDOM_MAX + 1);
	expect_unencodable(r);
	r = sample(LOGFMT_RANDOM, 1);
	r.u.random.bytes = NULL;
	expect_unencodable(r);

	r = sample(LOGFMT_CONSOLE_IN, PVFT_CONSOLE_IO_MAX + 1);
	expect_unencodable(r);
	r = sample(LOGFMT_CONSOLE_IN, 1);
	r.u.console_in.flags = 2;
	expect_unencodable(r);
	r.u.console_in.flags = 0;
	r.u.console_in.bytes = NULL;
	expect_unencodable(r);

	r = sample(LOGFMT_END, 0);
	r.u.end.cause = LOGFMT_END_NR;
	expect_unencodable(r);

	r = sample(LOGFMT_NOTE, 4097);
	expect_unencodable(r);

	r = sample(9, 0); /* unknown, mandatory */
	expect_unencodable(r);
	r = sample(0, 0);
	expect_unencodable(r);
	r = sample(UNKNOWN_OPTIONAL, 0);
	r.len = LOGFMT_MAX_PAYLOAD + 1;
	expect_unencodable(r);
}

/* HELLO members a decoder would refuse: the encoder refuses them too. */
static void test_encode_refuses_hello(void)
{
	static const char nul[] = "ab\0d";
	struct logfmt_record r;

	r = sample(LOGFMT_HELLO, 4);
	r.u.hello.node_len = 0;
	expect_unencodable(r);
	r.u.hello.node_len = LOGFMT_HELLO_NODE_MAX + 1;
	expect_unencodable(r);
	r.u.hello.node_len = 3;
	r.u.hello.node = NULL;
	expect_unencodable(r);
	r.u.hello.node = nul + 1; /* "b\0d" */
	expect_unencodable(r);

	r = sample(LOGFMT_HELLO, LOGFMT_HELLO_REASON_MAX + 1);
	expect_unencodable(r);
	r = sample(LOGFMT_HELLO, 4);
	r.u.hello.reason = NULL;
	expect_unencodable(r);
	r.u.hello.reason = nul; /* "ab\0d" */
	expect_unencodable(r);

	for (uint32_t bad = 0; bad < 8; bad++) {
		if (bad == LOGFMT_ROLE_PRIMARY || bad == LOGFMT_ROLE_BACKUP)
			continue;
		r = sample(LOGFMT_HELLO, 4);
		r.u.hello.role = bad;
		expect_unencodable(r);
	}
	r = sample(LOGFMT_HELLO, 4);
	r.u.hello.role = ~0u;
	expect_unencodable(r);
	r = sample(LOGFMT_HELLO, 4);
	r.u.hello.refused = 2;
	expect_unencodable(r);
	r.u.hello.refused = ~0u;
	expect_unencodable(r);

	/* The valid neighbours of each of those are encoded. */
	r = sample(LOGFMT_HELLO, LOGFMT_HELLO_REASON_MAX);
	CU_ASSERT(logfmt__record_size(&r) > 0);
	r = sample(LOGFMT_HELLO, 4);
	r.u.hello.node_len = LOGFMT_HELLO_NODE_MAX;
	CU_ASSERT(logfmt__record_size(&r) > 0);
	r.u.hello.reason_len = 0;
	r.u.hello.reason = NULL;
	CU_ASSERT(logfmt__record_size(&r) > 0);
}

/*
 * ACK says replayed <= received (log-format.md section 5) and the decoder
 * refuses anything else: an encoder that wrote such an ACK would send a
 * record its peer must take for a broken stream.
 */
static void test_encode_refuses_bad_ack(void)
{
	struct logfmt_record r = sample(LOGFMT_ACK, 0);

	r.u.ack.received = 5;
	r.u.ack.replayed = 6;
	expect_unencodable(r);
	r.u.ack.received = 0;
	r.u.ack.replayed = ~0ull;
	expect_unencodable(r);
}

static void test_encode_cap(void)
{
	const uint16_t types[] = {
		LOGFMT_BOOT,	   LOGFMT_TIME,	    LOGFMT_RANDOM, LOGFMT_TIMER,
		LOGFMT_CONSOLE_IN, LOGFMT_DIGEST,   LOGFMT_END,	   LOGFMT_NOTE,
		LOGFMT_PROGRESS,   LOGFMT_RELEASED, LOGFMT_ACK,	   LOGFMT_HELLO,
		LOGFMT_HANDOVER,   UNKNOWN_OPTIONAL
	};
	bool ok = true;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct logfmt_record r = sample(types[t], 5);
		size_t size = logfmt__record_size(&r);

		for (size_t cap = 0; cap <= size; cap++) {
			uint8_t *p = malloc(cap ? cap : 1);

			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			if (logfmt__encode_record(&r, p, cap) !=
			    (cap < size ? -1 : (long)size))
				ok = false;
			free(p);
		}
	}
	CU_ASSERT(ok);
}

/* Every prefix of a valid record is "not yet": 0, and no read past it. */
static void test_every_truncation_waits(void)
{
	const uint16_t types[] = {
		LOGFMT_BOOT,	   LOGFMT_TIME,	    LOGFMT_RANDOM, LOGFMT_TIMER,
		LOGFMT_CONSOLE_IN, LOGFMT_DIGEST,   LOGFMT_END,	   LOGFMT_NOTE,
		LOGFMT_PROGRESS,   LOGFMT_RELEASED, LOGFMT_ACK,	   LOGFMT_HELLO,
		LOGFMT_HANDOVER,   UNKNOWN_OPTIONAL
	};
	static uint8_t buf[BIG];
	struct logfmt_record g;
	struct logfmt_error e;
	bool ok = true;

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct logfmt_record r = sample(types[t], 3);
		long n = logfmt__encode_record(&r, buf, sizeof(buf));

		for (size_t cut = 0; cut < (size_t)n; cut++)
			if (decode(buf, cut, &g, &e) != 0)
				ok = false;
		if (decode(buf, (size_t)n, &g, &e) != n)
			ok = false;
	}
	CU_ASSERT(ok);
	ok = true;
	{
		struct logfmt_record r = sample(LOGFMT_RANDOM, PVFT_RANDOM_MAX);
		long n = logfmt__encode_record(&r, buf, sizeof(buf));

		for (size_t cut = 0; cut < (size_t)n; cut++)
			if (decode(buf, cut, &g, &e) != 0)
				ok = false;
	}
	CU_ASSERT(ok);
}

/* Flip every bit of every byte: the CRC (or a later check) refuses it. */
static void flip_every_bit_at(uint16_t type, uint32_t len, int line)
{
	struct logfmt_record r = sample(type, len), g;
	uint8_t good[BIG], b[BIG];
	struct logfmt_error e;
	long n = logfmt__encode_record(&r, good, sizeof(good));
	size_t tail = (size_t)n - 8;

	CHECK_AT(n > 0, line);
	for (size_t i = 0; i < (size_t)n; i++)
		for (int bit = 0; bit < 8; bit++) {
			long got;

			memcpy(b, good, (size_t)n);
			b[i] ^= (uint8_t)(1u << bit);
			got = decode(b, (size_t)n, &g, &e);
			if (i >= 20 && i < 24) {
				/* The length: now longer (0) or elsewhere. */
				CHECK_AT(got == 0 || got == -1, line);
			} else if (i >= tail + 4) {
				CHECK_AT(got == -1, line);
				CHECK_AT(strstr(e.msg, "tail reserved field"),
					 line);
			} else {
				CHECK_AT(got == -1, line);
				CHECK_AT(
				    strstr(e.msg,
					   "record CRC32C mismatch: stored"),
				    line);
			}
		}
}

static void test_bit_flips(void)
{
	flip_every_bit_at(LOGFMT_TIME, 0, __LINE__);
	flip_every_bit_at(LOGFMT_BOOT, 5, __LINE__); /* with padding */
	flip_every_bit_at(LOGFMT_RANDOM, 3, __LINE__);
	flip_every_bit_at(LOGFMT_END, 0, __LINE__);
	flip_every_bit_at(LOGFMT_PROGRESS, 0, __LINE__);
	flip_every_bit_at(LOGFMT_RELEASED, 0, __LINE__);
	flip_every_bit_at(LOGFMT_ACK, 0, __LINE__);
	flip_every_bit_at(LOGFMT_HELLO, 5, __LINE__); /* with padding */
}

static void test_record_head_checks(void)
{
	struct logfmt_record r = sample(LOGFMT_BOOT, 1), g;
	uint8_t good[BIG], b[BIG];
	struct logfmt_error e;
	long n = logfmt__encode_record(&r, good, sizeof(good));
	char msg[80];

	CU_ASSERT_EQUAL_FATAL(n, 24 + 24 + 8); /* 17 bytes, 7 of padding */

	/* Each padding byte, re-signed: only the padding check sees it. */
	for (int i = 17; i < 24; i++) {
		memcpy(b, good, (size_t)n);
		b[24 + i] = 0x80;
		resign(b);
		snprintf(msg, sizeof(msg),
			 "record padding byte %d is 0x80, want 0", i - 17);
		expect_error(b, (size_t)n, msg);
	}
	/* The tail's reserved half is outside the CRC. */
	memcpy(b, good, (size_t)n);
	le32(b + n - 4, 0x100);
	expect_error(b, (size_t)n,
		     "record tail reserved field is 0x100, want 0");

	memcpy(b, good, (size_t)n);
	le16(b + 18, 0x4000);
	resign(b);
	expect_error(b, (size_t)n, "BOOT record (type 1) has flags 0x4000");

	/* Types: unknown mandatory ones are refused, optional ones kept. */
	memcpy(b, good, (size_t)n);
	le16(b + 16, 9);
	resign(b);
	expect_error(b, (size_t)n, "unknown mandatory record type 9");
	le16(b + 16, 0);
	resign(b);
	expect_error(b, (size_t)n, "unknown mandatory record type 0");
	le16(b + 16, 0x7fff);
	resign(b);
	expect_error(b, (size_t)n, "unknown mandatory record type 32767");
	for (uint32_t type = 0x8000; type <= 0xffff; type += 0x7ff) {
		if (type == LOGFMT_NOTE)
			continue;
		memcpy(b, good, (size_t)n);
		le16(b + 16, (uint16_t)type);
		resign(b);
		memset(&g.u, 0x5a, sizeof(g.u));
		CU_ASSERT_EQUAL(decode(b, (size_t)n, &g, &e), n);
		CU_ASSERT_EQUAL(g.type, type);
		CU_ASSERT_EQUAL(g.len, 17);
		CU_ASSERT_EQUAL(((uint8_t *)&g.u)[0], 0x5a); /* untouched */
	}
}

static void test_record_length_bound(void)
{
	uint8_t head[24] = { 0 }, b[BIG];
	struct logfmt_record g;
	struct logfmt_error e;

	/* Refused from the head alone: nobody waits for a gigabyte. */
	le32(head + 20, LOGFMT_MAX_PAYLOAD + 1);
	expect_error(head, sizeof(head),
		     "record length 1048577 exceeds the maximum 1048576");
	le32(head + 20, ~0u);
	expect_error(head, sizeof(head),
		     "record length 4294967295 exceeds the maximum");
	/* At the bound it is a record still to come. */
	le32(head + 20, LOGFMT_MAX_PAYLOAD);
	CU_ASSERT_EQUAL(decode(head, sizeof(head), &g, &e), 0);
	CU_ASSERT_EQUAL(decode(head, 23, &g, &e), 0);

	/* A valid record of length 0 is 32 bytes. */
	CU_ASSERT_EQUAL(raw_record(b, UNKNOWN_OPTIONAL, 0, NULL, 0), 32);
	CU_ASSERT_EQUAL(decode(b, 32, &g, &e), 32);
	CU_ASSERT_EQUAL(g.len, 0);
}

static void test_wrong_fixed_lengths(void)
{
	static const uint32_t want[] = { 32, 16, 56, 48, 8, 8, 16, 8, 8 };
	static const uint8_t zeros[BIG];
	char msg[80];

	for (size_t t = 0; t < sizeof(fixed_types) / sizeof(fixed_types[0]);
	     t++)
		for (uint32_t len = 0; len <= want[t] + 16; len++) {
			if (len == want[t])
				continue;
			snprintf(msg, sizeof(msg),
				 "%s record payload is %u bytes, want %u",
				 logfmt__type_name(fixed_types[t]), len,
				 want[t]);
			expect_payload_error(fixed_types[t], zeros, len, msg);
		}
}

static void test_boot_checks(void)
{
	uint8_t p[BIG];
	char msg[80];

	memset(p, 0, sizeof(p));
	for (uint32_t len = 0; len < 16; len++) {
		snprintf(msg, sizeof(msg),
			 "BOOT record payload is %u bytes, want at least 16",
			 len);
		expect_payload_error(LOGFMT_BOOT, p, len, msg);
	}
	memcpy(p + 16, "abcde", 5);
	le32(p + 12, 4);
	expect_payload_error(
	    LOGFMT_BOOT, p, 21,
	    "BOOT record payload is 21 bytes, want at least 24");
	le32(p + 12, 6);
	expect_payload_error(
	    LOGFMT_BOOT, p, 21,
	    "BOOT record payload is 21 bytes, want at least 22");
	le32(p + 12, ~0u);
	expect_payload_error(LOGFMT_BOOT, p, 21,
			     "BOOT record command line is 4294967295 bytes");
	memset(p + 16, 'x', 1024);
	le32(p + 12, 1024);
	expect_payload_error(LOGFMT_BOOT, p, 16 + 1024,
			     "BOOT record command line is 1024 bytes, the "
			     "maximum is 1023");
	le32(p + 12, 5);
	p[18] = '\0';
	expect_payload_error(LOGFMT_BOOT, p, 21,
			     "BOOT record command line holds a NUL byte");
}

static void test_pos_reserved(void)
{
	const uint16_t types[] = { LOGFMT_TIME, LOGFMT_RANDOM, LOGFMT_TIMER,
				   LOGFMT_CONSOLE_IN, LOGFMT_DIGEST };
	static uint8_t payload[BIG];
	char msg[80];

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		uint32_t len = sample_payload(types[t], 2, payload);

		le32(payload + 12, 0x80000000u);
		snprintf(msg, sizeof(msg),
			 "%s record position reserved field is 0x80000000, "
			 "want 0",
			 logfmt__type_name(types[t]));
		expect_payload_error(types[t], payload, len, msg);
	}
	sample_payload(LOGFMT_TIME, 0, payload);
	le32(payload + 20, 1);
	expect_payload_error(LOGFMT_TIME, payload, 32,
			     "TIME record reserved field is 0x1, want 0");
}

static void test_random_checks(void)
{
	static uint8_t p[BIG];
	char msg[80];

	for (uint32_t len = 0; len < 24; len++) {
		snprintf(msg, sizeof(msg),
			 "RANDOM record payload is %u bytes, want at least 24",
			 len);
		expect_payload_error(LOGFMT_RANDOM, p, len, msg);
	}
	sample_payload(LOGFMT_RANDOM, 5, p);
	le32(p + 20, 2);
	expect_payload_error(LOGFMT_RANDOM, p, 29,
			     "RANDOM record reserved field is 0x2, want 0");
	le32(p + 20, 0);
	expect_payload_error(LOGFMT_RANDOM, p, 30,
			     "RANDOM record payload is 30 bytes, want 29");
	expect_payload_error(LOGFMT_RANDOM, p, 28,
			     "RANDOM record payload is 28 bytes, want 29");
	le32(p + 16, 0);
	expect_payload_error(LOGFMT_RANDOM, p, 24,
			     "RANDOM record length 0 is outside 1..4096");
	le32(p + 16, PVFT_RANDOM_MAX + 1);
	expect_payload_error(LOGFMT_RANDOM, p, 24 + PVFT_RANDOM_MAX + 1,
			     "RANDOM record length 4097 is outside 1..4096");
}

static void test_console_in_checks(void)
{
	static uint8_t p[BIG];
	char msg[80];

	for (uint32_t len = 0; len < 24; len++) {
		snprintf(msg, sizeof(msg),
			 "CONSOLE_IN record payload is %u bytes, want at least "
			 "24",
			 len);
		expect_payload_error(LOGFMT_CONSOLE_IN, p, len, msg);
	}
	sample_payload(LOGFMT_CONSOLE_IN, 5, p);
	le32(p + 16, LOGFMT_CONSOLE_CLOSED | 0x6);
	expect_payload_error(LOGFMT_CONSOLE_IN, p, 29,
			     "CONSOLE_IN record has unknown flags 0x6");
	le32(p + 16, 0);
	expect_payload_error(LOGFMT_CONSOLE_IN, p, 30,
			     "CONSOLE_IN record payload is 30 bytes, want 29");
	le32(p + 20, PVFT_CONSOLE_IO_MAX + 1);
	expect_payload_error(LOGFMT_CONSOLE_IN, p, 24 + PVFT_CONSOLE_IO_MAX + 1,
			     "CONSOLE_IN record length 4097 exceeds the "
			     "maximum 4096");
}

static void test_end_and_note_checks(void)
{
	static uint8_t p[BIG];

	sample_payload(LOGFMT_END, 0, p);
	le32(p + 4, LOGFMT_END_NR);
	expect_payload_error(LOGFMT_END, p, 48,
			     "END record cause 4 is unknown");
	le32(p + 4, 0xffff);
	expect_payload_error(LOGFMT_END, p, 48,
			     "END record cause 65535 is unknown");
	le32(p + 4, LOGFMT_END_STOPPED | 0x2u << 16); /* a flag not known */
	expect_payload_error(LOGFMT_END, p, 48,
			     "END record flags 0x2 are unknown");

	memset(p, 'n', 4097);
	expect_payload_error(LOGFMT_NOTE, p, 4097,
			     "NOTE record payload is 4097 bytes, the maximum "
			     "is 4096");
}

/*
 * @lit: a record's head and padded payload written out byte by byte from
 * log-format.md sections 4 and 5 (the tail is the CRC of those and 0).
 * @r encodes to exactly that, and decodes back to @r.
 */
static void expect_layout_at(const struct logfmt_record *r, const uint8_t *lit,
			     size_t lit_len, int line)
{
	uint8_t want[BIG], got[BIG], *copy;
	struct logfmt_record g;
	struct logfmt_error e;
	long n;

	memcpy(want, lit, lit_len);
	le32(want + lit_len, logfmt__crc32c(0, lit, lit_len));
	le32(want + lit_len + 4, 0);
	memset(got, 0xcc, sizeof(got));
	n = logfmt__encode_record(r, got, sizeof(got));
	CHECK_AT(n == (long)lit_len + 8, line);
	CHECK_AT(n > 0 && !memcmp(got, want, (size_t)n), line);
	copy = exact(want, lit_len + 8);
	CHECK_AT(logfmt__decode_record(copy, lit_len + 8, &g, &e) ==
		     (long)lit_len + 8,
		 line);
	CHECK_AT(fields_equal(r, &g), line);
	free(copy);
}

#define expect_layout(r, lit) \
	expect_layout_at(&(r), (lit), sizeof(lit), __LINE__)

static void test_stream_record_layout(void)
{
	/* PROGRESS: record 5 at exit 3, all before exit 4 sent. */
	static const uint8_t progress[] = {
		5,    0,    0, 0, 0, 0, 0, 0, /* seq */
		3,    0,    0, 0, 0, 0, 0, 0, /* ordinal */
		0x02, 0x80, 0, 0,	      /* type, flags */
		8,    0,    0, 0,	      /* length */
		4,    0,    0, 0, 0, 0, 0, 0, /* next_ordinal */
	};
	/* RELEASED: 0x0102030405 console bytes out, after END at exit 9. */
	static const uint8_t released[] = {
		0x10, 0,    0, 0, 0, 0, 0, 0, 9,    0, 0, 0, 0, 0, 0, 0,
		0x03, 0x80, 0, 0, 8, 0, 0, 0, 0x05, 4, 3, 2, 1, 0, 0, 0,
	};
	/* ACK: the backup's record 2 (ordinal 0): 7 received, 5 replayed. */
	static const uint8_t ack[] = {
		2,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0x80, 0, 0,
		16, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0,	  0, 0,
	};
	/* HELLO: the backup "hostB" refuses with "no": 23 bytes, 1 pad. */
	static const uint8_t hello_refused[] = {
		0, 0, 0, 0, 0,	 0,    0,   0,	 0,   0,   0,	0,
		0, 0, 0, 0, 5,	 0x80, 0,   0,	 23,  0,   0,	0,
		2, 0, 0, 0, 1,	 0,    0,   0,	 5,   0,   0,	0,
		2, 0, 0, 0, 'h', 'o',  's', 't', 'B', 'n', 'o', 0,
	};
	/* HELLO: the primary "a" (seq 1 after BOOT), no reason: 17 bytes. */
	static const uint8_t hello_primary[] = {
		1, 0,	 0, 0, 0,  0, 0, 0, 0,	 0, 0, 0, 0, 0, 0, 0,
		5, 0x80, 0, 0, 17, 0, 0, 0, 1,	 0, 0, 0, 0, 0, 0, 0,
		1, 0,	 0, 0, 0,  0, 0, 0, 'a', 0, 0, 0, 0, 0, 0, 0,
	};
	struct logfmt_record r;

	r = (struct logfmt_record){ .seq = 5,
				    .ordinal = 3,
				    .type = LOGFMT_PROGRESS };
	r.u.progress.next_ordinal = 4;
	expect_layout(r, progress);

	r = (struct logfmt_record){ .seq = 16,
				    .ordinal = 9,
				    .type = LOGFMT_RELEASED };
	r.u.released.out_bytes = 0x0102030405ull;
	expect_layout(r, released);

	r = (struct logfmt_record){ .seq = 2, .type = LOGFMT_ACK };
	r.u.ack = (struct logfmt_ack){ 7, 5 };
	expect_layout(r, ack);

	r = (struct logfmt_record){ .type = LOGFMT_HELLO };
	r.u.hello =
	    (struct logfmt_hello){ LOGFMT_ROLE_BACKUP, 1, 5, 2, "hostB", "no" };
	expect_layout(r, hello_refused);

	r = (struct logfmt_record){ .seq = 1, .type = LOGFMT_HELLO };
	r.u.hello =
	    (struct logfmt_hello){ LOGFMT_ROLE_PRIMARY, 0, 1, 0, "a", NULL };
	expect_layout(r, hello_primary);
}

static void test_ack_checks(void)
{
	static uint8_t p[BIG];
	struct logfmt_record g;
	struct logfmt_error e;
	uint8_t rec[64];
	size_t n;

	le64(p, 5);
	le64(p + 8, 6);
	expect_payload_error(LOGFMT_ACK, p, 16,
			     "ACK record replayed 6 records of 5 received");
	le64(p, 0);
	le64(p + 8, ~0ull);
	expect_payload_error(LOGFMT_ACK, p, 16,
			     "ACK record replayed 18446744073709551615 "
			     "records of 0 received");
	/* Equal is fine, and so is nothing at all. */
	le64(p, 6);
	le64(p + 8, 6);
	n = raw_record(rec, LOGFMT_ACK, 0, p, 16);
	CU_ASSERT_EQUAL(decode(rec, n, &g, &e), (long)n);
	CU_ASSERT_EQUAL(g.u.ack.received, 6);
	CU_ASSERT_EQUAL(g.u.ack.replayed, 6);
	memset(p, 0, 16);
	n = raw_record(rec, LOGFMT_ACK, 0, p, 16);
	CU_ASSERT_EQUAL(decode(rec, n, &g, &e), (long)n);
}

/* A HELLO payload: the fixed part, then @text (node id and reason). */
static uint32_t hello_payload(uint8_t *p, uint32_t role, uint32_t refused,
			      uint32_t node_len, uint32_t reason_len,
			      const char *text, uint32_t text_len)
{
	memset(p, 0, BIG);
	le32(p, role);
	le32(p + 4, refused);
	le32(p + 8, node_len);
	le32(p + 12, reason_len);
	memcpy(p + 16, text, text_len);
	return 16 + text_len;
}

/* MOVE: its fixed part, reserved field, address bound and bytes. */
static void test_move_checks(void)
{
	static uint8_t p[BIG];
	struct logfmt_record r = { .type = LOGFMT_MOVE };
	uint8_t enc[64];

	for (uint32_t len = 0; len < 16; len++)
		expect_payload_error(LOGFMT_MOVE, p, len,
				     len ? "MOVE record payload is"
					 : "MOVE record payload is 0 bytes");
	memset(p, 0, sizeof(p));
	le32(p + 12, 1);
	expect_payload_error(LOGFMT_MOVE, p, 16,
			     "MOVE record reserved field is 0x1, want 0");
	le32(p + 12, 0);
	le32(p + 8, LOGFMT_MOVE_ADDR_MAX + 1);
	expect_payload_error(
	    LOGFMT_MOVE, p, 16 + LOGFMT_MOVE_ADDR_MAX + 1,
	    "MOVE record address of 256 bytes is out of range");
	le32(p + 8, 5);
	memcpy(p + 16, "a:1", 4); /* its NUL inside the 5 bytes */
	expect_payload_error(LOGFMT_MOVE, p, 21,
			     "MOVE record address holds a NUL byte");
	expect_payload_error(LOGFMT_MOVE, p, 22,
			     "MOVE record payload is 22 bytes, want 21");
	/* The encoder refuses what the decoder would. */
	r.u.move = (struct logfmt_move){ 7, 3, "a\0b" };
	CU_ASSERT_EQUAL(logfmt__encode_record(&r, enc, sizeof(enc)), -1);
	r.u.move = (struct logfmt_move){ 7, 3, NULL };
	CU_ASSERT_EQUAL(logfmt__encode_record(&r, enc, sizeof(enc)), -1);
	r.u.move = (struct logfmt_move){ 7, LOGFMT_MOVE_ADDR_MAX + 1, "x" };
	CU_ASSERT_EQUAL(logfmt__encode_record(&r, enc, sizeof(enc)), -1);
}

static void test_hello_checks(void)
{
	static uint8_t p[BIG], rec[BIG];
	struct logfmt_record g;
	struct logfmt_error e;
	uint32_t len;
	char msg[100];
	size_t n;

	for (len = 0; len < 16; len++) {
		snprintf(msg, sizeof(msg),
			 "HELLO record payload is %u bytes, want at least 16",
			 len);
		expect_payload_error(LOGFMT_HELLO, p, len, msg);
	}

	/* Role, then answer, then the lengths, then the exact size. */
	len = hello_payload(p, 0, 0, 5, 0, "hostA", 5);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record role 0 is unknown");
	len = hello_payload(p, 3, 0, 5, 0, "hostA", 5);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record role 3 is unknown");
	len = hello_payload(p, ~0u, 7, 0, 0, "", 0);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record role 4294967295 is unknown");
	len = hello_payload(p, 2, 2, 5, 0, "hostB", 5);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record answer 2 is unknown");
	len = hello_payload(p, 2, ~0u, 0, 0, "", 0);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record answer 4294967295 is unknown");

	len = hello_payload(p, 1, 0, 0, 0, "", 0);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record node id of 0 bytes or reason of 0 "
			     "bytes is out of range");
	memset(msg, 'n', 64);
	len = hello_payload(p, 1, 0, 64, 0, msg, 64);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record node id of 64 bytes or reason of 0 "
			     "bytes is out of range");
	{
		static char text[1 + 401];

		memset(text, 'r', sizeof(text));
		len = hello_payload(p, 2, 1, 1, 401, text, sizeof(text));
		expect_payload_error(LOGFMT_HELLO, p, len,
				     "HELLO record node id of 1 bytes or "
				     "reason of 401 bytes is out of range");
	}
	/* Lengths that would overflow a u32 sum are refused as out of range. */
	len = hello_payload(p, 2, 1, ~0u, ~0u - 15, "x", 1);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record node id of 4294967295 bytes or "
			     "reason of 4294967280 bytes is out of range");

	/* The payload must be exactly 16 + node_len + reason_len. */
	len = hello_payload(p, 2, 1, 5, 2, "hostBno", 7);
	expect_payload_error(LOGFMT_HELLO, p, len + 1,
			     "HELLO record payload is 24 bytes, want 23");
	expect_payload_error(LOGFMT_HELLO, p, len - 1,
			     "HELLO record payload is 22 bytes, want 23");
	len = hello_payload(p, 2, 1, 5, 0, "hostBno", 7);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record payload is 23 bytes, want 21");

	/* No NUL in the node id or in the reason: at either end. */
	len = hello_payload(p, 2, 1, 5, 2, "ho\0tBno", 7);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record text holds a NUL byte");
	len = hello_payload(p, 2, 1, 5, 2, "\0ostBno", 7);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record text holds a NUL byte");
	len = hello_payload(p, 2, 1, 5, 2, "hostBn\0", 7);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record text holds a NUL byte");
	len = hello_payload(p, 2, 1, 5, 2, "hostB\0o", 7);
	expect_payload_error(LOGFMT_HELLO, p, len,
			     "HELLO record text holds a NUL byte");

	/* The same, valid: node and reason split where the lengths say. */
	len = hello_payload(p, 2, 1, 5, 2, "hostBno", 7);
	n = raw_record(rec, LOGFMT_HELLO, 0, p, len);
	{
		uint8_t *copy = exact(rec, n);

		CU_ASSERT_EQUAL(logfmt__decode_record(copy, n, &g, &e),
				(long)n);
		CU_ASSERT_EQUAL(g.u.hello.role, LOGFMT_ROLE_BACKUP);
		CU_ASSERT_EQUAL(g.u.hello.refused, 1);
		CU_ASSERT_EQUAL(g.u.hello.node_len, 5);
		CU_ASSERT_EQUAL(g.u.hello.reason_len, 2);
		CU_ASSERT(g.u.hello.node == (const char *)copy + 24 + 16);
		CU_ASSERT(g.u.hello.reason == g.u.hello.node + 5);
		CU_ASSERT(!memcmp(g.u.hello.node, "hostB", 5));
		CU_ASSERT(!memcmp(g.u.hello.reason, "no", 2));
		free(copy);
	}
}

/* ---- logfmt__check_order: the rules across records (section 6) ---- */

static struct logfmt_record ord(uint64_t seq, uint64_t ordinal, uint16_t type)
{
	return (struct logfmt_record){ .seq = seq,
				       .ordinal = ordinal,
				       .type = type };
}

static void expect_order_ok_at(struct logfmt_order *o, struct logfmt_record rec,
			       int line)
{
	struct logfmt_order before = *o;
	struct logfmt_error e = { "" };

	CHECK_AT(logfmt__check_order(o, &rec, &e) == 0, line);
	CHECK_AT(e.msg[0] == '\0', line);
	if (e.msg[0])
		fprintf(stderr, "\n  line %d: refused: \"%s\"\n", line, e.msg);
	CHECK_AT(o->next_seq == before.next_seq + 1, line);
	CHECK_AT(o->last_ordinal == rec.ordinal, line);
	CHECK_AT(o->ended == (before.ended || rec.type == LOGFMT_END), line);
}

/* Refused with exactly @msg, and @o left as it was. */
static void expect_order_error_at(struct logfmt_order *o,
				  struct logfmt_record rec, const char *msg,
				  int line)
{
	struct logfmt_order before = *o;
	struct logfmt_error e = { "" };

	CHECK_AT(logfmt__check_order(o, &rec, &e) == -1, line);
	CHECK_AT(!strcmp(e.msg, msg), line);
	if (strcmp(e.msg, msg))
		fprintf(stderr, "\n  line %d: got \"%s\", want \"%s\"\n", line,
			e.msg, msg);
	CHECK_AT(o->next_seq == before.next_seq &&
		     o->last_ordinal == before.last_ordinal &&
		     o->ended == before.ended,
		 line);
	/* Without an error buffer: the same answer. */
	CHECK_AT(logfmt__check_order(o, &rec, NULL) == -1, line);
}

#define expect_order_ok(o, seq, ordinal, type) \
	expect_order_ok_at((o), ord((seq), (ordinal), (type)), __LINE__)
#define expect_order_error(o, seq, ordinal, type, msg)                   \
	expect_order_error_at((o), ord((seq), (ordinal), (type)), (msg), \
			      __LINE__)

static void test_order_sequence(void)
{
	struct logfmt_order o = { 0 };

	expect_order_error(&o, 1, 0, LOGFMT_BOOT, "sequence 1, want 0");
	expect_order_error(&o, ~0ull, 0, LOGFMT_BOOT,
			   "sequence 18446744073709551615, want 0");
	expect_order_ok(&o, 0, 0, LOGFMT_BOOT);
	expect_order_error(&o, 0, 1, LOGFMT_TIME, "sequence 0, want 1");
	expect_order_error(&o, 2, 1, LOGFMT_TIME, "sequence 2, want 1");
	expect_order_ok(&o, 1, 1, LOGFMT_TIME);
	/* Optional records take sequence numbers like any other. */
	expect_order_error(&o, 3, 1, LOGFMT_PROGRESS, "sequence 3, want 2");
	expect_order_ok(&o, 2, 1, LOGFMT_PROGRESS);
	expect_order_ok(&o, 3, 1, UNKNOWN_OPTIONAL);
	expect_order_error(&o, 3, 1, LOGFMT_TIMER, "sequence 3, want 4");
	for (uint64_t seq = 4; seq < 1000; seq++)
		if (logfmt__check_order(
			&o,
			&(struct logfmt_record){
			    .seq = seq, .ordinal = 1, .type = LOGFMT_TIMER },
			NULL))
			CU_FAIL("a sequence without gaps is refused");
	CU_ASSERT_EQUAL(o.next_seq, 1000);
}

static void test_order_ordinals(void)
{
	struct logfmt_order o = { 0 };

	expect_order_ok(&o, 0, 0, LOGFMT_BOOT);
	expect_order_ok(&o, 1, 10, LOGFMT_DIGEST);
	/* The same ordinal again: several records at one exit. */
	expect_order_ok(&o, 2, 10, LOGFMT_TIME);
	expect_order_ok(&o, 3, 10, LOGFMT_TIMER);
	expect_order_error(&o, 4, 9, LOGFMT_TIME,
			   "exit ordinal 9 is before the previous record's 10");
	/* Optional records too: the stream's own carry the last ordinal. */
	expect_order_error(&o, 4, 0, LOGFMT_PROGRESS,
			   "exit ordinal 0 is before the previous record's 10");
	expect_order_ok(&o, 4, 10, LOGFMT_PROGRESS);
	expect_order_ok(&o, 5, 11, LOGFMT_RANDOM);
	expect_order_ok(&o, 6, ~0ull, LOGFMT_CONSOLE_IN);
	expect_order_error(&o, 7, ~0ull - 1, LOGFMT_END,
			   "exit ordinal 18446744073709551614 is before the "
			   "previous record's 18446744073709551615");
	expect_order_ok(&o, 7, ~0ull, LOGFMT_END);
}

static void test_order_boot(void)
{
	const uint16_t not_boot[] = {
		LOGFMT_TIME,	 LOGFMT_RANDOM, LOGFMT_TIMER, LOGFMT_CONSOLE_IN,
		LOGFMT_DIGEST,	 LOGFMT_END,	LOGFMT_NOTE,  LOGFMT_PROGRESS,
		LOGFMT_RELEASED, LOGFMT_ACK,	LOGFMT_HELLO, LOGFMT_HANDOVER,
		UNKNOWN_OPTIONAL
	};
	struct logfmt_order o = { 0 };
	char msg[80];

	/* Record 0 is BOOT, whatever else it could have been. */
	for (size_t i = 0; i < sizeof(not_boot) / sizeof(not_boot[0]); i++) {
		snprintf(msg, sizeof(msg), "%s first: record 0 must be BOOT",
			 logfmt__type_name(not_boot[i]));
		expect_order_error(&o, 0, 0, not_boot[i], msg);
		expect_order_error(&o, 0, 1, not_boot[i], msg);
	}
	/* ... at ordinal 0. */
	expect_order_error(&o, 0, 1, LOGFMT_BOOT,
			   "BOOT at exit ordinal 1, not 0");
	expect_order_error(&o, 0, ~0ull, LOGFMT_BOOT,
			   "BOOT at exit ordinal 18446744073709551615, not 0");
	expect_order_ok(&o, 0, 0, LOGFMT_BOOT);
	/* ... and only it: not again at 0, nor later. */
	expect_order_error(&o, 1, 0, LOGFMT_BOOT,
			   "BOOT again: BOOT is record 0 only");
	expect_order_ok(&o, 1, 0, LOGFMT_HELLO);
	expect_order_ok(&o, 2, 4, LOGFMT_TIME);
	expect_order_error(&o, 3, 4, LOGFMT_BOOT,
			   "BOOT again: BOOT is record 0 only");
	expect_order_error(&o, 3, 5, LOGFMT_BOOT,
			   "BOOT again: BOOT is record 0 only");
}

static void test_order_ordinal_zero(void)
{
	const uint16_t mandatory[] = { LOGFMT_TIME,   LOGFMT_RANDOM,
				       LOGFMT_TIMER,  LOGFMT_CONSOLE_IN,
				       LOGFMT_DIGEST, 9,
				       0x7fff };
	const uint16_t optional[] = { LOGFMT_NOTE,     LOGFMT_PROGRESS,
				      LOGFMT_RELEASED, LOGFMT_ACK,
				      LOGFMT_HELLO,    UNKNOWN_OPTIONAL };
	struct logfmt_order o = { 0 };
	uint64_t seq = 1;
	char msg[80];

	expect_order_ok(&o, 0, 0, LOGFMT_BOOT);
	/* Mandatory records belong to an exit, ordinal 1 or more... */
	for (size_t i = 0; i < sizeof(mandatory) / sizeof(mandatory[0]); i++) {
		snprintf(msg, sizeof(msg),
			 "%s at exit ordinal 0, before the first exit",
			 logfmt__type_name(mandatory[i]));
		expect_order_error(&o, seq, 0, mandatory[i], msg);
	}
	/* ... optional ones may come before the first exit ... */
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
		expect_order_ok(&o, seq++, 0, optional[i]);
	/* ... and so may END: a run stopped before its first exit. */
	expect_order_ok(&o, seq++, 0, LOGFMT_END);
	CU_ASSERT(o.ended);

	/* The same mandatory records at ordinal 1 are fine. */
	o = (struct logfmt_order){ 0 };
	expect_order_ok(&o, 0, 0, LOGFMT_BOOT);
	for (size_t i = 0; i < 5; i++)
		expect_order_ok(&o, 1 + i, 1, mandatory[i]);
}

static void test_order_after_end(void)
{
	const uint16_t mandatory[] = { LOGFMT_BOOT,	  LOGFMT_TIME,
				       LOGFMT_RANDOM,	  LOGFMT_TIMER,
				       LOGFMT_CONSOLE_IN, LOGFMT_DIGEST,
				       LOGFMT_END };
	struct logfmt_order o = { 0 };
	uint64_t seq;
	char msg[80];

	expect_order_ok(&o, 0, 0, LOGFMT_BOOT);
	expect_order_ok(&o, 1, 3, LOGFMT_TIME);
	expect_order_ok(&o, 2, 5, LOGFMT_END);
	CU_ASSERT_EQUAL(o.next_seq, 3);
	CU_ASSERT_EQUAL(o.last_ordinal, 5);
	CU_ASSERT(o.ended);
	/* Nothing mandatory after END, whatever its seq and ordinal. */
	for (size_t i = 0; i < sizeof(mandatory) / sizeof(mandatory[0]); i++) {
		snprintf(msg, sizeof(msg), "%s record after END",
			 logfmt__type_name(mandatory[i]));
		expect_order_error(&o, 3, 5, mandatory[i], msg);
		expect_order_error(&o, 3, 6, mandatory[i], msg);
		expect_order_error(&o, 9, 1, mandatory[i], msg);
	}
	expect_order_error(&o, 3, 5, 9, "unknown record after END");
	/* The stream's own optional records may follow, still in order. */
	seq = 3;
	expect_order_ok(&o, seq++, 5, LOGFMT_PROGRESS);
	expect_order_ok(&o, seq++, 5, LOGFMT_RELEASED);
	expect_order_ok(&o, seq++, 6, LOGFMT_NOTE);
	expect_order_ok(&o, seq++, 6, UNKNOWN_OPTIONAL);
	CU_ASSERT(o.ended);
	expect_order_error(&o, seq + 1, 6, LOGFMT_PROGRESS,
			   "sequence 8, want 7");
	expect_order_error(&o, seq, 5, LOGFMT_RELEASED,
			   "exit ordinal 5 is before the previous record's 6");
	expect_order_error(&o, seq, 6, LOGFMT_TIME, "TIME record after END");
}

/* Records back to back decode one after the other, as a reader does. */
static void test_stream_of_records(void)
{
	const uint16_t types[] = { LOGFMT_BOOT,	    LOGFMT_HELLO,
				   LOGFMT_TIME,	    LOGFMT_RANDOM,
				   LOGFMT_TIMER,    LOGFMT_CONSOLE_IN,
				   LOGFMT_DIGEST,   LOGFMT_PROGRESS,
				   LOGFMT_RELEASED, LOGFMT_ACK,
				   LOGFMT_NOTE,	    UNKNOWN_OPTIONAL,
				   LOGFMT_END };
	const size_t nr = sizeof(types) / sizeof(types[0]);
	static uint8_t buf[BIG];
	struct logfmt_record r, g;
	struct logfmt_error e;
	size_t len = 0, off = 0;
	uint8_t *copy;

	for (size_t t = 0; t < nr; t++) {
		r = sample(types[t], (uint32_t)t + 1);
		r.seq = t;
		len += (size_t)logfmt__encode_record(&r, buf + len,
						     sizeof(buf) - len);
	}
	copy = exact(buf, len);
	for (size_t t = 0; t < nr; t++) {
		long n = logfmt__decode_record(copy + off, len - off, &g, &e);

		CU_ASSERT_FATAL(n > 0);
		r = sample(types[t], (uint32_t)t + 1);
		r.seq = t;
		CU_ASSERT(fields_equal(&r, &g));
		CU_ASSERT_EQUAL(off % 8, 0);
		off += (size_t)n;
	}
	CU_ASSERT_EQUAL(off, len);
	CU_ASSERT_EQUAL(logfmt__decode_record(copy + off, 0, &g, &e), 0);
	free(copy);
}

/* BOOT with a vif, NET_RX: layouts, round trips and every check. */
static void test_net_records(void)
{
	struct logfmt_record w = sample(LOGFMT_BOOT, 5), g;
	static uint8_t buf[BIG], p[BIG];
	struct logfmt_error e;
	static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 1, 2, 3 };
	long n;

	w.u.boot.nr_vifs = 1;
	memcpy(w.u.boot.vif_mac[0], mac, 6);
	CU_ASSERT_EQUAL(logfmt__record_size(&w), 24 + 40 + 8);
	n = logfmt__encode_record(&w, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(n, 72);
	/* After the command line: the count, then MAC and two zero bytes. */
	CU_ASSERT_EQUAL(rd32(buf + 24 + 16 + 5), 1);
	CU_ASSERT(!memcmp(buf + 24 + 16 + 5 + 4, mac, 6));
	CU_ASSERT_EQUAL(logfmt__decode_record(buf, (size_t)n, &g, &e), n);
	CU_ASSERT_EQUAL(g.u.boot.nr_vifs, 1);
	CU_ASSERT(!memcmp(g.u.boot.vif_mac[0], mac, 6));
	CU_ASSERT_EQUAL(g.u.boot.cmdline_len, 5);
	w.u.boot.nr_vifs = PVFT_MAX_VIFS + 1;
	CU_ASSERT_EQUAL(logfmt__record_size(&w), 0);

	memset(p, 0, sizeof(p));
	le32(p + 12, 5);
	memcpy(p + 16, "abcde", 5);
	le32(p + 21, 0);
	expect_payload_error(LOGFMT_BOOT, p, 21 + 4 + 8,
			     "BOOT record has 0 vifs, not 1..1");
	le32(p + 21, 2);
	expect_payload_error(LOGFMT_BOOT, p, 21 + 4 + 16,
			     "BOOT record has 2 vifs, not 1..1");
	le32(p + 21, 1);
	expect_payload_error(LOGFMT_BOOT, p, 21 + 4 + 7,
			     "BOOT record payload is 32 bytes, want 33");
	expect_payload_error(
	    LOGFMT_BOOT, p, 21 + 2,
	    "BOOT record payload is 23 bytes, want at least 25");
	p[21 + 4 + 7] = 1;
	expect_payload_error(LOGFMT_BOOT, p, 21 + 4 + 8,
			     "BOOT record vif 0 reserved bytes are not 0");

	round_trip(LOGFMT_NET_RX, PVFT_NET_FRAME_MIN);
	round_trip(LOGFMT_NET_RX, 61);
	round_trip(LOGFMT_NET_RX, PVFT_NET_FRAME_MAX);
	w = sample(LOGFMT_NET_RX, 60);
	w.u.net_rx.len = PVFT_NET_FRAME_MAX + 1;
	CU_ASSERT_EQUAL(logfmt__record_size(&w), 0);
	w.u.net_rx.len = PVFT_NET_FRAME_MIN - 1;
	CU_ASSERT_EQUAL(logfmt__record_size(&w), 0);
	w.u.net_rx.len = 60;
	w.u.net_rx.vif = PVFT_MAX_VIFS;
	CU_ASSERT_EQUAL(logfmt__record_size(&w), 0);
	memset(p, 0, sizeof(p));
	le32(p + 20, 13);
	expect_payload_error(LOGFMT_NET_RX, p, 24 + 13,
			     "NET_RX record frame of 13 bytes is outside "
			     "14..1514");
	le32(p + 20, 1515);
	expect_payload_error(LOGFMT_NET_RX, p, 24 + 1515,
			     "NET_RX record frame of 1515 bytes");
	le32(p + 20, 60);
	expect_payload_error(LOGFMT_NET_RX, p, 24 + 59,
			     "NET_RX record payload is 83 bytes, want 84");
	le32(p + 16, 1);
	expect_payload_error(LOGFMT_NET_RX, p, 24 + 60,
			     "NET_RX record names vif 1, not 0..0");
	CU_ASSERT_STRING_EQUAL(logfmt__type_name(LOGFMT_NET_RX), "NET_RX");
}

/* A record's whole size from its head alone, and a hostile length. */
static void test_record_total(void)
{
	static uint8_t buf[LOGFMT_MAX_RECORD];
	struct logfmt_record r = { .type = LOGFMT_CONSOLE_IN, .ordinal = 3 };
	struct logfmt_error err;
	uint32_t len = LOGFMT_MAX_PAYLOAD + 1;
	long n;

	r.u.console_in.len = 5;
	r.u.console_in.bytes = (const uint8_t *)"hello";
	n = logfmt__encode_record(&r, buf, sizeof(buf));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(logfmt__record_total(buf, &err), n);
	memcpy(buf + 20, &len, 4); /* the head's length field, little-endian */
	CU_ASSERT_EQUAL(logfmt__record_total(buf, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "exceeds the maximum"));
	CU_ASSERT_EQUAL(logfmt__decode_record(buf, sizeof(buf), &r, &err), -1);
}

static CU_TestInfo logfmt_tests[] = {
	{ "a record's size from its head", test_record_total },
	{ "BOOT vifs and NET_RX records", test_net_records },
	{ "CRC32C vectors", test_crc_vectors },
	{ "CRC32C chaining and alignment", test_crc_chaining_and_alignment },
	{ "type and cause names", test_names },
	{ "header byte layout", test_header_layout },
	{ "header round trip", test_header_round_trip },
	{ "every header check", test_header_checks },
	{ "round trip of every type", test_round_trip_every_type },
	{ "round trip at length boundaries", test_round_trip_boundaries },
	{ "field values at their limits", test_values_at_limits },
	{ "encoder refuses invalid records", test_encode_refuses },
	{ "encoder refuses invalid HELLO records", test_encode_refuses_hello },
	{ "encoder refuses an ACK of more replayed than received",
	  test_encode_refuses_bad_ack },
	{ "encoder respects cap", test_encode_cap },
	{ "every truncation waits for more", test_every_truncation_waits },
	{ "every flipped bit is refused", test_bit_flips },
	{ "padding, tail, flags and types", test_record_head_checks },
	{ "record length bound", test_record_length_bound },
	{ "wrong fixed payload lengths", test_wrong_fixed_lengths },
	{ "BOOT payload checks", test_boot_checks },
	{ "reserved fields", test_pos_reserved },
	{ "RANDOM payload checks", test_random_checks },
	{ "CONSOLE_IN payload checks", test_console_in_checks },
	{ "END and NOTE payload checks", test_end_and_note_checks },
	{ "stream records byte layout", test_stream_record_layout },
	{ "ACK payload checks", test_ack_checks },
	{ "HELLO payload checks", test_hello_checks },
	{ "MOVE payload checks", test_move_checks },
	{ "order: sequence from 0, no gaps or repeats", test_order_sequence },
	{ "order: exit ordinals never go back", test_order_ordinals },
	{ "order: BOOT is record 0 at ordinal 0, and only it",
	  test_order_boot },
	{ "order: only optional records and END at ordinal 0",
	  test_order_ordinal_zero },
	{ "order: nothing mandatory after END", test_order_after_end },
	{ "records back to back", test_stream_of_records },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo logfmt_suites[] = {
	{ "logfmt", suite_init, NULL, NULL, NULL, logfmt_tests },
	CU_SUITE_INFO_NULL,
};

void test_logfmt__register(void)
{
	CU_register_suites(logfmt_suites);
}
