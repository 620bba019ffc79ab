// SPDX-License-Identifier: GPL-2.0
/*
 * arm64 Guarded Control Stack (GCS) backend.
 *
 * Linux (6.13+, CONFIG_ARM64_GCS) makes a new thread's GCS in
 * gcs_alloc_thread_stack() (arch/arm64/mm/gcs.c), called last in
 * copy_thread(): it maps PAGE_ALIGN(stack_size / 2), or by default
 * min(RLIMIT_STACK / 2, 2 GiB), records the stack in thread.gcs_base and
 * gcs_size, and sets the child's saved GCSPR_EL0 (thread.gcspr_el0) to the
 * top slot, which stays zero; for a fork or vfork it makes nothing and
 * only saves the parent's GCSPR for the child. Its return value only
 * says whether it failed. gcs_free() drops a thread's stack, from deactivate_mm() when a
 * thread exits or execs (current is the thread). Unlike x86, nothing
 * drops it when copy_process() fails after copy_thread(): exit_thread()
 * does nothing on arm64, so the kernel leaves that stack mapped. For a
 * stack shstk made or a token it consumed, sched_cancel_fork(), which
 * that failure path always runs (in the parent), is hooked to give them
 * back. copy_thread() itself cannot fail after the GCS is made, so it is
 * not hooked. As on x86, the decisions are clone.c's.
 *
 * GCSPR_EL0 is live in the register for current and saved in
 * thread.gcspr_el0 when a task leaves a CPU (gcs_thread_switch()).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/preempt.h>
#include <linux/prctl.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/static_call.h>
#include <asm/cpufeature.h>
#include <asm/gcs.h>
#include <asm/sysreg.h>

#include "arch.h"
#include "compat.h"
#include "hook.h"
#include "shstk.h"

/*
 * The kernel's own functions, found with kallsyms and called through
 * static calls, as on x86 (ksyms.c).
 */
typedef long arm64_syscall_fn(const struct pt_regs *regs);	/* __arm64_sys_*() */
typedef unsigned long arm64_gcs_alloc_fn(struct task_struct *tsk,
					 const struct kernel_clone_args *args);
typedef void arm64_gcs_free_fn(struct task_struct *tsk);
typedef void arm64_sched_cancel_fork_fn(struct task_struct *p);
static_assert(__same_type(gcs_alloc_thread_stack, arm64_gcs_alloc_fn));
static_assert(__same_type(gcs_free, arm64_gcs_free_fn));
static_assert(__same_type(sched_cancel_fork, arm64_sched_cancel_fork_fn));
DEFINE_STATIC_CALL_NULL(arm64_gcs_alloc, arm64_gcs_alloc_fn);
DEFINE_STATIC_CALL_NULL(arm64_gcs_free, arm64_gcs_free_fn);
DEFINE_STATIC_CALL_NULL(arm64_sched_cancel_fork, arm64_sched_cancel_fork_fn);
DEFINE_STATIC_CALL_NULL(arm64_map_shadow_stack, arm64_syscall_fn);

u32 shstk_arch_id(void)
{
	return SHSTK_ARCH_ARM64_GCS;
}

/* The CPU has GCS (FEAT_GCS) and the kernel turned it on for EL0. */
bool shstk_arch_hw_usable(void)
{
	return system_supports_gcs();
}

bool shstk_arch_enabled(struct task_struct *t)
{
	return task_gcs_el0_enabled(t);
}

/* The GCSPR_EL0 of t: the register for current, else the copy saved at its last switch. */
static u64 arm64_task_gcspr(struct task_struct *t)
{
	if (t == current)
		return read_sysreg_s(SYS_GCSPR_EL0);
	return READ_ONCE(t->thread.gcspr_el0);
}

void shstk_arch_thread(struct task_struct *t, struct shstk_arch_thread *st)
{
	memset(st, 0, sizeof(*st));
	st->enabled = shstk_arch_enabled(t);
	st->locked = t->thread.gcs_el0_locked & PR_SHADOW_STACK_ENABLE;
	if (!st->enabled)
		return;
	st->base = t->thread.gcs_base;
	st->size = t->thread.gcs_size;
	st->ssp = arm64_task_gcspr(t);
}

int shstk_arch_switch_current(u64 ssp, u64 base, u64 size)
{
	/* No switch in between: it would save the register over the new copy. */
	preempt_disable();
	write_sysreg_s(ssp, SYS_GCSPR_EL0);
	current->thread.gcspr_el0 = ssp;
	preempt_enable();
	current->thread.gcs_base = base;
	current->thread.gcs_size = size;
	return 0;
}

/* As gcs_alloc_thread_stack() starts a thread: on the top slot, which stays zero. */
unsigned long shstk_arch_empty_ssp(unsigned long base, unsigned long size)
{
	return base + size - 8;
}

/*
 * A GCS cap token holds the page address of its own slot with the valid
 * bit (GCS_CAP(), as map_shadow_stack() writes it). A thread started from
 * one starts just above it, as in the upstream clone3 shadow_stack_token
 * series (v23) for arm64.
 */
u64 shstk_arch_token_value(unsigned long token_addr)
{
	return GCS_CAP(token_addr);
}

unsigned long shstk_arch_token_ssp(unsigned long token_addr)
{
	return token_addr + 8;
}

/* The map_shadow_stack() syscall itself, so mappings are exactly its. */
long shstk_arch_map(unsigned long size, bool token)
{
	struct pt_regs regs = {};

	regs.regs[0] = 0;
	regs.regs[1] = size;
	regs.regs[2] = token ? SHADOW_STACK_SET_TOKEN : 0;
	return static_call(arm64_map_shadow_stack)(&regs);
}

/*
 * gcs_alloc_thread_stack() sizes the stack from args->stack_size / 2: a
 * chosen size goes in as a copy of the args with twice that stack size.
 * It sets the child's GCSPR itself and returns the stack's base (0 for a
 * clone that keeps the parent's GCS).
 */
unsigned long shstk_arch_kernel_alloc(struct task_struct *child,
				      const struct kernel_clone_args *args, unsigned long size)
{
	struct kernel_clone_args sized;

	if (size) {
		sized = *args;
		sized.stack_size = 2 * size;
		args = &sized;
	}
	return static_call(arm64_gcs_alloc)(child, args);
}

void shstk_arch_kernel_free(struct task_struct *tsk)
{
	static_call(arm64_gcs_free)(tsk);
}

/*
 * base 0 tells gcs_free() the stack is not the kernel's to unmap. The
 * kernel starts the child from thread.gcspr_el0, and takes any value but
 * an error from the allocator as success.
 */
unsigned long shstk_arch_token_stack(struct task_struct *child, unsigned long ssp)
{
	child->thread.gcs_base = 0;
	child->thread.gcs_size = 0;
	child->thread.gcspr_el0 = ssp;
	return ssp;
}

/* Replacement of gcs_alloc_thread_stack(). */
static unsigned long arm64_gcs_alloc_hooked(struct task_struct *tsk,
					    const struct kernel_clone_args *args)
{
	unsigned long ret = shstk_clone_alloc(tsk, args);

	shstk_hook_done();
	return ret;
}

static void notrace arm64_gcs_alloc_handler(unsigned long ip, unsigned long parent_ip,
					    struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	const struct kernel_clone_args *args;

	if (shstk_hook_from_self(parent_ip))
		return;
	args = (const struct kernel_clone_args *)ftrace_regs_get_argument(fregs, 1);
	if (shstk_clone_wanted((struct task_struct *)ftrace_regs_get_argument(fregs, 0),
			       args->flags))
		shstk_hook_redirect(fregs, arm64_gcs_alloc_hooked);
}

/*
 * Replacement of sched_cancel_fork(), for a failing clone whose child
 * shstk gave a stack: the kernel would leave a sized stack mapped.
 */
static void arm64_cancel_fork_hooked(struct task_struct *p)
{
	shstk_clone_stack_free(p);
	static_call(arm64_sched_cancel_fork)(p);
	shstk_hook_done();
}

static void notrace arm64_cancel_fork_handler(unsigned long ip, unsigned long parent_ip,
					      struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct task_struct *p = (struct task_struct *)ftrace_regs_get_argument(fregs, 0);

	if (shstk_hook_from_self(parent_ip))
		return;
	if (shstk_task_known(p))
		shstk_hook_redirect(fregs, arm64_cancel_fork_hooked);
}

/* Replacement of gcs_free() (exit, exec). */
static void arm64_gcs_free_hooked(struct task_struct *tsk)
{
	shstk_clone_stack_free(tsk);
	shstk_hook_done();
}

static void notrace arm64_gcs_free_handler(unsigned long ip, unsigned long parent_ip,
					   struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct task_struct *tsk = (struct task_struct *)ftrace_regs_get_argument(fregs, 0);

	if (shstk_hook_from_self(parent_ip))
		return;
	/* Only deactivate_mm() calls it, for current. */
	if (tsk == current && shstk_task_known(tsk))
		shstk_hook_redirect(fregs, arm64_gcs_free_hooked);
}

struct shstk_hook shstk_arch_hooks[] = {
	{ .name = "gcs_free", .handler = arm64_gcs_free_handler, .redirects = true },
	{ .name = "sched_cancel_fork", .handler = arm64_cancel_fork_handler, .redirects = true },
	{ .name = "gcs_alloc_thread_stack", .handler = arm64_gcs_alloc_handler,
	  .redirects = true },
};

const size_t shstk_arch_nr_hooks = ARRAY_SIZE(shstk_arch_hooks);

int shstk_arch_init(u64 *features)
{
	unsigned long map, alloc, free, cancel;

	*features = 0;
	if (!shstk_arch_hw_usable())
		return 0;
	/* The thread state is in the task struct: nothing to look up. */
	*features |= SHSTK_FEAT_HW | SHSTK_FEAT_USAGE;

	map = shstk_ksym("__arm64_sys_map_shadow_stack");
	if (map) {
		static_call_update(arm64_map_shadow_stack, (arm64_syscall_fn *)map);
		*features |= SHSTK_FEAT_ALLOC;
	}

	alloc = shstk_ksym("gcs_alloc_thread_stack");
	free = shstk_ksym("gcs_free");
	cancel = shstk_ksym("sched_cancel_fork");
	if (!alloc || !free || !cancel)
		return 0;
	static_call_update(arm64_gcs_alloc, (arm64_gcs_alloc_fn *)alloc);
	static_call_update(arm64_gcs_free, (arm64_gcs_free_fn *)free);
	static_call_update(arm64_sched_cancel_fork, (arm64_sched_cancel_fork_fn *)cancel);
	/* The hooks are clone.c's to prepare and register. */
	*features |= SHSTK_FEAT_CLONE_SIZE | SHSTK_FEAT_CLONE_TOKEN;
	return 0;
}
