// SPDX-License-Identifier: GPL-2.0
/*
 * libshstk (userspace/lib), as a program linked against it sees it. Runs in
 * both guests: without user shadow stacks every call but shstk_info()
 * fails with EOPNOTSUPP; with them, shadow stacks made, threads started on
 * sized and caller-made ones (pthread and clone3), usage read back.
 *
 * Code on a shadow stack runs in shstk_run() children (lib/cet.h), which
 * report through shared memory: the test bodies assert, never the children.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "shstk.h"

#define SIZE_64K	(64ULL << 10)
#define SIZE_128K	(128ULL << 10)
#define STACK_8M	(8UL << 20)
#define CLONE_STACK	(1UL << 20)

/* What pthread_create() passes, plus the tid handshake used for joining. */
#define THREAD_FLAGS (CLONE_VM | CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_FS | \
		      CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

#define REQUIRE_SHSTK() do {						\
	if (!shstk_hw_available())					\
		SKIP(return, "no user shadow stacks on this CPU/kernel");	\
} while (0)

/* What a thread on its new shadow stack saw, and what its creator saw. */
struct report {
	int err;			/* errno of the call under test, 0 if it worked */
	uint64_t ssp;			/* the thread's SSP */
	int vma_err;
	uint64_t vma_start, vma_end;	/* the mapping holding that SSP */
	bool vma_is_ss;
	int usage_err;
	struct shstk_usage usage;
	uint64_t alloc_addr, alloc_token;
	struct shstk_clone arming_after;	/* the creator's arming afterwards */
	/* clone3 handshake (futex words): the child's tid, cleared at its exit */
	uint32_t tid;
	uint32_t ready, release;
};

static struct report *new_report(void)
{
	struct report *r = shstk_shared(sizeof(*r));

	if (r)
		memset(r, 0, sizeof(*r));
	return r;
}

/* The child's wait status as text, for TH_LOG. */
static const char *status_text(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "fork/wait failed");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit %d%s", WEXITSTATUS(status),
			 WEXITSTATUS(status) == SHSTK_RUN_NO_ENABLE ? " (no shadow stack)" : "");
	else
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	return buf;
}

/* Evaluates status once: it is usually the shstk_run() call itself. */
#define ASSERT_CHILD_OK(status) do {					\
	int _status = (status);						\
	char _buf[64];							\
	ASSERT_TRUE(WIFEXITED(_status) && WEXITSTATUS(_status) == 0)	\
		TH_LOG("shadow-stack child: %s",			\
		       status_text(_status, _buf, sizeof(_buf)));	\
} while (0)

/* Number of open file descriptors of this process on /dev/shstk. */
static int count_device_fds(int *last_fd)
{
	char target[64];
	struct dirent *entry;
	int n = 0;
	DIR *dir = opendir("/proc/self/fd");
	ssize_t len;

	if (!dir)
		return -1;
	while ((entry = readdir(dir))) {
		len = readlinkat(dirfd(dir), entry->d_name, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (!strcmp(target, SHSTK_DEVICE)) {
			n++;
			*last_fd = atoi(entry->d_name);
		}
	}
	closedir(dir);
	return n;
}

/* ---- Both guests: what does not depend on shadow stacks ---- */

TEST(info_reports_abi_version_1)
{
	struct shstk_info info;

	ASSERT_EQ(0, shstk_info(&info)) TH_LOG("shstk_info: %s (is shstk.ko loaded?)",
					       strerror(errno));
	EXPECT_EQ(sizeof(info), info.argsz);
	EXPECT_EQ(SHSTK_ABI_VERSION, info.abi_version);
	EXPECT_EQ(SHSTK_TEST_ARCH, info.arch);
	EXPECT_EQ(shstk_hw_available(), !!(info.features & SHSTK_FEAT_HW));
	EXPECT_LE(info.min_size, info.max_size);
}

TEST(device_fd_is_opened_once_with_cloexec)
{
	struct shstk_info info;
	int fd = -1, again = -1;

	ASSERT_EQ(0, count_device_fds(&fd));
	ASSERT_EQ(0, shstk_info(&info));
	ASSERT_EQ(0, shstk_info(&info));
	ASSERT_EQ(1, count_device_fds(&fd));
	EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	/* shstk_close() gives it back; the next call opens it again. */
	shstk_close();
	EXPECT_EQ(0, count_device_fds(&again));
	ASSERT_EQ(0, shstk_info(&info));
	EXPECT_EQ(1, count_device_fds(&again));
	shstk_close();
	shstk_close();	/* twice is harmless */
}

struct racer {
	pthread_barrier_t *start;
	int err;
};

static void *first_call(void *arg)
{
	struct racer *racer = arg;
	struct shstk_info info;

	pthread_barrier_wait(racer->start);
	racer->err = shstk_info(&info) ? errno : 0;
	return NULL;
}

/* Threads racing to make the first call end up sharing one fd. */
TEST(concurrent_first_calls_share_one_fd)
{
	enum { N = 8 };
	pthread_barrier_t start;
	struct racer racers[N];
	pthread_t threads[N];
	int i, fd;

	ASSERT_EQ(0, pthread_barrier_init(&start, NULL, N));
	for (i = 0; i < N; i++) {
		racers[i] = (struct racer){ .start = &start };
		ASSERT_EQ(0, pthread_create(&threads[i], NULL, first_call, &racers[i]));
	}
	for (i = 0; i < N; i++) {
		pthread_join(threads[i], NULL);
		EXPECT_EQ(0, racers[i].err) TH_LOG("thread %d: %s", i, strerror(racers[i].err));
	}
	EXPECT_EQ(1, count_device_fds(&fd));
	pthread_barrier_destroy(&start);
}

static int never_runs(void *arg)
{
	return 1;
}

/* Checked by the library itself, before any ioctl: the same everywhere. */
TEST(clone3_argument_errors)
{
	unsigned char big[sizeof(struct shstk_clone_args) + 8] = { 0 };
	struct shstk_clone_args *args = (struct shstk_clone_args *)big;
	static char stack[4096];

	/* A shadow stack for a child that shares no memory: EINVAL. */
	args->flags = 0;
	args->exit_signal = SIGCHLD;
	args->shadow_stack_size = SIZE_64K;
	EXPECT_EQ(-1, shstk_clone3(args, sizeof(*args), never_runs, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* vfork shares the parent's shadow stack: no new one to size. */
	args->flags = CLONE_VM | CLONE_VFORK;
	args->stack = (uintptr_t)stack;
	args->stack_size = sizeof(stack);
	EXPECT_EQ(-1, shstk_clone3(args, sizeof(*args), never_runs, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* CLONE_VM without a stack of its own: the child would run on ours. */
	*args = (struct shstk_clone_args){ .flags = THREAD_FLAGS };
	EXPECT_EQ(-1, shstk_clone3(args, sizeof(*args), never_runs, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* No function, or a struct below version 0. */
	args->stack = (uintptr_t)stack;
	args->stack_size = sizeof(stack);
	EXPECT_EQ(-1, shstk_clone3(args, sizeof(*args), NULL, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, shstk_clone3(args, SHSTK_CLONE_ARGS_SIZE_VER0 - 8, never_runs, NULL));
	EXPECT_EQ(EINVAL, errno);
	/* A newer caller's bigger struct: unknown bytes must be zero. */
	big[sizeof(*args) + 3] = 1;
	EXPECT_EQ(-1, shstk_clone3(args, sizeof(big), never_runs, NULL));
	EXPECT_EQ(E2BIG, errno);
}

/* ---- Without user shadow stacks (QEMU): EOPNOTSUPP from every call ---- */

/*
 * call must fail with EOPNOTSUPP where there are no user shadow stacks.
 * With them there is nothing to check here (and no skip: the CET guest
 * counts a skip as a failure); the tests further down cover the calls.
 */
#define EXPECT_EOPNOTSUPP_WITHOUT_HW(call) do {				\
	if (shstk_hw_available()) {					\
		TH_LOG("user shadow stacks present: covered by the CET tests"); \
	} else {							\
		errno = 0;						\
		EXPECT_EQ(-1, (call));					\
		EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("%s: %s", #call, strerror(errno)); \
	}								\
} while (0)

TEST(alloc_without_hw_is_eopnotsupp)
{
	uint64_t addr = 1, token = 1;

	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_alloc(SIZE_64K, SHSTK_ALLOC_TOKEN, &addr, &token));
	/* A failed call leaves the outputs alone. */
	EXPECT_EQ(1, addr);
	EXPECT_EQ(1, token);
}

TEST(usage_without_hw_is_eopnotsupp)
{
	struct shstk_usage usage;

	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_usage(0, &usage));
	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_usage(getpid(), &usage));
}

TEST(clone_arming_without_hw_is_eopnotsupp)
{
	struct shstk_clone arming;

	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_set_clone(0, SIZE_64K, 0));
	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_set_clone(0, 0, 0));
	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_get_clone(&arming));
}

TEST(policy_without_hw_is_eopnotsupp)
{
	struct shstk_policy policy = { .mode = SHSTK_POLICY_FIXED, .size = SIZE_64K };

	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_set_policy(&policy));
	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_get_policy(0, &policy));
	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_get_policy(getpid(), &policy));
}

static void *idle_thread(void *arg)
{
	return arg;
}

TEST(thread_creation_without_hw_is_eopnotsupp)
{
	struct shstk_clone_args args = {
		.flags = THREAD_FLAGS, .shadow_stack_size = SIZE_64K,
	};
	static char stack[4096];
	pthread_t thread;
	void *ret = NULL;

	args.stack = (uintptr_t)stack;
	args.stack_size = sizeof(stack);
	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_pthread_create(&thread, NULL, idle_thread, NULL,
							  SIZE_64K, 0));
	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_pthread_create(&thread, NULL, idle_thread, NULL,
							  0, 0x1000));
	EXPECT_EOPNOTSUPP_WITHOUT_HW(shstk_clone3(&args, sizeof(args), never_runs, NULL));
	/* Neither size nor token: a plain pthread_create, anywhere. */
	ASSERT_EQ(0, shstk_pthread_create(&thread, NULL, idle_thread, &args, 0, 0));
	ASSERT_EQ(0, pthread_join(thread, &ret));
	EXPECT_EQ(&args, ret);
}

TEST(enabled_is_false_without_a_shadow_stack)
{
	/* The harness does not enable shadow stacks, whatever the CPU. */
	EXPECT_EQ(0, shstk_enabled());
}

/* ---- With user shadow stacks (the CET guest) ---- */

TEST(alloc_with_token_maps_a_shadow_stack)
{
	uint64_t addr = 0, token = 0, start, end;
	bool is_ss = false;

	REQUIRE_SHSTK();
	ASSERT_EQ(0, shstk_alloc(SIZE_64K, SHSTK_ALLOC_TOKEN, &addr, &token))
		TH_LOG("shstk_alloc: %s", strerror(errno));
	EXPECT_EQ(0, addr % 4096);
	EXPECT_EQ(addr + SIZE_64K - 8, token);
	ASSERT_EQ(0, shstk_find_vma(addr, &start, &end, &is_ss));
	EXPECT_TRUE(is_ss);
	EXPECT_EQ(addr, start);
	EXPECT_EQ(addr + SIZE_64K, end);
	/*
	 * A valid restore token (x86: the SSP above it, arm64: a GCS cap
	 * token, riscv64: the address above it), read as any thread can.
	 */
	EXPECT_EQ(shstk_token_value(token), shstk_read_ss(token));
	EXPECT_EQ(0, munmap((void *)(uintptr_t)addr, SIZE_64K));
}

TEST(alloc_without_token_and_outputs_optional)
{
	uint64_t addr = 0, token = 1;

	REQUIRE_SHSTK();
	ASSERT_EQ(0, shstk_alloc(SIZE_64K, 0, &addr, &token));
	EXPECT_EQ(0, token);
	EXPECT_EQ(0, munmap((void *)(uintptr_t)addr, SIZE_64K));
	/* NULL outputs are allowed; the mapping is then the caller's to find. */
	EXPECT_EQ(0, shstk_alloc(SIZE_64K, SHSTK_ALLOC_TOKEN, NULL, NULL));
}

TEST(alloc_bad_size_is_einval)
{
	uint64_t addr = 0;

	REQUIRE_SHSTK();
	EXPECT_EQ(-1, shstk_alloc(12, 0, &addr, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, addr);
}

TEST(usage_of_a_thread_without_shadow_stack_is_all_zero)
{
	struct shstk_usage usage;

	REQUIRE_SHSTK();
	memset(&usage, 0xff, sizeof(usage));
	ASSERT_EQ(0, shstk_usage(0, &usage)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, usage.status);
	EXPECT_EQ(0, usage.size);
	EXPECT_EQ(SHSTK_ORIGIN_NONE, usage.origin);
	EXPECT_EQ(sizeof(usage), usage.argsz);
}

TEST(usage_of_no_such_thread_is_esrch)
{
	struct shstk_usage usage;

	REQUIRE_SHSTK();
	EXPECT_EQ(-1, shstk_usage(-1, &usage));
	EXPECT_EQ(ESRCH, errno);
	EXPECT_EQ(-1, shstk_usage(0x3fffffff, &usage));
	EXPECT_EQ(ESRCH, errno);
}

static int usage_of_self(void *arg)
{
	struct report *r = arg;

	r->ssp = shstk_get_ssp();
	r->usage_err = shstk_usage(0, &r->usage) ? errno : 0;
	r->err = shstk_enabled() == 1 ? 0 : -1;
	return 0;
}

TEST(usage_of_self_on_a_shadow_stack)
{
	struct report *r = new_report();
	uint64_t top;
	int status;

	REQUIRE_SHSTK();
	ASSERT_NE(NULL, r);
	status = shstk_run(usage_of_self, r);
	ASSERT_CHILD_OK(status);
	EXPECT_EQ(0, r->err) TH_LOG("shstk_enabled() is not 1 on a shadow stack");
	ASSERT_EQ(0, r->usage_err) TH_LOG("shstk_usage: %s", strerror(r->usage_err));
	EXPECT_TRUE(r->usage.status & SHSTK_STATUS_ENABLED);
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, r->usage.origin);
	top = r->usage.base + r->usage.size;
	/* The ioctl ran a few frames below where this function read SSP. */
	EXPECT_TRUE(r->ssp > r->usage.base && r->ssp <= top);
	EXPECT_TRUE(r->usage.ssp < r->ssp && r->usage.ssp >= r->ssp - 256)
		TH_LOG("usage ssp %#llx, read %#llx", (unsigned long long)r->usage.ssp,
		       (unsigned long long)r->ssp);
	EXPECT_EQ(top - r->usage.ssp, r->usage.used);
	EXPECT_LE(r->usage.used, r->usage.peak);
	EXPECT_LT(0, r->usage.resident);
}

/* The start routine of the threads under test: where am I? */
static void *report_self(void *arg)
{
	struct report *r = arg;

	r->ssp = shstk_get_ssp();
	r->vma_err = shstk_find_ssp_vma(r->ssp, &r->vma_start, &r->vma_end, &r->vma_is_ss);
	r->usage_err = shstk_usage(0, &r->usage) ? errno : 0;
	return NULL;
}

static int pthread_with_size(void *arg)
{
	struct report *r = arg;
	pthread_attr_t attr;
	pthread_t thread;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_8M);
	if (shstk_pthread_create(&thread, &attr, report_self, r, SIZE_64K, 0)) {
		r->err = errno;
		return 0;
	}
	pthread_join(thread, NULL);
	if (shstk_get_clone(&r->arming_after))
		r->err = errno;
	return 0;
}

/* An 8 MiB stack would get an 8 MiB shadow stack: the size given wins. */
TEST(pthread_create_with_size_gets_that_shadow_stack)
{
	struct report *r = new_report();

	REQUIRE_SHSTK();
	ASSERT_NE(NULL, r);
	ASSERT_CHILD_OK(shstk_run(pthread_with_size, r));
	ASSERT_EQ(0, r->err) TH_LOG("shstk_pthread_create: %s", strerror(r->err));
	ASSERT_EQ(0, r->vma_err);
	EXPECT_TRUE(r->vma_is_ss);
	EXPECT_EQ(SIZE_64K, r->vma_end - r->vma_start);
	ASSERT_EQ(0, r->usage_err) TH_LOG("shstk_usage: %s", strerror(r->usage_err));
	EXPECT_EQ(SIZE_64K, r->usage.size);
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, r->usage.origin);
	/* One-shot: the creator is not armed any more. */
	EXPECT_EQ(0, r->arming_after.shadow_stack_size);
	EXPECT_EQ(0, r->arming_after.flags);
}

static int pthread_on_token(void *arg)
{
	struct report *r = arg;
	pthread_t thread;

	if (shstk_alloc(SIZE_64K, SHSTK_ALLOC_TOKEN, &r->alloc_addr, &r->alloc_token) ||
	    shstk_pthread_create(&thread, NULL, report_self, r, 0, r->alloc_token)) {
		r->err = errno;
		return 0;
	}
	pthread_join(thread, NULL);
	if (shstk_get_clone(&r->arming_after))
		r->err = errno;
	return 0;
}

TEST(pthread_create_on_token_starts_on_that_stack)
{
	struct report *r = new_report();

	REQUIRE_SHSTK();
	ASSERT_NE(NULL, r);
	ASSERT_CHILD_OK(shstk_run(pthread_on_token, r));
	ASSERT_EQ(0, r->err) TH_LOG("%s", strerror(r->err));
	EXPECT_TRUE(r->ssp > r->alloc_addr && r->ssp <= r->alloc_token)
		TH_LOG("thread ssp %#llx, stack %#llx..%#llx", (unsigned long long)r->ssp,
		       (unsigned long long)r->alloc_addr,
		       (unsigned long long)r->alloc_addr + SIZE_64K);
	ASSERT_EQ(0, r->usage_err) TH_LOG("shstk_usage: %s", strerror(r->usage_err));
	EXPECT_EQ(SHSTK_ORIGIN_TOKEN, r->usage.origin);
	EXPECT_EQ(r->alloc_addr, r->usage.base);
	EXPECT_EQ(SIZE_64K, r->usage.size);
	EXPECT_EQ(0, r->arming_after.shadow_stack_token);
}

static int pthread_when_armed(void *arg)
{
	struct report *r = arg;
	pthread_t thread;

	if (shstk_set_clone(SHSTK_CLONE_PERSIST, SIZE_64K, 0)) {
		r->err = -errno;
		return 0;
	}
	if (!shstk_pthread_create(&thread, NULL, report_self, r, SIZE_128K, 0)) {
		pthread_join(thread, NULL);
		r->err = 0;
	} else {
		r->err = errno;
	}
	if (shstk_get_clone(&r->arming_after))
		r->err = -errno;
	return 0;
}

/* An arming the caller made is not silently replaced, nor used up. */
TEST(pthread_create_when_already_armed_is_ebusy)
{
	struct report *r = new_report();

	REQUIRE_SHSTK();
	ASSERT_NE(NULL, r);
	ASSERT_CHILD_OK(shstk_run(pthread_when_armed, r));
	ASSERT_EQ(EBUSY, r->err) TH_LOG("got %d", r->err);
	EXPECT_EQ(SHSTK_CLONE_PERSIST, r->arming_after.flags);
	EXPECT_EQ(SIZE_64K, r->arming_after.shadow_stack_size);
}

/* The harness itself has no shadow stack: no new thread can get one. */
TEST(pthread_create_without_own_shadow_stack_is_einval)
{
	pthread_t thread;

	REQUIRE_SHSTK();
	EXPECT_EQ(-1, shstk_pthread_create(&thread, NULL, idle_thread, NULL, SIZE_64K, 0));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * Raw futex for the clone3 child: it shares our TLS, so no errno. Not
 * inlined, so that the child is not a leaf: on riscv64 a function pushes
 * its return address only if it saves ra, and clone3_child must push it,
 * as a call does on x86 and arm64.
 */
#if defined(__aarch64__)
static __attribute__((noinline)) long raw_futex(uint32_t *addr, int op, uint32_t val)
{
	register long x8 __asm__("x8") = SYS_futex;
	register long x0 __asm__("x0") = (long)addr;
	register long x1 __asm__("x1") = op;
	register long x2 __asm__("x2") = val;
	register long x3 __asm__("x3") = 0;

	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}
#elif defined(__riscv)
static __attribute__((noinline)) long raw_futex(uint32_t *addr, int op, uint32_t val)
{
	register long a7 __asm__("a7") = SYS_futex;
	register long a0 __asm__("a0") = (long)addr;
	register long a1 __asm__("a1") = op;
	register long a2 __asm__("a2") = val;
	register long a3 __asm__("a3") = 0;

	__asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2), "r"(a3) : "memory");
	return a0;
}
#else
static __attribute__((noinline)) long raw_futex(uint32_t *addr, int op, uint32_t val)
{
	register long rax __asm__("rax") = SYS_futex;
	register long rdi __asm__("rdi") = (long)addr;
	register long rsi __asm__("rsi") = op;
	register long rdx __asm__("rdx") = val;
	register long r10 __asm__("r10") = 0;

	__asm__ volatile("syscall" : "+r"(rax) : "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10)
			 : "rcx", "r11", "memory");
	return rax;
}
#endif

/* The clone3 child: publish SSP, then stay alive until released. */
static int clone3_child(void *arg)
{
	struct report *r = arg;

	r->ssp = shstk_get_ssp();
	__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
	raw_futex(&r->ready, FUTEX_WAKE, 1);
	while (!__atomic_load_n(&r->release, __ATOMIC_ACQUIRE))
		raw_futex(&r->release, FUTEX_WAIT, 0);
	return 0;
}

/*
 * shstk_clone3() of clone3_child with args (flags, stack and tid words set
 * here; the shadow stack is the caller's), and while the child is alive:
 * the mapping holding its SSP and its USAGE. Returns once it has exited.
 * r->err: errno of shstk_clone3(), 0 if it worked. Non-zero: no stack.
 */
static int clone3_and_watch(struct report *r, struct shstk_clone_args *args)
{
	void *stack = mmap(NULL, CLONE_STACK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	uint32_t left;
	pid_t tid;

	if (stack == MAP_FAILED)
		return 2;
	args->flags = THREAD_FLAGS;
	args->child_tid = (uintptr_t)&r->tid;
	args->parent_tid = (uintptr_t)&r->tid;
	args->stack = (uintptr_t)stack;
	args->stack_size = CLONE_STACK;
	tid = shstk_clone3(args, sizeof(*args), clone3_child, r);
	if (tid < 0) {
		r->err = errno;
		munmap(stack, CLONE_STACK);
		return 0;
	}
	while (!__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE))
		raw_futex(&r->ready, FUTEX_WAIT, 0);
	r->vma_err = shstk_find_ssp_vma(r->ssp, &r->vma_start, &r->vma_end, &r->vma_is_ss);
	r->usage_err = shstk_usage(tid, &r->usage) ? errno : 0;
	__atomic_store_n(&r->release, 1, __ATOMIC_RELEASE);
	raw_futex(&r->release, FUTEX_WAKE, 1);
	/* The kernel clears tid when the child is gone, and wakes us. */
	while ((left = __atomic_load_n(&r->tid, __ATOMIC_ACQUIRE)) != 0)
		raw_futex(&r->tid, FUTEX_WAIT, left);
	munmap(stack, CLONE_STACK);
	return 0;
}

static int clone3_with_size(void *arg)
{
	struct shstk_clone_args args = { .shadow_stack_size = SIZE_64K };
	struct report *r = arg;
	int ret = clone3_and_watch(r, &args);

	if (!ret && !r->err && shstk_get_clone(&r->arming_after))
		r->err = errno;
	return ret;
}

TEST(clone3_with_shadow_stack_size)
{
	struct report *r = new_report();

	REQUIRE_SHSTK();
	ASSERT_NE(NULL, r);
	ASSERT_CHILD_OK(shstk_run(clone3_with_size, r));
	ASSERT_EQ(0, r->err) TH_LOG("shstk_clone3: %s", strerror(r->err));
	ASSERT_EQ(0, r->vma_err) TH_LOG("no mapping holds the child's SSP %#llx",
					(unsigned long long)r->ssp);
	EXPECT_TRUE(r->vma_is_ss);
	EXPECT_EQ(SIZE_64K, r->vma_end - r->vma_start);
	/* fn was called once from the new shadow stack's top. */
	EXPECT_EQ(shstk_empty_ssp(r->vma_end) - 8, r->ssp);
	ASSERT_EQ(0, r->usage_err) TH_LOG("shstk_usage(child): %s", strerror(r->usage_err));
	EXPECT_EQ(SIZE_64K, r->usage.size);
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, r->usage.origin);
	EXPECT_EQ(0, r->arming_after.shadow_stack_size);
}

static int clone3_that_fails(void *arg)
{
	struct report *r = arg;
	static char stack[4096];
	/* CLONE_THREAD without CLONE_SIGHAND: the kernel refuses. */
	struct shstk_clone_args args = {
		.flags = CLONE_VM | CLONE_THREAD, .shadow_stack_size = SIZE_64K,
		.stack = (uintptr_t)stack, .stack_size = sizeof(stack),
	};

	if (shstk_clone3(&args, sizeof(args), never_runs, NULL) >= 0)
		return 3;
	r->err = errno;
	if (shstk_get_clone(&r->arming_after))
		return 4;
	return 0;
}

TEST(clone3_failure_leaves_nothing_armed)
{
	struct report *r = new_report();

	REQUIRE_SHSTK();
	ASSERT_NE(NULL, r);
	ASSERT_CHILD_OK(shstk_run(clone3_that_fails, r));
	EXPECT_EQ(EINVAL, r->err);
	EXPECT_EQ(0, r->arming_after.shadow_stack_size);
	EXPECT_EQ(0, r->arming_after.flags);
}

static int clone3_on_token(void *arg)
{
	struct shstk_clone_args args = { 0 };
	struct report *r = arg;
	int ret;

	if (shstk_alloc(SIZE_64K, SHSTK_ALLOC_TOKEN, &r->alloc_addr, &r->alloc_token)) {
		r->err = errno;
		return 0;
	}
	args.shadow_stack_token = r->alloc_token;
	ret = clone3_and_watch(r, &args);
	if (!ret && !r->err && shstk_get_clone(&r->arming_after))
		r->err = errno;
	return ret;
}

/* The child starts on the caller-made shadow stack, just above its token. */
TEST(clone3_with_shadow_stack_token)
{
	struct report *r = new_report();

	REQUIRE_SHSTK();
	ASSERT_NE(NULL, r);
	ASSERT_CHILD_OK(shstk_run(clone3_on_token, r));
	ASSERT_EQ(0, r->err) TH_LOG("shstk_alloc or shstk_clone3: %s", strerror(r->err));
	EXPECT_EQ(r->alloc_addr + SIZE_64K - 8, r->alloc_token);
	EXPECT_TRUE(r->ssp >= r->alloc_addr && r->ssp <= r->alloc_token + 8)
		TH_LOG("child ssp %#llx, stack %#llx, token %#llx", (unsigned long long)r->ssp,
		       (unsigned long long)r->alloc_addr, (unsigned long long)r->alloc_token);
	/* SSP started at token + 8; fn's return address went where the token was. */
	EXPECT_EQ(r->alloc_token, r->ssp);
	ASSERT_EQ(0, r->vma_err) TH_LOG("no mapping holds the child's SSP %#llx",
					(unsigned long long)r->ssp);
	EXPECT_TRUE(r->vma_is_ss);
	EXPECT_EQ(r->alloc_addr, r->vma_start);
	EXPECT_EQ(r->alloc_addr + SIZE_64K, r->vma_end);
	ASSERT_EQ(0, r->usage_err) TH_LOG("shstk_usage(child): %s", strerror(r->usage_err));
	EXPECT_EQ(SHSTK_ORIGIN_TOKEN, r->usage.origin);
	EXPECT_EQ(r->alloc_addr, r->usage.base);
	EXPECT_EQ(SIZE_64K, r->usage.size);
	/* Used once: nothing stays armed. */
	EXPECT_EQ(0, r->arming_after.flags);
	EXPECT_EQ(0, r->arming_after.shadow_stack_size);
	EXPECT_EQ(0, r->arming_after.shadow_stack_token);
}

/* One shstk_clone3() on a token that must fail, and the arming after it. */
struct failed_clone {
	int err;			/* its errno; -1 if it succeeded */
	int get_err;			/* errno of shstk_get_clone() afterwards */
	struct shstk_clone arming;
};

struct token_errors {
	int err;			/* errno of the setup, 0 if it worked */
	uint64_t token;			/* a valid token, at the top of a 64 KiB stack */
	struct failed_clone both, normal, refused, consumed;
	uint64_t after_both, after_refused;	/* what the token slot held then */
	struct report first;		/* the clone3 that consumed the token */
};

static void clone3_must_fail(struct shstk_clone_args *args, struct failed_clone *f)
{
	static char stack[4096];

	args->stack = (uintptr_t)stack;
	args->stack_size = sizeof(stack);
	f->err = shstk_clone3(args, sizeof(*args), never_runs, NULL) >= 0 ? -1 : errno;
	f->get_err = shstk_get_clone(&f->arming) ? errno : 0;
}

static uint64_t token_slot(uint64_t token)
{
	return shstk_read_ss(token);
}

static int clone3_token_errors(void *arg)
{
	struct token_errors *e = arg;
	const uint64_t flags = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND;
	struct shstk_clone_args args;
	uint64_t *page, fake;
	int ret;

	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED || shstk_alloc(SIZE_64K, SHSTK_ALLOC_TOKEN, NULL, &e->token)) {
		e->err = errno;
		return 0;
	}
	/* Both a size and a token: EINVAL, the token left alone. */
	args = (struct shstk_clone_args){
		.flags = flags, .shadow_stack_size = SIZE_64K, .shadow_stack_token = e->token,
	};
	clone3_must_fail(&args, &e->both);
	e->after_both = token_slot(e->token);
	/* What looks like a token, but in normal memory: EFAULT. */
	fake = (uintptr_t)&page[511];
	page[511] = shstk_token_value(fake);
	args = (struct shstk_clone_args){ .flags = flags, .shadow_stack_token = fake };
	clone3_must_fail(&args, &e->normal);
	/* Armed, then clone3 refuses (CLONE_THREAD without CLONE_SIGHAND). */
	args = (struct shstk_clone_args){
		.flags = CLONE_VM | CLONE_THREAD, .shadow_stack_token = e->token,
	};
	clone3_must_fail(&args, &e->refused);
	e->after_refused = token_slot(e->token);
	/* The token still works once; then it is consumed: EINVAL. */
	args = (struct shstk_clone_args){ .shadow_stack_token = e->token };
	ret = clone3_and_watch(&e->first, &args);
	if (ret || e->first.err)
		return ret;
	args = (struct shstk_clone_args){ .flags = flags, .shadow_stack_token = e->token };
	clone3_must_fail(&args, &e->consumed);
	munmap(page, 4096);
	return 0;
}

/* Fails with errnum and leaves the caller's next clone unarmed. */
#define EXPECT_FAILED_UNARMED(f, errnum) do {				\
	EXPECT_EQ(errnum, (f)->err) TH_LOG("%s: %s", #f, (f)->err < 0 ?	\
					   "succeeded" : strerror((f)->err)); \
	EXPECT_EQ(0, (f)->get_err) TH_LOG("%s: shstk_get_clone: %s", #f,	\
					  strerror((f)->get_err));	\
	EXPECT_EQ(0, (f)->arming.flags) TH_LOG("%s: still armed", #f);	\
	EXPECT_EQ(0, (f)->arming.shadow_stack_size) TH_LOG("%s: still armed", #f); \
	EXPECT_EQ(0, (f)->arming.shadow_stack_token) TH_LOG("%s: still armed", #f); \
} while (0)

TEST(clone3_token_errors_leave_nothing_armed)
{
	struct token_errors *e = shstk_shared(sizeof(*e));

	REQUIRE_SHSTK();
	ASSERT_NE(NULL, e);
	memset(e, 0, sizeof(*e));
	ASSERT_CHILD_OK(shstk_run(clone3_token_errors, e));
	ASSERT_EQ(0, e->err) TH_LOG("setup: %s", strerror(e->err));
	/* The token is still valid (x86: the SSP above it, bit 0 set; arm64: a cap token). */
	EXPECT_FAILED_UNARMED(&e->both, EINVAL);
	EXPECT_EQ(shstk_token_value(e->token), e->after_both);
	EXPECT_FAILED_UNARMED(&e->normal, EFAULT);
	/* A clone that failed after the arming gives the token back untouched. */
	EXPECT_FAILED_UNARMED(&e->refused, EINVAL);
	EXPECT_EQ(shstk_token_value(e->token), e->after_refused);
	ASSERT_EQ(0, e->first.err) TH_LOG("clone3 on the token: %s", strerror(e->first.err));
	ASSERT_EQ(0, e->first.usage_err) TH_LOG("%s", strerror(e->first.usage_err));
	EXPECT_EQ(SHSTK_ORIGIN_TOKEN, e->first.usage.origin);
	EXPECT_EQ(e->token, e->first.ssp);
	EXPECT_FAILED_UNARMED(&e->consumed, EINVAL);
}

/* The features INFO advertises: what the CET tests below may rely on. */
static uint64_t features(void)
{
	struct shstk_info info;

	return shstk_info(&info) ? 0 : info.features;
}

TEST(policy_set_then_get_reads_it_back)
{
	struct shstk_policy set = {
		.flags = SHSTK_POLICY_INHERIT, .mode = SHSTK_POLICY_RATIO, .ratio = 8,
		.min_size = 16 << 10, .max_size = 1 << 20,
	};
	struct shstk_policy got;

	REQUIRE_SHSTK();
	/* With user shadow stacks the module has policies. */
	ASSERT_TRUE(features() & SHSTK_FEAT_POLICY) TH_LOG("INFO features %#llx",
							   (unsigned long long)features());
	/* The harness runs each test in a child: the policy is this test's. */
	ASSERT_EQ(0, shstk_set_policy(&set)) TH_LOG("%s", strerror(errno));
	memset(&got, 0xff, sizeof(got));
	ASSERT_EQ(0, shstk_get_policy(0, &got)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(sizeof(got), got.argsz);
	EXPECT_EQ(SHSTK_POLICY_RATIO, got.mode);
	EXPECT_EQ(SHSTK_POLICY_INHERIT, got.flags);
	EXPECT_EQ(8, got.ratio);
	EXPECT_EQ(16 << 10, got.min_size);
	EXPECT_EQ(1 << 20, got.max_size);
	/* Our own pid names the same process as 0. */
	ASSERT_EQ(0, shstk_get_policy(getpid(), &got));
	EXPECT_EQ(SHSTK_POLICY_RATIO, got.mode);
	set = (struct shstk_policy){ .mode = SHSTK_POLICY_KERNEL };
	ASSERT_EQ(0, shstk_set_policy(&set));
	ASSERT_EQ(0, shstk_get_policy(0, &got));
	EXPECT_EQ(SHSTK_POLICY_KERNEL, got.mode);
}

static int pthread_under_policy(void *arg)
{
	struct shstk_policy policy = { .mode = SHSTK_POLICY_FIXED, .size = SIZE_64K };
	struct report *r = arg;
	pthread_attr_t attr;
	pthread_t thread;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_8M);
	/* A plain pthread_create: the policy alone sizes the thread. */
	if (shstk_set_policy(&policy) || pthread_create(&thread, &attr, report_self, r)) {
		r->err = errno;
		return 0;
	}
	pthread_join(thread, NULL);
	return 0;
}

TEST(policy_sizes_a_plain_pthread)
{
	struct report *r = new_report();

	REQUIRE_SHSTK();
	ASSERT_NE(NULL, r);
	ASSERT_TRUE(features() & SHSTK_FEAT_POLICY) TH_LOG("INFO features %#llx",
							   (unsigned long long)features());
	ASSERT_CHILD_OK(shstk_run(pthread_under_policy, r));
	ASSERT_EQ(0, r->err) TH_LOG("%s", strerror(r->err));
	ASSERT_EQ(0, r->vma_err);
	EXPECT_EQ(SIZE_64K, r->vma_end - r->vma_start);
	ASSERT_EQ(0, r->usage_err) TH_LOG("shstk_usage: %s", strerror(r->usage_err));
	EXPECT_EQ(SIZE_64K, r->usage.size);
}

TEST_HARNESS_MAIN
