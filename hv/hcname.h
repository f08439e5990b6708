/* SPDX-License-Identifier: MIT */
/* Hypercall names, for messages (hypercall.c dispatches, gate.c reports). */
#ifndef PVFT_HV_HCNAME_H
#define PVFT_HV_HCNAME_H

#include <stdint.h>

/* "console_io"; "unknown" for a number pvft does not serve. */
const char *hcname__name(uint64_t nr);

#endif /* PVFT_HV_HCNAME_H */
