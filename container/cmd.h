/*
 * The pupa subcommands and what they share.
 */
#ifndef PUPA_CMD_H
#define PUPA_CMD_H

#include <signal.h>
#include <stdint.h>

#include "error.h"

struct pull_options;
struct progress;

/* Docker's status for the tool's own failures. */
#define CMD_EXIT_FAILURE 125

enum {
	CMD_OPT_CACHE_DIR = 0x100,
	CMD_OPT_PROGRESS,
	CMD_OPT_SHA256,
	CMD_OPT_VERIFY,
	CMD_OPT_IMAGE_SIZE,
	CMD_OPT_LIMIT,
	CMD_OPT_RETRIES,
	CMD_OPT_STALL,
	CMD_OPT_PLATFORM,
	CMD_OPT_INSECURE,
};

#define CMD_PULL_LONG_OPTIONS \
	{ "sha256", required_argument, NULL, CMD_OPT_SHA256 }, \
	{ "verify", required_argument, NULL, CMD_OPT_VERIFY }, \
	{ "image-size", required_argument, NULL, CMD_OPT_IMAGE_SIZE }, \
	{ "limit", required_argument, NULL, CMD_OPT_LIMIT }, \
	{ "retries", required_argument, NULL, CMD_OPT_RETRIES }, \
	{ "stall-timeout", required_argument, NULL, CMD_OPT_STALL }, \
	{ "platform", required_argument, NULL, CMD_OPT_PLATFORM }, \
	{ "insecure-registry", required_argument, NULL, CMD_OPT_INSECURE }

/* One line each, shared by the subcommand's usage and pupa --help. */
#define CMD_PULL_SYNOPSIS \
	"pupa pull [-q] [--cache-dir DIR] [--image-size SIZE]\n" \
	"                 [--insecure-registry HOST[:PORT]] [--limit NAME=VALUE]\n" \
	"                 [--platform OS/ARCH[/VARIANT]] [--progress MODE] [--retries N]\n" \
	"                 [--sha256 HEX] [--stall-timeout SECONDS] [--verify no|checksum]\n" \
	"                 IMAGE\n"
#define CMD_START_SYNOPSIS \
	"pupa start [-itq] [-e NAME[=VALUE]] [-p [HOSTIP:]HOSTPORT:PORT[/PROTO]]\n" \
	"                  [-u USER] [-v HOSTDIR:DIR[:ro|:rw]] [-w DIR]\n" \
	"                  [--add-host NAME:IP] [--cache-dir DIR]\n" \
	"                  [--cpus N] [--dns IP] [--entrypoint PROGRAM] [--hostname NAME]\n" \
	"                  [--initrd PATH] [--insecure-registry HOST[:PORT]]\n" \
	"                  [--keep-failed] [--kernel PATH] [--memory MIB] [--no-snapshot]\n" \
	"                  [--mount type=bind,source=HOSTDIR,target=DIR[,readonly]]\n" \
	"                  [--network slirp|none|slirp:allow_host_loopback=true]\n" \
	"                  [--platform OS/ARCH[/VARIANT]]\n" \
	"                  [--progress MODE] [--rootfs-mode volatile|ro|rw]\n" \
	"                  [--sha256 HEX] [--status-fd N] [--timeout SECONDS] [--timings]\n" \
	"                  [--verbose] [--volume-owner guest|host]\n" \
	"                  [IMAGE] [-- COMMAND [ARG...]]\n"
#define CMD_IMAGES_SYNOPSIS \
	"pupa images [-q] [--cache-dir DIR] [--format json|table] [--no-trunc] [--verify]\n"
#define CMD_RMI_SYNOPSIS "pupa rmi [--cache-dir DIR] NAME|DIGEST...\n"
#define CMD_PRUNE_SYNOPSIS "pupa prune [-af] [--cache-dir DIR] [--snapshots]\n"

int cmd_start(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_prune(int argc, char **argv);

/* Print the error to stderr; returns the exit status for it. */
int cmd_fail(struct pupa_err *err);
void cmd_catch_signals(void);
volatile sig_atomic_t *cmd_signal_flag(void);

int cmd_parse_size(const char *opt, const char *s, uint64_t *out, struct pupa_err *err);
/* --progress MODE into a progress_mode. */
int cmd_parse_progress(const char *s, int *mode, struct pupa_err *err);
int cmd_parse_uint(const char *opt, const char *s, unsigned int max, unsigned int *out,
		   struct pupa_err *err);
int cmd_pull_option(int opt, const char *arg, struct pull_options *o, struct pupa_err *err,
		    int *ret);
void cmd_pull_view_attach(struct pull_options *o, struct progress *p, void **state);

#endif
