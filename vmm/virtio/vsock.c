#include "vsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../unix_socket.h"

#define VSOCK_QUEUE_SIZE	256
#define VSOCK_RX		0
#define VSOCK_TX		1
#define VSOCK_EVENT		2
#define VSOCK_CONNECT_LINE	64
#define VSOCK_FIRST_HOST_PORT	(1u << 30)

#define PEND_REQUEST	1
#define PEND_RESPONSE	2
#define PEND_CREDIT	4
#define PEND_SHUTDOWN	8

enum conn_state { CONN_HOST_CONNECT, CONN_REQUESTED, CONN_ESTABLISHED };

struct vsock_conn {
	struct ev_handler h;
	struct virtio_vsock *vs;
	enum conn_state state;
	uint32_t local_port;		/* ours, on CID 2 */
	uint32_t peer_port;		/* the guest's */
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;	/* host -> guest credit */
	uint32_t fwd_cnt, fwd_told;	/* guest -> host progress */
	uint8_t *buf;			/* guest bytes the host has not taken yet */
	size_t buf_len;
	char ok_line[24];		/* "OK <port>\n" still to write */
	size_t ok_len;
	unsigned int pending;
	uint32_t shutdown_flags;
	int host_eof, guest_no_send, guest_no_rcv, wr_shut, closing, dead;
	int hup;			/* the host closed both ways: out of epoll */
	struct vsock_conn *next;
};

static struct virtio_vsock *to_vs(struct virtio_dev *v) { return v->priv; }

static void wake_main(struct virtio_vsock *vs)
{
	uint64_t one = 1;

	if (write(vs->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is already non-zero: the loop will wake */
	}
}

static uint32_t credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void update_events(struct vsock_conn *c)
{
	struct virtio_vsock *vs = c->vs;
	uint32_t ev = 0;

	if (c->dead || c->hup)
		return;
	if (c->state == CONN_HOST_CONNECT)
		ev |= EPOLLIN;
	/* Host input only while the guest can take it: a starved or broken
	 * receive queue would leave a readable socket we cannot serve, and
	 * the loop would spin on it. */
	if (c->state == CONN_ESTABLISHED && !c->host_eof && !c->guest_no_rcv && !c->closing &&
	    credit(c) > 0 && !vs->rx_starved && virtio_dev__running(&vs->vdev))
		ev |= EPOLLIN;
	if (c->buf_len || c->ok_len)
		ev |= EPOLLOUT;
	ev_loop__mod(vs->loop, &c->h, ev);
}

static void queue_reply(struct virtio_vsock *vs, const struct vsock_hdr *to, uint16_t op)
{
	struct vsock_hdr *r;

	if (vs->nr_replies == VSOCK_MAX_REPLIES)
		return;	/* the guest is flooding us; it will time out instead */
	r = &vs->replies[vs->nr_replies++];
	memset(r, 0, sizeof(*r));
	r->src_cid = VSOCK_HOST_CID;
	r->dst_cid = vs->guest_cid;
	r->src_port = to->dst_port;
	r->dst_port = to->src_port;
	r->type = VSOCK_TYPE_STREAM;
	r->op = op;
}

/* End a connection; free it later (reap), on the main thread. */
static void conn_kill(struct vsock_conn *c, int send_rst)
{
	struct vsock_hdr h = { .src_port = c->peer_port, .dst_port = c->local_port };

	if (c->dead)
		return;
	if (send_rst && c->state != CONN_HOST_CONNECT)
		queue_reply(c->vs, &h, VSOCK_OP_RST);
	c->dead = 1;
	ev_loop__del(c->vs->loop, &c->h);
	wake_main(c->vs);
}

static void fill_hdr(struct vsock_conn *c, struct vsock_hdr *h, uint16_t op, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = c->vs->guest_cid;
	h->src_port = c->local_port;
	h->dst_port = c->peer_port;
	h->len = len;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	h->buf_alloc = VSOCK_CONN_BUF;
	h->fwd_cnt = c->fwd_cnt;
	c->fwd_told = c->fwd_cnt;
}

/*
 * Take a receive buffer for a packet. -EAGAIN when the guest has none (we
 * wait for its notification); -EINVAL when the chain cannot hold a header.
 */
static int rx_take(struct virtio_vsock *vs)
{
	struct virtqueue *vq = &vs->vdev.vq[VSOCK_RX];
	int ret = virtq_pop(vq, &vs->chain);

	if (ret == VIRTQ_EMPTY) {
		vs->rx_starved = 1;
		return -EAGAIN;
	}
	if (ret < 0) {
		virtio_dev__needs_reset(&vs->vdev, virtq_strerror(ret));
		return -EINVAL;
	}
	if (vs->chain.nr_out || vs->chain.in_len < sizeof(struct vsock_hdr)) {
		virtio_dev__needs_reset(&vs->vdev, "receive buffer smaller than a packet header");
		return -EINVAL;
	}
	return 0;
}

static int rx_put_hdr(struct virtio_vsock *vs, const struct vsock_hdr *h)
{
	int ret = rx_take(vs);

	if (ret < 0)
		return ret;
	virtq_iov_write(vs->chain.in, vs->chain.nr_in, 0, h, sizeof(*h));
	virtq_push(&vs->vdev.vq[VSOCK_RX], vs->chain.head, sizeof(*h));
	return 0;
}

/* Control packets: stand-alone replies first, then each connection's. */
static int flush_control(struct virtio_vsock *vs)
{
	int pushed = 0;

	while (vs->nr_replies && virtio_dev__running(&vs->vdev)) {
		if (rx_put_hdr(vs, &vs->replies[0]) < 0)
			return pushed;
		memmove(&vs->replies[0], &vs->replies[1], --vs->nr_replies * sizeof(vs->replies[0]));
		pushed = 1;
	}
	for (struct vsock_conn *c = vs->conns; c; c = c->next) {
		static const struct { unsigned int bit; uint16_t op; } order[] = {
			{ PEND_REQUEST, VSOCK_OP_REQUEST }, { PEND_RESPONSE, VSOCK_OP_RESPONSE },
			{ PEND_CREDIT, VSOCK_OP_CREDIT_UPDATE }, { PEND_SHUTDOWN, VSOCK_OP_SHUTDOWN },
		};

		for (unsigned int i = 0; i < 4 && !c->dead; i++) {
			struct vsock_hdr h;

			if (!(c->pending & order[i].bit))
				continue;
			fill_hdr(c, &h, order[i].op, 0);
			if (order[i].op == VSOCK_OP_SHUTDOWN)
				h.flags = c->shutdown_flags;
			if (rx_put_hdr(vs, &h) < 0)
				return pushed;
			c->pending &= ~order[i].bit;
			pushed = 1;
		}
	}
	return pushed;
}

static void signal_rx(struct virtio_vsock *vs, int pushed)
{
	if (pushed && virtq_should_notify(&vs->vdev.vq[VSOCK_RX]))
		virtio_dev__signal(&vs->vdev, VIRTIO_INT_USED);
}

/* Host -> guest: as much as the guest's credit and buffers allow. */
static int read_host(struct vsock_conn *c)
{
	struct virtio_vsock *vs = c->vs;
	int pushed = 0;

	while (!c->dead && c->state == CONN_ESTABLISHED && !c->host_eof && !c->guest_no_rcv &&
	       !c->closing && credit(c) > 0) {
		struct iovec iov[VIRTQ_MAX_CHAIN];
		struct vsock_hdr h;
		unsigned int n = 0;
		size_t room, skip = sizeof(h), want;
		ssize_t got;
		int avail = 0;

		if (ioctl(c->h.fd, FIONREAD, &avail) < 0 || avail == 0) {
			char b;

			got = recv(c->h.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (got < 0) {
				conn_kill(c, 1);
				break;
			}
			if (got == 0) {	/* EOF: the host will send no more */
				c->host_eof = 1;
				c->shutdown_flags |= VSOCK_SHUTDOWN_SEND;
				c->pending |= PEND_SHUTDOWN;
				if (c->guest_no_send && !c->buf_len) {
					conn_kill(c, 1);
				}
				break;
			}
		}
		if (rx_take(vs) < 0)
			break;
		room = vs->chain.in_len - sizeof(h);
		want = credit(c);
		if (want > room)
			want = room;
		/* Scatter straight into the guest's buffers, after the header. */
		for (unsigned int i = 0; i < vs->chain.nr_in && want; i++) {
			struct virtq_iov *v = &vs->chain.in[i];
			size_t off = skip < v->len ? skip : v->len, len = v->len - off;

			skip -= off;
			if (!len)
				continue;
			if (len > want)
				len = want;
			iov[n++] = (struct iovec){ v->base + off, len };
			want -= len;
		}
		got = n ? readv(c->h.fd, iov, (int)n) : 0;
		if (got <= 0) {
			vs->vdev.vq[VSOCK_RX].last_avail--;	/* not used: give it back */
			if (got < 0 && errno != EAGAIN && errno != EINTR)
				conn_kill(c, 1);
			break;
		}
		fill_hdr(c, &h, VSOCK_OP_RW, (uint32_t)got);
		virtq_iov_write(vs->chain.in, vs->chain.nr_in, 0, &h, sizeof(h));
		virtq_push(&vs->vdev.vq[VSOCK_RX], vs->chain.head, (uint32_t)(sizeof(h) + got));
		c->tx_cnt += (uint32_t)got;
		pushed = 1;
	}
	return pushed;
}

/*
 * Send from the front of buf what the host socket takes now; returns the
 * bytes sent, or -1 after killing a connection whose host end is gone.
 */
static long send_front(struct vsock_conn *c, void *buf, size_t *len)
{
	long sent = 0;

	while (*len) {
		ssize_t n = send(c->h.fd, buf, *len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_kill(c, 1);
			return -1;
		}
		memmove(buf, (char *)buf + n, *len - (size_t)n);
		*len -= (size_t)n;
		sent += n;
	}
	return sent;
}

/* Guest -> host: write what the host socket takes; credit flows back. */
static void flush_host(struct vsock_conn *c)
{
	long n;

	if (send_front(c, c->ok_line, &c->ok_len) < 0 || c->ok_len)
		return;	/* the OK line goes first, whole */
	n = send_front(c, c->buf, &c->buf_len);
	if (n < 0)
		return;
	c->fwd_cnt += (uint32_t)n;
	if (c->fwd_cnt - c->fwd_told >= VSOCK_CONN_BUF / 4)
		c->pending |= PEND_CREDIT;
	if (!c->buf_len) {
		if (c->closing || (c->guest_no_send && c->host_eof)) {
			conn_kill(c, 0);
			return;
		}
		if (c->guest_no_send && !c->wr_shut) {
			shutdown(c->h.fd, SHUT_WR);
			c->wr_shut = 1;
		}
	}
}

static struct vsock_conn *find_conn(struct virtio_vsock *vs, uint32_t local, uint32_t peer)
{
	for (struct vsock_conn *c = vs->conns; c; c = c->next)
		if (!c->dead && c->state != CONN_HOST_CONNECT && c->local_port == local &&
		    c->peer_port == peer)
			return c;
	return NULL;
}

static void on_conn(struct ev_handler *h, uint32_t events);

static struct vsock_conn *conn_new(struct virtio_vsock *vs, int fd, enum conn_state state)
{
	struct vsock_conn *c;

	if (vs->nr_conns >= VSOCK_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return NULL;
	}
	c->buf = malloc(VSOCK_CONN_BUF);
	if (!c->buf) {
		free(c);
		close(fd);
		return NULL;
	}
	c->vs = vs;
	c->state = state;
	c->h = (struct ev_handler){ .fd = fd, .fn = on_conn, .ctx = c };
	if (ev_loop__add(vs->loop, &c->h, state == CONN_HOST_CONNECT ? EPOLLIN : 0) < 0) {
		free(c->buf);
		free(c);
		close(fd);
		return NULL;
	}
	c->next = vs->conns;
	vs->conns = c;
	vs->nr_conns++;
	return c;
}

/* A guest REQUEST: connect to PATH_<port> on its behalf. */
static void guest_connect(struct virtio_vsock *vs, const struct vsock_hdr *h)
{
	char path[128];
	struct vsock_conn *c;
	int fd;

	snprintf(path, sizeof(path), "%s_%u", vs->uds_path, h->dst_port);
	fd = unix_socket__connect(path);
	if (fd < 0) {
		queue_reply(vs, h, VSOCK_OP_RST);
		return;
	}
	c = conn_new(vs, fd, CONN_ESTABLISHED);
	if (!c) {
		queue_reply(vs, h, VSOCK_OP_RST);
		return;
	}
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending |= PEND_RESPONSE;
	update_events(c);
}

/* One packet from the guest; payload bytes start after the header. */
static void handle_packet(struct virtio_vsock *vs, const struct vsock_hdr *h)
{
	struct vsock_conn *c;
	const struct virtq_chain *ch = &vs->chain;

	if (h->src_cid != vs->guest_cid || h->dst_cid != VSOCK_HOST_CID)
		return;	/* not from our guest, or not for the host: dropped */
	if (h->type != VSOCK_TYPE_STREAM) {
		if (h->op != VSOCK_OP_RST)
			queue_reply(vs, h, VSOCK_OP_RST);
		return;
	}
	c = find_conn(vs, h->dst_port, h->src_port);
	if (h->op == VSOCK_OP_REQUEST) {
		if (c)
			conn_kill(c, 1);
		else
			guest_connect(vs, h);
		return;
	}
	if (!c) {
		if (h->op != VSOCK_OP_RST)
			queue_reply(vs, h, VSOCK_OP_RST);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;

	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		if (c->state != CONN_REQUESTED) {
			conn_kill(c, 1);
			break;
		}
		c->state = CONN_ESTABLISHED;
		c->ok_len = (size_t)snprintf(c->ok_line, sizeof(c->ok_line), "OK %u\n", c->local_port);
		flush_host(c);
		break;
	case VSOCK_OP_RW:
		if (c->state != CONN_ESTABLISHED || c->guest_no_send ||
		    h->len > VSOCK_CONN_BUF - c->buf_len) {
			conn_kill(c, 1);	/* data it had no credit for: a broken peer */
			break;
		}
		virtq_iov_read(ch->out, ch->nr_out, sizeof(*h), c->buf + c->buf_len, h->len);
		c->buf_len += h->len;
		flush_host(c);
		break;
	case VSOCK_OP_SHUTDOWN:
		if (h->flags & VSOCK_SHUTDOWN_RCV)
			c->guest_no_rcv = 1;
		if (h->flags & VSOCK_SHUTDOWN_SEND)
			c->guest_no_send = 1;
		if (c->guest_no_rcv && c->guest_no_send) {
			/* A full close: acknowledge with RST, finish delivering, then close. */
			struct vsock_hdr r = { .src_port = c->peer_port, .dst_port = c->local_port };

			queue_reply(vs, &r, VSOCK_OP_RST);
			c->closing = 1;
		}
		flush_host(c);
		break;
	case VSOCK_OP_RST:
		conn_kill(c, 0);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= PEND_CREDIT;
		break;
	default:
		conn_kill(c, 1);
		break;
	}
	update_events(c);
}

static void process_tx(struct virtio_vsock *vs)
{
	struct virtqueue *vq = &vs->vdev.vq[VSOCK_TX];
	int ret, pushed = 0;

	while ((ret = virtq_pop(vq, &vs->chain)) == VIRTQ_OK) {
		struct vsock_hdr h;

		/* A packet must hold its header and the payload it claims. */
		if (vs->chain.out_len >= sizeof(h)) {
			virtq_iov_read(vs->chain.out, vs->chain.nr_out, 0, &h, sizeof(h));
			if (h.len <= vs->chain.out_len - sizeof(h) && h.len <= VSOCK_CONN_BUF)
				handle_packet(vs, &h);
		}
		virtq_push(vq, vs->chain.head, 0);
		pushed = 1;
	}
	if (ret < 0)
		virtio_dev__needs_reset(&vs->vdev, virtq_strerror(ret));
	if (pushed && virtq_should_notify(vq))
		virtio_dev__signal(&vs->vdev, VIRTIO_INT_USED);
}

/* Called with the lock held after anything that may have produced packets. */
static void pump(struct virtio_vsock *vs)
{
	int pushed = flush_control(vs);

	signal_rx(vs, pushed);
}

static void vsock_queue_notify(struct virtio_dev *v, unsigned int q)
{
	struct virtio_vsock *vs = to_vs(v);

	if (q == VSOCK_TX)
		process_tx(vs);
	if (q == VSOCK_RX || q == VSOCK_TX) {
		int pushed = 0;

		vs->rx_starved = 0;
		pump(vs);
		for (struct vsock_conn *c = vs->conns; c; c = c->next) {
			if (c->hup && !c->host_eof && !c->dead)
				pushed |= read_host(c);	/* epoll no longer tells us */
			update_events(c);
		}
		pushed |= flush_control(vs);
		signal_rx(vs, pushed);
	}
}

/* --- host side ------------------------------------------------------------------ */

static void host_connect_line(struct vsock_conn *c)
{
	struct virtio_vsock *vs = c->vs;
	char line[VSOCK_CONNECT_LINE + 1];
	ssize_t n = recv(c->h.fd, line, VSOCK_CONNECT_LINE, MSG_PEEK | MSG_DONTWAIT);
	char *nl, *end;
	unsigned long port;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_kill(c, 0);
		return;
	}
	line[n] = '\0';
	nl = memchr(line, '\n', (size_t)n);
	if (!nl) {
		if (n == VSOCK_CONNECT_LINE)
			conn_kill(c, 0);	/* no command fits in that: not a vsock client */
		return;
	}
	if (recv(c->h.fd, line, (size_t)(nl - line + 1), MSG_DONTWAIT) != nl - line + 1) {
		conn_kill(c, 0);
		return;
	}
	*nl = '\0';
	if (strncmp(line, "CONNECT ", 8) != 0) {
		conn_kill(c, 0);
		return;
	}
	errno = 0;
	port = strtoul(line + 8, &end, 10);
	if (errno || end == line + 8 || (*end && *end != '\r') || port > 0xffffffffUL) {
		conn_kill(c, 0);
		return;
	}
	do {
		c->local_port = vs->next_port++;
		if (vs->next_port == 0)
			vs->next_port = VSOCK_FIRST_HOST_PORT;
	} while (find_conn(vs, c->local_port, (uint32_t)port));
	c->peer_port = (uint32_t)port;
	c->state = CONN_REQUESTED;
	c->pending |= PEND_REQUEST;
}

static void on_conn(struct ev_handler *h, uint32_t events)
{
	struct vsock_conn *c = h->ctx;
	struct virtio_vsock *vs = c->vs;
	int pushed = 0;

	pthread_mutex_lock(&vs->vdev.lock);
	if (c->dead) {
		pthread_mutex_unlock(&vs->vdev.lock);
		return;
	}
	if (c->state == CONN_HOST_CONNECT) {
		host_connect_line(c);
	} else {
		if (events & EPOLLOUT)
			flush_host(c);
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			pushed = read_host(c);
		if ((events & EPOLLERR) && !c->dead)
			conn_kill(c, 1);
		/*
		 * A hung-up socket stays readable for epoll whatever we ask;
		 * once its last bytes are read, stop listening to it, or the
		 * loop would spin. What the socket still holds is read as the
		 * guest makes room (vsock_queue_notify); its SHUTDOWN or RST
		 * ends the connection.
		 */
		if ((events & EPOLLHUP) && !c->dead && !c->buf_len && !c->ok_len) {
			ev_loop__del(vs->loop, &c->h);
			c->hup = 1;
		}
	}
	pushed |= flush_control(vs);
	signal_rx(vs, pushed);
	update_events(c);
	pthread_mutex_unlock(&vs->vdev.lock);
}

static void on_accept(struct ev_handler *h, uint32_t events)
{
	struct virtio_vsock *vs = h->ctx;

	for (;;) {
		int fd = accept4(vs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		pthread_mutex_lock(&vs->vdev.lock);
		conn_new(vs, fd, CONN_HOST_CONNECT);
		pthread_mutex_unlock(&vs->vdev.lock);
	}
}

static void on_wake(struct ev_handler *h, uint32_t events)
{
	uint64_t v;

	if (read(h->fd, &v, sizeof(v)) < 0) {
		/* nothing pending */
	}
	/* Dead connections are freed by virtio_vsock__reap after this round. */
}

void virtio_vsock__reap(struct virtio_vsock *vs)
{
	struct vsock_conn **pp;

	pthread_mutex_lock(&vs->vdev.lock);
	for (pp = &vs->conns; *pp;) {
		struct vsock_conn *c = *pp;

		if (!c->dead) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		close(c->h.fd);
		free(c->buf);
		free(c);
		vs->nr_conns--;
	}
	pthread_mutex_unlock(&vs->vdev.lock);
}

/* --- device ----------------------------------------------------------------------- */

static uint64_t vsock_features(struct virtio_dev *v) { return 0; }
static uint32_t vsock_config_size(struct virtio_dev *v) { return 8; }

static void vsock_config_read(struct virtio_dev *v, uint32_t off, void *data, uint32_t len)
{
	uint64_t cid = to_vs(v)->guest_cid;

	memcpy(data, (uint8_t *)&cid + off, len);
}

/* A driver reset ends every connection: the guest forgot them. */
static void vsock_reset(struct virtio_dev *v)
{
	struct virtio_vsock *vs = to_vs(v);

	for (struct vsock_conn *c = vs->conns; c; c = c->next)
		conn_kill(c, 0);
	vs->nr_replies = 0;
	vs->rx_starved = 0;
}

const struct virtio_dev_ops virtio_vsock_ops = {
	.name = "vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.nr_queues = 3,
	.queue_max = VSOCK_QUEUE_SIZE,
	.features = vsock_features,
	.config_size = vsock_config_size,
	.config_read = vsock_config_read,
	.queue_notify = vsock_queue_notify,
	.reset = vsock_reset,
};

int virtio_vsock__init(struct virtio_vsock *vs, uint64_t guest_cid, const char *uds_path,
		       const struct guest_mem *mem, struct event_loop *loop, struct pupa_err *err)
{
	memset(vs, 0, sizeof(*vs));
	vs->listen_fd = vs->wake_fd = -1;
	vs->guest_cid = guest_cid;
	vs->loop = loop;
	vs->next_port = VSOCK_FIRST_HOST_PORT;
	virtio_dev__init(&vs->vdev, &virtio_vsock_ops, vs, mem);
	vs->uds_path = strdup(uds_path);
	if (!vs->uds_path)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	vs->listen_fd = unix_socket__listen(uds_path);
	if (vs->listen_fd == -EADDRINUSE)
		return pupa_err_set(err, PUPA_GUEST_ERROR, GUEST_ERR_ALREADY_RUNNING,
				    "--vsock-uds %s: another VMM is listening there", uds_path);
	if (vs->listen_fd == -ENOTSOCK)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "--vsock-uds %s: something that is "
				 "not a socket is there; pupa-vmm replaces only stale sockets",
				 uds_path);
	if (vs->listen_fd < 0)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION, "--vsock-uds %s: %s", uds_path,
				 strerror(-vs->listen_fd));
	vs->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vs->wake_fd < 0)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION, "eventfd: %s", strerror(errno));
	vs->listen_h = (struct ev_handler){ .fd = vs->listen_fd, .fn = on_accept, .ctx = vs };
	vs->wake_h = (struct ev_handler){ .fd = vs->wake_fd, .fn = on_wake, .ctx = vs };
	if (ev_loop__add(loop, &vs->listen_h, EPOLLIN) < 0 || ev_loop__add(loop, &vs->wake_h, EPOLLIN) < 0)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION, "epoll: %s", strerror(errno));
	return 0;
}

void virtio_vsock__destroy(struct virtio_vsock *vs)
{
	for (struct vsock_conn *c = vs->conns; c; c = c->next)
		c->dead = 1;
	virtio_vsock__reap(vs);
	if (vs->listen_fd >= 0) {
		close(vs->listen_fd);
		unlink(vs->uds_path);
	}
	if (vs->wake_fd >= 0)
		close(vs->wake_fd);
	free(vs->uds_path);
	virtio_dev__destroy(&vs->vdev);
}

/*
 * Tell the guest every connection it had is gone (virtio 1.2, 5.10.6.7:
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET): after a restore, this VMM never
 * knew them. Linux resets its sockets at once, so a connect that was in
 * flight when the snapshot was taken fails now instead of timing out.
 */
void virtio_vsock__transport_reset(struct virtio_vsock *vs)
{
	struct virtqueue *vq = &vs->vdev.vq[VSOCK_EVENT];
	const uint32_t event = 0;	/* TRANSPORT_RESET, little-endian */
	int ret;

	pthread_mutex_lock(&vs->vdev.lock);
	if (virtio_dev__running(&vs->vdev) && vq->ready) {
		ret = virtq_pop(vq, &vs->chain);
		if (ret == VIRTQ_OK && vs->chain.in_len >= sizeof(event)) {
			virtq_iov_write(vs->chain.in, vs->chain.nr_in, 0, &event, sizeof(event));
			virtq_push(vq, vs->chain.head, sizeof(event));
			virtio_dev__signal(&vs->vdev, VIRTIO_INT_USED);
		} else if (ret < 0 || ret == VIRTQ_OK) {
			virtio_dev__needs_reset(&vs->vdev, "event buffer missing or too small");
		}
	}
	pthread_mutex_unlock(&vs->vdev.lock);
}
