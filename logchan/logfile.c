// SPDX-License-Identifier: MIT
/*
 * Log files. The writer encodes records into a buffer and writes it out
 * when full, so recording one exit costs a memcpy, not a system call. The
 * reader reads large chunks and hands out records that point into its
 * buffer. Checks of the bytes are logfmt.c's; what spans records (sequence,
 * ordinals, END, truncation) is checked here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "logfile.h"

#define WRITER_BUF (64u << 10)
/* A whole record of the largest size always fits after compaction. */
#define READER_BUF (LOGFMT_MAX_RECORD + (64u << 10))

static void writer_dispose(struct logfile_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w->buf);
	*w = (struct logfile_writer){ .fd = -1 };
}

int logfile__create(struct logfile_writer *w, const char *path,
		    const struct logfmt_header *h, struct logfmt_error *err)
{
	*w = (struct logfile_writer){ .fd = -1 };
	w->path = strdup(path);
	w->buf = malloc(WRITER_BUF);
	if (!w->path || !w->buf) {
		logfmt__error(err, "%s: out of memory", path);
		goto out;
	}
	w->cap = WRITER_BUF;
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		logfmt__error(err, "%s: open: %m", path);
		goto out;
	}
	/* Written at once: a reader of a run in progress sees a log. */
	logfmt__encode_header(h, w->buf);
	w->len = LOGFMT_HEADER_SIZE;
	w->bytes = LOGFMT_HEADER_SIZE;
	if (logfile__flush(w, err))
		goto out;
	return 0;
out:
	writer_dispose(w);
	return -1;
}

/* Room for @size more bytes in the buffer: flush, then grow if need be. */
static int make_room(struct logfile_writer *w, size_t size,
		     struct logfmt_error *err)
{
	uint8_t *buf;

	if (size <= w->cap - w->len)
		return 0;
	if (logfile__flush(w, err))
		return -1;
	if (size <= w->cap)
		return 0;
	buf = realloc(w->buf, size);
	if (!buf)
		return logfmt__error(err, "%s: out of memory", w->path);
	w->buf = buf;
	w->cap = size;
	return 0;
}

int logfile__set_limit(struct logfile_writer *w, uint64_t limit)
{
	struct logfmt_record end = { .type = LOGFMT_END };

	if (limit && limit < LOGFILE_LIMIT_MIN)
		return -EINVAL;
	w->limit = limit;
	w->end_size = logfmt__record_size(&end);
	w->full = false;
	return 0;
}

int logfile__append(struct logfile_writer *w, struct logfmt_record *r,
		    struct logfmt_error *err)
{
	size_t size;

	r->seq = w->seq;
	size = logfmt__record_size(r);
	if (!size)
		goto invalid;
	/* END always fits: the others leave it its room. */
	if (w->limit &&
	    w->bytes + size + (r->type == LOGFMT_END ? 0 : w->end_size) >
		w->limit)
		return logfmt__error(err,
				     "%s: record %" PRIu64
				     ": the log reached its limit of %" PRIu64
				     " bytes",
				     w->path, r->seq, w->limit);
	if (make_room(w, size, err))
		return -1;
	if (logfmt__encode_record(r, w->buf + w->len, size) < 0)
		goto invalid;
	w->len += size;
	w->seq++;
	w->records++;
	w->bytes += size;
	/* Room for one more exit, or the caller ends the run now. */
	if (w->limit && !w->full && w->limit - w->bytes < LOGFILE_EXIT_MAX) {
		w->full = true;
		return LOGFILE_FULL;
	}
	return 0;
invalid:
	return logfmt__error(
	    err,
	    "%s: record %" PRIu64 ": cannot encode this %s record "
	    "(type %u): a field is out of range",
	    w->path, r->seq, logfmt__type_name(r->type), r->type);
}

int logfile__flush(struct logfile_writer *w, struct logfmt_error *err)
{
	size_t done;
	int rc = io__write_all(w->fd, w->buf, w->len, &done);

	if (rc) {
		logfmt__error(err, "%s: write: %s", w->path, strerror(-rc));
		/* Keep what is not written, for a later flush. */
		memmove(w->buf, w->buf + done, w->len - done);
		w->len -= done;
		return -1;
	}
	w->len = 0;
	return 0;
}

int logfile__close(struct logfile_writer *w, struct logfmt_error *err)
{
	int rc = 0;

	if (w->fd >= 0) {
		rc = logfile__flush(w, err);
		/* A device such as /dev/null cannot sync: nothing is lost. */
		if (fsync(w->fd) && errno != EINVAL && errno != EROFS && !rc)
			rc = logfmt__error(err, "%s: fsync: %m", w->path);
		if (close(w->fd) && !rc)
			rc = logfmt__error(err, "%s: close: %m", w->path);
		w->fd = -1;
	}
	writer_dispose(w);
	return rc;
}

/* Read more after buf[len), first moving the unread bytes to the front. */
static int refill(struct logfile_reader *r, struct logfmt_error *err)
{
	ssize_t n;

	if (r->off) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	do
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return logfmt__error(err, "%s: read: %m", r->path);
	if (n == 0)
		r->eof = true;
	r->len += (size_t)n;
	return 0;
}

int logfile__open(struct logfile_reader *r, const char *path,
		  struct logfmt_header *h, struct logfmt_error *err)
{
	struct logfmt_error e;

	*r = (struct logfile_reader){ .fd = -1 };
	r->path = strdup(path);
	r->buf = malloc(READER_BUF);
	if (!r->path || !r->buf) {
		logfmt__error(err, "%s: out of memory", path);
		goto out;
	}
	r->cap = READER_BUF;
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		logfmt__error(err, "%s: open: %m", path);
		goto out;
	}
	while (r->len < LOGFMT_HEADER_SIZE && !r->eof)
		if (refill(r, err))
			goto out;
	if (logfmt__decode_header(r->buf, r->len, h, &e)) {
		logfmt__error(err, "%s: %s", path, e.msg);
		goto out;
	}
	r->off = LOGFMT_HEADER_SIZE;
	r->file_off = LOGFMT_HEADER_SIZE;
	r->rec_off = LOGFMT_HEADER_SIZE;
	return 0;
out:
	logfile__close_reader(r);
	return -1;
}

int logfile__rewind(struct logfile_reader *r, struct logfmt_error *err)
{
	if (lseek(r->fd, LOGFMT_HEADER_SIZE, SEEK_SET) < 0)
		return logfmt__error(err, "%s: lseek: %m", r->path);
	r->off = r->len = 0;
	r->file_off = r->rec_off = LOGFMT_HEADER_SIZE;
	r->eof = r->ended = false;
	r->order = (struct logfmt_order){ 0 };
	return 0;
}

/* End of file where the next record should start. */
static int at_eof(struct logfile_reader *r, struct logfmt_error *err)
{
	size_t left = r->len - r->off;

	if (left)
		return logfmt__error(err,
				     "%s: truncated: record %" PRIu64
				     " at offset %" PRIu64
				     " is cut short (file ends at %" PRIu64 ")",
				     r->path, r->order.next_seq, r->file_off,
				     r->file_off + left);
	if (!r->order.next_seq)
		return logfmt__error(
		    err,
		    "%s: ends after the header without an END record "
		    "(truncated?)",
		    r->path);
	return logfmt__error(err,
			     "%s: ends after record %" PRIu64
			     " without an END record "
			     "(truncated?)",
			     r->path, r->order.next_seq - 1);
}

/* After END: the file must end there. */
static int after_end(struct logfile_reader *r, struct logfmt_error *err)
{
	if (r->off == r->len && !r->eof && refill(r, err))
		return -1;
	if (r->off < r->len)
		return logfmt__error(
		    err, "%s: data after the END record (offset %" PRIu64 ")",
		    r->path, r->file_off);
	return 0;
}

int logfile__next(struct logfile_reader *r, struct logfmt_record *rec,
		  struct logfmt_error *err)
{
	struct logfmt_error e;
	long n;

	if (r->ended)
		return after_end(r, err);
	for (;;) {
		n = logfmt__decode_record(r->buf + r->off, r->len - r->off, rec,
					  &e);
		if (n > 0)
			break;
		if (n < 0)
			return logfmt__error(
			    err,
			    "%s: record %" PRIu64 " at offset %" PRIu64 ": %s",
			    r->path, r->order.next_seq, r->file_off, e.msg);
		if (r->eof)
			return at_eof(r, err);
		if (refill(r, err))
			return -1;
	}
	if (logfmt__check_order(&r->order, rec, &e))
		return logfmt__error(
		    err, "%s: record %" PRIu64 " at offset %" PRIu64 ": %s",
		    r->path, r->order.next_seq, r->file_off, e.msg);
	r->rec_off = r->file_off;
	r->off += (size_t)n;
	r->file_off += (uint64_t)n;
	r->ended = rec->type == LOGFMT_END;
	return 1;
}

uint64_t logfile__offset(const struct logfile_reader *r)
{
	return r->rec_off;
}

void logfile__close_reader(struct logfile_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	free(r->buf);
	*r = (struct logfile_reader){ .fd = -1 };
}
