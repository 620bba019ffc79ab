// SPDX-License-Identifier: MIT
/*
 * The README's demo: what /dev/shstk reports, and the kernel's default
 * shadow-stack sizing that shstk exists to change (a thread with an 8 MiB
 * stack gets an 8 MiB shadow stack). Static, runs in the test guests:
 *   tests/vm/run --cet -- userspace/build/demo
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include <linux/shstk.h>
#include "shstk_cet.h"

static const char *const feature_names[] = {
	"hw", "alloc", "clone-size", "clone-token", "install", "usage", "policy",
};

static int show_info(int fd)
{
	struct shstk_info info = { .argsz = sizeof(info) };
	unsigned int i;

	if (ioctl(fd, SHSTK_IOC_INFO, &info)) {
		perror("SHSTK_IOC_INFO");
		return -1;
	}
	printf("shstk ABI %u, arch %s\n", info.abi_version,
	       info.arch == SHSTK_ARCH_X86_64 ? "x86-64 CET" : "other");
	printf("  features:");
	for (i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
		if (info.features & (1ULL << i))
			printf(" %s", feature_names[i]);
	printf("%s\n", info.features ? "" : " none (no user shadow stacks here)");
	printf("  sizes: %llu .. %llu bytes, system default %s\n",
	       (unsigned long long)info.min_size, (unsigned long long)info.max_size,
	       info.default_size ? "set" : "the kernel's rule");
	return (info.features & SHSTK_FEAT_HW) ? 1 : 0;
}

/* Size in KiB of the "ss" mapping holding the calling thread's SSP. */
static long ss_mapping_kib(void)
{
	uint64_t ssp = shstk_get_ssp();
	unsigned long start, end;
	char line[512];
	long kib = -1;
	FILE *f;

	f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	/* An empty shadow stack has SSP one past its mapping. */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &start, &end) == 2 && ssp - 1 >= start && ssp - 1 < end)
			kib = (end - start) >> 10;
	fclose(f);
	return kib;
}

static void *report_thread(void *arg)
{
	printf("  thread with a %zu KiB stack: %ld KiB shadow stack\n",
	       *(size_t *)arg >> 10, ss_mapping_kib());
	return NULL;
}

static int thread_demo(void)
{
	size_t stack_size = 8 << 20;
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, stack_size);
	if (pthread_create(&t, &attr, report_thread, &stack_size) || pthread_join(t, NULL))
		return 1;
	return 0;
}

int main(void)
{
	int fd, hw, status;
	pid_t pid;

	fd = open(SHSTK_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s (load the module: insmod shstk.ko)\n", SHSTK_DEVICE,
			strerror(errno));
		return 1;
	}
	hw = show_info(fd);
	if (hw <= 0)
		return hw < 0;

	printf("\nThe kernel's rule (no shstk arming):\n");
	fflush(stdout);
	/*
	 * This glibc does not enable shadow stacks itself: enable it in a child
	 * that never returns from this frame (its return address predates the
	 * shadow stack).
	 */
	pid = fork();
	if (pid == 0) {
		if (SHSTK_ENABLE_HERE())
			_exit(2);
		_exit(thread_demo());
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "shadow-stack child failed (status %#x)\n", status);
		return 1;
	}
	return 0;
}
