/* SPDX-License-Identifier: MIT */
/*
 * The host-loopback rule, enforced on the guest's frames before libslirp
 * sees them. libslirp maps every address of 10.0.2.0/24 but the DNS
 * forwarder (and fec0::/64 likewise) to the host's loopback; its own
 * switch for refusing that (disable_host_loopback) also drops the replies
 * to UDP ports published from a loopback client, whose source it shows
 * the guest as 10.0.2.2. So libslirp keeps the loopback open and this
 * filter closes it, flow by flow:
 *
 *   TCP   a connection the guest opens (SYN without ACK) is refused with
 *         ICMP "administratively prohibited"; segments of connections the
 *         host opened through a published port pass
 *   UDP   refused, except replies from a published UDP port and DHCP to
 *         the gateway (libslirp answers it itself)
 *   other to those addresses: dropped (ICMPv6, which libslirp answers
 *         itself for neighbour discovery and ping, passes)
 *
 * With allow_host_loopback everything passes.
 */
#ifndef PUPA_VMM_NET_POLICY_H
#define PUPA_VMM_NET_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "publish.h"

struct net_policy {
	int allow_host_loopback;
	uint16_t udp_ports[PUBLISH_MAX];	/* published UDP ports in the guest */
	unsigned int nr_udp_ports;
};

enum net_verdict {
	NET_PASS,	/* to libslirp */
	NET_DROP,	/* silently */
	NET_REFUSE,	/* dropped, and the guest told (net_policy__refusal) */
};

enum net_verdict net_policy__check(const struct net_policy *p, const uint8_t *frame, size_t len);

/*
 * The ICMP "communication administratively prohibited" a refused IPv4
 * frame gets, from the address it was sent to, in out (at least 14 + 20 +
 * 8 + 60 + 8 bytes). Its length, or 0 when the frame cannot have one.
 */
size_t net_policy__refusal(const uint8_t *frame, size_t len, uint8_t *out, size_t cap);

#define NET_REFUSAL_MAX	(14 + 20 + 8 + 60 + 8)

#endif
