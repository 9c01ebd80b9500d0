/* SPDX-License-Identifier: MIT */
#include "capped_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fixed width, so the tail always starts at the same offset. */
#define MARKER_FMT "\n[pupa-vmm: %20" PRIu64 " bytes dropped here]\n"
#define MARKER_LEN 53

void capped_log__init(struct capped_log *log, int fd, uint64_t head, uint64_t tail)
{
	*log = (struct capped_log){ .fd = fd, .head = head, .tail = tail };
}

static int capped_log__pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENOSPC;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Keep the last `tail` bytes right after the head and the marker. */
static int capped_log__roll(struct capped_log *log)
{
	uint64_t start = log->head + MARKER_LEN, keep_from = log->size - log->tail;
	char marker[MARKER_LEN + 1];
	char *buf = malloc(log->tail);
	ssize_t n;
	int ret;

	if (!buf)
		return -ENOMEM;
	n = pread(log->fd, buf, log->tail, (off_t)keep_from);
	ret = n == (ssize_t)log->tail ? 0 : n < 0 ? -errno : -EIO;
	if (ret == 0)
		ret = capped_log__pwrite(log->fd, buf, log->tail, start);
	free(buf);
	if (ret < 0)
		return ret;
	/* The first roll also writes its marker over data after the head. */
	log->dropped += keep_from - (log->dropped ? start : log->head);
	snprintf(marker, sizeof(marker), MARKER_FMT, log->dropped);
	ret = capped_log__pwrite(log->fd, marker, MARKER_LEN, log->head);
	if (ret < 0)
		return ret;
	log->size = start + log->tail;
	return ftruncate(log->fd, (off_t)log->size) < 0 ? -errno : 0;
}

int capped_log__write(struct capped_log *log, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		uint64_t limit = log->size < log->head ? log->head :
				 log->head + MARKER_LEN + 2 * log->tail;
		size_t n = len;
		int ret;

		if (log->size >= limit) {
			ret = capped_log__roll(log);
			if (ret < 0)
				return ret;
			continue;
		}
		if (n > limit - log->size)
			n = (size_t)(limit - log->size);
		ret = capped_log__pwrite(log->fd, p, n, log->size);
		if (ret < 0)
			return ret;
		log->size += n;
		p += n;
		len -= n;
	}
	return 0;
}
