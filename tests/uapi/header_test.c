// SPDX-License-Identifier: GPL-2.0
/*
 * uapi/linux/shstk.h compiles on its own, as C99 (-pedantic) and as C++,
 * and its structs have the version-1 layout of ABI.md. Built on the host
 * by tests/check; compiling is the test.
 */
#include <linux/shstk.h>
#include <stddef.h>

#define CHECK(name, cond) typedef char check_##name[(cond) ? 1 : -1]

CHECK(info_size, sizeof(struct shstk_info) == SHSTK_INFO_SIZE_VER1);
CHECK(alloc_size, sizeof(struct shstk_alloc) == SHSTK_ALLOC_SIZE_VER1);
CHECK(clone_size, sizeof(struct shstk_clone) == SHSTK_CLONE_SIZE_VER1);
CHECK(install_size, sizeof(struct shstk_install) == SHSTK_INSTALL_SIZE_VER1);
CHECK(usage_size, sizeof(struct shstk_usage) == SHSTK_USAGE_SIZE_VER1);
CHECK(policy_size, sizeof(struct shstk_policy) == SHSTK_POLICY_SIZE_VER1);

/* Every struct starts with argsz, flags. */
CHECK(info_head, offsetof(struct shstk_info, flags) == 4);
CHECK(alloc_head, offsetof(struct shstk_alloc, flags) == 4);
CHECK(clone_head, offsetof(struct shstk_clone, flags) == 4);
CHECK(install_head, offsetof(struct shstk_install, flags) == 4);
CHECK(usage_head, offsetof(struct shstk_usage, flags) == 4);
CHECK(policy_head, offsetof(struct shstk_policy, flags) == 4);

/* Field order of ABI.md. */
CHECK(info_order, offsetof(struct shstk_info, abi_version) == 8 &&
		  offsetof(struct shstk_info, arch) == 12 &&
		  offsetof(struct shstk_info, features) == 16 &&
		  offsetof(struct shstk_info, min_size) == 24 &&
		  offsetof(struct shstk_info, max_size) == 32 &&
		  offsetof(struct shstk_info, default_size) == 40);
CHECK(alloc_order, offsetof(struct shstk_alloc, size) == 8 &&
		   offsetof(struct shstk_alloc, addr) == 16 &&
		   offsetof(struct shstk_alloc, token) == 24);
CHECK(clone_order, offsetof(struct shstk_clone, shadow_stack_size) == 8 &&
		   offsetof(struct shstk_clone, shadow_stack_token) == 16);
CHECK(install_order, offsetof(struct shstk_install, tid) == 8 &&
		     offsetof(struct shstk_install, reserved) == 12 &&
		     offsetof(struct shstk_install, shadow_stack_size) == 16 &&
		     offsetof(struct shstk_install, shadow_stack_token) == 24);
CHECK(usage_order, offsetof(struct shstk_usage, tid) == 8 &&
		   offsetof(struct shstk_usage, status) == 12 &&
		   offsetof(struct shstk_usage, base) == 16 &&
		   offsetof(struct shstk_usage, size) == 24 &&
		   offsetof(struct shstk_usage, ssp) == 32 &&
		   offsetof(struct shstk_usage, used) == 40 &&
		   offsetof(struct shstk_usage, peak) == 48 &&
		   offsetof(struct shstk_usage, resident) == 56 &&
		   offsetof(struct shstk_usage, origin) == 64 &&
		   offsetof(struct shstk_usage, install_errno) == 68);
CHECK(policy_order, offsetof(struct shstk_policy, pid) == 8 &&
		    offsetof(struct shstk_policy, mode) == 12 &&
		    offsetof(struct shstk_policy, size) == 16 &&
		    offsetof(struct shstk_policy, ratio) == 24 &&
		    offsetof(struct shstk_policy, reserved) == 28 &&
		    offsetof(struct shstk_policy, min_size) == 32 &&
		    offsetof(struct shstk_policy, max_size) == 40);

/* Flags of one struct are distinct bits; constants are distinct values. */
CHECK(feat_bits, (SHSTK_FEAT_HW | SHSTK_FEAT_ALLOC | SHSTK_FEAT_CLONE_SIZE |
		  SHSTK_FEAT_CLONE_TOKEN | SHSTK_FEAT_INSTALL | SHSTK_FEAT_USAGE |
		  SHSTK_FEAT_POLICY) == 0x7f);
CHECK(clone_flags, (SHSTK_CLONE_PERSIST & SHSTK_CLONE_EXIT_TOKEN) == 0);
CHECK(status_bits, (SHSTK_STATUS_ENABLED | SHSTK_STATUS_LOCKED |
		    SHSTK_STATUS_INSTALL_PENDING) == 7);
CHECK(origins, SHSTK_ORIGIN_NONE == 0 && SHSTK_ORIGIN_KERNEL != SHSTK_ORIGIN_SIZED &&
	       SHSTK_ORIGIN_SIZED != SHSTK_ORIGIN_TOKEN);
CHECK(modes, SHSTK_POLICY_KERNEL == 0 && SHSTK_POLICY_FIXED != SHSTK_POLICY_RATIO);
CHECK(arch, SHSTK_ARCH_X86_64 == 1 && SHSTK_ARCH_ARM64_GCS == 2 && SHSTK_ARCH_RISCV_ZICFISS == 3);
CHECK(version, SHSTK_ABI_VERSION == 1);
CHECK(iocs, SHSTK_IOC_INFO != SHSTK_IOC_ALLOC && SHSTK_IOC_SET_CLONE != SHSTK_IOC_GET_CLONE &&
	    SHSTK_IOC_INSTALL != SHSTK_IOC_USAGE && SHSTK_IOC_SET_POLICY != SHSTK_IOC_GET_POLICY);

int main(void)
{
	struct shstk_info info = { sizeof(struct shstk_info), 0, 0, 0, 0, 0, 0, 0 };

	return info.argsz == SHSTK_INFO_SIZE_VER1 ? 0 : 1;
}
