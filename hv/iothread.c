// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "domain.h"
#include "iothread.h"
#include "log.h"

/* A guest must make a hypercall every few ms (DESIGN.md 2); say so at 2 s. */
#define WATCHDOG_PERIOD_MS 1000
#define WATCHDOG_STUCK_PERIODS 2

struct iothread {
	pthread_t tid;
	int stop_fd;
	int in_fd; /* -1 once closed */
	struct domain *d;
};

static void read_input(struct iothread *io)
{
	struct console *c = &io->d->console;
	uint8_t buf[512];
	ssize_t r = read(io->in_fd, buf, sizeof(buf));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		io->in_fd = -1;
		console__close_input(c);
	} else {
		/*
		 * A full queue drops the excess: the guest is not reading its
		 * console, and input must not stall the I/O thread.
		 */
		if (console__push_input(c, buf, r) < (size_t)r)
			pr_warn("console input queue full: input dropped");
	}
	sched__wake(&io->d->sched);
}

static void *iothread_main(void *arg)
{
	struct iothread *io = arg;
	struct domain *d = io->d;
	uint64_t last = 0;
	unsigned int stuck = 0;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = io->stop_fd, .events = POLLIN },
			{ .fd = io->in_fd, .events = POLLIN },
		};
		int n = poll(pfd, io->in_fd >= 0 ? 2 : 1, WATCHDOG_PERIOD_MS);
		uint64_t exits;

		if (n < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (io->in_fd >= 0 && pfd[1].revents)
			read_input(io);
		if (n != 0)
			continue;

		/* The watchdog: no exit for a while and not blocked. */
		exits = __atomic_load_n(&d->exits, __ATOMIC_RELAXED);
		if (exits != last ||
		    __atomic_load_n(&d->sched.blocked, __ATOMIC_RELAXED)) {
			last = exits;
			stuck = 0;
		} else if (++stuck == WATCHDOG_STUCK_PERIODS) {
			pr_warn(
			    "guest made no hypercall for %u s (exit ordinal "
			    "%llu): it gets no events or timers until it "
			    "does",
			    stuck * WATCHDOG_PERIOD_MS / 1000,
			    (unsigned long long)exits);
		}
	}
	return NULL;
}

int iothread__start(struct domain *d, int in_fd)
{
	struct iothread *io = calloc(1, sizeof(*io));
	int rc;

	if (!io)
		return -ENOMEM;
	io->d = d;
	io->in_fd = in_fd;
	io->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (io->stop_fd < 0) {
		rc = -errno;
		free(io);
		return rc;
	}
	if (in_fd < 0)
		console__close_input(&d->console);
	rc = -pthread_create(&io->tid, NULL, iothread_main, io);
	if (rc) {
		close(io->stop_fd);
		free(io);
		return rc;
	}
	d->io = io;
	return 0;
}

void iothread__stop(struct domain *d)
{
	struct iothread *io = d->io;
	uint64_t one = 1;

	if (!io)
		return;
	if (write(io->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(io->tid, NULL);
	close(io->stop_fd);
	free(io);
	d->io = NULL;
}
