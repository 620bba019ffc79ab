/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The arch backend interface. The core (device, ioctl rules, arming,
 * tokens, usage) never touches CPU registers, xstate, token formats or the
 * kernel's shadow-stack internals: it asks the backend through these
 * functions. x86 CET implements them in arch_x86.c, arm64 GCS in
 * arch_arm64.c.
 */
#ifndef SHSTK_ARCH_H
#define SHSTK_ARCH_H

#include <linux/types.h>

struct kernel_clone_args;
struct task_struct;

/* SHSTK_ARCH_* value reported by SHSTK_IOC_INFO. */
u32 shstk_arch_id(void);

/* True when both the CPU and the running kernel support user shadow stacks. */
bool shstk_arch_hw_usable(void);

/*
 * Called once at load (after shstk_ksyms_init()) and unload. init returns
 * the SHSTK_FEAT_* bits it could make work; it may also fail the load.
 */
int shstk_arch_init(u64 *features);
void shstk_arch_exit(void);

/*
 * Make the clone and exit paths call into shstk (SHSTK_FEAT_CLONE_*
 * work only from then on). Called once, on first use, in process
 * context; 0 or -errno with nothing left half-done.
 */
int shstk_arch_hooks_on(void);

/* Thread state, as SHSTK_IOC_USAGE reports it. */
struct shstk_arch_thread {
	bool enabled, locked;
	u64 base, size;		/* the kernel-made stack; 0 if it has none */
	u64 ssp;		/* live for current, saved for others */
};

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
 * For the clone path (shstk_clone_alloc()): the kernel's own allocation of
 * child's shadow stack for the clone args (size 0: by the kernel's rule,
 * else of that size; returns the child's SSP or -errno), its undo, and
 * telling the kernel the child's stack is not its to free.
 */
unsigned long shstk_arch_kernel_alloc(struct task_struct *child,
				      const struct kernel_clone_args *args, unsigned long size);
void shstk_arch_kernel_free(struct task_struct *child);
void shstk_arch_forget_stack(struct task_struct *child);

/*
 * For SHSTK_IOC_INSTALL, in the thread's own context before it returns to
 * user mode: move current to the shadow stack with SSP ssp. The kernel
 * owns [base, base + size) from now on (0, 0: a caller-made stack).
 */
int shstk_arch_switch_current(u64 ssp, u64 base, u64 size);

#endif /* SHSTK_ARCH_H */
