// SPDX-License-Identifier: MIT
/*
 * shstkctl trace: run a program under ptrace and give each new thread a
 * shadow stack of a chosen size before its first instruction
 * (SHSTK_IOC_INSTALL). For programs that cannot be changed and where a
 * process policy (shstkctl run) is not what is wanted, and as the example
 * of INSTALL in use.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "shstk.h"
#include "shstkctl.h"

static const char synopsis[] = "trace --size S [--verbose] [--] PROG [ARGS...]";

static void print_help(void)
{
	printf("Usage: %s %s\n\n"
	       "Run PROG traced: each thread it creates stops before its first\n"
	       "instruction and gets a shadow stack of S bytes (64K, 8M, ...) in place\n"
	       "of the one the kernel made, which is unmapped. Threads without a shadow\n"
	       "stack (PROG did not enable it) keep running as they are.\n\n"
	       "  --size S     the new threads' shadow-stack size\n"
	       "  --verbose    say, per thread, what was installed\n"
	       "  --help       this text\n\n"
	       "Exit status: PROG's (128+N when signal N killed it); 1 when PROG could\n"
	       "not be traced, 2 usage error, 127 when PROG is not found.\n",
	       prog_name, synopsis);
}

/*
 * Tids of the living traced threads seen stopping once already: a new
 * thread stops first with SIGSTOP. A tid is forgotten once its thread is
 * reaped, since the kernel may give it to a new thread from then on (and
 * so the list holds no more tids than there are threads).
 */
struct seen {
	pid_t *tids;
	size_t n, cap;
};

static bool seen_before(struct seen *s, pid_t tid)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->tids[i] == tid)
			return true;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		pid_t *tids = realloc(s->tids, cap * sizeof(*tids));

		if (!tids)
			return true;	/* no memory: treat as seen, install nothing */
		s->tids = tids;
		s->cap = cap;
	}
	s->tids[s->n++] = tid;
	return false;
}

static void seen_forget(struct seen *s, pid_t tid)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->tids[i] == tid) {
			s->tids[i] = s->tids[--s->n];
			return;
		}
	}
}

/*
 * At PTRACE_EVENT_EXEC of tid: a thread other than the leader that execs
 * takes the leader's tid, and its own goes away without an exit to reap.
 */
static void seen_exec(struct seen *s, pid_t tid)
{
	unsigned long former;

	if (!ptrace(PTRACE_GETEVENTMSG, tid, NULL, &former) && (pid_t)former != tid)
		seen_forget(s, (pid_t)former);
}

struct trace_stats {
	unsigned int installed, refused;
	int last_errno;
};

/* A new thread at its first stop: replace its shadow stack. */
static void install_size(pid_t tid, uint64_t size, bool verbose, struct trace_stats *st)
{
	if (shstk_install(tid, size, 0)) {
		st->refused++;
		st->last_errno = errno;
		if (verbose)
			fprintf(stderr, "%s: trace: thread %d: %s\n", prog_name, tid, strerror(errno));
		return;
	}
	st->installed++;
	if (verbose)
		fprintf(stderr, "%s: trace: thread %d: %llu-byte shadow stack\n", prog_name, tid,
			(unsigned long long)size);
}

int trace_main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "size", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct trace_stats st = {};
	struct seen seen = {};
	int opt, status, exit_code = EXIT_ERROR;
	bool verbose = false;
	uint64_t size = 0;
	pid_t pid, w;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+s:vh", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (parse_size(optarg, &size) || !size)
				return usage_error(synopsis, "trace: --size: '%s' is not a size", optarg);
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			print_help();
			return EXIT_OK;
		default:
			return usage_error(synopsis, "trace: unknown option");
		}
	}
	if (!size)
		return usage_error(synopsis, "trace: --size is needed");
	if (optind >= argc)
		return usage_error(synopsis, "trace: which program? Give it after the options");

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: trace: fork: %s\n", prog_name, strerror(errno));
		return EXIT_ERROR;
	}
	if (!pid) {
		/* Stops with SIGTRAP once the exec succeeded. */
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(EXIT_ERROR);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "%s: trace: %s: %s\n", prog_name, argv[optind], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	seen_before(&seen, pid);
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
		/* The exec failed: the child's own status says how. */
		free(seen.tids);
		return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_ERROR;
	}
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
		   (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
				   PTRACE_O_EXITKILL))) {
		fprintf(stderr, "%s: trace: PTRACE_SETOPTIONS: %s\n", prog_name, strerror(errno));
		kill(pid, SIGKILL);
	}
	ptrace(PTRACE_CONT, pid, NULL, NULL);

	while ((w = waitpid(-1, &status, __WALL)) > 0) {
		int sig;

		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			/* Reaped: the tid is free for a new thread. */
			seen_forget(&seen, w);
			if (w == pid)
				exit_code = WIFEXITED(status) ? WEXITSTATUS(status) :
					    128 + WTERMSIG(status);
			continue;
		}
		sig = WSTOPSIG(status);
		if (status >> 16) {
			/* PTRACE_EVENT_CLONE or _EXEC: an event, not a signal to pass on. */
			if (status >> 16 == PTRACE_EVENT_EXEC)
				seen_exec(&seen, w);
			sig = 0;
		} else if (sig == SIGSTOP && !seen_before(&seen, w)) {
			/* A new thread, before its first instruction. */
			install_size(w, size, verbose, &st);
			sig = 0;
		}
		ptrace(PTRACE_CONT, w, NULL, (void *)(long)sig);
	}
	free(seen.tids);
	if (st.refused)
		fprintf(stderr, "%s: trace: %u threads got %llu-byte shadow stacks, %u kept theirs "
			"(last error: %s)\n", prog_name, st.installed, (unsigned long long)size,
			st.refused, strerror(st.last_errno));
	return exit_code;
}
