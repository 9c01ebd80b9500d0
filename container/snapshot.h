/*
 * Warm starts from a snapshot: the first `pupa start` for a key boots, has
 * pupa-init FREEZE after its HELLO and has pupa-vmm write the guest to a
 * file in the cache; later starts resume that file (pupa-vmm --restore)
 * instead of booting. The key is a digest of everything the guest is
 * made of before any container exists: pupa-vmm, kernel and initramfs
 * (by identity: device, inode, size, modification time), memory, vCPUs,
 * and the device set, which pupa keeps the same for every start.
 *
 *   <cache>/snapshots/KEY.snap        published by rename, never rewritten
 *   <cache>/snapshots/KEY.lock        held while one start makes it
 *   <cache>/snapshots/KEY.snap.XXXXXX being written
 *
 * pupa-vmm checks a file whole before it uses any of it; one it refuses is
 * removed here and the start boots instead (a corrupt or foreign snapshot
 * is rebuilt, never trusted). Restoring reads the file into the VM's own
 * memory, so replacing a file under a running VM is harmless.
 */
#ifndef PUPA_SNAPSHOT_H
#define PUPA_SNAPSHOT_H

#include <limits.h>

#include "error.h"
#include "image/cache.h"

#define SNAPSHOT_KEY_HEX	64

struct snapshot_inputs {
	const char *vmm, *kernel, *initrd;
	unsigned int memory_mib, cpus;
	int net;			/* the network device is there */
};

struct snapshot {
	char key[SNAPSHOT_KEY_HEX + 1];
	char dir[PATH_MAX];
	char path[PATH_MAX + 80];
	char tmp[PATH_MAX + 80];	/* being written, or "" */
	int lock_fd;			/* -1 unless this start makes it */
	int fd;				/* tmp's, -1 */
};

/* Work out the key (the files must exist: their identity is in it). */
int snapshot_init(struct snapshot *s, const struct cache *c, const struct snapshot_inputs *in,
		  struct pupa_err *err);

/* Is there one to restore? */
int snapshot_exists(const struct snapshot *s);

/*
 * Make it, if no other start is: 1 with the lock held and s->fd open on a
 * new temporary file; 0 when another start holds the lock (this one goes
 * on without); negative on error.
 */
int snapshot_begin(struct snapshot *s, struct pupa_err *err);

/* Rename the written file into place; the lock is let go either way. */
int snapshot_publish(struct snapshot *s, struct pupa_err *err);

/* Nothing of an unfinished one is left: temporary file, lock. */
void snapshot_abandon(struct snapshot *s);

/* pupa-vmm refused the published file: remove it (the next start makes a
 * new one). */
void snapshot_discard(const struct snapshot *s);

/* Every snapshot in the cache: removed by pupa prune. */
int snapshot_prune(const struct cache *c, unsigned int *removed, struct pupa_err *err);

#endif
