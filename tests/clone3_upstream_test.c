// SPDX-License-Identifier: GPL-2.0
/*
 * The cases of upstream's clone3 selftest (tools/testing/selftests/clone3/
 * clone3.c of the clone3 shadow-stack series, v23), written anew for
 * shstk, with upstream's expected results: through shstk_clone3() (the
 * library's clone3 with shadow_stack_token), and through SET_CLONE
 * followed by a raw clone3 (fixture variants lib and set_clone).
 *
 * Upstream's shadow-stack cases, and what its kernel side does:
 *  - a valid token, a fork-like clone (flags 0, SIGCHLD): 0. The token is
 *    taken in the child's copy of the address space (after dup_mmap), the
 *    child starts with SSP just above it, the caller's token stays;
 *  - a misaligned token, CLONE_VM, no stack: EINVAL;
 *  - a "token" in normal memory, CLONE_VM, no stack: EFAULT (the token is
 *    checked before anything about the stack);
 *  - a shadow stack mapped without a token, CLONE_VM, no stack: EINVAL;
 *  - "no shadow stack": the selftest runs it only where shadow stacks do
 *    not exist at all, expecting EFAULT. Where they exist, the series'
 *    x86 kernel refuses a token from a thread without its shadow stack
 *    enabled with EINVAL (shstk_alloc_thread_stack(), before the token is
 *    looked at): that is the case ported here.
 * The other cases (sizes, exit signals) involve no shadow stack: through
 * shstk_clone3() they must give clone3's own results.
 *
 * Beyond the selftest, from the series' kernel side: a vfork child takes
 * the token in the shared address space, a fork-like child leaves the
 * caller's token for the caller's next clone, and no token is ever used
 * by a thread whose shadow stack is off (upstream's EINVAL case).
 *
 * Code on a shadow stack runs in shstk_run() children (lib/cet.h).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/clone3.h"
#include "lib/dev.h"
#include "shstk.h"

#ifndef __NR_map_shadow_stack
#define __NR_map_shadow_stack	453
#endif
#ifndef SHADOW_STACK_SET_TOKEN
#define SHADOW_STACK_SET_TOKEN	(1ULL << 0)
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME		0x00000080
#endif

#define PAGE			4096UL
#define REQUIRE_SHSTK() do {						\
	if (!shstk_hw_available())					\
		SKIP(return, "no user shadow stacks on this CPU or kernel"); \
} while (0)

/* How the token of a case is made (upstream's test modes). */
enum token_mode { TOKEN_VALID, TOKEN_MISALIGNED, TOKEN_NORMAL_MEMORY, TOKEN_NONE_MAPPED };

/* What a case found; written by the shstk_run() child, read by the test. */
struct outcome {
	int line;			/* where the setup failed, 0 if it did not */
	int setup_errno;
	long result;			/* 0 or -errno: the clone as a whole */
	int status;			/* the child's wait status when it ran */
	uint64_t token;			/* the token address used */
	uint64_t child_ssp;		/* SSP at the child's first instructions */
	uint64_t child_slot;		/* the token slot in the child's address space */
	uint64_t parent_slot;		/* the token slot in the caller's, afterwards */
	struct shstk_clone arming;	/* the caller's arming afterwards */
	int get_clone_errno;
	long reused;			/* the caller's own later clone on the same token */
};

static struct outcome *O;

#define SETUP(cond) do {						\
	if (!(cond)) {							\
		O->line = __LINE__;					\
		O->setup_errno = errno;					\
		return 1;						\
	}								\
} while (0)

static long map_shadow_stack(unsigned long size, unsigned long flags)
{
	return syscall(__NR_map_shadow_stack, 0, size, flags);
}

static uint64_t make_token(enum token_mode mode)
{
	long ss;
	char *p;

	switch (mode) {
	case TOKEN_VALID:
	case TOKEN_MISALIGNED:
		ss = map_shadow_stack(PAGE, SHADOW_STACK_SET_TOKEN);
		if (ss == -1)
			return 0;
		return ss + PAGE - 8 - (mode == TOKEN_MISALIGNED);
	case TOKEN_NORMAL_MEMORY:
		p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? 0 : (uintptr_t)p + PAGE - 8;
	case TOKEN_NONE_MAPPED:
		ss = map_shadow_stack(PAGE, 0);
		return ss == -1 ? 0 : ss + PAGE - 8;
	}
	return 0;
}

/* struct clone_args, version 2 (CLONE_ARGS_SIZE_VER2). */
struct raw_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size, cgroup;
};

/* SET_CLONE and GET_CLONE on /dev/shstk itself, without the library. */
static int dev_fd = -1;

static int arm_token(uint64_t token)
{
	struct shstk_clone c = { .argsz = sizeof(c), .shadow_stack_token = token };

	return shstk_ioc(dev_fd, SHSTK_IOC_SET_CLONE, &c);
}

static int get_arming(struct shstk_clone *c)
{
	memset(c, 0, sizeof(*c));
	c->argsz = sizeof(*c);
	return shstk_ioc(dev_fd, SHSTK_IOC_GET_CLONE, c);
}

/* The probe child of lib/clone3.h, reporting into O. */
static long probe(struct raw_args *args, uint64_t token)
{
	return raw_clone3_probe(args, sizeof(*args), &O->child_ssp, &O->child_slot, token);
}

static int __attribute__((noinline)) lib_child_done(void)
{
	__asm__ volatile("" : : : "memory");
	return 0;
}

/*
 * shstk_clone3()'s child: SSP as fn sees it (fn's return address is
 * pushed). It calls another function after the read, not as a tail call:
 * on RISC-V only a function that saves ra pushes it (at entry).
 */
static int lib_child(void *arg)
{
	struct outcome *o = arg;
	int ret;

	o->child_ssp = shstk_get_ssp();
	ret = lib_child_done();
	__asm__ volatile("" : "+r"(ret));
	return ret;
}

static uint64_t slot(uint64_t addr)
{
	return __atomic_load_n((uint64_t *)(uintptr_t)addr, __ATOMIC_RELAXED);
}

/* Waits for pid, if the clone made one; result: 0 or -errno. */
static void finish(long pid)
{
	if (pid < 0) {
		O->result = pid;
		return;
	}
	O->result = waitpid(pid, &O->status, __WALL) == pid ? 0 : -errno;
}

static long clone_with_token(bool via_lib, uint64_t flags, uint64_t token)
{
	struct raw_args raw = { .flags = flags, .exit_signal = SIGCHLD };
	long err;

	if (via_lib) {
		struct shstk_clone_args args = {
			.flags = flags, .exit_signal = SIGCHLD, .shadow_stack_token = token,
		};
		long pid = shstk_clone3(&args, sizeof(args), lib_child, O);

		return pid < 0 ? -errno : pid;
	}
	err = arm_token(token);
	if (err)
		return err;
	return probe(&raw, token);
}

struct case_arg {
	bool via_lib;
	enum token_mode mode;
	uint64_t flags;
	bool disable;			/* the caller has no shadow stack of its own */
};

static int run_case(void *arg)
{
	const struct case_arg *c = arg;

	O->token = make_token(c->mode);
	SETUP(O->token);
	if (c->disable) {
		/* A child of ours without shadow stack runs the clone. */
		pid_t pid = fork();

		SETUP(pid >= 0);
		if (pid == 0) {
			if (SHSTK_DISABLE_HERE())
				_exit(3);
			/* No shadow stack now: returns are safe again. */
			O->result = clone_with_token(c->via_lib, c->flags, O->token);
			_exit(0);
		}
		SETUP(waitpid(pid, &O->status, 0) == pid);
		return 0;
	}
	finish(clone_with_token(c->via_lib, c->flags, O->token));
	if (c->mode != TOKEN_NORMAL_MEMORY && c->mode != TOKEN_MISALIGNED)
		O->parent_slot = slot(O->token);
	O->get_clone_errno = -get_arming(&O->arming);
	return 0;
}

FIXTURE(upstream) {
};

FIXTURE_VARIANT(upstream) {
	bool via_lib;
};

FIXTURE_VARIANT_ADD(upstream, lib) { .via_lib = true };
FIXTURE_VARIANT_ADD(upstream, set_clone) { .via_lib = false };

FIXTURE_SETUP(upstream)
{
	dev_fd = shstk_dev_open();
	ASSERT_LE(0, dev_fd) TH_LOG("%s: %s", SHSTK_DEVICE, strerror(errno));
	O = shstk_shared(sizeof(*O));
	ASSERT_NE(NULL, O);
	memset(O, 0, sizeof(*O));
}

FIXTURE_TEARDOWN(upstream)
{
}

#define RUN_CASE(...) do {						\
	struct case_arg _c = { .via_lib = variant->via_lib, __VA_ARGS__ }; \
	int _st = shstk_run(run_case, &_c);				\
	ASSERT_TRUE(WIFEXITED(_st)) TH_LOG("case child status %#x", _st); \
	ASSERT_EQ(0, WEXITSTATUS(_st))					\
		TH_LOG("setup failed at line %d: %s", O->line, strerror(O->setup_errno)); \
} while (0)

/* Nothing stays armed after the call, whatever its result. */
#define EXPECT_UNARMED() do {						\
	EXPECT_EQ(0, O->get_clone_errno);				\
	EXPECT_EQ(0, O->arming.shadow_stack_size);			\
	EXPECT_EQ(0, O->arming.shadow_stack_token);			\
} while (0)

/* "Shadow stack on system with shadow stack": a fork-like clone, 0. */
TEST_F(upstream, valid_token_fork_like_clone_succeeds_on_that_stack)
{
	REQUIRE_SHSTK();
	RUN_CASE(.mode = TOKEN_VALID, .flags = 0);
	ASSERT_EQ(0, O->result) TH_LOG("clone: %s", strerror(-O->result));
	ASSERT_TRUE(WIFEXITED(O->status) && WEXITSTATUS(O->status) == 0)
		TH_LOG("child status %#x", O->status);
	if (variant->via_lib) {
		/* fn was called from token + 8: its return address is where the token was. */
		EXPECT_EQ(O->token, O->child_ssp);
	} else {
		/* First instructions: just above the token, taken in the child's copy. */
		EXPECT_EQ(O->token + 8, O->child_ssp);
		EXPECT_EQ(0, O->child_slot);
	}
	/* The caller's own token is untouched: the child took its copy's. */
	EXPECT_EQ(shstk_token_value(O->token), O->parent_slot);
	EXPECT_UNARMED();
}

/* "Shadow stack with misaligned address": EINVAL. */
TEST_F(upstream, misaligned_token_is_einval)
{
	REQUIRE_SHSTK();
	RUN_CASE(.mode = TOKEN_MISALIGNED, .flags = CLONE_VM);
	EXPECT_EQ(-EINVAL, O->result);
	EXPECT_UNARMED();
}

/* "Shadow stack with normal memory": EFAULT, before any check of the stack. */
TEST_F(upstream, token_in_normal_memory_is_efault)
{
	REQUIRE_SHSTK();
	RUN_CASE(.mode = TOKEN_NORMAL_MEMORY, .flags = CLONE_VM);
	EXPECT_EQ(-EFAULT, O->result);
	EXPECT_UNARMED();
}

/* "Shadow stack with no token": EINVAL, and the slot stays as it was. */
TEST_F(upstream, shadow_stack_without_token_is_einval)
{
	REQUIRE_SHSTK();
	RUN_CASE(.mode = TOKEN_NONE_MAPPED, .flags = CLONE_VM);
	EXPECT_EQ(-EINVAL, O->result);
	EXPECT_EQ(0, O->parent_slot);
	EXPECT_UNARMED();
}

/* A caller without its own shadow stack: the series' x86 kernel says EINVAL. */
TEST_F(upstream, token_from_a_thread_without_shadow_stack_is_einval)
{
	REQUIRE_SHSTK();
	RUN_CASE(.mode = TOKEN_NORMAL_MEMORY, .flags = CLONE_VM, .disable = true);
	ASSERT_TRUE(WIFEXITED(O->status) && WEXITSTATUS(O->status) == 0)
		TH_LOG("child status %#x", O->status);
	EXPECT_EQ(-EINVAL, O->result);
}

/* The series' kernel side: a vfork child takes the token in the shared mm. */
static int vfork_on_token(void *arg)
{
	struct raw_args raw = { .flags = CLONE_VM | CLONE_VFORK, .exit_signal = SIGCHLD };

	O->token = make_token(TOKEN_VALID);
	SETUP(O->token);
	SETUP(!arm_token(O->token));
	finish(probe(&raw, O->token));
	O->parent_slot = slot(O->token);
	O->get_clone_errno = -get_arming(&O->arming);
	return 0;
}

/* Through SET_CLONE only: shstk_clone3() wants a stack with CLONE_VM. */
TEST(vfork_child_starts_on_the_token_stack)
{
	int st;

	REQUIRE_SHSTK();
	dev_fd = shstk_dev_open();
	ASSERT_LE(0, dev_fd) TH_LOG("%s: %s", SHSTK_DEVICE, strerror(errno));
	O = shstk_shared(sizeof(*O));
	ASSERT_NE(NULL, O);
	st = shstk_run(vfork_on_token, NULL);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("status %#x, setup line %d: %s", st, O->line, strerror(O->setup_errno));
	ASSERT_EQ(0, O->result) TH_LOG("clone: %s", strerror(-O->result));
	ASSERT_TRUE(WIFEXITED(O->status) && WEXITSTATUS(O->status) == 0);
	EXPECT_EQ(O->token + 8, O->child_ssp);
	/* One address space: the token is gone for the caller too. */
	EXPECT_EQ(0, O->child_slot);
	EXPECT_EQ(0, O->parent_slot);
	EXPECT_UNARMED();
}

/* After a fork-like child took its copy's token, the caller's still works. */
static int fork_then_thread(void *arg)
{
	struct raw_args raw = { .flags = 0, .exit_signal = SIGCHLD };
	struct raw_args vf = { .flags = CLONE_VM | CLONE_VFORK, .exit_signal = SIGCHLD };

	O->token = make_token(TOKEN_VALID);
	SETUP(O->token);
	SETUP(!arm_token(O->token));
	finish(probe(&raw, O->token));
	if (O->result)
		return 0;
	SETUP(!arm_token(O->token));
	O->reused = probe(&vf, O->token);
	if (O->reused > 0)
		O->reused = waitpid(O->reused, &O->status, 0) == O->reused ? 0 : -errno;
	O->parent_slot = slot(O->token);
	return 0;
}

TEST(fork_like_child_leaves_the_callers_token)
{
	int st;

	REQUIRE_SHSTK();
	dev_fd = shstk_dev_open();
	ASSERT_LE(0, dev_fd) TH_LOG("%s: %s", SHSTK_DEVICE, strerror(errno));
	O = shstk_shared(sizeof(*O));
	ASSERT_NE(NULL, O);
	st = shstk_run(fork_then_thread, NULL);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("status %#x, setup line %d: %s", st, O->line, strerror(O->setup_errno));
	ASSERT_EQ(0, O->result) TH_LOG("fork-like clone: %s", strerror(-O->result));
	EXPECT_EQ(0, O->reused) TH_LOG("second clone on the token: %s", strerror(-O->reused));
	EXPECT_TRUE(WIFEXITED(O->status) && WEXITSTATUS(O->status) == 0);
	EXPECT_EQ(O->token + 8, O->child_ssp);
	EXPECT_EQ(0, O->parent_slot);
}

/*
 * The series' kernel side refuses a token from a thread whose shadow
 * stack is off (shstk_alloc_thread_stack(): EINVAL). SET_CLONE refuses to
 * arm such a thread, and a thread that armed and then turns its shadow
 * stack off lets go of the arming (x86 frees the stack, and shstk hears
 * of it; arm64 keeps it, and GET_CLONE reports no arming): so no clone
 * ever uses a token from a thread without shadow stack. Its next clone is
 * a plain one, and the token stays.
 */
static int arm_then_disable(void *arg)
{
	struct raw_args raw = { .flags = 0, .exit_signal = SIGCHLD };

	O->token = make_token(TOKEN_VALID);
	SETUP(O->token);
	SETUP(!arm_token(O->token));
	SETUP(!SHSTK_DISABLE_HERE());
	/* No shadow stack from here: returns are unchecked again. */
	O->get_clone_errno = -get_arming(&O->arming);
	finish(probe(&raw, O->token));
	O->parent_slot = slot(O->token);
	return 0;
}

TEST(turning_the_shadow_stack_off_ends_a_token_arming)
{
	int st;

	REQUIRE_SHSTK();
	dev_fd = shstk_dev_open();
	ASSERT_LE(0, dev_fd) TH_LOG("%s: %s", SHSTK_DEVICE, strerror(errno));
	O = shstk_shared(sizeof(*O));
	ASSERT_NE(NULL, O);
	st = shstk_run(arm_then_disable, NULL);
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("status %#x, setup line %d: %s", st, O->line, strerror(O->setup_errno));
	EXPECT_UNARMED();
	EXPECT_EQ(0, O->result) TH_LOG("clone: %s", strerror(-O->result));
	EXPECT_TRUE(WIFEXITED(O->status) && WEXITSTATUS(O->status) == 0);
	/* A plain child, not started on the token's stack: nothing taken. */
	EXPECT_NE(O->token + 8, O->child_ssp);
	EXPECT_EQ(shstk_token_value(O->token), O->child_slot);
	EXPECT_EQ(shstk_token_value(O->token), O->parent_slot);
}

/*
 * The selftest's cases without a shadow stack, through shstk_clone3():
 * clone3's own results. struct shstk_clone_args has its own version-0
 * size (SHSTK_CLONE_ARGS_SIZE_VER0) where clone3 has CLONE_ARGS_SIZE_VER0.
 */
enum plain_mode { PLAIN, ALL_ZERO, SIG_BIG, SIG_NEG, SIG_CSIG, SIG_NSIG };

struct plain_case {
	const char *name;
	uint64_t flags;
	long size;			/* 0: sizeof; < 0: a page + 8 */
	enum plain_mode mode;
	int expected;
};

static int plain_child(void *arg)
{
	return 0;
}

static int plain_clone(const struct plain_case *c)
{
	struct {
		struct shstk_clone_args args;
		uint64_t excess[2];
	} ext = { .args = { .flags = c->flags, .exit_signal = SIGCHLD } };
	size_t size = c->size > 0 ? (size_t)c->size : c->size < 0 ? PAGE + 8 : sizeof(ext.args);
	int status;
	pid_t pid;

	if (size > sizeof(ext.args))
		ext.excess[1] = 1;
	switch (c->mode) {
	case PLAIN:
		break;
	case ALL_ZERO:
		ext.args.flags = 0;
		ext.args.exit_signal = 0;
		break;
	case SIG_BIG:
		ext.args.exit_signal = 0xbadc0ded00000000ULL;
		break;
	case SIG_NEG:
		ext.args.exit_signal = 0x0000000080000000ULL;
		break;
	case SIG_CSIG:
		ext.args.exit_signal = 0x0000000000000100ULL;
		break;
	case SIG_NSIG:
		ext.args.exit_signal = 0x00000000000000f0ULL;
		break;
	}
	fflush(NULL);
	pid = shstk_clone3(&ext.args, size, plain_child, NULL);
	if (pid < 0)
		return -errno;
	if (waitpid(pid, &status, __WALL) != pid)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

TEST(selftest_cases_without_shadow_stack_give_clone3s_results)
{
	const long ver0 = SHSTK_CLONE_ARGS_SIZE_VER0, full = sizeof(struct shstk_clone_args);
	const struct plain_case cases[] = {
		{ "simple clone3()", 0, 0, PLAIN, 0 },
		{ "clone3() in a new PID_NS", CLONE_NEWPID, 0, PLAIN, 0 },
		{ "version-0 size", 0, ver0, PLAIN, 0 },
		{ "version-0 size - 8", 0, ver0 - 8, PLAIN, -EINVAL },
		{ "sizeof + 8", 0, full + 8, PLAIN, 0 },
		{ "exit_signal with highest 32 bits non-zero", 0, 0, SIG_BIG, -EINVAL },
		{ "negative 32-bit exit_signal", 0, 0, SIG_NEG, -EINVAL },
		{ "exit_signal not fitting into CSIGNAL mask", 0, 0, SIG_CSIG, -EINVAL },
		{ "NSIG < exit_signal < CSIG", 0, 0, SIG_NSIG, -EINVAL },
		{ "arguments sizeof + 8, all zero", 0, full + 8, ALL_ZERO, 0 },
		{ "arguments sizeof + 16", 0, full + 16, ALL_ZERO, -E2BIG },
		{ "arguments > page size", 0, -1, PLAIN, -E2BIG },
		{ "version-0 size in a new PID NS", CLONE_NEWPID, ver0, PLAIN, 0 },
		{ "version-0 size - 8 in a new PID NS", CLONE_NEWPID, ver0 - 8, PLAIN, -EINVAL },
		{ "sizeof + 8 in a new PID NS", CLONE_NEWPID, full + 8, PLAIN, 0 },
		{ "arguments > page size in a new PID NS", CLONE_NEWPID, -1, PLAIN, -E2BIG },
		{ "exit signal (SIGCHLD) in flags", SIGCHLD, 0, PLAIN, -EINVAL },
	};
	size_t i;

	ASSERT_EQ(0, getuid()) TH_LOG("the guest runs tests as root");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = plain_clone(&cases[i]);

		EXPECT_EQ(cases[i].expected, got) TH_LOG("%s: %d (%s)", cases[i].name, got,
							 got < 0 ? strerror(-got) : "");
	}
	/* New time namespace: 0 where the kernel has them. */
	if (!access("/proc/self/ns/time", F_OK)) {
		struct plain_case t = { "new time NS", CLONE_NEWTIME, 0, PLAIN, 0 };

		EXPECT_EQ(0, plain_clone(&t));
	}
}

TEST_HARNESS_MAIN
