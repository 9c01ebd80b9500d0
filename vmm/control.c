#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unix_socket.h"

#define CONTROL_MAX_FDS 4

struct ctl_client {
	struct ev_handler h;
	struct control *ctl;
	char in[CONTROL_MAX_LINE];
	size_t in_len;
	int skipping;		/* discarding the rest of an oversized line */
	int fds[CONTROL_MAX_FDS];	/* came with the bytes read, oldest first */
	unsigned int nr_fds;
	char *out;
	size_t out_len, out_cap;
	int dead;
	struct ctl_client *next;
};

struct control {
	char *path;
	int fd;
	struct ev_handler listen_h;
	struct event_loop *loop;
	const struct control_ops *ops;
	void *ctx;
	struct ctl_client *clients;
	unsigned int nr_clients;
};

/* --- requests ------------------------------------------------------------------ */

static char *error_reply(const struct control_request *req, uint32_t code, const char *msg)
{
	return control_error_encode(req ? req->id : NULL, code, msg);
}

static char *do_attach(const struct control_request *req, const struct control_ops *ops, void *ctx,
		       int *fd)
{
	struct control_reply r = { .kind = CONTROL_REPLY_ATTACH };
	struct pupa_err err = { 0 };
	int medium = -1;

	if (req->u.attach.with_fd) {
		if (!fd || *fd < 0)
			return error_reply(req, GUEST_ERR_BAD_CONFIG,
					   "attach: \"fd\":true but no descriptor came with the request");
		medium = *fd;	/* the request took it: ours to close or pass on */
		*fd = -1;
	}
	if (ops->status(ctx) != GUEST_STATUS_RUNNING) {
		if (medium >= 0)
			close(medium);
		return error_reply(req, GUEST_ERR_NOT_CREATED, "attach: the guest is not running");
	}
	if (ops->attach(ctx, req->u.attach.slot, req->u.attach.path, medium, req->u.attach.mode,
			&err) < 0)
		return error_reply(req, err.code, err.msg);
	snprintf(r.id, sizeof(r.id), "%s", req->id);
	r.u.attach = (struct control_attached){ .slot = req->u.attach.slot,
						.path = req->u.attach.path,
						.mode = req->u.attach.mode };
	return control_reply_encode(&r);
}

/*
 * {"request":"snapshot"} with a descriptor (SCM_RIGHTS): the file to write
 * the snapshot into; pupa-vmm cannot create one itself (Landlock). The
 * guest pauses while it is written, then runs on.
 */
static char *do_snapshot(const struct control_request *req, const struct control_ops *ops,
			 void *ctx, int *fd)
{
	struct control_reply r = { .kind = CONTROL_REPLY_SNAPSHOT };
	struct pupa_err err = { 0 };
	char *reply;
	int file;

	if (!fd || *fd < 0)
		return error_reply(req, GUEST_ERR_BAD_CONFIG,
				   "snapshot: the file to write must come with the request (SCM_RIGHTS)");
	file = *fd;	/* the request took it: ours to close */
	*fd = -1;
	snprintf(r.id, sizeof(r.id), "%s", req->id);
	if (!ops->snapshot || ops->status(ctx) != GUEST_STATUS_RUNNING)
		reply = error_reply(req, GUEST_ERR_NOT_CREATED, "snapshot: the guest is not running");
	else if (ops->snapshot(ctx, file, &r.u.snapshot, &err) < 0)
		reply = error_reply(req, err.code, err.msg);
	else
		reply = control_reply_encode(&r);
	close(file);
	return reply;
}

static char *do_status(const struct control_request *req, const struct control_ops *ops, void *ctx)
{
	struct control_reply r = { .kind = CONTROL_REPLY_STATUS };
	struct control_status *st = &r.u.status;

	snprintf(r.id, sizeof(r.id), "%s", req->id);
	st->status = ops->status(ctx);
	st->has_net = ops->network && ops->network(ctx, &st->net);
	st->has_fs = ops->fs && ops->fs(ctx, &st->fs);
	st->restore_us = ops->restore_us ? ops->restore_us(ctx) : 0;
	return control_reply_encode(&r);
}

/* A reply with nothing but its name (and the id). */
static char *plain_reply(const struct control_request *req, enum control_reply_kind kind)
{
	struct control_reply r = { .kind = kind };

	snprintf(r.id, sizeof(r.id), "%s", req->id);
	return control_reply_encode(&r);
}

char *control__handle_line(const char *line, size_t len, const struct control_ops *ops, void *ctx)
{
	return control__handle_request(line, len, ops, ctx, NULL);
}

char *control__handle_request(const char *line, size_t len, const struct control_ops *ops,
			      void *ctx, int *fd)
{
	struct control_request *req = malloc(sizeof(*req));
	struct pupa_err err = { 0 };
	char *reply = NULL;

	if (!req)
		return NULL;
	if (control_request_decode(line, len, req, &err) < 0) {
		/* A refused attach that said its medium came along: the
		 * medium is ours, and goes. */
		if (req->kind == CONTROL_REQ_ATTACH && req->u.attach.with_fd && fd && *fd >= 0) {
			close(*fd);
			*fd = -1;
		}
		reply = error_reply(req, err.code, err.msg);
		free(req);
		return reply;
	}
	switch (req->kind) {
	case CONTROL_REQ_STATUS:
		reply = do_status(req, ops, ctx);
		break;
	case CONTROL_REQ_ATTACH:
		reply = do_attach(req, ops, ctx, fd);
		break;
	case CONTROL_REQ_SNAPSHOT:
		reply = do_snapshot(req, ops, ctx, fd);
		break;
	case CONTROL_REQ_STOP:
		ops->stop(ctx, req->u.stop.timeout_ms);
		reply = plain_reply(req, CONTROL_REPLY_STOP);
		break;
	case CONTROL_REQ_TEST_SYSCALL:
#ifdef PUPA_TEST_HOOKS
		if (ops->test_syscall) {
			ops->test_syscall(ctx, req->u.test_syscall.thread);
			reply = plain_reply(req, CONTROL_REPLY_TEST_SYSCALL);
			break;
		}
#endif
		reply = error_reply(req, GUEST_ERR_BAD_CONFIG, "unknown request");
		break;
	}
	free(req);
	return reply;
}

/* --- clients ------------------------------------------------------------------- */

/* Forget the oldest descriptor that came with the bytes, closing it
 * unless a request took it (then its slot holds -1). */
static void client_drop_fd(struct ctl_client *c)
{
	if (!c->nr_fds)
		return;
	if (c->fds[0] >= 0)
		close(c->fds[0]);
	memmove(c->fds, c->fds + 1, --c->nr_fds * sizeof(c->fds[0]));
}

static void client_kill(struct ctl_client *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	while (c->nr_fds)
		client_drop_fd(c);
	ev_loop__del(c->ctl->loop, &c->h);
}

/*
 * Read with any descriptors the peer passed (SCM_RIGHTS, one per attach
 * line, sent with its line). More than CONTROL_MAX_FDS waiting: the extra
 * ones are closed, and their attach requests will say none came.
 */
static ssize_t client_recv(struct ctl_client *c)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * CONTROL_MAX_FDS)];
	} ctrl;
	struct iovec iov = { c->in + c->in_len, sizeof(c->in) - c->in_len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf,
			     .msg_controllen = sizeof(ctrl.buf) };
	ssize_t n = recvmsg(c->h.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t nfd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->nr_fds < CONTROL_MAX_FDS)
				c->fds[c->nr_fds++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

static void client_flush(struct ctl_client *c)
{
	while (c->out_len) {
		ssize_t n = send(c->h.fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			client_kill(c);
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	ev_loop__mod(c->ctl->loop, &c->h, EPOLLIN | (c->out_len ? EPOLLOUT : 0));
}

/* Queue one line; a client that lets a megabyte pile up is dropped. */
static void client_send(struct ctl_client *c, const char *line)
{
	size_t len = strlen(line);

	if (c->dead)
		return;
	if (c->out_len + len + 1 > CONTROL_MAX_OUTPUT) {
		client_kill(c);
		return;
	}
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = (c->out_len + len + 1) * 2;
		char *p = realloc(c->out, cap);

		if (!p) {
			client_kill(c);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, line, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	client_flush(c);
}

static void client_line(struct ctl_client *c, const char *line, size_t len)
{
	int fd = c->nr_fds ? c->fds[0] : -1;
	char *reply = control__handle_request(line, len, c->ctl->ops, c->ctl->ctx, &fd);

	if (c->nr_fds && fd < 0) {
		c->fds[0] = -1;		/* taken by the request: it owns it now */
		client_drop_fd(c);
	}
	if (reply)
		client_send(c, reply);
	free(reply);
}

static void client_read(struct ctl_client *c)
{
	for (;;) {
		ssize_t n = client_recv(c);
		size_t start = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			client_kill(c);
			return;
		}
		c->in_len += (size_t)n;
		for (size_t i = 0; i < c->in_len && !c->dead; i++) {
			if (c->in[i] != '\n')
				continue;
			if (!c->skipping && i > start)
				client_line(c, c->in + start, i - start);
			c->skipping = 0;
			start = i + 1;
		}
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
		if (c->in_len == sizeof(c->in)) {
			/* No newline within the limit: refuse it, skip to the next line. */
			if (!c->skipping) {
				char *r = error_reply(NULL, GUEST_ERR_BAD_CONFIG, "request line too long");

				client_send(c, r);
				free(r);
			}
			c->skipping = 1;
			c->in_len = 0;
		}
		if (c->dead)
			return;
	}
}

static void on_client(struct ev_handler *h, uint32_t events)
{
	struct ctl_client *c = h->ctx;

	if (c->dead)
		return;
	if (events & EPOLLOUT)
		client_flush(c);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		client_read(c);
}

static void on_accept(struct ev_handler *h, uint32_t events)
{
	struct control *ctl = h->ctx;

	for (;;) {
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ctl_client *c;

		if (fd < 0)
			return;
		if (ctl->nr_clients >= CONTROL_MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->h = (struct ev_handler){ .fd = fd, .fn = on_client, .ctx = c };
		if (ev_loop__add(ctl->loop, &c->h, EPOLLIN) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = ctl->clients;
		ctl->clients = c;
		ctl->nr_clients++;
	}
}

int control__open(struct control **out, const char *path, struct event_loop *loop,
		  const struct control_ops *ops, void *ctx, struct pupa_err *err)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int fd;

	*out = NULL;
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	}
	fd = unix_socket__listen(path);
	if (fd < 0) {
		free(ctl->path);
		free(ctl);
		if (fd == -EADDRINUSE)
			return pupa_err_set(err, PUPA_GUEST_ERROR, GUEST_ERR_ALREADY_RUNNING,
					    "--control %s: another VMM is running there", path);
		if (fd == -ENOTSOCK)
			return guest_err(err, GUEST_ERR_BAD_CONFIG, "--control %s: something that "
					 "is not a socket is there; pupa-vmm replaces only stale "
					 "sockets", path);
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "--control %s: %s", path, strerror(-fd));
	}
	ctl->fd = fd;
	ctl->loop = loop;
	ctl->ops = ops;
	ctl->ctx = ctx;
	ctl->listen_h = (struct ev_handler){ .fd = fd, .fn = on_accept, .ctx = ctl };
	ev_loop__add(loop, &ctl->listen_h, EPOLLIN);
	*out = ctl;
	return 0;
}

static void broadcast(struct control *ctl, const struct control_reply *event)
{
	char *line = control_reply_encode(event);

	for (struct ctl_client *c = ctl->clients; line && c; c = c->next)
		client_send(c, line);
	free(line);
}

void control__status_changed(struct control *ctl, enum guest_status status)
{
	struct control_reply ev = { .kind = CONTROL_EVENT_STATUS, .u.event_status = status };

	if (ctl)
		broadcast(ctl, &ev);
}

void control__exited(struct control *ctl, const struct control_exit *exit)
{
	struct control_reply ev = { .kind = CONTROL_EVENT_EXIT };

	if (!ctl)
		return;
	ev.u.exit = *exit;
	broadcast(ctl, &ev);
}

void control__reap(struct control *ctl)
{
	struct ctl_client **pp;

	if (!ctl)
		return;
	for (pp = &ctl->clients; *pp;) {
		struct ctl_client *c = *pp;

		if (!c->dead) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		close(c->h.fd);
		free(c->out);
		free(c);
		ctl->nr_clients--;
	}
}

void control__close(struct control *ctl)
{
	if (!ctl)
		return;
	/* Last words (the exit event): give each client a moment to take them. */
	for (struct ctl_client *c = ctl->clients; c; c = c->next) {
		if (!c->dead && c->out_len) {
			struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };

			setsockopt(c->h.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			if (send(c->h.fd, c->out, c->out_len, MSG_NOSIGNAL) < 0) {
				/* gone; nothing more to do */
			}
		}
		client_kill(c);
	}
	control__reap(ctl);
	ev_loop__del(ctl->loop, &ctl->listen_h);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
