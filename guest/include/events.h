/* SPDX-License-Identifier: MIT */
/*
 * Event channels, Mini-OS style: an action table indexed by port, one
 * handler per port, a default handler counting strays. Handlers run from
 * hypervisor_check_events() (hypervisor.h), never asynchronously.
 */
#ifndef GUEST_EVENTS_H
#define GUEST_EVENTS_H

#include <stdint.h>

#include "pvft/abi.h"

typedef void (*evtchn_handler_t)(evtchn_port_t port, void *data);

void init_events(void);

/*
 * Install @handler for @port (replacing any) and unmask the port; no
 * hypercall: the port must already be bound on the hv side. 0 or -EINVAL.
 */
int bind_evtchn(evtchn_port_t port, evtchn_handler_t handler, void *data);
/* Mask, forget the handler and EVTCHNOP_close @port; 0 or -errno. */
int unbind_evtchn(evtchn_port_t port);

/* EVTCHNOP_bind_virq on vCPU 0 plus bind_evtchn(); the port or -errno. */
int bind_virq(uint32_t virq, evtchn_handler_t handler, void *data);
/* EVTCHNOP_alloc_unbound for @remote_dom plus bind_evtchn(); 0 or -errno. */
int evtchn_alloc_unbound(domid_t remote_dom, evtchn_handler_t handler,
			 void *data, evtchn_port_t *port_r);
/* EVTCHNOP_bind_interdomain plus bind_evtchn(); 0 or -errno. */
int evtchn_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port,
			    evtchn_handler_t handler, void *data,
			    evtchn_port_t *local_port_r);
/* EVTCHNOP_send: make the other end of @port pending; 0 or -errno. */
int notify_remote_via_evtchn(evtchn_port_t port);

/* Local bitmap operations on shared_info; no hypercall. */
void mask_evtchn(evtchn_port_t port);
void unmask_evtchn(evtchn_port_t port);
void clear_evtchn(evtchn_port_t port);

/* Events that arrived on a port with no handler, since boot. */
unsigned long evtchn_stray_count(void);

/* Called by the dispatcher for each pending port. */
void do_event(evtchn_port_t port);

#endif /* GUEST_EVENTS_H */
