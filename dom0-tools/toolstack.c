// SPDX-License-Identifier: MIT
/*
 * The domain registry, starting replicas, and the control socket's client
 * side: what pvft's domain commands share (toolstack.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "rundir.h"
#include "toolstack.h"

int pvft_dry_run;

int ts__run_dir(char *buf, size_t len, bool create)
{
	int rc = pvft__run_dir(buf, len, create);

	if (rc)
		pr_err("run directory %s: %s", buf, strerror(-rc));
	return rc ? -1 : 0;
}

int ts__dom_dir(const char *name, char *buf, size_t len)
{
	char run[PATH_MAX];

	if (!pvft_cfg__valid_name(name))
		return pr_err("no domain '%s': a domain name is 1 to %d of "
			      "A-Z a-z 0-9 . _ - (not first: . -)",
			      name, PVFT_CFG_NAME_MAX),
		       -1;
	if (ts__run_dir(run, sizeof(run), false))
		return -1;
	if ((size_t)snprintf(buf, len, "%s/%s", run, name) >= len)
		return pr_err("%s/%s: path too long", run, name), -1;
	return 0;
}

/* ---- domain.json ----------------------------------------------------------
 */

static void jadd_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

int ts__dom_save(const struct dom_info *di)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	char path[PATH_MAX + 32], tmp[PATH_MAX + 40];
	int i, rc;

	jadd_str(o, "name", di->name);
	jadd_str(o, "config", di->config);
	jadd_str(o, "remote", di->remote);
	json_object_object_add(o, "created",
			       json_object_new_double(di->created));
	for (i = 0; i < di->nr; i++) {
		const struct dom_replica *r = &di->rep[i];
		json_object *j = json_object_new_object();

		jadd_str(j, "started_as", r->started_as);
		jadd_str(j, "host", r->host);
		jadd_str(j, "node", r->node);
		jadd_str(j, "socket", r->sock);
		jadd_str(j, "log", r->log);
		jadd_str(j, "console", r->console);
		json_object_object_add(j, "pid", json_object_new_int(r->pid));
		json_object_array_add(a, j);
	}
	json_object_object_add(o, "replicas", a);
	if (di->nover) {
		json_object *ov = json_object_new_array();

		for (i = 0; i < di->nover; i++)
			json_object_array_add(
			    ov, json_object_new_string(di->ovr[i]));
		json_object_object_add(o, "overrides", ov);
	}
	if (di->arbiter_embedded) {
		json_object *j = json_object_new_object();

		jadd_str(j, "url", di->arbiter_url);
		jadd_str(j, "log", di->arbiter_log);
		json_object_object_add(j, "pid",
				       json_object_new_int(di->arbiter_pid));
		json_object_object_add(o, "embedded_arbiter", j);
	}
	if (di->monitor_pid > 0) {
		json_object *j = json_object_new_object();

		jadd_str(j, "log", di->monitor_log);
		json_object_object_add(j, "pid",
				       json_object_new_int(di->monitor_pid));
		json_object_object_add(o, "monitor", j);
	}
	snprintf(path, sizeof(path), "%s/domain.json", di->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rc = json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PRETTY);
	json_object_put(o);
	if (rc || rename(tmp, path))
		return pr_err("%s: cannot write: %s", path, strerror(errno)),
		       -1;
	return 0;
}

static void jcopy(char *dst, size_t len, json_object *o, const char *k)
{
	snprintf(dst, len, "%s", ts__jstr(o, k, ""));
}

int ts__dom_load(const char *name, struct dom_info *di)
{
	char path[PATH_MAX + 32];
	json_object *o, *a, *j;
	int i;

	memset(di, 0, sizeof(*di));
	if (ts__dom_dir(name, di->dir, sizeof(di->dir)))
		return -1;
	snprintf(path, sizeof(path), "%s/domain.json", di->dir);
	if (access(path, F_OK))
		return pr_err("no domain '%s' (see pvft list)", name), -1;
	o = json_object_from_file(path);
	if (!o || !json_object_object_get_ex(o, "replicas", &a) ||
	    !json_object_is_type(a, json_type_array)) {
		json_object_put(o);
		return pr_err("%s: not a pvft domain file", path), -1;
	}
	jcopy(di->name, sizeof(di->name), o, "name");
	jcopy(di->config, sizeof(di->config), o, "config");
	jcopy(di->remote, sizeof(di->remote), o, "remote");
	di->created = ts__jnum(o, "created", 0);
	di->nr = (int)json_object_array_length(a);
	if (di->nr > 2)
		di->nr = 2;
	for (i = 0; i < di->nr; i++) {
		struct dom_replica *r = &di->rep[i];

		j = json_object_array_get_idx(a, i);
		jcopy(r->started_as, sizeof(r->started_as), j, "started_as");
		jcopy(r->host, sizeof(r->host), j, "host");
		jcopy(r->node, sizeof(r->node), j, "node");
		jcopy(r->sock, sizeof(r->sock), j, "socket");
		jcopy(r->log, sizeof(r->log), j, "log");
		jcopy(r->console, sizeof(r->console), j, "console");
		r->pid = (int)ts__jnum(j, "pid", 0);
	}
	if (json_object_object_get_ex(o, "overrides", &j) &&
	    json_object_is_type(j, json_type_array)) {
		int n = (int)json_object_array_length(j);

		for (i = 0; i < n && i < DOM_MAX_OVERRIDES; i++)
			snprintf(di->ovr[i], sizeof(di->ovr[i]), "%s",
				 json_object_get_string(
				     json_object_array_get_idx(j, i)));
		di->nover = i;
	}
	if (json_object_object_get_ex(o, "embedded_arbiter", &j)) {
		di->arbiter_embedded = true;
		jcopy(di->arbiter_url, sizeof(di->arbiter_url), j, "url");
		jcopy(di->arbiter_log, sizeof(di->arbiter_log), j, "log");
		di->arbiter_pid = (int)ts__jnum(j, "pid", 0);
	}
	if (json_object_object_get_ex(o, "monitor", &j)) {
		jcopy(di->monitor_log, sizeof(di->monitor_log), j, "log");
		di->monitor_pid = (int)ts__jnum(j, "pid", 0);
	}
	json_object_put(o);
	if (!di->name[0])
		return pr_err("%s: no name in it", path), -1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ts__dom_names(char ***names_r, int *n_r)
{
	char run[PATH_MAX], path[PATH_MAX + 300];
	struct dirent *e;
	char **names = NULL;
	int n = 0;
	DIR *dir;

	*names_r = NULL;
	*n_r = 0;
	if (ts__run_dir(run, sizeof(run), false))
		return -1;
	dir = opendir(run);
	if (!dir)
		return errno == ENOENT
			   ? 0
			   : (pr_err("%s: %s", run, strerror(errno)), -1);
	while ((e = readdir(dir))) {
		char **more;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/domain.json", run,
			 e->d_name);
		if (access(path, F_OK))
			continue;
		more = realloc(names, (n + 1) * sizeof(*names));
		if (!more)
			break;
		names = more;
		names[n] = strdup(e->d_name);
		if (names[n])
			n++;
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), cmp_str);
	*names_r = names;
	*n_r = n;
	return 0;
}

bool ts__dom_running(const char *name)
{
	struct dom_info di;
	char err[256];
	int i;
	char path[PATH_MAX + 16];

	if (ts__dom_dir(name, path, sizeof(path) - 16))
		return false;
	strcat(path, "/domain.json");
	if (access(path, F_OK) || ts__dom_load(name, &di))
		return false;
	for (i = 0; i < di.nr; i++) {
		json_object *st =
		    ts__replica_status(&di, i, 500, err, sizeof(err));

		if (st) {
			json_object_put(st);
			return true;
		}
		/* Alive but silent (stopped, stuck): not ended either. */
		if (ts__is_local(di.rep[i].host) &&
		    ts__ours(di.rep[i].pid, "pvft-hv", di.rep[i].sock) &&
		    !ts__pid_ended(di.rep[i].pid)) {
			pr_err(
			    "%s: replica %s (pid %d) runs but does not answer "
			    "(%s)",
			    name, di.rep[i].node, di.rep[i].pid, err);
			return true;
		}
	}
	ts__stop_monitor(&di);
	ts__stop_arbiter(&di);
	unlink(path);
	return false;
}

int ts__dom_cfg(const struct dom_info *di, struct pvft_cfg *cfg)
{
	char *ovr[DOM_MAX_OVERRIDES], err[1024];
	int i;

	for (i = 0; i < di->nover; i++)
		ovr[i] = (char *)di->ovr[i];
	if (pvft_cfg__load(cfg, di->config, ovr, di->nover, err, sizeof(err)))
		return pr_err("%s: its config: %s", di->name, err), -1;
	return 0;
}

/* ---- programs and command lines --------------------------------------------
 */

int ts__program(const char *prog, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, len, "%s/%s", self, prog) <
				len &&
			    !access(buf, X_OK))
				return 0;
		}
	}
	/* Installed apart: whatever PATH has. */
	snprintf(buf, len, "%s", prog);
	return 0;
}

int ts__shell_quote(char *buf, size_t len, const char *s)
{
	size_t at = strlen(buf);
	const char *p;

	/* Plain words stay plain: the dry run reads as one types it. */
	if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
			    "xyz0123456789@%+=:,./_-") == strlen(s)) {
		if (at + strlen(s) + 1 > len)
			return -1;
		strcpy(buf + at, s);
		return 0;
	}
	if (at + 3 > len)
		return -1;
	buf[at++] = '\'';
	for (p = s; *p; p++) {
		const char *add = *p == '\'' ? "'\\''" : NULL;
		size_t n = add ? 4 : 1;

		if (at + n + 2 > len)
			return -1;
		if (add)
			memcpy(buf + at, add, n);
		else
			buf[at] = *p;
		at += n;
	}
	buf[at++] = '\'';
	buf[at] = '\0';
	return 0;
}

int ts__shell_join(char *buf, size_t len, char *const argv[])
{
	int i;

	buf[0] = '\0';
	for (i = 0; argv[i]; i++) {
		if (i && strlen(buf) + 2 > len)
			return -1;
		if (i)
			strcat(buf, " ");
		if (ts__shell_quote(buf, len, argv[i]))
			return -1;
	}
	return 0;
}

int ts__expand_remote(char *buf, size_t len, const char *tmpl, const char *host,
		      const char *cmd)
{
	size_t at = 0;
	const char *p;

	buf[0] = '\0';
	for (p = tmpl; *p; p++) {
		if (*p == '%' && (p[1] == 'h' || p[1] == 'c')) {
			buf[at] = '\0';
			if (p[1] == 'h' ? ts__shell_quote(buf, len, host)
					: ts__shell_quote(buf, len, cmd))
				return -1;
			at = strlen(buf);
			p++;
			continue;
		}
		if (*p == '%' && p[1] == '%')
			p++;
		if (at + 2 > len)
			return -1;
		buf[at++] = *p;
	}
	buf[at] = '\0';
	return 0;
}

bool ts__is_local(const char *host)
{
	return !*host || !strcmp(host, "localhost");
}

pid_t ts__spawn(const char *host, const char *tmpl, char *const argv[],
		const char *out, const char *err)
{
	char line[16384], cmd[16384];
	int fd[3];
	pid_t pid;

	if (!ts__is_local(host)) {
		if (ts__shell_join(line, sizeof(line), argv) ||
		    ts__expand_remote(cmd, sizeof(cmd), tmpl, host, line))
			return pr_err("the command for %s is too long", host),
			       -1;
	}
	/* Opened here, so that a bad path is said, not a silent exit 127. */
	fd[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fd[1] = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	fd[2] = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd[0] < 0 || fd[1] < 0 || fd[2] < 0) {
		pr_err("%s: %s",
		       fd[0] < 0   ? "/dev/null"
		       : fd[1] < 0 ? out
				   : err,
		       strerror(errno));
		pid = -1;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		pr_err("fork: %s", strerror(errno));
		goto out;
	}
	if (!pid) {
		static const char fail[] = "pvft: cannot run the replica's "
					   "command\n";
		sigset_t none;
		int k;

		/* Async-signal-safe calls only, from here on. */
		setsid();
		for (k = 0; k < 3; k++)
			dup2(fd[k], k); /* dup2 clears FD_CLOEXEC */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (ts__is_local(host))
			execv(argv[0], argv);
		else
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		if (write(2, fail, sizeof(fail) - 1) < 0)
			_exit(127);
		_exit(127);
	}
out:
	for (int k = 0; k < 3; k++)
		if (fd[k] >= 0)
			close(fd[k]);
	return pid;
}

unsigned int ts__free_port(const char *addr)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE },
			*res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	unsigned int port = 0;
	int fd;

	if (getaddrinfo(addr, "0", &hints, &res))
		return 0;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && !bind(fd, res->ai_addr, res->ai_addrlen) &&
	    !getsockname(fd, (struct sockaddr *)&ss, &sl))
		port = ntohs(ss.ss_family == AF_INET6
				 ? ((struct sockaddr_in6 *)&ss)->sin6_port
				 : ((struct sockaddr_in *)&ss)->sin_port);
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return port;
}

/* Is @pid a process we started, still there (not a reused pid)? */
bool ts__ours(int pid, const char *prog, const char *arg)
{
	char path[64], *cmd = malloc(65536), *p;
	bool yes = false;
	FILE *f;
	size_t n;

	if (pid <= 0 || !cmd)
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	f = fopen(path, "r");
	if (!f)
		goto out;
	n = fread(cmd, 1, 65535, f);
	fclose(f);
	cmd[n] = '\0';
	/* argv[0] names @prog and one argument is @arg, exactly. */
	if (!strstr(cmd, prog))
		goto out;
	for (p = cmd + strlen(cmd) + 1; p < cmd + n; p += strlen(p) + 1)
		if (!strcmp(p, arg)) {
			yes = true;
			break;
		}
out:
	free(cmd);
	return yes;
}

void ts__stop_arbiter(const struct dom_info *di)
{
	char dir[PATH_MAX + 16];

	snprintf(dir, sizeof(dir), "%s/arbiter", di->dir);
	if (!di->arbiter_embedded ||
	    !ts__ours(di->arbiter_pid, "pvft-arbiter", dir))
		return;
	kill(di->arbiter_pid, SIGTERM);
	if (!ts__pid_gone(di->arbiter_pid, 5000))
		kill(di->arbiter_pid, SIGKILL);
}

void ts__stop_monitor(const struct dom_info *di)
{
	if (!di->monitor_log[0] ||
	    !ts__ours(di->monitor_pid, "pvft", di->monitor_log))
		return;
	/* SIGTERM: it stops a backup it was starting, then ends. */
	kill(di->monitor_pid, SIGTERM);
	if (!ts__pid_gone(di->monitor_pid, 20000)) {
		pr_warn("the monitor (pid %d) did not end: killing it",
			di->monitor_pid);
		kill(di->monitor_pid, SIGKILL);
		ts__pid_gone(di->monitor_pid, 5000);
	}
}

/* Ended (a zombie nobody reaps has ended too). */
bool ts__pid_ended(int pid)
{
	char path[64], buf[512], *rp;
	FILE *f;
	size_t n;

	if (pid <= 0 || kill(pid, 0))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] == 'Z';
}

bool ts__pid_gone(int pid, uint64_t wait_ms)
{
	uint64_t end = clock__mono_ms() + wait_ms;

	while (!ts__pid_ended(pid) && clock__mono_ms() < end)
		usleep(20000);
	return ts__pid_ended(pid);
}

/* ---- the control socket ----------------------------------------------------
 */

/*
 * One line (without its newline), before @end (clock__mono_ms): 0; -2
 * when none came in time (what came of it stays for the next call); -1
 * at EOF or an error.
 */
static int read_line(struct ctl_conn *c, char *line, size_t cap, uint64_t end)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = { .fd = c->rfd, .events = POLLIN };
		uint64_t now;
		ssize_t r;

		if (nl) {
			size_t n = (size_t)(nl - c->buf);

			if (n >= cap)
				return -1;
			memcpy(line, c->buf, n);
			line[n] = '\0';
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return 0;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		now = clock__mono_ms();
		if (now >= end)
			return -2;
		r = poll(&p, 1, (int)(end - now));
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		r = read(c->rfd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

int ts__connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errno = ENAMETOOLONG, -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int open_proxy(struct ctl_conn *c, const struct dom_replica *r,
		      const char *tmpl)
{
	char self[PATH_MAX], line[PATH_MAX * 2], cmd[PATH_MAX * 3];
	char *argv[] = { self, "proxy", (char *)r->sock, NULL };
	int in[2], out[2];
	pid_t pid;

	ts__program("pvft", self, sizeof(self));
	if (ts__shell_join(line, sizeof(line), argv) ||
	    ts__expand_remote(cmd, sizeof(cmd), tmpl, r->host, line))
		return errno = ENAMETOOLONG, -1;
	if (pipe2(in, O_CLOEXEC))
		return -1;
	if (pipe2(out, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -1;
	}
	if (!pid) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		dup2(in[0], 0);
		dup2(out[1], 1);
		/* Its failures show as "no pvft-hv greeting" to the caller. */
		if (null >= 0 && log__level() < LOG_INFO)
			dup2(null, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->wfd = in[1];
	c->rfd = out[0];
	c->proxy = pid;
	return 0;
}

int ctl__open(struct ctl_conn *c, const struct dom_replica *r, const char *tmpl,
	      int timeout_ms, char *err, size_t errlen)
{
	char line[4096] = "";
	int fd;

	memset(c, 0, sizeof(*c));
	c->rfd = c->wfd = -1;
	/* Here, or reachable here (another namespace of this host). */
	if (ts__is_local(r->host) || !access(r->sock, F_OK)) {
		fd = ts__connect_unix(r->sock);
		if (fd < 0) {
			snprintf(err, errlen, "%s: %s", r->sock,
				 strerror(errno));
			return -1;
		}
		c->rfd = c->wfd = fd;
	} else if (open_proxy(c, r, tmpl)) {
		snprintf(err, errlen, "cannot reach %s on %s: %s", r->sock,
			 r->host, strerror(errno));
		return -1;
	}
	if (read_line(c, line, sizeof(line),
		      clock__mono_ms() + (uint64_t)timeout_ms) ||
	    !strstr(line, "\"pvft\"")) {
		json_object *o = json_tokener_parse(line), *e;

		/* Busy: an error instead of the greeting, saying why. */
		if (o && json_object_object_get_ex(o, "error", &e))
			snprintf(err, errlen, "%s: %s", r->sock,
				 ts__jstr(e, "desc", "refused"));
		else
			snprintf(err, errlen, "%s%s%s: no pvft-hv greeting",
				 r->host, ts__is_local(r->host) ? "" : ":",
				 r->sock);
		json_object_put(o);
		ctl__close(c);
		return -1;
	}
	return 0;
}

void ctl__close(struct ctl_conn *c)
{
	if (c->wfd >= 0 && c->wfd != c->rfd)
		close(c->wfd);
	if (c->rfd >= 0)
		close(c->rfd);
	c->rfd = c->wfd = -1;
	if (c->proxy > 0) {
		kill(c->proxy, SIGTERM);
		waitpid(c->proxy, NULL, 0);
		c->proxy = 0;
	}
}

int ctl__send(struct ctl_conn *c, const char *cmd, json_object *args, char *err,
	      size_t errlen)
{
	json_object *req = json_object_new_object();
	const char *line;
	size_t n;
	int rc = 0;

	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "arguments", json_object_get(args));
	line = json_object_to_json_string_ext(
	    req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = strlen(line);
	if (write(c->wfd, line, n) != (ssize_t)n ||
	    write(c->wfd, "\n", 1) != 1) {
		snprintf(err, errlen, "cannot send %s: %s", cmd,
			 strerror(errno));
		rc = -1;
	}
	json_object_put(req);
	return rc;
}

int ctl__reply(struct ctl_conn *c, int timeout_ms, json_object **ret, char *err,
	       size_t errlen, char *cls, size_t clslen)
{
	char *line = malloc(sizeof(c->buf));
	json_object *o = NULL, *v, *e;
	/* One deadline for the answer, however many lines come first. */
	uint64_t end = clock__mono_ms() + (uint64_t)timeout_ms;
	int rc = -1;

	*ret = NULL;
	if (clslen)
		cls[0] = '\0';
	if (!line) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		int r = read_line(c, line, sizeof(c->buf), end);

		if (r) {
			/* Nothing yet is no failure; a closed socket is. */
			if (r == -2)
				rc = 0;
			else
				snprintf(err, errlen,
					 "no answer: the "
					 "connection closed");
			goto out;
		}
		json_object_put(o);
		o = json_tokener_parse(line);
		if (!o) {
			snprintf(err, errlen, "a bad answer (not JSON)");
			goto out;
		}
		if (json_object_object_get_ex(o, "return", &v)) {
			/* Every command the CLI asks answers an object. */
			if (!json_object_is_type(v, json_type_object)) {
				snprintf(err, errlen,
					 "a bad answer: not an object");
				goto out;
			}
			*ret = json_object_get(v);
			rc = 1;
			goto out;
		}
		if (json_object_object_get_ex(o, "error", &e)) {
			snprintf(err, errlen, "%s", ts__jstr(e, "desc", "?"));
			if (clslen)
				snprintf(cls, clslen, "%s",
					 ts__jstr(e, "class", ""));
			goto out;
		}
		/* Anything else (an event) is not the answer. */
	}
out:
	json_object_put(o);
	free(line);
	return rc;
}

json_object *ctl__call(struct ctl_conn *c, const char *cmd, int timeout_ms,
		       char *err, size_t errlen)
{
	json_object *ret;
	char cls[64];
	int r;

	if (ctl__send(c, cmd, NULL, err, errlen))
		return NULL;
	r = ctl__reply(c, timeout_ms, &ret, err, errlen, cls, sizeof(cls));
	if (!r)
		snprintf(err, errlen, "no answer to %s", cmd);
	return r > 0 ? ret : NULL;
}

json_object *ts__replica_status(const struct dom_info *di, int i,
				int timeout_ms, char *err, size_t errlen)
{
	struct ctl_conn c;
	json_object *st;

	if (ctl__open(&c, &di->rep[i], di->remote, timeout_ms, err, errlen))
		return NULL;
	st = ctl__call(&c, "query-status", timeout_ms, err, errlen);
	ctl__close(&c);
	return st;
}

bool ts__paired(const char *state)
{
	return !strcmp(state, "protected") || !strcmp(state, "held");
}

const char *ts__jstr(json_object *o, const char *key, const char *def)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return def;
	return json_object_get_string(v);
}

double ts__jnum(json_object *o, const char *key, double def)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !(json_object_is_type(v, json_type_int) ||
	      json_object_is_type(v, json_type_double)))
		return def;
	return json_object_get_double(v);
}

bool ts__migration_line(json_object *st, char *buf, size_t len)
{
	json_object *m = NULL;
	const char *state, *kind;
	bool save, join;
	size_t at;

	if (!st || !json_object_object_get_ex(st, "migration", &m) ||
	    !json_object_is_type(m, json_type_object))
		return false;
	state = ts__jstr(m, "state", "none");
	kind = ts__jstr(m, "kind", "migrate");
	save = !strcmp(kind, "save");
	join = !strcmp(kind, "reprotect");
	if (!strcmp(state, "none"))
		return false;
	if (!strcmp(state, "active") || !strcmp(state, "stopping")) {
		snprintf(buf, len, "%s%s",
			 join	? "joining a backup"
			 : save ? "saving"
				: "migrating",
			 !strcmp(state, "stopping") ? " (stopping)" : "");
		at = strlen(buf);
		if (ts__jnum(m, "round", -1) >= 0)
			at += (size_t)snprintf(buf + at, len - at,
					       "%s round %.0f", ":",
					       ts__jnum(m, "round", 0));
		if (at < len && ts__jnum(m, "pages_left", -1) >= 0)
			at += (size_t)snprintf(buf + at, len - at,
					       ", %.0f pages left",
					       ts__jnum(m, "pages_left", 0));
		if (at < len && ts__jnum(m, "mbit_s", -1) >= 0)
			at +=
			    (size_t)snprintf(buf + at, len - at, ", %.0f MB/s",
					     ts__jnum(m, "mbit_s", 0) / 8);
		if (at < len && ts__jnum(m, "est_pause_ms", -1) >= 0)
			snprintf(buf + at, len - at, ", est pause %.0f ms",
				 ts__jnum(m, "est_pause_ms", 0));
	} else if (!strcmp(state, "completed")) {
		snprintf(buf, len, "%s in %.0f ms (pause %.1f ms)",
			 join	? "backup's checkpoint sent"
			 : save ? "saved"
				: "migrated",
			 ts__jnum(m, "total_ms", 0),
			 ts__jnum(m, "pause_ms", 0));
	} else if (!strcmp(state, "failed")) {
		snprintf(buf, len, "%s failed: %s",
			 join	? "re-protection"
			 : save ? "save"
				: "migration",
			 ts__jstr(m, "error", "(no reason given)"));
	} else if (!strcmp(state, "incoming")) {
		snprintf(buf, len, "incoming migration: %.0f bytes received",
			 ts__jnum(m, "bytes", 0));
	} else {
		snprintf(buf, len, "migration %s", state);
	}
	return true;
}

/*
 * Has the process we started ended? Says how, once, and forgets its pid
 * (reaped: the number may soon be another process's).
 */
bool ts__ended(pid_t *pidp, const char *what, const char *log)
{
	int st;

	if (*pidp <= 0 || waitpid(*pidp, &st, WNOHANG) != *pidp)
		return false;
	*pidp = 0;
	if (WIFEXITED(st))
		pr_err("%s exited with status %d; its log (%s) ends:", what,
		       WEXITSTATUS(st), log);
	else
		pr_err("%s was killed by signal %d; its log (%s) ends:", what,
		       WTERMSIG(st), log);
	ts__show_tail(log);
	return true;
}
