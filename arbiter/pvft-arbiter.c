// SPDX-License-Identifier: MIT
/*
 * pvft-arbiter: the test-and-set daemon (DESIGN.md 3.4; the protocol and
 * the durability rule are specified in Documentation/arbiter-protocol.md).
 *
 * One thread, one poll() loop over the listening socket, a signalfd and
 * every client. Clients are non-blocking, each with its own input and
 * output buffer: a client that sends junk, stops reading, floods or
 * vanishes mid-line costs only its own slot. The one thing that blocks
 * the loop is the fsync of a grant, which must finish before anyone hears
 * of the grant.
 *
 * State: one file per owned key, DIR/<pair>-<epoch>, holding the owner's
 * node id and a newline. It is read on demand, never cached, so a
 * restarted daemon answers from exactly what is on disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"

#define ARBITERD_MAX_CLIENTS 256
#define ARBITERD_OUT_MAX 4096  /* bytes of replies queued per client */
#define ARBITERD_IDLE_MS 30000 /* a client silent this long is closed */
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
#define ARBITERD_LOCK ".lock"
#define ARBITERD_TMP_PREFIX ".tmp-"
/* A state file: a node id and a newline; anything longer is corrupt. */
#define STATE_FILE_MAX (ARBITER_NODE_MAX + 1)

#define EXIT_USAGE 2

struct client {
	int fd;
	char peer[INET_ADDRSTRLEN + 8]; /* "a.b.c.d:port", for logs */
	char in[PROTO_LINE_MAX];
	size_t in_len;
	char out[ARBITERD_OUT_MAX];
	size_t out_len;
	bool eof;	/* the client sent all it will: serve what is in */
	bool closing;	/* serve no more; linger once out is sent */
	bool lingering; /* our side shut down: discard input until EOF */
	size_t discarded;
	uint64_t deadline_ms; /* close then: idle, or done lingering */
};

struct server {
	int listen_fd, sig_fd, dir_fd, lock_fd;
	const char *dir;
	/*
	 * A grant was linked but the directory's fsync failed: nothing is
	 * answered from disk until an fsync of the directory succeeds.
	 */
	bool dir_dirty;
	unsigned tmp_seq;
	/* Out of file descriptors: accept nothing until then (ms). */
	uint64_t accept_after;
	struct client *clients[ARBITERD_MAX_CLIENTS];
	size_t nr_clients;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pvft-arbiter --listen HOST:PORT --state-dir DIR [-v] "
		"[-q]\n"
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
		"  -v, --verbose           more log output (repeatable)\n"
		"  -q, --quiet             errors only\n"
		"  -h, --help              this text\n"
		"\n"
		"Exit status: 0 stopped by SIGTERM or SIGINT; 1 cannot listen "
		"or use DIR;\n"
		"2 bad usage.\n");
}

/* ---- state ---- */

/* The state file's name for (@pair, @epoch), in @name (48 bytes). */
static void state_name(uint64_t pair, uint64_t epoch, char *name)
{
	snprintf(name, 48, "%" PRIu64 "-%" PRIu64, pair, epoch);
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

static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Make @node the owner of @name unless someone is. Step order, so that a
 * crash at any point leaves either no owner or a whole, durable one:
 *   1. the content goes to a temporary file, which is fsynced;
 *   2. link() gives it the final name, atomically, failing with EEXIST if
 *      anyone already owns the key (then that owner is the answer);
 *   3. the directory is fsynced: the name is on disk.
 * Only then does the caller reply. 0 with @owner (the new or the existing
 * owner), or -errno with @why.
 */
static int grant(struct server *s, const char *name, const char *node,
		 char *owner, char *why, size_t why_len)
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
		snprintf(why, why_len, "cannot record the grant: %s/%s: %s",
			 s->dir, tmp, strerror(err));
		return -err;
	}
	r = write_all(fd, content, strlen(content));
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
		snprintf(why, why_len, "cannot record the grant: %s/%s: %s",
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

static void serve(struct server *s, struct client *c,
		  const struct proto_request *req, struct proto_reply *rep)
{
	char name[48], owner[ARBITER_NODE_MAX + 1], why[PROTO_LINE_MAX * 2];
	bool fresh = false;
	int r;

	state_name(req->pair, req->epoch, name);
	r = durable_owner(s, name, owner, why, sizeof(why));
	if (r == -ENOENT && req->verb == PROTO_QUERY) {
		rep->kind = PROTO_FREE;
		pr_debug("%s: pair %" PRIu64 " epoch %" PRIu64 ": free",
			 c->peer, req->pair, req->epoch);
		return;
	}
	if (r == -ENOENT) {
		r = grant(s, name, req->node, owner, why, sizeof(why));
		fresh = !r && !strcmp(owner, req->node);
	}
	if (r) {
		pr_err("%s: %s", c->peer, why);
		error_reply(rep, why);
		return;
	}
	snprintf(rep->node, sizeof(rep->node), "%s", owner);
	if (req->verb == PROTO_QUERY) {
		rep->kind = PROTO_OWNER;
		pr_debug("%s: pair %" PRIu64 " epoch %" PRIu64 ": owned by %s",
			 c->peer, req->pair, req->epoch, owner);
		return;
	}
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
	memcpy(c->out + c->out_len, line, (size_t)n);
	c->out_len += (size_t)n;
}

static void handle_line(struct server *s, struct client *c, const char *line,
			size_t len)
{
	struct proto_request req;
	struct proto_reply rep = { 0 };
	char why[PROTO_REASON_MAX + 1];

	if (proto__parse_request(line, len, &req, why, sizeof(why))) {
		pr_debug("%s: refused a request: %s", c->peer, why);
		error_reply(&rep, why);
	} else {
		serve(s, c, &req, &rep);
	}
	queue_reply(c, &rep);
}

/* Serve the complete lines in c->in while there is room for the replies. */
static void handle_input(struct server *s, struct client *c)
{
	struct proto_reply rep = { 0 };
	size_t used = 0;
	char *nl;

	while (!c->closing && ARBITERD_OUT_MAX - c->out_len >= PROTO_LINE_MAX) {
		nl = memchr(c->in + used, '\n', c->in_len - used);
		if (!nl)
			break;
		handle_line(s, c, c->in + used, (size_t)(nl - (c->in + used)));
		used = (size_t)(nl - c->in) + 1;
	}
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	/* Done sending and all answered: a partial line stays unanswered. */
	if (c->eof && !memchr(c->in, '\n', c->in_len)) {
		c->closing = true;
		c->in_len = 0;
		return;
	}
	/* A full buffer without a newline: the line is too long. */
	if (!c->closing && c->in_len == sizeof(c->in) &&
	    ARBITERD_OUT_MAX - c->out_len >= PROTO_LINE_MAX) {
		pr_debug("%s: line too long: closing", c->peer);
		error_reply(&rep, "line too long");
		queue_reply(c, &rep);
		c->closing = true;
		c->in_len = 0;
	}
}

/* ---- clients ---- */

static void drop_client(struct server *s, size_t i)
{
	pr_debug("%s: closed", s->clients[i]->peer);
	close(s->clients[i]->fd);
	free(s->clients[i]);
	s->clients[i] = s->clients[--s->nr_clients];
}

/* Send what is queued: 0, or -1 when the client is gone. */
static int flush_out(struct client *c)
{
	ssize_t n;

	while (c->out_len) {
		n = send(c->fd, c->out, c->out_len,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return 0;
}

/* Read what the client sent: 0, or -1 when it is gone or done. */
static int fill_in(struct server *s, struct client *c)
{
	ssize_t n;

	while (!c->eof && !c->closing && c->in_len < sizeof(c->in)) {
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len,
			 MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return -1;
		if (!n) {
			/* Its complete lines are still answered (a client
			 * may shut down its sending side and wait). */
			c->eof = true;
			handle_input(s, c);
			return 0;
		}
		c->in_len += (size_t)n;
		c->deadline_ms = now_ms() + ARBITERD_IDLE_MS;
		handle_input(s, c);
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

/* One client's turn after poll: 0, or -1 to drop it. */
static int client_io(struct server *s, struct client *c, short revents)
{
	if (c->lingering)
		return linger(c);
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		if (fill_in(s, c))
			return -1;
	}
	/* Replies freed room: lines waiting in c->in may be served now. */
	if (flush_out(c))
		return -1;
	handle_input(s, c);
	if (flush_out(c))
		return -1;
	if ((revents & (POLLHUP | POLLERR)) && !(revents & POLLIN))
		return -1;
	if (c->closing && !c->out_len) {
		if (c->eof)
			return -1;
		shutdown(c->fd, SHUT_WR);
		c->lingering = true;
		c->deadline_ms = now_ms() + ARBITERD_LINGER_MS;
		return linger(c);
	}
	return 0;
}

static void accept_clients(struct server *s)
{
	static const char full[] = "ERROR too many clients\n";
	struct sockaddr_in addr;
	socklen_t len;
	struct client *c;
	char ip[INET_ADDRSTRLEN];
	int fd, i;

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
				    now_ms() + ARBITERD_ACCEPT_PAUSE_MS;
			} else if (errno != EAGAIN && errno != EINTR &&
				   errno != ECONNABORTED) {
				pr_warn("accept: %s", strerror(errno));
			}
			return;
		}
		c = s->nr_clients < ARBITERD_MAX_CLIENTS ? calloc(1, sizeof(*c))
							 : NULL;
		if (!c) {
			/* Said, not waited for: a refused client gets a line
			 * if its socket has room, else only the close. */
			if (send(fd, full, sizeof(full) - 1,
				 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				pr_debug("refusing a client: %s",
					 strerror(errno));
			close(fd);
			pr_warn("refused a client: %d clients already",
				ARBITERD_MAX_CLIENTS);
			continue;
		}
		c->fd = fd;
		c->deadline_ms = now_ms() + ARBITERD_IDLE_MS;
		inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip,
			 ntohs(addr.sin_port));
		s->clients[s->nr_clients++] = c;
		pr_debug("%s: connected", c->peer);
	}
}

/*
 * The poll timeout: until the first client is due to be closed, or
 * accepting resumes.
 */
static int poll_timeout(const struct server *s, uint64_t now)
{
	uint64_t first = UINT64_MAX;
	size_t i;

	for (i = 0; i < s->nr_clients; i++)
		if (s->clients[i]->deadline_ms < first)
			first = s->clients[i]->deadline_ms;
	if (s->accept_after > now && s->accept_after < first)
		first = s->accept_after;
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)(first - now);
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
		if (now_ms() >= s->accept_after)
			pfd[1].events = POLLIN;
		for (i = 0; i < s->nr_clients; i++) {
			c = s->clients[i];
			pfd[i + 2] = (struct pollfd){ .fd = c->fd };
			/* A client whose replies pile up is not read from. */
			if (c->lingering ||
			    (!c->eof && !c->closing &&
			     ARBITERD_OUT_MAX - c->out_len >= PROTO_LINE_MAX))
				pfd[i + 2].events |= POLLIN;
			if (c->out_len)
				pfd[i + 2].events |= POLLOUT;
		}
		n = s->nr_clients;
		r = poll(pfd, n + 2, poll_timeout(s, now_ms()));
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
		/* Backwards: dropping client i moves the last one, seen. */
		for (i = n; i-- > 0;)
			if (pfd[i + 2].revents &&
			    client_io(s, s->clients[i], pfd[i + 2].revents))
				drop_client(s, i);
		now = now_ms();
		for (i = s->nr_clients; i-- > 0;)
			if (s->clients[i]->deadline_ms <= now) {
				pr_debug("%s: idle or lingering too long: "
					 "closing",
					 s->clients[i]->peer);
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct server s = { .listen_fd = -1, .dir_fd = -1, .lock_fd = -1 };
	enum log_level level = LOG_INFO;
	const char *listen_spec = NULL;
	size_t i;
	int c;

	log__init("pvft-arbiter", NULL, level);
	while ((c = getopt_long(argc, argv, "l:d:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_spec = optarg;
			break;
		case 'd':
			s.dir = optarg;
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
	log__set_level(level);
	signal(SIGPIPE, SIG_IGN);
	s.sig_fd = open_signals();
	open_state_dir(&s);
	s.listen_fd = open_listener(listen_spec);

	run(&s);

	for (i = s.nr_clients; i-- > 0;)
		drop_client(&s, i);
	close(s.listen_fd);
	close(s.lock_fd);
	close(s.dir_fd);
	close(s.sig_fd);
	return 0;
}
