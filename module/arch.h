/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The arch backend interface. The core (device, ioctl rules, policies)
 * never touches CPU registers, xstate or token formats itself: it asks the
 * backend through these functions. x86 CET implements them in arch_x86.c;
 * an arm64 GCS backend would implement the same set in arch_arm64.c.
 */
#ifndef SHSTK_ARCH_H
#define SHSTK_ARCH_H

#include <linux/types.h>

/* SHSTK_ARCH_* value reported by SHSTK_IOC_INFO. */
u32 shstk_arch_id(void);

/* True when both the CPU and the running kernel support user shadow stacks. */
bool shstk_arch_hw_usable(void);

/* Called once at module load and unload; init may fail the load. */
int shstk_arch_init(void);
void shstk_arch_exit(void);

#endif /* SHSTK_ARCH_H */
