#include "event_loop.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define EV_BATCH 32

int ev_loop__init(struct event_loop *loop)
{
	loop->source = NULL;
	loop->pfds = NULL;
	loop->nr_pfds = loop->max_pfds = 0;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	return loop->epfd < 0 ? -errno : 0;
}

void ev_loop__destroy(struct event_loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
	free(loop->pfds);
	loop->pfds = NULL;
	loop->nr_pfds = loop->max_pfds = 0;
}

void ev_loop__set_source(struct event_loop *loop, const struct ev_poll_source *src)
{
	loop->source = src;
}

int ev_loop__poll_add(struct event_loop *loop, int fd, short events)
{
	if (loop->nr_pfds == loop->max_pfds) {
		unsigned int max = loop->max_pfds ? loop->max_pfds * 2 : 64;
		struct pollfd *p = realloc(loop->pfds, max * sizeof(*p));

		if (!p)
			return -1;
		loop->pfds = p;
		loop->max_pfds = max;
	}
	loop->pfds[loop->nr_pfds] = (struct pollfd){ .fd = fd, .events = events };
	return (int)loop->nr_pfds++;
}

short ev_loop__poll_revents(const struct event_loop *loop, int idx)
{
	if (idx < 1 || (unsigned int)idx >= loop->nr_pfds)
		return 0;
	return loop->pfds[idx].revents;
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

static int ev_loop__dispatch_epoll(struct event_loop *loop, int timeout_ms);

/* With a poll source: poll() on epfd and the source's descriptors. */
static int ev_loop__run_source(struct event_loop *loop, int timeout_ms)
{
	const struct ev_poll_source *src = loop->source;
	int n, ret = 0;

	loop->nr_pfds = 0;
	if (ev_loop__poll_add(loop, loop->epfd, POLLIN) < 0)
		return -ENOMEM;
	src->prepare(src->ctx, loop, &timeout_ms);
	n = poll(loop->pfds, loop->nr_pfds, timeout_ms);
	if (n < 0 && errno != EINTR)
		ret = -errno;
	if (n > 0 && loop->pfds[0].revents)
		ret = ev_loop__dispatch_epoll(loop, 0);
	src->dispatch(src->ctx, loop, n < 0);
	return ret < 0 ? ret : n < 0 ? 0 : n;
}

int ev_loop__run_once(struct event_loop *loop, int timeout_ms)
{
	if (loop->source)
		return ev_loop__run_source(loop, timeout_ms);
	return ev_loop__dispatch_epoll(loop, timeout_ms);
}

static int ev_loop__dispatch_epoll(struct event_loop *loop, int timeout_ms)
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
