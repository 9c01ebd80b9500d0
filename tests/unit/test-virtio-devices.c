#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "disk/overlay.h"
#include "event_loop.h"
#include "virtio/blk.h"
#include "virtio/vsock.h"
#include "virtq_helpers.h"
#include "unit.h"

static struct guest_mem mem;
static int irqs;

static void count_irq(void *ctx, uint32_t reason) { irqs++; }

static void setup(void)
{
	memset(&mem, 0, sizeof(mem));
	ck_assert_int_eq(guest_mem__add(&mem, 0, TQ_RAM), 0);
	ck_assert_int_eq(guest_mem__map(&mem), 0);
	irqs = 0;
}

static void teardown(void)
{
	guest_mem__unmap(&mem);
}

/* Make the device live with queue q set up at the helper's rings. */
static void go_live(struct virtio_dev *v, unsigned int nq)
{
	v->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK;
	v->irq = count_irq;
	for (unsigned int q = 0; q < nq; q++)
		tq_setup(&mem, &v->vq[q], q);
}

/* --- virtio-blk ------------------------------------------------------------- */

struct blk_hdr { uint32_t type, reserved; uint64_t sector; } __attribute__((packed));

static char img[64];

static int make_image(void)
{
	int fd;

	strcpy(img, "/tmp/pupa-test-blk.XXXXXX");	/* afresh: tests may share a process */
	fd = mkstemp(img);
	char sector[512];

	for (int s = 0; s < 8; s++) {
		memset(sector, 'A' + s, sizeof(sector));
		ck_assert_int_eq(write(fd, sector, sizeof(sector)), 512);
	}
	return fd;
}

/* One request: header at 0x10000, data at 0x20000 (len), status at 0x30000. */
static uint8_t blk_do(struct virtio_blk *blk, uint32_t type, uint64_t sector, uint32_t len, int data_in)
{
	struct virtqueue *vq = &blk->vdev.vq[0];
	struct blk_hdr h = { type, 0, sector };
	uint8_t *status = tq_ptr(&mem, 0x30000);

	memcpy(tq_ptr(&mem, 0x10000), &h, sizeof(h));
	*status = 0xee;
	tq_set(vq, 0, 0x10000, sizeof(h), VIRTQ_DESC_F_NEXT, len ? 1 : 2);
	tq_set(vq, 1, 0x20000, len, VIRTQ_DESC_F_NEXT | (data_in ? VIRTQ_DESC_F_WRITE : 0), 2);
	tq_set(vq, 2, 0x30000, 1, VIRTQ_DESC_F_WRITE, 0);
	tq_offer(vq, 0);
	virtio_blk_ops.queue_notify(&blk->vdev, 0);
	return *status;
}

static char *file_bytes(size_t *len)
{
	static char buf[4096];
	int fd = open(img, O_RDONLY);

	*len = (size_t)read(fd, buf, sizeof(buf));
	close(fd);
	return buf;
}

START_TEST(blk_read_only_refuses_writes)
{
	struct virtio_blk blk;
	struct pupa_err err = { 0 };
	size_t len;
	int fd = make_image();

	close(fd);
	virtio_blk__init(&blk, "root", &mem);
	ck_assert_int_eq(virtio_blk__attach(&blk, img, BLOCK_MODE_READ_ONLY, &err), 0);
	go_live(&blk.vdev, 1);
	memset(tq_ptr(&mem, 0x20000), 'Z', 512);
	ck_assert_uint_eq(blk_do(&blk, 1, 0, 512, 0), 1);	/* VIRTIO_BLK_S_IOERR */
	ck_assert_int_eq(file_bytes(&len)[0], 'A');
	ck_assert_uint_eq(blk_do(&blk, 0, 2, 512, 1), 0);	/* reads work */
	ck_assert_int_eq(((char *)tq_ptr(&mem, 0x20000))[0], 'C');
	ck_assert_uint_eq(blk_do(&blk, 0, 7, 1024, 1), 1);	/* past the end */
	ck_assert_uint_eq(blk_do(&blk, 0, ~0ULL, 512, 1), 1);	/* sector overflow */
	ck_assert_uint_eq(blk_do(&blk, 0, 0, 100, 1), 1);	/* not whole sectors */
	ck_assert_uint_eq(blk_do(&blk, 8, 0, 20, 1), 0);	/* GET_ID */
	ck_assert_str_eq((char *)tq_ptr(&mem, 0x20000), "root");
	ck_assert_uint_eq(blk_do(&blk, 99, 0, 0, 1), 2);	/* unsupported */
	ck_assert_int_gt(irqs, 0);
	virtio_blk__destroy(&blk);
	unlink(img);
}
END_TEST

START_TEST(blk_volatile_keeps_file)
{
	struct virtio_blk blk;
	struct pupa_err err = { 0 };
	size_t len;
	char *f;
	int fd = make_image();

	close(fd);
	virtio_blk__init(&blk, "v", &mem);
	ck_assert_int_eq(virtio_blk__attach(&blk, img, BLOCK_MODE_VOLATILE_WRITE, &err), 0);
	go_live(&blk.vdev, 1);
	memset(tq_ptr(&mem, 0x20000), 'Z', 1024);
	ck_assert_uint_eq(blk_do(&blk, 1, 3, 1024, 0), 0);	/* sectors 3 and 4 */
	memset(tq_ptr(&mem, 0x20000), 0, 2048);
	ck_assert_uint_eq(blk_do(&blk, 0, 2, 2048, 1), 0);	/* sectors 2..5 */
	ck_assert_int_eq(((char *)tq_ptr(&mem, 0x20000))[0], 'C');
	ck_assert_int_eq(((char *)tq_ptr(&mem, 0x20000))[512], 'Z');
	ck_assert_int_eq(((char *)tq_ptr(&mem, 0x20000))[1024], 'Z');
	ck_assert_int_eq(((char *)tq_ptr(&mem, 0x20000))[1536], 'F');
	ck_assert_uint_eq(blk_do(&blk, 4, 0, 0, 1), 0);		/* flush */
	f = file_bytes(&len);
	ck_assert_uint_eq(len, 4096);
	ck_assert_int_eq(f[3 * 512], 'D');			/* the file never changed */
	virtio_blk__destroy(&blk);
	unlink(img);
}
END_TEST

/* The overlay keeps private sectors in a file that has no name (nothing to
 * leave behind), takes no heap for the data, reads back what was written
 * across chunk boundaries, and refuses, whole, a write past its cap. */
START_TEST(overlay_file_backed_and_capped)
{
	char dir[] = "/tmp/pupa-test-ov.XXXXXX", cmd[64];
	uint64_t sectors = 3ull << 20;		/* 1.5 GiB: three bitmap chunks */
	static uint8_t buf[8 * 512];
	struct disk_overlay *ov;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(disk_overlay__create(&ov, sectors, 8, disk_overlay__tmpfile(dir)), 0);
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", dir);
	ck_assert_int_eq(system(cmd), 0);
	memset(buf, 'P', sizeof(buf));
	/* Four sectors straddling the first chunk boundary. */
	ck_assert_int_eq(disk_overlay__write(ov, (1ull << 20) - 2, buf, 4), 0);
	ck_assert_uint_eq(disk_overlay__used(ov), 4);
	/* Rewriting private sectors costs nothing more. */
	ck_assert_int_eq(disk_overlay__write(ov, (1ull << 20) - 1, buf, 2), 0);
	ck_assert_uint_eq(disk_overlay__used(ov), 4);
	memset(buf, 'B', sizeof(buf));
	ck_assert_int_eq(disk_overlay__read(ov, (1ull << 20) - 3, buf, 6), 0);
	ck_assert_int_eq(buf[0], 'B');
	for (int i = 1; i < 5; i++)
		ck_assert_int_eq(buf[i * 512], 'P');
	ck_assert_int_eq(buf[5 * 512], 'B');
	/* Past the cap of 8: refused whole, nothing changes. */
	ck_assert_int_eq(disk_overlay__write(ov, 100, buf, 5), -ENOSPC);
	ck_assert_uint_eq(disk_overlay__used(ov), 4);
	memset(buf, 'B', 512);
	ck_assert_int_eq(disk_overlay__read(ov, 100, buf, 1), 0);
	ck_assert_int_eq(buf[0], 'B');
	ck_assert_int_eq(disk_overlay__write(ov, 100, buf, 4), 0);
	/* Out of the disk. */
	ck_assert_int_eq(disk_overlay__write(ov, sectors - 1, buf, 2), -EINVAL);
	disk_overlay__destroy(ov);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(blk_read_write_and_slots)
{
	struct virtio_blk blk;
	struct pupa_err err = { 0 };
	size_t len;
	int fd = make_image();

	close(fd);
	virtio_blk__init(&blk, "slot", &mem);
	go_live(&blk.vdev, 1);
	ck_assert_uint_eq(blk_do(&blk, 0, 0, 512, 1), 1);	/* empty slot: I/O error */
	ck_assert_int_eq(virtio_blk__attach(&blk, "/nonexistent", BLOCK_MODE_READ_WRITE, &err),
			 -GUEST_ERR_BAD_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent"));
	irqs = 0;
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(virtio_blk__attach(&blk, img, BLOCK_MODE_READ_WRITE, &err), 0);
	ck_assert_int_eq(irqs, 1);				/* config change announced */
	ck_assert_uint_eq(blk.sectors, 8);
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(virtio_blk__attach(&blk, img, BLOCK_MODE_READ_WRITE, &err),
			 -GUEST_ERR_ALREADY_RUNNING);
	memset(tq_ptr(&mem, 0x20000), 'Q', 512);
	ck_assert_uint_eq(blk_do(&blk, 1, 1, 512, 0), 0);
	ck_assert_int_eq(file_bytes(&len)[512], 'Q');
	virtio_blk__destroy(&blk);
	unlink(img);
}
END_TEST

START_TEST(blk_chain_without_status_needs_reset)
{
	struct virtio_blk blk;
	struct virtqueue *vq;
	struct blk_hdr h = { 0, 0, 0 };

	virtio_blk__init(&blk, "x", &mem);
	go_live(&blk.vdev, 1);
	vq = &blk.vdev.vq[0];
	memcpy(tq_ptr(&mem, 0x10000), &h, sizeof(h));
	tq_set(vq, 0, 0x10000, sizeof(h), 0, 0);		/* nothing writable */
	tq_offer(vq, 0);
	virtio_blk_ops.queue_notify(&blk.vdev, 0);
	ck_assert(blk.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
	ck_assert(!virtio_dev__running(&blk.vdev));
	virtio_blk__destroy(&blk);
}
END_TEST

/* stderr into a temporary file while a test runs; returns what it got. */
static int stderr_saved = -1, stderr_file = -1;

static void stderr_capture(void)
{
	char path[] = "/tmp/pupa-test-stderr.XXXXXX";

	stderr_file = mkstemp(path);
	ck_assert_int_ge(stderr_file, 0);
	unlink(path);
	fflush(stderr);
	stderr_saved = dup(STDERR_FILENO);
	dup2(stderr_file, STDERR_FILENO);
}

static char *stderr_release(void)
{
	static char buf[8192];
	ssize_t n;

	fflush(stderr);
	dup2(stderr_saved, STDERR_FILENO);
	close(stderr_saved);
	n = pread(stderr_file, buf, sizeof(buf) - 1, 0);
	close(stderr_file);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* A guest that breaks the device and resets it in a loop gets a bounded
 * number of lines on pupa-vmm's stderr (the run folder's vmm.log). */
START_TEST(needs_reset_warnings_rate_limited)
{
	struct virtio_blk blk;
	int lines = 0;
	char *out;

	virtio_blk__init(&blk, "x", &mem);
	stderr_capture();
	for (int i = 0; i < 1000; i++) {
		blk.vdev.status = VIRTIO_STATUS_DRIVER_OK;	/* the driver's reset */
		virtio_dev__needs_reset(&blk.vdev, "broken chain");
	}
	out = stderr_release();
	for (char *p = out; (p = strchr(p, '\n')); p++)
		lines++;
	ck_assert_int_eq(lines, VIRTIO_WARN_BURST);
	ck_assert_uint_eq(blk.vdev.warn_suppressed, 1000 - VIRTIO_WARN_BURST);
	/* A window later, the next warning says how many were not shown. */
	blk.vdev.warn_window -= VIRTIO_WARN_WINDOW_S;
	stderr_capture();
	blk.vdev.status = VIRTIO_STATUS_DRIVER_OK;
	virtio_dev__needs_reset(&blk.vdev, "broken chain");
	out = stderr_release();
	ck_assert_ptr_nonnull(strstr(out, "broken chain; device stopped until the driver resets it "
				     "(995 more such warnings not shown)\n"));
	virtio_blk__destroy(&blk);
}
END_TEST

START_TEST(blk_modes)
{
	enum block_mode m;

	ck_assert_int_eq(blk_mode__parse("rw", &m), 0);
	ck_assert_int_eq(m, BLOCK_MODE_READ_WRITE);
	ck_assert_int_eq(blk_mode__parse("kVolatileWrite", &m), 0);
	ck_assert_int_eq(m, BLOCK_MODE_VOLATILE_WRITE);
	ck_assert_int_eq(blk_mode__parse("ReadOnly", &m), 0);
	ck_assert_int_eq(m, BLOCK_MODE_READ_ONLY);
	ck_assert_int_eq(blk_mode__parse("write", &m), -EINVAL);
}
END_TEST

/* --- virtio-vsock ------------------------------------------------------------- */

static struct event_loop loop;
static struct virtio_vsock vs;
static char uds[64];

static void vsock_start(void)
{
	struct pupa_err err = { 0 };

	snprintf(uds, sizeof(uds), "/tmp/pupa-test-vsock.%d", getpid());
	ck_assert_int_eq(ev_loop__init(&loop), 0);
	ck_assert_int_eq(virtio_vsock__init(&vs, 3, uds, &mem, &loop, &err), 0);
	go_live(&vs.vdev, 3);
	/* Receive buffers: 8 chains of 4 KiB. */
	for (unsigned int i = 0; i < 8; i++) {
		tq_set(&vs.vdev.vq[0], i, 0x100000 + i * 0x1000, 0x1000, VIRTQ_DESC_F_WRITE, 0);
		tq_offer(&vs.vdev.vq[0], (uint16_t)i);
	}
}

static void vsock_stop(void)
{
	virtio_vsock__destroy(&vs);
	ev_loop__destroy(&loop);
}

static unsigned int tx_n;

/* Send one packet from the guest: header + payload at 0x200000 + n * 64 KiB. */
static void guest_send(const struct vsock_hdr *h, const void *payload, uint32_t chain_len)
{
	struct virtqueue *tx = &vs.vdev.vq[1];
	uint64_t at = 0x200000 + (uint64_t)(tx_n % 16) * 0x10000;
	uint16_t d = (uint16_t)(tx_n % TQ_SIZE);

	memcpy(tq_ptr(&mem, at), h, sizeof(*h));
	if (payload)
		memcpy(tq_ptr(&mem, at + sizeof(*h)), payload, h->len);
	tq_set(tx, d, at, chain_len, 0, 0);
	tq_offer(tx, d);
	tx_n++;
	virtio_vsock_ops.queue_notify(&vs.vdev, 1);
}

static struct vsock_hdr pkt(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = 3, .dst_cid = 2, .src_port = src_port,
				   .dst_port = dst_port, .len = len, .type = VSOCK_TYPE_STREAM,
				   .op = op, .buf_alloc = 65536 };
}

/* The n-th packet the device put in the receive queue. */
static struct vsock_hdr *rx_pkt(unsigned int n)
{
	return tq_ptr(&mem, 0x100000 + (uint64_t)n * 0x1000);
}

START_TEST(vsock_malformed_packets)
{
	struct vsock_hdr h;

	vsock_start();
	h = pkt(VSOCK_OP_RW, 1000, 2000, 0);
	guest_send(&h, NULL, 10);			/* shorter than a header */
	h = pkt(VSOCK_OP_RW, 1000, 2000, 5000);
	guest_send(&h, NULL, sizeof(h) + 10);		/* claims more than it carries */
	h = pkt(VSOCK_OP_RW, 1000, 2000, 0);
	h.src_cid = 7;					/* not our guest's CID */
	guest_send(&h, NULL, sizeof(h));
	ck_assert_uint_eq(tq_used_idx(&vs.vdev.vq[1]), 3);	/* all consumed, */
	ck_assert_uint_eq(tq_used_idx(&vs.vdev.vq[0]), 0);	/* none answered */
	ck_assert(virtio_dev__running(&vs.vdev));

	h = pkt(VSOCK_OP_RW, 1000, 2000, 4);
	guest_send(&h, "data", sizeof(h) + 4);		/* no such connection: RST */
	ck_assert_uint_eq(tq_used_idx(&vs.vdev.vq[0]), 1);
	ck_assert_uint_eq(rx_pkt(0)->op, VSOCK_OP_RST);
	ck_assert_uint_eq(rx_pkt(0)->dst_port, 1000);
	ck_assert_uint_eq(rx_pkt(0)->src_port, 2000);

	h = pkt(VSOCK_OP_REQUEST, 1001, 4444, 0);	/* nobody listens on uds_4444 */
	guest_send(&h, NULL, sizeof(h));
	ck_assert_uint_eq(rx_pkt(1)->op, VSOCK_OP_RST);
	h = pkt(VSOCK_OP_REQUEST, 1001, 4444, 0);
	h.type = 2;					/* SEQPACKET: not offered */
	guest_send(&h, NULL, sizeof(h));
	ck_assert_uint_eq(rx_pkt(2)->op, VSOCK_OP_RST);
	vsock_stop();
}
END_TEST

/* A host listening on uds_PORT and the guest connected to it: the
 * listener in *l, the host's end in the return value, its path in path. */
static int vsock_connected(unsigned int port, int *l, char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_hdr h;
	int peer;

	snprintf(path, len, "%s_%u", uds, port);
	strcpy(sa.sun_path, path);
	*l = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(*l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(*l, 4), 0);
	h = pkt(VSOCK_OP_REQUEST, 1234, port, 0);
	guest_send(&h, NULL, sizeof(h));
	ck_assert_uint_eq(rx_pkt(0)->op, VSOCK_OP_RESPONSE);
	ck_assert_uint_eq(rx_pkt(0)->buf_alloc, VSOCK_CONN_BUF);
	peer = accept(*l, NULL, NULL);
	ck_assert_int_ge(peer, 0);
	return peer;
}

START_TEST(vsock_connection_and_credit)
{
	struct vsock_hdr h;
	char path[96], buf[16];
	int l, peer;
	static char big[60000];

	vsock_start();
	peer = vsock_connected(5000, &l, path, sizeof(path));

	h = pkt(VSOCK_OP_RW, 1234, 5000, 5);
	guest_send(&h, "hello", sizeof(h) + 5);
	ck_assert_int_eq(read(peer, buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);

	/*
	 * The host does not read. The VMM takes what its socket buffer and the
	 * connection's credit hold, and resets the connection only once the
	 * guest sends past the credit it was given.
	 */
	memset(big, 'x', sizeof(big));
	{
		int sent = 0, rst = 0;

		while (!rst && sent < 32) {
			h = pkt(VSOCK_OP_RW, 1234, 5000, sizeof(big));
			guest_send(&h, big, sizeof(h) + sizeof(big));
			sent++;
			for (unsigned int i = 1; i < tq_used_idx(&vs.vdev.vq[0]); i++)
				rst |= rx_pkt(i)->op == VSOCK_OP_RST;
		}
		ck_assert_msg(rst, "no RST after %d packets past the credit", sent);
		ck_assert_int_gt((long)sent * (long)sizeof(big), VSOCK_CONN_BUF);
	}
	close(peer);
	close(l);
	unlink(path);
	vsock_stop();
}
END_TEST

/*
 * A guest that breaks its receive queue while the host has bytes for it:
 * the device needs a reset, and the host socket must leave the poll set,
 * or the main loop spins on a readable socket it cannot serve.
 */
START_TEST(vsock_broken_rx_stops_polling_host)
{
	struct epoll_event ev[8];
	char path[96];
	int l, peer;

	vsock_start();
	peer = vsock_connected(5001, &l, path, sizeof(path));
	/* Every receive buffer left is smaller than a packet header. */
	for (unsigned int i = 1; i < 8; i++)
		tq_set(&vs.vdev.vq[0], i, 0x100000 + i * 0x1000, 8, VIRTQ_DESC_F_WRITE, 0);
	ck_assert_int_eq(write(peer, "data", 4), 4);
	for (int i = 0; i < 3; i++)
		ck_assert_int_ge(ev_loop__run_once(&loop, 100), 0);
	ck_assert(!virtio_dev__running(&vs.vdev));
	ck_assert_int_eq(epoll_wait(loop.epfd, ev, 8, 0), 0);
	close(peer);
	close(l);
	unlink(path);
	vsock_stop();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio devices");
	TCase *tc = tcase_create("blk and vsock");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, blk_read_only_refuses_writes);
	tcase_add_test(tc, blk_volatile_keeps_file);
	tcase_add_test(tc, blk_read_write_and_slots);
	tcase_add_test(tc, blk_chain_without_status_needs_reset);
	tcase_add_test(tc, needs_reset_warnings_rate_limited);
	tcase_add_test(tc, overlay_file_backed_and_capped);
	tcase_add_test(tc, blk_modes);
	tcase_add_test(tc, vsock_malformed_packets);
	tcase_add_test(tc, vsock_connection_and_credit);
	tcase_add_test(tc, vsock_broken_rx_stops_polling_host);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
