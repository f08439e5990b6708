// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain.h"
#include "elf.h"
#include "layout.h"
#include "log.h"

#include <xxhash.h>

/*
 * Guest RAM is a memfd so that a second process (the ptrace backend's
 * guest process, later a migration helper) can map the same pages.
 * MAP_POPULATE prefaults it: a first touch costs the guest ~22 us here.
 */
int domain__init_memory(struct domain *d, uint64_t mem_size)
{
	void *p;

	int rc;

	d->mem_size = mem_size;
	d->mem_fd = memfd_create("pvft-guest-ram", MFD_CLOEXEC);
	if (d->mem_fd < 0)
		return -errno;
	if (ftruncate(d->mem_fd, mem_size) < 0)
		goto fail;
	p = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_POPULATE, d->mem_fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	d->mem = p;
	return 0;
fail:
	rc = -errno;
	close(d->mem_fd);
	d->mem_fd = -1;
	return rc;
}

static int read_file(const char *path, uint8_t **buf_r, size_t *size_r,
		     size_t max)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			goto out;
		}
		got += r;
	}
	*buf_r = buf;
	*size_r = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

int domain__image_hash(const char *path, size_t max, uint8_t hash_r[16])
{
	uint8_t *file = NULL;
	size_t size = 0;
	XXH128_hash_t hash;
	int rc;

	rc = read_file(path, &file, &size, max);
	if (rc)
		return rc;
	hash = XXH3_128bits(file, size);
	XXH128_canonicalFromHash((XXH128_canonical_t *)hash_r, hash);
	free(file);
	return 0;
}

int domain__load(struct domain *d, const char *kernel_path, const char *cmdline)
{
	struct elf_image img;
	XXH128_hash_t hash;
	uint8_t *file = NULL;
	size_t size = 0;
	char err[256];
	int rc;

	if (strlen(cmdline) >= sizeof(d->cmdline)) {
		pr_err("command line too long (%zu bytes, at most %zu)",
		       strlen(cmdline), sizeof(d->cmdline) - 1);
		return -E2BIG;
	}
	rc = read_file(kernel_path, &file, &size, d->mem_size);
	if (rc) {
		pr_err("cannot read guest image %s: %s", kernel_path,
		       rc == -EFBIG ? "larger than guest memory"
				    : strerror(-rc));
		return rc;
	}
	rc = elf__load(file, size, d->mem, d->mem_size, &img, err, sizeof(err));
	/* The image's identity in log headers: record and replay must match. */
	hash = XXH3_128bits(file, size);
	XXH128_canonicalFromHash((XXH128_canonical_t *)d->image_hash, hash);
	free(file);
	if (rc) {
		pr_err("bad guest image %s: %s", kernel_path, err);
		return rc;
	}
	d->entry = img.entry;
	d->hypercall_page = img.hypercall_page;
	snprintf(d->cmdline, sizeof(d->cmdline), "%s", cmdline);
	domain__init_pv_pages(d);
	return 0;
}

void domain__init_pv_pages(struct domain *d)
{
	layout__write_hypercall_page(d->mem, d->hypercall_page);
	layout__init_start_info(d->mem, d->mem_size, d->cmdline);
	layout__init_shared_info(d->mem);
	evtchn__init(&d->evtchn, domain__shared_info(d));
	/* Console input is announced on a port bound before boot. */
	evtchn__bind_hv(&d->evtchn, PVFT_CONSOLE_PORT);
}

void domain__shutdown(struct domain *d, int exit_status, enum domain_end cause)
{
	if (d->shut_down)
		return;
	d->shut_down = true;
	d->exit_status = exit_status;
	d->end_cause = cause;
}

void domain__dispose(struct domain *d)
{
	if (d->mem)
		munmap(d->mem, d->mem_size);
	if (d->mem_fd >= 0)
		close(d->mem_fd);
	d->mem = NULL;
	d->mem_fd = -1;
}
