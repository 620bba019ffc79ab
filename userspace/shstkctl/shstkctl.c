// SPDX-License-Identifier: MIT
/*
 * shstkctl: inspect and control user shadow stacks through /dev/shstk.
 * One file per subcommand; this one only dispatches.
 */
#include <stdio.h>
#include <string.h>

#include "shstkctl.h"

const char *prog_name = "shstkctl";

static const struct {
	const char *name;
	int (*main)(int argc, char *argv[]);
	const char *summary;
} subcommands[] = {
	{ "info", info_main, "Show what /dev/shstk supports: features, limits, defaults" },
	{ "usage", usage_main, "Show the shadow-stack use of threads, one row per thread" },
	{ "run", run_main, "Run a program with a shadow-stack sizing policy" },
	{ "policy", policy_main, "Show or change the shadow-stack policy of a process" },
	{ "trace", trace_main, "Run a program, giving each new thread a sized shadow stack (ptrace)" },
	{ "measure", measure_main, "Run a program (or watch one), measure its peaks, recommend a size" },
};

static void show_usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage: %s <cmd> [<args>]\n\n", prog_name);
	fprintf(out, "Available subcommands:\n");
	for (i = 0; i < ARRAY_SIZE(subcommands); i++)
		fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "\nPass --help to any subcommand for its usage. "
		"Exit status: 0 success, 1 error, 2 usage error.\n");
}

int main(int argc, char *argv[])
{
	size_t i;

	if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
		printf("shstkctl %s\n", SHSTK_VERSION);
		return EXIT_OK;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
			  !strcmp(argv[1], "help"))) {
		show_usage(stdout);
		return EXIT_OK;
	}
	if (argc < 2) {
		show_usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < ARRAY_SIZE(subcommands); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "%s: invalid subcommand '%s'\n", prog_name, argv[1]);
	show_usage(stderr);
	return EXIT_USAGE;
}
