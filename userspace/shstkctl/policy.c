// SPDX-License-Identifier: MIT
/*
 * shstkctl policy: show or change how a process's new threads get their
 * shadow stacks (SHSTK_IOC_GET_POLICY / SHSTK_IOC_SET_POLICY). The policy
 * options are shared with shstkctl run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shstk.h"
#include "shstkctl.h"

static const char synopsis[] =
	"policy [--json] [PID] [set (--size S | --ratio R [--min S] [--max S] | --kernel) "
	"[--inherit]]";

const char policy_options_help[] =
	"  --size S     every new thread gets a shadow stack of S bytes (64K, 1M, ...)\n"
	"  --ratio R    a new thread's stack size divided by R (1, 2, 4, ... 64),\n"
	"               clamped to [--min, --max] (default: the limits of 'info')\n"
	"  --kernel     the kernel's own rule (the shadow stack as big as the stack)\n"
	"  --inherit    child processes made by fork keep the policy too\n";

static void print_help(void)
{
	printf("Usage: %s %s\n\n"
	       "Show the shadow-stack policy of process PID, or change it with 'set'.\n"
	       "The policy sizes the shadow stack of every new thread of the process\n"
	       "that was not armed otherwise (shstk_pthread_create, shstk_clone3). It\n"
	       "survives execve. PID defaults to the parent of %s (normally the\n"
	       "shell it was started from). Another user's process needs the right to\n"
	       "ptrace-attach to it.\n\n"
	       "  --json       show the policy as one JSON object\n"
	       "%s"
	       "  --help       this text\n\n"
	       "Exit status: 0 success, 1 error, 2 usage error.\n",
	       prog_name, synopsis, prog_name, policy_options_help);
}

static int is_power_of_two(unsigned long n)
{
	return n && !(n & (n - 1));
}

/* One option's value into policy: 0, or -1 when the value is not valid. */
static int set_policy_value(int opt, const char *value, struct shstk_policy *policy)
{
	unsigned long ratio;
	uint64_t size;
	char *end;

	switch (opt) {
	case 'r':
		errno = 0;
		ratio = strtoul(value, &end, 10);
		if (errno || *end || *value == '-' || !is_power_of_two(ratio) || ratio > 64)
			return -1;
		policy->mode = SHSTK_POLICY_RATIO;
		policy->ratio = (__u32)ratio;
		return 0;
	case 's':
	case 'm':
	case 'M':
		if (parse_size(value, &size))
			return -1;
		if (opt == 's') {
			policy->mode = SHSTK_POLICY_FIXED;
			policy->size = size;
		} else if (opt == 'm') {
			policy->min_size = size;
		} else {
			policy->max_size = size;
		}
		return 0;
	}
	return -1;
}

static const char *option_name(const struct option *options, int opt)
{
	for (; options->name; options++)
		if (options->val == opt)
			return options->name;
	return "?";
}

int parse_policy_options(int argc, char *argv[], const char *usage_synopsis,
			 struct shstk_policy *policy)
{
	static const struct option options[] = {
		{ "size", required_argument, NULL, 's' },
		{ "ratio", required_argument, NULL, 'r' },
		{ "min", required_argument, NULL, 'm' },
		{ "max", required_argument, NULL, 'M' },
		{ "kernel", no_argument, NULL, 'k' },
		{ "inherit", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char one_mode[] = "%s: give one of --size, --ratio and --kernel";
	const char *cmd = argv[0];
	bool has_mode = false, has_clamp = false;
	int opt;

	memset(policy, 0, sizeof(*policy));
	opterr = 0;
	optind = 1;
	/* "+": stop at the first non-option, the program of 'run'. */
	while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
		case 'r':
			if (has_mode)
				return usage_error(usage_synopsis, one_mode, cmd);
			has_mode = true;
			__attribute__((fallthrough));
		case 'm':
		case 'M':
			has_clamp |= opt == 'm' || opt == 'M';
			if (set_policy_value(opt, optarg, policy))
				return usage_error(usage_synopsis, "%s: --%s takes %s, not '%s'",
						   cmd, option_name(options, opt), opt == 'r' ?
						   "a power of two from 1 to 64" :
						   "a size like 65536, 64K or 8M", optarg);
			break;
		case 'k':
			if (has_mode)
				return usage_error(usage_synopsis, one_mode, cmd);
			has_mode = true;
			policy->mode = SHSTK_POLICY_KERNEL;
			break;
		case 'i':
			policy->flags |= SHSTK_POLICY_INHERIT;
			break;
		case 'h':
			return -1;
		default:
			return usage_error(usage_synopsis, "%s: unknown option or missing value "
					   "'%s'", cmd, argv[optind - 1]);
		}
	}
	if (!has_mode)
		return usage_error(usage_synopsis, one_mode, cmd);
	if (has_clamp && policy->mode != SHSTK_POLICY_RATIO)
		return usage_error(usage_synopsis, "%s: --min and --max go with --ratio", cmd);
	return 0;
}

int fill_policy_defaults(struct shstk_policy *policy)
{
	struct shstk_info info;

	if (policy->mode != SHSTK_POLICY_RATIO || (policy->min_size && policy->max_size))
		return 0;
	if (shstk_info(&info)) {
		report_errno(errno, NULL, "SHSTK_IOC_INFO");
		return -1;
	}
	if (!policy->min_size)
		policy->min_size = info.min_size;
	if (!policy->max_size)
		policy->max_size = info.max_size;
	return 0;
}

static void print_policy(pid_t pid, const struct shstk_policy *policy, bool json)
{
	bool inherit = policy->flags & SHSTK_POLICY_INHERIT;
	char comm[32], buf[SIZE_BUF];

	thread_comm(pid, pid, comm, sizeof(comm));
	if (json) {
		printf("{\"pid\":%d,\"command\":", (int)pid);
		json_string(stdout, comm);
		printf(",\"mode\":\"%s\",\"size\":%" PRIu64 ",\"ratio\":%" PRIu32
		       ",\"min_size\":%" PRIu64 ",\"max_size\":%" PRIu64 ",\"inherit\":%s}\n",
		       policy_mode_name(policy->mode), (uint64_t)policy->size, policy->ratio,
		       (uint64_t)policy->min_size, (uint64_t)policy->max_size,
		       inherit ? "true" : "false");
		return;
	}
	printf("pid %d (%s):\n  mode: %s\n", (int)pid, comm, policy_mode_name(policy->mode));
	if (policy->mode == SHSTK_POLICY_FIXED)
		printf("  size: %s\n", format_size(buf, policy->size, false));
	if (policy->mode == SHSTK_POLICY_RATIO) {
		printf("  ratio: 1/%" PRIu32 " of the thread's stack\n", policy->ratio);
		printf("  min size: %s\n", format_size(buf, policy->min_size, false));
		printf("  max size: %s\n", format_size(buf, policy->max_size, false));
	}
	printf("  inherit: %s\n", inherit ? "yes" : "no");
}

int policy_main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct shstk_policy policy;
	pid_t pid = getppid();
	char what[32];
	bool json = false;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			print_help();
			return EXIT_OK;
		default:
			return usage_error(synopsis, "policy: unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc && strcmp(argv[0], "set")) {
		if (parse_pid(argv[0], &pid))
			return usage_error(synopsis, "policy: '%s' is neither a PID nor 'set'",
					   argv[0]);
		argc--;
		argv++;
	}
	snprintf(what, sizeof(what), "PID %d", (int)pid);

	if (!argc) {
		if (shstk_get_policy(pid, &policy)) {
			report_errno(errno, what, "SHSTK_IOC_GET_POLICY (policies)");
			return EXIT_ERROR;
		}
		print_policy(pid, &policy, json);
		return EXIT_OK;
	}
	if (strcmp(argv[0], "set"))
		return usage_error(synopsis, "policy: unexpected argument '%s'", argv[0]);
	if (json)
		return usage_error(synopsis, "policy: --json is for showing, not for 'set'");
	ret = parse_policy_options(argc, argv, synopsis, &policy);
	if (ret)
		return ret < 0 ? (print_help(), EXIT_OK) : ret;
	if (optind < argc)
		return usage_error(synopsis, "policy: unexpected argument '%s'", argv[optind]);
	if (fill_policy_defaults(&policy))
		return EXIT_ERROR;
	policy.pid = (__u32)pid;
	if (shstk_set_policy(&policy)) {
		report_errno(errno, what, "SHSTK_IOC_SET_POLICY (policies)");
		return EXIT_ERROR;
	}
	return EXIT_OK;
}
