// SPDX-License-Identifier: GPL-2.0
/*
 * Faults: what ALLOC and an armed clone do when the kernel cannot commit
 * the memory (vm.overcommit_memory=2 with a commit limit just above what
 * the process already uses), and that the process keeps working once the
 * limit is back.
 *
 * The child (shadow stack on, lib/cet.h) sets and restores the limit
 * itself, so nothing else runs under it; the fixture restores
 * overcommit_memory, overcommit_ratio and overcommit_kbytes in any case.
 * Needs user shadow stacks and root: SKIP in the QEMU guest.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/clone3.h"
#include "lib/ioc.h"
#include "lib/proc.h"
#include "lib/require.h"

#define RATIO_PATH	"/proc/sys/vm/overcommit_ratio"
#define KBYTES_PATH	"/proc/sys/vm/overcommit_kbytes"
/* What the armed clone and ALLOC ask for, and the room left under the limit. */
#define BIG		(64ULL << 20)
#define HEADROOM_KB	(16L << 10)
#define THREAD_STACK	(64UL << 10)

struct fault_report {
	int line, err;
	long saved_mode, saved_ratio, saved_kbytes;	/* in */
	long limit_kb, committed_kb, ratio;		/* the limit that was set */
	int maps_before, maps_after_alloc, maps_after_clone, maps_after_pthread;
	long committed_before, committed_after;	/* around the failed ALLOC */
	int ret_alloc, ret_pthread;
	long ret_clone;
	struct shstk_clone arm_after_clone, arm_after_pthread, arm_at_end;
	long ret_clone_after;			/* the same clone, limit restored */
	uint64_t size_after;			/* its shadow stack */
	int ret_alloc_after;
};

static struct fault_report *F;

#define CHECK(expr) do {						\
	long _e = (long)(expr);						\
	if (_e) {							\
		if (!F->line) {						\
			F->line = __LINE__;				\
			F->err = (int)_e;				\
		}							\
		return 1;						\
	}								\
} while (0)

/* A field of /proc/meminfo in kB, -1 if missing. */
static long meminfo_kb(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void restore_limit(long mode, long ratio, long kbytes)
{
	proc_write_long(OVERCOMMIT_PATH, mode);
	/* Writing one of ratio / kbytes clears the other. */
	if (kbytes > 0)
		proc_write_long(KBYTES_PATH, kbytes);
	else
		proc_write_long(RATIO_PATH, ratio);
}

struct park {
	volatile int parked, go;
};

static int raw_park(void *arg)
{
	struct park *p = arg;

	p->parked = 1;
	while (!p->go)
		;
	return 0;
}

static void *noop(void *arg)
{
	return NULL;
}

static int pthread_small(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	ret = pthread_create(&t, &attr, noop, NULL);
	pthread_attr_destroy(&attr);
	if (!ret)
		ret = pthread_join(t, NULL);
	return ret;
}

static int under_commit_limit(void *arg)
{
	struct raw_thread rt;
	struct shstk_alloc a;
	struct park p = { 0 };
	uint64_t start, end;
	long mem_kb, tid;
	bool is_ss;
	int fd;

	fd = shstk_dev_open();
	CHECK(fd < 0 ? -errno : 0);
	/* Warm up: stdio buffers, the pthread stack cache for THREAD_STACK. */
	CHECK(pthread_small());
	CHECK(meminfo_kb("Committed_AS") < 0);
	CHECK(shstk_set_clone(fd, 0, BIG, 0));
	F->maps_before = proc_count_maps();

	/* A limit 16 MiB above what is committed now: BIG cannot fit. */
	mem_kb = meminfo_kb("MemTotal");
	F->committed_kb = meminfo_kb("Committed_AS");
	CHECK(mem_kb <= 0 || F->committed_kb < 0);
	F->ratio = ((F->committed_kb + HEADROOM_KB) * 100 + mem_kb - 1) / mem_kb;
	CHECK(proc_write_long(RATIO_PATH, F->ratio));
	CHECK(proc_write_long(OVERCOMMIT_PATH, 2));
	F->limit_kb = meminfo_kb("CommitLimit");
	F->committed_kb = meminfo_kb("Committed_AS");

	F->committed_before = meminfo_kb("Committed_AS");
	F->ret_alloc = shstk_alloc(fd, BIG, SHSTK_ALLOC_TOKEN, &a);
	F->committed_after = meminfo_kb("Committed_AS");
	F->maps_after_alloc = proc_count_maps();

	F->ret_clone = raw_thread_start(&rt, raw_park, &p, THREAD_STACK);
	if (F->ret_clone > 0) {
		p.go = 1;
		raw_thread_join(&rt);
	}
	F->maps_after_clone = proc_count_maps();
	CHECK(shstk_get_clone(fd, &F->arm_after_clone));

	F->ret_pthread = pthread_small();
	F->maps_after_pthread = proc_count_maps();
	CHECK(shstk_get_clone(fd, &F->arm_after_pthread));

	restore_limit(F->saved_mode, F->saved_ratio, F->saved_kbytes);

	/* The arming that survived the failures now sizes a thread. */
	p = (struct park){ 0 };
	tid = raw_thread_start(&rt, raw_park, &p, THREAD_STACK);
	F->ret_clone_after = tid;
	if (tid > 0) {
		while (!p.parked)
			sched_yield();
		if (!shstk_find_ssp_vma(rt.first_ssp, &start, &end, &is_ss) && is_ss)
			F->size_after = end - start;
		p.go = 1;
		raw_thread_join(&rt);
	}
	CHECK(shstk_get_clone(fd, &F->arm_at_end));
	F->ret_alloc_after = shstk_alloc(fd, BIG, SHSTK_ALLOC_TOKEN, &a);
	if (!F->ret_alloc_after)
		munmap((void *)(uintptr_t)a.addr, BIG);
	return 0;
}

FIXTURE(commit_limit) {
	long mode, ratio, kbytes;
};

FIXTURE_SETUP(commit_limit)
{
	self->mode = -1;
	REQUIRE_SHSTK();
	self->mode = proc_read_long(OVERCOMMIT_PATH);
	self->ratio = proc_read_long(RATIO_PATH);
	self->kbytes = proc_read_long(KBYTES_PATH);
	ASSERT_LE(0, self->mode);
	ASSERT_LE(0, self->ratio);
	ASSERT_EQ(0, proc_write_long(OVERCOMMIT_PATH, self->mode)) TH_LOG("needs root");
	F = shstk_shared(sizeof(*F));
	ASSERT_NE(NULL, F);
	F->saved_mode = self->mode;
	F->saved_ratio = self->ratio;
	F->saved_kbytes = self->kbytes;
}

FIXTURE_TEARDOWN(commit_limit)
{
	if (self->mode >= 0)
		restore_limit(self->mode, self->ratio, self->kbytes);
}

/*
 * ALLOC and a SET_CLONE-armed clone beyond the commit limit: ENOMEM (the
 * pthread_create() of glibc says EAGAIN), no mapping left, the one-shot
 * arming kept; with the limit back, the same arming sizes the next thread.
 */
TEST_F(commit_limit, enomem_leaks_nothing_keeps_the_arming_and_recovers)
{
	int st = shstk_run(under_commit_limit, NULL);

	ASSERT_TRUE(WIFEXITED(st)) TH_LOG("child status %#x", st);
	ASSERT_EQ(0, WEXITSTATUS(st))
		TH_LOG("child gave up at line %d: %s", F->line,
		       F->err ? strerror(-F->err) : "check failed");
	TH_LOG("ratio %ld: CommitLimit %ld kB, Committed_AS %ld kB",
	       F->ratio, F->limit_kb, F->committed_kb);
	/* The limit did what it should: room for small things, not for BIG. */
	ASSERT_LT(F->limit_kb, F->committed_kb + (long)(BIG >> 10));
	ASSERT_LE(F->committed_kb + 2048, F->limit_kb);

	EXPECT_EQ(-ENOMEM, F->ret_alloc);
	EXPECT_EQ(F->maps_before, F->maps_after_alloc);
	EXPECT_EQ(F->committed_before, F->committed_after);

	EXPECT_EQ(-ENOMEM, F->ret_clone);
	EXPECT_EQ(F->maps_before, F->maps_after_clone);
	EXPECT_EQ(0, F->arm_after_clone.flags);
	EXPECT_EQ(BIG, F->arm_after_clone.shadow_stack_size);

	EXPECT_TRUE(F->ret_pthread == EAGAIN || F->ret_pthread == ENOMEM)
		TH_LOG("pthread_create: %s", strerror(F->ret_pthread));
	EXPECT_EQ(F->maps_before, F->maps_after_pthread);
	EXPECT_EQ(BIG, F->arm_after_pthread.shadow_stack_size);

	/* Limit restored: the kept arming is used, then gone. */
	EXPECT_LT(0, F->ret_clone_after) TH_LOG("clone3: %s", strerror(-F->ret_clone_after));
	EXPECT_EQ(BIG, F->size_after);
	EXPECT_EQ(0, F->arm_at_end.shadow_stack_size);
	EXPECT_EQ(0, F->ret_alloc_after);
	EXPECT_EQ(F->saved_mode, proc_read_long(OVERCOMMIT_PATH));
	EXPECT_EQ(F->saved_ratio, proc_read_long(RATIO_PATH));
}

TEST_HARNESS_MAIN
