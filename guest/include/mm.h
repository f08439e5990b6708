/* SPDX-License-Identifier: MIT */
/*
 * The heap: first-fit over one free list, blocks 16-byte aligned.
 */
#ifndef GUEST_MM_H
#define GUEST_MM_H

#include <stddef.h>

#define MM_ALIGN 16

void init_mm(void);

void *malloc(size_t size);
void *calloc(size_t nmemb, size_t size);
void free(void *ptr);

#endif /* GUEST_MM_H */
