// SPDX-License-Identifier: MIT
/*
 * STAND-IN, toolstack branch only: the keys section of lib/tls.h (keygen,
 * key files, derivation), so that pvft keygen and pvft create build and
 * are tested before main's lib/tls.c lands. On merging main, take main's
 * lib/tls.c whole and drop this file's content.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "tls.h"

#define KEY_HEX (2 * TLS_KEY_LEN)

static int fail(char *why, size_t why_len, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t why_len, int e, const char *fmt, ...)
{
	va_list ap;

	if (why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return -e;
}

int tls__write_key(const char *path, const uint8_t key[TLS_KEY_LEN], bool force,
		   char *why, size_t why_len)
{
	char text[KEY_HEX + 2], tmp[PATH_MAX];
	const char *target = path;
	int fd, e = 0, i;

	for (i = 0; i < TLS_KEY_LEN; i++)
		snprintf(text + 2 * i, 3, "%02x", key[i]);
	text[KEY_HEX] = '\n';
	text[KEY_HEX + 1] = '\0';
	/* With @force: a new file renamed over the old, never half a key. */
	if (force) {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >=
		    sizeof(tmp))
			return fail(why, why_len, ENAMETOOLONG, "%s: %s", path,
				    strerror(ENAMETOOLONG));
		unlink(tmp);
		target = tmp;
	}
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		e = errno;
		if (e == EEXIST)
			return fail(why, why_len, e,
				    "%s: exists (overwrite with -f)", path);
		return fail(why, why_len, e, "%s: %s", path, strerror(e));
	}
	if (fchmod(fd, 0600) || write(fd, text, KEY_HEX + 1) != KEY_HEX + 1 ||
	    fsync(fd))
		e = errno ? errno : EIO;
	if (close(fd) && !e)
		e = errno;
	if (!e && force && rename(tmp, path))
		e = errno;
	if (e) {
		unlink(target);
		return fail(why, why_len, e, "%s: %s", path, strerror(e));
	}
	return 0;
}

int tls__keygen(const char *path, bool force, char *why, size_t why_len)
{
	uint8_t key[TLS_KEY_LEN];
	int rc;

	if (gnutls_rnd(GNUTLS_RND_KEY, key, sizeof(key)))
		return fail(why, why_len, EIO, "no random bytes from GnuTLS");
	rc = tls__write_key(path, key, force, why, why_len);
	gnutls_memset(key, 0, sizeof(key));
	return rc;
}

static int hex_value(char c)
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
	char text[KEY_HEX + 2];
	struct stat st;
	ssize_t n;
	int fd, i, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(why, why_len, errno, "%s: %s", path,
			    strerror(errno));
	if (fstat(fd, &st)) {
		e = errno;
		close(fd);
		return fail(why, why_len, e, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(why, why_len, EINVAL, "%s: not a regular file",
			    path);
	}
	if (st.st_mode & 044) {
		close(fd);
		return fail(why, why_len, EPERM,
			    "%s: its group or others may read it (mode %03o: "
			    "chmod 600)",
			    path, (unsigned int)(st.st_mode & 0777));
	}
	n = read(fd, text, sizeof(text));
	e = errno;
	close(fd);
	if (n < 0)
		return fail(why, why_len, e, "%s: %s", path, strerror(e));
	if (n < KEY_HEX || (n == KEY_HEX + 1 && text[KEY_HEX] != '\n') ||
	    n > KEY_HEX + 1)
		goto bad;
	for (i = 0; i < TLS_KEY_LEN; i++) {
		int hi = hex_value(text[2 * i]),
		    lo = hex_value(text[2 * i + 1]);

		if (hi < 0 || lo < 0)
			goto bad;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
bad:
	return fail(why, why_len, EINVAL,
		    "%s: not a key file (64 hex digits and a newline: pvft "
		    "keygen)",
		    path);
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
	if (identity_len)
		snprintf(identity, identity_len,
			 TLS_ARBITER_IDENTITY_PREFIX "%" PRIu64, pair);
}

void tls__key_id(const uint8_t key[TLS_KEY_LEN], char id[TLS_KEY_ID_LEN + 1])
{
	uint8_t h[32];
	int i;

	gnutls_hash_fast(GNUTLS_DIG_SHA256, key, TLS_KEY_LEN, h);
	for (i = 0; i < TLS_KEY_ID_LEN / 2; i++)
		snprintf(id + 2 * i, 3, "%02x", h[i]);
}
