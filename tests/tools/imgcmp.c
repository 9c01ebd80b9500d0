/*
 * imgcmp [--no-dir-mtime] ARCHIVE IMAGE: does the ext4 image hold exactly what the tar
 * archive says? Every entry is compared, read back through libext2fs: type,
 * permissions, owner, group, mtime (with nanoseconds), size, SHA-256 of the
 * content, symlink target, device numbers, hard links (same inode),
 * extended attributes and POSIX ACLs. A later entry with the same path wins, as in tar.
 * Nothing may be in the image that the archive does not name or imply.
 * Prints one line per difference and a summary; exits 1 on any difference.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <archive.h>
#include <archive_entry.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <openssl/evp.h>

#include "../../container/image/acl.h"
#include "../../container/image/pathmap.h"
#include "../../container/image/unpack.h"

struct want {
	char *path;
	struct archive_entry *e;	/* a clone */
	unsigned char sha[32];
	char *hardlink;			/* normalized target */
	unsigned int gen;		/* times this path was replaced */
	unsigned int target_gen;	/* hard links: the target's gen then */
};

static struct want *wants;
static size_t nwants, cap;
static struct pathmap index_of;		/* path -> position in wants */
static struct pathmap ancestors;	/* directories the archive implies */
static unsigned long diffs;

static void diff(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff(const char *path, const char *fmt, ...)
{
	va_list ap;

	printf("DIFF %s: ", path);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	diffs++;
}

static struct want *want_slot(const char *path)
{
	struct pathmap_ent *pe = pathmap_get(&index_of, path, strlen(path));

	if (pe) {
		struct want *w = &wants[pe->ino];

		archive_entry_free(w->e);
		free(w->hardlink);
		w->hardlink = NULL;
		w->gen++;
		return w;
	}
	pathmap_put(&index_of, path, strlen(path), (uint32_t)nwants, 0);
	if (nwants == cap) {
		cap = cap ? cap * 2 : 256;
		wants = realloc(wants, cap * sizeof(*wants));
	}
	memset(&wants[nwants], 0, sizeof(*wants));
	wants[nwants].path = strdup(path);
	return &wants[nwants++];
}

static int read_archive(const char *file)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char path[4096];
	const char *why;
	int rc;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK) {
		fprintf(stderr, "imgcmp: %s: %s\n", file, archive_error_string(a));
		return -1;
	}
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		const void *buf;
		size_t len;
		la_int64_t off;
		struct want *w;

		if (unpack_path_normalize(archive_entry_pathname(e), path, sizeof(path), &why) < 0) {
			fprintf(stderr, "imgcmp: %s: %s\n", archive_entry_pathname(e), why);
			return -1;
		}
		for (char *sl = strchr(path, '/'); sl; sl = strchr(sl + 1, '/'))
			pathmap_put(&ancestors, path, (size_t)(sl - path), 0, 0);
		w = want_slot(path);
		w->e = archive_entry_clone(e);
		if (archive_entry_hardlink(e)) {
			/* A hard link is the target's inode as it was then:
			 * take its expectations over. */
			char t[4096];
			struct pathmap_ent *pe;

			unpack_path_normalize(archive_entry_hardlink(e), t, sizeof(t), &why);
			pe = pathmap_get(&index_of, t, strlen(t));
			if (pe) {
				struct want *tw = &wants[pe->ino];

				w = &wants[pathmap_get(&index_of, path, strlen(path))->ino];
				archive_entry_free(w->e);
				w->e = archive_entry_clone(tw->e);
				memcpy(w->sha, tw->sha, sizeof(w->sha));
				w->target_gen = tw->gen;
				w->hardlink = strdup(t);
				EVP_MD_CTX_free(md);
				continue;
			}
			w->hardlink = strdup(t);
		}
		/* The content as a reader sees it: holes read as zeros. */
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		if (archive_entry_filetype(e) == AE_IFREG && !w->hardlink) {
			static const char zeros[65536];
			int64_t pos = 0;

			while (archive_read_data_block(a, &buf, &len, &off) == ARCHIVE_OK) {
				while (pos < off) {
					size_t z = (size_t)(off - pos) > sizeof(zeros) ? sizeof(zeros) : (size_t)(off - pos);

					EVP_DigestUpdate(md, zeros, z);
					pos += (int64_t)z;
				}
				EVP_DigestUpdate(md, buf, len);
				pos += (int64_t)len;
			}
			while (pos < archive_entry_size(e)) {
				size_t z = (size_t)(archive_entry_size(e) - pos) > sizeof(zeros) ?
					   sizeof(zeros) : (size_t)(archive_entry_size(e) - pos);

				EVP_DigestUpdate(md, zeros, z);
				pos += (int64_t)z;
			}
		}
		EVP_DigestFinal_ex(md, w->sha, NULL);
		EVP_MD_CTX_free(md);
	}
	if (rc != ARCHIVE_EOF) {
		fprintf(stderr, "imgcmp: %s: %s\n", file, archive_error_string(a));
		return -1;
	}
	archive_read_free(a);
	return 0;
}

static int image_sha(ext2_filsys fs, ext2_ino_t ino, unsigned char *sha)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ext2_file_t f;
	char buf[65536];
	unsigned int got;

	if (ext2fs_file_open(fs, ino, 0, &f))
		return -1;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (ext2fs_file_read(f, buf, sizeof(buf), &got) == 0 && got)
		EVP_DigestUpdate(md, buf, got);
	ext2fs_file_close(f);
	EVP_DigestFinal_ex(md, sha, NULL);
	EVP_MD_CTX_free(md);
	return 0;
}

/* The entry's POSIX ACLs against the image's system.posix_acl_* xattrs
 * (libext2fs reads them back in the kernel's xattr form). */
static void check_acls(struct ext2_xattr_handle *h, struct want *w)
{
	static const struct { int type; const char *name; } kinds[] = {
		{ ARCHIVE_ENTRY_ACL_TYPE_ACCESS, "system.posix_acl_access" },
		{ ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, "system.posix_acl_default" },
	};
	unsigned char want[ACL_XATTR_MAX];
	const char *why;

	for (size_t i = 0; i < 2; i++) {
		void *got = NULL;
		size_t len = 0, glen = 0;
		int have = ext2fs_xattr_get(h, kinds[i].name, &got, &glen) == 0;

		/* libext2fs gives the unnamed entries id 0, the kernel -1: either
		 * means none. */
		for (size_t off = 4; have && off + 8 <= glen; off += 8) {
			unsigned char *e = (unsigned char *)got + off;

			if (e[0] != 0x02 && e[0] != 0x08)
				memset(e + 4, 0xff, 4);
		}
		if (acl_xattr_from_entry(w->e, kinds[i].type, want, &len, &why) < 0)
			diff(w->path, "ACL not comparable: %s", why);
		else if (len && !have)
			diff(w->path, "%s missing", kinds[i].name);
		else if (len && (glen != len || memcmp(got, want, len) != 0))
			diff(w->path, "%s differs", kinds[i].name);
		else if (!len && have && !archive_entry_xattr_count(w->e))
			diff(w->path, "%s in the image, not in the archive", kinds[i].name);
		free(got);
	}
}

static void check_xattrs(ext2_filsys fs, ext2_ino_t ino, struct want *w)
{
	struct ext2_xattr_handle *h;
	const char *name;
	const void *value;
	size_t size;

	if (ext2fs_xattrs_open(fs, ino, &h) || ext2fs_xattrs_read(h)) {
		diff(w->path, "cannot read xattrs");
		return;
	}
	check_acls(h, w);
	if (archive_entry_xattr_reset(w->e) == 0) {
		ext2fs_xattrs_close(&h);
		return;
	}
	while (archive_entry_xattr_next(w->e, &name, &value, &size) == ARCHIVE_OK) {
		void *got = NULL;
		size_t glen = 0;

		if (ext2fs_xattr_get(h, name, &got, &glen))
			diff(w->path, "xattr %s missing", name);
		else if (glen != size || memcmp(got, value, size) != 0)
			diff(w->path, "xattr %s differs", name);
		free(got);
	}
	ext2fs_xattrs_close(&h);
}

/*
 * --no-dir-mtime: a reference tree unpacked on a real file system (umoci)
 * has the mtime of every directory a whiteout removed something from set
 * to the time of the removal; the image keeps the layer's own mtime.
 */
static int dir_mtimes = 1;

static void check_one(ext2_filsys fs, struct want *w)
{
	struct archive_entry *e = w->e;
	struct ext2_inode_large in;
	ext2_ino_t ino, tino;
	const char *p = *w->path ? w->path : ".";
	unsigned int type;

	if (ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, p, &ino)) {
		diff(w->path, "missing from the image");
		return;
	}
	if (w->hardlink) {
		struct pathmap_ent *pe = pathmap_get(&index_of, w->hardlink, strlen(w->hardlink));

		/* Same inode, unless the target's name was taken over later. */
		if (pe && wants[pe->ino].gen == w->target_gen &&
		    (ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, w->hardlink, &tino) || tino != ino))
			diff(w->path, "not a hard link to %s", w->hardlink);
	}
	ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)&in, sizeof(in));
	type = archive_entry_filetype(e);
	if ((in.i_mode & S_IFMT) != type) {
		diff(w->path, "type 0%o, archive 0%o", in.i_mode & S_IFMT, type);
		return;
	}
	if ((in.i_mode & 07777) != (archive_entry_mode(e) & 07777) && type != AE_IFLNK)
		diff(w->path, "mode 0%o, archive 0%o", in.i_mode & 07777, archive_entry_mode(e) & 07777);
	/* A symlink's mode is 0777 on Linux, whatever the archive says. */
	if (type == AE_IFLNK && (in.i_mode & 07777) != 0777)
		diff(w->path, "symlink mode 0%o, not 0777", in.i_mode & 07777);
	if (inode_uid(in) != (uint32_t)archive_entry_uid(e))
		diff(w->path, "uid %u, archive %" PRId64, inode_uid(in), (int64_t)archive_entry_uid(e));
	if (inode_gid(in) != (uint32_t)archive_entry_gid(e))
		diff(w->path, "gid %u, archive %" PRId64, inode_gid(in), (int64_t)archive_entry_gid(e));
	if (type == AE_IFDIR && !dir_mtimes) {
		/* not compared: see --no-dir-mtime */
	} else if (in.i_mtime != (uint32_t)archive_entry_mtime(e) ||
	    (in.i_mtime_extra >> 2) != (uint32_t)archive_entry_mtime_nsec(e))
		diff(w->path, "mtime %u.%09u, archive %lld.%09ld", in.i_mtime, in.i_mtime_extra >> 2,
		     (long long)archive_entry_mtime(e), archive_entry_mtime_nsec(e));
	switch (type) {
	case AE_IFREG: {
		unsigned char sha[32];

		if (EXT2_I_SIZE(&in) != (uint64_t)archive_entry_size(e))
			diff(w->path, "size %llu, archive %" PRId64,
			     (unsigned long long)EXT2_I_SIZE(&in), (int64_t)archive_entry_size(e));
		else if (image_sha(fs, ino, sha) < 0 || memcmp(sha, w->sha, 32) != 0)
			diff(w->path, "content differs");
		break;
	}
	case AE_IFLNK: {
		char target[4096] = "";
		const char *want = archive_entry_symlink(e);

		if (ext2fs_is_fast_symlink((struct ext2_inode *)&in)) {
			memcpy(target, in.i_block, EXT2_I_SIZE(&in));
		} else {
			ext2_file_t f;
			unsigned int got = 0;

			if (!ext2fs_file_open(fs, ino, 0, &f)) {
				ext2fs_file_read(f, target, sizeof(target) - 1, &got);
				ext2fs_file_close(f);
			}
			target[got] = '\0';
		}
		if (strcmp(target, want) != 0)
			diff(w->path, "symlink to '%s', archive '%s'", target, want);
		break;
	}
	case AE_IFCHR:
	case AE_IFBLK: {
		unsigned int ma, mi;

		if (in.i_block[0]) {
			ma = in.i_block[0] >> 8;
			mi = in.i_block[0] & 0xff;
		} else {
			ma = (in.i_block[1] & 0xfff00) >> 8;
			mi = (in.i_block[1] & 0xff) | ((in.i_block[1] >> 12) & 0xfff00);
		}
		if (ma != archive_entry_rdevmajor(e) || mi != archive_entry_rdevminor(e))
			diff(w->path, "device %u:%u, archive %u:%u", ma, mi,
			     (unsigned int)archive_entry_rdevmajor(e),
			     (unsigned int)archive_entry_rdevminor(e));
		break;
	}
	}
	check_xattrs(fs, ino, w);
}

/* Nothing in the image that the archive does not have (a whiteout's target, say). */
struct walk {
	char (*queue)[4096];
	ext2_ino_t *inos;
	size_t n, cap, dir;
};

static int extra_entry(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
		       int blocksize, char *buf, void *priv)
{
	struct walk *w = priv;
	const char *parent = w->queue[w->dir];
	int len = ext2fs_dirent_name_len(d);
	char path[4096];

	(void)dir, (void)offset, (void)blocksize, (void)buf;
	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
		return 0;
	snprintf(path, sizeof(path), "%s%s%.*s", parent, *parent ? "/" : "", len, d->name);
	if (!*parent && strcmp(path, "lost+found") == 0)
		return 0;
	if (!pathmap_get(&index_of, path, strlen(path)) && !pathmap_get(&ancestors, path, strlen(path)))
		diff(path, "in the image, not in the archive");
	if (ext2fs_dirent_file_type(d) == EXT2_FT_DIR) {
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 64;
			w->queue = realloc(w->queue, w->cap * sizeof(*w->queue));
			w->inos = realloc(w->inos, w->cap * sizeof(*w->inos));
		}
		snprintf(w->queue[w->n], sizeof(w->queue[0]), "%s", path);
		w->inos[w->n++] = d->inode;
	}
	return 0;
}

static void check_extras(ext2_filsys fs)
{
	struct walk w = { 0 };

	w.cap = 64;
	w.queue = malloc(w.cap * sizeof(*w.queue));
	w.inos = malloc(w.cap * sizeof(*w.inos));
	w.queue[0][0] = '\0';
	w.inos[0] = EXT2_ROOT_INO;
	w.n = 1;
	for (w.dir = 0; w.dir < w.n; w.dir++)
		ext2fs_dir_iterate2(fs, w.inos[w.dir], 0, NULL, extra_entry, &w);
	free(w.queue);
	free(w.inos);
}

int main(int argc, char **argv)
{
	ext2_filsys fs;

	if (argc == 4 && strcmp(argv[1], "--no-dir-mtime") == 0) {
		dir_mtimes = 0;
		argv++;
		argc--;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: imgcmp [--no-dir-mtime] ARCHIVE IMAGE\n");
		return 2;
	}
	pathmap_init(&index_of);
	pathmap_init(&ancestors);
	if (read_archive(argv[1]) < 0)
		return 2;
	if (ext2fs_open(argv[2], EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs)) {
		fprintf(stderr, "imgcmp: cannot open %s\n", argv[2]);
		return 2;
	}
	for (size_t i = 0; i < nwants; i++)
		check_one(fs, &wants[i]);
	check_extras(fs);
	ext2fs_close_free(&fs);
	printf("imgcmp: %zu entries compared, %lu differences\n", nwants, diffs);
	return diffs ? 1 : 0;
}
