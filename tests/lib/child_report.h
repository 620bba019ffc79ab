/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reporting from shstk_run() children, where the harness's ASSERTs cannot
 * be used (cet.h says why). The including file defines
 *   static struct report *R;
 * with at least `int line, err;`: a child gives up with CHECK/CHECK_TRUE,
 * the test body asserts with ASSERT_CHILD_OK and says where it gave up.
 */
#ifndef SHSTK_TEST_CHILD_REPORT_H
#define SHSTK_TEST_CHILD_REPORT_H

#include <string.h>
#include <sys/wait.h>

#include "cet.h"

/* In children: give up at this line with this -errno (0: a check failed). */
#define CHECK(expr) do {						\
	long _e = (long)(expr);						\
	if (_e) {							\
		R->line = __LINE__;					\
		R->err = (int)_e;					\
		return 1;						\
	}								\
} while (0)

#define CHECK_TRUE(cond) do {						\
	if (!(cond)) {							\
		R->line = __LINE__;					\
		R->err = 0;						\
		return 1;						\
	}								\
} while (0)

#define NEW_REPORT() do {						\
	R = shstk_shared(sizeof(*R));					\
	ASSERT_NE(NULL, R);						\
} while (0)

/* Runs the child once: status is evaluated once. */
#define ASSERT_CHILD_OK(status) do {					\
	int _st = (status);						\
	ASSERT_TRUE(WIFEXITED(_st)) TH_LOG("child status %#x", _st);	\
	ASSERT_EQ(0, WEXITSTATUS(_st))					\
		TH_LOG("child gave up at line %d: %s", R->line,		\
		       R->err ? strerror(-R->err) : "check failed");	\
} while (0)

#endif /* SHSTK_TEST_CHILD_REPORT_H */
