/* SPDX-License-Identifier: MIT */
/*
 * x86 CET shadow-stack basics for programs on a glibc that does not manage
 * shadow stacks itself (glibc < 2.39, e.g. Debian 12's 2.36).
 *
 * Enabling the shadow stack must not happen inside a function that later
 * returns: its return address was pushed before the shadow stack existed,
 * so the return would fault. SHSTK_ARCH_PRCTL is therefore an inline
 * syscall, and the frame that enables must never return (end it with
 * _exit(), or enable in a fresh thread or child that exits).
 */
#ifndef SHSTK_CET_H
#define SHSTK_CET_H

#include <stdint.h>
#include <sys/syscall.h>

#define ARCH_SHSTK_ENABLE	0x5001
#define ARCH_SHSTK_DISABLE	0x5002
#define ARCH_SHSTK_LOCK		0x5003
#define ARCH_SHSTK_UNLOCK	0x5004
#define ARCH_SHSTK_STATUS	0x5005
#define ARCH_SHSTK_SHSTK	(1ULL << 0)
#define ARCH_SHSTK_WRSS		(1ULL << 1)

#ifndef __NR_map_shadow_stack
#define __NR_map_shadow_stack	453
#endif
#ifndef SHADOW_STACK_SET_TOKEN
#define SHADOW_STACK_SET_TOKEN	(1ULL << 0)
#endif
#ifndef SEGV_CPERR
#define SEGV_CPERR		10	/* si_code of a control-protection fault */
#endif

/* arch_prctl(code, arg) as an inline syscall: no call, no return. */
#define SHSTK_ARCH_PRCTL(code, arg) __extension__ ({			\
	long _ret;							\
	register long _num __asm__("eax") = __NR_arch_prctl;		\
	register long _a1 __asm__("rdi") = (long)(code);		\
	register long _a2 __asm__("rsi") = (long)(arg);			\
	__asm__ volatile("syscall" : "=a"(_ret) : "r"(_a1), "r"(_a2), "0"(_num) \
			 : "rcx", "r11", "memory", "cc");		\
	_ret;								\
})

/* Enable the shadow stack of the calling thread; 0 or -errno. */
#define SHSTK_ENABLE_HERE() SHSTK_ARCH_PRCTL(ARCH_SHSTK_ENABLE, ARCH_SHSTK_SHSTK)

/* The calling thread's shadow-stack pointer, 0 without a shadow stack. */
static inline __attribute__((always_inline)) uint64_t shstk_get_ssp(void)
{
	uint64_t ssp = 0;

	/* RDSSPQ is a NOP (leaving 0) when shadow stacks are off. */
	__asm__ volatile("rdsspq %0" : "+r"(ssp));
	return ssp;
}

#endif /* SHSTK_CET_H */
