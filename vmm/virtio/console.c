#include "console.h"

#include <string.h>

#define VCON_QUEUE_SIZE	128
#define VCON_RX		0
#define VCON_TX		1
#define VCON_CONFIG_SIZE 12	/* cols, rows, max_nr_ports, emerg_wr */

static struct virtio_console *to_con(struct virtio_dev *v) { return v->priv; }

static uint64_t vcon_features(struct virtio_dev *v) { return 0; }
static uint32_t vcon_config_size(struct virtio_dev *v) { return VCON_CONFIG_SIZE; }

static void vcon_config_read(struct virtio_dev *v, uint32_t off, void *data, uint32_t len)
{
	uint8_t cfg[VCON_CONFIG_SIZE] = { 0 };
	uint32_t ports = 1;

	memcpy(cfg + 4, &ports, 4);
	memcpy(data, cfg + off, len);
}

static void vcon_transmit(struct virtio_console *c)
{
	struct virtqueue *vq = &c->vdev.vq[VCON_TX];
	int ret, pushed = 0;

	while ((ret = virtq_pop(vq, &c->chain)) == VIRTQ_OK) {
		for (unsigned int i = 0; i < c->chain.nr_out; i++)
			if (c->out)
				c->out(c->out_ctx, c->chain.out[i].base, c->chain.out[i].len);
		virtq_push(vq, c->chain.head, 0);
		pushed = 1;
	}
	if (ret < 0)
		virtio_dev__needs_reset(&c->vdev, virtq_strerror(ret));
	else if (pushed && virtq_should_notify(vq))
		virtio_dev__signal(&c->vdev, VIRTIO_INT_USED);
}

static void vcon_queue_notify(struct virtio_dev *v, unsigned int q)
{
	if (q == VCON_TX)
		vcon_transmit(to_con(v));
	/* RX notifications only say buffers are there; input is pushed by the host. */
}

const struct virtio_dev_ops virtio_console_ops = {
	.name = "console",
	.device_id = VIRTIO_ID_CONSOLE,
	.nr_queues = 2,
	.queue_max = VCON_QUEUE_SIZE,
	.features = vcon_features,
	.config_size = vcon_config_size,
	.config_read = vcon_config_read,
	.queue_notify = vcon_queue_notify,
};

void virtio_console__init(struct virtio_console *c, const struct guest_mem *mem, vcon_out_fn out,
			  void *ctx)
{
	memset(c, 0, sizeof(*c));
	c->out = out;
	c->out_ctx = ctx;
	virtio_dev__init(&c->vdev, &virtio_console_ops, c, mem);
}

void virtio_console__destroy(struct virtio_console *c)
{
	virtio_dev__destroy(&c->vdev);
}

int virtio_console__ready(struct virtio_console *c)
{
	int ready;

	pthread_mutex_lock(&c->vdev.lock);
	ready = virtio_dev__running(&c->vdev) && c->vdev.vq[VCON_RX].ready;
	pthread_mutex_unlock(&c->vdev.lock);
	return ready;
}

size_t virtio_console__receive(struct virtio_console *c, const void *buf, size_t len)
{
	struct virtqueue *vq = &c->vdev.vq[VCON_RX];
	size_t done = 0;

	pthread_mutex_lock(&c->vdev.lock);
	while (done < len && virtio_dev__running(&c->vdev) && virtq_pop(vq, &c->chain) == VIRTQ_OK) {
		size_t n = virtq_iov_write(c->chain.in, c->chain.nr_in, 0, (const char *)buf + done,
					   len - done);

		virtq_push(vq, c->chain.head, (uint32_t)n);
		done += n;
	}
	if (done && virtq_should_notify(vq))
		virtio_dev__signal(&c->vdev, VIRTIO_INT_USED);
	pthread_mutex_unlock(&c->vdev.lock);
	return done;
}
