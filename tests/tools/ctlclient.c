// SPDX-License-Identifier: MIT
/*
 * pvft-ctlclient: a control-socket client (Documentation/control-protocol.md)
 * that behaves as the tests need, where pvft itself behaves well.
 *
 *   pvft-ctlclient call SOCKET LINE
 *       Send LINE (a request) and print the reply line on stdout. Exit 0
 *       with a reply, 1 without one (the connection ended first).
 *   pvft-ctlclient poll SOCKET
 *       query-status as fast as it can, one request at a time, connecting
 *       again whenever the connection ends, until SIGTERM or SIGINT or
 *       until the socket is gone after a connection worked. stdout: "N
 *       replies". Exit 0.
 *   pvft-ctlclient flood SOCKET CONSOLE LINES
 *       A client that does not read its replies. (1) It sends query-status
 *       one request at a time until a reply no longer arrives (pvft-hv
 *       could not write it: the socket is full); (2) not reading, it waits
 *       until the file CONSOLE (the guest's console output) has LINES more
 *       lines: pvft-hv must hold its unread replies, not wait for the
 *       client; (3) it sends requests as fast as it can, still not
 *       reading, until pvft-hv drops the connection. stdout: one line per
 *       phase. Exit 0 once dropped in (3); 1 if dropped before, or if a
 *       phase makes no progress for HANG_S seconds (a hang guard, not a
 *       measurement).
 *
 * Errors go to stderr.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define HANG_S 120
/* How long phase (1) waits for one reply before it takes the socket as full.
 * Too short only sends one request fewer: never a wrong verdict. */
#define REPLY_WAIT_MS 500

static const char status_req[] = "{\"execute\":\"query-status\"}\n";
static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* A connection to @path, or -errno. */
static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* One line (without its newline) into @buf; 0, or -1 at EOF or error. */
static int read_line(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR && !stop)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (len < cap - 1)
			buf[len++] = c;
	}
	buf[len] = '\0';
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t r = send(fd, buf, len, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		buf += r;
		len -= (size_t)r;
	}
	return 0;
}

static int do_call(const char *path, const char *line)
{
	static char buf[1 << 20];
	int fd = connect_to(path);

	if (fd < 0) {
		fprintf(stderr, "ctlclient: %s: %s\n", path, strerror(-fd));
		return 1;
	}
	/* The greeting, the request, its reply. */
	if (read_line(fd, buf, sizeof(buf)) ||
	    write_all(fd, line, strlen(line)) || write_all(fd, "\n", 1) ||
	    read_line(fd, buf, sizeof(buf))) {
		fprintf(stderr, "ctlclient: %s: no reply\n", path);
		close(fd);
		return 1;
	}
	printf("%s\n", buf);
	close(fd);
	return 0;
}

static int do_poll(const char *path)
{
	static char buf[1 << 16];
	unsigned long replies = 0;
	bool connected = false;

	while (!stop) {
		int fd = connect_to(path);

		if (fd < 0) {
			/* Gone after it was there: pvft-hv ended. */
			if (connected && (fd == -ENOENT || fd == -ECONNREFUSED))
				break;
			usleep(1000);
			continue;
		}
		connected = true;
		if (!read_line(fd, buf, sizeof(buf)))
			while (!stop &&
			       !write_all(fd, status_req,
					  sizeof(status_req) - 1) &&
			       !read_line(fd, buf, sizeof(buf))) {
				replies++;
			}
		close(fd);
	}
	printf("%lu replies\n", replies);
	return 0;
}

static long count_lines(const char *file)
{
	FILE *f = fopen(file, "r");
	long n = 0;
	int c;

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Bytes waiting to be read on @fd. */
static int unread(int fd)
{
	int n = 0;

	if (ioctl(fd, FIONREAD, &n))
		return -1;
	return n;
}

/* Has the server closed its end? Waits up to @ms for it. */
static bool dropped(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, ms) > 0 && (p.revents & (POLLRDHUP | POLLHUP));
}

static int do_flood(const char *path, const char *console, long lines)
{
	static char buf[1 << 16];
	unsigned long sent = 0;
	long l0, l;
	double t;
	int fd = connect_to(path), have;

	if (fd < 0) {
		fprintf(stderr, "ctlclient: %s: %s\n", path, strerror(-fd));
		return 1;
	}
	if (read_line(fd, buf, sizeof(buf))) {
		fprintf(stderr, "ctlclient: %s: no greeting\n", path);
		return 1;
	}
	/* (1) One at a time, until a reply stays in pvft-hv. */
	have = unread(fd);
	for (;;) {
		int now = have;

		if (write_all(fd, status_req, sizeof(status_req) - 1)) {
			printf("dropped while filling, after %lu requests\n",
			       sent);
			return 1;
		}
		sent++;
		for (t = (clock__mono_ns() / 1e9);
		     (clock__mono_ns() / 1e9) - t < REPLY_WAIT_MS / 1e3;) {
			now = unread(fd);
			if (now != have)
				break;
			usleep(1000);
		}
		if (now == have)
			break;
		have = now;
	}
	printf("filled: %lu requests, %d bytes of replies unread\n", sent,
	       have);
	fflush(stdout);
	/* (2) The guest goes on while they wait. */
	l0 = count_lines(console);
	for (t = (clock__mono_ns() / 1e9);; usleep(10000)) {
		l = count_lines(console);
		if (l >= l0 + lines)
			break;
		if (dropped(fd, 0)) {
			printf("dropped while holding: the guest printed %ld "
			       "of %ld lines meanwhile\n",
			       l - l0, lines);
			return 1;
		}
		if ((clock__mono_ns() / 1e9) - t > HANG_S) {
			printf("hung: the guest printed %ld of %ld lines in "
			       "%d s\n",
			       l - l0, lines, HANG_S);
			return 1;
		}
	}
	printf("held: the guest printed %ld lines while %d bytes of replies "
	       "were unread\n",
	       l - l0, unread(fd));
	fflush(stdout);
	/* (3) More than pvft-hv may hold: dropped. */
	for (t = (clock__mono_ns() / 1e9);
	     (clock__mono_ns() / 1e9) - t < HANG_S;) {
		ssize_t r = send(fd, status_req, sizeof(status_req) - 1,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r > 0) {
			sent++;
			continue;
		}
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (dropped(fd, 100))
			break;
	}
	if (!dropped(fd, 0) && (clock__mono_ns() / 1e9) - t >= HANG_S) {
		printf("hung: not dropped after %lu requests\n", sent);
		return 1;
	}
	printf("dropped: after %lu requests\n", sent);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (argc == 4 && !strcmp(argv[1], "call"))
		return do_call(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "poll"))
		return do_poll(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "flood"))
		return do_flood(argv[2], argv[3], atol(argv[4]));
	fprintf(stderr, "usage: pvft-ctlclient call SOCKET LINE | poll SOCKET "
			"| flood SOCKET CONSOLE LINES\n");
	return 2;
}
