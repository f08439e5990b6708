// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "console.h"
#include "control.h"
#include "domain.h"
#include "guestmem.h"
#include "log.h"

int console__init(struct console *c, int out_fd)
{
	memset(c, 0, sizeof(*c));
	c->out_fd = out_fd;
	c->room_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->room_fd < 0)
		return -errno;
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void console__dispose(struct console *c)
{
	if (c->room_fd >= 0)
		close(c->room_fd);
	c->room_fd = -1;
	pthread_mutex_destroy(&c->lock);
}

void console__drain_room(struct console *c)
{
	uint64_t v;

	if (read(c->room_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_warn("console: %s", strerror(errno));
}

size_t console__push_input(struct console *c, const void *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = CONSOLE_QUEUE_SIZE - c->queue_len;
	if (n > len)
		n = len;
	memcpy(c->queue + c->queue_len, buf, n);
	c->queue_len += n;
	pthread_mutex_unlock(&c->lock);
	/* Release: the vCPU thread that sees the flag also sees the bytes. */
	if (n)
		atomic_store_explicit(&c->input_ready, true,
				      memory_order_release);
	return n;
}

void console__close_input(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	c->input_closed = true;
	pthread_mutex_unlock(&c->lock);
	atomic_store_explicit(&c->input_ready, true, memory_order_release);
}

size_t console__stage_input(struct console *c, bool *closed_r)
{
	bool was_closed = c->closed_seen;
	size_t n;

	*closed_r = false;
	if (!atomic_load_explicit(&c->input_ready, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&c->lock);
	n = sizeof(c->staged) - c->staged_len;
	if (n > c->queue_len)
		n = c->queue_len;
	memcpy(c->staged + c->staged_len, c->queue, n);
	c->staged_len += n;
	memmove(c->queue, c->queue + n, c->queue_len - n);
	c->queue_len -= n;
	c->closed_seen = c->input_closed && !c->queue_len;
	atomic_store_explicit(&c->input_ready, c->queue_len > 0,
			      memory_order_relaxed);
	pthread_mutex_unlock(&c->lock);
	*closed_r = c->closed_seen && !was_closed;
	if (n) {
		uint64_t one = 1;

		/* The I/O thread may be holding input for want of room. */
		if (write(c->room_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			pr_warn("console: %s", strerror(errno));
	}
	return n;
}

int console__stage_replayed(struct console *c, const uint8_t *buf, size_t len,
			    bool closed)
{
	if (len > sizeof(c->staged) - c->staged_len)
		return -ENOSPC;
	memcpy(c->staged + c->staged_len, buf, len);
	c->staged_len += len;
	if (closed)
		c->closed_seen = true;
	return 0;
}

bool console__input_ended(struct console *c)
{
	bool ended;

	pthread_mutex_lock(&c->lock);
	ended = c->input_closed;
	pthread_mutex_unlock(&c->lock);
	return ended;
}

bool console__input_open(struct console *c)
{
	/*
	 * Bytes already staged were announced: they wake nobody. New ones
	 * raise the port only if input goes on and there is room to stage.
	 */
	return !c->closed_seen && c->staged_len < sizeof(c->staged);
}

static int write_all(struct domain *d, int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t r = write(fd, buf, len);

		/* A stuck reader must not keep pvft-hv from stopping. */
		if (r < 0 && errno == EINTR && !sched__stop_requested(d))
			continue;
		if (r <= 0)
			return -errno;
		buf += r;
		len -= r;
	}
	return 0;
}

long console__write(struct domain *d, uint64_t gpa, uint64_t len)
{
	uint8_t buf[PVFT_CONSOLE_IO_MAX];
	int rc;

	if (len > sizeof(buf))
		return -EINVAL;
	rc = guestmem__copy_from(d, buf, gpa, len);
	if (rc)
		return rc;
	/* A primary's output waits for the backup's ack (the output rule). */
	if (gate__output(d, buf, len) || d->console.out_fd < 0)
		return len;
	rc = write_all(d, d->console.out_fd, buf, len);
	if (rc) {
		/* The guest is not to blame for a closed stdout. */
		pr_warn("console output lost: %s", strerror(-rc));
	}
	/* Released: attached viewers (pvft console) see it too. */
	control__console(d->ctl, buf, len);
	return len;
}

long console__read(struct domain *d, uint64_t gpa, uint64_t len)
{
	struct console *c = &d->console;
	size_t n = len < c->staged_len ? len : c->staged_len;
	int rc;

	if (len > PVFT_CONSOLE_IO_MAX)
		return -EINVAL;
	/* The whole buffer must be the guest's, not just the part we fill. */
	if (!guestmem__range_ok(d, gpa, len, true))
		return -EFAULT;
	rc = guestmem__copy_to(d, gpa, c->staged, n);
	if (rc)
		return rc;
	memmove(c->staged, c->staged + n, c->staged_len - n);
	c->staged_len -= n;
	return n;
}
