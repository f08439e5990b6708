// SPDX-License-Identifier: MIT
/*
 * What the hv writes before the guest's first instruction: the hypercall
 * stubs, start_info, and the x86 page tables and fault stubs, decoded the
 * way the CPU will read them.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "layout.h"
#include "unit.h"

#define MEM_SIZE (4ull << 20)
#define PAGE PVFT_GUEST_MIN_ADDR /* where the tests put the hypercall page */

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull

static uint8_t *mem;

static uint32_t get32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, mem + gpa, 4);
	return v;
}

static uint64_t get64(uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, mem + gpa, 8);
	return v;
}

/* A 4-level walk as the MMU does it; P, RW and US are ANDed down. */
struct mapping {
	bool present;
	uint64_t pa;
	uint64_t flags; /* PTE_RW | PTE_US, effective */
};

static struct mapping walk(uint64_t va)
{
	struct mapping m = { .flags = PTE_RW | PTE_US };
	uint64_t table = LAYOUT_PML4_GPA;

	for (int level = 3; level >= 0; level--) {
		unsigned int idx = (va >> (12 + 9 * level)) & 511;
		uint64_t e;

		if (table + PVFT_PAGE_SIZE > MEM_SIZE)
			return m; /* a table outside RAM: broken */
		e = get64(table + idx * 8);
		if (!(e & PTE_P))
			return m;
		m.flags &= e & (PTE_RW | PTE_US);
		if (level == 1 && (e & PTE_PS)) {
			m.present = true;
			m.pa = (e & PTE_ADDR & ~0x1fffffull) | (va & 0x1fffff);
			return m;
		}
		table = e & PTE_ADDR;
	}
	m.present = true;
	m.pa = table | (va & 0xfff);
	return m;
}

static int suite_init(void)
{
	mem = malloc(MEM_SIZE);
	return mem ? 0 : -1;
}

static int suite_cleanup(void)
{
	free(mem);
	return 0;
}

static void setup(void)
{
	memset(mem, 0, MEM_SIZE);
}

static void test_hypercall_page(void)
{
	memset(mem + PAGE - 16, 0x11, PVFT_PAGE_SIZE + 32);
	layout__write_hypercall_page(mem, PAGE);
	for (uint32_t n = 0; n < PVFT_HYPERCALL_NR_STUBS; n++) {
		uint64_t s = PAGE + n * PVFT_HYPERCALL_STUB_SIZE;
		bool ok =
		    mem[s] == 0xb8 && get32(s + 1) == n && mem[s + 5] == 0xa3 &&
		    get64(s + 6) == PVFT_DOORBELL_GPA && mem[s + 14] == 0xc3;

		for (uint64_t i = 15; i < PVFT_HYPERCALL_STUB_SIZE; i++)
			ok = ok && mem[s + i] == 0xcc;
		CU_ASSERT(ok);
	}
	CU_ASSERT_EQUAL(PVFT_STUB_DOORBELL_OFF + PVFT_STUB_DOORBELL_LEN, 14);
	/* Neither byte before nor after the page was touched. */
	CU_ASSERT_EQUAL(mem[PAGE - 1], 0x11);
	CU_ASSERT_EQUAL(mem[PAGE + PVFT_PAGE_SIZE], 0x11);
}

static void test_stub_at(void)
{
	for (uint64_t n = 0; n < PVFT_HYPERCALL_NR_STUBS; n++) {
		uint64_t s = PAGE + n * PVFT_HYPERCALL_STUB_SIZE;

		CU_ASSERT_TRUE(layout__stub_at(PAGE, s + 5));
		CU_ASSERT_FALSE(layout__stub_at(PAGE, s));
		CU_ASSERT_FALSE(layout__stub_at(PAGE, s + 4));
		CU_ASSERT_FALSE(layout__stub_at(PAGE, s + 6));
		CU_ASSERT_FALSE(layout__stub_at(PAGE, s + 14));
	}
	CU_ASSERT_FALSE(layout__stub_at(PAGE, PAGE + PVFT_PAGE_SIZE + 5));
	CU_ASSERT_FALSE(layout__stub_at(PAGE, PAGE - 32 + 5));
	CU_ASSERT_FALSE(layout__stub_at(PAGE, 5));
	CU_ASSERT_FALSE(layout__stub_at(PAGE, ~0ull));
	CU_ASSERT_FALSE(layout__stub_at(PAGE, PAGE + (1ull << 32) + 5));
	/* A page at the top of the address space does not wrap. */
	CU_ASSERT_TRUE(layout__stub_at(~0ull - 0xfff, ~0ull - 0xfff + 5));
	CU_ASSERT_FALSE(layout__stub_at(~0ull - 0xfff, 5));
}

static void test_start_info(void)
{
	const struct start_info *si = (void *)(mem + PVFT_START_INFO_GPA);

	memset(mem + PVFT_START_INFO_GPA, 0xff, 2 * PVFT_PAGE_SIZE);
	layout__init_start_info(mem, MEM_SIZE, "console=hvc0 x=1");
	CU_ASSERT_STRING_EQUAL(si->magic, PVFT_START_INFO_MAGIC);
	CU_ASSERT_EQUAL(si->nr_pages, MEM_SIZE / PVFT_PAGE_SIZE);
	CU_ASSERT_EQUAL(si->shared_info, PVFT_SHARED_INFO_GPA);
	CU_ASSERT_EQUAL(si->console.domU.evtchn, PVFT_CONSOLE_PORT);
	CU_ASSERT_STRING_EQUAL((const char *)si->cmd_line, "console=hvc0 x=1");
	/* The rest of a dirty page is cleared, the next page untouched. */
	CU_ASSERT_EQUAL(si->flags, 0);
	CU_ASSERT_EQUAL(si->store_evtchn, 0);
	CU_ASSERT_EQUAL(mem[PVFT_START_INFO_GPA + PVFT_PAGE_SIZE - 1], 0);
	CU_ASSERT_EQUAL(mem[PVFT_SHARED_INFO_GPA], 0xff);
}

static void test_start_info_long_cmdline(void)
{
	const struct start_info *si = (void *)(mem + PVFT_START_INFO_GPA);
	char *cmdline = malloc(3 * MAX_GUEST_CMDLINE);

	CU_ASSERT_FATAL(cmdline != NULL);
	memset(cmdline, 'a', 3 * MAX_GUEST_CMDLINE - 1);
	cmdline[3 * MAX_GUEST_CMDLINE - 1] = '\0';
	memset(mem + PVFT_SHARED_INFO_GPA, 0x77, PVFT_PAGE_SIZE);
	layout__init_start_info(mem, MEM_SIZE, cmdline);
	CU_ASSERT_EQUAL(strnlen((const char *)si->cmd_line, MAX_GUEST_CMDLINE),
			MAX_GUEST_CMDLINE - 1);
	CU_ASSERT_EQUAL(mem[PVFT_SHARED_INFO_GPA], 0x77);
	free(cmdline);
}

static void test_shared_info(void)
{
	memset(mem + PVFT_SHARED_INFO_GPA, 0xff, PVFT_PAGE_SIZE + 1);
	layout__init_shared_info(mem);
	for (uint64_t a = 0; a < PVFT_PAGE_SIZE; a++)
		if (mem[PVFT_SHARED_INFO_GPA + a]) {
			CU_FAIL("shared_info not cleared");
			break;
		}
	CU_ASSERT_EQUAL(mem[PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE], 0xff);
}

static void test_page_tables(void)
{
	static const uint64_t ram[] = { PVFT_GUEST_MIN_ADDR, 0x1fffff, 0x200000,
					0x3ff123, MEM_SIZE - 1 };
	struct mapping m;

	layout__build_x86(mem, MEM_SIZE);
	CU_ASSERT_EQUAL(get64(LAYOUT_PML4_GPA) & (PTE_P | PTE_US),
			PTE_P | PTE_US);
	CU_ASSERT_EQUAL(get64(LAYOUT_PML4_GPA) & PTE_ADDR, LAYOUT_PDPT_GPA);
	CU_ASSERT_EQUAL(get64(LAYOUT_PML4_GPA + 8), 0);
	/* The null page: the PTE itself is empty. */
	CU_ASSERT_EQUAL(get64(LAYOUT_PT_LOW_GPA), 0);
	CU_ASSERT_FALSE(walk(0).present);
	CU_ASSERT_FALSE(walk(0xfff).present);
	/* hv-private pages: present, supervisor only. */
	for (uint64_t a = 0x1000; a < PVFT_START_INFO_GPA;
	     a += PVFT_PAGE_SIZE) {
		m = walk(a);
		CU_ASSERT(m.present && m.pa == a);
		CU_ASSERT_FALSE(m.flags & PTE_US);
	}
	m = walk(PVFT_START_INFO_GPA);
	CU_ASSERT(m.present && m.pa == PVFT_START_INFO_GPA);
	CU_ASSERT_EQUAL(m.flags, PTE_US); /* user, read-only */
	m = walk(PVFT_SHARED_INFO_GPA + 8);
	CU_ASSERT(m.present && m.pa == PVFT_SHARED_INFO_GPA + 8);
	CU_ASSERT_EQUAL(m.flags, PTE_US | PTE_RW);
	/* The gap up to the guest area is unmapped. */
	CU_ASSERT_FALSE(walk(PVFT_SHARED_INFO_GPA + PVFT_PAGE_SIZE).present);
	CU_ASSERT_FALSE(walk(PVFT_GUEST_MIN_ADDR - 1).present);
	/* Guest RAM: identity, user, writable, 4 KiB then 2 MiB pages. */
	for (size_t i = 0; i < sizeof(ram) / sizeof(ram[0]); i++) {
		m = walk(ram[i]);
		CU_ASSERT(m.present && m.pa == ram[i]);
		CU_ASSERT_EQUAL(m.flags, PTE_US | PTE_RW);
	}
	CU_ASSERT_FALSE(walk(MEM_SIZE).present);
	CU_ASSERT_FALSE(walk(PVFT_DOORBELL_GPA - 1).present);
	CU_ASSERT_FALSE(walk(1ull << 32).present);
	/* The doorbell: one user page mapped to itself. */
	m = walk(PVFT_DOORBELL_GPA);
	CU_ASSERT(m.present && m.pa == PVFT_DOORBELL_GPA);
	CU_ASSERT_EQUAL(m.flags, PTE_US | PTE_RW);
	m = walk(LAYOUT_FAULT_DOORBELL);
	CU_ASSERT(m.present && m.pa == LAYOUT_FAULT_DOORBELL);
	CU_ASSERT_FALSE(walk(PVFT_DOORBELL_GPA + PVFT_PAGE_SIZE).present);
	/* The tables do not spill into start_info. */
	CU_ASSERT_EQUAL(get64(PVFT_START_INFO_GPA), 0);
}

/* Where a "jmp rel32" at @gpa lands. */
static uint64_t jmp_target(uint64_t gpa)
{
	int32_t rel;

	memcpy(&rel, mem + gpa + 1, 4);
	return gpa + 5 + (int64_t)rel;
}

static void test_idt_stubs(void)
{
	uint64_t common =
	    LAYOUT_STUB_GPA + LAYOUT_NR_VECTORS * LAYOUT_STUB_ENTRY_SIZE;
	uint64_t de = LAYOUT_STUB_GPA;
	uint64_t pf = LAYOUT_STUB_GPA + 14 * LAYOUT_STUB_ENTRY_SIZE;
	uint64_t df = LAYOUT_STUB_GPA + 8 * LAYOUT_STUB_ENTRY_SIZE;

	layout__build_x86(mem, MEM_SIZE);
	/* #DE: no error code, so a 0 stands in for one, then the vector. */
	CU_ASSERT(mem[de] == 0x6a && mem[de + 1] == 0);
	CU_ASSERT(mem[de + 2] == 0x6a && mem[de + 3] == 0);
	CU_ASSERT(mem[de + 4] == 0xe9 && jmp_target(de + 4) == common);
	/* #PF and #DF push their own error code: only the vector. */
	CU_ASSERT(mem[pf] == 0x6a && mem[pf + 1] == 14);
	CU_ASSERT(mem[pf + 2] == 0xe9 && jmp_target(pf + 2) == common);
	CU_ASSERT(mem[df] == 0x6a && mem[df + 1] == 8 && mem[df + 2] == 0xe9);
	/* #GP (13) too; #BP (3) does not. */
	CU_ASSERT_EQUAL(mem[LAYOUT_STUB_GPA + 13 * 16 + 1], 13);
	CU_ASSERT_EQUAL(mem[LAYOUT_STUB_GPA + 3 * 16 + 3], 3);

	/* Every gate: the vector's stub, kernel code, DPL 0 interrupt gate. */
	for (unsigned int v = 0; v < LAYOUT_NR_VECTORS; v++) {
		uint64_t e = LAYOUT_IDT_GPA + v * 16;
		uint64_t at = LAYOUT_STUB_GPA + v * LAYOUT_STUB_ENTRY_SIZE;
		uint64_t off =
		    mem[e] | mem[e + 1] << 8 | (uint64_t)mem[e + 6] << 16 |
		    (uint64_t)mem[e + 7] << 24 | (uint64_t)get32(e + 8) << 32;
		uint64_t j = mem[at + 2] == 0xe9 ? at + 2 : at + 4;

		CU_ASSERT_EQUAL(off, at);
		CU_ASSERT_EQUAL(mem[e + 2] | mem[e + 3] << 8, LAYOUT_SEL_KCODE);
		/* DPL 0 gates, but int3 and into may be used from ring 3. */
		CU_ASSERT_EQUAL(mem[e + 5], (v == 3 || v == 4) ? 0xee : 0x8e);
		CU_ASSERT(mem[j] == 0xe9 && jmp_target(j) == common);
		CU_ASSERT_EQUAL(mem[j - 1], v);
	}
	/* common: movabs %eax, LAYOUT_FAULT_DOORBELL; hlt */
	CU_ASSERT_EQUAL(mem[common], 0xa3);
	CU_ASSERT_EQUAL(get64(common + 1), LAYOUT_FAULT_DOORBELL);
	CU_ASSERT_EQUAL(mem[common + 9], 0xf4);
	/*
	 * kvm_pvm's syscall lands on the syscall entry in ring 3: it must
	 * fault there (supervisor-only), and be none of the stubs' code.
	 */
	CU_ASSERT(LAYOUT_SYSCALL_ENTRY > common + 12 &&
		  LAYOUT_SYSCALL_ENTRY < LAYOUT_STUB_GPA + PVFT_PAGE_SIZE);
	CU_ASSERT_EQUAL(mem[LAYOUT_SYSCALL_ENTRY], 0xcc);
	CU_ASSERT(walk(LAYOUT_SYSCALL_ENTRY).present);
	CU_ASSERT_FALSE(walk(LAYOUT_SYSCALL_ENTRY).flags & PTE_US);
}

static void test_gdt_tss(void)
{
	uint64_t ucode, tss_lo;

	layout__build_x86(mem, MEM_SIZE);
	ucode = get64(LAYOUT_GDT_GPA + (LAYOUT_SEL_UCODE >> 3) * 8);
	CU_ASSERT_EQUAL((ucode >> 45) & 3, 3); /* DPL 3 */
	CU_ASSERT_EQUAL((ucode >> 53) & 1, 1); /* long mode */
	CU_ASSERT_EQUAL(
	    (get64(LAYOUT_GDT_GPA + (LAYOUT_SEL_KCODE >> 3) * 8) >> 45) & 3, 0);
	tss_lo = get64(LAYOUT_GDT_GPA + (LAYOUT_SEL_TSS >> 3) * 8);
	CU_ASSERT_EQUAL((tss_lo >> 40) & 0xff, 0x89);
	CU_ASSERT_EQUAL(((tss_lo >> 16) & 0xffffff) | ((tss_lo >> 56) << 24),
			LAYOUT_TSS_GPA);
	CU_ASSERT_EQUAL(get64(LAYOUT_TSS_GPA + 4),
			LAYOUT_R0_STACK_GPA + PVFT_PAGE_SIZE); /* rsp0 */
}

static void test_vector_names(void)
{
	CU_ASSERT_STRING_EQUAL(layout__vector_name(14), "page fault (#PF)");
	CU_ASSERT_STRING_EQUAL(layout__vector_name(0), "divide error (#DE)");
	CU_ASSERT_STRING_EQUAL(layout__vector_name(9), "exception");
	CU_ASSERT_STRING_EQUAL(layout__vector_name(LAYOUT_NR_VECTORS),
			       "exception");
	CU_ASSERT_STRING_EQUAL(layout__vector_name(~0u), "exception");
}

static CU_TestInfo layout_tests[] = {
	{ "hypercall page stubs", test_hypercall_page },
	{ "stub_at", test_stub_at },
	{ "start_info", test_start_info },
	{ "start_info, long command line", test_start_info_long_cmdline },
	{ "shared_info cleared", test_shared_info },
	{ "page tables", test_page_tables },
	{ "IDT and fault stubs", test_idt_stubs },
	{ "GDT and TSS", test_gdt_tss },
	{ "vector names", test_vector_names },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo layout_suites[] = {
	{ "layout", suite_init, suite_cleanup, setup, NULL, layout_tests },
	CU_SUITE_INFO_NULL,
};

void test_layout__register(void)
{
	CU_register_suites(layout_suites);
}
