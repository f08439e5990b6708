// SPDX-License-Identifier: MIT
/*
 * printf-family formatting: %d %i %u %x %X %p %s %c %%, with flags '-',
 * '0' and '#', a width and a precision (numbers or '*'), and the length
 * modifiers hh, h, l, ll, z. One formatter writes to a sink; vsnprintf() and
 * printf() differ only in the sink.
 */
#include "console.h"
#include "lib.h"

struct sink {
	void (*put)(struct sink *sink, char c);
	size_t count; /* characters produced, whether stored or not */
};

struct spec {
	bool left; /* '-' */
	bool zero; /* '0' */
	bool alt;  /* '#': 0x before a non-zero hex number */
	int width;
	int prec; /* -1: none */
};

static void put(struct sink *sink, char c)
{
	sink->put(sink, c);
	sink->count++;
}

static void put_n(struct sink *sink, char c, int n)
{
	while (n-- > 0)
		put(sink, c);
}

/* @prefix ("-", "0x"), @zeros leading zeros, then @len bytes of @body. */
static void put_field(struct sink *sink, const struct spec *sp,
		      const char *prefix, int zeros, const char *body, int len)
{
	int plen = strlen(prefix);
	int pad = sp->width - plen - zeros - len;

	if (!sp->left)
		put_n(sink, ' ', pad);
	while (*prefix)
		put(sink, *prefix++);
	put_n(sink, '0', zeros);
	while (len--)
		put(sink, *body++);
	if (sp->left)
		put_n(sink, ' ', pad);
}

static void put_number(struct sink *sink, const struct spec *sp,
		       unsigned long long v, unsigned int base, bool upper,
		       const char *prefix)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24]; /* 2^64 has 20 decimal digits */
	int len = 0, zeros = 0;

	/* As C: precision 0 prints nothing for the value 0. */
	if (v != 0 || sp->prec != 0) {
		do {
			buf[sizeof(buf) - 1 - len++] = digits[v % base];
			v /= base;
		} while (v);
	}
	if (sp->prec > len)
		zeros = sp->prec - len;
	else if (sp->zero && !sp->left && sp->prec < 0)
		zeros = sp->width - (int)strlen(prefix) - len;
	put_field(sink, sp, prefix, zeros > 0 ? zeros : 0,
		  buf + sizeof(buf) - len, len);
}

static int format(struct sink *sink, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		struct spec sp = { .prec = -1 };
		unsigned long long u;
		long long s;
		int length = 0; /* -2 hh, -1 h, 1 l, 2 ll, 3 z */
		const char *str;
		char c;

		if (*fmt != '%') {
			put(sink, *fmt);
			continue;
		}
		for (;; fmt++) {
			if (fmt[1] == '-')
				sp.left = true;
			else if (fmt[1] == '0')
				sp.zero = true;
			else if (fmt[1] == '#')
				sp.alt = true;
			else
				break;
		}
		if (fmt[1] == '*') {
			sp.width = va_arg(ap, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = -sp.width;
			}
			fmt++;
		}
		while (fmt[1] >= '0' && fmt[1] <= '9')
			sp.width = sp.width * 10 + (*++fmt - '0');
		if (fmt[1] == '.') {
			fmt++;
			sp.prec = 0;
			if (fmt[1] == '*') {
				sp.prec = va_arg(ap, int);
				if (sp.prec < 0)
					sp.prec = -1;
				fmt++;
			}
			while (fmt[1] >= '0' && fmt[1] <= '9')
				sp.prec = sp.prec * 10 + (*++fmt - '0');
		}
		for (;; fmt++) {
			if (fmt[1] == 'h')
				length--;
			else if (fmt[1] == 'l')
				length++;
			else if (fmt[1] == 'z')
				length = 3;
			else
				break;
		}

		switch (*++fmt) {
		case 'd':
		case 'i':
			if (length >= 2)
				s = va_arg(ap, long long);
			else if (length >= 1)
				s = va_arg(ap, long);
			else if (length == -1)
				s = (short)va_arg(ap, int);
			else if (length <= -2)
				s = (signed char)va_arg(ap, int);
			else
				s = va_arg(ap, int);
			/* Negate in unsigned: -LLONG_MIN does not exist. */
			u = s < 0 ? -(unsigned long long)s
				  : (unsigned long long)s;
			put_number(sink, &sp, u, 10, false, s < 0 ? "-" : "");
			break;
		case 'u':
		case 'x':
		case 'X':
			if (length >= 2)
				u = va_arg(ap, unsigned long long);
			else if (length >= 1)
				u = va_arg(ap, unsigned long);
			else if (length == -1)
				u = (unsigned short)va_arg(ap, unsigned int);
			else if (length <= -2)
				u = (unsigned char)va_arg(ap, unsigned int);
			else
				u = va_arg(ap, unsigned int);
			put_number(sink, &sp, u, *fmt == 'u' ? 10 : 16,
				   *fmt == 'X',
				   sp.alt && u && *fmt != 'u'
				       ? (*fmt == 'X' ? "0X" : "0x")
				       : "");
			break;
		case 'p':
			u = (uintptr_t)va_arg(ap, void *);
			put_number(sink, &sp, u, 16, false, "0x");
			break;
		case 's':
			str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			sp.zero = false;
			put_field(sink, &sp, "", 0, str,
				  sp.prec < 0 ? (int)strlen(str)
					      : (int)strnlen(str, sp.prec));
			break;
		case 'c':
			c = (char)va_arg(ap, int);
			put_field(sink, &sp, "", 0, &c, 1);
			break;
		case '%':
			put(sink, '%');
			break;
		case '\0':
			/* A lone '%' at the end: print it, stop. */
			put(sink, '%');
			return sink->count;
		default:
			/* Unknown conversion: show it rather than guess. */
			put(sink, '%');
			put(sink, *fmt);
			break;
		}
	}
	return sink->count;
}

struct string_sink {
	struct sink sink;
	char *buf;
	size_t size;
};

static void string_put(struct sink *sink, char c)
{
	struct string_sink *ss = container_of(sink, struct string_sink, sink);

	/* Keep the last byte for the terminator. */
	if (sink->count + 1 < ss->size)
		ss->buf[sink->count] = c;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct string_sink ss = {
		.sink.put = string_put,
		.buf = buf,
		.size = size,
	};
	int n = format(&ss.sink, fmt, ap);

	if (size)
		buf[min((size_t)n, size - 1)] = '\0';
	return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/*
 * Console output in chunks, so that a line reaches console_write() whole
 * (and leaves in one exit) unless it is longer than the chunk.
 */
struct console_sink {
	struct sink sink;
	size_t len;
	char buf[256];
};

static void console_put(struct sink *sink, char c)
{
	struct console_sink *cs = container_of(sink, struct console_sink, sink);

	cs->buf[cs->len++] = c;
	if (cs->len == sizeof(cs->buf)) {
		console_write(cs->buf, cs->len);
		cs->len = 0;
	}
}

int vprintf(const char *fmt, va_list ap)
{
	struct console_sink cs = { .sink.put = console_put };
	int n = format(&cs.sink, fmt, ap);

	console_write(cs.buf, cs.len);
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}
