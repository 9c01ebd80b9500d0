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

void cache_rmtree_path(const char *path, int depth)
{
	const char *slash = strrchr(path, '/');
	char parent[4200];
	int pfd;

	if (!slash || slash == path)
		return;
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd >= 0) {
		cache_rmtree_at(pfd, slash + 1, depth);
		close(pfd);
	}
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

/* The image's names: its list, or for a JSON written before there were
 * lists, its source. A new reference. */
static json_t *cache__names_of(json_t *o)
{
	json_t *names = json_object_get(o, "names");
	const char *source = json_string_value(json_object_get(o, "source"));

	if (json_is_array(names))
		return json_incref(names);
	names = json_array();
	if (names && source && *source)
		json_array_append_new(names, json_string(source));
	return names;
}

static void cache__names_free(struct cache_meta *m)
{
	for (size_t i = 0; i < m->n_names; i++)
		free(m->names[i]);
	free(m->names);
	m->names = NULL;
	m->n_names = 0;
}

static void cache__names_load(json_t *o, struct cache_meta *m)
{
	json_t *names = cache__names_of(o), *v;
	size_t i;

	m->names = calloc(json_array_size(names) + 1, sizeof(*m->names));
	json_array_foreach(names, i, v) {
		if (m->names && json_is_string(v) && (m->names[m->n_names] = strdup(json_string_value(v))))
			m->n_names++;
	}
	json_decref(names);
}

/* What publish recorded in images/DIGEST.json, over what m holds; -ENOENT
 * without it. Reads nothing else: the per-start size check uses it. */
static int cache__recorded_names(const struct cache *c, const char *digest,
				 struct cache_meta *m, int with_names)
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
	if (with_names)
		cache__names_load(o, m);
	json_decref(o);
	return 0;
}

static int cache__recorded(const struct cache *c, const char *digest, struct cache_meta *m)
{
	return cache__recorded_names(c, digest, m, 0);
}

static uint32_t cache__le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int cache__has_backup(uint64_t group)
{
	/* sparse_super: groups 0, 1 and the powers of 3, 5 and 7 */
	if (group <= 1)
		return 1;
	for (uint64_t base = 3; base <= 7; base += 2) {
		uint64_t p = base;

		while (p < group)
			p *= base;
		if (p == group)
			return 1;
	}
	return 0;
}

/*
 * What the image's file system holds, from its superblock: the blocks in
 * use less what mke2fs sets aside whatever the content (the inode tables,
 * allocated for every inode the image may get and left sparse, and the
 * superblock copies with their descriptor and growth blocks). 0 if it is
 * not ext4.
 */
static uint64_t cache__content(const char *path)
{
	unsigned char sb[1024];
	uint64_t blocks, free_blocks, bsize, groups, per_group, gdt, fixed, used;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), is64;
	ssize_t n = fd >= 0 ? pread(fd, sb, sizeof(sb), 1024) : -1;
	unsigned int desc;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(sb) || sb[0x38] != 0x53 || sb[0x39] != 0xef ||
	    cache__le32(sb + 0x18) > 6 || cache__le32(sb + 0x20) == 0)
		return 0;
	bsize = 1024ull << cache__le32(sb + 0x18);
	blocks = cache__le32(sb + 0x4);
	free_blocks = cache__le32(sb + 0xc);
	is64 = (cache__le32(sb + 0x60) & 0x80) != 0;
	if (is64) {	/* the high halves */
		blocks |= (uint64_t)cache__le32(sb + 0x150) << 32;
		free_blocks |= (uint64_t)cache__le32(sb + 0x158) << 32;
	}
	if (free_blocks > blocks)
		return 0;
	per_group = cache__le32(sb + 0x20);
	groups = (blocks - cache__le32(sb + 0x14) + per_group - 1) / per_group;
	desc = is64 ? (sb[0xfe] | (unsigned int)sb[0xff] << 8) : 32;
	gdt = (groups * (desc ? desc : 32) + bsize - 1) / bsize;
	fixed = (uint64_t)cache__le32(sb) * (sb[0x58] | (unsigned int)sb[0x59] << 8);
	for (uint64_t g = 0; g < groups && g < (1u << 20); g++)
		if (!(cache__le32(sb + 0x64) & 1) || cache__has_backup(g))
			fixed += (1 + gdt + (sb[0xce] | (unsigned int)sb[0xcf] << 8)) * bsize;
	used = (blocks - free_blocks) * bsize;
	return used > fixed ? used - fixed : 0;
}

static int cache__meta(const struct cache *c, const char *digest, struct cache_meta *m,
		       int with_names)
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
	m->content = cache__content(path);
	/* An image without its JSON still lists. */
	cache__recorded_names(c, digest, m, with_names);
	return 0;
}

int cache_meta_get(const struct cache *c, const char *digest, struct cache_meta *m)
{
	return cache__meta(c, digest, m, 0);
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

static void cache__all_free(struct cache_meta *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cache__names_free(&v[i]);
	free(v);
}

/* All images' metadata, oldest first; with_names: their names too. */
static int cache__all_names(const struct cache *c, struct cache_meta **out, size_t *n,
			    int with_names, struct pupa_err *err)
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
		if (cache__meta(c, digest, &v[cnt], with_names) == 0)
			cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cache__by_created);
	*out = v;
	*n = cnt;
	return 0;
}

static int cache__all(const struct cache *c, struct cache_meta **out, size_t *n,
		      struct pupa_err *err)
{
	return cache__all_names(c, out, n, 0, err);
}

int cache_list(const struct cache *c, int (*fn)(const struct cache_meta *m, void *opaque),
	       void *opaque, struct pupa_err *err)
{
	struct cache_meta *v;
	size_t n;
	int ret = cache__all_names(c, &v, &n, 1, err);

	if (ret < 0)
		return ret;
	for (size_t i = 0; ret == 0 && i < n; i++)
		ret = fn(&v[i], opaque);
	cache__all_free(v, n);
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

/* ---- names ----------------------------------------------------------------------- */

static int cache__has_name(const struct cache_meta *m, const char *name)
{
	for (size_t i = 0; name && i < m->n_names; i++)
		if (strcmp(m->names[i], name) == 0)
			return 1;
	return 0;
}

/* images/DIGEST.json with name added to its names, or dropped from them. */
static int cache__edit_names(const struct cache *c, const char *digest, const char *add,
			     const char *drop, struct pupa_err *err)
{
	char path[4200];
	json_t *o, *names, *keep;
	size_t i;
	json_t *v;
	int ret, have = 0;

	cache_path(c, path, sizeof(path), "images/%s.json", digest);
	o = cache__read_json(path);
	if (!o)
		return mgr_err(err, GUEST_MANAGER_ERR_NOT_RUNNING, "image %.12s: no %s", digest, path);
	names = cache__names_of(o);
	keep = json_array();
	json_array_foreach(names, i, v) {
		const char *s = json_string_value(v);

		if (!s || (drop && strcmp(s, drop) == 0))
			continue;
		have |= add && strcmp(s, add) == 0;
		json_array_append(keep, v);
	}
	if (add && !have)
		json_array_append_new(keep, json_string(add));
	json_decref(names);
	ret = json_object_set_new(o, "names", keep) < 0 ?
	      mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory") :
	      cache__write_json(c, path, o, err);
	json_decref(o);
	return ret;
}

/* One process at a time edits names (a short exclusive lock). */
static int cache__names_lock(const struct cache *c, struct pupa_err *err)
{
	int waited;

	return cache_lock(c, "names", &waited, err);
}

/* The names lock, and every image with its names read under it: the lock's
 * fd (close it, and cache__all_free the list), or a negative code with
 * neither held. */
static int cache__names_locked(const struct cache *c, struct cache_meta **v, size_t *n,
			       struct pupa_err *err)
{
	int ret, fd = cache__names_lock(c, err);

	if (fd < 0)
		return fd;
	ret = cache__all_names(c, v, n, 1, err);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

int cache_name_set(const struct cache *c, const char *digest, const char *name,
		   struct pupa_err *err)
{
	struct cache_meta *v;
	size_t n;
	int ret = 0, have = 0, fd = cache__names_locked(c, &v, &n, err);

	if (fd < 0)
		return fd;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (strcmp(v[i].digest, digest) == 0)
			have = cache__has_name(&v[i], name);
		else if (cache__has_name(&v[i], name))
			ret = cache__edit_names(c, v[i].digest, NULL, name, err);
	}
	/* Every start pulls: a name already there costs no write. */
	if (ret == 0 && !have)
		ret = cache__edit_names(c, digest, name, NULL, err);
	cache__all_free(v, n);
	close(fd);
	return ret;
}

/* ---- blobs --------------------------------------------------------------------------- */

int cache_blobs_hold(const struct cache *c)
{
	char path[4200];
	int fd;

	cache_path(c, path, sizeof(path), "locks/blobs.lock");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	while (fd >= 0 && flock(fd, LOCK_SH) < 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

/*
 * Blobs no image refers to: the layers of registry pulls (kept to share
 * between pulls and resume from) and the configs of removed images. A
 * build holding blobs.lock may be writing one its image will refer to
 * only when it publishes: then nothing is freed now.
 */
static void cache__prune_blobs(const struct cache *c, uint64_t *bytes)
{
	struct pupa_err ignore = { 0 };
	char dir[4200], path[4500];
	struct cache_meta *v = NULL;
	struct dirent *de;
	size_t n = 0;
	int fd;
	DIR *d;

	cache_path(c, path, sizeof(path), "locks/blobs.lock");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || cache__all(c, &v, &n, &ignore) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
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
		if (used || lstat(path, &st) < 0)
			continue;
		if (unlink(path) == 0 && bytes)
			*bytes += (uint64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	free(v);
	close(fd);
}

/* ---- rmi ----------------------------------------------------------------------------- */

static void cache__say_deleted(const struct cache_meta *m,
			       void (*say)(void *, enum cache_removed, const char *), void *opaque)
{
	char text[DIGEST_HEX_LEN + 8];

	for (size_t i = 0; i < m->n_names; i++)
		say(opaque, CACHE_UNTAGGED, m->names[i]);
	snprintf(text, sizeof(text), "sha256:%s", m->digest);
	say(opaque, CACHE_DELETED, text);
}

/* rmi by name: the name goes from every image that has it (one, unless a
 * cache from before names had the same source twice). 1: no image has it. */
static int cache__remove_name(const struct cache *c, struct cache_meta *v, size_t n,
			      const char *what, const char *canonical,
			      void (*say)(void *, enum cache_removed, const char *), void *opaque,
			      int *deleted, struct pupa_err *err)
{
	int matched = 0, ret = 0;

	for (size_t i = 0; ret == 0 && i < n; i++) {
		const char *name = cache__has_name(&v[i], what) ? what :
				   cache__has_name(&v[i], canonical) ? canonical : NULL;

		if (!name)
			continue;
		matched++;
		if (v[i].n_names > 1) {
			ret = cache__edit_names(c, v[i].digest, NULL, name, err);
			if (ret == 0)
				say(opaque, CACHE_UNTAGGED, name);
		} else if ((ret = cache__remove_image(c, &v[i], err)) == 0) {
			cache__say_deleted(&v[i], say, opaque);
			(*deleted)++;
		}
	}
	return ret < 0 ? ret : !matched;
}

static int cache__remove_digest(const struct cache *c, struct cache_meta *v, size_t n,
				const char *what,
				void (*say)(void *, enum cache_removed, const char *), void *opaque,
				int *deleted, struct pupa_err *err)
{
	const char *hex = strncmp(what, "sha256:", 7) == 0 ? what + 7 : what;
	size_t len = strlen(hex), matches = 0, hit = 0;
	int ret;

	if (len > 0 && len < 4 && strspn(hex, "0123456789abcdef") == len)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "'%s' is too short for a digest: give at least 4 of its hex digits "
			       "(see pupa images)", what);
	for (size_t i = 0; len >= 4 && len <= DIGEST_HEX_LEN && i < n; i++)
		if (strncmp(v[i].digest, hex, len) == 0) {
			hit = i;
			matches++;
		}
	if (matches == 0)
		return mgr_err(err, GUEST_MANAGER_ERR_NOT_RUNNING,
			       "no image '%s' in the cache %s (see pupa images)", what, c->dir);
	if (matches > 1)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "'%s' matches %zu images: give more of the digest", what, matches);
	ret = cache__remove_image(c, &v[hit], err);
	if (ret == 0) {
		cache__say_deleted(&v[hit], say, opaque);
		(*deleted)++;
	}
	return ret;
}

int cache_remove(const struct cache *c, const char *what, const char *canonical,
		 void (*say)(void *opaque, enum cache_removed what, const char *text),
		 void *opaque, struct pupa_err *err)
{
	struct cache_meta *v;
	size_t n;
	int ret, deleted = 0, fd = cache__names_locked(c, &v, &n, err);

	if (fd < 0)
		return fd;
	ret = cache__remove_name(c, v, n, what, canonical, say, opaque, &deleted, err);
	if (ret == 1)
		ret = cache__remove_digest(c, v, n, what, say, opaque, &deleted, err);
	cache__all_free(v, n);
	close(fd);
	if (deleted)
		cache__prune_blobs(c, NULL);
	return ret;
}

/* ---- prune --------------------------------------------------------------------------- */

int cache_prune_takes(const struct cache_meta *m, enum cache_prune_scope scope)
{
	return scope == CACHE_PRUNE_UNUSED || m->n_names == 0;
}

/* Partial downloads whose pull is not running (its lock is free). */
static void cache__prune_partial(const struct cache *c, uint64_t *bytes)
{
	char dir[4200], path[4500];
	struct dirent *de;
	DIR *d;

	cache_path(c, dir, sizeof(dir), "partial");
	d = opendir(dir);
	if (!d)
		return;
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
}

int cache_prune(const struct cache *c, enum cache_prune_scope scope, unsigned int *images,
		uint64_t *bytes, struct pupa_err *err)
{
	struct cache_meta *v;
	size_t n;
	int fd;

	*images = 0;
	*bytes = 0;
	/* Names are not edited meanwhile: an image named right now stays. */
	fd = cache__names_locked(c, &v, &n, err);
	if (fd < 0)
		return fd;
	for (size_t i = 0; i < n; i++) {
		struct pupa_err ignore = { 0 };

		if (cache_prune_takes(&v[i], scope) && cache__remove_image(c, &v[i], &ignore) == 0) {
			(*images)++;
			*bytes += v[i].disk;
		}
	}
	cache__all_free(v, n);
	close(fd);
	cache__prune_partial(c, bytes);
	cache__prune_blobs(c, bytes);
	return 0;
}
