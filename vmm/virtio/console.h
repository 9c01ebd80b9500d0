/*
 * virtio-console, one port (hvc0): the guest's fast console. A transmit
 * buffer is one exit, where the UART takes one per byte. Output goes to
 * the same sink as the UART; input, when the host has a terminal, comes
 * here once the driver is up.
 */
#ifndef PUPA_VMM_VIRTIO_CONSOLE_H
#define PUPA_VMM_VIRTIO_CONSOLE_H

#include <stddef.h>

#include "virtio.h"

typedef void (*vcon_out_fn)(void *ctx, const void *buf, size_t len);

struct virtio_console {
	struct virtio_dev vdev;
	vcon_out_fn out;
	void *out_ctx;
	struct virtq_chain chain;
};

void virtio_console__init(struct virtio_console *c, const struct guest_mem *mem, vcon_out_fn out,
			  void *ctx);
void virtio_console__destroy(struct virtio_console *c);

/* Is the driver ready to take input? */
int virtio_console__ready(struct virtio_console *c);

/* Give the guest input; returns how many bytes it had buffers for. */
size_t virtio_console__receive(struct virtio_console *c, const void *buf, size_t len);

extern const struct virtio_dev_ops virtio_console_ops;

#endif
