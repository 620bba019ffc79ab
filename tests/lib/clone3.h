/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A bare clone3() thread, for tests that need what pthread_create() hides:
 * the exact clone_args.stack_size the kernel sees (0 included), the
 * clone3() error itself, and the new thread's very first instructions.
 *
 * The thread shares its creator's TLS (no CLONE_SETTLS): its function must
 * not touch errno or anything else thread-local. Use lib/raw.h for system
 * calls; no stdio, no malloc. The function's return value is not kept
 * (a thread has no exit status): report through the argument.
 */
#ifndef SHSTK_TEST_CLONE3_H
#define SHSTK_TEST_CLONE3_H

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef __NR_clone3
#define __NR_clone3	435
#endif

/* What pthread_create() passes, plus the tid handshake used for joining. */
#define RAW_THREAD_FLAGS (CLONE_VM | CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_FS | \
			  CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

/* Normal stack of every raw thread; independent of clone_args.stack_size. */
#define RAW_THREAD_STACK	(1UL << 20)

/* struct clone_args, version 1 (CLONE_ARGS_SIZE_VER1 = 80 bytes): with set_tid. */
struct raw_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size;
};

struct raw_thread {
	int (*fn)(void *arg);
	void *arg;
	void *stack;			/* RAW_THREAD_STACK bytes, mmap'ed */
	volatile int tid;		/* the kernel clears it when the thread is gone */
	volatile uint64_t first_ssp;	/* SSP at the thread's first instructions */
};

/*
 * clone3(args) whose new thread loads the stack top, stores the SSP it
 * starts with in t->first_ssp, calls t->fn(t->arg) and exits. The
 * parent gets the tid or -errno.
 */
#if defined(__x86_64__)
static inline __attribute__((always_inline))
long raw_clone3_thread(struct raw_clone_args *a, struct raw_thread *t, char *top)
{
	register long rax __asm__("rax") = __NR_clone3;
	register long rdi __asm__("rdi") = (long)a;
	register long rsi __asm__("rsi") = sizeof(*a);
	register long r12 __asm__("r12") = (long)t;
	register long r13 __asm__("r13") = (long)top;

	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 /* The new thread: own stack, then SSP as the kernel set it. */
			 "movq %%r13, %%rsp\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "rdsspq %%rax\n\t"
			 "movq %%rax, %c[ssp](%%r12)\n\t"
			 "movq %c[arg](%%r12), %%rdi\n\t"
			 "call *%c[fn](%%r12)\n\t"
			 "xorl %%edi, %%edi\n\t"
			 "movl %[nr_exit], %%eax\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13),
			   [ssp] "i"(offsetof(struct raw_thread, first_ssp)),
			   [arg] "i"(offsetof(struct raw_thread, arg)),
			   [fn] "i"(offsetof(struct raw_thread, fn)),
			   [nr_exit] "i"(__NR_exit)
			 : "rcx", "r11", "memory");
	return rax;
}
#elif defined(__aarch64__)
static inline __attribute__((always_inline))
long raw_clone3_thread(struct raw_clone_args *a, struct raw_thread *t, char *top)
{
	register long x8 __asm__("x8") = __NR_clone3;
	register long x0 __asm__("x0") = (long)a;
	register long x1 __asm__("x1") = sizeof(*a);
	register long x19 __asm__("x19") = (long)t;
	register long x20 __asm__("x20") = (long)top;

	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 /* The new thread: own stack, then GCSPR_EL0 as the kernel set it. */
			 "mov sp, x20\n\t"
			 "mrs x0, S3_3_C2_C5_1\n\t"
			 "str x0, [x19, %[ssp]]\n\t"
			 "ldr x0, [x19, %[arg]]\n\t"
			 "ldr x1, [x19, %[fn]]\n\t"
			 "blr x1\n\t"
			 "mov x0, #0\n\t"
			 "mov x8, %[nr_exit]\n\t"
			 "svc #0\n\t"
			 "brk #0\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x19), "r"(x20),
			   [ssp] "i"(offsetof(struct raw_thread, first_ssp)),
			   [arg] "i"(offsetof(struct raw_thread, arg)),
			   [fn] "i"(offsetof(struct raw_thread, fn)),
			   [nr_exit] "i"(__NR_exit)
			 : "memory", "cc");
	return x0;
}
#elif defined(__riscv) && __riscv_xlen == 64
static inline __attribute__((always_inline))
long raw_clone3_thread(struct raw_clone_args *a, struct raw_thread *t, char *top)
{
	register long a7 __asm__("a7") = __NR_clone3;
	register long a0 __asm__("a0") = (long)a;
	register long a1 __asm__("a1") = sizeof(*a);
	register long s2 __asm__("s2") = (long)t;
	register long s3 __asm__("s3") = (long)top;

	__asm__ volatile("ecall\n\t"
			 "bnez a0, 1f\n\t"
			 /* The new thread: own stack, then SSP as the kernel set it. */
			 "mv sp, s3\n\t"
			 "ssrdp a0\n\t"
			 "sd a0, %[ssp](s2)\n\t"
			 "ld a0, %[arg](s2)\n\t"
			 "ld a1, %[fn](s2)\n\t"
			 "jalr a1\n\t"
			 "li a0, 0\n\t"
			 "li a7, %[nr_exit]\n\t"
			 "ecall\n\t"
			 "unimp\n"
			 "1:"
			 : "+r"(a0)
			 : "r"(a7), "r"(a1), "r"(s2), "r"(s3),
			   [ssp] "i"(offsetof(struct raw_thread, first_ssp)),
			   [arg] "i"(offsetof(struct raw_thread, arg)),
			   [fn] "i"(offsetof(struct raw_thread, fn)),
			   [nr_exit] "i"(__NR_exit)
			 : "memory");
	return a0;
}
#else
#error "no raw clone3() thread for this architecture"
#endif

/*
 * clone3(args, size) for a clone meant to fail: the parent gets the tid or
 * -errno; a child that appears after all exits at once (raw exit(0)).
 */
#if defined(__x86_64__)
static inline __attribute__((always_inline))
long raw_clone3_or_exit(void *args, unsigned long size)
{
	register long rax __asm__("rax") = __NR_clone3;
	register long rdi __asm__("rdi") = (long)args;
	register long rsi __asm__("rsi") = (long)size;

	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "movl %[nr_exit], %%eax\n\t"
			 "xorl %%edi, %%edi\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), [nr_exit] "i"(__NR_exit)
			 : "rcx", "r11", "memory");
	return rax;
}
#elif defined(__aarch64__)
static inline __attribute__((always_inline))
long raw_clone3_or_exit(void *args, unsigned long size)
{
	register long x8 __asm__("x8") = __NR_clone3;
	register long x0 __asm__("x0") = (long)args;
	register long x1 __asm__("x1") = (long)size;

	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x8, %[nr_exit]\n\t"
			 "svc #0\n\t"
			 "brk #0\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), [nr_exit] "i"(__NR_exit)
			 : "memory", "cc");
	return x0;
}
#elif defined(__riscv) && __riscv_xlen == 64
static inline __attribute__((always_inline))
long raw_clone3_or_exit(void *args, unsigned long size)
{
	register long a7 __asm__("a7") = __NR_clone3;
	register long a0 __asm__("a0") = (long)args;
	register long a1 __asm__("a1") = (long)size;

	__asm__ volatile("ecall\n\t"
			 "bnez a0, 1f\n\t"
			 "li a7, %[nr_exit]\n\t"
			 "ecall\n\t"
			 "unimp\n"
			 "1:"
			 : "+r"(a0)
			 : "r"(a7), "r"(a1), [nr_exit] "i"(__NR_exit)
			 : "memory");
	return a0;
}
#endif

/*
 * clone3(args, size) whose child, before anything can push, stores the
 * SSP it starts with in *ssp and the u64 at addr in *slot (a normal
 * load), then exits with 0. It touches no stack, so it may share the
 * caller's (vfork). The parent gets the pid or -errno.
 */
#if defined(__x86_64__)
static inline __attribute__((always_inline))
long raw_clone3_probe(void *args, size_t size, uint64_t *ssp, uint64_t *slot, uint64_t addr)
{
	register long rax __asm__("rax") = __NR_clone3;
	register long rdi __asm__("rdi") = (long)args;
	register long rsi __asm__("rsi") = (long)size;
	register long r12 __asm__("r12") = (long)ssp;
	register long r13 __asm__("r13") = (long)slot;
	register long r14 __asm__("r14") = (long)addr;

	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "rdsspq %%rax\n\t"
			 "movq %%rax, (%%r12)\n\t"
			 "movq (%%r14), %%rax\n\t"
			 "movq %%rax, (%%r13)\n\t"
			 "xorl %%edi, %%edi\n\t"
			 "movl %[nr_exit], %%eax\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13), "r"(r14),
			   [nr_exit] "i"(__NR_exit)
			 : "rcx", "r11", "memory", "cc");
	return rax;
}
#elif defined(__aarch64__)
static inline __attribute__((always_inline))
long raw_clone3_probe(void *args, size_t size, uint64_t *ssp, uint64_t *slot, uint64_t addr)
{
	register long x8 __asm__("x8") = __NR_clone3;
	register long x0 __asm__("x0") = (long)args;
	register long x1 __asm__("x1") = (long)size;
	register long x9 __asm__("x9") = (long)ssp;
	register long x10 __asm__("x10") = (long)slot;
	register long x11 __asm__("x11") = (long)addr;

	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mrs x12, S3_3_C2_C5_1\n\t"	/* GCSPR_EL0 */
			 "str x12, [x9]\n\t"
			 "ldr x12, [x11]\n\t"
			 "str x12, [x10]\n\t"
			 "mov x0, #0\n\t"
			 "mov x8, %[nr_exit]\n\t"
			 "svc #0\n\t"
			 "udf #0\n"
			 "1:"
			 : "+r"(x0), "+r"(x8)
			 : "r"(x1), "r"(x9), "r"(x10), "r"(x11), [nr_exit] "i"(__NR_exit)
			 : "x12", "memory", "cc");
	return x0;
}
#elif defined(__riscv) && __riscv_xlen == 64
/* The child's shadow stack is on (its creator's was): plain loads of it work. */
static inline __attribute__((always_inline))
long raw_clone3_probe(void *args, size_t size, uint64_t *ssp, uint64_t *slot, uint64_t addr)
{
	register long a7 __asm__("a7") = __NR_clone3;
	register long a0 __asm__("a0") = (long)args;
	register long a1 __asm__("a1") = (long)size;
	register long s2 __asm__("s2") = (long)ssp;
	register long s3 __asm__("s3") = (long)slot;
	register long s4 __asm__("s4") = (long)addr;

	__asm__ volatile("ecall\n\t"
			 "bnez a0, 1f\n\t"
			 "ssrdp a0\n\t"
			 "sd a0, 0(s2)\n\t"
			 "ld a0, 0(s4)\n\t"
			 "sd a0, 0(s3)\n\t"
			 "li a0, 0\n\t"
			 "li a7, %[nr_exit]\n\t"
			 "ecall\n\t"
			 "unimp\n"
			 "1:"
			 : "+r"(a0)
			 : "r"(a7), "r"(a1), "r"(s2), "r"(s3), "r"(s4), [nr_exit] "i"(__NR_exit)
			 : "memory");
	return a0;
}
#endif

/*
 * clone3(args) whose new thread, left on the caller's stack (which it must
 * never touch), spins without a call or a push, storing its SSP in *ssp on
 * every turn, until *go is set; then it exits. The parent gets the tid or
 * -errno.
 */
#if defined(__x86_64__)
static inline __attribute__((always_inline))
long raw_clone3_spinner(struct raw_clone_args *a, volatile uint64_t *ssp, volatile int *go)
{
	register long rax __asm__("rax") = __NR_clone3;
	register long rdi __asm__("rdi") = (long)a;
	register long rsi __asm__("rsi") = sizeof(*a);
	register long r12 __asm__("r12") = (long)ssp;
	register long r13 __asm__("r13") = (long)go;

	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 2f\n"
			 "1:\tpause\n\t"
			 "rdsspq %%rax\n\t"
			 "movq %%rax, (%%r12)\n\t"
			 "cmpl $0, (%%r13)\n\t"
			 "je 1b\n\t"
			 "movl %[nr_exit], %%eax\n\t"
			 "xorl %%edi, %%edi\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "2:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13), [nr_exit] "i"(__NR_exit)
			 : "rcx", "r11", "memory");
	return rax;
}
#elif defined(__aarch64__)
static inline __attribute__((always_inline))
long raw_clone3_spinner(struct raw_clone_args *a, volatile uint64_t *ssp, volatile int *go)
{
	register long x8 __asm__("x8") = __NR_clone3;
	register long x0 __asm__("x0") = (long)a;
	register long x1 __asm__("x1") = sizeof(*a);
	register long x19 __asm__("x19") = (long)ssp;
	register long x20 __asm__("x20") = (long)go;

	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 2f\n"
			 "1:\tyield\n\t"
			 "mrs x0, S3_3_C2_C5_1\n\t"
			 "str x0, [x19]\n\t"
			 "ldr w0, [x20]\n\t"
			 "cbz w0, 1b\n\t"
			 "mov x0, #0\n\t"
			 "mov x8, %[nr_exit]\n\t"
			 "svc #0\n\t"
			 "brk #0\n"
			 "2:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x19), "r"(x20), [nr_exit] "i"(__NR_exit)
			 : "memory", "cc");
	return x0;
}
#elif defined(__riscv) && __riscv_xlen == 64
static inline __attribute__((always_inline))
long raw_clone3_spinner(struct raw_clone_args *a, volatile uint64_t *ssp, volatile int *go)
{
	register long a7 __asm__("a7") = __NR_clone3;
	register long a0 __asm__("a0") = (long)a;
	register long a1 __asm__("a1") = sizeof(*a);
	register long s2 __asm__("s2") = (long)ssp;
	register long s3 __asm__("s3") = (long)go;

	__asm__ volatile("ecall\n\t"
			 "bnez a0, 2f\n"
			 "1:\tssrdp a0\n\t"
			 "sd a0, 0(s2)\n\t"
			 "lw a0, 0(s3)\n\t"
			 "beqz a0, 1b\n\t"
			 "li a0, 0\n\t"
			 "li a7, %[nr_exit]\n\t"
			 "ecall\n\t"
			 "unimp\n"
			 "2:"
			 : "+r"(a0)
			 : "r"(a7), "r"(a1), "r"(s2), "r"(s3), [nr_exit] "i"(__NR_exit)
			 : "memory");
	return a0;
}
#endif

/*
 * Start fn(arg) in a new thread of this process (raw_thread_start(); with
 * raw_clone_start(), a clone with these flags and exit signal, which must
 * include CLONE_VM, CLONE_PARENT_SETTID and CLONE_CHILD_CLEARTID; with
 * raw_clone_start_tid(), also this tid, or -EEXIST while it is taken) whose
 * clone_args.stack_size is exactly stack_size (0: no stack given, the kernel's default rule for
 * the shadow stack). Returns the tid, or -errno from clone3().
 *
 * Whatever stack_size says, the thread runs on its own RAW_THREAD_STACK:
 * its first instruction after the system call loads that stack (with
 * stack_size 0 the kernel leaves it on the caller's stack, which it must
 * not touch), and its second reads SSP, before anything can push. When fn
 * returns, the thread ends with a raw exit(): nothing returns past the
 * frame the kernel built.
 */
static inline int raw_clone_start_tid(struct raw_thread *t, int (*fn)(void *), void *arg,
				      uint64_t stack_size, uint64_t flags, int exit_signal,
				      pid_t set_tid)
{
	struct raw_clone_args args = { 0 };
	char *top;
	long ret;

	t->fn = fn;
	t->arg = arg;
	t->tid = 0;
	t->first_ssp = 0;
	t->stack = mmap(NULL, RAW_THREAD_STACK, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (t->stack == MAP_FAILED)
		return -ENOMEM;
	top = (char *)t->stack + RAW_THREAD_STACK;

	args.flags = flags;
	args.exit_signal = exit_signal;
	if (set_tid) {
		args.set_tid = (uintptr_t)&set_tid;
		args.set_tid_size = 1;
	}
	args.child_tid = (uintptr_t)&t->tid;
	args.parent_tid = (uintptr_t)&t->tid;
	if (stack_size) {
		/* Only a user-address range check is done on [stack, stack + size). */
		args.stack = (uintptr_t)top - stack_size;
		args.stack_size = stack_size;
	}

	ret = raw_clone3_thread(&args, t, top);
	if (ret < 0) {
		munmap(t->stack, RAW_THREAD_STACK);
		t->stack = NULL;
	}
	return ret;
}

static inline int raw_clone_start(struct raw_thread *t, int (*fn)(void *), void *arg,
				  uint64_t stack_size, uint64_t flags, int exit_signal)
{
	return raw_clone_start_tid(t, fn, arg, stack_size, flags, exit_signal, 0);
}

static inline int raw_thread_start(struct raw_thread *t, int (*fn)(void *), void *arg,
				   uint64_t stack_size)
{
	return raw_clone_start(t, fn, arg, stack_size, RAW_THREAD_FLAGS, 0);
}

/* Wait until the thread is gone (its shadow stack, if the kernel's, too). */
static inline void raw_thread_join(struct raw_thread *t)
{
	int tid;

	while ((tid = t->tid) != 0)
		syscall(__NR_futex, &t->tid, FUTEX_WAIT, tid, NULL, NULL, 0);
	if (t->stack)
		munmap(t->stack, RAW_THREAD_STACK);
	t->stack = NULL;
}

#endif /* SHSTK_TEST_CLONE3_H */
