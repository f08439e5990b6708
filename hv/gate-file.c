// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "domain.h"
#include "gate-file.h"
#include "log.h"

void gate_file__init(struct gate_file *f, const char *path, uint64_t limit)
{
	memset(f, 0, sizeof(*f));
	f->path = path;
	f->limit = limit;
}

void gate_file__dispose(struct gate_file *f)
{
	struct logfmt_error err;

	if (f->writer_open)
		logfile__close(&f->w, &err);
	if (f->reader_open)
		logfile__close_reader(&f->r);
	f->writer_open = f->reader_open = false;
}

/* ---- the sink ----------------------------------------------------------- */

static int file_put(struct domain *d, void *priv, struct logfmt_record *rec)
{
	struct gate_file *f = priv;
	struct logfmt_error err;
	int rc;

	if (!f->writer_open)
		return -1;
	rc = logfile__append(&f->w, rec, &err);
	if (rc < 0) {
		gate__bad_log(d, "cannot write the log: %s", err.msg);
		return -1;
	}
	/*
	 * At its --record-limit but for one exit and END: stopped after
	 * this exit as by SIGXFSZ, a process's signal past its file size
	 * limit (exit status 153). END says "stopped": the log replays
	 * to there, as any stopped run's.
	 */
	if (rc == LOGFILE_FULL && rec->type != LOGFMT_END) {
		pr_err("record: %s reached its limit of %llu bytes: the domain "
		       "is stopped",
		       f->path, (unsigned long long)f->w.limit);
		sched__request_stop(d, SIGXFSZ);
	}
	return 0;
}

static int file_open(struct domain *d, void *priv, struct logfmt_header *h,
		     struct logfmt_record *boot)
{
	struct gate_file *f = priv;
	struct logfmt_error err;

	if (logfile__create(&f->w, f->path, h, &err)) {
		pr_err("record: %s", err.msg);
		return -EBADMSG;
	}
	f->writer_open = true;
	if (logfile__set_limit(&f->w, f->limit)) {
		pr_err("record: --record-limit %llu: less than %u bytes",
		       (unsigned long long)f->limit, LOGFILE_LIMIT_MIN);
		return -EINVAL;
	}
	boot->ordinal = d->exits;
	return file_put(d, priv, boot) ? -EBADMSG : 0;
}

static void file_flush(struct domain *d, void *priv)
{
	struct gate_file *f = priv;
	struct logfmt_error err;

	if (logfile__flush(&f->w, &err))
		gate__bad_log(d, "cannot write the log: %s", err.msg);
}

static int file_close(struct domain *d, void *priv,
		      const struct logfmt_record *end)
{
	struct gate_file *f = priv;
	struct logfmt_error err;
	uint64_t bytes = f->w.bytes;

	if (!f->writer_open)
		return d->exit_status;
	f->writer_open = false;
	if (logfile__close(&f->w, &err)) {
		gate__bad_log(d, "cannot write the log: %s", err.msg);
		return d->exit_status;
	}
	if (!end)
		return d->exit_status;
	pr_info("recorded %llu records, %llu bytes to %s; exit status %d",
		(unsigned long long)d->gate.records, (unsigned long long)bytes,
		f->path, d->exit_status);
	digest__print("final digest", &end->u.end.v);
	return d->exit_status;
}

const struct gate_sink_ops gate_file_sink = {
	.name = "file",
	.open = file_open,
	.put = file_put,
	.flush = file_flush,
	.close = file_close,
};

/* ---- the source --------------------------------------------------------- */

/*
 * A replay reads its whole log once before running anything: a bad record
 * anywhere, or an END no pvft-hv would write, refuses it up front. Then
 * back to the first record, on the same open file.
 */
static int check_whole_log(struct gate_file *f)
{
	struct logfmt_record rec;
	struct logfmt_error err;
	int rc;

	while ((rc = logfile__next(&f->r, &rec, &err)) == 1)
		if (rec.type == LOGFMT_END &&
		    !gate__end_plausible(&rec.u.end)) {
			pr_err("replay: %s: record #%llu: END says the run "
			       "was %s with exit status %u, which pvft-hv "
			       "never gives for that",
			       f->path, (unsigned long long)rec.seq,
			       logfmt__end_cause_name(rec.u.end.cause),
			       rec.u.end.status);
			return -1;
		}
	if (rc < 0 || logfile__rewind(&f->r, &err)) {
		pr_err("replay: %s", err.msg);
		return -1;
	}
	return 0;
}

static int src_open(struct domain *d, void *priv, struct logfmt_header *h,
		    struct logfmt_record *boot)
{
	struct gate_file *f = priv;
	struct logfmt_error err;
	struct stat st;
	int rc;

	d->gate.what = f->path;
	/*
	 * Regular files only: a pipe could neither be read through first nor
	 * be interrupted by a stop signal (checked before open, which would
	 * block on a FIFO, and on the open file).
	 */
	if ((stat(f->path, &st) == 0 && !S_ISREG(st.st_mode))) {
		pr_err("replay: %s: not a regular file", f->path);
		return -EBADMSG;
	}
	if (logfile__open(&f->r, f->path, h, &err)) {
		pr_err("replay: %s", err.msg);
		return -EBADMSG;
	}
	f->reader_open = true;
	if (fstat(f->r.fd, &st) || !S_ISREG(st.st_mode)) {
		pr_err("replay: %s: not a regular file", f->path);
		return -EBADMSG;
	}
	if (check_whole_log(f))
		return -EBADMSG;
	/* Checked above: record 0 is BOOT (logfile.c), optional ones aside. */
	do
		rc = logfile__next(&f->r, boot, &err);
	while (rc == 1 && (boot->type & LOGFMT_TYPE_OPTIONAL));
	if (rc != 1) {
		pr_err("replay: %s", rc ? err.msg : "no BOOT record");
		return -EBADMSG;
	}
	return 0;
}

static enum gate_next src_next(struct domain *d, void *priv,
			       struct logfmt_record *rec)
{
	struct gate_file *f = priv;
	struct logfmt_error err;
	int rc = logfile__next(&f->r, rec, &err);

	if (rc == 1)
		return GATE_NEXT_RECORD;
	if (rc == 0)
		gate__bad_log(d, "%s: the log ends before the replay does",
			      f->path);
	else
		gate__bad_log(d, "%s", err.msg);
	return GATE_NEXT_ERROR;
}

/* After END: nothing may follow it. */
static int src_close(struct domain *d, void *priv)
{
	struct gate_file *f = priv;
	struct logfmt_record extra;
	struct logfmt_error err;

	if (logfile__next(&f->r, &extra, &err) != 0) {
		gate__bad_log(d, "%s", err.msg);
		return d->exit_status;
	}
	return 0;
}

const struct gate_source_ops gate_file_source = {
	.name = "file",
	.live = false,
	.open = src_open,
	.next = src_next,
	.close = src_close,
};
