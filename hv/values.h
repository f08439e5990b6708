/* SPDX-License-Identifier: MIT */
/*
 * The nondeterministic values a hypercall returns (PVFTOP_time,
 * PVFTOP_random): live from the host (and logged when recording), or the
 * log's in a replay, through the gate (gate.h). vCPU thread, at an exit.
 */
#ifndef PVFT_HV_VALUES_H
#define PVFT_HV_VALUES_H

#include <stdint.h>

struct domain;

/* 0 or -errno, as the hypercall returns. */
long values__time(struct domain *d, uint32_t clock, int64_t *value_r);
long values__random(struct domain *d, uint8_t *buf, uint32_t len);

#endif /* PVFT_HV_VALUES_H */
