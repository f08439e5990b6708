// SPDX-License-Identifier: MIT
/*
 * pvft list, status, console, promote, destroy (and proxy, the remote end
 * of the control socket): everything about running domains, learnt from
 * and done through each replica's control socket.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pvft.h"
#include "toolstack.h"

#define STATUS_TIMEOUT_MS 2000

/* Each replica's status, or NULL where it does not answer (and why). */
struct dom_view {
	struct dom_info di;
	json_object *st[2];
	char err[2][256];
};

static void view_load(struct dom_view *v)
{
	int i;

	for (i = 0; i < v->di.nr; i++)
		v->st[i] = ts__replica_status(&v->di, i, STATUS_TIMEOUT_MS,
					      v->err[i], sizeof(v->err[i]));
}

static void view_put(struct dom_view *v)
{
	int i;

	for (i = 0; i < v->di.nr; i++)
		json_object_put(v->st[i]);
}

/* The replica now the domain's primary (live), or -1. */
static int view_primary(const struct dom_view *v)
{
	int i;

	for (i = 0; i < v->di.nr; i++) {
		const char *role = ts__jstr(v->st[i], "role", "");
		const char *state = ts__jstr(v->st[i], "state", "");

		if ((!strcmp(role, "primary") || !strcmp(role, "single")) &&
		    strcmp(state, "fenced") && strcmp(state, "handed-over") &&
		    strcmp(state, "ended"))
			return i;
	}
	return -1;
}

static int view_by_name(const char *name, struct dom_view *v)
{
	memset(v, 0, sizeof(*v));
	if (ts__dom_load(name, &v->di))
		return -1;
	view_load(v);
	return 0;
}

static json_object *member(json_object *o, const char *k)
{
	json_object *v = NULL;

	if (o)
		json_object_object_get_ex(o, k, &v);
	return v;
}

static void fmt_uptime(char *buf, size_t len, double s)
{
	unsigned long t;

	/* A peer's number: anything outside 0..10 years is nonsense. */
	if (!(s >= 0 && s < 315360000.0)) {
		snprintf(buf, len, "-");
		return;
	}
	t = (unsigned long)s;
	snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

/* ---- list ------------------------------------------------------------------
 */

/*
 * The domain's protection, from its live primary: protected (held is
 * too), joining (a backup is taking the checkpoint), unprotected, or
 * the primary's state; "gone" when none answers. *@epoch: its pair's.
 */
static void protection(const struct dom_view *v, char *buf, size_t len,
		       uint64_t *epoch)
{
	json_object *pair, *e;
	const char *s;
	int p = view_primary(v);

	*epoch = 0;
	if (p < 0) {
		snprintf(buf, len, "gone");
		return;
	}
	s = ts__jstr(v->st[p], "state", "?");
	snprintf(buf, len, "%s", ts__paired(s) ? "protected" : s);
	pair = member(v->st[p], "pair");
	e = member(pair, "epoch");
	if (e && json_object_is_type(e, json_type_int))
		*epoch = (uint64_t)json_object_get_int64(e);
}

/* Is the domain's monitor (ft_reprotect = "auto") still running? */
static bool monitor_runs(const struct dom_info *di)
{
	return di->monitor_pid > 0 && di->monitor_log[0] &&
	       ts__ours(di->monitor_pid, "pvft", di->monitor_log) &&
	       !ts__pid_ended(di->monitor_pid);
}

static json_object *view_json(const struct dom_view *v)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	int i;

	json_object_object_add(o, "name", json_object_new_string(v->di.name));
	json_object_object_add(o, "config",
			       json_object_new_string(v->di.config));
	json_object_object_add(o, "dir", json_object_new_string(v->di.dir));
	if (v->di.arbiter_embedded) {
		json_object *arb = json_object_new_object();

		json_object_object_add(
		    arb, "url", json_object_new_string(v->di.arbiter_url));
		json_object_object_add(arb, "pid",
				       json_object_new_int(v->di.arbiter_pid));
		json_object_object_add(
		    arb, "log", json_object_new_string(v->di.arbiter_log));
		json_object_object_add(o, "embedded_arbiter", arb);
	}
	{
		json_object *prot = json_object_new_object();
		char state[64];
		uint64_t epoch;

		protection(v, state, sizeof(state), &epoch);
		json_object_object_add(prot, "state",
				       json_object_new_string(state));
		if (epoch)
			json_object_object_add(
			    prot, "epoch",
			    json_object_new_int64((int64_t)epoch));
		json_object_object_add(o, "protection", prot);
	}
	if (v->di.monitor_pid > 0) {
		json_object *mon = json_object_new_object();

		json_object_object_add(mon, "pid",
				       json_object_new_int(v->di.monitor_pid));
		json_object_object_add(
		    mon, "log", json_object_new_string(v->di.monitor_log));
		json_object_object_add(
		    mon, "running",
		    json_object_new_boolean(monitor_runs(&v->di)));
		json_object_object_add(o, "monitor", mon);
	}
	for (i = 0; i < v->di.nr; i++) {
		const struct dom_replica *r = &v->di.rep[i];
		json_object *j = NULL;

		/* A copy: the replica's own status stays as it said it. */
		if (!v->st[i] || json_object_deep_copy(v->st[i], &j, NULL))
			j = json_object_new_object();

		json_object_object_add(j, "node",
				       json_object_new_string(r->node));
		json_object_object_add(j, "host",
				       json_object_new_string(r->host));
		json_object_object_add(j, "started_as",
				       json_object_new_string(r->started_as));
		json_object_object_add(j, "socket",
				       json_object_new_string(r->sock));
		json_object_object_add(j, "log_file",
				       json_object_new_string(r->log));
		json_object_object_add(j, "console_file",
				       json_object_new_string(r->console));
		if (!v->st[i]) {
			json_object_object_add(j, "state",
					       json_object_new_string("gone"));
			json_object_object_add(j, "pid",
					       json_object_new_int(r->pid));
			json_object_object_add(
			    j, "error", json_object_new_string(v->err[i]));
		}
		json_object_array_add(a, j);
	}
	json_object_object_add(o, "replicas", a);
	return o;
}

static void list_row(const struct dom_view *v, int i, bool first)
{
	json_object *st = v->st[i], *pair = member(st, "pair"),
		    *log = member(st, "log");
	char up[32] = "-", lag[16] = "-", mbit[16] = "-", epoch[24] = "-";
	char line[256];

	if (st) {
		fmt_uptime(up, sizeof(up), ts__jnum(st, "uptime_s", 0));
		if (pair)
			snprintf(epoch, sizeof(epoch), "%.0f",
				 ts__jnum(pair, "epoch", 0));
		/* Lag means something only while there is a pair. */
		if (log && ts__paired(ts__jstr(st, "state", "")))
			snprintf(lag, sizeof(lag), "%.1f",
				 ts__jnum(log, "lag_ms", 0));
		if (log) {
			snprintf(mbit, sizeof(mbit), "%.2f",
				 ts__jnum(log, "mbit_s", 0));
		}
	}
	printf("%-16s %-14s %-8s %-12s %-14s %5s %8s %9s %9s\n",
	       first ? v->di.name : "", v->di.rep[i].node,
	       ts__jstr(st, "role", "-"), v->di.rep[i].host,
	       st ? ts__jstr(st, "state", "?") : "gone", epoch, lag, mbit, up);
	/* A save or migration under way (or just done): a line of its own. */
	if (ts__migration_line(st, line, sizeof(line)))
		printf("%-16s %-14s %s\n", "", "", line);
}

int main_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		PVFT_COMMON_LONG_OPTS,
	};
	json_object *all = NULL;
	bool json = false;
	char **names;
	int opt, n, k, i;

	PVFT_FOREACH_OPT(opt, "j", opts, "list", 0)
	{
	case 'j':
		json = true;
		break;
	}
	if (optind != argc) {
		pr_err("too many arguments");
		pvft__usage_error("list");
		return PVFT_EXIT_USAGE;
	}
	if (ts__dom_names(&names, &n))
		return PVFT_EXIT_FAILED;
	if (json)
		all = json_object_new_array();
	else
		printf("%-16s %-14s %-8s %-12s %-14s %5s %8s %9s %9s\n", "NAME",
		       "REPLICA", "ROLE", "HOST", "STATE", "EPOCH", "LAG(ms)",
		       "LOG(Mb/s)", "UPTIME");
	for (k = 0; k < n; k++) {
		struct dom_view v;

		if (!view_by_name(names[k], &v)) {
			if (json)
				json_object_array_add(all, view_json(&v));
			else
				for (i = 0; i < v.di.nr; i++)
					list_row(&v, i, !i);
			view_put(&v);
		}
		free(names[k]);
	}
	free(names);
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(
				   all, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(all);
	}
	return PVFT_EXIT_OK;
}

/* ---- status ----------------------------------------------------------------
 */

/* A status as "key value" lines, nested values indented (any JSON). */
static void print_value(int indent, const char *k, json_object *val)
{
	size_t i;

	if (json_object_is_type(val, json_type_object)) {
		printf("%*s%s:\n", indent, "", k);
		json_object_object_foreach(val, k2, v2)
		    print_value(indent + 2, k2, v2);
	} else if (json_object_is_type(val, json_type_array)) {
		for (i = 0; i < json_object_array_length(val); i++) {
			char name[64];

			snprintf(name, sizeof(name), "%.40s[%zu]", k, i);
			print_value(indent, name,
				    json_object_array_get_idx(val, i));
		}
	} else if (json_object_is_type(val, json_type_double)) {
		printf("%*s%-14s %.3f\n", indent, "", k,
		       json_object_get_double(val));
	} else {
		printf("%*s%-14s %s\n", indent, "", k,
		       val ? json_object_get_string(val) : "-");
	}
}

static void print_kv(int indent, json_object *o)
{
	json_object_object_foreach(o, k, val) print_value(indent, k, val);
}

int main_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		PVFT_COMMON_LONG_OPTS,
	};
	struct dom_view v;
	json_object *o;
	bool json = false;
	char line[256];
	int opt, i, alive = 0;

	PVFT_FOREACH_OPT(opt, "j", opts, "status", 1)
	{
	case 'j':
		json = true;
		break;
	}
	if (view_by_name(argv[optind], &v))
		return PVFT_EXIT_FAILED;
	for (i = 0; i < v.di.nr; i++)
		alive += v.st[i] != NULL;
	if (json) {
		o = view_json(&v);
		printf("%s\n", json_object_to_json_string_ext(
				   o, JSON_C_TO_STRING_PRETTY |
					  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("domain %s (config %s, state in %s)\n", v.di.name,
		       v.di.config, v.di.dir);
		if (v.di.arbiter_embedded)
			printf("embedded arbiter %s (pid %d, log %s)\n",
			       v.di.arbiter_url, v.di.arbiter_pid,
			       v.di.arbiter_log);
		{
			char state[64];
			uint64_t epoch;
			int p = view_primary(&v);

			protection(&v, state, sizeof(state), &epoch);
			printf("protection: %s", state);
			if (epoch)
				printf(" at epoch %" PRIu64, epoch);
			if (p >= 0 && !strcmp(state, "joining") &&
			    ts__migration_line(v.st[p], line, sizeof(line)))
				printf(" (%s)", line);
			printf("\n");
		}
		if (v.di.monitor_pid > 0)
			printf("monitor: pid %d, %s (log %s)\n",
			       v.di.monitor_pid,
			       monitor_runs(&v.di) ? "running" : "not running",
			       v.di.monitor_log);
		for (i = 0; i < v.di.nr; i++) {
			printf("\nreplica %s on %s (started as %s):\n",
			       v.di.rep[i].node, v.di.rep[i].host,
			       v.di.rep[i].started_as);
			if (ts__migration_line(v.st[i], line, sizeof(line)))
				printf("  %s\n", line);
			if (v.st[i])
				print_kv(2, v.st[i]);
			else
				printf("  state          gone (%s)\n",
				       v.err[i]);
			printf("  %-14s %s\n  %-14s %s\n", "log_file",
			       v.di.rep[i].log, "console_file",
			       v.di.rep[i].console);
		}
	}
	view_put(&v);
	return alive ? PVFT_EXIT_OK : PVFT_EXIT_FAILED;
}

/* ---- promote ---------------------------------------------------------------
 */

int main_promote(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		PVFT_COMMON_LONG_OPTS,
	};
	unsigned int timeout_s = 30;
	struct dom_view v;
	struct ctl_conn c;
	json_object *r;
	char err[512];
	uint64_t t0, t1, end;
	int opt, p, b, rc = PVFT_EXIT_FAILED;

	PVFT_FOREACH_OPT(opt, "t:", opts, "promote", 1)
	{
	case 't':
		timeout_s = (unsigned int)strtoul(optarg, NULL, 10);
		if (!timeout_s || timeout_s > 3600) {
			pr_err("bad --timeout '%s': want 1..3600 s", optarg);
			return PVFT_EXIT_USAGE;
		}
		break;
	}
	if (view_by_name(argv[optind], &v))
		return PVFT_EXIT_FAILED;
	p = view_primary(&v);
	b = p < 0 || v.di.nr < 2 ? -1 : !p;
	if (p < 0 || b < 0 || !v.st[b] ||
	    !ts__paired(ts__jstr(v.st[p], "state", ""))) {
		pr_err("%s: no protected pair to promote a backup of (primary "
		       "%s, backup %s; see pvft status)",
		       v.di.name,
		       p < 0 ? "gone" : ts__jstr(v.st[p], "state", "?"),
		       b < 0 || !v.st[b] ? "gone"
					 : ts__jstr(v.st[b], "state", "?"));
		goto out;
	}
	if (pvft_dry_run) {
		printf("would ask %s (primary) to hand %s over to %s "
		       "(backup)\n",
		       v.di.rep[p].node, v.di.name, v.di.rep[b].node);
		rc = PVFT_EXIT_OK;
		goto out;
	}
	if (ctl__open(&c, &v.di.rep[p], v.di.remote, STATUS_TIMEOUT_MS, err,
		      sizeof(err))) {
		pr_err("%s: %s", v.di.rep[p].node, err);
		goto out;
	}
	t0 = clock__mono_ms();
	r = ctl__call(&c, "promote", (int)timeout_s * 1000, err, sizeof(err));
	ctl__close(&c);
	if (!r) {
		pr_err("%s: promote: %s", v.di.rep[p].node, err);
		goto out;
	}
	t1 = clock__mono_ms();
	printf("%s: %s stopped at exit %.0f and handed over in %llu ms: "
	       "every record acknowledged, all output released\n",
	       v.di.name, v.di.rep[p].node, ts__jnum(r, "exit", 0),
	       (unsigned long long)(t1 - t0));
	json_object_put(r);
	/* The backup replays what is left, asks the arbiter, goes live. */
	end = t1 + timeout_s * 1000ull;
	while (clock__mono_ms() < end) {
		json_object *st =
		    ts__replica_status(&v.di, b, 1000, err, sizeof(err));
		bool live = st && !strcmp(ts__jstr(st, "role", ""), "primary");
		bool fenced =
		    st && !strcmp(ts__jstr(st, "state", ""), "fenced");

		json_object_put(st);
		if (live) {
			printf("%s: %s is the primary now (%llu ms after the "
			       "request); the domain runs unprotected: no "
			       "backup\n",
			       v.di.name, v.di.rep[b].node,
			       (unsigned long long)(clock__mono_ms() - t0));
			rc = PVFT_EXIT_OK;
			goto out;
		}
		if (fenced || !st) {
			pr_err("%s: the backup %s did not take over (%s)",
			       v.di.name, v.di.rep[b].node,
			       fenced ? "fenced" : err);
			goto out;
		}
		usleep(10000);
	}
	pr_err("%s: the backup %s is not live after %u s", v.di.name,
	       v.di.rep[b].node, timeout_s);
out:
	view_put(&v);
	return rc;
}

/* ---- destroy ---------------------------------------------------------------
 */

/* Does a pvft-hv still answer on replica @i's socket? */
static bool answers(const struct dom_view *v, int i)
{
	char err[256];
	json_object *st = ts__replica_status(&v->di, i, 500, err, sizeof(err));
	bool yes = st != NULL;

	json_object_put(st);
	return yes;
}

int main_destroy(int argc, char **argv)
{
	static const struct option opts[] = { PVFT_COMMON_LONG_OPTS };
	struct dom_view v;
	char err[512], path[PATH_MAX + 16];
	int opt, i, order[2], k, left = 0;

	PVFT_FOREACH_OPT(opt, "", opts, "destroy", 1)
	{
	}
	if (view_by_name(argv[optind], &v))
		return PVFT_EXIT_FAILED;
	/*
	 * The monitor first: it would give the domain a new backup as it
	 * goes. It stops one it was starting, and may have added one: the
	 * registry is read again once it has ended.
	 */
	if (v.di.monitor_pid > 0 && pvft_dry_run) {
		printf("would stop the monitor (pid %d)\n", v.di.monitor_pid);
	} else if (v.di.monitor_pid > 0) {
		ts__stop_monitor(&v.di);
		view_put(&v);
		if (view_by_name(argv[optind], &v))
			return PVFT_EXIT_FAILED;
	}
	/* The primary first: its END ends the backup with it, together. */
	order[0] = view_primary(&v) > 0 ? 1 : 0;
	order[1] = !order[0];
	for (k = 0; k < v.di.nr; k++) {
		struct dom_replica *r = &v.di.rep[order[k]];
		struct ctl_conn c;
		json_object *ret;

		if (!v.st[order[k]])
			continue;
		if (pvft_dry_run) {
			printf("would ask %s on %s to quit\n", r->node,
			       r->host);
			continue;
		}
		if (ctl__open(&c, r, v.di.remote, STATUS_TIMEOUT_MS, err,
			      sizeof(err)))
			continue; /* gone meanwhile */
		ret =
		    ctl__call(&c, "quit", STATUS_TIMEOUT_MS, err, sizeof(err));
		ctl__close(&c);
		json_object_put(ret);
	}
	/* Wait for them to end; a process we started that will not, dies. */
	for (i = 0; i < v.di.nr && !pvft_dry_run; i++) {
		struct dom_replica *r = &v.di.rep[i];
		uint64_t end = clock__mono_ms() + 10000;

		/* Until it is gone: its socket, or (killed) its process. */
		while (clock__mono_ms() < end && !access(r->sock, F_OK) &&
		       (ts__is_local(r->host) ? !ts__pid_ended(r->pid)
					      : answers(&v, i)))
			usleep(20000);
		if (ts__ours(r->pid, "pvft-hv", r->sock) &&
		    !ts__pid_gone(r->pid, 2000)) {
			pr_warn("%s (pid %d) did not end: killing it", r->node,
				r->pid);
			kill(r->pid, SIGKILL);
		}
		if (answers(&v, i)) {
			pr_err("%s still answers on %s", r->node, r->sock);
			left++;
		} else if (!ts__is_local(r->host) && !v.st[i]) {
			/* Ended, or out of reach: say which we cannot tell. */
			pr_warn("%s on %s did not answer (%s): if that host "
				"was unreachable, check that it is not running",
				r->node, r->host, v.err[i]);
		}
	}
	/* A replica that may still run keeps its arbiter (and its entry). */
	if (!pvft_dry_run && !left) {
		ts__stop_arbiter(&v.di);
	} else if (v.di.arbiter_embedded && pvft_dry_run) {
		printf("would stop the embedded arbiter (pid %d)\n",
		       v.di.arbiter_pid);
	}
	if (!pvft_dry_run && !left) {
		snprintf(path, sizeof(path), "%s/domain.json", v.di.dir);
		unlink(path);
		printf("%s: destroyed (logs and console output stay in %s)\n",
		       v.di.name, v.di.dir);
	}
	view_put(&v);
	return left ? PVFT_EXIT_FAILED : PVFT_EXIT_OK;
}

/* ---- console ---------------------------------------------------------------
 */

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	tio_saved = false;
}

static void raw_tty(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio))
		return;
	tio_saved = true;
	atexit(restore_tty);
	t = saved_tio;
	cfmakeraw(&t);
	t.c_oflag |= OPOST | ONLCR; /* the guest writes plain newlines */
	tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

/*
 * Ctrl-]: the input sent so far is the guest's, all of it. Closing now
 * with output unread would reset the connection and the hv would lose what
 * it has not read yet; so say "no more" and take the output until the hv
 * has consumed the input and closes (bounded).
 */
static void detach(struct ctl_conn *c)
{
	uint64_t end = clock__mono_ms() + 10000;
	char buf[4096];

	shutdown(c->wfd, SHUT_WR);
	while (clock__mono_ms() < end) {
		struct pollfd p = { .fd = c->rfd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(c->rfd, buf, sizeof(buf));
		if (n <= 0 || write(STDOUT_FILENO, buf, (size_t)n) < 0)
			break;
	}
}

/* Attach to the primary's console; 1: it went away, 0: detached. */
static int attach(struct dom_view *v, int p, bool *eof_in)
{
	struct ctl_conn c;
	json_object *r;
	char err[512], buf[4096];

	if (ctl__open(&c, &v->di.rep[p], v->di.remote, STATUS_TIMEOUT_MS, err,
		      sizeof(err)))
		return pr_err("%s: %s", v->di.rep[p].node, err), 1;
	r = ctl__call(&c, "console", STATUS_TIMEOUT_MS, err, sizeof(err));
	if (!r) {
		ctl__close(&c);
		return pr_err("%s: console: %s", v->di.rep[p].node, err), -1;
	}
	json_object_put(r);
	fprintf(stderr, "[pvft: console of %s on %s (%s); Ctrl-] detaches]\r\n",
		v->di.name, v->di.rep[p].node, v->di.rep[p].host);
	/* What ctl__call read past the reply is console output already. */
	if (c.len && write(STDOUT_FILENO, c.buf, c.len) < 0)
		return ctl__close(&c), 0;
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = c.rfd, .events = POLLIN },
			{ .fd = *eof_in ? -1 : STDIN_FILENO, .events = POLLIN },
		};
		ssize_t n;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents) {
			n = read(c.rfd, buf, sizeof(buf));
			if (n <= 0) {
				ctl__close(&c);
				return 1;
			}
			if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
				break;
		}
		if (pfd[1].revents) {
			char *esc;

			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				*eof_in = true;
				continue;
			}
			esc = memchr(buf, 0x1d, (size_t)n);
			if (esc)
				n = esc - buf;
			if (n && write(c.wfd, buf, (size_t)n) < 0)
				break;
			if (esc) {
				detach(&c);
				break;
			}
		}
	}
	ctl__close(&c);
	return 0;
}

int main_console(int argc, char **argv)
{
	static const struct option opts[] = { PVFT_COMMON_LONG_OPTS };
	bool eof_in = false;
	int opt, rc;

	PVFT_FOREACH_OPT(opt, "", opts, "console", 1)
	{
	}
	raw_tty();
	for (;;) {
		struct dom_view v;
		uint64_t end = clock__mono_ms() + 10000;
		int p = -1;

		/* After a failover the backup is the primary: follow it. */
		while (clock__mono_ms() < end) {
			if (view_by_name(argv[optind], &v)) {
				restore_tty();
				return PVFT_EXIT_FAILED;
			}
			p = view_primary(&v);
			if (p >= 0)
				break;
			view_put(&v);
			usleep(100000);
		}
		if (p < 0) {
			restore_tty();
			pr_err("%s: no primary answers", argv[optind]);
			return PVFT_EXIT_FAILED;
		}
		rc = attach(&v, p, &eof_in);
		view_put(&v);
		if (rc <= 0) {
			restore_tty();
			return rc ? PVFT_EXIT_FAILED : PVFT_EXIT_OK;
		}
		fprintf(stderr, "\r\n[pvft: the primary went away; looking "
				"for the new one]\r\n");
		usleep(100000);
	}
}

/* ---- proxy: the control socket over stdin/stdout (remote hosts) ------------
 */

int main_proxy(int argc, char **argv)
{
	static const struct option opts[] = { PVFT_COMMON_LONG_OPTS };
	char buf[16384];
	bool in_open = true;
	int opt, fd, rc = PVFT_EXIT_FAILED;

	PVFT_FOREACH_OPT(opt, "", opts, "proxy", 1)
	{
	}
	fd = ts__connect_unix(argv[optind]);
	if (fd < 0) {
		pr_err("%s: %s", argv[optind], strerror(errno));
		return PVFT_EXIT_FAILED;
	}
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		ssize_t n;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents) {
			n = read(fd, buf, sizeof(buf));
			/* The server's end: the conversation is over, fine. */
			if (!n)
				rc = PVFT_EXIT_OK;
			if (n <= 0 || write(STDOUT_FILENO, buf, (size_t)n) != n)
				break;
		}
		if (pfd[1].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false;
				shutdown(fd, SHUT_WR);
				continue;
			}
			if (write(fd, buf, (size_t)n) != n)
				break;
		}
	}
	close(fd);
	return rc;
}
