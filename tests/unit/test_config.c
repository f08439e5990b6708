// SPDX-License-Identifier: MIT
/*
 * Domain configs (dom0-tools/config.c, pvft.cfg(5)): real files in a temp
 * directory, read with libxlutil as pvft create reads them. Every key's
 * value and default; every refusal's whole message, line number included;
 * overrides from the command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "../../dom0-tools/config.h"
#include "tls.h"
#include "unit.h"

static char dir[64];	    /* the suite's temp directory */
static char kernel[128];    /* dir/guest.elf: any regular file will do */
static struct pvft_cfg cfg; /* big: not on the stack */
static char err[1024];

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	int rc;

	if (fd < 0)
		return -1;
	rc = write(fd, text, len) == (ssize_t)len ? 0 : -1;
	close(fd);
	return rc;
}

static void put_file(const char *path, const char *text)
{
	CU_ASSERT_FATAL(write_file(path, text) == 0);
}

/* dir/@name holding @text; its path. */
static const char *cfg_file(const char *name, const char *text)
{
	static char path[160];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	put_file(path, text);
	return path;
}

/* Load @text (as dir/t.cfg) with the NULL-terminated overrides. */
static int load(const char *text, ...)
{
	char *ovr[8];
	int n = 0;
	va_list ap;

	va_start(ap, text);
	while (n < 8 && (ovr[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	memset(err, 0, sizeof(err));
	return pvft_cfg__load(&cfg, cfg_file("t.cfg", text), ovr, n, err,
			      sizeof(err));
}

/* err is "@prefix" followed by @msg. */
static void check_err(const char *prefix, const char *msg)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s%s", prefix, msg);
	if (strcmp(err, want))
		fprintf(stderr, "\n  got  '%s'\n  want '%s'\n", err, want);
	CU_ASSERT_STRING_EQUAL(err, want);
}

/*
 * err starts with "@prefix@msg": for libxlutil's syntax errors, whose
 * ends are bison's words and change with its version.
 */
static void check_err_start(const char *prefix, const char *msg)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s%s", prefix, msg);
	if (strncmp(err, want, strlen(want)))
		fprintf(stderr, "\n  got  '%s'\n  want '%s...'\n", err, want);
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));
}

/* err is "dir/t.cfg:@line: @msg" (@line 0: "dir/t.cfg: @msg"). */
static void check_file_err(unsigned int line, const char *msg)
{
	char prefix[256];

	if (line)
		snprintf(prefix, sizeof(prefix), "%s/t.cfg:%u: ", dir, line);
	else
		snprintf(prefix, sizeof(prefix), "%s/t.cfg: ", dir);
	check_err(prefix, msg);
}

/* A syntax error in dir/t.cfg at @line, near `@near'. */
static void check_syntax_err(unsigned int line, const char *near)
{
	char prefix[256], msg[128];

	snprintf(prefix, sizeof(prefix), "%s/t.cfg:%u: ", dir, line);
	snprintf(msg, sizeof(msg), "config parsing error near `%s': ", near);
	check_err_start(prefix, msg);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int suite_init(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pvft-test-config.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(kernel, sizeof(kernel), "%s/guest.elf", dir);
	return write_file(kernel,
			  "not really an ELF: the config only finds it\n");
}

static int suite_cleanup(void)
{
	return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#define BASE "name = \"t\"\nkernel = \"guest.elf\"\n"

/* FNV-1a 64 of @s, the default ft_pair (pvft.cfg(5)). */
static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
	return h;
}

/* ---- good configs ------------------------------------------------------ */

static void test_every_key(void)
{
	static const char text[] =
	    "# every key, each away from its default\n"
	    "name = \"kv-1.a_b\"\n"
	    "kernel = 'guest.elf'\n"
	    "memory = 128\n"
	    "cmdline = \"ip=10.0.2.15/24 gw=10.0.2.2 port=7000\"\n"
	    "vif = [ 'mac=00:16:3e:70:76:02,ip=10.0.2.15,"
	    "loopback=127.0.0.1:7000', ]\n"
	    "backend = \"ptrace\"\n"
	    "ft_mode = \"pair\"\n"
	    "ft_primary = \"h1\"; ft_backup = \"h2.example.org\"\n"
	    "ft_primary_node = \"node-1\"\n"
	    "ft_backup_node = \"node-2\"\n"
	    "ft_remote = \"ip netns exec %h sh -c %c # 100%%\"\n"
	    "ft_log_addr = \"::1\"\n"
	    "ft_log_port = 7100\n"
	    "ft_arbiter = \"etcds://10.0.0.3:2379,10.0.0.4:2379\"\n"
	    "ft_arbiter_ca = \"/pki/etcd-ca.pem\"\n"
	    "ft_arbiter_cert = \"pki/etcd.pem\"\n"
	    "ft_arbiter_key = \"/pki/etcd-key.pem\"\n"
	    "ft_arbiter_user = \"pvft-pair-7\"\n"
	    "ft_arbiter_password_file = \"/etc/pvft/etcd-pw\"\n"
	    "ft_key = \"/etc/pvft/kv.key\"\n"
	    "ft_tls_ca = \"/pki/ca.pem\"\n"
	    "ft_tls_cert = \"/pki/kv.pem\"\n"
	    "ft_tls_key = \"/pki/kv-key.pem\"\n"
	    "ft_arbiter_addr = \"arb.example.org\"\n"
	    "ft_arbiter_port = 7200\n"
	    "ft_heartbeat_ms = 20\n"
	    "ft_timeout_ms = 200\n"
	    "ft_max_lag_ms = 100\n"
	    "ft_connect_timeout = 60\n"
	    "ft_pair = 18446744073709551615\n"
	    "ft_epoch = 7\n";

	CU_ASSERT_EQUAL_FATAL(load(text, NULL), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT(strstr(cfg.path, "/t.cfg") != NULL);
	CU_ASSERT_STRING_EQUAL(cfg.name, "kv-1.a_b");
	CU_ASSERT_STRING_EQUAL(cfg.kernel, kernel);
	CU_ASSERT_EQUAL(cfg.memory_mib, 128);
	CU_ASSERT_STRING_EQUAL(cfg.cmdline,
			       "ip=10.0.2.15/24 gw=10.0.2.2 port=7000");
	CU_ASSERT_EQUAL(cfg.nr_vifs, 1);
	CU_ASSERT_STRING_EQUAL(cfg.vif[0], "mac=00:16:3e:70:76:02,ip=10.0.2.15,"
					   "loopback=127.0.0.1:7000");
	CU_ASSERT_STRING_EQUAL(cfg.backend, "ptrace");
	CU_ASSERT_TRUE(cfg.replicated);
	CU_ASSERT_STRING_EQUAL(cfg.primary.host, "h1");
	CU_ASSERT_STRING_EQUAL(cfg.backup.host, "h2.example.org");
	CU_ASSERT_STRING_EQUAL(cfg.primary.node, "node-1");
	CU_ASSERT_STRING_EQUAL(cfg.backup.node, "node-2");
	CU_ASSERT_STRING_EQUAL(cfg.remote, "ip netns exec %h sh -c %c # 100%%");
	CU_ASSERT_STRING_EQUAL(cfg.log_addr, "::1");
	CU_ASSERT_EQUAL(cfg.log_port, 7100);
	CU_ASSERT_FALSE(cfg.arbiter_embedded);
	CU_ASSERT_STRING_EQUAL(cfg.arbiter,
			       "etcds://10.0.0.3:2379,10.0.0.4:2379");
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_ca, "/pki/etcd-ca.pem");
	CU_ASSERT(!strcmp(cfg.arbiter_cert + strlen(dir), "/pki/etcd.pem") &&
		  !strncmp(cfg.arbiter_cert, dir, strlen(dir)));
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_key, "/pki/etcd-key.pem");
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_user, "pvft-pair-7");
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_password_file, "/etc/pvft/etcd-pw");
	CU_ASSERT_STRING_EQUAL(cfg.key, "/etc/pvft/kv.key");
	CU_ASSERT_STRING_EQUAL(cfg.tls_ca, "/pki/ca.pem");
	CU_ASSERT_STRING_EQUAL(cfg.tls_cert, "/pki/kv.pem");
	CU_ASSERT_STRING_EQUAL(cfg.tls_key, "/pki/kv-key.pem");
	CU_ASSERT_FALSE(cfg.insecure);
	CU_ASSERT_FALSE(cfg.key_auto);
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_addr, "arb.example.org");
	CU_ASSERT_EQUAL(cfg.arbiter_port, 7200);
	CU_ASSERT_EQUAL(cfg.heartbeat_ms, 20);
	CU_ASSERT_EQUAL(cfg.timeout_ms, 200);
	CU_ASSERT_EQUAL(cfg.max_lag_ms, 100);
	CU_ASSERT_EQUAL(cfg.connect_timeout_s, 60);
	CU_ASSERT_EQUAL(cfg.pair, UINT64_MAX);
	CU_ASSERT_EQUAL(cfg.epoch, 7);
}

static void test_defaults(void)
{
	CU_ASSERT_EQUAL_FATAL(load(BASE, NULL), 0);
	CU_ASSERT_STRING_EQUAL(cfg.name, "t");
	CU_ASSERT_STRING_EQUAL(cfg.kernel, kernel);
	CU_ASSERT_EQUAL(cfg.memory_mib, 64);
	CU_ASSERT_STRING_EQUAL(cfg.cmdline, "");
	CU_ASSERT_EQUAL(cfg.nr_vifs, 0);
	CU_ASSERT_STRING_EQUAL(cfg.backend, "auto");
	CU_ASSERT_TRUE(cfg.replicated);
	CU_ASSERT_STRING_EQUAL(cfg.primary.host, "localhost");
	CU_ASSERT_STRING_EQUAL(cfg.backup.host, "localhost");
	CU_ASSERT_STRING_EQUAL(cfg.primary.node, "t-a");
	CU_ASSERT_STRING_EQUAL(cfg.backup.node, "t-b");
	CU_ASSERT_STRING_EQUAL(cfg.remote, "ssh -o BatchMode=yes %h %c");
	CU_ASSERT_STRING_EQUAL(cfg.log_addr, "127.0.0.1");
	CU_ASSERT_EQUAL(cfg.log_port, 0);
	CU_ASSERT_TRUE(cfg.arbiter_embedded);
	CU_ASSERT_STRING_EQUAL(cfg.arbiter, "embedded");
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_addr, "127.0.0.1");
	CU_ASSERT_EQUAL(cfg.arbiter_port, 0);
	CU_ASSERT_EQUAL(cfg.heartbeat_ms, 10);
	CU_ASSERT_EQUAL(cfg.timeout_ms, 80);
	CU_ASSERT_EQUAL(cfg.max_lag_ms, 50);
	CU_ASSERT_EQUAL(cfg.connect_timeout_s, 30);
	CU_ASSERT_EQUAL(cfg.pair, fnv1a("t"));
	CU_ASSERT_EQUAL(cfg.epoch, 1);
}

/* The derived defaults: pair from the name, node ids cut to fit. */
static void test_derived_defaults(void)
{
	static const char name63[] = "abcdefghijklmnopqrstuvwxyz"
				     "abcdefghijklmnopqrstuvwxyz"
				     "0123456789.";
	char text[256];

	CU_ASSERT_EQUAL_FATAL(strlen(name63), 63);
	snprintf(text, sizeof(text), "name = \"%s\"\nkernel = \"guest.elf\"\n",
		 name63);
	CU_ASSERT_EQUAL_FATAL(load(text, NULL), 0);
	CU_ASSERT_STRING_EQUAL(cfg.name, name63);
	CU_ASSERT_EQUAL(strlen(cfg.primary.node), 63);
	CU_ASSERT_STRING_EQUAL(cfg.primary.node + 61, "-a");
	CU_ASSERT_STRING_EQUAL(cfg.backup.node + 61, "-b");
	CU_ASSERT(!strncmp(cfg.primary.node, name63, 61));
	CU_ASSERT_EQUAL(cfg.pair, fnv1a(name63));

	/* Another name, another pair; the same name, the same pair. */
	CU_ASSERT_EQUAL_FATAL(
	    load("name = \"kv\"\nkernel = \"guest.elf\"\n", NULL), 0);
	CU_ASSERT_EQUAL(cfg.pair, fnv1a("kv"));
	CU_ASSERT_NOT_EQUAL(cfg.pair, fnv1a(name63));
	CU_ASSERT_NOT_EQUAL(cfg.pair, 0);

	/* ft_mode single: the ft_ keys are allowed, and still checked. */
	CU_ASSERT_EQUAL(
	    load(BASE "ft_mode = \"single\"\nft_log_port = 7\n", NULL), 0);
	CU_ASSERT_FALSE(cfg.replicated);
	CU_ASSERT_EQUAL(cfg.log_port, 7);
}

/* xl's syntax: numbers, ';', lists over lines, comments, +=. */
static void test_syntax(void)
{
	CU_ASSERT_EQUAL_FATAL(
	    load("name = \"t\"; kernel = \"guest.elf\"\n"
		 "memory = 0x40 # hex, as xl reads it\n"
		 "vif = [\n"
		 "  # a comment in a list\n"
		 "  \"ip=10.0.2.15,loopback=127.0.0.1:7000\"\n"
		 "]\n"
		 "cmdline = 'a \"b\"'\n"
		 "cmdline += \" c\"\n"
		 "ft_epoch = 2 # no newline after this",
		 NULL),
	    0);
	CU_ASSERT_EQUAL(cfg.memory_mib, 64);
	CU_ASSERT_EQUAL(cfg.nr_vifs, 1);
	CU_ASSERT_STRING_EQUAL(cfg.cmdline, "a \"b\" c");
	CU_ASSERT_EQUAL(cfg.epoch, 2);

	/* An empty list: no vif. */
	CU_ASSERT_EQUAL_FATAL(load(BASE "vif = []\n", NULL), 0);
	CU_ASSERT_EQUAL(cfg.nr_vifs, 0);
}

/* A relative kernel is relative to the config's directory, not the cwd. */
static void test_relative_kernel(void)
{
	char sub[128], path[192], cwd[256];
	int rc;

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	CU_ASSERT_FATAL(mkdir(sub, 0755) == 0 || errno == EEXIST);
	snprintf(path, sizeof(path), "%s/x.cfg", sub);
	put_file(path, "name = \"t\"\nkernel = \"../guest.elf\"\n");
	CU_ASSERT_FATAL(getcwd(cwd, sizeof(cwd)) != NULL);

	CU_ASSERT_EQUAL(pvft_cfg__load(&cfg, path, NULL, 0, err, sizeof(err)),
			0);
	CU_ASSERT_STRING_EQUAL(cfg.kernel, kernel);

	/* The config named relative to the cwd, from its parent. */
	CU_ASSERT_FATAL(chdir(dir) == 0);
	rc = pvft_cfg__load(&cfg, "sub/x.cfg", NULL, 0, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(cfg.kernel, kernel);
	CU_ASSERT_STRING_EQUAL(cfg.path, "sub/x.cfg");

	/* ... and from the config's own directory. */
	CU_ASSERT_FATAL(chdir(sub) == 0);
	rc = pvft_cfg__load(&cfg, "x.cfg", NULL, 0, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(cfg.kernel, kernel);

	/* An override's relative kernel is the cwd's (where it was typed). */
	{
		char *ovr[] = { "kernel=../guest.elf" };

		put_file(path, "name = \"t\"\nkernel = \"nope.elf\"\n");
		rc = pvft_cfg__load(&cfg, "x.cfg", ovr, 1, err, sizeof(err));
		CU_ASSERT_EQUAL(rc, 0);
		CU_ASSERT_STRING_EQUAL(cfg.kernel, kernel);
	}
	CU_ASSERT_FATAL(chdir(cwd) == 0);
}

/* ---- refusals ---------------------------------------------------------- */

/*
 * One bad line after "kernel = ..." (line 1), as line 2; a name follows on
 * line 3 unless the bad line sets it.
 */
static const struct {
	const char *line, *msg;
} bad_values[] = {
	{ "name = \"a b\"",
	  "name: want a domain name: 1 to 63 of A-Z a-z 0-9 . _ - "
	  "(not first: . -), not 'a b'" },
	/* Never a directory's parent, a hidden file or a command option. */
	{ "name = \"..\"",
	  "name: want a domain name: 1 to 63 of A-Z a-z 0-9 . _ - "
	  "(not first: . -), not '..'" },
	{ "name = \".hidden\"",
	  "name: want a domain name: 1 to 63 of A-Z a-z 0-9 . _ - "
	  "(not first: . -), not '.hidden'" },
	{ "ft_primary = \"-Fevil\"",
	  "ft_primary: want a host name: 1 to 255 of A-Z "
	  "a-z 0-9 . _ - (not first: . -), not '-Fevil'" },
	{ "name = \"\"", "name: want a domain name: 1 to 63 of A-Z a-z 0-9 . _ "
			 "- (not first: . -), not ''" },
	{ "name = \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
	  "0123456789ab\"",
	  "name: want a domain name: 1 to 63 of A-Z a-z 0-9 . _ - (not first: "
	  ". -), not "
	  "'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
	  "0123456789ab'" },
	{ "name = \"a\\nb\"",
	  "name: want printable ASCII (no control characters), not 'a\\nb'" },
	{ "name = [ \"t\" ]", "name: want a string, not a list" },
	{ "memory = 7",
	  "memory: want an even number of MiB from 2 to 3072, not '7'" },
	{ "memory = 0",
	  "memory: want an even number of MiB from 2 to 3072, not '0'" },
	{ "memory = 3074",
	  "memory: want an even number of MiB from 2 to 3072, not '3074'" },
	{ "memory = 12abc",
	  "memory: want an even number of MiB from 2 to 3072, not '12abc'" },
	{ "memory = 99999999999999999999",
	  "memory: want an even number of MiB from 2 to 3072, not "
	  "'99999999999999999999'" },
	{ "memory = \"64\"",
	  "memory: want an even number of MiB from 2 to 3072, not the string "
	  "'64'" },
	{ "memory = [ 64 ]",
	  "memory: want an even number of MiB from 2 to 3072, not a list" },
	{ "memory += 64",
	  "memory: want an even number of MiB from 2 to 3072, not '+=' (it "
	  "joins strings and lists)" },
	{ "cmdline = [ \"a\" ]", "cmdline: want a string, not a list" },
	{ "cmdline = \"a\\tb\"",
	  "cmdline: want printable ASCII (no control characters), not "
	  "'a\\tb'" },
	{ "vif = \"ip=10.0.2.15,loopback=127.0.0.1:7000\"",
	  "vif: want a list: [ \"SPEC\" ], not "
	  "'ip=10.0.2.15,loopback=127.0.0.1:7000'" },
	{ "vif = [ \"tap=a\", \"tap=b\" ]", "vif: want at most 1 vif, not 2" },
	{ "vif = [ [ \"tap=a\" ] ]",
	  "vif: want a list of strings, not a list in a list" },
	{ "vif = [ \"mac=01:00:00:00:00:01,tap=vif0\" ]",
	  "vif: mac '01:00:00:00:00:01': want a unicast XX:XX:XX:XX:XX:XX" },
	{ "vif = [ \"tap=vif0,bridge=0123456789abcdef\" ]",
	  "vif: bridge '0123456789abcdef': want an interface name of 1 to 15 "
	  "characters" },
	{ "vif = [ \"ip=10.0.2.15\" ]",
	  "vif: no host side: want tap=NAME or loopback=127.0.0.1:PORT" },
	{ "backend = \"xen\"", "backend: want auto, kvm or ptrace, not 'xen'" },
	{ "ft_mode = \"triple\"",
	  "ft_mode: want pair or single, not 'triple'" },
	{ "ft_primary = \"h 1\"", "ft_primary: want a host name: 1 to 255 of "
				  "A-Z a-z 0-9 . _ - (not first: . -), not "
				  "'h 1'" },
	{ "ft_backup = \"h2;reboot\"",
	  "ft_backup: want a host name: 1 to 255 of A-Z a-z 0-9 . _ - (not "
	  "first: . -), not "
	  "'h2;reboot'" },
	{ "ft_backup = \"\"", "ft_backup: want a host name: 1 to 255 of A-Z "
			      "a-z 0-9 . _ - (not first: . -), not "
			      "''" },
	{ "ft_primary_node = \"n/1\"",
	  "ft_primary_node: want a node id: 1 to 63 of A-Z a-z 0-9 . _ - (not "
	  "first: . -), not "
	  "'n/1'" },
	{ "ft_backup_node = \"t-a\"",
	  "ft_backup_node: want a node id other than the primary's, not "
	  "'t-a'" },
	{ "ft_primary_node = \"t-b\"",
	  "ft_primary_node: want a node id other than the backup's, not "
	  "'t-b'" },
	{ "ft_remote = \"ssh %h\"",
	  "ft_remote: want a command template with %c (the command) once, "
	  "not 'ssh %h'" },
	{ "ft_remote = \"ssh %h %c %c\"",
	  "ft_remote: want a command template with %c (the command) once, "
	  "not 'ssh %h %c %c'" },
	{ "ft_remote = \"ssh %u@%h %c\"",
	  "ft_remote: want only %c, %h and %% after a %, not '%u' in "
	  "'ssh %u@%h %c'" },
	{ "ft_remote = \"ssh %h %c %\"",
	  "ft_remote: want only %c, %h and %% after a %, not '%' in "
	  "'ssh %h %c %'" },
	{ "ft_log_addr = \"a b\"",
	  "ft_log_addr: want a host name or an IPv4 or IPv6 address, not "
	  "'a b'" },
	{ "ft_log_port = 65536",
	  "ft_log_port: want a port from 1 to 65535, or 0 for a free one, not "
	  "'65536'" },
	{ "ft_arbiter = \"arbiter\"",
	  "ft_arbiter: want embedded, pvft://HOST:PORT or "
	  "etcds://HOST:PORT[,HOST:PORT...], not 'arbiter'" },
	{ "ft_arbiter = \"http://10.0.0.3:80\"",
	  "ft_arbiter: unknown scheme 'http': want pvft://, etcds:// or "
	  "etcd://" },
	{ "ft_arbiter = \"pvft://10.0.0.3\"",
	  "ft_arbiter: pvft://: '10.0.0.3': no port" },
	{ "ft_arbiter_addr = \"::1\"",
	  "ft_arbiter_addr: want a host name or an IPv4 address, not '::1'" },
	{ "ft_arbiter_port = 70000",
	  "ft_arbiter_port: want a port from 1 to 65535, or 0 for a free one, "
	  "not '70000'" },
	{ "ft_heartbeat_ms = 0",
	  "ft_heartbeat_ms: want a number from 1 to 10000, not '0'" },
	{ "ft_heartbeat_ms = 50",
	  "ft_heartbeat_ms: want at most half of ft_timeout_ms (40), not "
	  "'50'" },
	{ "ft_heartbeat_ms = 10; ft_timeout_ms = 15",
	  "ft_timeout_ms: want at least twice ft_heartbeat_ms (20), not "
	  "'15'" },
	{ "ft_timeout_ms = 600001",
	  "ft_timeout_ms: want a number from 2 to 600000, not '600001'" },
	{ "ft_max_lag_ms = 0",
	  "ft_max_lag_ms: want a number from 1 to 600000, not '0'" },
	{ "ft_connect_timeout = 86401",
	  "ft_connect_timeout: want a number of seconds from 1 to 86400, not "
	  "'86401'" },
	{ "ft_pair = 0",
	  "ft_pair: want a number from 1 to 18446744073709551615, not '0'" },
	{ "ft_pair = 18446744073709551616",
	  "ft_pair: want a number from 1 to 18446744073709551615, not "
	  "'18446744073709551616'" },
	{ "ft_epoch = \"1\"",
	  "ft_epoch: want a number from 1 to 18446744073709551615, not the "
	  "string '1'" },
	{ "ft_key = \"\"", "ft_key: want a file's path, not ''" },
	{ "ft_key = [ \"t.key\" ]", "ft_key: want a string, not a list" },
	{ "ft_tls_ca = 'a\\nb'",
	  "ft_tls_ca: want printable ASCII (no control characters), not "
	  "'a\\nb'" },
	{ "ft_insecure = 2", "ft_insecure: want 0 or 1, not '2'" },
	{ "ft_insecure = \"yes\"",
	  "ft_insecure: want 0 or 1, not the string 'yes'" },
	/* One way to authenticate, or none on purpose. */
	{ "ft_insecure = 1; ft_key = \"t.key\"",
	  "ft_insecure: plaintext on purpose, yet ft_key (line 2) "
	  "authenticates: want one or the other" },
	{ "ft_tls_ca = \"ca.pem\"; ft_tls_cert = \"c.pem\"; ft_tls_key = "
	  "\"k.pem\"; ft_insecure = 1",
	  "ft_insecure: plaintext on purpose, yet ft_tls_ca (line 2) "
	  "authenticates: want one or the other" },
	{ "ft_arbiter = \"etcds://10.0.0.3:2379\"; ft_arbiter_ca = \"ca.pem\"; "
	  "ft_insecure = 1",
	  "ft_insecure: plaintext on purpose, yet ft_arbiter_ca (line 2) "
	  "authenticates: want one or the other" },
	{ "ft_arbiter = \"etcds://10.0.0.3:2379\"; ft_insecure = 1",
	  "ft_insecure: plaintext on purpose, yet ft_arbiter is etcds:// "
	  "(https): want etcd:// with it" },
	/* x509: all three files, or none. */
	{ "ft_tls_cert = \"c.pem\"",
	  "ft_tls_cert: want ft_tls_ca, ft_tls_cert and ft_tls_key together "
	  "(x509 for the log channel): ft_tls_ca and ft_tls_key not set" },
	{ "ft_tls_ca = \"ca.pem\"; ft_tls_key = \"k.pem\"",
	  "ft_tls_ca: want ft_tls_ca, ft_tls_cert and ft_tls_key together "
	  "(x509 for the log channel): ft_tls_cert not set" },
	/* etcds://: its CA; a client certificate and its key, or neither. */
	{ "ft_arbiter = \"etcds://10.0.0.3:2379\"; ft_arbiter_ca = \"ca.pem\"; "
	  "ft_arbiter_key = \"k.pem\"",
	  "ft_arbiter_key: want ft_arbiter_cert and ft_arbiter_key together "
	  "(a client certificate and its key): ft_arbiter_cert not set" },
	{ "ft_arbiter = \"etcds://10.0.0.3:2379\"; ft_arbiter_cert = \"c.pem\"",
	  "ft_arbiter_cert: want ft_arbiter_cert and ft_arbiter_key together "
	  "(a client certificate and its key): ft_arbiter_key not set" },
	{ "ft_arbiter = \"etcds://10.0.0.3:2379\"",
	  "ft_arbiter: etcds:// wants ft_arbiter_ca: the CA that etcd's "
	  "certificate must chain to" },
	{ "ft_arbiter = \"etcd://10.0.0.3:2379\"",
	  "ft_arbiter: etcd:// is plain http: want etcds:// (https, with "
	  "ft_arbiter_ca), or ft_insecure = 1" },
	{ "ft_arbiter = \"etcds://10.0.0.3\"; ft_arbiter_ca = \"ca.pem\"",
	  "ft_arbiter: etcd://: '10.0.0.3': no port" },
	/* etcd's own authentication: a user and its password file. */
	{ "ft_arbiter = \"etcds://10.0.0.3:2379\"; ft_arbiter_ca = \"ca.pem\"; "
	  "ft_arbiter_user = \"pvft-42\"",
	  "ft_arbiter_user: want ft_arbiter_user and ft_arbiter_password_file "
	  "together (etcd's user and its password): ft_arbiter_password_file "
	  "not set" },
	{ "ft_arbiter_user = \"a b\"",
	  "ft_arbiter_user: want an etcd user name: 1 to 63 of A-Z a-z 0-9 . _ "
	  "- @ (not first: -), not 'a b'" },
	{ "ft_arbiter_user = \"u\"; ft_arbiter_password_file = \"pw\"",
	  "ft_arbiter_user: for an etcds:// arbiter (etcd over https), not "
	  "'embedded': a pvft-arbiter knows a pair by a key derived from "
	  "ft_key" },
	/* A pvft-arbiter is no etcd: no certificates. */
	{ "ft_arbiter_ca = \"ca.pem\"",
	  "ft_arbiter_ca: for an etcds:// arbiter (etcd over https), not "
	  "'embedded': a pvft-arbiter knows a pair by a key derived from "
	  "ft_key" },
	{ "ft_arbiter = \"pvft://10.0.0.3:7200\"; ft_key = \"t.key\"; "
	  "ft_arbiter_cert = \"c.pem\"; ft_arbiter_key = \"k.pem\"",
	  "ft_arbiter_cert: for an etcds:// arbiter (etcd over https), not "
	  "'pvft://10.0.0.3:7200': a pvft-arbiter knows a pair by a key "
	  "derived from ft_key" },
	/* Its key for the pair was made from a key create cannot make. */
	{ "ft_arbiter = \"pvft://10.0.0.3:7200\"",
	  "ft_arbiter: a pvft-arbiter create does not start knows the pair by "
	  "a key derived from the domain key: want ft_key too (pvft keygen; "
	  "pvft keygen --arbiter for the arbiter's --keys), or ft_insecure = "
	  "1" },
	{ "ft_arbiter = \"pvft://10.0.0.3:7200\"; ft_tls_ca = \"ca.pem\"; "
	  "ft_tls_cert = \"c.pem\"; ft_tls_key = \"k.pem\"",
	  "ft_arbiter: a pvft-arbiter create does not start knows the pair by "
	  "a key derived from the domain key: want ft_key too (pvft keygen; "
	  "pvft keygen --arbiter for the arbiter's --keys), or ft_insecure = "
	  "1" },
};

static void test_bad_values(void)
{
	char text[512];

	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]);
	     i++) {
		const char *line = bad_values[i].line;

		snprintf(text, sizeof(text), "kernel = \"guest.elf\"\n%s\n%s",
			 line,
			 strncmp(line, "name ", 5) ? "name = \"t\"\n" : "");
		CU_ASSERT_EQUAL(load(text, NULL), -1);
		check_file_err(2, bad_values[i].msg);
	}
}

static void test_unknown_key(void)
{
	CU_ASSERT_EQUAL(load(BASE "memroy = 64\n", NULL), -1);
	check_file_err(3, "memroy: unknown key (did you mean 'memory'?)");
	CU_ASSERT_EQUAL(load(BASE "\n\nft_heartbeat = 10\n", NULL), -1);
	check_file_err(5, "ft_heartbeat: unknown key (did you mean "
			  "'ft_heartbeat_ms'?)");
	CU_ASSERT_EQUAL(load(BASE "colour = \"blue\"\n", NULL), -1);
	check_file_err(3, "colour: unknown key");
	CU_ASSERT_EQUAL(load(BASE "extra = \"console=hvc0\"\n", NULL), -1);
	check_file_err(3, "extra: unknown key (xl's 'extra' is pvft's "
			  "'cmdline')");
	/* The first unknown one, in file order. */
	CU_ASSERT_EQUAL(
	    load("bootloader = \"pygrub\"\n" BASE "vcpus = 2\n", NULL), -1);
	check_file_err(1, "bootloader: unknown key");
}

static void test_set_twice(void)
{
	CU_ASSERT_EQUAL(load(BASE "memory = 64\n# again\nmemory = 128\n", NULL),
			-1);
	check_file_err(5, "memory: set twice (first on line 3)");
	/* += adds to a setting: not a second one. */
	CU_ASSERT_EQUAL(load(BASE "cmdline = \"a\"\ncmdline += \" b\"\n", NULL),
			0);
	CU_ASSERT_STRING_EQUAL(cfg.cmdline, "a b");
	CU_ASSERT_EQUAL(load(BASE "cmdline += \"a\"\ncmdline = \"b\"\n", NULL),
			-1);
	check_file_err(4, "cmdline: set twice (first on line 3)");
}

/* libxlutil's own message, which names the file, the line, the token. */
static void test_syntax_error(void)
{
	static const struct {
		const char *text;
		unsigned int line;
		const char *near;
	} errs[] = {
		{ BASE "memory = = 2\n", 3, "=" },
		{ BASE "\nMemory = 64\n", 4, "Memory" },
		{ BASE "memory = -2\n", 3, "-2" },
		{ BASE "vif = [ 'tap=a'\n\nmemory = 64\n", 5, "memory" },
		{ "name = \"t\nkernel = \"guest.elf\"\n", 1, "\"t" },
	};

	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		CU_ASSERT_EQUAL(load(errs[i].text, NULL), -1);
		check_syntax_err(errs[i].line, errs[i].near);
	}
	CU_ASSERT_EQUAL(load(BASE "memory = = 2\n", NULL), -1);
	check_file_err(3, "config parsing error near `=': syntax error, "
			  "unexpected '=', expecting STRING or NUMBER or '['");
}

static void test_missing(void)
{
	char path[160], want[256];

	/* The file. */
	snprintf(path, sizeof(path), "%s/nope.cfg", dir);
	CU_ASSERT_EQUAL(pvft_cfg__load(&cfg, path, NULL, 0, err, sizeof(err)),
			-1);
	snprintf(want, sizeof(want),
		 "%s: cannot read: No such file or "
		 "directory",
		 path);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_EQUAL(pvft_cfg__load(&cfg, dir, NULL, 0, err, sizeof(err)),
			-1);
	snprintf(want, sizeof(want), "%s: cannot read: Is a directory", dir);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* The required keys. */
	CU_ASSERT_EQUAL(load("", NULL), -1);
	check_file_err(0, "name: missing (required)");
	CU_ASSERT_EQUAL(load("kernel = \"guest.elf\"\n", NULL), -1);
	check_file_err(0, "name: missing (required)");
	CU_ASSERT_EQUAL(load("name = \"t\"\n", NULL), -1);
	check_file_err(0, "kernel: missing (required)");

	/* The kernel file. */
	CU_ASSERT_EQUAL(load("name = \"t\"\nkernel = \"nope.elf\"\n", NULL),
			-1);
	snprintf(want, sizeof(want),
		 "kernel: cannot read '%s/nope.elf': No such file or directory",
		 dir);
	check_file_err(2, want);
	CU_ASSERT_EQUAL(load("name = \"t\"\n\nkernel = \"/\"\n", NULL), -1);
	check_file_err(3, "kernel: cannot read '/': not a regular file");
	CU_ASSERT_EQUAL(load("name = \"t\"\nkernel = \"\"\n", NULL), -1);
	check_file_err(2, "kernel: want the path of the guest's ELF file, "
			  "not ''");
}

/* ---- authentication ---------------------------------------------------- */

static void test_auth(void)
{
	char path[192], want[512];
	uint8_t key[TLS_KEY_LEN], again[TLS_KEY_LEN];
	char why[256];

	/* None named: create makes a domain key for the pair. */
	CU_ASSERT_EQUAL_FATAL(load(BASE, NULL), 0);
	CU_ASSERT_STRING_EQUAL(cfg.key, "");
	CU_ASSERT_FALSE(cfg.insecure);
	CU_ASSERT_STRING_EQUAL(cfg.tls_ca, "");
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_ca, "");
	CU_ASSERT_TRUE(cfg.key_auto);
	/* ... not for a single domain: no channel, no arbiter. */
	CU_ASSERT_EQUAL_FATAL(load(BASE "ft_mode = \"single\"\n", NULL), 0);
	CU_ASSERT_FALSE(cfg.key_auto);

	/* ft_key: relative to the config's directory, as kernel. */
	CU_ASSERT_EQUAL_FATAL(load(BASE "\nft_key = \"keys/t.key\"\n", NULL),
			      0);
	snprintf(want, sizeof(want), "%s/keys/t.key", dir);
	CU_ASSERT_STRING_EQUAL(cfg.key, want);
	CU_ASSERT_EQUAL(cfg.key_line, 4);
	CU_ASSERT_FALSE(cfg.key_auto);
	/* An external pvft-arbiter with it; an override's is line 0. */
	CU_ASSERT_EQUAL_FATAL(load(BASE
				   "ft_arbiter = \"pvft://10.0.0.3:7200\"\n",
				   "ft_key=/etc/pvft/t.key", NULL),
			      0);
	CU_ASSERT_STRING_EQUAL(cfg.key, "/etc/pvft/t.key");
	CU_ASSERT_EQUAL(cfg.key_line, 0);
	/* ... or plaintext, or a single domain, which asks no arbiter. */
	CU_ASSERT_EQUAL(load(BASE "ft_arbiter = \"pvft://10.0.0.3:7200\"\n"
				  "ft_insecure = 1\n",
			     NULL),
			0);
	CU_ASSERT_TRUE(cfg.insecure);
	CU_ASSERT_FALSE(cfg.key_auto);
	CU_ASSERT_EQUAL(load(BASE "ft_arbiter = \"pvft://10.0.0.3:7200\"\n"
				  "ft_mode = \"single\"\n",
			     NULL),
			0);

	/* x509 for the channel: an embedded arbiter still needs a key. */
	CU_ASSERT_EQUAL_FATAL(load(BASE "ft_tls_ca = \"ca.pem\"\n"
					"ft_tls_cert = \"/pki/c.pem\"\n"
					"ft_tls_key = \"k.pem\"\n",
				   NULL),
			      0);
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	CU_ASSERT_STRING_EQUAL(cfg.tls_ca, want);
	CU_ASSERT_STRING_EQUAL(cfg.tls_cert, "/pki/c.pem");
	snprintf(want, sizeof(want), "%s/k.pem", dir);
	CU_ASSERT_STRING_EQUAL(cfg.tls_key, want);
	CU_ASSERT_TRUE(cfg.key_auto);
	/* ... an etcd one does not; its own certificates. */
	CU_ASSERT_EQUAL_FATAL(load(BASE
				   "ft_tls_ca = \"ca.pem\"\n"
				   "ft_tls_cert = \"c.pem\"\n"
				   "ft_tls_key = \"k.pem\"\n"
				   "ft_arbiter = \"etcds://10.0.0.3:2379\"\n"
				   "ft_arbiter_ca = \"/pki/etcd-ca.pem\"\n"
				   "ft_arbiter_cert = \"/pki/etcd.pem\"\n"
				   "ft_arbiter_key = \"/pki/etcd-key.pem\"\n",
				   NULL),
			      0);
	CU_ASSERT_FALSE(cfg.key_auto);
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_ca, "/pki/etcd-ca.pem");
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_cert, "/pki/etcd.pem");
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_key, "/pki/etcd-key.pem");
	/* etcds:// with its CA only (no client certificate); plain etcd://
	 * only on purpose; a single domain asks no arbiter. */
	CU_ASSERT_EQUAL(load(BASE "ft_arbiter = \"etcds://10.0.0.3:2379\"\n"
				  "ft_arbiter_ca = \"/pki/etcd-ca.pem\"\n",
			     NULL),
			0);
	CU_ASSERT_STRING_EQUAL(cfg.arbiter_cert, "");
	CU_ASSERT_TRUE(cfg.key_auto); /* the log channel's */
	CU_ASSERT_EQUAL(load(BASE "ft_arbiter = \"etcd://10.0.0.3:2379\"\n"
				  "ft_insecure = 1\n",
			     NULL),
			0);
	CU_ASSERT_EQUAL(load(BASE "ft_arbiter = \"etcd://10.0.0.3:2379\"\n"
				  "ft_mode = \"single\"\n",
			     NULL),
			0);

	/* The key file, read as create reads it; errors name the setting. */
	snprintf(path, sizeof(path), "%s/t.key", dir);
	unlink(path);
	CU_ASSERT_EQUAL_FATAL(tls__keygen(path, false, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL_FATAL(tls__load_key(path, key, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL_FATAL(load(BASE "ft_key = \"t.key\"\n", NULL), 0);
	CU_ASSERT_EQUAL(pvft_cfg__load_key(&cfg, again, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(memcmp(key, again, sizeof(key)), 0);
	CU_ASSERT_EQUAL_FATAL(load(BASE "ft_key = \"nope.key\"\n", NULL), 0);
	CU_ASSERT_EQUAL(pvft_cfg__load_key(&cfg, again, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/t.cfg:3: ft_key: ", dir);
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));
	CU_ASSERT(strstr(err, "nope.key") != NULL);
	CU_ASSERT(strstr(err, "No such file or directory") != NULL);
	CU_ASSERT_FATAL(chmod(path, 0644) == 0);
	snprintf(want, sizeof(want), "ft_key=%s", path);
	CU_ASSERT_EQUAL_FATAL(load(BASE, want, NULL), 0);
	CU_ASSERT_EQUAL(pvft_cfg__load_key(&cfg, again, err, sizeof(err)), -1);
	CU_ASSERT_NSTRING_EQUAL(
	    err, "command line: ft_key: ", strlen("command line: ft_key: "));
	CU_ASSERT(strstr(err, "644") != NULL);
}

/* ---- overrides --------------------------------------------------------- */

static void test_overrides(void)
{
	static const char text[] =
	    BASE "memory = 32\n"
		 "cmdline = \"port=7000\"\n"
		 "ft_arbiter = \"pvft://10.0.0.3:7200\"\n"
		 "ft_key = \"/etc/pvft/t.key\"\n";

	/* xl syntax, or a bare string, as a shell leaves it. */
	CU_ASSERT_EQUAL_FATAL(
	    load(text, "memory=128", "name=kv2",
		 "cmdline=ip=10.0.2.15/24 port=7001",
		 "vif=['ip=10.0.2.15,loopback=127.0.0.1:7001']",
		 "ft_arbiter = \"embedded\"", "ft_epoch=3", "ft_epoch=4", NULL),
	    0);
	CU_ASSERT_EQUAL(cfg.memory_mib, 128);
	CU_ASSERT_STRING_EQUAL(cfg.name, "kv2");
	CU_ASSERT_STRING_EQUAL(cfg.primary.node, "kv2-a");
	CU_ASSERT_EQUAL(cfg.pair, fnv1a("kv2"));
	CU_ASSERT_STRING_EQUAL(cfg.cmdline, "ip=10.0.2.15/24 port=7001");
	CU_ASSERT_EQUAL(cfg.nr_vifs, 1);
	CU_ASSERT_TRUE(cfg.arbiter_embedded);
	CU_ASSERT_EQUAL(cfg.epoch, 4); /* the last one wins */

	/* Quotes are kept for what is a string; += adds to the file's. */
	CU_ASSERT_EQUAL_FATAL(load(text, "name='kv3'", "cmdline+=' debug'",
				   "cmdline+= \"a\\\"b\"", NULL),
			      0);
	CU_ASSERT_STRING_EQUAL(cfg.name, "kv3");
	CU_ASSERT_STRING_EQUAL(cfg.cmdline, "port=7000 debug"
					    "a\"b");

	/* A ';' inside a string is the string's. */
	CU_ASSERT_EQUAL_FATAL(load(text, "cmdline=\"a;b\"", NULL), 0);
	CU_ASSERT_STRING_EQUAL(cfg.cmdline, "a;b");

	/* A bare value is a string even when it has quotes inside. */
	CU_ASSERT_EQUAL_FATAL(load(text, "cmdline=say \"hi\" \\o/", NULL), 0);
	CU_ASSERT_STRING_EQUAL(cfg.cmdline, "say \"hi\" \\o/");
}

static void test_bad_overrides(void)
{
	static const struct {
		const char *ovr, *msg;
	} bad[] = {
		{ "memory=7", "memory: want an even number of MiB from 2 to "
			      "3072, not '7'" },
		{ "memory=64MB", "memory: want an even number of MiB from 2 to "
				 "3072, not the string '64MB'" },
		{ "name=a b", "name: want a domain name: 1 to 63 of A-Z a-z "
			      "0-9 . _ - (not first: . -), not 'a b'" },
		{ "memroy=64", "memroy: unknown key (did you mean 'memory'?)" },
		{ "Memory=64", "Memory: unknown key (did you mean 'memory'?)" },
		{ "memory", "'memory': want KEY=VALUE" },
		{ "=64", "'=64': want KEY=VALUE" },
		{ "vif=[ 'tap=a'",
		  "'vif=[ 'tap=a'': config parsing error near `': " },
		{ "vif=['tap=a/b']", "vif: tap 'a/b': want an interface name "
				     "of 1 to 15 characters" },
		{ "cmdline+=['x']", "config parsing error near `]': " },
		{ "ft_timeout_ms=10",
		  "ft_timeout_ms: want at least twice ft_heartbeat_ms (20), "
		  "not '10'" },
		/* One override sets one key, never a second one behind ';'. */
		{ "memory=128;cmdline=\"x\"",
		  "'memory=128;cmdline=\"x\"': one KEY=VALUE per setting" },
	};
	char want[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(
		    load(BASE "cmdline = \"a\"\n", bad[i].ovr, NULL), -1);
		snprintf(want, sizeof(want), "%s", bad[i].msg);
		if (strstr(want, "config parsing error"))
			check_err_start("command line: ", want);
		else
			check_err("command line: ", want);
	}

	/* A bad override of a good file value: the command line's. */
	CU_ASSERT_EQUAL(load(BASE "memory = 64\n", "memory=3", NULL), -1);
	check_err("command line: ", "memory: want an even number of MiB from "
				    "2 to 3072, not '3'");
	/* A good override of a bad file value: only the last one counts. */
	CU_ASSERT_EQUAL(load(BASE "memory = 3\n", "memory=64", NULL), 0);
	CU_ASSERT_EQUAL(cfg.memory_mib, 64);
	/* Unknown keys and syntax errors in the file still are. */
	CU_ASSERT_EQUAL(load(BASE "memroy = 64\n", "memory=64", NULL), -1);
	check_file_err(3, "memroy: unknown key (did you mean 'memory'?)");
}

static CU_TestInfo config_tests[] = {
	{ "every key", test_every_key },
	{ "defaults", test_defaults },
	{ "derived defaults: nodes, pair", test_derived_defaults },
	{ "xl syntax", test_syntax },
	{ "a relative kernel", test_relative_kernel },
	{ "bad values and their messages", test_bad_values },
	{ "unknown keys", test_unknown_key },
	{ "a key set twice", test_set_twice },
	{ "syntax errors name the line", test_syntax_error },
	{ "missing file, keys, kernel", test_missing },
	{ "overrides", test_overrides },
	{ "bad overrides name the command line", test_bad_overrides },
	{ "authentication: ft_key, ft_insecure, x509", test_auth },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo config_suites[] = {
	{ "config (pvft.cfg)", suite_init, suite_cleanup, NULL, NULL,
	  config_tests },
	CU_SUITE_INFO_NULL,
};

void test_config__register(void)
{
	CU_register_suites(config_suites);
}
