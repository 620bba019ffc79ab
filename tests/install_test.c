// SPDX-License-Identifier: GPL-2.0
/*
 * SHSTK_IOC_INSTALL (a tracer resizes a new thread before it runs),
 * SHSTK_CLONE_EXIT_TOKEN (a thread pool reuses one caller-made shadow
 * stack for thread after thread), and shstkctl trace, INSTALL's user, with
 * tids the kernel gives out again (it needs shstkctl next to this program).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/ptrace.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/child_report.h"
#include "lib/clone3.h"
#include "lib/ioc.h"
#include "lib/proc.h"
#include "lib/raw.h"
#include "lib/require.h"
#include "lib/trace.h"

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
	long committed_before;	/* Committed_AS (KiB) before pthread_create() */
	long committed_after;	/* and in the new thread, its install applied */
};

static void *report_self(void *arg)
{
	struct traced *t = arg;
	uint64_t start = 0, end = 0;
	struct shstk_usage u;
	bool is_ss = false;
	int fd;

	/* First: what follows may allocate (stdio). */
	t->committed_after = proc_committed_kib();
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
	t->committed_before = proc_committed_kib();
	if (pthread_create(&th, &attr, report_self, t) || pthread_join(th, NULL))
		return 3;
	return 0;
}

enum install_what {
	INSTALL_SIZE, INSTALL_TOKEN, INSTALL_TWICE, INSTALL_THEN_KILL,
	INSTALL_THEN_DETACH,		/* the tracer lets go of the thread at once */
	INSTALL_TOKEN_THEN_SPOIL,	/* and overwrites the token before it runs */
	INSTALL_SIZE_AFTER_OTHER,	/* a process that is not the tracer tries first */
	INSTALL_TOKEN_AFTER_BAD_TOKENS,	/* bad tokens are refused first */
};

struct tracer_result {
	int install_ret, second_ret;	/* INSTALL's errno(s) */
	int spoil_ret, detach_ret;	/* errno of POKEDATA, DETACH */
	uint32_t status_pending;	/* USAGE status right after INSTALL */
	int exit_status;		/* the traced process */
	long committed_stopped;		/* Committed_AS (KiB) at the new thread's first stop */
	/* Refused INSTALLs before the real one, and whether any left one pending. */
	int other_ret;			/* from a process that is not the tracer */
	int normal_ret;			/* a token address in a normal mapping */
	int misaligned_ret;		/* the real token's address + 4 */
	int forge_ret;			/* errno of POKEDATA writing a copied token */
	int copied_ret;			/* at the copy: a token value for another address */
	int empty_ret;			/* an aligned shadow-stack slot holding 0 */
	uint32_t refused_pending;	/* USAGE INSTALL_PENDING after any of them */
};

/* Whether USAGE shows an install pending on tid (or cannot tell). */
static uint32_t install_pending(int fd, pid_t tid)
{
	struct shstk_usage u;

	if (shstk_usage(fd, tid, &u))
		return SHSTK_STATUS_INSTALL_PENDING;
	return u.status & SHSTK_STATUS_INSTALL_PENDING;
}

/*
 * INSTALL from a process that is not the target's tracer (a child of the
 * tracer: root, so it may ptrace-attach to the target). 0 or -errno.
 */
static int install_from_another_process(const struct shstk_install *in)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (!pid) {
		struct shstk_install copy = *in;
		int fd = shstk_dev_open();

		_exit(fd < 0 ? 255 : -shstk_ioc(fd, SHSTK_IOC_INSTALL, &copy));
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -ECHILD;
	return -WEXITSTATUS(status);
}

/*
 * Tokens INSTALL must refuse on a valid target (tid, at its first stop):
 * each refusal must leave nothing pending, so the tracer's real INSTALL
 * that follows still works.
 */
static void install_bad_tokens(int fd, pid_t tid, const struct traced *t, struct tracer_result *r)
{
	struct shstk_install in = { .argsz = sizeof(in), .tid = tid };

	/* t: shared memory, a normal writable mapping in the target too. */
	in.shadow_stack_token = (uintptr_t)t;
	r->normal_ret = shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
	r->refused_pending |= install_pending(fd, tid);
	in.shadow_stack_token = t->token + 4;
	r->misaligned_ret = shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
	r->refused_pending |= install_pending(fd, tid);
	/*
	 * A forged token: the real token's value copied lower, where it
	 * names the wrong address (8 bytes on x86; on arm64 a cap token names
	 * its page, so a page lower). ptrace writes shadow-stack pages.
	 */
	r->forge_ret = ptrace(PTRACE_POKEDATA, tid, t->token - SHSTK_TOKEN_COPY_DISTANCE,
			      shstk_token_value(t->token)) ? errno : 0;
	in.shadow_stack_token = t->token - SHSTK_TOKEN_COPY_DISTANCE;
	r->copied_ret = shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
	r->refused_pending |= install_pending(fd, tid);
	in.shadow_stack_token = t->token - 16;
	r->empty_ret = shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
	r->refused_pending |= install_pending(fd, tid);
}

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
	pid = shstk_fork_traced(one_thread, t);
	if (pid < 0) {
		r->exit_status = -1;	/* not WIFEXITED: the test fails */
		close(fd);
		return;
	}
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
			r->committed_stopped = proc_committed_kib();
			if (what == INSTALL_TOKEN || what == INSTALL_TOKEN_THEN_SPOIL ||
			    what == INSTALL_TOKEN_AFTER_BAD_TOKENS)
				in.shadow_stack_token = t->token;
			else
				in.shadow_stack_size = KIB(64);
			if (what == INSTALL_SIZE_AFTER_OTHER) {
				r->other_ret = install_from_another_process(&in);
				r->refused_pending |= install_pending(fd, w);
			}
			if (what == INSTALL_TOKEN_AFTER_BAD_TOKENS)
				install_bad_tokens(fd, w, t, r);
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

/* The traced process exited, with status 0 (a status evaluated once). */
#define ASSERT_EXITED_0(status) do {					\
	int _st = (status);						\
	ASSERT_TRUE(WIFEXITED(_st)) TH_LOG("status %#x", _st);		\
	ASSERT_EQ(0, WEXITSTATUS(_st));					\
} while (0)

/* The kernel's shadow stack for one_thread()'s 8 MiB thread (lib/arch.h). */
#define KERNEL_RULE_KIB		((long)(shstk_kernel_rule(MIB(8)) >> 10))
/* Commit that other work may move while a check runs (KiB). */
#define COMMIT_SLACK_KIB	256L

/*
 * Committed_AS around the install: the clone charges the kernel's shadow
 * stack (and glibc's 8 MiB thread stack, so the change from before the
 * clone to after the install is that stack plus what was installed); the
 * install, applied, must give the kernel's shadow stack back, not only
 * unmap it from view. new_kib: what the install charged.
 */
static void check_commit_given_back(struct __test_metadata *_metadata, const struct traced *t,
				    const struct tracer_result *r, long new_kib)
{
	long charged = r->committed_stopped - t->committed_before;
	long given_back = r->committed_stopped - t->committed_after;

	TH_LOG("Committed_AS (KiB): %ld before the clone, %ld at the first stop (%+ld)",
	       t->committed_before, r->committed_stopped, charged);
	TH_LOG("Committed_AS (KiB): %ld with the install applied (%+ld; %+ld since the clone)",
	       t->committed_after, -given_back, t->committed_after - t->committed_before);
	ASSERT_LT(0, t->committed_before);
	ASSERT_LT(0, r->committed_stopped);
	ASSERT_LT(0, t->committed_after);
	/* What the clone charged includes the kernel's shadow stack ... */
	EXPECT_LE(KERNEL_RULE_KIB, charged);
	/* ... and applying the install gave it back, minus what it made. */
	EXPECT_LE(KERNEL_RULE_KIB - new_kib - COMMIT_SLACK_KIB, given_back);
	EXPECT_GE(KERNEL_RULE_KIB - new_kib + COMMIT_SLACK_KIB, given_back);
}

TEST_F(install, sized_install_replaces_the_new_threads_shadow_stack)
{
	trace_and_install(self->t, INSTALL_SIZE, &self->r);
	ASSERT_EQ(0, self->r.install_ret);
	EXPECT_TRUE(self->r.status_pending);
	ASSERT_EXITED_0(self->r.exit_status);
	/* Not the 8 MiB the kernel made: the 64 KiB one, and the old one is gone. */
	EXPECT_EQ(KIB(64), self->t->ss_size);
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, self->t->origin);
	/* main's, the unused token stack and the thread's: the kernel's 8 MiB one is gone. */
	EXPECT_EQ(3, self->t->ss_vmas);
	check_commit_given_back(_metadata, self->t, &self->r, 64);
}

TEST_F(install, token_install_starts_the_thread_on_the_callers_stack)
{
	trace_and_install(self->t, INSTALL_TOKEN, &self->r);
	ASSERT_EQ(0, self->r.install_ret);
	ASSERT_EXITED_0(self->r.exit_status);
	EXPECT_EQ(KIB(64), self->t->ss_size);
	EXPECT_EQ(SHSTK_ORIGIN_TOKEN, self->t->origin);
	/* main's and the token stack the thread runs on: the kernel's one is unmapped. */
	EXPECT_EQ(2, self->t->ss_vmas);
	/* The token stack was there before the clone: the install charged nothing. */
	check_commit_given_back(_metadata, self->t, &self->r, 0);
}

TEST_F(install, second_install_while_pending_is_ebusy)
{
	trace_and_install(self->t, INSTALL_TWICE, &self->r);
	EXPECT_EQ(0, self->r.install_ret);
	EXPECT_EQ(-EBUSY, self->r.second_ret);
	ASSERT_TRUE(WIFEXITED(self->r.exit_status));
	EXPECT_EQ(KIB(64), self->t->ss_size);
}

/* The module's reference count once it is back to want (up to 2 s), else the last read. */
static long module_refcnt_settled(long want)
{
	long n = shstk_module_refcnt();
	int i;

	for (i = 0; i < 20 && n != want; i++) {
		usleep(100000);
		n = shstk_module_refcnt();
	}
	return n;
}

/*
 * The target dies with the install pending: nothing leaks or crashes. The
 * pending install holds a thread record and pins the module; both go
 * with the thread (its task work runs from do_exit()).
 */
TEST_F(install, target_killed_while_install_pending)
{
	long tasks_before, tasks_after, refs_before, refs_after;

	tasks_before = shstk_live_records_quiet("tasks");
	ASSERT_LE(0, tasks_before) TH_LOG("no shstk/tasks in debugfs");
	/* No /dev/shstk file of ours is open here: only what others hold. */
	refs_before = shstk_module_refcnt();
	ASSERT_LE(0, refs_before) TH_LOG("no /sys/module/shstk/refcnt");

	trace_and_install(self->t, INSTALL_THEN_KILL, &self->r);
	EXPECT_EQ(0, self->r.install_ret);
	EXPECT_TRUE(self->r.status_pending);
	ASSERT_TRUE(WIFSIGNALED(self->r.exit_status));
	EXPECT_EQ(SIGKILL, WTERMSIG(self->r.exit_status));

	tasks_after = shstk_live_records_settled("tasks", tasks_before);
	refs_after = module_refcnt_settled(refs_before);
	TH_LOG("live thread records: %ld before, %ld after", tasks_before, tasks_after);
	TH_LOG("module references: %ld before, %ld after", refs_before, refs_after);
	EXPECT_EQ(tasks_before, tasks_after);
	EXPECT_EQ(refs_before, refs_after);
}

/*
 * Only the target's tracer may INSTALL: another process, even one that
 * may ptrace-attach to the target (root), is refused while the target is
 * stopped and otherwise valid, and its attempt leaves nothing pending:
 * the tracer's own INSTALL that follows works.
 */
TEST_F(install, install_by_a_process_that_is_not_the_tracer_is_ebusy)
{
	trace_and_install(self->t, INSTALL_SIZE_AFTER_OTHER, &self->r);
	EXPECT_EQ(-EBUSY, self->r.other_ret);
	EXPECT_EQ(0, self->r.refused_pending);
	ASSERT_EQ(0, self->r.install_ret);
	ASSERT_EXITED_0(self->r.exit_status);
	EXPECT_EQ(KIB(64), self->t->ss_size);
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, self->t->origin);
	EXPECT_EQ(0, self->t->install_errno);
}

/*
 * On a valid target (a new thread at its first stop, empty shadow stack),
 * tokens are checked as SET_CLONE checks them, in the target's address
 * space: not in a shadow-stack mapping EFAULT, misaligned or not a valid
 * token for its address EINVAL. A refused INSTALL changes nothing: no
 * install pending, no install_errno, and the valid token that follows
 * still works.
 */
TEST_F(install, bad_tokens_on_a_valid_target_are_refused_and_leave_nothing_pending)
{
	trace_and_install(self->t, INSTALL_TOKEN_AFTER_BAD_TOKENS, &self->r);
	EXPECT_EQ(-EFAULT, self->r.normal_ret);
	EXPECT_EQ(-EINVAL, self->r.misaligned_ret);
	ASSERT_EQ(0, self->r.forge_ret);
	EXPECT_EQ(-EINVAL, self->r.copied_ret);
	EXPECT_EQ(-EINVAL, self->r.empty_ret);
	EXPECT_EQ(0, self->r.refused_pending);
	ASSERT_EQ(0, self->r.install_ret);
	EXPECT_TRUE(self->r.status_pending);
	ASSERT_EXITED_0(self->r.exit_status);
	EXPECT_EQ(KIB(64), self->t->ss_size);
	EXPECT_EQ(SHSTK_ORIGIN_TOKEN, self->t->origin);
	EXPECT_EQ(0, self->t->install_errno);
	EXPECT_EQ(2, self->t->ss_vmas);
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
	ASSERT_EXITED_0(self->r.exit_status);
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
	ASSERT_EXITED_0(self->r.exit_status);
	/* The kernel's rule for an 8 MiB stack. */
	EXPECT_EQ(shstk_kernel_rule(MIB(8)), self->t->ss_size);
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

/*
 * Stop in a frame of its own: the call pushes a return address on the
 * shadow stack (on RISC-V, the sspush of a function that saves ra; a call
 * into glibc, built without Zicfiss, pushes nothing there). The empty asm
 * keeps raise() from becoming a tail call.
 */
static void __attribute__((noinline)) stop_in_a_frame(void)
{
	raise(SIGSTOP);
	__asm__ volatile("" ::: "memory");
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
		stop_in_a_frame();
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	in.tid = pid;
	EXPECT_EQ(-EBUSY, shstk_ioc(fd, SHSTK_IOC_INSTALL, &in));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fd);
}

/*
 * A thread of a tracee that runs user code with an empty shadow stack: it
 * spins on go without a call, a push or a stack of its own. SSP is stored
 * on every turn.
 */
struct spinner {
	volatile int tid;		/* CLONE_CHILD_CLEARTID: 0 once it is gone */
	volatile int go;		/* set: the thread exits */
	volatile uint64_t ssp;		/* its SSP, from its last turn */
};

/* Start the spinning thread (raw clone3(), no stack given); tid or -errno. */
static long spinner_start(struct spinner *s)
{
	struct raw_clone_args args = {
		.flags = RAW_THREAD_FLAGS,
		.child_tid = (uintptr_t)&s->tid,
		.parent_tid = (uintptr_t)&s->tid,
	};

	return raw_clone3_spinner(&args, &s->ssp, &s->go);
}

/* The traced process: the spinner, and wait until it is gone. */
static int run_spinner(void *arg)
{
	struct spinner *s = arg;
	int tid;

	if (spinner_start(s) < 0)
		return 2;
	while ((tid = s->tid) != 0)
		syscall(__NR_futex, &s->tid, FUTEX_WAIT, tid, NULL, NULL, 0);
	return 0;
}

/* Wait (up to about 10 s) until *ssp is no longer old; false on timeout. */
static bool ssp_changed(volatile uint64_t *ssp, uint64_t old)
{
	struct timespec ms = { 0, 1000000 };
	int i;

	for (i = 0; i < 10000 && *ssp == old; i++)
		nanosleep(&ms, NULL);
	return *ssp != old;
}

struct running_result {
	int running_ret;		/* INSTALL while the tracee runs */
	uint32_t running_pending;	/* USAGE INSTALL_PENDING after it */
	int stopped_ret;		/* INSTALL once it is stopped (SIGSTOP) */
	uint64_t ssp_running, ssp_after;	/* its SSP before and after */
	struct shstk_usage after;	/* USAGE once it runs on the new stack */
	int timeouts;			/* waits for the spinner that ran out */
	int exit_status;		/* the traced process */
};

/*
 * Trace run_spinner(): let the new thread run, INSTALL while it spins,
 * then stop it with SIGSTOP (it stops before any signal frame is pushed,
 * its shadow stack still empty) and INSTALL again.
 */
static void install_on_running_tracee(struct spinner *s, struct running_result *r)
{
	struct shstk_install in = { .argsz = sizeof(in), .shadow_stack_size = KIB(64) };
	int status, sig, fd = shstk_dev_open();
	pid_t pid, w, tid = 0;

	memset(r, 0, sizeof(*r));
	pid = shstk_fork_traced(run_spinner, s);
	if (pid < 0) {
		r->exit_status = -1;	/* not WIFEXITED: the test fails */
		close(fd);
		return;
	}
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
		sig = WSTOPSIG(status);
		if (w != pid && sig == SIGSTOP && !(status >> 16) && !tid) {
			/* Its first stop: let it run, and try while it spins. */
			tid = w;
			in.tid = w;
			ptrace(PTRACE_CONT, w, 0, 0);
			r->timeouts += !ssp_changed(&s->ssp, 0);
			r->ssp_running = s->ssp;
			r->running_ret = shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
			r->running_pending = install_pending(fd, w);
			syscall(__NR_tgkill, pid, w, SIGSTOP);
			continue;
		}
		if (w == tid && sig == SIGSTOP && !(status >> 16)) {
			/* Our SIGSTOP, before delivery: the same thread, now stopped. */
			r->stopped_ret = shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
			ptrace(PTRACE_CONT, w, 0, 0);
			r->timeouts += !ssp_changed(&s->ssp, r->ssp_running);
			r->ssp_after = s->ssp;
			shstk_usage(fd, w, &r->after);
			s->go = 1;
			continue;
		}
		ptrace(PTRACE_CONT, w, 0, (status >> 16) ? 0 : sig);
	}
	close(fd);
}

/*
 * A tracee of the caller that is running, not in a ptrace stop: EBUSY,
 * although its shadow stack is empty. Once the same thread is stopped,
 * INSTALL works, so only "not stopped" was refused.
 */
TEST(install_on_a_running_tracee_is_ebusy)
{
	struct running_result r;
	struct spinner *s;

	ASSERT_FEATURE(SHSTK_FEAT_INSTALL);
	s = shstk_shared(sizeof(*s));
	ASSERT_NE(NULL, s);
	install_on_running_tracee(s, &r);
	ASSERT_EXITED_0(r.exit_status);
	ASSERT_EQ(0, r.timeouts);
	EXPECT_EQ(-EBUSY, r.running_ret);
	EXPECT_EQ(0, r.running_pending);
	ASSERT_EQ(0, r.stopped_ret);
	/* It runs on the 64 KiB stack now, still at its top. */
	TH_LOG("SSP %#llx while it ran, %#llx after the install",
	       (unsigned long long)r.ssp_running, (unsigned long long)r.ssp_after);
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, r.after.origin);
	EXPECT_EQ(KIB(64), r.after.size);
	EXPECT_EQ(shstk_empty_ssp(r.after.base + r.after.size), r.ssp_after);
	/*
	 * Where any 64-bit mapping goes: the install ran in task work after
	 * an interrupt (orig_ax -1), which mmap once took for an x32
	 * syscall and answered from the 32-bit area.
	 */
	EXPECT_LT(1ULL << 32, r.after.base) TH_LOG("new stack at %#llx",
						   (unsigned long long)r.after.base);
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

/* --- When the exit token comes back --- */

/* For child_report.h. */
struct report {
	int line, err;
	uint64_t token;			/* the token stack's token address */
	uint64_t alive[2];		/* its slot while the thread blocks, per case */
	int rearm[2];			/* SET_CLONE with that token meanwhile */
	uint64_t joined[2];		/* the slot after pthread_join() */
};

static struct report *R;

enum { BLOCK_IN_START, BLOCK_IN_DESTRUCTOR };

struct blocker {
	int ready[2];	/* pipe: the thread says where it is */
	int go[2];	/* pipe: main lets it go on */
	int where;	/* BLOCK_* */
	pid_t tid;
};

static pthread_key_t blocker_key;

/* Tell main where the thread is, then block until main lets it go on. */
static void blocker_wait(struct blocker *b, char where)
{
	char c;

	if (write(b->ready[1], &where, 1) == 1)
		read(b->go[0], &c, 1);
}

/* Runs after the start function returned: user code, in the exiting thread. */
static void blocker_destructor(void *arg)
{
	blocker_wait(arg, 'd');
}

static void *blocker_thread(void *arg)
{
	struct blocker *b = arg;
	char c = 'r';

	b->tid = gettid();
	if (b->where == BLOCK_IN_START) {
		blocker_wait(b, 's');
		return NULL;
	}
	/* About to return from the start function: its destructor blocks. */
	if (pthread_setspecific(blocker_key, b))
		c = 'x';
	write(b->ready[1], &c, 1);
	return NULL;
}

/*
 * One thread on the token stack, armed with EXIT_TOKEN, that blocks where
 * b says; the token's slot (read through a normal load) while it blocks
 * and after it was joined.
 */
static int run_blocker(int fd, struct blocker *b, int i)
{
	volatile uint64_t *slot = (volatile uint64_t *)(uintptr_t)R->token;
	pthread_t t;
	char c;

	CHECK(shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN, 0, R->token));
	CHECK_TRUE(!pthread_create(&t, NULL, blocker_thread, b));
	CHECK_TRUE(read(b->ready[0], &c, 1) == 1);
	if (b->where == BLOCK_IN_DESTRUCTOR)
		CHECK_TRUE(c == 'r' && read(b->ready[0], &c, 1) == 1 && c == 'd');
	/* Asleep in read(): alive, and no user code runs until main writes. */
	CHECK_TRUE(proc_wait_sleeping(getpid(), b->tid));
	R->alive[i] = *slot;
	R->rearm[i] = shstk_set_clone(fd, 0, 0, R->token);
	if (!R->rearm[i])
		CHECK(shstk_set_clone(fd, 0, 0, 0));	/* a wrong success: disarm */
	CHECK_TRUE(write(b->go[1], "g", 1) == 1);
	CHECK_TRUE(!pthread_join(t, NULL));
	R->joined[i] = *slot;
	return 0;
}

static int exit_token_timing(void *arg)
{
	struct blocker b = { .where = BLOCK_IN_START };
	struct shstk_alloc a;
	int fd = shstk_dev_open();

	CHECK_TRUE(fd >= 0);
	CHECK(shstk_alloc(fd, KIB(64), SHSTK_ALLOC_TOKEN, &a));
	R->token = a.token;
	CHECK(-pthread_key_create(&blocker_key, blocker_destructor));
	CHECK_TRUE(!pipe(b.ready) && !pipe(b.go));
	CHECK(run_blocker(fd, &b, 0));
	b.where = BLOCK_IN_DESTRUCTOR;
	CHECK(run_blocker(fd, &b, 1));
	return 0;
}

/*
 * The exit token is written back only once the thread can no longer run
 * user code: not while it blocks in its start function, nor while it runs
 * a TSD destructor after returning from it; and it is there when
 * pthread_join() returns. Meanwhile the slot holds no valid token (the
 * thread's first call pushed its return address onto it), so no other
 * thread can be armed with it.
 */
TEST(exit_token_comes_back_only_after_the_thread_is_gone)
{
	static const char * const where[] = { "blocked in its start function",
					      "blocked in a TSD destructor" };
	uint64_t token;
	int i;

	ASSERT_FEATURE(SHSTK_FEAT_CLONE_TOKEN);
	NEW_REPORT();
	ASSERT_CHILD_OK(shstk_run(exit_token_timing, NULL));
	token = shstk_token_value(R->token);
	for (i = 0; i < 2; i++) {
		TH_LOG("%s: token slot %#llx while alive, %#llx after join (token %#llx)", where[i],
		       (unsigned long long)R->alive[i], (unsigned long long)R->joined[i],
		       (unsigned long long)token);
		EXPECT_NE(token, R->alive[i]);
		EXPECT_EQ(-EINVAL, R->rearm[i]);
		EXPECT_EQ(token, R->joined[i]);
	}
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

/* --- shstkctl trace and tids the kernel gives out again --- */

struct tid_report {
	int fd;			/* /dev/shstk, opened by the caller */
	pid_t tid;
	struct shstk_usage u;
	long ret;		/* of USAGE */
};

/* In a raw thread (no libc): USAGE of itself. */
static int report_tid(void *arg)
{
	struct tid_report *r = arg;

	r->u.argsz = sizeof(r->u);
	r->ret = raw_syscall3(__NR_ioctl, r->fd, SHSTK_IOC_USAGE, (long)&r->u);
	return 0;
}

/*
 * A thread under shstkctl trace --size 64K, with this tid (0: any): did
 * it get its 64 KiB? -EEXIST while the tid is still taken.
 */
static int traced_thread(int fd, pid_t tid, struct tid_report *r)
{
	struct raw_thread t;
	int ret;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	ret = raw_clone_start_tid(&t, report_tid, r, 0, RAW_THREAD_FLAGS, 0, tid);
	if (ret < 0)
		return ret;
	r->tid = ret;
	raw_thread_join(&t);
	if (!r->ret && r->u.origin == SHSTK_ORIGIN_SIZED && r->u.size == KIB(64))
		return 0;
	printf("# thread %d: USAGE %ld, origin %u, size %llu\n", r->tid, r->ret,
	       r->u.origin, (unsigned long long)r->u.size);
	return -EIO;
}

/*
 * install_test --reuse-tid, run by shstkctl trace --size 64K: a thread,
 * then one with the same tid (clone3 set_tid, root), once the tracer has
 * reaped the first; each must get 64 KiB. Exit status 0, or which step
 * failed.
 */
static int reuse_tid(void)
{
	struct tid_report first, again;
	int fd = shstk_dev_open(), i, ret;

	if (fd < 0)
		return 9;
	if (traced_thread(fd, 0, &first))
		return 10;
	for (i = 0; i < 200; i++) {
		/* The tid is free only once the tracer has reaped the thread. */
		ret = traced_thread(fd, first.tid, &again);
		if (ret != -EEXIST)
			return ret ? 12 : 0;
		usleep(10000);
	}
	printf("# tid %d never came free\n", first.tid);
	return 13;
}

/*
 * shstkctl trace (next to this program: tests/vm/run --add
 * tests/build/shstkctl) must forget a thread's tid once it has reaped
 * the thread: a new thread with the same tid is a new thread, gets its
 * INSTALL, and its first SIGSTOP is not passed back to it.
 */
TEST(shstkctl_trace_installs_on_a_reused_tid)
{
	char self[PATH_MAX], ctl[PATH_MAX + 16];
	int status;
	ssize_t n;
	pid_t pid;

	ASSERT_FEATURE(SHSTK_FEAT_INSTALL);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ASSERT_LT(0, n);
	self[n] = '\0';
	snprintf(ctl, sizeof(ctl), "%.*s/shstkctl", (int)(strrchr(self, '/') - self), self);
	ASSERT_EQ(0, access(ctl, X_OK)) TH_LOG("%s: %s", ctl, strerror(errno));
	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		execl(ctl, "shstkctl", "trace", "--size", "64K", "--", self, "--reuse-tid", NULL);
		_exit(127);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("install_test --reuse-tid says %d",
						 WEXITSTATUS(status));
}

TEST(install_is_eopnotsupp_without_hw)
{
	struct shstk_install in = { .argsz = sizeof(in), .shadow_stack_size = KIB(64) };

	ASSERT_EOPNOTSUPP_WITHOUT_HW(SHSTK_IOC_INSTALL, &in);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--reuse-tid")) {
		if (SHSTK_ENABLE_HERE())
			return SHSTK_RUN_NO_ENABLE;
		/* main() cannot return now: its return address predates the shadow stack. */
		exit(reuse_tid());
	}
	return test_harness_run(argc, argv);
}
