// SPDX-License-Identifier: MIT
/*
 * The arbiter client (arbiter/arbiter.c) and the line protocol's grammar
 * (arbiter/proto.c): node ids, URLs, request and reply lines, good and bad.
 * Then the client against fake servers on loopback, each a child process
 * that answers a script of connections with canned bytes: replies that lie,
 * do not parse, never end or never come, and ambiguous failures that the
 * client must resolve by reading the owner back; a TLS fake that takes one
 * pair's key; an etcd fake that wants a login. No threads, no privileges.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "arbiter.h"
#include "proto.h"
#include "clock.h"
#include "hostport.h"
#include "tls.h"
#include "unit.h"

#define FAKE_MAX_CONNS 6
#define FAKE_REQ_MAX 8192
#define TIMEOUT_MS 300 /* a fake that stays silent costs this much */

/* ---- node ids ---- */

static void test_valid_node(void)
{
	char max[ARBITER_NODE_MAX + 2];

	CU_ASSERT_TRUE(arbiter__valid_node("a"));
	CU_ASSERT_TRUE(arbiter__valid_node("hostA-primary_1.x"));
	CU_ASSERT_TRUE(arbiter__valid_node("-"));
	memset(max, 'n', ARBITER_NODE_MAX);
	max[ARBITER_NODE_MAX] = '\0';
	CU_ASSERT_TRUE(arbiter__valid_node(max));
	max[ARBITER_NODE_MAX] = 'n';
	max[ARBITER_NODE_MAX + 1] = '\0';
	CU_ASSERT_FALSE(arbiter__valid_node(max));
	CU_ASSERT_FALSE(arbiter__valid_node(""));
	CU_ASSERT_FALSE(arbiter__valid_node(NULL));
	CU_ASSERT_FALSE(arbiter__valid_node("a b"));
	CU_ASSERT_FALSE(arbiter__valid_node("a/b"));
	CU_ASSERT_FALSE(arbiter__valid_node("a\n"));
	CU_ASSERT_FALSE(arbiter__valid_node("\xc3\xa9"));
	CU_ASSERT_FALSE(arbiter__valid_node("a:b"));
}

/* ---- URLs ---- */

/* Plaintext allowed: what the URL tests and the plaintext fakes take. */
static const struct arbiter_auth insecure = { .insecure = true };

static void expect_open(const char *url, const struct arbiter_auth *auth,
			const char *why_has)
{
	struct arbiter *a = (struct arbiter *)1;
	char why[256] = "x";
	int r = arbiter__open(&a, url, auth, why, sizeof(why));

	if (!why_has) {
		CU_ASSERT_EQUAL(r, 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_STRING_EQUAL(arbiter__url(a), url);
		arbiter__close(a);
		return;
	}
	CU_ASSERT_EQUAL(r, -1);
	CU_ASSERT_PTR_NULL(a);
	if (!strstr(why, why_has))
		fprintf(stderr, "\n  URL '%s': why '%s', want '%s'\n",
			url ? url : "(null)", why, why_has);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, why_has));
	CU_ASSERT_PTR_NULL(strchr(why, '\n'));
}

static void expect_url(const char *url, const char *why_has)
{
	expect_open(url, &insecure, why_has);
}

static void test_url_good(void)
{
	expect_url("pvft://127.0.0.1:1", NULL);
	expect_url("pvft://localhost:65535", NULL);
	expect_url("pvft://arbiter-1.example.org:7000", NULL);
	expect_url("etcd://127.0.0.1:2379", NULL);
	expect_url("etcd://10.0.0.1:2379,10.0.0.2:2379,etcd-3:2379", NULL);
	/* Names are resolved when asked, not when opened. */
	expect_url("pvft://no-such-host.invalid:1", NULL);
}

static void test_url_bad(void)
{
	char long_url[1100], many[512];
	int i, n;

	expect_url(NULL, "empty URL");
	expect_url("", "empty URL");
	expect_url("127.0.0.1:1", "not a URL");
	expect_url("http://127.0.0.1:1", "unknown scheme 'http'");
	expect_url("https://127.0.0.1:1", "unknown scheme 'https'");
	expect_url("PVFT://127.0.0.1:1", "unknown scheme 'PVFT'");
	expect_url("pvft://", "pvft://: no HOST:PORT");
	expect_url("etcd://", "etcd://: no HOST:PORT");
	expect_url("pvft://host", "no port");
	expect_url("pvft://host:", "bad port ''");
	expect_url("pvft://host:0", "bad port '0'");
	expect_url("pvft://host:65536", "bad port '65536'");
	expect_url("pvft://host:12a", "bad port '12a'");
	expect_url("pvft://host:-1", "bad port '-1'");
	expect_url("pvft://host:080", "bad port '080'");
	expect_url("pvft://:80", "no host");
	expect_url("pvft://h_st:1", "bad host");
	expect_url("pvft://-host:1", "bad host");
	expect_url("pvft://host-:1", "bad host");
	expect_url("pvft://a..b:1", "bad host");
	expect_url("pvft://1.2.3:1", "bad IPv4 address");
	expect_url("pvft://256.1.1.1:1", "bad IPv4 address");
	expect_url("pvft://[::1]:1", "IPv6");
	expect_url("pvft://a:1/", "bad port '1/'");
	expect_url("pvft://u@a:1", "bad host");
	expect_url("pvft://a:1,b:2", "one HOST:PORT only");
	expect_url("etcd://a:1,", "etcd://: no HOST:PORT");
	expect_url("etcd://,a:1", "etcd://: no HOST:PORT");
	expect_url("etcd://a:1,,b:2", "etcd://: no HOST:PORT");
	expect_url("etcds://", "etcds://: no HOST:PORT");
	expect_url("pvft://a :1", "not printable");
	expect_url("pvft://a\n:1", "not printable");
	memset(long_url, 'a', sizeof(long_url) - 1);
	long_url[sizeof(long_url) - 1] = '\0';
	memcpy(long_url, "pvft://", 7);
	expect_url(long_url, "longer than 1024");
	n = snprintf(many, sizeof(many), "etcd://");
	for (i = 0; i < 17; i++)
		n += snprintf(many + n, sizeof(many) - n, "%sh%d:1",
			      i ? "," : "", i);
	expect_url(many, "too many endpoints");
	/* 16 is fine. */
	*strrchr(many, ',') = '\0';
	expect_url(many, NULL);
}

/* What each scheme wants of struct arbiter_auth. */
static void test_url_auth(void)
{
	static const uint8_t key[TLS_KEY_LEN] = { 1, 2, 3 };
	char ca[] = "/tmp/pvft-unit-ca-XXXXXX";
	struct arbiter_auth auth;
	int fd = mkstemp(ca);

	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	/* pvft://: a key, or plaintext when insecure; nothing else. */
	expect_open("pvft://127.0.0.1:1", NULL, "pvft://: no key");
	expect_open("pvft://127.0.0.1:1", &(struct arbiter_auth){ 0 },
		    "pvft://: no key");
	expect_open("pvft://127.0.0.1:1",
		    &(struct arbiter_auth){ .domain_key = key }, NULL);
	expect_open(
	    "pvft://127.0.0.1:1",
	    &(struct arbiter_auth){ .ca = ca, .user = "u", .password = "p" },
	    "pvft://: no key");
	/* etcd:// is plain http: only when insecure. */
	expect_open("etcd://127.0.0.1:1", NULL, "etcd:// is plaintext");
	expect_open("etcd://127.0.0.1:1",
		    &(struct arbiter_auth){ .domain_key = key, .ca = ca },
		    "etcd:// is plaintext");
	expect_open("etcd://127.0.0.1:1",
		    &(struct arbiter_auth){
			.insecure = true, .user = "u", .password = "p" },
		    NULL);
	/* etcds://: a CA; a certificate with its key; a user with its
	 * password; files that can be read. */
	expect_open("etcds://127.0.0.1:1", NULL, "etcds://: no CA");
	expect_open("etcds://127.0.0.1:1", &insecure, "etcds://: no CA");
	expect_open("etcds://127.0.0.1:1,127.0.0.2:2",
		    &(struct arbiter_auth){ .ca = ca }, NULL);
	auth = (struct arbiter_auth){ .ca = ca, .cert = ca };
	expect_open("etcds://127.0.0.1:1", &auth, "needs its key");
	auth = (struct arbiter_auth){ .ca = ca, .key = ca };
	expect_open("etcds://127.0.0.1:1", &auth, "needs its key");
	auth = (struct arbiter_auth){
		.ca = ca, .cert = ca, .key = ca, .user = "u"
	};
	expect_open("etcds://127.0.0.1:1", &auth, "needs its password");
	auth = (struct arbiter_auth){ .ca = ca, .password = "p" };
	expect_open("etcds://127.0.0.1:1", &auth, "needs its password");
	auth = (struct arbiter_auth){ .ca = "/nonexistent/ca.pem" };
	expect_open("etcds://127.0.0.1:1", &auth,
		    "CA /nonexistent/ca.pem: No such file or directory");
	auth = (struct arbiter_auth){ .ca = ca,
				      .cert = "/nonexistent/c",
				      .key = ca };
	expect_open("etcds://127.0.0.1:1", &auth,
		    "certificate /nonexistent/c: No such file");
	auth = (struct arbiter_auth){
		.ca = ca, .cert = ca, .key = ca, .user = "u", .password = "p"
	};
	expect_open("etcds://127.0.0.1:1", &auth, NULL);
	unlink(ca);
}

/* ---- the line protocol ---- */

static void test_parse_u64(void)
{
	uint64_t v;

	CU_ASSERT_EQUAL(proto__parse_u64("0", 1, &v), 0);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(proto__parse_u64("18446744073709551615", 20, &v), 0);
	CU_ASSERT_EQUAL(v, UINT64_MAX);
	CU_ASSERT_EQUAL(proto__parse_u64("12345", 3, &v), 0);
	CU_ASSERT_EQUAL(v, 123);
	CU_ASSERT_EQUAL(proto__parse_u64("18446744073709551616", 20, &v),
			-EINVAL);
	CU_ASSERT_EQUAL(proto__parse_u64("99999999999999999999", 20, &v),
			-EINVAL);
	CU_ASSERT_EQUAL(proto__parse_u64("100000000000000000000", 21, &v),
			-EINVAL);
	CU_ASSERT_EQUAL(proto__parse_u64("", 0, &v), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_u64("01", 2, &v), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_u64("-1", 2, &v), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_u64("+1", 2, &v), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_u64("1 ", 2, &v), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_u64("0x1", 3, &v), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_u64("1\0", 2, &v), -EINVAL);
}

static void expect_request(const char *line, size_t len, const char *why_has)
{
	struct proto_request req;
	char why[PROTO_REASON_MAX + 1] = "";
	int r = proto__parse_request(line, len, &req, why, sizeof(why));

	CU_ASSERT_EQUAL(r, why_has ? -EINVAL : 0);
	if (why_has && !strstr(why, why_has))
		fprintf(stderr, "\n  request '%.*s': why '%s', want '%s'\n",
			(int)len, line, why, why_has);
	if (why_has)
		CU_ASSERT_PTR_NOT_NULL(strstr(why, why_has));
}

#define REQ(s) s, sizeof(s) - 1

static void test_parse_request(void)
{
	struct proto_request req;
	char why[PROTO_REASON_MAX + 1], line[400];

	CU_ASSERT_EQUAL(proto__parse_request(REQ("ACQUIRE 7 3 hostA"), &req,
					     why, sizeof(why)),
			0);
	CU_ASSERT_EQUAL(req.verb, PROTO_ACQUIRE);
	CU_ASSERT_EQUAL(req.pair, 7);
	CU_ASSERT_EQUAL(req.epoch, 3);
	CU_ASSERT_STRING_EQUAL(req.node, "hostA");
	CU_ASSERT_EQUAL(
	    proto__parse_request(REQ("QUERY 18446744073709551615 0\r"), &req,
				 why, sizeof(why)),
	    0);
	CU_ASSERT_EQUAL(req.verb, PROTO_QUERY);
	CU_ASSERT_EQUAL(req.pair, UINT64_MAX);
	CU_ASSERT_EQUAL(req.epoch, 0);
	CU_ASSERT_EQUAL(
	    proto__parse_request(REQ("ADVANCE 7 18446744073709551614 n.1"),
				 &req, why, sizeof(why)),
	    0);
	CU_ASSERT_EQUAL(req.verb, PROTO_ADVANCE);
	CU_ASSERT_EQUAL(req.pair, 7);
	CU_ASSERT_EQUAL(req.epoch, UINT64_MAX - 1);
	CU_ASSERT_STRING_EQUAL(req.node, "n.1");

	expect_request(REQ(""), "empty line");
	expect_request(REQ("\r"), "empty line");
	expect_request(REQ("acquire 1 2 a"), "unknown verb 'acquire'");
	expect_request(REQ("GRANT 1 2 a"), "unknown verb 'GRANT'");
	expect_request(REQ("ACQUIRE 1 2"), "ACQUIRE takes PAIR EPOCH NODE");
	expect_request(REQ("ACQUIRE 1 2 a b"), "one space");
	expect_request(REQ("QUERY 1 2 a"), "QUERY takes PAIR EPOCH");
	expect_request(REQ("QUERY 1"), "QUERY takes PAIR EPOCH");
	expect_request(REQ("QUERY"), "QUERY takes");
	expect_request(REQ("QUERY  1 2"), "one space");
	expect_request(REQ(" QUERY 1 2"), "one space");
	expect_request(REQ("QUERY 1 2 "), "one space");
	expect_request(REQ("QUERY\t1 2"), "not printable");
	expect_request(REQ("QUERY 1 2\0"), "not printable");
	expect_request(REQ("QUERY 1\0 2"), "not printable");
	expect_request(REQ("\x80\xff\x01"), "not printable");
	expect_request(REQ("QUERY x 2"), "bad PAIR");
	expect_request(REQ("QUERY -1 2"), "bad PAIR");
	expect_request(REQ("QUERY 01 2"), "bad PAIR");
	expect_request(REQ("QUERY 1 18446744073709551616"), "bad EPOCH");
	expect_request(REQ("ACQUIRE 1 2 a/b"), "bad NODE");
	expect_request(REQ("ADVANCE 1 2"), "ADVANCE takes PAIR EPOCH NODE");
	expect_request(REQ("ADVANCE 1 2 a b"), "one space");
	expect_request(REQ("ADVANCE 1 2 a/b"), "bad NODE");
	expect_request(REQ("ADVANCE 1 02 a"), "bad EPOCH");
	expect_request(REQ("advance 1 2 a"), "unknown verb 'advance'");
	/* The last epoch has no next one to open. */
	expect_request(REQ("ADVANCE 1 18446744073709551615 n"),
		       "bad EPOCH: 18446744073709551615 has no next epoch");
	expect_request(REQ("ACQUIRE 1 2 "
			   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			   "aaaaaaaaaaaaaa"),
		       "bad NODE");
	/* An unknown verb is echoed, but never more than 32 characters. */
	memset(line, 'V', sizeof(line));
	expect_request(line, PROTO_LINE_MAX - 1, "unknown verb");
	proto__parse_request(line, PROTO_LINE_MAX - 1, &req, why, sizeof(why));
	CU_ASSERT(strlen(why) < 64);
	expect_request(line, PROTO_LINE_MAX, "line too long");
}

static void test_format_request(void)
{
	struct proto_request req = { PROTO_ACQUIRE, UINT64_MAX, 0, "n-1" };
	char line[PROTO_BUF_SIZE];
	struct proto_request back;
	char why[PROTO_REASON_MAX + 1];
	int n;

	n = proto__format_request(&req, line);
	CU_ASSERT_STRING_EQUAL(line, "ACQUIRE 18446744073709551615 0 n-1\n");
	CU_ASSERT_EQUAL(n, (int)strlen(line));
	CU_ASSERT_EQUAL(
	    proto__parse_request(line, (size_t)n - 1, &back, why, sizeof(why)),
	    0);
	CU_ASSERT_EQUAL(memcmp(&back, &req, sizeof(req)), 0);
	req.verb = PROTO_QUERY;
	proto__format_request(&req, line);
	CU_ASSERT_STRING_EQUAL(line, "QUERY 18446744073709551615 0\n");
	/* ADVANCE of the last epoch: nothing to open, nothing written. */
	req.verb = PROTO_ADVANCE;
	req.epoch = UINT64_MAX;
	CU_ASSERT_EQUAL(proto__format_request(&req, line), -EINVAL);
	req.epoch = 41;
	n = proto__format_request(&req, line);
	CU_ASSERT_STRING_EQUAL(line, "ADVANCE 18446744073709551615 41 n-1\n");
	CU_ASSERT_EQUAL(
	    proto__parse_request(line, (size_t)n - 1, &back, why, sizeof(why)),
	    0);
	CU_ASSERT_EQUAL(memcmp(&back, &req, sizeof(req)), 0);
	req.verb = PROTO_ACQUIRE;
	snprintf(req.node, sizeof(req.node), "a b");
	CU_ASSERT_EQUAL(proto__format_request(&req, line), -EINVAL);
	req.verb = PROTO_ADVANCE;
	CU_ASSERT_EQUAL(proto__format_request(&req, line), -EINVAL);
	CU_ASSERT_STRING_EQUAL(proto__verb_word(PROTO_ADVANCE), "ADVANCE");
}

static void test_parse_reply(void)
{
	struct proto_reply rep;

	CU_ASSERT_EQUAL(proto__parse_reply(REQ("GRANTED a"), &rep), 0);
	CU_ASSERT_EQUAL(rep.kind, PROTO_GRANTED);
	CU_ASSERT_STRING_EQUAL(rep.node, "a");
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("DENIED b.c\r"), &rep), 0);
	CU_ASSERT_EQUAL(rep.kind, PROTO_DENIED);
	CU_ASSERT_STRING_EQUAL(rep.node, "b.c");
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("OWNER x"), &rep), 0);
	CU_ASSERT_EQUAL(rep.kind, PROTO_OWNER);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("FREE"), &rep), 0);
	CU_ASSERT_EQUAL(rep.kind, PROTO_FREE);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("ERROR no way: at all"), &rep),
			0);
	CU_ASSERT_EQUAL(rep.kind, PROTO_ERROR);
	CU_ASSERT_STRING_EQUAL(rep.reason, "no way: at all");
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("ADVANCED n-1\r"), &rep), 0);
	CU_ASSERT_EQUAL(rep.kind, PROTO_ADVANCED);
	CU_ASSERT_STRING_EQUAL(rep.node, "n-1");
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("OPENED o_2"), &rep), 0);
	CU_ASSERT_EQUAL(rep.kind, PROTO_OPENED);
	CU_ASSERT_STRING_EQUAL(rep.node, "o_2");
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("ADVANCED"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("ADVANCED a b"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("OPENED"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("OPENED "), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("OPENED a/b"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("opened a"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("ADVANCE a"), &rep), -EINVAL);

	CU_ASSERT_EQUAL(proto__parse_reply(REQ(""), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("GRANTED"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("GRANTED "), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("GRANTED a b"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("GRANTED a/b"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("granted a"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("FREE "), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("FREEDOM"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("ERROR"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("ERROR "), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("ERROR a\x01"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("OWNER a\0"), &rep), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_reply(REQ("HELLO"), &rep), -EINVAL);
}

static void test_format_reply(void)
{
	struct proto_reply rep = { .kind = PROTO_DENIED, .node = "other" };
	struct proto_reply back;
	char line[PROTO_BUF_SIZE];
	int n;

	n = proto__format_reply(&rep, line);
	CU_ASSERT_STRING_EQUAL(line, "DENIED other\n");
	CU_ASSERT_EQUAL(proto__parse_reply(line, (size_t)n - 1, &back), 0);
	CU_ASSERT_EQUAL(back.kind, PROTO_DENIED);
	CU_ASSERT_STRING_EQUAL(back.node, "other");
	rep.kind = PROTO_FREE;
	proto__format_reply(&rep, line);
	CU_ASSERT_STRING_EQUAL(line, "FREE\n");
	rep.kind = PROTO_ADVANCED;
	n = proto__format_reply(&rep, line);
	CU_ASSERT_STRING_EQUAL(line, "ADVANCED other\n");
	CU_ASSERT_EQUAL(proto__parse_reply(line, (size_t)n - 1, &back), 0);
	CU_ASSERT_EQUAL(back.kind, PROTO_ADVANCED);
	rep.kind = PROTO_OPENED;
	n = proto__format_reply(&rep, line);
	CU_ASSERT_STRING_EQUAL(line, "OPENED other\n");
	CU_ASSERT_EQUAL(proto__parse_reply(line, (size_t)n - 1, &back), 0);
	CU_ASSERT_EQUAL(back.kind, PROTO_OPENED);
	CU_ASSERT_STRING_EQUAL(back.node, "other");
	CU_ASSERT_STRING_EQUAL(proto__reply_word(PROTO_OPENED), "OPENED");
	/* A reason with junk in it is still one line, of printable ASCII. */
	rep.kind = PROTO_ERROR;
	snprintf(rep.reason, sizeof(rep.reason), "bad\nthing\x7f");
	proto__format_reply(&rep, line);
	CU_ASSERT_STRING_EQUAL(line, "ERROR bad?thing?\n");
	/* The longest reason fills the line exactly. */
	memset(rep.reason, 'r', PROTO_REASON_MAX);
	rep.reason[PROTO_REASON_MAX] = '\0';
	n = proto__format_reply(&rep, line);
	CU_ASSERT_EQUAL(n, PROTO_LINE_MAX);
	CU_ASSERT_EQUAL(line[n - 1], '\n');
	CU_ASSERT_EQUAL(proto__parse_reply(line, (size_t)n - 1, &back), 0);
	CU_ASSERT_EQUAL(strlen(back.reason), PROTO_REASON_MAX);
}

static void test_parse_identity(void)
{
	char long_id[TLS_IDENTITY_MAX + 8];
	uint64_t pair = 42;

	CU_ASSERT_EQUAL(proto__parse_identity("pvft-pair-7", &pair), 0);
	CU_ASSERT_EQUAL(pair, 7);
	CU_ASSERT_EQUAL(proto__parse_identity("pvft-pair-0", &pair), 0);
	CU_ASSERT_EQUAL(pair, 0);
	CU_ASSERT_EQUAL(
	    proto__parse_identity("pvft-pair-18446744073709551615", &pair), 0);
	CU_ASSERT_EQUAL(pair, UINT64_MAX);
	/* One spelling per pair: no other name for pair 7's key. */
	CU_ASSERT_EQUAL(proto__parse_identity("pvft-pair-07", &pair), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_identity("pvft-pair-+7", &pair), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_identity("pvft-pair-7 ", &pair), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_identity("pvft-pair-7/../8", &pair),
			-EINVAL);
	CU_ASSERT_EQUAL(proto__parse_identity("pvft-pair-", &pair), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_identity("pvft-pair", &pair), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_identity("", &pair), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_identity("PVFT-PAIR-7", &pair), -EINVAL);
	CU_ASSERT_EQUAL(proto__parse_identity("pvft-chan-7", &pair), -EINVAL);
	CU_ASSERT_EQUAL(
	    proto__parse_identity("pvft-pair-18446744073709551616", &pair),
	    -EINVAL);
	memset(long_id, '1', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	memcpy(long_id, "pvft-pair-", 10);
	CU_ASSERT_EQUAL(proto__parse_identity(long_id, &pair), -EINVAL);
	CU_ASSERT_EQUAL(pair, UINT64_MAX);
}

static void test_hostport(void)
{
	char host[PROTO_HOST_MAX + 1], port[6], why[256];
	char name[300];

	CU_ASSERT_EQUAL(proto__parse_hostport(REQ("0.0.0.0:0"), host, port,
					      true, why, sizeof(why)),
			0);
	CU_ASSERT_STRING_EQUAL(host, "0.0.0.0");
	CU_ASSERT_STRING_EQUAL(port, "0");
	CU_ASSERT_EQUAL(proto__parse_hostport(REQ("0.0.0.0:0"), host, port,
					      false, why, sizeof(why)),
			-EINVAL);
	/* Labels of 63, a name of 253: the DNS limits. */
	memset(name, 'a', sizeof(name));
	for (int i = 63; i < 253; i += 64)
		name[i] = '.';
	memcpy(name + 253, ":1", 2);
	CU_ASSERT_EQUAL(proto__parse_hostport(name, 255, host, port, false, why,
					      sizeof(why)),
			0);
	CU_ASSERT_EQUAL(strlen(host), 253);
	name[253] = 'a';
	memcpy(name + 254, ":1", 2);
	CU_ASSERT_EQUAL(proto__parse_hostport(name, 256, host, port, false, why,
					      sizeof(why)),
			-EINVAL);
	memset(name, 'a', 64);
	memcpy(name + 64, ":1", 2);
	CU_ASSERT_EQUAL(proto__parse_hostport(name, 66, host, port, false, why,
					      sizeof(why)),
			-EINVAL);
	/* No IPv6 in the protocol: a second colon is the port's. */
	CU_ASSERT_EQUAL(proto__parse_hostport(REQ("a:1:2"), host, port, false,
					      why, sizeof(why)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "'a:1:2': bad port '1:2'");
	CU_ASSERT_EQUAL(proto__parse_hostport(REQ(":a:1"), host, port, false,
					      why, sizeof(why)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "':a:1': no host");
	CU_ASSERT_EQUAL(proto__parse_hostport(REQ("a"), host, port, false, why,
					      sizeof(why)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "'a': no port");
	CU_ASSERT_EQUAL(proto__parse_hostport(REQ("[::1]:7"), host, port, false,
					      why, sizeof(why)),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(why, "'[::1]:7': IPv6 is not supported");
}

/* lib/hostport.c, what every program's HOST:PORT goes through. */
static void test_hostport_split(void)
{
	struct hostport hp;
	char buf[64];

	CU_ASSERT_EQUAL(hostport__split(REQ("[::1]:7000"), &hp), 0);
	CU_ASSERT(hp.host_len == 3 && !memcmp(hp.host, "::1", 3));
	CU_ASSERT(hp.port_len == 4 && !memcmp(hp.port, "7000", 4));
	/* A bare IPv6 literal is read at the last colon. */
	CU_ASSERT_EQUAL(hostport__split(REQ("::1:7000"), &hp), 0);
	CU_ASSERT(hp.host_len == 3 && !memcmp(hp.host, "::1", 3));
	CU_ASSERT_EQUAL(hostport__split(REQ("example.org:http"), &hp), 0);
	CU_ASSERT(hp.host_len == 11 && hp.port_len == 4);
	/* Empty parts are the caller's to refuse; no colon is refused. */
	CU_ASSERT_EQUAL(hostport__split(REQ(":"), &hp), 0);
	CU_ASSERT(hp.host_len == 0 && hp.port_len == 0);
	CU_ASSERT_EQUAL(hostport__split(REQ("[]:1"), &hp), 0);
	CU_ASSERT_EQUAL(hp.host_len, 0);
	CU_ASSERT_EQUAL(hostport__split(REQ("localhost"), &hp), -EINVAL);
	hostport__format(buf, sizeof(buf), "::1", "7000");
	CU_ASSERT_STRING_EQUAL(buf, "[::1]:7000");
	hostport__format(buf, sizeof(buf), "10.0.0.1", "7000");
	CU_ASSERT_STRING_EQUAL(buf, "10.0.0.1:7000");
}

/* ---- the client against fake servers ---- */

#define FAKE_SILENT "<silent>" /* read the request, never answer */
#define FAKE_CLOSE "<close>"   /* read the request, close at once */

struct fake {
	pid_t pid;
	int port;
	int req_fd; /* the requests the fake read, in order */
};

/* Read one request: a line, or HTTP headers and Content-Length bytes. */
static ssize_t fake_read_request(int fd, bool http, char *buf, size_t size)
{
	size_t got = 0, want = 0;
	const char *hdr_end, *cl;
	ssize_t n;

	for (;;) {
		n = read(fd, buf + got, size - 1 - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
		if (!http && memchr(buf, '\n', got))
			return (ssize_t)got;
		if (!http || !(hdr_end = strstr(buf, "\r\n\r\n")))
			goto more;
		if (!want) {
			cl = strcasestr(buf, "Content-Length:");
			want = (size_t)(hdr_end + 4 - buf) +
			       (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (got >= want)
			return (ssize_t)got;
more:
		if (got == size - 1)
			return (ssize_t)got;
	}
}

static void fake_child(int lfd, int req_fd, bool http,
		       const char *const *replies, size_t n)
{
	char buf[FAKE_REQ_MAX];
	size_t i;
	ssize_t len;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < n; i++) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(1);
		len = fake_read_request(fd, http, buf, sizeof(buf));
		if (len > 0 && write(req_fd, buf, (size_t)len) != len)
			_exit(1);
		if (write(req_fd, "\x1e", 1) != 1) /* record separator */
			_exit(1);
		/* Silent: kept open, unanswered, until the fake is stopped. */
		if (!strcmp(replies[i], FAKE_SILENT))
			continue;
		if (strcmp(replies[i], FAKE_CLOSE))
			(void)!write(fd, replies[i], strlen(replies[i]));
		close(fd);
	}
	pause();
	_exit(0);
}

/* Serve @n connections, the i-th answered with @replies[i]. */
static void fake_start(struct fake *f, bool http, const char *const *replies,
		       size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int lfd, pipefd[2];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_FATAL(!bind(lfd, (struct sockaddr *)&sa, sizeof(sa)));
	CU_ASSERT_FATAL(!listen(lfd, FAKE_MAX_CONNS));
	CU_ASSERT_FATAL(!getsockname(lfd, (struct sockaddr *)&sa, &len));
	CU_ASSERT_FATAL(!pipe(pipefd));
	f->port = ntohs(sa.sin_port);
	fflush(NULL);
	f->pid = fork();
	CU_ASSERT_FATAL(f->pid >= 0);
	if (!f->pid) {
		close(pipefd[0]);
		fake_child(lfd, pipefd[1], http, replies, n);
	}
	close(lfd);
	close(pipefd[1]);
	f->req_fd = pipefd[0];
}

/* Stop the fake; its requests, separated by '\x1e', into @reqs. */
static void fake_stop(struct fake *f, char *reqs, size_t size)
{
	size_t got = 0;
	ssize_t n;

	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	while (got < size - 1 &&
	       (n = read(f->req_fd, reqs + got, size - 1 - got)) > 0)
		got += (size_t)n;
	reqs[got] = '\0';
	close(f->req_fd);
}

struct outcome {
	enum arbiter_answer ans;
	char owner[ARBITER_NODE_MAX + 1];
	char why[512];
	char reqs[FAKE_MAX_CONNS * FAKE_REQ_MAX];
};

/* ask_fake*() advance rather than acquire for @node while this is set. */
static bool fake_advance;

/*
 * Ask a fake of @scheme as @auth: acquire (or advance: fake_advance) for
 * @node (or query when NULL) of pair 7, epoch 3, its connections answered
 * with @replies.
 */
static void ask_fake_as(const char *scheme, const struct arbiter_auth *auth,
			const char *node, const char *const *replies, size_t n,
			struct outcome *o)
{
	struct fake f;
	struct arbiter *a;
	char url[64];

	fake_start(&f, !strcmp(scheme, "etcd"), replies, n);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d", scheme, f.port);
	CU_ASSERT_FATAL(!arbiter__open(&a, url, auth, o->why, sizeof(o->why)));
	if (node && fake_advance)
		o->ans = arbiter__advance(a, 7, 3, node, TIMEOUT_MS, o->owner,
					  o->why, sizeof(o->why));
	else if (node)
		o->ans = arbiter__acquire(a, 7, 3, node, TIMEOUT_MS, o->owner,
					  o->why, sizeof(o->why));
	else
		o->ans = arbiter__query(a, 7, 3, TIMEOUT_MS, o->owner, o->why,
					sizeof(o->why));
	arbiter__close(a);
	fake_stop(&f, o->reqs, sizeof(o->reqs));
	CU_ASSERT_PTR_NULL(strchr(o->why, '\n'));
}

static void ask_fake(const char *scheme, const char *node,
		     const char *const *replies, size_t n, struct outcome *o)
{
	ask_fake_as(scheme, &insecure, node, replies, n, o);
}

static void expect(const struct outcome *o, enum arbiter_answer ans,
		   const char *owner, const char *why_has)
{
	if (o->ans != ans || (why_has && !strstr(o->why, why_has)))
		fprintf(stderr, "\n  got %s, owner '%s', why '%s'\n",
			arbiter__answer_name(o->ans), o->owner, o->why);
	CU_ASSERT_EQUAL(o->ans, ans);
	CU_ASSERT_STRING_EQUAL(o->owner, owner);
	if (why_has)
		CU_ASSERT_PTR_NOT_NULL(strstr(o->why, why_has));
}

/* As ASK, an advance. */
#define ASK_ADV(scheme, node, o, ...)              \
	do {                                       \
		fake_advance = true;               \
		ASK(scheme, node, o, __VA_ARGS__); \
		fake_advance = false;              \
	} while (0)

#define ASK(scheme, node, o, ...)                                          \
	do {                                                               \
		static const char *const r_[] = { __VA_ARGS__ };           \
		ask_fake(scheme, node, r_, sizeof(r_) / sizeof(r_[0]), o); \
	} while (0)

static void test_pvft_answers(void)
{
	struct outcome *o = calloc(1, sizeof(*o));

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	ASK("pvft", "me", o, "GRANTED me\n");
	expect(o, ARBITER_GRANTED, "me", NULL);
	CU_ASSERT_STRING_EQUAL(o->reqs, "ACQUIRE 7 3 me\n\x1e");
	ASK("pvft", "me", o, "DENIED you\r\n");
	expect(o, ARBITER_DENIED, "you", NULL);
	ASK("pvft", NULL, o, "OWNER you\n");
	expect(o, ARBITER_GRANTED, "you", NULL);
	CU_ASSERT_STRING_EQUAL(o->reqs, "QUERY 7 3\n\x1e");
	ASK("pvft", NULL, o, "FREE\n");
	expect(o, ARBITER_FREE, "", NULL);
	free(o);
}

/* Replies that lie or do not parse are no answer, and never a grant. */
static void test_pvft_bad_replies(void)
{
	struct outcome *o = calloc(1, sizeof(*o));
	char big[PROTO_LINE_MAX + 2];

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	/* GRANTED to someone else; then the read-back does not answer. */
	ASK("pvft", "me", o, "GRANTED you\n", "junk\n");
	expect(o, ARBITER_UNREACHABLE, "",
	       "bad reply: GRANTED does not answer ACQUIRE");
	CU_ASSERT_PTR_NOT_NULL(strstr(o->why, "bad reply: not a line"));
	ASK("pvft", "me", o, "DENIED me\n", FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "DENIED does not answer");
	ASK("pvft", NULL, o, "GRANTED me\n");
	expect(o, ARBITER_UNREACHABLE, "", "GRANTED does not answer QUERY");
	ASK("pvft", NULL, o, "OWNER a/b\n");
	expect(o, ARBITER_UNREACHABLE, "", "not a line of the protocol");
	ASK("pvft", NULL, o, "FREE");
	expect(o, ARBITER_UNREACHABLE, "", "closed before the reply");
	ASK("pvft", NULL, o, "\x01\x02\xff\n");
	expect(o, ARBITER_UNREACHABLE, "", "not a line of the protocol");
	ASK("pvft", NULL, o, "ERROR disk on fire\n");
	expect(o, ARBITER_UNREACHABLE, "", "arbiter error: disk on fire");
	memset(big, 'F', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		const char *const r[] = { big };

		ask_fake("pvft", NULL, r, 1, o);
		expect(o, ARBITER_UNREACHABLE, "", "longer than 256 bytes");
	}
	free(o);
}

/*
 * An ACQUIRE that may have been applied is resolved by a QUERY: this node
 * owns it (GRANTED), another does (DENIED), nobody does (UNREACHABLE).
 */
static void test_pvft_ambiguous(void)
{
	struct outcome *o = calloc(1, sizeof(*o));

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	ASK("pvft", "me", o, FAKE_CLOSE, "OWNER me\n");
	expect(o, ARBITER_GRANTED, "me", NULL);
	CU_ASSERT_STRING_EQUAL(o->reqs, "ACQUIRE 7 3 me\n\x1eQUERY 7 3\n\x1e");
	ASK("pvft", "me", o, FAKE_SILENT, "OWNER you\n");
	expect(o, ARBITER_DENIED, "you", NULL);
	ASK("pvft", "me", o, "ERROR cannot fsync\n", "FREE\n");
	expect(o, ARBITER_UNREACHABLE, "", "the request was not applied");
	ASK("pvft", "me", o, FAKE_SILENT, FAKE_SILENT);
	expect(o, ARBITER_UNREACHABLE, "", "no reply: timed out");
	CU_ASSERT_PTR_NOT_NULL(strstr(o->why, "reading the owner back"));
	/* A query is not ambiguous: no second connection. */
	ASK("pvft", NULL, o, FAKE_CLOSE, "OWNER me\n");
	expect(o, ARBITER_UNREACHABLE, "", "closed before the reply");
	free(o);
}

/*
 * ADVANCE: ADVANCED naming the asker is GRANTED; DENIED may name anyone
 * (the asker too: it owns the next epoch); FREE is an answer. QUERY's
 * OPENED is an answer to a query only. Replies that do not fit are no
 * answer, and an ambiguous ADVANCE is read back with a QUERY of the next
 * epoch: OPENED by the asker is GRANTED, anything else UNREACHABLE.
 */
static void test_pvft_advance(void)
{
	struct outcome *o = calloc(1, sizeof(*o));

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	ASK_ADV("pvft", "me", o, "ADVANCED me\n");
	expect(o, ARBITER_GRANTED, "me", NULL);
	CU_ASSERT_STRING_EQUAL(o->reqs, "ADVANCE 7 3 me\n\x1e");
	ASK_ADV("pvft", "me", o, "DENIED you\n");
	expect(o, ARBITER_DENIED, "you", NULL);
	ASK_ADV("pvft", "me", o, "DENIED me\n");
	expect(o, ARBITER_DENIED, "me", NULL);
	ASK_ADV("pvft", "me", o, "FREE\n");
	expect(o, ARBITER_FREE, "", NULL);
	ASK("pvft", NULL, o, "OPENED you\n");
	expect(o, ARBITER_OPENED, "you", NULL);
	/* Replies that do not fit their request. */
	ASK_ADV("pvft", "me", o, "ADVANCED you\n", FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "ADVANCED does not answer ADVANCE");
	ASK_ADV("pvft", "me", o, "GRANTED me\n", FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "GRANTED does not answer ADVANCE");
	ASK_ADV("pvft", "me", o, "OPENED me\n", FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "OPENED does not answer ADVANCE");
	ASK_ADV("pvft", "me", o, "OWNER me\n", FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "OWNER does not answer ADVANCE");
	ASK("pvft", "me", o, "ADVANCED me\n", FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "ADVANCED does not answer ACQUIRE");
	ASK("pvft", "me", o, "OPENED me\n", FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "OPENED does not answer ACQUIRE");
	ASK("pvft", NULL, o, "ADVANCED me\n");
	expect(o, ARBITER_UNREACHABLE, "", "ADVANCED does not answer QUERY");
	/* Ambiguous: the next epoch read back. */
	ASK_ADV("pvft", "me", o, FAKE_CLOSE, "OPENED me\n");
	expect(o, ARBITER_GRANTED, "me", NULL);
	CU_ASSERT_STRING_EQUAL(o->reqs, "ADVANCE 7 3 me\n\x1eQUERY 7 4\n\x1e");
	ASK_ADV("pvft", "me", o, FAKE_CLOSE, "OPENED you\n");
	expect(o, ARBITER_UNREACHABLE, "", "epoch 4 is opened by you");
	ASK_ADV("pvft", "me", o, FAKE_SILENT, "OWNER me\n");
	expect(o, ARBITER_UNREACHABLE, "", "epoch 4 is owned by me");
	ASK_ADV("pvft", "me", o, "ERROR cannot fsync\n", "FREE\n");
	expect(o, ARBITER_UNREACHABLE, "", "epoch 4 is free");
	/* An ambiguous ACQUIRE of an opened key: still nobody's. */
	ASK("pvft", "me", o, FAKE_CLOSE, "OPENED me\n");
	expect(o, ARBITER_UNREACHABLE, "", "the request was not applied");
	free(o);
}

#define HTTP_OK "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
/* base64: "pvft/arbiter/7/3", "me", "you". */
#define KEY64 "cHZmdC9hcmJpdGVyLzcvMw=="
#define ME64 "bWU="
#define YOU64 "eW91"
/* "pvft/arbiter/7/3/opened", and with a NUL; "pvft/arbiter/7/4", and
 * "/opened" after it. */
#define OPEN64 "cHZmdC9hcmJpdGVyLzcvMy9vcGVuZWQ="
#define KEY64_END "cHZmdC9hcmJpdGVyLzcvMy9vcGVuZWQA"
#define NEXT64 "cHZmdC9hcmJpdGVyLzcvNA=="
#define NOPEN64 "cHZmdC9hcmJpdGVyLzcvNC9vcGVuZWQ="
#define HDR "\"header\":{\"revision\":\"2\"}"

/* An HTTP response with @body, in a static buffer of @slot (0..5). */
static const char *http(int slot, int status, const char *body)
{
	static char buf[FAKE_MAX_CONNS][1024];

	snprintf(buf[slot], sizeof(buf[slot]),
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		 status, strlen(body), body);
	return buf[slot];
}

static void ask_etcd(const char *node, struct outcome *o, const char *r0,
		     const char *r1)
{
	const char *const r[] = { r0, r1 };

	ask_fake("etcd", node, r, r1 ? 2 : 1, o);
}

static void test_etcd_answers(void)
{
	struct outcome *o = calloc(1, sizeof(*o));

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	ask_etcd("me", o, http(0, 200, "{" HDR ",\"succeeded\":true}"), NULL);
	expect(o, ARBITER_GRANTED, "me", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(o->reqs, "POST /v3/kv/txn HTTP/1.1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
	    o->reqs,
	    "{\"compare\":[{\"key\":\"" KEY64 "\",\"target\":\"CREATE\","
	    "\"create_revision\":\"0\"}],\"success\":[{\"request_put\":{"
	    "\"key\":\"" KEY64 "\",\"value\":\"" ME64 "\"}}],\"failure\":[{"
	    "\"request_range\":{\"key\":\"" KEY64 "\"}}]}"));
	ask_etcd("me", o,
		 http(0, 200,
		      "{" HDR ",\"responses\":[{\"response_range\":{" HDR
		      ",\"kvs\":[{\"key\":\"" KEY64 "\",\"value\":\"" YOU64
		      "\"}],\"count\":\"1\"}}]}\n"),
		 NULL);
	expect(o, ARBITER_DENIED, "you", NULL);
	ask_etcd("me", o,
		 http(0, 200,
		      "{" HDR ",\"succeeded\":false,\"responses\":[{"
		      "\"response_range\":{\"kvs\":[{\"key\":\"" KEY64
		      "\",\"value\":\"" ME64 "\"}]}}]}"),
		 NULL);
	expect(o, ARBITER_GRANTED, "me", NULL);
	ask_etcd(NULL, o, http(0, 200, "{" HDR "}"), NULL);
	expect(o, ARBITER_FREE, "", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(o->reqs, "POST /v3/kv/range HTTP/1.1"));
	/* One range: the key and its opened mark, K/opened and a NUL. */
	CU_ASSERT_PTR_NOT_NULL(strstr(o->reqs,
				      "{\"key\":\"" KEY64
				      "\",\"range_end\":\"" KEY64_END "\"}"));
	ask_etcd(NULL, o,
		 http(0, 200,
		      "{" HDR ",\"kvs\":[{\"key\":\"" KEY64
		      "\",\"value\":\"" YOU64 "\"}]}"),
		 NULL);
	expect(o, ARBITER_GRANTED, "you", NULL);
	free(o);
}

static void expect_etcd_query_refused(struct outcome *o, const char *reply,
				      const char *why_has)
{
	ask_etcd(NULL, o, reply, NULL);
	expect(o, ARBITER_UNREACHABLE, "", why_has);
}

#define KV(k, v) "{\"key\":\"" k "\",\"value\":\"" v "\"}"
/* An advance's failed txn: the ranges of E, E + 1 and E + 1's mark. */
#define ADV_FAILED(e, n, no)                                               \
	"{" HDR ",\"responses\":[{\"response_range\":{\"kvs\":[" e         \
	"]}},{\"response_range\":{\"kvs\":[" n "]}},{\"response_range\":{" \
	"\"kvs\":[" no "]}}]}"

/*
 * etcd: an advance is one txn (E's value is the node, E + 1 and its mark
 * absent: put the mark), its failure read from three ranges; a query
 * reads the key and its mark in one range.
 */
static void test_etcd_advance(void)
{
	struct outcome *o = calloc(1, sizeof(*o));

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	fake_advance = true;
	ask_etcd("me", o, http(0, 200, "{" HDR ",\"succeeded\":true}"), NULL);
	expect(o, ARBITER_GRANTED, "me", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(o->reqs, "POST /v3/kv/txn HTTP/1.1"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(o->reqs,
		   "{\"compare\":[{\"key\":\"" KEY64 "\",\"target\":\"VALUE\","
		   "\"result\":\"EQUAL\",\"value\":\"" ME64 "\"},"
		   "{\"key\":\"" NEXT64 "\",\"target\":\"CREATE\","
		   "\"create_revision\":\"0\"},"
		   "{\"key\":\"" NOPEN64 "\",\"target\":\"CREATE\","
		   "\"create_revision\":\"0\"}],"
		   "\"success\":[{\"request_put\":{\"key\":\"" NOPEN64 "\","
		   "\"value\":\"" ME64 "\"}}],"
		   "\"failure\":[{\"request_range\":{\"key\":\"" KEY64 "\"}},"
		   "{\"request_range\":{\"key\":\"" NEXT64 "\"}},"
		   "{\"request_range\":{\"key\":\"" NOPEN64 "\"}}]}"));
	/* Nobody owns E. */
	ask_etcd("me", o, http(0, 200, ADV_FAILED("", "", "")), NULL);
	expect(o, ARBITER_FREE, "", NULL);
	/* Another owns E, whatever else. */
	ask_etcd(
	    "me", o,
	    http(0, 200, ADV_FAILED(KV(KEY64, YOU64), "", KV(NOPEN64, ME64))),
	    NULL);
	expect(o, ARBITER_DENIED, "you", NULL);
	/* E is ours, E + 1 owned: by another, or by us. */
	ask_etcd(
	    "me", o,
	    http(0, 200, ADV_FAILED(KV(KEY64, ME64), KV(NEXT64, YOU64), "")),
	    NULL);
	expect(o, ARBITER_DENIED, "you", NULL);
	ask_etcd("me", o,
		 http(0, 200,
		      ADV_FAILED(KV(KEY64, ME64), KV(NEXT64, ME64),
				 KV(NOPEN64, ME64))),
		 NULL);
	expect(o, ARBITER_DENIED, "me", NULL);
	/* Opened by another; by us (again: idempotent). */
	ask_etcd(
	    "me", o,
	    http(0, 200, ADV_FAILED(KV(KEY64, ME64), "", KV(NOPEN64, YOU64))),
	    NULL);
	expect(o, ARBITER_DENIED, "you", NULL);
	ask_etcd(
	    "me", o,
	    http(0, 200, ADV_FAILED(KV(KEY64, ME64), "", KV(NOPEN64, ME64))),
	    NULL);
	expect(o, ARBITER_GRANTED, "me", NULL);
	/* Failed, yet every compare would hold: no answer. */
	ask_etcd("me", o, http(0, 200, ADV_FAILED(KV(KEY64, ME64), "", "")),
		 FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "the txn failed, yet key");
	/* A range of the wrong key, or too few ranges. */
	ask_etcd(
	    "me", o,
	    http(0, 200, ADV_FAILED(KV(KEY64, ME64), KV(KEY64, YOU64), "")),
	    FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "another key than pvft/arbiter/7/4");
	ask_etcd(
	    "me", o,
	    http(0, 200, "{" HDR ",\"responses\":[{\"response_range\":{}}]}"),
	    FAKE_CLOSE);
	expect(o, ARBITER_UNREACHABLE, "", "not a txn response");
	/* Ambiguous: read back with a range of E + 1 and its mark. */
	ask_etcd("me", o, FAKE_CLOSE,
		 http(1, 200, "{" HDR ",\"kvs\":[" KV(NOPEN64, ME64) "]}"));
	expect(o, ARBITER_GRANTED, "me", NULL);
	ask_etcd("me", o, FAKE_CLOSE,
		 http(1, 200, "{" HDR ",\"kvs\":[" KV(NEXT64, ME64) "]}"));
	expect(o, ARBITER_UNREACHABLE, "", "epoch 4 is owned by me");
	fake_advance = false;
	/* Query: the owner first, else the opener. */
	ask_etcd(NULL, o,
		 http(0, 200, "{" HDR ",\"kvs\":[" KV(OPEN64, YOU64) "]}"),
		 NULL);
	expect(o, ARBITER_OPENED, "you", NULL);
	ask_etcd(NULL, o,
		 http(0, 200,
		      "{" HDR
		      ",\"kvs\":[" KV(KEY64, ME64) "," KV(OPEN64, YOU64) "]}"),
		 NULL);
	expect(o, ARBITER_GRANTED, "me", NULL);
	ask_etcd(NULL, o,
		 http(0, 200,
		      "{" HDR
		      ",\"kvs\":[" KV(OPEN64, ME64) "," KV(OPEN64, ME64) "]}"),
		 NULL);
	expect(o, ARBITER_UNREACHABLE, "",
	       "2 kvs for key pvft/arbiter/7/3/opened");
	ask_etcd(NULL, o,
		 http(0, 200, "{" HDR ",\"kvs\":[" KV(NEXT64, ME64) "]}"),
		 NULL);
	expect(o, ARBITER_UNREACHABLE, "", "another key");
	/* An ambiguous acquire read back as opened: nobody owns the key. */
	ask_etcd("me", o, FAKE_CLOSE,
		 http(1, 200, "{" HDR ",\"kvs\":[" KV(OPEN64, ME64) "]}"));
	expect(o, ARBITER_UNREACHABLE, "", "the request was not applied");
	free(o);
}

/* Replies that lie or do not parse are no answer, and never a grant. */
static void test_etcd_bad_replies(void)
{
	struct outcome *o = calloc(1, sizeof(*o));
	char *huge = malloc(100 << 10);

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
	expect_etcd_query_refused(o, http(0, 200, "not json"), "not JSON");
	expect_etcd_query_refused(o, http(0, 200, "{" HDR "} {}"), "not JSON");
	expect_etcd_query_refused(o, http(0, 200, "[1]"), "not a range");
	expect_etcd_query_refused(o, http(0, 200, "{}"), "not a range");
	expect_etcd_query_refused(o, http(0, 200, "{" HDR ",\"kvs\":7}"),
				  "not a range");
	expect_etcd_query_refused(o,
				  http(0, 200,
				       "{" HDR ",\"kvs\":[{\"key\":\"" KEY64
				       "\",\"value\":\"!!\"}]}"),
				  "not a node id");
	/* A value with a NUL in it must not pass for the id before it. */
	expect_etcd_query_refused(o,
				  http(0, 200,
				       "{" HDR ",\"kvs\":[{\"key\":\"" KEY64
				       "\",\"value\":\"bWUA\"}]}"),
				  "not a node id");
	expect_etcd_query_refused(o,
				  http(0, 200,
				       "{" HDR ",\"kvs\":[{\"key\":\"" ME64
				       "\",\"value\":\"" ME64 "\"}]}"),
				  "another key");
	expect_etcd_query_refused(
	    o,
	    http(0, 200,
		 "{" HDR ",\"kvs\":[{\"key\":\"" KEY64 "\",\"value\":\"" ME64
		 "\"},{\"key\":\"" KEY64 "\",\"value\":\"" ME64 "\"}]}"),
	    "2 kvs");
	expect_etcd_query_refused(
	    o,
	    http(0, 503, "{\"error\":\"etcdserver: no leader\",\"code\":14}"),
	    "HTTP 503: etcdserver: no leader");
	expect_etcd_query_refused(o, http(0, 500, "\x01\x02"), "HTTP 500");
	/* A plain-text refusal (etcd's HTTP layer): its first line. */
	expect_etcd_query_refused(
	    o,
	    http(0, 400,
		 "CommonName of client sending a request against gateway "
		 "will be ignored and not used as expected\nmore\n"),
	    "HTTP 400: CommonName of client sending a request against gateway "
	    "will be ignored and not used as expected");
	/* Deeper than 16 levels. */
	expect_etcd_query_refused(o,
				  http(0, 200,
				       "[[[[[[[[[[[[[[[[[[[[1]]]]]"
				       "]]]]]]]]]]]]]]]"),
				  "not JSON");
	/* An endless header line or a 100 KiB body. */
	memset(huge, 'x', 100 << 10);
	memcpy(huge, HTTP_OK "Content-Length: 100000\r\n\r\n",
	       strlen(HTTP_OK "Content-Length: 100000\r\n\r\n"));
	huge[(100 << 10) - 1] = '\0';
	expect_etcd_query_refused(o, huge, "longer than 65536 bytes");
	expect_etcd_query_refused(o, "HTTP/1.1 200 OK\r\n", NULL);
	expect_etcd_query_refused(o, "SSH-2.0-OpenSSH\r\n", NULL);
	/* A txn that failed, yet shows no key. */
	ask_etcd(
	    "me", o,
	    http(0, 200, "{" HDR ",\"responses\":[{\"response_range\":{}}]}"),
	    http(1, 200, "{" HDR "}"));
	expect(o, ARBITER_UNREACHABLE, "",
	       "yet key pvft/arbiter/7/3 is absent");
	free(huge);
	free(o);
}

/* An ambiguous txn is resolved by a range, as on pvft://. */
static void test_etcd_ambiguous(void)
{
	struct outcome *o = calloc(1, sizeof(*o));

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	ask_etcd("me", o, FAKE_CLOSE,
		 http(0, 200,
		      "{" HDR ",\"kvs\":[{\"key\":\"" KEY64
		      "\",\"value\":\"" ME64 "\"}]}"));
	expect(o, ARBITER_GRANTED, "me", NULL);
	ask_etcd("me", o,
		 http(0, 503, "{\"error\":\"etcdserver: request timed out\"}"),
		 http(1, 200,
		      "{" HDR ",\"kvs\":[{\"key\":\"" KEY64
		      "\",\"value\":\"" YOU64 "\"}]}"));
	expect(o, ARBITER_DENIED, "you", NULL);
	ask_etcd("me", o, FAKE_SILENT, http(1, 200, "{" HDR "}"));
	expect(o, ARBITER_UNREACHABLE, "", "the request was not applied");
	free(o);
}

/* ---- pvft:// over TLS ---- */

#define FAKE_WAIT_NS 5000000000ull /* a fake's hang guard */

/*
 * A pvft-arbiter that takes one connection over TLS and knows one key:
 * pair @pair's, derived from @domain_key. The identity it saw (or
 * "handshake failed") and the request it read go to @req_fd; @reply is
 * its answer.
 */
static void fake_tls_child(int lfd, int req_fd, const uint8_t *domain_key,
			   uint64_t pair, const char *reply)
{
	char identity[TLS_IDENTITY_MAX + 1], why[256], buf[FAKE_REQ_MAX];
	struct pollfd pfd = { .events = POLLIN };
	struct tls_creds *creds;
	struct tls_conn *conn;
	uint8_t key[TLS_KEY_LEN];
	size_t got = 0;
	ssize_t n;

	signal(SIGPIPE, SIG_IGN);
	tls__arbiter_key(domain_key, pair, key, identity, sizeof(identity));
	pfd.fd = accept(lfd, NULL, NULL);
	if (pfd.fd < 0 ||
	    tls__creds_psk(&creds, TLS_SERVER, identity, key, why,
			   sizeof(why)) ||
	    tls__conn_new(&conn, creds, pfd.fd))
		_exit(1);
	if (tls__handshake_until(conn, clock__mono_ns() + FAKE_WAIT_NS, why,
				 sizeof(why))) {
		/* As pvft-arbiter does: no word, the connection closed. */
		dprintf(req_fd, "handshake failed\x1e");
		close(pfd.fd);
		pause();
	}
	dprintf(req_fd, "%s\x1e", tls__peer(conn));
	while (got < sizeof(buf) && !memchr(buf, '\n', got)) {
		n = tls__recv(conn, buf + got, sizeof(buf) - got);
		if (n == -EAGAIN && poll(&pfd, 1, 5000) == 1)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (write(req_fd, buf, got) != (ssize_t)got ||
	    write(req_fd, "\x1e", 1) != 1)
		_exit(1);
	tls__send_all(conn, reply, strlen(reply),
		      clock__mono_ns() + FAKE_WAIT_NS);
	pause();
	_exit(0);
}

/*
 * Acquire pair 7, epoch 3 for "me" with @client_key from a TLS fake that
 * knows pair @fake_pair's key of @fake_key and answers @reply.
 */
static void ask_tls(const uint8_t *fake_key, uint64_t fake_pair,
		    const uint8_t *client_key, const char *reply,
		    struct outcome *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct arbiter_auth auth = { .domain_key = client_key };
	socklen_t len = sizeof(sa);
	struct arbiter *a;
	struct fake f;
	int lfd, pipefd[2];
	char url[64];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_FATAL(!bind(lfd, (struct sockaddr *)&sa, sizeof(sa)));
	CU_ASSERT_FATAL(!listen(lfd, FAKE_MAX_CONNS));
	CU_ASSERT_FATAL(!getsockname(lfd, (struct sockaddr *)&sa, &len));
	CU_ASSERT_FATAL(!pipe(pipefd));
	f.port = ntohs(sa.sin_port);
	fflush(NULL);
	f.pid = fork();
	CU_ASSERT_FATAL(f.pid >= 0);
	if (!f.pid) {
		close(pipefd[0]);
		fake_tls_child(lfd, pipefd[1], fake_key, fake_pair, reply);
	}
	close(lfd);
	close(pipefd[1]);
	f.req_fd = pipefd[0];
	snprintf(url, sizeof(url), "pvft://127.0.0.1:%d", f.port);
	CU_ASSERT_FATAL(!arbiter__open(&a, url, &auth, o->why, sizeof(o->why)));
	o->ans = arbiter__acquire(a, 7, 3, "me", TIMEOUT_MS, o->owner, o->why,
				  sizeof(o->why));
	arbiter__close(a);
	fake_stop(&f, o->reqs, sizeof(o->reqs));
}

/*
 * pvft:// with a key speaks TLS under the pair's identity, with the key
 * derived for that pair; an arbiter that holds another key is refused
 * before a byte of the request leaves, so it is no ambiguous failure.
 */
static void test_pvft_tls(void)
{
	static const uint8_t dk[TLS_KEY_LEN] = { 0xd0, 0x3a, 7 };
	static const uint8_t other[TLS_KEY_LEN] = { 0xd0, 0x3a, 8 };
	struct outcome *o = calloc(1, sizeof(*o));

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	ask_tls(dk, 7, dk, "GRANTED me\n", o);
	expect(o, ARBITER_GRANTED, "me", NULL);
	CU_ASSERT_STRING_EQUAL(o->reqs, "pvft-pair-7\x1e"
					"ACQUIRE 7 3 me\n\x1e");
	ask_tls(dk, 7, other, "GRANTED me\n", o);
	expect(o, ARBITER_UNREACHABLE, "",
	       "closed the connection in the TLS "
	       "handshake");
	CU_ASSERT_STRING_EQUAL(o->reqs, "handshake failed\x1e");
	CU_ASSERT_PTR_NULL(strstr(o->why, "reading the owner back"));
	/* The domain's key, but the arbiter holds pair 8's only. */
	ask_tls(dk, 8, dk, "GRANTED me\n", o);
	expect(o, ARBITER_UNREACHABLE, "",
	       "closed the connection in the TLS "
	       "handshake");
	CU_ASSERT_STRING_EQUAL(o->reqs, "handshake failed\x1e");
	free(o);
}

/* ---- etcd auth: a login for a token, and a new one when it goes stale */

#define LOGIN_OK(tok) "{" HDR ",\"token\":\"" tok "\"}"
#define TXN_OK "{" HDR ",\"succeeded\":true}"

static const struct arbiter_auth etcd_user = {
	.insecure = true,
	.user = "pvft-pair-7",
	.password = "s3cret \"quoted\" \\ and all",
};

static void test_etcd_login(void)
{
	static const char *const no_token[] = {
		"{" HDR "}",
		"{" HDR ",\"token\":\"\"}",
		"{" HDR ",\"token\":\"a b\"}",
		"{" HDR ",\"token\":\"a\\r\\nX-Evil: 1\"}",
		"{\"token\":\"tok\"}",
	};
	struct outcome *o = calloc(1, sizeof(*o));
	const char *r[2];
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	r[0] = http(0, 200, LOGIN_OK("tok1.5"));
	r[1] = http(1, 200, TXN_OK);
	ask_fake_as("etcd", &etcd_user, "me", r, 2, o);
	expect(o, ARBITER_GRANTED, "me", NULL);
	/* The login, its JSON escaped, then the txn with the token. */
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(o->reqs, "POST /v3/auth/authenticate HTTP/1.1"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(o->reqs, "{\"name\":\"pvft-pair-7\",\"password\":\"s3cret "
			    "\\\"quoted\\\" \\\\ and all\"}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(o->reqs, "POST /v3/kv/txn HTTP/1.1"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(o->reqs, "\r\nAuthorization: tok1.5\r\n"));
	CU_ASSERT_PTR_NULL(
	    strstr(strstr(o->reqs, "/v3/kv/txn"), "/v3/auth/authenticate"));
	/* Refused: nothing can have been applied, so nothing to read back. */
	r[0] = http(0, 400,
		    "{\"error\":\"etcdserver: authentication failed, invalid "
		    "user ID or password\",\"code\":3}");
	ask_fake_as("etcd", &etcd_user, "me", r, 1, o);
	expect(o, ARBITER_UNREACHABLE, "",
	       "HTTP 400: etcdserver: authentication failed");
	CU_ASSERT_PTR_NOT_NULL(strstr(o->why, "logging in as pvft-pair-7"));
	CU_ASSERT_PTR_NULL(strstr(o->why, "reading the owner back"));
	/* A token that is missing, empty or would break the header. */
	for (i = 0; i < sizeof(no_token) / sizeof(no_token[0]); i++) {
		r[0] = http(0, 200, no_token[i]);
		ask_fake_as("etcd", &etcd_user, NULL, r, 1, o);
		expect(o, ARBITER_UNREACHABLE, "",
		       "bad reply: no token for user pvft-pair-7");
	}
	/* Permission denied (another pair's user) is an answer from no one. */
	r[0] = http(0, 200, LOGIN_OK("tok"));
	r[1] = http(1, 403,
		    "{\"error\":\"etcdserver: permission denied\",\"code\":7}");
	ask_fake_as("etcd", &etcd_user, NULL, r, 2, o);
	expect(o, ARBITER_UNREACHABLE, "",
	       "HTTP 403: etcdserver: permission denied");
	free(o);
}

/*
 * A token is asked for once per endpoint and kept; one that etcd stops
 * taking (expired: 401; the auth store changed) is replaced, and the
 * request made again, within the same call.
 */
static void test_etcd_stale_token(void)
{
	const char *const r[] = {
		http(0, 200, LOGIN_OK("tok1")),
		http(1, 200, TXN_OK),
		http(2, 401,
		     "{\"error\":\"etcdserver: invalid auth token\","
		     "\"code\":16}"),
		http(3, 200, LOGIN_OK("tok2")),
		http(4, 200, TXN_OK),
		http(5, 400,
		     "{\"error\":\"etcdserver: revision of auth store is "
		     "old\",\"code\":3}"),
	};
	char owner[ARBITER_NODE_MAX + 1], why[512], *reqs, *p;
	struct arbiter *a;
	struct fake f;
	char url[64];
	int i;

	reqs = calloc(1, FAKE_MAX_CONNS * FAKE_REQ_MAX);
	CU_ASSERT_PTR_NOT_NULL_FATAL(reqs);
	fake_start(&f, true, r, 6);
	snprintf(url, sizeof(url), "etcd://127.0.0.1:%d", f.port);
	CU_ASSERT_FATAL(!arbiter__open(&a, url, &etcd_user, why, sizeof(why)));
	for (i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(arbiter__acquire(a, 7, 3, "me", TIMEOUT_MS,
						 owner, why, sizeof(why)),
				ARBITER_GRANTED);
	/* The old revision: a login the fake no longer answers. */
	CU_ASSERT_EQUAL(
	    arbiter__query(a, 7, 3, TIMEOUT_MS, owner, why, sizeof(why)),
	    ARBITER_UNREACHABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "logging in as pvft-pair-7"));
	arbiter__close(a);
	fake_stop(&f, reqs, FAKE_MAX_CONNS * FAKE_REQ_MAX);
	/* login, txn (tok1), txn (tok1: 401), login, txn (tok2), range. */
	p = reqs;
	for (i = 0; i < 6; i++) {
		static const char *const want[] = {
			"/v3/auth/authenticate", "Authorization: tok1",
			"Authorization: tok1",	 "/v3/auth/authenticate",
			"Authorization: tok2",	 "Authorization: tok2",
		};
		char *end = strchr(p, '\x1e');

		CU_ASSERT_PTR_NOT_NULL_FATAL(end);
		*end = '\0';
		if (!strstr(p, want[i]))
			fprintf(stderr, "\n  request %d lacks '%s'\n", i,
				want[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(p, want[i]));
		p = end + 1;
	}
	free(reqs);
}

/* Nobody listening: a refused connection is not ambiguous. */
static void test_unreachable(void)
{
	char owner[ARBITER_NODE_MAX + 1], why[256];
	struct arbiter *a;
	struct fake f;
	char url[64], reqs[16];
	static const char *const none[] = { FAKE_CLOSE };

	/* A port that was just free. */
	fake_start(&f, false, none, 1);
	fake_stop(&f, reqs, sizeof(reqs));
	snprintf(url, sizeof(url), "pvft://127.0.0.1:%d", f.port);
	CU_ASSERT_FATAL(!arbiter__open(&a, url, &insecure, why, sizeof(why)));
	CU_ASSERT_EQUAL(arbiter__acquire(a, 1, 1, "me", TIMEOUT_MS, owner, why,
					 sizeof(why)),
			ARBITER_UNREACHABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "Connection refused"));
	CU_ASSERT_PTR_NULL(strstr(why, "reading the owner back"));
	CU_ASSERT_EQUAL(arbiter__acquire(a, 1, 1, "bad node", TIMEOUT_MS, owner,
					 why, sizeof(why)),
			ARBITER_UNREACHABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "bad node id"));
	arbiter__close(a);
	CU_ASSERT_STRING_EQUAL(arbiter__answer_name(ARBITER_GRANTED),
			       "granted");
	CU_ASSERT_STRING_EQUAL(arbiter__answer_name(ARBITER_UNREACHABLE),
			       "unreachable");
	CU_ASSERT_STRING_EQUAL(arbiter__answer_name(ARBITER_OPENED), "opened");
	/* The last epoch has no next one: asked of no one. */
	CU_ASSERT_FATAL(!arbiter__open(&a, url, &insecure, why, sizeof(why)));
	CU_ASSERT_EQUAL(arbiter__advance(a, 1, UINT64_MAX, "me", TIMEOUT_MS,
					 owner, why, sizeof(why)),
			ARBITER_UNREACHABLE);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "no next epoch"));
	CU_ASSERT_PTR_NULL(strstr(why, "refused"));
	arbiter__close(a);
}

static CU_TestInfo arbiter_tests[] = {
	{ "node ids", test_valid_node },
	{ "good URLs", test_url_good },
	{ "bad URLs", test_url_bad },
	{ "credentials each scheme takes", test_url_auth },
	{ "decimal u64s", test_parse_u64 },
	{ "request lines", test_parse_request },
	{ "request lines written", test_format_request },
	{ "reply lines", test_parse_reply },
	{ "reply lines written", test_format_reply },
	{ "PSK identities", test_parse_identity },
	{ "HOST:PORT", test_hostport },
	{ "HOST:PORT split and formatted (lib/hostport.c)",
	  test_hostport_split },
	{ "pvft:// answers", test_pvft_answers },
	{ "pvft:// replies that lie or do not parse", test_pvft_bad_replies },
	{ "pvft:// ambiguous acquires read back", test_pvft_ambiguous },
	{ "pvft:// advance, opened", test_pvft_advance },
	{ "etcd:// answers", test_etcd_answers },
	{ "etcd:// replies that lie or do not parse", test_etcd_bad_replies },
	{ "etcd:// ambiguous acquires read back", test_etcd_ambiguous },
	{ "etcd:// advance, opened", test_etcd_advance },
	{ "pvft:// over TLS with the pair's key", test_pvft_tls },
	{ "etcd auth: login, token, refusals", test_etcd_login },
	{ "etcd auth: a stale token is replaced", test_etcd_stale_token },
	{ "nobody listening", test_unreachable },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo arbiter_suites[] = {
	{ "arbiter", NULL, NULL, NULL, NULL, arbiter_tests },
	CU_SUITE_INFO_NULL,
};

void test_arbiter__register(void)
{
	CU_register_suites(arbiter_suites);
}
