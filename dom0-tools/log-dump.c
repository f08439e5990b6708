// SPDX-License-Identifier: MIT
/*
 * pvft log-dump: print a pvft log file (logchan/logfmt.h) as text or as
 * one JSON document: the header, one line or object per record, and a
 * summary (records and bytes by type, guest time, log rate, whether the
 * log is complete). Only logchan's reader touches the bytes; this file
 * formats what it decodes. Output streams: a log of any length takes
 * constant memory, and a bad record stops the dump right after the last
 * good one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "logfile.h"
#include "pvft.h"
#include "pvft/abi.h"

#define NS_PER_SEC UINT64_C(1000000000)
#define RANDOM_SHOWN 16	    /* RANDOM bytes shown as hex in text */
#define CONSOLE_SHOWN 64    /* characters of CONSOLE_IN data in text */
#define FRAME_SHOWN 14	    /* NET_RX bytes shown (the Ethernet header) */
#define NR_TYPES (1u << 16) /* record types are 16 bits */

struct type_stats {
	uint64_t records, bytes;
};

struct summary {
	struct type_stats *by_type; /* NR_TYPES of them */
	uint64_t records;
	uint64_t bytes; /* header included */
	bool have_digest;
	uint64_t max_digest_ns;
	bool have_end;
	struct logfmt_end end; /* pointer-free: a copy outlives the record */
};

/* A streaming JSON writer: enough state to place the commas. */
#define JSON_MAX_DEPTH 8
struct json {
	FILE *f;
	int depth;
	bool first[JSON_MAX_DEPTH]; /* nothing written yet at this depth */
	bool array[JSON_MAX_DEPTH]; /* the value at this depth is an array */
};

struct dump {
	FILE *f;
	bool json, summary_only;
	bool failed; /* the reader stopped at an error */
	struct json j;
	struct summary s;
};

/* Bytes a record takes in the file: head, payload padded to 8, tail. */
static uint64_t record_bytes(const struct logfmt_record *rec)
{
	return LOGFMT_HEAD_SIZE + (((uint64_t)rec->len + 7) & ~7ull) +
	       LOGFMT_TAIL_SIZE;
}

/* ---- text ---- */

/*
 * @n bytes as a C string literal. With @max, stop before the escaped text
 * would pass @max characters and end with "... instead of ".
 */
static void put_c_string(FILE *f, const uint8_t *p, size_t n, size_t max)
{
	size_t i, used = 0;
	char e[8];

	fputc('"', f);
	for (i = 0; i < n; i++) {
		switch (p[i]) {
		case '"':
		case '\\':
			snprintf(e, sizeof(e), "\\%c", p[i]);
			break;
		case '\n':
			snprintf(e, sizeof(e), "\\n");
			break;
		case '\r':
			snprintf(e, sizeof(e), "\\r");
			break;
		case '\t':
			snprintf(e, sizeof(e), "\\t");
			break;
		default:
			if (p[i] >= 0x20 && p[i] < 0x7f)
				snprintf(e, sizeof(e), "%c", p[i]);
			else
				snprintf(e, sizeof(e), "\\x%02x", p[i]);
		}
		if (max && used + strlen(e) > max) {
			fputs("\"...", f);
			return;
		}
		fputs(e, f);
		used += strlen(e);
	}
	fputc('"', f);
}

static void put_hex(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

/* Nanoseconds as seconds with 6 decimals. */
static void put_seconds(FILE *f, uint64_t ns)
{
	fprintf(f, "%" PRIu64 ".%06" PRIu64, ns / NS_PER_SEC,
		ns % NS_PER_SEC / 1000);
}

/* ISO-8601 UTC with nanoseconds; 0 on success. */
static int iso8601(uint64_t ns, char *buf, size_t size)
{
	time_t secs = (time_t)(ns / NS_PER_SEC);
	struct tm tm;
	size_t n;

	if (!gmtime_r(&secs, &tm))
		return -1;
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!n)
		return -1;
	snprintf(buf + n, size - n, ".%09" PRIu64 "Z", ns % NS_PER_SEC);
	return 0;
}

static const char *clock_name(uint32_t clock)
{
	switch (clock) {
	case PVFT_CLOCK_MONOTONIC:
		return "monotonic";
	case PVFT_CLOCK_WALL:
		return "wall";
	}
	return NULL;
}

static void text_header(struct dump *d, const char *path,
			const struct logfmt_header *h)
{
	FILE *f = d->f;

	fprintf(f, "pvft log %s\n", path);
	fprintf(f, "  format version  %" PRIu16 "\n", h->version);
	fprintf(f, "  flags           0x%" PRIx32 " (%s)\n", h->flags,
		h->flags & LOGFMT_F_STREAM ? "stream" : "file");
	fprintf(f, "  pair id         0x%016" PRIx64 "\n", h->pair_id);
	fprintf(f, "  epoch           %" PRIu64 "\n", h->epoch);
	fprintf(f, "  image hash      ");
	put_hex(f, h->image_hash, sizeof(h->image_hash));
	fprintf(f, "\n  memory          %" PRIu64 " MiB", h->mem_size >> 20);
	if (h->mem_size & ((1u << 20) - 1))
		fprintf(f, " (%" PRIu64 " bytes)", h->mem_size);
	fprintf(f, "\n  PV ABI version  %" PRIu32 "\n", h->abi_version);
	fprintf(f, "  CPUID hash      0x%016" PRIx64 "\n", h->cpuid_hash);
}

static void text_pos(FILE *f, const struct logfmt_pos *pos)
{
	fprintf(f, " rip 0x%" PRIx64 " nr %" PRIu32, pos->rip, pos->nr);
}

static void text_digest_value(FILE *f, const struct logfmt_digest_value *v)
{
	fprintf(f,
		" mem 0x%016" PRIx64 " regs 0x%016" PRIx64
		" out_hash 0x%016" PRIx64 " out_bytes %" PRIu64,
		v->mem, v->regs, v->out_hash, v->out_bytes);
}

static void text_record(struct dump *d, const struct logfmt_record *rec)
{
	FILE *f = d->f;
	const char *name;
	char when[64];

	fprintf(f, "#%" PRIu64 " ordinal %" PRIu64 " %s", rec->seq,
		rec->ordinal, logfmt__type_name(rec->type));
	switch (rec->type) {
	case LOGFMT_BOOT:
		fprintf(f, " nonce 0x%08" PRIx32, rec->u.boot.id_nonce);
		if (iso8601(rec->u.boot.wall_ns, when, sizeof(when)))
			fprintf(f, " wall_ns %" PRIu64, rec->u.boot.wall_ns);
		else
			fprintf(f, " wall %s", when);
		fprintf(f, " cmdline ");
		put_c_string(f, (const uint8_t *)rec->u.boot.cmdline,
			     rec->u.boot.cmdline_len, 0);
		for (uint32_t i = 0; i < rec->u.boot.nr_vifs; i++) {
			const uint8_t *m = rec->u.boot.vif_mac[i];

			fprintf(f,
				" vif%" PRIu32 " %02x:%02x:%02x:%02x:%02x:%02x",
				i, m[0], m[1], m[2], m[3], m[4], m[5]);
		}
		break;
	case LOGFMT_TIME:
		text_pos(f, &rec->u.time.pos);
		name = clock_name(rec->u.time.clock);
		if (name)
			fprintf(f, " clock %s", name);
		else
			fprintf(f, " clock %" PRIu32, rec->u.time.clock);
		fprintf(f, " value %" PRId64, rec->u.time.value);
		break;
	case LOGFMT_RANDOM:
		text_pos(f, &rec->u.random.pos);
		fprintf(f, " len %" PRIu32 " bytes ", rec->u.random.len);
		put_hex(f, rec->u.random.bytes,
			rec->u.random.len < RANDOM_SHOWN ? rec->u.random.len
							 : RANDOM_SHOWN);
		if (rec->u.random.len > RANDOM_SHOWN)
			fprintf(f, "...");
		break;
	case LOGFMT_TIMER:
		text_pos(f, &rec->u.timer.pos);
		break;
	case LOGFMT_CONSOLE_IN:
		text_pos(f, &rec->u.console_in.pos);
		fprintf(f, " len %" PRIu32 " closed %s data ",
			rec->u.console_in.len,
			rec->u.console_in.flags & LOGFMT_CONSOLE_CLOSED ? "yes"
									: "no");
		put_c_string(f, rec->u.console_in.bytes, rec->u.console_in.len,
			     CONSOLE_SHOWN);
		break;
	case LOGFMT_NET_RX:
		text_pos(f, &rec->u.net_rx.pos);
		fprintf(f, " vif %" PRIu32 " len %" PRIu32 " frame ",
			rec->u.net_rx.vif, rec->u.net_rx.len);
		put_hex(f, rec->u.net_rx.bytes, FRAME_SHOWN);
		fprintf(f, "...");
		break;
	case LOGFMT_DIGEST:
		text_pos(f, &rec->u.digest.pos);
		fprintf(f, " guest_time ");
		put_seconds(f, rec->u.digest.guest_ns);
		text_digest_value(f, &rec->u.digest.v);
		break;
	case LOGFMT_END:
		fprintf(f, " status %" PRIu32 " cause %s%s guest_time ",
			rec->u.end.status,
			logfmt__end_cause_name(rec->u.end.cause),
			rec->u.end.flags & LOGFMT_END_RAN_ON ? " ran_on" : "");
		put_seconds(f, rec->u.end.guest_ns);
		text_digest_value(f, &rec->u.end.v);
		break;
	case LOGFMT_NOTE:
		fprintf(f, " text ");
		put_c_string(f, (const uint8_t *)rec->u.note.text,
			     rec->u.note.len, 0);
		break;
	default:
		fprintf(f, " type 0x%04" PRIx16 " len %" PRIu32, rec->type,
			rec->len);
	}
	fputc('\n', f);
}

/* "BOOT", or "0x8002" for a type logfmt does not know. */
static const char *type_label(uint16_t type, char *buf, size_t size)
{
	const char *name = logfmt__type_name(type);

	if (strcmp(name, "unknown"))
		return name;
	snprintf(buf, size, "0x%04" PRIx16, type);
	return buf;
}

/* Where the guest time span comes from: END, else the last DIGEST. */
static bool guest_span(const struct summary *s, uint64_t *ns_r,
		       const char **from_r)
{
	if (s->have_end) {
		*ns_r = s->end.guest_ns;
		*from_r = "END";
		return true;
	}
	if (s->have_digest) {
		*ns_r = s->max_digest_ns;
		*from_r = "DIGEST";
		return true;
	}
	return false;
}

static double percent(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static double mbit_per_s(uint64_t bytes, uint64_t ns)
{
	return (double)bytes * 8 / ((double)ns / NS_PER_SEC) / 1e6;
}

static void text_summary(struct dump *d)
{
	const struct summary *s = &d->s;
	FILE *f = d->f;
	const char *from;
	char label[16];
	uint64_t ns;
	uint32_t t;

	fprintf(f, "summary\n");
	fprintf(f, "  %-12s %10s %14s %7s\n", "type", "records", "bytes", "%");
	fprintf(f, "  %-12s %10s %14u %7.2f\n", "header", "-",
		LOGFMT_HEADER_SIZE, percent(LOGFMT_HEADER_SIZE, s->bytes));
	for (t = 0; t < NR_TYPES; t++) {
		if (!s->by_type[t].records)
			continue;
		fprintf(f, "  %-12s %10" PRIu64 " %14" PRIu64 " %7.2f\n",
			type_label(t, label, sizeof(label)),
			s->by_type[t].records, s->by_type[t].bytes,
			percent(s->by_type[t].bytes, s->bytes));
	}
	fprintf(f, "  %-12s %10" PRIu64 " %14" PRIu64 " %7.2f\n", "total",
		s->records, s->bytes, 100.0);
	fprintf(f, "  guest time      ");
	if (guest_span(s, &ns, &from)) {
		put_seconds(f, ns);
		fprintf(f, " s (from %s)\n", from);
	} else {
		fprintf(f, "unknown\n");
	}
	fprintf(f, "  log rate        ");
	if (guest_span(s, &ns, &from) && ns)
		fprintf(f, "%.3f Mbit/s\n", mbit_per_s(s->bytes, ns));
	else
		fprintf(f, "unknown\n");
	fprintf(f, "  bytes/record    ");
	if (s->records)
		fprintf(f, "%.1f (header excluded)\n",
			(double)(s->bytes - LOGFMT_HEADER_SIZE) /
			    (double)s->records);
	else
		fprintf(f, "-\n");
	if (s->have_end)
		fprintf(f,
			"  complete        yes: END status %" PRIu32
			", cause %s\n",
			s->end.status, logfmt__end_cause_name(s->end.cause));
	else
		fprintf(f, "  complete        no: no END record\n");
	fprintf(f, "  valid           %s\n",
		d->failed ? "no: see the error on stderr" : "yes");
}

/* ---- JSON ---- */

/*
 * @n bytes as a JSON string. Every byte that is not printable ASCII is
 * \u00XX, so the document is ASCII whatever the log holds, and a byte
 * string comes back byte for byte as the code points U+0000..U+00FF.
 */
static void put_json_string(FILE *f, const uint8_t *p, size_t n)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i]);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], f);
		else
			fprintf(f, "\\u%04x", p[i]);
	}
	fputc('"', f);
}

/* The separator before a member or element, and the member's key. */
static void json_next(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	/* Top-level members and records start lines; nothing deeper. */
	if (j->depth == 1 || (j->depth == 2 && j->array[2]))
		fputc('\n', j->f);
	if (key) {
		put_json_string(j->f, (const uint8_t *)key, strlen(key));
		fputc(':', j->f);
	}
}

static void json_open(struct json *j, const char *key, char c)
{
	if (j->depth)
		json_next(j, key);
	fputc(c, j->f);
	j->depth++;
	j->first[j->depth] = true;
	j->array[j->depth] = c == '[';
}

static void json_close(struct json *j, char c)
{
	j->depth--;
	fputc(c, j->f);
}

static void json_u64(struct json *j, const char *key, uint64_t v)
{
	json_next(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

static void json_i64(struct json *j, const char *key, int64_t v)
{
	json_next(j, key);
	fprintf(j->f, "%" PRId64, v);
}

static void json_hex64(struct json *j, const char *key, uint64_t v)
{
	json_next(j, key);
	fprintf(j->f, "\"0x%016" PRIx64 "\"", v);
}

static void json_hex32(struct json *j, const char *key, uint32_t v)
{
	json_next(j, key);
	fprintf(j->f, "\"0x%08" PRIx32 "\"", v);
}

static void json_bytes_hex(struct json *j, const char *key, const uint8_t *p,
			   size_t n)
{
	json_next(j, key);
	fputc('"', j->f);
	put_hex(j->f, p, n);
	fputc('"', j->f);
}

static void json_str(struct json *j, const char *key, const void *p, size_t n)
{
	json_next(j, key);
	put_json_string(j->f, p, n);
}

static void json_cstr(struct json *j, const char *key, const char *s)
{
	json_str(j, key, s, strlen(s));
}

static void json_bool(struct json *j, const char *key, bool v)
{
	json_next(j, key);
	fputs(v ? "true" : "false", j->f);
}

static void json_null(struct json *j, const char *key)
{
	json_next(j, key);
	fputs("null", j->f);
}

static void json_double(struct json *j, const char *key, double v, int prec)
{
	json_next(j, key);
	fprintf(j->f, "%.*f", prec, v);
}

static void json_header(struct dump *d, const struct logfmt_header *h)
{
	struct json *j = &d->j;

	json_open(j, "header", '{');
	json_u64(j, "version", h->version);
	json_u64(j, "flags", h->flags);
	json_bool(j, "stream", h->flags & LOGFMT_F_STREAM);
	json_hex64(j, "pair_id", h->pair_id);
	json_u64(j, "epoch", h->epoch);
	json_bytes_hex(j, "image_hash", h->image_hash, sizeof(h->image_hash));
	json_u64(j, "mem_size", h->mem_size);
	json_u64(j, "mem_mib", h->mem_size >> 20);
	json_u64(j, "abi_version", h->abi_version);
	json_hex64(j, "cpuid_hash", h->cpuid_hash);
	json_close(j, '}');
}

static void json_pos(struct json *j, const struct logfmt_pos *pos)
{
	json_hex64(j, "rip", pos->rip);
	json_u64(j, "nr", pos->nr);
}

static void json_digest_value(struct json *j,
			      const struct logfmt_digest_value *v)
{
	json_hex64(j, "mem", v->mem);
	json_hex64(j, "regs", v->regs);
	json_hex64(j, "out_hash", v->out_hash);
	json_u64(j, "out_bytes", v->out_bytes);
}

static void json_record(struct dump *d, const struct logfmt_record *rec,
			uint64_t offset)
{
	struct json *j = &d->j;
	const char *name;
	char when[64];

	json_open(j, NULL, '{');
	json_u64(j, "seq", rec->seq);
	json_u64(j, "ordinal", rec->ordinal);
	json_u64(j, "offset", offset);
	json_cstr(j, "type", logfmt__type_name(rec->type));
	switch (rec->type) {
	case LOGFMT_BOOT:
		json_hex32(j, "nonce", rec->u.boot.id_nonce);
		json_u64(j, "wall_ns", rec->u.boot.wall_ns);
		if (iso8601(rec->u.boot.wall_ns, when, sizeof(when)))
			json_null(j, "wall");
		else
			json_cstr(j, "wall", when);
		json_str(j, "cmdline", rec->u.boot.cmdline,
			 rec->u.boot.cmdline_len);
		json_u64(j, "vifs", rec->u.boot.nr_vifs);
		if (rec->u.boot.nr_vifs)
			json_bytes_hex(j, "vif0_mac", rec->u.boot.vif_mac[0],
				       6);
		break;
	case LOGFMT_TIME:
		json_pos(j, &rec->u.time.pos);
		name = clock_name(rec->u.time.clock);
		if (name)
			json_cstr(j, "clock", name);
		else
			json_u64(j, "clock", rec->u.time.clock);
		json_i64(j, "value", rec->u.time.value);
		break;
	case LOGFMT_RANDOM:
		json_pos(j, &rec->u.random.pos);
		json_u64(j, "len", rec->u.random.len);
		json_bytes_hex(j, "bytes", rec->u.random.bytes,
			       rec->u.random.len);
		break;
	case LOGFMT_TIMER:
		json_pos(j, &rec->u.timer.pos);
		break;
	case LOGFMT_CONSOLE_IN:
		json_pos(j, &rec->u.console_in.pos);
		json_u64(j, "len", rec->u.console_in.len);
		json_bool(j, "closed",
			  rec->u.console_in.flags & LOGFMT_CONSOLE_CLOSED);
		json_str(j, "data", rec->u.console_in.bytes,
			 rec->u.console_in.len);
		break;
	case LOGFMT_NET_RX:
		json_pos(j, &rec->u.net_rx.pos);
		json_u64(j, "vif", rec->u.net_rx.vif);
		json_u64(j, "len", rec->u.net_rx.len);
		json_bytes_hex(j, "frame", rec->u.net_rx.bytes,
			       rec->u.net_rx.len);
		break;
	case LOGFMT_DIGEST:
		json_pos(j, &rec->u.digest.pos);
		json_u64(j, "guest_ns", rec->u.digest.guest_ns);
		json_digest_value(j, &rec->u.digest.v);
		break;
	case LOGFMT_END:
		json_u64(j, "status", rec->u.end.status);
		json_cstr(j, "cause", logfmt__end_cause_name(rec->u.end.cause));
		json_bool(j, "ran_on", rec->u.end.flags & LOGFMT_END_RAN_ON);
		json_u64(j, "guest_ns", rec->u.end.guest_ns);
		json_digest_value(j, &rec->u.end.v);
		break;
	case LOGFMT_NOTE:
		json_str(j, "text", rec->u.note.text, rec->u.note.len);
		break;
	default:
		json_u64(j, "type_nr", rec->type);
		json_u64(j, "len", rec->len);
	}
	json_close(j, '}');
}

static void json_summary(struct dump *d)
{
	const struct summary *s = &d->s;
	struct json *j = &d->j;
	const char *from;
	uint64_t ns;
	uint32_t t;

	json_open(j, "summary", '{');
	json_open(j, "by_type", '[');
	for (t = 0; t < NR_TYPES; t++) {
		if (!s->by_type[t].records)
			continue;
		json_open(j, NULL, '{');
		json_cstr(j, "type", logfmt__type_name(t));
		json_u64(j, "type_nr", t);
		json_u64(j, "records", s->by_type[t].records);
		json_u64(j, "bytes", s->by_type[t].bytes);
		json_double(j, "percent",
			    percent(s->by_type[t].bytes, s->bytes), 2);
		json_close(j, '}');
	}
	json_close(j, ']');
	json_u64(j, "header_bytes", LOGFMT_HEADER_SIZE);
	json_u64(j, "records", s->records);
	json_u64(j, "bytes", s->bytes);
	if (guest_span(s, &ns, &from)) {
		json_u64(j, "guest_ns", ns);
		json_cstr(j, "guest_time_from", from);
	} else {
		json_null(j, "guest_ns");
		json_null(j, "guest_time_from");
	}
	if (guest_span(s, &ns, &from) && ns)
		json_double(j, "rate_mbit_s", mbit_per_s(s->bytes, ns), 6);
	else
		json_null(j, "rate_mbit_s");
	if (s->records)
		json_double(j, "bytes_per_record",
			    (double)(s->bytes - LOGFMT_HEADER_SIZE) /
				(double)s->records,
			    1);
	else
		json_null(j, "bytes_per_record");
	json_bool(j, "valid", !d->failed);
	json_bool(j, "complete", s->have_end);
	if (s->have_end) {
		json_open(j, "end", '{');
		json_u64(j, "status", s->end.status);
		json_cstr(j, "cause", logfmt__end_cause_name(s->end.cause));
		json_close(j, '}');
	} else {
		json_null(j, "end");
	}
	json_close(j, '}');
}

/* ---- the dump ---- */

static void count(struct summary *s, const struct logfmt_record *rec)
{
	uint64_t bytes = record_bytes(rec);

	s->records++;
	s->bytes += bytes;
	s->by_type[rec->type].records++;
	s->by_type[rec->type].bytes += bytes;
	if (rec->type == LOGFMT_DIGEST) {
		if (!s->have_digest ||
		    rec->u.digest.guest_ns > s->max_digest_ns)
			s->max_digest_ns = rec->u.digest.guest_ns;
		s->have_digest = true;
	} else if (rec->type == LOGFMT_END) {
		s->have_end = true;
		s->end = rec->u.end;
	}
}

/*
 * Dump @path. 0, or -1 with @err: what was decoded before the error has
 * been printed, and the output is complete (in JSON: a whole document
 * with "error") but for the message, which is the caller's.
 */
static int dump_log(struct dump *d, const char *path, struct logfmt_error *err)
{
	struct logfile_reader rd;
	struct logfmt_header h;
	struct logfmt_record rec;
	int r;

	if (d->json)
		json_open(&d->j, NULL, '{');
	if (logfile__open(&rd, path, &h, err)) {
		if (d->json) {
			json_null(&d->j, "header");
			if (!d->summary_only) {
				json_open(&d->j, "records", '[');
				json_close(&d->j, ']');
			}
			json_null(&d->j, "summary");
		}
		return -1;
	}
	if (d->json) {
		json_header(d, &h);
		if (!d->summary_only)
			json_open(&d->j, "records", '[');
	} else {
		text_header(d, path, &h);
	}
	d->s.bytes = LOGFMT_HEADER_SIZE;
	while ((r = logfile__next(&rd, &rec, err)) > 0) {
		count(&d->s, &rec);
		if (d->summary_only)
			continue;
		if (d->json)
			json_record(d, &rec, logfile__offset(&rd));
		else
			text_record(d, &rec);
	}
	logfile__close_reader(&rd);
	d->failed = r < 0;
	if (d->json) {
		if (!d->summary_only)
			json_close(&d->j, ']');
		json_summary(d);
	} else {
		text_summary(d);
	}
	return r < 0 ? -1 : 0;
}

int main_log_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "summary", no_argument, NULL, 's' },
		PVFT_COMMON_LONG_OPTS,
	};
	struct dump d = { .f = stdout };
	struct logfmt_error err;
	int opt, rc, r;

	PVFT_FOREACH_OPT(opt, "js", opts, "log-dump", 1)
	{
	case 'j':
		d.json = true;
		break;
	case 's':
		d.summary_only = true;
		break;
	}
	if (argc - optind > 1) {
		pr_err("one FILE only");
		pvft__usage_error("log-dump");
		return PVFT_EXIT_USAGE;
	}
	d.j.f = stdout;
	d.s.by_type = calloc(NR_TYPES, sizeof(*d.s.by_type));
	if (!d.s.by_type) {
		pr_err("out of memory");
		return PVFT_EXIT_FAILED;
	}

	r = dump_log(&d, argv[optind], &err);
	if (d.json) {
		if (r)
			json_cstr(&d.j, "error", err.msg);
		json_close(&d.j, '}');
		fputc('\n', d.f);
	}
	rc = r ? PVFT_EXIT_FAILED : PVFT_EXIT_OK;
	/* Results first, then the error after them. */
	if (fflush(stdout) || ferror(stdout)) {
		pr_err("cannot write the output: %m");
		rc = PVFT_EXIT_FAILED;
	}
	if (r)
		pr_err("%s", err.msg);
	free(d.s.by_type);
	return rc;
}
