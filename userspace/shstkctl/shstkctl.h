/* SPDX-License-Identifier: MIT */
/* What the subcommands of shstkctl share: the table and the helpers. */
#ifndef SHSTKCTL_H
#define SHSTKCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <linux/shstk.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Exit codes every subcommand keeps (run then exits with PROG's). */
#define EXIT_OK		0
#define EXIT_ERROR	1
#define EXIT_USAGE	2

/* Each subcommand gets argv from its own name on: argv[0] is "info" etc. */
int info_main(int argc, char *argv[]);
int usage_main(int argc, char *argv[]);
int run_main(int argc, char *argv[]);
int policy_main(int argc, char *argv[]);
int trace_main(int argc, char *argv[]);
int measure_main(int argc, char *argv[]);

/*
 * The policy options of run and policy set (--size, --ratio, --min, --max,
 * --kernel, --inherit), from argv[1] on: 0, -1 for --help, or EXIT_USAGE
 * after a message. optind is then the first argument after them.
 */
int parse_policy_options(int argc, char *argv[], const char *usage_synopsis,
			 struct shstk_policy *policy);
extern const char policy_options_help[];

/* --ratio without --min or --max: the limits of INFO. 0, or -1 after a message. */
int fill_policy_defaults(struct shstk_policy *policy);

/* The name messages start with. */
extern const char *prog_name;

/*
 * Print why a call failed, to stderr, naming what failed (target: "PID 12",
 * NULL for none) and what to do; ioctl_name is the ioctl the library made,
 * for a module too old to have it.
 */
void report_errno(int err, const char *target, const char *ioctl_name);

/* Print a usage problem and the subcommand's synopsis; returns EXIT_USAGE. */
int usage_error(const char *synopsis, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "64K", "8M", "1.5M", "456" (bytes under 1K), or the plain number of bytes. */
#define SIZE_BUF 24
const char *format_size(char buf[SIZE_BUF], uint64_t bytes, bool in_bytes);

/* "65536", "64K", "64KiB", "8M", "1G": 0, or -1 for anything else. */
int parse_size(const char *text, uint64_t *bytes);

/* A positive decimal pid: 0, or -1. */
int parse_pid(const char *text, pid_t *pid);

/* A JSON string (quotes included); invalid UTF-8 becomes U+FFFD. */
void json_string(FILE *out, const char *text);

/* The comm of a thread ("?" when gone), without the newline. */
void thread_comm(pid_t pid, pid_t tid, char *buf, size_t len);

/* Name of SHSTK_ORIGIN_*. */
const char *origin_name(uint32_t origin);

/* Name of SHSTK_POLICY_* mode. */
const char *policy_mode_name(uint32_t mode);

#endif /* SHSTKCTL_H */
