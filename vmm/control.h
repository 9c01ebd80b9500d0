/*
 * The control socket (--control PATH), pupa-vmm's end: the socket, its
 * clients, and the ops that serve each request. The messages themselves
 * (JSON lines, for pupa or a person with socat) are defined once, for both
 * ends, in lib/control_proto.h. Every client gets the events: each
 * GuestStatus change and, at the end, the exit. Lines are bounded
 * (CONTROL_MAX_LINE); a longer or malformed one gets an error reply, and a
 * client that does not read its replies is dropped rather than allowed to
 * stall the VMM.
 */
#ifndef PUPA_VMM_CONTROL_H
#define PUPA_VMM_CONTROL_H

#include <stddef.h>

#include "control_proto.h"
#include "enums.h"
#include "error.h"
#include "event_loop.h"
#include "publish.h"

#define CONTROL_MAX_OUTPUT	(1 << 20)
#define CONTROL_MAX_CLIENTS	16

struct control_ops {
	enum guest_status (*status)(void *ctx);
	/* fd >= 0: the medium, passed with the request (SCM_RIGHTS); the op
	 * owns it. fd < 0: open path. path names the medium either way. */
	int (*attach)(void *ctx, const char *slot, const char *path, int fd,
		      enum block_mode mode, struct pupa_err *err);
	/* Stop the guest: let it end by itself for timeout_ms, then force it. */
	void (*stop)(void *ctx, unsigned int timeout_ms);
	/* The network, for status; NULL op or 0: none. */
	int (*network)(void *ctx, struct control_net *out);
	/* virtio-fs, for status; NULL op or 0: none. */
	int (*fs)(void *ctx, struct control_fs *out);
	/* Optional: how long resuming from --restore took (µs); 0 when booted. */
	uint64_t (*restore_us)(void *ctx);
	/* Optional: pause, write a snapshot to fd (the caller closes it), run on. */
	int (*snapshot)(void *ctx, int fd, struct control_snapshot *out, struct pupa_err *err);
	/* Test builds (PUPA_TEST_HOOKS) only: make a thread of the class named
	 * ("main", "vcpu") call a system call its filter forbids. */
	int (*test_syscall)(void *ctx, const char *thread);
};

struct control;

int control__open(struct control **out, const char *path, struct event_loop *loop,
		  const struct control_ops *ops, void *ctx, struct pupa_err *err);

/* Push events to every client. */
void control__status_changed(struct control *ctl, enum guest_status status);
void control__exited(struct control *ctl, const struct control_exit *exit);

/* Free clients that went away during the last round of events. */
void control__reap(struct control *ctl);

/* Flush what can be flushed, close everything, remove the socket file. */
void control__close(struct control *ctl);

/*
 * The protocol core, without sockets: one request line in, one reply
 * (malloc'd JSON, no newline) out. Exposed for the unit tests.
 */
char *control__handle_line(const char *line, size_t len, const struct control_ops *ops, void *ctx);

/* The same with the descriptor that came with the line (or -1): an attach
 * with "fd":true takes it and sets *fd to -1. */
char *control__handle_request(const char *line, size_t len, const struct control_ops *ops,
			      void *ctx, int *fd);

#endif
