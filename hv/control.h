/* SPDX-License-Identifier: MIT */
/*
 * The control socket (Documentation/control-protocol.md): a UNIX socket,
 * mode 0600 in a 0700 directory, speaking JSON lines in the manner of
 * QEMU's QMP. The pvft command speaks to pvft-hv only through it: status,
 * promote (a planned failover), quit, and the console.
 *
 * One thread serves it. It only reads the domain (atomically kept counters,
 * the channel's stats under the channel's lock) and asks for things the
 * other threads do at their own time: a stop or a handover of the vCPU
 * thread (sched.h), console input through the console queue.
 *
 * It never waits for a client: replies and a viewer's output go out with
 * non-blocking sends, what a socket cannot take is queued per client (at
 * most CONTROL_OUT_MAX bytes), and no lock is held across anything that
 * blocks. Other threads (the vCPU's console writes and handover answer,
 * the channel's released output) take the control lock only for that
 * queueing.
 *
 * Teardown is in two steps, because the control thread reads the channel,
 * the vif and the console while the channel's threads write to the
 * viewers: control__stop() before any of those is disposed, then
 * control__dispose() once the channel's threads are gone.
 */
#ifndef PVFT_HV_CONTROL_H
#define PVFT_HV_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct domain;
struct pair;

#define CONTROL_MAX_CLIENTS 16
#define CONTROL_LINE_MAX 65536 /* one request line */
#define CONTROL_HISTORY 4096   /* console output shown on attach */
/* Bytes a client may leave unread: then it is dropped (a viewer loses). */
#define CONTROL_OUT_MAX 65536
#define CONTROL_PROTOCOL_VERSION 1

/* What pvft-hv was started with, for query-status (strings stay valid). */
struct control_info {
	const char *node;    /* --node, or NULL */
	const char *kernel;  /* the image path */
	const char *cmdline; /* the guest's command line */
	const char *backend; /* the vCPU backend's name */
	const char *peer;    /* primary: the backup's address; backup: listen */
	const char *arbiter; /* the arbiter's URL, or NULL */
	uint64_t memory_mib, pair_id, epoch;
	struct pair *pair;	 /* a live pair's replica (pair.h), or NULL */
	struct chan *first_chan; /* the channel it started with, or NULL */
	/* --key: the domain key's file, for a migration's link, or NULL. */
	const char *key_path;
};

struct control_client {
	int fd;		  /* -1: a free slot; only the control thread sets it */
	bool console;	  /* attached: raw console bytes both ways */
	bool eof;	  /* its end closed (a viewer's input still goes on) */
	bool broken;	  /* a send failed: the control thread closes it */
	bool overflow;	  /* left more than CONTROL_OUT_MAX unread: dropped */
	uint64_t dropped; /* console bytes the viewer was too slow for */
	size_t in_len;
	char *in; /* CONTROL_LINE_MAX; the control thread's alone */
	/* Not yet taken by the client: out[out_off, out_len). Lock held. */
	size_t out_off, out_len;
	char *out; /* CONTROL_OUT_MAX */
};

struct control {
	struct domain *d;
	struct control_info info;
	char path[108];
	int listen_fd, wake_fd;
	pthread_t thread;
	bool set_up;   /* control__start() worked: the lock and clients exist */
	bool started;  /* the thread runs */
	bool stopping; /* the thread is asked to end */
	uint64_t start_ns;
	pthread_mutex_t lock; /* clients' queues and console state, handover */
	struct control_client clients[CONTROL_MAX_CLIENTS];
	/* Recent console output, for a viewer that attaches. */
	uint8_t history[CONTROL_HISTORY];
	uint64_t history_total;
	/* promote: the client that asked, until the vCPU thread answers. */
	int handover_client;
	bool handover_pending;
	/* save or migrate: the client that asked, until it is over. */
	int migrate_client;
	/* The request being run's "arguments" (control thread), or NULL. */
	void *args;
	/* Log throughput: bytes at the two latest one-second samples. */
	uint64_t sample_ns[2], sample_bytes[2];
};

/*
 * The default path: $PVFT_RUN_DIR, else /run/pvft for root and
 * $XDG_RUNTIME_DIR/pvft (or /tmp/pvft-UID) for others, + "/pvft-hv.PID.sock".
 * The directory is made (0700) when missing. 0, or -errno.
 */
int control__default_path(char *buf, size_t len);

/*
 * Bind @path (a stale socket there is replaced; a live one is an error)
 * and start the thread. 0, or -1 after saying why.
 */
int control__start(struct control *ctl, struct domain *d, const char *path,
		   const struct control_info *info);
/* Once known (a backup learns them from its primary): for query-status. */
void control__set_guest(struct control *ctl, uint64_t memory_mib,
			const char *cmdline, const char *backend);
/*
 * Stop serving: the thread ends (it reads the domain's channel, vif and
 * console no more), the socket is removed. Viewers stay attached: released
 * console output still reaches them until control__dispose().
 */
void control__stop(struct control *ctl);
/* Stop if not yet, send what the sockets take of the queues, close all. */
void control__dispose(struct control *ctl);

/* Released console output (any thread): to attached viewers, never blocks. */
void control__console(struct control *ctl, const void *buf, size_t len);
/* For a console_sink's tee (lib/consink.h): @ctl is the control. */
void control__console_tee(void *ctl, const void *buf, size_t len);

#endif /* PVFT_HV_CONTROL_H */
