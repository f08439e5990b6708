/* SPDX-License-Identifier: MIT */
/*
 * The device model, in kvmtool's manner: every device of a domain (the
 * event channels, the timer, the console, each vif; later xenstore, grant
 * tables, a block device) implements struct device_ops, and the layers
 * above (the exit boundary in deliver.c, the digests, the hypercall
 * dispatch, the control socket, main) iterate over the domain's devices
 * and never name one. Like QEMU's replay/ files, each source of
 * nondeterministic input is one device with one record type.
 *
 * Devices call down into the gate (gate.h: gate__put, gate__expect's
 * positions, gate__diverged, gate__output) and the scheduler; nothing
 * below the device layer calls a device except through these ops.
 *
 * Order: devices are kept sorted by level, then by registration, and
 * every iteration (deliveries, digests, save) goes in that order, so it
 * is the same on the primary and in every replay.
 *
 * Threads: every op runs on the vCPU thread, at an exit boundary (the
 * guest is stopped), except start/stop/dispose (main thread, before and
 * after the run) and status (the control thread: read-only, from state
 * the device keeps atomically).
 *
 * Adding a device: one file with its ops and a probe (devices.c's table),
 * plus its record type in logchan/logfmt.h if it takes input.
 */
#ifndef PVFT_HV_DEVICE_H
#define PVFT_HV_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct domain;
struct device;
struct digest_words;
struct logfmt_record;

/* Init levels, as kvmtool's: the order devices start and are walked in. */
enum device_level {
	DEVICE_LEVEL_CORE,    /* event channels */
	DEVICE_LEVEL_TIMER,   /* the one-shot timer */
	DEVICE_LEVEL_CONSOLE, /* the console */
	DEVICE_LEVEL_DEV,     /* vifs, later block devices */
	DEVICE_LEVEL_LATE,
};

#define DOMAIN_MAX_DEVICES 16
/* The largest state a device saves (DEVICE_SAVE_MAX bytes). */
#define DEVICE_SAVE_MAX 16384

/*
 * Where a device writes its status for the control socket (query-status):
 * key/value pairs into the device's own object. The control socket turns
 * them into JSON; the device knows nothing of JSON.
 */
struct status_out {
	void (*str)(struct status_out *o, const char *key, const char *v);
	void (*u64)(struct status_out *o, const char *key, uint64_t v);
	void *priv;
};

/*
 * What a blocked vCPU waits for on a device's behalf: an fd to poll (-1:
 * none) and a deadline in guest ns (0: none).
 */
struct device_wait {
	int fd;
	uint64_t deadline;
};

struct device_ops {
	const char *name;
	enum device_level level;
	/*
	 * The log record type this device's inputs travel as (0: it takes
	 * none). A replay hands each record of this type to ->replay.
	 */
	uint16_t record_type;
	/*
	 * query-status: devices with a status_key appear as an array of
	 * objects under that key ("vifs"), each filled by ->status.
	 */
	const char *status_key;

	/* Host side up (main thread, after the domain is built). 0/-errno. */
	int (*start)(struct domain *d, struct device *dev);
	/* Host side down: no thread of the device runs after it. */
	void (*stop)(struct domain *d, struct device *dev);
	void (*dispose)(struct domain *d, struct device *dev);

	/*
	 * Hypercalls the device serves: -ENOSYS when @nr (and for
	 * __HYPERVISOR_pvft_op, arg[0]) is not its own; else the result.
	 */
	long (*hypercall)(struct domain *d, struct device *dev, uint64_t nr,
			  const uint64_t *arg);
	/* At every exit, first: what the guest left for the device to send. */
	void (*output)(struct domain *d, struct device *dev);
	/*
	 * Live inputs due at this exit (and, recording, gate__put of each);
	 * called in NONE and RECORD modes.
	 */
	void (*deliver_live)(struct domain *d, struct device *dev);
	/*
	 * Replay: take @rec (of ->record_type, at this exit ordinal). 0: taken
	 * (the gate consumes it); -1: the device said gate__diverged().
	 */
	int (*replay)(struct domain *d, struct device *dev,
		      const struct logfmt_record *rec);
	/* After this exit's deliveries, live or replayed (push, notify). */
	void (*deliver_done)(struct domain *d, struct device *dev);
	/*
	 * A blocked vCPU: could this device still wake it, and what to wait
	 * on (->wait fills @w; fd -1 and deadline 0 when nothing).
	 */
	bool (*can_wake)(struct domain *d, struct device *dev);
	void (*wait)(struct domain *d, struct device *dev,
		     struct device_wait *w);
	/* The fd from ->wait polled as failed (POLLERR, POLLHUP). */
	void (*wait_failed)(struct domain *d, struct device *dev);
	/* A backup goes live: take over the host side's identity. */
	void (*go_live)(struct domain *d, struct device *dev);
	/*
	 * A primary's network frame, released under the output rule (the
	 * channel's thread): out through the host side; ->release_flush
	 * after each batch.
	 */
	void (*release)(struct device *dev, const void *frame, size_t len);
	void (*release_flush)(struct device *dev);
	/*
	 * The guest-visible state the device holds outside guest memory, for
	 * the state digests (digest.h): words at the slots named for it.
	 */
	void (*digest)(struct domain *d, struct device *dev,
		       struct digest_words *w);
	void (*status)(struct domain *d, struct device *dev,
		       struct status_out *o);
	/*
	 * Save/restore of the device's state (the next issue's checkpoint
	 * stream): ->save writes at most @cap bytes to @buf and returns how
	 * many, or -errno; ->restore takes exactly what ->save wrote (of
	 * this pvft version) into a device probed the same way, 0 or -errno
	 * (-EINVAL: not a state this device can hold).
	 */
	long (*save)(struct domain *d, struct device *dev, void *buf,
		     size_t cap);
	int (*restore)(struct domain *d, struct device *dev, const void *buf,
		       size_t len);
};

struct device {
	const struct device_ops *ops;
	void *priv;
	unsigned int index; /* among the domain's devices of these ops */
};

/* Add @dev (ops and priv set) to @d, in level order. 0 or -ENOSPC. */
int device__register(struct domain *d, struct device *dev);
/* Take @dev out of @d (its ops are not called). 0 or -ENOENT. */
int device__unregister(struct domain *d, struct device *dev);
/* The device taking records of @type, or NULL. */
struct device *device__for_record(struct domain *d, uint16_t type);
/* The first device with @ops, or NULL. */
struct device *device__find(struct domain *d, const struct device_ops *ops);

#define for_each_device(d, dev)                           \
	for (struct device **dev##_it = (d)->devices;     \
	     dev##_it < (d)->devices + (d)->nr_devices && \
	     ((dev) = *dev##_it, 1);                      \
	     dev##_it++)

/* Walks over every device (in order), for the ops that exist. */
int devices__start(struct domain *d);
void devices__stop(struct domain *d);
void devices__dispose(struct domain *d);
void devices__go_live(struct domain *d);
long devices__hypercall(struct domain *d, uint64_t nr, const uint64_t *arg);
/* chan_config.frame_out / frame_flush: @domain's device that sends frames. */
void devices__release(void *domain, const void *frame, size_t len);
void devices__release_flush(void *domain);

/*
 * Every device's state, one after another, each as a header (ops name,
 * index, length) and its bytes: what the checkpoint stream will carry.
 * devices__save returns the bytes written or -errno; devices__restore
 * refuses (-EINVAL) state for a device this domain does not have, a
 * device's state twice or not at all, or one a device refuses, and says
 * which. All or nothing: refused, every device is as it was before.
 */
long devices__save(struct domain *d, void *buf, size_t cap);
int devices__restore(struct domain *d, const void *buf, size_t len);

#endif /* PVFT_HV_DEVICE_H */
