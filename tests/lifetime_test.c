// SPDX-License-Identifier: GPL-2.0
/*
 * Module lifetime: unloading shstk while threads are armed, while an
 * INSTALL is pending, while USAGE calls run in other threads, and while
 * /dev/shstk is open. Runs as root in the guest, which keeps the module at
 * /shstk/shstk.ko (tests/vm/init.c); every test loads it again, so it ends
 * as it started: loaded, for the next test and for init's final rmmod.
 *
 * delete_module() never waits here: O_NONBLOCK is all the kernel accepts
 * from userspace (6.12 fails a module in use with EWOULDBLOCK, EAGAIN).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ptrace.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/ioc.h"
#include "lib/proc.h"
#include "lib/race.h"
#include "lib/require.h"
#include "lib/trace.h"

#define KIB(x)		((uint64_t)(x) << 10)
#define MODULE_KO	"/shstk/shstk.ko"
#define NTHREADS	4

static bool module_loaded(void)
{
	return access("/sys/module/shstk", F_OK) == 0;
}

static int module_unload(void)
{
	return syscall(SYS_delete_module, "shstk", O_NONBLOCK) ? -errno : 0;
}

static int module_load(void)
{
	int fd = open(MODULE_KO, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

/*
 * Unload once nothing pins the module any more: a clone or exit passing
 * through the hooks holds it for a moment (hook.h). *tries says how long.
 */
static int module_unload_retry(int *tries)
{
	int ret = -EAGAIN, i;

	for (i = 0; i < 2000 && ret == -EAGAIN; i++) {
		ret = module_unload();
		if (ret == -EAGAIN)
			usleep(1000);
	}
	if (tries)
		*tries = i;
	return ret;
}

/* Wait (up to about 20 s) until *flag is set by another process. */
static bool wait_flag(atomic_int *flag)
{
	int i;

	for (i = 0; i < 20000 && !atomic_load(flag); i++)
		usleep(1000);
	return atomic_load(flag);
}

/* Every test leaves the module loaded, whatever happened in it. */
FIXTURE(lifetime) {
	int unused;
};

FIXTURE_SETUP(lifetime)
{
	ASSERT_EQ(0, access(MODULE_KO, R_OK)) TH_LOG("%s: not in the guest?", MODULE_KO);
	ASSERT_TRUE(module_loaded());
}

FIXTURE_TEARDOWN(lifetime)
{
	if (!module_loaded())
		EXPECT_EQ(0, module_load());
}

/* Like shstk_run(), but runs fn without a shadow stack where there is none. */
static int run_maybe_shstk(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (shstk_hw_available() && SHSTK_ENABLE_HERE())
			_exit(SHSTK_RUN_NO_ENABLE);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/*
 * (1) Threads armed with SET_CLONE, blocked while the module goes away and
 * comes back: the armings die with the module, so their clones get the
 * kernel's rule, and a token they were armed with is left unconsumed.
 */
struct armed {
	atomic_int armed, ready, go;
	int arm_ret[NTHREADS];
	int create_ret[NTHREADS];
	int getclone_ret[NTHREADS];
	uint64_t getclone_size[NTHREADS], getclone_token[NTHREADS];
	int usage_ret[NTHREADS];
	uint32_t origin[NTHREADS];
	uint64_t ss_size[NTHREADS];
	uint64_t token, token_val;
	int alloc_ret;
};

struct armed_thread {
	struct armed *a;
	int i;
};

static void *report_child(void *arg)
{
	struct armed_thread *t = arg;
	struct armed *a = t->a;
	uint64_t start = 0, end = 0;
	struct shstk_usage u = {};
	bool is_ss = false;
	int fd = shstk_dev_open();

	if (!shstk_find_ssp_vma(shstk_get_ssp(), &start, &end, &is_ss) && is_ss)
		a->ss_size[t->i] = end - start;
	a->usage_ret[t->i] = fd < 0 ? -errno : shstk_usage(fd, 0, &u);
	a->origin[t->i] = u.origin;
	close(fd);
	return NULL;
}

static void *armed_thread(void *arg)
{
	struct armed_thread *t = arg;
	struct armed *a = t->a;
	struct shstk_clone c;
	pthread_attr_t attr;
	pthread_t th;
	int fd = shstk_dev_open();

	switch (t->i) {
	case 0:
		a->arm_ret[0] = shstk_set_clone(fd, 0, KIB(64), 0);
		break;
	case 1:
		a->arm_ret[1] = shstk_set_clone(fd, SHSTK_CLONE_PERSIST, KIB(64), 0);
		break;
	case 2:
		a->arm_ret[2] = shstk_set_clone(fd, SHSTK_CLONE_EXIT_TOKEN, 0, a->token);
		break;
	default:
		a->arm_ret[t->i] = shstk_set_clone(fd, 0, 0, a->token);
	}
	/* The module must be free to go: no descriptor stays open. */
	close(fd);
	atomic_fetch_add(&a->armed, 1);
	if (!wait_flag(&a->go))
		return NULL;

	fd = shstk_dev_open();
	a->getclone_ret[t->i] = fd < 0 ? -errno : shstk_get_clone(fd, &c);
	a->getclone_size[t->i] = c.shadow_stack_size;
	a->getclone_token[t->i] = c.shadow_stack_token;
	close(fd);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, KIB(256));
	a->create_ret[t->i] = pthread_create(&th, &attr, report_child, t);
	if (!a->create_ret[t->i])
		pthread_join(th, NULL);
	pthread_attr_destroy(&attr);
	return NULL;
}

static int armed_process(void *arg)
{
	struct armed *a = arg;
	struct armed_thread t[NTHREADS];
	pthread_t th[NTHREADS];
	struct shstk_alloc al;
	int fd = shstk_dev_open(), i;

	a->alloc_ret = fd < 0 ? -errno : shstk_alloc(fd, KIB(64), SHSTK_ALLOC_TOKEN, &al);
	close(fd);
	if (a->alloc_ret)
		return 2;
	a->token = al.token;
	for (i = 0; i < NTHREADS; i++) {
		t[i].a = a;
		t[i].i = i;
		if (pthread_create(&th[i], NULL, armed_thread, &t[i]))
			return 3;
	}
	while (atomic_load(&a->armed) < NTHREADS)
		usleep(1000);
	atomic_store(&a->ready, 1);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	/* Shadow-stack memory reads like any other. */
	a->token_val = *(volatile uint64_t *)(uintptr_t)a->token;
	return 0;
}

TEST_F_TIMEOUT(lifetime, unload_with_armed_threads_leaves_them_the_kernels_rule, 300)
{
	struct armed *a;
	int status, unload_ret, load_ret, tries, i;

	REQUIRE_SHSTK();
	a = shstk_shared(sizeof(*a));
	ASSERT_NE(NULL, a);

	fflush(NULL);
	if (!fork())
		_exit(WEXITSTATUS(shstk_run(armed_process, a)) == 0 ? 0 : 1);
	ASSERT_TRUE(wait_flag(&a->ready)) TH_LOG("threads never armed (ALLOC %d)", a->alloc_ret);
	for (i = 0; i < NTHREADS; i++)
		EXPECT_EQ(0, a->arm_ret[i]) TH_LOG("thread %d: SET_CLONE", i);

	unload_ret = module_unload_retry(&tries);
	load_ret = unload_ret ? 0 : module_load();
	/* Let the threads go before any ASSERT, so nothing is left blocked. */
	atomic_store(&a->go, 1);
	wait(&status);
	ASSERT_EQ(0, unload_ret) TH_LOG("rmmod with armed threads: %s", strerror(-unload_ret));
	ASSERT_EQ(0, load_ret) TH_LOG("finit_module: %s", strerror(-load_ret));
	TH_LOG("unloaded after %d attempt(s)", tries);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("status %#x", status);

	for (i = 0; i < NTHREADS; i++) {
		/* The new module instance knows no arming of theirs. */
		EXPECT_EQ(0, a->getclone_ret[i]);
		EXPECT_EQ(0, a->getclone_size[i]);
		EXPECT_EQ(0, a->getclone_token[i]);
		EXPECT_EQ(0, a->create_ret[i]) TH_LOG("thread %d: pthread_create", i);
		EXPECT_EQ(0, a->usage_ret[i]);
		EXPECT_EQ(SHSTK_ORIGIN_KERNEL, a->origin[i]) TH_LOG("thread %d", i);
		EXPECT_NE(KIB(64), a->ss_size[i]) TH_LOG("thread %d: still the armed size", i);
		EXPECT_NE(0, a->ss_size[i]);
		TH_LOG("thread %d: child shadow stack %llu KiB", i,
		       (unsigned long long)a->ss_size[i] >> 10);
	}
	/* Nobody consumed the token the dead armings named. */
	EXPECT_EQ(shstk_token_value(a->token), a->token_val);
}

/*
 * (2) An INSTALL pending on a traced, stopped new thread holds the module:
 * its task work is module code. rmmod is refused until the thread ran it.
 */
struct traced {
	uint64_t ss_size;
	uint32_t origin;
	int usage_ret;
};

static void *report_self(void *arg)
{
	struct traced *t = arg;
	uint64_t start = 0, end = 0;
	struct shstk_usage u = {};
	bool is_ss = false;
	int fd;

	if (!shstk_find_ssp_vma(shstk_get_ssp(), &start, &end, &is_ss) && is_ss)
		t->ss_size = end - start;
	fd = shstk_dev_open();
	t->usage_ret = fd < 0 ? -errno : shstk_usage(fd, 0, &u);
	t->origin = u.origin;
	close(fd);
	return NULL;
}

/* Opens no /dev/shstk itself: only the pending INSTALL may pin the module. */
static int one_thread(void *arg)
{
	pthread_t th;

	if (pthread_create(&th, NULL, report_self, arg) || pthread_join(th, NULL))
		return 3;
	return 0;
}

TEST_F_TIMEOUT(lifetime, pending_install_holds_the_module, 300)
{
	int install_ret = -1, refused = 1, loaded_after_refusal = 0, status, fd, tries = 0;
	int unload_ret = -1;
	uint32_t pending = 0;
	struct traced *t;
	bool done = false;
	pid_t pid, w;

	REQUIRE_SHSTK();
	t = shstk_shared(sizeof(*t));
	ASSERT_NE(NULL, t);
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);

	pid = shstk_fork_traced(one_thread, t);
	ASSERT_LT(0, pid);
	for (;;) {
		w = waitpid(-1, &status, __WALL);
		if (w < 0)
			break;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (w == pid)
				break;
			continue;
		}
		/* The new thread's first stop: before its first user instruction. */
		if (w != pid && WSTOPSIG(status) == SIGSTOP && !(status >> 16) && !done) {
			struct shstk_install in = {
				.argsz = sizeof(in), .tid = w, .shadow_stack_size = KIB(64),
			};
			struct shstk_usage u;

			done = true;
			install_ret = shstk_ioc(fd, SHSTK_IOC_INSTALL, &in);
			if (!shstk_usage(fd, w, &u))
				pending = u.status & SHSTK_STATUS_INSTALL_PENDING;
			close(fd);
			fd = -1;
			/* Only the pending work holds the module now. */
			refused = module_unload();
			loaded_after_refusal = module_loaded();
		}
		ptrace(PTRACE_CONT, w, 0, 0);
	}
	if (fd >= 0)
		close(fd);
	/* The work ran and let go of the module. */
	if (module_loaded())
		unload_ret = module_unload_retry(&tries);

	ASSERT_TRUE(done) TH_LOG("no new thread seen");
	ASSERT_EQ(0, install_ret) TH_LOG("INSTALL: %s", strerror(-install_ret));
	EXPECT_TRUE(pending);
	EXPECT_TRUE(refused == -EAGAIN || refused == -EBUSY)
		TH_LOG("rmmod with an INSTALL pending: %d (%s)", refused, strerror(-refused));
	TH_LOG("rmmod with an INSTALL pending: %s", strerror(-refused));
	EXPECT_TRUE(loaded_after_refusal);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("status %#x", status);
	/* The thread got what was installed, from the module still loaded. */
	EXPECT_EQ(0, t->usage_ret);
	EXPECT_EQ(SHSTK_ORIGIN_SIZED, t->origin);
	EXPECT_EQ(KIB(64), t->ss_size);
	ASSERT_EQ(0, unload_ret) TH_LOG("rmmod after the thread ran: %s (%d attempts)",
					strerror(-unload_ret), tries);
	ASSERT_EQ(0, module_load());
}

/*
 * (3) Threads open /dev/shstk, ask USAGE and close, in a loop, while the
 * module is unloaded and loaded again under them. Each call either works
 * or finds no device; none may find a half-gone module.
 */
struct inflight {
	atomic_int stop, stopped;
	atomic_long calls, ok, nodev, bad;
	int bad_err;
	int rounds, unload_ret, load_ret, max_tries;
	pid_t tids[NTHREADS];
};

static void *usage_loop(void *arg)
{
	struct inflight *f = arg;
	int want = shstk_hw_available() ? 0 : -EOPNOTSUPP, n = 0, fd, ret;
	struct shstk_usage u;

	while (!atomic_load(&f->stop)) {
		fd = shstk_dev_open();
		if (fd < 0) {
			ret = -errno;
			if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO)
				atomic_fetch_add(&f->nodev, 1);
			else
				f->bad_err = ret, atomic_fetch_add(&f->bad, 1);
			/* No spinning while the module loads: Bochs is slow enough. */
			usleep(200);
			continue;
		}
		/* Alternately itself and a sibling, which may be mid-call too. */
		ret = shstk_usage(fd, n++ & 1 ? f->tids[n % NTHREADS] : 0, &u);
		close(fd);
		atomic_fetch_add(&f->calls, 1);
		if (ret == want)
			atomic_fetch_add(&f->ok, 1);
		else
			f->bad_err = ret, atomic_fetch_add(&f->bad, 1);
		/* A moment with the device closed, so an unload can get in. */
		if (!(n & 7))
			usleep(100);
	}
	return NULL;
}

struct usage_thread {
	struct inflight *f;
	int i;
};

static void *usage_thread(void *arg)
{
	struct usage_thread *t = arg;

	t->f->tids[t->i] = syscall(SYS_gettid);
	usage_loop(t->f);
	/*
	 * Siblings ask about each other: none exits before all have stopped
	 * asking (on two CPUs a late call met a sibling gone, ESRCH).
	 */
	atomic_fetch_add(&t->f->stopped, 1);
	while (atomic_load(&t->f->stopped) < NTHREADS)
		usleep(1000);
	return NULL;
}

static int inflight_process(void *arg)
{
	struct inflight *f = arg;
	struct usage_thread t[NTHREADS];
	pthread_t th[NTHREADS];
	int i, tries;

	for (i = 0; i < NTHREADS; i++) {
		t[i].f = f;
		t[i].i = i;
		if (pthread_create(&th[i], NULL, usage_thread, &t[i]))
			return 3;
	}
	for (f->rounds = 0; f->rounds < 4; f->rounds++) {
		usleep(20000);
		f->unload_ret = module_unload_retry(&tries);
		if (tries > f->max_tries)
			f->max_tries = tries;
		if (f->unload_ret)
			break;
		usleep(5000);
		f->load_ret = module_load();
		if (f->load_ret)
			break;
	}
	usleep(20000);
	atomic_store(&f->stop, 1);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	return 0;
}

TEST_F_TIMEOUT(lifetime, unload_while_usage_calls_run_in_other_threads, 300)
{
	struct inflight *f = shstk_shared(sizeof(*f));
	int status;

	ASSERT_NE(NULL, f);
	status = run_maybe_shstk(inflight_process, f);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("status %#x", status);
	EXPECT_EQ(0, f->unload_ret) TH_LOG("round %d: rmmod: %s (most attempts %d)", f->rounds,
					   strerror(-f->unload_ret), f->max_tries);
	EXPECT_EQ(0, f->load_ret) TH_LOG("round %d: finit_module: %s", f->rounds,
					 strerror(-f->load_ret));
	EXPECT_EQ(4, f->rounds);
	EXPECT_EQ(0, f->bad) TH_LOG("last unexpected result: %d", f->bad_err);
	EXPECT_LT(0, f->ok);
	EXPECT_LT(0, f->nodev);
	RACE_REPORT("unload against USAGE",
		    "%ld USAGE calls done, %ld opens found no device, rmmod refused %d times in the worst round",
		    (long)f->calls, (long)f->nodev, f->max_tries - 1);
}

/*
 * (4) An open /dev/shstk pins the module (fops owner): rmmod is refused
 * and the descriptor keeps working, whoever holds it; after the last
 * close it goes.
 */
TEST_F_TIMEOUT(lifetime, open_device_refuses_unload, 300)
{
	struct shstk_info info = { .argsz = sizeof(info) };
	int fd = shstk_dev_open(), ret, status, p[2];
	pid_t pid;

	ASSERT_LE(0, fd);
	ret = module_unload();
	EXPECT_TRUE(ret == -EAGAIN || ret == -EBUSY) TH_LOG("rmmod with the device open: %d", ret);
	TH_LOG("rmmod with the device open: %s", strerror(-ret));
	ASSERT_TRUE(module_loaded());
	EXPECT_EQ(0, shstk_ioc(fd, SHSTK_IOC_INFO, &info));
	EXPECT_EQ(SHSTK_ABI_VERSION, info.abi_version);

	/* A child's copy of the descriptor pins it as well. */
	ASSERT_EQ(0, pipe(p));
	fflush(NULL);
	pid = fork();
	if (!pid) {
		char c;

		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 && !ioctl(fd, SHSTK_IOC_INFO, &info) ? 0 : 1);
	}
	close(p[0]);
	close(fd);
	ret = module_unload();
	EXPECT_TRUE(ret == -EAGAIN || ret == -EBUSY) TH_LOG("rmmod with a child's copy open: %d",
							    ret);
	EXPECT_TRUE(module_loaded());
	EXPECT_EQ(1, write(p[1], "x", 1));
	close(p[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status) TH_LOG("the child's ioctl on the pinned module");

	ASSERT_EQ(0, module_unload_retry(NULL));
	EXPECT_FALSE(module_loaded());
	EXPECT_GT(0, shstk_dev_open());
	ASSERT_EQ(0, module_load());
	fd = shstk_dev_open();
	ASSERT_LE(0, fd) TH_LOG("open after reload: %s", strerror(errno));
	EXPECT_EQ(0, shstk_ioc(fd, SHSTK_IOC_INFO, &info));
	close(fd);
}

/* debugfs shstk/hooks_live: 'Y' or 'N', 0 if it cannot be read. */
static char hooks_live(void)
{
	char c = 0;
	int fd = open("/sys/kernel/debug/shstk/hooks_live", O_RDONLY);

	if (fd >= 0 && read(fd, &c, 1) != 1)
		c = 0;
	if (fd >= 0)
		close(fd);
	return c;
}

static int reload(void)
{
	int ret = module_unload_retry(NULL);

	return ret ? ret : module_load();
}

/*
 * (5) The hooks go live on first use, not at load: reads, refused
 * requests and a disarm leave them off (no cost to the kernel's clone
 * path); a policy, or a system default that sizes threads, turns them on
 * where the clone features exist (INFO). Without user shadow stacks they
 * never go live.
 */
TEST_F_TIMEOUT(lifetime, hooks_go_live_on_first_use, 300)
{
	struct shstk_policy pol = { .argsz = sizeof(pol) };
	struct shstk_clone disarm = { .argsz = sizeof(disarm) };
	struct shstk_usage u = { .argsz = sizeof(u) };
	bool can = shstk_features() & SHSTK_FEAT_POLICY;
	int fd;

	ASSERT_EQ(0, reload());
	ASSERT_EQ('N', hooks_live()) TH_LOG("hooks live right after load");
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	shstk_ioc(fd, SHSTK_IOC_USAGE, &u);
	shstk_ioc(fd, SHSTK_IOC_GET_POLICY, &pol);
	shstk_ioc(fd, SHSTK_IOC_SET_CLONE, &disarm);
	pol = (struct shstk_policy){ .argsz = sizeof(pol), .mode = 99 };
	EXPECT_EQ(can ? -EINVAL : -EOPNOTSUPP, shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &pol));
	pol = (struct shstk_policy){ .argsz = sizeof(pol), .pid = 4194304 };
	EXPECT_EQ(can ? -ESRCH : -EOPNOTSUPP, shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &pol));
	EXPECT_EQ(-EINVAL, shstk_param_write("default_size", "12345"));
	EXPECT_EQ('N', hooks_live()) TH_LOG("reads and refused requests made the hooks live");

	/* A process policy (the kernel's rule, for this process). */
	pol = (struct shstk_policy){ .argsz = sizeof(pol) };
	EXPECT_EQ(can ? 0 : -EOPNOTSUPP, shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &pol));
	EXPECT_EQ(can ? 'Y' : 'N', hooks_live());
	close(fd);

	/* A system default that sizes threads, on a fresh module. */
	ASSERT_EQ(0, reload());
	ASSERT_EQ('N', hooks_live());
	EXPECT_EQ(0, shstk_param_write("default_size", "0"));
	EXPECT_EQ('N', hooks_live()) TH_LOG("the kernel's rule as default needs no hooks");
	EXPECT_EQ(0, shstk_param_write("default_size", "65536"));
	EXPECT_EQ(can ? 'Y' : 'N', hooks_live());
	EXPECT_EQ(0, shstk_param_write("default_size", "0"));
}

/* Write a small file with write(2): 0 or -errno (stdio would hide it). */
static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

#define FTRACE_ENABLED "/proc/sys/kernel/ftrace_enabled"

/*
 * (6) Live hooks are permanent ftrace users: kernel.ftrace_enabled=0
 * would stop them silently (free_task()'s too, so records would outlive
 * their tasks), so the sysctl refuses with EBUSY while they are live.
 */
TEST_F_TIMEOUT(lifetime, live_hooks_keep_ftrace_enabled, 300)
{
	bool can = shstk_features() & SHSTK_FEAT_POLICY;
	struct shstk_policy pol = { .argsz = sizeof(pol) };
	int fd, ret;

	ASSERT_EQ(0, reload());
	fd = shstk_dev_open();
	ASSERT_LE(0, fd);
	/* A policy (the kernel's rule, for this process) makes the hooks live. */
	EXPECT_EQ(can ? 0 : -EOPNOTSUPP, shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &pol));
	close(fd);
	ASSERT_EQ(can ? 'Y' : 'N', hooks_live());
	ret = write_file(FTRACE_ENABLED, "0");
	if (!ret)
		EXPECT_EQ(0, write_file(FTRACE_ENABLED, "1"));
	/*
	 * Linux 7.x no longer lets the file disable ftrace at all ("is
	 * deprecated and no longer disables ftrace"): EOPNOTSUPP, whoever
	 * holds it. Elsewhere, without live hooks (no CET) nothing holds it.
	 */
	if (ret == -EOPNOTSUPP)
		TH_LOG("this kernel's ftrace_enabled cannot disable ftrace");
	else
		EXPECT_EQ(can ? -EBUSY : 0, ret);
}

/*
 * (7) A module parameter written while the module unloads (its sysfs
 * files go only after exit) must not make hooks or tracepoint probes
 * live behind the teardown: they would run freed code at the next fork.
 * A writer waits for initstate "going" and then asks for a system default
 * that sizes threads, again and again; the unload runs; then processes
 * are forked and exit. A probe left behind oopses the guest.
 */
TEST_F_TIMEOUT(lifetime, parameter_write_during_unload_registers_nothing, 300)
{
	atomic_int *stop = shstk_shared(sizeof(*stop));
	int status, i, writes = 0;
	pid_t writer, pid;

	ASSERT_NE(NULL, stop);
	ASSERT_EQ(0, reload());
	ASSERT_EQ('N', hooks_live());
	writer = fork();
	ASSERT_LE(0, writer);
	if (!writer) {
		char state[16] = "";

		while (!atomic_load(stop)) {
			int fd = open("/sys/module/shstk/initstate", O_RDONLY);
			ssize_t n = fd < 0 ? -1 : read(fd, state, sizeof(state) - 1);

			if (fd >= 0)
				close(fd);
			if (n > 0 && !strncmp(state, "going", 5) &&
			    !shstk_param_write("default_size", "65536"))
				writes++;
		}
		_exit(writes > 255 ? 255 : writes);
	}
	usleep(10000);
	ASSERT_EQ(0, module_unload_retry(NULL));
	atomic_store(stop, 1);
	ASSERT_EQ(writer, waitpid(writer, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	TH_LOG("parameter writes accepted during the unload: %d", WEXITSTATUS(status));
	/* Forks and exits pass any tracepoint probe left behind. */
	for (i = 0; i < 20; i++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			_exit(0);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
	}
	ASSERT_EQ(0, module_load());
	EXPECT_EQ('N', hooks_live());
}

TEST_HARNESS_MAIN
