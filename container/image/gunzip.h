/* SPDX-License-Identifier: MIT */
/*
 * A streaming gzip decoder on ISA-L's inflate (igzip), for the pull's
 * decompression thread: zlib, which libarchive's gzip filter uses, is the
 * limit of a .tar.gz pull, and igzip inflates the same streams 2-3x faster
 * on these machines. It decodes every member of a concatenation (pigz and
 * `cat a.gz b.gz` write those), lets ISA-L parse each header (FEXTRA,
 * FNAME, FCOMMENT, FHCRC) and check each trailer (CRC-32 and ISIZE), and
 * treats bytes after a member that do not start another one as trailing
 * data, ignored as gzip and libarchive ignore it. Input comes in whatever
 * pieces the source hands over (a dripping server sends one byte at a
 * time); output goes wherever the caller has room.
 */
#ifndef PUPA_GUNZIP_H
#define PUPA_GUNZIP_H

#include <stddef.h>
#include <stdint.h>

struct gunzip;

enum gunzip_status {
	GUNZIP_MORE = 0,	/* give more input (or more room) and call again */
	GUNZIP_END = 1,		/* the last member ended; the rest is ignored */
};

/* 0, or -ENOMEM. */
int gunzip_new(struct gunzip **out);
void gunzip_free(struct gunzip *g);

/*
 * Decode from *in (advanced, *in_len lowered, by what was taken) into
 * out[0..out_cap), setting *produced. at_eof says the source has ended:
 * with it, a member cut short is an error. Returns a gunzip_status, or
 * -EBADMSG with gunzip_error() saying what is wrong and where.
 */
int gunzip_step(struct gunzip *g, const uint8_t **in, size_t *in_len, int at_eof,
		uint8_t *out, size_t out_cap, size_t *produced);

/* Why the last step failed: names the member and its compressed offset. */
const char *gunzip_error(const struct gunzip *g);

/* Compressed bytes taken so far. */
uint64_t gunzip_consumed(const struct gunzip *g);

/* "ISA-L 2.30.0": the decoder, for pupa --version. */
const char *gunzip_backend(void);

#endif
