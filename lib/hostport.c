// SPDX-License-Identifier: MIT
/*
 * HOST:PORT: hostport.h says what each call does.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "hostport.h"

int hostport__split(const char *s, size_t len, struct hostport *hp)
{
	const char *colon = memrchr(s, ':', len);

	if (!colon)
		return -EINVAL;
	hp->host = s;
	hp->host_len = (size_t)(colon - s);
	hp->port = colon + 1;
	hp->port_len = len - hp->host_len - 1;
	if (hp->host_len >= 2 && s[0] == '[' && colon[-1] == ']') {
		hp->host++;
		hp->host_len -= 2;
	}
	return 0;
}

int hostport__resolve(const char *s, bool passive, struct addrinfo **res_r)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = passive ? AI_PASSIVE : 0,
	};
	char host[HOSTPORT_HOST_MAX + 1];
	struct hostport hp;

	if (hostport__split(s, strlen(s), &hp) || hp.host == hp.port - 1 ||
	    !hp.port_len || hp.host_len > HOSTPORT_HOST_MAX)
		return -EINVAL;
	memcpy(host, hp.host, hp.host_len);
	host[hp.host_len] = '\0';
	/* The port is the string's tail: NUL-terminated already. */
	return getaddrinfo(host, hp.port, &hints, res_r) ? -EADDRNOTAVAIL : 0;
}

void hostport__format(char *buf, size_t len, const char *host, const char *port)
{
	snprintf(buf, len, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
}
