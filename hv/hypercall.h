/* SPDX-License-Identifier: MIT */
/*
 * Hypercall dispatch: one table entry per hypercall number, each handler a
 * function of the domain and the six argument registers. Handlers check
 * every argument; an error return never ends the domain.
 */
#ifndef PVFT_HV_HYPERCALL_H
#define PVFT_HV_HYPERCALL_H

#include <stdint.h>

struct domain;

/* Registers at a hypercall exit, Xen x86-64 convention. */
struct hypercall {
	uint64_t nr;	 /* rax */
	uint64_t arg[5]; /* rdi, rsi, rdx, r10, r8 */
};

/* Returns the value for the guest's rax: >= 0 or -errno. */
long hypercall__dispatch(struct domain *d, const struct hypercall *hc);

#endif /* PVFT_HV_HYPERCALL_H */
