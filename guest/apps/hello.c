// SPDX-License-Identifier: MIT
/*
 * The smallest guest: says hello, shows what it was given, powers off.
 * With "echo" on its command line it first echoes console input lines
 * ("echo: LINE") until a line "quit", exercising the console input path.
 */
#include "console.h"
#include "hypervisor.h"
#include "lib.h"
#include "time.h"

static void echo_lines(void)
{
	char line[256];
	unsigned int len = 0;

	for (;;) {
		char c;

		if (console_read(&c, 1) != 1) {
			/* Input raises the console port and ends the block. */
			block_domain(NOW() + MILLISECS(100));
			continue;
		}
		if (c != '\n') {
			if (len < sizeof(line) - 1)
				line[len++] = c;
			continue;
		}
		line[len] = '\0';
		len = 0;
		if (!strcmp(line, "quit"))
			return;
		printf("echo: %s\n", line);
	}
}

int app_main(const char *cmdline)
{
	printf("Hello from pvft guest!\n");
	printf("hello: cmdline=\"%s\" memory=%lu MiB\n", cmdline,
	       start_info.nr_pages * PVFT_PAGE_SIZE >> 20);
	if (cmdline_has(cmdline, "echo"))
		echo_lines();
	return 0;
}
