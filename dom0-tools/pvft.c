// SPDX-License-Identifier: MIT
/*
 * pvft, the dom0 command: global options, the command table, help, and
 * the dispatch to main_<cmd>. Commands live in their own files.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pvft.h"

int pvft_verbose;

static const struct cmd_spec cmd_table[] = {
	{ "help", main_help, "Show the commands, or one command's help",
	  "[COMMAND]", NULL },
	{ "arbiter", main_arbiter,
	  "Ask an arbiter for a pair's epoch (test-and-set), or who holds it",
	  "[OPTIONS] acquire URL PAIR EPOCH NODE\n"
	  "       pvft [-v] arbiter [OPTIONS] query URL PAIR EPOCH",
	  "  -t, --timeout-ms MS  give up after MS ms (default 1000; an\n"
	  "                       ambiguous acquire may take twice that)\n"
	  "  -j, --json           one JSON object on stdout instead of text\n"
	  "\n"
	  "URL is pvft://HOST:PORT (pvft-arbiter) or\n"
	  "etcd://HOST:PORT[,HOST:PORT...] (etcd's v3 API, endpoints tried in\n"
	  "turn). NODE is 1 to 63 of [A-Za-z0-9._-]. Options may also follow\n"
	  "the operation. See Documentation/arbiter-protocol.md.\n"
	  "\n"
	  "Exit status: 0 granted, owned or free; 1 denied; 2 bad usage;\n"
	  "3 the arbiter could not be reached (why on stderr).\n" },
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

	fprintf(f, "Usage: pvft [-v] COMMAND [ARGS]\n"
		   "\n"
		   "Fault tolerance for paravirtual domains on KVM.\n"
		   "\n"
		   "Global options (before COMMAND):\n"
		   "  -v, --verbose   more log output on stderr (repeatable)\n"
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
		   "usage.\n");
}

static void help_cmd(const struct cmd_spec *cmd)
{
	printf("Usage: pvft [-v] %s %s\n\n%s.\n", cmd->name, cmd->usage,
	       cmd->desc);
	if (cmd->option)
		printf("\nOptions:\n%s", cmd->option);
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

	fprintf(stderr, "Usage: pvft [-v] %s %s\n", name,
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
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* Error lines name the command: "pvft log-dump: error: ...". */
	static char prog[64];
	const struct cmd_spec *cmd;
	enum log_level level;
	int opt;

	log__init("pvft", NULL, LOG_WARN);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			pvft_verbose++;
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
