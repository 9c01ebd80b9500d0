/* SPDX-License-Identifier: MIT */
#include "network.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_ALLOW_LOOPBACK "allow_host_loopback="

static int net__bad(struct pupa_err *err, const char *fmt, const char *a, const char *b)
{
	return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, fmt, a, b);
}

/* slirp | none | slirp:allow_host_loopback=true|false (Podman's spelling) */
int net_opt_network(struct net_opts *n, const char *arg, struct pupa_err *err)
{
	const char *opt;

	if (strcmp(arg, "none") == 0) {
		n->mode = NET_MODE_NONE;
		return 0;
	}
	if (strncmp(arg, "slirp", 5) != 0 || (arg[5] && arg[5] != ':'))
		return net__bad(err, "--network '%s': use slirp (the default), none, or "
				"slirp:allow_host_loopback=true%s", arg, "");
	n->mode = NET_MODE_SLIRP;
	if (!arg[5])
		return 0;
	opt = arg + 6;
	if (strncmp(opt, NET_ALLOW_LOOPBACK, strlen(NET_ALLOW_LOOPBACK)) != 0)
		return net__bad(err, "--network '%s': the one slirp option is %strue", arg,
				NET_ALLOW_LOOPBACK);
	opt += strlen(NET_ALLOW_LOOPBACK);
	if (strcmp(opt, "true") == 0)
		n->allow_host_loopback = 1;
	else if (strcmp(opt, "false") == 0)
		n->allow_host_loopback = 0;
	else
		return net__bad(err, "--network '%s': allow_host_loopback is true or false%s", arg, "");
	return 0;
}

int net_opt_publish(struct net_opts *n, const char *arg, struct pupa_err *err)
{
	char why[300];

	if (n->nr_publish == PUBLISH_MAX)
		return net__bad(err, "-p %s: more than %s published ports", arg, "32");
	if (publish_parse(arg, &n->publish[n->nr_publish], why, sizeof(why)) < 0)
		return net__bad(err, "-p %s%s", why, "");
	for (unsigned int i = 0; i < n->nr_publish; i++) {
		const struct port_publish *a = &n->publish[i], *b = &n->publish[n->nr_publish];

		if (a->udp == b->udp && a->host_port == b->host_port &&
		    a->host_addr.s_addr == b->host_addr.s_addr)
			return net__bad(err, "-p %s: that host port is published twice%s", arg, "");
	}
	n->nr_publish++;
	return 0;
}

static int net__is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int net_opt_dns(struct net_opts *n, const char *arg, struct pupa_err *err)
{
	if (!net__is_ip(arg))
		return net__bad(err, "--dns '%s': not an IP address%s", arg, "");
	if (n->nr_dns == AGENT_MAX_DNS)
		return net__bad(err, "--dns %s: at most %s servers (what resolvers read)", arg, "3");
	n->dns[n->nr_dns++] = arg;
	return 0;
}

/* NAME:IP as Docker takes it; IP may be host-gateway, the host as the
 * container reaches it (10.0.2.2). */
int net_opt_add_host(struct net_opts *n, const char *arg, struct pupa_err *err)
{
	const char *colon = strchr(arg, ':'), *ip;
	size_t name_len;
	char *entry;

	if (!colon || colon == arg)
		return net__bad(err, "--add-host '%s': expected NAME:IP%s", arg, "");
	name_len = (size_t)(colon - arg);
	ip = colon + 1;
	if (strcmp(ip, "host-gateway") == 0)
		ip = NET_GATEWAY;
	if (!net__is_ip(ip))
		return net__bad(err, "--add-host '%s': '%s' is not an IP address (or host-gateway)",
				arg, ip);
	if (strcspn(arg, " \t\n#") < name_len)
		return net__bad(err, "--add-host '%s': a name without spaces or '#'%s", arg, "");
	if (n->nr_hosts == AGENT_MAX_HOSTS)
		return net__bad(err, "--add-host %s: more than %s", arg, "64");
	if (asprintf(&entry, "%.*s:%s", (int)name_len, arg, ip) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	n->hosts[n->nr_hosts++] = entry;
	return 0;
}

int net_opts_check(const struct net_opts *n, struct pupa_err *err)
{
	if (n->mode != NET_MODE_NONE)
		return 0;
	if (n->nr_publish)
		return net__bad(err, "-p needs a network: --network none has none%s%s", "", "");
	if (n->nr_dns)
		return net__bad(err, "--dns needs a network: --network none has none%s%s", "", "");
	return 0;
}

void net_opts_free(struct net_opts *n)
{
	for (unsigned int i = 0; i < n->nr_hosts; i++)
		free(n->hosts[i]);
	n->nr_hosts = 0;
}

void net_opts_vmm_args(const struct net_opts *n, const char **argv, int *argc,
		       char (*text)[PUBLISH_TEXT_MAX + 32])
{
	snprintf(text[0], sizeof(text[0]), "slirp%s",
		 n->allow_host_loopback ? ",allow_host_loopback=true" : "");
	argv[(*argc)++] = "--net";
	argv[(*argc)++] = text[0];
	for (unsigned int i = 0; i < n->nr_publish; i++) {
		publish_format(&n->publish[i], text[i + 1], sizeof(text[i + 1]));
		argv[(*argc)++] = "--publish";
		argv[(*argc)++] = text[i + 1];
	}
}
