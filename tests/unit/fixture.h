/* SPDX-License-Identifier: MIT */
/*
 * A real struct domain for the hypercall suites, built without KVM: guest
 * RAM is a memfd mapping (domain__init_memory), start_info and shared_info
 * are laid out as at boot, port 1 is the console's, and console output
 * goes to a non-blocking pipe the tests read back. A fresh one per test.
 */
#ifndef PVFT_TESTS_FIXTURE_H
#define PVFT_TESTS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "domain.h"

#define FIXTURE_MEM_SIZE (4ull << 20)
#define FIXTURE_BUF_GPA 0x200000ull /* free guest memory */
#define NS_PER_S 1000000000ull

/* CUnit setUp / tearDown. */
void fixture__setup(void);
void fixture__teardown(void);

/* The test's domain; ends the test (FATAL) if setUp failed. */
struct domain *fixture__domain(void);

long fixture__hypercall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2);
/* What CONSOLEIO_write sent so far. */
size_t fixture__console_out(char *buf, size_t max);
/*
 * SCHEDOP_block, stopped by SIGALRM after 300 ms as a signal stops pvft-hv,
 * so that a vCPU that would sleep forever fails the test instead of hanging
 * it. @fired_r says whether the guard had to stop it.
 */
long fixture__block(int *fired_r);

#endif /* PVFT_TESTS_FIXTURE_H */
