/* SPDX-License-Identifier: MIT */
/*
 * TCP helpers shared by the test tools (pvft-faultproxy, pvft-echoserver):
 * "HOST:PORT" addresses, listeners, abortive close.
 */
#ifndef PVFT_TESTS_TCP_H
#define PVFT_TESTS_TCP_H

#include <netdb.h>
#include <stdbool.h>

/* Room for the error messages below. */
#define TCP_ERR_MAX 256

/*
 * Resolve "HOST:PORT" ("[V6]:PORT" for an IPv6 literal) for a TCP stream;
 * @passive for bind(). 0 with *@ai_r to freeaddrinfo(), or -EINVAL with a
 * message in @err (TCP_ERR_MAX bytes).
 */
int tcp__resolve(const char *hostport, bool passive, struct addrinfo **ai_r,
		 char *err);

/*
 * A non-blocking listening socket on "HOST:PORT" (port 0: any free one,
 * see tcp__port()). The socket or -errno, with a message in @err.
 */
int tcp__listen(const char *hostport, char *err);

/* The local port of socket @fd, or 0 if it has none. */
unsigned int tcp__port(int fd);

/* Close @fd abortively: the peer gets an RST, not a FIN. */
void tcp__close_rst(int fd);

#endif /* PVFT_TESTS_TCP_H */
