/* SPDX-License-Identifier: MIT */
#include "slirp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libslirp.h>

#include "../virtio/net.h"
#include "local.h"
#include "policy.h"

#define NET_SLIRP_WARN_MAX	5	/* guest errors printed per VM */

struct slirp_timer {
	SlirpTimerCb cb;
	void *opaque;
	int64_t expire_ms;		/* -1: not armed */
	struct slirp_timer *next;
};

struct net_slirp {
	Slirp *slirp;
	struct virtio_net *net;
	struct event_loop *loop;
	struct ev_poll_source source;
	struct slirp_timer *timers;
	unsigned int warnings;
	struct net_policy policy;	/* what the guest may open */
	struct net_local local;		/* its judge of the namespace's own addresses */
};

static int64_t net_slirp__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- libslirp's callbacks ------------------------------------------------------------ */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_slirp *ns = opaque;

	net_policy__learn(&ns->policy, buf, len);
	virtio_net__receive(ns->net, buf, len);
	return (ssize_t)len;
}

/* The guest sent something libslirp refuses; say so, but not forever. */
static void cb_guest_error(const char *msg, void *opaque)
{
	struct net_slirp *ns = opaque;

	if (ns->warnings++ < NET_SLIRP_WARN_MAX)
		fprintf(stderr, "pupa-vmm: net: the guest sent a bad packet: %s%s\n", msg,
			ns->warnings == NET_SLIRP_WARN_MAX ? " (further ones not shown)" : "");
}

static int64_t cb_clock_get_ns(void *opaque)
{
	return net_slirp__now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct net_slirp *ns = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cb = cb;
	t->opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = ns->timers;
	ns->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct net_slirp *ns = opaque;

	for (struct slirp_timer **p = &ns->timers; *p; p = &(*p)->next) {
		if (*p == timer) {
			*p = ((struct slirp_timer *)timer)->next;
			free(timer);
			return;
		}
	}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	if (timer)
		((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

/* Descriptors are handed over before every wait; nothing to keep. */
static void cb_register_poll_fd(int fd, void *opaque) { }
static void cb_unregister_poll_fd(int fd, void *opaque) { }

/* libslirp runs on the main thread only, which polls it every round. */
static void cb_notify(void *opaque) { }

static const SlirpCb net_slirp_callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
};

/* --- the poll source ----------------------------------------------------------------- */

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct event_loop *loop = opaque;
	short ev = 0;

	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	return ev_loop__poll_add(loop, fd, ev);
}

static int cb_get_revents(int idx, void *opaque)
{
	short rev = ev_loop__poll_revents(opaque, idx);
	int events = 0;

	if (rev & POLLIN)
		events |= SLIRP_POLL_IN;
	if (rev & POLLOUT)
		events |= SLIRP_POLL_OUT;
	if (rev & POLLPRI)
		events |= SLIRP_POLL_PRI;
	if (rev & POLLERR)
		events |= SLIRP_POLL_ERR;
	if (rev & POLLHUP)
		events |= SLIRP_POLL_HUP;
	return events;
}

static void net_slirp__prepare(void *ctx, struct event_loop *loop, int *timeout_ms)
{
	struct net_slirp *ns = ctx;
	int64_t now_ms = net_slirp__now_ns() / 1000000;
	uint32_t t = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;

	slirp_pollfds_fill(ns->slirp, &t, cb_add_poll, loop);
	for (struct slirp_timer *tm = ns->timers; tm; tm = tm->next) {
		if (tm->expire_ms < 0)
			continue;
		if (tm->expire_ms <= now_ms)
			t = 0;
		else if ((uint64_t)(tm->expire_ms - now_ms) < t)
			t = (uint32_t)(tm->expire_ms - now_ms);
	}
	*timeout_ms = t > INT32_MAX ? -1 : (int)t;
}

static void net_slirp__run_timers(struct net_slirp *ns)
{
	int64_t now_ms = net_slirp__now_ns() / 1000000;
	int fired;

	/* A callback may free or re-arm timers: start over after each. */
	do {
		fired = 0;
		for (struct slirp_timer *tm = ns->timers; tm; tm = tm->next) {
			if (tm->expire_ms >= 0 && tm->expire_ms <= now_ms) {
				tm->expire_ms = -1;
				tm->cb(tm->opaque);
				fired = 1;
				break;
			}
		}
	} while (fired);
}

static void net_slirp__dispatch(void *ctx, struct event_loop *loop, int error)
{
	struct net_slirp *ns = ctx;

	slirp_pollfds_poll(ns->slirp, error, cb_get_revents, loop);
	net_slirp__run_timers(ns);
}

/* --- set-up ---------------------------------------------------------------------------- */

void net_slirp__input(void *ctx, const uint8_t *frame, size_t len)
{
	struct net_slirp *ns = ctx;
	uint8_t answer[NET_REFUSAL_MAX];
	size_t n;

	switch (net_policy__check(&ns->policy, frame, len)) {
	case NET_PASS:
		slirp_input(ns->slirp, frame, (int)len);
		return;
	case NET_REFUSE:
		n = net_policy__refusal(frame, len, answer, sizeof(answer));
		if (n)
			virtio_net__receive(ns->net, answer, n);
		return;
	case NET_DROP:
		return;
	}
}

static int net_slirp__publish(struct net_slirp *ns, const struct port_publish *p,
			      struct pupa_err *err)
{
	struct in_addr guest;
	char text[PUBLISH_TEXT_MAX], ip[INET_ADDRSTRLEN];

	inet_pton(AF_INET, NET_SLIRP_GUEST, &guest);
	errno = 0;
	if (slirp_add_hostfwd(ns->slirp, p->udp, p->host_addr, p->host_port, guest,
			      p->guest_port) == 0)
		return 0;
	publish_format(p, text, sizeof(text));
	inet_ntop(AF_INET, &p->host_addr, ip, sizeof(ip));
	return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION,
			 "publishing %s: cannot listen on %s:%u (%s): %s", text, ip, p->host_port,
			 p->udp ? "UDP" : "TCP",
			 errno == EADDRINUSE ? "the port is in use; pick another host port" :
			 errno ? strerror(errno) : "refused by libslirp");
}

static void net_slirp__config(SlirpConfig *c, const struct net_slirp_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->version = 4;
	c->restricted = cfg->restricted;
	c->in_enabled = true;
	inet_pton(AF_INET, "10.0.2.0", &c->vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &c->vnetmask);
	inet_pton(AF_INET, NET_SLIRP_GATEWAY, &c->vhost);
	inet_pton(AF_INET, NET_SLIRP_GUEST, &c->vdhcp_start);
	inet_pton(AF_INET, NET_SLIRP_DNS, &c->vnameserver);
	c->in6_enabled = true;
	inet_pton(AF_INET6, "fec0::", &c->vprefix_addr6);
	c->vprefix_len = 64;
	inet_pton(AF_INET6, "fec0::2", &c->vhost6);
	inet_pton(AF_INET6, "fec0::3", &c->vnameserver6);
	c->if_mtu = NET_SLIRP_MTU;
	c->if_mru = NET_SLIRP_MTU;
	/* policy.c keeps the guest off the host's loopback: libslirp's own
	 * switch would also block replies to published UDP ports. */
	c->disable_host_loopback = false;
}

int net_slirp__new(struct net_slirp **out, const struct net_slirp_config *cfg,
		   struct virtio_net *net, struct event_loop *loop, struct pupa_err *err)
{
	struct net_slirp *ns = calloc(1, sizeof(*ns));
	SlirpConfig sc;
	int ret = 0;

	*out = ns;
	if (!ns)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	ns->net = net;
	ns->loop = loop;
	ns->local.fd = -1;
	ret = net_local_open(&ns->local);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION,
				 "net: a netlink socket to ask which addresses are local: %s",
				 strerror(-ret));
	ns->policy.is_local = net_local_judge;
	ns->policy.local_ctx = &ns->local;
	ns->policy.allow_host_loopback = cfg->allow_host_loopback;
	for (unsigned int i = 0; i < cfg->nr_publish && i < PUBLISH_MAX; i++)
		if (cfg->publish[i].udp)
			ns->policy.udp_ports[ns->policy.nr_udp_ports++] = cfg->publish[i].guest_port;
	net_slirp__config(&sc, cfg);
	ns->slirp = slirp_new(&sc, &net_slirp_callbacks, ns);
	if (!ns->slirp)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION,
				 "libslirp %s would not start", slirp_version_string());
	for (unsigned int i = 0; !ret && i < cfg->nr_publish; i++)
		ret = net_slirp__publish(ns, &cfg->publish[i], err);
	if (ret < 0)
		return ret;
	ns->source = (struct ev_poll_source){ net_slirp__prepare, net_slirp__dispatch, ns };
	ev_loop__set_source(loop, &ns->source);
	return 0;
}

void net_slirp__free(struct net_slirp *ns)
{
	if (!ns)
		return;
	if (ns->loop && ns->loop->source == &ns->source)
		ev_loop__set_source(ns->loop, NULL);
	if (ns->slirp)
		slirp_cleanup(ns->slirp);
	net_local_close(&ns->local);
	while (ns->timers) {
		struct slirp_timer *t = ns->timers;

		ns->timers = t->next;
		free(t);
	}
	free(ns);
}
