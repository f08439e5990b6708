// SPDX-License-Identifier: MIT
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "elf.h"
#include "pvft/abi.h"

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* [off, off + len) inside [0, size), with no sum that can overflow. */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Find the Xen notes in one PT_NOTE segment. */
static int parse_notes(const uint8_t *p, uint64_t len, struct elf_image *img,
		       char *err, size_t errlen)
{
	while (len >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_sz, desc_sz;

		memcpy(&nh, p, sizeof(nh));
		name_sz = align_up(nh.n_namesz, 4);
		desc_sz = align_up(nh.n_descsz, 4);
		if (name_sz > len - sizeof(nh) ||
		    desc_sz > len - sizeof(nh) - name_sz)
			return fail(-EINVAL, err, errlen, "truncated ELF note");
		if (nh.n_namesz == 4 && !memcmp(p + sizeof(nh), "Xen", 4) &&
		    nh.n_type == XEN_ELFNOTE_HYPERCALL_PAGE) {
			const uint8_t *desc = p + sizeof(nh) + name_sz;

			if (nh.n_descsz == 8)
				memcpy(&img->hypercall_page, desc, 8);
			else if (nh.n_descsz == 4) {
				uint32_t v;

				memcpy(&v, desc, 4);
				img->hypercall_page = v;
			} else
				return fail(-EINVAL, err, errlen,
					    "XEN_ELFNOTE_HYPERCALL_PAGE has "
					    "size %u, want 4 or 8",
					    nh.n_descsz);
		}
		p += sizeof(nh) + name_sz + desc_sz;
		len -= sizeof(nh) + name_sz + desc_sz;
	}
	return 0;
}

static int check_header(const Elf64_Ehdr *eh, size_t size, char *err,
			size_t errlen)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return fail(-EINVAL, err, errlen,
			    "not an ELF file (bad magic)");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return fail(-EINVAL, err, errlen, "not a 64-bit ELF (class %u)",
			    eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(-EINVAL, err, errlen, "not a little-endian ELF");
	if (eh->e_ident[EI_VERSION] != EV_CURRENT ||
	    eh->e_version != EV_CURRENT)
		return fail(-EINVAL, err, errlen, "unknown ELF version");
	if (eh->e_machine != EM_X86_64)
		return fail(-EINVAL, err, errlen,
			    "wrong machine %u, want x86-64 (%u)", eh->e_machine,
			    EM_X86_64);
	if (eh->e_type != ET_EXEC)
		return fail(-EINVAL, err, errlen,
			    "not a static executable (ELF type %u)",
			    eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return fail(-EINVAL, err, errlen, "bad program header size %u",
			    eh->e_phentsize);
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHDRS)
		return fail(-EINVAL, err, errlen, "bad program header count %u",
			    eh->e_phnum);
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr),
		     size))
		return fail(-EINVAL, err, errlen,
			    "program headers beyond the end of the file "
			    "(truncated?)");
	return 0;
}

int elf__load(const void *file, size_t size, uint8_t *mem, uint64_t mem_size,
	      struct elf_image *img, char *err, size_t errlen)
{
	const uint8_t *f = file;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[ELF_MAX_PHDRS];
	bool entry_ok = false, page_ok = false;
	int rc, nload = 0;

	memset(img, 0, sizeof(*img));
	if (size < SELFMAG || memcmp(f, ELFMAG, SELFMAG))
		return fail(-EINVAL, err, errlen,
			    "not an ELF file (bad magic)");
	if (size < sizeof(eh))
		return fail(-EINVAL, err, errlen,
			    "file too short for an ELF header (%zu bytes)",
			    size);
	memcpy(&eh, f, sizeof(eh));
	rc = check_header(&eh, size, err, errlen);
	if (rc)
		return rc;
	memcpy(ph, f + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));

	/* Pass 1: check every segment before touching guest memory. */
	img->lo = UINT64_MAX;
	for (int i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		uint64_t end;

		if (p->p_type == PT_NOTE) {
			if (!in_file(p->p_offset, p->p_filesz, size))
				return fail(-EINVAL, err, errlen,
					    "note segment %d beyond the end of "
					    "the file (truncated?)",
					    i);
			rc = parse_notes(f + p->p_offset, p->p_filesz, img, err,
					 errlen);
			if (rc)
				return rc;
			continue;
		}
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		nload++;
		if (p->p_filesz > p->p_memsz)
			return fail(
			    -EINVAL, err, errlen,
			    "segment %d: file size 0x%llx exceeds memory "
			    "size 0x%llx",
			    i, (unsigned long long)p->p_filesz,
			    (unsigned long long)p->p_memsz);
		if (!in_file(p->p_offset, p->p_filesz, size))
			return fail(-EINVAL, err, errlen,
				    "segment %d beyond the end of the file "
				    "(truncated?)",
				    i);
		if (p->p_paddr != p->p_vaddr)
			return fail(-EINVAL, err, errlen,
				    "segment %d: virtual 0x%llx != physical "
				    "0x%llx (pvft identity-maps guests)",
				    i, (unsigned long long)p->p_vaddr,
				    (unsigned long long)p->p_paddr);
		if (p->p_vaddr < PVFT_GUEST_MIN_ADDR ||
		    p->p_memsz > (uint64_t)PVFT_MAX_MEMORY_MIB << 20 ||
		    p->p_vaddr >
			((uint64_t)PVFT_MAX_MEMORY_MIB << 20) - p->p_memsz)
			return fail(
			    -EINVAL, err, errlen,
			    "segment %d [0x%llx, +0x%llx) outside guest "
			    "memory [0x%lx, 0x%llx)",
			    i, (unsigned long long)p->p_vaddr,
			    (unsigned long long)p->p_memsz, PVFT_GUEST_MIN_ADDR,
			    (unsigned long long)mem_size);
		end = p->p_vaddr + p->p_memsz;
		if (end > mem_size)
			return fail(-E2BIG, err, errlen,
				    "memory too small: segment %d ends at "
				    "0x%llx, the domain has %llu MiB",
				    i, (unsigned long long)end,
				    (unsigned long long)(mem_size >> 20));
		if (p->p_vaddr < img->lo)
			img->lo = p->p_vaddr;
		if (end > img->hi)
			img->hi = end;
		if ((p->p_flags & PF_X) && eh.e_entry >= p->p_vaddr &&
		    eh.e_entry < end)
			entry_ok = true;
	}
	if (!nload)
		return fail(-EINVAL, err, errlen, "no loadable segment");
	if (!entry_ok)
		return fail(
		    -EINVAL, err, errlen,
		    "entry point 0x%llx is not in an executable segment",
		    (unsigned long long)eh.e_entry);
	if (!img->hypercall_page)
		return fail(
		    -EINVAL, err, errlen,
		    "not a pvft PV kernel: no XEN_ELFNOTE_HYPERCALL_PAGE "
		    "note");
	if (img->hypercall_page % PVFT_PAGE_SIZE)
		return fail(-EINVAL, err, errlen,
			    "hypercall page 0x%llx is not page-aligned",
			    (unsigned long long)img->hypercall_page);
	for (int i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		uint64_t end = p->p_vaddr + p->p_memsz; /* checked above */

		/* Compare without adding to the image's own number. */
		if (p->p_type == PT_LOAD && (p->p_flags & PF_X) &&
		    img->hypercall_page >= p->p_vaddr &&
		    img->hypercall_page < end &&
		    end - img->hypercall_page >= PVFT_PAGE_SIZE)
			page_ok = true;
	}
	if (!page_ok)
		return fail(-EINVAL, err, errlen,
			    "hypercall page 0x%llx is not inside an executable "
			    "segment",
			    (unsigned long long)img->hypercall_page);

	/* Pass 2: everything checked, load. */
	for (int i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		memcpy(mem + p->p_vaddr, f + p->p_offset, p->p_filesz);
		memset(mem + p->p_vaddr + p->p_filesz, 0,
		       p->p_memsz - p->p_filesz);
	}
	img->entry = eh.e_entry;
	return 0;
}
