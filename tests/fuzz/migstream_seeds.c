// SPDX-License-Identifier: MIT
/*
 * pvft-migstream-seeds DIR: the migration stream fuzzer's seed corpus,
 * written by the codec's own encoder (a checksum is no job for a shell
 * script): a live stream with every record type in the spec's order, a
 * save file's, and one stream per record type. Page batches are kept to a
 * few pages, so that every seed fits run.sh's -max_len.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migstream.h"

#define NR_PAGES 8

static uint8_t mem[NR_PAGES * MIGSTREAM_PAGE_SIZE];
static const char *dir;

static void die_rc(const char *what, int rc)
{
	if (rc) {
		fprintf(stderr, "pvft-migstream-seeds: %s: %d\n", what, rc);
		exit(EXIT_FAILURE);
	}
}

static void save(const char *name, const struct migstream_buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b->p, 1, b->len, f) != b->len || fclose(f)) {
		perror(path);
		exit(EXIT_FAILURE);
	}
}

/* The record of @type, with made-up but valid contents. */
static void put(struct migstream_buf *b, uint32_t type)
{
	static const uint64_t pfn[] = { 3, 0, 5, 7 };
	static const uint8_t state[24] = { 1, 2, 3 };
	struct migstream_domain_info di = {
		.mem_size = sizeof(mem),
		.cmdline_hash = 0x1234,
		.abi_version = 1,
		.nr_vifs = 1,
		.pair_id = 42,
		.epoch = 3,
		.role = 1,
		.name = "kv",
		.cmdline = "console=hvc0",
	};
	struct migstream_vcpu v = { .rip = 0x100000, .in_trap_handler = 1 };
	struct migstream_gate g = { .exits = 1000,
				    .records = 40,
				    .mode = 1,
				    .out_bytes = 5,
				    .out_state_len = sizeof(state),
				    .out_state = state };
	struct migstream_verify vf = { 1, 2, 5, 4, 4, 1 };
	struct migstream_round rd = { .round = 1, .pages = 4, .bytes = 12288 };
	uint64_t bytes;
	int rc = 0;

	switch (type) {
	case MIGSTREAM_DOMAIN_INFO:
		rc = migstream__put_domain_info(b, &di);
		break;
	case MIGSTREAM_PAGE_DATA:
		rc = migstream__put_pages(b, mem, pfn, 4, &bytes);
		break;
	case MIGSTREAM_VCPU:
		rc = migstream__put_vcpu(b, &v);
		break;
	case MIGSTREAM_GATE:
		rc = migstream__put_gate(b, &g);
		break;
	case MIGSTREAM_VERIFY:
		rc = migstream__put_verify(b, &vf);
		break;
	case MIGSTREAM_ROUND:
		rc = migstream__put_round(b, &rd);
		break;
	case MIGSTREAM_CONFIG:
		rc = migstream__put(b, type, "name = \"kv\"\nmemory = 1\n", 23);
		break;
	case MIGSTREAM_DEVICES:
		rc = migstream__put(b, type, "evtchn console netback", 22);
		break;
	case MIGSTREAM_LOG_TAIL:
		rc = migstream__put(b, type, "PVFTLOG records", 15);
		break;
	default:
		rc = migstream__put(b, type, NULL, 0);
	}
	die_rc(migstream__type_name(type), rc);
}

int main(int argc, char **argv)
{
	static const uint32_t live[] = {
		MIGSTREAM_DOMAIN_INFO, MIGSTREAM_CONFIG,   MIGSTREAM_PAGE_DATA,
		MIGSTREAM_ROUND,       MIGSTREAM_VCPU,	   MIGSTREAM_DEVICES,
		MIGSTREAM_GATE,	       MIGSTREAM_LOG_TAIL, MIGSTREAM_VERIFY,
		MIGSTREAM_END,
	};
	struct migstream_buf b = { 0 };
	char name[64];

	if (argc != 2) {
		fprintf(stderr, "usage: pvft-migstream-seeds DIR\n");
		return EXIT_FAILURE;
	}
	dir = argv[1];
	/* Pages 3 and 7 have bytes; 0 and 5 are zero. */
	memset(mem + 3 * MIGSTREAM_PAGE_SIZE, 0x33, MIGSTREAM_PAGE_SIZE);
	mem[7 * MIGSTREAM_PAGE_SIZE + 100] = 7;

	die_rc("header", migstream__put_header(&b, MIGSTREAM_F_LIVE));
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		put(&b, live[i]);
	save("live", &b);

	/* A save file: no rounds, no log tail. */
	migstream__buf_reset(&b);
	die_rc("header", migstream__put_header(&b, 0));
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] != MIGSTREAM_ROUND && live[i] != MIGSTREAM_LOG_TAIL)
			put(&b, live[i]);
	save("save", &b);

	for (uint32_t t = 0; t < MIGSTREAM_TYPE_NR; t++) {
		migstream__buf_reset(&b);
		die_rc("header", migstream__put_header(&b, MIGSTREAM_F_LIVE));
		put(&b, t);
		snprintf(name, sizeof(name), "record-%s",
			 migstream__type_name(t));
		save(name, &b);
	}
	migstream__buf_free(&b);
	return EXIT_SUCCESS;
}
