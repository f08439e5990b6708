// SPDX-License-Identifier: MIT
/*
 * The cost of one hypercall round trip, as the guest sees it: n calls of
 * the cheapest hypercall there is (xen_version(XENVER_version)), or with
 * "time", of PVFTOP_time (one log record each when recorded).
 *
 * cmdline: n=N (default 20000), time
 */
#include "cmdline.h"
#include "console.h"
#include "hypervisor.h"
#include "lib.h"
#include "time.h"

#define HCBENCH_DEFAULT_N 20000

int app_main(const char *cmdline)
{
	unsigned long n = cmdline_get_ulong(cmdline, "n", HCBENCH_DEFAULT_N);
	bool time = cmdline_has(cmdline, "time");
	unsigned long i, wrong = 0;
	int64_t t0, total;

	t0 = NOW();
	if (time) {
		for (i = 0; i < n; i++)
			wrong += HYPERVISOR_pvft_op(
				     PVFTOP_time, PVFT_CLOCK_MONOTONIC, 0) < 0;
	} else {
		for (i = 0; i < n; i++)
			wrong += HYPERVISOR_xen_version(XENVER_version, NULL) !=
				 PVFT_XEN_VERSION;
	}
	total = NOW() - t0;

	printf("hcbench: n=%lu total_ns=%lld per_call_ns=%lld\n", n,
	       (long long)total, (long long)(n ? total / (int64_t)n : 0));
	if (wrong) {
		printf("hcbench: %lu calls failed\n", wrong);
		return 1;
	}
	return 0;
}
