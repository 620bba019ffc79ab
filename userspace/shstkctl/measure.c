// SPDX-License-Identifier: MIT
/*
 * shstkctl measure: which shadow-stack size to choose, from the peaks a
 * program really reaches. Runs the program traced (or samples a running
 * process), reads every thread's USAGE as late as it can, and recommends
 * a `shstkctl run` policy with the commit it would take.
 *
 * A traced thread stops at PTRACE_EVENT_EXIT after its last instruction
 * and before exit_mm() unmaps its shadow stack: USAGE read there is the
 * thread's final peak. That holds for every way a thread ends: its own
 * exit, exit_group() of another thread, a fatal signal, an execve() of
 * another thread (they all reach do_exit() through get_signal(), which has
 * taken the SIGKILL off the pending set, so ptrace_stop() does stop).
 * Only a thread that another SIGKILL reaches on its way out, and the
 * thread that calls execve() (its old program is gone at
 * PTRACE_EVENT_EXEC), keep the last figures read before; the report
 * says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "shstk.h"
#include "shstkctl.h"

static const char synopsis[] =
	"measure [--json] [--headroom F] [--follow-forks] [--output FILE] [--] PROG [ARGS...]\n"
	"       shstkctl measure [--json] [--headroom F] [--output FILE] --pid PID --for DURATION";

static void print_help(void)
{
	printf("Usage: %s %s\n\n"
	       "Measure the shadow-stack peaks a program really reaches and recommend\n"
	       "a size for it. PROG runs traced; each thread's USAGE is read when it\n"
	       "exits (also when a signal or the end of its process kills it), and\n"
	       "across execve. At the end, on stderr: threads seen, their peaks (min,\n"
	       "median, p99, max), the shadow-stack sizes they had and the commit in\n"
	       "total, and\n"
	       "the policy to use: shstkctl run --size S with S = F x the largest peak\n"
	       "of the threads PROG created, rounded up to a power of two (at least\n"
	       "4K), and the --ratio form covering the same threads, each with the\n"
	       "commit it would have taken. The main thread is measured but no policy\n"
	       "sizes it: PROG enables its shadow stack itself.\n\n"
	       "  --json          the report as one JSON object\n"
	       "  --headroom F    S = F x the largest peak (default 2, at least 1)\n"
	       "  --follow-forks  measure PROG's child processes too (the policy then\n"
	       "                  needs --inherit)\n"
	       "  --output FILE   the report to FILE instead of stderr\n"
	       "  --pid PID       sample a running process instead, every 0.1 s ...\n"
	       "  --for DURATION  ... for DURATION (10, 10s, 500ms, 2m); threads that\n"
	       "                  exit meanwhile are reported from their last sample\n"
	       "  --help          this text\n\n"
	       "Exit status: PROG's (128+N when signal N killed it); with --pid 0, or 1\n"
	       "when PID could not be sampled; 1 when PROG could not be traced, 2 usage\n"
	       "error, 127 when PROG is not found.\n",
	       prog_name, synopsis);
}

/* How a thread's figures were read: the last one wins. */
enum sampled {
	SAMPLED_NONE,		/* never read */
	SAMPLED_LAST,		/* a sample while it ran; it ended without another */
	SAMPLED_RUNNING,	/* --pid: still running at the end */
	SAMPLED_EXIT,		/* at PTRACE_EVENT_EXIT: its last instruction was run */
};

static const char *const sampled_names[] = {
	[SAMPLED_NONE] = "none", [SAMPLED_LAST] = "last-sample", [SAMPLED_RUNNING] = "running",
	[SAMPLED_EXIT] = "exit",
};

struct thread {
	pid_t tid, tgid;
	char comm[32];
	struct shstk_usage u;	/* the last figures read */
	enum sampled sampled;
	bool alive;
	bool measured;		/* of a process measured (PROG's, or followed) */
	bool seen;		/* --pid: in /proc in this round */
};

struct measure {
	struct thread *t;
	size_t n, cap;
	pid_t pid;		/* PROG, or --pid */
	bool follow_forks, children;	/* children: a child process was measured */
	bool pid_mode;
	double headroom;
	char *const *argv;	/* PROG ARGS */
	char cmdline[256];	/* --pid: the process's command line */
};

static struct thread *find_thread(struct measure *m, pid_t tid)
{
	size_t i;

	/* Newest first: a tid can come back after its thread was reaped. */
	for (i = m->n; i-- > 0;)
		if (m->t[i].tid == tid && m->t[i].alive)
			return &m->t[i];
	return NULL;
}

/* The thread-group id of tid, from /proc; tid itself if unknown. */
static pid_t tgid_of(pid_t tid)
{
	char path[64], line[128];
	pid_t tgid = tid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return tid;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

static struct thread *add_thread(struct measure *m, pid_t tid, pid_t tgid)
{
	struct thread *t;

	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct thread *grown = realloc(m->t, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		m->t = grown;
		m->cap = cap;
	}
	t = &m->t[m->n++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->tgid = tgid;
	t->alive = true;
	t->measured = m->pid_mode || tgid == m->pid || m->follow_forks;
	if (tgid != m->pid && t->measured)
		m->children = true;
	thread_comm(tgid, tid, t->comm, sizeof(t->comm));
	return t;
}

/* Read t's USAGE now; keeps the older figures if it cannot be read. */
static void sample(struct thread *t, enum sampled how)
{
	struct shstk_usage u;

	if (!t->measured || shstk_usage(t->tid, &u))
		return;
	t->u = u;
	t->sampled = how;
	/* The program's own name, once it has exec'd. */
	thread_comm(t->tgid, t->tid, t->comm, sizeof(t->comm));
}

/* A thread is gone (reaped): its last figures stay. */
static void reaped(struct measure *m, struct thread *t, int status, int *exit_code)
{
	t->alive = false;
	if (t->sampled == SAMPLED_RUNNING)
		t->sampled = SAMPLED_LAST;
	if (t->tid == m->pid && exit_code)
		*exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A ptrace stop of w: note what it means, then let it go on. */
static void dispatch(struct measure *m, pid_t w, int status)
{
	struct thread *t = find_thread(m, w), *former;
	int sig = WSTOPSIG(status);
	unsigned long msg;

	if (!t) {
		/* A new thread or process, before its first instruction. */
		t = add_thread(m, w, tgid_of(w));
		if (t)
			sample(t, SAMPLED_LAST);
		ptrace(PTRACE_CONT, w, NULL, (void *)(long)(sig == SIGSTOP ? 0 : sig));
		return;
	}
	switch (status >> 16) {
	case 0:
		/* A signal: it goes on to the thread. */
		break;
	case PTRACE_EVENT_EXIT:
		sample(t, SAMPLED_EXIT);
		sig = 0;
		break;
	case PTRACE_EVENT_EXEC:
		/*
		 * A new program. The thread that called execve() (the former
		 * tid) now has the leader's tid; the old leader, if another,
		 * is gone without an exit to reap. Their old program's figures
		 * are those read last.
		 */
		if (!ptrace(PTRACE_GETEVENTMSG, w, NULL, &msg)) {
			former = find_thread(m, (pid_t)msg);
			if (former && former != t)
				reaped(m, former, 0, NULL);
			reaped(m, t, 0, NULL);
			t = add_thread(m, w, w);
			if (t)
				sample(t, SAMPLED_LAST);
		}
		sig = 0;
		break;
	default:
		/* PTRACE_EVENT_CLONE, _FORK, _VFORK: the child stops on its own. */
		sig = 0;
		break;
	}
	ptrace(PTRACE_CONT, w, NULL, (void *)(long)sig);
}

/* Run PROG traced to its end; returns its exit status, sets *ran if it ran. */
static int trace_program(struct measure *m, bool *ran)
{
	int status, exit_code = EXIT_ERROR;
	struct thread *t;
	size_t i;
	pid_t w;

	fflush(NULL);
	m->pid = fork();
	if (m->pid < 0) {
		fprintf(stderr, "%s: measure: fork: %s\n", prog_name, strerror(errno));
		return EXIT_ERROR;
	}
	if (!m->pid) {
		/* Stopped until the tracer has set its options: the exec stops. */
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) || raise(SIGSTOP))
			_exit(EXIT_ERROR);
		execvp(m->argv[0], m->argv);
		fprintf(stderr, "%s: measure: %s: %s\n", prog_name, m->argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (waitpid(m->pid, &status, 0) != m->pid || !WIFSTOPPED(status)) {
		fprintf(stderr, "%s: measure: the child could not be traced\n", prog_name);
		return EXIT_ERROR;
	}
	if (ptrace(PTRACE_SETOPTIONS, m->pid, NULL,
		   (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT |
				   PTRACE_O_EXITKILL | (m->follow_forks ?
				   PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK : 0)))) {
		fprintf(stderr, "%s: measure: PTRACE_SETOPTIONS: %s\n", prog_name, strerror(errno));
		kill(m->pid, SIGKILL);
		waitpid(m->pid, &status, 0);
		return EXIT_ERROR;
	}
	t = add_thread(m, m->pid, m->pid);
	if (!t) {
		kill(m->pid, SIGKILL);
		return EXIT_ERROR;
	}
	t->measured = false;	/* shstkctl's own child until it execs */
	ptrace(PTRACE_CONT, m->pid, NULL, NULL);

	while ((w = waitpid(-1, &status, __WALL)) > 0) {
		t = find_thread(m, w);
		if (t && (WIFEXITED(status) || WIFSIGNALED(status)))
			reaped(m, t, status, &exit_code);
		else
			dispatch(m, w, status);
	}
	/* Measured means: the program ran (an exec made a measured record). */
	for (i = 0; i < m->n; i++)
		if (m->t[i].measured && m->t[i].tgid == m->pid)
			*ran = true;
	return exit_code;
}

/* DURATION: seconds, or with s, ms or m. -1 if it is not one. */
static double parse_duration(const char *text)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || !(v > 0))
		return -1;
	if (!strcmp(end, "ms"))
		v /= 1000;
	else if (!strcmp(end, "m"))
		v *= 60;
	else if (*end && strcmp(end, "s"))
		return -1;
	return v;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One round of --pid: every thread of the process; 0, or -errno. */
static int sample_round(struct measure *m)
{
	struct shstk_usage u;
	struct dirent *entry;
	char path[64];
	struct thread *t;
	size_t i;
	pid_t tid;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)m->pid);
	dir = opendir(path);
	if (!dir)
		return -ESRCH;
	for (i = 0; i < m->n; i++)
		m->t[i].seen = false;
	while ((entry = readdir(dir))) {
		if (parse_pid(entry->d_name, &tid))
			continue;
		t = find_thread(m, tid);
		if (!t)
			t = add_thread(m, tid, m->pid);
		if (!t)
			break;
		if (shstk_usage(tid, &u)) {
			if (errno != ESRCH) {
				int err = -errno;

				closedir(dir);
				return err;
			}
			continue;
		}
		t->seen = true;
		/*
		 * An exiting thread gives its shadow stack back before it
		 * leaves /proc: then USAGE reads size 0. Keep what was read
		 * while it had one (seen with two CPUs in the arm64 guest).
		 */
		if (!u.size && t->sampled != SAMPLED_NONE)
			continue;
		t->u = u;
		t->sampled = SAMPLED_RUNNING;
	}
	closedir(dir);
	/* Not in /proc any more: exited since the last round. */
	for (i = 0; i < m->n; i++) {
		if (m->t[i].alive && !m->t[i].seen) {
			m->t[i].alive = false;
			if (m->t[i].sampled == SAMPLED_RUNNING)
				m->t[i].sampled = SAMPLED_LAST;
		}
	}
	return 0;
}

static int sample_process(struct measure *m, double duration)
{
	double end = now_seconds() + duration;
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	char path[64];
	size_t len, i;
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)m->pid);
	f = fopen(path, "r");
	len = f ? fread(m->cmdline, 1, sizeof(m->cmdline) - 1, f) : 0;
	if (f)
		fclose(f);
	for (i = 0; i + 1 < len; i++)
		if (!m->cmdline[i])
			m->cmdline[i] = ' ';
	err = sample_round(m);
	if (err) {
		snprintf(path, sizeof(path), "PID %d", (int)m->pid);
		report_errno(-err, path, "SHSTK_IOC_USAGE");
		return EXIT_ERROR;
	}
	while (now_seconds() < end) {
		nanosleep(&pause, NULL);
		if (sample_round(m)) {
			/* The process is gone: its threads keep their last samples. */
			for (i = 0; i < m->n; i++) {
				if (m->t[i].alive && m->t[i].sampled == SAMPLED_RUNNING)
					m->t[i].sampled = SAMPLED_LAST;
				m->t[i].alive = false;
			}
			break;
		}
	}
	return EXIT_OK;
}

#define PAGE		4096ULL
#define PAGE_ALIGN(x)	(((x) + PAGE - 1) & ~(PAGE - 1))

/* f x bytes, rounded up. */
static uint64_t scaled(double f, uint64_t bytes)
{
	double v = f * (double)bytes;
	uint64_t u = (uint64_t)v;

	return u + ((double)u < v);
}

static uint64_t round_up_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v && p < (1ULL << 62))
		p <<= 1;
	return p;
}

/* The figures of the report, from the threads' last readings. */
struct report {
	size_t seen, enabled, created, final;
	uint64_t peak_min, peak_median, peak_p99, peak_max;
	uint64_t committed;		/* every shadow stack, as it was */
	uint64_t created_peak;		/* largest peak of a created thread */
	uint64_t created_commit;	/* what the created threads' stacks took */
	bool created_kernel;		/* all of them sized by the kernel's rule */
	uint64_t size, size_commit;	/* --size S and its commit */
	uint32_t ratio;			/* 0: no ratio form (no kernel-rule sizes) */
	uint64_t ratio_min, ratio_commit;
};

/* A thread that a policy sizes: made by a clone, not its process's first. */
static bool is_created(const struct thread *t)
{
	return t->tid != t->tgid;
}

static bool counts(const struct thread *t)
{
	return t->measured && t->sampled != SAMPLED_NONE;
}

static bool has_shstk(const struct thread *t)
{
	return counts(t) && (t->u.status & SHSTK_STATUS_ENABLED);
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The stack size a policy's ratio divides (policy.c), from the size the
 * kernel's rule gave the thread: x86's rule is the stack size itself, as
 * RISC-V's (shstk_alloc_thread_stack() there too), arm64's half of it
 * (gcs_alloc_thread_stack()).
 */
static uint64_t ratio_base(uint64_t kernel_rule_size)
{
#if defined(__aarch64__)
	return kernel_rule_size * 2;
#else
	return kernel_rule_size;
#endif
}

/* What ratio R gives a thread whose kernel-rule size is rule (as policy.c). */
static uint64_t ratio_size(uint64_t rule, uint32_t r, uint64_t min, uint64_t max)
{
	uint64_t s = ((ratio_base(rule) / r) + 7) & ~7ULL;

	return PAGE_ALIGN(s < min ? min : s > max ? max : s);
}

/*
 * The ratio form: for each ratio (1 .. 64), the smallest power-of-two
 * --min that gives every created thread F x its peak; the one that
 * commits least wins (the larger ratio on a tie).
 */
static void choose_ratio(const struct measure *m, struct report *r, uint64_t min, uint64_t max)
{
	uint32_t ratio;
	size_t i;

	if (!r->created || !r->created_kernel)
		return;
	for (ratio = 64; ratio >= 1; ratio /= 2) {
		uint64_t floor = min, commit = 0;

		for (i = 0; i < m->n; i++) {
			const struct thread *t = &m->t[i];
			uint64_t need = scaled(m->headroom, t->u.peak);

			if (!has_shstk(t) || !is_created(t))
				continue;
			if (ratio_size(t->u.size, ratio, 0, max) < need)
				floor = floor > round_up_pow2(need) ? floor : round_up_pow2(need);
		}
		for (i = 0; i < m->n; i++)
			if (has_shstk(&m->t[i]) && is_created(&m->t[i]))
				commit += ratio_size(m->t[i].u.size, ratio, floor, max);
		if (!r->ratio || commit < r->ratio_commit) {
			r->ratio = ratio;
			r->ratio_min = floor;
			r->ratio_commit = commit;
		}
	}
}

static int make_report(const struct measure *m, struct report *r)
{
	struct shstk_info info = { .min_size = PAGE, .max_size = 1ULL << 32 };
	uint64_t *peaks;
	size_t i, n = 0;

	memset(r, 0, sizeof(*r));
	r->created_kernel = true;
	peaks = calloc(m->n ? m->n : 1, sizeof(*peaks));
	if (!peaks)
		return -1;
	for (i = 0; i < m->n; i++) {
		const struct thread *t = &m->t[i];

		if (!counts(t))
			continue;
		r->seen++;
		if (t->sampled == SAMPLED_EXIT)
			r->final++;
		if (!has_shstk(t))
			continue;
		r->enabled++;
		peaks[n++] = t->u.peak;
		r->committed += PAGE_ALIGN(t->u.size);
		if (!is_created(t))
			continue;
		r->created++;
		r->created_commit += PAGE_ALIGN(t->u.size);
		if (t->u.peak > r->created_peak)
			r->created_peak = t->u.peak;
		if (t->u.origin != SHSTK_ORIGIN_KERNEL)
			r->created_kernel = false;
	}
	if (n) {
		qsort(peaks, n, sizeof(*peaks), compare_u64);
		r->peak_min = peaks[0];
		r->peak_median = peaks[(n - 1) / 2];
		/* Nearest rank: the smallest peak at least 99% of them reach. */
		r->peak_p99 = peaks[(99 * n + 99) / 100 - 1];
		r->peak_max = peaks[n - 1];
	}
	free(peaks);
	shstk_info(&info);	/* the limits; the defaults above if it fails */
	if (r->created) {
		r->size = round_up_pow2(scaled(m->headroom, r->created_peak));
		if (r->size < info.min_size || r->size < PAGE)
			r->size = info.min_size > PAGE ? info.min_size : PAGE;
		if (r->size > info.max_size)
			r->size = info.max_size;
		r->size_commit = r->size * r->created;
		choose_ratio(m, r, info.min_size, info.max_size);
	}
	return 0;
}

/* A word of PROG's command line, quoted for a shell when it needs it. */
static void print_word(FILE *out, const char *w)
{
	const char *p;

	for (p = w; *p && (strchr("_./:=,+-@%", *p) || (*p >= '0' && *p <= '9') ||
			   ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')); p++)
		;
	if (*w && !*p) {
		fputs(w, out);
		return;
	}
	fputc('\'', out);
	for (p = w; *p; p++) {
		if (*p == '\'')
			fputs("'\\''", out);
		else
			fputc(*p, out);
	}
	fputc('\'', out);
}

/* "shstkctl run --size 512K [--inherit] -- PROG ARGS" */
static void print_command(FILE *out, const struct measure *m, const struct report *r, bool ratio)
{
	char buf[SIZE_BUF];
	char *const *a;

	fprintf(out, "shstkctl run ");
	if (ratio) {
		fprintf(out, "--ratio %" PRIu32, r->ratio);
		if (r->ratio_min > PAGE)
			fprintf(out, " --min %s", format_size(buf, r->ratio_min, false));
	} else {
		fprintf(out, "--size %s", format_size(buf, r->size, false));
	}
	if (m->children)
		fprintf(out, " --inherit");
	fprintf(out, " --");
	if (m->pid_mode) {
		fprintf(out, " %s", m->cmdline[0] ? m->cmdline : "PROG");
		return;
	}
	for (a = m->argv; *a; a++) {
		fputc(' ', out);
		print_word(out, *a);
	}
}

static void print_commit_line(FILE *out, const struct report *r, uint64_t commit)
{
	char a[SIZE_BUF], b[SIZE_BUF];

	/* More is possible: arm64's rule is half the stack, less than some sizes. */
	bool more = commit > r->created_commit;

	fprintf(out, "    %s for the %zu created threads, against %s %s: %.1fx %s\n",
		format_size(a, commit, false), r->created, format_size(b, r->created_commit, false),
		r->created_kernel ? "by the kernel's rule" : "as they ran",
		more ? (double)commit / (double)r->created_commit :
		commit ? (double)r->created_commit / (double)commit : 0.0, more ? "more" : "less");
}

static void print_text(FILE *out, const struct measure *m, const struct report *r, int exit_code)
{
	char buf[SIZE_BUF], buf2[SIZE_BUF];
	size_t i, j, groups = 0;

	fprintf(out, "%s measure: ", prog_name);
	if (m->pid_mode)
		fprintf(out, "process %d (%s), sampled every 0.1 s\n", (int)m->pid, m->cmdline);
	else
		fprintf(out, "%s exited with status %d\n", m->argv[0], exit_code);
	fprintf(out, "threads seen: %zu, %zu with a shadow stack (%zu created by the program)\n",
		r->seen, r->enabled, r->created);
	if (!r->enabled) {
		fprintf(out, "no thread had a shadow stack: nothing to recommend\n");
		return;
	}
	fprintf(out, "peak bytes: min %" PRIu64 ", median %" PRIu64 ", p99 %" PRIu64
		", max %" PRIu64 "\n", r->peak_min, r->peak_median, r->peak_p99, r->peak_max);
	/* One group per size and origin, first seen first; "sized" etc. unless kernel. */
	fprintf(out, "shadow stacks:");
	for (i = 0; i < m->n; i++) {
		const struct thread *t = &m->t[i];
		size_t count = 0;

		if (!has_shstk(t))
			continue;
		for (j = 0; j < i; j++)
			if (has_shstk(&m->t[j]) && m->t[j].u.size == t->u.size &&
			    m->t[j].u.origin == t->u.origin)
				break;
		if (j < i)
			continue;
		for (j = i; j < m->n; j++)
			if (has_shstk(&m->t[j]) && m->t[j].u.size == t->u.size &&
			    m->t[j].u.origin == t->u.origin)
				count++;
		fprintf(out, "%s %zu x %s", groups++ ? "," : "", count,
			format_size(buf, t->u.size, false));
		if (t->u.origin != SHSTK_ORIGIN_KERNEL)
			fprintf(out, " %s", origin_name(t->u.origin));
	}
	fprintf(out, "; %s committed\n", format_size(buf2, r->committed, false));
	if (!r->created) {
		fprintf(out, "no thread was created: no policy applies (the main thread's shadow "
			"stack is enabled by the program itself)\n");
	} else {
		fprintf(out, "recommended (%g x the largest peak of a created thread, %" PRIu64
			" bytes):\n  ", m->headroom, r->created_peak);
		print_command(out, m, r, false);
		fputc('\n', out);
		print_commit_line(out, r, r->size_commit);
		if (r->ratio) {
			fprintf(out, "  ");
			print_command(out, m, r, true);
			fputc('\n', out);
			print_commit_line(out, r, r->ratio_commit);
		} else {
			fprintf(out, "  no --ratio form: some created threads were not "
				"sized by the kernel's rule, whose size a ratio divides\n");
		}
	}
	if (r->final < r->seen)
		fprintf(out, "note: %zu of %zu threads are reported from a sample taken %s\n",
			r->seen - r->final, r->seen,
			m->pid_mode ? "while they ran (peak so far, or last before they exited)" :
			"before they ended (they did not stop at their end)");
}

/* The command as the text shows it, as a JSON string. */
static void json_command(FILE *out, const struct measure *m, const struct report *r, bool ratio)
{
	char *text = NULL;
	size_t len = 0;
	FILE *s = open_memstream(&text, &len);

	if (s) {
		print_command(s, m, r, ratio);
		fclose(s);
	}
	json_string(out, text ? text : "");
	free(text);
}

static void print_json(FILE *out, const struct measure *m, const struct report *r, int exit_code)
{
	char *const *a;
	size_t i, k = 0;

	fprintf(out, "{\"mode\":\"%s\",\"pid\":%d", m->pid_mode ? "sample" : "trace", (int)m->pid);
	if (m->pid_mode) {
		fprintf(out, ",\"command\":");
		json_string(out, m->cmdline);
	} else {
		fprintf(out, ",\"command\":[");
		for (a = m->argv; *a; a++) {
			fprintf(out, "%s", a == m->argv ? "" : ",");
			json_string(out, *a);
		}
		fprintf(out, "],\"exit_status\":%d", exit_code);
	}
	fprintf(out, ",\"headroom\":%g,\"threads_seen\":%zu,\"with_shadow_stack\":%zu"
		",\"created\":%zu,\"final\":%zu", m->headroom, r->seen, r->enabled, r->created,
		r->final);
	fprintf(out, ",\"peak\":{\"min\":%" PRIu64 ",\"median\":%" PRIu64 ",\"p99\":%" PRIu64
		",\"max\":%" PRIu64 "},\"committed\":%" PRIu64, r->peak_min, r->peak_median,
		r->peak_p99, r->peak_max, r->committed);
	fprintf(out, ",\"threads\":[");
	for (i = 0; i < m->n; i++) {
		const struct thread *t = &m->t[i];

		if (!counts(t))
			continue;
		fprintf(out, "%s{\"tid\":%d,\"pid\":%d,\"command\":", k++ ? "," : "", (int)t->tid,
			(int)t->tgid);
		json_string(out, t->comm);
		fprintf(out, ",\"created\":%s,\"enabled\":%s,\"size\":%" PRIu64 ",\"peak\":%" PRIu64
			",\"origin\":\"%s\",\"sampled\":\"%s\"}",
			is_created(t) ? "true" : "false", has_shstk(t) ? "true" : "false",
			(uint64_t)t->u.size, (uint64_t)t->u.peak, origin_name(t->u.origin),
			sampled_names[t->sampled]);
	}
	fprintf(out, "]");
	if (r->created) {
		fprintf(out, ",\"recommendation\":{\"largest_peak\":%" PRIu64
			",\"created_commit\":%" PRIu64 ",\"kernel_rule\":%s,\"size\":%" PRIu64
			",\"size_commit\":%" PRIu64
			",\"size_command\":", r->created_peak, r->created_commit,
			r->created_kernel ? "true" : "false", r->size, r->size_commit);
		json_command(out, m, r, false);
		if (r->ratio) {
			fprintf(out, ",\"ratio\":%" PRIu32 ",\"ratio_min\":%" PRIu64
				",\"ratio_commit\":%" PRIu64 ",\"ratio_command\":", r->ratio,
				r->ratio_min, r->ratio_commit);
			json_command(out, m, r, true);
		}
		fprintf(out, "}");
	}
	fprintf(out, "}\n");
}

int measure_main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "headroom", required_argument, NULL, 'f' },
		{ "follow-forks", no_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'p' },
		{ "for", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct measure m = { .headroom = 2 };
	struct shstk_info info;
	const char *output = NULL;
	double duration = 0;
	struct report r;
	bool json = false, ran = false;
	int opt, exit_code;
	char *end;
	FILE *out;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "+jf:Fo:p:d:h", options, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'f':
			errno = 0;
			m.headroom = strtod(optarg, &end);
			if (errno || *end || !(m.headroom >= 1 && m.headroom <= 1024))
				return usage_error(synopsis, "measure: --headroom takes a factor, "
						   "1 to 1024, not '%s'", optarg);
			break;
		case 'F':
			m.follow_forks = true;
			break;
		case 'o':
			output = optarg;
			break;
		case 'p':
			if (parse_pid(optarg, &m.pid))
				return usage_error(synopsis, "measure: '%s' is not a PID", optarg);
			m.pid_mode = true;
			break;
		case 'd':
			duration = parse_duration(optarg);
			if (duration <= 0 || duration > 86400 * 365)
				return usage_error(synopsis, "measure: --for takes a duration (10, "
						   "10s, 500ms, 2m), not '%s'", optarg);
			break;
		case 'h':
			print_help();
			return EXIT_OK;
		default:
			return usage_error(synopsis, "measure: unknown option or missing value");
		}
	}
	if (m.pid_mode != (duration > 0))
		return usage_error(synopsis, "measure: --pid and --for go together");
	if (m.pid_mode && (optind < argc || m.follow_forks))
		return usage_error(synopsis, "measure: --pid samples a process: no PROG, no "
				   "--follow-forks");
	if (!m.pid_mode && optind >= argc)
		return usage_error(synopsis, "measure: which program? Give it after the options");
	/* Nothing to measure with: say why before running anything. */
	if (shstk_info(&info)) {
		report_errno(errno, NULL, "SHSTK_IOC_INFO");
		return EXIT_ERROR;
	}
	if (!(info.features & SHSTK_FEAT_USAGE)) {
		report_errno(EOPNOTSUPP, NULL, NULL);
		return EXIT_ERROR;
	}
	out = output ? fopen(output, "w") : stderr;
	if (!out) {
		fprintf(stderr, "%s: measure: %s: %s\n", prog_name, output, strerror(errno));
		return EXIT_ERROR;
	}
	m.argv = argv + optind;

	if (m.pid_mode) {
		exit_code = sample_process(&m, duration);
		ran = exit_code == EXIT_OK;
	} else {
		exit_code = trace_program(&m, &ran);
	}
	if (ran && make_report(&m, &r)) {
		report_errno(ENOMEM, NULL, NULL);
		ran = false;
	}
	if (ran) {
		if (json)
			print_json(out, &m, &r, exit_code);
		else
			print_text(out, &m, &r, exit_code);
	}
	if (out != stderr && fclose(out)) {
		fprintf(stderr, "%s: measure: %s: %s\n", prog_name, output, strerror(errno));
		exit_code = EXIT_ERROR;
	}
	free(m.t);
	return exit_code;
}
