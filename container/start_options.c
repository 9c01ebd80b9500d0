/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "env_file.h"
#include "options.h"
#include "progress.h"
#include "start_options.h"

#define START_MAX_ENV_FILES 16

const char start_usage[] = "usage: " CMD_START_SYNOPSIS CMD_START_OPTIONS;

enum {
	OPT_MEMORY = 'm', OPT_HOSTNAME = 'h',
	OPT_CPUS = 0x200, OPT_ROOTFS_MODE, OPT_TIMEOUT, OPT_STATUS_FD,
	OPT_TIMINGS, OPT_KEEP_FAILED, OPT_NO_SNAPSHOT, OPT_KERNEL, OPT_INITRD, OPT_NETWORK,
	OPT_ENTRYPOINT, OPT_DNS, OPT_ADD_HOST, OPT_VERBOSE, OPT_MOUNT, OPT_VOLUME_OWNER,
	OPT_ENV_FILE, OPT_RM, OPT_INIT, OPT_READ_ONLY, OPT_PULL, OPT_HELP,
};

static const struct option start_long_options[] = {
	CMD_PULL_LONG_OPTIONS,
	{ "cache-dir", required_argument, NULL, CMD_OPT_CACHE_DIR },
	{ "progress", required_argument, NULL, CMD_OPT_PROGRESS },
	{ "env", required_argument, NULL, 'e' },
	{ "env-file", required_argument, NULL, OPT_ENV_FILE },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
	{ "interactive", no_argument, NULL, 'i' },
	{ "tty", no_argument, NULL, 't' },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "rootfs-mode", required_argument, NULL, OPT_ROOTFS_MODE },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "rm", no_argument, NULL, OPT_RM },
	{ "init", no_argument, NULL, OPT_INIT },
	{ "pull", required_argument, NULL, OPT_PULL },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "status-fd", required_argument, NULL, OPT_STATUS_FD },
	{ "timings", no_argument, NULL, OPT_TIMINGS },
	{ "keep-failed", no_argument, NULL, OPT_KEEP_FAILED },
	{ "no-snapshot", no_argument, NULL, OPT_NO_SNAPSHOT },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "volume", required_argument, NULL, 'v' },
	{ "mount", required_argument, NULL, OPT_MOUNT },
	{ "volume-owner", required_argument, NULL, OPT_VOLUME_OWNER },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "network", required_argument, NULL, OPT_NETWORK },
	{ "publish", required_argument, NULL, 'p' },
	{ "dns", required_argument, NULL, OPT_DNS },
	{ "add-host", required_argument, NULL, OPT_ADD_HOST },
	{ "help", no_argument, NULL, OPT_HELP },
	{ 0 },
};

/* What the loop gathers before it is put in order. */
struct start_parse {
	char *env[AGENT_MAX_ENV];	/* -e, in order */
	unsigned int nenv;
	const char *env_files[START_MAX_ENV_FILES];
	unsigned int nenv_files;
};

void start_options_init(struct start_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->memory_mib = 512;
	o->cpus = 1;
	o->rootfs_mode = ROOTFS_VOLATILE;
	o->progress_mode = PROGRESS_AUTO;
	o->status_fd = -1;
	o->pull_policy = START_PULL_ALWAYS;
	pull_options_default(&o->pull);
}

/*
 * digits[.digits] as a whole part (at most max) and millionths, so that
 * neither a fraction nor a size is a float's guess; -1 if s is not that.
 */
static int start__decimal(const char *s, const char **end, uint64_t max, uint64_t *whole,
			  uint64_t *frac)
{
	uint64_t scale = 1000000;
	const char *p = s;

	*whole = *frac = 0;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		*whole = *whole * 10 + (uint64_t)(*p - '0');
		if (*whole > max)
			return -1;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++)
			if (scale > 1) {
				scale /= 10;
				*frac += (uint64_t)(*p - '0') * scale;
			}
	}
	*end = p;
	return 0;
}

int start_parse_memory(const char *s, unsigned int *mib, struct pupa_err *err)
{
	uint64_t whole, frac, bytes, m;
	unsigned int shift;
	const char *end;

	/* 2^40 of anything is more than the largest --memory: no overflow below. */
	if (start__decimal(s, &end, (uint64_t)1 << 40, &whole, &frac) < 0)
		goto bad;
	switch (*end | 0x20) {
	case 'b': shift = 0; end++; break;
	case 'k': shift = 10; end++; break;
	case 'm': shift = 20; end++; break;
	case 'g': shift = 30; end++; break;
	default:
		if (*end)
			goto bad;
		shift = 20;	/* a plain number is MiB, as it always was here */
		break;
	}
	if (shift && (*end | 0x20) == 'b')
		end++;		/* "512mb", as Docker takes it */
	if (*end)
		goto bad;
	if (whole > ((uint64_t)1 << (50 - shift)))
		m = (uint64_t)START_MAX_MEMORY_MIB + 1;
	else {
		bytes = (whole << shift) + ((frac << shift) + 999999) / 1000000;
		m = (bytes + (1u << 20) - 1) >> 20;	/* whole MiB, rounded up */
	}
	if (m < START_MIN_MEMORY_MIB)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "--memory %s: %d MiB at least", s,
			       START_MIN_MEMORY_MIB);
	if (m > START_MAX_MEMORY_MIB)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "--memory %s: %d MiB (64g) at most",
			       s, START_MAX_MEMORY_MIB);
	*mib = (unsigned int)m;
	return 0;
bad:
	return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
		       "--memory '%s': expected a size such as 512m or 1g (b, k, m, g; a plain "
		       "number is MiB)", s);
}

int start_parse_cpus(const char *s, unsigned int *cpus, struct pupa_err *err)
{
	uint64_t whole, frac;
	const char *end;

	if (start__decimal(s, &end, 1000, &whole, &frac) < 0 || *end || (!whole && !frac) ||
	    whole + (frac > 0) > START_MAX_CPUS)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--cpus '%s': expected a number of vCPUs above 0 and at most %d "
			       "(a fraction rounds up)", s, START_MAX_CPUS);
	*cpus = (unsigned int)(whole + (frac > 0));	/* a VM has whole vCPUs */
	return 0;
}

static int start__opt_env(struct start_parse *sp, const char *arg, struct pupa_err *err)
{
	const char *val;
	char *kv;

	if (sp->nenv == AGENT_MAX_ENV)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "more than %d -e options",
			       AGENT_MAX_ENV);
	if (strchr(arg, '=')) {
		kv = strdup(arg);
	} else {
		/* Docker's -e NAME: the value from here, if set. */
		val = getenv(arg);
		if (!val)
			return 0;
		kv = malloc(strlen(arg) + strlen(val) + 2);
		if (kv)
			sprintf(kv, "%s=%s", arg, val);
	}
	if (!kv)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	sp->env[sp->nenv++] = kv;
	return 0;
}

static int start__opt_pull(const char *arg, enum start_pull_policy *p, struct pupa_err *err)
{
	if (strcmp(arg, "always") == 0)
		*p = START_PULL_ALWAYS;
	else if (strcmp(arg, "missing") == 0)
		*p = START_PULL_MISSING;
	else if (strcmp(arg, "never") == 0)
		*p = START_PULL_NEVER;
	else
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--pull '%s': expected always, missing or never", arg);
	return 0;
}

static int start__opt_status_fd(const char *arg, int *fd, struct pupa_err *err)
{
	unsigned int v;

	if (cmd_parse_uint("--status-fd", arg, 1024, &v, err) < 0)
		return -1;
	if (v < 3 || fcntl((int)v, F_GETFD) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--status-fd %u: not an open descriptor above 2", v);
	*fd = (int)v;
	return 0;
}

/* The options about what runs in the container and how it looks. */
static int start__opt_run(int opt, const char *arg, struct start_opts *o, struct start_parse *sp,
			  struct pupa_err *err)
{
	switch (opt) {
	case 'e':
		return start__opt_env(sp, arg, err);
	case OPT_ENV_FILE:
		if (sp->nenv_files == START_MAX_ENV_FILES)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "more than %d --env-file options",
				       START_MAX_ENV_FILES);
		sp->env_files[sp->nenv_files++] = arg;
		return 0;
	case 'w':
		if (arg[0] != '/')
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--workdir '%s': must be an absolute path", arg);
		o->workdir = arg;
		return 0;
	case 'u': o->user = arg; return 0;
	case OPT_ENTRYPOINT: o->entrypoint = arg; return 0;
	case OPT_HOSTNAME:
		if (!*arg || strlen(arg) > 64 || strchr(arg, '/'))
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--hostname '%s': 1 to 64 characters, no '/'", arg);
		o->hostname = arg;
		return 0;
	case 'i': o->interactive = 1; return 0;
	case 't': o->tty = 1; return 0;
	case OPT_RM: o->rm = 1; return 0;
	case OPT_INIT: o->init = 1; return 0;
	}
	return 1;
}

/* The options about the machine, its disk, network and volumes. */
static int start__opt_vm(int opt, const char *arg, struct start_opts *o, struct pupa_err *err)
{
	switch (opt) {
	case OPT_MEMORY: return start_parse_memory(arg, &o->memory_mib, err);
	case OPT_CPUS: return start_parse_cpus(arg, &o->cpus, err);
	case OPT_ROOTFS_MODE:
		if (rootfs_mode_parse(arg, &o->rootfs_mode) < 0)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--rootfs-mode '%s': expected volatile, ro or rw", arg);
		return 0;
	case OPT_READ_ONLY: o->rootfs_mode = ROOTFS_RO; return 0;
	case OPT_KERNEL: o->kernel = arg; return 0;
	case OPT_INITRD: o->initrd = arg; return 0;
	case OPT_NO_SNAPSHOT: o->no_snapshot = 1; return 0;
	case 'v': return volume_opt_bind(&o->vol, arg, err);
	case OPT_MOUNT: return volume_opt_mount(&o->vol, arg, err);
	case OPT_VOLUME_OWNER: return volume_opt_owner(&o->vol, arg, err);
	case OPT_NETWORK: return net_opt_network(&o->net, arg, err);
	case 'p': return net_opt_publish(&o->net, arg, err);
	case OPT_DNS: return net_opt_dns(&o->net, arg, err);
	case OPT_ADD_HOST: return net_opt_add_host(&o->net, arg, err);
	}
	return 1;
}

/* The options about pupa itself: the image, the display, the run. */
static int start__opt_tool(int opt, const char *arg, struct start_opts *o, struct pupa_err *err)
{
	int ret;

	if (cmd_pull_option(opt, arg, &o->pull, err, &ret))
		return ret;
	switch (opt) {
	case CMD_OPT_CACHE_DIR: o->cache_dir = arg; return 0;
	case CMD_OPT_PROGRESS: return cmd_parse_progress(arg, &o->progress_mode, err);
	case OPT_PULL: return start__opt_pull(arg, &o->pull_policy, err);
	case OPT_TIMEOUT: return cmd_parse_uint("--timeout", arg, 86400 * 365, &o->timeout_s, err);
	case 'q': o->quiet = 1; return 0;
	case OPT_STATUS_FD: return start__opt_status_fd(arg, &o->status_fd, err);
	case OPT_TIMINGS: o->timings = 1; return 0;
	case OPT_KEEP_FAILED: o->keep_failed = 1; return 0;
	case OPT_VERBOSE: o->verbose = 1; return 0;
	}
	return 1;
}

/* Docker's order: the --env-file variables, then -e (a later one wins). */
static int start__env(struct start_opts *o, struct start_parse *sp, struct pupa_err *err)
{
	for (unsigned int i = 0; i < sp->nenv_files; i++)
		if (env_file_read(sp->env_files[i], o->env, &o->nenv, AGENT_MAX_ENV, err) < 0)
			return -1;
	for (unsigned int i = 0; i < sp->nenv; i++) {
		if (o->nenv == AGENT_MAX_ENV)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "more than %d variables from -e and --env-file", AGENT_MAX_ENV);
		o->env[o->nenv++] = sp->env[i];
		sp->env[i] = NULL;
	}
	return 0;
}

/* [IMAGE [COMMAND [ARG...]]] or -- COMMAND [ARG...]; dashdash: getopt took a "--". */
static void start__operands(int argc, char **argv, int dashdash, struct start_opts *o)
{
	if (!dashdash && optind < argc) {
		o->image = argv[optind++];
		if (optind < argc && strcmp(argv[optind], "--") == 0)
			optind++;
	}
	o->argv = argv + optind;
}

int start_options_parse(int argc, char **argv, struct start_opts *o, struct pupa_err *err)
{
	struct start_parse sp;
	struct pupa_opt_bad bad;
	int opt, at, ret = 0;

	memset(&sp, 0, sizeof(sp));
	optind = 0;	/* GNU: start afresh, so parsing can run twice */
	for (;;) {
		at = optind ? optind : 1;
		opt = pupa_getopt(argc, argv, "+e:w:u:p:v:h:m:itq", start_long_options, &bad);
		if (opt == -1)
			break;
		if (opt == PUPA_OPT_UNKNOWN || opt == PUPA_OPT_NO_VALUE || opt == PUPA_OPT_HAS_VALUE) {
			pupa_opt_report("pupa", argv[0], opt, &bad);	/* start or run */
			ret = 2;
			goto out;
		}
		if (opt == OPT_HELP) {
			fputs(start_usage, stdout);
			ret = 1;
			goto out;
		}
		if ((ret = start__opt_run(opt, optarg, o, &sp, err)) == 1 &&
		    (ret = start__opt_vm(opt, optarg, o, err)) == 1)
			ret = start__opt_tool(opt, optarg, o, err);
		if (ret < 0)
			goto out;
	}
	start__operands(argc, argv, at < argc && strcmp(argv[at], "--") == 0 && optind == at + 1, o);
	if ((ret = start__env(o, &sp, err)) < 0 || (ret = net_opts_check(&o->net, err)) < 0)
		goto out;
	if (o->tty && !isatty(STDIN_FILENO))
		ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			      "--tty: the input device is not a terminal");
out:
	for (unsigned int i = 0; i < sp.nenv; i++)
		free(sp.env[i]);
	return ret;
}

void start_options_free(struct start_opts *o)
{
	for (unsigned int i = 0; i < o->nenv; i++)
		free(o->env[i]);
	o->nenv = 0;
	net_opts_free(&o->net);
	volume_opts_free(&o->vol);
}
