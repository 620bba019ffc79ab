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
 * stack is made.
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
 * returns the child's SSP (copy_thread() sets any non-zero one), 0 for a
 * clone that keeps the parent's stack, or -errno.
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

void shstk_arch_kernel_free(struct task_struct *tsk)
{
	static_call(riscv_shstk_release)(tsk);
}

/*
 * base 0 tells shstk_release() the stack is not the kernel's to unmap.
 * copy_thread() starts the child from any non-zero return.
 */
unsigned long shstk_arch_token_stack(struct task_struct *child, unsigned long ssp)
{
	child->thread_info.user_cfi_state.shdw_stk_base = 0;
	child->thread_info.user_cfi_state.shdw_stk_size = 0;
	return ssp;
}

/* Replacement of shstk_alloc_thread_stack(). */
static unsigned long riscv_shstk_alloc_hooked(struct task_struct *tsk,
					      const struct kernel_clone_args *args)
{
	unsigned long ret = shstk_clone_alloc(tsk, args);

	shstk_hook_done();
	return ret;
}

static void notrace riscv_shstk_alloc_handler(unsigned long ip, unsigned long parent_ip,
					      struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	const struct kernel_clone_args *args;

	if (shstk_hook_from_self(parent_ip))
		return;
	args = (const struct kernel_clone_args *)ftrace_regs_get_argument(fregs, 1);
	if (shstk_clone_wanted((struct task_struct *)ftrace_regs_get_argument(fregs, 0),
			       args->flags))
		shstk_hook_redirect(fregs, riscv_shstk_alloc_hooked);
}

/*
 * Replacement of sched_cancel_fork(), for a failing clone whose child
 * shstk gave a stack: the kernel would leave a sized stack mapped.
 * (shstk_release() unmaps only in current's mm: a thread's, not a fork's
 * own copy, which goes away with it.)
 */
static void riscv_cancel_fork_hooked(struct task_struct *p)
{
	shstk_clone_stack_free(p);
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

/* Replacement of shstk_release() (exit, exec, or a prctl turning the stack off). */
static void riscv_shstk_release_hooked(struct task_struct *tsk)
{
	shstk_clone_stack_free(tsk);
	shstk_hook_done();
}

static void notrace riscv_shstk_release_handler(unsigned long ip, unsigned long parent_ip,
						struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct task_struct *tsk = (struct task_struct *)ftrace_regs_get_argument(fregs, 0);

	if (shstk_hook_from_self(parent_ip))
		return;
	/* deactivate_mm() and prctl() call it for current. */
	if (tsk == current && shstk_task_known(tsk))
		shstk_hook_redirect(fregs, riscv_shstk_release_hooked);
}

struct shstk_hook shstk_arch_hooks[] = {
	{ .name = "shstk_release", .handler = riscv_shstk_release_handler, .redirects = true },
	{ .name = "sched_cancel_fork", .handler = riscv_cancel_fork_handler, .redirects = true },
	{ .name = "shstk_alloc_thread_stack", .handler = riscv_shstk_alloc_handler,
	  .redirects = true },
};

const size_t shstk_arch_nr_hooks = ARRAY_SIZE(shstk_arch_hooks);

int shstk_arch_init(u64 *features)
{
	unsigned long map, alloc, release, cancel, enabled;

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
	/* The hooks are clone.c's to prepare and register. */
	*features |= SHSTK_FEAT_CLONE_SIZE | SHSTK_FEAT_CLONE_TOKEN;
	return 0;
}
