// SPDX-License-Identifier: MIT
/*
 * A counter for failover tests: prints "1\n", "2\n", ... "N\n" and nothing
 * else, then powers off. Its console output is the same bytes whatever the
 * inputs, so a test knows it in advance (`seq 1 N`) and can check what a
 * pair released across a failover (tests/pair/seqcheck.sh).
 *
 * Between two lines it reads the monotonic clock, draws random bytes and
 * sleeps for a random while, blocking until its timer fires: a recording
 * has clock, random and timer records all along, so a failover can happen
 * at any line.
 *
 * cmdline: n=N (default 1000) lines; sleep_us=S (default 2000), each
 * sleep lasting 0..S us.
 */
#include "console.h"
#include "errno.h"
#include "hypervisor.h"
#include "lib.h"
#include "time.h"

#define COUNT_DEFAULT_N 1000
#define COUNT_DEFAULT_SLEEP_US 2000
#define COUNT_MAX_SLEEP_US 10000000 /* 10 s: keeps MICROSECS() in range */

/* Nothing but the numbers goes to the console unless something is wrong. */
static int one_line(unsigned long i, unsigned long sleep_us, int64_t *last)
{
	int64_t now = monotonic_clock();
	uint64_t r;
	int rc;

	if (now < *last) {
		printf("count: line %lu: monotonic clock went back\n", i);
		return -EINVAL;
	}
	*last = now;
	rc = get_random_bytes(&r, sizeof(r));
	if (rc) {
		printf("count: line %lu: random bytes: error %d\n", i, rc);
		return rc;
	}
	sleep_ns(MICROSECS(r % (sleep_us + 1)));
	printf("%lu\n", i);
	return 0;
}

int app_main(const char *cmdline)
{
	unsigned long n = cmdline_get_ulong(cmdline, "n", COUNT_DEFAULT_N);
	unsigned long sleep_us =
	    min(cmdline_get_ulong(cmdline, "sleep_us", COUNT_DEFAULT_SLEEP_US),
		(unsigned long)COUNT_MAX_SLEEP_US);
	int64_t last = 0;

	for (unsigned long i = 1; i <= n; i++)
		if (one_line(i, sleep_us, &last))
			return 1;
	return 0;
}
