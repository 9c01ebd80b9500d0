/* SPDX-License-Identifier: MIT */
/*
 * What the guest may open (vmm/net/policy.c): every address form that is
 * slirp's own or local to pupa-vmm's network namespace, the judge asked
 * when the frame comes, UDP replies of published ports only to recent
 * peers, and the answers a refused frame gets. Plus the real judge
 * (vmm/net/local.c) against this machine's routes, and both behind
 * pupa-vmm's own libslirp (vmm/net/slirp.c) with listeners on this
 * machine's loopback that must see nothing.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "event_loop.h"
#include "memory.h"
#include "net/local.h"
#include "net/policy.h"
#include "net/slirp.h"
#include "virtio/net.h"
#include "unit.h"

#define SYN	0x02
#define ACK	0x10
#define T0	1000000		/* a time in ms for the peer table */

/* The fake judge: what it calls local, and how often it was asked. */
static uint8_t judged_local[2][16];	/* an IPv4 and an IPv6 address */
static int judge_says_local, judge_asked;

static int fake_judge(void *ctx, int family, const uint8_t *addr)
{
	judge_asked++;
	if (family == AF_INET)
		return judge_says_local && memcmp(addr, judged_local[0], 4) == 0;
	return judge_says_local && memcmp(addr, judged_local[1], 16) == 0;
}

static struct net_policy policy;

static void setup(void)
{
	memset(&policy, 0, sizeof(policy));
	policy.udp_ports[0] = 53;
	policy.nr_udp_ports = 1;
	policy.is_local = fake_judge;
	inet_pton(AF_INET, "198.51.100.7", judged_local[0]);
	inet_pton(AF_INET6, "2001:db8::7", judged_local[1]);
	judge_says_local = 1;
	judge_asked = 0;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint32_t sum16(const uint8_t *b, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

/*
 * A frame from src:sport to dst:dport (IPv4 or IPv6 text) of proto (6,
 * 17, 1, 58); TCP with flags. Its length.
 */
static size_t frame(uint8_t *f, const char *src, uint16_t sport, const char *dst, uint16_t dport,
		    uint8_t proto, uint8_t flags)
{
	int v6 = strchr(dst, ':') != NULL;
	size_t ipl = v6 ? 40 : 20, l4 = proto == 6 ? 20 : 8;
	uint8_t *ip = f + 14, *t = ip + ipl;

	memset(f, 0, 14 + ipl + l4);
	memcpy(f, "\x52\x55\x0a\x00\x02\x02", 6);
	memcpy(f + 6, "\x52\x54\x00\x12\x34\x56", 6);
	if (v6) {
		f[12] = 0x86, f[13] = 0xdd;
		ip[0] = 0x60;
		ip[5] = (uint8_t)l4;
		ip[6] = proto;
		ip[7] = 64;
		ck_assert_int_eq(inet_pton(AF_INET6, src, ip + 8), 1);
		ck_assert_int_eq(inet_pton(AF_INET6, dst, ip + 24), 1);
	} else {
		f[12] = 0x08;
		ip[0] = 0x45;
		ip[3] = (uint8_t)(20 + l4);
		ip[8] = 64;
		ip[9] = proto;
		ck_assert_int_eq(inet_pton(AF_INET, src, ip + 12), 1);
		ck_assert_int_eq(inet_pton(AF_INET, dst, ip + 16), 1);
	}
	t[0] = (uint8_t)(sport >> 8), t[1] = (uint8_t)sport;
	t[2] = (uint8_t)(dport >> 8), t[3] = (uint8_t)dport;
	if (proto == 6) {
		memcpy(t + 4, "\x12\x34\x56\x78", 4);	/* SEQ */
		t[12] = 0x50;
		t[13] = flags;
	}
	return 14 + ipl + l4;
}

static enum net_verdict tcp_to(const char *dst, uint8_t flags)
{
	uint8_t f[128];
	const char *src = strchr(dst, ':') ? "fec0::15" : "10.0.2.15";

	return net_policy__check_at(&policy, f, frame(f, src, 40000, dst, 8000, 6, flags), T0);
}

static enum net_verdict udp_to(const char *dst, uint16_t sport, uint16_t dport, int64_t now)
{
	uint8_t f[128];
	const char *src = strchr(dst, ':') ? "fec0::15" : "10.0.2.15";

	return net_policy__check_at(&policy, f, frame(f, src, sport, dst, dport, 17, 0), now);
}

/* Every spelling of "this namespace" a guest can put in a frame. */
static const char *const local_forms[] = {
	"127.0.0.1", "127.255.255.254", "127.0.0.53", "0.0.0.0", "0.1.2.3",
	"169.254.169.254", "169.254.0.1",
	"::1", "::", "::ffff:127.0.0.1", "::ffff:127.1.2.3", "::ffff:0.0.0.0", "::ffff:0.0.0.1",
	"::127.0.0.1", "::0.0.0.1", "::ffff:169.254.169.254", "fe80::1", "febf::1",
	/* what the judge calls local: the namespace's interface addresses */
	"198.51.100.7", "::ffff:198.51.100.7", "::198.51.100.7", "2001:db8::7",
};

START_TEST(policy_refuses_every_local_form)
{
	for (unsigned int i = 0; i < sizeof(local_forms) / sizeof(local_forms[0]); i++) {
		const char *a = local_forms[i];

		ck_assert_msg(tcp_to(a, SYN) == NET_REFUSE, "SYN to %s not refused", a);
		ck_assert_msg(udp_to(a, 40000, 8000, T0) == NET_REFUSE, "UDP to %s not refused", a);
		/* Segments of no connection the guest opened: libslirp resets them. */
		ck_assert_msg(tcp_to(a, ACK) == NET_PASS, "ACK to %s", a);
		ck_assert_msg(tcp_to(a, SYN | ACK) == NET_PASS, "SYN-ACK to %s", a);
	}
	/* allow_host_loopback opens slirp's own addresses, not these. */
	policy.allow_host_loopback = 1;
	for (unsigned int i = 0; i < sizeof(local_forms) / sizeof(local_forms[0]); i++)
		ck_assert_msg(tcp_to(local_forms[i], SYN) == NET_REFUSE, "SYN to %s with "
			      "allow_host_loopback not refused", local_forms[i]);
}
END_TEST

START_TEST(policy_slirp_own_addresses_need_allow_host_loopback)
{
	static const char *const own[] = { "10.0.2.2", "10.0.2.200", "10.0.2.255", "fec0::2",
					   "fec0::1:2" };

	for (unsigned int i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		ck_assert_msg(tcp_to(own[i], SYN) == NET_REFUSE, "SYN to %s", own[i]);
		ck_assert_msg(udp_to(own[i], 40000, 8000, T0) == NET_REFUSE, "UDP to %s", own[i]);
	}
	ck_assert_int_eq(tcp_to("10.0.2.3", SYN), NET_PASS);		/* DNS */
	ck_assert_int_eq(udp_to("10.0.2.3", 40000, 53, T0), NET_PASS);
	ck_assert_int_eq(tcp_to("fec0::3", SYN), NET_PASS);
	ck_assert_int_eq(udp_to("10.0.2.2", 68, 67, T0), NET_PASS);	/* DHCP */
	ck_assert_int_eq(udp_to("255.255.255.255", 68, 67, T0), NET_PASS);
	ck_assert_int_eq(udp_to("10.0.2.200", 68, 67, T0), NET_PASS);
	ck_assert_int_eq(judge_asked, 0);	/* slirp's own: no question */
	policy.allow_host_loopback = 1;
	for (unsigned int i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		ck_assert_msg(tcp_to(own[i], SYN) == NET_PASS, "SYN to %s", own[i]);
		ck_assert_msg(udp_to(own[i], 40000, 8000, T0) == NET_PASS, "UDP to %s", own[i]);
	}
}
END_TEST

START_TEST(policy_the_outside_passes)
{
	static const char *const out[] = { "192.0.2.1", "8.8.8.8", "128.0.0.1", "1.0.0.1",
					   "169.253.255.255", "169.255.0.1", "2001:db8::8",
					   "::ffff:192.0.2.1", "fec0:0:0:1::2", "fec1::1" };

	for (unsigned int i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		ck_assert_msg(tcp_to(out[i], SYN) == NET_PASS, "SYN to %s", out[i]);
		ck_assert_msg(udp_to(out[i], 40000, 8000, T0) == NET_PASS, "UDP to %s", out[i]);
	}
}
END_TEST

START_TEST(policy_asks_the_namespace_when_the_frame_comes)
{
	/* An address that becomes the namespace's while the guest runs. */
	judge_says_local = 0;
	ck_assert_int_eq(tcp_to("198.51.100.7", SYN), NET_PASS);
	ck_assert_int_eq(tcp_to("2001:db8::7", SYN), NET_PASS);
	judge_says_local = 1;
	ck_assert_int_eq(tcp_to("198.51.100.7", SYN), NET_REFUSE);
	ck_assert_int_eq(tcp_to("2001:db8::7", SYN), NET_REFUSE);
	/* Only what would be refused asks: TCP segments never do. */
	judge_asked = 0;
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(tcp_to("192.0.2.1", ACK), NET_PASS);
	ck_assert_int_eq(judge_asked, 0);
	/* The fixed forms are refused without a judge, or when it is wrong. */
	policy.is_local = NULL;
	ck_assert_int_eq(tcp_to("127.0.0.1", SYN), NET_REFUSE);
	ck_assert_int_eq(tcp_to("::ffff:0.0.0.0", SYN), NET_REFUSE);
	ck_assert_int_eq(tcp_to("198.51.100.7", SYN), NET_PASS);
}
END_TEST

START_TEST(policy_other_protocols_to_local_are_dropped)
{
	uint8_t f[128];
	size_t n;

	n = frame(f, "10.0.2.15", 0, "127.0.0.1", 0, 1, 0);		/* ICMP */
	ck_assert_int_eq(net_policy__check_at(&policy, f, n, T0), NET_DROP);
	n = frame(f, "10.0.2.15", 0, "192.0.2.1", 0, 1, 0);
	ck_assert_int_eq(net_policy__check_at(&policy, f, n, T0), NET_PASS);
	n = frame(f, "fec0::15", 0, "::1", 0, 58, 0);			/* ICMPv6 */
	ck_assert_int_eq(net_policy__check_at(&policy, f, n, T0), NET_DROP);
	n = frame(f, "fec0::15", 0, "fec0::2", 0, 58, 0);		/* NDP, ping */
	ck_assert_int_eq(net_policy__check_at(&policy, f, n, T0), NET_PASS);
	n = frame(f, "fec0::15", 0, "ff02::1:ff00:2", 0, 58, 0);
	ck_assert_int_eq(net_policy__check_at(&policy, f, n, T0), NET_PASS);
	/* An IPv6 extension header before TCP: not followed, dropped. */
	n = frame(f, "fec0::15", 40000, "::1", 80, 6, SYN);
	f[14 + 6] = 0;
	ck_assert_int_eq(net_policy__check_at(&policy, f, n, T0), NET_DROP);
	/* A later IPv4 fragment has no ports: dropped to local, passed out. */
	n = frame(f, "10.0.2.15", 40000, "127.0.0.1", 80, 6, ACK);
	f[14 + 7] = 1;
	ck_assert_int_eq(net_policy__check_at(&policy, f, n, T0), NET_DROP);
	n = frame(f, "10.0.2.15", 40000, "192.0.2.1", 80, 6, ACK);
	f[14 + 7] = 1;
	ck_assert_int_eq(net_policy__check_at(&policy, f, n, T0), NET_PASS);
	/* Headers too short to judge. */
	n = frame(f, "10.0.2.15", 40000, "127.0.0.1", 80, 6, SYN);
	ck_assert_int_eq(net_policy__check_at(&policy, f, n - 1, T0), NET_DROP);
	n = frame(f, "10.0.2.15", 40000, "10.0.2.2", 80, 6, SYN);
	f[14] = 0x4f;							/* IHL 60 > frame */
	ck_assert_int_eq(net_policy__check_at(&policy, f, n, T0), NET_DROP);
	ck_assert_int_eq(net_policy__check_at(&policy, f, 20, T0), NET_PASS);	/* libslirp's */
	ck_assert_int_eq(net_policy__check_at(&policy, f, 0, T0), NET_PASS);
}
END_TEST

/* A datagram libslirp hands the guest: from peer:port to 10.0.2.15:guest_port. */
static void peer_sends(const char *peer, uint16_t port, uint16_t guest_port, int64_t now)
{
	uint8_t f[128];
	const char *to = strchr(peer, ':') ? "fec0::15" : "10.0.2.15";

	net_policy__learn_at(&policy, f, frame(f, peer, port, to, guest_port, 17, 0), now);
}

START_TEST(policy_udp_from_a_published_port_only_to_a_recent_peer)
{
	/* Before anyone sent to the published port 53: nothing goes out. */
	ck_assert_int_eq(udp_to("10.0.2.2", 53, 4444, T0), NET_REFUSE);
	ck_assert_int_eq(udp_to("198.51.100.7", 53, 4444, T0), NET_REFUSE);
	peer_sends("10.0.2.2", 4444, 53, T0);
	peer_sends("198.51.100.7", 5555, 53, T0);
	peer_sends("fec0::2", 6666, 53, T0);
	ck_assert_int_eq(udp_to("10.0.2.2", 53, 4444, T0 + 1), NET_PASS);
	ck_assert_int_eq(udp_to("198.51.100.7", 53, 5555, T0 + 1), NET_PASS);
	ck_assert_int_eq(udp_to("fec0::2", 53, 6666, T0 + 1), NET_PASS);
	/* Another port of the peer, another peer, another guest port. */
	ck_assert_int_eq(udp_to("10.0.2.2", 53, 4445, T0 + 1), NET_REFUSE);
	ck_assert_int_eq(udp_to("10.0.2.200", 53, 4444, T0 + 1), NET_REFUSE);
	ck_assert_int_eq(udp_to("10.0.2.2", 54, 4444, T0 + 1), NET_REFUSE);
	/* An unpublished port learns nothing. */
	peer_sends("10.0.2.2", 7777, 54, T0);
	ck_assert_int_eq(udp_to("10.0.2.2", 54, 7777, T0 + 1), NET_REFUSE);
	/* A peer stays while it keeps sending, and goes NET_UDP_PEER_MS after. */
	peer_sends("10.0.2.2", 4444, 53, T0 + NET_UDP_PEER_MS / 2);
	ck_assert_int_eq(udp_to("10.0.2.2", 53, 4444, T0 + NET_UDP_PEER_MS), NET_PASS);
	ck_assert_int_eq(udp_to("198.51.100.7", 53, 5555, T0 + NET_UDP_PEER_MS), NET_REFUSE);
	ck_assert_int_eq(udp_to("10.0.2.2", 53, 4444, T0 + NET_UDP_PEER_MS * 3 / 2), NET_REFUSE);
}
END_TEST

START_TEST(policy_udp_peer_table_is_bounded)
{
	/* Three times as many peers as the table holds: the newest stay. */
	for (unsigned int i = 0; i < 3 * NET_UDP_PEERS; i++)
		peer_sends("10.0.2.2", (uint16_t)(10000 + i), 53, T0 + i);
	for (unsigned int i = 0; i < 3 * NET_UDP_PEERS; i++)
		ck_assert_msg(udp_to("10.0.2.2", 53, (uint16_t)(10000 + i), T0 + 3 * NET_UDP_PEERS) ==
			      (i >= 2 * NET_UDP_PEERS ? NET_PASS : NET_REFUSE), "peer %u", i);
	/* Frames that are not UDP to a published port change nothing. */
	for (unsigned int len = 0; len < 14 + 20 + 8; len++) {
		uint8_t f[128];

		frame(f, "10.0.2.2", 1, "10.0.2.15", 53, 17, 0);
		net_policy__learn_at(&policy, f, len, T0);
	}
	ck_assert_int_eq(udp_to("10.0.2.2", 53, 1, T0), NET_REFUSE);
}
END_TEST

static int csum_ok4(const uint8_t *ip)
{
	return csum_fold(sum16(ip, 20, 0)) == 0xffff;
}

/* The transport checksum of an answer, over its pseudo header. */
static int csum_ok_l4(const uint8_t *ip, int v6, uint8_t proto, size_t l4len)
{
	uint32_t sum;

	if (v6)
		sum = sum16(ip + 8, 32, 0);
	else
		sum = sum16(ip + 12, 8, 0);
	sum += proto + (uint32_t)l4len;
	return csum_fold(sum16(ip + (v6 ? 40 : 20), l4len, sum)) == 0xffff;
}

START_TEST(policy_refused_syn_gets_a_reset)
{
	uint8_t f[128], out[NET_REFUSAL_MAX];
	size_t n = frame(f, "10.0.2.15", 40000, "10.0.2.2", 8000, 6, SYN), r;

	r = net_policy__refusal(f, n, out, sizeof(out));
	ck_assert_uint_eq(r, 14 + 20 + 20);
	ck_assert_mem_eq(out, f + 6, 6);
	ck_assert_mem_eq(out + 6, f, 6);
	ck_assert_mem_eq(out + 14 + 12, f + 14 + 16, 4);	/* from 10.0.2.2 */
	ck_assert_mem_eq(out + 14 + 16, f + 14 + 12, 4);
	ck_assert_int_eq(out[14 + 9], 6);
	ck_assert(csum_ok4(out + 14));
	ck_assert_mem_eq(out + 34, "\x1f\x40\x9c\x40", 4);	/* 8000 -> 40000 */
	ck_assert_mem_eq(out + 34 + 4, "\0\0\0\0", 4);		/* SEQ 0 */
	ck_assert_mem_eq(out + 34 + 8, "\x12\x34\x56\x79", 4);	/* ACK: its SEQ + 1 */
	ck_assert_int_eq(out[34 + 13], 0x14);			/* RST|ACK */
	ck_assert(csum_ok_l4(out + 14, 0, 6, 20));
	/* IPv6 */
	n = frame(f, "fec0::15", 40000, "fec0::2", 8000, 6, SYN);
	r = net_policy__refusal(f, n, out, sizeof(out));
	ck_assert_uint_eq(r, 14 + 40 + 20);
	ck_assert_mem_eq(out + 12, "\x86\xdd", 2);
	ck_assert_int_eq(out[14 + 4] << 8 | out[14 + 5], 20);
	ck_assert_mem_eq(out + 14 + 8, f + 14 + 24, 16);
	ck_assert_mem_eq(out + 14 + 24, f + 14 + 8, 16);
	ck_assert_int_eq(out[54 + 13], 0x14);
	ck_assert(csum_ok_l4(out + 14, 1, 6, 20));
	/* Never a reset to a reset; nothing for a short frame or buffer. */
	n = frame(f, "10.0.2.15", 40000, "10.0.2.2", 8000, 6, 0x04);
	ck_assert_uint_eq(net_policy__refusal(f, n, out, sizeof(out)), 0);
	n = frame(f, "10.0.2.15", 40000, "10.0.2.2", 8000, 6, SYN);
	ck_assert_uint_eq(net_policy__refusal(f, n - 1, out, sizeof(out)), 0);
	ck_assert_uint_eq(net_policy__refusal(f, 30, out, sizeof(out)), 0);
	ck_assert_uint_eq(net_policy__refusal(f, n, out, NET_REFUSAL_MAX - 1), 0);
}
END_TEST

START_TEST(policy_refused_udp_gets_an_icmp)
{
	uint8_t f[128], out[NET_REFUSAL_MAX];
	size_t n = frame(f, "10.0.2.15", 40000, "10.0.2.2", 8000, 17, 0), r;

	r = net_policy__refusal(f, n, out, sizeof(out));
	ck_assert_uint_eq(r, 14 + 20 + 8 + 20 + 8);
	ck_assert_mem_eq(out + 14 + 12, f + 14 + 16, 4);
	ck_assert(csum_ok4(out + 14));
	ck_assert_int_eq(out[34], 3);
	ck_assert_int_eq(out[35], 13);
	ck_assert_mem_eq(out + 42, f + 14, 28);			/* header + 8 bytes */
	ck_assert_int_eq(csum_fold(sum16(out + 34, r - 34, 0)), 0xffff);
	/* ICMPv6 type 1 code 1, its checksum over the pseudo header */
	n = frame(f, "fec0::15", 40000, "::1", 8000, 17, 0);
	r = net_policy__refusal(f, n, out, sizeof(out));
	ck_assert_uint_eq(r, 14 + 40 + 8 + 40 + 8);
	ck_assert_int_eq(out[14 + 6], 58);
	ck_assert_int_eq(out[54], 1);
	ck_assert_int_eq(out[55], 1);
	ck_assert_mem_eq(out + 62, f + 14, 48);
	ck_assert(csum_ok_l4(out + 14, 1, 58, 8 + 48));
}
END_TEST

/* The real judge, on this machine's routes: the loopback is local, a
 * documentation address is not, and so is every interface address. */
START_TEST(local_judge_asks_the_kernel)
{
	struct net_local nl;
	uint8_t a[16];

	ck_assert_int_eq(net_local_open(&nl), 0);
	inet_pton(AF_INET, "127.0.0.1", a);
	ck_assert_int_eq(net_local_judge(&nl, AF_INET, a), 1);
	inet_pton(AF_INET, "127.8.9.10", a);
	ck_assert_int_eq(net_local_judge(&nl, AF_INET, a), 1);
	inet_pton(AF_INET6, "::1", a);
	ck_assert_int_eq(net_local_judge(&nl, AF_INET6, a), 1);
	inet_pton(AF_INET, "203.0.113.77", a);
	ck_assert_int_eq(net_local_judge(&nl, AF_INET, a), 0);
	inet_pton(AF_INET6, "2001:db8:77::77", a);
	ck_assert_int_eq(net_local_judge(&nl, AF_INET6, a), 0);
	for (int i = 0; i < 1000; i++)		/* answers stay in step */
		ck_assert_int_eq(net_local_judge(&nl, AF_INET, a), 0);
	ck_assert_int_eq(net_local_judge(&nl, AF_INET, (const uint8_t *)"\x7f\0\0\1"), 1);
	net_local_close(&nl);
	/* A judge that cannot ask says "local". */
	ck_assert_int_eq(net_local_judge(&nl, AF_INET, a), 1);
	ck_assert_int_eq(net_local_judge(NULL, AF_INET, a), 1);
}
END_TEST

/* --- behind libslirp, as pupa-vmm runs it ---------------------------------------------- */

static struct guest_mem slirp_mem;
static struct event_loop slirp_loop;
static struct virtio_net slirp_net;
static struct net_slirp *slirp;

static void slirp_up(int allow, const struct port_publish *publish, unsigned int nr)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct net_slirp_config cfg = { .allow_host_loopback = allow, .publish = publish,
					.nr_publish = nr };
	struct pupa_err err = { 0 };

	memset(&slirp_mem, 0, sizeof(slirp_mem));
	ck_assert_int_eq(guest_mem__add(&slirp_mem, 0, 1u << 20), 0);
	ck_assert_int_eq(guest_mem__map(&slirp_mem), 0);
	ck_assert_int_eq(ev_loop__init(&slirp_loop), 0);
	ck_assert_int_eq(virtio_net__init(&slirp_net, mac, &slirp_mem, &slirp_loop, net_slirp__input,
					  NULL, &err), 0);
	ck_assert_msg(net_slirp__new(&slirp, &cfg, &slirp_net, &slirp_loop, &err) == 0, "%s", err.msg);
	slirp_net.tx_ctx = slirp;
}

static void slirp_down(void)
{
	net_slirp__free(slirp);
	virtio_net__destroy(&slirp_net);
	ev_loop__destroy(&slirp_loop);
	guest_mem__unmap(&slirp_mem);
}

/* Checksums of a frame() as libslirp checks them. */
static void frame_sums(uint8_t *f, size_t len)
{
	int v6 = f[12] == 0x86;
	uint8_t *ip = f + 14, *l4 = ip + (v6 ? 40 : 20), proto = v6 ? ip[6] : ip[9];
	size_t l4len = len - 14 - (v6 ? 40 : 20);
	uint8_t *sum = l4 + (proto == 6 ? 16 : 6);
	uint32_t ps = (v6 ? sum16(ip + 8, 32, 0) : sum16(ip + 12, 8, 0)) + proto + (uint32_t)l4len;
	uint16_t c;

	if (!v6) {
		ip[10] = ip[11] = 0;
		c = (uint16_t)~csum_fold(sum16(ip, 20, 0));
		ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	}
	sum[0] = sum[1] = 0;
	c = (uint16_t)~csum_fold(sum16(l4, l4len, ps));
	sum[0] = (uint8_t)(c >> 8), sum[1] = (uint8_t)c;
}

/* A socket on this machine's loopback (port 0: any); its port in *port. */
static int loopback_socket(int family, int type, uint16_t *port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int one = 1, fd = socket(family, type | SOCK_NONBLOCK, 0);

	ck_assert_int_ge(fd, 0);
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, sl), 0);
	if (type == SOCK_STREAM)
		ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
		      ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* Run libslirp for about ms; 1 as soon as fd is readable. */
static int slirp_run_until(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (int t = 0; t < ms; t += 10) {
		ev_loop__run_once(&slirp_loop, 10);
		if (poll(&p, 1, 0) == 1)
			return 1;
	}
	return 0;
}

/* A datagram from the guest's port 53 to 10.0.2.2:port, with a payload. */
static size_t answer(uint8_t *f, uint16_t port)
{
	size_t n = frame(f, "10.0.2.15", 53, "10.0.2.2", port, 17, 0);

	memcpy(f + n, "answer", 6);
	f[14 + 3] = (uint8_t)(28 + 6);
	f[14 + 20 + 5] = 8 + 6;
	return n + 6;
}

static void guest_sends(uint8_t *f, size_t len)
{
	frame_sums(f, len);
	net_slirp__input(slirp, f, len);
}

/* A SYN from the guest to dst:port: did a listener on fd get it? */
static int syn_connects(const char *dst, uint16_t port, int fd)
{
	static uint16_t sport = 41000;
	uint8_t f[128];
	size_t n = frame(f, strchr(dst, ':') ? "fec0::15" : "10.0.2.15", sport++, dst, port, 6, SYN);
	int c;

	guest_sends(f, n);
	if (!slirp_run_until(fd, 300))
		return 0;
	c = accept(fd, NULL, NULL);
	if (c >= 0)
		close(c);
	return 1;
}

START_TEST(slirp_no_form_reaches_a_loopback_listener)
{
	static const char *const v4[] = { "127.0.0.1", "127.0.0.2", "0.0.0.0", "10.0.2.2",
					  "::ffff:127.0.0.1", "::ffff:0.0.0.0" };
	static const char *const v6[] = { "::1", "::", "fec0::2" };
	uint16_t p4, p6;
	int l4 = loopback_socket(AF_INET, SOCK_STREAM, &p4), l6 = loopback_socket(AF_INET6, SOCK_STREAM, &p6);

	slirp_up(0, NULL, 0);
	for (unsigned int i = 0; i < sizeof(v4) / sizeof(v4[0]); i++)
		ck_assert_msg(!syn_connects(v4[i], p4, l4), "a SYN to %s reached 127.0.0.1", v4[i]);
	for (unsigned int i = 0; i < sizeof(v6) / sizeof(v6[0]); i++)
		ck_assert_msg(!syn_connects(v6[i], p6, l6), "a SYN to %s reached ::1", v6[i]);
	slirp_down();
	/* The same frames do reach them through the gateway when allowed. */
	slirp_up(1, NULL, 0);
	ck_assert_msg(syn_connects("10.0.2.2", p4, l4), "allow_host_loopback: 10.0.2.2 refused");
	ck_assert_msg(syn_connects("fec0::2", p6, l6), "allow_host_loopback: fec0::2 refused");
	ck_assert_msg(!syn_connects("127.0.0.1", p4, l4), "allow_host_loopback: 127.0.0.1 passed");
	slirp_down();
	close(l4);
	close(l6);
}
END_TEST

/* The guest's ARP entry, so libslirp can hand it datagrams. */
static void guest_announces(void)
{
	uint8_t f[42] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
			  0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2,
			  0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 10, 0, 2, 15,
			  0x52, 0x55, 0x0a, 0x00, 0x02, 0x02, 10, 0, 2, 2 };

	net_slirp__input(slirp, f, sizeof(f));
}

START_TEST(slirp_published_udp_answers_only_its_peer)
{
	struct port_publish pub = { .udp = 1, .host_addr.s_addr = htonl(INADDR_LOOPBACK),
				    .guest_port = 53 };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint16_t client_port, other_port;
	int client = loopback_socket(AF_INET, SOCK_DGRAM, &client_port);
	int other = loopback_socket(AF_INET, SOCK_DGRAM, &other_port);
	int probe = loopback_socket(AF_INET, SOCK_DGRAM, &pub.host_port);
	uint8_t f[128];
	char buf[64];

	close(probe);		/* a free port for -p, taken again at once */
	slirp_up(0, &pub, 1);
	guest_announces();
	/* Before anyone sent to the published port, and to a port that never did. */
	guest_sends(f, answer(f, client_port));
	guest_sends(f, answer(f, other_port));
	ck_assert_msg(!slirp_run_until(client, 300), "a datagram before the peer sent");
	ck_assert_msg(!slirp_run_until(other, 100), "a datagram to a port that never sent");
	to.sin_port = htons(pub.host_port);
	ck_assert_int_eq(sendto(client, "query", 5, 0, (struct sockaddr *)&to, sizeof(to)), 5);
	slirp_run_until(-1, 300);
	guest_sends(f, answer(f, client_port));
	guest_sends(f, answer(f, other_port));
	ck_assert_msg(slirp_run_until(client, 1000), "the peer got no answer");
	ck_assert_int_eq(recv(client, buf, sizeof(buf), 0), 6);
	ck_assert_mem_eq(buf, "answer", 6);
	ck_assert_msg(!slirp_run_until(other, 300), "a port that never sent got a datagram");
	slirp_down();
	close(client);
	close(other);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net-policy");
	TCase *tc = tcase_create("policy");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, policy_refuses_every_local_form);
	tcase_add_test(tc, policy_slirp_own_addresses_need_allow_host_loopback);
	tcase_add_test(tc, policy_the_outside_passes);
	tcase_add_test(tc, policy_asks_the_namespace_when_the_frame_comes);
	tcase_add_test(tc, policy_other_protocols_to_local_are_dropped);
	tcase_add_test(tc, policy_udp_from_a_published_port_only_to_a_recent_peer);
	tcase_add_test(tc, policy_udp_peer_table_is_bounded);
	tcase_add_test(tc, policy_refused_syn_gets_a_reset);
	tcase_add_test(tc, policy_refused_udp_gets_an_icmp);
	suite_add_tcase(s, tc);
	tc = tcase_create("local");
	tcase_add_test(tc, local_judge_asks_the_kernel);
	suite_add_tcase(s, tc);
	tc = tcase_create("slirp");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, slirp_no_form_reaches_a_loopback_listener);
	tcase_add_test(tc, slirp_published_udp_answers_only_its_peer);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
