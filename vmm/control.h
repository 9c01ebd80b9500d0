/*
 * The control socket (--control PATH): JSON, one object per line, for the
 * program that runs the VMM (pupa, or a person with socat).
 *
 *   {"request":"status"}
 *   {"request":"attach","slot":NAME,"path":PATH,"mode":"ReadOnly"}
 *   {"request":"stop","timeout_ms":N}
 *
 * An "id" member, if any, is echoed in the reply. Replies carry "reply"
 * (the request's name, or "error" with the GuestError by type, name and
 * value and a "message"). Every client also gets events: each GuestStatus
 * change as {"event":"status",...} and, at the end, {"event":"exit",...}.
 * Lines are bounded (CONTROL_MAX_LINE); a longer or malformed one gets an
 * error reply, and a client that does not read its replies is dropped
 * rather than allowed to stall the VMM.
 */
#ifndef PUPA_VMM_CONTROL_H
#define PUPA_VMM_CONTROL_H

#include <stddef.h>

#include "enums.h"
#include "error.h"
#include "event_loop.h"
#include "publish.h"

#define CONTROL_MAX_LINE	4096
#define CONTROL_MAX_OUTPUT	(1 << 20)
#define CONTROL_MAX_CLIENTS	16

/* What status says about the network. */
struct control_net {
	const char *backend;			/* "slirp" */
	int allow_host_loopback;
	const struct port_publish *publish;
	unsigned int nr_publish;
	uint64_t rx_frames, rx_dropped, tx_frames, tx_dropped;
};

/* What status says about virtio-fs. */
struct control_fs {
	const char *tag;
	const char *const *volumes;		/* host folders, entries 0, 1, ... */
	const int *ro;
	unsigned int nr_volumes;
	uint64_t requests, nodes, open_fds, fd_budget, evictions, reopens;
	uint64_t reads, read_bytes, writes, write_bytes;
};

struct control_snapshot {
	uint64_t pages;			/* of RAM written */
	uint64_t paused_us;		/* how long the guest stood still */
	uint64_t state_bytes;
};

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
void control__exited(struct control *ctl, const struct pupa_err *reason);

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
