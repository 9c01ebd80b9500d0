/* SPDX-License-Identifier: MIT */
/*
 * The virtio-fs FUSE server driven with crafted requests, no VM: what a
 * well-behaved driver does, and what a hostile one tries. Beside each
 * volume lies a tripwire file that no request may read or change.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs/fuse_server.h"
#include "unit.h"

#define OUT_CAP (FUSE_SERVER_MAX_WRITE + 4096)

static char base[64], vol[96], rovol[96], tripwire[96];
static struct fuse_server srv;
static uint8_t inbuf[FUSE_SERVER_MAX_IN], outbuf[OUT_CAP];
static uint64_t unique;

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* One request: header, the argument struct, then up to two strings. The
 * reply's error (0 or -errno); its body stays in outbuf. */
static int call_ex(uint32_t op, uint64_t node, const void *arg, size_t alen, const char *s1,
		   const char *s2, size_t *body_len)
{
	struct fuse_in_header h = { .opcode = op, .unique = ++unique, .nodeid = node };
	struct fuse_out_header oh;
	size_t len = sizeof(h), out;

	memcpy(inbuf + len, arg, alen);
	len += alen;
	if (s1) {
		memcpy(inbuf + len, s1, strlen(s1) + 1);
		len += strlen(s1) + 1;
	}
	if (s2) {
		memcpy(inbuf + len, s2, strlen(s2) + 1);
		len += strlen(s2) + 1;
	}
	h.len = (uint32_t)len;
	memcpy(inbuf, &h, sizeof(h));
	out = fuse_server__handle(&srv, inbuf, len, outbuf, sizeof(outbuf), NULL);
	ck_assert_uint_ge(out, sizeof(oh));
	memcpy(&oh, outbuf, sizeof(oh));
	ck_assert_uint_eq(oh.len, out);
	ck_assert_uint_eq(oh.unique, unique);
	if (body_len)
		*body_len = out - sizeof(oh);
	return oh.error;
}

static int call(uint32_t op, uint64_t node, const void *arg, size_t alen, const char *s1,
		const char *s2)
{
	return call_ex(op, node, arg, alen, s1, s2, NULL);
}

static void *body(void) { return outbuf + sizeof(struct fuse_out_header); }

static uint64_t lookup(uint64_t dir, const char *name)
{
	ck_assert_int_eq(call(FUSE_LOOKUP, dir, NULL, 0, name, NULL), 0);
	return ((struct fuse_entry_out *)body())->nodeid;
}

static struct fuse_attr getattr(uint64_t node)
{
	struct fuse_getattr_in in = { 0 };

	ck_assert_int_eq(call(FUSE_GETATTR, node, &in, sizeof(in), NULL, NULL), 0);
	return ((struct fuse_attr_out *)body())->attr;
}

static int open_node(uint64_t node, uint32_t flags, uint64_t *fh)
{
	struct fuse_open_in in = { .flags = flags };
	int ret = call(FUSE_OPEN, node, &in, sizeof(in), NULL, NULL);

	if (ret == 0)
		*fh = ((struct fuse_open_out *)body())->fh;
	return ret;
}

static void setup(void)
{
	struct pupa_err err = { 0 };
	struct fuse_init_in init = { .major = 7, .minor = 38, .max_readahead = 1 << 17,
				     .flags = FUSE_ASYNC_READ | FUSE_MAX_PAGES };
	char p[160];

	snprintf(base, sizeof(base), "/tmp/pupa-fuse-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(vol, sizeof(vol), "%s/vol", base);
	snprintf(rovol, sizeof(rovol), "%s/ro", base);
	snprintf(tripwire, sizeof(tripwire), "%s/tripwire", base);
	ck_assert_int_eq(mkdir(vol, 0755), 0);
	ck_assert_int_eq(mkdir(rovol, 0755), 0);
	put_file(tripwire, "SECRET");
	snprintf(p, sizeof(p), "%s/file", vol);
	put_file(p, "hello");
	snprintf(p, sizeof(p), "%s/sub", vol);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/link-abs", vol);
	ck_assert_int_eq(symlink(tripwire, p), 0);
	snprintf(p, sizeof(p), "%s/link-rel", vol);
	ck_assert_int_eq(symlink("../tripwire", p), 0);
	snprintf(p, sizeof(p), "%s/keep", rovol);
	put_file(p, "kept");

	ck_assert_int_eq(fuse_server__init(&srv, &err), 0);
	ck_assert_int_eq(fuse_server__add_volume(&srv, vol, 0, &err), 0);
	ck_assert_int_eq(fuse_server__add_volume(&srv, rovol, 1, &err), 0);
	ck_assert_int_eq(call(FUSE_INIT, 0, &init, sizeof(init), NULL, NULL), 0);
}

static void teardown(void)
{
	char cmd[128];

	fuse_server__destroy(&srv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(fuse_reads_a_file_of_a_volume)
{
	struct fuse_read_in rd = { .size = 100 };
	struct fuse_io_counts c;
	size_t n;

	uint64_t v = lookup(FS_ROOT_ID, "0"), f = lookup(v, "file");

	ck_assert_int_eq(open_node(f, O_RDONLY, &rd.fh), 0);
	ck_assert_int_eq(call_ex(FUSE_READ, f, &rd, sizeof(rd), NULL, NULL, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(body(), "hello", 5);
	ck_assert_uint_eq(getattr(f).size, 5);
	fuse_server__io_counts(&srv, &c);
	ck_assert_uint_eq(c.reads, 1);
	ck_assert_uint_eq(c.read_bytes, 5);
	ck_assert_uint_eq(c.writes, 0);
}
END_TEST

START_TEST(fuse_refuses_names_that_leave_the_folder)
{
	uint64_t v = lookup(FS_ROOT_ID, "0");

	ck_assert_int_eq(call(FUSE_LOOKUP, FS_ROOT_ID, NULL, 0, "..", NULL), -EINVAL);
	ck_assert_int_eq(call(FUSE_LOOKUP, v, NULL, 0, "..", NULL), -EINVAL);
	ck_assert_int_eq(call(FUSE_LOOKUP, v, NULL, 0, ".", NULL), -EINVAL);
	ck_assert_int_eq(call(FUSE_LOOKUP, v, NULL, 0, "sub/../../tripwire", NULL), -EINVAL);
	ck_assert_int_eq(call(FUSE_LOOKUP, v, NULL, 0, "", NULL), -EINVAL);
	ck_assert_int_eq(call(FUSE_LOOKUP, FS_ROOT_ID, NULL, 0, "2", NULL), -ENOENT);
	ck_assert_int_eq(call(FUSE_LOOKUP, FS_ROOT_ID, NULL, 0, "00", NULL), -ENOENT);
	/* A name without its NUL inside the request. */
	{
		struct fuse_in_header h = { .len = sizeof(h) + 3, .opcode = FUSE_LOOKUP,
					    .unique = 7, .nodeid = v };
		struct fuse_out_header oh;

		memcpy(inbuf, &h, sizeof(h));
		memcpy(inbuf + sizeof(h), "abc", 3);
		ck_assert_uint_eq(fuse_server__handle(&srv, inbuf, h.len, outbuf, sizeof(outbuf), NULL),
				  sizeof(oh));
		memcpy(&oh, outbuf, sizeof(oh));
		ck_assert_int_eq(oh.error, -EINVAL);
	}
}
END_TEST

START_TEST(fuse_symlinks_stay_symlinks)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), fh;
	uint64_t abs = lookup(v, "link-abs"), rel = lookup(v, "link-rel");
	size_t n;

	ck_assert(S_ISLNK(getattr(abs).mode));
	ck_assert(S_ISLNK(getattr(rel).mode));
	ck_assert_int_eq(call_ex(FUSE_READLINK, rel, NULL, 0, NULL, NULL, &n), 0);
	ck_assert_uint_eq(n, strlen("../tripwire"));
	ck_assert_mem_eq(body(), "../tripwire", n);
	ck_assert_int_eq(open_node(abs, O_WRONLY | O_TRUNC, &fh), -ELOOP);
	ck_assert_int_eq(open_node(rel, O_RDONLY, &fh), -ELOOP);
	ck_assert_int_eq(call(FUSE_LOOKUP, rel, NULL, 0, "x", NULL), -ENOTDIR);
	{
		struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = 0 };

		ck_assert_int_eq(call(FUSE_SETATTR, abs, &sa, sizeof(sa), NULL, NULL), -EINVAL);
	}
	ck_assert_str_eq(slurp(tripwire), "SECRET");
}
END_TEST

START_TEST(fuse_forgotten_node_is_stale)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), f = lookup(v, "file");
	struct fuse_forget_in fg = { .nlookup = 1 };
	struct fuse_in_header h = { .len = sizeof(h) + sizeof(fg), .opcode = FUSE_FORGET,
				    .unique = 99, .nodeid = f };
	struct fuse_getattr_in ga = { 0 };

	memcpy(inbuf, &h, sizeof(h));
	memcpy(inbuf + sizeof(h), &fg, sizeof(fg));
	ck_assert_uint_eq(fuse_server__handle(&srv, inbuf, h.len, outbuf, sizeof(outbuf), NULL), 0);
	ck_assert_int_eq(call(FUSE_GETATTR, f, &ga, sizeof(ga), NULL, NULL), -ESTALE);
	ck_assert_int_eq(call(FUSE_GETATTR, 123456789, &ga, sizeof(ga), NULL, NULL), -ESTALE);
	ck_assert_int_eq(call(FUSE_GETATTR, 0, &ga, sizeof(ga), NULL, NULL), -ESTALE);
}
END_TEST

START_TEST(fuse_rename_to_a_path_is_refused)
{
	uint64_t v = lookup(FS_ROOT_ID, "0");
	struct fuse_rename2_in rn = { .newdir = v };
	char p[160];

	ck_assert_int_eq(call(FUSE_RENAME2, v, &rn, sizeof(rn), "file", "../escaped"), -EINVAL);
	ck_assert_int_eq(call(FUSE_RENAME2, v, &rn, sizeof(rn), "file", "a/b"), -EINVAL);
	rn.flags = 4;	/* RENAME_WHITEOUT */
	ck_assert_int_eq(call(FUSE_RENAME2, v, &rn, sizeof(rn), "file", "other"), -EINVAL);
	rn.newdir = lookup(FS_ROOT_ID, "1");
	rn.flags = 0;
	ck_assert_int_eq(call(FUSE_RENAME2, v, &rn, sizeof(rn), "file", "moved"), -EROFS);
	snprintf(p, sizeof(p), "%s/escaped", base);
	ck_assert_int_ne(access(p, F_OK), 0);
	ck_assert_str_eq(slurp(tripwire), "SECRET");
}
END_TEST

START_TEST(fuse_huge_read_is_capped)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), f = lookup(v, "file");
	struct fuse_read_in rd = { .size = 0xffffffffu, .offset = 1 };
	size_t n;

	ck_assert_int_eq(open_node(f, O_RDONLY, &rd.fh), 0);
	ck_assert_int_eq(call_ex(FUSE_READ, f, &rd, sizeof(rd), NULL, NULL, &n), 0);
	ck_assert_uint_eq(n, 4);
	rd.fh = 4242;
	ck_assert_int_eq(call(FUSE_READ, f, &rd, sizeof(rd), NULL, NULL), -EBADF);
	/* A reply buffer smaller than a header: no reply at all, no overflow. */
	ck_assert_uint_eq(fuse_server__handle(&srv, inbuf, sizeof(struct fuse_in_header), outbuf, 8, NULL), 0);
}
END_TEST

START_TEST(fuse_read_only_volume_refuses_changes)
{
	uint64_t ro = lookup(FS_ROOT_ID, "1"), keep = lookup(ro, "keep"), fh;
	struct fuse_setattr_in sa = { .valid = FATTR_MODE, .mode = 0777 };
	struct fuse_create_in cr = { .flags = O_WRONLY, .mode = 0644 };
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct stat st;
	char p[160];

	ck_assert_int_eq(call(FUSE_SETATTR, ro, &sa, sizeof(sa), NULL, NULL), -EROFS);
	ck_assert_int_eq(call(FUSE_SETATTR, keep, &sa, sizeof(sa), NULL, NULL), -EROFS);
	ck_assert_int_eq(call(FUSE_CREATE, ro, &cr, sizeof(cr), "new", NULL), -EROFS);
	ck_assert_int_eq(call(FUSE_MKDIR, ro, &mk, sizeof(mk), "d", NULL), -EROFS);
	ck_assert_int_eq(call(FUSE_UNLINK, ro, NULL, 0, "keep", NULL), -EROFS);
	ck_assert_int_eq(open_node(keep, O_RDWR, &fh), -EROFS);
	ck_assert_int_eq(open_node(keep, O_RDONLY | O_TRUNC, &fh), -EROFS);
	ck_assert_int_eq(open_node(keep, O_RDONLY, &fh), 0);
	{
		struct fuse_write_in wr = { .fh = fh, .size = 1 };
		uint8_t buf[sizeof(wr) + 1];

		memcpy(buf, &wr, sizeof(wr));
		buf[sizeof(wr)] = 'X';
		ck_assert_int_eq(call(FUSE_WRITE, keep, buf, sizeof(buf), NULL, NULL), -EROFS);
	}
	/* The synthetic root is read-only too. */
	ck_assert_int_eq(call(FUSE_SETATTR, FS_ROOT_ID, &sa, sizeof(sa), NULL, NULL), -EROFS);
	ck_assert_int_eq(call(FUSE_CREATE, FS_ROOT_ID, &cr, sizeof(cr), "x", NULL), -EROFS);
	snprintf(p, sizeof(p), "%s/keep", rovol);
	ck_assert_str_eq(slurp(p), "kept");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644 & ~(unsigned)srv.host_umask);
}
END_TEST

START_TEST(fuse_changes_reach_the_host)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), sub = lookup(v, "sub"), f = lookup(v, "file"), nf;
	struct fuse_create_in cr = { .flags = O_WRONLY, .mode = 0640 };
	struct fuse_mkdir_in mk = { .mode = 0700 };
	struct fuse_rename2_in rn = { .newdir = sub };
	struct fuse_link_in ln = { .oldnodeid = f };
	struct fuse_write_in wr = { .size = 5 };
	struct fuse_setattr_in sa = { .valid = FATTR_SIZE, .size = 2 };
	uint8_t buf[sizeof(wr) + 5];
	struct stat st;
	char p[200];

	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "new", NULL), 0);
	nf = ((struct fuse_entry_out *)body())->nodeid;
	wr.fh = ((struct fuse_open_out *)((uint8_t *)body() + sizeof(struct fuse_entry_out)))->fh;
	memcpy(buf, &wr, sizeof(wr));
	memcpy(buf + sizeof(wr), "world", 5);
	ck_assert_int_eq(call(FUSE_WRITE, nf, buf, sizeof(buf), NULL, NULL), 0);
	ck_assert_uint_eq(((struct fuse_write_out *)body())->size, 5);
	snprintf(p, sizeof(p), "%s/new", vol);
	ck_assert_str_eq(slurp(p), "world");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0640);
	ck_assert_uint_eq(st.st_uid, getuid());

	ck_assert_int_eq(call(FUSE_SETATTR, nf, &sa, sizeof(sa), NULL, NULL), 0);
	ck_assert_str_eq(slurp(p), "wo");
	ck_assert_int_eq(call(FUSE_MKDIR, v, &mk, sizeof(mk), "dir", NULL), 0);
	snprintf(p, sizeof(p), "%s/dir", vol);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(call(FUSE_RENAME2, v, &rn, sizeof(rn), "new", "moved"), 0);
	snprintf(p, sizeof(p), "%s/sub/moved", vol);
	ck_assert_str_eq(slurp(p), "wo");
	ck_assert_int_eq(call(FUSE_LINK, sub, &ln, sizeof(ln), "hard", NULL), 0);
	ck_assert_uint_eq(((struct fuse_entry_out *)body())->nodeid, f);
	snprintf(p, sizeof(p), "%s/sub/hard", vol);
	ck_assert_str_eq(slurp(p), "hello");
	ck_assert_int_eq(call(FUSE_SYMLINK, v, NULL, 0, "sl", "/etc/passwd"), 0);
	snprintf(p, sizeof(p), "%s/sl", vol);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(call(FUSE_UNLINK, sub, NULL, 0, "hard", NULL), 0);
	ck_assert_int_eq(call(FUSE_RMDIR, v, NULL, 0, "dir", NULL), 0);
	snprintf(p, sizeof(p), "%s/dir", vol);
	ck_assert_int_ne(access(p, F_OK), 0);
	ck_assert_int_eq(call(FUSE_RMDIR, v, NULL, 0, "sub", NULL), -ENOTEMPTY);
}
END_TEST

START_TEST(fuse_owner_is_the_guests_choice)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), f = lookup(v, "file");
	struct fuse_setxattr_in sx = { .size = 9 };
	struct fuse_setattr_in sa = { .valid = FATTR_UID | FATTR_GID, .uid = 5, .gid = 6 };
	uint8_t buf[64];
	size_t len = FUSE_COMPAT_SETXATTR_IN_SIZE;
	struct stat st;
	char p[160];

	memcpy(buf, &sx, len);
	memcpy(buf + len, FUSE_SERVER_OWNER_XATTR, sizeof(FUSE_SERVER_OWNER_XATTR));
	len += sizeof(FUSE_SERVER_OWNER_XATTR);
	memcpy(buf + len, "1000:1001", 9);
	len += 9;
	ck_assert_int_eq(call(FUSE_SETXATTR, v, buf, len, NULL, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(call(FUSE_SETXATTR, FS_ROOT_ID, buf, len, NULL, NULL), 0);
	ck_assert_uint_eq(getattr(f).uid, 1000);
	ck_assert_uint_eq(getattr(f).gid, 1001);
	ck_assert_int_eq(call(FUSE_SETATTR, f, &sa, sizeof(sa), NULL, NULL), 0);
	snprintf(p, sizeof(p), "%s/file", vol);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, getuid());
	memcpy(buf + len - 9, "1000:x001", 9);
	ck_assert_int_eq(call(FUSE_SETXATTR, FS_ROOT_ID, buf, len, NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(fuse_root_lists_the_volumes)
{
	struct fuse_open_in od = { 0 };
	struct fuse_read_in rd = { .size = 4096 };
	const uint8_t *p;
	size_t n, off = 0;
	int names = 0;

	ck_assert_int_eq(call(FUSE_OPENDIR, FS_ROOT_ID, &od, sizeof(od), NULL, NULL), 0);
	rd.fh = ((struct fuse_open_out *)body())->fh;
	ck_assert_int_eq(call_ex(FUSE_READDIR, FS_ROOT_ID, &rd, sizeof(rd), NULL, NULL, &n), 0);
	p = body();
	while (off < n) {
		const struct fuse_dirent *d = (const void *)(p + off);

		names += (d->namelen == 1 && (d->name[0] == '0' || d->name[0] == '1'));
		off += FUSE_DIRENT_SIZE(d);
	}
	ck_assert_int_eq(names, 2);
}
END_TEST

START_TEST(fuse_volume_listing_resumes_at_its_offset)
{
	uint64_t v = lookup(FS_ROOT_ID, "0");
	struct fuse_open_in od = { 0 };
	struct fuse_read_in rd = { .size = 48 };	/* room for one entry at a time */
	int seen = 0;
	size_t n;

	ck_assert_int_eq(call(FUSE_OPENDIR, v, &od, sizeof(od), NULL, NULL), 0);
	rd.fh = ((struct fuse_open_out *)body())->fh;
	for (int i = 0; i < 20; i++) {
		const struct fuse_dirent *d;

		ck_assert_int_eq(call_ex(FUSE_READDIR, v, &rd, sizeof(rd), NULL, NULL, &n), 0);
		if (n == 0)
			break;
		d = body();
		rd.offset = d->off;
		seen++;
	}
	ck_assert_int_eq(seen, 6);	/* . .. file sub link-abs link-rel */
}
END_TEST

START_TEST(fuse_nothing_before_init)
{
	struct fuse_getattr_in ga = { 0 };

	fuse_server__reset(&srv);
	ck_assert_int_eq(call(FUSE_GETATTR, FS_ROOT_ID, &ga, sizeof(ga), NULL, NULL), -EIO);
	ck_assert_uint_eq(fuse_server__handle(&srv, inbuf, 10, outbuf, sizeof(outbuf), NULL), 0);
}
END_TEST

static void host_file(const char *name, const char *text)
{
	char p[200];

	snprintf(p, sizeof(p), "%s/%s", vol, name);
	put_file(p, text);
}

static void read_node(uint64_t node, const char *want)
{
	struct fuse_read_in rd = { .size = 64 };
	struct fuse_release_in rl = { 0 };
	size_t n;

	ck_assert_int_eq(open_node(node, O_RDONLY, &rd.fh), 0);
	ck_assert_int_eq(call_ex(FUSE_READ, node, &rd, sizeof(rd), NULL, NULL, &n), 0);
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_mem_eq(body(), want, n);
	rl.fh = rd.fh;
	ck_assert_int_eq(call(FUSE_RELEASE, node, &rl, sizeof(rl), NULL, NULL), 0);
}

START_TEST(fuse_node_descriptors_stay_within_their_budget)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), ids[60];
	char name[16], text[32];

	srv.nodes.fd_budget = 8;
	for (int i = 0; i < 60; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		snprintf(text, sizeof(text), "content %d", i);
		host_file(name, text);
		ids[i] = lookup(v, name);
		ck_assert_uint_le(srv.nodes.open_fds, 8);
	}
	for (int i = 0; i < 60; i++) {
		snprintf(text, sizeof(text), "content %d", i);
		read_node(ids[i], text);	/* opened again, by name beneath its parent */
		ck_assert_uint_le(srv.nodes.open_fds, 8);
	}
	ck_assert_uint_gt(srv.nodes.evictions, 50);
	ck_assert_uint_gt(srv.nodes.reopens, 50);
}
END_TEST

START_TEST(fuse_closed_node_replaced_on_the_host_is_stale)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), a, b;
	struct fuse_getattr_in ga = { 0 };
	char from[200], to[200];

	srv.nodes.fd_budget = 1;
	host_file("a", "first a");
	host_file("b", "b");
	a = lookup(v, "a");
	b = lookup(v, "b");	/* closes a's descriptor */
	snprintf(from, sizeof(from), "%s/a", vol);
	snprintf(to, sizeof(to), "%s/a-moved", vol);
	ck_assert_int_eq(rename(from, to), 0);
	host_file("a", "another a");
	ck_assert_int_eq(call(FUSE_GETATTR, a, &ga, sizeof(ga), NULL, NULL), -ESTALE);
	read_node(b, "b");
}
END_TEST

START_TEST(fuse_renamed_node_is_found_by_its_new_name)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), sub = lookup(v, "sub"), f;
	struct fuse_rename2_in rn = { .newdir = sub };

	srv.nodes.fd_budget = 1;
	f = lookup(v, "file");
	ck_assert_int_eq(call(FUSE_RENAME2, v, &rn, sizeof(rn), "file", "moved"), 0);
	lookup(v, "link-abs");
	lookup(v, "link-rel");
	read_node(f, "hello");
}
END_TEST

START_TEST(fuse_deep_folders_open_again_from_the_top)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), d = v;
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct fuse_create_in cr = { .flags = O_WRONLY, .mode = 0644 };
	struct fuse_getattr_in ga = { 0 };
	uint64_t ids[40];

	srv.nodes.fd_budget = 2;
	for (int i = 0; i < 40; i++) {
		ck_assert_int_eq(call(FUSE_MKDIR, d, &mk, sizeof(mk), "d", NULL), 0);
		d = ids[i] = ((struct fuse_entry_out *)body())->nodeid;
	}
	ck_assert_int_eq(call(FUSE_CREATE, d, &cr, sizeof(cr), "leaf", NULL), 0);
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(call(FUSE_GETATTR, ids[i], &ga, sizeof(ga), NULL, NULL), 0);
	ck_assert_int_eq(call(FUSE_LOOKUP, ids[39], NULL, 0, "leaf", NULL), 0);
	ck_assert_uint_le(srv.nodes.open_fds, 3);
}
END_TEST

START_TEST(fuse_file_data_moves_straight_to_guest_buffers)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), f = lookup(v, "file");
	struct { struct fuse_in_header h; struct fuse_write_in w; } wr = {
		{ .len = sizeof(wr) + 6, .opcode = FUSE_WRITE, .unique = 50, .nodeid = f },
		{ .size = 6, .offset = 5 } };
	struct { struct fuse_in_header h; struct fuse_read_in r; } rd = {
		{ .len = sizeof(rd), .opcode = FUSE_READ, .unique = 51, .nodeid = f },
		{ .size = 100 } };
	char a[3] = "+wo", b[3] = "rld", ra[4], rb[64];
	struct iovec wv[2] = { { a, 3 }, { b, 3 } }, rv[2] = { { ra, 4 }, { rb, sizeof(rb) } };
	struct fuse_io io = { .wr = wv, .nr_wr = 2, .wr_len = 6 };
	struct fuse_out_header oh;
	uint64_t fh;
	size_t n;

	ck_assert_int_eq(open_node(f, O_RDWR, &fh), 0);
	wr.w.fh = rd.r.fh = fh;
	n = fuse_server__handle(&srv, (const uint8_t *)&wr, sizeof(wr), outbuf, sizeof(outbuf), &io);
	memcpy(&oh, outbuf, sizeof(oh));
	ck_assert_int_eq(oh.error, 0);
	ck_assert_uint_eq(((struct fuse_write_out *)body())->size, 6);
	ck_assert_uint_eq(n, oh.len);
	io = (struct fuse_io){ .rd = rv, .nr_rd = 2, .rd_cap = 4 + sizeof(rb) };
	n = fuse_server__handle(&srv, (const uint8_t *)&rd, sizeof(rd), outbuf, sizeof(outbuf), &io);
	memcpy(&oh, outbuf, sizeof(oh));
	ck_assert_int_eq(oh.error, 0);
	ck_assert_uint_eq(n, sizeof(oh));		/* only the header in out */
	ck_assert_uint_eq(io.rd_done, 11);
	ck_assert_uint_eq(oh.len, sizeof(oh) + 11);
	ck_assert_mem_eq(ra, "hell", 4);
	ck_assert_mem_eq(rb, "o+world", 7);
	/* A payload shorter than the size the header claims. */
	wr.w.size = 7;
	io = (struct fuse_io){ .wr = wv, .nr_wr = 2, .wr_len = 6 };
	fuse_server__handle(&srv, (const uint8_t *)&wr, sizeof(wr), outbuf, sizeof(outbuf), &io);
	memcpy(&oh, outbuf, sizeof(oh));
	ck_assert_int_eq(oh.error, -EINVAL);
}
END_TEST

/* Write-only opens bypass the guest's page cache; the others keep it. */
START_TEST(fuse_write_only_opens_are_direct)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), f = lookup(v, "file");
	struct fuse_create_in cr = { .flags = O_WRONLY | O_EXCL, .mode = 0600 };
	const uint32_t modes[] = { O_RDONLY, O_RDWR, O_WRONLY, O_WRONLY | O_APPEND };
	const uint32_t want[] = { 0, 0, FOPEN_DIRECT_IO, FOPEN_DIRECT_IO };
	struct fuse_open_in in = { 0 };

	for (unsigned int i = 0; i < 4; i++) {
		in.flags = modes[i];
		ck_assert_int_eq(call(FUSE_OPEN, f, &in, sizeof(in), NULL, NULL), 0);
		ck_assert_uint_eq(((struct fuse_open_out *)body())->open_flags, want[i]);
	}
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "w", NULL), 0);
	ck_assert_uint_eq(((struct fuse_open_out *)((uint8_t *)body() + sizeof(struct fuse_entry_out)))->open_flags,
			  FOPEN_DIRECT_IO);
	cr.flags = O_RDWR | O_EXCL;
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "rw", NULL), 0);
	ck_assert_uint_eq(((struct fuse_open_out *)((uint8_t *)body() + sizeof(struct fuse_entry_out)))->open_flags, 0);
}
END_TEST

/* --- what a guest may make on a volume (pupa-vmm may run as root) ---------------------- */

static int host_lstat(const char *name, struct stat *st)
{
	char p[200];

	snprintf(p, sizeof(p), "%s/%s", vol, name);
	return lstat(p, st);
}

static int mknod_req(uint64_t dir, const char *name, uint32_t mode, uint32_t rdev)
{
	struct fuse_mknod_in mk = { .mode = mode, .rdev = rdev };

	return call(FUSE_MKNOD, dir, &mk, sizeof(mk), name, NULL);
}

/* As an unprivileged mknod(2) on Linux: EPERM for a device, whoever asks. */
START_TEST(fuse_mknod_makes_no_devices)
{
	uint64_t v = lookup(FS_ROOT_ID, "0");
	struct stat st;

	ck_assert_int_eq(mknod_req(v, "kmsg", S_IFCHR | 0666, (uint32_t)makedev(1, 11)), -EPERM);
	ck_assert_int_eq(mknod_req(v, "disk", S_IFBLK | 0600, (uint32_t)makedev(8, 0)), -EPERM);
	ck_assert_int_eq(mknod_req(v, "dir", S_IFDIR | 0755, 0), -EPERM);
	ck_assert_int_eq(mknod_req(v, "odd", 0110000 | 0644, 0), -EINVAL);
	ck_assert_int_ne(host_lstat("kmsg", &st), 0);
	ck_assert_int_ne(host_lstat("disk", &st), 0);
	ck_assert_int_ne(host_lstat("dir", &st), 0);
	ck_assert_int_ne(host_lstat("odd", &st), 0);
	/* What an unprivileged user may make, with the device number dropped. */
	ck_assert_int_eq(mknod_req(v, "fifo", S_IFIFO | 0644, (uint32_t)makedev(1, 11)), 0);
	ck_assert_int_eq(host_lstat("fifo", &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_uint_eq(st.st_rdev, 0);
	ck_assert_int_eq(mknod_req(v, "sock", S_IFSOCK | 0644, 0), 0);
	ck_assert_int_eq(host_lstat("sock", &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(mknod_req(v, "reg", S_IFREG | 0644, 0), 0);
	ck_assert_int_eq(host_lstat("reg", &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(mknod_req(v, "plain", 0644, 0), 0);	/* no type: a regular file */
	ck_assert_int_eq(host_lstat("plain", &st), 0);
	ck_assert(S_ISREG(st.st_mode));
}
END_TEST

static void host_mode_is(const char *name, mode_t want)
{
	struct stat st;

	ck_assert_int_eq(host_lstat(name, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == want, "%s: mode %o on the host, want %o", name,
		      (unsigned)(st.st_mode & 07777), (unsigned)want);
}

/* setuid and setgid files never come from a guest: chmod, CREATE, MKNOD
 * and MKDIR keep the permissions and the sticky bit, and drop those. */
START_TEST(fuse_guest_sets_no_setuid_or_setgid)
{
	uint64_t v = lookup(FS_ROOT_ID, "0"), f = lookup(v, "file"), sub = lookup(v, "sub");
	struct fuse_setattr_in sa = { .valid = FATTR_MODE };
	struct fuse_create_in cr = { .flags = O_WRONLY, .mode = S_IFREG | 06755 };
	struct fuse_mkdir_in mk = { .mode = 07755 };
	const mode_t asked[] = { 04755, 02755, 06711, 07777 }, want[] = { 0755, 0755, 0711, 01777 };
	struct stat st;

	for (unsigned int i = 0; i < 4; i++) {
		sa.mode = S_IFREG | asked[i];
		ck_assert_int_eq(call(FUSE_SETATTR, f, &sa, sizeof(sa), NULL, NULL), 0);
		host_mode_is("file", want[i]);
		ck_assert_uint_eq(((struct fuse_attr_out *)body())->attr.mode & 07777, want[i]);
	}
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "created", NULL), 0);
	host_mode_is("created", 0755);
	ck_assert_int_eq(mknod_req(v, "made", S_IFREG | 06755, 0), 0);
	host_mode_is("made", 0755);
	ck_assert_int_eq(mknod_req(v, "fifo", S_IFIFO | 06644, 0), 0);
	host_mode_is("fifo", 0644);
	ck_assert_int_eq(call(FUSE_MKDIR, v, &mk, sizeof(mk), "dir", NULL), 0);
	ck_assert_int_eq(host_lstat("dir", &st), 0);
	ck_assert_uint_eq(st.st_mode & (S_ISUID | 01777), 01755);
	/* A folder's setgid bit (its files take its group) is no privilege:
	 * chmod may set and clear it; setuid on a folder never. */
	sa.mode = S_IFDIR | 06775;
	ck_assert_int_eq(call(FUSE_SETATTR, sub, &sa, sizeof(sa), NULL, NULL), 0);
	host_mode_is("sub", 02775);
	sa.mode = S_IFDIR | 0755;
	ck_assert_int_eq(call(FUSE_SETATTR, sub, &sa, sizeof(sa), NULL, NULL), 0);
	host_mode_is("sub", 0755);
}
END_TEST

/* A CREATE that finds an entry opens it only if it is a regular file, as
 * OPEN does; never a FIFO (a worker would wait in open() for a reader
 * forever), a socket, a device, a folder or a symlink. */
START_TEST(fuse_create_opens_only_regular_files)
{
	uint64_t v = lookup(FS_ROOT_ID, "0");
	struct fuse_create_in cr = { .flags = O_WRONLY, .mode = 0644 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct fuse_read_in rd = { .size = 64 };
	char p[200];
	size_t n;
	int s;

	snprintf(p, sizeof(p), "%s/fifo", vol);
	ck_assert_int_eq(mkfifo(p, 0666), 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/sock", vol);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	if (geteuid() == 0) {	/* only root can make the host's own device node */
		snprintf(p, sizeof(p), "%s/null", vol);
		ck_assert_int_eq(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
		ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "null", NULL), -EACCES);
	}
	/* Write-only on a FIFO without a reader: before, open() never returned. */
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "fifo", NULL), -EACCES);
	cr.flags = O_RDONLY | O_NONBLOCK;
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "fifo", NULL), -EACCES);
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "sock", NULL), -EACCES);
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "sub", NULL), -EISDIR);
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "link-abs", NULL), -ELOOP);
	/* The volume still answers, and the tripwire behind the link is untouched. */
	lookup(v, "sub");
	ck_assert_str_eq(slurp(tripwire), "SECRET");

	/* An existing regular file: opened, with the guest's flags (O_EXCL refuses). */
	cr.flags = O_RDONLY;
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "file", NULL), 0);
	ck_assert_uint_eq(((struct fuse_entry_out *)body())->nodeid, lookup(v, "file"));
	rd.fh = ((struct fuse_open_out *)((uint8_t *)body() + sizeof(struct fuse_entry_out)))->fh;
	ck_assert_int_eq(call_ex(FUSE_READ, v, &rd, sizeof(rd), NULL, NULL, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(body(), "hello", 5);
	cr.flags = O_WRONLY | O_EXCL;
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "file", NULL), -EEXIST);
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "fifo", NULL), -EEXIST);
	cr.flags = O_WRONLY | O_TRUNC;
	ck_assert_int_eq(call(FUSE_CREATE, v, &cr, sizeof(cr), "file", NULL), 0);
	snprintf(p, sizeof(p), "%s/file", vol);
	ck_assert_str_eq(slurp(p), "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fuse");
	TCase *tc = tcase_create("server");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fuse_reads_a_file_of_a_volume);
	tcase_add_test(tc, fuse_refuses_names_that_leave_the_folder);
	tcase_add_test(tc, fuse_symlinks_stay_symlinks);
	tcase_add_test(tc, fuse_forgotten_node_is_stale);
	tcase_add_test(tc, fuse_rename_to_a_path_is_refused);
	tcase_add_test(tc, fuse_huge_read_is_capped);
	tcase_add_test(tc, fuse_read_only_volume_refuses_changes);
	tcase_add_test(tc, fuse_changes_reach_the_host);
	tcase_add_test(tc, fuse_owner_is_the_guests_choice);
	tcase_add_test(tc, fuse_root_lists_the_volumes);
	tcase_add_test(tc, fuse_volume_listing_resumes_at_its_offset);
	tcase_add_test(tc, fuse_nothing_before_init);
	tcase_add_test(tc, fuse_node_descriptors_stay_within_their_budget);
	tcase_add_test(tc, fuse_closed_node_replaced_on_the_host_is_stale);
	tcase_add_test(tc, fuse_renamed_node_is_found_by_its_new_name);
	tcase_add_test(tc, fuse_deep_folders_open_again_from_the_top);
	tcase_add_test(tc, fuse_file_data_moves_straight_to_guest_buffers);
	tcase_add_test(tc, fuse_write_only_opens_are_direct);
	tcase_add_test(tc, fuse_mknod_makes_no_devices);
	tcase_add_test(tc, fuse_guest_sets_no_setuid_or_setgid);
	tcase_add_test(tc, fuse_create_opens_only_regular_files);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
