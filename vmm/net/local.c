/* SPDX-License-Identifier: MIT */
#include "local.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOCAL_REPLY_MAX	1024	/* a route reply is some 100 bytes */

struct local_request {
	struct nlmsghdr nh;
	struct rtmsg rt;
	struct rtattr dst;
	uint8_t addr[16];
};

int net_local_open(struct net_local *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	nl->seq = 0;
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (nl->fd < 0)
		return -errno;
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int ret = -errno;

		net_local_close(nl);
		return ret;
	}
	return 0;
}

void net_local_close(struct net_local *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
}

/* An answer of the kernel's to our question seq: 1 local, 0 not, -1 unclear. */
static int local__reply(const uint8_t *buf, size_t len, uint32_t seq)
{
	const struct nlmsghdr *nh = (const struct nlmsghdr *)buf;
	const struct rtmsg *rt;
	int error;

	if (len < sizeof(*nh) || nh->nlmsg_len > len || nh->nlmsg_seq != seq)
		return -1;
	if (nh->nlmsg_type == NLMSG_ERROR && nh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
		memcpy(&error, NLMSG_DATA(nh), sizeof(error));
		/* No route, or one that refuses: nothing there to reach. */
		return error == -ENETUNREACH || error == -EHOSTUNREACH || error == -EACCES ? 0 : -1;
	}
	if (nh->nlmsg_type != RTM_NEWROUTE || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
		return -1;
	rt = NLMSG_DATA(nh);
	return rt->rtm_type == RTN_LOCAL || rt->rtm_type == RTN_ANYCAST;
}

int net_local_judge(void *ctx, int family, const uint8_t *addr)
{
	struct net_local *nl = ctx;
	size_t alen = family == AF_INET ? 4 : 16;
	struct local_request req;
	_Alignas(struct nlmsghdr) uint8_t buf[LOCAL_REPLY_MAX];
	ssize_t n;
	int v;

	if (!nl || nl->fd < 0 || (family != AF_INET && family != AF_INET6))
		return 1;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(req.rt) + RTA_LENGTH(alen));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = ++nl->seq;
	req.rt.rtm_family = (unsigned char)family;
	req.rt.rtm_dst_len = (unsigned char)(alen * 8);
	req.dst.rta_type = RTA_DST;
	req.dst.rta_len = (unsigned short)RTA_LENGTH(alen);
	memcpy(req.addr, addr, alen);
	if (send(nl->fd, &req, req.nh.nlmsg_len, 0) != (ssize_t)req.nh.nlmsg_len)
		return 1;
	/* The kernel answers within send(); older answers (of a question
	 * that timed out) are skipped by their sequence number. */
	do {
		n = recv(nl->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return 1;
		v = local__reply(buf, (size_t)n, nl->seq);
	} while (v < 0 && n >= (ssize_t)sizeof(struct nlmsghdr) &&
		 ((struct nlmsghdr *)buf)->nlmsg_seq != nl->seq);
	return v != 0;
}
