/*
 * Taking entries out of the image again, for image layers: a whiteout
 * hides a path of an earlier layer, an opaque directory hides everything
 * earlier layers put in it, and a later layer may put a file where an
 * earlier one had a directory. Inodes and blocks are given back through
 * libext2fs, so the image holds only what the container will see.
 *
 * A layer hides only what earlier layers wrote (the OCI image spec): each
 * path map entry records the layer that last wrote it, and what the
 * current layer wrote stays, whichever order its entries came in.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ext4_image.h"
#include "ext4_image_impl.h"

/* One entry below the path being pruned, found by reading directories. */
struct prune_item {
	char *path;
	size_t parent;		/* index of its directory in the list */
	ext2_ino_t ino;
	uint16_t mode;
	uint32_t layer;
	size_t children;	/* entries still in it, for directories */
};

struct prune_list {
	struct prune_item *v;
	size_t n, cap;
};

struct prune_walk {
	struct ext4_image *img;
	struct prune_list *list;
	size_t dir;		/* the directory being read */
	int failed;		/* out of memory */
};

static int prune__push(struct prune_list *l, char *path, size_t parent,
		       const struct pathmap_ent *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct prune_item *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (struct prune_item){ .path = path, .parent = parent, .ino = e->ino,
					    .mode = e->mode, .layer = e->layer };
	return 0;
}

static void prune__free(struct prune_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
}

static int prune__entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *dirent, int offset,
			int blocksize, char *buf, void *priv)
{
	struct prune_walk *w = priv;
	struct prune_item *d = &w->list->v[w->dir];
	size_t nlen = (size_t)ext2fs_dirent_name_len(dirent), dlen = strlen(d->path);
	const struct pathmap_ent *e;
	char *path;

	(void)dir, (void)offset, (void)blocksize, (void)buf;
	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
		return 0;
	/* e2fsck wants the root's lost+found; no layer takes it away. */
	if (dlen == 0 && nlen == 10 && memcmp(dirent->name, "lost+found", 10) == 0)
		return 0;
	path = malloc(dlen + nlen + 2);
	if (!path) {
		w->failed = 1;
		return DIRENT_ABORT;
	}
	memcpy(path, d->path, dlen);
	path[dlen] = '/';
	memcpy(path + dlen + (dlen ? 1 : 0), dirent->name, nlen);
	path[dlen + (dlen ? 1 : 0) + nlen] = '\0';
	e = pathmap_get(&w->img->map, path, strlen(path));
	if (!e) {
		/* Every name we link is in the map; one that is not was never ours. */
		free(path);
		return 0;
	}
	if (prune__push(w->list, path, w->dir, e) < 0) {
		free(path);
		w->failed = 1;
		return DIRENT_ABORT;
	}
	/* The push may have moved the list. */
	w->list->v[w->dir].children++;
	return 0;
}

/* Everything at and below list->v[0], parents before children. */
static int prune__collect(struct ext4_image *img, struct prune_list *l, struct pupa_err *err)
{
	for (size_t i = 0; i < l->n; i++) {
		struct prune_walk w = { .img = img, .list = l, .dir = i };
		errcode_t rc;

		if (!LINUX_S_ISDIR(l->v[i].mode))
			continue;
		rc = ext2fs_dir_iterate2(img->fs, l->v[i].ino, 0, NULL, prune__entry, &w);
		if (w.failed)
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
				       "out of memory removing '%s'", l->v[0].path);
		if (rc)
			return ext4_image__fail(img, rc, "reading the directory", l->v[i].path, err);
	}
	return 0;
}

int ext4_image__release(struct ext4_image *img, ext2_ino_t ino, const char *path,
			struct pupa_err *err)
{
	struct ext2_inode_large in;
	int is_dir;
	errcode_t rc;

	rc = ext2fs_read_inode_full(img->fs, ino, (struct ext2_inode *)&in, sizeof(in));
	if (rc)
		return ext4_image__fail(img, rc, "reading the replaced inode", path, err);
	is_dir = LINUX_S_ISDIR(in.i_mode);
	/* A directory has one name; its count also holds "." and subdirectories. */
	if (!is_dir && in.i_links_count > 1) {
		in.i_links_count--;
		return ext4_image__write_inode(img, ino, &in, path, err);
	}
	if (ext2fs_inode_has_valid_blocks2(img->fs, (struct ext2_inode *)&in)) {
		rc = ext2fs_punch(img->fs, ino, (struct ext2_inode *)&in, NULL, 0, ~0ULL);
		if (rc)
			return ext4_image__fail(img, rc, "freeing the replaced file", path, err);
	}
	if (ext2fs_file_acl_block(img->fs, (struct ext2_inode *)&in)) {
		rc = ext2fs_free_ext_attr(img->fs, ino, &in);
		if (rc)
			return ext4_image__fail(img, rc, "freeing the replaced xattrs", path, err);
	}
	in.i_links_count = 0;
	in.i_dtime = (uint32_t)img->now;
	ext2fs_inode_alloc_stats2(img->fs, ino, -1, is_dir);
	return ext4_image__write_inode(img, ino, &in, path, err);
}

/* A directory lost a subdirectory: one ".." fewer points at it. */
static int prune__unlink_subdir(struct ext4_image *img, ext2_ino_t dir, const char *path,
				struct pupa_err *err)
{
	struct ext2_inode in;
	errcode_t rc = ext2fs_read_inode(img->fs, dir, &in);

	/* 1 means "too many to count" (dir_nlink): it stays so. */
	if (!rc && in.i_links_count > 2) {
		in.i_links_count--;
		rc = ext2fs_write_inode(img->fs, dir, &in);
	}
	return rc ? ext4_image__fail(img, rc, "updating the parent's link count", path, err) : 0;
}

/* Unlink one collected entry from its directory and give its inode back. */
static int prune__remove(struct ext4_image *img, struct prune_item *it, ext2_ino_t dir,
			 struct pupa_err *err)
{
	const char *slash = strrchr(it->path, '/');
	const char *name = slash ? slash + 1 : it->path;
	errcode_t rc = ext2fs_unlink(img->fs, dir, name, it->ino, 0);
	int ret;

	if (rc)
		return ext4_image__fail(img, rc, "removing the entry", it->path, err);
	if (LINUX_S_ISDIR(it->mode)) {
		ret = prune__unlink_subdir(img, dir, it->path, err);
		if (ret < 0)
			return ret;
	}
	ret = ext4_image__release(img, it->ino, it->path, err);
	if (ret < 0)
		return ret;
	pathmap_del(&img->map, it->path, strlen(it->path));
	return 0;
}

int ext4_image__prune(struct ext4_image *img, const char *path, int keep_top,
		      struct pupa_err *err)
{
	size_t len = strlen(path);
	const struct pathmap_ent *e = pathmap_get(&img->map, path, len);
	const struct pathmap_ent *pe;
	const char *slash = memrchr(path, '/', len);
	struct prune_list l = { 0 };
	ext2_ino_t top_dir;
	char *copy;
	int ret = 0;

	if (!e)
		return 0;
	pe = pathmap_get(&img->map, path, slash ? (size_t)(slash - path) : 0);
	if (!pe && !keep_top)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "entry '%s': its directory is not in the image", path);
	top_dir = pe ? pe->ino : 0;
	copy = strdup(path);
	if (!copy || prune__push(&l, copy, 0, e) < 0) {
		free(copy);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory removing '%s'", path);
	}
	ret = prune__collect(img, &l, err);
	/* Children before their directories: the list in reverse. A directory
	 * of an earlier layer goes only once nothing of this layer is in it. */
	for (size_t i = l.n; ret == 0 && i-- > 0;) {
		struct prune_item *it = &l.v[i];

		if (it->layer >= img->layer || (i == 0 && keep_top) ||
		    (LINUX_S_ISDIR(it->mode) && it->children))
			continue;
		ret = prune__remove(img, it, i ? l.v[it->parent].ino : top_dir, err);
		if (ret == 0 && i)
			l.v[it->parent].children--;
	}
	prune__free(&l);
	return ret;
}

void ext4_image_next_layer(struct ext4_image *img)
{
	img->layer++;
}

int ext4_image_whiteout(struct ext4_image *img, const char *path, struct pupa_err *err)
{
	if (img->file)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "whiteout '%s' began before '%s' ended", path, img->file_path);
	if (*path == '\0')
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "a whiteout of the root refused");
	return ext4_image__prune(img, path, 0, err);
}

int ext4_image_opaque(struct ext4_image *img, const char *dir, struct pupa_err *err)
{
	const struct pathmap_ent *e = pathmap_get(&img->map, dir, strlen(dir));

	if (img->file)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "opaque marker in '%s' began before '%s' ended", dir, img->file_path);
	if (!e)
		return 0;	/* nothing below to hide */
	if (!LINUX_S_ISDIR(e->mode))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "entry '%s': an opaque marker in something that is not a directory",
			       dir);
	return ext4_image__prune(img, dir, 1, err);
}
