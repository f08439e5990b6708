// SPDX-License-Identifier: MIT
/*
 * pvft reprotect, protect and monitor: a domain that runs alone (the
 * survivor of a failover or a promote, or one created unreplicated) gets
 * a new backup without stopping (Documentation/operations.md,
 * "Re-protection"). The survivor S holds the arbiter's grant of its pair
 * at epoch E; a new pvft-hv J is started as a moved backup's successor is
 * (--role backup --incoming ... --listen ..., the pair at epoch E+1, a
 * node id of its own), then S is asked to `reprotect` itself to it: a
 * live checkpoint, after which S is the primary of epoch E+1 and J its
 * backup. Anything that fails before that leaves S running alone as it
 * was; J is then stopped by its PID.
 *
 * pvft monitor (started by create when ft_reprotect = "auto") does the
 * same whenever it finds the domain running unprotected, on the hosts of
 * ft_hosts in turn, backing off after each failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "clock.h"
#include "hostport.h"
#include "log.h"
#include "pvft.h"
#include "toolstack.h"

#define STATUS_TIMEOUT_MS 2000
/* How often the progress line and the monitor ask query-status. */
#define PROGRESS_MS 200
#define MONITOR_POLL_MS 200
/*
 * From the checkpoint's end until the survivor says protected, beyond
 * the config's connect timeout: a hang guard, not a measurement.
 */
#define PROTECTED_GRACE_S 30
/* The monitor's back-off after a failed join: 1 s doubling to 30 s. */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

/* What a re-protection is asked to do. */
struct rp_opts {
	const char *cmd;  /* "reprotect" or "protect": for messages */
	bool protect;	  /* the domain never had a backup (ft_mode single) */
	const char *host; /* NULL: the lost replica's host, else localhost */
	const char *addr; /* where J listens for the checkpoint, or NULL */
	long downtime_ms, max_rounds; /* 0: pvft-hv's defaults */
	bool progress;		      /* a progress line on a terminal */
	volatile sig_atomic_t *stop;  /* set: give up, J stopped */
};

/* What it did, or why not. */
struct rp_result {
	char why[768];
	int rc;		/* PVFT_EXIT_* */
	bool started;	/* J was started (and stopped, on failure) */
	bool committed; /* S answered: the checkpoint is J's */
	bool ended;	/* S ended during it (DomainEnded) */
	char survivor[PVFT_CFG_NAME_MAX + 1], node[PVFT_CFG_NAME_MAX + 1];
	char host[256];
	uint64_t epoch; /* the new one */
	double protected_ms;
	json_object *ret; /* the command's answer (the caller's to put) */
};

static void fail(struct rp_result *res, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct rp_result *res, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
	res->rc = rc;
}

static volatile sig_atomic_t stop_asked;

static void on_stop(int sig)
{
	(void)sig;
	stop_asked = 1;
}

/* SIGINT, SIGTERM, SIGHUP: stop_asked, without restarting calls. */
static void catch_stop(void)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static long long realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The epoch a replica's status says its pair is at, or 0. */
static uint64_t status_epoch(json_object *st)
{
	json_object *pair = NULL, *e = NULL;

	if (!st || !json_object_object_get_ex(st, "pair", &pair) ||
	    !json_object_object_get_ex(pair, "epoch", &e) ||
	    !json_object_is_type(e, json_type_int))
		return 0;
	return (uint64_t)json_object_get_int64(e);
}

/*
 * The replica that runs the domain alone (a primary, live), or -1 with
 * @why. Its state must be "unprotected": anything else is said.
 */
static int survivor(const struct dom_info *di, json_object *st[2],
		    struct rp_result *res)
{
	const char *state;
	int i, s = -1;

	for (i = 0; i < di->nr; i++)
		if (ts__is_live(st[i]) &&
		    !strcmp(ts__jstr(st[i], "role", ""), "primary"))
			s = i;
	if (s < 0) {
		for (i = 0; i < di->nr; i++)
			if (ts__is_live(st[i]) &&
			    !strcmp(ts__jstr(st[i], "role", ""), "single"))
				return fail(res, PVFT_EXIT_FAILED,
					    "%s: %s runs without a pair (its "
					    "pvft-hv has no --pair: a restored "
					    "domain, or one an earlier pvft "
					    "created): no backup can join it",
					    di->name, di->rep[i].node),
				       -1;
		return fail(res, PVFT_EXIT_FAILED,
			    "%s: no replica runs the domain (see pvft status "
			    "%s)",
			    di->name, di->name),
		       -1;
	}
	state = ts__jstr(st[s], "state", "?");
	if (ts__paired(state))
		return fail(res, PVFT_EXIT_FAILED,
			    "%s: cannot re-protect: the domain is protected: "
			    "%s has a backup (%s)",
			    di->name, di->rep[s].node,
			    di->nr > 1 ? di->rep[!s].node : "?"),
		       -1;
	if (!strcmp(state, "joining"))
		return fail(res, PVFT_EXIT_FAILED,
			    "%s: a backup is joining %s already (pvft status "
			    "%s)",
			    di->name, di->rep[s].node, di->name),
		       -1;
	if (strcmp(state, "unprotected"))
		return fail(res, PVFT_EXIT_FAILED,
			    "%s: the primary %s is %s, not unprotected: a "
			    "backup joins a domain that runs alone",
			    di->name, di->rep[s].node, state),
		       -1;
	if (!status_epoch(st[s]))
		return fail(res, PVFT_EXIT_FAILED,
			    "%s: %s says no pair and epoch: no backup can "
			    "join it",
			    di->name, di->rep[s].node),
		       -1;
	return s;
}

/*
 * The joining backup's node id: the domain's name and the epoch it joins
 * at (NAME-e2), unique among the domain's replicas: each join opens a
 * new epoch, once.
 */
static int join_node(char *buf, size_t len, const struct dom_info *di,
		     uint64_t epoch, struct rp_result *res)
{
	char suffix[32];
	int i, keep;

	snprintf(suffix, sizeof(suffix), "-e%" PRIu64, epoch);
	keep = PVFT_CFG_NAME_MAX - (int)strlen(suffix);
	snprintf(buf, len, "%.*s%s", keep, di->name, suffix);
	for (i = 0; i < di->nr; i++)
		if (!strcmp(di->rep[i].node, buf))
			return fail(res, PVFT_EXIT_CONFIG,
				    "%s: the new backup's node id %s is a "
				    "replica's already (ft_primary_node, "
				    "ft_backup_node)",
				    di->name, buf),
			       -1;
	return 0;
}

/*
 * S's answer was lost: has J the domain all the same? Once its
 * checkpoint is no longer "incoming" it had GO: it is the pair's backup
 * (it waits for S, then asks the arbiter and may go live), the one copy
 * of the domain if S died: never to be stopped. Only a J still receiving
 * (or gone) has nothing.
 */
static bool joined_holds(const struct dom_info *di, struct dom_replica *j)
{
	struct dom_info one = *di;
	char err[256];
	json_object *st, *m = NULL;
	bool has;

	if (ts__is_local(j->host) && ts__ended(&j->pid, j->node, j->log))
		return false;
	one.nr = 1;
	one.rep[0] = *j;
	st = ts__replica_status(&one, 0, STATUS_TIMEOUT_MS, err, sizeof(err));
	has = st && !(json_object_object_get_ex(st, "migration", &m) &&
		      !strcmp(ts__jstr(m, "state", ""), "incoming"));
	json_object_put(st);
	return has;
}

/* The survivor's state and epoch now ("" when it does not answer). */
static void survivor_state(const struct dom_info *di, int s, char *state,
			   size_t len, uint64_t *epoch)
{
	char err[256];
	json_object *st =
	    ts__replica_status(di, s, STATUS_TIMEOUT_MS, err, sizeof(err));

	snprintf(state, len, "%s", st ? ts__jstr(st, "state", "?") : "");
	*epoch = status_epoch(st);
	json_object_put(st);
}

/*
 * After the checkpoint: until S says protected (J acknowledged its
 * records), from @t0. 0, or -1 with @res->why.
 */
static int wait_protected(struct dom_info *di, int s, int d,
			  unsigned int timeout_s, uint64_t t0,
			  const struct rp_opts *o, struct rp_result *res)
{
	uint64_t end = clock__mono_ms() + timeout_s * 1000ull;
	struct dom_replica *j = &di->rep[d];
	char state[64] = "";
	uint64_t epoch = 0;

	while (clock__mono_ms() < end && !*o->stop) {
		survivor_state(di, s, state, sizeof(state), &epoch);
		if (ts__paired(state)) {
			res->protected_ms = (double)(clock__mono_ms() - t0);
			if (epoch)
				res->epoch = epoch;
			return 0;
		}
		if (!state[0] || !strcmp(state, "unprotected") ||
		    !strcmp(state, "fenced") || !strcmp(state, "ended"))
			break;
		if (ts__is_local(j->host) && ts__pid_ended(j->pid))
			break;
		usleep(PROGRESS_MS * 1000);
	}
	fail(res, PVFT_EXIT_FAILED,
	     "%s: the checkpoint went to %s, but %s is %s, not protected%s "
	     "(%s's log: %s)",
	     di->name, j->node, di->rep[s].node,
	     state[0] ? state : "not answering",
	     *o->stop ? ": interrupted" : "", j->node, j->log);
	return -1;
}

/*
 * Ask S (replica @s) for `reprotect` with @args; a progress line on a
 * terminal meanwhile. 1 and *@ret_r; -1 with @res->why and *@lost set
 * when the answer never came (the connection closed); -2 interrupted.
 */
static int call_reprotect(const struct dom_info *di, int s, json_object *args,
			  const struct rp_opts *o, json_object **ret_r,
			  bool *lost, struct rp_result *res)
{
	const struct dom_replica *r = &di->rep[s];
	bool tty = o->progress && isatty(STDERR_FILENO), shown = false;
	char err[512], cls[64], line[256];
	struct ctl_conn c;
	int rc;

	*ret_r = NULL;
	*lost = false;
	if (ctl__open(&c, r, di->remote, STATUS_TIMEOUT_MS, err, sizeof(err)))
		return fail(res, PVFT_EXIT_FAILED, "%s: %s", r->node, err), -1;
	if (ctl__send(&c, "reprotect", args, err, sizeof(err))) {
		ctl__close(&c);
		return fail(res, PVFT_EXIT_FAILED, "%s: %s", r->node, err), -1;
	}
	/* No deadline: pvft-hv answers when the checkpoint is over. */
	while (!(rc = ctl__reply(&c, PROGRESS_MS, ret_r, err, sizeof(err), cls,
				 sizeof(cls)))) {
		json_object *st;

		if (*o->stop)
			break;
		if (!tty)
			continue;
		st = ts__replica_status(di, s, 1000, line, sizeof(line));
		if (ts__migration_line(st, line, sizeof(line))) {
			fprintf(stderr, "\r%s: %s\033[K", r->node, line);
			shown = true;
		}
		json_object_put(st);
	}
	ctl__close(&c);
	if (shown)
		fprintf(stderr, "\r\033[K");
	if (rc > 0)
		return 1;
	if (!rc)
		return fail(res, PVFT_EXIT_FAILED, "%s: interrupted", di->name),
		       -2;
	*lost = !cls[0];
	res->ended = !strcmp(cls, "DomainEnded");
	fail(res, PVFT_EXIT_FAILED, "%s: reprotect failed: %s", r->node, err);
	return -1;
}

/*
 * The whole of it, under the domain's lock (the caller's): @di loaded;
 * on success its registry has J in the lost replica's place (or as the
 * second replica of a single domain). 0, or -1 with @res->why (S runs on
 * unprotected; J, if started, stopped).
 */
static int reprotect(struct dom_info *di, const struct rp_opts *o,
		     struct rp_result *res)
{
	static struct pvft_cfg cfg;
	static struct argv_buf a;
	static struct dom_replica j;
	json_object *st[2] = { NULL, NULL }, *args = NULL, *ret = NULL;
	const char *host, *addr;
	char hv[PATH_MAX], key[PATH_MAX + 16], port[16], lport[16];
	char to[300], log_addr[300], *text = NULL;
	uint64_t epoch, t0;
	bool lost, local;
	int s, d, i, rc = -1;

	memset(&a, 0, sizeof(a));
	memset(&j, 0, sizeof(j));
	res->rc = PVFT_EXIT_FAILED;
	res->ret = NULL;
	ts__statuses(di, st);
	s = survivor(di, st, res);
	if (s < 0)
		goto out;
	snprintf(res->survivor, sizeof(res->survivor), "%s", di->rep[s].node);
	if (o->protect && di->nr != 1) {
		fail(res, PVFT_EXIT_FAILED,
		     "%s: a pair's domain (it had a backup): pvft reprotect "
		     "gives it a new one",
		     di->name);
		goto out;
	}
	if (!o->protect && di->nr == 1) {
		fail(res, PVFT_EXIT_FAILED,
		     "%s: created unreplicated (ft_mode = \"single\"): pvft "
		     "protect gives it its first backup",
		     di->name);
		goto out;
	}
	/*
	 * The lost replica's place: never one that still runs, nor one that
	 * does not answer but whose process is still there here (stopped:
	 * its PID stays in the registry for destroy).
	 */
	d = di->nr == 1 ? 1 : !s;
	if (d < di->nr && !ts__is_live(st[d]) &&
	    ts__is_local(di->rep[d].host) && di->rep[d].pid > 0 &&
	    !ts__pid_ended(di->rep[d].pid)) {
		fail(res, PVFT_EXIT_FAILED,
		     "%s: the other replica %s (pid %d) does not answer but "
		     "its process is still there: end it first (pvft "
		     "destroy, or kill it)",
		     di->name, di->rep[d].node, di->rep[d].pid);
		goto out;
	}
	if (d < di->nr && ts__is_live(st[d])) {
		fail(res, PVFT_EXIT_FAILED,
		     "%s: the other replica %s still runs (%s %s): a new "
		     "backup takes its place once it has ended",
		     di->name, di->rep[d].node, ts__jstr(st[d], "role", "?"),
		     ts__jstr(st[d], "state", "?"));
		goto out;
	}
	epoch = status_epoch(st[s]) + 1;
	if (ts__dom_cfg(di, &cfg)) {
		fail(res, PVFT_EXIT_CONFIG, "%s: its config cannot be read",
		     di->name);
		goto out;
	}
	host = o->host ? o->host : d < di->nr ? di->rep[d].host : "localhost";
	local = ts__is_local(host);
	snprintf(res->host, sizeof(res->host), "%s", host);
	if (!local && !cfg.log_port) {
		fail(res, PVFT_EXIT_CONFIG,
		     "%s: ft_log_port = 0: a backup on another host needs a "
		     "fixed port (set ft_log_port)",
		     cfg.path);
		goto out;
	}
	if (join_node(j.node, sizeof(j.node), di, epoch, res))
		goto out;
	snprintf(res->node, sizeof(res->node), "%s", j.node);
	snprintf(j.started_as, sizeof(j.started_as), "backup");
	snprintf(j.host, sizeof(j.host), "%s", host);
	if (ts__replica_files(&j, di->dir, j.node)) {
		fail(res, PVFT_EXIT_FAILED, "%s: path too long", di->dir);
		goto out;
	}
	text = ts__config_text(di, &cfg);
	if (!text) {
		fail(res, PVFT_EXIT_FAILED, "%s: its config cannot be read",
		     di->name);
		goto out;
	}

	/* The checkpoint's stream and the log channel: as migrate's. */
	addr = o->addr ? o->addr : local ? "127.0.0.1" : host;
	if (!local)
		snprintf(port, sizeof(port), "%u", cfg.migrate_port);
	else if (ts__free_port_arg(port, sizeof(port), addr)) {
		fail(res, PVFT_EXIT_FAILED, "no free port on %s", addr);
		goto out;
	}
	hostport__format(to, sizeof(to), addr, port);
	if (!local)
		snprintf(lport, sizeof(lport), "%u", cfg.log_port);
	else if (ts__free_port_arg(lport, sizeof(lport), cfg.log_addr)) {
		fail(res, PVFT_EXIT_FAILED, "no free port on %s", cfg.log_addr);
		goto out;
	}
	hostport__format(log_addr, sizeof(log_addr),
			 local ? cfg.log_addr : addr, lport);
	key[0] = '\0';
	if (ts__key_auto(&cfg))
		snprintf(key, sizeof(key), "%s/domain.key", di->dir);
	else if (cfg.key[0])
		snprintf(key, sizeof(key), "%s", cfg.key);

	ts__program("pvft-hv", hv, sizeof(hv));
	ts__arg(&a, "%s", hv);
	ts__arg(&a, "--control");
	ts__arg(&a, "%s", j.sock);
	ts__arg(&a, "--no-stdin");
	ts__join_args(&a, &cfg, epoch, j.node, log_addr,
		      di->arbiter_embedded ? di->arbiter_url : cfg.arbiter,
		      key);
	ts__guest_args(&a, &cfg);
	ts__arg(&a, "--incoming");
	ts__arg(&a, "%s", to);
	ts__arg(&a, "%s", cfg.kernel);
	if (a.overflow) {
		fail(res, PVFT_EXIT_FAILED,
		     "%s: the pvft-hv command line is too long", cfg.name);
		goto out;
	}
	args = json_object_new_object();
	json_object_object_add(args, "to", json_object_new_string(to));
	json_object_object_add(args, "backup",
			       json_object_new_string(log_addr));
	json_object_object_add(args, "config", json_object_new_string(text));
	if (cfg.insecure)
		json_object_object_add(args, "insecure",
				       json_object_new_boolean(true));
	else if (key[0])
		json_object_object_add(args, "key",
				       json_object_new_string(key));
	if (o->downtime_ms)
		json_object_object_add(
		    args, "downtime_ms",
		    json_object_new_int((int)o->downtime_ms));
	if (o->max_rounds)
		json_object_object_add(args, "max_rounds",
				       json_object_new_int((int)o->max_rounds));
	if (pvft_dry_run) {
		printf("pvft %s %s: dry run, nothing is started\n", o->cmd,
		       di->name);
		printf("  source   %s (%s, %s, epoch %" PRIu64 ") on %s\n",
		       di->rep[s].node, ts__jstr(st[s], "role", "?"),
		       ts__jstr(st[s], "state", "?"), epoch - 1,
		       di->rep[s].host);
		if (d < di->nr)
			printf("  replaces %s on %s (%s)\n", di->rep[d].node,
			       di->rep[d].host,
			       st[d] ? ts__jstr(st[d], "state", "?") : "gone");
		ts__print_cmd("backup", host, di->remote, a.v);
		ts__print_call(di->rep[s].sock, "reprotect", args,
			       strlen(text));
		res->epoch = epoch;
		res->rc = PVFT_EXIT_OK;
		rc = 0;
		goto out;
	}
	if (o->progress)
		fprintf(stderr,
			"pvft %s %s: a new backup %s on %s joins %s at epoch "
			"%" PRIu64 "\n",
			o->cmd, di->name, j.node, host, di->rep[s].node, epoch);

	ts__keep_previous(j.log);
	ts__keep_previous(j.console);
	j.pid = ts__spawn(host, di->remote, a.v, j.console, j.log);
	res->started = true;
	if (j.pid < 0) {
		j.pid = 0;
		fail(res, PVFT_EXIT_FAILED,
		     "%s: the new backup %s did not start", di->name, j.node);
		goto out;
	}
	if (ts__wait_incoming(di, &j)) {
		fail(res, PVFT_EXIT_FAILED,
		     "%s: the new backup %s on %s did not wait for the "
		     "checkpoint (its log: %s)",
		     di->name, j.node, host, j.log);
		goto stop_j;
	}
	if (*o->stop) {
		fail(res, PVFT_EXIT_FAILED, "%s: interrupted", di->name);
		goto stop_j;
	}
	t0 = clock__mono_ms();
	i = call_reprotect(di, s, args, o, &ret, &lost, res);
	if (i < 0 && !(lost && joined_holds(di, &j)))
		goto stop_j;
	if (i < 0) {
		/*
		 * S's answer was lost after its go: J holds the domain (it
		 * goes live once the arbiter gives it the new epoch).
		 */
		size_t n = strlen(res->why);

		snprintf(res->why + n, sizeof(res->why) - n,
			 "; %s holds the checkpoint all the same: it is the "
			 "backup, or, if the survivor is gone, it goes live "
			 "once the arbiter gives it the new epoch",
			 j.node);
		res->committed = true;
		di->rep[d] = j;
		if (d == di->nr)
			di->nr++;
		ts__dom_save(di);
		goto out;
	}
	res->committed = true;
	res->epoch = (uint64_t)ts__jnum(ret, "epoch", (double)epoch);
	/* J is the pair's from here: the registry knows it first. */
	di->rep[d] = j;
	if (d == di->nr)
		di->nr++;
	if (ts__dom_save(di)) {
		fail(res, PVFT_EXIT_FAILED, "%s: domain.json not written",
		     di->name);
		goto out;
	}
	if (wait_protected(di, s, d, cfg.connect_timeout_s + PROTECTED_GRACE_S,
			   t0, o, res))
		goto out;
	res->ret = ret;
	ret = NULL;
	res->rc = PVFT_EXIT_OK;
	rc = 0;
	goto out;
stop_j:
	ts__stop_started(di, &j);
	{
		size_t n = strlen(res->why);

		snprintf(res->why + n, sizeof(res->why) - n,
			 "; the new backup %s was stopped", j.node);
	}
out:
	json_object_put(ret);
	json_object_put(args);
	for (i = 0; i < 2; i++)
		json_object_put(st[i]);
	free(text);
	return rc;
}

/* The checkpoint's figures, one line. */
static void checkpoint_line(char *buf, size_t len, json_object *ret)
{
	snprintf(buf, len,
		 "checkpoint %.1f MiB, %.0f pages (%.0f zero) in %.0f "
		 "round%s, paused %.1f ms",
		 ts__jnum(ret, "bytes", 0) / (1024.0 * 1024.0),
		 ts__jnum(ret, "pages", 0), ts__jnum(ret, "zero_pages", 0),
		 ts__jnum(ret, "rounds", 0),
		 ts__jnum(ret, "rounds", 0) == 1 ? "" : "s",
		 ts__jnum(ret, "pause_ms", 0));
}

/* ---- pvft reprotect, pvft protect ------------------------------------------
 */

static int run_cmd(int argc, char **argv, const char *cmd, bool protect)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "downtime-ms", required_argument, NULL, 'd' },
		{ "max-rounds", required_argument, NULL, 'm' },
		PVFT_COMMON_LONG_OPTS,
	};
	static struct dom_info di;
	struct rp_opts o = {
		.cmd = cmd,
		.protect = protect,
		.progress = true,
		.stop = &stop_asked,
	};
	struct rp_result res = { .rc = PVFT_EXIT_FAILED };
	char line[256];
	int opt, lock_fd = -1;

	PVFT_FOREACH_OPT(opt, "a:", opts, cmd, 1)
	{
	case 'a':
		o.addr = optarg;
		break;
	case 'd':
		o.downtime_ms = ts__num_opt("downtime-ms", optarg, 60000);
		if (!o.downtime_ms)
			return PVFT_EXIT_USAGE;
		break;
	case 'm':
		o.max_rounds = ts__num_opt("max-rounds", optarg, 10000);
		if (!o.max_rounds)
			return PVFT_EXIT_USAGE;
		break;
	}
	if (argc - optind > 2) {
		pr_err("too many arguments");
		pvft__usage_error(cmd);
		return PVFT_EXIT_USAGE;
	}
	o.host = argv[optind + 1];
	if (ts__dom_load(argv[optind], &di))
		return PVFT_EXIT_FAILED;
	if (!pvft_dry_run) {
		lock_fd = ts__lock_dom(di.dir);
		if (lock_fd < 0)
			return PVFT_EXIT_FAILED;
		/* Under the lock: what another command changed meanwhile. */
		if (ts__dom_load(argv[optind], &di)) {
			close(lock_fd);
			return PVFT_EXIT_FAILED;
		}
		catch_stop();
	}
	if (reprotect(&di, &o, &res)) {
		pr_err("%s", res.why);
		if (res.committed)
			fprintf(stderr,
				"pvft %s: %s: the checkpoint was taken, the "
				"pair did not form: see pvft status %s\n",
				cmd, di.name, di.name);
		else if (res.started)
			fprintf(stderr, "pvft %s: %s %s (%s)\n", cmd, di.name,
				res.ended ? "has ended" : "runs on unprotected",
				res.survivor);
	} else if (!pvft_dry_run) {
		checkpoint_line(line, sizeof(line), res.ret);
		printf("%s: protected at epoch %" PRIu64 ": %s on %s is the "
		       "backup of %s\n",
		       di.name, res.epoch, res.node, res.host, res.survivor);
		printf("%s: %s; protected %.0f ms after the start\n", di.name,
		       line, res.protected_ms);
	}
	json_object_put(res.ret);
	if (lock_fd >= 0)
		close(lock_fd);
	return res.rc;
}

int main_reprotect(int argc, char **argv)
{
	return run_cmd(argc, argv, "reprotect", false);
}

int main_protect(int argc, char **argv)
{
	return run_cmd(argc, argv, "protect", true);
}

/* ---- pvft monitor ----------------------------------------------------------
 */

static const char *mon_name = "";

/* One event: "pvft monitor[DOM]: WHAT (realtime_us=N)", on stderr. */
static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "pvft monitor[%s]: %s (realtime_us=%lld)\n", mon_name,
		msg, realtime_us());
	fflush(stderr);
}

/* @ms of sleep, cut short when asked to stop. */
static void nap(unsigned int ms)
{
	uint64_t end = clock__mono_ms() + ms;

	while (!stop_asked && clock__mono_ms() < end)
		usleep(20000);
}

/* Has every replica ended (here: its process; elsewhere never known)? */
static bool all_ended(const struct dom_info *di, json_object *st[2])
{
	int i;

	for (i = 0; i < di->nr; i++)
		if (st[i] || !ts__is_local(di->rep[i].host) ||
		    !ts__pid_ended(di->rep[i].pid))
			return false;
	return true;
}

/* The live primary's index, or -1. */
static int live_primary(const struct dom_info *di, json_object *st[2])
{
	int i;

	for (i = 0; i < di->nr; i++)
		if (ts__is_live(st[i]) &&
		    !strcmp(ts__jstr(st[i], "role", ""), "primary"))
			return i;
	return -1;
}

/*
 * One try at re-protecting @name on @host, under the domain's lock. 1:
 * protected; 0: the lock is another command's (try again soon); -1:
 * failed, @why says why.
 */
static int monitor_try(const char *name, const char *host, char *why,
		       size_t len)
{
	static struct dom_info di;
	struct rp_opts o = {
		.cmd = "reprotect",
		.host = host,
		.stop = &stop_asked,
	};
	struct rp_result res = { .rc = PVFT_EXIT_FAILED };
	char line[256];
	int fd, rc;

	if (ts__dom_load(name, &di))
		return snprintf(why, len, "the domain is gone"), -1;
	fd = ts__lock_dom(di.dir);
	if (fd < 0)
		return 0;
	if (ts__dom_load(name, &di)) {
		close(fd);
		return snprintf(why, len, "the domain is gone"), -1;
	}
	o.protect = di.nr == 1;
	event("joining %s: a new backup for %s", host, di.name);
	rc = reprotect(&di, &o, &res);
	close(fd);
	if (rc) {
		snprintf(why, len, "%s", res.why);
		return -1;
	}
	checkpoint_line(line, sizeof(line), res.ret);
	event("protected epoch %" PRIu64 ": %s on %s is the backup of %s; "
	      "%s; protected %.0f ms after the join started",
	      res.epoch, res.node, res.host, res.survivor, line,
	      res.protected_ms);
	json_object_put(res.ret);
	return 1;
}

int main_monitor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		PVFT_COMMON_LONG_OPTS,
	};
	static struct pvft_cfg cfg;
	static struct dom_info di;
	const char *log_path = NULL;
	char why[1024], last[64] = "";
	unsigned int backoff = BACKOFF_MIN_MS, turn = 0;
	uint64_t next_try = 0;
	bool episode = false, said_busy = false;
	int opt, fd;

	PVFT_FOREACH_OPT(opt, "l:", opts, "monitor", 1)
	{
	case 'l':
		log_path = optarg;
		break;
	}
	if (argc - optind > 1) {
		pr_err("too many arguments");
		pvft__usage_error("monitor");
		return PVFT_EXIT_USAGE;
	}
	mon_name = argv[optind];
	if (ts__dom_load(mon_name, &di))
		return PVFT_EXIT_FAILED;
	if (ts__dom_cfg(&di, &cfg))
		return PVFT_EXIT_CONFIG;
	if (pvft_dry_run) {
		printf("would watch %s every %d ms and give it a new backup "
		       "when it runs unprotected, on %s",
		       di.name, MONITOR_POLL_MS, cfg.hosts[0]);
		for (turn = 1; turn < cfg.nr_hosts; turn++)
			printf(", %s", cfg.hosts[turn]);
		printf(" in turn\n");
		return PVFT_EXIT_OK;
	}
	if (log_path) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0600);
		if (fd < 0) {
			pr_err("%s: %s", log_path, strerror(errno));
			return PVFT_EXIT_FAILED;
		}
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	catch_stop();
	event("watching %s (pid %d), every %d ms; new backups on %s%s", di.name,
	      (int)getpid(), MONITOR_POLL_MS, cfg.hosts[0],
	      cfg.nr_hosts > 1 ? " and the other ft_hosts in turn" : "");
	while (!stop_asked) {
		json_object *st[2] = { NULL, NULL };
		const char *state;
		char path[PATH_MAX + 16];
		int p, i, r;

		snprintf(path, sizeof(path), "%s/domain.json", di.dir);
		if (access(path, F_OK)) {
			event("the domain is gone (destroyed or saved): done");
			return PVFT_EXIT_OK;
		}
		if (ts__dom_load(mon_name, &di)) {
			nap(MONITOR_POLL_MS);
			continue;
		}
		ts__statuses(&di, st);
		if (all_ended(&di, st)) {
			event("the domain has ended: done");
			return PVFT_EXIT_OK;
		}
		p = live_primary(&di, st);
		state = p < 0 ? "" : ts__jstr(st[p], "state", "");
		if (p >= 0 && strcmp(state, last)) {
			if (!strcmp(state, "unprotected") && !episode) {
				event("unprotected: %s on %s runs alone at "
				      "epoch %" PRIu64,
				      di.rep[p].node, di.rep[p].host,
				      status_epoch(st[p]));
				episode = true;
				backoff = BACKOFF_MIN_MS;
				next_try = 0;
				turn = 0;
			} else if (ts__paired(state) && episode) {
				event("protected epoch %" PRIu64
				      " (%s the primary)",
				      status_epoch(st[p]), di.rep[p].node);
				episode = false;
			}
			snprintf(last, sizeof(last), "%s", state);
		}
		/* Only once the other replica has ended: it may yet be. */
		r = 0;
		if (p >= 0 && !strcmp(state, "unprotected") &&
		    clock__mono_ms() >= next_try &&
		    !(di.nr > 1 && ts__is_live(st[!p])) &&
		    !ts__dom_cfg(&di, &cfg)) {
			const char *host = cfg.hosts[turn % cfg.nr_hosts];

			for (i = 0; i < 2; i++) {
				json_object_put(st[i]);
				st[i] = NULL;
			}
			r = monitor_try(mon_name, host, why, sizeof(why));
			if (r == 0 && !said_busy) {
				event("another pvft command of %s is under "
				      "way: waiting for it",
				      mon_name);
				said_busy = true;
			}
			if (r)
				said_busy = false;
			if (r > 0) {
				episode = false;
				snprintf(last, sizeof(last), "protected");
			} else if (r < 0 && !stop_asked) {
				turn++;
				event("join on %s failed: %s; next try in %u "
				      "ms, on %s",
				      host, why, backoff,
				      cfg.hosts[turn % cfg.nr_hosts]);
				next_try = clock__mono_ms() + backoff;
				backoff = backoff * 2 > BACKOFF_MAX_MS
					      ? BACKOFF_MAX_MS
					      : backoff * 2;
			}
		}
		for (i = 0; i < 2; i++)
			json_object_put(st[i]);
		if (r <= 0)
			nap(MONITOR_POLL_MS);
	}
	event("stopped (a signal): done");
	return PVFT_EXIT_OK;
}
