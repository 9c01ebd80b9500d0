/*
 * mkcpio: write a newc cpio archive (an initramfs) from a file list, with
 * libarchive, as an ordinary user: owners and device nodes come from the
 * list, not from the files on disk.
 *
 *   mkcpio [-t] [-o OUTPUT] LIST
 *
 * -t writes a gzip-compressed pax tar instead (a root filesystem tarball,
 * such as the default image).
 *
 * One entry a line; blank lines and lines starting with '#' are skipped:
 *   dir   NAME MODE UID GID
 *   file  NAME SOURCE MODE UID GID
 *   slink NAME TARGET MODE UID GID
 *   nod   NAME MODE UID GID c|b MAJOR MINOR
 * MODE is octal permission bits. Entries are written in list order with
 * mtime 0, so the same list and files give the same bytes.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_FIELDS 9

static void usage(FILE *out)
{
	fputs("usage: mkcpio [-t] [-o OUTPUT] LIST\n", out);
}

static int parse_octal(const char *s, unsigned int *v)
{
	char *end;
	unsigned long n = strtoul(s, &end, 8);

	if (*s == '\0' || *end || n > 07777)
		return -1;
	*v = (unsigned int)n;
	return 0;
}

static int parse_id(const char *s, unsigned long *v)
{
	char *end;

	*v = strtoul(s, &end, 10);
	return (*s == '\0' || *end) ? -1 : 0;
}

static int copy_file(struct archive *a, const char *src, const char *where)
{
	char buf[65536];
	ssize_t n;
	int fd = open(src, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "mkcpio: %s: %s: %s\n", where, src, strerror(errno));
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (archive_write_data(a, buf, (size_t)n) != n) {
			fprintf(stderr, "mkcpio: %s: %s\n", where, archive_error_string(a));
			close(fd);
			return -1;
		}
	}
	close(fd);
	if (n < 0) {
		fprintf(stderr, "mkcpio: %s: reading %s: %s\n", where, src, strerror(errno));
		return -1;
	}
	return 0;
}

/* Fill entry from one list line (already split); -1 with a message on error. */
static int add_line(struct archive *a, char **f, int nf, const char *where)
{
	struct archive_entry *e = archive_entry_new();
	unsigned int mode;
	unsigned long uid, gid, maj, min;
	const char *src = NULL;
	struct stat st;
	int base, ret = -1;

	if (!e)
		return -1;
	if (strcmp(f[0], "dir") == 0 && nf == 5) {
		archive_entry_set_filetype(e, AE_IFDIR);
		base = 2;
	} else if (strcmp(f[0], "file") == 0 && nf == 6) {
		archive_entry_set_filetype(e, AE_IFREG);
		src = f[2];
		base = 3;
	} else if (strcmp(f[0], "slink") == 0 && nf == 6) {
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, f[2]);
		base = 3;
	} else if (strcmp(f[0], "nod") == 0 && nf == 8) {
		if (strcmp(f[5], "c") && strcmp(f[5], "b")) {
			fprintf(stderr, "mkcpio: %s: device type must be c or b\n", where);
			goto out;
		}
		archive_entry_set_filetype(e, f[5][0] == 'c' ? AE_IFCHR : AE_IFBLK);
		if (parse_id(f[6], &maj) || parse_id(f[7], &min)) {
			fprintf(stderr, "mkcpio: %s: bad device numbers\n", where);
			goto out;
		}
		archive_entry_set_rdev(e, makedev(maj, min));
		base = 2;
	} else {
		fprintf(stderr, "mkcpio: %s: unknown entry or wrong number of fields\n", where);
		goto out;
	}
	if (parse_octal(f[base], &mode) || parse_id(f[base + 1], &uid) ||
	    parse_id(f[base + 2], &gid)) {
		fprintf(stderr, "mkcpio: %s: bad mode, uid or gid\n", where);
		goto out;
	}
	archive_entry_set_pathname(e, f[1][0] == '/' ? f[1] + 1 : f[1]);
	archive_entry_set_perm(e, mode);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_nlink(e, archive_entry_filetype(e) == AE_IFDIR ? 2 : 1);
	archive_entry_set_size(e, 0);
	if (src) {
		if (stat(src, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "mkcpio: %s: %s: %s\n", where, src,
				errno ? strerror(errno) : "not a regular file");
			goto out;
		}
		archive_entry_set_size(e, st.st_size);
	}
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		fprintf(stderr, "mkcpio: %s: %s\n", where, archive_error_string(a));
		goto out;
	}
	ret = src ? copy_file(a, src, where) : 0;
out:
	archive_entry_free(e);
	return ret;
}

static int write_list(struct archive *a, FILE *list, const char *list_name)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned int lineno = 0;
	int ret = 0;

	while (ret == 0 && getline(&line, &cap, list) != -1) {
		char *f[MAX_FIELDS + 1], *save = NULL, where[512];
		int nf = 0;

		lineno++;
		for (char *t = strtok_r(line, " \t\r\n", &save); t && nf <= MAX_FIELDS;
		     t = strtok_r(NULL, " \t\r\n", &save))
			f[nf++] = t;
		if (nf == 0 || f[0][0] == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%u", list_name, lineno);
		ret = add_line(a, f, nf, where);
	}
	free(line);
	return ret;
}

int main(int argc, char *argv[])
{
	const char *output = NULL, *tmp_suffix = ".tmp";
	char *tmp = NULL;
	struct archive *a;
	FILE *list;
	int c, ret = 1, tar = 0;

	while ((c = getopt(argc, argv, "o:th")) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 't': tar = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	list = fopen(argv[optind], "r");
	if (!list) {
		fprintf(stderr, "mkcpio: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	a = archive_write_new();
	if (tar) {
		archive_write_set_format_pax_restricted(a);
		archive_write_add_filter_gzip(a);
		/* No name or time in the gzip header: the same bytes every build. */
		archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
	} else {
		archive_write_set_format_cpio_newc(a);
	}
	archive_write_set_bytes_in_last_block(a, 1);
	if (output) {
		/* Written under a temporary name and renamed: no half archive is left. */
		tmp = malloc(strlen(output) + strlen(tmp_suffix) + 1);
		if (!tmp)
			goto out;
		strcpy(tmp, output);
		strcat(tmp, tmp_suffix);
		if (archive_write_open_filename(a, tmp) != ARCHIVE_OK) {
			fprintf(stderr, "mkcpio: %s: %s\n", tmp, archive_error_string(a));
			goto out;
		}
	} else if (archive_write_open_fd(a, STDOUT_FILENO) != ARCHIVE_OK) {
		fprintf(stderr, "mkcpio: stdout: %s\n", archive_error_string(a));
		goto out;
	}
	if (write_list(a, list, argv[optind]) == 0 && archive_write_close(a) == ARCHIVE_OK)
		ret = 0;
	if (tmp && ret == 0 && rename(tmp, output) < 0) {
		fprintf(stderr, "mkcpio: %s: %s\n", output, strerror(errno));
		ret = 1;
	}
out:
	if (tmp && ret != 0)
		unlink(tmp);
	archive_write_free(a);
	fclose(list);
	free(tmp);
	return ret;
}
