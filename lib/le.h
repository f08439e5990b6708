/* SPDX-License-Identifier: MIT */
/*
 * Little-endian fields of the wire formats (the log, the channel's move
 * blob, the migration stream), byte by byte: any alignment, any host.
 */
#ifndef PVFT_LIB_LE_H
#define PVFT_LIB_LE_H

#include <stdint.h>

static inline void le__put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le__put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le__put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t le__get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le__get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t le__get64(const uint8_t *p)
{
	return (uint64_t)le__get32(p) | (uint64_t)le__get32(p + 4) << 32;
}

#endif /* PVFT_LIB_LE_H */
