/* SPDX-License-Identifier: MIT */
/*
 * "HOST:PORT", the one way every pvft program names a TCP address: HOST
 * a name, an IPv4 address or an IPv6 one, the latter in brackets
 * ("[::1]:7000"; bare, "::1:7000", it is still read at the last colon).
 * What a HOST or PORT may be is the caller's to check (the arbiter's line
 * protocol takes IPv4 and names only, and digits for the port).
 */
#ifndef PVFT_LIB_HOSTPORT_H
#define PVFT_LIB_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

struct addrinfo;

#define HOSTPORT_HOST_MAX 255 /* what hostport__resolve() takes */

/* Two parts of the string split, not copied (not NUL-terminated). */
struct hostport {
	const char *host; /* without an IPv6 literal's brackets */
	size_t host_len;
	const char *port;
	size_t port_len;
};

/*
 * Split @len bytes of @s at the last colon. Either part may be empty.
 * 0, or -EINVAL: no colon.
 */
int hostport__split(const char *s, size_t len, struct hostport *hp);

/*
 * @s resolved for a TCP socket (@passive: one to listen on; PORT may be
 * a service name). 0 with the list in *@res_r (freeaddrinfo() it),
 * -EINVAL when @s is no HOST:PORT (no colon, an empty part, a HOST
 * over HOSTPORT_HOST_MAX), or -EADDRNOTAVAIL when it does not resolve.
 */
int hostport__resolve(const char *s, bool passive, struct addrinfo **res_r);

/* "HOST:PORT" into @buf (@len bytes), bracketing an IPv6 literal. */
void hostport__format(char *buf, size_t len, const char *host,
		      const char *port);

#endif /* PVFT_LIB_HOSTPORT_H */
