// SPDX-License-Identifier: MIT
/*
 * The hypercalls that pass structures through guest memory:
 * event_channel_op (copy in, run, copy out) and pvft_op (time, randomness,
 * unique ids), on a real struct domain (fixture.h).
 */
#include <errno.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "fixture.h"
#include "hypercall.h"
#include "unit.h"

#define MEM_SIZE FIXTURE_MEM_SIZE
#define BUF_GPA FIXTURE_BUF_GPA

#define EVTCHN_HC(cmd, gpa) \
	fixture__hypercall(__HYPERVISOR_event_channel_op, (cmd), (gpa), 0)
#define PVFT_HC(cmd, a1, a2) \
	fixture__hypercall(__HYPERVISOR_pvft_op, (cmd), (a1), (a2))

static void test_event_channel_op(void)
{
	struct evtchn_bind_virq bv = { .virq = VIRQ_TIMER, .port = 0xdead };
	struct evtchn_status st = { .dom = DOMID_SELF };
	struct domain *d = fixture__domain();

	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_alloc_unbound, 0), -EFAULT);
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_bind_virq, 0x1000), -EFAULT);
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_status, MEM_SIZE - 4), -EFAULT);
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_close, ~0ull - 1), -EFAULT);
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_send, PVFT_DOORBELL_GPA), -EFAULT);
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_unmask, 0), -EFAULT);
	CU_ASSERT_EQUAL(EVTCHN_HC(99, BUF_GPA), -ENOSYS);
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_bind_pirq, BUF_GPA), -ENOSYS);

	/* bind_virq through guest memory; port 1 is the console's. */
	memcpy(d->mem + BUF_GPA, &bv, sizeof(bv));
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_bind_virq, BUF_GPA), 0);
	memcpy(&bv, d->mem + BUF_GPA, sizeof(bv));
	CU_ASSERT_EQUAL(bv.port, 2);
	CU_ASSERT_EQUAL(d->evtchn.virq_port[VIRQ_TIMER], 2);

	st.port = bv.port;
	memcpy(d->mem + BUF_GPA + 64, &st, sizeof(st));
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_status, BUF_GPA + 64), 0);
	memcpy(&st, d->mem + BUF_GPA + 64, sizeof(st));
	CU_ASSERT_EQUAL(st.status, EVTCHNSTAT_virq);
	CU_ASSERT_EQUAL(st.u.virq, VIRQ_TIMER);
	/* The console port, as pv-abi.md says. */
	st = (struct evtchn_status){ .dom = DOMID_SELF,
				     .port = PVFT_CONSOLE_PORT };
	memcpy(d->mem + BUF_GPA, &st, sizeof(st));
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_status, BUF_GPA), 0);
	memcpy(&st, d->mem + BUF_GPA, sizeof(st));
	CU_ASSERT_EQUAL(st.status, EVTCHNSTAT_interdomain);
	CU_ASSERT_EQUAL(st.u.interdomain.dom, 0);
}

/*
 * An IN/OUT structure the guest cannot write (start_info is read-only) is
 * a bad pointer: -EFAULT, and the operation must not have happened. The
 * zeroes at the end of start_info read as {VIRQ_TIMER, vcpu 0}.
 */
static void test_event_channel_op_readonly_struct(void)
{
	uint64_t gpa = PVFT_START_INFO_GPA + PVFT_PAGE_SIZE - 64;
	struct evtchn_bind_virq bv = { .virq = VIRQ_TIMER };
	static const uint8_t zero[sizeof(bv)];
	struct domain *d = fixture__domain();

	CU_ASSERT_FATAL(!memcmp(d->mem + gpa, zero, sizeof(zero)));
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_bind_virq, gpa), -EFAULT);
	CU_ASSERT_EQUAL(d->evtchn.virq_port[VIRQ_TIMER], 0);
	CU_ASSERT_EQUAL(d->evtchn.port[2].state, EVTCHN_FREE);
	/* The guest retries with a good pointer: it must not get -EEXIST. */
	memcpy(d->mem + BUF_GPA, &bv, sizeof(bv));
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_bind_virq, BUF_GPA), 0);
	memcpy(&bv, d->mem + BUF_GPA, sizeof(bv));
	CU_ASSERT_EQUAL(bv.port, 2);
}

static void test_event_channel_loopback(void)
{
	struct evtchn_alloc_unbound au = { .dom = DOMID_SELF,
					   .remote_dom = DOMID_SELF };
	struct evtchn_bind_interdomain bi = { .remote_dom = DOMID_SELF };
	struct evtchn_send sn;
	struct domain *d = fixture__domain();
	xen_ulong_t *pending = domain__shared_info(d)->evtchn_pending;

	memcpy(d->mem + BUF_GPA, &au, sizeof(au));
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_alloc_unbound, BUF_GPA), 0);
	memcpy(&au, d->mem + BUF_GPA, sizeof(au));
	CU_ASSERT_EQUAL(au.port, 2);
	bi.remote_port = au.port;
	memcpy(d->mem + BUF_GPA, &bi, sizeof(bi));
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_bind_interdomain, BUF_GPA), 0);
	memcpy(&bi, d->mem + BUF_GPA, sizeof(bi));
	CU_ASSERT_EQUAL(bi.local_port, 3);
	sn.port = bi.local_port;
	memcpy(d->mem + BUF_GPA, &sn, sizeof(sn));
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_send, BUF_GPA), 0);
	CU_ASSERT(pending[0] & (1ul << au.port));
	/* Close the sending end: the other goes back to unbound. */
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_close, BUF_GPA), 0);
	CU_ASSERT_EQUAL(d->evtchn.port[au.port].state, EVTCHN_UNBOUND);
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_send, BUF_GPA), -EINVAL);
	CU_ASSERT_EQUAL(EVTCHN_HC(EVTCHNOP_unmask, BUF_GPA), -EINVAL);
}

static void test_pvft_time(void)
{
	long t1, t2;

	fixture__domain();
	t1 = PVFT_HC(PVFTOP_time, PVFT_CLOCK_MONOTONIC, 0);
	t2 = PVFT_HC(PVFTOP_time, PVFT_CLOCK_MONOTONIC, 0);
	CU_ASSERT(t1 >= 0);
	CU_ASSERT(t2 >= t1);
	/* 2020-01-01 or later. */
	CU_ASSERT(PVFT_HC(PVFTOP_time, PVFT_CLOCK_WALL, 0) >
		  1577836800l * 1000000000l);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_time, 2, 0), -EINVAL);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_time, ~0ull, 0), -EINVAL);
	CU_ASSERT_EQUAL(PVFT_HC(99, 0, 0), -ENOSYS);
}

static void test_pvft_random(void)
{
	static const uint8_t zero[64];
	struct domain *d = fixture__domain();

	memset(d->mem + BUF_GPA, 0x5a, 256);
	memset(d->mem + BUF_GPA, 0, 64);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_random, BUF_GPA, 64), 0);
	CU_ASSERT(memcmp(d->mem + BUF_GPA, zero, 64));
	CU_ASSERT_EQUAL(d->mem[BUF_GPA + 64], 0x5a);

	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_random, BUF_GPA, PVFT_RANDOM_MAX + 1),
			-EINVAL);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_random, BUF_GPA, ~0ull), -EINVAL);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_random, 0x1000, 16), -EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_random, PVFT_START_INFO_GPA, 16),
			-EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_random, MEM_SIZE - 8, 16), -EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_random, ~0ull - 7, 16), -EFAULT);
	CU_ASSERT_EQUAL(
	    PVFT_HC(PVFTOP_random, MEM_SIZE - PVFT_RANDOM_MAX, PVFT_RANDOM_MAX),
	    0);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_random, BUF_GPA, 0), 0);
	/* The refused call left start_info alone. */
	CU_ASSERT_STRING_EQUAL((char *)d->mem + PVFT_START_INFO_GPA,
			       PVFT_START_INFO_MAGIC);
}

static void test_pvft_unique_id(void)
{
	struct domain *d = fixture__domain();
	uint64_t a, b;

	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_unique_id, BUF_GPA, 0), 0);
	memcpy(&a, d->mem + BUF_GPA, 8);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_unique_id, BUF_GPA + 8, 0), 0);
	memcpy(&b, d->mem + BUF_GPA + 8, 8);
	CU_ASSERT_NOT_EQUAL(a, b);
	CU_ASSERT_EQUAL(a >> 32, d->id_nonce);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_unique_id, 0, 0), -EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_unique_id, PVFT_START_INFO_GPA, 0),
			-EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_unique_id, MEM_SIZE - 4, 0), -EFAULT);
}

/*
 * "Unique within the domain's life" (pv-abi.md): still true after 2^32
 * ids. The counter starts where 2^32 - 1 more calls would have left it.
 */
static void test_pvft_unique_id_after_2_32_ids(void)
{
	struct domain *d = fixture__domain();
	uint64_t first, id;

	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_unique_id, BUF_GPA, 0), 0);
	memcpy(&first, d->mem + BUF_GPA, 8);
	d->id_counter = UINT32_MAX;
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_unique_id, BUF_GPA, 0), 0);
		memcpy(&id, d->mem + BUF_GPA, 8);
		CU_ASSERT_NOT_EQUAL(id, first);
	}
}

static CU_TestInfo hypercall_ops_tests[] = {
	{ "event_channel_op", test_event_channel_op },
	{ "event_channel_op, read-only struct",
	  test_event_channel_op_readonly_struct },
	{ "event_channel_op loopback", test_event_channel_loopback },
	{ "pvft_op time", test_pvft_time },
	{ "pvft_op random", test_pvft_random },
	{ "pvft_op unique_id", test_pvft_unique_id },
	{ "pvft_op unique_id after 2^32 ids",
	  test_pvft_unique_id_after_2_32_ids },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo hypercall_ops_suites[] = {
	{ "hypercall ops", NULL, NULL, fixture__setup, fixture__teardown,
	  hypercall_ops_tests },
	CU_SUITE_INFO_NULL,
};

void test_hypercall_ops__register(void)
{
	CU_register_suites(hypercall_ops_suites);
}
