// SPDX-License-Identifier: GPL-2.0
/*
 * shstk: control over user shadow-stack allocation, through /dev/shstk.
 *
 * This file owns the module's life: the misc device and load/unload.
 * ioctl.c holds the ioctl rules, arch_*.c the CPU-specific parts.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>

#include <linux/shstk.h>
#include "arch.h"
#include "shstk.h"
#include "version.h"

u64 shstk_features;
static struct dentry *shstk_debugfs;

/*
 * The ftrace hooks and tracepoint probes go live on first use: the first
 * SET_CLONE arming, INSTALL, process policy or system default. Until then
 * a loaded shstk costs the kernel's clone and exit paths nothing (no
 * trampoline on them). Once live they stay until unload: the records made
 * under them need them to the end.
 */
static DEFINE_MUTEX(shstk_activate_lock);
static bool shstk_ready;	/* past init's setup, before exit: activation may run */
static bool shstk_active;

int shstk_activate(void)
{
	int err = 0;

	/* Pairs with the release below: live hooks are seen as live. */
	if (smp_load_acquire(&shstk_active))
		return 0;
	mutex_lock(&shstk_activate_lock);
	/*
	 * Parameters given to insmod are set before init: init activates.
	 * Without the clone hooks (no CET) there is nothing to make live; the
	 * ioctls that need them are EOPNOTSUPP.
	 */
	if (shstk_active || !shstk_ready || !(shstk_features & SHSTK_FEAT_CLONE_SIZE))
		goto out;
	if (shstk_features & SHSTK_FEAT_POLICY) {
		err = shstk_policy_hooks_on();
		if (err)
			goto out;
	}
	err = shstk_clone_hooks_on();
	if (err) {
		/* Policies can have no record yet: only the probes to undo. */
		shstk_policy_hooks_off();
		goto out;
	}
	/* Pairs with the acquire above. */
	smp_store_release(&shstk_active, true);
	pr_info("hooks live (first use)\n");
out:
	mutex_unlock(&shstk_activate_lock);
	return err;
}

#ifdef SHSTK_DEBUG_DELAYS
static char shstk_debug_delay_point[32];
static unsigned int shstk_debug_delay_ms;
module_param_string(debug_delay_point, shstk_debug_delay_point,
		    sizeof(shstk_debug_delay_point), 0644);
MODULE_PARM_DESC(debug_delay_point, "Test builds: the race window to pause in");
module_param_named(debug_delay_ms, shstk_debug_delay_ms, uint, 0644);
MODULE_PARM_DESC(debug_delay_ms, "Test builds: how long to pause there (ms)");

static unsigned int shstk_debug_delay_here(const char *point)
{
	unsigned int ms = READ_ONCE(shstk_debug_delay_ms);

	return ms && !strncmp(point, shstk_debug_delay_point, strlen(point)) ? ms : 0;
}

void shstk_debug_delay(const char *point)
{
	unsigned int ms = shstk_debug_delay_here(point);

	if (ms)
		msleep(ms);
}

void shstk_debug_spin(const char *point)
{
	unsigned int ms = shstk_debug_delay_here(point);

	while (ms--)
		mdelay(1);
}
#endif

static const struct file_operations shstk_fops = {
	/* An open /dev/shstk pins the module: rmmod waits for the last close. */
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= shstk_ioctl,
	/* 32-bit tasks have no user shadow stacks: no compat_ioctl. */
	.llseek		= noop_llseek,
};

static struct miscdevice shstk_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "shstk",
	.fops	= &shstk_fops,
	/* Every ioctl checks its own rights (ptrace rules for other tasks). */
	.mode	= 0666,
};

static int __init shstk_init(void)
{
	int err;

	err = shstk_tasks_init();
	if (err)
		return err;
	err = shstk_ksyms_init();
	if (err)
		goto err_tasks;
	err = shstk_arch_init(&shstk_features);
	if (err)
		goto err_tasks;
	/* The clone features need their hooks (arch.h). */
	if ((shstk_features & SHSTK_FEAT_CLONE_SIZE) && shstk_clone_init())
		shstk_features &= ~(SHSTK_FEAT_CLONE_SIZE | SHSTK_FEAT_CLONE_TOKEN);
	/* Policies size threads through the clone hook. */
	if ((shstk_features & SHSTK_FEAT_CLONE_SIZE) && shstk_policy_init())
		shstk_features |= SHSTK_FEAT_POLICY;
	/* INSTALL maps with ALLOC's means and its records need the hooks. */
	if ((shstk_features & (SHSTK_FEAT_ALLOC | SHSTK_FEAT_CLONE_SIZE)) ==
	    (SHSTK_FEAT_ALLOC | SHSTK_FEAT_CLONE_SIZE))
		shstk_features |= SHSTK_FEAT_INSTALL;

	/* A system default given to insmod applies from the start. */
	mutex_lock(&shstk_activate_lock);
	shstk_ready = true;
	mutex_unlock(&shstk_activate_lock);
	if (shstk_policy_default_active()) {
		err = shstk_activate();
		if (err) {
			pr_err("cannot apply the system default: hooks unavailable (%d)\n", err);
			goto err_arch;
		}
	}

	/* Last: from here on userspace can reach the module. */
	err = misc_register(&shstk_miscdev);
	if (err)
		goto err_arch;

	/* Counts of live records: tests check they fall back (no leak). */
	shstk_debugfs = debugfs_create_dir("shstk", NULL);
	debugfs_create_atomic_t("tasks", 0444, shstk_debugfs, &shstk_stat_tasks);
	debugfs_create_atomic_t("policies", 0444, shstk_debugfs, &shstk_stat_policies);
	/* Y once the hooks are live: tests check they wait for first use. */
	debugfs_create_bool("hooks_live", 0444, shstk_debugfs, &shstk_active);

	pr_info("version %s loaded, user shadow stacks %s, features %#llx\n", SHSTK_VERSION,
		shstk_arch_hw_usable() ? "available" : "not available on this CPU or kernel",
		shstk_features);
	return 0;

err_arch:
	shstk_policy_exit_all();
	shstk_clone_exit();
err_tasks:
	shstk_tasks_exit();
	return err;
}

static void __exit shstk_exit(void)
{
	/*
	 * No activation from here on: a module parameter can still be
	 * written while exit runs (its sysfs file goes after), and must not
	 * register hooks or probes behind the teardown below.
	 */
	mutex_lock(&shstk_activate_lock);
	shstk_ready = false;
	mutex_unlock(&shstk_activate_lock);
	debugfs_remove(shstk_debugfs);
	misc_deregister(&shstk_miscdev);
	shstk_policy_exit_all();
	/* Unhooks and waits for every task to leave the module's code. */
	shstk_clone_exit();
	shstk_tasks_exit();
}

module_init(shstk_init);
module_exit(shstk_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The shstk developers");
MODULE_DESCRIPTION("Control over user shadow-stack allocation (/dev/shstk)");
MODULE_VERSION(SHSTK_VERSION);
