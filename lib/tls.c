// SPDX-License-Identifier: MIT
/*
 * Authenticated, encrypted links through GnuTLS: tls.h says what each
 * call does. TLS 1.3 only; a PSK handshake is ECDHE-PSK (the pre-shared
 * key proves who the peer is, the ephemeral exchange keeps past traffic
 * secret if the key leaks later), an x509 one requires and verifies a
 * certificate from both ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "io.h"
#include "tls.h"

/*
 * AES-128-GCM first: with AES-NI the cheapest of TLS 1.3's AEADs, and the
 * channel encrypts every record of the log (performance.md).
 */
#define TLS_CIPHERS "-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
#define TLS_PRIO_PSK \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-PSK:" TLS_CIPHERS
#define TLS_PRIO_X509 "NORMAL:-VERS-ALL:+VERS-TLS1.3:" TLS_CIPHERS
/* A record's plaintext at most: a longer send is cut to it. */
#define TLS_RECORD_MAX 16384

struct tls_creds {
	enum tls_side side;
	bool x509;
	gnutls_psk_client_credentials_t psk_cli;
	gnutls_psk_server_credentials_t psk_srv;
	gnutls_certificate_credentials_t cert;
	/* One identity (tls__creds_psk), or a lookup. */
	char identity[TLS_IDENTITY_MAX + 1];
	uint8_t key[TLS_KEY_LEN];
	tls_lookup_fn *lookup;
	void *opaque;
	/* x509: the name the peer's certificate must carry ("": any). */
	char peer_name[TLS_IDENTITY_MAX + 1];
};

struct tls_conn {
	struct tls_creds *creds; /* NULL: plaintext */
	gnutls_session_t s;
	int fd;
	bool done;	     /* handshake over: the peer is who it says */
	size_t send_pending; /* bytes of a send that returned EAGAIN */
	char peer[256];
	/*
	 * What one recv() brought and GnuTLS has not taken yet: it asks
	 * for a record's header, then its body, a system call each; one
	 * read of all there is serves a burst of small records.
	 */
	uint8_t *rbuf;
	size_t roff, rlen;
};

#define TLS_RBUF_SIZE 65536

static int fail(char *why, size_t why_len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t why_len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- keys ---------------------------------------------------------------- */

int tls__write_key(const char *path, const uint8_t key[TLS_KEY_LEN], bool force,
		   char *why, size_t why_len)
{
	char text[TLS_KEY_LEN * 2 + 2];
	int fd, rc = 0;
	size_t i;

	for (i = 0; i < TLS_KEY_LEN; i++)
		snprintf(text + 2 * i, 3, "%02x", key[i]);
	text[TLS_KEY_LEN * 2] = '\n';
	/* 0600 from the start: never a moment where others could read it. */
	fd = open(path,
		  O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
		      (force ? O_TRUNC : O_EXCL),
		  0600);
	if (fd < 0)
		return fail(why, why_len, -errno, "%s: %s%s", path,
			    strerror(errno),
			    errno == EEXIST ? " (-f overwrites it)" : "");
	errno = EIO; /* a short write sets none */
	if (fchmod(fd, 0600) ||
	    write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1) ||
	    fsync(fd))
		rc =
		    fail(why, why_len, -errno, "%s: %s", path, strerror(errno));
	explicit_bzero(text, sizeof(text));
	if (close(fd) && !rc)
		rc =
		    fail(why, why_len, -errno, "%s: %s", path, strerror(errno));
	return rc;
}

int tls__keygen(const char *path, bool force, char *why, size_t why_len)
{
	uint8_t key[TLS_KEY_LEN];
	int rc;

	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
		return fail(why, why_len, -errno, "no random bytes: %s",
			    strerror(errno));
	rc = tls__write_key(path, key, force, why, why_len);
	explicit_bzero(key, sizeof(key));
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tls__load_key(const char *path, uint8_t key[TLS_KEY_LEN], char *why,
		  size_t why_len)
{
	char text[TLS_KEY_LEN * 2 + 3];
	struct stat st;
	ssize_t n;
	size_t i;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return fail(why, why_len, -errno, "key file %s: %s", path,
			    strerror(errno));
	if (fstat(fd, &st)) {
		int e = errno;

		close(fd);
		return fail(why, why_len, -e, "key file %s: %s", path,
			    strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(why, why_len, -EINVAL,
			    "key file %s: not a regular file", path);
	}
	/*
	 * As ssh does with its keys: one others can read, or another user
	 * owns (and so can read or replace), is no secret.
	 */
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		close(fd);
		return fail(why, why_len, -EPERM,
			    "key file %s: owned by uid %u, not by this user "
			    "or root",
			    path, (unsigned int)st.st_uid);
	}
	if (st.st_mode & 077) {
		close(fd);
		return fail(why, why_len, -EPERM,
			    "key file %s: mode %03o lets others read it "
			    "(chmod 600 %s)",
			    path, (unsigned int)(st.st_mode & 0777), path);
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n < 0)
		return fail(why, why_len, -errno, "key file %s: %s", path,
			    strerror(errno));
	if (n == TLS_KEY_LEN * 2 + 1 && text[n - 1] == '\n')
		n--;
	if (n != TLS_KEY_LEN * 2)
		return fail(why, why_len, -EINVAL,
			    "key file %s: not a pvft key (want %d hex "
			    "digits, as pvft keygen writes)",
			    path, TLS_KEY_LEN * 2);
	for (i = 0; i < TLS_KEY_LEN; i++) {
		int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			explicit_bzero(key, TLS_KEY_LEN);
			return fail(why, why_len, -EINVAL,
				    "key file %s: not a pvft key (a byte "
				    "that is no hex digit)",
				    path);
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	explicit_bzero(text, sizeof(text));
	return 0;
}

void tls__derive(const uint8_t key[TLS_KEY_LEN], const char *label,
		 uint8_t out[TLS_KEY_LEN])
{
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, TLS_KEY_LEN, label,
			 strlen(label), out);
}

void tls__arbiter_key(const uint8_t key[TLS_KEY_LEN], uint64_t pair,
		      uint8_t out[TLS_KEY_LEN], char *identity,
		      size_t identity_len)
{
	char label[64];

	snprintf(label, sizeof(label), "pvft arbiter v1 pair %" PRIu64, pair);
	tls__derive(key, label, out);
	if (identity)
		snprintf(identity, identity_len,
			 TLS_ARBITER_IDENTITY_PREFIX "%" PRIu64, pair);
}

void tls__key_id(const uint8_t key[TLS_KEY_LEN], char id[TLS_KEY_ID_LEN + 1])
{
	uint8_t h[TLS_KEY_LEN];
	int i;

	tls__derive(key, "pvft key id v1", h);
	for (i = 0; i < TLS_KEY_ID_LEN / 2; i++)
		snprintf(id + 2 * i, 3, "%02x", h[i]);
}

int tls__read_secret(const char *path, char *buf, size_t len, char *why,
		     size_t why_len)
{
	struct stat st;
	ssize_t n = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	const char *bad = NULL;

	int rc = -EINVAL;

	if (fd < 0 || fstat(fd, &st)) {
		rc = -errno;
		bad = strerror(errno);
	} else if (!S_ISREG(st.st_mode)) {
		bad = "not a regular file";
	} else if (st.st_uid != geteuid() && st.st_uid != 0) {
		bad = "owned by another user";
	} else if (st.st_mode & 077) {
		bad = "others may read it (chmod 600)";
	} else if ((n = read(fd, buf, len)) < 0) {
		rc = -errno;
		bad = strerror(errno);
	} else if ((size_t)n == len && !memchr(buf, '\n', len)) {
		bad = "its first line is too long";
	}
	if (fd >= 0)
		close(fd);
	if (!bad) {
		buf[(size_t)n < len ? (size_t)n : len - 1] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		if (!buf[0])
			bad = "empty";
	}
	if (bad) {
		explicit_bzero(buf, len);
		return fail(why, why_len, rc, "%s: %s", path, bad);
	}
	return 0;
}

/* ---- credentials --------------------------------------------------------- */

static struct tls_creds *creds_new(enum tls_side side)
{
	struct tls_creds *c = calloc(1, sizeof(*c));

	if (c)
		c->side = side;
	return c;
}

/* The server's answer to an identity: the key it must prove. */
static int psk_lookup(gnutls_session_t s, const gnutls_datum_t *user,
		      gnutls_datum_t *key)
{
	struct tls_conn *conn = gnutls_session_get_ptr(s);
	struct tls_creds *c = conn->creds;
	char id[TLS_IDENTITY_MAX + 1];
	uint8_t k[TLS_KEY_LEN];
	int rc;

	if (!user->size || user->size > TLS_IDENTITY_MAX ||
	    memchr(user->data, '\0', user->size))
		return -1;
	memcpy(id, user->data, user->size);
	id[user->size] = '\0';
	if (c->lookup)
		rc = c->lookup(c->opaque, id, k);
	else if (!strcmp(id, c->identity)) {
		memcpy(k, c->key, sizeof(k));
		rc = 0;
	} else
		rc = -1;
	/*
	 * An unknown identity still gets a key, a random one: the handshake
	 * then fails exactly as with a wrong key, telling a prober nothing
	 * about which identities exist.
	 */
	if (rc && getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k))
		return -1;
	key->data = gnutls_malloc(TLS_KEY_LEN);
	if (!key->data)
		return -1;
	memcpy(key->data, k, TLS_KEY_LEN);
	key->size = TLS_KEY_LEN;
	explicit_bzero(k, sizeof(k));
	return 0;
}

int tls__creds_psk(struct tls_creds **creds_r, enum tls_side side,
		   const char *identity, const uint8_t key[TLS_KEY_LEN],
		   char *why, size_t why_len)
{
	struct tls_creds *c;
	int r;

	if (strlen(identity) > TLS_IDENTITY_MAX)
		return fail(why, why_len, -EINVAL, "PSK identity too long");
	c = creds_new(side);
	if (!c)
		return fail(why, why_len, -ENOMEM, "out of memory");
	snprintf(c->identity, sizeof(c->identity), "%s", identity);
	memcpy(c->key, key, TLS_KEY_LEN);
	if (side == TLS_CLIENT) {
		gnutls_datum_t k = { .data = c->key, .size = TLS_KEY_LEN };

		r = gnutls_psk_allocate_client_credentials(&c->psk_cli);
		if (!r)
			r = gnutls_psk_set_client_credentials(
			    c->psk_cli, identity, &k, GNUTLS_PSK_KEY_RAW);
	} else {
		r = gnutls_psk_allocate_server_credentials(&c->psk_srv);
		if (!r)
			gnutls_psk_set_server_credentials_function2(c->psk_srv,
								    psk_lookup);
	}
	if (r) {
		tls__creds_free(c);
		return fail(why, why_len, -ENOMEM, "PSK credentials: %s",
			    gnutls_strerror(r));
	}
	*creds_r = c;
	return 0;
}

int tls__creds_psk_server(struct tls_creds **creds_r, tls_lookup_fn *lookup,
			  void *opaque, char *why, size_t why_len)
{
	uint8_t none[TLS_KEY_LEN] = { 0 };
	int rc;

	rc = tls__creds_psk(creds_r, TLS_SERVER, "", none, why, why_len);
	if (rc)
		return rc;
	(*creds_r)->lookup = lookup;
	(*creds_r)->opaque = opaque;
	return 0;
}

int tls__creds_x509(struct tls_creds **creds_r, enum tls_side side,
		    const char *ca, const char *cert, const char *key,
		    char *why, size_t why_len)
{
	struct tls_creds *c;
	int r;

	if (!ca || !cert || !key)
		return fail(why, why_len, -EINVAL,
			    "x509 needs a CA, a certificate and its key");
	c = creds_new(side);
	if (!c)
		return fail(why, why_len, -ENOMEM, "out of memory");
	c->x509 = true;
	r = gnutls_certificate_allocate_credentials(&c->cert);
	if (r) {
		tls__creds_free(c);
		return fail(why, why_len, -ENOMEM, "x509 credentials: %s",
			    gnutls_strerror(r));
	}
	r = gnutls_certificate_set_x509_trust_file(c->cert, ca,
						   GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		tls__creds_free(c);
		return fail(why, why_len, -EINVAL, "CA file %s: %s", ca,
			    r ? gnutls_strerror(r) : "no certificate in it");
	}
	r = gnutls_certificate_set_x509_key_file(c->cert, cert, key,
						 GNUTLS_X509_FMT_PEM);
	if (r) {
		tls__creds_free(c);
		return fail(why, why_len, -EINVAL,
			    "certificate %s with key %s: %s", cert, key,
			    gnutls_strerror(r));
	}
	*creds_r = c;
	return 0;
}

void tls__creds_set_peer_name(struct tls_creds *c, const char *name)
{
	snprintf(c->peer_name, sizeof(c->peer_name), "%s", name);
}

void tls__creds_free(struct tls_creds *c)
{
	if (!c)
		return;
	if (c->psk_cli)
		gnutls_psk_free_client_credentials(c->psk_cli);
	if (c->psk_srv)
		gnutls_psk_free_server_credentials(c->psk_srv);
	if (c->cert)
		gnutls_certificate_free_credentials(c->cert);
	explicit_bzero(c->key, sizeof(c->key));
	free(c);
}

/* ---- connections --------------------------------------------------------- */

/* GnuTLS's reads: from what the last recv() brought, else a new one. */
static ssize_t pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct tls_conn *t = ptr;
	size_t n;

	if (t->roff == t->rlen) {
		ssize_t r = recv(t->fd, t->rbuf, TLS_RBUF_SIZE, 0);

		if (r <= 0)
			return r; /* errno as recv() left it: GnuTLS reads it */
		t->roff = 0;
		t->rlen = (size_t)r;
	}
	n = t->rlen - t->roff < len ? t->rlen - t->roff : len;
	memcpy(buf, t->rbuf + t->roff, n);
	t->roff += n;
	return (ssize_t)n;
}

static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct tls_conn *t = ptr;
	struct pollfd pfd = { .fd = t->fd, .events = POLLIN };

	if (t->roff < t->rlen)
		return 1;
	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

int tls__conn_new(struct tls_conn **conn_r, struct tls_creds *creds, int fd)
{
	struct tls_conn *t = calloc(1, sizeof(*t));
	unsigned int flags;
	int r;

	if (!t)
		return -ENOMEM;
	t->fd = fd;
	t->creds = creds;
	if (!creds) {
		t->done = true;
		*conn_r = t;
		return 0;
	}
	flags = (creds->side == TLS_SERVER ? GNUTLS_SERVER : GNUTLS_CLIENT) |
		GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS;
	r = gnutls_init(&t->s, flags);
	if (r) {
		free(t);
		return -ENOMEM;
	}
	gnutls_session_set_ptr(t->s, t);
	if (creds->x509) {
		r = gnutls_priority_set_direct(t->s, TLS_PRIO_X509, NULL);
		if (!r)
			r = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE,
						   creds->cert);
		if (!r && creds->side == TLS_SERVER)
			gnutls_certificate_server_set_request(
			    t->s, GNUTLS_CERT_REQUIRE);
		/*
		 * The handshake fails unless the peer's chain verifies and,
		 * when a name is set, its certificate carries it: a CA signs
		 * for more than one pair.
		 */
		if (!r)
			gnutls_session_set_verify_cert(
			    t->s, creds->peer_name[0] ? creds->peer_name : NULL,
			    0);
	} else {
		r = gnutls_priority_set_direct(t->s, TLS_PRIO_PSK, NULL);
		if (!r)
			r = gnutls_credentials_set(
			    t->s, GNUTLS_CRD_PSK,
			    creds->side == TLS_SERVER ? (void *)creds->psk_srv
						      : (void *)creds->psk_cli);
	}
	if (r) {
		gnutls_deinit(t->s);
		free(t);
		return -EINVAL;
	}
	t->rbuf = malloc(TLS_RBUF_SIZE);
	if (!t->rbuf) {
		gnutls_deinit(t->s);
		free(t);
		return -ENOMEM;
	}
	/*
	 * An unauthenticated client's handshake is all GnuTLS holds for it:
	 * bounded (an ECDHE-PSK ClientHello is a few hundred bytes).
	 */
	if (creds->side == TLS_SERVER)
		gnutls_handshake_set_max_packet_length(t->s, 16384);
	/* Reads through rbuf (pull()); writes GnuTLS's own way, to fd. */
	gnutls_transport_set_ptr2(t->s, t, (gnutls_transport_ptr_t)(long)fd);
	gnutls_transport_set_pull_function(t->s, pull);
	gnutls_transport_set_pull_timeout_function(t->s, pull_timeout);
	*conn_r = t;
	return 0;
}

void tls__conn_free(struct tls_conn *t)
{
	if (!t)
		return;
	if (t->s)
		gnutls_deinit(t->s);
	free(t->rbuf);
	free(t);
}

bool tls__secure(const struct tls_conn *t)
{
	return t->creds != NULL;
}

static int map_error(int r)
{
	switch (r) {
	case GNUTLS_E_AGAIN:
	case GNUTLS_E_INTERRUPTED:
		return -EAGAIN;
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return -ECONNRESET;
	case GNUTLS_E_DECRYPTION_FAILED:
	case GNUTLS_E_CERTIFICATE_ERROR:
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_KEY_USAGE_VIOLATION:
	case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
	case GNUTLS_E_MAC_VERIFY_FAILED:
	/* A PSK binder that does not verify: the wrong key. */
	case GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER:
		return -EACCES;
	default:
		return -EPROTO;
	}
}

static void note_peer(struct tls_conn *t)
{
	const char *id;

	if (!t->creds->x509) {
		id = t->creds->side == TLS_SERVER
			 ? gnutls_psk_server_get_username(t->s)
			 : t->creds->identity;
		snprintf(t->peer, sizeof(t->peer), "%s", id ? id : "");
	} else {
		const gnutls_datum_t *certs;
		unsigned int n = 0;
		gnutls_x509_crt_t crt;
		size_t len = sizeof(t->peer);

		certs = gnutls_certificate_get_peers(t->s, &n);
		if (!certs || !n || gnutls_x509_crt_init(&crt))
			return;
		if (!gnutls_x509_crt_import(crt, &certs[0],
					    GNUTLS_X509_FMT_DER) &&
		    gnutls_x509_crt_get_dn(crt, t->peer, &len))
			t->peer[0] = '\0';
		gnutls_x509_crt_deinit(crt);
	}
}

int tls__handshake(struct tls_conn *t, char *why, size_t why_len)
{
	int r;

	if (t->done)
		return 0;
	r = gnutls_handshake(t->s);
	if (r == GNUTLS_E_SUCCESS) {
		t->done = true;
		note_peer(t);
		return 0;
	}
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
	    (r < 0 && !gnutls_error_is_fatal(r)))
		return -EAGAIN;
	r = map_error(r) == -EAGAIN ? -EPROTO : map_error(r);
	if (r == -EACCES)
		return fail(why, why_len, r,
			    "it did not prove the key or certificate");
	return fail(why, why_len, r, "TLS handshake: %s",
		    r == -ECONNRESET ? "the peer closed the connection"
				     : "not a pvft peer speaking TLS 1.3 "
				       "with this domain's credentials");
}

short tls__events(const struct tls_conn *t)
{
	if (!t->s)
		return POLLIN;
	return gnutls_record_get_direction(t->s) ? POLLOUT : POLLIN;
}

int tls__handshake_until(struct tls_conn *t, uint64_t deadline_ns, char *why,
			 size_t why_len)
{
	for (;;) {
		int r = tls__handshake(t, why, why_len);

		if (r != -EAGAIN)
			return r;
		r = io__wait_fd(t->fd, tls__events(t), deadline_ns);
		if (r)
			return fail(why, why_len, r, "TLS handshake: %s",
				    r == -ETIMEDOUT ? "no answer in time"
						    : strerror(-r));
	}
}

ssize_t tls__send(struct tls_conn *t, const void *buf, size_t len)
{
	ssize_t r;

	if (!t->done)
		return -ENOTCONN;
	if (!t->s) {
		r = send(t->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0)
			return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN
								      : -errno;
		return r;
	}
	if (t->send_pending) {
		/* The record is made: GnuTLS sends it on, given no data. */
		r = gnutls_record_send(t->s, NULL, 0);
		if (r >= 0)
			t->send_pending = 0;
	} else {
		size_t n = len > TLS_RECORD_MAX ? TLS_RECORD_MAX : len;

		r = gnutls_record_send(t->s, buf, n);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			t->send_pending = n;
	}
	return r < 0 ? map_error((int)r) : r;
}

ssize_t tls__recv(struct tls_conn *t, void *buf, size_t len)
{
	ssize_t r;

	if (!t->done)
		return -ENOTCONN;
	if (!t->s) {
		r = recv(t->fd, buf, len, MSG_DONTWAIT);
		if (r < 0)
			return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN
								      : -errno;
		return r;
	}
	r = gnutls_record_recv(t->s, buf, len);
	if (r == GNUTLS_E_REHANDSHAKE)
		return -EPROTO;
	return r < 0 ? map_error((int)r) : r;
}

bool tls__pending(const struct tls_conn *t)
{
	return t->s &&
	       (gnutls_record_check_pending(t->s) > 0 || t->roff < t->rlen);
}

static ssize_t send_some(void *ctx, void *buf, size_t len)
{
	return tls__send(ctx, buf, len);
}

static ssize_t recv_some(void *ctx, void *buf, size_t len)
{
	return tls__recv(ctx, buf, len);
}

int tls__send_all(struct tls_conn *t, const void *buf, size_t len,
		  uint64_t deadline_ns)
{
	return io__xfer_all(t->fd, POLLOUT, send_some, t, (void *)buf, len,
			    deadline_ns);
}

int tls__recv_all(struct tls_conn *t, void *buf, size_t len,
		  uint64_t deadline_ns)
{
	return io__xfer_all(t->fd, POLLIN, recv_some, t, buf, len, deadline_ns);
}

void tls__shutdown_write(struct tls_conn *t)
{
	uint64_t deadline = clock__mono_ns() + 1000000000ull;

	/*
	 * close_notify first: the peer then reads a clean end (0), where a
	 * bare FIN would read as a truncation attack.
	 */
	if (t->s && t->done)
		while (gnutls_bye(t->s, GNUTLS_SHUT_WR) == GNUTLS_E_AGAIN &&
		       !io__wait_fd(t->fd, POLLOUT, deadline))
			;
	shutdown(t->fd, SHUT_WR);
}

const char *tls__peer(const struct tls_conn *t)
{
	return t->peer;
}
