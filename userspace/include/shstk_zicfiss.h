/* SPDX-License-Identifier: MIT */
/*
 * RISC-V Zicfiss shadow-stack basics: what shstk_cet.h is for x86 and
 * shstk_gcs.h for arm64, for programs whose glibc does not turn the shadow
 * stack on (Debian's riscv64 glibc 2.43 does not).
 *
 * On RISC-V a call or return does not touch the shadow stack by itself:
 * the compiler pushes and checks return addresses (sspush/sspopchk in
 * every function that saves ra) only in code built with
 * -march=rv64gc_zicfiss -fcf-protection=return. Code built without
 * (Debian's riscv64 glibc) runs unchecked on a live shadow stack.
 *
 * As elsewhere, enabling must not happen inside a function that later
 * returns: its return address was never pushed, so its sspopchk would
 * fault. SHSTK_PRCTL is therefore an inline system call, and the frame
 * that enables must never return (end it with _exit(), or enable in a
 * fresh thread or child that exits).
 *
 * Shadow-stack pages are an encoding (PTE.xwr = 010) that only a thread
 * with its shadow stack on may access: a plain load from one by a thread
 * whose shadow stack is off faults (and Linux 7.2 retries it forever).
 *
 * A restore token (map_shadow_stack(SHADOW_STACK_SET_TOKEN),
 * SHSTK_ALLOC_TOKEN) holds the address just above it, without x86's
 * bit 0: SHSTK_ZICFISS_TOKEN(addr). A new thread given that stack starts
 * with its SSP at that address, just above the token.
 */
#ifndef SHSTK_ZICFISS_H
#define SHSTK_ZICFISS_H

#include <stdint.h>
#include <sys/syscall.h>

#ifndef PR_GET_SHADOW_STACK_STATUS
#define PR_GET_SHADOW_STACK_STATUS	74
#endif
#ifndef PR_SET_SHADOW_STACK_STATUS
#define PR_SET_SHADOW_STACK_STATUS	75
#endif
#ifndef PR_LOCK_SHADOW_STACK_STATUS
#define PR_LOCK_SHADOW_STACK_STATUS	76	/* on RISC-V its argument must be 0 */
#endif
#ifndef PR_SHADOW_STACK_ENABLE
#define PR_SHADOW_STACK_ENABLE		(1UL << 0)
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

/* The value of a valid restore token at addr (create_rstor_token()). */
#define SHSTK_ZICFISS_TOKEN(addr)	((uint64_t)(addr) + 8)

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
 * of ssp would be an illegal instruction there), as RDSSP on x86. It
 * assembles in code built without Zicfiss too.
 */
static inline __attribute__((always_inline)) uint64_t shstk_get_ssp(void)
{
	uint64_t ssp;

	__asm__ volatile(".option push\n\t"
			 ".option arch, +zicfiss\n\t"
			 "ssrdp %0\n\t"
			 ".option pop"
			 : "=r"(ssp));
	return ssp;
}

#endif /* SHSTK_ZICFISS_H */
