/* SPDX-License-Identifier: MIT */
/*
 * The VolatileWrite overlay: the guest's writes to a disk kept apart from
 * the disk and dropped when the VM stops. They go into an unlinked sparse
 * temporary file at the same offsets as on the disk, so a write of many
 * sectors is one pwrite and costs the host no memory; a bitmap (one bit a
 * sector, allocated per 512 MiB of disk as the guest first writes there)
 * says which sectors are private. The guest decides how much it writes, so
 * the overlay has a cap in sectors: a write past it fails (the device
 * answers IOERR) instead of filling the host's disk. The file is created
 * with O_TMPFILE where the filesystem allows it, so it never has a name and
 * nothing is left behind, even by a VMM killed with SIGKILL.
 */
#ifndef PUPA_VMM_DISK_OVERLAY_H
#define PUPA_VMM_DISK_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#define DISK_SECTOR_SIZE 512

struct disk_overlay;

/* $TMPDIR, else /var/tmp (as QEMU's snapshot=on): big, and a disk. */
const char *disk_overlay__default_dir(void);

/* The overlay's file: unnamed in dir (NULL: the default), or -errno. It
 * can be made before the VMM is confined and used at a later attach. */
int disk_overlay__tmpfile(const char *dir);

/* An overlay for a disk of `sectors`, holding at most max_sectors private
 * ones in fd (from disk_overlay__tmpfile; taken). 0 or -errno. */
int disk_overlay__create(struct disk_overlay **out, uint64_t sectors, uint64_t max_sectors,
			 int fd);
void disk_overlay__destroy(struct disk_overlay *ov);

/* Replace the sectors of buf (count of them from sector on) that the guest
 * wrote earlier with its own copies; leave the others. 0 or -errno. */
int disk_overlay__read(struct disk_overlay *ov, uint64_t sector, uint8_t *buf, uint64_t count);

/* Keep count sectors privately: all or none; -ENOSPC past the cap. */
int disk_overlay__write(struct disk_overlay *ov, uint64_t sector, const uint8_t *buf,
			uint64_t count);

/* Private sectors held. */
uint64_t disk_overlay__used(const struct disk_overlay *ov);

#endif
