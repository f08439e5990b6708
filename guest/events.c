// SPDX-License-Identifier: MIT
/*
 * Event channels: the per-port action table and the EVTCHNOP wrappers.
 * Mini-OS's events.c, minus interrupts: handlers run from
 * hypervisor_check_events().
 */
#include "console.h"
#include "errno.h"
#include "events.h"
#include "hypervisor.h"
#include "lib.h"

#define BITS_PER_XEN_ULONG (8 * sizeof(xen_ulong_t))

/* One handler per port; chaining or sharing is not offered. */
struct ev_action {
	evtchn_handler_t handler; /* NULL: default_handler */
	void *data;
};

static struct ev_action ev_actions[PVFT_NR_EVTCHN];
static unsigned long stray_count;

static xen_ulong_t *bit_word(xen_ulong_t *bitmap, evtchn_port_t port)
{
	return &bitmap[port / BITS_PER_XEN_ULONG];
}

static xen_ulong_t bit_mask(evtchn_port_t port)
{
	return (xen_ulong_t)1 << (port % BITS_PER_XEN_ULONG);
}

static bool port_valid(evtchn_port_t port)
{
	return port > 0 && port < PVFT_NR_EVTCHN;
}

/*
 * An event nobody asked for: count it, and say so once only, since a port
 * that keeps firing would otherwise flood the console.
 */
static void default_handler(evtchn_port_t port, void *data)
{
	(void)data;
	if (stray_count++ == 0)
		printf("events: stray event on port %u (further strays are "
		       "only counted)\n",
		       port);
}

void init_events(void)
{
	HYPERVISOR_shared_info =
	    (struct shared_info *)(uintptr_t)start_info.shared_info;
	/*
	 * Ports start unmasked and without handlers: an event the hv raises
	 * on a port we never bound reaches default_handler and is counted,
	 * instead of sitting masked and unnoticed.
	 */
}

void do_event(evtchn_port_t port)
{
	struct ev_action *a;

	clear_evtchn(port);
	if (!port_valid(port)) {
		/* The hv never uses these; someone wrote our bitmaps. */
		default_handler(port, NULL);
		return;
	}
	a = &ev_actions[port];
	if (a->handler)
		a->handler(port, a->data);
	else
		default_handler(port, NULL);
}

int bind_evtchn(evtchn_port_t port, evtchn_handler_t handler, void *data)
{
	BUG_ON(!handler);
	if (!port_valid(port))
		return -EINVAL;
	if (ev_actions[port].handler)
		printf("events: handler for port %u replaced\n", port);
	ev_actions[port].handler = handler;
	ev_actions[port].data = data;
	/* unbind_evtchn() left it masked, and the hv reuses port numbers. */
	unmask_evtchn(port);
	return 0;
}

int unbind_evtchn(evtchn_port_t port)
{
	struct evtchn_close close = { .port = port };

	if (!port_valid(port))
		return -EINVAL;
	mask_evtchn(port);
	clear_evtchn(port);
	ev_actions[port].handler = NULL;
	ev_actions[port].data = NULL;
	return HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
}

int bind_virq(uint32_t virq, evtchn_handler_t handler, void *data)
{
	struct evtchn_bind_virq op = { .virq = virq, .vcpu = 0 };
	int rc;

	rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &op);
	if (rc)
		return rc;
	rc = bind_evtchn(op.port, handler, data);
	return rc ? rc : (int)op.port;
}

int evtchn_alloc_unbound(domid_t remote_dom, evtchn_handler_t handler,
			 void *data, evtchn_port_t *port_r)
{
	struct evtchn_alloc_unbound op = {
		.dom = DOMID_SELF,
		.remote_dom = remote_dom,
	};
	int rc;

	rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op);
	if (rc)
		return rc;
	*port_r = op.port;
	return bind_evtchn(op.port, handler, data);
}

int evtchn_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port,
			    evtchn_handler_t handler, void *data,
			    evtchn_port_t *local_port_r)
{
	struct evtchn_bind_interdomain op = {
		.remote_dom = remote_dom,
		.remote_port = remote_port,
	};
	int rc;

	rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &op);
	if (rc)
		return rc;
	*local_port_r = op.local_port;
	return bind_evtchn(op.local_port, handler, data);
}

int notify_remote_via_evtchn(evtchn_port_t port)
{
	struct evtchn_send op = { .port = port };

	return HYPERVISOR_event_channel_op(EVTCHNOP_send, &op);
}

void mask_evtchn(evtchn_port_t port)
{
	struct shared_info *s = HYPERVISOR_shared_info;

	*bit_word(s->evtchn_mask, port) |= bit_mask(port);
}

/*
 * Xen's 2-level rule, done locally to save an exit: an event that arrived
 * while the port was masked set only its pending bit, so raise selector
 * and upcall flag ourselves. It is delivered at the next check point.
 */
void unmask_evtchn(evtchn_port_t port)
{
	struct shared_info *s = HYPERVISOR_shared_info;
	struct vcpu_info *v = &s->vcpu_info[0];
	xen_ulong_t sel = (xen_ulong_t)1 << (port / BITS_PER_XEN_ULONG);

	*bit_word(s->evtchn_mask, port) &= ~bit_mask(port);
	barrier();
	if (*bit_word(s->evtchn_pending, port) & bit_mask(port)) {
		v->evtchn_pending_sel |= sel;
		v->evtchn_upcall_pending = 1;
	}
}

void clear_evtchn(evtchn_port_t port)
{
	struct shared_info *s = HYPERVISOR_shared_info;

	*bit_word(s->evtchn_pending, port) &= ~bit_mask(port);
}

unsigned long evtchn_stray_count(void)
{
	return stray_count;
}
