/*
 * Private to the ext4 writer: ext4_image.c adds entries, ext4_remove.c
 * takes them away again (a layer's whiteouts, and the entries a later
 * layer replaces). Nothing else includes this.
 */
#ifndef PUPA_EXT4_IMAGE_IMPL_H
#define PUPA_EXT4_IMAGE_IMPL_H

#include <stdint.h>
#include <time.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

#include "error.h"
#include "pathmap.h"

struct ext4_image {
	ext2_filsys fs;
	char *path;
	struct pathmap map;	/* every entry, with the layer that wrote it */
	time_t now;
	uint64_t data_bytes;
	uint64_t flushed_at;	/* data_bytes when writeback was last started */
	int sync_fd;		/* the image, to start its writeback early */
	uint32_t last_ino;	/* the entry xattrs go to */
	uint32_t layer;		/* 0 for a single archive; 1, 2, ... for layers */
	int sized_by_user;
	/* the regular file being written */
	ext2_file_t file;
	const char *file_path;
};

/* A library error as ours, naming the entry and what was being done. */
int ext4_image__fail(struct ext4_image *img, errcode_t rc, const char *what,
		     const char *path, struct pupa_err *err);
int ext4_image__write_inode(struct ext4_image *img, ext2_ino_t ino,
			    struct ext2_inode_large *in, const char *path,
			    struct pupa_err *err);

/* One link of a non-directory inode goes; the inode with its last one. */
int ext4_image__release(struct ext4_image *img, ext2_ino_t ino, const char *path,
			struct pupa_err *err);

/*
 * Remove what earlier layers wrote at path and below it. Entries of the
 * current layer stay, with the directories that lead to them; keep_top
 * keeps path itself (an opaque directory empties, it does not go).
 */
int ext4_image__prune(struct ext4_image *img, const char *path, int keep_top,
		      struct pupa_err *err);

#endif
