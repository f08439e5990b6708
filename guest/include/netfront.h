/* SPDX-License-Identifier: MIT */
/*
 * netfront: the guest end of a virtual network interface, on Xen's netif
 * rings (xen/io/netif.h) as pv-abi.md section 8 and pvft/abi.h describe
 * them: PVFTOP_vif_info and PVFTOP_vif_connect stand in for xenstore, a
 * grant reference is a guest frame number.
 *
 * Every frame is one slot of one page: NETFRONT_RX_RING_SIZE rx pages
 * stay posted, each transmitted frame is copied into one of
 * NETFRONT_TX_RING_SIZE tx pages. The hv moves frames at every exit, so
 * a notify is only needed to make an exit happen sooner, and a guest
 * about to block skips it (netfront_flush()).
 */
#ifndef GUEST_NETFRONT_H
#define GUEST_NETFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib.h"
#include "pvft/abi.h"

/*
 * ring.h leaves its barriers to the includer. The hv reads and writes the
 * rings only while our vCPU is stopped at an exit, but these are what the
 * ring protocol asks for in general: on x86 (TSO) only a store followed
 * by a load of the other side's index needs a fence.
 */
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() barrier()
#define xen_wmb() barrier()
#include <xen/io/netif.h>

#define NETFRONT_TX_RING_SIZE __CONST_RING_SIZE(netif_tx, PVFT_PAGE_SIZE)
#define NETFRONT_RX_RING_SIZE __CONST_RING_SIZE(netif_rx, PVFT_PAGE_SIZE)

struct netfront {
	struct netif_tx_front_ring tx;
	struct netif_rx_front_ring rx;
	evtchn_port_t evtchn;
	uint8_t mac[6];
	uint16_t mtu;
	bool pending;	  /* the port fired since the last netfront_poll() */
	void *mem;	  /* what malloc() gave: rings and buffers inside */
	uint8_t *tx_bufs; /* NETFRONT_TX_RING_SIZE pages, id i at page i */
	uint8_t *rx_bufs; /* NETFRONT_RX_RING_SIZE pages, the same */
	/* Free buffer ids: a stack each; in_flight marks the others. */
	uint16_t tx_free[NETFRONT_TX_RING_SIZE];
	unsigned int tx_nr_free;
	bool tx_in_flight[NETFRONT_TX_RING_SIZE];
	uint16_t rx_free[NETFRONT_RX_RING_SIZE];
	unsigned int rx_nr_free;
	bool rx_posted[NETFRONT_RX_RING_SIZE];
	/* Counters since netfront_init(). */
	unsigned long rx_frames;
	unsigned long rx_errors; /* error statuses, bad responses */
	unsigned long tx_frames;
	unsigned long tx_errors; /* error statuses, bad responses */
};

/*
 * Connect vif 0: learn its MAC, set up both rings, the event channel and
 * the buffers. 0, -ENODEV (no vif), -ENOMEM, or the hv's -errno.
 */
int netfront_init(struct netfront *nf);

typedef void (*netfront_rx_fn)(void *opaque, const uint8_t *frame, size_t len);
/*
 * Hand every frame that arrived to @fn (the frame is valid during the call
 * only; @fn may netfront_send()), re-post the buffers and re-arm the
 * event for the next frame. Returns the number of frames handed over, or
 * -EIO if the hv broke the ring protocol.
 */
int netfront_poll(struct netfront *nf, netfront_rx_fn fn, void *opaque);

/*
 * Queue a copy of @frame (PVFT_NET_FRAME_MIN..PVFT_NET_FRAME_MAX bytes)
 * for transmission; netfront_flush() publishes it. 0, -EINVAL, or
 * -EAGAIN when every tx buffer is still with the hv.
 */
int netfront_send(struct netfront *nf, const void *frame, size_t len);

/*
 * Publish the queued frames to the hv, notifying it when the ring says it
 * is waiting for some, unless @will_block: the caller is about to make a
 * hypercall (SCHEDOP_block), and the hv takes the frames at that exit
 * anyway, which saves one. 0 or the notify's -errno.
 */
int netfront_flush(struct netfront *nf, bool will_block);

/*
 * Publish and wait (yielding, a bounded number of times) until the hv has
 * taken every queued frame: before the domain shuts down. 0, -ETIMEDOUT
 * or -EIO.
 */
int netfront_drain(struct netfront *nf);

#endif /* GUEST_NETFRONT_H */
