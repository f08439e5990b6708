// SPDX-License-Identifier: MIT
/*
 * A live log stream's framing: stream.h says what each call does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "stream.h"
#include "transport.h"

int stream__init(struct stream *s, size_t tx_cap, size_t rx_cap)
{
	memset(s, 0, sizeof(*s));
	s->tx_cap = tx_cap;
	s->tx = malloc(tx_cap);
	s->rx_cap = rx_cap;
	s->rx = malloc(rx_cap);
	if (!s->tx || !s->rx) {
		stream__dispose(s);
		return -ENOMEM;
	}
	return 0;
}

void stream__dispose(struct stream *s)
{
	stream__close(s);
	free(s->tx);
	free(s->rx);
	s->tx = s->rx = NULL;
}

void stream__close(struct stream *s)
{
	transport__close(s->t);
	s->t = NULL;
}

/* Kept and unsent bytes to the front of tx. */
static void tx_compact(struct stream *s)
{
	memmove(s->tx, s->tx + s->tx_keep, s->tx_len - s->tx_keep);
	s->tx_len -= s->tx_keep;
	s->tx_off -= s->tx_keep;
	s->tx_keep = 0;
}

void stream__keep(struct stream *s)
{
	s->keep = true;
}

void stream__trim(struct stream *s, size_t n)
{
	if (n > s->tx_off - s->tx_keep)
		n = s->tx_off - s->tx_keep;
	s->tx_keep += n;
	stream__tx_reset_if_empty(s);
	/*
	 * A backup that keeps up leaves little kept: move it to the front
	 * now, cheaply, rather than let tx walk its whole capacity (pages
	 * touched for nothing) before stream__put must.
	 */
	if (s->tx_keep >= (1u << 20) && stream__kept(s) <= 65536)
		tx_compact(s);
}

void stream__rewind(struct stream *s, size_t n)
{
	if (n > s->tx_off - s->tx_keep)
		n = s->tx_off - s->tx_keep;
	s->tx_off = s->tx_keep + n;
}

long stream__put(struct stream *s, const struct logfmt_record *r, size_t need)
{
	long n;

	if (s->tx_keep && s->tx_len + need > s->tx_cap)
		tx_compact(s);
	n = logfmt__encode_record(r, s->tx + s->tx_len, s->tx_cap - s->tx_len);
	if (n > 0)
		s->tx_len += (size_t)n;
	return n;
}

int stream__flush(struct stream *s, uint64_t *sent_r)
{
	*sent_r = 0;
	while (s->tx_off < s->tx_len) {
		ssize_t r = transport__send(s->t, s->tx + s->tx_off,
					    s->tx_len - s->tx_off);

		if (r == -EAGAIN)
			break;
		if (r < 0)
			return (int)r;
		s->tx_off += (size_t)r;
		s->sent_total += (uint64_t)r;
		*sent_r += (uint64_t)r;
		s->last_tx_ns = clock__mono_ns();
	}
	if (!s->keep)
		s->tx_keep = s->tx_off;
	stream__tx_reset_if_empty(s);
	return 0;
}

ssize_t stream__fill(struct stream *s)
{
	if (s->rx_off && s->rx_off == s->rx_len)
		s->rx_off = s->rx_len = 0;
	if (s->rx_len == s->rx_cap) {
		memmove(s->rx, s->rx + s->rx_off, s->rx_len - s->rx_off);
		s->rx_len -= s->rx_off;
		s->rx_off = 0;
	}
	/* Cannot be: a record fits, and whole ones are taken at once. */
	if (s->rx_len == s->rx_cap)
		return -EAGAIN;
	return transport__recv(s->t, s->rx + s->rx_len, s->rx_cap - s->rx_len);
}

long stream__peek(struct stream *s, struct logfmt_record *r,
		  struct logfmt_error *e)
{
	if (s->rx_off >= s->rx_len)
		return 0;
	return logfmt__decode_record(s->rx + s->rx_off, s->rx_len - s->rx_off,
				     r, e);
}

int stream__read_record(struct stream *s, struct logfmt_record *r,
			uint64_t deadline_ns, struct logfmt_error *why)
{
	uint8_t *buf = s->rx;
	long total;
	int rc;

	rc = transport__recv_all(s->t, buf, LOGFMT_HEAD_SIZE, deadline_ns);
	if (rc)
		return logfmt__error(why, "reading a record: %s",
				     strerror(-rc));
	total = logfmt__record_total(buf, why);
	if (total < 0)
		return -1;
	rc = transport__recv_all(s->t, buf + LOGFMT_HEAD_SIZE,
				 (size_t)total - LOGFMT_HEAD_SIZE, deadline_ns);
	if (rc)
		return logfmt__error(why, "reading a record: %s",
				     strerror(-rc));
	if (logfmt__decode_record(buf, (size_t)total, r, why) != total)
		return -1;
	return 0;
}

int stream__send_queued(struct stream *s, uint64_t deadline_ns)
{
	int rc = transport__send_all(s->t, s->tx + s->tx_off,
				     s->tx_len - s->tx_off, deadline_ns);

	if (!rc)
		s->tx_keep = s->tx_off = s->tx_len = 0;
	return rc;
}
