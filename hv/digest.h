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
#include <stdint.h>

#include "logfmt.h"

struct domain;

/*
 * The register hash is XXH3 over these words, in this order: the layout is
 * part of the log format (a log's digests replay only with it), so a
 * device writes its words at the slots named for it here, and a new device
 * takes new slots at the end (DIGEST_SLOT_NEXT onwards). The hv's own:
 * the general registers, rflags (the bits guest instructions set), the
 * exit's rip, the unique-id counter, the trap handler flag, the vector
 * registers' hash, the trap table's hash.
 */
enum digest_slot {
	DIGEST_SLOT_GPR0 = 0, /* rax .. r15: 16 words */
	DIGEST_SLOT_RFLAGS = 16,
	DIGEST_SLOT_RIP = 17,
	DIGEST_SLOT_TIMER = 18, /* the deadline, ~0 when disarmed */
	DIGEST_SLOT_ID_COUNTER = 19,
	DIGEST_SLOT_CONSOLE_STAGED_LEN = 20,
	DIGEST_SLOT_CONSOLE_CLOSED = 21,
	DIGEST_SLOT_IN_TRAP = 22,
	DIGEST_SLOT_VECTOR = 23,
	DIGEST_SLOT_CONSOLE_STAGED = 24, /* XXH3 of the staged input */
	DIGEST_SLOT_TRAP_TABLE = 25,
	DIGEST_SLOT_EVTCHN = 26, /* the bound ports */
	DIGEST_SLOT_NEXT = 27,	 /* the first slot no device has yet */
	DIGEST_SLOTS_MAX = 64,
};

/* A digest's words, filled by the hv and the devices' ->digest ops. */
struct digest_words {
	uint64_t v[DIGEST_SLOTS_MAX];
	unsigned int n; /* words hashed: past the highest slot written */
};

static inline void digest__put(struct digest_words *w, unsigned int slot,
			       uint64_t value)
{
	if (slot >= DIGEST_SLOTS_MAX)
		return;
	w->v[slot] = value;
	if (slot >= w->n)
		w->n = slot + 1;
}

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
