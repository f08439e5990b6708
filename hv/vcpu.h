/* SPDX-License-Identifier: MIT */
/*
 * The vCPU: one loop that enters the guest, switches on why it came back
 * and handles that; the ways to enter are backends behind an ops table.
 *   kvm    - /dev/kvm: the guest runs in ring 3 of a KVM VM (the product).
 *   ptrace - hosts without /dev/kvm: the guest's ring-3 code runs natively
 *            in a traced child process (as gVisor's ptrace platform); a
 *            doorbell write or any fault stops the child.
 */
#ifndef PVFT_HV_VCPU_H
#define PVFT_HV_VCPU_H

#include <stdbool.h>
#include <stdint.h>

#include "hypercall.h"

struct domain;

enum vcpu_exit_kind {
	VCPU_EXIT_HYPERCALL, /* guest-caused: counts as an exit ordinal */
	VCPU_EXIT_FAULT,     /* guest-caused: ends the domain */
	VCPU_EXIT_KICKED,    /* host-caused: does not count */
	VCPU_EXIT_FAILED,    /* the backend broke: ends the domain */
};

struct vcpu_exit {
	enum vcpu_exit_kind kind;
	uint64_t rip;
	struct hypercall hc;
	struct {
		int vector; /* -1: not an x86 exception */
		uint64_t error_code;
		bool has_error_code; /* ptrace cannot see the CPU's */
		uint64_t addr;	     /* page-fault address when known */
		uint64_t rsp;	     /* the guest's rsp when it faulted */
		char what[160];	     /* set when vector < 0 or to add detail */
	} fault;
};

/* The guest's general registers, for state digests. */
struct vcpu_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rflags;
};

/*
 * The rflags bits the guest's own instructions set (CF PF AF ZF SF DF
 * OF): what digests compare and what a restore takes; the rest (IF, the
 * reserved bit 1) are the backend's.
 */
#define VCPU_RFLAGS_GUEST 0xcd5ull

/* The x87/SSE state the guest can see (FXSAVE's, less last-insn info). */
struct vcpu_fpu {
	uint16_t fcw, fsw;
	uint8_t ftw; /* abridged: one bit a register */
	uint32_t mxcsr;
	uint8_t st[8][10];
	uint8_t xmm[16][16];
};

/*
 * The whole guest-visible vCPU state at an exit boundary (after the exit's
 * hypercall was completed): what a save carries and a restore puts back.
 */
struct vcpu_state {
	struct vcpu_regs regs;
	uint64_t rip;
	uint8_t fxsave[512]; /* FXSAVE layout: x87, MXCSR, XMM0-15 */
};

struct vcpu_backend {
	const char *name;
	/* The guest sees the host's CPUID, not pvft's table (ptrace). */
	bool host_cpuid;
	/* Prepare a vCPU stopped at the image's entry; 0 or -errno. */
	int (*create)(struct domain *d);
	/* Enter the guest until the next exit; 0 or -errno. */
	int (*run)(struct domain *d, struct vcpu_exit *exit);
	/* The registers as of the latest exit (before it is completed). */
	void (*get_regs)(struct domain *d, struct vcpu_regs *r);
	/* The x87/SSE state, for digests; 0 or -errno. */
	int (*get_fpu)(struct domain *d, struct vcpu_fpu *f);
	/* Give the guest the result of the hypercall it exited for. */
	void (*complete_hypercall)(struct domain *d, uint64_t ret);
	/*
	 * After a fault: continue the guest in ring 3 at @rip with stack
	 * @rsp and rdi, rsi, rdx, rcx, r8 = @arg (a SysV call); 0 or -errno.
	 */
	int (*enter_handler)(struct domain *d, uint64_t rip, uint64_t rsp,
			     const uint64_t arg[5]);
	/*
	 * vCPU thread, at an exit boundary: the state the guest resumes
	 * with (a completed hypercall's result in rax). 0 or -errno.
	 */
	int (*get_state)(struct domain *d, struct vcpu_state *s);
	/* After create(), before the first run(): resume there instead. */
	int (*set_state)(struct domain *d, const struct vcpu_state *s);
	/*
	 * Dirty-page tracking for live migration: pages the guest wrote
	 * (through the backend; pvft-hv's own writes are guestmem's).
	 * dirty_start: from now on; dirty_fetch: OR the pages written since
	 * start or the last fetch into @bitmap (bit i: page i of guest
	 * memory, mem_size / 4096 bits) and begin again. Any one thread,
	 * while the guest runs or not. 0 or -errno (said).
	 */
	int (*dirty_start)(struct domain *d);
	int (*dirty_fetch)(struct domain *d, uint64_t *bitmap);
	void (*dirty_stop)(struct domain *d);
	/* From any thread or a signal handler: make run() return soon. */
	void (*kick)(struct domain *d);
	void (*destroy)(struct domain *d);
};

extern const struct vcpu_backend vcpu_kvm_backend;
extern const struct vcpu_backend vcpu_ptrace_backend;

/*
 * The backend called @which: "kvm", "ptrace", or "auto" (KVM when /dev/kvm
 * opens, else ptrace, saying so). NULL for another name.
 */
const struct vcpu_backend *vcpu__backend(const char *which);
bool vcpu__backend_known(const char *which);

/* Run the domain to its end; returns pvft-hv's exit status. */
int vcpu__run_loop(struct domain *d);

#endif /* PVFT_HV_VCPU_H */
