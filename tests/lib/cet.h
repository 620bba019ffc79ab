/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for tests that run code on a user shadow stack (the per-arch
 * parts are in arch.h).
 *
 * Debian 12's glibc (2.36) does not enable shadow stacks itself, so the
 * tests do it with arch_prctl() (on arm64 with prctl()). A function that
 * enables the shadow stack can never return: its return address was pushed
 * before the shadow stack existed. shstk_run() therefore forks, enables it in the child and leaves
 * with _exit(). The kselftest harness leaves a failed ASSERT with longjmp(),
 * which this glibc cannot do on a shadow stack: code that runs on one
 * reports through its exit code or shared memory, and the test body (not on
 * a shadow stack) asserts on that.
 */
#ifndef SHSTK_TEST_CET_H
#define SHSTK_TEST_CET_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "arch.h"

/* Exit codes of shstk_run() children that are not the function's own. */
#define SHSTK_RUN_NO_ENABLE	99

/*
 * Run fn(arg) in a child process with the shadow stack enabled. Returns the
 * child's wait status: exited with fn's return value, or killed.
 */
static inline int shstk_run(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (SHSTK_ENABLE_HERE())
			_exit(SHSTK_RUN_NO_ENABLE);
		/* Calls from here on are safe; this frame never returns. */
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* Memory the child can write its findings to. */
static inline void *shstk_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * Find the mapping of this process that contains addr in /proc/self/smaps;
 * fills [start, end) and whether its VmFlags have "ss". Returns 0 if found.
 */
static inline int shstk_find_vma(uint64_t addr, uint64_t *start, uint64_t *end, bool *is_ss)
{
	char line[512];
	unsigned long s, e;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* Only the header line of a mapping parses as "start-end". */
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			in = addr >= s && addr < e;
			if (in) {
				*start = s;
				*end = e;
			}
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			*is_ss = strstr(line, " ss") != NULL;
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return -1;
}

/*
 * The mapping of a shadow-stack pointer. SSP points at the last entry
 * pushed, and an empty shadow stack has SSP at the very top, one past
 * the mapping: look up the byte below it.
 */
static inline int shstk_find_ssp_vma(uint64_t ssp, uint64_t *start, uint64_t *end, bool *is_ss)
{
	return shstk_find_vma(ssp - 1, start, end, is_ss);
}

/* Number of mappings with the "ss" VmFlag in /proc/self/smaps. */
static inline int shstk_count_ss_vmas(void)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmFlags:", 8) && strstr(line, " ss"))
			n++;
	fclose(f);
	return n;
}

#endif /* SHSTK_TEST_CET_H */
