/* SPDX-License-Identifier: MIT */
/*
 * The container's network namespace, inherited by the container:
 * pupa-init makes it at boot (net_prepare) with lo up and eth0 moved in,
 * down, so that it is in the snapshot and a resumed start does not pay
 * for it; on START pupa-init moves itself in (its own link to the host is
 * vsock, which namespaces do not touch) and gives eth0 the address, MTU
 * and default route the START message names, or, with no network, sends
 * eth0 back out. Plain rtnetlink; no DHCP, so the same booted guest
 * serves any setting.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"

#define NL_BUF 512

struct nl_req {
	struct nlmsghdr h;
	char body[NL_BUF];
};

static int nl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *nl_begin(struct nl_req *r, uint16_t type, uint16_t flags, size_t fixed)
{
	memset(r, 0, sizeof(*r));
	r->h.nlmsg_len = NLMSG_LENGTH(fixed);
	r->h.nlmsg_type = type;
	r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	return NLMSG_DATA(&r->h);
}

static void nl_attr(struct nl_req *r, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Send one request and wait for its acknowledgement: 0 or -errno. */
static int nl_talk(int fd, struct nl_req *r)
{
	static uint32_t seq;
	char buf[4096];
	ssize_t n;

	r->h.nlmsg_seq = ++seq;
	if (send(fd, r, r->h.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return errno == EINTR ? -EINTR : -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != r->h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
		}
	}
}

static int link_up(int fd, int index, unsigned int mtu)
{
	struct nl_req r;
	struct ifinfomsg *ifi = nl_begin(&r, RTM_NEWLINK, 0, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (mtu)
		nl_attr(&r, IFLA_MTU, &mtu, sizeof(mtu));
	return nl_talk(fd, &r);
}

/* Into the namespace ns_fd names; fd is a socket in the one it is in. */
static int link_move(int fd, int index, int ns_fd)
{
	struct nl_req r;
	struct ifinfomsg *ifi = nl_begin(&r, RTM_NEWLINK, 0, sizeof(*ifi));
	uint32_t ns = (uint32_t)ns_fd;

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	nl_attr(&r, IFLA_NET_NS_FD, &ns, sizeof(ns));
	return nl_talk(fd, &r);
}

static int addr_add(int fd, int index, struct in_addr addr, unsigned int prefix)
{
	struct nl_req r;
	struct ifaddrmsg *ifa = nl_begin(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa));

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_index = (unsigned int)index;
	nl_attr(&r, IFA_LOCAL, &addr, sizeof(addr));
	nl_attr(&r, IFA_ADDRESS, &addr, sizeof(addr));
	return nl_talk(fd, &r);
}

static int route_default(int fd, int index, struct in_addr gw)
{
	struct nl_req r;
	struct rtmsg *rt = nl_begin(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(*rt));
	uint32_t oif = (uint32_t)index;

	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	nl_attr(&r, RTA_GATEWAY, &gw, sizeof(gw));
	nl_attr(&r, RTA_OIF, &oif, sizeof(oif));
	return nl_talk(fd, &r);
}

/* "A.B.C.D/N" */
static int parse_cidr(const char *s, struct in_addr *addr, unsigned int *prefix)
{
	char buf[32], *slash, *end;
	unsigned long p;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	p = strtoul(slash + 1, &end, 10);
	if (*end || end == slash + 1 || p > 32 || inet_pton(AF_INET, buf, addr) != 1)
		return -1;
	*prefix = (unsigned int)p;
	return 0;
}

/* eth0 in the new namespace: up, addressed, routed. */
static int net_configure_eth0(int fd, const struct net_settings *n, char *err, size_t len)
{
	struct in_addr addr, gw;
	unsigned int prefix;
	int index = (int)if_nametoindex("eth0"), ret;

	if (parse_cidr(n->address, &addr, &prefix) < 0 || inet_pton(AF_INET, n->gateway, &gw) != 1) {
		snprintf(err, len, "network: bad address '%s' or gateway '%s'", n->address, n->gateway);
		return -1;
	}
	if (!index) {
		snprintf(err, len, "network: eth0 did not arrive in the container's namespace");
		return -1;
	}
	ret = link_up(fd, index, n->mtu);
	if (!ret)
		ret = addr_add(fd, index, addr, prefix);
	if (!ret)
		ret = route_default(fd, index, gw);
	if (ret) {
		snprintf(err, len, "network: configuring eth0 as %s via %s: %s", n->address, n->gateway,
			 strerror(-ret));
		return -1;
	}
	return 0;
}

/* The boot namespace (eth0's at boot) and the container's, once made. */
static int boot_ns = -1, container_ns = -1;

static void net__unmake(void)
{
	if (container_ns >= 0)
		close(container_ns);
	if (boot_ns >= 0)
		close(boot_ns);
	container_ns = boot_ns = -1;
}

/*
 * The container's namespace: lo up, and eth0 (when the VM has one) moved
 * in from the boot namespace, still down. pupa-init stays in the boot
 * namespace. -1 with err when it cannot be made; -2 when pupa-init
 * cannot get back out (then nothing else can be trusted to work).
 */
static int net__make(char *err, size_t len)
{
	int boot_nl = -1, fd = -1, eth0, ret = -1;

	boot_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	boot_nl = nl_open();
	eth0 = (int)if_nametoindex("eth0");
	if (boot_ns < 0 || boot_nl < 0 || unshare(CLONE_NEWNET) < 0) {
		snprintf(err, len, "network: a namespace of its own: %s", strerror(errno));
		goto out;
	}
	container_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	fd = nl_open();
	if (container_ns < 0 || fd < 0 || link_up(fd, (int)if_nametoindex("lo"), 0) != 0) {
		snprintf(err, len, "network: bringing lo up failed");
	} else if (eth0 && (ret = link_move(boot_nl, eth0, container_ns)) != 0) {
		snprintf(err, len, "network: moving eth0 into the container: %s", strerror(-ret));
		ret = -1;
	} else {
		ret = 0;
	}
	if (setns(boot_ns, CLONE_NEWNET) < 0) {
		snprintf(err, len, "network: back to the boot namespace: %s", strerror(errno));
		ret = -2;
	}
out:
	if (ret)
		net__unmake();
	if (boot_nl >= 0)
		close(boot_nl);
	if (fd >= 0)
		close(fd);
	return ret;
}

/*
 * Made at boot, so that it is in the snapshot: making a namespace is tens
 * of milliseconds of kernel work (per-namespace tables of every protocol;
 * 60-130 ms of a resumed start's Starting in the test host) and moving a
 * device waits for RCU. Nothing in it is per run: eth0 gets its address
 * only on START, and the namespace's one random seed at creation (its
 * socket hash mix) is like the boot namespace's; the secrets that matter
 * (TCP sequence numbers, ephemeral ports, IP IDs) are drawn on first use,
 * after the host's fresh entropy. When it cannot be made now, net_enter
 * tries again and says why it fails. -1 only when pupa-init is stuck.
 */
int net_prepare(void)
{
	char err[256];

	return net__make(err, sizeof(err)) == -2 ? -1 : 0;
}

/*
 * eth0 cannot arrive after boot (virtio-mmio devices are probed before
 * init runs, and pupa-vmm adds none later), so the namespace net_prepare
 * made holds the only eth0 there will be.
 */
int net_enter(const struct net_settings *n, char *err, size_t len)
{
	int fd = -1, eth0, ret = -1;

	if (container_ns < 0 && net__make(err, len) < 0)
		return -1;
	if (setns(container_ns, CLONE_NEWNET) < 0) {
		snprintf(err, len, "network: into the container's namespace: %s", strerror(errno));
		goto out;
	}
	fd = nl_open();
	eth0 = (int)if_nametoindex("eth0");
	if (fd < 0) {
		snprintf(err, len, "network: netlink: %s", strerror(errno));
	} else if (n->on && !eth0) {
		snprintf(err, len, "network: the VM has no eth0 (pupa-vmm without --net?)");
	} else if (n->on) {
		ret = net_configure_eth0(fd, n, err, len);
	} else if (eth0 && (ret = link_move(fd, eth0, boot_ns)) != 0) {
		/* No network asked for: the container gets no eth0. */
		snprintf(err, len, "network: moving eth0 out of the container: %s", strerror(-ret));
		ret = -1;
	} else {
		ret = 0;
	}
out:
	net__unmake();
	if (fd >= 0)
		close(fd);
	return ret;
}
