// SPDX-License-Identifier: MIT
/*
 * The smallest guest: says hello, shows what it was given, powers off.
 * Command-line modes, for tests:
 *   echo   echo console input lines ("echo: LINE") until a line "quit",
 *          sleeping with no timer of its own between them, so that only
 *          the console's event can wake it;
 *   sleep  block for 60 s before powering off;
 *   idle=S tick at 100 Hz for S seconds, as an idle kernel's timer does
 *          (a baseline for log bandwidth);
 *   spew   print numbered lines forever;
 *   fill=M fill M MiB of the heap with non-zero bytes first (live
 *          migration's benchmarks: pages that cannot go as zero);
 *   churn  then rewrite a word of every filled page, over and over, a
 *          yield every 256 pages: a guest that dirties memory faster
 *          than a link sends it (with fill; prints a dot a pass);
 *   cpuid  show what CPUID says (a test of the hv's fixed table: a real
 *          guest must not use CPUID, pv-abi.md section 5);
 *   rdtsc  break the PV ABI on purpose: read the TSC into memory right
 *          after reading the wall clock (the marker a test finds in the
 *          log), then make one more hypercall. Only runs on pvft-hv
 *          --debug-allow-rdtsc; a replay must catch it at that next exit;
 *   tscspin  the same sin, worse: time 1 s of sleep with the TSC; a
 *          replay does not wait for timers, so there the TSC seems to stand
 *          still and the guest spins forever instead of going on (even
 *          under emulation, where a replay's few exits take a while: it
 *          spins unless they took half the recorded second's ticks at
 *          1 GHz).
 * It also shows the vector state it was entered with, which the PV ABI
 * fixes (pv-abi.md section 2).
 */
#include "cmdline.h"
#include "console.h"
#include "hypervisor.h"
#include "lib.h"
#include "mm.h"
#include "time.h"

static void echo_lines(void)
{
	char line[256];
	unsigned int len = 0;

	for (;;) {
		char c;

		if (console_read(&c, 1) != 1) {
			/* Only input's event can end this block. */
			block_domain(INT64_MAX);
			continue;
		}
		if (c != '\n') {
			if (len < sizeof(line) - 1)
				line[len++] = c;
			continue;
		}
		line[len] = '\0';
		len = 0;
		if (!strcmp(line, "quit"))
			return;
		printf("echo: %s\n", line);
	}
}

static void show_entry_fpu(void)
{
	unsigned int dirty = 0;

	for (unsigned int i = 0; i < 16; i++)
		for (unsigned int j = 0; j < 16; j++)
			if (entry_fpu.xmm[i][j])
				dirty |= 1u << i;
	printf("hello: entry fcw=%#x mxcsr=%#x xmm-nonzero=%#x\n",
	       entry_fpu.fcw, entry_fpu.mxcsr, dirty);
}

static void cpuid(uint32_t leaf, uint32_t r[4])
{
	asm volatile("cpuid"
		     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
		     : "a"(leaf), "c"(0));
}

static void show_cpuid(void)
{
	uint32_t r[4];
	char vendor[13];

	cpuid(0, r);
	memcpy(vendor, &r[1], 4);
	memcpy(vendor + 4, &r[3], 4);
	memcpy(vendor + 8, &r[2], 4);
	vendor[12] = '\0';
	cpuid(1, r);
	printf("hello: cpuid vendor=%s rdrand=%u\n", vendor, r[2] >> 30 & 1);
}

/* Where the TSC goes: memory, so that the next digest sees it. */
static volatile uint64_t tsc_seen;

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void read_tsc(void)
{
	(void)wall_clock(); /* the marker: a TIME record of the wall clock */
	tsc_seen = rdtsc();
	HYPERVISOR_xen_version(XENVER_version, NULL);
}

static void tsc_spin(void)
{
	int64_t w0 = monotonic_clock();
	uint64_t t0 = rdtsc();

	msleep(1000);
	/* Under 500 MHz: the second did not happen, this is a replay. */
	if (rdtsc() - t0 < (uint64_t)(monotonic_clock() - w0) / 2)
		for (;;)
			asm volatile("pause");
	printf("hello: tsc ticks on\n");
}

static void fill_memory(unsigned long mib, bool churn)
{
	size_t len = mib << 20;
	uint64_t *p = malloc(len), x = 0x9e3779b97f4a7c15ull;

	if (!p) {
		printf("hello: fill=%lu: no room for it\n", mib);
		return;
	}
	for (size_t i = 0; i < len / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x | 1;
	}
	printf("hello: filled %lu MiB\n", mib);
	for (uint64_t pass = 1; churn; pass++) {
		for (size_t i = 0; i < len / 8; i += PVFT_PAGE_SIZE / 8) {
			p[i] = pass;
			if ((i / (PVFT_PAGE_SIZE / 8)) % 256 == 0)
				HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
		}
		printf(".");
	}
}

int app_main(const char *cmdline)
{
	printf("Hello from pvft guest!\n");
	printf("hello: cmdline=\"%s\" memory=%lu MiB\n", cmdline,
	       start_info.nr_pages * PVFT_PAGE_SIZE >> 20);
	show_entry_fpu();
	if (cmdline_has(cmdline, "echo"))
		echo_lines();
	if (cmdline_has(cmdline, "cpuid"))
		show_cpuid();
	if (cmdline_has(cmdline, "rdtsc"))
		read_tsc();
	if (cmdline_has(cmdline, "tscspin"))
		tsc_spin();
	if (cmdline_has(cmdline, "fill"))
		fill_memory(cmdline_get_ulong(cmdline, "fill", 1),
			    cmdline_has(cmdline, "churn"));
	if (cmdline_has(cmdline, "idle")) {
		unsigned long ticks =
		    cmdline_get_ulong(cmdline, "idle", 1) * 100;

		for (unsigned long i = 0; i < ticks; i++)
			msleep(10);
	}
	if (cmdline_has(cmdline, "sleep"))
		msleep(60 * 1000);
	if (cmdline_has(cmdline, "spew"))
		for (unsigned long i = 0;; i++)
			printf("spew %lu\n", i);
	return 0;
}
