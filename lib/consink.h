/* SPDX-License-Identifier: MIT */
/*
 * A console sink: where a domain's released console output goes, once,
 * whoever releases it (the console device of an unpaired domain, a
 * primary's channel under the output rule, a backup that goes live): an
 * fd (pvft-hv's stdout, or nowhere) and a tee to the viewers attached to
 * the control socket. One writer at a time; the tee must never block.
 */
#ifndef PVFT_LIB_CONSINK_H
#define PVFT_LIB_CONSINK_H

#include <stddef.h>

struct console_sink {
	int fd; /* -1: nowhere (nor to the tee) */
	/* Released bytes, after the fd (any thread; never blocks), or NULL. */
	void (*tee)(void *opaque, const void *buf, size_t len);
	void *tee_opaque;
};

/*
 * Write @buf to the fd (all of it, across short writes) and then to the
 * tee; nothing at all without an fd. A write interrupted by a signal is retried
 * unless *@stop (when given) is non-zero: a stuck reader never keeps pvft-hv
 * from stopping. 0, or -errno of the fd's write (the tee still saw the bytes).
 */
int consink__write(const struct console_sink *s, const void *buf, size_t len,
		   const int *stop);

#endif /* PVFT_LIB_CONSINK_H */
