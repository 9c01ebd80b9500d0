/* SPDX-License-Identifier: MIT */
/*
 * A container's network as the user asks for it: --network slirp (the
 * default) or none, -p, --dns, --add-host. Turned into pupa-vmm's flags
 * (--net, --publish) and into the START message's network fields, which
 * pupa-init applies in the container's own namespace.
 *
 * The VM always gets the network device, so every start has the same
 * devices; with --network none pupa-init leaves eth0 outside the
 * container, which sees only lo.
 */
#ifndef PUPA_NETWORK_H
#define PUPA_NETWORK_H

#include "agent_proto.h"
#include "error.h"
#include "publish.h"

enum net_mode { NET_MODE_SLIRP, NET_MODE_NONE };

struct net_opts {
	enum net_mode mode;
	int allow_host_loopback;
	struct port_publish publish[PUBLISH_MAX];
	unsigned int nr_publish;
	const char *dns[AGENT_MAX_DNS];
	unsigned int nr_dns;
	char *hosts[AGENT_MAX_HOSTS];		/* "NAME:IP", IP resolved */
	unsigned int nr_hosts;
};

/* The guest's side of slirp (pupa-vmm's net/slirp.h says the same). */
#define NET_GUEST_ADDRESS	"10.0.2.15/24"
#define NET_GATEWAY		"10.0.2.2"
#define NET_DNS			"10.0.2.3"
#define NET_MTU			1500

/* One flag each; BadConfig naming the flag and value on a mistake. */
int net_opt_network(struct net_opts *n, const char *arg, struct pupa_err *err);
int net_opt_publish(struct net_opts *n, const char *arg, struct pupa_err *err);
int net_opt_dns(struct net_opts *n, const char *arg, struct pupa_err *err);
int net_opt_add_host(struct net_opts *n, const char *arg, struct pupa_err *err);

/* After all flags: the combinations that cannot work. */
int net_opts_check(const struct net_opts *n, struct pupa_err *err);

void net_opts_free(struct net_opts *n);

/* pupa-vmm's flags, appended at argv[*argc]; text holds their values
 * (PUBLISH_MAX + 1 entries). Adds at most 2 + 2 * PUBLISH_MAX. */
void net_opts_vmm_args(const struct net_opts *n, const char **argv, int *argc,
		       char (*text)[PUBLISH_TEXT_MAX + 32]);

#endif
