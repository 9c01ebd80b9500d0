/* SPDX-License-Identifier: MIT */
/*
 * Which destinations are local to the network namespace pupa-vmm runs in:
 * the kernel is asked, per question, for the route it would take to the
 * address (rtnetlink RTM_GETROUTE), and an address whose route is of type
 * local (an address of any interface, 127/8, an AnyIP range) or anycast is
 * local. Asking the kernel at the time of the connection, not reading a
 * list at start, follows interfaces that come and go while a container
 * runs and any namespace pupa-vmm is started in (an engine's). One round
 * trip on a socket opened at start: no file, no new descriptor later.
 *
 * Whatever the kernel does not answer clearly counts as local, so a
 * failing judge refuses rather than lets through.
 */
#ifndef PUPA_VMM_NET_LOCAL_H
#define PUPA_VMM_NET_LOCAL_H

#include <stdint.h>

struct net_local {
	int fd;			/* NETLINK_ROUTE, -1: not open */
	uint32_t seq;
};

/* Open the socket; 0 or a negative errno. */
int net_local_open(struct net_local *nl);
void net_local_close(struct net_local *nl);

/*
 * 1 when addr (4 bytes for AF_INET, 16 for AF_INET6) is local to the
 * namespace or the kernel's answer is unclear, 0 when it is not. A
 * net_local_fn for struct net_policy.
 */
int net_local_judge(void *nl, int family, const uint8_t *addr);

#endif
