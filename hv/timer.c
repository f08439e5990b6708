// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "digest.h"
#include "domain.h"
#include "timer.h"

/* One-shot, as Xen's set_timer_op: disarm it and raise VIRQ_TIMER. */
static void fire(struct domain *d)
{
	d->sched.timer_armed = false;
	evtchn__send_virq(&d->evtchn, VIRQ_TIMER);
}

static void deliver_live(struct domain *d, struct device *dev)
{
	struct logfmt_record rec;

	(void)dev;
	if (!sched__timer_due(d))
		return;
	fire(d);
	if (gate__recording(&d->gate)) {
		rec = (struct logfmt_record){ .type = LOGFMT_TIMER };
		rec.u.timer.pos = gate__here(d);
		gate__put(d, &rec);
	}
}

static int replay(struct domain *d, struct device *dev,
		  const struct logfmt_record *rec)
{
	(void)dev;
	if (!gate__at_pos(d, rec, &rec->u.timer.pos))
		return -1;
	if (!d->sched.timer_armed) {
		gate__diverged(d, rec,
			       "the log fires the timer, the guest has none "
			       "armed");
		return -1;
	}
	/* Guest time reached the deadline: learn it first. */
	gate__learn_time(&d->gate, d->sched.deadline);
	fire(d);
	return 0;
}

/* A timer on an unmasked VIRQ_TIMER port. */
static bool can_wake(struct domain *d, struct device *dev)
{
	(void)dev;
	return d->sched.timer_armed &&
	       evtchn__virq_can_raise(&d->evtchn, VIRQ_TIMER);
}

static void wait(struct domain *d, struct device *dev, struct device_wait *w)
{
	(void)dev;
	if (d->sched.timer_armed)
		w->deadline = d->sched.deadline;
}

static void digest(struct domain *d, struct device *dev, struct digest_words *w)
{
	(void)dev;
	digest__put(w, DIGEST_SLOT_TIMER,
		    d->sched.timer_armed ? d->sched.deadline : ~0ull);
}

struct timer_state {
	uint64_t deadline;
	uint8_t armed, pad[7];
};

static long save(struct domain *d, struct device *dev, void *buf, size_t cap)
{
	struct timer_state s = {
		.deadline = d->sched.deadline,
		.armed = d->sched.timer_armed,
	};

	(void)dev;
	if (cap < sizeof(s))
		return -ENOSPC;
	memcpy(buf, &s, sizeof(s));
	return sizeof(s);
}

static int restore(struct domain *d, struct device *dev, const void *buf,
		   size_t len)
{
	struct timer_state s;

	(void)dev;
	if (len != sizeof(s))
		return -EINVAL;
	memcpy(&s, buf, sizeof(s));
	if (s.armed > 1)
		return -EINVAL;
	d->sched.deadline = s.deadline;
	d->sched.timer_armed = s.armed;
	return 0;
}

const struct device_ops timer_device_ops = {
	.name = "timer",
	.level = DEVICE_LEVEL_TIMER,
	.record_type = LOGFMT_TIMER,
	.deliver_live = deliver_live,
	.replay = replay,
	.can_wake = can_wake,
	.wait = wait,
	.digest = digest,
	.save = save,
	.restore = restore,
};
