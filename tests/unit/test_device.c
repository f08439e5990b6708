// SPDX-License-Identifier: MIT
/*
 * The device model (hv/device.h) on the fixture's domain: the order the
 * devices are walked in, the lookups, the hypercalls they serve, and the
 * save/restore hooks of every device the board has (event channels, the
 * timer, the console): a state saved on one domain restores on a fresh
 * one to the same guest-visible state (the same digests), and a state no
 * pvft could have made is refused whole, nothing changed.
 */
#include <errno.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <xxhash.h>

#include "console.h"
#include "deliver.h"
#include "device.h"
#include "digest.h"
#include "evtchn.h"
#include "fixture.h"
#include "hypercall.h"
#include "unit.h"
#include "vcpu.h"

static int dummy_calls;

static long dummy_hypercall(struct domain *d, struct device *dev, uint64_t nr,
			    const uint64_t *arg)
{
	(void)d;
	(void)dev;
	(void)arg;
	dummy_calls++;
	return nr == 4242 ? 7 : -ENOSYS;
}

static const struct device_ops late_ops = {
	.name = "late",
	.level = DEVICE_LEVEL_LATE,
	.hypercall = dummy_hypercall,
};
static const struct device_ops core_ops = {
	.name = "core2",
	.level = DEVICE_LEVEL_CORE,
};

static void test_order(void)
{
	struct domain *d = fixture__domain();
	struct device late1 = { .ops = &late_ops },
		      late2 = { .ops = &late_ops };
	struct device core = { .ops = &core_ops };
	unsigned int n = d->nr_devices;
	struct device *dev;
	int last = -1;

	CU_ASSERT_FATAL(n >= 4);
	/* Registered out of order, walked in level order, stable within. */
	CU_ASSERT_EQUAL(device__register(d, &late1), 0);
	CU_ASSERT_EQUAL(device__register(d, &core), 0);
	CU_ASSERT_EQUAL(device__register(d, &late2), 0);
	CU_ASSERT_EQUAL(d->nr_devices, n + 3);
	for_each_device(d, dev)
	{
		CU_ASSERT((int)dev->ops->level >= last);
		last = dev->ops->level;
	}
	CU_ASSERT_PTR_EQUAL(d->devices[d->nr_devices - 2], &late1);
	CU_ASSERT_PTR_EQUAL(d->devices[d->nr_devices - 1], &late2);
	CU_ASSERT_EQUAL(late1.index, 0);
	CU_ASSERT_EQUAL(late2.index, 1);
	CU_ASSERT_PTR_EQUAL(device__find(d, &late_ops), &late1);
	CU_ASSERT_PTR_EQUAL(device__find(d, &console_device_ops),
			    &d->console.dev);
	/* Each input record type has its device. */
	CU_ASSERT_PTR_EQUAL(device__for_record(d, LOGFMT_CONSOLE_IN),
			    &d->console.dev);
	CU_ASSERT_PTR_NOT_NULL(device__for_record(d, LOGFMT_TIMER));
	CU_ASSERT_PTR_NOT_NULL(device__for_record(d, LOGFMT_NET_RX));
	CU_ASSERT_PTR_NULL(device__for_record(d, LOGFMT_TIME));

	/* Hypercalls no table has go to the devices; -ENOSYS if to none. */
	dummy_calls = 0;
	CU_ASSERT_EQUAL(fixture__hypercall(4242, 0, 0, 0), 7);
	CU_ASSERT_EQUAL(dummy_calls, 1);
	CU_ASSERT_EQUAL(fixture__hypercall(4243, 0, 0, 0), -ENOSYS);
	CU_ASSERT_EQUAL(dummy_calls, 3); /* both lates asked */

	CU_ASSERT_EQUAL(device__unregister(d, &late1), 0);
	CU_ASSERT_EQUAL(device__unregister(d, &late1), -ENOENT);
	CU_ASSERT_PTR_EQUAL(device__find(d, &late_ops), &late2);
	CU_ASSERT_EQUAL(device__unregister(d, &late2), 0);
	CU_ASSERT_EQUAL(device__unregister(d, &core), 0);
	CU_ASSERT_EQUAL(d->nr_devices, n);

	/* A full domain refuses one more. */
	while (d->nr_devices < DOMAIN_MAX_DEVICES)
		CU_ASSERT_EQUAL_FATAL(device__register(d, &late1), 0);
	CU_ASSERT_EQUAL(device__register(d, &late2), -ENOSPC);
	d->nr_devices = n;
}

/* The devices' digest words: the guest-visible state outside memory. */
static void device_digests(struct domain *d, uint64_t *v, unsigned int *n)
{
	static struct digest_words w;
	struct device *dev;

	memset(&w, 0, sizeof(w));
	for_each_device(d, dev) if (dev->ops->digest)
	    dev->ops->digest(d, dev, &w);
	memcpy(v, w.v, sizeof(w.v));
	*n = w.n;
}

static long evtchn_op(int cmd, void *op)
{
	struct domain *d = fixture__domain();
	long rc;

	memcpy(d->mem + FIXTURE_BUF_GPA, op, 64);
	rc = fixture__hypercall(__HYPERVISOR_event_channel_op, cmd,
				FIXTURE_BUF_GPA, 0);
	memcpy(op, d->mem + FIXTURE_BUF_GPA, 64);
	return rc;
}

/* Ports of each kind, a timer armed, console input staged and closed. */
static void make_state(struct domain *d)
{
	union {
		struct evtchn_alloc_unbound au;
		struct evtchn_bind_interdomain bi;
		struct evtchn_bind_virq bv;
		uint8_t pad[64];
	} op;

	memset(&op, 0, sizeof(op));
	op.au = (struct evtchn_alloc_unbound){ .dom = DOMID_SELF,
					       .remote_dom = DOMID_SELF };
	CU_ASSERT_EQUAL_FATAL(evtchn_op(EVTCHNOP_alloc_unbound, &op), 0);
	memset(&op, 0, sizeof(op));
	op.bi = (struct evtchn_bind_interdomain){ .remote_dom = DOMID_SELF,
						  .remote_port = 2 };
	CU_ASSERT_EQUAL_FATAL(evtchn_op(EVTCHNOP_bind_interdomain, &op), 0);
	memset(&op, 0, sizeof(op));
	op.bv = (struct evtchn_bind_virq){ .virq = VIRQ_TIMER };
	CU_ASSERT_EQUAL_FATAL(evtchn_op(EVTCHNOP_bind_virq, &op), 0);
	CU_ASSERT_EQUAL(fixture__hypercall(__HYPERVISOR_set_timer_op,
					   1000ull * NS_PER_S, 0, 0),
			0);
	CU_ASSERT_EQUAL(coninput__push(&d->cin, "hello", 5), 5);
	coninput__close(&d->cin);
	deliver__exit(d);
	CU_ASSERT_EQUAL(d->console.staged_len, 5);
	CU_ASSERT(d->console.closed_seen);
}

static uint8_t saved[4 * DEVICE_SAVE_MAX];

static void test_save_restore(void)
{
	struct domain *d = fixture__domain();
	uint64_t want[DIGEST_SLOTS_MAX], got[DIGEST_SLOTS_MAX];
	struct evtchn_table ports;
	unsigned int nw, ng;
	long n;

	make_state(d);
	device_digests(d, want, &nw);
	ports = d->evtchn;
	CU_ASSERT_EQUAL(devices__save(d, saved, 16), -ENOSPC);
	n = devices__save(d, saved, sizeof(saved));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_EQUAL(n % 8, 0);

	/* A fresh domain of the same board: the same state. */
	fixture__teardown();
	fixture__setup();
	d = fixture__domain();
	device_digests(d, got, &ng);
	CU_ASSERT_EQUAL(ng, nw);
	CU_ASSERT(memcmp(got, want, nw * sizeof(want[0])) != 0);
	CU_ASSERT_EQUAL(devices__restore(d, saved, n), 0);
	device_digests(d, got, &ng);
	CU_ASSERT_EQUAL(ng, nw);
	CU_ASSERT(!memcmp(got, want, nw * sizeof(want[0])));
	CU_ASSERT(!memcmp(d->evtchn.port, ports.port, sizeof(ports.port)));
	CU_ASSERT(!memcmp(d->evtchn.virq_port, ports.virq_port,
			  sizeof(ports.virq_port)));
	CU_ASSERT(d->sched.timer_armed);
	CU_ASSERT_EQUAL(d->sched.deadline, 1000ull * NS_PER_S);
	CU_ASSERT_EQUAL(d->console.staged_len, 5);
	CU_ASSERT(!memcmp(d->console.staged, "hello", 5));
	CU_ASSERT(d->console.closed_seen);
	/* And the guest reads its input where it left off. */
	CU_ASSERT_EQUAL(fixture__hypercall(__HYPERVISOR_console_io,
					   CONSOLEIO_read, 16, FIXTURE_BUF_GPA),
			5);
	CU_ASSERT(!memcmp(d->mem + FIXTURE_BUF_GPA, "hello", 5));
	/* Nothing saved is no state: refused, nothing changes. */
	device_digests(d, want, &nw);
	CU_ASSERT_EQUAL(devices__restore(d, saved, 0), -EINVAL);
	device_digests(d, got, &ng);
	CU_ASSERT_EQUAL(ng, nw);
	CU_ASSERT(!memcmp(got, want, nw * sizeof(want[0])));
}

/* The offset of device @name's state in @buf, and its length. */
static size_t find_state(const uint8_t *buf, size_t len, const char *name,
			 size_t *len_r)
{
	size_t off = 0;

	while (off + 24 <= len) {
		uint32_t l;

		memcpy(&l, buf + off + 20, 4);
		if (!strcmp((const char *)buf + off, name)) {
			*len_r = l;
			return off + 24;
		}
		off = (off + 24 + l + 7) & ~(size_t)7;
	}
	CU_FAIL_FATAL("no such device state");
	return 0;
}

static void test_restore_refused(void)
{
	struct domain *d = fixture__domain();
	uint64_t before[DIGEST_SLOTS_MAX], after[DIGEST_SLOTS_MAX];
	static uint8_t bad[sizeof(saved)];
	unsigned int nb, na;
	size_t off, len;
	long n;

	make_state(d);
	n = devices__save(d, saved, sizeof(saved));
	CU_ASSERT_FATAL(n > 0);
	fixture__teardown();
	fixture__setup();
	d = fixture__domain();
	device_digests(d, before, &nb);

	/* Truncated inside a header, inside a state. */
	CU_ASSERT_EQUAL(devices__restore(d, saved, 10), -EINVAL);
	CU_ASSERT_EQUAL(devices__restore(d, saved, n - 9), -EINVAL);
	/* The first device's state alone: the others would keep theirs. */
	off = find_state(saved, n, "evtchn", &len);
	CU_ASSERT_EQUAL_FATAL(off, 24);
	CU_ASSERT_EQUAL(devices__restore(d, saved, (off + len + 7) & ~7ul),
			-EINVAL);
	/* The first device's state twice. */
	memcpy(bad, saved, (off + len + 7) & ~7ul);
	memcpy(bad + ((off + len + 7) & ~7ul), saved, n);
	CU_ASSERT_EQUAL(devices__restore(d, bad, n + ((off + len + 7) & ~7ul)),
			-EINVAL);
	/* A device this domain does not have. */
	memcpy(bad, saved, n);
	memcpy(bad, "blockdev", 9);
	CU_ASSERT_EQUAL(devices__restore(d, bad, n), -EINVAL);
	/* A name with no end. */
	memcpy(bad, saved, n);
	memset(bad, 'x', 16);
	CU_ASSERT_EQUAL(devices__restore(d, bad, n), -EINVAL);
	/* A timer armed "twice". */
	memcpy(bad, saved, n);
	off = find_state(bad, n, "timer", &len);
	CU_ASSERT_EQUAL(len, 16);
	bad[off + 8] = 2;
	CU_ASSERT_EQUAL(devices__restore(d, bad, n), -EINVAL);
	/* More console input staged than it holds. */
	memcpy(bad, saved, n);
	off = find_state(bad, n, "console", &len);
	memset(bad + off, 0xff, 4);
	CU_ASSERT_EQUAL(devices__restore(d, bad, n), -EINVAL);
	/* An interdomain port whose other end is not its peer. */
	memcpy(bad, saved, n);
	off = find_state(bad, n, "evtchn", &len);
	{
		struct evtchn e;

		memcpy(&e, bad + off + 3 * sizeof(e), sizeof(e));
		CU_ASSERT_EQUAL_FATAL(e.state, EVTCHN_INTERDOMAIN);
		e.peer = 1;
		memcpy(bad + off + 3 * sizeof(e), &e, sizeof(e));
	}
	CU_ASSERT_EQUAL(devices__restore(d, bad, n), -EINVAL);
	/* Port 0 in use. */
	memcpy(bad, saved, n);
	bad[off] = EVTCHN_UNBOUND;
	CU_ASSERT_EQUAL(devices__restore(d, bad, n), -EINVAL);

	/* Every refusal left every device as it was (all or nothing). */
	device_digests(d, after, &na);
	CU_ASSERT_EQUAL(na, nb);
	CU_ASSERT(!memcmp(after, before, nb * sizeof(before[0])));
	CU_ASSERT(!d->sched.timer_armed);
	CU_ASSERT_EQUAL(d->console.staged_len, 0);
}

/*
 * The register hash's layout is the log format's: a log's digests replay
 * only on a pvft-hv that lays the words out the same way. Written out here
 * on its own, word by word (digest.h, log-format.md), so that a device
 * that moves its words, or a new one that takes another's slot, fails.
 */
static int pin_get_fpu(struct domain *d, struct vcpu_fpu *f)
{
	(void)d;
	memset(f, 0, sizeof(*f));
	f->fcw = 0x37f;
	f->mxcsr = 0x1f80;
	f->xmm[3][5] = 7;
	return 0;
}

static void pin_get_regs(struct domain *d, struct vcpu_regs *r)
{
	uint64_t w[17];

	(void)d;
	for (unsigned int i = 0; i < 17; i++)
		w[i] = 0x0101010101010101ull * (i + 1);
	memcpy(r, w, sizeof(w));
}

static const struct vcpu_backend pin_backend = {
	.name = "pin",
	.get_regs = pin_get_regs,
	.get_fpu = pin_get_fpu,
};

static void test_digest_layout(void)
{
	struct domain *d = fixture__domain();
	const struct vcpu_backend *was = d->backend;
	struct logfmt_digest_value v;
	struct vcpu_fpu f;
	struct vcpu_regs r;
	uint64_t w[27], ports[2 * PVFT_NR_EVTCHN];
	unsigned int n = 0;

	make_state(d);
	d->last_rip = 0x123456;
	d->id_counter = 42;
	d->in_trap_handler = true;
	d->trap_handler[3] = 0x400000;
	d->backend = &pin_backend;
	CU_ASSERT_EQUAL_FATAL(digest__take(d, &v), 0);
	d->backend = was;

	pin_get_regs(d, &r);
	pin_get_fpu(d, &f);
	memcpy(w, &r, 16 * sizeof(uint64_t));
	w[16] = r.rflags & 0xcd5;
	w[17] = d->last_rip;
	w[18] = d->sched.timer_armed ? d->sched.deadline : ~0ull;
	w[19] = d->id_counter;
	w[20] = d->console.staged_len;
	w[21] = d->console.closed_seen;
	w[22] = d->in_trap_handler;
	w[23] = XXH3_64bits(&f, sizeof(f));
	w[24] = XXH3_64bits(d->console.staged, d->console.staged_len);
	w[25] = XXH3_64bits(d->trap_handler, sizeof(d->trap_handler));
	for (uint32_t p = 0; p < PVFT_NR_EVTCHN; p++) {
		const struct evtchn *e = &d->evtchn.port[p];

		if (e->state == EVTCHN_FREE)
			continue;
		ports[n++] = (uint64_t)p << 32 | (uint64_t)e->state << 16 |
			     e->remote_dom;
		ports[n++] = (uint64_t)e->peer << 32 | e->virq;
	}
	w[26] = XXH3_64bits(ports, n * sizeof(ports[0]));
	CU_ASSERT(d->sched.timer_armed && d->console.staged_len == 5 && n > 4);
	CU_ASSERT_EQUAL(v.regs, XXH3_64bits(w, sizeof(w)));
	CU_ASSERT_EQUAL(v.mem, XXH3_64bits(d->mem, d->mem_size));
}

static CU_TestInfo device_tests[] = {
	{ "level order, lookups, hypercalls", test_order },
	{ "save on one domain, restore on another", test_save_restore },
	{ "bad states are refused whole", test_restore_refused },
	{ "the register hash's words, in the log format's order",
	  test_digest_layout },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "device model", NULL, NULL, fixture__setup, fixture__teardown,
	  device_tests },
	CU_SUITE_INFO_NULL,
};

void test_device__register(void)
{
	CU_register_suites(suites);
}
