/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Core declarations shared by the files of the shstk module.
 */
#ifndef SHSTK_CORE_H
#define SHSTK_CORE_H

#include <linux/fs.h>
#include <linux/sizes.h>

/* Size limits of every ioctl, reported by SHSTK_IOC_INFO. */
#define SHSTK_MIN_SIZE	PAGE_SIZE
#define SHSTK_MAX_SIZE	SZ_4G

long shstk_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* SHSTK_CORE_H */
