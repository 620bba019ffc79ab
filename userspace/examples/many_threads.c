// SPDX-License-Identifier: MIT
/*
 * An "unmodified" multi-threaded program, for the demo and the launcher
 * and tracer tests: it knows nothing of SET_CLONE or policies, it only
 * creates threads, and reports what each got.
 *
 *   many_threads [--fork] [--glibc] COUNT STACK_SIZE EXPECT
 *
 * Turns its shadow stack on (glibc 2.36 does not), creates COUNT threads
 * with STACK_SIZE-byte stacks, all alive at once, and has each read its
 * own USAGE. Prints the sizes seen and the change of Committed_AS, and
 * exits 0 only if every thread's shadow stack is EXPECT bytes (0: the
 * kernel's rule for this architecture, see kernel_rule()).
 * --glibc: glibc has turned the shadow stack on already (arm64 GCS with
 * glibc 2.43 and GLIBC_TUNABLES=glibc.cpu.aarch64_gcs=1, for a binary
 * marked for GCS): the program does nothing about it and fails (exit 4)
 * if it is off.
 * --fork does all that in a child process made with fork() and exits
 * with its status: what a process policy without and with
 * SHSTK_POLICY_INHERIT (shstkctl run --inherit) gives a child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include <sys/prctl.h>

#include <linux/shstk.h>
#if defined(__x86_64__)
#include "shstk_cet.h"
#elif defined(__aarch64__)
#include "shstk_gcs.h"
#elif defined(__riscv)
#include "shstk_zicfiss.h"
#endif

static pthread_barrier_t all_alive;
static int dev_fd;

struct worker {
	pthread_t t;
	struct shstk_usage u;
	int err;
};

static void *worker(void *arg)
{
	struct worker *w = arg;

	w->u = (struct shstk_usage){ .argsz = sizeof(w->u) };
	if (ioctl(dev_fd, SHSTK_IOC_USAGE, &w->u))
		w->err = errno;
	/* Hold every thread (and its shadow stack) until all were counted. */
	pthread_barrier_wait(&all_alive);
	pthread_barrier_wait(&all_alive);
	return NULL;
}

static long committed_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Committed_AS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/*
 * The shadow stack the kernel itself gives a glibc thread with a stack of
 * this size (glibc adds its guard to it).
 */
static uint64_t kernel_rule(size_t stack)
{
#if defined(__aarch64__)
	/* gcs_alloc_thread_stack(): half of it; glibc's arm64 guard is 64 KiB. */
	return ((stack + 65536) / 2 + 4095) & ~4095ULL;
#elif defined(__riscv)
	/* shstk_alloc_thread_stack(): all of it; riscv64 glibc 2.43 adds no guard. */
	return (stack + 4095) & ~4095ULL;
#else
	/* shstk_alloc_thread_stack(): all of it; a 4 KiB guard page. */
	return (stack + 4096 + 4095) & ~4095ULL;
#endif
}

/* Whether the calling thread's shadow stack is on (glibc turned it on). */
static int shadow_stack_on(void)
{
#if defined(__x86_64__)
	unsigned long features = 0;

	return !syscall(SYS_arch_prctl, ARCH_SHSTK_STATUS, &features) &&
	       (features & ARCH_SHSTK_SHSTK);
#elif defined(__aarch64__) || defined(__riscv)
	unsigned long mode = 0;

	return !prctl(PR_GET_SHADOW_STACK_STATUS, &mode, 0, 0, 0) &&
	       (mode & PR_SHADOW_STACK_ENABLE);
#else
	return 0;
#endif
}

/* Runs on the shadow stack: never returns (see shstk_cet.h). */
static int run(int count, size_t stack, uint64_t expect)
{
	struct worker *w = calloc(count, sizeof(*w));
	long before, during;
	pthread_attr_t attr;
	int i, bad = 0;

	if (!w)
		return 2;
	pthread_barrier_init(&all_alive, NULL, count + 1);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, stack);
	before = committed_kib();
	for (i = 0; i < count; i++) {
		if (pthread_create(&w[i].t, &attr, worker, &w[i])) {
			printf("pthread_create %d: %s\n", i, strerror(errno));
			return 3;
		}
	}
	pthread_barrier_wait(&all_alive);
	during = committed_kib();
	pthread_barrier_wait(&all_alive);
	for (i = 0; i < count; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].err || w[i].u.size != expect) {
			if (bad++ < 5)
				printf("thread %d: USAGE %s, size %llu, origin %u\n", i,
				       strerror(w[i].err), (unsigned long long)w[i].u.size,
				       w[i].u.origin);
		}
	}
	printf("%d threads with %zu KiB stacks: shadow stacks of %llu KiB (origin %u), "
	       "Committed_AS +%ld KiB, %d wrong\n", count, stack >> 10,
	       (unsigned long long)w[0].u.size >> 10, w[0].u.origin, during - before, bad);
	return bad ? 1 : 0;
}

/* --fork: -1 in the child; in the parent, the child's exit status (128+N: signal N). */
static int fork_and_wait(void)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0)
		return -1;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 2;
	}
	printf("child %d: %s %d\n", (int)pid, WIFEXITED(status) ? "exit" : "signal",
	       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
	int count, forked = 0, glibc = 0;
	uint64_t expect;
	size_t stack;

	for (; argc > 1 && !strncmp(argv[1], "--", 2); argc--, argv++) {
		if (!strcmp(argv[1], "--fork"))
			forked = 1;
		else if (!strcmp(argv[1], "--glibc"))
			glibc = 1;
		else
			break;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: many_threads [--fork] [--glibc] COUNT STACK_SIZE EXPECT\n");
		return 2;
	}
	count = atoi(argv[1]);
	stack = strtoull(argv[2], NULL, 0);
	expect = strtoull(argv[3], NULL, 0);
	if (forked) {
		int status = fork_and_wait();

		if (status >= 0)
			return status;	/* the parent */
	}
	if (!expect)
		expect = kernel_rule(stack);
	dev_fd = open(SHSTK_DEVICE, O_RDWR | O_CLOEXEC);
	if (dev_fd < 0) {
		perror(SHSTK_DEVICE);
		return 2;
	}
	fflush(stdout);
	if (glibc) {
		if (!shadow_stack_on()) {
			fputs("many_threads --glibc: glibc left the shadow stack off\n", stderr);
			return 4;
		}
		return run(count, stack, expect);
	}
	if (SHSTK_ENABLE_HERE())
		return 4;
	/* From here on this frame never returns. */
	exit(run(count, stack, expect));
}
