// SPDX-License-Identifier: MIT
/*
 * netback (hv/netback.c) from the guest's side, on a real struct domain
 * (fixture.h) with a vif whose host side is VIF_HOST_NONE and a gate in
 * GATE_NONE, so a frame the guest sends goes through gate__frame()
 * and netback__send() and leaves nothing behind. The test is the front
 * end: it lays the shared rings, the frames and the rx buffers out in
 * guest memory with xen/io/ring.h's FRONT macros, as netfront does, and
 * calls the hv the way an exit does (the vCPU is stopped meanwhile).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "fixture.h"
#include "hypercall.h"
#include "netback.h"
#include "unit.h"

#define MEM_SIZE FIXTURE_MEM_SIZE
#define TX_RING_GPA 0x200000ull
#define RX_RING_GPA 0x201000ull
#define TX_BUF_GPA 0x210000ull /* tx frames, a page each */
#define RX_BUF_GPA 0x240000ull /* rx buffers, a page each */
#define ARG_GPA 0x280000ull    /* hypercall arguments */
#define LAST_PAGE_GPA (MEM_SIZE - PVFT_PAGE_SIZE)
#define GREF(gpa) ((gpa) >> 12)
#define BITS (8 * sizeof(xen_ulong_t))

#define PVFT_HC(cmd, a1, a2) \
	fixture__hypercall(__HYPERVISOR_pvft_op, (cmd), (a1), (a2))

static const uint8_t test_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x05 };

static struct netback vif;
static bool vif_ready;

/* The guest's end of vif 0. */
static struct front {
	struct domain *d;
	netif_tx_sring_t *txs;
	netif_rx_sring_t *rxs;
	netif_tx_front_ring_t tx;
	netif_rx_front_ring_t rx;
	evtchn_port_t port;
} fe;

static void netback_teardown(void)
{
	if (vif_ready)
		netback__dispose(&vif);
	vif_ready = false;
	fixture__teardown();
}

/*
 * The fixture's domain with vif 0 as @cfg says (not yet connected) and
 * fresh rings.
 */
static struct domain *vif_domain_with(struct vif_config *cfg)
{
	struct domain *d = fixture__domain();

	memcpy(cfg->mac, test_mac, sizeof(cfg->mac));
	CU_ASSERT_FATAL(netback__init(&vif, cfg, d, false) == 0);
	vif_ready = true;
	/* In place of the fixture's "no vif" device: this one. */
	CU_ASSERT_FATAL(
	    !device__unregister(d, device__for_record(d, LOGFMT_NET_RX)));
	CU_ASSERT_FATAL(!netback__probe(d, &vif));
	CU_ASSERT_FATAL(d->gate.mode == GATE_NONE);

	fe = (struct front){ .d = d };
	fe.txs = domain__gpa(d, TX_RING_GPA);
	fe.rxs = domain__gpa(d, RX_RING_GPA);
	SHARED_RING_INIT(fe.txs);
	SHARED_RING_INIT(fe.rxs);
	FRONT_RING_INIT(&fe.tx, fe.txs, PVFT_PAGE_SIZE);
	FRONT_RING_INIT(&fe.rx, fe.rxs, PVFT_PAGE_SIZE);
	return d;
}

/* ... with no host side. */
static struct domain *vif_domain(void)
{
	struct vif_config cfg = { .host = VIF_HOST_NONE };

	return vif_domain_with(&cfg);
}

/* An EVTCHNOP_* through guest memory, as the guest makes it. */
static long evtchn_op(int cmd, void *op, size_t len)
{
	long rc;

	memcpy(fe.d->mem + ARG_GPA, op, len);
	rc = fixture__hypercall(__HYPERVISOR_event_channel_op, cmd, ARG_GPA, 0);
	memcpy(op, fe.d->mem + ARG_GPA, len);
	return rc;
}

static evtchn_port_t alloc_unbound(domid_t remote)
{
	struct evtchn_alloc_unbound au = { .dom = DOMID_SELF,
					   .remote_dom = remote };

	CU_ASSERT_FATAL(evtchn_op(EVTCHNOP_alloc_unbound, &au, sizeof(au)) ==
			0);
	return au.port;
}

static evtchn_port_t bind_virq(uint32_t virq)
{
	struct evtchn_bind_virq bv = { .virq = virq };

	CU_ASSERT_FATAL(evtchn_op(EVTCHNOP_bind_virq, &bv, sizeof(bv)) == 0);
	return bv.port;
}

static long vif_connect(uint64_t tx_ref, uint64_t rx_ref, uint32_t port,
			uint32_t flags)
{
	struct pvft_vif_connect c = {
		.tx_ring_ref = tx_ref,
		.rx_ring_ref = rx_ref,
		.evtchn = port,
		.flags = flags,
	};

	memcpy(fe.d->mem + ARG_GPA, &c, sizeof(c));
	return PVFT_HC(PVFTOP_vif_connect, 0, ARG_GPA);
}

/* vif_domain(), then connected as netfront connects. */
static struct domain *vif_up(void)
{
	struct domain *d = vif_domain();

	fe.port = alloc_unbound(0);
	CU_ASSERT_FATAL(
	    vif_connect(GREF(TX_RING_GPA), GREF(RX_RING_GPA), fe.port, 0) == 0);
	return d;
}

static bool pending(evtchn_port_t port)
{
	const xen_ulong_t *w = domain__shared_info(fe.d)->evtchn_pending;

	return w[port / BITS] >> (port % BITS) & 1;
}

/* The guest's upcall handler took the event. */
static void clear_pending(evtchn_port_t port)
{
	struct shared_info *si = domain__shared_info(fe.d);

	si->evtchn_pending[port / BITS] &= ~((xen_ulong_t)1 << (port % BITS));
	si->vcpu_info[0].evtchn_upcall_pending = 0;
	si->vcpu_info[0].evtchn_pending_sel = 0;
}

static void set_mask(evtchn_port_t port, bool on)
{
	xen_ulong_t *w = &domain__shared_info(fe.d)->evtchn_mask[port / BITS];
	xen_ulong_t bit = (xen_ulong_t)1 << (port % BITS);

	*w = on ? *w | bit : *w & ~bit;
}

/* A recognisable frame of @size bytes at @gpa. */
static void put_frame(uint64_t gpa, uint16_t size, uint8_t seed)
{
	for (uint16_t i = 0; i < size; i++)
		fe.d->mem[gpa + i] = (uint8_t)(seed + i * 7);
}

/* Post a tx request; true if the front must notify (ring.h hold-off). */
static bool tx_post(uint64_t gref, uint16_t offset, uint16_t flags, uint16_t id,
		    uint16_t size)
{
	netif_tx_request_t *req;
	int notify;

	req = RING_GET_REQUEST(&fe.tx, fe.tx.req_prod_pvt);
	*req = (netif_tx_request_t){
		.gref = (grant_ref_t)gref,
		.offset = offset,
		.flags = flags,
		.id = id,
		.size = size,
	};
	fe.tx.req_prod_pvt++;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fe.tx, notify);
	return notify;
}

/* A good single-slot frame of @size bytes at the start of tx page @n. */
static void tx_good(unsigned int n, uint16_t id, uint16_t size)
{
	put_frame(TX_BUF_GPA + n * PVFT_PAGE_SIZE, size, (uint8_t)id);
	tx_post(GREF(TX_BUF_GPA) + n, 0, 0, id, size);
}

static netif_tx_response_t tx_take(void)
{
	netif_tx_response_t rsp;

	CU_ASSERT_FATAL(RING_HAS_UNCONSUMED_RESPONSES(&fe.tx) > 0);
	xen_rmb(); /* the response after the producer that shows it */
	rsp = *RING_GET_RESPONSE(&fe.tx, fe.tx.rsp_cons);
	fe.tx.rsp_cons++;
	return rsp;
}

static void rx_post(uint16_t id, uint64_t gref)
{
	netif_rx_request_t *req;

	req = RING_GET_REQUEST(&fe.rx, fe.rx.req_prod_pvt);
	*req = (netif_rx_request_t){ .id = id, .gref = (grant_ref_t)gref };
	fe.rx.req_prod_pvt++;
	RING_PUSH_REQUESTS(&fe.rx);
}

static netif_rx_response_t rx_take(void)
{
	netif_rx_response_t rsp;

	CU_ASSERT_FATAL(RING_HAS_UNCONSUMED_RESPONSES(&fe.rx) > 0);
	xen_rmb();
	rsp = *RING_GET_RESPONSE(&fe.rx, fe.rx.rsp_cons);
	fe.rx.rsp_cons++;
	return rsp;
}

static struct netback_stats stats(void)
{
	struct netback_stats s;

	netback__get_stats(&vif, &s);
	return s;
}

/* ---- vif__parse ---------------------------------------------------------- */

static void test_parse_good(void)
{
	static const uint8_t def_mac[6] = VIF_DEFAULT_MAC;
	static const uint8_t mac[6] = { 0x02, 0xab, 0xcd, 0xef, 0x01, 0x23 };
	struct vif_config cfg;
	char err[256] = "", text[18];

	CU_ASSERT_EQUAL(vif__parse(&cfg,
				   "mac=02:AB:cd:ef:01:23,ip=10.77.0.10,"
				   "tap=vif0",
				   err, sizeof(err)),
			0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(cfg.host, VIF_HOST_TAP);
	CU_ASSERT(!memcmp(cfg.mac, mac, 6));
	CU_ASSERT_EQUAL(ntohl(cfg.ip.s_addr), 0x0a4d000a);
	CU_ASSERT_STRING_EQUAL(cfg.tap, "vif0");
	CU_ASSERT_STRING_EQUAL(cfg.bridge, "");
	CU_ASSERT_EQUAL(cfg.guest_port, 0);
	vif__format_mac(cfg.mac, text);
	CU_ASSERT_STRING_EQUAL(text, "02:ab:cd:ef:01:23");

	/* tap and bridge; the longest interface names there are. */
	CU_ASSERT_EQUAL(vif__parse(&cfg,
				   "tap=0123456789abcde,bridge=br-0123456789a",
				   err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(cfg.host, VIF_HOST_TAP);
	CU_ASSERT_STRING_EQUAL(cfg.tap, "0123456789abcde");
	CU_ASSERT_STRING_EQUAL(cfg.bridge, "br-0123456789a");
	/* The default MAC, no ip. */
	CU_ASSERT(!memcmp(cfg.mac, def_mac, 6));
	CU_ASSERT_EQUAL(cfg.ip.s_addr, 0);
	vif__format_mac(cfg.mac, text);
	CU_ASSERT_STRING_EQUAL(text, "00:16:3e:70:76:01");
	CU_ASSERT_EQUAL(
	    vif__parse(&cfg, "bridge=br0,tap=vif0", err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(cfg.bridge, "br0");

	/* Loopback: the guest's port defaults to the service's. */
	CU_ASSERT_EQUAL(vif__parse(&cfg, "ip=10.0.2.15,loopback=127.0.0.1:7000",
				   err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(cfg.host, VIF_HOST_LOOPBACK);
	CU_ASSERT_EQUAL(cfg.service.sin_family, AF_INET);
	CU_ASSERT_EQUAL(ntohl(cfg.service.sin_addr.s_addr), 0x7f000001);
	CU_ASSERT_EQUAL(ntohs(cfg.service.sin_port), 7000);
	CU_ASSERT_EQUAL(cfg.guest_port, 7000);
	CU_ASSERT_EQUAL(ntohl(cfg.ip.s_addr), 0x0a00020f);
	CU_ASSERT(!memcmp(cfg.mac, def_mac, 6));
	CU_ASSERT_STRING_EQUAL(cfg.tap, "");

	/* Any 127/8 address; guest-port, before or after. */
	CU_ASSERT_EQUAL(vif__parse(&cfg,
				   "guest-port=9000,ip=10.0.2.15,"
				   "loopback=127.1.2.3:65535",
				   err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(ntohl(cfg.service.sin_addr.s_addr), 0x7f010203);
	CU_ASSERT_EQUAL(ntohs(cfg.service.sin_port), 65535);
	CU_ASSERT_EQUAL(cfg.guest_port, 9000);
	CU_ASSERT_EQUAL(vif__parse(&cfg,
				   "ip=10.0.2.15,loopback=127.0.0.1:1,"
				   "guest-port=65535",
				   err, sizeof(err)),
			0);
	CU_ASSERT_EQUAL(cfg.guest_port, 65535);
	CU_ASSERT_EQUAL(ntohs(cfg.service.sin_port), 1);
}

static const struct {
	const char *spec;
	const char *msg;
} bad_specs[] = {
	{ "tap=vif0,colour=red",
	  "unknown key 'colour' (want mac, ip, tap, bridge, loopback, "
	  "guest-port)" },
	{ "tap=vif0,MAC=02:00:00:00:00:05",
	  "unknown key 'MAC' (want mac, ip, tap, bridge, loopback, "
	  "guest-port)" },
	{ "tap=vif0,mac", "'mac' is not KEY=VALUE" },
	{ "mac=02:00:00:00:00,tap=vif0",
	  "mac '02:00:00:00:00': want a unicast XX:XX:XX:XX:XX:XX" },
	{ "mac=02:00:00:00:00:05:06,tap=vif0",
	  "mac '02:00:00:00:00:05:06': want a unicast XX:XX:XX:XX:XX:XX" },
	{ "mac=02:00:00:00:00:0g,tap=vif0",
	  "mac '02:00:00:00:00:0g': want a unicast XX:XX:XX:XX:XX:XX" },
	{ "mac=02-00-00-00-00-05,tap=vif0",
	  "mac '02-00-00-00-00-05': want a unicast XX:XX:XX:XX:XX:XX" },
	{ "mac=,tap=vif0", "mac '': want a unicast XX:XX:XX:XX:XX:XX" },
	{ "mac=01:00:5e:00:00:01,tap=vif0",
	  "mac '01:00:5e:00:00:01': want a unicast XX:XX:XX:XX:XX:XX" },
	{ "mac=ff:ff:ff:ff:ff:ff,tap=vif0",
	  "mac 'ff:ff:ff:ff:ff:ff': want a unicast XX:XX:XX:XX:XX:XX" },
	{ "ip=10.0.0,tap=vif0", "ip '10.0.0': want an IPv4 address" },
	{ "ip=10.0.0.256,tap=vif0", "ip '10.0.0.256': want an IPv4 address" },
	{ "ip=0.0.0.0,tap=vif0", "ip '0.0.0.0': want an IPv4 address" },
	{ "ip=,tap=vif0", "ip '': want an IPv4 address" },
	{ "ip=10.0.2.15,loopback=10.0.0.1:7000",
	  "loopback '10.0.0.1:7000': want 127.X.Y.Z:PORT" },
	{ "ip=10.0.2.15,loopback=128.0.0.1:7000",
	  "loopback '128.0.0.1:7000': want 127.X.Y.Z:PORT" },
	{ "ip=10.0.2.15,loopback=127.0.0.1",
	  "loopback '127.0.0.1': want 127.X.Y.Z:PORT" },
	{ "ip=10.0.2.15,loopback=127.0.0.1:0",
	  "loopback '127.0.0.1:0': want 127.X.Y.Z:PORT" },
	{ "ip=10.0.2.15,loopback=127.0.0.1:65536",
	  "loopback '127.0.0.1:65536': want 127.X.Y.Z:PORT" },
	{ "ip=10.0.2.15,loopback=127.0.0.1:70x",
	  "loopback '127.0.0.1:70x': want 127.X.Y.Z:PORT" },
	{ "ip=10.0.2.15,loopback=:7000",
	  "loopback ':7000': want 127.X.Y.Z:PORT" },
	{ "ip=10.0.2.15,loopback=localhost:7000",
	  "loopback 'localhost:7000': want 127.X.Y.Z:PORT" },
	{ "ip=10.0.2.15,tap=vif0,loopback=127.0.0.1:7000",
	  "tap= and loopback=: one or the other" },
	{ "ip=10.0.2.15,loopback=127.0.0.1:7000,tap=vif0",
	  "tap= and loopback=: one or the other" },
	{ "bridge=br0", "bridge= needs tap=" },
	{ "ip=10.0.2.15,loopback=127.0.0.1:7000,bridge=br0",
	  "bridge= needs tap=" },
	{ "mac=02:00:00:00:00:05,ip=10.0.0.5",
	  "no host side: want tap=NAME or loopback=127.0.0.1:PORT" },
	{ "", "no host side: want tap=NAME or loopback=127.0.0.1:PORT" },
	{ "guest-port=7000",
	  "no host side: want tap=NAME or loopback=127.0.0.1:PORT" },
	{ "loopback=127.0.0.1:7000", "loopback= needs the guest's ip=" },
	{ "tap=0123456789abcdef",
	  "tap '0123456789abcdef': want an interface name of 1 to 15 "
	  "characters" },
	{ "tap=", "tap '': want an interface name of 1 to 15 characters" },
	{ "tap=a/b",
	  "tap 'a/b': want an interface name of 1 to 15 characters" },
	{ "tap=a b",
	  "tap 'a b': want an interface name of 1 to 15 characters" },
	{ "tap=vif0,bridge=0123456789abcdef",
	  "bridge '0123456789abcdef': want an interface name of 1 to 15 "
	  "characters" },
	{ "ip=10.0.2.15,loopback=127.0.0.1:7000,guest-port=0",
	  "guest-port '0': want 1..65535" },
	{ "ip=10.0.2.15,loopback=127.0.0.1:7000,guest-port=65536",
	  "guest-port '65536': want 1..65535" },
	{ "ip=10.0.2.15,loopback=127.0.0.1:7000,guest-port=",
	  "guest-port '': want 1..65535" },
	{ "ip=10.0.2.15,loopback=127.0.0.1:7000,guest-port=7k",
	  "guest-port '7k': want 1..65535" },
};

static void test_parse_bad(void)
{
	struct vif_config cfg;
	char err[256], small[8];

	for (size_t i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
		memset(err, 0, sizeof(err));
		CU_ASSERT_EQUAL(
		    vif__parse(&cfg, bad_specs[i].spec, err, sizeof(err)), -1);
		if (strcmp(err, bad_specs[i].msg))
			fprintf(stderr,
				"\n  vif__parse('%s'): '%s', want '%s'\n",
				bad_specs[i].spec, err, bad_specs[i].msg);
		CU_ASSERT_STRING_EQUAL(err, bad_specs[i].msg);
	}
	/* A short buffer gets the start of the message, terminated. */
	memset(small, 'x', sizeof(small));
	CU_ASSERT_EQUAL(vif__parse(&cfg, "bridge=br0", small, sizeof(small)),
			-1);
	CU_ASSERT_STRING_EQUAL(small, "bridge=");
}

/*
 * "want a unicast XX:XX:XX:XX:XX:XX" (net.md 1): two hex digits a byte.
 * parse_mac()'s sscanf("%2x") also takes a sign, a "0x" prefix and
 * leading blanks as a byte.
 */
static void test_parse_mac_strict(void)
{
	static const char *const lax[] = {
		"mac=02:00:00:00:00:-1,tap=vif0", /* read as ff */
		"mac=02:00:00:00:00:+5,tap=vif0", /* read as 05 */
		"mac=02:00:00:00:00:0x,tap=vif0", /* read as 00 */
		"mac=02:00:00: 0:00:05,tap=vif0", /* read as 00 */
	};
	struct vif_config cfg;
	char err[256];

	for (size_t i = 0; i < sizeof(lax) / sizeof(lax[0]); i++) {
		int rc = vif__parse(&cfg, lax[i], err, sizeof(err));

		if (rc == 0)
			fprintf(stderr, "\n  vif__parse('%s') took it\n",
				lax[i]);
		CU_ASSERT_EQUAL(rc, -1);
	}
}

/* ---- PVFTOP_vif_info ----------------------------------------------------- */

static void test_info(void)
{
	struct domain *d = fixture__domain();
	struct pvft_vif_info info;

	/* No vif at all. */
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, ARG_GPA), -ENODEV);
	CU_ASSERT_EQUAL(netback__info(NULL, 0, ARG_GPA), -ENODEV);

	d = vif_domain();
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 1, ARG_GPA), -ENODEV);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, ~0ull, ARG_GPA), -ENODEV);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 1ull << 32, ARG_GPA), -ENODEV);
	/* Bad pointers: unmapped, read-only, across the end of memory. */
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, 0), -EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, 0x1000), -EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, PVFT_START_INFO_GPA),
			-EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, MEM_SIZE - 8), -EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, ~0ull - 7), -EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, PVFT_DOORBELL_GPA),
			-EFAULT);
	CU_ASSERT_STRING_EQUAL((char *)d->mem + PVFT_START_INFO_GPA,
			       PVFT_START_INFO_MAGIC);

	/* MAC, MTU; flags and pad written as 0. */
	memset(d->mem + ARG_GPA, 0xaa, 64);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, ARG_GPA), 0);
	memcpy(&info, d->mem + ARG_GPA, sizeof(info));
	CU_ASSERT(!memcmp(info.mac, test_mac, 6));
	CU_ASSERT_EQUAL(info.mtu, PVFT_NET_MTU);
	CU_ASSERT_EQUAL(info.mtu, 1500);
	CU_ASSERT_EQUAL(info.flags, 0);
	CU_ASSERT_EQUAL(info.pad, 0);
	CU_ASSERT_EQUAL(sizeof(info), 16);
	CU_ASSERT_EQUAL(d->mem[ARG_GPA + sizeof(info)], 0xaa);
	/* The last 16 bytes of memory will do. */
	CU_ASSERT_EQUAL(netback__info(&vif, 0, MEM_SIZE - 16), 0);
	CU_ASSERT(!memcmp(d->mem + MEM_SIZE - 16, test_mac, 6));
}

/* ---- PVFTOP_vif_connect -------------------------------------------------- */

static void test_connect_refused(void)
{
	static const uint64_t bad_refs[] = {
		0,
		GREF(PVFT_START_INFO_GPA),
		GREF(PVFT_SHARED_INFO_GPA),
		GREF(PVFT_GUEST_MIN_ADDR) - 1,
		GREF(MEM_SIZE),
		GREF(PVFT_DOORBELL_GPA),
		1ull << 40,
		1ull << 52,
		~0ull,
	};
	struct domain *d = fixture__domain();
	struct evtchn_close cl;
	evtchn_port_t port, self, virq, spare;
	uint64_t tx = GREF(TX_RING_GPA), rx = GREF(RX_RING_GPA);

	/* No vif at all. */
	fe.d = d;
	CU_ASSERT_EQUAL(vif_connect(tx, rx, 2, 0), -ENODEV);

	d = vif_domain();
	port = alloc_unbound(0);
	self = alloc_unbound(DOMID_SELF);
	virq = bind_virq(VIRQ_TIMER);
	/* Freed again: a port nobody holds. */
	spare = alloc_unbound(0);
	cl.port = spare;
	CU_ASSERT_FATAL(evtchn_op(EVTCHNOP_close, &cl, sizeof(cl)) == 0);
	CU_ASSERT_EQUAL(d->evtchn.port[spare].state, EVTCHN_FREE);

	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_connect, 1, ARG_GPA), -ENODEV);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_connect, ~0ull, ARG_GPA), -ENODEV);
	/* The structure itself: a bad pointer. */
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_connect, 0, 0), -EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_connect, 0, MEM_SIZE - 8), -EFAULT);
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_connect, 0, ~0ull - 7), -EFAULT);

	/* Ring references outside [1 MiB, memory). */
	for (size_t i = 0; i < sizeof(bad_refs) / sizeof(bad_refs[0]); i++) {
		CU_ASSERT_EQUAL(vif_connect(bad_refs[i], rx, port, 0), -EFAULT);
		CU_ASSERT_EQUAL(vif_connect(tx, bad_refs[i], port, 0), -EFAULT);
	}
	/* The same page twice. */
	CU_ASSERT_EQUAL(vif_connect(tx, tx, port, 0), -EINVAL);
	/* Ports that are not alloc_unbound for dom 0. */
	CU_ASSERT_EQUAL(vif_connect(tx, rx, 0, 0), -EINVAL);
	CU_ASSERT_EQUAL(vif_connect(tx, rx, spare, 0), -EINVAL);
	CU_ASSERT_EQUAL(vif_connect(tx, rx, 100, 0), -EINVAL);
	CU_ASSERT_EQUAL(vif_connect(tx, rx, virq, 0), -EINVAL);
	CU_ASSERT_EQUAL(vif_connect(tx, rx, self, 0), -EINVAL);
	CU_ASSERT_EQUAL(vif_connect(tx, rx, PVFT_CONSOLE_PORT, 0), -EINVAL);
	CU_ASSERT_EQUAL(vif_connect(tx, rx, PVFT_NR_EVTCHN, 0), -EINVAL);
	CU_ASSERT_EQUAL(vif_connect(tx, rx, ~0u, 0), -EINVAL);
	/* Flags. */
	CU_ASSERT_EQUAL(vif_connect(tx, rx, port, 1), -EINVAL);
	CU_ASSERT_EQUAL(vif_connect(tx, rx, port, 1u << 31), -EINVAL);

	/* Nothing changed on the way. */
	CU_ASSERT(!vif.connected);
	CU_ASSERT_EQUAL(d->evtchn.port[port].state, EVTCHN_UNBOUND);
	CU_ASSERT_EQUAL(d->evtchn.port[self].state, EVTCHN_UNBOUND);
	CU_ASSERT_EQUAL(d->evtchn.port[virq].state, EVTCHN_VIRQ);
	CU_ASSERT_EQUAL(d->evtchn.port[spare].state, EVTCHN_FREE);
	CU_ASSERT_EQUAL(d->evtchn.port[PVFT_CONSOLE_PORT].state, EVTCHN_HV);
	CU_ASSERT_EQUAL(netback__rx_slots(&vif), 0);
	CU_ASSERT(!netback__can_wake(&vif));

	/* The good port, after all that. */
	CU_ASSERT_EQUAL(vif_connect(tx, rx, port, 0), 0);
	CU_ASSERT_EQUAL(d->evtchn.port[port].state, EVTCHN_HV);
}

static void test_connect(void)
{
	struct domain *d = vif_domain();
	struct evtchn_status st;
	evtchn_port_t port = alloc_unbound(0), other;
	uint64_t last = GREF(LAST_PAGE_GPA);

	/* The last page of memory is a good ring page. */
	SHARED_RING_INIT((netif_rx_sring_t *)domain__gpa(d, LAST_PAGE_GPA));
	CU_ASSERT_EQUAL(vif_connect(GREF(TX_RING_GPA), last, port, 0), 0);
	CU_ASSERT(vif.connected);
	CU_ASSERT_EQUAL(vif.port, port);
	CU_ASSERT_EQUAL(d->evtchn.port[port].state, EVTCHN_HV);
	CU_ASSERT_PTR_EQUAL(vif.tx.sring, fe.txs);
	CU_ASSERT_PTR_EQUAL(vif.rx.sring, domain__gpa(d, LAST_PAGE_GPA));
	CU_ASSERT_EQUAL(RING_SIZE(&vif.tx), 256);
	CU_ASSERT_EQUAL(RING_SIZE(&vif.rx), 256);
	/* EVTCHNOP_status: bound to dom 0's device, like the console. */
	st = (struct evtchn_status){ .dom = DOMID_SELF, .port = port };
	CU_ASSERT_EQUAL(evtchn_op(EVTCHNOP_status, &st, sizeof(st)), 0);
	CU_ASSERT_EQUAL(st.status, EVTCHNSTAT_interdomain);
	CU_ASSERT_EQUAL(st.u.interdomain.dom, 0);
	/* No rx buffer posted yet: no frame can wake it. */
	CU_ASSERT(!netback__can_wake(&vif));

	/* Once only; a second try changes nothing. */
	other = alloc_unbound(0);
	CU_ASSERT_EQUAL(
	    vif_connect(GREF(TX_RING_GPA), GREF(RX_RING_GPA), other, 0),
	    -EBUSY);
	CU_ASSERT_EQUAL(vif_connect(GREF(TX_RING_GPA), last, port, 0), -EBUSY);
	CU_ASSERT_EQUAL(d->evtchn.port[other].state, EVTCHN_UNBOUND);
	CU_ASSERT_EQUAL(vif.port, port);
	CU_ASSERT_PTR_EQUAL(vif.rx.sring, domain__gpa(d, LAST_PAGE_GPA));
	/* Info still answers. */
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, ARG_GPA), 0);
}

/* ---- tx ------------------------------------------------------------------ */

static void test_tx_good(void)
{
	vif_up();
	struct netback_stats s;
	netif_tx_response_t rsp;

	/* Nothing posted: nothing happens. */
	netback__tx(&vif);
	CU_ASSERT_EQUAL(fe.txs->rsp_prod, 0);

	/* The smallest, a small and the largest frame, ending the page. */
	tx_good(0, 7, PVFT_NET_FRAME_MIN);
	put_frame(TX_BUF_GPA + PVFT_PAGE_SIZE + 100, 60, 8);
	tx_post(GREF(TX_BUF_GPA) + 1, 100, 0, 8, 60);
	put_frame(TX_BUF_GPA + 3 * PVFT_PAGE_SIZE - PVFT_NET_FRAME_MAX,
		  PVFT_NET_FRAME_MAX, 9);
	tx_post(GREF(TX_BUF_GPA) + 2, PVFT_PAGE_SIZE - PVFT_NET_FRAME_MAX, 0, 9,
		PVFT_NET_FRAME_MAX);
	/* The last page of memory. */
	put_frame(LAST_PAGE_GPA, 42, 10);
	tx_post(GREF(LAST_PAGE_GPA), 0, 0, 0xffff, 42);
	netback__tx(&vif);

	CU_ASSERT_EQUAL(fe.txs->rsp_prod, 4);
	CU_ASSERT_EQUAL(vif.tx.req_cons, 4);
	rsp = tx_take();
	CU_ASSERT_EQUAL(rsp.id, 7);
	CU_ASSERT_EQUAL(rsp.status, NETIF_RSP_OKAY);
	rsp = tx_take();
	CU_ASSERT_EQUAL(rsp.id, 8);
	CU_ASSERT_EQUAL(rsp.status, NETIF_RSP_OKAY);
	rsp = tx_take();
	CU_ASSERT_EQUAL(rsp.id, 9);
	CU_ASSERT_EQUAL(rsp.status, NETIF_RSP_OKAY);
	rsp = tx_take();
	CU_ASSERT_EQUAL(rsp.id, 0xffff);
	CU_ASSERT_EQUAL(rsp.status, NETIF_RSP_OKAY);
	CU_ASSERT_EQUAL(RING_HAS_UNCONSUMED_RESPONSES(&fe.tx), 0);

	s = stats();
	CU_ASSERT_EQUAL(s.tx_frames, 4);
	CU_ASSERT_EQUAL(s.tx_bytes,
			PVFT_NET_FRAME_MIN + 60 + PVFT_NET_FRAME_MAX + 42);
	CU_ASSERT_EQUAL(s.tx_errors, 0);
	/* VIF_HOST_NONE sends nothing and drops nothing. */
	CU_ASSERT_EQUAL(s.host_dropped, 0);
	CU_ASSERT_EQUAL(s.rx_frames, 0);
	CU_ASSERT_EQUAL(vif.vbatch.n, 0);

	/* Again: nothing is answered twice. */
	netback__tx(&vif);
	CU_ASSERT_EQUAL(fe.txs->rsp_prod, 4);
	CU_ASSERT_EQUAL(stats().tx_frames, 4);
}

/* A whole ring of requests, exactly RING_SIZE ahead: all served. */
static void test_tx_full_ring(void)
{
	vif_up();
	unsigned int n = RING_SIZE(&fe.tx);

	for (int round = 0; round < 3; round++) {
		for (unsigned int i = 0; i < n; i++)
			tx_good(i % 4, (uint16_t)(round * n + i), 60);
		CU_ASSERT(RING_FULL(&fe.tx));
		netback__tx(&vif);
		CU_ASSERT(vif.connected);
		for (unsigned int i = 0; i < n; i++) {
			netif_tx_response_t rsp = tx_take();

			CU_ASSERT_EQUAL(rsp.id, round * n + i);
			CU_ASSERT_EQUAL(rsp.status, NETIF_RSP_OKAY);
		}
	}
	CU_ASSERT_EQUAL(stats().tx_frames, 3 * n);
	CU_ASSERT_EQUAL(stats().tx_errors, 0);
}

static void test_tx_bad(void)
{
	static const struct {
		uint64_t gref;
		uint16_t offset, flags, size;
	} bad[] = {
		{ 0, 0, 0, 60 },
		{ GREF(PVFT_START_INFO_GPA), 0, 0, 60 },
		{ GREF(PVFT_SHARED_INFO_GPA), 0, 0, 60 },
		{ GREF(PVFT_GUEST_MIN_ADDR) - 1, 0, 0, 60 },
		{ GREF(MEM_SIZE), 0, 0, 60 },
		{ 0xffffffffu, 0, 0, 60 },
		{ GREF(TX_BUF_GPA), 4000, 0, 97 },
		{ GREF(TX_BUF_GPA), 4095, 0, PVFT_NET_FRAME_MIN },
		{ GREF(TX_BUF_GPA), 0xffff, 0, 60 },
		{ GREF(TX_BUF_GPA), 0, 0, 0 },
		{ GREF(TX_BUF_GPA), 0, 0, PVFT_NET_FRAME_MIN - 1 },
		{ GREF(TX_BUF_GPA), 0, 0, PVFT_NET_FRAME_MAX + 1 },
		{ GREF(TX_BUF_GPA), 0, 0, 0xffff },
		{ GREF(TX_BUF_GPA), 0, NETTXF_more_data, 60 },
		{ GREF(TX_BUF_GPA), 0, NETTXF_extra_info, 60 },
		{ GREF(TX_BUF_GPA), 0, NETTXF_more_data | NETTXF_extra_info,
		  60 },
		/* The ring pages are no frame buffers. */
		{ GREF(TX_RING_GPA), 0, 0, 60 },
		{ GREF(RX_RING_GPA), 0, 0, 60 },
	};
	size_t n = sizeof(bad) / sizeof(bad[0]);
	struct domain *d = vif_up();
	struct netback_stats s;
	netif_tx_response_t rsp;

	put_frame(TX_BUF_GPA, 200, 1);
	for (size_t i = 0; i < n; i++)
		tx_post(bad[i].gref, bad[i].offset, bad[i].flags,
			(uint16_t)(100 + i), bad[i].size);
	/* Flags the hv ignores do not make a good request bad. */
	tx_post(GREF(TX_BUF_GPA), 0, NETTXF_csum_blank | NETTXF_data_validated,
		99, 60);
	netback__tx(&vif);

	for (size_t i = 0; i < n; i++) {
		rsp = tx_take();
		CU_ASSERT_EQUAL(rsp.id, 100 + i);
		if (rsp.status != NETIF_RSP_ERROR)
			fprintf(stderr, "\n  bad tx request %zu: status %d\n",
				i, rsp.status);
		CU_ASSERT_EQUAL(rsp.status, NETIF_RSP_ERROR);
	}
	rsp = tx_take();
	CU_ASSERT_EQUAL(rsp.id, 99);
	CU_ASSERT_EQUAL(rsp.status, NETIF_RSP_OKAY);
	s = stats();
	CU_ASSERT_EQUAL(s.tx_errors, n);
	CU_ASSERT_EQUAL(s.tx_frames, 1);
	CU_ASSERT_EQUAL(s.tx_bytes, 60);
	/* Bad requests cost the guest nothing else. */
	CU_ASSERT(vif.connected);
	CU_ASSERT_STRING_EQUAL((char *)d->mem + PVFT_START_INFO_GPA,
			       PVFT_START_INFO_MAGIC);
}

/* ring.h's hold-off: the hv raises the port only when the front asked. */
static void test_tx_notify(void)
{
	struct domain *d = vif_up();
	int more;

	/* SHARED_RING_INIT asks for the first response. */
	CU_ASSERT_EQUAL(fe.txs->rsp_event, 1);
	CU_ASSERT(!pending(fe.port));
	tx_good(0, 1, 60);
	netback__tx(&vif);
	CU_ASSERT(pending(fe.port));
	CU_ASSERT(domain__shared_info(d)->vcpu_info[0].evtchn_upcall_pending);
	/* After each pass the hv asks for a notify on the next request. */
	CU_ASSERT_EQUAL(fe.txs->req_event, vif.tx.req_cons + 1);
	CU_ASSERT_EQUAL(fe.txs->req_event, 2);

	/* The front has not asked again: no event. */
	clear_pending(fe.port);
	CU_ASSERT(tx_post(GREF(TX_BUF_GPA), 0, 0, 2, 60));
	netback__tx(&vif);
	CU_ASSERT(!pending(fe.port));
	CU_ASSERT_EQUAL(fe.txs->rsp_prod, 2);
	CU_ASSERT_EQUAL(fe.txs->req_event, 3);

	/* It takes both responses and asks for the next one. */
	tx_take();
	tx_take();
	RING_FINAL_CHECK_FOR_RESPONSES(&fe.tx, more);
	CU_ASSERT(!more);
	CU_ASSERT_EQUAL(fe.txs->rsp_event, 3);
	tx_good(0, 3, 60);
	netback__tx(&vif);
	CU_ASSERT(pending(fe.port));
	clear_pending(fe.port);

	/* It asks only from the third response on: two go by unannounced. */
	tx_take();
	fe.txs->rsp_event = fe.tx.rsp_cons + 3;
	tx_good(0, 4, 60);
	tx_good(0, 5, 60);
	netback__tx(&vif);
	CU_ASSERT(!pending(fe.port));
	tx_good(0, 6, 60);
	netback__tx(&vif);
	CU_ASSERT(pending(fe.port));
	clear_pending(fe.port);

	/* A pass with nothing to do raises nothing and re-arms req_event. */
	fe.txs->req_event = 0;
	netback__tx(&vif);
	CU_ASSERT(!pending(fe.port));
	CU_ASSERT_EQUAL(fe.txs->req_event, vif.tx.req_cons + 1);
	/* So the front's next request says "notify". */
	CU_ASSERT(tx_post(GREF(TX_BUF_GPA), 0, 0, 7, 60));
	/* A masked port: pending, but no upcall. */
	set_mask(fe.port, true);
	fe.txs->rsp_event = fe.txs->rsp_prod + 1;
	netback__tx(&vif);
	CU_ASSERT(pending(fe.port));
	CU_ASSERT(!domain__shared_info(d)->vcpu_info[0].evtchn_upcall_pending);
	CU_ASSERT_EQUAL(stats().tx_frames, 7);
}

/* Requests the guest posts after a pass are seen by the next one. */
static void test_tx_requests_between_passes(void)
{
	vif_up();

	tx_good(0, 1, 60);
	netback__tx(&vif);
	tx_good(1, 2, 61);
	tx_good(2, 3, 62);
	netback__tx(&vif);
	CU_ASSERT_EQUAL(fe.txs->rsp_prod, 3);
	CU_ASSERT_EQUAL(tx_take().id, 1);
	CU_ASSERT_EQUAL(tx_take().id, 2);
	CU_ASSERT_EQUAL(tx_take().id, 3);
	CU_ASSERT_EQUAL(stats().tx_bytes, 60 + 61 + 62);
}

/* What every test of a broken vif checks: it is gone, and quietly. */
static void check_disconnected(struct domain *d, RING_IDX tx_rsp,
			       RING_IDX rx_rsp)
{
	struct netback_stats before = stats(), after;
	struct pvft_vif_info info;
	uint8_t frame[60] = { 0 };
	evtchn_port_t other;

	CU_ASSERT(!vif.connected);
	CU_ASSERT(vif.broken);
	clear_pending(fe.port);

	/* Later calls do nothing, whatever the rings hold now. */
	fe.txs->req_prod = vif.tx.req_cons + 1;
	fe.rxs->req_prod = vif.rx.req_cons + 1;
	netback__tx(&vif);
	CU_ASSERT_EQUAL(netback__rx_slots(&vif), 0);
	CU_ASSERT(!netback__rx_room(&vif));
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), -ENODEV);
	netback__rx_push(&vif);
	CU_ASSERT(!netback__can_wake(&vif));
	CU_ASSERT_EQUAL(fe.txs->rsp_prod, tx_rsp);
	CU_ASSERT_EQUAL(fe.rxs->rsp_prod, rx_rsp);
	CU_ASSERT(!pending(fe.port));
	after = stats();
	CU_ASSERT(!memcmp(&before, &after, sizeof(after)));

	/* Info still answers; there is no second connect. */
	CU_ASSERT_EQUAL(PVFT_HC(PVFTOP_vif_info, 0, ARG_GPA), 0);
	memcpy(&info, d->mem + ARG_GPA, sizeof(info));
	CU_ASSERT(!memcmp(info.mac, test_mac, 6));
	other = alloc_unbound(0);
	CU_ASSERT_EQUAL(
	    vif_connect(GREF(TX_RING_GPA), GREF(RX_RING_GPA), other, 0),
	    -EBUSY);
	CU_ASSERT_EQUAL(d->evtchn.port[other].state, EVTCHN_UNBOUND);
	/* The domain goes on. */
	CU_ASSERT(!d->shut_down);
}

static void test_tx_hostile_producer(void)
{
	struct domain *d = vif_up();

	/* One good pass first. */
	tx_good(0, 1, 60);
	netback__tx(&vif);
	CU_ASSERT_EQUAL(fe.txs->rsp_prod, 1);
	/* Then RING_SIZE + 1 past the hv's consumer. */
	fe.txs->req_prod = vif.tx.req_cons + RING_SIZE(&vif.tx) + 1;
	netback__tx(&vif);
	CU_ASSERT_EQUAL(fe.txs->rsp_prod, 1);
	CU_ASSERT_EQUAL(stats().tx_frames, 1);
	CU_ASSERT_EQUAL(stats().tx_errors, 0);
	check_disconnected(d, 1, 0);
}

/* A producer behind the consumer is as far ahead as it gets. */
static void test_tx_producer_behind(void)
{
	struct domain *d = vif_up();

	tx_good(0, 1, 60);
	tx_good(0, 2, 60);
	netback__tx(&vif);
	fe.txs->req_prod = 1;
	netback__tx(&vif);
	check_disconnected(d, 2, 0);
}

/* ---- rx ------------------------------------------------------------------ */

static const uint8_t *rx_buf(unsigned int n)
{
	return fe.d->mem + RX_BUF_GPA + n * PVFT_PAGE_SIZE;
}

static void test_rx_put(void)
{
	struct domain *d = vif_up();
	uint8_t frame[PVFT_NET_FRAME_MAX];
	netif_rx_response_t rsp;
	struct netback_stats s;

	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 13 + 5);
	memset(d->mem + RX_BUF_GPA, 0xee, 4 * PVFT_PAGE_SIZE);

	/* No buffer posted. */
	CU_ASSERT_EQUAL(netback__rx_slots(&vif), 0);
	CU_ASSERT(!netback__rx_room(&vif));
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, 60), -ENOSPC);
	CU_ASSERT_EQUAL(vif.rx.rsp_prod_pvt, 0);

	rx_post(11, GREF(RX_BUF_GPA));
	rx_post(12, GREF(RX_BUF_GPA) + 1);
	rx_post(13, GREF(RX_BUF_GPA) + 2);
	CU_ASSERT_EQUAL(netback__rx_slots(&vif), 3);
	CU_ASSERT(netback__rx_room(&vif));

	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, 60), 0);
	CU_ASSERT_EQUAL(netback__rx_slots(&vif), 2);
	CU_ASSERT(!memcmp(rx_buf(0), frame, 60));
	CU_ASSERT_EQUAL(rx_buf(0)[60], 0xee);
	/* Not the guest's until pushed. */
	CU_ASSERT_EQUAL(fe.rxs->rsp_prod, 0);

	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, PVFT_NET_FRAME_MAX), 0);
	CU_ASSERT(!memcmp(rx_buf(1), frame, PVFT_NET_FRAME_MAX));
	CU_ASSERT_EQUAL(rx_buf(1)[PVFT_NET_FRAME_MAX], 0xee);
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame + 1, PVFT_NET_FRAME_MIN),
			0);
	CU_ASSERT(!memcmp(rx_buf(2), frame + 1, PVFT_NET_FRAME_MIN));
	CU_ASSERT_EQUAL(rx_buf(2)[PVFT_NET_FRAME_MIN], 0xee);
	CU_ASSERT_EQUAL(netback__rx_slots(&vif), 0);
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, 60), -ENOSPC);
	CU_ASSERT_EQUAL(rx_buf(3)[0], 0xee);

	netback__rx_push(&vif);
	CU_ASSERT_EQUAL(fe.rxs->rsp_prod, 3);
	rsp = rx_take();
	CU_ASSERT_EQUAL(rsp.id, 11);
	CU_ASSERT_EQUAL(rsp.offset, 0);
	CU_ASSERT_EQUAL(rsp.flags, 0);
	CU_ASSERT_EQUAL(rsp.status, 60);
	rsp = rx_take();
	CU_ASSERT_EQUAL(rsp.id, 12);
	CU_ASSERT_EQUAL(rsp.offset, 0);
	CU_ASSERT_EQUAL(rsp.flags, 0);
	CU_ASSERT_EQUAL(rsp.status, PVFT_NET_FRAME_MAX);
	rsp = rx_take();
	CU_ASSERT_EQUAL(rsp.id, 13);
	CU_ASSERT_EQUAL(rsp.status, PVFT_NET_FRAME_MIN);

	s = stats();
	CU_ASSERT_EQUAL(s.rx_frames, 3);
	CU_ASSERT_EQUAL(s.rx_bytes,
			60 + PVFT_NET_FRAME_MAX + PVFT_NET_FRAME_MIN);
	CU_ASSERT_EQUAL(s.tx_frames, 0);
}

/* The whole ring, three times round: indexes wrap inside the page. */
static void test_rx_full_ring(void)
{
	struct domain *d = vif_up();
	unsigned int n = RING_SIZE(&fe.rx);
	uint8_t frame[64];

	(void)d;
	for (int round = 0; round < 3; round++) {
		for (unsigned int i = 0; i < n; i++)
			rx_post((uint16_t)i, GREF(RX_BUF_GPA) + i % 4);
		CU_ASSERT_EQUAL(netback__rx_slots(&vif), n);
		for (unsigned int i = 0; i < n; i++) {
			memset(frame, (int)i, sizeof(frame));
			CU_ASSERT_EQUAL(
			    netback__rx_put(&vif, frame, sizeof(frame)), 0);
		}
		CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)),
				-ENOSPC);
		netback__rx_push(&vif);
		for (unsigned int i = 0; i < n; i++) {
			netif_rx_response_t rsp = rx_take();

			CU_ASSERT_EQUAL(rsp.id, i);
			CU_ASSERT_EQUAL(rsp.status, (int)sizeof(frame));
		}
		CU_ASSERT(vif.connected);
	}
	CU_ASSERT_EQUAL(stats().rx_frames, 3 * n);
}

static void test_rx_bad_buffer(void)
{
	static const uint64_t bad[] = {
		0,
		GREF(PVFT_START_INFO_GPA),
		GREF(PVFT_SHARED_INFO_GPA),
		/* A frame over a ring page would move its indices. */
		GREF(TX_RING_GPA),
		GREF(RX_RING_GPA),
		GREF(PVFT_GUEST_MIN_ADDR) - 1,
		GREF(MEM_SIZE),
		0xffffffffu,
	};
	size_t n = sizeof(bad) / sizeof(bad[0]);
	struct domain *d = vif_up();
	static uint8_t low[PVFT_GUEST_MIN_ADDR];
	uint8_t frame[60];
	netif_rx_response_t rsp;

	memset(frame, 0x5c, sizeof(frame));
	memcpy(low, d->mem, sizeof(low));
	for (size_t i = 0; i < n; i++)
		rx_post((uint16_t)(20 + i), bad[i]);
	rx_post(99, GREF(RX_BUF_GPA));
	for (size_t i = 0; i <= n; i++)
		CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	/* Nothing below 1 MiB was written. */
	CU_ASSERT(!memcmp(low, d->mem, sizeof(low)));
	netback__rx_push(&vif);

	for (size_t i = 0; i < n; i++) {
		rsp = rx_take();
		CU_ASSERT_EQUAL(rsp.id, 20 + i);
		CU_ASSERT_EQUAL(rsp.offset, 0);
		CU_ASSERT_EQUAL(rsp.status, NETIF_RSP_ERROR);
	}
	/* The buffers after a bad one are still served. */
	rsp = rx_take();
	CU_ASSERT_EQUAL(rsp.id, 99);
	CU_ASSERT_EQUAL(rsp.status, (int)sizeof(frame));
	CU_ASSERT(!memcmp(rx_buf(0), frame, sizeof(frame)));
	CU_ASSERT_EQUAL(stats().rx_frames, 1);
	CU_ASSERT_EQUAL(stats().rx_bytes, sizeof(frame));
	CU_ASSERT(vif.connected);
}

static void test_rx_push_notify(void)
{
	struct domain *d = vif_up();
	uint8_t frame[60] = { 0 };
	int more;

	(void)d;
	for (uint16_t i = 0; i < 8; i++)
		rx_post(i, GREF(RX_BUF_GPA) + i % 4);

	/* Nothing put: a push does nothing. */
	netback__rx_push(&vif);
	CU_ASSERT(!pending(fe.port));
	CU_ASSERT_EQUAL(fe.rxs->rsp_prod, 0);

	/* Puts never raise the port; the push raises it once for them. */
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	CU_ASSERT(!pending(fe.port));
	netback__rx_push(&vif);
	CU_ASSERT(pending(fe.port));
	CU_ASSERT_EQUAL(fe.rxs->rsp_prod, 2);
	clear_pending(fe.port);
	/* Nothing new: no event. */
	netback__rx_push(&vif);
	CU_ASSERT(!pending(fe.port));

	/* The guest has not asked again (rsp_event is still 1). */
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	netback__rx_push(&vif);
	CU_ASSERT(!pending(fe.port));
	CU_ASSERT_EQUAL(fe.rxs->rsp_prod, 3);

	/* It takes them all and asks. */
	for (int i = 0; i < 3; i++)
		rx_take();
	RING_FINAL_CHECK_FOR_RESPONSES(&fe.rx, more);
	CU_ASSERT(!more);
	CU_ASSERT_EQUAL(fe.rxs->rsp_event, 4);
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	netback__rx_push(&vif);
	CU_ASSERT(pending(fe.port));
	clear_pending(fe.port);

	/* Asked from two responses on: a batch that reaches it raises. */
	rx_take();
	rx_take();
	fe.rxs->rsp_event = fe.rx.rsp_cons + 2;
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	netback__rx_push(&vif);
	CU_ASSERT(!pending(fe.port));
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	netback__rx_push(&vif);
	CU_ASSERT(pending(fe.port));
	CU_ASSERT_EQUAL(fe.rxs->rsp_prod, 8);
}

static void test_rx_hostile_producer(void)
{
	struct domain *d = vif_up();
	uint8_t frame[60] = { 0 };

	rx_post(1, GREF(RX_BUF_GPA));
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	netback__rx_push(&vif);
	clear_pending(fe.port);
	/* Exactly a ring ahead is a full ring: fine. */
	fe.rxs->req_prod = vif.rx.req_cons + RING_SIZE(&vif.rx);
	CU_ASSERT_EQUAL(netback__rx_slots(&vif), RING_SIZE(&vif.rx));
	CU_ASSERT(vif.connected);
	/* One more is not. */
	fe.rxs->req_prod++;
	CU_ASSERT_EQUAL(netback__rx_slots(&vif), 0);
	CU_ASSERT_EQUAL(fe.rxs->rsp_prod, 1);
	check_disconnected(d, 0, 1);
}

/*
 * The tx pass checks the rx ring too, at every exit: a replay looks at rx
 * only where the log has frames, so only this keeps both replicas
 * disconnecting at the same exit.
 */
static void test_tx_pass_checks_rx(void)
{
	vif_up();

	fe.rxs->req_prod = vif.rx.req_cons + RING_SIZE(&vif.rx) + 1;
	netback__tx(&vif);
	CU_ASSERT(!vif.connected);
	CU_ASSERT(vif.broken);
}

/* rx_put checks the ring itself too (a replay calls it directly). */
static void test_rx_hostile_producer_put(void)
{
	struct domain *d = vif_up();
	uint8_t frame[60] = { 0 };

	memset(d->mem + RX_BUF_GPA, 0xee, PVFT_PAGE_SIZE);
	fe.rxs->req_prod = RING_SIZE(&vif.rx) + 1;
	CU_ASSERT_NOT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	CU_ASSERT_EQUAL(rx_buf(0)[0], 0xee);
	CU_ASSERT_EQUAL(vif.rx.rsp_prod_pvt, 0);
	check_disconnected(d, 0, 0);
}

/* ---- can_wake ------------------------------------------------------------ */

static void test_can_wake(void)
{
	struct domain *d = vif_domain();

	(void)d;
	CU_ASSERT(!netback__can_wake(NULL));
	CU_ASSERT(!netback__can_wake(&vif));
	fe.port = alloc_unbound(0);
	CU_ASSERT(!netback__can_wake(&vif));
	CU_ASSERT_FATAL(
	    vif_connect(GREF(TX_RING_GPA), GREF(RX_RING_GPA), fe.port, 0) == 0);
	/* Frames wake a guest only into buffers it posted. */
	CU_ASSERT(!netback__can_wake(&vif));
	rx_post(1, GREF(RX_BUF_GPA));
	CU_ASSERT(netback__can_wake(&vif));
	set_mask(fe.port, true);
	CU_ASSERT(!netback__can_wake(&vif));
	set_mask(fe.port, false);
	CU_ASSERT(netback__can_wake(&vif));
	/* Another port masked is no matter. */
	set_mask(PVFT_CONSOLE_PORT, true);
	CU_ASSERT(netback__can_wake(&vif));
}

/*
 * EVTCHNOP_close takes the vif's port (any port in use), and the guest may
 * then get that number again for something else. The vif must not raise
 * a port it no longer holds: evtchn.c keeps a closed port from looking
 * pending to its next owner, and the console (gate.c announce_console,
 * sched.c can_be_woken) checks that its port is still EVTCHN_HV.
 */
static void test_closed_port(void)
{
	struct domain *d = vif_up();
	struct evtchn_close cl = { .port = fe.port };
	uint8_t frame[60] = { 0 };
	evtchn_port_t timer;

	CU_ASSERT_EQUAL(evtchn_op(EVTCHNOP_close, &cl, sizeof(cl)), 0);
	CU_ASSERT_EQUAL(d->evtchn.port[fe.port].state, EVTCHN_FREE);
	/* A response now must not make the free port pending. */
	tx_good(0, 1, 60);
	netback__tx(&vif);
	CU_ASSERT_EQUAL(tx_take().status, NETIF_RSP_OKAY);
	CU_ASSERT(!pending(fe.port));
	clear_pending(fe.port);

	/* The lowest free port is the vif's old one: now VIRQ_TIMER's. */
	timer = bind_virq(VIRQ_TIMER);
	CU_ASSERT_EQUAL(timer, fe.port);
	CU_ASSERT(!netback__can_wake(&vif));
	fe.txs->rsp_event = fe.tx.rsp_cons + 1;
	tx_good(0, 2, 60);
	netback__tx(&vif);
	CU_ASSERT_EQUAL(tx_take().status, NETIF_RSP_OKAY);
	CU_ASSERT(!pending(timer));
	rx_post(1, GREF(RX_BUF_GPA));
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	netback__rx_push(&vif);
	CU_ASSERT(!pending(timer));
}

/*
 * The device's save/restore hooks: what a restored vif needs to go on
 * where it stood (rings, port, indices), and nothing it could not hold.
 */
static void test_save_restore(void)
{
	struct domain *d = vif_up();
	const struct device_ops *ops = vif.dev.ops;
	uint8_t frame[PVFT_NET_FRAME_MIN], state[DEVICE_SAVE_MAX], bad[256];
	netif_rx_response_t rsp;
	struct netback saved;
	long n;

	memset(frame, 0x5a, sizeof(frame));
	rx_post(1, GREF(RX_BUF_GPA));
	rx_post(2, GREF(RX_BUF_GPA) + 1);
	tx_good(0, 7, 100);
	netback__tx(&vif);
	CU_ASSERT_EQUAL(tx_take().id, 7);
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	netback__rx_push(&vif);
	CU_ASSERT_EQUAL(rx_take().id, 1);

	CU_ASSERT_EQUAL(ops->save(d, &vif.dev, state, 8), -ENOSPC);
	n = ops->save(d, &vif.dev, state, sizeof(state));
	CU_ASSERT_FATAL(n > 0);
	saved = vif;
	/* As a freshly probed vif: nothing connected. */
	memset(&vif.tx, 0, sizeof(vif.tx));
	memset(&vif.rx, 0, sizeof(vif.rx));
	vif.connected = false;
	vif.port = 0;
	vif.tx_ref = vif.rx_ref = 0;
	CU_ASSERT_EQUAL(ops->restore(d, &vif.dev, state, n), 0);
	CU_ASSERT(vif.connected);
	CU_ASSERT_EQUAL(vif.port, saved.port);
	CU_ASSERT_EQUAL(vif.tx_ref, saved.tx_ref);
	CU_ASSERT_EQUAL(vif.rx_ref, saved.rx_ref);
	CU_ASSERT_EQUAL(vif.tx.req_cons, saved.tx.req_cons);
	CU_ASSERT_EQUAL(vif.tx.rsp_prod_pvt, saved.tx.rsp_prod_pvt);
	CU_ASSERT_EQUAL(vif.rx.req_cons, saved.rx.req_cons);
	CU_ASSERT_EQUAL(vif.rx.rsp_prod_pvt, saved.rx.rsp_prod_pvt);
	CU_ASSERT(vif.tx.sring == saved.tx.sring);
	CU_ASSERT(vif.rx.sring == saved.rx.sring);
	/* It goes on where it was: the second rx buffer, the next tx slot. */
	CU_ASSERT_EQUAL(netback__rx_slots(&vif), 1);
	CU_ASSERT_EQUAL(netback__rx_put(&vif, frame, sizeof(frame)), 0);
	netback__rx_push(&vif);
	rsp = rx_take();
	CU_ASSERT_EQUAL(rsp.id, 2);
	CU_ASSERT_EQUAL(rsp.status, (int16_t)sizeof(frame));
	tx_good(1, 8, 80);
	netback__tx(&vif);
	CU_ASSERT_EQUAL(tx_take().id, 8);

	/* Refused, each leaving the vif as it was. */
	CU_ASSERT_EQUAL(ops->restore(d, &vif.dev, state, n - 1), -EINVAL);
	memcpy(bad, state, n);
	bad[0] ^= 1; /* another MAC */
	CU_ASSERT_EQUAL(ops->restore(d, &vif.dev, bad, n), -EINVAL);
	memcpy(bad, state, n);
	bad[7] = 1; /* connected and broken */
	CU_ASSERT_EQUAL(ops->restore(d, &vif.dev, bad, n), -EINVAL);
	memcpy(bad, state, n);
	memset(bad + 16, 0, 8); /* tx ring at frame 0: not the guest's */
	CU_ASSERT_EQUAL(ops->restore(d, &vif.dev, bad, n), -EINVAL);
	memcpy(bad, state, n);
	memset(bad + 12, 0, 4); /* port 0: none */
	CU_ASSERT_EQUAL(ops->restore(d, &vif.dev, bad, n), -EINVAL);
	memcpy(bad, state, n);
	bad[36] += 1; /* a tx response the guest never asked for */
	CU_ASSERT_EQUAL(ops->restore(d, &vif.dev, bad, n), -EINVAL);
	memcpy(bad, state, n);
	bad[40] += 1; /* an rx request taken but... */
	bad[43] += 1; /* ... more than a ring ahead of its responses */
	CU_ASSERT_EQUAL(ops->restore(d, &vif.dev, bad, n), -EINVAL);
	CU_ASSERT(vif.connected);
	CU_ASSERT_EQUAL(vif.port, saved.port);
}

static CU_TestInfo parse_tests[] = {
	{ "vif__parse good specs", test_parse_good },
	{ "vif__parse bad specs and their messages", test_parse_bad },
	{ "vif__parse takes only hex byte MACs", test_parse_mac_strict },
	CU_TEST_INFO_NULL,
};

/* ---- the loopback host side ------------------------------------------- */

#define LO_GUEST_IP "10.0.2.15"

static int udp_socket(struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t l = sizeof(*sa);

	*sa = (struct sockaddr_in){ .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)sa, sizeof(*sa)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)sa, &l) == 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO,
		   &(struct timeval){ .tv_sec = 2 }, sizeof(struct timeval));
	return fd;
}

static uint16_t csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* What the guest sends: Ethernet, IPv4, UDP from @sport to @dst. */
static size_t guest_udp(uint8_t *f, const struct sockaddr_in *dst,
			uint16_t sport, const char *payload)
{
	static const uint8_t gw[6] = VIF_LOOPBACK_MAC;
	size_t n = strlen(payload), ulen = 8 + n;
	uint8_t *ip = f + 14, *udp = ip + 20;
	uint16_t c;

	memset(f, 0, 14 + 20 + ulen);
	memcpy(f, gw, 6);
	memcpy(f + 6, test_mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + ulen) >> 8);
	ip[3] = (uint8_t)(20 + ulen);
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, LO_GUEST_IP, ip + 12);
	memcpy(ip + 16, &dst->sin_addr, 4);
	c = csum(ip, 20, 0);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	memcpy(udp + 2, &dst->sin_port, 2);
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	memcpy(udp + 8, payload, n);
	return 14 + 20 + ulen;
}

/*
 * The loopback side forwards a guest's UDP replies only from its service
 * port, only to 127/8, and only to clients it gave the guest a datagram
 * from (so a guest cannot reach other local services); each refusal is
 * counted. A client's datagram reaches the guest as the frame of its own
 * address and port.
 */
static void test_loopback_forward(void)
{
	struct vif_config cfg = { .host = VIF_HOST_LOOPBACK };
	struct sockaddr_in svc, cli, other;
	int cfd, ofd, sfd;
	struct domain *d;
	struct netback_frame f;
	uint8_t frame[128], buf[64];
	uint16_t port;
	uint64_t dropped;
	size_t n;

	/* A free port for the service: bind one, give it back. */
	sfd = udp_socket(&svc);
	port = ntohs(svc.sin_port);
	close(sfd);
	cfg.service = svc;
	cfg.guest_port = port;
	inet_pton(AF_INET, LO_GUEST_IP, &cfg.ip);
	d = vif_domain_with(&cfg);
	CU_ASSERT_FATAL(netback__start(&vif) == 0);
	fe.port = alloc_unbound(0);
	CU_ASSERT_FATAL(
	    vif_connect(GREF(TX_RING_GPA), GREF(RX_RING_GPA), fe.port, 0) == 0);
	cfd = udp_socket(&cli);
	ofd = udp_socket(&other);

	/* A client the guest never heard from gets nothing. */
	n = guest_udp(frame, &cli, port, "hi");
	netback__frame_out(&vif, frame, n);
	netback__frame_flush(&vif);
	CU_ASSERT_EQUAL(stats().host_dropped, 1);
	CU_ASSERT(recv(cfd, buf, sizeof(buf), MSG_DONTWAIT) < 0);

	/* Its datagram: the guest sees its address and port. */
	CU_ASSERT_FATAL(sendto(cfd, "req", 3, 0, (struct sockaddr *)&svc,
			       sizeof(svc)) == 3);
	rx_post(1, GREF(RX_BUF_GPA));
	for (int i = 0; i < 200 && !netback__rx_fetch(&vif, &f, 1); i++)
		usleep(5000);
	CU_ASSERT_FATAL(f.len == 14 + 20 + 8 + 3);
	CU_ASSERT(!memcmp(f.data, test_mac, 6));
	CU_ASSERT(!memcmp(f.data + 14 + 12, &cli.sin_addr, 4));
	CU_ASSERT(!memcmp(f.data + 14 + 20, &cli.sin_port, 2));
	CU_ASSERT_EQUAL(f.data[14 + 20 + 2] << 8 | f.data[14 + 20 + 3], port);
	CU_ASSERT(!memcmp(f.data + 14 + 28, "req", 3));
	CU_ASSERT_EQUAL(csum(f.data + 14, 20, 0), 0);
	CU_ASSERT_EQUAL(netback__rx_put(&vif, f.data, f.len), 0);

	/* Now the reply goes out, from the service address. */
	netback__frame_out(&vif, frame, n);
	netback__frame_flush(&vif);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(recv(cfd, buf, sizeof(buf), 0), 2);
	CU_ASSERT(!memcmp(buf, "hi", 2));
	dropped = stats().host_dropped;

	/* Not from the service port, to another local port, truncated. */
	n = guest_udp(frame, &cli, port + 1, "x");
	netback__frame_out(&vif, frame, n);
	n = guest_udp(frame, &other, port, "x");
	netback__frame_out(&vif, frame, n);
	n = guest_udp(frame, &cli, port, "x");
	netback__frame_out(&vif, frame, n - 2);
	frame[14 + 20 + 5] = 200; /* a UDP length past the datagram */
	netback__frame_out(&vif, frame, n);
	netback__frame_flush(&vif);
	CU_ASSERT_EQUAL(stats().host_dropped, dropped + 4);
	CU_ASSERT(recv(cfd, buf, sizeof(buf), MSG_DONTWAIT) < 0);
	CU_ASSERT(recv(ofd, buf, sizeof(buf), MSG_DONTWAIT) < 0);
	close(cfd);
	close(ofd);
	(void)d;
}

static CU_TestInfo netback_tests[] = {
	{ "vif_info", test_info },
	{ "vif_connect refusals", test_connect_refused },
	{ "vif_connect", test_connect },
	{ "tx good requests", test_tx_good },
	{ "tx a full ring, wrapping", test_tx_full_ring },
	{ "tx bad requests", test_tx_bad },
	{ "tx notification hold-off", test_tx_notify },
	{ "tx requests between passes", test_tx_requests_between_passes },
	{ "tx producer a ring ahead disconnects", test_tx_hostile_producer },
	{ "tx producer behind disconnects", test_tx_producer_behind },
	{ "rx put and push", test_rx_put },
	{ "rx a full ring, wrapping", test_rx_full_ring },
	{ "rx bad buffer", test_rx_bad_buffer },
	{ "rx push notification hold-off", test_rx_push_notify },
	{ "rx producer a ring ahead disconnects", test_rx_hostile_producer },
	{ "rx_put on a hostile producer", test_rx_hostile_producer_put },
	{ "a tx pass checks the rx ring", test_tx_pass_checks_rx },
	{ "loopback: forwards only to known clients", test_loopback_forward },
	{ "can_wake", test_can_wake },
	{ "a closed vif port is not raised", test_closed_port },
	{ "device save and restore", test_save_restore },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo netback_suites[] = {
	{ "vif__parse", NULL, NULL, NULL, NULL, parse_tests },
	{ "netback", NULL, NULL, fixture__setup, netback_teardown,
	  netback_tests },
	CU_SUITE_INFO_NULL,
};

void test_netback__register(void)
{
	CU_register_suites(netback_suites);
}
