// SPDX-License-Identifier: MIT
/*
 * The KVM backend: a VM with one vCPU, no in-kernel irqchip, no kvmclock,
 * guest entered directly in 64-bit ring 3. Hypercalls arrive as MMIO writes
 * to the doorbell page; registers travel through KVM_CAP_SYNC_REGS so an
 * exit costs no register ioctl.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpuid.h"
#include "domain.h"
#include "guestmem.h"
#include "layout.h"
#include "log.h"
#include "vcpu.h"

#define CPUID_ENTRIES 256

#define MSR_MISC_FEATURES_ENABLES 0x140
#define MISC_FEATURES_CPUID_FAULT 1ull
#define MSR_LSTAR 0xc0000082

#define RFLAGS_RF (1ull << 16)
#define INSN_MAX_LEN 15

struct kvm_vcpu {
	int kvm_fd, vm_fd, vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	uint64_t rip_advance; /* for the pending hypercall */
	/* CPUID faults, and pvft-hv answers it from the table itself. */
	bool answer_cpuid;
	/*
	 * Dirty logging on slot 0, and KVM_GET_DIRTY_LOG's buffer: its
	 * thread's (dirty_start to dirty_stop), never the vCPU thread's.
	 */
	bool dirty_on;
	uint64_t *dirty_log;
};

static struct kvm_vcpu *priv(struct domain *d)
{
	return d->backend_priv;
}

static int set_msr(struct kvm_vcpu *k, uint32_t index, uint64_t data)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {
		.h.nmsrs = 1,
		.e = { .index = index, .data = data },
	};
	int r = ioctl(k->vcpu_fd, KVM_SET_MSRS, &m);

	/* The number of MSRs set: 0 if KVM refused this one. */
	if (r < 0)
		return -errno;
	return r == 1 ? 0 : -ENOTSUP;
}

/*
 * Does KVM hold exactly the table, now that it was set? 1 if so, 0 if not
 * (with the first difference in @err), or -errno.
 */
static int cpuid_kept(struct kvm_vcpu *k, struct kvm_cpuid2 *c, char *err,
		      size_t errlen)
{
	memset(c->entries, 0, CPUID_ENTRIES * sizeof(c->entries[0]));
	c->nent = CPUID_ENTRIES;
	if (ioctl(k->vcpu_fd, KVM_GET_CPUID2, c) < 0)
		return -errno;
	for (uint32_t i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		const struct cpuid_leaf *l = NULL;

		for (size_t j = 0; j < cpuid_baseline_len && !l; j++)
			if (cpuid_baseline[j].function == e->function)
				l = &cpuid_baseline[j];
		if (!l || e->eax != l->eax || e->ebx != l->ebx ||
		    e->ecx != l->ecx || e->edx != l->edx) {
			snprintf(err, errlen,
				 "it %s leaf 0x%x: %08x %08x %08x %08x",
				 l ? "changed" : "added", e->function, e->eax,
				 e->ebx, e->ecx, e->edx);
			return 0;
		}
	}
	if (c->nent != cpuid_baseline_len) {
		snprintf(err, errlen, "it kept %u of %zu leaves", c->nent,
			 cpuid_baseline_len);
		return 0;
	}
	return 1;
}

/*
 * The guest's CPUID: pvft's fixed baseline (hv/cpuid.c), the same on every
 * host, once KVM has shown that this host can back all of it.
 *
 * kvm_pvm does not keep the table as given: it writes the host CPU's
 * leaf 1 features into it (RDRAND, AVX, ...) and adds leaf 0xd, since
 * guest ring-3 code runs natively and could use them anyway. A guest
 * would then see the host's CPU, while the log header promises pvft's
 * table. There CPUID faulting makes the guest's CPUID a #GP, which
 * kvm_run() answers from the table (cpuid__answer() answers as KVM does
 * from a table it keeps), so every KVM host answers alike.
 */
static int set_cpuid(struct kvm_vcpu *k)
{
	struct cpuid_leaf host[CPUID_ENTRIES];
	struct kvm_cpuid2 *c;
	char err[160];
	int rc = 0;

	c = calloc(1, sizeof(*c) + CPUID_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = CPUID_ENTRIES;
	if (ioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		rc = -errno;
		pr_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		goto out;
	}
	for (uint32_t i = 0; i < c->nent; i++)
		host[i] = (struct cpuid_leaf){
			.function = c->entries[i].function,
			.index = c->entries[i].index,
			.eax = c->entries[i].eax,
			.ebx = c->entries[i].ebx,
			.ecx = c->entries[i].ecx,
			.edx = c->entries[i].edx,
		};
	rc = cpuid__check_host(host, c->nent, err, sizeof(err));
	if (rc) {
		pr_err("%s", err);
		goto out;
	}
	memset(c->entries, 0, CPUID_ENTRIES * sizeof(c->entries[0]));
	c->nent = cpuid_baseline_len;
	for (size_t i = 0; i < cpuid_baseline_len; i++)
		c->entries[i] = (struct kvm_cpuid_entry2){
			.function = cpuid_baseline[i].function,
			.index = cpuid_baseline[i].index,
			.eax = cpuid_baseline[i].eax,
			.ebx = cpuid_baseline[i].ebx,
			.ecx = cpuid_baseline[i].ecx,
			.edx = cpuid_baseline[i].edx,
		};
	if (ioctl(k->vcpu_fd, KVM_SET_CPUID2, c) < 0) {
		rc = -errno;
		pr_err("KVM_SET_CPUID2: %s", strerror(errno));
		goto out;
	}
	rc = cpuid_kept(k, c, err, sizeof(err));
	if (rc < 0) {
		pr_err("KVM_GET_CPUID2: %s", strerror(-rc));
		goto out;
	}
	if (rc) {
		rc = 0;
		goto out;
	}
	rc = set_msr(k, MSR_MISC_FEATURES_ENABLES, MISC_FEATURES_CPUID_FAULT);
	if (rc) {
		pr_err("KVM does not keep pvft's CPUID table (%s) and cannot "
		       "fault CPUID: the guest would see this host's CPU "
		       "(--backend ptrace runs it so, and says so)",
		       err);
		goto out;
	}
	k->answer_cpuid = true;
out:
	free(c);
	return rc;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int dpl,
		int l, int db)
{
	*s = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = sel,
		.type = type,
		.present = 1,
		.dpl = dpl,
		.db = db,
		.s = 1,
		.l = l,
		.g = 1,
	};
}

/* CPL 3: the user code and data segments. */
static void user_segments(struct kvm_sregs *s)
{
	seg(&s->cs, LAYOUT_SEL_UCODE, 11, 3, 1, 0);
	seg(&s->ss, LAYOUT_SEL_UDATA, 3, 3, 0, 1);
	s->ds = s->es = s->fs = s->gs = s->ss;
}

/* From the ring-0 fault stub back to CPL 3, at the next KVM_RUN. */
static int to_ring3(struct kvm_vcpu *k)
{
	struct kvm_sregs s;

	if (ioctl(k->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	user_segments(&s);
	if (ioctl(k->vcpu_fd, KVM_SET_SREGS, &s) < 0)
		return -errno;
	return 0;
}

/* Long mode, paging on, CPL 3: DESIGN.md section 6's bring-up facts. */
static int set_sregs(struct kvm_vcpu *k, struct domain *d)
{
	struct kvm_sregs s;

	if (ioctl(k->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	user_segments(&s);
	s.tr = (struct kvm_segment){
		.base = LAYOUT_TSS_GPA,
		.limit = 103,
		.selector = LAYOUT_SEL_TSS,
		.type = 11, /* busy 64-bit TSS */
		.present = 1,
	};
	s.ldt = (struct kvm_segment){ .unusable = 1 };
	s.gdt.base = LAYOUT_GDT_GPA;
	s.gdt.limit = LAYOUT_GDT_ENTRIES * 8 - 1;
	s.idt.base = LAYOUT_IDT_GPA;
	s.idt.limit = 256 * 16 - 1;
	s.cr0 = 0x80050033; /* PG AM WP NE ET MP PE */
	s.cr3 = LAYOUT_PML4_GPA;
	/*
	 * TSD: rdtsc from ring 3 is a #GP where the CPU honours it (VMX,
	 * SVM). kvm_pvm ignores it (DESIGN.md 6); replay digests catch it
	 * there. allow_rdtsc (tests) makes every host behave like kvm_pvm.
	 */
	s.cr4 = 0x624; /* OSXMMEXCPT OSFXSR PAE TSD */
	if (d->allow_rdtsc)
		s.cr4 &= ~0x4ull;
	/* No SCE: "syscall" is not part of the PV ABI and must #UD. */
	s.efer = 0x500; /* LMA LME */
	if (ioctl(k->vcpu_fd, KVM_SET_SREGS, &s) < 0)
		return -errno;
	return 0;
}

static int set_regs(struct kvm_vcpu *k, struct domain *d)
{
	struct kvm_regs r = {
		.rip = d->entry,
		.rsi = PVFT_START_INFO_GPA,
		.rflags = 0x202,
	};

	if (ioctl(k->vcpu_fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}

/* Guest RAM is slot 0 at guest-physical 0: page i of the slot is page i. */
static int set_memory(struct kvm_vcpu *k, struct domain *d, uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.flags = flags,
		.guest_phys_addr = 0,
		.memory_size = d->mem_size,
		.userspace_addr = (uintptr_t)d->mem,
	};

	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -errno;
	return 0;
}

static void kvm_dirty_stop(struct domain *d);

static void kvm_destroy(struct domain *d)
{
	struct kvm_vcpu *k = priv(d);

	if (!k)
		return;
	kvm_dirty_stop(d);
	d->backend_priv = NULL; /* no kick may find it half gone */
	if (k->run)
		munmap(k->run, k->run_size);
	if (k->vcpu_fd >= 0)
		close(k->vcpu_fd);
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->kvm_fd >= 0)
		close(k->kvm_fd);
	free(k);
}

#define SETUP_STEP(call, what)                                   \
	do {                                                     \
		if ((call) < 0) {                                \
			rc = -errno;                             \
			pr_err("%s: %s", what, strerror(errno)); \
			goto out;                                \
		}                                                \
	} while (0)

static int kvm_create(struct domain *d)
{
	struct kvm_vcpu *k;
	int rc = 0, r;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->kvm_fd = k->vm_fd = k->vcpu_fd = -1;
	d->backend_priv = k;

	k->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0) {
		rc = -errno;
		pr_err("cannot open /dev/kvm: %s", strerror(errno));
		goto out;
	}
	r = ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_VERSION) {
		rc = -EINVAL;
		pr_err("KVM API version %d, want %d", r, KVM_API_VERSION);
		goto out;
	}
	r = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
	if (r < 0 || !(r & KVM_SYNC_X86_REGS)) {
		rc = -ENOTSUP;
		pr_err("KVM lacks KVM_CAP_SYNC_REGS for registers");
		goto out;
	}
	SETUP_STEP(k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0),
		   "KVM_CREATE_VM");
	/* Only VMX needs this (for real mode); others may refuse it. */
	ioctl(k->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	SETUP_STEP(set_memory(k, d, 0), "KVM_SET_USER_MEMORY_REGION");
	SETUP_STEP(k->vcpu_fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, 0),
		   "KVM_CREATE_VCPU");
	SETUP_STEP(r = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0),
		   "KVM_GET_VCPU_MMAP_SIZE");
	k->run_size = r;
	k->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      k->vcpu_fd, 0);
	if (k->run == MAP_FAILED) {
		k->run = NULL;
		rc = -errno;
		pr_err("mmap kvm_run: %s", strerror(errno));
		goto out;
	}
	rc = set_cpuid(k);
	if (rc)
		goto out;
	layout__build_x86(d->mem, d->mem_size);
	SETUP_STEP(set_sregs(k, d), "KVM_SET_SREGS");
	SETUP_STEP(set_regs(k, d), "KVM_SET_REGS");
	/* For kvm_pvm, which ignores EFER.SCE (layout.h). */
	rc = set_msr(k, MSR_LSTAR, LAYOUT_SYSCALL_ENTRY);
	if (rc) {
		pr_err("KVM_SET_MSRS MSR_LSTAR: %s", strerror(-rc));
		goto out;
	}
	/* From now on registers come back in kvm_run at every exit. */
	k->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
out:
	if (rc)
		kvm_destroy(d);
	return rc;
}

static void fault(struct vcpu_exit *e, int vector, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fault(struct vcpu_exit *e, int vector, const char *fmt, ...)
{
	va_list ap;

	e->kind = VCPU_EXIT_FAULT;
	e->fault.vector = vector;
	va_start(ap, fmt);
	vsnprintf(e->fault.what, sizeof(e->fault.what), fmt, ap);
	va_end(ap);
}

/* The frame the ring-0 stub left; false if its stack is corrupt. */
static bool stub_frame(struct domain *d, struct kvm_vcpu *k,
		       struct layout_fault_frame *f)
{
	uint64_t rsp = k->run->s.regs.regs.rsp;

	if (rsp < LAYOUT_R0_STACK_GPA ||
	    rsp > LAYOUT_R0_STACK_GPA + PVFT_PAGE_SIZE - sizeof(*f))
		return false;
	memcpy(f, d->mem + rsp, sizeof(*f));
	return true;
}

static bool insn_prefix(uint8_t b)
{
	return b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x64 ||
	       b == 0x65 || b == 0x66 || b == 0x67 || b == 0xf2 || b == 0xf3 ||
	       (b >= 0x40 && b <= 0x4f); /* REX */
}

/* The length of the CPUID instruction at @rip; 0 if it is not one. */
static unsigned int cpuid_at(struct domain *d, uint64_t rip)
{
	uint8_t b[INSN_MAX_LEN];
	unsigned int n;

	for (n = 0; n < INSN_MAX_LEN - 1; n++)
		if (guestmem__copy_from(d, &b[n], rip + n, 1) ||
		    !insn_prefix(b[n]))
			break;
	if (n == INSN_MAX_LEN - 1 || guestmem__copy_from(d, b, rip + n, 2) ||
	    b[0] != 0x0f || b[1] != 0xa2)
		return 0;
	return n + 2;
}

/*
 * The ring-0 stub reports a #GP: with CPUID faulting on, one from a ring-3
 * CPUID is answered here from the table, and the guest continues past it
 * in ring 3, as if KVM had answered. True if that is what it was.
 */
static bool answer_cpuid(struct domain *d, struct kvm_vcpu *k)
{
	struct kvm_regs *r = &k->run->s.regs.regs;
	struct layout_fault_frame f;
	unsigned int len;
	uint32_t out[4];

	if (!stub_frame(d, k, &f) || f.vector != 13 || f.error_code ||
	    (f.cs & 3) != 3)
		return false;
	len = cpuid_at(d, f.rip);
	if (!len || to_ring3(k))
		return false;
	cpuid__answer((uint32_t)r->rax, out);
	r->rax = out[0];
	r->rbx = out[1];
	r->rcx = out[2];
	r->rdx = out[3];
	r->rip = f.rip + len;
	r->rsp = f.rsp;
	r->rflags = f.rflags & ~RFLAGS_RF;
	k->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	return true;
}

/*
 * kvm_pvm's "syscall" (layout.h): a #PF at LAYOUT_SYSCALL_ENTRY, with rcx
 * the address after the syscall. Report what a CPU does with EFER.SCE
 * clear, a #UD at the syscall, on every backend. The registers are not
 * quite the same (syscall wrote rcx and r11), but a faulting guest never
 * goes on. True if that is what it was.
 */
static bool syscall_fault(struct domain *d, struct kvm_vcpu *k,
			  const struct layout_fault_frame *f,
			  struct vcpu_exit *e)
{
	uint64_t at = k->run->s.regs.regs.rcx - 2;
	uint8_t insn[2];

	if (f->vector != 14 || f->rip != LAYOUT_SYSCALL_ENTRY ||
	    guestmem__copy_from(d, insn, at, sizeof(insn)) || insn[0] != 0x0f ||
	    insn[1] != 0x05)
		return false;
	fault(e, 6, "%s", "");
	e->rip = at;
	e->fault.rsp = f->rsp;
	return true;
}

/* The ring-0 stub wrote the fault doorbell: read its frame. */
static void fault_from_stub(struct domain *d, struct kvm_vcpu *k,
			    struct vcpu_exit *e)
{
	struct layout_fault_frame f;
	struct kvm_sregs s;

	if (!stub_frame(d, k, &f)) {
		fault(e, -1, "fault with a corrupt ring-0 stack (rsp 0x%llx)",
		      (unsigned long long)k->run->s.regs.regs.rsp);
		return;
	}
	if (syscall_fault(d, k, &f, e))
		return;
	fault(e, f.vector < LAYOUT_NR_VECTORS ? (int)f.vector : -1, "%s", "");
	e->rip = f.rip;
	e->fault.rsp = f.rsp;
	e->fault.error_code = f.error_code;
	/* The stub pushes a 0 for the others: not the CPU's. */
	e->fault.has_error_code = layout__has_error_code(f.vector);
	if (ioctl(k->vcpu_fd, KVM_GET_SREGS, &s) == 0)
		e->fault.addr = s.cr2;
}

static void hypercall_exit(struct domain *d, struct kvm_vcpu *k,
			   struct vcpu_exit *e)
{
	struct kvm_regs *r = &k->run->s.regs.regs;
	uint64_t at;

	/*
	 * x86 KVM completes an MMIO write before it exits, so rip is past
	 * the doorbell write. kvm_pvm, the KVM this is meant for, has not
	 * been checked yet: should it exit before completing, rip is at the
	 * write, and we step over it ourselves.
	 */
	if (layout__stub_at(d->hypercall_page,
			    r->rip - PVFT_STUB_DOORBELL_LEN)) {
		at = r->rip - PVFT_STUB_DOORBELL_LEN;
		k->rip_advance = 0;
	} else if (layout__stub_at(d->hypercall_page, r->rip)) {
		at = r->rip;
		k->rip_advance = PVFT_STUB_DOORBELL_LEN;
	} else {
		fault(e, -1, "doorbell written outside the hypercall page");
		return;
	}
	e->kind = VCPU_EXIT_HYPERCALL;
	e->rip = at;
	e->hc = (struct hypercall){
		.nr = r->rax,
		.arg = { r->rdi, r->rsi, r->rdx, r->r10, r->r8 },
	};
}

static int kvm_run(struct domain *d, struct vcpu_exit *e)
{
	struct kvm_vcpu *k = priv(d);
	struct kvm_run *run = k->run;

	memset(e, 0, sizeof(*e));
again:
	if (ioctl(k->vcpu_fd, KVM_RUN, 0) < 0) {
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
		run->immediate_exit = 0;
		e->kind = VCPU_EXIT_KICKED;
		return 0;
	}
	run->kvm_dirty_regs = 0;
	e->rip = run->s.regs.regs.rip;
	switch (run->exit_reason) {
	case KVM_EXIT_MMIO:
		if (run->mmio.is_write &&
		    run->mmio.phys_addr == PVFT_DOORBELL_GPA) {
			hypercall_exit(d, k, e);
		} else if (run->mmio.is_write &&
			   run->mmio.phys_addr == LAYOUT_FAULT_DOORBELL &&
			   e->rip >= LAYOUT_STUB_GPA &&
			   e->rip < LAYOUT_STUB_GPA + PVFT_PAGE_SIZE) {
			/* No exit, as where KVM answers CPUID itself. */
			if (k->answer_cpuid && answer_cpuid(d, k))
				goto again;
			fault_from_stub(d, k, e);
		} else {
			fault(e, -1,
			      "%s of %u bytes at unbacked guest-physical "
			      "address 0x%llx",
			      run->mmio.is_write ? "write" : "read",
			      run->mmio.len,
			      (unsigned long long)run->mmio.phys_addr);
		}
		break;
	case KVM_EXIT_IO:
		fault(e, -1, "port I/O to 0x%x", run->io.port);
		break;
	case KVM_EXIT_HLT:
		fault(e, -1, "hlt");
		break;
	case KVM_EXIT_SHUTDOWN:
		fault(e, -1, "triple fault (KVM_EXIT_SHUTDOWN)");
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		e->kind = VCPU_EXIT_FAILED;
		snprintf(e->fault.what, sizeof(e->fault.what),
			 "KVM internal error, suberror %u%s",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
			     ? " (emulation failure)"
			     : "");
		break;
	case KVM_EXIT_FAIL_ENTRY:
		e->kind = VCPU_EXIT_FAILED;
		snprintf(e->fault.what, sizeof(e->fault.what),
			 "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)
			     run->fail_entry.hardware_entry_failure_reason);
		break;
	default:
		e->kind = VCPU_EXIT_FAILED;
		snprintf(e->fault.what, sizeof(e->fault.what),
			 "unexpected KVM exit reason %u", run->exit_reason);
		break;
	}
	return 0;
}

static void kvm_complete_hypercall(struct domain *d, uint64_t ret)
{
	struct kvm_vcpu *k = priv(d);
	struct kvm_regs *r = &k->run->s.regs.regs;

	r->rax = ret;
	r->rip += k->rip_advance;
	k->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
}

/*
 * The vCPU sits in the ring-0 fault stub: set user segments and the
 * handler's registers, and it leaves ring 0 at the next KVM_RUN.
 */
static int kvm_enter_handler(struct domain *d, uint64_t rip, uint64_t rsp,
			     const uint64_t arg[5])
{
	struct kvm_vcpu *k = priv(d);
	int rc = to_ring3(k);

	if (rc)
		return rc;
	k->run->s.regs.regs = (struct kvm_regs){
		.rip = rip,
		.rsp = rsp,
		.rdi = arg[0],
		.rsi = arg[1],
		.rdx = arg[2],
		.rcx = arg[3],
		.r8 = arg[4],
		.rflags = 0x202,
	};
	k->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	k->rip_advance = 0;
	return 0;
}

static void kvm_get_regs(struct domain *d, struct vcpu_regs *r)
{
	const struct kvm_regs *k = &priv(d)->run->s.regs.regs;

	*r = (struct vcpu_regs){
		.rax = k->rax,
		.rbx = k->rbx,
		.rcx = k->rcx,
		.rdx = k->rdx,
		.rsi = k->rsi,
		.rdi = k->rdi,
		.rbp = k->rbp,
		.rsp = k->rsp,
		.r8 = k->r8,
		.r9 = k->r9,
		.r10 = k->r10,
		.r11 = k->r11,
		.r12 = k->r12,
		.r13 = k->r13,
		.r14 = k->r14,
		.r15 = k->r15,
		.rflags = k->rflags,
	};
}

static int kvm_get_fpu(struct domain *d, struct vcpu_fpu *f)
{
	struct kvm_fpu k;

	if (ioctl(priv(d)->vcpu_fd, KVM_GET_FPU, &k) < 0)
		return -errno;
	memset(f, 0, sizeof(*f));
	f->fcw = k.fcw;
	f->fsw = k.fsw;
	f->ftw = k.ftwx;
	f->mxcsr = k.mxcsr;
	for (int i = 0; i < 8; i++)
		memcpy(f->st[i], k.fpr[i], sizeof(f->st[i]));
	memcpy(f->xmm, k.xmm, sizeof(f->xmm));
	return 0;
}

/*
 * The vCPU's FXSAVE image is the first 512 bytes of KVM_GET_XSAVE's
 * (KVM_GET_FPU leaves MXCSR out: seen 0 on a 6.1 host): FCW 0, FSW 2,
 * abridged FTW 4, FOP 6, FIP 8, FDP 16, MXCSR 24, MXCSR_MASK 28 (the
 * host's), ST0-7 from 32, XMM0-15 from 160, reserved from 416.
 */
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28
#define FX_RESERVED 416
/* The XSAVE header's XSTATE_BV, and its x87 and SSE bits. */
#define XSAVE_BV 512
#define XSTATE_FP_SSE 3ull
/* MXCSR bits above 15 are reserved on every CPU: a #GP to load. */
#define MXCSR_VALID 0xffffu

/*
 * A completed hypercall (or an entered fault handler) waits in the
 * kvm_run's sync registers, marked dirty, until the next KVM_RUN loads
 * them: those are what the guest resumes with, not KVM_GET_REGS's.
 */
static int kvm_get_state(struct domain *d, struct vcpu_state *s)
{
	struct kvm_vcpu *k = priv(d);
	struct kvm_xsave x;
	struct kvm_regs r;

	if (k->run->kvm_dirty_regs & KVM_SYNC_X86_REGS)
		r = k->run->s.regs.regs;
	else if (ioctl(k->vcpu_fd, KVM_GET_REGS, &r) < 0)
		return -errno;
	if (ioctl(k->vcpu_fd, KVM_GET_XSAVE, &x) < 0)
		return -errno;
	memset(s, 0, sizeof(*s));
	s->regs = (struct vcpu_regs){
		.rax = r.rax,
		.rbx = r.rbx,
		.rcx = r.rcx,
		.rdx = r.rdx,
		.rsi = r.rsi,
		.rdi = r.rdi,
		.rbp = r.rbp,
		.rsp = r.rsp,
		.r8 = r.r8,
		.r9 = r.r9,
		.r10 = r.r10,
		.r11 = r.r11,
		.r12 = r.r12,
		.r13 = r.r13,
		.r14 = r.r14,
		.r15 = r.r15,
		.rflags = r.rflags,
	};
	s->rip = r.rip;
	memcpy(s->fxsave, x.region, FX_RESERVED);
	memset(s->fxsave + FX_MXCSR_MASK, 0, 4);
	return 0;
}

/*
 * Segments, control registers and MSRs stay as kvm_create() made them
 * (ring 3 of pvft's fixed layout); so do the rflags bits that are not
 * the guest's (IF).
 */
static int kvm_set_state(struct domain *d, const struct vcpu_state *s)
{
	struct kvm_vcpu *k = priv(d);
	struct kvm_xsave x;
	struct kvm_regs r;
	uint64_t flags, bv;
	uint32_t mxcsr;

	memcpy(&mxcsr, s->fxsave + FX_MXCSR, 4);
	if (mxcsr & ~MXCSR_VALID)
		return -EINVAL;
	if (ioctl(k->vcpu_fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(k->vcpu_fd, KVM_GET_XSAVE, &x) < 0)
		return -errno;
	/* The host's MXCSR_MASK stays; x87 and SSE are in use now. */
	memcpy(x.region, s->fxsave, FX_MXCSR_MASK);
	memcpy((uint8_t *)x.region + FX_MXCSR_MASK + 4,
	       s->fxsave + FX_MXCSR_MASK + 4, FX_RESERVED - FX_MXCSR_MASK - 4);
	memcpy(&bv, (uint8_t *)x.region + XSAVE_BV, 8);
	bv |= XSTATE_FP_SSE;
	memcpy((uint8_t *)x.region + XSAVE_BV, &bv, 8);
	flags = (r.rflags & ~VCPU_RFLAGS_GUEST) |
		(s->regs.rflags & VCPU_RFLAGS_GUEST);
	r = (struct kvm_regs){
		.rax = s->regs.rax,
		.rbx = s->regs.rbx,
		.rcx = s->regs.rcx,
		.rdx = s->regs.rdx,
		.rsi = s->regs.rsi,
		.rdi = s->regs.rdi,
		.rbp = s->regs.rbp,
		.rsp = s->regs.rsp,
		.r8 = s->regs.r8,
		.r9 = s->regs.r9,
		.r10 = s->regs.r10,
		.r11 = s->regs.r11,
		.r12 = s->regs.r12,
		.r13 = s->regs.r13,
		.r14 = s->regs.r14,
		.r15 = s->regs.r15,
		.rip = s->rip,
		.rflags = flags,
	};
	if (ioctl(k->vcpu_fd, KVM_SET_REGS, &r) < 0 ||
	    ioctl(k->vcpu_fd, KVM_SET_XSAVE, &x) < 0)
		return -errno;
	/*
	 * get_regs reads the run area's synced copy, which KVM fills only at
	 * an exit: it must say what was just set (the digest at the cut).
	 */
	k->run->s.regs.regs = r;
	/* A fresh resume: nothing pending from an exit this vCPU never had. */
	k->run->kvm_dirty_regs = 0;
	k->rip_advance = 0;
	return 0;
}

static size_t dirty_words(const struct domain *d)
{
	return (d->mem_size / PVFT_PAGE_SIZE + 63) / 64;
}

/*
 * KVM write-protects the slot's pages and logs the guest's first write
 * to each (and the CPU's page-table A/D updates: memory changed too).
 * pvft-hv's own writes through d->mem are not logged.
 */
static int kvm_dirty_start(struct domain *d)
{
	struct kvm_vcpu *k = priv(d);
	int rc;

	if (k->dirty_on)
		return -EBUSY;
	k->dirty_log = calloc(dirty_words(d), sizeof(uint64_t));
	if (!k->dirty_log)
		return -ENOMEM;
	rc = set_memory(k, d, KVM_MEM_LOG_DIRTY_PAGES);
	if (rc) {
		pr_err("kvm backend: no dirty-page logging "
		       "(KVM_SET_USER_MEMORY_REGION with "
		       "KVM_MEM_LOG_DIRTY_PAGES): %s",
		       strerror(-rc));
		free(k->dirty_log);
		k->dirty_log = NULL;
		return rc;
	}
	k->dirty_on = true;
	return 0;
}

/*
 * Without KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG takes the
 * log, clears it and write-protects those pages again before it returns:
 * a page written after that is in the next fetch, and its content,
 * copied after this returns, is at least as new as what was logged.
 */
static int kvm_dirty_fetch(struct domain *d, uint64_t *bitmap)
{
	struct kvm_vcpu *k = priv(d);
	struct kvm_dirty_log log = { .slot = 0 };
	size_t n = dirty_words(d);

	if (!k->dirty_on)
		return -EINVAL;
	memset(k->dirty_log, 0, n * sizeof(uint64_t));
	log.dirty_bitmap = k->dirty_log;
	if (ioctl(k->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		int rc = -errno;

		pr_err("kvm backend: KVM_GET_DIRTY_LOG: %s", strerror(errno));
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		bitmap[i] |= k->dirty_log[i];
	return 0;
}

static void kvm_dirty_stop(struct domain *d)
{
	struct kvm_vcpu *k = priv(d);
	int rc;

	if (!k || !k->dirty_on)
		return;
	rc = set_memory(k, d, 0);
	if (rc)
		pr_warn("kvm backend: cannot stop dirty-page logging: %s",
			strerror(-rc));
	free(k->dirty_log);
	k->dirty_log = NULL;
	k->dirty_on = false;
}

/* The caller also signals the vCPU thread out of a running KVM_RUN. */
static void kvm_kick(struct domain *d)
{
	struct kvm_vcpu *k = priv(d);

	if (!k || !k->run)
		return;
	/* immediate_exit closes the race with a KVM_RUN about to start. */
	k->run->immediate_exit = 1;
}

const struct vcpu_backend vcpu_kvm_backend = {
	.name = "kvm",
	.create = kvm_create,
	.run = kvm_run,
	.get_regs = kvm_get_regs,
	.get_fpu = kvm_get_fpu,
	.complete_hypercall = kvm_complete_hypercall,
	.enter_handler = kvm_enter_handler,
	.get_state = kvm_get_state,
	.set_state = kvm_set_state,
	.dirty_start = kvm_dirty_start,
	.dirty_fetch = kvm_dirty_fetch,
	.dirty_stop = kvm_dirty_stop,
	.kick = kvm_kick,
	.destroy = kvm_destroy,
};
