/* SPDX-License-Identifier: MIT */
/*
 * The user-mode network behind virtio-net: libslirp, run on the main
 * thread as a poll source of the event loop. The guest's connections
 * become the user's own sockets; nothing needs root.
 *
 *   10.0.2.0/24   guest 10.0.2.15, gateway 10.0.2.2, DNS 10.0.2.3
 *                 (forwarded to the host's resolvers from /etc/resolv.conf)
 *   fec0::/64     the same for IPv6, by router advertisement
 *
 * 10.0.2.2 reaches the host's loopback only with allow_host_loopback
 * (Podman's rule and spelling): a container does not see the user's local
 * services unless asked, and never through the addresses local to the
 * network namespace pupa-vmm runs in (policy.h enforces both, local.h asks
 * the kernel). Published ports (hostfwd) listen on the host address given
 * and forward to the guest's 10.0.2.15.
 */
#ifndef PUPA_VMM_NET_SLIRP_H
#define PUPA_VMM_NET_SLIRP_H

#include <stdint.h>

#include "event_loop.h"
#include "error.h"
#include "publish.h"

#define NET_SLIRP_GUEST		"10.0.2.15"
#define NET_SLIRP_GATEWAY	"10.0.2.2"
#define NET_SLIRP_DNS		"10.0.2.3"
#define NET_SLIRP_MTU		1500

struct net_slirp;
struct virtio_net;

struct net_slirp_config {
	int allow_host_loopback;
	int restricted;		/* no host sockets for the guest (the fuzz target) */
	const struct port_publish *publish;
	unsigned int nr_publish;
};

/*
 * Start the network and listen on every published port. A port that
 * cannot be listened on fails with DeviceInitialization naming it.
 * Frames for the guest go to virtio_net__receive(net).
 */
int net_slirp__new(struct net_slirp **out, const struct net_slirp_config *cfg,
		   struct virtio_net *net, struct event_loop *loop, struct pupa_err *err);
void net_slirp__free(struct net_slirp *ns);

/* virtio-net's tx function: a frame from the guest. */
void net_slirp__input(void *ns, const uint8_t *frame, size_t len);

#endif
