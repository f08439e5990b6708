// SPDX-License-Identifier: MIT
/*
 * pvft-exitbench: the baseline for the hypercall round trip. It drives the
 * same backend pvft-hv uses through the same doorbell exit, but with a
 * hand-made guest that does nothing but call a hypercall stub in a loop,
 * and answers each exit without dispatching it:
 *     mov $0x180000, %esp
 *   1: call hypercall_page + 17 * 32
 *     jmp 1b
 * The hcbench guest run by pvft-hv measures the same thing with the whole
 * hypercall path; bench/run.sh prints the ratio of the two.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain.h"
#include "log.h"
#include "vcpu.h"

#define BENCH_MEMORY (8ull << 20)
#define CODE_GPA PVFT_GUEST_MIN_ADDR
#define PAGE_GPA (PVFT_GUEST_MIN_ADDR + PVFT_PAGE_SIZE)

static void write_guest(struct domain *d)
{
	static const uint8_t code[] = {
		0xbc, 0x00, 0x00, 0x18, 0x00, /* mov $0x180000, %esp */
		0xe8, 0x16, 0x12, 0x00, 0x00, /* call PAGE_GPA + 17 * 32 */
		0xeb, 0xf9,		      /* jmp back to the call */
	};

	memcpy(d->mem + CODE_GPA, code, sizeof(code));
	d->entry = CODE_GPA;
	d->hypercall_page = PAGE_GPA;
	domain__init_pv_pages(d);
}

int main(int argc, char **argv)
{
	struct domain d = { .name = "exitbench", .mem_fd = -1 };
	const char *backend = "auto";
	unsigned long n = 20000;
	struct vcpu_exit e;
	uint64_t t0, t1;
	int c, rc;

	log__init("pvft-exitbench", NULL, LOG_INFO);
	while ((c = getopt(argc, argv, "n:b:")) != -1) {
		if (c == 'n')
			n = strtoul(optarg, NULL, 10);
		else if (c == 'b')
			backend = optarg;
		else
			die("usage: pvft-exitbench [-n EXITS] [-b "
			    "auto|kvm|ptrace]");
	}
	d.backend = vcpu__backend(backend);
	if (!d.backend)
		die("bad -b '%s': want auto, kvm or ptrace", backend);
	if (sched__init(&d.sched))
		die("eventfd failed");
	rc = domain__init_memory(&d, BENCH_MEMORY);
	if (rc)
		die("guest memory: %s", strerror(-rc));
	write_guest(&d);
	rc = d.backend->create(&d);
	if (rc)
		die("%s backend: %s", d.backend->name, strerror(-rc));

	t0 = clock__mono_ns();
	for (unsigned long i = 0; i < n; i++) {
		rc = d.backend->run(&d, &e);
		if (rc || e.kind != VCPU_EXIT_HYPERCALL)
			die("exit %lu: rc %d kind %d rip 0x%llx %s", i, rc,
			    e.kind, (unsigned long long)e.rip, e.fault.what);
		d.backend->complete_hypercall(&d, 0);
	}
	t1 = clock__mono_ns();

	printf("exitbench: backend=%s n=%lu total_ns=%llu per_exit_ns=%llu\n",
	       d.backend->name, n, (unsigned long long)(t1 - t0),
	       (unsigned long long)((t1 - t0) / (n ? n : 1)));
	d.backend->destroy(&d);
	domain__dispose(&d);
	return 0;
}
