/* SPDX-License-Identifier: MIT */
#include "net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NET_QUEUE_SIZE	256
#define NET_RX		0
#define NET_TX		1

#define NET_F_GUEST_CSUM	1
#define NET_F_MAC		5
#define NET_F_MRG_RXBUF		15
#define NET_F_STATUS		16

#define NET_HDR_F_DATA_VALID	2
#define NET_HDR_GSO_NONE	0
#define NET_S_LINK_UP		1

#define NET_CONFIG_SIZE		10	/* mac[6], status, max_virtqueue_pairs */
#define NET_HDR_NUM_BUFFERS	10	/* offset of num_buffers in the header */

static struct virtio_net *to_net(struct virtio_dev *v) { return v->priv; }

static int net__has(const struct virtio_net *net, unsigned int bit)
{
	return (net->vdev.driver_features >> bit) & 1;
}

static uint64_t net__features(struct virtio_dev *v)
{
	return (1ULL << NET_F_MAC) | (1ULL << NET_F_STATUS) | (1ULL << NET_F_MRG_RXBUF) |
	       (1ULL << NET_F_GUEST_CSUM);
}

static uint32_t net__config_size(struct virtio_dev *v) { return NET_CONFIG_SIZE; }

static void net__config_read(struct virtio_dev *v, uint32_t off, void *data, uint32_t len)
{
	uint8_t cfg[NET_CONFIG_SIZE];
	uint16_t status = NET_S_LINK_UP, pairs = 1;

	memcpy(cfg, to_net(v)->mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 8, &pairs, 2);
	memcpy(data, cfg + off, len);	/* the transport checked off + len */
}

/* --- receive: backend -> guest ------------------------------------------------- */

/*
 * Write the bytes [off, off + len) of the stream "header, frame" into the
 * chain's writable buffers from its start.
 */
static void net__put(const struct virtq_chain *c, const uint8_t *hdr, const uint8_t *frame,
		     size_t off, size_t len)
{
	size_t done = 0;

	if (off < NET_HDR_SIZE) {
		size_t h = NET_HDR_SIZE - off < len ? NET_HDR_SIZE - off : len;

		virtq_iov_write(c->in, c->nr_in, 0, hdr + off, h);
		done = h;
	}
	if (done < len)
		virtq_iov_write(c->in, c->nr_in, done, frame + (off + done - NET_HDR_SIZE), len - done);
}

/* Where the two bytes of num_buffers landed in the first chain's buffers. */
static void net__find_num_buffers(const struct virtq_chain *c, uint8_t *at[2])
{
	size_t pos = 0;		/* header offset where buffer i starts */
	unsigned int k = 0;

	for (unsigned int i = 0; i < c->nr_in && k < 2; i++) {
		while (k < 2 && NET_HDR_NUM_BUFFERS + k < pos + c->in[i].len) {
			at[k] = c->in[i].base + (NET_HDR_NUM_BUFFERS + k - pos);
			k++;
		}
		pos += c->in[i].len;
	}
}

enum net_rx_result { NET_RX_DONE, NET_RX_NO_BUFFERS, NET_RX_DROP };

/*
 * Copy one frame into the guest's receive buffers: one chain, or with
 * mergeable buffers as many as it takes. Nothing is given back unless
 * the whole frame fits. Called with vdev.lock held.
 */
static enum net_rx_result net__deliver(struct virtio_net *net, const uint8_t *frame, size_t len)
{
	struct virtqueue *vq = &net->vdev.vq[NET_RX];
	uint8_t hdr[NET_HDR_SIZE] = { 0 };
	uint16_t heads[NET_RX_MAX_BUFS];
	uint32_t written[NET_RX_MAX_BUFS];
	unsigned int max = net__has(net, NET_F_MRG_RXBUF) ? NET_RX_MAX_BUFS : 1, n = 0;
	uint8_t *num_buffers[2] = { NULL, NULL };
	size_t need = NET_HDR_SIZE + len, off = 0;

	if (net__has(net, NET_F_GUEST_CSUM))
		hdr[0] = NET_HDR_F_DATA_VALID;
	hdr[1] = NET_HDR_GSO_NONE;
	hdr[NET_HDR_NUM_BUFFERS] = 1;
	while (off < need) {
		size_t take;
		int ret;

		if (n == max) {		/* the buffers are too small for this frame */
			virtq_unpop(vq, n);
			return NET_RX_DROP;
		}
		ret = virtq_pop(vq, &net->chain);
		if (ret == VIRTQ_EMPTY) {
			virtq_unpop(vq, n);
			return NET_RX_NO_BUFFERS;
		}
		if (ret < 0 || net->chain.in_len == 0) {
			virtio_dev__needs_reset(&net->vdev, ret < 0 ? virtq_strerror(ret) :
						"a receive buffer the device may not write");
			return NET_RX_DROP;
		}
		take = net->chain.in_len < need - off ? net->chain.in_len : need - off;
		if (n == 0 && take < NET_HDR_SIZE) {
			virtio_dev__needs_reset(&net->vdev, "a receive buffer smaller than the header");
			return NET_RX_DROP;
		}
		net__put(&net->chain, hdr, frame, off, take);
		if (n == 0)
			net__find_num_buffers(&net->chain, num_buffers);
		heads[n] = net->chain.head;
		written[n++] = (uint32_t)take;
		off += take;
	}
	if (num_buffers[0] && num_buffers[1]) {
		*num_buffers[0] = (uint8_t)n;
		*num_buffers[1] = (uint8_t)(n >> 8);
	}
	virtq_push_many(vq, heads, written, n);
	return NET_RX_DONE;
}

static struct net_frame *net__backlog_front(struct virtio_net *net)
{
	return net->backlog_count ? &net->backlog[net->backlog_head] : NULL;
}

static void net__backlog_drop_front(struct virtio_net *net)
{
	net->backlog_bytes -= net->backlog[net->backlog_head].len;
	net->backlog_head = (net->backlog_head + 1) % NET_BACKLOG_FRAMES;
	if (--net->backlog_count == 0)
		net->ring_tail = 0;
}

static void net__backlog_clear(struct virtio_net *net)
{
	while (net->backlog_count)
		net__backlog_drop_front(net);
}

/*
 * Where len more bytes fit in the ring, frames kept contiguous: after the
 * newest frame, or from the start when the end is too short and the
 * oldest frame does not begin there. -1 when full.
 */
static long net__ring_place(const struct virtio_net *net, size_t len)
{
	uint32_t head, tail = net->ring_tail;

	if (net->backlog_count == 0)
		return len <= NET_BACKLOG_BYTES ? 0 : -1;
	head = net->backlog[net->backlog_head].off;
	if (tail > head || (tail == head && net->backlog_bytes == 0)) {
		if (NET_BACKLOG_BYTES - tail >= len)
			return tail;
		return len <= head ? 0 : -1;	/* wrap to the start */
	}
	return head - tail >= len ? (long)tail : -1;
}

static int net__backlog_add(struct virtio_net *net, const uint8_t *frame, size_t len)
{
	struct net_frame *f;
	long at;

	if (net->backlog_count == NET_BACKLOG_FRAMES || (at = net__ring_place(net, len)) < 0)
		return -ENOBUFS;
	f = &net->backlog[(net->backlog_head + net->backlog_count) % NET_BACKLOG_FRAMES];
	f->off = (uint32_t)at;
	f->len = (uint32_t)len;
	memcpy(net->ring + at, frame, len);
	net->ring_tail = (uint32_t)(at + (long)len);
	net->backlog_count++;
	net->backlog_bytes += len;
	return 0;
}

/* Deliver waiting frames while the guest has buffers; 1 if any went in. */
static int net__backlog_flush(struct virtio_net *net)
{
	struct net_frame *f;
	int delivered = 0;

	while ((f = net__backlog_front(net))) {
		enum net_rx_result r = net__deliver(net, net->ring + f->off, f->len);

		if (r == NET_RX_NO_BUFFERS)
			break;
		if (r == NET_RX_DONE) {
			net->stats.rx_frames++;
			delivered = 1;
		} else {
			net->stats.rx_dropped++;
		}
		net__backlog_drop_front(net);
		if (!virtio_dev__running(&net->vdev))
			break;
	}
	return delivered;
}

static void net__rx_signal(struct virtio_net *net)
{
	if (virtq_should_notify(&net->vdev.vq[NET_RX]))
		virtio_dev__signal(&net->vdev, VIRTIO_INT_USED);
}

static int net__rx_live(struct virtio_net *net)
{
	return virtio_dev__running(&net->vdev) && net->vdev.vq[NET_RX].ready;
}

void virtio_net__receive(struct virtio_net *net, const uint8_t *frame, size_t len)
{
	enum net_rx_result r = NET_RX_NO_BUFFERS;

	pthread_mutex_lock(&net->vdev.lock);
	if (!net__rx_live(net) || len > NET_MAX_FRAME) {
		net->stats.rx_dropped++;
		goto out;
	}
	if (net->backlog_count == 0)
		r = net__deliver(net, frame, len);
	if (r == NET_RX_DONE) {
		net->stats.rx_frames++;
		net__rx_signal(net);
	} else if (r == NET_RX_DROP || net__backlog_add(net, frame, len) < 0) {
		net->stats.rx_dropped++;
	}
out:
	pthread_mutex_unlock(&net->vdev.lock);
}

/* --- transmit: guest -> backend ------------------------------------------------- */

/*
 * Take one frame off the transmit queue into txbuf. Returns its length,
 * 0 when the queue is empty or the frame was dropped (pushed back empty),
 * -1 when the queue is broken. Lock held.
 */
static long net__take_frame(struct virtio_net *net, int *pushed)
{
	struct virtqueue *vq = &net->vdev.vq[NET_TX];
	struct virtq_chain *c = &net->chain;
	uint8_t hdr[NET_HDR_SIZE];
	size_t len;
	int ret = virtq_pop(vq, c);

	if (ret == VIRTQ_EMPTY)
		return 0;
	if (ret < 0) {
		virtio_dev__needs_reset(&net->vdev, virtq_strerror(ret));
		return -1;
	}
	*pushed = 1;
	/* A frame must hold the header and an Ethernet header, and fit; the
	 * guest may not ask for offloads it was not offered. */
	if (c->out_len < NET_HDR_SIZE + 14 || c->out_len > NET_HDR_SIZE + NET_MAX_FRAME ||
	    virtq_iov_read(c->out, c->nr_out, 0, hdr, NET_HDR_SIZE) != NET_HDR_SIZE ||
	    hdr[1] != NET_HDR_GSO_NONE) {
		net->stats.tx_dropped++;
		virtq_push(vq, c->head, 0);
		return 0;
	}
	len = virtq_iov_read(c->out, c->nr_out, NET_HDR_SIZE, net->txbuf, c->out_len - NET_HDR_SIZE);
	virtq_push(vq, c->head, 0);
	net->stats.tx_frames++;
	return (long)len;
}

void virtio_net__transmit(struct virtio_net *net)
{
	struct virtqueue *vq = &net->vdev.vq[NET_TX];
	int pushed = 0, quiet = 0;

	pthread_mutex_lock(&net->vdev.lock);
	while (virtio_dev__running(&net->vdev)) {
		long len;

		/* No kicks (each a VM exit) while this loop drains the queue. */
		if (!quiet && vq->ready) {
			virtq_notifications(vq, 0);
			quiet = 1;
		}
		len = net__take_frame(net, &pushed);
		if (len <= 0) {
			if (len == 0 && virtq_has_avail(vq))
				continue;	/* a dropped frame; more behind it */
			if (len == 0 && quiet) {
				virtq_notifications(vq, 1);
				quiet = 0;
				if (virtq_has_avail(vq))
					continue;	/* queued while kicks were off */
			}
			break;
		}
		/* The backend may answer at once (ARP, ICMP), which takes the
		 * lock in virtio_net__receive: hand the frame over without it. */
		pthread_mutex_unlock(&net->vdev.lock);
		net->tx(net->tx_ctx, net->txbuf, (size_t)len);
		pthread_mutex_lock(&net->vdev.lock);
	}
	if (quiet && virtio_dev__running(&net->vdev))
		virtq_notifications(vq, 1);
	if (pushed && virtq_should_notify(vq))
		virtio_dev__signal(&net->vdev, VIRTIO_INT_USED);
	pthread_mutex_unlock(&net->vdev.lock);
}

static void net__on_wake(struct ev_handler *h, uint32_t events)
{
	uint64_t v;

	if (read(h->fd, &v, sizeof(v)) < 0) {
		/* nothing counted: spurious */
	}
	virtio_net__transmit(h->ctx);
}

/* --- device ops ---------------------------------------------------------------------- */

static void net__queue_notify(struct virtio_dev *v, unsigned int q)
{
	struct virtio_net *net = to_net(v);
	uint64_t one = 1;

	if (q == NET_TX) {
		/* vCPU thread: the frames go out from the main loop. */
		if (write(net->wake_h.fd, &one, sizeof(one)) < 0) {
			/* the counter is already non-zero: the loop will look */
		}
	} else if (q == NET_RX && net__backlog_flush(net)) {
		net__rx_signal(net);
	}
}

/* Transmit kicks wake the main loop straight from KVM. */
static int net__notify_fd(struct virtio_dev *v, unsigned int q)
{
	return q == NET_TX ? to_net(v)->wake_h.fd : -1;
}

static void net__reset(struct virtio_dev *v)
{
	net__backlog_clear(to_net(v));
}

const struct virtio_dev_ops virtio_net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.nr_queues = 2,
	.queue_max = NET_QUEUE_SIZE,
	.features = net__features,
	.config_size = net__config_size,
	.config_read = net__config_read,
	.queue_notify = net__queue_notify,
	.notify_fd = net__notify_fd,
	.reset = net__reset,
};

int virtio_net__init(struct virtio_net *net, const uint8_t mac[6], const struct guest_mem *mem,
		     struct event_loop *loop, net_tx_fn tx, void *tx_ctx, struct pupa_err *err)
{
	int ret;

	memset(net, 0, sizeof(*net));
	net->wake_h.fd = -1;
	memcpy(net->mac, mac, 6);
	net->tx = tx;
	net->tx_ctx = tx_ctx;
	net->loop = loop;
	virtio_dev__init(&net->vdev, &virtio_net_ops, net, mem);
	net->txbuf = malloc(NET_MAX_FRAME);
	net->ring = malloc(NET_BACKLOG_BYTES);
	if (!net->txbuf || !net->ring)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	net->wake_h = (struct ev_handler){ .fn = net__on_wake, .ctx = net };
	net->wake_h.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (net->wake_h.fd < 0)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION, "virtio-net: eventfd: %s",
				 strerror(errno));
	ret = ev_loop__add(loop, &net->wake_h, EPOLLIN);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION, "virtio-net: epoll: %s",
				 strerror(-ret));
	return 0;
}

void virtio_net__destroy(struct virtio_net *net)
{
	if (net->wake_h.fd >= 0) {
		ev_loop__del(net->loop, &net->wake_h);
		close(net->wake_h.fd);
		net->wake_h.fd = -1;
	}
	net__backlog_clear(net);
	free(net->txbuf);
	net->txbuf = NULL;
	free(net->ring);
	net->ring = NULL;
	virtio_dev__destroy(&net->vdev);
}

void virtio_net__stats(struct virtio_net *net, struct net_stats *out)
{
	pthread_mutex_lock(&net->vdev.lock);
	*out = net->stats;
	pthread_mutex_unlock(&net->vdev.lock);
}
