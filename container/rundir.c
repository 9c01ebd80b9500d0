/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rundir.h"

#define RUNDIR_PREFIX "pupa-run."
#define RUNDIR_NEW_PREFIX "pupa-new."
#define RUNDIR_KEPT "KEPT"
/* A pupa-new.* folder older than this lost its maker before the rename,
 * even if a process of the PID in its name lives. */
#define RUNDIR_NEW_STALE_SECONDS 60

const char *rundir_base(void)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (!base || stat(base, &st) < 0 || !S_ISDIR(st.st_mode) || access(base, W_OK) < 0)
		base = getenv("TMPDIR");
	return base && *base ? base : "/tmp";
}

/*
 * The folder is made and locked under a name the reaper leaves alone
 * (pupa-new.*), then renamed into place: no reaper ever sees a run folder
 * before its maker holds it. (Made under its final name, a reaper spinning
 * through the folder on a busy machine won the race between mkdtemp() and
 * flock() eight times in a row.) RENAME_NOREPLACE keeps another start's
 * folder of the same name, however unlikely, from being replaced. The
 * maker's PID in the name lets a reaper remove the folder of a start
 * killed in that window at once.
 */
int rundir_create(char *path, size_t len, struct pupa_err *err)
{
	const char *base = rundir_base();
	char made[4200];
	int e = 0;

	for (int attempt = 0; attempt < 8; attempt++) {
		int fd;

		snprintf(made, sizeof(made), "%s/" RUNDIR_NEW_PREFIX "%ld.XXXXXX", base, (long)getpid());
		if (!mkdtemp(made))
			return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE,
				       "cannot create a run folder in %s: %s", base, strerror(errno));
		snprintf(path, len, "%s/" RUNDIR_PREFIX "%s", base,
			 made + strlen(made) - strlen("XXXXXX"));
		fd = open(made, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    renameat2(AT_FDCWD, made, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
			return fd;
		e = errno;
		if (fd >= 0)
			close(fd);
		rmdir(made);
	}
	path[0] = '\0';
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
 * Whether the start that made pupa-new.PID.XXXXXX is gone: its process
 * no longer exists, or the folder is so old that PID must have been
 * reused (a maker renames its folder within microseconds).
 */
static bool rundir__maker_gone(const char *pid_part, time_t made_at)
{
	char *end;
	long pid = strtol(pid_part, &end, 10);

	if (time(NULL) - made_at >= RUNDIR_NEW_STALE_SECONDS)
		return true;
	return end != pid_part && *end == '.' && pid > 0 && kill((pid_t)pid, 0) < 0 &&
	       errno == ESRCH;
}

/*
 * base/name, a run folder of ours that nobody holds (or one whose maker
 * died before renaming it into place), opened and locked; -1 for
 * anything else. The lock is kept until the folder is gone, so nobody
 * takes it over while it is being removed.
 */
static int rundir__hold_stale(int dfd, const char *name)
{
	bool made = strncmp(name, RUNDIR_NEW_PREFIX, strlen(RUNDIR_NEW_PREFIX)) == 0;
	struct stat st;
	int fd;

	if ((!made && strncmp(name, RUNDIR_PREFIX, strlen(RUNDIR_PREFIX)) != 0) ||
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() ||
	    (made && !rundir__maker_gone(name + strlen(RUNDIR_NEW_PREFIX), st.st_ctime)))
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
