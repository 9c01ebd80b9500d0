/* SPDX-License-Identifier: MIT */
#include "fs.h"
#include "../sandbox.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Linux's driver caps a request at (queue size - 4) pages: 1024 lets a
 * READ or WRITE carry max_write (1 MiB) in one chain. At 128 a 1 MiB
 * readahead went out as 496 + 496 + 32 KiB and streaming reads ran at a
 * fifth of the rate. */
#define FS_QUEUE_SIZE		1024
#define FS_CONFIG_SIZE		40	/* tag[36], num_request_queues */
#define FS_HIPRIO_QUEUE		0
#define FS_REQUEST_QUEUE	1
/* The reply buffer: a READ of max_write bytes and its header. */
#define FS_OUT_SIZE		(FUSE_SERVER_MAX_WRITE + 4096)
#define FS_WORKER_STACK		(256 * 1024)
#define FS_IOV_MAX		1024

static struct virtio_fs *to_fs(struct virtio_dev *v) { return v->priv; }

static uint64_t fs_features(struct virtio_dev *v)
{
	(void)v;
	return 0;
}

static uint32_t fs_config_size(struct virtio_dev *v)
{
	(void)v;
	return FS_CONFIG_SIZE;
}

static void fs_config_read(struct virtio_dev *v, uint32_t off, void *data, uint32_t len)
{
	uint8_t cfg[FS_CONFIG_SIZE] = { 0 };
	uint32_t nr_request = 1;
	struct virtio_fs *fs = to_fs(v);

	memcpy(cfg, fs->tag, strlen(fs->tag));	/* not NUL-terminated when 36 long */
	memcpy(cfg + FS_TAG_MAX, &nr_request, 4);
	memcpy(data, cfg + off, len);
}

static void fs__kick(struct virtio_fs *fs)
{
	uint64_t one = 1;

	if (write(fs->kick_fd, &one, sizeof(one)) < 0) {
		/* the counter is already non-zero: a worker will look */
	}
}

static void fs_queue_notify(struct virtio_dev *v, unsigned int q)
{
	(void)q;
	fs__kick(to_fs(v));
}

static int fs_notify_fd(struct virtio_dev *v, unsigned int q)
{
	(void)q;
	return to_fs(v)->kick_fd;
}

static void fs_reset(struct virtio_dev *v)
{
	struct virtio_fs *fs = to_fs(v);

	fs->generation++;
	fuse_server__reset(&fs->srv);
}

const struct virtio_dev_ops virtio_fs_ops = {
	.name = "fs",
	.device_id = VIRTIO_ID_FS,
	.nr_queues = 2,
	.queue_max = FS_QUEUE_SIZE,
	.features = fs_features,
	.config_size = fs_config_size,
	.config_read = fs_config_read,
	.queue_notify = fs_queue_notify,
	.notify_fd = fs_notify_fd,
	.reset = fs_reset,
};

/* The next chain, FORGETs first. Lock held. 1 with a chain, 0 without. */
static int fs__take(struct virtio_fs *fs, struct virtq_chain *c, unsigned int *q)
{
	struct virtio_dev *v = &fs->vdev;

	if (!virtio_dev__running(v))
		return 0;
	for (unsigned int i = FS_HIPRIO_QUEUE; i <= FS_REQUEST_QUEUE; i++) {
		int ret;

		if (!v->vq[i].ready)
			continue;
		ret = virtq_pop(&v->vq[i], c);
		if (ret == VIRTQ_OK) {
			*q = i;
			return 1;
		}
		if (ret < 0) {
			virtio_dev__needs_reset(v, virtq_strerror(ret));
			return 0;
		}
	}
	return 0;
}

/* The part of a chain's buffers from skip on, as iovecs; 0 if they are
 * more than FS_IOV_MAX (the request then takes the copying way). */
static int fs__iov(const struct virtq_iov *v, unsigned int n, size_t skip, struct iovec *out)
{
	int k = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (skip >= v[i].len) {
			skip -= v[i].len;
			continue;
		}
		if (k == FS_IOV_MAX)
			return 0;
		out[k++] = (struct iovec){ v[i].base + skip, v[i].len - skip };
		skip = 0;
	}
	return k;
}

/*
 * One request, outside the lock: its headers copied in, served, the reply
 * copied out; a WRITE's data and a READ's go between the file and guest
 * RAM directly.
 */
static uint32_t fs__serve(struct fs_worker *w)
{
	struct virtq_chain *c = w->chain;
	const size_t write_hdr = sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in);
	size_t in_len = c->out_len < FUSE_SERVER_MAX_IN ? c->out_len : FUSE_SERVER_MAX_IN;
	size_t out_cap = c->in_len < FS_OUT_SIZE ? c->in_len : FS_OUT_SIZE;
	struct fuse_in_header h = { 0 };
	struct fuse_io io = { 0 };
	size_t len, written;

	virtq_iov_read(c->out, c->nr_out, 0, &h, c->out_len < sizeof(h) ? c->out_len : sizeof(h));
	if (h.opcode == FUSE_WRITE && c->out_len > write_hdr &&
	    (io.nr_wr = fs__iov(c->out, c->nr_out, write_hdr, w->wr)) > 0) {
		io.wr = w->wr;
		io.wr_len = c->out_len - write_hdr;
		in_len = write_hdr;
	}
	if (h.opcode == FUSE_READ && c->in_len > sizeof(struct fuse_out_header) &&
	    (io.nr_rd = fs__iov(c->in, c->nr_in, sizeof(struct fuse_out_header), w->rd)) > 0) {
		io.rd = w->rd;
		io.rd_cap = c->in_len - sizeof(struct fuse_out_header);
	}
	virtq_iov_read(c->out, c->nr_out, 0, w->in, in_len);
	len = fuse_server__handle(&w->fs->srv, w->in, in_len, w->out, out_cap, &io);
	written = virtq_iov_write(c->in, c->nr_in, 0, w->out, len);
	if (written == len && len)
		written += io.rd_done;	/* already in place after the header */
	return (uint32_t)written;
}

static void *fs__worker(void *arg)
{
	struct fs_worker *w = arg;
	struct virtio_fs *fs = w->fs;
	struct virtio_dev *v = &fs->vdev;

	pthread_setname_np(pthread_self(), "virtio-fs");
	if (sandbox__enter(fs->sandbox, SANDBOX_FS) < 0) {
		fprintf(stderr, "pupa-vmm: virtio-fs: a worker cannot load its seccomp filter\n");
		return NULL;
	}
	for (;;) {
		unsigned int q;
		uint32_t gen, written;
		uint64_t count;

		pthread_mutex_lock(&v->lock);
		if (fs->stopping) {
			pthread_mutex_unlock(&v->lock);
			fs__kick(fs);	/* the next worker stops too */
			break;
		}
		if (!fs__take(fs, w->chain, &q)) {
			pthread_mutex_unlock(&v->lock);
			if (read(fs->kick_fd, &count, sizeof(count)) < 0) {
				/* EINTR: look again */
			}
			continue;
		}
		gen = fs->generation;
		if (virtq_has_avail(&v->vq[FS_REQUEST_QUEUE]))
			fs__kick(fs);	/* more: wake a second worker */
		pthread_mutex_unlock(&v->lock);
		written = fs__serve(w);
		pthread_mutex_lock(&v->lock);
		if (gen == fs->generation && virtio_dev__running(v)) {
			fs->requests++;
			virtq_push(&v->vq[q], w->chain->head, written);
			if (virtq_should_notify(&v->vq[q]))
				virtio_dev__signal(v, VIRTIO_INT_USED);
		}	/* else reset meanwhile: that ring is gone */
		pthread_mutex_unlock(&v->lock);
	}
	return NULL;
}

int virtio_fs__init(struct virtio_fs *fs, const char *tag, const struct guest_mem *mem,
		    struct pupa_err *err)
{
	int ret;

	memset(fs, 0, sizeof(*fs));
	fs->kick_fd = -1;
	if (!*tag || strlen(tag) > FS_TAG_MAX)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "virtio-fs tag '%s': 1-%d bytes", tag,
				 FS_TAG_MAX);
	snprintf(fs->tag, sizeof(fs->tag), "%s", tag);
	ret = fuse_server__init(&fs->srv, err);
	if (ret < 0)
		return ret;
	virtio_dev__init(&fs->vdev, &virtio_fs_ops, fs, mem);
	fs->kick_fd = eventfd(0, EFD_CLOEXEC);
	if (fs->kick_fd < 0)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION, "virtio-fs: eventfd: %s",
				 strerror(errno));
	for (unsigned int i = 0; i < FS_WORKERS; i++) {
		struct fs_worker *w = &fs->worker[i];

		w->fs = fs;
		w->chain = malloc(sizeof(*w->chain));
		w->in = malloc(FUSE_SERVER_MAX_IN);
		w->out = malloc(FS_OUT_SIZE);
		w->wr = calloc(FS_IOV_MAX, sizeof(*w->wr));
		w->rd = calloc(FS_IOV_MAX, sizeof(*w->rd));
		if (!w->chain || !w->in || !w->out || !w->wr || !w->rd)
			return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	}
	return 0;
}

int virtio_fs__start(struct virtio_fs *fs, struct sandbox *sb, struct pupa_err *err)
{
	pthread_attr_t attr;
	int ret = 0;

	fs->sandbox = sb;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, FS_WORKER_STACK);
	for (unsigned int i = 0; i < FS_WORKERS && ret == 0; i++) {
		ret = pthread_create(&fs->worker[i].thread, &attr, fs__worker, &fs->worker[i]);
		fs->worker[i].started = ret == 0;
	}
	pthread_attr_destroy(&attr);
	if (ret != 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "cannot start a virtio-fs worker: %s",
				 strerror(ret));
	return 0;
}

void virtio_fs__stats(struct virtio_fs *fs, struct fs_stats *out)
{
	struct fs_nodes *t = &fs->srv.nodes;

	pthread_mutex_lock(&fs->vdev.lock);
	out->requests = fs->requests;
	pthread_mutex_unlock(&fs->vdev.lock);
	pthread_mutex_lock(&t->lock);
	out->nodes = t->live_nodes;
	out->open_fds = t->open_fds;
	out->fd_budget = t->fd_budget;
	out->evictions = t->evictions;
	out->reopens = t->reopens;
	pthread_mutex_unlock(&t->lock);
	fuse_server__io_counts(&fs->srv, &out->io);
}

void virtio_fs__destroy(struct virtio_fs *fs)
{
	pthread_mutex_lock(&fs->vdev.lock);
	fs->stopping = 1;
	pthread_mutex_unlock(&fs->vdev.lock);
	if (fs->kick_fd >= 0)
		fs__kick(fs);
	for (unsigned int i = 0; i < FS_WORKERS; i++) {
		struct fs_worker *w = &fs->worker[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		free(w->chain);
		free(w->in);
		free(w->out);
		free(w->wr);
		free(w->rd);
	}
	fuse_server__destroy(&fs->srv);
	if (fs->kick_fd >= 0)
		close(fs->kick_fd);
	virtio_dev__destroy(&fs->vdev);
}
