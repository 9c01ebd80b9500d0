/*
 * Runs one of e2fsprogs' programs (mke2fs, resize2fs) and keeps the tail of
 * what it printed, so a failure can say why in one line.
 */
#ifndef PUPA_RUN_TOOL_H
#define PUPA_RUN_TOOL_H

#include <stddef.h>

/*
 * argv[0] is looked up in PATH, then /usr/sbin and /sbin (an unprivileged
 * user's PATH often lacks them). Returns the exit status (0 on success),
 * 127 when the program is missing, or a negative errno; out gets the last
 * line it printed on stdout or stderr.
 */
int run_tool(const char *const argv[], char *out, size_t outlen);

#endif
