/*
 * A tar stream (compression and format found from its content) unpacked
 * into an ext4 image, with the checks that make any archive safe to take:
 * no entry leaves the image root, and sizes and counts are bounded.
 */
#ifndef PUPA_UNPACK_H
#define PUPA_UNPACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct ext4_image;

struct unpack_limits {
	uint64_t entries;	/* entries in the archive */
	uint64_t path;		/* bytes in one entry's path */
	uint64_t size;		/* bytes of file data, all entries */
	uint64_t ratio;		/* uncompressed / compressed bytes ... */
	uint64_t ratio_after;	/* ... checked once this much came out */
	uint64_t names;		/* bytes of all paths the image holds together */
};

void unpack_limits_default(struct unpack_limits *lim);

/* "entries=100", "size=2G", ...: one limit set from text. */
int unpack_limit_parse(struct unpack_limits *lim, const char *spec, struct pupa_err *err);

/*
 * The archive's bytes, as libarchive wants them: point *buf at the next
 * block and return its length, 0 at the end, or -1 after recording why in
 * the reader's own error (the caller's pupa_err).
 */
typedef ssize_t (*unpack_read_fn)(void *opaque, const void **buf);

struct unpack_source {
	unpack_read_fn read;
	/* Make a read that waits return -1 soon (the unpack is ending). */
	void (*cancel)(void *opaque);
	void *opaque;
};

struct unpack_stats {
	uint64_t entries;
	uint64_t data;		/* bytes of file data */
	uint64_t bytes;		/* uncompressed archive bytes */
};

/* Decompression runs on a thread of its own; parsing and writing on the
 * caller's. */
int unpack_archive(struct ext4_image *img, const struct unpack_source *src,
		   const struct unpack_limits *lim, struct unpack_stats *stats,
		   struct pupa_err *err);

/*
 * One layer of a layered (OCI) image, applied over the layers before it:
 * ".wh.NAME" entries remove NAME as those layers left it, ".wh..wh..opq"
 * empties its directory of their entries, a file may replace a directory
 * of theirs, and an empty archive is allowed (ext4_image_next_layer).
 */
int unpack_layer(struct ext4_image *img, const struct unpack_source *src,
		 const struct unpack_limits *lim, struct unpack_stats *stats,
		 struct pupa_err *err);

/*
 * An archive path made relative to the image root: "./a//b/" is "a/b",
 * "." is "" (the root). Absolute paths and ".." components are refused
 * (returns -1 and says why), never rewritten.
 */
int unpack_path_normalize(const char *in, char *out, size_t outlen, const char **why);

#endif
