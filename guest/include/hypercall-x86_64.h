/* SPDX-License-Identifier: MIT */
/*
 * Hypercalls, Mini-OS style: a _hypercallN() macro per arity and one
 * HYPERVISOR_<op>() inline per operation pvft offers.
 *
 * A hypercall is a call to stub N of the hypercall page, which the hv fills
 * in at load time (pvft/abi.h). Xen's x86-64 convention: arguments in rdi,
 * rsi, rdx, r10, r8; the result in rax.
 *
 * None of these look at event channels: pending events are delivered only
 * where the runtime says so (hypervisor.h, hypervisor_check_events()).
 */
#ifndef GUEST_HYPERCALL_X86_64_H
#define GUEST_HYPERCALL_X86_64_H

#include <stdint.h>

#include "pvft/abi.h"

extern char hypercall_page[PVFT_PAGE_SIZE];

/*
 * The stub clobbers only rax and the hv preserves every other register.
 * Still, as in Mini-OS and Linux, the argument registers are outputs and
 * rcx/r11 are clobbered: Xen's own transport (syscall) destroys rcx and
 * r11, and debug builds of Xen scribble on argument registers, so code
 * written against these macros stays right on either. "memory": the hv
 * reads and writes guest memory through the pointers we pass.
 *
 * Arguments are evaluated into plain temporaries before the register
 * variables are set, so that evaluating one (a function call) cannot
 * clobber another already loaded into its register.
 */
#define __HYPERCALL_STUB(name) \
	[stub] "i"(__HYPERVISOR_##name * PVFT_HYPERCALL_STUB_SIZE)
#define __HYPERCALL_CALL "call hypercall_page + %c[stub]"
#define __HYPERCALL_CLOBBERS "rcx", "r11", "memory"

#define _hypercall0(type, name)                                  \
	({                                                       \
		long __res;                                      \
		asm volatile(__HYPERCALL_CALL                    \
			     : "=a"(__res)                       \
			     : __HYPERCALL_STUB(name)            \
			     : "rdi", "rsi", "rdx", "r10", "r8", \
			       __HYPERCALL_CLOBBERS);            \
		(type) __res;                                    \
	})

#define _hypercall1(type, name, a1)                       \
	({                                                \
		long __res, __t1 = (long)(a1);            \
		register long __a1 asm("rdi") = __t1;     \
		asm volatile(__HYPERCALL_CALL             \
			     : "=a"(__res), "+r"(__a1)    \
			     : __HYPERCALL_STUB(name)     \
			     : "rsi", "rdx", "r10", "r8", \
			       __HYPERCALL_CLOBBERS);     \
		(type) __res;                             \
	})

#define _hypercall2(type, name, a1, a2)                                   \
	({                                                                \
		long __res, __t1 = (long)(a1), __t2 = (long)(a2);         \
		register long __a1 asm("rdi") = __t1;                     \
		register long __a2 asm("rsi") = __t2;                     \
		asm volatile(__HYPERCALL_CALL                             \
			     : "=a"(__res), "+r"(__a1), "+r"(__a2)        \
			     : __HYPERCALL_STUB(name)                     \
			     : "rdx", "r10", "r8", __HYPERCALL_CLOBBERS); \
		(type) __res;                                             \
	})

#define _hypercall3(type, name, a1, a2, a3)                                    \
	({                                                                     \
		long __res, __t1 = (long)(a1), __t2 = (long)(a2),              \
			    __t3 = (long)(a3);                                 \
		register long __a1 asm("rdi") = __t1;                          \
		register long __a2 asm("rsi") = __t2;                          \
		register long __a3 asm("rdx") = __t3;                          \
		asm volatile(__HYPERCALL_CALL                                  \
			     : "=a"(__res), "+r"(__a1), "+r"(__a2), "+r"(__a3) \
			     : __HYPERCALL_STUB(name)                          \
			     : "r10", "r8", __HYPERCALL_CLOBBERS);             \
		(type) __res;                                                  \
	})

#define _hypercall4(type, name, a1, a2, a3, a4)                     \
	({                                                          \
		long __res, __t1 = (long)(a1), __t2 = (long)(a2),   \
			    __t3 = (long)(a3), __t4 = (long)(a4);   \
		register long __a1 asm("rdi") = __t1;               \
		register long __a2 asm("rsi") = __t2;               \
		register long __a3 asm("rdx") = __t3;               \
		register long __a4 asm("r10") = __t4;               \
		asm volatile(__HYPERCALL_CALL                       \
			     : "=a"(__res), "+r"(__a1), "+r"(__a2), \
			       "+r"(__a3), "+r"(__a4)               \
			     : __HYPERCALL_STUB(name)               \
			     : "r8", __HYPERCALL_CLOBBERS);         \
		(type) __res;                                       \
	})

#define _hypercall5(type, name, a1, a2, a3, a4, a5)                 \
	({                                                          \
		long __res, __t1 = (long)(a1), __t2 = (long)(a2),   \
			    __t3 = (long)(a3), __t4 = (long)(a4),   \
			    __t5 = (long)(a5);                      \
		register long __a1 asm("rdi") = __t1;               \
		register long __a2 asm("rsi") = __t2;               \
		register long __a3 asm("rdx") = __t3;               \
		register long __a4 asm("r10") = __t4;               \
		register long __a5 asm("r8") = __t5;                \
		asm volatile(__HYPERCALL_CALL                       \
			     : "=a"(__res), "+r"(__a1), "+r"(__a2), \
			       "+r"(__a3), "+r"(__a4), "+r"(__a5)   \
			     : __HYPERCALL_STUB(name)               \
			     : __HYPERCALL_CLOBBERS);               \
		(type) __res;                                       \
	})

static inline int HYPERVISOR_set_trap_table(const struct trap_info *table)
{
	return _hypercall1(int, set_trap_table, table);
}

static inline int HYPERVISOR_console_io(int cmd, unsigned int count, char *buf)
{
	return _hypercall3(int, console_io, cmd, count, buf);
}

static inline int HYPERVISOR_sched_op(int cmd, void *arg)
{
	return _hypercall2(int, sched_op, cmd, arg);
}

static inline int HYPERVISOR_shutdown(unsigned int reason)
{
	struct sched_shutdown shutdown = { .reason = reason };

	return _hypercall2(int, sched_op, SCHEDOP_shutdown, &shutdown);
}

/* @abs_ns: a deadline on PVFT_CLOCK_MONOTONIC; 0 cancels. */
static inline long HYPERVISOR_set_timer_op(uint64_t abs_ns)
{
	return _hypercall1(long, set_timer_op, abs_ns);
}

static inline int HYPERVISOR_event_channel_op(int cmd, void *op)
{
	return _hypercall2(int, event_channel_op, cmd, op);
}

static inline int HYPERVISOR_xen_version(int cmd, void *arg)
{
	return _hypercall2(int, xen_version, cmd, arg);
}

/* PVFTOP_*: time, randomness and unique ids (pvft/abi.h). */
static inline long HYPERVISOR_pvft_op(unsigned int cmd, unsigned long a1,
				      unsigned long a2)
{
	return _hypercall3(long, pvft_op, cmd, a1, a2);
}

/*
 * Any hypercall number, valid or not, with up to five arguments. Numbers
 * below PVFT_HYPERCALL_NR_STUBS go through their stub; larger ones (which
 * have none) enter stub 0 at its doorbell write with the number already in
 * rax, as the hv takes the number from rax. Only for probing the hv's
 * argument checking (the hostile guest); everything else uses the inlines.
 */
long HYPERVISOR_raw(unsigned long nr, unsigned long a1, unsigned long a2,
		    unsigned long a3, unsigned long a4, unsigned long a5);

#endif /* GUEST_HYPERCALL_X86_64_H */
