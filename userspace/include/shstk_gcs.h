/* SPDX-License-Identifier: MIT */
/*
 * arm64 Guarded Control Stack (GCS) basics: what shstk_cet.h is for x86,
 * for programs whose glibc does not turn GCS on for them (glibc turns it
 * on only for a binary marked for GCS, and only when its tunable
 * glibc.cpu.aarch64_gcs asks).
 *
 * Enabling GCS must not happen inside a function that later returns: its
 * return address was never pushed on the GCS, so the return would fault.
 * SHSTK_PRCTL is therefore an inline syscall, and the frame that enables
 * must never return (end it with _exit(), or enable in a fresh thread or
 * child that exits).
 *
 * A GCS restore token (the "cap token" the kernel writes with
 * map_shadow_stack(SHADOW_STACK_SET_TOKEN) and SHSTK_ALLOC_TOKEN) holds the
 * address of its own page with bit 0 set: SHSTK_GCS_CAP_TOKEN(addr). A new
 * thread given that stack starts with GCSPR_EL0 at the token's address.
 */
#ifndef SHSTK_GCS_H
#define SHSTK_GCS_H

#include <stdint.h>
#include <sys/syscall.h>

#ifndef PR_GET_SHADOW_STACK_STATUS
#define PR_GET_SHADOW_STACK_STATUS	74
#endif
#ifndef PR_SET_SHADOW_STACK_STATUS
#define PR_SET_SHADOW_STACK_STATUS	75
#endif
#ifndef PR_LOCK_SHADOW_STACK_STATUS
#define PR_LOCK_SHADOW_STACK_STATUS	76
#endif
#ifndef PR_SHADOW_STACK_ENABLE
#define PR_SHADOW_STACK_ENABLE		(1UL << 0)
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

/* The value of a valid GCS cap token at addr (the kernel's GCS_CAP()). */
#define SHSTK_GCS_CAP_TOKEN(addr)	(((uint64_t)(addr) & ~0xfffULL) | 1)

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
 * The calling thread's GCSPR_EL0 (S3_3_C2_C5_1, which the kernel lets EL0
 * read), 0 without a GCS. CHKFEAT X16 (hint 40: a NOP on CPUs before
 * FEAT_CHK) clears bit 0 of x16 when GCS is on for the thread, so the
 * register, which does not exist without GCS, is read only then. No call:
 * the GCS is left exactly as it was, as RDSSP leaves it on x86.
 */
static inline __attribute__((always_inline)) uint64_t shstk_get_ssp(void)
{
	register uint64_t x16 __asm__("x16") = 1;
	uint64_t ssp = 0;

	__asm__ volatile("hint 40" : "+r"(x16));
	if (!(x16 & 1))
		__asm__ volatile("mrs %0, S3_3_C2_C5_1" : "=r"(ssp));
	return ssp;
}

#endif /* SHSTK_GCS_H */
