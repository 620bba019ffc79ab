// SPDX-License-Identifier: GPL-2.0
/*
 * Races with an execve that gains privilege, made winnable on one CPU by
 * a module built with SHSTK_DEBUG_DELAYS=1 (module/shstk.h): run by
 * tests/debug-races, not by the guest suite (the normal module has no
 * delay parameters, and this test fails without them).
 *
 * F1: USAGE checks its right to look at the target, then reads the
 * target's thread state and mm. An execve of a set-user-ID root program
 * finishing in between must not be read with the rights checked before
 * it: USAGE holds the target's exec_update_lock from the check to the
 * end, so the exec waits, and USAGE reports the state it had the right
 * to see.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/ioc.h"
#include "lib/proc.h"

#define SUID_COPY	"/tmp/exec_race_suid"
#define DELAY_MS	"1000"

struct shared {
	long ret;			/* USAGE of the exec'ing process, 0 or -errno */
	struct shstk_usage u;
	int step;			/* where a child gave up */
};

static int drop_to_nobody(void)
{
	return setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	       setresuid(65534, 65534, 65534);
}

/*
 * The target, as user 65534 with its shadow stack on: waits for a byte,
 * then execs the set-user-ID root copy, which has no shadow stack (glibc
 * 2.36 enables none) and sleeps a while.
 */
static void target(int go)
{
	char *argv[] = { "exec_race_test", "--sleep", NULL };
	char c;

	/* Changing credentials made it non-dumpable: a plain user process again. */
	if (drop_to_nobody() || prctl(PR_SET_DUMPABLE, 1))
		_exit(1);
	if (SHSTK_ENABLE_HERE())
		_exit(2);
	/* This frame never returns: raw calls and exits only from here. */
	if (read(go, &c, 1) != 1)
		_exit(3);
	execv(SUID_COPY, argv);
	_exit(4);
}

/* F1: the reader's USAGE pauses after its check; the exec runs meanwhile. */
TEST(usage_does_not_read_a_target_that_exec_gained_privilege_meanwhile)
{
	struct shared *sh = shstk_shared(sizeof(*sh));
	int go[2], ready[2], status, i, fd;
	pid_t tgt, reader;
	char c;

	ASSERT_NE(NULL, sh);
	ASSERT_TRUE(shstk_hw_available());
	ASSERT_EQ(0, getuid());
	ASSERT_EQ(0, shstk_param_write("debug_delay_point", "usage"))
		TH_LOG("no debug_delay_point: not a SHSTK_DEBUG_DELAYS=1 build");
	ASSERT_EQ(0, copy_self(SUID_COPY, 04755));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));

	tgt = fork();
	ASSERT_LE(0, tgt);
	if (!tgt)
		target(go[0]);

	reader = fork();
	ASSERT_LE(0, reader);
	if (!reader) {
		/* Same user as the target before its exec: USAGE is allowed then. */
		if (drop_to_nobody())
			_exit(1);
		fd = shstk_dev_open();
		if (fd < 0)
			_exit(2);
		sh->u = (struct shstk_usage){ .argsz = sizeof(sh->u), .tid = tgt };
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		sh->ret = shstk_ioc(fd, SHSTK_IOC_USAGE, &sh->u);
		_exit(0);
	}

	ASSERT_EQ(0, shstk_param_write("debug_delay_ms", DELAY_MS));
	ASSERT_EQ(1, read(ready[0], &c, 1));
	/* The reader sleeps in the delay (msleep: 'D'), past its check. */
	for (i = 0; i < 2000 && proc_task_state(reader, reader) != 'D'; i++)
		usleep(500);
	EXPECT_EQ('D', proc_task_state(reader, reader));
	/* Now the target execs the set-user-ID root program. */
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(reader, waitpid(reader, &status, 0));
	EXPECT_EQ(0, shstk_param_write("debug_delay_ms", "0"));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("reader %#x", status);
	ASSERT_EQ(tgt, waitpid(tgt, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("target %#x", status);
	unlink(SUID_COPY);

	TH_LOG("USAGE: %ld, status %#x, size %llu", sh->ret, sh->u.status,
	       (unsigned long long)sh->u.size);
	/*
	 * The rights were checked on the unprivileged target: what USAGE
	 * reports must be that process (shadow stack on), never the
	 * set-user-ID program it became (none), nor an error after the
	 * check passed.
	 */
	EXPECT_EQ(0, sh->ret);
	EXPECT_EQ(SHSTK_STATUS_ENABLED, sh->u.status & SHSTK_STATUS_ENABLED)
		TH_LOG("USAGE read the process after its privileged exec");
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--sleep")) {
		sleep(2);
		return geteuid() == 0 ? 0 : 5;
	}
	return test_harness_run(argc, argv);
}
