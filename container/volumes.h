/* SPDX-License-Identifier: MIT */
/*
 * A container's volumes as the user asks for them: -v HOSTDIR:DIR[:ro|:rw],
 * --mount type=bind,source=..,target=..[,readonly] and --volume-owner.
 * Turned into pupa-vmm's virtio-fs flags (--fs, --fs-volume, --fs-owner)
 * and the START message's VOLUME fields, which pupa-init bind-mounts.
 *
 * Every VM gets the virtio-fs device, volumes or not, so every start has
 * the same devices; the volumes of a run travel in START.
 */
#ifndef PUPA_VOLUMES_H
#define PUPA_VOLUMES_H

#include "agent_proto.h"
#include "error.h"

#define VOLUME_FS_TAG		"pupa"
#define VOLUME_TARGET_MAX	1024

struct volume_spec {
	char *host;			/* as given; resolved by volume_opts_resolve */
	char *vmm_arg;			/* "REALPATH[,ro]" once resolved */
	char target[VOLUME_TARGET_MAX];	/* normalised: absolute, no "." or ".." */
	int ro;
};

struct volume_opts {
	struct volume_spec v[AGENT_MAX_VOLUMES];
	unsigned int n;
	int owner_host;			/* --volume-owner=host */
};

/* One flag each; BadConfig naming the flag and value on a mistake. */
int volume_opt_bind(struct volume_opts *vo, const char *arg, struct pupa_err *err);
int volume_opt_mount(struct volume_opts *vo, const char *arg, struct pupa_err *err);
int volume_opt_owner(struct volume_opts *vo, const char *arg, struct pupa_err *err);

/* In kTransient: each host folder resolved against the current folder; a
 * missing one, or one that is not a folder, is an error naming it. */
int volume_opts_resolve(struct volume_opts *vo, struct pupa_err *err);

void volume_opts_free(struct volume_opts *vo);

/* pupa-vmm's flags, appended at argv[*argc]: at most 4 + 2 * n. */
void volume_opts_vmm_args(const struct volume_opts *vo, const char **argv, int *argc);

/* START's VOLUME field for volume i: "i:ro|rw:/TARGET". */
void volume_field(const struct volume_opts *vo, unsigned int i, char *buf, size_t len);

#endif
