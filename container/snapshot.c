/* SPDX-License-Identifier: MIT */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/digest.h"

#define SNAPSHOT_FORMAT	"pupa-snapshot 1"
#define SNAPSHOT_BUILD_HEX	16	/* the part of a name that a rebuild changes */

static int snapshot__err(struct pupa_err *err, int e, const char *what, const char *path)
{
	return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE, "%s %s: %s", what, path, strerror(e));
}

/* A file's identity: it changes when the file is rebuilt or replaced. */
static int snapshot__identity(struct digest *d, const char *path, struct pupa_err *err)
{
	struct stat st;
	char line[PATH_MAX + 128];

	if (stat(path, &st) < 0)
		return snapshot__err(err, errno, "cannot look at", path);
	snprintf(line, sizeof(line), "%s %llu %llu %lld %lld.%09ld\n", path,
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (long long)st.st_size,
		 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	digest_update(d, line, strlen(line));
	return 0;
}

int snapshot_init(struct snapshot *s, const struct cache *c, const struct snapshot_inputs *in,
		  struct pupa_err *err)
{
	struct digest *d = digest_new();
	char build[DIGEST_HEX_LEN + 1], settings[128];
	int ret;

	memset(s, 0, sizeof(*s));
	s->lock_fd = s->fd = -1;
	if (!d)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	digest_update(d, SNAPSHOT_FORMAT "\n", strlen(SNAPSHOT_FORMAT) + 1);
	ret = snapshot__identity(d, in->vmm, err);
	if (!ret)
		ret = snapshot__identity(d, in->kernel, err);
	if (!ret)
		ret = snapshot__identity(d, in->initrd, err);
	if (ret < 0) {
		digest_free(d);
		return ret;
	}
	digest_hex(d, build);
	snprintf(settings, sizeof(settings), "memory %u cpus %u net %d\n", in->memory_mib, in->cpus,
		 in->net);
	digest_update(d, settings, strlen(settings));
	digest_hex(d, s->key);
	digest_free(d);
	cache_path(c, s->dir, sizeof(s->dir), "snapshots");
	snprintf(s->path, sizeof(s->path), "%s/%.*s-%.*s.snap", s->dir, SNAPSHOT_BUILD_HEX, build,
		 SNAPSHOT_BUILD_HEX, s->key);
	return 0;
}

int snapshot_exists(const struct snapshot *s)
{
	struct stat st;

	return stat(s->path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* With the lock held, a temporary file of this key is one a killed
 * start left: nobody else can be writing it. */
static void snapshot__drop_stale(const struct snapshot *s)
{
	const char *mine = strrchr(s->path, '/') + 1;
	size_t n = strlen(mine);
	DIR *dir = opendir(s->dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir)))
		if (strncmp(e->d_name, mine, n) == 0 && e->d_name[n] == '.')
			unlinkat(dirfd(dir), e->d_name, 0);
	closedir(dir);
}

int snapshot_begin(struct snapshot *s, struct pupa_err *err)
{
	char lock[PATH_MAX + 80];
	int fd;

	if (mkdir(s->dir, 0700) < 0 && errno != EEXIST)
		return snapshot__err(err, errno, "cannot create", s->dir);
	snprintf(lock, sizeof(lock), "%.*s.lock", (int)(strlen(s->path) - 5), s->path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return snapshot__err(err, errno, "cannot open the lock", lock);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return 0;	/* another start is making it */
	}
	/* It may have been published while we looked. */
	if (snapshot_exists(s)) {
		close(fd);
		return 0;
	}
	s->lock_fd = fd;
	snapshot__drop_stale(s);
	snprintf(s->tmp, sizeof(s->tmp), "%s.XXXXXX", s->path);
	s->fd = mkostemp(s->tmp, O_CLOEXEC);
	if (s->fd < 0) {
		int e = errno;

		s->tmp[0] = '\0';
		snapshot_abandon(s);
		return snapshot__err(err, e, "cannot create a snapshot in", s->dir);
	}
	return 1;
}

/* Snapshots of another build of pupa-vmm, kernel or initramfs are of no
 * more use: the first start of a new build removes them. */
static void snapshot__drop_other_builds(const struct snapshot *s)
{
	const char *mine = strrchr(s->path, '/') + 1;
	DIR *dir = opendir(s->dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		size_t n = strlen(e->d_name);

		if (n > 5 && strcmp(e->d_name + n - 5, ".snap") == 0 &&
		    strncmp(e->d_name, mine, SNAPSHOT_BUILD_HEX) != 0)
			unlinkat(dirfd(dir), e->d_name, 0);
	}
	closedir(dir);
}

int snapshot_publish(struct snapshot *s, struct pupa_err *err)
{
	int ret = 0;

	if (fsync(s->fd) < 0 || rename(s->tmp, s->path) < 0)
		ret = snapshot__err(err, errno, "cannot publish the snapshot", s->path);
	else
		s->tmp[0] = '\0';
	if (!ret)
		snapshot__drop_other_builds(s);
	snapshot_abandon(s);
	return ret;
}

void snapshot_abandon(struct snapshot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->tmp[0])
		unlink(s->tmp);
	s->tmp[0] = '\0';
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}

void snapshot_discard(const struct snapshot *s)
{
	unlink(s->path);
}

int snapshot_prune(const struct cache *c, unsigned int *removed, struct pupa_err *err)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;

	*removed = 0;
	cache_path(c, dir, sizeof(dir), "snapshots");
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : snapshot__err(err, errno, "cannot read", dir);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0 && strstr(e->d_name, ".snap"))
			(*removed)++;
	}
	closedir(d);
	return 0;
}
