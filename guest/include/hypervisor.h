/* SPDX-License-Identifier: MIT */
/*
 * The guest's view of the hv: start_info, shared_info, and the one place
 * where pending events are delivered.
 *
 * pvft injects no interrupts. The hv marks ports pending in shared_info
 * only at an exit (a hypercall), and the guest runs their handlers only
 * when it calls hypervisor_check_events(). The runtime does so in exactly
 * two places, after SCHEDOP_block (block_domain(), time.h) and after
 * SCHEDOP_yield (poll_events() below); a handler therefore never runs in
 * the middle of a printf, a malloc or a timer-list update.
 */
#ifndef GUEST_HYPERVISOR_H
#define GUEST_HYPERVISOR_H

#include <stddef.h>
#include <stdint.h>

#include "pvft/abi.h"
#include "hypercall-x86_64.h"

/* The hv's start_info, copied at boot as in Mini-OS; it never changes. */
extern struct start_info start_info;

/* The vector state at entry, as head.S found it. */
struct entry_fpu {
	uint8_t xmm[16][16];
	uint32_t mxcsr;
	uint16_t fcw;
	uint8_t pad[10];
};
extern struct entry_fpu entry_fpu;
extern struct shared_info *HYPERVISOR_shared_info;

/* Entered from head.S with the hv's start_info pointer. */
void start_kernel(const struct start_info *si);

/*
 * Run the handlers of all pending, unmasked ports, lowest port first.
 * Does nothing while a handler runs (vcpu_info.evtchn_upcall_mask is the
 * reentrancy guard), so a handler may make hypercalls but must not block.
 */
void hypervisor_check_events(void);

/* SCHEDOP_yield, then deliver whatever the hv made pending meanwhile. */
void poll_events(void);

/* Fill @buf from the hv's random source; 0 or -errno. */
int get_random_bytes(void *buf, size_t len);
/* A domain-unique 64-bit id. */
uint64_t get_unique_id(void);

#endif /* GUEST_HYPERVISOR_H */
