// SPDX-License-Identifier: MIT
/*
 * The guest's IPv4 stack: the state machine (ARP cache, UDP ports) over
 * the wire formats of include/pvft/netcodec.h. See net.h.
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

static const uint8_t eth_broadcast[NETCODEC_ETH_ALEN] = { 0xff, 0xff, 0xff,
							  0xff, 0xff, 0xff };
static const uint8_t eth_zero[NETCODEC_ETH_ALEN];

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
	uint8_t frame[NETCODEC_ETH_HLEN + NETCODEC_ARP_LEN];
	size_t len;

	len = netcodec__build_eth(frame, eth_dst, net->cfg.mac,
				  NETCODEC_ETHERTYPE_ARP);
	len += netcodec__build_arp(frame + len, op, net->cfg.mac, net->cfg.ip,
				   tha, tpa);
	return send_frame(net, frame, len);
}

int net__announce(struct net *net)
{
	return send_arp(net, eth_broadcast, NETCODEC_ARP_REQUEST, eth_zero,
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
	memcpy(e->mac, mac, NETCODEC_ETH_ALEN);
	e->state = NET_ARP_VALID;
	if (e->queued_len) {
		memcpy(e->queued, mac, NETCODEC_ETH_ALEN);
		send_frame(net, e->queued, e->queued_len);
		e->queued_len = 0;
	}
}

static int arp_input(struct net *net, const struct netcodec_eth *eth)
{
	struct netcodec_arp arp;
	struct net_arp_entry *e;
	bool for_us;
	int rc;

	rc = netcodec__parse_arp(eth->payload, eth->len, &arp);
	if (rc)
		return rc;
	/* Nobody owns a group address; our own requests may come back. */
	if (arp.sha[0] & 1)
		return -EBADMSG;
	if (!memcmp(arp.sha, net->cfg.mac, NETCODEC_ETH_ALEN) ||
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
	if (arp.op == NETCODEC_ARP_REQUEST) {
		/* A reply that cannot go out is counted in tx_errors. */
		net->stats.arp_replies++;
		send_arp(net, arp.sha, NETCODEC_ARP_REPLY, arp.sha, arp.spa);
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
	size_t len = NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN + l4_len;
	struct net_arp_entry *e;
	uint32_t hop = dst;

	if (!is_broadcast(net, dst) && !on_subnet(net, dst)) {
		if (!net->cfg.gw) {
			net->stats.tx_errors++;
			return -ENOENT;
		}
		hop = net->cfg.gw;
	}
	netcodec__build_ipv4(net->frame + NETCODEC_ETH_HLEN, net->cfg.ip, dst,
			     proto, net->ip_id++, l4_len);
	if (is_broadcast(net, dst)) {
		netcodec__build_eth(net->frame, eth_broadcast, net->cfg.mac,
				    NETCODEC_ETHERTYPE_IPV4);
		return send_frame(net, net->frame, len);
	}
	e = arp_lookup(net, hop);
	if (e && e->state == NET_ARP_VALID) {
		e->used = ++net->stamp;
		netcodec__build_eth(net->frame, e->mac, net->cfg.mac,
				    NETCODEC_ETHERTYPE_IPV4);
		return send_frame(net, net->frame, len);
	}
	/* Unresolved: queue it (the newest wins) and ask, if not asking. */
	netcodec__build_eth(net->frame, eth_zero, net->cfg.mac,
			    NETCODEC_ETHERTYPE_IPV4);
	if (!e) {
		e = arp_alloc(net, hop);
		e->state = NET_ARP_PENDING;
		e->tries = 1;
		send_arp(net, eth_broadcast, NETCODEC_ARP_REQUEST, eth_zero,
			 hop);
	} else if (e->queued_len) {
		net->stats.arp_dropped++;
	}
	memcpy(e->queued, net->frame, len);
	e->queued_len = len;
	return 0;
}

static int icmp_input(struct net *net, const struct netcodec_ipv4 *ip)
{
	struct netcodec_icmp icmp;
	uint8_t *p = net->frame + NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN;
	int rc;

	rc = netcodec__parse_icmp(ip, &icmp);
	if (rc)
		return rc;
	if (icmp.type != NETCODEC_ICMP_ECHO_REQUEST || icmp.code != 0)
		return -EOPNOTSUPP;
	/* Our reply carries no IP options: it may be longer than an MTU. */
	if (ip->len > NETCODEC_ETH_MTU - NETCODEC_IP_HLEN)
		return -EMSGSIZE;
	p[0] = NETCODEC_ICMP_ECHO_REPLY;
	p[1] = 0;
	netcodec__put16(p + 2, 0);
	/* Identifier, sequence number and data, as they came. */
	memcpy(p + 4, icmp.rest, icmp.rest_len);
	netcodec__put16(p + 2, netcodec__csum(p, ip->len));
	net->stats.echo_replies++;
	ip_output(net, ip->src, NETCODEC_IPPROTO_ICMP, ip->len);
	return 0;
}

static int udp_input(struct net *net, const struct netcodec_ipv4 *ip)
{
	struct netcodec_udp udp;
	int rc;

	rc = netcodec__parse_udp(ip, &udp, 0);
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

static int ipv4_input(struct net *net, const struct netcodec_eth *eth)
{
	struct netcodec_ipv4 ip;
	int rc;

	rc = netcodec__parse_ipv4(eth->payload, eth->len, &ip, 0);
	if (rc)
		return rc;
	/* We answer the source: it must be a host, and not us. */
	if (martian(ip.src) || is_broadcast(net, ip.src) ||
	    ip.src == net->cfg.ip)
		return -EBADMSG;
	if (ip.dst == net->cfg.ip && ip.proto == NETCODEC_IPPROTO_ICMP)
		return icmp_input(net, &ip);
	if ((ip.dst == net->cfg.ip || is_broadcast(net, ip.dst)) &&
	    ip.proto == NETCODEC_IPPROTO_UDP)
		return udp_input(net, &ip);
	if (ip.dst != net->cfg.ip && !is_broadcast(net, ip.dst))
		return -EADDRNOTAVAIL;
	return -EOPNOTSUPP;
}

int net__input(struct net *net, const uint8_t *frame, size_t len)
{
	struct netcodec_eth eth;
	int rc;

	net->stats.rx_frames++;
	rc = netcodec__parse_eth(frame, len, &eth);
	if (rc)
		goto out;
	if (memcmp(eth.dst, net->cfg.mac, NETCODEC_ETH_ALEN) &&
	    memcmp(eth.dst, eth_broadcast, NETCODEC_ETH_ALEN)) {
		rc = -EADDRNOTAVAIL;
		goto out;
	}
	switch (eth.type) {
	case NETCODEC_ETHERTYPE_ARP:
		rc = arp_input(net, &eth);
		break;
	case NETCODEC_ETHERTYPE_IPV4:
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
	uint8_t *udp = net->frame + NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN;

	if (len > NETCODEC_UDP_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (dst_port == 0 || src_port == 0 || dst_ip == net->cfg.ip ||
	    (martian(dst_ip) && dst_ip != NET_IP_BROADCAST))
		return -EINVAL;
	memcpy(udp + NETCODEC_UDP_HLEN, payload, len);
	netcodec__build_udp(udp, net->cfg.ip, dst_ip, src_port, dst_port, len);
	return ip_output(net, dst_ip, NETCODEC_IPPROTO_UDP,
			 NETCODEC_UDP_HLEN + len);
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
		send_arp(net, eth_broadcast, NETCODEC_ARP_REQUEST, eth_zero,
			 e->ip);
	}
}
