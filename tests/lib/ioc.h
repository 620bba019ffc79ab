/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One-line wrappers around the /dev/shstk ioctls, returning 0 or -errno.
 * They use glibc's ioctl() (errno): fine in the test body, in shstk_run()
 * children and in pthreads; not in lib/clone3.h threads (use lib/raw.h).
 */
#ifndef SHSTK_TEST_IOC_H
#define SHSTK_TEST_IOC_H

#include <stdint.h>
#include <unistd.h>

#include "arch.h"
#include "dev.h"

#define PAGE_SZ		4096UL
#define PAGE_ALIGN_UP(x)	(((x) + PAGE_SZ - 1) & ~(PAGE_SZ - 1))
#define SZ_1G		(1ULL << 30)

/* INFO through a fresh descriptor; 0 or -errno. */
static inline int shstk_info_get(struct shstk_info *info)
{
	int fd = shstk_dev_open(), ret;

	memset(info, 0, sizeof(*info));
	if (fd < 0)
		return -errno;
	info->argsz = sizeof(*info);
	ret = shstk_ioc(fd, SHSTK_IOC_INFO, info);
	close(fd);
	return ret;
}

/* Features INFO reports, 0 if it cannot be asked. */
static inline uint64_t shstk_features(void)
{
	struct shstk_info info;

	return shstk_info_get(&info) ? 0 : info.features;
}

static inline int shstk_alloc(int fd, uint64_t size, uint32_t flags, struct shstk_alloc *a)
{
	memset(a, 0, sizeof(*a));
	a->argsz = sizeof(*a);
	a->flags = flags;
	a->size = size;
	return shstk_ioc(fd, SHSTK_IOC_ALLOC, a);
}

static inline int shstk_set_clone(int fd, uint32_t flags, uint64_t size, uint64_t token)
{
	struct shstk_clone c = {
		.argsz = sizeof(c), .flags = flags,
		.shadow_stack_size = size, .shadow_stack_token = token,
	};

	return shstk_ioc(fd, SHSTK_IOC_SET_CLONE, &c);
}

static inline int shstk_get_clone(int fd, struct shstk_clone *c)
{
	memset(c, 0, sizeof(*c));
	c->argsz = sizeof(*c);
	return shstk_ioc(fd, SHSTK_IOC_GET_CLONE, c);
}

static inline int shstk_usage(int fd, uint32_t tid, struct shstk_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->argsz = sizeof(*u);
	u->tid = tid;
	return shstk_ioc(fd, SHSTK_IOC_USAGE, u);
}

#endif /* SHSTK_TEST_IOC_H */
