/*
 * Building split virtqueues in a fake guest RAM, for the device tests:
 * the test plays the driver.
 */
#ifndef PUPA_TEST_VIRTQ_HELPERS_H
#define PUPA_TEST_VIRTQ_HELPERS_H

#include <string.h>

#include "memory.h"
#include "virtio/virtqueue.h"

#define TQ_RAM		(4u << 20)
#define TQ_SIZE		16

struct tq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

/* Queue q's rings live at 0x1000 + q * 0x4000. */
static inline void tq_setup(struct guest_mem *mem, struct virtqueue *vq, unsigned int q)
{
	uint64_t base = 0x1000 + (uint64_t)q * 0x4000;

	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->size = TQ_SIZE;
	vq->desc_gpa = base;
	vq->avail_gpa = base + 0x1000;
	vq->used_gpa = base + 0x2000;
	vq->ready = 1;
	memset(guest_mem__ptr(mem, base, 0x3000), 0, 0x3000);
}

static inline struct tq_desc *tq_desc(struct virtqueue *vq, unsigned int i)
{
	return (struct tq_desc *)guest_mem__ptr(vq->mem, vq->desc_gpa, TQ_SIZE * 16) + i;
}

static inline void tq_set(struct virtqueue *vq, unsigned int i, uint64_t addr, uint32_t len,
			  uint16_t flags, uint16_t next)
{
	*tq_desc(vq, i) = (struct tq_desc){ addr, len, flags, next };
}

/* Offer head as the next available chain. */
static inline void tq_offer(struct virtqueue *vq, uint16_t head)
{
	uint16_t *avail = guest_mem__ptr(vq->mem, vq->avail_gpa, 4 + 2 * TQ_SIZE);

	avail[2 + avail[1] % TQ_SIZE] = head;
	avail[1]++;
}

static inline uint16_t tq_used_idx(struct virtqueue *vq)
{
	return *(uint16_t *)guest_mem__ptr(vq->mem, vq->used_gpa + 2, 2);
}

static inline uint32_t tq_used_len(struct virtqueue *vq, unsigned int n)
{
	uint32_t *e = guest_mem__ptr(vq->mem, vq->used_gpa + 4 + 8 * (n % TQ_SIZE), 8);

	return e[1];
}

static inline void *tq_ptr(struct guest_mem *mem, uint64_t gpa)
{
	return guest_mem__ptr(mem, gpa, 1);
}

#endif
