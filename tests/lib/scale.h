/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SHSTK_TEST_SCALE=N in the environment divides the length of the long
 * loops (10,000 processes or clones) by N. Only the debug-kernel run
 * (make check-debug) sets it: under KASAN, lockdep and kmemleak in Bochs a
 * fork costs about a hundred times more, and the point there is to run
 * every path under the checkers, not to repeat it 10,000 times. The
 * normal runs use the full counts.
 */
#ifndef SHSTK_TEST_SCALE_H
#define SHSTK_TEST_SCALE_H

#include <stdlib.h>

static inline long test_scaled(long n)
{
	const char *s = getenv("SHSTK_TEST_SCALE");
	long div = s ? atol(s) : 1;

	if (div < 1)
		div = 1;
	return n / div > 0 ? n / div : 1;
}

#endif /* SHSTK_TEST_SCALE_H */
