/* SPDX-License-Identifier: MIT */
/*
 * Error numbers as hypercalls return them (negated). Xen's values, which are
 * Linux's; taken from Xen's own list so that guest and hv cannot disagree.
 */
#ifndef GUEST_ERRNO_H
#define GUEST_ERRNO_H

enum {
#define XEN_ERRNO(name, value) name = value,
#include <xen/errno.h>
};

#endif /* GUEST_ERRNO_H */
