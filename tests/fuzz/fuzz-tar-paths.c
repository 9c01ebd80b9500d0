/* SPDX-License-Identifier: MIT */
/*
 * The fast half of the archive path: tar headers parsed from memory, each
 * entry's name and link target through pupa's path rules, and the path map
 * the ext4 writer keeps (every prefix of an accepted path, as implied
 * directories are, inserts, lookups and replacements), with the byte bound
 * on. No image: millions of runs.
 */
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "fuzz.h"
#include "pathmap.h"
#include "unpack.h"

static void fuzz__map(struct pathmap *m, const char *path, uint32_t ino, uint16_t mode)
{
	size_t len = strlen(path);

	for (size_t i = 1; i <= len; i++)
		if (path[i] == '/' || path[i] == '\0')
			if (!pathmap_get(m, path, i) && !pathmap_put(m, path, i, ino, 040755))
				return;
	if (mode & 1)
		pathmap_del(m, path, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct pathmap m;
	char out[4096];
	const char *why;
	uint32_t ino = 2;

	archive_read_support_format_tar(a);
	if (pathmap_init(&m) < 0 || archive_read_open_memory(a, data, size) != ARCHIVE_OK)
		goto out;
	m.max_bytes = 1 << 20;
	for (int n = 0; n < 4096 && archive_read_next_header(a, &e) == ARCHIVE_OK; n++) {
		const char *name = archive_entry_pathname(e), *link = archive_entry_hardlink(e);

		if (name && unpack_path_normalize(name, out, sizeof(out), &why) == 0)
			fuzz__map(&m, out, ino++, (uint16_t)archive_entry_mode(e));
		if (link && unpack_path_normalize(link, out, sizeof(out), &why) == 0)
			pathmap_get(&m, out, strlen(out));
	}
out:
	pathmap_free(&m);
	archive_read_free(a);
	return 0;
}

void fuzz_seeds(void)
{
	static uint8_t buf[1 << 16];
	static const char *const names[] = {
		"./a//b/", "a/../../x", "/abs", "a/b/c/d/e/f", ".", "a/./b", "a/b/c/d/e/g",
	};
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	size_t used = 0;

	archive_write_set_format_pax(a);
	archive_write_open_memory(a, buf, sizeof(buf), &used);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		archive_entry_clear(e);
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_mode(e, (i % 2 ? AE_IFDIR : AE_IFREG) | 0644);
		if (i == 6)
			archive_entry_set_hardlink(e, "a/b/c/d/e/f");
		archive_write_header(a, e);
	}
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	fuzz_seed("paths.tar", buf, used);
}
