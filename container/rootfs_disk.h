/*
 * The disk a container's root lives on, by --rootfs-mode:
 *   volatile  the cached image, its writes kept in pupa-vmm's memory and
 *             dropped at exit (BlockMode VolatileWrite); the default
 *   ro        the cached image, read-only
 *   rw        a private copy in the run folder (sparse, reflinked where
 *             the filesystem can), removed with it
 */
#ifndef PUPA_ROOTFS_DISK_H
#define PUPA_ROOTFS_DISK_H

#include <stdint.h>

#include "error.h"

enum rootfs_mode { ROOTFS_VOLATILE, ROOTFS_RO, ROOTFS_RW };

struct rootfs_disk {
	char path[4200];
	const char *block_mode;		/* the seed's BlockMode name for pupa-vmm */
	uint32_t mount_mode;		/* enum agent_mount_mode for pupa-init */
	int copy_fd;
};

int rootfs_mode_parse(const char *s, enum rootfs_mode *mode);

int rootfs_disk_prepare(struct rootfs_disk *d, enum rootfs_mode mode, const char *image,
			const char *rundir, struct pupa_err *err);
void rootfs_disk_release(struct rootfs_disk *d);

#endif
