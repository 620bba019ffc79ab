/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shstk_run() under ptrace, to see a fault the process itself cannot
 * report. When a shadow stack is full, the kernel cannot push the signal
 * frame onto it, so no SIGSEGV handler ever runs (not even on a
 * sigaltstack: there is no alternate shadow stack); the process is killed.
 * A tracer still sees the original SIGSEGV at its signal-delivery stop,
 * with its siginfo, and the thread's SSP (regset NT_X86_SHSTK, NT_ARM_GCS).
 */
#ifndef SHSTK_TEST_TRACE_H
#define SHSTK_TEST_TRACE_H

#include <signal.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "cet.h"

struct traced_fault {
	int count;		/* SIGSEGVs seen, all threads */
	pid_t tid;		/* the first one: thread, */
	int code;		/* siginfo: si_code, */
	uint64_t addr;		/* si_addr, */
	uint64_t ssp;		/* and the thread's SSP at that moment */
	int ssp_err;		/* errno of reading SSP, 0 if read */
};

#define SHSTK_RUN_NO_TRACE	98

/*
 * fork() a child that runs fn(arg) as shstk_run() does, traced by the
 * caller from its first instruction on: the caller sees every new thread
 * (PTRACE_O_TRACECLONE) stop before its first user instruction, and the
 * child dies with the caller (PTRACE_O_EXITKILL). Returns the child's
 * pid, running, or -1.
 */
static inline pid_t shstk_fork_traced(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, 0, 0))
			_exit(SHSTK_RUN_NO_TRACE);
		raise(SIGSTOP);
		if (SHSTK_ENABLE_HERE())
			_exit(SHSTK_RUN_NO_ENABLE);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
		return -1;
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);
	ptrace(PTRACE_CONT, pid, 0, 0);
	return pid;
}

/* Run fn(arg) as shstk_run() does, traced; returns the wait status. */
static inline int shstk_run_traced(int (*fn)(void *), void *arg, struct traced_fault *f)
{
	int status, sig;
	pid_t pid, w;

	memset(f, 0, sizeof(*f));
	pid = shstk_fork_traced(fn, arg);
	if (pid < 0)
		return -1;
	for (;;) {
		w = waitpid(-1, &status, __WALL);
		if (w < 0)
			return -1;
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (w == pid)
				return status;
			continue;
		}
		sig = WSTOPSIG(status);
		/* Event stops (clone) and new threads' first SIGSTOP: not signals to pass on. */
		if ((status >> 16) || sig == SIGSTOP) {
			ptrace(PTRACE_CONT, w, 0, 0);
			continue;
		}
		if (sig == SIGSEGV && !f->count++) {
			siginfo_t si;
			uint64_t regset[SHSTK_REGSET_SSP + 1] = { 0 };
			struct iovec iov = { regset, sizeof(regset) };

			f->tid = w;
			if (!ptrace(PTRACE_GETSIGINFO, w, 0, &si)) {
				f->code = si.si_code;
				f->addr = (uintptr_t)si.si_addr;
			}
			f->ssp_err = ptrace(PTRACE_GETREGSET, w, SHSTK_NT_REGSET, &iov) ? errno : 0;
			f->ssp = regset[SHSTK_REGSET_SSP];
		}
		ptrace(PTRACE_CONT, w, 0, sig);
	}
}

#endif /* SHSTK_TEST_TRACE_H */
