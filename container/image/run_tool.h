/*
 * Runs one of e2fsprogs' programs (mke2fs, resize2fs) and keeps the tail of
 * what it printed, so a failure can say why in one line.
 *
 * The rule for every process pupa starts (tools, credential helpers,
 * pupa-vmm): it dies with pupa and inherits no descriptor but its stdio.
 * A child outliving a killed pupa keeps whatever it inherited without
 * O_CLOEXEC (libcurl's sockets; a lock, were one inherited, would keep the
 * next run from reaping), and an orphaned mke2fs late to start re-created
 * the image file the next run had just reaped. The one exception will be a container's monitor, which must
 * outlive the command that made it: it is forked before any lock is taken
 * and does not call run_tool_child_init().
 */
#ifndef PUPA_RUN_TOOL_H
#define PUPA_RUN_TOOL_H

#include <stddef.h>
#include <sys/types.h>

/*
 * argv[0] is looked up in PATH, then /usr/sbin and /sbin (an unprivileged
 * user's PATH often lacks them). Returns the exit status (0 on success),
 * 127 when the program is missing, or a negative errno; out gets the last
 * line it printed on stdout or stderr.
 */
int run_tool(const char *const argv[], char *out, size_t outlen);

/*
 * In a child between fork() and exec, async-signal-safe. parent is
 * getpid() taken before the fork. The child gets SIGKILL when the thread
 * that forked it ends (so that thread must wait for it), and a parent
 * already dead by then is seen through getppid(). Its stdin, stdout and
 * stderr become in, out and err (-1: /dev/null), every other descriptor is
 * closed, the signal mask is emptied and SIGPIPE is the default again.
 * Returns 0, or -1 when the child must _exit() at once.
 */
int run_tool_child_init(pid_t parent, int in, int out, int err);

#endif
