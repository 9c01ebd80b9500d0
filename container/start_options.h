/* SPDX-License-Identifier: MIT */
/*
 * pupa start's command line, taken as `docker run` takes it: options, then
 * IMAGE, then everything after IMAGE is the command ("--" stays for the
 * default image, "pupa start -- CMD", and is still accepted after IMAGE).
 * Only whole option names (lib/options.h). What pupa-vmm would refuse is
 * refused here, before anything starts.
 */
#ifndef PUPA_START_OPTIONS_H
#define PUPA_START_OPTIONS_H

#include "agent_proto.h"
#include "error.h"
#include "network.h"
#include "pull.h"
#include "rootfs_disk.h"
#include "volumes.h"

/* pupa-vmm's bounds (vmm/config.h), checked before it runs. */
#define START_MAX_CPUS 32
#define START_MIN_MEMORY_MIB 64
#define START_MAX_MEMORY_MIB 65536

/* --pull: when a cached image may stand in for asking its source. */
enum start_pull_policy {
	START_PULL_ALWAYS,	/* ask the source every time (the default) */
	START_PULL_MISSING,	/* a remote image already cached by that name is used as is */
	START_PULL_NEVER,	/* as missing, and fail when it is not cached */
};

struct start_opts {
	struct pull_options pull;
	const char *cache_dir;
	const char *image;
	char **argv;
	char *env[AGENT_MAX_ENV + 1];
	unsigned int nenv;
	const char *user, *workdir, *hostname, *entrypoint;
	const char *kernel, *initrd;
	int interactive, tty, quiet, verbose, timings, keep_failed, no_snapshot;
	int rm, init;		/* accepted as Docker's; see pupa(1) */
	enum start_pull_policy pull_policy;
	int progress_mode;
	int status_fd;
	unsigned int memory_mib, cpus, timeout_s;
	enum rootfs_mode rootfs_mode;
	struct net_opts net;
	struct volume_opts vol;
};

extern const char start_usage[];

/* Defaults, before start_options_parse. */
void start_options_init(struct start_opts *o);

/*
 * 0: o is filled; 1: --help was printed (exit 0); 2: an unknown option or
 * one without its value, already printed as one line (exit 125);
 * negative: err says why.
 */
int start_options_parse(int argc, char **argv, struct start_opts *o, struct pupa_err *err);

void start_options_free(struct start_opts *o);

/* --memory: Docker's b, k, m, g suffixes; a plain number is MiB. Rounded up to MiB. */
int start_parse_memory(const char *s, unsigned int *mib, struct pupa_err *err);
/* --cpus: a decimal such as 1.5, rounded up to whole vCPUs. */
int start_parse_cpus(const char *s, unsigned int *cpus, struct pupa_err *err);

#endif
