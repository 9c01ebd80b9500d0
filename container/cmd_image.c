/*
 * pupa pull, images, rmi, prune: the image cache from the command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "options.h"
#include "snapshot.h"
#include "cache.h"
#include "cmd.h"
#include "fetch.h"
#include "progress.h"
#include "oci.h"
#include "pull.h"
#include "reference.h"
#include "source.h"

static volatile sig_atomic_t cmd_signal;

static void cmd__on_signal(int sig)
{
	cmd_signal = sig;
}

void cmd_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = cmd__on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

volatile sig_atomic_t *cmd_signal_flag(void)
{
	return &cmd_signal;
}

int cmd_fail(struct pupa_err *err)
{
	char msg[1024];

	pupa_err_format(err, msg, sizeof(msg));
	fprintf(stderr, "pupa: %s\n", msg);
	return cmd_signal ? 128 + cmd_signal : CMD_EXIT_FAILURE;
}

int cmd_parse_size(const char *opt, const char *s, uint64_t *out, struct pupa_err *err)
{
	struct unpack_limits tmp;
	char spec[128];

	/* Same syntax as --limit size=: digits and an optional K, M, G, T. */
	snprintf(spec, sizeof(spec), "size=%s", s);
	if (unpack_limit_parse(&tmp, spec, err) < 0) {
		memset(err, 0, sizeof(*err));
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s '%s': expected a size such as 512M or 4G", opt, s);
	}
	*out = tmp.size;
	return 0;
}

int cmd_parse_progress(const char *s, int *mode, struct pupa_err *err)
{
	*mode = progress_mode_parse(s);
	if (*mode < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--progress '%s': expected auto, tty, plain, json or none", s);
	return 0;
}

int cmd_parse_uint(const char *opt, const char *s, unsigned int max, unsigned int *out,
		   struct pupa_err *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s '%s': expected a whole number from 0 to %u", opt, s, max);
	*out = (unsigned int)v;
	return 0;
}

/* pull_progress -> the display, which wants enter / bytes / leave. */
struct cmd_pull_view {
	struct progress *p;
	enum container_status shown;
};

static void cmd__pull_progress(void *opaque, const struct pull_progress *pp)
{
	struct cmd_pull_view *v = opaque;

	if (v->shown != pp->stage) {
		progress_enter(v->p, pp->stage);
		v->shown = pp->stage;
	}
	progress_layers(v->p, pp->layer, pp->layers);
	progress_bytes(v->p, pp->bytes, pp->total, pp->rate_bps, pp->eta_s, pp->note);
	if (pp->done)
		progress_leave(v->p);
}

void cmd_pull_view_attach(struct pull_options *o, struct progress *p, void **state)
{
	struct cmd_pull_view *v = calloc(1, sizeof(*v));

	if (v)
		v->p = p;
	*state = v;
	o->progress = v ? cmd__pull_progress : NULL;
	o->opaque = v;
}

/* The options pull and start share; returns 1 if opt was one of them. */
int cmd_pull_option(int opt, const char *arg, struct pull_options *o, struct pupa_err *err,
		    int *ret)
{
	*ret = 0;
	switch (opt) {
	case CMD_OPT_SHA256:
		o->sha256 = arg;
		return 1;
	case CMD_OPT_VERIFY:
		if (strcmp(arg, "no") == 0)
			o->verify = PULL_VERIFY_NO;
		else if (strcmp(arg, "checksum") == 0)
			o->verify = PULL_VERIFY_CHECKSUM;
		else
			*ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--verify '%s': expected no or checksum", arg);
		return 1;
	case CMD_OPT_IMAGE_SIZE:
		*ret = cmd_parse_size("--image-size", arg, &o->image_size, err);
		return 1;
	case CMD_OPT_LIMIT:
		*ret = unpack_limit_parse(&o->limits, arg, err);
		return 1;
	case CMD_OPT_RETRIES:
		*ret = cmd_parse_uint("--retries", arg, 100, &o->retries, err);
		return 1;
	case CMD_OPT_PLATFORM: {
		struct oci_platform pl;

		if (oci_platform_parse(arg, &pl) < 0)
			*ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--platform '%s': expected OS/ARCH[/VARIANT], as linux/amd64",
				       arg);
		o->platform = arg;
		return 1;
	}
	case CMD_OPT_INSECURE: {
		/* Repeatable: kept as one comma list. */
		static char list[4096];

		if (strlen(list) + strlen(arg) + 2 > sizeof(list) || strchr(arg, ','))
			*ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--insecure-registry '%s': one HOST[:PORT] each time", arg);
		else
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? "," : "", arg);
		o->insecure_registries = list;
		return 1;
	}
	case CMD_OPT_STALL:
		*ret = cmd_parse_uint("--stall-timeout", arg, 86400, &o->stall_s, err);
		if (*ret == 0 && o->stall_s == 0)
			*ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--stall-timeout must be at least 1 second");
		return 1;
	}
	return 0;
}

static const char pull_usage[] = "usage: " CMD_PULL_SYNOPSIS;

int cmd_pull(int argc, char **argv)
{
	static const struct option opts[] = {
		CMD_PULL_LONG_OPTIONS,
		{ "cache-dir", required_argument, NULL, CMD_OPT_CACHE_DIR },
		{ "progress", required_argument, NULL, CMD_OPT_PROGRESS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct pupa_err err = { 0 };
	struct pull_options o;
	struct pull_result res;
	struct progress *p;
	struct cache c;
	const char *cache_dir = NULL;
	void *view;
	struct pupa_opt_bad bad;
	int mode = PROGRESS_AUTO, opt, ret, shown;

	pull_options_default(&o);
	while ((opt = pupa_getopt(argc, argv, "+qh", opts, &bad)) != -1) {
		if (cmd_pull_option(opt, optarg, &o, &err, &ret)) {
			if (ret < 0)
				return cmd_fail(&err);
			continue;
		}
		switch (opt) {
		case CMD_OPT_CACHE_DIR:
			cache_dir = optarg;
			break;
		case CMD_OPT_PROGRESS:
			if (cmd_parse_progress(optarg, &mode, &err) < 0)
				return cmd_fail(&err);
			break;
		case 'q':
			mode = PROGRESS_NONE;
			break;
		case 'h':
			fputs(pull_usage, stdout);
			return 0;
		default:
			pupa_opt_report("pupa", "pull", opt, &bad);
			return CMD_EXIT_FAILURE;
		}
	}
	if (optind != argc - 1) {
		fputs(pull_usage, stderr);
		return CMD_EXIT_FAILURE;
	}
	o.image = argv[optind];
	ret = cache_open(&c, cache_dir, &err);
	if (ret < 0)
		return cmd_fail(&err);
	cmd_catch_signals();
	o.interrupted = cmd_signal_flag();
	p = progress_new((enum progress_mode)mode, stdout);
	cmd_pull_view_attach(&o, p, &view);
	ret = pull_image(&c, &o, &res, &err);
	shown = ret < 0 && progress_shows_failure(p);	/* then said once, there */
	if (ret < 0)
		progress_fail_err(p, res.failed_stage, err.msg, &err);
	progress_free(p);
	free(view);
	if (ret < 0)
		return shown ? (cmd_signal ? 128 + cmd_signal : CMD_EXIT_FAILURE) : cmd_fail(&err);
	printf("sha256:%s\n", res.digest);
	return 0;
}

static const char images_usage[] = "usage: " CMD_IMAGES_SYNOPSIS;

struct cmd_images_ctx {
	const struct cache *cache;
	int no_trunc, verify;
	unsigned int count, bad;
};

static int cmd__image_row(const struct cache_meta *m, void *opaque)
{
	struct cmd_images_ctx *ctx = opaque;
	char created[32], size[32], disk[32];
	struct tm tm;

	if (ctx->verify) {
		struct pupa_err err = { 0 };

		if (cache_verify(ctx->cache, m->digest, &err) < 0) {
			printf("%-*.*s  FAILED  %s\n", ctx->no_trunc ? 64 : 12,
			       ctx->no_trunc ? 64 : 12, m->digest, err.msg);
			ctx->bad++;
		} else {
			printf("%-*.*s  OK\n", ctx->no_trunc ? 64 : 12, ctx->no_trunc ? 64 : 12,
			       m->digest);
		}
		return 0;
	}
	localtime_r(&m->created, &tm);
	strftime(created, sizeof(created), "%Y-%m-%d %H:%M", &tm);
	snprintf(size, sizeof(size), "%.1fM", (double)m->size / 1048576);
	snprintf(disk, sizeof(disk), "%.1fM", (double)m->disk / 1048576);
	/* An OCI image: which platform's manifest of the source it is. */
	printf("%-*.*s  %9s  %9s  %-16s  %-6s  %s%s%s\n", ctx->no_trunc ? 64 : 12,
	       ctx->no_trunc ? 64 : 12, m->digest, size, disk, created,
	       m->in_use ? "in use" : "-", m->source[0] ? m->source : "?",
	       m->platform[0] ? " " : "", m->platform);
	ctx->count++;
	return 0;
}

int cmd_images(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cache-dir", required_argument, NULL, CMD_OPT_CACHE_DIR },
		{ "no-trunc", no_argument, NULL, 'n' },
		{ "verify", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cmd_images_ctx ctx = { 0 };
	struct pupa_err err = { 0 };
	const char *cache_dir = NULL;
	struct pupa_opt_bad bad;
	struct cache c;
	int opt;

	while ((opt = pupa_getopt(argc, argv, "+h", opts, &bad)) != -1) {
		switch (opt) {
		case CMD_OPT_CACHE_DIR:
			cache_dir = optarg;
			break;
		case 'n':
			ctx.no_trunc = 1;
			break;
		case 'v':
			ctx.verify = 1;
			break;
		case 'h':
			fputs(images_usage, stdout);
			return 0;
		default:
			pupa_opt_report("pupa", "images", opt, &bad);
			return CMD_EXIT_FAILURE;
		}
	}
	if (optind != argc) {
		fputs(images_usage, stderr);
		return CMD_EXIT_FAILURE;
	}
	if (cache_open(&c, cache_dir, &err) < 0)
		return cmd_fail(&err);
	ctx.cache = &c;
	if (!ctx.verify)
		printf("%-*s  %9s  %9s  %-16s  %-6s  %s\n", ctx.no_trunc ? 64 : 12, "DIGEST",
		       "SIZE", "ON DISK", "CREATED", "STATE", "SOURCE");
	if (cache_list(&c, cmd__image_row, &ctx, &err) < 0)
		return cmd_fail(&err);
	return ctx.bad ? CMD_EXIT_FAILURE : 0;
}

static const char rmi_usage[] = "usage: " CMD_RMI_SYNOPSIS;
static const char prune_usage[] = "usage: " CMD_PRUNE_SYNOPSIS;

/* rmi and prune take the same options. */
static int cmd__cache_args(int argc, char **argv, const char *usage, const char **cache_dir)
{
	static const struct option opts[] = {
		{ "cache-dir", required_argument, NULL, CMD_OPT_CACHE_DIR },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct pupa_opt_bad bad;
	int opt;

	*cache_dir = NULL;
	while ((opt = pupa_getopt(argc, argv, "+h", opts, &bad)) != -1) {
		if (opt == CMD_OPT_CACHE_DIR) {
			*cache_dir = optarg;
		} else if (opt == 'h') {
			fputs(usage, stdout);
			return 0;
		} else {
			pupa_opt_report("pupa", usage == rmi_usage ? "rmi" : "prune", opt, &bad);
			return CMD_EXIT_FAILURE;
		}
	}
	return -1;
}

/* IMAGE as the cache records its source: a tarball's URL or absolute
 * path, a layout's oci:/absolute/dir[:ref], a registry reference in full. */
static void cmd__canonical(const char *image, char *out, size_t len)
{
	char canon[4400], abs[PATH_MAX], ref[256];
	struct pupa_err ignore = { 0 };
	struct image_ref iref;
	struct source src;
	const char *why;

	snprintf(out, len, "%s", image);
	switch (image_kind_of(image)) {
	case IMAGE_OCI_LAYOUT:
	case IMAGE_OCI_ARCHIVE:
		if (image_layout_canonical(image, canon, sizeof(canon), abs, ref, sizeof(ref), &why) == 0)
			snprintf(out, len, "%s", canon);
		break;
	case IMAGE_TARBALL:
		if (source_parse(image, &src, &ignore) == 0)
			snprintf(out, len, "%s", src.canonical);
		break;
	case IMAGE_REGISTRY:
		/* alpine:3.20 is recorded as docker.io/library/alpine:3.20 */
		if (image_ref_parse(image, &iref, &why) == 0)
			image_ref_format(&iref, out, len);
		break;
	}
}

int cmd_rmi(int argc, char **argv)
{
	struct pupa_err err = { 0 };
	const char *cache_dir;
	struct cache c;
	int ret = cmd__cache_args(argc, argv, rmi_usage, &cache_dir), status = 0;

	if (ret >= 0)
		return ret;
	if (optind >= argc) {
		fputs(rmi_usage, stderr);
		return CMD_EXIT_FAILURE;
	}
	if (cache_open(&c, cache_dir, &err) < 0)
		return cmd_fail(&err);
	for (int i = optind; i < argc; i++) {
		char removed[DIGEST_HEX_LEN + 1];

		char canonical[4400];

		memset(&err, 0, sizeof(err));
		cmd__canonical(argv[i], canonical, sizeof(canonical));
		/* A digest, or the source as typed, else as the cache records it;
		 * a miss both ways is reported as typed. */
		ret = cache_remove(&c, argv[i], removed, &err);
		if (ret < 0 && err.code == GUEST_MANAGER_ERR_NOT_RUNNING &&
		    strcmp(canonical, argv[i]) != 0) {
			struct pupa_err again = { 0 };

			ret = cache_remove(&c, canonical, removed, &again);
			if (ret < 0 && again.code != GUEST_MANAGER_ERR_NOT_RUNNING)
				err = again;
		}
		if (ret < 0)
			status = cmd_fail(&err);
		else
			printf("Deleted: sha256:%s\n", removed);
	}
	return status;
}

int cmd_prune(int argc, char **argv)
{
	struct pupa_err err = { 0 };
	const char *cache_dir;
	unsigned int images, snapshots;
	uint64_t bytes;
	struct cache c;
	int ret = cmd__cache_args(argc, argv, prune_usage, &cache_dir);

	if (ret >= 0)
		return ret;
	if (optind != argc) {
		fputs(prune_usage, stderr);
		return CMD_EXIT_FAILURE;
	}
	if (cache_open(&c, cache_dir, &err) < 0 || cache_prune(&c, &images, &bytes, &err) < 0 ||
	    snapshot_prune(&c, &snapshots, &err) < 0)
		return cmd_fail(&err);
	printf("Removed %u image%s and %u snapshot%s, reclaimed %.1f MiB\n", images,
	       images == 1 ? "" : "s", snapshots, snapshots == 1 ? "" : "s", (double)bytes / 1048576);
	return 0;
}
