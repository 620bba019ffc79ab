// SPDX-License-Identifier: GPL-2.0
/*
 * x86-64 CET user shadow stack backend.
 *
 * Linux 6.12 makes a new thread's shadow stack in shstk_alloc_thread_stack()
 * (arch/x86/kernel/shstk.c), called from copy_thread() before the child can
 * run; its return value becomes the child's SSP. shstk_free() drops a
 * thread's stack: from mm_release() when a thread exits or execs (current
 * is the thread, past its last user instruction, before its tid is
 * cleared) and from exit_thread() when copy_process() fails after
 * copy_thread() (current is the parent). When copy_thread() itself fails
 * after making the stack (set_new_tls() refuses a CLONE_SETTLS value),
 * copy_process() skips exit_thread(): the kernel leaks its own stack
 * there, so copy_thread() is hooked too, to give back what shstk made.
 * None of these is exported; all are hooked with ftrace (hook.h) and
 * redirected to replacements below only when shstk has something to do
 * (clone.c decides), so an unarmed clone costs one handler call per hook.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/mman.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/static_call.h>
#include <asm/cpufeature.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>
#include <asm/msr.h>
#include <asm/prctl.h>
#include <asm/shstk.h>
#include <asm/unistd.h>

#include "arch.h"
#include "compat.h"
#include "hook.h"
#include "shstk.h"

/*
 * The kernel's own functions, found with kallsyms and called through
 * static calls (ksyms.c says why not through pointers).
 */
typedef long x86_syscall_fn(const struct pt_regs *regs);	/* __x64_sys_*() */
typedef unsigned long x86_alloc_thread_stack_fn(struct task_struct *tsk,
						shstk_clone_flags_t clone_flags,
						unsigned long stack_size);
typedef void x86_shstk_free_fn(struct task_struct *tsk);
typedef int x86_copy_thread_fn(struct task_struct *p, const struct kernel_clone_args *args);
/* Exported to KVM only since 6.16; looked up here on every kernel alike. */
typedef void *(x86_get_xsave_addr_fn)(struct xregs_state *xsave, int xfeature_nr);
static_assert(__same_type(shstk_alloc_thread_stack, x86_alloc_thread_stack_fn));
static_assert(__same_type(shstk_free, x86_shstk_free_fn));
static_assert(__same_type(copy_thread, x86_copy_thread_fn));
static_assert(__same_type(get_xsave_addr, x86_get_xsave_addr_fn));
DEFINE_STATIC_CALL_NULL(x86_alloc_thread_stack, x86_alloc_thread_stack_fn);
DEFINE_STATIC_CALL_NULL(x86_shstk_free, x86_shstk_free_fn);
DEFINE_STATIC_CALL_NULL(x86_copy_thread, x86_copy_thread_fn);
DEFINE_STATIC_CALL_NULL(x86_map_shadow_stack, x86_syscall_fn);
DEFINE_STATIC_CALL_NULL(x86_get_xsave_addr, x86_get_xsave_addr_fn);

u32 shstk_arch_id(void)
{
	return SHSTK_ARCH_X86_64;
}

/*
 * X86_FEATURE_USER_SHSTK is set only when the CPU has CET shadow stacks and
 * the kernel was able to enable them (XSAVES with the CET_USER component,
 * not disabled on the command line).
 */
bool shstk_arch_hw_usable(void)
{
	return cpu_feature_enabled(X86_FEATURE_USER_SHSTK);
}

bool shstk_arch_enabled(struct task_struct *t)
{
	return t->thread.features & ARCH_SHSTK_SHSTK;
}

/* t's saved CET user state; NULL while it is in its init state (SSP 0). */
static struct cet_user_state *x86_saved_cet(struct task_struct *t)
{
	return static_call(x86_get_xsave_addr)(&shstk_task_fpu(t)->fpstate->regs.xsave,
					       XFEATURE_CET_USER);
}

/*
 * The user SSP of t. For current it may be live in the MSR (the xstate
 * copy is stale then); for any other task the xstate copy is the one saved
 * when it last left a CPU.
 */
static u64 x86_task_ssp(struct task_struct *t)
{
	struct cet_user_state *cet;
	u64 ssp = 0;

	if (t == current) {
		fpregs_lock();
		if (!test_thread_flag(TIF_NEED_FPU_LOAD)) {
			rdmsrq(MSR_IA32_PL3_SSP, ssp);
			fpregs_unlock();
			return ssp;
		}
	}
	cet = x86_saved_cet(t);
	if (cet)
		ssp = READ_ONCE(cet->user_ssp);
	if (t == current)
		fpregs_unlock();
	return ssp;
}

void shstk_arch_thread(struct task_struct *t, struct shstk_arch_thread *st)
{
	memset(st, 0, sizeof(*st));
	st->enabled = shstk_arch_enabled(t);
	st->locked = t->thread.features_locked & ARCH_SHSTK_SHSTK;
	if (!st->enabled)
		return;
	st->base = t->thread.shstk.base;
	st->size = t->thread.shstk.size;
	st->ssp = x86_task_ssp(t);
}

int shstk_arch_switch_current(u64 ssp, u64 base, u64 size)
{
	struct cet_user_state *cet;

	fpregs_lock();
	if (test_thread_flag(TIF_NEED_FPU_LOAD)) {
		/* The registers are loaded from here on the way to user mode. */
		cet = x86_saved_cet(current);
		if (!cet) {
			fpregs_unlock();
			return -EINVAL;
		}
		cet->user_ssp = ssp;
	} else {
		wrmsrq(MSR_IA32_PL3_SSP, ssp);
	}
	fpregs_unlock();
	current->thread.shstk.base = base;
	current->thread.shstk.size = size;
	return 0;
}

/* An empty shadow stack has SSP at its very top. */
unsigned long shstk_arch_empty_ssp(unsigned long base, unsigned long size)
{
	return base + size;
}

/* A 64-bit restore token holds the SSP above it, with bit 0 set. */
u64 shstk_arch_token_value(unsigned long token_addr)
{
	return (token_addr + 8) | BIT(0);
}

unsigned long shstk_arch_token_ssp(unsigned long token_addr)
{
	return token_addr + 8;
}

/*
 * The map_shadow_stack() syscall itself, so mappings are exactly its.
 * mmap places them in the 32-bit area for an x32 syscall, which
 * in_x32_syscall() reads from the user regs' orig_ax; outside a syscall
 * (INSTALL's task work after an interrupt) that is -1, x32 bit included.
 * So the call runs as the syscall it is, and orig_ax is put back for the
 * signal-restart code that reads it on the way out.
 */
long shstk_arch_map(unsigned long size, bool token)
{
	struct pt_regs *user_regs = task_pt_regs(current);
	unsigned long orig_ax = user_regs->orig_ax;
	struct pt_regs regs = {
		.di = 0,
		.si = size,
		.dx = token ? SHADOW_STACK_SET_TOKEN : 0,
	};
	long addr;

	user_regs->orig_ax = __NR_map_shadow_stack;
	addr = static_call(x86_map_shadow_stack)(&regs);
	user_regs->orig_ax = orig_ax;
	return addr;
}

/* x86's allocator returns the child's SSP. */
unsigned long shstk_arch_kernel_alloc(struct task_struct *child,
				      const struct kernel_clone_args *args, unsigned long size)
{
	return static_call(x86_alloc_thread_stack)(child, args->flags, size ?: args->stack_size);
}

void shstk_arch_kernel_free(struct task_struct *tsk)
{
	static_call(x86_shstk_free)(tsk);
}

/* base 0 tells shstk_free() and shstk_disable() the stack is not theirs. */
unsigned long shstk_arch_token_stack(struct task_struct *child, unsigned long ssp)
{
	child->thread.shstk.base = 0;
	child->thread.shstk.size = 0;
	return ssp;
}

/* Replacement of shstk_alloc_thread_stack(). */
static unsigned long x86_alloc_thread_stack_hooked(struct task_struct *tsk,
						   shstk_clone_flags_t clone_flags,
						   unsigned long stack_size)
{
	/* All that x86's allocator is given of the clone args. */
	struct kernel_clone_args args = { .flags = clone_flags, .stack_size = stack_size };
	unsigned long ssp = shstk_clone_alloc(tsk, &args);

	shstk_hook_done();
	return ssp;
}

static void notrace x86_alloc_thread_stack_handler(unsigned long ip, unsigned long parent_ip,
						   struct ftrace_ops *ops,
						   struct ftrace_regs *fregs)
{
	if (shstk_hook_from_self(parent_ip))
		return;
	if (shstk_clone_wanted((struct task_struct *)ftrace_regs_get_argument(fregs, 0),
			       ftrace_regs_get_argument(fregs, 1)))
		shstk_hook_redirect(fregs, x86_alloc_thread_stack_hooked);
}

/*
 * Replacement of copy_thread(), for clones shstk may size: a failure
 * after the shadow stack was made goes straight to copy_process()'s
 * cleanup, without exit_thread() and so without shstk_free(). A record of
 * child exists only when shstk_clone_alloc() succeeded, so a failure
 * before it (child's shstk fields still the parent's copy) is left alone.
 */
static int x86_copy_thread_hooked(struct task_struct *p, const struct kernel_clone_args *args)
{
	int err = static_call(x86_copy_thread)(p, args);

	if (err && shstk_task_known(p))
		shstk_clone_stack_free(p);
	shstk_hook_done();
	return err;
}

/*
 * Same decision as the allocation's, a moment earlier. A policy that
 * another thread sets in between leaves that one clone unwrapped: should
 * it then also fail in copy_thread(), its stack leaks as the kernel's own
 * does on that path.
 */
static void notrace x86_copy_thread_handler(unsigned long ip, unsigned long parent_ip,
					    struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	const struct kernel_clone_args *args;

	if (shstk_hook_from_self(parent_ip))
		return;
	args = (const struct kernel_clone_args *)ftrace_regs_get_argument(fregs, 1);
	if (shstk_clone_wanted((struct task_struct *)ftrace_regs_get_argument(fregs, 0),
			       args->flags))
		shstk_hook_redirect(fregs, x86_copy_thread_hooked);
}

/* Replacement of shstk_free() (exit, exec, or a failed clone's exit_thread()). */
static void x86_shstk_free_hooked(struct task_struct *tsk)
{
	shstk_clone_stack_free(tsk);
	shstk_hook_done();
}

static void notrace x86_shstk_free_handler(unsigned long ip, unsigned long parent_ip,
					   struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct task_struct *tsk = (struct task_struct *)ftrace_regs_get_argument(fregs, 0);

	if (shstk_hook_from_self(parent_ip))
		return;
	if (shstk_task_known(tsk))
		shstk_hook_redirect(fregs, x86_shstk_free_hooked);
}

struct shstk_hook shstk_arch_hooks[] = {
	{ .name = "shstk_free", .handler = x86_shstk_free_handler, .redirects = true },
	{ .name = "shstk_alloc_thread_stack", .handler = x86_alloc_thread_stack_handler,
	  .redirects = true },
	{ .name = "copy_thread", .handler = x86_copy_thread_handler, .redirects = true },
};

const size_t shstk_arch_nr_hooks = ARRAY_SIZE(shstk_arch_hooks);

int shstk_arch_init(u64 *features)
{
	unsigned long xsave, map, alloc, free, copy;

	*features = 0;
	if (!shstk_arch_hw_usable())
		return 0;
	*features |= SHSTK_FEAT_HW;

	/* Every other feature reads or writes a thread's saved SSP. */
	xsave = shstk_ksym("get_xsave_addr");
	if (!xsave)
		return 0;
	static_call_update(x86_get_xsave_addr, (x86_get_xsave_addr_fn *)xsave);
	*features |= SHSTK_FEAT_USAGE;

	map = shstk_ksym("__x64_sys_map_shadow_stack");
	if (map) {
		static_call_update(x86_map_shadow_stack, (x86_syscall_fn *)map);
		*features |= SHSTK_FEAT_ALLOC;
	}

	alloc = shstk_ksym("shstk_alloc_thread_stack");
	free = shstk_ksym("shstk_free");
	copy = shstk_ksym("copy_thread");
	if (!alloc || !free || !copy)
		return 0;
	static_call_update(x86_alloc_thread_stack, (x86_alloc_thread_stack_fn *)alloc);
	static_call_update(x86_shstk_free, (x86_shstk_free_fn *)free);
	static_call_update(x86_copy_thread, (x86_copy_thread_fn *)copy);
	/* The hooks are clone.c's to prepare and register. */
	*features |= SHSTK_FEAT_CLONE_SIZE | SHSTK_FEAT_CLONE_TOKEN;
	return 0;
}
