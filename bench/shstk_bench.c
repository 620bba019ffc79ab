// SPDX-License-Identifier: GPL-2.0
/*
 * shstk_bench: the numbers behind "is shstk worth it", measured in the CET
 * guest (bench/run boots it; make bench). Guest time in Bochs follows the
 * instruction count, so the same image gives the same times: every
 * benchmark runs twice (rep 1 and rep 2) and the table shows both and their
 * ratio.
 *
 *   1. commit  Committed_AS and shadow-stack address space per thread, for
 *              1/10/100/1000 threads with 8 MiB stacks, under the kernel's
 *              rule, FIXED 64 KiB and RATIO 64 (and without shadow stacks,
 *              the baseline that isolates the shadow-stack share).
 *   2. strict  vm.overcommit_memory=2 with a fixed commit headroom: threads
 *              created before pthread_create() fails, kernel rule vs 64 KiB,
 *              with glibc's stacks and with stacks charged as touched.
 *   3. latency pthread_create+join, 10,000 iterations per case: no module,
 *              module loaded but not used yet, SET_CLONE 64 KiB, a
 *              caller-made token stack reused through the exit token, FIXED
 *              policy, and an unarmed process once the hooks are live.
 *   4. usage   SHSTK_IOC_USAGE of another thread: cost vs shadow-stack size
 *              (same 4 KiB used) and vs used depth.
 *   5. measure shstkctl measure on tests' depths program (threads 10, 1000
 *              and 20000 calls deep, 64K/256K/2M stacks): the size and ratio
 *              it recommends, the commit it predicts for them, and
 *              Committed_AS with those threads alive under the kernel's
 *              rule and under each recommendation (needs ./shstkctl and
 *              ./depths next to it).
 *
 * Output: a readable table on stdout, and "@csv NAME,..." lines that
 * bench/run turns into bench/results/NAME.csv.
 *
 *   shstk_bench [--quick] [--only NAME[,NAME...]] [--module PATH]
 *
 * --quick: fewer iterations and threads (a minute of host time, to try
 * changes); the published numbers come from a full run. --only runs those
 * benchmarks (commit, strict, latency, usage, measure; bench/run --gcs
 * leaves out latency, whose times mean little in QEMU TCG); --module is the shstk.ko
 * the latency benchmark reloads (default /shstk/shstk.ko, where the
 * guest's init finds it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <shstk.h>
#include "cet.h"
#include "proc.h"

#define KiB		(1024ULL)
#define MiB		(1024ULL * KiB)
#define GiB		(1024ULL * MiB)
#define STACK_SIZE	(8 * MiB)	/* every benchmark thread's normal stack */
#define SMALL_SS	(64 * KiB)	/* the sized / FIXED shadow stack */
#define REPS		2
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const char *module_path = "/shstk/shstk.ko";
static bool quick;
static const char *only;

static void die(const char *what)
{
	fprintf(stderr, "shstk_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v; the value below which pct percent of the samples lie (nearest rank). */
static uint64_t percentile(uint64_t *v, size_t n, unsigned int pct)
{
	size_t rank = (n * pct + 99) / 100;

	qsort(v, n, sizeof(*v), cmp_u64);
	return v[rank ? rank - 1 : 0];
}

static long committed_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Committed_AS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Total size of this process's shadow-stack mappings ("ss" in VmFlags). */
static uint64_t ss_vma_bytes(void)
{
	char line[512];
	unsigned long s, e, cur = 0;
	uint64_t total = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2)
			cur = e - s;
		else if (!strncmp(line, "VmFlags:", 8) && strstr(line, " ss"))
			total += cur;
	}
	fclose(f);
	return total;
}

static void set_policy(uint32_t mode, uint64_t size, uint32_t ratio)
{
	struct shstk_policy p = { .mode = mode, .size = size, .ratio = ratio };

	if (shstk_set_policy(&p))
		die("SET_POLICY");
}

/* Results shared between a measuring child and the parent. */
static void *shared_page(size_t size)
{
	void *p = shstk_shared(size);

	if (!p)
		die("mmap shared");
	return p;
}

/* Run fn(arg) in a child with its shadow stack on (or off); die if it fails. */
static void run_child(int (*fn)(void *), void *arg, bool shadow_stack)
{
	int status;
	pid_t pid;

	if (shadow_stack) {
		status = shstk_run(fn, arg);
	} else {
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			die("fork");
		if (!pid)
			_exit(fn(arg));
		if (waitpid(pid, &status, 0) != pid)
			die("waitpid");
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "shstk_bench: a measuring child failed (wait status 0x%x)\n", status);
		exit(1);
	}
}

static int write_sysctl(const char *path, long v)
{
	if (proc_write_long(path, v)) {
		fprintf(stderr, "shstk_bench: cannot write %ld to %s\n", v, path);
		exit(1);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Metrics: one value per rep, printed side by side at the end. */

struct metric {
	char name[80];
	const char *unit;
	double v[REPS];
};

static struct metric metrics[64];
static int nr_metrics;

static void record(int rep, const char *unit, double value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void record(int rep, const char *unit, double value, const char *fmt, ...)
{
	struct metric *m = NULL;
	char name[80];
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	for (i = 0; i < nr_metrics && !m; i++)
		if (!strcmp(metrics[i].name, name))
			m = &metrics[i];
	if (!m) {
		if (nr_metrics == (int)ARRAY_SIZE(metrics)) {
			fprintf(stderr, "shstk_bench: too many metrics\n");
			exit(1);
		}
		m = &metrics[nr_metrics++];
		snprintf(m->name, sizeof(m->name), "%s", name);
		m->unit = unit;
	}
	m->v[rep - 1] = value;
}

/* A recorded value, or -1 if the benchmark that makes it did not run. */
static double metric(const char *name, int rep)
{
	int i;

	for (i = 0; i < nr_metrics; i++)
		if (!strcmp(metrics[i].name, name))
			return metrics[i].v[rep - 1];
	return -1;
}

/* ------------------------------------------------------------------ */
/* Threads that wait until released: the living population of 1 and 2. */

struct herd {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int alive;
	pid_t first_tid;	/* a member, for USAGE */
	bool release;
};

static void *herd_member(void *arg)
{
	struct herd *h = arg;

	pthread_mutex_lock(&h->lock);
	if (!h->alive++)
		h->first_tid = gettid();
	pthread_cond_broadcast(&h->cond);
	while (!h->release)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Wait until n members are alive (and waiting). */
static void herd_wait(struct herd *h, int n)
{
	pthread_mutex_lock(&h->lock);
	while (h->alive < n)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

/*
 * Create up to max threads with attr; stop at the first failure. Returns
 * how many run (all waiting), and the failing error in *err (0: none).
 */
static int herd_grow(struct herd *h, pthread_t *t, int max, const pthread_attr_t *attr, int *err)
{
	int n;

	*err = 0;
	for (n = 0; n < max; n++) {
		*err = pthread_create(&t[n], attr, herd_member, h);
		if (*err)
			break;
	}
	herd_wait(h, n);
	return n;
}

static void herd_release(struct herd *h, pthread_t *t, int n)
{
	int i;

	pthread_mutex_lock(&h->lock);
	h->release = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

static void herd_init(struct herd *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
}

/* ------------------------------------------------------------------ */
/* 1. Commit charge and address space per thread. */

enum sizing { SIZING_NONE, SIZING_KERNEL, SIZING_FIXED, SIZING_RATIO, NR_SIZINGS };

static const char *const sizing_name[NR_SIZINGS] = {
	[SIZING_NONE] = "no-shstk",
	[SIZING_KERNEL] = "kernel",
	[SIZING_FIXED] = "fixed-64K",
	[SIZING_RATIO] = "ratio-64",
};

struct commit_job {
	enum sizing sizing;
	int threads;
	/* out */
	long commit_kib;	/* Committed_AS change with the threads alive */
	uint64_t ss_bytes;	/* shadow-stack VA change */
	uint64_t ss_size;	/* one thread's shadow stack (USAGE) */
	int created;
};

static void apply_sizing(enum sizing s)
{
	if (s == SIZING_FIXED)
		set_policy(SHSTK_POLICY_FIXED, SMALL_SS, 0);
	else if (s == SIZING_RATIO)
		set_policy(SHSTK_POLICY_RATIO, 0, 64);
}

static int commit_child(void *arg)
{
	struct commit_job *job = arg;
	pthread_t *t = calloc(job->threads, sizeof(*t));
	struct shstk_usage u = { 0 };
	pthread_attr_t attr;
	struct herd h;
	long c0, c1;
	uint64_t v0, v1;
	int err;

	if (!t)
		return 1;
	apply_sizing(job->sizing);
	herd_init(&h);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	c0 = committed_kib();
	v0 = ss_vma_bytes();
	job->created = herd_grow(&h, t, job->threads, &attr, &err);
	c1 = committed_kib();
	v1 = ss_vma_bytes();
	if (job->sizing != SIZING_NONE && job->created &&
	    shstk_usage(h.first_tid, &u))
		return 2;
	herd_release(&h, t, job->created);
	job->commit_kib = c1 - c0;
	job->ss_bytes = v1 - v0;
	job->ss_size = u.size;
	free(t);
	return job->created == job->threads ? 0 : 3;
}

static void bench_commit(int rep)
{
	static const int counts[] = { 1, 10, 100, 1000 };
	struct commit_job *job = shared_page(sizeof(*job));
	double none_kib = 0;
	unsigned int i;
	int s;

	printf("\n[commit, rep %d] per thread, 8 MiB stacks: Committed_AS change, shadow-stack VA, shadow-stack commit (vs no-shstk)\n",
	       rep);
	printf("%8s %-10s %14s %14s %16s %12s\n", "threads", "sizing", "commit KiB", "ss VA KiB",
	       "ss commit KiB", "ss size KiB");
	for (i = 0; i < ARRAY_SIZE(counts); i++) {
		int n = quick ? (counts[i] > 100 ? 100 : counts[i]) : counts[i];

		if (quick && i == 3)
			break;
		for (s = 0; s < NR_SIZINGS; s++) {
			double commit, va, ss_commit;

			*job = (struct commit_job){ .sizing = s, .threads = n };
			run_child(commit_child, job, s != SIZING_NONE);
			commit = (double)job->commit_kib / n;
			va = (double)job->ss_bytes / KiB / n;
			if (s == SIZING_NONE)
				none_kib = commit;
			ss_commit = commit - none_kib;
			printf("%8d %-10s %14.1f %14.1f %16.1f %12llu\n", n, sizing_name[s], commit,
			       va, ss_commit, (unsigned long long)(job->ss_size / KiB));
			printf("@csv commit,%d,%d,%s,%.2f,%.2f,%.2f,%llu\n", rep, n, sizing_name[s],
			       commit, va, ss_commit, (unsigned long long)(job->ss_size / KiB));
			record(rep, "KiB", ss_commit, "commit: ss commit/thread, %s, %d threads",
			       sizing_name[s], n);
		}
	}
	munmap(job, sizeof(*job));
}

/* ------------------------------------------------------------------ */
/* 2. Strict overcommit: how many threads fit in a fixed commit headroom. */

#define STRICT_HEADROOM_KIB	(128 * 1024L)
#define STRICT_MAX_THREADS	3000
#define STRICT_PREFAULT		(16 * KiB)	/* struct pthread, TLS, first frames */

struct strict_job {
	enum sizing sizing;
	bool lazy_stacks;	/* normal stacks charged when touched (memfd) */
	int max;
	/* out */
	int created;
	int err;
};

static const char *const overcommit_files[] = {
	"/proc/sys/vm/overcommit_memory",
	"/proc/sys/vm/overcommit_ratio",
	"/proc/sys/vm/user_reserve_kbytes",
};
static long overcommit_saved[ARRAY_SIZE(overcommit_files)];

static void overcommit_save(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(overcommit_files); i++) {
		overcommit_saved[i] = proc_read_long(overcommit_files[i]);
		if (overcommit_saved[i] < 0)
			die(overcommit_files[i]);
	}
}

/* Back to the saved mode; writing overcommit_ratio clears overcommit_kbytes. */
static void overcommit_restore(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(overcommit_files); i++)
		write_sysctl(overcommit_files[i], overcommit_saved[i]);
}

static int strict_child(void *arg)
{
	struct strict_job *job = arg;
	pthread_t *t = calloc(job->max, sizeof(*t));
	pthread_attr_t attr;
	struct herd h;
	char *stacks = NULL;
	int fd = -1, n;

	if (!t)
		return 1;
	apply_sizing(job->sizing);
	herd_init(&h);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	if (job->lazy_stacks) {
		/* One sparse memfd; thread i's stack is its i-th 8 MiB window. */
		fd = memfd_create("stacks", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)job->max * STACK_SIZE))
			return 4;
		stacks = mmap(NULL, (size_t)job->max * STACK_SIZE, PROT_READ | PROT_WRITE,
			      MAP_SHARED, fd, 0);
		if (stacks == MAP_FAILED)
			return 5;
	}
	/* From here on nothing may allocate: the limit is near. */
	write_sysctl("/proc/sys/vm/user_reserve_kbytes", 0);
	write_sysctl("/proc/sys/vm/overcommit_kbytes", committed_kib() + STRICT_HEADROOM_KIB);
	write_sysctl("/proc/sys/vm/overcommit_memory", 2);
	if (!job->lazy_stacks) {
		n = herd_grow(&h, t, job->max, &attr, &job->err);
	} else {
		for (n = 0, job->err = 0; n < job->max; n++) {
			char *stack = stacks + (size_t)n * STACK_SIZE;

			/* A failed charge here is an error, not a SIGBUS later. */
			if (madvise(stack + STACK_SIZE - STRICT_PREFAULT, STRICT_PREFAULT,
				    MADV_POPULATE_WRITE)) {
				job->err = errno;
				break;
			}
			pthread_attr_setstack(&attr, stack, STACK_SIZE);
			job->err = pthread_create(&t[n], &attr, herd_member, &h);
			if (job->err)
				break;
		}
		herd_wait(&h, n);
	}
	overcommit_restore();
	job->created = n;
	herd_release(&h, t, n);
	if (fd >= 0)
		close(fd);
	return 0;
}

static void bench_strict(int rep)
{
	struct strict_job *job = shared_page(sizeof(*job));
	const enum sizing sizings[] = { SIZING_KERNEL, SIZING_FIXED };
	int lazy, i, counts[2];

	printf("\n[strict, rep %d] vm.overcommit_memory=2, %ld MiB of commit headroom: threads with 8 MiB stacks until pthread_create fails\n",
	       rep, STRICT_HEADROOM_KIB / 1024);
	printf("%-14s %-10s %8s  %s\n", "normal stacks", "sizing", "threads", "stopped by");
	for (lazy = 0; lazy < 2; lazy++) {
		const char *stacks = lazy ? "memfd-lazy" : "glibc";

		for (i = 0; i < 2; i++) {
			*job = (struct strict_job){ .sizing = sizings[i], .lazy_stacks = lazy,
						    .max = quick ? 400 : STRICT_MAX_THREADS };
			run_child(strict_child, job, true);
			counts[i] = job->created;
			printf("%-14s %-10s %8d  %s\n", stacks, sizing_name[sizings[i]], job->created,
			       job->err ? strerror(job->err) : "(limit of the benchmark)");
			printf("@csv strict,%d,%s,%s,%d,%s\n", rep, stacks, sizing_name[sizings[i]],
			       job->created, job->err ? strerrorname_np(job->err) : "none");
			record(rep, "threads", job->created, "strict: threads, %s stacks, %s", stacks,
			       sizing_name[sizings[i]]);
		}
		record(rep, "x", counts[0] ? (double)counts[1] / counts[0] : 0,
		       "strict: 64K/kernel thread ratio, %s stacks", stacks);
	}
	munmap(job, sizeof(*job));
}

/* ------------------------------------------------------------------ */
/* 3. Thread create + join latency. */

/*
 * In this order: shstk's hooks go live on first use (the first arming or
 * policy) and stay until unload, so "loaded-idle" is a module nobody has
 * used yet and "live-unarmed" the cost to a process that does not use
 * shstk on a system where others do. Both get the kernel's rule.
 */
enum lat_case {
	LAT_NO_MODULE, LAT_IDLE, LAT_SIZED, LAT_TOKEN, LAT_POLICY, LAT_LIVE_UNARMED, NR_LAT_CASES
};

static const char *const lat_name[NR_LAT_CASES] = {
	[LAT_NO_MODULE] = "no-module",
	[LAT_IDLE] = "loaded-idle",
	[LAT_SIZED] = "set-clone-64K",
	[LAT_TOKEN] = "token-64K-reused",
	[LAT_POLICY] = "policy-fixed-64K",
	[LAT_LIVE_UNARMED] = "live-unarmed",
};

struct lat_job {
	enum lat_case what;
	int iters;
	/* out */
	uint64_t median_ns, p99_ns, mean_ns;
	uint64_t ss_size;
};

static void *nop_thread(void *arg)
{
	return arg;
}

static void *size_thread(void *arg)
{
	struct shstk_usage u;

	if (shstk_usage(0, &u))
		return NULL;
	*(uint64_t *)arg = u.size;
	return arg;
}

/* One create+join of the kind being measured; 0 or an error number. */
static int lat_once(enum lat_case what, const pthread_attr_t *attr, uint64_t token,
		    void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int err;

	switch (what) {
	case LAT_SIZED:
		if (shstk_pthread_create(&t, attr, fn, arg, SMALL_SS, 0))
			return errno;
		break;
	case LAT_TOKEN:
		/* The exit token makes the same stack usable for the next thread. */
		if (shstk_set_clone(SHSTK_CLONE_EXIT_TOKEN, 0, token))
			return errno;
		err = pthread_create(&t, attr, fn, arg);
		if (err) {
			shstk_set_clone(0, 0, 0);
			return err;
		}
		break;
	default:
		err = pthread_create(&t, attr, fn, arg);
		if (err)
			return err;
	}
	return pthread_join(t, NULL);
}

static int lat_child(void *arg)
{
	struct lat_job *job = arg;
	uint64_t *ns = calloc(job->iters, sizeof(*ns));
	uint64_t token = 0, sum = 0, t0;
	pthread_attr_t attr;
	int i;

	if (!ns)
		return 1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	if (job->what == LAT_TOKEN && shstk_alloc(SMALL_SS, SHSTK_ALLOC_TOKEN, NULL, &token))
		return 2;
	if (job->what == LAT_POLICY)
		set_policy(SHSTK_POLICY_FIXED, SMALL_SS, 0);
	/* Check that the case does what it says, then warm the stack cache. */
	if (lat_once(job->what, &attr, token, size_thread, &job->ss_size))
		return 3;
	for (i = 0; i < 100; i++)
		if (lat_once(job->what, &attr, token, nop_thread, NULL))
			return 4;
	for (i = 0; i < job->iters; i++) {
		t0 = now_ns();
		if (lat_once(job->what, &attr, token, nop_thread, NULL))
			return 5;
		ns[i] = now_ns() - t0;
		sum += ns[i];
	}
	job->mean_ns = sum / job->iters;
	job->p99_ns = percentile(ns, job->iters, 99);
	job->median_ns = percentile(ns, job->iters, 50);
	free(ns);
	return 0;
}

static int module_unload(void)
{
	shstk_close();
	return syscall(SYS_delete_module, "shstk", O_NONBLOCK);
}

static int module_load(void)
{
	int fd = open(module_path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	return ret;
}

/* Let the work a module load or unload leaves behind (RCU, frees) settle. */
static void settle(void)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

static void bench_latency(int rep)
{
	struct lat_job *job = shared_page(sizeof(*job));
	double median[NR_LAT_CASES];
	int c;

	/* A fresh module: the hooks the previous run made live are gone. */
	if (module_unload())
		die("delete_module(shstk)");
	settle();
	printf("\n[latency, rep %d] pthread_create+pthread_join, 8 MiB stacks, guest ns\n", rep);
	printf("%-18s %7s %10s %10s %10s %12s\n", "case", "iters", "median", "p99", "mean",
	       "ss size KiB");
	for (c = 0; c < NR_LAT_CASES; c++) {
		*job = (struct lat_job){ .what = c, .iters = quick ? 1000 : 10000 };
		run_child(lat_child, job, true);
		if (c == LAT_NO_MODULE) {
			if (module_load())
				die(module_path);
			settle();
		}
		median[c] = job->median_ns;
		printf("%-18s %7d %10llu %10llu %10llu %12llu\n", lat_name[c], job->iters,
		       (unsigned long long)job->median_ns, (unsigned long long)job->p99_ns,
		       (unsigned long long)job->mean_ns, (unsigned long long)(job->ss_size / KiB));
		printf("@csv latency,%d,%s,%d,%llu,%llu,%llu,%llu\n", rep, lat_name[c], job->iters,
		       (unsigned long long)job->median_ns, (unsigned long long)job->p99_ns,
		       (unsigned long long)job->mean_ns, (unsigned long long)(job->ss_size / KiB));
		record(rep, "ns", job->median_ns, "latency: median, %s", lat_name[c]);
		record(rep, "ns", job->p99_ns, "latency: p99, %s", lat_name[c]);
	}
	record(rep, "x", median[LAT_IDLE] / median[LAT_NO_MODULE],
	       "latency: loaded-idle / no-module");
	record(rep, "x", median[LAT_LIVE_UNARMED] / median[LAT_NO_MODULE],
	       "latency: live-unarmed / no-module");
	/* The kernel's rule with the hooks live, as for the cases compared. */
	record(rep, "x", median[LAT_SIZED] / median[LAT_LIVE_UNARMED],
	       "latency: set-clone-64K / kernel rule");
	record(rep, "x", median[LAT_TOKEN] / median[LAT_LIVE_UNARMED],
	       "latency: token-64K-reused / kernel rule");
	record(rep, "x", median[LAT_POLICY] / median[LAT_LIVE_UNARMED],
	       "latency: policy-fixed-64K / kernel rule");
	munmap(job, sizeof(*job));
}

/* ------------------------------------------------------------------ */
/* 4. The cost of SHSTK_IOC_USAGE on another thread. */

struct usage_job {
	uint64_t ss_size;
	uint64_t depth;		/* bytes of shadow stack the target uses */
	int calls;
	/* out */
	uint64_t median_ns, p99_ns;
	struct shstk_usage u;
};

struct diver {
	struct herd herd;
	unsigned long frames;
	pid_t tid;
};

/* One shadow-stack entry (8 bytes) per level: the call's return address. */
static __attribute__((noinline)) void dive(struct diver *d, unsigned long n)
{
	if (n)
		dive(d, n - 1);
	else
		herd_member(&d->herd);
	/* Not a tail call: the frame must stay on the stack. */
	__asm__ volatile("" ::: "memory");
}

static void *diver_thread(void *arg)
{
	struct diver *d = arg;

	d->tid = gettid();
	dive(d, d->frames);
	return NULL;
}

static int usage_child(void *arg)
{
	struct usage_job *job = arg;
	uint64_t *ns = calloc(job->calls, sizeof(*ns));
	struct diver d = { 0 };
	pthread_attr_t attr;
	pthread_t t;
	uint64_t t0;
	int i;

	if (!ns)
		return 1;
	herd_init(&d.herd);
	/* The frames below dive() (thread start, cond wait) take about 200 bytes. */
	d.frames = job->depth > 256 ? (job->depth - 256) / 8 : 0;
	pthread_attr_init(&attr);
	/* dive() frames are 16 bytes of normal stack per 8 of shadow stack. */
	pthread_attr_setstacksize(&attr, STACK_SIZE + 4 * job->depth);
	if (shstk_pthread_create(&t, &attr, diver_thread, &d, job->ss_size, 0))
		return 2;
	herd_wait(&d.herd, 1);
	for (i = 0; i < job->calls; i++) {
		t0 = now_ns();
		if (shstk_usage(d.tid, &job->u))
			return 3;
		ns[i] = now_ns() - t0;
	}
	herd_release(&d.herd, &t, 1);
	job->p99_ns = percentile(ns, job->calls, 99);
	job->median_ns = percentile(ns, job->calls, 50);
	free(ns);
	return 0;
}

static void usage_point(int rep, const char *series, struct usage_job *job, uint64_t size,
			uint64_t depth)
{
	*job = (struct usage_job){ .ss_size = size, .depth = depth, .calls = quick ? 200 : 2000 };
	run_child(usage_child, job, true);
	printf("%-6s %12llu %10llu %10llu %12llu %10llu %10llu\n", series,
	       (unsigned long long)(size / KiB), (unsigned long long)job->u.used,
	       (unsigned long long)job->u.peak, (unsigned long long)(job->u.resident / KiB),
	       (unsigned long long)job->median_ns, (unsigned long long)job->p99_ns);
	printf("@csv usage,%d,%s,%llu,%llu,%llu,%llu,%llu,%llu\n", rep, series,
	       (unsigned long long)(size / KiB), (unsigned long long)job->u.used,
	       (unsigned long long)job->u.peak, (unsigned long long)(job->u.resident / KiB),
	       (unsigned long long)job->median_ns, (unsigned long long)job->p99_ns);
}

static void bench_usage(int rep)
{
	static const uint64_t sizes[] = { 64 * KiB, 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB };
	static const uint64_t depths[] = { 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB,
					   4 * MiB };
	struct usage_job *job = shared_page(sizeof(*job));
	double first = 0, lo = 0, hi = 0, slope_first = 0, slope_last = 0;
	unsigned int i;

	printf("\n[usage, rep %d] SHSTK_IOC_USAGE of another thread, guest ns per call\n", rep);
	printf("%-6s %12s %10s %10s %12s %10s %10s\n", "series", "ss size KiB", "used", "peak",
	       "resident KiB", "median", "p99");
	/* A 1 GiB shadow stack is more commit than the guest's RAM: mode 1. */
	write_sysctl("/proc/sys/vm/overcommit_memory", 1);
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		usage_point(rep, "size", job, sizes[i], 4 * KiB);
		record(rep, "ns", job->median_ns, "usage: median, size %llu KiB, 4 KiB used",
		       (unsigned long long)(sizes[i] / KiB));
		if (!i)
			lo = hi = first = job->median_ns;
		lo = job->median_ns < lo ? job->median_ns : lo;
		hi = job->median_ns > hi ? job->median_ns : hi;
	}
	record(rep, "x", hi / lo, "usage: max/min over sizes 64K..1G");
	for (i = 0; i < ARRAY_SIZE(depths); i++) {
		usage_point(rep, "depth", job, 8 * MiB, depths[i]);
		record(rep, "ns", job->median_ns, "usage: median, %llu KiB used",
		       (unsigned long long)(depths[i] / KiB));
		/* Marginal cost per KiB between consecutive depths. */
		if (i == 1)
			slope_first = (job->median_ns - first) / ((depths[1] - depths[0]) / KiB);
		if (i == 0)
			first = job->median_ns;
		if (i == ARRAY_SIZE(depths) - 1)
			slope_last = (job->median_ns - first) / ((depths[i] - depths[0]) / KiB);
	}
	record(rep, "ns/KiB", slope_first, "usage: ns per KiB used, 4K..16K");
	record(rep, "ns/KiB", slope_last, "usage: ns per KiB used, 4K..4M");
	write_sysctl("/proc/sys/vm/overcommit_memory", overcommit_saved[0]);
	munmap(job, sizeof(*job));
}

/* ------------------------------------------------------------------ */

struct target {
	const char *what;
	const char *metric;
	bool at_least;		/* value >= limit, else value <= limit */
	double limit;
};

static const struct target targets[] = {
	{ "shadow-stack commit per thread, kernel rule / FIXED 64K (most threads)", NULL, true, 128 },
	{ "threads under strict overcommit, 64K / kernel rule (glibc stacks)",
	  "strict: 64K/kernel thread ratio, glibc stacks", true, 10 },
	{ "threads under strict overcommit, 64K / kernel rule (memfd-lazy stacks)",
	  "strict: 64K/kernel thread ratio, memfd-lazy stacks", true, 10 },
	{ "create+join median, loaded (nothing armed yet) / no-module",
	  "latency: loaded-idle / no-module", false, 1.01 },
	{ "create+join median, SET_CLONE 64K / kernel rule",
	  "latency: set-clone-64K / kernel rule", false, 1.05 },
	{ "USAGE median, max/min over sizes 64K..1G (4 KiB used)",
	  "usage: max/min over sizes 64K..1G", false, 1.1 },
};

/* The commit metric of the largest thread count measured. */
static const char *commit_metric(const char *sizing)
{
	static char name[80];

	snprintf(name, sizeof(name), "commit: ss commit/thread, %s, %d threads", sizing,
		 quick ? 100 : 1000);
	return name;
}

static void summary(void)
{
	unsigned int i;
	int m, rep;

	printf("\n[summary] every metric, both runs, and run 2 / run 1\n");
	printf("%-62s %-7s %12s %12s %8s\n", "metric", "unit", "run 1", "run 2", "2/1");
	for (m = 0; m < nr_metrics; m++) {
		struct metric *x = &metrics[m];

		printf("%-62s %-7s %12.3f %12.3f %8.4f\n", x->name, x->unit, x->v[0], x->v[1],
		       x->v[0] ? x->v[1] / x->v[0] : 0);
		printf("@csv summary,\"%s\",%s,%.4f,%.4f,%.5f\n", x->name, x->unit, x->v[0],
		       x->v[1], x->v[0] ? x->v[1] / x->v[0] : 0);
	}
	printf("\n[targets] from issue 9, checked on both runs\n");
	for (i = 0; i < ARRAY_SIZE(targets); i++) {
		const struct target *t = &targets[i];
		double v[REPS];
		bool met = true;

		for (rep = 1; rep <= REPS; rep++) {
			if (t->metric) {
				v[rep - 1] = metric(t->metric, rep);
			} else {
				double fixed = metric(commit_metric("fixed-64K"), rep);

				v[rep - 1] = fixed > 0 ?
					metric(commit_metric("kernel"), rep) / fixed : -1;
			}
			met &= t->at_least ? v[rep - 1] >= t->limit : v[rep - 1] <= t->limit;
		}
		if (v[0] < 0)
			continue;	/* not measured in this run */
		printf("%-4s %-72s %9.3f %9.3f (%s %g)\n", met ? "met" : "MISS", t->what, v[0], v[1],
		       t->at_least ? ">=" : "<=", t->limit);
		printf("@csv targets,\"%s\",%.4f,%.4f,%s%g,%s\n", t->what, v[0], v[1],
		       t->at_least ? ">=" : "<=", t->limit, met ? "met" : "missed");
	}
}


/* ------------------------------------------------------------------ */
/* 5. measure: what shstkctl measure recommends, and what it saves. */

#define DEPTHS_ARGS	"10:64K 1000:256K 20000:2M"

/* The number after "key": in a JSON text (shstkctl's, flat keys), or 0. */
static unsigned long long json_number(const char *json, const char *key)
{
	char pattern[64];
	const char *p;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	p = strstr(json, pattern);
	return p ? strtoull(p + strlen(pattern), NULL, 10) : 0;
}

/* The JSON string after "key": without its quotes, into buf. */
static void json_text(const char *json, const char *key, char *buf, size_t len)
{
	char pattern[64];
	const char *p, *end;

	snprintf(pattern, sizeof(pattern), "\"%s\":\"", key);
	p = strstr(json, pattern);
	buf[0] = '\0';
	if (!p)
		return;
	p += strlen(pattern);
	end = strchr(p, '"');
	if (end && (size_t)(end - p) < len)
		snprintf(buf, len, "%.*s", (int)(end - p), p);
}

/* "--size 512K" of "shstkctl run --size 512K -- PROG ...". */
static void policy_flags(const char *cmd, char *buf, size_t len)
{
	const char *start = strstr(cmd, "run "), *end = strstr(cmd, " -- ");

	if (start && end && end > start + 4)
		snprintf(buf, len, "%.*s", (int)(end - start - 4), start + 4);
	else
		snprintf(buf, len, "?");
}

/*
 * Committed_AS change while depths's threads wait at their depth
 * (--linger), run by the shell line prefix + depths: KiB, or -1.
 */
static long depths_commit_kib(const char *prefix)
{
	char cmd[512], line[256];
	long before, during = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s./depths --linger 1 " DEPTHS_ARGS, prefix);
	before = committed_kib();
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p))
		if (!strcmp(line, "ready\n"))
			during = committed_kib();
	if (pclose(p) || during < 0)
		return -1;
	return during - before;
}

static void bench_measure(int rep)
{
	char json[8192], size_cmd[256], ratio_cmd[256], prefix[300];
	char size_flags[64], ratio_flags[64];
	const char *rec;
	unsigned long long kernel, fixed, ratio, size;
	long kib_kernel, kib_fixed, kib_ratio;
	size_t len;
	FILE *f;

	printf("\n[measure, rep %d] shstkctl measure -- ./depths " DEPTHS_ARGS "\n", rep);
	if (system("./shstkctl measure --json --output /tmp/measure.json -- ./depths "
		   DEPTHS_ARGS " >/dev/null")) {
		printf("shstkctl measure failed\n");
		return;
	}
	f = fopen("/tmp/measure.json", "r");
	len = f ? fread(json, 1, sizeof(json) - 1, f) : 0;
	if (f)
		fclose(f);
	json[len] = '\0';
	/* Its keys only: "size" is also every thread's. */
	rec = strstr(json, "\"recommendation\":");
	if (!rec) {
		printf("no recommendation in shstkctl's report\n");
		return;
	}
	size = json_number(rec, "size");
	kernel = json_number(rec, "created_commit");
	fixed = json_number(rec, "size_commit");
	ratio = json_number(rec, "ratio_commit");
	json_text(rec, "size_command", size_cmd, sizeof(size_cmd));
	json_text(rec, "ratio_command", ratio_cmd, sizeof(ratio_cmd));
	printf("largest peak %llu bytes; %s; %s\n", json_number(rec, "largest_peak"), size_cmd,
	       ratio_cmd);

	/* The same threads alive: the kernel's rule, then each recommendation. */
	kib_kernel = depths_commit_kib("");
	policy_flags(size_cmd, size_flags, sizeof(size_flags));
	policy_flags(ratio_cmd, ratio_flags, sizeof(ratio_flags));
	snprintf(prefix, sizeof(prefix), "./shstkctl run %s -- ", size_flags);
	kib_fixed = depths_commit_kib(prefix);
	snprintf(prefix, sizeof(prefix), "./shstkctl run %s -- ", ratio_flags);
	kib_ratio = depths_commit_kib(prefix);

	printf("%-24s %26s %26s\n", "3 created threads", "predicted ss commit KiB",
	       "Committed_AS change KiB");
	printf("%-24s %26llu %26ld\n", "kernel's rule", kernel >> 10, kib_kernel);
	printf("%-24s %26llu %26ld\n", size_flags, fixed >> 10, kib_fixed);
	printf("%-24s %26llu %26ld\n", ratio_flags, ratio >> 10, kib_ratio);
	/* Signed: on arm64, whose rule halves the stack, --size can cost more. */
	printf("saved: predicted %lld KiB (%.2fx less), Committed_AS %ld KiB (--size); "
	       "predicted %lld KiB, Committed_AS %ld KiB (ratio)\n",
	       ((long long)kernel - (long long)fixed) / 1024,
	       fixed ? (double)kernel / (double)fixed : 0, kib_kernel - kib_fixed,
	       ((long long)kernel - (long long)ratio) / 1024, kib_kernel - kib_ratio);
	printf("@csv measure,%d,kernel,0,%llu,%ld\n", rep, kernel >> 10, kib_kernel);
	printf("@csv measure,%d,size,%llu,%llu,%ld\n", rep, size, fixed >> 10, kib_fixed);
	printf("@csv measure,%d,ratio,%llu,%llu,%ld\n", rep, json_number(rec, "ratio"),
	       ratio >> 10, kib_ratio);
	record(rep, "KiB", (double)(kib_kernel - kib_fixed),
	       "measure: Committed_AS saved, depths, --size");
	record(rep, "x", fixed ? (double)kernel / (double)fixed : 0,
	       "measure: ss commit, kernel's rule / --size, depths");
}

static const struct {
	const char *name;
	void (*run)(int rep);
} benchmarks[] = {
	{ "commit", bench_commit },
	{ "strict", bench_strict },
	{ "latency", bench_latency },
	{ "usage", bench_usage },
	{ "measure", bench_measure },
};

/* Whether --only names this benchmark (all of them without --only). */
static bool selected(const char *name)
{
	size_t len = strlen(name);
	const char *p;

	if (!only)
		return true;
	for (p = only; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct shstk_info info = { 0 };
	int i, rep;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--module") && i + 1 < argc)
			module_path = argv[++i];
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: shstk_bench [--quick] [--only NAME[,NAME...]] "
				"[--module PATH]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!shstk_hw_available()) {
		fprintf(stderr, "shstk_bench: no %s: run it in the CET or GCS guest\n",
			SHSTK_HW_NAME);
		return 1;
	}
	if (shstk_info(&info))
		die("SHSTK_IOC_INFO");
	shstk_close();
	overcommit_save();
	printf("shstk_bench: shstk ABI %u, features 0x%llx, %d CPU(s), %s run, 8 MiB normal stacks\n",
	       info.abi_version, (unsigned long long)info.features,
	       (int)sysconf(_SC_NPROCESSORS_ONLN), quick ? "quick" : "full");
	if (!quick)
		printf("@csv meta,full\n");

	for (i = 0; i < (int)ARRAY_SIZE(benchmarks); i++) {
		if (!selected(benchmarks[i].name))
			continue;
		for (rep = 1; rep <= REPS; rep++)
			benchmarks[i].run(rep);
	}
	summary();
	overcommit_restore();
	return 0;
}
