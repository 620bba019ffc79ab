// SPDX-License-Identifier: MIT
/*
 * Thread creation on a chosen shadow stack: arm the calling thread's next
 * clone (SHSTK_IOC_SET_CLONE, used once), then clone. Arming is per thread,
 * so no lock is needed; it is not async-signal-safe (a signal handler that
 * creates a thread in between would take the arming).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shstk.h"
#include "internal.h"

#ifndef __NR_clone3
#define __NR_clone3	435
#endif

/* The kernel's struct clone_args, version 2 (CLONE_ARGS_SIZE_VER2). */
struct kernel_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size, cgroup;
};

int shstk_lib_arm_once(uint64_t size, uint64_t token)
{
	struct shstk_clone current;

	if (shstk_get_clone(&current))
		return -1;
	if (current.shadow_stack_size || current.shadow_stack_token) {
		errno = EBUSY;
		return -1;
	}
	return shstk_set_clone(0, size, token);
}

void shstk_lib_disarm(void)
{
	int saved = errno;

	/* A clone that failed may or may not have used the arming. */
	shstk_set_clone(0, 0, 0);
	errno = saved;
}

#if defined(__x86_64__)
/*
 * clone3 whose child calls fn(arg) on the stack the kernel gave it and then
 * exits: the child cannot return from here (its stack and shadow stack hold
 * no return address), so it never leaves the asm. Returns the raw result.
 */
static long raw_clone3(struct kernel_clone_args *args, int (*fn)(void *), void *arg)
{
	register long rax __asm__("rax") = __NR_clone3;
	register long rdi __asm__("rdi") = (long)args;
	register long rsi __asm__("rsi") = sizeof(*args);
	/* Callee-saved, so the kernel hands them to the child unchanged. */
	register long r12 __asm__("r12") = (long)fn;
	register long r13 __asm__("r13") = (long)arg;

	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 /* The child: outermost frame, ABI stack alignment. */
			 "xorl %%ebp, %%ebp\n\t"
			 "andq $-16, %%rsp\n\t"
			 "movq %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "movl %%eax, %%edi\n\t"
			 "movl %[nr_exit], %%eax\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13), [nr_exit] "i"(__NR_exit)
			 : "rcx", "r11", "memory", "cc");
	return rax;
}
#elif defined(__aarch64__)
/* The same for arm64: the child's bl pushes fn's return on its new GCS. */
static long raw_clone3(struct kernel_clone_args *args, int (*fn)(void *), void *arg)
{
	register long x8 __asm__("x8") = __NR_clone3;
	register long x0 __asm__("x0") = (long)args;
	register long x1 __asm__("x1") = sizeof(*args);
	/* Callee-saved, so the kernel hands them to the child unchanged. */
	register long x19 __asm__("x19") = (long)fn;
	register long x20 __asm__("x20") = (long)arg;

	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 /* The child: outermost frame, ABI stack alignment. */
			 "mov x29, #0\n\t"
			 "mov x30, #0\n\t"
			 "mov x9, sp\n\t"
			 "and x9, x9, #-16\n\t"
			 "mov sp, x9\n\t"
			 "mov x0, x20\n\t"
			 "blr x19\n\t"
			 "mov x8, %[nr_exit]\n\t"
			 "svc #0\n\t"
			 "brk #0\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x19), "r"(x20), [nr_exit] "i"(__NR_exit)
			 : "x9", "x30", "memory", "cc");
	return x0;
}
#elif defined(__riscv) && __riscv_xlen == 64
/*
 * The same for riscv64: the child starts with an empty shadow stack at its
 * top, and fn, built with Zicfiss, pushes its own return address there.
 */
static long raw_clone3(struct kernel_clone_args *args, int (*fn)(void *), void *arg)
{
	register long a7 __asm__("a7") = __NR_clone3;
	register long a0 __asm__("a0") = (long)args;
	register long a1 __asm__("a1") = sizeof(*args);
	/* Callee-saved, so the kernel hands them to the child unchanged. */
	register long s1 __asm__("s1") = (long)fn;
	register long s2 __asm__("s2") = (long)arg;

	__asm__ volatile("ecall\n\t"
			 "bnez a0, 1f\n\t"
			 /* The child: outermost frame, ABI stack alignment. */
			 "li s0, 0\n\t"
			 "li ra, 0\n\t"
			 "andi sp, sp, -16\n\t"
			 "mv a0, s2\n\t"
			 "jalr s1\n\t"
			 "li a7, %[nr_exit]\n\t"
			 "ecall\n\t"
			 "unimp\n"
			 "1:"
			 : "+r"(a0)
			 : "r"(a7), "r"(a1), "r"(s1), "r"(s2), [nr_exit] "i"(__NR_exit)
			 : "ra", "memory");
	return a0;
}
#else
static long raw_clone3(struct kernel_clone_args *args, int (*fn)(void *), void *arg)
{
	(void)args;
	(void)fn;
	(void)arg;
	return -EOPNOTSUPP;	/* no shadow stacks to arm here yet */
}
#endif

/* Bytes of a caller's newer, bigger struct that this library does not know. */
static int unknown_tail_is_zero(const struct shstk_clone_args *args, size_t size)
{
	const unsigned char *p = (const unsigned char *)args;
	size_t i;

	for (i = sizeof(*args); i < size; i++)
		if (p[i])
			return 0;
	return 1;
}

pid_t shstk_clone3(const struct shstk_clone_args *args, size_t size, int (*fn)(void *),
		   void *arg)
{
	struct kernel_clone_args kargs;
	int armed;
	long ret;

	if (!args || !fn) {
		errno = EINVAL;
		return -1;
	}
	/* clone3's own order: too big for a page, then too small. */
	if (size > (size_t)sysconf(_SC_PAGESIZE)) {
		errno = E2BIG;
		return -1;
	}
	if (size < SHSTK_CLONE_ARGS_SIZE_VER0) {
		errno = EINVAL;
		return -1;
	}
	if (!unknown_tail_is_zero(args, size)) {
		errno = E2BIG;
		return -1;
	}
	/*
	 * A token is used by a clone of any kind, as upstream's
	 * shadow_stack_token (a fork-like child takes it in its own copy of
	 * the address space); a size only by a thread-creating clone
	 * (CLONE_VM, not CLONE_VFORK).
	 */
	if (args->shadow_stack_size && (args->flags & (CLONE_VM | CLONE_VFORK)) != CLONE_VM) {
		errno = EINVAL;
		return -1;
	}
	armed = args->shadow_stack_size || args->shadow_stack_token;
	if (armed && shstk_lib_arm_once(args->shadow_stack_size, args->shadow_stack_token))
		return -1;
	/*
	 * A CLONE_VM child on the caller's stack would overwrite the caller's
	 * frames. Checked after the shadow stack, as upstream checks the token
	 * before anything about the stack (its EFAULT comes first).
	 */
	if ((args->flags & CLONE_VM) && !args->stack) {
		if (armed)
			shstk_lib_disarm();
		errno = EINVAL;
		return -1;
	}

	kargs = (struct kernel_clone_args){
		.flags = args->flags, .pidfd = args->pidfd, .child_tid = args->child_tid,
		.parent_tid = args->parent_tid, .exit_signal = args->exit_signal,
		.stack = args->stack, .stack_size = args->stack_size, .tls = args->tls,
		.set_tid = args->set_tid, .set_tid_size = args->set_tid_size,
		.cgroup = args->cgroup,
	};
	ret = raw_clone3(&kargs, fn, arg);
	if (ret < 0) {
		errno = (int)-ret;
		if (armed)
			shstk_lib_disarm();
		return -1;
	}
	return (pid_t)ret;
}

int shstk_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			 void *(*start)(void *), void *arg,
			 uint64_t shadow_stack_size, uint64_t shadow_stack_token)
{
	int armed = shadow_stack_size || shadow_stack_token;
	int err;

	if (armed && shstk_lib_arm_once(shadow_stack_size, shadow_stack_token))
		return -1;
	err = pthread_create(thread, attr, start, arg);
	if (err) {
		errno = err;
		if (armed)
			shstk_lib_disarm();
		return -1;
	}
	return 0;
}
