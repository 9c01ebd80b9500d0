/*
 * A layered (OCI) image into one ext4 image: the layers are applied in
 * order through decompress -> tar -> libext2fs, each blob's SHA-256 and
 * size checked as it streams past, and the result is published in the
 * cache under the platform manifest's digest, with the config beside it
 * in blobs/. A layer that fails its check fails the pull, naming the
 * blob, and nothing is published.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ext4_image.h"
#include "oci_layout.h"
#include "pull.h"
#include "pull_oci.h"
#include "registry.h"
#include "unpack.h"

#define LAYER_CHUNK (1u << 20)

/* One layer blob as the unpacker reads it, hashed and counted. */
struct layer_reader {
	const struct oci_resolved *img;
	const struct oci_descriptor *d;
	int fd;
	struct digest *digest;
	uint64_t read;
	uint64_t *applied;		/* all layers' bytes so far, for progress */
	unsigned char *buf;
	struct pupa_err *err;
	volatile sig_atomic_t *interrupted;
};

static ssize_t layer__read(void *opaque, const void **out)
{
	struct layer_reader *lr = opaque;
	char got[DIGEST_HEX_LEN + 1];
	ssize_t n;

	if (lr->interrupted && *lr->interrupted) {
		mgr_err(lr->err, GUEST_MANAGER_ERR_START_FAILURE, "interrupted");
		return -1;
	}
	do
		n = read(lr->fd, lr->buf, LAYER_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		mgr_err(lr->err, GUEST_MANAGER_ERR_START_FAILURE, "%s: reading layer sha256:%s: %s",
			lr->img->source, lr->d->digest, strerror(errno));
		return -1;
	}
	if (n > 0) {
		lr->read += (uint64_t)n;
		*lr->applied += (uint64_t)n;
		if (lr->read > lr->d->size) {
			mgr_err(lr->err, GUEST_MANAGER_ERR_BAD_CONFIG,
				"%s: layer sha256:%s is larger than its descriptor's %llu bytes",
				lr->img->source, lr->d->digest, (unsigned long long)lr->d->size);
			return -1;
		}
		digest_update(lr->digest, lr->buf, (size_t)n);
		*out = lr->buf;
		return n;
	}
	/* The end: only a blob that is exactly what the manifest says counts. */
	digest_hex(lr->digest, got);
	if (lr->read != lr->d->size || strcmp(got, lr->d->digest) != 0) {
		mgr_err(lr->err, GUEST_MANAGER_ERR_BAD_CONFIG,
			"%s: layer sha256:%s does not match its descriptor (%llu bytes with "
			"SHA-256 %s; %llu bytes expected); nothing was cached", lr->img->source,
			lr->d->digest, (unsigned long long)lr->read, got,
			(unsigned long long)lr->d->size);
		return -1;
	}
	return 0;
}

/*
 * After a failed unpack: is the blob what its descriptor says? A corrupt
 * blob usually fails in the decompressor first, and the digest is the
 * better reason to give.
 */
static int layer__intact(struct layer_reader *lr)
{
	char got[DIGEST_HEX_LEN + 1];
	ssize_t n;

	while ((n = read(lr->fd, lr->buf, LAYER_CHUNK)) > 0) {
		digest_update(lr->digest, lr->buf, (size_t)n);
		lr->read += (uint64_t)n;
	}
	digest_hex(lr->digest, got);
	return n == 0 && lr->read == lr->d->size && strcmp(got, lr->d->digest) == 0;
}

static void pull_oci__report(const struct pull_options *o, enum container_status stage,
			     uint64_t bytes, uint64_t total, int done, const char *note,
			     unsigned int layer, unsigned int layers)
{
	struct pull_progress p = { .stage = stage, .bytes = bytes, .total = total, .done = done,
				   .note = note, .eta_s = -1, .layer = layer, .layers = layers };

	if (o->progress)
		o->progress(o->opaque, &p);
}

static int pull_oci__layer(struct ext4_image *img, const struct oci_resolved *r, size_t i,
			   const struct pull_options *o, uint64_t *applied, uint64_t *entries,
			   struct pupa_err *err)
{
	struct layer_reader lr = { .img = r, .d = &r->manifest.layers[i], .applied = applied,
				   .err = err, .interrupted = o->interrupted };
	struct unpack_source src = { .read = layer__read, .opaque = &lr };
	struct unpack_stats stats;
	int ret;

	lr.fd = oci_blob_open(r, lr.d->digest, err);
	if (lr.fd < 0)
		return lr.fd;
	lr.digest = digest_new();
	lr.buf = malloc(LAYER_CHUNK);
	if (!lr.digest || !lr.buf)
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	else
		ret = unpack_layer(img, &src, &o->limits, &stats, err);
	if (ret < 0 && lr.digest && lr.buf && !strstr(err->msg, lr.d->digest) &&
	    !(o->interrupted && *o->interrupted) && !layer__intact(&lr)) {
		memset(err, 0, sizeof(*err));	/* the first error wins; this one is better */
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			      "%s: layer %zu of %zu, sha256:%s, does not match its descriptor "
			      "(corrupt or replaced); nothing was cached", r->source, i + 1,
			      r->manifest.n, lr.d->digest);
	} else if (ret < 0 && !strstr(err->msg, lr.d->digest)) {
		/* Say which layer the entry was in. */
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		snprintf(err->msg, sizeof(err->msg), "layer %zu of %zu (sha256:%.12s): %.700s",
			 i + 1, r->manifest.n, lr.d->digest, msg);
	}
	*entries += ret == 0 ? stats.entries : 0;
	close(lr.fd);
	digest_free(lr.digest);
	free(lr.buf);
	return ret;
}

/*
 * Layers still on their way (a registry pull): the build waits for each in
 * turn, and shows Extracting only once every download is done (the walk
 * goes Downloading, then Extracting, as for a tarball extracted behind its
 * download).
 */
struct layer_wait {
	int (*ready)(void *opaque, size_t i, struct pupa_err *err);
	int (*all_here)(void *opaque);
	void *opaque;
};

/* Build in tmp/, then publish; the caller holds the image's lock. */
static int pull_oci__build(const struct cache *c, const struct oci_resolved *r,
			   const struct pull_options *o, const struct layer_wait *w,
			   struct pull_result *res, struct pupa_err *err)
{
	char tmp[4200] = "";
	struct ext4_image *img = NULL;
	uint64_t total = 0, applied = 0, entries = 0, bound, inodes;
	int ret, tmp_fd;

	for (size_t i = 0; i < r->manifest.n; i++)
		total += r->manifest.layers[i].size;
	/* A layout's blobs are here already. */
	if (!r->downloaded)
		pull_oci__report(o, CONTAINER_STATUS_DOWNLOADING, total, total, 1, "local layout",
				 0, (unsigned int)r->manifest.n);
	res->failed_stage = CONTAINER_STATUS_EXTRACTING;
	tmp_fd = cache_tmp_image(c, tmp, sizeof(tmp), err);
	if (tmp_fd < 0)
		return tmp_fd;
	bound = pull_image_bound(o, total, &inodes);
	ret = ext4_image_create(tmp, o->image_size ? o->image_size : bound, inodes,
				o->image_size != 0, &img, err);
	for (size_t i = 0; ret == 0 && i < r->manifest.n; i++) {
		if (w)
			ret = w->ready(w->opaque, i, err);
		if (ret == 0 && (!w || w->all_here(w->opaque)))
			pull_oci__report(o, CONTAINER_STATUS_EXTRACTING, applied, total, 0, NULL,
					 (unsigned int)i + 1, (unsigned int)r->manifest.n);
		if (ret == 0)
			ret = pull_oci__layer(img, r, i, o, &applied, &entries, err);
	}
	if (ret == 0 && w)
		ret = w->ready(w->opaque, r->manifest.n, err);	/* the Downloading end */
	if (ret == 0) {
		ret = ext4_image_finish(img, err);
		img = NULL;
	}
	if (ret == 0)
		ret = cache_blob_put(c, r->config_digest, r->config, r->config_len, err);
	if (ret == 0) {
		struct cache_meta m = { .compressed = total, .entries = entries,
					.created = time(NULL), .layers = (unsigned int)r->manifest.n };

		snprintf(m.digest, sizeof(m.digest), "%s", r->manifest_digest);
		snprintf(m.source, sizeof(m.source), "%s", r->source);
		snprintf(m.config_digest, sizeof(m.config_digest), "%s", r->config_digest);
		snprintf(m.platform, sizeof(m.platform), "%s", r->platform);
		ret = cache_publish(c, tmp, &m, err);
		if (ret == 0)
			tmp[0] = '\0';
	}
	if (img)
		ext4_image_abort(img);
	if (tmp[0])
		unlink(tmp);
	close(tmp_fd);
	if (ret == 0) {
		res->compressed = total;
		res->entries = entries;
		pull_oci__report(o, CONTAINER_STATUS_EXTRACTING, total, total, 1, NULL,
				 (unsigned int)r->manifest.n, (unsigned int)r->manifest.n);
	}
	res->interrupted = o->interrupted && *o->interrupted;
	return ret;
}

/*
 * What every layered pull does once it knows the manifest: the pin (the
 * manifest's digest or its index's), the image's lock, and the cached
 * image, or a build the caller's way.
 */
typedef int (*pull_build_fn)(void *ctx, const struct cache *c, struct oci_resolved *r,
			     const struct pull_options *o, struct pull_result *res,
			     struct pupa_err *err);

static int pull_oci__finish(const struct cache *c, struct oci_resolved *r,
			    const struct pull_options *o, pull_build_fn build, void *ctx,
			    struct pull_result *res, struct pupa_err *err)
{
	int ret = 0, lock_fd, waited = 0;
	const char *note;

	if (o->sha256 && strcmp(o->sha256, r->manifest_digest) != 0 &&
	    strcmp(o->sha256, r->index_digest) != 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the manifest is sha256:%s (index: %s%s), not the pinned "
			       "sha256:%s; nothing was cached", r->source, r->manifest_digest,
			       r->index_digest[0] ? "sha256:" : "none", r->index_digest, o->sha256);
	lock_fd = cache_lock(c, r->manifest_digest, &waited, err);
	if (lock_fd < 0)
		return lock_fd;
	snprintf(res->digest, sizeof(res->digest), "%s", r->manifest_digest);
	if (cache_has_image(c, r->manifest_digest)) {
		res->cached = 1;
		note = waited ? "pulled by another pupa" : "cached";
		pull_oci__report(o, CONTAINER_STATUS_DOWNLOADING, 0, 0, 1, note, 0, 0);
		pull_oci__report(o, CONTAINER_STATUS_EXTRACTING, 0, 0, 1, note, 0, 0);
	} else {
		/* Blobs it writes stay until it has published the image that needs them. */
		int blobs_fd = cache_blobs_hold(c);

		ret = build(ctx, c, r, o, res, err);
		if (blobs_fd >= 0)
			close(blobs_fd);
	}
	close(lock_fd);
	if (ret == 0)
		cache_path(c, res->image_path, sizeof(res->image_path), "images/%s.ext4", res->digest);
	return ret;
}

static int pull_oci__build_local(void *ctx, const struct cache *c, struct oci_resolved *r,
				 const struct pull_options *o, struct pull_result *res,
				 struct pupa_err *err)
{
	(void)ctx;
	return pull_oci__build(c, r, o, NULL, res, err);
}

/* A layout (image "oci:DIR[:REF]"), recorded in the cache as source. */
static int pull_oci__layout(const struct cache *c, const struct pull_options *o,
			    const char *image, const char *source, struct pull_result *res,
			    struct pupa_err *err)
{
	struct oci_platform want;
	struct oci_resolved r;
	int ret;

	memset(res, 0, sizeof(*res));
	res->failed_stage = CONTAINER_STATUS_DOWNLOADING;
	if (o->platform && oci_platform_parse(o->platform, &want) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--platform %s: not OS/ARCH[/VARIANT]", o->platform);
	ret = oci_layout_resolve(image, o->platform ? &want : NULL, &r, err);
	if (ret < 0)
		return ret;
	if (source)
		snprintf(r.source, sizeof(r.source), "%s", source);
	ret = pull_oci__finish(c, &r, o, pull_oci__build_local, NULL, res, err);
	oci_resolved_free(&r);
	return ret;
}

int pull_oci(const struct cache *c, const struct pull_options *o, struct pull_result *res,
	     struct pupa_err *err)
{
	return pull_oci__layout(c, o, o->image, NULL, res, err);
}

int pull_oci_layout_as(const struct cache *c, const struct pull_options *o, const char *layout,
		       const char *source, struct pull_result *res, struct pupa_err *err)
{
	return pull_oci__layout(c, o, layout, source, res, err);
}

int pull_oci_archive(const struct cache *c, const struct pull_options *o,
		     struct pull_result *res, struct pupa_err *err)
{
	char abs[PATH_MAX], ref[256], dir[4200], layout[4600], source[4096];
	const char *why;
	int ret, dfd;

	memset(res, 0, sizeof(*res));
	if (image_layout_canonical(o->image, source, sizeof(source), abs, ref, sizeof(ref), &why) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image %s: %s", o->image, why);
	/* Unpacked in the cache's tmp/, locked while in use: a pupa killed
	 * here leaves it to the next one's clean-up. */
	cache_path(c, dir, sizeof(dir), "tmp/archive-XXXXXX");
	if (!mkdtemp(dir))
		return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE, "cannot create %s: %s", dir,
			       strerror(errno));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot lock %s: %s", dir,
			      strerror(errno));
	} else {
		ret = oci_archive_extract(abs, dfd, err);
		snprintf(layout, sizeof(layout), "oci:%s%s%s", dir, ref[0] ? ":" : "", ref);
		if (ret == 0)
			ret = pull_oci__layout(c, o, layout, source, res, err);
	}
	cache_rmtree_path(dir, 4);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

/* ---- from a registry ---------------------------------------------------- */

/* A blob downloaded into the cache's blobs/, hashed as it comes. */
struct blob_sink {
	int fd;
	struct digest *digest;
	uint64_t bytes, expect;
	uint64_t *all;			/* every layer's bytes, for progress (atomic) */
	const struct pull_options *o;
	volatile int *stop;		/* another download failed */
	uint64_t too_big;		/* non-zero: at least this many bytes came */
};

static int blob__data(void *opaque, const void *buf, size_t len)
{
	struct blob_sink *b = opaque;
	const char *p = buf;

	if ((b->o->interrupted && *b->o->interrupted) || (b->stop && *b->stop))
		return -1;
	if (b->bytes + len > b->expect) {
		b->too_big = b->bytes + len;
		return -1;
	}
	digest_update(b->digest, buf, len);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(b->fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	b->bytes += len;
	__atomic_add_fetch(b->all, len, __ATOMIC_RELAXED);
	return 0;
}

/* What an interrupted pull left of a blob, hashed again to go on from. */
static int blob__resume(struct blob_sink *b)
{
	unsigned char buf[65536];
	struct stat st;
	ssize_t n;

	if (fstat(b->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > b->expect && ftruncate(b->fd, 0) < 0)
		return -errno;
	while ((n = read(b->fd, buf, sizeof(buf))) > 0) {
		digest_update(b->digest, buf, (size_t)n);
		b->bytes += (uint64_t)n;
	}
	__atomic_add_fetch(b->all, b->bytes, __ATOMIC_RELAXED);
	return n < 0 ? -errno : 0;
}

/* The size error, naming the blob and both sizes. */
static int blob__too_big(const struct registry *reg, const char *what,
			 const struct oci_descriptor *d, uint64_t got, struct pupa_err *err)
{
	memset(err, 0, sizeof(*err));	/* "download stopped" says less */
	return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
		       "%s: %s sha256:%s is larger than its descriptor says (%llu bytes; the "
		       "registry sent at least %llu); nothing was cached", reg->ref.registry, what,
		       d->digest, (unsigned long long)d->size, (unsigned long long)got);
}

/*
 * partial/blob-DIGEST, open and locked. A pupa that held the lock before
 * may have removed the file (wrong or no bytes): then the lock is on a
 * name no longer there, and the file is opened again.
 */
static int blob__open_locked(const char *part)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat held, named;
		int fd = open(part, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &held) < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (stat(part, &named) == 0 && named.st_dev == held.st_dev &&
		    named.st_ino == held.st_ino)
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

/*
 * One layer blob into blobs/sha256/, through partial/blob-DIGEST: locked
 * while a pupa fetches it (a second one waits and uses its work), kept
 * when the download is cut short, and resumed with Range next time (a
 * blob is named by its content, so no validator is needed).
 */
static int pull_registry__blob(const struct cache *c, struct registry *reg,
			       const struct oci_descriptor *d, struct blob_sink *b,
			       struct pupa_err *err)
{
	char part[4200], path[4200], got[DIGEST_HEX_LEN + 1];
	int ret;

	cache_path(c, path, sizeof(path), "blobs/sha256/%s", d->digest);
	cache_path(c, part, sizeof(part), "partial/blob-%s", d->digest);
	b->fd = blob__open_locked(part);
	if (b->fd < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot open %s: %s", part,
			       strerror(-b->fd));
	if (access(path, R_OK) == 0) {
		/* shared with an image pulled before, or by the pupa we waited for */
		__atomic_add_fetch(b->all, d->size, __ATOMIC_RELAXED);
		close(b->fd);
		return 0;
	}
	b->digest = digest_new();
	b->bytes = 0;
	b->expect = d->size;
	ret = b->digest ? blob__resume(b) : -ENOMEM;
	if (ret < 0)
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "reading %s: %s", part,
			      strerror(-ret));
	if (ret == 0 && b->bytes < d->size)
		ret = registry_blob(reg, d->digest, b->bytes, blob__data, b, err);
	if (ret == -EAGAIN) {
		/* The registry ignored the range: from the start. */
		digest_free(b->digest);
		b->digest = digest_new();
		b->bytes = 0;
		ret = !b->digest || ftruncate(b->fd, 0) < 0 || lseek(b->fd, 0, SEEK_SET) < 0 ?
		      mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "restarting %s", part) :
		      registry_blob(reg, d->digest, 0, blob__data, b, err);
	}
	if (ret >= 0) {
		digest_hex(b->digest, got);
		if (b->bytes != d->size || strcmp(got, d->digest) != 0) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				      "%s: blob sha256:%s does not match its descriptor (%llu bytes "
				      "with SHA-256 %s; %llu bytes expected); nothing was cached",
				      reg->ref.registry, d->digest, (unsigned long long)b->bytes,
				      got, (unsigned long long)d->size);
			unlink(part);	/* wrong bytes are not worth resuming */
		}
	} else if (b->too_big) {
		ret = blob__too_big(reg, "blob", d, b->too_big, err);
		unlink(part);	/* the bytes so far are of something else */
	} else if (b->bytes == 0) {
		unlink(part);	/* nothing came: nothing to resume */
	}
	if (ret >= 0 && (fsync(b->fd) < 0 || rename(part, path) < 0))
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot store %s: %s", path,
			      strerror(errno));
	close(b->fd);
	digest_free(b->digest);
	b->digest = NULL;
	return ret < 0 ? ret : 0;
}

/* A small document blob (the config) into memory, checked. */
static int pull_registry__doc(struct registry *reg, const struct oci_descriptor *d, char **out,
			      size_t *len, struct pupa_err *err)
{
	char tmp[] = "/tmp/pupa-doc-XXXXXX";
	struct blob_sink b = { 0 };
	uint64_t all = 0;
	struct pull_options quiet;
	char got[DIGEST_HEX_LEN + 1];
	int ret;

	if (d->size > OCI_DOC_MAX)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: config sha256:%s is %llu bytes",
			       reg->ref.registry, d->digest, (unsigned long long)d->size);
	/* Through an unlinked file: the sink writes to a descriptor. */
	b.fd = mkstemp(tmp);
	if (b.fd < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "mkstemp: %s", strerror(errno));
	unlink(tmp);
	pull_options_default(&quiet);
	quiet.interrupted = reg->interrupted;	/* quiet, not deaf */
	b.o = &quiet;
	b.all = &all;
	b.expect = d->size;
	b.digest = digest_new();
	ret = registry_blob(reg, d->digest, 0, blob__data, &b, err);
	if (ret < 0 && b.too_big)
		ret = blob__too_big(reg, "config", d, b.too_big, err);
	if (ret >= 0) {
		digest_hex(b.digest, got);
		*out = malloc(b.bytes + 1);
		if (b.bytes != d->size || strcmp(got, d->digest) != 0)
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				      "%s: config sha256:%s does not match its descriptor",
				      reg->ref.registry, d->digest);
		else if (!*out || pread(b.fd, *out, b.bytes, 0) != (ssize_t)b.bytes)
			ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "reading the config back");
		if (ret < 0) {
			free(*out);
			*out = NULL;
		} else {
			(*out)[b.bytes] = '\0';
			*len = b.bytes;
		}
	}
	digest_free(b.digest);
	close(b.fd);
	return ret < 0 ? ret : 0;
}

/* ---- layers downloading in parallel, applied in order ------------------ */

#define PULL_DOWNLOADS 3

struct fetch_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const struct cache *c;
	const struct oci_resolved *r;
	const struct pull_options *o;
	struct registry proto;		/* each thread works on its own copy */
	size_t next, done;
	int *state;			/* per layer: 0 waiting, 1 here, -1 failed */
	volatile int stop;
	struct pupa_err err;		/* the first failure */
	uint64_t bytes, total;
	int reported_done;
};

static void *pool__worker(void *opaque)
{
	struct fetch_pool *p = opaque;
	struct registry *reg = malloc(sizeof(*reg));

	for (;;) {
		struct blob_sink b = { .o = p->o, .all = &p->bytes, .stop = &p->stop };
		struct pupa_err e = { 0 };
		size_t i;
		int ret;

		pthread_mutex_lock(&p->lock);
		if (p->stop || p->next == p->r->manifest.n || !reg) {
			if (!reg && !p->stop) {
				mgr_err(&p->err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
				p->stop = 1;
				pthread_cond_broadcast(&p->cond);
			}
			pthread_mutex_unlock(&p->lock);
			break;
		}
		i = p->next++;
		*reg = p->proto;
		reg->stop = &p->stop;	/* one failed or the build did: all stop */
		pthread_mutex_unlock(&p->lock);
		ret = pull_registry__blob(p->c, reg, &p->r->manifest.layers[i], &b, &e);
		pthread_mutex_lock(&p->lock);
		p->state[i] = ret < 0 ? -1 : 1;
		p->done++;
		if (ret < 0 && !p->stop) {
			p->err = e;
			p->stop = 1;
		}
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	free(reg);
	return NULL;
}

static int pool__all_here(void *opaque)
{
	struct fetch_pool *p = opaque;
	int all;

	pthread_mutex_lock(&p->lock);
	all = p->done == p->r->manifest.n && !p->stop;
	pthread_mutex_unlock(&p->lock);
	return all;
}

/* Wait for layer i (n: for all of them), showing the download meanwhile. */
static int pool__ready(void *opaque, size_t i, struct pupa_err *err)
{
	struct fetch_pool *p = opaque;
	size_t n = p->r->manifest.n;
	int ret = 0, all;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->stop) {
			*err = p->err;
			ret = err->code ? -(int)err->code :
			      mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "interrupted");
			break;
		}
		if (p->o->interrupted && *p->o->interrupted) {
			p->stop = 1;
			ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: interrupted",
				      p->r->source);
			break;
		}
		if (i < n ? p->state[i] == 1 : p->done == n)
			break;
		pthread_mutex_unlock(&p->lock);
		pull_oci__report(p->o, CONTAINER_STATUS_DOWNLOADING,
				 __atomic_load_n(&p->bytes, __ATOMIC_RELAXED), p->total, 0, NULL,
				 0, (unsigned int)n);
		pthread_mutex_lock(&p->lock);
		pull_wait_tick(&p->cond, &p->lock);
	}
	all = p->done == n && !p->stop;
	pthread_mutex_unlock(&p->lock);
	if (ret == 0 && all && !p->reported_done) {
		p->reported_done = 1;
		pull_oci__report(p->o, CONTAINER_STATUS_DOWNLOADING, p->bytes, p->total, 1, NULL, 0,
				 (unsigned int)n);
	}
	return ret;
}

/* Download with up to PULL_DOWNLOADS threads while the build applies. */
static int pull_registry__layers(const struct cache *c, struct registry *reg,
				 struct oci_resolved *r, const struct pull_options *o,
				 struct pull_result *res, struct pupa_err *err)
{
	struct fetch_pool p = { .c = c, .r = r, .o = o, .proto = *reg };
	struct layer_wait w = { .ready = pool__ready, .all_here = pool__all_here, .opaque = &p };
	pthread_t t[PULL_DOWNLOADS];
	int started = 0, ret;

	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	p.state = calloc(r->manifest.n + 1, sizeof(*p.state));
	for (size_t i = 0; i < r->manifest.n; i++)
		p.total += r->manifest.layers[i].size;
	cache_path(c, r->blob_dir, sizeof(r->blob_dir), "blobs/sha256");
	r->downloaded = 1;
	for (int i = 0; p.state && i < PULL_DOWNLOADS && (size_t)i < r->manifest.n; i++)
		if (pthread_create(&t[started], NULL, pool__worker, &p) == 0)
			started++;
	if (!p.state || (r->manifest.n && !started))
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot start downloads");
	else
		ret = pull_oci__build(c, r, o, &w, res, err);
	pthread_mutex_lock(&p.lock);
	p.stop = 1;		/* the build failed: no use downloading the rest */
	pthread_mutex_unlock(&p.lock);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (ret < 0 && !p.reported_done)
		res->failed_stage = CONTAINER_STATUS_DOWNLOADING;
	free(p.state);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	return ret;
}

/* The platform's manifest: through an index if the tag names one. */
static int pull_registry__resolve(struct registry *reg, const struct pull_options *o,
				  const struct oci_platform *want, struct oci_resolved *r,
				  struct pupa_err *err)
{
	char ref[REF_TAG_MAX + 80], digest[DIGEST_HEX_LEN + 1], why[512], *body;
	size_t len;
	int ret;

	if (reg->ref.digest[0])
		snprintf(ref, sizeof(ref), "sha256:%s", reg->ref.digest);
	else
		snprintf(ref, sizeof(ref), "%s", reg->ref.tag);
	ret = registry_manifest(reg, ref, &body, &len, digest, err);
	if (ret < 0)
		return ret;
	if ((reg->ref.digest[0] && strcmp(digest, reg->ref.digest) != 0) ||
	    (o->sha256 && strcmp(o->sha256, digest) != 0 && !reg->ref.digest[0] &&
	     oci_doc_kind(body, len) != OCI_DOC_INDEX)) {
		free(body);
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the registry sent sha256:%s, not the pinned digest; nothing "
			       "was cached", r->source, digest);
	}
	if (oci_doc_kind(body, len) == OCI_DOC_INDEX) {
		struct oci_index ix;
		size_t which;

		snprintf(r->index_digest, sizeof(r->index_digest), "%s", digest);
		ret = oci_index_parse(body, len, &ix, why, sizeof(why));
		free(body);
		if (ret < 0)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", r->source, why);
		ret = oci_index_select(&ix, want, &which, why, sizeof(why));
		if (ret < 0) {
			oci_index_free(&ix);
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: %s", r->source, why);
		}
		oci_platform_format(&ix.manifests[which].platform, r->platform, sizeof(r->platform));
		snprintf(ref, sizeof(ref), "sha256:%s", ix.manifests[which].digest);
		oci_index_free(&ix);
		ret = registry_manifest(reg, ref, &body, &len, digest, err);
		if (ret < 0)
			return ret;
		if (strcmp(ref + 7, digest) != 0) {
			free(body);
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "%s: manifest %s came as sha256:%s", r->source, ref, digest);
		}
	}
	ret = oci_manifest_parse(body, len, &r->manifest, why, sizeof(why));
	free(body);
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: manifest sha256:%.12s: %s",
			       r->source, digest, why);
	snprintf(r->manifest_digest, sizeof(r->manifest_digest), "%s", digest);
	return 0;
}

struct registry_build {
	struct registry *reg;
	const struct oci_platform *want;
};

static int pull_registry__build(void *ctx, const struct cache *c, struct oci_resolved *r,
				const struct pull_options *o, struct pull_result *res,
				struct pupa_err *err)
{
	struct registry_build *b = ctx;
	int ret = pull_registry__doc(b->reg, &r->manifest.config, &r->config, &r->config_len, err);

	if (ret == 0)
		ret = oci_resolved_check_config(r, b->want, err);
	return ret < 0 ? ret : pull_registry__layers(c, b->reg, r, o, res, err);
}

int pull_registry(const struct cache *c, const struct pull_options *o, struct pull_result *res,
		  struct pupa_err *err)
{
	struct oci_platform want;
	struct oci_resolved r;
	struct registry reg;
	struct registry_build b = { .reg = &reg, .want = &want };
	struct image_ref ref;
	const char *why;
	int ret;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	res->failed_stage = CONTAINER_STATUS_DOWNLOADING;
	if (image_ref_parse(o->image, &ref, &why) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "image %s: not a URL, a path, an existing file or a tarball name, "
			       "so read as a registry reference, and not a valid one: %s",
			       o->image, why);
	if (o->platform ? oci_platform_parse(o->platform, &want) < 0 : (oci_platform_host(&want), 0))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--platform %s: not OS/ARCH[/VARIANT]", o->platform);
	image_ref_format(&ref, r.source, sizeof(r.source));
	registry_open(&reg, &ref, o->insecure_registries);
	reg.cache = c;
	reg.interrupted = o->interrupted;
	reg.retries = o->retries;
	reg.stall_s = o->stall_s;
	registry_warm_token(&reg);
	ret = pull_registry__resolve(&reg, o, &want, &r, err);
	if (ret == 0)
		ret = pull_oci__finish(c, &r, o, pull_registry__build, &b, res, err);
	res->interrupted = o->interrupted && *o->interrupted;
	oci_resolved_free(&r);
	return ret;
}
