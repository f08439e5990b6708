/* SPDX-License-Identifier: MIT */
/*
 * netback: the hv's end of a vif (pv-abi.md section 8, Documentation/net.md).
 *
 * A device (device.h): its ops are the vif's part of every exit.
 * Guest side, vCPU thread only, at exits (the vCPU is stopped, so the
 * rings can be read and written with plain memory operations):
 *   - every exit consumes the guest's tx requests (->output): each frame
 *     goes to the gate (gate__frame: held under the output rule, or
 *     dropped in a replay) or out through the host side, and gets its
 *     response;
 *   - the deliveries (->deliver_live, ->replay; deliver.c) fill posted rx
 *     requests with queued frames (live) or with the log's NET_RX records
 *     (replay), and ->deliver_done raises the vif's port when the guest
 *     asked to be told (ring.h notification hold-off).
 *
 * Host side (a tap device, or the loopback UDP port forward): the vCPU
 * thread reads frames from it at exits (netback__rx_fetch) and polls it
 * while blocked; frames to it are sent by whoever releases them (the vCPU
 * thread, or the channel thread under the output rule), in batches. A
 * net thread per vif drains a passive tap and binds the loopback service
 * address at go live.
 *
 * A backup's host side is passive (it reads nothing into the guest and
 * sends nothing) until it goes live: netback__go_live() takes over the
 * service address (loopback) or announces the MAC with gratuitous ARPs
 * (tap).
 */
#ifndef PVFT_HV_NETBACK_H
#define PVFT_HV_NETBACK_H

#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pvft/abi.h"
#include "device.h"
#include "vifspec.h"
/* ring.h's barriers: the hv touches the rings only while the vCPU waits. */
#ifndef xen_mb
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
#include <xen/io/netif.h>

struct domain;

/* The loopback side's own MAC, the guest's gateway there. */
#define VIF_LOOPBACK_MAC                           \
	{                                          \
		0x02, 0x70, 0x76, 0x66, 0x74, 0x01 \
	}
/* Frames the host side made itself (ARP replies), for the guest. */
#define NETBACK_RXQ 64
/* Loopback clients remembered (a direct-mapped table). */
#define NETBACK_LO_CLIENTS 4096
/* Frames read or sent per system call. */
#define NETBACK_BATCH 32

struct netback_frame {
	uint16_t len;
	uint8_t data[PVFT_NET_FRAME_MAX];
};

/* Loopback datagrams waiting for one sendmmsg (one sending thread each). */
struct netback_txbatch {
	unsigned int n;
	struct mmsghdr msg[NETBACK_BATCH];
	struct iovec iov[NETBACK_BATCH];
	struct sockaddr_in to[NETBACK_BATCH];
};

struct netback_stats {
	uint64_t tx_frames, tx_bytes, tx_errors; /* guest -> hv */
	uint64_t rx_frames, rx_bytes;		 /* hv -> guest */
	uint64_t rx_dropped;			 /* queue full / too big */
	uint64_t host_dropped; /* the host side could not send or forward */
	uint64_t arp_answered; /* loopback: ARP requests answered */
};

struct netback {
	struct device dev; /* netback_device_ops; priv: this */
	struct vif_config cfg;
	const char *spec; /* the --vif option, for the status */
	struct domain *d;
	bool passive; /* a backup's: nothing in or out until it goes live */

	/* Guest side, vCPU thread. */
	bool connected;
	bool broken; /* a bad ring: disconnected, said once */
	evtchn_port_t port;
	netif_tx_back_ring_t tx;
	netif_rx_back_ring_t rx;
	bool rx_pushed;		 /* responses written since the last push */
	uint64_t tx_ref, rx_ref; /* the ring pages' grant references */
	bool host_failed;	 /* the host fd reported an error */

	/* Host side -> guest, under @lock (net thread and releasers). */
	pthread_mutex_t lock;
	struct netback_frame *q; /* NETBACK_RXQ */
	unsigned int q_head, q_len;
	atomic_bool q_ready; /* lock-free hint checked at every exit */

	/* The host side and its thread. */
	int fd;	     /* tap or UDP socket; -1 until there is one */
	int wake_fd; /* eventfd: wakes the thread (stop, go live) */
	atomic_bool stopping;
	pthread_t thread;
	bool thread_started;
	atomic_bool live_now; /* go_live asked the thread to take over */
	uint16_t ip_id;	      /* loopback: IPv4 ids (vCPU thread) */
	struct netback_txbatch vbatch; /* sent by the vCPU thread */
	struct netback_txbatch wbatch; /* sent by the channel's writer */
	/*
	 * Loopback: the clients the guest may answer (IPv4 and port of
	 * datagrams it was given), so that it cannot send to any other
	 * local port: {1, ip, port} as 1 << 48 | ip << 16 | port, by hash.
	 */
	uint64_t *lo_seen; /* NETBACK_LO_CLIENTS, atomic */
	/* vCPU thread: loopback datagrams read by recvmmsg. */
	uint8_t (*rbuf)[PVFT_NET_FRAME_MAX + 1];
	struct netback_frame *frame_buf; /* vCPU thread: NETBACK_BATCH */

	struct netback_stats stats; /* atomic counters */
};

/* Set up (no host side yet). 0 or -errno. */
int netback__init(struct netback *nb, const struct vif_config *cfg,
		  struct domain *d, bool passive);
/*
 * Open the host side (tap, or the loopback socket unless passive) and
 * start the net thread. 0, or -1 after saying why.
 */
int netback__start(struct netback *nb);
void netback__stop(struct netback *nb);
void netback__dispose(struct netback *nb);

/*
 * The vif as a device of @d (device.h), set up by netback__init; NULL: the
 * domain has no vif, and the device answers its hypercalls (-ENODEV) and
 * a log's frames (a divergence) as such. 0 or -ENOSPC.
 */
int netback__probe(struct domain *d, struct netback *nb);
extern const struct device_ops netback_device_ops;

/* PVFTOP_vif_info / PVFTOP_vif_connect; the hypercall's result. */
long netback__info(struct netback *nb, uint64_t index, uint64_t gpa);
long netback__connect(struct netback *nb, uint64_t index, uint64_t gpa);

/*
 * At every exit: check both rings, consume the guest's tx requests: each
 * frame to the gate (gate__frame: held under the output rule, or dropped
 * in a replay) or else out through the host side.
 */
void netback__tx(struct netback *nb);
/*
 * Rx, vCPU thread: does the guest have an rx buffer posted? Put one frame
 * into it (0; -ENOSPC: none posted; -ENODEV: not connected). Push the
 * responses and raise the port if the guest asked (once per batch).
 */
bool netback__rx_room(struct netback *nb);
int netback__rx_put(struct netback *nb, const uint8_t *frame, uint16_t len);
void netback__rx_push(struct netback *nb);
/* Rx buffers the guest has posted (0 if not connected). */
unsigned int netback__rx_slots(struct netback *nb);
/* Live: take the oldest queued frame (the host side's own); false if none. */
bool netback__rx_pop(struct netback *nb, struct netback_frame *f);
/*
 * Live, vCPU thread: read up to @max (<= NETBACK_BATCH) frames straight
 * from the host side (an active one: never a backup's before it goes
 * live), without waiting. Returns how many are in @f.
 */
unsigned int netback__rx_fetch(struct netback *nb, struct netback_frame *f,
			       unsigned int max);
/* The active host side's fd, or -1 (none, or a backup's: passive). */
int netback__host_fd(struct netback *nb);
/*
 * What a blocked vCPU polls for frames: the host fd while the guest has rx
 * buffers posted (else frames wait in the socket and the vCPU sleeps).
 */
int netback__wait_fd(struct netback *nb);
/* vCPU thread: the host fd polled as failed (a deleted tap): stop using it. */
void netback__host_failed(struct netback *nb);
/* Could rx still wake a blocked guest (connected, port unmasked)? */
bool netback__can_wake(struct netback *nb);

/* A frame the guest sent, released: out through the host side. */
void netback__send(struct netback *nb, const uint8_t *frame, size_t len);
/*
 * chan_config.frame_out / frame_flush (the writer thread): frames are
 * batched and sent with one system call per batch (loopback: sendmmsg).
 */
void netback__frame_out(void *nb, const void *frame, size_t len);
void netback__frame_flush(void *nb);
/* A backup goes live: take over the service address, announce the MAC. */
void netback__go_live(struct netback *nb);

void netback__get_stats(struct netback *nb, struct netback_stats *s);

#endif /* PVFT_HV_NETBACK_H */
