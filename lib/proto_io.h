/* Frames over a file descriptor: a receive buffer, blocking and polled use. */
#ifndef PUPA_PROTO_IO_H
#define PUPA_PROTO_IO_H

#include "proto.h"

struct proto_rbuf {
	uint8_t buf[PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD];
	size_t len;
	size_t pending;		/* bytes of the message last returned */
};

/* One read() into the buffer: bytes read, 0 at EOF, or -errno. */
long proto_rbuf_read(struct proto_rbuf *rb, int fd);

/* The next whole message (valid until the next call), -EAGAIN, or the parse error. */
int proto_rbuf_next(struct proto_rbuf *rb, struct proto_msg *msg);

/* Wait up to timeout_ms (-1: forever) for a message; -ETIMEDOUT, -EPIPE at EOF. */
int proto_recv(int fd, struct proto_rbuf *rb, struct proto_msg *msg, int timeout_ms);

/* Seal and write a whole frame; 0 or -errno. */
int proto_send(int fd, struct proto_writer *w);

#endif
