// SPDX-License-Identifier: MIT
/*
 * pvft arbiter: ask an arbiter (arbiter/arbiter.h) for the test-and-set
 * of a pair's epoch, who holds it, or to open the next epoch for a
 * running domain's re-protection (advance), as a replica would. For operators
 * and tests: the answer on stdout (text, or one JSON object), why an
 * arbiter could not be reached on stderr, and the answer in the exit
 * status.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "arbiter.h"
#include "log.h"
#include "proto.h"
#include "pvft.h"
#include "tls.h"
#include "toolstack.h"

#define ARBITER_CMD_EXIT_DENIED 1 /* also an advance's free */
#define ARBITER_CMD_EXIT_UNREACHABLE 3
#define ARBITER_CMD_TIMEOUT_MS 1000
#define ARBITER_CMD_TIMEOUT_MAX 3600000

/* Long options without a short one. */
enum {
	ARBITER_CMD_OPT_CA = 256,
	ARBITER_CMD_OPT_CERT,
	ARBITER_CMD_OPT_CERT_KEY,
	ARBITER_CMD_OPT_USER,
	ARBITER_CMD_OPT_PASSWORD_FILE,
};

struct arbiter_cmd {
	unsigned timeout_ms;
	bool json;
	bool acquire, advance; /* neither: query */
	const char *url, *node;
	uint64_t pair, epoch;
	/* Credentials, as a replica of the pair has them. */
	const char *key_file; /* -k: the domain key */
	const char *ca, *cert, *cert_key;
	const char *user, *password_file; /* etcd's own authentication */
};

/* One of the command's options: 0, or -1 after saying why. */
static int arbiter_opt(struct arbiter_cmd *o, int opt)
{
	uint64_t v;

	switch (opt) {
	case 't':
		if (proto__parse_u64(optarg, strlen(optarg), &v) || !v ||
		    v > ARBITER_CMD_TIMEOUT_MAX) {
			pr_err("bad --timeout-ms '%s': want 1 to %d", optarg,
			       ARBITER_CMD_TIMEOUT_MAX);
			return -1;
		}
		o->timeout_ms = (unsigned)v;
		return 0;
	case 'j':
		o->json = true;
		return 0;
	case 'k':
		o->key_file = optarg;
		return 0;
	case ARBITER_CMD_OPT_CA:
		o->ca = optarg;
		return 0;
	case ARBITER_CMD_OPT_CERT:
		o->cert = optarg;
		return 0;
	case ARBITER_CMD_OPT_CERT_KEY:
		o->cert_key = optarg;
		return 0;
	case ARBITER_CMD_OPT_USER:
		o->user = optarg;
		return 0;
	case ARBITER_CMD_OPT_PASSWORD_FILE:
		o->password_file = optarg;
		return 0;
	}
	return -1;
}

static int parse_number(const char *what, const char *s, uint64_t *v_r)
{
	if (proto__parse_u64(s, strlen(s), v_r)) {
		pr_err("bad %s '%s': want a decimal number (u64, no leading "
		       "zero)",
		       what, s);
		return -1;
	}
	return 0;
}

static void print_json(const struct arbiter_cmd *o, const char *url,
		       enum arbiter_answer ans, const char *owner,
		       const char *why)
{
	struct json_object *j = json_object_new_object();

	if (!j) {
		pr_err("out of memory");
		return;
	}
	json_object_object_add(j, "url", json_object_new_string(url));
	json_object_object_add(j, "pair", json_object_new_uint64(o->pair));
	json_object_object_add(j, "epoch", json_object_new_uint64(o->epoch));
	if (o->node)
		json_object_object_add(j, "node",
				       json_object_new_string(o->node));
	/*
	 * A query's GRANTED means someone owns the key: "owned"; an
	 * advance's, that the next epoch is opened: "advanced".
	 */
	json_object_object_add(
	    j, "answer",
	    json_object_new_string(ans != ARBITER_GRANTED
				       ? arbiter__answer_name(ans)
				   : o->advance ? "advanced"
				   : o->acquire ? "granted"
						: "owned"));
	if (owner[0])
		json_object_object_add(j, "owner",
				       json_object_new_string(owner));
	if (ans == ARBITER_UNREACHABLE)
		json_object_object_add(j, "why", json_object_new_string(why));
	printf("%s\n",
	       json_object_to_json_string_ext(
		   j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}

static void print_text(const struct arbiter_cmd *o, enum arbiter_answer ans,
		       const char *owner)
{
	switch (ans) {
	case ARBITER_GRANTED:
		if (o->advance)
			printf("advanced to %" PRIu64 " by %s\n", o->epoch + 1,
			       owner);
		else
			printf("%s %s\n",
			       o->acquire ? "granted to" : "owned by", owner);
		break;
	case ARBITER_DENIED:
		/*
		 * An advance is denied by the owner of EPOCH, or the owner or
		 * opener of the next: the arbiter says whom, not which.
		 */
		if (o->advance)
			printf("denied: %s holds epoch %" PRIu64
			       " or the next\n",
			       owner, o->epoch);
		else
			printf("denied: owned by %s\n", owner);
		break;
	case ARBITER_FREE:
		if (o->advance)
			printf("free: nobody owns pair %" PRIu64
			       " epoch %" PRIu64 "\n",
			       o->pair, o->epoch);
		else
			printf("free\n");
		break;
	case ARBITER_OPENED:
		printf("opened by %s\n", owner);
		break;
	case ARBITER_UNREACHABLE:
		break;
	}
}

int main_arbiter(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, ARBITER_CMD_OPT_CA },
		{ "cert", required_argument, NULL, ARBITER_CMD_OPT_CERT },
		{ "cert-key", required_argument, NULL,
		  ARBITER_CMD_OPT_CERT_KEY },
		{ "user", required_argument, NULL, ARBITER_CMD_OPT_USER },
		{ "password-file", required_argument, NULL,
		  ARBITER_CMD_OPT_PASSWORD_FILE },
		PVFT_COMMON_LONG_OPTS,
	};
	struct arbiter_cmd o = { .timeout_ms = ARBITER_CMD_TIMEOUT_MS };
	char owner[ARBITER_NODE_MAX + 1] = "", why[1024] = "";
	uint8_t key[TLS_KEY_LEN];
	char password[256];
	struct arbiter_auth auth = { .insecure = false };
	struct arbiter *a;
	enum arbiter_answer ans;
	const char *op;
	int opt, nargs, rc;

	/* Options go before the operation, or right after it. */
	PVFT_FOREACH_OPT(opt, "t:jk:", opts, "arbiter", 1)
	{
	default:
		if (arbiter_opt(&o, opt))
			return PVFT_EXIT_USAGE;
	}
	op = argv[optind];
	if (!strcmp(op, "acquire")) {
		o.acquire = true;
		nargs = 4;
	} else if (!strcmp(op, "advance")) {
		o.advance = true;
		nargs = 4;
	} else if (!strcmp(op, "query")) {
		nargs = 3;
	} else {
		pr_err("unknown operation '%s': want acquire, advance or "
		       "query",
		       op);
		pvft__usage_error("arbiter");
		return PVFT_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0;
	PVFT_FOREACH_OPT(opt, "t:jk:", opts, "arbiter", nargs)
	{
	default:
		if (arbiter_opt(&o, opt))
			return PVFT_EXIT_USAGE;
	}
	if (argc - optind != nargs) {
		pr_err("%s takes %s", op,
		       nargs == 4 ? "URL PAIR EPOCH NODE" : "URL PAIR EPOCH");
		pvft__usage_error("arbiter");
		return PVFT_EXIT_USAGE;
	}
	o.url = argv[optind];
	if (parse_number("PAIR", argv[optind + 1], &o.pair) ||
	    parse_number("EPOCH", argv[optind + 2], &o.epoch))
		return PVFT_EXIT_USAGE;
	if (nargs == 4) {
		o.node = argv[optind + 3];
		if (!arbiter__valid_node(o.node)) {
			pr_err("bad NODE '%s': want 1 to %d of [A-Za-z0-9._-]",
			       o.node, ARBITER_NODE_MAX);
			return PVFT_EXIT_USAGE;
		}
	}
	if (o.advance && o.epoch == UINT64_MAX) {
		pr_err("bad EPOCH '%s': it has no next epoch to open",
		       argv[optind + 2]);
		return PVFT_EXIT_USAGE;
	}
	/*
	 * Without credentials, plaintext: what an --insecure pvft-arbiter
	 * and etcd:// take (a keyed pvft-arbiter closes such a connection).
	 */
	if (o.key_file) {
		if (tls__load_key(o.key_file, key, why, sizeof(why))) {
			pr_err("%s", why);
			return PVFT_EXIT_USAGE;
		}
		auth.domain_key = key;
	}
	if (o.password_file) {
		if (tls__read_secret(o.password_file, password,
				     sizeof(password), why, sizeof(why))) {
			pr_err("--password-file %s", why);
			return PVFT_EXIT_USAGE;
		}
		auth.password = password;
	}
	auth.user = o.user;
	auth.ca = o.ca;
	auth.cert = o.cert;
	auth.key = o.cert_key;
	auth.insecure = !o.key_file && !o.ca && !o.cert && !o.cert_key;
	rc = arbiter__open(&a, o.url, &auth, why, sizeof(why));
	explicit_bzero(key, sizeof(key));
	explicit_bzero(password, sizeof(password));
	if (rc) {
		pr_err("bad URL or credentials: %s", why);
		return PVFT_EXIT_USAGE;
	}

	if (o.acquire)
		ans = arbiter__acquire(a, o.pair, o.epoch, o.node, o.timeout_ms,
				       owner, why, sizeof(why));
	else if (o.advance)
		ans = arbiter__advance(a, o.pair, o.epoch, o.node, o.timeout_ms,
				       owner, why, sizeof(why));
	else
		ans = arbiter__query(a, o.pair, o.epoch, o.timeout_ms, owner,
				     why, sizeof(why));
	if (ans == ARBITER_UNREACHABLE)
		pr_err("%s: unreachable: %s", arbiter__url(a), why);
	if (o.json)
		print_json(&o, arbiter__url(a), ans, owner, why);
	else
		print_text(&o, ans, owner);
	arbiter__close(a);
	switch (ans) {
	case ARBITER_GRANTED:
	case ARBITER_OPENED:
		return PVFT_EXIT_OK;
	case ARBITER_FREE:
		/* An advance of an epoch nobody owns is refused. */
		return o.advance ? ARBITER_CMD_EXIT_DENIED : PVFT_EXIT_OK;
	case ARBITER_DENIED:
		return ARBITER_CMD_EXIT_DENIED;
	case ARBITER_UNREACHABLE:
		break;
	}
	return ARBITER_CMD_EXIT_UNREACHABLE;
}
