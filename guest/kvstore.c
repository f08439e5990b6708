// SPDX-License-Identifier: MIT
/*
 * The kv guest's store and exactly-once table; see kvstore.h and
 * pvft/kv.h. Built into the guest runtime and, for the unit tests
 * (tests/unit/test_kvstore.c), on the host.
 */
#if __STDC_HOSTED__
#include <errno.h>
#include <string.h>
#else
#include "errno.h"
#include "lib.h"
#endif

#include "kvstore.h"

#define FNV32_OFFSET 2166136261u
#define FNV32_PRIME 16777619u
#define ALIGN8(x) (((x) + 7) & ~(size_t)7)

uint32_t kvstore__hash(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t h = FNV32_OFFSET;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * FNV32_PRIME;
	return h;
}

int kvstore__parse_request(const uint8_t *buf, size_t len,
			   struct kv_request *rq)
{
	/* Another version may lay its header out differently: not ours. */
	if (len < KV_REQ_HDR || kv__get16(buf + KV_MAGIC_OFF) != KV_MAGIC ||
	    buf[KV_VERSION_OFF] != KV_VERSION)
		return -EILSEQ;
	rq->op = buf[KV_OP_OFF];
	rq->client = kv__get64(buf + KV_CLIENT_OFF);
	rq->req = kv__get64(buf + KV_REQ_OFF);
	rq->key_len = kv__get16(buf + KV_KEYLEN_OFF);
	rq->val_len = kv__get16(buf + KV_VALLEN_OFF);
	rq->key = buf + KV_REQ_HDR;
	rq->val = rq->key + rq->key_len;
	if (rq->req == 0)
		return -EBADMSG;
	if (rq->op != KV_PUT && rq->op != KV_GET && rq->op != KV_DEL)
		return -EBADMSG;
	if (rq->key_len == 0 || rq->key_len > KV_KEY_MAX ||
	    rq->val_len > KV_VAL_MAX || (rq->op != KV_PUT && rq->val_len))
		return -EBADMSG;
	/* The lengths are bounded above: this cannot overflow. */
	if (len != (size_t)KV_REQ_HDR + rq->key_len + rq->val_len)
		return -EBADMSG;
	return 0;
}

size_t kvstore__build_reply(uint8_t *buf, uint8_t op, uint64_t client,
			    uint64_t req, uint8_t status, uint64_t writes,
			    const uint8_t *val, uint16_t val_len)
{
	kv__put16(buf + KV_MAGIC_OFF, KV_MAGIC);
	buf[KV_VERSION_OFF] = KV_VERSION;
	buf[KV_OP_OFF] = op;
	kv__put64(buf + KV_CLIENT_OFF, client);
	kv__put64(buf + KV_REQ_OFF, req);
	buf[KV_STATUS_OFF] = status;
	buf[KV_STATUS_OFF + 1] = 0;
	kv__put16(buf + KV_RVALLEN_OFF, val_len);
	kv__put64(buf + KV_WRITES_OFF, writes);
	if (val_len)
		memcpy(buf + KV_REP_HDR, val, val_len);
	return KV_REP_HDR + (size_t)val_len;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* The sizes of the four arrays, in the order they sit in memory. */
struct layout {
	size_t slots, keys, buckets, clients;
};

static bool get_layout(unsigned int max_keys, unsigned int max_clients,
		       struct layout *l)
{
	if (max_keys < 1 || max_keys > KVSTORE_MAX_ENTRIES || max_clients < 1 ||
	    max_clients > KVSTORE_MAX_ENTRIES)
		return false;
	/* Every size is a multiple of 8, so every array stays aligned. */
	l->slots = ALIGN8(pow2_at_least(2 * max_keys) * sizeof(uint32_t));
	l->keys = ALIGN8(max_keys * sizeof(struct kv_key));
	l->buckets = ALIGN8(pow2_at_least(max_clients) * sizeof(uint32_t));
	l->clients = ALIGN8(max_clients * sizeof(struct kv_client));
	return true;
}

size_t kvstore__mem_size(unsigned int max_keys, unsigned int max_clients)
{
	struct layout l;

	if (!get_layout(max_keys, max_clients, &l))
		return 0;
	return l.slots + l.keys + l.buckets + l.clients;
}

int kvstore__init(struct kvstore *kv, void *mem, size_t mem_size,
		  unsigned int max_keys, unsigned int max_clients)
{
	struct layout l;
	char *p = mem;

	if (!get_layout(max_keys, max_clients, &l) || (uintptr_t)mem % 8 ||
	    mem_size < l.slots + l.keys + l.buckets + l.clients)
		return -EINVAL;
	memset(kv, 0, sizeof(*kv));
	kv->max_keys = max_keys;
	kv->slot_mask = pow2_at_least(2 * max_keys) - 1;
	kv->slots = (uint32_t *)p;
	p += l.slots;
	kv->keys = (struct kv_key *)p;
	p += l.keys;
	kv->max_clients = max_clients;
	kv->bucket_mask = pow2_at_least(max_clients) - 1;
	kv->buckets = (uint32_t *)p;
	p += l.buckets;
	kv->clients = (struct kv_client *)p;
	/* All-ones bytes: every slot and chain starts out KVSTORE_NIL. */
	memset(kv->slots, 0xff, l.slots);
	memset(kv->buckets, 0xff, l.buckets);
	kv->lru_head = KVSTORE_NIL;
	kv->lru_tail = KVSTORE_NIL;
	return 0;
}

/*
 * The slot holding @key, or the empty slot where it would go. One always
 * exists: there are twice as many slots as keys can ever be.
 */
static uint32_t *key_slot(struct kvstore *kv, const uint8_t *key,
			  uint16_t key_len, uint32_t hash)
{
	uint32_t i = hash & kv->slot_mask;

	for (;; i = (i + 1) & kv->slot_mask) {
		const struct kv_key *k;

		if (kv->slots[i] == KVSTORE_NIL)
			return &kv->slots[i];
		k = &kv->keys[kv->slots[i]];
		if (k->hash == hash && k->key_len == key_len &&
		    !memcmp(k->key, key, key_len))
			return &kv->slots[i];
	}
}

static uint32_t client_bucket(const struct kvstore *kv, uint64_t id)
{
	uint8_t b[8];

	kv__put64(b, id);
	return kvstore__hash(b, sizeof(b)) & kv->bucket_mask;
}

static void lru_unlink(struct kvstore *kv, uint32_t i)
{
	struct kv_client *c = &kv->clients[i];

	if (c->lru_prev != KVSTORE_NIL)
		kv->clients[c->lru_prev].lru_next = c->lru_next;
	else
		kv->lru_head = c->lru_next;
	if (c->lru_next != KVSTORE_NIL)
		kv->clients[c->lru_next].lru_prev = c->lru_prev;
	else
		kv->lru_tail = c->lru_prev;
}

static void lru_push_head(struct kvstore *kv, uint32_t i)
{
	struct kv_client *c = &kv->clients[i];

	c->lru_prev = KVSTORE_NIL;
	c->lru_next = kv->lru_head;
	if (kv->lru_head != KVSTORE_NIL)
		kv->clients[kv->lru_head].lru_prev = i;
	else
		kv->lru_tail = i;
	kv->lru_head = i;
}

static struct kv_client *client_find(struct kvstore *kv, uint64_t id)
{
	uint32_t i = kv->buckets[client_bucket(kv, id)];

	for (; i != KVSTORE_NIL; i = kv->clients[i].hnext) {
		if (kv->clients[i].id == id) {
			lru_unlink(kv, i);
			lru_push_head(kv, i);
			return &kv->clients[i];
		}
	}
	return NULL;
}

/* Forget the least recently heard-from client; its entry is returned. */
static uint32_t client_evict(struct kvstore *kv)
{
	uint32_t victim = kv->lru_tail;
	uint32_t *pp = &kv->buckets[client_bucket(kv, kv->clients[victim].id)];

	while (*pp != victim)
		pp = &kv->clients[*pp].hnext;
	*pp = kv->clients[victim].hnext;
	lru_unlink(kv, victim);
	kv->stats.evictions++;
	return victim;
}

static struct kv_client *client_new(struct kvstore *kv, uint64_t id)
{
	uint32_t i, b = client_bucket(kv, id);
	struct kv_client *c;

	i = kv->nr_clients < kv->max_clients ? kv->nr_clients++
					     : client_evict(kv);
	c = &kv->clients[i];
	c->id = id;
	c->last_req = 0;
	c->reply_len = 0;
	c->hnext = kv->buckets[b];
	kv->buckets[b] = i;
	lru_push_head(kv, i);
	return c;
}

/* Execute @rq; its reply goes to @rep. */
static size_t apply(struct kvstore *kv, const struct kv_request *rq,
		    uint8_t *rep)
{
	uint32_t hash = kvstore__hash(rq->key, rq->key_len);
	uint32_t *slot = key_slot(kv, rq->key, rq->key_len, hash);
	struct kv_key *k = *slot == KVSTORE_NIL ? NULL : &kv->keys[*slot];
	uint8_t status = KV_OK;

	switch (rq->op) {
	case KV_PUT:
		if (!k && kv->nr_keys == kv->max_keys) {
			status = KV_FULL;
			break;
		}
		if (!k) {
			*slot = kv->nr_keys++;
			k = &kv->keys[*slot];
			k->hash = hash;
			k->key_len = rq->key_len;
			memcpy(k->key, rq->key, rq->key_len);
			k->writes = 0;
		}
		memcpy(k->val, rq->val, rq->val_len);
		k->val_len = rq->val_len;
		k->has_value = true;
		k->writes++;
		break;
	case KV_GET:
		if (!k || !k->has_value)
			status = KV_NOT_FOUND;
		else
			return kvstore__build_reply(rep, rq->op, rq->client,
						    rq->req, KV_OK, k->writes,
						    k->val, k->val_len);
		break;
	case KV_DEL:
		if (!k || !k->has_value) {
			status = KV_NOT_FOUND;
			break;
		}
		k->has_value = false;
		k->val_len = 0;
		k->writes++;
		break;
	}
	return kvstore__build_reply(rep, rq->op, rq->client, rq->req, status,
				    k ? k->writes : 0, NULL, 0);
}

size_t kvstore__handle(struct kvstore *kv, const uint8_t *buf, size_t len,
		       uint8_t *rep)
{
	struct kv_request rq;
	struct kv_client *c;
	size_t rep_len;
	int rc;

	rc = kvstore__parse_request(buf, len, &rq);
	if (rc == -EILSEQ) {
		kv->stats.ignored++;
		return 0;
	}
	kv->stats.requests++;
	if (rc) {
		kv->stats.bad++;
		return kvstore__build_reply(rep, rq.op, rq.client, rq.req,
					    KV_BAD, 0, NULL, 0);
	}
	c = client_find(kv, rq.client);
	if (c && rq.req < c->last_req) {
		kv->stats.stale++;
		return kvstore__build_reply(rep, rq.op, rq.client, rq.req,
					    KV_STALE, 0, NULL, 0);
	}
	if (c && rq.req == c->last_req) {
		kv->stats.retries++;
		memcpy(rep, c->reply, c->reply_len);
		return c->reply_len;
	}
	if (!c)
		c = client_new(kv, rq.client);
	rep_len = apply(kv, &rq, rep);
	c->last_req = rq.req;
	c->reply_len = (uint16_t)rep_len;
	memcpy(c->reply, rep, rep_len);
	kv->stats.applied++;
	return rep_len;
}
