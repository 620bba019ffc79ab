/* SPDX-License-Identifier: MIT */
/*
 * libshstk: the C API over /dev/shstk (see shstk(4) for the device and
 * libshstk(3) for this library). C99; usable from C++.
 *
 * Errors: every function that can fail returns -1 and sets errno, as
 * system calls do; success is 0 (shstk_clone3: the child's tid). The
 * errno values are the device's (shstk(4)), plus ENOENT when /dev/shstk
 * does not exist (the shstk module is not loaded) and EACCES when it
 * cannot be opened.
 *
 * State: the only state is the device file descriptor, opened on first use
 * (O_CLOEXEC, safe from any thread) and kept until shstk_close().
 *
 * In C++, name the uapi structs with "struct" (struct shstk_info info;):
 * the functions shstk_info(), shstk_alloc(), shstk_usage() and
 * shstk_install() hide the bare type names.
 */
#ifndef SHSTK_H
#define SHSTK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/shstk.h>
/* SHSTK_ENABLE_HERE(), shstk_get_ssp(): enabling a shadow stack safely. */
#if defined(__x86_64__)
#include "shstk_cet.h"
#elif defined(__aarch64__)
#include "shstk_gcs.h"
#elif defined(__riscv) && __riscv_xlen == 64
#include "shstk_zicfiss.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The fields of the kernel's struct clone_args (clone3(2)), followed by the
 * two of the upstream clone3 shadow-stack proposal. At most one of
 * shadow_stack_size and shadow_stack_token is non-zero.
 */
struct shstk_clone_args {
	uint64_t flags;			/* CLONE_* */
	uint64_t pidfd;			/* as clone3(2) */
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;			/* lowest address of the new stack */
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
	uint64_t shadow_stack_size;	/* a kernel-made shadow stack of this size, or 0 */
	uint64_t shadow_stack_token;	/* a caller-made one: address of its token, or 0 */
};

/* Smallest size shstk_clone3() accepts: version 0 of the struct above. */
#define SHSTK_CLONE_ARGS_SIZE_VER0	104

/* Fill *info with what the device supports (struct shstk_info). */
int shstk_info(struct shstk_info *info);

/*
 * Map a shadow stack of size bytes in this process; flags SHSTK_ALLOC_TOKEN
 * puts a restore token at its top. *addr gets the lowest address, *token
 * the token's address (0 without the flag); either pointer may be NULL.
 * Free it with munmap().
 */
int shstk_alloc(uint64_t size, uint32_t flags, uint64_t *addr, uint64_t *token);

/* Shadow-stack use of thread tid (0: the calling thread). */
int shstk_usage(pid_t tid, struct shstk_usage *usage);

/*
 * Arm the calling thread's next thread-creating clone (SHSTK_IOC_SET_CLONE):
 * a kernel-made shadow stack of size bytes, or the caller-made one whose
 * restore token is at token (a token arming: its next clone of any kind,
 * as upstream's shadow_stack_token; a fork-like child takes the token in
 * its own copy of the address space). flags: SHSTK_CLONE_PERSIST,
 * SHSTK_CLONE_EXIT_TOKEN. All zero disarms.
 */
int shstk_set_clone(uint32_t flags, uint64_t size, uint64_t token);

/* Read the calling thread's arming back. */
int shstk_get_clone(struct shstk_clone *arming);

/*
 * Replace the shadow stack of thread tid, which the caller traces and which
 * is stopped before using it (SHSTK_IOC_INSTALL): a kernel-made one of size
 * bytes, or the one whose restore token is at token in tid's address space.
 */
int shstk_install(pid_t tid, uint64_t size, uint64_t token);

/*
 * Set the policy of process policy->pid (0: this one). argsz is filled in
 * by the library; the other fields are the caller's.
 */
int shstk_set_policy(const struct shstk_policy *policy);

/* Read the policy of process pid (0: this one). */
int shstk_get_policy(pid_t pid, struct shstk_policy *policy);

/*
 * clone3(2) with a shadow stack chosen for the child, in one call: arms
 * the clone with args->shadow_stack_size or args->shadow_stack_token (used
 * once), then makes the raw clone3 system call. size is sizeof(*args);
 * bytes beyond what this library knows must be zero (else E2BIG).
 *
 * The child starts on its own stack (args->stack, required with CLONE_VM)
 * and its own shadow stack, runs fn(arg) and ends with exit(2) of fn's
 * return value: like a raw clone3, it has nothing to return to, so the
 * child never returns from shstk_clone3(). Without CLONE_SETTLS it shares
 * the caller's TLS: fn must not touch errno or call into libc; use
 * shstk_pthread_create() for threads that do.
 *
 * As upstream's shadow_stack_token, a token is used by a clone of any
 * kind: a fork-like child (no CLONE_VM) starts on the shadow stack whose
 * token is at that address in its own copy of the address space (the
 * caller's token stays), a vfork child on the one in the shared address
 * space. A shadow_stack_size applies only to a thread-creating clone
 * (CLONE_VM without CLONE_VFORK).
 *
 * Returns the child's tid to the caller. Errors, in upstream clone3's
 * order: E2BIG (size above a page, or unknown bytes not zero), EINVAL (no
 * fn, size too small, a shadow_stack_size without CLONE_VM or with
 * CLONE_VFORK), then those of SET_CLONE for the shadow stack (EINVAL for
 * a misaligned token or one that is not there, EFAULT for a token outside
 * a shadow stack), EBUSY (the calling thread is already armed, see
 * shstk_set_clone()), EINVAL for CLONE_VM without a stack (checked after
 * the shadow stack, so that a bad token is reported as upstream reports
 * it), then those of clone3. A failed call leaves nothing armed.
 */
pid_t shstk_clone3(const struct shstk_clone_args *args, size_t size, int (*fn)(void *),
		   void *arg);

/*
 * pthread_create() whose new thread runs on a shadow stack of
 * shadow_stack_size bytes, or on the caller-made one whose restore token
 * is at shadow_stack_token (at most one non-zero; both zero is plain
 * pthread_create). The arming is used once, by this pthread_create.
 *
 * Works with any glibc that makes threads with clone or clone3 and
 * CLONE_VM. The calling thread must have its shadow stack enabled (else
 * EINVAL): with glibc 2.36, which does not enable shadow stacks itself, the
 * kernel gives a new thread a shadow stack only when its creator has one.
 * Errors: EBUSY (already armed), those of SET_CLONE, and pthread_create()'s
 * error number (EAGAIN, ...) in errno.
 */
int shstk_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			 void *(*start)(void *), void *arg,
			 uint64_t shadow_stack_size, uint64_t shadow_stack_token);

/*
 * Whether the calling thread runs on a shadow stack: 1 yes, 0 no (or no
 * shadow stacks on this system), -1 on error.
 */
int shstk_enabled(void);

/*
 * Close the device file descriptor; the next call opens it again. Only
 * while no other thread is inside the library (tests, leak checkers).
 */
void shstk_close(void);

#ifdef __cplusplus
}
#endif

#endif /* SHSTK_H */
