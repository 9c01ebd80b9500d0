/* SPDX-License-Identifier: MIT */
/*
 * A downloaded archive end to end: decompression (each filter pupa
 * takes), tar parsing, the path rules, and the ext4 writer, into a fresh
 * 32 MiB image on tmpfs each run. mke2fs makes this slow: its budget is
 * counted in thousands of runs, not millions.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "ext4_image.h"
#include "fuzz.h"
#include "unpack.h"

struct mem_src {
	const uint8_t *data;
	size_t size, off;
};

static ssize_t mem_read(void *opaque, const void **buf)
{
	struct mem_src *m = opaque;
	size_t n = m->size - m->off > 4096 ? 4096 : m->size - m->off;

	*buf = m->data + m->off;
	m->off += n;
	return (ssize_t)n;
}

static void mem_cancel(void *opaque) { }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_src m = { data, size, 0 };
	struct unpack_source src = { mem_read, mem_cancel, &m };
	struct unpack_limits lim;
	struct unpack_stats stats;
	struct pupa_err err = { 0 };
	struct ext4_image *img;
	char path[64];

	snprintf(path, sizeof(path), "/dev/shm/pupa-fuzz-unpack.%d", getpid());
	unpack_limits_default(&lim);
	lim.size = 8 << 20;
	lim.names = 1 << 20;
	lim.entries = 4096;
	close(open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	if (ext4_image_create(path, 32 << 20, 8192, 1, &img, &err) < 0) {
		fprintf(stderr, "fuzz-unpack: %s\n", err.msg);
		abort();
	}
	if (unpack_archive(img, &src, &lim, &stats, &err) == 0)
		ext4_image_finish(img, &err);
	else
		ext4_image_abort(img);
	unlink(path);
	return 0;
}

/* A tar of every kind of entry, written with libarchive into buf. */
static size_t seed_tar(uint8_t *buf, size_t len, int (*filter)(struct archive *))
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t used = 0;

	archive_write_set_format_pax(a);
	if (filter)
		filter(a);
	archive_write_open_memory(a, buf, len, &used);
	archive_entry_set_pathname(e, "./etc");
	archive_entry_set_mode(e, AE_IFDIR | 0755);
	archive_write_header(a, e);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "etc/hostname");
	archive_entry_set_mode(e, AE_IFREG | 0644);
	archive_entry_set_size(e, 5);
	archive_entry_xattr_add_entry(e, "user.x", "1", 1);
	archive_write_header(a, e);
	archive_write_data(a, "pupa\n", 5);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "a/b/c/link");
	archive_entry_set_mode(e, AE_IFLNK | 0777);
	archive_entry_set_symlink(e, "../../etc");
	archive_write_header(a, e);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "hard");
	archive_entry_set_mode(e, AE_IFREG | 0644);
	archive_entry_set_hardlink(e, "etc/hostname");
	archive_write_header(a, e);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "dev/null");
	archive_entry_set_mode(e, AE_IFCHR | 0666);
	archive_entry_set_rdev(e, 0x103);
	archive_write_header(a, e);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

void fuzz_seeds(void)
{
	static uint8_t buf[1 << 16];

	fuzz_seed("types.tar", buf, seed_tar(buf, sizeof(buf), NULL));
	fuzz_seed("types.tar.gz", buf, seed_tar(buf, sizeof(buf), archive_write_add_filter_gzip));
	fuzz_seed("types.tar.xz", buf, seed_tar(buf, sizeof(buf), archive_write_add_filter_xz));
	fuzz_seed("types.tar.zst", buf, seed_tar(buf, sizeof(buf), archive_write_add_filter_zstd));
	fuzz_seed("types.tar.bz2", buf, seed_tar(buf, sizeof(buf), archive_write_add_filter_bzip2));
}
