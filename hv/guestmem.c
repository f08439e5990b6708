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
	guestmem__mark(d, gpa, len);
	return 0;
}

void guestmem__mark(struct domain *d, uint64_t gpa, uint64_t len)
{
	uint64_t *bits = __atomic_load_n(&d->hv_dirty, __ATOMIC_ACQUIRE);
	uint64_t pfn, last;

	if (!bits || !len || gpa >= d->mem_size)
		return;
	last =
	    (gpa + len - 1 < d->mem_size ? gpa + len - 1 : d->mem_size - 1) >>
	    12;
	for (pfn = gpa >> 12; pfn <= last; pfn++)
		__atomic_fetch_or(&bits[pfn / 64], 1ull << (pfn % 64),
				  __ATOMIC_RELAXED);
}
