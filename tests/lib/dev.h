/* SPDX-License-Identifier: GPL-2.0 */
/* Raw access to /dev/shstk for the tests: no library in between. */
#ifndef SHSTK_TEST_DEV_H
#define SHSTK_TEST_DEV_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/shstk.h>

static inline int shstk_dev_open(void)
{
	return open(SHSTK_DEVICE, O_RDWR | O_CLOEXEC);
}

/* ioctl() that returns 0 or -errno, so tests can compare in one line. */
static inline int shstk_ioc(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

#endif /* SHSTK_TEST_DEV_H */
