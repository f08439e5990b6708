// SPDX-License-Identifier: MIT
/*
 * The cost of one hypercall round trip, as the guest sees it: n calls of
 * the cheapest hypercall there is (xen_version(XENVER_version)).
 *
 * cmdline: n=N (default 20000)
 */
#include "console.h"
#include "hypervisor.h"
#include "lib.h"
#include "time.h"

#define HCBENCH_DEFAULT_N 20000

int app_main(const char *cmdline)
{
	unsigned long n = cmdline_get_ulong(cmdline, "n", HCBENCH_DEFAULT_N);
	unsigned long i, wrong = 0;
	int64_t t0, total;

	t0 = NOW();
	for (i = 0; i < n; i++)
		wrong += HYPERVISOR_xen_version(XENVER_version, NULL) !=
			 PVFT_XEN_VERSION;
	total = NOW() - t0;

	printf("hcbench: n=%lu total_ns=%lld per_call_ns=%lld\n", n,
	       (long long)total, (long long)(n ? total / (int64_t)n : 0));
	if (wrong) {
		printf("hcbench: %lu calls returned a wrong version\n", wrong);
		return 1;
	}
	return 0;
}
