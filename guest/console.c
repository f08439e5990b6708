// SPDX-License-Identifier: MIT
/*
 * Console output through CONSOLEIO_write, batched (console.h says why);
 * input through CONSOLEIO_read.
 */
#include "console.h"
#include "events.h"
#include "hypervisor.h"
#include "lib.h"

static char out_buf[PVFT_CONSOLE_IO_MAX];
static size_t out_len;

/*
 * Input needs no work at event time: the event only ends a SCHEDOP_block,
 * and the application reads with console_read() when it wants to. Bound
 * so that input does not count as a stray.
 */
static void console_input_event(evtchn_port_t port, void *data)
{
	(void)port;
	(void)data;
}

void init_console(void)
{
	evtchn_port_t port = start_info.console.domU.evtchn;

	if (port)
		bind_evtchn(port, console_input_event, NULL);
}

void console_flush(void)
{
	/*
	 * The hv writes all of it or fails; a failure has nowhere to be
	 * reported but this console, so it is dropped.
	 */
	if (out_len)
		HYPERVISOR_console_io(CONSOLEIO_write, out_len, out_buf);
	out_len = 0;
}

void console_write(const char *s, size_t len)
{
	bool line_done = memchr(s, '\n', len) != NULL;

	while (len) {
		size_t n = min(len, sizeof(out_buf) - out_len);

		memcpy(out_buf + out_len, s, n);
		out_len += n;
		s += n;
		len -= n;
		if (out_len == sizeof(out_buf))
			console_flush();
	}
	if (line_done)
		console_flush();
}

int console_read(char *buf, unsigned int len)
{
	unsigned int n = min(len, (unsigned int)PVFT_CONSOLE_IO_MAX);

	return HYPERVISOR_console_io(CONSOLEIO_read, n, buf);
}

int puts(const char *s)
{
	/* The line is flushed once, by its newline. */
	console_write(s, strlen(s));
	console_write("\n", 1);
	return 0;
}
