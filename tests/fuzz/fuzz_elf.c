// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the guest image loader, which reads a file the user
 * (or an attacker) hands pvft-hv. Any input must be refused cleanly or
 * loaded inside guest memory; ASan and UBSan turn anything else into a
 * crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "elf.h"
#include "pvft/abi.h"

#define FUZZ_MEM (8u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[FUZZ_MEM];
	struct elf_image img;
	char err[256];
	int rc;

	rc = elf__load(data, size, mem, sizeof(mem), &img, err, sizeof(err));
	if (rc == 0) {
		/* A loaded image is inside memory, where the hv will look. */
		if (img.lo < PVFT_GUEST_MIN_ADDR || img.hi > sizeof(mem) ||
		    img.entry < img.lo || img.entry >= img.hi ||
		    img.hypercall_page % PVFT_PAGE_SIZE)
			__builtin_trap();
	} else if (!err[0] || !memchr(err, '\0', sizeof(err))) {
		/* Every refusal names its cause. */
		__builtin_trap();
	}
	return 0;
}
