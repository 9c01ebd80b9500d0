#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datadir.h"

/* The first of the candidates under dir that exists, into out. */
static int datadir__pick(char *out, size_t len, const char *dir, const char *const *names)
{
	for (; *names; names++) {
		snprintf(out, len, "%.3800s/%.200s", dir, *names);
		if (access(out, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static int datadir__files(struct datadir *d, const char *dir)
{
	static const char *const kernel[] = { "bzImage", "images/kernel/bzImage", NULL };
	static const char *const initrd[] = { "initramfs.cpio", "images/initramfs.cpio", NULL };
	static const char *const image[] = { "default-rootfs.tar.gz", "images/default-rootfs.tar.gz", NULL };

	if (datadir__pick(d->kernel, sizeof(d->kernel), dir, kernel) < 0 ||
	    datadir__pick(d->initrd, sizeof(d->initrd), dir, initrd) < 0 ||
	    datadir__pick(d->default_image, sizeof(d->default_image), dir, image) < 0)
		return -ENOENT;
	return 0;
}

static void datadir__canonical(char *path)
{
	char real[PATH_MAX];

	if (realpath(path, real) && strlen(real) < 4096)
		strcpy(path, real);
}

int datadir_find(struct datadir *d, struct pupa_err *err)
{
	static const char *const vmm[] = { "pupa-vmm", "../vmm/pupa-vmm", NULL };
	const char *env = getenv("PUPA_DATADIR"), *env_vmm = getenv("PUPA_VMM");
	char exe[PATH_MAX], bindir[PATH_MAX], top[PATH_MAX + 8];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	memset(d, 0, sizeof(*d));
	if (n < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot find myself: %s",
			       strerror(errno));
	exe[n] = '\0';
	snprintf(bindir, sizeof(bindir), "%s", dirname(exe));
	snprintf(top, sizeof(top), "%s/..", bindir);

	if (env && *env) {
		if (datadir__files(d, env) < 0)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "PUPA_DATADIR=%s lacks bzImage, initramfs.cpio or "
				       "default-rootfs.tar.gz", env);
	} else if (datadir__files(d, top) < 0 && datadir__files(d, PKGDATADIR) < 0) {
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "no guest kernel, initramfs or default image in %s: run make "
			       "install, or set PUPA_DATADIR", PKGDATADIR);
	}
	if (env_vmm && *env_vmm)
		snprintf(d->vmm, sizeof(d->vmm), "%s", env_vmm);
	else if (datadir__pick(d->vmm, sizeof(d->vmm), bindir, vmm) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "pupa-vmm is not beside %s: install both, or set PUPA_VMM", exe);
	/* Plain paths in ps(1) and in messages. */
	datadir__canonical(d->vmm);
	datadir__canonical(d->kernel);
	datadir__canonical(d->initrd);
	datadir__canonical(d->default_image);
	return 0;
}
