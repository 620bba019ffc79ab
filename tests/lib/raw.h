/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Raw system calls for code where glibc's wrappers do not fit:
 *  - threads made with clone3() directly (lib/clone3.h) share their
 *    creator's TLS, so they must not write errno;
 *  - tests that need the exact shadow-stack pointer a system call sees:
 *    RDSSPQ and SYSCALL (arm64: MRS GCSPR_EL0 and SVC; riscv64: SSRDP
 *    and ECALL) in one asm
 *    statement, so no call or return can move SSP in between (the system
 *    call instruction itself does not touch the shadow stack).
 * Every function here returns the raw result: >= 0, or -errno.
 */
#ifndef SHSTK_TEST_RAW_H
#define SHSTK_TEST_RAW_H

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>

#if defined(__x86_64__)

static inline __attribute__((always_inline))
long raw_syscall3(long nr, long a1, long a2, long a3)
{
	register long rax __asm__("rax") = nr;
	register long rdi __asm__("rdi") = a1;
	register long rsi __asm__("rsi") = a2;
	register long rdx __asm__("rdx") = a3;

	__asm__ volatile("syscall"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(rdx)
			 : "rcx", "r11", "memory");
	return rax;
}

/* ioctl(fd, cmd, arg); *ssp gets the SSP the kernel sees at the call. */
static inline __attribute__((always_inline))
long raw_ioctl_at_ssp(int fd, unsigned long cmd, void *arg, uint64_t *ssp)
{
	register long rax __asm__("rax") = __NR_ioctl;
	register long rdi __asm__("rdi") = fd;
	register long rsi __asm__("rsi") = (long)cmd;
	register long rdx __asm__("rdx") = (long)arg;
	uint64_t s = 0;

	__asm__ volatile("rdsspq %[s]\n\t"
			 "syscall"
			 : "+r"(rax), [s] "+r"(s)
			 : "r"(rdi), "r"(rsi), "r"(rdx)
			 : "rcx", "r11", "memory");
	*ssp = s;
	return rax;
}

/*
 * read(fd, buf, len), publishing the SSP at the call in *ssp before
 * entering the kernel: another thread that sees *ssp non-zero knows the
 * exact SSP this thread will have while it blocks in read().
 */
static inline __attribute__((always_inline))
long raw_read_at_ssp(int fd, void *buf, unsigned long len, volatile uint64_t *ssp)
{
	register long rax __asm__("rax") = __NR_read;
	register long rdi __asm__("rdi") = fd;
	register long rsi __asm__("rsi") = (long)buf;
	register long rdx __asm__("rdx") = (long)len;
	uint64_t s = 0;

	__asm__ volatile("rdsspq %[s]\n\t"
			 "movq %[s], (%[out])\n\t"
			 "syscall"
			 : "+r"(rax), [s] "+r"(s)
			 : "r"(rdi), "r"(rsi), "r"(rdx), [out] "r"(ssp)
			 : "rcx", "r11", "memory");
	return rax;
}

/*
 * vfork() as one asm statement: the child shares the caller's stacks, so
 * it only reads its SSP, stores it in *child_ssp and exits with 7,
 * touching nothing else. *parent_ssp: the caller's SSP at the call.
 */
static inline __attribute__((always_inline))
long raw_vfork_ssps(uint64_t *parent_ssp, volatile uint64_t *child_ssp)
{
	register long rax __asm__("rax") = __NR_vfork;
	register long rdi __asm__("rdi") = (long)child_ssp;
	uint64_t s = 0;

	__asm__ volatile("rdsspq %[s]\n\t"
			 "syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "rdsspq %%rax\n\t"
			 "movq %%rax, (%%rdi)\n\t"
			 "movl $7, %%edi\n\t"
			 "movl %[nr_exit], %%eax\n\t"
			 "syscall\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax), [s] "+r"(s)
			 : "r"(rdi), [nr_exit] "i"(__NR_exit)
			 : "rcx", "r11", "memory");
	*parent_ssp = s;
	return rax;
}

#elif defined(__aarch64__)

static inline __attribute__((always_inline))
long raw_syscall3(long nr, long a1, long a2, long a3)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a1;
	register long x1 __asm__("x1") = a2;
	register long x2 __asm__("x2") = a3;

	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2)
			 : "memory");
	return x0;
}

/* ioctl(fd, cmd, arg); *ssp gets the GCSPR_EL0 the kernel sees at the call. */
static inline __attribute__((always_inline))
long raw_ioctl_at_ssp(int fd, unsigned long cmd, void *arg, uint64_t *ssp)
{
	register long x8 __asm__("x8") = __NR_ioctl;
	register long x0 __asm__("x0") = fd;
	register long x1 __asm__("x1") = (long)cmd;
	register long x2 __asm__("x2") = (long)arg;
	uint64_t s;

	__asm__ volatile("mrs %[s], S3_3_C2_C5_1\n\t"
			 "svc #0"
			 : "+r"(x0), [s] "=&r"(s)
			 : "r"(x8), "r"(x1), "r"(x2)
			 : "memory");
	*ssp = s;
	return x0;
}

/* read(fd, buf, len), publishing GCSPR_EL0 at the call in *ssp first. */
static inline __attribute__((always_inline))
long raw_read_at_ssp(int fd, void *buf, unsigned long len, volatile uint64_t *ssp)
{
	register long x8 __asm__("x8") = __NR_read;
	register long x0 __asm__("x0") = fd;
	register long x1 __asm__("x1") = (long)buf;
	register long x2 __asm__("x2") = (long)len;
	uint64_t s;

	__asm__ volatile("mrs %[s], S3_3_C2_C5_1\n\t"
			 "str %[s], [%[out]]\n\t"
			 "svc #0"
			 : "+r"(x0), [s] "=&r"(s)
			 : "r"(x8), "r"(x1), "r"(x2), [out] "r"(ssp)
			 : "memory");
	return x0;
}

/* vfork() (arm64 has only clone(CLONE_VM | CLONE_VFORK)), as on x86. */
static inline __attribute__((always_inline))
long raw_vfork_ssps(uint64_t *parent_ssp, volatile uint64_t *child_ssp)
{
	register long x8 __asm__("x8") = __NR_clone;
	register long x0 __asm__("x0") = CLONE_VM | CLONE_VFORK | SIGCHLD;
	register long x1 __asm__("x1") = 0;
	register long x2 __asm__("x2") = 0;
	register long x3 __asm__("x3") = 0;
	register long x4 __asm__("x4") = 0;
	register long x19 __asm__("x19") = (long)child_ssp;
	uint64_t s;

	__asm__ volatile("mrs %[s], S3_3_C2_C5_1\n\t"
			 "svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mrs x1, S3_3_C2_C5_1\n\t"
			 "str x1, [x19]\n\t"
			 "mov x0, #7\n\t"
			 "mov x8, %[nr_exit]\n\t"
			 "svc #0\n\t"
			 "brk #0\n"
			 "1:"
			 : "+r"(x0), [s] "=&r"(s)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x19),
			   [nr_exit] "i"(__NR_exit)
			 : "memory", "cc");
	*parent_ssp = s;
	return x0;
}

#elif defined(__riscv) && __riscv_xlen == 64

static inline __attribute__((always_inline))
long raw_syscall3(long nr, long a1, long a2, long a3)
{
	register long a7 __asm__("a7") = nr;
	register long a0 __asm__("a0") = a1;
	register long r1 __asm__("a1") = a2;
	register long r2 __asm__("a2") = a3;

	__asm__ volatile("ecall"
			 : "+r"(a0)
			 : "r"(a7), "r"(r1), "r"(r2)
			 : "memory");
	return a0;
}

/* ioctl(fd, cmd, arg); *ssp gets the SSP the kernel sees at the call. */
static inline __attribute__((always_inline))
long raw_ioctl_at_ssp(int fd, unsigned long cmd, void *arg, uint64_t *ssp)
{
	register long a7 __asm__("a7") = __NR_ioctl;
	register long a0 __asm__("a0") = fd;
	register long a1 __asm__("a1") = (long)cmd;
	register long a2 __asm__("a2") = (long)arg;
	uint64_t s;

	__asm__ volatile("ssrdp %[s]\n\t"
			 "ecall"
			 : "+r"(a0), [s] "=&r"(s)
			 : "r"(a7), "r"(a1), "r"(a2)
			 : "memory");
	*ssp = s;
	return a0;
}

/* read(fd, buf, len), publishing the SSP at the call in *ssp first. */
static inline __attribute__((always_inline))
long raw_read_at_ssp(int fd, void *buf, unsigned long len, volatile uint64_t *ssp)
{
	register long a7 __asm__("a7") = __NR_read;
	register long a0 __asm__("a0") = fd;
	register long a1 __asm__("a1") = (long)buf;
	register long a2 __asm__("a2") = (long)len;
	uint64_t s;

	__asm__ volatile("ssrdp %[s]\n\t"
			 "sd %[s], 0(%[out])\n\t"
			 "ecall"
			 : "+r"(a0), [s] "=&r"(s)
			 : "r"(a7), "r"(a1), "r"(a2), [out] "r"(ssp)
			 : "memory");
	return a0;
}

/* vfork() (riscv64 has only clone(CLONE_VM | CLONE_VFORK)), as on x86. */
static inline __attribute__((always_inline))
long raw_vfork_ssps(uint64_t *parent_ssp, volatile uint64_t *child_ssp)
{
	register long a7 __asm__("a7") = __NR_clone;
	register long a0 __asm__("a0") = CLONE_VM | CLONE_VFORK | SIGCHLD;
	register long a1 __asm__("a1") = 0;
	register long a2 __asm__("a2") = 0;
	register long a3 __asm__("a3") = 0;
	register long a4 __asm__("a4") = 0;
	uint64_t s;

	__asm__ volatile("ssrdp %[s]\n\t"
			 "ecall\n\t"
			 "bnez a0, 1f\n\t"
			 "ssrdp a1\n\t"
			 "sd a1, 0(%[out])\n\t"
			 "li a0, 7\n\t"
			 "li a7, %[nr_exit]\n\t"
			 "ecall\n\t"
			 "unimp\n"
			 "1:"
			 : "+r"(a0), [s] "=&r"(s)
			 : "r"(a7), "r"(a1), "r"(a2), "r"(a3), "r"(a4), [out] "r"(child_ssp),
			   [nr_exit] "i"(__NR_exit)
			 : "memory");
	*parent_ssp = s;
	return a0;
}

#else
#error "no raw system calls for this architecture"
#endif

#endif /* SHSTK_TEST_RAW_H */
