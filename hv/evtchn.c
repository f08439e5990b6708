// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "device.h"
#include "digest.h"
#include "domain.h"
#include "evtchn.h"

#define BITS_PER_WORD (8 * sizeof(xen_ulong_t))

_Static_assert(PVFT_NR_EVTCHN <=
		   8 * sizeof(((struct shared_info *)0)->evtchn_pending),
	       "ports must fit the 2-level bitmaps");

static bool test_and_set(xen_ulong_t *words, unsigned int bit)
{
	xen_ulong_t m = (xen_ulong_t)1 << (bit % BITS_PER_WORD);
	xen_ulong_t *w = &words[bit / BITS_PER_WORD];
	bool old = *w & m;

	*w |= m;
	return old;
}

static bool test_bit(const xen_ulong_t *words, unsigned int bit)
{
	return words[bit / BITS_PER_WORD] &
	       ((xen_ulong_t)1 << (bit % BITS_PER_WORD));
}

static void clear_bit(xen_ulong_t *words, unsigned int bit)
{
	words[bit / BITS_PER_WORD] &=
	    ~((xen_ulong_t)1 << (bit % BITS_PER_WORD));
}

static bool port_valid(evtchn_port_t port)
{
	return port > 0 && port < PVFT_NR_EVTCHN;
}

static struct evtchn *port_in_use(struct evtchn_table *t, evtchn_port_t port)
{
	if (!port_valid(port) || t->port[port].state == EVTCHN_FREE)
		return NULL;
	return &t->port[port];
}

void evtchn__init(struct evtchn_table *t, struct shared_info *si)
{
	memset(t, 0, sizeof(*t));
	t->si = si;
}

/* The lowest free port: deterministic, as the guest may depend on it. */
static int get_free_port(struct evtchn_table *t)
{
	for (evtchn_port_t p = 1; p < PVFT_NR_EVTCHN; p++)
		if (t->port[p].state == EVTCHN_FREE)
			return p;
	return -ENOSPC;
}

int evtchn__bind_hv(struct evtchn_table *t, evtchn_port_t port)
{
	if (!port_valid(port) || t->port[port].state != EVTCHN_FREE)
		return -EINVAL;
	t->port[port].state = EVTCHN_HV;
	return 0;
}

void evtchn__set_pending(struct evtchn_table *t, evtchn_port_t port)
{
	struct shared_info *si = t->si;
	struct vcpu_info *v = &si->vcpu_info[0];

	if (test_and_set(si->evtchn_pending, port))
		return;
	/*
	 * Selector and upcall flag only for an unmasked port: a masked one
	 * is found by the guest when it unmasks (evtchn__unmask).
	 */
	if (test_bit(si->evtchn_mask, port))
		return;
	if (!test_and_set(&v->evtchn_pending_sel, port / BITS_PER_WORD))
		v->evtchn_upcall_pending = 1;
}

bool evtchn__send_virq(struct evtchn_table *t, uint32_t virq)
{
	evtchn_port_t port;

	if (virq >= NR_VIRQS || !(port = t->virq_port[virq]))
		return false;
	evtchn__set_pending(t, port);
	return true;
}

bool evtchn__upcall_pending(const struct evtchn_table *t)
{
	return t->si->vcpu_info[0].evtchn_upcall_pending;
}

bool evtchn__can_raise(const struct evtchn_table *t, evtchn_port_t port)
{
	return port_valid(port) && t->port[port].state != EVTCHN_FREE &&
	       !test_bit(t->si->evtchn_mask, port);
}

int evtchn__alloc_unbound(struct evtchn_table *t,
			  struct evtchn_alloc_unbound *op)
{
	int port;

	if (op->dom != DOMID_SELF)
		return -EPERM;
	/* The peer is this domain (a loopback pair) or dom0, i.e. the hv. */
	if (op->remote_dom != DOMID_SELF && op->remote_dom != 0)
		return -ESRCH;
	port = get_free_port(t);
	if (port < 0)
		return port;
	t->port[port] = (struct evtchn){
		.state = EVTCHN_UNBOUND,
		.remote_dom = op->remote_dom,
	};
	op->port = port;
	return 0;
}

int evtchn__bind_interdomain(struct evtchn_table *t,
			     struct evtchn_bind_interdomain *op)
{
	struct evtchn *remote;
	int port;

	if (op->remote_dom != DOMID_SELF)
		return -ESRCH;
	remote = port_in_use(t, op->remote_port);
	if (!remote || remote->state != EVTCHN_UNBOUND ||
	    remote->remote_dom != DOMID_SELF)
		return -EINVAL;
	port = get_free_port(t);
	if (port < 0)
		return port;
	t->port[port] = (struct evtchn){
		.state = EVTCHN_INTERDOMAIN,
		.peer = op->remote_port,
	};
	*remote = (struct evtchn){
		.state = EVTCHN_INTERDOMAIN,
		.peer = port,
	};
	op->local_port = port;
	return 0;
}

int evtchn__bind_virq(struct evtchn_table *t, struct evtchn_bind_virq *op)
{
	int port;

	/* pvft raises one virtual IRQ: the timer. */
	if (op->virq != VIRQ_TIMER)
		return -EINVAL;
	if (op->vcpu != 0)
		return -ENOENT;
	if (t->virq_port[op->virq])
		return -EEXIST;
	port = get_free_port(t);
	if (port < 0)
		return port;
	t->port[port] = (struct evtchn){
		.state = EVTCHN_VIRQ,
		.virq = op->virq,
	};
	t->virq_port[op->virq] = port;
	op->port = port;
	return 0;
}

int evtchn__close(struct evtchn_table *t, evtchn_port_t port)
{
	struct evtchn *c = port_in_use(t, port);

	if (!c)
		return -EINVAL;
	switch (c->state) {
	case EVTCHN_VIRQ:
		t->virq_port[c->virq] = 0;
		break;
	case EVTCHN_INTERDOMAIN:
		/* As in Xen, the other end goes back to waiting for a bind. */
		t->port[c->peer] = (struct evtchn){
			.state = EVTCHN_UNBOUND,
			.remote_dom = DOMID_SELF,
		};
		break;
	}
	*c = (struct evtchn){ .state = EVTCHN_FREE };
	/* A closed port must not look pending to its next owner. */
	clear_bit(t->si->evtchn_pending, port);
	return 0;
}

int evtchn__send(struct evtchn_table *t, evtchn_port_t port)
{
	struct evtchn *c = port_in_use(t, port);

	if (!c)
		return -EINVAL;
	switch (c->state) {
	case EVTCHN_INTERDOMAIN:
		evtchn__set_pending(t, c->peer);
		return 0;
	case EVTCHN_UNBOUND:
	case EVTCHN_HV:
		/* Nobody listens yet; Xen drops these silently too. */
		return 0;
	default:
		return -EINVAL;
	}
}

int evtchn__unmask(struct evtchn_table *t, evtchn_port_t port)
{
	struct shared_info *si = t->si;
	struct vcpu_info *v = &si->vcpu_info[0];

	if (!port_in_use(t, port))
		return -EINVAL;
	clear_bit(si->evtchn_mask, port);
	/* An event that arrived while masked is raised now (Xen's unmask). */
	if (test_bit(si->evtchn_pending, port) &&
	    !test_and_set(&v->evtchn_pending_sel, port / BITS_PER_WORD))
		v->evtchn_upcall_pending = 1;
	return 0;
}

int evtchn__status(struct evtchn_table *t, struct evtchn_status *op)
{
	struct evtchn *c;

	if (op->dom != DOMID_SELF)
		return -ESRCH;
	if (!port_valid(op->port))
		return -EINVAL;
	c = &t->port[op->port];
	op->vcpu = 0;
	memset(&op->u, 0, sizeof(op->u));
	switch (c->state) {
	case EVTCHN_FREE:
		op->status = EVTCHNSTAT_closed;
		break;
	case EVTCHN_UNBOUND:
		op->status = EVTCHNSTAT_unbound;
		op->u.unbound.dom = c->remote_dom;
		break;
	case EVTCHN_INTERDOMAIN:
		op->status = EVTCHNSTAT_interdomain;
		op->u.interdomain.dom = DOMID_SELF;
		op->u.interdomain.port = c->peer;
		break;
	case EVTCHN_VIRQ:
		op->status = EVTCHNSTAT_virq;
		op->u.virq = c->virq;
		break;
	case EVTCHN_HV:
		/* Bound to a device in dom0, i.e. the hv. */
		op->status = EVTCHNSTAT_interdomain;
		op->u.interdomain.dom = 0;
		op->u.interdomain.port = 0;
		break;
	}
	return 0;
}

bool evtchn__virq_can_raise(const struct evtchn_table *t, uint32_t virq)
{
	return virq < NR_VIRQS && evtchn__can_raise(t, t->virq_port[virq]);
}

void evtchn__raise_hv(struct evtchn_table *t, evtchn_port_t port)
{
	if (port_valid(port) && t->port[port].state == EVTCHN_HV)
		evtchn__set_pending(t, port);
}

bool evtchn__hv_can_raise(const struct evtchn_table *t, evtchn_port_t port)
{
	return port_valid(port) && t->port[port].state == EVTCHN_HV &&
	       evtchn__can_raise(t, port);
}

uint64_t evtchn__hash(const struct evtchn_table *t)
{
	static uint64_t v[2 * PVFT_NR_EVTCHN]; /* vCPU thread only */
	unsigned int n = 0;

	for (uint32_t p = 0; p < PVFT_NR_EVTCHN; p++) {
		const struct evtchn *e = &t->port[p];

		if (e->state == EVTCHN_FREE)
			continue;
		v[n++] = (uint64_t)p << 32 | (uint64_t)e->state << 16 |
			 e->remote_dom;
		v[n++] = (uint64_t)e->peer << 32 | e->virq;
	}
	return XXH3_64bits(v, n * sizeof(v[0]));
}

/* ---- the table as a device ---------------------------------------------- */

static void dev_digest(struct domain *d, struct device *dev,
		       struct digest_words *w)
{
	(void)dev;
	digest__put(w, DIGEST_SLOT_EVTCHN, evtchn__hash(&d->evtchn));
}

/* The ports and VIRQ bindings; the bits are in shared_info (guest memory). */
struct evtchn_saved {
	struct evtchn port[PVFT_NR_EVTCHN];
	uint32_t virq_port[NR_VIRQS];
};

static long dev_save(struct domain *d, struct device *dev, void *buf,
		     size_t cap)
{
	struct evtchn_saved *s = buf;

	(void)dev;
	if (cap < sizeof(*s))
		return -ENOSPC;
	memset(s, 0, sizeof(*s));
	for (uint32_t p = 0; p < PVFT_NR_EVTCHN; p++)
		s->port[p] = d->evtchn.port[p];
	memcpy(s->virq_port, d->evtchn.virq_port, sizeof(s->virq_port));
	return sizeof(*s);
}

/* A state this pvft could never have made is refused whole. */
static int dev_restore(struct domain *d, struct device *dev, const void *buf,
		       size_t len)
{
	struct evtchn_saved s;

	(void)dev;
	if (len != sizeof(s))
		return -EINVAL;
	memcpy(&s, buf, sizeof(s));
	for (uint32_t p = 0; p < PVFT_NR_EVTCHN; p++) {
		const struct evtchn *e = &s.port[p];

		if (e->state > EVTCHN_HV || (p == 0 && e->state) ||
		    (e->state == EVTCHN_INTERDOMAIN &&
		     (e->peer >= PVFT_NR_EVTCHN ||
		      s.port[e->peer].state != EVTCHN_INTERDOMAIN ||
		      s.port[e->peer].peer != p)) ||
		    (e->state == EVTCHN_VIRQ &&
		     (e->virq >= NR_VIRQS || s.virq_port[e->virq] != p)))
			return -EINVAL;
	}
	for (uint32_t v = 0; v < NR_VIRQS; v++)
		if (s.virq_port[v] &&
		    (s.virq_port[v] >= PVFT_NR_EVTCHN ||
		     s.port[s.virq_port[v]].state != EVTCHN_VIRQ ||
		     s.port[s.virq_port[v]].virq != v))
			return -EINVAL;
	memcpy(d->evtchn.port, s.port, sizeof(s.port));
	memcpy(d->evtchn.virq_port, s.virq_port, sizeof(s.virq_port));
	return 0;
}

const struct device_ops evtchn_device_ops = {
	.name = "evtchn",
	.level = DEVICE_LEVEL_CORE,
	.digest = dev_digest,
	.save = dev_save,
	.restore = dev_restore,
};

int evtchn__bind_backend(struct evtchn_table *t, evtchn_port_t port)
{
	struct evtchn *p;

	if (port == 0 || !port_valid(port))
		return -EINVAL;
	p = &t->port[port];
	if (p->state != EVTCHN_UNBOUND || p->remote_dom != 0)
		return -EINVAL;
	p->state = EVTCHN_HV;
	return 0;
}

bool evtchn__is_hv(const struct evtchn_table *t, evtchn_port_t port)
{
	return port_valid(port) && t->port[port].state == EVTCHN_HV;
}
