/* SPDX-License-Identifier: MIT */
/*
 * Plain file-descriptor I/O that every host program needs the same way.
 */
#ifndef PVFT_LIB_IO_H
#define PVFT_LIB_IO_H

#include <stddef.h>

/*
 * All of @buf to the blocking @fd, on through EINTR and partial writes.
 * 0, or -errno (-EIO when write() took nothing); *@done_r (when not NULL)
 * says how many bytes went either way.
 */
int io__write_all(int fd, const void *buf, size_t len, size_t *done_r);

#endif /* PVFT_LIB_IO_H */
