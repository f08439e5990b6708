/* SPDX-License-Identifier: MIT */
/*
 * The arbiter client (DESIGN.md 3.4): test-and-set keyed by (pair id,
 * epoch), owner = node id. A replica that lost its peer must win it before
 * it acts alone; the loser halts.
 *
 * URLs (Documentation/arbiter-protocol.md):
 *   pvft://HOST:PORT                   pvft-arbiter, over TLS 1.3 with the
 *                                      pair's key (plaintext: insecure)
 *   etcds://HOST:PORT[,HOST:PORT...]   etcd v3 JSON API over https
 *   etcd://HOST:PORT[,HOST:PORT...]    the same over plain http (insecure)
 * etcd: a transaction with create_revision == 0, owner = node id.
 * An advance opens the next epoch, for a running domain's re-protection.
 *
 * Every call is synchronous, bounded by @timeout_ms, safe to retry (the
 * same node asking again for a key it owns is granted again), and usable
 * from any one thread at a time per struct arbiter.
 */
#ifndef PVFT_ARBITER_ARBITER_H
#define PVFT_ARBITER_ARBITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARBITER_NODE_MAX 63 /* node ids: 1..63 of [A-Za-z0-9._-] */

enum arbiter_answer {
	ARBITER_GRANTED,     /* @node owns the key (now, or already) */
	ARBITER_DENIED,	     /* another node owns it: *owner says which */
	ARBITER_FREE,	     /* query: nobody owns or opened it; advance:
			      * nobody owns the epoch advanced from */
	ARBITER_OPENED,	     /* query only: nobody owns it, but *owner
			      * opened it (advance) */
	ARBITER_UNREACHABLE, /* no answer; *why says what happened. Retry. */
};

struct arbiter;

/* Is @node a valid node id? */
bool arbiter__valid_node(const char *node);

/*
 * Who this client is, for arbiter__open(). Nothing here is kept by
 * reference: arbiter__open() copies what it needs. Fields a URL's scheme
 * does not use are ignored.
 */
struct arbiter_auth {
	/*
	 * pvft://: the domain key (TLS_KEY_LEN bytes), or NULL. Each call
	 * derives the pair's arbiter key from it (tls__arbiter_key): the
	 * arbiter holds only that, never the domain key.
	 */
	const uint8_t *domain_key;
	/* Plaintext allowed: pvft:// without a key, etcd://. */
	bool insecure;
	/*
	 * etcds://: the CA that etcd's certificate must chain to (required),
	 * and this client's certificate and its key (PEM; both or neither).
	 * etcd's JSON gateway refuses a client certificate that has a Common
	 * Name once its auth is on: see arbiter-protocol.md 5.2.
	 */
	const char *ca, *cert, *key;
	/* etcd auth (both or neither): the user that holds the pair's role. */
	const char *user, *password;
};

/*
 * Parse @url and take the credentials in @auth (NULL: none) it needs.
 * 0, or -1 with @why (@why_len bytes) naming the problem ("etcd://: no
 * HOST:PORT", "unknown scheme 'http'", "pvft://: no key", ...). Connects
 * to nothing; files named in @auth must be readable.
 */
int arbiter__open(struct arbiter **a_r, const char *url,
		  const struct arbiter_auth *auth, char *why, size_t why_len);
void arbiter__close(struct arbiter *a);
/* The URL as given, for messages. */
const char *arbiter__url(const struct arbiter *a);

/*
 * Test-and-set: make @node the owner of (@pair, @epoch) unless another
 * node already is. GRANTED or DENIED (@owner, ARBITER_NODE_MAX + 1 bytes,
 * gets the owner either way), or UNREACHABLE with @why. An ambiguous
 * outcome (a timeout after the request may have been applied) is resolved
 * by reading the owner back before answering UNREACHABLE.
 *
 * Timing: the endpoints are asked in turn within @timeout_ms, each given
 * an equal share of the time left; the read-back of an ambiguous outcome
 * gets @timeout_ms of its own, so a call returns within 2 * @timeout_ms.
 * Resolving a pvft:// HOST that is a name is not bounded by @timeout_ms.
 */
enum arbiter_answer arbiter__acquire(struct arbiter *a, uint64_t pair,
				     uint64_t epoch, const char *node,
				     unsigned timeout_ms, char *owner,
				     char *why, size_t why_len);
/*
 * Who owns (@pair, @epoch): GRANTED (owner in @owner), OPENED (nobody
 * owns it, @owner opened it with an advance), FREE, UNREACHABLE.
 */
enum arbiter_answer arbiter__query(struct arbiter *a, uint64_t pair,
				   uint64_t epoch, unsigned timeout_ms,
				   char *owner, char *why, size_t why_len);
/*
 * Open (@pair, @epoch + 1) for re-protection: allowed only to @node, the
 * owner of (@pair, @epoch), while nobody owns (@pair, @epoch + 1) and
 * nobody else opened it (Documentation/arbiter-protocol.md 3.5).
 * GRANTED: advanced (now, or already), @owner = @node; DENIED: @owner
 * owns (@pair, @epoch), or owns or opened (@pair, @epoch + 1) (it may be
 * @node itself, owning the next epoch already); FREE: nobody owns
 * (@pair, @epoch); UNREACHABLE with @why (also for @epoch 2^64 - 1: no
 * next epoch). An ambiguous outcome is read back as for an acquire: a
 * query of (@pair, @epoch + 1) that says OPENED by @node is GRANTED;
 * anything else UNREACHABLE. Timing as arbiter__acquire().
 */
enum arbiter_answer arbiter__advance(struct arbiter *a, uint64_t pair,
				     uint64_t epoch, const char *node,
				     unsigned timeout_ms, char *owner,
				     char *why, size_t why_len);

const char *arbiter__answer_name(enum arbiter_answer ans);

#endif /* PVFT_ARBITER_ARBITER_H */
