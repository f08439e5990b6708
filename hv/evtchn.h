/* SPDX-License-Identifier: MIT */
/*
 * Event channels, Xen's 2-level ABI: per-port pending and mask bits in
 * shared_info, a per-vCPU selector word and the upcall-pending flag in
 * vcpu_info. The hv sets bits only at exits (the vCPU is stopped), so plain
 * memory operations suffice; the guest clears them while it runs.
 */
#ifndef PVFT_HV_EVTCHN_H
#define PVFT_HV_EVTCHN_H

#include <stdbool.h>
#include <stdint.h>

#include "pvft/abi.h"

enum evtchn_state {
	EVTCHN_FREE = 0,
	EVTCHN_UNBOUND,	    /* alloc_unbound, waiting for bind_interdomain */
	EVTCHN_INTERDOMAIN, /* loopback pair inside the domain */
	EVTCHN_VIRQ,
	EVTCHN_HV, /* bound to an hv device (console input) */
};

struct evtchn {
	uint8_t state;
	uint16_t remote_dom; /* EVTCHN_UNBOUND: who may bind */
	uint32_t peer;	     /* EVTCHN_INTERDOMAIN: the other end */
	uint32_t virq;	     /* EVTCHN_VIRQ */
};

struct evtchn_table {
	struct shared_info *si;
	struct evtchn port[PVFT_NR_EVTCHN];
	uint32_t virq_port[NR_VIRQS]; /* 0: not bound */
};

void evtchn__init(struct evtchn_table *t, struct shared_info *si);
/* Bind the hv-side console input port; 0 or -errno. */
int evtchn__bind_hv(struct evtchn_table *t, evtchn_port_t port);

/* Mark a port pending, raising the upcall if unmasked (Xen's 2L rule). */
void evtchn__set_pending(struct evtchn_table *t, evtchn_port_t port);
/* Raise VIRQ @virq if bound; returns true if a port was signalled. */
bool evtchn__send_virq(struct evtchn_table *t, uint32_t virq);
bool evtchn__upcall_pending(const struct evtchn_table *t);
/* Could an event on @port reach the guest (in use and unmasked)? */
bool evtchn__can_raise(const struct evtchn_table *t, evtchn_port_t port);
/* The same for the port VIRQ @virq is bound to (false if none). */
bool evtchn__virq_can_raise(const struct evtchn_table *t, uint32_t virq);
/*
 * A backend takes the guest's port allocated unbound for dom0 (a vif's
 * connect): 0, or -EINVAL when @port is not such a port.
 */
int evtchn__bind_backend(struct evtchn_table *t, evtchn_port_t port);
/* Is @port bound to an hv device (the guest may have closed it)? */
bool evtchn__is_hv(const struct evtchn_table *t, evtchn_port_t port);
/* An hv device's port (evtchn__bind_hv): raise it / could it be raised? */
void evtchn__raise_hv(struct evtchn_table *t, evtchn_port_t port);
bool evtchn__hv_can_raise(const struct evtchn_table *t, evtchn_port_t port);
/* The ports the guest has bound (EVTCHNOP_status shows them), hashed. */
uint64_t evtchn__hash(const struct evtchn_table *t);

/* The table as a device: its digest and its saved state. */
struct device_ops;
extern const struct device_ops evtchn_device_ops;

/* EVTCHNOP_* on a structure already copied from the guest; 0 or -errno. */
int evtchn__alloc_unbound(struct evtchn_table *t,
			  struct evtchn_alloc_unbound *op);
int evtchn__bind_interdomain(struct evtchn_table *t,
			     struct evtchn_bind_interdomain *op);
int evtchn__bind_virq(struct evtchn_table *t, struct evtchn_bind_virq *op);
int evtchn__close(struct evtchn_table *t, evtchn_port_t port);
int evtchn__send(struct evtchn_table *t, evtchn_port_t port);
int evtchn__unmask(struct evtchn_table *t, evtchn_port_t port);
int evtchn__status(struct evtchn_table *t, struct evtchn_status *op);

#endif /* PVFT_HV_EVTCHN_H */
