/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Skip rules shared by the tests; include after kselftest_harness.h.
 *
 * A test that needs user shadow stacks SKIPs only where the CPU or kernel
 * has none (the QEMU guest). It never skips because the module lacks a
 * feature: in the CET guest an unimplemented ioctl (ENOTTY) must fail.
 */
#ifndef SHSTK_TEST_REQUIRE_H
#define SHSTK_TEST_REQUIRE_H

#include <stdio.h>

#include "cet.h"
#include "ioc.h"

#define REQUIRE_SHSTK() do {						\
	if (!shstk_hw_available())					\
		SKIP(return, "no user shadow stacks on this CPU/kernel");	\
} while (0)

/* With the hardware there, INFO must advertise what this file tests. */
#define ASSERT_FEATURE(feat) do {					\
	struct shstk_info _info;					\
	REQUIRE_SHSTK();						\
	ASSERT_EQ(0, shstk_info_get(&_info));				\
	EXPECT_TRUE(_info.features & (feat))				\
		TH_LOG("INFO features %#llx lack " #feat,		\
		       (unsigned long long)_info.features);		\
} while (0)

/*
 * Without the hardware, an ioctl other than INFO must be EOPNOTSUPP. With
 * it, there is nothing to check here (and no skip: the CET guest counts a
 * skip as a failure).
 */
#define ASSERT_EOPNOTSUPP_WITHOUT_HW(cmd, arg) do {			\
	int _fd = shstk_dev_open();					\
	ASSERT_LE(0, _fd) TH_LOG("open %s: %s", SHSTK_DEVICE, strerror(errno)); \
	if (shstk_features() & SHSTK_FEAT_HW) {				\
		TH_LOG("user shadow stacks present: nothing to check"); \
	} else {							\
		EXPECT_EQ(-EOPNOTSUPP, shstk_ioc(_fd, (cmd), (arg))) TH_LOG(#cmd); \
	}								\
	close(_fd);							\
} while (0)

/*
 * For tests of the kernel's own sizing rule: no system-wide policy (module
 * parameter) may replace it. A leftover from another test or a --params
 * run would otherwise look like a sizing bug.
 */
#define ASSERT_KERNEL_RULE() do {					\
	struct shstk_info _info;					\
	FILE *_f;							\
	unsigned int _ratio = 0;					\
	ASSERT_EQ(0, shstk_info_get(&_info));				\
	ASSERT_EQ(0, _info.default_size)				\
		TH_LOG("a system-wide default size is set; this test needs the kernel's rule"); \
	/* INFO's default_size is 0 for a ratio default too. */	\
	_f = fopen("/sys/module/shstk/parameters/default_ratio", "r");	\
	if (_f) {							\
		if (fscanf(_f, "%u", &_ratio) != 1)			\
			_ratio = 0;					\
		fclose(_f);						\
	}								\
	ASSERT_EQ(0, _ratio)						\
		TH_LOG("a system-wide default ratio is set; this test needs the kernel's rule"); \
} while (0)

#endif /* SHSTK_TEST_REQUIRE_H */
