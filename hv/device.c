// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "domain.h"
#include "log.h"

int device__register(struct domain *d, struct device *dev)
{
	unsigned int i, same = 0;

	if (d->nr_devices >= DOMAIN_MAX_DEVICES)
		return -ENOSPC;
	for (i = 0; i < d->nr_devices; i++)
		if (d->devices[i]->ops == dev->ops)
			same++;
	dev->index = same;
	/* After every device of its level or below: stable order. */
	for (i = d->nr_devices; i > 0; i--) {
		if (d->devices[i - 1]->ops->level <= dev->ops->level)
			break;
		d->devices[i] = d->devices[i - 1];
	}
	d->devices[i] = dev;
	d->nr_devices++;
	return 0;
}

struct device *device__for_record(struct domain *d, uint16_t type)
{
	struct device *dev;

	for_each_device(d, dev) if (dev->ops->record_type == type) return dev;
	return NULL;
}

struct device *device__find(struct domain *d, const struct device_ops *ops)
{
	struct device *dev;

	for_each_device(d, dev) if (dev->ops == ops) return dev;
	return NULL;
}

int devices__start(struct domain *d)
{
	struct device *dev;
	int rc;

	for_each_device(d, dev)
	{
		if (!dev->ops->start)
			continue;
		rc = dev->ops->start(d, dev);
		if (rc)
			return rc;
	}
	return 0;
}

void devices__stop(struct domain *d)
{
	/* The reverse of the start order. */
	for (unsigned int i = d->nr_devices; i > 0; i--) {
		struct device *dev = d->devices[i - 1];

		if (dev->ops->stop)
			dev->ops->stop(d, dev);
	}
}

void devices__dispose(struct domain *d)
{
	for (unsigned int i = d->nr_devices; i > 0; i--) {
		struct device *dev = d->devices[i - 1];

		if (dev->ops->dispose)
			dev->ops->dispose(d, dev);
	}
	d->nr_devices = 0;
}

void devices__go_live(struct domain *d)
{
	struct device *dev;

	for_each_device(d, dev) if (dev->ops->go_live)
	    dev->ops->go_live(d, dev);
}

long devices__hypercall(struct domain *d, uint64_t nr, const uint64_t *arg)
{
	struct device *dev;
	long ret;

	for_each_device(d, dev)
	{
		if (!dev->ops->hypercall)
			continue;
		ret = dev->ops->hypercall(d, dev, nr, arg);
		if (ret != -ENOSYS)
			return ret;
	}
	return -ENOSYS;
}

/* ---- save / restore ------------------------------------------------------ */

/* Each device's state is framed so: a header, then len bytes, 8-aligned. */
struct device_state_hdr {
	char name[16];
	uint32_t index;
	uint32_t len;
};

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

long devices__save(struct domain *d, void *buf, size_t cap)
{
	uint8_t *p = buf;
	size_t off = 0;
	struct device *dev;

	for_each_device(d, dev)
	{
		struct device_state_hdr h = { .index = dev->index };
		long n;

		if (!dev->ops->save)
			continue;
		if (cap - off < sizeof(h))
			return -ENOSPC;
		strncpy(h.name, dev->ops->name, sizeof(h.name) - 1);
		n = dev->ops->save(d, dev, p + off + sizeof(h),
				   cap - off - sizeof(h));
		if (n < 0)
			return n;
		h.len = n;
		memcpy(p + off, &h, sizeof(h));
		off += sizeof(h) + n;
		if (ALIGN8(off) > cap)
			return -ENOSPC;
		memset(p + off, 0, ALIGN8(off) - off);
		off = ALIGN8(off);
	}
	return off;
}

static struct device *by_name(struct domain *d, const char *name,
			      uint32_t index)
{
	struct device *dev;

	for_each_device(d, dev) if (!strcmp(dev->ops->name, name) &&
				    dev->index == index) return dev;
	return NULL;
}

static int restore_all(struct domain *d, const void *buf, size_t len)
{
	bool seen[DOMAIN_MAX_DEVICES] = { false };
	const uint8_t *p = buf;
	size_t off = 0;
	int rc;

	while (off < len) {
		struct device_state_hdr h;
		struct device *dev;
		unsigned int k;

		if (len - off < sizeof(h)) {
			pr_err("restore: device state truncated at byte %zu",
			       off);
			return -EINVAL;
		}
		memcpy(&h, p + off, sizeof(h));
		off += sizeof(h);
		if (memchr(h.name, '\0', sizeof(h.name)) == NULL ||
		    h.len > len - off) {
			pr_err("restore: a bad device state header at byte "
			       "%zu",
			       off - sizeof(h));
			return -EINVAL;
		}
		dev = by_name(d, h.name, h.index);
		if (!dev || !dev->ops->restore) {
			pr_err("restore: state for device %s %u, which this "
			       "domain does not have",
			       h.name, h.index);
			return -EINVAL;
		}
		for (k = 0; d->devices[k] != dev; k++)
			;
		if (seen[k]) {
			pr_err("restore: device %s %u's state comes twice",
			       h.name, h.index);
			return -EINVAL;
		}
		seen[k] = true;
		rc = dev->ops->restore(d, dev, p + off, h.len);
		if (rc) {
			pr_err("restore: device %s %u refused its state: %s",
			       h.name, h.index, strerror(-rc));
			return rc;
		}
		off = ALIGN8(off + h.len);
	}
	/* Every device that has a state gets its own: none is left as is. */
	for (unsigned int k = 0; k < d->nr_devices; k++)
		if (d->devices[k]->ops->save && !seen[k]) {
			pr_err("restore: no state for device %s %u",
			       d->devices[k]->ops->name, d->devices[k]->index);
			return -EINVAL;
		}
	return 0;
}

/*
 * All or nothing: the state before is kept, and put back when any part of
 * the new one is refused.
 */
int devices__restore(struct domain *d, const void *buf, size_t len)
{
	size_t cap = (size_t)(d->nr_devices + 1) * (DEVICE_SAVE_MAX + 64);
	uint8_t *before = malloc(cap);
	long n;
	int rc;

	if (!before)
		return -ENOMEM;
	n = devices__save(d, before, cap);
	if (n < 0) {
		free(before);
		return n;
	}
	rc = restore_all(d, buf, len);
	if (rc && restore_all(d, before, n))
		pr_err("restore: the devices' state before could not be put "
		       "back");
	free(before);
	return rc;
}

/* The frame's device: the vif (one per domain: PVFT_MAX_VIFS). */
static struct device *releaser(struct domain *d)
{
	struct device *dev;

	for_each_device(d, dev) if (dev->ops->release) return dev;
	return NULL;
}

void devices__release(void *domain, const void *frame, size_t len)
{
	struct device *dev = releaser(domain);

	if (dev)
		dev->ops->release(dev, frame, len);
}

void devices__release_flush(void *domain)
{
	struct device *dev = releaser(domain);

	if (dev)
		dev->ops->release_flush(dev);
}

int device__unregister(struct domain *d, struct device *dev)
{
	for (unsigned int i = 0; i < d->nr_devices; i++) {
		if (d->devices[i] != dev)
			continue;
		memmove(&d->devices[i], &d->devices[i + 1],
			(d->nr_devices - i - 1) * sizeof(d->devices[0]));
		d->nr_devices--;
		return 0;
	}
	return -ENOENT;
}
