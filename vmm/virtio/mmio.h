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

/* The io_bus handler for the register window. */
void virtio_mmio__io(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write);

#endif
