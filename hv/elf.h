/* SPDX-License-Identifier: MIT */
/*
 * The guest image: a static ELF64 x86-64 executable, identity-mapped, with
 * Xen ELF notes. The loader trusts nothing in the file.
 */
#ifndef PVFT_HV_ELF_H
#define PVFT_HV_ELF_H

#include <stddef.h>
#include <stdint.h>

#define ELF_MAX_PHDRS 64

struct elf_image {
	uint64_t entry;
	uint64_t hypercall_page; /* XEN_ELFNOTE_HYPERCALL_PAGE */
	uint64_t lo, hi;	 /* loaded range [lo, hi) */
};

/*
 * Check @file and load it into guest memory @mem of @mem_size bytes.
 * Returns 0, or -EINVAL / -E2BIG (memory too small) with a one-line cause
 * in @err. Nothing is written to @mem unless the whole image is valid.
 */
int elf__load(const void *file, size_t size, uint8_t *mem, uint64_t mem_size,
	      struct elf_image *img, char *err, size_t errlen);

#endif /* PVFT_HV_ELF_H */
