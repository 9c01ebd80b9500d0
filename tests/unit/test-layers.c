/*
 * Image layers in the ext4 writer: whiteouts, opaque directories and a file
 * replacing a directory of an earlier layer, read back through libext2fs,
 * with e2fsck -fn on the result and the freed blocks counted.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>

#include "../../container/image/ext4_image.h"

static char image[64];
static struct ext4_image *img;
static struct pupa_err err;

static void setup(void)
{
	int fd;

	snprintf(image, sizeof(image), "/tmp/pupa-test-layers.XXXXXX");
	fd = mkstemp(image);
	ck_assert_int_ge(fd, 0);
	close(fd);
	memset(&err, 0, sizeof(err));
	ck_assert_msg(ext4_image_create(image, 64 << 20, 0, 1, &img, &err) == 0, "%s", err.msg);
}

static void teardown(void)
{
	unlink(image);
}

static struct ext4_meta meta(unsigned int mode)
{
	return (struct ext4_meta){ .mode = mode, .mtime = 1700000000, .atime = 1700000000,
				   .ctime = 1700000000 };
}

static void dir(const char *path)
{
	struct ext4_meta m = meta(S_IFDIR | 0755);

	ck_assert_msg(ext4_image_mkdir(img, path, &m, &err) == 0, "%s: %s", path, err.msg);
}

static void file(const char *path, size_t size)
{
	struct ext4_meta m = meta(S_IFREG | 0644);
	char *buf = malloc(size + 1);

	memset(buf, 'x', size);
	ck_assert_msg(ext4_image_file_begin(img, path, &m, size, 0, &err) == 0, "%s: %s", path, err.msg);
	ck_assert(ext4_image_file_write(img, 0, buf, size, &err) == 0);
	ck_assert(ext4_image_file_end(img, size, &err) == 0);
	free(buf);
}

static void whiteout(const char *path)
{
	ck_assert_msg(ext4_image_whiteout(img, path, &err) == 0, "%s: %s", path, err.msg);
}

static void finish(void)
{
	ck_assert_msg(ext4_image_finish(img, &err) == 0, "%s", err.msg);
	img = NULL;
}

/* 1 if path is in the finished image, with its mode in *mode. */
static int has(const char *path, unsigned int *mode)
{
	ext2_filsys fs;
	ext2_ino_t ino;
	struct ext2_inode in;
	int found;

	ck_assert(ext2fs_open(image, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs) == 0);
	found = ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino) == 0;
	if (found && mode) {
		ck_assert(ext2fs_read_inode(fs, ino, &in) == 0);
		*mode = in.i_mode;
	}
	ext2fs_close_free(&fs);
	return found;
}

static int fsck_clean(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "PATH=$PATH:/sbin:/usr/sbin e2fsck -fn %s > /dev/null 2>&1", image);
	return system(cmd) == 0;
}

static uint64_t free_blocks(void)
{
	ext2_filsys fs;
	uint64_t n;

	ck_assert(ext2fs_open(image, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs) == 0);
	n = ext2fs_free_blocks_count(fs->super);
	ext2fs_close_free(&fs);
	return n;
}

START_TEST(whiteouts_remove_lower_entries_recursively)
{
	ext4_image_next_layer(img);
	dir("a");
	file("a/f", 10);
	dir("a/sub");
	dir("a/sub/deeper");
	file("a/sub/deeper/g", 5000);
	file("keep", 3);
	ext4_image_next_layer(img);
	whiteout("a/f");
	whiteout("a/sub");
	whiteout("not/there");	/* a missing path is no error */
	finish();
	ck_assert(has("a", NULL));
	ck_assert(!has("a/f", NULL));
	ck_assert(!has("a/sub", NULL));
	ck_assert(has("keep", NULL));
	ck_assert_msg(fsck_clean(), "e2fsck -fn %s", image);
}
END_TEST

START_TEST(whiteout_gives_blocks_back)
{
	uint64_t with, without;

	ext4_image_next_layer(img);
	file("big", 8 << 20);
	ext4_image_next_layer(img);
	finish();
	with = free_blocks();
	ck_assert(ext4_image_create(image, 64 << 20, 0, 1, &img, &err) == 0);
	ext4_image_next_layer(img);
	file("big", 8 << 20);
	ext4_image_next_layer(img);
	whiteout("big");
	finish();
	without = free_blocks();
	ck_assert_msg(without >= with + 2048, "free blocks %llu with the file, %llu after its whiteout",
		      (unsigned long long)with, (unsigned long long)without);
	ck_assert(fsck_clean());
}
END_TEST

START_TEST(whiteout_spares_the_same_layer)
{
	ext4_image_next_layer(img);
	file("old", 1);
	ext4_image_next_layer(img);
	file("new", 1);
	whiteout("new");	/* written by this layer: only a later one hides it */
	whiteout("old");
	finish();
	ck_assert(has("new", NULL));
	ck_assert(!has("old", NULL));
	ck_assert(fsck_clean());
}
END_TEST

START_TEST(opaque_keeps_this_layers_entries_before_the_marker)
{
	ext4_image_next_layer(img);
	dir("e");
	file("e/old", 1);
	dir("e/keep");
	file("e/keep/lower", 1);
	dir("e/gone");
	file("e/gone/x", 1);
	ext4_image_next_layer(img);
	file("e/new", 1);
	file("e/keep/newer", 1);	/* under a directory of the layer below */
	ck_assert(ext4_image_opaque(img, "e", &err) == 0);
	file("e/after", 1);
	finish();
	ck_assert(has("e", NULL));
	ck_assert(has("e/new", NULL));
	ck_assert(has("e/after", NULL));
	ck_assert(has("e/keep/newer", NULL));
	ck_assert(!has("e/keep/lower", NULL));
	ck_assert(!has("e/old", NULL));
	ck_assert(!has("e/gone", NULL));
	ck_assert(fsck_clean());
}
END_TEST

START_TEST(later_layer_swaps_file_and_directory)
{
	unsigned int mode = 0;

	ext4_image_next_layer(img);
	file("f2d", 1);
	dir("d2f");
	dir("d2f/in");
	file("d2f/in/x", 1);
	ext4_image_next_layer(img);
	dir("f2d");
	file("f2d/inner", 1);
	file("d2f", 7);
	finish();
	ck_assert(has("f2d/inner", &mode) && S_ISREG(mode));
	ck_assert(has("d2f", &mode) && S_ISREG(mode));
	ck_assert(!has("d2f/in", NULL));
	ck_assert(fsck_clean());
}
END_TEST

START_TEST(same_layer_cannot_replace_a_directory)
{
	struct ext4_meta m = meta(S_IFREG | 0644);

	ext4_image_next_layer(img);
	dir("d");
	ck_assert(ext4_image_file_begin(img, "d", &m, 0, 0, &err) < 0);
	ck_assert_msg(strstr(err.msg, "would replace a directory of the same layer"), "%s", err.msg);
	ext4_image_abort(img);
}
END_TEST

START_TEST(hard_link_survives_whiteout_of_its_twin)
{
	ext4_image_next_layer(img);
	file("h1", 100);
	ck_assert(ext4_image_hardlink(img, "h2", "h1", &err) == 0);
	ext4_image_next_layer(img);
	whiteout("h1");
	finish();
	ck_assert(!has("h1", NULL));
	ck_assert(has("h2", NULL));
	ck_assert(fsck_clean());
}
END_TEST

START_TEST(root_cannot_be_whited_out)
{
	ext4_image_next_layer(img);
	ck_assert(ext4_image_whiteout(img, "", &err) < 0);
	ext4_image_abort(img);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("layers");
	TCase *tc = tcase_create("ext4");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, whiteouts_remove_lower_entries_recursively);
	tcase_add_test(tc, whiteout_gives_blocks_back);
	tcase_add_test(tc, whiteout_spares_the_same_layer);
	tcase_add_test(tc, opaque_keeps_this_layers_entries_before_the_marker);
	tcase_add_test(tc, later_layer_swaps_file_and_directory);
	tcase_add_test(tc, same_layer_cannot_replace_a_directory);
	tcase_add_test(tc, hard_link_survives_whiteout_of_its_twin);
	tcase_add_test(tc, root_cannot_be_whited_out);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
