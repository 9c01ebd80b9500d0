/* SPDX-License-Identifier: MIT */
/* virtio-net against a driver played by the test, and the -p parser (the
 * network policy: test-net-policy.c). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event_loop.h"
#include "publish.h"
#include "virtio/net.h"
#include "virtq_helpers.h"
#include "unit.h"

#define RX 0
#define TX 1
#define F_GUEST_CSUM	(1ULL << 1)
#define F_MRG_RXBUF	(1ULL << 15)

static struct guest_mem mem;
static struct event_loop loop;
static struct virtio_net net;
static int irqs;
static uint8_t sent[NET_MAX_FRAME];
static size_t sent_len;
static unsigned int sent_n;

static void count_irq(void *ctx, uint32_t reason) { irqs++; }

static void backend_tx(void *ctx, const uint8_t *frame, size_t len)
{
	memcpy(sent, frame, len);
	sent_len = len;
	sent_n++;
}

static void setup(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0, 1, 2, 3 };
	struct pupa_err err = { 0 };

	memset(&mem, 0, sizeof(mem));
	ck_assert_int_eq(guest_mem__add(&mem, 0, TQ_RAM), 0);
	ck_assert_int_eq(guest_mem__map(&mem), 0);
	ck_assert_int_eq(ev_loop__init(&loop), 0);
	ck_assert_int_eq(virtio_net__init(&net, mac, &mem, &loop, backend_tx, NULL, &err), 0);
	net.vdev.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;
	net.vdev.irq = count_irq;
	tq_setup(&mem, &net.vdev.vq[RX], RX);
	tq_setup(&mem, &net.vdev.vq[TX], TX);
	irqs = 0;
	sent_n = 0;
	sent_len = 0;
}

static void teardown(void)
{
	virtio_net__destroy(&net);
	ev_loop__destroy(&loop);
	guest_mem__unmap(&mem);
}

/* Receive buffer i: len writable bytes at 0x100000 + i * 0x1000. */
static void rx_offer(unsigned int i, uint32_t len)
{
	tq_set(&net.vdev.vq[RX], i, 0x100000 + (uint64_t)i * 0x1000, len, VIRTQ_DESC_F_WRITE, 0);
	tq_offer(&net.vdev.vq[RX], (uint16_t)i);
}

static uint8_t *rx_buf(unsigned int i) { return tq_ptr(&mem, 0x100000 + (uint64_t)i * 0x1000); }

static void frame_fill(uint8_t *f, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		f[i] = (uint8_t)(seed + i * 7);
}

START_TEST(net_config_has_mac_and_link_up)
{
	uint8_t cfg[10];

	virtio_net_ops.config_read(&net.vdev, 0, cfg, sizeof(cfg));
	ck_assert_mem_eq(cfg, ((uint8_t[]){ 0x52, 0x54, 0, 1, 2, 3 }), 6);
	ck_assert_int_eq(cfg[6], 1);	/* VIRTIO_NET_S_LINK_UP */
	ck_assert(virtio_net_ops.features(&net.vdev) & F_MRG_RXBUF);
}
END_TEST

START_TEST(net_receive_into_one_buffer)
{
	uint8_t f[100];

	net.vdev.driver_features = F_GUEST_CSUM | F_MRG_RXBUF;
	rx_offer(0, 2048);
	frame_fill(f, sizeof(f), 1);
	virtio_net__receive(&net, f, sizeof(f));
	ck_assert_int_eq(tq_used_idx(&net.vdev.vq[RX]), 1);
	ck_assert_uint_eq(tq_used_len(&net.vdev.vq[RX], 0), NET_HDR_SIZE + sizeof(f));
	ck_assert_int_eq(rx_buf(0)[0], 2);		/* DATA_VALID */
	ck_assert_int_eq(rx_buf(0)[10], 1);		/* num_buffers */
	ck_assert_mem_eq(rx_buf(0) + NET_HDR_SIZE, f, sizeof(f));
	ck_assert_int_eq(irqs, 1);
}
END_TEST

START_TEST(net_mergeable_frame_spans_buffers)
{
	uint8_t f[200], got[200];

	net.vdev.driver_features = F_MRG_RXBUF;
	for (unsigned int i = 0; i < 6; i++)
		rx_offer(i, 64);
	frame_fill(f, sizeof(f), 9);
	virtio_net__receive(&net, f, sizeof(f));
	/* 12 + 200 bytes in 64-byte buffers: 4 of them, published at once. */
	ck_assert_int_eq(tq_used_idx(&net.vdev.vq[RX]), 4);
	ck_assert_int_eq(rx_buf(0)[10], 4);
	ck_assert_int_eq(rx_buf(0)[0], 0);		/* no GUEST_CSUM negotiated */
	ck_assert_uint_eq(tq_used_len(&net.vdev.vq[RX], 3), 212 - 3 * 64);
	memcpy(got, rx_buf(0) + NET_HDR_SIZE, 64 - NET_HDR_SIZE);
	for (unsigned int i = 1; i < 4; i++)
		memcpy(got + 64 * i - NET_HDR_SIZE, rx_buf(i), i == 3 ? 212 - 192 : 64);
	ck_assert_mem_eq(got, f, sizeof(f));
}
END_TEST

START_TEST(net_frame_waits_until_whole_fits)
{
	uint8_t f[300];

	net.vdev.driver_features = F_MRG_RXBUF;
	rx_offer(0, 64);
	rx_offer(1, 64);
	frame_fill(f, sizeof(f), 3);
	virtio_net__receive(&net, f, sizeof(f));
	/* Two buffers are not enough: nothing given back, the frame waits. */
	ck_assert_int_eq(tq_used_idx(&net.vdev.vq[RX]), 0);
	ck_assert_uint_eq(net.vdev.vq[RX].last_avail, 0);
	ck_assert_uint_eq(net.backlog_count, 1);
	rx_offer(2, 2048);
	rx_offer(3, 2048);
	virtio_net_ops.queue_notify(&net.vdev, RX);
	ck_assert_int_eq(tq_used_idx(&net.vdev.vq[RX]), 3);
	ck_assert_uint_eq(net.backlog_count, 0);
	ck_assert_int_eq(irqs, 1);
}
END_TEST

START_TEST(net_backlog_is_bounded)
{
	uint8_t f[1514];
	struct net_stats st;

	net.vdev.driver_features = F_MRG_RXBUF;
	frame_fill(f, sizeof(f), 5);
	/* A guest that never reads: 10000 frames (15 MB) offered. */
	for (unsigned int i = 0; i < 10000; i++) {
		f[20] = (uint8_t)i;
		virtio_net__receive(&net, f, sizeof(f));
	}
	ck_assert_uint_le(net.backlog_count, NET_BACKLOG_FRAMES);
	ck_assert_uint_le(net.backlog_bytes, NET_BACKLOG_BYTES);
	virtio_net__stats(&net, &st);
	ck_assert_uint_eq(st.rx_frames, 0);
	ck_assert_uint_eq(st.rx_dropped + net.backlog_count, 10000);
	/* The oldest waiting frames come first once buffers arrive. */
	rx_offer(0, 2048);
	virtio_net_ops.queue_notify(&net.vdev, RX);
	ck_assert_int_eq(tq_used_idx(&net.vdev.vq[RX]), 1);
	ck_assert_int_eq(rx_buf(0)[NET_HDR_SIZE + 20], 0);
}
END_TEST

/* One 64 KiB receive buffer, given again after each frame. */
static uint8_t take_one_frame(unsigned int n)
{
	tq_set(&net.vdev.vq[RX], 0, 0x200000, 0x10000, VIRTQ_DESC_F_WRITE, 0);
	tq_offer(&net.vdev.vq[RX], 0);
	virtio_net_ops.queue_notify(&net.vdev, RX);
	ck_assert_int_eq(tq_used_idx(&net.vdev.vq[RX]), n + 1);
	return *(uint8_t *)tq_ptr(&mem, 0x200000 + NET_HDR_SIZE + 100);
}

START_TEST(net_backlog_ring_wraps_in_order)
{
	static uint8_t f[60000];
	unsigned int next = 0, taken = 0;

	net.vdev.driver_features = F_MRG_RXBUF;
	/* 17 frames fill the 1 MiB ring; take 6, add 6 more (they wrap to the
	 * start), then take all: every frame comes out whole and in order. */
	for (; next < 17; next++) {
		f[100] = (uint8_t)next;
		virtio_net__receive(&net, f, sizeof(f));
	}
	ck_assert_uint_eq(net.backlog_count, 17);
	f[100] = 99;
	virtio_net__receive(&net, f, sizeof(f));	/* full: dropped */
	ck_assert_uint_eq(net.backlog_count, 17);
	for (; taken < 6; taken++)
		ck_assert_uint_eq(take_one_frame(taken), taken);
	for (; next < 23; next++) {
		f[100] = (uint8_t)next;
		virtio_net__receive(&net, f, sizeof(f));
	}
	ck_assert_uint_eq(net.backlog_count, 17);
	ck_assert_uint_lt(net.ring_tail, 6 * 60000 + 1);	/* it wrapped */
	for (; taken < 23; taken++)
		ck_assert_uint_eq(take_one_frame(taken), taken);
	ck_assert_uint_eq(net.backlog_count, 0);
}
END_TEST

START_TEST(net_without_mergeable_a_small_buffer_drops)
{
	uint8_t f[1514];
	struct net_stats st;

	net.vdev.driver_features = 0;
	rx_offer(0, 512);
	frame_fill(f, sizeof(f), 5);
	virtio_net__receive(&net, f, sizeof(f));
	virtio_net__stats(&net, &st);
	ck_assert_uint_eq(st.rx_dropped, 1);
	ck_assert_int_eq(tq_used_idx(&net.vdev.vq[RX]), 0);
	ck_assert_uint_eq(net.backlog_count, 0);
}
END_TEST

START_TEST(net_receive_buffer_shorter_than_header_needs_reset)
{
	uint8_t f[60] = { 0 };

	net.vdev.driver_features = F_MRG_RXBUF;
	rx_offer(0, 4);
	virtio_net__receive(&net, f, sizeof(f));
	ck_assert(net.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
	/* And a broken device takes nothing more. */
	virtio_net__receive(&net, f, sizeof(f));
	ck_assert_int_eq(tq_used_idx(&net.vdev.vq[RX]), 0);
}
END_TEST

/* Transmit chain d: the header at 0x200000 + d * 0x10000, the frame split
 * over a second descriptor. */
static void tx_offer(unsigned int d, const uint8_t *hdr, const uint8_t *f, uint32_t len)
{
	uint64_t at = 0x200000 + (uint64_t)d * 0x10000;

	memcpy(tq_ptr(&mem, at), hdr, NET_HDR_SIZE);
	memcpy(tq_ptr(&mem, at + 0x100), f, len);
	tq_set(&net.vdev.vq[TX], 2 * d, at, NET_HDR_SIZE, VIRTQ_DESC_F_NEXT, (uint16_t)(2 * d + 1));
	tq_set(&net.vdev.vq[TX], 2 * d + 1, at + 0x100, len, 0, 0);
	tq_offer(&net.vdev.vq[TX], (uint16_t)(2 * d));
}

START_TEST(net_transmit_hands_frames_to_backend)
{
	uint8_t hdr[NET_HDR_SIZE] = { 0 }, gso[NET_HDR_SIZE] = { 0, 1 }, f[600];
	struct net_stats st;

	frame_fill(f, sizeof(f), 11);
	tx_offer(0, hdr, f, sizeof(f));
	tx_offer(1, hdr, f, 10);		/* shorter than an Ethernet header */
	tx_offer(2, gso, f, sizeof(f));		/* GSO was never offered */
	tx_offer(3, hdr, f, 60);
	virtio_net__transmit(&net);
	ck_assert_uint_eq(sent_n, 2);
	ck_assert_uint_eq(sent_len, 60);
	ck_assert_mem_eq(sent, f, 60);
	ck_assert_int_eq(tq_used_idx(&net.vdev.vq[TX]), 4);	/* the dropped ones too */
	virtio_net__stats(&net, &st);
	ck_assert_uint_eq(st.tx_frames, 2);
	ck_assert_uint_eq(st.tx_dropped, 2);
}
END_TEST

START_TEST(net_transmit_bad_ring_needs_reset)
{
	tq_set(&net.vdev.vq[TX], 0, TQ_RAM + 0x1000, 100, 0, 0);	/* outside RAM */
	tq_offer(&net.vdev.vq[TX], 0);
	virtio_net__transmit(&net);
	ck_assert(net.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(sent_n, 0);
}
END_TEST

/* --- -p ------------------------------------------------------------------------- */

static void publish_ok(const char *spec, const char *canonical)
{
	struct port_publish p;
	char why[256], text[PUBLISH_TEXT_MAX];

	ck_assert_msg(publish_parse(spec, &p, why, sizeof(why)) == 0, "%s: %s", spec, why);
	publish_format(&p, text, sizeof(text));
	ck_assert_str_eq(text, canonical);
}

static void publish_bad(const char *spec, const char *says)
{
	struct port_publish p;
	char why[256] = "";

	ck_assert_int_eq(publish_parse(spec, &p, why, sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, says) && strncmp(why, spec, strlen(spec)) == 0, "%s: %s", spec, why);
}

START_TEST(publish_docker_syntax)
{
	publish_ok("8080:80", "127.0.0.1:8080:80/tcp");
	publish_ok("0.0.0.0:8080:80/tcp", "0.0.0.0:8080:80/tcp");
	publish_ok("127.0.0.2:5353:53/udp", "127.0.0.2:5353:53/udp");
	publish_ok("65535:1", "127.0.0.1:65535:1/tcp");
	publish_bad("80", "give a host port");
	publish_bad(":80", "give a host port");
	publish_bad("127.0.0.1::80", "give a host port");
	publish_bad("8080:80/sctp", "tcp or udp");
	publish_bad("8080-8081:80-81", "ranges");
	publish_bad("0:80", "1 to 65535");
	publish_bad("65536:80", "1 to 65535");
	publish_bad("8080:x", "1 to 65535");
	publish_bad("host:8080:80", "not an IPv4 address");
	publish_bad("[::1]:8080:80", "IPv6");
	publish_bad("1.2.3.4.5:1:2", "not an IPv4 address");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("virtio-net");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, net_config_has_mac_and_link_up);
	tcase_add_test(tc, net_receive_into_one_buffer);
	tcase_add_test(tc, net_mergeable_frame_spans_buffers);
	tcase_add_test(tc, net_frame_waits_until_whole_fits);
	tcase_add_test(tc, net_backlog_is_bounded);
	tcase_add_test(tc, net_backlog_ring_wraps_in_order);
	tcase_add_test(tc, net_without_mergeable_a_small_buffer_drops);
	tcase_add_test(tc, net_receive_buffer_shorter_than_header_needs_reset);
	tcase_add_test(tc, net_transmit_hands_frames_to_backend);
	tcase_add_test(tc, net_transmit_bad_ring_needs_reset);
	suite_add_tcase(s, tc);
	tc = tcase_create("publish");
	tcase_add_test(tc, publish_docker_syntax);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
