/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir.h"

#define RUNDIR_PREFIX "pupa-run."
#define RUNDIR_KEPT "KEPT"

const char *rundir_base(void)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (!base || stat(base, &st) < 0 || !S_ISDIR(st.st_mode) || access(base, W_OK) < 0)
		base = getenv("TMPDIR");
	return base && *base ? base : "/tmp";
}

/*
 * A concurrent start's reaper may see our folder between mkdtemp() and
 * flock() and remove it: after locking, the path must still be the folder
 * we hold, or we start over with a new one.
 */
int rundir_create(char *path, size_t len, struct pupa_err *err)
{
	const char *base = rundir_base();
	int e = 0;

	for (int attempt = 0; attempt < 8; attempt++) {
		struct stat held, now;
		int fd;

		snprintf(path, len, "%s/" RUNDIR_PREFIX "XXXXXX", base);
		if (!mkdtemp(path))
			return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE,
				       "cannot create a run folder in %s: %s", base, strerror(errno));
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &held) == 0 &&
		    lstat(path, &now) == 0 && held.st_ino == now.st_ino && held.st_dev == now.st_dev)
			return fd;
		e = errno;
		if (fd >= 0)
			close(fd);
		rmdir(path);
	}
	return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot hold a run folder in %s: %s",
		       base, strerror(e ? e : EAGAIN));
}

static int rundir__rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int rundir_remove(const char *path)
{
	if (!path[0])
		return 0;
	return nftw(path, rundir__rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void rundir_keep(const char *path)
{
	char kept[4200];
	int fd;

	snprintf(kept, sizeof(kept), "%s/" RUNDIR_KEPT, path);
	fd = open(kept, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
}

/*
 * base/name, a run folder of ours that nobody holds, opened and locked;
 * -1 for anything else. The lock is kept until the folder is gone: a
 * start that made it between our look and its own flock() then fails to
 * lock it and makes another (rundir_create).
 */
static int rundir__hold_stale(int dfd, const char *name)
{
	struct stat st;
	int fd;

	if (strncmp(name, RUNDIR_PREFIX, strlen(RUNDIR_PREFIX)) != 0 ||
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid())
		return -1;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (faccessat(fd, RUNDIR_KEPT, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int rundir_reap(const char *base)
{
	char path[4400];
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(base);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int held = rundir__hold_stale(dirfd(d), de->d_name);

		if (held < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		if (rundir_remove(path) == 0)
			n++;
		close(held);
	}
	closedir(d);
	return n;
}
