/* SPDX-License-Identifier: MIT */
/*
 * The guest's small libc: string functions, formatting into strings,
 * exit/panic, and helpers every file wants.
 */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmdline.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr)-offsetof(type, member)))
#define min(a, b)                      \
	({                             \
		__auto_type __a = (a); \
		__auto_type __b = (b); \
		__a < __b ? __a : __b; \
	})
#define max(a, b)                      \
	({                             \
		__auto_type __a = (a); \
		__auto_type __b = (b); \
		__a > __b ? __a : __b; \
	})
#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((__typeof__(x))(a)-1))

/* The compiler must not move memory accesses across this. */
#define barrier() asm volatile("" ::: "memory")

/* gcc may emit calls to memcpy, memmove, memset and memcmp by itself. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *s, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t maxlen);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
    __attribute__((format(__printf__, 3, 0)));
int snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(__printf__, 3, 4)));

/*
 * Each guest application defines app_main(); its return value is the
 * domain's exit status.
 */
int app_main(const char *cmdline);

/* Flush the console and shut down: status 0 powers off, else exits @status. */
void exit(int status) __attribute__((noreturn));
/* "panic: <message>" on the console, then SHUTDOWN_crash. */
void panic(const char *fmt, ...)
    __attribute__((noreturn, format(__printf__, 1, 2)));

#define BUG() panic("BUG at %s:%d", __FILE__, __LINE__)
#define BUG_ON(cond)                                                  \
	do {                                                          \
		if (__builtin_expect(!!(cond), 0))                    \
			panic("BUG_ON(%s) at %s:%d", #cond, __FILE__, \
			      __LINE__);                              \
	} while (0)

#endif /* GUEST_LIB_H */
