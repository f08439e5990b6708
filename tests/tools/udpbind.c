// SPDX-License-Identifier: MIT
/*
 * pvft-udpbind: try to bind a UDP socket, as any local program could, to
 * test who may share a loopback vif's service address (Documentation/
 * net.md).
 *
 *   pvft-udpbind [--reuseaddr] [--reuseport] IPV4:PORT
 *
 * Exit 0 and "bound" on stdout if the bind worked; 1 and the error on
 * stderr if the address was in use (EADDRINUSE); 2 for anything else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1, fd, i;
	char host[INET_ADDRSTRLEN], *colon;
	unsigned long port;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udpbind: socket");
		return 2;
	}
	for (i = 1; i < argc - 1; i++) {
		int opt = !strcmp(argv[i], "--reuseaddr")   ? SO_REUSEADDR
			  : !strcmp(argv[i], "--reuseport") ? SO_REUSEPORT
							    : -1;

		if (opt < 0 ||
		    setsockopt(fd, SOL_SOCKET, opt, &one, sizeof(one))) {
			fprintf(stderr, "udpbind: bad option '%s'\n", argv[i]);
			return 2;
		}
	}
	colon = argc > 1 ? strrchr(argv[argc - 1], ':') : NULL;
	if (!colon || (size_t)(colon - argv[argc - 1]) >= sizeof(host)) {
		fprintf(stderr, "usage: pvft-udpbind [--reuseaddr] "
				"[--reuseport] IPV4:PORT\n");
		return 2;
	}
	memcpy(host, argv[argc - 1], colon - argv[argc - 1]);
	host[colon - argv[argc - 1]] = '\0';
	port = strtoul(colon + 1, NULL, 10);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || !port ||
	    port > 65535) {
		fprintf(stderr, "udpbind: bad address '%s'\n", argv[argc - 1]);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "udpbind: bind %s: %s\n", argv[argc - 1],
			strerror(errno));
		return errno == EADDRINUSE ? 1 : 2;
	}
	printf("bound\n");
	close(fd);
	return 0;
}
