// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "domain.h"
#include "guestmem.h"
#include "hypercall.h"
#include "log.h"
#include "deliver.h"
#include "device.h"
#include "hcname.h"
#include "values.h"

/* Refusals are logged, but a guest that loops on bad calls must not flood. */
#define HYPERCALL_LOG_LIMIT 200

typedef long (*hypercall_fn)(struct domain *d, const uint64_t *arg);

/*
 * Xen's set_trap_table: entries up to one whose address is 0; NULL clears
 * the table. All or nothing: a bad entry leaves the old table in force.
 */
static long do_set_trap_table(struct domain *d, const uint64_t *arg)
{
	uint64_t handler[PVFT_NR_TRAPS];
	struct trap_info t;

	if (!arg[0]) {
		memset(d->trap_handler, 0, sizeof(d->trap_handler));
		return 0;
	}
	memcpy(handler, d->trap_handler, sizeof(handler));
	for (uint64_t i = 0; i < PVFT_TRAP_TABLE_MAX; i++) {
		/* No wrap-around: the first entry out of range stops us. */
		if (guestmem__copy_from(d, &t, arg[0] + i * sizeof(t),
					sizeof(t)))
			return -EFAULT;
		if (!t.address) {
			memcpy(d->trap_handler, handler, sizeof(handler));
			return 0;
		}
		if (t.vector >= PVFT_NR_TRAPS)
			return -EINVAL;
		if (t.address < PVFT_GUEST_MIN_ADDR ||
		    !guestmem__range_ok(d, t.address, 1, false))
			return -EFAULT;
		handler[t.vector] = t.address;
	}
	return -EINVAL; /* no terminator */
}

/*
 * Xen's handlers take their command as a C int or unsigned int: the upper
 * halves of those registers are ignored.
 */
static long do_sched_op(struct domain *d, const uint64_t *arg)
{
	if ((unsigned int)arg[0] == SCHEDOP_block)
		return deliver__block(d);
	return sched__op(d, (unsigned int)arg[0], arg[1]);
}

static long do_set_timer_op(struct domain *d, const uint64_t *arg)
{
	return sched__set_timer(d, arg[0]);
}

static long do_xen_version(struct domain *d, const uint64_t *arg)
{
	(void)d;
	return (unsigned int)arg[0] == XENVER_version ? (long)PVFT_XEN_VERSION
						      : -ENOSYS;
}

/*
 * Copy in, run, copy out: the evtchn code never sees guest pointers. The
 * result must be writable before the operation runs, or a refused call
 * would still have bound a port.
 */
#define EVTCHN_OP(type, fn)                                           \
	do {                                                          \
		struct type op;                                       \
		int rc;                                               \
		if (!guestmem__range_ok(d, arg[1], sizeof(op), true)) \
			return -EFAULT;                               \
		rc = guestmem__copy_from(d, &op, arg[1], sizeof(op)); \
		if (rc)                                               \
			return rc;                                    \
		rc = fn(&d->evtchn, &op);                             \
		if (rc)                                               \
			return rc;                                    \
		return guestmem__copy_to(d, arg[1], &op, sizeof(op)); \
	} while (0)

#define EVTCHN_PORT_OP(type, fn)                                          \
	do {                                                              \
		struct type op;                                           \
		int rc = guestmem__copy_from(d, &op, arg[1], sizeof(op)); \
		if (rc)                                                   \
			return rc;                                        \
		return fn(&d->evtchn, op.port);                           \
	} while (0)

static long do_event_channel_op(struct domain *d, const uint64_t *arg)
{
	switch ((unsigned int)arg[0]) {
	case EVTCHNOP_alloc_unbound:
		EVTCHN_OP(evtchn_alloc_unbound, evtchn__alloc_unbound);
	case EVTCHNOP_bind_interdomain:
		EVTCHN_OP(evtchn_bind_interdomain, evtchn__bind_interdomain);
	case EVTCHNOP_bind_virq:
		EVTCHN_OP(evtchn_bind_virq, evtchn__bind_virq);
	case EVTCHNOP_status:
		EVTCHN_OP(evtchn_status, evtchn__status);
	case EVTCHNOP_close:
		EVTCHN_PORT_OP(evtchn_close, evtchn__close);
	case EVTCHNOP_send:
		EVTCHN_PORT_OP(evtchn_send, evtchn__send);
	case EVTCHNOP_unmask:
		EVTCHN_PORT_OP(evtchn_unmask, evtchn__unmask);
	default:
		return -ENOSYS;
	}
}

static long pvft_time(struct domain *d, uint64_t clock)
{
	int64_t v;
	long rc;

	if (clock != PVFT_CLOCK_MONOTONIC && clock != PVFT_CLOCK_WALL)
		return -EINVAL;
	rc = values__time(d, clock, &v);
	return rc ? rc : v;
}

static long pvft_random(struct domain *d, uint64_t gpa, uint64_t len)
{
	uint8_t buf[PVFT_RANDOM_MAX];
	long rc;

	if (len > sizeof(buf))
		return -EINVAL;
	if (!guestmem__range_ok(d, gpa, len, true))
		return -EFAULT;
	rc = values__random(d, buf, len);
	if (rc)
		return rc;
	return guestmem__copy_to(d, gpa, buf, len);
}

static long pvft_unique_id(struct domain *d, uint64_t gpa)
{
	uint64_t id;

	if (!guestmem__range_ok(d, gpa, sizeof(id), true))
		return -EFAULT;
	/*
	 * A sum, not an OR: ids never repeat within a domain's life (they
	 * grow by one); the random nonce makes ids of two boots unlikely to
	 * meet, and the ids are recorded, so a replay gets the same ones.
	 */
	id = ((uint64_t)d->id_nonce << 32) + ++d->id_counter;
	return guestmem__copy_to(d, gpa, &id, sizeof(id));
}

static long do_pvft_op(struct domain *d, const uint64_t *arg)
{
	switch ((unsigned int)arg[0]) {
	case PVFTOP_time:
		return pvft_time(d, arg[1]);
	case PVFTOP_random:
		return pvft_random(d, arg[1], arg[2]);
	case PVFTOP_unique_id:
		return pvft_unique_id(d, arg[1]);
	default: /* a device's (a vif's) */
		return devices__hypercall(d, __HYPERVISOR_pvft_op, arg);
	}
}

/* The hv's own; the rest are asked of the devices (console_io). */
static const hypercall_fn hypercall_table[] = {
	[__HYPERVISOR_set_trap_table] = do_set_trap_table,
	[__HYPERVISOR_sched_op] = do_sched_op,
	[__HYPERVISOR_set_timer_op] = do_set_timer_op,
	[__HYPERVISOR_xen_version] = do_xen_version,
	[__HYPERVISOR_event_channel_op] = do_event_channel_op,
	[__HYPERVISOR_pvft_op] = do_pvft_op,
};

#define NR_TABLE (sizeof(hypercall_table) / sizeof(hypercall_table[0]))

long hypercall__dispatch(struct domain *d, const struct hypercall *hc)
{
	static unsigned int logged;
	long ret;

	if (hc->nr < NR_TABLE && hypercall_table[hc->nr])
		ret = hypercall_table[hc->nr](d, hc->arg);
	else
		ret = devices__hypercall(d, hc->nr, hc->arg);

	if (ret < 0 && logged < HYPERCALL_LOG_LIMIT) {
		logged++;
		pr_warn("refused hypercall %s (%llu) cmd 0x%llx args 0x%llx "
			"0x%llx at rip 0x%llx: %s%s",
			hcname__name(hc->nr), (unsigned long long)hc->nr,
			(unsigned long long)hc->arg[0],
			(unsigned long long)hc->arg[1],
			(unsigned long long)hc->arg[2],
			(unsigned long long)d->last_rip, strerror(-ret),
			logged == HYPERCALL_LOG_LIMIT
			    ? " (further refusals not logged)"
			    : "");
	}
	return ret;
}
