/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Core declarations shared by the files of the shstk module. Nothing here
 * is arch-specific: the CPU side is behind arch.h.
 */
#ifndef SHSTK_CORE_H
#define SHSTK_CORE_H

#include <linux/fs.h>
#include <linux/sizes.h>
#include <linux/types.h>

#include <linux/shstk.h>

struct kernel_clone_args;
struct task_struct;
struct mm_struct;

/* Size limits of every ioctl, reported by SHSTK_IOC_INFO. */
#define SHSTK_MIN_SIZE	PAGE_SIZE
#define SHSTK_MAX_SIZE	SZ_4G

/* SHSTK_FEAT_* that work here; set once at load (main.c). */
extern u64 shstk_features;

/* main.c: hooks go live on first use (see there); 0 or -errno. */
int shstk_activate(void);

/* Live records, shown in debugfs (shstk/tasks, shstk/policies). */
extern atomic_t shstk_stat_tasks;
extern atomic_t shstk_stat_policies;

/* ioctl.c */
long shstk_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

/* Every ioctl handler sees its struct through this union. */
union shstk_ioc_arg {
	struct {
		__u32 argsz;
		__u32 flags;
	} head;
	struct shstk_info info;
	struct shstk_alloc alloc;
	struct shstk_clone clone;
	struct shstk_install install;
	struct shstk_usage usage;
	struct shstk_policy policy;
};

int shstk_check_size(u64 size);

/* alloc.c */
int shstk_ioc_alloc(union shstk_ioc_arg *arg);
void shstk_ioc_alloc_undo(union shstk_ioc_arg *arg);

/* clone.c: SET_CLONE arming and what a new thread gets */
int shstk_ioc_set_clone(union shstk_ioc_arg *arg);
int shstk_ioc_get_clone(union shstk_ioc_arg *arg);
int shstk_clone_init(void);
int shstk_clone_hooks_on(void);
void shstk_clone_exit(void);
/* For the arch backend's hooks (arch.h) */
bool shstk_clone_wanted(struct task_struct *child, u64 clone_flags);
unsigned long shstk_clone_alloc(struct task_struct *child, const struct kernel_clone_args *args);
void shstk_clone_stack_free(struct task_struct *tsk);

/* policy.c: process policies and the system default */
bool shstk_policy_init(void);
int shstk_policy_hooks_on(void);
void shstk_policy_hooks_off(void);
void shstk_policy_exit_all(void);
bool shstk_policy_default_active(void);
int shstk_ioc_set_policy(union shstk_ioc_arg *arg);
int shstk_ioc_get_policy(union shstk_ioc_arg *arg);
bool shstk_policy_active(struct task_struct *t);
u64 shstk_policy_size(struct task_struct *t, unsigned long stack_size);
u64 shstk_policy_default_size(void);

/* usage.c */
int shstk_ioc_usage(union shstk_ioc_arg *arg);

/* target.c: the task an ioctl names, with the caller's rights checked */
struct task_struct *shstk_get_target(u32 id, bool process);
struct task_struct *shstk_lock_target(u32 id, bool process);
void shstk_unlock_target(struct task_struct *task);

/* token.c: restore tokens in an address space */
int shstk_token_check(struct mm_struct *mm, unsigned long addr);
int shstk_token_consume(struct mm_struct *mm, unsigned long addr, unsigned long *stack_base);
int shstk_token_restore(struct mm_struct *mm, unsigned long addr, unsigned long base);
int shstk_token_write(struct mm_struct *mm, unsigned long addr, unsigned long base);

/* task.c: what shstk knows per thread, keyed by task_struct */
struct shstk_arming {
	u32 flags;		/* SHSTK_CLONE_* */
	u64 size;
	u64 token;
};

struct shstk_thread_info {
	u32 origin;		/* SHSTK_ORIGIN_SIZED or _TOKEN; 0 = kernel rule */
	u64 base, size;		/* token stacks: the caller's stack (the kernel has none) */
	u64 token;		/* token address the thread started from */
	bool exit_token;	/* rewrite that token when the thread lets go */
};

int shstk_tasks_init(void);
void shstk_tasks_exit(void);
bool shstk_task_known(struct task_struct *t);
bool shstk_task_armed(struct task_struct *t, bool token_only);
int shstk_task_set_arming(struct task_struct *t, const struct shstk_arming *arm);
void shstk_task_get_arming(struct task_struct *t, struct shstk_arming *arm);
bool shstk_task_take_arming(struct task_struct *t, struct shstk_arming *arm, bool token_only);
void shstk_task_rearm(struct task_struct *t, const struct shstk_arming *arm);
int shstk_task_set_thread(struct task_struct *t, const struct shstk_thread_info *ti,
			  const struct shstk_arming *consumed);
bool shstk_task_get_thread(struct task_struct *t, struct shstk_thread_info *ti);
bool shstk_task_take_thread(struct task_struct *t, struct shstk_thread_info *ti,
			    struct shstk_arming *consumed);
void shstk_task_forget(struct task_struct *t);
int shstk_task_install_begin(struct task_struct *t);
void shstk_task_install_end(struct task_struct *t, int err, const struct shstk_thread_info *ti);
void shstk_task_install_state(struct task_struct *t, bool *pending, int *err);

/* install.c */
int shstk_ioc_install(union shstk_ioc_arg *arg);

/* ksyms.c: kernel functions that are not exported to modules */
int shstk_ksyms_init(void);
unsigned long shstk_ksym(const char *name);
bool shstk_may_access(struct task_struct *task, unsigned int mode);
void shstk_wait_off_cpu(struct task_struct *t);

/*
 * Test builds only (make SHSTK_DEBUG_DELAYS=1, tests/debug-races): a pause
 * of debug_delay_ms at the race window named debug_delay_point, so that a
 * race test can win on one CPU; shstk_debug_spin() busy-waits, for windows
 * under a spinlock (winnable on two CPUs). Other builds have no such
 * parameters and the calls compile to nothing.
 */
#ifdef SHSTK_DEBUG_DELAYS
void shstk_debug_delay(const char *point);
void shstk_debug_spin(const char *point);
#else
static inline void shstk_debug_delay(const char *point)
{
}

static inline void shstk_debug_spin(const char *point)
{
}
#endif

#endif /* SHSTK_CORE_H */
