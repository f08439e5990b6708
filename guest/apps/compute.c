// SPDX-License-Identifier: MIT
/*
 * A fixed CPU-bound workload: chained SHA-256 over a 1 MiB buffer.
 *
 * The buffer is filled by xorshift64* from a fixed seed; each round hashes
 * the whole buffer and folds the digest back into it, so every round
 * depends on the one before and nothing can be skipped. The result is
 * the same on every run, host and guest alike, which is what makes it a
 * benchmark (guest vs native speed) and a replay check (same digest).
 *
 * The same file builds as a host program with -DPVFT_NATIVE; everything
 * between the two #ifdef blocks is shared, and the workload is identical
 * (poll_point() is empty natively: a host process needs no event delivery).
 *
 * cmdline: rounds=N (default COMPUTE_DEFAULT_ROUNDS, about 1 s natively).
 */
#ifdef PVFT_NATIVE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../include/cmdline.h"

int app_main(const char *cmdline);

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void poll_point(void)
{
}
#else
#include "console.h"
#include "hypervisor.h"
#include "lib.h"
#include "time.h"

static uint64_t now_ns(void)
{
	return NOW();
}

/*
 * A PV guest receives events only at hypercalls, and the hv reports one
 * that makes none for seconds (DESIGN.md section 2); one cheap exit every
 * few tens of milliseconds keeps it responsive at no measurable cost.
 */
static void poll_point(void)
{
	poll_events();
}
#endif

#define COMPUTE_BUF_SIZE (1u << 20)
#define COMPUTE_SEED 0x9e3779b97f4a7c15ull
#define COMPUTE_MULT 0x2545f4914f6cdd1dull /* xorshift64*'s multiplier */
#define COMPUTE_DEFAULT_ROUNDS 250
#define COMPUTE_POLL_EVERY 8 /* rounds; a round takes about 4 ms */

static uint8_t buf[COMPUTE_BUF_SIZE];

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, unsigned int n)
{
	return (x >> n) | (x << (32 - n));
}

/* FIPS 180-4, section 6.2.2: one 64-byte block into the state @h. */
static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
			      (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
			      (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3];
	e = h[4], f = h[5], g = h[6], k = h[7];
	for (i = 0; i < 64; i++) {
		t1 = k + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) +
		     ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) +
		     ((a & b) ^ (a & c) ^ (b & c));
		k = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d;
	h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

static void sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
	uint32_t h[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	uint8_t tail[128] = { 0 };
	size_t rest = len % 64, tail_len = rest < 56 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	size_t i;

	for (i = 0; i + 64 <= len; i += 64)
		sha256_block(h, data + i);
	/* Padding: 0x80, zeros, the length in bits, big-endian. */
	memcpy(tail, data + i, rest);
	tail[rest] = 0x80;
	for (i = 0; i < 8; i++)
		tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (i = 0; i < tail_len; i += 64)
		sha256_block(h, tail + i);
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void workload(unsigned long rounds, uint8_t digest[32])
{
	uint64_t x = COMPUTE_SEED;
	unsigned long r;
	size_t i;

	/* xorshift64*, stored little-endian byte by byte (host-independent). */
	for (i = 0; i < COMPUTE_BUF_SIZE; i++) {
		if (i % 8 == 0) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
		}
		buf[i] = (uint8_t)((x * COMPUTE_MULT) >> (8 * (i % 8)));
	}
	memset(digest, 0, 32);
	for (r = 0; r < rounds; r++) {
		size_t at = (r * 32) % COMPUTE_BUF_SIZE;

		sha256(buf, COMPUTE_BUF_SIZE, digest);
		for (i = 0; i < 32; i++)
			buf[at + i] ^= digest[i];
		if (r % COMPUTE_POLL_EVERY == COMPUTE_POLL_EVERY - 1)
			poll_point();
	}
}

int app_main(const char *cmdline)
{
	unsigned long rounds =
	    cmdline_get_ulong(cmdline, "rounds", COMPUTE_DEFAULT_ROUNDS);
	uint8_t digest[32];
	char hex[65];
	uint64_t t0, t1;
	int i;

	t0 = now_ns();
	workload(rounds, digest);
	t1 = now_ns();

	for (i = 0; i < 32; i++) {
		hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
	}
	hex[64] = '\0';
	printf("compute: result=%s\n", hex);
	printf("compute: rounds=%lu time_ns=%llu\n", rounds,
	       (unsigned long long)(t1 - t0));
	return 0;
}

#ifdef PVFT_NATIVE
/* Arguments joined by spaces: the guest's command line. */
int main(int argc, char **argv)
{
	size_t len = 1;
	char *cmdline;
	int i;

	for (i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	cmdline = calloc(1, len);
	if (!cmdline) {
		perror("compute");
		return 1;
	}
	for (i = 1; i < argc; i++) {
		if (i > 1)
			strcat(cmdline, " ");
		strcat(cmdline, argv[i]);
	}
	i = app_main(cmdline);
	free(cmdline);
	return i;
}
#endif
