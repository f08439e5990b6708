// SPDX-License-Identifier: MIT
/*
 * lib/migstream.c: the header and one record laid out here by hand from
 * Documentation/migration-stream.md (its checksum as XXH3_64bits of the
 * concatenated bytes, not the codec's streaming one); every record type
 * encoded and decoded back; zero pages as flags; then each refusal, its
 * return code and the words of its message. Decoded bytes sit in a heap
 * buffer of exactly their size, so that ASan catches a read past them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <xxhash.h>

#include "migstream.h"
#include "unit.h"

#define MAX_PFN 64
#define PAGE MIGSTREAM_PAGE_SIZE

static uint8_t mem[MAX_PFN * PAGE];
static char err[256];

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

/* An exact-size heap copy: reading past @len is an ASan report. */
static uint8_t *exact(const void *buf, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	if (len)
		memcpy(p, buf, len);
	return p;
}

/*
 * A record of any type and length, with a right checksum, laid out by
 * hand: the spec's checksum is XXH3-64 of bytes 0..7 then the body.
 * Returns its size; @out has room.
 */
static size_t forge(uint8_t *out, uint32_t type, const void *body, uint32_t len)
{
	size_t size = 16 + ((len + 7u) & ~7u);
	uint8_t *cat = malloc(8 + (size_t)len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(cat);
	memset(out, 0, size);
	le32(out, type);
	le32(out + 4, len);
	memcpy(cat, out, 8);
	if (len)
		memcpy(cat + 8, body, len);
	le64(out + 8, XXH3_64bits(cat, 8 + (size_t)len));
	if (len)
		memcpy(out + 16, body, len);
	free(cat);
	return size;
}

/* Decode @len bytes at @buf; the return code, *rec filled. */
static int decode(const uint8_t *buf, size_t len, struct migstream_rec *rec,
		  uint8_t **copy_r)
{
	uint8_t *p = exact(buf, len);
	int rc;

	err[0] = 0;
	rc = migstream__decode(p, len, rec, err, sizeof(err));
	if (copy_r)
		*copy_r = p; /* rec->body points into it */
	else
		free(p);
	return rc;
}

/* The refusal is -EBADMSG (or @want) and says @words. */
#define REFUSED(rc, want, words)                                     \
	do {                                                         \
		CU_ASSERT_EQUAL(rc, want);                           \
		if (!strstr(err, words)) {                           \
			fprintf(stderr, "\nmessage: \"%s\"\n", err); \
			CU_FAIL("message lacks: " words);            \
		}                                                    \
	} while (0)

static void test_type_names(void)
{
	CU_ASSERT_STRING_EQUAL(migstream__type_name(MIGSTREAM_END), "END");
	CU_ASSERT_STRING_EQUAL(migstream__type_name(MIGSTREAM_PAGE_DATA),
			       "PAGE_DATA");
	CU_ASSERT_STRING_EQUAL(migstream__type_name(MIGSTREAM_ROUND), "ROUND");
	CU_ASSERT_STRING_EQUAL(migstream__type_name(MIGSTREAM_TYPE_NR),
			       "unknown");
	CU_ASSERT_STRING_EQUAL(migstream__type_name(UINT32_MAX), "unknown");
	for (uint32_t t = 0; t < MIGSTREAM_TYPE_NR; t++)
		CU_ASSERT_STRING_NOT_EQUAL(migstream__type_name(t), "unknown");
	CU_ASSERT_EQUAL(sizeof(MIGSTREAM_ACK_OK), MIGSTREAM_ACK_SIZE);
	CU_ASSERT_EQUAL(sizeof(MIGSTREAM_ACK_NO), MIGSTREAM_ACK_SIZE);
}

/* The header and a ROUND record, byte for byte as the spec lays them out. */
static void test_bytes(void)
{
	struct migstream_buf b = { 0 };
	struct migstream_round r = { .round = 3,
				     .flags = MIGSTREAM_ROUND_SYNC,
				     .pages = 0x1111,
				     .bytes = 0x2222,
				     .dirty = 0x3333,
				     .duration_ns = 0x4444 };
	uint8_t want[16 + 16 + 40], body[40] = { 0 };
	uint32_t flags = 0;

	memcpy(want, "PVFTMIG\n", 8);
	le32(want + 8, 1);
	le32(want + 12, MIGSTREAM_F_LIVE);
	le32(body, 3);
	le32(body + 4, MIGSTREAM_ROUND_SYNC);
	le64(body + 8, 0x1111);
	le64(body + 16, 0x2222);
	le64(body + 24, 0x3333);
	le64(body + 32, 0x4444);
	forge(want + 16, MIGSTREAM_ROUND, body, sizeof(body));

	CU_ASSERT_EQUAL(migstream__put_header(&b, MIGSTREAM_F_LIVE), 0);
	r.flags = 2; /* no such flag */
	CU_ASSERT_EQUAL(migstream__put_round(&b, &r), -EINVAL);
	r.flags = MIGSTREAM_ROUND_SYNC;
	CU_ASSERT_EQUAL(migstream__put_round(&b, &r), 0);
	CU_ASSERT_EQUAL_FATAL(b.len, sizeof(want));
	CU_ASSERT(!memcmp(b.p, want, sizeof(want)));
	CU_ASSERT_EQUAL(
	    migstream__decode_header(want, 16, &flags, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(flags, MIGSTREAM_F_LIVE);
	migstream__buf_free(&b);
	CU_ASSERT_PTR_NULL(b.p);
}

static void fill(void *p, size_t n, uint8_t seed)
{
	uint8_t *q = p;

	for (size_t i = 0; i < n; i++)
		q[i] = (uint8_t)(seed + i * 7);
}

static struct migstream_domain_info sample_di(void)
{
	struct migstream_domain_info di;

	memset(&di, 0, sizeof(di));
	di.mem_size = MAX_PFN * PAGE;
	fill(di.image_hash, sizeof(di.image_hash), 1);
	di.cmdline_hash = 0x1234;
	di.cpuid_hash = 0x5678;
	di.abi_version = 1;
	di.nr_vifs = 2;
	di.pair_id = 0xabcdef;
	di.epoch = 4;
	di.role = 1;
	di.backend = 1;
	strcpy(di.name, "kv");
	strcpy(di.cmdline, "console=hvc0 kv.port=7000");
	return di;
}

/* Every type encoded, the stream decoded back record by record. */
static void test_round_trip(void)
{
	struct migstream_buf b = { 0 };
	struct migstream_domain_info di = sample_di(), di2;
	struct migstream_vcpu v, v2;
	struct migstream_gate g = { 0 }, g2;
	struct migstream_verify vf = { 1, 2, 3, 4, 5, 6 }, vf2;
	struct migstream_round rd = { 1, 0, 10, 20, 30, 40 }, rd2;
	struct migstream_pages pg;
	struct migstream_rec rec;
	uint8_t state[100], *copy;
	uint64_t pfn[3] = { 5, 9, 7 }, sent = 99;
	static const uint32_t order[] = {
		MIGSTREAM_DOMAIN_INFO, MIGSTREAM_CONFIG,   MIGSTREAM_PAGE_DATA,
		MIGSTREAM_ROUND,       MIGSTREAM_VCPU,	   MIGSTREAM_DEVICES,
		MIGSTREAM_GATE,	       MIGSTREAM_LOG_TAIL, MIGSTREAM_VERIFY,
		MIGSTREAM_END,
	};
	size_t off = MIGSTREAM_HEADER_SIZE;
	uint32_t flags = 1;

	/* Junk past the NULs: the encoder sends zeros there. */
	di.name[sizeof(di.name) - 1] = 'x';
	fill(&v, sizeof(v), 3);
	v.in_trap_handler = 1;
	v.pad = 0;
	fill(state, sizeof(state), 9);
	g.exits = 1000;
	g.records = 17;
	g.guest_ns = 123456789;
	g.last_rip = 0x100000;
	g.id_counter = 5;
	g.id_nonce = 77;
	g.mode = 2;
	g.last_digest_exit = 900;
	g.out_bytes = 12;
	g.out_hash = 0xfeed;
	g.out_state_len = sizeof(state);
	g.out_state = state;
	memset(mem, 0, sizeof(mem));
	fill(mem + 5 * PAGE, PAGE, 5);
	fill(mem + 7 * PAGE, PAGE, 7);

	CU_ASSERT_EQUAL(migstream__put_header(&b, 0), 0);
	CU_ASSERT_EQUAL(migstream__put_domain_info(&b, &di), 0);
	CU_ASSERT_EQUAL(
	    migstream__put(&b, MIGSTREAM_CONFIG, "name = \"kv\"\n", 12), 0);
	CU_ASSERT_EQUAL(migstream__put_pages(&b, mem, pfn, 3, &sent), 0);
	CU_ASSERT_EQUAL(sent, 2 * PAGE);
	CU_ASSERT_EQUAL(migstream__put_round(&b, &rd), 0);
	CU_ASSERT_EQUAL(migstream__put_vcpu(&b, &v), 0);
	CU_ASSERT_EQUAL(migstream__put(&b, MIGSTREAM_DEVICES, "dev", 3), 0);
	CU_ASSERT_EQUAL(migstream__put_gate(&b, &g), 0);
	CU_ASSERT_EQUAL(migstream__put(&b, MIGSTREAM_LOG_TAIL, NULL, 0), 0);
	CU_ASSERT_EQUAL(migstream__put_verify(&b, &vf), 0);
	CU_ASSERT_EQUAL(migstream__put(&b, MIGSTREAM_END, NULL, 0), 0);

	CU_ASSERT_EQUAL(
	    migstream__decode_header(b.p, b.len, &flags, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(flags, 0);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(
		    decode(b.p + off, b.len - off, &rec, &copy), 0);
		CU_ASSERT_EQUAL(rec.type, order[i]);
		CU_ASSERT_EQUAL(rec.size % 8, 0);
		CU_ASSERT(rec.body == copy + MIGSTREAM_REC_HDR_SIZE);
		switch (rec.type) {
		case MIGSTREAM_DOMAIN_INFO:
			CU_ASSERT_EQUAL(migstream__get_domain_info(
					    &rec, &di2, err, sizeof(err)),
					0);
			di.name[sizeof(di.name) - 1] = 0;
			CU_ASSERT(!memcmp(&di, &di2, sizeof(di)));
			break;
		case MIGSTREAM_CONFIG:
			CU_ASSERT_EQUAL(rec.len, 12);
			CU_ASSERT(!memcmp(rec.body, "name = \"kv\"\n", 12));
			break;
		case MIGSTREAM_PAGE_DATA:
			CU_ASSERT_EQUAL_FATAL(
			    migstream__get_pages(&rec, MAX_PFN, &pg, err,
						 sizeof(err)),
			    0);
			CU_ASSERT_EQUAL(pg.count, 3);
			CU_ASSERT_EQUAL(pg.nr_data, 2);
			CU_ASSERT_EQUAL(pg.pfn[0], 5);
			CU_ASSERT_EQUAL(pg.pfn[1], 9 | MIGSTREAM_PFN_ZERO);
			CU_ASSERT_EQUAL(pg.pfn[2], 7);
			CU_ASSERT(!memcmp(pg.data, mem + 5 * PAGE, PAGE));
			CU_ASSERT(
			    !memcmp(pg.data + PAGE, mem + 7 * PAGE, PAGE));
			CU_ASSERT_EQUAL(rec.len, 8 + 3 * 8 + 2 * PAGE);
			break;
		case MIGSTREAM_ROUND:
			CU_ASSERT_EQUAL(
			    migstream__get_round(&rec, &rd2, err, sizeof(err)),
			    0);
			CU_ASSERT(!memcmp(&rd, &rd2, sizeof(rd)));
			break;
		case MIGSTREAM_VCPU:
			CU_ASSERT_EQUAL(
			    migstream__get_vcpu(&rec, &v2, err, sizeof(err)),
			    0);
			CU_ASSERT(!memcmp(&v, &v2, sizeof(v)));
			break;
		case MIGSTREAM_DEVICES:
			CU_ASSERT_EQUAL(rec.len, 3);
			CU_ASSERT_EQUAL(rec.size, 16 + 8);
			break;
		case MIGSTREAM_GATE:
			CU_ASSERT_EQUAL(
			    migstream__get_gate(&rec, &g2, err, sizeof(err)),
			    0);
			CU_ASSERT(!memcmp(&g, &g2, 80));
			CU_ASSERT(g2.out_state == rec.body + 80);
			CU_ASSERT(!memcmp(g2.out_state, state, sizeof(state)));
			break;
		case MIGSTREAM_LOG_TAIL:
		case MIGSTREAM_END:
			CU_ASSERT_EQUAL(rec.len, 0);
			CU_ASSERT_EQUAL(rec.size, 16);
			break;
		case MIGSTREAM_VERIFY:
			CU_ASSERT_EQUAL(
			    migstream__get_verify(&rec, &vf2, err, sizeof(err)),
			    0);
			CU_ASSERT(!memcmp(&vf, &vf2, sizeof(vf)));
			break;
		}
		off += rec.size;
		free(copy);
	}
	CU_ASSERT_EQUAL(off, b.len);
	migstream__buf_reset(&b);
	CU_ASSERT_EQUAL(b.len, 0);
	migstream__buf_free(&b);
}

/* A GATE without output state; a full batch, all zero, then none zero. */
static void test_edges(void)
{
	struct migstream_buf b = { 0 };
	struct migstream_gate g = { .exits = 1 }, g2;
	struct migstream_pages pg;
	struct migstream_rec rec;
	uint64_t pfn[MIGSTREAM_BATCH_MAX], sent;
	uint8_t *copy;
	static uint8_t big[MIGSTREAM_BATCH_MAX * PAGE];

	CU_ASSERT_EQUAL(migstream__put_gate(&b, &g), 0);
	CU_ASSERT_EQUAL_FATAL(decode(b.p, b.len, &rec, &copy), 0);
	CU_ASSERT_EQUAL(rec.len, 80);
	CU_ASSERT_EQUAL(migstream__get_gate(&rec, &g2, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(g2.exits, 1);
	CU_ASSERT_PTR_NULL(g2.out_state);
	free(copy);

	for (uint32_t i = 0; i < MIGSTREAM_BATCH_MAX; i++)
		pfn[i] = MIGSTREAM_BATCH_MAX - 1 - i;
	migstream__buf_reset(&b);
	CU_ASSERT_EQUAL(
	    migstream__put_pages(&b, big, pfn, MIGSTREAM_BATCH_MAX, &sent), 0);
	CU_ASSERT_EQUAL(sent, 0);
	CU_ASSERT_EQUAL(b.len, 16 + 8 + 8 * MIGSTREAM_BATCH_MAX);
	CU_ASSERT_EQUAL_FATAL(decode(b.p, b.len, &rec, &copy), 0);
	CU_ASSERT_EQUAL(migstream__get_pages(&rec, MIGSTREAM_BATCH_MAX, &pg,
					     err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(pg.nr_data, 0);
	CU_ASSERT_PTR_NULL(pg.data);
	CU_ASSERT_EQUAL(pg.pfn[0],
			(MIGSTREAM_BATCH_MAX - 1) | MIGSTREAM_PFN_ZERO);
	free(copy);

	/* One byte at the page's end is enough to make it non-zero. */
	for (uint32_t i = 0; i < MIGSTREAM_BATCH_MAX; i++)
		big[i * PAGE + PAGE - 1] = 1;
	migstream__buf_reset(&b);
	CU_ASSERT_EQUAL(
	    migstream__put_pages(&b, big, pfn, MIGSTREAM_BATCH_MAX, &sent), 0);
	CU_ASSERT_EQUAL(sent, (uint64_t)MIGSTREAM_BATCH_MAX * PAGE);
	CU_ASSERT_EQUAL(b.len, 16 + MIGSTREAM_BODY_MAX);
	CU_ASSERT_EQUAL_FATAL(decode(b.p, b.len, &rec, &copy), 0);
	CU_ASSERT_EQUAL(migstream__get_pages(&rec, MIGSTREAM_BATCH_MAX, &pg,
					     err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(pg.nr_data, MIGSTREAM_BATCH_MAX);
	CU_ASSERT_EQUAL(pg.pfn[0], MIGSTREAM_BATCH_MAX - 1);
	free(copy);
	migstream__buf_free(&b);
}

/* The encoder writes nothing the decoder would refuse, and nothing on -EINVAL.
 */
static void test_put_refusals(void)
{
	struct migstream_buf b = { 0 };
	struct migstream_domain_info di = sample_di();
	struct migstream_vcpu v = { .in_trap_handler = 2 };
	struct migstream_gate g = { .out_state_len =
					MIGSTREAM_GATE_STATE_MAX + 1 };
	uint64_t pfn[2] = { 3, 3 };

	CU_ASSERT_EQUAL(migstream__put_header(&b, 2), -EINVAL);
	CU_ASSERT_EQUAL(migstream__put(&b, MIGSTREAM_TYPE_NR, NULL, 0),
			-EINVAL);
	CU_ASSERT_EQUAL(migstream__put(&b, MIGSTREAM_END, "x", 1), -EINVAL);
	CU_ASSERT_EQUAL(
	    migstream__put(&b, MIGSTREAM_CONFIG, mem, MIGSTREAM_CONFIG_MAX + 1),
	    -EINVAL);
	CU_ASSERT_EQUAL(migstream__put(&b, MIGSTREAM_VERIFY, mem, 8), -EINVAL);
	memset(di.name, 'a', sizeof(di.name));
	CU_ASSERT_EQUAL(migstream__put_domain_info(&b, &di), -EINVAL);
	CU_ASSERT_EQUAL(migstream__put_vcpu(&b, &v), -EINVAL);
	CU_ASSERT_EQUAL(migstream__put_gate(&b, &g), -EINVAL);
	CU_ASSERT_EQUAL(migstream__put_pages(&b, mem, pfn, 0, NULL), -EINVAL);
	CU_ASSERT_EQUAL(
	    migstream__put_pages(&b, mem, pfn, MIGSTREAM_BATCH_MAX + 1, NULL),
	    -EINVAL);
	CU_ASSERT_EQUAL(migstream__put_pages(&b, mem, pfn, 2, NULL), -EINVAL);
	pfn[1] = MIGSTREAM_PFN_ZERO | 4;
	CU_ASSERT_EQUAL(migstream__put_pages(&b, mem, pfn, 2, NULL), -EINVAL);
	CU_ASSERT_EQUAL(b.len, 0);
	migstream__buf_free(&b);
}

static int decode_header(const uint8_t *h, size_t len)
{
	uint8_t *p = exact(h, len);
	uint32_t flags;
	int rc;

	err[0] = 0;
	rc = migstream__decode_header(p, len, &flags, err, sizeof(err));
	free(p);
	return rc;
}

static void test_header_refusals(void)
{
	uint8_t h[16];

	memcpy(h, MIGSTREAM_MAGIC, 8);
	le32(h + 8, MIGSTREAM_VERSION);
	le32(h + 12, 0);
	CU_ASSERT_EQUAL(decode_header(h, 16), 0);
	CU_ASSERT_EQUAL(decode_header(h, 15), -EAGAIN);
	CU_ASSERT_EQUAL(decode_header(h, 0), -EAGAIN);

	h[3] = 'X';
	REFUSED(decode_header(h, 16), -EPROTO, "not a pvft migration stream");
	h[3] = 'T';
	le32(h + 8, 2);
	REFUSED(decode_header(h, 16), -EPROTONOSUPPORT, "stream version 2");
	CU_ASSERT(strstr(err, "version 1") != NULL);
	le32(h + 8, MIGSTREAM_VERSION);
	le32(h + 12, 1u << 5);
	REFUSED(decode_header(h, 16), -EINVAL, "unknown flags 0x20");
}

static uint8_t rec_buf[16 + MIGSTREAM_BODY_MAX + 8];

/* Forged records: each check of migstream__decode. */
static void test_record_refusals(void)
{
	struct migstream_rec rec;
	struct migstream_round rd = { .round = 1 };
	size_t n;

	n = forge(rec_buf, 12, "abc", 3);
	REFUSED(decode(rec_buf, n, &rec, NULL), -EBADMSG, "record 12");
	CU_ASSERT(strstr(err, "unknown type") && strstr(err, "0..9"));
	/* Unknown even when its body is not there yet. */
	REFUSED(decode(rec_buf, 16, &rec, NULL), -EBADMSG, "record 12");

	n = forge(rec_buf, MIGSTREAM_VCPU, mem, 100);
	REFUSED(decode(rec_buf, n, &rec, NULL), -EBADMSG,
		"VCPU: body 100 bytes, must be 920");
	n = forge(rec_buf, MIGSTREAM_END, "x", 1);
	REFUSED(decode(rec_buf, n, &rec, NULL), -EBADMSG,
		"END: body 1 bytes, must be 0");
	/* Oversize, refused from the header alone: never waited for. */
	le32(rec_buf, MIGSTREAM_CONFIG);
	le32(rec_buf + 4, MIGSTREAM_CONFIG_MAX + 1);
	REFUSED(decode(rec_buf, 16, &rec, NULL), -EBADMSG,
		"CONFIG: body 65537");
	le32(rec_buf, MIGSTREAM_PAGE_DATA);
	le32(rec_buf + 4, MIGSTREAM_BODY_MAX + 1);
	REFUSED(decode(rec_buf, 16, &rec, NULL), -EBADMSG, "PAGE_DATA: body");
	le32(rec_buf, MIGSTREAM_LOG_TAIL);
	le32(rec_buf + 4, MIGSTREAM_LOG_TAIL_MAX + 1);
	REFUSED(decode(rec_buf, 16, &rec, NULL), -EBADMSG, "LOG_TAIL: body");
	le32(rec_buf + 4, MIGSTREAM_LOG_TAIL_MAX);
	CU_ASSERT_EQUAL(decode(rec_buf, 16, &rec, NULL), -EAGAIN);
	CU_ASSERT_EQUAL(rec.size, MIGSTREAM_RECORD_MAX);

	/* Truncated: the header first, then the body and its padding. */
	n = forge(rec_buf, MIGSTREAM_DEVICES, "dev", 3);
	CU_ASSERT_EQUAL(n, 24);
	CU_ASSERT_EQUAL(decode(rec_buf, 10, &rec, NULL), -EAGAIN);
	CU_ASSERT_EQUAL(rec.size, MIGSTREAM_REC_HDR_SIZE);
	CU_ASSERT_EQUAL(decode(rec_buf, 19, &rec, NULL), -EAGAIN);
	CU_ASSERT_EQUAL(rec.size, 24);
	CU_ASSERT_EQUAL(decode(rec_buf, 23, &rec, NULL), -EAGAIN);
	CU_ASSERT_EQUAL(decode(rec_buf, 24, &rec, NULL), 0);

	rec_buf[23] = 1;
	REFUSED(decode(rec_buf, n, &rec, NULL), -EBADMSG,
		"DEVICES: padding byte 4 is 0x01");
	rec_buf[23] = 0;
	rec_buf[16] ^= 1;
	REFUSED(decode(rec_buf, n, &rec, NULL), -EBADMSG,
		"checksum mismatch in DEVICES record");
	rec_buf[16] ^= 1;
	rec_buf[8] ^= 1;
	REFUSED(decode(rec_buf, n, &rec, NULL), -EBADMSG,
		"checksum mismatch in DEVICES record");

	/* The type is covered too: a ROUND relabelled as a VERIFY. */
	n = forge(rec_buf, MIGSTREAM_ROUND, &rd, 40);
	CU_ASSERT_EQUAL(decode(rec_buf, n, &rec, NULL), 0);
	le32(rec_buf, MIGSTREAM_PAGE_DATA);
	REFUSED(decode(rec_buf, n, &rec, NULL), -EBADMSG,
		"checksum mismatch in PAGE_DATA record");
}

/* Decode the forged record of @type and body, then run @get on it. */
#define GET(type, body, len, get, out, ...)                                   \
	({                                                                    \
		struct migstream_rec rec_;                                    \
		uint8_t *copy_;                                               \
		int rc_;                                                      \
		size_t n_ = forge(rec_buf, type, body, len);                  \
		CU_ASSERT_EQUAL_FATAL(decode(rec_buf, n_, &rec_, &copy_), 0); \
		rc_ = get(&rec_, ##__VA_ARGS__, out, err, sizeof(err));       \
		free(copy_);                                                  \
		rc_;                                                          \
	})

static void test_body_refusals(void)
{
	struct migstream_domain_info di = sample_di(), di2;
	struct migstream_vcpu v = { 0 }, v2;
	struct migstream_round rd = { .round = 1 }, rd2;
	struct migstream_gate g2;
	struct migstream_verify vf2;
	uint8_t gate[80 + 8] = { 0 };

	memset(di.name, 'n', sizeof(di.name));
	REFUSED(GET(MIGSTREAM_DOMAIN_INFO, &di, sizeof(di),
		    migstream__get_domain_info, &di2),
		-EBADMSG, "DOMAIN_INFO: name not NUL-terminated");
	di = sample_di();
	memset(di.cmdline, 'c', sizeof(di.cmdline));
	REFUSED(GET(MIGSTREAM_DOMAIN_INFO, &di, sizeof(di),
		    migstream__get_domain_info, &di2),
		-EBADMSG, "DOMAIN_INFO: cmdline not NUL-terminated");
	di = sample_di();
	di.mem_size = 4097;
	REFUSED(GET(MIGSTREAM_DOMAIN_INFO, &di, sizeof(di),
		    migstream__get_domain_info, &di2),
		-EBADMSG, "DOMAIN_INFO: memory size 4097");

	v.in_trap_handler = 2;
	REFUSED(GET(MIGSTREAM_VCPU, &v, sizeof(v), migstream__get_vcpu, &v2),
		-EBADMSG, "VCPU: in_trap_handler 2");
	v.in_trap_handler = 0;
	v.pad = 1;
	REFUSED(GET(MIGSTREAM_VCPU, &v, sizeof(v), migstream__get_vcpu, &v2),
		-EBADMSG, "VCPU: reserved field");
	rd.flags = 7;
	REFUSED(
	    GET(MIGSTREAM_ROUND, &rd, sizeof(rd), migstream__get_round, &rd2),
	    -EBADMSG, "ROUND: reserved field");

	/* GATE: out_state_len and the body's length agree, within bounds. */
	le32(gate + 72, 4);
	REFUSED(
	    GET(MIGSTREAM_GATE, gate, sizeof(gate), migstream__get_gate, &g2),
	    -EBADMSG, "GATE: body 88 bytes, must be 84");
	le32(gate + 72, 8);
	CU_ASSERT_EQUAL(
	    GET(MIGSTREAM_GATE, gate, sizeof(gate), migstream__get_gate, &g2),
	    0);
	le32(gate + 72, MIGSTREAM_GATE_STATE_MAX + 1);
	REFUSED(
	    GET(MIGSTREAM_GATE, gate, sizeof(gate), migstream__get_gate, &g2),
	    -EBADMSG, "GATE: output hash state 4097 bytes");

	/* A getter handed another type's record. */
	REFUSED(
	    GET(MIGSTREAM_ROUND, &rd, sizeof(rd), migstream__get_verify, &vf2),
	    -EBADMSG, "ROUND record where VERIFY was expected");
}

/* A PAGE_DATA body of @count entries @ent and @nr_data pages of bytes. */
static int get_pages(const uint64_t *ent, uint32_t count, uint32_t reserved,
		     uint32_t nr_data, struct migstream_pages *pg)
{
	size_t len = 8 + (size_t)count * 8 + (size_t)nr_data * PAGE;
	uint8_t *body = calloc(1, len);
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	le32(body, count);
	le32(body + 4, reserved);
	for (uint32_t i = 0; i < count; i++)
		le64(body + 8 + 8 * i, ent[i]);
	rc = GET(MIGSTREAM_PAGE_DATA, body, (uint32_t)len, migstream__get_pages,
		 pg, MAX_PFN);
	free(body);
	return rc;
}

static void test_pages_refusals(void)
{
	struct migstream_pages pg;
	uint64_t ent[MIGSTREAM_BATCH_MAX + 1] = { 1, 2,
						  3 | MIGSTREAM_PFN_ZERO };

	CU_ASSERT_EQUAL(get_pages(ent, 3, 0, 2, &pg), 0);
	CU_ASSERT_EQUAL(pg.nr_data, 2);

	REFUSED(get_pages(ent, 3, 0, 1, &pg), -EBADMSG,
		"PAGE_DATA: body 4128 bytes, must be 8224");
	REFUSED(get_pages(ent, 3, 0, 3, &pg), -EBADMSG, "must be 8224");
	REFUSED(get_pages(ent, 3, 5, 2, &pg), -EBADMSG,
		"PAGE_DATA: reserved field is 0x5");
	ent[1] = 0x1234;
	REFUSED(get_pages(ent, 3, 0, 2, &pg), -EBADMSG,
		"PAGE_DATA: pfn 0x1234 out of range");
	ent[1] = MAX_PFN;
	REFUSED(get_pages(ent, 3, 0, 2, &pg), -EBADMSG,
		"pfn 0x40 out of range");
	ent[1] = MAX_PFN - 1;
	CU_ASSERT_EQUAL(get_pages(ent, 3, 0, 2, &pg), 0);
	ent[1] = 1ull << 60;
	REFUSED(
	    get_pages(ent, 3, 0, 2, &pg), -EBADMSG,
	    "PAGE_DATA: entry 1 (0x1000000000000000) has unknown flag bits");
	/* A duplicate found whatever the zero flag says. */
	ent[1] = 3;
	REFUSED(get_pages(ent, 3, 0, 2, &pg), -EBADMSG,
		"PAGE_DATA: pfn 0x3 twice in one batch");

	/* Too short for its own entries, and the count's bounds. */
	ent[1] = 2;
	REFUSED(GET(MIGSTREAM_PAGE_DATA, "\3\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0", 16,
		    migstream__get_pages, &pg, MAX_PFN),
		-EBADMSG, "too short for 3 pfns");
	REFUSED(GET(MIGSTREAM_PAGE_DATA, "\0\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0", 16,
		    migstream__get_pages, &pg, MAX_PFN),
		-EBADMSG, "PAGE_DATA: 0 pages, must be 1..1024");
	for (uint32_t i = 0; i <= MIGSTREAM_BATCH_MAX; i++)
		ent[i] = i | MIGSTREAM_PFN_ZERO;
	REFUSED(get_pages(ent, MIGSTREAM_BATCH_MAX + 1, 0, 0, &pg), -EBADMSG,
		"PAGE_DATA: 1025 pages");
}

/* @types through a fresh order of @flags: the index refused, else -1. */
static int order(uint32_t flags, const uint32_t *types, size_t n)
{
	struct migstream_order o;

	migstream__order_init(&o, flags);
	for (size_t i = 0; i < n; i++) {
		err[0] = 0;
		if (migstream__order_next(&o, types[i], err, sizeof(err))) {
			CU_ASSERT(err[0] != 0);
			return (int)i;
		}
	}
	return -1;
}

#define ORDER(flags, ...)                               \
	order(flags, (const uint32_t[]){ __VA_ARGS__ }, \
	      sizeof((const uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t))

enum {
	END = MIGSTREAM_END,
	INFO = MIGSTREAM_DOMAIN_INFO,
	PAGES = MIGSTREAM_PAGE_DATA,
	VCPU = MIGSTREAM_VCPU,
	DEVS = MIGSTREAM_DEVICES,
	GATE = MIGSTREAM_GATE,
	VERIFY = MIGSTREAM_VERIFY,
	CONFIG = MIGSTREAM_CONFIG,
	TAIL = MIGSTREAM_LOG_TAIL,
	ROUND = MIGSTREAM_ROUND,
};

static void test_order(void)
{
	const uint32_t live = MIGSTREAM_F_LIVE;

	CU_ASSERT_EQUAL(ORDER(live, INFO, CONFIG, PAGES, PAGES, ROUND, PAGES,
			      ROUND, PAGES, VCPU, DEVS, GATE, TAIL, VERIFY,
			      END),
			-1);
	CU_ASSERT_EQUAL(ORDER(0, INFO, VCPU, DEVS, GATE, VERIFY, END), -1);
	CU_ASSERT_EQUAL(ORDER(0, INFO, PAGES, VCPU, DEVS, GATE, VERIFY, END),
			-1);

	CU_ASSERT_EQUAL(ORDER(0, VCPU), 0);
	CU_ASSERT(strstr(err, "VCPU record out of order") &&
		  strstr(err, "DOMAIN_INFO comes first"));
	CU_ASSERT_EQUAL(ORDER(0, INFO, PAGES, ROUND), 2);
	CU_ASSERT(strstr(err, "ROUND record in a save file") != NULL);
	CU_ASSERT_EQUAL(ORDER(live, INFO, CONFIG, CONFIG), 2);
	CU_ASSERT_EQUAL(ORDER(live, INFO, PAGES, CONFIG), 2);
	CU_ASSERT_EQUAL(ORDER(live, INFO, INFO), 1);
	CU_ASSERT_EQUAL(ORDER(live, INFO, VCPU, GATE), 2);
	CU_ASSERT(strstr(err, "GATE record out of order: after VCPU") != NULL);
	CU_ASSERT_EQUAL(ORDER(live, INFO, VCPU, DEVS, GATE, END), 4);
	CU_ASSERT_EQUAL(ORDER(live, INFO, VCPU, DEVS, GATE, VERIFY, TAIL), 5);
	CU_ASSERT_EQUAL(ORDER(live, INFO, VCPU, DEVS, GATE, VERIFY, END, END),
			6);
	CU_ASSERT_EQUAL(ORDER(live, INFO, VCPU, DEVS, GATE, VERIFY, END, PAGES),
			6);
	CU_ASSERT_EQUAL(ORDER(live, INFO, VCPU, PAGES), 2);
}

static CU_TestInfo migstream_tests[] = {
	{ "type names", test_type_names },
	{ "bytes as the spec lays them out", test_bytes },
	{ "every record type round trips", test_round_trip },
	{ "zero pages, full batches, empty gate state", test_edges },
	{ "the encoder refuses what the decoder would", test_put_refusals },
	{ "header refusals", test_header_refusals },
	{ "record refusals", test_record_refusals },
	{ "body refusals", test_body_refusals },
	{ "PAGE_DATA refusals", test_pages_refusals },
	{ "record order", test_order },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo migstream_suites[] = {
	{ "migstream", NULL, NULL, NULL, NULL, migstream_tests },
	CU_SUITE_INFO_NULL,
};

void test_migstream__register(void)
{
	CU_register_suites(migstream_suites);
}
