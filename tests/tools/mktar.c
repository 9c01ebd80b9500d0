/*
 * mktar KIND OUT [none|gzip|xz|zstd|bzip2] [N]: the tarballs the tests
 * pull, written with libarchive so that no root is needed for owners,
 * devices or xattrs. Kinds:
 *
 *   types      every entry type, odd modes and owners, xattrs, sparse
 *   many       N empty files (default 100000) over a fan-out of directories
 *   bomb       one file of N MiB of zeros (default 1024)
 *   abs        an absolute path
 *   dotdot     a path with ".."
 *   symlink    a symlink to the directory N (a host path), then a file
 *              through it
 *   hardlink   a hard link whose target climbs out with ".."
 *   replace    names replaced by later entries of other types
 *   escape     an absolute path with terminal escapes in its name
 *   deep       one file whose path has N components "a/a/.../f" (default
 *              2048: 4095 bytes), none of its directories listed
 *   headers    N hard links (default 200000) with 200-byte names, 100
 *              to a directory, each to a file of its directory: all
 *              headers, no data
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <archive.h>
#include <archive_entry.h>

static struct archive *a;

static struct archive_entry *entry(const char *path, unsigned int mode, long uid, long gid)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_mode(e, mode);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	archive_entry_set_mtime(e, 1700000000 + (long)strlen(path), 123456789);
	return e;
}

static void put(struct archive_entry *e, const void *data, size_t len)
{
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		fprintf(stderr, "mktar: %s: %s\n", archive_entry_pathname(e), archive_error_string(a));
		exit(1);
	}
	if (len && archive_write_data(a, data, len) != (la_ssize_t)len) {
		fprintf(stderr, "mktar: %s: %s\n", archive_entry_pathname(e), archive_error_string(a));
		exit(1);
	}
	archive_entry_free(e);
}

static void dir(const char *path, unsigned int perm, long uid, long gid)
{
	put(entry(path, AE_IFDIR | perm, uid, gid), NULL, 0);
}

static void file(const char *path, unsigned int perm, long uid, long gid, const void *data, size_t len)
{
	struct archive_entry *e = entry(path, AE_IFREG | perm, uid, gid);

	archive_entry_set_size(e, (la_int64_t)len);
	put(e, data, len);
}

static void symlink_(const char *path, const char *target)
{
	struct archive_entry *e = entry(path, AE_IFLNK | 0777, 0, 0);

	archive_entry_set_symlink(e, target);
	put(e, NULL, 0);
}

static void hardlink(const char *path, const char *target)
{
	struct archive_entry *e = entry(path, AE_IFREG | 0644, 0, 0);

	archive_entry_set_hardlink(e, target);
	archive_entry_set_size(e, 0);
	put(e, NULL, 0);
}

static void node(const char *path, unsigned int type, unsigned int ma, unsigned int mi)
{
	struct archive_entry *e = entry(path, type | 0640, 0, 6);

	archive_entry_set_rdev(e, makedev(ma, mi));
	put(e, NULL, 0);
}

/* Pseudo-random bytes, the same every run. */
static unsigned char *pattern(size_t len, unsigned int seed)
{
	unsigned char *p = malloc(len ? len : 1);

	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (unsigned char)(seed >> 16);
	}
	return p;
}

static void kind_types(void)
{
	static const unsigned char cap[20] = { 0x01, 0, 0, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0, 0,
					       0, 0, 0, 0, 0, 0, 0, 0 };
	unsigned char *big = pattern(3 << 20, 7), *odd = pattern(4097, 9);
	char longlink[300];
	struct archive_entry *e;

	dir("./", 0755, 0, 0);
	dir("./etc", 0755, 0, 0);
	file("./etc/hostname", 0644, 0, 0, "pupa\n", 5);
	dir("./tmp", 01777, 0, 0);
	dir("./srv", 02775, 1000, 50);
	file("./empty", 0600, 0, 0, NULL, 0);
	file("./usr-bin-su", 04755, 0, 0, "#!/bin/sh\n", 10);
	file("./sgid", 02711, 0, 42, "x", 1);
	file("./big", 0644, 100000, 100001, big, 3 << 20);
	file("./odd", 0444, 1234567, 7654321, odd, 4097);
	file("./deep/er/and/deeper/file", 0640, 65534, 65534, "deep\n", 5);
	symlink_("./link-short", "etc/hostname");
	memset(longlink, 'x', sizeof(longlink) - 1);
	longlink[sizeof(longlink) - 1] = '\0';
	memcpy(longlink, "/some/long/target/", 18);
	symlink_("./link-long", longlink);
	symlink_("./link-dangling", "/nowhere/at/all");
	hardlink("./big-again", "./big");
	node("./dev-null", AE_IFCHR, 1, 3);
	node("./sda1", AE_IFBLK, 8, 1);
	node("./nvme", AE_IFBLK, 259, 300000);
	node("./fifo", AE_IFIFO, 0, 0);

	e = entry("./ping", AE_IFREG | 0755, 0, 0);
	archive_entry_xattr_add_entry(e, "security.capability", cap, sizeof(cap));
	archive_entry_xattr_add_entry(e, "user.comment", "hello", 5);
	archive_entry_set_size(e, 4);
	put(e, "ping", 4);
	e = entry("./bigxattr", AE_IFREG | 0644, 0, 0);
	archive_entry_xattr_add_entry(e, "user.big", odd, 3000);
	put(e, NULL, 0);

	/* 8 MiB with data only at 1 MiB and at the end. */
	e = entry("./sparse", AE_IFREG | 0644, 0, 0);
	archive_entry_set_size(e, 8 << 20);
	archive_entry_sparse_add_entry(e, 1 << 20, 4096);
	archive_entry_sparse_add_entry(e, (8 << 20) - 4096, 4096);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		fprintf(stderr, "mktar: sparse: %s\n", archive_error_string(a));
		exit(1);
	}
	archive_write_data(a, big, 4096);
	archive_write_data(a, odd, 4096);
	archive_entry_free(e);
	free(big);
	free(odd);
}

static void kind_many(long n)
{
	char path[64];

	for (long i = 0; i < n; i++) {
		if (i % 1000 == 0) {
			snprintf(path, sizeof(path), "d%03ld", i / 1000);
			dir(path, 0755, 0, 0);
		}
		snprintf(path, sizeof(path), "d%03ld/f%06ld", i / 1000, i);
		file(path, 0644, 0, 0, NULL, 0);
	}
}

static void kind_bomb(long mib)
{
	struct archive_entry *e = entry("zeros", AE_IFREG | 0644, 0, 0);
	char *zero = calloc(1, 1 << 20);

	archive_entry_set_size(e, (la_int64_t)mib << 20);
	archive_write_header(a, e);
	for (long i = 0; i < mib; i++)
		archive_write_data(a, zero, 1 << 20);
	archive_entry_free(e);
	free(zero);
}

static void kind_deep(long n)
{
	size_t len = (size_t)n * 2 - 1;
	char *path = malloc(len + 2);

	for (long i = 0; i < n; i++)
		memcpy(path + 2 * i, "a/", 2);
	path[len - 1] = 'f';
	path[len] = '\0';
	file(path, 0644, 0, 0, "deep\n", 5);
	free(path);
}

#define PER_DIR 100
static void kind_headers(long n)
{
	char path[256], target[32], pad[201];

	memset(pad, 'h', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (long i = 0; i < n; i++) {
		if (i % PER_DIR == 0) {
			snprintf(target, sizeof(target), "d%05ld/target", i / PER_DIR);
			file(target, 0644, 0, 0, NULL, 0);
		}
		snprintf(path, sizeof(path), "d%05ld/%s%07ld", i / PER_DIR, pad, i);
		hardlink(path, target);
	}
}

int main(int argc, char **argv)
{
	const char *kind, *filter = argc > 3 ? argv[3] : "none";
	const char *arg = argc > 4 ? argv[4] : NULL;
	int rc = ARCHIVE_OK;

	if (argc < 3) {
		fprintf(stderr, "usage: mktar KIND OUT [none|gzip|xz|zstd|bzip2] [N]\n");
		return 2;
	}
	kind = argv[1];
	a = archive_write_new();
	archive_write_set_format_pax(a);
	if (strcmp(filter, "gzip") == 0)
		rc = archive_write_add_filter_gzip(a);
	else if (strcmp(filter, "xz") == 0)
		rc = archive_write_add_filter_xz(a);
	else if (strcmp(filter, "zstd") == 0)
		rc = archive_write_add_filter_zstd(a);
	else if (strcmp(filter, "bzip2") == 0)
		rc = archive_write_add_filter_bzip2(a);
	else if (strcmp(filter, "none") != 0)
		rc = ARCHIVE_FATAL;
	if (rc != ARCHIVE_OK || archive_write_open_filename(a, argv[2]) != ARCHIVE_OK) {
		fprintf(stderr, "mktar: %s (%s): %s\n", argv[2], filter, archive_error_string(a));
		return 1;
	}
	if (strcmp(kind, "types") == 0) {
		kind_types();
	} else if (strcmp(kind, "many") == 0) {
		kind_many(arg ? atol(arg) : 100000);
	} else if (strcmp(kind, "bomb") == 0) {
		kind_bomb(arg ? atol(arg) : 1024);
	} else if (strcmp(kind, "abs") == 0) {
		file("ok", 0644, 0, 0, "ok", 2);
		file("/etc/pupa-evil", 0644, 0, 0, "evil", 4);
	} else if (strcmp(kind, "dotdot") == 0) {
		file("ok", 0644, 0, 0, "ok", 2);
		file("a/../../pupa-evil", 0644, 0, 0, "evil", 4);
	} else if (strcmp(kind, "symlink") == 0) {
		symlink_("escape", arg ? arg : "/tmp");
		file("escape/pupa-pwned", 0644, 0, 0, "evil", 4);
	} else if (strcmp(kind, "hardlink") == 0) {
		file("ok", 0644, 0, 0, "ok", 2);
		hardlink("grab", "../../etc/passwd");
	} else if (strcmp(kind, "escape") == 0) {
		file("/\x1b]0;pwned\x07\x1b[2J\x1b[31mevil", 0644, 0, 0, "evil", 4);
	} else if (strcmp(kind, "deep") == 0) {
		kind_deep(arg ? atol(arg) : 2048);
	} else if (strcmp(kind, "headers") == 0) {
		kind_headers(arg ? atol(arg) : 200000);
	} else if (strcmp(kind, "replace") == 0) {
		file("x", 0644, 0, 0, "first", 5);
		hardlink("x-link", "x");
		symlink_("x", "somewhere");
		file("y", 0644, 0, 0, "data", 4);
		dir("y2", 0700, 0, 0);
		file("y2/z", 0600, 5, 5, "z", 1);
		dir("y2", 0755, 7, 7);
		file("x", 0600, 3, 3, "final", 5);
	} else {
		fprintf(stderr, "mktar: unknown kind '%s'\n", kind);
		return 2;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		fprintf(stderr, "mktar: %s\n", archive_error_string(a));
		return 1;
	}
	archive_write_free(a);
	return 0;
}
