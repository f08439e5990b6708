// SPDX-License-Identifier: MIT
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cpuid.h"

#define BIT(n) (1u << (n))

/* "pvftvirtcpu1" in ebx, edx, ecx order. */
#define VENDOR_EBX 0x74667670 /* "pvft" */
#define VENDOR_EDX 0x74726976 /* "virt" */
#define VENDOR_ECX 0x31757063 /* "cpu1" */

/*
 * Leaf 1: x86-64's baseline (the level every x86-64 CPU has, and what the
 * guests are compiled for): nothing in ecx but "running on a hypervisor".
 */
#define L1_ECX 0
#define L1_ECX_HYPERVISOR BIT(31)
#define L1_EDX                                                        \
	(BIT(0) /* FPU */ | BIT(8) /* CX8 */ | BIT(15) /* CMOV */ |   \
	 BIT(23) /* MMX */ | BIT(24) /* FXSR */ | BIT(25) /* SSE */ | \
	 BIT(26) /* SSE2 */)
/* Leaf 0x80000001. */
#define LX1_ECX BIT(0)	/* LAHF/SAHF */
#define LX1_EDX BIT(29) /* LM */

/* The brand string, 48 bytes over three leaves. */
#define BRAND(a, b, c, d) \
	((uint32_t)(a) | (b) << 8 | (c) << 16 | (uint32_t)(d) << 24)

const struct cpuid_leaf cpuid_baseline[] = {
	{ 0x0, 0, 0x1, VENDOR_EBX, VENDOR_ECX, VENDOR_EDX },
	/* Family 6, model 0; CLFLUSH line 8 quadwords; APIC id 0. */
	{ 0x1, 0, 0x600, 0x800, L1_ECX | L1_ECX_HYPERVISOR, L1_EDX },
	{ 0x80000000, 0, 0x80000008, 0, 0, 0 },
	{ 0x80000001, 0, 0, 0, LX1_ECX, LX1_EDX },
	{ 0x80000002, 0, BRAND('p', 'v', 'f', 't'), BRAND(' ', 'v', 'i', 'r'),
	  BRAND('t', 'u', 'a', 'l'), BRAND(' ', 'C', 'P', 'U') },
	{ 0x80000003, 0, BRAND(' ', 'v', '1', 0), 0, 0, 0 },
	{ 0x80000004, 0, 0, 0, 0, 0 },
	/* 39 physical address bits (memory ends below 4 GiB), 48 virtual. */
	{ 0x80000008, 0, 0x3027, 0, 0, 0 },
};
const size_t cpuid_baseline_len =
    sizeof(cpuid_baseline) / sizeof(cpuid_baseline[0]);

static const struct cpuid_leaf *find(const struct cpuid_leaf *t, size_t n,
				     uint32_t function)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].function == function && t[i].index == 0)
			return &t[i];
	return NULL;
}

/* The first leaf of @function's range: basic, hypervisor, extended. */
static uint32_t range_base(uint32_t function)
{
	if (function >= 0x40000000 && function <= 0x4fffffff)
		return function & 0xffffff00;
	if (function >= 0xc0000000)
		return 0xc0000000;
	return function & 0x80000000;
}

void cpuid__answer(uint32_t function, uint32_t r[4])
{
	const struct cpuid_leaf *t = cpuid_baseline, *l, *base;
	size_t n = cpuid_baseline_len;

	l = find(t, n, function);
	if (!l) {
		/* Beyond its range's top: the highest basic leaf, as Intel. */
		base = find(t, n, range_base(function));
		if (!base || function > base->eax) {
			base = find(t, n, 0);
			l = base ? find(t, n, base->eax) : NULL;
		}
	}
	r[0] = l ? l->eax : 0;
	r[1] = l ? l->ebx : 0;
	r[2] = l ? l->ecx : 0;
	r[3] = l ? l->edx : 0;
}

static int need(const struct cpuid_leaf *host, size_t n, uint32_t function,
		const char *reg, uint32_t want, uint32_t have_off, char *err,
		size_t errlen)
{
	const struct cpuid_leaf *h = find(host, n, function);
	uint32_t have;

	if (!h) {
		snprintf(err, errlen, "the host has no CPUID leaf 0x%x",
			 function);
		return -ENOTSUP;
	}
	memcpy(&have, (const char *)h + have_off, sizeof(have));
	if ((have & want) != want) {
		snprintf(err, errlen,
			 "the host CPU lacks CPUID 0x%x %s bits 0x%x of the "
			 "pvft baseline",
			 function, reg, want & ~have);
		return -ENOTSUP;
	}
	return 0;
}

int cpuid__check_host(const struct cpuid_leaf *host, size_t n, char *err,
		      size_t errlen)
{
	int rc;

	if ((rc = need(host, n, 1, "ecx", L1_ECX,
		       offsetof(struct cpuid_leaf, ecx), err, errlen)) ||
	    (rc = need(host, n, 1, "edx", L1_EDX,
		       offsetof(struct cpuid_leaf, edx), err, errlen)) ||
	    (rc = need(host, n, 0x80000001, "ecx", LX1_ECX,
		       offsetof(struct cpuid_leaf, ecx), err, errlen)) ||
	    (rc = need(host, n, 0x80000001, "edx", LX1_EDX,
		       offsetof(struct cpuid_leaf, edx), err, errlen)))
		return rc;
	return 0;
}

uint64_t cpuid__hash(void)
{
	const unsigned char *p = (const void *)cpuid_baseline;
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (size_t i = 0; i < sizeof(cpuid_baseline); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

uint64_t cpuid__host_hash(void)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (size_t i = 0; i < cpuid_baseline_len; i++) {
		const struct cpuid_leaf *l = &cpuid_baseline[i];
		uint32_t r[4];

		__cpuid_count(l->function, l->index, r[0], r[1], r[2], r[3]);
		/* The APIC id says which core: not a property of the host. */
		if (l->function == 1)
			r[1] &= 0x00ffffff;
		for (size_t j = 0; j < sizeof(r); j++)
			h = (h ^ ((const unsigned char *)r)[j]) *
			    0x100000001b3ull;
	}
	return h;
}
