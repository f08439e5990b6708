// SPDX-License-Identifier: MIT
/*
 * The record/replay gate (hv/gate.c) without a guest: a fake backend runs a
 * script of exits through vcpu__run_loop(), so the hypercalls, the timer,
 * event delivery, the state digests and the log file are the production
 * ones. A test records a script on the fixture's domain, then replays the
 * same or a changed script on a fresh domain, set up as hv/main.c does for
 * --record and --replay, and checks how the replay ends and what it said.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "fixture.h"
#include "gate-file.h"
#include "logfile.h"
#include "unit.h"
#include "vcpu.h"

#define MAX_STEPS 12
#define CODE_GPA 0x101000ull /* the scripted exits' rips */
#define STACK_GPA 0x300000ull
#define SHUTDOWN_GPA FIXTURE_BUF_GPA		    /* exit code EXIT_CODE */
#define SHUTDOWN_OTHER_GPA (FIXTURE_BUF_GPA + 0x40) /* exit code OTHER_CODE */
#define BIND_GPA (FIXTURE_BUF_GPA + 0x80)	    /* VIRQ_TIMER */
#define MSG_GPA (FIXTURE_BUF_GPA + 0xc0)
#define RANDOM_GPA (FIXTURE_BUF_GPA + 0x1000)
#define SCRATCH_GPA (FIXTURE_BUF_GPA + 0x2000) /* the guest's own data */
#define RANDOM_LEN 32
#define EXIT_CODE 3
#define OTHER_CODE 4
#define MSG "hello from the script\n"
/* When the script's timer is due, from when the script is made. */
#define TIMER_NOW 0ull			 /* at the set_timer_op exit */
#define TIMER_IN_BLOCK (50 * 1000000ull) /* after the guest blocks */
#define TIMER_NEVER (60 * NS_PER_S)	 /* not while a test runs */

/* The base script's exits, in order: step i is exit ordinal i + 1. */
enum {
	S_BIND_TIMER,
	S_TIME_MONO,
	S_RANDOM,
	S_TIME_WALL,
	S_WRITE,
	S_SET_TIMER,
	S_BLOCK, /* the timer ends it, unless it fired already */
	S_VERSION,
	S_SHUTDOWN,
	S_NR,
};
#define ORDINAL(step) ((uint64_t)(step) + 1)

/*
 * One run() of the script: how long the guest computes, a byte it writes
 * and a stop signal that arrives while it runs, then the exit it makes.
 */
struct step {
	uint64_t compute_ns; /* its clock moves on, nobody sleeps */
	uint64_t poke_gpa;   /* 0: none */
	int stop_signal;
	struct vcpu_exit exit;
};

static struct fake {
	const struct step *script;
	size_t len, runs;
	bool pending_at_run[MAX_STEPS + 1]; /* upcall pending, per run() */
	uint64_t stall_limit_at_run[MAX_STEPS + 1];
	uint64_t completed[MAX_STEPS];
	size_t n_completed;
} fake;

/* How a record or replay went, and what it gave the guest. */
struct outcome {
	int status; /* gate__init's, gate__boot's or gate__finish's */
	uint64_t exits, records, digests_checked;
	size_t runs;
	bool pending_at_run[MAX_STEPS + 1];
	uint64_t stall_limit_at_run[MAX_STEPS + 1];
	uint64_t completed[MAX_STEPS];
	size_t n_completed;
	uint8_t random[RANDOM_LEN];
	char err[2048]; /* replay: the error lines it logged */
};

static struct outcome recorded, replayed;
static char dir[64], log_path[96], err_path[96];
/* The domain whose gate is initialised, for tearDown after a failure. */
static struct domain *gated;
static int real_stderr = -1;

static int fake_run(struct domain *d, struct vcpu_exit *exit)
{
	size_t i = fake.runs++;
	const struct step *s;

	if (i <= MAX_STEPS)
		fake.pending_at_run[i] = evtchn__upcall_pending(&d->evtchn);
	if (i <= MAX_STEPS)
		fake.stall_limit_at_run[i] = d->gate.stall_limit_s;
	if (i >= fake.len) {
		/* The gate let the guest run on past the script's end. */
		CU_FAIL("run() called after the last scripted exit");
		return -EIO;
	}
	s = &fake.script[i];
	d->sched.boot_ns -= s->compute_ns;
	if (s->poke_gpa)
		d->mem[s->poke_gpa] ^= 0x5a;
	if (s->stop_signal)
		__atomic_store_n(&d->sched.stop_signal, s->stop_signal,
				 __ATOMIC_SEQ_CST);
	*exit = s->exit;
	return 0;
}

/* What the latest exit's hypercall left in the registers. */
static void fake_get_regs(struct domain *d, struct vcpu_regs *r)
{
	const struct vcpu_exit *e;

	(void)d;
	memset(r, 0, sizeof(*r));
	if (!fake.runs || fake.runs > fake.len)
		return;
	e = &fake.script[fake.runs - 1].exit;
	r->rax = e->hc.nr;
	r->rdi = e->hc.arg[0];
	r->rsi = e->hc.arg[1];
	r->rdx = e->hc.arg[2];
	r->rsp = STACK_GPA;
	r->rflags = 0x202;
}

/* A fresh FPU that the script never touches. */
static int fake_get_fpu(struct domain *d, struct vcpu_fpu *f)
{
	(void)d;
	memset(f, 0, sizeof(*f));
	f->fcw = 0x37f;
	f->mxcsr = 0x1f80;
	return 0;
}

static void fake_complete_hypercall(struct domain *d, uint64_t ret)
{
	(void)d;
	if (fake.n_completed < MAX_STEPS)
		fake.completed[fake.n_completed++] = ret;
}

static int fake_enter_handler(struct domain *d, uint64_t rip, uint64_t rsp,
			      const uint64_t arg[5])
{
	(void)d;
	(void)rip;
	(void)rsp;
	(void)arg;
	CU_FAIL("no script faults");
	return -EIO;
}

static const struct vcpu_backend fake_backend = {
	.name = "fake",
	.host_cpuid = false,
	.run = fake_run,
	.get_regs = fake_get_regs,
	.get_fpu = fake_get_fpu,
	.complete_hypercall = fake_complete_hypercall,
	.enter_handler = fake_enter_handler,
};

#define HC(n, a0, a1, a2)                                                \
	{                                                                \
		.exit = {                                                \
			.kind = VCPU_EXIT_HYPERCALL,                     \
			.hc = { .nr = (n), .arg = { (a0), (a1), (a2) } } \
		}                                                        \
	}

/*
 * Bind the timer; take both clocks, random bytes; write to the console;
 * arm the timer @timer_ns from now and block; shut down with EXIT_CODE.
 * Each exit at its own rip, as each hypercall is at its own call site.
 */
static void base_script(struct step s[S_NR], uint64_t timer_ns)
{
	uint64_t deadline = sched__now(fixture__domain()) + timer_ns;
	const struct step base[S_NR] = {
		[S_BIND_TIMER] = HC(__HYPERVISOR_event_channel_op,
				    EVTCHNOP_bind_virq, BIND_GPA, 0),
		[S_TIME_MONO] = HC(__HYPERVISOR_pvft_op, PVFTOP_time,
				   PVFT_CLOCK_MONOTONIC, 0),
		[S_RANDOM] = HC(__HYPERVISOR_pvft_op, PVFTOP_random, RANDOM_GPA,
				RANDOM_LEN),
		[S_TIME_WALL] =
		    HC(__HYPERVISOR_pvft_op, PVFTOP_time, PVFT_CLOCK_WALL, 0),
		[S_WRITE] = HC(__HYPERVISOR_console_io, CONSOLEIO_write,
			       strlen(MSG), MSG_GPA),
		[S_SET_TIMER] = HC(__HYPERVISOR_set_timer_op, deadline, 0, 0),
		[S_BLOCK] = HC(__HYPERVISOR_sched_op, SCHEDOP_block, 0, 0),
		[S_VERSION] =
		    HC(__HYPERVISOR_xen_version, XENVER_version, 0, 0),
		[S_SHUTDOWN] = HC(__HYPERVISOR_sched_op, SCHEDOP_shutdown,
				  SHUTDOWN_GPA, 0),
	};

	memcpy(s, base, sizeof(base));
	for (int i = 0; i < S_NR; i++)
		s[i].exit.rip = CODE_GPA + 0x10 * i;
}

/* What the script's hypercalls read, and the image the gate checks. */
static void prepare_guest(struct domain *d)
{
	struct sched_shutdown sd = { .reason = PVFT_SHUTDOWN_EXIT(EXIT_CODE) };
	struct sched_shutdown other = { .reason =
					    PVFT_SHUTDOWN_EXIT(OTHER_CODE) };
	struct evtchn_bind_virq bv = { .virq = VIRQ_TIMER };

	memcpy(d->mem + SHUTDOWN_GPA, &sd, sizeof(sd));
	memcpy(d->mem + SHUTDOWN_OTHER_GPA, &other, sizeof(other));
	memcpy(d->mem + BIND_GPA, &bv, sizeof(bv));
	memcpy(d->mem + MSG_GPA, MSG, strlen(MSG));
	memset(d->image_hash, 0xa5, sizeof(d->image_hash));
	d->backend = &fake_backend;
}

/*
 * lib/log.c writes to stderr: the replay's error lines go to a file in the
 * test's directory, sanitizer reports still to the real stderr.
 */
void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

static void capture_start(void)
{
	int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CU_ASSERT_FATAL(fd >= 0);
	fflush(stderr);
	real_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (real_stderr < 0)
		close(fd);
	CU_ASSERT_FATAL(real_stderr >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	if (__sanitizer_set_report_fd)
		__sanitizer_set_report_fd((void *)(intptr_t)real_stderr);
}

static void capture_stop(char *buf, size_t cap)
{
	ssize_t n = -1;
	int fd;

	if (real_stderr < 0)
		return;
	fflush(stderr);
	dup2(real_stderr, STDERR_FILENO);
	if (__sanitizer_set_report_fd)
		__sanitizer_set_report_fd((void *)(intptr_t)STDERR_FILENO);
	close(real_stderr);
	real_stderr = -1;
	fd = open(err_path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, cap - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
}

/* vcpu__run_loop() on @script, then gate__finish(); disposes the gate. */
static int run(struct domain *d, const struct step *script, size_t len,
	       struct outcome *o)
{
	CU_ASSERT_FATAL(len <= MAX_STEPS);
	memset(&fake, 0, sizeof(fake));
	fake.script = script;
	fake.len = len;
	vcpu__run_loop(d);
	o->status = gate__finish(d);
	o->exits = d->exits;
	o->records = d->gate.records;
	o->digests_checked = d->gate.digests_checked;
	o->runs = fake.runs;
	memcpy(o->pending_at_run, fake.pending_at_run,
	       sizeof(o->pending_at_run));
	memcpy(o->stall_limit_at_run, fake.stall_limit_at_run,
	       sizeof(o->stall_limit_at_run));
	memcpy(o->completed, fake.completed, sizeof(o->completed));
	o->n_completed = fake.n_completed;
	memcpy(o->random, d->mem + RANDOM_GPA, RANDOM_LEN);
	return o->status;
}

static struct gate_file log_file;

static void dispose_gate(void)
{
	if (gated)
		gate__dispose(&gated->gate);
	gate_file__dispose(&log_file);
	gated = NULL;
}

/*
 * Record @script on the fixture's domain to the test's log, a digest every
 * @digest_exits exits (0: none); the exit status.
 */
static int record(const struct step *script, size_t len, uint64_t digest_exits)
{
	struct domain *d = fixture__domain();
	char cmdline[MAX_GUEST_CMDLINE];
	uint64_t mem_size;

	prepare_guest(d);
	gated = d;
	gate_file__init(&log_file, log_path, 0);
	CU_ASSERT_EQUAL_FATAL(gate__init(d, GATE_RECORD, &gate_file_sink,
					 &log_file, NULL, NULL, &mem_size,
					 cmdline),
			      0);
	d->gate.digest_exits = digest_exits;
	d->gate.digest_ns = 0; /* by exit count only: the same every run */
	CU_ASSERT_EQUAL_FATAL(gate__boot(d), 0);
	run(d, script, len, &recorded);
	dispose_gate();
	return recorded.status;
}

/* How the replaying host differs from the recording one. */
enum replay_host {
	SAME_HOST,
	OTHER_IMAGE,
	OTHER_MEM_SIZE,
};

/*
 * Replay the test's log on a fresh fixture domain running @script; the
 * exit status. replayed.err gets what it logged.
 */
static int replay(const struct step *script, size_t len, enum replay_host host)
{
	char cmdline[MAX_GUEST_CMDLINE] = "";
	uint64_t mem_size = 0;
	struct domain *d;
	int rc;

	memset(&replayed, 0, sizeof(replayed));
	fixture__teardown();
	fixture__setup();
	d = fixture__domain();
	prepare_guest(d);
	gated = d;
	capture_start();
	gate_file__init(&log_file, log_path, 0);
	rc = gate__init(d, GATE_REPLAY, NULL, NULL, &gate_file_source,
			&log_file, &mem_size, cmdline);
	if (!rc) {
		CU_ASSERT_EQUAL(mem_size, d->mem_size);
		CU_ASSERT_STRING_EQUAL(cmdline, d->cmdline);
		if (host == OTHER_IMAGE)
			d->image_hash[0] ^= 1;
		if (host == OTHER_MEM_SIZE)
			d->mem_size -= 2ull << 20;
		rc = gate__boot(d);
		/* Before anything maps, unmaps or hashes by it. */
		d->mem_size = FIXTURE_MEM_SIZE;
	}
	rc = hv_exit_status(rc);
	if (!rc)
		rc = run(d, script, len, &replayed);
	replayed.status = rc;
	dispose_gate();
	capture_stop(replayed.err, sizeof(replayed.err));
	return rc;
}

#define REPLAY(script, host) \
	replay((script), sizeof(script) / sizeof((script)[0]), (host))

static bool logged(const char *what)
{
	return strstr(replayed.err, what) != NULL;
}

/* The replay stopped at @ordinal, naming the log's @type record there. */
static void check_diverged(uint64_t ordinal, const char *type)
{
	char where[64];

	snprintf(where, sizeof(where), "(%s, exit ordinal %llu)", type,
		 (unsigned long long)ordinal);
	CU_ASSERT_EQUAL(replayed.status, HV_EXIT_DIVERGED);
	CU_ASSERT_EQUAL(replayed.exits, ordinal);
	CU_ASSERT_TRUE(logged("replay diverged at record #"));
	CU_ASSERT_TRUE(logged(where));
}

static void gate_setup(void)
{
	fixture__setup();
	memset(&recorded, 0, sizeof(recorded));
	memset(&replayed, 0, sizeof(replayed));
	snprintf(dir, sizeof(dir), "/tmp/pvft-test-gate-XXXXXX");
	log_path[0] = err_path[0] = '\0'; /* "": every use fails the test */
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return;
	}
	snprintf(log_path, sizeof(log_path), "%s/run.pvftlog", dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", dir);
}

static void gate_teardown(void)
{
	char ignored[1];

	capture_stop(ignored, sizeof(ignored));
	dispose_gate();
	if (dir[0]) {
		unlink(log_path);
		unlink(err_path);
		rmdir(dir);
	}
	fixture__teardown();
}

/* ---- the tests ----------------------------------------------------------- */

static void test_round_trip(void)
{
	static const uint8_t zero[RANDOM_LEN];
	struct step s[S_NR];

	base_script(s, TIMER_IN_BLOCK);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 1), EXIT_CODE);
	/* The timer fired in the block. */
	CU_ASSERT_FALSE(recorded.pending_at_run[S_BLOCK]);
	CU_ASSERT_TRUE(recorded.pending_at_run[S_BLOCK + 1]);
	/* BOOT, a DIGEST per exit, 2 TIME, RANDOM, TIMER, END. */
	CU_ASSERT_EQUAL(recorded.records, S_NR + 6);
	CU_ASSERT(recorded.completed[S_TIME_MONO] >= NS_PER_S);
	CU_ASSERT_NOT_EQUAL(memcmp(recorded.random, zero, RANDOM_LEN), 0);

	CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), EXIT_CODE);
	CU_ASSERT_STRING_EQUAL(replayed.err, "");
	CU_ASSERT_EQUAL(replayed.records, recorded.records);
	CU_ASSERT_EQUAL(replayed.digests_checked, S_NR);
	CU_ASSERT_EQUAL(replayed.exits, S_NR);
	/* The guest got the recorded values: results, bytes, the wake-up. */
	CU_ASSERT_EQUAL(replayed.n_completed, S_NR);
	CU_ASSERT_EQUAL(replayed.completed[S_TIME_MONO],
			recorded.completed[S_TIME_MONO]);
	CU_ASSERT_EQUAL(replayed.completed[S_TIME_WALL],
			recorded.completed[S_TIME_WALL]);
	CU_ASSERT_EQUAL(memcmp(replayed.completed, recorded.completed,
			       sizeof(recorded.completed)),
			0);
	CU_ASSERT_EQUAL(memcmp(replayed.random, recorded.random, RANDOM_LEN),
			0);
	CU_ASSERT_EQUAL(memcmp(replayed.pending_at_run, recorded.pending_at_run,
			       sizeof(recorded.pending_at_run)),
			0);
}

/* At the exit where the log has TIME, the guest makes another hypercall. */
static void test_other_hypercall(void)
{
	struct step s[S_NR], p[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 0), EXIT_CODE);
	memcpy(p, s, sizeof(s));
	p[S_TIME_MONO].exit.hc = (struct hypercall){
		.nr = __HYPERVISOR_xen_version,
		.arg = { XENVER_version },
	};
	REPLAY(p, SAME_HOST);
	check_diverged(ORDINAL(S_TIME_MONO), "TIME");
	CU_ASSERT_TRUE(logged("without taking it"));
	CU_ASSERT_EQUAL(replayed.runs, ORDINAL(S_TIME_MONO));
}

static void test_other_rip(void)
{
	struct step s[S_NR], p[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 0), EXIT_CODE);
	memcpy(p, s, sizeof(s));
	p[S_TIME_MONO].exit.rip += 2;
	REPLAY(p, SAME_HOST);
	check_diverged(ORDINAL(S_TIME_MONO), "TIME");
	CU_ASSERT_TRUE(logged("the log has it at rip 0x101010 in hypercall "
			      "pvft_op, the replay is at rip 0x101012"));
}

/* The guest skips the time call: its next request meets the TIME record. */
static void test_skipped_time(void)
{
	struct step s[S_NR], p[S_NR - 1];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 0), EXIT_CODE);
	memcpy(p, s, sizeof(s[0]) * S_TIME_MONO);
	memcpy(p + S_TIME_MONO, s + S_TIME_MONO + 1,
	       sizeof(s[0]) * (S_NR - S_TIME_MONO - 1));
	REPLAY(p, SAME_HOST);
	check_diverged(ORDINAL(S_TIME_MONO), "TIME");
	CU_ASSERT_TRUE(logged("the guest asked for RANDOM at exit ordinal 2"));
}

/* The guest's memory differs from the recorded run's at a digest. */
static void test_memory_changed(void)
{
	struct step s[S_NR], p[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 1), EXIT_CODE);
	memcpy(p, s, sizeof(s));
	p[S_VERSION].poke_gpa = SCRATCH_GPA;
	REPLAY(p, SAME_HOST);
	check_diverged(ORDINAL(S_VERSION), "DIGEST");
	CU_ASSERT_TRUE(logged("memory hash: log"));
	CU_ASSERT_FALSE(logged("register hash"));
	CU_ASSERT_EQUAL(replayed.digests_checked, S_VERSION);
}

static void test_other_random_len(void)
{
	struct step s[S_NR], p[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 0), EXIT_CODE);
	memcpy(p, s, sizeof(s));
	p[S_RANDOM].exit.hc.arg[2] = RANDOM_LEN / 2;
	REPLAY(p, SAME_HOST);
	check_diverged(ORDINAL(S_RANDOM), "RANDOM");
	CU_ASSERT_TRUE(logged("the log has 32 random bytes, the guest asked "
			      "for 16"));
}

/* The replay ends where the log does, but with another exit code. */
static void test_other_exit_code(void)
{
	struct step s[S_NR], p[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 0), EXIT_CODE);
	memcpy(p, s, sizeof(s));
	p[S_SHUTDOWN].exit.hc.arg[1] = SHUTDOWN_OTHER_GPA;
	REPLAY(p, SAME_HOST);
	check_diverged(ORDINAL(S_SHUTDOWN), "END");
	CU_ASSERT_TRUE(logged("the log ends with exit status 3 (shutdown), "
			      "the replay with 4"));
}

/* Where the recorded guest shut down, this one goes on. */
static void test_runs_past_end(void)
{
	struct step s[S_NR], p[S_NR + 1];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 0), EXIT_CODE);
	memcpy(p, s, sizeof(s));
	p[S_NR] = p[S_SHUTDOWN];
	p[S_SHUTDOWN] = p[S_VERSION];
	REPLAY(p, SAME_HOST);
	check_diverged(ORDINAL(S_SHUTDOWN), "END");
	CU_ASSERT_TRUE(logged("without taking it"));
	CU_ASSERT_EQUAL(replayed.runs, ORDINAL(S_SHUTDOWN));
}

/*
 * The timer falls due while the guest computes before it shuts down. A
 * firing the replay never takes must not be logged (it was: the replay of
 * such a run diverged at its END).
 */
static void test_timer_due_at_shutdown(void)
{
	struct step s[S_NR];

	base_script(s, TIMER_IN_BLOCK);
	s[S_BLOCK].exit.hc = s[S_VERSION].exit.hc;
	s[S_SHUTDOWN].compute_ns = 2 * TIMER_IN_BLOCK;
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 1), EXIT_CODE);
	CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), EXIT_CODE);
	CU_ASSERT_STRING_EQUAL(replayed.err, "");
	CU_ASSERT_EQUAL(replayed.records, recorded.records);
}

static void test_other_image(void)
{
	struct step s[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 0), EXIT_CODE);
	CU_ASSERT_EQUAL(REPLAY(s, OTHER_IMAGE), HV_EXIT_LOG);
	CU_ASSERT_TRUE(logged("another guest image"));
	CU_ASSERT_EQUAL(replayed.runs, 0);
}

static void test_other_mem_size(void)
{
	struct step s[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 0), EXIT_CODE);
	CU_ASSERT_EQUAL(REPLAY(s, OTHER_MEM_SIZE), HV_EXIT_LOG);
	CU_ASSERT_TRUE(logged("recorded with 4 MiB of memory and PV ABI"));
	CU_ASSERT_EQUAL(replayed.runs, 0);
}

/*
 * A signal stopped the recorded run after @step's exit: the replay, whose
 * guest would go on, stops there too with the same status.
 */
static void check_stopped(int step, int sig, uint64_t timer_ns)
{
	struct step s[S_NR], p[S_NR];

	base_script(s, timer_ns);
	memcpy(p, s, sizeof(s));
	p[step].stop_signal = sig;
	CU_ASSERT_EQUAL_FATAL(record(p, S_NR, 1), 128 + sig);
	CU_ASSERT_EQUAL(recorded.exits, ORDINAL(step));

	CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), 128 + sig);
	CU_ASSERT_STRING_EQUAL(replayed.err, "");
	CU_ASSERT_EQUAL(replayed.runs, ORDINAL(step));
	CU_ASSERT_EQUAL(replayed.exits, ORDINAL(step));
	CU_ASSERT_EQUAL(replayed.records, recorded.records);
	CU_ASSERT_EQUAL(replayed.digests_checked, ORDINAL(step));
}

static void test_stopped(void)
{
	check_stopped(S_VERSION, SIGTERM, TIMER_NOW);
}

/* Stopped in the block, long before the timer could end it. */
static void test_stopped_in_block(void)
{
	check_stopped(S_BLOCK, SIGINT, TIMER_NEVER);
}

static void test_log_missing(void)
{
	struct step s[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), HV_EXIT_LOG);
	CU_ASSERT_TRUE(logged(log_path));
	CU_ASSERT_TRUE(logged("open: No such file or directory"));
	CU_ASSERT_EQUAL(replayed.runs, 0);
}

static void test_not_a_log(void)
{
	static const char text[] = "#!/bin/sh\necho this is no pvft log\n";
	struct step s[S_NR];
	char buf[256];
	FILE *f;

	base_script(s, TIMER_NOW);
	f = fopen(log_path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	/* Longer than a header, so that only the magic can refuse it. */
	for (int i = 0; i < 8; i++)
		fputs(text, f);
	CU_ASSERT_EQUAL_FATAL(fclose(f), 0);
	CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), HV_EXIT_LOG);
	snprintf(buf, sizeof(buf), "%s: not a pvft log", log_path);
	CU_ASSERT_TRUE(logged(buf));
	CU_ASSERT_EQUAL(replayed.runs, 0);
}

static off_t log_size(void)
{
	struct stat st;

	CU_ASSERT_EQUAL_FATAL(stat(log_path, &st), 0);
	return st.st_size;
}

/* Cut in the middle of a record: refused before the guest runs. */
static void test_truncated_log(void)
{
	struct step s[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 1), EXIT_CODE);
	CU_ASSERT_EQUAL_FATAL(truncate(log_path, log_size() / 2), 0);
	CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), HV_EXIT_LOG);
	CU_ASSERT_TRUE(logged("truncated"));
	/* Read through before anything runs: nothing does. */
	CU_ASSERT_EQUAL(replayed.runs, 0);
}

/*
 * Cut in the header, before each record and inside each record's head:
 * every time a clean refusal, however far the replay got.
 */
static void test_truncated_anywhere(void)
{
	struct logfile_reader r;
	struct logfmt_header h;
	struct logfmt_record rec;
	struct logfmt_error err;
	off_t cut[64];
	size_t n = 0;
	struct step s[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 1), EXIT_CODE);
	CU_ASSERT_EQUAL_FATAL(logfile__open(&r, log_path, &h, &err), 0);
	cut[n++] = 0;
	cut[n++] = LOGFMT_HEADER_SIZE / 2;
	while (n + 2 <= sizeof(cut) / sizeof(cut[0]) &&
	       logfile__next(&r, &rec, &err) == 1) {
		cut[n++] = logfile__offset(&r);
		cut[n++] = logfile__offset(&r) + LOGFMT_HEAD_SIZE + 4;
	}
	logfile__close_reader(&r);
	CU_ASSERT_EQUAL_FATAL(n, 2 + 2 * recorded.records);
	/* Shortest last: truncate(2) past the end would add zeros. */
	while (n--) {
		CU_ASSERT_EQUAL_FATAL(truncate(log_path, cut[n]), 0);
		CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), HV_EXIT_LOG);
	}
}

/*
 * The replayed guest stops making exits where the log goes on (the I/O
 * thread's watchdog asks for SCHED_STOP_STALLED): a divergence naming the
 * record that will never come.
 */
static void test_stalled(void)
{
	struct step s[S_NR], p[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 1), EXIT_CODE);
	memcpy(p, s, sizeof(s));
	p[S_VERSION].stop_signal = SCHED_STOP_STALLED;
	CU_ASSERT_EQUAL(REPLAY(p, SAME_HOST), HV_EXIT_DIVERGED);
	CU_ASSERT_TRUE(logged("the guest made no exit for"));
	CU_ASSERT_TRUE(logged("will never come"));
	CU_ASSERT_EQUAL(replayed.runs, ORDINAL(S_VERSION));
}

/* A NOTE (an optional record) in the log changes nothing at replay. */
static void test_note_skipped(void)
{
	static const char text[] = "recorded for a test";
	char noted[128];
	struct logfile_reader r;
	struct logfile_writer w;
	struct logfmt_header h;
	struct logfmt_record rec, note = { .type = LOGFMT_NOTE };
	struct logfmt_error err;
	struct step s[S_NR];

	base_script(s, TIMER_NOW);
	CU_ASSERT_EQUAL_FATAL(record(s, S_NR, 1), EXIT_CODE);
	snprintf(noted, sizeof(noted), "%s/noted.pvftlog", dir);
	CU_ASSERT_EQUAL_FATAL(logfile__open(&r, log_path, &h, &err), 0);
	CU_ASSERT_EQUAL_FATAL(logfile__create(&w, noted, &h, &err), 0);
	while (logfile__next(&r, &rec, &err) == 1) {
		CU_ASSERT_EQUAL_FATAL(logfile__append(&w, &rec, &err), 0);
		note.ordinal = rec.ordinal;
		note.u.note.len = strlen(text);
		note.u.note.text = text;
		if (rec.type != LOGFMT_END)
			CU_ASSERT_EQUAL_FATAL(logfile__append(&w, &note, &err),
					      0);
	}
	logfile__close_reader(&r);
	CU_ASSERT_EQUAL_FATAL(logfile__close(&w, &err), 0);
	CU_ASSERT_EQUAL_FATAL(rename(noted, log_path), 0);

	CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), EXIT_CODE);
	CU_ASSERT_STRING_EQUAL(replayed.err, "");
	CU_ASSERT_EQUAL(replayed.records, recorded.records);
}

/*
 * A guest that computed for 30 s of guest time between two exits when
 * recorded may take as long when replayed: the stall limit for that
 * stretch grows with it (10 s + twice the 30 s, rounded up), and is 10 s
 * (+2, the rounding) elsewhere.
 */
static void test_stall_limit_follows_the_log(void)
{
	struct step s[S_NR], p[S_NR];

	base_script(s, TIMER_NOW);
	memcpy(p, s, sizeof(s));
	p[S_VERSION].compute_ns = 30 * NS_PER_S;
	CU_ASSERT_EQUAL_FATAL(record(p, S_NR, 1), EXIT_CODE);
	/* The replay's guest is not slow: only the limit is looked at. */
	CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), EXIT_CODE);
	CU_ASSERT(replayed.stall_limit_at_run[S_WRITE] >= GATE_STALL_S);
	CU_ASSERT(replayed.stall_limit_at_run[S_WRITE] <= GATE_STALL_S + 2);
	CU_ASSERT(replayed.stall_limit_at_run[S_VERSION] >=
		  GATE_STALL_S + 2 * 30);
	CU_ASSERT(replayed.stall_limit_at_run[S_VERSION] <=
		  GATE_STALL_S + 2 * 32);
}

/*
 * A stopped run's END with a status no stop gives (0, as if the guest
 * had finished): the replay would exit 0 on the log's word, so the log
 * is refused before anything runs.
 */
static void test_end_implausible(void)
{
	char edited[128];
	struct logfile_reader r;
	struct logfile_writer w;
	struct logfmt_header h;
	struct logfmt_record rec;
	struct logfmt_error err;
	struct step s[S_NR], p[S_NR];

	base_script(s, TIMER_NOW);
	memcpy(p, s, sizeof(s));
	p[S_VERSION].stop_signal = SIGTERM;
	CU_ASSERT_EQUAL_FATAL(record(p, S_NR, 1), 128 + SIGTERM);
	snprintf(edited, sizeof(edited), "%s/edited.pvftlog", dir);
	CU_ASSERT_EQUAL_FATAL(logfile__open(&r, log_path, &h, &err), 0);
	CU_ASSERT_EQUAL_FATAL(logfile__create(&w, edited, &h, &err), 0);
	while (logfile__next(&r, &rec, &err) == 1) {
		if (rec.type == LOGFMT_END)
			rec.u.end.status = 0;
		CU_ASSERT_EQUAL_FATAL(logfile__append(&w, &rec, &err), 0);
	}
	logfile__close_reader(&r);
	CU_ASSERT_EQUAL_FATAL(logfile__close(&w, &err), 0);
	CU_ASSERT_EQUAL_FATAL(rename(edited, log_path), 0);

	CU_ASSERT_EQUAL(REPLAY(s, SAME_HOST), HV_EXIT_LOG);
	CU_ASSERT_TRUE(logged("which pvft-hv never gives for that"));
	CU_ASSERT_EQUAL(replayed.runs, 0);
}

/*
 * The sink is replaceable at an exit boundary (gate__set_sink): a sink of
 * the test's that counts what it is given leaves at one exit (as a primary
 * left alone stops logging) and is put back at a later one (as
 * re-protection will start a stream): nothing is logged in between, and
 * the guest runs on, live, throughout.
 */
static struct {
	unsigned int puts, closes;
	bool at_ordinal[MAX_STEPS + 2];
	uint64_t leave_at, back_at;
} cs;

static int cs_open(struct domain *d, void *priv, struct logfmt_header *h,
		   struct logfmt_record *boot)
{
	(void)d;
	(void)priv;
	(void)h;
	(void)boot;
	cs.puts++;
	return 0;
}

static int cs_put(struct domain *d, void *priv, struct logfmt_record *rec)
{
	(void)d;
	(void)priv;
	cs.puts++;
	if (rec->ordinal < MAX_STEPS + 2)
		cs.at_ordinal[rec->ordinal] = true;
	return 0;
}

static const struct gate_sink_ops counting_sink;

static void cs_before_run(struct domain *d, void *priv)
{
	(void)priv;
	if (d->exits == cs.leave_at)
		gate__set_sink(d, NULL, NULL);
}

static int cs_close(struct domain *d, void *priv,
		    const struct logfmt_record *end)
{
	(void)priv;
	(void)end;
	cs.closes++;
	return d->exit_status;
}

static const struct gate_sink_ops counting_sink = {
	.name = "counting",
	.open = cs_open,
	.put = cs_put,
	.before_run = cs_before_run,
	.close = cs_close,
};

/* The vCPU loop's exits, seen from the test: the way back in at back_at. */
static int switching_run(struct domain *d, struct vcpu_exit *exit)
{
	if (d->exits == cs.back_at && gate__mode(&d->gate) == GATE_NONE)
		gate__set_sink(d, &counting_sink, NULL);
	return fake_run(d, exit);
}

static void test_sink_switch(void)
{
	struct domain *d = fixture__domain();
	const struct vcpu_backend *real = d->backend;
	struct vcpu_backend be;
	char cmdline[MAX_GUEST_CMDLINE];
	uint64_t mem_size;
	struct step s[S_NR];

	base_script(s, TIMER_NOW);
	prepare_guest(d);
	gated = d;
	memset(&cs, 0, sizeof(cs));
	cs.leave_at = ORDINAL(S_RANDOM);
	cs.back_at = ORDINAL(S_SET_TIMER);
	be = *d->backend;
	be.run = switching_run;
	d->backend = &be;
	CU_ASSERT_EQUAL_FATAL(gate__init(d, GATE_RECORD, &counting_sink, NULL,
					 NULL, NULL, &mem_size, cmdline),
			      0);
	d->gate.digest_exits = 1;
	d->gate.digest_ns = 0;
	CU_ASSERT_EQUAL_FATAL(gate__boot(d), 0);
	CU_ASSERT_EQUAL(run(d, s, S_NR, &recorded), EXIT_CODE);
	d->backend = real;

	/* The guest ran every step, live, whatever the gate's sink. */
	CU_ASSERT_EQUAL(recorded.n_completed, S_NR);
	/* Logged up to where it left, from where it came back, to the end. */
	for (uint64_t o = 1; o <= S_NR; o++)
		CU_ASSERT_EQUAL(cs.at_ordinal[o],
				o <= cs.leave_at || o > cs.back_at);
	CU_ASSERT(cs.at_ordinal[ORDINAL(S_SHUTDOWN)]); /* END */
	CU_ASSERT_EQUAL(cs.closes, 1);
	CU_ASSERT_EQUAL(d->gate.mode, GATE_RECORD);
	dispose_gate();
}

static CU_TestInfo gate_tests[] = {
	{ "record and replay: the same values", test_round_trip },
	{ "the sink leaves and comes back at exit boundaries",
	  test_sink_switch },
	{ "replay: another hypercall at a TIME", test_other_hypercall },
	{ "replay: another rip at a TIME", test_other_rip },
	{ "replay: the TIME never taken", test_skipped_time },
	{ "replay: memory differs at a DIGEST", test_memory_changed },
	{ "replay: another random length", test_other_random_len },
	{ "replay: another exit code", test_other_exit_code },
	{ "replay: runs past the END", test_runs_past_end },
	{ "record: no timer after the shutdown", test_timer_due_at_shutdown },
	{ "replay: another guest image", test_other_image },
	{ "replay: another memory size", test_other_mem_size },
	{ "replay: stopped where the record was", test_stopped },
	{ "replay: stopped in a block", test_stopped_in_block },
	{ "replay: no log file", test_log_missing },
	{ "replay: not a log", test_not_a_log },
	{ "replay: log cut in half", test_truncated_log },
	{ "replay: log cut anywhere", test_truncated_anywhere },
	{ "replay: the guest stalls", test_stalled },
	{ "replay: the stall limit follows the log",
	  test_stall_limit_follows_the_log },
	{ "replay: a NOTE changes nothing", test_note_skipped },
	{ "replay: an END no stop gives", test_end_implausible },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo gate_suites[] = {
	{ "gate", NULL, NULL, gate_setup, gate_teardown, gate_tests },
	CU_SUITE_INFO_NULL,
};

void test_gate__register(void)
{
	CU_register_suites(gate_suites);
}
