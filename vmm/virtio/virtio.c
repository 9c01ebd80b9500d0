#include "virtio.h"

#include <stdio.h>
#include <string.h>

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

void virtio_dev__needs_reset(struct virtio_dev *vdev, const char *why)
{
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	fprintf(stderr, "pupa-vmm: virtio-%s: %s; device stopped until the driver resets it\n",
		vdev->ops->name, why);
	vdev->status |= VIRTIO_STATUS_NEEDS_RESET;
	virtio_dev__signal(vdev, VIRTIO_INT_CONFIG);
}

int virtio_dev__running(const struct virtio_dev *vdev)
{
	return (vdev->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vdev->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}
