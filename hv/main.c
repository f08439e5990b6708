// SPDX-License-Identifier: MIT
/*
 * pvft-hv: runs one domain replica. Parses options, builds the domain,
 * starts the I/O thread and runs the vCPU loop on the main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arbiter.h"
#include "clock.h"
#include "cpuid.h"
#include "chan.h"
#include "control.h"
#include "domain.h"
#include "devices.h"
#include "fence.h"
#include "gate-file.h"
#include "iothread.h"
#include "join.h"
#include "log.h"
#include "migrate.h"
#include "pair.h"
#include "tls.h"
#include "vcpu.h"

#define DEFAULT_MEMORY_MIB 64

enum {
	OPT_RECORD = 0x100,
	OPT_RECORD_LIMIT,
	OPT_REPLAY,
	OPT_DIGEST_EXITS,
	OPT_DIGEST_MS,
	OPT_CONSOLE,
	OPT_ALLOW_RDTSC,
	OPT_ROLE,
	OPT_PEER,
	OPT_LISTEN,
	OPT_PAIR,
	OPT_EPOCH,
	OPT_NODE,
	OPT_ARBITER,
	OPT_HEARTBEAT_MS,
	OPT_TIMEOUT_MS,
	OPT_MAX_LAG_MS,
	OPT_CONNECT_TIMEOUT,
	OPT_KEY,
	OPT_TLS_CA,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_INSECURE,
	OPT_ARBITER_CA,
	OPT_ARBITER_CERT,
	OPT_ARBITER_KEY,
	OPT_ARBITER_USER,
	OPT_ARBITER_PASSWORD_FILE,
	OPT_VIF,
	OPT_CONTROL,
	OPT_NO_STDIN,
	OPT_RESTORE,
	OPT_INCOMING,
};

static struct domain dom = { .mem_fd = -1 };
static struct chan pair_chan;
static struct pair pair;
static struct gate_file log_file;

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: pvft-hv [OPTIONS] KERNEL.elf\n"
	    "Run one paravirtual domain (a static ELF64 PV kernel).\n"
	    "\n"
	    "  -m, --memory MIB     guest memory in MiB, even, %d..%d "
	    "(default %d)\n"
	    "  -n, --name NAME      domain name for logs (default: the "
	    "kernel's file name)\n"
	    "  -c, --cmdline STR    guest command line (start_info)\n"
	    "  -b, --backend WHICH  vCPU backend: auto, kvm or ptrace "
	    "(default auto:\n"
	    "                       kvm when /dev/kvm opens, else ptrace)\n"
	    "      --record FILE    record the run to the log FILE\n"
	    "      --record-limit SIZE  stop the guest before the log passes "
	    "SIZE bytes\n"
	    "                       (suffix K, M or G; at least 1M; default "
	    "4G)\n"
	    "      --replay FILE    replay the run recorded in FILE (memory "
	    "and command\n"
	    "                       line come from the log); stops at the "
	    "first divergence\n"
	    "      --digest-exits N a state digest every N exits in a "
	    "recording (0: off)\n"
	    "      --digest-ms MS   ... and every MS ms of guest time (0: "
	    "off; default %d\n"
	    "                       per 64 MiB of memory: a digest reads "
	    "all of it)\n"
	    "      --console MODE   the guest's console output: show, or "
	    "none (default:\n"
	    "                       show; none in a replay, whose output is "
	    "checked\n"
	    "                       through the digests)\n"
	    "      --vif SPEC       a network interface "
	    "(Documentation/net.md):\n"
	    "                       mac=MAC,ip=IP,tap=NAME[,bridge=BR] or\n"
	    "                       mac=MAC,ip=IP,loopback=127.0.0.1:PORT"
	    "[,guest-port=P]\n"
	    "      --control PATH   the control socket "
	    "(Documentation/control-protocol.md;\n"
	    "                       default $PVFT_RUN_DIR/pvft-hv.PID.sock; "
	    "none: none)\n"
	    "      --no-stdin       console input only from the control "
	    "socket's console,\n"
	    "                       never at its end (daemons: pvft "
	    "create)\n"
	    "      --debug-allow-rdtsc  let the guest read the TSC (tests: "
	    "acts like a host\n"
	    "                       that cannot trap it; breaks replay on "
	    "purpose)\n"
	    "\n"
	    "A live fault-tolerant pair (Documentation/pair.md):\n"
	    "      --role ROLE      primary or backup\n"
	    "      --peer HOST:PORT primary: the backup's log channel address\n"
	    "      --listen HOST:PORT  backup: where the primary connects\n"
	    "      --pair ID        the pair's id (a number; both replicas)\n"
	    "      --epoch N        the pair's epoch (default 1)\n"
	    "      --node ID        this replica's node id (default "
	    "HOSTNAME-ROLE)\n"
	    "      --arbiter URL    pvft://HOST:PORT or "
	    "etcd://HOST:PORT[,HOST:PORT...]\n"
	    "      --heartbeat-ms MS  heartbeat when idle (default %d)\n"
	    "      --timeout-ms MS  a peer silent this long has failed "
	    "(default %d)\n"
	    "      --max-lag-ms MS  primary: keep out of the guest while "
	    "the backup is\n"
	    "                       this far behind (default %d)\n"
	    "      --connect-timeout S  primary: give up pairing after S s "
	    "(default %d)\n"
	    "      --key FILE       the domain key (pvft keygen): the log "
	    "channel's TLS\n"
	    "                       pre-shared key and the pvft-arbiter's "
	    "are derived from it\n"
	    "      --tls-ca FILE --tls-cert FILE --tls-key FILE\n"
	    "                       x509 for the log channel instead (PEM; "
	    "both ends present\n"
	    "                       a certificate the CA signed)\n"
	    "      --insecure       plaintext, unauthenticated channel and "
	    "arbiter: anyone\n"
	    "                       who reaches the ports can pose as a "
	    "replica (tests only)\n"
	    "      --arbiter-ca FILE --arbiter-cert FILE --arbiter-key FILE\n"
	    "                       etcd over https (etcds://): its CA, this "
	    "replica's client\n"
	    "                       certificate and key\n"
	    "      --arbiter-user USER --arbiter-password-file FILE\n"
	    "                       etcd's own authentication: the pair's "
	    "user, its password\n"
	    "                       (the file's first line; mode 0600)\n"
	    "  -v, --verbose        more log output (repeatable)\n"
	    "  -q, --quiet          errors only\n"
	    "  -h, --help           this text\n"
	    "\n"
	    "Exit status: the guest's own exit code when it shuts down; "
	    "2 bad usage or\n"
	    "image; 3 host failure; 4 guest fault or dead domain; 5 guest "
	    "crash;\n"
	    "6 replay diverged from its log; 7 unusable log; 8 the arbiter "
	    "gave the pair\n"
	    "to the other replica (halted); 9 the pair could not form; "
	    "10 handed the pair\n"
	    "over to the backup (pvft promote); 128+N stopped by "
	    "signal N; 153 (as SIGXFSZ)\n"
	    "the --record log reached its --record-limit. A replay exits with "
	    "the recorded run's status when it matches.\n",
	    PVFT_MIN_MEMORY_MIB, PVFT_MAX_MEMORY_MIB, DEFAULT_MEMORY_MIB,
	    GATE_DEFAULT_DIGEST_MS, CHAN_DEFAULT_HEARTBEAT_MS,
	    CHAN_DEFAULT_TIMEOUT_MS, CHAN_DEFAULT_MAX_LAG_MS,
	    CHAN_DEFAULT_CONNECT_S);
}

static int parse_u64(const char *s, uint64_t *v_r)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*v_r = v;
	return 0;
}

/* A size in bytes, with an optional K, M or G (binary) suffix. */
static int parse_size(const char *s, uint64_t *v_r)
{
	static const char suffixes[] = "KMG";
	const char *sfx;
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	/* Digits first: strtoull takes " -1" as 2^64 - 1. */
	if (errno || end == s || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	if (*end) {
		sfx = strchr(suffixes, *end & ~0x20);
		if (!sfx || !*sfx || end[1])
			return -EINVAL;
		shift = 10 * (unsigned int)(sfx - suffixes + 1);
	}
	if (v > UINT64_MAX >> shift)
		return -ERANGE;
	*v_r = (uint64_t)v << shift;
	return 0;
}

static int parse_memory(const char *s, uint64_t *mib_r)
{
	uint64_t v;

	if (parse_u64(s, &v))
		return -EINVAL;
	if (v < PVFT_MIN_MEMORY_MIB || v > PVFT_MAX_MEMORY_MIB || v % 2)
		return -ERANGE;
	*mib_r = v;
	return 0;
}

/* A live pair's options (--role and the rest). */
struct pair_opts {
	enum logfmt_role role; /* 0: no pair */
	const char *addr, *peer, *listen, *node, *url;
	uint64_t pair, epoch;
	bool have_pair;
	unsigned int heartbeat_ms, timeout_ms, max_lag_ms, connect_s;
	struct arbiter *arbiter;
	char node_buf[ARBITER_NODE_MAX + 1];
	/* The link's credentials (lib/tls.h). */
	const char *key_path, *tls_ca, *tls_cert, *tls_key;
	const char *arb_ca, *arb_cert, *arb_key, *arb_user, *arb_pw_file;
	char arb_pw[256];
	bool insecure, have_key;
	uint8_t key[TLS_KEY_LEN];
	struct tls_creds *creds;
	struct tls_creds *client_creds; /* a primary's (= creds), a join's */
};

static int parse_uint(const char *opt, const char *s, uint64_t min,
		      uint64_t max, unsigned int *v_r)
{
	uint64_t v;

	if (parse_u64(s, &v) || v < min || v > max) {
		pr_err("bad --%s '%s': want a number from %llu to %llu", opt, s,
		       (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*v_r = (unsigned int)v;
	return 0;
}

static int pair_option(struct pair_opts *po, int c, const char *arg)
{
	switch (c) {
	case OPT_ROLE:
		if (!strcmp(arg, "primary"))
			po->role = LOGFMT_ROLE_PRIMARY;
		else if (!strcmp(arg, "backup"))
			po->role = LOGFMT_ROLE_BACKUP;
		else
			return pr_err("bad --role '%s': want primary or backup",
				      arg),
			       -1;
		return 0;
	case OPT_PEER:
		po->peer = arg;
		return 0;
	case OPT_LISTEN:
		po->listen = arg;
		return 0;
	case OPT_PAIR:
	case OPT_EPOCH:
		if (parse_u64(arg, c == OPT_PAIR ? &po->pair : &po->epoch))
			return pr_err("bad --%s '%s': want a number",
				      c == OPT_PAIR ? "pair" : "epoch", arg),
			       -1;
		po->have_pair |= c == OPT_PAIR;
		return 0;
	case OPT_NODE:
		if (!arbiter__valid_node(arg))
			return pr_err("bad --node '%s': want 1 to %d of "
				      "A-Z a-z 0-9 . _ -",
				      arg, ARBITER_NODE_MAX),
			       -1;
		po->node = arg;
		return 0;
	case OPT_ARBITER:
		po->url = arg;
		return 0;
	case OPT_KEY:
		po->key_path = arg;
		return 0;
	case OPT_TLS_CA:
		po->tls_ca = arg;
		return 0;
	case OPT_TLS_CERT:
		po->tls_cert = arg;
		return 0;
	case OPT_TLS_KEY:
		po->tls_key = arg;
		return 0;
	case OPT_INSECURE:
		po->insecure = true;
		return 0;
	case OPT_ARBITER_CA:
		po->arb_ca = arg;
		return 0;
	case OPT_ARBITER_CERT:
		po->arb_cert = arg;
		return 0;
	case OPT_ARBITER_KEY:
		po->arb_key = arg;
		return 0;
	case OPT_ARBITER_USER:
		po->arb_user = arg;
		return 0;
	case OPT_ARBITER_PASSWORD_FILE:
		po->arb_pw_file = arg;
		return 0;
	case OPT_HEARTBEAT_MS:
		return parse_uint("heartbeat-ms", arg, 1, CHAN_HEARTBEAT_MS_MAX,
				  &po->heartbeat_ms);
	case OPT_TIMEOUT_MS:
		return parse_uint("timeout-ms", arg, 2, CHAN_TIMEOUT_MS_MAX,
				  &po->timeout_ms);
	case OPT_MAX_LAG_MS:
		return parse_uint("max-lag-ms", arg, 1, CHAN_MAX_LAG_MS_MAX,
				  &po->max_lag_ms);
	default:
		return parse_uint("connect-timeout", arg, 1, CHAN_CONNECT_S_MAX,
				  &po->connect_s);
	}
}

/*
 * The log channel's credentials: the domain key's channel key (identity:
 * its key id, which says nothing about the pair), or x509, or plaintext
 * when asked for by name.
 */
static int make_creds(struct pair_opts *po, enum tls_side side,
		      struct tls_creds **creds_r);

static int pair_creds(struct pair_opts *po)
{
	bool x509 = po->tls_ca || po->tls_cert || po->tls_key;
	char why[512];

	if (po->insecure && (x509 || po->key_path)) {
		pr_err("--insecure and --key/--tls-*: choose one");
		return -1;
	}
	if (x509 && !(po->tls_ca && po->tls_cert && po->tls_key)) {
		pr_err("x509 needs all of --tls-ca, --tls-cert and --tls-key");
		return -1;
	}
	if (po->key_path) {
		if (tls__load_key(po->key_path, po->key, why, sizeof(why))) {
			pr_err("--key: %s", why);
			return -1;
		}
		po->have_key = true;
	}
	if (po->insecure) {
		pr_warn("--insecure: the log channel and the arbiter are "
			"plaintext and unauthenticated: anyone who reaches "
			"their ports can pose as a replica and read the "
			"guest's traffic");
		return 0;
	}
	if (!x509 && !po->have_key) {
		pr_err("--%s needs the domain's credentials: --key FILE "
		       "(pvft keygen FILE), or --tls-ca/--tls-cert/--tls-key, "
		       "or --insecure for a plaintext pair",
		       po->role ? "role" : "arbiter");
		return -1;
	}
	/*
	 * The backup's side of its link, and the client's side for a
	 * primary, or for a backup gone live that a backup joins later.
	 */
	if (po->role == LOGFMT_ROLE_BACKUP &&
	    make_creds(po, TLS_SERVER, &po->creds))
		return -1;
	if (make_creds(po, TLS_CLIENT, &po->client_creds))
		return -1;
	if (po->role != LOGFMT_ROLE_BACKUP)
		po->creds = po->client_creds;
	return 0;
}

/* One side's credentials: x509, or the domain key's channel PSK. */
static int make_creds(struct pair_opts *po, enum tls_side side,
		      struct tls_creds **creds_r)
{
	char why[512], id[TLS_KEY_ID_LEN + 1], identity[64];
	uint8_t ck[TLS_KEY_LEN];
	int rc;

	if (po->tls_ca) {
		rc = tls__creds_x509(creds_r, side, po->tls_ca, po->tls_cert,
				     po->tls_key, why, sizeof(why));
		if (rc) {
			pr_err("--tls-*: %s", why);
			return -1;
		}
		/* The CA signs for other pairs too: the peer's must be ours. */
		snprintf(identity, sizeof(identity), "pvft-pair-%" PRIu64,
			 po->pair);
		tls__creds_set_peer_name(*creds_r, identity);
		return 0;
	}
	tls__derive(po->key, TLS_LABEL_CHANNEL, ck);
	tls__key_id(ck, id);
	snprintf(identity, sizeof(identity), "pvft-chan-%s", id);
	rc = tls__creds_psk(creds_r, side, identity, ck, why, sizeof(why));
	memset(ck, 0, sizeof(ck));
	if (rc)
		pr_err("--key: %s", why);
	return rc ? -1 : 0;
}

/* All a pair needs, consistent; the arbiter URL parsed. */
static int pair_check(struct pair_opts *po)
{
	bool primary = po->role == LOGFMT_ROLE_PRIMARY;
	char why[256];

	/* No --role: a domain that runs unprotected until one joins it. */
	if (!po->role && (po->peer || po->listen)) {
		pr_err("--peer and --listen are a pair's replica's (--role); a "
		       "domain started unprotected gets its backup later "
		       "(pvft protect)");
		return -1;
	}
	if (po->role &&
	    (primary ? !po->peer || po->listen : !po->listen || po->peer)) {
		pr_err("--role %s needs %s (and not %s)",
		       primary ? "primary" : "backup",
		       primary ? "--peer HOST:PORT" : "--listen HOST:PORT",
		       primary ? "--listen" : "--peer");
		return -1;
	}
	po->addr = primary ? po->peer : po->listen;
	if (!po->have_pair) {
		pr_err("--%s needs --pair ID: the same on both replicas",
		       po->role ? "role" : "arbiter");
		return -1;
	}
	if (!po->url) {
		pr_err("--role needs --arbiter URL: a replica that loses its "
		       "peer must ask it before it goes on alone");
		return -1;
	}
	if (pair_creds(po))
		return -1;
	if (po->arb_pw_file &&
	    tls__read_secret(po->arb_pw_file, po->arb_pw, sizeof(po->arb_pw),
			     why, sizeof(why))) {
		pr_err("--arbiter-password-file %s", why);
		return -1;
	}
	/* pvft://: the pair's key, derived from the domain key; etcds://: */
	/* its CA and this replica's client certificate (security.md). */
	if (arbiter__open(&po->arbiter, po->url,
			  &(struct arbiter_auth){
			      .domain_key = po->have_key ? po->key : NULL,
			      .insecure = po->insecure,
			      .ca = po->arb_ca,
			      .cert = po->arb_cert,
			      .key = po->arb_key,
			      .user = po->arb_user,
			      .password = po->arb_pw_file ? po->arb_pw : NULL,
			  },
			  why, sizeof(why))) {
		pr_err("bad --arbiter '%s': %s", po->url, why);
		return -1;
	}
	if (po->heartbeat_ms * 2 > po->timeout_ms) {
		pr_err("--timeout-ms %u must be at least twice --heartbeat-ms "
		       "%u",
		       po->timeout_ms, po->heartbeat_ms);
		return -1;
	}
	if (!po->node) {
		char host[64] = "node";
		size_t i;

		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		snprintf(po->node_buf, sizeof(po->node_buf), "%.48s-%s", host,
			 primary    ? "primary"
			 : po->role ? "backup"
				    : "single");
		for (i = 0; po->node_buf[i]; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
				    po->node_buf[i]))
				po->node_buf[i] = '-';
		po->node = po->node_buf;
	}
	return 0;
}

/* What this backup runs, to check a primary against before pairing. */
static struct {
	uint8_t image_hash[16];
	uint64_t mem_size, cpuid_hash;
	const char *cmdline; /* NULL: the primary's */
	const struct vif_config *vif;
} own;

/*
 * chan_config.check: a primary that proved the key but runs another
 * guest is refused and the backup waits on (pair.md): it may be a
 * misconfigured replica, and the right one may still come.
 */
static int backup_check(void *opaque, const struct logfmt_header *h,
			const struct logfmt_record *boot, char *why,
			size_t why_len)
{
	const struct logfmt_boot *b = &boot->u.boot;
	char want[18], have[18];

	(void)opaque;
	if (memcmp(h->image_hash, own.image_hash, sizeof(own.image_hash)))
		return snprintf(why, why_len,
				"the primary runs another guest image (its "
				"hash differs)"),
		       -1;
	if (h->mem_size != own.mem_size || h->abi_version != PVFT_ABI_VERSION)
		return snprintf(why, why_len,
				"the primary runs with %llu MiB of memory "
				"and PV ABI %u, this backup with %llu MiB and "
				"ABI %u",
				(unsigned long long)(h->mem_size >> 20),
				h->abi_version,
				(unsigned long long)(own.mem_size >> 20),
				PVFT_ABI_VERSION),
		       -1;
	if (h->cpuid_hash != own.cpuid_hash)
		return snprintf(why, why_len,
				"the primary's guest sees another CPUID "
				"(hash %016llx, here %016llx): pair on the "
				"same backend",
				(unsigned long long)h->cpuid_hash,
				(unsigned long long)own.cpuid_hash),
		       -1;
	if (own.cmdline && (b->cmdline_len != strlen(own.cmdline) ||
			    memcmp(b->cmdline, own.cmdline, b->cmdline_len)))
		return snprintf(why, why_len,
				"--cmdline '%s': the primary runs with '%.*s'",
				own.cmdline, (int)b->cmdline_len, b->cmdline),
		       -1;
	if (!b->nr_vifs != !own.vif)
		return snprintf(why, why_len,
				"the primary runs with %s vif, this backup "
				"with %s",
				b->nr_vifs ? "a" : "no",
				own.vif ? "one" : "none"),
		       -1;
	if (own.vif && memcmp(b->vif_mac[0], own.vif->mac, 6)) {
		vif__format_mac(b->vif_mac[0], want);
		vif__format_mac(own.vif->mac, have);
		return snprintf(why, why_len,
				"--vif mac %s: the primary runs with mac %s",
				have, want),
		       -1;
	}
	return 0;
}

/*
 * A replay runs the recorded vif: a backup must have the same one (it
 * takes the network identity over), an offline replay may name it.
 */
static int check_vif(const struct logfmt_boot *b, const struct vif_config *vif,
		     const char *what, bool backup)
{
	char want[18], have[18];

	if (!b->nr_vifs && !vif)
		return 0;
	if (!b->nr_vifs) {
		gate__refuse(&dom.gate, "--vif: %s%s with no vif", what,
			     backup ? "" : " was recorded");
		return -1;
	}
	vif__format_mac(b->vif_mac[0], want);
	if (!vif) {
		if (!backup)
			return 0;
		gate__refuse(&dom.gate,
			     "the primary runs with vif0 (mac %s); this backup "
			     "has no --vif to take it over with",
			     want);
		return -1;
	}
	vif__format_mac(vif->mac, have);
	if (memcmp(b->vif_mac[0], vif->mac, 6)) {
		gate__refuse(&dom.gate, "--vif mac %s: %s%s with mac %s", have,
			     what, backup ? "" : " was recorded", want);
		return -1;
	}
	return 0;
}

static char control_unlink[108];

/* However pvft-hv ends, its control socket goes with it. */
static void remove_control(void)
{
	if (control_unlink[0])
		unlink(control_unlink);
}

/*
 * The control socket at @path, or the default one; "none": none. One asked
 * for by path must work; the default one may not (said, and run without).
 */
static int start_control(struct control *ctl, struct domain *d,
			 const char *path, const struct control_info *info)
{
	char def[PATH_MAX];
	int rc;

	if (path && !strcmp(path, "none"))
		return 0;
	if (!path) {
		rc = control__default_path(def, sizeof(def));
		if (rc) {
			pr_warn("no control socket: run directory: %s",
				strerror(-rc));
			return 0;
		}
		path = def;
	}
	if (control__start(ctl, d, path, info))
		return path == def ? 0 : -1;
	memcpy(control_unlink, ctl->path, sizeof(control_unlink));
	atexit(remove_control);
	return 0;
}

static struct control ctl;

/* ---- the option table ---------------------------------------------------- */

/* Everything pvft-hv was asked for. */
struct hv_opts {
	const char *name, *cmdline, *backend, *log_path, *kernel;
	enum gate_mode mode;
	enum log_level level;
	uint64_t mib, digest_exits, digest_ms, record_limit;
	bool record_limit_set, allow_rdtsc, digest_set, digest_ms_set;
	const char *console; /* show, none, or NULL: the mode's default */
	const char *control_path, *vif_spec;
	struct vif_config vif_cfg;
	bool have_vif, no_stdin;
	struct pair_opts po;
	/* --restore FILE / --incoming ADDR:PORT: built from a stream. */
	const char *restore_path, *incoming;
	struct tls_creds *mig_creds;
};

static const struct option opts[] = {
	{ "memory", required_argument, NULL, 'm' },
	{ "name", required_argument, NULL, 'n' },
	{ "cmdline", required_argument, NULL, 'c' },
	{ "backend", required_argument, NULL, 'b' },
	{ "record", required_argument, NULL, OPT_RECORD },
	{ "record-limit", required_argument, NULL, OPT_RECORD_LIMIT },
	{ "replay", required_argument, NULL, OPT_REPLAY },
	{ "digest-exits", required_argument, NULL, OPT_DIGEST_EXITS },
	{ "digest-ms", required_argument, NULL, OPT_DIGEST_MS },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "debug-allow-rdtsc", no_argument, NULL, OPT_ALLOW_RDTSC },
	{ "role", required_argument, NULL, OPT_ROLE },
	{ "peer", required_argument, NULL, OPT_PEER },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "pair", required_argument, NULL, OPT_PAIR },
	{ "epoch", required_argument, NULL, OPT_EPOCH },
	{ "node", required_argument, NULL, OPT_NODE },
	{ "arbiter", required_argument, NULL, OPT_ARBITER },
	{ "heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT_MS },
	{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS },
	{ "max-lag-ms", required_argument, NULL, OPT_MAX_LAG_MS },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "arbiter-ca", required_argument, NULL, OPT_ARBITER_CA },
	{ "arbiter-cert", required_argument, NULL, OPT_ARBITER_CERT },
	{ "arbiter-key", required_argument, NULL, OPT_ARBITER_KEY },
	{ "arbiter-user", required_argument, NULL, OPT_ARBITER_USER },
	{ "arbiter-password-file", required_argument, NULL,
	  OPT_ARBITER_PASSWORD_FILE },
	{ "vif", required_argument, NULL, OPT_VIF },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "no-stdin", no_argument, NULL, OPT_NO_STDIN },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "incoming", required_argument, NULL, OPT_INCOMING },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* One option; 0, or the exit status (-1: --help, exit 0). */
static int take_option(struct hv_opts *o, int c, char *arg)
{
	char vif_err[200];

	switch (c) {
	case 'm':
		if (parse_memory(arg, &o->mib)) {
			pr_err("bad --memory '%s': want an even number of MiB "
			       "from %d to %d",
			       arg, PVFT_MIN_MEMORY_MIB, PVFT_MAX_MEMORY_MIB);
			return HV_EXIT_USAGE;
		}
		return 0;
	case 'n':
		o->name = arg;
		return 0;
	case 'c':
		o->cmdline = arg;
		return 0;
	case 'b':
		o->backend = arg;
		return 0;
	case OPT_RECORD:
	case OPT_REPLAY:
		if (o->mode != GATE_NONE) {
			pr_err("--record and --replay: one, once");
			return HV_EXIT_USAGE;
		}
		o->mode = c == OPT_RECORD ? GATE_RECORD : GATE_REPLAY;
		o->log_path = arg;
		return 0;
	case OPT_RECORD_LIMIT:
		if (parse_size(arg, &o->record_limit) ||
		    o->record_limit < LOGFILE_LIMIT_MIN) {
			pr_err("bad --record-limit '%s': want a size of at "
			       "least 1M (suffix K, M or G)",
			       arg);
			return HV_EXIT_USAGE;
		}
		o->record_limit_set = true;
		return 0;
	case OPT_DIGEST_EXITS:
	case OPT_DIGEST_MS:
		if (parse_u64(arg, c == OPT_DIGEST_EXITS ? &o->digest_exits
							 : &o->digest_ms) ||
		    (c == OPT_DIGEST_MS && o->digest_ms > 3600000)) {
			pr_err("bad --%s '%s': want a number%s",
			       c == OPT_DIGEST_EXITS ? "digest-exits"
						     : "digest-ms",
			       arg, c == OPT_DIGEST_MS ? " up to 3600000" : "");
			return HV_EXIT_USAGE;
		}
		o->digest_set = true;
		o->digest_ms_set |= c == OPT_DIGEST_MS;
		return 0;
	case OPT_CONSOLE:
		if (strcmp(arg, "show") && strcmp(arg, "none")) {
			pr_err("bad --console '%s': want show or none", arg);
			return HV_EXIT_USAGE;
		}
		o->console = arg;
		return 0;
	case OPT_ALLOW_RDTSC:
		o->allow_rdtsc = true;
		return 0;
	case OPT_CONTROL:
		o->control_path = arg;
		return 0;
	case OPT_NO_STDIN:
		o->no_stdin = true;
		return 0;
	case OPT_RESTORE:
	case OPT_INCOMING:
		if (o->restore_path || o->incoming) {
			pr_err("--restore and --incoming: one, once");
			return HV_EXIT_USAGE;
		}
		*(c == OPT_RESTORE ? &o->restore_path : &o->incoming) = arg;
		return 0;
	case OPT_VIF:
		if (o->have_vif) {
			pr_err("--vif: one vif per domain");
			return HV_EXIT_USAGE;
		}
		if (vif__parse(&o->vif_cfg, arg, vif_err, sizeof(vif_err))) {
			pr_err("bad --vif '%s': %s", arg, vif_err);
			return HV_EXIT_USAGE;
		}
		o->have_vif = true;
		o->vif_spec = arg;
		return 0;
	case 'v':
		if (o->level < LOG_DEBUG)
			o->level++;
		return 0;
	case 'q':
		o->level = LOG_ERROR;
		return 0;
	case 'h':
		usage(stdout);
		return -1;
	default:
		if (c >= OPT_ROLE && c <= OPT_ARBITER_PASSWORD_FILE)
			return pair_option(&o->po, c, arg) ? HV_EXIT_USAGE : 0;
		usage(stderr);
		return HV_EXIT_USAGE;
	}
}

/*
 * An unreplicated domain's --key is its migrations' (the control socket's
 * migrate, and --incoming's proof). --incoming needs it, or --insecure.
 */
static int mig_creds(struct hv_opts *o)
{
	struct pair_opts *po = &o->po;
	char why[256];

	if ((po->tls_ca || po->tls_cert || po->tls_key) && !po->role) {
		pr_err("--tls-* is for a pair's log channel: a migration's "
		       "link takes --key");
		return -1;
	}
	if (po->insecure && po->key_path) {
		pr_err("--insecure and --key: choose one");
		return -1;
	}
	/* A pair's replica has it loaded already (pair_creds). */
	if (!po->role && po->key_path &&
	    tls__load_key(po->key_path, po->key, why, sizeof(why))) {
		pr_err("--key: %s", why);
		return -1;
	}
	po->have_key = po->key_path != NULL;
	if (!o->incoming)
		return 0;
	if (po->insecure) {
		pr_warn("--insecure: the migration arrives in plaintext from "
			"whoever reaches %s first",
			o->incoming);
		return 0;
	}
	if (!po->have_key) {
		pr_err("--incoming needs the domain key the source proves: "
		       "--key FILE (or --insecure)");
		return -1;
	}
	if (migrate__creds(&o->mig_creds, true, po->key, why, sizeof(why))) {
		pr_err("--key: %s", why);
		return -1;
	}
	return 0;
}

/* The options, whole and consistent. 0, or the exit status (-1: --help). */
static int parse_options(int argc, char **argv, struct hv_opts *o)
{
	int c, rc;

	while ((c = getopt_long(argc, argv, "m:n:c:b:vqh", opts, NULL)) != -1)
		if ((rc = take_option(o, c, optarg)))
			return rc;
	if (optind != argc - 1) {
		pr_err(optind == argc ? "no KERNEL.elf given"
				      : "more than one KERNEL.elf given");
		usage(stderr);
		return HV_EXIT_USAGE;
	}
	o->kernel = argv[optind];
	if (o->record_limit_set && o->mode != GATE_RECORD) {
		pr_err("--record-limit applies to --record");
		return HV_EXIT_USAGE;
	}
	if (o->po.role && o->mode != GATE_NONE) {
		pr_err("--role and --record/--replay: one or the other");
		return HV_EXIT_USAGE;
	}
	if ((o->po.role || o->po.url) && pair_check(&o->po))
		return HV_EXIT_USAGE;
	if ((o->restore_path && (o->po.role || o->mode != GATE_NONE)) ||
	    (o->incoming &&
	     (o->po.role == LOGFMT_ROLE_PRIMARY || o->mode != GATE_NONE))) {
		pr_err("--%s builds an unreplicated domain%s: not with "
		       "--record or --replay%s",
		       o->restore_path ? "restore" : "incoming",
		       o->incoming ? " or a moved backup (--role backup)" : "",
		       o->incoming ? ", nor as a primary" : " or --role");
		return HV_EXIT_USAGE;
	}
	if ((!o->po.role || o->incoming) && mig_creds(o))
		return HV_EXIT_USAGE;
	if (!vcpu__backend_known(o->backend)) {
		pr_err("bad --backend '%s': want auto, kvm or ptrace",
		       o->backend);
		return HV_EXIT_USAGE;
	}
	return 0;
}

/* ---- the init list --------------------------------------------------------
 *
 * kvmtool's init levels: each step brings one part up, in this order, and
 * returns 0 or pvft-hv's exit status (a failed step says why; what it had
 * built is undone by the process's end, or by the step itself where that
 * matters to another process: the vCPU's child, the peer).
 */

static struct hv_opts o = {
	.backend = "auto",
	.level = LOG_INFO,
	.digest_ms = GATE_DEFAULT_DIGEST_MS,
	.record_limit = 4ull << 30,
	.po = {
		.epoch = 1,
		.heartbeat_ms = CHAN_DEFAULT_HEARTBEAT_MS,
		.timeout_ms = CHAN_DEFAULT_TIMEOUT_MS,
		.max_lag_ms = CHAN_DEFAULT_MAX_LAG_MS,
		.connect_s = CHAN_DEFAULT_CONNECT_S,
	},
};
static char *kernel_base; /* o.kernel's copy, for the default name */
static sigset_t stop_signals;
static uint64_t log_mem;
static char log_cmdline[MAX_GUEST_CMDLINE];

/* The domain's name and the vCPU backend. */
static int init_domain(void)
{
	char *dot;

	kernel_base = strdup(o.kernel);
	if (!kernel_base)
		die("out of memory");
	if (!o.name) {
		o.name = basename(kernel_base);
		dot = strrchr(o.name, '.');
		if (dot && dot != o.name)
			*dot = '\0';
	}
	dom.name = o.name;
	dom.allow_rdtsc = o.allow_rdtsc;
	log__init("pvft-hv", o.name, o.level);
	if (o.allow_rdtsc)
		pr_warn("--debug-allow-rdtsc: the guest may read the TSC, "
			"which no replay can reproduce");
	/* Chosen before pairing: a backup checks the primary's CPUID. */
	dom.backend = vcpu__backend(o.backend);
	return 0;
}

/* A backup: what it runs, to check a primary against (backup_check). */
static int init_own(void)
{
	int r;

	if (o.po.role != LOGFMT_ROLE_BACKUP)
		return 0;
	own.mem_size = (uint64_t)(o.mib ? o.mib : DEFAULT_MEMORY_MIB) << 20;
	own.cmdline = o.cmdline;
	own.vif = o.have_vif ? &o.vif_cfg : NULL;
	own.cpuid_hash =
	    dom.backend->host_cpuid ? cpuid__host_hash() : cpuid__hash();
	r = domain__image_hash(o.kernel, own.mem_size, own.image_hash);
	if (r) {
		pr_err("cannot read guest image %s: %s", o.kernel,
		       r == -EFBIG ? "larger than guest memory" : strerror(-r));
		return HV_EXIT_USAGE;
	}
	/* Its own size, never the peer's word (pair.md). */
	if (!o.mib)
		o.mib = DEFAULT_MEMORY_MIB;
	return 0;
}

static const struct gate_sink_ops *sink;
static const struct gate_source_ops *src;
static void *sink_priv, *src_priv;

/* A channel's config for this replica's options (role and addr as given). */
static struct chan_config chan_cfg(void)
{
	struct pair_opts *po = &o.po;

	return (struct chan_config){
			.creds = po->creds,
			.check = po->role == LOGFMT_ROLE_BACKUP ? backup_check
								: NULL,
			.role = po->role,
			.addr = po->addr,
			.node = po->node,
			.pair = po->pair,
			.epoch = po->epoch,
			.heartbeat_ms = po->heartbeat_ms,
			.timeout_ms = po->timeout_ms,
			.max_lag_ms = po->max_lag_ms,
			.connect_s = po->connect_s,
			.policy = &fence__policy,
			.policy_opaque = po->arbiter,
			.out = {
				.fd = o.console && !strcmp(o.console, "none")
					  ? -1
					  : STDOUT_FILENO,
				.tee = control__console_tee,
				.tee_opaque = &ctl,
			},
			.fenced = pair__fenced,
			.opaque = &dom,
			.frame_out = devices__release,
			.frame_flush = devices__release_flush,
			.frame_opaque = &dom,
	};
}

/* Where records go or come from: the channel to the peer, or a file. */
static int init_log(void)
{
	struct pair_opts *po = &o.po;

	if (po->url) {
		/* A backup may join this domain later (re-protection). */
		struct join_env env = {
			.pair = &pair,
			.cfg = chan_cfg(),
			.arbiter = po->arbiter,
			.creds = po->client_creds,
			.epoch = po->epoch,
		};

		env.cfg.check = NULL;
		join__setup(&env);
	}
	if (po->role) {
		struct chan_config cc = chan_cfg();

		o.mode =
		    po->role == LOGFMT_ROLE_PRIMARY ? GATE_RECORD : GATE_REPLAY;
		if (chan__init(&pair_chan, &cc) ||
		    pair__init(&pair, &pair_chan))
			die("out of memory");
		sink = &pair_sink;
		src = &pair_source;
		sink_priv = src_priv = &pair;
	} else if (po->url) {
		if (pair__init(&pair, NULL))
			die("out of memory");
	} else if (o.mode != GATE_NONE) {
		gate_file__init(&log_file, o.log_path, o.record_limit);
		sink = &gate_file_sink;
		src = &gate_file_source;
		sink_priv = src_priv = &log_file;
	}
	return 0;
}

/* The control socket first: a backup waiting to pair answers too. */
static int init_control(void)
{
	struct pair_opts *po = &o.po;

	return start_control(&ctl, &dom, o.control_path,
			     &(struct control_info){
				 .node = po->url ? po->node : NULL,
				 .kernel = o.kernel,
				 .peer = po->addr,
				 .arbiter = po->arbiter
						? arbiter__url(po->arbiter)
						: NULL,
				 .pair_id = po->pair,
				 .epoch = po->epoch,
				 .pair = po->url ? &pair : NULL,
				 .first_chan = po->role ? &pair_chan : NULL,
				 .key_path = po->key_path,
			     })
		   ? HV_EXIT_HOST
		   : 0;
}

static struct migrate_in *mig_in;
static struct migstream_domain_info mig_di;

/*
 * A restored domain's memory, all of it touched before its pages come:
 * else the pages VERIFY's digest reads first fault in during the pause
 * (on a nested host ~3 ms a MiB; MADV_POPULATE_WRITE alone leaves most of
 * that to the first read there). 0, or -1 after saying why.
 */
static int touch_memory(void)
{
	int rc = domain__init_memory(&dom, o.mib << 20);

	if (rc) {
		pr_err("cannot allocate %llu MiB of guest memory: %s",
		       (unsigned long long)o.mib, strerror(-rc));
		return -1;
	}
	memset(dom.mem, 0, dom.mem_size);
	return 0;
}

/* A joining backup's refusal (join_check), for its source. */
static char join_refusal[512];

/* A refused stream's word to a live source; the exit status. */
static int refuse_stream(int rc)
{
	if (mig_in)
		migrate__in_answer(mig_in, join_refusal[0] ? join_refusal
					   : migrate__in_error(mig_in)[0]
					       ? migrate__in_error(mig_in)
					       : "the destination failed");
	if (join_refusal[0])
		return HV_EXIT_PAIR;
	if (rc == -ENOMEM || rc == -EIO)
		return HV_EXIT_HOST;
	return HV_EXIT_LOG;
}

static int join_ask_arbiter(void);

/*
 * --restore, --incoming: the stream's domain, checked against this one
 * before anything is built (memory size and command line come from it).
 */
static int init_stream(void)
{
	struct migrate_own own = {
		.role = o.po.role,
		.pair_id = o.po.pair,
		.epoch = o.po.epoch,
		.mem_size = o.mib << 20,
		.cmdline = o.cmdline,
		.nr_vifs = o.have_vif,
		.cpuid_hash = dom.backend->host_cpuid ? cpuid__host_hash()
						      : cpuid__hash(),
	};
	int rc;

	if (!o.restore_path && !o.incoming)
		return 0;
	rc = domain__image_hash(o.kernel, (uint64_t)PVFT_MAX_MEMORY_MIB << 20,
				own.image_hash);
	if (rc) {
		pr_err("cannot read guest image %s: %s", o.kernel,
		       strerror(-rc));
		return HV_EXIT_USAGE;
	}
	/*
	 * A destination that knows its memory size touches all of it before
	 * the source comes: on a host where first touch is dear (a nested
	 * VM's ~3 ms a MiB) that is startup time, not the migration's.
	 */
	if (o.incoming && o.mib && touch_memory())
		return HV_EXIT_HOST;
	rc = migrate__in_open(&mig_in, o.restore_path, o.incoming, o.mig_creds,
			      &own, &mig_di);
	if (!rc && migrate__in_join(mig_in))
		rc = join_ask_arbiter();
	if (rc)
		return refuse_stream(rc);
	o.mib = mig_di.mem_size >> 20;
	o.cmdline = mig_di.cmdline;
	return 0;
}

/*
 * A backup joining a running primary: the arbiter must say that this
 * epoch is opened and that nobody holds it yet, asked as soon as the
 * stream says it is a join (outside the pause); and the opener must be
 * the primary the stream's LOG_TAIL names (pair.md, "Re-protection").
 * Else it is refused: a stale or stray primary, an epoch failed over.
 */
static char join_opener[ARBITER_NODE_MAX + 1];

static int join_refuse(const char *node, const char *why)
{
	snprintf(join_refusal, sizeof(join_refusal),
		 "the joining backup refused primary %s: %s", node, why);
	pr_err("%s", join_refusal);
	return -EPERM;
}

static int join_ask_arbiter(void)
{
	char why[400];

	if (fence__check_join(o.po.arbiter, o.po.pair, o.po.epoch, NULL,
			      join_opener, clock__mono_ns() + 10000000000ull,
			      why, sizeof(why)))
		return join_refuse("(not yet named)", why);
	pr_info("joining: the arbiter says %s opened pair %llu epoch %llu",
		join_opener, (unsigned long long)o.po.pair,
		(unsigned long long)o.po.epoch);
	return 0;
}

static int join_check(void)
{
	char node[LOGFMT_HELLO_NODE_MAX + 1], why[400];

	chan__peer(&pair_chan, node, sizeof(node));
	if (strcmp(node, join_opener)) {
		snprintf(why, sizeof(why),
			 "pair %llu epoch %llu was opened by %s, not by the "
			 "primary %s: not joining",
			 (unsigned long long)o.po.pair,
			 (unsigned long long)o.po.epoch, join_opener, node);
		return join_refuse(node, why);
	}
	pr_info("joining primary %s: the arbiter says it opened pair %llu "
		"epoch %llu",
		node, (unsigned long long)o.po.pair,
		(unsigned long long)o.po.epoch);
	/* It dials as soon as it has our OK. */
	chan__listen(&pair_chan);
	return 0;
}

/* The domain built from the stream: pages, vCPU, devices, VERIFY. */
static int init_restore(void)
{
	int rc;

	if (!mig_in)
		return 0;
	const void *tail;
	size_t len;

	rc = migrate__in_build(mig_in, &dom);
	tail = migrate__in_log_tail(mig_in, &len);
	if (!rc && tail && pair__resume(&pair, &dom, tail, len))
		rc = -EBADMSG;
	if (!rc && migrate__in_join(mig_in))
		rc = join_check();
	if (rc) {
		dom.backend->destroy(&dom);
		return refuse_stream(rc);
	}
	return 0;
}

/*
 * The gate. A replay takes memory size and command line from its log; a
 * backup waits here for its primary and runs what the primary runs.
 */
static int init_gate(void)
{
	const char *what;
	const struct logfmt_boot *log_boot;
	bool backup = o.po.role != 0;
	int rc, bad = backup ? HV_EXIT_PAIR : HV_EXIT_USAGE;

	/* Restored: REPLAY resumes once the stream's LOG_TAIL is in. */
	if (mig_in)
		return hv_exit_status(gate__init(&dom, GATE_NONE, NULL, NULL,
						 NULL, NULL, &log_mem,
						 log_cmdline));

	rc = gate__init(&dom, o.mode, o.mode == GATE_RECORD ? sink : NULL,
			sink_priv, o.mode == GATE_REPLAY ? src : NULL, src_priv,
			&log_mem, log_cmdline);
	if (rc)
		return hv_exit_status(rc);
	if (o.mode != GATE_REPLAY)
		return 0;
	what = backup ? "the primary runs" : o.log_path;
	if (o.digest_set)
		pr_warn("--digest-exits/--digest-ms do not apply to a replay: "
			"it checks the digests its log has");
	if (o.mib && o.mib << 20 != log_mem) {
		gate__refuse(&dom.gate, "--memory %llu: %s%s with %llu MiB",
			     (unsigned long long)o.mib, what,
			     backup ? "" : " was recorded",
			     (unsigned long long)(log_mem >> 20));
		return bad;
	}
	if (o.cmdline && strcmp(o.cmdline, log_cmdline)) {
		gate__refuse(&dom.gate, "--cmdline '%s': %s%s with '%s'",
			     o.cmdline, what, backup ? "" : " was recorded",
			     log_cmdline);
		return bad;
	}
	if (log_mem % (2ull << 20) || log_mem < (PVFT_MIN_MEMORY_MIB << 20) ||
	    log_mem > ((uint64_t)PVFT_MAX_MEMORY_MIB << 20)) {
		gate__refuse(&dom.gate,
			     "replay: %s: memory size %llu bytes is not one "
			     "pvft-hv runs",
			     what, (unsigned long long)log_mem);
		return backup ? HV_EXIT_PAIR : HV_EXIT_LOG;
	}
	o.mib = log_mem >> 20;
	o.cmdline = log_cmdline;
	log_boot = gate__log_boot(&dom.gate);
	if (log_boot &&
	    check_vif(log_boot, o.have_vif ? &o.vif_cfg : NULL, what, backup))
		return bad;
	/*
	 * An offline replay: the recorded vif, and never a host side (its
	 * frames are the log's; a live one would take a running domain's
	 * service address or tap).
	 */
	if (log_boot && log_boot->nr_vifs && !o.have_vif) {
		memset(&o.vif_cfg, 0, sizeof(o.vif_cfg));
		memcpy(o.vif_cfg.mac, log_boot->vif_mac[0], 6);
		o.have_vif = true;
	}
	if (!backup)
		o.vif_cfg.host = VIF_HOST_NONE;
	return 0;
}

/* Digests, the scheduler, the console and the vif. */
static int init_devices(void)
{
	struct devices_config devs = {
		.vif = o.have_vif ? &o.vif_cfg : NULL,
		.vif_spec = o.vif_spec,
		.passive = o.po.role == LOGFMT_ROLE_BACKUP,
	};
	const char *console = o.console;
	int rc;

	if (!o.mib)
		o.mib = DEFAULT_MEMORY_MIB;
	if (!o.cmdline)
		o.cmdline = "";
	/*
	 * A digest reads all of guest memory (~4 ms per 64 MiB at 15 GB/s):
	 * 500 ms of guest time per 64 MiB keeps digests under ~1 %.
	 */
	if (!o.digest_ms_set)
		o.digest_ms = GATE_DEFAULT_DIGEST_MS * ((o.mib + 63) / 64);
	dom.gate.digest_exits = o.digest_exits;
	dom.gate.digest_ns = o.digest_ms * 1000000ull;

	rc = sched__init(&dom.sched);
	if (rc)
		die("eventfd: %s", strerror(-rc));
	/*
	 * A replay's output already left the recorded run (DESIGN.md 3.2);
	 * a backup's goes out once it is live.
	 */
	devs.console_live = (struct console_sink){
		.fd = console && !strcmp(console, "none") ? -1 : STDOUT_FILENO,
		.tee = control__console_tee,
		.tee_opaque = &ctl,
	};
	if (!console || o.po.role == LOGFMT_ROLE_BACKUP)
		console = o.mode == GATE_REPLAY ? "none"
			  : console		? console
						: "show";
	devs.console_out = devs.console_live;
	devs.console_out.fd = strcmp(console, "none") ? STDOUT_FILENO : -1;
	rc = coninput__init(&dom.cin);
	if (rc)
		die("eventfd: %s", strerror(-rc));
	if (devices__probe(&dom, &devs))
		die("out of memory");
	return 0;
}

static int init_memory(void)
{
	int rc;

	if (mig_in) {
		/* A destination's may be there already (init_stream). */
		if (!dom.mem && touch_memory())
			return refuse_stream(-ENOMEM);
		/* No image loaded: its pages come from the stream. */
		dom.entry = mig_di.entry;
		dom.hypercall_page = mig_di.hypercall_page;
		memcpy(dom.image_hash, mig_di.image_hash,
		       sizeof(dom.image_hash));
		snprintf(dom.cmdline, sizeof(dom.cmdline), "%s",
			 mig_di.cmdline);
		evtchn__init(&dom.evtchn, domain__shared_info(&dom));
		return 0;
	}
	rc = domain__init_memory(&dom, o.mib << 20);
	if (rc) {
		pr_err("cannot allocate %llu MiB of guest memory: %s",
		       (unsigned long long)o.mib, strerror(-rc));
		return HV_EXIT_HOST;
	}
	if (domain__load(&dom, o.kernel, o.cmdline)) {
		if (o.po.role == LOGFMT_ROLE_BACKUP)
			gate__refuse(&dom.gate,
				     "the backup cannot load its image %s",
				     o.kernel);
		return HV_EXIT_USAGE;
	}
	return 0;
}

static int init_vcpu(void)
{
	int rc = dom.backend->create(&dom);

	if (rc && mig_in) {
		pr_err("cannot create the vCPU on the %s backend: %s",
		       dom.backend->name, strerror(-rc));
		return refuse_stream(-EIO);
	}
	if (rc) {
		if (o.po.role == LOGFMT_ROLE_BACKUP)
			gate__refuse(&dom.gate,
				     "the backup cannot create its vCPU");
		pr_err("cannot create the vCPU on the %s backend: %s",
		       dom.backend->name, strerror(-rc));
		return HV_EXIT_HOST;
	}
	return 0;
}

/* The host sides, before the pair forms: a backup says why it cannot. */
static int init_host_sides(void)
{
	if (!devices__start(&dom))
		return 0;
	if (mig_in) {
		dom.backend->destroy(&dom);
		migrate__in_answer(mig_in, "the destination cannot set up "
					   "the vif's host side");
		return HV_EXIT_HOST;
	}
	if (o.po.role == LOGFMT_ROLE_BACKUP)
		gate__refuse(&dom.gate,
			     "the backup cannot set up its vif's host side");
	dom.backend->destroy(&dom);
	return HV_EXIT_HOST;
}

/* Only a domain that can run gets a log (or its pair). */
static int init_boot(void)
{
	int rc;

	if (mig_in) {
		/* It holds the domain: it runs once the source has stopped. */
		rc = migrate__in_answer(mig_in, NULL);
		migrate__in_close(mig_in);
		mig_in = NULL;
		if (!rc && o.restore_path)
			pr_info("restored from %s: running", o.restore_path);
		if (rc) {
			dom.backend->destroy(&dom);
			return HV_EXIT_LOG;
		}
		/*
		 * A moved backup: the primary comes to resume its stream
		 * here (or never: then the arbiter decides, as after a
		 * primary's failure).
		 */
		if (o.po.role && chan__accept_resume(&pair_chan) < 0) {
			dom.backend->destroy(&dom);
			return HV_EXIT_PAIR;
		}
		return 0;
	}
	rc = gate__boot(&dom);

	if (rc) {
		dom.backend->destroy(&dom);
		return hv_exit_status(rc);
	}
	return 0;
}

/*
 * Stop signals are taken by the I/O thread from a signalfd, never by a
 * handler: blocked here, before the I/O thread exists, so in all.
 */
static int init_signals(void)
{
	int rc;

	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = sched__init_kick(&dom);
	if (rc)
		die("cannot install the vCPU kick: %s", strerror(-rc));
	control__set_guest(&ctl, o.mib, o.cmdline, dom.backend->name);
	return 0;
}

/*
 * A replay's console input is the log's, never the live one; a live
 * backup's goes on from the control socket, as its primary's did.
 */
static int init_iothread(void)
{
	int rc = iothread__start(&dom,
				 o.no_stdin ? IOTHREAD_INPUT_OPEN
				 : o.mode == GATE_REPLAY ||
					 fcntl(STDIN_FILENO, F_GETFD) < 0
				     ? -1
				     : STDIN_FILENO,
				 &stop_signals);

	if (rc)
		die("cannot start the I/O thread: %s", strerror(-rc));
	pr_debug("booting %s: %llu MiB, entry 0x%llx, hypercall page 0x%llx, "
		 "%s backend",
		 o.kernel, (unsigned long long)o.mib,
		 (unsigned long long)dom.entry,
		 (unsigned long long)dom.hypercall_page, dom.backend->name);
	return 0;
}

static const struct {
	const char *name;
	int (*init)(void);
} init_list[] = {
	{ "domain", init_domain },
	{ "backup's own", init_own },
	{ "log", init_log },
	{ "control", init_control },
	{ "stream", init_stream },
	{ "gate", init_gate },
	{ "devices", init_devices },
	{ "memory", init_memory },
	{ "vcpu", init_vcpu },
	{ "restore", init_restore },
	{ "host sides", init_host_sides },
	{ "boot", init_boot },
	{ "signals", init_signals },
	{ "iothread", init_iothread },
};

/* ---- teardown -------------------------------------------------------------
 *
 * In the order the threads' uses allow (each joined before what it uses
 * goes):
 *  - the I/O thread: console queue, sched, the gate's stall limit;
 *  - the control thread: reads the channel (stats, state, peer), the
 *    devices' status and sched, so it stops serving before any of them
 *    is disposed;
 *  - the channel's threads: released output to the control socket's
 *    viewers (the console sink's tee), frames to the vif (devices__release), a
 * fence to sched and the backend (pair__fenced), the arbiter;
 *  - the devices (the vif's net thread: sched__wake());
 *  - then the viewers, the backend, the console queue and sched.
 */
static void teardown(void)
{
	iothread__stop(&dom);
	control__stop(&ctl);
	/* Removed: never again, it could be a new pvft-hv's by then. */
	control_unlink[0] = '\0';
	gate__dispose(&dom.gate);
	gate_file__dispose(&log_file);
	if (o.po.url) {
		if (o.po.role)
			chan__dispose(&pair_chan);
		pair__dispose(&pair);
		arbiter__close(o.po.arbiter);
	}
	devices__dispose(&dom);
	/* Nothing writes to the console any more: the viewers go. */
	control__dispose(&ctl);
	dom.backend->destroy(&dom);
	coninput__dispose(&dom.cin);
	sched__dispose(&dom.sched);
	domain__dispose(&dom);
	free(kernel_base);
}

int main(int argc, char **argv)
{
	int rc, status;

	log__init("pvft-hv", NULL, LOG_INFO);
	rc = parse_options(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	for (size_t i = 0; i < sizeof(init_list) / sizeof(init_list[0]); i++) {
		rc = init_list[i].init();
		if (rc) {
			pr_debug("bring-up stopped at %s", init_list[i].name);
			return rc;
		}
	}

	vcpu__run_loop(&dom);
	/* A migration's thread reads guest memory: it ends first. */
	migrate__dispose(&dom);
	/* The END record's final digest needs the vCPU's registers. */
	status = gate__finish(&dom);
	if (o.po.url)
		status = pair__finished(&pair, &dom, status);

	teardown();
	pr_debug("exit status %d after %llu exits", status,
		 (unsigned long long)dom.exits);
	return status;
}
