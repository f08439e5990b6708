/* SPDX-License-Identifier: MIT */
/*
 * A small IPv4 stack over Ethernet frames: ARP (answers for our address,
 * a small cache, one queued packet per unresolved next hop), IPv4 (no
 * fragments), ICMP echo replies and UDP.
 *
 * Pure code over byte buffers: no hypercalls, no clock, no allocation.
 * Frames go out through a callback and come in through net__input(); time
 * is net__tick(), which the caller runs every NET_TICK_MS while
 * net__needs_tick() says so. Freestanding or hosted alike, so that the
 * unit tests build this very file on the host (as cmdline.h). The wire
 * formats (headers, checksums, parsers, builders) are the hv's too:
 * include/pvft/netcodec.h.
 *
 * Addresses are uint32_t in host order (10.0.0.1 is 0x0a000001); ports
 * are host order too. Every byte a peer sends is bounds-checked; a frame
 * that does not parse is dropped and counted.
 */
#ifndef GUEST_NET_H
#define GUEST_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvft/netcodec.h"

#define NET_IP_BROADCAST 0xffffffffu

/* For printf: printf("ip " NET_IP_FMT "\n", NET_IP_ARGS(ip)). */
#define NET_IP_FMT "%u.%u.%u.%u"
#define NET_IP_ARGS(ip)                                                  \
	(unsigned int)((ip) >> 24), (unsigned int)(((ip) >> 16) & 0xff), \
	    (unsigned int)(((ip) >> 8) & 0xff), (unsigned int)((ip)&0xff)
#define NET_MAC_FMT "%02x:%02x:%02x:%02x:%02x:%02x"
#define NET_MAC_ARGS(m) (m)[0], (m)[1], (m)[2], (m)[3], (m)[4], (m)[5]

/*
 * "A.B.C.D" as the @len bytes at @s (no more: cmdline values are not
 * NUL-terminated where they end); 0 or -EINVAL.
 */
int net__parse_ip(const char *s, size_t len, uint32_t *ip_r);

struct net_config {
	uint8_t mac[NETCODEC_ETH_ALEN];
	uint32_t ip;
	uint8_t prefix; /* 1..32 */
	uint32_t gw;	/* 0: none; off-subnet destinations unreachable */
};

/*
 * ip=A.B.C.D/PREFIX (required) and gw=A.B.C.D (optional, inside the
 * subnet) from a guest command line into @cfg (whose mac is left alone):
 * 0, -ENOENT without ip=, -EINVAL for a bad value.
 */
int net__parse_config(const char *cmdline, struct net_config *cfg);

/* Sends a frame: 0 or -errno (-EAGAIN: no room now, try later). */
typedef int (*net_tx_fn)(void *opaque, const void *frame, size_t len);
/* A datagram for a bound port; @payload is valid during the call only. */
typedef void (*net_udp_rx_fn)(void *opaque, uint32_t src_ip, uint16_t src_port,
			      uint16_t dst_port, const uint8_t *payload,
			      size_t len);

#define NET_ARP_ENTRIES 16
#define NET_ARP_TRIES 3	 /* requests sent before giving up on an address */
#define NET_TICK_MS 1000 /* net__tick()'s period while it is needed */
#define NET_UDP_BINDS 8

enum net_arp_state {
	NET_ARP_FREE,
	NET_ARP_PENDING, /* requested, maybe with one packet queued */
	NET_ARP_VALID,
};

struct net_arp_entry {
	uint32_t ip;
	uint8_t mac[NETCODEC_ETH_ALEN];
	uint8_t state;	   /* enum net_arp_state */
	uint8_t tries;	   /* requests sent while pending */
	uint64_t used;	   /* net.stamp at the last use: the LRU victim */
	size_t queued_len; /* 0: nothing queued */
	uint8_t queued[NETCODEC_FRAME_MAX];
};

struct net_udp_bind {
	uint16_t port; /* 0: free */
	net_udp_rx_fn fn;
	void *opaque;
};

/* Counters, since net__init(). */
struct net_stats {
	unsigned long rx_frames;
	unsigned long rx_malformed;   /* did not parse, bad checksums */
	unsigned long rx_unsupported; /* fragments, other protocols */
	unsigned long rx_not_ours;    /* other MACs or addresses */
	unsigned long rx_no_port;     /* UDP to an unbound port */
	unsigned long rx_udp;	      /* datagrams delivered */
	unsigned long tx_frames;
	unsigned long tx_errors;   /* refused by tx, or no route */
	unsigned long arp_dropped; /* packets lost to unresolved hops */
	unsigned long arp_replies; /* requests for our address answered */
	unsigned long echo_replies;
};

struct net {
	struct net_config cfg;
	uint32_t mask;
	net_tx_fn tx;
	void *tx_opaque;
	uint16_t ip_id;
	uint64_t stamp; /* counts ARP cache uses */
	struct net_arp_entry arp[NET_ARP_ENTRIES];
	struct net_udp_bind udp[NET_UDP_BINDS];
	struct net_stats stats;
	uint8_t frame[NETCODEC_FRAME_MAX]; /* the outgoing frame being built */
};

/* @cfg as net__parse_config() checks it, and a unicast mac; 0 or -EINVAL. */
int net__init(struct net *net, const struct net_config *cfg, net_tx_fn tx,
	      void *tx_opaque);
/* A gratuitous ARP request announcing our address; 0 or -errno. */
int net__announce(struct net *net);
/*
 * Handle one received frame: 0, or why it was dropped (and counted):
 * -EBADMSG malformed, -EADDRNOTAVAIL not for us, -ECONNREFUSED no such
 * UDP port, -EOPNOTSUPP or -EMSGSIZE not handled.
 */
int net__input(struct net *net, const uint8_t *frame, size_t len);

/* 0, -EADDRINUSE, -ENOSPC (NET_UDP_BINDS taken) or -EINVAL (port 0). */
int net__udp_bind(struct net *net, uint16_t port, net_udp_rx_fn fn,
		  void *opaque);
/*
 * Send a datagram: 0 when sent or queued behind an ARP request (where a
 * later packet to the same next hop replaces it), -EMSGSIZE beyond
 * NETCODEC_UDP_PAYLOAD_MAX, -EINVAL for port 0, our own or a martian address,
 * -ENOENT off-subnet without gw=, or the tx callback's error.
 */
int net__udp_send(struct net *net, uint32_t dst_ip, uint16_t dst_port,
		  uint16_t src_port, const void *payload, size_t len);

/* Whether net__tick() must run NET_TICK_MS from now (ARP in progress). */
bool net__needs_tick(const struct net *net);
/* Retransmit ARP requests; give up after NET_ARP_TRIES. */
void net__tick(struct net *net);

#endif /* GUEST_NET_H */
