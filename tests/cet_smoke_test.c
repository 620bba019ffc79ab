// SPDX-License-Identifier: GPL-2.0
/*
 * Proves the CET and GCS guests: user shadow stacks work for real, per
 * thread, and survive context switches with other processes. Needs no
 * module. SKIPs only where the CPU or kernel has no user shadow stacks (the
 * QEMU x86 guest); the Bochs and arm64 guests must pass every test.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>

#include "kselftest_harness.h"
#include "lib/cet.h"

#define REQUIRE_SHSTK() do {						\
	if (!shstk_hw_available())					\
		SKIP(return, "no user shadow stacks on this CPU/kernel");	\
} while (0)

/* Exit codes of the children: 0 = all good, else which check failed. */
enum { OK = 0, E_STATUS = 1, E_SSP, E_VMA, E_NOT_CAUGHT, E_SIGACTION, E_THREAD,
       E_PIPE, E_SIGNAL, E_DRIFT };

struct vma_report {
	uint64_t ssp, start, end;
	bool is_ss;
	int found;
};

static int check_enabled(void *arg)
{
	struct vma_report *r = arg;

	r->ssp = shstk_get_ssp();
	if (!shstk_status_enabled())
		return E_STATUS;
	if (!r->ssp || r->ssp % 8)
		return E_SSP;
	r->found = !shstk_find_ssp_vma(r->ssp, &r->start, &r->end, &r->is_ss);
	if (!r->found || !r->is_ss)
		return E_VMA;
	return OK;
}

TEST(enabled_thread_runs_on_an_ss_mapping)
{
	struct vma_report *r;
	int status;

	REQUIRE_SHSTK();
	r = shstk_shared(sizeof(*r));
	ASSERT_NE(NULL, r);
	status = shstk_run(check_enabled, r);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(OK, WEXITSTATUS(status))
		TH_LOG("ssp %#llx found %d in [%#llx, %#llx) ss %d", (unsigned long long)r->ssp,
		       r->found, (unsigned long long)r->start, (unsigned long long)r->end, r->is_ss);
}

struct fault_report {
	int signo, si_code;
	void *fault_addr;
};

static struct fault_report *report;

static void record_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	report->signo = sig;
	report->si_code = si->si_code;
	report->fault_addr = si->si_addr;
	_exit(OK);
}

static void __attribute__((noinline)) rop_landing(void)
{
	/* Reached only if the corrupted return was not caught. */
	_exit(E_NOT_CAUGHT);
}

static int try_rop(void *arg)
{
	struct sigaction sa = { .sa_sigaction = record_fault, .sa_flags = SA_SIGINFO };

	(void)arg;
	if (sigaction(SIGSEGV, &sa, NULL))
		return E_SIGACTION;
	shstk_smash_return(rop_landing);
	return E_NOT_CAUGHT;
}

TEST(corrupted_return_address_is_sigsegv_cperr)
{
	int status;

	REQUIRE_SHSTK();
	report = shstk_shared(sizeof(*report));
	ASSERT_NE(NULL, report);
	status = shstk_run(try_rop, NULL);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	ASSERT_EQ(OK, WEXITSTATUS(status));
	EXPECT_EQ(SIGSEGV, report->signo);
	EXPECT_EQ(SEGV_CPERR, report->si_code);
	EXPECT_EQ(shstk_cperr_addr(), report->fault_addr);
}

static void *thread_probe(void *arg)
{
	struct vma_report *r = arg;

	r->ssp = shstk_get_ssp();
	r->found = !shstk_find_ssp_vma(r->ssp, &r->start, &r->end, &r->is_ss);
	return NULL;
}

static int check_thread_vma(void *arg)
{
	struct vma_report *r = arg; /* [0] main thread, [1] new thread */
	pthread_t t;

	thread_probe(&r[0]);
	if (pthread_create(&t, NULL, thread_probe, &r[1]) || pthread_join(t, NULL))
		return E_THREAD;
	return OK;
}

TEST(new_thread_gets_its_own_ss_mapping)
{
	struct vma_report *r;
	int status;

	REQUIRE_SHSTK();
	r = shstk_shared(2 * sizeof(*r));
	ASSERT_NE(NULL, r);
	status = shstk_run(check_thread_vma, r);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	ASSERT_EQ(OK, WEXITSTATUS(status));
	ASSERT_TRUE(r[0].found && r[1].found)
		TH_LOG("ssp %#llx found %d, thread ssp %#llx found %d", (unsigned long long)r[0].ssp,
		       r[0].found, (unsigned long long)r[1].ssp, r[1].found);
	EXPECT_TRUE(r[0].is_ss);
	EXPECT_TRUE(r[1].is_ss);
	EXPECT_NE(0, r[1].ssp);
	/* Different mappings, not just different depths of one. */
	EXPECT_NE(r[0].start, r[1].start);
	EXPECT_FALSE(r[1].ssp > r[0].start && r[1].ssp <= r[0].end);
}

#define PINGPONG_ROUNDS 1000

/* Some call depth on the shadow stack each round; returns must match. */
static int __attribute__((noinline)) recurse(int n)
{
	asm volatile("" ::: "memory");
	return n ? recurse(n - 1) + 1 : 0;
}

struct pingpong {
	int to_peer, from_peer;
	bool ping_init;		/* also bounce a signal off PID 1 each round */
};

static int pingpong(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t ssp0 = shstk_get_ssp();
	siginfo_t si;
	sigset_t usr1;
	char c = 'x';
	int i;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	for (i = 0; i < PINGPONG_ROUNDS; i++) {
		if (pp->ping_init) {
			if (write(pp->to_peer, &c, 1) != 1)
				return E_PIPE;
			/* tests/vm/init.c answers SIGUSR1 with SIGUSR1. */
			if (kill(1, SIGUSR1) || sigwaitinfo(&usr1, &si) != SIGUSR1 || si.si_pid != 1)
				return E_SIGNAL;
			if (read(pp->from_peer, &c, 1) != 1)
				return E_PIPE;
		} else {
			if (read(pp->from_peer, &c, 1) != 1 || write(pp->to_peer, &c, 1) != 1)
				return E_PIPE;
		}
		if (recurse(16) != 16 || shstk_get_ssp() != ssp0)
			return E_DRIFT;
	}
	return shstk_get_ssp() ? OK : E_SSP;
}

static void *run_peer(void *arg)
{
	return (void *)(long)shstk_run(pingpong, arg);
}

/*
 * Two shadow-stack processes and PID 1 (no shadow stack) take turns 1000
 * times. A broken XSAVES/XRSTORS emulation loses or leaks the CET state on
 * such switches (tests/vm/bochs/xrstors-offset-fix.patch): then a process
 * dies with a control-protection fault or reads SSP 0.
 */
TEST(pingpong_with_pid1_keeps_every_shadow_stack)
{
	int a2b[2], b2a[2];
	struct pingpong pa, pb;
	pthread_t ta, tb;
	void *sa, *sb;

	REQUIRE_SHSTK();
	ASSERT_EQ(0, pipe(a2b));
	ASSERT_EQ(0, pipe(b2a));
	pa = (struct pingpong){ .to_peer = a2b[1], .from_peer = b2a[0], .ping_init = true };
	pb = (struct pingpong){ .to_peer = b2a[1], .from_peer = a2b[0], .ping_init = false };
	/* Fork both peers from threads so they run at the same time. */
	ASSERT_EQ(0, pthread_create(&ta, NULL, run_peer, &pa));
	ASSERT_EQ(0, pthread_create(&tb, NULL, run_peer, &pb));
	ASSERT_EQ(0, pthread_join(ta, &sa));
	ASSERT_EQ(0, pthread_join(tb, &sb));
	EXPECT_TRUE(WIFEXITED((long)sa)) TH_LOG("peer A status %#lx", (long)sa);
	EXPECT_TRUE(WIFEXITED((long)sb)) TH_LOG("peer B status %#lx", (long)sb);
	EXPECT_EQ(OK, WEXITSTATUS((long)sa));
	EXPECT_EQ(OK, WEXITSTATUS((long)sb));
	/* PID 1 is still there (its death would also panic the guest). */
	EXPECT_EQ(0, kill(1, 0));
}

TEST_HARNESS_MAIN
