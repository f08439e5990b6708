/* SPDX-License-Identifier: MIT */
/*
 * What the domain commands share (create, list, status, console, promote,
 * destroy): the domain registry in the run directory, starting replicas
 * here or through the config's remote template, and speaking to a
 * replica's pvft-hv over its control socket (Documentation/
 * control-protocol.md), directly or, on another host, through
 * `pvft proxy` run by the template.
 */
#ifndef PVFT_DOM0_TOOLSTACK_H
#define PVFT_DOM0_TOOLSTACK_H

#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

extern int pvft_dry_run; /* -N */

/* create's KEY=VALUE overrides kept in domain.json (save, migrate). */
#define DOM_MAX_OVERRIDES 32

/* One replica as create started it (domain.json). */
struct dom_replica {
	char started_as[16]; /* primary, backup or single */
	char host[256];	     /* localhost, or given to the template */
	char node[PVFT_CFG_NAME_MAX + 1];
	char sock[PATH_MAX];	/* its control socket (on its host) */
	char log[PATH_MAX];	/* pvft-hv's stderr, here */
	char console[PATH_MAX]; /* its stdout (the console), here */
	int pid;		/* the process started here (hv, sh, ssh) */
};

/* A domain create made: $PVFT_RUN_DIR/NAME/domain.json. */
struct dom_info {
	char name[PVFT_CFG_NAME_MAX + 1];
	char config[PATH_MAX];
	char dir[PATH_MAX];
	char remote[PVFT_CFG_STR_MAX]; /* the template */
	double created;		       /* realtime, seconds */
	int nr;
	struct dom_replica rep[2];
	bool arbiter_embedded;
	int arbiter_pid;
	char arbiter_url[PVFT_CFG_STR_MAX];
	char arbiter_log[PATH_MAX];
	/* The KEY=VALUE overrides create applied to @config. */
	int nover;
	char ovr[DOM_MAX_OVERRIDES][PVFT_CFG_STR_MAX];
	/* `pvft monitor` (ft_reprotect = "auto"): its pid here, its log. */
	int monitor_pid;
	char monitor_log[PATH_MAX];
};

/* The run directory (made when @create) and a domain's directory in it. */
int ts__run_dir(char *buf, size_t len, bool create);
int ts__dom_dir(const char *name, char *buf, size_t len);

/* domain.json. 0, or -1 after saying why (the name in the message). */
int ts__dom_save(const struct dom_info *di);
int ts__dom_load(const char *name, struct dom_info *di);
/* Every domain's name (sorted); *@names_r freed by the caller. */
int ts__dom_names(char ***names_r, int *n_r);
/*
 * Is a domain of this name running (a replica answers, or one started
 * here runs but is silent)? One that ended is cleared away: its embedded
 * arbiter stopped, its domain.json removed.
 */
bool ts__dom_running(const char *name);
/*
 * @di's config as create read it: its file with its overrides. 0, or
 * -1 after saying why (the exit status is then PVFT_EXIT_CONFIG).
 */
int ts__dom_cfg(const struct dom_info *di, struct pvft_cfg *cfg);

/* The sibling program @prog of this pvft (pvft-hv, pvft-arbiter). */
int ts__program(const char *prog, char *buf, size_t len);

/* @s as one shell word, appended to @buf (NUL-terminated). -1: no room. */
int ts__shell_quote(char *buf, size_t len, const char *s);
/* argv as one shell command line. */
int ts__shell_join(char *buf, size_t len, char *const argv[]);
/* The template with %h = @host, %c = @cmd as one word, %% = %. */
int ts__expand_remote(char *buf, size_t len, const char *tmpl, const char *host,
		      const char *cmd);
bool ts__is_local(const char *host);

/*
 * Start @argv on @host (here, or through @tmpl), in its own session,
 * stdin /dev/null, stdout to @out, stderr to @err (truncated). The pid of
 * what was started here, or -1 after saying why.
 */
pid_t ts__spawn(const char *host, const char *tmpl, char *const argv[],
		const char *out, const char *err);

/*
 * Is @pid the @prog we started, with @arg (its socket, its state
 * directory) among its arguments: not a reused pid, not another domain's?
 */
bool ts__ours(int pid, const char *prog, const char *arg);
/* Stop @di's embedded arbiter, if it is still the one create started. */
void ts__stop_arbiter(const struct dom_info *di);
/*
 * Stop @di's `pvft monitor`, if it is still the one create started, and
 * wait until it has ended (it stops a backup it was starting first).
 */
void ts__stop_monitor(const struct dom_info *di);
/* Has @pid ended (a zombie nobody reaps has)? Waits up to @wait_ms. */
bool ts__pid_ended(int pid);
bool ts__pid_gone(int pid, uint64_t wait_ms);

/* A free TCP port on @addr (bound and let go), or 0. */
unsigned int ts__free_port(const char *addr);

/* ---- pvft-hv command lines (create.c) ------------------------------------ */

#define TS_MAX_ARGS 64

struct argv_buf {
	char *v[TS_MAX_ARGS + 1];
	int n;
	bool overflow; /* an argument did not fit: never run it shifted */
	char store[16384];
	size_t used;
};

/* One more argument, printf-style. */
void ts__arg(struct argv_buf *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The guest's part of a pvft-hv command line: --name ... --vif. */
void ts__guest_args(struct argv_buf *a, const struct pvft_cfg *cfg);
/*
 * A replica's part (--role ... --max-lag-ms): the primary connects to
 * @log_addr, the backup listens there; @key the domain key's file.
 */
void ts__pair_args(struct argv_buf *a, const struct pvft_cfg *cfg, bool primary,
		   const char *log_addr, const char *arbiter, const char *key);
/*
 * A backup joining a running domain (pvft reprotect): --role backup
 * --listen @log_addr, the pair's options at @epoch as node @node.
 */
void ts__join_args(struct argv_buf *a, const struct pvft_cfg *cfg,
		   uint64_t epoch, const char *node, const char *log_addr,
		   const char *arbiter, const char *key);
/*
 * A single domain's: no role, but the pair's options (as node @node), so
 * that a backup can join it later (pvft protect).
 */
void ts__single_args(struct argv_buf *a, const struct pvft_cfg *cfg,
		     const char *node, const char *arbiter, const char *key);
/*
 * Does create make the domain key (DIR/domain.key) at each start: a pair
 * whose config names none (pvft_cfg.key_auto), or a single domain that
 * is started protectable and names none.
 */
bool ts__key_auto(const struct pvft_cfg *cfg);
/*
 * Can a single domain of @cfg be given a backup later (pvft protect):
 * its arbiter can be asked with what create gives it (embedded, a
 * pvft:// one with ft_key, etcds:// with its CA, or plaintext on
 * purpose)? create then starts it with its pair's options.
 */
bool ts__protectable(const struct pvft_cfg *cfg);
/* "  WHAT     COMMAND" on stdout, through @tmpl when @host is another. */
void ts__print_cmd(const char *what, const char *host, const char *tmpl,
		   char *const argv[]);
/* The last lines of a log, indented, on stderr: why something stopped. */
void ts__show_tail(const char *path);
/* Keep the previous run's log or console output as PATH.1. */
void ts__keep_previous(const char *path);

/* ---- the control socket, client side ------------------------------------ */

/* A connected UNIX stream socket (CLOEXEC), or -1 with errno. */
int ts__connect_unix(const char *path);

struct ctl_conn {
	int rfd, wfd;
	pid_t proxy; /* the template's process, or 0 */
	char buf[65536];
	size_t len;
};

/*
 * Connect to @r's control socket: directly when its host is this one (or
 * the socket is reachable here), else through `TEMPLATE pvft proxy SOCK`.
 * Reads the greeting. 0, or -1 with @err set.
 */
int ctl__open(struct ctl_conn *c, const struct dom_replica *r, const char *tmpl,
	      int timeout_ms, char *err, size_t errlen);
void ctl__close(struct ctl_conn *c);
/*
 * One request; the reply's "return" value (the caller puts it), or NULL
 * with @err set ("error" desc, or what failed).
 */
json_object *ctl__call(struct ctl_conn *c, const char *cmd, int timeout_ms,
		       char *err, size_t errlen);
/* Send one request with @args (an object, or NULL). 0, or -1 with @err. */
int ctl__send(struct ctl_conn *c, const char *cmd, json_object *args, char *err,
	      size_t errlen);
/*
 * The reply to the request sent, within @timeout_ms: 1 and *@ret (the
 * "return" object, the caller's), 0 when none came in time (ask again),
 * -1 with @err (the "error" desc, or what failed) and @cls (the error's
 * class, "" when the failure was not an error reply).
 */
int ctl__reply(struct ctl_conn *c, int timeout_ms, json_object **ret, char *err,
	       size_t errlen, char *cls, size_t clslen);

/* query-status of replica @i of @di, or NULL with @err set. */
json_object *ts__replica_status(const struct dom_info *di, int i,
				int timeout_ms, char *err, size_t errlen);

/*
 * A replica's state while its pair is whole: "protected", or "held" (a
 * primary keeping out of the guest until the backup catches up).
 */
bool ts__paired(const char *state);

/*
 * A replica status's "migration" as one line ("migrating: round 3, 1234
 * pages left, 812 MB/s, est pause 12 ms"); false when there is none (or
 * its state is "none").
 */
bool ts__migration_line(json_object *st, char *buf, size_t len);

/* Small json-c readers: a member's value or @def. */
const char *ts__jstr(json_object *o, const char *key, const char *def);
double ts__jnum(json_object *o, const char *key, double def);

/*
 * Has the process we started ended? Says how, once, with its log's tail,
 * and forgets its pid (reaped: the number may soon be another process's).
 */
bool ts__ended(pid_t *pidp, const char *what, const char *log);

/* ---- moving and adding replicas (migrate.c) ------------------------------ */

/* Each replica's status (@di->nr of them), or NULL where none answers. */
void ts__statuses(const struct dom_info *di, json_object *st[2]);
/* A status of a replica that runs the domain (not fenced, ended...). */
bool ts__is_live(json_object *st);
/*
 * @di's config file as the stream's CONFIG record carries it, with
 * create's overrides and the paths made absolute. NULL after saying why.
 */
char *ts__config_text(const struct dom_info *di, const struct pvft_cfg *cfg);
/* A control call as the dry run shows it ("config" by its size). */
void ts__print_call(const char *sock, const char *cmd, json_object *args,
		    size_t config_len);
/*
 * Stop a replica we started that has not taken over anything: quit on
 * its control socket, then its session here ended by its PID.
 */
void ts__stop_started(const struct dom_info *di, struct dom_replica *r);
/* Replica @r's files in @dir, named @base (its node, or NODE.mig). */
int ts__replica_files(struct dom_replica *r, const char *dir, const char *base);
/* One pvft command of a domain at a time: the fd holding it, or -1. */
int ts__lock_dom(const char *dir);
/* A positive number option: its value, or 0 after saying why. */
long ts__num_opt(const char *name, const char *s, long max);
/* Until a destination @r listens (query-status: incoming). 0 or -1. */
int ts__wait_incoming(const struct dom_info *di, struct dom_replica *r);
/* A free port on @addr here, as a string ("PORT" in a dry run). */
int ts__free_port_arg(char *buf, size_t len, const char *addr);

#endif /* PVFT_DOM0_TOOLSTACK_H */
