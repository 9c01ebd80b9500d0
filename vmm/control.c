#include "control.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unix_socket.h"
#include "virtio/blk.h"

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

/* --- JSON -------------------------------------------------------------------- */

static json_t *enum_json(enum pupa_enum_type type, uint32_t value)
{
	return json_pack("{s:s, s:s, s:i}", "type", pupa_enum_type_name(type), "name",
			 pupa_enum_name(type, value), "value", (json_int_t)value);
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	return s;
}

static char *error_reply(json_t *id, uint32_t code, const char *msg)
{
	json_t *r = json_pack("{s:s, s:o, s:s}", "reply", "error", "error",
			      enum_json(PUPA_GUEST_ERROR, code), "message", msg);

	if (id)
		json_object_set(r, "id", id);
	return dump(r);
}

static char *ok_reply(json_t *id, const char *what, json_t *extra)
{
	json_t *r = json_pack("{s:s}", "reply", what);

	if (extra)
		json_object_update(r, extra);
	json_decref(extra);
	if (id)
		json_object_set(r, "id", id);
	return dump(r);
}

static char *do_attach(json_t *req, json_t *id, const struct control_ops *ops, void *ctx,
		       int *fd)
{
	const char *slot = NULL, *path = NULL, *mode_s = "ReadOnly";
	struct pupa_err err = { 0 };
	enum block_mode mode;
	json_error_t jerr;
	int with_fd = 0, medium = -1;
	char *reply = NULL;

	if (json_unpack_ex(req, &jerr, 0, "{s:s, s:s, s?s, s?b}", "slot", &slot, "path", &path,
			   "mode", &mode_s, "fd", &with_fd) < 0)
		return error_reply(id, GUEST_ERR_BAD_CONFIG,
				   "attach needs \"slot\" and \"path\" strings (and optionally \"mode\" "
				   "and \"fd\")");
	if (with_fd) {
		if (!fd || *fd < 0)
			return error_reply(id, GUEST_ERR_BAD_CONFIG,
					   "attach: \"fd\":true but no descriptor came with the request");
		medium = *fd;
		*fd = -1;
	}
	if (blk_mode__parse(mode_s, &mode) < 0)
		reply = error_reply(id, GUEST_ERR_BAD_CONFIG,
				    "attach: mode must be ReadWrite, ReadOnly or VolatileWrite");
	else if (ops->status(ctx) != GUEST_STATUS_RUNNING)
		reply = error_reply(id, GUEST_ERR_NOT_CREATED, "attach: the guest is not running");
	if (reply) {
		if (medium >= 0)
			close(medium);	/* the request took it: it is ours to close */
		return reply;
	}
	if (ops->attach(ctx, slot, path, medium, mode, &err) < 0)
		return error_reply(id, err.code, err.msg);
	return ok_reply(id, "attach", json_pack("{s:s, s:s, s:o}", "slot", slot, "path", path, "mode",
						enum_json(PUPA_BLOCK_MODE, mode)));
}

/*
 * {"request":"snapshot"} with a descriptor (SCM_RIGHTS): the file to write
 * the snapshot into; pupa-vmm cannot create one itself (Landlock). The
 * guest pauses while it is written, then runs on.
 */
static char *do_snapshot(json_t *id, const struct control_ops *ops, void *ctx, int *fd)
{
	struct pupa_err err = { 0 };
	struct control_snapshot s = { 0 };
	char *reply;
	int file;

	if (!fd || *fd < 0)
		return error_reply(id, GUEST_ERR_BAD_CONFIG,
				   "snapshot: the file to write must come with the request (SCM_RIGHTS)");
	file = *fd;	/* the request took it: ours to close */
	*fd = -1;
	if (!ops->snapshot || ops->status(ctx) != GUEST_STATUS_RUNNING)
		reply = error_reply(id, GUEST_ERR_NOT_CREATED, "snapshot: the guest is not running");
	else if (ops->snapshot(ctx, file, &s, &err) < 0)
		reply = error_reply(id, err.code, err.msg);
	else
		reply = ok_reply(id, "snapshot", json_pack("{s:I, s:I, s:I}", "pages", (json_int_t)s.pages,
							   "paused_us", (json_int_t)s.paused_us,
							   "state_bytes", (json_int_t)s.state_bytes));
	close(file);
	return reply;
}

char *control__handle_line(const char *line, size_t len, const struct control_ops *ops, void *ctx)
{
	return control__handle_request(line, len, ops, ctx, NULL);
}

/* "network": {"backend", "allow_host_loopback", "publish": [...], counters} */
static void network_json(json_t *body, const struct control_ops *ops, void *ctx)
{
	struct control_net n = { 0 };
	json_t *fwd;

	if (!ops->network || !ops->network(ctx, &n))
		return;
	fwd = json_array();
	for (unsigned int i = 0; i < n.nr_publish; i++) {
		char text[PUBLISH_TEXT_MAX];

		publish_format(&n.publish[i], text, sizeof(text));
		json_array_append_new(fwd, json_string(text));
	}
	json_object_set_new(body, "network",
			    json_pack("{s:s, s:b, s:o, s:I, s:I, s:I, s:I}", "backend", n.backend,
				      "allow_host_loopback", n.allow_host_loopback, "publish", fwd,
				      "rx_frames", (json_int_t)n.rx_frames,
				      "rx_dropped", (json_int_t)n.rx_dropped,
				      "tx_frames", (json_int_t)n.tx_frames,
				      "tx_dropped", (json_int_t)n.tx_dropped));
}

/* "fs": {"tag", "volumes": [{"path", "ro"}], counters} */
#define FS_JSON_FMT "{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}"
static void fs_json(json_t *body, const struct control_ops *ops, void *ctx)
{
	struct control_fs f = { 0 };
	json_t *vols;

	if (!ops->fs || !ops->fs(ctx, &f))
		return;
	vols = json_array();
	for (unsigned int i = 0; i < f.nr_volumes; i++)
		json_array_append_new(vols, json_pack("{s:s, s:b}", "path", f.volumes[i], "ro", f.ro[i]));
	json_object_set_new(body, "fs",
			    json_pack(FS_JSON_FMT, "tag", f.tag,
				      "volumes", vols, "requests", (json_int_t)f.requests,
				      "nodes", (json_int_t)f.nodes, "open_fds", (json_int_t)f.open_fds,
				      "fd_budget", (json_int_t)f.fd_budget,
				      "evictions", (json_int_t)f.evictions,
				      "reopens", (json_int_t)f.reopens,
				      "reads", (json_int_t)f.reads,
				      "read_bytes", (json_int_t)f.read_bytes,
				      "writes", (json_int_t)f.writes,
				      "write_bytes", (json_int_t)f.write_bytes));
}

char *control__handle_request(const char *line, size_t len, const struct control_ops *ops,
			      void *ctx, int *fd)
{
	json_error_t jerr;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr), *id;
	const char *what;
	char *reply;

	if (!req)
		return error_reply(NULL, GUEST_ERR_BAD_CONFIG, "malformed JSON");
	if (!json_is_object(req)) {
		json_decref(req);
		return error_reply(NULL, GUEST_ERR_BAD_CONFIG, "a request must be a JSON object");
	}
	id = json_object_get(req, "id");
	what = json_string_value(json_object_get(req, "request"));
	if (!what) {
		reply = error_reply(id, GUEST_ERR_BAD_CONFIG, "no \"request\" string");
	} else if (strcmp(what, "status") == 0) {
		json_t *body = json_pack("{s:o}", "status", enum_json(PUPA_GUEST_STATUS, ops->status(ctx)));
		uint64_t restore_us = ops->restore_us ? ops->restore_us(ctx) : 0;

		network_json(body, ops, ctx);
		fs_json(body, ops, ctx);
		if (restore_us)
			json_object_set_new(body, "restore_us", json_integer((json_int_t)restore_us));
		reply = ok_reply(id, "status", body);
	} else if (strcmp(what, "attach") == 0) {
		reply = do_attach(req, id, ops, ctx, fd);
	} else if (strcmp(what, "snapshot") == 0) {
		reply = do_snapshot(id, ops, ctx, fd);
	} else if (strcmp(what, "stop") == 0) {
		json_t *t = json_object_get(req, "timeout_ms");
		json_int_t ms = t ? json_integer_value(t) : 0;

		if (t && (!json_is_integer(t) || ms < 0 || ms > 3600000)) {
			reply = error_reply(id, GUEST_ERR_BAD_CONFIG,
					    "stop: timeout_ms must be an integer from 0 to 3600000");
		} else {
			ops->stop(ctx, (unsigned int)ms);
			reply = ok_reply(id, "stop", NULL);
		}
#ifdef PUPA_TEST_HOOKS
	} else if (strcmp(what, "test-syscall") == 0 && ops->test_syscall) {
		const char *thread = json_string_value(json_object_get(req, "thread"));

		ops->test_syscall(ctx, thread ? thread : "");
		reply = ok_reply(id, "test-syscall", NULL);
#endif
	} else {
		reply = error_reply(id, GUEST_ERR_BAD_CONFIG, "unknown request");
	}
	json_decref(req);
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

static void broadcast(struct control *ctl, json_t *event)
{
	char *line = dump(event);

	for (struct ctl_client *c = ctl->clients; line && c; c = c->next)
		client_send(c, line);
	free(line);
}

void control__status_changed(struct control *ctl, enum guest_status status)
{
	if (ctl)
		broadcast(ctl, json_pack("{s:s, s:o}", "event", "status", "status",
					 enum_json(PUPA_GUEST_STATUS, status)));
}

void control__exited(struct control *ctl, const struct pupa_err *reason)
{
	json_t *ev;

	if (!ctl)
		return;
	ev = json_pack("{s:s, s:o}", "event", "exit", "status",
		       enum_json(PUPA_GUEST_STATUS, GUEST_STATUS_STOPPED));
	if (reason->code) {
		json_object_set_new(ev, "reason", enum_json(reason->type, reason->code));
		json_object_set_new(ev, "message", json_string(reason->msg));
	} else {
		json_object_set_new(ev, "reason", json_null());
		json_object_set_new(ev, "message", json_string(reason->msg));
	}
	broadcast(ctl, ev);
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
