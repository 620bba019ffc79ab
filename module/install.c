// SPDX-License-Identifier: GPL-2.0
/*
 * SHSTK_IOC_INSTALL: a tracer gives a new thread, stopped before its first
 * user instruction (PTRACE_O_TRACECLONE), a shadow stack of its choosing.
 *
 * Only the thread itself can map into and switch its own shadow stack, so
 * the ioctl checks everything it can, then queues the change as task work
 * that the thread runs on its way back to user mode, before any user
 * instruction. If applying fails there (the thread has pushed frames
 * since, memory ran out, the token went bad) it keeps its old shadow stack
 * and USAGE reports the errno. A pending install pins the module.
 */
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/task_work.h>

#include "arch.h"
#include "shstk.h"

struct shstk_install_req {
	struct callback_head work;
	u64 size;
	u64 token;
};

/* Is t stopped in a ptrace stop of the calling thread? */
static bool shstk_traced_by_current(struct task_struct *t)
{
	bool ours;

	rcu_read_lock();
	ours = ptrace_parent(t) == current && task_is_traced(t);
	rcu_read_unlock();
	return ours;
}

/* Is t's kernel-made shadow stack untouched (SSP at its top)? */
static bool shstk_empty_kernel_stack(struct task_struct *t)
{
	struct shstk_arch_thread st;

	shstk_arch_thread(t, &st);
	return st.enabled && st.base && st.ssp == shstk_arch_empty_ssp(st.base, st.size);
}

/* In the target's context: make the change. */
static int shstk_install_here(const struct shstk_install_req *req, struct shstk_thread_info *ti)
{
	struct shstk_arch_thread old;
	unsigned long base, size;
	long addr;
	int err;

	shstk_arch_thread(current, &old);
	if (!old.enabled || !old.base || old.ssp != shstk_arch_empty_ssp(old.base, old.size))
		return -EBUSY;	/* it pushed frames since (e.g. a signal was injected) */

	if (req->size) {
		size = PAGE_ALIGN(req->size);
		addr = shstk_arch_map(size, false);
		if (IS_ERR_VALUE(addr))
			return addr;
		err = shstk_arch_switch_current(shstk_arch_empty_ssp(addr, size), addr, size);
		if (err) {
			vm_munmap(addr, size);
			return err;
		}
		ti->origin = SHSTK_ORIGIN_SIZED;
	} else {
		err = shstk_token_consume(current->mm, req->token, &base);
		if (err)
			return err;
		err = shstk_arch_switch_current(shstk_arch_token_ssp(req->token), 0, 0);
		if (err) {
			shstk_token_restore(current->mm, req->token, base);
			return err;
		}
		ti->origin = SHSTK_ORIGIN_TOKEN;
		ti->token = req->token;
		ti->base = base;
		ti->size = shstk_arch_token_ssp(req->token) - base;
	}
	/* The old stack was the kernel's and is no one's now. */
	vm_munmap(old.base, old.size);
	return 0;
}

static void shstk_install_work(struct callback_head *head)
{
	struct shstk_install_req *req = container_of(head, struct shstk_install_req, work);
	struct shstk_thread_info ti = {};
	int err = -ESRCH;

	/* Exiting (task works also run from do_exit): nothing to switch. */
	if (!(current->flags & PF_EXITING) && current->mm)
		err = shstk_install_here(req, &ti);
	shstk_task_install_end(current, err, &ti);
	kfree(req);
	module_put(THIS_MODULE);
}

int shstk_ioc_install(union shstk_ioc_arg *arg)
{
	const struct shstk_install *in = &arg->install;
	struct shstk_install_req *req;
	struct task_struct *task;
	struct mm_struct *mm;
	int err;

	if (in->flags || in->reserved)
		return -EINVAL;
	if (!in->shadow_stack_size == !in->shadow_stack_token)
		return -EINVAL;		/* exactly one of them */
	if (in->shadow_stack_size && shstk_check_size(in->shadow_stack_size))
		return -EINVAL;
	if (in->shadow_stack_token && !IS_ALIGNED(in->shadow_stack_token, 8))
		return -EINVAL;

	task = shstk_get_target(in->tid, false);
	if (IS_ERR(task))
		return PTR_ERR(task);
	err = -EBUSY;
	if (!shstk_traced_by_current(task) || !shstk_empty_kernel_stack(task))
		goto out_put;

	if (in->shadow_stack_token) {
		mm = get_task_mm(task);
		err = mm ? shstk_token_check(mm, in->shadow_stack_token) : -ESRCH;
		if (mm)
			mmput(mm);
		if (err)
			goto out_put;
	}
	/* The thread's record and exit need the hooks live. */
	err = shstk_activate();
	if (err)
		goto out_put;

	err = -ENOMEM;
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		goto out_put;
	req->size = in->shadow_stack_size;
	req->token = in->shadow_stack_token;
	init_task_work(&req->work, shstk_install_work);

	err = shstk_task_install_begin(task);
	if (err)
		goto out_free;
	/* Held until the work has run: it is module code. */
	__module_get(THIS_MODULE);
	err = task_work_add(task, &req->work, TWA_RESUME);
	if (err) {
		module_put(THIS_MODULE);
		shstk_task_install_end(task, 0, NULL);
		err = -ESRCH;	/* exiting */
		goto out_free;
	}
	put_task_struct(task);
	return 0;

out_free:
	kfree(req);
out_put:
	put_task_struct(task);
	return err;
}
