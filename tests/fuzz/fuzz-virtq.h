/* SPDX-License-Identifier: MIT */
/*
 * A guest RAM for the virtio targets: the input is copied to its start, so
 * the fuzzer writes the rings, the descriptors and the buffers alike. Each
 * queue q has 16 entries with its descriptor table at 0x1000 + q * 0x4000,
 * its avail ring 0x1000 after it and its used ring 0x2000 after it.
 */
#ifndef PUPA_FUZZ_VIRTQ_H
#define PUPA_FUZZ_VIRTQ_H

#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define FV_RAM		(1u << 20)
#define FV_INPUT_MAX	(64u << 10)
#define FV_QSIZE	16

struct fv_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

static struct guest_mem fv_mem;

static inline void fv_init(void)
{
	if (guest_mem__total(&fv_mem))
		return;
	if (guest_mem__add(&fv_mem, 0, FV_RAM) < 0 || guest_mem__map(&fv_mem) < 0)
		abort();
}

/* The input becomes RAM (zeros past it). */
static inline void fv_load(const uint8_t *data, size_t size)
{
	uint8_t *ram = guest_mem__ptr(&fv_mem, 0, FV_RAM);

	if (size > FV_INPUT_MAX)
		size = FV_INPUT_MAX;
	memcpy(ram, data, size);
	memset(ram + size, 0, FV_INPUT_MAX - size);
}

static inline void fv_queue(struct virtqueue *vq, unsigned int q)
{
	uint64_t base = 0x1000 + (uint64_t)q * 0x4000;

	memset(vq, 0, sizeof(*vq));
	vq->mem = &fv_mem;
	vq->size = FV_QSIZE;
	vq->desc_gpa = base;
	vq->avail_gpa = base + 0x1000;
	vq->used_gpa = base + 0x2000;
	vq->ready = 1;
}

static inline void fv_live(struct virtio_dev *v, unsigned int nq)
{
	v->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	for (unsigned int q = 0; q < nq; q++)
		fv_queue(&v->vq[q], q);
}

/* Seeds: a RAM image with chains the tests build through these. */
static inline void fv_set(uint8_t *ram, unsigned int q, unsigned int i, uint64_t addr,
			  uint32_t len, uint16_t flags, uint16_t next)
{
	struct fv_desc d = { addr, len, flags, next };

	memcpy(ram + 0x1000 + q * 0x4000 + i * 16, &d, sizeof(d));
}

static inline void fv_offer(uint8_t *ram, unsigned int q, uint16_t head)
{
	uint16_t *avail = (uint16_t *)(ram + 0x2000 + q * 0x4000);

	avail[2 + avail[1] % FV_QSIZE] = head;
	avail[1]++;
}

#endif
