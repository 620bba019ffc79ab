/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version differences, in one place (as wireguard-linux-compat keeps
 * its shims apart): the rest of the module is written against the newest
 * kernel's names, and this file gives older kernels those names.
 *
 * Tested kernels: Debian's 6.12 (bookworm-backports/trixie), 7.2 (sid) and
 * 7.3 (trixie-backports); the cut-over versions are those of the upstream
 * commits named below.
 */
#ifndef SHSTK_COMPAT_H
#define SHSTK_COMPAT_H

#include <linux/version.h>

#ifdef CONFIG_X86_64
#include <asm/msr.h>
#include <linux/sched.h>
#include <asm/processor.h>

/* 6.16 renamed rdmsrl()/wrmsrl() to rdmsrq()/wrmsrq() ("x86/msr: Rename ..."). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 16, 0)
#define rdmsrq(msr, val)	rdmsrl(msr, val)
#define wrmsrq(msr, val)	wrmsrl(msr, val)

#endif

/*
 * 6.16 moved struct fpu out of thread_struct to just after the task_struct
 * ("x86/fpu: Make task_struct::thread constant size"). x86_task_fpu() says
 * where, but with CONFIG_X86_DEBUG_FPU (Debian's 7.x) it is an unexported
 * function, so this is its non-debug form.
 */
static inline struct fpu *shstk_task_fpu(struct task_struct *t)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 16, 0)
	return &t->thread.fpu;
#else
	return (struct fpu *)((void *)t + sizeof(*t));
#endif
}

/*
 * 6.18 made clone flags u64 everywhere ("treewide: change clone_flags type
 * to u64"), shstk_alloc_thread_stack() included.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 18, 0)
typedef unsigned long shstk_clone_flags_t;
#else
typedef u64 shstk_clone_flags_t;
#endif
#endif /* CONFIG_X86_64 */

#endif /* SHSTK_COMPAT_H */
