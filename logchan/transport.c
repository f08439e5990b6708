// SPDX-License-Identifier: MIT
/*
 * The log channel's transport: transport.h says what each call does.
 * TCP here; TLS through lib/tls.c; plaintext straight on the socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "io.h"
#include "hostport.h"
#include "tls.h"
#include "transport.h"

/* ---- TLS 1.3 (lib/tls.c) ------------------------------------------------ */

static int tls_open(struct transport *t, struct tls_creds *creds)
{
	struct tls_conn *conn;
	int rc = tls__conn_new(&conn, creds, t->fd);

	if (!rc)
		t->priv = conn;
	return rc;
}

static int tls_handshake(struct transport *t, char *why, size_t why_len)
{
	return tls__handshake(t->priv, why, why_len);
}

static short tls_events(const struct transport *t)
{
	return tls__events(t->priv);
}

static ssize_t tls_send(struct transport *t, const void *buf, size_t len)
{
	return tls__send(t->priv, buf, len);
}

static ssize_t tls_recv(struct transport *t, void *buf, size_t len)
{
	return tls__recv(t->priv, buf, len);
}

static bool tls_pending(const struct transport *t)
{
	return tls__pending(t->priv);
}

static void tls_shutdown_write(struct transport *t)
{
	tls__shutdown_write(t->priv);
}

static void tls_close(struct transport *t)
{
	tls__conn_free(t->priv);
	t->priv = NULL;
}

const struct transport_ops transport_tls_ops = {
	.name = "TLS",
	.secure = true,
	.open = tls_open,
	.handshake = tls_handshake,
	.events = tls_events,
	.send = tls_send,
	.recv = tls_recv,
	.pending = tls_pending,
	.shutdown_write = tls_shutdown_write,
	.close = tls_close,
};

/* ---- plaintext (--insecure) --------------------------------------------- */

static int plain_open(struct transport *t, struct tls_creds *creds)
{
	(void)t;
	(void)creds;
	return 0;
}

/* Nobody to authenticate: done at once. */
static int plain_handshake(struct transport *t, char *why, size_t why_len)
{
	(void)t;
	(void)why;
	(void)why_len;
	return 0;
}

static short plain_events(const struct transport *t)
{
	(void)t;
	return POLLIN;
}

static ssize_t plain_send(struct transport *t, const void *buf, size_t len)
{
	/* A peer gone is an error here, never a SIGPIPE. */
	ssize_t r = send(t->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (r < 0)
		return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN
							      : -errno;
	return r;
}

static ssize_t plain_recv(struct transport *t, void *buf, size_t len)
{
	ssize_t r = recv(t->fd, buf, len, MSG_DONTWAIT);

	if (r < 0)
		return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN
							      : -errno;
	return r;
}

/* Nothing is read ahead: all that waits, waits in the socket. */
static bool plain_pending(const struct transport *t)
{
	(void)t;
	return false;
}

static void plain_shutdown_write(struct transport *t)
{
	shutdown(t->fd, SHUT_WR);
}

static void plain_close(struct transport *t)
{
	(void)t;
}

const struct transport_ops transport_plain_ops = {
	.name = "plaintext",
	.secure = false,
	.open = plain_open,
	.handshake = plain_handshake,
	.events = plain_events,
	.send = plain_send,
	.recv = plain_recv,
	.pending = plain_pending,
	.shutdown_write = plain_shutdown_write,
	.close = plain_close,
};

/* ---- TCP ------------------------------------------------------------------
 */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static int open_fd(struct transport **t_r, struct tls_creds *creds, int fd,
		   const struct sockaddr_storage *sa, socklen_t sl)
{
	struct transport *t = calloc(1, sizeof(*t));
	int one = 1, rc;

	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	t->fd = fd;
	t->ops = creds ? &transport_tls_ops : &transport_plain_ops;
	/* Records are small and each one's ack releases output: no Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = set_nonblock(fd);
	if (!rc)
		rc = t->ops->open(t, creds);
	if (rc) {
		close(fd);
		free(t);
		return rc;
	}
	if (!sa) {
		sl = sizeof(t->sa);
		if (getpeername(fd, (struct sockaddr *)&t->sa, &sl))
			sl = 0;
	} else {
		memcpy(&t->sa, sa, sl);
	}
	if (sl) {
		char host[NI_MAXHOST], serv[NI_MAXSERV];

		if (!getnameinfo((struct sockaddr *)&t->sa, sl, host,
				 sizeof(host), serv, sizeof(serv),
				 NI_NUMERICHOST | NI_NUMERICSERV))
			snprintf(t->addr, sizeof(t->addr), "%s:%s", host, serv);
	}
	*t_r = t;
	return 0;
}

int transport__open(struct transport **t_r, struct tls_creds *creds, int fd)
{
	return open_fd(t_r, creds, fd, NULL, 0);
}

void transport__close(struct transport *t)
{
	if (!t)
		return;
	t->ops->close(t);
	close(t->fd);
	free(t);
}

int transport__dial_until(const char *addr, uint64_t deadline_ns)
{
	struct addrinfo *res, *ai;
	int fd = -1, rc, err;
	socklen_t len = sizeof(err);

	rc = hostport__resolve(addr, false, &res);
	if (rc)
		return rc;
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_CLOEXEC |
				(deadline_ns ? SOCK_NONBLOCK : 0),
			    0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		rc = -errno;
		if (rc == -EINPROGRESS) {
			rc = io__wait_fd(fd, POLLOUT, deadline_ns);
			if (!rc && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
					      &len) < 0)
				rc = -errno;
			else if (!rc)
				rc = -err;
			if (!rc)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0 && deadline_ns) {
		/* Blocking until transport__open, as a dial without one. */
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0)
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	return fd >= 0 ? fd : rc;
}

int transport__dial(const char *addr)
{
	return transport__dial_until(addr, 0);
}

int transport__listen(const char *addr)
{
	struct addrinfo *res, *ai;
	int one = 1, fd = -1, rc;

	rc = hostport__resolve(addr, true, &res);
	if (rc)
		return -EINVAL;
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 64) &&
		    !set_nonblock(fd))
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : rc;
}

int transport__accept(struct transport **t_r, int listen_fd,
		      struct tls_creds *creds)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	int fd;

	fd = accept4(listen_fd, (struct sockaddr *)&sa, &sl,
		     SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return -errno;
	return open_fd(t_r, creds, fd, &sa, sl);
}

/* ---- blocking use, to a deadline ------------------------------------------
 */

int transport__handshake_until(struct transport *t, uint64_t deadline_ns,
			       char *why, size_t why_len)
{
	for (;;) {
		int r = transport__handshake(t, why, why_len);

		if (r != -EAGAIN)
			return r;
		r = io__wait_fd(t->fd, transport__events(t), deadline_ns);
		if (r) {
			snprintf(why, why_len, "%s handshake: %s", t->ops->name,
				 r == -ETIMEDOUT ? "no answer in time"
						 : strerror(-r));
			return r;
		}
	}
}

static ssize_t send_some(void *ctx, void *buf, size_t len)
{
	return transport__send(ctx, buf, len);
}

static ssize_t recv_some(void *ctx, void *buf, size_t len)
{
	return transport__recv(ctx, buf, len);
}

int transport__send_all(struct transport *t, const void *buf, size_t len,
			uint64_t deadline_ns)
{
	return io__xfer_all(t->fd, POLLOUT, send_some, t, (void *)buf, len,
			    deadline_ns);
}

int transport__recv_all(struct transport *t, void *buf, size_t len,
			uint64_t deadline_ns)
{
	return io__xfer_all(t->fd, POLLIN, recv_some, t, buf, len, deadline_ns);
}
