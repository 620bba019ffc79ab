/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a call costs on the shadow stack, per architecture, for tests that
 * recurse to a known depth and check the peak USAGE reports to the byte.
 *
 *   SHSTK_FRAME_BYTES        shadow-stack bytes one call pushes
 *   SHSTK_THREAD_ENTRY_BYTES what a glibc thread has used when its start
 *                            routine begins: the fixed part of its peak
 *   shstk_frames_ssp()       the calling thread's shadow-stack pointer
 *   SHSTK_FRAMES_ENABLE()    enable the shadow stack here (the frame that
 *                            does it must never return)
 *   SHSTK_FRAMES_TRAP()      an instruction that kills the process with SIGILL
 *
 * A thread that calls a recursion of depth D from its start routine
 * (D calls below the first) reaches, at its deepest,
 *   SHSTK_THREAD_ENTRY_BYTES + SHSTK_FRAME_BYTES * (D + 1)
 * as long as nothing else in its life goes deeper (the glibc code around
 * a start routine stays far above a recursion of 10).
 *
 * x86-64: a call pushes its return address (8 bytes); a new thread's
 * shadow stack starts empty, then glibc 2.36's clone3() calls
 * start_thread() and start_thread() calls the routine: 16 bytes.
 * Other backends: define the same five for your architecture.
 */
#ifndef SHSTK_TEST_FRAMES_H
#define SHSTK_TEST_FRAMES_H

#include <stdint.h>

#if defined(__x86_64__)
#include "shstk_cet.h"

#define SHSTK_FRAME_BYTES		8
#define SHSTK_THREAD_ENTRY_BYTES	16
#define SHSTK_FRAMES_ENABLE()		SHSTK_ENABLE_HERE()
#define SHSTK_FRAMES_TRAP()		__builtin_trap()	/* ud2 */

static inline __attribute__((always_inline)) uint64_t shstk_frames_ssp(void)
{
	return shstk_get_ssp();
}
#elif defined(__aarch64__)
#include "shstk_gcs.h"

/*
 * arm64 GCS: a bl pushes its LR (8 bytes); a new thread starts on the top
 * slot of its GCS, which stays zero, then glibc's clone3 calls
 * start_thread() and start_thread() calls the routine.
 */
#define SHSTK_FRAME_BYTES		8
#define SHSTK_THREAD_ENTRY_BYTES	24
#define SHSTK_FRAMES_ENABLE()		SHSTK_ENABLE_HERE()
/* __builtin_trap() is brk here (SIGTRAP): udf is the SIGILL of ud2. */
#define SHSTK_FRAMES_TRAP()		__extension__ ({		\
	__asm__ volatile("udf #0");					\
	__builtin_unreachable();					\
})

static inline __attribute__((always_inline)) uint64_t shstk_frames_ssp(void)
{
	return shstk_get_ssp();
}
#elif defined(__riscv)
#include "shstk_zicfiss.h"

/*
 * RISC-V Zicfiss: a function built with -fcf-protection=return (and
 * -fno-shrink-wrap) that saves ra pushes it (8 bytes) on entry; a new
 * thread starts empty at the top, and glibc's clone3() and start_thread()
 * (Debian's riscv64 glibc is not built with Zicfiss) push nothing, so a
 * thread has used only its routine's own 8 bytes when the routine begins.
 */
#define SHSTK_FRAME_BYTES		8
#define SHSTK_THREAD_ENTRY_BYTES	8
#define SHSTK_FRAMES_ENABLE()		SHSTK_ENABLE_HERE()
/* __builtin_trap() is ebreak here (SIGTRAP): unimp is the SIGILL of ud2. */
#define SHSTK_FRAMES_TRAP()		__extension__ ({		\
	__asm__ volatile("unimp");					\
	__builtin_unreachable();					\
})

static inline __attribute__((always_inline)) uint64_t shstk_frames_ssp(void)
{
	return shstk_get_ssp();
}
#else
#error "give this architecture's shadow-stack frame costs here"
#endif

#endif /* SHSTK_TEST_FRAMES_H */
