/* SPDX-License-Identifier: MIT */
/*
 * virtio-net (virtio 1.2, 5.1): one receive and one transmit queue, a MAC
 * address, link status, mergeable receive buffers, and checksums the
 * guest may trust on receive (VIRTIO_NET_F_GUEST_CSUM: the backend only
 * hands over frames whose checksums it computed itself).
 *
 * The device moves frames and nothing else; a backend (vmm/net/) routes
 * them. Both directions run on the main thread: a transmit notification
 * arrives on a vCPU thread and only wakes the main loop, which takes the
 * frames off the queue and hands each to the backend's tx function; the
 * backend calls virtio_net__receive() from its own event handlers.
 *
 * A frame the guest has no receive buffer for waits in a backlog of at
 * most NET_BACKLOG_FRAMES frames and NET_BACKLOG_BYTES bytes; past that
 * it is dropped and counted. A guest that stops reading loses packets and
 * never grows pupa-vmm's memory.
 */
#ifndef PUPA_VMM_VIRTIO_NET_H
#define PUPA_VMM_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "event_loop.h"
#include "error.h"
#include "virtio.h"

#define NET_HDR_SIZE		12	/* struct virtio_net_hdr_v1 */
#define NET_MAX_FRAME		(65535 + 14)	/* the largest IP packet, with Ethernet */
#define NET_RX_MAX_BUFS		64	/* receive buffers one frame may span */
#define NET_BACKLOG_FRAMES	256
#define NET_BACKLOG_BYTES	(1u << 20)

/* The guest sent a frame (Ethernet header first, no virtio header). */
typedef void (*net_tx_fn)(void *ctx, const uint8_t *frame, size_t len);

/* A waiting frame: len bytes at off in the backlog's ring. */
struct net_frame {
	uint32_t off, len;
};

struct net_stats {
	uint64_t rx_frames, rx_dropped;	/* host -> guest */
	uint64_t tx_frames, tx_dropped;	/* guest -> host */
};

struct virtio_net {
	struct virtio_dev vdev;
	uint8_t mac[6];
	net_tx_fn tx;
	void *tx_ctx;
	struct event_loop *loop;
	struct ev_handler wake_h;	/* eventfd: the guest queued frames to send */
	/* Frames waiting for receive buffers, oldest first (vdev.lock), in
	 * one ring of bytes allocated up front: a vCPU thread that flushes
	 * it must not call malloc (a new arena opens files, which its
	 * seccomp filter forbids). */
	struct net_frame backlog[NET_BACKLOG_FRAMES];
	unsigned int backlog_head, backlog_count;
	size_t backlog_bytes;		/* frame bytes waiting */
	uint8_t *ring;			/* NET_BACKLOG_BYTES */
	uint32_t ring_tail;		/* where the next frame goes */
	struct net_stats stats;		/* vdev.lock */
	struct virtq_chain chain;	/* vdev.lock */
	uint8_t *txbuf;			/* one frame being sent; main thread */
};

/* A device with this MAC whose transmitted frames go to tx. */
int virtio_net__init(struct virtio_net *net, const uint8_t mac[6], const struct guest_mem *mem,
		     struct event_loop *loop, net_tx_fn tx, void *tx_ctx, struct pupa_err *err);
void virtio_net__destroy(struct virtio_net *net);

/*
 * Give the guest a frame (Ethernet header first). Copied: the caller keeps
 * its buffer. Dropped while the driver is not live, or when the frame is
 * larger than NET_MAX_FRAME or the backlog is full.
 */
void virtio_net__receive(struct virtio_net *net, const uint8_t *frame, size_t len);

/* Take the frames the guest queued for sending (the wake handler does). */
void virtio_net__transmit(struct virtio_net *net);

void virtio_net__stats(struct virtio_net *net, struct net_stats *out);

extern const struct virtio_dev_ops virtio_net_ops;

#endif
