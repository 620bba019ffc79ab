// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl dispatch and the rules every /dev/shstk ioctl shares: argsz and
 * the copy of the argument struct in and out (copy_struct_from_user
 * semantics), and EOPNOTSUPP for a feature that does not work here (no
 * user shadow stacks on this CPU or kernel). Handlers see a kernel copy of
 * their struct and never touch argsz; a handler that makes something must
 * be able to undo it if the result cannot be written back.
 */
#include <linux/kernel.h>
#include <linux/uaccess.h>

#include "arch.h"
#include "shstk.h"

struct shstk_ioc {
	unsigned int cmd;
	u32 ksize;		/* sizeof the struct this module knows */
	u32 min_size;		/* the version-1 size */
	u64 feature;		/* SHSTK_FEAT_* it needs; EOPNOTSUPP without */
	bool copy_out;		/* has output fields */
	int (*handler)(union shstk_ioc_arg *arg);
	void (*undo)(union shstk_ioc_arg *arg);	/* copy-out failed after success */
};

int shstk_check_size(u64 size)
{
	if (size < SHSTK_MIN_SIZE || size > SHSTK_MAX_SIZE || !IS_ALIGNED(size, 8))
		return -EINVAL;
	return 0;
}

static int shstk_ioc_info(union shstk_ioc_arg *arg)
{
	struct shstk_info *info = &arg->info;

	if (info->flags)
		return -EINVAL;

	info->abi_version = SHSTK_ABI_VERSION;
	info->arch = shstk_arch_id();
	info->features = shstk_features;
	info->min_size = SHSTK_MIN_SIZE;
	info->max_size = SHSTK_MAX_SIZE;
	info->default_size = shstk_policy_default_size();
	return 0;
}

#define SHSTK_IOC(_cmd, _type, _ver1, _feat, _out, _fn, _undo) {	\
	.cmd = (_cmd), .ksize = sizeof(_type), .min_size = (_ver1),	\
	.feature = (_feat), .copy_out = (_out), .handler = (_fn), .undo = (_undo) }

/*
 * Ioctls not listed here are ENOTTY: an ABI ioctl appears in this table only
 * once it works, never as a stub.
 */
static const struct shstk_ioc shstk_iocs[] = {
	SHSTK_IOC(SHSTK_IOC_INFO, struct shstk_info, SHSTK_INFO_SIZE_VER1,
		  0, true, shstk_ioc_info, NULL),
	SHSTK_IOC(SHSTK_IOC_ALLOC, struct shstk_alloc, SHSTK_ALLOC_SIZE_VER1,
		  SHSTK_FEAT_ALLOC, true, shstk_ioc_alloc, shstk_ioc_alloc_undo),
	SHSTK_IOC(SHSTK_IOC_SET_CLONE, struct shstk_clone, SHSTK_CLONE_SIZE_VER1,
		  SHSTK_FEAT_CLONE_SIZE, false, shstk_ioc_set_clone, NULL),
	SHSTK_IOC(SHSTK_IOC_GET_CLONE, struct shstk_clone, SHSTK_CLONE_SIZE_VER1,
		  SHSTK_FEAT_CLONE_SIZE, true, shstk_ioc_get_clone, NULL),
	SHSTK_IOC(SHSTK_IOC_INSTALL, struct shstk_install, SHSTK_INSTALL_SIZE_VER1,
		  SHSTK_FEAT_INSTALL, false, shstk_ioc_install, NULL),
	SHSTK_IOC(SHSTK_IOC_USAGE, struct shstk_usage, SHSTK_USAGE_SIZE_VER1,
		  SHSTK_FEAT_USAGE, true, shstk_ioc_usage, NULL),
	SHSTK_IOC(SHSTK_IOC_SET_POLICY, struct shstk_policy, SHSTK_POLICY_SIZE_VER1,
		  SHSTK_FEAT_POLICY, false, shstk_ioc_set_policy, NULL),
	SHSTK_IOC(SHSTK_IOC_GET_POLICY, struct shstk_policy, SHSTK_POLICY_SIZE_VER1,
		  SHSTK_FEAT_POLICY, true, shstk_ioc_get_policy, NULL),
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
	if ((ioc->feature & shstk_features) != ioc->feature)
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
	if (ioc->copy_out && copy_to_user(uptr, &arg, min_t(u32, argsz, ioc->ksize))) {
		if (ioc->undo)
			ioc->undo(&arg);
		return -EFAULT;
	}
	return 0;
}
