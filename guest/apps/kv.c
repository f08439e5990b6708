// SPDX-License-Identifier: MIT
/*
 * kv: a UDP key-value service with exactly-once replies (pvft/kv.h), the
 * network guest of the fault-tolerance demo. The store and the protocol
 * are kvstore.c; this file wires them to the stack (net.c) and the vif
 * (netfront.c) and runs the loop.
 *
 * Exits cost ~40 us each, so the loop works in batches: take every frame
 * that arrived, answer them all, publish the replies without a notify
 * and block; the block is the one exit that carries the replies out and
 * brings the next frames in.
 *
 * cmdline: ip=A.B.C.D/PREFIX (required), gw=A.B.C.D (next hop off the
 * subnet), port=N (default KV_DEFAULT_PORT), keys=N (default 16384)
 * distinct keys, clients=N (default 4096) remembered clients,
 * requests=N: power off once N requests (or a few more: the rest of the
 * batch) have been answered; default: serve forever.
 * Console: one line at start, one at the end; nothing per request.
 */
#include "cmdline.h"
#include "console.h"
#include "errno.h"
#include "hypervisor.h"
#include "kvstore.h"
#include "lib.h"
#include "mm.h"
#include "net.h"
#include "netfront.h"
#include "time.h"

#define KV_DEFAULT_KEYS 16384
#define KV_DEFAULT_CLIENTS 4096

struct kv_app {
	struct netfront nf;
	struct net net;
	struct kvstore store;
	struct timer tick_timer; /* ARP retransmissions, while needed */
	bool tick_due;
	uint8_t reply[KV_REP_MAX];
};

static struct kv_app app;

static int kv_tx(void *opaque, const void *frame, size_t len)
{
	struct kv_app *a = opaque;
	int rc = netfront_send(&a->nf, frame, len);

	if (rc != -EAGAIN)
		return rc;
	/* Every tx buffer is with the hv: one exit hands them over. */
	netfront_flush(&a->nf, true);
	poll_events();
	return netfront_send(&a->nf, frame, len);
}

static void kv_datagram(void *opaque, uint32_t src_ip, uint16_t src_port,
			uint16_t dst_port, const uint8_t *payload, size_t len)
{
	struct kv_app *a = opaque;
	size_t n = kvstore__handle(&a->store, payload, len, a->reply);

	/* A reply that cannot go out is counted by the stack; the client
	 * retries and gets the cached one. */
	if (n)
		net__udp_send(&a->net, src_ip, src_port, dst_port, a->reply, n);
}

static void kv_frame(void *opaque, const uint8_t *frame, size_t len)
{
	struct kv_app *a = opaque;

	net__input(&a->net, frame, len);
}

static void kv_tick(struct timer *t, void *data)
{
	struct kv_app *a = data;

	(void)t;
	a->tick_due = true;
}

/* Serve until @limit requests were answered (0: forever); 0 or -errno. */
static int serve(struct kv_app *a, unsigned long limit)
{
	for (;;) {
		int n = netfront_poll(&a->nf, kv_frame, a);

		if (n < 0)
			return n;
		if (a->tick_due) {
			a->tick_due = false;
			net__tick(&a->net);
		}
		if (net__needs_tick(&a->net) && !timer_pending(&a->tick_timer))
			add_timer(&a->tick_timer,
				  NOW() + MILLISECS(NET_TICK_MS));
		if (limit && a->store.stats.requests >= limit)
			return 0;
		netfront_flush(&a->nf, true);
		/* An event during the batch: there may be more already. */
		if (!a->nf.pending && !a->tick_due)
			block_domain(INT64_MAX);
	}
}

static void print_summary(const struct kv_app *a)
{
	const struct kvstore_stats *s = &a->store.stats;
	const struct net_stats *ns = &a->net.stats;

	printf("kv: %lu requests (%lu applied, %lu retries, %lu stale, "
	       "%lu bad), %u keys, %lu clients evicted; frames rx %lu "
	       "(%lu malformed), tx %lu (%lu errors)\n",
	       s->requests, s->applied, s->retries, s->stale, s->bad,
	       a->store.nr_keys, s->evictions, ns->rx_frames, ns->rx_malformed,
	       ns->tx_frames, ns->tx_errors + a->nf.tx_errors);
}

int app_main(const char *cmdline)
{
	struct kv_app *a = &app;
	struct net_config cfg = { 0 };
	unsigned long port, keys, clients, limit;
	size_t mem_size;
	void *mem;
	int rc;

	port = cmdline_get_ulong(cmdline, "port", KV_DEFAULT_PORT);
	keys = cmdline_get_ulong(cmdline, "keys", KV_DEFAULT_KEYS);
	clients = cmdline_get_ulong(cmdline, "clients", KV_DEFAULT_CLIENTS);
	limit = cmdline_get_ulong(cmdline, "requests", 0);
	rc = net__parse_config(cmdline, &cfg);
	if (rc) {
		printf("kv: want ip=A.B.C.D/PREFIX and optionally gw=A.B.C.D "
		       "on that subnet (error %d)\n",
		       rc);
		return 1;
	}
	if (port < 1 || port > 0xffff) {
		printf("kv: bad port=%lu\n", port);
		return 1;
	}
	mem_size = keys <= KVSTORE_MAX_ENTRIES && clients <= KVSTORE_MAX_ENTRIES
		       ? kvstore__mem_size(keys, clients)
		       : 0;
	mem = mem_size ? malloc(mem_size) : NULL;
	if (!mem ||
	    kvstore__init(&a->store, mem, mem_size, keys, clients) != 0) {
		printf("kv: cannot hold keys=%lu clients=%lu (%zu bytes)\n",
		       keys, clients, mem_size);
		return 1;
	}

	rc = netfront_init(&a->nf);
	if (rc) {
		printf("kv: no network interface: error %d\n", rc);
		return 1;
	}
	memcpy(cfg.mac, a->nf.mac, sizeof(cfg.mac));
	rc = net__init(&a->net, &cfg, kv_tx, a);
	if (!rc)
		rc = net__udp_bind(&a->net, (uint16_t)port, kv_datagram, a);
	if (rc) {
		printf("kv: network setup: error %d\n", rc);
		return 1;
	}
	init_timer(&a->tick_timer, kv_tick, a);
	net__announce(&a->net);
	printf("kv: listening on " NET_IP_FMT ":%lu mac " NET_MAC_FMT "\n",
	       NET_IP_ARGS(cfg.ip), port, NET_MAC_ARGS(a->nf.mac));

	rc = serve(a, limit);
	if (rc) {
		printf("kv: the vif broke the ring protocol (error %d)\n", rc);
		return 1;
	}
	/* The last replies must leave before the domain does. */
	rc = netfront_drain(&a->nf);
	print_summary(a);
	if (rc) {
		printf("kv: replies still queued at exit (error %d)\n", rc);
		return 1;
	}
	return 0;
}
