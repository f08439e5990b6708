/* SPDX-License-Identifier: MIT */
/*
 * The guest's CPUID: one fixed table, the same on every host (DESIGN.md
 * section 2), so that a primary and a backup on different CPUs answer a
 * guest alike. Its features are x86-64's baseline (SSE2), without anything
 * nondeterministic (no RDRAND, RDSEED, RDPID, RDTSCP, not even TSC) and
 * without what needs state the guest cannot enable from ring 3 (XSAVE/AVX,
 * SYSCALL, NX).
 */
#ifndef PVFT_HV_CPUID_H
#define PVFT_HV_CPUID_H

#include <stddef.h>
#include <stdint.h>

struct cpuid_leaf {
	uint32_t function, index;
	uint32_t eax, ebx, ecx, edx;
};

/* The table, and its number of leaves. */
extern const struct cpuid_leaf cpuid_baseline[];
extern const size_t cpuid_baseline_len;

/*
 * Check that a host, whose supported CPUID is @host (@n leaves), has every
 * feature the baseline promises; 0, or -ENOTSUP with the missing feature
 * named in @err.
 */
int cpuid__check_host(const struct cpuid_leaf *host, size_t n, char *err,
		      size_t errlen);
/*
 * What CPUID answers the guest for leaf @function (any subleaf) from the
 * table, in eax, ebx, ecx, edx: the way KVM answers from a table it was
 * given, for a vendor other than AMD. A leaf the table lacks is zeros
 * inside its range (basic, 0x4000xxxx, extended) and, above the range's
 * top, the highest basic leaf, as Intel CPUs do.
 */
void cpuid__answer(uint32_t function, uint32_t r[4]);
/* A hash of the table, for comparing two replicas. */
uint64_t cpuid__hash(void);
/*
 * The same over what this host's CPU answers for the table's leaves
 * (without the APIC id): what a guest on the ptrace backend sees.
 */
uint64_t cpuid__host_hash(void);

#endif /* PVFT_HV_CPUID_H */
