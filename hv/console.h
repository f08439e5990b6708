/* SPDX-License-Identifier: MIT */
/*
 * The console as a device: CONSOLEIO_write goes to the console sink (the
 * released output: an fd and the control socket's viewers; a primary's
 * waits under the output rule in the gate's sink first), CONSOLEIO_read
 * takes bytes staged from the input queue (coninput.h) at an exit, which
 * are logged as LOGFMT_CONSOLE_IN and raise PVFT_CONSOLE_PORT.
 */
#ifndef PVFT_HV_CONSOLE_H
#define PVFT_HV_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coninput.h"
#include "consink.h"
#include "device.h"

struct domain;

struct console {
	struct device dev;
	/* Where released output goes now; -1 fd: nowhere (a replay). */
	struct console_sink sink;
	/* A backup's, once it goes live. */
	struct console_sink live_sink;

	/* vCPU thread only: input the guest can read. */
	uint8_t staged[CONSOLE_QUEUE_SIZE];
	size_t staged_len;
	bool closed_seen; /* the guest-visible "input is over" */
};

extern const struct device_ops console_device_ops;

/* Register the console of @d (d->console) with @sink and @live_sink. */
int console__probe(struct domain *d, const struct console_sink *sink,
		   const struct console_sink *live_sink);

/* CONSOLEIO_*: bytes written or read, or -errno. */
long console__write(struct domain *d, uint64_t gpa, uint64_t len);
long console__read(struct domain *d, uint64_t gpa, uint64_t len);

#endif /* PVFT_HV_CONSOLE_H */
