// SPDX-License-Identifier: MIT
/*
 * pvft-migtamper: a migration stream (a save file) with one byte of one
 * record's body changed and that record's checksum made right again, so
 * that what the change means reaches the receiver's checks past the
 * checksum (tests/migrate: VERIFY must catch a page that is not the
 * sent domain's).
 *
 *   pvft-migtamper IN OUT TYPE N OFFSET
 *       The N-th record (from 0) of type TYPE (a number, migstream.h):
 *       its body's byte at OFFSET gets every bit flipped. Exit 0, or 1
 *       saying why (no such record, an offset past its body, a stream
 *       that does not decode).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migstream.h"

static int fail(const char *msg)
{
	fprintf(stderr, "pvft-migtamper: %s\n", msg);
	return 1;
}

/* @n bytes verbatim onto @b (grown as migstream__put grows it). */
static int append(struct migstream_buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->len + n + (1u << 20);
		uint8_t *q = realloc(b->p, cap);

		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int main(int argc, char **argv)
{
	struct migstream_buf out = { 0 };
	struct migstream_rec r;
	unsigned long type, want, off, seen = 0;
	uint8_t *in = NULL, *body;
	size_t len = 0, cap = 0, n, pos = MIGSTREAM_HEADER_SIZE;
	char err[256];
	bool done = false;
	FILE *f;

	if (argc != 6)
		return fail("usage: IN OUT TYPE N OFFSET");
	type = strtoul(argv[3], NULL, 0);
	want = strtoul(argv[4], NULL, 0);
	off = strtoul(argv[5], NULL, 0);
	f = fopen(argv[1], "rb");
	if (!f)
		return fail("cannot open IN");
	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 1u << 20;
			in = realloc(in, cap);
			if (!in)
				return fail("out of memory");
		}
		n = fread(in + len, 1, cap - len, f);
		len += n;
	} while (n);
	fclose(f);
	if (len < MIGSTREAM_HEADER_SIZE ||
	    append(&out, in, MIGSTREAM_HEADER_SIZE))
		return fail("not a stream");
	while (pos < len) {
		if (migstream__decode(in + pos, len - pos, &r, err,
				      sizeof(err)))
			return fail(err);
		if (r.type == type && seen++ == want) {
			if (off >= r.len)
				return fail("OFFSET past the record's body");
			body = malloc(r.len);
			if (!body)
				return fail("out of memory");
			memcpy(body, r.body, r.len);
			body[off] ^= 0xff;
			if (migstream__put(&out, r.type, body, r.len))
				return fail("cannot encode the record");
			free(body);
			done = true;
		} else if (append(&out, in + pos, r.size)) {
			return fail("out of memory");
		}
		pos += r.size;
	}
	if (!done)
		return fail("no such record");
	f = fopen(argv[2], "wb");
	if (!f || fwrite(out.p, 1, out.len, f) != out.len || fclose(f))
		return fail("cannot write OUT");
	return 0;
}
