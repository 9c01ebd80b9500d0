/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock packets from a guest: requests to a host port that listens
 * (uds_1024) and to ones that do not, data, credit, shutdown, resets, in
 * transmit chains the guest writes, with receive buffers it chooses.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "event_loop.h"
#include "fuzz-virtq.h"
#include "fuzz.h"
#include "unix_socket.h"
#include "virtio/vsock.h"

static struct event_loop loop;
static struct virtio_vsock vs;
static int listener = -1;

static void fuzz__cleanup(void)
{
	char path[128];

	snprintf(path, sizeof(path), "/tmp/pupa-fuzz-vsock.%d_1024", getpid());
	unlink(path);
	virtio_vsock__destroy(&vs);
}

static void fuzz__start(void)
{
	struct pupa_err err = { 0 };
	char uds[96], path[128];

	snprintf(uds, sizeof(uds), "/tmp/pupa-fuzz-vsock.%d", getpid());
	snprintf(path, sizeof(path), "%s_1024", uds);
	if (ev_loop__init(&loop) < 0 || virtio_vsock__init(&vs, 3, uds, &fv_mem, &loop, &err) < 0) {
		fprintf(stderr, "fuzz-vsock: %s\n", err.msg);
		abort();
	}
	listener = unix_socket__listen(path);
	if (listener < 0)
		abort();
	atexit(fuzz__cleanup);
}

static void no_irq(void *ctx, uint32_t reason) { }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd;

	fv_init();
	if (listener < 0)
		fuzz__start();
	fv_load(data, size);
	pthread_mutex_lock(&vs.vdev.lock);
	virtio_vsock_ops.reset(&vs.vdev);
	fv_live(&vs.vdev, 3);
	vs.vdev.irq = no_irq;
	vs.vdev.warn_count = 0;
	virtio_vsock_ops.queue_notify(&vs.vdev, 1);
	virtio_vsock_ops.queue_notify(&vs.vdev, 0);
	pthread_mutex_unlock(&vs.vdev.lock);
	ev_loop__run_once(&loop, 0);
	while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		char buf[4096];

		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	pthread_mutex_lock(&vs.vdev.lock);
	virtio_vsock_ops.reset(&vs.vdev);
	pthread_mutex_unlock(&vs.vdev.lock);
	virtio_vsock__reap(&vs);
	return 0;
}

static void hdr_at(uint8_t *ram, uint64_t at, uint16_t op, uint32_t port, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = 2, .src_port = 5000, .dst_port = port,
			       .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
			       .buf_alloc = 65536 };

	memcpy(ram + at, &h, sizeof(h));
}

void fuzz_seeds(void)
{
	static uint8_t ram[FV_INPUT_MAX];
	unsigned int d = 0;

	/* Receive buffers: 8 of 1 KiB at 0xc000. */
	for (unsigned int i = 0; i < 8; i++) {
		fv_set(ram, 0, i, 0xc000 + i * 0x400, 0x400, VIRTQ_DESC_F_WRITE, 0);
		fv_offer(ram, 0, (uint16_t)i);
	}
	/* Transmit: a request to 1024, data, a credit request, a shutdown, and a
	 * request to a port nobody listens on. */
	hdr_at(ram, 0x8000, VSOCK_OP_REQUEST, 1024, 0);
	hdr_at(ram, 0x8100, VSOCK_OP_RW, 1024, 5);
	memcpy(ram + 0x8100 + sizeof(struct vsock_hdr), "hello", 5);
	hdr_at(ram, 0x8200, VSOCK_OP_CREDIT_REQUEST, 1024, 0);
	hdr_at(ram, 0x8300, VSOCK_OP_SHUTDOWN, 1024, 0);
	hdr_at(ram, 0x8400, VSOCK_OP_REQUEST, 4444, 0);
	for (uint64_t at = 0x8000; at <= 0x8400; at += 0x100, d++) {
		fv_set(ram, 1, d, at, (uint32_t)sizeof(struct vsock_hdr) + (at == 0x8100 ? 5 : 0), 0, 0);
		fv_offer(ram, 1, (uint16_t)d);
	}
	fuzz_seed("request-rw-credit-shutdown", ram, 0xe000);
}
