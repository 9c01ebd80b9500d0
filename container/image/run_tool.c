/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_tool.h"

extern char **environ;

static int run_tool__find(const char *name, char *path, size_t len)
{
	const char *env = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", env ? env : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(path, len, "%s/%s", d, name);
		if (access(path, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Keep the last non-empty line of what the tool printed. */
static void run_tool__last_line(const char *buf, size_t n, char *out, size_t outlen)
{
	size_t end = n, start;

	while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && buf[start - 1] != '\n')
		start--;
	snprintf(out, outlen, "%.*s", (int)(end - start), buf + start);
}

/* Every descriptor from 3 up; without close_range (before Linux 5.9) one
 * by one up to the limit. */
static void run_tool__close_from_3(void)
{
	struct rlimit rl;

	if (close_range(3, ~0U, 0) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > 65536)
		rl.rlim_cur = 65536;
	for (int fd = 3; fd < (int)rl.rlim_cur; fd++)
		close(fd);
}

int run_tool_child_init(pid_t parent, int in, int out, int err)
{
	int src[3] = { in, out, err };
	sigset_t none;

	/* First, so that from here on a dying pupa takes the child along;
	 * a pupa that died before it is seen by the child's new parent. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		return -1;
	/* Above 2 first: a source may be one of 0-2 (pupa's stdin closed). */
	for (int i = 0; i < 3; i++) {
		if (src[i] < 0)
			src[i] = open("/dev/null", i ? O_WRONLY : O_RDONLY);
		if (src[i] < 0 || (src[i] = fcntl(src[i], F_DUPFD, 3)) < 0)
			return -1;
	}
	for (int i = 0; i < 3; i++)
		if (dup2(src[i], i) < 0)
			return -1;
	run_tool__close_from_3();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	return 0;
}

/* fork, not posix_spawn: the child ties itself to pupa before exec. */
static pid_t run_tool__start(const char *path, const char *const argv[], int out)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		if (run_tool_child_init(parent, -1, out, out) == 0)
			execve(path, (char *const *)argv, environ);
		_exit(127);
	}
	return pid;
}

int run_tool(const char *const argv[], char *out, size_t outlen)
{
	char path[4200], buf[8192];
	size_t n = 0;
	int fds[2], status;
	pid_t pid;

	if (out && outlen)
		out[0] = '\0';
	if (run_tool__find(argv[0], path, sizeof(path)) < 0) {
		if (out)
			snprintf(out, outlen, "%s not found (install e2fsprogs)", argv[0]);
		return 127;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = run_tool__start(path, argv, fds[1]);
	close(fds[1]);
	if (pid < 0) {
		int e = errno;

		close(fds[0]);
		return -e;
	}
	for (;;) {
		ssize_t r;

		if (n == sizeof(buf)) {	/* keep the tail */
			memmove(buf, buf + n / 2, n - n / 2);
			n -= n / 2;
		}
		r = read(fds[0], buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (out)
		run_tool__last_line(buf, n, out, outlen);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
