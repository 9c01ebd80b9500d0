#include "mmio.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define REG_MAGIC		0x000
#define REG_VERSION		0x004
#define REG_DEVICE_ID		0x008
#define REG_VENDOR_ID		0x00c
#define REG_DEVICE_FEATURES	0x010
#define REG_DEVICE_FEATURES_SEL	0x014
#define REG_DRIVER_FEATURES	0x020
#define REG_DRIVER_FEATURES_SEL	0x024
#define REG_QUEUE_SEL		0x030
#define REG_QUEUE_NUM_MAX	0x034
#define REG_QUEUE_NUM		0x038
#define REG_QUEUE_READY		0x044
#define REG_QUEUE_NOTIFY	0x050
#define REG_INTERRUPT_STATUS	0x060
#define REG_INTERRUPT_ACK	0x064
#define REG_STATUS		0x070
#define REG_QUEUE_DESC_LOW	0x080
#define REG_QUEUE_DESC_HIGH	0x084
#define REG_QUEUE_DRIVER_LOW	0x090
#define REG_QUEUE_DRIVER_HIGH	0x094
#define REG_QUEUE_DEVICE_LOW	0x0a0
#define REG_QUEUE_DEVICE_HIGH	0x0a4
#define REG_CONFIG_GENERATION	0x0fc
#define REG_CONFIG		0x100

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Called by the device, lock held: latch the reason, pulse the line. */
static void mmio_irq(void *ctx, uint32_t reason)
{
	struct virtio_mmio *m = ctx;

	m->interrupt_status |= reason;
	m->pulsed_at_ms = mono_ms();
	if (m->pulse)
		m->pulse(m->pulse_ctx, m->irq);
}

int virtio_mmio__repulse(struct virtio_mmio *m, uint64_t stale_ms)
{
	uint64_t now_ms = mono_ms();
	int pending;

	pthread_mutex_lock(&m->vdev->lock);
	pending = m->interrupt_status != 0;
	if (pending && now_ms - m->pulsed_at_ms >= stale_ms) {
		m->pulsed_at_ms = now_ms;
		if (m->pulse)
			m->pulse(m->pulse_ctx, m->irq);
	}
	pthread_mutex_unlock(&m->vdev->lock);
	return pending;
}

void virtio_mmio__init(struct virtio_mmio *m, struct virtio_dev *vdev, uint64_t base, uint32_t irq,
		       mmio_irq_line_fn pulse, void *ctx)
{
	memset(m, 0, sizeof(*m));
	m->vdev = vdev;
	m->base = base;
	m->irq = irq;
	m->pulse = pulse;
	m->pulse_ctx = ctx;
	vdev->irq = mmio_irq;
	vdev->irq_ctx = m;
}

static struct virtqueue *selected(struct virtio_mmio *m)
{
	if (m->queue_sel >= m->vdev->ops->nr_queues)
		return NULL;
	return &m->vdev->vq[m->queue_sel];
}

static void reset(struct virtio_mmio *m)
{
	struct virtio_dev *v = m->vdev;

	if (v->ops->reset)
		v->ops->reset(v);
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		const struct guest_mem *mem = v->vq[i].mem;

		memset(&v->vq[i], 0, sizeof(v->vq[i]));
		v->vq[i].mem = mem;
	}
	v->status = 0;
	v->driver_features = 0;
	m->interrupt_status = 0;
	m->queue_sel = 0;
	m->device_features_sel = m->driver_features_sel = 0;
}

static uint32_t read_reg(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_dev *v = m->vdev;
	struct virtqueue *q = selected(m);
	uint64_t features;

	switch (off) {
	case REG_MAGIC: return VIRTIO_MMIO_MAGIC;
	case REG_VERSION: return 2;
	case REG_DEVICE_ID: return v->ops->device_id;
	case REG_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
	case REG_DEVICE_FEATURES:
		features = v->ops->features(v) | (1ULL << VIRTIO_F_VERSION_1);
		return m->device_features_sel == 0 ? (uint32_t)features :
		       m->device_features_sel == 1 ? (uint32_t)(features >> 32) : 0;
	case REG_QUEUE_NUM_MAX: return q ? v->ops->queue_max : 0;
	case REG_QUEUE_READY: return q ? (uint32_t)q->ready : 0;
	case REG_INTERRUPT_STATUS: return m->interrupt_status;
	case REG_STATUS: return v->status;
	case REG_CONFIG_GENERATION: return v->config_generation;
	}
	return 0;
}

static void set_status(struct virtio_mmio *m, uint32_t val)
{
	struct virtio_dev *v = m->vdev;
	uint64_t offered = v->ops->features(v) | (1ULL << VIRTIO_F_VERSION_1);

	if (val == 0) {
		reset(m);
		return;
	}
	/* FEATURES_OK only for a subset of what we offer, with VERSION_1. */
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(v->status & VIRTIO_STATUS_FEATURES_OK) &&
	    ((v->driver_features & ~offered) || !(v->driver_features & (1ULL << VIRTIO_F_VERSION_1))))
		val &= ~VIRTIO_STATUS_FEATURES_OK;
	if ((val & VIRTIO_STATUS_DRIVER_OK) && !(v->status & VIRTIO_STATUS_DRIVER_OK)) {
		v->status = val;
		if (v->ops->activate)
			v->ops->activate(v);
		return;
	}
	v->status = val | (v->status & VIRTIO_STATUS_NEEDS_RESET);
}

static void set_addr(uint64_t *addr, int high, uint32_t val)
{
	if (high)
		*addr = (*addr & 0xffffffffULL) | ((uint64_t)val << 32);
	else
		*addr = (*addr & ~0xffffffffULL) | val;
}

static void write_reg(struct virtio_mmio *m, uint64_t off, uint32_t val)
{
	struct virtio_dev *v = m->vdev;
	struct virtqueue *q = selected(m);
	int live = !(v->status & VIRTIO_STATUS_DRIVER_OK);	/* queue setup only before DRIVER_OK */

	switch (off) {
	case REG_DEVICE_FEATURES_SEL: m->device_features_sel = val; break;
	case REG_DRIVER_FEATURES_SEL: m->driver_features_sel = val; break;
	case REG_DRIVER_FEATURES:
		if (v->status & VIRTIO_STATUS_FEATURES_OK)
			break;
		if (m->driver_features_sel == 0)
			v->driver_features = (v->driver_features & ~0xffffffffULL) | val;
		else if (m->driver_features_sel == 1)
			v->driver_features = (v->driver_features & 0xffffffffULL) | ((uint64_t)val << 32);
		break;
	case REG_QUEUE_SEL: m->queue_sel = val; break;
	case REG_QUEUE_NUM:
		if (q && live && !q->ready)
			q->size = (val <= v->ops->queue_max) ? (uint16_t)val : 0;
		break;
	case REG_QUEUE_READY:
		if (!q)
			break;
		if (val == 1 && !q->ready) {
			if (virtq_validate(q) < 0) {
				virtio_dev__needs_reset(v, "queue set up outside guest RAM or with a bad size");
				break;
			}
			q->ready = 1;
		} else if (val == 0) {
			q->ready = 0;
		}
		break;
	case REG_QUEUE_NOTIFY:
		if (val < v->ops->nr_queues && virtio_dev__running(v) && v->vq[val].ready)
			v->ops->queue_notify(v, val);
		break;
	case REG_INTERRUPT_ACK:
		m->interrupt_status &= ~val;
		break;
	case REG_STATUS:
		set_status(m, val);
		break;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
		if (q && live && !q->ready)
			set_addr(&q->desc_gpa, off == REG_QUEUE_DESC_HIGH, val);
		break;
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
		if (q && live && !q->ready)
			set_addr(&q->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, val);
		break;
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		if (q && live && !q->ready)
			set_addr(&q->used_gpa, off == REG_QUEUE_DEVICE_HIGH, val);
		break;
	}
}

void virtio_mmio__io(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write)
{
	struct virtio_mmio *m = dev;
	struct virtio_dev *v = m->vdev;

	pthread_mutex_lock(&v->lock);
	if (offset >= REG_CONFIG) {
		uint32_t off = (uint32_t)(offset - REG_CONFIG);
		uint32_t size = v->ops->config_size(v);

		if (off > size || len > size - off) {
			if (!is_write)
				memset(data, 0, len);
		} else if (is_write) {
			if (v->ops->config_write)
				v->ops->config_write(v, off, data, len);
		} else {
			v->ops->config_read(v, off, data, len);
		}
	} else if (len != 4 || (offset & 3)) {
		/* Registers are 32-bit wide and aligned; anything else is ignored. */
		if (!is_write)
			memset(data, 0xff, len);
	} else if (is_write) {
		uint32_t val;

		memcpy(&val, data, 4);
		write_reg(m, offset, val);
	} else {
		uint32_t val = read_reg(m, offset);

		memcpy(data, &val, 4);
	}
	pthread_mutex_unlock(&v->lock);
}

void virtio_mmio__get_state(struct virtio_mmio *m, struct virtio_mmio_state *s)
{
	struct virtio_dev *v = m->vdev;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&v->lock);
	s->device_id = v->ops->device_id;
	s->nr_queues = v->ops->nr_queues;
	s->device_features_sel = m->device_features_sel;
	s->driver_features_sel = m->driver_features_sel;
	s->queue_sel = m->queue_sel;
	s->interrupt_status = m->interrupt_status;
	s->driver_features = v->driver_features;
	s->status = v->status;
	s->config_generation = v->config_generation;
	for (unsigned int i = 0; i < v->ops->nr_queues && i < VIRTIO_MAX_QUEUES; i++) {
		const struct virtqueue *q = &v->vq[i];

		s->q[i] = (struct virtio_queue_state){
			.desc_gpa = q->desc_gpa, .avail_gpa = q->avail_gpa, .used_gpa = q->used_gpa,
			.size = q->size, .last_avail = q->last_avail, .used_idx = q->used_idx,
			.ready = (uint16_t)q->ready,
		};
	}
	pthread_mutex_unlock(&v->lock);
}

int virtio_mmio__set_state(struct virtio_mmio *m, const struct virtio_mmio_state *s)
{
	struct virtio_dev *v = m->vdev;
	struct virtqueue vq[VIRTIO_MAX_QUEUES];

	if (s->device_id != v->ops->device_id || s->nr_queues != v->ops->nr_queues ||
	    s->nr_queues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		const struct virtio_queue_state *q = &s->q[i];

		vq[i] = (struct virtqueue){
			.size = q->size, .ready = q->ready != 0, .desc_gpa = q->desc_gpa,
			.avail_gpa = q->avail_gpa, .used_gpa = q->used_gpa,
			.last_avail = q->last_avail, .used_idx = q->used_idx, .mem = v->vq[i].mem,
		};
		if (i >= s->nr_queues && (q->size || q->ready))
			return -EINVAL;
		if (q->size > v->ops->queue_max || (vq[i].ready && virtq_validate(&vq[i]) < 0))
			return -EINVAL;
	}
	pthread_mutex_lock(&v->lock);
	memcpy(v->vq, vq, sizeof(vq));
	m->device_features_sel = s->device_features_sel;
	m->driver_features_sel = s->driver_features_sel;
	m->queue_sel = s->queue_sel;
	m->interrupt_status = s->interrupt_status;
	v->driver_features = s->driver_features;
	v->status = s->status;
	v->config_generation = s->config_generation;
	pthread_mutex_unlock(&v->lock);
	return 0;
}

void virtio_mmio__kick(struct virtio_mmio *m)
{
	struct virtio_dev *v = m->vdev;

	pthread_mutex_lock(&v->lock);
	for (unsigned int i = 0; i < v->ops->nr_queues && i < VIRTIO_MAX_QUEUES; i++)
		if (virtio_dev__running(v) && v->vq[i].ready)
			v->ops->queue_notify(v, i);
	pthread_mutex_unlock(&v->lock);
}
