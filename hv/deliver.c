// SPDX-License-Identifier: MIT
#include <poll.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"
#include "device.h"
#include "domain.h"
#include "log.h"

static void deliver_replayed(struct domain *d)
{
	const struct logfmt_record *rec;
	struct device *dev;

	while ((rec = gate__peek_here(d))) {
		dev = device__for_record(d, rec->type);
		if (!dev || !dev->ops->replay || dev->ops->replay(d, dev, rec))
			break;
		gate__consume(d);
	}
}

void deliver__exit(struct domain *d)
{
	struct device *dev;

	gate__perturb_host(&d->gate, &d->gate.perturb_vcpu);
	/* A domain that is over takes nothing more (nor logs it). */
	if (d->shut_down)
		return;
	gate__sync(d);
	/* Outputs first: what the guest sent before it takes anything in. */
	for_each_device(d, dev) if (dev->ops->output) dev->ops->output(d, dev);
	if (gate__replaying(&d->gate)) {
		deliver_replayed(d);
	} else {
		for_each_device(d, dev) if (dev->ops->deliver_live)
		    dev->ops->deliver_live(d, dev);
	}
	for_each_device(d, dev) if (dev->ops->deliver_done)
	    dev->ops->deliver_done(d, dev);
	gate__kick(d);
}

/* Could anything still end a block (a device's say)? */
static bool can_be_woken(struct domain *d)
{
	struct device *dev;

	for_each_device(d, dev) if (dev->ops->can_wake &&
				    dev->ops->can_wake(d, dev)) return true;
	return false;
}

static void drain_wake(struct sched *s)
{
	uint64_t v;
	ssize_t r = read(s->wake_fd, &v, sizeof(v));

	(void)r; /* EAGAIN: nothing to drain */
}

long deliver__block(struct domain *d)
{
	struct sched *s = &d->sched;
	struct vcpu_info *v = &domain__shared_info(d)->vcpu_info[0];

	v->evtchn_upcall_mask = 0;
	s->block_cut = false;
	for (;;) {
		struct pollfd pfd[1 + DOMAIN_MAX_DEVICES];
		struct device *polled[1 + DOMAIN_MAX_DEVICES], *dev;
		struct timespec ts, *tsp = NULL;
		uint64_t deadline = 0;
		unsigned int n = 1;

		deliver__exit(d);
		if (v->evtchn_upcall_pending || d->shut_down)
			break;
		if (sched__stop_requested(d)) {
			s->block_cut = true;
			break;
		}
		/* The recording may have been stopped here, as it slept. */
		if (gate__replaying(&d->gate) && gate__replay_ended(d))
			break;
		if (!can_be_woken(d)) {
			pr_err("guest blocked with nothing that could wake it "
			       "(no timer on an unmasked VIRQ_TIMER port, no "
			       "console input, no connected vif) at rip "
			       "0x%llx, exit ordinal "
			       "%llu: the domain is dead",
			       (unsigned long long)d->last_rip,
			       (unsigned long long)d->exits);
			domain__shutdown(d, HV_EXIT_GUEST_FAULT,
					 DOMAIN_END_FAULT);
			break;
		}
		/* A replay never waits: the log has this exit's wake-up. */
		if (gate__replaying(&d->gate)) {
			gate__replay_unwoken(d);
			break;
		}
		/* The sched's own wake-up, and what the devices wait on. */
		pfd[0] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		for_each_device(d, dev)
		{
			struct device_wait w = { .fd = -1 };

			if (!dev->ops->wait)
				continue;
			dev->ops->wait(d, dev, &w);
			if (w.deadline && (!deadline || w.deadline < deadline))
				deadline = w.deadline;
			if (w.fd < 0)
				continue;
			polled[n] = dev;
			pfd[n++] =
			    (struct pollfd){ .fd = w.fd, .events = POLLIN };
		}
		if (deadline) {
			uint64_t now = sched__now(d);
			uint64_t left = deadline > now ? deadline - now : 0;

			ts.tv_sec = left / 1000000000ull;
			ts.tv_nsec = left % 1000000000ull;
			tsp = &ts;
		}
		if (ppoll(pfd, n, tsp, NULL) > 0 && pfd[0].revents)
			drain_wake(s);
		for (unsigned int i = 1; i < n; i++)
			if ((pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) &&
			    polled[i]->ops->wait_failed)
				polled[i]->ops->wait_failed(d, polled[i]);
	}
	return 0;
}
