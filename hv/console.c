// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "console.h"
#include "digest.h"
#include "domain.h"
#include "guestmem.h"
#include "log.h"

int console__probe(struct domain *d, const struct console_sink *sink,
		   const struct console_sink *live_sink)
{
	struct console *c = &d->console;

	memset(c, 0, sizeof(*c));
	c->sink = *sink;
	c->live_sink = live_sink ? *live_sink : *sink;
	c->dev.ops = &console_device_ops;
	c->dev.priv = c;
	return device__register(d, &c->dev);
}

long console__write(struct domain *d, uint64_t gpa, uint64_t len)
{
	uint8_t buf[PVFT_CONSOLE_IO_MAX];
	int rc;

	if (len > sizeof(buf))
		return -EINVAL;
	rc = guestmem__copy_from(d, buf, gpa, len);
	if (rc)
		return rc;
	/* A primary's output waits for the backup's ack (the output rule). */
	if (gate__output(d, buf, len))
		return len;
	/* Released: to the fd, and attached viewers (pvft console) see it. */
	rc = consink__write(&d->console.sink, buf, len, &d->sched.stop_signal);
	/* The guest is not to blame for a closed stdout. */
	if (rc)
		pr_warn("console output lost: %s", strerror(-rc));
	return len;
}

long console__read(struct domain *d, uint64_t gpa, uint64_t len)
{
	struct console *c = &d->console;
	size_t n = len < c->staged_len ? len : c->staged_len;
	int rc;

	if (len > PVFT_CONSOLE_IO_MAX)
		return -EINVAL;
	/* The whole buffer must be the guest's, not just the part we fill. */
	if (!guestmem__range_ok(d, gpa, len, true))
		return -EFAULT;
	rc = guestmem__copy_to(d, gpa, c->staged, n);
	if (rc)
		return rc;
	memmove(c->staged, c->staged + n, c->staged_len - n);
	c->staged_len -= n;
	return n;
}

/*
 * Xen's handlers take their command (and console_io its count) as a C int
 * or unsigned int: the upper halves of those registers are ignored.
 */
static long hypercall(struct domain *d, struct device *dev, uint64_t nr,
		      const uint64_t *arg)
{
	(void)dev;
	if (nr != __HYPERVISOR_console_io)
		return -ENOSYS;
	switch ((unsigned int)arg[0]) {
	case CONSOLEIO_write:
		return console__write(d, arg[2], (unsigned int)arg[1]);
	case CONSOLEIO_read:
		return console__read(d, arg[2], (unsigned int)arg[1]);
	default:
		return -ENOSYS;
	}
}

/* Queued input to the staged buffer: logged, and announced on its port. */
static void deliver_live(struct domain *d, struct device *dev)
{
	struct console *c = dev->priv;
	bool was_closed = c->closed_seen, closed = was_closed;
	struct logfmt_record rec;
	size_t n;

	n = coninput__take(&d->cin, c->staged + c->staged_len,
			   sizeof(c->staged) - c->staged_len, &closed);
	c->staged_len += n;
	c->closed_seen = closed;
	closed = closed && !was_closed;
	/* Bytes, or just the end of input: both change what the guest sees. */
	if ((n || closed) && gate__recording(&d->gate)) {
		rec = (struct logfmt_record){ .type = LOGFMT_CONSOLE_IN };
		rec.u.console_in = (struct logfmt_console_in){
			.pos = gate__here(d),
			.flags = closed ? LOGFMT_CONSOLE_CLOSED : 0,
			.len = n,
			.bytes = c->staged + c->staged_len - n,
		};
		gate__put(d, &rec);
	}
	if (n)
		evtchn__raise_hv(&d->evtchn, PVFT_CONSOLE_PORT);
}

static int replay(struct domain *d, struct device *dev,
		  const struct logfmt_record *rec)
{
	struct console *c = dev->priv;
	const struct logfmt_console_in *in = &rec->u.console_in;

	if (!gate__at_pos(d, rec, &in->pos))
		return -1;
	if (in->len > sizeof(c->staged) - c->staged_len) {
		gate__diverged(d, rec,
			       "%u bytes of console input do not fit: the "
			       "guest has not read earlier input",
			       in->len);
		return -1;
	}
	memcpy(c->staged + c->staged_len, in->bytes, in->len);
	c->staged_len += in->len;
	if (in->flags & LOGFMT_CONSOLE_CLOSED)
		c->closed_seen = true;
	if (in->len)
		evtchn__raise_hv(&d->evtchn, PVFT_CONSOLE_PORT);
	return 0;
}

/*
 * Bytes already staged were announced: they wake nobody. New ones raise
 * the port only if input goes on, there is room to stage, and the port
 * can be raised.
 */
static bool can_wake(struct domain *d, struct device *dev)
{
	struct console *c = dev->priv;

	return !c->closed_seen && c->staged_len < sizeof(c->staged) &&
	       evtchn__hv_can_raise(&d->evtchn, PVFT_CONSOLE_PORT);
}

static void digest(struct domain *d, struct device *dev, struct digest_words *w)
{
	struct console *c = dev->priv;

	(void)d;
	digest__put(w, DIGEST_SLOT_CONSOLE_STAGED_LEN, c->staged_len);
	digest__put(w, DIGEST_SLOT_CONSOLE_CLOSED, c->closed_seen);
	digest__put(w, DIGEST_SLOT_CONSOLE_STAGED,
		    XXH3_64bits(c->staged, c->staged_len));
}

/* A backup goes live: its output is released from now on. */
static void go_live(struct domain *d, struct device *dev)
{
	struct console *c = dev->priv;

	(void)d;
	c->sink = c->live_sink;
}

struct console_saved {
	uint32_t staged_len;
	uint8_t closed_seen, pad[3];
};

static long save(struct domain *d, struct device *dev, void *buf, size_t cap)
{
	struct console *c = dev->priv;
	struct console_saved s = {
		.staged_len = c->staged_len,
		.closed_seen = c->closed_seen,
	};

	(void)d;
	if (cap < sizeof(s) + c->staged_len)
		return -ENOSPC;
	memcpy(buf, &s, sizeof(s));
	memcpy((uint8_t *)buf + sizeof(s), c->staged, c->staged_len);
	return sizeof(s) + c->staged_len;
}

static int restore(struct domain *d, struct device *dev, const void *buf,
		   size_t len)
{
	struct console *c = dev->priv;
	struct console_saved s;

	(void)d;
	if (len < sizeof(s))
		return -EINVAL;
	memcpy(&s, buf, sizeof(s));
	if (s.staged_len > sizeof(c->staged) || s.closed_seen > 1 ||
	    len != sizeof(s) + s.staged_len)
		return -EINVAL;
	memcpy(c->staged, (const uint8_t *)buf + sizeof(s), s.staged_len);
	c->staged_len = s.staged_len;
	c->closed_seen = s.closed_seen;
	return 0;
}

const struct device_ops console_device_ops = {
	.name = "console",
	.level = DEVICE_LEVEL_CONSOLE,
	.record_type = LOGFMT_CONSOLE_IN,
	.hypercall = hypercall,
	.deliver_live = deliver_live,
	.replay = replay,
	.can_wake = can_wake,
	.digest = digest,
	.go_live = go_live,
	.save = save,
	.restore = restore,
};
