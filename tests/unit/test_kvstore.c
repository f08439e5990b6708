// SPDX-License-Identifier: MIT
/*
 * The kv guest's store (guest/kvstore.c), built for the host: the wire
 * codec against pvft/kv.h's offsets, the exactly-once rules (a retry gets
 * the cached reply and is not applied again, an older number KV_STALE),
 * write counts through PUT and DEL, KV_FULL, client eviction, and every
 * truncation of a valid request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "kvstore.h"
#include "unit.h"

static struct kvstore kv;
static void *mem;
static uint8_t rep[KV_REP_MAX];
static size_t rep_len;

/* A request as a client would write it, by the header's offsets. */
static size_t request(uint8_t *m, uint8_t op, uint64_t client, uint64_t req,
		      const char *key, const char *val)
{
	size_t klen = strlen(key), vlen = val ? strlen(val) : 0;

	kv__put16(m + KV_MAGIC_OFF, KV_MAGIC);
	m[KV_VERSION_OFF] = KV_VERSION;
	m[KV_OP_OFF] = op;
	kv__put64(m + KV_CLIENT_OFF, client);
	kv__put64(m + KV_REQ_OFF, req);
	kv__put16(m + KV_KEYLEN_OFF, (uint16_t)klen);
	kv__put16(m + KV_VALLEN_OFF, (uint16_t)vlen);
	memcpy(m + KV_REQ_HDR, key, klen);
	if (vlen)
		memcpy(m + KV_REQ_HDR + klen, val, vlen);
	return KV_REQ_HDR + klen + vlen;
}

/* Serve @len bytes of @m from a buffer of exactly that size. */
static size_t handle_exact(const uint8_t *m, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
	memcpy(copy, m, len);
	rep_len = kvstore__handle(&kv, copy, len, rep);
	free(copy);
	return rep_len;
}

/* Send a request; the reply's status (-1: no reply). */
static int op(uint8_t o, uint64_t client, uint64_t req, const char *key,
	      const char *val)
{
	uint8_t m[KV_REQ_MAX];

	if (!handle_exact(m, request(m, o, client, req, key, val)))
		return -1;
	CU_ASSERT_TRUE(rep_len >= KV_REP_HDR);
	CU_ASSERT_EQUAL(rep_len, KV_REP_HDR + kv__get16(rep + KV_RVALLEN_OFF));
	CU_ASSERT_EQUAL(kv__get64(rep + KV_CLIENT_OFF), client);
	CU_ASSERT_EQUAL(kv__get64(rep + KV_REQ_OFF), req);
	return rep[KV_STATUS_OFF];
}

static uint64_t writes(void)
{
	return kv__get64(rep + KV_WRITES_OFF);
}

static void setup_store(unsigned int max_keys, unsigned int max_clients)
{
	size_t size = kvstore__mem_size(max_keys, max_clients);

	free(mem);
	mem = malloc(size);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
	CU_ASSERT_EQUAL_FATAL(
	    kvstore__init(&kv, mem, size, max_keys, max_clients), 0);
}

static void setup(void)
{
	setup_store(16, 4);
}

static void teardown(void)
{
	free(mem);
	mem = NULL;
}

static void test_hash(void)
{
	/* FNV-1a's published vectors. */
	CU_ASSERT_EQUAL(kvstore__hash("", 0), 0x811c9dc5u);
	CU_ASSERT_EQUAL(kvstore__hash("a", 1), 0xe40c292cu);
	CU_ASSERT_EQUAL(kvstore__hash("foobar", 6), 0xbf9cf968u);
}

static void test_codec(void)
{
	uint8_t m[KV_REQ_MAX], r[KV_REP_MAX];
	struct kv_request rq;
	size_t len = request(m, KV_PUT, 0x0102030405060708ull, 9, "key", "v");

	CU_ASSERT_EQUAL(len, KV_REQ_HDR + 4);
	/* Little-endian: "KV" are the magic's two bytes. */
	CU_ASSERT_EQUAL(m[0], 'K');
	CU_ASSERT_EQUAL(m[1], 'V');
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), 0);
	CU_ASSERT_EQUAL(rq.op, KV_PUT);
	CU_ASSERT_EQUAL(rq.client, 0x0102030405060708ull);
	CU_ASSERT_EQUAL(rq.req, 9);
	CU_ASSERT_EQUAL(rq.key_len, 3);
	CU_ASSERT_EQUAL(memcmp(rq.key, "key", 3), 0);
	CU_ASSERT_EQUAL(rq.val_len, 1);
	CU_ASSERT_EQUAL(rq.val[0], 'v');

	len = kvstore__build_reply(r, KV_GET, 0x0102030405060708ull, 9, KV_OK,
				   0x1122334455667788ull,
				   (const uint8_t *)"abc", 3);
	CU_ASSERT_EQUAL(len, KV_REP_HDR + 3);
	CU_ASSERT_EQUAL(kv__get16(r + KV_MAGIC_OFF), KV_MAGIC);
	CU_ASSERT_EQUAL(r[KV_VERSION_OFF], KV_VERSION);
	CU_ASSERT_EQUAL(r[KV_OP_OFF], KV_GET);
	CU_ASSERT_EQUAL(r[KV_CLIENT_OFF], 0x08);
	CU_ASSERT_EQUAL(r[KV_CLIENT_OFF + 7], 0x01);
	CU_ASSERT_EQUAL(kv__get64(r + KV_REQ_OFF), 9);
	CU_ASSERT_EQUAL(r[KV_STATUS_OFF], KV_OK);
	CU_ASSERT_EQUAL(r[KV_STATUS_OFF + 1], 0);
	CU_ASSERT_EQUAL(kv__get16(r + KV_RVALLEN_OFF), 3);
	CU_ASSERT_EQUAL(r[KV_WRITES_OFF], 0x88);
	CU_ASSERT_EQUAL(kv__get64(r + KV_WRITES_OFF), 0x1122334455667788ull);
	CU_ASSERT_EQUAL(memcmp(r + KV_REP_HDR, "abc", 3), 0);
}

static void test_parse_refuses(void)
{
	char longkey[KV_KEY_MAX + 2], longval[KV_VAL_MAX + 2];
	uint8_t m[KV_REQ_MAX + 4];
	struct kv_request rq;
	size_t len;

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	memset(longval, 'v', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';

	/* Not kv at all: no answer. */
	len = request(m, KV_GET, 1, 1, "k", NULL);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, KV_REQ_HDR - 1, &rq),
			-EILSEQ);
	m[KV_MAGIC_OFF] ^= 1;
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EILSEQ);
	len = request(m, KV_GET, 1, 1, "k", NULL);
	m[KV_VERSION_OFF] = KV_VERSION + 1;
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EILSEQ);

	/* kv, but wrong: KV_BAD, with the header still read. */
	len = request(m, 0, 5, 6, "k", NULL);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EBADMSG);
	CU_ASSERT_EQUAL(rq.client, 5);
	CU_ASSERT_EQUAL(rq.req, 6);
	len = request(m, KV_DEL + 1, 1, 1, "k", NULL);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EBADMSG);
	len = request(m, KV_GET, 1, 0, "k", NULL);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EBADMSG);
	len = request(m, KV_GET, 1, 1, "", NULL);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EBADMSG);
	len = request(m, KV_GET, 1, 1, longkey, NULL);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EBADMSG);
	len = request(m, KV_GET, 1, 1, longkey + 1, NULL);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), 0);
	len = request(m, KV_PUT, 1, 1, "k", longval);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EBADMSG);
	len = request(m, KV_PUT, 1, 1, "k", longval + 1);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), 0);
	len = request(m, KV_GET, 1, 1, "k", "v");
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EBADMSG);
	len = request(m, KV_DEL, 1, 1, "k", "v");
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EBADMSG);
	/* The datagram must be exactly header, key and value. */
	len = request(m, KV_PUT, 1, 1, "k", "v");
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len - 1, &rq), -EBADMSG);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len + 1, &rq), -EBADMSG);
	kv__put16(m + KV_KEYLEN_OFF, 0xffff);
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), -EBADMSG);
	/* An empty value is a value. */
	len = request(m, KV_PUT, 1, 1, "k", "");
	CU_ASSERT_EQUAL(kvstore__parse_request(m, len, &rq), 0);
}

static void test_put_get_del(void)
{
	CU_ASSERT_EQUAL(op(KV_GET, 1, 1, "a", NULL), KV_NOT_FOUND);
	CU_ASSERT_EQUAL(writes(), 0);
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 2, "a", "hello"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	CU_ASSERT_EQUAL(rep[KV_OP_OFF], KV_PUT);
	CU_ASSERT_EQUAL(rep_len, KV_REP_HDR);
	CU_ASSERT_EQUAL(op(KV_GET, 1, 3, "a", NULL), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	CU_ASSERT_EQUAL(rep_len, KV_REP_HDR + 5);
	CU_ASSERT_EQUAL(memcmp(rep + KV_REP_HDR, "hello", 5), 0);
	CU_ASSERT_EQUAL(op(KV_PUT, 2, 1, "a", "bye"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 2);
	CU_ASSERT_EQUAL(op(KV_DEL, 1, 4, "a", NULL), KV_OK);
	CU_ASSERT_EQUAL(writes(), 3);
	/* Deleted: no value, the count stays; a DEL of nothing is no write. */
	CU_ASSERT_EQUAL(op(KV_GET, 2, 2, "a", NULL), KV_NOT_FOUND);
	CU_ASSERT_EQUAL(writes(), 3);
	CU_ASSERT_EQUAL(rep_len, KV_REP_HDR);
	CU_ASSERT_EQUAL(op(KV_DEL, 2, 3, "a", NULL), KV_NOT_FOUND);
	CU_ASSERT_EQUAL(writes(), 3);
	CU_ASSERT_EQUAL(op(KV_DEL, 2, 4, "never", NULL), KV_NOT_FOUND);
	CU_ASSERT_EQUAL(writes(), 0);
	CU_ASSERT_EQUAL(op(KV_PUT, 2, 5, "a", ""), KV_OK);
	CU_ASSERT_EQUAL(writes(), 4);
	CU_ASSERT_EQUAL(op(KV_GET, 2, 6, "a", NULL), KV_OK);
	CU_ASSERT_EQUAL(rep_len, KV_REP_HDR);
	CU_ASSERT_EQUAL(kv.stats.applied, 10);
}

static void test_retry_not_applied(void)
{
	uint8_t first[KV_REP_MAX];
	size_t first_len;

	CU_ASSERT_EQUAL(op(KV_PUT, 7, 1, "k", "v1"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	memcpy(first, rep, rep_len);
	first_len = rep_len;
	/* The same number again: the same reply, the write not repeated. */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(op(KV_PUT, 7, 1, "k", "v1"), KV_OK);
		CU_ASSERT_EQUAL(rep_len, first_len);
		CU_ASSERT_EQUAL(memcmp(rep, first, first_len), 0);
	}
	CU_ASSERT_EQUAL(kv.stats.retries, 3);
	CU_ASSERT_EQUAL(op(KV_GET, 8, 1, "k", NULL), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	/* Even a retry that says something else gets the first answer. */
	CU_ASSERT_EQUAL(op(KV_DEL, 7, 1, "k", NULL), KV_OK);
	CU_ASSERT_EQUAL(rep[KV_OP_OFF], KV_PUT);
	CU_ASSERT_EQUAL(op(KV_GET, 8, 2, "k", NULL), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	/* A GET's retry replays its value even after the key changed. */
	CU_ASSERT_EQUAL(op(KV_PUT, 7, 2, "k", "v2"), KV_OK);
	CU_ASSERT_EQUAL(op(KV_GET, 8, 2, "k", NULL), KV_OK);
	CU_ASSERT_EQUAL(memcmp(rep + KV_REP_HDR, "v1", 2), 0);
	CU_ASSERT_EQUAL(op(KV_GET, 8, 3, "k", NULL), KV_OK);
	CU_ASSERT_EQUAL(memcmp(rep + KV_REP_HDR, "v2", 2), 0);
	CU_ASSERT_EQUAL(writes(), 2);
}

static void test_stale(void)
{
	CU_ASSERT_EQUAL(op(KV_PUT, 3, 10, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(op(KV_PUT, 3, 9, "k", "v"), KV_STALE);
	CU_ASSERT_EQUAL(writes(), 0);
	CU_ASSERT_EQUAL(op(KV_PUT, 3, 1, "k", "v"), KV_STALE);
	CU_ASSERT_EQUAL(kv.stats.stale, 2);
	/* Not cached: the last reply is still the one for 10. */
	CU_ASSERT_EQUAL(op(KV_PUT, 3, 10, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	/* Numbers may skip ahead. */
	CU_ASSERT_EQUAL(op(KV_PUT, 3, 20, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 2);
	CU_ASSERT_EQUAL(op(KV_PUT, 3, 15, "k", "v"), KV_STALE);
}

static void test_bad_not_cached(void)
{
	uint8_t m[KV_REQ_MAX];
	size_t len;

	len = request(m, KV_GET, 4, 5, "k", "v"); /* a GET with a value */
	CU_ASSERT_EQUAL(handle_exact(m, len), KV_REP_HDR);
	CU_ASSERT_EQUAL(rep[KV_STATUS_OFF], KV_BAD);
	CU_ASSERT_EQUAL(kv__get64(rep + KV_CLIENT_OFF), 4);
	CU_ASSERT_EQUAL(kv__get64(rep + KV_REQ_OFF), 5);
	CU_ASSERT_EQUAL(kv.stats.bad, 1);
	/* Number 5 was not used up. */
	CU_ASSERT_EQUAL(op(KV_PUT, 4, 5, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	/* A bad request after a good one leaves the cache alone. */
	len = request(m, KV_PUT, 4, 5, "", "v");
	CU_ASSERT_EQUAL(handle_exact(m, len), KV_REP_HDR);
	CU_ASSERT_EQUAL(rep[KV_STATUS_OFF], KV_BAD);
	CU_ASSERT_EQUAL(op(KV_PUT, 4, 5, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	/* Not kv: no reply at all. */
	m[KV_MAGIC_OFF] = 0;
	CU_ASSERT_EQUAL(handle_exact(m, len), 0);
	CU_ASSERT_EQUAL(kv.stats.ignored, 1);
	CU_ASSERT_EQUAL(kv.stats.requests, 4);
}

static void test_full(void)
{
	char key[16];

	setup_store(3, 4);
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 1, "a", "1"), KV_OK);
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 2, "b", "1"), KV_OK);
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 3, "c", "1"), KV_OK);
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 4, "d", "1"), KV_FULL);
	CU_ASSERT_EQUAL(writes(), 0);
	/* Cached like any answer. */
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 4, "d", "1"), KV_FULL);
	CU_ASSERT_EQUAL(kv.stats.retries, 1);
	/* Keys there still take writes; a deleted key keeps its place. */
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 5, "a", "2"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 2);
	CU_ASSERT_EQUAL(op(KV_DEL, 1, 6, "b", NULL), KV_OK);
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 7, "d", "1"), KV_FULL);
	CU_ASSERT_EQUAL(op(KV_GET, 1, 8, "d", NULL), KV_NOT_FOUND);
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 9, "b", "1"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 3);
	CU_ASSERT_EQUAL(kv.nr_keys, 3);

	/* Many keys: all found again, one more is refused. */
	setup_store(1000, 4);
	for (unsigned int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "key%u", i);
		CU_ASSERT_EQUAL(op(KV_PUT, 1, 1 + i, key, key), KV_OK);
	}
	CU_ASSERT_EQUAL(op(KV_PUT, 1, 1001, "one-more", "x"), KV_FULL);
	for (unsigned int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "key%u", i);
		CU_ASSERT_EQUAL(op(KV_GET, 2, 1 + i, key, NULL), KV_OK);
		CU_ASSERT_EQUAL(rep_len, KV_REP_HDR + strlen(key));
		CU_ASSERT_EQUAL(memcmp(rep + KV_REP_HDR, key, strlen(key)), 0);
		CU_ASSERT_EQUAL(writes(), 1);
	}
}

static void test_eviction(void)
{
	setup_store(16, 2);
	CU_ASSERT_EQUAL(op(KV_PUT, 100, 5, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(op(KV_PUT, 200, 5, "k", "v"), KV_OK);
	/* 100 heard from again: 200 is now the least recent. */
	CU_ASSERT_EQUAL(op(KV_PUT, 100, 5, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	CU_ASSERT_EQUAL(op(KV_PUT, 300, 5, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 3);
	CU_ASSERT_EQUAL(kv.stats.evictions, 1);
	/* 100 is still known: its retry is answered from the cache. */
	CU_ASSERT_EQUAL(op(KV_PUT, 100, 5, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	CU_ASSERT_EQUAL(op(KV_PUT, 100, 4, "k", "v"), KV_STALE);
	/*
	 * 200 was forgotten: its old number is applied as new (the limit
	 * kvstore.h documents), and 300, now the least recent, goes.
	 */
	CU_ASSERT_EQUAL(op(KV_PUT, 200, 4, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 4);
	CU_ASSERT_EQUAL(kv.stats.evictions, 2);
	CU_ASSERT_EQUAL(op(KV_PUT, 100, 5, "k", "v"), KV_OK);
	CU_ASSERT_EQUAL(writes(), 1);
	CU_ASSERT_EQUAL(op(KV_GET, 300, 6, "k", NULL), KV_OK);
	CU_ASSERT_EQUAL(kv.stats.evictions, 3);

	/* Churn through many clients: the table stays consistent. */
	setup_store(16, 8);
	for (uint64_t c = 1; c <= 1000; c++) {
		CU_ASSERT_EQUAL(op(KV_PUT, c, 1, "k", "v"), KV_OK);
		CU_ASSERT_EQUAL(writes(), c);
		CU_ASSERT_EQUAL(op(KV_PUT, c, 1, "k", "v"), KV_OK);
		CU_ASSERT_EQUAL(writes(), c);
		/* The last 8 are still known. */
		for (uint64_t o = c > 7 ? c - 7 : 1; o <= c; o++) {
			CU_ASSERT_EQUAL(op(KV_PUT, o, 1, "k", "v"), KV_OK);
			CU_ASSERT_EQUAL(writes(), o);
		}
	}
	CU_ASSERT_EQUAL(kv.nr_clients, 8);
	CU_ASSERT_EQUAL(kv.stats.evictions, 992);
}

static void test_truncated(void)
{
	uint8_t m[KV_REQ_MAX];
	size_t len = request(m, KV_PUT, 1, 1, "key", "value");

	for (size_t n = 0; n < len; n++) {
		size_t r = handle_exact(m, n);

		/* No header: nothing; a header: KV_BAD. */
		CU_ASSERT_EQUAL(r, n < KV_REQ_HDR ? 0 : KV_REP_HDR);
		if (r)
			CU_ASSERT_EQUAL(rep[KV_STATUS_OFF], KV_BAD);
	}
	CU_ASSERT_EQUAL(kv.nr_keys, 0);
	CU_ASSERT_EQUAL(handle_exact(m, len), KV_REP_HDR);
	CU_ASSERT_EQUAL(rep[KV_STATUS_OFF], KV_OK);
}

static void test_limits(void)
{
	uint64_t buf[64];

	CU_ASSERT_EQUAL(kvstore__mem_size(0, 1), 0);
	CU_ASSERT_EQUAL(kvstore__mem_size(1, 0), 0);
	CU_ASSERT_EQUAL(kvstore__mem_size(KVSTORE_MAX_ENTRIES + 1, 1), 0);
	CU_ASSERT_NOT_EQUAL(kvstore__mem_size(KVSTORE_MAX_ENTRIES, 1), 0);
	CU_ASSERT_EQUAL(kvstore__init(&kv, buf, sizeof(buf), 16, 4), -EINVAL);
	CU_ASSERT_EQUAL(kvstore__init(&kv, (char *)mem + 4,
				      kvstore__mem_size(16, 4), 16, 4),
			-EINVAL);
}

static CU_TestInfo kvstore_tests[] = {
	{ "FNV-1a vectors", test_hash },
	{ "request and reply codec", test_codec },
	{ "malformed requests", test_parse_refuses },
	{ "PUT, GET, DEL and write counts", test_put_get_del },
	{ "a retry is answered from the cache", test_retry_not_applied },
	{ "older numbers are KV_STALE", test_stale },
	{ "KV_BAD is never cached", test_bad_not_cached },
	{ "KV_FULL", test_full },
	{ "clients: least recently heard from evicted", test_eviction },
	{ "every truncation of a request", test_truncated },
	{ "memory and limits", test_limits },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo kvstore_suites[] = {
	{ "kvstore", NULL, NULL, setup, teardown, kvstore_tests },
	CU_SUITE_INFO_NULL,
};

void test_kvstore__register(void)
{
	CU_register_suites(kvstore_suites);
}
