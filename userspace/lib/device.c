// SPDX-License-Identifier: MIT
/*
 * The device file descriptor and one wrapper per ioctl. The library fills
 * argsz itself: a caller built against a newer uapi header still passes the
 * size this library was built with, which every module accepts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "shstk.h"
#include "internal.h"

/* -1 until the first call opens the device; the library's only state. */
static int device_fd = -1;

static int device_get_fd(void)
{
	int fd = __atomic_load_n(&device_fd, __ATOMIC_ACQUIRE);
	int unset = -1;

	if (fd >= 0)
		return fd;
	fd = open(SHSTK_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* Two threads may race to open: the first one stored wins. */
	if (!__atomic_compare_exchange_n(&device_fd, &unset, fd, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		close(fd);
		fd = unset;
	}
	return fd;
}

void shstk_close(void)
{
	int fd = __atomic_exchange_n(&device_fd, -1, __ATOMIC_ACQ_REL);

	if (fd >= 0)
		close(fd);
}

int shstk_lib_ioctl(unsigned long cmd, void *arg)
{
	int fd = device_get_fd();

	if (fd < 0)
		return -1;
	return ioctl(fd, cmd, arg) ? -1 : 0;
}

int shstk_info(struct shstk_info *info)
{
	struct shstk_info out = { .argsz = sizeof(out) };

	if (shstk_lib_ioctl(SHSTK_IOC_INFO, &out))
		return -1;
	*info = out;
	return 0;
}

int shstk_alloc(uint64_t size, uint32_t flags, uint64_t *addr, uint64_t *token)
{
	struct shstk_alloc alloc = { .argsz = sizeof(alloc), .flags = flags, .size = size };

	if (shstk_lib_ioctl(SHSTK_IOC_ALLOC, &alloc))
		return -1;
	if (addr)
		*addr = alloc.addr;
	if (token)
		*token = alloc.token;
	return 0;
}

int shstk_usage(pid_t tid, struct shstk_usage *usage)
{
	struct shstk_usage out = { .argsz = sizeof(out), .tid = (__u32)tid };

	/* A negative tid would turn into a huge one: no such thread. */
	if (tid < 0) {
		errno = ESRCH;
		return -1;
	}
	if (shstk_lib_ioctl(SHSTK_IOC_USAGE, &out))
		return -1;
	*usage = out;
	return 0;
}

int shstk_set_clone(uint32_t flags, uint64_t size, uint64_t token)
{
	struct shstk_clone arming = {
		.argsz = sizeof(arming), .flags = flags,
		.shadow_stack_size = size, .shadow_stack_token = token,
	};

	return shstk_lib_ioctl(SHSTK_IOC_SET_CLONE, &arming);
}

int shstk_get_clone(struct shstk_clone *arming)
{
	struct shstk_clone out = { .argsz = sizeof(out) };

	if (shstk_lib_ioctl(SHSTK_IOC_GET_CLONE, &out))
		return -1;
	*arming = out;
	return 0;
}

int shstk_install(pid_t tid, uint64_t size, uint64_t token)
{
	struct shstk_install install = {
		.argsz = sizeof(install), .tid = (__u32)tid,
		.shadow_stack_size = size, .shadow_stack_token = token,
	};

	if (tid < 0) {
		errno = ESRCH;
		return -1;
	}
	return shstk_lib_ioctl(SHSTK_IOC_INSTALL, &install);
}

int shstk_set_policy(const struct shstk_policy *policy)
{
	struct shstk_policy in = *policy;

	in.argsz = sizeof(in);
	return shstk_lib_ioctl(SHSTK_IOC_SET_POLICY, &in);
}

int shstk_get_policy(pid_t pid, struct shstk_policy *policy)
{
	struct shstk_policy out = { .argsz = sizeof(out), .pid = (__u32)pid };

	if (pid < 0) {
		errno = ESRCH;
		return -1;
	}
	if (shstk_lib_ioctl(SHSTK_IOC_GET_POLICY, &out))
		return -1;
	*policy = out;
	return 0;
}

int shstk_enabled(void)
{
#if defined(__x86_64__)
	unsigned long features = 0;

	/* ARCH_SHSTK_STATUS is safe anywhere: it reads, never switches stacks. */
	if (syscall(SYS_arch_prctl, ARCH_SHSTK_STATUS, &features)) {
		/* A kernel built without user shadow stacks does not know the code. */
		return errno == EINVAL ? 0 : -1;
	}
	return !!(features & ARCH_SHSTK_SHSTK);
#elif defined(__aarch64__) || defined(__riscv)
	unsigned long mode = 0;

	/*
	 * A kernel without GCS (or older than 6.13) does not know the option;
	 * on RISC-V, one without Zicfiss (or older than 7.2), or a CPU without.
	 */
	if (prctl(PR_GET_SHADOW_STACK_STATUS, &mode, 0, 0, 0))
		return errno == EINVAL ? 0 : -1;
	return !!(mode & PR_SHADOW_STACK_ENABLE);
#else
	return 0;
#endif
}
