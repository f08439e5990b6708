// SPDX-License-Identifier: MIT
#include "console.h"
#include "lib.h"
#include "traps.h"

static const char *const trap_names[PVFT_NR_TRAPS] = {
	[0] = "divide error",	      [1] = "debug",
	[3] = "breakpoint",	      [4] = "overflow",
	[5] = "bound range",	      [6] = "invalid opcode",
	[7] = "device not available", [8] = "double fault",
	[10] = "invalid TSS",	      [11] = "segment not present",
	[12] = "stack fault",	      [13] = "general protection",
	[14] = "page fault",	      [16] = "x87 error",
	[17] = "alignment check",     [19] = "SIMD error",
};

static bool in_memory(unsigned long addr, unsigned long len)
{
	unsigned long end = start_info.nr_pages * PVFT_PAGE_SIZE;

	return addr >= PVFT_GUEST_MIN_ADDR && addr <= end && len <= end - addr;
}

/*
 * Entered by the hv in place of the faulting code (pv-abi.md section 6),
 * with its own stack below the faulting one.
 */
static void __attribute__((noreturn))
do_trap(unsigned long vector, unsigned long error_code, unsigned long rip,
	unsigned long addr, unsigned long rsp)
{
	const char *name = vector < PVFT_NR_TRAPS && trap_names[vector]
			       ? trap_names[vector]
			       : "exception";

	printf("fault: %s (vector %lu) at rip %#lx", name, vector, rip);
	if (vector == 14)
		printf(", address %#lx", addr);
	printf(", error code %#lx, rsp %#lx\n", error_code, rsp);
	/* A few words of the faulting stack, if it is memory at all. */
	if (in_memory(rsp, 4 * sizeof(unsigned long))) {
		const unsigned long *sp = (const unsigned long *)rsp;

		printf("fault: stack %#lx %#lx %#lx %#lx\n", sp[0], sp[1],
		       sp[2], sp[3]);
	}
	console_flush();
	HYPERVISOR_shutdown(SHUTDOWN_crash);
	for (;;)
		HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

int set_trap_handler(trap_handler_fn *fn)
{
	struct trap_info table[PVFT_NR_TRAPS + 1];
	unsigned int n = 0;

	if (!fn)
		return HYPERVISOR_set_trap_table(NULL);
	for (unsigned int v = 0; v < PVFT_NR_TRAPS; v++)
		if (trap_names[v])
			table[n++] = (struct trap_info){
				.vector = v,
				.address = (unsigned long)fn,
			};
	table[n] = (struct trap_info){ 0 };
	return HYPERVISOR_set_trap_table(table);
}

void init_traps(void)
{
	BUG_ON(set_trap_handler(do_trap));
}
