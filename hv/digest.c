// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "device.h"
#include "digest.h"
#include "domain.h"
#include "log.h"
#include "vcpu.h"

/* x87/SSE registers; a backend that cannot read them is a host failure. */
static int vector_hash(struct domain *d, uint64_t *h)
{
	struct vcpu_fpu f;
	int rc = d->backend->get_fpu(d, &f);

	if (rc) {
		/* A vCPU already gone (a host failure) has no state to hash. */
		if (!d->shut_down)
			pr_err("%s backend: cannot read the vector registers "
			       "for a digest: %s",
			       d->backend->name, strerror(-rc));
		*h = 0;
		return -1;
	}
	*h = XXH3_64bits(&f, sizeof(f)); /* zeroed first: no stray padding */
	return 0;
}

/*
 * Registers as of the exit, with the exit's rip (KVM may report it past
 * the doorbell write) and only the flags the guest's instructions set;
 * plus the guest-visible state the hv holds outside guest memory: its
 * own (the trap table, unique ids) and each device's, at the slots
 * digest.h gives them.
 */
static int regs_hash(struct domain *d, uint64_t *h)
{
	static struct digest_words w; /* vCPU thread only */
	const uint64_t *gpr;
	struct vcpu_regs r;
	struct device *dev;
	uint64_t vec;
	int rc;

	memset(&w, 0, sizeof(w));
	d->backend->get_regs(d, &r);
	gpr = (const uint64_t[]){ r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi,
				  r.rbp, r.rsp, r.r8,  r.r9,  r.r10, r.r11,
				  r.r12, r.r13, r.r14, r.r15 };
	for (unsigned int i = 0; i < 16; i++)
		digest__put(&w, DIGEST_SLOT_GPR0 + i, gpr[i]);
	digest__put(&w, DIGEST_SLOT_RFLAGS, r.rflags & VCPU_RFLAGS_GUEST);
	digest__put(&w, DIGEST_SLOT_RIP, d->last_rip);
	digest__put(&w, DIGEST_SLOT_ID_COUNTER, d->id_counter);
	digest__put(&w, DIGEST_SLOT_IN_TRAP, d->in_trap_handler);
	rc = vector_hash(d, &vec);
	digest__put(&w, DIGEST_SLOT_VECTOR, vec);
	digest__put(&w, DIGEST_SLOT_TRAP_TABLE,
		    XXH3_64bits(d->trap_handler, sizeof(d->trap_handler)));
	for_each_device(d, dev) if (dev->ops->digest)
	    dev->ops->digest(d, dev, &w);
	*h = XXH3_64bits(w.v, w.n * sizeof(w.v[0]));
	return rc;
}

int digest__take(struct domain *d, struct logfmt_digest_value *v)
{
	int rc;

	v->mem = XXH3_64bits(d->mem, d->mem_size);
	rc = regs_hash(d, &v->regs);
	v->out_bytes = d->gate.out_bytes;
	v->out_hash =
	    d->gate.out_state ? XXH3_64bits_digest(d->gate.out_state) : 0;
	return rc;
}

void digest__print(const char *what, const struct logfmt_digest_value *v)
{
	pr_info("%s: mem %016llx regs %016llx output %llu bytes %016llx", what,
		(unsigned long long)v->mem, (unsigned long long)v->regs,
		(unsigned long long)v->out_bytes,
		(unsigned long long)v->out_hash);
}

void digest__diff(const struct logfmt_digest_value *want,
		  const struct logfmt_digest_value *got, char *buf, size_t len)
{
	int n = 0;

	buf[0] = '\0';
#define DIFF(field, name)                                                    \
	if (want->field != got->field && n >= 0 && (size_t)n < len)          \
		n += snprintf(buf + n, len - n,                              \
			      "%s%s %016llx, replay %016llx", n ? "; " : "", \
			      name, (unsigned long long)want->field,         \
			      (unsigned long long)got->field);
	DIFF(mem, "memory hash: log")
	DIFF(regs, "register hash: log")
	DIFF(out_bytes, "console output bytes: log")
	DIFF(out_hash, "console output hash: log")
#undef DIFF
}
