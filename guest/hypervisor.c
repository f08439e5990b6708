// SPDX-License-Identifier: MIT
/*
 * Event delivery (Mini-OS's do_hypervisor_callback, run on demand instead
 * of from an upcall) and the pvft-specific hypercalls.
 *
 * The hv writes shared_info only while the vCPU is stopped at an exit, so
 * between hypercalls the guest owns it and compiler barriers are enough.
 * The selector is still taken with xchg, as in Xen, which costs nothing
 * on one vCPU and keeps the code right on an hv that writes concurrently.
 */
#include "events.h"
#include "hypervisor.h"
#include "lib.h"

#define BITS_PER_XEN_ULONG (8 * sizeof(xen_ulong_t))

struct shared_info *HYPERVISOR_shared_info;

static void do_hypervisor_callback(void)
{
	struct shared_info *s = HYPERVISOR_shared_info;
	struct vcpu_info *v = &s->vcpu_info[0];
	xen_ulong_t l1, l2;
	unsigned int l1i, l2i;

	/*
	 * Clear the flag before taking the selector: whatever the hv sets
	 * from now on (at a handler's hypercalls) raises the flag again.
	 */
	v->evtchn_upcall_pending = 0;
	barrier();
	l1 = __atomic_exchange_n(&v->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
	while (l1) {
		l1i = __builtin_ctzl(l1);
		l1 &= l1 - 1;
		/* Re-read each time: do_event() clears the bit it handles. */
		while ((l2 = s->evtchn_pending[l1i] & ~s->evtchn_mask[l1i])) {
			l2i = __builtin_ctzl(l2);
			do_event(l1i * BITS_PER_XEN_ULONG + l2i);
		}
	}
}

void hypervisor_check_events(void)
{
	struct vcpu_info *v = &HYPERVISOR_shared_info->vcpu_info[0];

	/* Set: we are inside a handler; the outer loop will see new events. */
	if (v->evtchn_upcall_mask)
		return;
	while (v->evtchn_upcall_pending) {
		v->evtchn_upcall_mask = 1;
		barrier();
		do_hypervisor_callback();
		barrier();
		v->evtchn_upcall_mask = 0;
	}
}

void poll_events(void)
{
	HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
	hypervisor_check_events();
}

int get_random_bytes(void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		size_t n = min(len, (size_t)PVFT_RANDOM_MAX);
		long rc;

		rc = HYPERVISOR_pvft_op(PVFTOP_random, (unsigned long)p, n);
		if (rc < 0)
			return rc;
		p += n;
		len -= n;
	}
	return 0;
}

uint64_t get_unique_id(void)
{
	uint64_t id;
	long rc = HYPERVISOR_pvft_op(PVFTOP_unique_id, (unsigned long)&id, 0);

	BUG_ON(rc < 0);
	return id;
}

long HYPERVISOR_raw(unsigned long nr, unsigned long a1, unsigned long a2,
		    unsigned long a3, unsigned long a4, unsigned long a5)
{
	/*
	 * A number without a stub enters stub 0 past its "mov $0, %eax",
	 * at the doorbell write, so that the hv finds ours in rax.
	 */
	char *entry = nr < PVFT_HYPERCALL_NR_STUBS
			  ? hypercall_page + nr * PVFT_HYPERCALL_STUB_SIZE
			  : hypercall_page + PVFT_STUB_DOORBELL_OFF;
	register long rax asm("rax") = nr;
	register long rdi asm("rdi") = a1;
	register long rsi asm("rsi") = a2;
	register long rdx asm("rdx") = a3;
	register long r10 asm("r10") = a4;
	register long r8 asm("r8") = a5;

	asm volatile("call *%[entry]"
		     : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10),
		       "+r"(r8)
		     : [entry] "r"(entry)
		     : "rcx", "r11", "memory");
	return rax;
}
