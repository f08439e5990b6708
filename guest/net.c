// SPDX-License-Identifier: MIT
/*
 * The guest's IPv4 stack: parsers and builders over byte buffers, and the
 * state machine around them (ARP cache, UDP ports). See net.h.
 *
 * Built twice: into the guest runtime, and on the host for the unit tests
 * (tests/unit/test_net.c), hence the two sets of includes below.
 */
#if __STDC_HOSTED__
#include <errno.h>
#include <string.h>
#else
#include "errno.h"
#include "lib.h"
#endif

#include "cmdline.h"
#include "net.h"

static const uint8_t eth_broadcast[NET_ETH_ALEN] = { 0xff, 0xff, 0xff,
						     0xff, 0xff, 0xff };
static const uint8_t eth_zero[NET_ETH_ALEN];

uint32_t net__csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t s = sum;

	for (; len >= 2; p += 2, len -= 2)
		s += net__get16(p);
	if (len)
		s += (uint32_t)p[0] << 8;
	/* 2^32 is 1 modulo 0xffff: folding keeps the one's complement sum. */
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t net__csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t net__csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto,
			  uint16_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
	       proto + len;
}

int net__parse_eth(const uint8_t *frame, size_t len, struct net_eth *eth)
{
	if (len < NET_ETH_HLEN)
		return -EBADMSG;
	eth->dst = frame;
	eth->src = frame + NET_ETH_ALEN;
	eth->type = net__get16(frame + 2 * NET_ETH_ALEN);
	eth->payload = frame + NET_ETH_HLEN;
	eth->len = len - NET_ETH_HLEN;
	return 0;
}

int net__parse_arp(const uint8_t *p, size_t len, struct net_arp *arp)
{
	if (len < NET_ARP_LEN)
		return -EBADMSG;
	/* Ethernet hardware, IPv4 protocol, their address sizes. */
	if (net__get16(p) != 1 || net__get16(p + 2) != NET_ETHERTYPE_IPV4 ||
	    p[4] != NET_ETH_ALEN || p[5] != 4)
		return -EOPNOTSUPP;
	arp->op = net__get16(p + 6);
	if (arp->op != NET_ARP_REQUEST && arp->op != NET_ARP_REPLY)
		return -EOPNOTSUPP;
	memcpy(arp->sha, p + 8, NET_ETH_ALEN);
	arp->spa = net__get32(p + 14);
	memcpy(arp->tha, p + 18, NET_ETH_ALEN);
	arp->tpa = net__get32(p + 24);
	return 0;
}

int net__parse_ipv4(const uint8_t *p, size_t len, struct net_ipv4 *ip)
{
	size_t hlen, total;
	uint16_t frag;

	if (len < NET_IP_HLEN || p[0] >> 4 != 4)
		return -EBADMSG;
	hlen = (size_t)(p[0] & 0xf) * 4;
	total = net__get16(p + 2);
	if (hlen < NET_IP_HLEN || hlen > total || total > len)
		return -EBADMSG;
	if (net__csum(p, hlen) != 0)
		return -EBADMSG;
	/* More fragments, or an offset: a piece of something bigger. */
	frag = net__get16(p + 6);
	if (frag & 0x3fff)
		return -EOPNOTSUPP;
	ip->ttl = p[8];
	ip->proto = p[9];
	ip->src = net__get32(p + 12);
	ip->dst = net__get32(p + 16);
	ip->payload = p + hlen;
	ip->len = total - hlen;
	return 0;
}

int net__parse_udp(const struct net_ipv4 *ip, struct net_udp *udp)
{
	const uint8_t *p = ip->payload;
	size_t ulen;
	uint32_t sum;

	if (ip->len < NET_UDP_HLEN)
		return -EBADMSG;
	ulen = net__get16(p + 4);
	if (ulen < NET_UDP_HLEN || ulen > ip->len)
		return -EBADMSG;
	/* 0: the sender computed none (RFC 768). */
	if (net__get16(p + 6) != 0) {
		sum = net__csum_pseudo(ip->src, ip->dst, NET_IPPROTO_UDP,
				       (uint16_t)ulen);
		if (net__csum_fold(net__csum_add(sum, p, ulen)) != 0)
			return -EBADMSG;
	}
	udp->src_port = net__get16(p);
	udp->dst_port = net__get16(p + 2);
	udp->payload = p + NET_UDP_HLEN;
	udp->len = ulen - NET_UDP_HLEN;
	return 0;
}

int net__parse_icmp(const struct net_ipv4 *ip, struct net_icmp *icmp)
{
	if (ip->len < NET_ICMP_HLEN)
		return -EBADMSG;
	if (net__csum(ip->payload, ip->len) != 0)
		return -EBADMSG;
	icmp->type = ip->payload[0];
	icmp->code = ip->payload[1];
	icmp->rest = ip->payload + 4;
	icmp->rest_len = ip->len - 4;
	return 0;
}

size_t net__build_eth(uint8_t *p, const uint8_t *dst, const uint8_t *src,
		      uint16_t type)
{
	memcpy(p, dst, NET_ETH_ALEN);
	memcpy(p + NET_ETH_ALEN, src, NET_ETH_ALEN);
	net__put16(p + 2 * NET_ETH_ALEN, type);
	return NET_ETH_HLEN;
}

size_t net__build_arp(uint8_t *p, uint16_t op, const uint8_t *sha, uint32_t spa,
		      const uint8_t *tha, uint32_t tpa)
{
	net__put16(p, 1);
	net__put16(p + 2, NET_ETHERTYPE_IPV4);
	p[4] = NET_ETH_ALEN;
	p[5] = 4;
	net__put16(p + 6, op);
	memcpy(p + 8, sha, NET_ETH_ALEN);
	net__put32(p + 14, spa);
	memcpy(p + 18, tha, NET_ETH_ALEN);
	net__put32(p + 24, tpa);
	return NET_ARP_LEN;
}

size_t net__build_ipv4(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto,
		       uint16_t id, size_t payload_len)
{
	p[0] = 0x45; /* version 4, 5 words of header */
	p[1] = 0;
	net__put16(p + 2, (uint16_t)(NET_IP_HLEN + payload_len));
	net__put16(p + 4, id);
	net__put16(p + 6, 0x4000); /* don't fragment: we never do */
	p[8] = NET_IP_TTL;
	p[9] = proto;
	net__put16(p + 10, 0);
	net__put32(p + 12, src);
	net__put32(p + 16, dst);
	net__put16(p + 10, net__csum(p, NET_IP_HLEN));
	return NET_IP_HLEN;
}

size_t net__build_udp(uint8_t *p, uint32_t src, uint32_t dst, uint16_t src_port,
		      uint16_t dst_port, size_t payload_len)
{
	uint16_t ulen = (uint16_t)(NET_UDP_HLEN + payload_len);
	uint16_t csum;

	net__put16(p, src_port);
	net__put16(p + 2, dst_port);
	net__put16(p + 4, ulen);
	net__put16(p + 6, 0);
	csum = net__csum_fold(net__csum_add(
	    net__csum_pseudo(src, dst, NET_IPPROTO_UDP, ulen), p, ulen));
	/* A computed 0 is sent as 0xffff: 0 means "no checksum". */
	net__put16(p + 6, csum ? csum : 0xffff);
	return NET_UDP_HLEN;
}

static int parse_octet(const char **s, const char *end, uint32_t *v_r)
{
	uint32_t v = 0;
	int digits = 0;

	while (*s < end && **s >= '0' && **s <= '9' && digits < 4) {
		v = v * 10 + (uint32_t)(**s - '0');
		(*s)++;
		digits++;
	}
	if (digits == 0 || digits > 3 || v > 255)
		return -EINVAL;
	*v_r = v;
	return 0;
}

int net__parse_ip(const char *s, size_t len, uint32_t *ip_r)
{
	const char *end = s + len;
	uint32_t ip = 0, v;

	for (int i = 0; i < 4; i++) {
		if (i > 0 && (s == end || *s++ != '.'))
			return -EINVAL;
		if (parse_octet(&s, end, &v))
			return -EINVAL;
		ip = ip << 8 | v;
	}
	if (s != end)
		return -EINVAL;
	*ip_r = ip;
	return 0;
}

static uint32_t prefix_mask(uint8_t prefix)
{
	return prefix ? ~0u << (32 - prefix) : 0;
}

/*
 * Addresses that are never a host's: 0/8, multicast and above. Not
 * 127/8: the hv's loopback host side forwards clients' datagrams with
 * their own 127.0.0.1 source (Documentation/net.md section 3).
 */
static bool martian(uint32_t ip)
{
	return (ip >> 24) == 0 || ip >= 0xe0000000u;
}

static int check_config(const struct net_config *cfg)
{
	uint32_t mask;

	if (cfg->prefix < 1 || cfg->prefix > 32 || martian(cfg->ip))
		return -EINVAL;
	mask = prefix_mask(cfg->prefix);
	/* Subnets of 4 and more lose their network and broadcast addresses. */
	if (cfg->prefix <= 30 &&
	    ((cfg->ip & ~mask) == 0 || (cfg->ip & ~mask) == ~mask))
		return -EINVAL;
	if (cfg->gw && (martian(cfg->gw) || cfg->gw == cfg->ip ||
			(cfg->gw & mask) != (cfg->ip & mask)))
		return -EINVAL;
	return 0;
}

int net__parse_config(const char *cmdline, struct net_config *cfg)
{
	const char *v = cmdline_get(cmdline, "ip");
	size_t len, ip_len;
	uint32_t prefix = 0;

	if (!v)
		return -ENOENT;
	len = cmdline_value_len(v);
	for (ip_len = 0; ip_len < len && v[ip_len] != '/'; ip_len++)
		;
	if (ip_len == len || net__parse_ip(v, ip_len, &cfg->ip))
		return -EINVAL;
	v += ip_len + 1;
	len -= ip_len + 1;
	if (len < 1 || len > 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EINVAL;
		prefix = prefix * 10 + (uint32_t)(v[i] - '0');
	}
	if (prefix < 1 || prefix > 32)
		return -EINVAL;
	cfg->prefix = (uint8_t)prefix;
	cfg->gw = 0;
	v = cmdline_get(cmdline, "gw");
	if (v && net__parse_ip(v, cmdline_value_len(v), &cfg->gw))
		return -EINVAL;
	if (v && !cfg->gw)
		return -EINVAL;
	return check_config(cfg);
}

int net__init(struct net *net, const struct net_config *cfg, net_tx_fn tx,
	      void *tx_opaque)
{
	int rc = check_config(cfg);

	if (rc)
		return rc;
	if (cfg->mac[0] & 1) /* a group address: not an interface's */
		return -EINVAL;
	memset(net, 0, sizeof(*net));
	net->cfg = *cfg;
	net->mask = prefix_mask(cfg->prefix);
	net->tx = tx;
	net->tx_opaque = tx_opaque;
	return 0;
}

static int send_frame(struct net *net, const uint8_t *frame, size_t len)
{
	int rc = net->tx(net->tx_opaque, frame, len);

	if (rc)
		net->stats.tx_errors++;
	else
		net->stats.tx_frames++;
	return rc;
}

static int send_arp(struct net *net, const uint8_t *eth_dst, uint16_t op,
		    const uint8_t *tha, uint32_t tpa)
{
	uint8_t frame[NET_ETH_HLEN + NET_ARP_LEN];
	size_t len;

	len = net__build_eth(frame, eth_dst, net->cfg.mac, NET_ETHERTYPE_ARP);
	len += net__build_arp(frame + len, op, net->cfg.mac, net->cfg.ip, tha,
			      tpa);
	return send_frame(net, frame, len);
}

int net__announce(struct net *net)
{
	return send_arp(net, eth_broadcast, NET_ARP_REQUEST, eth_zero,
			net->cfg.ip);
}

static bool on_subnet(const struct net *net, uint32_t ip)
{
	return (ip & net->mask) == (net->cfg.ip & net->mask);
}

static bool is_broadcast(const struct net *net, uint32_t ip)
{
	return ip == NET_IP_BROADCAST ||
	       (net->cfg.prefix <= 30 && ip == (net->cfg.ip | ~net->mask));
}

static struct net_arp_entry *arp_lookup(struct net *net, uint32_t ip)
{
	for (size_t i = 0; i < NET_ARP_ENTRIES; i++)
		if (net->arp[i].state != NET_ARP_FREE && net->arp[i].ip == ip)
			return &net->arp[i];
	return NULL;
}

static void arp_free(struct net *net, struct net_arp_entry *e)
{
	if (e->queued_len)
		net->stats.arp_dropped++;
	e->queued_len = 0;
	e->state = NET_ARP_FREE;
}

/* A free entry, or else the least recently used one's. */
static struct net_arp_entry *arp_alloc(struct net *net, uint32_t ip)
{
	struct net_arp_entry *e = &net->arp[0];

	for (size_t i = 0; i < NET_ARP_ENTRIES; i++) {
		if (net->arp[i].state == NET_ARP_FREE) {
			e = &net->arp[i];
			break;
		}
		if (net->arp[i].used < e->used)
			e = &net->arp[i];
	}
	if (e->state != NET_ARP_FREE)
		arp_free(net, e);
	e->ip = ip;
	e->tries = 0;
	e->used = ++net->stamp;
	return e;
}

/* RFC 826's merge: what a peer says of itself, for an entry we keep. */
static void arp_learn(struct net *net, struct net_arp_entry *e,
		      const uint8_t *mac)
{
	memcpy(e->mac, mac, NET_ETH_ALEN);
	e->state = NET_ARP_VALID;
	if (e->queued_len) {
		memcpy(e->queued, mac, NET_ETH_ALEN);
		send_frame(net, e->queued, e->queued_len);
		e->queued_len = 0;
	}
}

static int arp_input(struct net *net, const struct net_eth *eth)
{
	struct net_arp arp;
	struct net_arp_entry *e;
	bool for_us;
	int rc;

	rc = net__parse_arp(eth->payload, eth->len, &arp);
	if (rc)
		return rc;
	/* Nobody owns a group address; our own requests may come back. */
	if (arp.sha[0] & 1)
		return -EBADMSG;
	if (!memcmp(arp.sha, net->cfg.mac, NET_ETH_ALEN) ||
	    arp.spa == net->cfg.ip)
		return -EADDRNOTAVAIL;
	for_us = arp.tpa == net->cfg.ip;
	/* Next hops are on the subnet: nothing else is worth an entry. */
	if (arp.spa && !martian(arp.spa) && !is_broadcast(net, arp.spa) &&
	    on_subnet(net, arp.spa)) {
		e = arp_lookup(net, arp.spa);
		if (!e && for_us)
			e = arp_alloc(net, arp.spa);
		if (e)
			arp_learn(net, e, arp.sha);
	}
	if (!for_us)
		return -EADDRNOTAVAIL;
	if (arp.op == NET_ARP_REQUEST) {
		/* A reply that cannot go out is counted in tx_errors. */
		net->stats.arp_replies++;
		send_arp(net, arp.sha, NET_ARP_REPLY, arp.sha, arp.spa);
	}
	return 0;
}

/*
 * Send the IPv4 packet of @l4_len payload bytes already in net->frame
 * after the Ethernet and IP headers, which this fills in.
 */
static int ip_output(struct net *net, uint32_t dst, uint8_t proto,
		     size_t l4_len)
{
	size_t len = NET_ETH_HLEN + NET_IP_HLEN + l4_len;
	struct net_arp_entry *e;
	uint32_t hop = dst;

	if (!is_broadcast(net, dst) && !on_subnet(net, dst)) {
		if (!net->cfg.gw) {
			net->stats.tx_errors++;
			return -ENOENT;
		}
		hop = net->cfg.gw;
	}
	net__build_ipv4(net->frame + NET_ETH_HLEN, net->cfg.ip, dst, proto,
			net->ip_id++, l4_len);
	if (is_broadcast(net, dst)) {
		net__build_eth(net->frame, eth_broadcast, net->cfg.mac,
			       NET_ETHERTYPE_IPV4);
		return send_frame(net, net->frame, len);
	}
	e = arp_lookup(net, hop);
	if (e && e->state == NET_ARP_VALID) {
		e->used = ++net->stamp;
		net__build_eth(net->frame, e->mac, net->cfg.mac,
			       NET_ETHERTYPE_IPV4);
		return send_frame(net, net->frame, len);
	}
	/* Unresolved: queue it (the newest wins) and ask, if not asking. */
	net__build_eth(net->frame, eth_zero, net->cfg.mac, NET_ETHERTYPE_IPV4);
	if (!e) {
		e = arp_alloc(net, hop);
		e->state = NET_ARP_PENDING;
		e->tries = 1;
		send_arp(net, eth_broadcast, NET_ARP_REQUEST, eth_zero, hop);
	} else if (e->queued_len) {
		net->stats.arp_dropped++;
	}
	memcpy(e->queued, net->frame, len);
	e->queued_len = len;
	return 0;
}

static int icmp_input(struct net *net, const struct net_ipv4 *ip)
{
	struct net_icmp icmp;
	uint8_t *p = net->frame + NET_ETH_HLEN + NET_IP_HLEN;
	int rc;

	rc = net__parse_icmp(ip, &icmp);
	if (rc)
		return rc;
	if (icmp.type != NET_ICMP_ECHO_REQUEST || icmp.code != 0)
		return -EOPNOTSUPP;
	/* Our reply carries no IP options: it may be longer than an MTU. */
	if (ip->len > NET_ETH_MTU - NET_IP_HLEN)
		return -EMSGSIZE;
	p[0] = NET_ICMP_ECHO_REPLY;
	p[1] = 0;
	net__put16(p + 2, 0);
	/* Identifier, sequence number and data, as they came. */
	memcpy(p + 4, icmp.rest, icmp.rest_len);
	net__put16(p + 2, net__csum(p, ip->len));
	net->stats.echo_replies++;
	ip_output(net, ip->src, NET_IPPROTO_ICMP, ip->len);
	return 0;
}

static int udp_input(struct net *net, const struct net_ipv4 *ip)
{
	struct net_udp udp;
	int rc;

	rc = net__parse_udp(ip, &udp);
	if (rc)
		return rc;
	for (size_t i = 0; i < NET_UDP_BINDS; i++) {
		const struct net_udp_bind *b = &net->udp[i];

		if (b->port && b->port == udp.dst_port) {
			net->stats.rx_udp++;
			b->fn(b->opaque, ip->src, udp.src_port, udp.dst_port,
			      udp.payload, udp.len);
			return 0;
		}
	}
	net->stats.rx_no_port++;
	return -ECONNREFUSED;
}

static int ipv4_input(struct net *net, const struct net_eth *eth)
{
	struct net_ipv4 ip;
	int rc;

	rc = net__parse_ipv4(eth->payload, eth->len, &ip);
	if (rc)
		return rc;
	/* We answer the source: it must be a host, and not us. */
	if (martian(ip.src) || is_broadcast(net, ip.src) ||
	    ip.src == net->cfg.ip)
		return -EBADMSG;
	if (ip.dst == net->cfg.ip && ip.proto == NET_IPPROTO_ICMP)
		return icmp_input(net, &ip);
	if ((ip.dst == net->cfg.ip || is_broadcast(net, ip.dst)) &&
	    ip.proto == NET_IPPROTO_UDP)
		return udp_input(net, &ip);
	if (ip.dst != net->cfg.ip && !is_broadcast(net, ip.dst))
		return -EADDRNOTAVAIL;
	return -EOPNOTSUPP;
}

int net__input(struct net *net, const uint8_t *frame, size_t len)
{
	struct net_eth eth;
	int rc;

	net->stats.rx_frames++;
	rc = net__parse_eth(frame, len, &eth);
	if (rc)
		goto out;
	if (memcmp(eth.dst, net->cfg.mac, NET_ETH_ALEN) &&
	    memcmp(eth.dst, eth_broadcast, NET_ETH_ALEN)) {
		rc = -EADDRNOTAVAIL;
		goto out;
	}
	switch (eth.type) {
	case NET_ETHERTYPE_ARP:
		rc = arp_input(net, &eth);
		break;
	case NET_ETHERTYPE_IPV4:
		rc = ipv4_input(net, &eth);
		break;
	default:
		rc = -EOPNOTSUPP;
		break;
	}
out:
	switch (rc) {
	case 0:
	case -ECONNREFUSED: /* counted as rx_no_port */
		break;
	case -EBADMSG:
		net->stats.rx_malformed++;
		break;
	case -EADDRNOTAVAIL:
		net->stats.rx_not_ours++;
		break;
	default: /* -EOPNOTSUPP, -EMSGSIZE */
		net->stats.rx_unsupported++;
		break;
	}
	return rc;
}

int net__udp_bind(struct net *net, uint16_t port, net_udp_rx_fn fn,
		  void *opaque)
{
	struct net_udp_bind *free_bind = NULL;

	if (port == 0 || !fn)
		return -EINVAL;
	for (size_t i = 0; i < NET_UDP_BINDS; i++) {
		if (net->udp[i].port == port)
			return -EADDRINUSE;
		if (!net->udp[i].port && !free_bind)
			free_bind = &net->udp[i];
	}
	if (!free_bind)
		return -ENOSPC;
	*free_bind = (struct net_udp_bind){
		.port = port,
		.fn = fn,
		.opaque = opaque,
	};
	return 0;
}

int net__udp_send(struct net *net, uint32_t dst_ip, uint16_t dst_port,
		  uint16_t src_port, const void *payload, size_t len)
{
	uint8_t *udp = net->frame + NET_ETH_HLEN + NET_IP_HLEN;

	if (len > NET_UDP_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (dst_port == 0 || src_port == 0 || dst_ip == net->cfg.ip ||
	    (martian(dst_ip) && dst_ip != NET_IP_BROADCAST))
		return -EINVAL;
	memcpy(udp + NET_UDP_HLEN, payload, len);
	net__build_udp(udp, net->cfg.ip, dst_ip, src_port, dst_port, len);
	return ip_output(net, dst_ip, NET_IPPROTO_UDP, NET_UDP_HLEN + len);
}

bool net__needs_tick(const struct net *net)
{
	for (size_t i = 0; i < NET_ARP_ENTRIES; i++)
		if (net->arp[i].state == NET_ARP_PENDING)
			return true;
	return false;
}

void net__tick(struct net *net)
{
	for (size_t i = 0; i < NET_ARP_ENTRIES; i++) {
		struct net_arp_entry *e = &net->arp[i];

		if (e->state != NET_ARP_PENDING)
			continue;
		if (e->tries >= NET_ARP_TRIES) {
			arp_free(net, e);
			continue;
		}
		e->tries++;
		send_arp(net, eth_broadcast, NET_ARP_REQUEST, eth_zero, e->ip);
	}
}
