// SPDX-License-Identifier: MIT
/*
 * pvft-unit-tests: every CUnit suite, run with the basic interface. The
 * last line of stdout is "N passed, M failed" (tests, not asserts), as
 * tests/run-all.sh expects; the exit status is 0 iff nothing failed.
 * No privileges or devices are needed; the log channel's suite runs its
 * replicas' threads and loopback TCP in this process.
 *
 * pvft-unit-tests [SUITE]: only the suite called SUITE (as where the
 * backends' suite runs on nested KVM, too slow for all of them).
 */
#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>

#include "log.h"
#include "unit.h"

static void (*const register_fns[])(void) = {
	test_elf__register,	      test_evtchn__register,
	test_guestmem__register,      test_hypercall__register,
	test_hypercall_ops__register, test_layout__register,
	test_vcpu__register,	      test_cpuid__register,
	test_logfmt__register,	      test_logfile__register,
	test_gate__register,	      test_arbiter__register,
	test_chan__register,	      test_net__register,
	test_kvstore__register,	      test_netback__register,
	test_config__register,	      test_tls__register,
	test_device__register,	      test_netcodec__register,
	test_migstream__register,     test_backend__register,
};

int main(int argc, char **argv)
{
	unsigned int run, failed;
	int framework_ok;

	/* The code under test logs every refusal: keep only errors. */
	log__init("pvft-unit-tests", "test", LOG_ERROR);

	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		printf("0 passed, 0 failed\n");
		return EXIT_FAILURE;
	}
	framework_ok = 1;
	for (size_t i = 0; i < sizeof(register_fns) / sizeof(register_fns[0]);
	     i++) {
		register_fns[i]();
		if (CU_get_error() != CUE_SUCCESS) {
			framework_ok = 0;
			break;
		}
	}
	if (framework_ok) {
		CU_pSuite only = argc > 1 ? CU_get_suite(argv[1]) : NULL;

		CU_basic_set_mode(CU_BRM_VERBOSE);
		if (argc > 1 && !only) {
			fprintf(stderr, "no suite called \"%s\"\n", argv[1]);
			framework_ok = 0;
		} else {
			framework_ok =
			    (only ? CU_basic_run_suite(only)
				  : CU_basic_run_tests()) == CUE_SUCCESS &&
			    CU_get_error() == CUE_SUCCESS;
		}
	}
	if (!framework_ok)
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());

	run = CU_get_number_of_tests_run();
	failed = CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	printf("\n%u passed, %u failed\n", run - failed, failed);
	return framework_ok && failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
