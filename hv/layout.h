/* SPDX-License-Identifier: MIT */
/*
 * What the hv writes into guest memory before the first instruction:
 * the PV pages every backend needs (start_info, shared_info, the hypercall
 * page) and, for the KVM backend, the x86 machinery that puts the vCPU in
 * 64-bit ring 3 (page tables, GDT, TSS, IDT and the ring-0 fault stub).
 *
 * hv-private pages, never reachable from ring 3 (supervisor mappings):
 */
#ifndef PVFT_HV_LAYOUT_H
#define PVFT_HV_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "pvft/abi.h"

#define LAYOUT_GDT_GPA 0x1000UL
#define LAYOUT_TSS_GPA 0x2000UL
#define LAYOUT_IDT_GPA 0x3000UL
#define LAYOUT_STUB_GPA 0x4000UL     /* ring-0 fault entry points */
#define LAYOUT_R0_STACK_GPA 0x5000UL /* one page; rsp0 is its top */
#define LAYOUT_PML4_GPA 0x8000UL
#define LAYOUT_PDPT_GPA 0x9000UL
#define LAYOUT_PD_GPA 0xA000UL	    /* 4 pages: 4 GiB of 2 MiB entries */
#define LAYOUT_PT_LOW_GPA 0xE000UL  /* 4 KiB entries for [0, 2 MiB) */
#define LAYOUT_PT_DOOR_GPA 0xF000UL /* the doorbell page */

/* Selectors: Linux-like, with user data below user code (DESIGN.md 6). */
#define LAYOUT_SEL_KCODE 0x08
#define LAYOUT_SEL_KDATA 0x10
#define LAYOUT_SEL_UDATA 0x23
#define LAYOUT_SEL_UCODE 0x2b
#define LAYOUT_SEL_TSS 0x30
#define LAYOUT_GDT_ENTRIES 8

/* The ring-0 stub reports a fault by writing here (hypercalls use +0). */
#define LAYOUT_FAULT_DOORBELL (PVFT_DOORBELL_GPA + 8)
#define LAYOUT_STUB_ENTRY_SIZE 16
#define LAYOUT_NR_VECTORS 32
/*
 * Where MSR_LSTAR points, past the stubs (int3 filler): a guest "syscall"
 * must #UD (EFER.SCE is clear), but kvm_pvm jumps to MSR_LSTAR regardless,
 * staying in ring 3. This page being supervisor-only, the jump faults at
 * once (#PF at this rip), and the KVM backend reports a #UD at the syscall.
 */
#define LAYOUT_SYSCALL_ENTRY (LAYOUT_STUB_GPA + 0x800)

/* A fault as the ring-0 stub leaves it on the ring-0 stack. */
struct layout_fault_frame {
	uint64_t vector;
	uint64_t error_code;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};

void layout__write_hypercall_page(uint8_t *mem, uint64_t gpa);
/* True if @rip is the doorbell write of a stub in the page at @page. */
int layout__stub_at(uint64_t page, uint64_t rip);
void layout__init_start_info(uint8_t *mem, uint64_t mem_size,
			     const char *cmdline);
void layout__init_shared_info(uint8_t *mem);
/* The x86 structures of the KVM backend; @mem_size is a 2 MiB multiple. */
void layout__build_x86(uint8_t *mem, uint64_t mem_size);

const char *layout__vector_name(unsigned int vector);
/* Does the CPU push an error code for exception @vector? */
bool layout__has_error_code(unsigned int vector);

#endif /* PVFT_HV_LAYOUT_H */
