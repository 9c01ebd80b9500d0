/* SPDX-License-Identifier: MIT */
/*
 * The FUSE protocol server behind virtio-fs: it decodes one request (the
 * bytes of a virtqueue chain's readable part), acts on the host, and
 * writes the reply. It knows nothing of virtqueues, so the unit tests and
 * the fuzz target drive it with plain buffers.
 *
 * Its root is synthetic: one directory entry per volume, named by the
 * volume's index ("0", "1", ...). Everything under an entry is reached
 * from that volume's root descriptor, one name at a time, with openat2()
 * and RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV |
 * RESOLVE_NO_SYMLINKS and O_NOFOLLOW: a guest name is a single component
 * (no '/', not "." or ".."), a symlink is returned as a symlink and never
 * followed on the host, and a node is a descriptor, not a path, so a
 * rename on the host cannot redirect it outside the folder. A read-only
 * volume refuses every change with EROFS here, whatever the guest's
 * mount says.
 *
 * Ownership: in the default mode every file shows the owner the guest
 * set for the mount (pupa-init sets the container user's uid:gid through
 * the root's "trusted.pupa.owner" attribute), files are created as the
 * user pupa-vmm runs as, and chown succeeds without changing the host.
 * In host mode uids and gids are the host's, and chown is real.
 */
#ifndef PUPA_VMM_FS_FUSE_SERVER_H
#define PUPA_VMM_FS_FUSE_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "error.h"
#include "nodes.h"

#define FUSE_SERVER_MAX_VOLUMES	64
#define FUSE_SERVER_MAX_WRITE	(1u << 20)
/* The largest request: a WRITE's headers and data. */
#define FUSE_SERVER_MAX_IN	(FUSE_SERVER_MAX_WRITE + 4096)
#define FUSE_SERVER_OWNER_XATTR	"trusted.pupa.owner"

struct fuse_volume {
	int fd;			/* O_PATH of the folder, opened before confinement */
	int ro;
};

struct fuse_server {
	struct fuse_volume vol[FUSE_SERVER_MAX_VOLUMES];
	unsigned int nr_vol;
	int owner_host;		/* --volume-owner=host */
	uid_t owner_uid;	/* what files show in the default mode */
	gid_t owner_gid;
	mode_t host_umask;
	uint32_t minor;		/* the driver's protocol minor, after INIT */
	double attr_timeout;	/* seconds the guest may cache entries and attributes */
	struct fs_nodes nodes;
	struct fuse_io_counts {	/* READs and WRITEs served, for status; atomic */
		uint64_t reads, read_bytes, writes, write_bytes;
	} io_counts;
};

int fuse_server__init(struct fuse_server *srv, struct pupa_err *err);
void fuse_server__io_counts(struct fuse_server *srv, struct fuse_io_counts *out);
void fuse_server__destroy(struct fuse_server *srv);

/* Add a volume: path must be a folder; opened now. BadConfig naming it. */
int fuse_server__add_volume(struct fuse_server *srv, const char *path, int ro,
			    struct pupa_err *err);

/*
 * File data that stays in guest memory (virtio-fs hands over the guest's
 * buffers): a WRITE's payload, read from wr; a READ's data, written to rd,
 * which starts where the data follows the reply's header. One copy, not
 * two. Unused parts are empty (nr 0).
 */
struct fuse_io {
	const struct iovec *wr;
	int nr_wr;
	size_t wr_len;
	const struct iovec *rd;
	int nr_rd;
	size_t rd_cap;
	size_t rd_done;		/* set: data bytes READ put into rd */
};

/*
 * Serve one request of in_len bytes at in; the reply goes to out (room for
 * out_cap bytes). Returns the reply's length, 0 when the request takes no
 * reply (FORGET, BATCH_FORGET, INTERRUPT) or is too broken to answer (no
 * whole header). Never fails otherwise: a bad request gets an error reply.
 * With io (may be NULL), a WRITE's data is io->wr (in then holds only its
 * headers) and a READ's data goes to io->rd: out then holds the header,
 * whose length counts io->rd_done bytes more.
 */
size_t fuse_server__handle(struct fuse_server *srv, const uint8_t *in, size_t in_len,
			   uint8_t *out, size_t out_cap, struct fuse_io *io);

/* How many node descriptors to keep open, from the process's descriptor
 * limit: the rest is for open files and the VMM itself. */
void fuse_server__limit_fds(struct fuse_server *srv, unsigned long nofile);

/* The guest went away (device reset): forget every node and handle. */
void fuse_server__reset(struct fuse_server *srv);

#endif
