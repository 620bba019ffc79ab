// SPDX-License-Identifier: GPL-2.0
/*
 * SHSTK_IOC_INSTALL (a tracer resizes a new thread before it runs) and
 * SHSTK_CLONE_EXIT_TOKEN (a thread pool reuses one caller-made shadow
 * stack for thread after thread).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/ptrace.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/ioc.h"
#include "lib/proc.h"
#include "lib/require.h"

#define KIB(x) ((uint64_t)(x) << 10)
#define MIB(x) ((uint64_t)(x) << 20)

/* What the traced process and its new thread tell the tracer. */
struct traced {
	uint64_t token;		/* a token stack the process made for the tracer to use */
	uint64_t ss_size;	/* the new thread's shadow-stack mapping, as it sees it */
	uint32_t origin;	/* its USAGE origin */
	int32_t install_errno;	/* its USAGE install_errno */
	int ss_vmas;		/* ss mappings while it runs (main + itself) */
	int ret;		/* the process's verdict */
};

static void *report_self(void *arg)
{
	struct traced *t = arg;
	uint64_t start = 0, end = 0;
	struct shstk_usage u;
	bool is_ss = false;
	int fd;

	if (!shstk_find_ssp_vma(shstk_get_ssp(), &start, &end, &is_ss) && is_ss)
		t->ss_size = end - start;
	t->ss_vmas = shstk_count_ss_vmas();
	fd = shstk_dev_open();
	if (fd >= 0 && !shstk_usage(fd, 0, &u)) {
		t->origin = u.origin;
		t->install_errno = u.install_errno;
	}
	close(fd);
	return NULL;
}

/* The traced process: one thread with an 8 MiB stack. */
static int one_thread(void *arg)
{
	struct traced *t = arg;
	pthread_attr_t attr;
	struct shstk_alloc a;
	pthread_t th;
	int fd = shstk_dev_open();

	/* A token stack for the tracer's token case. */
	if (fd < 0 || shstk_alloc(fd, KIB(64), SHSTK_ALLOC_TOKEN, &a))
		return 2;
	t->token = a.token;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, MIB(8));
	if (pthread_create(&th, &attr, report_self, t) || pthread_join(th, NULL))
		return 3;
	return 0;
}

enum install_what {
	INSTALL_SIZE, INSTALL_TOKEN, INSTALL_TWICE, INSTALL_THEN_KILL,
	INSTALL_THEN_DETACH,		/* the tracer lets go of the thread at once */
	INSTALL_TOKEN_THEN_SPOIL,	/* and overwrites the token before it runs */
};

struct tracer_result {
	int install_ret, second_ret;	/* INSTALL's errno(s) */
	int spoil_ret, detach_ret;	/* errno of POKEDATA, DETACH */
	uint32_t status_pending;	/* USAGE status right after INSTALL */
	int exit_status;		/* the traced process */
};

/*
 * Trace a process running one_thread() with PTRACE_O_TRACECLONE; at its
 * new thread's first stop, INSTALL what says.
 */
static void trace_and_install(struct traced *t, enum install_what what, struct tracer_result *r)
{
	bool installed = false;
	int status, fd;
	pid_t pid, w;

	memset(r, 0, sizeof(*r));
	fd = shstk_dev_open();
	fflush(NULL);
	pid = fork();
	if (!pid) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0))
			_exit(97);
		raise(SIGSTOP);
		if (SHSTK_ENABLE_HERE())
			_exit(SHSTK_RUN_NO_ENABLE);
		_exit(one_thread(t));
	}
	waitpid(pid, &status, 0);
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);
	ptrace(PTRACE_CONT, pid, 0, 0);
	for (;;) {
		w = waitpid(-1, &status, __WALL);
		if (w < 0)
			break;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (w == pid) {
				r->exit_status = status;
				break;
			}
			continue;
		}
		/* The new thread's first stop: before its first user instruction. */
		if (w != pid && WSTOPSIG(status) == SIGSTOP && !(status >> 16) && !installed) {
			struct shstk_install in = { .argsz = sizeof(in), .tid = w };
			struct shstk_usage u;

			installed = true;
			if (what == INSTALL_TOKEN || what == INSTALL_TOKEN_THEN_SPOIL)
				in.shadow_stack_token = t->token;
			else
				in.shadow_stack_size = KIB(64);
			r->install_ret = shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
			if (!shstk_usage(fd, w, &u))
				r->status_pending = u.status & SHSTK_STATUS_INSTALL_PENDING;
			if (what == INSTALL_TWICE)
				r->second_ret = shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
			if (what == INSTALL_THEN_KILL) {
				kill(pid, SIGKILL);
				continue;
			}
			/* ptrace writes with FOLL_FORCE, shadow-stack pages too. */
			if (what == INSTALL_TOKEN_THEN_SPOIL)
				r->spoil_ret = ptrace(PTRACE_POKEDATA, w, t->token, 0) ? errno : 0;
			if (what == INSTALL_THEN_DETACH) {
				r->detach_ret = ptrace(PTRACE_DETACH, w, 0, 0) ? errno : 0;
				continue;
			}
		}
		ptrace(PTRACE_CONT, w, 0, 0);
	}
	close(fd);
}

FIXTURE(install) {
	struct traced *t;
	struct tracer_result r;
};

FIXTURE_SETUP(install)
{
	ASSERT_FEATURE(SHSTK_FEAT_INSTALL);
	self->t = shstk_shared(sizeof(*self->t));
	ASSERT_NE(NULL, self->t);
}

FIXTURE_TEARDOWN(install)
{
}

TEST_F(install, sized_install_replaces_the_new_threads_shadow_stack)
{
	trace_and_install(self->t, INSTALL_SIZE, &self->r);
	ASSERT_EQ(0, self->r.install_ret);
	EXPECT_TRUE(self->r.status_pending);
	ASSERT_TRUE(WIFEXITED(self->r.exit_status)) TH_LOG("status %#x", self->r.exit_status);
	ASSERT_EQ(0, WEXITSTATUS(self->r.exit_status));
	/* Not the 8 MiB the kernel made: the 64 KiB one, and the old one is gone. */
	EXPECT_EQ(KIB(64), self->t->ss_size);
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, self->t->origin);
	/* main's, the unused token stack and the thread's: the kernel's 8 MiB one is gone. */
	EXPECT_EQ(3, self->t->ss_vmas);
}

TEST_F(install, token_install_starts_the_thread_on_the_callers_stack)
{
	trace_and_install(self->t, INSTALL_TOKEN, &self->r);
	ASSERT_EQ(0, self->r.install_ret);
	ASSERT_TRUE(WIFEXITED(self->r.exit_status)) TH_LOG("status %#x", self->r.exit_status);
	ASSERT_EQ(0, WEXITSTATUS(self->r.exit_status));
	EXPECT_EQ(KIB(64), self->t->ss_size);
	EXPECT_EQ(SHSTK_ORIGIN_TOKEN, self->t->origin);
}

TEST_F(install, second_install_while_pending_is_ebusy)
{
	trace_and_install(self->t, INSTALL_TWICE, &self->r);
	EXPECT_EQ(0, self->r.install_ret);
	EXPECT_EQ(-EBUSY, self->r.second_ret);
	ASSERT_TRUE(WIFEXITED(self->r.exit_status));
	EXPECT_EQ(KIB(64), self->t->ss_size);
}

/* The target dies with the install pending: nothing leaks or crashes. */
TEST_F(install, target_killed_while_install_pending)
{
	trace_and_install(self->t, INSTALL_THEN_KILL, &self->r);
	EXPECT_EQ(0, self->r.install_ret);
	ASSERT_TRUE(WIFSIGNALED(self->r.exit_status));
	EXPECT_EQ(SIGKILL, WTERMSIG(self->r.exit_status));
}

/*
 * The tracer detaches with the install pending: the task work is the
 * thread's own, so it still applies before the first user instruction.
 */
TEST_F(install, tracer_detach_while_pending_still_applies)
{
	trace_and_install(self->t, INSTALL_THEN_DETACH, &self->r);
	ASSERT_EQ(0, self->r.install_ret);
	ASSERT_EQ(0, self->r.detach_ret);
	ASSERT_TRUE(WIFEXITED(self->r.exit_status)) TH_LOG("status %#x", self->r.exit_status);
	ASSERT_EQ(0, WEXITSTATUS(self->r.exit_status));
	EXPECT_EQ(KIB(64), self->t->ss_size);
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, self->t->origin);
	EXPECT_EQ(3, self->t->ss_vmas);
}

/*
 * Applying fails in the thread (its token was overwritten after the
 * ioctl checked it): the thread keeps the kernel's shadow stack, runs
 * normally, and USAGE tells it why (install_errno, positive).
 */
TEST_F(install, install_that_fails_to_apply_keeps_the_old_stack_and_says_why)
{
	trace_and_install(self->t, INSTALL_TOKEN_THEN_SPOIL, &self->r);
	ASSERT_EQ(0, self->r.install_ret);
	ASSERT_EQ(0, self->r.spoil_ret);
	ASSERT_TRUE(WIFEXITED(self->r.exit_status)) TH_LOG("status %#x", self->r.exit_status);
	ASSERT_EQ(0, WEXITSTATUS(self->r.exit_status));
	/* The kernel's rule: 8 MiB stack plus glibc's 4 KiB guard. */
	EXPECT_EQ(MIB(8) + KIB(4), self->t->ss_size);
	EXPECT_EQ(SHSTK_ORIGIN_KERNEL, self->t->origin);
	EXPECT_EQ(EINVAL, self->t->install_errno);
	/* main's, the token stack and the thread's kernel-made one. */
	EXPECT_EQ(3, self->t->ss_vmas);
}

static int install_self(void *arg)
{
	struct shstk_install in = { .argsz = sizeof(in), .shadow_stack_size = KIB(64) };
	int fd = shstk_dev_open();

	/* Not in a ptrace stop of ours, and not empty. */
	return -shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
}

TEST_F(install, refused_targets_are_ebusy)
{
	struct shstk_install in = { .argsz = sizeof(in), .shadow_stack_size = KIB(64) };
	int status, fd = shstk_dev_open();
	pid_t pid;

	ASSERT_LE(0, fd);
	/* The caller itself (no shadow stack, not stopped). */
	EXPECT_EQ(-EBUSY, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));
	/* A thread with a shadow stack that is running, not traced by us. */
	status = shstk_run(install_self, NULL);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(EBUSY, WEXITSTATUS(status));
	/* Traced and stopped, but without a shadow stack. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	in.tid = pid;
	EXPECT_EQ(-EBUSY, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fd);
}

/* Traced, stopped, shadow stack on but with frames on it: EBUSY. */
TEST_F(install, thread_with_frames_is_ebusy)
{
	struct shstk_install in = { .argsz = sizeof(in), .shadow_stack_size = KIB(64) };
	int status, fd = shstk_dev_open();
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		if (SHSTK_ENABLE_HERE())
			_exit(1);
		/* raise() is a call: a return address is on the shadow stack. */
		raise(SIGSTOP);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	in.tid = pid;
	EXPECT_EQ(-EBUSY, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fd);
}

TEST_F(install, bad_requests_are_einval_or_esrch)
{
	struct shstk_install in;
	int fd = shstk_dev_open();

	ASSERT_LE(0, fd);
	in = (struct shstk_install){ .argsz = sizeof(in), .flags = 1, .shadow_stack_size = KIB(64) };
	EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));
	in = (struct shstk_install){ .argsz = sizeof(in), .reserved = 1, .shadow_stack_size = KIB(64) };
	EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));
	in = (struct shstk_install){ .argsz = sizeof(in) };
	EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));	/* neither */
	in = (struct shstk_install){ .argsz = sizeof(in), .shadow_stack_size = KIB(64),
				     .shadow_stack_token = 0x7f0000000ff8 };
	EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));	/* both */
	in = (struct shstk_install){ .argsz = sizeof(in), .shadow_stack_size = KIB(64) + 4 };
	EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));
	in = (struct shstk_install){ .argsz = sizeof(in), .shadow_stack_token = 0x7f0000000ffc };
	EXPECT_EQ(-EINVAL, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));	/* misaligned */
	in = (struct shstk_install){ .argsz = sizeof(in), .tid = 4194304,
				     .shadow_stack_size = KIB(64) };
	EXPECT_EQ(-ESRCH, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));
	close(fd);
}

TEST(install_as_unprivileged_user_on_root_process_is_eperm)
{
	struct shstk_install in = { .argsz = sizeof(in), .tid = 1, .shadow_stack_size = KIB(64) };
	int status;
	pid_t pid;

	REQUIRE_SHSTK();
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int fd = shstk_dev_open();

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(1);
		_exit(shstk_ioc(fd, SHSTK_IOC_INSTALL, &in) == -EPERM ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* --- SHSTK_CLONE_EXIT_TOKEN: one caller-made stack, thread after thread --- */

#define POOL_THREADS 1000

struct pool {
	int created;		/* threads that ran on the stack */
	int second_without;	/* errno of reusing a token without EXIT_TOKEN */
	int vmas_before, vmas_after;
	uint64_t token, ss_lo, ss_hi;
	int ran_elsewhere;	/* a thread whose SSP was not on the pool's stack */
};

static struct pool *pool;

static void *pool_worker(void *arg)
{
	uint64_t ssp = shstk_get_ssp();

	if (ssp <= pool->ss_lo || ssp > pool->ss_hi)
		pool->ran_elsewhere++;
	return arg;
}

static int run_pool(void *arg)
{
	struct shstk_alloc a;
	pthread_t t;
	int fd = shstk_dev_open(), i, err;

	if (fd < 0 || shstk_alloc(fd, KIB(64), SHSTK_ALLOC_TOKEN, &a))
		return 2;
	pool->token = a.token;
	pool->ss_lo = a.addr;
	pool->ss_hi = a.token + 8;
	/* Shadow-stack mappings only: glibc caches the threads' normal stacks. */
	pool->vmas_before = shstk_count_ss_vmas();
	for (i = 0; i < POOL_THREADS; i++) {
		err = shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN, 0, a.token);
		if (err)
			return 10 + (i ? 1 : 0);
		if (pthread_create(&t, NULL, pool_worker, NULL) || pthread_join(t, NULL))
			return 3;
		pool->created++;
	}
	pool->vmas_after = shstk_count_ss_vmas();

	/* Without the flag the token is gone after one thread. */
	if (shstk_set_clone(fd, 0, 0, a.token))
		return 4;
	if (pthread_create(&t, NULL, pool_worker, NULL) || pthread_join(t, NULL))
		return 5;
	pool->second_without = -shstk_set_clone(fd, 0, 0, a.token);
	return 0;
}

TEST(exit_token_lets_a_pool_reuse_one_shadow_stack)
{
	int status;

	ASSERT_FEATURE(SHSTK_FEAT_CLONE_TOKEN);
	pool = shstk_shared(sizeof(*pool));
	ASSERT_NE(NULL, pool);
	status = shstk_run(run_pool, NULL);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("after %d threads", pool->created);
	EXPECT_EQ(POOL_THREADS, pool->created);
	EXPECT_EQ(0, pool->ran_elsewhere);
	/* No new mapping for any of them. */
	EXPECT_EQ(pool->vmas_before, pool->vmas_after);
	EXPECT_EQ(EINVAL, pool->second_without);
}

TEST(exit_token_needs_a_token_arming)
{
	int fd = shstk_dev_open();

	REQUIRE_SHSTK();
	ASSERT_LE(0, fd);
	/* The caller has no shadow stack: EINVAL either way, never success. */
	EXPECT_EQ(-EINVAL, shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN, KIB(64), 0));
	close(fd);
}

TEST(install_is_eopnotsupp_without_hw)
{
	struct shstk_install in = { .argsz = sizeof(in), .shadow_stack_size = KIB(64) };

	ASSERT_EOPNOTSUPP_WITHOUT_HW(SHSTK_IOC_INSTALL, &in);
}

TEST_HARNESS_MAIN
