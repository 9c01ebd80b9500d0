/*
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2): one 4 KiB
 * register window and one interrupt line per device, announced to Linux as
 * virtio_mmio.device=SIZE@ADDR:IRQ and in the boot device tree.
 */
#ifndef PUPA_VMM_VIRTIO_MMIO_H
#define PUPA_VMM_VIRTIO_MMIO_H

#include <stdint.h>

#include "virtio.h"

#define VIRTIO_MMIO_SIZE	0x1000
#define VIRTIO_MMIO_MAGIC	0x74726976	/* "virt" */
#define VIRTIO_MMIO_VENDOR	0x41505550	/* "PUPA" */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050	/* the register a notification writes */

typedef void (*mmio_irq_line_fn)(void *ctx, uint32_t irq);

struct virtio_mmio {
	struct virtio_dev *vdev;
	uint64_t base;
	uint32_t irq;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	mmio_irq_line_fn pulse;		/* edge on the interrupt line */
	void *pulse_ctx;
	uint64_t pulsed_at_ms;		/* when the line last pulsed */
};

/*
 * Pulse again if the driver has left an interrupt unacknowledged for
 * longer than stale_ms: an edge lost on the way (seen under nested
 * emulation) would otherwise stall the device for good. The driver finds
 * work each time, so the extra interrupt is never spurious. Returns
 * whether an interrupt is still pending.
 */
int virtio_mmio__repulse(struct virtio_mmio *m, uint64_t stale_ms);

void virtio_mmio__init(struct virtio_mmio *m, struct virtio_dev *vdev, uint64_t base, uint32_t irq,
		       mmio_irq_line_fn pulse, void *ctx);

/* What a snapshot keeps of a device: the transport's registers and the
 * queues' addresses and positions (the rings are in guest RAM). */
struct virtio_queue_state {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size, last_avail, used_idx, ready;
};
struct virtio_mmio_state {
	uint32_t device_id, nr_queues;
	uint32_t device_features_sel, driver_features_sel, queue_sel, interrupt_status;
	uint64_t driver_features;
	uint32_t status, config_generation;
	struct virtio_queue_state q[VIRTIO_MAX_QUEUES];
};
void virtio_mmio__get_state(struct virtio_mmio *m, struct virtio_mmio_state *s);
/* -EINVAL, the device untouched, when s is not this device's or its
 * queues do not fit it (sizes, rings outside RAM). */
int virtio_mmio__set_state(struct virtio_mmio *m, const struct virtio_mmio_state *s);
/*
 * Every ready queue as if the guest had just notified it. A restored
 * device runs this once its RAM is in: a notification that the VMM which
 * made the snapshot had taken but not yet served when it paused (its
 * ioeventfd read, its main loop busy writing the snapshot) is this VMM's
 * to serve, or the guest waits for an answer that never comes.
 */
void virtio_mmio__kick(struct virtio_mmio *m);

/* The io_bus handler for the register window. */
void virtio_mmio__io(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write);

#endif
