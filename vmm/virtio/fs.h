/* SPDX-License-Identifier: MIT */
/*
 * virtio-fs (virtio 1.2, 5.11): a high-priority queue (FORGET) and one
 * request queue, a tag the guest mounts by, and the FUSE server of
 * vmm/fs/ behind them.
 *
 * Requests are served by a small pool of worker threads, not on the vCPU
 * thread that notifies, so a slow host read stalls neither the guest's
 * other vCPUs nor the event loop: a notification only signals an eventfd
 * the workers wait on (from KVM itself, with ioeventfd), and a worker
 * that finds more than it takes signals it again for the next.
 * A worker takes a chain under the device lock, serves it without the
 * lock, and gives it back under the lock; a reset in between (seen by its
 * generation) drops the answer instead of writing into a new ring.
 *
 * The device is the same in every VM, with or without volumes: what the
 * guest sees under the tag is the server's synthetic root.
 */
#ifndef PUPA_VMM_VIRTIO_FS_H
#define PUPA_VMM_VIRTIO_FS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../fs/fuse_server.h"
#include "error.h"
#include "virtio.h"

#define VIRTIO_ID_FS		26
#define FS_TAG_MAX		36
#define FS_WORKERS		2

struct sandbox;
struct virtio_fs;

struct fs_worker {
	struct virtio_fs *fs;
	pthread_t thread;
	int started;
	struct virtq_chain *chain;
	uint8_t *in, *out;		/* one request, one reply */
	struct iovec *wr, *rd;		/* file data in guest RAM: WRITE's, READ's */
};

struct virtio_fs {
	struct virtio_dev vdev;
	char tag[FS_TAG_MAX + 1];
	struct fuse_server srv;
	int kick_fd;			/* eventfd: a queue was notified, or stop */
	int stopping;			/* vdev.lock */
	uint32_t generation;		/* vdev.lock: bumped by every reset */
	struct sandbox *sandbox;	/* what each worker loads */
	struct fs_worker worker[FS_WORKERS];
	uint64_t requests;		/* vdev.lock */
};

int virtio_fs__init(struct virtio_fs *fs, const char *tag, const struct guest_mem *mem,
		    struct pupa_err *err);

/* Start the workers; each confines itself with sb's FS filter first. */
int virtio_fs__start(struct virtio_fs *fs, struct sandbox *sb, struct pupa_err *err);

/* Requests served, file data moved, and the file server's node table,
 * for status. */
struct fs_stats {
	uint64_t requests, nodes, open_fds, fd_budget, evictions, reopens;
	struct fuse_io_counts io;
};
void virtio_fs__stats(struct virtio_fs *fs, struct fs_stats *out);

/* Stop and join the workers, then free everything. */
void virtio_fs__destroy(struct virtio_fs *fs);

extern const struct virtio_dev_ops virtio_fs_ops;

#endif
