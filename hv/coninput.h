/* SPDX-License-Identifier: MIT */
/*
 * The console's input queue: where the host side (the I/O thread's stdin,
 * a control socket viewer) puts bytes for the guest. It is not the console
 * device: the device (console.h) moves queued bytes to the guest at an
 * exit, and logs them. Input crosses threads in two steps so that the
 * guest only ever sees it at an exit:
 *   1. a host thread appends to the queue (coninput__push);
 *   2. at an exit the vCPU thread takes it (coninput__take) into the
 *      console device's staged buffer and raises PVFT_CONSOLE_PORT;
 *   3. the guest reads the staged bytes with CONSOLEIO_read.
 */
#ifndef PVFT_HV_CONINPUT_H
#define PVFT_HV_CONINPUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_QUEUE_SIZE 4096

struct console_input {
	int room_fd; /* eventfd: the vCPU freed room in the queue */
	pthread_mutex_t lock;
	uint8_t queue[CONSOLE_QUEUE_SIZE];
	size_t queue_len;
	bool input_closed;
	atomic_bool input_ready; /* lock-free hint checked at every exit */
};

int coninput__init(struct console_input *in);
void coninput__dispose(struct console_input *in);

/* Host thread: returns how many bytes were taken (the queue may be full). */
size_t coninput__push(struct console_input *in, const void *buf, size_t len);
/* Host thread: no more input will come. */
void coninput__close(struct console_input *in);
/* Host thread: after room_fd polled readable. */
void coninput__drain_room(struct console_input *in);
/* Any thread: has the host side ended the input? */
bool coninput__ended(struct console_input *in);

/*
 * vCPU thread: move up to @max queued bytes to @buf. Returns how many.
 * When there was anything to look at, *closed_r is set to whether the
 * input is over and all of it taken (else it is left as it was).
 */
size_t coninput__take(struct console_input *in, uint8_t *buf, size_t max,
		      bool *closed_r);

#endif /* PVFT_HV_CONINPUT_H */
