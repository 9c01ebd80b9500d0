/*
 * Files under the cache directory. Every small file is written whole to a
 * temporary name and renamed, so a reader sees the old or the new one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cache.h"
#include "image_sum.h"

/* Every folder pupa writes under the cache, checked on each open: the
 * snapshots VMs resume from are trusted as much as the images. */
static const char *const cache_dirs[] = { "images", "index", "partial", "locks", "tmp",
					   "blobs/sha256", "snapshots" };

void cache_path(const struct cache *c, char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, len, "%s/", c->dir);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < len)
		vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
}

static int cache__storage_err(struct pupa_err *err, int e, const char *what, const char *path)
{
	if (e == ENOSPC || e == EDQUOT)
		return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE,
			       "%s %s: %s: persistent storage could not be allocated; free "
			       "space or choose another --cache-dir", what, path, strerror(e));
	return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s %s: %s", what, path, strerror(e));
}

static int cache__mkdirs(const char *path)
{
	char buf[4200];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

void cache_rmtree_at(int dfd, const char *name, int depth)
{
	struct dirent *de;
	struct stat st;
	int fd;
	DIR *d;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(st.st_mode) || depth <= 0) {
		unlinkat(dfd, name, 0);
		return;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			cache_rmtree_at(dirfd(d), de->d_name, depth - 1);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

/*
 * A builder killed mid-pull leaves its file in tmp/, no longer locked.
 * Through descriptors, never following a symlink: a tmp/ pointing
 * elsewhere must not make pupa delete files there.
 */
static void cache__clean_tmp(const struct cache *c)
{
	char dir[4200];
	struct dirent *de;
	int dfd;
	DIR *d;

	cache_path(c, dir, sizeof(dir), "tmp");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			cache_rmtree_at(dfd, de->d_name, 4);
		close(fd);
	}
	closedir(d);
}

/*
 * The cache is the user's own: images in it are handed to VMs and trusted.
 * A directory someone else owns or may write to could have an image swapped
 * under us; a symlinked subdirectory could send writes anywhere.
 */
static int cache__check_dir(const char *path, int follow, struct pupa_err *err)
{
	struct stat st;

	if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
		return cache__storage_err(err, errno, "cannot use the cache directory", path);
	if (!S_ISDIR(st.st_mode))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "the cache directory %s is not a directory%s", path,
			       S_ISLNK(st.st_mode) ? " (a symlink): remove it" : "");
	if (st.st_uid != geteuid())
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "the cache directory %s belongs to uid %u, not to you (uid %u): "
			       "use a cache of your own (--cache-dir)", path,
			       (unsigned int)st.st_uid, (unsigned int)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "the cache directory %s may be written by others (mode %03o): "
			       "chmod go-w it", path, (unsigned int)(st.st_mode & 07777));
	return 0;
}

int cache_open(struct cache *c, const char *dir, struct pupa_err *err)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char sub[4200];
	int rc;

	if (dir)
		snprintf(c->dir, sizeof(c->dir), "%s", dir);
	else if (xdg && *xdg == '/')
		snprintf(c->dir, sizeof(c->dir), "%s/pupa", xdg);
	else if (home && *home)
		snprintf(c->dir, sizeof(c->dir), "%s/.cache/pupa", home);
	else
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "no cache directory: set HOME or XDG_CACHE_HOME, or use --cache-dir");
	for (size_t i = 0; i < sizeof(cache_dirs) / sizeof(cache_dirs[0]); i++) {
		cache_path(c, sub, sizeof(sub), "%s", cache_dirs[i]);
		rc = cache__mkdirs(sub);
		if (rc < 0)
			return cache__storage_err(err, -rc, "cannot create the cache directory", sub);
		rc = cache__check_dir(sub, 0, err);
		if (rc < 0)
			return rc;
	}
	rc = cache__check_dir(c->dir, 1, err);
	if (rc < 0)
		return rc;
	cache__clean_tmp(c);
	return 0;
}

int cache_lock(const struct cache *c, const char *key, int *waited, struct pupa_err *err)
{
	char path[4200];
	int fd;

	cache_path(c, path, sizeof(path), "locks/%s.lock", key);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return cache__storage_err(err, errno, "cannot open the lock", path);
	*waited = 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		*waited = 1;
		while (flock(fd, LOCK_EX) < 0) {
			if (errno != EINTR) {
				close(fd);
				return cache__storage_err(err, errno, "cannot lock", path);
			}
		}
	}
	return fd;
}

static int cache__tmp(const struct cache *c, const char *pattern, char *path, size_t len,
		      struct pupa_err *err);

/*
 * Write a JSON object to path, atomically. The new text is written in tmp/
 * under a lock and renamed while the lock is held: a writer killed midway
 * leaves a file the next cache_open() reaps, not a stray next to the real
 * one that only a later process of the same pid would remove.
 */
static int cache__write_json(const struct cache *c, const char *path, json_t *obj,
			     struct pupa_err *err)
{
	char tmp[4200];
	int fd, e = 0;
	char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
	size_t len;

	if (!text)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	len = strlen(text);
	fd = cache__tmp(c, "tmp/json-XXXXXX", tmp, sizeof(tmp), err);
	if (fd < 0) {
		free(text);
		return fd;
	}
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		e = errno ? errno : EIO;
	else if (fsync(fd) < 0)
		e = errno;
	else if (rename(tmp, path) < 0)
		e = errno;
	if (e)
		unlink(tmp);
	close(fd);	/* after the rename: until then the lock keeps reapers off */
	free(text);
	return e ? cache__storage_err(err, e, "cannot write", path) : 0;
}

static json_t *cache__read_json(const char *path)
{
	return json_load_file(path, 0, NULL);
}

static void cache__copy_str(json_t *o, const char *key, char *buf, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(buf, len, "%s", s ? s : "");
}

int cache_index_get(const struct cache *c, const char *key, struct cache_index *ix)
{
	char path[4200];
	json_t *o;

	memset(ix, 0, sizeof(*ix));
	cache_path(c, path, sizeof(path), "index/%s.json", key);
	o = cache__read_json(path);
	if (!o)
		return -ENOENT;
	cache__copy_str(o, "digest", ix->digest, sizeof(ix->digest));
	cache__copy_str(o, "etag", ix->etag, sizeof(ix->etag));
	cache__copy_str(o, "last_modified", ix->last_modified, sizeof(ix->last_modified));
	json_decref(o);
	return strlen(ix->digest) == DIGEST_HEX_LEN ? 0 : -EINVAL;
}

int cache_index_put(const struct cache *c, const char *key, const char *source,
		    const struct cache_index *ix, struct pupa_err *err)
{
	char path[4200];
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "source", source, "digest", ix->digest,
			      "etag", ix->etag, "last_modified", ix->last_modified);
	int ret;

	cache_path(c, path, sizeof(path), "index/%s.json", key);
	ret = cache__write_json(c, path, o, err);
	json_decref(o);
	return ret;
}

int cache_realm_put(const struct cache *c, const char *registry, const char *realm,
		    const char *service)
{
	struct pupa_err ignore = { 0 };
	char path[4200], key[DIGEST_HEX_LEN + 1], name[300];
	json_t *o = json_pack("{s:s, s:s, s:s}", "registry", registry, "realm", realm,
			      "service", service);
	int ret;

	snprintf(name, sizeof(name), "realm:%s", registry);
	digest_string(name, key);
	cache_path(c, path, sizeof(path), "index/%s.json", key);
	ret = o ? cache__write_json(c, path, o, &ignore) : -ENOMEM;
	json_decref(o);
	return ret;
}

int cache_realm_get(const struct cache *c, const char *registry, char *realm, size_t rlen,
		    char *service, size_t slen)
{
	char path[4200], key[DIGEST_HEX_LEN + 1], name[300];
	json_t *o;

	snprintf(name, sizeof(name), "realm:%s", registry);
	digest_string(name, key);
	cache_path(c, path, sizeof(path), "index/%s.json", key);
	o = cache__read_json(path);
	if (!o)
		return -ENOENT;
	cache__copy_str(o, "realm", realm, rlen);
	cache__copy_str(o, "service", service, slen);
	json_decref(o);
	return realm[0] ? 0 : -ENOENT;
}

int cache_partial_get(const struct cache *c, const char *key, char *validator, size_t len)
{
	char path[4200];
	json_t *o;

	cache_path(c, path, sizeof(path), "partial/%s.json", key);
	o = cache__read_json(path);
	validator[0] = '\0';
	if (!o)
		return -ENOENT;
	cache__copy_str(o, "validator", validator, len);
	json_decref(o);
	return 0;
}

int cache_partial_put(const struct cache *c, const char *key, const char *source,
		      const char *validator, struct pupa_err *err)
{
	char path[4200];
	json_t *o = json_pack("{s:s, s:s}", "source", source, "validator", validator);
	int ret;

	cache_path(c, path, sizeof(path), "partial/%s.json", key);
	ret = cache__write_json(c, path, o, err);
	json_decref(o);
	return ret;
}

void cache_partial_remove(const struct cache *c, const char *key)
{
	char path[4200];

	cache_path(c, path, sizeof(path), "partial/%s", key);
	unlink(path);
	cache_path(c, path, sizeof(path), "partial/%s.json", key);
	unlink(path);
}

int cache_has_image(const struct cache *c, const char *digest)
{
	char path[4200];

	cache_path(c, path, sizeof(path), "images/%s.ext4", digest);
	return access(path, R_OK) == 0;
}

static int cache__tmp(const struct cache *c, const char *pattern, char *path, size_t len,
		      struct pupa_err *err)
{
	int fd;

	cache_path(c, path, len, "%s", pattern);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return cache__storage_err(err, errno, "cannot create a temporary file in", path);
	if (flock(fd, LOCK_EX) < 0) {
		int e = errno;

		unlink(path);
		close(fd);
		return cache__storage_err(err, e, "cannot lock", path);
	}
	return fd;
}

int cache_tmp_image(const struct cache *c, char *path, size_t len, struct pupa_err *err)
{
	return cache__tmp(c, "tmp/image-XXXXXX", path, len, err);
}

int cache_tmp_blob(const struct cache *c, char *path, size_t len, struct pupa_err *err)
{
	return cache__tmp(c, "tmp/blob-XXXXXX", path, len, err);
}

static int cache__fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int cache__put_meta(const struct cache *c, const struct cache_meta *m,
			   struct pupa_err *err)
{
	char path[4200];
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "digest", m->digest,
			      "source", m->source, "compressed_bytes", (json_int_t)m->compressed,
			      "entries", (json_int_t)m->entries, "created", (json_int_t)m->created,
			      "image_bytes", (json_int_t)m->image_bytes,
			      "image_sum", m->image_sum);
	int ret;

	/* An OCI image: its config (in blobs/) and platform. */
	if (o && m->config_digest[0] &&
	    (json_object_set_new(o, "config_digest", json_string(m->config_digest)) < 0 ||
	     json_object_set_new(o, "platform", json_string(m->platform)) < 0 ||
	     json_object_set_new(o, "layers", json_integer((json_int_t)m->layers)) < 0)) {
		json_decref(o);
		o = NULL;
	}
	if (!o)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");

	cache_path(c, path, sizeof(path), "images/%s.json", m->digest);
	ret = cache__write_json(c, path, o, err);
	json_decref(o);
	return ret;
}

int cache_publish(const struct cache *c, const char *tmp, const struct cache_meta *meta,
		  struct pupa_err *err)
{
	char path[4200], dir[4200];
	struct cache_meta m = *meta;
	int rc, fd;

	fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cache__storage_err(err, errno, "cannot open", tmp);
	rc = fsync(fd) < 0 ? -errno : image_sum(fd, &m.image_bytes, m.image_sum);
	close(fd);
	if (rc < 0)
		return cache__storage_err(err, -rc, "cannot sync and checksum", tmp);
	/* The meta first: an image never appears without it. */
	rc = cache__put_meta(c, &m, err);
	if (rc < 0)
		return rc;
	cache_path(c, path, sizeof(path), "images/%s.ext4", meta->digest);
	if (rename(tmp, path) < 0)
		return cache__storage_err(err, errno, "cannot publish", path);
	cache_path(c, dir, sizeof(dir), "images");
	cache__fsync_path(dir, O_RDONLY | O_DIRECTORY);
	return 0;
}

int cache_blob_put(const struct cache *c, const char *digest, const void *data, size_t len,
		   struct pupa_err *err)
{
	char path[4200], tmp[4300];
	int fd, e = 0;

	cache_path(c, path, sizeof(path), "blobs/sha256/%s", digest);
	if (access(path, F_OK) == 0)
		return 0;
	cache_path(c, tmp, sizeof(tmp), "tmp/blob-XXXXXX");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cache__storage_err(err, errno, "cannot create a temporary blob in", tmp);
	/* Locked like images in tmp/, so another pupa's clean-up leaves it. */
	if (flock(fd, LOCK_EX) < 0)
		e = errno;
	else if (write(fd, data, len) != (ssize_t)len)
		e = errno ? errno : EIO;
	else if (fsync(fd) < 0)
		e = errno;
	close(fd);
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		return cache__storage_err(err, e, "cannot write", path);
	}
	return 0;
}

int cache_blob_get(const struct cache *c, const char *digest, size_t max, char **data,
		   size_t *len, struct pupa_err *err)
{
	char path[4200], got[DIGEST_HEX_LEN + 1];
	struct digest *d;
	struct stat st;
	ssize_t n = -1;
	int fd;

	*data = NULL;
	cache_path(c, path, sizeof(path), "blobs/sha256/%s", digest);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cache__storage_err(err, errno, "cannot open", path);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= max &&
	    (*data = malloc((size_t)st.st_size + 1)))
		n = read(fd, *data, (size_t)st.st_size);
	close(fd);
	d = digest_new();
	if (n >= 0 && d) {
		digest_update(d, *data, (size_t)n);
		digest_hex(d, got);
	}
	digest_free(d);
	if (n < 0 || n != (ssize_t)st.st_size || strcmp(got, digest) != 0) {
		free(*data);
		*data = NULL;
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "the cached blob %s is damaged (not the content its name says): "
			       "pupa rmi the image and pull it again", path);
	}
	(*data)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static int cache__image_in_use(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), busy;

	if (fd < 0)
		return 0;
	busy = flock(fd, LOCK_EX | LOCK_NB) < 0;
	close(fd);
	return busy;
}

/* What publish recorded in images/DIGEST.json, over what m holds; -ENOENT
 * without it. Reads nothing else: the per-start size check uses it. */
static int cache__recorded(const struct cache *c, const char *digest, struct cache_meta *m)
{
	char path[4200];
	json_t *o;

	cache_path(c, path, sizeof(path), "images/%s.json", digest);
	o = cache__read_json(path);
	if (!o)
		return -ENOENT;
	cache__copy_str(o, "source", m->source, sizeof(m->source));
	m->compressed = (uint64_t)json_integer_value(json_object_get(o, "compressed_bytes"));
	m->entries = (uint64_t)json_integer_value(json_object_get(o, "entries"));
	if (json_object_get(o, "created"))
		m->created = (time_t)json_integer_value(json_object_get(o, "created"));
	m->image_bytes = (uint64_t)json_integer_value(json_object_get(o, "image_bytes"));
	cache__copy_str(o, "image_sum", m->image_sum, sizeof(m->image_sum));
	cache__copy_str(o, "config_digest", m->config_digest, sizeof(m->config_digest));
	cache__copy_str(o, "platform", m->platform, sizeof(m->platform));
	m->layers = (unsigned int)json_integer_value(json_object_get(o, "layers"));
	json_decref(o);
	return 0;
}

int cache_meta_get(const struct cache *c, const char *digest, struct cache_meta *m)
{
	char path[4200];
	struct stat st;

	memset(m, 0, sizeof(*m));
	snprintf(m->digest, sizeof(m->digest), "%s", digest);
	cache_path(c, path, sizeof(path), "images/%s.ext4", digest);
	if (stat(path, &st) < 0)
		return -errno;
	m->size = (uint64_t)st.st_size;
	m->disk = (uint64_t)st.st_blocks * 512;
	m->created = st.st_mtime;
	m->in_use = cache__image_in_use(path);
	cache__recorded(c, digest, m);	/* an image without its JSON still lists */
	return 0;
}

int cache_verify(const struct cache *c, const char *digest, struct pupa_err *err)
{
	char path[4200], sum[DIGEST_HEX_LEN + 1];
	struct cache_meta m = { 0 };
	uint64_t size;
	int fd, rc;

	if (cache__recorded(c, digest, &m) < 0 || !m.image_sum[0])
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "image %.12s has no recorded checksum", digest);
	cache_path(c, path, sizeof(path), "images/%s.ext4", digest);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cache__storage_err(err, errno, "cannot open", path);
	rc = image_sum(fd, &size, sum);
	close(fd);
	if (rc < 0)
		return cache__storage_err(err, -rc, "cannot read", path);
	if (size != m.image_bytes || strcmp(sum, m.image_sum) != 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "image %.12s changed since it was built (%" PRIu64 " bytes, "
			       "recorded %" PRIu64 "; checksum %s): pupa rmi it and pull again",
			       digest, size, m.image_bytes,
			       strcmp(sum, m.image_sum) ? "differs" : "matches");
	return 0;
}

static int cache__by_created(const void *a, const void *b)
{
	const struct cache_meta *x = a, *y = b;

	return (x->created > y->created) - (x->created < y->created);
}

/* All images' metadata, oldest first. */
static int cache__all(const struct cache *c, struct cache_meta **out, size_t *n,
		      struct pupa_err *err)
{
	char dir[4200];
	struct dirent *de;
	struct cache_meta *v = NULL;
	size_t cnt = 0;
	DIR *d;

	cache_path(c, dir, sizeof(dir), "images");
	d = opendir(dir);
	if (!d)
		return cache__storage_err(err, errno, "cannot read", dir);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char digest[DIGEST_HEX_LEN + 1];
		struct cache_meta *nv;

		if (len != DIGEST_HEX_LEN + 5 || strcmp(de->d_name + DIGEST_HEX_LEN, ".ext4") != 0)
			continue;
		memcpy(digest, de->d_name, DIGEST_HEX_LEN);
		digest[DIGEST_HEX_LEN] = '\0';
		nv = realloc(v, (cnt + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		if (cache_meta_get(c, digest, &v[cnt]) == 0)
			cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cache__by_created);
	*out = v;
	*n = cnt;
	return 0;
}

int cache_list(const struct cache *c, int (*fn)(const struct cache_meta *m, void *opaque),
	       void *opaque, struct pupa_err *err)
{
	struct cache_meta *v;
	size_t n;
	int ret = cache__all(c, &v, &n, err);

	for (size_t i = 0; ret == 0 && i < n; i++)
		ret = fn(&v[i], opaque);
	free(v);
	return ret;
}

/* The cheap check on every use: the size recorded when it was built. */
static int cache__check_size(const struct cache *c, const char *digest, int fd,
			     struct pupa_err *err)
{
	struct cache_meta m = { 0 };
	struct stat st;

	if (cache__recorded(c, digest, &m) < 0 || !m.image_bytes || fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size == m.image_bytes)
		return fd;
	close(fd);
	return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
		       "image %.12s is %" PRIu64 " bytes, %" PRIu64 " when it was built: it was "
		       "changed or truncated; pupa rmi %.12s and pull again", digest,
		       (uint64_t)st.st_size, m.image_bytes, digest);
}

int cache_hold(const struct cache *c, const char *digest, struct pupa_err *err)
{
	char path[4200];
	int fd;

	cache_path(c, path, sizeof(path), "images/%s.ext4", digest);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot open %s: %s",
			       path, strerror(errno));
	if (flock(fd, LOCK_SH) < 0) {
		int e = errno;

		close(fd);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot lock %s: %s",
			       path, strerror(e));
	}
	return cache__check_size(c, digest, fd, err);
}

/* Drop index entries that point at digest. */
static void cache__unindex(const struct cache *c, const char *digest)
{
	char dir[4200], path[4500];
	struct dirent *de;
	DIR *d;

	cache_path(c, dir, sizeof(dir), "index");
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		json_t *o;
		const char *dg;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		o = cache__read_json(path);
		dg = o ? json_string_value(json_object_get(o, "digest")) : NULL;
		if (dg && strcmp(dg, digest) == 0)
			unlink(path);
		json_decref(o);
	}
	closedir(d);
}

/* Remove an image unless a container holds it; the exclusive lock is held
 * across the unlink so no run can take it meanwhile. */
static int cache__remove_image(const struct cache *c, const struct cache_meta *m,
			       struct pupa_err *err)
{
	char path[4200];
	int fd;

	cache_path(c, path, sizeof(path), "images/%s.ext4", m->digest);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_NOT_RUNNING, "image %.12s: %s",
			       m->digest, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return mgr_err(err, GUEST_MANAGER_ERR_ALREADY_RUNNING,
			       "image %.12s (%s) is in use by a running container",
			       m->digest, m->source);
	}
	unlink(path);
	close(fd);
	cache_path(c, path, sizeof(path), "images/%s.json", m->digest);
	unlink(path);
	cache__unindex(c, m->digest);
	return 0;
}

int cache_remove(const struct cache *c, const char *what, char *removed,
		 struct pupa_err *err)
{
	struct cache_meta *v, *hit = NULL;
	size_t n, wlen = strlen(what);
	int ret, matches = 0;

	ret = cache__all(c, &v, &n, err);
	if (ret < 0)
		return ret;
	if (strncmp(what, "sha256:", 7) == 0) {
		what += 7;
		wlen -= 7;
	}
	for (size_t i = 0; i < n; i++) {
		int by_digest = wlen >= 4 && wlen <= DIGEST_HEX_LEN &&
				strncmp(v[i].digest, what, wlen) == 0;

		if (by_digest || strcmp(v[i].source, what) == 0) {
			hit = &v[i];
			matches++;
		}
	}
	if (matches == 0)
		ret = mgr_err(err, GUEST_MANAGER_ERR_NOT_RUNNING,
			      "no image '%s' in the cache %s (see pupa images)", what, c->dir);
	else if (matches > 1)
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			      "'%s' matches %d images: give more of the digest", what, matches);
	else
		ret = cache__remove_image(c, hit, err);
	if (ret == 0)
		snprintf(removed, DIGEST_HEX_LEN + 1, "%s", hit->digest);
	free(v);
	return ret;
}

/*
 * Blobs no image refers to. An image being published right now writes its
 * config blob before its meta: a blob younger than a minute is left for
 * the next prune rather than raced.
 */
static void cache__prune_blobs(const struct cache *c, uint64_t *bytes)
{
	struct pupa_err ignore = { 0 };
	char dir[4200], path[4500];
	struct cache_meta *v;
	struct dirent *de;
	size_t n;
	DIR *d;

	if (cache__all(c, &v, &n, &ignore) < 0)
		return;
	cache_path(c, dir, sizeof(dir), "blobs/sha256");
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		int used = 0;
		struct stat st;

		if (strlen(de->d_name) != DIGEST_HEX_LEN)
			continue;
		for (size_t i = 0; i < n && !used; i++)
			used = strcmp(v[i].config_digest, de->d_name) == 0;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (used || lstat(path, &st) < 0 || time(NULL) - st.st_mtime < 60)
			continue;
		if (unlink(path) == 0)
			*bytes += (uint64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	free(v);
}

int cache_prune(const struct cache *c, unsigned int *images, uint64_t *bytes,
		struct pupa_err *err)
{
	char dir[4200], path[4500];
	struct cache_meta *v;
	struct dirent *de;
	size_t n;
	DIR *d;
	int ret;

	*images = 0;
	*bytes = 0;
	ret = cache__all(c, &v, &n, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		struct pupa_err ignore = { 0 };

		if (cache__remove_image(c, &v[i], &ignore) == 0) {
			(*images)++;
			*bytes += v[i].disk;
		}
	}
	free(v);
	/* Partial downloads whose pull is not running (its lock is free). */
	cache_path(c, dir, sizeof(dir), "partial");
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat st;
		int fd;

		/* A registry blob's partial download is its own lock. */
		if (!strncmp(de->d_name, "blob-", 5) && strlen(de->d_name) == 5 + DIGEST_HEX_LEN) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
			    unlink(path) == 0)
				*bytes += (uint64_t)st.st_blocks * 512;
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (strlen(de->d_name) != DIGEST_HEX_LEN)
			continue;
		cache_path(c, path, sizeof(path), "locks/%s.lock", de->d_name);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == 0)
			*bytes += (uint64_t)st.st_blocks * 512;
		cache_partial_remove(c, de->d_name);
		close(fd);
	}
	closedir(d);
	cache__prune_blobs(c, bytes);
	return 0;
}
