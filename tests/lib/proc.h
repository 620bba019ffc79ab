/* SPDX-License-Identifier: GPL-2.0 */
/* What the tests read from and write to /proc. */
#ifndef SHSTK_TEST_PROC_H
#define SHSTK_TEST_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

/* Number of mappings of this process (lines of /proc/self/maps). */
static inline int proc_count_maps(void)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

/* Rss of the mapping of this process that starts at start, in bytes; -1 if none. */
static inline long proc_vma_rss(uint64_t start)
{
	char line[512];
	unsigned long s, e, kb;
	bool in = false;
	long rss = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			in = s == start;
			continue;
		}
		if (in && sscanf(line, "Rss: %lu kB", &kb) == 1) {
			rss = kb * 1024;
			break;
		}
	}
	fclose(f);
	return rss;
}

/* The state letter of a thread of any process (R, S, T, ...), or 0. */
static inline char proc_task_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold anything: the state follows its last ')'. */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Wait (up to about 10 s) until the thread sleeps; true if it does. */
static inline bool proc_wait_sleeping(pid_t pid, pid_t tid)
{
	struct timespec ms = { 0, 1000000 };
	int i;

	for (i = 0; i < 10000; i++) {
		if (proc_task_state(pid, tid) == 'S')
			return true;
		nanosleep(&ms, NULL);
	}
	return false;
}

/* Read or write a small integer file such as /proc/sys/vm/overcommit_memory. */
static inline long proc_read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static inline int proc_write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fprintf(f, "%ld\n", v) < 0;
	ret |= fclose(f) != 0;
	return ret ? -1 : 0;
}

#define OVERCOMMIT_PATH "/proc/sys/vm/overcommit_memory"

#define SHSTK_PARAMS "/sys/module/shstk/parameters/"

/* Write a module parameter of shstk as the string val; 0 or -errno. */
static inline int shstk_param_write(const char *name, const char *val)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), SHSTK_PARAMS "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* A numeric module parameter of shstk, -1 if it cannot be read. */
static inline long shstk_param_read(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), SHSTK_PARAMS "%s", name);
	return proc_read_long(path);
}

/*
 * Committed_AS of /proc/meminfo, in KiB; -1 if it cannot be read. Without
 * stdio: in a new thread, the first malloc() would map an arena and
 * charge commit itself.
 */
static inline long proc_committed_kib(void)
{
	char buf[4096], *p;
	size_t len = 0;
	ssize_t n;
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	p = strstr(buf, "Committed_AS:");
	return p ? strtol(p + strlen("Committed_AS:"), NULL, 10) : -1;
}

/*
 * The module's live records (debugfs shstk/tasks and shstk/policies).
 * Exact, unlike /proc/slabinfo, whose active counts include free objects
 * on per-CPU slabs.
 */
static inline long shstk_live_records(const char *what)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/kernel/debug/shstk/%s", what);
	return proc_read_long(path);
}

/*
 * Thread records go when the kernel frees the task_struct, an RCU grace
 * period after the thread was reaped: wait up to 2 s for the count to
 * fall back to want.
 */
static inline long shstk_live_records_settled(const char *what, long want)
{
	long n = shstk_live_records(what);
	int i;

	for (i = 0; i < 20 && n > want; i++) {
		usleep(100000);
		n = shstk_live_records(what);
	}
	return n;
}

/*
 * A starting count: the records of threads an earlier test left to the
 * RCU callbacks are gone once the count has not moved for 300 ms.
 */
static inline long shstk_live_records_quiet(const char *what)
{
	long n = shstk_live_records(what), last;
	int i, same = 0;

	for (i = 0; i < 20 && same < 3; i++) {
		usleep(100000);
		last = n;
		n = shstk_live_records(what);
		same = n == last ? same + 1 : 0;
	}
	return n;
}

/* References to the shstk module (open files, pending installs); -1 if unknown. */
static inline long shstk_module_refcnt(void)
{
	return proc_read_long("/sys/module/shstk/refcnt");
}

/* A copy of this program in /tmp with this mode (04755: set-user-ID root). */
static inline int copy_self(const char *path, mode_t mode)
{
	char buf[65536];
	int in = open("/proc/self/exe", O_RDONLY), out;
	ssize_t n;

	unlink(path);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL, 0700);
	if (in < 0 || out < 0)
		return -errno;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			return -EIO;
	close(in);
	/* chmod after writing: a write by root would not clear S_ISUID, but be plain. */
	if (fchmod(out, mode) || close(out))
		return -errno;
	return 0;
}

#endif /* SHSTK_TEST_PROC_H */
