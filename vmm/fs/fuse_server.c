/* SPDX-License-Identifier: MIT */
#include "fuse_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#define FUSE_OUR_MINOR		38
#define FUSE_MAX_PAGES_WANTED	(FUSE_SERVER_MAX_WRITE / 4096)
#define FS_NAME_MAX		255
#define FS_IOV_MAX		1024	/* IOV_MAX: a longer chain takes the copying way */

/* One request being served. */
struct fs_req {
	struct fuse_server *srv;
	struct fuse_io *io;		/* file data in guest memory, or NULL */
	const struct fuse_in_header *h;
	const uint8_t *arg;	/* after the header */
	size_t arg_len;
	uint8_t *body;		/* the reply after its header */
	size_t body_cap;
	size_t body_len;
};

/* --- host access ------------------------------------------------------------- */

/* A node's descriptor as a path for the calls that take none (chmod,
 * truncate, utimens, reopening for I/O): our own descriptor, so the
 * magic link cannot lead anywhere the node does not already hold. */
static void fs__proc_path(char buf[32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* A guest name: one component, not "." or "..", no '/', NUL-terminated
 * inside the request. Advances *p past it; NULL if bad. */
static const char *fs__take_name(const uint8_t **p, size_t *left)
{
	const char *s = (const char *)*p;
	const char *nul = memchr(s, '\0', *left < FS_NAME_MAX + 1 ? *left : FS_NAME_MAX + 1);
	size_t len;

	if (!nul)
		return NULL;
	len = (size_t)(nul - s);
	if (len == 0 || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return NULL;
	*p += len + 1;
	*left -= len + 1;
	return s;
}

/*
 * The mode bits a guest may give an entry: its permissions and the sticky
 * bit, and a folder's setgid bit (its new entries take its group: no
 * privilege). Never setuid or setgid on anything else, whatever the
 * guest's own rules: pupa-vmm may run as root, and such a file on the
 * host would run with root's or another group's rights there. (The rule
 * of -v volumes: a share of a container's root file system, which must
 * keep an image's setuid files, will be a kind of volume of its own.)
 */
static mode_t fs__guest_mode(mode_t type, uint32_t asked)
{
	return (mode_t)asked & (type == S_IFDIR ? (mode_t)(S_ISGID | S_ISVTX | 0777) :
				(mode_t)(S_ISVTX | 0777));
}

/* --- replies ----------------------------------------------------------------- */

static void *fs__reply(struct fs_req *r, size_t len)
{
	if (len > r->body_cap)
		return NULL;
	memset(r->body, 0, len);
	r->body_len = len;
	return r->body;
}

static void fs__attr(const struct fuse_server *srv, const struct stat *st, struct fuse_attr *a)
{
	*a = (struct fuse_attr){
		.ino = st->st_ino, .size = (uint64_t)st->st_size, .blocks = (uint64_t)st->st_blocks,
		.atime = (uint64_t)st->st_atim.tv_sec, .atimensec = (uint32_t)st->st_atim.tv_nsec,
		.mtime = (uint64_t)st->st_mtim.tv_sec, .mtimensec = (uint32_t)st->st_mtim.tv_nsec,
		.ctime = (uint64_t)st->st_ctim.tv_sec, .ctimensec = (uint32_t)st->st_ctim.tv_nsec,
		.mode = st->st_mode, .nlink = (uint32_t)st->st_nlink,
		.uid = srv->owner_host ? st->st_uid : srv->owner_uid,
		.gid = srv->owner_host ? st->st_gid : srv->owner_gid,
		.rdev = (uint32_t)st->st_rdev, .blksize = (uint32_t)st->st_blksize,
	};
}

/* The synthetic root: a read-only folder holding the volumes. */
static void fs__root_stat(const struct fuse_server *srv, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = FS_ROOT_ID;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2 + srv->nr_vol;
	st->st_blksize = 4096;
}

static int fs__stat_node(const struct fuse_server *srv, const struct fs_node *n, struct stat *st)
{
	if (n->fd < 0) {
		fs__root_stat(srv, st);
		return 0;
	}
	return fstatat(n->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static void fs__timeout(double t, uint64_t *sec, uint32_t *nsec)
{
	*sec = (uint64_t)t;
	*nsec = (uint32_t)((t - (double)*sec) * 1e9);
}

static int fs__reply_attr(struct fs_req *r, const struct fs_node *n)
{
	struct fuse_attr_out *o;
	struct stat st;
	int ret = fs__stat_node(r->srv, n, &st);

	if (ret < 0)
		return ret;
	if (!(o = fs__reply(r, sizeof(*o))))
		return -ERANGE;
	fs__timeout(r->srv->attr_timeout, &o->attr_valid, &o->attr_valid_nsec);
	fs__attr(r->srv, &st, &o->attr);
	return 0;
}

/* Make fd (name in parent) a node of volume vol and answer with its
 * entry, from one fstat of fd; takes fd. */
static int fs__reply_entry(struct fs_req *r, int fd, uint16_t vol, uint64_t parent, const char *name,
			   size_t extra)
{
	struct fuse_entry_out *e;
	struct stat st;
	int64_t id;

	if (fstat(fd, &st) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	id = fs_nodes__lookup(&r->srv->nodes, fd, &st, vol, parent, name);
	if (id < 0)
		return (int)id;
	fs_nodes__put(&r->srv->nodes, (uint64_t)id);	/* the lookup's pin */
	if (!(e = fs__reply(r, sizeof(*e) + extra))) {
		fs_nodes__forget(&r->srv->nodes, (uint64_t)id, 1);
		return -ERANGE;
	}
	e->nodeid = (uint64_t)id;
	fs__timeout(r->srv->attr_timeout, &e->entry_valid, &e->entry_valid_nsec);
	fs__timeout(r->srv->attr_timeout, &e->attr_valid, &e->attr_valid_nsec);
	fs__attr(r->srv, &st, &e->attr);
	return 0;
}

/* --- the requests -------------------------------------------------------------- */

/* The argument struct of a request, or NULL when it is short. */
#define FS_ARG(r, type) ((r)->arg_len >= sizeof(type) ? (const type *)(r)->arg : NULL)

static int fs__is_ro(const struct fuse_server *srv, uint16_t vol)
{
	return vol >= srv->nr_vol || srv->vol[vol].ro;
}

static int op_init(struct fs_req *r)
{
	const struct fuse_init_in *in = (const void *)r->arg;
	const uint32_t want = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES |
			      FUSE_AUTO_INVAL_DATA | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES |
			      FUSE_ASYNC_DIO;
	struct fuse_init_out *o;

	if (r->arg_len < 16)	/* major, minor, max_readahead, flags */
		return -EINVAL;
	if (!(o = fs__reply(r, sizeof(*o))))
		return -ERANGE;
	o->major = FUSE_KERNEL_VERSION;
	o->minor = FUSE_OUR_MINOR;
	if (in->major < FUSE_KERNEL_VERSION)
		return -EPROTO;
	if (in->major > FUSE_KERNEL_VERSION)
		return 0;	/* ours in the reply: the driver asks again with it */
	r->srv->minor = in->minor < FUSE_OUR_MINOR ? in->minor : FUSE_OUR_MINOR;
	o->minor = r->srv->minor;
	o->max_readahead = in->max_readahead;
	o->flags = in->flags & want;
	o->max_background = 64;
	o->congestion_threshold = 48;
	o->max_write = FUSE_SERVER_MAX_WRITE;
	o->time_gran = 1;
	o->max_pages = FUSE_MAX_PAGES_WANTED;
	return 0;
}

static int op_lookup(struct fs_req *r, const struct fs_node *dir)
{
	const uint8_t *p = r->arg;
	size_t left = r->arg_len;
	const char *name = fs__take_name(&p, &left);
	char *end;
	unsigned long v;
	int fd;

	if (!name)
		return -EINVAL;
	if (dir->type != S_IFDIR)
		return -ENOTDIR;
	if (dir->fd >= 0) {
		fd = fs_openat2_beneath(dir->fd, name, O_PATH, 0);
		return fd < 0 ? fd : fs__reply_entry(r, fd, dir->vol, r->h->nodeid, name, 0);
	}
	/* The synthetic root: a volume by its index. */
	errno = 0;
	v = strtoul(name, &end, 10);
	if (errno || *end || (name[0] == '0' && name[1]) || v >= r->srv->nr_vol)
		return -ENOENT;
	fd = fcntl(r->srv->vol[v].fd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fs__reply_entry(r, fd, (uint16_t)v, 0, NULL, 0);
}

static int op_setattr(struct fs_req *r, const struct fs_node *n)
{
	const struct fuse_setattr_in *in = FS_ARG(r, struct fuse_setattr_in);
	struct fs_handle h;
	char path[32];
	int ret = 0;

	if (!in)
		return -EINVAL;
	if (n->fd < 0 || fs__is_ro(r->srv, n->vol))
		return -EROFS;
	fs__proc_path(path, n->fd);
	if ((in->valid & FATTR_MODE) && n->type != S_IFLNK &&
	    chmod(path, fs__guest_mode(n->type, in->mode)) < 0)
		return -errno;
	if ((in->valid & (FATTR_UID | FATTR_GID)) && r->srv->owner_host &&
	    fchownat(n->fd, "", (in->valid & FATTR_UID) ? in->uid : (uid_t)-1,
		     (in->valid & FATTR_GID) ? in->gid : (gid_t)-1, AT_EMPTY_PATH) < 0)
		return -errno;
	if (in->valid & FATTR_SIZE) {
		if (n->type != S_IFREG)
			return n->type == S_IFDIR ? -EISDIR : -EINVAL;
		if ((in->valid & FATTR_FH) && fs_handles__get(&r->srv->nodes, in->fh, &h) == 0) {
			ret = ftruncate(h.fd, (off_t)in->size) < 0 ? -errno : 0;
			fs_handles__put(&r->srv->nodes, in->fh);
		} else {
			ret = truncate(path, (off_t)in->size) < 0 ? -errno : 0;
		}
		if (ret < 0)
			return ret;
	}
	if ((in->valid & (FATTR_ATIME | FATTR_MTIME)) && n->type != S_IFLNK) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (in->valid & FATTR_ATIME)
			ts[0] = (in->valid & FATTR_ATIME_NOW) ? (struct timespec){ .tv_nsec = UTIME_NOW } :
				(struct timespec){ (time_t)in->atime, in->atimensec };
		if (in->valid & FATTR_MTIME)
			ts[1] = (in->valid & FATTR_MTIME_NOW) ? (struct timespec){ .tv_nsec = UTIME_NOW } :
				(struct timespec){ (time_t)in->mtime, in->mtimensec };
		if (utimensat(AT_FDCWD, path, ts, 0) < 0)
			return -errno;
	}
	return fs__reply_attr(r, n);
}

/* Answer an OPEN or OPENDIR with a handle for fd (taken; -1 for the
 * synthetic root's listing). */
/*
 * How the guest's page cache takes a file it opened. Write-only opens
 * bypass it (FOPEN_DIRECT_IO): without a writeback cache every write()
 * is one WRITE either way, and direct I/O hands the caller's own pages to
 * the device instead of copying them into cached pages first (1.5x the
 * streaming write rate, nested). Such a descriptor can neither read nor
 * mmap, so nothing that relies on the cache loses it; other descriptors
 * of the file still see its changes, as they see the host's: its mtime
 * moves and FUSE_AUTO_INVAL_DATA drops their pages.
 */
static uint32_t fs__open_flags(uint32_t guest_flags)
{
	return (guest_flags & O_ACCMODE) == O_WRONLY ? FOPEN_DIRECT_IO : 0;
}

static int fs__reply_open(struct fs_req *r, int fd, uint16_t vol, int is_dir, uint32_t open_flags)
{
	struct fuse_open_out *o;
	int64_t fh = fs_handles__add(&r->srv->nodes, fd, vol, is_dir);

	if (fh < 0)
		return (int)fh;
	if (!(o = fs__reply(r, sizeof(*o)))) {
		fs_handles__release(&r->srv->nodes, (uint64_t)fh);
		return -ERANGE;
	}
	o->fh = (uint64_t)fh;
	o->open_flags = open_flags;
	return 0;
}

/* Open a node for I/O. Only regular files: a symlink's node is never
 * opened (that would follow it on the host). */
static int op_open(struct fs_req *r, const struct fs_node *n)
{
	const struct fuse_open_in *in = FS_ARG(r, struct fuse_open_in);
	const int keep = O_ACCMODE | O_APPEND | O_TRUNC | O_NONBLOCK | O_SYNC | O_DSYNC | O_DIRECT;
	char path[32];
	int fd;

	if (!in)
		return -EINVAL;
	if (n->type != S_IFREG)
		return n->type == S_IFDIR ? -EISDIR : n->type == S_IFLNK ? -ELOOP : -EACCES;
	if (fs__is_ro(r->srv, n->vol) && ((in->flags & O_ACCMODE) != O_RDONLY || (in->flags & O_TRUNC)))
		return -EROFS;
	fs__proc_path(path, n->fd);
	fd = open(path, ((int)in->flags & keep) | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fs__reply_open(r, fd, n->vol, 0, fs__open_flags(in->flags));
}

/* Move done bytes along an iovec array (a copy of it the caller owns). */
static void fs__iov_skip(struct iovec **iov, int *n, size_t done)
{
	while (*n && done >= (*iov)->iov_len) {
		done -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n && done) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + done;
		(*iov)->iov_len -= done;
	}
}

/*
 * len bytes of a file at off, to (READ) or from (WRITE) buffers: the
 * guest's own (struct fuse_io) or the server's. Returns the bytes moved,
 * or -errno when none were; a READ stops at the end of the file.
 */
static ssize_t fs__file_io(int fd, int writing, const struct iovec *src, int nr, size_t len, off_t off)
{
	struct iovec iov[FS_IOV_MAX], *p = iov;
	int n = 0;
	size_t done = 0, room = len;

	for (int i = 0; i < nr && i < FS_IOV_MAX && room; i++) {	/* the first len bytes */
		iov[n] = src[i];
		if (iov[n].iov_len > room)
			iov[n].iov_len = room;
		room -= iov[n].iov_len;
		n++;
	}
	while (done < len && n) {
		ssize_t k = writing ? pwritev(fd, p, n, off + (off_t)done) : preadv(fd, p, n, off + (off_t)done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 || (k == 0 && writing))
			return done ? (ssize_t)done : k < 0 ? -errno : -EIO;
		if (k == 0)
			break;
		done += (size_t)k;
		fs__iov_skip(&p, &n, (size_t)k);
	}
	return (ssize_t)done;
}

/* Handle fh as a file for READ, WRITE, FALLOCATE, LSEEK: pinned (put it
 * back with fs_handles__put) when 0; -EISDIR for a folder's listing,
 * -EROFS for a change to a read-only volume. */
static int fs__file_handle(struct fs_req *r, uint64_t fh, int writing, struct fs_handle *h)
{
	int ret = fs_handles__get(&r->srv->nodes, fh, h);

	if (ret < 0)
		return ret;
	if (h->is_dir || h->fd < 0)
		ret = -EISDIR;
	else if (writing && fs__is_ro(r->srv, h->vol))
		ret = -EROFS;
	if (ret < 0)
		fs_handles__put(&r->srv->nodes, fh);
	return ret;
}

/* Counted as they are served: the workers run at once. */
static void fs__count(uint64_t *requests, uint64_t *bytes, size_t n)
{
	__atomic_fetch_add(requests, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(bytes, n, __ATOMIC_RELAXED);
}

void fuse_server__io_counts(struct fuse_server *srv, struct fuse_io_counts *out)
{
	const struct fuse_io_counts *c = &srv->io_counts;

	out->reads = __atomic_load_n(&c->reads, __ATOMIC_RELAXED);
	out->read_bytes = __atomic_load_n(&c->read_bytes, __ATOMIC_RELAXED);
	out->writes = __atomic_load_n(&c->writes, __ATOMIC_RELAXED);
	out->write_bytes = __atomic_load_n(&c->write_bytes, __ATOMIC_RELAXED);
}

static int op_read(struct fs_req *r)
{
	const struct fuse_read_in *in = FS_ARG(r, struct fuse_read_in);
	int direct = r->io && r->io->nr_rd;
	size_t cap = direct ? r->io->rd_cap : r->body_cap;
	struct iovec body = { r->body, r->body_cap };
	struct fs_handle h;
	size_t want;
	ssize_t k;
	int ret;

	if (!in)
		return -EINVAL;
	if ((ret = fs__file_handle(r, in->fh, 0, &h)) < 0)
		return ret;
	want = in->size < cap ? in->size : cap;
	if (want > FUSE_SERVER_MAX_WRITE)
		want = FUSE_SERVER_MAX_WRITE;
	k = fs__file_io(h.fd, 0, direct ? r->io->rd : &body, direct ? r->io->nr_rd : 1, want,
			(off_t)in->offset);
	fs_handles__put(&r->srv->nodes, in->fh);
	if (k < 0)
		return (int)k;
	fs__count(&r->srv->io_counts.reads, &r->srv->io_counts.read_bytes, (size_t)k);
	if (direct)
		r->io->rd_done = (size_t)k;
	else
		r->body_len = (size_t)k;
	return 0;
}

static int op_write(struct fs_req *r)
{
	const struct fuse_write_in *in = FS_ARG(r, struct fuse_write_in);
	int direct = r->io && r->io->nr_wr;
	struct iovec data;
	struct fuse_write_out *o;
	struct fs_handle h;
	ssize_t done = 0;
	int ret;

	if (!in || in->offset > (uint64_t)INT64_MAX || in->size > FUSE_SERVER_MAX_WRITE)
		return -EINVAL;
	if (in->size > (direct ? r->io->wr_len : r->arg_len - sizeof(*in)))
		return -EINVAL;
	if ((ret = fs__file_handle(r, in->fh, 1, &h)) < 0)
		return ret;
	data = (struct iovec){ (void *)(r->arg + sizeof(*in)), in->size };	/* after its headers */
	if (in->size)
		done = fs__file_io(h.fd, 1, direct ? r->io->wr : &data, direct ? r->io->nr_wr : 1,
				   in->size, (off_t)in->offset);
	fs_handles__put(&r->srv->nodes, in->fh);
	if (done < 0)
		return (int)done;
	fs__count(&r->srv->io_counts.writes, &r->srv->io_counts.write_bytes, (size_t)done);
	if (!(o = fs__reply(r, sizeof(*o))))
		return -ERANGE;
	o->size = (uint32_t)done;
	return 0;
}

static int op_release(struct fs_req *r)
{
	const struct fuse_release_in *in = FS_ARG(r, struct fuse_release_in);

	return in ? fs_handles__release(&r->srv->nodes, in->fh) : -EINVAL;
}

static int op_flush_fsync(struct fs_req *r)
{
	const struct fuse_fsync_in *in = FS_ARG(r, struct fuse_fsync_in);
	struct fs_handle h;
	int ret;

	/* FLUSH's struct starts with fh too; it only checks the handle. */
	if (!in || (ret = fs_handles__get(&r->srv->nodes, in->fh, &h)) < 0)
		return in ? ret : -EINVAL;
	if (r->h->opcode != FUSE_FLUSH && h.fd >= 0 &&
	    ((in->fsync_flags & 1) ? fdatasync(h.fd) : fsync(h.fd)) < 0)
		ret = -errno;
	fs_handles__put(&r->srv->nodes, in->fh);
	return ret;
}

static int op_opendir(struct fs_req *r, const struct fs_node *n)
{
	int fd = -1;

	if (n->type != S_IFDIR)
		return -ENOTDIR;
	if (n->fd >= 0 && (fd = openat(n->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	return fs__reply_open(r, fd, n->vol, 1, 0);
}

/* Append one entry; 0 when it does not fit. */
static size_t fs__dirent(struct fs_req *r, size_t used, size_t room, uint64_t ino, uint64_t off,
			 unsigned int type, const char *name)
{
	size_t len = strlen(name), rec = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + len);
	struct fuse_dirent *d = (struct fuse_dirent *)(r->body + used);

	if (used + rec > room)
		return 0;
	memset(d, 0, rec);
	d->ino = ino;
	d->off = off;
	d->namelen = (uint32_t)len;
	d->type = type;
	memcpy(d->name, name, len);
	return rec;
}

static int fs__readdir_root(struct fs_req *r, uint64_t off, size_t room)
{
	size_t used = 0, k;

	for (uint64_t i = off; i < 2 + (uint64_t)r->srv->nr_vol; i++) {
		char name[24];

		if (i < 2)
			snprintf(name, sizeof(name), "%s", i ? ".." : ".");
		else
			snprintf(name, sizeof(name), "%" PRIu64, i - 2);
		k = fs__dirent(r, used, room, i < 2 ? FS_ROOT_ID : 0x100 + i, i + 1, DT_DIR, name);
		if (!k)
			break;
		used += k;
	}
	r->body_len = used;
	return 0;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int op_readdir(struct fs_req *r)
{
	const struct fuse_read_in *in = FS_ARG(r, struct fuse_read_in);
	size_t room, used = 0;
	struct fs_handle h;
	char buf[16384] __attribute__((aligned(8)));
	int ret = 0;

	if (!in)
		return -EINVAL;
	room = in->size < r->body_cap ? in->size : r->body_cap;
	if ((ret = fs_handles__get(&r->srv->nodes, in->fh, &h)) < 0)
		return ret;
	if (!h.is_dir)
		ret = -ENOTDIR;
	else if (h.fd < 0)
		ret = fs__readdir_root(r, in->offset, room);
	else if (lseek(h.fd, (off_t)in->offset, SEEK_SET) < 0)
		ret = -errno;
	while (ret == 0 && h.fd >= 0) {
		long n = syscall(SYS_getdents64, h.fd, buf, sizeof(buf));
		int full = 0;

		if (n <= 0) {
			ret = n < 0 ? -errno : 0;
			break;
		}
		for (long pos = 0; pos < n; ) {
			const struct linux_dirent64 *d = (const void *)(buf + pos);
			size_t k = fs__dirent(r, used, room, d->d_ino, (uint64_t)d->d_off, d->d_type,
					      d->d_name);

			if (!k) {
				full = 1;
				break;
			}
			used += k;
			pos += d->d_reclen;
		}
		if (full)
			break;
	}
	if (h.fd >= 0 && ret == 0)
		r->body_len = used;
	fs_handles__put(&r->srv->nodes, in->fh);
	return ret;
}

/* The mode asked for (as fs__guest_mode allows), whatever pupa-vmm's own
 * umask took away; a new folder keeps the setgid bit it inherited. */
static int fs__fix_mode(const struct fuse_server *srv, int fd, mode_t type, uint32_t asked)
{
	mode_t mode = fs__guest_mode(type, asked);
	struct stat st;
	char path[32];

	if (!(mode & srv->host_umask))
		return 0;
	if (type == S_IFDIR) {
		if (fstat(fd, &st) < 0)
			return -errno;
		mode |= st.st_mode & S_ISGID;
	}
	fs__proc_path(path, fd);
	return chmod(path, mode) < 0 ? -errno : 0;
}

/* A new regular file name in dirfd, with O_EXCL: fd for I/O, *pfd O_PATH. */
static int fs__create_new(const struct fuse_server *srv, int dirfd, const char *name, int flags,
			  uint32_t mode, int *pfd)
{
	int fd = fs_openat2_beneath(dirfd, name, flags | O_CREAT | O_EXCL, fs__guest_mode(S_IFREG, mode));
	char path[32];
	int ret;

	if (fd < 0)
		return fd;
	fs__proc_path(path, fd);
	if ((ret = fs__fix_mode(srv, fd, S_IFREG, mode)) < 0 || (*pfd = open(path, O_PATH | O_CLOEXEC)) < 0) {
		ret = ret < 0 ? ret : -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* The entry pfd (O_PATH, taken) opened for I/O as OPEN opens a node: only
 * a regular file. fd, or -errno with pfd closed. */
static int fs__open_existing(int pfd, int flags)
{
	char path[32];
	struct stat st;
	int fd = -1, ret = 0;

	if (fstat(pfd, &st) < 0)
		ret = -errno;
	else if (!S_ISREG(st.st_mode))
		ret = S_ISDIR(st.st_mode) ? -EISDIR : S_ISLNK(st.st_mode) ? -ELOOP : -EACCES;
	if (ret == 0) {
		fs__proc_path(path, pfd);
		if ((fd = open(path, flags | O_CLOEXEC | O_NOCTTY)) < 0)
			ret = -errno;
	}
	if (ret < 0) {
		close(pfd);
		return ret;
	}
	return fd;
}

/*
 * CREATE's entry, opened for I/O: fd, and *pfd an O_PATH descriptor of
 * the same inode for its node. A new regular file first (O_EXCL); without
 * the guest's own O_EXCL, the entry already there, opened as OPEN opens a
 * node: only a regular file. Never a FIFO (a write-only open would wait
 * for a reader forever, and a few such requests hold every worker), a
 * socket or a device (the host's hardware), nor through a symlink. An
 * entry removed on the host between the two is made after all.
 */
static int fs__create_open(const struct fuse_server *srv, int dirfd, const char *name,
			   const struct fuse_create_in *in, int *pfd)
{
	const int keep = O_ACCMODE | O_APPEND | O_TRUNC | O_NONBLOCK | O_SYNC | O_DSYNC;
	int flags = (int)in->flags & keep, fd;

	for (int tries = 0; ; tries++) {
		fd = fs__create_new(srv, dirfd, name, flags, in->mode, pfd);
		if (fd != -EEXIST || (in->flags & O_EXCL))
			return fd;
		*pfd = fs_openat2_beneath(dirfd, name, O_PATH, 0);
		if (*pfd >= 0)
			return fs__open_existing(*pfd, flags);
		if (*pfd != -ENOENT || tries == 2)
			return *pfd;
	}
}

static int op_create(struct fs_req *r, const struct fs_node *dir)
{
	const struct fuse_create_in *in = FS_ARG(r, struct fuse_create_in);
	const uint8_t *p = r->arg + sizeof(*in);
	size_t left = r->arg_len - sizeof(*in);
	const char *name;
	struct fuse_open_out *o;
	int fd, pfd = -1, ret;
	int64_t fh;

	if (!in || !(name = fs__take_name(&p, &left)))
		return -EINVAL;
	if (dir->fd < 0 || fs__is_ro(r->srv, dir->vol))
		return -EROFS;
	fd = fs__create_open(r->srv, dir->fd, name, in, &pfd);
	if (fd < 0)
		return fd;
	ret = fs__reply_entry(r, pfd, dir->vol, r->h->nodeid, name, sizeof(*o));
	if (ret < 0) {
		close(fd);
		return ret;
	}
	fh = fs_handles__add(&r->srv->nodes, fd, dir->vol, 0);
	if (fh < 0) {
		fs_nodes__forget(&r->srv->nodes, ((struct fuse_entry_out *)r->body)->nodeid, 1);
		return (int)fh;
	}
	o = (struct fuse_open_out *)(r->body + sizeof(struct fuse_entry_out));
	o->fh = (uint64_t)fh;
	o->open_flags = fs__open_flags(in->flags);
	return 0;
}

/*
 * What MKNOD may make: a regular file, a FIFO or a socket, with no device
 * number; a device is EPERM, as mknod(2) answers a user without
 * CAP_MKNOD (pupa-vmm may have it: a guest must not reach the host's
 * hardware through a node it made). S_IFMT as mknodat takes it, or -errno.
 */
static int fs__mknod_type(uint32_t mode, mode_t *type)
{
	switch (mode & S_IFMT) {
	case 0: case S_IFREG: *type = S_IFREG; return 0;
	case S_IFIFO: *type = S_IFIFO; return 0;
	case S_IFSOCK: *type = S_IFSOCK; return 0;
	case S_IFCHR: case S_IFBLK: case S_IFDIR: return -EPERM;
	default: return -EINVAL;
	}
}

/* MKNOD, MKDIR, SYMLINK: make the entry, then answer with its node. */
static int op_make(struct fs_req *r, const struct fs_node *dir)
{
	const uint8_t *p = r->arg;
	size_t left = r->arg_len;
	uint32_t mode = 0;
	mode_t type = S_IFLNK;
	const char *name, *target = NULL;
	int ret, fd;

	if (r->h->opcode == FUSE_MKNOD) {
		const struct fuse_mknod_in *in = FS_ARG(r, struct fuse_mknod_in);

		if (!in)
			return -EINVAL;
		mode = in->mode;
		p += sizeof(*in);
		left -= sizeof(*in);
	} else if (r->h->opcode == FUSE_MKDIR) {
		const struct fuse_mkdir_in *in = FS_ARG(r, struct fuse_mkdir_in);

		if (!in)
			return -EINVAL;
		mode = in->mode;
		type = S_IFDIR;
		p += sizeof(*in);
		left -= sizeof(*in);
	}
	if (!(name = fs__take_name(&p, &left)))
		return -EINVAL;
	if (r->h->opcode == FUSE_SYMLINK) {
		/* The target is the link's content, never resolved here. */
		target = (const char *)p;
		if (!left || !memchr(target, '\0', left < PATH_MAX ? left : PATH_MAX) || !*target)
			return -EINVAL;
	}
	if (dir->fd < 0 || fs__is_ro(r->srv, dir->vol))
		return -EROFS;
	if (r->h->opcode == FUSE_MKNOD && (ret = fs__mknod_type(mode, &type)) < 0)
		return ret;
	if (r->h->opcode == FUSE_MKDIR)
		ret = mkdirat(dir->fd, name, fs__guest_mode(S_IFDIR, mode));
	else if (r->h->opcode == FUSE_MKNOD)
		ret = mknodat(dir->fd, name, type | fs__guest_mode(type, mode), 0);
	else
		ret = symlinkat(target, dir->fd, name);
	if (ret < 0)
		return -errno;
	fd = fs_openat2_beneath(dir->fd, name, O_PATH, 0);
	if (fd < 0)
		return fd;
	if (!target && (ret = fs__fix_mode(r->srv, fd, type, mode)) < 0) {
		close(fd);
		return ret;
	}
	return fs__reply_entry(r, fd, dir->vol, r->h->nodeid, name, 0);
}

static int op_unlink(struct fs_req *r, const struct fs_node *dir)
{
	const uint8_t *p = r->arg;
	size_t left = r->arg_len;
	const char *name = fs__take_name(&p, &left);

	if (!name)
		return -EINVAL;
	if (dir->fd < 0 || fs__is_ro(r->srv, dir->vol))
		return -EROFS;
	return unlinkat(dir->fd, name, r->h->opcode == FUSE_RMDIR ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
}

static int op_rename(struct fs_req *r, const struct fs_node *dir)
{
	const uint8_t *p = r->arg;
	size_t left = r->arg_len, skip;
	uint64_t newdir;
	uint32_t flags = 0;
	const char *from, *to;
	struct fs_node nd;
	int ret;

	if (r->h->opcode == FUSE_RENAME2) {
		const struct fuse_rename2_in *in = FS_ARG(r, struct fuse_rename2_in);

		if (!in)
			return -EINVAL;
		newdir = in->newdir;
		flags = in->flags;
		skip = sizeof(*in);
	} else {
		const struct fuse_rename_in *in = FS_ARG(r, struct fuse_rename_in);

		if (!in)
			return -EINVAL;
		newdir = in->newdir;
		skip = sizeof(*in);
	}
	p += skip;
	left -= skip;
	if (!(from = fs__take_name(&p, &left)) || !(to = fs__take_name(&p, &left)))
		return -EINVAL;
	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((ret = fs_nodes__get(&r->srv->nodes, newdir, &nd)) < 0)
		return ret;
	if (dir->fd < 0 || nd.fd < 0 || fs__is_ro(r->srv, dir->vol) || fs__is_ro(r->srv, nd.vol))
		ret = -EROFS;
	else if (nd.vol != dir->vol)
		ret = -EXDEV;
	else if (renameat2(dir->fd, from, nd.fd, to, flags) < 0)
		ret = -errno;
	if (ret == 0) {
		/* Nodes that may have to be opened again follow their names. */
		struct stat st;

		if (fstatat(nd.fd, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
			fs_nodes__moved(&r->srv->nodes, st.st_dev, st.st_ino, dir->vol, newdir, to);
		if ((flags & RENAME_EXCHANGE) && fstatat(dir->fd, from, &st, AT_SYMLINK_NOFOLLOW) == 0)
			fs_nodes__moved(&r->srv->nodes, st.st_dev, st.st_ino, dir->vol, r->h->nodeid, from);
	}
	fs_nodes__put(&r->srv->nodes, newdir);
	return ret;
}

static int op_link(struct fs_req *r, const struct fs_node *dir)
{
	const struct fuse_link_in *in = FS_ARG(r, struct fuse_link_in);
	const uint8_t *p = r->arg + sizeof(*in);
	size_t left = r->arg_len - sizeof(*in);
	const char *name;
	struct fs_node old;
	char path[32];
	int ret, fd;

	if (!in || !(name = fs__take_name(&p, &left)))
		return -EINVAL;
	if ((ret = fs_nodes__get(&r->srv->nodes, in->oldnodeid, &old)) < 0)
		return ret;
	if (dir->fd < 0 || old.fd < 0 || fs__is_ro(r->srv, dir->vol))
		ret = -EROFS;
	else if (old.vol != dir->vol)
		ret = -EXDEV;
	else if (old.type == S_IFDIR)
		ret = -EPERM;
	if (ret == 0) {
		/* Linking a descriptor without CAP_DAC_READ_SEARCH: through
		 * its /proc link, which lands on the inode itself. */
		fs__proc_path(path, old.fd);
		if (linkat(AT_FDCWD, path, dir->fd, name, AT_SYMLINK_FOLLOW) < 0)
			ret = -errno;
	}
	fs_nodes__put(&r->srv->nodes, in->oldnodeid);
	if (ret < 0)
		return ret;
	fd = fs_openat2_beneath(dir->fd, name, O_PATH, 0);
	return fd < 0 ? fd : fs__reply_entry(r, fd, dir->vol, r->h->nodeid, name, 0);
}

static int op_readlink(struct fs_req *r, const struct fs_node *n)
{
	ssize_t len;

	if (n->type != S_IFLNK)
		return -EINVAL;
	len = readlinkat(n->fd, "", (char *)r->body, r->body_cap);
	if (len < 0)
		return -errno;
	r->body_len = (size_t)len;
	return 0;
}

static int op_statfs(struct fs_req *r, const struct fs_node *n)
{
	struct fuse_statfs_out *o;
	struct statfs sf = { .f_bsize = 4096, .f_frsize = 4096, .f_namelen = FS_NAME_MAX };

	if (n->fd >= 0 && fstatfs(n->fd, &sf) < 0)
		return -errno;
	if (!(o = fs__reply(r, sizeof(*o))))
		return -ERANGE;
	o->st = (struct fuse_kstatfs){
		.blocks = sf.f_blocks, .bfree = sf.f_bfree, .bavail = sf.f_bavail,
		.files = sf.f_files, .ffree = sf.f_ffree, .bsize = (uint32_t)sf.f_bsize,
		.namelen = (uint32_t)sf.f_namelen, .frsize = (uint32_t)sf.f_frsize,
	};
	return 0;
}

/* Only the root's owner attribute: "UID:GID", what the default mode shows. */
static int op_setxattr(struct fs_req *r, const struct fs_node *n)
{
	const struct fuse_setxattr_in *in = (const void *)r->arg;
	const uint8_t *p = r->arg + FUSE_COMPAT_SETXATTR_IN_SIZE;
	size_t left;
	const char *name;
	char value[32], *end;
	unsigned long uid, gid;

	if (r->arg_len < FUSE_COMPAT_SETXATTR_IN_SIZE)
		return -EINVAL;
	left = r->arg_len - FUSE_COMPAT_SETXATTR_IN_SIZE;
	name = (const char *)p;
	if (!memchr(name, '\0', left) || n->fd >= 0 || strcmp(name, FUSE_SERVER_OWNER_XATTR) != 0)
		return -EOPNOTSUPP;
	p += strlen(name) + 1;
	left -= strlen(name) + 1;
	if (in->size >= sizeof(value) || in->size > left)
		return -EINVAL;
	memcpy(value, p, in->size);
	value[in->size] = '\0';
	errno = 0;
	uid = strtoul(value, &end, 10);
	if (errno || *end != ':' || uid > 0xfffffffeUL)
		return -EINVAL;
	gid = strtoul(end + 1, &end, 10);
	if (errno || *end || gid > 0xfffffffeUL)
		return -EINVAL;
	r->srv->owner_uid = (uid_t)uid;
	r->srv->owner_gid = (gid_t)gid;
	return 0;
}

static int op_fallocate(struct fs_req *r)
{
	const struct fuse_fallocate_in *in = FS_ARG(r, struct fuse_fallocate_in);
	struct fs_handle h;
	int ret;

	if (!in || in->offset > (uint64_t)INT64_MAX || in->length > (uint64_t)INT64_MAX)
		return -EINVAL;
	if ((ret = fs__file_handle(r, in->fh, 1, &h)) < 0)
		return ret;
	if (fallocate(h.fd, (int)in->mode, (off_t)in->offset, (off_t)in->length) < 0)
		ret = -errno;
	fs_handles__put(&r->srv->nodes, in->fh);
	return ret;
}

static int op_lseek(struct fs_req *r)
{
	const struct fuse_lseek_in *in = FS_ARG(r, struct fuse_lseek_in);
	struct fuse_lseek_out *o;
	struct fs_handle h;
	off_t off = -1;
	int ret;

	if (!in || (in->whence != SEEK_DATA && in->whence != SEEK_HOLE) || in->offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	if ((ret = fs__file_handle(r, in->fh, 0, &h)) < 0)
		return ret;
	if ((off = lseek(h.fd, (off_t)in->offset, (int)in->whence)) < 0)
		ret = -errno;
	fs_handles__put(&r->srv->nodes, in->fh);
	if (ret < 0)
		return ret;
	if (!(o = fs__reply(r, sizeof(*o))))
		return -ERANGE;
	o->offset = (uint64_t)off;
	return 0;
}

static void op_batch_forget(struct fs_req *r)
{
	const struct fuse_batch_forget_in *in = FS_ARG(r, struct fuse_batch_forget_in);
	const struct fuse_forget_one *one;
	size_t max;

	if (!in)
		return;
	one = (const void *)(r->arg + sizeof(*in));
	max = (r->arg_len - sizeof(*in)) / sizeof(*one);
	for (size_t i = 0; i < in->count && i < max; i++)
		fs_nodes__forget(&r->srv->nodes, one[i].nodeid, one[i].nlookup);
}

/* The requests about one node, with the node pinned for their length. */
static int fs__dispatch_node(struct fs_req *r)
{
	struct fs_node n;
	int ret = fs_nodes__get(&r->srv->nodes, r->h->nodeid, &n);

	if (ret < 0)
		return ret;
	switch (r->h->opcode) {
	case FUSE_LOOKUP: ret = op_lookup(r, &n); break;
	case FUSE_GETATTR: ret = fs__reply_attr(r, &n); break;
	case FUSE_SETATTR: ret = op_setattr(r, &n); break;
	case FUSE_OPEN: ret = op_open(r, &n); break;
	case FUSE_OPENDIR: ret = op_opendir(r, &n); break;
	case FUSE_CREATE: ret = op_create(r, &n); break;
	case FUSE_MKNOD: case FUSE_MKDIR: case FUSE_SYMLINK: ret = op_make(r, &n); break;
	case FUSE_UNLINK: case FUSE_RMDIR: ret = op_unlink(r, &n); break;
	case FUSE_RENAME: case FUSE_RENAME2: ret = op_rename(r, &n); break;
	case FUSE_LINK: ret = op_link(r, &n); break;
	case FUSE_READLINK: ret = op_readlink(r, &n); break;
	case FUSE_STATFS: ret = op_statfs(r, &n); break;
	case FUSE_SETXATTR: ret = op_setxattr(r, &n); break;
	default: ret = -ENOSYS; break;
	}
	fs_nodes__put(&r->srv->nodes, r->h->nodeid);
	return ret;
}

static int fs__dispatch(struct fs_req *r)
{
	if (r->h->opcode != FUSE_INIT && !r->srv->minor)
		return -EIO;	/* nothing before INIT */
	switch (r->h->opcode) {
	case FUSE_INIT: return op_init(r);
	case FUSE_READ: return op_read(r);
	case FUSE_WRITE: return op_write(r);
	case FUSE_RELEASE: case FUSE_RELEASEDIR: return op_release(r);
	case FUSE_FLUSH: case FUSE_FSYNC: case FUSE_FSYNCDIR: return op_flush_fsync(r);
	case FUSE_READDIR: return op_readdir(r);
	case FUSE_FALLOCATE: return op_fallocate(r);
	case FUSE_LSEEK: return op_lseek(r);
	case FUSE_DESTROY:
		fuse_server__reset(r->srv);
		return 0;
	/* No xattrs but the root's owner; the rest of FUSE's optional calls
	 * answer ENOSYS, which the driver remembers and stops asking. */
	case FUSE_GETXATTR: case FUSE_LISTXATTR: case FUSE_REMOVEXATTR:
	case FUSE_ACCESS: case FUSE_GETLK: case FUSE_SETLK: case FUSE_SETLKW:
	case FUSE_READDIRPLUS: case FUSE_IOCTL: case FUSE_POLL: case FUSE_BMAP:
	case FUSE_COPY_FILE_RANGE: case FUSE_SYNCFS: case FUSE_TMPFILE:
		return -ENOSYS;
	}
	return fs__dispatch_node(r);
}

size_t fuse_server__handle(struct fuse_server *srv, const uint8_t *in, size_t in_len,
			   uint8_t *out, size_t out_cap, struct fuse_io *io)
{
	struct fuse_in_header h;
	struct fuse_out_header *oh = (struct fuse_out_header *)out;
	struct fs_req r = { .srv = srv, .io = io };
	int ret;

	if (in_len < sizeof(h) || out_cap < sizeof(*oh))
		return 0;
	memcpy(&h, in, sizeof(h));
	switch (h.opcode) {
	case FUSE_FORGET:
		if (in_len >= sizeof(h) + sizeof(struct fuse_forget_in) && srv->minor)
			fs_nodes__forget(&srv->nodes, h.nodeid,
					 ((const struct fuse_forget_in *)(in + sizeof(h)))->nlookup);
		return 0;
	case FUSE_INTERRUPT:
		return 0;	/* nothing here waits long enough to interrupt */
	}
	r.h = &h;
	r.arg = in + sizeof(h);
	/* The header's length may only shorten what the chain holds. */
	r.arg_len = (h.len >= sizeof(h) && h.len <= in_len ? h.len : in_len) - sizeof(h);
	r.body = out + sizeof(*oh);
	r.body_cap = out_cap - sizeof(*oh);
	if (h.opcode == FUSE_BATCH_FORGET) {
		if (srv->minor)
			op_batch_forget(&r);
		return 0;
	}
	if (io)
		io->rd_done = 0;
	ret = fs__dispatch(&r);
	if (ret < 0) {
		r.body_len = 0;
		if (io)
			io->rd_done = 0;
	}
	oh->len = (uint32_t)(sizeof(*oh) + r.body_len + (io ? io->rd_done : 0));
	oh->error = ret < 0 ? ret : 0;
	oh->unique = h.unique;
	return sizeof(*oh) + r.body_len;	/* what out holds; io->rd_done more in io->rd */
}

/* --- set-up -------------------------------------------------------------------- */

int fuse_server__init(struct fuse_server *srv, struct pupa_err *err)
{
	memset(srv, 0, sizeof(*srv));
	srv->attr_timeout = 1.0;
	srv->host_umask = umask(0);
	umask(srv->host_umask);
	if (fs_nodes__init(&srv->nodes) < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	return 0;
}

int fuse_server__add_volume(struct fuse_server *srv, const char *path, int ro,
			    struct pupa_err *err)
{
	struct fuse_volume *v;
	int fd;

	if (srv->nr_vol == FUSE_SERVER_MAX_VOLUMES)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "volume %s: more than %d volumes", path,
				 FUSE_SERVER_MAX_VOLUMES);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "volume %s: %s", path,
				 errno == ENOTDIR ? "not a folder" : strerror(errno));
	v = &srv->vol[srv->nr_vol];
	v->fd = fd;
	v->ro = ro;
	srv->nr_vol++;
	return 0;
}

void fuse_server__limit_fds(struct fuse_server *srv, unsigned long nofile)
{
	unsigned long budget = nofile > 1024 ? (nofile - 256) / 2 : nofile / 4;

	srv->nodes.fd_budget = (uint32_t)(budget > (1u << 30) ? 1u << 30 : budget < 8 ? 8 : budget);
}

void fuse_server__reset(struct fuse_server *srv)
{
	fs_nodes__clear(&srv->nodes);
	srv->minor = 0;
}

void fuse_server__destroy(struct fuse_server *srv)
{
	for (unsigned int i = 0; i < srv->nr_vol; i++)
		close(srv->vol[i].fd);
	srv->nr_vol = 0;
	fs_nodes__destroy(&srv->nodes);
}
