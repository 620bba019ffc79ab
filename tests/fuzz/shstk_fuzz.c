// SPDX-License-Identifier: GPL-2.0
/*
 * shstk_fuzz SEED CALLS THREADS: random /dev/shstk ioctls from several
 * threads, some on a shadow stack and some not.
 *
 * Each thread draws its calls from its own generator seeded from SEED, so
 * a seed names one sequence of calls per thread (their interleaving is the
 * scheduler's). Commands are mostly the ABI's eight, arguments are built
 * around the limits INFO reports, argument pointers are valid, NULL,
 * unmapped, read-only, straddling a guard page or in the kernel.
 *
 * Exit 0 only if every errno was one the ABI allows and, after the threads
 * unmapped what ALLOC returned and disarmed, no shadow-stack mapping is left
 * but the threads' own. The guest (tests/vm/run) adds the kernel-log check
 * and the unload.
 *
 * Shadow-stack threads enable it in their start function, which therefore
 * never returns (lib/cet.h): they park when done and die with exit().
 * Only a thread that has just disarmed (or armed for that purpose) creates
 * threads, so no random arming or tiny size can hit pthread_create.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "lib/cet.h"
#include "lib/ioc.h"

#define MAX_THREADS	32
#define MAX_ALLOCS	64	/* live ALLOC mappings per thread */
#define MAX_DEAD	64	/* remembered tokens/tids that are gone */
#define KERNEL_ADDR	0xffffffff81000000ULL
#define UNMAPPED_ADDR	0x400000001000ULL	/* far above any mmap of ours */

/* Counted commands: the eight of the ABI, then "anything else". */
enum { C_INFO, C_ALLOC, C_SET_CLONE, C_GET_CLONE, C_INSTALL, C_USAGE, C_SET_POLICY,
	C_GET_POLICY, C_OTHER, C_NR };

static const unsigned long cmds[C_OTHER] = {
	SHSTK_IOC_INFO, SHSTK_IOC_ALLOC, SHSTK_IOC_SET_CLONE, SHSTK_IOC_GET_CLONE,
	SHSTK_IOC_INSTALL, SHSTK_IOC_USAGE, SHSTK_IOC_SET_POLICY, SHSTK_IOC_GET_POLICY,
};

static const char *const cmd_names[C_NR] = {
	"INFO", "ALLOC", "SET_CLONE", "GET_CLONE", "INSTALL", "USAGE", "SET_POLICY",
	"GET_POLICY", "other",
};

static const int ver1_size[C_OTHER] = {
	SHSTK_INFO_SIZE_VER1, SHSTK_ALLOC_SIZE_VER1, SHSTK_CLONE_SIZE_VER1,
	SHSTK_CLONE_SIZE_VER1, SHSTK_INSTALL_SIZE_VER1, SHSTK_USAGE_SIZE_VER1,
	SHSTK_POLICY_SIZE_VER1, SHSTK_POLICY_SIZE_VER1,
};

/* The errnos the ABI allows; index 0 is success, the last slot "other". */
static const int allowed[] = { 0, EINVAL, E2BIG, EFAULT, ENOTTY, ESRCH, EPERM, EBUSY,
	ENOMEM, EOPNOTSUPP };
static const char *const err_names[] = { "ok", "EINVAL", "E2BIG", "EFAULT", "ENOTTY",
	"ESRCH", "EPERM", "EBUSY", "ENOMEM", "EOPNOTSUPP", "UNEXPECTED" };
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define N_ERR		(ARRAY_SIZE(allowed) + 1)

struct worker {
	int idx;
	bool want_cet;		/* try to enable the shadow stack */
	bool cet;		/* it is enabled */
	pid_t tid;
	uint64_t rng;
	long calls;
	unsigned char *rw;	/* 2 RW pages then a PROT_NONE guard */
	unsigned char *ro;	/* 1 page, read-only except while filled */
	uint64_t alloc_addr[MAX_ALLOCS], alloc_size[MAX_ALLOCS], alloc_token[MAX_ALLOCS];
	int nallocs;
	unsigned long count[C_NR][N_ERR];
	int spawns, spawn_fail;
	int unexpected;
	char first_unexpected[128];
	uint64_t ss_base;	/* its own shadow stack (USAGE), kept at the end */
	pthread_t th;
};

static struct worker workers[MAX_THREADS];
static int nworkers;
static int dev_fd;
static struct shstk_info info;
static pid_t main_tid, other_pid, gone_pid;
static atomic_int done_count;

/* Tokens and tids that are gone, shared between the threads (racy is fine). */
static _Atomic uint64_t dead_tokens[MAX_DEAD], freed_addrs[MAX_DEAD];
static _Atomic int dead_tids[MAX_DEAD];
static atomic_uint dead_tok_n, freed_n, dead_tid_n;

/* All ALLOC results, so main can unmap what the threads did not. */
static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t rnd(struct worker *w)
{
	/* xorshift64*: small, fixed for a seed. */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 0x2545F4914F6CDD1DULL;
}

/* Always one draw, whatever n is: a thread's sequence depends on the seed only. */
static uint64_t below(struct worker *w, uint64_t n)
{
	uint64_t r = rnd(w);

	return n ? r % n : 0;
}

static bool chance(struct worker *w, int percent)
{
	return below(w, 100) < (uint64_t)percent;
}

static uint64_t rnd_size(struct worker *w)
{
	uint64_t min = info.min_size ? info.min_size : 4096;
	uint64_t max = info.max_size ? info.max_size : (4ULL << 30);

	switch (below(w, 20)) {
	case 0:
		return 0;
	case 1:
		return 1 + below(w, 7);
	case 2:
		return min - 8;
	case 3:
		return min;
	case 4:
		return min + 8;
	case 5:
		return min + 4;
	case 6:
		return max - 8;
	case 7:
		return max;
	case 8:
		return max + 8;
	case 9:
		return max + 4096;
	case 10:
		return 1ULL << (32 + below(w, 31));
	case 11:
		return ~0ULL - below(w, 16);
	case 12:
		return rnd(w);
	case 13:
		return 65536;
	case 14:
		return 1 << 20;
	case 15:
		return 8 << 20;
	default:
		return (min + below(w, 1 << 20)) & ~7ULL;
	}
}

/* A restore-token address: valid, consumed, misaligned, forged, freed, bad. */
static uint64_t rnd_token(struct worker *w)
{
	struct worker *o = &workers[below(w, nworkers)];
	int n = o->nallocs, j = below(w, n), own = below(w, w->nallocs);
	uint64_t t = n ? o->alloc_token[j] : 0;
	unsigned int k;

	switch (below(w, 12)) {
	case 0:
		return 0;
	case 1:
		return t;
	case 2:
		return t ? t + 4 : 4;
	case 3:
		return t ? t - 8 : 8;	/* inside the stack, not a token */
	case 4:
		k = atomic_load(&dead_tok_n);
		j = below(w, k < MAX_DEAD ? k : MAX_DEAD);
		return k ? dead_tokens[j] : t;
	case 5:	/* a token value forged in normal memory */
		*(uint64_t *)(w->rw + 64) = shstk_token_value((uintptr_t)(w->rw + 64));
		return (uintptr_t)(w->rw + 64);
	case 6:
		k = atomic_load(&freed_n);
		j = below(w, k < MAX_DEAD ? k : MAX_DEAD);
		return k ? freed_addrs[j] : UNMAPPED_ADDR;
	case 7:
		return UNMAPPED_ADDR;
	case 8:
		return KERNEL_ADDR;
	case 9:
		return (uintptr_t)(w->rw + 4096 * 2);	/* the guard page */
	case 10:
		return rnd(w) & ~7ULL;
	default:
		return w->nallocs ? w->alloc_token[own] : t;
	}
}

/* A tid or pid: self, other threads, exited, other process, nonexistent. */
static uint32_t rnd_tid(struct worker *w, bool for_write)
{
	unsigned int k, j = below(w, nworkers);

	switch (below(w, 11)) {
	case 0:
	case 1:
		return 0;
	case 2:
		return w->tid;
	case 3:
		return workers[j].tid;
	case 4:
		return main_tid;
	case 5:
		k = atomic_load(&dead_tid_n);
		j = below(w, k < MAX_DEAD ? k : MAX_DEAD);
		return k ? dead_tids[j] : gone_pid;
	case 6:
		return gone_pid;
	case 7:
		return other_pid;
	case 8:
		return 0x3ffffff0;
	case 9:
		return for_write ? (uint32_t)-1 : 1;	/* never policy init */
	default:
		return (uint32_t)rnd(w);
	}
}

static uint32_t rnd_flags(struct worker *w)
{
	switch (below(w, 6)) {
	case 0:
	case 1:
		return 0;
	case 2:
		return 1;
	case 3:
		return 2;
	case 4:
		return 3;
	default:
		return (uint32_t)rnd(w);
	}
}

/* A policy that passes the checks, so SET_POLICY also succeeds and races. */
static void good_policy(struct worker *w, struct shstk_policy *pol)
{
	uint64_t min = info.min_size ? info.min_size : 4096;

	pol->flags &= SHSTK_POLICY_INHERIT;
	pol->reserved = 0;
	pol->size = 0;
	pol->ratio = 0;
	pol->min_size = 0;
	pol->max_size = 0;
	pol->mode = below(w, 3);
	if (pol->mode == SHSTK_POLICY_FIXED) {
		pol->size = chance(w, 80) ? (min + below(w, 1 << 20)) & ~7ULL : rnd_size(w);
	} else if (pol->mode == SHSTK_POLICY_RATIO) {
		pol->ratio = 1U << below(w, 7);
		pol->min_size = (min + below(w, 64 << 10)) & ~7ULL;
		pol->max_size = pol->min_size + (below(w, 4 << 20) & ~7ULL);
	}
}

/* Fill a version-1 struct of command c with random values at p. */
static void fill(struct worker *w, int c, void *p)
{
	switch (c) {
	case C_ALLOC: {
		struct shstk_alloc *a = p;

		a->flags = chance(w, 70) ? SHSTK_ALLOC_TOKEN : rnd_flags(w);
		/* Mostly sizes that succeed, so tokens and mappings exist. */
		a->size = chance(w, 60) ? (4096 + below(w, 256 << 10)) & ~7ULL : rnd_size(w);
		if (chance(w, 10))
			a->addr = rnd(w), a->token = rnd(w);
		break;
	}
	case C_SET_CLONE:
	case C_GET_CLONE: {
		struct shstk_clone *cl = p;

		cl->flags = rnd_flags(w);
		switch (below(w, 4)) {
		case 0:
			cl->shadow_stack_size = rnd_size(w);
			break;
		case 1:
			cl->shadow_stack_token = rnd_token(w);
			break;
		case 2:
			break;
		default:
			cl->shadow_stack_size = rnd_size(w);
			cl->shadow_stack_token = rnd_token(w);
		}
		break;
	}
	case C_INSTALL: {
		struct shstk_install *in = p;

		in->flags = chance(w, 80) ? 0 : rnd_flags(w);
		in->tid = rnd_tid(w, false);
		in->reserved = chance(w, 90) ? 0 : (uint32_t)rnd(w);
		if (chance(w, 50))
			in->shadow_stack_size = rnd_size(w);
		if (chance(w, 50))
			in->shadow_stack_token = rnd_token(w);
		break;
	}
	case C_USAGE: {
		struct shstk_usage *u = p;

		u->flags = chance(w, 85) ? 0 : rnd_flags(w);
		u->tid = rnd_tid(w, false);
		break;
	}
	case C_SET_POLICY:
	case C_GET_POLICY: {
		struct shstk_policy *pol = p;
		static const uint32_t ratios[] = { 0, 1, 2, 3, 8, 64, 128, 0xffffffff };

		pol->flags = rnd_flags(w);
		pol->pid = rnd_tid(w, c == C_SET_POLICY);
		pol->mode = chance(w, 90) ? below(w, 3) : (uint32_t)rnd(w);
		pol->size = rnd_size(w);
		pol->ratio = ratios[below(w, 8)];
		pol->reserved = chance(w, 90) ? 0 : (uint32_t)rnd(w);
		pol->min_size = rnd_size(w);
		pol->max_size = rnd_size(w);
		if (c == C_SET_POLICY && chance(w, 40))
			good_policy(w, pol);
		break;
	}
	default:	/* INFO: flags only; the rest is output */
		*(uint32_t *)((char *)p + 4) = chance(w, 85) ? 0 : rnd_flags(w);
	}
}

static void track_alloc(struct worker *w, uint64_t addr, uint64_t size, uint64_t token)
{
	if (w->nallocs == MAX_ALLOCS) {
		/* Full: let the oldest go. */
		munmap((void *)(uintptr_t)w->alloc_addr[0], w->alloc_size[0]);
		freed_addrs[atomic_fetch_add(&freed_n, 1) % MAX_DEAD] = w->alloc_token[0];
		pthread_mutex_lock(&alloc_lock);
		memmove(w->alloc_addr, w->alloc_addr + 1, sizeof(uint64_t) * (MAX_ALLOCS - 1));
		memmove(w->alloc_size, w->alloc_size + 1, sizeof(uint64_t) * (MAX_ALLOCS - 1));
		memmove(w->alloc_token, w->alloc_token + 1, sizeof(uint64_t) * (MAX_ALLOCS - 1));
		w->nallocs--;
		pthread_mutex_unlock(&alloc_lock);
	}
	pthread_mutex_lock(&alloc_lock);
	w->alloc_addr[w->nallocs] = addr;
	w->alloc_size[w->nallocs] = size;
	w->alloc_token[w->nallocs] = token;
	w->nallocs++;
	pthread_mutex_unlock(&alloc_lock);
}

static void count(struct worker *w, int c, unsigned long cmd, int err)
{
	size_t i;

	for (i = 0; i < N_ERR - 1; i++)
		if (allowed[i] == err)
			break;
	w->count[c][i]++;
	if (i == N_ERR - 1 && !w->unexpected++)
		snprintf(w->first_unexpected, sizeof(w->first_unexpected),
			 "thread %d cmd %#lx: %s", w->idx, cmd,
			 err < 0 ? "ALLOC succeeded on an unusable argument" : strerror(err));
}

/* One random ioctl. */
static void one_call(struct worker *w)
{
	int c = chance(w, 92) ? (int)below(w, C_OTHER) : C_OTHER;
	unsigned long cmd;
	unsigned char *buf, tmp[512];
	uint32_t argsz;
	int size = c < C_OTHER ? ver1_size[c] : 64, ptr = below(w, 100), fd = dev_fd, err;
	void *arg;

	if (c == C_OTHER) {
		/* Keep off the numbers do_vfs_ioctl() acts on itself (FIOCLEX, FIFREEZE...). */
		static const unsigned char vfs_types[] = {
			0x00, 0x02, 0x15, 0x54, 0x58, 0x66, 0x94,
		};
		unsigned int i;

		do {
			cmd = chance(w, 50) ? (uint32_t)rnd(w) :
				(rnd(w) & 0xffff00ffUL) | (SHSTK_IOC_MAGIC << 8);
			if (((cmd >> 8) & 0xff) == SHSTK_IOC_MAGIC && (cmd & 0xff) < 8 &&
			    !(cmd >> 16))
				cmd |= 0x40000000;	/* not an ABI number after all */
			for (i = 0; i < ARRAY_SIZE(vfs_types); i++)
				if (((cmd >> 8) & 0xff) == vfs_types[i])
					break;
		} while (i < ARRAY_SIZE(vfs_types));
	} else {
		cmd = cmds[c];
	}

	/* argsz: exact most of the time, else short, +8, +64 or anything to 256. */
	switch (below(w, 8)) {
	case 0:
		argsz = below(w, size);
		break;
	case 1:
		argsz = size + 8;
		break;
	case 2:
		argsz = size + 64;
		break;
	case 3:
		argsz = below(w, 257);
		break;
	default:
		argsz = size;
	}

	/* Built aside, then copied where the call reads it. */
	memset(tmp, 0, sizeof(tmp));
	if (c < C_OTHER)
		fill(w, c, tmp);
	*(uint32_t *)tmp = argsz;
	/* Tail beyond version 1: zero, or one stray byte (E2BIG). */
	if (argsz > (uint32_t)size && chance(w, 40))
		tmp[size + below(w, argsz - size)] = 1 + below(w, 255);
	if (ptr < 8) {
		/* The struct runs into the guard page. */
		buf = w->rw + 2 * 4096 - size + below(w, size);
		memcpy(buf, tmp, w->rw + 2 * 4096 - buf);
	} else {
		buf = w->rw + 1024;
		memcpy(buf, tmp, sizeof(tmp));
	}

	if (ptr < 8) {
		arg = buf;
	} else if (ptr < 11) {
		arg = NULL;
	} else if (ptr < 14) {
		arg = (void *)UNMAPPED_ADDR;
	} else if (ptr < 16) {
		arg = (void *)(uintptr_t)KERNEL_ADDR;
	} else if (ptr < 20) {
		/* Readable input, unwritable output. */
		mprotect(w->ro, 4096, PROT_READ | PROT_WRITE);
		memcpy(w->ro, tmp, sizeof(tmp));
		mprotect(w->ro, 4096, PROT_READ);
		arg = w->ro;
	} else {
		arg = buf;
	}

	/* Now and then a fresh descriptor, to race open/close with the rest. */
	if (chance(w, 2))
		fd = shstk_dev_open();
	err = ioctl(fd, cmd, arg) ? errno : 0;
	if (fd != dev_fd)
		close(fd);
	count(w, c, cmd, err);

	/* Keep what ALLOC mapped; a token is only ours if it was written back. */
	if (c == C_ALLOC && !err && arg == buf) {
		struct shstk_alloc *a = (struct shstk_alloc *)buf;

		if (a->addr)
			track_alloc(w, a->addr, PAGE_ALIGN_UP(a->size), a->token);
	} else if (c == C_ALLOC && !err) {
		/* Success with the result unreadable to us: the ABI says EFAULT. */
		count(w, c, cmd, -1);
	}
}

static void *child_fn(void *arg)
{
	struct worker *w = arg;
	struct shstk_usage u;
	struct shstk_clone cl;

	/* A few calls of its own; the parent's counts are not touched here. */
	shstk_usage(dev_fd, 0, &u);
	shstk_get_clone(dev_fd, &cl);
	dead_tids[atomic_fetch_add(&dead_tid_n, 1) % MAX_DEAD] = syscall(SYS_gettid);
	(void)w;
	return NULL;
}

/* Create and join a thread, knowing exactly what it is armed with. */
static void spawn(struct worker *w)
{
	pthread_attr_t attr;
	pthread_t th;
	struct shstk_alloc a;
	uint64_t tok = 0;
	int how = below(w, 3), ret;

	shstk_set_clone(dev_fd, 0, 0, 0);	/* disarm whatever was armed */
	if (how == 1) {
		shstk_set_clone(dev_fd, 0, (64 << 10) + (below(w, 16) << 12), 0);
	} else if (how == 2 && !shstk_alloc(dev_fd, 64 << 10, SHSTK_ALLOC_TOKEN, &a)) {
		track_alloc(w, a.addr, 64 << 10, a.token);
		tok = a.token;
		if (shstk_set_clone(dev_fd, chance(w, 50) ? SHSTK_CLONE_EXIT_TOKEN : 0, 0, tok))
			tok = 0;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	ret = pthread_create(&th, &attr, child_fn, w);
	pthread_attr_destroy(&attr);
	w->spawns++;
	if (ret)
		w->spawn_fail++;	/* a random policy can make this fail: fine */
	else
		pthread_join(th, NULL);
	shstk_set_clone(dev_fd, 0, 0, 0);
	if (tok && !ret)
		dead_tokens[atomic_fetch_add(&dead_tok_n, 1) % MAX_DEAD] = tok;
}

static void unmap_one(struct worker *w)
{
	int i = below(w, w->nallocs);

	if (!w->nallocs)
		return;
	munmap((void *)(uintptr_t)w->alloc_addr[i], w->alloc_size[i]);
	freed_addrs[atomic_fetch_add(&freed_n, 1) % MAX_DEAD] = w->alloc_token[i];
	pthread_mutex_lock(&alloc_lock);
	w->nallocs--;
	w->alloc_addr[i] = w->alloc_addr[w->nallocs];
	w->alloc_size[i] = w->alloc_size[w->nallocs];
	w->alloc_token[i] = w->alloc_token[w->nallocs];
	pthread_mutex_unlock(&alloc_lock);
}

static void fuzz(struct worker *w)
{
	struct shstk_usage u;
	long i;

	w->tid = syscall(SYS_gettid);
	for (i = 0; i < w->calls; i++) {
		if (chance(w, 1))
			spawn(w);
		else if (chance(w, 3))
			unmap_one(w);
		one_call(w);
	}
	/* Leave nothing armed, and note the one shadow stack this thread owns. */
	shstk_set_clone(dev_fd, 0, 0, 0);
	if (!shstk_usage(dev_fd, 0, &u) && (u.status & SHSTK_STATUS_ENABLED))
		w->ss_base = u.base;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;

	if (w->want_cet && !SHSTK_ENABLE_HERE()) {
		/* From here on this frame must never return: park when done. */
		w->cet = true;
		fuzz(w);
		atomic_fetch_add(&done_count, 1);
		for (;;)
			pause();
	}
	fuzz(w);
	atomic_fetch_add(&done_count, 1);
	return NULL;
}

/* Shadow-stack mappings not owned by a parked thread; prints each. */
static int count_leaked_ss(void)
{
	char line[512];
	unsigned long s = 0, e = 0;
	int leaks = 0, i;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		bool owned = false;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2)
			continue;
		if (strncmp(line, "VmFlags:", 8) || !strstr(line, " ss"))
			continue;
		for (i = 0; i < nworkers; i++)
			owned |= workers[i].ss_base >= s && workers[i].ss_base < e;
		if (!owned) {
			printf("# leaked shadow-stack mapping %#lx-%#lx\n", s, e);
			leaks++;
		}
	}
	fclose(f);
	return leaks;
}

int main(int argc, char **argv)
{
	unsigned long total[C_NR][N_ERR] = {};
	unsigned long seed, calls;
	struct shstk_policy pol = { .argsz = sizeof(pol) };
	int i, j, c, unexpected = 0, spawns = 0, spawn_fail = 0, leaks, ncet = 0;
	struct timespec t0, t1;
	pid_t p;

	nworkers = argc == 4 ? atoi(argv[3]) : 0;
	if (nworkers < 1 || nworkers > MAX_THREADS) {
		fprintf(stderr, "usage: %s SEED CALLS THREADS (1..%d)\n", argv[0], MAX_THREADS);
		return 2;
	}
	seed = strtoul(argv[1], NULL, 0);
	calls = strtoul(argv[2], NULL, 0);
	main_tid = getpid();
	dev_fd = shstk_dev_open();
	if (dev_fd < 0 || shstk_info_get(&info)) {
		perror(SHSTK_DEVICE);
		return 2;
	}

	/* A process to target, and a pid that existed once. */
	other_pid = fork();
	if (!other_pid) {
		for (;;)
			pause();
	}
	p = fork();
	if (!p)
		_exit(0);
	waitpid(p, NULL, 0);
	gone_pid = p;

	for (i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		w->idx = i;
		w->want_cet = i % 2 == 0;
		w->rng = seed * 0x9E3779B97F4A7C15ULL + i * 0xBF58476D1CE4E5B9ULL + 1;
		w->calls = calls / nworkers + (i < (int)(calls % nworkers));
		w->rw = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		w->ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (w->rw == MAP_FAILED || w->ro == MAP_FAILED ||
		    mprotect(w->rw + 2 * 4096, 4096, PROT_NONE)) {
			perror("mmap");
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Start them all before any fuzzing can touch the process's policy. */
	for (i = 0; i < nworkers; i++) {
		if (pthread_create(&workers[i].th, NULL, worker_fn, &workers[i])) {
			perror("pthread_create");
			return 2;
		}
	}
	while (atomic_load(&done_count) < nworkers)
		usleep(10000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < nworkers; i++)
		if (!workers[i].cet)
			pthread_join(workers[i].th, NULL);

	/* Unmap every mapping ALLOC reported, and put the policy back. */
	for (i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		for (j = 0; j < w->nallocs; j++)
			munmap((void *)(uintptr_t)w->alloc_addr[j], w->alloc_size[j]);
	}
	pol.mode = SHSTK_POLICY_KERNEL;
	ioctl(dev_fd, SHSTK_IOC_SET_POLICY, &pol);
	kill(other_pid, SIGKILL);
	waitpid(other_pid, NULL, 0);

	for (i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		ncet += w->cet;
		spawns += w->spawns;
		spawn_fail += w->spawn_fail;
		unexpected += w->unexpected;
		if (w->unexpected)
			printf("# unexpected: %s (%d in this thread)\n", w->first_unexpected,
			       w->unexpected);
		for (c = 0; c < C_NR; c++)
			for (j = 0; j < (int)N_ERR; j++)
				total[c][j] += w->count[c][j];
	}
	leaks = count_leaked_ss();

	printf("# shstk_fuzz seed %lu calls %lu threads %d (%d on a shadow stack) ",
	       seed, calls, nworkers, ncet);
	printf("spawns %d (%d failed) %.2f s:", spawns, spawn_fail,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (c = 0; c < C_NR; c++) {
		printf(" %s", cmd_names[c]);
		for (j = 0; j < (int)N_ERR; j++)
			if (total[c][j])
				printf(" %s=%lu", err_names[j], total[c][j]);
		printf(";");
	}
	printf(" leaked ss %d\n", leaks);
	fflush(stdout);
	/* exit_group takes the parked shadow-stack threads with it. */
	_exit(unexpected || leaks ? 1 : 0);
}
