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

static const char *const cache_dirs[] = { "images", "index", "partial", "locks", "tmp" };

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
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A builder killed mid-pull leaves its file in tmp/, no longer locked. */
static void cache__clean_tmp(const struct cache *c)
{
	char dir[4200], path[4500];
	struct dirent *de;
	DIR *d;

	cache_path(c, dir, sizeof(dir), "tmp");
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			unlink(path);
		close(fd);
	}
	closedir(d);
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
	}
	cache__clean_tmp(c);
	return 0;
}

int cache_lock(const struct cache *c, const char *key, int *waited, struct pupa_err *err)
{
	char path[4200];
	int fd;

	cache_path(c, path, sizeof(path), "locks/%s.lock", key);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
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

/* Write a JSON object to path, atomically. */
static int cache__write_json(const char *path, json_t *obj, struct pupa_err *err)
{
	char tmp[4300];
	int fd, e = 0;
	char *text = json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS);
	size_t len;

	if (!text)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	len = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = errno;
	} else {
		if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
			e = errno ? errno : EIO;
		else if (fsync(fd) < 0)
			e = errno;
		if (close(fd) < 0 && !e)
			e = errno;
		if (!e && rename(tmp, path) < 0)
			e = errno;
		if (e)
			unlink(tmp);
	}
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
	ret = cache__write_json(path, o, err);
	json_decref(o);
	return ret;
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
	ret = cache__write_json(path, o, err);
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

int cache_tmp_image(const struct cache *c, char *path, size_t len, struct pupa_err *err)
{
	int fd;

	cache_path(c, path, len, "tmp/image-XXXXXX");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return cache__storage_err(err, errno, "cannot create a temporary image in", path);
	if (flock(fd, LOCK_EX) < 0) {
		int e = errno;

		unlink(path);
		close(fd);
		return cache__storage_err(err, e, "cannot lock", path);
	}
	return fd;
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
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "digest", m->digest,
			      "source", m->source, "compressed_bytes", (json_int_t)m->compressed,
			      "entries", (json_int_t)m->entries, "created", (json_int_t)m->created);
	int ret;

	cache_path(c, path, sizeof(path), "images/%s.json", m->digest);
	ret = cache__write_json(path, o, err);
	json_decref(o);
	return ret;
}

int cache_publish(const struct cache *c, const char *tmp, const struct cache_meta *meta,
		  struct pupa_err *err)
{
	char path[4200], dir[4200];
	int rc;

	rc = cache__fsync_path(tmp, O_RDONLY);
	if (rc < 0)
		return cache__storage_err(err, -rc, "cannot sync", tmp);
	/* The meta first: an image never appears without it. */
	rc = cache__put_meta(c, meta, err);
	if (rc < 0)
		return rc;
	cache_path(c, path, sizeof(path), "images/%s.ext4", meta->digest);
	if (rename(tmp, path) < 0)
		return cache__storage_err(err, errno, "cannot publish", path);
	cache_path(c, dir, sizeof(dir), "images");
	cache__fsync_path(dir, O_RDONLY | O_DIRECTORY);
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

int cache_meta_get(const struct cache *c, const char *digest, struct cache_meta *m)
{
	char path[4200];
	struct stat st;
	json_t *o;

	memset(m, 0, sizeof(*m));
	snprintf(m->digest, sizeof(m->digest), "%s", digest);
	cache_path(c, path, sizeof(path), "images/%s.ext4", digest);
	if (stat(path, &st) < 0)
		return -errno;
	m->size = (uint64_t)st.st_size;
	m->disk = (uint64_t)st.st_blocks * 512;
	m->created = st.st_mtime;
	m->in_use = cache__image_in_use(path);
	cache_path(c, path, sizeof(path), "images/%s.json", digest);
	o = cache__read_json(path);
	if (!o)
		return 0;
	cache__copy_str(o, "source", m->source, sizeof(m->source));
	m->compressed = (uint64_t)json_integer_value(json_object_get(o, "compressed_bytes"));
	m->entries = (uint64_t)json_integer_value(json_object_get(o, "entries"));
	if (json_object_get(o, "created"))
		m->created = (time_t)json_integer_value(json_object_get(o, "created"));
	json_decref(o);
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
	return fd;
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

		if (strlen(de->d_name) != DIGEST_HEX_LEN)
			continue;
		cache_path(c, path, sizeof(path), "locks/%s.lock", de->d_name);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
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
	return 0;
}
