// SPDX-License-Identifier: GPL-2.0
/*
 * SHSTK_IOC_INFO and the rules every ioctl shares (argsz, flags, unknown
 * ioctls, bad pointers). Runs in both guests.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/dev.h"

#define KNOWN_FEATURES (SHSTK_FEAT_HW | SHSTK_FEAT_ALLOC | SHSTK_FEAT_CLONE_SIZE | \
			SHSTK_FEAT_CLONE_TOKEN | SHSTK_FEAT_INSTALL | SHSTK_FEAT_USAGE | \
			SHSTK_FEAT_POLICY)

FIXTURE(dev) {
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = shstk_dev_open();
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s (is shstk.ko loaded?)",
				      SHSTK_DEVICE, strerror(errno));
}

FIXTURE_TEARDOWN(dev)
{
	close(self->fd);
}

TEST(device_node_is_world_read_write)
{
	struct stat st;

	ASSERT_EQ(0, stat(SHSTK_DEVICE, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(0666, st.st_mode & 0777);
}

TEST_F(dev, info_reports_version_arch_and_limits)
{
	struct shstk_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(0, shstk_ioc(self->fd, SHSTK_IOC_INFO, &info));
	EXPECT_EQ(sizeof(info), info.argsz);
	EXPECT_EQ(0, info.flags);
	EXPECT_EQ(1, info.abi_version);
	EXPECT_EQ(SHSTK_TEST_ARCH, info.arch);
	EXPECT_EQ(0, info.features & ~KNOWN_FEATURES);
	EXPECT_EQ(0, info.min_size % 8);
	EXPECT_LE(8, info.min_size);
	EXPECT_LE(info.min_size, info.max_size);
	EXPECT_EQ(0, info.max_size % 8);
	EXPECT_TRUE(info.default_size == 0 ||
		    (info.default_size >= info.min_size && info.default_size <= info.max_size));
}

/* FEAT_HW must say exactly what the CPU and kernel give (user_shstk, HWCAP_GCS). */
TEST_F(dev, info_hw_bit_matches_cpuinfo)
{
	struct shstk_info info = { .argsz = sizeof(info) };
	bool hw = shstk_hw_available();

	ASSERT_EQ(0, shstk_ioc(self->fd, SHSTK_IOC_INFO, &info));
	EXPECT_EQ(hw, !!(info.features & SHSTK_FEAT_HW));
	/* Without the hardware, nothing else can work. */
	if (!hw)
		EXPECT_EQ(0, info.features);
	TH_LOG(SHSTK_HW_NAME " %s, features %#llx", hw ? "present" : "absent",
	       (unsigned long long)info.features);
}

TEST_F(dev, info_argsz_below_version1_is_einval)
{
	struct shstk_info info;
	uint32_t sizes[] = { 0, 4, 8, SHSTK_INFO_SIZE_VER1 - 8, SHSTK_INFO_SIZE_VER1 - 1 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&info, 0, sizeof(info));
		info.argsz = sizes[i];
		EXPECT_EQ(-EINVAL, shstk_ioc(self->fd, SHSTK_IOC_INFO, &info))
			TH_LOG("argsz %u", sizes[i]);
		/* A failed call writes nothing back. */
		EXPECT_EQ(0, info.abi_version);
	}
}

/* A newer caller passes a bigger struct; zero tail bytes are fine. */
TEST_F(dev, info_larger_argsz_with_zero_tail_works)
{
	unsigned char buf[sizeof(struct shstk_info) + 64];
	struct shstk_info *info = (struct shstk_info *)buf;
	size_t i;

	memset(buf, 0, sizeof(buf));
	info->argsz = sizeof(buf);
	ASSERT_EQ(0, shstk_ioc(self->fd, SHSTK_IOC_INFO, info));
	EXPECT_EQ(sizeof(buf), info->argsz);
	EXPECT_EQ(1, info->abi_version);
	/* Only min(argsz, known size) bytes are written back. */
	for (i = sizeof(*info); i < sizeof(buf); i++) {
		ASSERT_EQ(0, buf[i]) TH_LOG("byte %zu written", i);
	}
}

TEST_F(dev, info_nonzero_tail_is_e2big)
{
	unsigned char buf[sizeof(struct shstk_info) + 16];
	struct shstk_info *info = (struct shstk_info *)buf;
	size_t pos[] = { sizeof(*info), sizeof(*info) + 7, sizeof(buf) - 1 };
	size_t i;

	for (i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		memset(buf, 0, sizeof(buf));
		info->argsz = sizeof(buf);
		buf[pos[i]] = 1;
		EXPECT_EQ(-E2BIG, shstk_ioc(self->fd, SHSTK_IOC_INFO, info))
			TH_LOG("non-zero byte at %zu", pos[i]);
	}
	/* A tail beyond argsz is not the caller's struct: ignored. */
	memset(buf, 0, sizeof(buf));
	info->argsz = sizeof(*info);
	buf[sizeof(*info)] = 1;
	EXPECT_EQ(0, shstk_ioc(self->fd, SHSTK_IOC_INFO, info));
	EXPECT_EQ(1, buf[sizeof(*info)]);
}

TEST_F(dev, info_unknown_flags_are_einval)
{
	struct shstk_info info;
	int bit;

	for (bit = 0; bit < 32; bit++) {
		memset(&info, 0, sizeof(info));
		info.argsz = sizeof(info);
		info.flags = 1U << bit;
		EXPECT_EQ(-EINVAL, shstk_ioc(self->fd, SHSTK_IOC_INFO, &info))
			TH_LOG("flag bit %d", bit);
	}
}

TEST_F(dev, unknown_ioctls_are_enotty)
{
	struct shstk_info info = { .argsz = sizeof(info) };
	unsigned long cmds[] = {
		_IO(SHSTK_IOC_MAGIC, 0x7f), _IO(SHSTK_IOC_MAGIC, 0xff),
		_IOWR(SHSTK_IOC_MAGIC, 0x00, struct shstk_info), /* INFO with a size */
		_IO('T', 0x01), TIOCGWINSZ, 0,
	};
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT_EQ(-ENOTTY, shstk_ioc(self->fd, cmds[i], &info)) TH_LOG("cmd %#lx", cmds[i]);
	}
}

/*
 * Every ABI ioctl is in the module: ENOTTY is only for numbers it does not
 * know (unknown_ioctls_are_enotty), never for one of these. An ioctl whose
 * feature bit INFO does not advertise (every one but INFO without the
 * hardware) fails with EOPNOTSUPP: never a fake success.
 */
TEST_F(dev, unadvertised_ioctls_never_succeed)
{
	static const struct { unsigned long cmd; uint64_t feat; const char *name; } iocs[] = {
		{ SHSTK_IOC_ALLOC, SHSTK_FEAT_ALLOC, "ALLOC" },
		{ SHSTK_IOC_SET_CLONE, SHSTK_FEAT_CLONE_SIZE, "SET_CLONE" },
		{ SHSTK_IOC_GET_CLONE, SHSTK_FEAT_CLONE_SIZE, "GET_CLONE" },
		{ SHSTK_IOC_INSTALL, SHSTK_FEAT_INSTALL, "INSTALL" },
		{ SHSTK_IOC_USAGE, SHSTK_FEAT_USAGE, "USAGE" },
		{ SHSTK_IOC_SET_POLICY, SHSTK_FEAT_POLICY, "SET_POLICY" },
		{ SHSTK_IOC_GET_POLICY, SHSTK_FEAT_POLICY, "GET_POLICY" },
	};
	struct shstk_info info = { .argsz = sizeof(info) };
	bool hw = shstk_hw_available();
	int i, ret, unadvertised = 0;

	ASSERT_EQ(0, shstk_ioc(self->fd, SHSTK_IOC_INFO, &info));
	for (i = 0; i < sizeof(iocs) / sizeof(iocs[0]); i++) {
		/* Zeroed and big enough for any of the structs (argsz first). */
		uint64_t arg[16] = { 0 };
		bool advertised = info.features & iocs[i].feat;

		/* Without the hardware nothing but INFO may be advertised. */
		EXPECT_TRUE(hw || !advertised) TH_LOG("%s advertised without " SHSTK_HW_NAME,
						      iocs[i].name);
		if (advertised) {
			/* Known, so argsz 0 is EINVAL (and does nothing), not ENOTTY. */
			ret = shstk_ioc(self->fd, iocs[i].cmd, arg);
			EXPECT_EQ(-EINVAL, ret) TH_LOG("%s, argsz 0: %d", iocs[i].name, ret);
			continue;
		}
		unadvertised++;
		arg[0] = sizeof(arg);	/* a valid argsz: only the feature is missing */
		ret = shstk_ioc(self->fd, iocs[i].cmd, arg);
		EXPECT_EQ(-EOPNOTSUPP, ret) TH_LOG("%s: %d%s", iocs[i].name, ret,
						   ret == -ENOTTY ? " (ENOTTY: unknown?)" : "");
	}
	TH_LOG("%s: %d of %d ioctls unadvertised", hw ? SHSTK_HW_NAME : "no " SHSTK_HW_NAME,
	       unadvertised, i);
	if (!hw)
		EXPECT_EQ(i, unadvertised);
}

TEST_F(dev, bad_argument_pointers_are_efault)
{
	void *ptrs[] = { NULL, (void *)1, (void *)0xffffffffff600000ULL /* vsyscall */,
			 (void *)0xffff888000000000ULL /* kernel direct map */ };
	size_t i;

	for (i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++) {
		EXPECT_EQ(-EFAULT, shstk_ioc(self->fd, SHSTK_IOC_INFO, ptrs[i]))
			TH_LOG("pointer %p", ptrs[i]);
	}
}

TEST_F(dev, unmapped_and_read_only_arguments_are_efault)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct shstk_info *info;

	ASSERT_NE(MAP_FAILED, p);
	/* Struct straddling into an unmapped page. */
	ASSERT_EQ(0, munmap(p + page, page));
	info = (struct shstk_info *)(p + page - 16);
	info->argsz = sizeof(*info);
	EXPECT_EQ(-EFAULT, shstk_ioc(self->fd, SHSTK_IOC_INFO, info));

	/* Readable input, but the output cannot be written. */
	info = (struct shstk_info *)p;
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	ASSERT_EQ(0, mprotect(p, page, PROT_READ));
	EXPECT_EQ(-EFAULT, shstk_ioc(self->fd, SHSTK_IOC_INFO, info));
	munmap(p, page);
}

TEST_HARNESS_MAIN
