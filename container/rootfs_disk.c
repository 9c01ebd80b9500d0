#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_proto.h"
#include "rootfs_disk.h"

int rootfs_mode_parse(const char *s, enum rootfs_mode *mode)
{
	if (strcmp(s, "volatile") == 0)
		*mode = ROOTFS_VOLATILE;
	else if (strcmp(s, "ro") == 0)
		*mode = ROOTFS_RO;
	else if (strcmp(s, "rw") == 0)
		*mode = ROOTFS_RW;
	else
		return -1;
	return 0;
}

/* Copy the data, skip the holes: the copy is as sparse as the image. */
static int rootfs__copy_sparse(int in, int out, off_t size)
{
	off_t data = 0, hole;

	if (ftruncate(out, size) < 0)
		return -errno;
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	for (;;) {
		data = lseek(in, data, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		while (data < hole) {
			off_t from = data, to = data;
			ssize_t n = copy_file_range(in, &from, out, &to, (size_t)(hole - data), 0);

			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			data += n;
		}
	}
}

int rootfs_disk_prepare(struct rootfs_disk *d, enum rootfs_mode mode, const char *image,
			const char *rundir, struct pupa_err *err)
{
	struct stat st;
	int in, rc;

	d->copy_fd = -1;
	snprintf(d->path, sizeof(d->path), "%s", image);
	switch (mode) {
	case ROOTFS_VOLATILE:
		d->block_mode = "VolatileWrite";
		d->mount_mode = MOUNT_RW;
		return 0;
	case ROOTFS_RO:
		d->block_mode = "ReadOnly";
		d->mount_mode = MOUNT_RO;
		return 0;
	case ROOTFS_RW:
		break;
	}
	d->block_mode = "ReadWrite";
	d->mount_mode = MOUNT_RW;
	snprintf(d->path, sizeof(d->path), "%s/rootfs.ext4", rundir);
	in = open(image, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot open %s: %s", image,
			       strerror(errno));
	d->copy_fd = open(d->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (d->copy_fd < 0) {
		close(in);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot create %s: %s", d->path,
			       strerror(errno));
	}
	rc = rootfs__copy_sparse(in, d->copy_fd, st.st_size);
	close(in);
	if (rc < 0)
		return mgr_err(err, rc == -ENOSPC ? GUEST_MANAGER_ERR_NO_STORAGE :
			       GUEST_MANAGER_ERR_START_FAILURE,
			       "copying the image to %s for --rootfs-mode=rw: %s%s", d->path,
			       strerror(-rc), rc == -ENOSPC ?
			       ": persistent storage could not be allocated" : "");
	return 0;
}

void rootfs_disk_release(struct rootfs_disk *d)
{
	if (d->copy_fd >= 0) {
		close(d->copy_fd);
		unlink(d->path);
		d->copy_fd = -1;
	}
}
