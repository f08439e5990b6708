// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "devices.h"
#include "fixture.h"
#include "hypercall.h"

static struct domain *dom;
static bool dom_ok;
static int console_rd = -1, console_wr = -1;
static volatile sig_atomic_t guard_fired;

/*
 * CUnit 2.1 runs setUp outside the test's setjmp, so a FATAL assert here
 * would crash: a broken fixture is recorded and fixture__domain() fails.
 */
void fixture__setup(void)
{
	int fds[2];

	dom_ok = false;
	dom = calloc(1, sizeof(*dom));
	if (!dom)
		return;
	dom->mem_fd = -1;
	dom->sched.wake_fd = -1;
	dom->name = "test";
	if (domain__init_memory(dom, FIXTURE_MEM_SIZE))
		return;
	/* As pvft-hv boots one, minus the image: the same PV pages. */
	dom->hypercall_page = PVFT_GUEST_MIN_ADDR;
	snprintf(dom->cmdline, sizeof(dom->cmdline), "console=hvc0");
	domain__init_pv_pages(dom);
	if (sched__init(&dom->sched))
		return;
	/* Booted a second ago, so that a deadline of 1 ns is in the past. */
	dom->sched.boot_ns -= NS_PER_S;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC))
		return;
	console_rd = fds[0];
	console_wr = fds[1];
	if (coninput__init(&dom->cin) ||
	    devices__probe(dom, &(struct devices_config){
				    .console_out = { .fd = console_wr },
				}))
		return;
	dom_ok = true;
}

void fixture__teardown(void)
{
	if (!dom)
		return;
	/* Their own (a test's vif) are the tests' to dispose. */
	dom->nr_devices = 0;
	if (dom_ok)
		coninput__dispose(&dom->cin);
	sched__dispose(&dom->sched);
	domain__dispose(dom);
	if (console_rd >= 0)
		close(console_rd);
	if (console_wr >= 0)
		close(console_wr);
	console_rd = console_wr = -1;
	free(dom);
	dom = NULL;
}

struct domain *fixture__domain(void)
{
	CU_ASSERT_FATAL(dom_ok);
	return dom;
}

long fixture__hypercall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct hypercall h = { .nr = nr, .arg = { a0, a1, a2, 0, 0 } };

	return hypercall__dispatch(dom, &h);
}

size_t fixture__console_out(char *buf, size_t max)
{
	ssize_t r = read(console_rd, buf, max);

	return r > 0 ? (size_t)r : 0;
}

/* sched__request_stop() without the backend kick: there is no vCPU. */
static void on_guard(int sig)
{
	guard_fired = 1;
	dom->sched.stop_signal = sig;
	sched__wake(&dom->sched);
}

long fixture__block(int *fired_r)
{
	struct sigaction sa = { .sa_handler = on_guard }, old;
	struct itimerval on = { .it_value = { .tv_usec = 300000 } };
	struct itimerval off = { 0 };
	long rc;

	guard_fired = 0;
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &on, NULL);
	rc = fixture__hypercall(__HYPERVISOR_sched_op, SCHEDOP_block, 0, 0);
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	*fired_r = guard_fired;
	return rc;
}
