/*
 * The ext4 writer. mke2fs formats an empty sparse file; libext2fs fills it.
 * We do our own directory bookkeeping (pathmap) so nothing ever scans a
 * directory to find a name, and we write whole inodes at once (times with
 * nanoseconds, 32-bit owners) instead of patching what library helpers
 * create.
 *
 * Without a size from the user, the image starts large and sparse (costs
 * nothing until written) and is shrunk by resize2fs at the end: the
 * uncompressed size of a streamed archive is unknown until it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

#include "ext4_image.h"
#include "ext4_image_impl.h"
#include "pathmap.h"
#include "run_tool.h"

/* Room left for the container to write, beyond what the archive holds. */
#define EXT4_IMAGE_HEADROOM (1ull << 30)
/*
 * Every this many bytes of file data, the image's writeback starts: the
 * disk works while the archive is still decompressing, and publishing the
 * image (its fsync) does not wait for all of it at the end. Measured on a
 * minbase pull: 1.07 s against 1.22 s; 16 MiB did better than 4 or 64.
 */
#define EXT4_IMAGE_WRITEBACK (16ull << 20)
/* Files up to this size get their blocks in one allocation. */
#define EXT4_IMAGE_PREALLOC_MAX (32ull << 20)
/* ext4's limit on links to one inode (dir_nlink counts directories as 1 beyond it). */
#define EXT4_IMAGE_LINK_MAX 65000

static const char *ext4_image__strerror(errcode_t rc)
{
	return error_message(rc);
}

/* Map a library error to ours: full devices are NoStorage, full images are
 * the image size the user chose or our limit. */
int ext4_image__fail(struct ext4_image *img, errcode_t rc, const char *what,
		     const char *path, struct pupa_err *err)
{
	if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG)
		return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE,
			       "no space left writing the image %s (%s, at entry '%s'): "
			       "persistent storage could not be allocated; free space or "
			       "choose another --cache-dir", img->path,
			       ext4_image__strerror(rc), path);
	if (rc == EXT2_ET_BLOCK_ALLOC_FAIL || rc == EXT2_ET_INODE_ALLOC_FAIL ||
	    rc == EXT2_ET_DIR_NO_SPACE_FOR_CSUM)
		return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE,
			       "the image is full at entry '%s' (%s)%s", path,
			       ext4_image__strerror(rc),
			       img->sized_by_user ? ": choose a larger --image-size" : "");
	return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
		       "writing entry '%s' into %s: %s: %s", path, img->path, what,
		       ext4_image__strerror(rc));
}

static int ext4_image__format(const char *path, uint64_t bytes, uint64_t inodes,
			      struct pupa_err *err)
{
	char size[32], out[512], n[32];
	const char *argv[24];
	int rc, i = 0;

	snprintf(size, sizeof(size), "%" PRIu64 "k", bytes / 1024);
	snprintf(n, sizeof(n), "%" PRIu64, inodes);
	argv[i++] = "mke2fs";
	argv[i++] = "-q";
	argv[i++] = "-F";
	argv[i++] = "-t";
	argv[i++] = "ext4";
	argv[i++] = "-b";
	argv[i++] = "4096";
	argv[i++] = "-m";
	argv[i++] = "0";
	/* No journal: the image is built once and used volatile or as a
	 * private copy. Lazy inode tables keep the file sparse. */
	argv[i++] = "-O";
	argv[i++] = "^has_journal";
	argv[i++] = "-E";
	argv[i++] = "lazy_itable_init=1,nodiscard";
	argv[i++] = "-L";
	argv[i++] = "pupa-rootfs";
	if (inodes) {
		argv[i++] = "-N";
		argv[i++] = n;
	}
	argv[i++] = path;
	argv[i++] = size;
	argv[i] = NULL;
	rc = run_tool(argv, out, sizeof(out));
	if (rc == 0)
		return 0;
	if (strstr(out, "space") || rc == -ENOSPC)
		return mgr_err(err, GUEST_MANAGER_ERR_NO_STORAGE,
			       "formatting %s: %s: persistent storage could not be allocated",
			       path, out);
	return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
		       "mke2fs failed on %s (status %d): %s", path, rc, out);
}

int ext4_image_create(const char *path, uint64_t bytes, uint64_t inodes, int fixed_size,
		      struct ext4_image **out, struct pupa_err *err)
{
	struct ext4_image *img;
	ext2_ino_t lf;
	errcode_t rc;
	int ret;

	*out = NULL;
	initialize_ext2_error_table();
	if (bytes < (8u << 20))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "image size %" PRIu64 " bytes is too small (8 MiB at least)", bytes);
	if (truncate(path, (off_t)bytes) < 0)
		return mgr_err(err, errno == ENOSPC || errno == EFBIG ?
			       GUEST_MANAGER_ERR_NO_STORAGE : GUEST_MANAGER_ERR_START_FAILURE,
			       "cannot size %s to %" PRIu64 " bytes: %s", path, bytes,
			       strerror(errno));
	ret = ext4_image__format(path, bytes, inodes, err);
	if (ret < 0)
		return ret;

	img = calloc(1, sizeof(*img));
	if (!img)
		goto nomem;
	img->sync_fd = -1;
	if (!(img->path = strdup(path)) || pathmap_init(&img->map) < 0)
		goto nomem;
	img->now = time(NULL);
	img->sized_by_user = fixed_size;
	img->sync_fd = open(path, O_RDONLY | O_CLOEXEC);	/* only a speed-up: may fail */
	rc = ext2fs_open(path, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &img->fs);
	if (rc) {
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "opening the new image %s: %s",
			      path, ext4_image__strerror(rc));
		goto fail;
	}
	rc = ext2fs_read_bitmaps(img->fs);
	if (rc) {
		ret = ext4_image__fail(img, rc, "reading bitmaps", "", err);
		goto fail;
	}
	if (!pathmap_put(&img->map, "", 0, EXT2_ROOT_INO, LINUX_S_IFDIR | 0755))
		goto nomem;
	if (ext2fs_lookup(img->fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &lf) == 0 &&
	    !pathmap_put(&img->map, "lost+found", 10, lf, LINUX_S_IFDIR | 0700))
		goto nomem;
	*out = img;
	return 0;
nomem:
	ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory creating %s", path);
fail:
	if (img) {
		if (img->fs)
			ext2fs_free(img->fs);
		if (img->sync_fd >= 0)
			close(img->sync_fd);
		pathmap_free(&img->map);
		free(img->path);
		free(img);
	}
	return ret;
}

static uint32_t ext4_image__xtime_extra(int64_t sec, uint32_t ns)
{
	/* Two epoch bits extend the 32-bit seconds; the rest is nanoseconds. */
	uint32_t epoch = (uint32_t)(((sec - (int32_t)sec) >> 32) & 3);

	return (ns << 2) | epoch;
}

static int ext4_image__ftype(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return EXT2_FT_REG_FILE;
	case S_IFDIR: return EXT2_FT_DIR;
	case S_IFLNK: return EXT2_FT_SYMLINK;
	case S_IFCHR: return EXT2_FT_CHRDEV;
	case S_IFBLK: return EXT2_FT_BLKDEV;
	case S_IFIFO: return EXT2_FT_FIFO;
	case S_IFSOCK: return EXT2_FT_SOCK;
	}
	return EXT2_FT_UNKNOWN;
}

/* Owner, mode and times of meta into an inode; the rest is untouched. */
static void ext4_image__apply_meta(struct ext4_image *img, struct ext2_inode_large *in,
				   const struct ext4_meta *meta)
{
	in->i_mode = (uint16_t)meta->mode;
	in->i_uid = (uint16_t)meta->uid;
	ext2fs_set_i_uid_high(*in, meta->uid >> 16);
	in->i_gid = (uint16_t)meta->gid;
	ext2fs_set_i_gid_high(*in, meta->gid >> 16);
	in->i_atime = (uint32_t)meta->atime;
	in->i_mtime = (uint32_t)meta->mtime;
	in->i_ctime = (uint32_t)meta->ctime;
	if (in->i_extra_isize >= 24) {
		in->i_atime_extra = ext4_image__xtime_extra(meta->atime, meta->atime_ns);
		in->i_mtime_extra = ext4_image__xtime_extra(meta->mtime, meta->mtime_ns);
		in->i_ctime_extra = ext4_image__xtime_extra(meta->ctime, meta->ctime_ns);
	}
	(void)img;
}

static void ext4_image__new_inode_init(struct ext4_image *img, struct ext2_inode_large *in,
				       const struct ext4_meta *meta)
{
	uint16_t want = img->fs->super->s_want_extra_isize;

	memset(in, 0, sizeof(*in));
	in->i_extra_isize = want && want <= sizeof(*in) - EXT2_GOOD_OLD_INODE_SIZE ?
			    want : sizeof(*in) - EXT2_GOOD_OLD_INODE_SIZE;
	in->i_links_count = 1;
	if (in->i_extra_isize >= 28) {
		in->i_crtime = (uint32_t)img->now;
		in->i_crtime_extra = ext4_image__xtime_extra(img->now, 0);
	}
	ext4_image__apply_meta(img, in, meta);
}

int ext4_image__write_inode(struct ext4_image *img, ext2_ino_t ino,
			    struct ext2_inode_large *in, const char *path, struct pupa_err *err)
{
	errcode_t rc = ext2fs_write_inode_full(img->fs, ino, (struct ext2_inode *)in, sizeof(*in));

	return rc ? ext4_image__fail(img, rc, "writing the inode", path, err) : 0;
}

static int ext4_image__link(struct ext4_image *img, ext2_ino_t dir, const char *name,
			    ext2_ino_t ino, uint32_t mode, const char *path,
			    struct pupa_err *err)
{
	errcode_t rc = ext2fs_link(img->fs, dir, name, ino, ext4_image__ftype(mode));

	if (rc == EXT2_ET_DIR_NO_SPACE) {
		rc = ext2fs_expand_dir(img->fs, dir);
		if (!rc)
			rc = ext2fs_link(img->fs, dir, name, ino, ext4_image__ftype(mode));
	}
	return rc ? ext4_image__fail(img, rc, "adding the directory entry", path, err) : 0;
}

static int ext4_image__make_dir(struct ext4_image *img, ext2_ino_t parent, const char *name,
				const char *path, size_t len, const struct ext4_meta *meta,
				struct pupa_err *err);

/* Note a new entry in the path map, the one place whose memory the archive
 * could otherwise grow without limit (implied directories repeat every
 * prefix of a deep path). */
static int ext4_image__remember(struct ext4_image *img, const char *path, size_t len,
				ext2_ino_t ino, uint32_t mode, struct pupa_err *err)
{
	/* The name may be as long as the message: keep the reason in view. */
	int shown = len > 200 ? 200 : (int)len;
	const char *more = len > 200 ? "..." : "";

	struct pathmap_ent *e = pathmap_put(&img->map, path, len, ino, (uint16_t)mode);

	if (e) {
		e->layer = img->layer;
		img->last_ino = ino;
		return 0;
	}
	if (errno == E2BIG)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%.*s%s': refused, the image's paths would take more than "
			       "%zu bytes (--limit names=)", shown, path, more, img->map.max_bytes);
	return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory at '%.*s%s'",
		       shown, path, more);
}

/* The directory an entry's path may be created in: it must be one, and
 * never a symlink (the path would leave the tree the map describes). */
static int ext4_image__check_dir(const struct pathmap_ent *e, const char *path,
				 struct pupa_err *err)
{
	if (LINUX_S_ISLNK(e->mode))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': refused, its path goes through the symlink '%s' "
			       "(entries are confined to the image root)", path, e->path);
	if (!LINUX_S_ISDIR(e->mode))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': '%s' is not a directory", path, e->path);
	return 0;
}

static int ext4_image__check_name(const char *name, size_t len, const char *path,
				  struct pupa_err *err)
{
	if (len == 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "entry '%s': empty name", path);
	if (len > EXT2_NAME_LEN)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': a name is longer than %d bytes", path, EXT2_NAME_LEN);
	return 0;
}

/*
 * Create the directories of path[0, plen) that the archive did not list.
 * A loop, not a recursion: the archive chooses the depth (one 4 KiB name
 * of 2048 components overflowed the stack when each level had a frame).
 * First up to the deepest directory that exists (the root always does),
 * then down, creating one level at a time in a copy of the prefix.
 */
static int ext4_image__implied_dirs(struct ext4_image *img, const char *path, size_t plen,
				    struct pupa_err *err)
{
	struct ext4_meta implied = {
		.mode = S_IFDIR | 0755,
		.atime = img->now, .mtime = img->now, .ctime = img->now,
	};
	struct pathmap_ent *e;
	size_t have = plen, end;
	char *prefix;
	int ret = 0;

	do {
		const char *s = memrchr(path, '/', have);

		have = s ? (size_t)(s - path) : 0;
	} while (have > 0 && !pathmap_get(&img->map, path, have));
	prefix = strndup(path, plen);
	if (!prefix)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory at '%s'", path);
	for (; have < plen && ret == 0; have = end) {
		size_t start = have ? have + 1 : 0;
		const char *s = memchr(prefix + start, '/', plen - start);

		end = s ? (size_t)(s - prefix) : plen;
		prefix[end] = '\0';
		e = pathmap_get(&img->map, prefix, have);
		ret = ext4_image__check_dir(e, prefix, err);
		if (ret == 0)
			ret = ext4_image__check_name(prefix + start, end - start, prefix, err);
		if (ret == 0)
			ret = ext4_image__make_dir(img, e->ino, prefix + start, prefix, end,
						   &implied, err);
		prefix[end] = '/';
	}
	free(prefix);
	return ret;
}

/*
 * The directory that holds path: its inode and the last component's name.
 * Missing directories are created the way tar does (0755, root). Never
 * through a symlink.
 */
static int ext4_image__parent(struct ext4_image *img, const char *path, ext2_ino_t *dir,
			      const char **name, struct pupa_err *err)
{
	const char *slash = strrchr(path, '/');
	size_t plen = slash ? (size_t)(slash - path) : 0;
	struct pathmap_ent *e;
	int ret;

	*name = slash ? slash + 1 : path;
	ret = ext4_image__check_name(*name, strlen(*name), path, err);
	if (ret < 0)
		return ret;
	e = pathmap_get(&img->map, path, plen);
	if (!e) {
		ret = ext4_image__implied_dirs(img, path, plen, err);
		if (ret < 0)
			return ret;
		e = pathmap_get(&img->map, path, plen);
	}
	ret = ext4_image__check_dir(e, path, err);
	if (ret < 0)
		return ret;
	*dir = e->ino;
	return 0;
}

/* Allocate an inode for a new non-directory entry and link it in. */
static int ext4_image__new_entry(struct ext4_image *img, ext2_ino_t dir, const char *name,
				 const char *path, uint32_t mode, ext2_ino_t *ino,
				 struct pupa_err *err)
{
	errcode_t rc = ext2fs_new_inode(img->fs, dir, (int)mode, NULL, ino);
	int ret;

	if (rc)
		return ext4_image__fail(img, rc, "allocating an inode", path, err);
	ext2fs_inode_alloc_stats2(img->fs, *ino, +1, 0);
	ret = ext4_image__remember(img, path, strlen(path), *ino, mode, err);
	if (ret < 0)
		return ret;
	return ext4_image__link(img, dir, name, *ino, mode, path, err);
}

static int ext4_image__make_dir(struct ext4_image *img, ext2_ino_t parent, const char *name,
				const char *path, size_t len, const struct ext4_meta *meta,
				struct pupa_err *err)
{
	struct ext2_inode_large in;
	struct ext2_inode pin;
	ext2_extent_handle_t eh;
	char *block = NULL;
	ext2_ino_t ino;
	blk64_t blk;
	errcode_t rc;
	int ret;

	rc = ext2fs_new_inode(img->fs, parent, LINUX_S_IFDIR | 0755, NULL, &ino);
	if (rc)
		return ext4_image__fail(img, rc, "allocating an inode", path, err);
	rc = ext2fs_new_block2(img->fs, ext2fs_find_inode_goal(img->fs, ino, NULL, 0), NULL, &blk);
	if (rc)
		return ext4_image__fail(img, rc, "allocating a block", path, err);
	rc = ext2fs_new_dir_block(img->fs, ino, parent, &block);
	if (!rc)
		rc = ext2fs_write_dir_block4(img->fs, blk, block, 0, ino);
	ext2fs_free_mem(&block);
	if (rc)
		return ext4_image__fail(img, rc, "writing the directory block", path, err);
	ext2fs_block_alloc_stats2(img->fs, blk, +1);
	ext2fs_inode_alloc_stats2(img->fs, ino, +1, 1);

	ext4_image__new_inode_init(img, &in, meta);
	in.i_links_count = 2;
	in.i_size = img->fs->blocksize;
	in.i_flags = EXT4_EXTENTS_FL;
	ext2fs_iblk_set(img->fs, (struct ext2_inode *)&in, 1);
	rc = ext2fs_extent_open2(img->fs, ino, (struct ext2_inode *)&in, &eh);
	if (!rc) {
		rc = ext2fs_extent_set_bmap(eh, 0, blk, 0);
		ext2fs_extent_free(eh);
	}
	if (rc)
		return ext4_image__fail(img, rc, "mapping the directory block", path, err);
	ret = ext4_image__write_inode(img, ino, &in, path, err);
	if (ret < 0)
		return ret;
	ret = ext4_image__remember(img, path, len, ino, meta->mode, err);
	if (ret < 0)
		return ret;
	ret = ext4_image__link(img, parent, name, ino, LINUX_S_IFDIR, path, err);
	if (ret < 0)
		return ret;
	/* The new directory's ".." links to the parent. */
	rc = ext2fs_read_inode(img->fs, parent, &pin);
	if (!rc) {
		pin.i_links_count = pin.i_links_count >= EXT4_IMAGE_LINK_MAX - 1 ?
				    1 : pin.i_links_count + 1;
		rc = ext2fs_write_inode(img->fs, parent, &pin);
	}
	return rc ? ext4_image__fail(img, rc, "updating the parent's link count", path, err) : 0;
}

/*
 * A later entry with the name of an earlier one replaces it, as tar does.
 * Returns 1 when path is an existing directory and the new entry one too
 * (then only its metadata changes). A directory is replaced only by a
 * later layer (the OCI rule), never within one archive.
 */
static int ext4_image__replace(struct ext4_image *img, ext2_ino_t dir, const char *name,
			       const char *path, uint32_t mode, struct pupa_err *err)
{
	struct pathmap_ent *e = pathmap_get(&img->map, path, strlen(path));
	ext2_ino_t ino;
	errcode_t rc;

	if (!e)
		return 0;
	if (LINUX_S_ISDIR(e->mode)) {
		if (S_ISDIR(mode))
			return 1;
		if (e->layer < img->layer) {
			int ret = ext4_image__prune(img, path, 0, err);

			if (ret < 0)
				return ret;
			if (!pathmap_get(&img->map, path, strlen(path)))
				return 0;
		}
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': refused, it would replace a directory%s", path,
			       img->layer ? " of the same layer" : "");
	}
	ino = e->ino;
	rc = ext2fs_unlink(img->fs, dir, name, ino, 0);
	if (rc)
		return ext4_image__fail(img, rc, "removing the replaced entry", path, err);
	pathmap_del(&img->map, path, strlen(path));
	return ext4_image__release(img, ino, path, err);
}

/* Parent lookup and replacement: what every kind of entry does first. */
static int ext4_image__prepare(struct ext4_image *img, const char *path, uint32_t mode,
			       ext2_ino_t *dir, const char **name, struct pupa_err *err)
{
	int ret;

	if (img->file)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "entry '%s' began before '%s' ended", path, img->file_path);
	if (*path == '\0')
		return S_ISDIR(mode) ? 1 : mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
						   "entry '/': the root must be a directory");
	ret = ext4_image__parent(img, path, dir, name, err);
	if (ret < 0)
		return ret;
	return ext4_image__replace(img, *dir, *name, path, mode, err);
}

int ext4_image_mkdir(struct ext4_image *img, const char *path, const struct ext4_meta *meta,
		     struct pupa_err *err)
{
	struct pathmap_ent *e;
	struct ext2_inode_large in;
	const char *name;
	ext2_ino_t dir;
	errcode_t rc;
	int ret;

	ret = ext4_image__prepare(img, path, meta->mode, &dir, &name, err);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return ext4_image__make_dir(img, dir, name, path, strlen(path), meta, err);

	/* It exists: the archive's entry sets its metadata. */
	e = pathmap_get(&img->map, path, strlen(path));
	e->mode = (uint16_t)meta->mode;
	e->layer = img->layer;
	img->last_ino = e->ino;
	rc = ext2fs_read_inode_full(img->fs, e->ino, (struct ext2_inode *)&in, sizeof(in));
	if (rc)
		return ext4_image__fail(img, rc, "reading the directory", path, err);
	ext4_image__apply_meta(img, &in, meta);
	return ext4_image__write_inode(img, e->ino, &in, path, err);
}

int ext4_image_symlink(struct ext4_image *img, const char *path, const char *target,
		       const struct ext4_meta *meta, struct pupa_err *err)
{
	struct ext2_inode_large in;
	size_t tlen = strlen(target);
	const char *name;
	ext2_ino_t dir, ino;
	errcode_t rc;
	int ret;

	if (tlen == 0 || tlen >= img->fs->blocksize)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': symlink target of %zu bytes (1 to %u allowed)",
			       path, tlen, img->fs->blocksize - 1);
	ret = ext4_image__prepare(img, path, S_IFLNK, &dir, &name, err);
	if (ret < 0)
		return ret;
	rc = ext2fs_new_inode(img->fs, dir, LINUX_S_IFLNK | 0777, NULL, &ino);
	if (rc)
		return ext4_image__fail(img, rc, "allocating an inode", path, err);
	/* ext2fs_symlink links the name, picks fast or slow storage and
	 * accounts for the inode; we then set owner and times. */
	rc = ext2fs_symlink(img->fs, dir, ino, name, target);
	if (rc == EXT2_ET_DIR_NO_SPACE) {
		rc = ext2fs_expand_dir(img->fs, dir);
		if (!rc)
			rc = ext2fs_symlink(img->fs, dir, ino, name, target);
	}
	if (rc)
		return ext4_image__fail(img, rc, "creating the symlink", path, err);
	ret = ext4_image__remember(img, path, strlen(path), ino, LINUX_S_IFLNK | 0777, err);
	if (ret < 0)
		return ret;
	rc = ext2fs_read_inode_full(img->fs, ino, (struct ext2_inode *)&in, sizeof(in));
	if (rc)
		return ext4_image__fail(img, rc, "reading the symlink", path, err);
	ext4_image__apply_meta(img, &in, meta);
	/* Linux ignores a symlink's mode and every extraction there gives 0777,
	 * whatever the archive says. */
	in.i_mode = LINUX_S_IFLNK | 0777;
	return ext4_image__write_inode(img, ino, &in, path, err);
}

int ext4_image_hardlink(struct ext4_image *img, const char *path, const char *target,
			struct pupa_err *err)
{
	struct pathmap_ent *t = pathmap_get(&img->map, target, strlen(target));
	struct ext2_inode_large in;
	uint32_t ino, mode;
	const char *name;
	ext2_ino_t dir;
	errcode_t rc;
	int ret;

	if (!t)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': hard link to '%s', which is not in the archive before it",
			       path, target);
	if (LINUX_S_ISDIR(t->mode))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': hard link to the directory '%s' refused", path, target);
	if (strcmp(path, target) == 0)
		return 0;
	ino = t->ino;
	mode = t->mode;
	ret = ext4_image__prepare(img, path, mode, &dir, &name, err);
	if (ret < 0)
		return ret;
	rc = ext2fs_read_inode_full(img->fs, ino, (struct ext2_inode *)&in, sizeof(in));
	if (rc)
		return ext4_image__fail(img, rc, "reading the link target", path, err);
	if (in.i_links_count == 0 || in.i_links_count >= EXT4_IMAGE_LINK_MAX)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': hard link to '%s', which has too many links "
			       "or was replaced", path, target);
	in.i_links_count++;
	ret = ext4_image__write_inode(img, ino, &in, path, err);
	if (ret < 0)
		return ret;
	ret = ext4_image__remember(img, path, strlen(path), ino, mode, err);
	if (ret < 0)
		return ret;
	return ext4_image__link(img, dir, name, ino, mode, path, err);
}

/* A new inode for a device, FIFO, socket or file, linked at path. */
static int ext4_image__add(struct ext4_image *img, const char *path, const struct ext4_meta *meta,
			   ext2_ino_t *ino, struct ext2_inode_large *in, struct pupa_err *err)
{
	const char *name;
	ext2_ino_t dir;
	int ret;

	ret = ext4_image__prepare(img, path, meta->mode, &dir, &name, err);
	if (ret < 0)
		return ret;
	ret = ext4_image__new_entry(img, dir, name, path, meta->mode, ino, err);
	if (ret < 0)
		return ret;
	ext4_image__new_inode_init(img, in, meta);
	return 0;
}

int ext4_image_mknod(struct ext4_image *img, const char *path, const struct ext4_meta *meta,
		     dev_t rdev, struct pupa_err *err)
{
	struct ext2_inode_large in;
	unsigned int major = major(rdev), minor = minor(rdev);
	ext2_ino_t ino;
	int ret;

	ret = ext4_image__add(img, path, meta, &ino, &in, err);
	if (ret < 0)
		return ret;
	if (S_ISCHR(meta->mode) || S_ISBLK(meta->mode)) {
		/* Linux's two encodings: 8:8 in block 0 when it fits, else the
		 * new 12:20 one in block 1 (the kernel reads both). */
		if (major < 256 && minor < 256)
			in.i_block[0] = major * 256 + minor;
		else
			in.i_block[1] = (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
	}
	return ext4_image__write_inode(img, ino, &in, path, err);
}

int ext4_image_file_begin(struct ext4_image *img, const char *path,
			  const struct ext4_meta *meta, uint64_t size, int sparse,
			  struct pupa_err *err)
{
	struct ext2_inode_large in;
	ext2_extent_handle_t eh;
	ext2_ino_t ino;
	errcode_t rc;
	int ret;

	ret = ext4_image__add(img, path, meta, &ino, &in, err);
	if (ret < 0)
		return ret;
	in.i_flags = EXT4_EXTENTS_FL;
	/* An empty extent tree in i_block, so the file can take blocks. */
	rc = ext2fs_extent_open2(img->fs, ino, (struct ext2_inode *)&in, &eh);
	if (rc)
		return ext4_image__fail(img, rc, "initializing extents", path, err);
	ext2fs_extent_free(eh);
	ret = ext4_image__write_inode(img, ino, &in, path, err);
	if (ret < 0)
		return ret;
	if (size && !sparse && size <= EXT4_IMAGE_PREALLOC_MAX) {
		/* Allocate the whole file at once: one contiguous run instead
		 * of a block at a time as writes arrive. Not for big files:
		 * their size is only the archive's word until the data comes
		 * (a decompression bomb must meet the ratio check first). */
		rc = ext2fs_fallocate(img->fs, EXT2_FALLOCATE_FORCE_INIT, ino, NULL,
				      ~0ULL, 0, (size + img->fs->blocksize - 1) / img->fs->blocksize);
		if (rc)
			return ext4_image__fail(img, rc, "allocating the file's blocks", path, err);
	}
	rc = ext2fs_file_open(img->fs, ino, EXT2_FILE_WRITE, &img->file);
	if (rc)
		return ext4_image__fail(img, rc, "opening the file", path, err);
	img->file_path = path;
	return 0;
}

int ext4_image_file_write(struct ext4_image *img, uint64_t offset, const void *buf,
			  size_t len, struct pupa_err *err)
{
	const char *p = buf;
	errcode_t rc;

	rc = ext2fs_file_llseek(img->file, offset, EXT2_SEEK_SET, NULL);
	while (!rc && len) {
		unsigned int chunk = len > (1u << 30) ? 1u << 30 : (unsigned int)len, done = 0;

		rc = ext2fs_file_write(img->file, p, chunk, &done);
		if (!rc && done == 0)
			rc = EXT2_ET_SHORT_WRITE;
		p += done;
		len -= done;
		img->data_bytes += done;
	}
	if (!rc && img->sync_fd >= 0 && img->data_bytes - img->flushed_at >= EXT4_IMAGE_WRITEBACK) {
		sync_file_range(img->sync_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		img->flushed_at = img->data_bytes;
	}
	return rc ? ext4_image__fail(img, rc, "writing data", img->file_path, err) : 0;
}

int ext4_image_file_end(struct ext4_image *img, uint64_t size, struct pupa_err *err)
{
	ext2_file_t f = img->file;
	const char *path = img->file_path;
	errcode_t rc, rc2;

	img->file = NULL;
	img->file_path = NULL;
	if (!f)
		return 0;
	rc = ext2fs_file_set_size2(f, size);
	rc2 = ext2fs_file_close(f);
	if (!rc)
		rc = rc2;
	return rc ? ext4_image__fail(img, rc, "finishing the file", path, err) : 0;
}

int ext4_image_xattr(struct ext4_image *img, const char *name, const void *value,
		     size_t len, struct pupa_err *err)
{
	struct ext2_xattr_handle *h;
	errcode_t rc;

	rc = ext2fs_xattrs_open(img->fs, img->last_ino, &h);
	if (rc)
		return ext4_image__fail(img, rc, "opening xattrs", name, err);
	rc = ext2fs_xattrs_read(h);
	if (!rc)
		rc = ext2fs_xattr_set(h, name, value, len);
	ext2fs_xattrs_close(&h);
	if (rc == EXT2_ET_EA_NO_SPACE || rc == EXT2_ET_EA_KEY_NOT_FOUND)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "extended attribute '%s' (%zu bytes) does not fit: %s",
			       name, len, ext4_image__strerror(rc));
	return rc ? ext4_image__fail(img, rc, "setting the extended attribute", name, err) : 0;
}

void ext4_image_limit_names(struct ext4_image *img, uint64_t bytes)
{
	img->map.max_bytes = bytes > SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

uint64_t ext4_image_data_bytes(const struct ext4_image *img)
{
	return img->data_bytes;
}

static void ext4_image__free(struct ext4_image *img)
{
	if (img->sync_fd >= 0)
		close(img->sync_fd);
	pathmap_free(&img->map);
	free(img->path);
	free(img);
}

void ext4_image_abort(struct ext4_image *img)
{
	if (!img)
		return;
	if (img->file)
		ext2fs_file_close(img->file);
	ext2fs_free(img->fs);
	ext4_image__free(img);
}

static int ext4_image__resize(const char *path, uint64_t bytes, struct pupa_err *err)
{
	const char *argv[] = { "resize2fs", "-f", path, NULL, NULL };
	char out[512], size[32];
	int rc;

	if (bytes) {
		snprintf(size, sizeof(size), "%" PRIu64 "K", bytes / 1024);
		argv[3] = size;
	} else {
		argv[2] = "-M";
		argv[3] = path;
	}
	rc = run_tool(argv, out, sizeof(out));
	return rc ? mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			    "resize2fs %s on %s failed (status %d): %s",
			    bytes ? size : "-M", path, rc, out) : 0;
}

static int ext4_image__size(const char *path, uint64_t *bytes, struct pupa_err *err)
{
	ext2_filsys fs;
	errcode_t rc = ext2fs_open(path, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);

	if (rc)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "reopening %s: %s",
			       path, ext4_image__strerror(rc));
	*bytes = ext2fs_blocks_count(fs->super) * (uint64_t)fs->blocksize;
	ext2fs_close_free(&fs);
	return 0;
}

int ext4_image_finish(struct ext4_image *img, struct pupa_err *err)
{
	ext2_filsys fs = img->fs;
	uint64_t used, min = 0;
	char path[PATH_MAX];
	int shrink = !img->sized_by_user;
	errcode_t rc;
	int ret;

	snprintf(path, sizeof(path), "%s", img->path);
	if (img->file)
		ext4_image_file_end(img, 0, err);
	used = (ext2fs_blocks_count(fs->super) - ext2fs_free_blocks_count(fs->super)) *
	       (uint64_t)fs->blocksize;
	rc = ext2fs_close2(fs, 0);
	img->fs = NULL;
	ext4_image__free(img);
	if (rc)
		return mgr_err(err, rc == ENOSPC ? GUEST_MANAGER_ERR_NO_STORAGE :
			       GUEST_MANAGER_ERR_START_FAILURE,
			       "writing the image %s: %s", path, ext4_image__strerror(rc));
	if (!shrink)
		return 0;
	/* The smallest image that holds the content (resize2fs also
	 * shortens the file), then grown back to leave room to write. */
	ret = ext4_image__resize(path, 0, err);
	if (ret == 0)
		ret = ext4_image__size(path, &min, err);
	if (ret == 0 && min < used + EXT4_IMAGE_HEADROOM)
		ret = ext4_image__resize(path, used + EXT4_IMAGE_HEADROOM, err);
	return ret;
}
