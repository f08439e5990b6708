// SPDX-License-Identifier: MIT
/*
 * The guest's IPv4 stack (guest/net.c), built for the host: checksums
 * against known vectors, the builders against hand-written frames, ARP,
 * ICMP echo, UDP delivery and sending, and hostile input: every
 * truncation of valid frames and random mutations, each in a buffer of
 * exactly its length so that ASan catches any read past the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "net.h"
#include "unit.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define OUR_IP IP(10, 0, 0, 5)
#define PEER_IP IP(10, 0, 0, 2)
#define GW_IP IP(10, 0, 0, 1)
#define MAX_SENT 16

static const uint8_t our_mac[6] = { 0x02, 0, 0, 0, 0, 0x05 };
static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t gw_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/*
 * 10.0.0.2:40000 -> 10.0.0.5:7000 "hello", IP id 0x1234, DF, TTL 64;
 * checksums computed independently (Python).
 */
static const uint8_t udp_frame[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x05, 0x02, 0x00, 0x00, 0x00,
	0x00, 0x02, 0x08, 0x00, /* IPv4 */
	0x45, 0x00, 0x00, 0x21, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11,
	0x14, 0x92, 0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x05, /* UDP */
	0x9c, 0x40, 0x1b, 0x58, 0x00, 0x0d, 0xf0, 0x62, 'h',  'e',
	'l',  'l',  'o',
};
#define UDP_FRAME_IP_OFF NETCODEC_ETH_HLEN
#define UDP_FRAME_UDP_OFF (NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN)

static struct net net;
static struct {
	uint8_t frame[MAX_SENT][NETCODEC_FRAME_MAX];
	size_t len[MAX_SENT];
	unsigned int n;
	int rc; /* what the tx callback answers */
} sent;
static struct {
	unsigned int n;
	uint32_t src_ip;
	uint16_t src_port, dst_port;
	uint8_t payload[NETCODEC_FRAME_MAX];
	size_t len;
} got;

static int tx(void *opaque, const void *frame, size_t len)
{
	CU_ASSERT_PTR_EQUAL(opaque, &sent);
	CU_ASSERT_TRUE_FATAL(len <= NETCODEC_FRAME_MAX);
	if (sent.rc)
		return sent.rc;
	if (sent.n < MAX_SENT) {
		memcpy(sent.frame[sent.n], frame, len);
		sent.len[sent.n] = len;
	}
	sent.n++;
	return 0;
}

static void udp_rx(void *opaque, uint32_t src_ip, uint16_t src_port,
		   uint16_t dst_port, const uint8_t *payload, size_t len)
{
	CU_ASSERT_PTR_EQUAL(opaque, &got);
	got.n++;
	got.src_ip = src_ip;
	got.src_port = src_port;
	got.dst_port = dst_port;
	got.len = len;
	memcpy(got.payload, payload, len);
}

static void setup(void)
{
	struct net_config cfg = { .ip = OUR_IP, .prefix = 24, .gw = GW_IP };

	memcpy(cfg.mac, our_mac, 6);
	memset(&sent, 0, sizeof(sent));
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL_FATAL(net__init(&net, &cfg, tx, &sent), 0);
	CU_ASSERT_EQUAL_FATAL(net__udp_bind(&net, 7000, udp_rx, &got), 0);
}

/* Hand @len bytes to net__input() in a buffer of exactly that size. */
static int input_exact(const uint8_t *frame, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	memcpy(copy, frame, len);
	rc = net__input(&net, copy, len);
	free(copy);
	return rc;
}

/* A frame whose IPv4 header (at NETCODEC_ETH_HLEN) gets a fresh checksum. */
static void fix_ip_csum(uint8_t *frame)
{
	uint8_t *ip = frame + NETCODEC_ETH_HLEN;

	netcodec__put16(ip + 10, 0);
	netcodec__put16(ip + 10, netcodec__csum(ip, (ip[0] & 0xf) * 4u));
}

static void arp_frame(uint8_t *f, const uint8_t *eth_dst, uint16_t op,
		      const uint8_t *sha, uint32_t spa, const uint8_t *tha,
		      uint32_t tpa)
{
	netcodec__build_eth(f, eth_dst, sha, NETCODEC_ETHERTYPE_ARP);
	netcodec__build_arp(f + NETCODEC_ETH_HLEN, op, sha, spa, tha, tpa);
}

static const uint8_t zero_mac[6];

/* The peer's ARP reply, so that sends to it need no request. */
static void learn_peer(void)
{
	uint8_t f[NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN];

	arp_frame(f, our_mac, NETCODEC_ARP_REPLY, peer_mac, PEER_IP, our_mac,
		  OUR_IP);
	CU_ASSERT_EQUAL(net__input(&net, f, sizeof(f)), 0);
}

static void test_csum_vectors(void)
{
	/* RFC 1071 section 3's example: sum ddf2, checksum 220d. */
	static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03,
				       0xf4, 0xf5, 0xf6, 0xf7 };
	/* A classic IPv4 header with its checksum field zero: b861. */
	static const uint8_t iphdr[] = { 0x45, 0x00, 0x00, 0x73, 0x00,
					 0x00, 0x40, 0x00, 0x40, 0x11,
					 0x00, 0x00, 0xc0, 0xa8, 0x00,
					 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
	static const uint8_t odd[] = { 0x01 };
	uint8_t hdr[sizeof(iphdr)];

	CU_ASSERT_EQUAL((uint16_t)~netcodec__csum(rfc, sizeof(rfc)), 0xddf2);
	CU_ASSERT_EQUAL(netcodec__csum(rfc, sizeof(rfc)), 0x220d);
	CU_ASSERT_EQUAL(netcodec__csum(iphdr, sizeof(iphdr)), 0xb861);
	/* An odd length pads with a zero byte. */
	CU_ASSERT_EQUAL(netcodec__csum(odd, 1), 0xfeff);
	CU_ASSERT_EQUAL(netcodec__csum(odd, 0), 0xffff);
	/* In pieces, as the UDP checksum sums pseudo-header and datagram. */
	CU_ASSERT_EQUAL(netcodec__csum_fold(netcodec__csum_add(
			    netcodec__csum_add(0, rfc, 4), rfc + 4, 4)),
			0x220d);
	/* A header holding its own checksum sums to 0. */
	memcpy(hdr, iphdr, sizeof(hdr));
	netcodec__put16(hdr + 10, 0xb861);
	CU_ASSERT_EQUAL(netcodec__csum(hdr, sizeof(hdr)), 0);
	/* Carries out of 32 bits still fold right. */
	CU_ASSERT_EQUAL(
	    netcodec__csum_fold(netcodec__csum_add(0xffffffffu, rfc, 8)),
	    netcodec__csum_fold(0xffff + 0xddf2));
}

static void test_builders(void)
{
	uint8_t f[NETCODEC_FRAME_MAX];

	CU_ASSERT_EQUAL(
	    netcodec__build_eth(f, our_mac, peer_mac, NETCODEC_ETHERTYPE_IPV4),
	    NETCODEC_ETH_HLEN);
	memcpy(f + UDP_FRAME_UDP_OFF + NETCODEC_UDP_HLEN, "hello", 5);
	CU_ASSERT_EQUAL(netcodec__build_udp(f + UDP_FRAME_UDP_OFF, PEER_IP,
					    OUR_IP, 40000, 7000, 5),
			NETCODEC_UDP_HLEN);
	CU_ASSERT_EQUAL(netcodec__build_ipv4(f + UDP_FRAME_IP_OFF, PEER_IP,
					     OUR_IP, NETCODEC_IPPROTO_UDP,
					     0x1234, NETCODEC_UDP_HLEN + 5),
			NETCODEC_IP_HLEN);
	CU_ASSERT_EQUAL(memcmp(f, udp_frame, sizeof(udp_frame)), 0);
}

static void test_udp_csum_zero_is_ffff(void)
{
	uint8_t p[NETCODEC_UDP_HLEN + 2] = { 0 };
	uint16_t fold;

	/* Find a payload whose checksum computes to 0: sent as ffff. */
	for (unsigned int v = 0; v <= 0xffff; v++) {
		netcodec__put16(p + NETCODEC_UDP_HLEN, (uint16_t)v);
		netcodec__put16(p + 6, 0);
		netcodec__put16(p, 1);
		netcodec__put16(p + 2, 2);
		netcodec__put16(p + 4, sizeof(p));
		fold = netcodec__csum_fold(netcodec__csum_add(
		    netcodec__csum_pseudo(1, 2, NETCODEC_IPPROTO_UDP,
					  sizeof(p)),
		    p, sizeof(p)));
		if (fold == 0) {
			netcodec__build_udp(p, 1, 2, 1, 2, 2);
			CU_ASSERT_EQUAL(netcodec__get16(p + 6), 0xffff);
			return;
		}
	}
	CU_FAIL("no payload has a zero checksum");
}

static void test_parse_ip(void)
{
	uint32_t ip;

	CU_ASSERT_EQUAL(net__parse_ip("10.0.0.5", 8, &ip), 0);
	CU_ASSERT_EQUAL(ip, OUR_IP);
	CU_ASSERT_EQUAL(net__parse_ip("255.255.255.255", 15, &ip), 0);
	CU_ASSERT_EQUAL(ip, 0xffffffffu);
	/* Only the given length counts. */
	CU_ASSERT_EQUAL(net__parse_ip("10.0.0.5/24", 8, &ip), 0);
	CU_ASSERT_EQUAL(ip, OUR_IP);
	CU_ASSERT_EQUAL(net__parse_ip("10.0.0.50", 8, &ip), 0);
	CU_ASSERT_EQUAL(ip, OUR_IP);
	CU_ASSERT_EQUAL(net__parse_ip("10.0.0.", 7, &ip), -EINVAL);
	CU_ASSERT_EQUAL(net__parse_ip("10.0.0", 6, &ip), -EINVAL);
	CU_ASSERT_EQUAL(net__parse_ip("10.0.0.256", 10, &ip), -EINVAL);
	CU_ASSERT_EQUAL(net__parse_ip("10.0.0.1.2", 10, &ip), -EINVAL);
	CU_ASSERT_EQUAL(net__parse_ip("1000.0.0.1", 10, &ip), -EINVAL);
	CU_ASSERT_EQUAL(net__parse_ip("10..0.1", 7, &ip), -EINVAL);
	CU_ASSERT_EQUAL(net__parse_ip("a.b.c.d", 7, &ip), -EINVAL);
	CU_ASSERT_EQUAL(net__parse_ip("", 0, &ip), -EINVAL);
}

static void test_parse_config(void)
{
	static const char *const bad[] = {
		"ip=10.0.0.5",
		"ip=10.0.0.5/",
		"ip=10.0.0.5/0",
		"ip=10.0.0.5/33",
		"ip=10.0.0.5/244",
		"ip=10.0.0.5/2x",
		"ip=10.0.0/24",
		"ip=/24",
		"ip=",
		"ip",
		"ip=10.0.0.0/24",
		"ip=10.0.0.255/24",
		"ip=0.1.2.3/8",
		"ip=224.0.0.1/24",
		"ip=10.0.0.5/24 gw=",
		"ip=10.0.0.5/24 gw=10.0.1.1",
		"ip=10.0.0.5/24 gw=10.0.0.5",
		"ip=10.0.0.5/24 gw=x",
	};
	struct net_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	CU_ASSERT_EQUAL(
	    net__parse_config("port=7 ip=10.0.0.5/24 gw=10.0.0.1", &cfg), 0);
	CU_ASSERT_EQUAL(cfg.ip, OUR_IP);
	CU_ASSERT_EQUAL(cfg.prefix, 24);
	CU_ASSERT_EQUAL(cfg.gw, GW_IP);
	CU_ASSERT_EQUAL(net__parse_config("ip=192.168.1.7/32", &cfg), 0);
	CU_ASSERT_EQUAL(cfg.prefix, 32);
	CU_ASSERT_EQUAL(cfg.gw, 0);
	/* A /31 has no network or broadcast address to keep clear of. */
	CU_ASSERT_EQUAL(net__parse_config("ip=10.0.0.0/31", &cfg), 0);
	CU_ASSERT_EQUAL(net__parse_config("port=7", &cfg), -ENOENT);
	CU_ASSERT_EQUAL(net__parse_config("", &cfg), -ENOENT);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(net__parse_config(bad[i], &cfg), -EINVAL);
}

static void test_init_refuses(void)
{
	struct net_config cfg = { .ip = OUR_IP, .prefix = 24 };

	cfg.mac[0] = 0x01; /* multicast */
	CU_ASSERT_EQUAL(net__init(&net, &cfg, tx, &sent), -EINVAL);
	cfg.mac[0] = 0x02;
	cfg.prefix = 0;
	CU_ASSERT_EQUAL(net__init(&net, &cfg, tx, &sent), -EINVAL);
	cfg.prefix = 24;
	cfg.gw = IP(10, 0, 1, 1);
	CU_ASSERT_EQUAL(net__init(&net, &cfg, tx, &sent), -EINVAL);
}

static void test_udp_bind(void)
{
	CU_ASSERT_EQUAL(net__udp_bind(&net, 7000, udp_rx, &got), -EADDRINUSE);
	CU_ASSERT_EQUAL(net__udp_bind(&net, 0, udp_rx, &got), -EINVAL);
	for (unsigned int p = 1; p < NET_UDP_BINDS; p++)
		CU_ASSERT_EQUAL(net__udp_bind(&net, (uint16_t)p, udp_rx, &got),
				0);
	CU_ASSERT_EQUAL(net__udp_bind(&net, 9999, udp_rx, &got), -ENOSPC);
}

static void test_announce(void)
{
	const uint8_t *f = sent.frame[0];
	struct netcodec_arp arp;

	CU_ASSERT_EQUAL(net__announce(&net), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 1);
	CU_ASSERT_EQUAL(sent.len[0], NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN);
	CU_ASSERT_EQUAL(memcmp(f, bcast, 6), 0);
	CU_ASSERT_EQUAL(memcmp(f + 6, our_mac, 6), 0);
	CU_ASSERT_EQUAL(netcodec__get16(f + 12), NETCODEC_ETHERTYPE_ARP);
	CU_ASSERT_EQUAL(
	    netcodec__parse_arp(f + NETCODEC_ETH_HLEN, NETCODEC_ARP_LEN, &arp),
	    0);
	CU_ASSERT_EQUAL(arp.op, NETCODEC_ARP_REQUEST);
	CU_ASSERT_EQUAL(memcmp(arp.sha, our_mac, 6), 0);
	CU_ASSERT_EQUAL(arp.spa, OUR_IP);
	CU_ASSERT_EQUAL(memcmp(arp.tha, zero_mac, 6), 0);
	CU_ASSERT_EQUAL(arp.tpa, OUR_IP);
}

static void test_arp_request_answered(void)
{
	static const uint8_t want[] = {
		/* to the asker, from us, ARP */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00,
		0x00, 0x05, 0x08, 0x06,
		/* Ethernet, IPv4, 6, 4, reply */
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,
		/* sha, spa: us */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0a, 0x00, 0x00, 0x05,
		/* tha, tpa: the asker */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x02
	};
	uint8_t f[60] = { 0 }; /* padded to Ethernet's minimum */

	arp_frame(f, bcast, NETCODEC_ARP_REQUEST, peer_mac, PEER_IP, zero_mac,
		  OUR_IP);
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 1);
	CU_ASSERT_EQUAL(sent.len[0], sizeof(want));
	CU_ASSERT_EQUAL(memcmp(sent.frame[0], want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(net.stats.arp_replies, 1);

	/* The asker was learnt: a datagram to it goes out at once. */
	CU_ASSERT_EQUAL(net__udp_send(&net, PEER_IP, 40000, 7000, "x", 1), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 2);
	CU_ASSERT_EQUAL(memcmp(sent.frame[1], peer_mac, 6), 0);
}

static void test_arp_not_for_us(void)
{
	uint8_t f[NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN];

	/* For someone else: no answer, and nobody new in the cache. */
	arp_frame(f, bcast, NETCODEC_ARP_REQUEST, peer_mac, PEER_IP, zero_mac,
		  IP(10, 0, 0, 9));
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), -EADDRNOTAVAIL);
	CU_ASSERT_EQUAL(sent.n, 0);
	CU_ASSERT_EQUAL(net__udp_send(&net, PEER_IP, 1, 2, "x", 1), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 1);
	CU_ASSERT_EQUAL(netcodec__get16(sent.frame[0] + 12),
			NETCODEC_ETHERTYPE_ARP);

	/* A group sender address is nobody's. */
	arp_frame(f, bcast, NETCODEC_ARP_REQUEST, bcast, PEER_IP, zero_mac,
		  OUR_IP);
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), -EBADMSG);
	/* Our own request, come back. */
	arp_frame(f, bcast, NETCODEC_ARP_REQUEST, our_mac, OUR_IP, zero_mac,
		  OUR_IP);
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), -EADDRNOTAVAIL);
	/* Other hardware or protocol types. */
	arp_frame(f, bcast, NETCODEC_ARP_REQUEST, peer_mac, PEER_IP, zero_mac,
		  OUR_IP);
	f[NETCODEC_ETH_HLEN + 1] = 6; /* IEEE 802 */
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), -EOPNOTSUPP);
	arp_frame(f, bcast, 3 /* RARP */, peer_mac, PEER_IP, zero_mac, OUR_IP);
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(sent.n, 1);
}

static void test_arp_resolution(void)
{
	uint8_t f[NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN];
	struct netcodec_arp arp;

	CU_ASSERT_FALSE(net__needs_tick(&net));
	/* Unresolved: an ARP request goes out, the datagram waits. */
	CU_ASSERT_EQUAL(net__udp_send(&net, PEER_IP, 40000, 7000, "one", 3), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 1);
	CU_ASSERT_EQUAL(memcmp(sent.frame[0], bcast, 6), 0);
	CU_ASSERT_EQUAL(netcodec__parse_arp(sent.frame[0] + NETCODEC_ETH_HLEN,
					    NETCODEC_ARP_LEN, &arp),
			0);
	CU_ASSERT_EQUAL(arp.op, NETCODEC_ARP_REQUEST);
	CU_ASSERT_EQUAL(arp.tpa, PEER_IP);
	CU_ASSERT_EQUAL(arp.spa, OUR_IP);
	CU_ASSERT_TRUE(net__needs_tick(&net));
	/* A second one replaces the first and asks nothing new. */
	CU_ASSERT_EQUAL(net__udp_send(&net, PEER_IP, 40000, 7000, "two", 3), 0);
	CU_ASSERT_EQUAL(sent.n, 1);
	CU_ASSERT_EQUAL(net.stats.arp_dropped, 1);

	/* The answer releases the queued datagram, to the right MAC. */
	arp_frame(f, our_mac, NETCODEC_ARP_REPLY, peer_mac, PEER_IP, our_mac,
		  OUR_IP);
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 2);
	CU_ASSERT_EQUAL(memcmp(sent.frame[1], peer_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(sent.frame[1] + 6, our_mac, 6), 0);
	CU_ASSERT_EQUAL(sent.len[1], NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN +
					 NETCODEC_UDP_HLEN + 3);
	CU_ASSERT_EQUAL(memcmp(sent.frame[1] + sent.len[1] - 3, "two", 3), 0);
	CU_ASSERT_FALSE(net__needs_tick(&net));
	net__tick(&net);
	CU_ASSERT_EQUAL(sent.n, 2);
}

static void test_arp_gives_up(void)
{
	CU_ASSERT_EQUAL(net__udp_send(&net, PEER_IP, 1, 2, "x", 1), 0);
	CU_ASSERT_EQUAL(sent.n, 1);
	for (unsigned int i = 1; i < NET_ARP_TRIES; i++) {
		CU_ASSERT_TRUE(net__needs_tick(&net));
		net__tick(&net);
		CU_ASSERT_EQUAL(sent.n, 1 + i); /* retransmitted */
	}
	net__tick(&net);
	CU_ASSERT_EQUAL(sent.n, NET_ARP_TRIES);
	CU_ASSERT_FALSE(net__needs_tick(&net));
	CU_ASSERT_EQUAL(net.stats.arp_dropped, 1);
	/* Asking again starts over. */
	CU_ASSERT_EQUAL(net__udp_send(&net, PEER_IP, 1, 2, "x", 1), 0);
	CU_ASSERT_EQUAL(sent.n, NET_ARP_TRIES + 1);
}

static void test_arp_cache_lru(void)
{
	uint8_t f[NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN];
	uint8_t mac[6] = { 0x02, 0, 0, 0, 1, 0 };

	/* One more neighbour than entries, each asking for us. */
	for (unsigned int i = 0; i <= NET_ARP_ENTRIES; i++) {
		mac[5] = (uint8_t)(10 + i);
		arp_frame(f, bcast, NETCODEC_ARP_REQUEST, mac,
			  IP(10, 0, 0, 10 + i), zero_mac, OUR_IP);
		CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), 0);
	}
	sent.n = 0;
	/* The first was forgotten, the last is known. */
	CU_ASSERT_EQUAL(net__udp_send(&net, IP(10, 0, 0, 10 + NET_ARP_ENTRIES),
				      1, 2, "x", 1),
			0);
	CU_ASSERT_EQUAL(netcodec__get16(sent.frame[0] + 12),
			NETCODEC_ETHERTYPE_IPV4);
	CU_ASSERT_EQUAL(net__udp_send(&net, IP(10, 0, 0, 10), 1, 2, "x", 1), 0);
	CU_ASSERT_EQUAL(netcodec__get16(sent.frame[1] + 12),
			NETCODEC_ETHERTYPE_ARP);
}

static void test_udp_send_routes(void)
{
	uint8_t f[NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN];
	uint8_t big[NETCODEC_UDP_PAYLOAD_MAX + 1] = { 0 };
	struct netcodec_ipv4 ip;
	struct netcodec_udp udp;
	struct netcodec_arp arp;

	/* Off the subnet: through the gateway, whose address is asked. */
	CU_ASSERT_EQUAL(
	    net__udp_send(&net, IP(127, 0, 0, 1), 5555, 7000, "reply", 5), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 1);
	CU_ASSERT_EQUAL(netcodec__parse_arp(sent.frame[0] + NETCODEC_ETH_HLEN,
					    NETCODEC_ARP_LEN, &arp),
			0);
	CU_ASSERT_EQUAL(arp.tpa, GW_IP);
	arp_frame(f, our_mac, NETCODEC_ARP_REPLY, gw_mac, GW_IP, our_mac,
		  OUR_IP);
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 2);
	CU_ASSERT_EQUAL(memcmp(sent.frame[1], gw_mac, 6), 0);
	/* What went out parses back, checksums and all. */
	CU_ASSERT_EQUAL_FATAL(
	    netcodec__parse_ipv4(sent.frame[1] + NETCODEC_ETH_HLEN,
				 sent.len[1] - NETCODEC_ETH_HLEN, &ip, 0),
	    0);
	CU_ASSERT_EQUAL(ip.src, OUR_IP);
	CU_ASSERT_EQUAL(ip.dst, IP(127, 0, 0, 1));
	CU_ASSERT_EQUAL(ip.ttl, NETCODEC_IP_TTL);
	CU_ASSERT_EQUAL(ip.proto, NETCODEC_IPPROTO_UDP);
	CU_ASSERT_EQUAL_FATAL(netcodec__parse_udp(&ip, &udp, 0), 0);
	CU_ASSERT_NOT_EQUAL(netcodec__get16(ip.payload + 6), 0);
	CU_ASSERT_EQUAL(udp.src_port, 7000);
	CU_ASSERT_EQUAL(udp.dst_port, 5555);
	CU_ASSERT_EQUAL(udp.len, 5);
	CU_ASSERT_EQUAL(memcmp(udp.payload, "reply", 5), 0);

	/* Broadcast needs no ARP. */
	CU_ASSERT_EQUAL(net__udp_send(&net, NET_IP_BROADCAST, 1, 2, "b", 1), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 3);
	CU_ASSERT_EQUAL(memcmp(sent.frame[2], bcast, 6), 0);
	/* The largest datagram fills a frame; one more byte is refused. */
	CU_ASSERT_EQUAL(net__udp_send(&net, NET_IP_BROADCAST, 1, 2, big,
				      NETCODEC_UDP_PAYLOAD_MAX),
			0);
	CU_ASSERT_EQUAL(sent.len[3], NETCODEC_FRAME_MAX);
	CU_ASSERT_EQUAL(
	    net__udp_send(&net, NET_IP_BROADCAST, 1, 2, big, sizeof(big)),
	    -EMSGSIZE);
	CU_ASSERT_EQUAL(net__udp_send(&net, PEER_IP, 0, 2, "x", 1), -EINVAL);
	CU_ASSERT_EQUAL(net__udp_send(&net, IP(224, 0, 0, 1), 1, 2, "x", 1),
			-EINVAL);
	CU_ASSERT_EQUAL(net__udp_send(&net, OUR_IP, 1, 2, "x", 1), -EINVAL);
	/* The tx callback's error comes back. */
	sent.rc = -EAGAIN;
	CU_ASSERT_EQUAL(net__udp_send(&net, NET_IP_BROADCAST, 1, 2, "b", 1),
			-EAGAIN);
	CU_ASSERT_EQUAL(net.stats.tx_errors, 1);
}

static void test_no_gateway(void)
{
	struct net_config cfg = { .ip = OUR_IP, .prefix = 24 };

	memcpy(cfg.mac, our_mac, 6);
	CU_ASSERT_EQUAL_FATAL(net__init(&net, &cfg, tx, &sent), 0);
	CU_ASSERT_EQUAL(net__udp_send(&net, IP(10, 0, 1, 1), 1, 2, "x", 1),
			-ENOENT);
	CU_ASSERT_EQUAL(sent.n, 0);
}

static void test_udp_delivered(void)
{
	uint8_t f[sizeof(udp_frame)];

	CU_ASSERT_EQUAL(input_exact(udp_frame, sizeof(udp_frame)), 0);
	CU_ASSERT_EQUAL_FATAL(got.n, 1);
	CU_ASSERT_EQUAL(got.src_ip, PEER_IP);
	CU_ASSERT_EQUAL(got.src_port, 40000);
	CU_ASSERT_EQUAL(got.dst_port, 7000);
	CU_ASSERT_EQUAL(got.len, 5);
	CU_ASSERT_EQUAL(memcmp(got.payload, "hello", 5), 0);
	CU_ASSERT_EQUAL(net.stats.rx_udp, 1);

	/* No checksum (0) is accepted. */
	memcpy(f, udp_frame, sizeof(f));
	netcodec__put16(f + UDP_FRAME_UDP_OFF + 6, 0);
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), 0);
	CU_ASSERT_EQUAL(got.n, 2);
	/* A broadcast frame is ours too. */
	memcpy(f, udp_frame, sizeof(f));
	memcpy(f, bcast, 6);
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), 0);
	CU_ASSERT_EQUAL(got.n, 3);
	/* Nothing is ever sent for a datagram by itself. */
	CU_ASSERT_EQUAL(sent.n, 0);
}

static void test_udp_refused(void)
{
	uint8_t f[sizeof(udp_frame) + 20];
	size_t n = sizeof(udp_frame);

	/* A payload byte changed: the checksum no longer fits. */
	memcpy(f, udp_frame, n);
	f[n - 1] ^= 1;
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	/* The IP header's checksum. */
	memcpy(f, udp_frame, n);
	f[UDP_FRAME_IP_OFF + 8] = 63; /* TTL, checksum not fixed */
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	/* UDP length beyond the IP payload, or below its header. */
	memcpy(f, udp_frame, n);
	netcodec__put16(f + UDP_FRAME_UDP_OFF + 4, 14);
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	netcodec__put16(f + UDP_FRAME_UDP_OFF + 4, 7);
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	/* IP total length beyond the frame, or inside the header. */
	memcpy(f, udp_frame, n);
	netcodec__put16(f + UDP_FRAME_IP_OFF + 2, 0x22);
	fix_ip_csum(f);
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	netcodec__put16(f + UDP_FRAME_IP_OFF + 2, 19);
	fix_ip_csum(f);
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	/* A header length below 5 words, or beyond the packet. */
	memcpy(f, udp_frame, n);
	f[UDP_FRAME_IP_OFF] = 0x44;
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	f[UDP_FRAME_IP_OFF] = 0x4f;
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	/* Not version 4. */
	memcpy(f, udp_frame, n);
	f[UDP_FRAME_IP_OFF] = 0x65;
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	/* Fragments: more to come, or an offset. */
	memcpy(f, udp_frame, n);
	netcodec__put16(f + UDP_FRAME_IP_OFF + 6, 0x2000);
	fix_ip_csum(f);
	CU_ASSERT_EQUAL(input_exact(f, n), -EOPNOTSUPP);
	netcodec__put16(f + UDP_FRAME_IP_OFF + 6, 0x0001);
	fix_ip_csum(f);
	CU_ASSERT_EQUAL(input_exact(f, n), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(net.stats.rx_unsupported, 2);
	/* Another host's address, or another MAC. */
	memcpy(f, udp_frame, n);
	f[UDP_FRAME_IP_OFF + 19] = 6;
	fix_ip_csum(f);
	CU_ASSERT_EQUAL(input_exact(f, n), -EADDRNOTAVAIL);
	memcpy(f, udp_frame, n);
	f[5] = 6;
	CU_ASSERT_EQUAL(input_exact(f, n), -EADDRNOTAVAIL);
	/* A source we must never answer. */
	memcpy(f, udp_frame, n);
	f[UDP_FRAME_IP_OFF + 12] = 224;
	fix_ip_csum(f);
	CU_ASSERT_EQUAL(input_exact(f, n), -EBADMSG);
	/* A port nobody bound. */
	memcpy(f, udp_frame, n);
	netcodec__put16(f + UDP_FRAME_UDP_OFF + 2, 7001);
	netcodec__put16(f + UDP_FRAME_UDP_OFF + 6, 0);
	CU_ASSERT_EQUAL(input_exact(f, n), -ECONNREFUSED);
	CU_ASSERT_EQUAL(net.stats.rx_no_port, 1);
	/* Other EtherTypes: IPv6, VLAN. */
	memcpy(f, udp_frame, n);
	netcodec__put16(f + 12, 0x86dd);
	CU_ASSERT_EQUAL(input_exact(f, n), -EOPNOTSUPP);
	netcodec__put16(f + 12, 0x8100);
	CU_ASSERT_EQUAL(input_exact(f, n), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(got.n, 0);
	CU_ASSERT_EQUAL(sent.n, 0);

	/* Trailing bytes (Ethernet padding) beyond the IP length are fine. */
	memcpy(f, udp_frame, n);
	memset(f + n, 0xee, sizeof(f) - n);
	CU_ASSERT_EQUAL(input_exact(f, sizeof(f)), 0);
	CU_ASSERT_EQUAL(got.len, 5);
	/* IP options are skipped. */
	memcpy(f, udp_frame, UDP_FRAME_UDP_OFF);
	memset(f + UDP_FRAME_UDP_OFF, 1, 4); /* four NOPs */
	memcpy(f + UDP_FRAME_UDP_OFF + 4, udp_frame + UDP_FRAME_UDP_OFF,
	       n - UDP_FRAME_UDP_OFF);
	f[UDP_FRAME_IP_OFF] = 0x46;
	netcodec__put16(f + UDP_FRAME_IP_OFF + 2, 0x25);
	fix_ip_csum(f);
	CU_ASSERT_EQUAL(input_exact(f, n + 4), 0);
	CU_ASSERT_EQUAL(got.n, 2);
	CU_ASSERT_EQUAL(memcmp(got.payload, "hello", 5), 0);
}

/* An echo request from the peer: id 0x4242, seq 1, 40 bytes of data. */
static size_t echo_request(uint8_t *f)
{
	size_t icmp_len = NETCODEC_ICMP_HLEN + 40;
	uint8_t *icmp = f + NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN;

	netcodec__build_eth(f, our_mac, peer_mac, NETCODEC_ETHERTYPE_IPV4);
	icmp[0] = NETCODEC_ICMP_ECHO_REQUEST;
	icmp[1] = 0;
	netcodec__put16(icmp + 2, 0);
	netcodec__put16(icmp + 4, 0x4242);
	netcodec__put16(icmp + 6, 1);
	for (size_t i = 0; i < 40; i++)
		icmp[8 + i] = (uint8_t)i;
	netcodec__put16(icmp + 2, netcodec__csum(icmp, icmp_len));
	netcodec__build_ipv4(f + NETCODEC_ETH_HLEN, PEER_IP, OUR_IP,
			     NETCODEC_IPPROTO_ICMP, 7, icmp_len);
	return NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN + icmp_len;
}

static void test_icmp_echo(void)
{
	uint8_t f[NETCODEC_FRAME_MAX];
	size_t len;
	struct netcodec_ipv4 ip;
	struct netcodec_icmp icmp;

	learn_peer();
	len = echo_request(f);
	CU_ASSERT_EQUAL(input_exact(f, len), 0);
	CU_ASSERT_EQUAL_FATAL(sent.n, 1);
	CU_ASSERT_EQUAL(sent.len[0], len);
	CU_ASSERT_EQUAL(memcmp(sent.frame[0], peer_mac, 6), 0);
	CU_ASSERT_EQUAL_FATAL(
	    netcodec__parse_ipv4(sent.frame[0] + NETCODEC_ETH_HLEN,
				 len - NETCODEC_ETH_HLEN, &ip, 0),
	    0);
	CU_ASSERT_EQUAL(ip.src, OUR_IP);
	CU_ASSERT_EQUAL(ip.dst, PEER_IP);
	CU_ASSERT_EQUAL(ip.proto, NETCODEC_IPPROTO_ICMP);
	CU_ASSERT_EQUAL_FATAL(netcodec__parse_icmp(&ip, &icmp), 0);
	CU_ASSERT_EQUAL(icmp.type, NETCODEC_ICMP_ECHO_REPLY);
	CU_ASSERT_EQUAL(icmp.code, 0);
	/* Identifier, sequence and data come back as they were. */
	CU_ASSERT_EQUAL(icmp.rest_len, 44);
	CU_ASSERT_EQUAL(
	    memcmp(icmp.rest, f + NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN + 4, 44),
	    0);
	CU_ASSERT_EQUAL(net.stats.echo_replies, 1);

	/* A bad ICMP checksum, other ICMP types: no answer. */
	len = echo_request(f);
	f[len - 1] ^= 0x80;
	CU_ASSERT_EQUAL(input_exact(f, len), -EBADMSG);
	len = echo_request(f);
	f[NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN] = 13; /* timestamp */
	netcodec__put16(f + NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN + 2, 0);
	netcodec__put16(
	    f + NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN + 2,
	    netcodec__csum(f + NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN, len - 34));
	CU_ASSERT_EQUAL(input_exact(f, len), -EOPNOTSUPP);
	/* A ping to the broadcast address is not answered. */
	len = echo_request(f);
	netcodec__put32(f + NETCODEC_ETH_HLEN + 16, NET_IP_BROADCAST);
	fix_ip_csum(f);
	memcpy(f, bcast, 6);
	CU_ASSERT_EQUAL(input_exact(f, len), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(sent.n, 1);
}

/*
 * Every proper prefix of @frame is dropped without reading past it; the
 * whole frame is handled (@full_rc).
 */
static void truncations(const uint8_t *frame, size_t len, int full_rc)
{
	unsigned long before = net.stats.rx_malformed;

	for (size_t n = 0; n < len; n++) {
		unsigned int got_before = got.n, sent_before = sent.n;

		CU_ASSERT_EQUAL(input_exact(frame, n), -EBADMSG);
		CU_ASSERT_EQUAL(got.n, got_before);
		CU_ASSERT_EQUAL(sent.n, sent_before);
	}
	CU_ASSERT_EQUAL(net.stats.rx_malformed - before, len);
	CU_ASSERT_EQUAL(input_exact(frame, len), full_rc);
}

static void test_truncated(void)
{
	uint8_t f[NETCODEC_FRAME_MAX];
	size_t len;

	truncations(udp_frame, sizeof(udp_frame), 0);
	CU_ASSERT_EQUAL(got.n, 1);
	learn_peer();
	len = echo_request(f);
	truncations(f, len, 0);
	CU_ASSERT_EQUAL(net.stats.echo_replies, 1);
	arp_frame(f, bcast, NETCODEC_ARP_REQUEST, peer_mac, PEER_IP, zero_mac,
		  OUR_IP);
	truncations(f, NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN, 0);
	CU_ASSERT_EQUAL(net.stats.arp_replies, 1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Random bytes and mutated valid frames: no crash, no over-read. */
static void test_hostile(void)
{
	uint8_t seeds[3][NETCODEC_FRAME_MAX], f[NETCODEC_FRAME_MAX];
	size_t seed_len[3], len;

	learn_peer();
	memcpy(seeds[0], udp_frame, sizeof(udp_frame));
	seed_len[0] = sizeof(udp_frame);
	seed_len[1] = echo_request(seeds[1]);
	arp_frame(seeds[2], bcast, NETCODEC_ARP_REQUEST, peer_mac, PEER_IP,
		  zero_mac, OUR_IP);
	seed_len[2] = NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN;
	for (unsigned int i = 0; i < 20000; i++) {
		unsigned int s = (unsigned int)(rnd() % 3);
		unsigned int flips = 1 + (unsigned int)(rnd() % 4);

		if (i % 10 == 0) {
			len = (size_t)(rnd() % (NETCODEC_FRAME_MAX + 1));
			for (size_t j = 0; j < len; j++)
				f[j] = (uint8_t)rnd();
		} else {
			len = seed_len[s];
			memcpy(f, seeds[s], len);
			for (unsigned int j = 0; j < flips; j++)
				f[rnd() % len] = (uint8_t)rnd();
			if (rnd() % 2)
				fix_ip_csum(f);
			if (rnd() % 4 == 0)
				len = (size_t)(rnd() % (len + 1));
		}
		input_exact(f, len);
		sent.n = 0; /* room for more */
	}
	CU_ASSERT_EQUAL(net.stats.rx_frames, 20001);
}

static CU_TestInfo net_tests[] = {
	{ "checksum vectors", test_csum_vectors },
	{ "builders make the reference frame", test_builders },
	{ "UDP: a computed 0 is sent as ffff", test_udp_csum_zero_is_ffff },
	{ "dotted quads", test_parse_ip },
	{ "ip= and gw= from the command line", test_parse_config },
	{ "init refuses bad configurations", test_init_refuses },
	{ "UDP ports: bind", test_udp_bind },
	{ "ARP: gratuitous announcement", test_announce },
	{ "ARP: a request for us is answered", test_arp_request_answered },
	{ "ARP: requests not for us, bad ARP", test_arp_not_for_us },
	{ "ARP: resolution releases the queued packet", test_arp_resolution },
	{ "ARP: retransmits, then gives up", test_arp_gives_up },
	{ "ARP: the cache forgets the least recent", test_arp_cache_lru },
	{ "UDP: send via gateway, broadcast, limits", test_udp_send_routes },
	{ "UDP: no gateway, no route", test_no_gateway },
	{ "UDP: delivered to its port", test_udp_delivered },
	{ "UDP/IP: malformed and unwanted dropped", test_udp_refused },
	{ "ICMP: echo answered", test_icmp_echo },
	{ "every truncation dropped", test_truncated },
	{ "random and mutated frames", test_hostile },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo net_suites[] = {
	{ "net", NULL, NULL, setup, NULL, net_tests },
	CU_SUITE_INFO_NULL,
};

void test_net__register(void)
{
	CU_register_suites(net_suites);
}
