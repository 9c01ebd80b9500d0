/* SPDX-License-Identifier: MIT */
/*
 * A container's run folder (sockets, console and VMM logs, a private disk
 * copy): made private by mkdtemp, and held with an exclusive flock for as
 * long as its pupa lives. A pupa killed with SIGKILL cannot remove its
 * folder; the lock dies with it, so the next start finds the folder
 * unlocked and removes it. A folder kept on purpose (--keep-failed) says
 * so with a KEPT file and is left alone.
 */
#ifndef PUPA_RUNDIR_H
#define PUPA_RUNDIR_H

#include <stddef.h>

#include "error.h"

/* $XDG_RUNTIME_DIR when usable, else $TMPDIR, else /tmp. */
const char *rundir_base(void);

/* A new folder base/pupa-run.XXXXXX in path, locked before it gets that
 * name (made as pupa-new.PID.XXXXXX); the lock's fd. */
int rundir_create(char *path, size_t len, struct pupa_err *err);

/* Remove the unlocked pupa-run.* folders of this user under base (and
 * pupa-new.* ones whose maker died before renaming them); the
 * number removed. */
int rundir_reap(const char *base);

/* Mark the folder as kept for the user (the reaper leaves it). */
void rundir_keep(const char *path);

/* Remove a folder and everything in it, never following a symlink. */
int rundir_remove(const char *path);

#endif
