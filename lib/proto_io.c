#include "proto_io.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Drop the message last returned from the front of the buffer. */
static void rbuf_consume(struct proto_rbuf *rb)
{
	if (rb->pending) {
		memmove(rb->buf, rb->buf + rb->pending, rb->len - rb->pending);
		rb->len -= rb->pending;
		rb->pending = 0;
	}
}

long proto_rbuf_read(struct proto_rbuf *rb, int fd)
{
	ssize_t n;

	rbuf_consume(rb);
	if (rb->len == sizeof(rb->buf))
		return -ENOBUFS;	/* cannot happen with a valid frame in front */
	do
		n = read(fd, rb->buf + rb->len, sizeof(rb->buf) - rb->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	rb->len += (size_t)n;
	return n;
}

int proto_rbuf_next(struct proto_rbuf *rb, struct proto_msg *msg)
{
	size_t used;
	int ret;

	rbuf_consume(rb);
	ret = proto_parse(rb->buf, rb->len, msg, &used);
	if (ret == 0)
		rb->pending = used;
	return ret;
}

static long proto__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/*
 * Poll fd for events until the deadline (-1: none). 1 when ready, or
 * -ETIMEDOUT, -EINTR (cancelled), -errno. Other signals go on waiting.
 */
static int proto__wait(int fd, short events, long deadline, const volatile sig_atomic_t *cancel)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		long left = deadline < 0 ? -1 : deadline - proto__now_ms();
		int ret;

		if (cancel && *cancel)
			return -EINTR;
		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		ret = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (ret > 0)
			return 1;
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
}

static long proto__deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : proto__now_ms() + timeout_ms;
}

int proto_recv(int fd, struct proto_rbuf *rb, struct proto_msg *msg, int timeout_ms,
	       const volatile sig_atomic_t *cancel)
{
	long deadline = proto__deadline(timeout_ms);

	for (;;) {
		int ret = proto_rbuf_next(rb, msg);
		long n;

		if (ret != -EAGAIN)
			return ret;
		ret = proto__wait(fd, POLLIN, deadline, cancel);
		if (ret < 0)
			return ret;
		n = proto_rbuf_read(rb, fd);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && n != -EAGAIN)
			return (int)n;
	}
}

int proto_send(int fd, struct proto_writer *w, int timeout_ms,
	       const volatile sig_atomic_t *cancel)
{
	long len = proto_finish(w), deadline = proto__deadline(timeout_ms);
	size_t off = 0;

	if (len < 0)
		return (int)len;
	while (off < (size_t)len) {
		ssize_t n = write(fd, w->buf + off, (size_t)len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			int ret = proto__wait(fd, POLLOUT, deadline, cancel);

			if (ret < 0)
				return ret;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		off += (size_t)n;
	}
	return 0;
}
