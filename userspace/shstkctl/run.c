// SPDX-License-Identifier: MIT
/*
 * shstkctl run: set this process's shadow-stack policy, then exec the
 * program. The policy survives execve, so the program's threads get it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shstk.h"
#include "shstkctl.h"

static const char synopsis[] =
	"run (--size S | --ratio R [--min S] [--max S] | --kernel) [--inherit] [--] PROG [ARGS...]";

static void print_help(void)
{
	printf("Usage: %s %s\n\n"
	       "Run PROG with a shadow-stack policy: every new thread of PROG (that was\n"
	       "not armed otherwise) gets a shadow stack sized by the policy instead of\n"
	       "the kernel's rule, which makes it as big as the thread's stack (an 8M\n"
	       "shadow stack for an 8M stack).\n\n"
	       "%s"
	       "  --help       this text\n\n"
	       "Exit status: PROG's; 1 when the policy cannot be set, 2 usage error,\n"
	       "126 when PROG cannot be executed, 127 when it is not found.\n",
	       prog_name, synopsis, policy_options_help);
}

int run_main(int argc, char *argv[])
{
	struct shstk_policy policy;
	int ret;

	ret = parse_policy_options(argc, argv, synopsis, &policy);
	if (ret < 0) {
		print_help();
		return EXIT_OK;
	}
	if (ret)
		return ret;
	if (optind >= argc)
		return usage_error(synopsis, "run: which program? Give it after the options");
	if (fill_policy_defaults(&policy))
		return EXIT_ERROR;
	policy.pid = 0;
	if (shstk_set_policy(&policy)) {
		report_errno(errno, NULL, "SHSTK_IOC_SET_POLICY (policies)");
		return EXIT_ERROR;
	}
	/* The device fd is O_CLOEXEC: PROG inherits nothing of shstkctl. */
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "%s: run: %s: %s\n", prog_name, argv[optind], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
