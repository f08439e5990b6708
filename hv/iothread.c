// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "domain.h"
#include "iothread.h"
#include "log.h"

/* A guest must make a hypercall every few ms (DESIGN.md 2); say so at 2 s. */
#define WATCHDOG_PERIOD_NS 1000000000ull
#define WATCHDOG_STUCK_PERIODS 2

struct iothread {
	pthread_t tid;
	int stop_fd;
	int sig_fd;
	int in_fd; /* -1 once at end of file */
	bool in_eof;
	struct domain *d;
	/*
	 * Input read but not yet queued: while there is some, stdin is not
	 * read, so a guest that does not read its console holds its input
	 * back instead of losing it.
	 */
	uint8_t pending[512];
	size_t pending_off, pending_len;
	/* Watchdog state. */
	uint64_t last_exits;
	unsigned int stuck;
	uint32_t perturb; /* PVFT_DEBUG_PERTURB state for this thread */
};

static void read_input(struct iothread *io)
{
	ssize_t r = read(io->in_fd, io->pending, sizeof(io->pending));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		io->in_fd = -1;
		io->in_eof = true;
		return;
	}
	io->pending_off = 0;
	io->pending_len = r;
}

static void push_input(struct iothread *io)
{
	struct console_input *c = &io->d->cin;
	size_t n;

	if (io->pending_off < io->pending_len) {
		n = coninput__push(c, io->pending + io->pending_off,
				   io->pending_len - io->pending_off);
		io->pending_off += n;
		if (n)
			sched__wake(&io->d->sched);
	}
	if (io->in_eof && io->pending_off == io->pending_len) {
		/* Only once everything read is queued. */
		coninput__close(c);
		io->in_eof = false;
		sched__wake(&io->d->sched);
	}
}

static void take_signal(struct iothread *io)
{
	struct signalfd_siginfo si;

	if (read(io->sig_fd, &si, sizeof(si)) == sizeof(si))
		sched__request_stop(io->d, si.ssi_signo);
}

/* No exit for a while and not in the hv: the guest is not calling us. */
static void watchdog(struct iothread *io)
{
	struct domain *d = io->d;
	uint64_t exits = __atomic_load_n(&d->exits, __ATOMIC_RELAXED);

	if (exits != io->last_exits ||
	    __atomic_load_n(&d->sched.in_hv, __ATOMIC_RELAXED)) {
		io->last_exits = exits;
		io->stuck = 0;
	} else if (++io->stuck == WATCHDOG_STUCK_PERIODS) {
		pr_warn("guest made no hypercall for %u s (exit ordinal %llu): "
			"it gets no events or timers until it does",
			(unsigned int)(io->stuck * WATCHDOG_PERIOD_NS /
				       1000000000ull),
			(unsigned long long)exits);
	} else if (gate__replaying(&d->gate) &&
		   io->stuck * WATCHDOG_PERIOD_NS ==
		       __atomic_load_n(&d->gate.stall_limit_s,
				       __ATOMIC_RELAXED) *
			   1000000000ull) {
		/* A replay must not spin forever where the log goes on. */
		sched__request_stop(d, SCHED_STOP_STALLED);
	}
}

static void *iothread_main(void *arg)
{
	struct iothread *io = arg;
	struct console_input *c = &io->d->cin;
	uint64_t next_check = clock__mono_ns() + WATCHDOG_PERIOD_NS;

	io->perturb = io->d->gate.perturb_seed * 2654435761u | 1;
	for (;;) {
		bool holding = io->pending_off < io->pending_len;
		struct pollfd pfd[3] = {
			{ .fd = io->stop_fd, .events = POLLIN },
			{ .fd = io->sig_fd, .events = POLLIN },
			/* Either more input, or room for what we hold. */
			{ .fd = holding ? c->room_fd : io->in_fd,
			  .events = POLLIN },
		};
		uint64_t now = clock__mono_ns();
		int timeout = next_check > now
				  ? (int)((next_check - now) / 1000000) + 1
				  : 0;

		if (poll(pfd, 3, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		gate__perturb_host(&io->d->gate, &io->perturb);
		if (pfd[1].revents)
			take_signal(io);
		if (pfd[2].revents) {
			if (holding)
				coninput__drain_room(c);
			else
				read_input(io);
			push_input(io);
		}
		now = clock__mono_ns();
		if (now >= next_check) {
			watchdog(io);
			next_check = now + WATCHDOG_PERIOD_NS;
		}
	}
	return NULL;
}

int iothread__start(struct domain *d, int in_fd, const sigset_t *signals)
{
	struct iothread *io = calloc(1, sizeof(*io));
	int rc;

	if (!io)
		return -ENOMEM;
	io->d = d;
	io->in_fd = in_fd < 0 ? -1 : in_fd;
	io->in_eof = in_fd == -1;
	io->stop_fd = eventfd(0, EFD_CLOEXEC);
	io->sig_fd = signalfd(-1, signals, SFD_CLOEXEC);
	if (io->stop_fd < 0 || io->sig_fd < 0) {
		rc = -errno;
		goto fail;
	}
	push_input(io); /* no input at all: say so before the guest runs */
	rc = -pthread_create(&io->tid, NULL, iothread_main, io);
	if (rc)
		goto fail;
	d->io = io;
	return 0;
fail:
	if (io->stop_fd >= 0)
		close(io->stop_fd);
	if (io->sig_fd >= 0)
		close(io->sig_fd);
	free(io);
	return rc;
}

void iothread__stop(struct domain *d)
{
	struct iothread *io = d->io;
	uint64_t one = 1;

	if (!io)
		return;
	/* An eventfd write cannot fail short of overflow: join for sure. */
	while (write(io->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(io->tid, NULL);
	close(io->stop_fd);
	close(io->sig_fd);
	free(io);
	d->io = NULL;
}
