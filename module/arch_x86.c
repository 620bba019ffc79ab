// SPDX-License-Identifier: GPL-2.0
/*
 * x86-64 CET user shadow stack backend.
 */
#include <linux/kernel.h>
#include <asm/cpufeature.h>

#include <linux/shstk.h>
#include "arch.h"

u32 shstk_arch_id(void)
{
	return SHSTK_ARCH_X86_64;
}

/*
 * X86_FEATURE_USER_SHSTK is set only when the CPU has CET shadow stacks and
 * the kernel was able to enable them (XSAVES with the CET_USER component,
 * not disabled on the command line).
 */
bool shstk_arch_hw_usable(void)
{
	return cpu_feature_enabled(X86_FEATURE_USER_SHSTK);
}

int shstk_arch_init(void)
{
	return 0;
}

void shstk_arch_exit(void)
{
}
