#include "blk.h"
#include "control_proto.h"
#include "../disk/overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define VIRTIO_BLK_F_SEG_MAX	2
#define VIRTIO_BLK_F_RO		5
#define VIRTIO_BLK_F_FLUSH	9

#define VIRTIO_BLK_T_IN		0
#define VIRTIO_BLK_T_OUT	1
#define VIRTIO_BLK_T_FLUSH	4
#define VIRTIO_BLK_T_GET_ID	8

#define VIRTIO_BLK_S_OK		0
#define VIRTIO_BLK_S_IOERR	1
#define VIRTIO_BLK_S_UNSUPP	2

#define BLK_QUEUE_SIZE		256
#define BLK_CONFIG_SIZE		60
#define BLK_SEG_MAX		(BLK_QUEUE_SIZE - 2)

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
} __attribute__((packed));

/* --- modes ------------------------------------------------------------------ */

int blk_mode__parse(const char *s, enum block_mode *mode)
{
	return control_block_mode_parse(s, mode);
}

/* --- the device -------------------------------------------------------------- */

static struct virtio_blk *to_blk(struct virtio_dev *v) { return v->priv; }

static uint64_t blk_features(struct virtio_dev *v)
{
	uint64_t f = (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_SEG_MAX);

	if (to_blk(v)->mode == BLOCK_MODE_READ_ONLY)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	return f;
}

static uint32_t blk_config_size(struct virtio_dev *v) { return BLK_CONFIG_SIZE; }

static void blk_config_read(struct virtio_dev *v, uint32_t off, void *data, uint32_t len)
{
	uint8_t cfg[BLK_CONFIG_SIZE] = { 0 };
	uint32_t seg_max = BLK_SEG_MAX;
	uint64_t cap = to_blk(v)->sectors;

	memcpy(cfg, &cap, 8);
	memcpy(cfg + 12, &seg_max, 4);
	memcpy(data, cfg + off, len);
}

static int bounce_reserve(struct virtio_blk *blk, size_t len)
{
	uint8_t *p;

	if (len <= blk->bounce_size)
		return 0;
	p = realloc(blk->bounce, len);
	if (!p)
		return -ENOMEM;
	blk->bounce = p;
	blk->bounce_size = len;
	return 0;
}

static int read_sectors(struct virtio_blk *blk, uint64_t sector, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(blk->fd, buf + done, len - done, (off_t)(sector * BLK_SECTOR_SIZE + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {	/* the file shrank under us: zeros past its end */
			memset(buf + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	if (blk->overlay)
		return disk_overlay__read(blk->overlay, sector, buf, len / BLK_SECTOR_SIZE);
	return 0;
}

static int write_sectors(struct virtio_blk *blk, uint64_t sector, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	if (blk->mode == BLOCK_MODE_READ_ONLY)
		return -EROFS;
	if (blk->mode == BLOCK_MODE_VOLATILE_WRITE)
		return disk_overlay__write(blk->overlay, sector, buf, len / BLK_SECTOR_SIZE);
	while (done < len) {
		ssize_t n = pwrite(blk->fd, buf + done, len - done, (off_t)(sector * BLK_SECTOR_SIZE + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int in_range(const struct virtio_blk *blk, uint64_t sector, size_t len)
{
	uint64_t n = len / BLK_SECTOR_SIZE;

	return len % BLK_SECTOR_SIZE == 0 && len <= BLK_MAX_REQUEST &&
	       sector <= blk->sectors && n <= blk->sectors - sector;
}

/* One request; returns the status and how many data bytes went to the guest. */
static uint8_t blk_request(struct virtio_blk *blk, const struct virtq_chain *c,
			   const struct blk_req_hdr *h, uint32_t *written)
{
	size_t in_data = c->in_len - 1;		/* the last byte is the status */
	size_t out_data = c->out_len - sizeof(*h);

	*written = 0;
	switch (h->type) {
	case VIRTIO_BLK_T_IN:
		if (!blk->path || !in_range(blk, h->sector, in_data) || bounce_reserve(blk, in_data))
			return VIRTIO_BLK_S_IOERR;
		if (read_sectors(blk, h->sector, blk->bounce, in_data) < 0)
			return VIRTIO_BLK_S_IOERR;
		*written = (uint32_t)virtq_iov_write(c->in, c->nr_in, 0, blk->bounce, in_data);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		if (!blk->path || !in_range(blk, h->sector, out_data) || bounce_reserve(blk, out_data))
			return VIRTIO_BLK_S_IOERR;
		virtq_iov_read(c->out, c->nr_out, sizeof(*h), blk->bounce, out_data);
		return write_sectors(blk, h->sector, blk->bounce, out_data) < 0 ?
		       VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		if (blk->path && blk->mode == BLOCK_MODE_READ_WRITE && fdatasync(blk->fd) < 0)
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		char id[BLK_SERIAL_MAX] = { 0 };
		size_t n = in_data < sizeof(id) ? in_data : sizeof(id);

		memcpy(id, blk->serial, strnlen(blk->serial, sizeof(id)));
		*written = (uint32_t)virtq_iov_write(c->in, c->nr_in, 0, id, n);
		return VIRTIO_BLK_S_OK;
	}
	}
	return VIRTIO_BLK_S_UNSUPP;
}

static void blk_queue_notify(struct virtio_dev *v, unsigned int q)
{
	struct virtio_blk *blk = to_blk(v);
	struct virtqueue *vq = &v->vq[q];
	int ret, pushed = 0;

	while ((ret = virtq_pop(vq, &blk->chain)) == VIRTQ_OK) {
		struct virtq_chain *c = &blk->chain;
		struct blk_req_hdr h;
		uint32_t written;
		uint8_t status;

		if (c->out_len < sizeof(h) || c->in_len < 1) {
			virtio_dev__needs_reset(v, "request without a header or a status byte");
			return;
		}
		virtq_iov_read(c->out, c->nr_out, 0, &h, sizeof(h));
		status = blk_request(blk, c, &h, &written);
		virtq_iov_write(c->in, c->nr_in, c->in_len - 1, &status, 1);
		virtq_push(vq, c->head, written + 1);
		pushed = 1;
	}
	if (ret < 0) {
		virtio_dev__needs_reset(v, virtq_strerror(ret));
		return;
	}
	if (pushed && virtq_should_notify(vq))
		virtio_dev__signal(v, VIRTIO_INT_USED);
}

static void blk_reset(struct virtio_dev *v)
{
	(void)v;	/* the medium stays; only queue state goes (done by the transport) */
}

const struct virtio_dev_ops virtio_blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nr_queues = 1,
	.queue_max = BLK_QUEUE_SIZE,
	.features = blk_features,
	.config_size = blk_config_size,
	.config_read = blk_config_read,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
};

int virtio_blk__init(struct virtio_blk *blk, const char *serial, const struct guest_mem *mem)
{
	memset(blk, 0, sizeof(*blk));
	blk->fd = -1;
	blk->overlay_fd = -1;
	blk->mode = BLOCK_MODE_READ_ONLY;
	snprintf(blk->serial, sizeof(blk->serial), "%s", serial);
	virtio_dev__init(&blk->vdev, &virtio_blk_ops, blk, mem);
	return 0;
}

void virtio_blk__destroy(struct virtio_blk *blk)
{
	if (blk->fd >= 0)
		close(blk->fd);
	blk->fd = -1;
	disk_overlay__destroy(blk->overlay);
	blk->overlay = NULL;
	if (blk->overlay_fd >= 0)
		close(blk->overlay_fd);
	blk->overlay_fd = -1;
	free(blk->path);
	free(blk->bounce);
	virtio_dev__destroy(&blk->vdev);
}

/* What a medium must be: a regular file or a block device, opened for
 * writing when the mode writes to it. Its size in sectors. */
static int check_medium(int fd, const char *path, enum block_mode mode, uint64_t *sectors,
			struct pupa_err *err)
{
	struct stat st;
	uint64_t bytes;
	int flags = fcntl(fd, F_GETFL);

	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)))
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "disk %s: not a regular file or block device",
				 path);
	if (mode == BLOCK_MODE_READ_WRITE && (flags < 0 || (flags & O_ACCMODE) != O_RDWR))
		return guest_err(err, GUEST_ERR_BAD_CONFIG,
				 "disk %s: ReadWrite needs a descriptor open for reading and writing",
				 path);
	bytes = (uint64_t)st.st_size;
	if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &bytes) < 0)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "disk %s: cannot read its size: %s", path,
				 strerror(errno));
	*sectors = bytes / BLK_SECTOR_SIZE;
	return 0;
}

int virtio_blk__reserve_overlay(struct virtio_blk *blk)
{
	if (blk->overlay_fd < 0)
		blk->overlay_fd = disk_overlay__tmpfile(NULL);
	return blk->overlay_fd < 0 ? blk->overlay_fd : 0;
}

int virtio_blk__attach(struct virtio_blk *blk, const char *path, enum block_mode mode,
		       struct pupa_err *err)
{
	int fd = open(path, (mode == BLOCK_MODE_READ_WRITE ? O_RDWR : O_RDONLY) | O_CLOEXEC);

	if (fd < 0)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "disk %s: %s", path, strerror(errno));
	return virtio_blk__attach_fd(blk, fd, path, mode, err);
}

int virtio_blk__attach_fd(struct virtio_blk *blk, int fd, const char *path, enum block_mode mode,
			  struct pupa_err *err)
{
	struct disk_overlay *ov = NULL;
	uint64_t sectors = 0;
	char *copy;
	int ret;

	ret = check_medium(fd, path, mode, &sectors, err);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	if (mode == BLOCK_MODE_VOLATILE_WRITE) {
		/* The file made for this slot before the VMM was confined, or
		 * a new one; at most the disk's own size: the guest cannot
		 * address more. */
		int ovfd = blk->overlay_fd >= 0 ? blk->overlay_fd : disk_overlay__tmpfile(NULL);

		blk->overlay_fd = -1;
		ret = ovfd < 0 ? ovfd : disk_overlay__create(&ov, sectors, sectors, ovfd);
		if (ret < 0) {
			close(fd);
			return guest_err(err, GUEST_ERR_BAD_CONFIG, "disk %s: no file for its "
					 "volatile writes in %s: %s", path, disk_overlay__default_dir(),
					 strerror(-ret));
		}
	}
	copy = strdup(path);
	if (!copy) {
		disk_overlay__destroy(ov);
		close(fd);
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	}

	pthread_mutex_lock(&blk->vdev.lock);
	if (blk->path) {
		pthread_mutex_unlock(&blk->vdev.lock);
		free(copy);
		disk_overlay__destroy(ov);
		close(fd);
		return pupa_err_set(err, PUPA_GUEST_ERROR, GUEST_ERR_ALREADY_RUNNING,
				    "slot %s already holds %s", blk->serial, blk->path);
	}
	blk->fd = fd;
	blk->path = copy;
	blk->mode = mode;
	blk->sectors = sectors;
	blk->overlay = ov;
	blk->vdev.config_generation++;
	if (blk->vdev.status & VIRTIO_STATUS_DRIVER_OK)
		virtio_dev__signal(&blk->vdev, VIRTIO_INT_CONFIG);
	pthread_mutex_unlock(&blk->vdev.lock);
	return 0;
}
