// SPDX-License-Identifier: GPL-2.0
/*
 * SHSTK_IOC_USAGE: where a thread's shadow stack is, how much of it is in
 * use now (used), at most ever (peak) and backed by memory (resident), and
 * who chose it (origin). Needs user shadow stacks: SKIP in the QEMU guest,
 * where usage_without_hw_is_eopnotsupp checks the one answer.
 *
 * Exactness: lib/raw.h reads SSP and enters the kernel in one asm
 * statement, so the SSP the module must report is known to the byte, and
 * shstk_recurse() moves it by exactly 8 bytes a level. Code on a shadow
 * stack reports through R and its exit code; the test body asserts.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/child_report.h"
#include "lib/ioc.h"
#include "lib/proc.h"
#include "lib/raw.h"
#include "lib/require.h"
#include "lib/work.h"

#define SZ_64K		(64ULL << 10)
#define SZ_1M		(1ULL << 20)
#define DEPTHS		4

/* One USAGE answer and what it is compared with. */
struct probe {
	long ret;
	struct shstk_usage u;
	uint64_t ssp;			/* SSP at the call */
	uint64_t start, end;		/* the mapping of the thread's SSP */
	bool ss, found;
	uint64_t deepest;		/* lowest SSP the thread ever had */
	long rss;			/* smaps Rss of the mapping */
	pid_t tid;
};

struct report {
	int line, err;
	struct probe p[DEPTHS + 2];
	uint64_t s0[DEPTHS];		/* SSP of the frame that recursed */
	volatile uint64_t blocked_ssp;	/* SSP of a thread blocked in read() */
	volatile pid_t blocked_tid;
	uint64_t ns[2];			/* timings */
	int calls;			/* of that many calls */
	struct probe other;
};

static struct report *R;

static void usage_init(struct shstk_usage *u, uint32_t tid)
{
	memset(u, 0, sizeof(*u));
	u->argsz = sizeof(*u);
	u->tid = tid;
}

/* USAGE of the calling thread at a known SSP, and the mapping of that SSP. */
static void __attribute__((noinline)) probe_self(int fd, struct probe *p)
{
	usage_init(&p->u, 0);
	p->ret = raw_ioctl_at_ssp(fd, SHSTK_IOC_USAGE, &p->u, &p->ssp);
	p->tid = gettid();
	p->found = !shstk_find_ssp_vma(p->ssp, &p->start, &p->end, &p->ss);
}

/* Recurse n levels, then USAGE at the bottom; returns the SSP there. */
static uint64_t __attribute__((noinline)) usage_at_depth(unsigned long n, int fd,
							struct probe *p)
{
	uint64_t ssp;

	if (!n) {
		usage_init(&p->u, 0);
		p->ret = raw_ioctl_at_ssp(fd, SHSTK_IOC_USAGE, &p->u, &p->ssp);
		return p->ssp;
	}
	ssp = usage_at_depth(n - 1, fd, p);
	__asm__ volatile("" : "+r"(ssp) : : "memory");
	return ssp;
}

#define EXPECT_USAGE_OF_MAPPING(p) do {					\
	ASSERT_EQ(0, (p)->ret) TH_LOG("USAGE: %s", strerror(-(p)->ret));	\
	ASSERT_TRUE((p)->found);					\
	EXPECT_EQ(SHSTK_STATUS_ENABLED, (p)->u.status);			\
	EXPECT_EQ((p)->start, (p)->u.base);				\
	EXPECT_EQ((p)->end - (p)->start, (p)->u.size);			\
	EXPECT_EQ(0, (p)->u.install_errno);				\
} while (0)

/* A pthread running fn(arg), joined. */
static int run_pthread(void *(*fn)(void *), void *arg)
{
	pthread_t th;
	int ret = pthread_create(&th, NULL, fn, arg);

	return ret ? -ret : -pthread_join(th, NULL);
}

static int open_dev(void)
{
	int fd = shstk_dev_open();

	return fd < 0 ? -errno : fd;
}

TEST(info_advertises_usage)
{
	ASSERT_FEATURE(SHSTK_FEAT_USAGE);
}

TEST(usage_without_hw_is_eopnotsupp)
{
	struct shstk_usage u = { .argsz = sizeof(u) };

	ASSERT_EOPNOTSUPP_WITHOUT_HW(SHSTK_IOC_USAGE, &u);
}

/* The test body runs without a shadow stack, and so does the harness (our parent). */
TEST(thread_without_shadow_stack_reads_all_zero)
{
	pid_t tids[] = { 0, gettid(), getppid() };
	struct shstk_usage u;
	size_t i;
	int fd;

	REQUIRE_SHSTK();
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	for (i = 0; i < sizeof(tids) / sizeof(tids[0]); i++) {
		/* Garbage in every output field: all must be written. */
		memset(&u, 0xa5, sizeof(u));
		u.argsz = sizeof(u);
		u.flags = 0;
		u.tid = tids[i];
		ASSERT_EQ(0, shstk_ioc(fd, SHSTK_IOC_USAGE, &u)) TH_LOG("tid %d", tids[i]);
		EXPECT_EQ(0, u.status);
		EXPECT_EQ(0, u.base);
		EXPECT_EQ(0, u.size);
		EXPECT_EQ(0, u.ssp);
		EXPECT_EQ(0, u.used);
		EXPECT_EQ(0, u.peak);
		EXPECT_EQ(0, u.resident);
		EXPECT_EQ(SHSTK_ORIGIN_NONE, u.origin);
		EXPECT_EQ(0, u.install_errno);
	}
	close(fd);
}

static void *self_thread(void *arg)
{
	int fd = open_dev();

	if (fd >= 0) {
		probe_self(fd, &R->p[0]);
		close(fd);
	}
	return NULL;
}

static int self_in_thread(void *arg)
{
	CHECK(run_pthread(self_thread, NULL));
	return 0;
}

TEST(own_thread_matches_its_mapping)
{
	struct probe *p;

	REQUIRE_SHSTK();
	NEW_REPORT();
	p = &R->p[0];
	ASSERT_CHILD_OK(shstk_run(self_in_thread, NULL));
	EXPECT_USAGE_OF_MAPPING(p);
	EXPECT_TRUE(p->ss);
}

TEST(ssp_and_used_are_exact_at_the_call)
{
	struct probe *p;

	REQUIRE_SHSTK();
	NEW_REPORT();
	p = &R->p[0];
	ASSERT_CHILD_OK(shstk_run(self_in_thread, NULL));
	ASSERT_EQ(0, p->ret);
	EXPECT_EQ(p->ssp, p->u.ssp);
	EXPECT_EQ(p->u.base + p->u.size - p->ssp, p->u.used);
}

static const unsigned long depths[DEPTHS] = { 0, 10, 100, 1000 };

static void *depth_thread(void *arg)
{
	int fd = open_dev(), i;

	if (fd < 0)
		return NULL;
	for (i = 0; i < DEPTHS; i++) {
		R->s0[i] = shstk_get_ssp();
		usage_at_depth(depths[i], fd, &R->p[i]);
	}
	probe_self(fd, &R->p[DEPTHS]);
	close(fd);
	return NULL;
}

static int depth_in_thread(void *arg)
{
	CHECK(run_pthread(depth_thread, NULL));
	return 0;
}

/* From a known frame, depth D puts SSP exactly 8 * (D + 1) bytes lower. */
TEST(used_is_exact_at_known_depths)
{
	uint64_t top, ssp;
	int i;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(depth_in_thread, NULL));
	ASSERT_EQ(0, R->p[DEPTHS].ret);
	top = R->p[DEPTHS].u.base + R->p[DEPTHS].u.size;
	for (i = 0; i < DEPTHS; i++) {
		ssp = R->s0[i] - 8 * (depths[i] + 1);
		ASSERT_EQ(0, R->p[i].ret) TH_LOG("depth %lu", depths[i]);
		EXPECT_EQ(ssp, R->p[i].ssp);
		EXPECT_EQ(ssp, R->p[i].u.ssp) TH_LOG("depth %lu", depths[i]);
		EXPECT_EQ(top - ssp, R->p[i].u.used) TH_LOG("depth %lu", depths[i]);
	}
}

/* Deep, then shallow: the shallow answer still has the deep peak. */
#define PEAK_DEPTH	2000UL

static void *peak_thread(void *arg)
{
	int fd = open_dev();

	if (fd < 0)
		return NULL;
	/* Deeper than anything glibc did on this fresh stack before. */
	R->p[0].deepest = shstk_recurse(PEAK_DEPTH);
	shstk_recurse(100);
	usage_at_depth(10, fd, &R->p[0]);
	/* The mapping and its Rss, from calls shallower than PEAK_DEPTH: no new page. */
	R->p[0].found = !shstk_find_ssp_vma(R->p[0].ssp, &R->p[0].start, &R->p[0].end,
					    &R->p[0].ss);
	R->p[0].rss = proc_vma_rss(R->p[0].start);
	probe_self(fd, &R->p[1]);
	close(fd);
	return NULL;
}

static int peak_in_thread(void *arg)
{
	CHECK(run_pthread(peak_thread, NULL));
	return 0;
}

TEST(peak_is_the_deepest_ssp_ever)
{
	struct probe *p;
	uint64_t top;

	REQUIRE_SHSTK();
	NEW_REPORT();
	p = &R->p[0];
	ASSERT_CHILD_OK(shstk_run(peak_in_thread, NULL));
	ASSERT_EQ(0, p->ret);
	top = p->u.base + p->u.size;
	EXPECT_EQ(top - p->deepest, p->u.peak)
		TH_LOG("deepest ssp %#llx, top %#llx", (unsigned long long)p->deepest,
		       (unsigned long long)top);
	EXPECT_LT(p->u.used, p->u.peak);
	/* Later, shallower calls do not lower it. */
	EXPECT_EQ(p->u.peak, R->p[1].u.peak);
}

/* The same on a caller-made stack, whose top is just above its token. */
static int token_peak_in_thread(void *arg)
{
	struct shstk_alloc a;
	int fd;

	CHECK((fd = open_dev()) < 0 ? fd : 0);
	CHECK(shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a));
	CHECK(shstk_set_clone(fd, 0, 0, a.token));
	R->other.start = a.addr;
	R->other.end = a.token + 8;
	CHECK(run_pthread(peak_thread, NULL));
	return 0;
}

TEST(peak_on_a_token_stack_is_the_deepest_ssp_ever)
{
	struct probe *p;

	REQUIRE_SHSTK();
	NEW_REPORT();
	p = &R->p[0];
	ASSERT_CHILD_OK(shstk_run(token_peak_in_thread, NULL));
	ASSERT_EQ(0, p->ret);
	EXPECT_EQ(SHSTK_ORIGIN_TOKEN, p->u.origin);
	EXPECT_EQ(R->other.start, p->u.base);
	EXPECT_EQ(R->other.end, p->u.base + p->u.size);
	EXPECT_EQ(R->other.end - p->deepest, p->u.peak)
		TH_LOG("deepest ssp %#llx, top %#llx", (unsigned long long)p->deepest,
		       (unsigned long long)R->other.end);
	EXPECT_EQ(R->other.end - p->ssp, p->u.used);
	EXPECT_LT(p->u.used, p->u.peak);
	EXPECT_EQ(p->u.peak, R->p[1].u.peak);
}

TEST(resident_is_whole_pages_and_equals_smaps_rss)
{
	struct probe *p;
	uint64_t top, touched;

	REQUIRE_SHSTK();
	NEW_REPORT();
	p = &R->p[0];
	ASSERT_CHILD_OK(shstk_run(peak_in_thread, NULL));
	ASSERT_EQ(0, p->ret);
	ASSERT_TRUE(p->found);
	top = p->u.base + p->u.size;
	touched = top - (p->deepest & ~(PAGE_SZ - 1));
	EXPECT_EQ(0, p->u.resident % PAGE_SZ);
	EXPECT_LE(touched, p->u.resident);
	EXPECT_GE(p->u.size, p->u.resident);
	EXPECT_EQ(p->rss, (long)p->u.resident);
	TH_LOG("size %llu KiB, peak %llu B, resident %llu KiB, smaps Rss %ld KiB",
	       (unsigned long long)p->u.size >> 10, (unsigned long long)p->u.peak,
	       (unsigned long long)p->u.resident >> 10, p->rss >> 10);
}

/* A thread that records its stack, then blocks in read() at a published SSP. */
struct blocked {
	int fd;			/* read end of a pipe */
	uint64_t start, end;
	bool ss, found;
	unsigned long depth;
	volatile uint64_t ssp;
	volatile pid_t tid;
};

static uint64_t __attribute__((noinline)) block_at_depth(unsigned long n, struct blocked *b)
{
	uint64_t ssp;
	char c;

	if (!n) {
		raw_read_at_ssp(b->fd, &c, 1, &b->ssp);
		return b->ssp;
	}
	ssp = block_at_depth(n - 1, b);
	__asm__ volatile("" : "+r"(ssp) : : "memory");
	return ssp;
}

static void *blocked_thread(void *arg)
{
	struct blocked *b = arg;
	uint64_t ssp = shstk_get_ssp();

	b->found = !shstk_find_ssp_vma(ssp, &b->start, &b->end, &b->ss);
	b->tid = gettid();
	block_at_depth(b->depth, b);
	return NULL;
}

/* Start a blocked thread; wait until it sleeps in read(). */
static int start_blocked(pthread_t *th, struct blocked *b, int rfd, unsigned long depth)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->fd = rfd;
	b->depth = depth;
	ret = pthread_create(th, NULL, blocked_thread, b);
	if (ret)
		return -ret;
	while (!b->ssp)
		sched_yield();
	return proc_wait_sleeping(getpid(), b->tid) ? 0 : -ETIMEDOUT;
}

static int other_thread(void *arg)
{
	struct blocked b;
	int fd, pipefd[2];
	pthread_t th;

	CHECK((fd = open_dev()) < 0 ? fd : 0);
	CHECK(pipe(pipefd) ? -errno : 0);
	CHECK(start_blocked(&th, &b, pipefd[0], 100));
	R->other.ret = shstk_usage(fd, b.tid, &R->other.u);
	R->other.ssp = b.ssp;
	R->other.start = b.start;
	R->other.end = b.end;
	R->other.found = b.found;
	CHECK(write(pipefd[1], "x", 1) == 1 ? 0 : -EIO);
	CHECK(-pthread_join(th, NULL));
	return 0;
}

TEST(other_thread_by_tid)
{
	struct probe *p;

	REQUIRE_SHSTK();
	ASSERT_KERNEL_RULE();
	NEW_REPORT();
	p = &R->other;
	ASSERT_CHILD_OK(shstk_run(other_thread, NULL));
	EXPECT_USAGE_OF_MAPPING(p);
	/* Saved while it sleeps: exactly the SSP of its read() call. */
	EXPECT_EQ(p->ssp, p->u.ssp);
	EXPECT_EQ(p->end - p->ssp, p->u.used);
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, p->u.origin);
}

/*
 * USAGE right after a thread blocks: /proc shows it sleeping as soon as it
 * sets its state, before the switch that saves its SSP has run on its
 * CPU. On two CPUs USAGE would read the SSP saved at its previous switch
 * unless the module waits for that switch. No sleep between the polls:
 * the sooner USAGE comes, the wider the window.
 */
#define JUST_BLOCKED_ROUNDS 40

static int just_blocked(void *arg)
{
	int fd, pipefd[2], round;
	struct shstk_usage u;
	struct blocked b;
	pthread_t th;

	CHECK((fd = open_dev()) < 0 ? fd : 0);
	CHECK(pipe(pipefd) ? -errno : 0);
	for (round = 0; round < JUST_BLOCKED_ROUNDS; round++) {
		memset(&b, 0, sizeof(b));
		b.fd = pipefd[0];
		b.depth = 1 + round % 8;
		CHECK(-pthread_create(&th, NULL, blocked_thread, &b));
		while (!b.ssp)
			;
		while (proc_task_state(getpid(), b.tid) != 'S')
			;
		CHECK(shstk_usage(fd, b.tid, &u));
		R->calls = round;
		R->p[0].ssp = b.ssp;
		R->p[0].u = u;
		CHECK_TRUE(u.ssp == b.ssp);
		CHECK(write(pipefd[1], "x", 1) == 1 ? 0 : -EIO);
		CHECK(-pthread_join(th, NULL));
	}
	R->calls = round;
	return 0;
}

TEST(usage_right_after_a_thread_blocks_has_its_blocked_ssp)
{
	int status;

	REQUIRE_SHSTK();
	NEW_REPORT();
	status = shstk_run(just_blocked, NULL);
	EXPECT_EQ(R->p[0].ssp, R->p[0].u.ssp)
		TH_LOG("round %d: USAGE read an SSP saved before the thread blocked", R->calls);
	ASSERT_CHILD_OK(status);
	EXPECT_EQ(JUST_BLOCKED_ROUNDS, R->calls);
}

/* A process with its shadow stack on, blocked in read(rfd) at a published SSP. */
static pid_t spawn_blocked_process(int rfd)
{
	pid_t pid;
	char c;

	fflush(NULL);
	pid = fork();
	if (pid)
		return pid;
	if (SHSTK_ENABLE_HERE())
		_exit(SHSTK_RUN_NO_ENABLE);
	/* This frame never returns; calls from here on are fine. */
	R->other.found = !shstk_find_ssp_vma(shstk_get_ssp(), &R->other.start, &R->other.end,
					     &R->other.ss);
	R->blocked_tid = gettid();
	raw_read_at_ssp(rfd, &c, 1, &R->blocked_ssp);
	_exit(0);
}

static bool wait_blocked(pid_t pid)
{
	while (!R->blocked_ssp) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return false;
		sched_yield();
	}
	return proc_wait_sleeping(pid, pid);
}

TEST(other_process_by_tid_as_root)
{
	struct probe *p;
	int fd, pipefd[2], status;
	pid_t pid;

	REQUIRE_SHSTK();
	ASSERT_KERNEL_RULE();
	NEW_REPORT();
	p = &R->other;
	ASSERT_EQ(0, geteuid()) TH_LOG("runs as root in the guests");
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe(pipefd));
	pid = spawn_blocked_process(pipefd[0]);
	ASSERT_LT(0, pid);
	ASSERT_TRUE(wait_blocked(pid));
	p->ret = shstk_usage(fd, pid, &p->u);
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_USAGE_OF_MAPPING(p);
	EXPECT_EQ(R->blocked_ssp, p->u.ssp);
	EXPECT_EQ(p->end - R->blocked_ssp, p->u.used);
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, p->u.origin);
	close(fd);
}

/* Another user's process: the caller could not ptrace it, so EPERM. */
TEST(other_process_without_ptrace_rights_is_eperm)
{
	int pipefd[2], status;
	pid_t pid, asker;
	long *ret;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_EQ(0, geteuid()) TH_LOG("runs as root in the guests");
	ret = &R->other.ret;
	ASSERT_EQ(0, pipe(pipefd));
	pid = spawn_blocked_process(pipefd[0]);
	ASSERT_LT(0, pid);
	ASSERT_TRUE(wait_blocked(pid));
	asker = fork();
	ASSERT_LE(0, asker);
	if (asker == 0) {
		struct shstk_usage u;
		int fd;

		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(2);
		fd = shstk_dev_open();
		if (fd < 0)
			_exit(3);
		*ret = shstk_usage(fd, pid, &u);
		_exit(0);
	}
	ASSERT_EQ(asker, waitpid(asker, &status, 0));
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	waitpid(pid, NULL, 0);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("status %#x", status);
	EXPECT_EQ(-EPERM, *ret);
}

TEST(missing_tid_is_esrch)
{
	struct shstk_usage u;
	int fd, status;
	pid_t gone;

	REQUIRE_SHSTK();
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	gone = fork();
	ASSERT_LE(0, gone);
	if (gone == 0)
		_exit(0);
	ASSERT_EQ(gone, waitpid(gone, &status, 0));
	EXPECT_EQ(-ESRCH, shstk_usage(fd, gone, &u)) TH_LOG("reaped pid %d", gone);
	/* Above PID_MAX_LIMIT: never a task. */
	EXPECT_EQ(-ESRCH, shstk_usage(fd, 0x3fffffff, &u));
	EXPECT_EQ(-ESRCH, shstk_usage(fd, 0xffffffff, &u));
	close(fd);
}

/* origin: who chose the thread's shadow stack. */
static int origins(void *arg)
{
	long which = (long)arg;
	struct shstk_alloc a;
	int fd;

	CHECK((fd = open_dev()) < 0 ? fd : 0);
	switch (which) {
	case 0:	/* arch_prctl() enabled this one; the thread gets the kernel's rule */
		probe_self(fd, &R->p[1]);
		break;
	case 1:
		CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
		break;
	case 2:
		CHECK(shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a));
		CHECK(shstk_set_clone(fd, 0, 0, a.token));
		R->p[1].start = a.addr;
		break;
	}
	CHECK(run_pthread(self_thread, NULL));
	return 0;
}

TEST(origin_is_kernel_for_default_threads)
{
	REQUIRE_SHSTK();
	ASSERT_KERNEL_RULE();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(origins, (void *)0));
	EXPECT_USAGE_OF_MAPPING(&R->p[0]);
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, R->p[0].u.origin);
	EXPECT_USAGE_OF_MAPPING(&R->p[1]);
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, R->p[1].u.origin) TH_LOG("arch_prctl-enabled thread");
}

TEST(origin_is_sized_for_an_armed_thread)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(origins, (void *)1));
	EXPECT_USAGE_OF_MAPPING(&R->p[0]);
	EXPECT_EQ(SZ_64K, R->p[0].u.size);
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, R->p[0].u.origin);
}

TEST(origin_is_token_for_a_token_thread)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(origins, (void *)2));
	EXPECT_USAGE_OF_MAPPING(&R->p[0]);
	EXPECT_EQ(R->p[1].start, R->p[0].u.base);
	EXPECT_EQ(SZ_64K, R->p[0].u.size);
	EXPECT_EQ(SHSTK_ORIGIN_TOKEN, R->p[0].u.origin);
}

/*
 * F8's case and the huge-zero-page one are x86's for now: they write
 * shadow-stack memory with WRSS and run a thread in assembly that never
 * pushes. The arm64 form (GCSSTR,
 * its own idle thread) belongs behind tests/lib/arch.h with the rest of
 * the GCS port.
 */
#if defined(__x86_64__)
/* struct clone_args, version 0 (CLONE_ARGS_SIZE_VER0 = 64 bytes). */
struct idle_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/*
 * A thread that never touches a stack: it yields until *go, then exits.
 * Not one push on its shadow stack, as a new thread stopped before its
 * first instruction. Returns the tid or -errno; *tid is cleared at exit.
 */
static long idle_thread(volatile int *go, volatile int *tid)
{
	struct idle_clone_args args = {
		.flags = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_FS |
			 CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID,
		.child_tid = (uintptr_t)tid, .parent_tid = (uintptr_t)tid,
	};
	register long rax __asm__("rax") = __NR_clone3;
	register long rdi __asm__("rdi") = (long)&args;
	register long rsi __asm__("rsi") = sizeof(args);
	register long r12 __asm__("r12") = (long)go;

	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 2f\n"
			 "1:\n\t"
			 "movl %[nr_yield], %%eax\n\t"
			 "syscall\n\t"
			 "cmpl $0, (%%r12)\n\t"
			 "je 1b\n\t"
			 "xorl %%edi, %%edi\n\t"
			 "movl %[nr_exit], %%eax\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "2:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r12), [nr_yield] "i"(__NR_sched_yield),
			   [nr_exit] "i"(__NR_exit)
			 : "rcx", "r11", "memory", "cc");
	return rax;
}

/* WRSS: one 8-byte store into shadow-stack memory (ARCH_SHSTK_WRSS on). */
static void wrss(uint64_t addr, uint64_t value)
{
	__asm__ volatile("wrssq %[v], (%[a])" : : [v] "r"(value), [a] "r"(addr) : "memory");
}

/*
 * A token in the middle of a page, as SAVEPREVSSP leaves one, with older
 * entries above it: a thread started on it has its top mid-page, and the
 * slots above the top are not its.
 */
static int mid_page_token(void *arg)
{
	volatile int go = 0, tid = 0;
	struct shstk_alloc a;
	uint64_t token;
	long ret;
	int fd;

	CHECK((fd = open_dev()) < 0 ? fd : 0);
	CHECK(SHSTK_ARCH_PRCTL(ARCH_SHSTK_ENABLE, ARCH_SHSTK_WRSS));
	CHECK(shstk_alloc(fd, SZ_64K, 0, &a));
	token = a.addr + SZ_64K - 2048;
	wrss(token + 16, 0x1234);		/* an older stack's entry */
	wrss(token, (token + 8) | 1);		/* the restore token */
	CHECK(shstk_set_clone(fd, 0, 0, token));
	ret = idle_thread(&go, &tid);
	CHECK(ret < 0 ? ret : 0);
	R->p[0].tid = ret;
	R->p[0].ret = shstk_usage(fd, ret, &R->p[0].u);
	R->p[1].start = a.addr;
	R->p[1].ssp = token + 8;
	go = 1;
	while (tid)
		raw_syscall3(__NR_sched_yield, 0, 0, 0);
	return 0;
}

TEST(peak_ignores_slots_above_a_mid_page_top)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(mid_page_token, NULL));
	ASSERT_EQ(0, R->p[0].ret);
	EXPECT_EQ(SHSTK_ORIGIN_TOKEN, R->p[0].u.origin);
	EXPECT_EQ(R->p[1].start, R->p[0].u.base);
	EXPECT_EQ(R->p[1].ssp, R->p[0].u.base + R->p[0].u.size);
	EXPECT_EQ(R->p[1].ssp, R->p[0].u.ssp);
	EXPECT_EQ(0, R->p[0].u.used);
	/* Nothing below the top was ever written: no wrap-around to 2^64 - 8. */
	EXPECT_EQ(0, R->p[0].u.peak) TH_LOG("peak %#llx", (unsigned long long)R->p[0].u.peak);
}

/*
 * Reading a shadow stack that was never written maps zero pages, in a
 * 2 MiB-aligned block the huge zero page (THP "always", Debian's
 * default): none of that is resident use. A 4 MiB token stack at a
 * 2 MiB-aligned address whose upper block is all in use (written page by
 * page with WRSS), a thread on it, and the lower block read end to end:
 * the scan walks the upper block and must stop at the lower one.
 */
#define SZ_2M	(2ULL << 20)

static int read_but_never_written(void *arg)
{
	volatile int go = 0, tid = 0;
	uint64_t addr, base, sum = 0;
	long ret;
	void *v;
	int fd;

	CHECK((fd = open_dev()) < 0 ? fd : 0);
	v = mmap(NULL, 3 * SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(v == MAP_FAILED ? -errno : 0);
	base = ((uintptr_t)v + SZ_2M - 1) & ~(SZ_2M - 1);
	CHECK(munmap(v, 3 * SZ_2M) ? -errno : 0);
	ret = raw_syscall3(__NR_map_shadow_stack, (long)base, 2 * SZ_2M, SHADOW_STACK_SET_TOKEN);
	CHECK(ret < 0 ? ret : 0);
	CHECK_TRUE((uint64_t)ret == base);
	/* The upper block in use, page by page: the scan walks all of it. */
	CHECK(SHSTK_ARCH_PRCTL(ARCH_SHSTK_ENABLE, ARCH_SHSTK_WRSS));
	for (addr = base + SZ_2M; addr < base + 2 * SZ_2M; addr += PAGE_SZ)
		wrss(addr, 1);
	CHECK(shstk_set_clone(fd, 0, 0, base + 2 * SZ_2M - 8));
	ret = idle_thread(&go, &tid);
	CHECK(ret < 0 ? ret : 0);
	R->p[0].ret = shstk_usage(fd, ret, &R->p[0].u);
	for (addr = base; addr < base + SZ_2M; addr += PAGE_SZ)
		sum += *(volatile uint64_t *)(uintptr_t)addr;
	R->p[1].ret = shstk_usage(fd, ret, &R->p[1].u);
	R->p[1].rss = proc_vma_rss(base);
	R->p[1].deepest = sum;
	go = 1;
	while (tid)
		raw_syscall3(__NR_sched_yield, 0, 0, 0);
	return 0;
}

#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
#define THP_ZERO_PAGE "/sys/kernel/mm/transparent_hugepage/use_zero_page"

/* "[always] madvise never" -> "always"; empty if unreadable. */
static void thp_mode(char *mode, size_t size)
{
	char line[128] = "", *l, *r;
	FILE *f = fopen(THP_ENABLED, "r");

	mode[0] = '\0';
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (l = strchr(line, '[')) && (r = strchr(l, ']'))) {
		*r = '\0';
		snprintf(mode, size, "%s", l + 1);
	}
	fclose(f);
}

static int thp_set(const char *mode)
{
	FILE *f = fopen(THP_ENABLED, "w");
	int ret;

	if (!f)
		return -errno;
	ret = fputs(mode, f) < 0;
	ret |= fclose(f) != 0;
	return ret ? -EIO : 0;
}

TEST(zero_pages_a_read_mapped_are_not_resident)
{
	char mode[32];
	long zero;
	int st;

	REQUIRE_SHSTK();
	NEW_REPORT();
	/*
	 * The kernel turns THP off by default below 512 MiB of RAM (the
	 * guest has 512 MiB, a little less usable); Debian's default,
	 * always, is put back for this test.
	 */
	thp_mode(mode, sizeof(mode));
	ASSERT_NE(0, mode[0]) TH_LOG("no %s", THP_ENABLED);
	zero = proc_read_long(THP_ZERO_PAGE);
	ASSERT_LE(0, zero);
	ASSERT_EQ(0, thp_set("always"));
	/* That turned the huge zero page off too: a read fault maps it again. */
	ASSERT_EQ(0, proc_write_long(THP_ZERO_PAGE, 1));
	st = shstk_run(read_but_never_written, NULL);
	EXPECT_EQ(0, thp_set(mode));
	EXPECT_EQ(0, proc_write_long(THP_ZERO_PAGE, zero));
	ASSERT_CHILD_OK(st);
	ASSERT_EQ(0, R->p[0].ret);
	ASSERT_EQ(0, R->p[1].ret);
	EXPECT_EQ(0, R->p[1].deepest);
	TH_LOG("size %llu KiB; resident %llu KiB before the reads, %llu KiB after; smaps Rss %ld KiB",
	       (unsigned long long)R->p[0].u.size >> 10,
	       (unsigned long long)R->p[0].u.resident >> 10,
	       (unsigned long long)R->p[1].u.resident >> 10, R->p[1].rss >> 10);
	EXPECT_EQ(2 * SZ_1M, R->p[0].u.resident);
	/* The huge zero page is no memory of the thread's: smaps agrees. */
	EXPECT_EQ(R->p[0].u.resident, R->p[1].u.resident);
	EXPECT_EQ((long)R->p[1].u.resident, R->p[1].rss);
}
#endif /* __x86_64__ */

static int locked(void *arg)
{
	int fd;

	CHECK((fd = open_dev()) < 0 ? fd : 0);
	CHECK(SHSTK_LOCK_HERE());
	probe_self(fd, &R->p[0]);
	return 0;
}

TEST(locked_shadow_stack_reports_locked)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(locked, NULL));
	ASSERT_EQ(0, R->p[0].ret);
	EXPECT_EQ(SHSTK_STATUS_ENABLED | SHSTK_STATUS_LOCKED, R->p[0].u.status);
}

/*
 * Cost grows with the peak, not the size: a 1 GiB and a 64 KiB shadow
 * stack with the same use answer in comparable time. The 1 GiB stack is
 * charged 1 GiB of commit, more than the CET guest's RAM, which the
 * default heuristic overcommit (mode 0) refuses for one mapping: the test
 * sets vm.overcommit_memory to 1 and restores it after.
 */
#define COST_CALLS	1000
#define COST_PROBE	5
#define COST_ROUNDS	3
#define COST_DEPTH	1000UL

FIXTURE(overcommit) {
	long saved;
};

FIXTURE_SETUP(overcommit)
{
	self->saved = -1;
	REQUIRE_SHSTK();
	self->saved = proc_read_long(OVERCOMMIT_PATH);
	ASSERT_LE(0, self->saved);
	ASSERT_EQ(0, proc_write_long(OVERCOMMIT_PATH, 1)) TH_LOG("needs root");
}

FIXTURE_TEARDOWN(overcommit)
{
	if (self->saved >= 0)
		proc_write_long(OVERCOMMIT_PATH, self->saved);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static long time_usage(int fd, pid_t tid, int calls, uint64_t *ns)
{
	struct shstk_usage u;
	uint64_t t0;
	long ret;
	int i;

	t0 = now_ns();
	for (i = 0; i < calls; i++) {
		ret = shstk_usage(fd, tid, &u);
		if (ret)
			return ret;
	}
	*ns = now_ns() - t0;
	return 0;
}

/*
 * Two threads, armed with sizes[i], blocked in read() depths[i] calls
 * deep; R->p[i].u is USAGE of each and R->ns[i] the best of COST_ROUNDS
 * interleaved rounds of `calls` USAGE calls on it (a guest timer tick is
 * not the module). With `probe` calls first (also a warm-up), the rounds
 * are skipped when thread 0 already costs 10 times thread 1: a scan that
 * followed the size would take minutes of emulated time on 1 GiB.
 */
static int time_two_blocked(const uint64_t sizes[2], const unsigned long depths[2], int probe,
			    int calls)
{
	struct blocked b[2];
	int fd, pipefd[2], i, round;
	pthread_t th[2];
	uint64_t ns;

	CHECK((fd = open_dev()) < 0 ? fd : 0);
	CHECK(pipe(pipefd) ? -errno : 0);
	for (i = 0; i < 2; i++) {
		CHECK(shstk_set_clone(fd, 0, sizes[i], 0));
		CHECK(start_blocked(&th[i], &b[i], pipefd[0], depths[i]));
		CHECK(shstk_usage(fd, b[i].tid, &R->p[i].u));
	}
	R->calls = probe;
	for (i = 0; i < 2 && probe; i++)
		CHECK(time_usage(fd, b[i].tid, probe, &R->ns[i]));
	if (!probe || R->ns[0] < 10 * R->ns[1]) {
		R->calls = calls;
		R->ns[0] = R->ns[1] = UINT64_MAX;
		for (round = 0; round < COST_ROUNDS; round++) {
			for (i = 0; i < 2; i++) {
				CHECK(time_usage(fd, b[i].tid, calls, &ns));
				if (ns < R->ns[i])
					R->ns[i] = ns;
			}
		}
	}
	for (i = 0; i < 2; i++)
		CHECK(write(pipefd[1], "x", 1) == 1 ? 0 : -EIO);
	for (i = 0; i < 2; i++)
		CHECK(-pthread_join(th[i], NULL));
	return 0;
}

static int cost(void *arg)
{
	static const uint64_t sizes[2] = { SZ_1G, SZ_64K };
	static const unsigned long depths[2] = { COST_DEPTH, COST_DEPTH };

	return time_two_blocked(sizes, depths, COST_PROBE, COST_CALLS);
}

TEST_F_TIMEOUT(overcommit, cost_grows_with_the_peak_not_the_size, 120)
{
	double ratio;

	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(cost, NULL));
	EXPECT_EQ(SZ_1G, R->p[0].u.size);
	EXPECT_EQ(SZ_64K, R->p[1].u.size);
	/* Same use on both. */
	EXPECT_EQ(R->p[0].u.used, R->p[1].u.used);
	EXPECT_EQ(R->p[0].u.peak, R->p[1].u.peak);
	ratio = (double)R->ns[0] / (double)R->ns[1];
	TH_LOG("%d USAGE calls (best of %d): 1 GiB stack %llu us, 64 KiB stack %llu us, "
	       "ratio %.3f; peak %llu B, resident %llu / %llu KiB", R->calls,
	       R->calls == COST_CALLS ? COST_ROUNDS : 1,
	       (unsigned long long)R->ns[0] / 1000, (unsigned long long)R->ns[1] / 1000, ratio,
	       (unsigned long long)R->p[0].u.peak, (unsigned long long)R->p[0].u.resident >> 10,
	       (unsigned long long)R->p[1].u.resident >> 10);
	EXPECT_EQ(COST_CALLS, R->calls);
	EXPECT_LT(ratio, 1.5);
}

/*
 * The other half: on stacks of one size, the cost follows the peak. Two
 * 1 MiB threads block in read(), one 100 calls deep (peak under 1 KiB),
 * one 50,000 deep (about 400 KiB); the scan walks the used pages only.
 */
#define SHALLOW_DEPTH	100UL
#define DEEP_DEPTH	50000UL
#define PEAK_CALLS	100

static int cost_by_peak(void *arg)
{
	static const uint64_t sizes[2] = { SZ_1M, SZ_1M };
	static const unsigned long depths[2] = { SHALLOW_DEPTH, DEEP_DEPTH };

	return time_two_blocked(sizes, depths, 0, PEAK_CALLS);
}

TEST(cost_follows_the_peak_on_stacks_of_one_size)
{
	double ratio;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(cost_by_peak, NULL));
	EXPECT_EQ(SZ_1M, R->p[0].u.size);
	EXPECT_EQ(SZ_1M, R->p[1].u.size);
	EXPECT_GT(1024, R->p[0].u.peak);
	EXPECT_LE(DEEP_DEPTH * 8, R->p[1].u.peak);
	ratio = (double)R->ns[1] / (double)R->ns[0];
	TH_LOG("%d USAGE calls (best of %d): peak %llu B %llu us, peak %llu KiB %llu us, "
	       "ratio %.1f", R->calls, COST_ROUNDS, (unsigned long long)R->p[0].u.peak,
	       (unsigned long long)R->ns[0] / 1000, (unsigned long long)R->p[1].u.peak >> 10,
	       (unsigned long long)R->ns[1] / 1000, ratio);
	/* About 100 pages to scan against one: far more than noise. */
	EXPECT_LT(4.0, ratio);
}

TEST(unknown_flags_are_einval)
{
	struct shstk_usage u;
	int fd, bit;

	REQUIRE_SHSTK();
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	for (bit = 0; bit < 32; bit++) {
		usage_init(&u, 0);
		u.flags = 1U << bit;
		EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_USAGE, &u)) TH_LOG("flag bit %d", bit);
	}
	close(fd);
}

TEST(argsz_rules)
{
	uint32_t small[] = { 0, 8, 12, SHSTK_USAGE_SIZE_VER1 - 8, SHSTK_USAGE_SIZE_VER1 - 1 };
	unsigned char buf[sizeof(struct shstk_usage) + 16];
	struct shstk_usage *u = (struct shstk_usage *)buf;
	size_t i;
	int fd;

	REQUIRE_SHSTK();
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		memset(buf, 0, sizeof(buf));
		u->argsz = small[i];
		EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_USAGE, u)) TH_LOG("argsz %u", small[i]);
	}
	memset(buf, 0, sizeof(buf));
	u->argsz = sizeof(buf);
	buf[sizeof(*u) + 9] = 1;
	EXPECT_EQ(-E2BIG, shstk_ioc(fd, SHSTK_IOC_USAGE, u));
	buf[sizeof(*u) + 9] = 0;
	EXPECT_EQ(0, shstk_ioc(fd, SHSTK_IOC_USAGE, u));
	EXPECT_EQ(sizeof(buf), u->argsz);
	for (i = sizeof(*u); i < sizeof(buf); i++)
		EXPECT_EQ(0, buf[i]) TH_LOG("byte %zu written", i);
	EXPECT_EQ(-EFAULT, shstk_ioc(fd, SHSTK_IOC_USAGE, NULL));
	close(fd);
}

TEST_HARNESS_MAIN
