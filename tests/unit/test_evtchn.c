// SPDX-License-Identifier: MIT
/*
 * Event channels against a real shared_info page: the 2-level pending,
 * mask and selector bits the guest sees, and the EVTCHNOP_* state machine.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "evtchn.h"
#include "unit.h"

static struct evtchn_table tbl;
static struct shared_info *si;

#define BITS 64 /* bits in an xen_ulong_t on x86-64 */

static int bit(const xen_ulong_t *words, unsigned int n)
{
	return !!(words[n / BITS] & ((xen_ulong_t)1 << (n % BITS)));
}

static int pending(unsigned int port)
{
	return bit(si->evtchn_pending, port);
}

static int sel(unsigned int word)
{
	return bit(&si->vcpu_info[0].evtchn_pending_sel, word);
}

static int upcall(void)
{
	return si->vcpu_info[0].evtchn_upcall_pending;
}

static void mask(unsigned int port)
{
	si->evtchn_mask[port / BITS] |= (xen_ulong_t)1 << (port % BITS);
}

/* What a guest's upcall handler does before looking at the bitmaps. */
static void guest_ack(void)
{
	si->vcpu_info[0].evtchn_upcall_pending = 0;
	si->vcpu_info[0].evtchn_pending_sel = 0;
}

static int alloc(uint16_t remote_dom)
{
	struct evtchn_alloc_unbound op = { .dom = DOMID_SELF,
					   .remote_dom = remote_dom };
	int rc = evtchn__alloc_unbound(&tbl, &op);

	return rc ? rc : (int)op.port;
}

static int bind_loopback(evtchn_port_t remote)
{
	struct evtchn_bind_interdomain op = { .remote_dom = DOMID_SELF,
					      .remote_port = remote };
	int rc = evtchn__bind_interdomain(&tbl, &op);

	return rc ? rc : (int)op.local_port;
}

static int bind_virq(uint32_t virq, uint32_t vcpu)
{
	struct evtchn_bind_virq op = { .virq = virq, .vcpu = vcpu };
	int rc = evtchn__bind_virq(&tbl, &op);

	return rc ? rc : (int)op.port;
}

static struct evtchn_status status(evtchn_port_t port)
{
	struct evtchn_status op = { .dom = DOMID_SELF, .port = port };

	op.status = 0xdead;
	CU_ASSERT_EQUAL(evtchn__status(&tbl, &op), 0);
	return op;
}

static int suite_init(void)
{
	si = aligned_alloc(PVFT_PAGE_SIZE, PVFT_PAGE_SIZE);
	return si ? 0 : -1;
}

static int suite_cleanup(void)
{
	free(si);
	return 0;
}

static void setup(void)
{
	memset(si, 0, PVFT_PAGE_SIZE);
	memset(&tbl, 0xff, sizeof(tbl)); /* init must not rely on zeroes */
	evtchn__init(&tbl, si);
}

static void test_init(void)
{
	CU_ASSERT_PTR_EQUAL(tbl.si, si);
	for (evtchn_port_t p = 1; p < PVFT_NR_EVTCHN; p++)
		CU_ASSERT_EQUAL_FATAL(status(p).status, EVTCHNSTAT_closed);
	for (unsigned int v = 0; v < NR_VIRQS; v++)
		CU_ASSERT_EQUAL(tbl.virq_port[v], 0);
	CU_ASSERT_FALSE(evtchn__upcall_pending(&tbl));
}

static void test_set_pending(void)
{
	evtchn__set_pending(&tbl, 70);
	CU_ASSERT(pending(70));
	CU_ASSERT(sel(70 / 64));
	CU_ASSERT_FALSE(sel(0));
	CU_ASSERT_EQUAL(upcall(), 1);
	CU_ASSERT(evtchn__upcall_pending(&tbl));
	CU_ASSERT_FALSE(pending(69));
	CU_ASSERT_FALSE(pending(71));

	evtchn__set_pending(&tbl, 1023);
	CU_ASSERT(pending(1023));
	CU_ASSERT(sel(15));
}

static void test_still_pending_not_raised_again(void)
{
	evtchn__set_pending(&tbl, 3);
	guest_ack();
	/* The port is still pending: Xen does not raise it twice. */
	evtchn__set_pending(&tbl, 3);
	CU_ASSERT(pending(3));
	CU_ASSERT_FALSE(sel(0));
	CU_ASSERT_EQUAL(upcall(), 0);
	/* Once the guest has consumed it, a new event raises again. */
	si->evtchn_pending[0] = 0;
	evtchn__set_pending(&tbl, 3);
	CU_ASSERT(sel(0));
	CU_ASSERT_EQUAL(upcall(), 1);
}

static void test_masked_then_unmasked(void)
{
	int p = alloc(DOMID_SELF);

	CU_ASSERT_FATAL(p > 0);
	mask(p);
	evtchn__set_pending(&tbl, p);
	CU_ASSERT(pending(p));
	CU_ASSERT_FALSE(sel(p / 64));
	CU_ASSERT_EQUAL(upcall(), 0);

	CU_ASSERT_EQUAL(evtchn__unmask(&tbl, p), 0);
	CU_ASSERT_FALSE(bit(si->evtchn_mask, p));
	CU_ASSERT(sel(p / 64));
	CU_ASSERT_EQUAL(upcall(), 1);
}

static void test_unmask_not_pending(void)
{
	int p = alloc(DOMID_SELF);

	mask(p);
	CU_ASSERT_EQUAL(evtchn__unmask(&tbl, p), 0);
	CU_ASSERT_FALSE(bit(si->evtchn_mask, p));
	CU_ASSERT_EQUAL(si->vcpu_info[0].evtchn_pending_sel, 0);
	CU_ASSERT_EQUAL(upcall(), 0);
}

static void test_alloc_unbound(void)
{
	struct evtchn_alloc_unbound op = { .dom = 5, .remote_dom = DOMID_SELF };

	CU_ASSERT_EQUAL(evtchn__alloc_unbound(&tbl, &op), -EPERM);
	op.dom = 0;
	CU_ASSERT_EQUAL(evtchn__alloc_unbound(&tbl, &op), -EPERM);
	op =
	    (struct evtchn_alloc_unbound){ .dom = DOMID_SELF, .remote_dom = 7 };
	CU_ASSERT_EQUAL(evtchn__alloc_unbound(&tbl, &op), -ESRCH);
	op.remote_dom = DOMID_IDLE;
	CU_ASSERT_EQUAL(evtchn__alloc_unbound(&tbl, &op), -ESRCH);
	/* Refusals took no port. */
	CU_ASSERT_EQUAL(alloc(DOMID_SELF), 1);
}

static void test_alloc_lowest_free(void)
{
	CU_ASSERT_EQUAL(evtchn__bind_hv(&tbl, 1), 0);
	CU_ASSERT_EQUAL(evtchn__bind_hv(&tbl, 1), -EINVAL);
	CU_ASSERT_EQUAL(evtchn__bind_hv(&tbl, 0), -EINVAL);
	CU_ASSERT_EQUAL(evtchn__bind_hv(&tbl, PVFT_NR_EVTCHN), -EINVAL);
	CU_ASSERT_EQUAL(alloc(DOMID_SELF), 2);
	CU_ASSERT_EQUAL(alloc(0), 3);
	CU_ASSERT_EQUAL(alloc(DOMID_SELF), 4);
	CU_ASSERT_EQUAL(evtchn__close(&tbl, 3), 0);
	CU_ASSERT_EQUAL(alloc(DOMID_SELF), 3);
	CU_ASSERT_EQUAL(alloc(DOMID_SELF), 5);
}

static void test_loopback_pair(void)
{
	int a = alloc(DOMID_SELF), b;
	struct evtchn_status st;

	b = bind_loopback(a);
	CU_ASSERT_FATAL(b > 0);
	CU_ASSERT_NOT_EQUAL(a, b);
	st = status(a);
	CU_ASSERT_EQUAL(st.status, EVTCHNSTAT_interdomain);
	CU_ASSERT_EQUAL(st.u.interdomain.dom, DOMID_SELF);
	CU_ASSERT_EQUAL(st.u.interdomain.port, b);
	st = status(b);
	CU_ASSERT_EQUAL(st.status, EVTCHNSTAT_interdomain);
	CU_ASSERT_EQUAL(st.u.interdomain.port, a);

	CU_ASSERT_EQUAL(evtchn__send(&tbl, a), 0);
	CU_ASSERT(pending(b));
	CU_ASSERT_FALSE(pending(a));
	CU_ASSERT_EQUAL(upcall(), 1);
	CU_ASSERT_EQUAL(evtchn__send(&tbl, b), 0);
	CU_ASSERT(pending(a));

	/* Both ends are taken now. */
	CU_ASSERT_EQUAL(bind_loopback(a), -EINVAL);
}

static void test_bind_interdomain_refusals(void)
{
	struct evtchn_bind_interdomain op = { .remote_dom = 0,
					      .remote_port = alloc(0) };

	CU_ASSERT_EQUAL(evtchn__bind_interdomain(&tbl, &op), -ESRCH);
	/* Waiting for dom0, not for this domain. */
	CU_ASSERT_EQUAL(bind_loopback(op.remote_port), -EINVAL);
	CU_ASSERT_EQUAL(bind_loopback(0), -EINVAL);
	CU_ASSERT_EQUAL(bind_loopback(PVFT_NR_EVTCHN), -EINVAL);
	CU_ASSERT_EQUAL(bind_loopback(0xffffffff), -EINVAL);
	CU_ASSERT_EQUAL(bind_loopback(500), -EINVAL); /* free */
	evtchn__bind_hv(&tbl, 7);
	CU_ASSERT_EQUAL(bind_loopback(7), -EINVAL);
	CU_ASSERT_EQUAL(bind_loopback(bind_virq(VIRQ_TIMER, 0)), -EINVAL);
	/* Refusals took no port. */
	CU_ASSERT_EQUAL(alloc(DOMID_SELF), 3);
}

static void test_close_reverts_peer(void)
{
	int a = alloc(DOMID_SELF), b = bind_loopback(a);
	struct evtchn_status st;

	CU_ASSERT_EQUAL(evtchn__close(&tbl, a), 0);
	CU_ASSERT_EQUAL(status(a).status, EVTCHNSTAT_closed);
	st = status(b);
	CU_ASSERT_EQUAL(st.status, EVTCHNSTAT_unbound);
	CU_ASSERT_EQUAL(st.u.unbound.dom, DOMID_SELF);
	/* The waiting end can be bound again, and the pair works. */
	a = bind_loopback(b);
	CU_ASSERT_FATAL(a > 0);
	CU_ASSERT_EQUAL(evtchn__send(&tbl, b), 0);
	CU_ASSERT(pending(a));
}

static void test_bind_virq(void)
{
	int p = bind_virq(VIRQ_TIMER, 0);

	CU_ASSERT_EQUAL(p, 1);
	CU_ASSERT_EQUAL(tbl.virq_port[VIRQ_TIMER], 1);
	CU_ASSERT_EQUAL(bind_virq(VIRQ_TIMER, 0), -EEXIST);
	CU_ASSERT_EQUAL(bind_virq(VIRQ_DEBUG, 0), -EINVAL);
	CU_ASSERT_EQUAL(bind_virq(NR_VIRQS, 0), -EINVAL);
	CU_ASSERT_EQUAL(bind_virq(0xffffffff, 0), -EINVAL);
	CU_ASSERT_EQUAL(bind_virq(VIRQ_TIMER, 1), -ENOENT);
	CU_ASSERT_EQUAL(status(p).status, EVTCHNSTAT_virq);
	CU_ASSERT_EQUAL(status(p).u.virq, VIRQ_TIMER);
	/* Sending on a VIRQ port is the hv's business, not the guest's. */
	CU_ASSERT_EQUAL(evtchn__send(&tbl, p), -EINVAL);
	CU_ASSERT_EQUAL(evtchn__close(&tbl, p), 0);
	CU_ASSERT_EQUAL(tbl.virq_port[VIRQ_TIMER], 0);
	CU_ASSERT_EQUAL(bind_virq(VIRQ_TIMER, 0), 1);
}

static void test_send_virq(void)
{
	CU_ASSERT_FALSE(evtchn__send_virq(&tbl, VIRQ_TIMER));
	CU_ASSERT_EQUAL(si->evtchn_pending[0], 0);
	CU_ASSERT_EQUAL(upcall(), 0);
	alloc(DOMID_SELF);
	CU_ASSERT_EQUAL(bind_virq(VIRQ_TIMER, 0), 2);
	CU_ASSERT(evtchn__send_virq(&tbl, VIRQ_TIMER));
	CU_ASSERT(pending(2));
	CU_ASSERT_FALSE(pending(1));
	CU_ASSERT_EQUAL(upcall(), 1);
	CU_ASSERT_FALSE(evtchn__send_virq(&tbl, NR_VIRQS));
	CU_ASSERT_FALSE(evtchn__send_virq(&tbl, 0xffffffff));
}

static void test_bad_ports(void)
{
	static const evtchn_port_t bad[] = { 0, PVFT_NR_EVTCHN, 0xffffffff,
					     42 /* free */ };
	struct evtchn_status st = { .dom = DOMID_SELF };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(evtchn__close(&tbl, bad[i]), -EINVAL);
		CU_ASSERT_EQUAL(evtchn__send(&tbl, bad[i]), -EINVAL);
		CU_ASSERT_EQUAL(evtchn__unmask(&tbl, bad[i]), -EINVAL);
	}
	st.port = 0;
	CU_ASSERT_EQUAL(evtchn__status(&tbl, &st), -EINVAL);
	st.port = PVFT_NR_EVTCHN;
	CU_ASSERT_EQUAL(evtchn__status(&tbl, &st), -EINVAL);
	st.port = 0xffffffff;
	CU_ASSERT_EQUAL(evtchn__status(&tbl, &st), -EINVAL);
	st = (struct evtchn_status){ .dom = 3, .port = 1 };
	CU_ASSERT_EQUAL(evtchn__status(&tbl, &st), -ESRCH);
	/* Nothing became pending on the way. */
	CU_ASSERT_EQUAL(upcall(), 0);
	for (size_t w = 0; w < 64; w++)
		CU_ASSERT_EQUAL(si->evtchn_pending[w], 0);
}

static void test_status_of_each_kind(void)
{
	struct evtchn_status st;
	int hv = 1, unbound, dom0, a, b, virq;

	evtchn__bind_hv(&tbl, hv);
	unbound = alloc(DOMID_SELF);
	dom0 = alloc(0);
	a = alloc(DOMID_SELF);
	b = bind_loopback(a);
	virq = bind_virq(VIRQ_TIMER, 0);

	st = status(hv);
	CU_ASSERT_EQUAL(st.status, EVTCHNSTAT_interdomain);
	CU_ASSERT_EQUAL(st.u.interdomain.dom, 0);
	st = status(unbound);
	CU_ASSERT_EQUAL(st.status, EVTCHNSTAT_unbound);
	CU_ASSERT_EQUAL(st.u.unbound.dom, DOMID_SELF);
	CU_ASSERT_EQUAL(status(dom0).u.unbound.dom, 0);
	CU_ASSERT_EQUAL(status(b).u.interdomain.port, a);
	CU_ASSERT_EQUAL(status(virq).status, EVTCHNSTAT_virq);
	CU_ASSERT_EQUAL(status(virq).vcpu, 0);
	CU_ASSERT_EQUAL(status(900).status, EVTCHNSTAT_closed);
}

static void test_exhaust_ports(void)
{
	int n = 0, p, last = 0;

	evtchn__bind_hv(&tbl, PVFT_CONSOLE_PORT);
	while ((p = alloc(DOMID_SELF)) > 0) {
		last = p;
		n++;
		if (n > PVFT_NR_EVTCHN)
			break;
	}
	CU_ASSERT_EQUAL(p, -ENOSPC);
	CU_ASSERT_EQUAL(n, PVFT_NR_EVTCHN - 2); /* ports 2..1023 */
	CU_ASSERT_EQUAL(last, PVFT_NR_EVTCHN - 1);
	CU_ASSERT_EQUAL(bind_virq(VIRQ_TIMER, 0), -ENOSPC);
	CU_ASSERT_EQUAL(tbl.virq_port[VIRQ_TIMER], 0);
	/* The remote end stays unbound when there is no local port. */
	CU_ASSERT_EQUAL(bind_loopback(500), -ENOSPC);
	CU_ASSERT_EQUAL(status(500).status, EVTCHNSTAT_unbound);
	CU_ASSERT_EQUAL(evtchn__close(&tbl, 600), 0);
	CU_ASSERT_EQUAL(alloc(DOMID_SELF), 600);
}

static void test_close_clears_pending(void)
{
	int a = alloc(DOMID_SELF);

	evtchn__set_pending(&tbl, a);
	CU_ASSERT_FATAL(pending(a));
	CU_ASSERT_EQUAL(evtchn__close(&tbl, a), 0);
	CU_ASSERT_FALSE(pending(a));
	/* Its next owner starts clean, and can be raised. */
	guest_ack();
	CU_ASSERT_EQUAL(alloc(DOMID_SELF), a);
	CU_ASSERT_FALSE(pending(a));
	evtchn__set_pending(&tbl, a);
	CU_ASSERT_EQUAL(upcall(), 1);
}

static void test_send_to_nobody(void)
{
	int unbound = alloc(DOMID_SELF);

	evtchn__bind_hv(&tbl, 9);
	CU_ASSERT_EQUAL(evtchn__send(&tbl, unbound), 0);
	CU_ASSERT_EQUAL(evtchn__send(&tbl, 9), 0);
	CU_ASSERT_EQUAL(si->evtchn_pending[0], 0);
	CU_ASSERT_EQUAL(upcall(), 0);
}

static CU_TestInfo evtchn_tests[] = {
	{ "init: all ports closed", test_init },
	{ "set_pending raises selector and upcall", test_set_pending },
	{ "still pending: no second upcall",
	  test_still_pending_not_raised_again },
	{ "masked port raised on unmask", test_masked_then_unmasked },
	{ "unmask of a quiet port raises nothing", test_unmask_not_pending },
	{ "alloc_unbound refusals", test_alloc_unbound },
	{ "alloc gives the lowest free port", test_alloc_lowest_free },
	{ "loopback pair", test_loopback_pair },
	{ "bind_interdomain refusals", test_bind_interdomain_refusals },
	{ "close reverts the peer to unbound", test_close_reverts_peer },
	{ "bind_virq", test_bind_virq },
	{ "send_virq", test_send_virq },
	{ "invalid and free ports", test_bad_ports },
	{ "status of each kind", test_status_of_each_kind },
	{ "exhausting ports: -ENOSPC", test_exhaust_ports },
	{ "close clears pending", test_close_clears_pending },
	{ "send to unbound/hv port is dropped", test_send_to_nobody },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo evtchn_suites[] = {
	{ "evtchn", suite_init, suite_cleanup, setup, NULL, evtchn_tests },
	CU_SUITE_INFO_NULL,
};

void test_evtchn__register(void)
{
	CU_register_suites(evtchn_suites);
}
