// SPDX-License-Identifier: GPL-2.0
/*
 * Finding the thread an ioctl names (tid in the caller's pid namespace,
 * 0 = the caller) and checking the caller may act on it: its own process
 * always, another one only with the right to ptrace-attach to it.
 */
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>

#include "shstk.h"

/* A referenced task (put_task_struct() it) or ERR_PTR(-ESRCH / -EPERM). */
struct task_struct *shstk_get_target_thread(u32 tid)
{
	struct task_struct *task;

	if (!tid) {
		get_task_struct(current);
		return current;
	}
	if (tid > PID_MAX_LIMIT)
		return ERR_PTR(-ESRCH);

	rcu_read_lock();
	task = pid_task(find_vpid(tid), PIDTYPE_PID);
	/* A zombie has no threads' state left to look at. */
	if (task && READ_ONCE(task->exit_state))
		task = NULL;
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	if (!task)
		return ERR_PTR(-ESRCH);

	if (!same_thread_group(task, current) &&
	    !shstk_may_access(task, PTRACE_MODE_ATTACH_REALCREDS)) {
		put_task_struct(task);
		return ERR_PTR(-EPERM);
	}
	return task;
}
