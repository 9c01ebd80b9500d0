/*
 * The main thread's epoll loop: signals, the stop event, terminal input,
 * the control socket and vsock's host sockets. Handlers live in the
 * objects they serve; epoll carries a pointer to them.
 */
#ifndef PUPA_VMM_EVENT_LOOP_H
#define PUPA_VMM_EVENT_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct ev_handler;
typedef void (*ev_fn)(struct ev_handler *h, uint32_t events);

struct ev_handler {
	int fd;
	ev_fn fn;
	void *ctx;
	uint32_t events;	/* what is registered now */
};

struct event_loop {
	int epfd;
};

int ev_loop__init(struct event_loop *loop);
void ev_loop__destroy(struct event_loop *loop);

/* Register, change or remove a handler; -errno on failure. */
int ev_loop__add(struct event_loop *loop, struct ev_handler *h, uint32_t events);
int ev_loop__mod(struct event_loop *loop, struct ev_handler *h, uint32_t events);
void ev_loop__del(struct event_loop *loop, struct ev_handler *h);

/* Wait up to timeout_ms and dispatch; -errno on failure (EINTR is not one). */
int ev_loop__run_once(struct event_loop *loop, int timeout_ms);

#endif
