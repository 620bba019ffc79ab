// SPDX-License-Identifier: GPL-2.0
/*
 * SHSTK_IOC_ALLOC: a shadow-stack mapping in the caller's address space,
 * as map_shadow_stack() makes, optionally with a restore token at its top.
 *
 * ALLOC does not need the caller's shadow stack enabled (map_shadow_stack
 * does not either, and ABI.md sets no such rule): most tests here run in
 * the plain test process. They SKIP only without user shadow stacks (the
 * QEMU guest), where alloc_without_hw_is_eopnotsupp checks the one answer.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/ioc.h"
#include "lib/proc.h"
#include "lib/require.h"

/* The device and its limits, opened by each test that needs them. */
static struct {
	int fd;
	struct shstk_info info;
} dev;

#define OPEN_DEV() do {							\
	REQUIRE_SHSTK();						\
	dev.fd = shstk_dev_open();					\
	ASSERT_LE(0, dev.fd) TH_LOG("open %s: %s (is shstk.ko loaded?)",	\
				    SHSTK_DEVICE, strerror(errno));	\
	ASSERT_EQ(0, shstk_info_get(&dev.info));			\
} while (0)

TEST(info_advertises_alloc)
{
	ASSERT_FEATURE(SHSTK_FEAT_ALLOC);
}

TEST(alloc_without_hw_is_eopnotsupp)
{
	struct shstk_alloc a = { .argsz = sizeof(a), .size = 65536 };

	ASSERT_EOPNOTSUPP_WITHOUT_HW(SHSTK_IOC_ALLOC, &a);
}

/* Sizes and flags every mapping test runs with. */
FIXTURE(sized) {
	struct shstk_alloc a;
	int ret;
};

FIXTURE_VARIANT(sized) {
	uint64_t size;
	uint32_t flags;
};

FIXTURE_VARIANT_ADD(sized, size_4k) { .size = 4096 };
FIXTURE_VARIANT_ADD(sized, size_64k) { .size = 65536 };
FIXTURE_VARIANT_ADD(sized, size_1m) { .size = 1 << 20 };
FIXTURE_VARIANT_ADD(sized, size_4k_token) { .size = 4096, .flags = SHSTK_ALLOC_TOKEN };
FIXTURE_VARIANT_ADD(sized, size_64k_token) { .size = 65536, .flags = SHSTK_ALLOC_TOKEN };
FIXTURE_VARIANT_ADD(sized, size_1m_token) { .size = 1 << 20, .flags = SHSTK_ALLOC_TOKEN };

FIXTURE_SETUP(sized)
{
	OPEN_DEV();
	self->ret = shstk_alloc(dev.fd, variant->size, variant->flags, &self->a);
	ASSERT_EQ(0, self->ret) TH_LOG("ALLOC size %llu flags %#x: %s",
				       (unsigned long long)variant->size, variant->flags,
				       strerror(-self->ret));
}

FIXTURE_TEARDOWN(sized)
{
	if (!self->ret && self->a.addr)
		munmap((void *)(uintptr_t)self->a.addr, PAGE_ALIGN_UP(variant->size));
	close(dev.fd);
}

TEST_F(sized, maps_exactly_the_page_aligned_size_as_ss)
{
	uint64_t start = 0, end = 0;
	bool ss = false;

	EXPECT_EQ(sizeof(self->a), self->a.argsz);
	EXPECT_EQ(variant->flags, self->a.flags);
	EXPECT_EQ(variant->size, self->a.size);
	ASSERT_NE(0, self->a.addr);
	EXPECT_EQ(0, self->a.addr % PAGE_SZ);
	ASSERT_EQ(0, shstk_find_vma(self->a.addr, &start, &end, &ss));
	EXPECT_EQ(self->a.addr, start);
	EXPECT_EQ(self->a.addr + PAGE_ALIGN_UP(variant->size), end);
	EXPECT_TRUE(ss) TH_LOG("no ss in VmFlags of [%#llx, %#llx)",
			       (unsigned long long)start, (unsigned long long)end);
}

/*
 * Shadow-stack memory is readable: the token can be checked with a load
 * (a plain one on x86 and arm64; see shstk_read_ss()).
 */
TEST_F(sized, token_is_at_the_top_and_points_above_itself)
{
	uint64_t top = self->a.addr + PAGE_ALIGN_UP(variant->size);

	if (variant->flags & SHSTK_ALLOC_TOKEN) {
		EXPECT_EQ(top - 8, self->a.token);
		EXPECT_EQ(shstk_token_value(top - 8), shstk_read_ss(top - 8))
			TH_LOG("token slot %#llx holds %#llx", (unsigned long long)(top - 8),
			       (unsigned long long)shstk_read_ss(top - 8));
	} else {
		EXPECT_EQ(0, self->a.token);
		EXPECT_EQ(0, shstk_read_ss(top - 8));
	}
	/* Nothing else is written: the slot below the top one is still zero. */
	EXPECT_EQ(0, shstk_read_ss(top - 16));
}

TEST_F(sized, munmap_frees_it)
{
	uint64_t start, end;
	int ss_before = shstk_count_ss_vmas();
	bool ss;

	ASSERT_EQ(0, munmap((void *)(uintptr_t)self->a.addr, PAGE_ALIGN_UP(variant->size)));
	EXPECT_EQ(ss_before - 1, shstk_count_ss_vmas());
	EXPECT_NE(0, shstk_find_vma(self->a.addr, &start, &end, &ss));
	self->a.addr = 0;
}

/* A user-mode store cannot write shadow-stack memory: it is the real thing. */
TEST_F(sized, user_store_into_it_is_sigsegv)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)self->a.addr;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		if (SHSTK_SS_ACCESS_HERE())
			_exit(2);
		*p = 1;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
		TH_LOG("status %#x", status);
}

/* ABI.md: the token is at the top of the mapping, also when size is not page-aligned. */
TEST(token_of_unaligned_size_is_at_the_mapping_top)
{
	struct shstk_alloc a;
	uint64_t size = PAGE_SZ + 1000, top;

	OPEN_DEV();
	ASSERT_EQ(0, shstk_alloc(dev.fd, size, SHSTK_ALLOC_TOKEN, &a));
	top = a.addr + PAGE_ALIGN_UP(size);
	EXPECT_EQ(top - 8, a.token);
	EXPECT_EQ(shstk_token_value(top - 8), shstk_read_ss(top - 8));
	munmap((void *)(uintptr_t)a.addr, PAGE_ALIGN_UP(size));
}

TEST(alloc_works_without_shadow_stack_enabled)
{
	struct shstk_alloc a;

	OPEN_DEV();
	ASSERT_FALSE(shstk_status_enabled());
	ASSERT_EQ(0, shstk_alloc(dev.fd, 65536, SHSTK_ALLOC_TOKEN, &a));
	EXPECT_EQ(shstk_token_value(a.token), shstk_read_ss(a.token));
	munmap((void *)(uintptr_t)a.addr, 65536);
}

struct alloc_report {
	int ret;
	struct shstk_alloc a;
	uint64_t token_value, start, end;
	bool ss;
};

static int alloc_on_shadow_stack(void *arg)
{
	struct alloc_report *r = arg;
	int fd = shstk_dev_open();

	if (fd < 0)
		return 1;
	r->ret = shstk_alloc(fd, 65536, SHSTK_ALLOC_TOKEN, &r->a);
	if (r->ret)
		return 2;
	r->token_value = *(volatile uint64_t *)(uintptr_t)r->a.token;
	if (shstk_find_vma(r->a.addr, &r->start, &r->end, &r->ss))
		return 3;
	return 0;
}

TEST(alloc_works_with_shadow_stack_enabled)
{
	struct alloc_report *r;
	int status;

	REQUIRE_SHSTK();
	r = shstk_shared(sizeof(*r));
	ASSERT_NE(NULL, r);
	status = shstk_run(alloc_on_shadow_stack, r);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("ALLOC: %s", strerror(-r->ret));
	EXPECT_EQ(r->a.addr, r->start);
	EXPECT_EQ(r->a.addr + 65536, r->end);
	EXPECT_TRUE(r->ss);
	EXPECT_EQ(r->a.addr + 65536 - 8, r->a.token);
	EXPECT_EQ(shstk_token_value(r->a.token), r->token_value);
}

/*
 * Error cases: the errno, no mapping left behind (line count of
 * /proc/self/maps) and no output written.
 */
#define EXPECT_ALLOC_FAILS(err, _size, _flags) do {			\
	struct shstk_alloc _a;						\
	int _maps = proc_count_maps();					\
	EXPECT_EQ(-(err), shstk_alloc(dev.fd, (_size), (_flags), &_a)) \
		TH_LOG("size %#llx flags %#x", (unsigned long long)(_size),	\
		       (unsigned int)(_flags));				\
	EXPECT_EQ(_maps, proc_count_maps());				\
	EXPECT_EQ(0, _a.addr);						\
	EXPECT_EQ(0, _a.token);						\
} while (0)

TEST(zero_size_is_einval)
{
	OPEN_DEV();
	EXPECT_ALLOC_FAILS(EINVAL, 0, 0);
	EXPECT_ALLOC_FAILS(EINVAL, 0, SHSTK_ALLOC_TOKEN);
}

TEST(size_not_a_multiple_of_8_is_einval)
{
	uint64_t sizes[] = { 4097, 4100, 65535, 65536 + 4, 0 };
	size_t i;

	OPEN_DEV();
	sizes[4] = dev.info.min_size + 1;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		EXPECT_ALLOC_FAILS(EINVAL, sizes[i], 0);
		EXPECT_ALLOC_FAILS(EINVAL, sizes[i], SHSTK_ALLOC_TOKEN);
	}
}

TEST(size_below_min_size_is_einval)
{
	uint64_t min;

	OPEN_DEV();
	min = dev.info.min_size;
	ASSERT_LT(8, min) TH_LOG("min_size %llu leaves nothing below it to test",
				 (unsigned long long)min);
	EXPECT_ALLOC_FAILS(EINVAL, min - 8, 0);
	EXPECT_ALLOC_FAILS(EINVAL, min - 8, SHSTK_ALLOC_TOKEN);
	EXPECT_ALLOC_FAILS(EINVAL, 8, SHSTK_ALLOC_TOKEN);
}

TEST(size_above_max_size_is_einval)
{
	uint64_t max;

	OPEN_DEV();
	max = dev.info.max_size;
	EXPECT_ALLOC_FAILS(EINVAL, max + 8, 0);
	EXPECT_ALLOC_FAILS(EINVAL, max + PAGE_SZ, SHSTK_ALLOC_TOKEN);
	EXPECT_ALLOC_FAILS(EINVAL, 1ULL << 62, 0);
	/* PAGE_ALIGN of this would wrap to 0. */
	EXPECT_ALLOC_FAILS(EINVAL, ~7ULL, 0);
}

TEST(unknown_flags_are_einval)
{
	int bit;

	OPEN_DEV();
	for (bit = 0; bit < 32; bit++) {
		if ((1U << bit) == SHSTK_ALLOC_TOKEN)
			continue;
		EXPECT_ALLOC_FAILS(EINVAL, 65536, 1U << bit);
		EXPECT_ALLOC_FAILS(EINVAL, 65536, (1U << bit) | SHSTK_ALLOC_TOKEN);
	}
}

TEST(argsz_below_version1_is_einval)
{
	uint32_t sizes[] = { 0, 8, 16, SHSTK_ALLOC_SIZE_VER1 - 8, SHSTK_ALLOC_SIZE_VER1 - 1 };
	struct shstk_alloc a;
	size_t i;
	int maps;

	OPEN_DEV();
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&a, 0, sizeof(a));
		a.argsz = sizes[i];
		a.size = 65536;
		maps = proc_count_maps();
		EXPECT_EQ(-EINVAL, shstk_ioc(dev.fd, SHSTK_IOC_ALLOC, &a))
			TH_LOG("argsz %u", sizes[i]);
		EXPECT_EQ(maps, proc_count_maps());
		EXPECT_EQ(0, a.addr);
	}
}

/* A newer caller's bigger struct with a zero tail works; the tail stays untouched. */
TEST(larger_argsz_with_zero_tail_works)
{
	unsigned char buf[sizeof(struct shstk_alloc) + 32];
	struct shstk_alloc *a = (struct shstk_alloc *)buf;
	size_t i;

	OPEN_DEV();
	memset(buf, 0, sizeof(buf));
	a->argsz = sizeof(buf);
	a->size = 65536;
	a->flags = SHSTK_ALLOC_TOKEN;
	ASSERT_EQ(0, shstk_ioc(dev.fd, SHSTK_IOC_ALLOC, a));
	EXPECT_EQ(sizeof(buf), a->argsz);
	EXPECT_NE(0, a->addr);
	EXPECT_EQ(a->addr + 65536 - 8, a->token);
	for (i = sizeof(*a); i < sizeof(buf); i++)
		EXPECT_EQ(0, buf[i]) TH_LOG("byte %zu written", i);
	munmap((void *)(uintptr_t)a->addr, 65536);
}

TEST(nonzero_tail_is_e2big_and_maps_nothing)
{
	unsigned char buf[sizeof(struct shstk_alloc) + 16];
	struct shstk_alloc *a = (struct shstk_alloc *)buf;
	int maps;

	OPEN_DEV();
	memset(buf, 0, sizeof(buf));
	a->argsz = sizeof(buf);
	a->size = 65536;
	buf[sizeof(*a) + 3] = 1;
	maps = proc_count_maps();
	EXPECT_EQ(-E2BIG, shstk_ioc(dev.fd, SHSTK_IOC_ALLOC, a));
	EXPECT_EQ(maps, proc_count_maps());
	EXPECT_EQ(0, a->addr);
}

TEST(unreadable_argument_is_efault)
{
	int maps;

	OPEN_DEV();
	maps = proc_count_maps();
	EXPECT_EQ(-EFAULT, shstk_ioc(dev.fd, SHSTK_IOC_ALLOC, NULL));
	EXPECT_EQ(maps, proc_count_maps());
}

/*
 * The mapping is made before the result is copied out: when the copy
 * fails, the module must take the mapping back.
 */
TEST(unwritable_result_is_efault_and_maps_nothing)
{
	struct shstk_alloc *a;
	int maps, ss;
	void *page;

	OPEN_DEV();
	page = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	a = page;
	a->argsz = sizeof(*a);
	a->flags = SHSTK_ALLOC_TOKEN;
	a->size = 65536;
	ASSERT_EQ(0, mprotect(page, PAGE_SZ, PROT_READ));
	maps = proc_count_maps();
	ss = shstk_count_ss_vmas();
	EXPECT_EQ(-EFAULT, shstk_ioc(dev.fd, SHSTK_IOC_ALLOC, a));
	EXPECT_EQ(maps, proc_count_maps());
	EXPECT_EQ(ss, shstk_count_ss_vmas());
	munmap(page, PAGE_SZ);
}

static uint64_t meminfo_bytes(const char *key)
{
	char line[256];
	unsigned long kb = 0;
	size_t len = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ':')
			sscanf(line + len + 1, "%lu", &kb);
	fclose(f);
	return (uint64_t)kb * 1024;
}

/*
 * ENOMEM when the mapping cannot be made. A shadow stack is a private
 * writable mapping, so it is charged to the commit limit; in the
 * heuristic overcommit mode (0) a single mapping larger than RAM + swap
 * is refused. The test forces mode 0 for its duration (only EXPECTs in
 * between, so the old value is always restored).
 */
TEST(beyond_commit_limit_is_enomem_and_maps_nothing)
{
	uint64_t ram_swap = meminfo_bytes("MemTotal") + meminfo_bytes("SwapTotal");
	uint64_t size;
	long saved;

	OPEN_DEV();
	size = dev.info.max_size & ~(PAGE_SZ - 1);
	ASSERT_GT(size, ram_swap) TH_LOG("max_size %llu fits in RAM + swap (%llu): choose a guest "
					 "with less memory", (unsigned long long)size,
					 (unsigned long long)ram_swap);
	saved = proc_read_long(OVERCOMMIT_PATH);
	ASSERT_LE(0, saved);
	ASSERT_EQ(0, proc_write_long(OVERCOMMIT_PATH, 0)) TH_LOG("needs root");
	EXPECT_ALLOC_FAILS(ENOMEM, size, 0);
	EXPECT_ALLOC_FAILS(ENOMEM, size, SHSTK_ALLOC_TOKEN);
	EXPECT_EQ(0, proc_write_long(OVERCOMMIT_PATH, saved));
}

TEST_HARNESS_MAIN
