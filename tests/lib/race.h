/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How often each side of a race won, as one "# race: ..." line: a race
 * that never happened (one CPU, or a window too narrow) shows as a zero
 * instead of passing unseen. tests/check gathers these lines from the
 * two-CPU CET guest into its summary. Include after kselftest_harness.h.
 */
#ifndef SHSTK_TEST_RACE_H
#define SHSTK_TEST_RACE_H

#include <time.h>
#include <unistd.h>

#define RACE_REPORT(name, fmt, ...)					\
	ksft_print_msg("race: %s (%ld CPUs): " fmt "\n", name,		\
		       sysconf(_SC_NPROCESSORS_ONLN), ##__VA_ARGS__)

/* CLOCK_MONOTONIC in ns, for "did these two calls overlap in time". */
static inline long long race_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif /* SHSTK_TEST_RACE_H */
