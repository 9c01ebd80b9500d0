/* SPDX-License-Identifier: MIT */
/*
 * The rule for what the guest may open, enforced on its frames before
 * libslirp sees them. libslirp maps every address of 10.0.2.0/24 but the
 * DNS forwarder (and fec0::/64 likewise) to the host's loopback, and
 * connect()s to any other address as given, so 127.0.0.1 or an address
 * of the host's own reaches the host's local services too. Its own
 * switch (disable_host_loopback) covers only the first, and also drops
 * the replies to UDP ports published from a loopback client, whose source
 * it shows the guest as 10.0.2.2. So libslirp keeps everything open and
 * this filter closes what is not the outside world:
 *
 *   slirp's own  10.0.2.0/24 and fec0::/64 but the DNS forwarder
 *                (.3), the host's loopback: closed unless
 *                allow_host_loopback
 *   local        local to the network namespace pupa-vmm runs in:
 *                127/8, 0/8, 169.254/16 (link-local: a cloud machine's
 *                metadata service), ::1, ::, fe80::/10, the v4-mapped
 *                and v4-compatible forms of IPv4 ones, and whatever the
 *                kernel routes as local when the frame comes (the
 *                namespace's own interface addresses: net_local_fn, asked
 *                only for what would otherwise be refused or dropped);
 *                closed always, allow_host_loopback or not
 *   the rest     passes (an allow-list: only what is neither passes)
 *
 * To a closed destination:
 *
 *   TCP   a connection the guest opens (SYN without ACK) is refused with
 *         a reset, so the client says "Connection refused" at once;
 *         segments of connections the host opened through a published
 *         port pass
 *   UDP   refused (ICMP "administratively prohibited"), except DHCP to
 *         the gateway (libslirp answers it itself) and a datagram from a
 *         published UDP port to a peer that sent to that port within
 *         NET_UDP_PEER_MS (net_policy__learn), the reply of -p .../udp
 *   other dropped (ICMPv6 to slirp's own, which libslirp answers itself
 *         for neighbour discovery and ping, passes)
 */
#ifndef PUPA_VMM_NET_POLICY_H
#define PUPA_VMM_NET_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "publish.h"

#define NET_UDP_PEERS	64	/* remembered peers of published UDP ports */
#define NET_UDP_PEER_MS	60000	/* how long one stays after it last sent */

/*
 * Whether addr (4 bytes for AF_INET, 16 for AF_INET6) is local to the
 * network namespace: 1, or 0 when it is not (net_local_judge).
 */
typedef int net_local_fn(void *ctx, int family, const uint8_t *addr);

struct net_udp_peer {
	uint8_t addr[16];	/* as the guest sees it; IPv4 as ::ffff:a.b.c.d */
	uint16_t port;
	uint16_t guest_port;	/* the published port it sent to */
	int64_t until_ms;	/* 0: a free slot */
};

struct net_policy {
	int allow_host_loopback;
	uint16_t udp_ports[PUBLISH_MAX];	/* published UDP ports in the guest */
	unsigned int nr_udp_ports;
	net_local_fn *is_local;		/* NULL: only the fixed local forms */
	void *local_ctx;
	struct net_udp_peer peers[NET_UDP_PEERS];
};

enum net_verdict {
	NET_PASS,	/* to libslirp */
	NET_DROP,	/* silently */
	NET_REFUSE,	/* dropped, and the guest told (net_policy__refusal) */
};

/* A frame from the guest, at now_ms of a monotonic clock (or now). */
enum net_verdict net_policy__check_at(const struct net_policy *p, const uint8_t *frame,
				      size_t len, int64_t now_ms);
enum net_verdict net_policy__check(const struct net_policy *p, const uint8_t *frame, size_t len);

/* A frame libslirp sends the guest: a datagram to a published UDP port
 * makes its sender a peer the guest may answer. */
void net_policy__learn_at(struct net_policy *p, const uint8_t *frame, size_t len,
			  int64_t now_ms);
void net_policy__learn(struct net_policy *p, const uint8_t *frame, size_t len);

/*
 * The answer to a refused frame, from the address it was sent to, in out:
 * a TCP reset to a SYN, else ICMP (ICMPv6) "communication administratively
 * prohibited". Its length, or 0 when the frame cannot have one or cap
 * (at least NET_REFUSAL_MAX) is too small.
 */
size_t net_policy__refusal(const uint8_t *frame, size_t len, uint8_t *out, size_t cap);

#define NET_REFUSAL_MAX	(14 + 20 + 8 + 60 + 8)

#endif
