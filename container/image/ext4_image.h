/*
 * An ext4 image populated through libext2fs, entry by entry, as an archive
 * streams past: no host directory, no privileges. Owners, modes, times,
 * device numbers and xattrs go into the inodes exactly as given.
 *
 * Paths are normalized by the caller (see unpack_path_normalize): relative,
 * no "." or ".." components, "" is the root. The image never follows a
 * symlink while resolving a path; a path through one is refused.
 */
#ifndef PUPA_EXT4_IMAGE_H
#define PUPA_EXT4_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct ext4_meta {
	uint32_t mode;		/* st_mode: type and permission bits */
	uint32_t uid, gid;
	int64_t atime, mtime, ctime;
	uint32_t atime_ns, mtime_ns, ctime_ns;
};

struct ext4_image;

/*
 * Format path (an existing, empty file) as ext4 of `bytes` bytes (and
 * `inodes` inodes; 0 for mke2fs's ratio) with mke2fs, then open it for
 * writing. fixed_size: the user chose the size; keep it. Otherwise bytes is
 * an upper bound and finish shrinks the image.
 */
int ext4_image_create(const char *path, uint64_t bytes, uint64_t inodes, int fixed_size,
		      struct ext4_image **out, struct pupa_err *err);

/* Bound the bytes of all the paths the image keeps in memory while it is
 * written (0: no bound); past it, a new entry fails naming itself. */
void ext4_image_limit_names(struct ext4_image *img, uint64_t bytes);

int ext4_image_mkdir(struct ext4_image *img, const char *path,
		     const struct ext4_meta *meta, struct pupa_err *err);
int ext4_image_symlink(struct ext4_image *img, const char *path, const char *target,
		       const struct ext4_meta *meta, struct pupa_err *err);
int ext4_image_hardlink(struct ext4_image *img, const char *path, const char *target,
			struct pupa_err *err);
/* Character and block devices, FIFOs and sockets. */
int ext4_image_mknod(struct ext4_image *img, const char *path,
		     const struct ext4_meta *meta, dev_t rdev, struct pupa_err *err);

/*
 * A regular file: begin, write its data at any offsets (holes stay sparse),
 * end with its size. `size` at begin is a hint for contiguous allocation;
 * `sparse` says the data will not cover it all.
 */
int ext4_image_file_begin(struct ext4_image *img, const char *path,
			  const struct ext4_meta *meta, uint64_t size, int sparse,
			  struct pupa_err *err);
int ext4_image_file_write(struct ext4_image *img, uint64_t offset, const void *buf,
			  size_t len, struct pupa_err *err);
int ext4_image_file_end(struct ext4_image *img, uint64_t size, struct pupa_err *err);

/* An extended attribute on the entry added last (after its data). */
int ext4_image_xattr(struct ext4_image *img, const char *name, const void *value,
		     size_t len, struct pupa_err *err);

/*
 * Write everything back and close (img is freed either way). Unless the
 * size was fixed, shrink the image to its content plus 1 GiB to write in.
 */
int ext4_image_finish(struct ext4_image *img, struct pupa_err *err);

/* Drop the image without writing anything more; the caller removes the file. */
void ext4_image_abort(struct ext4_image *img);

/*
 * Image layers (OCI): entries from here on belong to the next layer. A
 * whiteout removes what earlier layers wrote at a path (recursively); an
 * opaque marker removes what they wrote inside a directory. Neither
 * touches what the current layer wrote, before or after the marker, and
 * a path that is not there is no error. A later layer may also put a
 * file where an earlier one had a directory (in one archive: refused).
 */
void ext4_image_next_layer(struct ext4_image *img);
int ext4_image_whiteout(struct ext4_image *img, const char *path, struct pupa_err *err);
int ext4_image_opaque(struct ext4_image *img, const char *dir, struct pupa_err *err);

/* Bytes of file data written so far. */
uint64_t ext4_image_data_bytes(const struct ext4_image *img);

#endif
