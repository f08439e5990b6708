// SPDX-License-Identifier: MIT
/*
 * vcpu__run_loop() with a fake backend: run() replays a script of exits,
 * complete_hypercall() and enter_handler() record what the loop gave them.
 * The domain is the fixture's (fixture.h), so hypercalls, event delivery
 * and guest memory are the production ones.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "fixture.h"
#include "unit.h"
#include "vcpu.h"

#define BUF_GPA FIXTURE_BUF_GPA
#define HANDLER_GPA 0x100400ull
#define FAULT_RSP 0x300007ull /* not 16-byte aligned, on purpose */
#define MAX_STEPS 8

/*
 * One run() of the script: a stop signal that arrives while in the guest,
 * the return value, the exit reported.
 */
struct step {
	int stop_signal;
	int rc;
	struct vcpu_exit exit;
};

static struct fake {
	const struct step *script;
	size_t len, runs;
	bool pending_at_run[MAX_STEPS + 1]; /* upcall pending, per run() */
	uint64_t completed[MAX_STEPS];
	size_t n_completed;
	int handler_rc, handler_calls;
	uint64_t handler_rip, handler_rsp, handler_arg[5];
} fake;

static int fake_run(struct domain *d, struct vcpu_exit *exit)
{
	size_t i = fake.runs++;

	if (i <= MAX_STEPS)
		fake.pending_at_run[i] = evtchn__upcall_pending(&d->evtchn);
	if (i >= fake.len) {
		/* The loop went on past the script's end. */
		CU_FAIL("run() called after the last scripted exit");
		return -EIO;
	}
	if (fake.script[i].stop_signal)
		__atomic_store_n(&d->sched.stop_signal,
				 fake.script[i].stop_signal, __ATOMIC_SEQ_CST);
	*exit = fake.script[i].exit;
	return fake.script[i].rc;
}

static void fake_complete_hypercall(struct domain *d, uint64_t ret)
{
	(void)d;
	if (fake.n_completed < MAX_STEPS)
		fake.completed[fake.n_completed++] = ret;
}

static int fake_enter_handler(struct domain *d, uint64_t rip, uint64_t rsp,
			      const uint64_t arg[5])
{
	(void)d;
	fake.handler_calls++;
	fake.handler_rip = rip;
	fake.handler_rsp = rsp;
	memcpy(fake.handler_arg, arg, sizeof(fake.handler_arg));
	return fake.handler_rc;
}

static const struct vcpu_backend fake_backend = {
	.name = "fake",
	.run = fake_run,
	.complete_hypercall = fake_complete_hypercall,
	.enter_handler = fake_enter_handler,
};

/* The fixture's domain, running @script; enter_handler() returns @rc. */
static int run_script(const struct step *script, size_t len, int handler_rc)
{
	struct domain *d = fixture__domain();

	CU_ASSERT_FATAL(len <= MAX_STEPS);
	memset(&fake, 0, sizeof(fake));
	fake.script = script;
	fake.len = len;
	fake.handler_rc = handler_rc;
	d->backend = &fake_backend;
	return vcpu__run_loop(d);
}

#define RUN(script) \
	run_script((script), sizeof(script) / sizeof((script)[0]), 0)

#define HYPERCALL(n, a0, a1)                                            \
	{                                                               \
		.exit.kind = VCPU_EXIT_HYPERCALL, .exit.rip = 0x100020, \
		.exit.hc = {                                            \
			.nr = (n),                                      \
			.arg = { (a0), (a1) }                           \
		}                                                       \
	}
#define KICKED                                \
	{                                     \
		.exit.kind = VCPU_EXIT_KICKED \
	}
#define FAILED                                                               \
	{                                                                    \
		.exit.kind = VCPU_EXIT_FAILED, .exit.fault.what = "scripted" \
	}
#define PAGE_FAULT(sp)                                              \
	{                                                           \
		.exit.kind = VCPU_EXIT_FAULT, .exit.rip = 0x100123, \
		.exit.fault = {                                     \
			.vector = 14,                               \
			.error_code = 6,                            \
			.has_error_code = true,                     \
			.addr = 0xdead0,                            \
			.rsp = (sp)                                 \
		}                                                   \
	}

static void test_exit_ordinal(void)
{
	static const struct step script[] = {
		HYPERCALL(__HYPERVISOR_xen_version, XENVER_version, 0),
		KICKED,
		HYPERCALL(__HYPERVISOR_sched_op, SCHEDOP_yield, 0),
		KICKED,
		PAGE_FAULT(FAULT_RSP),
	};
	static const struct step host_only[] = { KICKED, KICKED, FAILED };
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL(RUN(script), HV_EXIT_GUEST_FAULT);
	CU_ASSERT_EQUAL(fake.runs, 5);
	CU_ASSERT_EQUAL(d->exits, 3);
	CU_ASSERT_EQUAL(d->last_rip, 0x100123);

	d->exits = 0;
	d->shut_down = false;
	CU_ASSERT_EQUAL(RUN(host_only), HV_EXIT_GUEST_FAULT);
	CU_ASSERT_EQUAL(fake.runs, 3);
	CU_ASSERT_EQUAL(d->exits, 0);
}

static void test_hypercall_result(void)
{
	static const struct step script[] = {
		HYPERCALL(__HYPERVISOR_xen_version, XENVER_version, 0),
		HYPERCALL(99, 0, 0),
		FAILED,
	};

	CU_ASSERT_EQUAL(RUN(script), HV_EXIT_GUEST_FAULT);
	CU_ASSERT_EQUAL(fake.n_completed, 2);
	CU_ASSERT_EQUAL(fake.completed[0], PVFT_XEN_VERSION);
	CU_ASSERT_EQUAL(fake.completed[1], (uint64_t)-ENOSYS);
}

/* Inputs reach the guest at hypercall exits, not at host-caused ones. */
static void test_deliver_at_hypercall_exits(void)
{
	static const struct step script[] = {
		KICKED,
		HYPERCALL(__HYPERVISOR_xen_version, XENVER_version, 0),
		FAILED,
	};
	struct domain *d = fixture__domain();
	struct evtchn_bind_virq bv = { .virq = VIRQ_TIMER };

	CU_ASSERT_EQUAL_FATAL(evtchn__bind_virq(&d->evtchn, &bv), 0);
	sched__set_timer(d, 1); /* the fixture booted a second ago */
	CU_ASSERT_EQUAL(RUN(script), HV_EXIT_GUEST_FAULT);
	CU_ASSERT_FALSE(fake.pending_at_run[0]);
	CU_ASSERT_FALSE(fake.pending_at_run[1]); /* after KICKED */
	CU_ASSERT_TRUE(fake.pending_at_run[2]);	 /* after the hypercall */
	CU_ASSERT_FALSE(d->sched.timer_armed);
}

static void test_fault_without_handler(void)
{
	static const struct step script[] = { PAGE_FAULT(FAULT_RSP) };
	struct domain *d = fixture__domain();

	d->trap_handler[13] = HANDLER_GPA; /* another vector's */
	CU_ASSERT_EQUAL(RUN(script), HV_EXIT_GUEST_FAULT);
	CU_ASSERT_EQUAL(fake.handler_calls, 0);
	CU_ASSERT_TRUE(d->shut_down);
}

static void test_fault_handler(void)
{
	static const struct step script[] = {
		PAGE_FAULT(FAULT_RSP),
		HYPERCALL(__HYPERVISOR_xen_version, XENVER_version, 0),
		PAGE_FAULT(FAULT_RSP),
	};
	struct domain *d = fixture__domain();
	uint64_t rsp = ((FAULT_RSP - PVFT_TRAP_STACK_GAP) & ~15ull) - 8;
	uint64_t ret_addr;

	d->trap_handler[14] = HANDLER_GPA;
	memset(d->mem + rsp, 0xff, 8);
	/* The handler is entered, the loop goes on, a second fault ends it. */
	CU_ASSERT_EQUAL(RUN(script), HV_EXIT_GUEST_FAULT);
	CU_ASSERT_EQUAL(fake.runs, 3);
	CU_ASSERT_EQUAL(fake.n_completed, 1);
	CU_ASSERT_EQUAL(fake.handler_calls, 1);
	CU_ASSERT_EQUAL(fake.handler_rip, HANDLER_GPA);
	CU_ASSERT_EQUAL(fake.handler_rsp, rsp);
	CU_ASSERT_EQUAL(fake.handler_rsp % 16, 8); /* as after a call */
	CU_ASSERT_EQUAL(fake.handler_arg[0], 14);
	CU_ASSERT_EQUAL(fake.handler_arg[1], 6);
	CU_ASSERT_EQUAL(fake.handler_arg[2], 0x100123);
	CU_ASSERT_EQUAL(fake.handler_arg[3], 0xdead0);
	CU_ASSERT_EQUAL(fake.handler_arg[4], FAULT_RSP);
	memcpy(&ret_addr, d->mem + rsp, 8);
	CU_ASSERT_EQUAL(ret_addr, 0);
	CU_ASSERT_EQUAL(d->exits, 3);
}

static void test_fault_handler_no_error_code(void)
{
	static struct step script[] = { PAGE_FAULT(FAULT_RSP), FAILED };
	struct domain *d = fixture__domain();

	script[0].exit.fault.has_error_code = false;
	d->trap_handler[14] = HANDLER_GPA;
	CU_ASSERT_EQUAL(RUN(script), HV_EXIT_GUEST_FAULT);
	CU_ASSERT_EQUAL(fake.handler_calls, 1);
	CU_ASSERT_EQUAL(fake.handler_arg[1], 0);
}

/* Faults that cannot be handed to the handler end the domain at once. */
static void test_fault_not_delivered(void)
{
	static const struct {
		const char *why;
		int vector;
		uint64_t rsp;
		int handler_rc;
	} cases[] = {
		{ "rsp below the gap", 14, PVFT_TRAP_STACK_GAP - 1, 0 },
		{ "rsp at the gap", 14, PVFT_TRAP_STACK_GAP, 0 },
		{ "stack in the hv-private pages", 14, 0x1000, 0 },
		{ "stack in the gap", 14, PVFT_GUEST_MIN_ADDR + 8, 0 },
		{ "stack past memory", 14, FIXTURE_MEM_SIZE + 0x1000, 0 },
		{ "stack wraps", 14, ~0ull, 0 },
		{ "not an exception", -1, FAULT_RSP, 0 },
		{ "vector out of range", PVFT_NR_TRAPS, FAULT_RSP, 0 },
		{ "backend refuses", 14, FAULT_RSP, -EIO },
	};
	static struct step script[] = { PAGE_FAULT(FAULT_RSP) };
	struct domain *d = fixture__domain();

	for (int v = 0; v < PVFT_NR_TRAPS; v++)
		d->trap_handler[v] = HANDLER_GPA;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		script[0].exit.fault.vector = cases[i].vector;
		script[0].exit.fault.rsp = cases[i].rsp;
		d->shut_down = false;
		rc = run_script(script, 1, cases[i].handler_rc);
		/* Only a refusing backend was asked to enter the handler. */
		CU_assertImplementation(
		    rc == HV_EXIT_GUEST_FAULT && !d->in_trap_handler &&
			fake.handler_calls == (cases[i].handler_rc ? 1 : 0),
		    __LINE__, cases[i].why, __FILE__, "", CU_FALSE);
	}
}

static void test_backend_failures(void)
{
	static const struct step failed[] = { FAILED };
	static const struct step broken[] = { { .rc = -EIO } };
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL(RUN(failed), HV_EXIT_GUEST_FAULT);
	d->shut_down = false;
	CU_ASSERT_EQUAL(RUN(broken), HV_EXIT_HOST);
	CU_ASSERT_EQUAL(fake.runs, 1);
	CU_ASSERT_EQUAL(d->exits, 0);
}

static void test_shutdown_exit_status(void)
{
	static const struct step script[] = {
		HYPERCALL(__HYPERVISOR_sched_op, SCHEDOP_shutdown, BUF_GPA),
	};
	struct domain *d = fixture__domain();
	struct sched_shutdown sd = { .reason = PVFT_SHUTDOWN_EXIT(7) };

	memcpy(d->mem + BUF_GPA, &sd, sizeof(sd));
	CU_ASSERT_EQUAL(RUN(script), 7);
	CU_ASSERT_EQUAL(fake.n_completed, 1);
	CU_ASSERT_EQUAL(fake.completed[0], 0);
}

static void test_stop_signal(void)
{
	static const struct step script[] = { FAILED };
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL_FATAL(sched__init_kick(d), 0);
	CU_ASSERT_TRUE(pthread_equal(d->sched.vcpu_thread, pthread_self()));
	__atomic_store_n(&d->sched.stop_signal, SIGTERM, __ATOMIC_SEQ_CST);
	CU_ASSERT_EQUAL(RUN(script), 128 + SIGTERM);
	CU_ASSERT_EQUAL(fake.runs, 0);
}

/* A signal kicks the vCPU out of the guest: the loop stops there. */
static void test_stop_signal_while_running(void)
{
	static const struct step script[] = {
		{ .stop_signal = SIGINT, .exit.kind = VCPU_EXIT_KICKED },
		FAILED,
	};
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL_FATAL(sched__init_kick(d), 0);
	CU_ASSERT_EQUAL(RUN(script), 128 + SIGINT);
	CU_ASSERT_EQUAL(fake.runs, 1);
	CU_ASSERT_EQUAL(d->exits, 0);
}

static CU_TestInfo vcpu_tests[] = {
	{ "exit ordinal: guest-caused exits only", test_exit_ordinal },
	{ "hypercall result to the backend", test_hypercall_result },
	{ "events delivered at hypercall exits",
	  test_deliver_at_hypercall_exits },
	{ "fault without a handler", test_fault_without_handler },
	{ "fault handler entered once", test_fault_handler },
	{ "fault handler, no error code", test_fault_handler_no_error_code },
	{ "faults not delivered", test_fault_not_delivered },
	{ "backend failures", test_backend_failures },
	{ "shutdown exit status", test_shutdown_exit_status },
	{ "stop signal before run", test_stop_signal },
	{ "stop signal while running", test_stop_signal_while_running },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo vcpu_suites[] = {
	{ "vcpu", NULL, NULL, fixture__setup, fixture__teardown, vcpu_tests },
	CU_SUITE_INFO_NULL,
};

void test_vcpu__register(void)
{
	CU_register_suites(vcpu_suites);
}
