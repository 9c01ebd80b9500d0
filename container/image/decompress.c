/*
 * A small queue of full buffers between the decompressing thread and the
 * reader; the reader holds one buffer at a time and gives it back on its
 * next call. The thread looks at the stream's first two bytes: gzip goes
 * through ISA-L (gunzip.c) where pupa is built with it, everything else
 * (and gzip without it) through libarchive, whose "raw" format hands over
 * the whole decompressed stream as one entry.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "decompress.h"
#ifdef HAVE_ISAL
#include "gunzip.h"
#endif

#define DECOMPRESS_NBUF 8
#define DECOMPRESS_BUF (1u << 20)

struct decompress {
	struct archive *a;
	unpack_read_fn read;
	void *opaque;
	void (*cancel_source)(void *opaque);
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned char *buf[DECOMPRESS_NBUF];
	size_t len[DECOMPRESS_NBUF];
	unsigned int head, count;	/* filled buffers: head .. head+count-1 */
	int holding;			/* the reader has buf[head] */
	int eof, failed, cancel;
	uint64_t consumed;
	/* The stream's first bytes, read to choose the decoder, and the rest
	 * of the source block they came from: handed over before the source
	 * is read again. */
	unsigned char peek[2];
	size_t npeek;
	const void *rest;
	size_t nrest;
	int src_eof;
	char filter[32];
	char why[512];
};

/* The next block of the source: what was peeked first. */
static ssize_t decompress__next(struct decompress *d, const void **buf)
{
	ssize_t n;

	if (d->npeek) {
		*buf = d->peek;
		n = (ssize_t)d->npeek;
		d->npeek = 0;
		return n;
	}
	if (d->nrest) {
		*buf = d->rest;
		n = (ssize_t)d->nrest;
		d->nrest = 0;
		return n;
	}
	if (d->src_eof)
		return 0;
	n = d->read(d->opaque, buf);
	if (n > 0) {
		pthread_mutex_lock(&d->lock);
		d->consumed += (uint64_t)n;
		pthread_mutex_unlock(&d->lock);
	} else if (n == 0) {
		d->src_eof = 1;
	}
	return n;
}

/* Read until two bytes (or the end) are in peek[]; the block they end in
 * is kept for decompress__next. */
static int decompress__peek(struct decompress *d)
{
	while (d->npeek < sizeof(d->peek)) {
		const void *buf;
		ssize_t n = d->read(d->opaque, &buf);
		size_t take;

		if (n < 0)
			return -1;
		if (n == 0) {
			d->src_eof = 1;
			return 0;
		}
		pthread_mutex_lock(&d->lock);
		d->consumed += (uint64_t)n;
		pthread_mutex_unlock(&d->lock);
		take = sizeof(d->peek) - d->npeek;
		if ((size_t)n < take)
			take = (size_t)n;
		memcpy(d->peek + d->npeek, buf, take);
		d->npeek += take;
		d->rest = (const unsigned char *)buf + take;
		d->nrest = (size_t)n - take;
	}
	return 0;
}

static la_ssize_t decompress__source(struct archive *a, void *opaque, const void **buf)
{
	struct decompress *d = opaque;
	ssize_t n = decompress__next(d, buf);

	if (n < 0) {
		archive_set_error(a, EIO, "the source failed");
		return -1;
	}
	return n;
}

static void decompress__fail(struct decompress *d, const char *msg)
{
	pthread_mutex_lock(&d->lock);
	snprintf(d->why, sizeof(d->why), "%s", msg ? msg : "unknown error");
	d->failed = 1;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

/* Wait for a free buffer; -1 when the reader has gone. */
static int decompress__free_slot(struct decompress *d, unsigned int *slot)
{
	pthread_mutex_lock(&d->lock);
	while (!d->cancel && d->count == DECOMPRESS_NBUF)
		pthread_cond_wait(&d->cond, &d->lock);
	if (d->cancel) {
		pthread_mutex_unlock(&d->lock);
		return -1;
	}
	*slot = (d->head + d->count) % DECOMPRESS_NBUF;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* Hand a filled buffer over; last marks the end of the stream. */
static void decompress__publish(struct decompress *d, unsigned int slot, size_t n, int last)
{
	pthread_mutex_lock(&d->lock);
	if (n > 0) {
		d->len[slot] = n;
		d->count++;
	}
	if (last)
		d->eof = 1;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void decompress__libarchive(struct decompress *d)
{
	struct archive_entry *e;
	int rc;

	if (archive_read_open(d->a, d, NULL, decompress__source, NULL) != ARCHIVE_OK) {
		decompress__fail(d, archive_error_string(d->a));
		return;
	}
	rc = archive_read_next_header(d->a, &e);
	if (rc == ARCHIVE_EOF) {
		decompress__publish(d, 0, 0, 1);
		return;
	}
	if (rc < ARCHIVE_WARN) {
		decompress__fail(d, archive_error_string(d->a));
		return;
	}
	snprintf(d->filter, sizeof(d->filter), "%s", archive_filter_name(d->a, 0));
	for (;;) {
		unsigned int slot;
		size_t n = 0;

		if (decompress__free_slot(d, &slot) < 0)
			return;
		/* Fill the whole buffer: fewer, larger hand-overs. */
		while (n < DECOMPRESS_BUF) {
			la_ssize_t got = archive_read_data(d->a, d->buf[slot] + n, DECOMPRESS_BUF - n);

			if (got < 0) {
				decompress__fail(d, archive_error_string(d->a));
				return;
			}
			if (got == 0)
				break;
			n += (size_t)got;
		}
		decompress__publish(d, slot, n, n < DECOMPRESS_BUF);
		if (n < DECOMPRESS_BUF)
			return;
	}
}

#ifdef HAVE_ISAL
/* gzip through ISA-L: the same buffers, filled by gunzip_step. After the
 * last member the source is still read to its end (the unpacker drains
 * the stream so that every byte is hashed). */
static void decompress__isal(struct decompress *d)
{
	struct gunzip *g;
	const void *blk = NULL;
	size_t len = 0;
	int status = GUNZIP_MORE;

	if (gunzip_new(&g) < 0) {
		decompress__fail(d, "out of memory");
		return;
	}
	snprintf(d->filter, sizeof(d->filter), "gzip");
	while (status != GUNZIP_END) {
		unsigned int slot;
		size_t n = 0;

		if (decompress__free_slot(d, &slot) < 0)
			goto out;
		while (n < DECOMPRESS_BUF && status != GUNZIP_END) {
			const uint8_t *in = blk;
			size_t made;
			int ret;

			if (!len && !d->src_eof) {
				ssize_t got = decompress__next(d, &blk);

				if (got < 0) {
					decompress__fail(d, "the source failed");
					goto out;
				}
				len = (size_t)got;
				in = blk;
			}
			ret = gunzip_step(g, &in, &len, d->src_eof, d->buf[slot] + n,
					  DECOMPRESS_BUF - n, &made);
			if (ret < 0) {
				decompress__fail(d, gunzip_error(g));
				goto out;
			}
			blk = in;
			n += made;
			status = ret;
		}
		decompress__publish(d, slot, n, status == GUNZIP_END);
	}
out:
	gunzip_free(g);
}

const char *decompress_gzip_backend(void)
{
	return gunzip_backend();
}
#else
const char *decompress_gzip_backend(void)
{
	return "zlib (libarchive)";
}
#endif

static void *decompress__thread(void *opaque)
{
	struct decompress *d = opaque;

	if (decompress__peek(d) < 0) {
		decompress__fail(d, "the source failed");
		return NULL;
	}
#ifdef HAVE_ISAL
	if (d->npeek == 2 && d->peek[0] == 0x1f && d->peek[1] == 0x8b) {
		decompress__isal(d);
		return NULL;
	}
#endif
	decompress__libarchive(d);
	return NULL;
}

/*
 * The compressions pupa supports, each decoded in process. Not
 * archive_read_support_filter_all(): it also offers lrzip, lzop and grzip,
 * which libarchive decodes by running an external program, and an archive
 * from the network must never choose a program to run.
 */
const char *decompress_filters_add(struct archive *a)
{
	static const struct {
		const char *name;
		int (*add)(struct archive *);
	} filters[] = {
		{ "gzip", archive_read_support_filter_gzip },
		{ "xz", archive_read_support_filter_xz },
		{ "zstd", archive_read_support_filter_zstd },
		{ "bzip2", archive_read_support_filter_bzip2 },
		{ "compress", archive_read_support_filter_compress },
	};

	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		if (filters[i].add(a) != ARCHIVE_OK)
			return filters[i].name;
	return NULL;
}

int decompress_start(struct decompress **out, const struct unpack_source *src,
		     struct pupa_err *err)
{
	struct decompress *d = calloc(1, sizeof(*d));
	const char *missing;

	*out = NULL;
	if (!d)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	d->read = src->read;
	d->cancel_source = src->cancel;
	d->opaque = src->opaque;
	snprintf(d->filter, sizeof(d->filter), "none");
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	for (int i = 0; i < DECOMPRESS_NBUF; i++) {
		d->buf[i] = malloc(DECOMPRESS_BUF);
		if (!d->buf[i])
			goto nomem;
	}
	d->a = archive_read_new();
	if (!d->a)
		goto nomem;
	missing = decompress_filters_add(d->a);
	if (missing) {
		decompress_stop(d);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "this libarchive cannot decompress %s without an external "
			       "program, which pupa never runs", missing);
	}
	archive_read_support_format_raw(d->a);
	archive_read_support_format_empty(d->a);
	if (pthread_create(&d->thread, NULL, decompress__thread, d))
		goto nomem;
	d->started = 1;
	*out = d;
	return 0;
nomem:
	decompress_stop(d);
	return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
}

ssize_t decompress_read(void *opaque, const void **buf)
{
	struct decompress *d = opaque;
	ssize_t n;

	pthread_mutex_lock(&d->lock);
	if (d->holding) {	/* give the last buffer back */
		d->head = (d->head + 1) % DECOMPRESS_NBUF;
		d->count--;
		d->holding = 0;
		pthread_cond_broadcast(&d->cond);
	}
	while (d->count == 0 && !d->eof && !d->failed)
		pthread_cond_wait(&d->cond, &d->lock);
	if (d->count) {
		*buf = d->buf[d->head];
		n = (ssize_t)d->len[d->head];
		d->holding = 1;
	} else {
		n = d->failed ? -1 : 0;
	}
	pthread_mutex_unlock(&d->lock);
	return n;
}

uint64_t decompress_consumed(struct decompress *d)
{
	uint64_t v;

	pthread_mutex_lock(&d->lock);
	v = d->consumed;
	pthread_mutex_unlock(&d->lock);
	return v;
}

const char *decompress_filter(struct decompress *d)
{
	return d->filter;
}

const char *decompress_error(struct decompress *d)
{
	return d->failed ? d->why : NULL;
}

void decompress_stop(struct decompress *d)
{
	if (!d)
		return;
	if (d->started) {
		int running;

		pthread_mutex_lock(&d->lock);
		d->cancel = 1;
		running = !d->eof && !d->failed;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		/* The thread may be waiting for source bytes: release it. */
		if (running && d->cancel_source)
			d->cancel_source(d->opaque);
		pthread_join(d->thread, NULL);
	}
	if (d->a)
		archive_read_free(d->a);
	for (int i = 0; i < DECOMPRESS_NBUF; i++)
		free(d->buf[i]);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}
