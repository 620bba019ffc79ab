// SPDX-License-Identifier: GPL-2.0
/*
 * SHSTK_IOC_ALLOC: a shadow stack in the caller's address space, made by
 * the kernel's map_shadow_stack() itself. The size is rounded up to pages
 * first, so a restore token lands at the very top of the mapping.
 */
#include <linux/err.h>
#include <linux/mm.h>

#include "arch.h"
#include "shstk.h"

int shstk_ioc_alloc(union shstk_ioc_arg *arg)
{
	struct shstk_alloc *a = &arg->alloc;
	bool token = a->flags & SHSTK_ALLOC_TOKEN;
	unsigned long size;
	long addr;
	int err;

	if (a->flags & ~SHSTK_ALLOC_TOKEN)
		return -EINVAL;
	err = shstk_check_size(a->size);
	if (err)
		return err;

	size = PAGE_ALIGN(a->size);
	addr = shstk_arch_map(size, token);
	if (IS_ERR_VALUE(addr))
		return addr;
	a->addr = addr;
	a->token = token ? addr + size - 8 : 0;
	return 0;
}

/* The result could not be written back: the caller never saw the mapping. */
void shstk_ioc_alloc_undo(union shstk_ioc_arg *arg)
{
	vm_munmap(arg->alloc.addr, PAGE_ALIGN(arg->alloc.size));
}
