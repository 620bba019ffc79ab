// SPDX-License-Identifier: GPL-2.0
/*
 * PID 1 of the test guests. Mounts the basics, makes any kernel WARN or
 * Oops fatal, loads the module, runs the program the host asked for, and
 * reports its exit status through a marker that carries a per-run nonce,
 * so the host never has to guess the result from log text. Then it dumps
 * the kernel log (the console runs `quiet`), unloads the module and
 * powers off.
 *
 * Guest layout, written by tests/vm/mkinitramfs:
 *   /shstk/nonce      the marker nonce
 *   /shstk/argv       the program's argv, NUL-separated
 *   /shstk/shstk.ko   the module (absent: run without it)
 *   /shstk/params     module parameters (optional)
 *   /shstk/work/      the program and files added with --add; the cwd
 *
 * PID 1 answers SIGUSR1 with SIGUSR1 to the sender, so a test can make
 * the (shadow-stack-less) init run between its own processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char nonce[64] = "none";

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void echo_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si->si_pid > 0)
		kill(si->si_pid, sig);
}

static void poweroff(void)
{
	fflush(stdout);
	tcdrain(STDOUT_FILENO);
	sync();
	/* Give the UART time to push the last bytes out before the VM stops. */
	sleep(1);
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static void fatal(const char *what)
{
	say("shstk-vm: %s: %s\n", what, strerror(errno));
	say("SHSTK-VM-END %s init-failed\n", nonce);
	poweroff();
}

static void setup_echo_signal(void)
{
	struct sigaction sa = { .sa_sigaction = echo_signal, .sa_flags = SA_SIGINFO | SA_RESTART };

	if (sigaction(SIGUSR1, &sa, NULL))
		fatal("sigaction(SIGUSR1)");
}

static size_t read_file(const char *path, char *buf, size_t len)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((size_t)total < len - 1 && (n = read(fd, buf + total, len - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return total;
}

static void write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		fatal(path);
	close(fd);
}

static void setup_console(void)
{
	int fd;

	mkdir("/dev", 0755);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) && errno != EBUSY)
		reboot(RB_POWER_OFF);
	fd = open("/dev/console", O_RDWR);
	if (fd < 0)
		reboot(RB_POWER_OFF);
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static void setup_mounts(void)
{
	static const struct { const char *type, *dir; } mounts[] = {
		{ "proc", "/proc" }, { "sysfs", "/sys" }, { "tmpfs", "/tmp" },
		{ "tmpfs", "/run" }, { "debugfs", "/sys/kernel/debug" },
		{ "tracefs", "/sys/kernel/tracing" },
	};
	size_t i;

	for (i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		mkdir(mounts[i].dir, 0755);
		if (mount(mounts[i].type, mounts[i].dir, mounts[i].type, 0, NULL))
			fatal(mounts[i].dir);
	}
	chmod("/tmp", 01777);
}

static void load_module(void)
{
	char params[4096] = "";
	int fd = open("/shstk/shstk.ko", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		say("shstk-vm: no module in this image, running without it\n");
		return;
	}
	read_file("/shstk/params", params, sizeof(params));
	params[strcspn(params, "\n")] = '\0';
	if (syscall(SYS_finit_module, fd, params, 0))
		fatal("finit_module(shstk.ko)");
	close(fd);
}

static int run_program(void)
{
	static char argbuf[65536];
	char *argv[256];
	size_t len, off;
	int argc = 0, status;
	pid_t pid;

	len = read_file("/shstk/argv", argbuf, sizeof(argbuf));
	for (off = 0; off < len && argc < 255; off += strlen(argbuf + off) + 1)
		argv[argc++] = argbuf + off;
	argv[argc] = NULL;
	if (!argc) {
		errno = EINVAL;
		fatal("empty /shstk/argv");
	}

	say("SHSTK-VM-BEGIN %s\n", nonce);
	pid = fork();
	if (pid < 0)
		fatal("fork");
	if (!pid) {
		if (chdir("/shstk/work"))
			_exit(126);
		/* A new session, so the program may own the console. */
		setsid();
		execv(argv[0], argv);
		say("shstk-vm: exec %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* As PID 1 we also reap orphans; only the program's status counts. */
	while (waitpid(-1, &status, 0) != pid)
		;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void dump_kernel_log(void)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf;

	if (len <= 0)
		return;
	buf = malloc(len);
	if (!buf)
		return;
	len = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	say("SHSTK-VM-DMESG-BEGIN %s\n", nonce);
	if (len > 0)
		fwrite(buf, 1, len, stdout);
	say("SHSTK-VM-DMESG-END %s\n", nonce);
	free(buf);
}

int main(void)
{
	int status;

	setup_console();
	setup_mounts();
	read_file("/shstk/nonce", nonce, sizeof(nonce));
	nonce[strcspn(nonce, "\n")] = '\0';
	setenv("PATH", "/shstk/work:/bin:/sbin", 1);
	setenv("HOME", "/tmp", 1);
	setenv("TMPDIR", "/tmp", 1);

	/*
	 * The module is loaded before panic_on_warn: on CPUs with the ITS
	 * mitigation (the Bochs tigerlake model) Debian's 6.12 kernel WARNs
	 * once for the first module with two indirect calls, a kernel bug the
	 * host tolerates by name (see run). Any other warning still fails the
	 * run: from here on it panics, and the host scans the log for the rest.
	 */
	load_module();
	write_file("/proc/sys/kernel/panic_on_warn", "1");
	write_file("/proc/sys/kernel/panic_on_oops", "1");

	setup_echo_signal();
	status = run_program();

	/* Unloading must work too; a failure is part of the result. */
	if (access("/sys/module/shstk", F_OK) == 0 &&
	    syscall(SYS_delete_module, "shstk", O_NONBLOCK))
		say("SHSTK-VM-RMMOD %s failed: %s\n", nonce, strerror(errno));
	dump_kernel_log();
	say("SHSTK-VM-END %s %d\n", nonce, status);
	poweroff();
	return 0;
}
