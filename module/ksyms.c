// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel functions shstk needs but the kernel does not export to modules
 * (ptrace_may_access, and the arch backend's shadow-stack internals).
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
#include <linux/static_call.h>

#include "shstk.h"

typedef unsigned long shstk_kallsyms_fn(const char *name);
typedef bool shstk_ptrace_may_access_fn(struct task_struct *task, unsigned int mode);
static_assert(__same_type(kallsyms_lookup_name, shstk_kallsyms_fn));
static_assert(__same_type(ptrace_may_access, shstk_ptrace_may_access_fn));
DEFINE_STATIC_CALL_NULL(shstk_kallsyms_lookup_name, shstk_kallsyms_fn);
DEFINE_STATIC_CALL_NULL(shstk_ptrace_may_access, shstk_ptrace_may_access_fn);
static bool shstk_have_ptrace_may_access;

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
