/* SPDX-License-Identifier: GPL-2.0 */
/* Shadow-stack work with a known footprint. */
#ifndef SHSTK_TEST_WORK_H
#define SHSTK_TEST_WORK_H

#include <stdint.h>

#include "arch.h"

/*
 * Recurse n levels and return the SSP at the deepest one. Each level pushes
 * exactly one shadow-stack entry (its return address), so the result is
 * SSP(caller) - 8 * (n + 1), where SSP(caller) is read in the calling
 * frame. The empty asm after the call keeps the compiler from turning the
 * recursion into a loop or a tail call.
 */
static uint64_t __attribute__((noinline, unused)) shstk_recurse(unsigned long n)
{
	uint64_t deepest;

	if (!n)
		return shstk_get_ssp();
	deepest = shstk_recurse(n - 1);
	__asm__ volatile("" : "+r"(deepest) : : "memory");
	return deepest;
}

#endif /* SHSTK_TEST_WORK_H */
