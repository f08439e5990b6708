// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the guest's network code, built for the host as the
 * unit tests build it: the IPv4 stack (guest/net.c) and the kv service
 * (guest/kvstore.c), wired as guest/apps/kv.c wires them, on bytes a peer
 * chooses. An input is a frame, or several separated by FRAME_SEP (so
 * that ARP can teach a next hop and a request can be retried, read back
 * or made stale), for one fresh stack and store. Each frame:
 *   1. goes to net__input(), in a buffer of exactly its size;
 *   2. goes again with its IPv4, ICMP and UDP checksums made right (a
 *      mutated byte almost always breaks one, which would leave
 *      everything behind the check unexplored); if they were right, this
 *      is a retransmission;
 *   3. if its length is odd, every next hop still being resolved answers
 *      the ARP request, so that the packets queued for it leave;
 *   4. is a kv request handed straight to kvstore__handle(), twice.
 * At the end the ARP timer runs out.
 * Checked: net__input() returns 0 or a documented -errno; every frame the
 * stack sends is 14..1514 bytes, from our MAC and address, well formed,
 * with correct checksums and lengths that agree; every kv reply is at
 * most KV_REP_MAX bytes and well formed, and a retry of a request gets
 * the very same reply. A violation traps, as ASan and UBSan reports do.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvstore.h"
#include "net.h"

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
/* As tests/fuzz/run.sh's seeds and tests/unit/test_net.c have them. */
#define OUR_IP IP(10, 0, 0, 5)
#define GW_IP IP(10, 0, 0, 1)
#define KV_PORT KV_DEFAULT_PORT
/* Small, so that a key table fills and clients are forgotten. */
#define KV_KEYS 4
#define KV_CLIENTS 2
/* Between two frames of an input; at most FRAMES_MAX frames are used. */
#define FRAME_SEP "\xfeNXT"
#define FRAME_SEP_LEN 4
#define FRAMES_MAX 32

static const uint8_t our_mac[NETCODEC_ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x05 };
static const uint8_t hop_mac[NETCODEC_ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x77 };

static struct net net;
static struct kvstore kv;
static void *kv_mem;
static size_t kv_mem_size;
static unsigned long frames_sent;

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* A frame the stack sends: everything about it is ours to get right. */
static int check_tx(void *opaque, const void *buf, size_t len)
{
	const uint8_t *f = buf;
	struct netcodec_eth eth;

	CHECK(opaque == &net);
	CHECK(len >= NETCODEC_ETH_HLEN && len <= NETCODEC_FRAME_MAX);
	CHECK(!netcodec__parse_eth(f, len, &eth));
	CHECK(!memcmp(eth.src, our_mac, NETCODEC_ETH_ALEN));
	if (eth.type == NETCODEC_ETHERTYPE_ARP) {
		struct netcodec_arp arp;

		CHECK(eth.len == NETCODEC_ARP_LEN);
		CHECK(!netcodec__parse_arp(eth.payload, eth.len, &arp));
		CHECK(!memcmp(arp.sha, our_mac, NETCODEC_ETH_ALEN));
		CHECK(arp.spa == OUR_IP);
	} else {
		struct netcodec_ipv4 ip;

		CHECK(eth.type == NETCODEC_ETHERTYPE_IPV4);
		CHECK(!netcodec__parse_ipv4(eth.payload, eth.len, &ip, 0));
		/* No options, no padding: the lengths agree exactly. */
		CHECK(eth.payload[0] == 0x45);
		CHECK(NETCODEC_IP_HLEN + ip.len == eth.len);
		CHECK(ip.src == OUR_IP && ip.ttl == NETCODEC_IP_TTL);
		if (ip.proto == NETCODEC_IPPROTO_UDP) {
			struct netcodec_udp udp;

			CHECK(!netcodec__parse_udp(&ip, &udp, 0));
			CHECK(NETCODEC_UDP_HLEN + udp.len == ip.len);
			CHECK(udp.src_port == KV_PORT);
			CHECK(udp.len <= KV_REP_MAX);
		} else {
			struct netcodec_icmp icmp;

			CHECK(ip.proto == NETCODEC_IPPROTO_ICMP);
			CHECK(!netcodec__parse_icmp(&ip, &icmp));
			CHECK(icmp.type == NETCODEC_ICMP_ECHO_REPLY);
		}
	}
	frames_sent++;
	return 0;
}

/* A reply to @req (@req_len bytes) of @len bytes at @rep. */
static void check_reply(const uint8_t *req, size_t req_len, const uint8_t *rep,
			size_t len)
{
	if (!len)
		return;
	CHECK(len >= KV_REP_HDR && len <= KV_REP_MAX);
	CHECK(req_len >= KV_REQ_HDR);
	CHECK(get_le16(rep + KV_MAGIC_OFF) == KV_MAGIC);
	CHECK(rep[KV_VERSION_OFF] == KV_VERSION);
	CHECK(get_le64(rep + KV_CLIENT_OFF) == get_le64(req + KV_CLIENT_OFF));
	CHECK(get_le64(rep + KV_REQ_OFF) == get_le64(req + KV_REQ_OFF));
	CHECK(rep[KV_STATUS_OFF] <= KV_FULL && rep[KV_STATUS_OFF + 1] == 0);
	CHECK(KV_REP_HDR + (size_t)get_le16(rep + KV_RVALLEN_OFF) == len);
}

/*
 * kvstore__handle() on @len bytes, in a buffer of exactly that size, then
 * again: a retry. Both replies go into buffers of exactly KV_REP_MAX.
 */
static size_t kv_serve(const uint8_t *buf, size_t len, uint8_t **rep_r)
{
	uint8_t *req = malloc(len ? len : 1);
	uint8_t *rep = malloc(KV_REP_MAX), *again = malloc(KV_REP_MAX);
	struct kvstore_stats before;
	size_t n, m;

	CHECK(req && rep && again);
	memcpy(req, buf, len);
	n = kvstore__handle(&kv, req, len, rep);
	check_reply(req, len, rep, n);
	before = kv.stats;
	m = kvstore__handle(&kv, req, len, again);
	CHECK(m == n && !memcmp(rep, again, n));
	/* The retry was answered, not applied again. */
	CHECK(kv.stats.applied == before.applied);
	CHECK(kv.nr_keys <= KV_KEYS && kv.nr_clients <= KV_CLIENTS);
	free(req);
	free(again);
	*rep_r = rep;
	return n;
}

/* guest/apps/kv.c's kv_datagram(), with the checks. */
static void kv_datagram(void *opaque, uint32_t src_ip, uint16_t src_port,
			uint16_t dst_port, const uint8_t *payload, size_t len)
{
	uint8_t *rep;
	size_t n;

	CHECK(opaque == &kv);
	CHECK(dst_port == KV_PORT);
	CHECK(len <= NETCODEC_UDP_PAYLOAD_MAX);
	n = kv_serve(payload, len, &rep);
	if (n)
		net__udp_send(&net, src_ip, src_port, dst_port, rep, n);
	free(rep);
}

static void reset(void)
{
	struct net_config cfg = { .ip = OUR_IP, .prefix = 24, .gw = GW_IP };

	memcpy(cfg.mac, our_mac, NETCODEC_ETH_ALEN);
	CHECK(!net__init(&net, &cfg, check_tx, &net));
	CHECK(!net__udp_bind(&net, KV_PORT, kv_datagram, &kv));
	/* As kv.c starts: a gratuitous ARP request, checked as any frame. */
	frames_sent = 0;
	CHECK(!net__announce(&net));
	CHECK(frames_sent == 1);
	memset(kv_mem, 0, kv_mem_size);
	CHECK(!kvstore__init(&kv, kv_mem, kv_mem_size, KV_KEYS, KV_CLIENTS));
}

static void input(const uint8_t *frame, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	unsigned long rx = net.stats.rx_frames;
	int rc;

	CHECK(copy);
	memcpy(copy, frame, len);
	rc = net__input(&net, copy, len);
	CHECK(rc == 0 || rc == -EBADMSG || rc == -EADDRNOTAVAIL ||
	      rc == -ECONNREFUSED || rc == -EOPNOTSUPP || rc == -EMSGSIZE);
	CHECK(net.stats.rx_frames == rx + 1);
	free(copy);
}

/* The IPv4 header's checksum, and the ICMP or UDP one, made right. */
static void fix_checksums(uint8_t *f, size_t len)
{
	uint8_t *ip = f + NETCODEC_ETH_HLEN, *l4;
	size_t hlen, total, l4_len, ulen;
	uint16_t csum;

	if (len < NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN ||
	    netcodec__get16(f + 2 * NETCODEC_ETH_ALEN) !=
		NETCODEC_ETHERTYPE_IPV4)
		return;
	hlen = (ip[0] & 0xfu) * 4;
	total = netcodec__get16(ip + 2);
	if (hlen < NETCODEC_IP_HLEN || hlen > total ||
	    NETCODEC_ETH_HLEN + total > len)
		return;
	netcodec__put16(ip + 10, 0);
	netcodec__put16(ip + 10, netcodec__csum(ip, hlen));
	l4 = ip + hlen;
	l4_len = total - hlen;
	if (ip[9] == NETCODEC_IPPROTO_ICMP && l4_len >= NETCODEC_ICMP_HLEN) {
		netcodec__put16(l4 + 2, 0);
		netcodec__put16(l4 + 2, netcodec__csum(l4, l4_len));
	} else if (ip[9] == NETCODEC_IPPROTO_UDP &&
		   l4_len >= NETCODEC_UDP_HLEN) {
		ulen = netcodec__get16(l4 + 4);
		/* 0: no checksum, which is worth exploring too. */
		if (ulen < NETCODEC_UDP_HLEN || ulen > l4_len ||
		    !netcodec__get16(l4 + 6))
			return;
		netcodec__put16(l4 + 6, 0);
		csum = netcodec__csum_fold(netcodec__csum_add(
		    netcodec__csum_pseudo(netcodec__get32(ip + 12),
					  netcodec__get32(ip + 16),
					  NETCODEC_IPPROTO_UDP, (uint16_t)ulen),
		    l4, ulen));
		netcodec__put16(l4 + 6, csum ? csum : 0xffff);
	}
}

/* Every next hop being resolved answers: queued packets leave. */
static void answer_arp(void)
{
	uint8_t f[NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN];

	for (size_t i = 0; i < NET_ARP_ENTRIES; i++) {
		const struct net_arp_entry *e = &net.arp[i];

		if (e->state != NET_ARP_PENDING)
			continue;
		netcodec__build_eth(f, our_mac, hop_mac,
				    NETCODEC_ETHERTYPE_ARP);
		netcodec__build_arp(f + NETCODEC_ETH_HLEN, NETCODEC_ARP_REPLY,
				    hop_mac, e->ip, our_mac, OUR_IP);
		input(f, sizeof(f));
		CHECK(e->state == NET_ARP_VALID && !e->queued_len);
	}
}

static void one_frame(const uint8_t *data, size_t size)
{
	uint8_t *fixed = malloc(size ? size : 1), *rep;

	CHECK(fixed);
	input(data, size);
	memcpy(fixed, data, size);
	fix_checksums(fixed, size);
	input(fixed, size);
	free(fixed);
	if (size % 2)
		answer_arp();
	kv_serve(data, size, &rep);
	free(rep);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	kv_mem_size = kvstore__mem_size(KV_KEYS, KV_CLIENTS);
	kv_mem = malloc(kv_mem_size);
	if (!kv_mem_size || !kv_mem)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size;

	reset();
	for (int i = 0; i < FRAMES_MAX && data <= end; i++) {
		const uint8_t *sep = memmem(data, (size_t)(end - data),
					    FRAME_SEP, FRAME_SEP_LEN);
		size_t len = (size_t)((sep ? sep : end) - data);

		one_frame(data, len);
		if (!sep)
			break;
		data = sep + FRAME_SEP_LEN;
	}
	/* What still waits for ARP is dropped after NET_ARP_TRIES requests. */
	for (int i = 0; i < NET_ARP_TRIES && net__needs_tick(&net); i++)
		net__tick(&net);
	CHECK(!net__needs_tick(&net));
	/* check_tx() took every frame, and there is always a route. */
	CHECK(net.stats.tx_frames == frames_sent && !net.stats.tx_errors);
	return 0;
}
