// SPDX-License-Identifier: GPL-2.0
/*
 * SET_POLICY / GET_POLICY and the system default (module parameters):
 * what a new thread gets when its creator did not arm SET_CLONE.
 * Precedence: SET_CLONE arming > process policy > system default > the
 * kernel's rule.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/clone3.h"
#include "lib/ioc.h"
#include "lib/proc.h"
#include "lib/raw.h"
#include "lib/require.h"
#include "lib/scale.h"

#define KIB(x) ((uint64_t)(x) << 10)
#define MIB(x) ((uint64_t)(x) << 20)

static int set_policy(pid_t pid, uint32_t mode, uint32_t flags, uint64_t size, uint32_t ratio,
		      uint64_t min, uint64_t max)
{
	struct shstk_policy p = {
		.argsz = sizeof(p), .flags = flags, .pid = pid, .mode = mode, .size = size,
		.ratio = ratio, .min_size = min, .max_size = max,
	};
	int fd = shstk_dev_open(), ret;

	if (fd < 0)
		return -errno;
	ret = shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &p);
	close(fd);
	return ret;
}

static int get_policy(pid_t pid, struct shstk_policy *p)
{
	int fd = shstk_dev_open(), ret;

	if (fd < 0)
		return -errno;
	*p = (struct shstk_policy){ .argsz = sizeof(*p), .pid = pid };
	ret = shstk_ioc(fd, SHSTK_IOC_GET_POLICY, p);
	close(fd);
	return ret;
}

/*
 * In a child with shadow stacks on (a fork: policies reach it only with
 * SHSTK_POLICY_INHERIT): create one thread per entry of
 * stacks[] (its pthread stack size, or with raw its exact
 * clone_args.stack_size, 0 included) and record the size of the shadow
 * stack each got, as the thread itself sees it (its SSP's mapping).
 */
#define MAX_THREADS 8
struct sizes {
	size_t stacks[MAX_THREADS];	/* in */
	int n;
	bool raw;			/* raw clone3() threads (lib/clone3.h) */
	int arm_first;			/* SET_CLONE this size before the first thread */
	uint64_t got[MAX_THREADS];	/* out: shadow-stack mapping sizes */
	uint32_t origin[MAX_THREADS];	/* out: USAGE origin */
};

static void *probe_thread(void *arg)
{
	uint64_t *out = arg, start = 0, end = 0;
	struct shstk_usage u;
	bool is_ss = false;
	int fd;

	if (!shstk_find_ssp_vma(shstk_get_ssp(), &start, &end, &is_ss) && is_ss)
		out[0] = end - start;
	fd = shstk_dev_open();
	if (fd >= 0 && !shstk_usage(fd, 0, &u))
		out[1] = u.origin;
	close(fd);
	return NULL;
}

/* A raw thread that waits until told to go, so its shadow stack can be looked at. */
static int raw_park(void *arg)
{
	volatile int *go = arg;

	go[0] = 1;
	while (!go[1])
		raw_syscall3(__NR_sched_yield, 0, 0, 0);
	return 0;
}

/* The shadow-stack size of a raw thread with this clone_args.stack_size; 0 on error. */
static uint64_t raw_thread_size(uint64_t stack_size)
{
	uint64_t start = 0, end = 0;
	volatile int go[2] = { 0, 0 };
	struct raw_thread rt;
	bool is_ss = false;

	if (raw_thread_start(&rt, raw_park, (void *)go, stack_size) < 0)
		return 0;
	while (!go[0])
		sched_yield();
	if (shstk_find_ssp_vma(rt.first_ssp, &start, &end, &is_ss) || !is_ss)
		start = end = 0;
	go[1] = 1;
	raw_thread_join(&rt);
	return end - start;
}

static int run_threads(void *arg)
{
	struct sizes *s = arg;
	int i;

	if (s->raw) {
		for (i = 0; i < s->n; i++)
			s->got[i] = raw_thread_size(s->stacks[i]);
		return 0;
	}

	if (s->arm_first) {
		int fd = shstk_dev_open();

		if (fd < 0 || shstk_set_clone(fd, 0, s->arm_first, 0))
			return 2;
		close(fd);
	}
	for (i = 0; i < s->n; i++) {
		uint64_t out[2] = { 0, 0 };
		pthread_attr_t attr;
		pthread_t t;

		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, s->stacks[i]);
		if (pthread_create(&t, &attr, probe_thread, out) || pthread_join(t, NULL))
			return 1;
		s->got[i] = out[0];
		s->origin[i] = out[1];
	}
	return 0;
}

/* The kernel's rule for a pthread stack of that size (lib/arch.h). */
static uint64_t kernel_rule(size_t stack)
{
	return shstk_kernel_rule(stack);
}

/*
 * A ratio's share of a pthread stack of that size, unclamped: the
 * clone3() stack_size glibc passes for it (within a page of
 * shstk_kernel_rule_clone() of the stack with glibc's guard, lib/arch.h)
 * divided by the ratio, rounded up to pages. x86: (8M + 4K) / 64 = 128K +
 * 64 -> 132K; riscv64, whose glibc passes 8M: 128K.
 */
static uint64_t ratio_share(size_t stack, unsigned int ratio)
{
	return (stack + SHSTK_GLIBC_GUARD + ratio * 4096ULL - 1) / ratio / 4096 * 4096;
}

FIXTURE(policy) {
	struct sizes *s;
};

FIXTURE_SETUP(policy)
{
	ASSERT_FEATURE(SHSTK_FEAT_POLICY);
	self->s = shstk_shared(sizeof(*self->s));
	ASSERT_NE(NULL, self->s);
}

FIXTURE_TEARDOWN(policy)
{
	/* Leave the system default as the guest started. */
	shstk_param_write("default_size", "0");
	shstk_param_write("default_ratio", "0");
	shstk_param_write("min_size", "4096");
	shstk_param_write("max_size", "4294967296");
}

static void run_sizes(struct __test_metadata *_metadata, struct sizes *s)
{
	int status = shstk_run(run_threads, s);

	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status));
}

TEST_F(policy, process_without_policy_reports_the_kernel_rule)
{
	struct shstk_policy p;

	ASSERT_EQ(0, get_policy(0, &p));
	EXPECT_EQ(SHSTK_POLICY_KERNEL, p.mode);
	EXPECT_EQ(0, p.flags);
	EXPECT_EQ(0, p.size);
	EXPECT_EQ(0, p.ratio);
}

TEST_F(policy, set_and_get_round_trip)
{
	struct shstk_policy p;

	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_FIXED, SHSTK_POLICY_INHERIT, KIB(64), 0, 0, 0));
	ASSERT_EQ(0, get_policy(0, &p));
	EXPECT_EQ(SHSTK_POLICY_FIXED, p.mode);
	EXPECT_EQ(SHSTK_POLICY_INHERIT, p.flags);
	EXPECT_EQ(KIB(64), p.size);

	/* A RATIO clamp left at 0 is the INFO limits. */
	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_RATIO, 0, 0, 64, 0, 0));
	ASSERT_EQ(0, get_policy(0, &p));
	EXPECT_EQ(SHSTK_POLICY_RATIO, p.mode);
	EXPECT_EQ(64, p.ratio);
	EXPECT_EQ(4096, p.min_size);
	EXPECT_EQ(1ULL << 32, p.max_size);
	EXPECT_EQ(0, p.size);
}

TEST_F(policy, fixed_policy_sizes_every_new_thread)
{
	size_t i;

	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_FIXED, SHSTK_POLICY_INHERIT, KIB(64), 0, 0, 0));
	*self->s = (struct sizes){ .n = 3, .stacks = { MIB(8), MIB(1), KIB(64) } };
	run_sizes(_metadata, self->s);
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(KIB(64), self->s->got[i]) TH_LOG("thread %zu", i);
		EXPECT_EQ(SHSTK_ORIGIN_SIZED, self->s->origin[i]);
	}
}

TEST_F(policy, ratio_policy_divides_and_clamps)
{
	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_RATIO, SHSTK_POLICY_INHERIT, 0, 64, KIB(64),
				KIB(256)));
	*self->s = (struct sizes){ .n = 3, .stacks = { MIB(1), MIB(8), MIB(64) } };
	run_sizes(_metadata, self->s);
	/* (stack + guard page) / 64, rounded to pages, within [64K, 256K]. */
	EXPECT_EQ(KIB(64), self->s->got[0]);	/* 16K -> min */
	EXPECT_EQ(ratio_share(MIB(8), 64), self->s->got[1]);	/* x86: 132K */
	EXPECT_EQ(KIB(256), self->s->got[2]);	/* 1M -> max */
}

/*
 * RATIO divides the thread's stack size (clone_args.stack_size) on every
 * architecture, not the kernel's rule (which is that size on x86 and half
 * of it on arm64). A clone without a stack size counts as RLIMIT_STACK's,
 * up to 4 GiB, as both kernels do for their rule.
 */
TEST_F(policy, ratio_divides_the_stack_size_on_every_architecture)
{
	struct rlimit rl = { MIB(8), MIB(8) };

	ASSERT_EQ(0, setrlimit(RLIMIT_STACK, &rl));
	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_RATIO, SHSTK_POLICY_INHERIT, 0, 4, 0, 0));
	*self->s = (struct sizes){ .n = 3, .raw = true, .stacks = { MIB(1), KIB(256), 0 } };
	run_sizes(_metadata, self->s);
	EXPECT_EQ(KIB(256), self->s->got[0]);
	EXPECT_EQ(KIB(64), self->s->got[1]);
	EXPECT_EQ(MIB(2), self->s->got[2]);	/* RLIMIT_STACK 8M / 4 */
	/* The same thread without the policy gets the kernel's rule (arm64: half). */
	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_KERNEL, SHSTK_POLICY_INHERIT, 0, 0, 0, 0));
	*self->s = (struct sizes){ .n = 1, .raw = true, .stacks = { MIB(1) } };
	run_sizes(_metadata, self->s);
	EXPECT_EQ(shstk_kernel_rule_clone(MIB(1)), self->s->got[0]);
}

TEST_F(policy, set_clone_arming_beats_the_policy)
{
	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_FIXED, SHSTK_POLICY_INHERIT, KIB(64), 0, 0, 0));
	*self->s = (struct sizes){ .n = 2, .stacks = { MIB(8), MIB(8) }, .arm_first = KIB(128) };
	run_sizes(_metadata, self->s);
	EXPECT_EQ(KIB(128), self->s->got[0]);	/* one-shot arming */
	EXPECT_EQ(KIB(64), self->s->got[1]);	/* then the policy */
}

TEST_F(policy, system_default_applies_without_a_process_policy)
{
	struct shstk_info info;
	struct shstk_policy p;

	ASSERT_EQ(0, shstk_param_write("default_size", "64K"));
	EXPECT_EQ(65536, shstk_param_read("default_size"));
	ASSERT_EQ(0, shstk_info_get(&info));
	EXPECT_EQ(KIB(64), info.default_size);
	ASSERT_EQ(0, get_policy(0, &p));
	EXPECT_EQ(SHSTK_POLICY_FIXED, p.mode);
	EXPECT_EQ(KIB(64), p.size);

	*self->s = (struct sizes){ .n = 1, .stacks = { MIB(8) } };
	run_sizes(_metadata, self->s);
	EXPECT_EQ(KIB(64), self->s->got[0]);
}

/* A process policy, even KERNEL, is the process's choice over the system's. */
TEST_F(policy, process_policy_beats_the_system_default)
{
	ASSERT_EQ(0, shstk_param_write("default_size", "64K"));
	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_KERNEL, SHSTK_POLICY_INHERIT, 0, 0, 0, 0));
	*self->s = (struct sizes){ .n = 1, .stacks = { MIB(1) } };
	run_sizes(_metadata, self->s);
	EXPECT_EQ(kernel_rule(MIB(1)), self->s->got[0]);
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, self->s->origin[0]);
}

TEST_F(policy, system_default_ratio_with_clamp)
{
	ASSERT_EQ(0, shstk_param_write("min_size", "32K"));
	ASSERT_EQ(0, shstk_param_write("default_ratio", "32"));
	*self->s = (struct sizes){ .n = 2, .stacks = { KIB(256), MIB(8) } };
	run_sizes(_metadata, self->s);
	EXPECT_EQ(KIB(32), self->s->got[0]);	/* 260K / 32 = 8.1K -> min 32K */
	EXPECT_EQ(ratio_share(MIB(8), 32), self->s->got[1]);	/* x86: 260K */
}

TEST_F(policy, bad_parameter_writes_are_einval_and_keep_the_old_value)
{
	ASSERT_EQ(0, shstk_param_write("default_size", "64K"));
	EXPECT_EQ(-EINVAL, shstk_param_write("default_size", "12345"));	/* not a multiple of 8 */
	EXPECT_EQ(-EINVAL, shstk_param_write("default_size", "1"));	/* below min_size */
	EXPECT_EQ(-EINVAL, shstk_param_write("default_size", "8G"));	/* above max_size */
	EXPECT_EQ(-EINVAL, shstk_param_write("default_size", "lots"));
	EXPECT_EQ(-EINVAL, shstk_param_write("default_size", "18446744073709551616"));	/* 2^64 */
	EXPECT_EQ(-EINVAL, shstk_param_write("default_ratio", "4"));	/* size and ratio: one rule */
	EXPECT_EQ(65536, shstk_param_read("default_size"));
	EXPECT_EQ(0, shstk_param_read("default_ratio"));
	ASSERT_EQ(0, shstk_param_write("default_size", "0"));
	EXPECT_EQ(-EINVAL, shstk_param_write("default_ratio", "3"));	/* not a power of two */
	EXPECT_EQ(-EINVAL, shstk_param_write("default_ratio", "128"));
	EXPECT_EQ(-EINVAL, shstk_param_write("min_size", "8G"));	/* above max_size */
	EXPECT_EQ(0, shstk_param_read("default_ratio"));
	EXPECT_EQ(4096, shstk_param_read("min_size"));
}

/*
 * The clamp of a RATIO default: min_size and max_size must each be a
 * valid size, and min_size at most max_size, whichever of the two is
 * written. A refused write keeps the old value, as the threads show.
 */
TEST_F(policy, bad_clamp_writes_are_einval_and_keep_the_old_values)
{
	ASSERT_EQ(0, shstk_param_write("max_size", "128K"));
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "12345"));	/* not a multiple of 8 */
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "0"));	/* below INFO's min_size */
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "2048"));
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "8G"));	/* above INFO's max_size */
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "lots"));
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "-64K"));
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "64K 64K"));
	/* Numbers that wrap around 2^64 (memparse() would make them 64K and 0). */
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "18446744073709617152"));
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "17179869184G"));
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "16E"));
	EXPECT_EQ(131072, shstk_param_read("max_size"));
	/* Hex and a lower-case suffix are numbers too. */
	EXPECT_EQ(0, shstk_param_write("max_size", "0x40000"));
	EXPECT_EQ(262144, shstk_param_read("max_size"));
	EXPECT_EQ(0, shstk_param_write("max_size", "128k"));
	EXPECT_EQ(131072, shstk_param_read("max_size"));

	ASSERT_EQ(0, shstk_param_write("min_size", "64K"));
	EXPECT_EQ(-EINVAL, shstk_param_write("max_size", "32K"));	/* below min_size */
	/* Valid on its own, but above the lowered max_size. */
	EXPECT_EQ(-EINVAL, shstk_param_write("min_size", "256K"));
	EXPECT_EQ(65536, shstk_param_read("min_size"));
	EXPECT_EQ(131072, shstk_param_read("max_size"));

	/* A size default while a ratio default is set: one rule at a time. */
	ASSERT_EQ(0, shstk_param_write("default_ratio", "64"));
	EXPECT_EQ(-EINVAL, shstk_param_write("default_size", "64K"));
	EXPECT_EQ(0, shstk_param_read("default_size"));
	EXPECT_EQ(64, shstk_param_read("default_ratio"));

	/* The clamp in force is [64K, 128K]. */
	*self->s = (struct sizes){ .n = 2, .stacks = { MIB(1), MIB(64) } };
	run_sizes(_metadata, self->s);
	EXPECT_EQ(KIB(64), self->s->got[0]);	/* (1M + 4K) / 64 -> min */
	EXPECT_EQ(KIB(128), self->s->got[1]);	/* (64M + 4K) / 64 -> max */
}

/* The parameters are root's (mode 0644): another user's write is refused. */
TEST_F(policy, parameter_writes_by_another_user_are_eacces)
{
	struct { const char *name, *value; long before; } params[] = {
		{ "default_size", "64K", 0 }, { "default_ratio", "64", 0 },
		{ "min_size", "64K", 0 }, { "max_size", "128K", 0 },
	};
	int i, n = sizeof(params) / sizeof(params[0]), status;
	pid_t pid;

	for (i = 0; i < n; i++)
		params[i].before = shstk_param_read(params[i].name);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(100);
		for (i = 0; i < n; i++)
			if (shstk_param_write(params[i].name, params[i].value) != -EACCES)
				_exit(1 + i);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("uid 65534's write %d was not EACCES",
						 WEXITSTATUS(status));
	for (i = 0; i < n; i++) {
		const char *name = params[i].name;

		EXPECT_EQ(params[i].before, shstk_param_read(name)) TH_LOG("%s", name);
	}
}

/*
 * INFO's default_size is the size of a FIXED system default only: under a
 * RATIO default it reports 0, the value that also means the kernel's own
 * rule. GET_POLICY of a process without a policy of its own reports the
 * RATIO default in full.
 */
TEST_F(policy, ratio_system_default_in_info_and_get_policy)
{
	struct shstk_info info;
	struct shstk_policy p;

	ASSERT_EQ(0, shstk_param_write("min_size", "32K"));
	ASSERT_EQ(0, shstk_param_write("max_size", "1M"));
	ASSERT_EQ(0, shstk_param_write("default_ratio", "32"));
	ASSERT_EQ(0, shstk_info_get(&info));
	EXPECT_EQ(0, info.default_size);
	ASSERT_EQ(0, get_policy(0, &p));
	EXPECT_EQ(SHSTK_POLICY_RATIO, p.mode);
	EXPECT_EQ(0, p.flags);
	EXPECT_EQ(0, p.size);
	EXPECT_EQ(32, p.ratio);
	EXPECT_EQ(KIB(32), p.min_size);
	EXPECT_EQ(MIB(1), p.max_size);

	/* And it is what sizes new threads. */
	*self->s = (struct sizes){ .n = 2, .stacks = { MIB(8), MIB(64) } };
	run_sizes(_metadata, self->s);
	EXPECT_EQ(ratio_share(MIB(8), 32), self->s->got[0]);	/* x86: 260K */
	EXPECT_EQ(MIB(1), self->s->got[1]);	/* (64M + 4K) / 32 -> max */
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, self->s->origin[0]);
}

static int exec_self(const char *mode)
{
	char *argv[] = { "policy_test", (char *)mode, NULL };

	execv("/proc/self/exe", argv);
	return 127;
}

/* The launcher pattern: set the policy, then exec the program. */
TEST_F(policy, policy_survives_execve)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* INHERIT: the exec'd program checks its threads from a shstk_run() child. */
		if (set_policy(0, SHSTK_POLICY_FIXED, SHSTK_POLICY_INHERIT, KIB(64), 0, 0, 0))
			_exit(100);
		_exit(exec_self("--exec-child"));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("exec'd child says %d", WEXITSTATUS(status));
}

/* The exec'd program's thread (its own, not a fork's): what the policy says? */
static int exec_child_threads(struct sizes *s, bool fixed)
{
	if (run_threads(s))
		return 12;
	if (fixed)
		return s->got[0] == KIB(64) && s->origin[0] == SHSTK_ORIGIN_SIZED ? 0 : 13;
	return s->got[0] == kernel_rule(MIB(8)) && s->origin[0] == SHSTK_ORIGIN_KERNEL ? 0 : 14;
}

/*
 * policy_test --exec-child: run after an exec that kept a FIXED 64 KiB
 * policy; --exec-child-kernel: after one that must have left none. It
 * checks GET_POLICY, then sizes a thread of its own.
 */
static int exec_child(const char *mode)
{
	struct sizes s = { .n = 1, .stacks = { MIB(8) } };
	bool fixed = !strcmp(mode, "--exec-child");
	struct shstk_policy p;

	if (get_policy(0, &p))
		return 10;
	if (fixed ? p.mode != SHSTK_POLICY_FIXED || p.size != KIB(64) :
		    p.mode != SHSTK_POLICY_KERNEL)
		return 11;
	if (SHSTK_ENABLE_HERE())
		return SHSTK_RUN_NO_ENABLE;
	/* This frame cannot return now: its return address predates the shadow stack. */
	exit(exec_child_threads(&s, fixed));
}

/*
 * A fork child of a process with a FIXED 64 KiB policy (flags: with or
 * without INHERIT): its policy, and the shadow stack its own thread gets.
 */
static void check_fork_child_policy(struct __test_metadata *_metadata, struct sizes *s,
				    uint32_t flags, uint32_t want_mode, uint64_t want_size,
				    uint32_t want_origin)
{
	struct shstk_policy *p = shstk_shared(sizeof(*p));
	int status;
	pid_t pid;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_FIXED, flags, KIB(64), 0, 0, 0));
	*s = (struct sizes){ .n = 1, .stacks = { MIB(1) } };
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (get_policy(0, p))
			_exit(1);
		/* The child's own thread: a further fork would test inheritance again. */
		if (SHSTK_ENABLE_HERE())
			_exit(SHSTK_RUN_NO_ENABLE);
		_exit(run_threads(s) ? 2 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(want_mode, p->mode);
	EXPECT_EQ(flags, p->flags);
	EXPECT_EQ(want_size, s->got[0]);
	EXPECT_EQ(want_origin, s->origin[0]);
}

TEST_F(policy, inherit_passes_the_policy_to_fork_children)
{
	check_fork_child_policy(_metadata, self->s, SHSTK_POLICY_INHERIT, SHSTK_POLICY_FIXED,
				KIB(64), SHSTK_ORIGIN_SIZED);
}

TEST_F(policy, without_inherit_fork_children_get_the_system_default)
{
	/* The system default is the kernel's rule here (the fixture resets it). */
	check_fork_child_policy(_metadata, self->s, 0, SHSTK_POLICY_KERNEL, kernel_rule(MIB(1)),
				SHSTK_ORIGIN_KERNEL);
}

/* A fork child of a process with a FIXED 64 KiB policy execs: what it then has. */
static void check_fork_then_exec(struct __test_metadata *_metadata, uint32_t flags,
				 const char *mode)
{
	int status;
	pid_t pid;

	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_FIXED, flags, KIB(64), 0, 0, 0));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(exec_self(mode));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("exec'd child says %d", WEXITSTATUS(status));
}

/* The launcher forks, the child execs the program: the inherited policy sizes its threads. */
TEST_F(policy, inherited_policy_survives_fork_then_exec)
{
	check_fork_then_exec(_metadata, SHSTK_POLICY_INHERIT, "--exec-child");
}

TEST_F(policy, without_inherit_fork_then_exec_gets_the_kernel_rule)
{
	check_fork_then_exec(_metadata, 0, "--exec-child-kernel");
}

TEST_F(policy, bad_policies_are_einval)
{
	struct { uint32_t mode, flags; uint64_t size; uint32_t ratio; uint64_t min, max; } bad[] = {
		{ 3, 0, 0, 0, 0, 0 },					/* unknown mode */
		{ SHSTK_POLICY_KERNEL, 2, 0, 0, 0, 0 },			/* unknown flag */
		{ SHSTK_POLICY_KERNEL, 0, KIB(64), 0, 0, 0 },		/* size with KERNEL */
		{ SHSTK_POLICY_FIXED, 0, 0, 0, 0, 0 },			/* no size */
		{ SHSTK_POLICY_FIXED, 0, KIB(64) + 4, 0, 0, 0 },	/* not a multiple of 8 */
		{ SHSTK_POLICY_FIXED, 0, 2048, 0, 0, 0 },		/* below min_size */
		{ SHSTK_POLICY_FIXED, 0, (1ULL << 32) + 8, 0, 0, 0 },	/* above max_size */
		{ SHSTK_POLICY_FIXED, 0, KIB(64), 64, 0, 0 },		/* ratio with FIXED */
		{ SHSTK_POLICY_RATIO, 0, 0, 0, 0, 0 },			/* ratio 0 */
		{ SHSTK_POLICY_RATIO, 0, 0, 3, 0, 0 },			/* not a power of two */
		{ SHSTK_POLICY_RATIO, 0, 0, 128, 0, 0 },		/* above 64 */
		{ SHSTK_POLICY_RATIO, 0, 0, 64, KIB(256), KIB(64) },	/* min above max */
		{ SHSTK_POLICY_RATIO, 0, KIB(64), 64, 0, 0 },		/* size with RATIO */
	};
	struct shstk_policy before, after, p;
	size_t i;
	int fd;

	ASSERT_EQ(0, set_policy(0, SHSTK_POLICY_FIXED, 0, KIB(64), 0, 0, 0));
	ASSERT_EQ(0, get_policy(0, &before));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-EINVAL, set_policy(0, bad[i].mode, bad[i].flags, bad[i].size,
					      bad[i].ratio, bad[i].min, bad[i].max))
			TH_LOG("case %zu", i);
	}
	/* A reserved field and GET_POLICY flags. */
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	p = (struct shstk_policy){ .argsz = sizeof(p), .mode = SHSTK_POLICY_KERNEL, .reserved = 1 };
	EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &p));
	p = (struct shstk_policy){ .argsz = sizeof(p), .flags = SHSTK_POLICY_INHERIT };
	EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_GET_POLICY, &p));
	close(fd);
	/* Nothing changed. */
	ASSERT_EQ(0, get_policy(0, &after));
	EXPECT_EQ(0, memcmp(&before, &after, sizeof(before)));
}

TEST_F(policy, unknown_pid_is_esrch)
{
	struct shstk_policy p;

	EXPECT_EQ(-ESRCH, set_policy(4194304, SHSTK_POLICY_KERNEL, 0, 0, 0, 0, 0));
	EXPECT_EQ(-ESRCH, get_policy(4194304, &p));
}

/* Another process's policy needs the right to ptrace-attach to it. */
TEST_F(policy, unprivileged_user_gets_eperm_on_other_processes)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct shstk_policy p;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(1);
		if (set_policy(getppid(), SHSTK_POLICY_KERNEL, 0, 0, 0, 0, 0) != -EPERM)
			_exit(2);
		if (get_policy(1, &p) != -EPERM)
			_exit(3);
		/* Its own process: fine. */
		if (set_policy(0, SHSTK_POLICY_FIXED, 0, KIB(64), 0, 0, 0) || get_policy(0, &p) ||
		    p.size != KIB(64))
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * policy_test --report-policy: what a program an execve started finds.
 * Exit status: its policy's mode, plus 10 when it runs with euid 0.
 */
static int report_policy(void)
{
	struct shstk_policy p;

	if (get_policy(0, &p))
		return 99;
	return (geteuid() == 0 ? 10 : 0) + (int)p.mode;
}


/*
 * As user 65534: a FIXED 4 KiB policy (INHERIT), then exec path. Returns
 * the exec'd program's exit status (report_policy()), or 100 + a step.
 */
static int unprivileged_policy_then_exec(const char *path)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 100;
	if (!pid) {
		char *argv[] = { "policy_test", "--report-policy", NULL };

		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(101);
		if (set_policy(0, SHSTK_POLICY_FIXED, SHSTK_POLICY_INHERIT, KIB(4), 0, 0, 0))
			_exit(102);
		execv(path, argv);
		_exit(103);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 104;
	return WEXITSTATUS(status);
}

#define SUID_COPY "/tmp/policy_test_suid"

/*
 * A policy must not survive an execve that gains privilege (bprm->
 * secureexec): a set-user-ID root program is not run with the 4 KiB
 * shadow stacks its unprivileged caller asked for. A plain exec keeps it.
 */
TEST_F(policy, secure_exec_drops_the_policy)
{
	ASSERT_EQ(0, getuid()) TH_LOG("needs root to make a set-user-ID root program");
	ASSERT_EQ(0, copy_self(SUID_COPY, 04755));
	/* Runs as euid 0: a policy of the kernel's rule (mode 0). */
	EXPECT_EQ(10 + SHSTK_POLICY_KERNEL, unprivileged_policy_then_exec(SUID_COPY));
	/* The same program without the set-user-ID bit keeps the policy. */
	ASSERT_EQ(0, chmod(SUID_COPY, 0755));
	EXPECT_EQ(0 + SHSTK_POLICY_FIXED, unprivileged_policy_then_exec(SUID_COPY));
	unlink(SUID_COPY);
}

/*
 * A process whose leader called pthread_exit() (a zombie) while another
 * thread lives is still a process with a policy: SET/GET_POLICY by its
 * pid work.
 */
static void *wait_on_pipe(void *arg)
{
	char c;

	read(*(int *)arg, &c, 1);
	return NULL;
}

TEST_F(policy, process_with_a_zombie_leader_still_has_a_policy)
{
	struct shstk_policy p;
	int pipefd[2], status, i;
	pid_t pid;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		pthread_t t;

		close(pipefd[1]);
		if (pthread_create(&t, NULL, wait_on_pipe, &pipefd[0]))
			_exit(1);
		pthread_exit(NULL);
	}
	close(pipefd[0]);
	for (i = 0; i < 1000 && proc_task_state(pid, pid) != 'Z'; i++)
		usleep(10000);
	ASSERT_EQ('Z', proc_task_state(pid, pid));
	EXPECT_EQ(0, set_policy(pid, SHSTK_POLICY_FIXED, 0, KIB(64), 0, 0, 0));
	EXPECT_EQ(0, get_policy(pid, &p));
	EXPECT_EQ(SHSTK_POLICY_FIXED, p.mode);
	EXPECT_EQ(KIB(64), p.size);
	close(pipefd[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	/* Gone now: ESRCH. */
	EXPECT_EQ(-ESRCH, get_policy(pid, &p));
}

#define SHORT_LIVED 10000

/*
 * Policies die with their process: no growth after 10,000 of them. (Each
 * waited-for process has passed sched_process_exit, which drops it.)
 * Its 20,000 forks fit the harness's default 30 s in the CET guest, but
 * not on the KASAN/lockdep debug kernel (make check-debug): 900 s.
 */
TEST_F_TIMEOUT(policy, policies_are_freed_when_processes_exit, 900)
{
	long before, after, n = test_scaled(SHORT_LIVED);
	int i, status;
	pid_t pid;

	before = shstk_live_records("policies");
	ASSERT_LE(0, before) TH_LOG("no shstk/policies in debugfs");
	for (i = 0; i < n; i++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			/* A policy, and an inheriting child that gets a copy. */
			if (set_policy(0, SHSTK_POLICY_FIXED, SHSTK_POLICY_INHERIT, KIB(64), 0, 0, 0))
				_exit(1);
			pid = fork();
			if (pid < 0)
				_exit(2);
			if (!pid)
				_exit(0);
			_exit(waitpid(pid, &status, 0) == pid ? 0 : 3);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("process %d", i);
	}
	after = shstk_live_records_settled("policies", before);
	TH_LOG("live policies: %ld before, %ld after %ld processes (x2)", before, after, n);
	EXPECT_EQ(before, after);
}

static int armed_threads(void *arg)
{
	int fd = shstk_dev_open(), i;
	pthread_t t;

	for (i = 0; i < 1000; i++) {
		if (shstk_set_clone(fd, 0, KIB(64), 0))
			return 1;
		if (pthread_create(&t, NULL, probe_thread, (uint64_t[2]){ 0 }) ||
		    pthread_join(t, NULL))
			return 2;
	}
	return 0;
}

/* Per-thread records die with their threads. */
TEST_F(policy, thread_records_are_freed_when_threads_exit)
{
	long before, after;
	int status;

	before = shstk_live_records("tasks");
	ASSERT_LE(0, before);
	status = shstk_run(armed_threads, NULL);
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("status %#x", status);
	after = shstk_live_records_settled("tasks", before);
	TH_LOG("live thread records: %ld before, %ld after 1000 armed threads", before, after);
	EXPECT_EQ(before, after);
}

TEST(policy_ioctls_are_eopnotsupp_without_hw)
{
	struct shstk_policy p = { .argsz = sizeof(p) };

	ASSERT_EOPNOTSUPP_WITHOUT_HW(SHSTK_IOC_GET_POLICY, &p);
	ASSERT_EOPNOTSUPP_WITHOUT_HW(SHSTK_IOC_SET_POLICY, &p);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--report-policy"))
		return report_policy();
	if (argc > 1 && (!strcmp(argv[1], "--exec-child") ||
			 !strcmp(argv[1], "--exec-child-kernel")))
		return exec_child(argv[1]);
	return test_harness_run(argc, argv);
}
