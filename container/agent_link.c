/*
 * An event loop (lib/event_loop.h) carries a command from START to its
 * exit, one handler per channel: the agent's control stream, the stdio
 * listeners until the guest connects, the three streams, this process's
 * stdin. Container output is not read before STARTED, so the progress
 * display is finished before it appears.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent_link.h"
#include "agent_proto.h"
#include "event_loop.h"

#define AGENT_REPLY_MS 30000	/* PUPA_AGENT_TIMEOUT (seconds) changes it */
#define AGENT_DRAIN_MS 3000
#define AGENT_SIGNAL_GRACE_MS 2000

static long agent__ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The deadline for each message either way; tests shorten it. */
static int agent__reply_ms(void)
{
	const char *v = getenv("PUPA_AGENT_TIMEOUT");
	char *end;
	long s;

	if (!v || !*v)
		return AGENT_REPLY_MS;
	errno = 0;
	s = strtol(v, &end, 10);
	if (errno || *end || s < 1 || s > 3600) {
		fprintf(stderr, "pupa: PUPA_AGENT_TIMEOUT=%s is not 1 to 3600 seconds; using %d\n",
			v, AGENT_REPLY_MS / 1000);
		return AGENT_REPLY_MS;
	}
	return (int)s * 1000;
}

/* Why a message from pupa-init did not arrive, in words. */
static const char *agent__why(const struct agent_link *a, int rc, char *buf, size_t size)
{
	switch (rc) {
	case -ETIMEDOUT:
		snprintf(buf, size, "no whole message within %d s", a->reply_ms / 1000);
		return buf;
	case -EPROTO:
		return "it sent bytes that are not an agent protocol frame";
	case -EMSGSIZE:
		return "it sent a frame over the 64 KiB limit";
	case -EPIPE:
		return "it closed the connection";
	case -EINTR:
		return "interrupted";
	default:
		return strerror(-rc);
	}
}

int agent_link_listen(struct agent_link *a, const char *uds, unsigned int port,
		      struct pupa_err *err)
{
	memset(a, 0, sizeof(*a));
	a->fd = -1;
	snprintf(a->uds, sizeof(a->uds), "%s", uds);
	a->port = port;
	a->reply_ms = agent__reply_ms();
	for (int i = 0; i < 4; i++)
		a->listen_fd[i] = -1;
	for (int i = 0; i < 4; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, port + i) >=
		    sizeof(sa.sun_path)) {
			if (fd >= 0)
				close(fd);
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
				       "the socket path %s_%u is too long", uds, port + i);
		}
		/* 0600 before listen(): only we may be the guest's peer. */
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    chmod(sa.sun_path, 0600) < 0 || listen(fd, 2) < 0) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot listen on %s: %s",
				       sa.sun_path, strerror(e));
		}
		a->listen_fd[i] = fd;
	}
	return 0;
}

int agent_link_hello_fd(const struct agent_link *a)
{
	return a->listen_fd[0];
}

/* Send the message built in a->w, within the same deadline as a reply. */
static int agent__send(struct agent_link *a)
{
	return proto_send(a->fd, &a->w, a->reply_ms, a->cancel);
}

/* A message of one of the wanted types, or an error naming what came. */
static int agent__expect(struct agent_link *a, uint16_t want, const char *what,
			 struct proto_msg *m, struct pupa_err *err)
{
	int rc = proto_recv(a->fd, &a->rb, m, a->reply_ms, a->cancel);
	char msg[AGENT_MAX_STR] = "", why[64];

	if (rc < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "pupa-init did not %s: %s",
			       what, agent__why(a, rc, why, sizeof(why)));
	if (m->type == PROTO_ERROR) {
		proto_get_str(m, F_MESSAGE, msg, sizeof(msg));
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "pupa-init could not %s: %s", what, msg);
	}
	if (m->type != want)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "pupa-init did not %s: it sent message type %u", what, m->type);
	return 0;
}

/*
 * What sets this guest apart from every other resumed from the same
 * snapshot (pupa-init's fresh.c): the host's random bytes and wall clock.
 */
static void agent__put_fresh(struct agent_link *a)
{
	uint8_t entropy[AGENT_ENTROPY_LEN], clock[AGENT_CLOCK_LEN];
	struct timespec ts;
	uint64_t sec;

	if (getrandom(entropy, sizeof(entropy), 0) == (ssize_t)sizeof(entropy))
		proto_put(&a->w, F_ENTROPY, entropy, sizeof(entropy));
	explicit_bzero(entropy, sizeof(entropy));
	clock_gettime(CLOCK_REALTIME, &ts);
	sec = (uint64_t)ts.tv_sec;
	for (int i = 0; i < 8; i++)
		clock[i] = (uint8_t)(sec >> (8 * i));
	for (int i = 0; i < 4; i++)
		clock[8 + i] = (uint8_t)((uint32_t)ts.tv_nsec >> (8 * i));
	proto_put(&a->w, F_CLOCK, clock, sizeof(clock));
}

void agent_link_drop(struct agent_link *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	a->rb.len = a->rb.pending = 0;
}

int agent_link_freeze(struct agent_link *a, struct pupa_err *err)
{
	struct proto_msg m;
	int ret;

	proto_begin(&a->w, PROTO_FREEZE);
	if (agent__send(a) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot send FREEZE to pupa-init");
	ret = agent__expect(a, PROTO_FROZEN, "answer FREEZE", &m, err);
	agent_link_drop(a);
	return ret;
}

int agent_link_hello(struct agent_link *a, struct pupa_err *err)
{
	struct proto_msg m;
	uint32_t version = 0, resumed = 0;
	int ret;

	/* Non-blocking, so that a send to a guest that stops reading keeps
	 * its deadline. */
	a->fd = accept4(a->listen_fd[0], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (a->fd < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "accepting pupa-init: %s",
			       strerror(errno));
	ret = agent__expect(a, PROTO_HELLO, "say HELLO", &m, err);
	if (ret < 0)
		return ret;
	if (proto_get_u32(&m, F_VERSION, &version) < 0 || version != AGENT_PROTO_VERSION)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "pupa-init speaks protocol version %u, pupa %u: install matching versions",
			       version, AGENT_PROTO_VERSION);
	proto_get_u32(&m, F_RESUMED, &resumed);
	a->resumed = resumed == 1;
	return 0;
}

int agent_link_attach(struct agent_link *a, const char *serial, uint32_t mount_mode,
		      struct pupa_err *err)
{
	struct proto_msg m;

	proto_begin(&a->w, PROTO_ATTACHED);
	proto_put_str(&a->w, F_SERIAL, serial);
	proto_put_u32(&a->w, F_MOUNT_MODE, mount_mode);
	if (agent__send(a) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "pupa-init does not take the root disk's message");
	return agent__expect(a, PROTO_ACK, "acknowledge the root disk", &m, err);
}

/* The network pupa-init sets up in the container's namespace. */
static void agent__put_net(struct agent_link *a, const struct net_opts *n)
{
	for (unsigned int i = 0; i < n->nr_hosts; i++)
		proto_put_str(&a->w, F_ADD_HOST, n->hosts[i]);
	if (n->mode == NET_MODE_NONE)
		return;
	proto_put_u32(&a->w, F_NET, 1);
	proto_put_str(&a->w, F_NET_ADDRESS, NET_GUEST_ADDRESS);
	proto_put_str(&a->w, F_NET_GATEWAY, NET_GATEWAY);
	proto_put_u32(&a->w, F_NET_MTU, NET_MTU);
	for (unsigned int i = 0; i < n->nr_dns; i++)
		proto_put_str(&a->w, F_DNS, n->dns[i]);
	if (n->nr_dns == 0)
		proto_put_str(&a->w, F_DNS, NET_DNS);
}

static int agent__send_start(struct agent_link *a, const struct agent_command *cmd)
{
	struct winsize ws = { 0 };

	proto_begin(&a->w, PROTO_START);
	for (char **p = cmd->argv; *p; p++)
		proto_put_str(&a->w, F_ARG, *p);
	for (char **p = cmd->env; p && *p; p++)
		proto_put_str(&a->w, F_ENV, *p);
	if (cmd->user)
		proto_put_str(&a->w, F_USER, cmd->user);
	if (cmd->cwd)
		proto_put_str(&a->w, F_CWD, cmd->cwd);
	if (cmd->hostname)
		proto_put_str(&a->w, F_HOSTNAME, cmd->hostname);
	proto_put_u32(&a->w, F_TTY, (uint32_t)cmd->tty);
	if (cmd->tty && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row) {
		proto_put_u32(&a->w, F_ROWS, ws.ws_row);
		proto_put_u32(&a->w, F_COLS, ws.ws_col);
	}
	if (cmd->net)
		agent__put_net(a, cmd->net);
	for (unsigned int i = 0; cmd->vol && i < cmd->vol->n; i++) {
		char field[16 + VOLUME_TARGET_MAX];

		volume_field(cmd->vol, i, field, sizeof(field));
		proto_put_str(&a->w, F_VOLUME, field);
	}
	agent__put_fresh(a);
	proto_put_u32(&a->w, F_STDIN_PORT, cmd->interactive ? a->port + 1 : 0);
	proto_put_u32(&a->w, F_STDOUT_PORT, a->port + 2);
	proto_put_u32(&a->w, F_STDERR_PORT, a->port + 3);
	return agent__send(a);
}

static void agent__send_u32(struct agent_link *a, uint16_t type, uint16_t tag, uint32_t v,
			    uint16_t tag2, uint32_t v2)
{
	proto_begin(&a->w, type);
	proto_put_u32(&a->w, tag, v);
	if (tag2)
		proto_put_u32(&a->w, tag2, v2);
	agent__send(a);
}

/*
 * The relay's state: one handler per channel on an event loop. Each round
 * registers exactly the channels the state wants read or written (the
 * agent's control stream; a stdio listener until the guest connects to it;
 * the guest's stdout and stderr once the container runs; this process's
 * stdin, or the guest's stdin stream while a chunk of it waits).
 */
struct agent_run {
	struct agent_link *a;
	const struct agent_command *cmd;
	const struct agent_hooks *h;
	struct pupa_err *err;
	struct event_loop loop;
	struct ev_handler ctl_h, listen_h[3], out_h[3], in_h, feed_h;
	int sock[3];			/* guest's stdin, stdout, stderr streams */
	int open[3];
	char inbuf[65536];
	size_t in_len, in_off;
	int local_in_open;
	int in_always;			/* stdin cannot be watched (a file): always ready */
	int started, exited, code;
	long exit_at;
	int failed;			/* a handler set err: the run ends */
	struct termios saved;
	int raw;
};

static void agent__raw(struct agent_run *r, const struct agent_command *cmd)
{
	struct termios t;

	if (!cmd->tty || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &r->saved) < 0)
		return;
	t = r->saved;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0)
		r->raw = 1;
}

/* Copy a stream to a local descriptor; 0 at its end. */
static int agent__pump_out(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n <= 0)
		return 0;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return 1;	/* nobody reads our output: drop it, keep going */
		off += w;
	}
	return 1;
}

/* Messages from the agent: STARTED, EXIT (or ERROR). */
static int agent__control(struct agent_link *a, struct agent_run *r, const struct agent_hooks *h,
			  struct pupa_err *err)
{
	struct proto_msg m;
	long n = proto_rbuf_read(&a->rb, a->fd);
	char why[64];
	int ret;

	if (n == -EAGAIN)
		return 1;	/* readable, then not: poll again */
	if (n <= 0)
		return r->exited ? 0 : mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
					      "pupa-init went away without an exit status");
	while ((ret = proto_rbuf_next(&a->rb, &m)) == 0) {
		char msg[AGENT_MAX_STR] = "";
		uint32_t v;

		proto_get_str(&m, F_MESSAGE, msg, sizeof(msg));
		if (m.type == PROTO_STARTED && !r->started) {
			r->started = 1;
			if (h->started)
				h->started(h->opaque);
		} else if (m.type == PROTO_EXIT && !r->exited) {
			if (proto_get_u32(&m, F_EXIT_SIGNAL, &v) == 0 && v > 0 && v < 128)
				r->code = 128 + (int)v;
			else if (proto_get_u32(&m, F_EXIT_CODE, &v) == 0 && v < 256)
				r->code = (int)v;
			else
				r->code = EXIT_RUNTIME_FAILURE;
			if (!r->started)
				mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "%s",
					msg[0] ? msg : "the command did not start");
			r->exited = 1;
			r->exit_at = agent__ms();
			proto_begin(&a->w, PROTO_ACK);
			agent__send(a);
		} else if (m.type == PROTO_ERROR) {
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "pupa-init: %s", msg);
		}
	}
	/* A frame that can never parse would sit in front of every later one. */
	if (ret != -EAGAIN)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "pupa-init broke the protocol: %s",
			       agent__why(a, ret, why, sizeof(why)));
	return 1;
}

/* The agent's control stream. */
static void agent__on_control(struct ev_handler *eh, uint32_t events)
{
	struct agent_run *r = eh->ctx;
	int ret = agent__control(r->a, r, r->h, r->err);

	(void)events;
	if (ret < 0) {
		r->failed = 1;
		return;
	}
	if (ret == 0) {	/* it rebooted after our ACK */
		ev_loop__del(&r->loop, &r->ctl_h);
		close(r->a->fd);
		r->a->fd = -1;
	}
	if (r->started && !r->raw && r->cmd->tty)
		agent__raw(r, r->cmd);
}

/* A stdio listener: the guest connects its stream i. */
static void agent__on_listen(struct ev_handler *eh, uint32_t events)
{
	struct agent_run *r = eh->ctx;
	int i = (int)(eh - r->listen_h);
	int fd;

	(void)events;
	if (r->sock[i] >= 0)
		return;
	fd = accept4(r->a->listen_fd[i + 1], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd >= 0) {
		r->sock[i] = fd;
		r->open[i] = 1;
	}
}

/* The guest's stdout or stderr, to ours. */
static void agent__on_output(struct ev_handler *eh, uint32_t events)
{
	struct agent_run *r = eh->ctx;
	int i = (int)(eh - r->out_h);

	(void)events;
	if (r->open[i] && !agent__pump_out(r->sock[i], i == 1 ? STDOUT_FILENO : STDERR_FILENO))
		r->open[i] = 0;
}

/* Our stdin: a chunk for the guest's stdin stream. */
static void agent__on_stdin(struct ev_handler *eh, uint32_t events)
{
	struct agent_run *r = eh->ctx;
	ssize_t n;

	(void)events;
	if (r->in_len || !r->local_in_open)
		return;
	n = read(STDIN_FILENO, r->inbuf, sizeof(r->inbuf));
	if (n > 0) {
		r->in_len = (size_t)n;
		r->in_off = 0;
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		r->local_in_open = 0;
		shutdown(r->sock[0], SHUT_WR);
	}
}

/* The guest's stdin stream can take more of the chunk. */
static void agent__on_feed(struct ev_handler *eh, uint32_t events)
{
	struct agent_run *r = eh->ctx;
	ssize_t n;

	(void)events;
	if (!r->in_len || !r->open[0])
		return;
	n = write(r->sock[0], r->inbuf + r->in_off, r->in_len - r->in_off);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		r->open[0] = 0;
		r->in_len = 0;
	} else if (n > 0 && (r->in_off += (size_t)n) == r->in_len) {
		r->in_len = 0;
	}
}

/* Have h watch fd (for its one kind of event) exactly when want. */
static int agent__watch(struct agent_run *r, struct ev_handler *h, int fd, int want,
			uint32_t events)
{
	if (!want || fd < 0) {
		if (h->events)
			ev_loop__del(&r->loop, h);
		return 0;
	}
	if (h->events)
		return 0;
	h->fd = fd;
	return ev_loop__add(&r->loop, h, events);
}

/* Register what this round's state wants; 1 when stdin is to be read now
 * without waiting (a file, which epoll cannot watch and poll calls ready). */
static int agent__sync(struct agent_run *r)
{
	struct agent_link *a = r->a;
	int feed = r->sock[0] >= 0 && r->open[0];
	int want_in = feed && !r->in_len && r->local_in_open && r->started;

	agent__watch(r, &r->ctl_h, a->fd, a->fd >= 0, EPOLLIN);
	for (int i = 0; i < 3; i++)
		agent__watch(r, &r->listen_h[i], a->listen_fd[i + 1], r->sock[i] < 0, EPOLLIN);
	for (int i = 1; i < 3; i++)
		agent__watch(r, &r->out_h[i], r->sock[i], r->started && r->open[i], EPOLLIN);
	agent__watch(r, &r->feed_h, r->sock[0], feed && r->in_len, EPOLLOUT);
	if (!r->in_always && agent__watch(r, &r->in_h, STDIN_FILENO, want_in, EPOLLIN) == -EPERM)
		r->in_always = 1;
	return r->in_always && want_in;
}

static void agent__run_init(struct agent_run *r)
{
	r->ctl_h = (struct ev_handler){ .fd = -1, .fn = agent__on_control, .ctx = r };
	for (int i = 0; i < 3; i++) {
		r->sock[i] = -1;
		r->listen_h[i] = (struct ev_handler){ .fd = -1, .fn = agent__on_listen, .ctx = r };
		r->out_h[i] = (struct ev_handler){ .fd = -1, .fn = agent__on_output, .ctx = r };
	}
	r->in_h = (struct ev_handler){ .fd = -1, .fn = agent__on_stdin, .ctx = r };
	r->feed_h = (struct ev_handler){ .fd = -1, .fn = agent__on_feed, .ctx = r };
}

/* Unregister everything (before any descriptor closes), and close. */
static void agent__run_end(struct agent_run *r)
{
	struct ev_handler *all[] = { &r->ctl_h, &r->listen_h[0], &r->listen_h[1], &r->listen_h[2],
				     &r->out_h[1], &r->out_h[2], &r->in_h, &r->feed_h };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i]->events)
			ev_loop__del(&r->loop, all[i]);
	ev_loop__destroy(&r->loop);
	if (r->raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &r->saved);
	for (int i = 0; i < 3; i++)
		if (r->sock[i] >= 0)
			close(r->sock[i]);
}

/*
 * One round's checks before the wait: the command's end, the deadlines,
 * pupa-vmm, signals, the window size. 1 to go on; 0 with *result set to
 * end the run.
 */
static int agent__round(struct agent_run *r, long start_at, long *term_at, long *last_signal,
			int *result, int *code)
{
	const struct agent_hooks *h = r->h;
	long now = agent__ms();
	char why[64];

	if (r->exited && ((!r->open[1] && !r->open[2]) || now - r->exit_at > AGENT_DRAIN_MS ||
			  !r->started)) {
		*result = r->started ? AGENT_RUN_EXITED : AGENT_RUN_NOT_STARTED;
		*code = r->code;
		return 0;
	}
	/* STARTED (or EXIT) has the same deadline as any answer. */
	if (!r->started && !r->exited && now - start_at > r->a->reply_ms) {
		mgr_err(r->err, GUEST_MANAGER_ERR_START_FAILURE, "pupa-init did not answer START: %s",
			agent__why(r->a, -ETIMEDOUT, why, sizeof(why)));
		return 0;
	}
	if (h->vmm_gone && h->vmm_gone(h->opaque) && !r->exited) {
		mgr_err(r->err, GUEST_MANAGER_ERR_START_FAILURE, "pupa-vmm ended");
		return 0;
	}
	if (h->deadline_ms && now >= h->deadline_ms && !r->exited) {
		if (!*term_at) {
			agent__send_u32(r->a, PROTO_SIGNAL, F_SIGNO, SIGTERM, 0, 0);
			*term_at = now;
		} else if (now - *term_at > AGENT_SIGNAL_GRACE_MS) {
			*result = AGENT_RUN_TIMEOUT;
			return 0;
		}
	}
	if (h->signal && *h->signal) {
		int sig = *h->signal;

		*h->signal = 0;
		if (!r->started) {
			mgr_err(r->err, GUEST_MANAGER_ERR_START_FAILURE, "interrupted");
			*code = 128 + sig;
			*result = AGENT_RUN_INTERRUPTED;
			return 0;
		}
		/* A second Ctrl-C within a second: stop it now. */
		if (now - *last_signal < 1000 && h->force_stop && h->force_stop(h->opaque)) {
			*code = 128 + sig;
			*result = AGENT_RUN_EXITED;
			return 0;
		}
		*last_signal = now;
		agent__send_u32(r->a, PROTO_SIGNAL, F_SIGNO, (uint32_t)sig, 0, 0);
	}
	if (h->winch && *h->winch && r->started && r->cmd->tty) {
		struct winsize ws;

		*h->winch = 0;
		if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
			agent__send_u32(r->a, PROTO_WINSIZE, F_ROWS, ws.ws_row, F_COLS, ws.ws_col);
	}
	return 1;
}

int agent_link_run(struct agent_link *a, const struct agent_command *cmd,
		   const struct agent_hooks *h, int *code, struct pupa_err *err)
{
	struct agent_run r = { .a = a, .cmd = cmd, .h = h, .err = err,
			       .local_in_open = cmd->interactive };
	long last_signal = -100000, term_at = 0, start_at;
	int result = AGENT_RUN_LOST, ret;
	char why[64];

	*code = EXIT_RUNTIME_FAILURE;
	agent__run_init(&r);
	ret = agent__send_start(a, cmd);
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "pupa-init did not take START: %s",
			       agent__why(a, ret, why, sizeof(why))),
		       AGENT_RUN_LOST;
	ret = ev_loop__init(&r.loop);
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "epoll: %s", strerror(-ret)),
		       AGENT_RUN_LOST;
	start_at = agent__ms();
	while (agent__round(&r, start_at, &term_at, &last_signal, &result, code)) {
		int read_now = agent__sync(&r);

		ret = ev_loop__run_once(&r.loop, read_now ? 0 : 100);
		if (ret < 0) {
			mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "epoll: %s", strerror(-ret));
			break;
		}
		if (read_now)
			agent__on_stdin(&r.in_h, EPOLLIN);
		if (r.failed)
			break;
	}
	agent__run_end(&r);
	return result;
}

void agent_link_close(struct agent_link *a)
{
	char path[4300];

	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	for (int i = 0; i < 4; i++) {
		if (a->listen_fd[i] < 0)
			continue;
		close(a->listen_fd[i]);
		a->listen_fd[i] = -1;
		snprintf(path, sizeof(path), "%s_%u", a->uds, a->port + i);
		unlink(path);
	}
}
