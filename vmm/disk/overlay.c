/* SPDX-License-Identifier: MIT */
#include "overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One bitmap chunk covers 2^20 sectors (512 MiB of disk) in 128 KiB. */
#define CHUNK_SHIFT 20
#define CHUNK_SECTORS (1ull << CHUNK_SHIFT)
#define CHUNK_WORDS (CHUNK_SECTORS / 64)

struct disk_overlay {
	int fd;
	uint64_t sectors, max_sectors, used;
	uint64_t nchunks;
	uint64_t **chunks;	/* NULL: nothing private in that chunk */
};

const char *disk_overlay__default_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	return tmp && *tmp ? tmp : "/var/tmp";
}

int disk_overlay__tmpfile(const char *dir)
{
	if (!dir)
		dir = disk_overlay__default_dir();
	char path[4096];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd < 0 ? -errno : fd;
	/* No O_TMPFILE here: a named file, unlinked at once. */
	if ((size_t)snprintf(path, sizeof(path), "%s/pupa-overlay.XXXXXX", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int disk_overlay__create(struct disk_overlay **out, uint64_t sectors, uint64_t max_sectors,
			 int fd)
{
	struct disk_overlay *ov = calloc(1, sizeof(*ov));

	*out = NULL;
	if (ov) {
		ov->fd = fd;
		ov->sectors = sectors;
		ov->max_sectors = max_sectors;
		ov->nchunks = (sectors + CHUNK_SECTORS - 1) >> CHUNK_SHIFT;
		ov->chunks = calloc(ov->nchunks ? ov->nchunks : 1, sizeof(*ov->chunks));
	}
	if (!ov || !ov->chunks) {
		free(ov);
		close(fd);
		return -ENOMEM;
	}
	*out = ov;
	return 0;
}

void disk_overlay__destroy(struct disk_overlay *ov)
{
	if (!ov)
		return;
	for (uint64_t i = 0; i < ov->nchunks; i++)
		free(ov->chunks[i]);
	free(ov->chunks);
	close(ov->fd);
	free(ov);
}

uint64_t disk_overlay__used(const struct disk_overlay *ov)
{
	return ov->used;
}

static int overlay__private(const struct disk_overlay *ov, uint64_t s)
{
	const uint64_t *c = ov->chunks[s >> CHUNK_SHIFT];

	return c && (c[(s & (CHUNK_SECTORS - 1)) / 64] >> (s % 64) & 1);
}

/* The length of the run from s (at most n) whose sectors are all private
 * or all not, as the first one is. */
static uint64_t overlay__run(const struct disk_overlay *ov, uint64_t s, uint64_t n, int *priv)
{
	uint64_t len = 1;

	*priv = overlay__private(ov, s);
	while (len < n && overlay__private(ov, s + len) == *priv)
		len++;
	return len;
}

static int overlay__pio(int fd, uint8_t *buf, uint64_t sector, uint64_t count, int write)
{
	size_t len = (size_t)(count * DISK_SECTOR_SIZE), done = 0;
	off_t off = (off_t)(sector * DISK_SECTOR_SIZE);

	while (done < len) {
		ssize_t n = write ? pwrite(fd, buf + done, len - done, off + (off_t)done) :
				    pread(fd, buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* a private sector we never wrote */
		done += (size_t)n;
	}
	return 0;
}

int disk_overlay__read(struct disk_overlay *ov, uint64_t sector, uint8_t *buf, uint64_t count)
{
	uint64_t done = 0;

	if (sector > ov->sectors || count > ov->sectors - sector)
		return -EINVAL;
	while (done < count) {
		int priv, ret;
		uint64_t run = overlay__run(ov, sector + done, count - done, &priv);

		if (priv) {
			ret = overlay__pio(ov->fd, buf + done * DISK_SECTOR_SIZE, sector + done, run, 0);
			if (ret < 0)
				return ret;
		}
		done += run;
	}
	return 0;
}

int disk_overlay__write(struct disk_overlay *ov, uint64_t sector, const uint8_t *buf,
			uint64_t count)
{
	uint64_t fresh = 0;
	int ret;

	if (sector > ov->sectors || count > ov->sectors - sector)
		return -EINVAL;
	if (count == 0)
		return 0;
	for (uint64_t s = sector; s < sector + count; s++)
		fresh += !overlay__private(ov, s);
	if (fresh > ov->max_sectors - ov->used)
		return -ENOSPC;
	for (uint64_t c = sector >> CHUNK_SHIFT; c <= (sector + count - 1) >> CHUNK_SHIFT; c++)
		if (!ov->chunks[c] && !(ov->chunks[c] = calloc(CHUNK_WORDS, sizeof(uint64_t))))
			return -ENOMEM;
	ret = overlay__pio(ov->fd, (uint8_t *)buf, sector, count, 1);
	if (ret < 0)
		return ret;
	for (uint64_t s = sector; s < sector + count; s++)
		ov->chunks[s >> CHUNK_SHIFT][(s & (CHUNK_SECTORS - 1)) / 64] |= 1ull << (s % 64);
	ov->used += fresh;
	return 0;
}
