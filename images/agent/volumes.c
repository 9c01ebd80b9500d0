/* SPDX-License-Identifier: MIT */
/*
 * The container's volumes: the host's virtio-fs device (tag "pupa") is
 * mounted once under the agent's run folder, where its root holds one
 * folder per volume ("0", "1", ...); each is bind-mounted at its target
 * inside the new root. The host enforces :ro; the read-only bind mount
 * here only makes the guest say EROFS early.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "agent.h"

#define FS_MOUNT	AGENT_RUN_DIR "/fs"
#define FS_OWNER_XATTR	"trusted.pupa.owner"
#define FS_READ_AHEAD_KB "1024"	/* one request of the server's largest size */

/* "INDEX:ro|rw:/TARGET"; the target absolute, without "." or ".." parts. */
int volume_parse(const char *spec, struct volume *v)
{
	char *end;
	unsigned long idx;
	const char *t;

	idx = strtoul(spec, &end, 10);
	if (end == spec || *end != ':' || idx > 63)
		return -1;
	if (strncmp(end + 1, "ro:", 3) != 0 && strncmp(end + 1, "rw:", 3) != 0)
		return -1;
	v->index = (unsigned int)idx;
	v->ro = end[2] == 'o';
	t = end + 4;
	if (t[0] != '/' || strlen(t) >= sizeof(v->target) || strcmp(t, "/") == 0)
		return -1;
	for (const char *c = t; *c; ) {
		size_t n;

		while (*c == '/')
			c++;
		n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return -1;
		c += n;
	}
	snprintf(v->target, sizeof(v->target), "%s", t);
	return 0;
}

/*
 * FUSE starts a mount with 128 KiB of readahead, so a streaming read is a
 * request per 128 KiB, and under virtualisation every request costs an
 * exit and an interrupt: read ahead as much as one request can carry.
 */
static void widen_read_ahead(const char *mnt)
{
	struct stat st;
	char path[64];
	int written;
	FILE *f;

	if (stat(mnt, &st) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	f = fopen(path, "w");
	written = f && fputs(FS_READ_AHEAD_KB "\n", f) >= 0;
	if (!f || fclose(f) != 0 || !written)
		agent_log("volumes: cannot set %s: %s", path, strerror(errno));
}

/* mkdir -p under the new root; fails (EROFS) on a read-only one. */
static int make_target(const char *path)
{
	char buf[sizeof(((struct volume *)0)->target) + sizeof(NEWROOT)];
	size_t base = strlen(NEWROOT);

	snprintf(buf, sizeof(buf), NEWROOT "%s", path);
	for (char *p = buf + base + 1; ; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

int volumes_mount(const struct volume *vols, unsigned int n, uid_t uid, gid_t gid,
		  char *err, size_t len)
{
	struct statvfs sv;
	char owner[32], src[64], target[sizeof(vols->target) + sizeof(NEWROOT)];
	int root_ro;

	if (!n)
		return 0;
	mkdir(FS_MOUNT, 0755);
	if (mount("pupa", FS_MOUNT, "virtiofs", MS_NOSUID | MS_NODEV, NULL) < 0) {
		snprintf(err, len, "cannot mount the volumes' virtio-fs: %s", strerror(errno));
		return -1;
	}
	widen_read_ahead(FS_MOUNT);
	/* What every file of a volume shows as its owner: the container's user. */
	snprintf(owner, sizeof(owner), "%u:%u", (unsigned int)uid, (unsigned int)gid);
	if (setxattr(FS_MOUNT, FS_OWNER_XATTR, owner, strlen(owner), 0) < 0)
		agent_log("volumes: cannot set their owner: %s", strerror(errno));
	root_ro = statvfs(NEWROOT, &sv) == 0 && (sv.f_flag & ST_RDONLY);
	for (unsigned int i = 0; i < n; i++) {
		const struct volume *v = &vols[i];
		struct stat st;

		snprintf(src, sizeof(src), FS_MOUNT "/%u", v->index);
		snprintf(target, sizeof(target), NEWROOT "%s", v->target);
		if (stat(target, &st) < 0 && (root_ro || make_target(v->target) < 0)) {
			snprintf(err, len, "volume target %s: %s%s", v->target, strerror(errno),
				 root_ro ? " (the root file system is read-only: the folder "
				 "must exist in the image)" : "");
			return -1;
		}
		if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    (v->ro && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID |
				    MS_NODEV, NULL) < 0)) {
			snprintf(err, len, "volume at %s: %s", v->target, strerror(errno));
			return -1;
		}
	}
	return 0;
}
