// SPDX-License-Identifier: MIT
/*
 * Part of the README's demo (demo.sh): the kernel's default shadow-stack
 * sizing that shstk exists to change (a thread with an 8 MiB stack gets an
 * 8 MiB shadow stack); a thread given a 64 KiB shadow stack with
 * SET_CLONE, and one started on a caller-made stack (ALLOC + token), each
 * reporting its USAGE; and a return-address overwrite in a thread on a
 * sized shadow stack, caught by the CPU. Static, runs in the test guests:
 *   tests/vm/run --cet -- userspace/build/demo
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include <linux/shstk.h>
#if defined(__x86_64__)
#include "shstk_cet.h"
#elif defined(__aarch64__)
#include "shstk_gcs.h"
#elif defined(__riscv)
#include "shstk_zicfiss.h"
#endif

/* 1 when user shadow stacks work here, 0 when not, -1 on error. */
static int have_hw(int fd)
{
	struct shstk_info info = { .argsz = sizeof(info) };

	if (ioctl(fd, SHSTK_IOC_INFO, &info)) {
		perror("SHSTK_IOC_INFO");
		return -1;
	}
	if (!(info.features & SHSTK_FEAT_HW))
		printf("no user shadow stacks on this CPU or kernel: nothing to show\n");
	return (info.features & SHSTK_FEAT_HW) ? 1 : 0;
}

/* Size in KiB of the "ss" mapping holding the calling thread's SSP. */
static long ss_mapping_kib(void)
{
	uint64_t ssp = shstk_get_ssp();
	unsigned long start, end;
	char line[512];
	long kib = -1;
	FILE *f;

	f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	/* An empty shadow stack has SSP one past its mapping. */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &start, &end) == 2 && ssp - 1 >= start && ssp - 1 < end)
			kib = (end - start) >> 10;
	fclose(f);
	return kib;
}

static int dev_fd;

static const char *const origin_names[] = { "none", "kernel", "sized", "token" };

static int __attribute__((noinline)) recurse(int depth)
{
	int r;

	if (!depth)
		return 0;
	r = recurse(depth - 1);
	/* Opaque to the compiler: no turning the recursion into a loop. */
	__asm__ volatile("" : "+r"(r));
	return r + 1;
}

static void *report_thread(void *arg)
{
	struct shstk_usage u = { .argsz = sizeof(u) };

	/* Some real work: 200 nested calls, 200 return addresses. */
	recurse(200);
	if (ioctl(dev_fd, SHSTK_IOC_USAGE, &u)) {
		perror("SHSTK_IOC_USAGE");
		return NULL;
	}
	printf("  thread with a %zu KiB stack: %ld KiB shadow stack\n",
	       *(size_t *)arg >> 10, ss_mapping_kib());
	printf("    USAGE: size %llu KiB, used %llu B, peak %llu B, resident %llu KiB, origin %s\n",
	       (unsigned long long)u.size >> 10, (unsigned long long)u.used,
	       (unsigned long long)u.peak, (unsigned long long)u.resident >> 10,
	       u.origin < 4 ? origin_names[u.origin] : "?");
	return NULL;
}

static int run_thread(void)
{
	size_t stack_size = 8 << 20;
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, stack_size);
	if (pthread_create(&t, &attr, report_thread, &stack_size) || pthread_join(t, NULL))
		return 1;
	return 0;
}

static int arm(__u64 size, __u64 token)
{
	struct shstk_clone c = { .argsz = sizeof(c), .shadow_stack_size = size,
				 .shadow_stack_token = token };

	if (ioctl(dev_fd, SHSTK_IOC_SET_CLONE, &c)) {
		perror("SHSTK_IOC_SET_CLONE");
		return 1;
	}
	return 0;
}

/* Runs with the shadow stack on; never returns (see shstk_cet.h). */
static int thread_demo(void)
{
	struct shstk_alloc a = { .argsz = sizeof(a), .size = 64 << 10,
				 .flags = SHSTK_ALLOC_TOKEN };

	printf("The kernel's rule (no shstk arming):\n");
	if (run_thread())
		return 1;

	printf("\nArmed with SET_CLONE shadow_stack_size = 64 KiB:\n");
	if (arm(64 << 10, 0) || run_thread())
		return 1;

	if (ioctl(dev_fd, SHSTK_IOC_ALLOC, &a)) {
		perror("SHSTK_IOC_ALLOC");
		return 1;
	}
	printf("\nOn a caller-made stack (ALLOC 64 KiB + token at %#llx):\n",
	       (unsigned long long)a.token);
	if (arm(0, a.token) || run_thread())
		return 1;
	return 0;
}

static void rop_caught(int sig, siginfo_t *si, void *uc)
{
	static const char msg[] = "  caught: SIGSEGV with si_code SEGV_CPERR (control protection)\n";

	(void)uc;
	if (sig == SIGSEGV && si->si_code == SEGV_CPERR && write(1, msg, sizeof(msg) - 1))
		_exit(0);
	_exit(3);
}

static void __attribute__((noinline)) rop_target(void)
{
	static const char msg[] = "  NOT caught: the overwritten return ran\n";

	if (write(1, msg, sizeof(msg) - 1))
		_exit(4);
	_exit(4);
}

/* What a stack buffer overflow does: overwrite the return address. */
#if defined(__aarch64__)
/*
 * In assembly, as gcc 16 drops a C store to the saved LR as dead: the
 * frame record's LR is overwritten with rop_target and reloaded before
 * the ret, which GCS checks against the entry the bl pushed.
 */
void demo_smash_return(void (*to)(void));
__asm__(".pushsection .text\n"
	".type demo_smash_return, %function\n"
	"demo_smash_return:\n"
	"	hint 34\n"			/* bti c */
	"	stp x29, x30, [sp, #-16]!\n"
	"	mov x29, sp\n"
	"	str x0, [sp, #8]\n"
	"	ldp x29, x30, [sp], #16\n"
	"	ret\n"
	".size demo_smash_return, . - demo_smash_return\n"
	".popsection\n");

static void smash_return(void)
{
	demo_smash_return(rop_target);
}
#elif defined(__riscv)
/*
 * In assembly, as the compiler builds a function that saves ra (with
 * -fcf-protection=return): the saved ra is overwritten with rop_target and
 * reloaded, and the sspopchk before the ret compares it with the entry
 * the sspush made.
 */
void demo_smash_return(void (*to)(void));
__asm__(".pushsection .text\n"
	".type demo_smash_return, %function\n"
	"demo_smash_return:\n"
	"	sspush ra\n"
	"	addi sp, sp, -16\n"
	"	sd ra, 8(sp)\n"
	"	sd a0, 8(sp)\n"
	"	ld ra, 8(sp)\n"
	"	addi sp, sp, 16\n"
	"	sspopchk ra\n"
	"	ret\n"
	".size demo_smash_return, . - demo_smash_return\n"
	".popsection\n");

static void smash_return(void)
{
	demo_smash_return(rop_target);
}
#else
static void __attribute__((noinline)) smash_return(void)
{
	unsigned long *ret_addr = (unsigned long *)__builtin_frame_address(0) + 1;

	*(volatile unsigned long *)ret_addr = (unsigned long)rop_target;
}
#endif

static void *rop_thread(void *arg)
{
	smash_return();
	return arg;
}

/* Runs with the shadow stack on, in a process of its own: the fault ends it. */
static int rop_demo(void)
{
	struct sigaction sa = { .sa_sigaction = rop_caught, .sa_flags = SA_SIGINFO };
	pthread_t t;

	printf("\nA return-address overwrite in a thread on a 64 KiB (SET_CLONE) shadow stack:\n");
	fflush(stdout);
	if (sigaction(SIGSEGV, &sa, NULL) || arm(64 << 10, 0) ||
	    pthread_create(&t, NULL, rop_thread, NULL))
		return 1;
	pthread_join(t, NULL);
	return 5;
}

int main(void)
{
	int hw, status;
	pid_t pid;

	dev_fd = open(SHSTK_DEVICE, O_RDWR | O_CLOEXEC);
	if (dev_fd < 0) {
		fprintf(stderr, "%s: %s (load the module: insmod shstk.ko)\n", SHSTK_DEVICE,
			strerror(errno));
		return 1;
	}
	hw = have_hw(dev_fd);
	if (hw <= 0)
		return hw < 0;

	fflush(stdout);
	/*
	 * This glibc does not enable shadow stacks itself: enable it in a child
	 * that never returns from this frame (its return address predates the
	 * shadow stack).
	 */
	pid = fork();
	if (pid == 0) {
		if (SHSTK_ENABLE_HERE())
			_exit(2);
		_exit(thread_demo());
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "shadow-stack child failed (status %#x)\n", status);
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		if (SHSTK_ENABLE_HERE())
			_exit(2);
		_exit(rop_demo());
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "ROP demo failed (status %#x)\n", status);
		return 1;
	}
	return 0;
}
