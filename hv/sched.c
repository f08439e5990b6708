// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "domain.h"
#include "guestmem.h"
#include "log.h"
#include "sched.h"
#include "vcpu.h"

int sched__init(struct sched *s)
{
	memset(s, 0, sizeof(*s));
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0)
		return -errno;
	s->boot_ns = clock__mono_ns();
	return 0;
}

void sched__dispose(struct sched *s)
{
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	s->wake_fd = -1;
}

uint64_t sched__now(const struct domain *d)
{
	return clock__mono_ns() - d->sched.boot_ns;
}

void sched__wake(struct sched *s)
{
	uint64_t one = 1;
	ssize_t r = write(s->wake_fd, &one, sizeof(one));

	(void)r; /* EAGAIN: the counter is already non-zero, i.e. woken */
}

/* Only interrupts a blocking call: the loop then sees stop_signal. */
static void kick_handler(int sig)
{
	(void)sig;
}

int sched__init_kick(struct domain *d)
{
	struct sigaction sa = { .sa_handler = kick_handler }; /* no restart */

	d->sched.vcpu_thread = pthread_self();
	return sigaction(SIGUSR1, &sa, NULL) < 0 ? -errno : 0;
}

void sched__request_stop(struct domain *d, int sig)
{
	__atomic_store_n(&d->sched.stop_signal, sig, __ATOMIC_SEQ_CST);
	sched__wake(&d->sched);
	d->backend->kick(d);
	/* Out of a blocking write(), waitpid() or KVM_RUN: EINTR. */
	pthread_kill(d->sched.vcpu_thread, SIGUSR1);
}

/* A stop at the next exit boundary, unless another stop is asked for. */
static bool request_boundary(struct domain *d, int why)
{
	int none = 0;

	if (!__atomic_compare_exchange_n(&d->sched.stop_signal, &none, why,
					 false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		return false;
	sched__wake(&d->sched);
	d->backend->kick(d);
	pthread_kill(d->sched.vcpu_thread, SIGUSR1);
	return true;
}

static void clear_boundary(struct domain *d, int why)
{
	__atomic_compare_exchange_n(&d->sched.stop_signal, &why, 0, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

bool sched__request_handover(struct domain *d)
{
	return request_boundary(d, SCHED_STOP_HANDOVER);
}

void sched__clear_handover(struct domain *d)
{
	clear_boundary(d, SCHED_STOP_HANDOVER);
}

bool sched__request_migrate(struct domain *d)
{
	return request_boundary(d, SCHED_STOP_MIGRATE);
}

void sched__clear_migrate(struct domain *d)
{
	clear_boundary(d, SCHED_STOP_MIGRATE);
}

int sched__stop_requested(const struct domain *d)
{
	return __atomic_load_n(&d->sched.stop_signal, __ATOMIC_SEQ_CST);
}

bool sched__timer_due(struct domain *d)
{
	return d->sched.timer_armed && sched__now(d) >= d->sched.deadline;
}

long sched__set_timer(struct domain *d, uint64_t deadline)
{
	/* 0 cancels; a deadline in the past fires at this very exit. */
	d->sched.timer_armed = deadline != 0;
	d->sched.deadline = deadline;
	return 0;
}

long sched__op(struct domain *d, uint64_t cmd, uint64_t arg)
{
	struct sched_shutdown sd;
	int rc;

	switch (cmd) {
	case SCHEDOP_yield:
		/* One vCPU, nothing to yield to: due events arrive on return.
		 */
		return 0;
	case SCHEDOP_shutdown:
		rc = guestmem__copy_from(d, &sd, arg, sizeof(sd));
		if (rc)
			return rc;
		if (sd.reason == SHUTDOWN_poweroff) {
			domain__shutdown(d, 0, DOMAIN_END_SHUTDOWN);
		} else if ((sd.reason & ~0xffu) == PVFT_SHUTDOWN_EXIT_BASE) {
			domain__shutdown(d, sd.reason & 0xff,
					 DOMAIN_END_SHUTDOWN);
		} else if (sd.reason == SHUTDOWN_crash) {
			pr_err("guest crashed (SHUTDOWN_crash) at rip 0x%llx, "
			       "exit ordinal %llu",
			       (unsigned long long)d->last_rip,
			       (unsigned long long)d->exits);
			domain__shutdown(d, HV_EXIT_GUEST_CRASH,
					 DOMAIN_END_SHUTDOWN);
		} else {
			/* reboot, suspend, watchdog: not offered by pvft. */
			return -EINVAL;
		}
		return 0;
	default:
		return -ENOSYS;
	}
}
