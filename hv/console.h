/* SPDX-License-Identifier: MIT */
/*
 * The console: CONSOLEIO_write goes to the hv's output fd, CONSOLEIO_read
 * takes bytes staged from the hv's input. Input crosses threads in two
 * steps so that the guest only ever sees it at an exit:
 *   1. the I/O thread appends to the queue (console__push_input);
 *   2. at an exit the vCPU thread moves it to the staged buffer and raises
 *      PVFT_CONSOLE_PORT (console__stage_input);
 *   3. the guest reads the staged bytes with CONSOLEIO_read.
 */
#ifndef PVFT_HV_CONSOLE_H
#define PVFT_HV_CONSOLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvft/abi.h"

#define CONSOLE_QUEUE_SIZE 4096

struct domain;

struct console {
	int out_fd;  /* -1: output is dropped (a replay that shows nothing) */
	int room_fd; /* eventfd: the vCPU freed room in the queue */

	/* Step 1, shared with the I/O thread under @lock. */
	pthread_mutex_t lock;
	uint8_t queue[CONSOLE_QUEUE_SIZE];
	size_t queue_len;
	bool input_closed;
	atomic_bool input_ready; /* lock-free hint checked at every exit */

	/* Step 2, vCPU thread only. */
	uint8_t staged[CONSOLE_QUEUE_SIZE];
	size_t staged_len;
	bool closed_seen; /* the guest-visible "input is over" */
};

int console__init(struct console *c, int out_fd);
void console__dispose(struct console *c);

/* I/O thread: returns how many bytes were taken (the queue may be full). */
size_t console__push_input(struct console *c, const void *buf, size_t len);
void console__close_input(struct console *c);
/* I/O thread: after room_fd polled readable. */
void console__drain_room(struct console *c);

/*
 * vCPU thread, at an exit: move queued input to the staged buffer. Returns
 * the bytes moved (they end the staged buffer); *closed_r is set when the
 * end of input became visible to the guest just now.
 */
size_t console__stage_input(struct console *c, bool *closed_r);
/* Replay: stage what the log says; -ENOSPC if it cannot fit. */
int console__stage_replayed(struct console *c, const uint8_t *buf, size_t len,
			    bool closed);
/* Any thread: has the host side ended the input (no more will come)? */
bool console__input_ended(struct console *c);
/* Could input still raise the console port ("blocked forever" check)? */
bool console__input_open(struct console *c);

/* CONSOLEIO_*: bytes written or read, or -errno. */
long console__write(struct domain *d, uint64_t gpa, uint64_t len);
long console__read(struct domain *d, uint64_t gpa, uint64_t len);

#endif /* PVFT_HV_CONSOLE_H */
