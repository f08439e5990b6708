/* SPDX-License-Identifier: MIT */
/*
 * Domain configs in xl.cfg syntax (Documentation/man/pvft.cfg.5.md), read
 * with libxlutil as xl reads its own. One file describes one protected
 * domain: the guest (name, kernel, memory, cmdline, vif) and how it is
 * replicated (the ft_* keys: hosts, log channel, arbiter, timeouts).
 */
#ifndef PVFT_DOM0_CONFIG_H
#define PVFT_DOM0_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PVFT_CFG_NAME_MAX 63  /* [A-Za-z0-9._-], as a node id */
#define PVFT_CFG_STR_MAX 1024 /* cmdline, templates, URLs */
#define PVFT_CFG_MAX_VIFS 1   /* PVFT_MAX_VIFS */
/* ft_hosts: candidate hosts for a joining backup, at most this many. */
#define PVFT_CFG_MAX_HOSTS 16
/* pvft migrate's port on another host, unless ft_migrate_port says. */
#define PVFT_CFG_MIGRATE_PORT 8890

/* Exit status of a command refused for its config (pvft.cfg(5)). */
#define PVFT_EXIT_CONFIG 3

/* Where one replica runs. */
struct pvft_cfg_replica {
	/* "localhost" (the default): started here; else through ft_remote. */
	char host[256];
	/* The node id the arbiter knows it by ([A-Za-z0-9._-], 1..63). */
	char node[PVFT_CFG_NAME_MAX + 1];
};

struct pvft_cfg {
	char path[PATH_MAX]; /* the file, as given */

	/* The guest. */
	char name[PVFT_CFG_NAME_MAX + 1];
	char kernel[PATH_MAX]; /* absolute: relative to the file's directory */
	unsigned int memory_mib;
	char cmdline[PVFT_CFG_STR_MAX];
	unsigned int nr_vifs;
	char vif[PVFT_CFG_MAX_VIFS][PVFT_CFG_STR_MAX]; /* pvft-hv --vif specs */
	char backend[16];			       /* auto, kvm, ptrace */

	/* Replication: ft_* keys. */
	bool replicated; /* ft_mode = "pair" (default) or "single" */
	struct pvft_cfg_replica primary, backup;
	/* Command template for a replica on another host: %h the host, %c the
	 * command as one shell word. */
	char remote[PVFT_CFG_STR_MAX];
	/*
	 * The backup listens on ft_log_addr:ft_log_port; 0 = a free port.
	 * An IPv6 address is bare ("::1"): bracket it in HOST:PORT.
	 */
	char log_addr[256];
	unsigned int log_port;
	/* pvft migrate: the destination listens on this port (another host). */
	unsigned int migrate_port;
	/*
	 * Re-protection (pvft.cfg(5), "Re-protection"): ft_reprotect = "auto"
	 * has create start `pvft monitor`, which gives the domain a new
	 * backup whenever it runs unprotected, on the hosts of ft_hosts in
	 * turn (default: localhost).
	 */
	bool reprotect_auto;
	unsigned int nr_hosts;
	char hosts[PVFT_CFG_MAX_HOSTS][256];
	/* "embedded" (a pvft-arbiter started by create), or a URL. */
	bool arbiter_embedded;
	char arbiter[PVFT_CFG_STR_MAX];
	char arbiter_addr[256];	   /* embedded: where it listens */
	unsigned int arbiter_port; /* embedded: 0 = a free port */
	unsigned int heartbeat_ms, timeout_ms, max_lag_ms, connect_timeout_s;
	uint64_t pair, epoch;

	/*
	 * Authentication (pvft.cfg(5), "Authentication"). File paths are
	 * absolute (a relative one is relative to the config's directory,
	 * as kernel); "" when not set. None is read here: the files may
	 * live only on the replicas' hosts; create reads the key with
	 * pvft_cfg__load_key().
	 */
	char key[PATH_MAX];    /* ft_key: the domain key */
	unsigned int key_line; /* its setting's line; 0: the command line */
	bool insecure;	       /* ft_insecure = 1: plaintext, on purpose */
	/* ft_tls_*: x509 for the log channel (all three, or none). */
	char tls_ca[PATH_MAX], tls_cert[PATH_MAX], tls_key[PATH_MAX];
	/* ft_arbiter_*: an etcds:// arbiter's CA; a client certificate and
	 * its key (both or neither). */
	char arbiter_ca[PATH_MAX], arbiter_cert[PATH_MAX],
	    arbiter_key[PATH_MAX];
	/* etcd's own authentication: the pair's user, its password's file. */
	char arbiter_user[PVFT_CFG_NAME_MAX + 1];
	char arbiter_password_file[PATH_MAX];
	/*
	 * A pair that needs a domain key and names none (no ft_key, not
	 * insecure; the log channel without x509, or an embedded
	 * pvft-arbiter): create makes one for each start of the domain.
	 */
	bool key_auto;
};

/*
 * Read @path into @cfg, then apply @nover "KEY=VALUE" overrides (as xl
 * create's command line: they replace the file's settings). Every key is
 * known, every value checked; defaults filled in. 0, or -1 with @err set
 * to one line naming the file, line and key: "kv.cfg:7: memory: want an
 * even number of MiB from 2 to 3072, not '7'" ("command line: memory:
 * ..." for an override). Needs no privileges and starts nothing.
 */
int pvft_cfg__load(struct pvft_cfg *cfg, const char *path,
		   char *const *overrides, int nover, char *err, size_t errlen);

/*
 * Read @cfg's ft_key (tls__load_key). 0, or -1 with @err naming the
 * file, line and key as pvft_cfg__load does ("kv.cfg:9: ft_key: ...").
 */
int pvft_cfg__load_key(const struct pvft_cfg *cfg, uint8_t *key, char *err,
		       size_t errlen);

/* A domain name as a config may give it (also a directory's name). */
bool pvft_cfg__valid_name(const char *name);

#endif /* PVFT_DOM0_CONFIG_H */
