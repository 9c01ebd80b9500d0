/* SPDX-License-Identifier: MIT */
/*
 * The file server's tables: FUSE node ids and file handles, each mapped to
 * a host descriptor, never to a path string that a rename could redirect.
 *
 * A node holds an O_PATH descriptor of one host inode of one volume; the
 * same inode reached twice (a hard link, a second lookup) is one node,
 * counted by its lookups as FUSE's FORGET expects. Node 1 is the synthetic
 * root, which has no descriptor: its entries are the volumes.
 *
 * Several workers use the tables at once: a worker pins what it uses
 * (fs_nodes__get/put), and a node forgotten or a handle released while
 * pinned keeps its descriptor until the last pin goes, so a descriptor
 * number is never reused under a worker's feet.
 *
 * Descriptors are bounded: past fd_budget open node descriptors, the least
 * recently used unpinned node closes its own, keeping its parent and name
 * to open it again (one component beneath the parent, the inode checked:
 * a node renamed or removed behind pupa-vmm's back is then stale). A node
 * keeps its parent alive, so that chain always leads to a volume root,
 * whose descriptors are never closed.
 */
#ifndef PUPA_VMM_FS_NODES_H
#define PUPA_VMM_FS_NODES_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define FS_ROOT_ID		1	/* FUSE_ROOT_ID */
#define FS_NO_VOLUME		0xffff
#define FS_MAX_NODES		(1u << 18)	/* with a name each: ~80 MiB at most */
#define FS_MAX_HANDLES		(1u << 16)
#define FS_HASH_BUCKETS		(1u << 16)

struct fs_node {
	int fd;			/* O_PATH; -1 for the synthetic root */
	uint16_t vol;		/* volume index, FS_NO_VOLUME for the root */
	uint8_t used;
	mode_t type;		/* S_IFMT bits */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;
	unsigned int pins;
	uint32_t next;		/* hash chain; 0 ends it */
	uint32_t parent;	/* to open it again; 0 for a volume root */
	char *name;		/* its name in parent */
	uint32_t kids;		/* nodes whose parent this is */
	uint32_t lru_prev, lru_next;	/* open descriptors, most recent first */
};

struct fs_handle {
	int fd;			/* open for I/O, or -1 for the root's listing */
	uint16_t vol;
	uint8_t used, released, is_dir;
	unsigned int pins;
};

struct fs_nodes {
	pthread_mutex_t lock;
	struct fs_node *node;	/* [0] unused, [1] the root */
	uint32_t nr_node, cap_node, free_node;	/* free list through next */
	uint32_t *bucket;
	struct fs_handle *handle;
	uint32_t nr_handle, cap_handle, free_handle;
	uint32_t live_nodes, live_handles;
	uint32_t open_fds, fd_budget;	/* node descriptors open, and at most */
	uint32_t lru_head, lru_tail;
	uint64_t evictions, reopens;
};

/* name, one component, beneath dirfd: openat2() with RESOLVE_BENEATH,
 * NO_SYMLINKS, NO_XDEV, NO_MAGICLINKS and O_NOFOLLOW. fd or -errno. */
int fs_openat2_beneath(int dirfd, const char *name, int flags, mode_t mode);

int fs_nodes__init(struct fs_nodes *t);
void fs_nodes__destroy(struct fs_nodes *t);

/*
 * The node for this descriptor's inode (st, its fstat) in volume vol,
 * found as name in node parent (0 and NULL for a volume root), with one
 * more lookup and pinned; takes fd (closed when an existing node already
 * holds the inode). Its id, or a negative errno (-ENFILE when the table
 * is full).
 */
int64_t fs_nodes__lookup(struct fs_nodes *t, int fd, const struct stat *st, uint16_t vol,
			 uint64_t parent, const char *name);

/* The inode (dev, ino) of volume vol is now name in parent (a rename). */
void fs_nodes__moved(struct fs_nodes *t, dev_t dev, ino_t ino, uint16_t vol, uint64_t parent,
		     const char *name);

/* Pin node id, its descriptor open (opened again if it was closed):
 * -ESTALE if it does not exist or cannot be found again. A copy of what
 * the caller may use; name and kids are not for it. */
int fs_nodes__get(struct fs_nodes *t, uint64_t id, struct fs_node *out);
void fs_nodes__put(struct fs_nodes *t, uint64_t id);

/* FORGET: drop n lookups; the node goes with its last lookup and pin. */
void fs_nodes__forget(struct fs_nodes *t, uint64_t id, uint64_t n);

/* A handle for an open descriptor (taken); its number or a negative errno. */
int64_t fs_handles__add(struct fs_nodes *t, int fd, uint16_t vol, int is_dir);
int fs_handles__get(struct fs_nodes *t, uint64_t fh, struct fs_handle *out);
void fs_handles__put(struct fs_nodes *t, uint64_t fh);
/* RELEASE: the descriptor closes once no worker uses it. -EBADF if unknown. */
int fs_handles__release(struct fs_nodes *t, uint64_t fh);

/* Drop every node but the root and every handle (FUSE DESTROY, reset). */
void fs_nodes__clear(struct fs_nodes *t);

#endif
