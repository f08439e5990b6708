/* SPDX-License-Identifier: MIT */
/*
 * Plain file-descriptor I/O that every host program needs the same way.
 */
#ifndef PVFT_LIB_IO_H
#define PVFT_LIB_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * All of @buf to the blocking @fd, on through EINTR and partial writes.
 * 0, or -errno (-EIO when write() took nothing); *@done_r (when not NULL)
 * says how many bytes went either way.
 */
int io__write_all(int fd, const void *buf, size_t len, size_t *done_r);

/*
 * Wait until @fd is ready for @events (POLLIN, POLLOUT) or the monotonic
 * clock (lib/clock.h) reaches @deadline_ns: 0, -ETIMEDOUT or -errno.
 */
int io__wait_fd(int fd, short events, uint64_t deadline_ns);
/*
 * Move all @len bytes with @xfer, a non-blocking send or receive on @ctx
 * (returns bytes, -EAGAIN, or -errno; 0 from a receive is the peer's
 * end), waiting on @fd for @events (POLLOUT: sending, POLLIN: receiving)
 * until @deadline_ns. 0, -ETIMEDOUT, -ECONNRESET (the end came first),
 * or -errno. A TLS connection and the channel's transports share it.
 */
int io__xfer_all(int fd, short events,
		 ssize_t (*xfer)(void *ctx, void *buf, size_t len), void *ctx,
		 void *buf, size_t len, uint64_t deadline_ns);

#endif /* PVFT_LIB_IO_H */
