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
 *
 * Dirty-page tracking (live migration) is userfaultfd write-protection
 * of the child's shared-memory mapping, since the kernel may lack
 * soft-dirty bits (CONFIG_MEM_SOFT_DIRTY). A userfaultfd works on the mm
 * of the process that made it, so the child makes one before it stops and
 * hands it over a socket; pvft-hv registers and protects the child's
 * ranges through it (as CRIU's lazy pages do) only once tracking starts:
 * until then the child runs as if it had none.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain.h"
#include "layout.h"
#include "log.h"
#include "vcpu.h"

/* Linux 5.11: a userfaultfd for user-mode faults needs no privilege. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* The guest's writable ranges, as the child maps them (child()). */
#define DIRTY_RANGES 2

/*
 * Dirty-page tracking, from dirty_start to dirty_stop. The lock makes
 * "set the page's bit, then unprotect it" (the fault thread) and "take
 * the bits, then protect every page again" (a fetch) exclusive, so that
 * no page is ever writable without its bit set since the last fetch:
 * a write is either seen by this fetch (bit taken) or faults again
 * after it (page protected again), never neither.
 */
struct ptrace_dirty {
	int uffd; /* the child's (struct ptrace_vcpu's) */
	uint64_t range[DIRTY_RANGES][2]; /* start, length */
	size_t pages;
	pthread_mutex_t lock;
	uint64_t *bits; /* under lock */
	bool failed;	/* under lock: tracking lost, fetches fail */
	int stop_fd;	/* eventfd: the fault thread ends */
	pthread_t thread;
};

struct ptrace_vcpu {
	pid_t pid;
	struct user_regs_struct regs; /* as of the latest stop */
	bool regs_dirty;
	/* The child's userfaultfd, or -1 and why not (a positive errno). */
	int uffd;
	int uffd_err;
	bool uffd_api; /* UFFDIO_API done (once per userfaultfd) */
	struct ptrace_dirty *dirty;
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
 * In the child: a userfaultfd of this mm for pvft-hv's dirty-page
 * tracking, sent over @sock with an errno (0, or why there is none).
 * Failing is no reason not to run the guest: only tracking is lost.
 */
static void send_uffd(int sock)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	int err = 0, fd;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (sock < 0)
		return;
	fd = syscall(SYS_userfaultfd,
		     O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0 && errno == EINVAL) /* before Linux 5.11 */
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = errno;
	} else {
		memset(&c, 0, sizeof(c));
		m.msg_control = c.buf;
		m.msg_controllen = sizeof(c.buf);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&c.h), &fd, sizeof(fd));
	}
	sendmsg(sock, &m, MSG_NOSIGNAL);
}

/* In pvft-hv: the child's userfaultfd, sent before it stopped. */
static void recv_uffd(struct ptrace_vcpu *p, int sock)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	int err = ENOSYS;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr m = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = c.buf,
		.msg_controllen = sizeof(c.buf),
	};
	struct cmsghdr *h;
	ssize_t r;

	p->uffd = -1;
	r = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (r != sizeof(err)) {
		p->uffd_err = r < 0 ? errno : EPROTO;
		return;
	}
	h = CMSG_FIRSTHDR(&m);
	if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
	    h->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&p->uffd, CMSG_DATA(h), sizeof(int));
	p->uffd_err = p->uffd >= 0 ? 0 : err ? err : EPROTO;
}

/*
 * In the child, forked while pvft-hv has a single thread: become the
 * guest's address space, then stop for the hv to set the registers.
 */
static void __attribute__((noreturn))
child(struct domain *d, pid_t parent, int sock)
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
	send_uffd(sock);
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

static void ptrace_dirty_stop(struct domain *d);

static void ptrace_destroy(struct domain *d)
{
	struct ptrace_vcpu *p = priv(d);

	if (!p)
		return;
	ptrace_dirty_stop(d);
	d->backend_priv = NULL; /* no kick may find it half gone */
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	}
	if (p->uffd >= 0)
		close(p->uffd);
	free(p);
}

static int ptrace_create(struct domain *d)
{
	struct ptrace_vcpu *p;
	pid_t parent = getpid();
	int status, rc = 0;
	int sock[2] = { -1, -1 };

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->uffd = -1;
	p->uffd_err = ENOSYS;
	d->backend_priv = p;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0)
		p->uffd_err = errno;
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		rc = -errno;
		pr_err("fork: %s", strerror(errno));
		goto out;
	}
	if (p->pid == 0)
		child(d, parent, sock[1]);
	if (sock[1] >= 0)
		close(sock[1]);
	sock[1] = -1;

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
	if (sock[0] >= 0)
		recv_uffd(p, sock[0]);
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
	if (sock[0] >= 0)
		close(sock[0]);
	if (sock[1] >= 0)
		close(sock[1]);
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

/* FXSAVE's MXCSR; bits above 15 are reserved on every CPU. */
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28
#define FX_RESERVED 416
#define MXCSR_VALID 0xffffu

_Static_assert(sizeof(struct user_fpregs_struct) == 512,
	       "user_fpregs_struct is the FXSAVE image");

/*
 * The registers the next run() gives the child (a completed hypercall's
 * result and rip past the doorbell write), and its FXSAVE image less what
 * is the host's, not the guest's: MXCSR_MASK and the reserved tail (the
 * kernel's software bytes).
 */
static int ptrace_get_state(struct domain *d, struct vcpu_state *s)
{
	struct ptrace_vcpu *p = priv(d);
	struct user_fpregs_struct u;

	if (ptrace(PTRACE_GETFPREGS, p->pid, 0, &u) < 0)
		return -errno;
	memset(s, 0, sizeof(*s));
	ptrace_get_regs(d, &s->regs);
	s->rip = p->regs.rip;
	memcpy(s->fxsave, &u, sizeof(s->fxsave));
	memset(s->fxsave + FX_MXCSR_MASK, 0, 4);
	memset(s->fxsave + FX_RESERVED, 0, sizeof(s->fxsave) - FX_RESERVED);
	return 0;
}

/*
 * The child stopped in create() at its first SIGSTOP: resume it at @s.
 * Segment selectors and bases stay the host's user ones create() kept,
 * and the rflags bits that are not the guest's stay as create() set them.
 */
static int ptrace_set_state(struct domain *d, const struct vcpu_state *s)
{
	struct ptrace_vcpu *p = priv(d);
	struct user_regs_struct *r = &p->regs;
	struct user_fpregs_struct u;
	uint32_t mxcsr;

	memcpy(&mxcsr, s->fxsave + FX_MXCSR, 4);
	if (mxcsr & ~MXCSR_VALID)
		return -EINVAL;
	if (ptrace(PTRACE_GETFPREGS, p->pid, 0, &u) < 0)
		return -errno;
	/* The host's MXCSR_MASK: the kernel checks MXCSR against it. */
	memcpy((uint8_t *)&u, s->fxsave, FX_MXCSR_MASK);
	memcpy((uint8_t *)&u + FX_MXCSR_MASK + 4, s->fxsave + FX_MXCSR_MASK + 4,
	       FX_RESERVED - FX_MXCSR_MASK - 4);
	if (ptrace(PTRACE_SETFPREGS, p->pid, 0, &u) < 0)
		return -errno;
	r->rax = s->regs.rax;
	r->rbx = s->regs.rbx;
	r->rcx = s->regs.rcx;
	r->rdx = s->regs.rdx;
	r->rsi = s->regs.rsi;
	r->rdi = s->regs.rdi;
	r->rbp = s->regs.rbp;
	r->rsp = s->regs.rsp;
	r->r8 = s->regs.r8;
	r->r9 = s->regs.r9;
	r->r10 = s->regs.r10;
	r->r11 = s->regs.r11;
	r->r12 = s->regs.r12;
	r->r13 = s->regs.r13;
	r->r14 = s->regs.r14;
	r->r15 = s->regs.r15;
	r->rip = s->rip;
	r->eflags = (r->eflags & ~VCPU_RFLAGS_GUEST) |
		    (s->regs.rflags & VCPU_RFLAGS_GUEST);
	/* run() sets them: nothing of an exit this child never had. */
	p->regs_dirty = true;
	return 0;
}

/* [start, start + len) of the child's guest mapping: protect or not. */
static int uffd_protect(int uffd, uint64_t start, uint64_t len, bool on)
{
	struct uffdio_writeprotect w = {
		.range = { .start = start, .len = len },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	/* EAGAIN: the child's mappings were changing; they settle. */
	while (ioctl(uffd, UFFDIO_WRITEPROTECT, &w) < 0)
		if (errno != EAGAIN)
			return -errno;
	return 0;
}

static int protect_all(struct ptrace_dirty *t, bool on)
{
	int rc = 0;

	for (int i = 0; i < DIRTY_RANGES && !rc; i++)
		rc = uffd_protect(t->uffd, t->range[i][0], t->range[i][1], on);
	return rc;
}

/*
 * Tracking cannot go on (under t->lock): the guest must not wait for a
 * fault thread that is gone, so every page becomes writable again, and
 * fetches say so from now on.
 */
static void dirty_fail(struct ptrace_dirty *t, const char *what, int err)
{
	if (t->failed)
		return;
	pr_err("ptrace backend: dirty-page tracking lost: %s: %s", what,
	       strerror(err));
	t->failed = true;
	protect_all(t, false);
}

/*
 * The fault thread: a guest write to a protected page blocks the child
 * in the kernel and queues an event here. Set the page's bit, then
 * unprotect the page, which wakes the child to redo the write.
 */
static void *dirty_thread(void *opaque)
{
	struct ptrace_dirty *t = opaque;
	struct uffd_msg msg[64];
	ssize_t r;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = t->uffd, .events = POLLIN },
			{ .fd = t->stop_fd, .events = POLLIN },
		};

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		if (pfd[1].revents)
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			r = -EIO;
			goto fail;
		}
		r = read(t->uffd, msg, sizeof(msg));
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		pthread_mutex_lock(&t->lock);
		for (size_t i = 0; i < (size_t)r / sizeof(msg[0]); i++) {
			uint64_t addr = msg[i].arg.pagefault.address &
					~(PVFT_PAGE_SIZE - 1);
			uint64_t pg = addr / PVFT_PAGE_SIZE;
			int rc;

			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			if (pg < t->pages)
				t->bits[pg / 64] |= 1ull << (pg % 64);
			rc = uffd_protect(t->uffd, addr, PVFT_PAGE_SIZE, false);
			if (rc)
				dirty_fail(t, "UFFDIO_WRITEPROTECT", -rc);
		}
		pthread_mutex_unlock(&t->lock);
	}
fail:
	pthread_mutex_lock(&t->lock);
	dirty_fail(t, "reading the userfaultfd", (int)-r);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void dirty_free(struct ptrace_dirty *t, int registered)
{
	for (int i = 0; i < registered; i++) {
		struct uffdio_range range = {
			.start = t->range[i][0],
			.len = t->range[i][1],
		};

		ioctl(t->uffd, UFFDIO_UNREGISTER, &range);
	}
	if (t->stop_fd >= 0)
		close(t->stop_fd);
	pthread_mutex_destroy(&t->lock);
	free(t->bits);
	free(t);
}

static int uffd_init(struct ptrace_vcpu *p)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
	};

	if (p->uffd_api)
		return 0;
	if (ioctl(p->uffd, UFFDIO_API, &api) < 0) {
		int rc = -errno;

		pr_err("ptrace backend: no dirty-page tracking: the kernel "
		       "cannot write-protect shared memory through "
		       "userfaultfd (UFFDIO_API: %s; Linux 6.1 can)",
		       strerror(errno));
		return rc;
	}
	p->uffd_api = true;
	return 0;
}

static int ptrace_dirty_start(struct domain *d)
{
	struct ptrace_vcpu *p = priv(d);
	struct ptrace_dirty *t;
	int rc, registered = 0;

	if (p->uffd < 0) {
		pr_err("ptrace backend: no dirty-page tracking: the guest "
		       "process has no userfaultfd (%s)",
		       strerror(p->uffd_err));
		return -p->uffd_err;
	}
	if (p->dirty)
		return -EBUSY;
	rc = uffd_init(p);
	if (rc)
		return rc;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->uffd = p->uffd;
	t->stop_fd = -1;
	pthread_mutex_init(&t->lock, NULL);
	t->pages = d->mem_size / PVFT_PAGE_SIZE;
	t->range[0][0] = PVFT_SHARED_INFO_GPA;
	t->range[0][1] = PVFT_PAGE_SIZE;
	t->range[1][0] = PVFT_GUEST_MIN_ADDR;
	t->range[1][1] = d->mem_size - PVFT_GUEST_MIN_ADDR;
	t->bits = calloc((t->pages + 63) / 64, sizeof(uint64_t));
	t->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!t->bits || t->stop_fd < 0) {
		rc = t->bits ? -errno : -ENOMEM;
		pr_err("ptrace backend: dirty-page tracking: %s",
		       strerror(-rc));
		goto fail;
	}
	for (; registered < DIRTY_RANGES; registered++) {
		struct uffdio_register reg = {
			.range = { .start = t->range[registered][0],
				   .len = t->range[registered][1] },
			.mode = UFFDIO_REGISTER_MODE_WP,
		};

		if (ioctl(p->uffd, UFFDIO_REGISTER, &reg) < 0) {
			rc = -errno;
			pr_err("ptrace backend: no dirty-page tracking: "
			       "UFFDIO_REGISTER of the guest's memory: %s",
			       strerror(errno));
			goto fail;
		}
	}
	/* The fault thread is not there yet: a write waits for it. */
	rc = protect_all(t, true);
	if (rc) {
		pr_err("ptrace backend: no dirty-page tracking: "
		       "UFFDIO_WRITEPROTECT: %s",
		       strerror(-rc));
		goto fail;
	}
	rc = -pthread_create(&t->thread, NULL, dirty_thread, t);
	if (rc) {
		pr_err("ptrace backend: dirty-page tracking: no thread: %s",
		       strerror(-rc));
		goto fail;
	}
	p->dirty = t;
	return 0;
fail:
	if (registered)
		protect_all(t, false);
	dirty_free(t, registered);
	return rc;
}

static int ptrace_dirty_fetch(struct domain *d, uint64_t *bitmap)
{
	struct ptrace_dirty *t = priv(d)->dirty;
	int rc = 0;

	if (!t)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	if (t->failed) {
		rc = -EIO;
		goto out;
	}
	for (size_t i = 0; i < (t->pages + 63) / 64; i++) {
		bitmap[i] |= t->bits[i];
		t->bits[i] = 0;
	}
	rc = protect_all(t, true);
	if (rc)
		dirty_fail(t, "UFFDIO_WRITEPROTECT", -rc);
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static void ptrace_dirty_stop(struct domain *d)
{
	struct ptrace_vcpu *p = priv(d);
	struct ptrace_dirty *t = p ? p->dirty : NULL;
	uint64_t one = 1;

	if (!t)
		return;
	p->dirty = NULL;
	if (write(t->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(t->thread, NULL);
	/* A write waiting for the thread goes on: unprotecting wakes it. */
	protect_all(t, false);
	dirty_free(t, DIRTY_RANGES);
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
	.get_state = ptrace_get_state,
	.set_state = ptrace_set_state,
	.dirty_start = ptrace_dirty_start,
	.dirty_fetch = ptrace_dirty_fetch,
	.dirty_stop = ptrace_dirty_stop,
	.kick = ptrace_kick,
	.destroy = ptrace_destroy,
};
