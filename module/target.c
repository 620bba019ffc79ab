// SPDX-License-Identifier: GPL-2.0
/*
 * Finding the thread or process an ioctl names (an id in the caller's pid
 * namespace, 0 = the caller) and checking the caller may act on it: its
 * own process always, another one only with the right to ptrace-attach
 * to it.
 *
 * A rights check is only good for the credentials it saw. An execve that
 * gains privilege changes them (and the mm) under the target's
 * exec_update_lock, so the ioctls that read or change another process's
 * state hold that lock for reading from the check to the end, as /proc
 * does with mm_access(): shstk_lock_target() and shstk_unlock_target().
 */
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>

#include "shstk.h"

/* Under RCU: a thread of leader's process that has not exited, or NULL. */
static struct task_struct *shstk_live_thread(struct task_struct *leader)
{
	struct task_struct *t;

	for_each_thread(leader, t)
		if (!READ_ONCE(t->exit_state))
			return t;
	return NULL;
}

/*
 * The task for id, referenced, or NULL. A zombie has no thread state left
 * to look at; but for a process (process: the ioctl acts on the whole
 * process, by its pid), a zombie leader whose other threads live stands
 * for a live thread of the process.
 */
static struct task_struct *shstk_find_task(u32 id, bool process)
{
	struct task_struct *task;

	if (!id) {
		get_task_struct(current);
		return current;
	}
	if (id > PID_MAX_LIMIT)
		return NULL;
	rcu_read_lock();
	task = pid_task(find_vpid(id), PIDTYPE_PID);
	if (task && READ_ONCE(task->exit_state))
		task = process && thread_group_leader(task) ? shstk_live_thread(task) : NULL;
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	return task;
}

static bool shstk_may_target(struct task_struct *task)
{
	return same_thread_group(task, current) ||
	       shstk_may_access(task, PTRACE_MODE_ATTACH_REALCREDS);
}

/*
 * A referenced task (put_task_struct() it) or ERR_PTR(-ESRCH / -EPERM);
 * process: id is a process (see shstk_find_task()).
 */
struct task_struct *shstk_get_target(u32 id, bool process)
{
	struct task_struct *task = shstk_find_task(id, process);

	if (!task)
		return ERR_PTR(-ESRCH);
	if (!shstk_may_target(task)) {
		put_task_struct(task);
		return ERR_PTR(-EPERM);
	}
	return task;
}

/*
 * As shstk_get_target(), and returns with the target's exec_update_lock held
 * for reading: undo with shstk_unlock_target(). Also -EINTR on a fatal
 * signal while waiting for an execve of the target.
 */
struct task_struct *shstk_lock_target(u32 id, bool process)
{
	struct task_struct *task = shstk_find_task(id, process);
	int err;

	if (!task)
		return ERR_PTR(-ESRCH);
	err = down_read_killable(&task->signal->exec_update_lock);
	if (err) {
		put_task_struct(task);
		return ERR_PTR(err);
	}
	if (!shstk_may_target(task)) {
		shstk_unlock_target(task);
		return ERR_PTR(-EPERM);
	}
	return task;
}

void shstk_unlock_target(struct task_struct *task)
{
	up_read(&task->signal->exec_update_lock);
	put_task_struct(task);
}
