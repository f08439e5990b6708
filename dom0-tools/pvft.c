// SPDX-License-Identifier: MIT
/*
 * pvft, the dom0 command: global options, the command table, help, and
 * the dispatch to main_<cmd>. Commands live in their own files.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pvft.h"

int pvft_verbose;

static const struct cmd_spec cmd_table[] = {
	{ "help", main_help, "Show the commands, or one command's help",
	  "[COMMAND]", NULL },
	{ "create", main_create,
	  "Start a protected domain from its config and wait until the pair "
	  "is protected",
	  "[-q] CFG [KEY=VALUE...]",
	  "  -q, --quiet     no progress lines\n"
	  "\n"
	  "CFG is a domain config in xl.cfg syntax (pvft.cfg(5)); KEY=VALUE\n"
	  "settings replace the file's, as with xl create. Starts the\n"
	  "embedded arbiter when the config asks for one, then the backup,\n"
	  "then the primary (on their hosts: ft_remote), and returns once\n"
	  "the backup has every record. With -N: prints the commands.\n"
	  "Both replicas get the domain key of ft_key, x509 (ft_tls_*) or\n"
	  "ft_insecure's plaintext; with none of them, a new domain key at\n"
	  "each start, $PVFT_RUN_DIR/NAME/domain.key (pvft.cfg(5)).\n"
	  "\n"
	  "Exit status: 0 protected; 1 it did not form (why on stderr, and\n"
	  "nothing left running); 2 bad usage; 3 bad config.\n" },
	{ "list", main_list,
	  "List the domains, a line per replica: role, host, state, epoch, "
	  "lag, log rate, uptime",
	  "[-j]", "  -j, --json      one JSON array on stdout instead\n" },
	{ "status", main_status, "Everything known about one domain's replicas",
	  "[-j] DOM",
	  "  -j, --json      one JSON object on stdout instead\n"
	  "\n"
	  "Exit status: 0 a replica answers; 1 none does.\n" },
	{ "console", main_console,
	  "Attach to the console of the domain's primary (Ctrl-] detaches)",
	  "DOM",
	  "Output as the primary releases it (the output rule holds: what\n"
	  "you see, the backup has); input goes to the guest through the\n"
	  "log. After a failover it follows the new primary.\n" },
	{ "promote", main_promote,
	  "Planned failover: the backup takes over, no output lost",
	  "[-t SECONDS] DOM",
	  "  -t, --timeout S  give up after S seconds (default 30)\n"
	  "\n"
	  "The primary stops at its next exit; once the backup has every\n"
	  "record and all output is released, it hands over and ends (exit\n"
	  "status 10); the backup replays the rest, takes the arbiter's\n"
	  "epoch and goes live with the same network identity.\n" },
	{ "destroy", main_destroy,
	  "Stop a domain's replicas (and its embedded arbiter)", "DOM",
	  "The primary is asked to quit first (its END ends the backup\n"
	  "too); a replica started here that will not end is killed.\n"
	  "Logs and console output stay in the domain's directory.\n" },
	{ "save", main_save,
	  "Save a running domain to a file (and stop it, unless -c)",
	  "[-c] [-f] DOM FILE",
	  "  -c, --checkpoint  keep the domain running after the save\n"
	  "  -f, --force       overwrite an existing FILE\n"
	  "\n"
	  "The domain's pvft-hv writes FILE (on its host; a relative FILE is\n"
	  "taken from here): a migration stream holding the guest's memory,\n"
	  "state and config. Without -c the domain ends once FILE is whole,\n"
	  "as with xl save. An unreplicated domain, or a pair's primary\n"
	  "running alone; a protected pair is refused (pvft migrate moves a\n"
	  "replica). A progress line on a terminal, a summary on stdout.\n"
	  "\n"
	  "Exit status: 0 saved; 1 not saved (the domain runs on, unless\n"
	  "it ended meanwhile: \"has ended\" on stderr).\n" },
	{ "restore", main_restore,
	  "Start a domain from a save file, on this host", "[-q] [CFG] FILE",
	  "  -q, --quiet     no progress lines\n"
	  "\n"
	  "FILE is checked before anything starts: a pvft save file, whole.\n"
	  "Without CFG, the config it holds (as saved) is used, and kept as\n"
	  "$PVFT_RUN_DIR/NAME/restored.cfg. The domain runs unreplicated: a\n"
	  "backup joins only at boot today.\n"
	  "\n"
	  "Exit status: 0 running; 1 it did not start (why on stderr, and\n"
	  "nothing left running); 2 bad usage; 3 bad config.\n" },
	{ "migrate", main_migrate,
	  "Move a running domain, or a pair's backup, to another host, live",
	  "[--replica backup|primary] [-a ADDR] [--downtime-ms N]\n"
	  "       [--max-rounds N] DOM HOST",
	  "  -r, --replica R       a pair's replica to move: backup (the\n"
	  "                        default); primary is not supported yet\n"
	  "  -a, --address ADDR    where the destination listens for the\n"
	  "                        stream (default HOST; 127.0.0.1 here)\n"
	  "      --downtime-ms N   the longest pause to aim for (pvft-hv's\n"
	  "                        default: 100)\n"
	  "      --max-rounds N    pre-copy rounds at most (default 30)\n"
	  "\n"
	  "Starts pvft-hv --incoming on HOST (localhost, or through the\n"
	  "config's ft_remote, as create starts a replica) on a free port\n"
	  "here, ft_migrate_port (8890) on another host; then asks the\n"
	  "source to send itself there. A pair's backup moves with the\n"
	  "backup's options. If anything fails the source runs on (unless it\n"
	  "ended meanwhile: \"has ended\") and the destination is stopped.\n"
	  "With -N: prints the destination's command and the control call.\n"
	  "\n"
	  "Exit status: 0 moved; 1 not moved (the source runs on); 2 bad\n"
	  "usage; 3 bad config.\n" },
	{ "reprotect", main_reprotect,
	  "Give a domain that runs alone after a failover a new backup, live",
	  "[-a ADDR] [--downtime-ms N] [--max-rounds N] DOM [HOST]",
	  "  -a, --address ADDR    where the new backup listens for the\n"
	  "                        checkpoint (default HOST; 127.0.0.1 here)\n"
	  "      --downtime-ms N   the longest pause to aim for (pvft-hv's\n"
	  "                        default: 100)\n"
	  "      --max-rounds N    pre-copy rounds at most (default 30)\n"
	  "\n"
	  "The replica that runs the domain alone (unprotected, after a\n"
	  "failover or promote) sends a live checkpoint to a new backup,\n"
	  "started on HOST (default: the lost replica's host) as a moved\n"
	  "backup's successor is, at the pair's next epoch, node DOM-eEPOCH;\n"
	  "it then takes the lost replica's place in pvft list. Returns once\n"
	  "the pair is protected again, with the checkpoint's figures and\n"
	  "the time it took. If anything fails first, the new backup is\n"
	  "stopped and the domain runs on unprotected (unless it ended\n"
	  "meanwhile: \"has ended\"). With -N: prints the backup's command\n"
	  "and the control call.\n"
	  "\n"
	  "Exit status: 0 protected; 1 not (why on stderr); 2 bad usage;\n"
	  "3 bad config.\n" },
	{ "protect", main_protect,
	  "Give a domain created unreplicated its first backup, live",
	  "[-a ADDR] [--downtime-ms N] [--max-rounds N] DOM [HOST]",
	  "  -a, --address ADDR    as reprotect's\n"
	  "      --downtime-ms N   as reprotect's\n"
	  "      --max-rounds N    as reprotect's\n"
	  "\n"
	  "As reprotect, for a domain created with ft_mode = \"single\": it\n"
	  "becomes a protected pair (the arbiter of its config, embedded by\n"
	  "default), its new backup on HOST (default localhost).\n"
	  "\n"
	  "Exit status: as reprotect's.\n" },
	{ "monitor", main_monitor,
	  "Watch a domain and re-protect it whenever it runs unprotected",
	  "[--log FILE] DOM",
	  "  -l, --log FILE  append the monitor's lines to FILE (default\n"
	  "                  stderr)\n"
	  "\n"
	  "What create starts when the config says ft_reprotect = \"auto\"\n"
	  "(DOMDIR/monitor.log; destroy ends it). Every 200 ms it asks the\n"
	  "replicas' status; when the domain runs unprotected (a failover,\n"
	  "a promote, or a domain created unreplicated) it does what pvft\n"
	  "reprotect does, on the hosts of ft_hosts in turn, waiting 1 s\n"
	  "after a failure, then twice as long each time up to 30 s. Each\n"
	  "event is a line with its wall-clock time (realtime_us=). It ends\n"
	  "when the domain is destroyed or has ended, or on SIGTERM (a new\n"
	  "backup it was starting is stopped first).\n" },
	{ "record", main_record,
	  "Run a config's domain once, unreplicated, recording its log",
	  "[-o LOG] [-l SIZE] CFG [KEY=VALUE...]",
	  "  -o, --output LOG  the log file (default NAME.log)\n"
	  "  -l, --limit SIZE  the log's size limit: pvft-hv's\n"
	  "                    --record-limit SIZE (pvft-hv(1))\n"
	  "\n"
	  "The console is on stdout; the exit status is pvft-hv's.\n" },
	{ "replay", main_replay,
	  "Replay a recorded log of a config's domain, checking it",
	  "LOG CFG [KEY=VALUE...]",
	  "The exit status is pvft-hv's: the recorded run's when the replay\n"
	  "matches it, 6 at a divergence, 7 for an unusable log.\n" },
	{ "arbiter", main_arbiter,
	  "Ask an arbiter for a pair's epoch (test-and-set), who holds it, or "
	  "to open the next",
	  "[OPTIONS] acquire URL PAIR EPOCH NODE\n"
	  "       pvft [-v] arbiter [OPTIONS] advance URL PAIR EPOCH NODE\n"
	  "       pvft [-v] arbiter [OPTIONS] query URL PAIR EPOCH",
	  "  -t, --timeout-ms MS  give up after MS ms (default 1000; an\n"
	  "                       ambiguous acquire may take twice that)\n"
	  "  -j, --json           one JSON object on stdout instead of text\n"
	  "  -k, --key FILE       pvft://: the domain key (pvft keygen); the\n"
	  "                       pair's arbiter key is derived from it\n"
	  "      --ca FILE        etcds://: the CA etcd's certificate chains "
	  "to\n"
	  "      --cert FILE      etcds://: a client certificate, and\n"
	  "      --cert-key FILE  its key\n"
	  "      --user USER      etcd's authentication: the pair's user,\n"
	  "      --password-file FILE  and its password (its first line)\n"
	  "\n"
	  "URL is pvft://HOST:PORT (pvft-arbiter), etcds://HOST:PORT[,...]\n"
	  "(etcd's v3 API over https, endpoints tried in turn) or etcd://\n"
	  "(the same over plain http). Without -k, --ca or --cert, the\n"
	  "request is plaintext: what an --insecure pvft-arbiter and etcd://\n"
	  "take. NODE is 1 to 63 of [A-Za-z0-9._-]. Options may also follow\n"
	  "the operation. advance opens EPOCH+1 for a running domain's\n"
	  "re-protection: only NODE, the owner of EPOCH, may, while nobody\n"
	  "owns EPOCH+1 and nobody else opened it; query then says\n"
	  "'opened by NODE'. See Documentation/arbiter-protocol.md.\n"
	  "\n"
	  "Exit status: 0 granted, advanced, owned, opened or free (query);\n"
	  "1 denied, or free (advance); 2 bad usage; 3 the arbiter could\n"
	  "not be reached (why on stderr).\n" },
	{ "keygen", main_keygen,
	  "Make a domain key, or a pvft-arbiter's key for one pair",
	  "[-f] FILE\n"
	  "       pvft [-v] [-N] keygen [-f] -a PAIR KEY FILE|DIR",
	  "  -f, --force         overwrite an existing FILE\n"
	  "  -a, --arbiter PAIR  pvft-arbiter's key for pair PAIR, derived\n"
	  "                      from the domain key in the file KEY, to\n"
	  "                      FILE or to DIR/PAIR.key (pvft-arbiter\n"
	  "                      --keys DIR)\n"
	  "\n"
	  "A domain key is 32 random bytes, written as 64 hex digits and a\n"
	  "newline to FILE, mode 0600; an existing FILE is refused without\n"
	  "-f. A config's ft_key names it (pvft.cfg(5)), and both replicas'\n"
	  "hosts need it at that path. The replicas derive the log channel's\n"
	  "key and the arbiter's from it; the arbiter holds only its own,\n"
	  "one per pair. Prints the file written and the key's id (not the\n"
	  "key): the same id, the same key.\n" },
	{ "proxy", main_proxy,
	  "Connect stdin and stdout to a control socket (remote hosts)",
	  "SOCKET",
	  "What pvft runs on another host, through the config's ft_remote\n"
	  "template, to reach a replica's control socket there.\n" },
	{ "log-dump", main_log_dump,
	  "Print a pvft log file: its header, each record and a summary",
	  "[--json] [--summary] FILE",
	  "  -j, --json      one JSON document on stdout instead of text\n"
	  "  -s, --summary   the header and the summary only, no records\n"
	  "\n"
	  "A log that is corrupt, truncated or has no END record is printed\n"
	  "up to the bad spot, then reported on stderr: exit status 1.\n" },
};

#define CMD_TABLE_LEN (sizeof(cmd_table) / sizeof(cmd_table[0]))

static void help_all(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: pvft [-v] [-N] COMMAND [ARGS]\n"
		   "\n"
		   "Fault tolerance for paravirtual domains on KVM.\n"
		   "\n"
		   "Global options (before COMMAND):\n"
		   "  -v, --verbose   more log output on stderr (repeatable)\n"
		   "  -N, --dry-run   print what would be started or done; "
		   "do nothing\n"
		   "  -h, --help      this text\n"
		   "\n"
		   "Commands (any unambiguous prefix will do):\n");
	for (i = 0; i < CMD_TABLE_LEN; i++)
		fprintf(f, "  %-12s  %s\n", cmd_table[i].name,
			cmd_table[i].desc);
	fprintf(f, "\n"
		   "'pvft help COMMAND' or 'pvft COMMAND -h' gives one "
		   "command's help.\n"
		   "Exit status: 0 success, 1 the operation failed, 2 bad "
		   "usage,\n3 bad config.\n"
		   "\n"
		   "State: $PVFT_RUN_DIR (default /run/pvft for root), a "
		   "directory per domain.\n");
}

static void help_cmd(const struct cmd_spec *cmd)
{
	printf("Usage: pvft [-v] [-N] %s %s\n\n%s.\n", cmd->name, cmd->usage,
	       cmd->desc);
	if (cmd->option)
		printf("\n%s%s",
		       strncmp(cmd->option, "  -", 3) ? "" : "Options:\n",
		       cmd->option);
}

static const struct cmd_spec *cmd_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < CMD_TABLE_LEN; i++)
		if (!strcmp(cmd_table[i].name, name))
			return &cmd_table[i];
	return NULL;
}

/*
 * The command @s names: its full name, or a prefix of exactly one. NULL
 * after saying why on stderr.
 */
static const struct cmd_spec *cmd_lookup(const char *s)
{
	const struct cmd_spec *found = cmd_by_name(s);
	char names[256] = "";
	size_t i, len = strlen(s), n = 0;

	if (found)
		return found;
	for (i = 0; len && i < CMD_TABLE_LEN; i++) {
		if (strncmp(cmd_table[i].name, s, len))
			continue;
		found = &cmd_table[i];
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 "%s%s", n++ ? ", " : "", found->name);
	}
	if (n == 1)
		return found;
	if (n)
		pr_err("ambiguous command '%s': %s; see 'pvft help'", s, names);
	else
		pr_err("unknown command '%s'; see 'pvft help'", s);
	return NULL;
}

void pvft__usage_error(const char *name)
{
	const struct cmd_spec *cmd = cmd_by_name(name);

	fprintf(stderr, "Usage: pvft [-v] [-N] %s %s\n", name,
		cmd ? cmd->usage : "...");
	fprintf(stderr, "See 'pvft help %s'.\n", name);
}

int pvft__getopt(int argc, char **argv, const char *shortopts,
		 const struct option *longopts, const char *cmd, int nreq)
{
	int opt;

	opterr = 0;
	opt = getopt_long(argc, argv, shortopts, longopts, NULL);
	switch (opt) {
	case 'h':
		help_cmd(cmd_by_name(cmd));
		return PVFT_OPT_HELP;
	case '?':
		if (optopt)
			pr_err("unknown option '-%c'", optopt);
		else
			pr_err("unknown option '%s'", argv[optind - 1]);
		pvft__usage_error(cmd);
		return PVFT_OPT_BAD;
	case ':':
		pr_err("option '%s' needs an argument", argv[optind - 1]);
		pvft__usage_error(cmd);
		return PVFT_OPT_BAD;
	case -1:
		if (argc - optind < nreq) {
			pr_err("missing arguments");
			pvft__usage_error(cmd);
			return PVFT_OPT_BAD;
		}
		break;
	}
	return opt;
}

int main_help(int argc, char **argv)
{
	static const struct option opts[] = { PVFT_COMMON_LONG_OPTS };
	const struct cmd_spec *cmd;
	int opt;

	PVFT_FOREACH_OPT(opt, "", opts, "help", 0)
	{
		/* -h only, which the macro handles. */
	}
	if (argc - optind > 1) {
		pr_err("too many arguments");
		pvft__usage_error("help");
		return PVFT_EXIT_USAGE;
	}
	if (optind == argc) {
		help_all(stdout);
		return PVFT_EXIT_OK;
	}
	cmd = cmd_lookup(argv[optind]);
	if (!cmd)
		return PVFT_EXIT_USAGE;
	help_cmd(cmd);
	return PVFT_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "dry-run", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* Error lines name the command: "pvft log-dump: error: ...". */
	static char prog[64];
	const struct cmd_spec *cmd;
	enum log_level level;
	int opt;

	log__init("pvft", NULL, LOG_WARN);
	/* A control socket or pipe that closes is an error, not a death. */
	signal(SIGPIPE, SIG_IGN);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+vNh", opts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			pvft_verbose++;
			break;
		case 'N':
			pvft_dry_run = 1;
			break;
		case 'h':
			help_all(stdout);
			return PVFT_EXIT_OK;
		default:
			if (optopt)
				pr_err("unknown option '-%c'; see 'pvft help'",
				       optopt);
			else
				pr_err("unknown option '%s'; see 'pvft help'",
				       argv[optind - 1]);
			return PVFT_EXIT_USAGE;
		}
	}
	level = pvft_verbose >= LOG_DEBUG - LOG_WARN
		    ? LOG_DEBUG
		    : (enum log_level)(LOG_WARN + pvft_verbose);
	log__set_level(level);
	if (optind == argc) {
		help_all(stderr);
		return PVFT_EXIT_USAGE;
	}
	cmd = cmd_lookup(argv[optind]);
	if (!cmd)
		return PVFT_EXIT_USAGE;
	snprintf(prog, sizeof(prog), "pvft %s", cmd->name);
	log__init(prog, NULL, level);

	/* The command parses its own argv from argv[1]: 0 restarts getopt. */
	argc -= optind;
	argv += optind;
	optind = 0;
	return cmd->main(argc, argv);
}
