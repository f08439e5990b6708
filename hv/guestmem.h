/* SPDX-License-Identifier: MIT */
/*
 * Access to guest memory on behalf of a hypercall. Every pointer and length
 * a guest hands us goes through here: an access is allowed only where the
 * guest itself could make it from ring 3 (start_info read-only, shared_info,
 * and [PVFT_GUEST_MIN_ADDR, memory size)), without wrapping around.
 */
#ifndef PVFT_HV_GUESTMEM_H
#define PVFT_HV_GUESTMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct domain;

bool guestmem__range_ok(const struct domain *d, uint64_t gpa, uint64_t len,
			bool write);
/* 0 or -EFAULT. */
int guestmem__copy_from(struct domain *d, void *dst, uint64_t gpa,
			uint64_t len);
int guestmem__copy_to(struct domain *d, uint64_t gpa, const void *src,
		      uint64_t len);
/*
 * pvft-hv wrote [gpa, gpa + len) of guest memory other than through
 * guestmem__copy_to (which marks its own): a live migration must send those
 * pages again (d->hv_dirty, when one is under way). Any thread.
 */
void guestmem__mark(struct domain *d, uint64_t gpa, uint64_t len);

#endif /* PVFT_HV_GUESTMEM_H */
