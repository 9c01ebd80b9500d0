/* SPDX-License-Identifier: MIT */
/* pupa-vmm's control socket, pupa's end (vmm_client.h). */
#include "vmm_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int vmm_client__connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* The line and its newline, with pass_fd (when >= 0) riding along. */
static int vmm_client__send(int fd, const char *line, int pass_fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctrl;
	struct iovec iov[2] = { { (void *)line, strlen(line) }, { "\n", 1 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctrl, 0, sizeof(ctrl));
		mh.msg_control = ctrl.buf;
		mh.msg_controllen = sizeof(ctrl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)(iov[0].iov_len + 1) ? 0 : -EIO;
}

static long vmm_client__ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

struct line_reader {
	int fd;
	char *buf;
	size_t len, cap;
	long deadline;
};

/*
 * The next line (NUL-terminated in place of its newline) in *line, its
 * length returned; -EMSGSIZE over CONTROL_MAX_REPLY, -ETIMEDOUT, -EPIPE.
 * A reader's earlier line is dropped first.
 */
static ssize_t vmm_client__line(struct line_reader *r, char **line, size_t *used)
{
	char *nl;

	if (*used) {
		memmove(r->buf, r->buf + *used, r->len - *used);
		r->len -= *used;
		*used = 0;
	}
	while (!(nl = r->len ? memchr(r->buf, '\n', r->len) : NULL)) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		long left = r->deadline - vmm_client__ms();
		ssize_t n;

		if (r->len >= CONTROL_MAX_REPLY + 1)
			return -EMSGSIZE;
		if (r->cap - r->len < 4096) {
			size_t cap = r->cap ? r->cap * 2 : 8192;
			char *p2 = realloc(r->buf, cap);

			if (!p2)
				return -ENOMEM;
			r->buf = p2;
			r->cap = cap;
		}
		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			return -ETIMEDOUT;
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		r->len += (size_t)n;
	}
	*nl = '\0';
	*line = r->buf;
	*used = (size_t)(nl - r->buf) + 1;
	return nl - r->buf;
}

static const char *vmm_client__rc(int rc)
{
	switch (rc) {
	case -ETIMEDOUT:
		return "no reply within 30 s";
	case -EMSGSIZE:
		return "a reply over its 1 MiB limit";
	case -EPIPE:
		return "it closed the connection before replying";
	default:
		return strerror(-rc);
	}
}

/* Read until the reply: events that come first are passed over. */
static int vmm_client__reply(struct line_reader *r, const char *what, struct control_reply *reply,
			     struct pupa_err *err)
{
	size_t used = 0;

	for (;;) {
		char *line;
		ssize_t n = vmm_client__line(r, &line, &used);
		int ret;

		if (n < 0)
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: no answer from pupa-vmm "
				       "(%s)", what, vmm_client__rc((int)n));
		control_reply_free(reply);
		ret = control_reply_decode(line, (size_t)n, reply, err);
		if (ret < 0)
			return ret;
		/* pupa-vmm's error as it sent it: its messages name the request. */
		if (reply->kind == CONTROL_REPLY_ERROR)
			return pupa_err_set(err, reply->u.error.type, reply->u.error.code, "%s",
					    reply->u.error.msg);
		if (reply->kind != CONTROL_EVENT_STATUS && reply->kind != CONTROL_EVENT_EXIT)
			return 0;
	}
}

static const char *const request_what[] = {
	[CONTROL_REQ_STATUS] = "status",
	[CONTROL_REQ_ATTACH] = "attach",
	[CONTROL_REQ_STOP] = "stop",
	[CONTROL_REQ_SNAPSHOT] = "snapshot",
	[CONTROL_REQ_TEST_SYSCALL] = "test-syscall",
};

/* The reply a request wants: named as the request. */
static const enum control_reply_kind request_reply[] = {
	[CONTROL_REQ_STATUS] = CONTROL_REPLY_STATUS,
	[CONTROL_REQ_ATTACH] = CONTROL_REPLY_ATTACH,
	[CONTROL_REQ_STOP] = CONTROL_REPLY_STOP,
	[CONTROL_REQ_SNAPSHOT] = CONTROL_REPLY_SNAPSHOT,
	[CONTROL_REQ_TEST_SYSCALL] = CONTROL_REPLY_TEST_SYSCALL,
};

int vmm_client_call(const char *control, const struct control_request *req, int pass_fd,
		    struct control_reply *reply, struct pupa_err *err)
{
	const char *what = request_what[req->kind];
	struct line_reader r = { .fd = -1, .deadline = vmm_client__ms() + VMM_CLIENT_TIMEOUT_MS };
	char *line = control_request_encode(req);
	int ret;

	memset(reply, 0, sizeof(*reply));
	if (!line)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: out of memory", what);
	r.fd = vmm_client__connect(control);
	if (r.fd < 0)
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: cannot reach pupa-vmm at %s "
			      "(%s)", what, control, strerror(-r.fd));
	else if (vmm_client__send(r.fd, line, pass_fd) < 0)
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: cannot write to pupa-vmm (%s)",
			      what, strerror(errno));
	else
		ret = vmm_client__reply(&r, what, reply, err);
	if (ret == 0 && reply->kind != request_reply[req->kind])
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			      "%s: pupa-vmm answered another request", what);
	if (r.fd >= 0)
		close(r.fd);
	free(r.buf);
	free(line);
	return ret;
}

int vmm_client_status(const char *control, struct control_reply *st, struct pupa_err *err)
{
	struct control_request req = { .kind = CONTROL_REQ_STATUS };

	return vmm_client_call(control, &req, -1, st, err);
}

int vmm_client_attach(const char *control, const char *slot, const char *path, int fd,
		      enum block_mode mode, struct pupa_err *err)
{
	struct control_request *req = calloc(1, sizeof(*req));
	struct control_reply reply;
	int ret;

	if (!req)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "attach: out of memory");
	req->kind = CONTROL_REQ_ATTACH;
	req->u.attach.mode = mode;
	req->u.attach.with_fd = 1;
	if (snprintf(req->u.attach.slot, sizeof(req->u.attach.slot), "%s", slot) >=
		    (int)sizeof(req->u.attach.slot) ||
	    snprintf(req->u.attach.path, sizeof(req->u.attach.path), "%s", path) >=
		    (int)sizeof(req->u.attach.path)) {
		free(req);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "attach %s: the name is too long",
			       path);
	}
	ret = vmm_client_call(control, req, fd, &reply, err);
	control_reply_free(&reply);
	free(req);
	return ret;
}

int vmm_client_snapshot(const char *control, int fd, struct control_snapshot *out,
			struct pupa_err *err)
{
	struct control_request req = { .kind = CONTROL_REQ_SNAPSHOT };
	struct control_reply reply;
	int ret = vmm_client_call(control, &req, fd, &reply, err);

	if (ret == 0 && out)
		*out = reply.u.snapshot;
	control_reply_free(&reply);
	return ret;
}

int vmm_client_stop(const char *control, unsigned int timeout_ms, struct pupa_err *err)
{
	struct control_request req = { .kind = CONTROL_REQ_STOP, .u.stop.timeout_ms = timeout_ms };
	struct control_reply reply;
	int ret = vmm_client_call(control, &req, -1, &reply, err);

	control_reply_free(&reply);
	return ret;
}

/* The record's bytes (at most CONTROL_MAX_LINE + 1, NUL-terminated); -ENOENT
 * when there is no regular file there. */
static ssize_t vmm_client__read_record(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

int vmm_client_exit_record(const char *path, struct control_exit *out, struct pupa_err *err)
{
	char buf[CONTROL_MAX_LINE + 2];
	struct control_reply r;
	ssize_t n = vmm_client__read_record(path, buf, sizeof(buf));
	int ret;

	memset(out, 0, sizeof(*out));
	/* Unfinished: empty, cut before its newline, or more than one line. */
	if (n <= 0 || buf[n - 1] != '\n' || memchr(buf, '\n', (size_t)n - 1))
		return -ENOENT;
	ret = control_reply_decode(buf, (size_t)n - 1, &r, err);
	if (ret == 0 && r.kind != CONTROL_EVENT_EXIT)
		ret = mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s: not an exit record", path);
	if (ret == 0)
		*out = r.u.exit;
	control_reply_free(&r);
	return ret;
}
