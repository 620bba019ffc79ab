/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The arch backend interface. The core (device, ioctl rules, arming,
 * tokens, usage, which clones shstk takes part in and what they get)
 * never touches CPU registers, xstate, token formats or the kernel's
 * shadow-stack internals: it asks the backend through these functions.
 * x86 CET implements them in arch_x86.c, arm64 GCS in arch_arm64.c,
 * RISC-V Zicfiss in arch_riscv.c; a backend holds only what differs.
 */
#ifndef SHSTK_ARCH_H
#define SHSTK_ARCH_H

#include <linux/types.h>

#include "hook.h"

struct kernel_clone_args;
struct task_struct;

/* SHSTK_ARCH_* value reported by SHSTK_IOC_INFO. */
u32 shstk_arch_id(void);

/* True when both the CPU and the running kernel support user shadow stacks. */
bool shstk_arch_hw_usable(void);

/*
 * Called once at load, after shstk_ksyms_init(): the SHSTK_FEAT_* bits the
 * backend can make work (SHSTK_FEAT_CLONE_* only if it found every kernel
 * function its hooks need); it may also fail the load.
 */
int shstk_arch_init(u64 *features);

/*
 * The clone and exit paths. What is common (which clones shstk takes
 * part in, what a new thread gets, giving back after a failed clone, the
 * records, the free_task() hook) is clone.c's; the backend hooks its
 * kernel's functions that make and drop a thread's shadow stack (hook.h)
 * and lists them here. clone.c prepares them at load, registers them on
 * first use after its own free_task() hook, and unregisters them at
 * unload. Each handler decodes its function's arguments and asks clone.c:
 *  - where the kernel makes a new thread's stack: redirect when
 *    shstk_clone_wanted(child, clone_flags), to a replacement that returns
 *    shstk_clone_alloc(child, args) in place of the kernel's allocator;
 *  - where the kernel drops a stack, at exit or exec (current) or for a
 *    clone that fails after the allocation (the parent is current):
 *    redirect when shstk_task_known(tsk), to a replacement that calls
 *    shstk_clone_stack_free(tsk) in place of the kernel's free, then
 *    whatever else the hooked function does. Every path on which
 *    copy_process() can fail after the allocation must reach it: x86
 *    hooks shstk_free() (exit_thread()) and copy_thread() (a failure
 *    after the allocation skips exit_thread()); arm64, where exit_thread()
 *    frees nothing, sched_cancel_fork();
 *  - every replacement ends with shstk_hook_done().
 */
extern struct shstk_hook shstk_arch_hooks[];
extern const size_t shstk_arch_nr_hooks;

/* Thread state, as SHSTK_IOC_USAGE reports it. */
struct shstk_arch_thread {
	bool enabled, locked;
	u64 base, size;		/* the kernel-made stack; 0 if it has none */
	u64 ssp;		/* live for current, saved for others */
};

/* Atomic-safe (clone.c asks it in hook handlers, for current). */
bool shstk_arch_enabled(struct task_struct *t);
void shstk_arch_thread(struct task_struct *t, struct shstk_arch_thread *st);

/* The SSP of a thread that has not used its new stack [base, base + size) yet. */
unsigned long shstk_arch_empty_ssp(unsigned long base, unsigned long size);

/* Restore tokens: the value at token_addr, and the SSP a thread starts with. */
u64 shstk_arch_token_value(unsigned long token_addr);
unsigned long shstk_arch_token_ssp(unsigned long token_addr);

/* map_shadow_stack() for current: address or -errno. */
long shstk_arch_map(unsigned long size, bool token);

/*
 * For shstk_clone_alloc() and shstk_clone_stack_free():
 *  - kernel_alloc: the kernel's own allocation of child's shadow stack
 *    for the clone args, by the kernel's rule (size 0) or of exactly size
 *    bytes (rounded up to pages) whatever that rule is (arm64's halves
 *    the stack size: it is given twice size), returning what the kernel's
 *    allocator returns (-errno on failure);
 *  - kernel_free: the kernel's own freeing of tsk's stack (nothing for a
 *    stack the kernel does not own, or in another mm than current's);
 *  - token_stack: child starts at ssp on a stack that is not the
 *    kernel's (a token's, in child->mm, which is a fork's own copy for a
 *    clone without CLONE_VM), so the kernel must never free it; returns
 *    what the kernel's allocator returns on success.
 */
unsigned long shstk_arch_kernel_alloc(struct task_struct *child,
				      const struct kernel_clone_args *args, unsigned long size);
void shstk_arch_kernel_free(struct task_struct *tsk);
unsigned long shstk_arch_token_stack(struct task_struct *child, unsigned long ssp);

/*
 * For SHSTK_IOC_INSTALL, in the thread's own context before it returns to
 * user mode: move current to the shadow stack with SSP ssp. The kernel
 * owns [base, base + size) from now on (0, 0: a caller-made stack).
 */
int shstk_arch_switch_current(u64 ssp, u64 base, u64 size);

#endif /* SHSTK_ARCH_H */
