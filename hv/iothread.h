/* SPDX-License-Identifier: MIT */
/*
 * The I/O thread: host-side device work (console input today, network
 * later) and the progress watchdog. It never touches guest memory or vCPU
 * state; it hands input over through queues the vCPU drains at exits.
 */
#ifndef PVFT_HV_IOTHREAD_H
#define PVFT_HV_IOTHREAD_H

#include <signal.h>

struct domain;

/*
 * @in_fd: console input, -1 for none (the guest sees its end at once), or
 * IOTHREAD_INPUT_OPEN: none here, but it never ends (the control socket's
 * console gives it); @signals: the stop signals.
 */
#define IOTHREAD_INPUT_OPEN (-2)
int iothread__start(struct domain *d, int in_fd, const sigset_t *signals);
void iothread__stop(struct domain *d);

#endif /* PVFT_HV_IOTHREAD_H */
