/* SPDX-License-Identifier: MIT */
/*
 * struct domain: everything pvft-hv knows about the one domain it runs.
 *
 * Threads: the vCPU thread owns every field unless a comment says otherwise.
 * The I/O thread only touches the console input queue and the wake-up
 * eventfd, which are made for that (console.h, iothread.h).
 */
#ifndef PVFT_HV_DOMAIN_H
#define PVFT_HV_DOMAIN_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "pvft/abi.h"
#include "coninput.h"
#include "console.h"
#include "device.h"
#include "evtchn.h"
#include "gate.h"
#include "sched.h"

/*
 * pvft-hv exit statuses other than the guest's own exit code:
 * USAGE: bad option, config or guest image; HOST: the host failed us (KVM,
 * ptrace, memory); GUEST_FAULT: guest fault, bad exit, dead or stuck
 * domain; GUEST_CRASH: the guest said SHUTDOWN_crash.
 */
#define HV_EXIT_USAGE 2
#define HV_EXIT_HOST 3
#define HV_EXIT_GUEST_FAULT 4
#define HV_EXIT_GUEST_CRASH 5
/* Replay: the guest stopped matching its log (gate.h). */
#define HV_EXIT_DIVERGED 6
/* Record or replay: the log cannot be written, read or trusted. */
#define HV_EXIT_LOG 7
/* Live pair: the arbiter gave the pair to the other replica (halted). */
#define HV_EXIT_FENCED 8
/* Live pair: it could not form (peer unreachable, refused, mismatched). */
#define HV_EXIT_PAIR 9
/* Live pair: this primary handed the pair over to its backup (promote). */
#define HV_EXIT_HANDED_OVER 10

/*
 * The error convention: library code returns 0 or -errno and says why
 * where it knows; the domain's own outcome (its exit status, why it ended)
 * is domain state, set once by domain__shutdown(). Only main() turns a
 * failed set-up into pvft-hv's exit status, by the errno's kind:
 *   -EBADMSG       the log cannot be written, read or trusted (LOG)
 *   -ECONNREFUSED  the pair could not form (PAIR)
 *   -EINVAL        a bad option, config or image (USAGE)
 *   anything else  the host failed us (HOST)
 */

/* main()'s mapping of a failed set-up's -errno to its exit status. */
static inline int hv_exit_status(int err)
{
	switch (err) {
	case -EBADMSG:
		return HV_EXIT_LOG;
	case -ECONNREFUSED:
		return HV_EXIT_PAIR;
	case -EINVAL:
		return HV_EXIT_USAGE;
	default:
		return err < 0 ? HV_EXIT_HOST : err;
	}
}

/* Why a domain ended: recorded in the log's END record. */
enum domain_end {
	DOMAIN_END_SHUTDOWN, /* the guest shut down (any reason) */
	DOMAIN_END_FAULT,    /* guest fault, dead or stuck domain */
	DOMAIN_END_STOPPED,  /* a signal stopped pvft-hv */
	DOMAIN_END_HOST,     /* the host failed (backend, log) */
	DOMAIN_END_DIVERGED, /* replay only: the log and the guest differ */
	DOMAIN_END_FENCED,   /* live pair: the other replica won the arbiter */
	DOMAIN_END_HANDOVER, /* live pair: handed over to the backup */
	DOMAIN_END_MIGRATED, /* saved or moved: it goes on elsewhere */
};

struct vcpu_backend;
struct iothread;
struct control;

struct domain {
	const char *name;

	/* Guest RAM [0, mem_size), mapped here and backed by mem_fd. */
	uint8_t *mem;
	uint64_t mem_size;
	int mem_fd;

	/* From the image (elf.h). */
	uint64_t entry;
	uint64_t hypercall_page;
	uint8_t image_hash[16]; /* XXH3-128 of the image file */
	char cmdline[MAX_GUEST_CMDLINE];

	struct evtchn_table evtchn;
	struct sched sched;
	struct console console;
	struct gate gate;
	/* Console input from the host side (any thread: coninput.h). */
	struct console_input cin;

	/* Its devices, in level order (device.h), and the vifs' MACs. */
	struct device *devices[DOMAIN_MAX_DEVICES];
	unsigned int nr_devices;
	unsigned int nr_vifs;
	uint8_t vif_mac[PVFT_MAX_VIFS][6];

	/*
	 * While a live migration runs (hv/migrate.c): the pages pvft-hv
	 * wrote (guestmem__mark), one bit a page; NULL otherwise.
	 */
	uint64_t *hv_dirty;

	/*
	 * The exit ordinal: exits the guest caused synchronously by its own
	 * instructions (hypercalls, faults). Host-caused returns from the
	 * vCPU (kicks, signals) never count: DESIGN.md section 2.
	 * Written by the vCPU thread, read by the I/O thread's watchdog.
	 */
	uint64_t exits;
	uint64_t last_rip; /* guest RIP at the latest exit, for reports */
	/*
	 * The guest ran on after the latest exit (the vCPU came back kicked
	 * or failed): its state is no longer that exit's.
	 */
	bool ran_on;

	/*
	 * Guest fault handlers (set_trap_table), 0 for none. Once one has
	 * been entered the guest is dying: a further fault ends the domain.
	 */
	uint64_t trap_handler[PVFT_NR_TRAPS];
	bool in_trap_handler;

	/* Unique ids: a per-boot nonce and a counter (PVFTOP_unique_id). */
	uint32_t id_nonce;
	uint64_t id_counter;

	/* Set once the domain is over; exit_status is pvft-hv's. */
	bool shut_down;
	int exit_status;
	enum domain_end end_cause;
	/* Tests: let the guest read the TSC, as kvm_pvm does (DESIGN 6). */
	bool allow_rdtsc;

	const struct vcpu_backend *backend;
	void *backend_priv;
	struct iothread *io;
	/* Told how a handover asked for went: 0, or -1 and why. */
	void (*handover_done)(void *opaque, int rc, const char *why);
	void *handover_opaque;
};

/* Guest-physical address -> host pointer, no checks: see guestmem.h. */
static inline void *domain__gpa(struct domain *d, uint64_t gpa)
{
	return d->mem + gpa;
}

static inline struct shared_info *domain__shared_info(struct domain *d)
{
	return domain__gpa(d, PVFT_SHARED_INFO_GPA);
}

int domain__init_memory(struct domain *d, uint64_t mem_size);
/*
 * The image's identity in log headers (what domain__load() records), read
 * from @path without loading it: the backup checks a primary with it
 * before it builds its domain. 0 or -errno.
 */
int domain__image_hash(const char *path, size_t max, uint8_t hash_r[16]);
int domain__load(struct domain *d, const char *kernel_path,
		 const char *cmdline);
/* After entry and hypercall_page are set: the pages the hv provides. */
void domain__init_pv_pages(struct domain *d);
/* The first call wins: later ones do not change status or cause. */
void domain__shutdown(struct domain *d, int exit_status, enum domain_end cause);
void domain__dispose(struct domain *d);

#endif /* PVFT_HV_DOMAIN_H */
