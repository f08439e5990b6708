// SPDX-License-Identifier: MIT
/*
 * hypercall__dispatch on a real struct domain (fixture.h): numbers,
 * console_io, sched_op, set_timer_op and xen_version. Every argument is the
 * guest's, and a refusal must leave the domain running.
 */
#include <errno.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "fixture.h"
#include "deliver.h"
#include "hcname.h"
#include "hypercall.h"
#include "unit.h"

#define MEM_SIZE FIXTURE_MEM_SIZE
#define BUF_GPA FIXTURE_BUF_GPA

static long hc(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	return fixture__hypercall(nr, a0, a1, a2);
}

#define CONSOLE_HC(cmd, count, gpa) \
	hc(__HYPERVISOR_console_io, (cmd), (count), (gpa))

static void test_unknown_hypercalls(void)
{
	static const uint64_t nrs[] = { 1, 99, 127, 128, 1ull << 40, ~0ull };
	struct domain *d = fixture__domain();

	for (size_t i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++)
		CU_ASSERT_EQUAL(hc(nrs[i], 0, BUF_GPA, 8), -ENOSYS);
	CU_ASSERT_FALSE(d->shut_down);
	CU_ASSERT_STRING_EQUAL(hcname__name(__HYPERVISOR_console_io),
			       "console_io");
	CU_ASSERT_STRING_EQUAL(hcname__name(1), "unknown");
	CU_ASSERT_STRING_EQUAL(hcname__name(~0ull), "unknown");
}

static void test_console_write(void)
{
	struct domain *d = fixture__domain();
	size_t magic = strlen(PVFT_START_INFO_MAGIC);
	char out[8192];

	memcpy(d->mem + BUF_GPA, "hello", 5);
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_write, 5, BUF_GPA), 5);
	CU_ASSERT_EQUAL(fixture__console_out(out, sizeof(out)), 5);
	CU_ASSERT(!memcmp(out, "hello", 5));

	/* The last bytes of memory, and the longest write. */
	memcpy(d->mem + MEM_SIZE - 3, "end", 3);
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_write, 3, MEM_SIZE - 3), 3);
	CU_ASSERT_EQUAL(fixture__console_out(out, sizeof(out)), 3);
	CU_ASSERT(!memcmp(out, "end", 3));
	CU_ASSERT_EQUAL(
	    CONSOLE_HC(CONSOLEIO_write, PVFT_CONSOLE_IO_MAX, BUF_GPA),
	    PVFT_CONSOLE_IO_MAX);
	CU_ASSERT_EQUAL(fixture__console_out(out, sizeof(out)),
			PVFT_CONSOLE_IO_MAX);
	CU_ASSERT_EQUAL(
	    CONSOLE_HC(CONSOLEIO_write, PVFT_CONSOLE_IO_MAX + 1, BUF_GPA),
	    -EINVAL);
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_write, ~0ull, BUF_GPA), -EINVAL);

	/* Writing out of start_info only reads it, which the guest may. */
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_write, magic, PVFT_START_INFO_GPA),
			(long)magic);
	CU_ASSERT_EQUAL(fixture__console_out(out, sizeof(out)), magic);
	CU_ASSERT(!memcmp(out, PVFT_START_INFO_MAGIC, magic));
	CU_ASSERT_EQUAL(fixture__console_out(out, sizeof(out)), 0);
}

static void test_console_write_bad_pointer(void)
{
	static const struct {
		uint64_t gpa, len;
	} bad[] = {
		{ 0, 5 },
		{ 0x1000, 16 }, /* hv-private GDT */
		{ PVFT_DOORBELL_GPA, 4 },
		{ MEM_SIZE, 1 },
		{ MEM_SIZE - 4, 5 },
		{ ~0ull - 2, 5 }, /* gpa + len wraps */
		{ PVFT_START_INFO_GPA + PVFT_PAGE_SIZE - 2, 5 },
		{ PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE - 2, 5 },
		{ PVFT_GUEST_MIN_ADDR - 1, 2 },
	};
	struct domain *d = fixture__domain();
	char out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(
		    CONSOLE_HC(CONSOLEIO_write, bad[i].len, bad[i].gpa),
		    -EFAULT);
	CU_ASSERT_EQUAL(fixture__console_out(out, sizeof(out)), 0);
	CU_ASSERT_FALSE(d->shut_down);
}

static void test_console_read(void)
{
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_read, 16, BUF_GPA), 0);
	/* start_info is read-only: reading the console into it is a write. */
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_read, 16, PVFT_START_INFO_GPA),
			-EFAULT);
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_read, 16, 0x1000), -EFAULT);
	CU_ASSERT_EQUAL(
	    CONSOLE_HC(CONSOLEIO_read, PVFT_CONSOLE_IO_MAX + 1, BUF_GPA),
	    -EINVAL);

	CU_ASSERT_EQUAL(coninput__push(&d->cin, "abc", 3), 3);
	deliver__exit(d);
	CU_ASSERT(d->evtchn.si->evtchn_pending[0] & (1ul << PVFT_CONSOLE_PORT));
	memset(d->mem + BUF_GPA, 0, 16);
	/* The whole buffer must be the guest's, even if 1 byte is filled. */
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_read, 8, MEM_SIZE - 4), -EFAULT);
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_read, 2, BUF_GPA), 2);
	CU_ASSERT(!memcmp(d->mem + BUF_GPA, "ab", 2));
	CU_ASSERT_EQUAL(d->mem[BUF_GPA + 2], 0);
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_read, 16, BUF_GPA), 1);
	CU_ASSERT_EQUAL(d->mem[BUF_GPA], 'c');
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_read, 16, BUF_GPA), 0);
	CU_ASSERT_EQUAL(CONSOLE_HC(2, 16, BUF_GPA), -ENOSYS);
	CU_ASSERT_EQUAL(CONSOLE_HC(~0ull, 16, BUF_GPA), -ENOSYS);
}

static long guest_shutdown(struct domain *d, uint64_t gpa, unsigned int reason)
{
	struct sched_shutdown sd = { .reason = reason };

	if (gpa >= PVFT_GUEST_MIN_ADDR && gpa <= MEM_SIZE - sizeof(sd))
		memcpy(d->mem + gpa, &sd, sizeof(sd));
	return hc(__HYPERVISOR_sched_op, SCHEDOP_shutdown, gpa, 0);
}

static void test_sched_op_refusals(void)
{
	static const uint64_t bad_gpa[] = { 0, 0x1000, MEM_SIZE - 2,
					    ~0ull - 1 };
	static const unsigned int bad_reason[] = { 99,
						   SHUTDOWN_reboot,
						   SHUTDOWN_suspend,
						   SHUTDOWN_watchdog,
						   SHUTDOWN_soft_reset,
						   0x200 | 7,
						   ~0u };
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL(hc(__HYPERVISOR_sched_op, 99, 0, 0), -ENOSYS);
	/* As in Xen, the command is an int: its register's upper half is not.
	 */
	CU_ASSERT_EQUAL(
	    hc(__HYPERVISOR_sched_op, 1ull << 32 | SCHEDOP_yield, 0, 0), 0);
	CU_ASSERT_EQUAL(hc(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0), 0);
	for (size_t i = 0; i < sizeof(bad_gpa) / sizeof(bad_gpa[0]); i++)
		CU_ASSERT_EQUAL(
		    guest_shutdown(d, bad_gpa[i], SHUTDOWN_poweroff), -EFAULT);
	for (size_t i = 0; i < sizeof(bad_reason) / sizeof(bad_reason[0]); i++)
		CU_ASSERT_EQUAL(guest_shutdown(d, BUF_GPA, bad_reason[i]),
				-EINVAL);
	CU_ASSERT_FALSE(d->shut_down);
}

static void test_shutdown_poweroff(void)
{
	struct domain *d = fixture__domain();

	d->exit_status = -1;
	CU_ASSERT_EQUAL(guest_shutdown(d, BUF_GPA, SHUTDOWN_poweroff), 0);
	CU_ASSERT(d->shut_down);
	CU_ASSERT_EQUAL(d->exit_status, 0);
	/* The first shutdown wins. */
	CU_ASSERT_EQUAL(guest_shutdown(d, BUF_GPA, SHUTDOWN_crash), 0);
	CU_ASSERT_EQUAL(d->exit_status, 0);
}

static void test_shutdown_exit_code(void)
{
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL(guest_shutdown(d, BUF_GPA, PVFT_SHUTDOWN_EXIT(7)), 0);
	CU_ASSERT(d->shut_down);
	CU_ASSERT_EQUAL(d->exit_status, 7);
	d->shut_down = false;
	CU_ASSERT_EQUAL(guest_shutdown(d, BUF_GPA, PVFT_SHUTDOWN_EXIT(255)), 0);
	CU_ASSERT_EQUAL(d->exit_status, 255);
}

static void test_shutdown_crash(void)
{
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL(guest_shutdown(d, BUF_GPA, SHUTDOWN_crash), 0);
	CU_ASSERT(d->shut_down);
	CU_ASSERT_EQUAL(d->exit_status, HV_EXIT_GUEST_CRASH);
	CU_ASSERT_EQUAL(HV_EXIT_GUEST_CRASH, 5);
}

static int port_pending(struct domain *d, evtchn_port_t port)
{
	return !!(domain__shared_info(d)->evtchn_pending[0] & (1ul << port));
}

static void test_set_timer(void)
{
	struct evtchn_bind_virq op = { .virq = VIRQ_TIMER };
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL(hc(__HYPERVISOR_set_timer_op, 3600 * NS_PER_S, 0, 0),
			0);
	CU_ASSERT(d->sched.timer_armed);
	CU_ASSERT_EQUAL(d->sched.deadline, 3600 * NS_PER_S);
	CU_ASSERT_EQUAL(hc(__HYPERVISOR_set_timer_op, 0, 0, 0), 0);
	CU_ASSERT_FALSE(d->sched.timer_armed);

	CU_ASSERT_EQUAL_FATAL(evtchn__bind_virq(&d->evtchn, &op), 0);
	/* A future deadline does not fire. */
	hc(__HYPERVISOR_set_timer_op, sched__now(d) + 3600 * NS_PER_S, 0, 0);
	deliver__exit(d);
	CU_ASSERT(d->sched.timer_armed);
	CU_ASSERT_FALSE(port_pending(d, op.port));
	/* A past one fires at the next delivery, once. */
	hc(__HYPERVISOR_set_timer_op, 1, 0, 0);
	deliver__exit(d);
	CU_ASSERT_FALSE(d->sched.timer_armed);
	CU_ASSERT(port_pending(d, op.port));
	CU_ASSERT(evtchn__upcall_pending(&d->evtchn));
}

static void test_set_timer_unbound_virq(void)
{
	struct domain *d = fixture__domain();

	hc(__HYPERVISOR_set_timer_op, 1, 0, 0);
	deliver__exit(d);
	CU_ASSERT_FALSE(d->sched.timer_armed);
	CU_ASSERT_FALSE(evtchn__upcall_pending(&d->evtchn));
}

static void test_block(void)
{
	struct evtchn_bind_virq op = { .virq = VIRQ_TIMER };
	struct domain *d = fixture__domain();
	struct vcpu_info *v = &domain__shared_info(d)->vcpu_info[0];
	int fired;

	/* A due timer wakes the blocked vCPU, with upcalls unmasked. */
	evtchn__bind_virq(&d->evtchn, &op);
	v->evtchn_upcall_mask = 1;
	hc(__HYPERVISOR_set_timer_op, 1, 0, 0);
	CU_ASSERT_EQUAL(fixture__block(&fired), 0);
	CU_ASSERT_FALSE(fired);
	CU_ASSERT_EQUAL(v->evtchn_upcall_mask, 0);
	CU_ASSERT(v->evtchn_upcall_pending);
	CU_ASSERT_FALSE(d->shut_down);

	/* Nothing could ever wake it: the domain ends instead of hanging. */
	v->evtchn_upcall_pending = 0;
	coninput__close(&d->cin);
	CU_ASSERT_EQUAL(fixture__block(&fired), 0);
	CU_ASSERT_FALSE(fired);
	CU_ASSERT(d->shut_down);
	CU_ASSERT_EQUAL(d->exit_status, HV_EXIT_GUEST_FAULT);
}

/*
 * Input arrived and was announced on port 1, then input ended (EOF). The
 * guest reads part of it, acknowledges the event and blocks: no timer, and
 * no input can still arrive, so the domain is dead (pv-abi.md section 3,
 * SCHEDOP_block) and must end with status 4, not sleep forever.
 */
static void test_block_unread_input_after_eof(void)
{
	struct domain *d = fixture__domain();
	struct shared_info *si = domain__shared_info(d);
	int fired;

	coninput__push(&d->cin, "abc", 3);
	coninput__close(&d->cin);
	deliver__exit(d);
	CU_ASSERT_FATAL(evtchn__upcall_pending(&d->evtchn));
	CU_ASSERT_EQUAL(CONSOLE_HC(CONSOLEIO_read, 1, BUF_GPA), 1);
	si->evtchn_pending[0] = 0;
	si->vcpu_info[0].evtchn_pending_sel = 0;
	si->vcpu_info[0].evtchn_upcall_pending = 0;

	CU_ASSERT_EQUAL(fixture__block(&fired), 0);
	CU_ASSERT_FALSE(fired); /* fired: the vCPU would have slept forever */
	CU_ASSERT(d->shut_down);
	CU_ASSERT_EQUAL(d->exit_status, HV_EXIT_GUEST_FAULT);
}

static void test_xen_version(void)
{
	fixture__domain();
	CU_ASSERT_EQUAL(hc(__HYPERVISOR_xen_version, XENVER_version, 0, 0),
			0x00010000);
	CU_ASSERT_EQUAL(
	    hc(__HYPERVISOR_xen_version, XENVER_extraversion, BUF_GPA, 0),
	    -ENOSYS);
	CU_ASSERT_EQUAL(hc(__HYPERVISOR_xen_version, ~0ull, 0, 0), -ENOSYS);
}

static long set_traps(const struct trap_info *t, unsigned int n)
{
	struct domain *d = fixture__domain();

	memcpy(d->mem + FIXTURE_BUF_GPA, t, n * sizeof(*t));
	return fixture__hypercall(__HYPERVISOR_set_trap_table, FIXTURE_BUF_GPA,
				  0, 0);
}

static void test_set_trap_table(void)
{
	struct domain *d = fixture__domain();
	struct trap_info t[PVFT_TRAP_TABLE_MAX + 1] = {
		{ .vector = 14, .address = 0x100040 },
		{ .vector = 6, .address = 0x100080 },
		{ 0 },
	};

	CU_ASSERT_EQUAL(set_traps(t, 3), 0);
	CU_ASSERT_EQUAL(d->trap_handler[14], 0x100040);
	CU_ASSERT_EQUAL(d->trap_handler[6], 0x100080);
	CU_ASSERT_EQUAL(d->trap_handler[0], 0);

	/* Each refusal leaves the table as it was: all or nothing. */
	t[1] =
	    (struct trap_info){ .vector = PVFT_NR_TRAPS, .address = 0x1000c0 };
	CU_ASSERT_EQUAL(set_traps(t, 3), -EINVAL);
	t[1] = (struct trap_info){ .vector = 0, .address = 0x10 };
	CU_ASSERT_EQUAL(set_traps(t, 3), -EFAULT);
	t[1] = (struct trap_info){ .vector = 0, .address = FIXTURE_MEM_SIZE };
	CU_ASSERT_EQUAL(set_traps(t, 3), -EFAULT);
	for (unsigned int i = 0; i <= PVFT_TRAP_TABLE_MAX; i++)
		t[i] = (struct trap_info){ .vector = 1, .address = 0x100100 };
	CU_ASSERT_EQUAL(set_traps(t, PVFT_TRAP_TABLE_MAX + 1), -EINVAL);
	CU_ASSERT_EQUAL(
	    fixture__hypercall(__HYPERVISOR_set_trap_table, 0x1000, 0, 0),
	    -EFAULT);
	/* A table running off the end of memory. */
	CU_ASSERT_EQUAL(fixture__hypercall(__HYPERVISOR_set_trap_table,
					   FIXTURE_MEM_SIZE - 8, 0, 0),
			-EFAULT);
	CU_ASSERT_EQUAL(d->trap_handler[14], 0x100040);
	CU_ASSERT_EQUAL(d->trap_handler[6], 0x100080);
	CU_ASSERT_EQUAL(d->trap_handler[1], 0);

	/* NULL clears. */
	CU_ASSERT_EQUAL(
	    fixture__hypercall(__HYPERVISOR_set_trap_table, 0, 0, 0), 0);
	CU_ASSERT_EQUAL(d->trap_handler[14], 0);
	CU_ASSERT_EQUAL(d->trap_handler[6], 0);
}

static CU_TestInfo hypercall_tests[] = {
	{ "unknown hypercalls: -ENOSYS", test_unknown_hypercalls },
	{ "console write", test_console_write },
	{ "console write, bad pointers", test_console_write_bad_pointer },
	{ "console read", test_console_read },
	{ "sched_op refusals", test_sched_op_refusals },
	{ "shutdown: poweroff", test_shutdown_poweroff },
	{ "shutdown: exit code", test_shutdown_exit_code },
	{ "shutdown: crash", test_shutdown_crash },
	{ "set_timer_op and VIRQ_TIMER", test_set_timer },
	{ "set_timer_op, VIRQ_TIMER unbound", test_set_timer_unbound_virq },
	{ "sched_op block", test_block },
	{ "sched_op block, unread input after EOF",
	  test_block_unread_input_after_eof },
	{ "xen_version", test_xen_version },
	{ "set_trap_table", test_set_trap_table },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo hypercall_suites[] = {
	{ "hypercall", NULL, NULL, fixture__setup, fixture__teardown,
	  hypercall_tests },
	CU_SUITE_INFO_NULL,
};

void test_hypercall__register(void)
{
	CU_register_suites(hypercall_suites);
}
