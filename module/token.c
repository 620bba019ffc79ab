// SPDX-License-Identifier: GPL-2.0
/*
 * Restore tokens in an address space, as the upstream clone3
 * shadow_stack_token series (v23) handles them: a token must sit in a
 * writable shadow-stack mapping (else EFAULT), be 8-byte aligned and hold
 * the arch's token value for its address (else EINVAL). Consuming it is
 * one compare-and-exchange on the pinned page, so of two clones racing for
 * one token exactly one wins.
 *
 * Shadow-stack memory is not writable through normal user accesses; like
 * ptrace, the module writes it through get_user_pages_remote() with
 * FOLL_FORCE, which mm/gup.c allows for private shadow-stack mappings.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/sched/signal.h>
#include <linux/workqueue.h>

#include "arch.h"
#include "shstk.h"

enum shstk_token_op {
	SHSTK_TOKEN_CHECK,	/* the token is there */
	SHSTK_TOKEN_CONSUME,	/* token -> 0, atomically */
	SHSTK_TOKEN_RESTORE,	/* 0 -> token, atomically (undo a consume) */
	SHSTK_TOKEN_WRITE,	/* whatever is there -> token */
};

/*
 * stack_base: CONSUME reports the mapping's start there; RESTORE and WRITE
 * give back a token the thread took from the mapping starting there, and
 * write nothing (EFAULT) if the slot now lies in another mapping.
 */
static int shstk_token_op(struct mm_struct *mm, unsigned long addr, enum shstk_token_op op,
			  unsigned long *stack_base)
{
	bool give_back = op == SHSTK_TOKEN_RESTORE || op == SHSTK_TOKEN_WRITE;
	unsigned int gup_flags = FOLL_FORCE;
	u64 token = shstk_arch_token_value(addr);
	struct vm_area_struct *vma;
	struct page *page;
	u64 *slot;
	int err = 0;
	long got;

	if (!IS_ALIGNED(addr, 8))
		return -EINVAL;
	if (op != SHSTK_TOKEN_CHECK)
		gup_flags |= FOLL_WRITE;

	/* Giving a token back is not interruptible: see shstk_token_give_back(). */
	if (give_back)
		mmap_read_lock(mm);
	else if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = find_vma(mm, addr);
	if (!vma || addr < vma->vm_start ||
	    (vma->vm_flags & (VM_SHADOW_STACK | VM_WRITE)) != (VM_SHADOW_STACK | VM_WRITE) ||
	    (give_back && vma->vm_start != *stack_base)) {
		err = -EFAULT;
		goto out_unlock;
	}
	if (op == SHSTK_TOKEN_CONSUME)
		*stack_base = vma->vm_start;

	got = get_user_pages_remote(mm, addr, 1, gup_flags, &page, NULL);
	if (got != 1) {
		err = got < 0 ? got : -EFAULT;
		goto out_unlock;
	}

	slot = kmap_local_page(page) + offset_in_page(addr);
	switch (op) {
	case SHSTK_TOKEN_CHECK:
		if (READ_ONCE(*slot) != token)
			err = -EINVAL;
		break;
	case SHSTK_TOKEN_CONSUME:
		if (cmpxchg64(slot, token, 0) != token)
			err = -EINVAL;
		break;
	case SHSTK_TOKEN_RESTORE:
		if (cmpxchg64(slot, 0, token) != 0)
			err = -EBUSY;
		break;
	case SHSTK_TOKEN_WRITE:
		WRITE_ONCE(*slot, token);
		break;
	}
	kunmap_local(slot);
	if (op != SHSTK_TOKEN_CHECK && !err)
		set_page_dirty_lock(page);
	put_page(page);
out_unlock:
	mmap_read_unlock(mm);
	return err;
}

/* At arm time: is there a valid token at addr? */
int shstk_token_check(struct mm_struct *mm, unsigned long addr)
{
	return shstk_token_op(mm, addr, SHSTK_TOKEN_CHECK, NULL);
}

/* At clone time: take the token; *stack_base is its mapping's start. */
int shstk_token_consume(struct mm_struct *mm, unsigned long addr, unsigned long *stack_base)
{
	return shstk_token_op(mm, addr, SHSTK_TOKEN_CONSUME, stack_base);
}

/*
 * Giving a token back runs when a thread exits or a clone fails, at
 * times with SIGKILL pending in current (a thread already exiting when
 * its group is killed, a clone failing because its creator is being
 * killed), and GUP refuses to fault or pin anything for such a task
 * (-EINTR). The stack's owner outlives it, so then the write runs in a
 * kworker, which has no signals, while current waits for it: still
 * before the thread's tid is cleared.
 */
struct shstk_give_back {
	struct work_struct work;
	struct mm_struct *mm;		/* pinned by current, which waits */
	unsigned long addr, base;
	enum shstk_token_op op;
	int err;
};

static void shstk_give_back_work(struct work_struct *work)
{
	struct shstk_give_back *gb = container_of(work, struct shstk_give_back, work);

	gb->err = shstk_token_op(gb->mm, gb->addr, gb->op, &gb->base);
}

static int shstk_token_give_back(struct mm_struct *mm, unsigned long addr, unsigned long base,
				 enum shstk_token_op op)
{
	struct shstk_give_back gb = { .mm = mm, .addr = addr, .base = base, .op = op };

	shstk_debug_delay("give_back");
	if (!fatal_signal_pending(current))
		return shstk_token_op(mm, addr, op, &base);
	INIT_WORK_ONSTACK(&gb.work, shstk_give_back_work);
	queue_work(system_unbound_wq, &gb.work);
	flush_work(&gb.work);
	destroy_work_on_stack(&gb.work);
	return gb.err;
}

/* A clone that consumed the token (from the stack at base) failed later: put it back. */
int shstk_token_restore(struct mm_struct *mm, unsigned long addr, unsigned long base)
{
	return shstk_token_give_back(mm, addr, base, SHSTK_TOKEN_RESTORE);
}

/*
 * The thread that used the stack at base is gone: make the stack
 * reusable, if it is still there (not unmapped and replaced since).
 */
int shstk_token_write(struct mm_struct *mm, unsigned long addr, unsigned long base)
{
	return shstk_token_give_back(mm, addr, base, SHSTK_TOKEN_WRITE);
}
