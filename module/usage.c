// SPDX-License-Identifier: GPL-2.0
/*
 * SHSTK_IOC_USAGE: a thread's shadow stack, how deep it is now and how
 * deep it has ever been.
 *
 * Shadow-stack pages are zero until written and every entry written is
 * non-zero (return addresses, tokens, signal frames), so the lowest
 * non-zero 8-byte slot is the exact peak. The stack grows down from its
 * top, so the scan walks pages from the top and stops at the first page
 * never faulted in: its cost follows the peak, not the size, and it never
 * faults a page in itself (FOLL_NOFAULT). The pages it passed are the
 * resident ones; a page swapped out ends the walk early (the peak and
 * resident figures then cover what is in memory).
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>

#include "arch.h"
#include "shstk.h"

struct shstk_scan {
	u64 peak_addr;		/* lowest non-zero slot, 0 if none */
	u64 resident;		/* bytes */
};

/*
 * The lowest non-zero slot of a page below top, or 0. Slots at and above
 * top are not the thread's: a token stack's top can be mid-page (a token
 * SAVEPREVSSP left), with the older stack's entries above it.
 */
static u64 shstk_page_lowest_used(struct page *page, unsigned long page_addr, u64 top)
{
	unsigned int i, n = PAGE_SIZE / sizeof(u64);
	u64 *slots = kmap_local_page(page);
	u64 found = 0;

	if (top - page_addr < PAGE_SIZE)
		n = (top - page_addr) / sizeof(u64);
	for (i = 0; i < n; i++) {
		if (READ_ONCE(slots[i])) {
			found = page_addr + i * sizeof(u64);
			break;
		}
	}
	kunmap_local(slots);
	return found;
}

static int shstk_scan(struct mm_struct *mm, u64 base, u64 top, struct shstk_scan *scan)
{
	unsigned long addr;
	struct page *page;
	u64 lowest;

	memset(scan, 0, sizeof(*scan));
	if (mmap_read_lock_killable(mm))
		return -EINTR;
	for (addr = ALIGN_DOWN(top - 1, PAGE_SIZE); addr >= base; addr -= PAGE_SIZE) {
		if (get_user_pages_remote(mm, addr, 1, FOLL_NOFAULT, &page, NULL) != 1)
			break;
		/*
		 * A read fault maps the shared zero page, or in a huge-page
		 * aligned stack a part of the huge zero page (whose symbol is
		 * not exported): never written. Written pages of a private
		 * anonymous mapping are anonymous, the zero pages are not.
		 */
		if (is_zero_page(page) || !folio_test_anon(page_folio(page))) {
			put_page(page);
			break;
		}
		scan->resident += PAGE_SIZE;
		lowest = shstk_page_lowest_used(page, addr, top);
		put_page(page);
		if (lowest)
			scan->peak_addr = lowest;
		if (fatal_signal_pending(current))
			break;
	}
	mmap_read_unlock(mm);
	return 0;
}

int shstk_ioc_usage(union shstk_ioc_arg *arg)
{
	struct shstk_usage *u = &arg->usage;
	struct shstk_thread_info ti;
	struct shstk_arch_thread st;
	struct task_struct *task;
	struct shstk_scan scan;
	struct mm_struct *mm;
	bool pending;
	u64 top;
	int err = 0;

	if (u->flags)
		return -EINVAL;
	/* No execve of the target between the rights check and the reads. */
	task = shstk_lock_target(u->tid, false);
	if (IS_ERR(task))
		return PTR_ERR(task);
	shstk_debug_delay("usage");

	/* Every output field starts at zero: what a thread without one reports. */
	*u = (struct shstk_usage){ .argsz = u->argsz, .tid = u->tid };
	shstk_wait_off_cpu(task);
	shstk_arch_thread(task, &st);
	if (!st.enabled)
		goto out;

	shstk_task_install_state(task, &pending, &u->install_errno);
	u->status = SHSTK_STATUS_ENABLED;
	if (pending)
		u->status |= SHSTK_STATUS_INSTALL_PENDING;
	if (st.locked)
		u->status |= SHSTK_STATUS_LOCKED;
	u->origin = SHSTK_ORIGIN_KERNEL;
	u->base = st.base;
	u->size = st.size;
	if (shstk_task_get_thread(task, &ti)) {
		u->origin = ti.origin;
		/* The kernel does not know a caller-made stack: shstk does. */
		if (ti.origin == SHSTK_ORIGIN_TOKEN) {
			u->base = ti.base;
			u->size = ti.size;
		}
	}
	u->ssp = st.ssp;
	top = u->base + u->size;
	/* SSP elsewhere: the program switched to a stack of its own. */
	if (!u->size || u->ssp < u->base || u->ssp > top)
		goto out;
	u->used = top - u->ssp;

	mm = get_task_mm(task);
	if (!mm)
		goto out;
	err = shstk_scan(mm, u->base, top, &scan);
	mmput(mm);
	if (err)
		goto out;
	u->resident = scan.resident;
	u->peak = scan.peak_addr ? top - scan.peak_addr : 0;
	/* The current frame counts even if the scan stopped above it. */
	u->peak = max(u->peak, u->used);
out:
	shstk_unlock_target(task);
	return err;
}
