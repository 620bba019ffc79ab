// SPDX-License-Identifier: MIT
/*
 * A threaded program written against libshstk(3): three threads with 8 MiB
 * stacks, one on the shadow stack the kernel's rule gives (8 MiB), one
 * given a 64 KiB shadow stack, one started on a shadow stack this program
 * made itself. Each reports its use with shstk_usage().
 *
 *   threads           report and exit
 *   threads --hold    print "ready", keep the threads alive until SIGTERM
 *                     or SIGINT (for shstkctl usage), then report
 *
 * Static, runs in the test guests:
 *   tests/vm/run --cet -- userspace/build/threads
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <shstk.h>

#define STACK_SIZE	(8UL << 20)
#define SHADOW_SIZE	(64UL << 10)

struct worker {
	const char *name;
	uint64_t shadow_stack_size;	/* for shstk_pthread_create() */
	uint64_t shadow_stack_token;
	pthread_t thread;
	struct shstk_usage usage;	/* what the thread saw */
	int usage_errno;
};

/* Read end: the workers block on it while held; main closes the write end. */
static int hold_pipe[2] = { -1, -1 };
/* Held: "ready" only once every worker has run and is about to block. */
static pthread_barrier_t hold_barrier;

static int __attribute__((noinline)) recurse(int depth)
{
	int r;

	if (!depth)
		return 0;
	r = recurse(depth - 1);
	/* Opaque to the compiler: no turning the recursion into a loop. */
	__asm__ volatile("" : "+r"(r));
	return r + 1;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	char byte;

	recurse(200);	/* 200 return addresses deep, then back */
	if (shstk_usage(0, &w->usage))
		w->usage_errno = errno;
	if (hold_pipe[0] >= 0) {
		pthread_barrier_wait(&hold_barrier);
		while (read(hold_pipe[0], &byte, 1) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

static void report(const struct worker *w)
{
	const struct shstk_usage *u = &w->usage;
	static const char *const origins[] = { "none", "kernel", "sized", "token" };

	if (w->usage_errno) {
		printf("  %-7s shstk_usage: %s\n", w->name, strerror(w->usage_errno));
		return;
	}
	printf("  %-7s %4lu KiB stack, %4llu KiB shadow stack: used %llu B, peak %llu B, "
	       "resident %llu KiB, origin %s\n", w->name, STACK_SIZE >> 10,
	       (unsigned long long)u->size >> 10, (unsigned long long)u->used,
	       (unsigned long long)u->peak, (unsigned long long)u->resident >> 10,
	       u->origin < 4 ? origins[u->origin] : "?");
}

static int run(bool hold)
{
	struct worker workers[] = {
		{ .name = "kernel" },
		{ .name = "sized", .shadow_stack_size = SHADOW_SIZE },
		{ .name = "token" },
	};
	const size_t n = sizeof(workers) / sizeof(*workers);
	uint64_t token_stack = 0;
	pthread_attr_t attr;
	sigset_t stop;
	size_t i;
	int sig;

	/* A shadow stack of our own, with a restore token for the thread to start on. */
	if (shstk_alloc(SHADOW_SIZE, SHSTK_ALLOC_TOKEN, &token_stack,
			&workers[2].shadow_stack_token)) {
		perror("shstk_alloc");
		return 1;
	}
	if (hold) {
		/* Blocked in every thread, so that sigwait() below gets them. */
		sigemptyset(&stop);
		sigaddset(&stop, SIGTERM);
		sigaddset(&stop, SIGINT);
		pthread_sigmask(SIG_BLOCK, &stop, NULL);
		if (pipe(hold_pipe)) {
			perror("pipe");
			return 1;
		}
		pthread_barrier_init(&hold_barrier, NULL, n + 1);
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	for (i = 0; i < n; i++) {
		if (shstk_pthread_create(&workers[i].thread, &attr, work, &workers[i],
					 workers[i].shadow_stack_size,
					 workers[i].shadow_stack_token)) {
			fprintf(stderr, "shstk_pthread_create (%s): %s\n", workers[i].name,
				strerror(errno));
			return 1;
		}
	}
	if (hold) {
		pthread_barrier_wait(&hold_barrier);
		printf("ready: pid %d, %zu threads\n", (int)getpid(), n);
		fflush(stdout);
		sigwait(&stop, &sig);
		close(hold_pipe[1]);
	}
	printf("threads with 8 MiB stacks:\n");
	for (i = 0; i < n; i++) {
		pthread_join(workers[i].thread, NULL);
		report(&workers[i]);
	}
	/* The kernel never frees a caller-made shadow stack; its thread is gone now. */
	munmap((void *)(uintptr_t)token_stack, SHADOW_SIZE);
	return 0;
}

int main(int argc, char *argv[])
{
	bool hold = argc > 1 && !strcmp(argv[1], "--hold");
	long err;

	/*
	 * glibc 2.36 does not enable shadow stacks itself. Enable it here,
	 * in main, which then must never return (its return address is not on
	 * the new shadow stack): it leaves with exit(). Every call made from
	 * here on returns normally.
	 */
	err = SHSTK_ENABLE_HERE();
	if (err) {
		fprintf(stderr, "threads: cannot enable a shadow stack: %s "
			"(no user shadow stacks on this CPU or kernel?)\n", strerror((int)-err));
		exit(1);
	}
	exit(run(hold));
}
