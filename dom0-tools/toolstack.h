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
};

/* The run directory (made when @create) and a domain's directory in it. */
int ts__run_dir(char *buf, size_t len, bool create);
int ts__dom_dir(const char *name, char *buf, size_t len);

/* domain.json. 0, or -1 after saying why (the name in the message). */
int ts__dom_save(const struct dom_info *di);
int ts__dom_load(const char *name, struct dom_info *di);
/* Every domain's name (sorted); *@names_r freed by the caller. */
int ts__dom_names(char ***names_r, int *n_r);

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
/* Has @pid ended (a zombie nobody reaps has)? Waits up to @wait_ms. */
bool ts__pid_ended(int pid);
bool ts__pid_gone(int pid, uint64_t wait_ms);

/* A free TCP port on @addr (bound and let go), or 0. */
unsigned int ts__free_port(const char *addr);

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

/* query-status of replica @i of @di, or NULL with @err set. */
json_object *ts__replica_status(const struct dom_info *di, int i,
				int timeout_ms, char *err, size_t errlen);

/*
 * A replica's state while its pair is whole: "protected", or "held" (a
 * primary keeping out of the guest until the backup catches up).
 */
bool ts__paired(const char *state);

/* Small json-c readers: a member's value or @def. */
const char *ts__jstr(json_object *o, const char *key, const char *def);
double ts__jnum(json_object *o, const char *key, double def);

#endif /* PVFT_DOM0_TOOLSTACK_H */
