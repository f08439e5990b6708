/* SPDX-License-Identifier: MIT */
/*
 * The kv guest's state and protocol (pvft/kv.h), as pure code: the
 * request/reply codec, the key table and the per-client exactly-once
 * table. No hypercalls and no allocation (the caller hands in memory), so
 * that the unit tests build this very file on the host.
 *
 * Keys: open addressing with linear probing over at least twice as many
 * slots as keys, FNV-1a hashes. A key is never removed: DEL drops its
 * value and keeps its write count, so a deleted key still takes a place
 * and the table holds at most max_keys distinct keys ever written (a PUT
 * of one more gets KV_FULL).
 *
 * Clients: a chained hash of at most max_clients entries, each with the
 * number of the client's last applied request and that request's reply.
 * When a new client arrives at a full table, the least recently heard-from
 * client is forgotten. Forgetting breaks exactly-once for that one client
 * only if it then retries its last request (which is applied again) or
 * sends an older one (applied instead of KV_STALE): it would have to stay
 * silent while max_clients other clients speak, which a client with a
 * request outstanding and retrying does not.
 */
#ifndef GUEST_KVSTORE_H
#define GUEST_KVSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pvft/kv.h"

#define KVSTORE_MAX_ENTRIES (1u << 24) /* for either table */

/* A parsed request; key and value point into the datagram. */
struct kv_request {
	uint8_t op;
	uint64_t client;
	uint64_t req;
	const uint8_t *key;
	uint16_t key_len;
	const uint8_t *val;
	uint16_t val_len;
};

/*
 * Parse the datagram @buf of @len bytes into @rq: 0 for a well-formed
 * request; -EBADMSG for one with a kv header (KV_REQ_HDR bytes, magic
 * and version) but bad contents, whose header fields are still filled in, to
 * be answered KV_BAD; -EILSEQ for anything else, which gets no answer.
 */
int kvstore__parse_request(const uint8_t *buf, size_t len,
			   struct kv_request *rq);
/* Write a reply at @buf (KV_REP_MAX bytes); returns its length. */
size_t kvstore__build_reply(uint8_t *buf, uint8_t op, uint64_t client,
			    uint64_t req, uint8_t status, uint64_t writes,
			    const uint8_t *val, uint16_t val_len);

struct kv_key {
	uint32_t hash;
	uint16_t key_len;
	uint16_t val_len;
	bool has_value; /* false: deleted (writes stays) */
	uint64_t writes;
	uint8_t key[KV_KEY_MAX];
	uint8_t val[KV_VAL_MAX];
};

struct kv_client {
	uint64_t id;
	uint64_t last_req; /* 0: none applied yet */
	uint32_t hnext;	   /* next in its hash chain */
	uint32_t lru_prev; /* towards the most recently heard from */
	uint32_t lru_next;
	uint16_t reply_len;
	uint8_t reply[KV_REP_MAX];
};

struct kvstore_stats {
	unsigned long requests;	 /* answered, all statuses */
	unsigned long applied;	 /* executed and cached */
	unsigned long retries;	 /* answered from the cache */
	unsigned long stale;	 /* KV_STALE */
	unsigned long bad;	 /* KV_BAD */
	unsigned long ignored;	 /* not kv datagrams: no answer */
	unsigned long evictions; /* clients forgotten */
};

struct kvstore {
	unsigned int max_keys;
	unsigned int nr_keys;
	uint32_t slot_mask;
	uint32_t *slots; /* KVSTORE_NIL or an index into keys */
	struct kv_key *keys;
	unsigned int max_clients;
	unsigned int nr_clients;
	uint32_t bucket_mask;
	uint32_t *buckets; /* chain heads: KVSTORE_NIL or an index */
	struct kv_client *clients;
	uint32_t lru_head; /* most recently heard from */
	uint32_t lru_tail; /* the next to be forgotten */
	struct kvstore_stats stats;
};

#define KVSTORE_NIL UINT32_MAX

/* Bytes of memory kvstore__init() needs; 0 if a limit is out of range. */
size_t kvstore__mem_size(unsigned int max_keys, unsigned int max_clients);
/*
 * Set up an empty store in @mem (8-byte aligned, @mem_size >=
 * kvstore__mem_size()); 0 or -EINVAL.
 */
int kvstore__init(struct kvstore *kv, void *mem, size_t mem_size,
		  unsigned int max_keys, unsigned int max_clients);

/*
 * Serve the datagram @buf of @len bytes: the reply goes to @rep (room for
 * KV_REP_MAX bytes) and its length is returned; 0: no reply is due.
 */
size_t kvstore__handle(struct kvstore *kv, const uint8_t *buf, size_t len,
		       uint8_t *rep);

/* FNV-1a, 32 bits. */
uint32_t kvstore__hash(const void *buf, size_t len);

#endif /* GUEST_KVSTORE_H */
