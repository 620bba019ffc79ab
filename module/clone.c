// SPDX-License-Identifier: GPL-2.0
/*
 * SET_CLONE / GET_CLONE, and what a new thread gets when its creator is
 * armed or a policy applies (policy.c), for every architecture. The arch
 * backend hooks the kernel's functions that make and drop a thread's
 * shadow stack (arch.h says how); its replacements call
 * shstk_clone_alloc() in place of the kernel's allocation, in the clone's
 * context (preemptible, the child not yet runnable), so the child's first
 * user instruction already runs on its final shadow stack:
 *
 *   size arming:  the kernel's allocator runs with the armed size instead
 *                 of the thread's stack size, so it maps that size itself
 *                 (no transient default-size mapping) and frees it as usual;
 *   token arming: the token is consumed atomically in the child's mm, the
 *                 child starts just above it, and the kernel is told the
 *                 stack is not its own (it never frees it).
 *
 * Why this is safe:
 *  - a clone that fails after this ran gives back what it took: the sized
 *    stack is unmapped and shstk_clone_failed() restores the token and the
 *    one-shot arming, through shstk_clone_stack_free(), which the backend
 *    calls on every path by which copy_process() can fail after the
 *    allocation (the kernel's own free there, or where the kernel has
 *    none, a hook that runs on that path);
 *  - which clones: as upstream's shadow_stack_token, a token arming is
 *    used by the next clone of any kind (shstk_clone_wanted()): a thread
 *    (CLONE_VM) takes the token in the shared mm, a vfork child too, and
 *    a fork-like clone (no CLONE_VM) in its own copy of the address space,
 *    which copy_mm() made before copy_thread() runs, so the parent's token
 *    stays. A size arming and the policies only size thread-creating
 *    clones (CLONE_VM without CLONE_VFORK): fork copies the parent's
 *    shadow stack and vfork borrows it, and both keep a size arming;
 *  - kernel-made user workers (io_uring, vhost: PF_USER_WORKER, created
 *    with CLONE_VM in a user thread's context) never run user code: they
 *    take no arming and no token and get the kernel's rule;
 *  - unload: arming records die with the module, and the hook pins the
 *    module while a clone runs in here (hook.h), so a clone after unload
 *    simply gets the kernel's rule.
 * Errors are those of the upstream clone3 shadow_stack_token series (v23),
 * reported at arm time and, for a token that went bad since, at clone time.
 */
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>

#include "arch.h"
#include "hook.h"
#include "shstk.h"

#define SHSTK_CLONE_FLAGS (SHSTK_CLONE_PERSIST | SHSTK_CLONE_EXIT_TOKEN)

int shstk_ioc_set_clone(union shstk_ioc_arg *arg)
{
	const struct shstk_clone *c = &arg->clone;
	struct shstk_arming arm = {
		.flags = c->flags,
		.size = c->shadow_stack_size,
		.token = c->shadow_stack_token,
	};
	int err;

	if (c->flags & ~SHSTK_CLONE_FLAGS)
		return -EINVAL;
	if (!arm.size && !arm.token)
		return arm.flags ? -EINVAL : shstk_task_set_arming(current, NULL);
	if (arm.size && arm.token)
		return -EINVAL;
	if (!shstk_arch_enabled(current))
		return -EINVAL;
	if (arm.size) {
		if (arm.flags & SHSTK_CLONE_EXIT_TOKEN)
			return -EINVAL;
		err = shstk_check_size(arm.size);
	} else {
		err = shstk_token_check(current->mm, arm.token);
	}
	if (err)
		return err;
	/* The clone that uses the arming must find the hooks live. */
	err = shstk_activate();
	if (err)
		return err;
	return shstk_task_set_arming(current, &arm);
}

int shstk_ioc_get_clone(union shstk_ioc_arg *arg)
{
	struct shstk_clone *c = &arg->clone;
	struct shstk_arming arm;

	if (c->flags)
		return -EINVAL;
	/*
	 * An arming lives while the caller's shadow stack is on: no clone
	 * uses it after (shstk_clone_wanted()). x86 frees the stack when it
	 * is turned off, which ends the arming then (shstk_clone_stack_free());
	 * arm64 keeps the GCS and cannot turn it on again, so it ends here.
	 */
	if (!shstk_arch_enabled(current))
		shstk_task_set_arming(current, NULL);
	shstk_task_get_arming(current, &arm);
	c->flags = arm.flags;
	c->shadow_stack_size = arm.size;
	c->shadow_stack_token = arm.token;
	return 0;
}

/* A clone that makes a new thread (or CLONE_VM process) with a new shadow stack. */
static bool shstk_clone_is_thread(u64 clone_flags)
{
	return (clone_flags & (CLONE_VM | CLONE_VFORK)) == CLONE_VM;
}

/*
 * Atomic-safe, from the arch hooks' handlers (current is the parent):
 * does shstk take part in making child? Only if current's shadow stack is
 * on; then see the top comment.
 */
bool shstk_clone_wanted(struct task_struct *child, u64 clone_flags)
{
	if (!shstk_arch_enabled(current) || (child->flags & PF_USER_WORKER))
		return false;
	if (shstk_clone_is_thread(clone_flags))
		return shstk_task_armed(current, false) || shstk_policy_active(current);
	return shstk_task_armed(current, true);
}

static unsigned long shstk_clone_token(struct task_struct *child, const struct shstk_arming *arm,
				       struct shstk_thread_info *ti)
{
	unsigned long base;
	int err;

	/* child->mm: the shared mm, or a fork's own copy (upstream takes it there). */
	err = shstk_token_consume(child->mm, arm->token, &base);
	/*
	 * ABI: a token that went bad since arming fails the clone with
	 * EINVAL, whatever happened to it (consumed, or its stack unmapped
	 * or remapped: EFAULT at arm time).
	 */
	if (err == -EFAULT)
		err = -EINVAL;
	if (err)
		return err;
	ti->origin = SHSTK_ORIGIN_TOKEN;
	ti->token = arm->token;
	ti->base = base;
	ti->size = shstk_arch_token_ssp(arm->token) - base;
	ti->exit_token = arm->flags & SHSTK_CLONE_EXIT_TOKEN;
	return shstk_arch_token_stack(child, shstk_arch_token_ssp(arm->token));
}

/*
 * Instead of the kernel's allocation of child's shadow stack for the
 * clone args: returns what the kernel's allocator returns (arch.h), or a
 * negative errno that fails the clone.
 */
unsigned long shstk_clone_alloc(struct task_struct *child, const struct kernel_clone_args *args)
{
	bool thread = shstk_clone_is_thread(args->flags);
	struct shstk_thread_info ti = {};
	struct shstk_arming arm;
	unsigned long ret;
	int err;

	/* Not a thread: only a token arming applies. */
	if (!shstk_task_take_arming(current, &arm, !thread)) {
		/* Not armed: the process policy or the system default, if any. */
		memset(&arm, 0, sizeof(arm));
		if (thread)
			arm.size = shstk_policy_size(current, args->stack_size);
		if (!arm.size)
			return shstk_arch_kernel_alloc(child, args, 0);
		arm.flags = SHSTK_CLONE_PERSIST;	/* nothing to give back on failure */
	}

	if (arm.token) {
		ret = shstk_clone_token(child, &arm, &ti);
	} else {
		ret = shstk_arch_kernel_alloc(child, args, arm.size);
		ti.origin = SHSTK_ORIGIN_SIZED;
	}
	if (IS_ERR_VALUE(ret))
		goto fail;

	err = shstk_task_set_thread(child, &ti, &arm);
	if (err) {
		/* Undo before failing the clone: without a record, no hook will. */
		if (arm.token)
			shstk_token_restore(child->mm, arm.token, ti.base);
		else
			shstk_arch_kernel_free(child);
		ret = err;
		goto fail;
	}
	return ret;

fail:
	shstk_task_rearm(current, &arm);
	return ret;
}

/*
 * copy_process() failed after shstk_clone_alloc() succeeded, and is
 * dropping child's shadow stack (current is the parent). The kernel frees
 * a sized stack itself; a token is given back, and a one-shot arming.
 */
static void shstk_clone_failed(struct task_struct *child)
{
	struct shstk_thread_info ti;
	struct shstk_arming consumed;

	if (!shstk_task_take_thread(child, &ti, &consumed))
		return;
	/* A fork's own copy of the address space goes away with it. */
	if (ti.origin == SHSTK_ORIGIN_TOKEN && child->mm == current->mm)
		shstk_token_restore(current->mm, ti.token, ti.base);
	if (consumed.size || consumed.token)
		shstk_task_rearm(current, &consumed);
}

/*
 * tsk (current) lets go of its shadow stack: it is exiting, past its last
 * user instruction, or exec'ing. With SHSTK_CLONE_EXIT_TOKEN the caller's
 * stack gets a fresh token at the address the thread started from, before
 * the kernel clears the thread's tid (so pthread_join() returning means
 * the stack can be reused). An exec also ends the arming: it belonged to
 * the old program.
 */
static void shstk_thread_release(struct task_struct *tsk)
{
	struct shstk_thread_info ti;

	if (shstk_task_take_thread(tsk, &ti, NULL) && ti.exit_token && tsk->mm)
		shstk_token_write(tsk->mm, ti.token, ti.base);
	if (!(tsk->flags & PF_EXITING))
		shstk_task_set_arming(tsk, NULL);
}

/*
 * Instead of the kernel's freeing of tsk's shadow stack, for a task with
 * a record: tsk exits or execs (tsk is current), or its clone failed
 * after shstk_clone_alloc() (current is the parent). A sized stack is the
 * kernel's to unmap; a token stack the kernel does not own.
 */
void shstk_clone_stack_free(struct task_struct *tsk)
{
	if (tsk == current)
		shstk_thread_release(tsk);
	else
		shstk_clone_failed(tsk);
	shstk_arch_kernel_free(tsk);
}

static void notrace shstk_free_task_handler(unsigned long ip, unsigned long parent_ip,
					    struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	shstk_task_forget((struct task_struct *)ftrace_regs_get_argument(fregs, 0));
}

/* Registered first: records must be dropped before a task_struct can be reused. */
static struct shstk_hook shstk_free_task_hook = {
	.name = "free_task",
	.handler = shstk_free_task_handler,
};

/* The hooks in registration order: free_task(), then the backend's. */
static size_t shstk_clone_nr_hooks(void)
{
	return 1 + shstk_arch_nr_hooks;
}

static struct shstk_hook *shstk_clone_hook(size_t i)
{
	return i ? &shstk_arch_hooks[i - 1] : &shstk_free_task_hook;
}

static void shstk_clone_unhook(void)
{
	bool live = false;
	size_t i;

	for (i = shstk_clone_nr_hooks(); i-- > 0;) {
		live |= shstk_clone_hook(i)->registered;
		shstk_hook_unregister(shstk_clone_hook(i));
	}
	/* Never registered: no task can be in a handler or replacement. */
	if (live)
		shstk_hooks_sync();
}

static void shstk_clone_release_hooks(void)
{
	size_t i;

	for (i = 0; i < shstk_clone_nr_hooks(); i++)
		shstk_hook_release(shstk_clone_hook(i));
}

/*
 * Load, once the backend's init set SHSTK_FEAT_CLONE_*: every hook's
 * ftrace filter. 0, or -errno with none left prepared (the clone
 * features are then unavailable).
 */
int shstk_clone_init(void)
{
	size_t i;
	int err;

	for (i = 0; i < shstk_clone_nr_hooks(); i++) {
		err = shstk_hook_prepare(shstk_clone_hook(i));
		if (err) {
			shstk_clone_release_hooks();
			return err;
		}
	}
	return 0;
}

/* First use (shstk_activate()): the hooks go live, all or none. */
int shstk_clone_hooks_on(void)
{
	size_t i;
	int err;

	/* An ops without its filter would trace every function. */
	for (i = 0; i < shstk_clone_nr_hooks(); i++)
		if (WARN_ON_ONCE(!shstk_clone_hook(i)->prepared))
			return -EOPNOTSUPP;
	for (i = 0; i < shstk_clone_nr_hooks(); i++) {
		err = shstk_hook_register(shstk_clone_hook(i));
		if (err) {
			shstk_clone_unhook();
			return err;
		}
	}
	return 0;
}

/* Unload: unhooks and waits for every task to leave the module's code. */
void shstk_clone_exit(void)
{
	shstk_clone_unhook();
	shstk_clone_release_hooks();
}
