// SPDX-License-Identifier: GPL-2.0
/*
 * What shstk knows per thread: its SET_CLONE arming, and for a thread
 * whose shadow stack shstk chose, where it came from. Records are keyed by
 * task_struct pointer and dropped when the kernel frees the task_struct
 * (free_task(), hooked by the arch backend), which covers normal exits and
 * failed forks alike, so a pointer is never reused while it has a record.
 *
 * Lookups from hook handlers run under RCU in atomic context; changes take
 * shstk_tasks_lock with interrupts off, since free_task() may run from an
 * RCU callback.
 */
#include <linux/hashtable.h>
#include <linux/rculist.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "shstk.h"

struct shstk_task {
	struct hlist_node node;
	struct rcu_head rcu;
	struct task_struct *task;
	struct shstk_arming arm;	/* all zero: not armed */
	struct shstk_thread_info thread;
	/* The one-shot arming this thread consumed, for a fork that fails. */
	struct shstk_arming consumed;
	/* SHSTK_IOC_INSTALL: waiting to be applied, and how the last one went. */
	bool install_pending;
	int install_errno;
};

static DEFINE_HASHTABLE(shstk_tasks, 10);
static DEFINE_SPINLOCK(shstk_tasks_lock);
/* Own, unmerged cache: /proc/slabinfo shows exactly how many records live. */
static struct kmem_cache *shstk_task_cache;
/* Records alive (in the table), for debugfs: slabinfo counts are not exact. */
atomic_t shstk_stat_tasks = ATOMIC_INIT(0);

static struct shstk_task *shstk_task_alloc(void)
{
	return kmem_cache_zalloc(shstk_task_cache, GFP_KERNEL);
}

static void shstk_task_free(struct shstk_task *rec)
{
	if (rec)
		kmem_cache_free(shstk_task_cache, rec);
}

static struct shstk_task *shstk_task_find(struct task_struct *t)
{
	struct shstk_task *rec;

	hash_for_each_possible_rcu(shstk_tasks, rec, node, (unsigned long)t,
				   lockdep_is_held(&shstk_tasks_lock))
		if (rec->task == t)
			return rec;
	return NULL;
}

/* Under the lock: t's record, made from *spare if there is none yet. */
static struct shstk_task *shstk_task_get(struct task_struct *t, struct shstk_task **spare)
{
	struct shstk_task *rec = shstk_task_find(t);

	if (rec || !*spare)
		return rec;
	rec = *spare;
	*spare = NULL;
	rec->task = t;
	hash_add_rcu(shstk_tasks, &rec->node, (unsigned long)t);
	atomic_inc(&shstk_stat_tasks);
	return rec;
}

static bool shstk_arming_empty(const struct shstk_arming *arm)
{
	return !arm->size && !arm->token;
}

/* A record with nothing left to say goes away. */
static void shstk_task_drop_if_empty(struct shstk_task *rec)
{
	if (shstk_arming_empty(&rec->arm) && !rec->thread.origin &&
	    shstk_arming_empty(&rec->consumed) && !rec->install_pending && !rec->install_errno) {
		hash_del_rcu(&rec->node);
		atomic_dec(&shstk_stat_tasks);
		kfree_rcu(rec, rcu);
	}
}

int shstk_tasks_init(void)
{
	hash_init(shstk_tasks);
	shstk_task_cache = kmem_cache_create("shstk_task", sizeof(struct shstk_task), 0,
					     SLAB_NO_MERGE, NULL);
	return shstk_task_cache ? 0 : -ENOMEM;
}

void shstk_tasks_exit(void)
{
	struct shstk_task *rec;
	struct hlist_node *tmp;
	unsigned long flags;
	int bkt;

	spin_lock_irqsave(&shstk_tasks_lock, flags);
	hash_for_each_safe(shstk_tasks, bkt, tmp, rec, node) {
		hash_del_rcu(&rec->node);
		atomic_dec(&shstk_stat_tasks);
		kfree_rcu(rec, rcu);
	}
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
	/* Waits for the kfree_rcu() frees in flight (kvfree_rcu_barrier()). */
	kmem_cache_destroy(shstk_task_cache);
}

/* Atomic-safe: whether t has a record at all (hooks check this first). */
bool shstk_task_known(struct task_struct *t)
{
	bool known;

	rcu_read_lock();
	known = shstk_task_find(t);
	rcu_read_unlock();
	return known;
}

/* Atomic-safe: whether t's next clone is armed (token_only: with a token). */
bool shstk_task_armed(struct task_struct *t, bool token_only)
{
	struct shstk_task *rec;
	bool armed;

	rcu_read_lock();
	rec = shstk_task_find(t);
	armed = rec && (token_only ? READ_ONCE(rec->arm.token) : !shstk_arming_empty(&rec->arm));
	rcu_read_unlock();
	return armed;
}

/* Arm (arm != NULL) or disarm t. */
int shstk_task_set_arming(struct task_struct *t, const struct shstk_arming *arm)
{
	struct shstk_task *spare = NULL, *rec;
	unsigned long flags;

	if (arm) {
		spare = shstk_task_alloc();
		if (!spare)
			return -ENOMEM;
	}
	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_get(t, &spare);
	if (rec) {
		if (arm) {
			rec->arm = *arm;
		} else {
			memset(&rec->arm, 0, sizeof(rec->arm));
			shstk_task_drop_if_empty(rec);
		}
	}
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
	shstk_task_free(spare);
	return 0;
}

void shstk_task_get_arming(struct task_struct *t, struct shstk_arming *arm)
{
	struct shstk_task *rec;
	unsigned long flags;

	memset(arm, 0, sizeof(*arm));
	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_find(t);
	if (rec)
		*arm = rec->arm;
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
}

/*
 * Take the arming for one clone: a one-shot arming is used up here (and
 * given back with shstk_task_rearm() if the clone fails), a persistent one
 * stays. False when t is not armed (token_only: not armed with a token).
 */
bool shstk_task_take_arming(struct task_struct *t, struct shstk_arming *arm, bool token_only)
{
	struct shstk_task *rec;
	unsigned long flags;
	bool armed = false;

	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_find(t);
	if (rec && !shstk_arming_empty(&rec->arm) && (!token_only || rec->arm.token)) {
		*arm = rec->arm;
		armed = true;
		if (!(arm->flags & SHSTK_CLONE_PERSIST)) {
			memset(&rec->arm, 0, sizeof(rec->arm));
			shstk_task_drop_if_empty(rec);
		}
	}
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
	return armed;
}

/* Give a one-shot arming back after a failed clone, unless t re-armed. */
void shstk_task_rearm(struct task_struct *t, const struct shstk_arming *arm)
{
	if (arm->flags & SHSTK_CLONE_PERSIST || shstk_task_armed(t, false))
		return;
	shstk_task_set_arming(t, arm);
}

/* Record where t's shadow stack came from (t is a new thread). */
int shstk_task_set_thread(struct task_struct *t, const struct shstk_thread_info *ti,
			  const struct shstk_arming *consumed)
{
	struct shstk_task *spare, *rec;
	unsigned long flags;

	spare = shstk_task_alloc();
	if (!spare)
		return -ENOMEM;
	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_get(t, &spare);
	rec->thread = *ti;
	if (consumed && !(consumed->flags & SHSTK_CLONE_PERSIST))
		rec->consumed = *consumed;
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
	shstk_task_free(spare);
	return 0;
}

bool shstk_task_get_thread(struct task_struct *t, struct shstk_thread_info *ti)
{
	struct shstk_task *rec;
	unsigned long flags;
	bool found = false;

	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_find(t);
	if (rec && rec->thread.origin) {
		*ti = rec->thread;
		found = true;
	}
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
	return found;
}

/*
 * Take t's shadow-stack record (and the arming its clone consumed): the
 * thread lets go of its shadow stack, at exit or exec or a failed fork.
 */
bool shstk_task_take_thread(struct task_struct *t, struct shstk_thread_info *ti,
			    struct shstk_arming *consumed)
{
	struct shstk_task *rec;
	unsigned long flags;
	bool found = false;

	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_find(t);
	if (rec && rec->thread.origin) {
		*ti = rec->thread;
		if (consumed)
			*consumed = rec->consumed;
		memset(&rec->thread, 0, sizeof(rec->thread));
		memset(&rec->consumed, 0, sizeof(rec->consumed));
		shstk_task_drop_if_empty(rec);
		found = true;
	}
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
	return found;
}

/* t's task_struct is being freed: called for every task, so lockless first. */
void shstk_task_forget(struct task_struct *t)
{
	struct shstk_task *rec;
	unsigned long flags;

	if (!shstk_task_known(t))
		return;
	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_find(t);
	if (rec) {
		hash_del_rcu(&rec->node);
		atomic_dec(&shstk_stat_tasks);
		kfree_rcu(rec, rcu);
	}
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
}

/* An INSTALL for t begins: -EBUSY while another one is pending. */
int shstk_task_install_begin(struct task_struct *t)
{
	struct shstk_task *spare, *rec;
	unsigned long flags;
	int err = 0;

	spare = shstk_task_alloc();
	if (!spare)
		return -ENOMEM;
	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_get(t, &spare);
	if (rec->install_pending) {
		err = -EBUSY;
	} else {
		rec->install_pending = true;
		rec->install_errno = 0;
	}
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
	shstk_task_free(spare);
	return err;
}

/*
 * The INSTALL for t ended with err (0: applied, *ti is t's new shadow
 * stack; an errno stays for USAGE to report).
 */
void shstk_task_install_end(struct task_struct *t, int err, const struct shstk_thread_info *ti)
{
	struct shstk_task *rec;
	unsigned long flags;

	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_find(t);
	if (rec) {
		rec->install_pending = false;
		/* Reported like errno: positive. */
		rec->install_errno = -err;
		if (!err && ti)
			rec->thread = *ti;
		shstk_task_drop_if_empty(rec);
	}
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
}

void shstk_task_install_state(struct task_struct *t, bool *pending, int *err)
{
	struct shstk_task *rec;
	unsigned long flags;

	*pending = false;
	*err = 0;
	spin_lock_irqsave(&shstk_tasks_lock, flags);
	rec = shstk_task_find(t);
	if (rec) {
		*pending = rec->install_pending;
		*err = rec->install_errno;
	}
	spin_unlock_irqrestore(&shstk_tasks_lock, flags);
}
