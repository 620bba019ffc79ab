// SPDX-License-Identifier: GPL-2.0
/*
 * SHSTK_IOC_SET_CLONE / GET_CLONE: the shadow stack of the next thread a
 * thread creates, by size (the kernel maps it) or by restore token (a
 * stack the caller made). All of it needs user shadow stacks: SKIP in the
 * QEMU guest, where clone_ioctls_without_hw_are_eopnotsupp checks the one
 * answer.
 *
 * Code on a shadow stack runs in shstk_run() children and their threads,
 * and reports through R (shared memory) and its exit code; only the test
 * body asserts (lib/cet.h says why). New threads come from pthread_create()
 * (glibc 2.36 passes the pthread stack size to clone3(), so the kernel's
 * rule sizes the shadow stack from it), or from lib/clone3.h where the
 * exact clone_args.stack_size, the clone3() error or the very first SSP
 * of the thread matters.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/child_report.h"
#include "lib/clone3.h"
#include "lib/ioc.h"
#include "lib/proc.h"
#include "lib/raw.h"
#include "lib/require.h"
#include "lib/trace.h"
#include "lib/work.h"

#define MAX_THREADS	8
#define SZ_64K		(64ULL << 10)
/*
 * clone_args.stack_size of unarmed raw threads: the kernel maps
 * RULE_SS_SIZE for it (the same on x86, half on arm64).
 */
#define RULE_SIZE	(192ULL << 10)
#define RULE_SS_SIZE	shstk_kernel_rule_clone(RULE_SIZE)

struct thread_report {
	pid_t tid;
	uint64_t ssp;		/* SSP in the thread function (raw threads: the first one) */
	uint64_t start, end;	/* the mapping that holds it */
	bool ss, found;
	unsigned long depth;	/* work to do: recursion depth, */
	uint64_t deepest;	/* and the SSP at its bottom */
	int done;
};

/* What a shstk_run() child found; the test body asserts on it. */
struct report {
	int line, err;			/* where the child gave up, and the -errno */
	struct thread_report t[MAX_THREADS];
	struct shstk_clone got[4];	/* GET_CLONE answers */
	long ret[MAX_THREADS];		/* results of the calls under test */
	uint64_t addr, token, size;	/* a stack the child made, or a size to arm */
	uint64_t value;			/* a token slot, read back */
	int ss_before, ss_during, ss_after;
	int signo, code, handled;	/* what a signal handler saw */
	uint64_t fault_addr;
	long tasks_before, tasks_after;	/* debugfs shstk/tasks */
	struct shstk_usage usage[2];	/* USAGE answers */
};

static struct report *R;

#define EXPECT_STACK_SIZE(size, t) do {					\
	ASSERT_TRUE((t)->found) TH_LOG("no mapping holds ssp %#llx",	\
				       (unsigned long long)(t)->ssp);	\
	EXPECT_TRUE((t)->ss);						\
	EXPECT_EQ((size), (t)->end - (t)->start)			\
		TH_LOG("shadow stack [%#llx, %#llx)",			\
		       (unsigned long long)(t)->start, (unsigned long long)(t)->end); \
} while (0)

#define EXPECT_ARMING(_flags, _size, _token, c) do {			\
	EXPECT_EQ(sizeof(struct shstk_clone), (c)->argsz);		\
	EXPECT_EQ((_flags), (c)->flags);				\
	EXPECT_EQ((_size), (c)->shadow_stack_size);			\
	EXPECT_EQ((_token), (c)->shadow_stack_token);			\
} while (0)

/* Where the calling thread's shadow stack is; then the work, if any. */
static void record_stack(struct thread_report *t)
{
	t->tid = gettid();
	t->ssp = shstk_get_ssp();
	t->found = !shstk_find_ssp_vma(t->ssp, &t->start, &t->end, &t->ss);
	/* Same frame as the SSP read: deepest == ssp - 8 * (depth + 1). */
	if (t->depth)
		t->deepest = shstk_recurse(t->depth);
	t->done = 1;
}

static void *probe_thread(void *arg)
{
	record_stack(arg);
	return NULL;
}

/* A pthread with this stack size (0: glibc's default) running fn; joined. */
static int run_pthread(void *(*fn)(void *), void *arg, size_t stack_size)
{
	pthread_attr_t attr;
	pthread_t th;
	int ret;

	pthread_attr_init(&attr);
	if (stack_size && pthread_attr_setstacksize(&attr, stack_size))
		return -EINVAL;
	ret = pthread_create(&th, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (ret)
		return -ret;
	return -pthread_join(th, NULL);
}

struct park {
	volatile int parked, go;
};

/* A raw thread that waits until told to go, so its shadow stack can be looked at. */
static int raw_park(void *arg)
{
	struct park *p = arg;

	p->parked = 1;
	while (!p->go)
		raw_syscall3(__NR_sched_yield, 0, 0, 0);
	return 0;
}

/* A raw thread with this clone_args.stack_size: where it started; joined. */
static int run_raw(struct thread_report *t, uint64_t stack_size)
{
	struct park p = { 0 };
	struct raw_thread rt;
	int tid;

	tid = raw_thread_start(&rt, raw_park, &p, stack_size);
	if (tid < 0)
		return tid;
	while (!p.parked)
		sched_yield();
	t->tid = tid;
	t->ssp = rt.first_ssp;
	t->found = !shstk_find_ssp_vma(t->ssp, &t->start, &t->end, &t->ss);
	t->done = 1;
	p.go = 1;
	raw_thread_join(&rt);
	return 0;
}

/* A raw thread that ends at once; the clone3() result. */
static long run_raw_quick(uint64_t stack_size)
{
	struct park p = { .go = 1 };
	struct raw_thread rt;
	long tid;

	tid = raw_thread_start(&rt, raw_park, &p, stack_size);
	if (tid > 0)
		raw_thread_join(&rt);
	return tid;
}

static int open_dev(void)
{
	int fd = shstk_dev_open();

	return fd < 0 ? -errno : fd;
}

/* A 64 KiB stack with a restore token at its top, into R->addr / R->token. */
static int make_token_stack(int fd)
{
	struct shstk_alloc a;
	int ret = shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a);

	if (ret)
		return ret;
	R->addr = a.addr;
	R->token = a.token;
	return 0;
}

#define OPEN_DEV(fd) do {						\
	(fd) = open_dev();						\
	CHECK((fd) < 0 ? (fd) : 0);					\
} while (0)

TEST(info_advertises_clone_size)
{
	ASSERT_FEATURE(SHSTK_FEAT_CLONE_SIZE);
}

TEST(info_advertises_clone_token)
{
	ASSERT_FEATURE(SHSTK_FEAT_CLONE_TOKEN);
}

TEST(clone_ioctls_without_hw_are_eopnotsupp)
{
	struct shstk_clone c = { .argsz = sizeof(c), .shadow_stack_size = SZ_64K };

	ASSERT_EOPNOTSUPP_WITHOUT_HW(SHSTK_IOC_SET_CLONE, &c);
	c.shadow_stack_size = 0;
	ASSERT_EOPNOTSUPP_WITHOUT_HW(SHSTK_IOC_GET_CLONE, &c);
}

/*
 * Sized threads: exactly the armed size, page-rounded. A 1 GiB shadow
 * stack is charged 1 GiB of commit, more than the CET guest's RAM, which
 * the default heuristic overcommit (mode 0) refuses for one mapping: these
 * tests set vm.overcommit_memory to 1 and restore it after.
 */
FIXTURE(sizes) {
	long saved_overcommit;
};

FIXTURE_VARIANT(sizes) {
	uint64_t size;
};

FIXTURE_VARIANT_ADD(sizes, size_4k) { .size = 4096 };
FIXTURE_VARIANT_ADD(sizes, size_64k) { .size = SZ_64K };
FIXTURE_VARIANT_ADD(sizes, size_1m) { .size = 1ULL << 20 };
FIXTURE_VARIANT_ADD(sizes, size_1g) { .size = SZ_1G };
/* Not a page multiple: the kernel rounds the mapping up. */
FIXTURE_VARIANT_ADD(sizes, size_64k_plus_8) { .size = SZ_64K + 8 };

FIXTURE_SETUP(sizes)
{
	self->saved_overcommit = -1;
	REQUIRE_SHSTK();
	self->saved_overcommit = proc_read_long(OVERCOMMIT_PATH);
	ASSERT_LE(0, self->saved_overcommit);
	ASSERT_EQ(0, proc_write_long(OVERCOMMIT_PATH, 1)) TH_LOG("needs root");
	NEW_REPORT();
	R->size = variant->size;
}

FIXTURE_TEARDOWN(sizes)
{
	if (self->saved_overcommit >= 0)
		proc_write_long(OVERCOMMIT_PATH, self->saved_overcommit);
}

/* Recursion that fills about half of a stack of this size, capped. */
static unsigned long work_depth(uint64_t size)
{
	return size / 16 < 100000 ? size / 16 : 100000;
}

static int sized_pthread(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	CHECK(shstk_set_clone(fd, 0, R->size, 0));
	R->t[0].depth = work_depth(R->size);
	CHECK(run_pthread(probe_thread, &R->t[0], 0));
	return 0;
}

TEST_F(sizes, pthread_gets_exactly_that_ss_mapping_and_works)
{
	struct thread_report *t = &R->t[0];

	ASSERT_CHILD_OK(shstk_run(sized_pthread, NULL));
	EXPECT_STACK_SIZE(PAGE_ALIGN_UP(variant->size), t);
	EXPECT_TRUE(t->ssp > t->start && t->ssp <= t->end);
	/* The work ran on it: one entry per level, all inside the mapping. */
	ASSERT_TRUE(t->done);
	EXPECT_EQ(t->ssp - 8 * (t->depth + 1), t->deepest);
	EXPECT_LE(t->start, t->deepest);
}

static int sized_raw(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	CHECK(shstk_set_clone(fd, 0, R->size, 0));
	CHECK(run_raw(&R->t[0], RULE_SIZE));
	return 0;
}

/* No window on another stack: the first SSP is the top of the armed one. */
TEST_F(sizes, raw_thread_starts_at_the_top_of_exactly_that_stack)
{
	struct thread_report *t = &R->t[0];

	ASSERT_CHILD_OK(shstk_run(sized_raw, NULL));
	EXPECT_STACK_SIZE(PAGE_ALIGN_UP(variant->size), t);
	EXPECT_EQ(shstk_empty_ssp(t->end), t->ssp);
}

/* The seed's problem: a big normal stack gets an equally big shadow stack. */
#define BIG_STACK	(64UL << 20)

static int big_stack_thread(void *arg)
{
	int fd;

	if (arg) {
		OPEN_DEV(fd);
		CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
	}
	CHECK(run_pthread(probe_thread, &R->t[0], BIG_STACK));
	return 0;
}

TEST(default_thread_of_64m_stack_gets_64m_shadow_stack)
{
	struct thread_report *t;
	uint64_t size;

	REQUIRE_SHSTK();
	ASSERT_KERNEL_RULE();
	NEW_REPORT();
	t = &R->t[0];
	ASSERT_CHILD_OK(shstk_run(big_stack_thread, NULL));
	ASSERT_TRUE(t->found);
	EXPECT_TRUE(t->ss);
	/*
	 * glibc 2.36 passes clone3() the whole stack block (guard page
	 * included) minus its TCB and static TLS; the kernel maps
	 * PAGE_ALIGN() of that: 64 MiB + 4 KiB with this glibc (on arm64
	 * half of it, with glibc 2.43: 32800 KiB).
	 */
	size = t->end - t->start;
	EXPECT_LE(shstk_kernel_rule_clone(BIG_STACK), size);
	EXPECT_GE(shstk_kernel_rule(BIG_STACK), size);
	TH_LOG("64 MiB pthread stack, unarmed: %llu KiB shadow stack",
	       (unsigned long long)size >> 10);
}

TEST(armed_thread_of_64m_stack_gets_64k_shadow_stack)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(big_stack_thread, (void *)1));
	EXPECT_STACK_SIZE(SZ_64K, &R->t[0]);
}

/* Records a fault, if the kernel can deliver it at all. */
static void note_fault(int sig, siginfo_t *si, void *uc)
{
	R->handled = 1;
	R->signo = sig;
	R->code = si->si_code;
	R->fault_addr = (uintptr_t)si->si_addr;
	raw_syscall3(__NR_exit_group, 0, 0, 0);
}

static int on_sigaltstack(int sig, void (*fn)(int, siginfo_t *, void *), size_t size)
{
	struct sigaction sa = { .sa_sigaction = fn, .sa_flags = SA_SIGINFO | SA_ONSTACK };
	stack_t alt = { .ss_size = size };

	alt.ss_sp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (alt.ss_sp == MAP_FAILED)
		return -ENOMEM;
	if (sigaltstack(&alt, NULL) || sigaction(sig, &sa, NULL))
		return -errno;
	return 0;
}

/* 32 KiB of shadow stack (64 KiB of normal stack): far beyond 4 KiB. */
#define OVERFLOW_DEPTH	4096UL

static void *overflow_thread(void *arg)
{
	struct thread_report *t = arg;

	if (on_sigaltstack(SIGSEGV, note_fault, 1 << 20))
		return NULL;
	record_stack(t);
	t->deepest = shstk_recurse(OVERFLOW_DEPTH);
	t->done = 2;
	return NULL;
}

static int overflow_small_stack(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	CHECK(shstk_set_clone(fd, 0, 4096, 0));
	CHECK(run_pthread(overflow_thread, &R->t[0], 0));
	return 0;
}

/*
 * A 4 KiB shadow stack that a thread recurses past. Observed and asserted:
 * the thread gets SIGSEGV with si_code SEGV_MAPERR and si_addr = base - 8,
 * with SSP still at the base. A CALL pushes its return address at SSP - 8;
 * with SSP at the bottom of the mapping, that store lands in the guard gap
 * the kernel keeps free below every shadow stack (VM_SHADOW_STACK start
 * gap, one page). No VMA is there, so the page fault is "not mapped"
 * (MAPERR), not "access denied" (ACCERR), and the CALL does not complete.
 *
 * No handler can report it, not even one on a sigaltstack: signal delivery
 * pushes a frame (restore token + return address) on the shadow stack,
 * there is no alternate shadow stack, and this one is full, so the kernel
 * kills the process with SIGSEGV. The siginfo is read by a tracer, at the
 * signal-delivery stop, before that.
 */
TEST(small_shadow_stack_overflow_is_sigsegv_maperr_below_its_base)
{
	struct thread_report *t;
	struct traced_fault f;
	int status;

	REQUIRE_SHSTK();
	NEW_REPORT();
	t = &R->t[0];
	status = shstk_run_traced(overflow_small_stack, NULL, &f);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
		TH_LOG("status %#x, child line %d err %d, thread done %d", status, R->line,
		       R->err, t->done);
	EXPECT_STACK_SIZE(4096, t);
	ASSERT_LE(1, f.count);
	EXPECT_EQ(t->tid, f.tid);
	EXPECT_EQ(SEGV_MAPERR, f.code);
	EXPECT_EQ(t->start - 8, f.addr);
	EXPECT_EQ(0, f.ssp_err);
	EXPECT_EQ(t->start, f.ssp);
	EXPECT_EQ(0, R->handled);
	TH_LOG("shadow stack [%#llx, %#llx): SIGSEGV si_code %d si_addr %#llx, ssp %#llx, "
	       "%d SIGSEGVs, handler ran: %d", (unsigned long long)t->start,
	       (unsigned long long)t->end, f.code, (unsigned long long)f.addr,
	       (unsigned long long)f.ssp, f.count, R->handled);
}

/*
 * The sigaltstack case: a handler on a big alternate stack recurses deeper
 * than the thread's 64 KiB normal stack would allow (320 KiB of it), and
 * needs 160 KiB of shadow stack, which always stays the thread's own.
 */
/* 64 KiB, or glibc's minimum where that is more (128 KiB on arm64). */
#define SMALL_STACK	(PTHREAD_STACK_MIN > (64UL << 10) ? PTHREAD_STACK_MIN : (64UL << 10))
#define ALT_DEPTH	20000UL

static void deep_handler(int sig, siginfo_t *si, void *uc)
{
	R->t[0].deepest = shstk_recurse(ALT_DEPTH);
	R->handled = 1;
}

static void *signal_thread(void *arg)
{
	struct thread_report *t = arg;

	if (on_sigaltstack(SIGUSR1, deep_handler, 16 << 20))
		return NULL;
	record_stack(t);
	pthread_kill(pthread_self(), SIGUSR1);
	t->done = 2;
	return NULL;
}

static int deep_signal(void *arg)
{
	int fd;

	if (R->size) {
		OPEN_DEV(fd);
		CHECK(shstk_set_clone(fd, 0, R->size, 0));
	}
	CHECK(run_pthread(signal_thread, &R->t[0], SMALL_STACK));
	return 0;
}

TEST(deep_sigaltstack_handler_overflows_default_shadow_stack)
{
	struct thread_report *t;
	struct traced_fault f;
	int status;

	REQUIRE_SHSTK();
	ASSERT_KERNEL_RULE();
	NEW_REPORT();
	t = &R->t[0];
	status = shstk_run_traced(deep_signal, NULL, &f);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
		TH_LOG("status %#x, handler done %d", status, R->handled);
	EXPECT_EQ(0, R->handled);
	ASSERT_TRUE(t->found);
	/* It is the shadow stack that overflowed, not the alternate stack. */
	EXPECT_EQ(SEGV_MAPERR, f.code);
	EXPECT_EQ(t->start - 8, f.addr);
	TH_LOG("64 KiB pthread stack: %llu KiB shadow stack, overflowed by the handler",
	       (unsigned long long)(t->end - t->start) >> 10);
}

TEST(deep_sigaltstack_handler_fits_armed_shadow_stack)
{
	struct thread_report *t;

	REQUIRE_SHSTK();
	NEW_REPORT();
	t = &R->t[0];
	R->size = 1ULL << 20;
	ASSERT_CHILD_OK(shstk_run(deep_signal, NULL));
	EXPECT_EQ(1, R->handled);
	EXPECT_EQ(2, t->done);
	EXPECT_STACK_SIZE(1ULL << 20, t);
	EXPECT_TRUE(t->deepest >= t->start && t->deepest < t->end);
}

/* Token path: a thread on a stack the caller made. */
static int token_pthread(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	if (arg) {
		long addr = syscall(__NR_map_shadow_stack, 0, SZ_64K, SHADOW_STACK_SET_TOKEN);

		CHECK(addr == -1 ? -errno : 0);
		R->addr = addr;
		R->token = addr + SZ_64K - 8;
	} else {
		CHECK(make_token_stack(fd));
	}
	CHECK(shstk_set_clone(fd, 0, 0, R->token));
	R->t[0].depth = 1000;
	CHECK(run_pthread(probe_thread, &R->t[0], 0));
	R->value = *(volatile uint64_t *)(uintptr_t)R->token;
	/* The token was consumed: arming with it again fails at arm time. */
	R->ret[0] = shstk_set_clone(fd, 0, 0, R->token);
	return 0;
}

#define EXPECT_ON_TOKEN_STACK(t) do {					\
	ASSERT_TRUE((t)->found);					\
	EXPECT_TRUE((t)->ss);						\
	EXPECT_EQ(R->addr, (t)->start);					\
	EXPECT_EQ(R->addr + SZ_64K, (t)->end);				\
	/* Started at token + 8; a few frames of glibc below that. */	\
	EXPECT_LT((t)->ssp, R->token + 8);				\
	EXPECT_GE((t)->ssp, R->token + 8 - 512);			\
} while (0)

TEST(alloc_token_stack_runs_a_thread)
{
	struct thread_report *t;

	REQUIRE_SHSTK();
	NEW_REPORT();
	t = &R->t[0];
	ASSERT_CHILD_OK(shstk_run(token_pthread, NULL));
	EXPECT_ON_TOKEN_STACK(t);
	EXPECT_EQ(t->ssp - 8 * (t->depth + 1), t->deepest);
}

TEST(map_shadow_stack_token_stack_runs_a_thread)
{
	struct thread_report *t;

	REQUIRE_SHSTK();
	NEW_REPORT();
	t = &R->t[0];
	ASSERT_CHILD_OK(shstk_run(token_pthread, (void *)1));
	EXPECT_ON_TOKEN_STACK(t);
	EXPECT_EQ(t->ssp - 8 * (t->depth + 1), t->deepest);
}

TEST(consumed_token_reuse_is_einval)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(token_pthread, NULL));
	EXPECT_NE(shstk_token_value(R->token), R->value);
	EXPECT_EQ(-EINVAL, R->ret[0]);
}

static int token_raw(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	CHECK(make_token_stack(fd));
	CHECK(shstk_set_clone(fd, 0, 0, R->token));
	CHECK(run_raw(&R->t[0], RULE_SIZE));
	return 0;
}

TEST(token_thread_starts_just_above_the_token)
{
	struct thread_report *t;

	REQUIRE_SHSTK();
	NEW_REPORT();
	t = &R->t[0];
	ASSERT_CHILD_OK(shstk_run(token_raw, NULL));
	ASSERT_TRUE(t->found);
	EXPECT_EQ(R->addr, t->start);
	EXPECT_EQ(R->token + 8, t->ssp);
}

/* A second thread that arms the same token, then clones when told. */
struct second {
	uint64_t token;
	volatile int want, step;
	int ret_arm;
	long ret_clone;
};

static void wait_for(volatile int *v, int val)
{
	while (*v != val)
		sched_yield();
}

static void *second_armer(void *arg)
{
	struct second *s = arg;
	int fd = shstk_dev_open();

	wait_for(&s->want, 1);
	s->ret_arm = shstk_set_clone(fd, 0, 0, s->token);
	s->step = 1;
	wait_for(&s->want, 2);
	s->ret_clone = run_raw_quick(SZ_64K);
	/* Counted here: once this thread ends, its own shadow stack goes. */
	R->ss_after = shstk_count_ss_vmas();
	s->step = 2;
	close(fd);
	return NULL;
}

static int token_twice(void *arg)
{
	struct second s = { 0 };
	pthread_t th;
	int fd;

	OPEN_DEV(fd);
	CHECK(make_token_stack(fd));
	s.token = R->token;
	CHECK(-pthread_create(&th, NULL, second_armer, &s));
	/* Both threads armed while the token is still valid. */
	CHECK(shstk_set_clone(fd, 0, 0, R->token));
	s.want = 1;
	wait_for(&s.step, 1);
	CHECK(s.ret_arm);
	R->ss_before = shstk_count_ss_vmas();
	R->ret[0] = run_raw_quick(SZ_64K);
	s.want = 2;
	wait_for(&s.step, 2);
	R->ret[1] = s.ret_clone;
	CHECK(-pthread_join(th, NULL));
	return 0;
}

/* Checked again at clone time: the second clone fails and maps nothing. */
TEST(second_clone_on_a_consumed_token_is_einval)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(token_twice, NULL));
	EXPECT_LT(0, R->ret[0]) TH_LOG("first clone: %s", strerror(-R->ret[0]));
	EXPECT_EQ(-EINVAL, R->ret[1]);
	EXPECT_EQ(R->ss_before, R->ss_after);
}

#define RACERS	4
#define ROUNDS	3

struct racer {
	uint64_t token;
	pthread_barrier_t *barrier;
	int ret_arm;
	long ret_clone;
};

static void *racer(void *arg)
{
	struct racer *r = arg;
	int fd = shstk_dev_open();

	r->ret_arm = shstk_set_clone(fd, 0, 0, r->token);
	pthread_barrier_wait(r->barrier);
	r->ret_clone = run_raw_quick(SZ_64K);
	close(fd);
	return NULL;
}

static int token_race(void *arg)
{
	struct racer rs[RACERS];
	pthread_barrier_t barrier;
	pthread_t th[RACERS];
	int fd, round, i;

	OPEN_DEV(fd);
	for (round = 0; round < ROUNDS; round++) {
		CHECK(make_token_stack(fd));
		CHECK(-pthread_barrier_init(&barrier, NULL, RACERS));
		for (i = 0; i < RACERS; i++) {
			rs[i] = (struct racer){ .token = R->token, .barrier = &barrier };
			CHECK(-pthread_create(&th[i], NULL, racer, &rs[i]));
		}
		for (i = 0; i < RACERS; i++) {
			CHECK(-pthread_join(th[i], NULL));
			CHECK(rs[i].ret_arm);
			if (rs[i].ret_clone > 0)
				R->ret[round]++;
			else if (rs[i].ret_clone == -EINVAL)
				R->ret[ROUNDS + round]++;
		}
		pthread_barrier_destroy(&barrier);
	}
	return 0;
}

/* Threads racing to clone on one token: exactly one wins, the others EINVAL. */
TEST(racing_clones_on_one_token_have_one_winner)
{
	int round;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(token_race, NULL));
	for (round = 0; round < ROUNDS; round++) {
		EXPECT_EQ(1, R->ret[round]) TH_LOG("round %d", round);
		EXPECT_EQ(RACERS - 1, R->ret[ROUNDS + round]) TH_LOG("round %d", round);
	}
}

/* Bad tokens: R->ret[] per attempt, then GET_CLONE (nothing armed). */
static int bad_tokens(void *arg)
{
	long which = (long)arg;
	uint64_t *p;
	int fd;

	OPEN_DEV(fd);
	switch (which) {
	case 0:	/* misaligned */
		CHECK(make_token_stack(fd));
		R->ret[0] = shstk_set_clone(fd, 0, 0, R->token + 1);
		R->ret[1] = shstk_set_clone(fd, 0, 0, R->token + 4);
		R->ret[2] = shstk_set_clone(fd, 0, 0, R->token - 4);
		break;
	case 2:	/* slots that hold no token */
		CHECK(make_token_stack(fd));
		R->ret[0] = shstk_set_clone(fd, 0, 0, R->token - 8);
		/* Our own shadow stack: the entry at SSP is a return address. */
		R->ret[1] = shstk_set_clone(fd, 0, 0, shstk_get_ssp());
		break;
	case 3:	/* a valid-looking token in normal memory */
		p = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK_TRUE(p != MAP_FAILED);
		p[PAGE_SZ / 8 - 1] = shstk_token_value((uintptr_t)&p[PAGE_SZ / 8 - 1]);
		R->ret[0] = shstk_set_clone(fd, 0, 0, (uintptr_t)&p[PAGE_SZ / 8 - 1]);
		CHECK(mprotect(p, PAGE_SZ, PROT_READ) ? -errno : 0);
		R->ret[1] = shstk_set_clone(fd, 0, 0, (uintptr_t)&p[PAGE_SZ / 8 - 1]);
		break;
	case 4:	/* nothing mapped there */
		p = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK_TRUE(p != MAP_FAILED);
		CHECK(munmap(p, PAGE_SZ) ? -errno : 0);
		R->ret[0] = shstk_set_clone(fd, 0, 0, (uintptr_t)p + PAGE_SZ - 8);
		R->ret[1] = shstk_set_clone(fd, 0, 0, 0x10000 - 8);
		break;
	}
	CHECK(shstk_get_clone(fd, &R->got[0]));
	if (R->token)
		R->value = *(volatile uint64_t *)(uintptr_t)R->token;
	return 0;
}

static int no_token_stack(void *arg)
{
	struct shstk_alloc a;
	int fd;

	OPEN_DEV(fd);
	CHECK(shstk_alloc(fd, SZ_64K, 0, &a));
	R->ret[0] = shstk_set_clone(fd, 0, 0, a.addr + SZ_64K - 8);
	R->ret[1] = shstk_set_clone(fd, 0, 0, a.addr);
	CHECK(shstk_get_clone(fd, &R->got[0]));
	return 0;
}

TEST(misaligned_token_is_einval)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(bad_tokens, (void *)0));
	EXPECT_EQ(-EINVAL, R->ret[0]);
	EXPECT_EQ(-EINVAL, R->ret[1]);
	EXPECT_EQ(-EINVAL, R->ret[2]);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
	/* A failed arming leaves the token alone. */
	EXPECT_EQ(shstk_token_value(R->token), R->value);
}

TEST(stack_without_token_is_einval)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(no_token_stack, NULL));
	EXPECT_EQ(-EINVAL, R->ret[0]);
	EXPECT_EQ(-EINVAL, R->ret[1]);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
}

/* User mode cannot write a forged token into shadow-stack memory: use slots that hold none. */
TEST(token_address_of_a_non_token_slot_is_einval)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(bad_tokens, (void *)2));
	EXPECT_EQ(-EINVAL, R->ret[0]) TH_LOG("zero slot below the token");
	EXPECT_EQ(-EINVAL, R->ret[1]) TH_LOG("return address on the caller's shadow stack");
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
	EXPECT_EQ(shstk_token_value(R->token), R->value);
}

TEST(token_in_normal_memory_is_efault)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(bad_tokens, (void *)3));
	EXPECT_EQ(-EFAULT, R->ret[0]) TH_LOG("read-write anonymous memory");
	EXPECT_EQ(-EFAULT, R->ret[1]) TH_LOG("read-only anonymous memory");
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
}

TEST(token_in_unmapped_memory_is_efault)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(bad_tokens, (void *)4));
	EXPECT_EQ(-EFAULT, R->ret[0]) TH_LOG("unmapped page");
	EXPECT_EQ(-EFAULT, R->ret[1]) TH_LOG("below mmap_min_addr");
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
}

/* The test body itself runs without a shadow stack. */
TEST(arming_without_shadow_stack_is_einval)
{
	struct shstk_alloc a;
	int fd;

	REQUIRE_SHSTK();
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a));
	EXPECT_EQ(-EINVAL, shstk_set_clone(fd, 0, SZ_64K, 0));
	EXPECT_EQ(-EINVAL, shstk_set_clone(fd, SHSTK_CLONE_PERSIST, SZ_64K, 0));
	EXPECT_EQ(-EINVAL, shstk_set_clone(fd, 0, 0, a.token));
	munmap((void *)(uintptr_t)a.addr, SZ_64K);
	close(fd);
}

static int arm_bad(void *arg)
{
	long which = (long)arg;
	struct shstk_info info;
	int fd, bit, i = 0;

	OPEN_DEV(fd);
	CHECK(shstk_info_get(&info));
	switch (which) {
	case 0:	/* size and token together */
		CHECK(make_token_stack(fd));
		R->ret[0] = shstk_set_clone(fd, 0, SZ_64K, R->token);
		R->ret[1] = shstk_set_clone(fd, SHSTK_CLONE_PERSIST, SZ_64K, R->token);
		break;
	case 1:	/* sizes */
		R->ret[i++] = shstk_set_clone(fd, 0, 1, 0);
		R->ret[i++] = shstk_set_clone(fd, 0, 4100, 0);
		R->ret[i++] = shstk_set_clone(fd, 0, SZ_64K - 1, 0);
		R->ret[i++] = shstk_set_clone(fd, 0, info.min_size - 8, 0);
		R->ret[i++] = shstk_set_clone(fd, 0, info.max_size + 8, 0);
		R->ret[i++] = shstk_set_clone(fd, 0, 1ULL << 62, 0);
		R->ret[i++] = shstk_set_clone(fd, 0, ~7ULL, 0);
		break;
	case 2:	/* unknown flags: R->value collects the bits not refused */
		for (bit = 2; bit < 32; bit++)
			if (shstk_set_clone(fd, 1U << bit, SZ_64K, 0) != -EINVAL)
				R->value |= 1ULL << bit;
		break;
	case 3:	/* EXIT_TOKEN without a token */
		R->ret[0] = shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN, SZ_64K, 0);
		R->ret[1] = shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN, 0, 0);
		R->ret[2] = shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN | SHSTK_CLONE_PERSIST,
					    SZ_64K, 0);
		break;
	}
	CHECK(shstk_get_clone(fd, &R->got[0]));
	if (which == 0) {
		/* Nothing was consumed: the token alone still arms. */
		R->ret[2] = shstk_set_clone(fd, 0, 0, R->token);
	}
	return 0;
}

TEST(size_and_token_together_are_einval)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(arm_bad, (void *)0));
	EXPECT_EQ(-EINVAL, R->ret[0]);
	EXPECT_EQ(-EINVAL, R->ret[1]);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
	EXPECT_EQ(0, R->ret[2]);
}

TEST(bad_size_is_einval)
{
	int i;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(arm_bad, (void *)1));
	for (i = 0; i < 7; i++)
		EXPECT_EQ(-EINVAL, R->ret[i]) TH_LOG("size #%d", i);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
}

TEST(unknown_flags_are_einval)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(arm_bad, (void *)2));
	EXPECT_EQ(0, R->value) TH_LOG("flag bits accepted: %#llx", (unsigned long long)R->value);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
}

TEST(exit_token_without_token_is_einval)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(arm_bad, (void *)3));
	EXPECT_EQ(-EINVAL, R->ret[0]);
	EXPECT_EQ(-EINVAL, R->ret[1]);
	EXPECT_EQ(-EINVAL, R->ret[2]);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
}

static int argsz_rules(void *arg)
{
	long which = (long)arg;
	uint32_t small[] = { 0, 8, 16, SHSTK_CLONE_SIZE_VER1 - 1 };
	unsigned char buf[sizeof(struct shstk_clone) + 16];
	struct shstk_clone *c = (struct shstk_clone *)buf;
	int fd, i;

	OPEN_DEV(fd);
	for (i = 0; i < 4; i++) {
		memset(buf, 0, sizeof(buf));
		c->argsz = small[i];
		c->shadow_stack_size = which ? 0 : SZ_64K;
		R->ret[i] = shstk_ioc(fd, which ? SHSTK_IOC_GET_CLONE : SHSTK_IOC_SET_CLONE, c);
	}
	/* A bigger struct: a non-zero tail is E2BIG, a zero one is fine. */
	memset(buf, 0, sizeof(buf));
	c->argsz = sizeof(buf);
	c->shadow_stack_size = which ? 0 : SZ_64K;
	buf[sizeof(*c) + 5] = 1;
	R->ret[4] = shstk_ioc(fd, which ? SHSTK_IOC_GET_CLONE : SHSTK_IOC_SET_CLONE, c);
	CHECK(shstk_get_clone(fd, &R->got[0]));
	buf[sizeof(*c) + 5] = 0;
	R->ret[5] = shstk_ioc(fd, which ? SHSTK_IOC_GET_CLONE : SHSTK_IOC_SET_CLONE, c);
	CHECK(shstk_get_clone(fd, &R->got[1]));
	return 0;
}

TEST(set_clone_argsz_rules)
{
	int i;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(argsz_rules, (void *)0));
	for (i = 0; i < 4; i++)
		EXPECT_EQ(-EINVAL, R->ret[i]) TH_LOG("argsz #%d", i);
	EXPECT_EQ(-E2BIG, R->ret[4]);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
	EXPECT_EQ(0, R->ret[5]);
	EXPECT_ARMING(0, SZ_64K, 0, &R->got[1]);
}

TEST(get_clone_argsz_rules)
{
	int i;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(argsz_rules, (void *)1));
	for (i = 0; i < 4; i++)
		EXPECT_EQ(-EINVAL, R->ret[i]) TH_LOG("argsz #%d", i);
	EXPECT_EQ(-E2BIG, R->ret[4]);
	EXPECT_EQ(0, R->ret[5]);
}

static int keep_arming(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	CHECK(shstk_set_clone(fd, SHSTK_CLONE_PERSIST, SZ_64K, 0));
	R->ret[0] = shstk_set_clone(fd, 0, 4100, 0);
	R->ret[1] = shstk_set_clone(fd, 1U << 31, SZ_1G, 0);
	CHECK(shstk_get_clone(fd, &R->got[0]));
	return 0;
}

TEST(failed_arming_keeps_the_previous_one)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(keep_arming, NULL));
	EXPECT_EQ(-EINVAL, R->ret[0]);
	EXPECT_EQ(-EINVAL, R->ret[1]);
	EXPECT_ARMING(SHSTK_CLONE_PERSIST, SZ_64K, 0, &R->got[0]);
}

static int round_trip(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	CHECK(make_token_stack(fd));
	CHECK(shstk_get_clone(fd, &R->got[0]));
	CHECK(shstk_set_clone(fd, SHSTK_CLONE_PERSIST, SZ_64K, 0));
	CHECK(shstk_get_clone(fd, &R->got[1]));
	CHECK(shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN, 0, R->token));
	CHECK(shstk_get_clone(fd, &R->got[2]));
	CHECK(shstk_set_clone(fd, 0, 0, 0));
	CHECK(shstk_get_clone(fd, &R->got[3]));
	return 0;
}

TEST(get_clone_round_trips_the_arming)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(round_trip, NULL));
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
	EXPECT_ARMING(SHSTK_CLONE_PERSIST, SZ_64K, 0, &R->got[1]);
	EXPECT_ARMING(SHSTK_CLONE_EXIT_TOKEN, 0, R->token, &R->got[2]);
	EXPECT_ARMING(0, 0, 0, &R->got[3]);
}

/* Raw threads with clone_args.stack_size RULE_SIZE: armed ones get 64 KiB. */
static int arming_modes(void *arg)
{
	long which = (long)arg;
	int fd, i;

	OPEN_DEV(fd);
	switch (which) {
	case 0:	/* one-shot */
		CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
		CHECK(run_raw(&R->t[0], RULE_SIZE));
		CHECK(shstk_get_clone(fd, &R->got[0]));
		CHECK(run_raw(&R->t[1], RULE_SIZE));
		break;
	case 1:	/* persistent */
		CHECK(shstk_set_clone(fd, SHSTK_CLONE_PERSIST, SZ_64K, 0));
		for (i = 0; i < 3; i++)
			CHECK(run_raw(&R->t[i], RULE_SIZE));
		CHECK(shstk_get_clone(fd, &R->got[0]));
		break;
	case 2:	/* disarm */
		CHECK(shstk_set_clone(fd, SHSTK_CLONE_PERSIST, SZ_64K, 0));
		CHECK(run_raw(&R->t[0], RULE_SIZE));
		CHECK(shstk_set_clone(fd, 0, 0, 0));
		CHECK(run_raw(&R->t[1], RULE_SIZE));
		CHECK(shstk_get_clone(fd, &R->got[0]));
		break;
	}
	return 0;
}

TEST(one_shot_arming_sizes_only_the_next_thread)
{
	REQUIRE_SHSTK();
	ASSERT_KERNEL_RULE();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(arming_modes, (void *)0));
	EXPECT_STACK_SIZE(SZ_64K, &R->t[0]);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
	/* The kernel's rule again: PAGE_ALIGN(clone_args.stack_size). */
	EXPECT_STACK_SIZE(RULE_SS_SIZE, &R->t[1]);
}

TEST(persistent_arming_sizes_every_thread)
{
	int i;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(arming_modes, (void *)1));
	for (i = 0; i < 3; i++)
		EXPECT_STACK_SIZE(SZ_64K, &R->t[i]);
	EXPECT_ARMING(SHSTK_CLONE_PERSIST, SZ_64K, 0, &R->got[0]);
}

TEST(disarm_restores_the_kernel_rule)
{
	REQUIRE_SHSTK();
	ASSERT_KERNEL_RULE();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(arming_modes, (void *)2));
	EXPECT_STACK_SIZE(SZ_64K, &R->t[0]);
	EXPECT_STACK_SIZE(RULE_SS_SIZE, &R->t[1]);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
}

static void *unarmed_thread(void *arg)
{
	int fd = shstk_dev_open();

	record_stack(&R->t[0]);
	R->ret[0] = shstk_get_clone(fd, &R->got[0]);
	R->ret[1] = run_raw(&R->t[1], RULE_SIZE);
	close(fd);
	return NULL;
}

static int per_thread(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	CHECK(shstk_set_clone(fd, SHSTK_CLONE_PERSIST, SZ_64K, 0));
	CHECK(run_pthread(unarmed_thread, NULL, 0));
	CHECK(run_raw(&R->t[2], RULE_SIZE));
	return 0;
}

TEST(arming_is_per_calling_thread)
{
	REQUIRE_SHSTK();
	ASSERT_KERNEL_RULE();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(per_thread, NULL));
	/* The armed thread's children get 64 KiB, the other thread's do not. */
	EXPECT_STACK_SIZE(SZ_64K, &R->t[0]);
	EXPECT_EQ(0, R->ret[0]);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
	EXPECT_EQ(0, R->ret[1]);
	EXPECT_STACK_SIZE(RULE_SS_SIZE, &R->t[1]);
	EXPECT_STACK_SIZE(SZ_64K, &R->t[2]);
}

/*
 * Kernel-made user workers: io_uring's SQPOLL thread is created with
 * CLONE_VM in the calling thread's context (PF_USER_WORKER) and never runs
 * user code. It must take no arming, no token, and get no policy size.
 */
static int sqpoll_ring(void)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQPOLL, .sq_thread_idle = 1000 };
	long fd = raw_syscall3(__NR_io_uring_setup, 4, (long)&p, 0);

	return (int)fd;
}

/* The tid of this process's io_uring SQPOLL thread, or -ESRCH. */
static pid_t sqpoll_tid_now(void)
{
	char path[300], comm[32];
	struct dirent *d;
	pid_t found = -ESRCH;
	DIR *dir = opendir("/proc/self/task");

	if (!dir)
		return -errno;
	while (found < 0 && (d = readdir(dir))) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", d->d_name);
		f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f) && !strncmp(comm, "iou-sqp-", 8))
			found = atoi(d->d_name);
		if (f)
			fclose(f);
	}
	closedir(dir);
	return found;
}

/*
 * The SQPOLL thread names itself when it first runs, which may be after
 * io_uring_setup() returns (Linux 7.x): look for up to about 5 s.
 */
static pid_t sqpoll_tid(void)
{
	pid_t tid = -ESRCH;
	int i;

	for (i = 0; i < 500 && tid == -ESRCH; i++) {
		tid = sqpoll_tid_now();
		if (tid == -ESRCH)
			usleep(10000);
	}
	return tid;
}

static int worker_and_arming(void *arg)
{
	bool token = arg;
	int fd, ring;

	OPEN_DEV(fd);
	if (token) {
		CHECK(make_token_stack(fd));
		CHECK(shstk_set_clone(fd, 0, 0, R->token));
	} else {
		CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
	}
	ring = sqpoll_ring();
	CHECK(ring < 0 ? ring : 0);
	R->t[1].tid = sqpoll_tid();
	CHECK(R->t[1].tid < 0 ? R->t[1].tid : 0);
	CHECK(shstk_get_clone(fd, &R->got[0]));
	R->value = *(volatile uint64_t *)(uintptr_t)(token ? R->token : (uintptr_t)&R->value);
	R->ret[1] = shstk_usage(fd, R->t[1].tid, &R->usage[1]);
	/* The arming is still there for the next real thread. */
	CHECK(run_pthread(probe_thread, &R->t[0], 8UL << 20));
	CHECK(shstk_get_clone(fd, &R->got[1]));
	close(ring);
	return 0;
}

TEST(io_uring_worker_takes_no_size_arming)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(worker_and_arming, (void *)false));
	EXPECT_ARMING(0, SZ_64K, 0, &R->got[0]);
	EXPECT_STACK_SIZE(SZ_64K, &R->t[0]);
	EXPECT_ARMING(0, 0, 0, &R->got[1]);
	ASSERT_EQ(0, R->ret[1]) TH_LOG("USAGE of the worker: %s", strerror(-R->ret[1]));
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, R->usage[1].origin);
	EXPECT_NE(SZ_64K, R->usage[1].size);
}

TEST(io_uring_worker_takes_no_token)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(worker_and_arming, (void *)true));
	EXPECT_ARMING(0, 0, R->token, &R->got[0]);
	/* The token was still there after the worker was made. */
	EXPECT_EQ(shstk_token_value(R->token), R->value);
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, R->usage[1].origin);
	/* The next pthread used it. */
	ASSERT_TRUE(R->t[0].found);
	EXPECT_EQ(R->addr, R->t[0].start);
	EXPECT_ARMING(0, 0, 0, &R->got[1]);
}

static int worker_and_policy(void *arg)
{
	struct shstk_policy pol = {
		.argsz = sizeof(pol), .mode = SHSTK_POLICY_FIXED, .size = SZ_64K,
	};
	int fd, ring;

	OPEN_DEV(fd);
	CHECK(shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &pol));
	ring = sqpoll_ring();
	CHECK(ring < 0 ? ring : 0);
	R->t[1].tid = sqpoll_tid();
	CHECK(R->t[1].tid < 0 ? R->t[1].tid : 0);
	R->ret[1] = shstk_usage(fd, R->t[1].tid, &R->usage[1]);
	CHECK(run_pthread(probe_thread, &R->t[0], 8UL << 20));
	close(ring);
	return 0;
}

TEST(io_uring_worker_is_not_sized_by_a_policy)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(worker_and_policy, NULL));
	ASSERT_EQ(0, R->ret[1]) TH_LOG("USAGE of the worker: %s", strerror(-R->ret[1]));
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, R->usage[1].origin);
	EXPECT_NE(SZ_64K, R->usage[1].size) TH_LOG("worker sized by the policy");
	/* The process's own threads still are. */
	EXPECT_STACK_SIZE(SZ_64K, &R->t[0]);
}

static int fork_armed(void *arg)
{
	int fd, status;
	pid_t pid;

	OPEN_DEV(fd);
	CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
	fflush(NULL);
	pid = fork();
	CHECK(pid < 0 ? -errno : 0);
	if (pid == 0) {
		/* ABI.md does not say what the child inherits: only logged. */
		R->ret[1] = shstk_get_clone(fd, &R->got[1]);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid ? 0 : -errno);
	CHECK_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(shstk_get_clone(fd, &R->got[0]));
	CHECK(run_raw(&R->t[0], RULE_SIZE));
	CHECK(shstk_get_clone(fd, &R->got[2]));
	return 0;
}

/* A clone without CLONE_VM ignores and keeps the arming (ABI.md). */
TEST(fork_keeps_the_arming)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(fork_armed, NULL));
	EXPECT_ARMING(0, SZ_64K, 0, &R->got[0]);
	EXPECT_STACK_SIZE(SZ_64K, &R->t[0]);
	EXPECT_ARMING(0, 0, 0, &R->got[2]);
	TH_LOG("fork child's GET_CLONE: %ld, flags %#x size %llu token %#llx", R->ret[1],
	       R->got[1].flags, (unsigned long long)R->got[1].shadow_stack_size,
	       (unsigned long long)R->got[1].shadow_stack_token);
}

static int vfork_armed(void *arg)
{
	uint64_t parent_ssp;
	int fd, status;
	long pid;

	OPEN_DEV(fd);
	CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
	R->ss_before = shstk_count_ss_vmas();
	pid = raw_vfork_ssps(&parent_ssp, &R->value);
	CHECK(pid < 0 ? pid : 0);
	CHECK(waitpid(pid, &status, 0) == pid ? 0 : -errno);
	R->ret[0] = status;
	R->addr = parent_ssp;
	R->ss_after = shstk_count_ss_vmas();
	CHECK(shstk_get_clone(fd, &R->got[0]));
	return 0;
}

/*
 * vfork shares the caller's shadow stack; a one-shot arming changes
 * neither that nor itself (ABI.md: a clone without CLONE_VM keeps it, and
 * vfork is no new thread either).
 */
TEST(vfork_child_runs_on_the_callers_shadow_stack)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(vfork_armed, NULL));
	EXPECT_TRUE(WIFEXITED(R->ret[0]) && WEXITSTATUS(R->ret[0]) == 7)
		TH_LOG("vfork child status %#lx", R->ret[0]);
	EXPECT_NE(0, R->addr);
	EXPECT_EQ(R->addr, R->value);
	EXPECT_EQ(R->ss_before, R->ss_after);
	EXPECT_ARMING(0, SZ_64K, 0, &R->got[0]);
}

/* ROP on a sized or token stack: still SIGSEGV with SEGV_CPERR. */
static void __attribute__((noinline)) rop_landing(void)
{
	/* Reached only if the corrupted return was not caught. */
	raw_syscall3(__NR_exit_group, 3, 0, 0);
}

static void *rop_thread(void *arg)
{
	struct thread_report *t = arg;
	struct sigaction sa = { .sa_sigaction = note_fault, .sa_flags = SA_SIGINFO };

	/* tests/vm/run accepts control-protection reports from this name only. */
	prctl(PR_SET_NAME, "expect_cpfault");
	record_stack(t);
	if (sigaction(SIGSEGV, &sa, NULL))
		return NULL;
	shstk_smash_return(rop_landing);
	t->done = 2;
	return NULL;
}

static int rop_armed(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	if (arg) {
		CHECK(make_token_stack(fd));
		CHECK(shstk_set_clone(fd, 0, 0, R->token));
	} else {
		CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
	}
	/* The handler ends the process with 0. */
	run_pthread(rop_thread, &R->t[0], 0);
	return 4;
}

#define EXPECT_CPERR() do {						\
	EXPECT_EQ(1, R->handled);					\
	EXPECT_EQ(SIGSEGV, R->signo);					\
	EXPECT_EQ(SEGV_CPERR, R->code);					\
	EXPECT_EQ((uintptr_t)shstk_cperr_addr(), R->fault_addr);	\
} while (0)

TEST(rop_is_caught_on_a_sized_stack)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(rop_armed, NULL));
	EXPECT_STACK_SIZE(SZ_64K, &R->t[0]);
	EXPECT_CPERR();
}

TEST(rop_is_caught_on_a_token_stack)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(rop_armed, (void *)1));
	ASSERT_TRUE(R->t[0].found);
	EXPECT_EQ(R->addr, R->t[0].start);
	EXPECT_CPERR();
}

/* Leaks: the kernel frees sized stacks with their threads, never token stacks. */
static pthread_barrier_t leak_barrier;

static void *coexisting_thread(void *arg)
{
	record_stack(arg);
	pthread_barrier_wait(&leak_barrier);
	pthread_barrier_wait(&leak_barrier);
	return NULL;
}

static int sized_leak(void *arg)
{
	pthread_t th[MAX_THREADS];
	int fd, i;

	OPEN_DEV(fd);
	CHECK(-pthread_barrier_init(&leak_barrier, NULL, MAX_THREADS + 1));
	R->ss_before = shstk_count_ss_vmas();
	CHECK(shstk_set_clone(fd, SHSTK_CLONE_PERSIST, SZ_64K, 0));
	for (i = 0; i < MAX_THREADS; i++)
		CHECK(-pthread_create(&th[i], NULL, coexisting_thread, &R->t[i]));
	pthread_barrier_wait(&leak_barrier);
	R->ss_during = shstk_count_ss_vmas();
	pthread_barrier_wait(&leak_barrier);
	for (i = 0; i < MAX_THREADS; i++)
		CHECK(-pthread_join(th[i], NULL));
	R->ss_after = shstk_count_ss_vmas();
	return 0;
}

TEST(sized_threads_leave_no_ss_mapping)
{
	int i;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(sized_leak, NULL));
	for (i = 0; i < MAX_THREADS; i++)
		EXPECT_STACK_SIZE(SZ_64K, &R->t[i]);
	EXPECT_EQ(R->ss_before + MAX_THREADS, R->ss_during);
	EXPECT_EQ(R->ss_before, R->ss_after);
}

#define TOKEN_THREADS	4

static int token_leak(void *arg)
{
	struct shstk_alloc a[TOKEN_THREADS];
	uint64_t start, end;
	int fd, i;
	bool ss;

	OPEN_DEV(fd);
	for (i = 0; i < TOKEN_THREADS; i++)
		CHECK(shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a[i]));
	R->tasks_before = shstk_live_records_quiet("tasks");
	R->ss_before = shstk_count_ss_vmas();
	for (i = 0; i < TOKEN_THREADS; i++) {
		CHECK(shstk_set_clone(fd, 0, 0, a[i].token));
		CHECK(run_pthread(probe_thread, &R->t[i], 0));
		R->ret[i] = R->t[i].start == a[i].addr ? 0 : -ENOENT;
	}
	R->ss_after = shstk_count_ss_vmas();
	R->tasks_after = shstk_live_records_settled("tasks", R->tasks_before);
	for (i = 0; i < TOKEN_THREADS; i++) {
		/* Still there, whole. */
		if (shstk_find_vma(a[i].addr, &start, &end, &ss) || start != a[i].addr ||
		    end != a[i].addr + SZ_64K || !ss)
			R->ret[i] = -EFAULT;
		munmap((void *)(uintptr_t)a[i].addr, SZ_64K);
	}
	R->ss_during = shstk_count_ss_vmas();
	return 0;
}

TEST(token_threads_leave_the_callers_stacks_mapped)
{
	int i;

	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(token_leak, NULL));
	for (i = 0; i < TOKEN_THREADS; i++)
		EXPECT_EQ(0, R->ret[i]) TH_LOG("thread %d: %s", i, strerror(-R->ret[i]));
	EXPECT_EQ(R->ss_before, R->ss_after);
	EXPECT_EQ(R->ss_before - TOKEN_THREADS, R->ss_during);
	/* And their records went with them. */
	ASSERT_LE(0, R->tasks_before) TH_LOG("no shstk/tasks in debugfs");
	EXPECT_EQ(R->tasks_before, R->tasks_after);
}

static int exit_token(void *arg)
{
	int fd;

	OPEN_DEV(fd);
	CHECK(make_token_stack(fd));
	CHECK(shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN, 0, R->token));
	CHECK(run_pthread(probe_thread, &R->t[0], 0));
	R->value = *(volatile uint64_t *)(uintptr_t)R->token;
	R->ret[0] = shstk_set_clone(fd, 0, 0, R->token);
	CHECK(R->ret[0]);
	CHECK(run_pthread(probe_thread, &R->t[1], 0));
	return 0;
}

/* EXIT_TOKEN: after join the token is back, and the stack runs the next thread. */
TEST(exit_token_is_rewritten_when_the_thread_exits)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(exit_token, NULL));
	EXPECT_ON_TOKEN_STACK(&R->t[0]);
	EXPECT_EQ(shstk_token_value(R->token), R->value)
		TH_LOG("token slot holds %#llx", (unsigned long long)R->value);
	EXPECT_ON_TOKEN_STACK(&R->t[1]);
}

/*
 * A raw thread that parks, then exits without returning: after its
 * shadow stack is replaced under it, a return would be checked against
 * the new, empty mapping.
 */
static int park_then_exit(void *arg)
{
	struct park *p = arg;

	p->parked = 1;
	while (!p->go)
		raw_syscall3(__NR_sched_yield, 0, 0, 0);
	raw_syscall3(__NR_exit, 0, 0, 0);
	__builtin_unreachable();
}

static int exit_token_replaced(void *arg)
{
	struct park p = { 0 };
	struct raw_thread rt;
	uint64_t low, top;
	long tid, ss;
	int fd;
	void *v;

	OPEN_DEV(fd);
	/*
	 * The thread's stack: [low + 64K, low + 128K), token at the top,
	 * with a placeholder below it that keeps [low, low + 64K) ours.
	 */
	v = mmap(NULL, 2 * SZ_64K, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(v == MAP_FAILED ? -errno : 0);
	low = (uintptr_t)v;
	top = low + 2 * SZ_64K;
	CHECK(munmap((void *)(uintptr_t)(low + SZ_64K), SZ_64K) ? -errno : 0);
	ss = raw_syscall3(__NR_map_shadow_stack, (long)(low + SZ_64K), SZ_64K,
			  SHADOW_STACK_SET_TOKEN);
	CHECK(ss < 0 ? ss : 0);
	CHECK_TRUE((uint64_t)ss == low + SZ_64K);
	R->addr = ss;
	R->token = top - 8;
	CHECK(shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN, 0, R->token));
	tid = raw_thread_start(&rt, park_then_exit, &p, 0);
	CHECK(tid < 0 ? tid : 0);
	while (!p.parked)
		sched_yield();
	R->t[0].ssp = rt.first_ssp;
	/* Its stack goes; another shadow stack (lower base) covers the token slot. */
	CHECK(munmap((void *)(uintptr_t)low, 2 * SZ_64K) ? -errno : 0);
	ss = raw_syscall3(__NR_map_shadow_stack, (long)low, 2 * SZ_64K, 0);
	CHECK(ss < 0 ? ss : 0);
	CHECK_TRUE((uint64_t)ss == low);
	p.go = 1;
	raw_thread_join(&rt);
	/* EXIT_TOKEN had the thread's own stack in mind, which is gone. */
	R->value = *(volatile uint64_t *)(uintptr_t)R->token;
	return 0;
}

/* F5: the exit token is written only into the stack the thread started on. */
TEST(exit_token_is_not_written_into_a_stack_that_replaced_it)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(exit_token_replaced, NULL));
	EXPECT_EQ(R->token + 8, R->t[0].ssp);
	EXPECT_EQ(0, R->value) TH_LOG("slot %#llx of the new mapping holds %#llx",
				      (unsigned long long)R->token, (unsigned long long)R->value);
}

/* --- No transient default-size mapping: the armed size is the only one --- */

static long committed_as_kib(void)
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

/* Total size of this process's ss mappings, and how many there are. */
static uint64_t ss_total(int *count)
{
	char line[512];
	unsigned long s, e, start = 0, end = 0;
	uint64_t total = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	*count = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			start = s;
			end = e;
		} else if (!strncmp(line, "VmFlags:", 8) && strstr(line, " ss")) {
			total += end - start;
			(*count)++;
		}
	}
	if (f)
		fclose(f);
	return total;
}

struct transient {
	long commit_delta_kib;		/* Committed_AS change across clone3() */
	uint64_t ss_delta;		/* ss bytes added */
	int ss_new;			/* ss mappings added */
};

#define TRANSIENT_STACK (64ULL << 20)

/*
 * Armed with 64 KiB, clone3() a thread whose stack_size is 64 MiB and look
 * at the process from the parent the moment clone3() returns, while the
 * thread is parked: one new ss mapping of 64 KiB, and Committed_AS grew by
 * that and the thread's own small stack, never by 64 MiB.
 */
static int transient_probe(void *arg)
{
	struct transient *tr = arg;
	struct park p = { 0 };
	struct raw_thread rt;
	int fd, n_before, n_during;
	uint64_t before, during;
	long commit;

	OPEN_DEV(fd);
	CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
	before = ss_total(&n_before);
	commit = committed_as_kib();
	CHECK_TRUE(raw_thread_start(&rt, raw_park, &p, TRANSIENT_STACK) > 0);
	tr->commit_delta_kib = committed_as_kib() - commit;
	during = ss_total(&n_during);
	tr->ss_delta = during - before;
	tr->ss_new = n_during - n_before;
	p.go = 1;
	raw_thread_join(&rt);
	return 0;
}

TEST(armed_clone_never_maps_the_default_size)
{
	struct transient *tr;

	REQUIRE_SHSTK();
	NEW_REPORT();
	tr = shstk_shared(sizeof(*tr));
	ASSERT_NE(NULL, tr);
	ASSERT_CHILD_OK(shstk_run(transient_probe, tr));
	EXPECT_EQ(1, tr->ss_new);
	EXPECT_EQ(SZ_64K, tr->ss_delta);
	/* The thread's own stack (RAW_THREAD_STACK) and 64 KiB, with 1 MiB to spare. */
	EXPECT_GT((RAW_THREAD_STACK >> 10) + 64 + 1024, tr->commit_delta_kib);
	TH_LOG("clone3 with stack_size 64 MiB, armed 64 KiB: +%d ss mapping of %llu KiB, "
	       "Committed_AS +%ld KiB", tr->ss_new, (unsigned long long)tr->ss_delta >> 10,
	       tr->commit_delta_kib);
}

/*
 * The same, seen while it happens: the mmap tracepoint vm_unmapped_area
 * fires for every address search, so a default-size shadow stack made and
 * dropped inside the clone would show there even if gone by the time
 * clone3() returns. Only searches of TRANSIENT_STACK bytes or more are
 * traced; an unarmed clone first shows that the probe sees the kernel's.
 */
#define TRACING		"/sys/kernel/tracing/"
#define UNMAPPED_AREA	TRACING "events/mmap/vm_unmapped_area/"

static int tracing_write(const char *path, const char *val)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(val, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* Events in the trace buffer now; the buffer is emptied. */
static int big_searches(void)
{
	char line[512];
	int n = 0;
	FILE *f = fopen(TRACING "trace", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, "vm_unmapped_area:");
	fclose(f);
	return tracing_write(TRACING "trace", "") ?: n;
}

static int traced_clones(void *arg)
{
	char filter[64];
	int fd;

	OPEN_DEV(fd);
	snprintf(filter, sizeof(filter), "length >= %llu",
		 (unsigned long long)shstk_kernel_rule_clone(TRANSIENT_STACK));
	CHECK(tracing_write(UNMAPPED_AREA "filter", filter));
	CHECK(tracing_write(TRACING "trace", ""));
	CHECK(tracing_write(UNMAPPED_AREA "enable", "1"));
	R->ret[0] = run_raw_quick(TRANSIENT_STACK);
	R->ret[1] = big_searches();
	CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
	R->ret[2] = run_raw_quick(TRANSIENT_STACK);
	R->ret[3] = big_searches();
	CHECK(tracing_write(UNMAPPED_AREA "enable", "0"));
	CHECK(tracing_write(UNMAPPED_AREA "filter", "0"));
	return 0;
}

TEST(armed_clone_never_even_looks_for_a_default_size_area)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(traced_clones, NULL));
	ASSERT_LT(0, R->ret[0]);
	ASSERT_LT(0, R->ret[2]);
	/* The probe works: the kernel's rule searched for 64 MiB (arm64: 32 MiB). */
	EXPECT_LE(1, R->ret[1]) TH_LOG("unarmed clone: %ld big searches", R->ret[1]);
	EXPECT_EQ(0, R->ret[3]) TH_LOG("armed clone: %ld big searches", R->ret[3]);
	TH_LOG("address searches of 64 MiB or more: unarmed clone %ld, armed 64 KiB clone %ld",
	       R->ret[1], R->ret[3]);
}

/* --- A clone that fails after the shadow stack was made gives it all back --- */

/* struct clone_args, version 1: with set_tid. */
struct raw_clone_args_v1 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size;
};

/* Two places where copy_process() fails after copy_thread() made the shadow stack. */
enum clone_failure {
	/*
	 * alloc_pid() refuses a set_tid that is taken (our own pid): EEXIST,
	 * after copy_thread(); copy_process() calls exit_thread().
	 */
	FAIL_TAKEN_TID,
	/*
	 * copy_thread() itself: set_new_tls() refuses a non-canonical
	 * CLONE_SETTLS value (EPERM) after the shadow stack was made, and
	 * copy_process() skips exit_thread() (so shstk_free()) on this path.
	 * x86 only: arm64's copy_thread() takes any TLS value and makes the
	 * GCS last, so it cannot fail after that.
	 */
	FAIL_BAD_TLS,
};

/*
 * clone3() a thread that fails as how says. Returns -errno. Should the
 * clone succeed after all, the child leaves at once with a raw exit.
 */
static long clone3_failing(enum clone_failure how)
{
	pid_t taken = getpid();
	struct raw_clone_args_v1 args = {
		.flags = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_FS,
	};

	if (how == FAIL_TAKEN_TID) {
		args.set_tid = (uintptr_t)&taken;
		args.set_tid_size = 1;
	} else {
		args.flags |= CLONE_SETTLS;
		args.tls = 1ULL << 63;
	}
	return raw_clone3_or_exit(&args, sizeof(args));
}

/* What sized the shadow stack of the clone that fails. */
enum failed_sizing { BY_ARMED_SIZE, BY_TOKEN, BY_POLICY };

struct failed_clone {
	enum clone_failure how;
	enum failed_sizing by;
	long ret;			/* clone3()'s result */
	int ss_before, ss_after;	/* ss mappings */
	uint64_t ss_bytes_before, ss_bytes_after;
	long tasks_before, tasks_after;	/* debugfs shstk/tasks */
	struct shstk_clone arm;		/* GET_CLONE after the failure */
	uint64_t token, slot;		/* token stack: token address, slot after */
	int reused;			/* the token ran a thread afterwards */
	struct thread_report next;	/* the next thread, under the policy */
};

static int set_fixed_policy(int fd, uint64_t size)
{
	struct shstk_policy p = {
		.argsz = sizeof(p),
		.mode = SHSTK_POLICY_FIXED,
		.size = size,
	};

	return ioctl(fd, SHSTK_IOC_SET_POLICY, &p) ? -errno : 0;
}

static int failing_clone(void *arg)
{
	struct failed_clone *fc = arg;
	struct shstk_alloc a;
	int fd, n;

	OPEN_DEV(fd);
	switch (fc->by) {
	case BY_TOKEN:
		CHECK(shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a));
		fc->token = a.token;
		CHECK(shstk_set_clone(fd, 0, 0, a.token));
		break;
	case BY_ARMED_SIZE:
		CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
		break;
	case BY_POLICY:
		CHECK(set_fixed_policy(fd, SZ_64K));
		break;
	}
	fc->tasks_before = shstk_live_records_quiet("tasks");
	fc->ss_before = shstk_count_ss_vmas();
	fc->ss_bytes_before = ss_total(&n);
	fc->ret = clone3_failing(fc->how);
	fc->ss_after = shstk_count_ss_vmas();
	fc->ss_bytes_after = ss_total(&n);
	fc->tasks_after = shstk_live_records_settled("tasks", fc->tasks_before);
	CHECK(shstk_get_clone(fd, &fc->arm));
	if (fc->by == BY_TOKEN) {
		fc->slot = *(volatile uint64_t *)fc->token;
		/* Still a good token: it starts a thread now. */
		CHECK(run_pthread(probe_thread, &R->t[0], 0));
		fc->reused = R->t[0].found && R->t[0].ssp > a.addr && R->t[0].ssp <= a.token + 8;
	}
	if (fc->by == BY_POLICY)
		CHECK(run_raw(&fc->next, RULE_SIZE));
	return 0;
}

FIXTURE(failed_clone) {};
FIXTURE_VARIANT(failed_clone) {
	enum clone_failure how;
	enum failed_sizing by;
	int err;
};
FIXTURE_VARIANT_ADD(failed_clone, taken_tid_armed_size) {
	.how = FAIL_TAKEN_TID, .by = BY_ARMED_SIZE, .err = EEXIST };
FIXTURE_VARIANT_ADD(failed_clone, taken_tid_token) {
	.how = FAIL_TAKEN_TID, .by = BY_TOKEN, .err = EEXIST };
FIXTURE_VARIANT_ADD(failed_clone, taken_tid_policy) {
	.how = FAIL_TAKEN_TID, .by = BY_POLICY, .err = EEXIST };
#if defined(__x86_64__)
FIXTURE_VARIANT_ADD(failed_clone, bad_tls_armed_size) {
	.how = FAIL_BAD_TLS, .by = BY_ARMED_SIZE, .err = EPERM };
FIXTURE_VARIANT_ADD(failed_clone, bad_tls_token) {
	.how = FAIL_BAD_TLS, .by = BY_TOKEN, .err = EPERM };
FIXTURE_VARIANT_ADD(failed_clone, bad_tls_policy) {
	.how = FAIL_BAD_TLS, .by = BY_POLICY, .err = EPERM };
#endif
FIXTURE_SETUP(failed_clone) {}
FIXTURE_TEARDOWN(failed_clone) {}

/*
 * No mapping left behind, no record, the token back in place, a one-shot
 * arming still there: the clone did not happen.
 */
TEST_F(failed_clone, gives_back_what_it_took)
{
	struct failed_clone *fc;

	REQUIRE_SHSTK();
	if (variant->by == BY_POLICY)
		ASSERT_FEATURE(SHSTK_FEAT_POLICY);
	NEW_REPORT();
	fc = shstk_shared(sizeof(*fc));
	ASSERT_NE(NULL, fc);
	fc->how = variant->how;
	fc->by = variant->by;
	ASSERT_CHILD_OK(shstk_run(failing_clone, fc));
	ASSERT_EQ(-variant->err, fc->ret);
	EXPECT_EQ(fc->ss_before, fc->ss_after);
	EXPECT_EQ(fc->ss_bytes_before, fc->ss_bytes_after);
	ASSERT_LE(0, fc->tasks_before) TH_LOG("no shstk/tasks in debugfs");
	EXPECT_EQ(fc->tasks_before, fc->tasks_after);
	switch (variant->by) {
	case BY_ARMED_SIZE:
		/* The one-shot arming was not used up by a clone that did not happen. */
		EXPECT_ARMING(0, SZ_64K, 0, &fc->arm);
		break;
	case BY_TOKEN:
		EXPECT_EQ(shstk_token_value(fc->token), fc->slot);
		EXPECT_ARMING(0, 0, fc->token, &fc->arm);
		EXPECT_TRUE(fc->reused);
		break;
	case BY_POLICY:
		EXPECT_ARMING(0, 0, 0, &fc->arm);
		EXPECT_STACK_SIZE(SZ_64K, &fc->next);
		break;
	}
	TH_LOG("clone3: %ld; ss mappings %d -> %d (%llu -> %llu bytes); records %ld -> %ld",
	       fc->ret, fc->ss_before, fc->ss_after, (unsigned long long)fc->ss_bytes_before,
	       (unsigned long long)fc->ss_bytes_after, fc->tasks_before, fc->tasks_after);
}

/* --- A token that went bad between arming and clone: EINVAL, nothing taken --- */

static int make_token_stale(void *arg)
{
	int fd, ss_armed;
	long how = (long)arg;

	OPEN_DEV(fd);
	CHECK(make_token_stack(fd));
	CHECK(shstk_set_clone(fd, 0, 0, R->token));
	ss_armed = shstk_count_ss_vmas();
	CHECK(munmap((void *)R->addr, SZ_64K) ? -errno : 0);
	if (how == 1) {
		/* A normal mapping where the stack was: the token looks the same. */
		uint64_t *p = mmap((void *)R->addr, SZ_64K, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

		CHECK(p == MAP_FAILED ? -errno : 0);
		p[(R->token - R->addr) / 8] = shstk_token_value(R->token);
	}
	R->ss_before = ss_armed - 1;
	R->ret[0] = run_raw_quick(RULE_SIZE);
	R->ss_after = shstk_count_ss_vmas();
	CHECK(shstk_get_clone(fd, &R->got[0]));
	return 0;
}

/*
 * ABI.md: at clone time the token is checked again; if it is no longer
 * valid the clone fails with EINVAL and nothing is consumed (the one-shot
 * arming stays, as for any failed clone). make_token_stale()'s argument: 0
 * unmaps the stack, 1 also maps normal memory with the token value there.
 */
FIXTURE(stale_token) {};
FIXTURE_VARIANT(stale_token) { long how; };
FIXTURE_VARIANT_ADD(stale_token, stack_unmapped) { .how = 0 };
FIXTURE_VARIANT_ADD(stale_token, stack_replaced_by_normal_memory) { .how = 1 };
FIXTURE_SETUP(stale_token) {}
FIXTURE_TEARDOWN(stale_token) {}

TEST_F(stale_token, fails_the_clone_with_einval_and_keeps_the_arming)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(make_token_stale, (void *)variant->how));
	EXPECT_EQ(-EINVAL, R->ret[0]);
	EXPECT_EQ(R->ss_before, R->ss_after);
	EXPECT_ARMING(0, 0, R->token, &R->got[0]);
}

/* --- CLONE_VM without CLONE_THREAD: a thread for this purpose --- */

#define SHARED_MM_FLAGS (CLONE_VM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

/*
 * A child process sharing our mm (CLONE_VM, no CLONE_THREAD, exit signal
 * SIGCHLD): its first SSP and where that is, seen from here (same mm).
 */
static int shared_mm_child(void *arg)
{
	struct park p = { 0 };
	struct raw_thread rt;
	struct thread_report *t = &R->t[0];
	int fd, status;
	long pid;

	OPEN_DEV(fd);
	if (arg) {
		CHECK(make_token_stack(fd));
		CHECK(shstk_set_clone(fd, 0, 0, R->token));
	} else {
		CHECK(shstk_set_clone(fd, 0, SZ_64K, 0));
	}
	R->ss_before = shstk_count_ss_vmas();
	pid = raw_clone_start(&rt, raw_park, &p, RULE_SIZE, SHARED_MM_FLAGS, SIGCHLD);
	CHECK(pid < 0 ? pid : 0);
	while (!p.parked)
		sched_yield();
	t->tid = pid;
	t->ssp = rt.first_ssp;
	t->found = !shstk_find_ssp_vma(t->ssp, &t->start, &t->end, &t->ss);
	R->ss_during = shstk_count_ss_vmas();
	CHECK(shstk_get_clone(fd, &R->got[0]));
	p.go = 1;
	raw_thread_join(&rt);
	CHECK(waitpid(pid, &status, 0) == pid ? 0 : -errno);
	CHECK_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	R->ss_after = shstk_count_ss_vmas();
	/* A consumed token cannot be armed again. */
	if (arg)
		R->ret[1] = shstk_set_clone(fd, 0, 0, R->token);
	return 0;
}

TEST(clone_vm_without_clone_thread_gets_the_armed_size)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(shared_mm_child, NULL));
	EXPECT_STACK_SIZE(SZ_64K, &R->t[0]);
	EXPECT_EQ(shstk_empty_ssp(R->t[0].end), R->t[0].ssp)
		TH_LOG("first SSP at the top of the new stack");
	EXPECT_EQ(R->ss_before + 1, R->ss_during);
	EXPECT_EQ(R->ss_before, R->ss_after);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
}

TEST(clone_vm_without_clone_thread_takes_the_token_in_the_shared_mm)
{
	REQUIRE_SHSTK();
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(shared_mm_child, (void *)1));
	EXPECT_EQ(R->token + 8, R->t[0].ssp);
	EXPECT_EQ(R->addr, R->t[0].start);
	EXPECT_EQ(R->ss_before, R->ss_during);
	EXPECT_EQ(R->ss_before, R->ss_after);
	/* Consumed in the mm both share; not written back without EXIT_TOKEN. */
	EXPECT_EQ(-EINVAL, R->ret[1]);
	EXPECT_ARMING(0, 0, 0, &R->got[0]);
}

TEST_HARNESS_MAIN
