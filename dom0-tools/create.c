// SPDX-License-Identifier: MIT
/*
 * pvft create, record and replay: a config (pvft.cfg(5)) turned into
 * pvft-hv command lines; create starts them (the embedded arbiter, the
 * backup, the primary) and returns once the pair is protected.
 */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arbiter.h"
#include "clock.h"
#include "hostport.h"
#include "log.h"
#include "pvft.h"
#include "rundir.h"
#include "tls.h"
#include "toolstack.h"

void ts__arg(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->n >= TS_MAX_ARGS) {
		a->overflow = true;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(a->store + a->used, sizeof(a->store) - a->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(a->store) - a->used) {
		a->overflow = true;
		return;
	}
	a->v[a->n++] = a->store + a->used;
	a->v[a->n] = NULL;
	a->used += (size_t)n + 1;
}

/* The guest's part of a pvft-hv command line, after the program. */
void ts__guest_args(struct argv_buf *a, const struct pvft_cfg *cfg)
{
	unsigned int i;

	ts__arg(a, "--name");
	ts__arg(a, "%s", cfg->name);
	ts__arg(a, "--memory");
	ts__arg(a, "%u", cfg->memory_mib);
	ts__arg(a, "--cmdline");
	ts__arg(a, "%s", cfg->cmdline);
	ts__arg(a, "--backend");
	ts__arg(a, "%s", cfg->backend);
	for (i = 0; i < cfg->nr_vifs; i++) {
		ts__arg(a, "--vif");
		ts__arg(a, "%s", cfg->vif[i]);
	}
}

/*
 * How the replicas authenticate the log channel and the arbiter: the
 * domain key (@key: ft_key, or the one create makes), x509, or
 * plaintext on purpose (pvft.cfg(5), "Authentication").
 */
static void auth_args(struct argv_buf *a, const struct pvft_cfg *cfg,
		      const char *key)
{
	if (cfg->insecure) {
		ts__arg(a, "--insecure");
		return;
	}
	if (key[0]) {
		ts__arg(a, "--key");
		ts__arg(a, "%s", key);
	}
	if (cfg->tls_ca[0]) {
		ts__arg(a, "--tls-ca");
		ts__arg(a, "%s", cfg->tls_ca);
		ts__arg(a, "--tls-cert");
		ts__arg(a, "%s", cfg->tls_cert);
		ts__arg(a, "--tls-key");
		ts__arg(a, "%s", cfg->tls_key);
	}
	if (cfg->arbiter_ca[0]) {
		ts__arg(a, "--arbiter-ca");
		ts__arg(a, "%s", cfg->arbiter_ca);
	}
	if (cfg->arbiter_cert[0]) {
		ts__arg(a, "--arbiter-cert");
		ts__arg(a, "%s", cfg->arbiter_cert);
		ts__arg(a, "--arbiter-key");
		ts__arg(a, "%s", cfg->arbiter_key);
	}
	if (cfg->arbiter_user[0]) {
		ts__arg(a, "--arbiter-user");
		ts__arg(a, "%s", cfg->arbiter_user);
		ts__arg(a, "--arbiter-password-file");
		ts__arg(a, "%s", cfg->arbiter_password_file);
	}
}

/* The pair's options but the role: pair, epoch, node, arbiter, keys, timing. */
static void pair_common(struct argv_buf *a, const struct pvft_cfg *cfg,
			uint64_t epoch, const char *node, const char *arbiter,
			const char *key, bool connects)
{
	ts__arg(a, "--pair");
	ts__arg(a, "%" PRIu64, cfg->pair);
	ts__arg(a, "--epoch");
	ts__arg(a, "%" PRIu64, epoch);
	ts__arg(a, "--node");
	ts__arg(a, "%s", node);
	ts__arg(a, "--arbiter");
	ts__arg(a, "%s", arbiter);
	auth_args(a, cfg, key);
	ts__arg(a, "--heartbeat-ms");
	ts__arg(a, "%u", cfg->heartbeat_ms);
	ts__arg(a, "--timeout-ms");
	ts__arg(a, "%u", cfg->timeout_ms);
	ts__arg(a, "--max-lag-ms");
	ts__arg(a, "%u", cfg->max_lag_ms);
	if (connects) {
		ts__arg(a, "--connect-timeout");
		ts__arg(a, "%u", cfg->connect_timeout_s);
	}
}

void ts__pair_args(struct argv_buf *a, const struct pvft_cfg *cfg, bool primary,
		   const char *log_addr, const char *arbiter, const char *key)
{
	ts__arg(a, "--role");
	ts__arg(a, primary ? "primary" : "backup");
	ts__arg(a, primary ? "--peer" : "--listen");
	ts__arg(a, "%s", log_addr);
	pair_common(a, cfg, cfg->epoch,
		    primary ? cfg->primary.node : cfg->backup.node, arbiter,
		    key, primary);
}

void ts__join_args(struct argv_buf *a, const struct pvft_cfg *cfg,
		   uint64_t epoch, const char *node, const char *log_addr,
		   const char *arbiter, const char *key)
{
	ts__arg(a, "--role");
	ts__arg(a, "backup");
	ts__arg(a, "--listen");
	ts__arg(a, "%s", log_addr);
	pair_common(a, cfg, epoch, node, arbiter, key, false);
}

void ts__single_args(struct argv_buf *a, const struct pvft_cfg *cfg,
		     const char *node, const char *arbiter, const char *key)
{
	/* No --role: it runs unprotected until a backup joins it. */
	pair_common(a, cfg, cfg->epoch, node, arbiter, key, true);
}

bool ts__protectable(const struct pvft_cfg *cfg)
{
	if (cfg->replicated || cfg->insecure || cfg->arbiter_embedded)
		return true;
	if (!strncmp(cfg->arbiter, "pvft://", 7))
		return cfg->key[0];
	if (!strncmp(cfg->arbiter, "etcds://", 8))
		return cfg->arbiter_ca[0];
	return false; /* etcd:// is plain http: only with ft_insecure */
}

bool ts__key_auto(const struct pvft_cfg *cfg)
{
	if (cfg->replicated)
		return cfg->key_auto;
	/* As load_auth decides a pair's. */
	return ts__protectable(cfg) && !cfg->insecure && !cfg->key[0] &&
	       (!cfg->tls_ca[0] || cfg->arbiter_embedded);
}

static int load_cfg(struct pvft_cfg *cfg, int argc, char **argv)
{
	char err[1024];

	if (pvft_cfg__load(cfg, argv[0], argv + 1, argc - 1, err,
			   sizeof(err))) {
		pr_err("%s", err);
		return PVFT_EXIT_CONFIG;
	}
	return 0;
}

/* ---- create ----------------------------------------------------------------
 */

struct plan {
	struct pvft_cfg cfg;
	struct dom_info di;
	char hv[PATH_MAX], arbiter_prog[PATH_MAX];
	char log_addr[300], arbiter_url[PVFT_CFG_STR_MAX];
	/* The domain key the replicas get (ft_key, or DIR/domain.key). */
	char key[PATH_MAX];
	/* An embedded arbiter's --keys directory: DIR/arbiter-keys. */
	char arbiter_keys[PATH_MAX];
	uint8_t dom_key[TLS_KEY_LEN]; /* the key at @key, once read */
	bool have_key;
	struct argv_buf arb, rep[2]; /* rep[0] the primary, rep[1] backup */
	struct argv_buf mon;	     /* pvft monitor (ft_reprotect = auto) */
};

void ts__print_cmd(const char *what, const char *host, const char *tmpl,
		   char *const argv[])
{
	char line[16384], cmd[16384];

	ts__shell_join(line, sizeof(line), argv);
	if (ts__is_local(host)) {
		printf("  %-8s %s\n", what, line);
		return;
	}
	ts__expand_remote(cmd, sizeof(cmd), tmpl, host, line);
	printf("  %-8s (on %s) %s\n", what, host, cmd);
}

/* DIR/NAME.SUFFIX into @buf; -1 after saying so when it does not fit. */
static int dir_path(char *buf, size_t len, const char *dir, const char *name,
		    const char *suffix)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);

	if (n < 0 || (size_t)n >= len)
		return pr_err("%s/%s%s: path too long", dir, name, suffix), -1;
	return 0;
}

static int make_plan(struct plan *p, bool dry)
{
	struct pvft_cfg *cfg = &p->cfg;
	struct dom_info *di = &p->di;
	char port[16];
	int i;

	ts__program("pvft-hv", p->hv, sizeof(p->hv));
	ts__program("pvft-arbiter", p->arbiter_prog, sizeof(p->arbiter_prog));
	snprintf(di->name, sizeof(di->name), "%s", cfg->name);
	if (!realpath(cfg->path, di->config))
		snprintf(di->config, sizeof(di->config), "%s", cfg->path);
	snprintf(di->remote, sizeof(di->remote), "%s", cfg->remote);
	if (ts__dom_dir(cfg->name, di->dir, sizeof(di->dir)))
		return -1;
	if (ts__key_auto(cfg)) {
		if (dir_path(p->key, sizeof(p->key), di->dir, "domain", ".key"))
			return -1;
	} else {
		snprintf(p->key, sizeof(p->key), "%s", cfg->key);
	}
	/* Ports: the config's, or free ones (a dry run does not look). */
	if (cfg->replicated) {
		if (cfg->log_port)
			snprintf(port, sizeof(port), "%u", cfg->log_port);
		else if (dry)
			snprintf(port, sizeof(port), "PORT");
		else if (ts__is_local(cfg->backup.host) &&
			 (cfg->log_port = ts__free_port(cfg->log_addr)))
			snprintf(port, sizeof(port), "%u", cfg->log_port);
		else
			return pr_err("%s: ft_log_port: no free port found "
				      "on %s (set one)",
				      cfg->path, cfg->log_addr),
			       -1;
		hostport__format(p->log_addr, sizeof(p->log_addr),
				 cfg->log_addr, port);
	}
	/* A single domain's too: a backup may join it (pvft protect). */
	if (cfg->arbiter_embedded && ts__protectable(cfg)) {
		di->arbiter_embedded = true;
		if (cfg->arbiter_port)
			snprintf(port, sizeof(port), "%u", cfg->arbiter_port);
		else if (dry)
			snprintf(port, sizeof(port), "PORT");
		else if ((cfg->arbiter_port = ts__free_port(cfg->arbiter_addr)))
			snprintf(port, sizeof(port), "%u", cfg->arbiter_port);
		else
			return pr_err("%s: ft_arbiter_port: no free port "
				      "found on %s (set one)",
				      cfg->path, cfg->arbiter_addr),
			       -1;
		{
			char hp[300];

			hostport__format(hp, sizeof(hp), cfg->arbiter_addr,
					 port);
			snprintf(p->arbiter_url, sizeof(p->arbiter_url),
				 "pvft://%s", hp);
			ts__arg(&p->arb, "%s", p->arbiter_prog);
			ts__arg(&p->arb, "--listen");
			ts__arg(&p->arb, "%s", hp);
			ts__arg(&p->arb, "--state-dir");
			ts__arg(&p->arb, "%s/arbiter", di->dir);
			if (cfg->insecure) {
				ts__arg(&p->arb, "--insecure");
			} else {
				if (dir_path(p->arbiter_keys,
					     sizeof(p->arbiter_keys), di->dir,
					     "arbiter-keys", ""))
					return -1;
				ts__arg(&p->arb, "--keys");
				ts__arg(&p->arb, "%s", p->arbiter_keys);
			}
		}
		snprintf(di->arbiter_url, sizeof(di->arbiter_url), "%s",
			 p->arbiter_url);
		if (dir_path(di->arbiter_log, sizeof(di->arbiter_log), di->dir,
			     "arbiter", ".log"))
			return -1;
	} else {
		snprintf(p->arbiter_url, sizeof(p->arbiter_url), "%s",
			 cfg->arbiter);
	}
	di->nr = cfg->replicated ? 2 : 1;
	for (i = 0; i < di->nr; i++) {
		bool primary = i == 0;
		const struct pvft_cfg_replica *pc =
		    primary ? &cfg->primary : &cfg->backup;
		struct dom_replica *r = &di->rep[i];
		struct argv_buf *a = &p->rep[i];

		snprintf(r->started_as, sizeof(r->started_as), "%s",
			 !cfg->replicated ? "single"
			 : primary	  ? "primary"
					  : "backup");
		snprintf(r->host, sizeof(r->host), "%s", pc->host);
		snprintf(r->node, sizeof(r->node), "%s",
			 cfg->replicated ? pc->node : cfg->name);
		if (dir_path(r->sock, sizeof(r->sock), di->dir, r->node,
			     ".sock") ||
		    dir_path(r->log, sizeof(r->log), di->dir, r->node,
			     ".log") ||
		    dir_path(r->console, sizeof(r->console), di->dir, r->node,
			     ".console"))
			return -1;
		ts__arg(a, "%s", p->hv);
		ts__arg(a, "--control");
		ts__arg(a, "%s", r->sock);
		ts__arg(a, "--no-stdin");
		if (cfg->replicated)
			ts__pair_args(a, cfg, primary, p->log_addr,
				      p->arbiter_url, p->key);
		else if (ts__protectable(cfg))
			ts__single_args(a, cfg, r->node, p->arbiter_url,
					p->key);
		ts__guest_args(a, cfg);
		ts__arg(a, "%s", cfg->kernel);
		if (a->overflow)
			return pr_err("%s: the pvft-hv command line is too "
				      "long",
				      cfg->path),
			       -1;
	}
	if (p->arb.overflow)
		return pr_err("%s: the pvft-arbiter command line is too long",
			      cfg->path),
		       -1;
	if (cfg->reprotect_auto) {
		char self[PATH_MAX];

		if (dir_path(di->monitor_log, sizeof(di->monitor_log), di->dir,
			     "monitor", ".log"))
			return -1;
		ts__program("pvft", self, sizeof(self));
		ts__arg(&p->mon, "%s", self);
		ts__arg(&p->mon, "monitor");
		ts__arg(&p->mon, "--log");
		ts__arg(&p->mon, "%s", di->monitor_log);
		ts__arg(&p->mon, "%s", di->name);
		if (p->mon.overflow)
			return pr_err("%s: the monitor's command line is too "
				      "long",
				      cfg->path),
			       -1;
	}
	return 0;
}

static void print_plan(const struct plan *p)
{
	const struct dom_info *di = &p->di;
	int i;

	printf("pvft create %s: dry run, nothing is started\n", di->name);
	printf("  config   %s\n", di->config);
	printf("  state    %s\n", di->dir);
	if (di->arbiter_embedded)
		ts__print_cmd("arbiter", "localhost", "", p->arb.v);
	for (i = 0; i < di->nr; i++)
		ts__print_cmd(di->rep[i].started_as, di->rep[i].host,
			      di->remote, p->rep[i].v);
	if (p->mon.n)
		ts__print_cmd("monitor", "localhost", "", p->mon.v);
}

/* The last lines of a log, indented, on stderr: why something stopped. */
void ts__show_tail(const char *path)
{
	char line[512], ring[5][512];
	int n = 0, i;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		snprintf(ring[n++ % 5], sizeof(ring[0]), "%s", line);
	fclose(f);
	for (i = n > 5 ? n - 5 : 0; i < n; i++)
		fprintf(stderr, "    %s", ring[i % 5]);
}

/* Does the file at @path hold @what? */
static bool log_says(const char *path, const char *what)
{
	char line[512];
	bool yes = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!yes && fgets(line, sizeof(line), f))
		yes = strstr(line, what) != NULL;
	fclose(f);
	return yes;
}

/* The embedded arbiter answers on its port (or has died). */
static int wait_arbiter(const struct plan *p, pid_t *pid)
{
	char port[16];
	uint64_t end = clock__mono_ms() + 10000;

	snprintf(port, sizeof(port), "%u", p->cfg.arbiter_port);
	while (clock__mono_ms() < end) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
		int fd, ok = 0;

		if (ts__ended(pid, "the arbiter", p->di.arbiter_log))
			return -1;
		if (!getaddrinfo(p->cfg.arbiter_addr, port, &hints, &res)) {
			fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC,
				    0);
			ok = fd >= 0 &&
			     !connect(fd, res->ai_addr, res->ai_addrlen);
			if (fd >= 0)
				close(fd);
			freeaddrinfo(res);
		}
		/* Its own word that it listens: not another program's port. */
		if (ok && log_says(p->di.arbiter_log, "listening on") &&
		    !ts__ended(pid, "the arbiter", p->di.arbiter_log))
			return 0;
		usleep(20000);
	}
	pr_err("the arbiter did not answer on %s in 10 s", p->arbiter_url);
	return -1;
}

/*
 * Replica @i answers on its control socket in a state in @want (a
 * space-separated list), before @timeout_s. 0, or -1 after saying why.
 */
static int wait_state(struct plan *p, int i, const char *want,
		      unsigned int timeout_s, bool quiet)
{
	struct dom_replica *r = &p->di.rep[i];
	uint64_t end = clock__mono_ms() + timeout_s * 1000ull;
	char err[512] = "", last[64] = "";

	while (clock__mono_ms() < end) {
		json_object *st;

		if (ts__ended(&r->pid, r->started_as, r->log))
			return -1;
		st = ts__replica_status(&p->di, i, 1000, err, sizeof(err));
		if (st) {
			const char *s = ts__jstr(st, "state", "?");
			char w[128];
			char *tok, *save;

			if (strcmp(s, last) && !quiet)
				fprintf(stderr, "  %-8s %s: %s\n",
					r->started_as, r->node, s);
			snprintf(last, sizeof(last), "%s", s);
			snprintf(w, sizeof(w), "%s", want);
			for (tok = strtok_r(w, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save))
				if (!strcmp(tok, s)) {
					json_object_put(st);
					return 0;
				}
			json_object_put(st);
		}
		usleep(50000);
	}
	pr_err("%s %s: not %s after %u s (%s%s); its log (%s) ends:",
	       r->started_as, r->node, want, timeout_s, last[0] ? "state " : "",
	       last[0] ? last : err, r->log);
	ts__show_tail(r->log);
	return -1;
}

/*
 * ft_reprotect = "auto": `pvft monitor` in the background, its own
 * session, logging to DIR/monitor.log; its pid in domain.json (destroy
 * ends it by that PID).
 */
static int start_monitor(struct plan *p, bool quiet)
{
	pid_t pid;

	ts__keep_previous(p->di.monitor_log);
	pid = ts__spawn("localhost", "", p->mon.v, "/dev/null",
			p->di.monitor_log);
	if (pid < 0)
		return -1;
	p->di.monitor_pid = pid;
	if (ts__dom_save(&p->di))
		return -1;
	if (!quiet)
		fprintf(stderr,
			"  monitor  pid %d (ft_reprotect = auto; its "
			"log: %s)\n",
			(int)pid, p->di.monitor_log);
	return 0;
}

/* Undo a create that failed: what it started, by PID. */
static void undo(struct plan *p, pid_t arb)
{
	char err[256];
	int i;

	for (i = 0; i < p->di.nr; i++) {
		struct dom_replica *r = &p->di.rep[i];
		struct ctl_conn c;

		/* On another host: only its control socket can stop it. */
		if (!ts__is_local(r->host) &&
		    !ctl__open(&c, r, p->di.remote, 1000, err, sizeof(err))) {
			json_object_put(
			    ctl__call(&c, "quit", 1000, err, sizeof(err)));
			ctl__close(&c);
		}
		/* Its session: a template's sh, ssh and what they run. */
		if (r->pid > 0) {
			if (kill(-r->pid, SIGKILL)) /* not its own group yet */
				kill(r->pid, SIGKILL);
			waitpid(r->pid, NULL, 0);
			unlink(r->sock);
		}
	}
	if (p->di.monitor_pid > 0) {
		kill(p->di.monitor_pid, SIGTERM);
		waitpid(p->di.monitor_pid, NULL, 0);
	}
	if (arb > 0) {
		kill(arb, SIGTERM);
		waitpid(arb, NULL, 0);
	}
	fprintf(stderr, "pvft create: %s: nothing left running; logs in %s\n",
		p->di.name, p->di.dir);
}

/* Remove the files in @dir (not its subdirectories, not hidden ones). */
static void empty_dir(const char *dir)
{
	char f[PATH_MAX + 300];
	struct dirent *e;
	DIR *d = opendir(dir);

	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' &&
		    (size_t)snprintf(f, sizeof(f), "%s/%s", dir, e->d_name) <
			sizeof(f))
			unlink(f);
	if (d)
		closedir(d);
}

/*
 * The keys of this start of the domain (pvft.cfg(5), "Authentication"):
 * a new domain key when the config names none (a new pair, a new key:
 * the old one authenticates nothing any more), and an embedded arbiter's
 * key for this pair, derived from the domain key. Before any process
 * starts: each reads its key as it starts.
 */
static int make_keys(struct plan *p, bool quiet)
{
	char why[PATH_MAX + 256], path[PATH_MAX + 32];
	uint8_t akey[TLS_KEY_LEN];
	int e, i;

	if (ts__key_auto(&p->cfg)) {
		if (tls__keygen(p->key, true, why, sizeof(why)) ||
		    tls__load_key(p->key, p->dom_key, why, sizeof(why)))
			return pr_err("%s", why), -1;
		p->have_key = true;
		if (!quiet)
			fprintf(stderr, "  key      %s (new)\n", p->key);
		for (i = 0; i < p->di.nr; i++)
			if (!ts__is_local(p->di.rep[i].host) && !quiet)
				fprintf(stderr,
					"  key      %s reads it there too: "
					"the same file system (namespaces), "
					"or set ft_key (operations.md)\n",
					p->di.rep[i].host);
	}
	if (!p->di.arbiter_embedded || p->cfg.insecure)
		return 0;
	e = pvft__make_private_dir(p->arbiter_keys);
	if (e)
		return pr_err("%s: %s", p->arbiter_keys, strerror(-e)), -1;
	/* This pair's key only: not an earlier ft_pair's. */
	empty_dir(p->arbiter_keys);
	snprintf(path, sizeof(path), "%s/%" PRIu64 ".key", p->arbiter_keys,
		 p->cfg.pair);
	tls__arbiter_key(p->dom_key, p->cfg.pair, akey, NULL, 0);
	e = tls__write_key(path, akey, true, why, sizeof(why));
	explicit_bzero(akey, sizeof(akey));
	if (e)
		return pr_err("%s", why), -1;
	return 0;
}

/*
 * A new pair: an embedded arbiter starts with no decisions (those of an
 * earlier incarnation of this domain would fence it); an external one must
 * not have decided this pair and epoch already (when it answers here).
 */
static int arbiter_fresh(const struct plan *p)
{
	char owner[ARBITER_NODE_MAX + 1] = "", why[PATH_MAX + 256] = "";
	char password[256];
	struct arbiter_auth auth = { .insecure = false };
	struct arbiter *a = NULL;
	enum arbiter_answer ans;

	if (!ts__protectable(&p->cfg))
		return 0;
	if (p->di.arbiter_embedded) {
		char dir[PATH_MAX + 16];

		snprintf(dir, sizeof(dir), "%s/arbiter", p->di.dir);
		empty_dir(dir);
		return 0;
	}
	/* Asked as the replicas ask it: with the pair's own credentials. */
	auth.domain_key = p->have_key ? p->dom_key : NULL;
	auth.insecure = p->cfg.insecure;
	auth.ca = p->cfg.arbiter_ca[0] ? p->cfg.arbiter_ca : NULL;
	auth.cert = p->cfg.arbiter_cert[0] ? p->cfg.arbiter_cert : NULL;
	auth.key = p->cfg.arbiter_key[0] ? p->cfg.arbiter_key : NULL;
	if (p->cfg.arbiter_user[0]) {
		auth.user = p->cfg.arbiter_user;
		auth.password = password;
	}
	if ((auth.user &&
	     tls__read_secret(p->cfg.arbiter_password_file, password,
			      sizeof(password), why, sizeof(why))) ||
	    arbiter__open(&a, p->arbiter_url, &auth, why, sizeof(why)))
		ans = ARBITER_UNREACHABLE;
	else
		ans = arbiter__query(a, p->cfg.pair, p->cfg.epoch, 2000, owner,
				     why, sizeof(why));
	arbiter__close(a);
	explicit_bzero(password, sizeof(password));
	if (ans == ARBITER_FREE)
		return 0;
	/*
	 * The replicas' network may not be this host's (another namespace,
	 * a management network): only they must reach it. Said, not fatal.
	 */
	if (ans == ARBITER_UNREACHABLE) {
		pr_warn("cannot reach the arbiter %s from here (%s): the "
			"replicas must, or no failover can ever be decided",
			p->arbiter_url, why);
		return 0;
	}
	if (ans == ARBITER_OPENED)
		return pr_err("the arbiter %s says pair %" PRIu64
			      " epoch %" PRIu64 " was opened by node %s to "
			      "re-protect a running domain: a pair started "
			      "from boot would run a blank domain; a new pair "
			      "needs a new epoch (ft_epoch=%" PRIu64
			      " or later)",
			      p->arbiter_url, p->cfg.pair, p->cfg.epoch, owner,
			      p->cfg.epoch + 1),
		       -1;
	return pr_err("the arbiter %s already gave pair %" PRIu64
		      " epoch %" PRIu64 " to %s (an earlier incarnation of "
		      "%s): a new pair needs a new epoch (ft_epoch=%" PRIu64
		      ")",
		      p->arbiter_url, p->cfg.pair, p->cfg.epoch, owner,
		      p->di.name, p->cfg.epoch + 1),
	       -1;
}

/* Keep the previous run's log or console output as PATH.1. */
void ts__keep_previous(const char *path)
{
	char old[PATH_MAX + 4];

	if ((size_t)snprintf(old, sizeof(old), "%s.1", path) < sizeof(old))
		rename(path, old);
}

int main_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		PVFT_COMMON_LONG_OPTS,
	};
	struct plan *p;
	bool quiet = false;
	pid_t arb = 0;
	char path[PATH_MAX + 16];
	int opt, rc, i, k, lock_fd = -1;

	PVFT_FOREACH_OPT(opt, "q", opts, "create", 1)
	{
	case 'q':
		quiet = true;
		break;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return PVFT_EXIT_FAILED;
	rc = load_cfg(&p->cfg, argc - optind, argv + optind);
	if (rc)
		goto out;
	/* Kept with the domain: save and migrate read the config again. */
	for (i = 0; i < argc - optind - 1; i++) {
		const char *o = argv[optind + 1 + i];

		if (i >= DOM_MAX_OVERRIDES ||
		    strlen(o) >= sizeof(p->di.ovr[0])) {
			pr_err("more than %d KEY=VALUE settings, or one of "
			       "more than %zu bytes",
			       DOM_MAX_OVERRIDES, sizeof(p->di.ovr[0]) - 1);
			rc = PVFT_EXIT_USAGE;
			goto out;
		}
		snprintf(p->di.ovr[i], sizeof(p->di.ovr[i]), "%s", o);
		p->di.nover = i + 1;
	}
	rc = PVFT_EXIT_FAILED;
	if (make_plan(p, pvft_dry_run))
		goto out;
	if (p->cfg.insecure)
		pr_warn("%s: INSECURE (ft_insecure = 1): the log channel and "
			"the arbiter are plaintext; anyone on their network "
			"can read the guest's inputs and output, and pose as "
			"a replica or as the arbiter",
			p->cfg.name);
	if (pvft_dry_run) {
		print_plan(p);
		rc = PVFT_EXIT_OK;
		goto out;
	}
	/* A key file that cannot be read is the config's fault: before all. */
	if (p->cfg.key[0]) {
		char err[PATH_MAX + 512];

		if (pvft_cfg__load_key(&p->cfg, p->dom_key, err, sizeof(err))) {
			pr_err("%s", err);
			rc = PVFT_EXIT_CONFIG;
			goto out;
		}
		p->have_key = true;
	}
	{
		char run[PATH_MAX];
		int e;

		if (ts__run_dir(run, sizeof(run), true))
			goto out;
		e = pvft__make_private_dir(p->di.dir);
		if (e) {
			pr_err("%s: %s", p->di.dir, strerror(-e));
			goto out;
		}
	}
	/*
	 * One create of a name at a time: the lock (on its directory, held
	 * until this process ends) comes before the look for a running one.
	 */
	lock_fd = open(p->di.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB)) {
		pr_err("%s: %s", p->di.dir,
		       lock_fd < 0 || errno != EWOULDBLOCK
			   ? strerror(errno)
			   : "another pvft create of this name is under way");
		goto out;
	}
	if (ts__dom_running(p->cfg.name)) {
		pr_err("a domain '%s' is running (pvft list); destroy it "
		       "first or give this one another name",
		       p->cfg.name);
		goto out;
	}
	if (arbiter_fresh(p))
		goto out;
	p->di.created = (double)time(NULL);
	if (!quiet)
		fprintf(stderr, "pvft create %s: %s\n", p->di.name,
			p->di.config);
	if (make_keys(p, quiet))
		goto out;
	if (p->di.arbiter_embedded) {
		char dir[PATH_MAX + 16];

		snprintf(dir, sizeof(dir), "%s/arbiter", p->di.dir);
		if (mkdir(dir, 0700) && errno != EEXIST) {
			pr_err("%s: %s", dir, strerror(errno));
			goto out;
		}
		/* Before the child opens it: nothing old to read as new. */
		ts__keep_previous(p->di.arbiter_log);
		arb = ts__spawn("localhost", "", p->arb.v, "/dev/null",
				p->di.arbiter_log);
		if (arb < 0 || wait_arbiter(p, &arb))
			goto fail;
		p->di.arbiter_pid = arb;
		if (!quiet)
			fprintf(stderr, "  arbiter  %s (pid %d)\n",
				p->arbiter_url, (int)arb);
	}
	/* The backup first: it listens; then the primary pairs with it. */
	for (k = 0; k < p->di.nr; k++) {
		struct dom_replica *r = &p->di.rep[p->di.nr - 1 - k];
		bool last = k == p->di.nr - 1;

		i = p->di.nr - 1 - k;
		ts__keep_previous(r->log);
		ts__keep_previous(r->console);
		r->pid = ts__spawn(r->host, p->di.remote, p->rep[i].v,
				   r->console, r->log);
		if (r->pid < 0)
			goto fail;
		if (!quiet)
			fprintf(stderr, "  %-8s %s on %s (pid %d here)\n",
				r->started_as, r->node, r->host, (int)r->pid);
		/* Saved early: a create cut short leaves a destroyable one. */
		if (ts__dom_save(&p->di))
			goto fail;
		if (wait_state(p, i,
			       !p->cfg.replicated ? "unprotected running"
			       : last		  ? "protected held"
						  : "waiting protected",
			       last ? p->cfg.connect_timeout_s + 10 : 20,
			       quiet))
			goto fail;
	}
	if (p->mon.n && start_monitor(p, quiet))
		goto fail;
	if (!quiet)
		fprintf(stderr, "%s: %s\n", p->di.name,
			p->cfg.replicated ? "protected: the backup has every "
					    "record; output flows"
			: ts__protectable(&p->cfg)
			    ? "running unprotected (pvft protect gives it a "
			      "backup)"
			    : "running (not replicated; its arbiter cannot be "
			      "asked: no backup can join it)");
	rc = PVFT_EXIT_OK;
	goto out;
fail:
	undo(p, arb);
	snprintf(path, sizeof(path), "%s/domain.json", p->di.dir);
	unlink(path);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	explicit_bzero(p->dom_key, sizeof(p->dom_key));
	free(p);
	return rc;
}

/* ---- record and replay: offline, in the foreground -------------------------
 */

static int run_fg(struct argv_buf *a)
{
	if (a->overflow) {
		pr_err("the pvft-hv command line is too long");
		return PVFT_EXIT_USAGE;
	}
	if (pvft_dry_run) {
		ts__print_cmd("run", "localhost", "", a->v);
		return PVFT_EXIT_OK;
	}
	fflush(stdout);
	execv(a->v[0], a->v);
	pr_err("cannot run %s: %s", a->v[0], strerror(errno));
	return PVFT_EXIT_FAILED;
}

int main_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "limit", required_argument, NULL, 'l' },
		PVFT_COMMON_LONG_OPTS,
	};
	/* Big, and one command per process: static, not on the stack. */
	static struct pvft_cfg cfg_store;
	static struct argv_buf a_store;
	struct pvft_cfg *cfg = &cfg_store;
	struct argv_buf *a = &a_store;
	const char *out = NULL, *limit = NULL;
	char hv[PATH_MAX];
	int opt, rc;

	PVFT_FOREACH_OPT(opt, "o:l:", opts, "record", 1)
	{
	case 'o':
		out = optarg;
		break;
	case 'l':
		limit = optarg;
		break;
	}
	rc = load_cfg(cfg, argc - optind, argv + optind);
	if (rc)
		return rc;
	ts__program("pvft-hv", hv, sizeof(hv));
	ts__arg(a, "%s", hv);
	ts__arg(a, "--record");
	if (out)
		ts__arg(a, "%s", out);
	else
		ts__arg(a, "%s.log", cfg->name);
	/* pvft-hv checks SIZE: one parser, one message. */
	if (limit) {
		ts__arg(a, "--record-limit");
		ts__arg(a, "%s", limit);
	}
	ts__arg(a, "--control");
	ts__arg(a, "none");
	ts__guest_args(a, cfg);
	ts__arg(a, "%s", cfg->kernel);
	return run_fg(a);
}

int main_replay(int argc, char **argv)
{
	static const struct option opts[] = { PVFT_COMMON_LONG_OPTS };
	/* Big, and one command per process: static, not on the stack. */
	static struct pvft_cfg cfg_store;
	static struct argv_buf a_store;
	struct pvft_cfg *cfg = &cfg_store;
	struct argv_buf *a = &a_store;
	char hv[PATH_MAX];
	int opt, rc;

	PVFT_FOREACH_OPT(opt, "", opts, "replay", 2)
	{
	}
	rc = load_cfg(cfg, argc - optind - 1, argv + optind + 1);
	if (rc)
		return rc;
	ts__program("pvft-hv", hv, sizeof(hv));
	/* Memory, command line and vif come from the log. */
	ts__arg(a, "%s", hv);
	ts__arg(a, "--replay");
	ts__arg(a, "%s", argv[optind]);
	ts__arg(a, "--console");
	ts__arg(a, "show");
	ts__arg(a, "--control");
	ts__arg(a, "none");
	ts__arg(a, "--name");
	ts__arg(a, "%s", cfg->name);
	ts__arg(a, "--backend");
	ts__arg(a, "%s", cfg->backend);
	ts__arg(a, "%s", cfg->kernel);
	return run_fg(a);
}
