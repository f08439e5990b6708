/* SPDX-License-Identifier: MIT */
/*
 * One logging helper for every host program. Lines go to stderr as
 * "PROG[NAME]: level: message"; NAME is the domain name when there is one,
 * so per-domain lines always say which domain they are about.
 */
#ifndef PVFT_LOG_H
#define PVFT_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

void log__init(const char *prog, const char *name, enum log_level level);
void log__set_level(enum log_level level);
enum log_level log__level(void);
void log__msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define pr_err(...) log__msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) log__msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log__msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log__msg(LOG_DEBUG, __VA_ARGS__)

/* Only for a program's main path (STYLE.md rule 4). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* PVFT_LOG_H */
