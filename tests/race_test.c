// SPDX-License-Identifier: GPL-2.0
/*
 * Races between threads of one process: many creators arming their own
 * sizes, many threads racing for one token, USAGE on a thread while it
 * exits, and the process policy changing while threads are created.
 *
 * Everything runs in shstk_run() children (shadow stack on, no ASSERT
 * there: lib/cet.h) and their threads, which count what they saw in shared
 * memory with atomics; the test body asserts on the counts. Needs user
 * shadow stacks: SKIP in the QEMU guest.
 *
 * Sizes are scaled for the CET guest (Bochs), see each test.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/clone3.h"
#include "lib/ioc.h"
#include "lib/race.h"
#include "lib/raw.h"
#include "lib/require.h"
#include "lib/scale.h"

#define SZ_64K		(64ULL << 10)
#define SZ_128K		(128ULL << 10)
/* Normal stacks of the threads made here: small, the shadow stack is what counts. */
#define THREAD_STACK	(64UL << 10)

/* (a) 16 creators, each its own size, 10,000 clones in all. */
#define CREATORS	16
#define CLONES_TOTAL	10000
/* (b) threads racing for one token, rounds of it. */
#define RACERS		12
#define TOKEN_ROUNDS	40
/* (c) threads exiting under USAGE. */
#define EXIT_ROUNDS	300
/* (d) threads created while the policy flips. */
#define POLICY_THREADS	400

#define MAX_ERRNO	256

struct counts {
	int line, err;			/* where the child gave up, and the -errno */
	long clones;			/* threads that ran */
	long mismatches;		/* threads whose shadow stack was not the expected one */
	long not_found;			/* threads whose SSP lay in no ss mapping of that size */
	uint64_t bad_size, bad_expected;	/* the first mismatch */
	long winners[TOKEN_ROUNDS], losers[TOKEN_ROUNDS], others[TOKEN_ROUNDS];
	long overlapped_rounds;		/* a loser's clone3 ran while the winner's did */
	long overlapped_losers;
	long arm_failures;
	long usage_ok, usage_esrch, usage_other;
	int usage_other_errno;
	long size_64k, size_128k, size_other, policy_sets, policy_set_failures;
	uint64_t other_size;
};

static struct counts *C;

#define CHECK(expr) do {						\
	long _e = (long)(expr);						\
	if (_e) {							\
		if (!C->line) {						\
			C->line = __LINE__;				\
			C->err = (int)_e;				\
		}							\
		return 1;						\
	}								\
} while (0)

#define INC(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

#define NEW_COUNTS() do {						\
	REQUIRE_SHSTK();						\
	C = shstk_shared(sizeof(*C));					\
	ASSERT_NE(NULL, C);						\
} while (0)

#define ASSERT_CHILD_OK(status) do {					\
	int _st = (status);						\
	ASSERT_TRUE(WIFEXITED(_st)) TH_LOG("child status %#x", _st);	\
	ASSERT_EQ(0, WEXITSTATUS(_st))					\
		TH_LOG("child gave up at line %d: %s", C->line,		\
		       C->err ? strerror(-C->err) : "check failed");	\
} while (0)

/* [start, end) of the mapping holding addr, from /proc/self/maps; 0 if found. */
static int maps_find(uint64_t addr, uint64_t *start, uint64_t *end)
{
	unsigned long s, e;
	char line[256];
	int ret = -1;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && addr >= s && addr < e) {
			*start = s;
			*end = e;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

/*
 * The calling thread's shadow stack as the thread itself sees it: USAGE's
 * size, checked against the mapping its SSP is in. 0 if they disagree or
 * cannot be read.
 */
static uint64_t own_shadow_stack_size(int fd, bool check_mapping)
{
	uint64_t ssp = shstk_get_ssp(), start = 0, end = 0;
	struct shstk_usage u;

	if (shstk_usage(fd, 0, &u) || !(u.status & SHSTK_STATUS_ENABLED))
		return 0;
	if (ssp <= u.base || ssp > u.base + u.size)
		return 0;
	if (check_mapping) {
		/* An empty-stack SSP is one past the mapping: look up the byte below. */
		if (maps_find(ssp - 1, &start, &end) || start != u.base || end - start != u.size)
			return 0;
	}
	return u.size;
}

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	ret = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return ret;
}

/* (a) ---------------------------------------------------------------- */

struct creator {
	int fd;
	uint64_t size;		/* this creator's arming */
	long clones;
};

static void *sized_child(void *arg)
{
	struct creator *cr = arg;
	uint64_t got = own_shadow_stack_size(cr->fd, true);

	INC(C->clones);
	if (got != PAGE_ALIGN_UP(cr->size)) {
		if (!INC(C->mismatches)) {
			C->bad_size = got;
			C->bad_expected = cr->size;
		}
	}
	return NULL;
}

static void *creator(void *arg)
{
	struct creator *cr = arg;
	pthread_t t;
	long i;

	for (i = 0; i < cr->clones; i++) {
		/* One-shot: armed again before every clone. */
		if (shstk_set_clone(cr->fd, 0, cr->size, 0)) {
			INC(C->arm_failures);
			continue;
		}
		if (start_thread(&t, sized_child, cr) || pthread_join(t, NULL))
			INC(C->arm_failures);
	}
	return NULL;
}

static int sized_creators(void *arg)
{
	struct creator cr[CREATORS];
	pthread_t t[CREATORS];
	int fd, i;

	fd = shstk_dev_open();
	CHECK(fd < 0 ? -errno : 0);
	for (i = 0; i < CREATORS; i++) {
		cr[i] = (struct creator){
			.fd = fd, .size = PAGE_SZ * (i + 1),
			.clones = test_scaled(CLONES_TOTAL) / CREATORS,
		};
		CHECK(-start_thread(&t[i], creator, &cr[i]));
	}
	for (i = 0; i < CREATORS; i++)
		CHECK(-pthread_join(t[i], NULL));
	return 0;
}

/*
 * The harness gives a test 30 s. Bochs (guest time follows instructions)
 * runs these 10,000 clones in about 1.3 s of guest time; QEMU's arm64
 * TCG, whose guest clock is the host's, took 13 s on a quiet host and 80 s
 * on a busy one (2 vCPUs, 2 shared cores), its riscv64 TCG 213 s on a busy
 * one (load average 10): a fixture gives the test 600 s.
 */
FIXTURE(creators) {};
FIXTURE_SETUP(creators) {}
FIXTURE_TEARDOWN(creators) {}

/*
 * Each of 16 threads arms its own size (4K * (i + 1)) before each of its
 * 625 clones: every one of the 10,000 threads runs on a shadow stack of
 * exactly its creator's size (USAGE and the mapping its SSP is in).
 */
TEST_F_TIMEOUT(creators, sixteen_creators_each_get_their_own_armed_size, 600)
{
	struct timespec t0, t1;

	NEW_COUNTS();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_CHILD_OK(shstk_run(sized_creators, NULL));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TH_LOG("%ld clones in %.1f s (guest clock), %ld CPUs", C->clones,
	       t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       sysconf(_SC_NPROCESSORS_ONLN));
	EXPECT_EQ(0, C->arm_failures);
	EXPECT_EQ(test_scaled(CLONES_TOTAL) / CREATORS * CREATORS, C->clones);
	EXPECT_EQ(0, C->mismatches)
		TH_LOG("first mismatch: got %#llx, armed %#llx",
		       (unsigned long long)C->bad_size, (unsigned long long)C->bad_expected);
}

/* (b) ---------------------------------------------------------------- */

struct racer {
	int fd;
	uint64_t token;
	pthread_barrier_t *barrier;
	int ret_arm;
	long ret_clone;
	long long t0, t1;	/* the clone3 call, start and end */
};

static int quick_thread(void *arg)
{
	return 0;
}

static void *token_racer(void *arg)
{
	struct racer *r = arg;
	struct raw_thread rt;

	r->ret_arm = shstk_set_clone(r->fd, 0, 0, r->token);
	pthread_barrier_wait(r->barrier);
	r->t0 = race_now_ns();
	r->ret_clone = raw_thread_start(&rt, quick_thread, NULL, SZ_64K);
	r->t1 = race_now_ns();
	if (r->ret_clone > 0)
		raw_thread_join(&rt);
	/* A loser keeps its arming (the clone failed): drop it. */
	shstk_set_clone(r->fd, 0, 0, 0);
	return NULL;
}

static int token_rounds(void *arg)
{
	struct racer rs[RACERS];
	pthread_barrier_t barrier;
	pthread_t th[RACERS];
	struct shstk_alloc a;
	int fd, round, i, w, overlaps;

	fd = shstk_dev_open();
	CHECK(fd < 0 ? -errno : 0);
	for (round = 0; round < TOKEN_ROUNDS; round++) {
		CHECK(shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a));
		CHECK(-pthread_barrier_init(&barrier, NULL, RACERS));
		for (i = 0; i < RACERS; i++) {
			rs[i] = (struct racer){ .fd = fd, .token = a.token, .barrier = &barrier };
			CHECK(-start_thread(&th[i], token_racer, &rs[i]));
		}
		w = -1;
		for (i = 0; i < RACERS; i++) {
			CHECK(-pthread_join(th[i], NULL));
			CHECK(rs[i].ret_arm);
			if (rs[i].ret_clone > 0) {
				C->winners[round]++;
				w = i;
			} else if (rs[i].ret_clone == -EINVAL) {
				C->losers[round]++;
			} else {
				C->others[round] = rs[i].ret_clone;
			}
		}
		/* Did the race happen: a loser failed while the winner was in clone3? */
		overlaps = 0;
		for (i = 0; w >= 0 && i < RACERS; i++)
			if (i != w && rs[i].t0 < rs[w].t1 && rs[w].t0 < rs[i].t1)
				overlaps++;
		C->overlapped_losers += overlaps;
		C->overlapped_rounds += overlaps > 0;
		pthread_barrier_destroy(&barrier);
		/* The winner ran on it; the token stack is the caller's to free. */
		munmap((void *)(uintptr_t)a.addr, SZ_64K);
	}
	return 0;
}

/* 12 threads armed with one token clone at once, 40 rounds: one winner each. */
TEST(racing_clones_on_one_token_have_exactly_one_winner_per_round)
{
	int round;

	NEW_COUNTS();
	ASSERT_CHILD_OK(shstk_run(token_rounds, NULL));
	for (round = 0; round < TOKEN_ROUNDS; round++) {
		EXPECT_EQ(1, C->winners[round]) TH_LOG("round %d", round);
		EXPECT_EQ(RACERS - 1, C->losers[round]) TH_LOG("round %d", round);
		EXPECT_EQ(0, C->others[round]) TH_LOG("round %d: clone3 %s", round,
						      strerror(-C->others[round]));
	}
	RACE_REPORT("token taken by racing clones",
		    "%d rounds: clone3 calls overlapped in %ld, %ld losers failed while the winner was in clone3",
		    TOKEN_ROUNDS, C->overlapped_rounds, C->overlapped_losers);
}

/* (c) ---------------------------------------------------------------- */

static int spin_then_exit(void *arg)
{
	unsigned long n = (unsigned long)arg;

	while (n--)
		__asm__ volatile("" ::: "memory");
	return 0;
}

static int usage_while_exiting(void *arg)
{
	struct raw_thread rt;
	struct shstk_usage u;
	int fd, round, ret;
	long tid;

	fd = shstk_dev_open();
	CHECK(fd < 0 ? -errno : 0);
	for (round = 0; round < EXIT_ROUNDS; round++) {
		/* Exits after a varying amount of work, so USAGE meets every stage. */
		tid = raw_thread_start(&rt, spin_then_exit,
				       (void *)(unsigned long)((round % 16) * 200), SZ_64K);
		CHECK(tid < 0 ? tid : 0);
		do {
			ret = shstk_usage(fd, tid, &u);
			if (!ret) {
				/* Let it run on one CPU; on two it runs anyway. */
				if (!(INC(C->usage_ok) & 15))
					sched_yield();
			} else if (ret == -ESRCH) {
				INC(C->usage_esrch);
			} else {
				C->usage_other_errno = -ret;
				INC(C->usage_other);
				break;
			}
		} while (ret != -ESRCH);
		raw_thread_join(&rt);
	}
	return 0;
}

/* USAGE on a thread while it exits: only 0 or ESRCH, no crash. */
TEST(usage_on_an_exiting_thread_is_0_or_esrch)
{
	NEW_COUNTS();
	ASSERT_CHILD_OK(shstk_run(usage_while_exiting, NULL));
	EXPECT_EQ(0, C->usage_other) TH_LOG("USAGE said %s", strerror(C->usage_other_errno));
	EXPECT_EQ(EXIT_ROUNDS, C->usage_esrch);
	RACE_REPORT("USAGE against exit", "%ld calls found the thread alive, %ld found it gone",
		    C->usage_ok, C->usage_esrch);
}

/* (d) ---------------------------------------------------------------- */

struct flipper {
	int fd;
	volatile int stop;
};

static void *policy_flipper(void *arg)
{
	struct flipper *f = arg;
	unsigned long i;

	for (i = 0; !f->stop; i++) {
		struct shstk_policy p = {
			.argsz = sizeof(p), .mode = SHSTK_POLICY_FIXED,
			.size = i & 1 ? SZ_128K : SZ_64K,
			.flags = i & 2 ? SHSTK_POLICY_INHERIT : 0,
		};

		if (shstk_ioc(f->fd, SHSTK_IOC_SET_POLICY, &p))
			INC(C->policy_set_failures);
		else
			INC(C->policy_sets);
	}
	return NULL;
}

static void *policy_child(void *arg)
{
	uint64_t got = own_shadow_stack_size(*(int *)arg, false);

	if (got == SZ_64K) {
		INC(C->size_64k);
	} else if (got == SZ_128K) {
		INC(C->size_128k);
	} else {
		C->other_size = got;
		INC(C->size_other);
	}
	return NULL;
}

static int policy_race(void *arg)
{
	struct shstk_policy p = { .argsz = sizeof(p), .mode = SHSTK_POLICY_FIXED, .size = SZ_64K };
	struct flipper f = { 0 };
	pthread_t flip, t;
	int i;

	f.fd = shstk_dev_open();
	CHECK(f.fd < 0 ? -errno : 0);
	CHECK(shstk_ioc(f.fd, SHSTK_IOC_SET_POLICY, &p));
	CHECK(-start_thread(&flip, policy_flipper, &f));
	for (i = 0; i < POLICY_THREADS; i++) {
		CHECK(-start_thread(&t, policy_child, &f.fd));
		CHECK(-pthread_join(t, NULL));
	}
	f.stop = 1;
	CHECK(-pthread_join(flip, NULL));
	return 0;
}

/* SET_POLICY FIXED 64K <-> 128K in a loop while threads are made: one or the other. */
TEST(threads_made_while_the_policy_flips_get_one_of_its_sizes)
{
	NEW_COUNTS();
	ASSERT_CHILD_OK(shstk_run(policy_race, NULL));
	EXPECT_EQ(0, C->size_other) TH_LOG("a thread got %#llx",
					   (unsigned long long)C->other_size);
	EXPECT_EQ(POLICY_THREADS, C->size_64k + C->size_128k);
	EXPECT_EQ(0, C->policy_set_failures);
	EXPECT_LT(0, C->policy_sets);
	RACE_REPORT("policy against clone", "%ld threads got 64K, %ld got 128K, %ld policy changes",
		    C->size_64k, C->size_128k, C->policy_sets);
}

TEST_HARNESS_MAIN
