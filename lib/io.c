// SPDX-License-Identifier: MIT
/*
 * Plain file-descriptor I/O: io.h says what each call does.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <unistd.h>

#include "clock.h"
#include "io.h"

int io__write_all(int fd, const void *buf, size_t len, size_t *done_r)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int rc = 0;

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (done_r)
		*done_r = done;
	return rc;
}

int io__wait_fd(int fd, short events, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		uint64_t now = clock__mono_ns();
		int r;

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)((deadline_ns - now) / 1000000 + 1));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int io__xfer_all(int fd, short events,
		 ssize_t (*xfer)(void *ctx, void *buf, size_t len), void *ctx,
		 void *buf, size_t len, uint64_t deadline_ns)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = xfer(ctx, p, len);

		if (r == -EAGAIN) {
			int w = io__wait_fd(fd, events, deadline_ns);

			if (w)
				return w;
			continue;
		}
		if (r < 0)
			return (int)r;
		if (!r && events == POLLIN)
			return -ECONNRESET;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}
