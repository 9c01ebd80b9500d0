#include "virtqueue.h"

#include <errno.h>
#include <string.h>

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

const char *virtq_strerror(int err)
{
	switch (err) {
	case VIRTQ_OK: return "ok";
	case VIRTQ_EMPTY: return "empty";
	case VIRTQ_BAD_RING: return "ring outside guest RAM or avail index ran ahead";
	case VIRTQ_BAD_INDEX: return "descriptor index beyond the table";
	case VIRTQ_BAD_ADDR: return "buffer outside guest RAM";
	case VIRTQ_BAD_LOOP: return "descriptor chain loops";
	case VIRTQ_BAD_ORDER: return "readable descriptor after a writable one";
	case VIRTQ_BAD_INDIRECT: return "bad indirect descriptor table";
	}
	return "unknown";
}

static size_t desc_bytes(uint16_t n) { return (size_t)n * sizeof(struct vring_desc); }
static size_t avail_bytes(uint16_t n) { return 6 + 2 * (size_t)n; }
static size_t used_bytes(uint16_t n) { return 6 + 8 * (size_t)n; }

int virtq_validate(struct virtqueue *vq)
{
	if (vq->size == 0 || vq->size > VIRTQ_MAX_SIZE || (vq->size & (vq->size - 1)))
		return -EINVAL;
	if (!guest_mem__ptr(vq->mem, vq->desc_gpa, desc_bytes(vq->size)) ||
	    !guest_mem__ptr(vq->mem, vq->avail_gpa, avail_bytes(vq->size)) ||
	    !guest_mem__ptr(vq->mem, vq->used_gpa, used_bytes(vq->size)))
		return -EINVAL;
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return -EINVAL;
	return 0;
}

static uint16_t *avail_ring(struct virtqueue *vq)
{
	return guest_mem__ptr(vq->mem, vq->avail_gpa, avail_bytes(vq->size));
}

static uint16_t avail_idx(struct virtqueue *vq)
{
	uint16_t *a = avail_ring(vq);

	return a ? __atomic_load_n(&a[1], __ATOMIC_ACQUIRE) : vq->last_avail;
}

int virtq_has_avail(struct virtqueue *vq)
{
	return vq->ready && avail_idx(vq) != vq->last_avail;
}

static int add_buffer(struct virtq_chain *c, const struct guest_mem *mem, const struct vring_desc *d,
		      int *seen_write)
{
	uint8_t *p;

	if (d->len == 0)
		return VIRTQ_OK;	/* nothing to touch; allowed */
	p = guest_mem__ptr(mem, d->addr, d->len);
	if (!p)
		return VIRTQ_BAD_ADDR;
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		*seen_write = 1;
		if (c->nr_in == VIRTQ_MAX_CHAIN)
			return VIRTQ_BAD_LOOP;
		c->in[c->nr_in++] = (struct virtq_iov){ p, d->len };
		c->in_len += d->len;
	} else {
		if (*seen_write)
			return VIRTQ_BAD_ORDER;
		if (c->nr_out == VIRTQ_MAX_CHAIN)
			return VIRTQ_BAD_LOOP;
		c->out[c->nr_out++] = (struct virtq_iov){ p, d->len };
		c->out_len += d->len;
	}
	return VIRTQ_OK;
}

static int walk_indirect(struct virtq_chain *c, const struct guest_mem *mem, const struct vring_desc *d,
			 int *seen_write)
{
	const struct vring_desc *table;
	uint32_t n;
	uint16_t i = 0;
	unsigned int steps = 0;

	if (d->len == 0 || d->len % sizeof(struct vring_desc) || (d->flags & VIRTQ_DESC_F_NEXT))
		return VIRTQ_BAD_INDIRECT;
	n = d->len / sizeof(struct vring_desc);
	if (n > VIRTQ_MAX_SIZE)
		return VIRTQ_BAD_INDIRECT;
	table = guest_mem__ptr(mem, d->addr, d->len);
	if (!table)
		return VIRTQ_BAD_ADDR;
	for (;;) {
		struct vring_desc e;
		int ret;

		memcpy(&e, &table[i], sizeof(e));	/* once: the guest may change it */
		if (e.flags & VIRTQ_DESC_F_INDIRECT)
			return VIRTQ_BAD_INDIRECT;
		ret = add_buffer(c, mem, &e, seen_write);
		if (ret)
			return ret;
		if (!(e.flags & VIRTQ_DESC_F_NEXT))
			return VIRTQ_OK;
		if (e.next >= n)
			return VIRTQ_BAD_INDEX;
		if (++steps >= n)
			return VIRTQ_BAD_LOOP;
		i = e.next;
	}
}

int virtq_pop(struct virtqueue *vq, struct virtq_chain *c)
{
	const struct vring_desc *table;
	uint16_t *avail = avail_ring(vq);
	uint16_t idx, head, i;
	unsigned int steps = 0;
	int seen_write = 0, seen_indirect = 0;

	if (!vq->ready)
		return VIRTQ_EMPTY;
	table = guest_mem__ptr(vq->mem, vq->desc_gpa, desc_bytes(vq->size));
	if (!avail || !table)
		return VIRTQ_BAD_RING;
	idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
	if (idx == vq->last_avail)
		return VIRTQ_EMPTY;
	if ((uint16_t)(idx - vq->last_avail) > vq->size)
		return VIRTQ_BAD_RING;
	head = __atomic_load_n(&avail[2 + vq->last_avail % vq->size], __ATOMIC_RELAXED);
	if (head >= vq->size)
		return VIRTQ_BAD_INDEX;

	c->head = head;
	c->nr_in = c->nr_out = 0;
	c->in_len = c->out_len = 0;
	i = head;
	for (;;) {
		struct vring_desc d;
		int ret;

		memcpy(&d, &table[i], sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (seen_indirect)
				return VIRTQ_BAD_INDIRECT;
			seen_indirect = 1;
			ret = walk_indirect(c, vq->mem, &d, &seen_write);
		} else {
			ret = add_buffer(c, vq->mem, &d, &seen_write);
		}
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT) || (d.flags & VIRTQ_DESC_F_INDIRECT))
			break;
		if (d.next >= vq->size)
			return VIRTQ_BAD_INDEX;
		if (++steps >= vq->size)
			return VIRTQ_BAD_LOOP;
		i = d.next;
	}
	vq->last_avail++;
	return VIRTQ_OK;
}

void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	virtq_push_many(vq, &head, &written, 1);
}

void virtq_push_many(struct virtqueue *vq, const uint16_t *heads, const uint32_t *written,
		     unsigned int n)
{
	uint8_t *used = guest_mem__ptr(vq->mem, vq->used_gpa, used_bytes(vq->size));
	uint16_t idx = vq->used_idx;

	if (!used)
		return;
	for (unsigned int i = 0; i < n; i++, idx++) {
		uint32_t elem[2] = { heads[i], written[i] };

		memcpy(used + 4 + 8 * (size_t)(idx % vq->size), elem, sizeof(elem));
	}
	vq->used_idx = idx;
	__atomic_store_n((uint16_t *)(used + 2), vq->used_idx, __ATOMIC_RELEASE);
}

void virtq_unpop(struct virtqueue *vq, unsigned int n)
{
	vq->last_avail = (uint16_t)(vq->last_avail - n);
}

void virtq_notifications(struct virtqueue *vq, int on)
{
	uint16_t *used = guest_mem__ptr(vq->mem, vq->used_gpa, used_bytes(vq->size));

	if (!used)
		return;
	__atomic_store_n(&used[0], (uint16_t)(on ? 0 : VIRTQ_USED_F_NO_NOTIFY), __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* before the caller looks again */
}

int virtq_should_notify(struct virtqueue *vq)
{
	uint16_t *avail = avail_ring(vq);

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !avail || !(__atomic_load_n(&avail[0], __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Copy between a flat buffer and a chain's buffers, from byte skip of the chain. */
static size_t iov_copy(const struct virtq_iov *iov, unsigned int n, size_t skip, uint8_t *buf,
		       size_t len, int to_chain)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t take;

		if (skip >= iov[i].len) {
			skip -= iov[i].len;
			continue;
		}
		take = iov[i].len - skip;
		if (take > len - done)
			take = len - done;
		if (to_chain)
			memcpy(iov[i].base + skip, buf + done, take);
		else
			memcpy(buf + done, iov[i].base + skip, take);
		done += take;
		skip = 0;
	}
	return done;
}

size_t virtq_iov_read(const struct virtq_iov *iov, unsigned int n, size_t skip, void *dst, size_t len)
{
	return iov_copy(iov, n, skip, dst, len, 0);
}

size_t virtq_iov_write(const struct virtq_iov *iov, unsigned int n, size_t skip, const void *src, size_t len)
{
	return iov_copy(iov, n, skip, (uint8_t *)src, len, 1);
}
