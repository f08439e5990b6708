// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "consink.h"

int consink__write(const struct console_sink *s, const void *buf, size_t len,
		   const int *stop)
{
	const uint8_t *p = buf;
	size_t left = len;
	int rc = 0;

	if (s->fd < 0)
		return 0;
	while (left) {
		ssize_t r = write(s->fd, p, left);

		if (r < 0 && errno == EINTR &&
		    !(stop && __atomic_load_n(stop, __ATOMIC_SEQ_CST)))
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			break;
		}
		p += r;
		left -= r;
	}
	if (s->tee)
		s->tee(s->tee_opaque, buf, len);
	return rc;
}
