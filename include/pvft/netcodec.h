/* SPDX-License-Identifier: MIT */
/*
 * The Ethernet/ARP/IPv4/UDP (and ICMP) wire formats: header offsets, the
 * Internet checksum, builders and parsers over byte buffers. The only code
 * that reads or writes these headers, in the hv (hv/netback.c's loopback
 * side) and in the guest (guest/net.c's stack) alike.
 *
 * Static inline, and freestanding: the compiler's headers and builtins
 * only, and errno.h (the host's, or in a guest guest/include's, which has
 * the same values), so that a guest built with GUEST_CFLAGS includes it
 * as the hv does.
 *
 * Addresses are uint32_t in host order (10.0.0.1 is 0x0a000001); ports
 * are host order too. Every byte parsed is bounds-checked first.
 */
#ifndef PVFT_NETCODEC_H
#define PVFT_NETCODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if __STDC_HOSTED__
#include <errno.h>
#else
#include "errno.h" /* guest/include's */
#endif

#define NETCODEC_ETH_ALEN 6
#define NETCODEC_ETH_HLEN 14
#define NETCODEC_ETH_MTU 1500
#define NETCODEC_ETH_ZLEN 60 /* the shortest frame, padded with zeroes */
#define NETCODEC_FRAME_MAX (NETCODEC_ETH_HLEN + NETCODEC_ETH_MTU)
#define NETCODEC_ETHERTYPE_IPV4 0x0800
#define NETCODEC_ETHERTYPE_ARP 0x0806

#define NETCODEC_ARP_LEN 28 /* Ethernet/IPv4 ARP payload */
#define NETCODEC_ARP_REQUEST 1
#define NETCODEC_ARP_REPLY 2

#define NETCODEC_IP_HLEN 20 /* without options: all either side sends */
#define NETCODEC_IP_TTL 64
#define NETCODEC_IPPROTO_ICMP 1
#define NETCODEC_IPPROTO_UDP 17
#define NETCODEC_ICMP_HLEN 8
#define NETCODEC_ICMP_ECHO_REPLY 0
#define NETCODEC_ICMP_ECHO_REQUEST 8
#define NETCODEC_UDP_HLEN 8
#define NETCODEC_UDP_PAYLOAD_MAX \
	(NETCODEC_ETH_MTU - NETCODEC_IP_HLEN - NETCODEC_UDP_HLEN)

/* Field offsets, from the start of each header. */
#define NETCODEC_ETH_DST_OFF 0
#define NETCODEC_ETH_SRC_OFF 6
#define NETCODEC_ETH_TYPE_OFF 12
#define NETCODEC_ARP_HTYPE_OFF 0
#define NETCODEC_ARP_PTYPE_OFF 2
#define NETCODEC_ARP_HSIZE_OFF 4
#define NETCODEC_ARP_PSIZE_OFF 5
#define NETCODEC_ARP_OP_OFF 6
#define NETCODEC_ARP_SHA_OFF 8
#define NETCODEC_ARP_SPA_OFF 14
#define NETCODEC_ARP_THA_OFF 18
#define NETCODEC_ARP_TPA_OFF 24
#define NETCODEC_IP_VER_IHL_OFF 0
#define NETCODEC_IP_TOS_OFF 1
#define NETCODEC_IP_TOTLEN_OFF 2
#define NETCODEC_IP_ID_OFF 4
#define NETCODEC_IP_FRAG_OFF 6
#define NETCODEC_IP_TTL_OFF 8
#define NETCODEC_IP_PROTO_OFF 9
#define NETCODEC_IP_CSUM_OFF 10
#define NETCODEC_IP_SRC_OFF 12
#define NETCODEC_IP_DST_OFF 16
#define NETCODEC_UDP_SPORT_OFF 0
#define NETCODEC_UDP_DPORT_OFF 2
#define NETCODEC_UDP_LEN_OFF 4
#define NETCODEC_UDP_CSUM_OFF 6

#define NETCODEC_IP_VER_IHL_PLAIN 0x45 /* version 4, 5 words of header */
#define NETCODEC_IP_DF 0x4000
#define NETCODEC_IP_FRAG_MASK 0x3fff /* more fragments, or an offset */

/*
 * Parser flags. The guest's stack verifies every checksum; the hv's
 * loopback side never has (it forwards the guest's datagrams, whose
 * checksums the guest computed), and passes NETCODEC_NO_CSUM.
 */
#define NETCODEC_NO_CSUM 1u

/* Big-endian field access at any alignment. */
static inline uint16_t netcodec__get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t netcodec__get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void netcodec__put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void netcodec__put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

/*
 * The Internet checksum (RFC 1071): netcodec__csum_add() sums @len bytes
 * into a running 32-bit sum (call it on even-length pieces, except the
 * last), netcodec__csum_fold() folds and complements it. A buffer holding
 * its own correct checksum folds to 0.
 */
static inline uint32_t netcodec__csum_add(uint32_t sum, const void *buf,
					  size_t len)
{
	const uint8_t *p = buf;
	uint64_t s = sum;

	for (; len >= 2; p += 2, len -= 2)
		s += netcodec__get16(p);
	if (len)
		s += (uint32_t)p[0] << 8;
	/* 2^32 is 1 modulo 0xffff: folding keeps the one's complement sum. */
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

static inline uint16_t netcodec__csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline uint16_t netcodec__csum(const void *buf, size_t len)
{
	return netcodec__csum_fold(netcodec__csum_add(0, buf, len));
}

/* The UDP/TCP pseudo-header's contribution (RFC 768). */
static inline uint32_t netcodec__csum_pseudo(uint32_t src, uint32_t dst,
					     uint8_t proto, uint16_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
	       proto + len;
}

/*
 * Parsers. Each checks lengths and fixed fields and returns 0, or
 * -EBADMSG for something malformed (truncated, inconsistent lengths, a
 * bad checksum) and -EOPNOTSUPP for something well-formed it does not
 * handle (IPv4 fragments, ARP for other protocols). Pointers in the
 * results point into the buffer parsed.
 */
struct netcodec_eth {
	const uint8_t *dst;
	const uint8_t *src;
	uint16_t type;
	const uint8_t *payload;
	size_t len;
};

static inline int netcodec__parse_eth(const uint8_t *frame, size_t len,
				      struct netcodec_eth *eth)
{
	if (len < NETCODEC_ETH_HLEN)
		return -EBADMSG;
	eth->dst = frame + NETCODEC_ETH_DST_OFF;
	eth->src = frame + NETCODEC_ETH_SRC_OFF;
	eth->type = netcodec__get16(frame + NETCODEC_ETH_TYPE_OFF);
	eth->payload = frame + NETCODEC_ETH_HLEN;
	eth->len = len - NETCODEC_ETH_HLEN;
	return 0;
}

/* A request or a reply for IPv4 over Ethernet. */
struct netcodec_arp {
	uint16_t op;
	uint8_t sha[NETCODEC_ETH_ALEN];
	uint32_t spa;
	uint8_t tha[NETCODEC_ETH_ALEN];
	uint32_t tpa;
};

static inline int netcodec__parse_arp(const uint8_t *p, size_t len,
				      struct netcodec_arp *arp)
{
	if (len < NETCODEC_ARP_LEN)
		return -EBADMSG;
	/* Ethernet hardware, IPv4 protocol, their address sizes. */
	if (netcodec__get16(p + NETCODEC_ARP_HTYPE_OFF) != 1 ||
	    netcodec__get16(p + NETCODEC_ARP_PTYPE_OFF) !=
		NETCODEC_ETHERTYPE_IPV4 ||
	    p[NETCODEC_ARP_HSIZE_OFF] != NETCODEC_ETH_ALEN ||
	    p[NETCODEC_ARP_PSIZE_OFF] != 4)
		return -EOPNOTSUPP;
	arp->op = netcodec__get16(p + NETCODEC_ARP_OP_OFF);
	if (arp->op != NETCODEC_ARP_REQUEST && arp->op != NETCODEC_ARP_REPLY)
		return -EOPNOTSUPP;
	__builtin_memcpy(arp->sha, p + NETCODEC_ARP_SHA_OFF, NETCODEC_ETH_ALEN);
	arp->spa = netcodec__get32(p + NETCODEC_ARP_SPA_OFF);
	__builtin_memcpy(arp->tha, p + NETCODEC_ARP_THA_OFF, NETCODEC_ETH_ALEN);
	arp->tpa = netcodec__get32(p + NETCODEC_ARP_TPA_OFF);
	return 0;
}

/* @len may exceed the datagram: Ethernet pads short frames. */
struct netcodec_ipv4 {
	uint32_t src;
	uint32_t dst;
	uint8_t proto;
	uint8_t ttl;
	const uint8_t *payload;
	size_t len; /* payload bytes, by the header's total length */
};

/* The header checksum is checked unless @flags has NETCODEC_NO_CSUM. */
static inline int netcodec__parse_ipv4(const uint8_t *p, size_t len,
				       struct netcodec_ipv4 *ip,
				       unsigned int flags)
{
	size_t hlen, total;

	if (len < NETCODEC_IP_HLEN || p[NETCODEC_IP_VER_IHL_OFF] >> 4 != 4)
		return -EBADMSG;
	hlen = (size_t)(p[NETCODEC_IP_VER_IHL_OFF] & 0xf) * 4;
	total = netcodec__get16(p + NETCODEC_IP_TOTLEN_OFF);
	if (hlen < NETCODEC_IP_HLEN || hlen > total || total > len)
		return -EBADMSG;
	if (!(flags & NETCODEC_NO_CSUM) && netcodec__csum(p, hlen) != 0)
		return -EBADMSG;
	/* A piece of something bigger. */
	if (netcodec__get16(p + NETCODEC_IP_FRAG_OFF) & NETCODEC_IP_FRAG_MASK)
		return -EOPNOTSUPP;
	ip->ttl = p[NETCODEC_IP_TTL_OFF];
	ip->proto = p[NETCODEC_IP_PROTO_OFF];
	ip->src = netcodec__get32(p + NETCODEC_IP_SRC_OFF);
	ip->dst = netcodec__get32(p + NETCODEC_IP_DST_OFF);
	ip->payload = p + hlen;
	ip->len = total - hlen;
	return 0;
}

struct netcodec_udp {
	uint16_t src_port;
	uint16_t dst_port;
	const uint8_t *payload;
	size_t len;
};

/*
 * The UDP datagram in @ip's payload. Its checksum, if not 0 (none, RFC
 * 768), is checked unless @flags has NETCODEC_NO_CSUM.
 */
static inline int netcodec__parse_udp(const struct netcodec_ipv4 *ip,
				      struct netcodec_udp *udp,
				      unsigned int flags)
{
	const uint8_t *p = ip->payload;
	size_t ulen;
	uint32_t sum;

	if (ip->len < NETCODEC_UDP_HLEN)
		return -EBADMSG;
	ulen = netcodec__get16(p + NETCODEC_UDP_LEN_OFF);
	if (ulen < NETCODEC_UDP_HLEN || ulen > ip->len)
		return -EBADMSG;
	if (!(flags & NETCODEC_NO_CSUM) &&
	    netcodec__get16(p + NETCODEC_UDP_CSUM_OFF) != 0) {
		sum = netcodec__csum_pseudo(
		    ip->src, ip->dst, NETCODEC_IPPROTO_UDP, (uint16_t)ulen);
		if (netcodec__csum_fold(netcodec__csum_add(sum, p, ulen)) != 0)
			return -EBADMSG;
	}
	udp->src_port = netcodec__get16(p + NETCODEC_UDP_SPORT_OFF);
	udp->dst_port = netcodec__get16(p + NETCODEC_UDP_DPORT_OFF);
	udp->payload = p + NETCODEC_UDP_HLEN;
	udp->len = ulen - NETCODEC_UDP_HLEN;
	return 0;
}

/* An ICMP message in @ip's payload, its checksum checked. */
struct netcodec_icmp {
	uint8_t type;
	uint8_t code;
	const uint8_t *rest; /* after type, code and checksum */
	size_t rest_len;
};

static inline int netcodec__parse_icmp(const struct netcodec_ipv4 *ip,
				       struct netcodec_icmp *icmp)
{
	if (ip->len < NETCODEC_ICMP_HLEN)
		return -EBADMSG;
	if (netcodec__csum(ip->payload, ip->len) != 0)
		return -EBADMSG;
	icmp->type = ip->payload[0];
	icmp->code = ip->payload[1];
	icmp->rest = ip->payload + 4;
	icmp->rest_len = ip->len - 4;
	return 0;
}

/*
 * Builders: write a header at @p (which has room) and return its length.
 * netcodec__build_ipv4() computes the header checksum;
 * netcodec__build_udp() expects the payload already in place after the
 * header it writes.
 */
static inline size_t netcodec__build_eth(uint8_t *p, const uint8_t *dst,
					 const uint8_t *src, uint16_t type)
{
	__builtin_memcpy(p + NETCODEC_ETH_DST_OFF, dst, NETCODEC_ETH_ALEN);
	__builtin_memcpy(p + NETCODEC_ETH_SRC_OFF, src, NETCODEC_ETH_ALEN);
	netcodec__put16(p + NETCODEC_ETH_TYPE_OFF, type);
	return NETCODEC_ETH_HLEN;
}

static inline size_t netcodec__build_arp(uint8_t *p, uint16_t op,
					 const uint8_t *sha, uint32_t spa,
					 const uint8_t *tha, uint32_t tpa)
{
	netcodec__put16(p + NETCODEC_ARP_HTYPE_OFF, 1); /* Ethernet */
	netcodec__put16(p + NETCODEC_ARP_PTYPE_OFF, NETCODEC_ETHERTYPE_IPV4);
	p[NETCODEC_ARP_HSIZE_OFF] = NETCODEC_ETH_ALEN;
	p[NETCODEC_ARP_PSIZE_OFF] = 4;
	netcodec__put16(p + NETCODEC_ARP_OP_OFF, op);
	__builtin_memcpy(p + NETCODEC_ARP_SHA_OFF, sha, NETCODEC_ETH_ALEN);
	netcodec__put32(p + NETCODEC_ARP_SPA_OFF, spa);
	__builtin_memcpy(p + NETCODEC_ARP_THA_OFF, tha, NETCODEC_ETH_ALEN);
	netcodec__put32(p + NETCODEC_ARP_TPA_OFF, tpa);
	return NETCODEC_ARP_LEN;
}

static inline size_t netcodec__build_ipv4(uint8_t *p, uint32_t src,
					  uint32_t dst, uint8_t proto,
					  uint16_t id, size_t payload_len)
{
	p[NETCODEC_IP_VER_IHL_OFF] = NETCODEC_IP_VER_IHL_PLAIN;
	p[NETCODEC_IP_TOS_OFF] = 0;
	netcodec__put16(p + NETCODEC_IP_TOTLEN_OFF,
			(uint16_t)(NETCODEC_IP_HLEN + payload_len));
	netcodec__put16(p + NETCODEC_IP_ID_OFF, id);
	/* Don't fragment: neither side ever does. */
	netcodec__put16(p + NETCODEC_IP_FRAG_OFF, NETCODEC_IP_DF);
	p[NETCODEC_IP_TTL_OFF] = NETCODEC_IP_TTL;
	p[NETCODEC_IP_PROTO_OFF] = proto;
	netcodec__put16(p + NETCODEC_IP_CSUM_OFF, 0);
	netcodec__put32(p + NETCODEC_IP_SRC_OFF, src);
	netcodec__put32(p + NETCODEC_IP_DST_OFF, dst);
	netcodec__put16(p + NETCODEC_IP_CSUM_OFF,
			netcodec__csum(p, NETCODEC_IP_HLEN));
	return NETCODEC_IP_HLEN;
}

static inline size_t netcodec__build_udp(uint8_t *p, uint32_t src, uint32_t dst,
					 uint16_t src_port, uint16_t dst_port,
					 size_t payload_len)
{
	uint16_t ulen = (uint16_t)(NETCODEC_UDP_HLEN + payload_len);
	uint16_t csum;

	netcodec__put16(p + NETCODEC_UDP_SPORT_OFF, src_port);
	netcodec__put16(p + NETCODEC_UDP_DPORT_OFF, dst_port);
	netcodec__put16(p + NETCODEC_UDP_LEN_OFF, ulen);
	netcodec__put16(p + NETCODEC_UDP_CSUM_OFF, 0);
	csum = netcodec__csum_fold(netcodec__csum_add(
	    netcodec__csum_pseudo(src, dst, NETCODEC_IPPROTO_UDP, ulen), p,
	    ulen));
	/* A computed 0 is sent as 0xffff: 0 means "no checksum". */
	netcodec__put16(p + NETCODEC_UDP_CSUM_OFF, csum ? csum : 0xffff);
	return NETCODEC_UDP_HLEN;
}

/* Who a datagram is from and for, for netcodec__build_udp_frame(). */
struct netcodec_flow {
	const uint8_t *dst_mac;
	const uint8_t *src_mac;
	uint32_t src;
	uint32_t dst;
	uint16_t src_port;
	uint16_t dst_port;
};

/*
 * A whole Ethernet+IPv4+UDP frame at @f (room for
 * NETCODEC_FRAME_MAX bytes) carrying the @len bytes at @payload (at most
 * NETCODEC_UDP_PAYLOAD_MAX, not overlapping @f); returns its length.
 */
static inline size_t netcodec__build_udp_frame(uint8_t *f,
					       const struct netcodec_flow *fl,
					       uint16_t id, const void *payload,
					       size_t len)
{
	uint8_t *ip = f + NETCODEC_ETH_HLEN, *udp = ip + NETCODEC_IP_HLEN;

	netcodec__build_eth(f, fl->dst_mac, fl->src_mac,
			    NETCODEC_ETHERTYPE_IPV4);
	netcodec__build_ipv4(ip, fl->src, fl->dst, NETCODEC_IPPROTO_UDP, id,
			     NETCODEC_UDP_HLEN + len);
	__builtin_memcpy(udp + NETCODEC_UDP_HLEN, payload, len);
	netcodec__build_udp(udp, fl->src, fl->dst, fl->src_port, fl->dst_port,
			    len);
	return NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN + NETCODEC_UDP_HLEN + len;
}

#endif /* PVFT_NETCODEC_H */
