// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *log_prog = "pvft";
static char log_name[64];
static enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log__init(const char *prog, const char *name, enum log_level level)
{
	log_prog = prog;
	snprintf(log_name, sizeof(log_name), "%s", name ? name : "");
	log_threshold = level;
}

void log__set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level log__level(void)
{
	return log_threshold;
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (log_name[0])
		n = snprintf(line, sizeof(line), "%s[%s]: %s: ", log_prog,
			     log_name, level_names[level]);
	else
		n = snprintf(line, sizeof(line), "%s: %s: ", log_prog,
			     level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	/* One write per line, so lines from several threads never interleave.
	 */
	fprintf(stderr, "%s\n", line);
}

void log__msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(EXIT_FAILURE);
}
