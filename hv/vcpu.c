// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>

#include "domain.h"
#include "guestmem.h"
#include "layout.h"
#include "log.h"
#include "vcpu.h"

/* An #UD at a "syscall" deserves its name: guests ported from Linux do it. */
static bool at_syscall(struct domain *d, uint64_t rip)
{
	uint8_t insn[2];

	return !guestmem__copy_from(d, insn, rip, sizeof(insn)) &&
	       insn[0] == 0x0f && insn[1] == 0x05;
}

static void report_fault(struct domain *d, const struct vcpu_exit *e)
{
	char reason[256], extra[96] = "";

	if (e->fault.vector == 6 && !e->fault.what[0] &&
	    at_syscall(d, e->rip)) {
		snprintf(reason, sizeof(reason),
			 "%s (vector 6): syscall instruction, not part of "
			 "the PV ABI",
			 layout__vector_name(6));
	} else if (e->fault.vector >= 0) {
		snprintf(reason, sizeof(reason), "%s (vector %d)%s%s",
			 layout__vector_name(e->fault.vector), e->fault.vector,
			 e->fault.what[0] ? ": " : "", e->fault.what);
		int n = 0;

		if (e->fault.vector == 14)
			n = snprintf(extra, sizeof(extra), ", address 0x%llx",
				     (unsigned long long)e->fault.addr);
		if (e->fault.has_error_code)
			snprintf(extra + n, sizeof(extra) - n,
				 ", error code 0x%llx",
				 (unsigned long long)e->fault.error_code);
	} else {
		snprintf(reason, sizeof(reason), "%s", e->fault.what);
	}
	pr_err("guest fault: %s at rip 0x%llx%s, exit ordinal %llu", reason,
	       (unsigned long long)e->rip, extra, (unsigned long long)d->exits);
}

/* Relaxed: only the I/O thread's watchdog reads it, to see progress. */
static void count_exit(struct domain *d)
{
	__atomic_store_n(&d->exits, d->exits + 1, __ATOMIC_RELAXED);
}

int vcpu__run_loop(struct domain *d)
{
	struct vcpu_exit e;
	long ret;
	int rc;

	while (!d->shut_down) {
		if (d->sched.stop_signal) {
			pr_info("stopped by signal %d at exit ordinal %llu",
				(int)d->sched.stop_signal,
				(unsigned long long)d->exits);
			domain__shutdown(d, 128 + d->sched.stop_signal);
			break;
		}
		rc = d->backend->run(d, &e);
		if (rc) {
			pr_err("%s backend: cannot run the vCPU: %s",
			       d->backend->name, strerror(-rc));
			domain__shutdown(d, HV_EXIT_HOST);
			break;
		}
		switch (e.kind) {
		case VCPU_EXIT_HYPERCALL:
			count_exit(d);
			d->last_rip = e.rip;
			ret = hypercall__dispatch(d, &e.hc);
			/* Inputs reach the guest here and only here. */
			sched__deliver(d);
			d->backend->complete_hypercall(d, ret);
			break;
		case VCPU_EXIT_FAULT:
			count_exit(d);
			d->last_rip = e.rip;
			report_fault(d, &e);
			domain__shutdown(d, HV_EXIT_GUEST_FAULT);
			break;
		case VCPU_EXIT_KICKED:
			break;
		case VCPU_EXIT_FAILED:
			pr_err(
			    "%s backend: %s at rip 0x%llx, exit ordinal %llu",
			    d->backend->name, e.fault.what,
			    (unsigned long long)e.rip,
			    (unsigned long long)d->exits);
			domain__shutdown(d, HV_EXIT_GUEST_FAULT);
			break;
		}
	}
	return d->exit_status;
}
