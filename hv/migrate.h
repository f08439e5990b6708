/* SPDX-License-Identifier: MIT */
/*
 * Save, restore and live migration of a running domain: the checkpoint
 * stream (lib/migstream.h, Documentation/migration-stream.md) written from
 * a running domain and read into a new one.
 *
 * The save side, pre-copy (as Xen's xg_sr_save.c and QEMU's RAM migration):
 * a migration thread sends all of guest memory while the guest runs, then,
 * round after round, the pages written since (the backend's dirty log for
 * the guest's own writes, guestmem__mark for pvft-hv's). When what is
 * left would go within the downtime budget at the rate the link showed,
 * or after the round limit, the vCPU stops at its next exit boundary
 * (SCHED_STOP_MIGRATE) and its own thread does the stop-and-copy
 * (migrate__cut): the last dirty pages, the vCPU, every device's state,
 * the gate's, VERIFY and END. A live migration then waits for the
 * destination's word: it holds the domain and VERIFY matched (the source
 * ends: it lives there now) or not (the source runs on, and says why). A
 * save is the stop-and-copy alone, to a file written under a temporary
 * name and renamed once complete.
 *
 * The restore side builds a domain from the stream alone: no image loaded,
 * no boot. It never runs until it has END and VERIFY matched its own
 * digest of what it built.
 *
 * Threads: migrate__start from the control thread; the migration thread;
 * migrate__cut on the vCPU thread; migrate__stats from any thread.
 */
#ifndef PVFT_HV_MIGRATE_H
#define PVFT_HV_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migstream.h"

struct domain;
struct tls_creds;

#define MIGRATE_DEFAULT_DOWNTIME_MS 100
#define MIGRATE_DEFAULT_MAX_ROUNDS 30
#define MIGRATE_MAX_ROUNDS_LIMIT 1000
/* Bytes of a link's silence a migration waits out before giving up. */
#define MIGRATE_IO_TIMEOUT_MS 30000
#define MIGRATE_CONFIG_MAX 65536

enum migrate_state {
	MIGRATE_NONE,
	MIGRATE_ACTIVE,	   /* pre-copy rounds, the guest running */
	MIGRATE_STOPPING,  /* stop-and-copy: the guest paused */
	MIGRATE_COMPLETED, /* the destination holds it, or the file is whole */
	MIGRATE_FAILED,	   /* the source runs on (error says why) */
	MIGRATE_INCOMING,  /* this pvft-hv is the destination, receiving */
};

const char *migrate__state_name(enum migrate_state s);

struct migrate_stats {
	enum migrate_state state;
	bool live;    /* a live migration (else a save) */
	bool join;    /* a backup joining this domain (re-protection) */
	bool stopped; /* the domain ended here (moved, or saved without -c) */
	bool ended;   /* failed because the domain ended (its guest, a stop) */
	uint32_t round;
	uint64_t pages;	     /* page records' pages, zero ones included */
	uint64_t zero_pages; /* sent as a flag, without their bytes */
	uint64_t bytes;	     /* the stream's bytes so far */
	uint64_t pages_left; /* dirty at the latest count */
	uint64_t dirty_pps;  /* pages dirtied per second, latest round */
	double mbit_s;	     /* the link's rate, latest round */
	double est_pause_ms, pause_ms, total_ms;
	char error[256];
};

/*
 * A join (re-protection, Documentation/pair.md): the checkpoint of this
 * running domain goes to a backup that joins it, and this domain runs on
 * as its primary. The ops are the caller's (hv/join.c), called in this
 * order: ->prepare on the migration thread before the stream starts (the
 * arbiter's word: 0 or -errno with @why); ->tail at the cut, on the vCPU
 * thread (the LOG_TAIL's body: where the new stream starts; its length or
 * -errno); then exactly one of ->commit (the backup answered OK: from
 * here this domain is the new pair's primary) or ->abort (the join failed
 * before that: this domain runs on as it was), with @why.
 */
struct migrate_join_ops {
	int (*prepare)(void *opaque, char *why, size_t why_len);
	long (*tail)(void *opaque, struct domain *d, void *buf, size_t cap);
	void (*commit)(void *opaque, struct domain *d);
	void (*abort)(void *opaque, struct domain *d, const char *why);
};

struct migrate_request {
	const char *file;   /* a save: the file to write */
	const char *to;	    /* a live migration: HOST:PORT of the destination */
	bool keep_running;  /* a save: run on once written (xl save -c) */
	const char *config; /* the toolstack's, for the CONFIG record */
	uint64_t downtime_ms;	 /* the pause aimed at (0: only a clean set) */
	unsigned int max_rounds; /* pre-copy rounds at most, 1.. */
	struct tls_creds *creds; /* the destination's proof; NULL: plaintext */
	/* A pair's backup: its pair, epoch, and where its successor listens. */
	uint64_t pair_id, epoch;
	const char *backup_addr;
	/* A join: the new pair's id and epoch above, and these ops. */
	const struct migrate_join_ops *join;
	void *join_opaque;
};

/*
 * Control thread: start a save or migration. @done is called once, from
 * the thread that finishes it, with the outcome (stats.state COMPLETED or
 * FAILED). 0, or -EBUSY (one is under way), -EINVAL (@err says why).
 */
int migrate__start(struct domain *d, const struct migrate_request *rq,
		   void (*done)(void *opaque, const struct migrate_stats *st),
		   void *opaque, char *err, size_t errlen);
/* Any thread: where the latest save or migration stands. */
void migrate__stats(struct migrate_stats *st);
/* vCPU thread, at SCHED_STOP_MIGRATE: the stop-and-copy. */
void migrate__cut(struct domain *d);
/*
 * The link's credentials from the domain key: TLS with a key derived for
 * migration alone (TLS_LABEL_MIGRATION), the destination the server.
 * 0 or -1 with @why. migrate__start's request takes them over.
 */
int migrate__creds(struct tls_creds **creds_r, bool destination,
		   const uint8_t *domain_key, char *why, size_t why_len);
/* After the vCPU thread ended: wait for the migration thread. */
void migrate__dispose(struct domain *d);

/* ---- restore ------------------------------------------------------------ */

/* A stream being read: a save file, or a live source on a transport. */
struct migrate_in;

/* What the destination checks the stream's domain against. */
struct migrate_own {
	uint32_t role; /* LOGFMT_ROLE_BACKUP: a moved backup's successor */
	uint64_t pair_id, epoch;
	uint64_t mem_size;   /* 0: take the stream's */
	const char *cmdline; /* NULL: take the stream's */
	uint8_t image_hash[16];
	uint64_t cpuid_hash;
	unsigned int nr_vifs;
};

/*
 * Open @file, or wait on @listen_addr for one source that proves @creds
 * (NULL: plaintext) and read up to the domain's description: *@di. Sources
 * that fail to authenticate are turned away (said) and the wait goes on.
 * 0, or -errno after saying why (-EBADMSG: not a stream this pvft reads;
 * -EINVAL: a domain other than @own).
 */
int migrate__in_open(struct migrate_in **in_r, const char *file,
		     const char *listen_addr, struct tls_creds *creds,
		     const struct migrate_own *own,
		     struct migstream_domain_info *di);
/* A joining backup's stream (a running primary's checkpoint)? */
bool migrate__in_join(const struct migrate_in *in);
/* A backup's stream: its LOG_TAIL's body (pair__resume), else NULL. */
const void *migrate__in_log_tail(const struct migrate_in *in, size_t *len_r);
/* The CONFIG record's text if the stream had one (NUL-terminated), or NULL. */
const char *migrate__in_config(const struct migrate_in *in);
/*
 * With @d's memory, devices and vCPU made (from *di): read the rest and
 * build the domain, check VERIFY and END. 0, or -errno after saying why.
 */
int migrate__in_build(struct migrate_in *in, struct domain *d);
/* Why the stream was refused (after a failed open or build), or "". */
const char *migrate__in_error(const struct migrate_in *in);
/*
 * The destination's answer to a live source, once the domain is built and
 * its host side up: @why NULL, "it holds the domain", and then the wait
 * for the source's go (it has stopped): 0, the domain may run; -errno
 * (said): it must not, the source may run on. Or @why: refused, and why.
 * A save file needs neither: 0.
 */
int migrate__in_answer(struct migrate_in *in, const char *why);
void migrate__in_close(struct migrate_in *in);

#endif /* PVFT_HV_MIGRATE_H */
