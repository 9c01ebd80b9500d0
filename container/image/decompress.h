/*
 * Decompression on its own thread: gzip, xz, zstd, bzip2 (or nothing), found
 * from the content (gzip decoded by ISA-L where pupa is built with it, the
 * rest by libarchive), turned into the plain tar stream that the
 * unpacker parses on another core while it writes the image.
 */
#ifndef PUPA_DECOMPRESS_H
#define PUPA_DECOMPRESS_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "unpack.h"

struct decompress;

/* Starts the thread, reading the compressed stream from src. */
struct archive;

/* The compressions pupa decodes, all in process, added to a reader; the
 * name of one this libarchive could only decode with a program, or NULL. */
const char *decompress_filters_add(struct archive *a);

int decompress_start(struct decompress **out, const struct unpack_source *src,
		     struct pupa_err *err);

/* The decompressed stream, in unpack_read_fn's shape (opaque is the
 * struct decompress). The block stays valid until the next call. */
ssize_t decompress_read(void *opaque, const void **buf);

uint64_t decompress_consumed(struct decompress *d);	/* compressed bytes taken */
const char *decompress_filter(struct decompress *d);	/* "gzip", "none", ... */
/* Why the stream ended early, or NULL. */
const char *decompress_error(struct decompress *d);

/* What decodes gzip: "ISA-L 2.30.0", or "zlib (libarchive)" in a build
 * without libisal-dev (chosen by configure). */
const char *decompress_gzip_backend(void);

/* Stop the thread (if still running) and free everything. */
void decompress_stop(struct decompress *d);

#endif
