// SPDX-License-Identifier: MIT
/*
 * elf__load: one valid in-memory image, then one mutation per check the
 * loader makes. Every refused image must leave an error text and must not
 * have written a byte of guest memory.
 */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "elf.h"
#include "pvft/abi.h"
#include "unit.h"

#define MEM_SIZE (2ul << 20) /* PVFT_MIN_MEMORY_MIB */
#define MEM_FILL 0xa5
#define SEG_VADDR PVFT_GUEST_MIN_ADDR
#define SEG_FILESZ 0x1010ul /* the hypercall page, then some "code" */
#define SEG_MEMSZ 0x3000ul  /* the rest is bss */
#define ENTRY (SEG_VADDR + 0x1000)
#define HYPERCALL_PAGE SEG_VADDR

/* The whole file, laid out as a linker would: headers, note, segment. */
struct test_image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3]; /* [0] PT_NOTE, [1] PT_LOAD, [2] PT_NULL (spare) */
	Elf64_Nhdr nh;
	char name[4];
	uint64_t desc;
	uint8_t pad[0x1000 - 256];
	uint8_t seg[SEG_FILESZ];
};
_Static_assert(offsetof(struct test_image, nh) == 232, "note offset");
_Static_assert(offsetof(struct test_image, pad) == 256, "pad offset");
_Static_assert(offsetof(struct test_image, seg) == 0x1000, "segment offset");

static struct test_image im;
static uint8_t *mem, *fill;
static struct elf_image img;
static char err[256];

static void build_image(struct test_image *t)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->eh.e_ident, ELFMAG, SELFMAG);
	t->eh.e_ident[EI_CLASS] = ELFCLASS64;
	t->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	t->eh.e_ident[EI_VERSION] = EV_CURRENT;
	t->eh.e_type = ET_EXEC;
	t->eh.e_machine = EM_X86_64;
	t->eh.e_version = EV_CURRENT;
	t->eh.e_entry = ENTRY;
	t->eh.e_phoff = offsetof(struct test_image, ph);
	t->eh.e_ehsize = sizeof(Elf64_Ehdr);
	t->eh.e_phentsize = sizeof(Elf64_Phdr);
	t->eh.e_phnum = 3;

	t->ph[0].p_type = PT_NOTE;
	t->ph[0].p_flags = PF_R;
	t->ph[0].p_offset = offsetof(struct test_image, nh);
	t->ph[0].p_filesz = sizeof(t->nh) + sizeof(t->name) + sizeof(t->desc);
	t->ph[0].p_align = 4;

	t->ph[1].p_type = PT_LOAD;
	t->ph[1].p_flags = PF_R | PF_X;
	t->ph[1].p_offset = offsetof(struct test_image, seg);
	t->ph[1].p_vaddr = SEG_VADDR;
	t->ph[1].p_paddr = SEG_VADDR;
	t->ph[1].p_filesz = SEG_FILESZ;
	t->ph[1].p_memsz = SEG_MEMSZ;
	t->ph[1].p_align = 0x1000;

	t->nh.n_namesz = 4;
	t->nh.n_descsz = 8;
	t->nh.n_type = XEN_ELFNOTE_HYPERCALL_PAGE;
	memcpy(t->name, "Xen", 4);
	t->desc = HYPERCALL_PAGE;

	for (size_t i = 0; i < sizeof(t->seg); i++)
		t->seg[i] = (uint8_t)(i * 7 + 1) | 1; /* never 0, never fill */
}

static int load(size_t size)
{
	memset(mem, MEM_FILL, MEM_SIZE);
	memset(err, 0, sizeof(err));
	return elf__load(&im, size, mem, MEM_SIZE, &img, err, sizeof(err));
}

/* Assert with the caller's line, so a failure names the mutated case. */
#define CHECK_AT(cond, line) \
	CU_assertImplementation(!!(cond), (line), #cond, __FILE__, "", CU_FALSE)

static void expect_fail_at(size_t size, int want, int line)
{
	int rc = load(size);

	CHECK_AT(rc == want, line);
	CHECK_AT(err[0] != '\0', line);
	CHECK_AT(!memcmp(mem, fill, MEM_SIZE), line);
}

#define expect_fail(want) expect_fail_at(sizeof(im), (want), __LINE__)

static int suite_init(void)
{
	mem = malloc(MEM_SIZE);
	fill = malloc(MEM_SIZE);
	if (!mem || !fill)
		return -1;
	memset(fill, MEM_FILL, MEM_SIZE);
	return 0;
}

static int suite_cleanup(void)
{
	free(mem);
	free(fill);
	return 0;
}

static void setup(void)
{
	build_image(&im);
}

static void test_good_image(void)
{
	CU_ASSERT_EQUAL_FATAL(load(sizeof(im)), 0);
	CU_ASSERT_EQUAL(img.entry, ENTRY);
	CU_ASSERT_EQUAL(img.hypercall_page, HYPERCALL_PAGE);
	CU_ASSERT_EQUAL(img.lo, SEG_VADDR);
	CU_ASSERT_EQUAL(img.hi, SEG_VADDR + SEG_MEMSZ);
	CU_ASSERT(!memcmp(mem + SEG_VADDR, im.seg, SEG_FILESZ));
	for (uint64_t a = SEG_VADDR + SEG_FILESZ; a < SEG_VADDR + SEG_MEMSZ;
	     a++)
		if (mem[a]) {
			CU_FAIL("bss not zeroed");
			break;
		}
	/* Nothing outside the segment. */
	CU_ASSERT(!memcmp(mem, fill, SEG_VADDR));
	CU_ASSERT(!memcmp(mem + SEG_VADDR + SEG_MEMSZ, fill,
			  MEM_SIZE - SEG_VADDR - SEG_MEMSZ));
}

static void test_good_image_4byte_note(void)
{
	/* Xen also accepts a 32-bit descriptor. */
	im.nh.n_descsz = 4;
	im.ph[0].p_filesz -= 4;
	CU_ASSERT_EQUAL_FATAL(load(sizeof(im)), 0);
	CU_ASSERT_EQUAL(img.hypercall_page, HYPERCALL_PAGE);
}

/* A GNU note (descriptor padded to 4) before the Xen one. */
static void test_second_note_found(void)
{
	Elf64_Nhdr gnu = { 4, 3, NT_GNU_BUILD_ID };
	Elf64_Nhdr xen = { 4, 8, XEN_ELFNOTE_HYPERCALL_PAGE };
	uint64_t page = SEG_VADDR + 0x2000; /* in the bss */
	uint8_t *p = im.pad;

	memcpy(p, &gnu, sizeof(gnu));
	memcpy(p + 12, "GNU", 4);
	memcpy(p + 16, "\x01\x02\x03", 3);
	memcpy(p + 20, &xen, sizeof(xen));
	memcpy(p + 32, "Xen", 4);
	memcpy(p + 36, &page, 8);
	im.ph[0].p_type = PT_NULL;
	im.ph[2] = (Elf64_Phdr){ .p_type = PT_NOTE,
				 .p_offset = offsetof(struct test_image, pad),
				 .p_filesz = 44 };
	CU_ASSERT_EQUAL_FATAL(load(sizeof(im)), 0);
	CU_ASSERT_EQUAL(img.hypercall_page, page);
}

static void test_segment_ends_at_memory_end(void)
{
	im.ph[1].p_memsz = MEM_SIZE - SEG_VADDR;
	CU_ASSERT_EQUAL(load(sizeof(im)), 0);
	CU_ASSERT_EQUAL(img.hi, MEM_SIZE);
}

static void test_short_files(void)
{
	expect_fail_at(0, -EINVAL, __LINE__);
	expect_fail_at(1, -EINVAL, __LINE__);
	expect_fail_at(sizeof(Elf64_Ehdr) - 1, -EINVAL, __LINE__);
}

static void test_bad_header(void)
{
	im.eh.e_ident[EI_MAG1] = 'X';
	expect_fail(-EINVAL);
	build_image(&im);
	im.eh.e_ident[EI_CLASS] = ELFCLASS32;
	expect_fail(-EINVAL);
	build_image(&im);
	im.eh.e_ident[EI_DATA] = ELFDATA2MSB;
	expect_fail(-EINVAL);
	build_image(&im);
	im.eh.e_version = 2;
	expect_fail(-EINVAL);
	build_image(&im);
	im.eh.e_machine = EM_AARCH64;
	expect_fail(-EINVAL);
	build_image(&im);
	im.eh.e_type = ET_DYN;
	expect_fail(-EINVAL);
}

static void test_bad_program_header_table(void)
{
	im.eh.e_phentsize = sizeof(Elf64_Phdr) - 1;
	expect_fail(-EINVAL);
	im.eh.e_phentsize = sizeof(Elf64_Phdr) + 8;
	expect_fail(-EINVAL);
	build_image(&im);
	im.eh.e_phnum = 0;
	expect_fail(-EINVAL);
	im.eh.e_phnum = ELF_MAX_PHDRS + 1;
	expect_fail(-EINVAL);
	im.eh.e_phnum = 0xffff;
	expect_fail(-EINVAL);
	build_image(&im);
	im.eh.e_phoff = sizeof(im);
	expect_fail(-EINVAL);
	im.eh.e_phoff = sizeof(im) - sizeof(Elf64_Phdr);
	expect_fail(-EINVAL);
	im.eh.e_phoff = ~0ull - 10; /* phoff + phnum * size wraps */
	expect_fail(-EINVAL);
}

static void test_every_truncation_fails(void)
{
	size_t range = SEG_MEMSZ;

	for (size_t size = 0; size < sizeof(im); size++) {
		memset(mem + SEG_VADDR, MEM_FILL, range);
		memset(err, 0, sizeof(err));
		if (elf__load(&im, size, mem, MEM_SIZE, &img, err,
			      sizeof(err)) != -EINVAL ||
		    !err[0] || memcmp(mem + SEG_VADDR, fill, range)) {
			CU_FAIL("a truncated image was not refused cleanly");
			return;
		}
	}
	CU_PASS("all truncations refused");
}

static void test_segment_beyond_file(void)
{
	im.ph[1].p_offset = sizeof(im) - SEG_FILESZ + 1;
	expect_fail(-EINVAL);
	im.ph[1].p_offset = ~0ull - 4; /* offset + filesz wraps */
	expect_fail(-EINVAL);
	build_image(&im);
	im.ph[1].p_filesz = ~0ull;
	im.ph[1].p_memsz = ~0ull;
	expect_fail(-EINVAL);
	build_image(&im);
	im.ph[0].p_offset = ~0ull - 4; /* the note segment */
	expect_fail(-EINVAL);
}

static void test_bad_segment_addresses(void)
{
	im.ph[1].p_filesz = SEG_MEMSZ + 1;
	expect_fail(-EINVAL);
	build_image(&im);
	im.ph[1].p_paddr = SEG_VADDR + 0x1000;
	expect_fail(-EINVAL);
	build_image(&im);
	/* Below the guest area: the hv-private pages, start_info, zero. */
	im.ph[1].p_vaddr = im.ph[1].p_paddr = SEG_VADDR - 0x1000;
	im.eh.e_entry = im.desc = SEG_VADDR - 0x1000;
	expect_fail(-EINVAL);
	im.ph[1].p_vaddr = im.ph[1].p_paddr = PVFT_START_INFO_GPA;
	im.eh.e_entry = im.desc = PVFT_START_INFO_GPA;
	expect_fail(-EINVAL);
	im.ph[1].p_vaddr = im.ph[1].p_paddr = 0;
	im.eh.e_entry = im.desc = 0;
	expect_fail(-EINVAL);
	build_image(&im);
	/* vaddr + memsz wraps around 2^64. */
	im.ph[1].p_memsz = ~0ull - 0xfff;
	expect_fail(-EINVAL);
	build_image(&im);
	im.ph[1].p_vaddr = im.ph[1].p_paddr = ~0ull - 0xfff;
	im.eh.e_entry = im.desc = ~0ull - 0xfff;
	expect_fail(-EINVAL);
	build_image(&im);
	/* Above the largest domain, still no wrap: not a memory-size issue. */
	im.ph[1].p_vaddr = im.ph[1].p_paddr = PVFT_DOORBELL_GPA;
	im.eh.e_entry = im.desc = PVFT_DOORBELL_GPA;
	expect_fail(-EINVAL);
}

static void test_no_loadable_segment(void)
{
	im.ph[1].p_type = PT_NULL;
	expect_fail(-EINVAL);
	build_image(&im);
	im.ph[1].p_memsz = 0; /* an empty PT_LOAD loads nothing */
	im.ph[1].p_filesz = 0;
	expect_fail(-EINVAL);
}

static void test_segment_beyond_memory(void)
{
	im.ph[1].p_memsz = MEM_SIZE - SEG_VADDR + 1;
	expect_fail(-E2BIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "memory too small"));
	build_image(&im);
	im.ph[1].p_vaddr = im.ph[1].p_paddr = MEM_SIZE;
	im.eh.e_entry = im.desc = MEM_SIZE;
	expect_fail(-E2BIG);
}

static void test_bad_entry(void)
{
	im.eh.e_entry = SEG_VADDR + SEG_MEMSZ; /* one past the end */
	expect_fail(-EINVAL);
	im.eh.e_entry = SEG_VADDR - 1;
	expect_fail(-EINVAL);
	im.eh.e_entry = 0;
	expect_fail(-EINVAL);
	build_image(&im);
	im.ph[1].p_flags = PF_R | PF_W; /* entry in data */
	expect_fail(-EINVAL);
}

static void test_bad_hypercall_page(void)
{
	im.ph[0].p_type = PT_NULL; /* no note at all */
	expect_fail(-EINVAL);
	build_image(&im);
	im.nh.n_type = XEN_ELFNOTE_ENTRY; /* some other Xen note */
	expect_fail(-EINVAL);
	build_image(&im);
	memcpy(im.name, "Xeo", 4);
	expect_fail(-EINVAL);
	build_image(&im);
	im.desc = 0;
	expect_fail(-EINVAL);
	im.desc = HYPERCALL_PAGE + 0x800;
	expect_fail(-EINVAL);
	im.desc = HYPERCALL_PAGE + 1;
	expect_fail(-EINVAL);
	/* Aligned, in memory, but not in the segment. */
	im.desc = SEG_VADDR + SEG_MEMSZ;
	expect_fail(-EINVAL);
	im.desc = SEG_VADDR - PVFT_PAGE_SIZE;
	expect_fail(-EINVAL);
	/* Starts in the segment but its end does not fit. */
	build_image(&im);
	im.ph[1].p_memsz = 0x1800;
	im.desc = SEG_VADDR + 0x1000;
	expect_fail(-EINVAL);
	/* Wrap-around attempts. */
	im.desc = ~0ull & ~(PVFT_PAGE_SIZE - 1);
	expect_fail(-EINVAL);
	im.desc = 0xfffff000ull;
	expect_fail(-EINVAL);
	/* In a second segment that is not executable... */
	build_image(&im);
	im.ph[2] = (Elf64_Phdr){ .p_type = PT_LOAD,
				 .p_flags = PF_R | PF_W,
				 .p_vaddr = SEG_VADDR + 0x4000,
				 .p_paddr = SEG_VADDR + 0x4000,
				 .p_memsz = PVFT_PAGE_SIZE };
	im.desc = SEG_VADDR + 0x4000;
	expect_fail(-EINVAL);
	/* ...which is fine once it is executable. */
	im.ph[2].p_flags = PF_R | PF_X;
	CU_ASSERT_EQUAL(load(sizeof(im)), 0);
	CU_ASSERT_EQUAL(img.hi, SEG_VADDR + 0x5000);
	/* A descriptor neither 4 nor 8 bytes long. */
	build_image(&im);
	im.nh.n_descsz = 6;
	expect_fail(-EINVAL);
}

static void test_bad_notes(void)
{
	/* Shorter than a note header: no note found. */
	im.ph[0].p_filesz = sizeof(Elf64_Nhdr) - 4;
	expect_fail(-EINVAL);
	/* A header whose name runs past the segment. */
	im.ph[0].p_filesz = sizeof(Elf64_Nhdr) + 2;
	expect_fail(-EINVAL);
	build_image(&im);
	im.ph[0].p_filesz = sizeof(Elf64_Nhdr) + 4 + 4; /* desc cut */
	expect_fail(-EINVAL);
	/* Sizes chosen to overflow a 32-bit (or careless) sum. */
	build_image(&im);
	im.nh.n_namesz = 0xffffffff;
	expect_fail(-EINVAL);
	im.nh.n_namesz = 0xfffffffd;
	expect_fail(-EINVAL);
	build_image(&im);
	im.nh.n_descsz = 0xffffffff;
	expect_fail(-EINVAL);
	im.nh.n_descsz = 0xfffffff4;
	expect_fail(-EINVAL);
	im.nh.n_namesz = 0xfffffff4;
	expect_fail(-EINVAL);
	build_image(&im);
	im.ph[0].p_filesz = ~0ull; /* the note segment itself */
	expect_fail(-EINVAL);
}

static CU_TestInfo elf_tests[] = {
	{ "good image loads", test_good_image },
	{ "good image, 4-byte hypercall note", test_good_image_4byte_note },
	{ "Xen note after a GNU note", test_second_note_found },
	{ "segment ending at memory end", test_segment_ends_at_memory_end },
	{ "empty and short files", test_short_files },
	{ "bad ELF header", test_bad_header },
	{ "bad program header table", test_bad_program_header_table },
	{ "every truncation fails", test_every_truncation_fails },
	{ "segment beyond the file", test_segment_beyond_file },
	{ "bad segment addresses", test_bad_segment_addresses },
	{ "no loadable segment", test_no_loadable_segment },
	{ "segment beyond memory: -E2BIG", test_segment_beyond_memory },
	{ "entry outside executable segment", test_bad_entry },
	{ "bad hypercall page", test_bad_hypercall_page },
	{ "bad notes", test_bad_notes },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo elf_suites[] = {
	{ "elf", suite_init, suite_cleanup, setup, NULL, elf_tests },
	CU_SUITE_INFO_NULL,
};

void test_elf__register(void)
{
	CU_register_suites(elf_suites);
}
