/* SPDX-License-Identifier: MIT */
/*
 * Command-line helpers for "key=value key2 ..." strings: words separated by
 * spaces, each a bare flag or key=value. Header-only and free of libc, so
 * that a guest app built as a host program (compute, -DPVFT_NATIVE) parses
 * its arguments with the very same code.
 */
#ifndef GUEST_CMDLINE_H
#define GUEST_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

static inline bool cmdline_is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/*
 * The value of the first word named @key: what follows '=' in "key=value",
 * an empty value for a bare "key", NULL if there is no such word. A value
 * ends at the next separator or at the end of the string.
 */
static inline const char *cmdline_get(const char *cmdline, const char *key)
{
	const char *p = cmdline;

	while (p && *p) {
		const char *k = key;

		while (cmdline_is_sep(*p))
			p++;
		while (*k && *p == *k) {
			p++;
			k++;
		}
		if (!*k && (*p == '=' || *p == '\0' || cmdline_is_sep(*p)))
			return *p == '=' ? p + 1 : p;
		while (*p && !cmdline_is_sep(*p))
			p++;
	}
	return NULL;
}

static inline bool cmdline_has(const char *cmdline, const char *key)
{
	return cmdline_get(cmdline, key) != NULL;
}

/* The length of the value @v (from cmdline_get()). */
static inline size_t cmdline_value_len(const char *v)
{
	size_t n = 0;

	while (v[n] && !cmdline_is_sep(v[n]))
		n++;
	return n;
}

/* Does the value @v (from cmdline_get()) equal @s? */
static inline bool cmdline_value_is(const char *v, const char *s)
{
	if (!v)
		return false;
	while (*s && *v == *s) {
		v++;
		s++;
	}
	return !*s && (*v == '\0' || cmdline_is_sep(*v));
}

/*
 * @key's value as an unsigned decimal number; @def when @key is absent or
 * its value is not a number (a typo must not silently mean 0).
 */
static inline unsigned long
cmdline_get_ulong(const char *cmdline, const char *key, unsigned long def)
{
	const char *v = cmdline_get(cmdline, key);
	unsigned long n = 0;

	if (!v || *v < '0' || *v > '9')
		return def;
	for (; *v >= '0' && *v <= '9'; v++)
		n = n * 10 + (unsigned long)(*v - '0');
	if (*v != '\0' && !cmdline_is_sep(*v))
		return def;
	return n;
}

#endif /* GUEST_CMDLINE_H */
