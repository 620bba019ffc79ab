/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * shstk: control over user shadow-stack allocation, through /dev/shstk.
 *
 * This header is the whole contract between the shstk module and userspace
 * (ABI version 1). It only ever grows: new fields at the end of a struct,
 * new flags, new ioctls.
 *
 * Every argument struct starts with argsz (bytes the caller passes, normally
 * sizeof) and flags. The module accepts any argsz at least the version-1
 * size; bytes beyond what it knows must be zero (else E2BIG), and it writes
 * back min(argsz, known size) bytes. That is why the ioctl numbers below
 * carry no size: the struct can grow without a new number.
 */
#ifndef _UAPI_LINUX_SHSTK_H
#define _UAPI_LINUX_SHSTK_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define SHSTK_DEVICE		"/dev/shstk"
#define SHSTK_ABI_VERSION	1

/* 0xB9 is unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define SHSTK_IOC_MAGIC		0xB9

/* shstk_info.arch */
#define SHSTK_ARCH_X86_64	1	/* x86-64 CET user shadow stack */
#define SHSTK_ARCH_ARM64_GCS	2	/* arm64 Guarded Control Stack */
#define SHSTK_ARCH_RISCV_ZICFISS	3	/* RISC-V Zicfiss shadow stack */

/* shstk_info.features: a bit is set only when that part works here. */
#define SHSTK_FEAT_HW		0x1ULL	/* CPU and kernel run user shadow stacks */
#define SHSTK_FEAT_ALLOC	0x2ULL	/* SHSTK_IOC_ALLOC */
#define SHSTK_FEAT_CLONE_SIZE	0x4ULL	/* SET_CLONE with shadow_stack_size */
#define SHSTK_FEAT_CLONE_TOKEN	0x8ULL	/* SET_CLONE with shadow_stack_token */
#define SHSTK_FEAT_INSTALL	0x10ULL	/* SHSTK_IOC_INSTALL */
#define SHSTK_FEAT_USAGE	0x20ULL	/* SHSTK_IOC_USAGE */
#define SHSTK_FEAT_POLICY	0x40ULL	/* SET_POLICY / GET_POLICY */

struct shstk_info {
	__u32 argsz;
	__u32 flags;		/* in: 0 */
	__u32 abi_version;	/* out: SHSTK_ABI_VERSION */
	__u32 arch;		/* out: SHSTK_ARCH_* */
	__u64 features;		/* out: SHSTK_FEAT_* */
	__u64 min_size;		/* out: smallest size any ioctl accepts */
	__u64 max_size;		/* out: largest size any ioctl accepts */
	__u64 default_size;	/* out: system-wide policy size, 0 = kernel rule */
};

/* shstk_alloc.flags */
#define SHSTK_ALLOC_TOKEN	0x1U	/* write a restore token at the top */

struct shstk_alloc {
	__u32 argsz;
	__u32 flags;		/* in: SHSTK_ALLOC_* */
	__u64 size;		/* in: bytes, rounded up to pages */
	__u64 addr;		/* out: lowest address of the mapping */
	__u64 token;		/* out: address of the restore token, else 0 */
};

/* shstk_clone.flags */
#define SHSTK_CLONE_PERSIST	0x1U	/* arm every later clone, not just the next */
#define SHSTK_CLONE_EXIT_TOKEN	0x2U	/* token arming: rewrite the token at exit */

struct shstk_clone {
	__u32 argsz;
	__u32 flags;			/* SHSTK_CLONE_* */
	__u64 shadow_stack_size;	/* kernel-made stack of this size, or 0 */
	__u64 shadow_stack_token;	/* address of a restore token, or 0 */
};

struct shstk_install {
	__u32 argsz;
	__u32 flags;			/* in: 0 */
	__u32 tid;			/* in: target thread, 0 = caller */
	__u32 reserved;			/* in: 0 */
	__u64 shadow_stack_size;	/* in: as shstk_clone */
	__u64 shadow_stack_token;	/* in: as shstk_clone, in the target's mm */
};

/* shstk_usage.status */
#define SHSTK_STATUS_ENABLED		0x1U
#define SHSTK_STATUS_LOCKED		0x2U
#define SHSTK_STATUS_INSTALL_PENDING	0x4U

/* shstk_usage.origin: who chose the thread's current shadow stack */
#define SHSTK_ORIGIN_NONE	0	/* no shadow stack */
#define SHSTK_ORIGIN_KERNEL	1	/* the kernel's default rule */
#define SHSTK_ORIGIN_SIZED	2	/* a size chosen through shstk */
#define SHSTK_ORIGIN_TOKEN	3	/* a caller-made stack (restore token) */

struct shstk_usage {
	__u32 argsz;
	__u32 flags;		/* in: 0 */
	__u32 tid;		/* in: thread, 0 = caller */
	__u32 status;		/* out: SHSTK_STATUS_* */
	__u64 base;		/* out: lowest address of the shadow stack */
	__u64 size;		/* out: bytes */
	__u64 ssp;		/* out: current (or saved) shadow-stack pointer */
	__u64 used;		/* out: top - ssp */
	__u64 peak;		/* out: deepest use ever, exact to 8 bytes */
	__u64 resident;		/* out: bytes backed by memory */
	__u32 origin;		/* out: SHSTK_ORIGIN_* */
	__s32 install_errno;	/* out: errno (positive) of a failed SHSTK_IOC_INSTALL, else 0 */
};

/* shstk_policy.mode */
#define SHSTK_POLICY_KERNEL	0	/* the kernel's own rule */
#define SHSTK_POLICY_FIXED	1	/* size bytes */
#define SHSTK_POLICY_RATIO	2	/* stack size / ratio, clamped to [min_size, max_size] */

/* shstk_policy.flags */
#define SHSTK_POLICY_INHERIT	0x1U	/* fork children inherit the policy */

struct shstk_policy {
	__u32 argsz;
	__u32 flags;		/* SHSTK_POLICY_INHERIT */
	__u32 pid;		/* in: process, 0 = caller's */
	__u32 mode;		/* SHSTK_POLICY_* */
	__u64 size;		/* FIXED: bytes */
	__u32 ratio;		/* RATIO: power of two, 1..64 */
	__u32 reserved;		/* 0 */
	__u64 min_size;		/* RATIO: lower clamp */
	__u64 max_size;		/* RATIO: upper clamp */
};

/* Version-1 sizes: an argsz below these is EINVAL. */
#define SHSTK_INFO_SIZE_VER1	48
#define SHSTK_ALLOC_SIZE_VER1	32
#define SHSTK_CLONE_SIZE_VER1	24
#define SHSTK_INSTALL_SIZE_VER1	32
#define SHSTK_USAGE_SIZE_VER1	72
#define SHSTK_POLICY_SIZE_VER1	48

#define SHSTK_IOC_INFO		_IO(SHSTK_IOC_MAGIC, 0x00)	/* struct shstk_info */
#define SHSTK_IOC_ALLOC		_IO(SHSTK_IOC_MAGIC, 0x01)	/* struct shstk_alloc */
#define SHSTK_IOC_SET_CLONE	_IO(SHSTK_IOC_MAGIC, 0x02)	/* struct shstk_clone */
#define SHSTK_IOC_GET_CLONE	_IO(SHSTK_IOC_MAGIC, 0x03)	/* struct shstk_clone */
#define SHSTK_IOC_INSTALL	_IO(SHSTK_IOC_MAGIC, 0x04)	/* struct shstk_install */
#define SHSTK_IOC_USAGE		_IO(SHSTK_IOC_MAGIC, 0x05)	/* struct shstk_usage */
#define SHSTK_IOC_SET_POLICY	_IO(SHSTK_IOC_MAGIC, 0x06)	/* struct shstk_policy */
#define SHSTK_IOC_GET_POLICY	_IO(SHSTK_IOC_MAGIC, 0x07)	/* struct shstk_policy */

#endif /* _UAPI_LINUX_SHSTK_H */
