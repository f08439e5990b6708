// SPDX-License-Identifier: MIT
/*
 * netback: vif rings, the rx queue, the host sides (tap, loopback UDP) and
 * the net thread. See netback.h and Documentation/net.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "domain.h"
#include "guestmem.h"
#include "log.h"
#include "netback.h"
#include "pvft/netcodec.h"

#ifndef SIOCBRADDIF
#define SIOCBRADDIF 0x89a2
#endif

/* The most a forwarded datagram can carry in one frame. */
#define UDP_PAYLOAD_MAX                                              \
	(PVFT_NET_FRAME_MAX - NETCODEC_ETH_HLEN - NETCODEC_IP_HLEN - \
	 NETCODEC_UDP_HLEN)
#define GARP_COUNT 3
#define BIND_RETRY_MS 5
#define BIND_SAY_MS 1000

static const uint8_t loopback_mac[6] = VIF_LOOPBACK_MAC;
static const uint8_t tap_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ---- set-up ------------------------------------------------------------ */

int netback__init(struct netback *nb, const struct vif_config *cfg,
		  struct domain *d, bool passive)
{
	memset(nb, 0, sizeof(*nb));
	nb->cfg = *cfg;
	nb->d = d;
	nb->passive = passive;
	nb->fd = -1;
	nb->wake_fd = -1;
	nb->q = calloc(NETBACK_RXQ, sizeof(*nb->q));
	nb->rbuf = calloc(NETBACK_BATCH, sizeof(*nb->rbuf));
	nb->lo_seen = calloc(NETBACK_LO_CLIENTS, sizeof(*nb->lo_seen));
	nb->frame_buf = calloc(NETBACK_BATCH, sizeof(*nb->frame_buf));
	if (!nb->q || !nb->rbuf || !nb->lo_seen || !nb->frame_buf)
		return -ENOMEM;
	pthread_mutex_init(&nb->lock, NULL);
	return 0;
}

void netback__dispose(struct netback *nb)
{
	netback__stop(nb);
	free(nb->q);
	free(nb->rbuf);
	free(nb->lo_seen);
	free(nb->frame_buf);
	nb->frame_buf = NULL;
	nb->lo_seen = NULL;
	nb->q = NULL;
	nb->rbuf = NULL;
	pthread_mutex_destroy(&nb->lock);
}

/* Counters are bumped by several threads: atomically, no lock. */
#define STAT_ADD(nb, field, n) \
	__atomic_fetch_add(&(nb)->stats.field, (n), __ATOMIC_RELAXED)

void netback__get_stats(struct netback *nb, struct netback_stats *s)
{
	const uint64_t *from = (const uint64_t *)&nb->stats;
	uint64_t *to = (uint64_t *)s;

	for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
}

/* ---- the guest side ---------------------------------------------------- */

long netback__info(struct netback *nb, uint64_t index, uint64_t gpa)
{
	struct pvft_vif_info info = { .mtu = PVFT_NET_MTU };

	if (!nb || index >= PVFT_MAX_VIFS)
		return -ENODEV;
	memcpy(info.mac, nb->cfg.mac, 6);
	return guestmem__copy_to(nb->d, gpa, &info, sizeof(info));
}

/* A ring or buffer page named by a grant reference (a frame number). */
static void *gref_page(struct domain *d, uint64_t gref)
{
	uint64_t gpa = gref << 12;

	if (gref >> 52 || !guestmem__range_ok(d, gpa, PVFT_PAGE_SIZE, true) ||
	    gpa < PVFT_GUEST_MIN_ADDR)
		return NULL;
	return domain__gpa(d, gpa);
}

/*
 * pvft-hv wrote the page named by @gref (a ring, an rx buffer): a live
 * migration sends it again. After the write, never before: a round may
 * take the mark in between.
 */
static void written(struct netback *nb, uint64_t gref)
{
	guestmem__mark(nb->d, gref << 12, PVFT_PAGE_SIZE);
}

/*
 * A frame buffer: never a ring page (a frame written over the rx ring
 * would move its indices under the hv during an exit).
 */
static uint8_t *buffer_page(struct netback *nb, uint64_t gref)
{
	if (gref == nb->tx_ref || gref == nb->rx_ref)
		return NULL;
	return gref_page(nb->d, gref);
}

long netback__connect(struct netback *nb, uint64_t index, uint64_t gpa)
{
	struct pvft_vif_connect c;
	netif_tx_sring_t *txs;
	netif_rx_sring_t *rxs;
	struct domain *d;

	if (!nb || index >= PVFT_MAX_VIFS)
		return -ENODEV;
	d = nb->d;
	if (guestmem__copy_from(d, &c, gpa, sizeof(c)))
		return -EFAULT;
	if (nb->connected || nb->broken)
		return -EBUSY;
	if (c.flags)
		return -EINVAL;
	txs = gref_page(d, c.tx_ring_ref);
	rxs = gref_page(d, c.rx_ring_ref);
	if (!txs || !rxs)
		return -EFAULT;
	if (c.tx_ring_ref == c.rx_ring_ref)
		return -EINVAL;
	/* The guest's unbound port for dom0, the backend: now the hv's. */
	if (evtchn__bind_backend(&d->evtchn, c.evtchn))
		return -EINVAL;
	nb->port = c.evtchn;
	/* The guest initialised the shared rings (SHARED_RING_INIT). */
	BACK_RING_INIT(&nb->tx, txs, PVFT_PAGE_SIZE);
	BACK_RING_INIT(&nb->rx, rxs, PVFT_PAGE_SIZE);
	nb->tx_ref = c.tx_ring_ref;
	nb->rx_ref = c.rx_ring_ref;
	nb->connected = true;
	return 0;
}

/*
 * A guest that moves its producer more than a ring ahead is broken (or
 * hostile): like Xen's netback, stop serving the vif, say so once.
 */
static void ring_broken(struct netback *nb, const char *ring, RING_IDX prod,
			RING_IDX cons)
{
	nb->connected = false;
	nb->broken = true;
	pr_warn("vif0: the guest's %s ring producer %u is more than a ring "
		"ahead of %u: vif disconnected",
		ring, prod, cons);
}

static void flush_batch(struct netback *nb, struct netback_txbatch *b);

/* Is the vif's port still its own (the guest may have closed it)? */
static bool port_ours(const struct netback *nb)
{
	return evtchn__is_hv(&nb->d->evtchn, nb->port);
}

static void notify(struct netback *nb)
{
	evtchn__raise_hv(&nb->d->evtchn, nb->port);
}

void netback__tx(struct netback *nb)
{
	struct domain *d = nb ? nb->d : NULL;
	RING_IDX prod, cons;
	int more, note;

	if (!nb || !nb->connected)
		return;
	/*
	 * Both rings are checked here, at every exit in every mode, so that a
	 * broken one disconnects the vif at the same exit in both replicas
	 * (rx is otherwise only looked at when frames come, which differs).
	 */
	netback__rx_slots(nb);
	if (!nb->connected)
		return;
	do {
		prod =
		    __atomic_load_n(&nb->tx.sring->req_prod, __ATOMIC_ACQUIRE);
		cons = nb->tx.req_cons;
		if (prod - cons > RING_SIZE(&nb->tx)) {
			ring_broken(nb, "tx", prod, cons);
			return;
		}
		while (cons != prod) {
			netif_tx_request_t req;
			netif_tx_response_t *rsp;
			const uint8_t *page;
			int16_t status = NETIF_RSP_OKAY;

			RING_COPY_REQUEST(&nb->tx, cons, &req);
			cons++;
			page = buffer_page(nb, req.gref);
			/* Single-slot frames only: no extra info, no chains. */
			if (!page ||
			    req.flags &
				(NETTXF_more_data | NETTXF_extra_info) ||
			    req.size < PVFT_NET_FRAME_MIN ||
			    req.size > PVFT_NET_FRAME_MAX ||
			    req.offset + req.size > PVFT_PAGE_SIZE) {
				status = NETIF_RSP_ERROR;
				STAT_ADD(nb, tx_errors, 1);
			} else {
				STAT_ADD(nb, tx_frames, 1);
				STAT_ADD(nb, tx_bytes, req.size);
				/* Held or dropped by the gate, else sent. */
				if (!gate__frame(d, page + req.offset,
						 req.size))
					netback__send(nb, page + req.offset,
						      req.size);
			}
			rsp = RING_GET_RESPONSE(&nb->tx, nb->tx.rsp_prod_pvt);
			rsp->id = req.id;
			rsp->status = status;
			nb->tx.rsp_prod_pvt++;
		}
		nb->tx.req_cons = cons;
		/* The frames sent from guest memory: out before it changes. */
		flush_batch(nb, &nb->vbatch);
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&nb->tx, note);
		if (note)
			notify(nb);
		/* Ask for a notify on the next request (ring.h hold-off). */
		RING_FINAL_CHECK_FOR_REQUESTS(&nb->tx, more);
		written(nb, nb->tx_ref);
	} while (more);
}

unsigned int netback__rx_slots(struct netback *nb)
{
	RING_IDX prod;

	if (!nb->connected)
		return 0;
	prod = __atomic_load_n(&nb->rx.sring->req_prod, __ATOMIC_ACQUIRE);
	if (prod - nb->rx.req_cons > RING_SIZE(&nb->rx)) {
		ring_broken(nb, "rx", prod, nb->rx.req_cons);
		return 0;
	}
	return prod - nb->rx.req_cons;
}

bool netback__rx_room(struct netback *nb)
{
	return netback__rx_slots(nb) > 0;
}

static uint64_t client_key(uint32_t ip, uint16_t port)
{
	return 1ull << 48 | (uint64_t)ip << 16 | port;
}

static uint64_t *client_slot(struct netback *nb, uint64_t key)
{
	return &nb->lo_seen[(key * 0x9e3779b97f4a7c15ull) >> 52];
}

/*
 * Loopback: a frame for the guest (made by this side, live or in the
 * primary that logged it) names a client the guest may answer.
 */
static void saw_client(struct netback *nb, const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + NETCODEC_ETH_HLEN, *udp = ip + NETCODEC_IP_HLEN;
	uint64_t key;

	/* Only this side's own frames come here: a glance is enough. */
	if (nb->cfg.host != VIF_HOST_LOOPBACK ||
	    len < NETCODEC_ETH_HLEN + NETCODEC_IP_HLEN + NETCODEC_UDP_HLEN ||
	    netcodec__get16(f + NETCODEC_ETH_TYPE_OFF) !=
		NETCODEC_ETHERTYPE_IPV4 ||
	    ip[NETCODEC_IP_VER_IHL_OFF] != NETCODEC_IP_VER_IHL_PLAIN ||
	    ip[NETCODEC_IP_PROTO_OFF] != NETCODEC_IPPROTO_UDP)
		return;
	key = client_key(netcodec__get32(ip + NETCODEC_IP_SRC_OFF),
			 netcodec__get16(udp + NETCODEC_UDP_SPORT_OFF));
	__atomic_store_n(client_slot(nb, key), key, __ATOMIC_RELAXED);
}

static bool known_client(struct netback *nb, uint32_t ip, uint16_t port)
{
	uint64_t key = client_key(ip, port);

	return __atomic_load_n(client_slot(nb, key), __ATOMIC_RELAXED) == key;
}

int netback__rx_put(struct netback *nb, const uint8_t *frame, uint16_t len)
{
	netif_rx_request_t req;
	netif_rx_response_t *rsp;
	uint8_t *page;

	if (!nb->connected)
		return -ENODEV;
	if (len < PVFT_NET_FRAME_MIN || len > PVFT_NET_FRAME_MAX)
		return -EINVAL;
	if (!netback__rx_room(nb))
		return nb->connected ? -ENOSPC : -ENODEV;
	RING_COPY_REQUEST(&nb->rx, nb->rx.req_cons, &req);
	nb->rx.req_cons++;
	rsp = RING_GET_RESPONSE(&nb->rx, nb->rx.rsp_prod_pvt);
	rsp->id = req.id;
	rsp->offset = 0;
	rsp->flags = 0;
	page = buffer_page(nb, req.gref);
	if (!page) {
		/* The guest's bad buffer costs it this frame. */
		rsp->status = NETIF_RSP_ERROR;
	} else {
		memcpy(page, frame, len);
		written(nb, req.gref);
		rsp->status = (int16_t)len;
		saw_client(nb, frame, len);
		STAT_ADD(nb, rx_frames, 1);
		STAT_ADD(nb, rx_bytes, len);
	}
	nb->rx.rsp_prod_pvt++;
	nb->rx_pushed = true;
	written(nb, nb->rx_ref);
	return 0;
}

void netback__rx_push(struct netback *nb)
{
	int note;

	if (!nb->rx_pushed || !nb->connected)
		return;
	nb->rx_pushed = false;
	RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&nb->rx, note);
	written(nb, nb->rx_ref);
	if (note)
		notify(nb);
}

bool netback__can_wake(struct netback *nb)
{
	/* Frames wake a guest only into buffers it has posted. */
	return nb && nb->connected && port_ours(nb) &&
	       evtchn__can_raise(&nb->d->evtchn, nb->port) &&
	       netback__rx_slots(nb);
}

/* ---- the rx queue ------------------------------------------------------ */

/*
 * Any thread: a frame for the guest, taken at its next exit. The caller
 * wakes the vCPU (once for a batch: sched__wake is a system call).
 */
static bool enqueue(struct netback *nb, const uint8_t *frame, size_t len)
{
	struct netback_frame *f;

	pthread_mutex_lock(&nb->lock);
	if (nb->q_len == NETBACK_RXQ || len > PVFT_NET_FRAME_MAX ||
	    len < PVFT_NET_FRAME_MIN) {
		pthread_mutex_unlock(&nb->lock);
		STAT_ADD(nb, rx_dropped, 1);
		return false;
	}
	f = &nb->q[(nb->q_head + nb->q_len) % NETBACK_RXQ];
	f->len = len;
	memcpy(f->data, frame, len);
	nb->q_len++;
	atomic_store(&nb->q_ready, true);
	pthread_mutex_unlock(&nb->lock);
	return true;
}

bool netback__rx_pop(struct netback *nb, struct netback_frame *f)
{
	bool got = false;

	if (!atomic_load_explicit(&nb->q_ready, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&nb->lock);
	if (nb->q_len) {
		struct netback_frame *h = &nb->q[nb->q_head];

		f->len = h->len;
		memcpy(f->data, h->data, h->len);
		nb->q_head = (nb->q_head + 1) % NETBACK_RXQ;
		nb->q_len--;
		got = true;
	}
	if (!nb->q_len)
		atomic_store(&nb->q_ready, false);
	pthread_mutex_unlock(&nb->lock);
	return got;
}

/* ---- frames the loopback side makes and reads -------------------------- */

/* A datagram from a loopback client, as the frame the guest receives. */
static size_t make_udp_frame(struct netback *nb, uint8_t *f,
			     const struct sockaddr_in *from,
			     const uint8_t *payload, size_t len)
{
	const struct netcodec_flow fl = {
		.dst_mac = nb->cfg.mac,
		.src_mac = loopback_mac,
		.src = ntohl(from->sin_addr.s_addr),
		.dst = ntohl(nb->cfg.ip.s_addr),
		.src_port = ntohs(from->sin_port),
		.dst_port = nb->cfg.guest_port,
	};

	return netcodec__build_udp_frame(f, &fl, nb->ip_id++, payload, len);
}

/* Send the batched datagrams: one system call. */
static void flush_batch(struct netback *nb, struct netback_txbatch *b)
{
	unsigned int done = 0, lost = 0;
	int fd = __atomic_load_n(&nb->fd, __ATOMIC_ACQUIRE);

	while (fd >= 0 && done < b->n) {
		int r = sendmmsg(fd, b->msg + done, b->n - done, MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		/* The first one failed (a full buffer, a refusal): it alone. */
		if (r <= 0) {
			done++;
			lost++;
			continue;
		}
		done += r;
	}
	if (fd < 0)
		lost = b->n;
	if (lost)
		STAT_ADD(nb, host_dropped, lost);
	b->n = 0;
}

/*
 * Loopback: a guest frame out. ARP is answered, UDP to 127/8 forwarded
 * (batched in @b: the frame's bytes must stay put until flush_batch).
 */
static void loopback_out(struct netback *nb, struct netback_txbatch *b,
			 const uint8_t *f, size_t len)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct netcodec_eth eth;
	struct netcodec_ipv4 ip;
	struct netcodec_udp udp;

	if (netcodec__parse_eth(f, len, &eth))
		goto drop;
	if (eth.type == NETCODEC_ETHERTYPE_ARP && eth.len >= NETCODEC_ARP_LEN) {
		struct netcodec_arp arp;
		uint8_t reply[NETCODEC_ETH_ZLEN] = { 0 };

		/* Requests for anyone but the guest: we are its gateway. */
		if (netcodec__parse_arp(eth.payload, eth.len, &arp) ||
		    arp.op != NETCODEC_ARP_REQUEST ||
		    arp.tpa == ntohl(nb->cfg.ip.s_addr) || !arp.tpa)
			return;
		netcodec__build_eth(reply, arp.sha, loopback_mac,
				    NETCODEC_ETHERTYPE_ARP);
		netcodec__build_arp(reply + NETCODEC_ETH_HLEN,
				    NETCODEC_ARP_REPLY, loopback_mac, arp.tpa,
				    arp.sha, arp.spa);
		if (enqueue(nb, reply, sizeof(reply)))
			sched__wake(&nb->d->sched);
		STAT_ADD(nb, arp_answered, 1);
		return;
	}
	/* The guest computed the checksums: they are not checked here. */
	if (eth.type != NETCODEC_ETHERTYPE_IPV4 ||
	    netcodec__parse_ipv4(eth.payload, eth.len, &ip, NETCODEC_NO_CSUM) ||
	    ip.proto != NETCODEC_IPPROTO_UDP ||
	    netcodec__parse_udp(&ip, &udp, NETCODEC_NO_CSUM))
		goto drop;
	to.sin_addr.s_addr = htonl(ip.dst);
	to.sin_port = htons(udp.dst_port);
	/* Only replies from the service, only to its loopback clients. */
	if ((ip.dst >> 24) != 127 || udp.src_port != nb->cfg.guest_port ||
	    !known_client(nb, ip.dst, udp.dst_port))
		goto drop;
	b->to[b->n] = to;
	b->iov[b->n] = (struct iovec){ (void *)udp.payload, udp.len };
	b->msg[b->n] = (struct mmsghdr){ .msg_hdr = {
					     .msg_name = &b->to[b->n],
					     .msg_namelen = sizeof(to),
					     .msg_iov = &b->iov[b->n],
					     .msg_iovlen = 1,
					 } };
	if (++b->n == NETBACK_BATCH)
		flush_batch(nb, b);
	return;
drop:
	STAT_ADD(nb, host_dropped, 1);
}

static void send_frame(struct netback *nb, struct netback_txbatch *b,
		       const uint8_t *frame, size_t len)
{
	if (__atomic_load_n(&nb->passive, __ATOMIC_ACQUIRE))
		return;
	switch (nb->cfg.host) {
	case VIF_HOST_TAP:
		if (nb->fd < 0 || write(nb->fd, frame, len) != (ssize_t)len)
			STAT_ADD(nb, host_dropped, 1);
		break;
	case VIF_HOST_LOOPBACK:
		loopback_out(nb, b, frame, len);
		break;
	case VIF_HOST_NONE:
		break;
	}
}

/* vCPU thread, during netback__tx (which flushes). */
void netback__send(struct netback *nb, const uint8_t *frame, size_t len)
{
	send_frame(nb, &nb->vbatch, frame, len);
}

void netback__frame_out(void *opaque, const void *frame, size_t len)
{
	struct netback *nb = opaque;

	send_frame(nb, &nb->wbatch, frame, len);
}

void netback__frame_flush(void *opaque)
{
	struct netback *nb = opaque;

	flush_batch(nb, &nb->wbatch);
}

/* ---- the host sides ---------------------------------------------------- */

/* Best effort: a host without IPv6 has nothing to turn off. */
static void no_ipv6(const char *ifname)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1", 1) != 1)
		pr_debug("vif0: cannot turn IPv6 off on %s", ifname);
	close(fd);
}

static int open_tap(struct netback *nb)
{
	struct ifreq ifr = { 0 };
	int fd, s, rc;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		pr_err("vif0: cannot open /dev/net/tun: %s", strerror(errno));
		return -1;
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	strcpy(ifr.ifr_name, nb->cfg.tap);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		pr_err("vif0: cannot attach to tap %s: %s", nb->cfg.tap,
		       strerror(errno));
		close(fd);
		return -1;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	/*
	 * As Xen's netback: the host end gets fe:ff:ff:ff:ff:ff, so that a
	 * bridge never takes the tap's MAC for its own (a bridge without a
	 * set MAC takes its lowest port's), and no IPv6 of its own.
	 */
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, tap_mac, 6);
	if (s >= 0 && ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
		pr_warn("vif0: cannot set tap %s's MAC: %s", nb->cfg.tap,
			strerror(errno));
	no_ipv6(nb->cfg.tap);
	rc = s < 0 ? -1 : ioctl(s, SIOCGIFFLAGS, &ifr);
	if (!rc) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (rc) {
		pr_err("vif0: cannot bring tap %s up: %s", nb->cfg.tap,
		       strerror(errno));
		goto fail;
	}
	if (nb->cfg.bridge[0]) {
		struct ifreq br = { 0 };

		strcpy(br.ifr_name, nb->cfg.bridge);
		br.ifr_ifindex = if_nametoindex(nb->cfg.tap);
		if (!br.ifr_ifindex || ioctl(s, SIOCBRADDIF, &br) < 0) {
			/* Already a port of it: fine. */
			if (errno != EBUSY) {
				pr_err("vif0: cannot add tap %s to bridge "
				       "%s: %s",
				       nb->cfg.tap, nb->cfg.bridge,
				       strerror(errno));
				goto fail;
			}
		}
	}
	close(s);
	nb->fd = fd;
	return 0;
fail:
	if (s >= 0)
		close(s);
	close(fd);
	return -1;
}

/*
 * 0, or -errno (EADDRINUSE: someone, perhaps the old primary, has it).
 *
 * A new primary binds the service address while its old primary may still
 * hold it (net.md, 4. Failover). SO_REUSEPORT allows that, and Linux lets
 * a socket join a port's SO_REUSEPORT group only with the same effective
 * uid: no other user can bind the address while a replica has it. Never
 * SO_REUSEADDR as well: with it, a socket of any uid that sets it too
 * shares a UDP port, and the one bound last gets the clients' datagrams.
 */
static int bind_service(struct netback *nb)
{
	/*
	 * The group spreads datagrams over its sockets by a hash of the
	 * sender unless a program picks one: this one picks the second, the
	 * socket that joined last of two (a new primary beside its old one);
	 * alone, the index is out of range and the only socket gets them.
	 */
	static struct sock_filter newest[] = { BPF_STMT(BPF_RET | BPF_K, 1) };
	static const struct sock_fprog prog = { 1, newest };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, rc;

	if (fd < 0)
		return -errno;
	/* Datagrams of a busy service: a generous receive buffer. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ 1 << 20 }, sizeof(int));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&nb->cfg.service,
		 sizeof(nb->cfg.service)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* After bind(): the program is the group's, set by its newest. */
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
		       sizeof(prog)))
		pr_warn("vif0: cannot steer the service address's datagrams "
			"to this replica (%s): while an old primary holds it "
			"too, it gets some of them",
			strerror(errno));
	__atomic_store_n(&nb->fd, fd, __ATOMIC_RELEASE);
	return 0;
}

static void service_name(struct netback *nb, char *out, size_t len)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &nb->cfg.service.sin_addr, a, sizeof(a));
	snprintf(out, len, "%s:%u", a, ntohs(nb->cfg.service.sin_port));
}

/* A passive tap (a backup's) sees the segment's broadcasts: drop them. */
static void drain_tap(struct netback *nb)
{
	uint8_t buf[2048];

	/* Gone live meanwhile: what is left is the vCPU's to read. */
	for (int i = 0; i < NETBACK_BATCH &&
			__atomic_load_n(&nb->passive, __ATOMIC_ACQUIRE);
	     i++)
		if (read(nb->fd, buf, sizeof(buf)) < 0)
			break;
}

int netback__host_fd(struct netback *nb)
{
	if (!nb || nb->cfg.host == VIF_HOST_NONE || nb->host_failed ||
	    __atomic_load_n(&nb->passive, __ATOMIC_ACQUIRE))
		return -1;
	return __atomic_load_n(&nb->fd, __ATOMIC_ACQUIRE);
}

void netback__host_failed(struct netback *nb)
{
	if (nb->host_failed)
		return;
	nb->host_failed = true;
	pr_err("vif0: the host side (%s) failed: no more frames in",
	       nb->cfg.host == VIF_HOST_TAP ? nb->cfg.tap : "loopback");
}

int netback__wait_fd(struct netback *nb)
{
	if (!nb || !netback__rx_slots(nb))
		return -1;
	return netback__host_fd(nb);
}

static unsigned int fetch_tap(struct netback *nb, struct netback_frame *f,
			      unsigned int max)
{
	unsigned int got = 0;

	while (got < max) {
		/* One byte more than a frame: a longer one shows, and goes. */
		ssize_t n = read(nb->fd, nb->rbuf[0], PVFT_NET_FRAME_MAX + 1);

		if (n < 0)
			break;
		if (n < PVFT_NET_FRAME_MIN || n == PVFT_NET_FRAME_MAX + 1) {
			STAT_ADD(nb, rx_dropped, 1);
			continue;
		}
		f[got].len = n;
		memcpy(f[got].data, nb->rbuf[0], n);
		got++;
	}
	return got;
}

static unsigned int fetch_loopback(struct netback *nb, struct netback_frame *f,
				   unsigned int max)
{
	struct mmsghdr msg[NETBACK_BATCH];
	struct iovec iov[NETBACK_BATCH];
	struct sockaddr_in from[NETBACK_BATCH];
	unsigned int got = 0;
	int n;

	memset(msg, 0, sizeof(msg));
	for (unsigned int i = 0; i < max; i++) {
		iov[i] = (struct iovec){ nb->rbuf[i], UDP_PAYLOAD_MAX + 1 };
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
		msg[i].msg_hdr.msg_name = &from[i];
		msg[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	/* Datagrams come in bursts: a batch per system call. */
	n = recvmmsg(nb->fd, msg, max, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++) {
		size_t len = msg[i].msg_len;

		if (msg[i].msg_hdr.msg_namelen != sizeof(from[i]) ||
		    from[i].sin_family != AF_INET ||
		    msg[i].msg_hdr.msg_flags & MSG_TRUNC ||
		    len > UDP_PAYLOAD_MAX) {
			STAT_ADD(nb, rx_dropped, 1);
			continue;
		}
		f[got].len =
		    make_udp_frame(nb, f[got].data, &from[i], nb->rbuf[i], len);
		got++;
	}
	return got;
}

unsigned int netback__rx_fetch(struct netback *nb, struct netback_frame *f,
			       unsigned int max)
{
	if (netback__host_fd(nb) < 0 || !max)
		return 0;
	if (max > NETBACK_BATCH)
		max = NETBACK_BATCH;
	return nb->cfg.host == VIF_HOST_TAP ? fetch_tap(nb, f, max)
					    : fetch_loopback(nb, f, max);
}

/* A tap backup gone live: tell the segment where the guest's MAC is now. */
static void send_garp(struct netback *nb)
{
	uint8_t f[NETCODEC_ETH_ZLEN] = { 0 };
	static const uint8_t zero[6];
	char mac[18];

	if (!nb->cfg.ip.s_addr) {
		pr_warn("vif0: no ip= for this vif: no gratuitous ARP, the "
			"network learns the new primary only when the guest "
			"next sends");
		return;
	}
	netcodec__build_eth(f, broadcast_mac, nb->cfg.mac,
			    NETCODEC_ETHERTYPE_ARP);
	netcodec__build_arp(f + NETCODEC_ETH_HLEN, NETCODEC_ARP_REQUEST,
			    nb->cfg.mac, ntohl(nb->cfg.ip.s_addr), zero,
			    ntohl(nb->cfg.ip.s_addr));
	for (int i = 0; i < GARP_COUNT; i++)
		if (write(nb->fd, f, sizeof(f)) != (ssize_t)sizeof(f))
			STAT_ADD(nb, host_dropped, 1);
	vif__format_mac(nb->cfg.mac, mac);
	pr_info("vif0: gratuitous ARP sent: %s is at %s", inet_ntoa(nb->cfg.ip),
		mac);
}

static void *net_thread(void *arg)
{
	struct netback *nb = arg;
	uint64_t said = 0, waited = 0;
	char svc[64];

	service_name(nb, svc, sizeof(svc));
	for (;;) {
		/* Live, the vCPU thread reads the host side at exits. */
		bool drain = nb->cfg.host == VIF_HOST_TAP &&
			     __atomic_load_n(&nb->passive, __ATOMIC_ACQUIRE);
		struct pollfd pfd[2] = {
			{ .fd = nb->wake_fd, .events = POLLIN },
			{ .fd = drain ? nb->fd : -1, .events = POLLIN },
		};
		bool want_bind = nb->cfg.host == VIF_HOST_LOOPBACK &&
				 nb->fd < 0 && atomic_load(&nb->live_now);

		if (poll(pfd, 2, want_bind ? BIND_RETRY_MS : -1) < 0 &&
		    errno != EINTR)
			break;
		if (pfd[0].revents) {
			uint64_t v;

			if (read(nb->wake_fd, &v, sizeof(v)) < 0)
				(void)v;
			if (atomic_load(&nb->stopping))
				break;
			continue;
		}
		if (want_bind) {
			int rc = bind_service(nb);

			if (!rc) {
				/* A blocked vCPU polls the new fd from now. */
				sched__wake(&nb->d->sched);
				if (waited)
					pr_info("vif0: took over %s after %llu "
						"ms",
						svc,
						(unsigned long long)waited);
				else
					pr_info("vif0: took over %s", svc);
				continue;
			}
			waited += BIND_RETRY_MS;
			if (rc != -EADDRINUSE || waited - said >= BIND_SAY_MS) {
				said = waited;
				pr_warn("vif0: cannot take over %s yet: %s%s",
					svc, strerror(-rc),
					rc == -EADDRINUSE
					    ? " (the old primary still has it)"
					    : "");
			}
			continue;
		}
		if (pfd[1].revents & POLLIN)
			drain_tap(nb);
	}
	return NULL;
}

int netback__start(struct netback *nb)
{
	sigset_t all, old;
	char svc[64];
	int rc;

	if (nb->cfg.host == VIF_HOST_NONE)
		return 0;
	nb->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (nb->wake_fd < 0) {
		pr_err("vif0: eventfd: %s", strerror(errno));
		return -1;
	}
	if (nb->cfg.host == VIF_HOST_TAP && open_tap(nb))
		return -1;
	if (nb->cfg.host == VIF_HOST_LOOPBACK && !nb->passive) {
		service_name(nb, svc, sizeof(svc));
		rc = bind_service(nb);
		if (rc) {
			pr_err("vif0: cannot bind %s: %s", svc, strerror(-rc));
			return -1;
		}
	}
	/* Stop signals belong to the I/O thread: none may land here. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&nb->thread, NULL, net_thread, nb);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pr_err("vif0: cannot start the net thread: %s", strerror(rc));
		return -1;
	}
	nb->thread_started = true;
	return 0;
}

static void wake_thread(struct netback *nb)
{
	uint64_t one = 1;

	while (write(nb->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void netback__stop(struct netback *nb)
{
	if (nb->thread_started) {
		atomic_store(&nb->stopping, true);
		wake_thread(nb);
		pthread_join(nb->thread, NULL);
		nb->thread_started = false;
	}
	if (nb->wake_fd >= 0)
		close(nb->wake_fd);
	if (nb->fd >= 0)
		close(nb->fd);
	nb->wake_fd = nb->fd = -1;
}

void netback__go_live(struct netback *nb)
{
	if (!nb->passive)
		return;
	__atomic_store_n(&nb->passive, false, __ATOMIC_RELEASE);
	if (nb->cfg.host == VIF_HOST_TAP && nb->fd >= 0) {
		send_garp(nb);
		/* Its thread stops draining the tap: the vCPU reads it now. */
		wake_thread(nb);
	}
	if (nb->cfg.host == VIF_HOST_LOOPBACK) {
		atomic_store(&nb->live_now, true);
		/* Out of poll() with no fd: the thread binds now. */
		wake_thread(nb);
	}
}

/* ---- the vif as a device ------------------------------------------------ */

static long dev_hypercall(struct domain *d, struct device *dev, uint64_t nr,
			  const uint64_t *arg)
{
	struct netback *nb = dev->priv;

	(void)d;
	if (nr != __HYPERVISOR_pvft_op)
		return -ENOSYS;
	switch ((unsigned int)arg[0]) {
	case PVFTOP_vif_info:
		return netback__info(nb, arg[1], arg[2]);
	case PVFTOP_vif_connect:
		return netback__connect(nb, arg[1], arg[2]);
	default:
		return -ENOSYS;
	}
}

static void dev_output(struct domain *d, struct device *dev)
{
	(void)d;
	netback__tx(dev->priv);
}

/* false: the guest's ring broke under it (the frame is dropped). */
static bool deliver_frame(struct netback *nb, const struct netback_frame *f)
{
	struct domain *d = nb->d;
	struct logfmt_record rec;

	/* Logged only once in the guest's buffer: a replay redoes just that. */
	if (netback__rx_put(nb, f->data, f->len))
		return false;
	if (!gate__recording(&d->gate))
		return true;
	rec = (struct logfmt_record){ .type = LOGFMT_NET_RX };
	rec.u.net_rx = (struct logfmt_net_rx){
		.pos = gate__here(d),
		.len = f->len,
		.bytes = f->data,
	};
	gate__put(d, &rec);
	return true;
}

/*
 * Live: frames into the guest's posted rx buffers, as many as it has
 * posted: the host side's own first (ARP answers), then a batch at a
 * time straight from the host side.
 */
static void dev_deliver_live(struct domain *d, struct device *dev)
{
	struct netback *nb = dev->priv;
	struct netback_frame *f = nb->frame_buf;
	unsigned int slots = netback__rx_slots(nb), n;

	(void)d;
	while (slots && netback__rx_pop(nb, f)) {
		if (!deliver_frame(nb, f))
			return;
		slots--;
	}
	while (slots && (n = netback__rx_fetch(nb, f, slots))) {
		for (unsigned int i = 0; i < n; i++)
			if (!deliver_frame(nb, &f[i]))
				return;
		slots -= n;
	}
}

static int dev_replay(struct domain *d, struct device *dev,
		      const struct logfmt_record *rec)
{
	struct netback *nb = dev->priv;
	const struct logfmt_net_rx *in = &rec->u.net_rx;
	int rc;

	if (!gate__at_pos(d, rec, &in->pos))
		return -1;
	rc = nb ? netback__rx_put(nb, in->bytes, in->len) : -ENODEV;
	if (rc) {
		gate__diverged(d, rec,
			       "the log delivers a %u-byte frame, the guest "
			       "has %s",
			       in->len,
			       rc == -ENOSPC ? "no rx buffer posted"
					     : "no connected vif");
		return -1;
	}
	return 0;
}

static void dev_deliver_done(struct domain *d, struct device *dev)
{
	(void)d;
	netback__rx_push(dev->priv);
}

static bool dev_can_wake(struct domain *d, struct device *dev)
{
	(void)d;
	return netback__can_wake(dev->priv);
}

static void dev_wait(struct domain *d, struct device *dev,
		     struct device_wait *w)
{
	(void)d;
	w->fd = netback__wait_fd(dev->priv);
}

static void dev_wait_failed(struct domain *d, struct device *dev)
{
	(void)d;
	netback__host_failed(dev->priv);
}

static void dev_go_live(struct domain *d, struct device *dev)
{
	(void)d;
	netback__go_live(dev->priv);
}

static void dev_release(struct device *dev, const void *frame, size_t len)
{
	netback__frame_out(dev->priv, frame, len);
}

static void dev_release_flush(struct device *dev)
{
	netback__frame_flush(dev->priv);
}

static void dev_status(struct domain *d, struct device *dev,
		       struct status_out *o)
{
	struct netback *nb = dev->priv;
	struct netback_stats s;
	char mac[18];

	(void)d;
	netback__get_stats(nb, &s);
	vif__format_mac(nb->cfg.mac, mac);
	o->str(o, "spec", nb->spec);
	o->str(o, "mac", mac);
	o->u64(o, "rx_frames", s.rx_frames);
	o->u64(o, "rx_bytes", s.rx_bytes);
	o->u64(o, "tx_frames", s.tx_frames);
	o->u64(o, "tx_bytes", s.tx_bytes);
	o->u64(o, "rx_dropped", s.rx_dropped);
	o->u64(o, "host_dropped", s.host_dropped);
}

static int dev_start(struct domain *d, struct device *dev)
{
	(void)d;
	return netback__start(dev->priv) ? -EIO : 0;
}

static void dev_stop(struct domain *d, struct device *dev)
{
	(void)d;
	netback__stop(dev->priv);
}

static void dev_dispose(struct domain *d, struct device *dev)
{
	struct netback *nb = dev->priv;
	struct netback_stats s;

	netback__get_stats(nb, &s);
	pr_info("vif0: %llu frames in (%llu bytes), %llu out (%llu bytes) in "
		"%llu exits; %llu bad tx requests, %llu dropped in, %llu not "
		"sent on",
		(unsigned long long)s.rx_frames, (unsigned long long)s.rx_bytes,
		(unsigned long long)s.tx_frames, (unsigned long long)s.tx_bytes,
		(unsigned long long)d->exits, (unsigned long long)s.tx_errors,
		(unsigned long long)s.rx_dropped,
		(unsigned long long)s.host_dropped);
	netback__dispose(nb);
}

/*
 * The guest-side state (the rings are guest pages, named by their grant
 * references): what a restored vif needs to go on where it was.
 */
struct netback_saved {
	uint8_t mac[6];
	uint8_t connected, broken, rx_pushed, pad[3];
	uint32_t port;
	uint64_t tx_ref, rx_ref;
	uint32_t tx_req_cons, tx_rsp_prod_pvt, rx_req_cons, rx_rsp_prod_pvt;
};

static long dev_save(struct domain *d, struct device *dev, void *buf,
		     size_t cap)
{
	struct netback *nb = dev->priv;
	struct netback_saved s = {
		.connected = nb->connected,
		.broken = nb->broken,
		.rx_pushed = nb->rx_pushed,
		.port = nb->port,
		.tx_ref = nb->tx_ref,
		.rx_ref = nb->rx_ref,
		.tx_req_cons = nb->tx.req_cons,
		.tx_rsp_prod_pvt = nb->tx.rsp_prod_pvt,
		.rx_req_cons = nb->rx.req_cons,
		.rx_rsp_prod_pvt = nb->rx.rsp_prod_pvt,
	};

	(void)d;
	if (cap < sizeof(s))
		return -ENOSPC;
	memcpy(s.mac, nb->cfg.mac, 6);
	memcpy(buf, &s, sizeof(s));
	return sizeof(s);
}

static int dev_restore(struct domain *d, struct device *dev, const void *buf,
		       size_t len)
{
	struct netback *nb = dev->priv;
	struct netback_saved s;
	netif_tx_sring_t *txs;
	netif_rx_sring_t *rxs;
	netif_tx_back_ring_t tx;
	netif_rx_back_ring_t rx;

	if (len != sizeof(s))
		return -EINVAL;
	memcpy(&s, buf, sizeof(s));
	/* Another MAC is another vif: the guest would see it change. */
	if (memcmp(s.mac, nb->cfg.mac, 6) || s.connected > 1 || s.broken > 1 ||
	    s.rx_pushed > 1 || (s.connected && s.broken))
		return -EINVAL;
	if (s.connected) {
		txs = gref_page(d, s.tx_ref);
		rxs = gref_page(d, s.rx_ref);
		if (!txs || !rxs || s.tx_ref == s.rx_ref ||
		    !evtchn__is_hv(&d->evtchn, s.port))
			return -EINVAL;
		BACK_RING_ATTACH(&tx, txs, s.tx_rsp_prod_pvt, PVFT_PAGE_SIZE);
		BACK_RING_ATTACH(&rx, rxs, s.rx_rsp_prod_pvt, PVFT_PAGE_SIZE);
		tx.req_cons = s.tx_req_cons;
		rx.req_cons = s.rx_req_cons;
		/*
		 * No response the guest did not ask for: responses trail the
		 * requests taken by at most a ring (mod 2^32).
		 */
		if ((RING_IDX)(tx.req_cons - tx.rsp_prod_pvt) >
			RING_SIZE(&tx) ||
		    (RING_IDX)(rx.req_cons - rx.rsp_prod_pvt) > RING_SIZE(&rx))
			return -EINVAL;
		nb->tx = tx;
		nb->rx = rx;
	}
	nb->connected = s.connected;
	nb->broken = s.broken;
	nb->rx_pushed = s.rx_pushed;
	nb->port = s.port;
	nb->tx_ref = s.tx_ref;
	nb->rx_ref = s.rx_ref;
	return 0;
}

const struct device_ops netback_device_ops = {
	.name = "vif",
	.level = DEVICE_LEVEL_DEV,
	.record_type = LOGFMT_NET_RX,
	.status_key = "vifs",
	.start = dev_start,
	.stop = dev_stop,
	.dispose = dev_dispose,
	.hypercall = dev_hypercall,
	.output = dev_output,
	.deliver_live = dev_deliver_live,
	.replay = dev_replay,
	.deliver_done = dev_deliver_done,
	.can_wake = dev_can_wake,
	.wait = dev_wait,
	.wait_failed = dev_wait_failed,
	.go_live = dev_go_live,
	.release = dev_release,
	.release_flush = dev_release_flush,
	.status = dev_status,
	.save = dev_save,
	.restore = dev_restore,
};

/*
 * A domain without a vif still answers the vif hypercalls (no such vif)
 * and a log's frames (no connected vif): the same words as ever.
 */
static long none_hypercall(struct domain *d, struct device *dev, uint64_t nr,
			   const uint64_t *arg)
{
	(void)d;
	(void)dev;
	if (nr != __HYPERVISOR_pvft_op)
		return -ENOSYS;
	switch ((unsigned int)arg[0]) {
	case PVFTOP_vif_info:
	case PVFTOP_vif_connect:
		return -ENODEV;
	default:
		return -ENOSYS;
	}
}

const struct device_ops netback_none_ops = {
	.name = "vif-none",
	.level = DEVICE_LEVEL_DEV,
	.record_type = LOGFMT_NET_RX,
	.hypercall = none_hypercall,
	.replay = dev_replay,
};

int netback__probe(struct domain *d, struct netback *nb)
{
	if (!nb) {
		static struct device none = { .ops = &netback_none_ops };

		return device__register(d, &none);
	}
	nb->dev.ops = &netback_device_ops;
	nb->dev.priv = nb;
	if (d->nr_vifs < PVFT_MAX_VIFS)
		memcpy(d->vif_mac[d->nr_vifs++], nb->cfg.mac, 6);
	return device__register(d, &nb->dev);
}
