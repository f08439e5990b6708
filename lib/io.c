// SPDX-License-Identifier: MIT
/*
 * Plain file-descriptor I/O: io.h says what each call does.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

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
