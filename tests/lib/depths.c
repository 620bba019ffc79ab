// SPDX-License-Identifier: GPL-2.0
/*
 * depths: threads that recurse to known depths, for shstkctl measure
 * (tests/measure-test, the demo, make bench).
 *
 *   depths [--linger SECONDS [--exit]] DEPTH:STACK[:trap]...
 *
 * Enables its shadow stack, then runs one thread per argument, all at
 * once, each with a STACK-byte stack (65536, 64K, 2M) calling a recursion
 * DEPTH calls deep, and joins them. A ":trap" thread runs after them,
 * alone, and executes a trapping instruction at the bottom of its
 * recursion: the process dies of SIGILL there. Prints first
 * "frame F entry E page P" (lib/frames.h), then per thread
 * "thread TID depth D stack S entry E expect P", P being the peak its
 * shadow stack must reach, E what it had used when its routine began; and
 * "done" once every thread but the trap one has returned.
 * --linger: the threads wait SECONDS after their recursion, and "ready" is
 * printed when all of them have reached it (for shstkctl measure --pid);
 * with --exit, main then ends the process (exit()) while they wait.
 * Exit status: 0; 2 usage; 3 a thread could not start or read its USAGE;
 * 4 no shadow stack; killed by SIGILL with a ":trap" thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/shstk.h>
#include "lib/frames.h"

struct job {
	uint64_t depth, stack;
	bool trap;
	pthread_t thread;
	pid_t tid;
	uint64_t entry;		/* shadow stack used when run_job() began */
	int err;
};

static int dev_fd;
static struct timespec linger;
static bool exit_early;		/* --exit */
static pthread_barrier_t reached;	/* --linger: all threads at depth, and main */
static pthread_barrier_t trap_go;	/* the trap thread and main */

/* One shadow-stack entry per call: not inlined, not cloned, not a tail call. */
static __attribute__((noinline, noclone)) int recurse(uint64_t depth, bool trap)
{
	int r;

	if (!depth) {
		if (trap)
			SHSTK_FRAMES_TRAP();
		return 0;
	}
	r = recurse(depth - 1, trap);
	__asm__ volatile("" : "+r"(r));
	return r + 1;
}

static void *run_job(void *arg)
{
	uint64_t ssp = shstk_frames_ssp();
	struct shstk_usage u = { .argsz = sizeof(u) };
	struct job *j = arg;

	j->tid = gettid();
	if (ioctl(dev_fd, SHSTK_IOC_USAGE, &u))
		j->err = errno;
	j->entry = u.base + u.size - ssp;
	if (j->trap) {
		/* Let main print this thread's line before it dies. */
		pthread_barrier_wait(&trap_go);
		pthread_barrier_wait(&trap_go);
	}
	recurse(j->depth, j->trap);
	if (linger.tv_sec || linger.tv_nsec) {
		pthread_barrier_wait(&reached);
		nanosleep(&linger, NULL);
	}
	return NULL;
}

static int parse_job(const char *arg, struct job *j)
{
	char *end;

	j->depth = strtoull(arg, &end, 10);
	if (end == arg || *end != ':')
		return -1;
	j->stack = strtoull(end + 1, &end, 10);
	if (*end == 'K')
		j->stack <<= 10, end++;
	else if (*end == 'M')
		j->stack <<= 20, end++;
	j->trap = !strcmp(end, ":trap");
	return (*end && !j->trap) || j->stack < 16384 ? -1 : 0;
}

static void print_job(const struct job *j)
{
	printf("thread %d depth %llu stack %llu entry %llu expect %llu\n", (int)j->tid,
	       (unsigned long long)j->depth, (unsigned long long)j->stack,
	       (unsigned long long)j->entry,
	       (unsigned long long)(j->entry + SHSTK_FRAME_BYTES * (j->depth + 1)));
}

static int start(struct job *j)
{
	pthread_attr_t attr;
	int err;

	/*
	 * glibc refuses a stack below PTHREAD_STACK_MIN (16 KiB on x86-64,
	 * 128 KiB on arm64) and would leave the default 8 MiB: take its
	 * minimum instead, which the "thread" line then shows.
	 */
	if (j->stack < (uint64_t)PTHREAD_STACK_MIN)
		j->stack = PTHREAD_STACK_MIN;
	pthread_attr_init(&attr);
	err = pthread_attr_setstacksize(&attr, j->stack);
	if (!err)
		err = pthread_create(&j->thread, &attr, run_job, j);
	pthread_attr_destroy(&attr);
	if (err)
		printf("pthread_create (stack %llu): %s\n", (unsigned long long)j->stack,
		       strerror(err));
	return err;
}

/* Runs on the shadow stack: never returns (see lib/frames.h). */
static int run(struct job *jobs, int n, int normal)
{
	int i;

	if (linger.tv_sec || linger.tv_nsec)
		pthread_barrier_init(&reached, NULL, normal + 1);
	pthread_barrier_init(&trap_go, NULL, 2);
	for (i = 0; i < n; i++)
		if (!jobs[i].trap && start(&jobs[i]))
			return 3;
	if (linger.tv_sec || linger.tv_nsec) {
		pthread_barrier_wait(&reached);
		printf("ready\n");
		fflush(stdout);
		if (exit_early) {
			for (i = 0; i < n; i++)
				print_job(&jobs[i]);
			return 0;
		}
	}
	for (i = 0; i < n; i++) {
		if (jobs[i].trap)
			continue;
		pthread_join(jobs[i].thread, NULL);
		if (jobs[i].err) {
			printf("USAGE: %s\n", strerror(jobs[i].err));
			return 3;
		}
		print_job(&jobs[i]);
	}
	printf("done\n");
	fflush(stdout);
	for (i = 0; i < n; i++) {
		if (!jobs[i].trap)
			continue;
		if (start(&jobs[i]))
			return 3;
		pthread_barrier_wait(&trap_go);
		print_job(&jobs[i]);
		fflush(stdout);
		pthread_barrier_wait(&trap_go);
		pthread_join(jobs[i].thread, NULL);	/* never: it traps */
	}
	return 0;
}

int main(int argc, char **argv)
{
	int i, n, normal = 0, traps = 0;
	struct job *jobs;

	if (argc > 2 && !strcmp(argv[1], "--linger")) {
		double s = strtod(argv[2], NULL);

		linger.tv_sec = (time_t)s;
		linger.tv_nsec = (long)((s - (double)linger.tv_sec) * 1e9);
		argc -= 2;
		argv += 2;
		exit_early = argc > 1 && !strcmp(argv[1], "--exit");
		argc -= exit_early;
		argv += exit_early;
	}
	n = argc - 1;
	jobs = calloc(n > 0 ? n : 1, sizeof(*jobs));
	if (!jobs || n < 1)
		goto usage;
	for (i = 0; i < n; i++) {
		if (parse_job(argv[i + 1], &jobs[i]))
			goto usage;
		if (jobs[i].trap)
			traps++;
		else
			normal++;
	}
	if (traps > 1 || (traps && (linger.tv_sec || linger.tv_nsec)))
		goto usage;
	dev_fd = open(SHSTK_DEVICE, O_RDWR | O_CLOEXEC);
	if (dev_fd < 0) {
		perror(SHSTK_DEVICE);
		return 4;
	}
	printf("frame %d entry %d page %ld\n", SHSTK_FRAME_BYTES, SHSTK_THREAD_ENTRY_BYTES,
	       sysconf(_SC_PAGESIZE));
	fflush(stdout);
	if (SHSTK_FRAMES_ENABLE())
		return 4;
	/* From here on this frame never returns. */
	exit(run(jobs, n, normal));
usage:
	fprintf(stderr, "usage: depths [--linger SECONDS [--exit]] DEPTH:STACK[:trap]... "
		"(one :trap at most, not with --linger)\n");
	return 2;
}
