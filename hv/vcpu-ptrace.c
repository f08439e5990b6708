// SPDX-License-Identifier: MIT
/*
 * The ptrace backend, for hosts without /dev/kvm. The guest's ring-3 code
 * runs natively in a child process that maps guest memory at the same
 * (identity) addresses, as gVisor's ptrace platform runs its sandboxes:
 *   - the doorbell page is left unmapped, so a hypercall stub's write
 *     raises SIGSEGV, which stops the child and reaches us;
 *   - the child runs under PTRACE_SYSEMU, so a guest "syscall" never
 *     reaches the host kernel: it stops the child like any fault;
 *   - every other signal the guest raises (SIGSEGV, SIGILL, SIGFPE, SIGBUS,
 *     SIGTRAP) is an x86 exception and ends the domain.
 * Differences from KVM: CPUID is the host's, and the child's own mappings
 * (its copy of pvft-hv, libc, stack) sit above guest memory where KVM has
 * nothing; a correct guest touches neither.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain.h"
#include "layout.h"
#include "log.h"
#include "vcpu.h"

struct ptrace_vcpu {
	pid_t pid;
	struct user_regs_struct regs; /* as of the latest stop */
	bool regs_dirty;
};

static struct ptrace_vcpu *priv(struct domain *d)
{
	return d->backend_priv;
}

/* Why the child could not become a guest: its exit status. */
enum child_failure {
	CHILD_NO_PARENT = 120,
	CHILD_NO_TRACE,
	CHILD_NO_MEMORY,
	CHILD_NO_TSC_TRAP,
	CHILD_NO_SECCOMP,
	CHILD_NOT_STOPPED,
};

static const char *const child_failures[] = {
	[CHILD_NO_PARENT - CHILD_NO_PARENT] = "pvft-hv went away",
	[CHILD_NO_TRACE - CHILD_NO_PARENT] = "PTRACE_TRACEME failed",
	[CHILD_NO_MEMORY - CHILD_NO_PARENT] =
	    "guest memory cannot be mapped at its addresses",
	[CHILD_NO_TSC_TRAP - CHILD_NO_PARENT] = "PR_SET_TSC failed",
	[CHILD_NO_SECCOMP - CHILD_NO_PARENT] = "seccomp failed",
	[CHILD_NOT_STOPPED - CHILD_NO_PARENT] = "it did not stop",
};

static int map_at(uint64_t gpa, uint64_t len, int prot, int fd)
{
	/* NOREPLACE: never silently map over the child's own pages. */
	void *p =
	    mmap((void *)gpa, len, prot,
		 MAP_SHARED | MAP_FIXED_NOREPLACE | MAP_POPULATE, fd, gpa);

	return p == (void *)gpa ? 0 : -1;
}

static uint64_t parse_hex(const char **s)
{
	uint64_t v = 0;

	for (;; (*s)++) {
		char c = **s;

		if (c >= '0' && c <= '9')
			v = v << 4 | (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (c - 'a' + 10);
		else
			return v;
	}
}

/*
 * Unmap [vdso] and [vvar]: the vvar page holds the host's clock, which
 * the guest could read without any exit. Raw syscalls only: the child
 * calls nothing that might use the vDSO or need a lock.
 */
static void unmap_vdso(void)
{
	static char maps[1 << 16];
	const char *line, *end;
	ssize_t n = 0, r;
	int fd;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while (n < (ssize_t)sizeof(maps) - 1 &&
	       (r = read(fd, maps + n, sizeof(maps) - 1 - n)) > 0)
		n += r;
	close(fd);
	maps[n] = '\0';
	for (line = maps; *line; line = *end ? end + 1 : end) {
		const char *p = line;
		uint64_t lo, hi;

		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		lo = parse_hex(&p);
		p++;
		hi = parse_hex(&p);
		if ((memmem(line, end - line, "[vdso]", 6) ||
		     memmem(line, end - line, "[vvar", 5)) &&
		    hi > lo)
			munmap((void *)lo, hi - lo);
	}
}

/*
 * The vsyscall page cannot be unmapped, but its calls are emulated by the
 * kernel through seccomp: make time, gettimeofday and getcpu raise
 * SIGSYS. The guest's own syscalls never get this far (PTRACE_SYSEMU).
 */
static int deny_vsyscalls(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_time, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_gettimeofday, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getcpu, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	};
	struct sock_fprog prog = {
		.len = sizeof(f) / sizeof(f[0]),
		.filter = f,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/*
 * In the child, forked while pvft-hv has a single thread: become the
 * guest's address space, then stop for the hv to set the registers.
 */
static void __attribute__((noreturn)) child(struct domain *d, pid_t parent)
{
	uint64_t lo = PVFT_GUEST_MIN_ADDR;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(CHILD_NO_PARENT);
	if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
		_exit(CHILD_NO_TRACE);
	/* pvft-hv's own alias of guest RAM is not the guest's to see. */
	munmap(d->mem, d->mem_size);
	unmap_vdso();
	/* The same pages as under KVM: start_info read-only, no gap. */
	if (map_at(PVFT_START_INFO_GPA, PVFT_PAGE_SIZE, PROT_READ, d->mem_fd) ||
	    map_at(PVFT_SHARED_INFO_GPA, PVFT_PAGE_SIZE, PROT_READ | PROT_WRITE,
		   d->mem_fd) ||
	    map_at(lo, d->mem_size - lo, PROT_READ | PROT_WRITE | PROT_EXEC,
		   d->mem_fd))
		_exit(CHILD_NO_MEMORY);
	/* Nothing may answer at the doorbell. */
	munmap((void *)PVFT_DOORBELL_GPA, PVFT_PAGE_SIZE);
	/* rdtsc faults, as under KVM's CR4.TSD. */
	if (!d->allow_rdtsc && prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0))
		_exit(CHILD_NO_TSC_TRAP);
	if (deny_vsyscalls())
		_exit(CHILD_NO_SECCOMP);
	/* The guest can make no syscall; it needs no file either. */
	syscall(SYS_close_range, 0, ~0u, 0);
	raise(SIGSTOP);
	_exit(CHILD_NOT_STOPPED);
}

/*
 * The vector state of a fresh CPU (FCW 0x37f, MXCSR 0x1f80, registers
 * zero), not the copy of pvft-hv's the fork left: XSTATE_BV holds only
 * x87 and SSE, so every other component (AVX and up) is in its initial,
 * zero state too.
 */
static int reset_vector_state(pid_t pid)
{
	static uint8_t xs[16384] __attribute__((aligned(64)));
	struct iovec iov = { .iov_base = xs, .iov_len = sizeof(xs) };
	uint32_t mxcsr = 0x1f80, mxcsr_mask;
	uint16_t fcw = 0x37f;
	uint64_t bv = 3;

	if (ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) < 0)
		return -errno;
	memcpy(&mxcsr_mask, xs + 28, 4);
	memset(xs, 0, iov.iov_len);
	memcpy(xs + 0, &fcw, 2);
	memcpy(xs + 24, &mxcsr, 4);
	memcpy(xs + 28, &mxcsr_mask, 4);
	memcpy(xs + 512, &bv, 8); /* the XSAVE header's XSTATE_BV */
	if (ptrace(PTRACE_SETREGSET, pid, NT_X86_XSTATE, &iov) < 0)
		return -errno;
	return 0;
}

static void ptrace_destroy(struct domain *d)
{
	struct ptrace_vcpu *p = priv(d);

	if (!p)
		return;
	d->backend_priv = NULL; /* no kick may find it half gone */
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	}
	free(p);
}

static int ptrace_create(struct domain *d)
{
	struct ptrace_vcpu *p;
	pid_t parent = getpid();
	int status, rc = 0;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	d->backend_priv = p;
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		rc = -errno;
		pr_err("fork: %s", strerror(errno));
		goto out;
	}
	if (p->pid == 0)
		child(d, parent);

	if (waitpid(p->pid, &status, __WALL) < 0) {
		rc = -errno;
		goto out;
	}
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) {
		int why = WIFEXITED(status) ? WEXITSTATUS(status) : 0;

		rc = -ECHILD;
		if (why >= CHILD_NO_PARENT && why <= CHILD_NOT_STOPPED)
			pr_err("ptrace backend: the guest process did not "
			       "start: %s",
			       child_failures[why - CHILD_NO_PARENT]);
		else
			pr_err("ptrace backend: the guest process did not "
			       "start (status 0x%x)",
			       status);
		if (WIFEXITED(status) || WIFSIGNALED(status))
			p->pid = -1; /* reaped */
		goto out;
	}
	/* EXITKILL: if pvft-hv dies, the guest dies with it. */
	if (ptrace(PTRACE_SETOPTIONS, p->pid, 0,
		   PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) < 0 ||
	    ptrace(PTRACE_GETREGS, p->pid, 0, &p->regs) < 0) {
		rc = -errno;
		pr_err("ptrace: %s", strerror(errno));
		goto out;
	}
	rc = reset_vector_state(p->pid);
	if (rc) {
		pr_err("ptrace: cannot reset the vector registers: %s",
		       strerror(-rc));
		goto out;
	}
	/* The entry state of pvft's PV ABI; segments stay the host's user ones.
	 */
	p->regs = (struct user_regs_struct){
		.rip = d->entry,
		.rsi = PVFT_START_INFO_GPA,
		.eflags = 0x202,
		.cs = p->regs.cs,
		.ss = p->regs.ss,
		.ds = p->regs.ds,
		.es = p->regs.es,
	};
	p->regs_dirty = true;
out:
	if (rc)
		ptrace_destroy(d);
	return rc;
}

static void set_fault(struct vcpu_exit *e, int vector, uint64_t addr,
		      const char *what)
{
	e->kind = VCPU_EXIT_FAULT;
	e->fault.vector = vector;
	e->fault.addr = addr;
	snprintf(e->fault.what, sizeof(e->fault.what), "%s", what);
}

/* A signal the guest raised itself: a hypercall or an x86 exception. */
static int guest_signal(struct domain *d, struct ptrace_vcpu *p, int sig,
			struct vcpu_exit *e)
{
	struct user_regs_struct *r = &p->regs;
	siginfo_t si;

	if (ptrace(PTRACE_GETSIGINFO, p->pid, 0, &si) < 0)
		return -errno;
	/* kill(2) and friends: a host event, not the guest's exception. */
	if (si.si_code <= 0) {
		e->kind = VCPU_EXIT_KICKED;
		return 0;
	}
	e->rip = r->rip;
	e->fault.rsp = r->rsp;
	switch (sig) {
	case SIGSEGV:
		if ((uint64_t)si.si_addr >> 12 == PVFT_DOORBELL_GPA >> 12) {
			if (!layout__stub_at(d->hypercall_page, r->rip) ||
			    (uint64_t)si.si_addr != PVFT_DOORBELL_GPA) {
				set_fault(e, -1, 0,
					  "doorbell written outside the "
					  "hypercall page");
				break;
			}
			e->kind = VCPU_EXIT_HYPERCALL;
			e->hc = (struct hypercall){
				.nr = r->rax,
				.arg = { r->rdi, r->rsi, r->rdx, r->r10,
					 r->r8 },
			};
		} else if (si.si_code == SI_KERNEL) {
			/* #GP: privileged or non-canonical; no address. */
			set_fault(e, 13, 0, "");
		} else {
			set_fault(e, 14, (uint64_t)si.si_addr, "");
		}
		break;
	case SIGILL:
		set_fault(e, 6, 0, "");
		break;
	case SIGFPE:
		set_fault(e, 0, 0, "");
		break;
	case SIGTRAP:
		set_fault(e, 3, 0, "");
		break;
	case SIGBUS:
		set_fault(e, 17, (uint64_t)si.si_addr, "");
		break;
	case SIGSYS:
		set_fault(e, -1, 0,
			  "call into the vsyscall page (host time), not part "
			  "of the PV ABI");
		break;
	default:
		/* Sent from outside (a kick, or someone's kill): not the
		 * guest's. */
		e->kind = VCPU_EXIT_KICKED;
		break;
	}
	return 0;
}

static int ptrace_run(struct domain *d, struct vcpu_exit *e)
{
	struct ptrace_vcpu *p = priv(d);
	int status, sig;

	memset(e, 0, sizeof(*e));
	if (p->regs_dirty && ptrace(PTRACE_SETREGS, p->pid, 0, &p->regs) < 0)
		return -errno;
	p->regs_dirty = false;
	/* SYSEMU: a guest syscall stops the child instead of running. */
	if (ptrace(PTRACE_SYSEMU, p->pid, 0, 0) < 0)
		return -errno;
	while (waitpid(p->pid, &status, __WALL) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		p->pid = -1;
		e->kind = VCPU_EXIT_FAILED;
		snprintf(e->fault.what, sizeof(e->fault.what),
			 "the guest process ended (%s %d)",
			 WIFEXITED(status) ? "status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status)
					   : WTERMSIG(status));
		return 0;
	}
	if (ptrace(PTRACE_GETREGS, p->pid, 0, &p->regs) < 0)
		return -errno;
	sig = WSTOPSIG(status);
	if (sig == (SIGTRAP | 0x80)) {
		e->rip = p->regs.rip - 2; /* past the 2-byte syscall */
		e->fault.rsp = p->regs.rsp;
		/* What the KVM backend sees too: no SCE, so #UD. */
		set_fault(e, 6, 0, "");
		return 0;
	}
	return guest_signal(d, p, sig, e);
}

static void ptrace_complete_hypercall(struct domain *d, uint64_t ret)
{
	struct ptrace_vcpu *p = priv(d);

	/* The signal stopped the child at the write: step over it. */
	p->regs.rax = ret;
	p->regs.rip += PVFT_STUB_DOORBELL_LEN;
	p->regs_dirty = true;
}

static int ptrace_enter_handler(struct domain *d, uint64_t rip, uint64_t rsp,
				const uint64_t arg[5])
{
	struct ptrace_vcpu *p = priv(d);

	/* The fault's signal is dropped when the child goes on. */
	p->regs.rip = rip;
	p->regs.rsp = rsp;
	p->regs.rdi = arg[0];
	p->regs.rsi = arg[1];
	p->regs.rdx = arg[2];
	p->regs.rcx = arg[3];
	p->regs.r8 = arg[4];
	p->regs.eflags = 0x202;
	p->regs_dirty = true;
	return 0;
}

static void ptrace_get_regs(struct domain *d, struct vcpu_regs *r)
{
	const struct user_regs_struct *u = &priv(d)->regs;

	*r = (struct vcpu_regs){
		.rax = u->rax,
		.rbx = u->rbx,
		.rcx = u->rcx,
		.rdx = u->rdx,
		.rsi = u->rsi,
		.rdi = u->rdi,
		.rbp = u->rbp,
		.rsp = u->rsp,
		.r8 = u->r8,
		.r9 = u->r9,
		.r10 = u->r10,
		.r11 = u->r11,
		.r12 = u->r12,
		.r13 = u->r13,
		.r14 = u->r14,
		.r15 = u->r15,
		.rflags = u->eflags,
	};
}

static int ptrace_get_fpu(struct domain *d, struct vcpu_fpu *f)
{
	struct user_fpregs_struct u;

	if (ptrace(PTRACE_GETFPREGS, priv(d)->pid, 0, &u) < 0)
		return -errno;
	memset(f, 0, sizeof(*f));
	f->fcw = u.cwd;
	f->fsw = u.swd;
	f->ftw = u.ftw;
	f->mxcsr = u.mxcsr;
	/* FXSAVE layout: 16 bytes a register, 10 of them the value. */
	for (int i = 0; i < 8; i++)
		memcpy(f->st[i], (const uint8_t *)u.st_space + 16 * i,
		       sizeof(f->st[i]));
	memcpy(f->xmm, u.xmm_space, sizeof(f->xmm));
	return 0;
}

static void ptrace_kick(struct domain *d)
{
	struct ptrace_vcpu *p = priv(d);

	/* Async-signal-safe; the stop comes back as VCPU_EXIT_KICKED. */
	if (p && p->pid > 0)
		kill(p->pid, SIGSTOP);
}

const struct vcpu_backend vcpu_ptrace_backend = {
	.name = "ptrace",
	.host_cpuid = true,
	.create = ptrace_create,
	.run = ptrace_run,
	.get_regs = ptrace_get_regs,
	.get_fpu = ptrace_get_fpu,
	.complete_hypercall = ptrace_complete_hypercall,
	.enter_handler = ptrace_enter_handler,
	.kick = ptrace_kick,
	.destroy = ptrace_destroy,
};
