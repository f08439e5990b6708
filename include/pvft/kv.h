/* SPDX-License-Identifier: MIT */
/*
 * The kv guest's UDP protocol, version 1: what guest/apps/kv.c serves and
 * pvft-kv-client speaks. Normative text: Documentation/kv-protocol.md.
 *
 * One request per datagram, one reply per request, little-endian, no
 * padding (every field is at the offset the KV_*_OFF constants give).
 *
 *   request  magic u16 | version u8 | op u8 | client u64 | req u64 |
 *            key_len u16 | val_len u16 | key | value
 *   reply    magic u16 | version u8 | op u8 | client u64 | req u64 |
 *            status u8 | 0 u8 | val_len u16 | writes u64 | value
 *
 * Exactly once: a client numbers its requests 1, 2, 3, ... and has at most
 * one outstanding; it retries a request with the same number until it is
 * answered. The service keeps, per client, the number of the last request
 * it applied and that request's reply: a retry of it gets the same reply
 * again and is not applied again; an older number gets KV_STALE. Writes
 * (PUT, DEL) to a key count up its @writes, which GET reports: a write
 * applied twice shows as one write too many.
 */
#ifndef PVFT_KV_H
#define PVFT_KV_H

#define KV_DEFAULT_PORT 7000
#define KV_MAGIC 0x564bu /* "KV" as its two bytes on the wire */
#define KV_VERSION 1

enum kv_op {
	KV_PUT = 1, /* key := value; reply: writes after it */
	KV_GET = 2, /* reply: value and writes (KV_NOT_FOUND: never/deleted) */
	KV_DEL = 3, /* key deleted (a write: counts up writes) */
};

enum kv_status {
	KV_OK = 0,
	KV_NOT_FOUND = 1, /* GET or DEL of a key that holds no value */
	KV_STALE = 2,	  /* request number below the client's last one */
	KV_BAD = 3,	  /* malformed request (never cached) */
	KV_FULL = 4,	  /* no room for another key */
};

#define KV_KEY_MAX 64
#define KV_VAL_MAX 512

#define KV_REQ_HDR 24 /* bytes before the key */
#define KV_REP_HDR 32 /* bytes before the value */

/* Field offsets, request. */
#define KV_MAGIC_OFF 0
#define KV_VERSION_OFF 2
#define KV_OP_OFF 3
#define KV_CLIENT_OFF 4
#define KV_REQ_OFF 12
#define KV_KEYLEN_OFF 20
#define KV_VALLEN_OFF 22
/* Field offsets, reply (the first five are the request's). */
#define KV_STATUS_OFF 20
#define KV_RVALLEN_OFF 22
#define KV_WRITES_OFF 24

#define KV_REQ_MAX (KV_REQ_HDR + KV_KEY_MAX + KV_VAL_MAX)
#define KV_REP_MAX (KV_REP_HDR + KV_VAL_MAX)

#include <stdint.h>

/* The wire's little-endian fields, whatever the host is. */
static inline uint16_t kv__get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint64_t kv__get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline void kv__put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void kv__put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#endif /* PVFT_KV_H */
