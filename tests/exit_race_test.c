// SPDX-License-Identifier: GPL-2.0
/*
 * Races with a process's or a thread's exit, made winnable by a module
 * built with SHSTK_DEBUG_DELAYS=1 (module/shstk.h): run by
 * tests/debug-races on two CPUs, not by the guest suite (the normal
 * module has no delay parameters, and these tests fail without them).
 *
 * F3: SET_POLICY inserts a process's policy under the policies lock after
 * checking that the process still has a live thread; the exit of its
 * last thread drops the policy. If the exit looked the policy up without
 * that lock, a policy inserted just after the lookup would outlive the
 * process, on a signal_struct the kernel frees and reuses. The module
 * spins inside SET_POLICY's locked window ("policy_set") while the target
 * exits on the other CPU: afterwards no policy may be left.
 *
 * EINTR: a thread that exits with SHSTK_CLONE_EXIT_TOKEN writes its
 * stack's token back for the threads that share its address space. When
 * its group is being killed, it exits with SIGKILL pending; if the write
 * took the mmap lock killably, a contended lock would make it fail, and
 * the token would be lost to the survivors. The module pauses just before
 * that lock ("give_back"); meanwhile the thread's process is killed and
 * another process sharing the address space keeps the lock busy.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "lib/child_report.h"
#include "lib/clone3.h"
#include "lib/ioc.h"
#include "lib/proc.h"
#include "lib/race.h"
#include "lib/raw.h"
#include "lib/require.h"

#define ROUNDS		5
#define SPIN_MS		"300"	/* SET_POLICY's locked window */
#define EXIT_AFTER_NS	20000000LL	/* the target exits 20 ms into it */
#define PAUSE_MS	"500"	/* before the token write's mmap lock */
#define HAMMER_BYTES	(16UL << 20)

static int two_cpus(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

struct exit_clock {
	volatile int go;
	volatile long long exit_ns;	/* just before the target's _exit() */
};

/* F3: a policy set while the target's last thread exits goes with it. */
TEST(policy_set_while_the_last_thread_exits_goes_with_the_process)
{
	struct shstk_policy p = { .argsz = sizeof(p), .mode = SHSTK_POLICY_FIXED,
				  .size = 65536 };
	long base, after, overlapped = 0, refused = 0;
	struct exit_clock *c;
	int fd, i, status;

	REQUIRE_SHSTK();
	ASSERT_TRUE(two_cpus()) TH_LOG("needs two CPUs (tests/debug-races runs --cpus 2)");
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	/* The hooks go live on the first policy: not inside a round. */
	ASSERT_EQ(0, shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &p));
	base = shstk_live_records_quiet("policies");
	ASSERT_LE(1, base) TH_LOG("no shstk/policies in debugfs");
	ASSERT_EQ(0, shstk_param_write("debug_delay_point", "policy_set"))
		TH_LOG("no debug_delay_point: not a SHSTK_DEBUG_DELAYS=1 build");
	ASSERT_EQ(0, shstk_param_write("debug_delay_ms", SPIN_MS));
	c = shstk_shared(sizeof(*c));
	ASSERT_NE(NULL, c);

	for (i = 0; i < ROUNDS; i++) {
		long long t0, t1;
		pid_t child;
		long ret;

		c->go = 0;
		c->exit_ns = 0;
		child = fork();
		ASSERT_LE(0, child);
		if (!child) {
			long long start;

			/* Busy: this CPU must not sleep while the other spins. */
			while (!c->go)
				;
			start = race_now_ns();
			while (race_now_ns() - start < EXIT_AFTER_NS)
				;
			c->exit_ns = race_now_ns();
			_exit(0);
		}
		p.pid = child;
		c->go = 1;
		t0 = race_now_ns();
		ret = shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &p);
		t1 = race_now_ns();
		ASSERT_EQ(child, waitpid(child, &status, 0));
		after = shstk_live_records("policies");
		if (ret) {
			/* The exit came first: ESRCH, nothing inserted. */
			EXPECT_EQ(-ESRCH, ret);
			refused++;
		} else if (c->exit_ns > t0 && c->exit_ns < t1) {
			overlapped++;
		}
		EXPECT_EQ(base, after)
			TH_LOG("round %d: %ld policies left, %ld before (SET_POLICY %ld)",
			       i, after, base, ret);
	}
	EXPECT_EQ(0, shstk_param_write("debug_delay_ms", "0"));
	RACE_REPORT("SET_POLICY against the target's exit", "exit inside the locked window %ld, "
		    "exit first (ESRCH) %ld, of %d rounds", overlapped, refused, ROUNDS);
	/* A window the exit never hit would test nothing. */
	EXPECT_LE(1, overlapped);
	p.pid = 0;
	p.mode = SHSTK_POLICY_KERNEL;
	p.size = 0;
	EXPECT_EQ(0, shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &p));
	close(fd);
}

/* EINTR: the exiting thread's token write, with SIGKILL pending. */
struct zap {
	int fd;
	uint64_t token;
	struct raw_thread member_thread;
	volatile int parked, go;	/* the token thread's */
	volatile long ret;		/* the member's arming and thread start */
	volatile int ready;
};

static struct report {
	int line, err;
} *R;

static volatile int hammer_stop;

/* Keeps the shared address space's mmap lock taken for writing, mostly. */
static void *hammer(void *arg)
{
	char *buf = arg;

	while (!hammer_stop) {
		mprotect(buf, HAMMER_BYTES, PROT_READ);
		mprotect(buf, HAMMER_BYTES, PROT_READ | PROT_WRITE);
	}
	return NULL;
}

/* The token thread: parks on the token stack, exits when told to. */
static int token_thread(void *arg)
{
	struct zap *z = arg;

	z->parked = 1;
	while (!z->go)
		raw_syscall3(__NR_sched_yield, 0, 0, 0);
	raw_syscall3(__NR_exit, 0, 0, 0);
	__builtin_unreachable();
}

/*
 * The member process (CLONE_VM, its own thread group): arms, starts the
 * token thread, and waits to be killed. It shares the creator's TLS:
 * raw calls only (raw_thread_start()'s mmap() sets errno on failure only).
 */
static int member(void *arg)
{
	struct zap *z = arg;
	struct shstk_clone c = { .argsz = sizeof(c), .flags = SHSTK_CLONE_EXIT_TOKEN,
				 .shadow_stack_token = z->token };
	long ret;

	ret = raw_syscall3(__NR_ioctl, z->fd, SHSTK_IOC_SET_CLONE, (long)&c);
	if (!ret)
		ret = raw_thread_start(&z->member_thread, token_thread, z, 0);
	z->ret = ret < 0 ? ret : 0;
	z->ready = 1;
	for (;;)
		raw_syscall3(__NR_sched_yield, 0, 0, 0);
	return 0;
}

static int exit_token_rounds(void *arg)
{
	long *written = arg;
	struct raw_thread m;
	struct shstk_alloc a;
	pthread_t h;
	char *buf;
	int fd, i, tries, status;

	fd = shstk_dev_open();
	CHECK(fd < 0 ? -errno : 0);
	CHECK(shstk_alloc(fd, 65536, SHSTK_ALLOC_TOKEN, &a));
	buf = mmap(NULL, HAMMER_BYTES, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	CHECK_TRUE(buf != MAP_FAILED);
	CHECK(pthread_create(&h, NULL, hammer, buf));

	for (i = 0; i < ROUNDS; i++) {
		struct zap *z = shstk_shared(sizeof(*z));
		long member_pid;

		CHECK_TRUE(z);
		z->fd = fd;
		z->token = a.token;
		member_pid = raw_clone_start(&m, member, z, 0, CLONE_VM | CLONE_PARENT_SETTID |
					     CLONE_CHILD_CLEARTID, SIGCHLD);
		CHECK(member_pid < 0 ? member_pid : 0);
		while (!z->ready || (!z->ret && !z->parked))
			sched_yield();
		CHECK(z->ret);
		/* The token thread exits and pauses before the token write's lock... */
		z->go = 1;
		for (tries = 0; tries < 4000; tries++) {
			if (proc_task_state(member_pid, z->member_thread.tid) == 'D')
				break;
			usleep(500);
		}
		CHECK_TRUE(tries < 4000);
		/* ...and its process is killed meanwhile: SIGKILL is pending in it. */
		CHECK(kill(member_pid, SIGKILL) ? -errno : 0);
		CHECK_TRUE(waitpid(member_pid, &status, __WALL) == member_pid);
		CHECK_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		munmap(m.stack, RAW_THREAD_STACK);
		munmap(z->member_thread.stack, RAW_THREAD_STACK);
		if (*(volatile uint64_t *)(uintptr_t)a.token == shstk_token_value(a.token))
			(*written)++;
		else
			break;
		munmap(z, sizeof(*z));
	}
	hammer_stop = 1;
	pthread_join(h, NULL);
	return 0;
}

TEST(exit_token_is_written_back_with_sigkill_pending_and_the_lock_contended)
{
	long *written;

	REQUIRE_SHSTK();
	R = shstk_shared(sizeof(*R));
	written = shstk_shared(sizeof(*written));
	ASSERT_NE(NULL, R);
	ASSERT_NE(NULL, written);
	ASSERT_EQ(0, shstk_param_write("debug_delay_point", "give_back"))
		TH_LOG("no debug_delay_point: not a SHSTK_DEBUG_DELAYS=1 build");
	ASSERT_EQ(0, shstk_param_write("debug_delay_ms", PAUSE_MS));
	ASSERT_CHILD_OK(shstk_run(exit_token_rounds, written));
	EXPECT_EQ(0, shstk_param_write("debug_delay_ms", "0"));
	EXPECT_EQ(ROUNDS, *written)
		TH_LOG("the token was lost in round %ld of %d", *written + 1, ROUNDS);
}

TEST_HARNESS_MAIN
