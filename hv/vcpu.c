// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "deliver.h"
#include "domain.h"
#include "guestmem.h"
#include "layout.h"
#include "log.h"
#include "migrate.h"
#include "vcpu.h"

/* An #UD at a "syscall" deserves its name: guests ported from Linux do it. */
static bool at_syscall(struct domain *d, uint64_t rip)
{
	uint8_t insn[2];

	return !guestmem__copy_from(d, insn, rip, sizeof(insn)) &&
	       insn[0] == 0x0f && insn[1] == 0x05;
}

/*
 * Enter the guest's handler for a fault, Mini-OS style: it reports and
 * shuts down, pvft never resumes the faulting code. The handler gets its
 * own frame below the faulting stack, with a zero return address.
 */
static bool enter_guest_handler(struct domain *d, const struct vcpu_exit *e)
{
	uint64_t handler, rsp, zero = 0;
	uint64_t arg[5];

	if (e->fault.vector < 0 || e->fault.vector >= PVFT_NR_TRAPS ||
	    d->in_trap_handler)
		return false;
	handler = d->trap_handler[e->fault.vector];
	if (!handler || e->fault.rsp < PVFT_TRAP_STACK_GAP)
		return false;
	rsp = ((e->fault.rsp - PVFT_TRAP_STACK_GAP) & ~15ull) - 8;
	if (guestmem__copy_to(d, rsp, &zero, sizeof(zero)))
		return false;
	arg[0] = e->fault.vector;
	arg[1] = e->fault.has_error_code ? e->fault.error_code : 0;
	arg[2] = e->rip;
	arg[3] = e->fault.addr;
	arg[4] = e->fault.rsp;
	if (d->backend->enter_handler(d, handler, rsp, arg))
		return false;
	d->in_trap_handler = true;
	return true;
}

static void report_fault(struct domain *d, const struct vcpu_exit *e,
			 bool delivered)
{
	char reason[256], extra[96] = "";
	int n = 0;

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
	} else {
		snprintf(reason, sizeof(reason), "%s", e->fault.what);
	}
	if (e->fault.vector == 14)
		n = snprintf(extra, sizeof(extra), ", address 0x%llx",
			     (unsigned long long)e->fault.addr);
	if (e->fault.has_error_code)
		snprintf(extra + n, sizeof(extra) - n, ", error code 0x%llx",
			 (unsigned long long)e->fault.error_code);
	log__msg(delivered ? LOG_WARN : LOG_ERROR,
		 "guest fault: %s at rip 0x%llx%s, exit ordinal %llu%s", reason,
		 (unsigned long long)e->rip, extra,
		 (unsigned long long)d->exits,
		 delivered	      ? ": entering the guest's fault handler"
		 : d->in_trap_handler ? " (in the guest's fault handler)"
				      : "");
}

bool vcpu__backend_known(const char *which)
{
	return !strcmp(which, "auto") || !strcmp(which, "kvm") ||
	       !strcmp(which, "ptrace");
}

const struct vcpu_backend *vcpu__backend(const char *which)
{
	int fd;

	if (!strcmp(which, "kvm"))
		return &vcpu_kvm_backend;
	if (!strcmp(which, "ptrace"))
		return &vcpu_ptrace_backend;
	if (strcmp(which, "auto"))
		return NULL;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return &vcpu_kvm_backend;
	}
	pr_warn("no usable /dev/kvm (%s): running the guest on the ptrace "
		"backend",
		strerror(errno));
	return &vcpu_ptrace_backend;
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
		int sig = sched__stop_requested(d);

		if (sig == SCHED_STOP_STALLED) {
			gate__stalled(d);
			break;
		}
		if (sig == SCHED_STOP_HANDOVER) {
			sched__clear_handover(d);
			if (!gate__handover(d)) {
				domain__shutdown(d, HV_EXIT_HANDED_OVER,
						 DOMAIN_END_HANDOVER);
				break;
			}
			continue;
		}
		/*
		 * The cut is at an exit boundary: the last exit was the
		 * guest's own. After a kick the vCPU may be anywhere (in the
		 * KVM backend's ring-0 stub, say): it runs on to its next
		 * exit first.
		 */
		if (sig == SCHED_STOP_MIGRATE && !d->ran_on) {
			/* A block it ended returns as a spurious wake-up. */
			d->sched.block_cut = false;
			migrate__cut(d);
			continue;
		}
		if (sig == SCHED_STOP_FENCED) {
			domain__shutdown(d, HV_EXIT_FENCED, DOMAIN_END_FENCED);
			break;
		}
		/* A migration's cut waiting for the guest's next exit: on. */
		if (sig && !sched__boundary_stop(sig)) {
			pr_info("stopped by signal %d at exit ordinal %llu",
				sig, (unsigned long long)d->exits);
			domain__shutdown(d, 128 + sig, DOMAIN_END_STOPPED);
			break;
		}
		gate__before_run(d);
		if (d->shut_down)
			break;
		rc = d->backend->run(d, &e);
		/* Until the guest exits by itself, it ran past the last exit.
		 */
		d->ran_on = rc || (e.kind != VCPU_EXIT_HYPERCALL &&
				   e.kind != VCPU_EXIT_FAULT);
		if (rc) {
			pr_err("%s backend: cannot run the vCPU: %s",
			       d->backend->name, strerror(-rc));
			domain__shutdown(d, HV_EXIT_HOST, DOMAIN_END_HOST);
			break;
		}
		switch (e.kind) {
		case VCPU_EXIT_HYPERCALL:
			count_exit(d);
			d->last_rip = e.rip;
			/* A long block or stuck write is not a silent guest. */
			__atomic_store_n(&d->sched.in_hv, true,
					 __ATOMIC_RELAXED);
			gate__exit(d, &e);
			/* A replay may end at the exit, before its hypercall.
			 */
			if (d->shut_down) {
				gate__exit_done(d);
				break;
			}
			ret = hypercall__dispatch(d, &e.hc);
			/* Inputs reach the guest here and in a block only. */
			deliver__exit(d);
			gate__exit_done(d);
			__atomic_store_n(&d->sched.in_hv, false,
					 __ATOMIC_RELAXED);
			d->backend->complete_hypercall(d, ret);
			break;
		case VCPU_EXIT_FAULT: {
			bool delivered;

			count_exit(d);
			d->last_rip = e.rip;
			gate__exit(d, &e);
			gate__exit_done(d);
			if (d->shut_down)
				break;
			delivered = enter_guest_handler(d, &e);
			report_fault(d, &e, delivered);
			if (!delivered)
				domain__shutdown(d, HV_EXIT_GUEST_FAULT,
						 DOMAIN_END_FAULT);
			break;
		}
		case VCPU_EXIT_KICKED:
			break;
		case VCPU_EXIT_FAILED:
			pr_err(
			    "%s backend: %s at rip 0x%llx, exit ordinal %llu",
			    d->backend->name, e.fault.what,
			    (unsigned long long)e.rip,
			    (unsigned long long)d->exits);
			/* Host side as far as a replay knows: it stops here. */
			domain__shutdown(d, HV_EXIT_GUEST_FAULT,
					 DOMAIN_END_HOST);
			break;
		}
	}
	return d->exit_status;
}
