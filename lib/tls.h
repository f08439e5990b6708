/* SPDX-License-Identifier: MIT */
/*
 * Authenticated, encrypted links (Documentation/security.md): TLS 1.3
 * through GnuTLS, with a pre-shared key per domain (the default, as
 * Corosync's authkey or QEMU's tls-creds-psk) or x509 certificates, and
 * plaintext only when asked for explicitly (creds NULL: --insecure).
 *
 * Keys. A domain key is 32 random bytes, stored as 64 hex digits and a
 * newline in a file only its owner may read (`pvft keygen`). It is never
 * used as it is: each use gets its own key, HMAC-SHA256(domain key,
 * label), so that the arbiter, which holds only its derived keys, can
 * never pose as a replica on the log channel:
 *   log channel      tls__derive(key, TLS_LABEL_CHANNEL)
 *                    identity "pvft-chan-" + tls__key_id() of that key
 *   pvft-arbiter     tls__arbiter_key(key, pair): label "pvft arbiter v1
 *                    pair <pair>", identity "pvft-pair-<pair>"
 *
 * A connection (struct tls_conn) works on a blocking or non-blocking
 * socket it does not own. Nothing the application sends leaves before
 * the handshake authenticated the peer: tls__send() before that is
 * refused.
 */
#ifndef PVFT_LIB_TLS_H
#define PVFT_LIB_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLS_KEY_LEN 32
#define TLS_KEY_ID_LEN 16 /* hex digits */
#define TLS_IDENTITY_MAX 127
#define TLS_LABEL_CHANNEL "pvft log channel v1"
/* Live migration: identity "pvft-mig-" + tls__key_id() of that key. */
#define TLS_LABEL_MIGRATION "pvft migration v1"
#define TLS_ARBITER_IDENTITY_PREFIX "pvft-pair-"

enum tls_side {
	TLS_CLIENT,
	TLS_SERVER,
};

/* ---- keys ---- */

/*
 * Write a fresh domain key to @path (mode 0600; an existing file is
 * refused unless @force). 0, or -errno with @why.
 */
int tls__keygen(const char *path, bool force, char *why, size_t why_len);
/* Write @key to @path as a key file (0600, as tls__keygen). */
int tls__write_key(const char *path, const uint8_t key[TLS_KEY_LEN], bool force,
		   char *why, size_t why_len);
/*
 * Read a key file: a regular file that neither its group nor others may
 * read, holding exactly 64 hex digits (a newline may follow). 0, or -errno
 * with @why naming the file and the problem.
 */
int tls__load_key(const char *path, uint8_t key[TLS_KEY_LEN], char *why,
		  size_t why_len);
/* HMAC-SHA256(@key, @label): the key for one use of a domain key. */
void tls__derive(const uint8_t key[TLS_KEY_LEN], const char *label,
		 uint8_t out[TLS_KEY_LEN]);
/* The arbiter's key for @pair and its PSK identity. */
void tls__arbiter_key(const uint8_t key[TLS_KEY_LEN], uint64_t pair,
		      uint8_t out[TLS_KEY_LEN], char *identity,
		      size_t identity_len);
/* A key's public name: 16 hex digits of a hash of it (and a NUL). */
void tls__key_id(const uint8_t key[TLS_KEY_LEN], char id[TLS_KEY_ID_LEN + 1]);

/*
 * A password (etcd's), from a file, never a command line every local user
 * can read: its first line; the file regular and 0600 like a key. 0, or
 * -errno with @why.
 */
int tls__read_secret(const char *path, char *buf, size_t len, char *why,
		     size_t why_len);

/* ---- credentials: who this end is, whom it accepts ---- */

struct tls_creds;

/*
 * One pre-shared key and its identity: a client presents it, a server
 * accepts exactly it.
 */
int tls__creds_psk(struct tls_creds **creds_r, enum tls_side side,
		   const char *identity, const uint8_t key[TLS_KEY_LEN],
		   char *why, size_t why_len);
/*
 * A server that accepts several identities: @lookup fills @key for an
 * identity it knows and returns 0, else -1. Called from the handshake.
 */
typedef int tls_lookup_fn(void *opaque, const char *identity,
			  uint8_t key[TLS_KEY_LEN]);
int tls__creds_psk_server(struct tls_creds **creds_r, tls_lookup_fn *lookup,
			  void *opaque, char *why, size_t why_len);
/*
 * x509: this end's certificate and key (PEM), and the CA the peer's
 * certificate must chain to. Both ends present one (a server requires the
 * client's).
 */
int tls__creds_x509(struct tls_creds **creds_r, enum tls_side side,
		    const char *ca, const char *cert, const char *key,
		    char *why, size_t why_len);
/*
 * x509: the name (a DNS name in the certificate's subjectAltName, or its
 * CN) the peer's certificate must carry. pvft-hv asks for
 * "pvft-pair-<pair>": a CA signs for more than one pair.
 */
void tls__creds_set_peer_name(struct tls_creds *creds, const char *name);
void tls__creds_free(struct tls_creds *creds);

/* ---- one connection ---- */

struct tls_conn;

/*
 * A connection on @fd (not owned: tls__conn_free() leaves it open).
 * @creds NULL: plaintext, the explicit insecure mode (no handshake).
 * 0 or -errno.
 */
int tls__conn_new(struct tls_conn **conn_r, struct tls_creds *creds, int fd);
void tls__conn_free(struct tls_conn *conn);
bool tls__secure(const struct tls_conn *conn);

/*
 * One step of the handshake: 0 done (the peer proved its key or
 * certificate), -EAGAIN (poll the fd for tls__events() and call again),
 * or another -errno with @why (-EACCES: the peer failed to authenticate;
 * -ECONNRESET: it closed; -EPROTO: it spoke no TLS we take).
 */
int tls__handshake(struct tls_conn *conn, char *why, size_t why_len);
/* The whole handshake by @deadline_ns (clock__mono_ns()), -ETIMEDOUT after. */
int tls__handshake_until(struct tls_conn *conn, uint64_t deadline_ns, char *why,
			 size_t why_len);
/* What the pending step waits for: POLLIN or POLLOUT. */
short tls__events(const struct tls_conn *conn);

/*
 * send()/recv() alike: bytes taken (or read), 0 at the peer's end (recv),
 * -EAGAIN, or -errno. After -EAGAIN from tls__send(), call it again with
 * the same bytes first in @buf: a TLS record is already made of them.
 */
ssize_t tls__send(struct tls_conn *conn, const void *buf, size_t len);
ssize_t tls__recv(struct tls_conn *conn, void *buf, size_t len);
/* Bytes already decrypted and waiting: read them before poll()ing. */
bool tls__pending(const struct tls_conn *conn);
/* All of @buf, waiting for room until @deadline_ns. 0 or -errno. */
int tls__send_all(struct tls_conn *conn, const void *buf, size_t len,
		  uint64_t deadline_ns);
/* Exactly @len bytes by @deadline_ns. 0, -ECONNRESET at EOF, or -errno. */
int tls__recv_all(struct tls_conn *conn, void *buf, size_t len,
		  uint64_t deadline_ns);

/* This end writes no more: the peer reads its end (0) once all is read. */
void tls__shutdown_write(struct tls_conn *conn);

/* Who the peer proved to be: its PSK identity or certificate DN. */
const char *tls__peer(const struct tls_conn *conn);

#endif /* PVFT_LIB_TLS_H */
