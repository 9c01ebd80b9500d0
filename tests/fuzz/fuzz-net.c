/* SPDX-License-Identifier: MIT */
/*
 * virtio-net frames from a guest, through the device into libslirp as
 * pupa-vmm runs it: transmit chains the guest writes (any header, any
 * frame: ARP, IPv4, IPv6, TCP, UDP, DHCP, DNS, ICMP, fragments), receive
 * buffers it chooses for libslirp's answers, and the feature bits it
 * negotiated (the first byte of RAM). libslirp runs restricted, so no
 * input opens a socket to anywhere; the policy in front of it asks the
 * kernel (rtnetlink) which destinations are local, as pupa-vmm does.
 */
#include <string.h>

#include "event_loop.h"
#include "fuzz-virtq.h"
#include "fuzz.h"
#include "net/slirp.h"
#include "virtio/net.h"

static struct event_loop loop;
static struct virtio_net net;
static struct net_slirp *slirp;

static void no_irq(void *ctx, uint32_t reason) { }

static void fuzz__start(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct net_slirp_config cfg = { .restricted = 1 };
	struct pupa_err err = { 0 };

	if (ev_loop__init(&loop) < 0 ||
	    virtio_net__init(&net, mac, &fv_mem, &loop, net_slirp__input, NULL, &err) < 0 ||
	    net_slirp__new(&slirp, &cfg, &net, &loop, &err) < 0) {
		fprintf(stderr, "fuzz-net: %s\n", err.msg);
		abort();
	}
	net.tx_ctx = slirp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fv_init();
	if (!slirp)
		fuzz__start();
	fv_load(data, size);
	pthread_mutex_lock(&net.vdev.lock);
	virtio_net_ops.reset(&net.vdev);
	fv_live(&net.vdev, 2);
	net.vdev.irq = no_irq;
	net.vdev.warn_count = 0;
	net.vdev.driver_features = (size ? data[0] : 0) & ((1u << 1) | (1u << 5) | (1u << 15));
	pthread_mutex_unlock(&net.vdev.lock);
	virtio_net__transmit(&net);
	pthread_mutex_lock(&net.vdev.lock);
	virtio_net_ops.queue_notify(&net.vdev, 0);
	pthread_mutex_unlock(&net.vdev.lock);
	ev_loop__run_once(&loop, 0);
	return 0;
}

/* --- seeds -------------------------------------------------------------------------- */

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t gw_ip[4] = { 10, 0, 2, 2 }, guest_ip[4] = { 10, 0, 2, 15 };

static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An Ethernet header to the gateway's MAC (or broadcast) of type. */
static size_t eth(uint8_t *f, int broadcast, uint16_t type)
{
	static const uint8_t gw_mac[6] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };

	memcpy(f, broadcast ? (const uint8_t *)"\xff\xff\xff\xff\xff\xff" : gw_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	return 14;
}

static size_t arp_request(uint8_t *f)
{
	size_t n = eth(f, 1, 0x0806);
	static const uint8_t fixed[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };

	memcpy(f + n, fixed, 8);
	memcpy(f + n + 8, guest_mac, 6);
	memcpy(f + n + 14, guest_ip, 4);
	memset(f + n + 18, 0, 6);
	memcpy(f + n + 24, gw_ip, 4);
	return n + 28;
}

static size_t icmp_echo(uint8_t *f)
{
	size_t n = eth(f, 0, 0x0800);
	uint8_t *ip = f + n, *icmp = ip + 20;
	uint16_t c;

	memset(ip, 0, 20 + 16);
	ip[0] = 0x45;
	ip[3] = 36;		/* total length */
	ip[8] = 64;		/* TTL */
	ip[9] = 1;		/* ICMP */
	memcpy(ip + 12, guest_ip, 4);
	memcpy(ip + 16, gw_ip, 4);
	c = csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	icmp[0] = 8;		/* echo request */
	memcpy(icmp + 8, "pupa-fuz", 8);
	c = csum(icmp, 16);
	icmp[2] = (uint8_t)(c >> 8);
	icmp[3] = (uint8_t)c;
	return n + 36;
}

/* A TCP SYN (or a UDP datagram) from the guest to dst, IPv4 or IPv6. */
static size_t to_dst(uint8_t *f, int v6, const uint8_t *dst, uint8_t proto)
{
	size_t n = eth(f, 0, v6 ? 0x86dd : 0x0800), ipl = v6 ? 40 : 20, l4 = proto == 6 ? 20 : 8;
	uint8_t *ip = f + n, *t = ip + ipl;
	uint16_t c;

	memset(ip, 0, ipl + l4);
	if (v6) {
		ip[0] = 0x60, ip[5] = (uint8_t)l4, ip[6] = proto, ip[7] = 64;
		memcpy(ip + 8, "\xfe\xc0\0\0\0\0\0\0\0\0\0\0\0\0\0\x15", 16);
		memcpy(ip + 24, dst, 16);
	} else {
		ip[0] = 0x45, ip[3] = (uint8_t)(20 + l4), ip[8] = 64, ip[9] = proto;
		memcpy(ip + 12, guest_ip, 4);
		memcpy(ip + 16, dst, 4);
		c = csum(ip, 20);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	t[0] = 0x9c, t[1] = 0x40, t[2] = 0x1f, t[3] = 0x40;	/* 40000 -> 8000 */
	if (proto == 6)
		t[12] = 0x50, t[13] = 0x02;			/* SYN */
	return n + ipl + l4;
}

/* Frames the policy judges: SYNs and UDP to the forms of the host's
 * loopback, to slirp's gateway and to the outside (which asks the judge). */
static void seed_policy(uint8_t *ram)
{
	static const struct { int v6; uint8_t proto; const char *dst; } frames[] = {
		{ 0, 6, "\x7f\0\0\1" }, { 0, 6, "\x0a\0\x02\x02" }, { 0, 6, "\0\0\0\0" },
		{ 0, 17, "\x0a\0\x02\x02" }, { 0, 17, "\xc0\0\x02\x01" },
		{ 1, 6, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" },
		{ 1, 6, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x7f\0\0\x01" },
		{ 1, 17, "\xfe\xc0\0\0\0\0\0\0\0\0\0\0\0\0\0\x02" },
	};

	for (unsigned int i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		uint64_t at = 0x9000 + (uint64_t)i * 0x200;
		size_t len = to_dst(ram + at + 0x100, frames[i].v6, (const uint8_t *)frames[i].dst,
				    frames[i].proto);

		fv_set(ram, 1, 2 * i, at, NET_HDR_SIZE, VIRTQ_DESC_F_NEXT, (uint16_t)(2 * i + 1));
		fv_set(ram, 1, 2 * i + 1, at + 0x100, (uint32_t)len, 0, 0);
		fv_offer(ram, 1, (uint16_t)(2 * i));
	}
}

void fuzz_seeds(void)
{
	static uint8_t ram[FV_INPUT_MAX];
	size_t len;

	ram[0] = (1u << 1) | (1u << 5);		/* GUEST_CSUM, MAC; MRG_RXBUF is bit 15 */
	/* Receive buffers: 8 of 2 KiB at 0xa000. */
	for (unsigned int i = 0; i < 8; i++) {
		fv_set(ram, 0, i, 0xa000 + i * 0x800, 0x800, VIRTQ_DESC_F_WRITE, 0);
		fv_offer(ram, 0, (uint16_t)i);
	}
	/* Transmit: header at 0x9000, frame at 0x9100, then a second frame. */
	len = arp_request(ram + 0x9100);
	fv_set(ram, 1, 0, 0x9000, NET_HDR_SIZE, VIRTQ_DESC_F_NEXT, 1);
	fv_set(ram, 1, 1, 0x9100, (uint32_t)len, 0, 0);
	fv_offer(ram, 1, 0);
	len = icmp_echo(ram + 0x9900);
	fv_set(ram, 1, 2, 0x9800, NET_HDR_SIZE, VIRTQ_DESC_F_NEXT, 3);
	fv_set(ram, 1, 3, 0x9900, (uint32_t)len, 0, 0);
	fv_offer(ram, 1, 2);
	fuzz_seed("arp-and-ping", ram, 0xe000);
	/* The same receive buffers; the transmit ring afresh. */
	memset(ram + 0x1000 + 0x4000, 0, 0x3000);
	memset(ram + 0x9000, 0, 0x1000);
	seed_policy(ram);
	fuzz_seed("policy-forms", ram, 0xe000);
}
