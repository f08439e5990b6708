/* SPDX-License-Identifier: MIT */
/*
 * Fault reporting, as Mini-OS's traps.c: a handler for every exception,
 * registered with set_trap_table, prints what faulted and crashes the
 * domain. pvft never resumes faulting code, so handlers do not return.
 */
#ifndef PVFT_GUEST_TRAPS_H
#define PVFT_GUEST_TRAPS_H

#include "hypervisor.h"

typedef void trap_handler_fn(unsigned long vector, unsigned long error_code,
			     unsigned long rip, unsigned long addr,
			     unsigned long rsp);

void init_traps(void);
/* Point every vector at @fn (NULL: no handlers, the hv reports faults). */
int set_trap_handler(trap_handler_fn *fn);

#endif /* PVFT_GUEST_TRAPS_H */
