// SPDX-License-Identifier: MIT
/*
 * The control socket: JSON lines over a UNIX socket, QMP's way (a
 * greeting, then {"execute": ...} requests each answered by {"return": ...}
 * or {"error": ...}). Documentation/control-protocol.md is the spec.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "clock.h"
#include "control.h"
#include "domain.h"
#include "log.h"
#include "migrate.h"
#include "join.h"
#include "pair.h"
#include "rundir.h"
#include "sched.h"
#include "tls.h"

int control__default_path(char *buf, size_t len)
{
	char dir[PATH_MAX];
	int rc = pvft__run_dir(dir, sizeof(dir), true);

	if (rc)
		return rc;
	if ((size_t)snprintf(buf, len, "%s/pvft-hv.%d.sock", dir,
			     (int)getpid()) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- replies ---------------------------------------------------------------
 *
 * Nothing here ever blocks: a client's bytes go out with non-blocking sends,
 * and what its socket cannot take waits in its queue (CONTROL_OUT_MAX) for
 * the control thread to send when the socket has room. A client that lets
 * its replies pile up past the queue is dropped; a console viewer loses
 * output instead (control-protocol.md). Only the control thread closes a
 * client: another thread that finds one broken or overflowing marks it and
 * wakes the control thread.
 */

static void wake_thread(struct control *ctl)
{
	uint64_t one = 1;

	while (write(ctl->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/*
 * Lock held. Send what client @i has queued, as far as its socket takes
 * it. A broken connection is marked for the control thread to close.
 */
static void flush_out(struct control *ctl, int i)
{
	struct control_client *cl = &ctl->clients[i];

	while (cl->fd >= 0 && !cl->broken && cl->out_off < cl->out_len) {
		ssize_t r = send(cl->fd, cl->out + cl->out_off,
				 cl->out_len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r > 0) {
			cl->out_off += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		cl->broken = true;
		wake_thread(ctl);
	}
	if (cl->out_off == cl->out_len)
		cl->out_off = cl->out_len = 0;
}

/*
 * Lock held. @len bytes for client @i, after what it has not taken yet:
 * sent at once if nothing waits and the socket takes them, the rest queued
 * whole or not at all. Returns how many bytes were taken (sent or queued):
 * fewer than @len when the queue has no room for the rest.
 */
static size_t queue_out(struct control *ctl, int i, const void *buf, size_t len)
{
	struct control_client *cl = &ctl->clients[i];
	size_t done = 0;

	if (cl->fd < 0 || cl->broken || cl->overflow)
		return 0;
	if (cl->out_off == cl->out_len) {
		while (done < len) {
			ssize_t r =
			    send(cl->fd, (const char *)buf + done, len - done,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (r > 0) {
				done += (size_t)r;
				continue;
			}
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				cl->broken = true;
				wake_thread(ctl);
				return len; /* gone: nobody misses the rest */
			}
			break;
		}
		if (done == len)
			return len;
	}
	if (cl->out_len + (len - done) > CONTROL_OUT_MAX && cl->out_off) {
		memmove(cl->out, cl->out + cl->out_off,
			cl->out_len - cl->out_off);
		cl->out_len -= cl->out_off;
		cl->out_off = 0;
	}
	if (cl->out_len + (len - done) > CONTROL_OUT_MAX)
		return done;
	memcpy(cl->out + cl->out_len, (const char *)buf + done, len - done);
	/* Now something waits: the control thread polls for room. */
	if (cl->out_off == cl->out_len)
		wake_thread(ctl);
	cl->out_len += len - done;
	return len;
}

/*
 * Lock held. One JSON line to client @i (@o is consumed). A client that
 * left more than CONTROL_OUT_MAX bytes of replies unread is dropped.
 */
static void put_line(struct control *ctl, int i, json_object *o)
{
	struct control_client *cl = &ctl->clients[i];
	const char *s =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(s);

	if (queue_out(ctl, i, s, len) < len || queue_out(ctl, i, "\n", 1) < 1) {
		/* A broken one is closed anyway, and said nothing of. */
		if (cl->fd >= 0 && !cl->broken && !cl->overflow) {
			/* Atomic: read_client() looks without the lock. */
			__atomic_store_n(&cl->overflow, true, __ATOMIC_RELAXED);
			wake_thread(ctl);
		}
	}
	json_object_put(o);
}

static void send_line(struct control *ctl, int i, json_object *o)
{
	pthread_mutex_lock(&ctl->lock);
	put_line(ctl, i, o);
	pthread_mutex_unlock(&ctl->lock);
}

static json_object *with_id(json_object *o, json_object *id)
{
	if (id)
		json_object_object_add(o, "id", json_object_get(id));
	return o;
}

static json_object *ok_object(json_object *ret, json_object *id)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "return",
			       ret ? ret : json_object_new_object());
	return with_id(o, id);
}

static json_object *err_object(json_object *id, const char *cls,
			       const char *fmt, va_list ap)
{
	json_object *o = json_object_new_object(),
		    *e = json_object_new_object();
	char desc[512];

	vsnprintf(desc, sizeof(desc), fmt, ap);
	json_object_object_add(e, "class", json_object_new_string(cls));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object_object_add(o, "error", e);
	return with_id(o, id);
}

static void reply_ok(struct control *ctl, int i, json_object *ret,
		     json_object *id)
{
	send_line(ctl, i, ok_object(ret, id));
}

static void reply_err(struct control *ctl, int i, json_object *id,
		      const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void reply_err(struct control *ctl, int i, json_object *id,
		      const char *cls, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_line(ctl, i, err_object(id, cls, fmt, ap));
	va_end(ap);
}

/* Lock held: as reply_err(), from a thread that holds the lock already. */
static void put_err(struct control *ctl, int i, const char *cls,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put_err(struct control *ctl, int i, const char *cls,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put_line(ctl, i, err_object(NULL, cls, fmt, ap));
	va_end(ap);
}

/* ---- status ----------------------------------------------------------------
 */

/* What this replica is and how it is doing, in the words of pvft list. */
static void role_state(struct control *ctl, const char **role_r,
		       const char **state_r)
{
	struct domain *d = ctl->d;
	enum gate_mode mode = gate__mode(&d->gate);

	if (!ctl->info.pair) {
		*role_r = mode == GATE_REPLAY ? "replay" : "single";
		*state_r = mode == GATE_REPLAY ? "replaying" : "running";
		return;
	}
	pair__role_state(
	    ctl->info.pair, d,
	    __atomic_load_n(&ctl->handover_pending, __ATOMIC_RELAXED), role_r,
	    state_r);
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void add_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_ms(json_object *o, const char *k, uint64_t ns)
{
	json_object_object_add(o, k, json_object_new_double(ns / 1e6));
}

/* Log throughput over the latest one or two seconds, in Mbit/s. */
static double log_mbit_s(struct control *ctl, uint64_t bytes, uint64_t now)
{
	uint64_t t0 = ctl->sample_ns[0], b0 = ctl->sample_bytes[0];

	if (!t0 || now - t0 < 100000000ull) {
		t0 = ctl->sample_ns[1];
		b0 = ctl->sample_bytes[1];
	}
	if (!t0 || now <= t0 || bytes < b0)
		return 0.0;
	return (bytes - b0) * 8.0 / ((now - t0) / 1e9) / 1e6;
}

static void out_str(struct status_out *o, const char *key, const char *v)
{
	add_str(o->priv, key, v);
}

static void out_u64(struct status_out *o, const char *key, uint64_t v)
{
	add_u64(o->priv, key, v);
}

/* Each device with a status: an object in the array under its key. */
static void devices_status(struct domain *d, json_object *o)
{
	struct device *dev;

	for_each_device(d, dev)
	{
		struct status_out out = { .str = out_str, .u64 = out_u64 };
		json_object *a;

		if (!dev->ops->status || !dev->ops->status_key)
			continue;
		if (!json_object_object_get_ex(o, dev->ops->status_key, &a)) {
			a = json_object_new_array();
			json_object_object_add(o, dev->ops->status_key, a);
		}
		out.priv = json_object_new_object();
		dev->ops->status(d, dev, &out);
		json_object_array_add(a, out.priv);
	}
}

struct migrate_stats;
static json_object *migration_object(const struct migrate_stats *st);

static json_object *status(struct control *ctl)
{
	struct domain *d = ctl->d;
	json_object *o = json_object_new_object();
	const char *role, *state, *cmdline, *backend;
	uint64_t now = clock__mono_ns(), memory_mib;

	/* Set by the vCPU thread once the guest is known. */
	pthread_mutex_lock(&ctl->lock);
	memory_mib = ctl->info.memory_mib;
	cmdline = ctl->info.cmdline;
	backend = ctl->info.backend;
	pthread_mutex_unlock(&ctl->lock);
	role_state(ctl, &role, &state);
	add_str(o, "domain", d->name);
	add_str(o, "node", ctl->info.node);
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	add_str(o, "role", role);
	add_str(o, "state", state);
	json_object_object_add(
	    o, "uptime_s", json_object_new_double((now - ctl->start_ns) / 1e9));
	add_u64(o, "exits", __atomic_load_n(&d->exits, __ATOMIC_RELAXED));
	add_str(o, "kernel", ctl->info.kernel);
	add_u64(o, "memory_mib", memory_mib);
	add_str(o, "cmdline", cmdline);
	add_str(o, "backend", backend);
	if (ctl->info.pair) {
		struct chan_stats st = { 0 };
		json_object *p = json_object_new_object(),
			    *l = json_object_new_object();
		char peer[LOGFMT_HELLO_NODE_MAX + 1] = "";
		struct chan *c = pair__chan(ctl->info.pair);

		if (c) {
			chan__get_stats(c, &st);
			chan__peer(c, peer, sizeof(peer));
		} else {
			st.state = CHAN_ALONE;
		}
		add_u64(p, "pair", ctl->info.pair_id);
		/* A re-protected pair runs at a later epoch than it started. */
		add_u64(p, "epoch", join__epoch());
		/* The backup's address, once a backup joined: its channel's. */
		add_str(p, "peer_addr",
			c && c != ctl->info.first_chan ? c->cfg.addr
						       : ctl->info.peer);
		add_str(p, "peer_node", peer[0] ? peer : NULL);
		add_str(p, "arbiter", ctl->info.arbiter);
		add_str(p, "channel", chan__state_name(st.state));
		json_object_object_add(o, "pair", p);
		add_u64(l, "records", st.records);
		add_u64(l, "bytes", st.bytes);
		json_object_object_add(
		    l, "mbit_s",
		    json_object_new_double(log_mbit_s(ctl, st.bytes, now)));
		add_u64(l, "acked", st.acked);
		add_u64(l, "replayed", st.replayed);
		add_ms(l, "lag_ms", st.lag_ns);
		add_ms(l, "max_lag_ms", st.max_lag_ns);
		add_ms(l, "throttled_ms", st.throttled_ns);
		json_object_object_add(o, "log", l);
		l = json_object_new_object();
		add_u64(l, "console_bytes", st.released_bytes);
		add_u64(l, "frames", st.released_frames);
		json_object_object_add(
		    l, "held_us_avg",
		    json_object_new_double(
			st.held_count ? st.held_ns_total / 1e3 / st.held_count
				      : 0.0));
		json_object_object_add(o, "output", l);
	}
	devices_status(d, o);
	{
		struct migrate_stats st;

		migrate__stats(&st);
		if (st.state != MIGRATE_NONE)
			json_object_object_add(o, "migration",
					       migration_object(&st));
	}
	return o;
}

/* ---- commands --------------------------------------------------------------
 */

/* vCPU thread: tell the promote's client how the handover went. */
static void handover_done(void *opaque, int rc, const char *why)
{
	struct control *ctl = opaque;
	struct domain *d = ctl->d;
	char peer[LOGFMT_HELLO_NODE_MAX + 1];
	int i;

	chan__peer(pair__chan(ctl->info.pair), peer, sizeof(peer));
	pthread_mutex_lock(&ctl->lock);
	i = ctl->handover_client;
	if (ctl->handover_pending && i >= 0 && ctl->clients[i].fd >= 0) {
		if (rc) {
			put_err(ctl, i, "Failed", "%s",
				why ? why : "the handover failed");
		} else {
			json_object *r = json_object_new_object();

			add_u64(r, "exit", d->exits);
			add_str(r, "backup", peer);
			put_line(ctl, i, ok_object(r, NULL));
		}
	}
	__atomic_store_n(&ctl->handover_pending, false, __ATOMIC_RELAXED);
	ctl->handover_client = -1;
	pthread_mutex_unlock(&ctl->lock);
}

static void cmd_promote(struct control *ctl, int i, json_object *id)
{
	struct domain *d = ctl->d;
	struct chan *c = ctl->info.pair ? pair__chan(ctl->info.pair) : NULL;

	if (!c)
		return reply_err(ctl, i, id, "InvalidState",
				 "this domain is not replicated");
	/* A backup gone live that a backup joined is a primary's channel. */
	if (c->cfg.role != LOGFMT_ROLE_PRIMARY)
		return reply_err(
		    ctl, i, id, "InvalidState",
		    "promote is asked of the pair's primary; "
		    "this replica is %s",
		    __atomic_load_n(&d->gate.went_live, __ATOMIC_RELAXED)
			? "a backup gone live alone"
			: "the backup");
	if (chan__state(c) != CHAN_PAIRED)
		return reply_err(ctl, i, id, "InvalidState",
				 "the pair is not protected (channel %s): "
				 "there is no backup to hand over to",
				 chan__state_name(chan__state(c)));
	pthread_mutex_lock(&ctl->lock);
	if (ctl->handover_pending) {
		pthread_mutex_unlock(&ctl->lock);
		return reply_err(ctl, i, id, "InvalidState",
				 "a promote is already under way");
	}
	/*
	 * Pending before it is asked: the vCPU thread may answer at once,
	 * and it answers only a pending one (the lock keeps it waiting).
	 */
	__atomic_store_n(&ctl->handover_pending, true, __ATOMIC_RELAXED);
	ctl->handover_client = i;
	if (!sched__request_handover(d)) {
		__atomic_store_n(&ctl->handover_pending, false,
				 __ATOMIC_RELAXED);
		ctl->handover_client = -1;
		pthread_mutex_unlock(&ctl->lock);
		return reply_err(ctl, i, id, "InvalidState",
				 "the domain is stopping");
	}
	pthread_mutex_unlock(&ctl->lock);
	pr_info("control: promote asked: stopping at the next exit to hand "
		"over to the backup");
}

static void cmd_console(struct control *ctl, int i, json_object *id)
{
	struct domain *d = ctl->d;
	struct control_client *cl = &ctl->clients[i];
	const char *role, *state;
	uint64_t have, start;
	json_object *r;
	bool input;

	role_state(ctl, &role, &state);
	if (!strcmp(role, "backup") || !strcmp(role, "replay"))
		return reply_err(ctl, i, id, "InvalidState",
				 "a %s's console output goes nowhere until "
				 "it takes over: attach to the primary",
				 role);
	input = !coninput__ended(&d->cin);
	/* Reply, history and stream in order: no output released between. */
	pthread_mutex_lock(&ctl->lock);
	have = ctl->history_total < CONTROL_HISTORY ? ctl->history_total
						    : CONTROL_HISTORY;
	r = json_object_new_object();
	add_u64(r, "history", have);
	json_object_object_add(r, "input", json_object_new_boolean(input));
	put_line(ctl, i, ok_object(r, id));
	/* The latest output first, then the stream as it is released. */
	start = ctl->history_total - have;
	while (have) {
		size_t off = start % CONTROL_HISTORY,
		       n = CONTROL_HISTORY - off < have ? CONTROL_HISTORY - off
							: have;

		if (queue_out(ctl, i, ctl->history + off, n) < n)
			break;
		start += n;
		have -= n;
	}
	cl->console = true;
	pthread_mutex_unlock(&ctl->lock);
}

static void cmd_query_status(struct control *ctl, int i, json_object *id)
{
	reply_ok(ctl, i, status(ctl), id);
}

static void cmd_query_commands(struct control *ctl, int i, json_object *id);

/* ---- save and migrate ----------------------------------------------------
 */

static json_object *migration_object(const struct migrate_stats *st)
{
	json_object *m = json_object_new_object();

	add_str(m, "state", migrate__state_name(st->state));
	add_str(m, "kind",
		st->join   ? "reprotect"
		: st->live ? "migrate"
			   : "save");
	add_u64(m, "round", st->round);
	add_u64(m, "pages", st->pages);
	add_u64(m, "zero_pages", st->zero_pages);
	add_u64(m, "pages_left", st->pages_left);
	add_u64(m, "dirty_pps", st->dirty_pps);
	add_u64(m, "bytes", st->bytes);
	json_object_object_add(m, "mbit_s", json_object_new_double(st->mbit_s));
	json_object_object_add(m, "est_pause_ms",
			       json_object_new_double(st->est_pause_ms));
	json_object_object_add(m, "pause_ms",
			       json_object_new_double(st->pause_ms));
	json_object_object_add(m, "total_ms",
			       json_object_new_double(st->total_ms));
	if (st->error[0])
		add_str(m, "error", st->error);
	return m;
}

/* The migration's thread (or the vCPU's): the asking client's answer. */
static void migration_done(void *opaque, const struct migrate_stats *st)
{
	struct control *ctl = opaque;
	int i;

	pthread_mutex_lock(&ctl->lock);
	i = ctl->migrate_client;
	if (i >= 0 && ctl->clients[i].fd >= 0) {
		if (st->state == MIGRATE_COMPLETED) {
			json_object *r = migration_object(st);

			add_u64(r, "rounds", st->round);
			json_object_object_add(
			    r, "stopped", json_object_new_boolean(st->stopped));
			if (st->join)
				add_u64(r, "epoch", join__epoch());
			put_line(ctl, i, ok_object(r, NULL));
		} else {
			const char *after =
			    st->ended  ? ""
			    : st->join ? ": the domain runs on unprotected"
				       : ": the domain runs on";

			put_err(ctl, i,
				st->ended ? "DomainEnded" : "MigrationFailed",
				"%s%s", st->error, after);
		}
	}
	ctl->migrate_client = -1;
	pthread_mutex_unlock(&ctl->lock);
}

static const char *arg_str(struct control *ctl, const char *k)
{
	json_object *v;

	if (!ctl->args || !json_object_object_get_ex(ctl->args, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* -1: absent; -2: not what it must be. */
static int64_t arg_int(struct control *ctl, const char *k, int64_t max)
{
	json_object *v;
	int64_t n;

	if (!ctl->args || !json_object_object_get_ex(ctl->args, k, &v))
		return -1;
	if (!json_object_is_type(v, json_type_int))
		return -2;
	n = json_object_get_int64(v);
	return n < 0 || n > max ? -2 : n;
}

static bool arg_bool(struct control *ctl, const char *k)
{
	json_object *v;

	return ctl->args && json_object_object_get_ex(ctl->args, k, &v) &&
	       json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

enum mig_kind { MIG_SAVE, MIG_MIGRATE, MIG_REPROTECT };

static void start_migration(struct control *ctl, int i, json_object *id,
			    enum mig_kind kind)
{
	bool live = kind != MIG_SAVE;
	struct migrate_request rq = { 0 };
	const char *key_path = arg_str(ctl, "key");
	char err[512];
	int64_t downtime = arg_int(ctl, "downtime_ms", 60000),
		rounds = arg_int(ctl, "max_rounds", MIGRATE_MAX_ROUNDS_LIMIT);
	uint8_t key[TLS_KEY_LEN];
	int rc;

	if (ctl->args && !json_object_is_type(ctl->args, json_type_object))
		return reply_err(ctl, i, id, "BadRequest",
				 "arguments: an object");
	rq.file = live ? NULL : arg_str(ctl, "file");
	rq.to = live ? arg_str(ctl, "to") : NULL;
	if (live ? !rq.to : !rq.file)
		return reply_err(
		    ctl, i, id, "BadRequest",
		    kind == MIG_REPROTECT
			? "reprotect needs \"to\": \"HOST:PORT\" "
			  "(the joining backup's --incoming) and "
			  "\"backup\": \"HOST:PORT\" (its --listen)"
		    : live ? "migrate needs \"to\": \"HOST:PORT\""
			   : "save needs \"file\": PATH");
	if (!live && rq.file[0] != '/')
		return reply_err(ctl, i, id, "BadRequest",
				 "file: an absolute path (pvft-hv's working "
				 "directory is not the client's)");
	if (downtime == -2 || rounds == -2 || rounds == 0)
		return reply_err(ctl, i, id, "BadRequest",
				 "downtime_ms (0..60000) and max_rounds "
				 "(1..%d): whole numbers",
				 MIGRATE_MAX_ROUNDS_LIMIT);
	rq.keep_running = arg_bool(ctl, "keep_running");
	/* A pair's backup: where its successor listens for the primary. */
	rq.backup_addr = arg_str(ctl, "listen");
	rq.pair_id = ctl->info.pair_id;
	rq.epoch = join__epoch();
	rq.config = arg_str(ctl, "config");
	rq.downtime_ms =
	    downtime >= 0 ? (uint64_t)downtime : MIGRATE_DEFAULT_DOWNTIME_MS;
	rq.max_rounds =
	    rounds > 0 ? (unsigned int)rounds : MIGRATE_DEFAULT_MAX_ROUNDS;
	if (!key_path)
		key_path = ctl->info.key_path;
	if (live && arg_bool(ctl, "insecure")) {
		if (key_path && arg_str(ctl, "key"))
			return reply_err(ctl, i, id, "BadRequest",
					 "key and insecure: choose one");
		pr_warn("control: migration over plaintext, asked for: "
			"anyone on the path reads the guest's memory");
	} else if (live) {
		if (!key_path)
			return reply_err(ctl, i, id, "BadRequest",
					 "a migration's link needs the domain "
					 "key: \"key\": FILE, or "
					 "\"insecure\": true");
		if (tls__load_key(key_path, key, err, sizeof(err)))
			return reply_err(ctl, i, id, "BadRequest", "key: %s",
					 err);
		if (migrate__creds(&rq.creds, false, key, err, sizeof(err))) {
			memset(key, 0, sizeof(key));
			return reply_err(ctl, i, id, "Failed", "key: %s", err);
		}
		memset(key, 0, sizeof(key));
	}
	pthread_mutex_lock(&ctl->lock);
	if (ctl->migrate_client >= 0 || ctl->handover_pending) {
		pthread_mutex_unlock(&ctl->lock);
		tls__creds_free(rq.creds);
		return reply_err(ctl, i, id, "MigrationActive",
				 ctl->handover_pending
				     ? "a promote is under way"
				     : "a save or migration is under way");
	}
	ctl->migrate_client = i;
	pthread_mutex_unlock(&ctl->lock);
	rc = kind == MIG_REPROTECT
		 ? join__start(ctl->d,
			       &(struct join_request){
				   .to = rq.to,
				   .backup = arg_str(ctl, "backup"),
				   .creds = rq.creds,
				   .config = rq.config,
				   .downtime_ms = rq.downtime_ms,
				   .max_rounds = rq.max_rounds,
			       },
			       migration_done, ctl, err, sizeof(err))
		 : migrate__start(ctl->d, &rq, migration_done, ctl, err,
				  sizeof(err));
	if (rc) {
		pthread_mutex_lock(&ctl->lock);
		ctl->migrate_client = -1;
		pthread_mutex_unlock(&ctl->lock);
		tls__creds_free(rq.creds);
		return reply_err(ctl, i, id,
				 rc == -EBUSY	    ? "MigrationActive"
				 : rc == -ESHUTDOWN ? "DomainEnded"
						    : "Failed",
				 "%s", err);
	}
}

static void cmd_save(struct control *ctl, int i, json_object *id)
{
	start_migration(ctl, i, id, MIG_SAVE);
}

static void cmd_migrate(struct control *ctl, int i, json_object *id)
{
	start_migration(ctl, i, id, MIG_MIGRATE);
}

static void cmd_reprotect(struct control *ctl, int i, json_object *id)
{
	start_migration(ctl, i, id, MIG_REPROTECT);
}

static void cmd_quit(struct control *ctl, int i, json_object *id)
{
	reply_ok(ctl, i, NULL, id);
	pr_info("control: quit asked: stopping as on SIGTERM");
	sched__request_stop(ctl->d, SIGTERM);
}

/* The commands, as QMP's table: name and handler (lock held). */
static const struct {
	const char *name;
	void (*fn)(struct control *ctl, int i, json_object *id);
} commands[] = {
	{ "query-status", cmd_query_status },
	{ "query-commands", cmd_query_commands },
	{ "promote", cmd_promote },
	{ "quit", cmd_quit },
	{ "console", cmd_console },
	{ "save", cmd_save },
	{ "migrate", cmd_migrate },
	{ "reprotect", cmd_reprotect },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void cmd_query_commands(struct control *ctl, int i, json_object *id)
{
	json_object *a = json_object_new_array();
	size_t k;

	for (k = 0; k < NR_COMMANDS; k++)
		json_object_array_add(a,
				      json_object_new_string(commands[k].name));
	reply_ok(ctl, i, a, id);
}

/*
 * The command @name names, byte for byte: a name is a JSON string, which
 * may hold a NUL ("quit\u0000x" is no "quit", whatever C's strings say).
 */
static void run_command(struct control *ctl, int i, const char *name,
			size_t len, json_object *id)
{
	size_t k;

	for (k = 0; k < NR_COMMANDS; k++)
		if (strlen(commands[k].name) == len &&
		    !memcmp(name, commands[k].name, len))
			return commands[k].fn(ctl, i, id);
	if (memchr(name, '\0', len))
		return reply_err(ctl, i, id, "CommandNotFound",
				 "no command has a NUL byte in its name "
				 "(query-commands lists them)");
	reply_err(ctl, i, id, "CommandNotFound",
		  "no command '%.64s' (query-commands lists them)", name);
}

/* Control thread, lock not held: one request line. */
static void take_line(struct control *ctl, int i, const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *req, *exec = NULL, *id = NULL;
	enum json_tokener_error jerr;

	if (!tok)
		return reply_err(ctl, i, NULL, "Failed", "out of memory");
	req = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	if (req && tok->char_offset < (int)len &&
	    strspn(line + tok->char_offset, " \t\r") !=
		len - (size_t)tok->char_offset) {
		json_object_put(req);
		req = NULL;
		jerr = json_tokener_error_parse_unexpected;
	}
	json_tokener_free(tok);
	if (!req) {
		reply_err(ctl, i, NULL, "BadRequest", "not JSON: %s",
			  jerr == json_tokener_continue
			      ? "the object is not complete on its line"
			      : json_tokener_error_desc(jerr));
		return;
	}
	if (!json_object_is_type(req, json_type_object)) {
		reply_err(ctl, i, NULL, "BadRequest",
			  "a request is a JSON object");
	} else {
		json_object_object_get_ex(req, "id", &id);
		ctl->args = NULL;
		json_object_object_get_ex(req, "arguments",
					  (json_object **)&ctl->args);
		if (!json_object_object_get_ex(req, "execute", &exec) ||
		    !json_object_is_type(exec, json_type_string))
			reply_err(ctl, i, id, "BadRequest",
				  "a request names its command: "
				  "{\"execute\": \"NAME\"}");
		else
			run_command(ctl, i, json_object_get_string(exec),
				    (size_t)json_object_get_string_len(exec),
				    id);
	}
	json_object_put(req);
}

/* ---- clients ---------------------------------------------------------------
 */

/* Control thread, lock held: the only place a client's fd is closed. */
static void drop_client(struct control *ctl, int i)
{
	struct control_client *cl = &ctl->clients[i];

	if (cl->fd >= 0)
		close(cl->fd);
	cl->fd = -1;
	cl->console = false;
	cl->eof = false;
	cl->broken = false;
	cl->overflow = false;
	cl->in_len = 0;
	cl->out_off = cl->out_len = 0;
	if (ctl->handover_client == i)
		ctl->handover_client = -1;
	if (ctl->migrate_client == i)
		ctl->migrate_client = -1;
}

/* Only root, or the user pvft-hv runs as, may speak to it. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void accept_client(struct control *ctl)
{
	json_object *g, *v;
	int fd = accept4(ctl->listen_fd, NULL, NULL,
			 SOCK_CLOEXEC | SOCK_NONBLOCK),
	    i;

	if (fd < 0)
		return;
	if (!peer_allowed(fd)) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&ctl->lock);
	for (i = 0; i < CONTROL_MAX_CLIENTS && ctl->clients[i].fd >= 0; i++)
		;
	if (i == CONTROL_MAX_CLIENTS) {
		static const char busy[] =
		    "{\"error\": {\"class\": \"Busy\", \"desc\": \"too many "
		    "control connections\"}}\n";

		pthread_mutex_unlock(&ctl->lock);
		/* A new socket has room for it; if not, it goes unsaid. */
		if (send(fd, busy, sizeof(busy) - 1,
			 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			pr_debug("control: busy: %s", strerror(errno));
		close(fd);
		return;
	}
	ctl->clients[i].fd = fd;
	ctl->clients[i].in_len = 0;
	ctl->clients[i].dropped = 0;
	g = json_object_new_object();
	v = json_object_new_object();
	json_object_object_add(v, "version",
			       json_object_new_int(CONTROL_PROTOCOL_VERSION));
	add_str(v, "domain", ctl->d->name);
	add_str(v, "node", ctl->info.node);
	json_object_object_add(v, "pid", json_object_new_int(getpid()));
	json_object_object_add(g, "pvft", v);
	put_line(ctl, i, g);
	pthread_mutex_unlock(&ctl->lock);
}

/*
 * Control thread: a viewer's input (in cl->in) into the console queue, as
 * much as fits. The rest waits there and the viewer is not read meanwhile:
 * a guest that does not read its console holds the input back, as stdin's.
 * Input the guest will never see (its input is closed) is dropped.
 */
static void console_input(struct control *ctl, struct control_client *cl)
{
	struct console_input *c = &ctl->d->cin;
	size_t n;

	if (!cl->in_len)
		return;
	if (coninput__ended(c)) {
		cl->in_len = 0;
		return;
	}
	n = coninput__push(c, cl->in, cl->in_len);
	if (!n)
		return;
	memmove(cl->in, cl->in + n, cl->in_len - n);
	cl->in_len -= n;
	sched__wake(&ctl->d->sched);
}

/*
 * Control thread, lock not held (commands take it only to queue their
 * replies: a burst of requests never keeps the vCPU thread from the lock
 * for longer than one reply). Only this thread reads a client's input and
 * changes its fd, so both are safe to use here without the lock.
 */
static void read_client(struct control *ctl, int i)
{
	struct control_client *cl = &ctl->clients[i];
	ssize_t r;

	if (cl->console) {
		/* Full of held-back input: recv() of 0 bytes would say EOF. */
		if (cl->in_len == CONTROL_LINE_MAX)
			return;
		r = recv(cl->fd, cl->in + cl->in_len,
			 CONTROL_LINE_MAX - cl->in_len, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		if (r <= 0) {
			/* What it typed before it went still reaches the guest.
			 */
			cl->eof = true;
			console_input(ctl, cl);
			return;
		}
		cl->in_len += (size_t)r;
		console_input(ctl, cl);
		return;
	}
	r = recv(cl->fd, cl->in + cl->in_len, CONTROL_LINE_MAX - cl->in_len,
		 MSG_DONTWAIT);
	if (r <= 0) {
		if (r == 0 || (errno != EINTR && errno != EAGAIN))
			cl->eof = true;
		return;
	}
	cl->in_len += (size_t)r;
	for (;;) {
		char *nl = memchr(cl->in, '\n', cl->in_len);
		size_t n;

		if (!nl)
			break;
		n = (size_t)(nl - cl->in);
		take_line(ctl, i, cl->in, n);
		memmove(cl->in, nl + 1, cl->in_len - n - 1);
		cl->in_len -= n + 1;
		/* A client that owes too much goes (control_thread). */
		if (__atomic_load_n(&cl->overflow, __ATOMIC_RELAXED))
			return;
		if (cl->console) {
			/* Bytes after "console" are input already. */
			console_input(ctl, cl);
			return;
		}
	}
	if (cl->in_len == CONTROL_LINE_MAX) {
		reply_err(ctl, i, NULL, "BadRequest",
			  "a request line longer than %d bytes",
			  CONTROL_LINE_MAX);
		cl->eof = true;
	}
}

/*
 * Lock held: is client @i done with? It left too much unread (dropped,
 * and that is said), it broke, or it closed its end: a request client
 * once its replies are out, a viewer once its input is in the console
 * queue.
 */
static bool reap_client(struct control *ctl, int i)
{
	struct control_client *cl = &ctl->clients[i];

	if (cl->overflow) {
		pr_warn("control: a client left more than %d bytes of replies "
			"unread: dropped",
			CONTROL_OUT_MAX);
		drop_client(ctl, i);
		return true;
	}
	if (cl->eof && !cl->console)
		flush_out(ctl, i);
	if (cl->broken ||
	    (cl->eof &&
	     (cl->console ? !cl->in_len : cl->out_off == cl->out_len))) {
		drop_client(ctl, i);
		return true;
	}
	return false;
}

static void *control_thread(void *arg)
{
	struct control *ctl = arg;
	uint64_t next_sample = 0;

	for (;;) {
		struct pollfd pfd[2 + CONTROL_MAX_CLIENTS];
		int idx[CONTROL_MAX_CLIENTS], n = 2, i, k, timeout = 1000;
		uint64_t now = clock__mono_ns(), junk;

		/* The samples are this thread's alone: no lock. */
		if (now >= next_sample) {
			struct chan_stats st;

			if (ctl->info.pair && pair__chan(ctl->info.pair)) {
				chan__get_stats(pair__chan(ctl->info.pair),
						&st);
				ctl->sample_ns[1] = ctl->sample_ns[0];
				ctl->sample_bytes[1] = ctl->sample_bytes[0];
				ctl->sample_ns[0] = now;
				ctl->sample_bytes[0] = st.bytes;
			}
			next_sample = now + 1000000000ull;
		}
		pfd[0] =
		    (struct pollfd){ .fd = ctl->wake_fd, .events = POLLIN };
		pfd[1] =
		    (struct pollfd){ .fd = ctl->listen_fd, .events = POLLIN };
		pthread_mutex_lock(&ctl->lock);
		if (ctl->stopping) {
			pthread_mutex_unlock(&ctl->lock);
			break;
		}
		for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			struct control_client *cl = &ctl->clients[i];
			short events = POLLIN;

			if (cl->fd < 0)
				continue;
			/* Held-back console input: not read until it fits. */
			if (cl->console)
				console_input(ctl, cl);
			if (reap_client(ctl, i))
				continue;
			if (cl->console && cl->in_len) {
				/* Tried again at each round, 10 ms apart. */
				events = 0;
				timeout = 10;
			} else if (cl->eof) {
				events = 0;
			}
			if (cl->out_off < cl->out_len)
				events |= POLLOUT;
			if (!events)
				continue;
			idx[n - 2] = i;
			pfd[n++] =
			    (struct pollfd){ .fd = cl->fd, .events = events };
		}
		pthread_mutex_unlock(&ctl->lock);
		if (poll(pfd, (nfds_t)n, timeout) <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) &&
		    read(ctl->wake_fd, &junk, sizeof(junk)) < 0)
			junk = 0;
		if (pfd[1].revents & POLLIN)
			accept_client(ctl);
		for (k = 2; k < n; k++) {
			i = idx[k - 2];
			if (pfd[k].revents & (POLLOUT | POLLERR | POLLHUP)) {
				pthread_mutex_lock(&ctl->lock);
				flush_out(ctl, i);
				pthread_mutex_unlock(&ctl->lock);
			}
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR) &&
			    !ctl->clients[i].eof)
				read_client(ctl, i);
		}
	}
	return NULL;
}

/* ---- console tee -----------------------------------------------------------
 */

void control__console(struct control *ctl, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t k;
	int i;

	if (!ctl || !ctl->set_up || !len)
		return;
	pthread_mutex_lock(&ctl->lock);
	for (k = 0; k < len; k++)
		ctl->history[(ctl->history_total + k) % CONTROL_HISTORY] = p[k];
	ctl->history_total += len;
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct control_client *cl = &ctl->clients[i];

		if (cl->fd < 0 || !cl->console)
			continue;
		if (cl->dropped) {
			char note[128];
			int m = snprintf(note, sizeof(note),
					 "\r\n[pvft: %" PRIu64
					 " bytes of console output not shown: "
					 "the viewer was too slow]\r\n",
					 cl->dropped);

			/* Whole or not at all: a note cut short says nothing.
			 */
			if (queue_out(ctl, i, note, (size_t)m) < (size_t)m) {
				cl->dropped += len;
				continue;
			}
			cl->dropped = 0;
		}
		cl->dropped += len - queue_out(ctl, i, buf, len);
	}
	pthread_mutex_unlock(&ctl->lock);
}

void control__console_tee(void *ctl, const void *buf, size_t len)
{
	control__console(ctl, buf, len);
}

/* ---- start and stop --------------------------------------------------------
 */

/* Is something answering at @path? */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = !connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	return alive;
}

int control__start(struct control *ctl, struct domain *d, const char *path,
		   const struct control_info *info)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat sb;
	mode_t old;
	int i, rc;

	memset(ctl, 0, sizeof(*ctl));
	ctl->d = d;
	ctl->info = *info;
	ctl->listen_fd = ctl->wake_fd = -1;
	ctl->handover_client = -1;
	ctl->migrate_client = -1;
	ctl->start_ns = clock__mono_ns();
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
		ctl->clients[i].fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		pr_err("control socket %s: the path is longer than %zu bytes",
		       path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	strcpy(sa.sun_path, path);
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	/* Its directory (a remote host's run directory may not exist yet). */
	{
		char dir[sizeof(sa.sun_path)];
		char *slash;

		strcpy(dir, path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (access(dir, F_OK) &&
			    (rc = pvft__make_private_dir(dir))) {
				pr_err("control socket %s: cannot make %s: %s",
				       path, dir, strerror(-rc));
				return -1;
			}
		}
	}
	if (!lstat(path, &sb)) {
		if (!S_ISSOCK(sb.st_mode)) {
			pr_err("control socket %s: something else is there",
			       path);
			return -1;
		}
		if (socket_alive(&sa)) {
			pr_err("control socket %s: another pvft-hv answers "
			       "there",
			       path);
			return -1;
		}
		unlink(path); /* stale: its pvft-hv is gone */
	}
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		ctl->clients[i].in = malloc(CONTROL_LINE_MAX);
		ctl->clients[i].out = malloc(CONTROL_OUT_MAX);
		if (!ctl->clients[i].in || !ctl->clients[i].out)
			goto fail_errno;
	}
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ctl->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctl->listen_fd < 0 || ctl->wake_fd < 0)
		goto fail_errno;
	/* Root only (or the owner): 0600 from the start, never wider. */
	old = umask(0177);
	rc = bind(ctl->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc || listen(ctl->listen_fd, 8))
		goto fail_errno;
	pthread_mutex_init(&ctl->lock, NULL);
	d->handover_done = handover_done;
	d->handover_opaque = ctl;
	/*
	 * It takes no signals: the stop signals are the I/O thread's (its
	 * signalfd), and one taken here would end pvft-hv without its END.
	 */
	{
		sigset_t all, prev;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &prev);
		rc = pthread_create(&ctl->thread, NULL, control_thread, ctl);
		pthread_sigmask(SIG_SETMASK, &prev, NULL);
	}
	if (rc) {
		errno = rc;
		d->handover_done = NULL;
		unlink(path);
		goto fail_errno;
	}
	ctl->started = ctl->set_up = true;
	pr_debug("control socket at %s", path);
	return 0;
fail_errno:
	pr_err("control socket %s: %s", path, strerror(errno));
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	if (ctl->wake_fd >= 0)
		close(ctl->wake_fd);
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		free(ctl->clients[i].in);
		free(ctl->clients[i].out);
	}
	ctl->listen_fd = ctl->wake_fd = -1;
	return -1;
}

void control__set_guest(struct control *ctl, uint64_t memory_mib,
			const char *cmdline, const char *backend)
{
	if (!ctl->started)
		return;
	pthread_mutex_lock(&ctl->lock);
	ctl->info.memory_mib = memory_mib;
	ctl->info.cmdline = cmdline;
	ctl->info.backend = backend;
	pthread_mutex_unlock(&ctl->lock);
}

void control__stop(struct control *ctl)
{
	if (!ctl->started)
		return;
	pthread_mutex_lock(&ctl->lock);
	ctl->stopping = true;
	pthread_mutex_unlock(&ctl->lock);
	wake_thread(ctl);
	pthread_join(ctl->thread, NULL);
	ctl->started = false;
	unlink(ctl->path);
	close(ctl->listen_fd);
	ctl->listen_fd = -1;
}

void control__dispose(struct control *ctl)
{
	int i;

	if (!ctl->set_up)
		return;
	control__stop(ctl);
	ctl->d->handover_done = NULL;
	pthread_mutex_lock(&ctl->lock);
	for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		/* The last replies and output, if the sockets take them. */
		flush_out(ctl, i);
		if (ctl->clients[i].fd >= 0)
			close(ctl->clients[i].fd);
		ctl->clients[i].fd = -1;
		free(ctl->clients[i].in);
		free(ctl->clients[i].out);
	}
	pthread_mutex_unlock(&ctl->lock);
	close(ctl->wake_fd);
	pthread_mutex_destroy(&ctl->lock);
	ctl->set_up = false;
}
