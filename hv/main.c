// SPDX-License-Identifier: MIT
/*
 * pvft-hv: runs one domain replica. Parses options, builds the domain,
 * starts the I/O thread and runs the vCPU loop on the main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain.h"
#include "iothread.h"
#include "log.h"
#include "vcpu.h"

#define DEFAULT_MEMORY_MIB 64

static struct domain dom = { .mem_fd = -1 };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pvft-hv [OPTIONS] KERNEL.elf\n"
		"Run one paravirtual domain (a static ELF64 PV kernel).\n"
		"\n"
		"  -m, --memory MIB     guest memory in MiB, even, %d..%d "
		"(default %d)\n"
		"  -n, --name NAME      domain name for logs (default: the "
		"kernel's file name)\n"
		"  -c, --cmdline STR    guest command line (start_info)\n"
		"  -b, --backend WHICH  vCPU backend: auto, kvm or ptrace "
		"(default auto:\n"
		"                       kvm when /dev/kvm opens, else ptrace)\n"
		"  -v, --verbose        more log output (repeatable)\n"
		"  -q, --quiet          errors only\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: the guest's own exit code when it shuts down; "
		"2 bad usage or\n"
		"image; 3 host failure; 4 guest fault or dead domain; 5 guest "
		"crash;\n"
		"128+N stopped by signal N.\n",
		PVFT_MIN_MEMORY_MIB, PVFT_MAX_MEMORY_MIB, DEFAULT_MEMORY_MIB);
}

static int parse_memory(const char *s, uint64_t *mib_r)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	if (v < PVFT_MIN_MEMORY_MIB || v > PVFT_MAX_MEMORY_MIB || v % 2)
		return -ERANGE;
	*mib_r = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, 'n' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "backend", required_argument, NULL, 'b' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = NULL, *cmdline = "", *backend = "auto";
	enum log_level level = LOG_INFO;
	uint64_t mib = DEFAULT_MEMORY_MIB;
	sigset_t stop_signals;
	char *kernel, *base;
	int c, rc, status;

	log__init("pvft-hv", NULL, level);
	while ((c = getopt_long(argc, argv, "m:n:c:b:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_memory(optarg, &mib)) {
				pr_err("bad --memory '%s': want an even number "
				       "of MiB from %d to %d",
				       optarg, PVFT_MIN_MEMORY_MIB,
				       PVFT_MAX_MEMORY_MIB);
				return HV_EXIT_USAGE;
			}
			break;
		case 'n':
			name = optarg;
			break;
		case 'c':
			cmdline = optarg;
			break;
		case 'b':
			backend = optarg;
			break;
		case 'v':
			if (level < LOG_DEBUG)
				level++;
			break;
		case 'q':
			level = LOG_ERROR;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return HV_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		pr_err(optind == argc ? "no KERNEL.elf given"
				      : "more than one KERNEL.elf given");
		usage(stderr);
		return HV_EXIT_USAGE;
	}
	if (!vcpu__backend_known(backend)) {
		pr_err("bad --backend '%s': want auto, kvm or ptrace", backend);
		return HV_EXIT_USAGE;
	}
	kernel = argv[optind];
	base = strdup(kernel);
	if (!base)
		die("out of memory");
	if (!name) {
		char *dot;

		name = basename(base);
		dot = strrchr(name, '.');
		if (dot && dot != name)
			*dot = '\0';
	}
	dom.name = name;
	log__init("pvft-hv", name, level);

	rc = sched__init(&dom.sched);
	if (rc)
		die("eventfd: %s", strerror(-rc));
	rc = console__init(&dom.console, STDOUT_FILENO);
	if (rc)
		die("eventfd: %s", strerror(-rc));
	rc = domain__init_memory(&dom, mib << 20);
	if (rc) {
		pr_err("cannot allocate %llu MiB of guest memory: %s",
		       (unsigned long long)mib, strerror(-rc));
		return HV_EXIT_HOST;
	}
	if (domain__load(&dom, kernel, cmdline))
		return HV_EXIT_USAGE;

	dom.backend = vcpu__backend(backend);

	rc = dom.backend->create(&dom);
	if (rc) {
		pr_err("cannot create the vCPU on the %s backend: %s",
		       dom.backend->name, strerror(-rc));
		return HV_EXIT_HOST;
	}
	/*
	 * Stop signals are taken by the I/O thread from a signalfd, never by
	 * a handler: blocked here, before the I/O thread exists, so in all.
	 */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = sched__init_kick(&dom);
	if (rc)
		die("cannot install the vCPU kick: %s", strerror(-rc));

	rc = iothread__start(
	    &dom, fcntl(STDIN_FILENO, F_GETFD) < 0 ? -1 : STDIN_FILENO,
	    &stop_signals);
	if (rc)
		die("cannot start the I/O thread: %s", strerror(-rc));
	pr_debug("booting %s: %llu MiB, entry 0x%llx, hypercall page 0x%llx, "
		 "%s backend",
		 kernel, (unsigned long long)mib, (unsigned long long)dom.entry,
		 (unsigned long long)dom.hypercall_page, dom.backend->name);

	status = vcpu__run_loop(&dom);

	iothread__stop(&dom);
	dom.backend->destroy(&dom);
	console__dispose(&dom.console);
	sched__dispose(&dom.sched);
	domain__dispose(&dom);
	pr_debug("exit status %d after %llu exits", status,
		 (unsigned long long)dom.exits);
	free(base);
	return status;
}
