/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RISC-V Zicfiss basics for the tests: libshstk's public shstk_zicfiss.h
 * (userspace/include/), as arch.h takes shstk_cet.h on x86 and gcs.h
 * shstk_gcs.h on arm64: SHSTK_PRCTL(), SHSTK_ENABLE_HERE(),
 * shstk_get_ssp(), the PR_* constants. The tests turn the shadow stack on
 * themselves with prctl(), as on arm64.
 *
 * Unlike x86 and arm64, a call or return does not touch the shadow stack
 * by itself: the compiler pushes and checks return addresses
 * (sspush/sspopchk in every function that saves ra), so the tests are
 * built with -march=rv64gc_zicfiss -fcf-protection=return; code built
 * without (Debian's riscv64 glibc) runs unchecked on a live shadow stack.
 */
#ifndef SHSTK_TEST_ZICFISS_H
#define SHSTK_TEST_ZICFISS_H

#if !defined(__riscv_zicfiss)
#error "build RISC-V tests with -march=rv64gc_zicfiss -fcf-protection=return"
#endif

#include "shstk_zicfiss.h"

#endif /* SHSTK_TEST_ZICFISS_H */
