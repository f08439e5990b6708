// SPDX-License-Identifier: MIT
/*
 * pvft-tcprtt: the loopback TCP round trip, the baseline the output rule's
 * delay is measured against (a primary's output waits for one: records
 * out, ack back). A server thread echoes one small message per round trip
 * over a TCP_NODELAY connection, as the log channel sends records and acks.
 *
 *   pvft-tcprtt [-n ROUNDS] [-s BYTES]   prints "rtt_ns=N" (the median)
 *   pvft-tcprtt -t MIB                    one way, MIB MiB in 4 MiB writes
 *                                         (a migration's page batches):
 *                                         prints "mbit_s=N", the raw
 *                                         throughput a migration is
 *                                         measured against
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t msg_size = 64;

static int xfer(int fd, char *buf, size_t len, int out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = out ? write(fd, buf + done, len - done)
				: read(fd, buf + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static void *echo(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536];

	while (!xfer(fd, buf, msg_size, 0) && !xfer(fd, buf, 8, 1))
		;
	close(fd);
	return NULL;
}

static void *drain(void *arg)
{
	int fd = *(int *)arg;
	static char buf[1 << 20];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

/* -t: one way, as fast as the loopback goes. */
static int throughput(int fd, int sfd, unsigned long mib)
{
	size_t chunk = 4u << 20;
	char *buf = malloc(chunk);
	struct timespec a, b;
	pthread_t th;
	double s;

	if (!buf)
		return 1;
	memset(buf, 0x5a, chunk);
	pthread_create(&th, NULL, drain, &sfd);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (unsigned long done = 0; done < mib << 20; done += chunk)
		if (xfer(fd, buf, chunk, 1)) {
			perror("pvft-tcprtt");
			return 1;
		}
	shutdown(fd, SHUT_WR);
	pthread_join(th, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	printf("tcprtt: throughput bytes=%lu mbit_s=%.0f\n", mib << 20,
	       (mib << 20) * 8 / s / 1e6);
	free(buf);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a,
			   y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	unsigned long long *t;
	int n = 10000, c, ls, fd, sfd, one = 1;
	unsigned long mib = 0;
	char buf[65536] = { 0 };
	pthread_t th;

	while ((c = getopt(argc, argv, "n:s:t:")) != -1) {
		if (c == 't')
			mib = strtoul(optarg, NULL, 10);
		else if (c == 'n')
			n = atoi(optarg);
		else if (c == 's')
			msg_size = (size_t)atoi(optarg);
		else
			return 2;
	}
	if (n < 1 || msg_size < 8 || msg_size > sizeof(buf)) {
		fprintf(stderr,
			"usage: pvft-tcprtt [-n ROUNDS] [-s 8..65536]\n");
		return 2;
	}
	t = calloc((size_t)n, sizeof(*t));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (!t || ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(ls, 1) || getsockname(ls, (struct sockaddr *)&sa, &sl)) {
		perror("pvft-tcprtt");
		return 1;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (sfd = accept(ls, NULL, NULL)) < 0) {
		perror("pvft-tcprtt");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (mib)
		return throughput(fd, sfd, mib);
	pthread_create(&th, NULL, echo, &sfd);
	for (int i = 0; i < n; i++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (xfer(fd, buf, msg_size, 1) || xfer(fd, buf, 8, 0)) {
			perror("pvft-tcprtt");
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] =
		    (unsigned long long)(b.tv_sec - a.tv_sec) * 1000000000ull +
		    (unsigned long long)(b.tv_nsec - a.tv_nsec);
	}
	close(fd);
	pthread_join(th, NULL);
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	printf("tcprtt: rounds=%d bytes=%zu rtt_ns=%llu p99_ns=%llu\n", n,
	       msg_size, t[n / 2], t[n * 99 / 100]);
	return 0;
}
