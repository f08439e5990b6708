// SPDX-License-Identifier: MIT
/*
 * The guest's fixed CPUID table: what it promises, what it hides, and the
 * check that a host can back it.
 */
#include <errno.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cpuid.h"
#include "unit.h"

static const struct cpuid_leaf *leaf(uint32_t function)
{
	for (size_t i = 0; i < cpuid_baseline_len; i++)
		if (cpuid_baseline[i].function == function)
			return &cpuid_baseline[i];
	return NULL;
}

static void test_table(void)
{
	const struct cpuid_leaf *l0 = leaf(0), *l1 = leaf(1);
	const struct cpuid_leaf *x0 = leaf(0x80000000), *x1 = leaf(0x80000001);
	char vendor[13];

	CU_ASSERT_FATAL(l0 && l1 && x0 && x1 && leaf(0x80000008));
	memcpy(vendor, &l0->ebx, 4);
	memcpy(vendor + 4, &l0->edx, 4);
	memcpy(vendor + 8, &l0->ecx, 4);
	vendor[12] = '\0';
	CU_ASSERT_STRING_EQUAL(vendor, "pvftvirtcpu1");
	/* Every leaf the maximum leaves promise is in the table. */
	CU_ASSERT_PTR_NOT_NULL(leaf(l0->eax));
	CU_ASSERT_PTR_NOT_NULL(leaf(x0->eax));
	/* Long mode and SSE2, which every guest is compiled for. */
	CU_ASSERT(x1->edx & (1u << 29));
	CU_ASSERT(l1->edx & (1u << 26));
	/* Nondeterminism the PV ABI forbids is not offered. */
	CU_ASSERT_FALSE(l1->ecx & (1u << 30)); /* RDRAND */
	CU_ASSERT_FALSE(l1->edx & (1u << 4));  /* TSC */
	CU_ASSERT_FALSE(x1->edx & (1u << 27)); /* RDTSCP */
	CU_ASSERT_PTR_NULL(leaf(7));	       /* RDSEED, RDPID live there */
	/* Nor what ring 3 cannot switch on. */
	CU_ASSERT_FALSE(l1->ecx & (1u << 26)); /* XSAVE */
	CU_ASSERT_FALSE(l1->ecx & (1u << 28)); /* AVX */
	CU_ASSERT_FALSE(x1->edx & (1u << 11)); /* SYSCALL */
}

static void answer(uint32_t function, uint32_t eax, uint32_t ebx, uint32_t ecx,
		   uint32_t edx)
{
	uint32_t r[4] = { ~0u, ~0u, ~0u, ~0u };

	cpuid__answer(function, r);
	CU_ASSERT(r[0] == eax && r[1] == ebx && r[2] == ecx && r[3] == edx);
}

/* What the KVM backend answers when it traps CPUID itself (kvm_pvm). */
static void test_answer(void)
{
	const struct cpuid_leaf *l1 = leaf(1);

	/* A leaf of the table, whatever the subleaf asked. */
	for (size_t i = 0; i < cpuid_baseline_len; i++) {
		const struct cpuid_leaf *l = &cpuid_baseline[i];

		answer(l->function, l->eax, l->ebx, l->ecx, l->edx);
	}
	/* A missing leaf inside its range: zeros. */
	answer(0x80000005, 0, 0, 0, 0);
	/* Above its range's top, or a range the table lacks: the highest
	 * basic leaf, as KVM and Intel CPUs answer (hello's rdrand=0). */
	answer(2, l1->eax, l1->ebx, l1->ecx, l1->edx);
	answer(0xd, l1->eax, l1->ebx, l1->ecx, l1->edx);
	answer(0x40000000, l1->eax, l1->ebx, l1->ecx, l1->edx);
	answer(0x80000009, l1->eax, l1->ebx, l1->ecx, l1->edx);
	answer(0xc0000000, l1->eax, l1->ebx, l1->ecx, l1->edx);
	answer(~0u, l1->eax, l1->ebx, l1->ecx, l1->edx);
}

static void test_hash(void)
{
	CU_ASSERT_NOT_EQUAL(cpuid__hash(), 0);
	CU_ASSERT_EQUAL(cpuid__hash(), cpuid__hash());
}

static void test_check_host(void)
{
	struct cpuid_leaf host[2] = {
		{ .function = 1, .ecx = ~0u, .edx = ~0u },
		{ .function = 0x80000001, .ecx = ~0u, .edx = ~0u },
	};
	char err[160] = "";

	/* A host with everything (and more) backs the table. */
	CU_ASSERT_EQUAL(cpuid__check_host(host, 2, err, sizeof(err)), 0);

	/* One missing baseline bit is refused, and named. */
	host[0].edx &= ~(1u << 26); /* SSE2 */
	CU_ASSERT_EQUAL(cpuid__check_host(host, 2, err, sizeof(err)), -ENOTSUP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "0x1 edx bits 0x4000000"));
	host[0].edx = ~0u;

	host[1].edx &= ~(1u << 29); /* LM */
	CU_ASSERT_EQUAL(cpuid__check_host(host, 2, err, sizeof(err)), -ENOTSUP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "0x80000001 edx"));

	/* A missing leaf too. */
	CU_ASSERT_EQUAL(cpuid__check_host(host, 1, err, sizeof(err)), -ENOTSUP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no CPUID leaf 0x80000001"));
}

static CU_TestInfo cpuid_tests[] = {
	{ "the fixed table", test_table },
	{ "answers from it", test_answer },
	{ "its hash", test_hash },
	{ "a host must back it", test_check_host },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo cpuid_suites[] = {
	{ "cpuid", NULL, NULL, NULL, NULL, cpuid_tests },
	CU_SUITE_INFO_NULL,
};

void test_cpuid__register(void)
{
	CU_register_suites(cpuid_suites);
}
