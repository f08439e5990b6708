// SPDX-License-Identifier: MIT
/*
 * netfront: vif 0 on two netif rings, Mini-OS's netfront reduced to what
 * pvft offers (one slot per frame, no grant table, no xenstore).
 *
 * Memory, page-aligned, in one allocation: the tx shared ring, the rx
 * shared ring, NETFRONT_TX_RING_SIZE tx pages, NETFRONT_RX_RING_SIZE rx
 * pages. A buffer's id is its page's index; its grant reference is its
 * frame number.
 *
 * Events: the hv raises our port when an rx response passes the rx ring's
 * rsp_event, which netfront_poll() re-arms (RING_FINAL_CHECK_FOR_RESPONSES)
 * before the guest can block. tx responses are reaped when sending, never
 * waited for, so the tx ring's rsp_event is kept out of reach: a tx
 * completion would otherwise end the very SCHEDOP_block that carried the
 * batch to the hv, one wasted exit per batch.
 */
#include "errno.h"
#include "events.h"
#include "hypervisor.h"
#include "lib.h"
#include "mm.h"
#include "netfront.h"

#define NETFRONT_PAGES (2 + NETFRONT_TX_RING_SIZE + NETFRONT_RX_RING_SIZE)
#define NETFRONT_DRAIN_YIELDS 100

static grant_ref_t gref_of(const void *page)
{
	return (grant_ref_t)((uintptr_t)page / PVFT_PAGE_SIZE);
}

static uint8_t *tx_buf(struct netfront *nf, unsigned int id)
{
	return nf->tx_bufs + (size_t)id * PVFT_PAGE_SIZE;
}

static uint8_t *rx_buf(struct netfront *nf, unsigned int id)
{
	return nf->rx_bufs + (size_t)id * PVFT_PAGE_SIZE;
}

/* Runs from hypervisor_check_events(): only note it, the loop polls. */
static void netfront_event(evtchn_port_t port, void *data)
{
	struct netfront *nf = data;

	(void)port;
	nf->pending = true;
}

/* Post every free rx buffer the ring has room for. */
static void rx_post(struct netfront *nf)
{
	while (nf->rx_nr_free && !RING_FULL(&nf->rx)) {
		uint16_t id = nf->rx_free[--nf->rx_nr_free];
		netif_rx_request_t *req =
		    RING_GET_REQUEST(&nf->rx, nf->rx.req_prod_pvt);

		req->id = id;
		req->gref = gref_of(rx_buf(nf, id));
		nf->rx_posted[id] = true;
		nf->rx.req_prod_pvt++;
	}
	/* The hv looks at the ring at every exit: no notify needed. */
	RING_PUSH_REQUESTS(&nf->rx);
}

/* Take back the tx buffers the hv is done with. */
static int tx_reap(struct netfront *nf)
{
	RING_IDX cons, prod = nf->tx.sring->rsp_prod;

	if (RING_RESPONSE_PROD_OVERFLOW(&nf->tx, prod))
		return -EIO;
	xen_rmb(); /* read responses only after the index announcing them */
	for (cons = nf->tx.rsp_cons; cons != prod; cons++) {
		netif_tx_response_t rsp;

		RING_COPY_RESPONSE(&nf->tx, cons, &rsp);
		if (rsp.id >= NETFRONT_TX_RING_SIZE ||
		    !nf->tx_in_flight[rsp.id]) {
			nf->tx_errors++;
			continue;
		}
		nf->tx_in_flight[rsp.id] = false;
		nf->tx_free[nf->tx_nr_free++] = rsp.id;
		if (rsp.status == NETIF_RSP_OKAY)
			nf->tx_frames++;
		else
			nf->tx_errors++;
	}
	nf->tx.rsp_cons = prod;
	/*
	 * Out of reach: responses never run more than a ring ahead of
	 * rsp_cons, so the hv never raises the port for a tx completion.
	 */
	nf->tx.sring->rsp_event = prod + NETFRONT_TX_RING_SIZE + 1;
	return 0;
}

int netfront_init(struct netfront *nf)
{
	struct pvft_vif_info info;
	struct pvft_vif_connect conn = { 0 };
	struct netif_tx_sring *txs;
	struct netif_rx_sring *rxs;
	uint8_t *pages;
	long rc;

	memset(nf, 0, sizeof(*nf));
	rc = HYPERVISOR_pvft_op(PVFTOP_vif_info, 0, (unsigned long)&info);
	if (rc)
		return rc;
	memcpy(nf->mac, info.mac, sizeof(nf->mac));
	nf->mtu = info.mtu;

	/* The heap aligns to 16 bytes only: one page more, then align. */
	nf->mem = malloc((NETFRONT_PAGES + 1) * PVFT_PAGE_SIZE);
	if (!nf->mem)
		return -ENOMEM;
	pages = (uint8_t *)ALIGN_UP((uintptr_t)nf->mem, PVFT_PAGE_SIZE);
	memset(pages, 0, 2 * PVFT_PAGE_SIZE);
	txs = (struct netif_tx_sring *)pages;
	rxs = (struct netif_rx_sring *)(pages + PVFT_PAGE_SIZE);
	SHARED_RING_INIT(txs);
	FRONT_RING_INIT(&nf->tx, txs, PVFT_PAGE_SIZE);
	SHARED_RING_INIT(rxs);
	FRONT_RING_INIT(&nf->rx, rxs, PVFT_PAGE_SIZE);
	txs->rsp_event = NETFRONT_TX_RING_SIZE + 1; /* see tx_reap() */
	nf->tx_bufs = pages + 2 * PVFT_PAGE_SIZE;
	nf->rx_bufs = nf->tx_bufs + NETFRONT_TX_RING_SIZE * PVFT_PAGE_SIZE;
	/* Stacks popped from the end: buffer 0 goes out first. */
	for (unsigned int i = 0; i < NETFRONT_TX_RING_SIZE; i++)
		nf->tx_free[i] = NETFRONT_TX_RING_SIZE - 1 - i;
	nf->tx_nr_free = NETFRONT_TX_RING_SIZE;
	for (unsigned int i = 0; i < NETFRONT_RX_RING_SIZE; i++)
		nf->rx_free[i] = NETFRONT_RX_RING_SIZE - 1 - i;
	nf->rx_nr_free = NETFRONT_RX_RING_SIZE;

	rc = evtchn_alloc_unbound(0, netfront_event, nf, &nf->evtchn);
	if (rc)
		goto out_free;
	/* Buffers first, so that frames can arrive from the first exit on. */
	rx_post(nf);
	conn.tx_ring_ref = gref_of(txs);
	conn.rx_ring_ref = gref_of(rxs);
	conn.evtchn = nf->evtchn;
	rc = HYPERVISOR_pvft_op(PVFTOP_vif_connect, 0, (unsigned long)&conn);
	if (rc)
		goto out_unbind;
	return 0;

out_unbind:
	unbind_evtchn(nf->evtchn);
out_free:
	free(nf->mem);
	nf->mem = NULL;
	return rc;
}

/* A response for one whole frame inside its page. */
static bool rx_frame_ok(const netif_rx_response_t *rsp)
{
	if (rsp->flags & (NETRXF_more_data | NETRXF_extra_info))
		return false;
	if (rsp->status < PVFT_NET_FRAME_MIN ||
	    rsp->status > PVFT_NET_FRAME_MAX)
		return false;
	return rsp->offset + (size_t)rsp->status <= PVFT_PAGE_SIZE;
}

int netfront_poll(struct netfront *nf, netfront_rx_fn fn, void *opaque)
{
	int n = 0, more;

	nf->pending = false;
	do {
		RING_IDX cons, prod = nf->rx.sring->rsp_prod;

		if (RING_RESPONSE_PROD_OVERFLOW(&nf->rx, prod))
			return -EIO;
		xen_rmb(); /* read responses only after their index */
		for (cons = nf->rx.rsp_cons; cons != prod; cons++) {
			netif_rx_response_t rsp;
			uint16_t id;

			RING_COPY_RESPONSE(&nf->rx, cons, &rsp);
			id = rsp.id;
			if (id >= NETFRONT_RX_RING_SIZE || !nf->rx_posted[id]) {
				nf->rx_errors++;
				continue;
			}
			nf->rx_posted[id] = false;
			if (rx_frame_ok(&rsp)) {
				nf->rx_frames++;
				n++;
				fn(opaque, rx_buf(nf, id) + rsp.offset,
				   (size_t)rsp.status);
			} else {
				nf->rx_errors++;
			}
			nf->rx_free[nf->rx_nr_free++] = id;
		}
		nf->rx.rsp_cons = prod;
		rx_post(nf);
		/* Ask for an event at the next response, then look again. */
		RING_FINAL_CHECK_FOR_RESPONSES(&nf->rx, more);
	} while (more);
	return n;
}

int netfront_send(struct netfront *nf, const void *frame, size_t len)
{
	netif_tx_request_t *req;
	uint16_t id;
	int rc;

	if (len < PVFT_NET_FRAME_MIN || len > PVFT_NET_FRAME_MAX)
		return -EINVAL;
	rc = tx_reap(nf);
	if (rc)
		return rc;
	if (!nf->tx_nr_free || RING_FULL(&nf->tx))
		return -EAGAIN;
	id = nf->tx_free[--nf->tx_nr_free];
	memcpy(tx_buf(nf, id), frame, len);
	req = RING_GET_REQUEST(&nf->tx, nf->tx.req_prod_pvt);
	req->gref = gref_of(tx_buf(nf, id));
	req->offset = 0;
	req->flags = 0; /* checksums are complete: no offload */
	req->id = id;
	req->size = (uint16_t)len;
	nf->tx_in_flight[id] = true;
	nf->tx.req_prod_pvt++;
	return 0;
}

int netfront_flush(struct netfront *nf, bool will_block)
{
	int notify;

	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->tx, notify);
	if (notify && !will_block)
		return notify_remote_via_evtchn(nf->evtchn);
	return 0;
}

int netfront_drain(struct netfront *nf)
{
	netfront_flush(nf, true);
	for (int i = 0; i < NETFRONT_DRAIN_YIELDS; i++) {
		if (tx_reap(nf))
			return -EIO;
		if (nf->tx.rsp_cons == nf->tx.req_prod_pvt)
			return 0;
		/* Any exit will do: the hv takes tx requests at each. */
		poll_events();
	}
	return -ETIMEDOUT;
}
