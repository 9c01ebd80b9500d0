/* SPDX-License-Identifier: MIT */
#include "policy.h"

#include <string.h>

#define ETH_HLEN	14
#define ETH_IPV4	0x0800
#define ETH_IPV6	0x86dd
#define IP_TCP		6
#define IP_UDP		17
#define IP_ICMPV6	58
#define TCP_SYN		0x02
#define TCP_ACK		0x10
#define DHCP_SERVER	67

/* 10.0.2.0/24, its DNS forwarder 10.0.2.3 and gateway 10.0.2.2 */
static const uint8_t net4[3] = { 10, 0, 2 };
#define NET4_DNS	3
#define NET4_GATEWAY	2
/* fec0::/64 and its DNS forwarder fec0::3 */
static const uint8_t net6[8] = { 0xfe, 0xc0 };
#define NET6_DNS	3

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int policy__udp_published(const struct net_policy *p, uint16_t port)
{
	for (unsigned int i = 0; i < p->nr_udp_ports; i++)
		if (p->udp_ports[i] == port)
			return 1;
	return 0;
}

/* What to do with a transport header l4 (len bytes) sent to the host. */
static enum net_verdict policy__l4(const struct net_policy *p, int proto, const uint8_t *l4,
				   size_t len, int to_gateway)
{
	switch (proto) {
	case IP_TCP:
		if (len < 20)
			return NET_DROP;
		return (l4[13] & (TCP_SYN | TCP_ACK)) == TCP_SYN ? NET_REFUSE : NET_PASS;
	case IP_UDP:
		if (len < 8)
			return NET_DROP;
		if (policy__udp_published(p, be16(l4)))
			return NET_PASS;	/* a reply through -p .../udp */
		if (to_gateway && be16(l4 + 2) == DHCP_SERVER)
			return NET_PASS;	/* libslirp's own DHCP server */
		return NET_REFUSE;
	default:
		return NET_DROP;
	}
}

static enum net_verdict policy__ipv4(const struct net_policy *p, const uint8_t *ip, size_t len)
{
	size_t ihl;

	if (len < 20 || (ip[0] >> 4) != 4)
		return NET_PASS;	/* libslirp drops what is not IPv4 */
	if (memcmp(ip + 16, net4, 3) != 0 || ip[19] == NET4_DNS)
		return NET_PASS;	/* not to the host's loopback */
	ihl = (size_t)(ip[0] & 15) * 4;
	if (ihl < 20 || ihl > len)
		return NET_DROP;
	if (be16(ip + 6) & 0x1fff)
		return NET_DROP;	/* a later fragment: no ports to judge by */
	return policy__l4(p, ip[9], ip + ihl, len - ihl, ip[19] == NET4_GATEWAY);
}

static enum net_verdict policy__ipv6(const struct net_policy *p, const uint8_t *ip, size_t len)
{
	if (len < 40 || (ip[0] >> 4) != 6)
		return NET_PASS;
	if (memcmp(ip + 24, net6, 8) != 0 || (memcmp(ip + 32, "\0\0\0\0\0\0\0", 7) == 0 &&
					       ip[39] == NET6_DNS))
		return NET_PASS;
	if (ip[6] == IP_ICMPV6)
		return NET_PASS;	/* neighbour discovery, ping: libslirp answers */
	/* Extension headers are not followed: to the host, only plain TCP/UDP. */
	return policy__l4(p, ip[6], ip + 40, len - 40, 0) == NET_PASS ? NET_PASS : NET_DROP;
}

enum net_verdict net_policy__check(const struct net_policy *p, const uint8_t *frame, size_t len)
{
	if (p->allow_host_loopback || len < ETH_HLEN)
		return NET_PASS;
	switch (be16(frame + 12)) {
	case ETH_IPV4:
		return policy__ipv4(p, frame + ETH_HLEN, len - ETH_HLEN);
	case ETH_IPV6:
		return policy__ipv6(p, frame + ETH_HLEN, len - ETH_HLEN);
	default:
		return NET_PASS;	/* ARP and the rest stay inside libslirp */
	}
}

/* The Internet checksum of len bytes. */
static uint16_t policy__csum(const uint8_t *b, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += be16(b + i);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t net_policy__refusal(const uint8_t *frame, size_t len, uint8_t *out, size_t cap)
{
	const uint8_t *ip = frame + ETH_HLEN;
	size_t ihl, quoted, total;
	uint8_t *rip, *icmp;

	if (len < ETH_HLEN + 20 || be16(frame + 12) != ETH_IPV4)
		return 0;
	ihl = (size_t)(ip[0] & 15) * 4;
	if (ihl < 20 || ETH_HLEN + ihl > len)
		return 0;
	/* The offending header and the first 8 bytes after it (RFC 792). */
	quoted = ihl + (len - ETH_HLEN - ihl < 8 ? len - ETH_HLEN - ihl : 8);
	total = 20 + 8 + quoted;
	if (cap < ETH_HLEN + total)
		return 0;
	memcpy(out, frame + 6, 6);		/* back to the sender */
	memcpy(out + 6, frame, 6);		/* from whom it was sent to */
	put16(out + 12, ETH_IPV4);
	rip = out + ETH_HLEN;
	memset(rip, 0, 28);
	rip[0] = 0x45;
	put16(rip + 2, (uint16_t)total);
	rip[8] = 64;				/* TTL */
	rip[9] = 1;				/* ICMP */
	memcpy(rip + 12, ip + 16, 4);		/* from the refused address */
	memcpy(rip + 16, ip + 12, 4);
	put16(rip + 10, policy__csum(rip, 20));
	icmp = rip + 20;
	icmp[0] = 3;				/* destination unreachable */
	icmp[1] = 13;				/* communication administratively prohibited */
	memcpy(icmp + 8, ip, quoted);
	put16(icmp + 2, policy__csum(icmp, 8 + quoted));
	return ETH_HLEN + total;
}
