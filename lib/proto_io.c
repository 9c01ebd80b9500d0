#include "proto_io.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
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

int proto_recv(int fd, struct proto_rbuf *rb, struct proto_msg *msg, int timeout_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ret = proto_rbuf_next(rb, msg);
		long n;

		if (ret != -EAGAIN)
			return ret;
		ret = poll(&p, 1, timeout_ms);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret == 0)
			return -ETIMEDOUT;
		n = proto_rbuf_read(rb, fd);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && n != -EAGAIN)
			return (int)n;
	}
}

int proto_send(int fd, struct proto_writer *w)
{
	long len = proto_finish(w);
	size_t off = 0;

	if (len < 0)
		return (int)len;
	while (off < (size_t)len) {
		ssize_t n = write(fd, w->buf + off, (size_t)len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			poll(&p, 1, 1000);
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		off += (size_t)n;
	}
	return 0;
}
