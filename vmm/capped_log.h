/* SPDX-License-Identifier: MIT */
/*
 * A log file the guest writes and cannot grow without bound: the first
 * `head` bytes stay (the boot, where failures usually start), then a
 * rolling tail of at least `tail` bytes (the end, which pupa quotes when a
 * guest dies). Once the file reaches head + 2 * tail, the last `tail`
 * bytes move down to follow the head and one fixed-width marker line that
 * says how much was dropped, so the file never exceeds head + marker +
 * 2 * tail and always reads in order. Each byte is copied at most once
 * more than it is written.
 */
#ifndef PUPA_VMM_CAPPED_LOG_H
#define PUPA_VMM_CAPPED_LOG_H

#include <stddef.h>
#include <stdint.h>

#define CAPPED_LOG_HEAD (1u << 20)	/* each; PUPA_VMM_CONSOLE_KEEP=BYTES */

struct capped_log {
	int fd;
	uint64_t head, tail;
	uint64_t size;		/* bytes in the file */
	uint64_t dropped;	/* bytes the marker stands for */
};

/* fd is an empty regular file opened for reading and writing. */
void capped_log__init(struct capped_log *log, int fd, uint64_t head, uint64_t tail);

/* 0, or -errno of a failed write (the rest of buf is dropped). */
int capped_log__write(struct capped_log *log, const void *buf, size_t len);

#endif
