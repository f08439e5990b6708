// SPDX-License-Identifier: MIT
/*
 * Boot and shutdown: start_kernel() checks start_info, brings up the
 * runtime and runs the application; exit() and panic() end the domain.
 */
#include "console.h"
#include "events.h"
#include "hypervisor.h"
#include "lib.h"
#include "traps.h"
#include "mm.h"
#include "time.h"

struct start_info start_info;

/* NUL-terminated: start_info's own cmd_line need not be. */
static char cmdline[MAX_GUEST_CMDLINE];

static void __attribute__((noreturn)) crash(void)
{
	/* SHUTDOWN_crash does not return; if the hv ever lets it, insist. */
	for (;;)
		HYPERVISOR_shutdown(SHUTDOWN_crash);
}

void start_kernel(const struct start_info *si)
{
	if (memcmp(si->magic, PVFT_START_INFO_MAGIC,
		   sizeof(PVFT_START_INFO_MAGIC)) != 0) {
		/*
		 * Not the ABI this image was built for: nothing in start_info
		 * can be trusted, but the console hypercall may still work.
		 */
		static char msg[] = "pvft guest: bad start_info magic\n";

		HYPERVISOR_console_io(CONSOLEIO_write, sizeof(msg) - 1, msg);
		crash();
	}
	memcpy(&start_info, si, sizeof(start_info));
	memcpy(cmdline, start_info.cmd_line, sizeof(cmdline) - 1);

	init_events();
	init_console();
	init_traps();
	init_time();
	init_mm();

	exit(app_main(cmdline));
}

void exit(int status)
{
	console_flush();
	/* As POSIX, only the low 8 bits of the status reach the outside. */
	HYPERVISOR_shutdown(status == 0 ? SHUTDOWN_poweroff
					: PVFT_SHUTDOWN_EXIT(status));
	crash();
}

void panic(const char *fmt, ...)
{
	static bool panicking;
	va_list ap;

	/* A panic while printing the first one would recurse forever. */
	if (!panicking) {
		panicking = true;
		console_write("panic: ", 7);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		console_write("\n", 1);
		console_flush();
	}
	crash();
}
