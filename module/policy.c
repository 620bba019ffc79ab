// SPDX-License-Identifier: GPL-2.0
/*
 * Sizing policies: what a new thread gets when its creator did not arm
 * SET_CLONE. Precedence: SET_CLONE arming > the process's policy > the
 * system default (module parameters) > the kernel's own rule.
 *
 * A process policy belongs to the thread group: it is keyed by
 * signal_struct, which all threads share and which execve keeps, so a
 * launcher can set it and exec the program; an exec that gains privilege
 * drops it (tracepoint sched_process_exec, bprm->secureexec; SET_POLICY
 * holds the target's exec_update_lock, see target.c). fork() children get a copy
 * when SHSTK_POLICY_INHERIT is set (tracepoint task_newtask, past the
 * point where copy_process() can fail). The policy is dropped when the
 * last thread exits (tracepoint sched_process_exit with signal->live 0),
 * before the signal_struct can be freed and its address reused.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/binfmts.h>
#include <linux/hashtable.h>
#include <linux/log2.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "hook.h"
#include "shstk.h"

#define SHSTK_POLICY_FLAGS	SHSTK_POLICY_INHERIT
#define SHSTK_RATIO_MAX		64

struct shstk_rule {
	u32 mode;		/* SHSTK_POLICY_* */
	u32 flags;		/* SHSTK_POLICY_INHERIT (process policies) */
	u64 size;		/* FIXED */
	u32 ratio;		/* RATIO */
	u64 min_size, max_size;	/* RATIO clamp */
};

/* The system default, from the module parameters. */
static DEFINE_SEQLOCK(shstk_sys_lock);
static struct shstk_rule shstk_sys_rule = {
	.mode = SHSTK_POLICY_KERNEL,
	.min_size = SHSTK_MIN_SIZE,
	.max_size = SHSTK_MAX_SIZE,
};

struct shstk_proc_policy {
	struct hlist_node node;
	struct rcu_head rcu;
	struct signal_struct *sig;
	struct shstk_rule rule;
};

static DEFINE_HASHTABLE(shstk_policies, 8);
static DEFINE_SPINLOCK(shstk_policies_lock);
/* Own, unmerged cache: /proc/slabinfo shows exactly how many policies live. */
static struct kmem_cache *shstk_policy_cache;
/* Policies alive (in the table), for debugfs: slabinfo counts are not exact. */
atomic_t shstk_stat_policies = ATOMIC_INIT(0);

static struct shstk_proc_policy *shstk_policy_find(struct signal_struct *sig)
{
	struct shstk_proc_policy *pp;

	hash_for_each_possible_rcu(shstk_policies, pp, node, (unsigned long)sig,
				   lockdep_is_held(&shstk_policies_lock))
		if (pp->sig == sig)
			return pp;
	return NULL;
}

static struct shstk_rule shstk_sys_rule_read(void)
{
	struct shstk_rule rule;
	unsigned int seq;

	do {
		seq = read_seqbegin(&shstk_sys_lock);
		rule = shstk_sys_rule;
	} while (read_seqretry(&shstk_sys_lock, seq));
	return rule;
}

/* The rule that sizes t's new threads, process policy first. */
static struct shstk_rule shstk_effective_rule(struct task_struct *t)
{
	struct shstk_proc_policy *pp;
	struct shstk_rule rule;

	rcu_read_lock();
	pp = shstk_policy_find(t->signal);
	if (pp)
		rule = pp->rule;
	rcu_read_unlock();
	return pp ? rule : shstk_sys_rule_read();
}

/* Atomic-safe, from the clone hook: may a policy change t's next thread? */
bool shstk_policy_active(struct task_struct *t)
{
	return shstk_effective_rule(t).mode != SHSTK_POLICY_KERNEL;
}

/* Size for a thread of t's process with stack_size, 0 = the kernel's rule. */
u64 shstk_policy_size(struct task_struct *t, unsigned long stack_size)
{
	struct shstk_rule rule = shstk_effective_rule(t);
	u64 base;

	switch (rule.mode) {
	case SHSTK_POLICY_FIXED:
		return rule.size;
	case SHSTK_POLICY_RATIO:
		/*
		 * A ratio of the thread's stack size on every architecture (ABI).
		 * No stack size given: RLIMIT_STACK's, up to 4 GiB, the size
		 * the kernel's rule starts from (x86 uses it, arm64 half of it).
		 */
		base = stack_size ?: min_t(u64, rlimit(RLIMIT_STACK), SZ_4G);
		return clamp_t(u64, ALIGN(base / rule.ratio, 8), rule.min_size, rule.max_size);
	default:
		return 0;
	}
}

/* Whether the system default sizes threads (the module must be live). */
bool shstk_policy_default_active(void)
{
	return shstk_sys_rule_read().mode != SHSTK_POLICY_KERNEL;
}

u64 shstk_policy_default_size(void)
{
	struct shstk_rule rule = shstk_sys_rule_read();

	return rule.mode == SHSTK_POLICY_FIXED ? rule.size : 0;
}

static bool shstk_ratio_valid(u32 ratio)
{
	return ratio && ratio <= SHSTK_RATIO_MAX && is_power_of_2(ratio);
}

/* SET_POLICY's rules; fills in a RATIO clamp left at 0. */
static int shstk_rule_check(struct shstk_rule *rule)
{
	switch (rule->mode) {
	case SHSTK_POLICY_KERNEL:
		if (rule->size || rule->ratio || rule->min_size || rule->max_size)
			return -EINVAL;
		return 0;
	case SHSTK_POLICY_FIXED:
		if (rule->ratio || rule->min_size || rule->max_size)
			return -EINVAL;
		return shstk_check_size(rule->size);
	case SHSTK_POLICY_RATIO:
		if (rule->size || !shstk_ratio_valid(rule->ratio))
			return -EINVAL;
		rule->min_size = rule->min_size ?: SHSTK_MIN_SIZE;
		rule->max_size = rule->max_size ?: SHSTK_MAX_SIZE;
		if (shstk_check_size(rule->min_size) || shstk_check_size(rule->max_size) ||
		    rule->min_size > rule->max_size)
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Set sig's policy; -ESRCH if its last thread is already gone. Readers
 * copy the rule under RCU, so a policy is replaced, never edited in place.
 */
static int shstk_policy_set(struct signal_struct *sig, const struct shstk_rule *rule)
{
	struct shstk_proc_policy *old, *pp;
	unsigned long flags;
	int err = 0;

	pp = kmem_cache_zalloc(shstk_policy_cache, GFP_KERNEL);
	if (!pp)
		return -ENOMEM;
	pp->sig = sig;
	pp->rule = *rule;

	spin_lock_irqsave(&shstk_policies_lock, flags);
	/* Checked under the lock the exit probe takes: see the top comment. */
	if (!atomic_read(&sig->live)) {
		err = -ESRCH;
	} else {
		shstk_debug_spin("policy_set");
		old = shstk_policy_find(sig);
		if (old) {
			hlist_replace_rcu(&old->node, &pp->node);
			kfree_rcu(old, rcu);
		} else {
			hash_add_rcu(shstk_policies, &pp->node, (unsigned long)sig);
			atomic_inc(&shstk_stat_policies);
		}
		pp = NULL;
	}
	spin_unlock_irqrestore(&shstk_policies_lock, flags);
	if (pp)
		kmem_cache_free(shstk_policy_cache, pp);
	return err;
}

static void shstk_policy_drop(struct signal_struct *sig)
{
	struct shstk_proc_policy *pp;
	unsigned long flags;

	spin_lock_irqsave(&shstk_policies_lock, flags);
	pp = shstk_policy_find(sig);
	if (pp) {
		hash_del_rcu(&pp->node);
		atomic_dec(&shstk_stat_policies);
		kfree_rcu(pp, rcu);
	}
	spin_unlock_irqrestore(&shstk_policies_lock, flags);
}

static void shstk_rule_to_user(const struct shstk_rule *rule, struct shstk_policy *p)
{
	p->flags = rule->flags;
	p->mode = rule->mode;
	p->size = rule->size;
	p->ratio = rule->ratio;
	p->min_size = rule->mode == SHSTK_POLICY_RATIO ? rule->min_size : 0;
	p->max_size = rule->mode == SHSTK_POLICY_RATIO ? rule->max_size : 0;
}

int shstk_ioc_set_policy(union shstk_ioc_arg *arg)
{
	const struct shstk_policy *p = &arg->policy;
	struct shstk_rule rule = {
		.mode = p->mode,
		.flags = p->flags,
		.size = p->size,
		.ratio = p->ratio,
		.min_size = p->min_size,
		.max_size = p->max_size,
	};
	struct task_struct *task;
	int err;

	if (p->flags & ~SHSTK_POLICY_FLAGS || p->reserved)
		return -EINVAL;
	err = shstk_rule_check(&rule);
	if (err)
		return err;
	/* A refused request leaves the hooks as they were: checked first. */
	task = shstk_get_target(p->pid, true);
	if (IS_ERR(task))
		return PTR_ERR(task);
	put_task_struct(task);
	/*
	 * The process's next clone, fork, exec and exit must find the hooks
	 * live. Not under the target's lock: activation may sleep long.
	 */
	err = shstk_activate();
	if (err)
		return err;
	/*
	 * Held from the rights check to the insertion: a privilege-gaining
	 * execve of the target either comes after (and drops the policy,
	 * shstk_policy_exec()) or before (and the check sees its new
	 * credentials).
	 */
	task = shstk_lock_target(p->pid, true);
	if (IS_ERR(task))
		return PTR_ERR(task);
	err = shstk_policy_set(task->signal, &rule);
	shstk_unlock_target(task);
	return err;
}

/* A process without a policy of its own reports the system default. */
int shstk_ioc_get_policy(union shstk_ioc_arg *arg)
{
	struct shstk_policy *p = &arg->policy;
	struct task_struct *task;
	struct shstk_rule rule;

	if (p->flags || p->reserved)
		return -EINVAL;
	task = shstk_lock_target(p->pid, true);
	if (IS_ERR(task))
		return PTR_ERR(task);
	rule = shstk_effective_rule(task);
	shstk_unlock_target(task);
	shstk_rule_to_user(&rule, p);
	return 0;
}

/* fork(): a child process gets a copy of an inheritable policy. */
static void shstk_policy_newtask(void *data, struct task_struct *task, unsigned long clone_flags)
{
	struct shstk_proc_policy *parent, *child;
	unsigned long flags;

	if (clone_flags & CLONE_THREAD)
		return;
	rcu_read_lock();
	parent = shstk_policy_find(current->signal);
	if (!parent || !(parent->rule.flags & SHSTK_POLICY_INHERIT)) {
		rcu_read_unlock();
		return;
	}
	/* Tracepoint context: no sleeping allocation. */
	child = kmem_cache_zalloc(shstk_policy_cache, GFP_ATOMIC | __GFP_NOWARN);
	if (child) {
		child->sig = task->signal;
		child->rule = parent->rule;
	}
	rcu_read_unlock();
	if (!child) {
		pr_warn_ratelimited("out of memory: pid %d does not inherit its policy\n",
				    task_pid_nr(task));
		return;
	}
	spin_lock_irqsave(&shstk_policies_lock, flags);
	hash_add_rcu(shstk_policies, &child->node, (unsigned long)child->sig);
	atomic_inc(&shstk_stat_policies);
	spin_unlock_irqrestore(&shstk_policies_lock, flags);
}

/*
 * The last thread of a process is exiting: no thread can be made any more.
 * Looked up under the lock, never locklessly first: a SET_POLICY that saw
 * live != 0 under the lock may not have inserted yet, and would leave a
 * policy on a signal_struct about to be freed (and reused).
 */
static void shstk_policy_exit(void *data, struct task_struct *task)
{
	if (atomic_read(&task->signal->live))
		return;
	shstk_policy_drop(task->signal);
}

/*
 * An execve that gains privilege (set-user-ID, file capabilities: what
 * sets AT_SECURE) drops the process's policy: the new program must not be
 * sized by a policy its unprivileged caller chose. Runs after the new
 * credentials are committed and before the program's first instruction.
 */
static void shstk_policy_exec(void *data, struct task_struct *task, pid_t old_pid,
			      struct linux_binprm *bprm)
{
	if (bprm->secureexec)
		shstk_policy_drop(task->signal);
}

static struct shstk_tracepoint shstk_policy_tracepoints[] = {
	{ .name = "task_newtask", .probe = shstk_policy_newtask },
	{ .name = "sched_process_exit", .probe = shstk_policy_exit },
	{ .name = "sched_process_exec", .probe = shstk_policy_exec },
};

static void shstk_policies_clear(void)
{
	struct shstk_proc_policy *pp;
	struct hlist_node *tmp;
	unsigned long flags;
	int bkt;

	spin_lock_irqsave(&shstk_policies_lock, flags);
	hash_for_each_safe(shstk_policies, bkt, tmp, pp, node) {
		hash_del_rcu(&pp->node);
		atomic_dec(&shstk_stat_policies);
		kfree_rcu(pp, rcu);
	}
	spin_unlock_irqrestore(&shstk_policies_lock, flags);
}

/* Returns whether process policies work (SHSTK_FEAT_POLICY). */
bool shstk_policy_init(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(shstk_policy_tracepoints); i++)
		if (shstk_tracepoint_find(&shstk_policy_tracepoints[i]))
			return false;
	shstk_policy_cache = kmem_cache_create("shstk_policy", sizeof(struct shstk_proc_policy),
					       0, SLAB_NO_MERGE, NULL);
	return !!shstk_policy_cache;
}

/* First use: inheritance and cleanup follow processes from now on. */
int shstk_policy_hooks_on(void)
{
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(shstk_policy_tracepoints); i++) {
		err = shstk_tracepoint_register(&shstk_policy_tracepoints[i]);
		if (err) {
			while (i--)
				shstk_tracepoint_unregister(&shstk_policy_tracepoints[i]);
			return err;
		}
	}
	return 0;
}

void shstk_policy_hooks_off(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(shstk_policy_tracepoints); i++)
		shstk_tracepoint_unregister(&shstk_policy_tracepoints[i]);
}

void shstk_policy_exit_all(void)
{
	shstk_policy_hooks_off();
	shstk_policies_clear();
	/* Waits for the kfree_rcu() frees in flight (kvfree_rcu_barrier()). */
	kmem_cache_destroy(shstk_policy_cache);
	shstk_policy_cache = NULL;
}

/*
 * Module parameters: the system default. default_size (bytes, K/M/G
 * suffixes) makes it FIXED, default_ratio RATIO within [min_size,
 * max_size]; both 0 is the kernel's rule. A write that would make the
 * rule invalid (a bad size, both set, min above max) is EINVAL and the old
 * values stay.
 */
enum shstk_param { SHSTK_PARAM_SIZE, SHSTK_PARAM_RATIO, SHSTK_PARAM_MIN, SHSTK_PARAM_MAX };

static u64 *shstk_param_field(struct shstk_rule *rule, enum shstk_param which)
{
	switch (which) {
	case SHSTK_PARAM_SIZE:
		return &rule->size;
	case SHSTK_PARAM_MIN:
		return &rule->min_size;
	case SHSTK_PARAM_MAX:
		return &rule->max_size;
	default:
		return NULL;
	}
}

/*
 * A number (as kstrtou64() base 0 reads it), an optional K, M or G, an
 * optional newline: memparse()'s syntax without its silent wrap-around
 * (2^64 + 64K must not become 64K).
 */
static int shstk_parse_bytes(const char *val, u64 *out)
{
	size_t n = strspn(val, "0123456789abcdefABCDEFxX");
	unsigned int shift = 0;
	const char *p = val + n;
	char digits[24];
	u64 v;

	if (!n || n >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, val, n);
	digits[n] = '\0';
	if (kstrtou64(digits, 0, &v))
		return -EINVAL;
	switch (*p) {
	case 'G':
	case 'g':
		shift += 10;
		fallthrough;
	case 'M':
	case 'm':
		shift += 10;
		fallthrough;
	case 'K':
	case 'k':
		shift += 10;
		p++;
		break;
	}
	if (*p == '\n')
		p++;
	if (*p || check_shl_overflow(v, shift, out))
		return -EINVAL;
	return 0;
}

/* Setters run one at a time: the kernel holds the module's param lock. */
static int shstk_param_set(const char *val, const struct kernel_param *kp)
{
	enum shstk_param which = *(const enum shstk_param *)kp->arg;
	struct shstk_rule rule = shstk_sys_rule_read();
	u64 v;
	int err;

	if (shstk_parse_bytes(val, &v))
		return -EINVAL;
	if (which == SHSTK_PARAM_RATIO) {
		if (v > U32_MAX || (v && !shstk_ratio_valid(v)))
			return -EINVAL;
		rule.ratio = v;
	} else {
		*shstk_param_field(&rule, which) = v;
	}
	if (rule.size && rule.ratio)
		return -EINVAL;	/* one rule at a time */
	if ((rule.size && shstk_check_size(rule.size)) || shstk_check_size(rule.min_size) ||
	    shstk_check_size(rule.max_size) || rule.min_size > rule.max_size)
		return -EINVAL;
	rule.mode = rule.size ? SHSTK_POLICY_FIXED :
		    rule.ratio ? SHSTK_POLICY_RATIO : SHSTK_POLICY_KERNEL;
	/* A default that sizes threads needs the hooks live before it applies. */
	if (rule.mode != SHSTK_POLICY_KERNEL) {
		err = shstk_activate();
		if (err)
			return err;
	}
	write_seqlock(&shstk_sys_lock);
	shstk_sys_rule = rule;
	write_sequnlock(&shstk_sys_lock);
	return 0;
}

static int shstk_param_get(char *buf, const struct kernel_param *kp)
{
	enum shstk_param which = *(const enum shstk_param *)kp->arg;
	struct shstk_rule rule = shstk_sys_rule_read();

	if (which == SHSTK_PARAM_RATIO)
		return scnprintf(buf, PAGE_SIZE, "%u\n", rule.ratio);
	return scnprintf(buf, PAGE_SIZE, "%llu\n", *shstk_param_field(&rule, which));
}

static const struct kernel_param_ops shstk_param_ops = {
	.set = shstk_param_set,
	.get = shstk_param_get,
};

static enum shstk_param shstk_param_size = SHSTK_PARAM_SIZE;
static enum shstk_param shstk_param_ratio = SHSTK_PARAM_RATIO;
static enum shstk_param shstk_param_min = SHSTK_PARAM_MIN;
static enum shstk_param shstk_param_max = SHSTK_PARAM_MAX;

module_param_cb(default_size, &shstk_param_ops, &shstk_param_size, 0644);
MODULE_PARM_DESC(default_size, "System default: shadow-stack size of new threads (bytes, K/M/G), 0 = not fixed");
module_param_cb(default_ratio, &shstk_param_ops, &shstk_param_ratio, 0644);
MODULE_PARM_DESC(default_ratio, "System default: thread stack size / this (power of two 1..64), 0 = off");
module_param_cb(min_size, &shstk_param_ops, &shstk_param_min, 0644);
MODULE_PARM_DESC(min_size, "Lower clamp of default_ratio sizes (bytes)");
module_param_cb(max_size, &shstk_param_ops, &shstk_param_max, 0644);
MODULE_PARM_DESC(max_size, "Upper clamp of default_ratio sizes (bytes)");
