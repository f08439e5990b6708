// SPDX-License-Identifier: MIT
/*
 * pvft-arbiter: the test-and-set daemon (DESIGN.md 3.4; the protocol, its
 * authentication and the durability rule are specified in
 * Documentation/arbiter-protocol.md).
 *
 * One thread, one poll() loop over the listening socket, a signalfd and
 * every client. Clients are non-blocking, each with its own input and
 * output buffer: a client that sends junk, stops reading, floods or
 * vanishes mid-line costs only its own slot. The one thing that blocks
 * the loop is the fsync of a grant, which must finish before anyone hears
 * of the grant.
 *
 * Who may ask: with --keys DIR, a client must first prove, in a TLS 1.3
 * handshake, the pre-shared key of one pair (DIR/<pair>.key, looked up at
 * each handshake), and may then ask about that pair only. Until it has,
 * it gets no byte of the protocol. --insecure serves plaintext to anyone.
 *
 * Bounded work per client: a handshake, and each request line, must be
 * complete within --line-timeout-ms of when it began (bytes that trickle
 * in do not extend it), a connection idle between requests is closed
 * after --idle-timeout-ms, one address holds at most --max-per-source
 * connections, and a turn of the loop serves one line of a client, whose
 * reply is sent at once, before that client's next line is read.
 *
 * State: one file per owned key, DIR/<pair>-<epoch>, holding the owner's
 * node id and a newline, and one per opened key (ADVANCE),
 * DIR/<pair>-<epoch>.open, holding the opener's the same way. It is read
 * on demand, never cached, so a restarted daemon answers from exactly
 * what is on disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "io.h"
#include "log.h"
#include "proto.h"
#include "tls.h"

#define ARBITERD_MAX_CLIENTS 256
#define ARBITERD_OUT_MAX 4096 /* bytes of replies queued per client */
/* Defaults of --line-timeout-ms, --idle-timeout-ms, --max-per-source. */
#define ARBITERD_LINE_MS 5000
#define ARBITERD_IDLE_MS 30000
#define ARBITERD_PER_SOURCE 8
/* A connection in its handshake is safe from newcomers this long. */
#define ARBITERD_GRACE_MS 1000
#define ARBITERD_TIMEOUT_MAX_MS 86400000 /* a day */
/*
 * Closing on a client with unread input would send a reset, which can
 * destroy the last reply before the client reads it: shut down our side,
 * then read and discard, for this long or this much at most.
 */
#define ARBITERD_LINGER_MS 2000
#define ARBITERD_LINGER_BYTES (64u << 10)
#define ARBITERD_ACCEPTS_PER_WAKE 64
#define ARBITERD_ACCEPT_PAUSE_MS 100
#define ARBITERD_BACKLOG 128
/* What clients can make us log comes out at most once this often. */
#define ARBITERD_LOG_EVERY_MS 1000
#define ARBITERD_LOCK ".lock"
#define ARBITERD_TMP_PREFIX ".tmp-"
#define ARBITERD_KEY_SUFFIX ".key"
/* A state file: a node id and a newline; anything longer is corrupt. */
#define STATE_FILE_MAX (ARBITER_NODE_MAX + 1)
/* An opened mark (ADVANCE) is DIR/<pair>-<epoch> and this. */
#define OPEN_SUFFIX ".open"
/* "<u64>-<u64>.open" and a NUL. */
#define STATE_NAME_MAX 48

#define EXIT_USAGE 2

struct client {
	int fd;
	struct tls_conn *conn; /* plaintext too (--insecure): one code path */
	char peer[INET_ADDRSTRLEN + 8]; /* "a.b.c.d:port", for logs */
	in_addr_t src;			/* for --max-per-source */
	/*
	 * Authenticated: the handshake is over. With --keys, the client
	 * proved pair @pair's key and may ask about that pair only.
	 */
	bool authenticated, scoped;
	uint64_t pair;
	/* The handshake's key lookup: which pair the client claimed. */
	bool claimed;
	uint64_t claimed_pair;
	char in[PROTO_LINE_MAX];
	size_t in_len;
	char out[ARBITERD_OUT_MAX];
	size_t out_len;
	bool eof;	/* the client sent all it will: serve what is in */
	bool closing;	/* serve no more; linger once out is sent */
	bool lingering; /* our side shut down: discard input until EOF */
	size_t discarded;
	/*
	 * Clocks (ms) for the deadlines, client_deadline() says which
	 * applies: when it connected (the handshake), when the oldest line
	 * in @in began, when replies began to wait in @out, when it last
	 * became idle, when lingering ends.
	 */
	uint64_t accepted, line_since, out_since, idle_since, linger_until;
};

/* One line a second at most for things any client can make happen. */
struct ratelimit {
	uint64_t next_ms;
	unsigned dropped;
};

struct server {
	int listen_fd, sig_fd, dir_fd, lock_fd;
	const char *dir;
	const char *keys_dir;	 /* --keys, or NULL with --insecure */
	struct tls_creds *creds; /* NULL: --insecure */
	unsigned line_ms, idle_ms, per_source;
	/*
	 * A grant was linked but the directory's fsync failed: nothing is
	 * answered from disk until an fsync of the directory succeeds.
	 */
	bool dir_dirty;
	unsigned tmp_seq;
	/* Out of file descriptors: accept nothing until then (ms). */
	uint64_t accept_after;
	/* The client whose handshake is running (for the key lookup). */
	struct client *handshaking;
	struct ratelimit rl_refused, rl_auth, rl_scope, rl_keyfile;
	struct client *clients[ARBITERD_MAX_CLIENTS];
	size_t nr_clients;
};

/*
 * May a line of this kind be logged now? At most one a second; *@dropped_r
 * says how many were left out since the last.
 */
static bool log_now(struct ratelimit *rl, unsigned *dropped_r)
{
	uint64_t now = clock__mono_ms();

	if (now < rl->next_ms) {
		rl->dropped++;
		return false;
	}
	*dropped_r = rl->dropped;
	rl->dropped = 0;
	rl->next_ms = now + ARBITERD_LOG_EVERY_MS;
	return true;
}

/* ", N more such not logged" for a line that stood for others too. */
static const char *dropped_note(unsigned dropped, char *buf, size_t len)
{
	if (!dropped)
		return "";
	snprintf(buf, len, " (%u more such not logged)", dropped);
	return buf;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: pvft-arbiter --listen HOST:PORT --state-dir DIR "
	    "(--keys KEYDIR | --insecure)\n"
	    "                    [--line-timeout-ms MS] "
	    "[--idle-timeout-ms MS]\n"
	    "                    [--max-per-source N] [-v] [-q]\n"
	    "The pvft test-and-set arbiter: grants each (pair, epoch) to "
	    "the first node\n"
	    "that asks, durably (Documentation/arbiter-protocol.md).\n"
	    "\n"
	    "  -l, --listen HOST:PORT  the TCP address to serve (IPv4 or a "
	    "name; port 0:\n"
	    "                          any free port, logged at start)\n"
	    "  -d, --state-dir DIR     where grants are kept: an existing "
	    "directory, for\n"
	    "                          one pvft-arbiter at a time\n"
	    "  -k, --keys KEYDIR       serve TLS 1.3: a client must prove "
	    "the key of a\n"
	    "                          pair, KEYDIR/PAIR.key (its arbiter "
	    "key, read at\n"
	    "                          each handshake), and asks about that "
	    "pair only\n"
	    "      --insecure          serve plaintext to anyone, no "
	    "authentication\n"
	    "      --line-timeout-ms MS  a handshake or request line must "
	    "be complete\n"
	    "                          within MS of its start (default "
	    "%d)\n"
	    "      --idle-timeout-ms MS  close a connection idle between "
	    "requests\n"
	    "                          this long (default %d)\n"
	    "      --max-per-source N  connections from one address at "
	    "most (default %d)\n"
	    "  -v, --verbose           more log output (repeatable)\n"
	    "  -q, --quiet             errors only\n"
	    "  -h, --help              this text\n"
	    "\n"
	    "Exit status: 0 stopped by SIGTERM or SIGINT; 1 cannot listen "
	    "or use DIR or\n"
	    "KEYDIR; 2 bad usage.\n",
	    ARBITERD_LINE_MS, ARBITERD_IDLE_MS, ARBITERD_PER_SOURCE);
}

/* ---- state ---- */

/* The state file's name for (@pair, @epoch), in @name. */
static void state_name(uint64_t pair, uint64_t epoch, char name[STATE_NAME_MAX])
{
	snprintf(name, STATE_NAME_MAX, "%" PRIu64 "-%" PRIu64, pair, epoch);
}

/* The opened mark's name for (@pair, @epoch), in @name. */
static void open_name(uint64_t pair, uint64_t epoch, char name[STATE_NAME_MAX])
{
	snprintf(name, STATE_NAME_MAX, "%" PRIu64 "-%" PRIu64 OPEN_SUFFIX, pair,
		 epoch);
}

/*
 * A state file's owner into @owner: 0, -ENOENT when nobody owns the key,
 * or another -errno with @why (a corrupt or unreadable file).
 */
static int read_owner(struct server *s, const char *name, char *owner,
		      char *why, size_t why_len)
{
	char buf[STATE_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd, err;

	/* O_NONBLOCK: a FIFO planted under a key's name must not hang us. */
	fd = openat(s->dir_fd, name,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT) {
			snprintf(why, why_len, "no state file %s/%s", s->dir,
				 name);
			return -ENOENT;
		}
		snprintf(why, why_len, "cannot read state file %s/%s: %s",
			 s->dir, name, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, why_len, "corrupt state file %s/%s: %s", s->dir,
			 name, "not a regular file");
		return -EBADMSG;
	}
	do
		n = pread(fd, buf, sizeof(buf), 0);
	while (n < 0 && errno == EINTR);
	err = errno;
	close(fd);
	if (n < 0) {
		snprintf(why, why_len, "cannot read state file %s/%s: %s",
			 s->dir, name, strerror(err));
		return -err;
	}
	if (n < 2 || n > STATE_FILE_MAX || buf[n - 1] != '\n' ||
	    memchr(buf, '\0', (size_t)n))
		goto corrupt;
	buf[n - 1] = '\0';
	if (!arbiter__valid_node(buf))
		goto corrupt;
	memcpy(owner, buf, (size_t)n);
	return 0;
corrupt:
	snprintf(why, why_len, "corrupt state file %s/%s: %s", s->dir, name,
		 "want a node id and a newline");
	return -EBADMSG;
}

static int sync_dir(struct server *s, char *why, size_t why_len)
{
	if (fsync(s->dir_fd)) {
		snprintf(why, why_len, "cannot fsync state dir %s: %s", s->dir,
			 strerror(errno));
		s->dir_dirty = true;
		return -1;
	}
	s->dir_dirty = false;
	return 0;
}

/* The owner, known to be on disk to stay: as read_owner. */
static int durable_owner(struct server *s, const char *name, char *owner,
			 char *why, size_t why_len)
{
	int r = read_owner(s, name, owner, why, why_len);

	if (!r && s->dir_dirty && sync_dir(s, why, why_len))
		return -EIO;
	return r;
}

/*
 * Make @node the owner of @name unless someone is: a grant, or an opened
 * mark (@what names which, for messages). Step order, so that a
 * crash at any point leaves either no owner or a whole, durable one:
 *   1. the content goes to a temporary file, which is fsynced;
 *   2. link() gives it the final name, atomically, failing with EEXIST if
 *      anyone already owns the key (then that owner is the answer);
 *   3. the directory is fsynced: the name is on disk.
 * Only then does the caller reply. 0 with @owner (the new or the existing
 * owner), or -errno with @why.
 */
static int record(struct server *s, const char *name, const char *node,
		  const char *what, char *owner, char *why, size_t why_len)
{
	char tmp[96], content[STATE_FILE_MAX + 1];
	int fd, r, err;

	snprintf(tmp, sizeof(tmp), ARBITERD_TMP_PREFIX "%s-%ld-%u", name,
		 (long)getpid(), s->tmp_seq++);
	snprintf(content, sizeof(content), "%s\n", node);
	fd = openat(s->dir_fd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
		snprintf(why, why_len, "cannot record %s: %s/%s: %s", what,
			 s->dir, tmp, strerror(err));
		return -err;
	}
	r = io__write_all(fd, content, strlen(content), NULL);
	if (!r && fsync(fd))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (!r && linkat(s->dir_fd, tmp, s->dir_fd, name, 0))
		r = -errno;
	unlinkat(s->dir_fd, tmp, 0);
	if (r == -EEXIST)
		return durable_owner(s, name, owner, why, why_len);
	if (r) {
		snprintf(why, why_len, "cannot record %s: %s/%s: %s", what,
			 s->dir, name, strerror(-r));
		return r;
	}
	if (sync_dir(s, why, why_len))
		return -EIO;
	snprintf(owner, ARBITER_NODE_MAX + 1, "%s", node);
	return 0;
}

/* ---- requests ---- */

static void error_reply(struct proto_reply *rep, const char *why)
{
	/* Cut to fit the line: the reason leads, a long path trails. */
	size_t n = strnlen(why, sizeof(rep->reason) - 1);

	rep->kind = PROTO_ERROR;
	memcpy(rep->reason, why, n);
	rep->reason[n] = '\0';
}

/*
 * QUERY: the owner; else whoever opened the key with ADVANCE; else free.
 * 0 with @rep filled in, or -errno with @why.
 */
static int serve_query(struct server *s, const struct proto_request *req,
		       struct proto_reply *rep, char *why, size_t why_len)
{
	char name[STATE_NAME_MAX];
	int r;

	state_name(req->pair, req->epoch, name);
	r = durable_owner(s, name, rep->node, why, why_len);
	if (!r) {
		rep->kind = PROTO_OWNER;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	open_name(req->pair, req->epoch, name);
	r = durable_owner(s, name, rep->node, why, why_len);
	if (!r) {
		rep->kind = PROTO_OPENED;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	rep->kind = PROTO_FREE;
	return 0;
}

/*
 * ADVANCE P E N: only the owner of (P, E) may open (P, E + 1), and only
 * while nobody owns it and nobody else opened it. 0 with @rep filled in
 * (ADVANCED, DENIED or FREE), or -errno with @why. *@fresh_r: the mark
 * was written now; *@which_r, for the log: what the node DENIED names
 * holds.
 */
static int serve_advance(struct server *s, const struct proto_request *req,
			 struct proto_reply *rep, bool *fresh_r,
			 const char **which_r, char *why, size_t why_len)
{
	char name[STATE_NAME_MAX], owner[ARBITER_NODE_MAX + 1];
	int r;

	*fresh_r = false;
	*which_r = "owns the epoch";
	state_name(req->pair, req->epoch, name);
	r = durable_owner(s, name, owner, why, why_len);
	if (r == -ENOENT) {
		rep->kind = PROTO_FREE;
		return 0;
	}
	if (r)
		return r;
	rep->kind = PROTO_DENIED;
	snprintf(rep->node, sizeof(rep->node), "%s", owner);
	if (strcmp(owner, req->node))
		return 0;
	/* The next epoch, owned by anyone (the asker too): the pair moved
	 * on past E, and only its new epoch's owner may open the next. */
	*which_r = "owns the next epoch";
	state_name(req->pair, req->epoch + 1, name);
	r = durable_owner(s, name, rep->node, why, why_len);
	if (r != -ENOENT)
		return r;
	*which_r = "opened the next epoch";
	open_name(req->pair, req->epoch + 1, name);
	r = durable_owner(s, name, rep->node, why, why_len);
	if (r == -ENOENT) {
		r = record(s, name, req->node, "the opened mark", rep->node,
			   why, why_len);
		*fresh_r = !r && !strcmp(rep->node, req->node);
	}
	if (r)
		return r;
	rep->kind =
	    strcmp(rep->node, req->node) ? PROTO_DENIED : PROTO_ADVANCED;
	return 0;
}

static void serve(struct server *s, struct client *c,
		  const struct proto_request *req, struct proto_reply *rep)
{
	char name[STATE_NAME_MAX], owner[ARBITER_NODE_MAX + 1];
	char why[PROTO_LINE_MAX * 2];
	const char *which = "";
	bool fresh = false;
	int r;

	if (req->verb == PROTO_QUERY || req->verb == PROTO_ADVANCE) {
		r = req->verb == PROTO_QUERY
			? serve_query(s, req, rep, why, sizeof(why))
			: serve_advance(s, req, rep, &fresh, &which, why,
					sizeof(why));
		if (r) {
			pr_err("%s: %s", c->peer, why);
			error_reply(rep, why);
		} else if (req->verb == PROTO_QUERY) {
			pr_debug("%s: pair %" PRIu64 " epoch %" PRIu64 ": %s%s",
				 c->peer, req->pair, req->epoch,
				 rep->kind == PROTO_OWNER    ? "owned by "
				 : rep->kind == PROTO_OPENED ? "opened by "
							     : "free",
				 rep->kind == PROTO_FREE ? "" : rep->node);
		} else if (rep->kind == PROTO_ADVANCED) {
			pr_info("%s: pair %" PRIu64 " epoch %" PRIu64
				": advanced by %s: epoch %" PRIu64 " opened%s",
				c->peer, req->pair, req->epoch, req->node,
				req->epoch + 1, fresh ? "" : " (again)");
		} else if (rep->kind == PROTO_DENIED) {
			pr_info("%s: pair %" PRIu64 " epoch %" PRIu64
				": advance denied to %s: %s %s",
				c->peer, req->pair, req->epoch, req->node,
				rep->node, which);
		} else {
			pr_info("%s: pair %" PRIu64 " epoch %" PRIu64
				": advance by %s: nobody owns the epoch",
				c->peer, req->pair, req->epoch, req->node);
		}
		return;
	}
	state_name(req->pair, req->epoch, name);
	r = durable_owner(s, name, owner, why, sizeof(why));
	if (r == -ENOENT) {
		r = record(s, name, req->node, "the grant", owner, why,
			   sizeof(why));
		fresh = !r && !strcmp(owner, req->node);
	}
	if (r) {
		pr_err("%s: %s", c->peer, why);
		error_reply(rep, why);
		return;
	}
	snprintf(rep->node, sizeof(rep->node), "%s", owner);
	if (!strcmp(owner, req->node)) {
		rep->kind = PROTO_GRANTED;
		pr_info("%s: pair %" PRIu64 " epoch %" PRIu64
			": granted to %s%s",
			c->peer, req->pair, req->epoch, owner,
			fresh ? "" : " (again)");
	} else {
		rep->kind = PROTO_DENIED;
		pr_info("%s: pair %" PRIu64 " epoch %" PRIu64
			": denied to %s: owned by %s",
			c->peer, req->pair, req->epoch, req->node, owner);
	}
}

static void queue_reply(struct client *c, const struct proto_reply *rep)
{
	char line[PROTO_BUF_SIZE];
	int n = proto__format_reply(rep, line);

	/* The caller made room: ARBITERD_OUT_MAX - out_len >= a line. */
	if (!c->out_len)
		c->out_since = clock__mono_ms();
	memcpy(c->out + c->out_len, line, (size_t)n);
	c->out_len += (size_t)n;
}

static void handle_line(struct server *s, struct client *c, const char *line,
			size_t len)
{
	struct proto_request req;
	struct proto_reply rep = { 0 };
	char why[PROTO_REASON_MAX + 1], note[48];
	unsigned dropped;

	if (proto__parse_request(line, len, &req, why, sizeof(why))) {
		pr_debug("%s: refused a request: %s", c->peer, why);
		error_reply(&rep, why);
	} else if (c->scoped && req.pair != c->pair) {
		/* A pair's key says nothing about any other pair. */
		snprintf(why, sizeof(why),
			 "pair %" PRIu64 " is not this client's", req.pair);
		if (log_now(&s->rl_scope, &dropped))
			pr_warn("%s: holds pair %" PRIu64 "'s key, asked "
				"about pair %" PRIu64 ": refused%s",
				c->peer, c->pair, req.pair,
				dropped_note(dropped, note, sizeof(note)));
		error_reply(&rep, why);
	} else {
		serve(s, c, &req, &rep);
	}
	queue_reply(c, &rep);
}

/* ---- clients ---- */

static bool out_room(const struct client *c)
{
	return ARBITERD_OUT_MAX - c->out_len >= PROTO_LINE_MAX;
}

/* A complete line waits, and its reply has room: serve it this turn. */
static bool line_ready(const struct client *c)
{
	return c->authenticated && !c->closing && out_room(c) &&
	       memchr(c->in, '\n', c->in_len);
}

static bool can_read(const struct client *c)
{
	return c->authenticated && !c->eof && !c->closing && out_room(c) &&
	       c->in_len < sizeof(c->in);
}

/* Work without waiting on the socket: a line, or bytes TLS decrypted. */
static bool wants_turn(const struct client *c)
{
	return !c->lingering &&
	       (line_ready(c) || (can_read(c) && tls__pending(c->conn)));
}

/*
 * When the client is closed unless it makes progress: a handshake or a
 * request line by --line-timeout-ms after it began (no byte extends
 * that), replies taken by then too, an idle connection after
 * --idle-timeout-ms.
 */
static uint64_t client_deadline(const struct server *s, const struct client *c)
{
	if (c->lingering)
		return c->linger_until;
	if (!c->authenticated)
		return c->accepted + s->line_ms;
	if (c->in_len)
		return c->line_since + s->line_ms;
	if (c->out_len)
		return c->out_since + s->line_ms;
	return c->idle_since + s->idle_ms;
}

static void drop_client(struct server *s, size_t i)
{
	struct client *c = s->clients[i];

	pr_debug("%s: closed", c->peer);
	tls__conn_free(c->conn);
	close(c->fd);
	free(c);
	s->clients[i] = s->clients[--s->nr_clients];
}

/* Send what is queued: 0, or -1 when the client is gone. */
static int flush_out(struct client *c)
{
	bool had = c->out_len;
	ssize_t n;

	while (c->out_len) {
		/* After -EAGAIN, the same bytes lead @out: as tls.h asks. */
		n = tls__send(c->conn, c->out, c->out_len);
		if (n == -EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	/* Idle from the last reply taken: no other byte restarts it. */
	if (had && !c->in_len)
		c->idle_since = clock__mono_ms();
	return 0;
}

/*
 * One read of what the client sent: 0, or -1 when it is gone. One a turn,
 * so a client that floods gets no more of the loop than one that asks.
 */
static int read_some(struct client *c)
{
	ssize_t n;

	n = tls__recv(c->conn, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n == -EAGAIN)
		return 0;
	/*
	 * The end of what it sends (a shutdown of its sending side, which
	 * TLS calls a premature end): its complete lines are still answered.
	 */
	if (!n || n == -ECONNRESET) {
		c->eof = true;
		return 0;
	}
	if (n < 0)
		return -1;
	if (!c->in_len)
		c->line_since = clock__mono_ms();
	c->in_len += (size_t)n;
	return 0;
}

/*
 * Serve the first complete line in c->in, if its reply has room, and send
 * the reply at once: a client that sends its next request before reading
 * this reply gets it now, not once it pauses (replies used to wait until
 * reads ran dry: ~120 ms behind a pipelining client's fsynced grants).
 * Then: a partial line after EOF is dropped; a full buffer without a
 * newline is a line too long. 0, or -1 when the client is gone.
 */
static int serve_line(struct server *s, struct client *c)
{
	struct proto_reply rep = { 0 };
	size_t used;
	char *nl;

	if (line_ready(c)) {
		nl = memchr(c->in, '\n', c->in_len);
		handle_line(s, c, c->in, (size_t)(nl - c->in));
		used = (size_t)(nl - c->in) + 1;
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		/* What is left began a new line, now. */
		if (c->in_len)
			c->line_since = clock__mono_ms();
		if (flush_out(c))
			return -1;
	}
	if (c->eof && !memchr(c->in, '\n', c->in_len)) {
		c->closing = true;
		c->in_len = 0;
	}
	if (!c->closing && c->in_len == sizeof(c->in) &&
	    !memchr(c->in, '\n', c->in_len) && out_room(c)) {
		pr_debug("%s: line too long: closing", c->peer);
		error_reply(&rep, "line too long");
		queue_reply(c, &rep);
		c->closing = true;
		c->in_len = 0;
	}
	return 0;
}

/* Read and discard until EOF: 0, or -1 when done (or had enough). */
static int linger(struct client *c)
{
	char junk[4096];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		c->discarded += (size_t)n;
		if (c->discarded > ARBITERD_LINGER_BYTES)
			return -1;
	}
}

/*
 * The key a client claims to hold, looked up during its handshake: the
 * arbiter key of the pair its identity names, read from KEYDIR at each
 * handshake, so that keys added or removed take effect without a restart.
 */
static int key_lookup(void *opaque, const char *identity,
		      uint8_t key[TLS_KEY_LEN])
{
	struct server *s = opaque;
	struct client *c = s->handshaking;
	char path[PATH_MAX], why[PATH_MAX + 128], note[48];
	unsigned dropped;
	uint64_t pair;
	int r;

	if (proto__parse_identity(identity, &pair))
		return -1;
	if (c) {
		c->claimed = true;
		c->claimed_pair = pair;
	}
	snprintf(path, sizeof(path), "%s/%" PRIu64 ARBITERD_KEY_SUFFIX,
		 s->keys_dir, pair);
	r = tls__load_key(path, key, why, sizeof(why));
	if (r && r != -ENOENT && log_now(&s->rl_keyfile, &dropped))
		pr_warn("%s%s", why, dropped_note(dropped, note, sizeof(note)));
	return r ? -1 : 0;
}

/* One step of the handshake: 0 done, 1 not yet, -1 failed (drop it). */
static int handshake(struct server *s, struct client *c)
{
	char why[256], claim[64] = "an identity that names no pair", note[48];
	unsigned dropped;
	int r;

	s->handshaking = c;
	r = tls__handshake(c->conn, why, sizeof(why));
	s->handshaking = NULL;
	if (r == -EAGAIN)
		return 1;
	if (!r && !proto__parse_identity(tls__peer(c->conn), &c->pair)) {
		c->authenticated = true;
		c->scoped = true;
		c->idle_since = clock__mono_ms();
		pr_debug("%s: authenticated as %s", c->peer,
			 tls__peer(c->conn));
		return 0;
	}
	if (c->claimed)
		snprintf(claim, sizeof(claim), "pair %" PRIu64,
			 c->claimed_pair);
	if (log_now(&s->rl_auth, &dropped))
		pr_info("%s: not authenticated (claimed %s): %s%s", c->peer,
			claim, r ? why : "no pair identity",
			dropped_note(dropped, note, sizeof(note)));
	return -1;
}

/* One client's turn: 0, or -1 to drop it. */
static int client_io(struct server *s, struct client *c, short revents)
{
	int r;

	if (c->lingering)
		return linger(c);
	if (!c->authenticated) {
		r = handshake(s, c);
		if (r)
			return r < 0 ? -1 : 0;
		/* A request may have come with the handshake's last flight. */
		revents |= POLLIN;
	}
	if ((revents & (POLLIN | POLLHUP | POLLERR) || tls__pending(c->conn)) &&
	    can_read(c) && read_some(c))
		return -1;
	if (serve_line(s, c) || flush_out(c))
		return -1;
	if ((revents & (POLLHUP | POLLERR)) && !(revents & POLLIN))
		return -1;
	if (c->closing && !c->out_len) {
		if (c->eof)
			return -1;
		shutdown(c->fd, SHUT_WR);
		c->lingering = true;
		c->linger_until = clock__mono_ms() + ARBITERD_LINGER_MS;
		return linger(c);
	}
	return 0;
}

/*
 * Refuse a connection: closed at once. Plaintext clients (--insecure) are
 * told why if their socket has room; with --keys, nobody hears a byte of
 * the protocol before proving a key, not even this.
 */
static void refuse(struct server *s, int fd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct server *s, int fd, const char *fmt, ...)
{
	static const char full[] = "ERROR too many clients\n";
	char why[128], note[48];
	unsigned dropped;
	va_list ap;

	if (!s->creds &&
	    send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		pr_debug("refusing a client: %s", strerror(errno));
	close(fd);
	if (!log_now(&s->rl_refused, &dropped))
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pr_warn("refused a client: %s%s", why,
		dropped_note(dropped, note, sizeof(note)));
}

static unsigned clients_from(const struct server *s, in_addr_t src)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < s->nr_clients; i++)
		n += s->clients[i]->src == src;
	return n;
}

/*
 * The table is full: make room for a new connection by closing the
 * oldest one still in its handshake from the address that holds the
 * most, so that connections that never prove a key cannot keep a replica
 * out for their whole deadline, from however many addresses. An
 * authenticated client is never closed for this. true if one was.
 */
static bool make_room(struct server *s, const char *for_ip)
{
	char note[48];
	unsigned n, most = 0, dropped;
	size_t i, victim = SIZE_MAX;
	struct client *c;

	for (i = 0; i < s->nr_clients; i++) {
		c = s->clients[i];
		if (c->authenticated)
			continue;
		n = clients_from(s, c->src);
		if (n > most ||
		    (n == most && c->accepted < s->clients[victim]->accepted)) {
			most = n;
			victim = i;
		}
	}
	if (victim == SIZE_MAX)
		return false;
	if (log_now(&s->rl_refused, &dropped))
		pr_warn("%d clients: closed %s, still in its handshake, to "
			"make room for %s%s",
			ARBITERD_MAX_CLIENTS, s->clients[victim]->peer, for_ip,
			dropped_note(dropped, note, sizeof(note)));
	drop_client(s, victim);
	return true;
}

/*
 * The address @src is at its cap: close its oldest connection still in
 * its handshake that had ARBITERD_GRACE_MS to finish one (a TLS handshake
 * takes milliseconds: a flood's reconnections push out each other, never
 * a replica in time). true if one was.
 */
static bool make_room_from(struct server *s, uint32_t src, const char *ip)
{
	uint64_t young = clock__mono_ms() - ARBITERD_GRACE_MS;
	size_t i, victim = SIZE_MAX;
	char note[48];
	unsigned dropped;

	for (i = 0; i < s->nr_clients; i++) {
		struct client *c = s->clients[i];

		if (c->authenticated || c->src != src || c->accepted > young)
			continue;
		if (victim == SIZE_MAX ||
		    c->accepted < s->clients[victim]->accepted)
			victim = i;
	}
	if (victim == SIZE_MAX)
		return false;
	if (log_now(&s->rl_refused, &dropped))
		pr_warn("%s: at its cap of clients: closed %s, still in its "
			"handshake, for a newer one%s",
			ip, s->clients[victim]->peer,
			dropped_note(dropped, note, sizeof(note)));
	drop_client(s, victim);
	return true;
}

static void accept_clients(struct server *s)
{
	struct sockaddr_in addr;
	socklen_t len;
	struct client *c;
	char ip[INET_ADDRSTRLEN];
	int fd, i, one = 1;

	for (i = 0; i < ARBITERD_ACCEPTS_PER_WAKE; i++) {
		len = sizeof(addr);
		fd = accept4(s->listen_fd, (struct sockaddr *)&addr, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* The connection stays queued: retry later
				 * instead of spinning on it. */
				pr_warn("accept: %s", strerror(errno));
				s->accept_after =
				    clock__mono_ms() + ARBITERD_ACCEPT_PAUSE_MS;
			} else if (errno != EAGAIN && errno != EINTR &&
				   errno != ECONNABORTED) {
				pr_warn("accept: %s", strerror(errno));
			}
			return;
		}
		inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
		/*
		 * An address at its cap: the newcomer takes the place of that
		 * address's oldest connection still in its handshake (a
		 * replica may share its address with whoever floods it).
		 */
		if (clients_from(s, addr.sin_addr.s_addr) >= s->per_source &&
		    !make_room_from(s, addr.sin_addr.s_addr, ip)) {
			refuse(s, fd, "%u clients from %s already",
			       s->per_source, ip);
			continue;
		}
		if (s->nr_clients == ARBITERD_MAX_CLIENTS &&
		    !make_room(s, ip)) {
			refuse(s, fd, "%d clients already",
			       ARBITERD_MAX_CLIENTS);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || tls__conn_new(&c->conn, s->creds, fd)) {
			free(c);
			refuse(s, fd, "out of memory");
			continue;
		}
		/* Each reply leaves when written, never behind the last. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->src = addr.sin_addr.s_addr;
		c->accepted = c->idle_since = clock__mono_ms();
		/* Plaintext: nothing to prove. */
		c->authenticated = !s->creds;
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip,
			 ntohs(addr.sin_port));
		s->clients[s->nr_clients++] = c;
		pr_debug("%s: connected", c->peer);
	}
}

/*
 * The poll timeout: none when a client has work in hand, else until the
 * first client is due to be closed, or accepting resumes.
 */
static int poll_timeout(const struct server *s, uint64_t now)
{
	uint64_t first = UINT64_MAX, d;
	size_t i;

	for (i = 0; i < s->nr_clients; i++) {
		if (wants_turn(s->clients[i]))
			return 0;
		d = client_deadline(s, s->clients[i]);
		if (d < first)
			first = d;
	}
	if (s->accept_after > now && s->accept_after < first)
		first = s->accept_after;
	if (first == UINT64_MAX)
		return -1;
	if (first <= now)
		return 0;
	return first - now > INT_MAX ? INT_MAX : (int)(first - now);
}

/* What to poll a client for. */
static short client_events(const struct client *c)
{
	short ev = 0;

	if (c->lingering)
		return POLLIN;
	if (!c->authenticated)
		return tls__events(c->conn);
	/* A client whose replies pile up is not read from. */
	if (can_read(c))
		ev |= POLLIN;
	if (c->out_len)
		ev |= POLLOUT;
	return ev;
}

static void run(struct server *s)
{
	struct pollfd pfd[ARBITERD_MAX_CLIENTS + 2];
	struct signalfd_siginfo si;
	struct client *c;
	uint64_t now;
	size_t i, n;
	int r;

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = s->sig_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = s->listen_fd };
		if (clock__mono_ms() >= s->accept_after)
			pfd[1].events = POLLIN;
		for (i = 0; i < s->nr_clients; i++) {
			c = s->clients[i];
			pfd[i + 2] = (struct pollfd){
				.fd = c->fd,
				.events = client_events(c),
			};
		}
		n = s->nr_clients;
		r = poll(pfd, n + 2, poll_timeout(s, clock__mono_ms()));
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (r < 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			if (read(s->sig_fd, &si, sizeof(si)) == sizeof(si)) {
				pr_info("stopping on signal %u", si.ssi_signo);
				return;
			}
		}
		/*
		 * Each client with something to do gets one turn. Backwards:
		 * dropping client i moves the last one, already seen, to i.
		 */
		for (i = n; i-- > 0;) {
			c = s->clients[i];
			if ((pfd[i + 2].revents || wants_turn(c)) &&
			    client_io(s, c, pfd[i + 2].revents))
				drop_client(s, i);
		}
		now = clock__mono_ms();
		for (i = s->nr_clients; i-- > 0;) {
			c = s->clients[i];
			if (client_deadline(s, c) > now)
				continue;
			pr_debug("%s: %s: closing", c->peer,
				 c->lingering	     ? "lingered long enough"
				 : !c->authenticated ? "no handshake in time"
				 : c->in_len	     ? "no whole line in time"
				 : c->out_len ? "replies not taken in time"
					      : "idle too long");
			drop_client(s, i);
		}
		if (pfd[1].revents & POLLIN)
			accept_clients(s);
	}
}

/* ---- setup ---- */

static int open_listener(const char *spec)
{
	struct addrinfo hints = {
		.ai_family = AF_INET,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	char host[PROTO_HOST_MAX + 1], port[6], why[PROTO_LINE_MAX];
	struct sockaddr_in bound;
	struct addrinfo *res;
	socklen_t len = sizeof(bound);
	int fd, r, one = 1;

	if (proto__parse_hostport(spec, strlen(spec), host, port, true, why,
				  sizeof(why))) {
		pr_err("bad --listen: %s", why);
		exit(EXIT_USAGE);
	}
	r = getaddrinfo(host, port, &hints, &res);
	if (r)
		die("cannot listen on %s: %s", spec, gai_strerror(r));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("cannot listen on %s: socket: %s", spec, strerror(errno));
	/* A restarted daemon takes its port back from TIME_WAIT sockets. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) ||
	    listen(fd, ARBITERD_BACKLOG))
		die("cannot listen on %s: %s", spec, strerror(errno));
	freeaddrinfo(res);
	if (!getsockname(fd, (struct sockaddr *)&bound, &len))
		pr_info("listening on %s:%u", host, ntohs(bound.sin_port));
	return fd;
}

/*
 * Take DIR for this daemon alone, clear what a crash left, and make what
 * is there durable: a grant a killed daemon linked but did not get to
 * fsync was never answered, but once read it may be, so it must stay.
 */
static void open_state_dir(struct server *s)
{
	struct dirent *de;
	DIR *d;
	int fd;

	s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0)
		die("state dir %s: %s", s->dir, strerror(errno));
	s->lock_fd = openat(s->dir_fd, ARBITERD_LOCK,
			    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (s->lock_fd < 0)
		die("state dir %s: cannot create %s: %s", s->dir, ARBITERD_LOCK,
		    strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB))
		die("state dir %s: %s", s->dir,
		    errno == EWOULDBLOCK ? "in use by another pvft-arbiter"
					 : strerror(errno));
	fd = dup(s->dir_fd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d)
		die("state dir %s: %s", s->dir, strerror(errno));
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, ARBITERD_TMP_PREFIX,
			     strlen(ARBITERD_TMP_PREFIX)))
			unlinkat(s->dir_fd, de->d_name, 0);
	closedir(d);
	/* Writable, really (root passes every permission check). */
	fd =
	    openat(s->dir_fd, ARBITERD_TMP_PREFIX "probe",
		   O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		die("state dir %s: cannot create files: %s", s->dir,
		    strerror(errno));
	close(fd);
	unlinkat(s->dir_fd, ARBITERD_TMP_PREFIX "probe", 0);
	if (fsync(s->dir_fd))
		die("state dir %s: fsync: %s", s->dir, strerror(errno));
}

static int open_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		die("sigprocmask: %s", strerror(errno));
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		die("signalfd: %s", strerror(errno));
	return fd;
}

/*
 * Serve TLS with the keys in KEYDIR. They are read at each handshake, not
 * now; what is there is checked once, so that a key file pvft-arbiter
 * cannot use is said at start, not only when its pair fails over.
 */
static void open_keys(struct server *s)
{
	char path[PATH_MAX], why[PATH_MAX + 128];
	uint8_t key[TLS_KEY_LEN];
	size_t n = 0, len, slen = strlen(ARBITERD_KEY_SUFFIX);
	struct dirent *de;
	uint64_t pair;
	DIR *d;

	d = opendir(s->keys_dir);
	if (!d)
		die("keys dir %s: %s", s->keys_dir, strerror(errno));
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (len <= slen ||
		    strcmp(de->d_name + len - slen, ARBITERD_KEY_SUFFIX))
			continue;
		if (proto__parse_u64(de->d_name, len - slen, &pair)) {
			pr_warn("keys dir %s: %s is never used: a key file "
				"is named PAIR.key, PAIR in decimal without "
				"leading zeros",
				s->keys_dir, de->d_name);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", s->keys_dir, de->d_name);
		if (tls__load_key(path, key, why, sizeof(why)))
			pr_warn("%s: pair %" PRIu64 " cannot authenticate", why,
				pair);
		else
			n++;
	}
	closedir(d);
	explicit_bzero(key, sizeof(key));
	if (tls__creds_psk_server(&s->creds, key_lookup, s, why, sizeof(why)))
		die("TLS: %s", why);
	pr_info("clients must prove their pair's key (TLS 1.3, PSK): keys "
		"in %s, %zu usable now",
		s->keys_dir, n);
}

/* A number option: 1..@max. */
static unsigned number_opt(const char *name, const char *arg, unsigned max)
{
	uint64_t v;

	if (proto__parse_u64(arg, strlen(arg), &v) || !v || v > max) {
		pr_err("bad %s '%s': want 1 to %u", name, arg, max);
		usage(stderr);
		exit(EXIT_USAGE);
	}
	return (unsigned)v;
}

enum {
	OPT_INSECURE = 256,
	OPT_LINE_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_PER_SOURCE,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "keys", required_argument, NULL, 'k' },
		{ "insecure", no_argument, NULL, OPT_INSECURE },
		{ "line-timeout-ms", required_argument, NULL,
		  OPT_LINE_TIMEOUT },
		{ "idle-timeout-ms", required_argument, NULL,
		  OPT_IDLE_TIMEOUT },
		{ "max-per-source", required_argument, NULL, OPT_PER_SOURCE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct server s = {
		.listen_fd = -1,
		.dir_fd = -1,
		.lock_fd = -1,
		.line_ms = ARBITERD_LINE_MS,
		.idle_ms = ARBITERD_IDLE_MS,
		.per_source = ARBITERD_PER_SOURCE,
	};
	enum log_level level = LOG_INFO;
	const char *listen_spec = NULL;
	bool insecure = false;
	size_t i;
	int c;

	log__init("pvft-arbiter", NULL, level);
	while ((c = getopt_long(argc, argv, "l:d:k:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_spec = optarg;
			break;
		case 'd':
			s.dir = optarg;
			break;
		case 'k':
			s.keys_dir = optarg;
			break;
		case OPT_INSECURE:
			insecure = true;
			break;
		case OPT_LINE_TIMEOUT:
			s.line_ms = number_opt("--line-timeout-ms", optarg,
					       ARBITERD_TIMEOUT_MAX_MS);
			break;
		case OPT_IDLE_TIMEOUT:
			s.idle_ms = number_opt("--idle-timeout-ms", optarg,
					       ARBITERD_TIMEOUT_MAX_MS);
			break;
		case OPT_PER_SOURCE:
			s.per_source = number_opt("--max-per-source", optarg,
						  ARBITERD_MAX_CLIENTS);
			break;
		case 'v':
			if (level < LOG_DEBUG)
				level++;
			break;
		case 'q':
			level = LOG_ERROR;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		pr_err("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!listen_spec || !s.dir) {
		pr_err("--listen and --state-dir are required");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!s.keys_dir == !insecure) {
		pr_err(insecure ? "--keys and --insecure exclude each other"
				: "no --keys KEYDIR: clients must prove a "
				  "pair's key (or, to serve anyone in "
				  "plaintext, --insecure)");
		usage(stderr);
		return EXIT_USAGE;
	}
	log__set_level(level);
	signal(SIGPIPE, SIG_IGN);
	s.sig_fd = open_signals();
	open_state_dir(&s);
	if (s.keys_dir)
		open_keys(&s);
	s.listen_fd = open_listener(listen_spec);
	/* Said loudly: whoever reaches the port can fence a live domain. */
	if (insecure)
		pr_warn("INSECURE (--insecure): plaintext, no "
			"authentication: anyone who can connect can claim or "
			"read any pair's keys, and a false claim fences a "
			"running domain");

	run(&s);

	for (i = s.nr_clients; i-- > 0;)
		drop_client(&s, i);
	tls__creds_free(s.creds);
	close(s.listen_fd);
	close(s.lock_fd);
	close(s.dir_fd);
	close(s.sig_fd);
	return 0;
}
