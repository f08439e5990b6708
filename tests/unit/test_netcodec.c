// SPDX-License-Identifier: MIT
/*
 * The shared Ethernet/ARP/IPv4/UDP codec (include/pvft/netcodec.h):
 * checksums against known vectors, the builders against frames whose
 * checksums were computed independently (Python), build/parse round
 * trips, each parser's refusals (truncations in buffers of exactly their
 * length, so that ASan sees any read past the end; bad lengths, IHL,
 * fragments, checksums) and NETCODEC_NO_CSUM, the hv's strictness.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "pvft/netcodec.h"
#include "unit.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define GUEST_IP IP(10, 0, 2, 15)
#define CLIENT_IP IP(127, 0, 0, 1)

static const uint8_t guest_mac[6] = { 0x00, 0x16, 0x3e, 0x70, 0x76, 0x01 };
static const uint8_t lo_mac[6] = { 0x02, 0x70, 0x76, 0x66, 0x74, 0x01 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t zero_mac[6];

/*
 * 127.0.0.1:40000 -> 10.0.2.15:7000 "ping!", IP id 0xbeef, DF, TTL 64,
 * from the loopback MAC to the guest's: a frame as the hv's loopback side
 * makes it. Checksums f0cc (IPv4) and bd5a (UDP) computed by Python.
 */
static const uint8_t ping_frame[] = {
	0x00, 0x16, 0x3e, 0x70, 0x76, 0x01, 0x02, 0x70, 0x76, 0x66,
	0x74, 0x01, 0x08, 0x00, /* IPv4 */
	0x45, 0x00, 0x00, 0x21, 0xbe, 0xef, 0x40, 0x00, 0x40, 0x11,
	0xf0, 0xcc, 0x7f, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x02, 0x0f, /* UDP */
	0x9c, 0x40, 0x1b, 0x58, 0x00, 0x0d, 0xbd, 0x5a, 'p',  'i',
	'n',  'g',  '!',
};
#define PING_IP (ping_frame + NETCODEC_ETH_HLEN)
#define PING_IP_LEN (sizeof(ping_frame) - NETCODEC_ETH_HLEN)

/* 10.0.2.15 at 00:16:3e:70:76:01, to everyone: a gratuitous request. */
static const uint8_t garp_frame[] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x16, 0x3e, 0x70,
	0x76, 0x01, 0x08, 0x06, /* ARP */
	0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x16,
	0x3e, 0x70, 0x76, 0x01, 0x0a, 0x00, 0x02, 0x0f, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x02, 0x0f,
};

static const struct netcodec_flow ping_flow = {
	.dst_mac = guest_mac,
	.src_mac = lo_mac,
	.src = CLIENT_IP,
	.dst = GUEST_IP,
	.src_port = 40000,
	.dst_port = 7000,
};

/* @len bytes of @p in a buffer of exactly that size (free it). */
static uint8_t *exact(const uint8_t *p, size_t len)
{
	uint8_t *b = malloc(len ? len : 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	memcpy(b, p, len);
	return b;
}

/* eth -> IPv4 -> UDP with @flags: 0 or the first parser's refusal. */
static int parse_udp_frame(const uint8_t *f, size_t len, unsigned int flags,
			   struct netcodec_ipv4 *ip, struct netcodec_udp *udp)
{
	struct netcodec_eth eth;
	int rc;

	rc = netcodec__parse_eth(f, len, &eth);
	if (rc)
		return rc;
	if (eth.type != NETCODEC_ETHERTYPE_IPV4)
		return -EPROTOTYPE;
	rc = netcodec__parse_ipv4(eth.payload, eth.len, ip, flags);
	if (rc)
		return rc;
	return netcodec__parse_udp(ip, udp, flags);
}

static void test_csum_vectors(void)
{
	/* RFC 1071 section 3: the sum of these words is ddf2. */
	static const uint8_t rfc[] = { 0x00, 0x01, 0xf2, 0x03,
				       0xf4, 0xf5, 0xf6, 0xf7 };
	uint8_t ip[NETCODEC_IP_HLEN];

	CU_ASSERT_EQUAL(netcodec__csum_add(0, rfc, sizeof(rfc)), 0x2ddf0);
	CU_ASSERT_EQUAL(netcodec__csum(rfc, sizeof(rfc)), 0x220d);
	/* At any alignment. */
	CU_ASSERT_EQUAL(netcodec__csum_fold(netcodec__csum_add(0, rfc + 1, 6)),
			(uint16_t) ~(0x01f2 + 0x03f4 + 0xf5f6));
	/* The odd byte is the high half of a word padded with zero. */
	CU_ASSERT_EQUAL(netcodec__csum(rfc + 2, 1), (uint16_t)~0xf200);
	/* The reference frame's IPv4 header: f0cc, and 0 with it in. */
	memcpy(ip, PING_IP, sizeof(ip));
	CU_ASSERT_EQUAL(netcodec__csum(ip, sizeof(ip)), 0);
	netcodec__put16(ip + NETCODEC_IP_CSUM_OFF, 0);
	CU_ASSERT_EQUAL(netcodec__csum(ip, sizeof(ip)), 0xf0cc);
	/* Its UDP checksum, with the pseudo-header: bd5a, then 0. */
	CU_ASSERT_EQUAL(netcodec__csum_fold(netcodec__csum_add(
			    netcodec__csum_pseudo(CLIENT_IP, GUEST_IP,
						  NETCODEC_IPPROTO_UDP, 13),
			    PING_IP + NETCODEC_IP_HLEN, 13)),
			0);
	CU_ASSERT_EQUAL(netcodec__csum_pseudo(IP(1, 2, 3, 4), IP(5, 6, 7, 8),
					      NETCODEC_IPPROTO_UDP, 100),
			0x0102 + 0x0304 + 0x0506 + 0x0708 + 17 + 100);
}

static void test_field_access(void)
{
	uint8_t b[4];

	netcodec__put32(b, 0x0a00020f);
	CU_ASSERT_EQUAL(memcmp(b, "\x0a\x00\x02\x0f", 4), 0);
	CU_ASSERT_EQUAL(netcodec__get32(b), 0x0a00020f);
	netcodec__put16(b + 1, 0xbeef);
	CU_ASSERT_EQUAL(netcodec__get16(b + 1), 0xbeef);
	CU_ASSERT_EQUAL(b[1], 0xbe);
}

static void test_build_udp_frame(void)
{
	uint8_t f[NETCODEC_FRAME_MAX];
	size_t len;

	memset(f, 0xaa, sizeof(f));
	len = netcodec__build_udp_frame(f, &ping_flow, 0xbeef, "ping!", 5);
	CU_ASSERT_EQUAL_FATAL(len, sizeof(ping_frame));
	CU_ASSERT_EQUAL(memcmp(f, ping_frame, len), 0);
	/* Nothing written past the frame. */
	CU_ASSERT_EQUAL(f[len], 0xaa);
}

static void test_udp_round_trip(void)
{
	static uint8_t payload[NETCODEC_UDP_PAYLOAD_MAX];
	uint8_t f[NETCODEC_FRAME_MAX];
	struct netcodec_ipv4 ip;
	struct netcodec_udp udp;
	size_t sizes[] = { 0, 1, 2, 5, 100, NETCODEC_UDP_PAYLOAD_MAX };

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = netcodec__build_udp_frame(f, &ping_flow, 7,
						       payload, sizes[i]);
		uint8_t *b = exact(f, len);

		CU_ASSERT_EQUAL(len, NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN +
					 NETCODEC_UDP_HLEN + sizes[i]);
		CU_ASSERT_EQUAL_FATAL(parse_udp_frame(b, len, 0, &ip, &udp), 0);
		CU_ASSERT_EQUAL(ip.src, CLIENT_IP);
		CU_ASSERT_EQUAL(ip.dst, GUEST_IP);
		CU_ASSERT_EQUAL(ip.proto, NETCODEC_IPPROTO_UDP);
		CU_ASSERT_EQUAL(ip.ttl, NETCODEC_IP_TTL);
		CU_ASSERT_EQUAL(ip.len, NETCODEC_UDP_HLEN + sizes[i]);
		CU_ASSERT_EQUAL(udp.src_port, 40000);
		CU_ASSERT_EQUAL(udp.dst_port, 7000);
		CU_ASSERT_EQUAL_FATAL(udp.len, sizes[i]);
		CU_ASSERT_PTR_EQUAL(udp.payload, b + len - sizes[i]);
		CU_ASSERT_EQUAL(memcmp(udp.payload, payload, sizes[i]), 0);
		free(b);
	}
}

/* Ethernet pads a short frame: the IPv4 total length says where it ends. */
static void test_padding(void)
{
	uint8_t f[NETCODEC_ETH_ZLEN] = { 0 };
	struct netcodec_ipv4 ip;
	struct netcodec_udp udp;

	memcpy(f, ping_frame, sizeof(ping_frame));
	CU_ASSERT_EQUAL_FATAL(parse_udp_frame(f, sizeof(f), 0, &ip, &udp), 0);
	CU_ASSERT_EQUAL(ip.len, 13);
	CU_ASSERT_EQUAL(udp.len, 5);
}

static void test_ip_options(void)
{
	uint8_t f[sizeof(ping_frame) + 4];
	uint8_t *ip = f + NETCODEC_ETH_HLEN;
	struct netcodec_ipv4 pip;
	struct netcodec_udp udp;

	/* The same datagram behind 4 bytes of options (NOPs): IHL 6. */
	memcpy(f, ping_frame, NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN);
	memset(ip + NETCODEC_IP_HLEN, 1, 4);
	memcpy(ip + NETCODEC_IP_HLEN + 4, PING_IP + NETCODEC_IP_HLEN, 13);
	ip[0] = 0x46;
	netcodec__put16(ip + NETCODEC_IP_TOTLEN_OFF, 24 + 13);
	netcodec__put16(ip + NETCODEC_IP_CSUM_OFF, 0);
	netcodec__put16(ip + NETCODEC_IP_CSUM_OFF, netcodec__csum(ip, 24));
	CU_ASSERT_EQUAL_FATAL(parse_udp_frame(f, sizeof(f), 0, &pip, &udp), 0);
	CU_ASSERT_PTR_EQUAL(pip.payload, ip + 24);
	CU_ASSERT_EQUAL(pip.len, 13);
	CU_ASSERT_EQUAL(udp.len, 5);
	CU_ASSERT_EQUAL(memcmp(udp.payload, "ping!", 5), 0);
}

/* Every proper prefix of the reference frame: malformed, either way. */
static void test_truncated(void)
{
	struct netcodec_ipv4 ip;
	struct netcodec_udp udp;

	for (size_t n = 0; n < sizeof(ping_frame); n++) {
		uint8_t *b = exact(ping_frame, n);

		CU_ASSERT_EQUAL(parse_udp_frame(b, n, 0, &ip, &udp), -EBADMSG);
		CU_ASSERT_EQUAL(
		    parse_udp_frame(b, n, NETCODEC_NO_CSUM, &ip, &udp),
		    -EBADMSG);
		free(b);
	}
	for (size_t n = 0; n < NETCODEC_ARP_LEN; n++) {
		struct netcodec_arp arp;
		uint8_t *b = exact(garp_frame + NETCODEC_ETH_HLEN, n);

		CU_ASSERT_EQUAL(netcodec__parse_arp(b, n, &arp), -EBADMSG);
		free(b);
	}
}

/* The reference frame with one change, its IPv4 checksum made right. */
static void mutate(uint8_t *f, size_t off, uint16_t v16, bool fix_ip)
{
	uint8_t *ip = f + NETCODEC_ETH_HLEN;

	memcpy(f, ping_frame, sizeof(ping_frame));
	netcodec__put16(f + off, v16);
	if (fix_ip) {
		netcodec__put16(ip + NETCODEC_IP_CSUM_OFF, 0);
		netcodec__put16(ip + NETCODEC_IP_CSUM_OFF,
				netcodec__csum(ip, NETCODEC_IP_HLEN));
	}
}

static void test_ipv4_refused(void)
{
	const size_t ipo = NETCODEC_ETH_HLEN;
	const size_t udpo = ipo + NETCODEC_IP_HLEN;
	static const struct {
		size_t off;
		uint16_t v;
		int rc;
	} cases[] = {
		{ ipo + NETCODEC_IP_VER_IHL_OFF, 0x6500, -EBADMSG }, /* v6 */
		{ ipo + NETCODEC_IP_VER_IHL_OFF, 0x4400, -EBADMSG }, /* IHL 4 */
		{ ipo + NETCODEC_IP_VER_IHL_OFF, 0x4f00,
		  -EBADMSG },					/* > total */
		{ ipo + NETCODEC_IP_TOTLEN_OFF, 19, -EBADMSG }, /* < IHL */
		{ ipo + NETCODEC_IP_TOTLEN_OFF, 34, -EBADMSG }, /* > frame */
		{ ipo + NETCODEC_IP_TOTLEN_OFF, 27, -EBADMSG }, /* no UDP hdr */
		{ ipo + NETCODEC_IP_FRAG_OFF, 0x2000, -EOPNOTSUPP }, /* MF */
		{ ipo + NETCODEC_IP_FRAG_OFF, 0x4001,
		  -EOPNOTSUPP }, /* offset */
		{ udpo + NETCODEC_UDP_LEN_OFF, 7, -EBADMSG },
		{ udpo + NETCODEC_UDP_LEN_OFF, 14, -EBADMSG }, /* > IP's */
	};
	uint8_t f[sizeof(ping_frame)];
	struct netcodec_ipv4 ip;
	struct netcodec_udp udp;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* A UDP length change makes the UDP checksum wrong too. */
		mutate(f, cases[i].off, cases[i].v, true);
		CU_ASSERT_EQUAL(parse_udp_frame(f, sizeof(f), 0, &ip, &udp),
				cases[i].rc);
		CU_ASSERT_EQUAL(
		    parse_udp_frame(f, sizeof(f), NETCODEC_NO_CSUM, &ip, &udp),
		    cases[i].rc);
	}
	/* No DF is fine; so is a shorter UDP length (trailing bytes). */
	mutate(f, ipo + NETCODEC_IP_FRAG_OFF, 0, true);
	CU_ASSERT_EQUAL(parse_udp_frame(f, sizeof(f), 0, &ip, &udp), 0);
	mutate(f, udpo + NETCODEC_UDP_LEN_OFF, 8, true);
	CU_ASSERT_EQUAL(
	    parse_udp_frame(f, sizeof(f), NETCODEC_NO_CSUM, &ip, &udp), 0);
	CU_ASSERT_EQUAL(udp.len, 0);
}

/* The guest checks checksums; the hv's loopback side never has. */
static void test_checksums_and_no_csum(void)
{
	uint8_t f[sizeof(ping_frame)];
	uint8_t *ip = f + NETCODEC_ETH_HLEN, *u = ip + NETCODEC_IP_HLEN;
	struct netcodec_ipv4 pip;
	struct netcodec_udp udp;

	/* A bad IPv4 header checksum. */
	memcpy(f, ping_frame, sizeof(f));
	ip[NETCODEC_IP_CSUM_OFF] ^= 1;
	CU_ASSERT_EQUAL(parse_udp_frame(f, sizeof(f), 0, &pip, &udp), -EBADMSG);
	CU_ASSERT_EQUAL(
	    parse_udp_frame(f, sizeof(f), NETCODEC_NO_CSUM, &pip, &udp), 0);
	/* Checked before fragments: with both wrong, malformed. */
	netcodec__put16(ip + NETCODEC_IP_FRAG_OFF, 0x2000);
	CU_ASSERT_EQUAL(parse_udp_frame(f, sizeof(f), 0, &pip, &udp), -EBADMSG);
	CU_ASSERT_EQUAL(
	    parse_udp_frame(f, sizeof(f), NETCODEC_NO_CSUM, &pip, &udp),
	    -EOPNOTSUPP);
	/* A payload byte changed: the UDP checksum no longer holds. */
	memcpy(f, ping_frame, sizeof(f));
	f[sizeof(f) - 1] ^= 0x20;
	CU_ASSERT_EQUAL(parse_udp_frame(f, sizeof(f), 0, &pip, &udp), -EBADMSG);
	CU_ASSERT_EQUAL(
	    parse_udp_frame(f, sizeof(f), NETCODEC_NO_CSUM, &pip, &udp), 0);
	/* A UDP checksum of 0: none computed, accepted (RFC 768). */
	netcodec__put16(u + NETCODEC_UDP_CSUM_OFF, 0);
	CU_ASSERT_EQUAL(parse_udp_frame(f, sizeof(f), 0, &pip, &udp), 0);
}

static void test_icmp(void)
{
	/* An echo request: type, code, checksum, id 1, sequence 2, data. */
	uint8_t p[12] = { 8, 0, 0, 0, 0, 1, 0, 2, 'a', 'b', 'c', 'd' };
	struct netcodec_ipv4 ip = { .payload = p, .len = sizeof(p) };
	struct netcodec_icmp icmp;

	netcodec__put16(p + 2, netcodec__csum(p, sizeof(p)));
	CU_ASSERT_EQUAL_FATAL(netcodec__parse_icmp(&ip, &icmp), 0);
	CU_ASSERT_EQUAL(icmp.type, NETCODEC_ICMP_ECHO_REQUEST);
	CU_ASSERT_EQUAL(icmp.rest_len, 8);
	CU_ASSERT_PTR_EQUAL(icmp.rest, p + 4);
	p[11] ^= 1;
	CU_ASSERT_EQUAL(netcodec__parse_icmp(&ip, &icmp), -EBADMSG);
	ip.len = NETCODEC_ICMP_HLEN - 1;
	CU_ASSERT_EQUAL(netcodec__parse_icmp(&ip, &icmp), -EBADMSG);
}

static void test_arp(void)
{
	uint8_t f[NETCODEC_ETH_ZLEN] = { 0 }, g[NETCODEC_ETH_ZLEN] = { 0 };
	struct netcodec_eth eth;
	struct netcodec_arp arp;

	/* The hv's gratuitous ARP, as send_garp() builds it. */
	CU_ASSERT_EQUAL(
	    netcodec__build_eth(f, bcast, guest_mac, NETCODEC_ETHERTYPE_ARP),
	    NETCODEC_ETH_HLEN);
	CU_ASSERT_EQUAL(netcodec__build_arp(f + NETCODEC_ETH_HLEN,
					    NETCODEC_ARP_REQUEST, guest_mac,
					    GUEST_IP, zero_mac, GUEST_IP),
			NETCODEC_ARP_LEN);
	CU_ASSERT_EQUAL(memcmp(f, garp_frame, sizeof(garp_frame)), 0);
	CU_ASSERT_EQUAL(f[sizeof(garp_frame)], 0);

	/* Parsed back, padding and all. */
	CU_ASSERT_EQUAL_FATAL(netcodec__parse_eth(f, sizeof(f), &eth), 0);
	CU_ASSERT_EQUAL(eth.type, NETCODEC_ETHERTYPE_ARP);
	CU_ASSERT_EQUAL(memcmp(eth.dst, bcast, 6), 0);
	CU_ASSERT_EQUAL(memcmp(eth.src, guest_mac, 6), 0);
	CU_ASSERT_EQUAL(eth.len, NETCODEC_ETH_ZLEN - NETCODEC_ETH_HLEN);
	CU_ASSERT_EQUAL_FATAL(netcodec__parse_arp(eth.payload, eth.len, &arp),
			      0);
	CU_ASSERT_EQUAL(arp.op, NETCODEC_ARP_REQUEST);
	CU_ASSERT_EQUAL(memcmp(arp.sha, guest_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(arp.tha, zero_mac, 6), 0);
	CU_ASSERT_EQUAL(arp.spa, GUEST_IP);
	CU_ASSERT_EQUAL(arp.tpa, GUEST_IP);

	/* A reply round trip, as the loopback side answers for 10.0.2.2. */
	netcodec__build_eth(g, arp.sha, lo_mac, NETCODEC_ETHERTYPE_ARP);
	netcodec__build_arp(g + NETCODEC_ETH_HLEN, NETCODEC_ARP_REPLY, lo_mac,
			    IP(10, 0, 2, 2), arp.sha, arp.spa);
	CU_ASSERT_EQUAL_FATAL(
	    netcodec__parse_arp(g + NETCODEC_ETH_HLEN, NETCODEC_ARP_LEN, &arp),
	    0);
	CU_ASSERT_EQUAL(arp.op, NETCODEC_ARP_REPLY);
	CU_ASSERT_EQUAL(memcmp(arp.sha, lo_mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(arp.tha, guest_mac, 6), 0);
	CU_ASSERT_EQUAL(arp.spa, IP(10, 0, 2, 2));
	CU_ASSERT_EQUAL(arp.tpa, GUEST_IP);

	/* Not Ethernet/IPv4, or neither a request nor a reply. */
	for (size_t off = 0; off < 8; off++) {
		memcpy(g, garp_frame, sizeof(garp_frame));
		g[NETCODEC_ETH_HLEN + off] ^= off == 6 ? 0x80 : 0x04;
		CU_ASSERT_EQUAL(netcodec__parse_arp(g + NETCODEC_ETH_HLEN,
						    NETCODEC_ARP_LEN, &arp),
				-EOPNOTSUPP);
	}
	memcpy(g, garp_frame, sizeof(garp_frame));
	netcodec__put16(g + NETCODEC_ETH_HLEN + NETCODEC_ARP_OP_OFF, 3);
	CU_ASSERT_EQUAL(
	    netcodec__parse_arp(g + NETCODEC_ETH_HLEN, NETCODEC_ARP_LEN, &arp),
	    -EOPNOTSUPP);
}

/* Random bytes: every parser refuses or succeeds within the buffer. */
static void test_random(void)
{
	uint32_t x = 0x9e3779b9;

	for (int i = 0; i < 20000; i++) {
		uint8_t f[96];
		size_t len;
		struct netcodec_ipv4 ip;
		struct netcodec_udp udp;
		struct netcodec_arp arp;
		uint8_t *b;
		int rc;

		memcpy(f, ping_frame, sizeof(ping_frame));
		for (size_t j = 0; j < sizeof(f); j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* Mostly the reference frame, some bytes changed. */
			if (j >= sizeof(ping_frame) || x % 16 == 0)
				f[j] = (uint8_t)(x >> 8);
		}
		len = x % sizeof(f);
		b = exact(f, len);
		rc = parse_udp_frame(b, len, i % 2 ? NETCODEC_NO_CSUM : 0, &ip,
				     &udp);
		CU_ASSERT(rc == 0 || rc == -EBADMSG || rc == -EOPNOTSUPP ||
			  rc == -EPROTOTYPE);
		if (!rc)
			CU_ASSERT(udp.payload + udp.len <= b + len);
		if (len >= NETCODEC_ETH_HLEN) {
			rc = netcodec__parse_arp(b + NETCODEC_ETH_HLEN,
						 len - NETCODEC_ETH_HLEN, &arp);
			CU_ASSERT(rc == 0 || rc == -EBADMSG ||
				  rc == -EOPNOTSUPP);
		}
		free(b);
	}
}

static CU_TestInfo netcodec_tests[] = {
	{ "checksum vectors", test_csum_vectors },
	{ "big-endian field access", test_field_access },
	{ "the hv's UDP frame, byte for byte", test_build_udp_frame },
	{ "UDP frames: build, parse back", test_udp_round_trip },
	{ "Ethernet padding", test_padding },
	{ "IPv4 options", test_ip_options },
	{ "every truncation refused", test_truncated },
	{ "bad lengths, IHL, fragments", test_ipv4_refused },
	{ "checksums, and NETCODEC_NO_CSUM", test_checksums_and_no_csum },
	{ "ICMP", test_icmp },
	{ "ARP: build, parse back, refusals", test_arp },
	{ "random frames", test_random },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo netcodec_suites[] = {
	{ "netcodec", NULL, NULL, NULL, NULL, netcodec_tests },
	CU_SUITE_INFO_NULL,
};

void test_netcodec__register(void)
{
	CU_register_suites(netcodec_suites);
}
