// SPDX-License-Identifier: MIT
/*
 * The real vCPU backends' live-migration ops: get_state and set_state
 * (a second domain resumes where the first was, and both go on alike),
 * and dirty-page tracking (every page the guest writes is reported,
 * untouched ones are not, and a fetch racing the guest loses nothing).
 * The ptrace backend always runs; the KVM backend only where /dev/kvm
 * opens (tests/kvm runs this suite there too).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "devices.h"
#include "digest.h"
#include "domain.h"
#include "log.h"
#include "unit.h"
#include "vcpu.h"

#define MIB (1ull << 20)
#define PAGE PVFT_PAGE_SIZE
/* Code written by the test, run by enter_handler(): see CODE_* below. */
#define CODE_GPA (PVFT_GUEST_MIN_ADDR + PAGE)
#define STACK_TOP (PVFT_GUEST_MIN_ADDR + 4 * PAGE)
#define DATA_GPA (2 * MIB) /* free memory the code writes */

/*
 * rdi = address, rsi = count, rdx = stride, rcx = value:
 *   1: mov %rcx, (%rdi); add %rdx, %rdi; dec %rsi; jnz 1b; ud2
 * Each run writes @count words and exits with #UD.
 */
static const uint8_t code_writes[] = {
	0x48, 0x89, 0x0f, 0x48, 0x01, 0xd7, 0x48,
	0xff, 0xce, 0x75, 0xf5, 0x0f, 0x0b,
};

/* call hypercall stub 0 (at PVFT_GUEST_MIN_ADDR, 0x1005 bytes back). */
static const uint8_t code_hypercall[] = { 0xe8, 0xfb, 0xef, 0xff, 0xff };

static const struct vcpu_backend *backend(const char *name)
{
	int fd;

	if (strcmp(name, "kvm"))
		return &vcpu_ptrace_backend;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	close(fd);
	return &vcpu_kvm_backend;
}

/* build/bin/pvft-unit-tests -> build/guest/NAME. */
static int guest_path(const char *name, char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n < 0)
		return -errno;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/../guest/%s", exe, name) >= len)
		return -ENAMETOOLONG;
	return access(buf, R_OK) ? -errno : 0;
}

/*
 * A domain as pvft-hv builds one, without a log or host sides: @image
 * loaded with @cmdline, or (NULL) the test's code at CODE_GPA.
 */
static struct domain *domain_new(const struct vcpu_backend *be,
				 uint64_t mem_size, const char *image,
				 const char *cmdline, const uint8_t *code,
				 size_t code_len)
{
	struct domain *d = calloc(1, sizeof(*d));
	char path[PATH_MAX];

	if (!d)
		return NULL;
	d->mem_fd = -1;
	d->sched.wake_fd = -1;
	d->name = "test";
	d->backend = be;
	if (domain__init_memory(d, mem_size))
		goto fail;
	if (image) {
		if (guest_path(image, path, sizeof(path)) ||
		    domain__load(d, path, cmdline))
			goto fail;
	} else {
		d->hypercall_page = PVFT_GUEST_MIN_ADDR;
		d->entry = CODE_GPA;
		domain__init_pv_pages(d);
		memcpy(d->mem + CODE_GPA, code, code_len);
	}
	if (sched__init(&d->sched) || coninput__init(&d->cin) ||
	    devices__probe(d, &(struct devices_config){
				  .console_out = { .fd = -1 },
				  .console_live = { .fd = -1 },
			      }))
		goto fail;
	if (be->create(d))
		goto fail;
	return d;
fail:
	d->nr_devices = 0;
	sched__dispose(&d->sched);
	domain__dispose(d);
	free(d);
	return NULL;
}

static void domain_free(struct domain *d)
{
	if (!d)
		return;
	d->backend->destroy(d);
	d->nr_devices = 0;
	coninput__dispose(&d->cin);
	sched__dispose(&d->sched);
	domain__dispose(d);
	free(d);
}

/* Run to the next guest exit (kicks do not count). */
static int run_exit(struct domain *d, struct vcpu_exit *e)
{
	int rc;

	do
		rc = d->backend->run(d, e);
	while (!rc && e->kind == VCPU_EXIT_KICKED);
	return rc;
}

/* The test's code with rdi, rsi, rdx, rcx = @a..: runs to its #UD. */
static int run_code(struct domain *d, uint64_t a0, uint64_t a1, uint64_t a2,
		    uint64_t a3)
{
	const uint64_t arg[5] = { a0, a1, a2, a3, 0 };
	struct vcpu_exit e;
	int rc = d->backend->enter_handler(d, CODE_GPA, STACK_TOP, arg);

	if (rc)
		return rc;
	rc = run_exit(d, &e);
	if (rc)
		return rc;
	return e.kind == VCPU_EXIT_FAULT && e.fault.vector == 6 ? 0 : -EIO;
}

/*
 * The same guest-visible state: rflags compared in the bits that are the
 * guest's (a ptrace stop at a fault shows the kernel's RF, too).
 */
static bool state_equal(const struct vcpu_state *a, const struct vcpu_state *b)
{
	struct vcpu_regs ra = a->regs, rb = b->regs;

	ra.rflags &= VCPU_RFLAGS_GUEST;
	rb.rflags &= VCPU_RFLAGS_GUEST;
	return !memcmp(&ra, &rb, sizeof(ra)) && a->rip == b->rip &&
	       !memcmp(a->fxsave, b->fxsave, 512);
}

/* A state the guest could have made: flags only its own, FPU plausible. */
static void make_state(struct vcpu_state *s, uint64_t rip)
{
	uint64_t *gpr = &s->regs.rax;
	uint32_t mxcsr = 0x1f80 | 0x3f; /* all exception flags raised */
	uint16_t fcw = 0x27f;		/* double precision */

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 16; i++)
		gpr[i] =
		    0x1111111111111111ull * (i + 1) ^ 0x8000000000000001ull;
	s->regs.rsp = STACK_TOP - 8;
	s->regs.rflags = 0x202 | 0x8d5; /* IF and CF PF ZF SF OF */
	s->rip = rip;
	memcpy(s->fxsave + 0, &fcw, 2);
	s->fxsave[4] = 0x81; /* ST0 and ST7 valid (abridged tag) */
	memcpy(s->fxsave + 24, &mxcsr, 4);
	for (int i = 0; i < 10; i++)
		s->fxsave[32 + i] = 0x10 + i; /* ST0 */
	for (int i = 0; i < 256; i++)
		s->fxsave[160 + i] = (uint8_t)(i * 7 + 3); /* XMM0-15 */
}

static void state_round_trip(const char *name)
{
	const struct vcpu_backend *be = backend(name);
	struct vcpu_state want, got;
	struct vcpu_exit e;
	struct domain *d;

	if (!be)
		return; /* no /dev/kvm here */
	d = domain_new(be, 4 * MIB, NULL, NULL, code_hypercall,
		       sizeof(code_hypercall));
	CU_ASSERT_FATAL(d != NULL);
	make_state(&want, CODE_GPA);
	CU_ASSERT_EQUAL(be->set_state(d, &want), 0);
	CU_ASSERT_EQUAL(be->get_state(d, &got), 0);
	CU_ASSERT(state_equal(&want, &got));
	/*
	 * The guest resumes with exactly that: at its hypercall, only the
	 * call's rsp and the stub's rax differ; once completed, get_state
	 * has the result and rip past the doorbell write.
	 */
	CU_ASSERT_EQUAL(run_exit(d, &e), 0);
	CU_ASSERT_EQUAL(e.kind, VCPU_EXIT_HYPERCALL);
	CU_ASSERT_EQUAL(e.hc.nr, 0);
	be->complete_hypercall(d, 0x1234);
	CU_ASSERT_EQUAL(be->get_state(d, &got), 0);
	CU_ASSERT_EQUAL(got.rip, e.rip + PVFT_STUB_DOORBELL_LEN);
	CU_ASSERT_EQUAL(got.regs.rax, 0x1234);
	CU_ASSERT_EQUAL(got.regs.rsp, want.regs.rsp - 8);
	got.rip = want.rip;
	got.regs.rax = want.regs.rax;
	got.regs.rsp = want.regs.rsp;
	CU_ASSERT(state_equal(&want, &got));
	/* Not the backend's flags (TF would single-step it), nor bad MXCSR. */
	make_state(&want, CODE_GPA);
	want.regs.rflags |= 0x100;
	CU_ASSERT_EQUAL(be->set_state(d, &want), 0);
	CU_ASSERT_EQUAL(be->get_state(d, &got), 0);
	CU_ASSERT_EQUAL(got.regs.rflags & 0x100, 0);
	want.fxsave[26] = 1; /* MXCSR bit 16: reserved */
	CU_ASSERT_EQUAL(be->set_state(d, &want), -EINVAL);
	domain_free(d);
}

static void test_state_round_trip_ptrace(void)
{
	state_round_trip("ptrace");
}

static void test_state_round_trip_kvm(void)
{
	state_round_trip("kvm");
}

/* One exit of @d: a hypercall, handled and completed. */
static bool step(struct domain *d)
{
	struct vcpu_exit e;

	if (run_exit(d, &e) || e.kind != VCPU_EXIT_HYPERCALL)
		return false;
	d->last_rip = e.rip;
	d->backend->complete_hypercall(d, hypercall__dispatch(d, &e.hc));
	return true;
}

/*
 * The compute guest runs a few exits on one domain; a second one takes
 * its memory and, through get_state and set_state, its vCPU: from there
 * both exit at the same points with the same registers, FPU and memory.
 * Only the first domain handles the hypercalls; the second gets their
 * results and the hv's writes to memory, as migration would send them.
 */
static void migrate_compute(const char *name)
{
	const struct vcpu_backend *be = backend(name);
	struct logfmt_digest_value va, vb;
	struct vcpu_state sa, sb;
	struct vcpu_exit ea, eb;
	struct domain *a, *b;
	char path[PATH_MAX];
	int same = 0;
	long ret;

	if (!be)
		return;
	if (guest_path("compute.elf", path, sizeof(path))) {
		CU_FAIL("build/guest/compute.elf is missing (make)");
		return;
	}
	a = domain_new(be, 8 * MIB, "compute.elf", "rounds=24", NULL, 0);
	b = domain_new(be, 8 * MIB, "compute.elf", "rounds=24", NULL, 0);
	CU_ASSERT_FATAL(a && b);
	for (int i = 0; i < 6; i++)
		CU_ASSERT_FATAL(step(a));
	CU_ASSERT_EQUAL_FATAL(be->get_state(a, &sa), 0);
	memcpy(b->mem, a->mem, a->mem_size);
	CU_ASSERT_EQUAL_FATAL(be->set_state(b, &sa), 0);
	CU_ASSERT_EQUAL(be->get_state(b, &sb), 0);
	CU_ASSERT(state_equal(&sa, &sb));
	while (!a->shut_down && same < 200) {
		CU_ASSERT_EQUAL_FATAL(run_exit(a, &ea), 0);
		CU_ASSERT_EQUAL_FATAL(run_exit(b, &eb), 0);
		CU_ASSERT_EQUAL_FATAL(ea.kind, VCPU_EXIT_HYPERCALL);
		CU_ASSERT_EQUAL_FATAL(eb.kind, ea.kind);
		CU_ASSERT_EQUAL_FATAL(eb.rip, ea.rip);
		CU_ASSERT_FATAL(!memcmp(&eb.hc, &ea.hc, sizeof(ea.hc)));
		a->last_rip = ea.rip;
		b->last_rip = eb.rip;
		/* Guest code alone ran since the last exit: all alike. */
		CU_ASSERT_EQUAL(digest__take(a, &va), 0);
		CU_ASSERT_EQUAL(digest__take(b, &vb), 0);
		CU_ASSERT_EQUAL_FATAL(va.mem, vb.mem);
		CU_ASSERT_EQUAL(be->get_state(a, &sa), 0);
		CU_ASSERT_EQUAL(be->get_state(b, &sb), 0);
		CU_ASSERT_FATAL(state_equal(&sa, &sb));
		ret = hypercall__dispatch(a, &ea.hc);
		a->backend->complete_hypercall(a, ret);
		b->backend->complete_hypercall(b, ret);
		memcpy(b->mem, a->mem, a->mem_size);
		same++;
	}
	CU_ASSERT(same > 3);
	domain_free(a);
	domain_free(b);
}

static void test_migrate_compute_ptrace(void)
{
	migrate_compute("ptrace");
}

static void test_migrate_compute_kvm(void)
{
	migrate_compute("kvm");
}

static bool bit(const uint64_t *bm, uint64_t page)
{
	return bm[page / 64] >> (page % 64) & 1;
}

/*
 * Guest writes to chosen pages are reported, other guest pages are not
 * (pages below 1 MiB are the KVM layout's: the CPU's own A/D-bit writes
 * land there), the next fetch starts afresh, and stop and start again
 * work.
 */
static void dirty_pages(const char *name)
{
	const struct vcpu_backend *be = backend(name);
	const uint64_t mem = 16 * MIB, pages = mem / PAGE;
	uint64_t bm[(16 * MIB / PAGE + 63) / 64];
	struct domain *d;
	int rc;

	if (!be)
		return;
	d = domain_new(be, mem, NULL, NULL, code_writes, sizeof(code_writes));
	CU_ASSERT_FATAL(d != NULL);
	/* Untracked: runs as before. */
	CU_ASSERT_EQUAL(run_code(d, DATA_GPA, 4, PAGE, 1), 0);
	rc = be->dirty_start(d);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(be->dirty_start(d), -EBUSY);
	/* Pages 0x200..0x20f every other one, 0x800, shared_info. */
	CU_ASSERT_EQUAL(run_code(d, DATA_GPA + 8, 8, 2 * PAGE, 2), 0);
	CU_ASSERT_EQUAL(run_code(d, 8 * MIB + 100, 1, 0, 3), 0);
	CU_ASSERT_EQUAL(run_code(d, PVFT_SHARED_INFO_GPA + 64, 1, 0, 4), 0);
	memset(bm, 0, sizeof(bm));
	CU_ASSERT_EQUAL(be->dirty_fetch(d, bm), 0);
	for (uint64_t pg = 0; pg < pages; pg++) {
		bool want = (pg >= 0x200 && pg < 0x210 && !(pg & 1)) ||
			    pg == 0x800 || pg == PVFT_SHARED_INFO_GPA / PAGE;

		if (pg < PVFT_GUEST_MIN_ADDR / PAGE && !want)
			continue;
		if (bit(bm, pg) != want)
			CU_FAIL("dirty bit wrong");
	}
	CU_ASSERT(d->mem[8 * MIB + 100] == 3);
	/* Nothing written since: nothing in guest pages. */
	memset(bm, 0, sizeof(bm));
	CU_ASSERT_EQUAL(be->dirty_fetch(d, bm), 0);
	for (uint64_t pg = PVFT_GUEST_MIN_ADDR / PAGE; pg < pages; pg++)
		if (bit(bm, pg))
			CU_FAIL("a page nobody wrote is dirty");
	/* A page written before is protected again. */
	CU_ASSERT_EQUAL(run_code(d, DATA_GPA, 1, 0, 5), 0);
	memset(bm, 0, sizeof(bm));
	CU_ASSERT_EQUAL(be->dirty_fetch(d, bm), 0);
	CU_ASSERT(bit(bm, 0x200));
	CU_ASSERT(!bit(bm, 0x202));
	/* The fetch ORs: what the caller had stays. */
	bm[0] |= 1;
	CU_ASSERT_EQUAL(be->dirty_fetch(d, bm), 0);
	CU_ASSERT(bm[0] & 1);
	be->dirty_stop(d);
	CU_ASSERT_EQUAL(run_code(d, DATA_GPA, 16, PAGE, 6), 0);
	CU_ASSERT_EQUAL(be->dirty_start(d), 0);
	CU_ASSERT_EQUAL(run_code(d, 12 * MIB, 1, 0, 7), 0);
	memset(bm, 0, sizeof(bm));
	CU_ASSERT_EQUAL(be->dirty_fetch(d, bm), 0);
	CU_ASSERT(bit(bm, 12 * MIB / PAGE));
	CU_ASSERT(!bit(bm, 0x200));
	be->dirty_stop(d);
	domain_free(d);
}

static void test_dirty_pages_ptrace(void)
{
	dirty_pages("ptrace");
}

static void test_dirty_pages_kvm(void)
{
	dirty_pages("kvm");
}

/*
 * Live migration's loop against a running guest: another thread fetches
 * and copies the reported pages into a shadow while the guest writes;
 * once the guest stopped, a last fetch and copy must leave the shadow
 * equal to guest memory (a page written during a fetch is never lost).
 */
struct copier {
	struct domain *d;
	uint8_t *shadow;
	uint64_t *bm;
	size_t words;
	int stop, rc, fetches;
	uint64_t runs; /* the guest's runs so far (the copier's pace) */
};

static int fetch_copy(struct copier *c)
{
	int rc;

	memset(c->bm, 0, c->words * 8);
	rc = c->d->backend->dirty_fetch(c->d, c->bm);
	if (rc)
		return rc;
	/* After the fetch: the content is at least as new as the bit. */
	for (uint64_t pg = 0; pg < c->words * 64; pg++)
		if (bit(c->bm, pg))
			memcpy(c->shadow + pg * PAGE, c->d->mem + pg * PAGE,
			       PAGE);
	c->fetches++;
	return 0;
}

static void *copier_main(void *opaque)
{
	struct copier *c = opaque;

	uint64_t seen = UINT64_MAX, now;

	/*
	 * At most one fetch a guest run, by progress, not by time: a fetch
	 * write-protects every page again, and a copier fetching back to
	 * back could re-protect the page a faulting guest write was just
	 * let through for before the guest redid it, run after run (a
	 * livelock seen once under load, and no migration's pace: it
	 * fetches once a round). Each fetch still races a run's writes.
	 */
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE) && !c->rc) {
		now = __atomic_load_n(&c->runs, __ATOMIC_ACQUIRE);
		if (now == seen) {
			sched_yield();
			continue;
		}
		seen = now;
		c->rc = fetch_copy(c);
	}
	return NULL;
}

static void dirty_race(const char *name)
{
	const struct vcpu_backend *be = backend(name);
	const uint64_t mem = 16 * MIB;
	struct copier c = { .words = (mem / PAGE + 63) / 64 };
	pthread_t t;
	struct domain *d;
	uint64_t x = 88172645463325252ull;

	if (!be)
		return;
	d = domain_new(be, mem, NULL, NULL, code_writes, sizeof(code_writes));
	CU_ASSERT_FATAL(d != NULL);
	c.d = d;
	c.shadow = malloc(mem);
	c.bm = calloc(c.words, 8);
	CU_ASSERT_FATAL(c.shadow && c.bm);
	CU_ASSERT_EQUAL_FATAL(be->dirty_start(d), 0);
	/* The first round sends everything, after tracking started. */
	memcpy(c.shadow, d->mem, mem);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, copier_main, &c), 0);
	for (int i = 0; i < 400; i++) {
		uint64_t pg, n, stride;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pg = DATA_GPA / PAGE + x % ((mem - DATA_GPA) / PAGE);
		stride = (x >> 20) % 3 + 1;
		n = (x >> 30) % 64 + 1;
		if (pg + n * stride >= mem / PAGE)
			n = (mem / PAGE - pg - 1) / stride;
		if (!n)
			continue;
		CU_ASSERT_EQUAL_FATAL(run_code(d, pg * PAGE + (x >> 40) % 4088,
					       n, stride * PAGE, x),
				      0);
		__atomic_add_fetch(&c.runs, 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(c.rc, 0);
	CU_ASSERT_EQUAL(fetch_copy(&c), 0);
	CU_ASSERT(c.fetches > 2);
	CU_ASSERT(!memcmp(c.shadow + PVFT_GUEST_MIN_ADDR,
			  d->mem + PVFT_GUEST_MIN_ADDR,
			  mem - PVFT_GUEST_MIN_ADDR));
	be->dirty_stop(d);
	domain_free(d);
	free(c.shadow);
	free(c.bm);
}

static void test_dirty_race_ptrace(void)
{
	dirty_race("ptrace");
}

static void test_dirty_race_kvm(void)
{
	dirty_race("kvm");
}

void test_backend__register(void)
{
	CU_pSuite s = CU_add_suite("backends", NULL, NULL);

	CU_add_test(s, "ptrace: set_state, get_state round trip",
		    test_state_round_trip_ptrace);
	CU_add_test(s, "ptrace: a second domain resumes the first's state",
		    test_migrate_compute_ptrace);
	CU_add_test(s, "ptrace: dirty pages: written set, untouched not",
		    test_dirty_pages_ptrace);
	CU_add_test(s, "ptrace: dirty pages: fetches racing the guest",
		    test_dirty_race_ptrace);
	CU_add_test(s, "kvm (if /dev/kvm): set_state, get_state round trip",
		    test_state_round_trip_kvm);
	CU_add_test(s, "kvm (if /dev/kvm): a second domain resumes the first's",
		    test_migrate_compute_kvm);
	CU_add_test(s, "kvm (if /dev/kvm): dirty pages: written set, untouched",
		    test_dirty_pages_kvm);
	CU_add_test(s,
		    "kvm (if /dev/kvm): dirty pages: fetches racing the "
		    "guest",
		    test_dirty_race_kvm);
}
