/* SPDX-License-Identifier: MIT */
/*
 * An epoll loop: pupa-vmm's main thread (signals, the stop event, terminal
 * input, the control socket and vsock's host sockets) and pupa's stdio
 * relay (container/agent_link.c). Handlers live in the objects they serve;
 * epoll carries a pointer to them. It depends on nothing but libc.
 *
 * A library that hands out its descriptors afresh before every wait
 * (libslirp) plugs in as a poll source instead: the loop then waits in
 * poll() on the epoll descriptor plus the source's descriptors.
 */
#ifndef PUPA_EVENT_LOOP_H
#define PUPA_EVENT_LOOP_H

#include <stdint.h>
#include <poll.h>
#include <sys/epoll.h>

struct ev_handler;
typedef void (*ev_fn)(struct ev_handler *h, uint32_t events);

struct ev_handler {
	int fd;
	ev_fn fn;
	void *ctx;
	uint32_t events;	/* what is registered now */
};

struct event_loop;

struct ev_poll_source {
	/* Before a wait: add descriptors with ev_loop__poll_add(), lower
	 * *timeout_ms (-1: none) to the source's next deadline. */
	void (*prepare)(void *ctx, struct event_loop *loop, int *timeout_ms);
	/* After it: read ev_loop__poll_revents(); error when poll() failed. */
	void (*dispatch)(void *ctx, struct event_loop *loop, int error);
	void *ctx;
};

struct event_loop {
	int epfd;
	const struct ev_poll_source *source;
	struct pollfd *pfds;		/* [0] is epfd; then the source's */
	unsigned int nr_pfds, max_pfds;
};

int ev_loop__init(struct event_loop *loop);
void ev_loop__destroy(struct event_loop *loop);

/* Register, change or remove a handler; -errno on failure. */
int ev_loop__add(struct event_loop *loop, struct ev_handler *h, uint32_t events);
int ev_loop__mod(struct event_loop *loop, struct ev_handler *h, uint32_t events);
void ev_loop__del(struct event_loop *loop, struct ev_handler *h);

/* Plug in the one poll source (NULL to remove it). */
void ev_loop__set_source(struct event_loop *loop, const struct ev_poll_source *src);

/* From prepare: watch fd for events (POLLIN...); its index, or -1. */
int ev_loop__poll_add(struct event_loop *loop, int fd, short events);

/* From dispatch: what happened on the descriptor at idx. */
short ev_loop__poll_revents(const struct event_loop *loop, int idx);

/* Wait up to timeout_ms and dispatch; -errno on failure (EINTR is not one). */
int ev_loop__run_once(struct event_loop *loop, int timeout_ms);

#endif
