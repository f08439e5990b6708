/* SPDX-License-Identifier: MIT */
/*
 * The one-shot timer (set_timer_op, VIRQ_TIMER) as a device: its firing is
 * a nondeterministic input (when the host's clock passes the deadline),
 * logged as LOGFMT_TIMER. The deadline itself is the scheduler's (sched.h).
 */
#ifndef PVFT_HV_TIMER_H
#define PVFT_HV_TIMER_H

#include "device.h"

extern const struct device_ops timer_device_ops;

#endif /* PVFT_HV_TIMER_H */
