/* SPDX-License-Identifier: MIT */
/*
 * pupa-vmm's confinement as the file server meets it, each part in a
 * child process of its own (a filter or a Landlock domain cannot be
 * undone): no device node on a volume whatever the server asks for, and
 * root's capabilities to make one, or keep a setuid bit, gone.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "unit.h"

static char base[64], vol[96], rovol[96];

static void setup(void)
{
	snprintf(base, sizeof(base), "/tmp/pupa-sandbox-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(vol, sizeof(vol), "%s/vol", base);
	snprintf(rovol, sizeof(rovol), "%s/ro", base);
	ck_assert_int_eq(mkdir(vol, 0755), 0);
	ck_assert_int_eq(mkdir(rovol, 0755), 0);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	ck_assert_int_eq(system(cmd), 0);
}

/* Run fn in a child; its wait status. */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static int exists_in(const char *dir, const char *name)
{
	char p[200];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

/* --- seccomp: mknodat of a device is fatal on a virtio-fs worker ------------------ */

static int fs_worker_makes(mode_t type, const char *name)
{
	struct pupa_err err = { 0 };
	struct sandbox *sb;
	int dfd = open(vol, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || sandbox__prepare(&sb, &err) < 0 || sandbox__enter(sb, SANDBOX_FS) < 0)
		return 100;
	/* What the server makes, allowed... */
	if (mknodat(dfd, "fifo", S_IFIFO | 0600, 0) < 0 || mknodat(dfd, "sock", S_IFSOCK | 0600, 0) < 0 ||
	    mknodat(dfd, "reg", S_IFREG | 0600, 0) < 0 || mknodat(dfd, "plain", 0600, 0) < 0)
		return 101;
	/* ...and a device: SIGSYS before the kernel sees it. */
	mknodat(dfd, name, type | 0600, makedev(1, 3));
	return 0;
}

static int fs_worker_makes_chr(void) { return fs_worker_makes(S_IFCHR, "chr"); }
static int fs_worker_makes_blk(void) { return fs_worker_makes(S_IFBLK, "blk"); }

START_TEST(sandbox_fs_worker_dies_making_a_device)
{
	int status;

	unsetenv("PUPA_VMM_SECCOMP");
	status = in_child(fs_worker_makes_chr);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		      "mknodat S_IFCHR on a virtio-fs worker: wait status %#x, not SIGSYS", status);
	ck_assert(exists_in(vol, "fifo") && exists_in(vol, "sock") && exists_in(vol, "reg") &&
		  exists_in(vol, "plain"));
	ck_assert(!exists_in(vol, "chr"));
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -f %s/*", vol);
		ck_assert_int_eq(system(cmd), 0);
	}
	status = in_child(fs_worker_makes_blk);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		      "mknodat S_IFBLK on a virtio-fs worker: wait status %#x, not SIGSYS", status);
	ck_assert(!exists_in(vol, "blk"));
}
END_TEST

/* --- Landlock: a read-write volume takes no device node --------------------------- */

static int landlocked_makes(void)
{
	const char *vols[] = { vol, rovol };
	const int ro[] = { 0, 1 };
	struct sandbox_paths sp = { .volumes = vols, .volume_ro = ro, .nr_volumes = 2 };
	struct pupa_err err = { 0 };
	char p[200];

	unsetenv("PUPA_VMM_LANDLOCK");
	if (syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */) < 1)
		return 99;
	sandbox__harden_process();
	if (sandbox__landlock(&sp, &err) < 0)
		return 100;
	snprintf(p, sizeof(p), "%s/fifo", vol);
	if (mknod(p, S_IFIFO | 0600, 0) < 0)
		return 101;
	snprintf(p, sizeof(p), "%s/sock", vol);
	if (mknod(p, S_IFSOCK | 0600, 0) < 0)
		return 102;
	snprintf(p, sizeof(p), "%s/reg", vol);
	if (mknod(p, S_IFREG | 0600, 0) < 0)
		return 103;
	/* Landlock answers before the capability check: EACCES, root or not. */
	snprintf(p, sizeof(p), "%s/chr", vol);
	if (mknod(p, S_IFCHR | 0600, makedev(1, 3)) == 0 || errno != EACCES)
		return 104;
	snprintf(p, sizeof(p), "%s/blk", vol);
	if (mknod(p, S_IFBLK | 0600, makedev(7, 0)) == 0 || errno != EACCES)
		return 105;
	snprintf(p, sizeof(p), "%s/fifo", rovol);
	if (mknod(p, S_IFIFO | 0600, 0) == 0 || errno != EACCES)
		return 106;
	return 0;
}

START_TEST(sandbox_landlock_volume_takes_no_device)
{
	int status = in_child(landlocked_makes);

	ck_assert_msg(WIFEXITED(status), "the Landlocked child died: wait status %#x", status);
	ck_assert_msg(WEXITSTATUS(status) != 99, "this kernel has no Landlock: volumes are not confined");
	ck_assert_msg(WEXITSTATUS(status) == 0, "Landlocked child: step %d failed", WEXITSTATUS(status));
	ck_assert(exists_in(vol, "fifo") && exists_in(vol, "sock") && exists_in(vol, "reg"));
	ck_assert(!exists_in(vol, "chr") && !exists_in(vol, "blk") && !exists_in(rovol, "fifo"));
}
END_TEST

/* --- capabilities --------------------------------------------------------------- */

/* A CapXxx line of /proc/self/status. */
static uint64_t cap_set(const char *which)
{
	char line[256];
	uint64_t v = 0;
	size_t n = strlen(which);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		_exit(110);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, which, n) == 0 && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	return v;
}

#define BIT(c) (1ULL << (c))

static int caps_after(unsigned int keep)
{
	struct pupa_err err = { 0 };
	const uint64_t gone = BIT(CAP_MKNOD) | BIT(CAP_SYS_ADMIN) |
			      ((keep & SANDBOX_KEEP_FSETID) ? 0 : BIT(CAP_FSETID));
	/* What a root pupa-vmm still uses on a volume: others' files, --volume-owner host's chown. */
	const uint64_t kept = BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FOWNER) |
			      ((keep & SANDBOX_KEEP_FSETID) ? BIT(CAP_FSETID) : 0);
	const char *sets[] = { "CapEff", "CapPrm", "CapInh", "CapBnd" };
	char p[200];

	sandbox__harden_process();
	if (sandbox__drop_caps(keep, &err) < 0)
		return 100;
	/* An ordinary user cannot shrink its bounding set, nor needs to. */
	for (int i = 0; i < (geteuid() == 0 ? 4 : 3); i++)
		if (cap_set(sets[i]) & gone)
			return 101 + i;
	if (geteuid() == 0 && (cap_set("CapEff") & kept) != kept)
		return 105;
	snprintf(p, sizeof(p), "%s/chr", vol);
	if (mknod(p, S_IFCHR | 0600, makedev(1, 3)) == 0 || errno != EPERM)
		return 106;
	return 0;
}

static int caps_volumes(void) { return caps_after(0); }
static int caps_root_share(void) { return caps_after(SANDBOX_KEEP_FSETID); }

START_TEST(sandbox_drops_device_admin_and_setuid_caps)
{
	int status = in_child(caps_volumes);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "volumes only: wait status %#x", status);
	status = in_child(caps_root_share);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "keeping CAP_FSETID: wait status %#x", status);
	ck_assert(!exists_in(vol, "chr"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("fs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, sandbox_fs_worker_dies_making_a_device);
	tcase_add_test(tc, sandbox_landlock_volume_takes_no_device);
	tcase_add_test(tc, sandbox_drops_device_admin_and_setuid_caps);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
