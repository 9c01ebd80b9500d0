/*
 * Frames over a file descriptor: a receive buffer, blocking and polled use.
 * A peer may be hostile or stuck: each whole message, received or sent, has
 * one deadline (a byte every few seconds does not keep a receive alive),
 * and a flag set by a signal handler ends the wait at once.
 */
#ifndef PUPA_PROTO_IO_H
#define PUPA_PROTO_IO_H

#include <signal.h>

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

/*
 * Wait up to timeout_ms (-1: forever) for a whole message; -ETIMEDOUT,
 * -EPIPE at EOF, -EINTR once *cancel (may be NULL) is set.
 */
int proto_recv(int fd, struct proto_rbuf *rb, struct proto_msg *msg, int timeout_ms,
	       const volatile sig_atomic_t *cancel);

/* Seal and write a whole frame within timeout_ms (-1: forever; only a
 * non-blocking fd can keep a deadline); 0, -ETIMEDOUT, -EINTR once *cancel
 * is set, or -errno. */
int proto_send(int fd, struct proto_writer *w, int timeout_ms,
	       const volatile sig_atomic_t *cancel);

#endif
