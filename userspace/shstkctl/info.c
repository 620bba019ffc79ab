// SPDX-License-Identifier: MIT
/* shstkctl info: what /dev/shstk supports (SHSTK_IOC_INFO). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "shstk.h"
#include "shstkctl.h"

static const char synopsis[] = "info [--json] [--bytes]";

static const struct {
	uint64_t bit;
	const char *name;
} features[] = {
	{ SHSTK_FEAT_HW, "hw" },
	{ SHSTK_FEAT_ALLOC, "alloc" },
	{ SHSTK_FEAT_CLONE_SIZE, "clone-size" },
	{ SHSTK_FEAT_CLONE_TOKEN, "clone-token" },
	{ SHSTK_FEAT_INSTALL, "install" },
	{ SHSTK_FEAT_USAGE, "usage" },
	{ SHSTK_FEAT_POLICY, "policy" },
};

static const char *arch_name(uint32_t arch)
{
	switch (arch) {
	case SHSTK_ARCH_X86_64:
		return "x86-64";
	case SHSTK_ARCH_ARM64_GCS:
		return "arm64-gcs";
	case SHSTK_ARCH_RISCV_ZICFISS:
		return "riscv64-zicfiss";
	}
	return "unknown";
}

static void print_help(void)
{
	printf("Usage: %s %s\n\n"
	       "Show what %s supports on this machine: the ABI version, the\n"
	       "architecture, which features work (and which do not), the size limits\n"
	       "and the system-wide default (a size, a ratio with its clamp, or the\n"
	       "kernel's rule).\n\n"
	       "  --json    one JSON object instead of text\n"
	       "  --bytes   sizes in bytes instead of 64K, 8M, ...\n"
	       "  --help    this text\n\n"
	       "Exit status: 0 success, 1 error, 2 usage error.\n",
	       prog_name, synopsis, SHSTK_DEVICE);
}

/* The names of the features whose bit is (want_set) or is not set. */
static void print_feature_list(const struct shstk_info *info, bool want_set, bool json)
{
	bool first = true;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(features); i++) {
		if (!!(info->features & features[i].bit) != want_set)
			continue;
		if (json) {
			fputs(first ? "" : ",", stdout);
			json_string(stdout, features[i].name);
		} else {
			printf(" %s", features[i].name);
		}
		first = false;
	}
	if (first && !json)
		printf(" none");
}

/*
 * A ratio system default has no single size, so INFO's default_size is 0
 * for it as for the kernel's rule: the module parameters tell them apart.
 */
struct sys_ratio {
	uint64_t ratio, min_size, max_size;
};

static uint64_t read_param(const char *name)
{
	char path[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/shstk/parameters/%s", name);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void read_sys_ratio(const struct shstk_info *info, struct sys_ratio *r)
{
	r->ratio = info->default_size ? 0 : read_param("default_ratio");
	r->min_size = 0;
	r->max_size = 0;
	if (!r->ratio)
		return;
	/* A clamp left at 0 is the limit INFO gives. */
	r->min_size = read_param("min_size") ?: info->min_size;
	r->max_size = read_param("max_size") ?: info->max_size;
}

static void print_json(const struct shstk_info *info, const struct sys_ratio *r)
{
	printf("{\"device\":");
	json_string(stdout, SHSTK_DEVICE);
	printf(",\"abi_version\":%" PRIu32 ",\"arch\":", info->abi_version);
	json_string(stdout, arch_name(info->arch));
	printf(",\"features\":[");
	print_feature_list(info, true, true);
	printf("],\"unavailable\":[");
	print_feature_list(info, false, true);
	printf("],\"min_size\":%" PRIu64 ",\"max_size\":%" PRIu64 ",\"default_size\":%" PRIu64
	       ",\"default_ratio\":%" PRIu64 ",\"default_min_size\":%" PRIu64
	       ",\"default_max_size\":%" PRIu64 "}\n", (uint64_t)info->min_size,
	       (uint64_t)info->max_size, (uint64_t)info->default_size, r->ratio, r->min_size,
	       r->max_size);
}

static void print_text(const struct shstk_info *info, const struct sys_ratio *r, bool in_bytes)
{
	char buf[SIZE_BUF], buf2[SIZE_BUF];

	printf("device: %s\n", SHSTK_DEVICE);
	printf("  abi version: %" PRIu32 "\n", info->abi_version);
	printf("  arch: %s\n", arch_name(info->arch));
	printf("  features:");
	print_feature_list(info, true, false);
	printf("\n  unavailable:");
	print_feature_list(info, false, false);
	printf("\n");
	if (!(info->features & SHSTK_FEAT_HW))
		printf("  note: no user shadow stacks on this CPU or kernel\n");
	printf("  min size: %s\n", format_size(buf, info->min_size, in_bytes));
	printf("  max size: %s\n", format_size(buf, info->max_size, in_bytes));
	if (info->default_size)
		printf("  default size: %s\n", format_size(buf, info->default_size, in_bytes));
	else if (r->ratio)
		printf("  default size: stack size / %" PRIu64 ", clamped to [%s, %s]\n", r->ratio,
		       format_size(buf, r->min_size, in_bytes),
		       format_size(buf2, r->max_size, in_bytes));
	else
		printf("  default size: kernel rule\n");
}

int info_main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "bytes", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct shstk_info info;
	struct sys_ratio r;
	bool json = false, in_bytes = false;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'b':
			in_bytes = true;
			break;
		case 'h':
			print_help();
			return EXIT_OK;
		default:
			return usage_error(synopsis, "info: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(synopsis, "info: unexpected argument '%s'", argv[optind]);

	if (shstk_info(&info)) {
		report_errno(errno, NULL, "SHSTK_IOC_INFO");
		return EXIT_ERROR;
	}
	read_sys_ratio(&info, &r);
	if (json)
		print_json(&info, &r);
	else
		print_text(&info, &r, in_bytes);
	return EXIT_OK;
}
