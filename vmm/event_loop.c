#include "event_loop.h"

#include <errno.h>
#include <unistd.h>

#define EV_BATCH 32

int ev_loop__init(struct event_loop *loop)
{
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

void ev_loop__destroy(struct event_loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

int ev_loop__add(struct event_loop *loop, struct ev_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0)
		return -errno;
	h->events = events;
	return 0;
}

int ev_loop__mod(struct event_loop *loop, struct ev_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (h->events == events)
		return 0;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, h->fd, &ev) < 0)
		return -errno;
	h->events = events;
	return 0;
}

void ev_loop__del(struct event_loop *loop, struct ev_handler *h)
{
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->events = 0;
}

int ev_loop__run_once(struct event_loop *loop, int timeout_ms)
{
	struct epoll_event evs[EV_BATCH];
	int n = epoll_wait(loop->epfd, evs, EV_BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct ev_handler *h = evs[i].data.ptr;

		h->fn(h, evs[i].events);
	}
	return n;
}
