/* SPDX-License-Identifier: MIT */
/*
 * Log files: a buffered sink (record) and a checking source (replay,
 * log-dump) of the format in logfmt.h. The source checks what spans
 * records: sequence numbers count up from 0 without gaps, exit ordinals
 * never go back, nothing follows the END record, and a file that stops
 * mid-record or before END is reported as truncated.
 */
#ifndef PVFT_LOGCHAN_LOGFILE_H
#define PVFT_LOGCHAN_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logfmt.h"

struct logfile_writer {
	int fd;
	char *path;
	uint8_t *buf; /* records not yet written to fd */
	size_t len, cap;
	uint64_t seq;	   /* the next record's sequence number */
	uint64_t records;  /* records appended */
	uint64_t bytes;	   /* bytes appended, header included */
	uint64_t limit;	   /* the file's size limit; 0: none */
	uint64_t end_size; /* an END record's size, kept free under it */
	bool full;	   /* LOGFILE_FULL was said */
};

/*
 * The most one exit of pvft-hv logs, END included, with room to spare: a
 * hypercall's value (RANDOM, 4 KiB), a digest, a timer, console input
 * (4 KiB) and a whole rx ring of frames (256 NET_RX records of ~1.6 KiB):
 * about 420 KiB.
 */
#define LOGFILE_EXIT_MAX (512u << 10)
/* The smallest size limit: a header, BOOT and a few exits. */
#define LOGFILE_LIMIT_MIN (1u << 20)
/* logfile__append(): appended, and the file is full (see set_limit). */
#define LOGFILE_FULL 1

/*
 * Create (or truncate) @path and write the header. 0, or -1 with @err
 * naming the file and the cause.
 */
int logfile__create(struct logfile_writer *w, const char *path,
		    const struct logfmt_header *h, struct logfmt_error *err);
/*
 * A size limit for the file, bytes (0: none; else at least
 * LOGFILE_LIMIT_MIN). The file never grows past it: once less than
 * LOGFILE_EXIT_MAX bytes are left, logfile__append() returns LOGFILE_FULL
 * (once), and the caller ends the run after the exit in progress, whose
 * records and END still fit; a record that would leave no room for END is
 * refused (-1, "reached its limit"). 0, or -EINVAL for a limit too small.
 */
int logfile__set_limit(struct logfile_writer *w, uint64_t limit);
/*
 * Append @r (its seq is assigned here; ordinal, type and u are the
 * caller's). Buffered: written out when the buffer fills, at flush and at
 * close. 0; LOGFILE_FULL (appended, and the file is near its limit); or -1
 * with @err.
 */
int logfile__append(struct logfile_writer *w, struct logfmt_record *r,
		    struct logfmt_error *err);
int logfile__flush(struct logfile_writer *w, struct logfmt_error *err);
/* Flush, fsync and close; 0 or -1 with @err. Frees in every case. */
int logfile__close(struct logfile_writer *w, struct logfmt_error *err);

struct logfile_reader {
	int fd;
	char *path;
	uint8_t *buf; /* at least LOGFMT_MAX_RECORD bytes */
	size_t off, len, cap;
	uint64_t file_off;	   /* file offset of buf[off] */
	uint64_t rec_off;	   /* file offset of the record returned last */
	bool eof;		   /* read() returned 0 */
	struct logfmt_order order; /* what spans records */
	bool ended;		   /* the END record was returned */
};

/*
 * Open @path and decode its header into @h. 0, or -1 with @err (missing
 * file, not a pvft log, bad version, bad header CRC, ...).
 */
int logfile__open(struct logfile_reader *r, const char *path,
		  struct logfmt_header *h, struct logfmt_error *err);
/*
 * The next record, valid until the next call. 1: a record; 0: end of the
 * file right after the END record; -1 with @err: a bad or truncated
 * record, end of file before END, or bytes after END. Messages name the
 * file, the record number and its file offset.
 */
int logfile__next(struct logfile_reader *r, struct logfmt_record *rec,
		  struct logfmt_error *err);
/* Back to the first record (a file, not a pipe); 0 or -1 with @err. */
int logfile__rewind(struct logfile_reader *r, struct logfmt_error *err);
/* Offset in the file of the record that logfile__next returned last. */
uint64_t logfile__offset(const struct logfile_reader *r);
void logfile__close_reader(struct logfile_reader *r);

#endif /* PVFT_LOGCHAN_LOGFILE_H */
