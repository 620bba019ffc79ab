/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64 Guarded Control Stack basics for the tests: what shstk_cet.h is
 * for x86. glibc turns GCS on only for binaries marked for it and when
 * its tunable asks; the tests do it themselves with prctl().
 *
 * As on x86, the function that enables GCS can never return (its return
 * address was never pushed on the GCS), so SHSTK_PRCTL is an inline
 * syscall and the enabling frame ends with _exit().
 */
#ifndef SHSTK_TEST_GCS_H
#define SHSTK_TEST_GCS_H

#include <stdint.h>
#include <sys/syscall.h>

#ifndef PR_GET_SHADOW_STACK_STATUS
#define PR_GET_SHADOW_STACK_STATUS	74
#define PR_SET_SHADOW_STACK_STATUS	75
#define PR_SHADOW_STACK_ENABLE		(1UL << 0)
#define PR_LOCK_SHADOW_STACK_STATUS	76
#endif
#ifndef HWCAP_GCS
#define HWCAP_GCS			(1UL << 32)
#endif
#ifndef __NR_map_shadow_stack
#define __NR_map_shadow_stack		453
#endif
#ifndef SHADOW_STACK_SET_TOKEN
#define SHADOW_STACK_SET_TOKEN		(1ULL << 0)
#endif
#ifndef SEGV_CPERR
#define SEGV_CPERR			10	/* si_code of a GCS fault, as of a #CP */
#endif

/* prctl(op, arg, 0, 0, 0) as an inline syscall: no call, no return. */
#define SHSTK_PRCTL(op, arg) __extension__ ({				\
	register long _x8 __asm__("x8") = __NR_prctl;			\
	register long _x0 __asm__("x0") = (long)(op);			\
	register long _x1 __asm__("x1") = (long)(arg);			\
	register long _x2 __asm__("x2") = 0;				\
	register long _x3 __asm__("x3") = 0;				\
	register long _x4 __asm__("x4") = 0;				\
	__asm__ volatile("svc #0" : "+r"(_x0)				\
			 : "r"(_x8), "r"(_x1), "r"(_x2), "r"(_x3), "r"(_x4) \
			 : "memory", "cc");				\
	_x0;								\
})

/* Enable the GCS of the calling thread; 0 or -errno. */
#define SHSTK_ENABLE_HERE() SHSTK_PRCTL(PR_SET_SHADOW_STACK_STATUS, PR_SHADOW_STACK_ENABLE)

/*
 * The calling thread's GCSPR_EL0 (S3_3_C2_C5_1; the kernel lets EL0 read
 * it), 0 without a GCS. Only on a CPU with GCS: elsewhere it is SIGILL.
 */
static inline __attribute__((always_inline)) uint64_t shstk_get_ssp(void)
{
	uint64_t ssp;

	__asm__ volatile("mrs %0, S3_3_C2_C5_1" : "=r"(ssp));
	return ssp;
}

#endif /* SHSTK_TEST_GCS_H */
