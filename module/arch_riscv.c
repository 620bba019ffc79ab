// SPDX-License-Identifier: GPL-2.0
/*
 * RISC-V Zicfiss backend.
 *
 * Linux (7.2+, CONFIG_RISCV_USER_CFI) makes a new thread's shadow stack in
 * shstk_alloc_thread_stack() (arch/riscv/kernel/usercfi.c), called first
 * in copy_thread(): for a CLONE_VM, non-vfork clone of a thread whose
 * shadow stack is on, it maps PAGE_ALIGN(stack_size), or by default
 * min(RLIMIT_STACK / 2, 2 GiB), records it in
 * thread_info.user_cfi_state.shdw_stk_base and shdw_stk_size, and returns
 * the child's SSP: the top (the stack starts empty). copy_thread() sets
 * any non-zero return as the child's saved SSP. shstk_release() drops a
 * thread's stack, from deactivate_mm() when a thread exits or execs
 * (current is the thread), and leaves a base of 0 alone. As on arm64,
 * nothing drops it when copy_process() fails after copy_thread()
 * (riscv has no exit_thread()): sched_cancel_fork(), which that failure
 * path always runs (in the parent), is hooked to give back a stack shstk
 * made or a token it consumed. copy_thread() cannot fail after the shadow
 * stack is made. free_task() drops the records of task.c.
 *
 * The user SSP is CSR ssp while in user mode; every entry to the kernel
 * from user mode moves it to thread_info.user_cfi_state.user_shdw_stk
 * (zeroing the CSR) and every return loads it back, so in the kernel the
 * thread struct holds it, for current as for any other task.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/static_call.h>
#include <asm/cpufeature.h>
#include <asm/usercfi.h>

#include "arch.h"
#include "compat.h"
#include "hook.h"
#include "shstk.h"

/*
 * The kernel's own functions, found with kallsyms and called through
 * static calls, as on x86 (ksyms.c).
 */
typedef long riscv_syscall_fn(const struct pt_regs *regs);	/* __riscv_sys_*() */
typedef unsigned long riscv_shstk_alloc_fn(struct task_struct *tsk,
					   const struct kernel_clone_args *args);
typedef void riscv_shstk_release_fn(struct task_struct *tsk);
typedef void riscv_sched_cancel_fork_fn(struct task_struct *p);
typedef bool riscv_user_shstk_enabled_fn(void);
static_assert(__same_type(shstk_alloc_thread_stack, riscv_shstk_alloc_fn));
static_assert(__same_type(shstk_release, riscv_shstk_release_fn));
static_assert(__same_type(sched_cancel_fork, riscv_sched_cancel_fork_fn));
static_assert(__same_type(is_user_shstk_enabled, riscv_user_shstk_enabled_fn));
DEFINE_STATIC_CALL_NULL(riscv_shstk_alloc, riscv_shstk_alloc_fn);
DEFINE_STATIC_CALL_NULL(riscv_shstk_release, riscv_shstk_release_fn);
DEFINE_STATIC_CALL_NULL(riscv_sched_cancel_fork, riscv_sched_cancel_fork_fn);
DEFINE_STATIC_CALL_NULL(riscv_map_shadow_stack, riscv_syscall_fn);
DEFINE_STATIC_CALL_NULL(riscv_user_shstk_enabled, riscv_user_shstk_enabled_fn);

/* is_user_shstk_enabled(), read once at load: it only changes at boot. */
static bool riscv_user_shstk;

u32 shstk_arch_id(void)
{
	return SHSTK_ARCH_RISCV_ZICFISS;
}

/*
 * The CPU has Zicfiss and the kernel did not turn user shadow stacks off
 * (riscv_nousercfi=bcfi or =all on its command line).
 */
bool shstk_arch_hw_usable(void)
{
	return riscv_user_shstk;
}

bool shstk_arch_enabled(struct task_struct *t)
{
	return t->thread_info.user_cfi_state.ubcfi_en;
}

void shstk_arch_thread(struct task_struct *t, struct shstk_arch_thread *st)
{
	const struct cfi_state *cfi = &t->thread_info.user_cfi_state;

	memset(st, 0, sizeof(*st));
	st->enabled = cfi->ubcfi_en;
	st->locked = cfi->ubcfi_locked;
	if (!st->enabled)
		return;
	st->base = cfi->shdw_stk_base;
	st->size = cfi->shdw_stk_size;
	st->ssp = READ_ONCE(cfi->user_shdw_stk);
}

/* current is in the kernel: its SSP goes to CSR ssp on the way back to user mode. */
int shstk_arch_switch_current(u64 ssp, u64 base, u64 size)
{
	struct cfi_state *cfi = &current->thread_info.user_cfi_state;

	WRITE_ONCE(cfi->user_shdw_stk, ssp);
	cfi->shdw_stk_base = base;
	cfi->shdw_stk_size = size;
	return 0;
}

/* As shstk_alloc_thread_stack() starts a thread: empty, at the very top. */
unsigned long shstk_arch_empty_ssp(unsigned long base, unsigned long size)
{
	return base + size;
}

/*
 * A restore token holds the address just above itself (create_rstor_token(),
 * as map_shadow_stack() and signal delivery write it; no flag bits), and
 * restore_user_shstk() resumes there: as x86's without its bit 0.
 */
u64 shstk_arch_token_value(unsigned long token_addr)
{
	return token_addr + 8;
}

unsigned long shstk_arch_token_ssp(unsigned long token_addr)
{
	return token_addr + 8;
}

/* The map_shadow_stack() syscall itself, so mappings are exactly its. */
long shstk_arch_map(unsigned long size, bool token)
{
	struct pt_regs regs = {};

	/* The syscall wrappers take the first argument from orig_a0. */
	regs.orig_a0 = 0;
	regs.a1 = size;
	regs.a2 = token ? SHADOW_STACK_SET_TOKEN : 0;
	return static_call(riscv_map_shadow_stack)(&regs);
}

/*
 * shstk_alloc_thread_stack() sizes the stack from args->stack_size: a
 * chosen size goes in as a copy of the args with that stack size. It
 * returns the child's SSP (copy_thread() sets it), 0 or -errno.
 */
unsigned long shstk_arch_kernel_alloc(struct task_struct *child,
				      const struct kernel_clone_args *args, unsigned long size)
{
	struct kernel_clone_args sized;

	if (size) {
		sized = *args;
		sized.stack_size = size;
		args = &sized;
	}
	return static_call(riscv_shstk_alloc)(child, args);
}

void shstk_arch_kernel_free(struct task_struct *child)
{
	static_call(riscv_shstk_release)(child);
}

/* base 0 tells shstk_release() the stack is not the kernel's to unmap. */
void shstk_arch_forget_stack(struct task_struct *child)
{
	child->thread_info.user_cfi_state.shdw_stk_base = 0;
	child->thread_info.user_cfi_state.shdw_stk_size = 0;
}

/*
 * Replacement of shstk_alloc_thread_stack(), when the creator is armed or
 * a policy applies: copy_thread() takes the child's SSP from the return
 * value, a token stack's too.
 */
static unsigned long riscv_shstk_alloc_hooked(struct task_struct *tsk,
					      const struct kernel_clone_args *args)
{
	unsigned long ssp = shstk_clone_alloc(tsk, args);

	shstk_hook_done();
	return ssp;
}

/*
 * Only where the kernel would make a new shadow stack, and shstk has a
 * say. (A fork-like clone with a token, which x86 takes as upstream does,
 * is not taken here, as on arm64.)
 */
static bool riscv_clone_wanted(struct task_struct *child, u64 clone_flags)
{
	return shstk_arch_enabled(current) &&
	       (clone_flags & (CLONE_VM | CLONE_VFORK)) == CLONE_VM &&
	       shstk_clone_wanted(current, child, clone_flags);
}

static void notrace riscv_shstk_alloc_handler(unsigned long ip, unsigned long parent_ip,
					      struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	const struct kernel_clone_args *args;

	if (shstk_hook_from_self(parent_ip))
		return;
	args = (const struct kernel_clone_args *)ftrace_regs_get_argument(fregs, 1);
	/* Kernel threads never get here: copy_thread() calls it for user clones only. */
	if (riscv_clone_wanted((struct task_struct *)ftrace_regs_get_argument(fregs, 0),
			       args->flags))
		shstk_hook_redirect(fregs, riscv_shstk_alloc_hooked);
}

/*
 * Replacement of sched_cancel_fork(), for a failing clone whose child
 * shstk gave a stack: the token and a one-shot arming go back, and a
 * sized stack is unmapped (the kernel would leave it mapped).
 */
static void riscv_cancel_fork_hooked(struct task_struct *p)
{
	shstk_clone_failed(p);
	/*
	 * The child shares current's mm (CLONE_VM), as shstk_release()
	 * requires; a token stack has base 0 and is left alone.
	 */
	static_call(riscv_shstk_release)(p);
	static_call(riscv_sched_cancel_fork)(p);
	shstk_hook_done();
}

static void notrace riscv_cancel_fork_handler(unsigned long ip, unsigned long parent_ip,
					      struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct task_struct *p = (struct task_struct *)ftrace_regs_get_argument(fregs, 0);

	if (shstk_hook_from_self(parent_ip))
		return;
	if (shstk_task_known(p))
		shstk_hook_redirect(fregs, riscv_cancel_fork_hooked);
}

/* Replacement of shstk_release(), for threads shstk has a record of (exit, exec). */
static void riscv_shstk_release_hooked(struct task_struct *tsk)
{
	shstk_thread_release(tsk);
	static_call(riscv_shstk_release)(tsk);
	shstk_hook_done();
}

static void notrace riscv_shstk_release_handler(unsigned long ip, unsigned long parent_ip,
						struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct task_struct *tsk = (struct task_struct *)ftrace_regs_get_argument(fregs, 0);

	if (shstk_hook_from_self(parent_ip))
		return;
	/*
	 * deactivate_mm() calls it for current; so does a prctl() that
	 * turns the shadow stack off, which shstk treats as its end too.
	 */
	if (tsk == current && shstk_task_known(tsk))
		shstk_hook_redirect(fregs, riscv_shstk_release_hooked);
}

static void notrace riscv_free_task_handler(unsigned long ip, unsigned long parent_ip,
					    struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	shstk_task_forget((struct task_struct *)ftrace_regs_get_argument(fregs, 0));
}

static struct shstk_hook riscv_hooks[] = {
	/* First: records must be dropped before a task_struct can be reused. */
	{ .name = "free_task", .handler = riscv_free_task_handler },
	{ .name = "shstk_release", .handler = riscv_shstk_release_handler, .redirects = true },
	{ .name = "sched_cancel_fork", .handler = riscv_cancel_fork_handler, .redirects = true },
	{ .name = "shstk_alloc_thread_stack", .handler = riscv_shstk_alloc_handler,
	  .redirects = true },
};

static void riscv_unhook(void)
{
	bool live = false;
	int i;

	for (i = ARRAY_SIZE(riscv_hooks) - 1; i >= 0; i--) {
		live |= riscv_hooks[i].registered;
		shstk_hook_unregister(&riscv_hooks[i]);
	}
	/* Never registered: no task can be in a handler or replacement. */
	if (live)
		shstk_hooks_sync();
}

static void riscv_release_hooks(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(riscv_hooks); i++)
		shstk_hook_release(&riscv_hooks[i]);
}

int shstk_arch_init(u64 *features)
{
	unsigned long map, alloc, release, cancel, enabled;
	size_t i;

	*features = 0;
	/* Not exported; without it, the CPU's Zicfiss alone would ignore the command line. */
	enabled = shstk_ksym("is_user_shstk_enabled");
	if (!enabled || !cpu_supports_shadow_stack())
		return 0;
	static_call_update(riscv_user_shstk_enabled, (riscv_user_shstk_enabled_fn *)enabled);
	riscv_user_shstk = static_call(riscv_user_shstk_enabled)();
	if (!riscv_user_shstk)
		return 0;
	/* The thread state is in the task struct: nothing to look up. */
	*features |= SHSTK_FEAT_HW | SHSTK_FEAT_USAGE;

	map = shstk_ksym("__riscv_sys_map_shadow_stack");
	if (map) {
		static_call_update(riscv_map_shadow_stack, (riscv_syscall_fn *)map);
		*features |= SHSTK_FEAT_ALLOC;
	}

	alloc = shstk_ksym("shstk_alloc_thread_stack");
	release = shstk_ksym("shstk_release");
	cancel = shstk_ksym("sched_cancel_fork");
	if (!alloc || !release || !cancel)
		return 0;
	static_call_update(riscv_shstk_alloc, (riscv_shstk_alloc_fn *)alloc);
	static_call_update(riscv_shstk_release, (riscv_shstk_release_fn *)release);
	static_call_update(riscv_sched_cancel_fork, (riscv_sched_cancel_fork_fn *)cancel);
	/* Registered on first use (shstk_arch_hooks_on()), not here. */
	for (i = 0; i < ARRAY_SIZE(riscv_hooks); i++) {
		if (shstk_hook_prepare(&riscv_hooks[i])) {
			riscv_release_hooks();
			return 0;
		}
	}
	*features |= SHSTK_FEAT_CLONE_SIZE | SHSTK_FEAT_CLONE_TOKEN;
	return 0;
}

int shstk_arch_hooks_on(void)
{
	size_t i;
	int err;

	/* An ops without its filter would trace every function. */
	for (i = 0; i < ARRAY_SIZE(riscv_hooks); i++)
		if (WARN_ON_ONCE(!riscv_hooks[i].prepared))
			return -EOPNOTSUPP;
	for (i = 0; i < ARRAY_SIZE(riscv_hooks); i++) {
		err = shstk_hook_register(&riscv_hooks[i]);
		if (err) {
			riscv_unhook();
			return err;
		}
	}
	return 0;
}

void shstk_arch_exit(void)
{
	riscv_unhook();
	riscv_release_hooks();
}
