/* pupa's side of snapshots (container/snapshot.c): the key, making one
 * under its lock, publishing, what is removed and when. No VM. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../container/image/cache.h"
#include "../../container/snapshot.h"
#include "unit.h"

static char base[64], vmm[96], kernel[96], initrd[96];
static struct cache cache;
static struct snapshot_inputs in;

static void touch(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/pupa-warm.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(vmm, sizeof(vmm), "%s/pupa-vmm", base);
	snprintf(kernel, sizeof(kernel), "%s/bzImage", base);
	snprintf(initrd, sizeof(initrd), "%s/initramfs", base);
	touch(vmm, "vmm");
	touch(kernel, "kernel");
	touch(initrd, "initrd");
	snprintf(cache.dir, sizeof(cache.dir), "%s/cache", base);
	ck_assert_int_eq(mkdir(cache.dir, 0700), 0);
	in = (struct snapshot_inputs){ vmm, kernel, initrd, 512, 1, 1 };
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	ck_assert_int_eq(system(cmd), 0);
}

static int count(const char *suffix)
{
	char cmd[sizeof(cache.dir) + 128];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls %s/snapshots | grep -c '%s' || true", cache.dir, suffix);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

START_TEST(warm_key_follows_what_the_guest_is_made_of)
{
	struct snapshot a, b, c;
	struct pupa_err err = { 0 };
	struct timeval later[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	ck_assert_int_eq(snapshot_init(&a, &cache, &in, &err), 0);
	ck_assert_uint_eq(strlen(a.key), 64);
	ck_assert_int_eq(snapshot_init(&b, &cache, &in, &err), 0);
	ck_assert_str_eq(a.key, b.key);
	ck_assert_str_eq(a.path, b.path);
	/* Another memory size: another key, the same build part of the name. */
	in.memory_mib = 1024;
	ck_assert_int_eq(snapshot_init(&b, &cache, &in, &err), 0);
	ck_assert_str_ne(a.key, b.key);
	ck_assert_int_eq(strncmp(strrchr(a.path, '/'), strrchr(b.path, '/'), 17), 0);
	/* A rebuilt kernel: another build part. */
	in.memory_mib = 512;
	ck_assert_int_eq(utimes(kernel, later), 0);
	ck_assert_int_eq(snapshot_init(&c, &cache, &in, &err), 0);
	ck_assert_str_ne(a.key, c.key);
	ck_assert_int_ne(strncmp(strrchr(a.path, '/'), strrchr(c.path, '/'), 17), 0);
	/* A missing file is an error naming it. */
	unlink(initrd);
	ck_assert_int_lt(snapshot_init(&c, &cache, &in, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, initrd));
}
END_TEST

START_TEST(warm_one_start_makes_it_and_publishes_it)
{
	struct snapshot a, b, old;
	struct pupa_err err = { 0 };
	struct timeval later[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	char stale[PATH_MAX + 100];

	ck_assert_int_eq(snapshot_init(&old, &cache, &in, &err), 0);
	ck_assert_int_eq(snapshot_begin(&old, &err), 1);
	ck_assert_int_eq(write(old.fd, "old", 3), 3);
	ck_assert_int_eq(snapshot_publish(&old, &err), 0);
	ck_assert(snapshot_exists(&old));

	/* A new build: its first start makes one and the old build's goes. */
	ck_assert_int_eq(utimes(vmm, later), 0);
	ck_assert_int_eq(snapshot_init(&a, &cache, &in, &err), 0);
	ck_assert(!snapshot_exists(&a));
	snprintf(stale, sizeof(stale), "%s.Xkilled", a.path);
	touch(stale, "left by a killed start");
	ck_assert_int_eq(snapshot_begin(&a, &err), 1);
	ck_assert_int_eq(access(stale, F_OK), -1);	/* under the lock, it was stale */
	/* Meanwhile another start goes on without making one. */
	ck_assert_int_eq(snapshot_init(&b, &cache, &in, &err), 0);
	ck_assert_int_eq(snapshot_begin(&b, &err), 0);
	ck_assert_int_eq(write(a.fd, "new", 3), 3);
	ck_assert_int_eq(snapshot_publish(&a, &err), 0);
	ck_assert(snapshot_exists(&a));
	ck_assert(!snapshot_exists(&old));
	ck_assert_int_eq(count("\\.snap\\."), 0);
	/* Once published, nobody makes it again. */
	ck_assert_int_eq(snapshot_begin(&b, &err), 0);
}
END_TEST

START_TEST(warm_abandoned_and_pruned_leave_nothing)
{
	struct snapshot a;
	struct pupa_err err = { 0 };
	unsigned int removed = 9;

	ck_assert_int_eq(snapshot_prune(&cache, &removed, &err), 0);
	ck_assert_uint_eq(removed, 0);	/* no folder yet */
	ck_assert_int_eq(snapshot_init(&a, &cache, &in, &err), 0);
	ck_assert_int_eq(snapshot_begin(&a, &err), 1);
	snapshot_abandon(&a);
	ck_assert_int_eq(count("\\.snap"), 0);
	ck_assert_int_eq(snapshot_begin(&a, &err), 1);
	ck_assert_int_eq(snapshot_publish(&a, &err), 0);
	ck_assert_int_eq(count("\\.snap$"), 1);
	snapshot_discard(&a);
	ck_assert(!snapshot_exists(&a));
	ck_assert_int_eq(snapshot_begin(&a, &err), 1);
	ck_assert_int_eq(snapshot_publish(&a, &err), 0);
	ck_assert_int_eq(snapshot_prune(&cache, &removed, &err), 0);
	ck_assert_uint_eq(removed, 1);
	ck_assert_int_eq(count("."), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("warm");
	TCase *tc = tcase_create("snapshot files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, warm_key_follows_what_the_guest_is_made_of);
	tcase_add_test(tc, warm_one_start_makes_it_and_publishes_it);
	tcase_add_test(tc, warm_abandoned_and_pruned_leave_nothing);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
