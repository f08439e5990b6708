/* SPDX-License-Identifier: MIT */
/*
 * The pvft PV ABI, version 1: what the hypervisor (hv/) and a guest
 * (guest/) agree on. Normative text: Documentation/pv-abi.md.
 *
 * Numbers and structures come from Xen's public headers; this file only
 * adds what pvft defines on top (memory layout, the doorbell, the
 * pvft-specific operation and the shutdown exit-code convention).
 */
#ifndef PVFT_ABI_H
#define PVFT_ABI_H

/* Use the current Xen interface, not the 3.0.0 compat numbering. */
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif
#define XEN_HAVE_PV_GUEST_ENTRY 1
#define XEN_HAVE_PV_UPCALL_MASK 1

#ifndef __ASSEMBLY__
#include <stdint.h>
#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/event_channel.h>
#include <xen/version.h>
#include <xen/elfnote.h>
#endif

#define PVFT_ABI_VERSION 1
/* start_info.magic: "<abi>-<version>-<platform>", as Xen's "xen-3.0-x86_64". */
#define PVFT_START_INFO_MAGIC "pvft-1-x86_64"

/* XENVER_version's answer: pvft 1.0 as Xen's (major << 16 | minor). */
#define PVFT_XEN_VERSION 0x00010000

#define PVFT_PAGE_SIZE 4096UL

/*
 * Guest-physical layout (identity-mapped: virtual == physical).
 *   [0, 0x10000)                 hv-private (not reachable from ring 3)
 *   PVFT_START_INFO_GPA          start_info, read-only for the guest
 *   PVFT_SHARED_INFO_GPA         shared_info, read-write
 *   [PVFT_GUEST_MIN_ADDR, memory) the guest image, then free memory
 *   PVFT_DOORBELL_GPA            one unbacked page: a write traps to the hv
 */
#define PVFT_START_INFO_GPA 0x10000UL
#define PVFT_SHARED_INFO_GPA 0x11000UL
#define PVFT_GUEST_MIN_ADDR 0x100000UL
#define PVFT_DOORBELL_GPA 0xC0000000UL
#define PVFT_MIN_MEMORY_MIB 2
#define PVFT_MAX_MEMORY_MIB 3072 /* must stay below the doorbell */

/*
 * The hypercall page (announced by the guest with XEN_ELFNOTE_HYPERCALL_PAGE,
 * filled by the hv): 128 stubs of 32 bytes, stub N at page + 32 * N:
 *   mov $N, %eax ; movabs %eax, PVFT_DOORBELL_GPA ; ret
 * Arguments follow Xen's x86-64 convention (rdi, rsi, rdx, r10, r8), the
 * result comes back in rax. Only these stubs may write the doorbell.
 */
#define PVFT_HYPERCALL_STUB_SIZE 32
#define PVFT_HYPERCALL_NR_STUBS 128
#define PVFT_STUB_DOORBELL_OFF 5 /* offset of the doorbell write in a stub */
#define PVFT_STUB_DOORBELL_LEN 9 /* length of that instruction */

/*
 * The pvft-specific operation lives in Xen's first arch-specific number.
 * HYPERVISOR_pvft_op(cmd, a1, a2):
 *   PVFTOP_time      a1 = clock (PVFT_CLOCK_*); returns ns (>= 0) or -errno
 *   PVFTOP_random    a1 = buffer, a2 = length <= PVFT_RANDOM_MAX; returns 0
 *   PVFTOP_unique_id a1 = uint64_t *out, a domain-unique 64-bit id; returns 0
 * Their results are the guest's only source of time, randomness and ids.
 */
#define __HYPERVISOR_pvft_op __HYPERVISOR_arch_0
#define PVFTOP_time 0
#define PVFTOP_random 1
#define PVFTOP_unique_id 2
#define PVFTOP_vif_info 3
#define PVFTOP_vif_connect 4
#define PVFT_CLOCK_MONOTONIC 0 /* ns since the domain booted */
#define PVFT_CLOCK_WALL 1      /* ns since the UNIX epoch */
#define PVFT_RANDOM_MAX 4096

/*
 * SCHEDOP_shutdown reasons: Xen's SHUTDOWN_poweroff (exit status 0) and
 * SHUTDOWN_crash, plus pvft's "power off with exit status N".
 */
#define PVFT_SHUTDOWN_EXIT_BASE 0x100
#define PVFT_SHUTDOWN_EXIT(code) (PVFT_SHUTDOWN_EXIT_BASE | ((code)&0xff))

/*
 * set_trap_table: handlers for exception vectors [0, PVFT_NR_TRAPS), at
 * most PVFT_TRAP_TABLE_MAX entries before the terminating address 0. A
 * fault on a vector with a handler enters it in ring 3 (pv-abi.md 6).
 */
#define PVFT_NR_TRAPS 32
#define PVFT_TRAP_TABLE_MAX 256
/* Below the faulting rsp, the handler's stack starts past this gap. */
#define PVFT_TRAP_STACK_GAP 256

/* Event channel port the hv binds to console input (start_info.console). */
#define PVFT_CONSOLE_PORT 1
/* Ports a domain may use: [1, PVFT_NR_EVTCHN). */
#define PVFT_NR_EVTCHN 1024
#define PVFT_CONSOLE_IO_MAX 4096 /* longest CONSOLEIO_write/read */

/*
 * Virtual network interfaces (pv-abi.md section 8): Xen's netif rings
 * (xen/io/netif.h, xen/io/ring.h), one page each, and an event channel.
 * pvft stands in for xenstore and the grant table with two operations:
 *   PVFTOP_vif_info     a1 = vif index, a2 = struct pvft_vif_info *:
 *                       0, or -ENODEV (no such vif)
 *   PVFTOP_vif_connect  a1 = vif index, a2 = const struct pvft_vif_connect *:
 *                       0, or -ENODEV, -EFAULT (a ring ref outside guest
 *                       memory), -EINVAL (port not alloc_unbound for
 *                       domain 0, or flags), -EBUSY (already connected)
 * A grant reference (ring refs, netif requests' gref) is a guest frame
 * number: guest-physical address >> 12, a page inside [1 MiB, memory).
 * The hv consumes tx requests and fills posted rx requests at every exit
 * (a notify is only a way to cause one sooner); frames are single-slot
 * Ethernet frames of PVFT_NET_FRAME_MIN..PVFT_NET_FRAME_MAX bytes.
 */
#define PVFT_MAX_VIFS 1
#define PVFT_NET_MTU 1500
#define PVFT_NET_FRAME_MIN 14	/* an Ethernet header */
#define PVFT_NET_FRAME_MAX 1514 /* header + MTU, no FCS */
#ifndef __ASSEMBLY__
struct pvft_vif_info {
	uint8_t mac[6];
	uint16_t mtu;
	uint32_t flags; /* 0 */
	uint32_t pad;
};
struct pvft_vif_connect {
	uint64_t tx_ring_ref; /* a netif_tx_sring page */
	uint64_t rx_ring_ref; /* a netif_rx_sring page */
	uint32_t evtchn;      /* a port from EVTCHNOP_alloc_unbound, remote 0 */
	uint32_t flags;	      /* 0 */
};
#endif

#endif /* PVFT_ABI_H */
