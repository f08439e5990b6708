/* SPDX-License-Identifier: MIT */
/*
 * The unit-test suites. Each test_<x>.c registers its suites with CUnit;
 * main.c calls every registration function below and runs them all.
 */
#ifndef PVFT_TESTS_UNIT_H
#define PVFT_TESTS_UNIT_H

void test_backend__register(void);
void test_elf__register(void);
void test_device__register(void);
void test_evtchn__register(void);
void test_guestmem__register(void);
void test_hypercall__register(void);
void test_hypercall_ops__register(void);
void test_layout__register(void);
void test_vcpu__register(void);
void test_cpuid__register(void);
void test_logfmt__register(void);
void test_logfile__register(void);
void test_gate__register(void);
void test_arbiter__register(void);
void test_chan__register(void);
void test_net__register(void);
void test_netcodec__register(void);
void test_kvstore__register(void);
void test_netback__register(void);
void test_config__register(void);
void test_tls__register(void);
void test_migstream__register(void);

#endif /* PVFT_TESTS_UNIT_H */
