// SPDX-License-Identifier: MIT
/*
 * The migration stream's codec (Documentation/migration-stream.md is the
 * normative spec). Fixed-size bodies are the structs of migstream.h copied
 * as they are: the static assertions below pin every field's offset to the
 * spec's tables and the build refuses a big-endian host, so no layout or
 * byte order can leak into the format unnoticed. Decoding takes its input
 * as hostile: a length is checked against the type's bounds and against
 * what the caller has before anything reads past the record's header.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "le.h"
#include "migstream.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the migration stream's structs are copied as they are: "
	       "a big-endian host needs byte-wise put/get helpers");

/* Header and record header field offsets. */
#define HDR_MAGIC 0
#define HDR_VERSION 8
#define HDR_FLAGS 12
#define REC_TYPE 0
#define REC_LEN 4
#define REC_CSUM 8

/* The part of a body the checksum covers before the body: type, length. */
#define REC_CSUM_HEAD 8

/* Bodies: exact sizes, and the fixed parts of the variable ones. */
#define DOMAIN_INFO_SIZE 664
#define VCPU_SIZE 920
#define GATE_FIXED offsetof(struct migstream_gate, out_state)
#define VERIFY_SIZE 48
#define ROUND_SIZE 40
#define PAGES_FIXED 8
#define PFN_SIZE 8

#define CHECK_OFF(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), #type "." #field)

CHECK_OFF(migstream_domain_info, mem_size, 0);
CHECK_OFF(migstream_domain_info, image_hash, 8);
CHECK_OFF(migstream_domain_info, cmdline_hash, 24);
CHECK_OFF(migstream_domain_info, cpuid_hash, 32);
CHECK_OFF(migstream_domain_info, abi_version, 40);
CHECK_OFF(migstream_domain_info, nr_vifs, 44);
CHECK_OFF(migstream_domain_info, pair_id, 48);
CHECK_OFF(migstream_domain_info, epoch, 56);
CHECK_OFF(migstream_domain_info, role, 64);
CHECK_OFF(migstream_domain_info, backend, 68);
CHECK_OFF(migstream_domain_info, entry, 72);
CHECK_OFF(migstream_domain_info, hypercall_page, 80);
CHECK_OFF(migstream_domain_info, name, 88);
CHECK_OFF(migstream_domain_info, cmdline, 152);
_Static_assert(sizeof(struct migstream_domain_info) == DOMAIN_INFO_SIZE,
	       "DOMAIN_INFO");

CHECK_OFF(migstream_vcpu, gpr, 0);
CHECK_OFF(migstream_vcpu, rip, 128);
CHECK_OFF(migstream_vcpu, rflags, 136);
CHECK_OFF(migstream_vcpu, fxsave, 144);
CHECK_OFF(migstream_vcpu, trap_handler, 656);
CHECK_OFF(migstream_vcpu, in_trap_handler, 912);
CHECK_OFF(migstream_vcpu, pad, 916);
_Static_assert(sizeof(struct migstream_vcpu) == VCPU_SIZE, "VCPU");

CHECK_OFF(migstream_gate, exits, 0);
CHECK_OFF(migstream_gate, records, 8);
CHECK_OFF(migstream_gate, guest_ns, 16);
CHECK_OFF(migstream_gate, last_rip, 24);
CHECK_OFF(migstream_gate, id_counter, 32);
CHECK_OFF(migstream_gate, id_nonce, 40);
CHECK_OFF(migstream_gate, mode, 44);
CHECK_OFF(migstream_gate, last_digest_exit, 48);
CHECK_OFF(migstream_gate, out_bytes, 56);
CHECK_OFF(migstream_gate, out_hash, 64);
CHECK_OFF(migstream_gate, out_state_len, 72);
CHECK_OFF(migstream_gate, pad, 76);
CHECK_OFF(migstream_gate, out_state, 80); /* not sent: the bytes follow */
_Static_assert(GATE_FIXED == 80, "GATE");

CHECK_OFF(migstream_verify, mem, 0);
CHECK_OFF(migstream_verify, regs, 8);
CHECK_OFF(migstream_verify, out_bytes, 16);
CHECK_OFF(migstream_verify, out_hash, 24);
CHECK_OFF(migstream_verify, pages_sent, 32);
CHECK_OFF(migstream_verify, rounds, 40);
_Static_assert(sizeof(struct migstream_verify) == VERIFY_SIZE, "VERIFY");

CHECK_OFF(migstream_round, round, 0);
CHECK_OFF(migstream_round, flags, 4);
CHECK_OFF(migstream_round, pages, 8);
CHECK_OFF(migstream_round, bytes, 16);
CHECK_OFF(migstream_round, dirty, 24);
CHECK_OFF(migstream_round, duration_ns, 32);
_Static_assert(sizeof(struct migstream_round) == ROUND_SIZE, "ROUND");

_Static_assert(sizeof(MIGSTREAM_MAGIC) - 1 == 8, "magic");
_Static_assert(sizeof(MIGSTREAM_ACK_OK) == MIGSTREAM_ACK_SIZE, "ack ok");
_Static_assert(sizeof(MIGSTREAM_ACK_NO) == MIGSTREAM_ACK_SIZE, "ack no");
_Static_assert(MIGSTREAM_LOG_TAIL_MAX >= MIGSTREAM_BODY_MAX,
	       "MIGSTREAM_RECORD_MAX is LOG_TAIL's");

static const char *const type_names[MIGSTREAM_TYPE_NR] = {
	[MIGSTREAM_END] = "END",
	[MIGSTREAM_DOMAIN_INFO] = "DOMAIN_INFO",
	[MIGSTREAM_PAGE_DATA] = "PAGE_DATA",
	[MIGSTREAM_VCPU] = "VCPU",
	[MIGSTREAM_DEVICES] = "DEVICES",
	[MIGSTREAM_GATE] = "GATE",
	[MIGSTREAM_VERIFY] = "VERIFY",
	[MIGSTREAM_CONFIG] = "CONFIG",
	[MIGSTREAM_LOG_TAIL] = "LOG_TAIL",
	[MIGSTREAM_ROUND] = "ROUND",
};

/* Each type's body length bounds, both inclusive. */
static const struct {
	uint32_t min, max;
} body_len[MIGSTREAM_TYPE_NR] = {
	[MIGSTREAM_END] = { 0, 0 },
	[MIGSTREAM_DOMAIN_INFO] = { DOMAIN_INFO_SIZE, DOMAIN_INFO_SIZE },
	[MIGSTREAM_PAGE_DATA] = { PAGES_FIXED + PFN_SIZE, MIGSTREAM_BODY_MAX },
	[MIGSTREAM_VCPU] = { VCPU_SIZE, VCPU_SIZE },
	[MIGSTREAM_DEVICES] = { 0, MIGSTREAM_DEVICES_MAX },
	[MIGSTREAM_GATE] = { GATE_FIXED,
			     GATE_FIXED + MIGSTREAM_GATE_STATE_MAX },
	[MIGSTREAM_VERIFY] = { VERIFY_SIZE, VERIFY_SIZE },
	[MIGSTREAM_CONFIG] = { 0, MIGSTREAM_CONFIG_MAX },
	[MIGSTREAM_LOG_TAIL] = { 0, MIGSTREAM_LOG_TAIL_MAX },
	[MIGSTREAM_ROUND] = { ROUND_SIZE, ROUND_SIZE },
};

static const uint8_t zero_page[MIGSTREAM_PAGE_SIZE];

const char *migstream__type_name(uint32_t type)
{
	return type < MIGSTREAM_TYPE_NR ? type_names[type] : "unknown";
}

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static size_t padded(uint32_t len)
{
	return ((size_t)len + 7) & ~(size_t)7;
}

/* XXH3-64 (seed 0) of the record's type and length, then its body. */
static uint64_t checksum(const uint8_t *rec_hdr, const uint8_t *body,
			 uint32_t len)
{
	XXH3_state_t st;

	XXH3_INITSTATE(&st);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, rec_hdr, REC_CSUM_HEAD);
	XXH3_64bits_update(&st, body, len);
	return XXH3_64bits_digest(&st);
}

/* ---- encoding ------------------------------------------------------------ */

void migstream__buf_free(struct migstream_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void migstream__buf_reset(struct migstream_buf *b)
{
	b->len = 0;
}

/* Room for @more bytes past b->len. 0 or -ENOMEM. */
static int reserve(struct migstream_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *p;

	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int migstream__put_header(struct migstream_buf *b, uint32_t flags)
{
	uint8_t *h;
	uint32_t version = MIGSTREAM_VERSION;

	if (flags & ~MIGSTREAM_F_KNOWN)
		return -EINVAL;
	if (reserve(b, MIGSTREAM_HEADER_SIZE))
		return -ENOMEM;
	h = b->p + b->len;
	memcpy(h + HDR_MAGIC, MIGSTREAM_MAGIC, 8);
	memcpy(h + HDR_VERSION, &version, 4);
	memcpy(h + HDR_FLAGS, &flags, 4);
	b->len += MIGSTREAM_HEADER_SIZE;
	return 0;
}

/*
 * Finish the record whose header starts at @rec, its @len body bytes
 * already written behind it: length, padding, checksum, b->len.
 */
static void seal(struct migstream_buf *b, uint8_t *rec, uint32_t type,
		 uint32_t len)
{
	uint64_t csum;

	memcpy(rec + REC_TYPE, &type, 4);
	memcpy(rec + REC_LEN, &len, 4);
	memset(rec + MIGSTREAM_REC_HDR_SIZE + len, 0, padded(len) - len);
	csum = checksum(rec, rec + MIGSTREAM_REC_HDR_SIZE, len);
	memcpy(rec + REC_CSUM, &csum, 8);
	b->len += MIGSTREAM_REC_HDR_SIZE + padded(len);
}

/* Room for a record of body @len at b->len: its header, or NULL. */
static uint8_t *begin(struct migstream_buf *b, uint32_t len)
{
	if (reserve(b, MIGSTREAM_REC_HDR_SIZE + padded(len)))
		return NULL;
	return b->p + b->len;
}

int migstream__put(struct migstream_buf *b, uint32_t type, const void *body,
		   uint32_t len)
{
	uint8_t *rec;

	if (type >= MIGSTREAM_TYPE_NR || len < body_len[type].min ||
	    len > body_len[type].max || (len && !body))
		return -EINVAL;
	rec = begin(b, len);
	if (!rec)
		return -ENOMEM;
	if (len)
		memcpy(rec + MIGSTREAM_REC_HDR_SIZE, body, len);
	seal(b, rec, type, len);
	return 0;
}

/* @s (of @size bytes) holds a NUL: its length, else -1. */
static long terminated(const char *s, size_t size)
{
	const char *nul = memchr(s, '\0', size);

	return nul ? nul - s : -1;
}

int migstream__put_domain_info(struct migstream_buf *b,
			       const struct migstream_domain_info *di)
{
	struct migstream_domain_info c = *di;
	long n = terminated(c.name, sizeof(c.name));
	long m = terminated(c.cmdline, sizeof(c.cmdline));

	if (n < 0 || m < 0 || !c.mem_size || c.mem_size % MIGSTREAM_PAGE_SIZE)
		return -EINVAL;
	/* Whatever lies past the NULs (stack bytes) stays here. */
	memset(c.name + n, 0, sizeof(c.name) - (size_t)n);
	memset(c.cmdline + m, 0, sizeof(c.cmdline) - (size_t)m);
	return migstream__put(b, MIGSTREAM_DOMAIN_INFO, &c, sizeof(c));
}

int migstream__put_vcpu(struct migstream_buf *b, const struct migstream_vcpu *v)
{
	struct migstream_vcpu c = *v;

	if (c.in_trap_handler > 1)
		return -EINVAL;
	c.pad = 0;
	return migstream__put(b, MIGSTREAM_VCPU, &c, sizeof(c));
}

int migstream__put_gate(struct migstream_buf *b, const struct migstream_gate *g)
{
	struct migstream_gate c = *g;
	uint32_t len;
	uint8_t *rec;

	if (c.out_state_len > MIGSTREAM_GATE_STATE_MAX ||
	    (c.out_state_len && !c.out_state))
		return -EINVAL;
	c.pad = 0;
	len = (uint32_t)GATE_FIXED + c.out_state_len;
	rec = begin(b, len);
	if (!rec)
		return -ENOMEM;
	memcpy(rec + MIGSTREAM_REC_HDR_SIZE, &c, GATE_FIXED);
	if (c.out_state_len)
		memcpy(rec + MIGSTREAM_REC_HDR_SIZE + GATE_FIXED, c.out_state,
		       c.out_state_len);
	seal(b, rec, MIGSTREAM_GATE, len);
	return 0;
}

int migstream__put_verify(struct migstream_buf *b,
			  const struct migstream_verify *v)
{
	return migstream__put(b, MIGSTREAM_VERIFY, v, sizeof(*v));
}

int migstream__put_round(struct migstream_buf *b,
			 const struct migstream_round *r)
{
	if (r->flags & ~MIGSTREAM_ROUND_SYNC)
		return -EINVAL;
	return migstream__put(b, MIGSTREAM_ROUND, r, sizeof(*r));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * A pfn that @pfn (@count entries, flags masked off) holds twice, else
 * UINT64_MAX (never a pfn: above MIGSTREAM_PFN_MASK). A sort of a copy:
 * a batch is at most MIGSTREAM_BATCH_MAX entries.
 */
static uint64_t duplicate(const uint64_t *pfn, uint32_t count)
{
	uint64_t s[MIGSTREAM_BATCH_MAX];

	for (uint32_t i = 0; i < count; i++)
		s[i] = pfn[i] & MIGSTREAM_PFN_MASK;
	qsort(s, count, sizeof(s[0]), cmp_u64);
	for (uint32_t i = 1; i < count; i++)
		if (s[i] == s[i - 1])
			return s[i];
	return UINT64_MAX;
}

int migstream__put_pages(struct migstream_buf *b, const uint8_t *mem,
			 const uint64_t *pfn, uint32_t count, uint64_t *bytes_r)
{
	uint32_t hdr[2] = { count, 0 }, nr_data = 0;
	uint64_t *ent;
	uint8_t *rec, *body, *data;
	size_t len;

	if (!count || count > MIGSTREAM_BATCH_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		if (pfn[i] & ~MIGSTREAM_PFN_MASK)
			return -EINVAL;
	if (duplicate(pfn, count) != UINT64_MAX)
		return -EINVAL;
	/* Room for every page; zero pages only make the record shorter. */
	rec = begin(b, (uint32_t)(PAGES_FIXED + (size_t)count * PFN_SIZE +
				  (size_t)count * MIGSTREAM_PAGE_SIZE));
	if (!rec)
		return -ENOMEM;
	body = rec + MIGSTREAM_REC_HDR_SIZE;
	memcpy(body, hdr, sizeof(hdr));
	ent = (uint64_t *)(body + PAGES_FIXED); /* 8-aligned: malloc'd */
	data = body + PAGES_FIXED + (size_t)count * PFN_SIZE;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *page = mem + pfn[i] * MIGSTREAM_PAGE_SIZE;

		if (!memcmp(page, zero_page, MIGSTREAM_PAGE_SIZE)) {
			ent[i] = pfn[i] | MIGSTREAM_PFN_ZERO;
			continue;
		}
		ent[i] = pfn[i];
		memcpy(data + (size_t)nr_data * MIGSTREAM_PAGE_SIZE, page,
		       MIGSTREAM_PAGE_SIZE);
		nr_data++;
	}
	len = (size_t)(data - body) + (size_t)nr_data * MIGSTREAM_PAGE_SIZE;
	seal(b, rec, MIGSTREAM_PAGE_DATA, (uint32_t)len);
	if (bytes_r)
		*bytes_r = (uint64_t)nr_data * MIGSTREAM_PAGE_SIZE;
	return 0;
}

/* ---- decoding ------------------------------------------------------------ */

int migstream__decode_header(const void *buf, size_t len, uint32_t *flags_r,
			     char *err, size_t errlen)
{
	const uint8_t *h = buf;
	uint32_t version, flags;

	if (len < MIGSTREAM_HEADER_SIZE) {
		say(err, errlen, "stream header: %zu of %d bytes", len,
		    MIGSTREAM_HEADER_SIZE);
		return -EAGAIN;
	}
	if (memcmp(h + HDR_MAGIC, MIGSTREAM_MAGIC, 8)) {
		say(err, errlen,
		    "bad magic: not a pvft migration stream (no \"PVFTMIG\")");
		return -EPROTO;
	}
	version = le__get32(h + HDR_VERSION);
	if (version != MIGSTREAM_VERSION) {
		say(err, errlen,
		    "stream version %" PRIu32 ", this pvft reads version %d "
		    "only",
		    version, MIGSTREAM_VERSION);
		return -EPROTONOSUPPORT;
	}
	flags = le__get32(h + HDR_FLAGS);
	if (flags & ~MIGSTREAM_F_KNOWN) {
		say(err, errlen,
		    "stream header: unknown flags 0x%" PRIx32
		    " (version %d knows 0x%x)",
		    flags & ~MIGSTREAM_F_KNOWN, MIGSTREAM_VERSION,
		    MIGSTREAM_F_KNOWN);
		return -EINVAL;
	}
	if (flags_r)
		*flags_r = flags;
	return 0;
}

/* @len against @type's bounds: 0, or -EBADMSG said. */
static int check_len(uint32_t type, uint32_t len, char *err, size_t errlen)
{
	uint32_t min = body_len[type].min, max = body_len[type].max;

	if (len >= min && len <= max)
		return 0;
	if (min == max)
		say(err, errlen, "%s: body %" PRIu32 " bytes, must be %" PRIu32,
		    type_names[type], len, min);
	else
		say(err, errlen,
		    "%s: body %" PRIu32 " bytes, must be %" PRIu32 "..%" PRIu32,
		    type_names[type], len, min, max);
	return -EBADMSG;
}

int migstream__decode(const void *buf, size_t len, struct migstream_rec *rec,
		      char *err, size_t errlen)
{
	const uint8_t *p = buf, *body = p + MIGSTREAM_REC_HDR_SIZE;
	uint32_t type, blen;
	size_t size;

	memset(rec, 0, sizeof(*rec));
	rec->size = MIGSTREAM_REC_HDR_SIZE;
	if (len < MIGSTREAM_REC_HDR_SIZE) {
		say(err, errlen, "record header: %zu of %d bytes", len,
		    MIGSTREAM_REC_HDR_SIZE);
		return -EAGAIN;
	}
	type = le__get32(p + REC_TYPE);
	blen = le__get32(p + REC_LEN);
	/* Before the length: an unknown type is not waited for. */
	if (type >= MIGSTREAM_TYPE_NR) {
		say(err, errlen,
		    "record %" PRIu32 " (unknown type, this pvft knows 0..%d)",
		    type, MIGSTREAM_TYPE_NR - 1);
		return -EBADMSG;
	}
	if (check_len(type, blen, err, errlen))
		return -EBADMSG;
	size = MIGSTREAM_REC_HDR_SIZE + padded(blen);
	rec->type = type;
	rec->len = blen;
	rec->size = size;
	if (len < size) {
		say(err, errlen, "%s record: %zu of %zu bytes",
		    type_names[type], len, size);
		return -EAGAIN;
	}
	if (le__get64(p + REC_CSUM) != checksum(p, body, blen)) {
		say(err, errlen, "checksum mismatch in %s record",
		    type_names[type]);
		return -EBADMSG;
	}
	for (size_t i = blen; i < padded(blen); i++)
		if (body[i]) {
			say(err, errlen,
			    "%s: padding byte %zu is 0x%02x, not 0",
			    type_names[type], i - blen, body[i]);
			return -EBADMSG;
		}
	rec->body = body;
	return 0;
}

/* @r is a whole record of @type with a body its type allows. */
static int check_rec(const struct migstream_rec *r, uint32_t type, char *err,
		     size_t errlen)
{
	if (r->type != type) {
		say(err, errlen, "%s record where %s was expected",
		    migstream__type_name(r->type), type_names[type]);
		return -EBADMSG;
	}
	if (check_len(type, r->len, err, errlen))
		return -EBADMSG;
	if (r->len && !r->body) {
		say(err, errlen, "%s: no body", type_names[type]);
		return -EBADMSG;
	}
	return 0;
}

static int nonzero_pad(const char *type, uint32_t pad, char *err, size_t errlen)
{
	if (!pad)
		return 0;
	say(err, errlen, "%s: reserved field is 0x%" PRIx32 ", not 0", type,
	    pad);
	return -EBADMSG;
}

int migstream__get_domain_info(const struct migstream_rec *r,
			       struct migstream_domain_info *di, char *err,
			       size_t errlen)
{
	long n, m;

	if (check_rec(r, MIGSTREAM_DOMAIN_INFO, err, errlen))
		return -EBADMSG;
	memcpy(di, r->body, sizeof(*di));
	n = terminated(di->name, sizeof(di->name));
	m = terminated(di->cmdline, sizeof(di->cmdline));
	if (n < 0 || m < 0) {
		say(err, errlen,
		    "DOMAIN_INFO: %s not NUL-terminated in its %zu "
		    "bytes",
		    n < 0 ? "name" : "cmdline",
		    n < 0 ? sizeof(di->name) : sizeof(di->cmdline));
		return -EBADMSG;
	}
	if (!di->mem_size || di->mem_size % MIGSTREAM_PAGE_SIZE) {
		say(err, errlen,
		    "DOMAIN_INFO: memory size %" PRIu64
		    " is not a non-zero number of %u-byte pages",
		    di->mem_size, MIGSTREAM_PAGE_SIZE);
		return -EBADMSG;
	}
	/* What the sender's encoder would have written past the NULs. */
	memset(di->name + n, 0, sizeof(di->name) - (size_t)n);
	memset(di->cmdline + m, 0, sizeof(di->cmdline) - (size_t)m);
	return 0;
}

int migstream__get_vcpu(const struct migstream_rec *r, struct migstream_vcpu *v,
			char *err, size_t errlen)
{
	if (check_rec(r, MIGSTREAM_VCPU, err, errlen))
		return -EBADMSG;
	memcpy(v, r->body, sizeof(*v));
	if (v->in_trap_handler > 1) {
		say(err, errlen,
		    "VCPU: in_trap_handler %" PRIu32 ", not 0 or 1",
		    v->in_trap_handler);
		return -EBADMSG;
	}
	return nonzero_pad("VCPU", v->pad, err, errlen);
}

int migstream__get_gate(const struct migstream_rec *r, struct migstream_gate *g,
			char *err, size_t errlen)
{
	if (check_rec(r, MIGSTREAM_GATE, err, errlen))
		return -EBADMSG;
	memcpy(g, r->body, GATE_FIXED);
	g->out_state = NULL;
	if (g->out_state_len > MIGSTREAM_GATE_STATE_MAX) {
		say(err, errlen,
		    "GATE: output hash state %" PRIu32 " bytes, at most %d",
		    g->out_state_len, MIGSTREAM_GATE_STATE_MAX);
		return -EBADMSG;
	}
	if (r->len != GATE_FIXED + g->out_state_len) {
		say(err, errlen,
		    "GATE: body %" PRIu32 " bytes, must be %zu (%zu and the "
		    "%" PRIu32 " bytes of output hash state)",
		    r->len, GATE_FIXED + g->out_state_len, GATE_FIXED,
		    g->out_state_len);
		return -EBADMSG;
	}
	if (nonzero_pad("GATE", g->pad, err, errlen))
		return -EBADMSG;
	g->out_state = g->out_state_len ? r->body + GATE_FIXED : NULL;
	return 0;
}

int migstream__get_verify(const struct migstream_rec *r,
			  struct migstream_verify *v, char *err, size_t errlen)
{
	if (check_rec(r, MIGSTREAM_VERIFY, err, errlen))
		return -EBADMSG;
	memcpy(v, r->body, sizeof(*v));
	return 0;
}

int migstream__get_round(const struct migstream_rec *r,
			 struct migstream_round *rd, char *err, size_t errlen)
{
	if (check_rec(r, MIGSTREAM_ROUND, err, errlen))
		return -EBADMSG;
	memcpy(rd, r->body, sizeof(*rd));
	return nonzero_pad("ROUND", rd->flags & ~MIGSTREAM_ROUND_SYNC, err,
			   errlen);
}

int migstream__get_pages(const struct migstream_rec *r, uint64_t max_pfn,
			 struct migstream_pages *p, char *err, size_t errlen)
{
	const uint64_t *ent;
	uint32_t count, reserved, nr_data = 0;
	uint64_t dup;
	size_t want;

	memset(p, 0, sizeof(*p));
	if (check_rec(r, MIGSTREAM_PAGE_DATA, err, errlen))
		return -EBADMSG;
	if ((uintptr_t)r->body % 8) {
		say(err, errlen,
		    "PAGE_DATA: body at %p, not 8-byte aligned (the caller's "
		    "buffer)",
		    (const void *)r->body);
		return -EINVAL;
	}
	count = le__get32(r->body);
	reserved = le__get32(r->body + 4);
	if (!count || count > MIGSTREAM_BATCH_MAX) {
		say(err, errlen, "PAGE_DATA: %" PRIu32 " pages, must be 1..%u",
		    count, MIGSTREAM_BATCH_MAX);
		return -EBADMSG;
	}
	if (nonzero_pad("PAGE_DATA", reserved, err, errlen))
		return -EBADMSG;
	if (r->len < PAGES_FIXED + (size_t)count * PFN_SIZE) {
		say(err, errlen,
		    "PAGE_DATA: body %" PRIu32 " bytes, too short for %" PRIu32
		    " pfns",
		    r->len, count);
		return -EBADMSG;
	}
	ent = (const uint64_t *)(r->body + PAGES_FIXED);
	for (uint32_t i = 0; i < count; i++) {
		uint64_t pfn = ent[i] & MIGSTREAM_PFN_MASK;

		if (ent[i] & ~(MIGSTREAM_PFN_MASK | MIGSTREAM_PFN_ZERO)) {
			say(err, errlen,
			    "PAGE_DATA: entry %" PRIu32 " (0x%" PRIx64
			    ") has unknown flag bits",
			    i, ent[i]);
			return -EBADMSG;
		}
		if (pfn >= max_pfn) {
			say(err, errlen,
			    "PAGE_DATA: pfn 0x%" PRIx64
			    " out of range (the domain has 0x%" PRIx64
			    " pages)",
			    pfn, max_pfn);
			return -EBADMSG;
		}
		if (!(ent[i] & MIGSTREAM_PFN_ZERO))
			nr_data++;
	}
	dup = duplicate(ent, count);
	if (dup != UINT64_MAX) {
		say(err, errlen,
		    "PAGE_DATA: pfn 0x%" PRIx64 " twice in one batch", dup);
		return -EBADMSG;
	}
	want = PAGES_FIXED + (size_t)count * PFN_SIZE +
	       (size_t)nr_data * MIGSTREAM_PAGE_SIZE;
	if (r->len != want) {
		say(err, errlen,
		    "PAGE_DATA: body %" PRIu32
		    " bytes, must be %zu for %" PRIu32 " pfns of which %" PRIu32
		    " pages have bytes",
		    r->len, want, count, nr_data);
		return -EBADMSG;
	}
	p->count = count;
	p->pfn = ent;
	p->data =
	    nr_data ? r->body + PAGES_FIXED + (size_t)count * PFN_SIZE : NULL;
	p->nr_data = nr_data;
	return 0;
}

/* ---- record order -------------------------------------------------------- */

void migstream__order_init(struct migstream_order *o, uint32_t flags)
{
	o->flags = flags;
	o->last = MIGSTREAM_TYPE_NR;
	o->ended = false;
}

/* Whether a record of @next may follow one of @last (TYPE_NR: none yet). */
static bool may_follow(uint32_t last, uint32_t next, bool live)
{
	switch (last) {
	case MIGSTREAM_TYPE_NR:
		return next == MIGSTREAM_DOMAIN_INFO;
	case MIGSTREAM_DOMAIN_INFO:
	case MIGSTREAM_CONFIG:
	case MIGSTREAM_PAGE_DATA:
	case MIGSTREAM_ROUND:
		/* CONFIG right after DOMAIN_INFO only; then pages and rounds.
		 */
		return (next == MIGSTREAM_CONFIG &&
			last == MIGSTREAM_DOMAIN_INFO) ||
		       next == MIGSTREAM_PAGE_DATA || next == MIGSTREAM_VCPU ||
		       (next == MIGSTREAM_ROUND && live);
	case MIGSTREAM_VCPU:
		return next == MIGSTREAM_DEVICES;
	case MIGSTREAM_DEVICES:
		return next == MIGSTREAM_GATE;
	case MIGSTREAM_GATE:
		return next == MIGSTREAM_LOG_TAIL || next == MIGSTREAM_VERIFY;
	case MIGSTREAM_LOG_TAIL:
		return next == MIGSTREAM_VERIFY;
	case MIGSTREAM_VERIFY:
		return next == MIGSTREAM_END;
	default: /* END: nothing */
		return false;
	}
}

int migstream__order_next(struct migstream_order *o, uint32_t type, char *err,
			  size_t errlen)
{
	bool live = o->flags & MIGSTREAM_F_LIVE;

	if (o->ended || !may_follow(o->last, type, live)) {
		if (type == MIGSTREAM_ROUND && !live)
			say(err, errlen,
			    "ROUND record in a save file (live streams only)");
		else
			say(err, errlen, "%s record out of order: after %s",
			    migstream__type_name(type),
			    o->last == MIGSTREAM_TYPE_NR
				? "the header (DOMAIN_INFO comes first)"
				: migstream__type_name(o->last));
		return -EBADMSG;
	}
	o->last = type;
	o->ended = type == MIGSTREAM_END;
	return 0;
}
