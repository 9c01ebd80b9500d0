/* Starting the container's process: its own session, its root, its user. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "agent_proto.h"

extern char **environ;

/* mkdir -p, for a working directory the image lacks (Docker creates it too). */
static void make_dirs(const char *path)
{
	char p[AGENT_MAX_STR];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(p, 0755);
			*s = '/';
		}
	}
	mkdir(p, 0755);
}

struct child_error {
	int stage;	/* 0: exec; 1: setup */
	int err;
};

static void child_fail(int pipe_fd, int stage, int err)
{
	struct child_error ce = { stage, err };

	if (write(pipe_fd, &ce, sizeof(ce)) < 0) {
		/* the parent is gone; nothing to tell */
	}
	_exit(EXIT_RUNTIME_FAILURE);
}

static void child(const struct spawn_req *r, int report)
{
	sigset_t none;

	/* pupa-init blocks SIGCHLD and ignores SIGPIPE; the container must not inherit that. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	if (r->tty && ioctl(r->ctty_fd, TIOCSCTTY, 0) < 0)
		child_fail(report, 1, errno);
	if (dup2(r->stdin_fd, 0) < 0 || dup2(r->stdout_fd, 1) < 0 || dup2(r->stderr_fd, 2) < 0)
		child_fail(report, 1, errno);
	for (int fd = 3; fd < 1024; fd++)
		if (fd != report)
			close(fd);
	if (chroot(NEWROOT) < 0 || chdir("/") < 0)
		child_fail(report, 1, errno);
	if (r->cwd && *r->cwd) {
		make_dirs(r->cwd);
		if (chdir(r->cwd) < 0)
			child_fail(report, 1, errno);
	}
	if (setgroups((size_t)r->creds.ngroups, r->creds.groups) < 0 ||
	    setgid(r->creds.gid) < 0 || setuid(r->creds.uid) < 0)
		child_fail(report, 1, errno);
	environ = r->env;	/* execvp searches the container's PATH */
	execvp(r->argv[0], r->argv);
	child_fail(report, 0, errno);
}

pid_t spawn_container(const struct spawn_req *r, int *code, char *msg, size_t len)
{
	struct child_error ce;
	int p[2];
	pid_t pid;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0) {
		*code = EXIT_RUNTIME_FAILURE;
		snprintf(msg, len, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		child(r, p[1]);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		*code = EXIT_RUNTIME_FAILURE;
		snprintf(msg, len, "fork: %s", strerror(errno));
		return -1;
	}
	/* The report pipe closes on exec: no bytes means the process runs. */
	do
		n = read(p[0], &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n != sizeof(ce))
		return pid;
	waitpid(pid, NULL, 0);
	if (ce.stage == 1) {
		*code = EXIT_RUNTIME_FAILURE;
		snprintf(msg, len, "cannot set up the process: %s", strerror(ce.err));
	} else if (ce.err == ENOENT || ce.err == ENOTDIR) {
		*code = EXIT_NOT_FOUND;
		snprintf(msg, len, "exec: \"%s\": executable file not found in $PATH", r->argv[0]);
	} else if (ce.err == EACCES || ce.err == ENOEXEC || ce.err == EPERM || ce.err == EISDIR) {
		*code = EXIT_NOT_EXECUTABLE;
		snprintf(msg, len, "exec: \"%s\": %s", r->argv[0], strerror(ce.err));
	} else {
		*code = EXIT_RUNTIME_FAILURE;
		snprintf(msg, len, "exec: \"%s\": %s", r->argv[0], strerror(ce.err));
	}
	return -1;
}
