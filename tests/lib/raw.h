/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Raw system calls for code where glibc's wrappers do not fit:
 *  - threads made with clone3() directly (lib/clone3.h) share their
 *    creator's TLS, so they must not write errno;
 *  - tests that need the exact shadow-stack pointer a system call sees:
 *    RDSSPQ and SYSCALL in one asm statement, so no call or return can
 *    move SSP in between (SYSCALL itself does not touch the shadow stack).
 * Every function here returns the raw result: >= 0, or -errno.
 */
#ifndef SHSTK_TEST_RAW_H
#define SHSTK_TEST_RAW_H

#include <stdint.h>
#include <sys/syscall.h>

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

#endif /* SHSTK_TEST_RAW_H */
