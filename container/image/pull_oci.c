/*
 * A layered (OCI) image into one ext4 image: the layers are applied in
 * order through decompress -> tar -> libext2fs, each blob's SHA-256 and
 * size checked as it streams past, and the result is published in the
 * cache under the platform manifest's digest, with the config beside it
 * in blobs/. A layer that fails its check fails the pull, naming the
 * blob, and nothing is published.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ext4_image.h"
#include "oci_layout.h"
#include "pull.h"
#include "pull_oci.h"
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

	lr.fd = oci_layout_open_blob(r, lr.d->digest, err);
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

/* Build in tmp/, then publish; the caller holds the image's lock. */
static int pull_oci__build(const struct cache *c, const struct oci_resolved *r,
			   const struct pull_options *o, struct pull_result *res,
			   struct pupa_err *err)
{
	char tmp[4200] = "";
	struct ext4_image *img = NULL;
	uint64_t total = 0, applied = 0, entries = 0, bound, inodes;
	int ret, tmp_fd;

	for (size_t i = 0; i < r->manifest.n; i++)
		total += r->manifest.layers[i].size;
	/* Local blobs: nothing to download. */
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
		pull_oci__report(o, CONTAINER_STATUS_EXTRACTING, applied, total, 0, NULL,
				 (unsigned int)i + 1, (unsigned int)r->manifest.n);
		ret = pull_oci__layer(img, r, i, o, &applied, &entries, err);
	}
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

int pull_oci(const struct cache *c, const struct pull_options *o, struct pull_result *res,
	     struct pupa_err *err)
{
	struct oci_platform want;
	struct oci_resolved r;
	int ret, lock_fd, waited = 0;

	memset(res, 0, sizeof(*res));
	res->failed_stage = CONTAINER_STATUS_DOWNLOADING;
	if (o->platform && oci_platform_parse(o->platform, &want) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--platform %s: not OS/ARCH[/VARIANT]", o->platform);
	ret = oci_layout_resolve(o->image, o->platform ? &want : NULL, &r, err);
	if (ret < 0)
		return ret;
	/* A pin names the manifest, or the index it was chosen from. */
	if (o->sha256 && strcmp(o->sha256, r.manifest_digest) != 0 &&
	    strcmp(o->sha256, r.index_digest) != 0) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			      "%s: the manifest is sha256:%s (index: %s%s), not the pinned "
			      "sha256:%s; nothing was cached", r.source, r.manifest_digest,
			      r.index_digest[0] ? "sha256:" : "none", r.index_digest, o->sha256);
		goto out;
	}
	lock_fd = cache_lock(c, r.manifest_digest, &waited, err);
	if (lock_fd < 0) {
		ret = lock_fd;
		goto out;
	}
	snprintf(res->digest, sizeof(res->digest), "%s", r.manifest_digest);
	if (cache_has_image(c, r.manifest_digest)) {
		res->cached = 1;
		pull_oci__report(o, CONTAINER_STATUS_DOWNLOADING, 0, 0, 1,
				 waited ? "pulled by another pupa" : "cached", 0, 0);
		pull_oci__report(o, CONTAINER_STATUS_EXTRACTING, 0, 0, 1,
				 waited ? "pulled by another pupa" : "cached", 0, 0);
	} else {
		ret = pull_oci__build(c, &r, o, res, err);
	}
	close(lock_fd);
	if (ret == 0)
		cache_path(c, res->image_path, sizeof(res->image_path), "images/%s.ext4", res->digest);
out:
	oci_resolved_free(&r);
	return ret;
}
