/*
 * A virtio device, independent of its transport: the device supplies an
 * ops table (features, config space, queue notifications, reset); the
 * transport (virtio-mmio here, PCI some day) owns the registers and calls
 * through it, and the device raises interrupts through virtio_dev__signal.
 */
#ifndef PUPA_VMM_VIRTIO_H
#define PUPA_VMM_VIRTIO_H

#include <pthread.h>
#include <stdint.h>

#include "virtqueue.h"

#define VIRTIO_ID_NET		1
#define VIRTIO_ID_BLOCK		2
#define VIRTIO_ID_CONSOLE	3
#define VIRTIO_ID_VSOCK		19

#define VIRTIO_F_VERSION_1	32

#define VIRTIO_STATUS_ACKNOWLEDGE	1
#define VIRTIO_STATUS_DRIVER		2
#define VIRTIO_STATUS_DRIVER_OK		4
#define VIRTIO_STATUS_FEATURES_OK	8
#define VIRTIO_STATUS_NEEDS_RESET	64
#define VIRTIO_STATUS_FAILED		128

#define VIRTIO_INT_USED		1
#define VIRTIO_INT_CONFIG	2

#define VIRTIO_MAX_QUEUES	4

struct virtio_dev;

struct virtio_dev_ops {
	const char *name;
	uint32_t device_id;
	unsigned int nr_queues;
	uint16_t queue_max;
	uint64_t (*features)(struct virtio_dev *vdev);
	uint32_t (*config_size)(struct virtio_dev *vdev);
	void (*config_read)(struct virtio_dev *vdev, uint32_t off, void *data, uint32_t len);
	void (*config_write)(struct virtio_dev *vdev, uint32_t off, const void *data, uint32_t len);
	/* A queue has new buffers. Called with vdev->lock held. */
	void (*queue_notify)(struct virtio_dev *vdev, unsigned int q);
	/*
	 * Optional: an eventfd that stands for queue q's notifications. The
	 * VM then has KVM signal it when the guest writes the queue's number
	 * to the notify register (KVM_IOEVENTFD), without an exit to
	 * pupa-vmm; queue_notify still runs where that is not available. -1:
	 * none for this queue.
	 */
	int (*notify_fd)(struct virtio_dev *vdev, unsigned int q);
	/* The driver set DRIVER_OK, or wrote 0 to reset. Lock held. */
	void (*activate)(struct virtio_dev *vdev);
	void (*reset)(struct virtio_dev *vdev);
};

typedef void (*virtio_irq_fn)(void *ctx, uint32_t reason);

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;			/* the device's own state */
	pthread_mutex_t lock;		/* guards everything here and the device */
	const struct guest_mem *mem;
	struct virtqueue vq[VIRTIO_MAX_QUEUES];
	uint64_t driver_features;
	uint32_t status;
	uint32_t config_generation;
	virtio_irq_fn irq;		/* set by the transport */
	void *irq_ctx;
	/* A guest can break and reset a device in a loop: its warnings are
	 * limited to VIRTIO_WARN_BURST per VIRTIO_WARN_WINDOW_S seconds. */
	int64_t warn_window;		/* start, monotonic seconds */
	unsigned int warn_count;	/* warnings in the window */
	uint64_t warn_suppressed;	/* not printed since the last one that was */
};

#define VIRTIO_WARN_BURST 5
#define VIRTIO_WARN_WINDOW_S 60

void virtio_dev__init(struct virtio_dev *vdev, const struct virtio_dev_ops *ops, void *priv,
		      const struct guest_mem *mem);
void virtio_dev__destroy(struct virtio_dev *vdev);

/* Raise an interrupt for used buffers or a config change. Lock held. */
void virtio_dev__signal(struct virtio_dev *vdev, uint32_t reason);

/* A queue went bad: mark the device as needing a reset, tell the driver,
 * and say why on stderr (rate-limited). */
void virtio_dev__needs_reset(struct virtio_dev *vdev, const char *why);

/* Is the device live (DRIVER_OK, not broken)? */
int virtio_dev__running(const struct virtio_dev *vdev);

#endif
