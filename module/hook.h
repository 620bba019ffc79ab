/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hooks on kernel functions, through ftrace (the livepatch mechanism).
 *
 * Hooks are prepared at load (the function must be ftrace-able) and
 * registered on first use (shstk_activate()): until something is armed or
 * a policy set, the hooked functions run untouched, at no cost.
 *
 * A hook's handler runs at the function's entry, preemptible, and must
 * not sleep or call a hooked function. To do work that may sleep, it
 * redirects the function to a replacement with the same signature
 * (shstk_hook_redirect()); the replacement runs in the caller's normal
 * context and may call the original through its address:
 * calls from this module are never redirected. A redirect pins the module
 * until the replacement calls shstk_hook_done().
 */
#ifndef SHSTK_HOOK_H
#define SHSTK_HOOK_H

#include <linux/ftrace.h>
#include <linux/module.h>
#include <linux/tracepoint.h>

struct shstk_hook {
	const char *name;		/* the kernel function */
	ftrace_func_t handler;
	bool redirects;			/* IPMODIFY: may change the function run */
	struct ftrace_ops ops;
	bool prepared, registered;
};

/* Load: the function's ftrace filter. Unload: its release. */
int shstk_hook_prepare(struct shstk_hook *hook);
void shstk_hook_release(struct shstk_hook *hook);
/* First use: the hook goes live. */
int shstk_hook_register(struct shstk_hook *hook);
void shstk_hook_unregister(struct shstk_hook *hook);

/* In a handler: the call comes from this module (a replacement's own call). */
static inline bool shstk_hook_from_self(unsigned long parent_ip)
{
	return within_module(parent_ip, THIS_MODULE);
}

/* In a handler: run fn instead of the hooked function. False if unloading. */
static inline bool shstk_hook_redirect(struct ftrace_regs *fregs, void *fn)
{
	if (!try_module_get(THIS_MODULE))
		return false;
	ftrace_regs_set_instruction_pointer(fregs, (unsigned long)fn);
	return true;
}

/* At the end of a replacement: drop the pin taken by shstk_hook_redirect(). */
static inline void shstk_hook_done(void)
{
	module_put(THIS_MODULE);
}

/* Unload: wait until no task can still run in a replacement or handler. */
void shstk_hooks_sync(void);

/* Probes on kernel tracepoints, found by name (their symbols are not exported). */
struct shstk_tracepoint {
	const char *name;
	void *probe;
	struct tracepoint *tp;
	bool registered;
};

/* Load: find it. First use: probe it. */
int shstk_tracepoint_find(struct shstk_tracepoint *t);
int shstk_tracepoint_register(struct shstk_tracepoint *t);
void shstk_tracepoint_unregister(struct shstk_tracepoint *t);

#endif /* SHSTK_HOOK_H */
