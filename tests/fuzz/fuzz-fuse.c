/* SPDX-License-Identifier: MIT */
/*
 * FUSE requests from a guest, into the virtio-fs server as pupa-vmm runs
 * it, on a real folder: an input is a run of requests, each a 16-bit
 * length and that many bytes (the server sees exactly what a chain
 * holds), after an INIT the target sends itself; the first byte sizes the
 * reply buffer. Beside the volume lies a tripwire: a request that changes
 * it, or makes anything appear beside the volume, aborts, as a crash
 * would. The volume is rebuilt every few thousand inputs so it stays small.
 *
 * The server makes real system calls: run as root, it could make the
 * host's device nodes and open them (a crash found so would have read or
 * written the hardware first). So a root fuzzer first moves into a user
 * namespace of its own, root there only: no capability of the host's
 * (no CAP_MKNOD, no CAP_DAC_OVERRIDE), its files still root's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs/fuse_server.h"
#include "fuzz.h"

#define FUZZ_OUT_MAX	(1u << 17)

static struct fuse_server srv;
static char base[64], vol[96], trip[96];
static uint8_t *out;
static unsigned long runs;

static void fuzz__write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

	if (fd < 0 || n != (ssize_t)strlen(text)) {
		fprintf(stderr, "fuzz-fuse: writing %s: %m\n", path);
		exit(1);
	}
	close(fd);
}

/*
 * Before main (libFuzzer's threads come later, and unshare wants one):
 * root becomes root of a new user namespace, mapped to itself. Checked:
 * a device node must then be refused, or the target does not run.
 */
__attribute__((constructor)) static void fuzz__drop_host_root(void)
{
	char probe[64];

	if (geteuid() != 0)
		return;
	if (unshare(CLONE_NEWUSER) < 0) {
		fprintf(stderr, "fuzz-fuse: run as root, and no user namespace to leave root's "
			"capabilities in (%m): run it as an ordinary user\n");
		exit(1);
	}
	fuzz__write_file("/proc/self/setgroups", "deny");
	fuzz__write_file("/proc/self/uid_map", "0 0 1");
	fuzz__write_file("/proc/self/gid_map", "0 0 1");
	snprintf(probe, sizeof(probe), "/tmp/pupa-fuzz-fuse-probe-%d", (int)getpid());
	if (mknod(probe, S_IFCHR | 0600, makedev(1, 3)) == 0 || errno != EPERM) {
		unlink(probe);
		fprintf(stderr, "fuzz-fuse: a device node was not refused in the user namespace\n");
		exit(1);
	}
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

static void fuzz__build_volume(void)
{
	char cmd[256], p[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s/d/e", vol, vol);
	if (system(cmd) != 0)
		abort();
	put(vol, "f", "file");
	put(vol, "d/g", "inner");
	snprintf(p, sizeof(p), "%s/ln", vol);
	if (symlink("../tripwire", p) < 0)
		abort();
}

static void fuzz__cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz-fuse: could not remove %s\n", base);
}

static void fuzz__start(void)
{
	struct pupa_err err = { 0 };

	snprintf(base, sizeof(base), "/tmp/pupa-fuzz-fuse-XXXXXX");
	if (!mkdtemp(base))
		abort();
	snprintf(vol, sizeof(vol), "%s/vol", base);
	snprintf(trip, sizeof(trip), "%s/tripwire", base);
	atexit(fuzz__cleanup);
	put(base, "tripwire", "TRIPWIRE");
	fuzz__build_volume();
	out = malloc(FUZZ_OUT_MAX);
	if (!out || fuse_server__init(&srv, &err) < 0 || fuse_server__add_volume(&srv, vol, 0, &err) < 0 ||
	    fuse_server__add_volume(&srv, vol, 1, &err) < 0) {
		fprintf(stderr, "fuzz-fuse: %s\n", err.msg);
		abort();
	}
}

/* Nothing beside the volume but the tripwire, and the tripwire as it was. */
static void fuzz__check_contained(void)
{
	char buf[16] = "";
	int fd = open(trip, O_RDONLY), entries = 0;
	DIR *d = opendir(base);
	struct dirent *e;
	struct stat st;

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) != 8 || strcmp(buf, "TRIPWIRE") != 0 ||
	    fstat(fd, &st) < 0 || (st.st_mode & 07777) != 0644 || !d)
		abort();
	close(fd);
	while ((e = readdir(d)))
		entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	if (entries != 2)
		abort();
}

static void fuzz__init_request(void)
{
	struct {
		struct fuse_in_header h;
		struct fuse_init_in i;
	} r = { { .len = sizeof(r), .opcode = FUSE_INIT, .unique = 1 },
		{ .major = 7, .minor = 38, .max_readahead = 65536, .flags = FUSE_MAX_PAGES } };

	fuse_server__handle(&srv, (const uint8_t *)&r, sizeof(r), out, FUZZ_OUT_MAX, NULL);
}

/* As the device does: a WRITE's data and a READ's buffers as iovecs (split
 * in two at a point the request picks), anything else as bytes. */
static void fuzz__serve(uint8_t *req, size_t len, size_t cap)
{
	const size_t wh = sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in);
	static uint8_t rdbuf[FUZZ_OUT_MAX];
	struct fuse_in_header h;
	struct fuse_io io = { 0 };
	struct iovec v[2];

	if (len >= sizeof(h)) {
		memcpy(&h, req, sizeof(h));
		if (h.opcode == FUSE_WRITE && len > wh) {
			size_t cut = h.unique % (len - wh + 1);

			v[0] = (struct iovec){ req + wh, cut };
			v[1] = (struct iovec){ req + wh + cut, len - wh - cut };
			io = (struct fuse_io){ .wr = v, .nr_wr = 2, .wr_len = len - wh };
			len = wh;
		} else if (h.opcode == FUSE_READ) {
			size_t cut = h.unique % cap;

			v[0] = (struct iovec){ rdbuf, cut };
			v[1] = (struct iovec){ rdbuf + cut, cap - cut };
			io = (struct fuse_io){ .rd = v, .nr_rd = 2, .rd_cap = cap };
		}
	}
	fuse_server__handle(&srv, req, len, out, cap, &io);
	if (io.rd_done > io.rd_cap)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap, off = 1;

	if (!out) {
		/* A WRITE or FALLOCATE far out must not fill /tmp: EFBIG past 1 MiB. */
		struct rlimit fsize = { 1 << 20, 1 << 20 };

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &fsize);
		umask(022);
		fuzz__start();
	}
	if (++runs % 4096 == 0)
		fuzz__build_volume();
	fuse_server__reset(&srv);
	fuzz__init_request();
	cap = size ? (size_t)data[0] << 9 : FUZZ_OUT_MAX;
	if (!cap || cap > FUZZ_OUT_MAX)
		cap = FUZZ_OUT_MAX;
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;

		off += 2;
		if (len > size - off)
			len = size - off;
		/* A copy, so a read past the request is caught by ASan. */
		uint8_t *req = malloc(len ? len : 1);

		if (!req)
			abort();
		memcpy(req, data + off, len);
		fuzz__serve(req, len, cap);
		free(req);
		off += len;
	}
	fuzz__check_contained();
	return 0;
}

/* --- seeds -------------------------------------------------------------------------- */

struct seed {
	uint8_t buf[4096];
	size_t len;
};

static void seed_req(struct seed *s, uint32_t op, uint64_t node, const void *arg, size_t alen,
		     const char *s1, const char *s2)
{
	struct fuse_in_header h = { .opcode = op, .unique = 2, .nodeid = node };
	size_t l1 = s1 ? strlen(s1) + 1 : 0, l2 = s2 ? strlen(s2) + 1 : 0;
	uint16_t total = (uint16_t)(sizeof(h) + alen + l1 + l2);

	h.len = total;
	s->buf[s->len++] = (uint8_t)total;
	s->buf[s->len++] = (uint8_t)(total >> 8);
	memcpy(s->buf + s->len, &h, sizeof(h));
	s->len += sizeof(h);
	if (alen)
		memcpy(s->buf + s->len, arg, alen);
	s->len += alen;
	memcpy(s->buf + s->len, s1 ? s1 : "", l1);
	s->len += l1;
	memcpy(s->buf + s->len, s2 ? s2 : "", l2);
	s->len += l2;
}

void fuzz_seeds(void)
{
	struct seed s = { .buf = { 0 }, .len = 1 };
	struct fuse_open_in op = { .flags = O_RDWR };
	struct fuse_read_in rd = { .fh = 1, .size = 4096 };
	struct fuse_create_in cr = { .flags = O_WRONLY, .mode = 0644 };
	struct fuse_rename2_in rn = { .newdir = 3 };
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct fuse_setattr_in sa = { .valid = FATTR_MODE | FATTR_SIZE, .mode = 0600, .size = 1 };
	struct fuse_link_in ln = { .oldnodeid = 3 };

	/* root -> volume 0 (node 2) -> f (node 3); read it. */
	seed_req(&s, FUSE_LOOKUP, FS_ROOT_ID, NULL, 0, "0", NULL);
	seed_req(&s, FUSE_LOOKUP, 2, NULL, 0, "f", NULL);
	seed_req(&s, FUSE_OPEN, 3, &op, sizeof(op), NULL, NULL);
	seed_req(&s, FUSE_READ, 3, &rd, sizeof(rd), NULL, NULL);
	fuzz_seed("lookup-open-read", s.buf, s.len);

	s.len = 1;
	seed_req(&s, FUSE_LOOKUP, FS_ROOT_ID, NULL, 0, "0", NULL);
	seed_req(&s, FUSE_CREATE, 2, &cr, sizeof(cr), "n", NULL);
	seed_req(&s, FUSE_MKDIR, 2, &mk, sizeof(mk), "m", NULL);
	seed_req(&s, FUSE_RENAME2, 2, &rn, sizeof(rn), "n", "o");
	seed_req(&s, FUSE_SETATTR, 3, &sa, sizeof(sa), NULL, NULL);
	seed_req(&s, FUSE_LINK, 2, &ln, sizeof(ln), "hard", NULL);
	seed_req(&s, FUSE_SYMLINK, 2, NULL, 0, "s", "../../tripwire");
	seed_req(&s, FUSE_UNLINK, 2, NULL, 0, "o", NULL);
	fuzz_seed("changes", s.buf, s.len);

	s.len = 1;
	seed_req(&s, FUSE_LOOKUP, FS_ROOT_ID, NULL, 0, "1", NULL);
	seed_req(&s, FUSE_LOOKUP, 2, NULL, 0, "ln", NULL);
	seed_req(&s, FUSE_READLINK, 3, NULL, 0, NULL, NULL);
	seed_req(&s, FUSE_OPENDIR, 2, &op, sizeof(op), NULL, NULL);
	seed_req(&s, FUSE_READDIR, 2, &rd, sizeof(rd), NULL, NULL);
	seed_req(&s, FUSE_LOOKUP, 2, NULL, 0, "..", NULL);
	fuzz_seed("read-only-and-links", s.buf, s.len);
}
