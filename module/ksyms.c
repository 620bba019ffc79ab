// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel functions shstk needs but the kernel does not export to modules
 * (ptrace_may_access, wait_task_inactive, and the arch backend's
 * shadow-stack internals).
 *
 * kallsyms_lookup_name() is not exported either; a kprobe on it reveals
 * its address, the usual way for out-of-tree code that must work on a
 * stock kernel. None of these functions may be called through a function
 * pointer: on IBT kernels objtool "seals" functions whose address the
 * kernel never takes (their ENDBR64 becomes a NOP) and an indirect call to
 * them is a control-protection fault. A static call is a patched direct
 * call, which IBT does not check. A feature whose symbol is missing stays
 * off in SHSTK_IOC_INFO instead of failing the load.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/static_call.h>

#include "shstk.h"

typedef unsigned long shstk_kallsyms_fn(const char *name);
typedef bool shstk_ptrace_may_access_fn(struct task_struct *task, unsigned int mode);
typedef unsigned long shstk_wait_task_inactive_fn(struct task_struct *p, unsigned int match_state);
static_assert(__same_type(kallsyms_lookup_name, shstk_kallsyms_fn));
static_assert(__same_type(ptrace_may_access, shstk_ptrace_may_access_fn));
static_assert(__same_type(wait_task_inactive, shstk_wait_task_inactive_fn));
DEFINE_STATIC_CALL_NULL(shstk_kallsyms_lookup_name, shstk_kallsyms_fn);
DEFINE_STATIC_CALL_NULL(shstk_ptrace_may_access, shstk_ptrace_may_access_fn);
DEFINE_STATIC_CALL_NULL(shstk_wait_task_inactive, shstk_wait_task_inactive_fn);
static bool shstk_have_ptrace_may_access, shstk_have_wait_task_inactive;

int shstk_ksyms_init(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	unsigned long addr;
	int err;

	err = register_kprobe(&kp);
	if (err) {
		pr_err("cannot locate kallsyms_lookup_name (kprobe: %d)\n", err);
		return err;
	}
	/* The probe address: the entry, or just past ENDBR64; fine for a direct call. */
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	static_call_update(shstk_kallsyms_lookup_name, (shstk_kallsyms_fn *)addr);

	addr = shstk_ksym("ptrace_may_access");
	if (addr) {
		static_call_update(shstk_ptrace_may_access, (shstk_ptrace_may_access_fn *)addr);
		shstk_have_ptrace_may_access = true;
	}
	addr = shstk_ksym("wait_task_inactive");
	if (addr) {
		static_call_update(shstk_wait_task_inactive, (shstk_wait_task_inactive_fn *)addr);
		shstk_have_wait_task_inactive = true;
	}
	return 0;
}

/* Address of a kernel symbol, or 0 (with a message) when it is not there. */
unsigned long shstk_ksym(const char *name)
{
	unsigned long addr = static_call(shstk_kallsyms_lookup_name)(name);

	if (!addr)
		pr_warn("kernel symbol %s not found: features that need it are off\n", name);
	return addr;
}

/* ptrace_may_access(), or "no" when it could not be found. */
bool shstk_may_access(struct task_struct *task, unsigned int mode)
{
	return shstk_have_ptrace_may_access &&
	       static_call(shstk_ptrace_may_access)(task, mode);
}

/*
 * Another thread's registers are the ones saved when it last left a CPU.
 * A thread that has just blocked is seen sleeping before the switch that
 * saves them (on another CPU): wait for that switch, as /proc/PID/syscall
 * does. A thread that wakes up meanwhile, or runs, is not waited for.
 */
void shstk_wait_off_cpu(struct task_struct *t)
{
	unsigned int state = READ_ONCE(t->__state);

	if (t != current && shstk_have_wait_task_inactive &&
	    (state & (TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE | __TASK_STOPPED | __TASK_TRACED)))
		static_call(shstk_wait_task_inactive)(t, state);
}
