/* SPDX-License-Identifier: MIT */
#include "policy.h"

#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define ETH_HLEN	14
#define ETH_IPV4	0x0800
#define ETH_IPV6	0x86dd
#define IP_ICMP		1
#define IP_TCP		6
#define IP_UDP		17
#define IP_ICMPV6	58
#define TCP_RST		0x04
#define TCP_SYN		0x02
#define TCP_ACK		0x10
#define DHCP_SERVER	67

/* 10.0.2.0/24, its DNS forwarder 10.0.2.3 */
static const uint8_t net4[3] = { 10, 0, 2 };
#define NET4_DNS	3
/* fec0::/64 and its DNS forwarder fec0::3 */
static const uint8_t net6[8] = { 0xfe, 0xc0 };
#define NET6_DNS	3
static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

/* Where a frame goes, as the rule sees it. */
enum policy_dst {
	DST_OUT,	/* elsewhere, or local (then asked later) */
	DST_DNS,	/* libslirp's DNS forwarder */
	DST_SLIRP,	/* slirp's own: the host's loopback */
};

/* The parts of a frame the rule reads. */
struct policy_pkt {
	int family;			/* AF_INET or AF_INET6 */
	const uint8_t *ip;		/* the IP header */
	size_t iplen;			/* its header length */
	const uint8_t *src, *dst;	/* 4 or 16 bytes */
	int proto;			/* -1: none to judge by */
	const uint8_t *l4;
	size_t l4len;
};

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int64_t policy__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1: k filled; 0: not IP, libslirp's to take or drop. A header that
 * cannot be judged leaves proto -1. */
static int policy__parse(const uint8_t *frame, size_t len, struct policy_pkt *k)
{
	const uint8_t *ip;
	size_t n, ihl;

	memset(k, 0, sizeof(*k));
	k->proto = -1;
	if (len < ETH_HLEN)
		return 0;
	n = len - ETH_HLEN;
	k->ip = ip = frame + ETH_HLEN;
	if (be16(frame + 12) == ETH_IPV4) {
		if (n < 20 || (ip[0] >> 4) != 4)
			return 0;	/* libslirp drops what is not IPv4 */
		k->family = AF_INET, k->src = ip + 12, k->dst = ip + 16;
		ihl = (size_t)(ip[0] & 15) * 4;
		/* A later fragment has no ports to judge by. */
		if (ihl < 20 || ihl > n || (be16(ip + 6) & 0x1fff))
			return 1;
		k->iplen = ihl, k->proto = ip[9], k->l4 = ip + ihl, k->l4len = n - ihl;
		return 1;
	}
	if (be16(frame + 12) == ETH_IPV6) {
		if (n < 40 || (ip[0] >> 4) != 6)
			return 0;
		/* Extension headers are not followed: judged as "other". */
		k->family = AF_INET6, k->src = ip + 8, k->dst = ip + 24;
		k->iplen = 40, k->proto = ip[6], k->l4 = ip + 40, k->l4len = n - 40;
		return 1;
	}
	return 0;	/* ARP and the rest stay inside libslirp */
}

static enum policy_dst policy__slirp_own(const struct policy_pkt *k)
{
	if (k->family == AF_INET) {
		if (memcmp(k->dst, "\xff\xff\xff\xff", 4) == 0)
			return DST_SLIRP;	/* the broadcast libslirp's DHCP serves */
		if (memcmp(k->dst, net4, 3) != 0)
			return DST_OUT;
		return k->dst[3] == NET4_DNS ? DST_DNS : DST_SLIRP;
	}
	if (memcmp(k->dst, net6, 8) != 0)
		return DST_OUT;
	return memcmp(k->dst + 8, "\0\0\0\0\0\0\0", 7) == 0 && k->dst[15] == NET6_DNS ?
	       DST_DNS : DST_SLIRP;
}

static int policy__local4(const struct net_policy *p, const uint8_t *a)
{
	if (a[0] == 127 || a[0] == 0 || (a[0] == 169 && a[1] == 254))
		return 1;
	return p->is_local ? p->is_local(p->local_ctx, AF_INET, a) : 0;
}

/* Is the destination local to pupa-vmm's network namespace? */
static int policy__local(const struct net_policy *p, const struct policy_pkt *k)
{
	const uint8_t *a = k->dst;

	if (k->family == AF_INET)
		return policy__local4(p, a);
	/* ::ffff:a.b.c.d and ::a.b.c.d (which holds :: and ::1) are IPv4's. */
	if (memcmp(a, v4mapped, 12) == 0 || (memcmp(a, v4mapped, 10) == 0 &&
					     a[10] == 0 && a[11] == 0))
		return policy__local4(p, a + 12);
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return 1;	/* fe80::/10 */
	return p->is_local ? p->is_local(p->local_ctx, AF_INET6, a) : 0;
}

static void policy__peer_key(const struct policy_pkt *k, const uint8_t *addr, uint8_t key[16])
{
	if (k->family == AF_INET) {
		memcpy(key, v4mapped, 12);
		memcpy(key + 12, addr, 4);
	} else {
		memcpy(key, addr, 16);
	}
}

/* Did the guest's destination send to its published source port lately? */
static int policy__udp_peer(const struct net_policy *p, const struct policy_pkt *k,
			    int64_t now_ms)
{
	uint16_t sport = be16(k->l4), dport = be16(k->l4 + 2);
	uint8_t key[16];

	policy__peer_key(k, k->dst, key);
	for (unsigned int i = 0; i < NET_UDP_PEERS; i++) {
		const struct net_udp_peer *e = &p->peers[i];

		if (e->until_ms > now_ms && e->guest_port == sport && e->port == dport &&
		    memcmp(e->addr, key, 16) == 0)
			return 1;
	}
	return 0;
}

/* What to do with a frame to a destination the guest may not open. */
static enum net_verdict policy__closed(const struct net_policy *p, const struct policy_pkt *k,
				       int slirp_own, int64_t now_ms)
{
	switch (k->proto) {
	case IP_TCP:
		if (k->l4len < 20)
			return NET_DROP;
		return (k->l4[13] & (TCP_SYN | TCP_ACK)) == TCP_SYN ? NET_REFUSE : NET_PASS;
	case IP_UDP:
		if (k->l4len < 8)
			return NET_DROP;
		if (policy__udp_peer(p, k, now_ms))
			return NET_PASS;	/* a reply through -p .../udp */
		if (slirp_own && k->family == AF_INET && be16(k->l4 + 2) == DHCP_SERVER)
			return NET_PASS;	/* libslirp's own DHCP server */
		return NET_REFUSE;
	case IP_ICMPV6:
		/* neighbour discovery (to slirp's own or multicast), ping:
		 * libslirp answers */
		return k->family == AF_INET6 && (slirp_own || k->dst[0] == 0xff) ? NET_PASS : NET_DROP;
	default:
		return NET_DROP;
	}
}

enum net_verdict net_policy__check_at(const struct net_policy *p, const uint8_t *frame,
				      size_t len, int64_t now_ms)
{
	struct policy_pkt k;
	enum policy_dst dst;
	enum net_verdict v;

	if (!policy__parse(frame, len, &k))
		return NET_PASS;
	dst = policy__slirp_own(&k);
	if (dst == DST_DNS || (dst == DST_SLIRP && p->allow_host_loopback))
		return NET_PASS;
	v = policy__closed(p, &k, dst == DST_SLIRP, now_ms);
	/* What passes to a closed destination needs no question asked:
	 * most frames (TCP segments, replies) never ask the kernel. */
	if (v == NET_PASS || dst == DST_SLIRP)
		return v;
	return policy__local(p, &k) ? v : NET_PASS;
}

enum net_verdict net_policy__check(const struct net_policy *p, const uint8_t *frame, size_t len)
{
	return net_policy__check_at(p, frame, len, policy__now_ms());
}

static int policy__udp_published(const struct net_policy *p, uint16_t port)
{
	for (unsigned int i = 0; i < p->nr_udp_ports && i < PUBLISH_MAX; i++)
		if (p->udp_ports[i] == port)
			return 1;
	return 0;
}

void net_policy__learn_at(struct net_policy *p, const uint8_t *frame, size_t len,
			  int64_t now_ms)
{
	struct net_udp_peer *slot = NULL;
	struct policy_pkt k;
	uint8_t key[16];
	uint16_t port, guest_port;

	if (!policy__parse(frame, len, &k) || k.proto != IP_UDP || k.l4len < 8)
		return;
	port = be16(k.l4), guest_port = be16(k.l4 + 2);
	if (!policy__udp_published(p, guest_port))
		return;
	policy__peer_key(&k, k.src, key);
	/* The peer's own slot, else a free or expired one, else the one
	 * closest to expiring: the table stays NET_UDP_PEERS long. */
	for (unsigned int i = 0; i < NET_UDP_PEERS; i++) {
		struct net_udp_peer *e = &p->peers[i];

		if (e->port == port && e->guest_port == guest_port && memcmp(e->addr, key, 16) == 0) {
			slot = e;
			break;
		}
		if (!slot || (slot->until_ms > now_ms && e->until_ms < slot->until_ms))
			slot = e;
	}
	memcpy(slot->addr, key, 16);
	slot->port = port;
	slot->guest_port = guest_port;
	slot->until_ms = now_ms + NET_UDP_PEER_MS;
}

void net_policy__learn(struct net_policy *p, const uint8_t *frame, size_t len)
{
	net_policy__learn_at(p, frame, len, policy__now_ms());
}

/* --- refusals ---------------------------------------------------------------------------- */

/* The one's-complement sum of len bytes, folded, added to sum. */
static uint32_t policy__sum(const uint8_t *b, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += be16(b + i);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static uint16_t policy__csum(const uint8_t *b, size_t len, uint32_t sum)
{
	return (uint16_t)~policy__sum(b, len, sum);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* The sum of the pseudo header of an answer of len bytes of proto. */
static uint32_t policy__pseudo(const uint8_t *rip, int family, int proto, size_t len)
{
	uint8_t tail[8] = { 0 };

	put32(tail, (uint32_t)len);
	tail[7] = (uint8_t)proto;
	if (family == AF_INET)
		return policy__sum(tail, 8, policy__sum(rip + 12, 8, 0));
	return policy__sum(tail, 8, policy__sum(rip + 8, 32, 0));
}

/* Ethernet and IP headers of an answer to k with payload bytes of proto,
 * from its destination back to its source. The payload's offset. */
static size_t policy__answer_head(const uint8_t *frame, const struct policy_pkt *k, uint8_t *out,
				  int proto, size_t payload)
{
	uint8_t *rip = out + ETH_HLEN;

	memcpy(out, frame + 6, 6);		/* back to the sender */
	memcpy(out + 6, frame, 6);		/* from whom it was sent to */
	if (k->family == AF_INET) {
		put16(out + 12, ETH_IPV4);
		memset(rip, 0, 20);
		rip[0] = 0x45;
		put16(rip + 2, (uint16_t)(20 + payload));
		rip[8] = 64;			/* TTL */
		rip[9] = (uint8_t)proto;
		memcpy(rip + 12, k->dst, 4);	/* from the refused address */
		memcpy(rip + 16, k->src, 4);
		put16(rip + 10, policy__csum(rip, 20, 0));
		return ETH_HLEN + 20;
	}
	put16(out + 12, ETH_IPV6);
	memset(rip, 0, 40);
	rip[0] = 0x60;
	put16(rip + 4, (uint16_t)payload);
	rip[6] = (uint8_t)proto;
	rip[7] = 64;				/* hop limit */
	memcpy(rip + 8, k->dst, 16);
	memcpy(rip + 24, k->src, 16);
	return ETH_HLEN + 40;
}

/* A reset to a SYN (RFC 9293 3.10.7.1: SEQ 0, ACK its SEQ + 1, RST|ACK). */
static size_t policy__reset(const uint8_t *frame, const struct policy_pkt *k, uint8_t *out)
{
	size_t at = policy__answer_head(frame, k, out, IP_TCP, 20);
	const uint8_t *syn = k->l4;
	uint8_t *t = out + at;

	memset(t, 0, 20);
	memcpy(t, syn + 2, 2);			/* from the port it was sent to */
	memcpy(t + 2, syn, 2);
	put32(t + 8, (uint32_t)((uint32_t)syn[4] << 24 | (uint32_t)syn[5] << 16 |
				(uint32_t)syn[6] << 8 | syn[7]) + 1);
	t[12] = 5 << 4;				/* header length: 5 words */
	t[13] = TCP_RST | TCP_ACK;
	put16(t + 16, policy__csum(t, 20, policy__pseudo(out + ETH_HLEN, k->family, IP_TCP, 20)));
	return at + 20;
}

/* ICMP or ICMPv6 "administratively prohibited" quoting the refused
 * header and the first 8 bytes after it (RFC 792, RFC 4443). */
static size_t policy__unreachable(const uint8_t *frame, size_t len, const struct policy_pkt *k,
				  uint8_t *out)
{
	size_t after = len - ETH_HLEN - k->iplen, quoted = k->iplen + (after < 8 ? after : 8);
	int v4 = k->family == AF_INET;
	size_t at = policy__answer_head(frame, k, out, v4 ? IP_ICMP : IP_ICMPV6, 8 + quoted);
	uint8_t *icmp = out + at;

	memset(icmp, 0, 8);
	icmp[0] = v4 ? 3 : 1;			/* destination unreachable */
	icmp[1] = v4 ? 13 : 1;			/* administratively prohibited */
	memcpy(icmp + 8, k->ip, quoted);
	put16(icmp + 2, policy__csum(icmp, 8 + quoted, v4 ? 0 :
				     policy__pseudo(out + ETH_HLEN, AF_INET6, IP_ICMPV6,
						    8 + quoted)));
	return at + 8 + quoted;
}

size_t net_policy__refusal(const uint8_t *frame, size_t len, uint8_t *out, size_t cap)
{
	struct policy_pkt k;

	if (cap < NET_REFUSAL_MAX || !policy__parse(frame, len, &k) || k.proto < 0)
		return 0;
	if (k.proto == IP_TCP)
		return k.l4len >= 20 && !(k.l4[13] & TCP_RST) ? policy__reset(frame, &k, out) : 0;
	return policy__unreachable(frame, len, &k, out);
}
