/* SPDX-License-Identifier: MIT */
/*
 * The console: CONSOLEIO_write/read hypercalls. Output is buffered (up to
 * PVFT_CONSOLE_IO_MAX bytes) and written when a line is complete, the
 * buffer is full, before the domain blocks, and at exit: one exit per line
 * rather than per character, since exits are what a guest pays for.
 */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>

void init_console(void);

void console_write(const char *s, size_t len);
void console_flush(void);
/*
 * Up to @len bytes of input, without waiting: bytes read (0: none) or
 * -errno. Arriving input makes the console port pending, which ends a
 * block_domain().
 */
int console_read(char *buf, unsigned int len);

int printf(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));
int vprintf(const char *fmt, va_list ap)
    __attribute__((format(__printf__, 1, 0)));
/* @s and a newline, as libc's. */
int puts(const char *s);

#endif /* GUEST_CONSOLE_H */
