/* SPDX-License-Identifier: MIT */
/*
 * The byte link under a pair's log channel (and, later, live migration):
 * TCP, and on it either TLS 1.3 with the domain's credentials (lib/tls.h)
 * or, only when asked for (--insecure: no credentials), plaintext. The
 * two are ops tables behind one struct transport; the code above calls
 * only the ops (the inline wrappers below) and knows nothing of TLS. This
 * file knows nothing of log records.
 *
 * A transport owns its socket, which is non-blocking. Until the handshake
 * is over (transport__handshake() returned 0: the peer proved the key or
 * certificate; at once for plaintext) nothing is sent or received.
 *
 * Threads: a transport is used by one thread at a time; the log channel
 * hands it from the pairing thread to its channel thread.
 */
#ifndef PVFT_LOGCHAN_TRANSPORT_H
#define PVFT_LOGCHAN_TRANSPORT_H

#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct tls_creds;
struct transport;

struct transport_ops {
	const char *name; /* "TLS", "plaintext" */
	bool secure;	  /* the peer authenticates and bytes are encrypted */
	/* Set up on t->fd. 0 or -errno. */
	int (*open)(struct transport *t, struct tls_creds *creds);
	/*
	 * One step of the handshake, either side: 0 done, -EAGAIN (poll the
	 * fd for events() and call again), or another -errno with @why
	 * (-EACCES: the peer failed to authenticate).
	 */
	int (*handshake)(struct transport *t, char *why, size_t why_len);
	/* What the pending handshake step waits for: POLLIN or POLLOUT. */
	short (*events)(const struct transport *t);
	/*
	 * As send()/recv() on a non-blocking socket: bytes taken (read), 0
	 * at the peer's end (recv), -EAGAIN, or -errno. After -EAGAIN from
	 * send(), call it again with the same bytes first.
	 */
	ssize_t (*send)(struct transport *t, const void *buf, size_t len);
	ssize_t (*recv)(struct transport *t, void *buf, size_t len);
	/* Bytes already read from the socket and waiting: read before poll. */
	bool (*pending)(const struct transport *t);
	/* This end writes no more: the peer reads its end once all is read. */
	void (*shutdown_write)(struct transport *t);
	/* Frees what open() made; the socket is closed by transport__close. */
	void (*close)(struct transport *t);
};

extern const struct transport_ops transport_tls_ops;
extern const struct transport_ops transport_plain_ops;

struct transport {
	const struct transport_ops *ops;
	int fd;	    /* the connected socket: poll it */
	void *priv; /* the ops' own (TLS: its struct tls_conn) */
	struct sockaddr_storage sa;		/* the peer's address */
	char addr[NI_MAXHOST + NI_MAXSERV + 1]; /* ... as "HOST:PORT" */
};

/*
 * A transport on the connected socket @fd (taken, closed on failure too):
 * TLS with @creds, plaintext without. Non-blocking, no Nagle. 0 or -errno.
 */
int transport__open(struct transport **t_r, struct tls_creds *creds, int fd);
/* Closes the socket and frees (NULL: nothing). */
void transport__close(struct transport *t);

/* A TCP connection to HOST:PORT @addr, one attempt. The fd, or -errno. */
int transport__dial(const char *addr);
/*
 * The same, giving up at @deadline_ns (clock__mono_ns; -ETIMEDOUT): a
 * host that drops SYNs holds no thread for TCP's two minutes. 0: no
 * deadline (transport__dial).
 */
int transport__dial_until(const char *addr, uint64_t deadline_ns);
/*
 * A non-blocking listening socket on HOST:PORT @addr: the fd, -EINVAL
 * when @addr does not resolve, or -errno.
 */
int transport__listen(const char *addr);
/*
 * The next connection on @listen_fd, opened as transport__open does:
 * 0, or -errno (-EAGAIN: none waits).
 */
int transport__accept(struct transport **t_r, int listen_fd,
		      struct tls_creds *creds);

/* The whole handshake by @deadline_ns (clock__mono_ns), -ETIMEDOUT after. */
int transport__handshake_until(struct transport *t, uint64_t deadline_ns,
			       char *why, size_t why_len);
/* All of @buf, waiting for room until @deadline_ns. 0 or -errno. */
int transport__send_all(struct transport *t, const void *buf, size_t len,
			uint64_t deadline_ns);
/* Exactly @len bytes by @deadline_ns. 0, -ECONNRESET at EOF, or -errno. */
int transport__recv_all(struct transport *t, void *buf, size_t len,
			uint64_t deadline_ns);

static inline bool transport__secure(const struct transport *t)
{
	return t->ops->secure;
}

static inline int transport__handshake(struct transport *t, char *why,
				       size_t why_len)
{
	return t->ops->handshake(t, why, why_len);
}

static inline short transport__events(const struct transport *t)
{
	return t->ops->events(t);
}

static inline ssize_t transport__send(struct transport *t, const void *buf,
				      size_t len)
{
	return t->ops->send(t, buf, len);
}

static inline ssize_t transport__recv(struct transport *t, void *buf,
				      size_t len)
{
	return t->ops->recv(t, buf, len);
}

static inline bool transport__pending(const struct transport *t)
{
	return t->ops->pending(t);
}

static inline void transport__shutdown_write(struct transport *t)
{
	t->ops->shutdown_write(t);
}

#endif /* PVFT_LOGCHAN_TRANSPORT_H */
