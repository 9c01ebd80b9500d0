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
#include <unistd.h>

#include <jansson.h>

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

enum images_format { IMAGES_TABLE, IMAGES_QUIET, IMAGES_JSON };

struct cmd_images_ctx {
	const struct cache *cache;
	int no_trunc, verify;
	enum images_format format;
	unsigned int count, bad;
};

static void cmd__image_id(const struct cmd_images_ctx *ctx, const char *digest, char *out,
			  size_t len)
{
	/* As Docker: 12 digits, or the whole sha256:... with --no-trunc. */
	if (ctx->no_trunc)
		snprintf(out, len, "sha256:%s", digest);
	else
		snprintf(out, len, "%.12s", digest);
}

/* One JSON object a line, as docker images --format json writes them. */
static int cmd__image_json(const struct cmd_images_ctx *ctx, const struct cache_meta *m)
{
	char id[80], created[40];
	json_t *o, *names = json_array();
	struct tm tm;
	char *text;

	gmtime_r(&m->created, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cmd__image_id(ctx, m->digest, id, sizeof(id));
	for (size_t i = 0; names && i < m->n_names; i++)
		json_array_append_new(names, json_string(m->names[i]));
	o = json_pack("{s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:I, s:s, s:b}", "ID", id,
		      "Digest", m->digest, "Names", names, "CreatedAt", created,
		      "Size", (json_int_t)m->content, "DownloadSize", (json_int_t)m->compressed,
		      "DiskSize", (json_int_t)m->disk, "ImageFileSize", (json_int_t)m->size,
		      "Platform", m->platform, "InUse", m->in_use);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	puts(text);
	free(text);
	return 0;
}

/* Sizes as Docker prints them: three significant digits, decimal units. */
static void cmd__size(uint64_t bytes, char *out, size_t len)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(out, len, "%" PRIu64 "B", bytes);
	else
		snprintf(out, len, v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, units[u]);
}

static int cmd__image_row(const struct cache_meta *m, void *opaque)
{
	struct cmd_images_ctx *ctx = opaque;
	char created[32], size[32], download[32], id[80];
	int w = ctx->no_trunc ? 71 : 12;
	struct tm tm;

	cmd__image_id(ctx, m->digest, id, sizeof(id));
	if (ctx->verify) {
		struct pupa_err err = { 0 };

		if (cache_verify(ctx->cache, m->digest, &err) < 0) {
			printf("%-*s  FAILED  %s\n", w, id, err.msg);
			ctx->bad++;
		} else {
			printf("%-*s  OK\n", w, id);
		}
		return 0;
	}
	ctx->count++;
	if (ctx->format == IMAGES_QUIET) {
		puts(id);
		return 0;
	}
	if (ctx->format == IMAGES_JSON)
		return cmd__image_json(ctx, m);
	localtime_r(&m->created, &tm);
	strftime(created, sizeof(created), "%Y-%m-%d %H:%M", &tm);
	cmd__size(m->content, size, sizeof(size));
	if (m->compressed)
		cmd__size(m->compressed, download, sizeof(download));
	else
		snprintf(download, sizeof(download), "-");
	/* One row for each name, as Docker has one for each tag. */
	for (size_t i = 0; i == 0 || i < m->n_names; i++)
		printf("%-*s  %-14s  %8s  %8s  %-16s  %-6s  %s\n", w, id,
		       m->platform[0] ? m->platform : "-", size, download, created,
		       m->in_use ? "in use" : "-", m->n_names ? m->names[i] : "<none>");
	return 0;
}

int cmd_images(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cache-dir", required_argument, NULL, CMD_OPT_CACHE_DIR },
		{ "format", required_argument, NULL, 'f' },
		{ "no-trunc", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verify", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cmd_images_ctx ctx = { 0 };
	struct pupa_err err = { 0 };
	const char *cache_dir = NULL;
	struct pupa_opt_bad bad;
	struct cache c;
	int opt, quiet = 0;

	while ((opt = pupa_getopt(argc, argv, "+qh", opts, &bad)) != -1) {
		switch (opt) {
		case CMD_OPT_CACHE_DIR:
			cache_dir = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0) {
				ctx.format = IMAGES_JSON;
			} else if (strcmp(optarg, "table") == 0) {
				ctx.format = IMAGES_TABLE;
			} else {
				mgr_err(&err, GUEST_MANAGER_ERR_BAD_CONFIG,
					"--format '%s': expected json or table (pupa has no Go "
					"templates)", optarg);
				return cmd_fail(&err);
			}
			break;
		case 'n':
			ctx.no_trunc = 1;
			break;
		case 'q':
			quiet = 1;
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
	if (quiet)
		ctx.format = IMAGES_QUIET;	/* -q wins over --format, as in Docker */
	if (cache_open(&c, cache_dir, &err) < 0)
		return cmd_fail(&err);
	ctx.cache = &c;
	if (!ctx.verify && ctx.format == IMAGES_TABLE)
		printf("%-*s  %-14s  %8s  %8s  %-16s  %-6s  %s\n", ctx.no_trunc ? 71 : 12, "IMAGE ID",
		       "PLATFORM", "SIZE", "DOWNLOAD", "CREATED", "STATE", "NAME");
	if (cache_list(&c, cmd__image_row, &ctx, &err) < 0)
		return cmd_fail(&err);
	return ctx.bad ? CMD_EXIT_FAILURE : 0;
}

static const char rmi_usage[] = "usage: " CMD_RMI_SYNOPSIS;
static const char prune_usage[] = "usage: " CMD_PRUNE_SYNOPSIS;

static void cmd__removed(void *opaque, enum cache_removed what, const char *text)
{
	(void)opaque;
	printf("%s: %s\n", what == CACHE_DELETED ? "Deleted" : "Untagged", text);
}

int cmd_rmi(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cache-dir", required_argument, NULL, CMD_OPT_CACHE_DIR },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct pupa_err err = { 0 };
	const char *cache_dir = NULL;
	struct pupa_opt_bad bad;
	struct cache c;
	int opt, status = 0;

	while ((opt = pupa_getopt(argc, argv, "+h", opts, &bad)) != -1) {
		if (opt == CMD_OPT_CACHE_DIR) {
			cache_dir = optarg;
		} else if (opt == 'h') {
			fputs(rmi_usage, stdout);
			return 0;
		} else {
			pupa_opt_report("pupa", "rmi", opt, &bad);
			return CMD_EXIT_FAILURE;
		}
	}
	if (optind >= argc) {
		fputs(rmi_usage, stderr);
		return CMD_EXIT_FAILURE;
	}
	if (cache_open(&c, cache_dir, &err) < 0)
		return cmd_fail(&err);
	for (int i = optind; i < argc; i++) {
		char canonical[4400];

		memset(&err, 0, sizeof(err));
		/* A name as typed or as the cache records it, else a digest. */
		pull_canonical(argv[i], canonical, sizeof(canonical));
		if (cache_remove(&c, argv[i], canonical, cmd__removed, NULL, &err) < 0)
			status = cmd_fail(&err);
	}
	return status;
}

/* Docker's question, on a terminal only: a script's prune just runs. */
static int cmd__confirm(const char *what)
{
	char answer[16];

	printf("WARNING! This will remove %s.\nAre you sure you want to continue? [y/N] ", what);
	fflush(stdout);
	if (!fgets(answer, sizeof(answer), stdin))
		return 0;
	return answer[0] == 'y' || answer[0] == 'Y';
}

int cmd_prune(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "cache-dir", required_argument, NULL, CMD_OPT_CACHE_DIR },
		{ "force", no_argument, NULL, 'f' },
		{ "snapshots", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct pupa_err err = { 0 };
	const char *cache_dir = NULL;
	unsigned int images, snapshots = 0;
	int opt, all = 0, force = 0, with_snapshots = 0;
	struct pupa_opt_bad bad;
	uint64_t bytes;
	struct cache c;

	while ((opt = pupa_getopt(argc, argv, "+afh", opts, &bad)) != -1) {
		switch (opt) {
		case 'a':
			all = 1;
			break;
		case CMD_OPT_CACHE_DIR:
			cache_dir = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 's':
			with_snapshots = 1;
			break;
		case 'h':
			fputs(prune_usage, stdout);
			return 0;
		default:
			pupa_opt_report("pupa", "prune", opt, &bad);
			return CMD_EXIT_FAILURE;
		}
	}
	if (optind != argc) {
		fputs(prune_usage, stderr);
		return CMD_EXIT_FAILURE;
	}
	with_snapshots |= all;
	if (cache_open(&c, cache_dir, &err) < 0)
		return cmd_fail(&err);
	if (!force && isatty(STDIN_FILENO) &&
	    !cmd__confirm(all ? "every image no running container uses, and every snapshot" :
			  with_snapshots ? "every image with no name left, and every snapshot" :
			  "every image with no name left (pupa images shows <none>)"))
		return 0;
	if (cache_prune(&c, all ? CACHE_PRUNE_UNUSED : CACHE_PRUNE_DANGLING, &images, &bytes,
			&err) < 0 ||
	    (with_snapshots && snapshot_prune(&c, &snapshots, &err) < 0))
		return cmd_fail(&err);
	printf("Removed %u image%s and %u snapshot%s, reclaimed %.1f MiB\n", images,
	       images == 1 ? "" : "s", snapshots, snapshots == 1 ? "" : "s", (double)bytes / 1048576);
	return 0;
}
