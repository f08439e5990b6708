// SPDX-License-Identifier: MIT
/*
 * The pvft log format: the only code that turns headers and records into
 * bytes and back (Documentation/log-format.md is the normative spec). Every
 * field goes through the put/get helpers below, byte by byte and
 * little-endian, so neither struct layout nor host byte order can leak into
 * the format. Decoding takes its input as hostile: every length is checked
 * against what the caller said it has before it is used.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "le.h"
#include "logfmt.h"
#include "pvft/abi.h"

#define CRC32C_POLY 0x82f63b78u /* Castagnoli, bit-reflected */

/* Header field offsets. */
#define HDR_MAGIC 0
#define HDR_VERSION 8
#define HDR_SIZE 10
#define HDR_FLAGS 12
#define HDR_PAIR_ID 16
#define HDR_EPOCH 24
#define HDR_IMAGE_HASH 32
#define HDR_MEM_SIZE 48
#define HDR_ABI_VERSION 56
#define HDR_RESERVED0 60 /* u32 */
#define HDR_CPUID_HASH 64
#define HDR_RESERVED1 72 /* up to the CRC */
#define HDR_CRC 124

/* Record head field offsets. */
#define HEAD_SEQ 0
#define HEAD_ORDINAL 8
#define HEAD_TYPE 16
#define HEAD_FLAGS 18
#define HEAD_LENGTH 20

/* Payload sizes: fixed types exactly, variable ones before their bytes. */
#define POS_SIZE 16
#define BOOT_FIXED 16
#define TIME_SIZE 32
#define RANDOM_FIXED 24
#define TIMER_SIZE POS_SIZE
#define CONSOLE_IN_FIXED 24
#define NET_RX_FIXED 24
#define VIF_SIZE 8 /* BOOT's per-vif bytes: MAC, 2 reserved */
#define DIGEST_SIZE 56
#define END_SIZE 48
#define PROGRESS_SIZE 8
#define RELEASED_SIZE 8
#define ACK_SIZE 16
#define HELLO_FIXED 16
#define MOVE_FIXED 16
#define RESUME_SIZE 8

#define MAX_CMDLINE 1023 /* Xen's MAX_GUEST_CMDLINE less its NUL */
#define MAX_NOTE 4096

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

int logfmt__error(struct logfmt_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * CRC32C, slice-by-8: table[0] is the classic byte-at-a-time table;
 * table[k][b] is the CRC of byte b followed by k zero bytes, so eight
 * input bytes take eight independent look-ups. Built once, on first use.
 */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? CRC32C_POLY : 0);
		crc_table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = crc_table[t - 1][i];

			crc_table[t][i] = (c >> 8) ^ crc_table[0][c & 0xff];
		}
}

uint32_t logfmt__crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint32_t(*t)[256] = crc_table;
	const uint8_t *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	for (; len >= 8; p += 8, len -= 8) {
		uint32_t lo = crc ^ le__get32(p), hi = le__get32(p + 4);

		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
		      t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
		      t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
		      t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
	}
	for (; len; p++, len--)
		crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xff];
	return ~crc;
}

const char *logfmt__type_name(uint16_t type)
{
	switch (type) {
	case LOGFMT_BOOT:
		return "BOOT";
	case LOGFMT_TIME:
		return "TIME";
	case LOGFMT_RANDOM:
		return "RANDOM";
	case LOGFMT_TIMER:
		return "TIMER";
	case LOGFMT_CONSOLE_IN:
		return "CONSOLE_IN";
	case LOGFMT_NET_RX:
		return "NET_RX";
	case LOGFMT_DIGEST:
		return "DIGEST";
	case LOGFMT_END:
		return "END";
	case LOGFMT_NOTE:
		return "NOTE";
	case LOGFMT_PROGRESS:
		return "PROGRESS";
	case LOGFMT_RELEASED:
		return "RELEASED";
	case LOGFMT_HANDOVER:
		return "HANDOVER";
	case LOGFMT_MOVE:
		return "MOVE";
	case LOGFMT_RESUME:
		return "RESUME";
	case LOGFMT_ACK:
		return "ACK";
	case LOGFMT_HELLO:
		return "HELLO";
	}
	return "unknown";
}

const char *logfmt__end_cause_name(uint32_t cause)
{
	static const char *const names[LOGFMT_END_NR] = {
		[LOGFMT_END_SHUTDOWN] = "shutdown",
		[LOGFMT_END_FAULT] = "fault",
		[LOGFMT_END_STOPPED] = "stopped",
		[LOGFMT_END_HOST] = "host",
	};

	return cause < LOGFMT_END_NR ? names[cause] : "unknown";
}

void logfmt__encode_header(const struct logfmt_header *h,
			   uint8_t out[LOGFMT_HEADER_SIZE])
{
	memset(out, 0, LOGFMT_HEADER_SIZE);
	memcpy(out + HDR_MAGIC, LOGFMT_MAGIC, 8);
	le__put16(out + HDR_VERSION, LOGFMT_VERSION);
	le__put16(out + HDR_SIZE, LOGFMT_HEADER_SIZE);
	le__put32(out + HDR_FLAGS, h->flags);
	le__put64(out + HDR_PAIR_ID, h->pair_id);
	le__put64(out + HDR_EPOCH, h->epoch);
	memcpy(out + HDR_IMAGE_HASH, h->image_hash, sizeof(h->image_hash));
	le__put64(out + HDR_MEM_SIZE, h->mem_size);
	le__put32(out + HDR_ABI_VERSION, h->abi_version);
	le__put64(out + HDR_CPUID_HASH, h->cpuid_hash);
	le__put32(out + HDR_CRC, logfmt__crc32c(0, out, HDR_CRC));
}

/* The reserved bytes [@from, @to) of a header are zero. */
static int reserved_ok(const uint8_t *buf, int from, int to,
		       struct logfmt_error *err)
{
	for (int i = from; i < to; i++)
		if (buf[i])
			return logfmt__error(
			    err,
			    "log header reserved byte at offset %d is "
			    "0x%02x, want 0",
			    i, buf[i]);
	return 0;
}

int logfmt__decode_header(const uint8_t *buf, size_t len,
			  struct logfmt_header *h, struct logfmt_error *err)
{
	uint32_t stored, crc, flags;
	uint16_t version, size;

	if (len < LOGFMT_HEADER_SIZE)
		return logfmt__error(err,
				     "log header truncated: %zu of %d bytes",
				     len, LOGFMT_HEADER_SIZE);
	if (memcmp(buf + HDR_MAGIC, LOGFMT_MAGIC, 8))
		return logfmt__error(err, "not a pvft log (bad magic)");
	/* The version first: another version may place the rest elsewhere. */
	version = le__get16(buf + HDR_VERSION);
	if (version != LOGFMT_VERSION)
		return logfmt__error(err,
				     "log format version %u, this pvft reads "
				     "version %d",
				     version, LOGFMT_VERSION);
	size = le__get16(buf + HDR_SIZE);
	if (size != LOGFMT_HEADER_SIZE)
		return logfmt__error(err,
				     "log header size is %u bytes, want %d",
				     size, LOGFMT_HEADER_SIZE);
	/* The CRC before the fields, so a flipped bit is called that. */
	stored = le__get32(buf + HDR_CRC);
	crc = logfmt__crc32c(0, buf, HDR_CRC);
	if (stored != crc)
		return logfmt__error(
		    err,
		    "log header CRC32C mismatch: stored 0x%08x, "
		    "computed 0x%08x",
		    stored, crc);
	flags = le__get32(buf + HDR_FLAGS);
	if (flags & ~LOGFMT_F_KNOWN)
		return logfmt__error(err, "log header has unknown flags 0x%x",
				     flags & ~LOGFMT_F_KNOWN);
	if (reserved_ok(buf, HDR_RESERVED0, HDR_CPUID_HASH, err) ||
	    reserved_ok(buf, HDR_RESERVED1, HDR_CRC, err))
		return -1;

	h->version = version;
	h->flags = flags;
	h->pair_id = le__get64(buf + HDR_PAIR_ID);
	h->epoch = le__get64(buf + HDR_EPOCH);
	memcpy(h->image_hash, buf + HDR_IMAGE_HASH, sizeof(h->image_hash));
	h->mem_size = le__get64(buf + HDR_MEM_SIZE);
	h->abi_version = le__get32(buf + HDR_ABI_VERSION);
	h->cpuid_hash = le__get64(buf + HDR_CPUID_HASH);
	return 0;
}

/*
 * The payload bytes @r encodes to, from its type and union member; -1 if
 * a field is out of the range a decoder accepts.
 */
static long payload_size(const struct logfmt_record *r)
{
	const struct logfmt_boot *b = &r->u.boot;

	switch (r->type) {
	case LOGFMT_BOOT:
		if (b->cmdline_len > MAX_CMDLINE ||
		    (b->cmdline_len &&
		     (!b->cmdline || memchr(b->cmdline, '\0', b->cmdline_len))))
			return -1;
		if (b->nr_vifs > PVFT_MAX_VIFS)
			return -1;
		return BOOT_FIXED + b->cmdline_len +
		       (b->nr_vifs ? 4 + VIF_SIZE * b->nr_vifs : 0);
	case LOGFMT_TIME:
		return TIME_SIZE;
	case LOGFMT_RANDOM:
		if (r->u.random.len < 1 || r->u.random.len > PVFT_RANDOM_MAX ||
		    !r->u.random.bytes)
			return -1;
		return RANDOM_FIXED + r->u.random.len;
	case LOGFMT_TIMER:
		return TIMER_SIZE;
	case LOGFMT_CONSOLE_IN:
		if (r->u.console_in.flags & ~LOGFMT_CONSOLE_CLOSED ||
		    r->u.console_in.len > PVFT_CONSOLE_IO_MAX ||
		    (r->u.console_in.len && !r->u.console_in.bytes))
			return -1;
		return CONSOLE_IN_FIXED + r->u.console_in.len;
	case LOGFMT_NET_RX:
		if (r->u.net_rx.vif >= PVFT_MAX_VIFS ||
		    r->u.net_rx.len < PVFT_NET_FRAME_MIN ||
		    r->u.net_rx.len > PVFT_NET_FRAME_MAX || !r->u.net_rx.bytes)
			return -1;
		return NET_RX_FIXED + r->u.net_rx.len;
	case LOGFMT_DIGEST:
		return DIGEST_SIZE;
	case LOGFMT_END:
		if (r->u.end.cause >= LOGFMT_END_NR ||
		    (r->u.end.flags & ~LOGFMT_END_F_KNOWN))
			return -1;
		return END_SIZE;
	case LOGFMT_NOTE:
		if (r->u.note.len > MAX_NOTE ||
		    (r->u.note.len && !r->u.note.text))
			return -1;
		return r->u.note.len;
	case LOGFMT_PROGRESS:
		return PROGRESS_SIZE;
	case LOGFMT_RELEASED:
	case LOGFMT_HANDOVER:
		return RELEASED_SIZE;
	case LOGFMT_ACK:
		if (r->u.ack.replayed > r->u.ack.received)
			return -1;
		return ACK_SIZE;
	case LOGFMT_HELLO: {
		const struct logfmt_hello *h = &r->u.hello;

		if (h->node_len < 1 || h->node_len > LOGFMT_HELLO_NODE_MAX ||
		    !h->node || memchr(h->node, '\0', h->node_len) ||
		    h->reason_len > LOGFMT_HELLO_REASON_MAX ||
		    (h->reason_len &&
		     (!h->reason || memchr(h->reason, '\0', h->reason_len))) ||
		    h->refused > 1 || h->role < LOGFMT_ROLE_PRIMARY ||
		    h->role > LOGFMT_ROLE_BACKUP)
			return -1;
		return HELLO_FIXED + h->node_len + h->reason_len;
	}
	case LOGFMT_MOVE:
		if (r->u.move.addr_len > LOGFMT_MOVE_ADDR_MAX ||
		    (r->u.move.addr_len &&
		     (!r->u.move.addr ||
		      memchr(r->u.move.addr, '\0', r->u.move.addr_len))))
			return -1;
		return MOVE_FIXED + r->u.move.addr_len;
	case LOGFMT_RESUME:
		return RESUME_SIZE;
	}
	/* Not ours to interpret: an optional type is copied as it came. */
	if (!(r->type & LOGFMT_TYPE_OPTIONAL) || r->len > LOGFMT_MAX_PAYLOAD ||
	    (r->len && !r->payload))
		return -1;
	return r->len;
}

size_t logfmt__record_size(const struct logfmt_record *r)
{
	long n = payload_size(r);

	if (n < 0)
		return 0;
	return LOGFMT_HEAD_SIZE + pad8((size_t)n) + LOGFMT_TAIL_SIZE;
}

static void put_pos(uint8_t *p, const struct logfmt_pos *pos)
{
	le__put64(p, pos->rip);
	le__put32(p + 8, pos->nr);
}

static void put_digest_value(uint8_t *p, const struct logfmt_digest_value *v)
{
	le__put64(p, v->mem);
	le__put64(p + 8, v->regs);
	le__put64(p + 16, v->out_bytes);
	le__put64(p + 24, v->out_hash);
}

/* @p is zeroed: only the non-reserved fields are written. */
static void encode_payload(const struct logfmt_record *r, uint8_t *p,
			   size_t len)
{
	switch (r->type) {
	case LOGFMT_BOOT:
		le__put64(p, r->u.boot.wall_ns);
		le__put32(p + 8, r->u.boot.id_nonce);
		le__put32(p + 12, r->u.boot.cmdline_len);
		if (r->u.boot.cmdline_len)
			memcpy(p + BOOT_FIXED, r->u.boot.cmdline,
			       r->u.boot.cmdline_len);
		if (r->u.boot.nr_vifs) {
			uint8_t *v = p + BOOT_FIXED + r->u.boot.cmdline_len;

			le__put32(v, r->u.boot.nr_vifs);
			for (uint32_t i = 0; i < r->u.boot.nr_vifs; i++)
				memcpy(v + 4 + VIF_SIZE * i,
				       r->u.boot.vif_mac[i], 6);
		}
		break;
	case LOGFMT_TIME:
		put_pos(p, &r->u.time.pos);
		le__put32(p + 16, r->u.time.clock);
		le__put64(p + 24, (uint64_t)r->u.time.value);
		break;
	case LOGFMT_RANDOM:
		put_pos(p, &r->u.random.pos);
		le__put32(p + 16, r->u.random.len);
		memcpy(p + RANDOM_FIXED, r->u.random.bytes, r->u.random.len);
		break;
	case LOGFMT_TIMER:
		put_pos(p, &r->u.timer.pos);
		break;
	case LOGFMT_CONSOLE_IN:
		put_pos(p, &r->u.console_in.pos);
		le__put32(p + 16, r->u.console_in.flags);
		le__put32(p + 20, r->u.console_in.len);
		if (r->u.console_in.len)
			memcpy(p + CONSOLE_IN_FIXED, r->u.console_in.bytes,
			       r->u.console_in.len);
		break;
	case LOGFMT_NET_RX:
		put_pos(p, &r->u.net_rx.pos);
		le__put32(p + 16, r->u.net_rx.vif);
		le__put32(p + 20, r->u.net_rx.len);
		memcpy(p + NET_RX_FIXED, r->u.net_rx.bytes, r->u.net_rx.len);
		break;
	case LOGFMT_DIGEST:
		put_pos(p, &r->u.digest.pos);
		le__put64(p + 16, r->u.digest.guest_ns);
		put_digest_value(p + 24, &r->u.digest.v);
		break;
	case LOGFMT_END:
		le__put32(p, r->u.end.status);
		le__put16(p + 4, r->u.end.cause);
		le__put16(p + 6, r->u.end.flags);
		le__put64(p + 8, r->u.end.guest_ns);
		put_digest_value(p + 16, &r->u.end.v);
		break;
	case LOGFMT_NOTE:
		if (len)
			memcpy(p, r->u.note.text, len);
		break;
	case LOGFMT_PROGRESS:
		le__put64(p, r->u.progress.next_ordinal);
		break;
	case LOGFMT_RELEASED:
	case LOGFMT_HANDOVER:
		le__put64(p, r->u.released.out_bytes);
		break;
	case LOGFMT_ACK:
		le__put64(p, r->u.ack.received);
		le__put64(p + 8, r->u.ack.replayed);
		break;
	case LOGFMT_HELLO:
		le__put32(p, r->u.hello.role);
		le__put32(p + 4, r->u.hello.refused);
		le__put32(p + 8, r->u.hello.node_len);
		le__put32(p + 12, r->u.hello.reason_len);
		memcpy(p + HELLO_FIXED, r->u.hello.node, r->u.hello.node_len);
		if (r->u.hello.reason_len)
			memcpy(p + HELLO_FIXED + r->u.hello.node_len,
			       r->u.hello.reason, r->u.hello.reason_len);
		break;
	case LOGFMT_MOVE:
		le__put64(p, r->u.move.received);
		le__put32(p + 8, r->u.move.addr_len);
		if (r->u.move.addr_len)
			memcpy(p + MOVE_FIXED, r->u.move.addr,
			       r->u.move.addr_len);
		break;
	case LOGFMT_RESUME:
		le__put64(p, r->u.resume.first_seq);
		break;
	default:
		if (len)
			memcpy(p, r->payload, len);
		break;
	}
}

long logfmt__encode_record(const struct logfmt_record *r, uint8_t *out,
			   size_t cap)
{
	long n = payload_size(r);
	size_t padded, total;

	if (n < 0)
		return -1;
	padded = pad8((size_t)n);
	total = LOGFMT_HEAD_SIZE + padded + LOGFMT_TAIL_SIZE;
	if (cap < total)
		return -1;
	memset(out, 0, total);
	le__put64(out + HEAD_SEQ, r->seq);
	le__put64(out + HEAD_ORDINAL, r->ordinal);
	le__put16(out + HEAD_TYPE, r->type);
	le__put32(out + HEAD_LENGTH, (uint32_t)n);
	encode_payload(r, out + LOGFMT_HEAD_SIZE, (size_t)n);
	le__put32(out + LOGFMT_HEAD_SIZE + padded,
		  logfmt__crc32c(0, out, LOGFMT_HEAD_SIZE + padded));
	return (long)total;
}

static int want_len(const struct logfmt_record *r, uint32_t want,
		    struct logfmt_error *err)
{
	if (r->len == want)
		return 0;
	return logfmt__error(err, "%s record payload is %u bytes, want %u",
			     logfmt__type_name(r->type), r->len, want);
}

static int want_at_least(const struct logfmt_record *r, uint32_t want,
			 struct logfmt_error *err)
{
	if (r->len >= want)
		return 0;
	return logfmt__error(err,
			     "%s record payload is %u bytes, want at least %u",
			     logfmt__type_name(r->type), r->len, want);
}

static int want_zero(const struct logfmt_record *r, const char *field,
		     uint32_t v, struct logfmt_error *err)
{
	if (!v)
		return 0;
	return logfmt__error(err, "%s record %s is 0x%x, want 0",
			     logfmt__type_name(r->type), field, v);
}

/* The pos at the start of @r's payload; the caller checked the length. */
static int get_pos(const struct logfmt_record *r, struct logfmt_pos *pos,
		   struct logfmt_error *err)
{
	pos->rip = le__get64(r->payload);
	pos->nr = le__get32(r->payload + 8);
	return want_zero(r, "position reserved field",
			 le__get32(r->payload + 12), err);
}

static void get_digest_value(const uint8_t *p, struct logfmt_digest_value *v)
{
	v->mem = le__get64(p);
	v->regs = le__get64(p + 8);
	v->out_bytes = le__get64(p + 16);
	v->out_hash = le__get64(p + 24);
}

static int decode_boot(struct logfmt_record *r, struct logfmt_error *err)
{
	struct logfmt_boot *b = &r->u.boot;
	const uint8_t *p = r->payload;

	if (want_at_least(r, BOOT_FIXED, err))
		return -1;
	b->wall_ns = le__get64(p);
	b->id_nonce = le__get32(p + 8);
	b->cmdline_len = le__get32(p + 12);
	if (b->cmdline_len > MAX_CMDLINE)
		return logfmt__error(
		    err,
		    "BOOT record command line is %u bytes, the "
		    "maximum is %d",
		    b->cmdline_len, MAX_CMDLINE);
	if (want_at_least(r, BOOT_FIXED + b->cmdline_len, err))
		return -1;
	b->cmdline = (const char *)p + BOOT_FIXED;
	if (memchr(b->cmdline, '\0', b->cmdline_len))
		return logfmt__error(
		    err, "BOOT record command line holds a NUL byte");
	b->nr_vifs = 0;
	/* The vifs, when there are any, follow the command line. */
	if (r->len == BOOT_FIXED + b->cmdline_len)
		return 0;
	p += BOOT_FIXED + b->cmdline_len;
	if (want_at_least(r, BOOT_FIXED + b->cmdline_len + 4, err))
		return -1;
	b->nr_vifs = le__get32(p);
	if (b->nr_vifs < 1 || b->nr_vifs > PVFT_MAX_VIFS)
		return logfmt__error(err, "BOOT record has %u vifs, not 1..%d",
				     b->nr_vifs, PVFT_MAX_VIFS);
	if (want_len(r, BOOT_FIXED + b->cmdline_len + 4 + VIF_SIZE * b->nr_vifs,
		     err))
		return -1;
	for (uint32_t i = 0; i < b->nr_vifs; i++) {
		const uint8_t *v = p + 4 + VIF_SIZE * i;

		memcpy(b->vif_mac[i], v, 6);
		if (v[6] || v[7])
			return logfmt__error(
			    err, "BOOT record vif %u reserved bytes are not 0",
			    i);
	}
	return 0;
}

static int decode_net_rx(struct logfmt_record *r, struct logfmt_error *err)
{
	struct logfmt_net_rx *n = &r->u.net_rx;
	const uint8_t *p = r->payload;

	if (want_at_least(r, NET_RX_FIXED, err) || get_pos(r, &n->pos, err))
		return -1;
	n->vif = le__get32(p + 16);
	n->len = le__get32(p + 20);
	if (n->vif >= PVFT_MAX_VIFS)
		return logfmt__error(err,
				     "NET_RX record names vif %u, not 0..%d",
				     n->vif, PVFT_MAX_VIFS - 1);
	if (n->len < PVFT_NET_FRAME_MIN || n->len > PVFT_NET_FRAME_MAX)
		return logfmt__error(
		    err,
		    "NET_RX record frame of %u bytes is outside "
		    "%d..%d",
		    n->len, PVFT_NET_FRAME_MIN, PVFT_NET_FRAME_MAX);
	if (want_len(r, NET_RX_FIXED + n->len, err))
		return -1;
	n->bytes = p + NET_RX_FIXED;
	return 0;
}

static int decode_random(struct logfmt_record *r, struct logfmt_error *err)
{
	struct logfmt_random *rnd = &r->u.random;
	const uint8_t *p = r->payload;

	if (want_at_least(r, RANDOM_FIXED, err) || get_pos(r, &rnd->pos, err) ||
	    want_zero(r, "reserved field", le__get32(p + 20), err))
		return -1;
	rnd->len = le__get32(p + 16);
	if (rnd->len < 1 || rnd->len > PVFT_RANDOM_MAX)
		return logfmt__error(err,
				     "RANDOM record length %u is outside 1..%d",
				     rnd->len, PVFT_RANDOM_MAX);
	if (want_len(r, RANDOM_FIXED + rnd->len, err))
		return -1;
	rnd->bytes = p + RANDOM_FIXED;
	return 0;
}

static int decode_console_in(struct logfmt_record *r, struct logfmt_error *err)
{
	struct logfmt_console_in *c = &r->u.console_in;
	const uint8_t *p = r->payload;

	if (want_at_least(r, CONSOLE_IN_FIXED, err) || get_pos(r, &c->pos, err))
		return -1;
	c->flags = le__get32(p + 16);
	c->len = le__get32(p + 20);
	if (c->flags & ~LOGFMT_CONSOLE_CLOSED)
		return logfmt__error(err,
				     "CONSOLE_IN record has unknown flags 0x%x",
				     c->flags & ~LOGFMT_CONSOLE_CLOSED);
	if (c->len > PVFT_CONSOLE_IO_MAX)
		return logfmt__error(err,
				     "CONSOLE_IN record length %u exceeds the "
				     "maximum %d",
				     c->len, PVFT_CONSOLE_IO_MAX);
	if (want_len(r, CONSOLE_IN_FIXED + c->len, err))
		return -1;
	c->bytes = p + CONSOLE_IN_FIXED;
	return 0;
}

static int decode_hello(struct logfmt_record *r, struct logfmt_error *err)
{
	struct logfmt_hello *h = &r->u.hello;
	const uint8_t *p = r->payload;

	if (want_at_least(r, HELLO_FIXED, err))
		return -1;
	h->role = le__get32(p);
	h->refused = le__get32(p + 4);
	h->node_len = le__get32(p + 8);
	h->reason_len = le__get32(p + 12);
	if (h->role < LOGFMT_ROLE_PRIMARY || h->role > LOGFMT_ROLE_BACKUP)
		return logfmt__error(err, "HELLO record role %u is unknown",
				     h->role);
	if (h->refused > 1)
		return logfmt__error(err, "HELLO record answer %u is unknown",
				     h->refused);
	if (h->node_len < 1 || h->node_len > LOGFMT_HELLO_NODE_MAX ||
	    h->reason_len > LOGFMT_HELLO_REASON_MAX)
		return logfmt__error(err,
				     "HELLO record node id of %u bytes or "
				     "reason of %u bytes is out of range",
				     h->node_len, h->reason_len);
	if (want_len(r, HELLO_FIXED + h->node_len + h->reason_len, err))
		return -1;
	h->node = (const char *)p + HELLO_FIXED;
	h->reason = h->reason_len ? h->node + h->node_len : NULL;
	if (memchr(h->node, '\0', h->node_len) ||
	    (h->reason_len && memchr(h->reason, '\0', h->reason_len)))
		return logfmt__error(err, "HELLO record text holds a NUL byte");
	return 0;
}

static int decode_move(struct logfmt_record *r, struct logfmt_error *err)
{
	struct logfmt_move *m = &r->u.move;
	const uint8_t *p = r->payload;

	if (want_at_least(r, MOVE_FIXED, err))
		return -1;
	m->received = le__get64(p);
	m->addr_len = le__get32(p + 8);
	if (want_zero(r, "reserved field", le__get32(p + 12), err))
		return -1;
	if (m->addr_len > LOGFMT_MOVE_ADDR_MAX)
		return logfmt__error(err,
				     "MOVE record address of %u bytes is out "
				     "of range",
				     m->addr_len);
	if (want_len(r, MOVE_FIXED + m->addr_len, err))
		return -1;
	m->addr = m->addr_len ? (const char *)p + MOVE_FIXED : NULL;
	if (m->addr_len && memchr(m->addr, '\0', m->addr_len))
		return logfmt__error(err, "MOVE record address holds a NUL "
					  "byte");
	return 0;
}

static int decode_payload(struct logfmt_record *r, struct logfmt_error *err)
{
	const uint8_t *p = r->payload;

	switch (r->type) {
	case LOGFMT_BOOT:
		return decode_boot(r, err);
	case LOGFMT_TIME:
		if (want_len(r, TIME_SIZE, err) ||
		    get_pos(r, &r->u.time.pos, err) ||
		    want_zero(r, "reserved field", le__get32(p + 20), err))
			return -1;
		r->u.time.clock = le__get32(p + 16);
		r->u.time.value = (int64_t)le__get64(p + 24);
		return 0;
	case LOGFMT_RANDOM:
		return decode_random(r, err);
	case LOGFMT_TIMER:
		if (want_len(r, TIMER_SIZE, err))
			return -1;
		return get_pos(r, &r->u.timer.pos, err);
	case LOGFMT_CONSOLE_IN:
		return decode_console_in(r, err);
	case LOGFMT_NET_RX:
		return decode_net_rx(r, err);
	case LOGFMT_DIGEST:
		if (want_len(r, DIGEST_SIZE, err) ||
		    get_pos(r, &r->u.digest.pos, err))
			return -1;
		r->u.digest.guest_ns = le__get64(p + 16);
		get_digest_value(p + 24, &r->u.digest.v);
		return 0;
	case LOGFMT_END:
		if (want_len(r, END_SIZE, err))
			return -1;
		r->u.end.status = le__get32(p);
		r->u.end.cause = le__get16(p + 4);
		r->u.end.flags = le__get16(p + 6);
		if (r->u.end.cause >= LOGFMT_END_NR)
			return logfmt__error(err,
					     "END record cause %u is unknown",
					     r->u.end.cause);
		if (r->u.end.flags & ~LOGFMT_END_F_KNOWN)
			return logfmt__error(
			    err, "END record flags 0x%x are unknown",
			    r->u.end.flags);
		r->u.end.guest_ns = le__get64(p + 8);
		get_digest_value(p + 16, &r->u.end.v);
		return 0;
	case LOGFMT_NOTE:
		if (r->len > MAX_NOTE)
			return logfmt__error(
			    err,
			    "NOTE record payload is %u bytes, the "
			    "maximum is %d",
			    r->len, MAX_NOTE);
		r->u.note.len = r->len;
		r->u.note.text = (const char *)p;
		return 0;
	case LOGFMT_PROGRESS:
		if (want_len(r, PROGRESS_SIZE, err))
			return -1;
		r->u.progress.next_ordinal = le__get64(p);
		return 0;
	case LOGFMT_RELEASED:
	case LOGFMT_HANDOVER:
		if (want_len(r, RELEASED_SIZE, err))
			return -1;
		r->u.released.out_bytes = le__get64(p);
		return 0;
	case LOGFMT_ACK:
		if (want_len(r, ACK_SIZE, err))
			return -1;
		r->u.ack.received = le__get64(p);
		r->u.ack.replayed = le__get64(p + 8);
		if (r->u.ack.replayed > r->u.ack.received)
			return logfmt__error(err,
					     "ACK record replayed %" PRIu64
					     " records of %" PRIu64 " received",
					     r->u.ack.replayed,
					     r->u.ack.received);
		return 0;
	case LOGFMT_HELLO:
		return decode_hello(r, err);
	case LOGFMT_MOVE:
		return decode_move(r, err);
	case LOGFMT_RESUME:
		if (want_len(r, RESUME_SIZE, err))
			return -1;
		r->u.resume.first_seq = le__get64(p);
		return 0;
	}
	if (!(r->type & LOGFMT_TYPE_OPTIONAL))
		return logfmt__error(err, "unknown mandatory record type %u",
				     r->type);
	return 0;
}

long logfmt__record_total(const uint8_t *head, struct logfmt_error *err)
{
	/*
	 * Bound the length before anything uses it, so that a hostile one
	 * can neither overflow the size nor make a stream reader wait for
	 * gigabytes.
	 */
	uint32_t len = le__get32(head + HEAD_LENGTH);

	if (len > LOGFMT_MAX_PAYLOAD)
		return logfmt__error(err,
				     "record length %u exceeds the maximum %u",
				     len, LOGFMT_MAX_PAYLOAD);
	return (long)(LOGFMT_HEAD_SIZE + pad8(len) + LOGFMT_TAIL_SIZE);
}

long logfmt__decode_record(const uint8_t *buf, size_t avail,
			   struct logfmt_record *r, struct logfmt_error *err)
{
	uint32_t len, stored, crc, reserved;
	size_t padded, total;
	long t;

	if (avail < LOGFMT_HEAD_SIZE)
		return 0;
	t = logfmt__record_total(buf, err);
	if (t < 0)
		return -1;
	total = (size_t)t;
	len = le__get32(buf + HEAD_LENGTH);
	padded = pad8(len);
	if (avail < total)
		return 0;

	stored = le__get32(buf + LOGFMT_HEAD_SIZE + padded);
	crc = logfmt__crc32c(0, buf, LOGFMT_HEAD_SIZE + padded);
	if (stored != crc)
		return logfmt__error(
		    err,
		    "record CRC32C mismatch: stored 0x%08x, computed "
		    "0x%08x",
		    stored, crc);
	for (size_t i = len; i < padded; i++)
		if (buf[LOGFMT_HEAD_SIZE + i])
			return logfmt__error(
			    err,
			    "record padding byte %zu is 0x%02x, "
			    "want 0",
			    i - len, buf[LOGFMT_HEAD_SIZE + i]);
	reserved = le__get32(buf + LOGFMT_HEAD_SIZE + padded + 4);
	if (reserved)
		return logfmt__error(
		    err, "record tail reserved field is 0x%x, want 0",
		    reserved);

	r->seq = le__get64(buf + HEAD_SEQ);
	r->ordinal = le__get64(buf + HEAD_ORDINAL);
	r->type = le__get16(buf + HEAD_TYPE);
	r->flags = le__get16(buf + HEAD_FLAGS);
	r->len = len;
	r->payload = buf + LOGFMT_HEAD_SIZE;
	if (r->flags)
		return logfmt__error(
		    err, "%s record (type %u) has flags 0x%x, want 0",
		    logfmt__type_name(r->type), r->type, r->flags);
	if (decode_payload(r, err))
		return -1;
	return (long)total;
}

int logfmt__check_order(struct logfmt_order *o, const struct logfmt_record *rec,
			struct logfmt_error *err)
{
	/* A stream's own optional records may follow END (chan.c). */
	if (o->ended && !(rec->type & LOGFMT_TYPE_OPTIONAL))
		return logfmt__error(err, "%s record after END",
				     logfmt__type_name(rec->type));
	if (rec->seq != o->next_seq)
		return logfmt__error(err, "sequence %" PRIu64 ", want %" PRIu64,
				     rec->seq, o->next_seq);
	if (rec->ordinal < o->last_ordinal)
		return logfmt__error(
		    err,
		    "exit ordinal %" PRIu64
		    " is before the previous record's %" PRIu64,
		    rec->ordinal, o->last_ordinal);
	/*
	 * BOOT opens the log; everything else belongs to an exit (>= 1) but
	 * END, which may come before the first (a run stopped at once).
	 */
	if ((rec->seq == 0) != (rec->type == LOGFMT_BOOT))
		return logfmt__error(err, "%s %s", logfmt__type_name(rec->type),
				     rec->seq ? "again: BOOT is record 0 only"
					      : "first: record 0 must be BOOT");
	if (rec->type == LOGFMT_BOOT && rec->ordinal)
		return logfmt__error(err,
				     "BOOT at exit ordinal %" PRIu64 ", not 0",
				     rec->ordinal);
	if (rec->ordinal == 0 && rec->type != LOGFMT_BOOT &&
	    rec->type != LOGFMT_END && !(rec->type & LOGFMT_TYPE_OPTIONAL))
		return logfmt__error(err,
				     "%s at exit ordinal 0, before the "
				     "first exit",
				     logfmt__type_name(rec->type));
	o->next_seq++;
	o->last_ordinal = rec->ordinal;
	o->ended |= rec->type == LOGFMT_END;
	return 0;
}

/*
 * Both openings: header, BOOT, then (@resume non-NULL) RESUME, then HELLO,
 * nothing more. A record that is not yet whole waits for more bytes while
 * the opening's bound allows.
 */
static int decode_opening(const uint8_t *buf, size_t len,
			  struct logfmt_header *h, struct logfmt_record *boot,
			  struct logfmt_record *resume,
			  struct logfmt_record *hello, struct logfmt_error *why)
{
	struct logfmt_order order = { 0 };
	struct logfmt_error e;
	size_t off = LOGFMT_HEADER_SIZE;
	long n;

	if (len < LOGFMT_HEADER_SIZE)
		return 0;
	if (logfmt__decode_header(buf, LOGFMT_HEADER_SIZE, h, &e))
		return logfmt__error(why, "%s", e.msg);
	if (!(h->flags & LOGFMT_F_STREAM))
		return logfmt__error(why, "its header is a file's, not a "
					  "stream's");
	n = logfmt__decode_record(buf + off, len - off, boot, &e);
	if (!n && len - off < LOGFMT_OPENING_BOOT_MAX)
		return 0;
	if (n <= 0 || (size_t)n > LOGFMT_OPENING_BOOT_MAX ||
	    logfmt__check_order(&order, boot, &e))
		return logfmt__error(why, "its BOOT record: %s",
				     n ? e.msg : "too long");
	off += (size_t)n;
	if (resume) {
		n = logfmt__decode_record(buf + off, len - off, resume, &e);
		if (!n && len < LOGFMT_OPENING_MAX)
			return 0;
		if (n <= 0 || logfmt__check_order(&order, resume, &e))
			return logfmt__error(why, "its RESUME record: %s",
					     n ? e.msg : "too long");
		/* A primary that does not resume is told so at once. */
		if (resume->type != LOGFMT_RESUME)
			return logfmt__error(why,
					     "record 1 is %s, not RESUME: it "
					     "does not resume a moved backup's "
					     "stream",
					     logfmt__type_name(resume->type));
		off += (size_t)n;
	}
	n = logfmt__decode_record(buf + off, len - off, hello, &e);
	if (!n && len < LOGFMT_OPENING_MAX)
		return 0;
	if (n <= 0 || logfmt__check_order(&order, hello, &e))
		return logfmt__error(why, "its HELLO record: %s",
				     n ? e.msg : "too long");
	if (hello->type != LOGFMT_HELLO ||
	    hello->u.hello.role != LOGFMT_ROLE_PRIMARY ||
	    hello->u.hello.refused)
		return logfmt__error(
		    why, "record %d is %s, not a primary's HELLO",
		    resume ? 2 : 1, logfmt__type_name(hello->type));
	if (off + (size_t)n != len)
		return logfmt__error(why, "bytes after its HELLO, before "
					  "the backup answered");
	return 1;
}

int logfmt__decode_opening(const uint8_t *buf, size_t len,
			   struct logfmt_header *h, struct logfmt_record *boot,
			   struct logfmt_record *hello,
			   struct logfmt_error *why)
{
	return decode_opening(buf, len, h, boot, NULL, hello, why);
}

int logfmt__decode_resume_opening(const uint8_t *buf, size_t len,
				  struct logfmt_header *h,
				  struct logfmt_record *boot,
				  struct logfmt_record *resume,
				  struct logfmt_record *hello,
				  struct logfmt_error *why)
{
	return decode_opening(buf, len, h, boot, resume, hello, why);
}
