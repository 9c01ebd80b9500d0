#include "virtio.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void virtio_dev__init(struct virtio_dev *vdev, const struct virtio_dev_ops *ops, void *priv,
		      const struct guest_mem *mem)
{
	memset(vdev, 0, sizeof(*vdev));
	vdev->ops = ops;
	vdev->priv = priv;
	vdev->mem = mem;
	pthread_mutex_init(&vdev->lock, NULL);
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vdev->vq[i].mem = mem;
}

void virtio_dev__destroy(struct virtio_dev *vdev)
{
	pthread_mutex_destroy(&vdev->lock);
}

void virtio_dev__signal(struct virtio_dev *vdev, uint32_t reason)
{
	if (vdev->irq)
		vdev->irq(vdev->irq_ctx, reason);
}

/* Whether a warning may be printed now; counts the ones that may not. */
static int virtio_dev__may_warn(struct virtio_dev *vdev)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (vdev->warn_count == 0 || now.tv_sec - vdev->warn_window >= VIRTIO_WARN_WINDOW_S) {
		vdev->warn_window = now.tv_sec;
		vdev->warn_count = 0;
	}
	if (vdev->warn_count >= VIRTIO_WARN_BURST) {
		vdev->warn_suppressed++;
		return 0;
	}
	vdev->warn_count++;
	return 1;
}

void virtio_dev__needs_reset(struct virtio_dev *vdev, const char *why)
{
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	if (virtio_dev__may_warn(vdev)) {
		fprintf(stderr, "pupa-vmm: virtio-%s: %s; device stopped until the driver resets it",
			vdev->ops->name, why);
		if (vdev->warn_suppressed)
			fprintf(stderr, " (%" PRIu64 " more such warnings not shown)",
				vdev->warn_suppressed);
		fputc('\n', stderr);
		vdev->warn_suppressed = 0;
	}
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	virtio_dev__signal(vdev, VIRTIO_INT_CONFIG);
}

int virtio_dev__running(const struct virtio_dev *vdev)
{
	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vdev->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}
