// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl dispatch and the rules every /dev/shstk ioctl shares: argsz and
 * the copy of the argument struct in and out (copy_struct_from_user
 * semantics), and EOPNOTSUPP where user shadow stacks are unavailable.
 * Handlers see a kernel copy of their struct and never touch argsz.
 */
#include <linux/kernel.h>
#include <linux/uaccess.h>

#include <linux/shstk.h>
#include "arch.h"
#include "shstk.h"

/* Large enough for any argument struct this module knows. */
union shstk_ioc_arg {
	struct {
		__u32 argsz;
		__u32 flags;
	} head;
	struct shstk_info info;
	struct shstk_alloc alloc;
	struct shstk_clone clone;
	struct shstk_install install;
	struct shstk_usage usage;
	struct shstk_policy policy;
};

struct shstk_ioc {
	unsigned int cmd;
	u32 ksize;		/* sizeof the struct this module knows */
	u32 min_size;		/* the version-1 size */
	bool needs_hw;		/* EOPNOTSUPP without user shadow stacks */
	bool copy_out;		/* has output fields */
	int (*handler)(union shstk_ioc_arg *arg);
};

static int shstk_ioc_info(union shstk_ioc_arg *arg)
{
	struct shstk_info *info = &arg->info;

	if (info->flags)
		return -EINVAL;

	info->abi_version = SHSTK_ABI_VERSION;
	info->arch = shstk_arch_id();
	info->features = 0;
	if (shstk_arch_hw_usable())
		info->features |= SHSTK_FEAT_HW;
	info->min_size = SHSTK_MIN_SIZE;
	info->max_size = SHSTK_MAX_SIZE;
	info->default_size = 0;
	return 0;
}

#define SHSTK_IOC(_cmd, _type, _ver1, _hw, _out, _fn) {		\
	.cmd = (_cmd), .ksize = sizeof(_type), .min_size = (_ver1),	\
	.needs_hw = (_hw), .copy_out = (_out), .handler = (_fn) }

/*
 * Ioctls not listed here are ENOTTY: an ABI ioctl appears in this table only
 * once it works, never as a stub.
 */
static const struct shstk_ioc shstk_iocs[] = {
	SHSTK_IOC(SHSTK_IOC_INFO, struct shstk_info, SHSTK_INFO_SIZE_VER1,
		  false, true, shstk_ioc_info),
};

static const struct shstk_ioc *shstk_ioc_find(unsigned int cmd)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(shstk_iocs); i++)
		if (shstk_iocs[i].cmd == cmd)
			return &shstk_iocs[i];
	return NULL;
}

long shstk_ioctl(struct file *file, unsigned int cmd, unsigned long uarg)
{
	void __user *uptr = (void __user *)uarg;
	const struct shstk_ioc *ioc;
	union shstk_ioc_arg arg;
	u32 argsz;
	int err;

	ioc = shstk_ioc_find(cmd);
	if (!ioc)
		return -ENOTTY;
	if (ioc->needs_hw && !shstk_arch_hw_usable())
		return -EOPNOTSUPP;

	if (get_user(argsz, (u32 __user *)uptr))
		return -EFAULT;
	if (argsz < ioc->min_size)
		return -EINVAL;

	memset(&arg, 0, sizeof(arg));
	err = copy_struct_from_user(&arg, ioc->ksize, uptr, argsz);
	if (err)
		return err;

	err = ioc->handler(&arg);
	if (err)
		return err;

	/* argsz stays what the caller passed. */
	arg.head.argsz = argsz;
	if (ioc->copy_out && copy_to_user(uptr, &arg, min_t(u32, argsz, ioc->ksize)))
		return -EFAULT;
	return 0;
}
