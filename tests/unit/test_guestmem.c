// SPDX-License-Identifier: MIT
/*
 * guestmem: a guest pointer is good only where ring 3 could make the same
 * access (pv-abi.md section 2), without wrap-around.
 */
#include <errno.h>

#include <CUnit/CUnit.h>

#include "fixture.h"
#include "guestmem.h"
#include "unit.h"

#define MEM_SIZE FIXTURE_MEM_SIZE

static void test_guest_ram(void)
{
	struct domain *d = fixture__domain();

	CU_ASSERT(guestmem__range_ok(d, PVFT_GUEST_MIN_ADDR, 1, true));
	CU_ASSERT(guestmem__range_ok(d, MEM_SIZE - 1, 1, true));
	CU_ASSERT(guestmem__range_ok(d, PVFT_GUEST_MIN_ADDR,
				     MEM_SIZE - PVFT_GUEST_MIN_ADDR, true));
	CU_ASSERT_FALSE(guestmem__range_ok(
	    d, PVFT_GUEST_MIN_ADDR, MEM_SIZE - PVFT_GUEST_MIN_ADDR + 1, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, MEM_SIZE - 1, 2, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, MEM_SIZE, 1, false));
	/* An empty range at the very end touches nothing. */
	CU_ASSERT(guestmem__range_ok(d, MEM_SIZE, 0, true));
	CU_ASSERT_FALSE(guestmem__range_ok(d, MEM_SIZE + 1, 0, false));
	CU_ASSERT_FALSE(
	    guestmem__range_ok(d, PVFT_GUEST_MIN_ADDR - 1, 1, false));
	CU_ASSERT_FALSE(
	    guestmem__range_ok(d, PVFT_GUEST_MIN_ADDR - 1, 2, false));
}

static void test_wrap_and_holes(void)
{
	struct domain *d = fixture__domain();

	CU_ASSERT_FALSE(guestmem__range_ok(d, FIXTURE_BUF_GPA, ~0ull, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, ~0ull, 2, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, ~0ull - 0xff, 0x200, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, ~0ull, 0, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, 0, 1, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, 0, 0, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, 0x1000, 1, false));
	CU_ASSERT_FALSE(guestmem__range_ok(
	    d, PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE, 1, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, PVFT_DOORBELL_GPA, 1, true));
	CU_ASSERT_FALSE(guestmem__range_ok(d, PVFT_DOORBELL_GPA, 1, false));
}

static void test_pv_pages(void)
{
	struct domain *d = fixture__domain();

	CU_ASSERT(
	    guestmem__range_ok(d, PVFT_SHARED_INFO_GPA, PVFT_PAGE_SIZE, true));
	CU_ASSERT_FALSE(guestmem__range_ok(d, PVFT_SHARED_INFO_GPA,
					   PVFT_PAGE_SIZE + 1, false));
	CU_ASSERT(
	    guestmem__range_ok(d, PVFT_START_INFO_GPA, PVFT_PAGE_SIZE, false));
	CU_ASSERT_FALSE(guestmem__range_ok(d, PVFT_START_INFO_GPA, 1, true));
	CU_ASSERT_FALSE(guestmem__range_ok(
	    d, PVFT_START_INFO_GPA + PVFT_PAGE_SIZE - 1, 1, true));
	CU_ASSERT_FALSE(
	    guestmem__range_ok(d, PVFT_START_INFO_GPA - 1, 2, false));
}

static void test_copy(void)
{
	struct domain *d = fixture__domain();
	char c = 0;

	CU_ASSERT_EQUAL(guestmem__copy_to(d, PVFT_START_INFO_GPA, "x", 1),
			-EFAULT);
	CU_ASSERT_EQUAL(d->mem[PVFT_START_INFO_GPA], 'p'); /* the magic */
	CU_ASSERT_EQUAL(guestmem__copy_to(d, MEM_SIZE - 1, "x", 1), 0);
	CU_ASSERT_EQUAL(d->mem[MEM_SIZE - 1], 'x');
	CU_ASSERT_EQUAL(guestmem__copy_to(d, MEM_SIZE, "x", 1), -EFAULT);
	CU_ASSERT_EQUAL(guestmem__copy_from(d, &c, PVFT_START_INFO_GPA, 1), 0);
	CU_ASSERT_EQUAL(c, 'p');
	CU_ASSERT_EQUAL(guestmem__copy_from(d, &c, 0x1000, 1), -EFAULT);
	CU_ASSERT_EQUAL(guestmem__copy_from(d, &c, ~0ull, 1), -EFAULT);
}

static CU_TestInfo guestmem_tests[] = {
	{ "guest RAM bounds", test_guest_ram },
	{ "wrap-around and holes", test_wrap_and_holes },
	{ "start_info read-only, shared_info read-write", test_pv_pages },
	{ "copy_to / copy_from", test_copy },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo guestmem_suites[] = {
	{ "guestmem", NULL, NULL, fixture__setup, fixture__teardown,
	  guestmem_tests },
	CU_SUITE_INFO_NULL,
};

void test_guestmem__register(void)
{
	CU_register_suites(guestmem_suites);
}
