/* SPDX-License-Identifier: MIT */
/*
 * pvft, the dom0 command, as Xen's xl: one command table (pvft.c) of
 * {name, main_<cmd>, description, usage, option help}, each command a
 * main_<cmd>(argc, argv) returning an exit status. Adding a command is one
 * table entry, one prototype below and one function.
 */
#ifndef PVFT_DOM0_PVFT_H
#define PVFT_DOM0_PVFT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>

/* Exit statuses of every command. */
#define PVFT_EXIT_OK EXIT_SUCCESS
#define PVFT_EXIT_FAILED EXIT_FAILURE /* the operation failed */
#define PVFT_EXIT_USAGE 2	      /* bad command line */

struct cmd_spec {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *desc;   /* one line, no final full stop */
	const char *usage;  /* what follows "pvft NAME" */
	const char *option; /* option help, or NULL */
};

/* Global options (before the command name). */
extern int pvft_verbose; /* -v, repeatable */

/*
 * Option parsing for main_<cmd>, as xl's SWITCH_FOREACH_OPT: use it as a
 * switch over @opt whose cases are the command's own options. It handles
 * -h/--help (the command's help on stdout, the command returns 0), unknown
 * options and missing arguments (fewer than @nreq arguments after the
 * options: the usage on stderr, the command returns PVFT_EXIT_USAGE).
 * @shortopts must not hold "h"; @longopts ends with PVFT_COMMON_LONG_OPTS.
 * argc and argv are the command's: argv[0] is the command name.
 */
#define PVFT_FOREACH_OPT(opt, shortopts, longopts, cmd, nreq)                 \
	while (((opt) = pvft__getopt(argc, argv, "+:h" shortopts, (longopts), \
				     (cmd), (nreq))) != -1)                   \
		if ((opt) == PVFT_OPT_HELP)                                   \
			return PVFT_EXIT_OK;                                  \
		else if ((opt) == PVFT_OPT_BAD)                               \
			return PVFT_EXIT_USAGE;                               \
		else                                                          \
			switch (opt)

/*
 * Must end every command's long options, as xl's COMMON_LONG_OPTS. Kept
 * from clang-format, which would spread the two entries over five lines.
 */
/* clang-format off */
#define PVFT_COMMON_LONG_OPTS { "help", no_argument, NULL, 'h' }, { 0 }
/* clang-format on */

/* What pvft__getopt returns besides the options themselves and -1. */
#define PVFT_OPT_HELP (-2)
#define PVFT_OPT_BAD (-3)

int pvft__getopt(int argc, char **argv, const char *shortopts,
		 const struct option *longopts, const char *cmd, int nreq);
/* "Usage: pvft CMD ..." and a pointer to the full help, on stderr. */
void pvft__usage_error(const char *cmd);

/* The commands. */
int main_help(int argc, char **argv);
int main_log_dump(int argc, char **argv);
int main_arbiter(int argc, char **argv);
int main_create(int argc, char **argv);
int main_list(int argc, char **argv);
int main_status(int argc, char **argv);
int main_console(int argc, char **argv);
int main_promote(int argc, char **argv);
int main_destroy(int argc, char **argv);
int main_record(int argc, char **argv);
int main_replay(int argc, char **argv);
int main_proxy(int argc, char **argv);
int main_keygen(int argc, char **argv);
int main_save(int argc, char **argv);
int main_restore(int argc, char **argv);
int main_migrate(int argc, char **argv);
int main_reprotect(int argc, char **argv);
int main_protect(int argc, char **argv);
int main_monitor(int argc, char **argv);
extern int pvft_dry_run; /* -N */

#endif /* PVFT_DOM0_PVFT_H */
