/* The pull pipeline's pure parts: archive path rules, limits, sources,
 * SHA256SUMS lines, the path map. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "../../container/image/acl.h"
#include "../../container/image/digest.h"
#include "../../container/image/image_sum.h"
#include "../../container/image/pathmap.h"
#include "../../container/rundir.h"
#include "../../container/image/source.h"
#include "../../container/image/unpack.h"
#include "unit.h"

static const char *norm(const char *in)
{
	static char out[4096];
	const char *why = NULL;

	if (unpack_path_normalize(in, out, sizeof(out), &why) < 0)
		return why;
	return out;
}

START_TEST(test_normalize)
{
	ck_assert_str_eq(norm("./a//b/"), "a/b");
	ck_assert_str_eq(norm("."), "");
	ck_assert_str_eq(norm("./"), "");
	ck_assert_str_eq(norm("a/./b/."), "a/b");
	ck_assert_str_eq(norm("usr/bin/..."), "usr/bin/...");
	ck_assert_str_eq(norm("a/..b/c.."), "a/..b/c..");
	ck_assert_ptr_nonnull(strstr(norm("/etc/passwd"), "absolute path refused"));
	ck_assert_ptr_nonnull(strstr(norm("a/../../x"), "'..' component refused"));
	ck_assert_ptr_nonnull(strstr(norm(".."), "'..' component refused"));
	ck_assert_ptr_nonnull(strstr(norm("a/.."), "'..' component refused"));
}
END_TEST

START_TEST(test_normalize_too_long)
{
	char in[64], out[8];
	const char *why;

	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	ck_assert_int_eq(unpack_path_normalize(in, out, sizeof(out), &why), -1);
	ck_assert_str_eq(why, "path too long");
	ck_assert_int_eq(unpack_path_normalize("abcdefg", out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "abcdefg");
}
END_TEST

START_TEST(test_limits)
{
	struct unpack_limits lim;
	struct pupa_err err = { 0 };

	unpack_limits_default(&lim);
	ck_assert_int_eq(unpack_limit_parse(&lim, "entries=10", &err), 0);
	ck_assert_uint_eq(lim.entries, 10);
	ck_assert_int_eq(unpack_limit_parse(&lim, "size=2G", &err), 0);
	ck_assert_uint_eq(lim.size, 2ull << 30);
	ck_assert_int_eq(unpack_limit_parse(&lim, "ratio=50", &err), 0);
	ck_assert_uint_eq(lim.ratio, 50);
	ck_assert_int_eq(unpack_limit_parse(&lim, "names=1M", &err), 0);
	ck_assert_uint_eq(lim.names, 1ull << 20);
	ck_assert_int_lt(unpack_limit_parse(&lim, "size=-1", &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a positive number"));
	memset(&err, 0, sizeof(err));
	ck_assert_int_lt(unpack_limit_parse(&lim, "bogus=1", &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "expected entries=N"));
	memset(&err, 0, sizeof(err));
	ck_assert_int_lt(unpack_limit_parse(&lim, "size=99999999999T", &err), 0);
	memset(&err, 0, sizeof(err));
	ck_assert_int_lt(unpack_limit_parse(&lim, "entries", &err), 0);
}
END_TEST

START_TEST(test_sources)
{
	struct pupa_err err = { 0 };
	struct source s;
	char tmp[] = "/tmp/pupa-test-src.XXXXXX", url[128];
	int fd = mkstemp(tmp);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	ck_assert_int_eq(source_parse("http://h/r.tar.gz", &s, &err), 0);
	ck_assert_int_eq(s.kind, SOURCE_HTTP);
	ck_assert_str_eq(s.canonical, "http://h/r.tar.gz");
	ck_assert_str_eq(s.digest, "");
	ck_assert_int_eq(source_parse("https://h/r.tar@sha256:"
				      "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
				      &s, &err), 0);
	ck_assert_str_eq(s.canonical, "https://h/r.tar");
	ck_assert_str_eq(s.digest, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	ck_assert_int_lt(source_parse("http://h/r.tar@sha256:abc", &s, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "64 hex digits"));
	memset(&err, 0, sizeof(err));
	ck_assert_int_lt(source_parse("ftp://h/r.tar", &s, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "unsupported scheme"));
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(source_parse(tmp, &s, &err), 0);
	ck_assert_int_eq(s.kind, SOURCE_FILE);
	ck_assert_uint_eq(s.size, 1);
	snprintf(url, sizeof(url), "file://%s", tmp);
	ck_assert_int_eq(source_parse(url, &s, &err), 0);
	ck_assert_str_eq(s.path, tmp);
	ck_assert_int_lt(source_parse("file://relative/x", &s, &err), 0);
	memset(&err, 0, sizeof(err));
	ck_assert_int_lt(source_parse("/nonexistent/rootfs.tar", &s, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/rootfs.tar: No such file"));
	memset(&err, 0, sizeof(err));
	ck_assert_int_lt(source_parse("/tmp", &s, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
	unlink(tmp);
}
END_TEST

START_TEST(test_checksum_file)
{
	char dir[] = "/tmp/pupa-test-sums.XXXXXX", path[128], want[DIGEST_HEX_LEN + 1];
	struct pupa_err err = { 0 };
	struct source s;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/SHA256SUMS", dir);
	f = fopen(path, "w");
	fprintf(f, "1111111111111111111111111111111111111111111111111111111111111111  other.tar\n"
		   "2222222222222222222222222222222222222222222222222222222222222222 *rootfs.tar\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s/rootfs.tar", dir);
	f = fopen(path, "w");
	fclose(f);
	ck_assert_int_eq(source_parse(path, &s, &err), 0);
	ck_assert_int_eq(source_checksum_lookup(&s, want, &err), 0);
	ck_assert_str_eq(want, "2222222222222222222222222222222222222222222222222222222222222222");
	snprintf(path, sizeof(path), "%s/other.tar", dir);
	f = fopen(path, "w");
	fclose(f);
	ck_assert_int_eq(source_parse(path, &s, &err), 0);
	ck_assert_int_eq(source_checksum_lookup(&s, want, &err), 0);
	ck_assert_str_eq(want, "1111111111111111111111111111111111111111111111111111111111111111");
	snprintf(path, sizeof(path), "%s/SHA256SUMS", dir);	/* itself: no line */
	ck_assert_int_eq(source_parse(path, &s, &err), 0);
	ck_assert_int_lt(source_checksum_lookup(&s, want, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "has no line for SHA256SUMS"));
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

START_TEST(test_pathmap)
{
	struct pathmap m;
	char key[32];

	ck_assert_int_eq(pathmap_init(&m), 0);
	for (int i = 0; i < 50000; i++) {
		snprintf(key, sizeof(key), "d%d/f%d", i % 97, i);
		ck_assert_ptr_nonnull(pathmap_put(&m, key, strlen(key), (uint32_t)i + 1, 0100644));
	}
	for (int i = 0; i < 50000; i += 2) {
		snprintf(key, sizeof(key), "d%d/f%d", i % 97, i);
		pathmap_del(&m, key, strlen(key));
	}
	for (int i = 0; i < 50000; i++) {
		struct pathmap_ent *e;

		snprintf(key, sizeof(key), "d%d/f%d", i % 97, i);
		e = pathmap_get(&m, key, strlen(key));
		if (i % 2)
			ck_assert(e && e->ino == (uint32_t)i + 1);
		else
			ck_assert_ptr_null(e);
	}
	/* A prefix of a key is not the key. */
	ck_assert_ptr_null(pathmap_get(&m, "d1/f1", 4));
	ck_assert_uint_eq(m.used, 25000);
	pathmap_free(&m);
}
END_TEST

/* The map's bytes are bounded: a new path past max_bytes is refused with
 * E2BIG, replacing an existing one costs nothing, and a delete gives its
 * bytes back. */
START_TEST(test_pathmap_bytes_bounded)
{
	struct pathmap m;

	ck_assert_int_eq(pathmap_init(&m), 0);
	m.max_bytes = 10;
	ck_assert_ptr_nonnull(pathmap_put(&m, "abcd", 4, 1, 0100644));
	ck_assert_ptr_nonnull(pathmap_put(&m, "efgh", 4, 2, 0100644));
	ck_assert_uint_eq(m.bytes, 10);
	errno = 0;
	ck_assert_ptr_null(pathmap_put(&m, "i", 1, 3, 0100644));
	ck_assert_int_eq(errno, E2BIG);
	ck_assert_ptr_nonnull(pathmap_put(&m, "abcd", 4, 4, 0100644));
	pathmap_del(&m, "abcd", 4);
	ck_assert_uint_eq(m.bytes, 5);
	ck_assert_ptr_nonnull(pathmap_put(&m, "i", 1, 3, 0100644));
	pathmap_free(&m);
}
END_TEST

/* A held run folder survives a reap; once its holder is gone the next reap
 * removes it, contents and all; a kept one stays. */
START_TEST(rundir_reaped_only_when_free)
{
	char base[] = "/tmp/pupa-test-rundir.XXXXXX", path[4096], kept[4200], file[4200];
	char made[4200], orphan[4200];
	struct pupa_err err = { 0 };
	pid_t dead;
	int lock;

	ck_assert_ptr_nonnull(mkdtemp(base));
	setenv("XDG_RUNTIME_DIR", base, 1);
	ck_assert_str_eq(rundir_base(), base);
	lock = rundir_create(path, sizeof(path), &err);
	ck_assert_int_ge(lock, 0);
	snprintf(made, sizeof(made), "%s/pupa-run.", base);
	ck_assert_int_eq(strncmp(path, made, strlen(made)), 0);
	/* One being made (pupa-new.PID.*, not yet renamed into place) is left
	 * alone while its maker lives; one whose maker is gone is reaped. */
	snprintf(made, sizeof(made), "%s/pupa-new.%ld.XXXXXX", base, (long)getpid());
	ck_assert_ptr_nonnull(mkdtemp(made));
	dead = fork();
	if (dead == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(dead, NULL, 0), dead);
	snprintf(orphan, sizeof(orphan), "%s/pupa-new.%ld.XXXXXX", base, (long)dead);
	ck_assert_ptr_nonnull(mkdtemp(orphan));
	snprintf(file, sizeof(file), "%s/console.log", path);
	close(open(file, O_WRONLY | O_CREAT, 0600));
	ck_assert_int_eq(rundir_reap(base), 1);
	ck_assert_int_eq(access(made, F_OK), 0);
	ck_assert_int_ne(access(orphan, F_OK), 0);
	ck_assert_int_eq(rmdir(made), 0);
	ck_assert_int_eq(access(file, F_OK), 0);
	close(lock);				/* as a SIGKILL would */
	ck_assert_int_eq(rundir_reap(base), 1);
	ck_assert_int_ne(access(path, F_OK), 0);
	lock = rundir_create(path, sizeof(path), &err);
	ck_assert_int_ge(lock, 0);
	rundir_keep(path);
	close(lock);
	ck_assert_int_eq(rundir_reap(base), 0);
	snprintf(kept, sizeof(kept), "%s/KEPT", path);
	ck_assert_int_eq(access(kept, F_OK), 0);
	ck_assert_int_eq(rundir_remove(base), 0);
	unsetenv("XDG_RUNTIME_DIR");
}
END_TEST

/*
 * Starts made while another start reaps: a folder its maker holds is
 * never removed under it. (The reaper once let go of a stale folder's
 * lock before removing it, so a start that locked it in between lost its
 * folder: seen as "cannot listen on .../vsock_1024: No such file or
 * directory" in eight concurrent starts.)
 */
START_TEST(rundir_never_reaped_under_its_maker)
{
	char base[] = "/tmp/pupa-test-rundir.XXXXXX", path[4096], file[4200];
	struct pupa_err err = { 0 };
	struct timespec t0, now;
	int lost = 0, made = 0;
	pid_t parent, reaper;

	ck_assert_ptr_nonnull(mkdtemp(base));
	setenv("XDG_RUNTIME_DIR", base, 1);
	parent = getpid();
	reaper = fork();
	ck_assert_int_ge(reaper, 0);
	if (reaper == 0) {
		while (getppid() == parent)	/* not past a failed check */
			rundir_reap(base);
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int lock = rundir_create(path, sizeof(path), &err), fd;

		ck_assert_int_ge(lock, 0);
		made++;
		snprintf(file, sizeof(file), "%s/vsock", path);
		fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			lost++;
		else
			close(fd);
		rundir_remove(path);
		close(lock);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 2);
	kill(reaper, SIGKILL);
	waitpid(reaper, NULL, 0);
	ck_assert_msg(lost == 0, "%d of %d held run folders were reaped under their maker", lost, made);
	rundir_remove(base);
	unsetenv("XDG_RUNTIME_DIR");
}
END_TEST

START_TEST(test_digest)
{
	char hex[DIGEST_HEX_LEN + 1];
	struct digest *d = digest_new();

	digest_update(d, "ab", 2);
	digest_update(d, "c", 1);
	digest_hex(d, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	digest_free(d);
	digest_string("", hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_int_lt(digest_parse("xyz", hex), 0);
}
END_TEST

/* An entry with these access ACL entries (tag, qualifier) on top of its mode. */
static const char *acl_verdict(unsigned int ftype, int type, const int (*ents)[2], size_t n)
{
	struct archive_entry *e = archive_entry_new();
	unsigned char buf[ACL_XATTR_MAX];
	const char *why = NULL;
	size_t len;
	int ret;

	archive_entry_set_pathname(e, "x");
	archive_entry_set_filetype(e, ftype);
	archive_entry_set_perm(e, 0640);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(archive_entry_acl_add_entry(e, type, ARCHIVE_ENTRY_ACL_READ, ents[i][0],
							     ents[i][1], NULL), ARCHIVE_OK);
	ret = acl_xattr_from_entry(e, type, buf, &len, &why);
	archive_entry_free(e);
	ck_assert_int_eq(ret < 0, why != NULL);
	return ret < 0 ? why : "valid";
}

START_TEST(acl_checked_as_the_kernel_does)
{
	enum { UO = ARCHIVE_ENTRY_ACL_USER_OBJ, U = ARCHIVE_ENTRY_ACL_USER,
	       GO = ARCHIVE_ENTRY_ACL_GROUP_OBJ, G = ARCHIVE_ENTRY_ACL_GROUP,
	       M = ARCHIVE_ENTRY_ACL_MASK, O = ARCHIVE_ENTRY_ACL_OTHER };
	const int A = ARCHIVE_ENTRY_ACL_TYPE_ACCESS, D = ARCHIVE_ENTRY_ACL_TYPE_DEFAULT;
	const int good[][2] = { { UO, -1 }, { U, 1000 }, { GO, -1 }, { G, 20 }, { M, -1 }, { O, -1 } };
	const int no_mask[][2] = { { UO, -1 }, { U, 1000 }, { GO, -1 }, { O, -1 } };

	ck_assert_str_eq(acl_verdict(AE_IFREG, A, good, 6), "valid");
	ck_assert_str_eq(acl_verdict(AE_IFDIR, D, good, 6), "valid");
	ck_assert_str_eq(acl_verdict(AE_IFREG, A, no_mask, 4), "named users or groups without a mask entry");
	/* Not reachable through libarchive, checked all the same: a user named
	 * twice (it merges such entries) and a missing owner, group or other
	 * entry (it makes them from the mode bits). */
	ck_assert_str_eq(acl_verdict(AE_IFREG, D, good, 6), "a default ACL on something other than a folder");
}
END_TEST

/* The image file's sum: its data in pieces of 16 MiB, hashed in parallel. */
static void image_sum_of(int fd, char *hex)
{
	uint64_t size = 0;

	ck_assert_int_eq(image_sum(fd, &size, hex), 0);
	ck_assert_uint_eq(size, (uint64_t)lseek(fd, 0, SEEK_END));
}

START_TEST(image_sum_sees_every_piece)
{
	char tmpl[] = "/tmp/pupa-test-sum-XXXXXX", a[DIGEST_HEX_LEN + 1], b[DIGEST_HEX_LEN + 1];
	int fd = mkstemp(tmpl);
	size_t len = 40u << 20;	/* three pieces: 16 + 16 + 8 MiB */
	char *buf = malloc(len);

	ck_assert_int_ge(fd, 0);
	unlink(tmpl);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(i * 2654435761u >> 13);
	ck_assert_int_eq(pwrite(fd, buf, len, 0), (ssize_t)len);
	image_sum_of(fd, a);
	image_sum_of(fd, b);
	ck_assert_str_eq(a, b);			/* whatever thread took which piece */
	/* One byte in the last piece changes it. */
	ck_assert_int_eq(pwrite(fd, "x", 1, (off_t)len - 3), 1);
	image_sum_of(fd, b);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(pwrite(fd, buf + len - 3, 1, (off_t)len - 3), 1);
	image_sum_of(fd, b);
	ck_assert_str_eq(a, b);
	/* A longer file with a hole at the end is another file. */
	ck_assert_int_eq(ftruncate(fd, (off_t)len + 4096), 0);
	image_sum_of(fd, b);
	ck_assert_str_ne(a, b);
	free(buf);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pull");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_normalize);
	tcase_add_test(tc, test_normalize_too_long);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_sources);
	tcase_add_test(tc, test_checksum_file);
	tcase_add_test(tc, test_pathmap);
	tcase_add_test(tc, test_pathmap_bytes_bounded);
	tcase_add_test(tc, rundir_reaped_only_when_free);
	tcase_add_test(tc, rundir_never_reaped_under_its_maker);
	tcase_add_test(tc, test_digest);
	tcase_add_test(tc, acl_checked_as_the_kernel_does);
	tcase_add_test(tc, image_sum_sees_every_piece);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
