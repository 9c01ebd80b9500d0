/*
 * virtio-vsock with its host side in userspace, on Firecracker's
 * convention: a host program connects to the Unix socket PATH and writes
 * "CONNECT <port>\n", gets "OK <local port>\n" once the guest accepts, and
 * then the socket is the stream; a guest connection to host port P is
 * forwarded to a connection to the Unix socket PATH_P.
 *
 * Flow control is the spec's credit scheme: each connection buffers at
 * most VSOCK_CONN_BUF bytes from the guest (the credit it advertises), and
 * reads from the host only what the guest has room for, so one slow
 * reader stalls its own connection and nothing else.
 */
#ifndef PUPA_VMM_VIRTIO_VSOCK_H
#define PUPA_VMM_VIRTIO_VSOCK_H

#include <stdint.h>

#include "event_loop.h"
#include "error.h"
#include "virtio.h"

#define VSOCK_HOST_CID		2
#define VSOCK_CONN_BUF		(256 * 1024)
#define VSOCK_MAX_CONNS		1024
#define VSOCK_MAX_REPLIES	256

struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_TYPE_STREAM	1
#define VSOCK_OP_REQUEST	1
#define VSOCK_OP_RESPONSE	2
#define VSOCK_OP_RST		3
#define VSOCK_OP_SHUTDOWN	4
#define VSOCK_OP_RW		5
#define VSOCK_OP_CREDIT_UPDATE	6
#define VSOCK_OP_CREDIT_REQUEST	7
#define VSOCK_SHUTDOWN_RCV	1
#define VSOCK_SHUTDOWN_SEND	2

struct vsock_conn;

struct virtio_vsock {
	struct virtio_dev vdev;
	uint64_t guest_cid;
	char *uds_path;
	int listen_fd;
	struct ev_handler listen_h;
	int wake_fd;			/* vCPU threads -> main loop */
	struct ev_handler wake_h;
	struct event_loop *loop;
	struct vsock_conn *conns;
	unsigned int nr_conns;
	uint32_t next_port;
	struct vsock_hdr replies[VSOCK_MAX_REPLIES];	/* RSTs for no connection */
	unsigned int nr_replies;
	int rx_starved;			/* the guest gave us no receive buffers */
	struct virtq_chain chain;
};

/*
 * Listen on uds_path (a stale socket from a killed VMM is replaced; a live
 * one is AlreadyRunning) and register with the loop.
 */
int virtio_vsock__init(struct virtio_vsock *vs, uint64_t guest_cid, const char *uds_path,
		       const struct guest_mem *mem, struct event_loop *loop, struct pupa_err *err);
void virtio_vsock__destroy(struct virtio_vsock *vs);

/* Reset every guest connection (after a restore). */
void virtio_vsock__transport_reset(struct virtio_vsock *vs);

/* Free connections that ended during the last round of events. */
void virtio_vsock__reap(struct virtio_vsock *vs);

extern const struct virtio_dev_ops virtio_vsock_ops;

#endif
