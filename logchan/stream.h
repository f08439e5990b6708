/* SPDX-License-Identifier: MIT */
/*
 * A live log stream's framing, both ways over one transport: records in
 * the log format (logfmt.h encodes and decodes every byte) queued in tx
 * until the transport takes them, and bytes from the peer gathered in rx
 * until they make whole records. What the records mean, their sequence
 * numbers and acks, is the role's (primary.c, backup.c).
 *
 * Threads: the pairing thread until the pair forms, then the channel
 * thread only (chan.c), under the channel's lock; the primary's vCPU
 * thread encodes its records into tx under that lock too.
 */
#ifndef PVFT_LOGCHAN_STREAM_H
#define PVFT_LOGCHAN_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "logfmt.h"

struct transport;

struct stream {
	struct transport *t; /* NULL: no connection (yet, or any more) */
	/*
	 * tx[tx_off, tx_len) is yet to be sent; tx[tx_keep, tx_off) was
	 * sent and is kept for a resend while @keep (stream__keep: the
	 * primary's records until acknowledged); without it tx_keep follows
	 * tx_off.
	 */
	uint8_t *tx;
	size_t tx_keep, tx_off, tx_len, tx_cap;
	bool keep;
	/* rx[rx_off, rx_len) is received, not yet taken. */
	uint8_t *rx;
	size_t rx_off, rx_len, rx_cap;
	uint64_t sent_total;		 /* bytes the transport took */
	uint64_t last_rx_ns, last_tx_ns; /* the peer last heard, told */
};

/* Buffers of @tx_cap and @rx_cap bytes. 0 or -ENOMEM. */
int stream__init(struct stream *s, size_t tx_cap, size_t rx_cap);
/* Closes the transport and frees. */
void stream__dispose(struct stream *s);
/* The connection goes (the buffers stay). */
void stream__close(struct stream *s);

/* Bytes queued in tx, not yet sent. */
static inline size_t stream__unsent(const struct stream *s)
{
	return s->tx_len - s->tx_off;
}

/* Bytes in tx: kept after sending, and unsent. */
static inline size_t stream__kept(const struct stream *s)
{
	return s->tx_len - s->tx_keep;
}

/* Nothing kept or unsent: tx starts again at its front. */
static inline void stream__tx_reset_if_empty(struct stream *s)
{
	if (s->tx_keep == s->tx_len)
		s->tx_keep = s->tx_off = s->tx_len = 0;
}

/* From now on, sent bytes stay in tx until stream__trim() (the primary). */
void stream__keep(struct stream *s);
/* The first @n kept bytes are no longer needed (@n <= what was sent). */
void stream__trim(struct stream *s, size_t n);
/*
 * A new link: everything kept from byte @n of it on is to be sent again
 * (@n <= what was sent); the bytes before stay kept.
 */
void stream__rewind(struct stream *s, size_t n);

/*
 * @r (its seq and ordinal set) encoded at the end of tx, which first
 * moves its unsent bytes to the front when @need more would not fit.
 * The bytes, or -1: no room (after the move).
 */
long stream__put(struct stream *s, const struct logfmt_record *r, size_t need);
/*
 * As much of tx to the transport as it takes without blocking. The bytes
 * sent (*@sent_r), and 0, or -errno: the link is dead.
 */
int stream__flush(struct stream *s, uint64_t *sent_r);

/*
 * One read from the transport into rx (moving what is left of it to the
 * front first): as transport__recv(); 0 is the peer's end.
 */
ssize_t stream__fill(struct stream *s);
/*
 * The next whole record in rx, decoded into @r (left in rx: drop it with
 * stream__consume()): its bytes, 0 while it is incomplete, or -1 with @e.
 */
long stream__peek(struct stream *s, struct logfmt_record *r,
		  struct logfmt_error *e);
static inline void stream__consume(struct stream *s, size_t n)
{
	s->rx_off += n;
}

/*
 * Blocking, while pairing: one whole record by @deadline_ns into rx
 * (from its start: at most LOGFMT_MAX_RECORD bytes), decoded into @r.
 * 0, or -1 with @why.
 */
int stream__read_record(struct stream *s, struct logfmt_record *r,
			uint64_t deadline_ns, struct logfmt_error *why);
/* Blocking, while pairing: all of tx by @deadline_ns. 0 or -errno. */
int stream__send_queued(struct stream *s, uint64_t deadline_ns);

#endif /* PVFT_LOGCHAN_STREAM_H */
