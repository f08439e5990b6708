// SPDX-License-Identifier: MIT
/*
 * A guest that attacks its hypervisor through the PV ABI: every hypercall
 * with bad pointers, oversized lengths, bad ports and unknown commands,
 * each checked against the error the ABI promises. Then it checks that the
 * domain still works. One line per check:
 *   hostile: ok <what>
 *   hostile: FAIL <what>: got X want Y
 * and at the end "hostile: N checks, F failures"; the exit status is 1 if
 * anything failed. A test must look for that last line too: an hv that
 * wrongly accepted a bad shutdown pointer would end the domain early.
 *
 * cmdline modes that misbehave on purpose, to test the hv's reports (each
 * prints "hostile: about to <mode>" first):
 *   fault=null|ud|div|doorbell|syscall|vsyscall   fault in the named way; the
 *            runtime's handler reports it, unless "notraps" is also given
 *            (then the hv does)
 *   fault=nested   fault in a fault handler (the hv must end the domain)
 *   spin     loop forever without a hypercall (the hv must report it)
 *   block    block with no timer and no way to be woken (a dead domain);
 *            block=masked-timer: with a timer whose port is masked;
 *            block=no-console: with the console's port closed
 */
#include "console.h"
#include "errno.h"
#include "events.h"
#include "hypervisor.h"
#include "lib.h"
#include "time.h"
#include "traps.h"

/* What pvft-hv reports for XENVER_version: ABI 1.0. */

/* A valid port number nobody uses (ports are handed out lowest first). */
#define UNUSED_PORT 1000

static unsigned int checks, failures;
static char big[2 * PVFT_CONSOLE_IO_MAX];

static void __attribute__((format(__printf__, 3, 4)))
check(long got, long want, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	checks++;
	if (got == want) {
		printf("hostile: ok %s\n", what);
	} else {
		failures++;
		printf("hostile: FAIL %s: got %ld want %ld\n", what, got, want);
	}
}

struct bad_ptr {
	const char *what;
	unsigned long addr;
};

/*
 * Addresses the guest may not hand the hv. The straddling ones start 2
 * bytes before a boundary, so that every object we pass (4 bytes and up)
 * crosses it. @for_write adds what the hv may read but not write.
 */
static unsigned int bad_ptrs(struct bad_ptr *p, bool for_write)
{
	unsigned long mem_end = start_info.nr_pages * PVFT_PAGE_SIZE;
	unsigned int n = 0;

	p[n++] = (struct bad_ptr){ "NULL", 0 };
	p[n++] = (struct bad_ptr){ "0x1000 (hv-private)", 0x1000 };
	p[n++] = (struct bad_ptr){ "straddling start_info's start",
				   PVFT_START_INFO_GPA - 2 };
	p[n++] = (struct bad_ptr){ "straddling shared_info's end",
				   PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE - 2 };
	p[n++] = (struct bad_ptr){ "straddling the image's start",
				   PVFT_GUEST_MIN_ADDR - 2 };
	p[n++] = (struct bad_ptr){ "the end of memory", mem_end };
	p[n++] =
	    (struct bad_ptr){ "straddling the end of memory", mem_end - 2 };
	p[n++] = (struct bad_ptr){ "the doorbell", PVFT_DOORBELL_GPA };
	p[n++] = (struct bad_ptr){ "non-canonical 1<<63", 1UL << 63 };
	p[n++] = (struct bad_ptr){ "~0", ~0UL };
	p[n++] = (struct bad_ptr){ "wrapping around", ~0UL - 1 };
	if (for_write) {
		p[n++] = (struct bad_ptr){ "start_info (read-only)",
					   PVFT_START_INFO_GPA };
		p[n++] = (struct bad_ptr){ "inside start_info (read-only)",
					   PVFT_START_INFO_GPA + 0x100 };
	}
	return n;
}

static void check_bad_pointers(void)
{
	struct bad_ptr p[16];
	unsigned int i, n;

	/* The hv reads through these. */
	n = bad_ptrs(p, false);
	for (i = 0; i < n; i++) {
		void *a = (void *)p[i].addr;

		check(HYPERVISOR_console_io(CONSOLEIO_write, 16, a), -EFAULT,
		      "console write from %s", p[i].what);
		check(HYPERVISOR_sched_op(SCHEDOP_shutdown, a), -EFAULT,
		      "shutdown with its argument at %s", p[i].what);
		check(HYPERVISOR_event_channel_op(EVTCHNOP_send, a), -EFAULT,
		      "EVTCHNOP_send with its argument at %s", p[i].what);
		check(HYPERVISOR_event_channel_op(EVTCHNOP_status, a), -EFAULT,
		      "EVTCHNOP_status with its argument at %s", p[i].what);
		check(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, a),
		      -EFAULT, "EVTCHNOP_bind_virq with its argument at %s",
		      p[i].what);
	}
	check(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, NULL),
	      -EFAULT, "EVTCHNOP_alloc_unbound with its argument at NULL");
	check(HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, NULL),
	      -EFAULT, "EVTCHNOP_bind_interdomain with its argument at NULL");
	check(HYPERVISOR_event_channel_op(EVTCHNOP_close, NULL), -EFAULT,
	      "EVTCHNOP_close with its argument at NULL");
	check(HYPERVISOR_event_channel_op(EVTCHNOP_unmask, NULL), -EFAULT,
	      "EVTCHNOP_unmask with its argument at NULL");

	/* The hv writes through these. */
	n = bad_ptrs(p, true);
	for (i = 0; i < n; i++) {
		check(HYPERVISOR_console_io(CONSOLEIO_read, 16,
					    (char *)p[i].addr),
		      -EFAULT, "console read into %s", p[i].what);
		check(HYPERVISOR_pvft_op(PVFTOP_random, p[i].addr, 16), -EFAULT,
		      "random bytes into %s", p[i].what);
		check(HYPERVISOR_pvft_op(PVFTOP_unique_id, p[i].addr, 0),
		      -EFAULT, "unique id into %s", p[i].what);
	}
}

static void check_lengths(void)
{
	check(HYPERVISOR_console_io(CONSOLEIO_write, 0, big), 0,
	      "console write of 0 bytes");
	check(HYPERVISOR_console_io(CONSOLEIO_write, PVFT_CONSOLE_IO_MAX + 1,
				    big),
	      -EINVAL, "console write of PVFT_CONSOLE_IO_MAX + 1 bytes");
	check(HYPERVISOR_console_io(CONSOLEIO_write, ~0u, big), -EINVAL,
	      "console write of 0xffffffff bytes");
	check(
	    HYPERVISOR_console_io(CONSOLEIO_read, PVFT_CONSOLE_IO_MAX + 1, big),
	    -EINVAL, "console read of PVFT_CONSOLE_IO_MAX + 1 bytes");
	check(HYPERVISOR_pvft_op(PVFTOP_random, (unsigned long)big,
				 PVFT_RANDOM_MAX + 1),
	      -EINVAL, "random bytes, PVFT_RANDOM_MAX + 1 of them");
	check(HYPERVISOR_pvft_op(PVFTOP_random, (unsigned long)big, ~0UL),
	      -EINVAL, "random bytes, ~0 of them");
}

static long evtchn_port_op(int cmd, evtchn_port_t port)
{
	/* send, close and unmask all take just a port. */
	struct evtchn_send op = { .port = port };

	return HYPERVISOR_event_channel_op(cmd, &op);
}

static void check_event_channels(evtchn_port_t timer_port)
{
	static const struct {
		const char *name;
		int cmd;
	} port_ops[] = {
		{ "EVTCHNOP_send", EVTCHNOP_send },
		{ "EVTCHNOP_close", EVTCHNOP_close },
		{ "EVTCHNOP_unmask", EVTCHNOP_unmask },
	};
	static const evtchn_port_t bad_ports[] = {
		0, PVFT_NR_EVTCHN, 1u << 31, ~0u, UNUSED_PORT,
	};
	struct evtchn_status status;
	struct evtchn_bind_virq virq;
	struct evtchn_alloc_unbound unbound;
	struct evtchn_bind_interdomain inter;
	unsigned int i, j;
	long rc;

	for (i = 0; i < ARRAY_SIZE(port_ops); i++)
		for (j = 0; j < ARRAY_SIZE(bad_ports); j++)
			check(evtchn_port_op(port_ops[i].cmd, bad_ports[j]),
			      -EINVAL, "%s on port %u", port_ops[i].name,
			      bad_ports[j]);
	for (j = 0; j + 1 < ARRAY_SIZE(bad_ports); j++) {
		status = (struct evtchn_status){ .dom = DOMID_SELF,
						 .port = bad_ports[j] };
		check(HYPERVISOR_event_channel_op(EVTCHNOP_status, &status),
		      -EINVAL, "EVTCHNOP_status on port %u", bad_ports[j]);
	}
	status = (struct evtchn_status){ .dom = DOMID_SELF,
					 .port = UNUSED_PORT,
					 .status = ~0u };
	rc = HYPERVISOR_event_channel_op(EVTCHNOP_status, &status);
	check(rc, 0, "EVTCHNOP_status on unused port %u", UNUSED_PORT);
	check(status.status, EVTCHNSTAT_closed,
	      "EVTCHNOP_status says unused port %u is closed", UNUSED_PORT);
	status = (struct evtchn_status){ .dom = 5, .port = timer_port };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_status, &status), -ESRCH,
	      "EVTCHNOP_status of another domain's port");
	check(evtchn_port_op(EVTCHNOP_send, timer_port), -EINVAL,
	      "EVTCHNOP_send on the VIRQ_TIMER port");

	virq = (struct evtchn_bind_virq){ .virq = VIRQ_DEBUG };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &virq), -EINVAL,
	      "EVTCHNOP_bind_virq VIRQ_DEBUG");
	virq = (struct evtchn_bind_virq){ .virq = 1000 };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &virq), -EINVAL,
	      "EVTCHNOP_bind_virq virq 1000");
	virq = (struct evtchn_bind_virq){ .virq = VIRQ_TIMER, .vcpu = 1 };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &virq), -ENOENT,
	      "EVTCHNOP_bind_virq VIRQ_TIMER on vCPU 1");
	virq = (struct evtchn_bind_virq){ .virq = VIRQ_TIMER, .vcpu = 0 };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &virq), -EEXIST,
	      "EVTCHNOP_bind_virq VIRQ_TIMER a second time");

	unbound =
	    (struct evtchn_alloc_unbound){ .dom = 5, .remote_dom = DOMID_SELF };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &unbound),
	      -EPERM, "EVTCHNOP_alloc_unbound for another domain");
	unbound =
	    (struct evtchn_alloc_unbound){ .dom = DOMID_SELF, .remote_dom = 7 };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &unbound),
	      -ESRCH, "EVTCHNOP_alloc_unbound with a nonexistent peer");

	inter = (struct evtchn_bind_interdomain){ .remote_dom = 7,
						  .remote_port = 1 };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &inter),
	      -ESRCH, "EVTCHNOP_bind_interdomain to a nonexistent domain");
	inter = (struct evtchn_bind_interdomain){ .remote_dom = DOMID_SELF,
						  .remote_port = UNUSED_PORT };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &inter),
	      -EINVAL, "EVTCHNOP_bind_interdomain to unused port %u",
	      UNUSED_PORT);
	inter = (struct evtchn_bind_interdomain){ .remote_dom = DOMID_SELF,
						  .remote_port = timer_port };
	check(HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &inter),
	      -EINVAL, "EVTCHNOP_bind_interdomain to the VIRQ_TIMER port");

	check(HYPERVISOR_event_channel_op(99, &status), -ENOSYS,
	      "event_channel_op command 99");
}

static void check_commands(void)
{
	static const unsigned int bad_reasons[] = {
		SHUTDOWN_reboot, SHUTDOWN_suspend, SHUTDOWN_watchdog, 99,
		0x200,		 0xffffffff,
	};
	unsigned int i;

	check(HYPERVISOR_console_io(99, 0, big), -ENOSYS,
	      "console_io command 99");
	check(HYPERVISOR_sched_op(99, NULL), -ENOSYS, "sched_op command 99");
	check(HYPERVISOR_sched_op(SCHEDOP_poll, big), -ENOSYS,
	      "sched_op SCHEDOP_poll (not offered)");
	for (i = 0; i < ARRAY_SIZE(bad_reasons); i++)
		check(HYPERVISOR_shutdown(bad_reasons[i]), -EINVAL,
		      "shutdown reason %#x", bad_reasons[i]);
	check(HYPERVISOR_pvft_op(99, 0, 0), -ENOSYS, "pvft_op command 99");
	check(HYPERVISOR_pvft_op(PVFTOP_time, 2, 0), -EINVAL,
	      "pvft_op time of clock 2");
	check(HYPERVISOR_pvft_op(PVFTOP_time, ~0UL, 0), -EINVAL,
	      "pvft_op time of clock ~0");
	check(HYPERVISOR_xen_version(XENVER_version, NULL), PVFT_XEN_VERSION,
	      "xen_version XENVER_version");
	check(HYPERVISOR_xen_version(XENVER_extraversion, big), -ENOSYS,
	      "xen_version XENVER_extraversion");
	check(HYPERVISOR_xen_version(99, big), -ENOSYS,
	      "xen_version command 99");
}

static void check_hypercall_numbers(void)
{
	static const unsigned long bad_nrs[] = {
		__HYPERVISOR_mmu_update, 99, 127, 128, 0xffffffff, 1UL << 40,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad_nrs); i++)
		check(HYPERVISOR_raw(bad_nrs[i], 0, 0, 0, 0, 0), -ENOSYS,
		      "hypercall number %#lx", bad_nrs[i]);
	check(HYPERVISOR_raw(__HYPERVISOR_xen_version, XENVER_version, 0, 0, 0,
			     0),
	      PVFT_XEN_VERSION, "xen_version through the raw helper");
	/* The hv must read the whole of rax, not just the doorbell's eax. */
	check(HYPERVISOR_raw(1UL << 32 | __HYPERVISOR_xen_version,
			     XENVER_version, 0, 0, 0, 0),
	      -ENOSYS, "hypercall number 1<<32 | xen_version");
}

static void check_trap_table(void)
{
	static struct trap_info table[PVFT_TRAP_TABLE_MAX + 1];
	unsigned int i;

	check(HYPERVISOR_set_trap_table((void *)0x1000), -EFAULT,
	      "set_trap_table at 0x1000");
	table[0] = (struct trap_info){ .vector = 200, .address = 0x100000 };
	check(HYPERVISOR_set_trap_table(table), -EINVAL,
	      "set_trap_table vector 200");
	table[0] = (struct trap_info){ .vector = 6, .address = 0x10 };
	check(HYPERVISOR_set_trap_table(table), -EFAULT,
	      "set_trap_table handler at 0x10");
	table[0] =
	    (struct trap_info){ .vector = 6, .address = PVFT_DOORBELL_GPA };
	check(HYPERVISOR_set_trap_table(table), -EFAULT,
	      "set_trap_table handler at the doorbell");
	for (i = 0; i <= PVFT_TRAP_TABLE_MAX; i++)
		table[i] =
		    (struct trap_info){ .vector = 6, .address = 0x100000 };
	check(HYPERVISOR_set_trap_table(table), -EINVAL,
	      "set_trap_table without a terminator");
	/* The refusals left the runtime's handlers in place; set them anew. */
	init_traps();
}

static void timer_fired(struct timer *t, void *data)
{
	(void)t;
	*(bool *)data = true;
}

static void event_fired(evtchn_port_t port, void *data)
{
	(void)port;
	*(bool *)data = true;
}

/* After all that, the domain must still work. */
static void check_still_alive(void)
{
	static char line[] = "hostile: console still works\n";
	evtchn_port_t a, b;
	struct timer t;
	bool fired = false, got_event = false;
	int64_t t0, deadline;

	check(HYPERVISOR_console_io(CONSOLEIO_write, sizeof(line) - 1, line),
	      sizeof(line) - 1, "console write after the abuse");

	t0 = NOW();
	msleep(2);
	check(NOW() - t0 >= MILLISECS(2), 1, "time advances across msleep(2)");

	init_timer(&t, timer_fired, &fired);
	add_timer(&t, NOW() + MILLISECS(1));
	deadline = NOW() + SECONDS(1);
	while (!fired && NOW() < deadline)
		block_domain(deadline);
	check(fired, 1, "a 1 ms timer fires");

	check(evtchn_alloc_unbound(DOMID_SELF, event_fired, &got_event, &a), 0,
	      "EVTCHNOP_alloc_unbound for a loopback pair");
	check(
	    evtchn_bind_interdomain(DOMID_SELF, a, event_fired, &got_event, &b),
	    0, "EVTCHNOP_bind_interdomain for a loopback pair");
	check(notify_remote_via_evtchn(b), 0, "EVTCHNOP_send on the pair");
	poll_events();
	check(got_event, 1, "the loopback event arrives");
	check(unbind_evtchn(b), 0, "EVTCHNOP_close of one end");
	check(unbind_evtchn(a), 0, "EVTCHNOP_close of the other end");
}

/* A fault handler that faults: the hv must not enter it again. */
static void fault_again(unsigned long vector, unsigned long error_code,
			unsigned long rip, unsigned long addr,
			unsigned long rsp)
{
	(void)vector, (void)error_code, (void)rip, (void)addr, (void)rsp;
	asm volatile("ud2");
}

/* VIRQ_TIMER is bound at boot (time.c): its port, 0 if none. */
static evtchn_port_t timer_port(void)
{
	for (evtchn_port_t p = 1; p < PVFT_NR_EVTCHN; p++) {
		struct evtchn_status st = { .dom = DOMID_SELF, .port = p };

		if (!HYPERVISOR_event_channel_op(EVTCHNOP_status, &st) &&
		    st.status == EVTCHNSTAT_virq && st.u.virq == VIRQ_TIMER)
			return p;
	}
	return 0;
}

/*
 * Deliberate misbehaviour, if the command line asks for it: returns -1 if
 * it does not, else only if the hv failed to stop the guest.
 */
static int misbehave(const char *cmdline)
{
	const char *fault = cmdline_get(cmdline, "fault");

	if (cmdline_has(cmdline, "notraps"))
		set_trap_handler(NULL);
	if (fault && cmdline_value_is(fault, "nested")) {
		printf("hostile: about to fault=nested\n");
		set_trap_handler(fault_again);
		asm volatile("ud2");
	} else if (fault) {
		printf("hostile: about to fault=%.*s\n",
		       (int)cmdline_value_len(fault), fault);
		if (cmdline_value_is(fault, "null")) {
			volatile int *volatile p = NULL;

			*p = 1;
		} else if (cmdline_value_is(fault, "ud")) {
			asm volatile("ud2");
		} else if (cmdline_value_is(fault, "div")) {
			volatile int num = 1, den = 0;

			printf("hostile: 1/0 = %d\n", num / den);
		} else if (cmdline_value_is(fault, "doorbell")) {
			/* A stub's store, from outside the hypercall page. */
			*(volatile uint32_t *)PVFT_DOORBELL_GPA =
			    __HYPERVISOR_xen_version;
		} else if (cmdline_value_is(fault, "vsyscall")) {
			/* time(NULL) through Linux's vsyscall page. */
			long (*vtime)(long *) =
			    (long (*)(long *))0xffffffffff600400ul;

			printf("hostile: vsyscall time %ld\n", vtime(NULL));
		} else if (cmdline_value_is(fault, "syscall")) {
			/*
			 * rax = ~0: should the instruction reach a host
			 * kernel, it is no system call there either.
			 */
			long rax = -1;

			asm volatile("syscall"
				     : "+a"(rax)
				     :
				     : "rcx", "r11", "memory");
		} else {
			printf("hostile: unknown fault (null, ud, div, "
			       "doorbell, syscall, vsyscall)\n");
			return 2;
		}
	} else if (cmdline_has(cmdline, "spin")) {
		printf("hostile: about to spin\n");
		for (;;)
			asm volatile("pause");
	} else if (cmdline_has(cmdline, "block")) {
		const char *how = cmdline_get(cmdline, "block");

		printf("hostile: about to block\n");
		console_flush();
		HYPERVISOR_set_timer_op(0);
		if (cmdline_value_is(how, "masked-timer")) {
			/* A timer whose port is masked wakes nobody. */
			mask_evtchn(timer_port());
			HYPERVISOR_set_timer_op(NOW() + MILLISECS(10));
		} else if (cmdline_value_is(how, "no-console")) {
			/* Input still flows, but its port is gone. */
			struct evtchn_close cl = { .port = PVFT_CONSOLE_PORT };

			HYPERVISOR_event_channel_op(EVTCHNOP_close, &cl);
		}
		HYPERVISOR_sched_op(SCHEDOP_block, NULL);
	} else {
		return -1;
	}
	printf("hostile: FAIL survived the misbehaviour\n");
	return 1;
}

int app_main(const char *cmdline)
{
	evtchn_port_t timer = 0;
	int rc;

	rc = misbehave(cmdline);
	if (rc >= 0)
		return rc;

	timer = timer_port();
	if (!timer) {
		printf("hostile: FAIL no port is bound to VIRQ_TIMER\n");
		return 1;
	}

	check_bad_pointers();
	check_lengths();
	check_event_channels(timer);
	check_commands();
	check_hypercall_numbers();
	check_trap_table();
	check_still_alive();

	printf("hostile: %u checks, %u failures\n", checks, failures);
	return failures ? 1 : 0;
}
