// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the migration stream's decoder, which reads save files
 * a user hands pvft-hv and, on a live migration, bytes from the network.
 * The input is a stream: the header, then records, each handed to its
 * body's parser. Besides "no crash, no read past the input", every result
 * is checked: a refusal says why, a wait asks for more than there is, and
 * whatever decodes encodes back to exactly the bytes it came from, so that
 * the decoder accepts nothing the encoder could not have written.
 *
 * A mutated byte almost always breaks a checksum, which would leave the
 * body parsers unexplored; so each input is decoded twice: as it is, then
 * with every checksum recomputed just before it is checked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "migstream.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

#define MAX_PFN 64 /* the pretend domain's: pfns past it are refused */

static uint8_t mem[MAX_PFN * MIGSTREAM_PAGE_SIZE];
static struct migstream_buf out;
static char err[256];

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* A refusal is said, and terminated inside its buffer. */
static void check_refusal(void)
{
	CHECK(err[0] && memchr(err, '\0', sizeof(err)));
}

/* Give the record at @p (@avail bytes) a good checksum, if it is there. */
static void resign(uint8_t *p, size_t avail)
{
	uint8_t *cat;
	uint32_t len;
	uint64_t sum;

	if (avail < MIGSTREAM_REC_HDR_SIZE)
		return;
	len = get32(p + 4);
	if (avail - MIGSTREAM_REC_HDR_SIZE < len)
		return;
	cat = malloc(8 + (size_t)len);
	if (!cat)
		return;
	memcpy(cat, p, 8);
	memcpy(cat + 8, p + MIGSTREAM_REC_HDR_SIZE, len);
	sum = XXH3_64bits(cat, 8 + (size_t)len);
	memcpy(p + 8, &sum, 8);
	free(cat);
}

/* The encoder's output for one record equals @rec's bytes. */
static void check_same(const uint8_t *rec, size_t size)
{
	CHECK(out.len == size && !memcmp(out.p, rec, size));
	migstream__buf_reset(&out);
}

/* PAGE_DATA: the batch written into a domain's memory, and sent again. */
static void check_pages(const struct migstream_rec *r, const uint8_t *rec)
{
	struct migstream_pages p;
	uint64_t pfn[MIGSTREAM_BATCH_MAX], bytes;
	uint32_t d = 0;
	bool canonical = true;

	if (migstream__get_pages(r, MAX_PFN, &p, err, sizeof(err))) {
		check_refusal();
		return;
	}
	CHECK(p.count >= 1 && p.count <= MIGSTREAM_BATCH_MAX);
	CHECK(r->len == 8 + 8 * (size_t)p.count +
			    (size_t)p.nr_data * MIGSTREAM_PAGE_SIZE);
	for (uint32_t i = 0; i < p.count; i++) {
		uint8_t *page;

		pfn[i] = p.pfn[i] & MIGSTREAM_PFN_MASK;
		CHECK(pfn[i] < MAX_PFN);
		page = mem + pfn[i] * MIGSTREAM_PAGE_SIZE;
		if (p.pfn[i] & MIGSTREAM_PFN_ZERO) {
			memset(page, 0, MIGSTREAM_PAGE_SIZE);
			continue;
		}
		memcpy(page, p.data + (size_t)d * MIGSTREAM_PAGE_SIZE,
		       MIGSTREAM_PAGE_SIZE);
		d++;
		/* A zero page sent as bytes is allowed, not what we send. */
		if (page[0] == 0 &&
		    !memcmp(page, page + 1, MIGSTREAM_PAGE_SIZE - 1))
			canonical = false;
	}
	CHECK(d == p.nr_data);
	CHECK(!migstream__put_pages(&out, mem, pfn, p.count, &bytes));
	CHECK(bytes == (uint64_t)d * MIGSTREAM_PAGE_SIZE || !canonical);
	if (canonical)
		check_same(rec, r->size);
	migstream__buf_reset(&out);
}

/* The body's parser; what it accepts, its encoder writes back as it was. */
static void check_body(const struct migstream_rec *r, const uint8_t *rec)
{
	struct migstream_domain_info di, di2;
	struct migstream_vcpu v;
	struct migstream_gate g;
	struct migstream_verify vf;
	struct migstream_round rd;
	struct migstream_rec again;
	int rc = 0;

	err[0] = 0;
	switch (r->type) {
	case MIGSTREAM_DOMAIN_INFO:
		rc = migstream__get_domain_info(r, &di, err, sizeof(err));
		if (rc)
			break;
		/* Bytes past the NULs are not kept: compare the values. */
		CHECK(!migstream__put_domain_info(&out, &di));
		CHECK(!migstream__decode(out.p, out.len, &again, err,
					 sizeof(err)));
		CHECK(!migstream__get_domain_info(&again, &di2, err,
						  sizeof(err)));
		CHECK(!memcmp(&di, &di2, sizeof(di)));
		migstream__buf_reset(&out);
		break;
	case MIGSTREAM_VCPU:
		rc = migstream__get_vcpu(r, &v, err, sizeof(err));
		if (!rc) {
			CHECK(!migstream__put_vcpu(&out, &v));
			check_same(rec, r->size);
		}
		break;
	case MIGSTREAM_GATE:
		rc = migstream__get_gate(r, &g, err, sizeof(err));
		if (!rc) {
			CHECK(!g.out_state_len ||
			      (g.out_state >= r->body &&
			       g.out_state + g.out_state_len ==
				   r->body + r->len));
			CHECK(!migstream__put_gate(&out, &g));
			check_same(rec, r->size);
		}
		break;
	case MIGSTREAM_VERIFY:
		rc = migstream__get_verify(r, &vf, err, sizeof(err));
		if (!rc) {
			CHECK(!migstream__put_verify(&out, &vf));
			check_same(rec, r->size);
		}
		break;
	case MIGSTREAM_ROUND:
		rc = migstream__get_round(r, &rd, err, sizeof(err));
		if (!rc) {
			CHECK(!migstream__put_round(&out, &rd));
			check_same(rec, r->size);
		}
		break;
	case MIGSTREAM_PAGE_DATA:
		check_pages(r, rec);
		break;
	}
	if (rc) {
		CHECK(rc == -EBADMSG);
		check_refusal();
	}
}

static void check_stream(uint8_t *buf, size_t size, bool resigned)
{
	struct migstream_order order;
	uint32_t flags = 0;
	size_t off = MIGSTREAM_HEADER_SIZE;
	int rc;

	err[0] = 0;
	rc = migstream__decode_header(buf, size, &flags, err, sizeof(err));
	if (rc) {
		CHECK(rc == -EAGAIN || rc == -EPROTO ||
		      rc == -EPROTONOSUPPORT || rc == -EINVAL);
		check_refusal();
	} else {
		CHECK(!migstream__put_header(&out, flags));
		check_same(buf, MIGSTREAM_HEADER_SIZE);
	}
	migstream__order_init(&order, flags & MIGSTREAM_F_KNOWN);
	/* The records are decoded even after a bad header: more to explore. */
	while (off < size) {
		struct migstream_rec r;
		size_t avail = size - off;

		if (resigned)
			resign(buf + off, avail);
		err[0] = 0;
		rc = migstream__decode(buf + off, avail, &r, err, sizeof(err));
		if (rc == -EAGAIN) {
			CHECK(r.size > avail && r.size <= MIGSTREAM_RECORD_MAX);
			return;
		}
		if (rc) {
			CHECK(rc == -EBADMSG);
			check_refusal();
			return;
		}
		CHECK(r.size <= avail && r.size % 8 == 0);
		CHECK(r.type < MIGSTREAM_TYPE_NR);
		CHECK(r.body == buf + off + MIGSTREAM_REC_HDR_SIZE);
		CHECK(r.size == MIGSTREAM_REC_HDR_SIZE + ((r.len + 7u) & ~7u));
		CHECK(!migstream__put(&out, r.type, r.body, r.len));
		check_same(buf + off, r.size);
		check_body(&r, buf + off);
		/* Out of order is said, and never taken back. */
		err[0] = 0;
		if (migstream__order_next(&order, r.type, err, sizeof(err))) {
			check_refusal();
			order.ended = true;
		}
		off += r.size;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: ASan sees any read past the input. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	for (int resigned = 0; resigned < 2; resigned++) {
		if (size)
			memcpy(buf, data, size);
		check_stream(buf, size, resigned);
	}
	free(buf);
	return 0;
}
