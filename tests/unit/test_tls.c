// SPDX-License-Identifier: MIT
/*
 * lib/tls.c: key files (mode, format), derived keys, and handshakes over
 * a socketpair between two non-blocking ends driven in turn: the right
 * key pairs and carries bytes both ways; a wrong key, an unknown identity
 * and plaintext bytes are refused and no application byte gets through.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "clock.h"
#include "tls.h"
#include "unit.h"

static char dir[] = "/tmp/pvft-test-tls-XXXXXX";

static int setup(void)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void test_keygen_and_load(void)
{
	char p[256], why[256];
	uint8_t k1[TLS_KEY_LEN], k2[TLS_KEY_LEN];
	struct stat st;

	path_of(p, sizeof(p), "a.key");
	CU_ASSERT_EQUAL(tls__keygen(p, false, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(stat(p, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(st.st_size, TLS_KEY_LEN * 2 + 1);
	CU_ASSERT_EQUAL(tls__load_key(p, k1, why, sizeof(why)), 0);
	/* No overwrite without force. */
	CU_ASSERT_EQUAL(tls__keygen(p, false, why, sizeof(why)), -EEXIST);
	CU_ASSERT_EQUAL(tls__load_key(p, k2, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(memcmp(k1, k2, TLS_KEY_LEN), 0);
	CU_ASSERT_EQUAL(tls__keygen(p, true, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(tls__load_key(p, k2, why, sizeof(why)), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(k1, k2, TLS_KEY_LEN), 0);
	/* Others may read it: refused, and the message says how to mend. */
	CU_ASSERT_EQUAL(chmod(p, 0644), 0);
	CU_ASSERT_EQUAL(tls__load_key(p, k2, why, sizeof(why)), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "chmod 600"));
}

static void write_file(const char *p, const char *text, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(p, mode);
}

static void test_bad_key_files(void)
{
	static const char *const bad[] = {
		"",
		"0123",
		"zz000000000000000000000000000000000000000000000000000000000000"
		"00"
		"\n",
		"00000000000000000000000000000000000000000000000000000000000000"
		"000"
		"\n",
		"00000000000000000000000000000000000000000000000000000000000000"
		"00"
		"\n\n",
	};
	char p[256], why[256];
	uint8_t k[TLS_KEY_LEN];
	size_t i;

	path_of(p, sizeof(p), "bad.key");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(p, bad[i], 0600);
		CU_ASSERT_EQUAL(tls__load_key(p, k, why, sizeof(why)), -EINVAL);
	}
	write_file(p,
		   "00112233445566778899aabbccddeeffFFEEDDCCBBAA99887766554433"
		   "221100",
		   0600);
	CU_ASSERT_EQUAL(tls__load_key(p, k, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(k[1], 0x11);
	CU_ASSERT_EQUAL(k[16], 0xff);
	CU_ASSERT_EQUAL(tls__load_key(dir, k, why, sizeof(why)), -EINVAL);
	path_of(p, sizeof(p), "missing.key");
	CU_ASSERT_EQUAL(tls__load_key(p, k, why, sizeof(why)), -ENOENT);
}

static void test_derive(void)
{
	uint8_t key[TLS_KEY_LEN] = { 1, 2, 3 }, a[TLS_KEY_LEN], b[TLS_KEY_LEN];
	char id[64], kid[TLS_KEY_ID_LEN + 1];

	tls__derive(key, TLS_LABEL_CHANNEL, a);
	tls__derive(key, TLS_LABEL_CHANNEL, b);
	CU_ASSERT_EQUAL(memcmp(a, b, sizeof(a)), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(a, key, sizeof(a)), 0);
	tls__arbiter_key(key, 42, b, id, sizeof(id));
	CU_ASSERT_STRING_EQUAL(id, "pvft-pair-42");
	CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof(a)), 0);
	tls__arbiter_key(key, 43, a, id, sizeof(id));
	CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof(a)), 0);
	tls__key_id(key, kid);
	CU_ASSERT_EQUAL(strlen(kid), TLS_KEY_ID_LEN);
}

/* Both ends' handshakes, in turn, until each is done or failed. */
static void drive(struct tls_conn *a, struct tls_conn *b, int *ra, int *rb)
{
	char why[256];
	int i;

	*ra = *rb = -EAGAIN;
	for (i = 0; i < 1000 && (*ra == -EAGAIN || *rb == -EAGAIN); i++) {
		if (*ra == -EAGAIN)
			*ra = tls__handshake(a, why, sizeof(why));
		if (*rb == -EAGAIN)
			*rb = tls__handshake(b, why, sizeof(why));
		/* One side failed: the other reads its alert or the EOF. */
		if (*ra != 0 && *ra != -EAGAIN && *rb == -EAGAIN)
			break;
		if (*rb != 0 && *rb != -EAGAIN && *ra == -EAGAIN)
			break;
	}
}

static void pair_fds(int sv[2])
{
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
}

static void try_psk(const uint8_t *ck, const char *cid, const uint8_t *sk,
		    const char *sid, bool ok)
{
	struct tls_creds *cc, *sc;
	struct tls_conn *c, *s;
	char why[256], buf[64];
	int sv[2], rc, rs;

	pair_fds(sv);
	CU_ASSERT_FATAL(
	    tls__creds_psk(&cc, TLS_CLIENT, cid, ck, why, sizeof(why)) == 0);
	CU_ASSERT_FATAL(
	    tls__creds_psk(&sc, TLS_SERVER, sid, sk, why, sizeof(why)) == 0);
	CU_ASSERT_FATAL(tls__conn_new(&c, cc, sv[0]) == 0);
	CU_ASSERT_FATAL(tls__conn_new(&s, sc, sv[1]) == 0);
	/* Before the handshake, nothing goes out. */
	CU_ASSERT_EQUAL(tls__send(c, "x", 1), -ENOTCONN);
	drive(c, s, &rc, &rs);
	if (ok) {
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(rs, 0);
		CU_ASSERT_STRING_EQUAL(tls__peer(s), cid);
		CU_ASSERT_EQUAL(tls__send(c, "hello", 5), 5);
		CU_ASSERT_EQUAL(
		    tls__recv_all(s, buf, 5, clock__mono_ns() + 2000000000ull),
		    0);
		CU_ASSERT_EQUAL(memcmp(buf, "hello", 5), 0);
		CU_ASSERT_EQUAL(tls__send(s, "back", 4), 4);
		CU_ASSERT_EQUAL(
		    tls__recv_all(c, buf, 4, clock__mono_ns() + 2000000000ull),
		    0);
		CU_ASSERT_EQUAL(memcmp(buf, "back", 4), 0);
	} else {
		CU_ASSERT_TRUE(rs != 0 && rs != -EAGAIN);
		CU_ASSERT_NOT_EQUAL(rc, 0);
		CU_ASSERT_EQUAL(tls__recv(s, buf, sizeof(buf)), -ENOTCONN);
	}
	tls__conn_free(c);
	tls__conn_free(s);
	tls__creds_free(cc);
	tls__creds_free(sc);
	close(sv[0]);
	close(sv[1]);
}

static void test_psk_handshakes(void)
{
	uint8_t k1[TLS_KEY_LEN] = { 7 }, k2[TLS_KEY_LEN] = { 8 };

	try_psk(k1, "pvft-chan-a", k1, "pvft-chan-a", true);
	try_psk(k1, "pvft-chan-a", k2, "pvft-chan-a", false);
	try_psk(k1, "pvft-chan-b", k1, "pvft-chan-a", false);
}

static int lookup(void *opaque, const char *identity, uint8_t key[TLS_KEY_LEN])
{
	(void)opaque;
	if (strcmp(identity, "pvft-pair-9"))
		return -1;
	memset(key, 9, TLS_KEY_LEN);
	return 0;
}

static void test_psk_lookup(void)
{
	uint8_t k9[TLS_KEY_LEN];
	struct tls_creds *cc, *sc;
	struct tls_conn *c, *s;
	char why[256];
	int sv[2], rc, rs;

	memset(k9, 9, sizeof(k9));
	CU_ASSERT_FATAL(
	    tls__creds_psk_server(&sc, lookup, NULL, why, sizeof(why)) == 0);
	for (int known = 1; known >= 0; known--) {
		pair_fds(sv);
		CU_ASSERT_FATAL(
		    tls__creds_psk(&cc, TLS_CLIENT,
				   known ? "pvft-pair-9" : "pvft-pair-8", k9,
				   why, sizeof(why)) == 0);
		CU_ASSERT_FATAL(tls__conn_new(&c, cc, sv[0]) == 0);
		CU_ASSERT_FATAL(tls__conn_new(&s, sc, sv[1]) == 0);
		drive(c, s, &rc, &rs);
		CU_ASSERT_EQUAL(rs == 0, known);
		if (known)
			CU_ASSERT_STRING_EQUAL(tls__peer(s), "pvft-pair-9");
		tls__conn_free(c);
		tls__conn_free(s);
		tls__creds_free(cc);
		close(sv[0]);
		close(sv[1]);
	}
	tls__creds_free(sc);
}

/* A server with a key, a client speaking plaintext: refused at once. */
static void test_plaintext_peer_refused(void)
{
	uint8_t k[TLS_KEY_LEN] = { 1 };
	struct tls_creds *sc;
	struct tls_conn *s, *c;
	char why[256] = "";
	int sv[2], r = -EAGAIN, i;

	pair_fds(sv);
	CU_ASSERT_FATAL(
	    tls__creds_psk(&sc, TLS_SERVER, "i", k, why, sizeof(why)) == 0);
	CU_ASSERT_FATAL(tls__conn_new(&s, sc, sv[1]) == 0);
	CU_ASSERT_FATAL(tls__conn_new(&c, NULL, sv[0]) == 0);
	CU_ASSERT_FALSE(tls__secure(c));
	CU_ASSERT_EQUAL(tls__send(c, "PVFTLOG1 not a client hello at all", 34),
			34);
	for (i = 0; i < 100 && r == -EAGAIN; i++)
		r = tls__handshake(s, why, sizeof(why));
	CU_ASSERT_TRUE(r != 0 && r != -EAGAIN);
	CU_ASSERT_TRUE(why[0] != '\0');
	tls__conn_free(s);
	tls__conn_free(c);
	tls__creds_free(sc);
	close(sv[0]);
	close(sv[1]);
}

static CU_TestInfo tls_tests[] = {
	{ "keygen writes 0600 and load reads it back", test_keygen_and_load },
	{ "bad key files are refused", test_bad_key_files },
	{ "derived keys differ per use and pair", test_derive },
	{ "PSK handshakes: right key, wrong key, identity",
	  test_psk_handshakes },
	{ "PSK server lookup by identity", test_psk_lookup },
	{ "a plaintext peer is refused", test_plaintext_peer_refused },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo tls_suites[] = {
	{ "tls", setup, teardown, NULL, NULL, tls_tests },
	CU_SUITE_INFO_NULL,
};

void test_tls__register(void)
{
	CU_register_suites(tls_suites);
}
