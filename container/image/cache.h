/*
 * The image cache ($XDG_CACHE_HOME/pupa, or --cache-dir):
 *
 *   images/<digest>.ext4   the root filesystem image, named by the SHA-256
 *                          of the downloaded (compressed) bytes
 *   images/<digest>.json   where it came from, sizes, when
 *   index/<key>.json       a source (URL or path; key = SHA-256 of it) ->
 *                          digest, ETag, Last-Modified for revalidation;
 *                          or a registry's token realm (key of "realm:HOST")
 *   partial/<key>          compressed bytes of an unfinished download,
 *   partial/<key>.json     with the validator that makes resuming safe
 *   locks/<key>.lock       one pull of a source at a time (flock)
 *   blobs/sha256/<digest>  OCI documents an image needs later (its config),
 *                          named by their SHA-256 and checked on every read
 *   tmp/                   images being built, each flock'ed by its builder
 *
 * Entries appear by rename after fsync: a name under images/ is always a
 * complete image. Whatever a killed pull left in tmp/ is removed by the next
 * one. A running container holds a shared flock on its image; rmi and prune
 * skip such images.
 */
#ifndef PUPA_CACHE_H
#define PUPA_CACHE_H

#include <stdint.h>
#include <time.h>

#include "digest.h"
#include "error.h"

struct cache {
	char dir[4096];
};

struct cache_index {
	char digest[DIGEST_HEX_LEN + 1];
	char etag[256];
	char last_modified[64];
};

struct cache_meta {
	char digest[DIGEST_HEX_LEN + 1];
	char source[4096];
	uint64_t compressed;	/* bytes downloaded */
	uint64_t entries;
	uint64_t size;		/* the image's apparent size (a sparse file's) */
	uint64_t disk;		/* blocks it takes on disk (sparse) */
	uint64_t content;	/* what its file system uses, inode tables left out */
	time_t created;
	int in_use;
	uint64_t image_bytes;	/* recorded at publish: the file's size ... */
	char image_sum[DIGEST_HEX_LEN + 1];	/* ... and its data's checksum (image_sum.h) */
	/* An OCI image (digest is its manifest's): */
	char config_digest[DIGEST_HEX_LEN + 1];	/* its config, in blobs/ */
	char platform[100];
	unsigned int layers;
	/* Every name it was pulled by and still has (cache_list only; the
	 * first one publish recorded as source when the JSON has no list). */
	char **names;
	size_t n_names;
};

/* dir NULL: $XDG_CACHE_HOME/pupa or ~/.cache/pupa. Creates the layout and
 * removes what dead pulls left in tmp/. */
int cache_open(struct cache *c, const char *dir, struct pupa_err *err);

void cache_path(const struct cache *c, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Exclusive lock on a source; *waited says whether another pull held it. */
int cache_lock(const struct cache *c, const char *key, int *waited, struct pupa_err *err);

int cache_index_get(const struct cache *c, const char *key, struct cache_index *ix);
int cache_index_put(const struct cache *c, const char *key, const char *source,
		    const struct cache_index *ix, struct pupa_err *err);

/* The token realm a registry named last, so the next pull asks it first
 * instead of taking a 401 to learn it again. */
int cache_realm_put(const struct cache *c, const char *registry, const char *realm,
		    const char *service);
int cache_realm_get(const struct cache *c, const char *registry, char *realm, size_t rlen,
		    char *service, size_t slen);

/* Validator of a partial download (ETag, else Last-Modified); "" if none. */
int cache_partial_get(const struct cache *c, const char *key, char *validator, size_t len);
int cache_partial_put(const struct cache *c, const char *key, const char *source,
		      const char *validator, struct pupa_err *err);
void cache_partial_remove(const struct cache *c, const char *key);

int cache_has_image(const struct cache *c, const char *digest);

/* A new file in tmp/, locked; returns its fd (the lock lives with it). */
int cache_tmp_image(const struct cache *c, char *path, size_t len, struct pupa_err *err);

/* Remove name below dfd and, for a directory, what is in it (depth levels
 * at most), never following a symlink. */
void cache_rmtree_at(int dfd, const char *name, int depth);
/* The same for the folder at path (one of tmp/'s, made by mkdtemp). */
void cache_rmtree_path(const char *path, int depth);

/* A new file in tmp/ for a blob being downloaded, locked; returns its fd. */
int cache_tmp_blob(const struct cache *c, char *path, size_t len, struct pupa_err *err);

/* fsync and checksum the built image, write its meta, rename it into images/. */
int cache_publish(const struct cache *c, const char *tmp, const struct cache_meta *meta,
		  struct pupa_err *err);

int cache_meta_get(const struct cache *c, const char *digest, struct cache_meta *m);

/* A blob by its digest (written once; a blob already there is kept). */
int cache_blob_put(const struct cache *c, const char *digest, const void *data, size_t len,
		   struct pupa_err *err);
/* Read a blob of at most max bytes, NUL-terminated, its digest checked. */
int cache_blob_get(const struct cache *c, const char *digest, size_t max, char **data,
		   size_t *len, struct pupa_err *err);

/* Read the whole image and compare it with its recorded size and checksum. */
int cache_verify(const struct cache *c, const char *digest, struct pupa_err *err);

/*
 * name now names digest: kept in its JSON's names, and taken from any
 * other image that had it (a tag that moved leaves the old image with
 * one name fewer, maybe none).
 */
int cache_name_set(const struct cache *c, const char *digest, const char *name,
		   struct pupa_err *err);

/* Calls fn for each image, oldest first, names filled in. */
int cache_list(const struct cache *c, int (*fn)(const struct cache_meta *m, void *opaque),
	       void *opaque, struct pupa_err *err);

/* Hold an image for a run: a shared lock, returns the fd. */
int cache_hold(const struct cache *c, const char *digest, struct pupa_err *err);

/* What rmi did, for each image it touched. */
enum cache_removed { CACHE_UNTAGGED, CACHE_DELETED };

/*
 * rmi: what is a name (as typed, or canonical as the cache records it):
 * the name goes, and the image with it when it was the last. Else a
 * digest (a unique prefix of 4 or more hex digits): the image and all its
 * names go. An image a running container holds is kept, with its last
 * name. Config blobs no image needs any more are freed at once.
 */
int cache_remove(const struct cache *c, const char *what, const char *canonical,
		 void (*say)(void *opaque, enum cache_removed what, const char *text),
		 void *opaque, struct pupa_err *err);

/* Which images prune takes. */
enum cache_prune_scope {
	CACHE_PRUNE_DANGLING,	/* images with no name left */
	CACHE_PRUNE_UNUSED,	/* every image no running container holds */
};

/* Would prune take m? (in_use aside) */
int cache_prune_takes(const struct cache_meta *m, enum cache_prune_scope scope);

/* Remove the images scope names that are not in use, partial downloads
 * and unneeded blobs; counts what went. */
int cache_prune(const struct cache *c, enum cache_prune_scope scope, unsigned int *images,
		uint64_t *bytes, struct pupa_err *err);

/*
 * A build about to write blobs/ holds this shared lock until it has
 * published (returns the fd; -1 if the lock file cannot be had): blob
 * clean-up takes it exclusively and, when a build holds it, leaves
 * blobs/ to the next rmi or prune.
 */
int cache_blobs_hold(const struct cache *c);

#endif
