// SPDX-License-Identifier: MIT
/*
 * pvft-echoserver: sends back whatever each connection sends, for the
 * tests of pvft-faultproxy (bash can connect, not listen).
 *
 *   pvft-echoserver --listen HOST:PORT
 *
 * stdout gets one line, "ready", once it listens; stderr says on which
 * port, then one line per connection opened and per connection ended
 * ("echoserver: conn N: open", "... eof", "... reset: ERROR"), which is
 * how a test sees what reached the server. Ends on SIGTERM or SIGINT,
 * status 0.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp.h"

#define ECHO_MAX_CONNS 64
#define ECHO_BUF 65536

struct echo_conn {
	int fd; /* -1: a free slot */
	unsigned long id;
	bool eof;
	size_t off, len; /* what is in buf, not yet sent back */
	char buf[ECHO_BUF];
};

static struct echo_conn conns[ECHO_MAX_CONNS];
static unsigned long next_id;

static void conn_end(struct echo_conn *c, const char *why)
{
	fprintf(stderr, "echoserver: conn %lu: %s\n", c->id, why);
	close(c->fd);
	c->fd = -1;
}

static void accept_all(int listen_fd)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct echo_conn *c = NULL;

		if (fd < 0)
			return;
		for (int i = 0; i < ECHO_MAX_CONNS && !c; i++)
			if (conns[i].fd < 0)
				c = &conns[i];
		if (!c) {
			fprintf(stderr, "echoserver: too many connections\n");
			tcp__close_rst(fd);
			continue;
		}
		c->fd = fd;
		c->id = ++next_id;
		c->eof = false;
		c->off = c->len = 0;
		fprintf(stderr, "echoserver: conn %lu: open\n", c->id);
	}
}

static void conn_io(struct echo_conn *c, short revents)
{
	ssize_t r;

	if (revents & (POLLIN | POLLERR | POLLHUP) && !c->eof &&
	    c->off + c->len < ECHO_BUF) {
		r = recv(c->fd, c->buf + c->off + c->len,
			 ECHO_BUF - c->off - c->len, MSG_DONTWAIT);
		if (r == 0) {
			c->eof = true;
		} else if (r > 0) {
			c->len += (size_t)r;
		} else if (errno != EAGAIN && errno != EINTR) {
			char why[128];

			snprintf(why, sizeof(why), "reset: %s",
				 strerror(errno));
			conn_end(c, why);
			return;
		}
	}
	if (c->len) {
		r = send(c->fd, c->buf + c->off, c->len,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			char why[128];

			snprintf(why, sizeof(why), "reset: %s",
				 strerror(errno));
			conn_end(c, why);
			return;
		}
		if (r > 0) {
			c->off += (size_t)r;
			c->len -= (size_t)r;
		}
		/* Room for the next read at the end of buf. */
		if (!c->len || c->off + c->len == ECHO_BUF) {
			memmove(c->buf, c->buf + c->off, c->len);
			c->off = 0;
		}
	}
	if (c->eof && !c->len)
		conn_end(c, "eof");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct pollfd pfd[2 + ECHO_MAX_CONNS];
	const char *listen_addr = NULL;
	char err[TCP_ERR_MAX];
	int opt, listen_fd, sig_fd;
	sigset_t set;

	while ((opt = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
		if (opt != 'l')
			goto usage;
		listen_addr = optarg;
	}
	if (!listen_addr || optind != argc)
		goto usage;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	listen_fd = tcp__listen(listen_addr, err);
	if (sig_fd < 0 || listen_fd < 0) {
		fprintf(stderr, "echoserver: error: %s\n",
			listen_fd < 0 ? err : strerror(errno));
		return EXIT_FAILURE;
	}
	for (int i = 0; i < ECHO_MAX_CONNS; i++)
		conns[i].fd = -1;
	fprintf(stderr, "echoserver: listening on port %u\n",
		tcp__port(listen_fd));
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		for (int i = 0; i < ECHO_MAX_CONNS; i++) {
			struct echo_conn *c = &conns[i];
			short ev = 0;

			if (!c->eof && c->off + c->len < ECHO_BUF)
				ev |= POLLIN;
			if (c->len)
				ev |= POLLOUT;
			pfd[2 + i] =
			    (struct pollfd){ .fd = c->fd, .events = ev };
		}
		if (poll(pfd, 2 + ECHO_MAX_CONNS, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "echoserver: error: poll: %s\n",
				strerror(errno));
			return EXIT_FAILURE;
		}
		if (pfd[0].revents)
			break;
		for (int i = 0; i < ECHO_MAX_CONNS; i++)
			if (conns[i].fd >= 0 && pfd[2 + i].revents)
				conn_io(&conns[i], pfd[2 + i].revents);
		if (pfd[1].revents)
			accept_all(listen_fd);
	}
	return EXIT_SUCCESS;

usage:
	fprintf(stderr, "Usage: pvft-echoserver --listen HOST:PORT\n");
	return 2;
}
