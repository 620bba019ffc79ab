// SPDX-License-Identifier: MIT
/* Messages, sizes, pids and JSON strings for the subcommands. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shstk.h"
#include "shstkctl.h"

void report_errno(int err, const char *target, const char *ioctl_name)
{
	const char *sep = target ? ": " : "";

	if (!target)
		target = "";
	fprintf(stderr, "%s: ", prog_name);
	switch (err) {
	case ENOENT:
		fprintf(stderr, "%s does not exist: the shstk module is not loaded.\n"
			"Load it: modprobe shstk (installed with dkms), or insmod shstk.ko "
			"(in the build tree).\n", SHSTK_DEVICE);
		break;
	case EACCES:
		fprintf(stderr, "%s: permission denied: the module creates it with mode 0666; "
			"check who changed it (ls -l %s).\n", SHSTK_DEVICE, SHSTK_DEVICE);
		break;
	case EOPNOTSUPP:
#if defined(__aarch64__)
		fprintf(stderr, "no user shadow stacks on this CPU or kernel: they need an arm64 "
			"CPU with GCS and a kernel with CONFIG_ARM64_GCS "
			"(\"gcs\" in /proc/cpuinfo).\n");
#elif defined(__riscv)
		fprintf(stderr, "no user shadow stacks on this CPU or kernel: they need a RISC-V "
			"CPU with Zicfiss and a kernel with CONFIG_RISCV_USER_CFI "
			"(\"zicfiss\" in /proc/cpuinfo's isa line).\n");
#else
		fprintf(stderr, "no user shadow stacks on this CPU or kernel: they need an x86 "
			"CPU with CET and a kernel with CONFIG_X86_USER_SHADOW_STACK "
			"(\"user_shstk\" in /proc/cpuinfo).\n");
#endif
		break;
	case ENOTTY:
		fprintf(stderr, "the loaded shstk module does not implement %s yet: "
			"update shstk.ko.\n", ioctl_name ? ioctl_name : "this request");
		break;
	case EPERM:
		fprintf(stderr, "%s%spermission denied: this needs the right to ptrace-attach "
			"to it (same user and kernel.yama.ptrace_scope permitting, or "
			"CAP_SYS_PTRACE).\n", target, sep);
		break;
	case ESRCH:
		fprintf(stderr, "%s%sno such process or thread.\n", target, sep);
		break;
	default:
		fprintf(stderr, "%s%s%s%s%s\n", target, sep, strerror(err),
			ioctl_name ? " in " : "", ioctl_name ? ioctl_name : "");
		break;
	}
}

int usage_error(const char *synopsis, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: %s %s\n", prog_name, synopsis);
	return EXIT_USAGE;
}

const char *format_size(char buf[SIZE_BUF], uint64_t bytes, bool in_bytes)
{
	static const char units[] = "KMGTPE";
	uint64_t unit = 1024;
	int i = 0;

	if (in_bytes || bytes < 1024) {
		snprintf(buf, SIZE_BUF, "%" PRIu64, bytes);
		return buf;
	}
	while (i < 5 && bytes / unit >= 1024) {
		unit <<= 10;
		i++;
	}
	/* Exact sizes (most shadow stacks are) print without a fraction. */
	if (bytes % unit == 0)
		snprintf(buf, SIZE_BUF, "%" PRIu64 "%c", bytes / unit, units[i]);
	else if ((double)bytes / (double)unit < 9.95)	/* would not round to 10.0 */
		snprintf(buf, SIZE_BUF, "%.1f%c", (double)bytes / (double)unit, units[i]);
	else
		snprintf(buf, SIZE_BUF, "%.0f%c", (double)bytes / (double)unit, units[i]);
	return buf;
}

int parse_size(const char *text, uint64_t *bytes)
{
	unsigned long long value;
	unsigned int shift = 0;
	char *end;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	}
	if (shift) {
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
	}
	if (*end || value > (UINT64_MAX >> shift))
		return -1;
	*bytes = (uint64_t)value << shift;
	return 0;
}

int parse_pid(const char *text, pid_t *pid)
{
	unsigned long value;
	char *end;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || *end || value == 0 || value > 0x3fffffff)	/* PID_MAX_LIMIT */
		return -1;
	*pid = (pid_t)value;
	return 0;
}

/* Length of the valid UTF-8 sequence at s, 0 if it is not one. */
static size_t utf8_length(const unsigned char *s)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void json_string(FILE *out, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t len;

	fputc('"', out);
	while (*s) {
		len = utf8_length(s);
		if (!len) {
			fputs("\\ufffd", out);
			s++;
		} else if (*s == '"' || *s == '\\') {
			fprintf(out, "\\%c", *s++);
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(out, "\\u%04x", *s++);
		} else {
			fwrite(s, 1, len, out);
			s += len;
		}
	}
	fputc('"', out);
}

void thread_comm(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, (int)len, f))
		snprintf(buf, len, "?");
	if (f)
		fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

const char *origin_name(uint32_t origin)
{
	switch (origin) {
	case SHSTK_ORIGIN_NONE:
		return "none";
	case SHSTK_ORIGIN_KERNEL:
		return "kernel";
	case SHSTK_ORIGIN_SIZED:
		return "sized";
	case SHSTK_ORIGIN_TOKEN:
		return "token";
	}
	return "unknown";
}

const char *policy_mode_name(uint32_t mode)
{
	switch (mode) {
	case SHSTK_POLICY_KERNEL:
		return "kernel";
	case SHSTK_POLICY_FIXED:
		return "fixed";
	case SHSTK_POLICY_RATIO:
		return "ratio";
	}
	return "unknown";
}
