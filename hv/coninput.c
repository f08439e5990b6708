// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "coninput.h"
#include "log.h"

int coninput__init(struct console_input *in)
{
	memset(in, 0, sizeof(*in));
	in->room_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (in->room_fd < 0)
		return -errno;
	pthread_mutex_init(&in->lock, NULL);
	return 0;
}

void coninput__dispose(struct console_input *in)
{
	if (in->room_fd >= 0) {
		close(in->room_fd);
		pthread_mutex_destroy(&in->lock);
	}
	in->room_fd = -1;
}

void coninput__drain_room(struct console_input *in)
{
	uint64_t v;

	if (read(in->room_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_warn("console: %s", strerror(errno));
}

size_t coninput__push(struct console_input *in, const void *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&in->lock);
	n = CONSOLE_QUEUE_SIZE - in->queue_len;
	if (n > len)
		n = len;
	memcpy(in->queue + in->queue_len, buf, n);
	in->queue_len += n;
	pthread_mutex_unlock(&in->lock);
	/* Release: the vCPU thread that sees the flag also sees the bytes. */
	if (n)
		atomic_store_explicit(&in->input_ready, true,
				      memory_order_release);
	return n;
}

void coninput__close(struct console_input *in)
{
	pthread_mutex_lock(&in->lock);
	in->input_closed = true;
	pthread_mutex_unlock(&in->lock);
	atomic_store_explicit(&in->input_ready, true, memory_order_release);
}

bool coninput__ended(struct console_input *in)
{
	bool ended;

	pthread_mutex_lock(&in->lock);
	ended = in->input_closed;
	pthread_mutex_unlock(&in->lock);
	return ended;
}

size_t coninput__take(struct console_input *in, uint8_t *buf, size_t max,
		      bool *closed_r)
{
	size_t n;

	if (!atomic_load_explicit(&in->input_ready, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&in->lock);
	n = max < in->queue_len ? max : in->queue_len;
	memcpy(buf, in->queue, n);
	memmove(in->queue, in->queue + n, in->queue_len - n);
	in->queue_len -= n;
	*closed_r = in->input_closed && !in->queue_len;
	atomic_store_explicit(&in->input_ready, in->queue_len > 0,
			      memory_order_relaxed);
	pthread_mutex_unlock(&in->lock);
	if (n) {
		uint64_t one = 1;

		/* The host thread may be holding input for want of room. */
		if (write(in->room_fd, &one, sizeof(one)) < 0 &&
		    errno != EAGAIN)
			pr_warn("console: %s", strerror(errno));
	}
	return n;
}
