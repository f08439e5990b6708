// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the log decoder, which reads files a user hands pvft
 * and, on a live pair, bytes from the network. The input is a log: a
 * header, then records. Besides "no crash, no read past the input", every
 * result is checked: a refusal names its cause, and whatever decodes
 * encodes back to exactly the bytes it came from, so that the decoder
 * accepts nothing the encoder could not have written and drops no field.
 *
 * A mutated byte almost always breaks a CRC, which would leave everything
 * behind the CRC check unexplored; so each input is decoded twice: as it
 * is, then with every CRC recomputed just before it is checked.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "logfmt.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static uint8_t out[LOGFMT_MAX_RECORD];

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* An error is set, and terminated inside its buffer. */
static void check_refusal(const struct logfmt_error *err)
{
	CHECK(err->msg[0] && memchr(err->msg, '\0', sizeof(err->msg)));
}

/* Give the record at @p (@avail bytes) a good CRC, if it is all there. */
static void resign_record(uint8_t *p, size_t avail)
{
	size_t padded;

	if (avail < LOGFMT_HEAD_SIZE || get32(p + 20) > LOGFMT_MAX_PAYLOAD)
		return;
	padded = (get32(p + 20) + 7) & ~(size_t)7;
	if (avail < LOGFMT_HEAD_SIZE + padded + LOGFMT_TAIL_SIZE)
		return;
	put32(p + LOGFMT_HEAD_SIZE + padded,
	      logfmt__crc32c(0, p, LOGFMT_HEAD_SIZE + padded));
}

static void check_header(uint8_t *buf, size_t size, bool resign)
{
	uint8_t again[LOGFMT_HEADER_SIZE];
	struct logfmt_header h;
	struct logfmt_error err = { "" };

	if (resign && size >= LOGFMT_HEADER_SIZE)
		put32(buf + 124, logfmt__crc32c(0, buf, 124));
	if (logfmt__decode_header(buf, size, &h, &err)) {
		check_refusal(&err);
		return;
	}
	CHECK(size >= LOGFMT_HEADER_SIZE && h.version == LOGFMT_VERSION);
	logfmt__encode_header(&h, again);
	CHECK(!memcmp(again, buf, LOGFMT_HEADER_SIZE));
}

static void check_records(uint8_t *buf, size_t size, bool resign)
{
	size_t off = LOGFMT_HEADER_SIZE;

	/* The records are decoded even after a bad header: more to explore. */
	while (off < size) {
		struct logfmt_record r;
		struct logfmt_error err = { "" };
		size_t avail = size - off;
		long n;

		if (resign)
			resign_record(buf + off, avail);
		n = logfmt__decode_record(buf + off, avail, &r, &err);
		if (n < 0) {
			CHECK(n == -1);
			check_refusal(&err);
			return;
		}
		if (n == 0) {
			/* Only ever "wait for more", never past a whole one. */
			CHECK(avail < LOGFMT_MAX_RECORD);
			return;
		}
		CHECK((size_t)n <= avail && n % 8 == 0);
		CHECK(r.len <= LOGFMT_MAX_PAYLOAD && r.flags == 0);
		CHECK(r.payload == buf + off + LOGFMT_HEAD_SIZE);
		CHECK(logfmt__record_size(&r) == (size_t)n);
		CHECK(logfmt__encode_record(&r, out, sizeof(out)) == n);
		CHECK(!memcmp(out, buf + off, (size_t)n));
		off += (size_t)n;
	}
}

/*
 * The backup's decoder of a primary's opening (the pairing handshake after
 * TLS): every prefix of the input, as the bytes trickle in; a complete
 * opening's pointers lie inside the input.
 */
static void check_opening(const uint8_t *buf, size_t size)
{
	struct logfmt_header h;
	struct logfmt_record boot, hello;
	struct logfmt_error why;
	size_t n = size < LOGFMT_OPENING_MAX ? size : LOGFMT_OPENING_MAX;

	for (size_t len = 0; len <= n; len += len < 256 ? 1 : 61) {
		int rc =
		    logfmt__decode_opening(buf, len, &h, &boot, &hello, &why);

		if (rc < 0 && !why.msg[0])
			abort();
		if (rc == 1 && (boot.u.boot.cmdline_len > len ||
				(boot.u.boot.cmdline_len &&
				 ((const uint8_t *)boot.u.boot.cmdline < buf ||
				  (const uint8_t *)boot.u.boot.cmdline +
					  boot.u.boot.cmdline_len >
				      buf + len)) ||
				hello.type != LOGFMT_HELLO))
			abort();
		if (rc)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: ASan sees any read past the input. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	for (int resign = 0; resign < 2; resign++) {
		if (size)
			memcpy(buf, data, size);
		check_header(buf, size, resign);
		check_records(buf, size, resign);
	}
	check_opening(buf, size);
	free(buf);
	return 0;
}
