// SPDX-License-Identifier: MIT
/*
 * TCP helpers shared by the test tools.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp.h"

#define TCP_BACKLOG 64

int tcp__resolve(const char *hostport, bool passive, struct addrinfo **ai_r,
		 char *err)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	const char *colon = strrchr(hostport, ':'), *h = hostport;
	char host[256];
	size_t len;
	int r;

	if (!colon || colon == hostport || !colon[1]) {
		snprintf(err, TCP_ERR_MAX, "%s: not HOST:PORT", hostport);
		return -EINVAL;
	}
	len = (size_t)(colon - hostport);
	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		h++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(host)) {
		snprintf(err, TCP_ERR_MAX, "%s: bad host", hostport);
		return -EINVAL;
	}
	memcpy(host, h, len);
	host[len] = '\0';
	r = getaddrinfo(host, colon + 1, &hints, ai_r);
	if (r) {
		snprintf(err, TCP_ERR_MAX, "%s: %s", hostport, gai_strerror(r));
		return -EINVAL;
	}
	return 0;
}

int tcp__listen(const char *hostport, char *err)
{
	struct addrinfo *ai = NULL;
	int one = 1;
	int fd, rc;

	rc = tcp__resolve(hostport, true, &ai, err);
	if (rc)
		return rc;
	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* A test restarting a listener must not wait out TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, TCP_BACKLOG)) {
		rc = -errno;
		close(fd);
		goto out;
	}
	rc = fd;
out:
	if (rc < 0)
		snprintf(err, TCP_ERR_MAX, "listen on %s: %s", hostport,
			 strerror(-rc));
	freeaddrinfo(ai);
	return rc;
}

unsigned int tcp__port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

void tcp__close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	/* SO_LINGER with a zero timeout makes close() send an RST. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}
