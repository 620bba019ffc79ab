/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What differs between architectures, for the tests: x86-64 CET and arm64
 * GCS. The tests ask these helpers and stay the same on both:
 *
 *   SHSTK_TEST_ARCH          the SHSTK_ARCH_* that INFO must report
 *   SHSTK_HW_NAME            what says the hardware is there, for messages
 *   shstk_hw_available()     the CPU and kernel give processes shadow stacks
 *   SHSTK_ENABLE_HERE()      turn the calling thread's on (inline; never return)
 *   shstk_get_ssp()          the calling thread's shadow-stack pointer
 *   shstk_status_enabled()   the kernel says the calling thread's is on
 *   shstk_smash_return(to)   return to `to` instead of the caller, as a
 *                            stack buffer overflow would make a function do
 *   shstk_cperr_addr()       si_addr of the SEGV_CPERR that return raises
 */
#ifndef SHSTK_TEST_ARCH_H
#define SHSTK_TEST_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/shstk.h>

/* Whether /proc/cpuinfo lists the CPU flag (e.g. "user_shstk"). */
static inline bool cpuinfo_has_flag(const char *flag)
{
	char line[4096], *p;
	size_t len = strlen(flag);
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (p = strstr(line, flag); p && !found; p = strstr(p + 1, flag))
			found = p[-1] == ' ' && (p[len] == ' ' || p[len] == '\n');
	}
	fclose(f);
	return found;
}

#if defined(__x86_64__)

#include "shstk_cet.h"

#define SHSTK_TEST_ARCH SHSTK_ARCH_X86_64
#define SHSTK_HW_NAME "user_shstk"

/*
 * True when the CPU and the kernel give this process shadow stacks: the
 * kernel lists user_shstk only when X86_FEATURE_USER_SHSTK is on.
 * (ARCH_SHSTK_STATUS cannot tell: it answers even without the feature.)
 */
static inline bool shstk_hw_available(void)
{
	return cpuinfo_has_flag("user_shstk");
}

static inline bool shstk_status_enabled(void)
{
	unsigned long features = 0;

	return !syscall(__NR_arch_prctl, ARCH_SHSTK_STATUS, &features) &&
	       (features & ARCH_SHSTK_SHSTK);
}

/* Overwrite our own return address, as a stack buffer overflow would. */
static void __attribute__((noinline, unused)) shstk_smash_return(void (*to)(void))
{
	unsigned long *ret_addr = (unsigned long *)__builtin_frame_address(0) + 1;

	*(volatile unsigned long *)ret_addr = (unsigned long)to;
}

/* #CP is reported as SEGV_CPERR with a NULL address (arch/x86/kernel/cet.c). */
static inline void *shstk_cperr_addr(void)
{
	return NULL;
}

#elif defined(__aarch64__)

#include <sys/auxv.h>

#include "gcs.h"

#define SHSTK_TEST_ARCH SHSTK_ARCH_ARM64_GCS
#define SHSTK_HW_NAME "HWCAP_GCS"

/*
 * HWCAP_GCS: the CPU has GCS and the kernel supports it for EL0 (the
 * kernel sets the hwcap only with CONFIG_ARM64_GCS).
 */
static inline bool shstk_hw_available(void)
{
	return getauxval(AT_HWCAP) & HWCAP_GCS;
}

static inline bool shstk_status_enabled(void)
{
	unsigned long mode = 0;

	return !prctl(PR_GET_SHADOW_STACK_STATUS, &mode, 0, 0, 0) &&
	       (mode & PR_SHADOW_STACK_ENABLE);
}

/*
 * In assembly: gcc 16 drops a C store to the saved LR as dead. The frame
 * record's LR is overwritten with `to` (x0) and reloaded before the ret,
 * which GCS checks against the entry the bl pushed.
 */
void shstk_smash_return(void (*to)(void));
extern const char shstk_smash_return_ret[];
__asm__(".pushsection .text\n"
	".weak shstk_smash_return\n"
	".type shstk_smash_return, %function\n"
	"shstk_smash_return:\n"
	"	hint 34\n"			/* bti c */
	"	stp x29, x30, [sp, #-16]!\n"
	"	mov x29, sp\n"
	"	str x0, [sp, #8]\n"
	"	ldp x29, x30, [sp], #16\n"
	".weak shstk_smash_return_ret\n"
	"shstk_smash_return_ret:\n"
	"	ret\n"
	".size shstk_smash_return, . - shstk_smash_return\n"
	".popsection\n");

/* A GCS fault is SEGV_CPERR at the faulting instruction (do_el0_gcs()): that ret. */
static inline void *shstk_cperr_addr(void)
{
	return (void *)shstk_smash_return_ret;
}

#else
#error "no user shadow stacks on this architecture (x86-64 CET, arm64 GCS)"
#endif

#endif /* SHSTK_TEST_ARCH_H */
