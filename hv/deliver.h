/* SPDX-License-Identifier: MIT */
/*
 * The exit boundary's deliveries: the one place inputs reach the guest,
 * at every hypercall exit and in SCHEDOP_block. It walks the domain's
 * devices (device.h) in order, and never names one:
 *   1. each device's outputs (->output: what the guest left to send);
 *   2. live (NONE, RECORD): each device's due inputs (->deliver_live);
 *      replay: each of the log's records at this exit ordinal to the
 *      device of its type (->replay), consumed once taken;
 *   3. ->deliver_done (push, notify), then the gate's sink sends what
 *      the pass logged (gate__kick).
 * vCPU thread.
 */
#ifndef PVFT_HV_DELIVER_H
#define PVFT_HV_DELIVER_H

struct domain;

/* Deliver due inputs at this exit. */
void deliver__exit(struct domain *d);
/*
 * SCHEDOP_block: clear the upcall mask (Xen does, to avoid lost wake-ups)
 * and sleep until an event is pending (in a replay: take the wake-up the
 * log has at this exit), waiting on what the devices say can wake the
 * guest. A guest with nothing that could ever wake it is ended instead.
 */
long deliver__block(struct domain *d);

#endif /* PVFT_HV_DELIVER_H */
