// SPDX-License-Identifier: MIT
/*
 * The heap: first-fit over a free list kept in address order, so that
 * free() can merge a block with both neighbours. The heap spans
 * [_end, end of memory - MM_RESERVED_TOP).
 */
#include "hypervisor.h"
#include "lib.h"
#include "mm.h"

/*
 * The top of memory stays out of the heap, kept for page-granular buffers
 * (shared rings) that device front-ends place themselves.
 */
#define MM_RESERVED_TOP (1UL << 20)
/* In an allocated block's header, where a free one keeps its link. */
#define MM_MAGIC_USED ((struct chunk *)0x5553454455534544UL)

/* A block's header; payloads follow it and stay MM_ALIGN-aligned. */
struct chunk {
	size_t size;	    /* bytes, header included, a multiple of MM_ALIGN */
	struct chunk *next; /* free: next free block by address; used: magic */
};

_Static_assert(sizeof(struct chunk) == MM_ALIGN, "header keeps alignment");

#define MM_MIN_CHUNK (2 * sizeof(struct chunk))

extern char _end[];

static struct chunk *free_list;
static size_t heap_size; /* bounds a request before any arithmetic */

void init_mm(void)
{
	uintptr_t start = ALIGN_UP((uintptr_t)_end, MM_ALIGN);
	uintptr_t end = start_info.nr_pages * PVFT_PAGE_SIZE;

	if (end < MM_RESERVED_TOP ||
	    end - MM_RESERVED_TOP <= start + MM_MIN_CHUNK)
		return; /* too little memory: every malloc() fails */
	end = (end - MM_RESERVED_TOP) & ~(uintptr_t)(MM_ALIGN - 1);
	free_list = (struct chunk *)start;
	free_list->size = end - start;
	free_list->next = NULL;
	heap_size = end - start;
}

void *malloc(size_t size)
{
	struct chunk **pp, *c;
	size_t need;

	/* No overflow below: size is checked against the heap first. */
	if (size > heap_size)
		return NULL;
	need =
	    max(ALIGN_UP(size, MM_ALIGN) + sizeof(struct chunk), MM_MIN_CHUNK);
	for (pp = &free_list; (c = *pp); pp = &c->next) {
		if (c->size < need)
			continue;
		if (c->size - need >= MM_MIN_CHUNK) {
			/* Split: the tail stays free, in c's place. */
			struct chunk *rest = (struct chunk *)((char *)c + need);

			rest->size = c->size - need;
			rest->next = c->next;
			*pp = rest;
			c->size = need;
		} else {
			*pp = c->next;
		}
		c->next = MM_MAGIC_USED;
		return c + 1;
	}
	return NULL;
}

void *calloc(size_t nmemb, size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &total))
		return NULL;
	p = malloc(total);
	if (p)
		memset(p, 0, total);
	return p;
}

static bool adjacent(const struct chunk *a, const struct chunk *b)
{
	return (const char *)a + a->size == (const char *)b;
}

void free(void *ptr)
{
	struct chunk *c, *prev = NULL, *next;

	if (!ptr)
		return;
	c = (struct chunk *)ptr - 1;
	/* A double free or a wild pointer would corrupt the list silently. */
	if (c->next != MM_MAGIC_USED)
		panic("free(%p): not an allocated block", ptr);
	for (next = free_list; next && next < c; next = next->next)
		prev = next;
	c->next = next;
	if (next && adjacent(c, next)) {
		c->size += next->size;
		c->next = next->next;
	}
	if (prev && adjacent(prev, c)) {
		prev->size += c->size;
		prev->next = c->next;
	} else if (prev) {
		prev->next = c;
	} else {
		free_list = c;
	}
}
