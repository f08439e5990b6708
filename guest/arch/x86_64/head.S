/* SPDX-License-Identifier: MIT */
/*
 * Guest entry, the hypercall page, the boot stack and the Xen ELF notes
 * that tell the hv where the hypercall page is.
 *
 * The hv enters _start in ring 3 with %rsi = &start_info, %rsp = 0 and
 * everything else zero. It loads PT_LOAD segments as Xen's domain builder
 * does, zero-filling up to p_memsz, so .bss needs no clearing here.
 */
#include <xen/elfnote.h>

/* pvft/abi.h is C-only; these must match PVFT_PAGE_SIZE there. */
#define PAGE_SIZE	4096
#define STACK_SIZE	(64 * 1024)

/*
 * A Xen ELF note, as Linux's include/linux/elfnote.h and Mini-OS emit them:
 * namesz, descsz, type, name, desc, each padded to 4 bytes.
 */
#define ELFNOTE(name, type, desc)		\
	.pushsection .note.name, "a", @note;	\
	.balign 4;				\
	.long 2f - 1f;				\
	.long 4f - 3f;				\
	.long type;				\
1:	.asciz #name;				\
2:	.balign 4;				\
3:	desc;					\
4:	.balign 4;				\
	.popsection

ELFNOTE(Xen, XEN_ELFNOTE_GUEST_OS, .asciz "pvft-mini")
ELFNOTE(Xen, XEN_ELFNOTE_XEN_VERSION, .asciz "pvft-1")
ELFNOTE(Xen, XEN_ELFNOTE_HYPERCALL_PAGE, .quad hypercall_page)

/*
 * The hv overwrites this page with its stubs before the guest runs. The
 * int3 filling makes a call into an unfilled page trap at once rather
 * than slide into whatever follows.
 */
	.section .text.hypercall_page, "ax", @progbits
	.balign PAGE_SIZE
	.globl hypercall_page
	.type hypercall_page, @object
hypercall_page:
	.fill PAGE_SIZE, 1, 0xcc
	.size hypercall_page, PAGE_SIZE

	.section .text.head, "ax", @progbits
	.globl _start
	.type _start, @function
_start:
	/*
	 * Keep the vector state the hv handed over, before any code can
	 * change it: it is part of the entry state (pv-abi.md section 2)
	 * and must be the same on every backend and every run.
	 */
	leaq	entry_fpu(%rip), %rax
	movdqu	%xmm0, 0x00(%rax)
	movdqu	%xmm1, 0x10(%rax)
	movdqu	%xmm2, 0x20(%rax)
	movdqu	%xmm3, 0x30(%rax)
	movdqu	%xmm4, 0x40(%rax)
	movdqu	%xmm5, 0x50(%rax)
	movdqu	%xmm6, 0x60(%rax)
	movdqu	%xmm7, 0x70(%rax)
	movdqu	%xmm8, 0x80(%rax)
	movdqu	%xmm9, 0x90(%rax)
	movdqu	%xmm10, 0xa0(%rax)
	movdqu	%xmm11, 0xb0(%rax)
	movdqu	%xmm12, 0xc0(%rax)
	movdqu	%xmm13, 0xd0(%rax)
	movdqu	%xmm14, 0xe0(%rax)
	movdqu	%xmm15, 0xf0(%rax)
	stmxcsr	0x100(%rax)
	fnstcw	0x104(%rax)
	leaq	boot_stack_top(%rip), %rsp
	xorl	%ebp, %ebp		/* ends frame-pointer backtraces */
	movq	%rsi, %rdi
	call	start_kernel
	ud2				/* start_kernel never returns */
	.size _start, . - _start

	.section .bss.entry_fpu, "aw", @nobits
	.balign 16
	.globl entry_fpu
	.type entry_fpu, @object
entry_fpu:				/* struct entry_fpu, hypervisor.h */
	.skip 0x110
	.size entry_fpu, . - entry_fpu

	.section .bss.boot_stack, "aw", @nobits
	.balign 16			/* the SysV ABI's alignment at a call */
boot_stack:
	.skip STACK_SIZE
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
