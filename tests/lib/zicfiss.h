/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RISC-V Zicfiss basics for the tests: what shstk_cet.h is for x86 and
 * gcs.h for arm64. The tests turn the shadow stack on themselves with
 * prctl(), as on arm64.
 *
 * Unlike x86 and arm64, a call or return does not touch the shadow stack
 * by itself: the compiler pushes and checks return addresses
 * (sspush/sspopchk in every function that saves ra), so the tests are
 * built with -march=rv64gc_zicfiss -fcf-protection=return; code built
 * without (Debian's riscv64 glibc) runs unchecked on a live shadow stack.
 * As elsewhere, the function that enables it can never return (its ra
 * was not pushed), so SHSTK_PRCTL is an inline system call and the
 * enabling frame ends with _exit().
 */
#ifndef SHSTK_TEST_ZICFISS_H
#define SHSTK_TEST_ZICFISS_H

#include <stdint.h>
#include <sys/syscall.h>

#ifndef PR_GET_SHADOW_STACK_STATUS
#define PR_GET_SHADOW_STACK_STATUS	74
#define PR_SET_SHADOW_STACK_STATUS	75
#define PR_SHADOW_STACK_ENABLE		(1UL << 0)
#define PR_LOCK_SHADOW_STACK_STATUS	76
#endif
#ifndef __NR_map_shadow_stack
#define __NR_map_shadow_stack		453
#endif
#ifndef SHADOW_STACK_SET_TOKEN
#define SHADOW_STACK_SET_TOKEN		(1ULL << 0)
#endif
#ifndef SEGV_CPERR
#define SEGV_CPERR			10	/* si_code of a shadow-stack fault */
#endif

#if !defined(__riscv_zicfiss)
#error "build RISC-V tests with -march=rv64gc_zicfiss -fcf-protection=return"
#endif

/* prctl(op, arg, 0, 0, 0) as an inline system call: no call, no return. */
#define SHSTK_PRCTL(op, arg) __extension__ ({				\
	register long _a7 __asm__("a7") = __NR_prctl;			\
	register long _a0 __asm__("a0") = (long)(op);			\
	register long _a1 __asm__("a1") = (long)(arg);			\
	register long _a2 __asm__("a2") = 0;				\
	register long _a3 __asm__("a3") = 0;				\
	register long _a4 __asm__("a4") = 0;				\
	__asm__ volatile("ecall" : "+r"(_a0)				\
			 : "r"(_a7), "r"(_a1), "r"(_a2), "r"(_a3), "r"(_a4) \
			 : "memory");					\
	_a0;								\
})

/* Enable the shadow stack of the calling thread; 0 or -errno. */
#define SHSTK_ENABLE_HERE() SHSTK_PRCTL(PR_SET_SHADOW_STACK_STATUS, PR_SHADOW_STACK_ENABLE)

/*
 * The calling thread's SSP (CSR ssp), 0 without a shadow stack: ssrdp is
 * a may-be-operation that writes 0 where the shadow stack is off (a csrr
 * of ssp would be an illegal instruction there).
 */
static inline __attribute__((always_inline)) uint64_t shstk_get_ssp(void)
{
	uint64_t ssp;

	__asm__ volatile("ssrdp %0" : "=r"(ssp));
	return ssp;
}

#endif /* SHSTK_TEST_ZICFISS_H */
