// SPDX-License-Identifier: MIT
/*
 * /init for the qemu test initramfs built by kernel_patches/test-in-qemu.sh.
 *
 * Mounts /proc, runs every program listed in /tests/list (one path per
 * line, optionally followed by arguments) with a deadline, prints
 *   BINARY <path>: PASS|FAIL (<status>)
 * for each, then "INIT DONE <n> binaries, <f> failed" and powers the
 * machine off through qemu's isa-debug-exit port (0x10 = all passed,
 * 0x11 = something failed; qemu exits with (code << 1) | 1), falling back
 * to reboot(RB_POWER_OFF).
 *
 * Build: gcc -O2 -static qemu_init.c -o init
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PER_BINARY_TIMEOUT_S	600

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void power_off(int failed)
{
	/*
	 * The serial driver sends asynchronously, and isa-debug-exit stops
	 * qemu at once: wait until the console has sent everything, or the
	 * last lines (the verdict) are lost.
	 */
	fflush(stdout);
	tcdrain(STDOUT_FILENO);
	usleep(200000);
	sync();
	if (iopl(3) == 0)
		outb(failed ? 0x11 : 0x10, 0xf4);
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static int run(char *line)
{
	char *argv[16];
	int argc = 0, status = 0;
	double start = now_s();
	pid_t pid;

	for (char *tok = strtok(line, " \t\n"); tok && argc < 15;
	     tok = strtok(NULL, " \t\n"))
		argv[argc++] = tok;
	argv[argc] = NULL;
	if (!argc)
		return -1;

	printf("==> %s\n", argv[0]);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execv(argv[0], argv);
		printf("exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		return 1;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (now_s() - start > PER_BINARY_TIMEOUT_S) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			printf("BINARY %s: FAIL (timed out after %d s)\n",
			       argv[0], PER_BINARY_TIMEOUT_S);
			return 1;
		}
		usleep(20000);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("BINARY %s: PASS (%.1f s)\n", argv[0], now_s() - start);
		return 0;
	}
	printf("BINARY %s: FAIL (status 0x%x, %.1f s)\n", argv[0], status,
	       now_s() - start);
	return 1;
}

int main(void)
{
	char line[1024];
	int n = 0, failed = 0;
	FILE *list;

	setvbuf(stdout, NULL, _IOLBF, 0);
	mkdir("/proc", 0555);
	mkdir("/tmp", 01777);
	if (mount("proc", "/proc", "proc", 0, NULL))
		printf("mount /proc: %s\n", strerror(errno));
	mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
	struct utsname u;

	uname(&u);
	printf("INIT START kernel %s %s, %ld CPUs online\n", u.release,
	       u.version, sysconf(_SC_NPROCESSORS_ONLN));

	list = fopen("/tests/list", "r");
	if (!list) {
		printf("INIT: no /tests/list\n");
		power_off(1);
	}
	while (fgets(line, sizeof(line), list)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		n++;
		if (run(line))
			failed++;
	}
	fclose(list);
	printf("INIT DONE %d binaries, %d failed\n", n, failed);
	power_off(failed);
	return 0;
}
