// SPDX-License-Identifier: MIT
/*
 * pvft keygen: a domain key (lib/tls.h: 32 random bytes, a 0600 file of
 * 64 hex digits), or the key a pvft-arbiter holds for one pair, derived
 * from a domain key (tls__arbiter_key). The replicas derive their own
 * keys from the domain key as they start; the arbiter is given only its
 * derived one, so it can never pose as a replica.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "proto.h"
#include "pvft.h"
#include "tls.h"

struct keygen_cmd {
	bool force;
	const char *pair_text; /* -a: an arbiter's key for this pair */
	const char *from;      /* the domain key it derives from */
	uint64_t pair;
};

/* Why writing @path failed (@rc, @why from lib/tls). */
static void said(int rc, const char *path, const char *why)
{
	if (rc == -EEXIST)
		pr_err("%s exists: -f overwrites it", path);
	else
		pr_err("%s", why);
}

/* A domain key: new random bytes. */
static int domain_key(const struct keygen_cmd *o, const char *path)
{
	uint8_t key[TLS_KEY_LEN];
	char why[PATH_MAX + 256], id[TLS_KEY_ID_LEN + 1];
	int rc;

	if (pvft_dry_run) {
		printf("would write a new domain key to %s (mode 0600)\n",
		       path);
		return PVFT_EXIT_OK;
	}
	rc = tls__keygen(path, o->force, why, sizeof(why));
	if (!rc)
		rc = tls__load_key(path, key, why, sizeof(why));
	if (rc) {
		said(rc, path, why);
		return PVFT_EXIT_FAILED;
	}
	tls__key_id(key, id);
	explicit_bzero(key, sizeof(key));
	printf("%s: a new domain key, id %s\n", path, id);
	return PVFT_EXIT_OK;
}

/* The arbiter's key for one pair: to @path, or @path/PAIR.key. */
static int arbiter_key(const struct keygen_cmd *o, const char *path)
{
	uint8_t key[TLS_KEY_LEN], akey[TLS_KEY_LEN];
	char why[PATH_MAX + 256], out[PATH_MAX], ident[TLS_IDENTITY_MAX + 1];
	struct stat st;
	int rc, n;

	if (!stat(path, &st) && S_ISDIR(st.st_mode))
		n = snprintf(out, sizeof(out), "%s/%" PRIu64 ".key", path,
			     o->pair);
	else
		n = snprintf(out, sizeof(out), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(out)) {
		pr_err("%s: %s", path, strerror(ENAMETOOLONG));
		return PVFT_EXIT_FAILED;
	}
	if (tls__load_key(o->from, key, why, sizeof(why))) {
		pr_err("%s", why);
		return PVFT_EXIT_FAILED;
	}
	tls__arbiter_key(key, o->pair, akey, ident, sizeof(ident));
	explicit_bzero(key, sizeof(key));
	if (pvft_dry_run) {
		printf("would write pvft-arbiter's key for pair %" PRIu64
		       " (identity %s) to %s (mode 0600)\n",
		       o->pair, ident, out);
		rc = 0;
	} else {
		rc = tls__write_key(out, akey, o->force, why, sizeof(why));
		if (rc)
			said(rc, out, why);
		else
			printf("%s: pvft-arbiter's key for pair %" PRIu64
			       " (identity %s)\n",
			       out, o->pair, ident);
	}
	explicit_bzero(akey, sizeof(akey));
	return rc ? PVFT_EXIT_FAILED : PVFT_EXIT_OK;
}

int main_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "arbiter", required_argument, NULL, 'a' },
		PVFT_COMMON_LONG_OPTS,
	};
	struct keygen_cmd o = { .force = false };
	int opt, nargs;

	PVFT_FOREACH_OPT(opt, "fa:", opts, "keygen", 1)
	{
	case 'f':
		o.force = true;
		break;
	case 'a':
		o.pair_text = optarg;
		break;
	}
	/* FILE; or with -a, the domain key KEY and FILE|DIR. */
	nargs = argc - optind;
	if (nargs != (o.pair_text ? 2 : 1)) {
		pr_err(nargs < 2 ? "missing arguments" : "too many arguments");
		pvft__usage_error("keygen");
		return PVFT_EXIT_USAGE;
	}
	if (!o.pair_text)
		return domain_key(&o, argv[optind]);
	if (proto__parse_u64(o.pair_text, strlen(o.pair_text), &o.pair) ||
	    !o.pair) {
		pr_err("bad pair '%s': want a number from 1 to "
		       "18446744073709551615 (no leading zero)",
		       o.pair_text);
		pvft__usage_error("keygen");
		return PVFT_EXIT_USAGE;
	}
	o.from = argv[optind];
	return arbiter_key(&o, argv[optind + 1]);
}
