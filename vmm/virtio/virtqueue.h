/*
 * Split virtqueues (virtio 1.2, 2.7). The guest owns every byte of the
 * rings and the buffers, so every index, address, length and chain is
 * checked before use; a bad one makes virtq_pop() fail, never makes the
 * VMM touch memory outside guest RAM.
 */
#ifndef PUPA_VMM_VIRTQUEUE_H
#define PUPA_VMM_VIRTQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "../memory.h"

#define VIRTQ_MAX_SIZE		1024
#define VIRTQ_MAX_CHAIN		(VIRTQ_MAX_SIZE + 64)	/* direct + one indirect table */

#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	1

struct virtq_iov {
	uint8_t *base;
	uint32_t len;
};

/* One request: what the device may read, then what it may write. */
struct virtq_chain {
	uint16_t head;
	unsigned int nr_in, nr_out;	/* out = device reads, in = device writes */
	struct virtq_iov out[VIRTQ_MAX_CHAIN];
	struct virtq_iov in[VIRTQ_MAX_CHAIN];
	uint64_t out_len, in_len;
};

struct virtqueue {
	uint16_t size;			/* QueueNum, a power of two */
	int ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail;
	uint16_t used_idx;
	const struct guest_mem *mem;
};

/* Reasons virtq_pop() refuses a queue; the device then needs a reset. */
enum virtq_error {
	VIRTQ_OK = 0,
	VIRTQ_EMPTY = 1,
	VIRTQ_BAD_RING = -1,	/* rings outside RAM, or avail idx ran ahead */
	VIRTQ_BAD_INDEX = -2,	/* head or next beyond the table */
	VIRTQ_BAD_ADDR = -3,	/* a buffer outside guest RAM */
	VIRTQ_BAD_LOOP = -4,	/* chain longer than the table: a loop */
	VIRTQ_BAD_ORDER = -5,	/* readable after writable */
	VIRTQ_BAD_INDIRECT = -6,	/* nested, misaligned or oversized table */
};

const char *virtq_strerror(int err);

/* Check the ring addresses once the driver sets QueueReady; -EINVAL if bad. */
int virtq_validate(struct virtqueue *vq);

/* Does the driver have a buffer for us? */
int virtq_has_avail(struct virtqueue *vq);

/* Take the next chain: VIRTQ_OK, VIRTQ_EMPTY, or a negative virtq_error. */
int virtq_pop(struct virtqueue *vq, struct virtq_chain *chain);

/* Give a chain back with the bytes written into it. */
void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t written);

/*
 * Several chains given back as one (a frame spread over mergeable receive
 * buffers): the used entries are written first and the index moves once,
 * so the driver never sees part of the frame.
 */
void virtq_push_many(struct virtqueue *vq, const uint16_t *heads, const uint32_t *written,
		     unsigned int n);

/* Put the last n popped, not yet pushed chains back, to be popped again. */
void virtq_unpop(struct virtqueue *vq, unsigned int n);

/*
 * Ask the driver not to notify (on 0) while the device drains the queue
 * anyway; after turning them back on, look at the queue once more.
 */
void virtq_notifications(struct virtqueue *vq, int on);

/* Should the device interrupt after pushing? */
int virtq_should_notify(struct virtqueue *vq);

/* Copy helpers over a chain's readable or writable part; return bytes copied. */
size_t virtq_iov_read(const struct virtq_iov *iov, unsigned int n, size_t skip, void *dst, size_t len);
size_t virtq_iov_write(const struct virtq_iov *iov, unsigned int n, size_t skip, const void *src, size_t len);

#endif
