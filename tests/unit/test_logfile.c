// SPDX-License-Identifier: MIT
/*
 * logfile: a writer and a reader round trip in a temporary directory, then
 * files cut, extended and rearranged by hand, one per check the reader
 * makes across records. Every error names the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "logfile.h"
#include "pvft/abi.h"
#include "unit.h"

#define CHECK_AT(cond, line) \
	CU_assertImplementation(!!(cond), (line), #cond, __FILE__, "", CU_FALSE)

#define NR_RECORDS 10000
#define SMALL_LOG 4096 /* bytes enough for the hand-built logs */

static char dir[64];
static uint8_t pattern[PVFT_RANDOM_MAX + NR_RECORDS];
static const char *made[16]; /* files to remove at cleanup */
static size_t nr_made;

static const struct logfmt_header header = {
	.version = LOGFMT_VERSION,
	.pair_id = 0xfeedface12345678ull,
	.epoch = 3,
	.image_hash = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 },
	.mem_size = 32ull << 20,
	.abi_version = PVFT_ABI_VERSION,
	.cpuid_hash = 0x0123456789abcdefull,
};

/* DIR/NAME, remembered for cleanup; NAME must be a literal. */
static const char *path_of(const char *name)
{
	static char paths[16][128];
	size_t i;

	for (i = 0; i < nr_made; i++)
		if (!strcmp(made[i], name))
			return paths[i];
	CU_ASSERT_FATAL(nr_made < 16);
	snprintf(paths[nr_made], sizeof(paths[0]), "%s/%s", dir, name);
	made[nr_made] = name;
	return paths[nr_made++];
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, buf, len) == (ssize_t)len);
	close(fd);
}

static int suite_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 29 + 3) | 1;
	snprintf(dir, sizeof(dir), "/tmp/pvft-test-logfile.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int suite_cleanup(void)
{
	char path[128];

	for (size_t i = 0; i < nr_made; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, made[i]);
		unlink(path);
		rmdir(path); /* the one made a directory */
	}
	return rmdir(dir);
}

/* Record @i of the long log: every type, ordinals that repeat and jump. */
static struct logfmt_record make_record(uint32_t i)
{
	struct logfmt_record r = { .ordinal = 1 + i / 2 * 3 };
	struct logfmt_pos pos = { 0x100000 + i, i % 128 };

	switch (i % 7) {
	case 0:
		r.type = LOGFMT_TIME;
		r.u.time =
		    (struct logfmt_time){ pos, i % 2, (int64_t)i * 1000 };
		break;
	case 1:
		r.type = LOGFMT_RANDOM;
		r.u.random =
		    (struct logfmt_random){ pos, 1 + (i * 37) % PVFT_RANDOM_MAX,
					    pattern + i };
		break;
	case 2:
		r.type = LOGFMT_TIMER;
		r.u.timer.pos = pos;
		break;
	case 3:
		r.type = LOGFMT_CONSOLE_IN;
		r.u.console_in = (struct logfmt_console_in){
			pos, i % 2 ? LOGFMT_CONSOLE_CLOSED : 0, i % 300,
			pattern + i
		};
		break;
	case 4:
		r.type = LOGFMT_DIGEST;
		r.u.digest = (struct logfmt_digest){
			pos, i, { i * 3ull, i * 5ull, i * 7ull, i * 11ull }
		};
		break;
	case 5:
		r.type = LOGFMT_NOTE;
		r.u.note =
		    (struct logfmt_note){ i % 50, (const char *)pattern + i };
		break;
	default:
		r.type = 0x8100 | (i % 100); /* unknown optional */
		r.len = i % 33;
		r.payload = pattern + i;
		break;
	}
	return r;
}

static struct logfmt_record boot_record(void)
{
	return (struct logfmt_record){
		.type = LOGFMT_BOOT,
		.u.boot = { 1700000000000000000ull, 77, 11, "console=hvc" },
	};
}

static struct logfmt_record end_record(uint64_t ordinal)
{
	return (struct logfmt_record){
		.type = LOGFMT_END,
		.ordinal = ordinal,
		.u.end = { 0, LOGFMT_END_SHUTDOWN, 0, 5, { 1, 2, 3, 4 } },
	};
}

/* The same record, as encoded: a byte compare covers every field. */
static bool same(const struct logfmt_record *a, const struct logfmt_record *b)
{
	static uint8_t ea[LOGFMT_HEAD_SIZE + 8192], eb[sizeof(ea)];
	long na = logfmt__encode_record(a, ea, sizeof(ea));
	long nb = logfmt__encode_record(b, eb, sizeof(eb));

	return na > 0 && na == nb && !memcmp(ea, eb, (size_t)na);
}

static void test_round_trip(void)
{
	const char *path = path_of("round-trip.log");
	struct logfile_writer w;
	struct logfile_reader rd;
	struct logfmt_record r, g;
	struct logfmt_header h;
	struct logfmt_error e = { "" };
	uint64_t off = LOGFMT_HEADER_SIZE, bytes;
	struct stat st;
	bool ok = true;

	CU_ASSERT_EQUAL_FATAL(logfile__create(&w, path, &header, &e), 0);
	CU_ASSERT_EQUAL(w.bytes, LOGFMT_HEADER_SIZE);
	r = boot_record();
	CU_ASSERT_EQUAL_FATAL(logfile__append(&w, &r, &e), 0);
	CU_ASSERT_EQUAL(r.seq, 0);
	for (uint32_t i = 0; i < NR_RECORDS; i++) {
		r = make_record(i);
		if (logfile__append(&w, &r, &e) || r.seq != i + 1)
			ok = false;
	}
	CU_ASSERT(ok);
	r = end_record(make_record(NR_RECORDS - 1).ordinal);
	CU_ASSERT_EQUAL_FATAL(logfile__append(&w, &r, &e), 0);
	CU_ASSERT_EQUAL(w.seq, NR_RECORDS + 2);
	CU_ASSERT_EQUAL(w.records, NR_RECORDS + 2);
	bytes = w.bytes;
	CU_ASSERT_EQUAL_FATAL(logfile__close(&w, &e), 0);
	CU_ASSERT_EQUAL(w.fd, -1);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, (off_t)bytes);
	CU_ASSERT(bytes > 2 * LOGFMT_MAX_RECORD); /* the reader refills */

	memset(&h, 0, sizeof(h));
	CU_ASSERT_EQUAL_FATAL(logfile__open(&rd, path, &h, &e), 0);
	CU_ASSERT_EQUAL(h.version, LOGFMT_VERSION);
	CU_ASSERT_EQUAL(h.pair_id, header.pair_id);
	CU_ASSERT_EQUAL(h.epoch, header.epoch);
	CU_ASSERT(!memcmp(h.image_hash, header.image_hash, 16));
	CU_ASSERT_EQUAL(h.mem_size, header.mem_size);
	CU_ASSERT_EQUAL(h.abi_version, header.abi_version);
	CU_ASSERT_EQUAL(h.cpuid_hash, header.cpuid_hash);

	for (uint32_t i = 0; i < NR_RECORDS + 2; i++) {
		if (i == 0)
			r = boot_record();
		else if (i <= NR_RECORDS)
			r = make_record(i - 1);
		else
			r = end_record(make_record(NR_RECORDS - 1).ordinal);
		r.seq = i;
		if (logfile__next(&rd, &g, &e) != 1 || !same(&r, &g) ||
		    logfile__offset(&rd) != off) {
			ok = false;
			break;
		}
		off += logfmt__record_size(&r);
	}
	CU_ASSERT(ok);
	CU_ASSERT_EQUAL(off, bytes);
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 0);
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 0);
	logfile__close_reader(&rd);
	CU_ASSERT_EQUAL(rd.fd, -1);
}

/* A record larger than the writer's buffer grows it. */
static void test_largest_record(void)
{
	const char *path = path_of("largest.log");
	uint8_t *payload = malloc(LOGFMT_MAX_PAYLOAD);
	struct logfile_writer w;
	struct logfile_reader rd;
	struct logfmt_record r, g;
	struct logfmt_header h;
	struct logfmt_error e = { "" };

	CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
	for (size_t i = 0; i < LOGFMT_MAX_PAYLOAD; i++)
		payload[i] = (uint8_t)(i >> 8 ^ i);
	CU_ASSERT_EQUAL_FATAL(logfile__create(&w, path, &header, &e), 0);
	r = boot_record();
	CU_ASSERT_EQUAL(logfile__append(&w, &r, &e), 0);
	r = (struct logfmt_record){ .type = 0x9000,
				    .len = LOGFMT_MAX_PAYLOAD,
				    .payload = payload };
	CU_ASSERT_EQUAL(logfile__append(&w, &r, &e), 0);
	r = make_record(1);
	CU_ASSERT_EQUAL(logfile__append(&w, &r, &e), 0);
	r = end_record(10);
	CU_ASSERT_EQUAL(logfile__append(&w, &r, &e), 0);
	CU_ASSERT_EQUAL_FATAL(logfile__close(&w, &e), 0);

	CU_ASSERT_EQUAL_FATAL(logfile__open(&rd, path, &h, &e), 0);
	CU_ASSERT_EQUAL_FATAL(logfile__next(&rd, &g, &e), 1);
	CU_ASSERT_EQUAL_FATAL(logfile__next(&rd, &g, &e), 1);
	CU_ASSERT_EQUAL(g.type, 0x9000);
	CU_ASSERT_EQUAL(g.len, LOGFMT_MAX_PAYLOAD);
	CU_ASSERT(!memcmp(g.payload, payload, LOGFMT_MAX_PAYLOAD));
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 1);
	CU_ASSERT_EQUAL(g.type, LOGFMT_RANDOM);
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 1);
	CU_ASSERT_EQUAL(g.type, LOGFMT_END);
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 0);
	logfile__close_reader(&rd);
	free(payload);
}

static void test_writer_errors(void)
{
	const char *path = path_of("refused.log");
	struct logfile_writer w;
	struct logfile_reader rd;
	struct logfmt_record r, g;
	struct logfmt_header h;
	struct logfmt_error e = { "" };
	char bad[120], want[200];

	snprintf(bad, sizeof(bad), "%s/no-such-dir/x.log", dir);
	CU_ASSERT_EQUAL(logfile__create(&w, bad, &header, &e), -1);
	snprintf(want, sizeof(want), "%s: open: No such file or directory",
		 bad);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	CU_ASSERT_EQUAL(w.fd, -1);
	CU_ASSERT_PTR_NULL(w.buf);

	/* The header is written at once: a full disk is seen at create. */
	CU_ASSERT_EQUAL(logfile__create(&w, "/dev/full", &header, &e), -1);
	CU_ASSERT_STRING_EQUAL(e.msg,
			       "/dev/full: write: No space left on device");

	/* A record that cannot be encoded is refused and takes no seq. */
	CU_ASSERT_EQUAL_FATAL(logfile__create(&w, path, &header, &e), 0);
	r = boot_record();
	CU_ASSERT_EQUAL(logfile__append(&w, &r, &e), 0);
	r = make_record(1);
	r.u.random.len = PVFT_RANDOM_MAX + 1;
	CU_ASSERT_EQUAL(logfile__append(&w, &r, &e), -1);
	snprintf(want, sizeof(want),
		 "%s: record 1: cannot encode this RANDOM record (type 3): a "
		 "field is out of range",
		 path);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	r = (struct logfmt_record){ .type = 99 };
	CU_ASSERT_EQUAL(logfile__append(&w, &r, &e), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "unknown record (type 99)"));
	CU_ASSERT_EQUAL(w.seq, 1);
	CU_ASSERT_EQUAL(w.records, 1);
	r = end_record(0);
	CU_ASSERT_EQUAL(logfile__append(&w, &r, &e), 0);
	CU_ASSERT_EQUAL(r.seq, 1);
	CU_ASSERT_EQUAL(logfile__flush(&w, &e), 0);
	CU_ASSERT_EQUAL(logfile__close(&w, &e), 0);
	CU_ASSERT_EQUAL(logfile__open(&rd, path, &h, &e), 0);
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 1);
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 1);
	CU_ASSERT_EQUAL(g.type, LOGFMT_END);
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 0);
	logfile__close_reader(&rd);
}

/* A RANDOM record of the largest size, at ordinal @i. */
static struct logfmt_record big_record(uint32_t i)
{
	return (struct logfmt_record){
		.type = LOGFMT_RANDOM,
		.ordinal = 1 + i,
		.u.random = { { 0x100000, 0 }, PVFT_RANDOM_MAX, pattern },
	};
}

/*
 * A size limit: LOGFILE_FULL once, when less than one exit's worth is
 * left; records refused (no seq taken) only where END would not fit;
 * END always fits; the file never passes the limit and reads back whole.
 */
static void test_limit(void)
{
	const char *path = path_of("limit.log");
	struct logfile_writer w;
	struct logfile_reader rd;
	struct logfmt_record r, g;
	struct logfmt_header h;
	struct logfmt_error e = { "" };
	uint64_t limit = LOGFILE_LIMIT_MIN, n = 0, seq, before;
	bool full = false;
	char want[200];
	struct stat st;
	int rc;

	CU_ASSERT_EQUAL_FATAL(logfile__create(&w, path, &header, &e), 0);
	CU_ASSERT_EQUAL(logfile__set_limit(&w, LOGFILE_LIMIT_MIN - 1), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(logfile__set_limit(&w, limit), 0);
	r = boot_record();
	CU_ASSERT_EQUAL_FATAL(logfile__append(&w, &r, &e), 0);
	for (;;) {
		r = big_record((uint32_t)n);
		before = w.bytes;
		rc = logfile__append(&w, &r, &e);
		if (rc < 0)
			break;
		n++;
		/* Said once: by the record that left less than an exit. */
		CU_ASSERT_EQUAL(rc == LOGFILE_FULL,
				limit - before >= LOGFILE_EXIT_MAX &&
				    limit - w.bytes < LOGFILE_EXIT_MAX);
		full |= rc == LOGFILE_FULL;
		CU_ASSERT_FATAL(n < limit / PVFT_RANDOM_MAX);
	}
	CU_ASSERT(full);
	/* Refused only where it and END would not fit. */
	CU_ASSERT(w.bytes + logfmt__record_size(&r) + w.end_size > limit);
	CU_ASSERT_EQUAL(w.bytes, before);
	snprintf(want, sizeof(want),
		 "%s: record %" PRIu64 ": the log reached its limit of %" PRIu64
		 " bytes",
		 path, w.seq, limit);
	CU_ASSERT_STRING_EQUAL(e.msg, want);
	seq = w.seq;
	CU_ASSERT(w.bytes <= limit);
	r = end_record(n);
	CU_ASSERT_EQUAL(logfile__append(&w, &r, &e), 0);
	CU_ASSERT_EQUAL(r.seq, seq);
	CU_ASSERT(w.bytes <= limit);
	CU_ASSERT_EQUAL_FATAL(logfile__close(&w, &e), 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT((uint64_t)st.st_size <= limit);

	CU_ASSERT_EQUAL_FATAL(logfile__open(&rd, path, &h, &e), 0);
	for (uint64_t i = 0; i < n + 1; i++)
		CU_ASSERT_EQUAL_FATAL(logfile__next(&rd, &g, &e), 1);
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 1);
	CU_ASSERT_EQUAL(g.type, LOGFMT_END);
	CU_ASSERT_EQUAL(logfile__next(&rd, &g, &e), 0);
	logfile__close_reader(&rd);
}

static void expect_open_error_at(const char *path, const char *msg, int line)
{
	struct logfile_reader rd;
	struct logfmt_header h;
	struct logfmt_error e = { "" };
	char want[200];

	snprintf(want, sizeof(want), "%s: %s", path, msg);
	CHECK_AT(logfile__open(&rd, path, &h, &e) == -1, line);
	CHECK_AT(!strcmp(e.msg, want), line);
	if (strcmp(e.msg, want))
		fprintf(stderr, "\n  line %d: got \"%s\", want \"%s\"\n", line,
			e.msg, want);
	CHECK_AT(rd.fd == -1 && !rd.buf && !rd.path, line);
}

#define expect_open_error(path, msg) \
	expect_open_error_at((path), (msg), __LINE__)

static void test_open_errors(void)
{
	uint8_t hdr[LOGFMT_HEADER_SIZE];
	char text[LOGFMT_HEADER_SIZE * 2];
	const char *path;

	expect_open_error(path_of("missing.log"),
			  "open: No such file or directory");
	path = path_of("empty.log");
	write_file(path, "", 0);
	expect_open_error(path, "log header truncated: 0 of 128 bytes");
	path = path_of("text.log");
	memset(text, '\n', sizeof(text));
	memcpy(text, "#!/bin/sh", 9); /* long enough, but no log */
	write_file(path, text, sizeof(text));
	expect_open_error(path, "not a pvft log (bad magic)");
	logfmt__encode_header(&header, hdr);
	hdr[8] = 2;
	path = path_of("v2.log");
	write_file(path, hdr, sizeof(hdr));
	expect_open_error(path,
			  "log format version 2, this pvft reads version 1");
	path = path_of("a-directory");
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
	expect_open_error(path, "read: Is a directory");
}

/* Open @path and read records until the end or an error. */
static int read_all(const char *path, uint64_t *records_r,
		    struct logfmt_error *e)
{
	struct logfile_reader rd;
	struct logfmt_record g;
	struct logfmt_header h;
	int rc;

	*records_r = 0;
	memset(e, 0, sizeof(*e));
	if (logfile__open(&rd, path, &h, e))
		return -2;
	while ((rc = logfile__next(&rd, &g, e)) == 1)
		++*records_r;
	logfile__close_reader(&rd);
	return rc;
}

/* The header, then @n records encoded with the seq and ordinal given. */
static size_t build_log(uint8_t *buf, const struct logfmt_record *recs,
			size_t n, size_t *offsets)
{
	size_t len = LOGFMT_HEADER_SIZE;

	logfmt__encode_header(&header, buf);
	for (size_t i = 0; i < n; i++) {
		long k =
		    logfmt__encode_record(&recs[i], buf + len, SMALL_LOG - len);

		CU_ASSERT_FATAL(k > 0);
		if (offsets)
			offsets[i] = len;
		len += (size_t)k;
	}
	if (offsets)
		offsets[n] = len;
	return len;
}

static void expect_read_error_at(const char *path, const void *buf, size_t len,
				 uint64_t records, const char *msg, int line)
{
	struct logfmt_error e;
	uint64_t got;
	char want[200];

	write_file(path, buf, len);
	snprintf(want, sizeof(want), "%s: %s", path, msg);
	CHECK_AT(read_all(path, &got, &e) == -1, line);
	CHECK_AT(got == records, line);
	CHECK_AT(!strcmp(e.msg, want), line);
	if (strcmp(e.msg, want))
		fprintf(stderr, "\n  line %d: got \"%s\", want \"%s\"\n", line,
			e.msg, want);
}

#define expect_read_error(path, buf, len, records, msg) \
	expect_read_error_at((path), (buf), (len), (records), (msg), __LINE__)

static void small_log(struct logfmt_record recs[4])
{
	recs[0] = boot_record();
	recs[1] = make_record(0); /* TIME */
	recs[2] = make_record(1); /* RANDOM */
	recs[3] = end_record(recs[2].ordinal);
	for (uint64_t i = 0; i < 4; i++)
		recs[i].seq = i;
}

static void test_truncated_everywhere(void)
{
	const char *path = path_of("cut.log");
	static uint8_t buf[SMALL_LOG];
	struct logfmt_record recs[4];
	size_t offsets[5], len, k = 0;
	struct logfmt_error e;
	uint64_t got;
	char msg[200];

	small_log(recs);
	len = build_log(buf, recs, 4, offsets);
	write_file(path, buf, len);
	CU_ASSERT_EQUAL(read_all(path, &got, &e), 0);
	CU_ASSERT_EQUAL(got, 4);

	for (size_t cut = 0; cut < len; cut++) {
		if (cut < LOGFMT_HEADER_SIZE) {
			write_file(path, buf, cut);
			snprintf(msg, sizeof(msg),
				 "log header truncated: %zu of 128 bytes", cut);
			expect_open_error_at(path, msg, __LINE__);
			continue;
		}
		while (offsets[k + 1] <= cut)
			k++;
		if (cut == offsets[k] && k == 0)
			snprintf(msg, sizeof(msg),
				 "ends after the header without an END record "
				 "(truncated?)");
		else if (cut == offsets[k])
			snprintf(msg, sizeof(msg),
				 "ends after record %zu without an END record "
				 "(truncated?)",
				 k - 1);
		else
			snprintf(msg, sizeof(msg),
				 "truncated: record %zu at offset %zu is cut "
				 "short (file ends at %zu)",
				 k, offsets[k], cut);
		expect_read_error_at(path, buf, cut, k, msg, __LINE__);
	}
}

static void test_data_after_end(void)
{
	const char *path = path_of("after-end.log");
	static uint8_t buf[SMALL_LOG];
	struct logfmt_record recs[5];
	size_t offsets[6], len;
	char msg[80];

	small_log(recs);
	len = build_log(buf, recs, 4, offsets);
	buf[len] = 0;
	snprintf(msg, sizeof(msg), "data after the END record (offset %zu)",
		 len);
	expect_read_error(path, buf, len + 1, 4, msg);
	/* Even a well-formed record. */
	recs[4] = make_record(2);
	recs[4].seq = 4;
	recs[4].ordinal = recs[3].ordinal;
	len = build_log(buf, recs, 5, offsets);
	expect_read_error(path, buf, len, 4, msg);
	/*
	 * Even one of the optional records a live stream may send after END
	 * (log-format.md section 6): a file has nothing after END at all.
	 */
	recs[4] = (struct logfmt_record){ .seq = 4,
					  .ordinal = recs[3].ordinal,
					  .type = LOGFMT_RELEASED };
	len = build_log(buf, recs, 5, offsets);
	expect_read_error(path, buf, len, 4, msg);
}

/* A file never has stream records, but a reader skips them like any
 * optional type (log-format.md section 5): checked, counted, passed on. */
static void test_stream_records_in_file(void)
{
	const char *path = path_of("stream-records.log");
	static uint8_t buf[SMALL_LOG];
	struct logfmt_record recs[8];
	size_t offsets[9], len;
	struct logfmt_error e;
	uint64_t got;
	char msg[120];

	small_log(recs);
	recs[7] = recs[3]; /* END */
	recs[3] = (struct logfmt_record){ .type = LOGFMT_PROGRESS,
					  .u.progress = { 5 } };
	recs[4] = (struct logfmt_record){ .type = LOGFMT_RELEASED,
					  .u.released = { 12 } };
	recs[5] =
	    (struct logfmt_record){ .type = LOGFMT_ACK, .u.ack = { 3, 2 } };
	recs[6] = (struct logfmt_record){
		.type = LOGFMT_HELLO,
		.u.hello = { LOGFMT_ROLE_PRIMARY, 0, 5, 0, "hostA", NULL },
	};
	for (uint64_t i = 3; i < 8; i++) {
		recs[i].seq = i;
		recs[i].ordinal = recs[2].ordinal;
	}
	len = build_log(buf, recs, 8, offsets);
	write_file(path, buf, len);
	CU_ASSERT_EQUAL(read_all(path, &got, &e), 0);
	CU_ASSERT_EQUAL(got, 8);

	/* A known one is checked all the same: a bad ACK is refused. */
	recs[5].u.ack = (struct logfmt_ack){ 2, 2 };
	len = build_log(buf, recs, 8, offsets);
	buf[offsets[5] + LOGFMT_HEAD_SIZE + 8] = 3; /* replayed: 3 */
	{
		uint32_t crc = logfmt__crc32c(0, buf + offsets[5],
					      offsets[6] - offsets[5] - 8);

		for (int i = 0; i < 4; i++)
			buf[offsets[6] - 8 + i] = (uint8_t)(crc >> (8 * i));
	}
	snprintf(msg, sizeof(msg),
		 "record 5 at offset %zu: ACK record replayed 3 records of 2 "
		 "received",
		 offsets[5]);
	expect_read_error(path, buf, len, 5, msg);
}

static void test_sequence_and_ordinals(void)
{
	const char *path = path_of("order.log");
	static uint8_t buf[SMALL_LOG];
	struct logfmt_record recs[4];
	size_t offsets[5], len;
	char msg[120];

	small_log(recs);
	recs[2].seq = 3; /* a gap */
	len = build_log(buf, recs, 4, offsets);
	snprintf(msg, sizeof(msg), "record 2 at offset %zu: sequence 3, want 2",
		 offsets[2]);
	expect_read_error(path, buf, len, 2, msg);

	small_log(recs);
	recs[0].seq = 1; /* not from 0 */
	len = build_log(buf, recs, 4, offsets);
	expect_read_error(path, buf, len, 0,
			  "record 0 at offset 128: sequence 1, want 0");

	small_log(recs);
	recs[1].seq = 2; /* swapped */
	recs[2].seq = 1;
	len = build_log(buf, recs, 4, offsets);
	snprintf(msg, sizeof(msg), "record 1 at offset %zu: sequence 2, want 1",
		 offsets[1]);
	expect_read_error(path, buf, len, 1, msg);

	small_log(recs);
	recs[1].ordinal = 10;
	recs[2].ordinal = 9; /* back */
	len = build_log(buf, recs, 4, offsets);
	snprintf(msg, sizeof(msg),
		 "record 2 at offset %zu: exit ordinal 9 is before the "
		 "previous record's 10",
		 offsets[2]);
	expect_read_error(path, buf, len, 2, msg);

	small_log(recs);
	recs[0] = make_record(0); /* no BOOT first */
	recs[0].seq = 0;
	len = build_log(buf, recs, 4, offsets);
	expect_read_error(path, buf, len, 0,
			  "record 0 at offset 128: TIME first: record 0 must "
			  "be BOOT");

	small_log(recs);
	recs[2] = boot_record(); /* a second BOOT */
	recs[2].seq = 2;
	recs[2].ordinal = recs[1].ordinal;
	len = build_log(buf, recs, 4, offsets);
	snprintf(msg, sizeof(msg),
		 "record 2 at offset %zu: BOOT again: BOOT is record 0 only",
		 offsets[2]);
	expect_read_error(path, buf, len, 2, msg);

	small_log(recs);
	recs[1].ordinal = 0; /* a TIME before the first exit */
	len = build_log(buf, recs, 4, offsets);
	snprintf(msg, sizeof(msg),
		 "record 1 at offset %zu: TIME at exit ordinal 0, before the "
		 "first exit",
		 offsets[1]);
	expect_read_error(path, buf, len, 1, msg);

	small_log(recs);
	recs[0].ordinal = 1; /* BOOT after an exit */
	recs[1].ordinal = recs[2].ordinal = recs[3].ordinal = 1;
	len = build_log(buf, recs, 4, offsets);
	expect_read_error(path, buf, len, 0,
			  "record 0 at offset 128: BOOT at exit ordinal 1, "
			  "not 0");

	/* The same ordinal twice is fine: several records at one exit. */
	small_log(recs);
	recs[1].ordinal = recs[2].ordinal = recs[3].ordinal = 10;
	len = build_log(buf, recs, 4, offsets);
	write_file(path, buf, len);
	{
		struct logfmt_error e;
		uint64_t got;

		CU_ASSERT_EQUAL(read_all(path, &got, &e), 0);
		CU_ASSERT_EQUAL(got, 4);
	}
}

static void test_bad_record_in_file(void)
{
	const char *path = path_of("bad-record.log");
	static uint8_t buf[SMALL_LOG];
	struct logfmt_record recs[4];
	size_t offsets[5], len;
	char msg[120];

	small_log(recs);
	len = build_log(buf, recs, 4, offsets);
	buf[offsets[2] + 30] ^= 4;
	snprintf(msg, sizeof(msg),
		 "record 2 at offset %zu: record CRC32C mismatch", offsets[2]);
	write_file(path, buf, len);
	{
		struct logfmt_error e;
		uint64_t got;

		CU_ASSERT_EQUAL(read_all(path, &got, &e), -1);
		CU_ASSERT_EQUAL(got, 2);
		CU_ASSERT_NSTRING_EQUAL(e.msg, path, strlen(path));
		CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, msg));
	}
	/* A record of an unknown mandatory type: the format check names it. */
	len = build_log(buf, recs, 1, offsets);
	{
		uint8_t *rec = buf + len;
		uint32_t crc;

		memset(rec, 0, 32);
		rec[0] = 1;   /* seq */
		rec[16] = 12; /* type; length 0 */
		crc = logfmt__crc32c(0, rec, 24);
		for (int i = 0; i < 4; i++)
			rec[24 + i] = (uint8_t)(crc >> (8 * i));
	}
	snprintf(msg, sizeof(msg),
		 "record 1 at offset %zu: unknown mandatory record type 12",
		 len);
	expect_read_error(path, buf, len + 32, 1, msg);
}

static CU_TestInfo logfile_tests[] = {
	{ "writer and reader round trip", test_round_trip },
	{ "the largest record", test_largest_record },
	{ "writer errors", test_writer_errors },
	{ "a size limit", test_limit },
	{ "open errors", test_open_errors },
	{ "truncated at every offset", test_truncated_everywhere },
	{ "data after END", test_data_after_end },
	{ "stream records in a file", test_stream_records_in_file },
	{ "sequence gaps, ordinals going back, BOOT first and once",
	  test_sequence_and_ordinals },
	{ "a bad record in the file", test_bad_record_in_file },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo logfile_suites[] = {
	{ "logfile", suite_init, suite_cleanup, NULL, NULL, logfile_tests },
	CU_SUITE_INFO_NULL,
};

void test_logfile__register(void)
{
	CU_register_suites(logfile_suites);
}
