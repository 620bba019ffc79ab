/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What differs between architectures, for the tests: x86-64 CET, arm64
 * GCS and RISC-V Zicfiss. The tests ask these helpers and stay the same on
 * all:
 *
 *   SHSTK_TEST_ARCH          the SHSTK_ARCH_* that INFO must report
 *   SHSTK_HW_NAME            what says the hardware is there, for messages
 *   shstk_hw_available()     the CPU and kernel give processes shadow stacks
 *   SHSTK_ENABLE_HERE()      turn the calling thread's on (inline; never return)
 *   SHSTK_LOCK_HERE()        lock it on (inline); 0 or -errno
 *   SHSTK_DISABLE_HERE()     turn it off (inline); 0 or -errno
 *   shstk_get_ssp()          the calling thread's shadow-stack pointer
 *   shstk_status_enabled()   the kernel says the calling thread's is on
 *   shstk_smash_return(to)   return to `to` instead of the caller, as a
 *                            stack buffer overflow would make a function do
 *   shstk_cperr_addr()       si_addr of the SEGV_CPERR that return raises
 *   shstk_token_value(addr)  the value of a valid restore token at addr
 *   SHSTK_NT_REGSET          ptrace regset whose first u64s hold the SSP
 *                            (SHSTK_REGSET_SSP: at that index)
 *   shstk_kernel_rule_clone(stack_size)  the shadow stack the kernel itself
 *                            makes for a clone with that clone_args.stack_size
 *   shstk_kernel_rule(stack) ... and for a glibc thread with a stack of that
 *                            size (glibc passes the stack with its guard,
 *                            SHSTK_GLIBC_GUARD)
 *   shstk_empty_ssp(top)     the SSP of a new thread on a kernel-made stack
 *                            whose mapping ends at top
 *   SHSTK_TOKEN_COPY_DISTANCE  how far below a token a copy of its value is
 *                            the nearest invalid token (names another address)
 *   shstk_read_ss(addr)      the u64 of shadow-stack memory at addr, read by
 *                            any thread (a plain load on x86 and arm64)
 *   SHSTK_SS_ACCESS_HERE()   in a child that ends with _exit(): let plain
 *                            loads and stores reach shadow-stack memory as
 *                            they do on x86 and arm64 (where it does
 *                            nothing); 0 or -errno
 */
#ifndef SHSTK_TEST_ARCH_H
#define SHSTK_TEST_ARCH_H

#include <fcntl.h>
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
#define SHSTK_LOCK_HERE() SHSTK_ARCH_PRCTL(ARCH_SHSTK_LOCK, ARCH_SHSTK_SHSTK)
#define SHSTK_DISABLE_HERE() SHSTK_ARCH_PRCTL(ARCH_SHSTK_DISABLE, ARCH_SHSTK_SHSTK)

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

/* A 64-bit restore token holds the SSP above it, with bit 0 set. */
static inline uint64_t shstk_token_value(uint64_t addr)
{
	return (addr + 8) | 1;
}

#ifndef NT_X86_SHSTK
#define NT_X86_SHSTK	0x204
#endif
#define SHSTK_NT_REGSET		NT_X86_SHSTK	/* one u64: SSP */
#define SHSTK_REGSET_SSP	0

/* shstk_alloc_thread_stack(): the stack size itself. */
static inline uint64_t shstk_kernel_rule_clone(uint64_t stack_size)
{
	return (stack_size + 4095) & ~4095ULL;
}

/* glibc's guard page. */
#define SHSTK_GLIBC_GUARD	4096ULL

/* SSP starts at the very top. */
static inline uint64_t shstk_empty_ssp(uint64_t top)
{
	return top;
}

/* A token holds its own address (+ 8): a copy is wrong one slot away. */
#define SHSTK_TOKEN_COPY_DISTANCE	8

#elif defined(__aarch64__)

#include <sys/auxv.h>

#include "gcs.h"

#define SHSTK_TEST_ARCH SHSTK_ARCH_ARM64_GCS
#define SHSTK_HW_NAME "HWCAP_GCS"
#define SHSTK_LOCK_HERE() SHSTK_PRCTL(PR_LOCK_SHADOW_STACK_STATUS, PR_SHADOW_STACK_ENABLE)
#define SHSTK_DISABLE_HERE() SHSTK_PRCTL(PR_SET_SHADOW_STACK_STATUS, 0)

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

/* A GCS cap token: its own page address with the valid bit (GCS_CAP()). */
static inline uint64_t shstk_token_value(uint64_t addr)
{
	return (addr & ~0xfffULL) | 1;
}

#ifndef NT_ARM_GCS
#define NT_ARM_GCS	0x410
#endif
/* struct user_gcs: features_enabled, features_locked, gcspr_el0. */
#define SHSTK_NT_REGSET		NT_ARM_GCS
#define SHSTK_REGSET_SSP	2

/* gcs_alloc_thread_stack(): half the stack size. */
static inline uint64_t shstk_kernel_rule_clone(uint64_t stack_size)
{
	return (stack_size / 2 + 4095) & ~4095ULL;
}

/*
 * glibc's guard is at least 64 KiB on arm64 (seen: a 1 MiB pthread got a
 * (1 MiB + 64 KiB) / 2 GCS).
 */
#define SHSTK_GLIBC_GUARD	65536ULL

/* gcs_alloc_thread_stack() starts a thread on the top slot, which stays zero. */
static inline uint64_t shstk_empty_ssp(uint64_t top)
{
	return top - 8;
}

/* A cap token holds its page's address: a copy is wrong only a page away. */
#define SHSTK_TOKEN_COPY_DISTANCE	4096

#elif defined(__riscv) && __riscv_xlen == 64

#include "zicfiss.h"

#define SHSTK_TEST_ARCH SHSTK_ARCH_RISCV_ZICFISS
#define SHSTK_HW_NAME "PR_GET_SHADOW_STACK_STATUS"
/* riscv takes no feature mask here: the argument must be 0. */
#define SHSTK_LOCK_HERE() SHSTK_PRCTL(PR_LOCK_SHADOW_STACK_STATUS, 0)
#define SHSTK_DISABLE_HERE() SHSTK_PRCTL(PR_SET_SHADOW_STACK_STATUS, 0)

/*
 * The kernel answers PR_GET_SHADOW_STACK_STATUS only when the CPU has
 * Zicfiss and user shadow stacks are not turned off on its command line
 * (EINVAL otherwise): exactly "processes can have shadow stacks".
 */
static inline bool shstk_hw_available(void)
{
	unsigned long mode = 0;

	return !prctl(PR_GET_SHADOW_STACK_STATUS, &mode, 0, 0, 0);
}

static inline bool shstk_status_enabled(void)
{
	unsigned long mode = 0;

	return !prctl(PR_GET_SHADOW_STACK_STATUS, &mode, 0, 0, 0) &&
	       (mode & PR_SHADOW_STACK_ENABLE);
}

/*
 * In assembly, as the compiler would build a function that saves ra: its
 * saved ra is overwritten with `to` (a0) and reloaded, and the sspopchk
 * before the ret compares it with the entry the sspush made.
 */
void shstk_smash_return(void (*to)(void));
extern const char shstk_smash_return_chk[];
__asm__(".pushsection .text\n"
	".weak shstk_smash_return\n"
	".type shstk_smash_return, %function\n"
	"shstk_smash_return:\n"
	"	sspush ra\n"
	"	addi sp, sp, -16\n"
	"	sd ra, 8(sp)\n"
	"	sd a0, 8(sp)\n"
	"	ld ra, 8(sp)\n"
	"	addi sp, sp, 16\n"
	".weak shstk_smash_return_chk\n"
	"shstk_smash_return_chk:\n"
	"	sspopchk ra\n"
	"	ret\n"
	".size shstk_smash_return, . - shstk_smash_return\n"
	".popsection\n");

/*
 * A failed sspopchk is a software-check exception, reported as SEGV_CPERR
 * at the faulting instruction (handle_user_cfi_violation()).
 */
static inline void *shstk_cperr_addr(void)
{
	return (void *)shstk_smash_return_chk;
}

/* A restore token holds the address just above it (create_rstor_token()). */
static inline uint64_t shstk_token_value(uint64_t addr)
{
	return addr + 8;
}

#ifndef NT_RISCV_USER_CFI
#define NT_RISCV_USER_CFI	0x903
#endif
/* struct user_cfi_state: cfi_status.cfi_state, shstk_ptr. */
#define SHSTK_NT_REGSET		NT_RISCV_USER_CFI
#define SHSTK_REGSET_SSP	1

/* shstk_alloc_thread_stack(): the stack size itself, as on x86. */
static inline uint64_t shstk_kernel_rule_clone(uint64_t stack_size)
{
	return (stack_size + 4095) & ~4095ULL;
}

/*
 * What glibc's clone3() stack_size adds to a pthread's stack size, after
 * the kernel's page rounding: nothing with Debian sid's riscv64 glibc 2.43
 * (seen: 1 MiB, 8 MiB and 64 MiB pthreads got shadow stacks of exactly
 * that size).
 */
#define SHSTK_GLIBC_GUARD	0ULL

/* SSP starts at the very top. */
static inline uint64_t shstk_empty_ssp(uint64_t top)
{
	return top;
}

/* A token holds its own address (+ 8): a copy is wrong one slot away. */
#define SHSTK_TOKEN_COPY_DISTANCE	8

/*
 * Shadow-stack pages are PTE.xwr = 010, an encoding reserved where the
 * accessing thread's shadow stack is off: there a plain load or store to
 * one faults, and Linux 7.2 retries the access forever (seen in QEMU
 * 11.1: the thread hangs until killed). /proc/self/mem reads it as
 * ptrace does, from any thread.
 */
static inline uint64_t shstk_read_ss(uint64_t addr)
{
	uint64_t v = ~0ULL;
	int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (pread(fd, &v, sizeof(v), (off_t)addr) != sizeof(v))
			v = ~0ULL;
		close(fd);
	}
	return v;
}

/* With its shadow stack on, a store to one is an access fault: SIGSEGV. */
#define SHSTK_SS_ACCESS_HERE() SHSTK_ENABLE_HERE()

#else
#error "no user shadow stacks on this architecture (x86-64 CET, arm64 GCS, riscv64 Zicfiss)"
#endif

#if !defined(__riscv)
static inline uint64_t shstk_read_ss(uint64_t addr)
{
	return *(volatile uint64_t *)(uintptr_t)addr;
}

#define SHSTK_SS_ACCESS_HERE() 0
#endif

static inline uint64_t shstk_kernel_rule(uint64_t pthread_stack)
{
	return shstk_kernel_rule_clone(pthread_stack + SHSTK_GLIBC_GUARD);
}

#endif /* SHSTK_TEST_ARCH_H */
