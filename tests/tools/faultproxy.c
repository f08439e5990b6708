// SPDX-License-Identifier: MIT
/*
 * pvft-faultproxy: a TCP proxy that breaks the network on command, for
 * tests of the pair's log channel.
 *
 *   pvft-faultproxy --listen HOST:PORT --target HOST:PORT --control FIFO
 *
 * Each connection accepted on --listen is joined to a new connection to
 * --target (its first address), and bytes go both ways through bounded
 * queues (FP_QUEUE_MAX per direction: a full queue stops reading from its
 * source, so a slow reader slows the writer as TCP would). One thread, one
 * poll().
 *
 * The FIFO takes one command per line; each is acknowledged on stderr by
 * the line shown, which is what a test waits for ("faultproxy: " first):
 *   pass      "pass": forward normally;
 *   stall     "stall": forward nothing either way and read nothing (new
 *             connections wait in the listen backlog), keep every
 *             connection open;
 *   delay MS  "delay MS": forward each chunk MS ms after it was read, in
 *             order;
 *   cut       "cut (N reset)": reset (RST) every connection at both ends;
 *             the mode stays;
 *   refuse    "refuse (N reset)": as cut, then reset new connections as
 *             they come (accepted, then closed with an RST);
 *   quit      "quit": exit 0, as SIGTERM, SIGINT or SIGHUP do.
 * Anything else is said to be ignored, and is.
 * A mode applies to bytes already queued: after "delay 1000", "pass"
 * releases what was held back at once.
 *
 * stdout gets one line, "ready", once the proxy listens; stderr first says
 * on which port ("faultproxy: listening on HOST:PORT"), for --listen with
 * port 0.
 *
 * Nothing a peer does ends the proxy: a reset or refused connection is
 * logged and reset at its other end.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "tcp.h"

#define FP_QUEUE_MAX (1u << 20) /* bytes queued per direction */
#define FP_READ_MAX 65536u
#define FP_MAX_CONNS 64
#define FP_LINE_MAX 256
#define FP_DELAY_MAX_MS 3600000u

enum fp_mode {
	FP_PASS,
	FP_STALL,
	FP_DELAY,
	FP_REFUSE,
};

/* A connection's two ends; flow[i] carries bytes from fd[i] to fd[!i]. */
enum {
	FP_CLIENT,
	FP_TARGET,
};

/* What one read() got, waiting for its time to be written. */
struct chunk {
	struct chunk *next;
	int64_t read_ms;
	size_t len, off;
	char data[];
};

struct flow {
	struct chunk *head, *tail;
	size_t queued;
	bool eof;     /* the source has said EOF */
	bool shut;    /* ... and it went on: shutdown(SHUT_WR) of the sink */
	bool blocked; /* the sink's send buffer is full: wait for POLLOUT */
};

struct conn {
	bool used;
	bool connecting; /* the target's non-blocking connect() */
	unsigned long id;
	int fd[2];
	struct flow flow[2];
	/*
	 * The end hung up or failed while we wanted nothing from it: poll()
	 * would report that at once, forever, so it is not polled until we
	 * want to read or write it (which then finds out what happened).
	 */
	bool parked[2];
};

struct proxy {
	enum fp_mode mode;
	unsigned int delay_ms;
	int listen_fd, ctl_fd, sig_fd;
	struct addrinfo *target;
	const char *target_name;
	unsigned long next_id;
	struct conn conns[FP_MAX_CONNS];
	char line[FP_LINE_MAX];
	size_t line_len;
	bool line_too_long;
	bool quit;
};

static const char *const end_name[2] = { "client", "target" };

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("faultproxy: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("faultproxy: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(EXIT_FAILURE);
}

/* When the chunk may go out, in the current mode (not in a stall). */
static int64_t chunk_due(const struct proxy *p, const struct chunk *c)
{
	return p->mode == FP_DELAY ? c->read_ms + p->delay_ms : c->read_ms;
}

static void flow_free(struct flow *f)
{
	while (f->head) {
		struct chunk *c = f->head;

		f->head = c->next;
		free(c);
	}
	memset(f, 0, sizeof(*f));
}

static void conn_release(struct conn *c, bool rst)
{
	for (int i = 0; i < 2; i++) {
		/* A connect() still in progress has no peer to reset. */
		if (rst && !(i == FP_TARGET && c->connecting))
			tcp__close_rst(c->fd[i]);
		else
			close(c->fd[i]);
		flow_free(&c->flow[i]);
	}
	memset(c, 0, sizeof(*c));
}

/* Both ends reset: what a peer's failure or a "cut" looks like. */
static void conn_abort(struct conn *c, int end, const char *why)
{
	say("conn %lu: %s: %s", c->id, end_name[end], why);
	conn_release(c, true);
}

static unsigned int abort_all(struct proxy *p)
{
	unsigned int n = 0;

	for (int i = 0; i < FP_MAX_CONNS; i++) {
		if (p->conns[i].used) {
			conn_release(&p->conns[i], true);
			n++;
		}
	}
	return n;
}

static void conn_open(struct proxy *p, int client_fd)
{
	const struct addrinfo *ai = p->target;
	struct conn *c = NULL;
	int fd;

	for (int i = 0; i < FP_MAX_CONNS && !c; i++)
		if (!p->conns[i].used)
			c = &p->conns[i];
	if (!c) {
		say("%d connections open: resetting a new one", FP_MAX_CONNS);
		tcp__close_rst(client_fd);
		return;
	}
	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0) {
		say("socket for %s: %s", p->target_name, strerror(errno));
		tcp__close_rst(client_fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->id = ++p->next_id;
	c->fd[FP_CLIENT] = client_fd;
	c->fd[FP_TARGET] = fd;
	c->connecting = true;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		c->connecting = false;
	else if (errno != EINPROGRESS)
		conn_abort(c, FP_TARGET, strerror(errno));
}

static void accept_all(struct proxy *p)
{
	for (;;) {
		int fd = accept4(p->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/* EAGAIN, or a connection that died in the backlog. */
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				say("accept: %s", strerror(errno));
			return;
		}
		if (p->mode == FP_REFUSE)
			tcp__close_rst(fd);
		else
			conn_open(p, fd);
	}
}

static bool can_read(const struct proxy *p, const struct conn *c, int end)
{
	const struct flow *f = &c->flow[end];

	return p->mode != FP_STALL && !f->eof && f->queued < FP_QUEUE_MAX &&
	       !(end == FP_TARGET && c->connecting);
}

/* Read what @end has into its flow (or find it gone, and abort). */
static void flow_read(struct conn *c, int end)
{
	static char buf[FP_READ_MAX];
	struct flow *f = &c->flow[end];
	size_t room = FP_QUEUE_MAX - f->queued;
	struct chunk *ch;
	ssize_t r;

	r = recv(c->fd[end], buf, room < sizeof(buf) ? room : sizeof(buf),
		 MSG_DONTWAIT);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_abort(c, end, strerror(errno));
		return;
	}
	if (r == 0) {
		f->eof = true;
		return;
	}
	ch = malloc(sizeof(*ch) + (size_t)r);
	if (!ch) {
		conn_abort(c, end, "out of memory");
		return;
	}
	ch->next = NULL;
	ch->read_ms = ((int64_t)clock__mono_ms());
	ch->len = (size_t)r;
	ch->off = 0;
	memcpy(ch->data, buf, (size_t)r);
	if (f->tail)
		f->tail->next = ch;
	else
		f->head = ch;
	f->tail = ch;
	f->queued += (size_t)r;
}

/*
 * Write what is due of @end's flow to the other end, then pass its EOF
 * on once all is written. False: the connection is gone. *@wait_r is
 * lowered to the ms until the next chunk is due, if one is waiting.
 */
static bool flow_write(struct proxy *p, struct conn *c, int end, int64_t now,
		       int64_t *wait_r)
{
	struct flow *f = &c->flow[end];
	int sink = !end;

	if (p->mode == FP_STALL || f->blocked ||
	    (sink == FP_TARGET && c->connecting))
		return true;
	while (f->head) {
		struct chunk *ch = f->head;
		int64_t due = chunk_due(p, ch);
		ssize_t r;

		if (due > now) {
			if (due - now < *wait_r)
				*wait_r = due - now;
			return true;
		}
		r = send(c->fd[sink], ch->data + ch->off, ch->len - ch->off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				f->blocked = true;
				return true;
			}
			conn_abort(c, sink, strerror(errno));
			return false;
		}
		ch->off += (size_t)r;
		f->queued -= (size_t)r;
		if (ch->off < ch->len)
			continue;
		f->head = ch->next;
		if (!f->head)
			f->tail = NULL;
		free(ch);
	}
	if (f->eof && !f->shut) {
		shutdown(c->fd[sink], SHUT_WR);
		f->shut = true;
	}
	return true;
}

/* Move what can move; close the connection once both EOFs went through. */
static void conn_pump(struct proxy *p, struct conn *c, int64_t now,
		      int64_t *wait_r)
{
	for (int end = 0; end < 2; end++)
		if (!flow_write(p, c, end, now, wait_r))
			return;
	if (c->flow[0].shut && c->flow[1].shut)
		conn_release(c, false);
}

static short conn_events(const struct proxy *p, const struct conn *c, int end)
{
	short ev = 0;

	if (p->mode == FP_STALL)
		return 0;
	if (can_read(p, c, end))
		ev |= POLLIN;
	if (c->flow[!end].blocked || (end == FP_TARGET && c->connecting))
		ev |= POLLOUT;
	return ev;
}

static void conn_poll_done(struct conn *c, int end, short events, short revents)
{
	if (!revents)
		return;
	if (end == FP_TARGET && c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd[end], SOL_SOCKET, SO_ERROR, &err, &len))
			err = errno;
		if (err) {
			conn_abort(c, FP_TARGET, strerror(err));
			return;
		}
		c->connecting = false;
		return;
	}
	if (revents & POLLOUT)
		c->flow[!end].blocked = false;
	if (events & POLLIN) {
		if (revents & (POLLIN | POLLERR | POLLHUP))
			flow_read(c, end);
	} else if (events & POLLOUT) {
		/* The next write finds out what went wrong. */
		c->flow[!end].blocked = false;
	} else if (revents & (POLLERR | POLLHUP)) {
		c->parked[end] = true;
	}
}

static void set_mode(struct proxy *p, enum fp_mode mode, unsigned int delay)
{
	p->mode = mode;
	p->delay_ms = delay;
	switch (mode) {
	case FP_PASS:
		say("pass");
		break;
	case FP_STALL:
		say("stall");
		break;
	case FP_DELAY:
		say("delay %u", delay);
		break;
	case FP_REFUSE:
		say("refuse (%u reset)", abort_all(p));
		break;
	}
}

static void command(struct proxy *p, char *line)
{
	char *arg, *end;
	unsigned long ms;

	line[strcspn(line, "\r")] = '\0';
	arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (!*line)
		return;
	if (!strcmp(line, "pass") && !arg) {
		set_mode(p, FP_PASS, 0);
	} else if (!strcmp(line, "stall") && !arg) {
		set_mode(p, FP_STALL, 0);
	} else if (!strcmp(line, "delay") && arg) {
		errno = 0;
		ms = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || *arg == '-' ||
		    ms > FP_DELAY_MAX_MS)
			say("delay %s: not a delay in ms (0..%u), ignored", arg,
			    FP_DELAY_MAX_MS);
		else
			set_mode(p, FP_DELAY, (unsigned int)ms);
	} else if (!strcmp(line, "cut") && !arg) {
		say("cut (%u reset)", abort_all(p));
	} else if (!strcmp(line, "refuse") && !arg) {
		set_mode(p, FP_REFUSE, 0);
	} else if (!strcmp(line, "quit") && !arg) {
		say("quit");
		p->quit = true;
	} else {
		say("unknown command \"%s%s%s\" (pass, stall, delay MS, cut, "
		    "refuse, quit), ignored",
		    line, arg ? " " : "", arg ? arg : "");
	}
}

/* Run the complete lines the FIFO holds; an overlong line is dropped. */
static void control_read(struct proxy *p)
{
	char buf[FP_LINE_MAX];
	ssize_t r;

	while ((r = read(p->ctl_fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < r && !p->quit; i++) {
			if (buf[i] != '\n') {
				if (p->line_len < sizeof(p->line) - 1)
					p->line[p->line_len++] = buf[i];
				else
					p->line_too_long = true;
				continue;
			}
			p->line[p->line_len] = '\0';
			if (p->line_too_long)
				say("command line over %d bytes, ignored",
				    FP_LINE_MAX - 1);
			else
				command(p, p->line);
			p->line_len = 0;
			p->line_too_long = false;
		}
		if (p->quit)
			return;
	}
}

/*
 * Read-write, so that the FIFO always has a writer (us): no EOF when a
 * test's `echo stall >FIFO` closes, and the test's open never blocks.
 */
static int open_control(const char *path)
{
	struct stat st;
	int fd;

	if (mkfifo(path, 0600) && errno != EEXIST)
		die("mkfifo %s: %s", path, strerror(errno));
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISFIFO(st.st_mode))
		die("%s: not a FIFO", path);
	return fd;
}

static int open_signals(void)
{
	sigset_t set;
	int fd;

	/* A peer gone away is a send() error, never a signal. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		die("sigprocmask: %s", strerror(errno));
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		die("signalfd: %s", strerror(errno));
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pvft-faultproxy --listen HOST:PORT --target HOST:PORT "
		"--control FIFO\n"
		"A TCP proxy for tests that stalls, delays, cuts or refuses\n"
		"connections on commands written to FIFO, one a line:\n"
		"  pass | stall | delay MS | cut | refuse | quit\n"
		"Says \"ready\" on stdout once it listens.\n");
}

static void parse_args(struct proxy *p, int argc, char **argv,
		       const char **listen_r, const char **control_r)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "target", required_argument, NULL, 't' },
		{ "control", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[TCP_ERR_MAX];
	int opt;

	while ((opt = getopt_long(argc, argv, "l:t:c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			*listen_r = optarg;
			break;
		case 't':
			p->target_name = optarg;
			break;
		case 'c':
			*control_r = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || !*listen_r || !p->target_name || !*control_r) {
		usage(stderr);
		exit(2);
	}
	if (tcp__resolve(p->target_name, false, &p->target, err))
		die("--target %s", err);
}

int main(int argc, char **argv)
{
	static struct proxy proxy;
	struct proxy *p = &proxy;
	const char *listen_addr = NULL, *control = NULL;
	struct pollfd pfd[3 + 2 * FP_MAX_CONNS];
	char err[TCP_ERR_MAX];

	parse_args(p, argc, argv, &listen_addr, &control);
	p->sig_fd = open_signals();
	p->ctl_fd = open_control(control);
	p->listen_fd = tcp__listen(listen_addr, err);
	if (p->listen_fd < 0)
		die("%s", err);
	/* tcp__listen() found the colon. */
	say("listening on %.*s:%u, target %s",
	    (int)(strrchr(listen_addr, ':') - listen_addr), listen_addr,
	    tcp__port(p->listen_fd), p->target_name);
	printf("ready\n");
	fflush(stdout);

	while (!p->quit) {
		int64_t now = ((int64_t)clock__mono_ms()), wait = INT64_MAX;
		short events[FP_MAX_CONNS][2];
		nfds_t n = 3;
		int r;

		for (int i = 0; i < FP_MAX_CONNS; i++)
			if (p->conns[i].used)
				conn_pump(p, &p->conns[i], now, &wait);

		pfd[0] = (struct pollfd){ .fd = p->sig_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = p->ctl_fd, .events = POLLIN };
		/* In a stall, new connections wait in the backlog. */
		pfd[2] = (struct pollfd){
			.fd = p->mode == FP_STALL ? -1 : p->listen_fd,
			.events = POLLIN,
		};
		for (int i = 0; i < FP_MAX_CONNS; i++) {
			struct conn *c = &p->conns[i];

			for (int end = 0; end < 2; end++) {
				short ev = c->used ? conn_events(p, c, end) : 0;

				events[i][end] = ev;
				pfd[n++] = (struct pollfd){
					.fd = c->used && (ev || !c->parked[end])
						  ? c->fd[end]
						  : -1,
					.events = ev,
				};
			}
		}
		r = poll(pfd, n, wait == INT64_MAX ? -1 : (int)wait);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(p->sig_fd, &si, sizeof(si)) == sizeof(si)) {
				say("quit (%s)", strsignal((int)si.ssi_signo));
				break;
			}
		}
		for (int i = 0; i < FP_MAX_CONNS; i++)
			for (int end = 0; end < 2; end++)
				if (p->conns[i].used)
					conn_poll_done(
					    &p->conns[i], end, events[i][end],
					    pfd[3 + 2 * i + end].revents);
		if (pfd[2].revents)
			accept_all(p);
		if (pfd[1].revents)
			control_read(p);
	}
	for (int i = 0; i < FP_MAX_CONNS; i++)
		if (p->conns[i].used)
			conn_release(&p->conns[i], false);
	freeaddrinfo(p->target);
	return EXIT_SUCCESS;
}
