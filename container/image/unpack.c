/*
 * libarchive reads; ext4_image writes. Nothing here touches a host path:
 * every name is resolved inside the image, so an archive can name anything
 * it likes and still only reach the image.
 *
 * Policy for hostile names, the same everywhere: absolute paths, ".."
 * components and paths through a symlink are refused with the entry's name,
 * and the whole unpack fails (a root filesystem with a hole in it is not
 * one to boot).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "acl.h"
#include "decompress.h"
#include "ext4_image.h"
#include "unpack.h"

void unpack_limits_default(struct unpack_limits *lim)
{
	lim->entries = 2000000;
	lim->path = 4095;
	lim->size = 64ull << 30;
	lim->ratio = 200;
	lim->ratio_after = 256ull << 20;
	/* 2 million entries of 256-byte paths; not entries * path (8 GiB). */
	lim->names = 512ull << 20;
}

static int unpack__parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int unpack_limit_parse(struct unpack_limits *lim, const char *spec, struct pupa_err *err)
{
	static const struct { const char *name; size_t off; } names[] = {
		{ "entries", offsetof(struct unpack_limits, entries) },
		{ "path", offsetof(struct unpack_limits, path) },
		{ "size", offsetof(struct unpack_limits, size) },
		{ "ratio", offsetof(struct unpack_limits, ratio) },
		{ "names", offsetof(struct unpack_limits, names) },
	};
	const char *eq = strchr(spec, '=');
	uint64_t v;

	for (size_t i = 0; eq && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) != (size_t)(eq - spec) ||
		    strncmp(spec, names[i].name, (size_t)(eq - spec)) != 0)
			continue;
		if (unpack__parse_size(eq + 1, &v) < 0 || v == 0)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--limit %s: '%s' is not a positive number", spec, eq + 1);
		*(uint64_t *)((char *)lim + names[i].off) = v;
		return 0;
	}
	return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
		       "--limit '%s': expected entries=N, path=N, size=BYTES, ratio=N "
		       "or names=BYTES", spec);
}

int unpack_path_normalize(const char *in, char *out, size_t outlen, const char **why)
{
	const char *p = in;
	size_t n = 0;

	if (*p == '/') {
		*why = "absolute path refused (entries are confined to the image root)";
		return -1;
	}
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			*why = "'..' component refused (entries are confined to the image root)";
			return -1;
		}
		if (len && !(len == 1 && p[0] == '.')) {
			if (n + (n ? 1 : 0) + len + 1 > outlen) {
				*why = "path too long";
				return -1;
			}
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p = *end ? end + 1 : end;
	}
	out[n] = '\0';
	return 0;
}

struct unpack_ctx {
	struct archive *a;
	struct ext4_image *img;
	const struct unpack_limits *lim;
	struct unpack_stats *stats;
	struct pupa_err *err;
	struct decompress *dec;
	int layer;		/* an image layer: whiteouts are markers */
	char path[PATH_MAX];
};

static la_ssize_t unpack__read_cb(struct archive *a, void *opaque, const void **buf)
{
	struct unpack_ctx *u = opaque;
	ssize_t n = decompress_read(u->dec, buf);

	if (n < 0)
		archive_set_error(a, EIO, "%s compressed data: %s", decompress_filter(u->dec),
				  decompress_error(u->dec) ? decompress_error(u->dec) : "source failed");
	return n;
}

static void unpack__meta(struct archive_entry *e, struct ext4_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->mode = archive_entry_mode(e);
	m->uid = (uint32_t)archive_entry_uid(e);
	m->gid = (uint32_t)archive_entry_gid(e);
	m->mtime = archive_entry_mtime(e);
	m->mtime_ns = (uint32_t)archive_entry_mtime_nsec(e);
	/* tar usually carries only mtime: let the others follow it. */
	m->atime = archive_entry_atime_is_set(e) ? archive_entry_atime(e) : m->mtime;
	m->atime_ns = archive_entry_atime_is_set(e) ? (uint32_t)archive_entry_atime_nsec(e) : m->mtime_ns;
	m->ctime = archive_entry_ctime_is_set(e) ? archive_entry_ctime(e) : m->mtime;
	m->ctime_ns = archive_entry_ctime_is_set(e) ? (uint32_t)archive_entry_ctime_nsec(e) : m->mtime_ns;
}

/* The compressed and uncompressed positions, for messages. */
static void unpack__where(struct unpack_ctx *u, char *buf, size_t len)
{
	snprintf(buf, len, "at archive offset %" PRId64 " (compressed offset %" PRId64 ")",
		 (int64_t)archive_filter_bytes(u->a, 0), (int64_t)decompress_consumed(u->dec));
}

static int unpack__archive_error(struct unpack_ctx *u, const char *entry)
{
	char where[128];
	const char *msg = archive_error_string(u->a);

	unpack__where(u, where, sizeof(where));
	if (entry)
		return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "corrupt or truncated archive in entry '%s' %s: %s",
			       entry, where, msg ? msg : "unknown error");
	return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
		       "corrupt or truncated archive after %" PRIu64 " entries %s: %s",
		       u->stats->entries, where, msg ? msg : "unknown error");
}

static int unpack__check_ratio(struct unpack_ctx *u, const char *entry)
{
	uint64_t out = (uint64_t)archive_filter_bytes(u->a, 0);
	uint64_t in = decompress_consumed(u->dec);

	if (out > u->lim->ratio_after && in && out / in > u->lim->ratio)
		return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': refused, the archive expands %" PRIu64 " times "
			       "(%" PRIu64 " bytes from %" PRIu64 "; limit ratio=%" PRIu64
			       "): a decompression bomb?", entry, out / in, out, in,
			       u->lim->ratio);
	return 0;
}

static int unpack__file(struct unpack_ctx *u, struct archive_entry *e,
			const struct ext4_meta *m)
{
	int64_t size = archive_entry_size(e);
	const void *buf;
	size_t len;
	la_int64_t off;
	int rc, ret;

	if (size < 0 || (uint64_t)size > u->lim->size ||
	    u->stats->data + (uint64_t)size > u->lim->size)
		return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': %" PRId64 " bytes would take the image past "
			       "the size limit of %" PRIu64 " bytes (--limit size=)",
			       u->path, size, u->lim->size);
	ret = ext4_image_file_begin(u->img, u->path, m, (uint64_t)size,
				    archive_entry_sparse_count(e) > 0, u->err);
	if (ret < 0)
		return ret;
	while ((rc = archive_read_data_block(u->a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off + len > (uint64_t)size)
			return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "entry '%s': data at offset %" PRId64 " beyond its size %" PRId64,
				       u->path, (int64_t)off, size);
		ret = ext4_image_file_write(u->img, (uint64_t)off, buf, len, u->err);
		if (ret < 0)
			return ret;
		ret = unpack__check_ratio(u, u->path);
		if (ret < 0)
			return ret;
	}
	if (rc != ARCHIVE_EOF)
		return unpack__archive_error(u, u->path);
	u->stats->data += (uint64_t)size;
	return ext4_image_file_end(u->img, (uint64_t)size, u->err);
}

/* POSIX ACLs, which libarchive keeps apart from the xattrs, as the
 * kernel's system.posix_acl_* xattrs. */
static int unpack__acls(struct unpack_ctx *u, struct archive_entry *e)
{
	static const struct { int type; const char *name; } kinds[] = {
		{ ARCHIVE_ENTRY_ACL_TYPE_ACCESS, "system.posix_acl_access" },
		{ ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, "system.posix_acl_default" },
	};
	unsigned char buf[ACL_XATTR_MAX];
	const char *why;
	size_t len;
	int ret;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (acl_xattr_from_entry(e, kinds[i].type, buf, &len, &why) < 0)
			return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "entry '%s': its %s ACL is not valid: %s", u->path,
				       i == 0 ? "access" : "default", why);
		if (!len)
			continue;
		ret = ext4_image_xattr(u->img, kinds[i].name, buf, len, u->err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int unpack__xattrs(struct unpack_ctx *u, struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;
	int ret;

	ret = unpack__acls(u, e);
	if (ret < 0)
		return ret;
	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		ret = ext4_image_xattr(u->img, name, value, size, u->err);
		if (ret < 0) {
			/* Say which entry the attribute belonged to. */
			char msg[sizeof(u->err->msg)];

			snprintf(msg, sizeof(msg), "%s", u->err->msg);
			snprintf(u->err->msg, sizeof(u->err->msg), "entry '%.256s': %.480s", u->path, msg);
			return ret;
		}
	}
	return 0;
}

/*
 * In a layer, ".wh.NAME" removes NAME of the layers below and
 * ".wh..wh..opq" empties its directory of them (the OCI image spec); other
 * ".wh..wh." names are aufs bookkeeping, not content. 1 when the entry was
 * such a marker (nothing to create), 0 when it is an ordinary entry.
 */
static int unpack__whiteout(struct unpack_ctx *u, const char *name)
{
	char *slash = strrchr(u->path, '/');
	char *base = slash ? slash + 1 : u->path;
	const char *dir = slash ? u->path : "";
	int ret;

	if (strncmp(base, ".wh.", 4) != 0)
		return 0;
	if (strcmp(base, ".wh..wh..opq") == 0) {
		if (slash)
			*slash = '\0';
		ret = ext4_image_opaque(u->img, dir, u->err);
	} else if (strncmp(base, ".wh..wh.", 8) == 0) {
		ret = 0;
	} else if (base[4] == '\0' || strcmp(base + 4, ".") == 0 || strcmp(base + 4, "..") == 0) {
		ret = mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
			      "entry '%s': refused, a whiteout that names no entry", name);
	} else {
		memmove(base, base + 4, strlen(base + 4) + 1);
		ret = ext4_image_whiteout(u->img, u->path, u->err);
	}
	return ret < 0 ? ret : 1;
}

static int unpack__entry(struct unpack_ctx *u, struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e), *why;
	const char *hardlink = archive_entry_hardlink(e);
	struct ext4_meta m;
	char target[PATH_MAX];
	int ret;

	if (!name)
		name = archive_entry_pathname_utf8(e);
	if (!name)
		return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry %" PRIu64 " has no readable path", u->stats->entries);
	if (++u->stats->entries > u->lim->entries)
		return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': refused, the archive has more than %" PRIu64
			       " entries (--limit entries=)", name, u->lim->entries);
	if (strlen(name) > u->lim->path)
		return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%.64s...': refused, its path is %zu bytes (limit %" PRIu64
			       ", --limit path=)", name, strlen(name), u->lim->path);
	if (unpack_path_normalize(name, u->path, sizeof(u->path), &why) < 0)
		return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG, "entry '%s': %s", name, why);
	/* Per header too, not only per data block: an archive of directories,
	 * links or empty files is all headers, and they compress well. */
	ret = unpack__check_ratio(u, u->path);
	if (ret < 0)
		return ret;

	if (u->layer) {
		ret = unpack__whiteout(u, name);
		if (ret != 0)
			return ret < 0 ? ret : 0;
	}
	unpack__meta(e, &m);
	if (hardlink) {
		if (unpack_path_normalize(hardlink, target, sizeof(target), &why) < 0)
			return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "entry '%s': hard link target '%s': %s", name, hardlink, why);
		return ext4_image_hardlink(u->img, u->path, target, u->err);
	}
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		ret = unpack__file(u, e, &m);
		break;
	case AE_IFDIR:
		ret = ext4_image_mkdir(u->img, u->path, &m, u->err);
		break;
	case AE_IFLNK: {
		const char *t = archive_entry_symlink(e);

		if (!t)
			t = archive_entry_symlink_utf8(e);
		ret = ext4_image_symlink(u->img, u->path, t ? t : "", &m, u->err);
		break;
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
	case AE_IFSOCK:
		ret = ext4_image_mknod(u->img, u->path, &m, archive_entry_rdev(e), u->err);
		break;
	default:
		return mgr_err(u->err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': unknown file type 0%o", name,
			       (unsigned int)archive_entry_filetype(e));
	}
	if (ret < 0)
		return ret;
	return unpack__xattrs(u, e);
}

static int unpack__run(struct ext4_image *img, const struct unpack_source *src,
		       const struct unpack_limits *lim, int layer, struct unpack_stats *stats,
		       struct pupa_err *err)
{
	struct unpack_ctx *u;
	struct archive_entry *e;
	int rc, ret = 0;

	memset(stats, 0, sizeof(*stats));
	u = calloc(1, sizeof(*u));
	if (!u)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	*u = (struct unpack_ctx){ .img = img, .lim = lim, .stats = stats, .err = err,
				  .layer = layer };
	ext4_image_limit_names(img, lim->names);
	ret = decompress_start(&u->dec, src, err);
	if (ret < 0) {
		free(u);
		return ret;
	}
	u->a = archive_read_new();
	if (!u->a) {
		decompress_stop(u->dec);
		free(u);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	}
	archive_read_support_format_tar(u->a);
	archive_read_support_format_empty(u->a);
	rc = archive_read_open(u->a, u, NULL, unpack__read_cb, NULL);
	if (rc != ARCHIVE_OK) {
		ret = err->code ? -(int)err->code :
		      mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "not a tar archive: %s",
			      archive_error_string(u->a));
		goto out;
	}
	while ((rc = archive_read_next_header(u->a, &e)) != ARCHIVE_EOF) {
		if (rc < ARCHIVE_WARN) {
			if (err->code)	/* the source's own error says more */
				ret = -(int)err->code;
			else if (u->stats->entries == 0 && archive_format(u->a) == 0)
				ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
					      "not a tar archive (%s compression): %s",
					      decompress_filter(u->dec),
					      archive_error_string(u->a));
			else
				ret = unpack__archive_error(u, NULL);
			goto out;
		}
		ret = unpack__entry(u, e);
		if (ret < 0)
			goto out;
	}
	/* Some image builders emit empty layers; a root filesystem is never empty. */
	if (stats->entries == 0 && !layer) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "the archive has no entries");
		goto out;
	}
	/* Take the rest of the stream (padding after the end marker), so all
	 * of the source is read, hashed, and checked by the decompressor. */
	{
		const void *rest;
		ssize_t n;

		while ((n = decompress_read(u->dec, &rest)) > 0)
			;
		if (n < 0) {
			ret = err->code ? -(int)err->code :
			      mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				      "corrupt data after the end of the archive: %s",
				      decompress_error(u->dec));
			goto out;
		}
	}
	stats->bytes = (uint64_t)archive_filter_bytes(u->a, 0);
out:
	archive_read_free(u->a);
	decompress_stop(u->dec);
	free(u);
	return ret;
}

int unpack_archive(struct ext4_image *img, const struct unpack_source *src,
		   const struct unpack_limits *lim, struct unpack_stats *stats,
		   struct pupa_err *err)
{
	return unpack__run(img, src, lim, 0, stats, err);
}

int unpack_layer(struct ext4_image *img, const struct unpack_source *src,
		 const struct unpack_limits *lim, struct unpack_stats *stats,
		 struct pupa_err *err)
{
	ext4_image_next_layer(img);
	return unpack__run(img, src, lim, 1, stats, err);
}
