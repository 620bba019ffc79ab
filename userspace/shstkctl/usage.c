// SPDX-License-Identifier: MIT
/*
 * shstkctl usage: one row per thread (SHSTK_IOC_USAGE), for the processes
 * and threads named, or for every process that has a shadow stack.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shstk.h"
#include "shstkctl.h"

static const char synopsis[] =
	"usage [--bytes] [--json] [--watch SECONDS [--count N]] [PID|TID...]";

/* A PID names every thread of that process, a TID only that thread. */
struct target {
	pid_t pid;
	pid_t tid;		/* 0: every thread of pid */
	const char *arg;	/* as typed, for messages */
	bool gone;		/* reported once, not asked again */
};

struct row {
	pid_t pid, tid;
	char comm[32];
	struct shstk_usage usage;
};

struct rows {
	struct row *row;
	size_t count, capacity;
};

struct options {
	bool in_bytes, json;
	double watch;		/* seconds between refreshes, 0: once */
	unsigned long count;	/* refreshes, 0: until interrupted */
};

static void print_help(void)
{
	printf("Usage: %s %s\n\n"
	       "Show the shadow stack of every thread of each PID (or of each TID\n"
	       "named): TID, SIZE, USED (now), PEAK (deepest ever), RESIDENT (backed by\n"
	       "memory) and ORIGIN (kernel: the kernel's default rule; sized: a size set\n"
	       "through shstk; token: a caller-made stack). A thread without a shadow\n"
	       "stack shows '-'. Without arguments: every process with a shadow stack\n"
	       "that may be inspected. Another user's process needs the right to\n"
	       "ptrace-attach to it.\n\n"
	       "  --bytes          sizes in bytes instead of 64K, 8M, ...\n"
	       "  --json           one JSON object per refresh, on one line\n"
	       "  --watch SECONDS  refresh every SECONDS, like top (Ctrl-C ends)\n"
	       "  --count N        with --watch: stop after N refreshes\n"
	       "  --help           this text\n\n"
	       "Exit status: 0 success, 1 error (also when a PID could not be\n"
	       "shown), 2 usage error.\n",
	       prog_name, synopsis);
}

static int add_row(struct rows *rows, pid_t pid, pid_t tid, const struct shstk_usage *usage)
{
	struct row *row;

	if (rows->count == rows->capacity) {
		size_t capacity = rows->capacity ? 2 * rows->capacity : 64;
		struct row *grown = realloc(rows->row, capacity * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		rows->row = grown;
		rows->capacity = capacity;
	}
	row = &rows->row[rows->count++];
	row->pid = pid;
	row->tid = tid;
	row->usage = *usage;
	thread_comm(pid, tid, row->comm, sizeof(row->comm));
	return 0;
}

/* Errors that are the same for every thread: no point asking the next one. */
static bool is_global_error(int err)
{
	return err != -ESRCH && err != -EPERM;
}

/*
 * Rows for thread tid of process pid. Returns 0 or -errno; -ESRCH only
 * when must_exist (a thread that exits during a listing is no error).
 */
static int collect_thread(struct rows *rows, pid_t pid, pid_t tid, bool only_enabled,
			  bool must_exist)
{
	struct shstk_usage usage;

	if (shstk_usage(tid, &usage))
		return (errno == ESRCH && !must_exist) ? 0 : -errno;
	if (only_enabled && !(usage.status & SHSTK_STATUS_ENABLED))
		return 0;
	return add_row(rows, pid, tid, &usage);
}

static int collect_process(struct rows *rows, pid_t pid, bool only_enabled)
{
	struct dirent *entry;
	char path[64];
	int err = 0;
	pid_t tid;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? -ESRCH : -errno;
	while (!err && (entry = readdir(dir)))
		if (!parse_pid(entry->d_name, &tid))
			err = collect_thread(rows, pid, tid, only_enabled, false);
	closedir(dir);
	return err;
}

/* Every process with a shadow stack; those we may not inspect are left out. */
static int collect_all(struct rows *rows)
{
	struct dirent *entry;
	int err = 0;
	pid_t pid;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((entry = readdir(dir))) {
		if (parse_pid(entry->d_name, &pid))
			continue;
		err = collect_process(rows, pid, true);
		if (err && is_global_error(err))
			break;
		err = 0;
	}
	closedir(dir);
	return err;
}

static int compare_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* The thread-group id of a pid or tid from /proc; -1 if there is none. */
static pid_t thread_group_of(pid_t id)
{
	char path[64], line[128];
	pid_t tgid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)id);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

/* One refresh: 0, or EXIT_ERROR after a message; *fatal for a global error. */
static int collect(struct rows *rows, struct target *targets, size_t n_targets, bool *fatal)
{
	int status = EXIT_OK, err;
	char what[64];
	size_t i;

	rows->count = 0;
	if (!n_targets) {
		err = collect_all(rows);
		if (err) {
			report_errno(-err, NULL, "SHSTK_IOC_USAGE");
			*fatal = true;
			return EXIT_ERROR;
		}
	}
	for (i = 0; i < n_targets; i++) {
		struct target *t = &targets[i];

		if (t->gone)
			continue;
		if (t->tid)
			err = collect_thread(rows, t->pid, t->tid, false, true);
		else
			err = collect_process(rows, t->pid, false);
		if (!err)
			continue;
		if (is_global_error(err)) {
			report_errno(-err, NULL, "SHSTK_IOC_USAGE");
			*fatal = true;
			return EXIT_ERROR;
		}
		snprintf(what, sizeof(what), "%s %s", t->tid ? "TID" : "PID", t->arg);
		report_errno(-err, what, NULL);
		t->gone = true;
		status = EXIT_ERROR;
	}
	qsort(rows->row, rows->count, sizeof(rows->row[0]), compare_rows);
	return status;
}

enum column { COL_PID, COL_TID, COL_SIZE, COL_USED, COL_PEAK, COL_RESIDENT, COL_ORIGIN,
	      COL_COMMAND, N_COLUMNS };

static const char *const column_names[N_COLUMNS] = {
	"PID", "TID", "SIZE", "USED", "PEAK", "RESIDENT", "ORIGIN", "COMMAND",
};

#define CELL_LEN 32

/* The text of each cell of a row; '-' where a thread has no shadow stack. */
static void row_cells(const struct row *row, bool in_bytes, char cells[N_COLUMNS][CELL_LEN])
{
	const struct shstk_usage *u = &row->usage;
	bool enabled = u->status & SHSTK_STATUS_ENABLED;
	const uint64_t sizes[] = { u->size, u->used, u->peak, u->resident };
	char buf[SIZE_BUF];
	int i;

	snprintf(cells[COL_PID], CELL_LEN, "%d", (int)row->pid);
	snprintf(cells[COL_TID], CELL_LEN, "%d", (int)row->tid);
	for (i = 0; i < 4; i++)
		snprintf(cells[COL_SIZE + i], CELL_LEN, "%s",
			 enabled ? format_size(buf, sizes[i], in_bytes) : "-");
	snprintf(cells[COL_ORIGIN], CELL_LEN, "%s", enabled ? origin_name(u->origin) : "-");
	snprintf(cells[COL_COMMAND], CELL_LEN, "%s", row->comm);
}

/* Numbers right-aligned, words left-aligned; no padding after the last. */
static void print_line(const char *const cell[N_COLUMNS], const int width[N_COLUMNS])
{
	int c;

	for (c = 0; c < COL_ORIGIN; c++)
		printf("%*s  ", width[c], cell[c]);
	printf("%-*s  %s\n", width[COL_ORIGIN], cell[COL_ORIGIN], cell[COL_COMMAND]);
}

static void print_text(const struct rows *rows, bool in_bytes)
{
	char (*cells)[N_COLUMNS][CELL_LEN];
	int width[N_COLUMNS];
	size_t r;
	int c;

	cells = calloc(rows->count ? rows->count : 1, sizeof(*cells));
	if (!cells) {
		report_errno(ENOMEM, NULL, NULL);
		return;
	}
	for (c = 0; c < N_COLUMNS; c++)
		width[c] = (int)strlen(column_names[c]);
	for (r = 0; r < rows->count; r++) {
		row_cells(&rows->row[r], in_bytes, cells[r]);
		for (c = 0; c < N_COLUMNS; c++)
			if ((int)strlen(cells[r][c]) > width[c])
				width[c] = (int)strlen(cells[r][c]);
	}
	print_line(column_names, width);
	for (r = 0; r < rows->count; r++) {
		const char *line[N_COLUMNS];

		for (c = 0; c < N_COLUMNS; c++)
			line[c] = cells[r][c];
		print_line(line, width);
	}
	free(cells);
}

static void print_json(const struct rows *rows)
{
	size_t r;

	printf("{\"threads\":[");
	for (r = 0; r < rows->count; r++) {
		const struct row *row = &rows->row[r];
		const struct shstk_usage *u = &row->usage;

		printf("%s{\"pid\":%d,\"tid\":%d,\"command\":", r ? "," : "", (int)row->pid,
		       (int)row->tid);
		json_string(stdout, row->comm);
		printf(",\"enabled\":%s,\"locked\":%s,\"install_pending\":%s",
		       u->status & SHSTK_STATUS_ENABLED ? "true" : "false",
		       u->status & SHSTK_STATUS_LOCKED ? "true" : "false",
		       u->status & SHSTK_STATUS_INSTALL_PENDING ? "true" : "false");
		printf(",\"base\":%" PRIu64 ",\"size\":%" PRIu64 ",\"ssp\":%" PRIu64
		       ",\"used\":%" PRIu64 ",\"peak\":%" PRIu64 ",\"resident\":%" PRIu64,
		       (uint64_t)u->base, (uint64_t)u->size, (uint64_t)u->ssp,
		       (uint64_t)u->used, (uint64_t)u->peak, (uint64_t)u->resident);
		printf(",\"origin\":\"%s\",\"install_errno\":%d}", origin_name(u->origin),
		       (int)u->install_errno);
	}
	printf("]}\n");
}

static void sleep_seconds(double seconds)
{
	struct timespec ts = {
		.tv_sec = (time_t)seconds,
		.tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9),
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void print_watch_header(const struct options *opts, int argc, char *argv[])
{
	char stamp[64];
	time_t now = time(NULL);
	int i;

	/* Like top on a terminal: redraw in place. Piped: one block per refresh. */
	if (isatty(STDOUT_FILENO))
		printf("\033[H\033[2J");
	printf("Every %gs: %s", opts->watch, prog_name);
	for (i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime(&now));
	printf("    %s\n\n", stamp);
}

static int parse_options(int argc, char *argv[], struct options *opts)
{
	static const struct option options[] = {
		{ "bytes", no_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'b':
			opts->in_bytes = true;
			break;
		case 'j':
			opts->json = true;
			break;
		case 'w':
			errno = 0;
			opts->watch = strtod(optarg, &end);
			if (errno || *end || !(opts->watch >= 0.1 && opts->watch <= 86400))
				return usage_error(synopsis, "usage: --watch takes seconds, "
						   "0.1 to 86400, not '%s'", optarg);
			break;
		case 'n':
			errno = 0;
			opts->count = strtoul(optarg, &end, 10);
			if (errno || *end || !opts->count || *optarg == '-')
				return usage_error(synopsis, "usage: --count takes a positive "
						   "number, not '%s'", optarg);
			break;
		case 'h':
			print_help();
			return -1;
		default:
			return usage_error(synopsis, "usage: unknown option or missing value "
					   "'%s'", argv[optind - 1]);
		}
	}
	if (opts->count && !opts->watch)
		return usage_error(synopsis, "usage: --count needs --watch");
	return 0;
}

int usage_main(int argc, char *argv[])
{
	struct options opts = { 0 };
	struct target *targets;
	struct rows rows = { 0 };
	unsigned long refreshes = 0;
	size_t n_targets, i;
	bool fatal = false;
	int status, ret;

	ret = parse_options(argc, argv, &opts);
	if (ret)
		return ret < 0 ? EXIT_OK : ret;

	n_targets = (size_t)(argc - optind);
	targets = calloc(n_targets ? n_targets : 1, sizeof(*targets));
	if (!targets) {
		report_errno(ENOMEM, NULL, NULL);
		return EXIT_ERROR;
	}
	for (i = 0; i < n_targets; i++) {
		const char *arg = argv[optind + i];
		pid_t id, tgid;

		if (parse_pid(arg, &id)) {
			free(targets);
			return usage_error(synopsis, "usage: '%s' is not a PID or TID", arg);
		}
		targets[i].arg = arg;
		tgid = thread_group_of(id);
		/* Unknown now: USAGE will say ESRCH, in the same words as later. */
		targets[i].pid = tgid > 0 ? tgid : id;
		targets[i].tid = (tgid > 0 && tgid != id) ? id : 0;
	}

	for (;;) {
		if (opts.watch && !opts.json)
			print_watch_header(&opts, argc, argv);
		status = collect(&rows, targets, n_targets, &fatal);
		if (fatal)
			break;
		if (opts.json)
			print_json(&rows);
		else
			print_text(&rows, opts.in_bytes);
		fflush(stdout);
		if (!opts.watch || (opts.count && ++refreshes >= opts.count))
			break;
		/* Every target gone: nothing left to watch. */
		if (n_targets) {
			for (i = 0; i < n_targets && targets[i].gone; i++)
				;
			if (i == n_targets)
				break;
		}
		sleep_seconds(opts.watch);
		if (!opts.json && !isatty(STDOUT_FILENO))
			printf("\n");
	}
	/* A target lost during --watch counts as an error, as it does once. */
	for (i = 0; i < n_targets; i++)
		if (targets[i].gone)
			status = EXIT_ERROR;
	free(rows.row);
	free(targets);
	return status;
}
