/* SPDX-License-Identifier: MIT */
/*
 * State digests (DESIGN.md 3.2): what a replay compares with its recording
 * every so often and at the end. A digest is four values: a hash of guest
 * memory, a hash of the vCPU's registers and the guest-visible state the
 * hv holds outside guest memory (the trap table, each device's digest op
 * in device order), and the console output so far (bytes, hash). The gate
 * decides when (gate.h); this file only computes and compares.
 *
 * vCPU thread, at an exit boundary.
 */
#ifndef PVFT_HV_DIGEST_H
#define PVFT_HV_DIGEST_H

#include <stddef.h>

#include "logfmt.h"

struct domain;

/*
 * The digest of @d now. 0, or -1 when the backend could not read the
 * vCPU's state (said, unless the domain is already over): the digest then
 * says nothing of the guest.
 */
int digest__take(struct domain *d, struct logfmt_digest_value *v);
/* "" when equal, else which parts differ, both values. */
void digest__diff(const struct logfmt_digest_value *want,
		  const struct logfmt_digest_value *got, char *buf, size_t len);
void digest__print(const char *what, const struct logfmt_digest_value *v);

#endif /* PVFT_HV_DIGEST_H */
