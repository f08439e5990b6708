// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: hypercall__dispatch(), the widest surface a guest
 * reaches, on a real struct domain (no vCPU). Each input is one hypercall
 * made from a chosen domain state, followed by the exit's event delivery
 * (deliver__exit), as in vcpu__run_loop(). Input, all of it optional:
 *   [0, 48)   nr, arg[0..4]: u64, little-endian (rax, rdi, rsi, rdx, r10, r8)
 *   48        bit i set: arg[i] is a pointer, its top two bits say where
 *             to (remap()) and its low 16 bits the offset
 *   49        the domain's state before the call (STATE_*)
 *   [50, ...) the data, copied to guest memory at FUZZ_DATA_GPA
 * Whatever the call, it returns >= 0 or -errno, writes nothing the guest
 * cannot (start_info, the hv-private pages, the unmapped gap), leaves no
 * free port pending, keeps the port table consistent and, when it is
 * refused, changes nothing. A violation traps, as ASan and UBSan reports do.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "devices.h"
#include "domain.h"
#include "hypercall.h"
#include "layout.h"
#include "log.h"

#define FUZZ_MEM_SIZE (4ull << 20)
#define FUZZ_DATA_GPA 0x200000ull
#define FUZZ_DATA_SPAN 0x10000ull
/* Flagged pointers land in the span; a call writes at most 4 KiB past one. */
#define FUZZ_WINDOW (FUZZ_DATA_SPAN + PVFT_PAGE_SIZE)
#define FUZZ_HEADER 50
#define NS_PER_S 1000000000ull

#define STATE_PORTS 0x01   /* 2: unbound, 3-4: loopback, 5: VIRQ_TIMER */
#define STATE_PENDING 0x02 /* events sent to ports 4 and 5 */
#define STATE_MASKED 0x04  /* every port masked */
#define STATE_INPUT 0x08   /* console input staged */
#define STATE_EOF 0x10	   /* console input closed */
#define STATE_TRAPS 0x20   /* a handler for every vector */
#define STATE_TIMER 0x40   /* timer armed, deadline past */

#define BITS_PER_WORD (8 * sizeof(xen_ulong_t))

#define CHECK(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static struct domain dom;
static struct console_sink console_out;
/* Guest memory below PVFT_GUEST_MIN_ADDR as at boot. */
static uint8_t low_mem[PVFT_GUEST_MIN_ADDR];
static const uint8_t zeros[FUZZ_WINDOW];

/* Once per process: the parts of a domain that no call can change. */
static void create_domain(struct domain *d)
{
	int out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	/* The code under test logs every refusal: keep only errors. */
	log__init("pvft-fuzz-hypercall", "fuzz", LOG_ERROR);
	d->name = "fuzz";
	d->id_nonce = 0x1234abcd;
	d->sched.wake_fd = -1;
	d->cin.room_fd = -1;
	if (out_fd < 0 || domain__init_memory(d, FUZZ_MEM_SIZE))
		abort();
	console_out = (struct console_sink){ .fd = out_fd };
	layout__build_x86(d->mem, d->mem_size);
	layout__init_start_info(d->mem, d->mem_size, "console=hvc0");
	/* A pattern, so that a stray zero written into the gap shows. */
	memset(d->mem + PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE, 0xa5,
	       PVFT_GUEST_MIN_ADDR - PVFT_SHARED_INFO_GPA - PVFT_PAGE_SIZE);
	memcpy(low_mem, d->mem, sizeof(low_mem));
}

static void bind_ports(struct evtchn_table *t)
{
	struct evtchn_alloc_unbound au = { .dom = DOMID_SELF,
					   .remote_dom = DOMID_SELF };
	struct evtchn_bind_interdomain bi = { .remote_dom = DOMID_SELF,
					      .remote_port = 3 };
	struct evtchn_bind_virq bv = { .virq = VIRQ_TIMER };

	CHECK(!evtchn__alloc_unbound(t, &au) && au.port == 2);
	CHECK(!evtchn__alloc_unbound(t, &au) && au.port == 3);
	CHECK(!evtchn__bind_interdomain(t, &bi) && bi.local_port == 4);
	CHECK(!evtchn__bind_virq(t, &bv) && bv.port == 5);
}

/* Everything a call can change, rebuilt in the state @flags asks for. */
static void reset_domain(struct domain *d, unsigned int flags)
{
	struct shared_info *si = domain__shared_info(d);

	d->shut_down = false;
	d->exit_status = 0;
	d->exits = 0;
	d->last_rip = 0;
	d->id_counter = 0;
	d->in_trap_handler = false;
	memset(d->trap_handler, 0, sizeof(d->trap_handler));
	layout__init_shared_info(d->mem);
	evtchn__init(&d->evtchn, si);
	CHECK(!evtchn__bind_hv(&d->evtchn, PVFT_CONSOLE_PORT));
	sched__dispose(&d->sched);
	coninput__dispose(&d->cin);
	d->nr_devices = 0;
	CHECK(!sched__init(&d->sched) && !coninput__init(&d->cin) &&
	      !devices__probe(d, &(struct devices_config){
				     .console_out = console_out,
				 }));
	/* Booted a second ago, so that a deadline of 1 ns is in the past. */
	d->sched.boot_ns -= NS_PER_S;

	if (flags & STATE_PORTS)
		bind_ports(&d->evtchn);
	if (flags & STATE_MASKED)
		memset(si->evtchn_mask, 0xff, sizeof(si->evtchn_mask));
	if ((flags & STATE_PENDING) && (flags & STATE_PORTS)) {
		CHECK(!evtchn__send(&d->evtchn, 3));
		CHECK(evtchn__send_virq(&d->evtchn, VIRQ_TIMER));
	}
	/* As the console device stages them at an exit, unannounced. */
	if (flags & STATE_INPUT) {
		memcpy(d->console.staged, "input\n", 6);
		d->console.staged_len = 6;
	}
	if (flags & STATE_EOF) {
		coninput__close(&d->cin);
		d->console.closed_seen = true;
	}
	if (flags & STATE_TRAPS)
		for (int v = 0; v < PVFT_NR_TRAPS; v++)
			d->trap_handler[v] = FUZZ_DATA_GPA + 16 * v;
	if (flags & STATE_TIMER)
		sched__set_timer(d, 1);
}

static bool pending(const struct shared_info *si, unsigned int port)
{
	return si->evtchn_pending[port / BITS_PER_WORD] &
	       ((xen_ulong_t)1 << (port % BITS_PER_WORD));
}

static void check_ports(struct domain *d, bool guest_wrote_si)
{
	const struct evtchn_table *t = &d->evtchn;
	const struct shared_info *si = domain__shared_info(d);

	CHECK(t->si == si && t->port[0].state == EVTCHN_FREE);
	for (unsigned int p = 0; p < PVFT_NR_EVTCHN; p++) {
		const struct evtchn *c = &t->port[p];

		/* Unless the call wrote guest data there, as it may. */
		CHECK(guest_wrote_si || !pending(si, p) ||
		      c->state != EVTCHN_FREE);
		switch (c->state) {
		case EVTCHN_FREE:
			break;
		case EVTCHN_UNBOUND:
			CHECK(c->remote_dom == DOMID_SELF ||
			      c->remote_dom == 0);
			break;
		case EVTCHN_INTERDOMAIN:
			CHECK(c->peer > 0 && c->peer < PVFT_NR_EVTCHN &&
			      c->peer != p &&
			      t->port[c->peer].state == EVTCHN_INTERDOMAIN &&
			      t->port[c->peer].peer == p);
			break;
		case EVTCHN_VIRQ:
			CHECK(c->virq < NR_VIRQS && t->virq_port[c->virq] == p);
			break;
		case EVTCHN_HV:
			CHECK(p == PVFT_CONSOLE_PORT);
			break;
		default:
			CHECK(0);
		}
	}
	for (unsigned int p = PVFT_NR_EVTCHN;
	     p < 8 * sizeof(si->evtchn_pending); p++)
		CHECK(guest_wrote_si || !pending(si, p));
	for (unsigned int v = 0; v < NR_VIRQS; v++) {
		uint32_t p = t->virq_port[v];

		CHECK(!p ||
		      (p < PVFT_NR_EVTCHN && t->port[p].state == EVTCHN_VIRQ &&
		       t->port[p].virq == v));
	}
}

/* Field by field: struct assignments need not copy padding. */
static bool ports_equal(const struct evtchn_table *a,
			const struct evtchn_table *b)
{
	for (unsigned int p = 0; p < PVFT_NR_EVTCHN; p++) {
		const struct evtchn *x = &a->port[p], *y = &b->port[p];

		if (x->state != y->state || x->remote_dom != y->remote_dom ||
		    x->peer != y->peer || x->virq != y->virq)
			return false;
	}
	return !memcmp(a->virq_port, b->virq_port, sizeof(a->virq_port));
}

static bool in(uint64_t x, uint64_t lo, uint64_t hi)
{
	return x >= lo && x < hi;
}

/* Where bad pointers are likeliest to slip through: near the edges. */
static uint64_t remap(const struct domain *d, uint64_t arg)
{
	uint64_t off = arg % FUZZ_DATA_SPAN;

	switch (arg >> 62) {
	case 0: /* the data */
		return FUZZ_DATA_GPA + off;
	case 1: /* start_info (read-only), then shared_info */
		return PVFT_START_INFO_GPA + off % (2 * PVFT_PAGE_SIZE);
	case 2: /* shared_info, then the gap */
		return PVFT_SHARED_INFO_GPA + off % (2 * PVFT_PAGE_SIZE);
	default: /* the end of memory */
		return d->mem_size - off % PVFT_PAGE_SIZE;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct evtchn_table ports_before;
	static uint64_t traps_before[PVFT_NR_TRAPS];
	struct domain *d = &dom;
	uint8_t header[FUZZ_HEADER] = { 0 };
	struct hypercall hc;
	bool guest_wrote_si = false, stray = false;
	size_t n;
	long ret;

	if (!d->mem)
		create_domain(d);
	memcpy(header, data, size < FUZZ_HEADER ? size : FUZZ_HEADER);
	data += size < FUZZ_HEADER ? size : FUZZ_HEADER;
	n = size < FUZZ_HEADER ? 0 : size - FUZZ_HEADER;
	if (n > FUZZ_WINDOW)
		n = FUZZ_WINDOW;
	/* x86 is little-endian, as the input format. */
	memcpy(&hc, header, sizeof(hc));
	for (int i = 0; i < 5; i++) {
		if (header[48] & (1u << i))
			hc.arg[i] = remap(d, hc.arg[i]);
		guest_wrote_si |= in(hc.arg[i], PVFT_SHARED_INFO_GPA,
				     PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE);
		stray |=
		    in(hc.arg[i], PVFT_GUEST_MIN_ADDR, FUZZ_DATA_GPA) ||
		    in(hc.arg[i], FUZZ_DATA_GPA + FUZZ_WINDOW, d->mem_size);
	}

	reset_domain(d, header[49]);
	memset(d->mem + FUZZ_DATA_GPA, 0, FUZZ_WINDOW);
	memcpy(d->mem + FUZZ_DATA_GPA, data, n);
	ports_before = d->evtchn;
	memcpy(traps_before, d->trap_handler, sizeof(traps_before));

	/*
	 * A block returns at once only if an event is already pending; -1
	 * asks libFuzzer to keep such an input out of the corpus.
	 */
	if (hc.nr == __HYPERVISOR_sched_op &&
	    (unsigned int)hc.arg[0] == SCHEDOP_block &&
	    !evtchn__upcall_pending(&d->evtchn))
		return -1;
	ret = hypercall__dispatch(d, &hc);
	deliver__exit(d);

	CHECK(ret >= -4095);
	/* The guest's own pages aside, guest memory is as at boot. */
	CHECK(!memcmp(d->mem, low_mem, PVFT_SHARED_INFO_GPA));
	CHECK(!memcmp(d->mem + PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE,
		      low_mem + PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE,
		      PVFT_GUEST_MIN_ADDR - PVFT_SHARED_INFO_GPA -
			  PVFT_PAGE_SIZE));
	check_ports(d, guest_wrote_si);
	for (int v = 0; v < PVFT_NR_TRAPS; v++)
		CHECK(!d->trap_handler[v] ||
		      in(d->trap_handler[v], PVFT_GUEST_MIN_ADDR, d->mem_size));
	CHECK(d->shut_down ? d->exit_status >= 0 && d->exit_status <= 255
			   : d->exit_status == 0);
	CHECK(d->console.staged_len <= sizeof(d->console.staged));
	if (ret < 0) {
		/* A refusal changes nothing and never ends the domain. */
		CHECK(!d->shut_down);
		CHECK(ports_equal(&ports_before, &d->evtchn));
		CHECK(!memcmp(traps_before, d->trap_handler,
			      sizeof(traps_before)));
		CHECK(!memcmp(d->mem + FUZZ_DATA_GPA, data, n));
		CHECK(!memcmp(d->mem + FUZZ_DATA_GPA + n, zeros,
			      FUZZ_WINDOW - n));
	}
	/* The next input must not read what this one left there. */
	if (stray)
		memset(d->mem + PVFT_GUEST_MIN_ADDR, 0,
		       d->mem_size - PVFT_GUEST_MIN_ADDR);
	return 0;
}
