// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input, table-driven: every ioctl against every rule of ABI.md. Each
 * row is one test named after what it checks; it builds the argument as
 * the row says (struct fields, where the struct lies, which token, which
 * thread), makes the call and checks the exact errno and that the failed
 * call changed nothing the caller can see:
 *  - the number of mappings (/proc/self/maps lines),
 *  - Committed_AS (system-wide, but the guest runs nothing else: the
 *    harness parent and this test's body sleep in wait(), and guest-suite
 *    writes no file meanwhile, since a tmpfs page written anywhere counts;
 *    no noise allowed),
 *  - the caller's arming (GET_CLONE) and its process policy (GET_POLICY),
 *    both set to something non-default first, so a failure that resets
 *    them shows,
 *  - the token slot the row points at, if any (nothing consumed).
 *
 * Each row runs in a forked child with the shadow stack enabled (lib/cet.h:
 * no ASSERT there), which reports through shared memory; the test body
 * asserts. INFO rows and unknown ioctls also run without user shadow
 * stacks (the QEMU guest); every other row SKIPs there.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "lib/cet.h"
#include "lib/ioc.h"
#include "lib/require.h"

#define SZ_64K		(64ULL << 10)
#define SZ_128K		(128ULL << 10)
#define SIZE_HUGE	(1ULL << 63)
/* Replaced by INFO's max_size + 8 when the row is built. */
#define SIZE_ABOVE_MAX	0x7ffffffffffff000ULL
#define KERNEL_ADDR	0xffffffff81000000ULL	/* kernel text */
#define DIRECT_MAP_ADDR	0xffff888000000000ULL	/* kernel direct map */
#define NOBODY		65534
/* Above PID_MAX_LIMIT, and a valid-looking id no task has. */
#define TID_ABOVE_LIMIT	0xffffffffU
#define TID_MISSING	4194000U

/* Where the argument struct lies. */
enum where {
	PTR_OK,			/* a normal writable page */
	PTR_NULL,
	PTR_UNMAPPED,		/* a page that was munmapped */
	PTR_READ_ONLY,		/* filled in, then made PROT_READ */
	PTR_KERNEL,		/* kernel text */
	PTR_DIRECT_MAP,		/* the kernel's direct map */
	PTR_STRADDLE,		/* argsz readable, the rest unmapped */
	PTR_TAIL,		/* argsz = known size + 8, a non-zero byte there */
	PTR_TAIL_UNMAPPED,	/* argsz runs past the end of the mapping */
};

/* What goes into shadow_stack_token (SET_CLONE, INSTALL). */
enum tok {
	TOK_NONE,
	TOK_VALID,		/* a fresh ALLOC token */
	TOK_MISALIGNED,		/* a valid token + 4 */
	TOK_NORMAL_MAPPING,	/* a token value in a normal writable page */
	TOK_FORGED,		/* the slot below a valid token: not a token */
	TOK_OWN_SSP,		/* the caller's own shadow stack: a return address */
	TOK_NO_TOKEN,		/* top slot of a stack ALLOC'ed without a token */
	TOK_CONSUMED,		/* a token a thread already started on */
	TOK_FREED,		/* a token in a stack that was munmapped */
	TOK_KERNEL,		/* a kernel address */
	TOK_LOW_UNMAPPED,	/* an address where nothing was ever mapped */
};

/* What goes into tid (INSTALL, USAGE) or pid (SET/GET_POLICY). */
enum who {
	WHO_SELF,		/* 0 */
	WHO_MISSING,		/* an id no task has */
	WHO_ABOVE_LIMIT,	/* 0xffffffff */
	WHO_EXITED,		/* a joined, gone thread of this process */
	WHO_OTHER,		/* the test body, a root process (row runs as nobody) */
	WHO_INIT,		/* pid 1 (row runs as nobody) */
};

/* Row options. */
#define ANY_CPU		0x1	/* runs without user shadow stacks too */
#define NO_SHSTK	0x2	/* the caller does not enable its shadow stack */
#define AS_NOBODY	0x4	/* drop to uid/gid 65534 before the call */

#define ARGSZ(n)	(0x80000000U | (n))	/* an explicit argsz (0 included) */

union arg {
	struct shstk_info info;
	struct shstk_alloc alloc;
	struct shstk_clone clone;
	struct shstk_install install;
	struct shstk_usage usage;
	struct shstk_policy policy;
};

struct row {
	unsigned long cmd;
	int err;		/* expected errno */
	enum where ptr;
	enum tok tok;
	enum who who;
	unsigned int opts;
	uint32_t argsz;		/* 0: the known size; else ARGSZ(n) */
	union arg in;		/* fields; argsz and the above are filled in */
};

struct snap {
	int maps;
	long committed_kb;
	int arm_ret, pol_ret;
	struct shstk_clone arm;
	struct shstk_policy pol;
	uint64_t slot;
};

/* What the child found; the test body asserts on it. */
struct result {
	int line, err;		/* where building the row failed, and why */
	int ran;
	int ret;		/* the call: 0 or -errno */
	uint64_t watch;		/* the token slot watched, 0 if none */
	struct snap before, after;
};

static struct result *R;

#define CHECK(expr) do {						\
	long _e = (long)(expr);						\
	if (_e) {							\
		if (!R->line) {						\
			R->line = __LINE__;				\
			R->err = (int)_e;				\
		}							\
		return -1;						\
	}								\
} while (0)

#define CHECK_TRUE(cond) CHECK((cond) ? 0 : -EPROTO)

static uint32_t known_size(unsigned long cmd)
{
	switch (cmd) {
	case SHSTK_IOC_INFO:
		return sizeof(struct shstk_info);
	case SHSTK_IOC_ALLOC:
		return sizeof(struct shstk_alloc);
	case SHSTK_IOC_SET_CLONE:
	case SHSTK_IOC_GET_CLONE:
		return sizeof(struct shstk_clone);
	case SHSTK_IOC_INSTALL:
		return sizeof(struct shstk_install);
	case SHSTK_IOC_USAGE:
		return sizeof(struct shstk_usage);
	case SHSTK_IOC_SET_POLICY:
	case SHSTK_IOC_GET_POLICY:
		return sizeof(struct shstk_policy);
	default:
		return sizeof(struct shstk_info);
	}
}

/* Small /proc reads without stdio: nothing is allocated between snapshots. */
static int count_maps(void)
{
	char buf[4096];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), lines = 0;
	long n, i;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return n < 0 ? -1 : lines;
}

static long committed_kb(void)
{
	char buf[8192], *p;
	int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	long n, total = 0;

	if (fd < 0)
		return -1;
	while (total < (long)sizeof(buf) - 1 &&
	       (n = read(fd, buf + total, sizeof(buf) - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	p = strstr(buf, "Committed_AS:");
	return p ? strtol(p + 13, NULL, 10) : -1;
}

static void take_snap(int fd, struct snap *s, uint64_t watch)
{
	s->maps = count_maps();
	s->committed_kb = committed_kb();
	s->arm_ret = shstk_get_clone(fd, &s->arm);
	memset(&s->pol, 0, sizeof(s->pol));
	s->pol.argsz = sizeof(s->pol);
	s->pol_ret = shstk_ioc(fd, SHSTK_IOC_GET_POLICY, &s->pol);
	s->slot = watch ? *(volatile uint64_t *)(uintptr_t)watch : 0;
}

static void *noop_thread(void *arg)
{
	*(volatile pid_t *)arg = gettid();
	return NULL;
}

/* A thread of this process that is gone: joined, and out of /proc. */
static int exited_tid(pid_t *tid)
{
	char path[64];
	pthread_t th;
	int i;

	*tid = 0;
	CHECK(-pthread_create(&th, NULL, noop_thread, tid));
	CHECK(-pthread_join(th, NULL));
	snprintf(path, sizeof(path), "/proc/self/task/%d", *tid);
	for (i = 0; i < 10000 && !access(path, F_OK); i++)
		usleep(1000);
	return access(path, F_OK) ? 0 : -EBUSY;
}

/* Not inlined: its own frame pushed a return address where SSP points. */
static __attribute__((noinline))
int token_for(int fd, enum tok tok, uint64_t *token, uint64_t *watch)
{
	struct shstk_alloc a;
	pthread_t th;
	pid_t tid;
	uint64_t *p;

	*watch = 0;
	switch (tok) {
	case TOK_NONE:
		*token = 0;
		return 0;
	case TOK_VALID:
	case TOK_MISALIGNED:
	case TOK_FORGED:
		CHECK(shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a));
		*watch = a.token;
		*token = tok == TOK_VALID ? a.token : tok == TOK_MISALIGNED ? a.token + 4 :
			 a.token - 8;
		if (tok == TOK_FORGED)
			*watch = a.token - 8;
		return 0;
	case TOK_NORMAL_MAPPING:
		p = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK_TRUE(p != MAP_FAILED);
		*token = (uintptr_t)&p[PAGE_SZ / 8 - 1];
		p[PAGE_SZ / 8 - 1] = shstk_token_value(*token);
		*watch = *token;
		return 0;
	case TOK_OWN_SSP:
		*token = shstk_get_ssp();
		CHECK_TRUE(*token);
		return 0;
	case TOK_NO_TOKEN:
		CHECK(shstk_alloc(fd, SZ_64K, 0, &a));
		*token = a.addr + SZ_64K - 8;
		*watch = *token;
		return 0;
	case TOK_CONSUMED:
		CHECK(shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a));
		CHECK(shstk_set_clone(fd, 0, 0, a.token));
		CHECK(-pthread_create(&th, NULL, noop_thread, &tid));
		CHECK(-pthread_join(th, NULL));
		/* The thread's first call overwrote the token with a return address. */
		CHECK_TRUE(*(volatile uint64_t *)(uintptr_t)a.token != shstk_token_value(a.token));
		*token = a.token;
		*watch = a.token;
		return 0;
	case TOK_FREED:
		CHECK(shstk_alloc(fd, SZ_64K, SHSTK_ALLOC_TOKEN, &a));
		CHECK(munmap((void *)(uintptr_t)a.addr, SZ_64K) ? -errno : 0);
		*token = a.token;
		return 0;
	case TOK_KERNEL:
		*token = DIRECT_MAP_ADDR + PAGE_SZ - 8;
		return 0;
	case TOK_LOW_UNMAPPED:
		*token = 0x10000 - 8;
		return 0;
	}
	return -EINVAL;
}

static int who_for(enum who who, uint32_t *id)
{
	pid_t tid;

	switch (who) {
	case WHO_SELF:
		*id = 0;
		return 0;
	case WHO_MISSING:
		*id = TID_MISSING;
		return kill(TID_MISSING, 0) ? 0 : -EEXIST;
	case WHO_ABOVE_LIMIT:
		*id = TID_ABOVE_LIMIT;
		return 0;
	case WHO_EXITED:
		CHECK(exited_tid(&tid));
		*id = tid;
		return 0;
	case WHO_OTHER:
		*id = getppid();
		return 0;
	case WHO_INIT:
		*id = 1;
		return 0;
	}
	return -EINVAL;
}

static void fix_size(__u64 *field, uint64_t max)
{
	if (*field == SIZE_ABOVE_MAX)
		*field = max + 8;
}

/* The row's argument, in its final place; *argp is what the ioctl gets. */
static int build(const struct row *row, int fd, void **argp, uint64_t *watch)
{
	uint32_t ksize = known_size(row->cmd), argsz = ksize;
	struct shstk_info info = { .argsz = sizeof(info) };
	uint64_t max = 4ULL << 30, token = 0;
	union arg a = row->in;
	uint32_t id = 0;
	char *page;

	if (!shstk_ioc(fd, SHSTK_IOC_INFO, &info))
		max = info.max_size;
	if (row->argsz)
		argsz = row->argsz & ~0x80000000U;
	if (row->ptr == PTR_TAIL)
		argsz = ksize + 8;
	if (row->ptr == PTR_TAIL_UNMAPPED)
		argsz = ksize + PAGE_SZ;
	a.info.argsz = argsz;

	CHECK(token_for(fd, row->tok, &token, watch));
	CHECK(who_for(row->who, &id));
	switch (row->cmd) {
	case SHSTK_IOC_ALLOC:
		fix_size(&a.alloc.size, max);
		break;
	case SHSTK_IOC_SET_CLONE:
		fix_size(&a.clone.shadow_stack_size, max);
		if (row->tok)
			a.clone.shadow_stack_token = token;
		break;
	case SHSTK_IOC_INSTALL:
		fix_size(&a.install.shadow_stack_size, max);
		if (row->tok)
			a.install.shadow_stack_token = token;
		a.install.tid = id;
		break;
	case SHSTK_IOC_USAGE:
		a.usage.tid = id;
		break;
	case SHSTK_IOC_SET_POLICY:
	case SHSTK_IOC_GET_POLICY:
		fix_size(&a.policy.size, max);
		fix_size(&a.policy.max_size, max);
		a.policy.pid = id;
		break;
	}

	/* Two pages, the second unmapped: the struct can end at the boundary. */
	page = mmap(NULL, 2 * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_TRUE(page != MAP_FAILED);
	CHECK(munmap(page + PAGE_SZ, PAGE_SZ) ? -errno : 0);
	switch (row->ptr) {
	case PTR_OK:
	case PTR_TAIL:
		memcpy(page, &a, sizeof(a));
		if (row->ptr == PTR_TAIL)
			page[ksize] = 1;
		*argp = page;
		break;
	case PTR_NULL:
		*argp = NULL;
		break;
	case PTR_UNMAPPED:
		*argp = page + PAGE_SZ;
		break;
	case PTR_READ_ONLY:
		memcpy(page, &a, sizeof(a));
		CHECK(mprotect(page, PAGE_SZ, PROT_READ) ? -errno : 0);
		*argp = page;
		break;
	case PTR_KERNEL:
		*argp = (void *)KERNEL_ADDR;
		break;
	case PTR_DIRECT_MAP:
		*argp = (void *)DIRECT_MAP_ADDR;
		break;
	case PTR_STRADDLE:
		memcpy(page + PAGE_SZ - 4, &a, 4);
		*argp = page + PAGE_SZ - 4;
		break;
	case PTR_TAIL_UNMAPPED:
		/* The known struct fits; the zero tail runs into the hole. */
		memcpy(page + PAGE_SZ - ksize - 8, &a, sizeof(a) < ksize ? sizeof(a) : ksize);
		*argp = page + PAGE_SZ - ksize - 8;
		break;
	}
	return 0;
}

/* In the child: build, set a non-default state, call, compare. */
static int row_child(const struct row *row, bool hw, bool enabled)
{
	struct shstk_policy pol = {
		.argsz = sizeof(pol), .mode = SHSTK_POLICY_FIXED, .size = SZ_128K,
	};
	void *arg = NULL;
	int fd;

	fd = shstk_dev_open();
	CHECK(fd < 0 ? -errno : 0);
	CHECK(build(row, fd, &arg, &R->watch));
	if (hw) {
		/* What a failing call must leave alone. */
		if (enabled)
			CHECK(shstk_set_clone(fd, SHSTK_CLONE_PERSIST, SZ_64K, 0));
		CHECK(shstk_ioc(fd, SHSTK_IOC_SET_POLICY, &pol));
	}
	if (row->opts & AS_NOBODY)
		CHECK(setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY) ? -errno : 0);

	/* Twice: the first one faults in whatever the reads need. */
	take_snap(fd, &R->before, R->watch);
	take_snap(fd, &R->before, R->watch);
	R->ret = ioctl(fd, row->cmd, arg) ? -errno : 0;
	take_snap(fd, &R->after, R->watch);
	R->ran = 1;
	return 0;
}

static void run_row(struct __test_metadata *_metadata, const struct row *row)
{
	struct shstk_policy mine_before = { .argsz = sizeof(mine_before) };
	struct shstk_policy mine_after = { .argsz = sizeof(mine_after) };
	bool hw = shstk_hw_available();
	bool enable = hw && !(row->opts & NO_SHSTK);
	int status, fd;
	pid_t pid;

	if (!(row->opts & ANY_CPU))
		REQUIRE_SHSTK();
	R = shstk_shared(sizeof(*R));
	ASSERT_NE(NULL, R);
	fd = shstk_dev_open();
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", SHSTK_DEVICE, strerror(errno));
	/* A row against this process (WHO_OTHER) must not change its policy either. */
	shstk_ioc(fd, SHSTK_IOC_GET_POLICY, &mine_before);

	fflush(NULL);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (enable && SHSTK_ENABLE_HERE())
			_exit(SHSTK_RUN_NO_ENABLE);
		/* Never returns: the shadow stack was enabled in this frame. */
		_exit(row_child(row, hw, enable));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	shstk_ioc(fd, SHSTK_IOC_GET_POLICY, &mine_after);
	close(fd);

	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status))
		TH_LOG("building the row failed at line %d: %s", R->line, strerror(-R->err));
	ASSERT_TRUE(R->ran);

	EXPECT_EQ(-row->err, R->ret)
		TH_LOG("expected %s, got %s", strerror(row->err),
		       R->ret ? strerror(-R->ret) : "success");
	EXPECT_EQ(R->before.maps, R->after.maps) TH_LOG("mappings changed");
	EXPECT_LT(0, R->before.maps);
	EXPECT_EQ(R->before.committed_kb, R->after.committed_kb) TH_LOG("Committed_AS changed");
	EXPECT_LE(0, R->before.committed_kb);
	EXPECT_EQ(R->before.arm_ret, R->after.arm_ret);
	EXPECT_EQ(0, memcmp(&R->before.arm, &R->after.arm, sizeof(R->before.arm)))
		TH_LOG("arming changed: size %#llx -> %#llx, token %#llx -> %#llx",
		       (unsigned long long)R->before.arm.shadow_stack_size,
		       (unsigned long long)R->after.arm.shadow_stack_size,
		       (unsigned long long)R->before.arm.shadow_stack_token,
		       (unsigned long long)R->after.arm.shadow_stack_token);
	EXPECT_EQ(R->before.pol_ret, R->after.pol_ret);
	EXPECT_EQ(0, memcmp(&R->before.pol, &R->after.pol, sizeof(R->before.pol)))
		TH_LOG("policy changed: mode %u size %#llx -> mode %u size %#llx",
		       R->before.pol.mode, (unsigned long long)R->before.pol.size,
		       R->after.pol.mode, (unsigned long long)R->after.pol.size);
	EXPECT_EQ(R->before.slot, R->after.slot) TH_LOG("token slot %#llx changed",
							(unsigned long long)R->watch);
	if (enable) {
		/* The state really was non-default, so a reset would have shown. */
		EXPECT_EQ(SZ_64K, R->before.arm.shadow_stack_size);
		EXPECT_EQ(SHSTK_POLICY_FIXED, R->before.pol.mode);
	}
	EXPECT_EQ(0, memcmp(&mine_before, &mine_after, sizeof(mine_before)))
		TH_LOG("the test body's own policy changed");
	munmap(R, sizeof(*R));
}

/* One test per row: ROW(name, ioctl, expected errno, row fields...). */
#define ROW(name, _cmd, _err, ...)					\
	TEST(name)							\
	{								\
		static const struct row row = {				\
			.cmd = (_cmd), .err = (_err), __VA_ARGS__	\
		};							\
		run_row(_metadata, &row);				\
	}

#define INFO		SHSTK_IOC_INFO
#define ALLOC		SHSTK_IOC_ALLOC
#define SET_CLONE	SHSTK_IOC_SET_CLONE
#define GET_CLONE	SHSTK_IOC_GET_CLONE
#define INSTALL		SHSTK_IOC_INSTALL
#define USAGE		SHSTK_IOC_USAGE
#define SET_POLICY	SHSTK_IOC_SET_POLICY
#define GET_POLICY	SHSTK_IOC_GET_POLICY
#define FIXED		SHSTK_POLICY_FIXED
#define RATIO		SHSTK_POLICY_RATIO

/* INFO and unknown ioctls: the rules shared by every ioctl, on any CPU. */
ROW(info_argsz_zero_is_einval, INFO, EINVAL, .opts = ANY_CPU, .argsz = ARGSZ(0))
ROW(info_argsz_below_version1_is_einval, INFO, EINVAL, .opts = ANY_CPU,
	.argsz = ARGSZ(SHSTK_INFO_SIZE_VER1 - 1))
ROW(info_nonzero_tail_is_e2big, INFO, E2BIG, .opts = ANY_CPU, .ptr = PTR_TAIL)
ROW(info_tail_past_the_mapping_is_efault, INFO, EFAULT, .opts = ANY_CPU,
	.ptr = PTR_TAIL_UNMAPPED)
ROW(info_unknown_flags_are_einval, INFO, EINVAL, .opts = ANY_CPU, .in.info.flags = 1)
ROW(info_high_flag_is_einval, INFO, EINVAL, .opts = ANY_CPU, .in.info.flags = 0x80000000U)
ROW(info_null_argument_is_efault, INFO, EFAULT, .opts = ANY_CPU, .ptr = PTR_NULL)
ROW(info_unmapped_argument_is_efault, INFO, EFAULT, .opts = ANY_CPU, .ptr = PTR_UNMAPPED)
ROW(info_read_only_argument_is_efault, INFO, EFAULT, .opts = ANY_CPU, .ptr = PTR_READ_ONLY)
ROW(info_kernel_text_argument_is_efault, INFO, EFAULT, .opts = ANY_CPU, .ptr = PTR_KERNEL)
ROW(info_direct_map_argument_is_efault, INFO, EFAULT, .opts = ANY_CPU, .ptr = PTR_DIRECT_MAP)
ROW(info_argument_straddling_a_hole_is_efault, INFO, EFAULT, .opts = ANY_CPU,
	.ptr = PTR_STRADDLE)
ROW(unknown_ioctl_number_is_enotty, _IO(SHSTK_IOC_MAGIC, 0x08), ENOTTY, .opts = ANY_CPU)
ROW(unknown_ioctl_magic_is_enotty, _IO(SHSTK_IOC_MAGIC + 1, 0x00), ENOTTY, .opts = ANY_CPU)
ROW(info_number_with_size_bits_is_enotty, _IOWR(SHSTK_IOC_MAGIC, 0x00, struct shstk_info),
	ENOTTY, .opts = ANY_CPU)

/* ALLOC */
ROW(alloc_argsz_below_version1_is_einval, ALLOC, EINVAL,
	.argsz = ARGSZ(SHSTK_ALLOC_SIZE_VER1 - 1), .in.alloc.size = SZ_64K)
ROW(alloc_nonzero_tail_is_e2big, ALLOC, E2BIG, .ptr = PTR_TAIL, .in.alloc.size = SZ_64K)
ROW(alloc_unknown_flags_are_einval, ALLOC, EINVAL,
	.in.alloc = { .flags = 0x2, .size = SZ_64K })
ROW(alloc_size_zero_is_einval, ALLOC, EINVAL, .in.alloc.size = 0)
ROW(alloc_size_not_multiple_of_8_is_einval, ALLOC, EINVAL, .in.alloc.size = SZ_64K + 4)
ROW(alloc_size_below_min_is_einval, ALLOC, EINVAL, .in.alloc.size = 8)
ROW(alloc_size_above_max_is_einval, ALLOC, EINVAL, .in.alloc.size = SIZE_ABOVE_MAX)
ROW(alloc_size_2_pow_63_is_einval, ALLOC, EINVAL, .in.alloc.size = SIZE_HUGE)
ROW(alloc_size_all_ones_is_einval, ALLOC, EINVAL, .in.alloc.size = ~0ULL & ~7ULL)
ROW(alloc_null_argument_is_efault, ALLOC, EFAULT, .ptr = PTR_NULL)
ROW(alloc_unmapped_argument_is_efault, ALLOC, EFAULT, .ptr = PTR_UNMAPPED)
ROW(alloc_kernel_argument_is_efault, ALLOC, EFAULT, .ptr = PTR_KERNEL)
ROW(alloc_read_only_argument_is_efault_and_maps_nothing, ALLOC, EFAULT,
	.ptr = PTR_READ_ONLY, .in.alloc = { .flags = SHSTK_ALLOC_TOKEN, .size = SZ_64K })
ROW(alloc_tail_past_the_mapping_is_efault, ALLOC, EFAULT, .ptr = PTR_TAIL_UNMAPPED,
	.in.alloc.size = SZ_64K)

/* SET_CLONE */
ROW(set_clone_argsz_below_version1_is_einval, SET_CLONE, EINVAL,
	.argsz = ARGSZ(SHSTK_CLONE_SIZE_VER1 - 1), .in.clone.shadow_stack_size = SZ_128K)
ROW(set_clone_nonzero_tail_is_e2big, SET_CLONE, E2BIG, .ptr = PTR_TAIL,
	.in.clone.shadow_stack_size = SZ_128K)
ROW(set_clone_unknown_flags_are_einval, SET_CLONE, EINVAL,
	.in.clone = { .flags = 0x4, .shadow_stack_size = SZ_128K })
ROW(set_clone_flags_without_size_or_token_are_einval, SET_CLONE, EINVAL,
	.in.clone.flags = SHSTK_CLONE_PERSIST)
ROW(set_clone_size_and_token_together_are_einval, SET_CLONE, EINVAL, .tok = TOK_VALID,
	.in.clone.shadow_stack_size = SZ_128K)
ROW(set_clone_exit_token_with_a_size_is_einval, SET_CLONE, EINVAL,
	.in.clone = { .flags = SHSTK_CLONE_EXIT_TOKEN, .shadow_stack_size = SZ_128K })
ROW(set_clone_size_not_multiple_of_8_is_einval, SET_CLONE, EINVAL,
	.in.clone.shadow_stack_size = SZ_128K + 4)
ROW(set_clone_size_below_min_is_einval, SET_CLONE, EINVAL, .in.clone.shadow_stack_size = 8)
ROW(set_clone_size_above_max_is_einval, SET_CLONE, EINVAL,
	.in.clone.shadow_stack_size = SIZE_ABOVE_MAX)
ROW(set_clone_size_2_pow_63_is_einval, SET_CLONE, EINVAL,
	.in.clone.shadow_stack_size = SIZE_HUGE)
ROW(set_clone_misaligned_token_is_einval, SET_CLONE, EINVAL, .tok = TOK_MISALIGNED)
ROW(set_clone_token_in_a_normal_mapping_is_efault, SET_CLONE, EFAULT,
	.tok = TOK_NORMAL_MAPPING)
ROW(set_clone_forged_token_is_einval, SET_CLONE, EINVAL, .tok = TOK_FORGED)
ROW(set_clone_return_address_as_token_is_einval, SET_CLONE, EINVAL, .tok = TOK_OWN_SSP)
ROW(set_clone_stack_without_token_is_einval, SET_CLONE, EINVAL, .tok = TOK_NO_TOKEN)
ROW(set_clone_consumed_token_is_einval, SET_CLONE, EINVAL, .tok = TOK_CONSUMED)
ROW(set_clone_token_in_a_freed_mapping_is_efault, SET_CLONE, EFAULT, .tok = TOK_FREED)
ROW(set_clone_kernel_token_is_efault, SET_CLONE, EFAULT, .tok = TOK_KERNEL)
ROW(set_clone_token_where_nothing_was_mapped_is_efault, SET_CLONE, EFAULT,
	.tok = TOK_LOW_UNMAPPED)
ROW(set_clone_exit_token_on_a_consumed_token_is_einval, SET_CLONE, EINVAL,
	.tok = TOK_CONSUMED, .in.clone.flags = SHSTK_CLONE_EXIT_TOKEN)
ROW(set_clone_without_shadow_stack_is_einval, SET_CLONE, EINVAL, .opts = NO_SHSTK,
	.in.clone.shadow_stack_size = SZ_128K)
ROW(set_clone_null_argument_is_efault, SET_CLONE, EFAULT, .ptr = PTR_NULL)
ROW(set_clone_kernel_argument_is_efault, SET_CLONE, EFAULT, .ptr = PTR_KERNEL)
ROW(set_clone_argument_straddling_a_hole_is_efault, SET_CLONE, EFAULT, .ptr = PTR_STRADDLE)

/* GET_CLONE */
ROW(get_clone_argsz_below_version1_is_einval, GET_CLONE, EINVAL,
	.argsz = ARGSZ(SHSTK_CLONE_SIZE_VER1 - 1))
ROW(get_clone_nonzero_tail_is_e2big, GET_CLONE, E2BIG, .ptr = PTR_TAIL)
ROW(get_clone_unknown_flags_are_einval, GET_CLONE, EINVAL, .in.clone.flags = 0x4)
ROW(get_clone_read_only_argument_is_efault, GET_CLONE, EFAULT, .ptr = PTR_READ_ONLY)
ROW(get_clone_null_argument_is_efault, GET_CLONE, EFAULT, .ptr = PTR_NULL)
ROW(get_clone_direct_map_argument_is_efault, GET_CLONE, EFAULT, .ptr = PTR_DIRECT_MAP)

/* INSTALL */
ROW(install_argsz_below_version1_is_einval, INSTALL, EINVAL,
	.argsz = ARGSZ(SHSTK_INSTALL_SIZE_VER1 - 1), .in.install.shadow_stack_size = SZ_64K)
ROW(install_nonzero_tail_is_e2big, INSTALL, E2BIG, .ptr = PTR_TAIL,
	.in.install.shadow_stack_size = SZ_64K)
ROW(install_unknown_flags_are_einval, INSTALL, EINVAL,
	.in.install = { .flags = 1, .shadow_stack_size = SZ_64K })
ROW(install_reserved_field_is_einval, INSTALL, EINVAL,
	.in.install = { .reserved = 1, .shadow_stack_size = SZ_64K })
ROW(install_neither_size_nor_token_is_einval, INSTALL, EINVAL)
ROW(install_size_and_token_together_are_einval, INSTALL, EINVAL, .tok = TOK_VALID,
	.in.install.shadow_stack_size = SZ_64K)
ROW(install_size_not_multiple_of_8_is_einval, INSTALL, EINVAL,
	.in.install.shadow_stack_size = SZ_64K + 4)
ROW(install_size_above_max_is_einval, INSTALL, EINVAL,
	.in.install.shadow_stack_size = SIZE_ABOVE_MAX)
ROW(install_size_2_pow_63_is_einval, INSTALL, EINVAL,
	.in.install.shadow_stack_size = SIZE_HUGE)
ROW(install_misaligned_token_is_einval, INSTALL, EINVAL, .tok = TOK_MISALIGNED)
ROW(install_missing_tid_is_esrch, INSTALL, ESRCH, .who = WHO_MISSING,
	.in.install.shadow_stack_size = SZ_64K)
ROW(install_exited_thread_is_esrch, INSTALL, ESRCH, .who = WHO_EXITED,
	.in.install.shadow_stack_size = SZ_64K)
ROW(install_on_another_users_process_is_eperm, INSTALL, EPERM, .who = WHO_OTHER,
	.opts = AS_NOBODY, .in.install.shadow_stack_size = SZ_64K)
ROW(install_on_itself_untraced_is_ebusy, INSTALL, EBUSY,
	.in.install.shadow_stack_size = SZ_64K)
ROW(install_null_argument_is_efault, INSTALL, EFAULT, .ptr = PTR_NULL)

/* USAGE */
ROW(usage_argsz_below_version1_is_einval, USAGE, EINVAL,
	.argsz = ARGSZ(SHSTK_USAGE_SIZE_VER1 - 1))
ROW(usage_argsz_of_the_header_only_is_einval, USAGE, EINVAL, .argsz = ARGSZ(8))
ROW(usage_nonzero_tail_is_e2big, USAGE, E2BIG, .ptr = PTR_TAIL)
ROW(usage_unknown_flags_are_einval, USAGE, EINVAL, .in.usage.flags = 1)
ROW(usage_missing_tid_is_esrch, USAGE, ESRCH, .who = WHO_MISSING)
ROW(usage_tid_above_the_pid_limit_is_esrch, USAGE, ESRCH, .who = WHO_ABOVE_LIMIT)
ROW(usage_exited_thread_is_esrch, USAGE, ESRCH, .who = WHO_EXITED)
ROW(usage_of_another_users_process_is_eperm, USAGE, EPERM, .who = WHO_OTHER,
	.opts = AS_NOBODY)
ROW(usage_of_init_as_nobody_is_eperm, USAGE, EPERM, .who = WHO_INIT, .opts = AS_NOBODY)
ROW(usage_read_only_argument_is_efault, USAGE, EFAULT, .ptr = PTR_READ_ONLY)
ROW(usage_null_argument_is_efault, USAGE, EFAULT, .ptr = PTR_NULL)
ROW(usage_kernel_argument_is_efault, USAGE, EFAULT, .ptr = PTR_KERNEL)
ROW(usage_tail_past_the_mapping_is_efault, USAGE, EFAULT, .ptr = PTR_TAIL_UNMAPPED)

/* SET_POLICY */
ROW(set_policy_argsz_below_version1_is_einval, SET_POLICY, EINVAL,
	.argsz = ARGSZ(SHSTK_POLICY_SIZE_VER1 - 1), .in.policy = { .mode = FIXED, .size = SZ_64K })
ROW(set_policy_nonzero_tail_is_e2big, SET_POLICY, E2BIG, .ptr = PTR_TAIL,
	.in.policy = { .mode = FIXED, .size = SZ_64K })
ROW(set_policy_unknown_flags_are_einval, SET_POLICY, EINVAL,
	.in.policy = { .flags = 0x2, .mode = FIXED, .size = SZ_64K })
ROW(set_policy_reserved_field_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .reserved = 1, .mode = FIXED, .size = SZ_64K })
ROW(set_policy_unknown_mode_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = 3, .size = SZ_64K })
ROW(set_policy_kernel_mode_with_a_size_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = SHSTK_POLICY_KERNEL, .size = SZ_64K })
ROW(set_policy_fixed_size_zero_is_einval, SET_POLICY, EINVAL, .in.policy.mode = FIXED)
ROW(set_policy_fixed_size_not_multiple_of_8_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = FIXED, .size = SZ_64K + 4 })
ROW(set_policy_fixed_size_below_min_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = FIXED, .size = 8 })
ROW(set_policy_fixed_size_above_max_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = FIXED, .size = SIZE_ABOVE_MAX })
ROW(set_policy_fixed_size_2_pow_63_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = FIXED, .size = SIZE_HUGE })
ROW(set_policy_fixed_with_a_ratio_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = FIXED, .size = SZ_64K, .ratio = 4 })
ROW(set_policy_ratio_zero_is_einval, SET_POLICY, EINVAL, .in.policy.mode = RATIO)
ROW(set_policy_ratio_not_a_power_of_two_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = RATIO, .ratio = 3 })
ROW(set_policy_ratio_above_64_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = RATIO, .ratio = 128 })
ROW(set_policy_ratio_with_a_size_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = RATIO, .ratio = 4, .size = SZ_64K })
ROW(set_policy_ratio_min_above_max_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = RATIO, .ratio = 4, .min_size = SZ_128K, .max_size = SZ_64K })
ROW(set_policy_ratio_min_not_multiple_of_8_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = RATIO, .ratio = 4, .min_size = SZ_64K + 4 })
ROW(set_policy_ratio_max_above_max_is_einval, SET_POLICY, EINVAL,
	.in.policy = { .mode = RATIO, .ratio = 4, .max_size = SIZE_ABOVE_MAX })
ROW(set_policy_missing_pid_is_esrch, SET_POLICY, ESRCH, .who = WHO_MISSING,
	.in.policy = { .mode = FIXED, .size = SZ_64K })
ROW(set_policy_exited_thread_is_esrch, SET_POLICY, ESRCH, .who = WHO_EXITED,
	.in.policy = { .mode = FIXED, .size = SZ_64K })
ROW(set_policy_on_another_users_process_is_eperm, SET_POLICY, EPERM, .who = WHO_OTHER,
	.opts = AS_NOBODY, .in.policy = { .mode = FIXED, .size = SZ_64K })
ROW(set_policy_null_argument_is_efault, SET_POLICY, EFAULT, .ptr = PTR_NULL)
ROW(set_policy_unmapped_argument_is_efault, SET_POLICY, EFAULT, .ptr = PTR_UNMAPPED)

/* GET_POLICY */
ROW(get_policy_argsz_below_version1_is_einval, GET_POLICY, EINVAL,
	.argsz = ARGSZ(SHSTK_POLICY_SIZE_VER1 - 1))
ROW(get_policy_nonzero_tail_is_e2big, GET_POLICY, E2BIG, .ptr = PTR_TAIL)
ROW(get_policy_unknown_flags_are_einval, GET_POLICY, EINVAL, .in.policy.flags = 0x2)
ROW(get_policy_reserved_field_is_einval, GET_POLICY, EINVAL, .in.policy.reserved = 1)
ROW(get_policy_missing_pid_is_esrch, GET_POLICY, ESRCH, .who = WHO_MISSING)
ROW(get_policy_exited_thread_is_esrch, GET_POLICY, ESRCH, .who = WHO_EXITED)
ROW(get_policy_of_another_users_process_is_eperm, GET_POLICY, EPERM, .who = WHO_OTHER,
	.opts = AS_NOBODY)
ROW(get_policy_read_only_argument_is_efault, GET_POLICY, EFAULT, .ptr = PTR_READ_ONLY)
ROW(get_policy_kernel_argument_is_efault, GET_POLICY, EFAULT, .ptr = PTR_KERNEL)

TEST_HARNESS_MAIN
