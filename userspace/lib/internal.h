/* SPDX-License-Identifier: MIT */
/*
 * What the parts of libshstk share. Hidden: libshstk.map exports only the
 * functions of shstk.h, and these stay out of the dynamic symbol table.
 */
#ifndef SHSTK_LIB_INTERNAL_H
#define SHSTK_LIB_INTERNAL_H

#include <stdint.h>

#define SHSTK_HIDDEN __attribute__((visibility("hidden")))

/* ioctl() on /dev/shstk, opening it first if needed: 0, or -1 and errno. */
SHSTK_HIDDEN int shstk_lib_ioctl(unsigned long cmd, void *arg);

/*
 * Arm the calling thread's next clone once with size or token; EBUSY if
 * it is armed already, so that no arming of the caller is lost.
 */
SHSTK_HIDDEN int shstk_lib_arm_once(uint64_t size, uint64_t token);

/* Undo shstk_lib_arm_once() after a failed clone; keeps errno. */
SHSTK_HIDDEN void shstk_lib_disarm(void);

#endif /* SHSTK_LIB_INTERNAL_H */
