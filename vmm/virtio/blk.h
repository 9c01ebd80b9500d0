/*
 * virtio-blk with the seed's three BlockModes: ReadWrite (writes reach the
 * file, FLUSH is fdatasync), ReadOnly (VIRTIO_BLK_F_RO, and the VMM itself
 * refuses writes) and VolatileWrite (writes land in host memory, copied on
 * write per sector, and vanish with the VM; the file is never written).
 * A disk may start as an empty slot of capacity 0 and get its medium while
 * the guest runs; a config-change interrupt announces the new size.
 */
#ifndef PUPA_VMM_VIRTIO_BLK_H
#define PUPA_VMM_VIRTIO_BLK_H

#include <stdint.h>

#include "enums.h"
#include "error.h"
#include "virtio.h"

#define BLK_SECTOR_SIZE		512
#define BLK_SERIAL_MAX		20	/* VIRTIO_BLK_ID_BYTES */
#define BLK_MAX_REQUEST		(64u << 20)

struct disk_overlay;

struct virtio_blk {
	struct virtio_dev vdev;
	char serial[BLK_SERIAL_MAX + 1];
	char *path;			/* NULL while the slot is empty */
	int fd;
	enum block_mode mode;
	uint64_t sectors;
	struct disk_overlay *overlay;	/* VolatileWrite only */
	int overlay_fd;			/* its file, made ahead for an empty slot */
	uint8_t *bounce;
	size_t bounce_size;
	struct virtq_chain chain;
};

/* An empty slot named serial. */
int virtio_blk__init(struct virtio_blk *blk, const char *serial, const struct guest_mem *mem);
void virtio_blk__destroy(struct virtio_blk *blk);

/*
 * Give the slot its medium (before boot or while running): opens path with
 * the mode's access, sets the capacity and, when the driver is live, raises
 * a config-change interrupt. Takes vdev.lock itself. BadConfig naming the
 * path on failure; AlreadyRunning if the slot already holds a disk.
 */
int virtio_blk__attach(struct virtio_blk *blk, const char *path, enum block_mode mode,
		       struct pupa_err *err);

/* Make the VolatileWrite overlay's file now, while the VMM may still
 * create files, for a medium attached later. 0 or -errno. */
int virtio_blk__reserve_overlay(struct virtio_blk *blk);

/* The same with a medium already open (passed over the control socket);
 * takes fd, closing it on failure. path only names it in messages. */
int virtio_blk__attach_fd(struct virtio_blk *blk, int fd, const char *path, enum block_mode mode,
			  struct pupa_err *err);

/* Parse a mode: rw|ro|volatile or the seed's names. 0 or -EINVAL. */
int blk_mode__parse(const char *s, enum block_mode *mode);

extern const struct virtio_dev_ops virtio_blk_ops;

#endif
