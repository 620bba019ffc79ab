// SPDX-License-Identifier: GPL-2.0
/* Registration of the ftrace hooks described in hook.h. */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ftrace.h>
#include <linux/rcupdate.h>
#include <linux/string.h>

#include "hook.h"

int shstk_hook_prepare(struct shstk_hook *hook)
{
	char name[KSYM_NAME_LEN];
	int err;

	hook->ops.func = hook->handler;
	/*
	 * No FTRACE_OPS_FL_RECURSION: the trampoline calls the handler
	 * directly, without ftrace's recursion-guarding wrapper (it costs
	 * every clone). The handlers never call a hooked function, so they
	 * cannot recurse; they run preemptible, which they allow (RCU
	 * lookups, spinlocks), and unload waits for them with tasks RCU.
	 */
	/*
	 * PERMANENT, as livepatch: sysctl kernel.ftrace_enabled=0 would
	 * otherwise stop the hooks silently (free_task()'s among them, and
	 * records would outlive their tasks); with it the sysctl write fails
	 * with EBUSY while the hooks are live.
	 */
	hook->ops.flags = FTRACE_OPS_FL_PERMANENT;
	/*
	 * A redirect sets the instruction pointer in the ftrace_regs. x86
	 * returns through it only from its full-regs trampoline (SAVE_REGS);
	 * arm64 has no such trampoline (no DYNAMIC_FTRACE_WITH_REGS, and
	 * ftrace refuses SAVE_REGS there), and its ftrace_caller returns
	 * to the pc in the ftrace_regs anyway.
	 */
	if (hook->redirects)
		hook->ops.flags |= FTRACE_OPS_FL_IPMODIFY;
	if (hook->redirects && IS_ENABLED(CONFIG_DYNAMIC_FTRACE_WITH_REGS))
		hook->ops.flags |= FTRACE_OPS_FL_SAVE_REGS;

	/* By name: the functions are not exported, but are ftrace-able. */
	strscpy(name, hook->name, sizeof(name));
	err = ftrace_set_filter(&hook->ops, name, strlen(name), 1);
	if (err) {
		pr_warn("cannot hook %s (ftrace filter: %d)\n", hook->name, err);
		return err;
	}
	hook->prepared = true;
	return 0;
}

void shstk_hook_release(struct shstk_hook *hook)
{
	if (!hook->prepared)
		return;
	ftrace_free_filter(&hook->ops);
	hook->prepared = false;
}

int shstk_hook_register(struct shstk_hook *hook)
{
	int err;

	err = register_ftrace_function(&hook->ops);
	if (err) {
		/* EBUSY: another IPMODIFY user (a livepatch) holds the function. */
		pr_warn("cannot hook %s (ftrace: %d)\n", hook->name, err);
		return err;
	}
	hook->registered = true;
	return 0;
}

void shstk_hook_unregister(struct shstk_hook *hook)
{
	if (!hook->registered)
		return;
	unregister_ftrace_function(&hook->ops);
	hook->registered = false;
}

/*
 * After the hooks are gone, a task may still be between a replacement's
 * module_put() and its return, or in a handler. Tasks RCU waits until
 * every task has passed a voluntary schedule or user mode, which neither
 * place contains.
 */
void shstk_hooks_sync(void)
{
	synchronize_rcu_tasks();
}

static void shstk_tracepoint_match(struct tracepoint *tp, void *priv)
{
	struct shstk_tracepoint *t = priv;

	if (!strcmp(tp->name, t->name))
		t->tp = tp;
}

int shstk_tracepoint_find(struct shstk_tracepoint *t)
{
	for_each_kernel_tracepoint(shstk_tracepoint_match, t);
	if (!t->tp) {
		pr_warn("no tracepoint %s\n", t->name);
		return -ENOENT;
	}
	return 0;
}

int shstk_tracepoint_register(struct shstk_tracepoint *t)
{
	int err;

	err = tracepoint_probe_register(t->tp, t->probe, NULL);
	if (err)
		pr_warn("cannot probe tracepoint %s: %d\n", t->name, err);
	else
		t->registered = true;
	return err;
}

void shstk_tracepoint_unregister(struct shstk_tracepoint *t)
{
	if (!t->registered)
		return;
	tracepoint_probe_unregister(t->tp, t->probe, NULL);
	t->registered = false;
	/* No probe may still run when the module text goes. */
	tracepoint_synchronize_unregister();
}
