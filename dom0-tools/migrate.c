// SPDX-License-Identifier: MIT
/*
 * pvft save, restore and migrate, in the manner of xl's: a running
 * domain's pvft-hv writes its state as a migration stream
 * (lib/migstream.h) to a file, or sends it to a pvft-hv started with
 * --incoming on another host; pvft restore starts a pvft-hv that reads
 * one back. The stream carries the domain's config (its CONFIG record:
 * what this file hands pvft-hv as "config"), so that a save file alone
 * is enough to restore. Documentation/operations.md, "Save, restore and
 * migrate"; the control calls in Documentation/control-protocol.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hostport.h"
#include "log.h"
#include "migstream.h"
#include "pvft.h"
#include "rundir.h"
#include "tls.h"
#include "toolstack.h"

#define STATUS_TIMEOUT_MS 2000
/* How often the progress line asks query-status (a second connection). */
#define PROGRESS_MS 200
/* How long a destination may take to listen, a restore to run. */
#define INCOMING_TIMEOUT_S 30
#define RESTORE_TIMEOUT_S 600

/*
 * The lines of a saved config that are settings, not the file's own text:
 * create's KEY=VALUE overrides and the paths as create resolved them.
 * Comments to the config's parser, so the text stays a config file.
 */
#define SET_MARK "#pvft-set "

/* ---- the config a stream carries -------------------------------------- */

/* @s as an xl string: "...", with \ and " escaped. -1: no room. */
static int xl_quote(char *buf, size_t len, const char *s)
{
	size_t at = 0;

	if (len < 3)
		return -1;
	buf[at++] = '"';
	for (; *s; s++) {
		if (at + 4 > len)
			return -1;
		if (*s == '"' || *s == '\\')
			buf[at++] = '\\';
		buf[at++] = *s;
	}
	buf[at++] = '"';
	buf[at] = '\0';
	return 0;
}

/* The keys config_text sets to absolute paths. */
static const char *const path_keys[] = {
	"kernel",	   "ft_key",	     "ft_tls_ca",
	"ft_tls_cert",	   "ft_tls_key",     "ft_arbiter_ca",
	"ft_arbiter_cert", "ft_arbiter_key", "ft_arbiter_password_file",
};

/* Does the override @ovr ("KEY=VALUE", "KEY = VALUE") set one of them? */
static bool is_path_key(const char *ovr)
{
	size_t i, n = strcspn(ovr, " \t=");

	for (i = 0; i < sizeof(path_keys) / sizeof(path_keys[0]); i++)
		if (strlen(path_keys[i]) == n && !strncmp(ovr, path_keys[i], n))
			return true;
	return false;
}

static void set_path(FILE *f, const char *key, const char *path)
{
	char q[PATH_MAX * 2 + 3];

	if (path[0] && !xl_quote(q, sizeof(q), path))
		fprintf(f, SET_MARK "%s=%s\n", key, q);
}

/*
 * The text pvft-hv keeps in the stream's CONFIG record: @di's config file
 * as it is (earlier SET_MARK lines left out), then create's overrides and
 * every path made absolute, as SET_MARK lines. NULL after saying why.
 */
char *ts__config_text(const struct dom_info *di, const struct pvft_cfg *cfg)
{
	char *text = NULL, line[4096];
	size_t len = 0;
	bool nl = true;
	FILE *in, *out;
	int i;

	in = fopen(di->config, "re");
	if (!in)
		return pr_err("%s: its config %s: %s", di->name, di->config,
			      strerror(errno)),
		       NULL;
	out = open_memstream(&text, &len);
	if (!out) {
		fclose(in);
		return pr_err("out of memory"), NULL;
	}
	while (fgets(line, sizeof(line), in)) {
		size_t n = strlen(line); /* 0 for a line that starts with NUL */

		if (nl && !strncmp(line, SET_MARK, strlen(SET_MARK))) {
			nl = n && line[n - 1] == '\n';
			continue;
		}
		nl = n && line[n - 1] == '\n';
		fputs(line, out);
	}
	fclose(in);
	if (!nl)
		fputc('\n', out);
	fprintf(out, "# pvft: the settings of pvft create's command line, "
		     "and the paths as it resolved them\n");
	/* A path set below replaces an earlier save's: no pile of them. */
	for (i = 0; i < di->nover; i++)
		if (!strchr(di->ovr[i], '\n') && !is_path_key(di->ovr[i]))
			fprintf(out, SET_MARK "%s\n", di->ovr[i]);
	set_path(out, "kernel", cfg->kernel);
	if (!cfg->key_auto)
		set_path(out, "ft_key", cfg->key);
	set_path(out, "ft_tls_ca", cfg->tls_ca);
	set_path(out, "ft_tls_cert", cfg->tls_cert);
	set_path(out, "ft_tls_key", cfg->tls_key);
	set_path(out, "ft_arbiter_ca", cfg->arbiter_ca);
	set_path(out, "ft_arbiter_cert", cfg->arbiter_cert);
	set_path(out, "ft_arbiter_key", cfg->arbiter_key);
	set_path(out, "ft_arbiter_password_file", cfg->arbiter_password_file);
	if (fclose(out)) {
		free(text);
		return pr_err("out of memory"), NULL;
	}
	return text;
}

/* The SET_MARK lines of @text into @di's overrides. */
static int config_overrides(const char *text, struct dom_info *di)
{
	const char *p = text;

	di->nover = 0;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);

		if (n > strlen(SET_MARK) &&
		    !strncmp(p, SET_MARK, strlen(SET_MARK))) {
			n -= strlen(SET_MARK);
			if (di->nover == DOM_MAX_OVERRIDES ||
			    n >= sizeof(di->ovr[0]))
				return -1;
			snprintf(di->ovr[di->nover++], sizeof(di->ovr[0]),
				 "%.*s", (int)n, p + strlen(SET_MARK));
		}
		p = eol ? eol + 1 : NULL;
	}
	return 0;
}

/* ---- reading a save file ----------------------------------------------- */

static int read_full(int fd, void *buf, size_t len, size_t *got_r)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (!r)
			break;
		got += (size_t)r;
	}
	*got_r = got;
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * Is @path a pvft save file: a migration stream's header without the
 * live flag, records that decode, an END? Only CONFIG's body is read (and
 * its checksum checked); the others are stepped over. *@cfg_r: CONFIG's
 * text (NUL-terminated, the caller's), or NULL when the stream has none.
 * 0, or -1 after saying why.
 */
static int read_save_file(const char *path, char **cfg_r)
{
	uint8_t head[MIGSTREAM_REC_HDR_SIZE];
	char why[512] = "";
	struct migstream_rec rec;
	uint32_t flags;
	uint64_t at = 0;
	struct stat sb;
	size_t got;
	int fd, e, rc = -1;

	*cfg_r = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pr_err("%s: %s", path, strerror(errno)), -1;
	if (fstat(fd, &sb)) {
		pr_err("%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		pr_err("%s: not a pvft save file (not a regular file)", path);
		goto out;
	}
	_Static_assert(MIGSTREAM_HEADER_SIZE <= sizeof(head), "one buffer");
	if (read_full(fd, head, MIGSTREAM_HEADER_SIZE, &got)) {
		pr_err("%s: %s", path, strerror(errno));
		goto out;
	}
	e = migstream__decode_header(head, got, &flags, why, sizeof(why));
	if (e == -EAGAIN) {
		pr_err("%s: not a pvft save file (%zu bytes: shorter than a "
		       "stream's header)",
		       path, got);
		goto out;
	}
	if (e) {
		pr_err("%s: not a pvft save file: %s", path, why);
		goto out;
	}
	if (flags & MIGSTREAM_F_LIVE) {
		pr_err("%s: a live migration's stream, not a save file", path);
		goto out;
	}
	at = MIGSTREAM_HEADER_SIZE;
	for (;;) {
		uint32_t type;

		if (read_full(fd, head, sizeof(head), &got)) {
			pr_err("%s: %s", path, strerror(errno));
			goto out;
		}
		if (got < sizeof(head)) {
			pr_err("%s: truncated after %llu bytes: no END record "
			       "(a save cut short?)",
			       path, (unsigned long long)(at + got));
			goto out;
		}
		type = le32(head);
		e = migstream__decode(head, sizeof(head), &rec, why,
				      sizeof(why));
		if (e == -EAGAIN && rec.size > sizeof(head) &&
		    type == MIGSTREAM_CONFIG && !*cfg_r) {
			uint8_t *buf = malloc(rec.size);
			char *text;

			if (!buf) {
				pr_err("out of memory");
				goto out;
			}
			memcpy(buf, head, sizeof(head));
			if (read_full(fd, buf + sizeof(head),
				      rec.size - sizeof(head), &got) ||
			    got < rec.size - sizeof(head)) {
				free(buf);
				pr_err("%s: truncated in its CONFIG record "
				       "(at byte %llu)",
				       path, (unsigned long long)at);
				goto out;
			}
			e = migstream__decode(buf, rec.size, &rec, why,
					      sizeof(why));
			text = e ? NULL : malloc((size_t)rec.len + 1);
			if (text) {
				memcpy(text, rec.body, rec.len);
				text[rec.len] = '\0';
				*cfg_r = text;
			}
			free(buf);
			if (!e && !text) {
				pr_err("out of memory");
				goto out;
			}
		} else if (e == -EAGAIN && rec.size > sizeof(head)) {
			/* Pages and state: stepped over, not read. */
			if (at + rec.size > (uint64_t)sb.st_size) {
				pr_err("%s: truncated in a %s record (at byte "
				       "%llu): no END record (a save cut "
				       "short?)",
				       path, migstream__type_name(type),
				       (unsigned long long)at);
				goto out;
			}
			if (lseek(fd, (off_t)(at + rec.size), SEEK_SET) < 0) {
				pr_err("%s: %s", path, strerror(errno));
				goto out;
			}
			e = 0;
		}
		if (e) {
			pr_err("%s: not a usable pvft save file: at byte %llu: "
			       "%s",
			       path, (unsigned long long)at,
			       why[0] ? why : strerror(-e));
			goto out;
		}
		at += rec.size;
		if (type == MIGSTREAM_END)
			break;
	}
	rc = 0;
out:
	if (rc) {
		free(*cfg_r);
		*cfg_r = NULL;
	}
	close(fd);
	return rc;
}

/* ---- the control call and its progress ---------------------------------- */

/*
 * Ask replica @i of @di for @cmd (save, migrate) with @args, and wait for
 * its one reply. Meanwhile, on a terminal, a progress line from
 * query-status on a second connection, every PROGRESS_MS. 1 and *@ret_r,
 * or -1 after saying why (-2: DomainEnded, the domain ended meanwhile).
 */
static int call_with_progress(const struct dom_info *di, int i, const char *cmd,
			      json_object *args, json_object **ret_r)
{
	const struct dom_replica *r = &di->rep[i];
	bool tty = isatty(STDERR_FILENO), shown = false;
	char err[512], cls[64], line[256];
	struct ctl_conn c;
	int rc;

	*ret_r = NULL;
	if (ctl__open(&c, r, di->remote, STATUS_TIMEOUT_MS, err, sizeof(err)))
		return pr_err("%s: %s", r->node, err), -1;
	if (ctl__send(&c, cmd, args, err, sizeof(err))) {
		ctl__close(&c);
		return pr_err("%s: %s", r->node, err), -1;
	}
	/* No deadline: pvft-hv answers when done, or the socket closes. */
	while (!(rc = ctl__reply(&c, PROGRESS_MS, ret_r, err, sizeof(err), cls,
				 sizeof(cls)))) {
		json_object *st;

		if (!tty)
			continue;
		st = ts__replica_status(di, i, 1000, line, sizeof(line));
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
	if (!strcmp(cls, "MigrationActive"))
		pr_err("%s: a save or migration is under way already (pvft "
		       "status %s): %s",
		       r->node, di->name, err);
	else
		pr_err("%s: %s failed: %s", r->node, cmd, err);
	return strcmp(cls, "DomainEnded") ? -1 : -2;
}

/* The reply's figures, one line on stdout. */
static void summary(const char *what, json_object *ret)
{
	printf("%s in %.2f s: %.0f pages (%.0f zero), %.1f MiB, %.0f "
	       "round%s, paused %.1f ms, %.0f MB/s\n",
	       what, ts__jnum(ret, "total_ms", 0) / 1000,
	       ts__jnum(ret, "pages", 0), ts__jnum(ret, "zero_pages", 0),
	       ts__jnum(ret, "bytes", 0) / (1024.0 * 1024.0),
	       ts__jnum(ret, "rounds", 0),
	       ts__jnum(ret, "rounds", 0) == 1 ? "" : "s",
	       ts__jnum(ret, "pause_ms", 0),
	       /* The whole stream's rate, zero pages' flags included. */
	       ts__jnum(ret, "total_ms", 0) > 0
		   ? ts__jnum(ret, "bytes", 0) / 1e3 /
			 ts__jnum(ret, "total_ms", 0)
		   : 0.0);
}

/* {"file":...} with "config" shown by its size: the dry run's line. */
void ts__print_call(const char *sock, const char *cmd, json_object *args,
		    size_t config_len)
{
	json_object *req = json_object_new_object(), *a = NULL;
	char shown[64];

	if (json_object_deep_copy(args, &a, NULL))
		a = json_object_new_object();
	snprintf(shown, sizeof(shown), "(%zu bytes: the domain's config)",
		 config_len);
	json_object_object_add(a, "config", json_object_new_string(shown));
	json_object_object_add(req, "execute", json_object_new_string(cmd));
	json_object_object_add(req, "arguments", a);
	printf(
	    "  control  %s %s\n", sock,
	    json_object_to_json_string_ext(
		req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(req);
}

/* ---- which replica ------------------------------------------------------ */

/* Each replica's status, or NULL where it does not answer. */
void ts__statuses(const struct dom_info *di, json_object *st[2])
{
	char err[256];
	int i;

	for (i = 0; i < 2; i++)
		st[i] = i < di->nr
			    ? ts__replica_status(di, i, STATUS_TIMEOUT_MS, err,
						 sizeof(err))
			    : NULL;
}

bool ts__is_live(json_object *st)
{
	const char *s = ts__jstr(st, "state", "");

	return st && strcmp(s, "fenced") && strcmp(s, "handed-over") &&
	       strcmp(s, "ended");
}

/*
 * The replica a save takes: a single domain's, or a pair's primary that
 * runs alone (its backup gone: unprotected). A pair that is whole is
 * refused: the backup would have no stream to follow. -1 after saying why.
 */
static int save_source(const struct dom_info *di, json_object *st[2])
{
	int i, p = -1;

	for (i = 0; i < di->nr; i++) {
		const char *role = ts__jstr(st[i], "role", "");

		if (ts__is_live(st[i]) &&
		    (!strcmp(role, "single") || !strcmp(role, "primary")))
			p = i;
	}
	if (p < 0)
		return pr_err("%s: no replica answers (see pvft status %s)",
			      di->name, di->name),
		       -1;
	for (i = 0; i < di->nr; i++)
		if (i != p && ts__is_live(st[i]))
			return pr_err("%s: save of a pair: not supported yet; "
				      "pvft migrate moves a replica",
				      di->name),
			       -1;
	if (strcmp(ts__jstr(st[p], "role", ""), "single") &&
	    strcmp(ts__jstr(st[p], "state", ""), "unprotected"))
		return pr_err("%s: save of a pair: not supported yet; pvft "
			      "migrate moves a replica (%s is %s)",
			      di->name, di->rep[p].node,
			      ts__jstr(st[p], "state", "?")),
		       -1;
	return p;
}

/* ---- save ----------------------------------------------------------------
 */

/* @file as an absolute path (its directory need not be this host's). */
static int abs_path(char *buf, size_t len, const char *file)
{
	char cwd[PATH_MAX];

	if (file[0] == '/')
		return (size_t)snprintf(buf, len, "%s", file) < len ? 0 : -1;
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	return (size_t)snprintf(buf, len, "%s/%s", cwd, file) < len ? 0 : -1;
}

/* Until replica @r has ended (its socket gone, or its process). */
/* Has the replica ended (10 s at most)? false: it still answers. */
static bool wait_ended(const struct dom_info *di, const struct dom_replica *r)
{
	uint64_t end = clock__mono_ms() + 10000;

	while (clock__mono_ms() < end) {
		char err[128];
		json_object *st;

		if (ts__is_local(r->host) && ts__pid_ended(r->pid))
			return true;
		if (ts__is_local(r->host) && access(r->sock, F_OK))
			return true;
		st = ts__replica_status(di, (int)(r - di->rep), 500, err,
					sizeof(err));
		if (!st)
			return true;
		json_object_put(st);
		usleep(50000);
	}
	return false;
}

int main_save(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "checkpoint", no_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		PVFT_COMMON_LONG_OPTS,
	};
	static struct pvft_cfg cfg;
	static struct dom_info di;
	json_object *st[2] = { NULL, NULL }, *args = NULL, *ret = NULL;
	bool keep = false, force = false, stopped;
	char file[PATH_MAX], path[PATH_MAX + 16], head[PATH_MAX + 128];
	char *text = NULL;
	int opt, i, src, rc = PVFT_EXIT_FAILED;

	PVFT_FOREACH_OPT(opt, "cf", opts, "save", 2)
	{
	case 'c':
		keep = true;
		break;
	case 'f':
		force = true;
		break;
	}
	if (argc - optind > 2) {
		pr_err("too many arguments");
		pvft__usage_error("save");
		return PVFT_EXIT_USAGE;
	}
	if (abs_path(file, sizeof(file), argv[optind + 1])) {
		pr_err("%s: path too long", argv[optind + 1]);
		return PVFT_EXIT_USAGE;
	}
	if (ts__dom_load(argv[optind], &di))
		return PVFT_EXIT_FAILED;
	ts__statuses(&di, st);
	src = save_source(&di, st);
	if (src < 0)
		goto out;
	/* pvft-hv writes FILE: on its own host. Here, it can be looked at. */
	if (ts__is_local(di.rep[src].host) && !force && !access(file, F_OK)) {
		pr_err("%s exists: -f overwrites it", file);
		goto out;
	}
	if (ts__dom_cfg(&di, &cfg)) {
		rc = PVFT_EXIT_CONFIG;
		goto out;
	}
	text = ts__config_text(&di, &cfg);
	if (!text)
		goto out;
	args = json_object_new_object();
	json_object_object_add(args, "file", json_object_new_string(file));
	json_object_object_add(args, "keep_running",
			       json_object_new_boolean(keep));
	json_object_object_add(args, "config", json_object_new_string(text));
	if (pvft_dry_run) {
		printf("pvft save %s: dry run, nothing is saved\n", di.name);
		printf("  source   %s (%s) on %s\n", di.rep[src].node,
		       ts__jstr(st[src], "role", "?"), di.rep[src].host);
		ts__print_call(di.rep[src].sock, "save", args, strlen(text));
		rc = PVFT_EXIT_OK;
		goto out;
	}
	i = call_with_progress(&di, src, "save", args, &ret);
	if (i < 0) {
		fprintf(stderr, "pvft save: %s %s; not saved%s%s\n", di.name,
			i == -2 ? "has ended" : "keeps running",
			access(file, F_OK) ? "" : ": do not restore ",
			access(file, F_OK) ? "" : file);
		goto out;
	}
	snprintf(head, sizeof(head), "%s: saved to %s", di.name, file);
	summary(head, ret);
	stopped =
	    json_object_get_boolean(json_object_object_get(ret, "stopped"));
	if (!stopped) {
		printf("%s: runs on (%s)\n", di.name,
		       keep ? "-c" : "pvft-hv did not stop it");
		rc = PVFT_EXIT_OK;
		goto out;
	}
	/* It ended as xl save's domain does: the registry with it. */
	for (i = 0; i < di.nr; i++) {
		if (wait_ended(&di, &di.rep[i]))
			continue;
		pr_err("%s: %s still answers 10 s after its save: kept in "
		       "pvft list (pvft destroy ends it)",
		       di.name, di.rep[i].node);
		rc = PVFT_EXIT_FAILED;
		goto out;
	}
	ts__stop_arbiter(&di);
	snprintf(path, sizeof(path), "%s/domain.json", di.dir);
	unlink(path);
	printf("%s: stopped; pvft restore %s starts it again\n", di.name, file);
	rc = PVFT_EXIT_OK;
out:
	json_object_put(ret);
	json_object_put(args);
	for (i = 0; i < 2; i++)
		json_object_put(st[i]);
	free(text);
	return rc;
}

/* ---- processes we start ----------------------------------------------------
 */

/*
 * Stop a replica we started and that has not taken over anything: asked
 * to quit through its control socket (on another host, the only way),
 * then what runs here (its session: pvft-hv, or ft_remote's sh and ssh)
 * ended by its PID.
 */
void ts__stop_started(const struct dom_info *di, struct dom_replica *r)
{
	char err[256];
	struct ctl_conn c;
	int k;

	if (!ctl__open(&c, r, di->remote, 1000, err, sizeof(err))) {
		json_object_put(ctl__call(&c, "quit", 1000, err, sizeof(err)));
		ctl__close(&c);
	}
	if (r->pid <= 0)
		return;
	if (kill(-r->pid, SIGTERM)) /* not its own group yet */
		kill(r->pid, SIGTERM);
	for (k = 0; k < 100 && waitpid(r->pid, NULL, WNOHANG) == 0; k++)
		usleep(20000);
	if (k == 100) {
		if (kill(-r->pid, SIGKILL))
			kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
	}
	if (ts__is_local(r->host))
		unlink(r->sock);
	r->pid = 0;
}

/* Replica @r's files in @dir, named @base (its node, or NODE.mig). */
int ts__replica_files(struct dom_replica *r, const char *dir, const char *base)
{
	if ((size_t)snprintf(r->sock, sizeof(r->sock), "%s/%s.sock", dir,
			     base) >= sizeof(r->sock) ||
	    (size_t)snprintf(r->log, sizeof(r->log), "%s/%s.log", dir, base) >=
		sizeof(r->log) ||
	    (size_t)snprintf(r->console, sizeof(r->console), "%s/%s.console",
			     dir, base) >= sizeof(r->console))
		return pr_err("%s/%s: path too long", dir, base), -1;
	return 0;
}

/* One pvft command of a domain's name at a time (create's lock). */
int ts__lock_dom(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB)) {
		pr_err("%s: %s", dir,
		       fd < 0 || errno != EWOULDBLOCK
			   ? strerror(errno)
			   : "another pvft command of this name is under way");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* ---- restore -------------------------------------------------------------
 */

/* @text to a new file @path (0600). 0, or -1 after saying why. */
static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t n = strlen(text);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n) {
		pr_err("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return close(fd);
}

/*
 * The config of a restore: @cfg_path, or the text the save file carries
 * (parsed from a file of its own: in the domain's directory once its name
 * is known, meanwhile a temporary one). @di gets the config's path and
 * overrides. 0, or PVFT_EXIT_CONFIG / FAILED after saying why.
 */
static int restore_cfg(const char *cfg_path, const char *file, const char *text,
		       struct pvft_cfg *cfg, struct dom_info *di)
{
	char tmp[] = "/tmp/pvft-restore-XXXXXX", err[1024];
	char *ovr[DOM_MAX_OVERRIDES];
	int fd, i, rc = PVFT_EXIT_CONFIG;

	if (cfg_path) {
		if (pvft_cfg__load(cfg, cfg_path, NULL, 0, err, sizeof(err)))
			return pr_err("%s", err), PVFT_EXIT_CONFIG;
		if (!realpath(cfg->path, di->config))
			snprintf(di->config, sizeof(di->config), "%s",
				 cfg->path);
		return 0;
	}
	if (config_overrides(text, di))
		return pr_err("%s: its config has too many settings", file),
		       PVFT_EXIT_CONFIG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return pr_err("%s: %s", tmp, strerror(errno)), PVFT_EXIT_FAILED;
	close(fd);
	if (write_text(tmp, text)) {
		unlink(tmp);
		return PVFT_EXIT_FAILED;
	}
	for (i = 0; i < di->nover; i++)
		ovr[i] = di->ovr[i];
	if (pvft_cfg__load(cfg, tmp, ovr, di->nover, err, sizeof(err)))
		pr_err("%s: the config it holds: %s", file, err);
	else
		rc = 0;
	unlink(tmp);
	return rc;
}

/* Until replica 0 of @di runs (a restore), or it ended. 0 or -1. */
/*
 * The moved backup @i: until the primary has resumed its stream there
 * (protected, or held: output waiting on it), as create returns once a
 * pair is protected. 0, or -1 after saying what it is instead.
 */
static int wait_protected(struct dom_info *di, int i)
{
	uint64_t end = clock__mono_ms() + INCOMING_TIMEOUT_S * 1000ull;
	char err[512] = "", state[64] = "";

	while (clock__mono_ms() < end) {
		json_object *st =
		    ts__replica_status(di, i, 1000, err, sizeof(err));

		snprintf(state, sizeof(state), "%s",
			 st ? ts__jstr(st, "state", "") : "");
		json_object_put(st);
		if (!strcmp(state, "protected") || !strcmp(state, "held")) {
			printf("%s: protected again (%s replays for %s)\n",
			       di->name, di->rep[i].node, di->rep[1 - i].node);
			return 0;
		}
		if (!strcmp(state, "fenced") || !strcmp(state, "ended"))
			break;
		usleep(PROGRESS_MS * 1000);
	}
	pr_err("%s: the moved backup %s is %s, not protected, after %d s%s%s",
	       di->name, di->rep[i].node, state[0] ? state : "not answering",
	       INCOMING_TIMEOUT_S, err[0] ? ": " : "", err);
	return -1;
}

static int wait_running(struct dom_info *di, bool quiet)
{
	struct dom_replica *r = &di->rep[0];
	uint64_t end = clock__mono_ms() + RESTORE_TIMEOUT_S * 1000ull;
	bool tty = isatty(STDERR_FILENO) && !quiet, shown = false;
	char err[512] = "", line[256];

	while (clock__mono_ms() < end) {
		json_object *st;

		if (ts__ended(&r->pid, "pvft-hv", r->log))
			break;
		st = ts__replica_status(di, 0, 1000, err, sizeof(err));
		if (st && !strcmp(ts__jstr(st, "state", ""), "running")) {
			json_object_put(st);
			if (shown)
				fprintf(stderr, "\r\033[K");
			return 0;
		}
		if (tty && ts__migration_line(st, line, sizeof(line))) {
			fprintf(stderr, "\r%s: %s\033[K", r->node, line);
			shown = true;
		}
		json_object_put(st);
		usleep(PROGRESS_MS * 1000);
	}
	if (shown)
		fprintf(stderr, "\r\033[K");
	if (r->pid > 0) {
		pr_err("%s: not running after %d s (%s); its log (%s) ends:",
		       r->node, RESTORE_TIMEOUT_S, err, r->log);
		ts__show_tail(r->log);
	}
	return -1;
}

int main_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		PVFT_COMMON_LONG_OPTS,
	};
	static struct pvft_cfg cfg;
	static struct dom_info di;
	static struct argv_buf a;
	struct dom_replica *r = &di.rep[0];
	const char *cfg_path = NULL;
	char file[PATH_MAX], hv[PATH_MAX], path[PATH_MAX + 32], run[PATH_MAX];
	char *text = NULL;
	bool quiet = false;
	int opt, e, lock_fd = -1, rc = PVFT_EXIT_FAILED;

	PVFT_FOREACH_OPT(opt, "q", opts, "restore", 1)
	{
	case 'q':
		quiet = true;
		break;
	}
	if (argc - optind > 2) {
		pr_err("too many arguments");
		pvft__usage_error("restore");
		return PVFT_EXIT_USAGE;
	}
	if (argc - optind == 2)
		cfg_path = argv[optind];
	/* Before anything starts: FILE is a save file, whole. */
	if (read_save_file(argv[argc - 1], &text))
		return PVFT_EXIT_FAILED;
	if (!cfg_path && !text) {
		pr_err("%s: holds no config: give the domain's (pvft restore "
		       "CFG %s)",
		       argv[argc - 1], argv[argc - 1]);
		return PVFT_EXIT_FAILED;
	}
	if (!realpath(argv[argc - 1], file)) {
		pr_err("%s: %s", argv[argc - 1], strerror(errno));
		goto out;
	}
	rc = restore_cfg(cfg_path, file, text, &cfg, &di);
	if (rc)
		goto out;
	rc = PVFT_EXIT_FAILED;
	/* Unreplicated, here: pvft protect gives it a backup later. */
	snprintf(di.name, sizeof(di.name), "%s", cfg.name);
	snprintf(di.remote, sizeof(di.remote), "%s", cfg.remote);
	if (ts__dom_dir(cfg.name, di.dir, sizeof(di.dir)))
		goto out;
	di.nr = 1;
	snprintf(r->started_as, sizeof(r->started_as), "single");
	snprintf(r->host, sizeof(r->host), "localhost");
	snprintf(r->node, sizeof(r->node), "%s", cfg.name);
	if (ts__replica_files(r, di.dir, r->node))
		goto out;
	ts__program("pvft-hv", hv, sizeof(hv));
	ts__arg(&a, "%s", hv);
	ts__arg(&a, "--control");
	ts__arg(&a, "%s", r->sock);
	ts__arg(&a, "--no-stdin");
	ts__guest_args(&a, &cfg);
	ts__arg(&a, "--restore");
	ts__arg(&a, "%s", file);
	ts__arg(&a, "%s", cfg.kernel);
	if (a.overflow) {
		pr_err("%s: the pvft-hv command line is too long", cfg.name);
		goto out;
	}
	if (pvft_dry_run) {
		printf("pvft restore %s: dry run, nothing is started\n",
		       di.name);
		printf("  config   %s\n",
		       cfg_path ? di.config : "(the one the save file holds)");
		printf("  state    %s\n", di.dir);
		ts__print_cmd("single", "localhost", "", a.v);
		rc = PVFT_EXIT_OK;
		goto out;
	}
	if (ts__run_dir(run, sizeof(run), true))
		goto out;
	e = pvft__make_private_dir(di.dir);
	if (e) {
		pr_err("%s: %s", di.dir, strerror(-e));
		goto out;
	}
	lock_fd = ts__lock_dom(di.dir);
	if (lock_fd < 0)
		goto out;
	if (ts__dom_running(cfg.name)) {
		pr_err("a domain '%s' is running (pvft list); destroy it "
		       "first",
		       cfg.name);
		goto out;
	}
	/* The config it holds: kept, for pvft status and the next save. */
	if (!cfg_path) {
		if ((size_t)snprintf(di.config, sizeof(di.config),
				     "%s/restored.cfg",
				     di.dir) >= sizeof(di.config)) {
			pr_err("%s: path too long", di.dir);
			goto out;
		}
		if (write_text(di.config, text))
			goto out;
	}
	if (!quiet)
		fprintf(stderr, "pvft restore %s: %s\n", di.name, file);
	di.created = (double)time(NULL);
	ts__keep_previous(r->log);
	ts__keep_previous(r->console);
	r->pid = ts__spawn("localhost", "", a.v, r->console, r->log);
	if (r->pid < 0)
		goto out;
	if (ts__dom_save(&di) || wait_running(&di, quiet)) {
		ts__stop_started(&di, r);
		snprintf(path, sizeof(path), "%s/domain.json", di.dir);
		unlink(path);
		fprintf(stderr,
			"pvft restore: %s: nothing left running; logs "
			"in %s\n",
			di.name, di.dir);
		goto out;
	}
	if (!quiet)
		fprintf(stderr, "%s: running (restored; not replicated)\n",
			di.name);
	rc = PVFT_EXIT_OK;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	free(text);
	return rc;
}

/* ---- migrate -------------------------------------------------------------
 */

/*
 * The replica migrate moves: a single domain's, or a pair's backup.
 * Moving a pair's primary waits for re-protection. -1 after saying why.
 */
static int migrate_source(const struct dom_info *di, json_object *st[2],
			  bool primary)
{
	int i;

	if (di->nr == 1) {
		if (!st[0])
			return pr_err("%s: %s does not answer (see pvft status "
				      "%s)",
				      di->name, di->rep[0].node, di->name),
			       -1;
		return 0;
	}
	if (primary)
		return pr_err("%s: a pair's primary does not move live; "
			      "move its backup to the host (pvft migrate), "
			      "then pvft promote (or kill it, and pvft "
			      "reprotect)",
			      di->name),
		       -1;
	for (i = 0; i < di->nr; i++)
		if (ts__is_live(st[i]) &&
		    !strcmp(ts__jstr(st[i], "role", ""), "backup"))
			return i;
	return pr_err("%s: no backup answers to move (see pvft status %s)",
		      di->name, di->name),
	       -1;
}

/* A positive number option: its value, or 0 after saying why. */
long ts__num_opt(const char *name, const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max) {
		pr_err("bad --%s '%s': want 1 to %ld", name, s, max);
		return 0;
	}
	return v;
}

/* Until the destination @r listens (query-status: incoming). 0 or -1. */
int ts__wait_incoming(const struct dom_info *di, struct dom_replica *r)
{
	struct dom_info one = *di;
	uint64_t end = clock__mono_ms() + INCOMING_TIMEOUT_S * 1000ull;
	char err[512] = "";

	one.nr = 1;
	one.rep[0] = *r;
	while (clock__mono_ms() < end) {
		json_object *st, *m = NULL;
		bool ready;

		if (ts__ended(&r->pid, "the destination", r->log))
			return -1;
		st = ts__replica_status(&one, 0, 1000, err, sizeof(err));
		ready = st && json_object_object_get_ex(st, "migration", &m) &&
			!strcmp(ts__jstr(m, "state", ""), "incoming");
		json_object_put(st);
		if (ready)
			return 0;
		usleep(50000);
	}
	pr_err("the destination %s on %s does not wait for a migration after "
	       "%d s (%s); its log (%s) ends:",
	       r->node, r->host, INCOMING_TIMEOUT_S, err, r->log);
	ts__show_tail(r->log);
	return -1;
}

/*
 * The source's answer did not say it stopped (its connection broke, it
 * died): has the destination the domain all the same? It runs once the
 * source said go, and then no incoming migration is under way there; it
 * must not be stopped then, it is the only copy.
 */
static bool took_over(const struct dom_info *di, struct dom_replica *r)
{
	struct dom_info one = *di;
	json_object *st, *m = NULL;
	char err[512] = "";
	bool ran;

	if (ts__ended(&r->pid, "the destination", r->log))
		return false;
	one.nr = 1;
	one.rep[0] = *r;
	st = ts__replica_status(&one, 0, 2000, err, sizeof(err));
	ran = st && !(json_object_object_get_ex(st, "migration", &m) &&
		      !strcmp(ts__jstr(m, "state", ""), "incoming"));
	json_object_put(st);
	if (ran)
		pr_warn("%s: the source's answer was lost, but the "
			"destination %s runs the domain: it is the one now",
			di->name, r->node);
	return ran;
}

/* A free port on @addr here ("PORT" in a dry run, which does not look). */
int ts__free_port_arg(char *buf, size_t len, const char *addr)
{
	unsigned int port = pvft_dry_run ? 0 : ts__free_port(addr);

	if (pvft_dry_run)
		return snprintf(buf, len, "PORT"), 0;
	if (!port)
		return pr_err("no free port on %s (another address: -a)", addr),
		       -1;
	snprintf(buf, len, "%u", port);
	return 0;
}

int main_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "replica", required_argument, NULL, 'r' },
		{ "address", required_argument, NULL, 'a' },
		{ "downtime-ms", required_argument, NULL, 'd' },
		{ "max-rounds", required_argument, NULL, 'm' },
		PVFT_COMMON_LONG_OPTS,
	};
	static struct pvft_cfg cfg;
	static struct dom_info di;
	static struct argv_buf a;
	static struct dom_replica dst;
	json_object *st[2] = { NULL, NULL }, *args = NULL, *ret = NULL;
	const char *host, *addr = NULL;
	char base[PVFT_CFG_NAME_MAX + 8];
	char hv[PATH_MAX], key[PATH_MAX + 16], port[16], to[300], lport[16];
	char log_addr[300], what[512], *text = NULL;
	bool primary = false;
	long downtime = 0, rounds = 0;
	int opt, i, src, called, lock_fd = -1, rc = PVFT_EXIT_FAILED;

	PVFT_FOREACH_OPT(opt, "r:a:", opts, "migrate", 2)
	{
	case 'r':
		if (strcmp(optarg, "backup") && strcmp(optarg, "primary")) {
			pr_err("bad --replica '%s': want backup or primary",
			       optarg);
			return PVFT_EXIT_USAGE;
		}
		primary = !strcmp(optarg, "primary");
		break;
	case 'a':
		addr = optarg;
		break;
	case 'd':
		downtime = ts__num_opt("downtime-ms", optarg, 60000);
		if (!downtime)
			return PVFT_EXIT_USAGE;
		break;
	case 'm':
		rounds = ts__num_opt("max-rounds", optarg, 10000);
		if (!rounds)
			return PVFT_EXIT_USAGE;
		break;
	}
	if (argc - optind > 2) {
		pr_err("too many arguments");
		pvft__usage_error("migrate");
		return PVFT_EXIT_USAGE;
	}
	host = argv[optind + 1];
	if (ts__dom_load(argv[optind], &di))
		return PVFT_EXIT_FAILED;
	ts__statuses(&di, st);
	src = migrate_source(&di, st, primary);
	if (src < 0)
		goto out;
	if (ts__dom_cfg(&di, &cfg)) {
		rc = PVFT_EXIT_CONFIG;
		goto out;
	}
	text = ts__config_text(&di, &cfg);
	if (!text)
		goto out;

	/* Where the stream goes: a free port here, the config's there. */
	if (!addr)
		addr = ts__is_local(host) ? "127.0.0.1" : host;
	if (!ts__is_local(host))
		snprintf(port, sizeof(port), "%u", cfg.migrate_port);
	else if (ts__free_port_arg(port, sizeof(port), addr))
		goto out;
	hostport__format(to, sizeof(to), addr, port);

	/* The destination: the source's node, files of another name. */
	dst = di.rep[src];
	snprintf(dst.host, sizeof(dst.host), "%s", host);
	if (ts__replica_files(&dst, di.dir, dst.node))
		goto out;
	/* NODE and NODE.mig by turns: never the source's own socket. */
	snprintf(base, sizeof(base), "%s%s", dst.node,
		 strcmp(di.rep[src].sock, dst.sock) ? "" : ".mig");
	if (ts__replica_files(&dst, di.dir, base))
		goto out;
	dst.pid = 0;
	ts__program("pvft-hv", hv, sizeof(hv));
	ts__arg(&a, "%s", hv);
	ts__arg(&a, "--control");
	ts__arg(&a, "%s", dst.sock);
	ts__arg(&a, "--no-stdin");
	if (di.nr == 2) {
		/* As create gives the backup, listening where it now runs. */
		if (!ts__is_local(host) && !cfg.log_port) {
			pr_err("%s: ft_log_port = 0: a backup on another host "
			       "needs a fixed port (set ft_log_port)",
			       cfg.path);
			rc = PVFT_EXIT_CONFIG;
			goto out;
		}
		if (!ts__is_local(host))
			snprintf(lport, sizeof(lport), "%u", cfg.log_port);
		else if (ts__free_port_arg(lport, sizeof(lport), cfg.log_addr))
			goto out;
		hostport__format(log_addr, sizeof(log_addr),
				 ts__is_local(host) ? cfg.log_addr : addr,
				 lport);
		if (ts__key_auto(&cfg))
			snprintf(key, sizeof(key), "%s/domain.key", di.dir);
		else
			snprintf(key, sizeof(key), "%s", cfg.key);
		ts__pair_args(
		    &a, &cfg, false, log_addr,
		    di.arbiter_embedded ? di.arbiter_url : cfg.arbiter, key);
	} else if (cfg.insecure) {
		ts__arg(&a, "--insecure");
	} else {
		/*
		 * The stream's link is TLS with the domain key: ft_key, or
		 * for a move on this host one made for it (a domain created
		 * unreplicated has none); another host needs ft_key there.
		 */
		if (cfg.key[0] && !cfg.key_auto) {
			snprintf(key, sizeof(key), "%s", cfg.key);
		} else if (ts__is_local(host)) {
			char why[256];

			snprintf(key, sizeof(key), "%s/migrate.key", di.dir);
			if (!pvft_dry_run &&
			    tls__keygen(key, true, why, sizeof(why))) {
				pr_err("%s: %s", key, why);
				goto out;
			}
		} else {
			pr_err("%s: a migration to another host needs the "
			       "domain key on both (set ft_key, or "
			       "ft_insecure = 1)",
			       cfg.path);
			rc = PVFT_EXIT_CONFIG;
			goto out;
		}
		ts__arg(&a, "--key");
		ts__arg(&a, "%s", key);
	}
	ts__guest_args(&a, &cfg);
	ts__arg(&a, "--incoming");
	ts__arg(&a, "%s", to);
	ts__arg(&a, "%s", cfg.kernel);
	if (a.overflow) {
		pr_err("%s: the pvft-hv command line is too long", cfg.name);
		goto out;
	}
	args = json_object_new_object();
	json_object_object_add(args, "to", json_object_new_string(to));
	json_object_object_add(args, "config", json_object_new_string(text));
	/* A backup's successor listens there for the primary. */
	if (di.nr == 2)
		json_object_object_add(args, "listen",
				       json_object_new_string(log_addr));
	else if (cfg.insecure)
		json_object_object_add(args, "insecure",
				       json_object_new_boolean(true));
	else
		json_object_object_add(args, "key",
				       json_object_new_string(key));
	if (downtime)
		json_object_object_add(args, "downtime_ms",
				       json_object_new_int((int)downtime));
	if (rounds)
		json_object_object_add(args, "max_rounds",
				       json_object_new_int((int)rounds));
	if (pvft_dry_run) {
		printf("pvft migrate %s: dry run, nothing is started\n",
		       di.name);
		printf("  source   %s (%s) on %s\n", di.rep[src].node,
		       ts__jstr(st[src], "role", "?"), di.rep[src].host);
		ts__print_cmd("dest", host, di.remote, a.v);
		ts__print_call(di.rep[src].sock, "migrate", args, strlen(text));
		rc = PVFT_EXIT_OK;
		goto out;
	}
	lock_fd = ts__lock_dom(di.dir);
	if (lock_fd < 0)
		goto out;
	fprintf(stderr, "pvft migrate %s: %s from %s to %s (%s)\n", di.name,
		di.rep[src].node, di.rep[src].host, host, to);
	ts__keep_previous(dst.log);
	ts__keep_previous(dst.console);
	dst.pid = ts__spawn(host, di.remote, a.v, dst.console, dst.log);
	if (dst.pid < 0)
		goto out;
	if (ts__wait_incoming(&di, &dst)) {
		ts__stop_started(&di, &dst);
		fprintf(stderr, "pvft migrate: %s: %s keeps running on %s\n",
			di.name, di.rep[src].node, di.rep[src].host);
		goto out;
	}
	/* From here the source decides: it stops only once it is moved. */
	called = call_with_progress(&di, src, "migrate", args, &ret);
	if ((called < 0 || !json_object_get_boolean(
			       json_object_object_get(ret, "stopped"))) &&
	    !took_over(&di, &dst)) {
		if (ret)
			pr_err("%s: the source did not stop: the domain stays "
			       "there",
			       di.rep[src].node);
		ts__stop_started(&di, &dst);
		fprintf(stderr,
			"pvft migrate: %s: %s %s on %s; the destination was "
			"stopped (its log: %s)\n",
			di.name, di.rep[src].node,
			called == -2 ? "has ended" : "keeps running",
			di.rep[src].host, dst.log);
		goto out;
	}
	snprintf(what, sizeof(what), "%s: %s migrated to %s", di.name, dst.node,
		 host);
	summary(what, ret);
	di.rep[src] = dst;
	if (ts__dom_save(&di))
		goto out;
	printf("%s: %s runs on %s now (pid %d here)\n", di.name, dst.node, host,
	       dst.pid);
	rc = PVFT_EXIT_OK;
	/* A moved backup: done once the primary resumed the stream to it. */
	if (di.nr == 2 && wait_protected(&di, src))
		rc = PVFT_EXIT_FAILED;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	json_object_put(ret);
	json_object_put(args);
	for (i = 0; i < 2; i++)
		json_object_put(st[i]);
	free(text);
	return rc;
}
