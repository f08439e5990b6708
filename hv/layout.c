// SPDX-License-Identifier: MIT
#include <string.h>

#include "layout.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)

#define MIB2 (2ull << 20)

static void put(uint8_t *p, const void *bytes, size_t n)
{
	memcpy(p, bytes, n);
}

void layout__write_hypercall_page(uint8_t *mem, uint64_t gpa)
{
	uint8_t *page = mem + gpa;
	uint64_t door = PVFT_DOORBELL_GPA;

	/* int3 padding: a jump into the middle of nothing traps. */
	memset(page, 0xcc, PVFT_PAGE_SIZE);
	for (uint32_t nr = 0; nr < PVFT_HYPERCALL_NR_STUBS; nr++) {
		uint8_t *s = page + nr * PVFT_HYPERCALL_STUB_SIZE;

		s[0] = 0xb8; /* mov $nr, %eax */
		put(s + 1, &nr, 4);
		s[PVFT_STUB_DOORBELL_OFF] = 0xa3; /* movabs %eax, door */
		put(s + PVFT_STUB_DOORBELL_OFF + 1, &door, 8);
		s[PVFT_STUB_DOORBELL_OFF + PVFT_STUB_DOORBELL_LEN] = 0xc3;
	}
}

int layout__stub_at(uint64_t page, uint64_t rip)
{
	uint64_t off;

	if (rip < page || rip - page >= PVFT_PAGE_SIZE)
		return 0;
	off = rip - page;
	return off % PVFT_HYPERCALL_STUB_SIZE == PVFT_STUB_DOORBELL_OFF;
}

void layout__init_start_info(uint8_t *mem, uint64_t mem_size,
			     const char *cmdline)
{
	struct start_info *si = (void *)(mem + PVFT_START_INFO_GPA);

	memset(si, 0, PVFT_PAGE_SIZE);
	strncpy(si->magic, PVFT_START_INFO_MAGIC, sizeof(si->magic) - 1);
	si->nr_pages = mem_size / PVFT_PAGE_SIZE;
	si->shared_info = PVFT_SHARED_INFO_GPA;
	si->console.domU.evtchn = PVFT_CONSOLE_PORT;
	strncpy((char *)si->cmd_line, cmdline, sizeof(si->cmd_line) - 1);
}

void layout__init_shared_info(uint8_t *mem)
{
	struct shared_info *sh = (void *)(mem + PVFT_SHARED_INFO_GPA);

	memset(sh, 0, PVFT_PAGE_SIZE);
	/* Events start unmasked: the guest masks what it does not want. */
}

static void set_gdt_entry(uint64_t *gdt, int idx, uint64_t access,
			  uint64_t flags)
{
	/* base 0, limit 0xfffff (ignored in 64-bit code). */
	gdt[idx] = 0xffffull | (0xfull << 48) | (access << 40) | (flags << 52);
}

static void build_gdt_tss(uint8_t *mem)
{
	uint64_t *gdt = (void *)(mem + LAYOUT_GDT_GPA);
	uint8_t *tss = mem + LAYOUT_TSS_GPA;
	uint64_t base = LAYOUT_TSS_GPA, limit = 104 - 1;
	uint64_t rsp0 = LAYOUT_R0_STACK_GPA + PVFT_PAGE_SIZE;
	uint16_t iomap = 104; /* no I/O bitmap: every port traps */

	memset(gdt, 0, PVFT_PAGE_SIZE);
	set_gdt_entry(gdt, LAYOUT_SEL_KCODE >> 3, 0x9b, 0xa); /* L, G */
	set_gdt_entry(gdt, LAYOUT_SEL_KDATA >> 3, 0x93, 0xc); /* DB, G */
	set_gdt_entry(gdt, LAYOUT_SEL_UDATA >> 3, 0xf3, 0xc); /* DPL 3 */
	set_gdt_entry(gdt, LAYOUT_SEL_UCODE >> 3, 0xfb, 0xa); /* DPL 3, L */
	/* 64-bit TSS descriptor: 16 bytes, type 0x9 available (0xb busy). */
	gdt[LAYOUT_SEL_TSS >> 3] =
	    (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
	    (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[(LAYOUT_SEL_TSS >> 3) + 1] = base >> 32;

	memset(tss, 0, PVFT_PAGE_SIZE);
	memcpy(tss + 4, &rsp0, 8);
	memcpy(tss + 102, &iomap, 2);
}

bool layout__has_error_code(unsigned int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 ||
	       v == 29 || v == 30;
}

/*
 * Ring-0 stubs, one per vector, 16 bytes each:
 *   [push $0]; push $vector; jmp common
 * common: movabs %eax, LAYOUT_FAULT_DOORBELL; hlt; jmp .
 * The hv never resumes a faulted vCPU: it reads the frame and reports.
 */
static void build_idt_stubs(uint8_t *mem)
{
	uint8_t *stub = mem + LAYOUT_STUB_GPA;
	uint8_t *idt = mem + LAYOUT_IDT_GPA;
	uint64_t common =
	    LAYOUT_STUB_GPA + LAYOUT_NR_VECTORS * LAYOUT_STUB_ENTRY_SIZE;
	uint64_t door = LAYOUT_FAULT_DOORBELL;

	memset(stub, 0xcc, PVFT_PAGE_SIZE);
	memset(idt, 0, PVFT_PAGE_SIZE);
	for (unsigned int v = 0; v < LAYOUT_NR_VECTORS; v++) {
		uint64_t at = LAYOUT_STUB_GPA + v * LAYOUT_STUB_ENTRY_SIZE;
		uint8_t *s = mem + at;
		uint8_t *e = idt + v * 16;
		int32_t rel;
		int n = 0;

		if (!layout__has_error_code(v)) {
			s[n++] = 0x6a; /* push $0 */
			s[n++] = 0;
		}
		s[n++] = 0x6a; /* push $v */
		s[n++] = v;
		s[n++] = 0xe9; /* jmp rel32 */
		rel = (int32_t)(common - (at + n + 4));
		put(s + n, &rel, 4);

		/*
		 * 64-bit interrupt gates, DPL 0 so that ring 3 cannot "int"
		 * into them, except int3 and into, which report #BP and #OF.
		 */
		e[0] = at & 0xff;
		e[1] = (at >> 8) & 0xff;
		e[2] = LAYOUT_SEL_KCODE;
		e[3] = 0;
		e[4] = 0;				 /* IST */
		e[5] = (v == 3 || v == 4) ? 0xee : 0x8e; /* P, DPL, gate */
		e[6] = (at >> 16) & 0xff;
		e[7] = (at >> 24) & 0xff;
	}
	stub = mem + common;
	stub[0] = 0xa3;
	put(stub + 1, &door, 8);
	stub[9] = 0xf4;	 /* hlt */
	stub[10] = 0xeb; /* jmp . */
	stub[11] = 0xfe;
}

/*
 * Identity map. 2 MiB user pages for guest RAM, except the first 2 MiB,
 * mapped with 4 KiB pages so that the null page and the gap stay unmapped,
 * the hv-private pages are supervisor-only and start_info is read-only.
 * Accessed and dirty bits are set from the start: a CPU may set them
 * speculatively, and a bit the CPU flips on its own would make two runs'
 * memory digests differ.
 */
static void build_page_tables(uint8_t *mem, uint64_t mem_size)
{
	uint64_t *pml4 = (void *)(mem + LAYOUT_PML4_GPA);
	uint64_t *pdpt = (void *)(mem + LAYOUT_PDPT_GPA);
	uint64_t *pd = (void *)(mem + LAYOUT_PD_GPA);
	uint64_t *pt = (void *)(mem + LAYOUT_PT_LOW_GPA);
	uint64_t *ptd = (void *)(mem + LAYOUT_PT_DOOR_GPA);
	uint64_t user = PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;
	uint64_t door = PVFT_DOORBELL_GPA;

	memset(pml4, 0, 8 * PVFT_PAGE_SIZE);
	pml4[0] = LAYOUT_PDPT_GPA | user;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD_GPA + i * PVFT_PAGE_SIZE) | user;
	for (uint64_t a = MIB2; a < mem_size; a += MIB2)
		pd[a / MIB2] = a | user | PTE_PS;
	pd[0] = LAYOUT_PT_LOW_GPA | user;

	for (uint64_t a = LAYOUT_GDT_GPA; a < PVFT_START_INFO_GPA;
	     a += PVFT_PAGE_SIZE)
		pt[a / PVFT_PAGE_SIZE] = a | PTE_P | PTE_RW | PTE_A | PTE_D;
	pt[PVFT_START_INFO_GPA / PVFT_PAGE_SIZE] =
	    PVFT_START_INFO_GPA | PTE_P | PTE_US | PTE_A;
	pt[PVFT_SHARED_INFO_GPA / PVFT_PAGE_SIZE] = PVFT_SHARED_INFO_GPA | user;
	for (uint64_t a = PVFT_GUEST_MIN_ADDR; a < MIB2 && a < mem_size;
	     a += PVFT_PAGE_SIZE)
		pt[a / PVFT_PAGE_SIZE] = a | user;

	pd[door / MIB2] = LAYOUT_PT_DOOR_GPA | user;
	ptd[(door % MIB2) / PVFT_PAGE_SIZE] = door | user;
}

void layout__build_x86(uint8_t *mem, uint64_t mem_size)
{
	build_gdt_tss(mem);
	build_idt_stubs(mem);
	build_page_tables(mem, mem_size);
}

const char *layout__vector_name(unsigned int vector)
{
	static const char *const names[LAYOUT_NR_VECTORS] = {
		[0] = "divide error (#DE)",
		[1] = "debug (#DB)",
		[2] = "NMI",
		[3] = "breakpoint (#BP)",
		[4] = "overflow (#OF)",
		[5] = "bound range (#BR)",
		[6] = "invalid opcode (#UD)",
		[7] = "device not available (#NM)",
		[8] = "double fault (#DF)",
		[10] = "invalid TSS (#TS)",
		[11] = "segment not present (#NP)",
		[12] = "stack fault (#SS)",
		[13] = "general protection (#GP)",
		[14] = "page fault (#PF)",
		[16] = "x87 error (#MF)",
		[17] = "alignment check (#AC)",
		[18] = "machine check (#MC)",
		[19] = "SIMD error (#XM)",
	};

	if (vector < LAYOUT_NR_VECTORS && names[vector])
		return names[vector];
	return "exception";
}
