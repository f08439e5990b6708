// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "domain.h"
#include "guestmem.h"

static bool inside(uint64_t gpa, uint64_t len, uint64_t lo, uint64_t hi)
{
	/* Written so that no sum can overflow: gpa and len are the guest's. */
	return gpa >= lo && gpa <= hi && len <= hi - gpa;
}

bool guestmem__range_ok(const struct domain *d, uint64_t gpa, uint64_t len,
			bool write)
{
	if (inside(gpa, len, PVFT_GUEST_MIN_ADDR, d->mem_size))
		return true;
	if (inside(gpa, len, PVFT_SHARED_INFO_GPA,
		   PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE))
		return true;
	return !write && inside(gpa, len, PVFT_START_INFO_GPA,
				PVFT_START_INFO_GPA + PVFT_PAGE_SIZE);
}

int guestmem__copy_from(struct domain *d, void *dst, uint64_t gpa, uint64_t len)
{
	if (!guestmem__range_ok(d, gpa, len, false))
		return -EFAULT;
	memcpy(dst, d->mem + gpa, len);
	return 0;
}

int guestmem__copy_to(struct domain *d, uint64_t gpa, const void *src,
		      uint64_t len)
{
	if (!guestmem__range_ok(d, gpa, len, true))
		return -EFAULT;
	memcpy(d->mem + gpa, src, len);
	return 0;
}
