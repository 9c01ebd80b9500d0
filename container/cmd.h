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
	"pupa start [-itq] [-e NAME[=VALUE]] [-h NAME] [-m SIZE]\n" \
	"                  [-p [HOSTIP:]HOSTPORT:PORT[/PROTO]] [-u USER]\n" \
	"                  [-v HOSTDIR:DIR[:ro|:rw]] [-w DIR] [--add-host NAME:IP]\n" \
	"                  [--cache-dir DIR] [--cpus N] [--dns IP]\n" \
	"                  [--entrypoint PROGRAM] [--env-file FILE] [--image-size SIZE]\n" \
	"                  [--init] [--initrd PATH] [--insecure-registry HOST[:PORT]]\n" \
	"                  [--keep-failed] [--kernel PATH] [--limit NAME=VALUE]\n" \
	"                  [--mount type=bind,source=HOSTDIR,target=DIR[,readonly]]\n" \
	"                  [--network slirp|none|slirp:allow_host_loopback=true]\n" \
	"                  [--no-snapshot] [--platform OS/ARCH[/VARIANT]]\n" \
	"                  [--progress MODE] [--pull always|missing|never]\n" \
	"                  [--read-only] [--retries N] [--rm]\n" \
	"                  [--rootfs-mode volatile|ro|rw] [--sha256 HEX]\n" \
	"                  [--stall-timeout SECONDS] [--status-fd N]\n" \
	"                  [--timeout SECONDS] [--timings] [--verbose]\n" \
	"                  [--verify no|checksum] [--volume-owner guest|host]\n" \
	"                  [IMAGE [COMMAND [ARG ...]] | -- COMMAND [ARG ...]]\n"
/* What start --help adds after its synopsis: one line per option. */
#define CMD_START_OPTIONS \
	"\n" \
	"Run COMMAND (or the image's own) in a new container, as 'docker run' does:\n" \
	"options first, then IMAGE; every word after IMAGE is the command. Without\n" \
	"IMAGE, 'pupa start -- COMMAND' uses the default image. 'pupa run' is the\n" \
	"same command.\n" \
	"\n" \
	"  -e, --env NAME[=VALUE]   set a variable (NAME alone: its value here)\n" \
	"      --env-file FILE      variables from FILE, NAME=VALUE a line (Docker's)\n" \
	"  -h, --hostname NAME      the container's hostname (default: a random id)\n" \
	"  -i, --interactive        keep the standard input open\n" \
	"  -m, --memory SIZE        guest memory: 512m, 1g (b, k, m, g; a plain\n" \
	"                           number is MiB; default 512, 64 to 65536 MiB)\n" \
	"  -p, --publish [HOSTIP:]HOSTPORT:PORT[/PROTO]\n" \
	"                           forward a host port (HOSTIP default 127.0.0.1)\n" \
	"  -q, --quiet              no progress display\n" \
	"  -t, --tty                a terminal for the command\n" \
	"  -u, --user USER          NAME, UID or UID:GID in the container\n" \
	"  -v, --volume HOSTDIR:DIR[:ro|:rw]\n" \
	"                           share a host folder\n" \
	"  -w, --workdir DIR        the command's working folder\n" \
	"      --add-host NAME:IP   a line in /etc/hosts (IP may be host-gateway)\n" \
	"      --cache-dir DIR      the image cache (default ~/.cache/pupa)\n" \
	"      --cpus N             vCPUs, 1 to 32; a fraction rounds up (1.5: 2)\n" \
	"      --dns IP             the container's name server\n" \
	"      --entrypoint PROGRAM replace the image's entrypoint\n" \
	"      --image-size SIZE    the ext4 image's size (default: from the archive)\n" \
	"      --init               accepted: pupa-init is PID 1 and reaps already\n" \
	"      --initrd PATH, --kernel PATH\n" \
	"                           boot another initramfs or kernel\n" \
	"      --insecure-registry HOST[:PORT]\n" \
	"                           that registry may use plain http\n" \
	"      --keep-failed        keep the run folder and console log of a failure\n" \
	"      --limit NAME=VALUE   an unpacking limit (see pupa(1))\n" \
	"      --mount type=bind,source=HOSTDIR,target=DIR[,readonly]\n" \
	"                           share a host folder, Docker's long form\n" \
	"      --network slirp|none|slirp:allow_host_loopback=true\n" \
	"                           the network (default slirp: outbound only)\n" \
	"      --no-snapshot        boot, neither resuming nor making a snapshot\n" \
	"      --platform OS/ARCH[/VARIANT]\n" \
	"                           which image of a multi-platform index\n" \
	"      --progress MODE      auto, tty, plain, json or none\n" \
	"      --pull always|missing|never\n" \
	"                           always (default) asks the image's source; missing\n" \
	"                           uses a cached one as is; never also fails without\n" \
	"                           asking when it is not cached\n" \
	"      --read-only          the same as --rootfs-mode ro\n" \
	"      --retries N          download retries (default 5)\n" \
	"      --rm                 accepted: a start leaves nothing behind anyway\n" \
	"      --rootfs-mode volatile|ro|rw\n" \
	"                           writes to the root disk: dropped (default),\n" \
	"                           refused, or kept in a private copy\n" \
	"      --sha256 HEX         the image's expected SHA-256\n" \
	"      --stall-timeout SECONDS\n" \
	"                           give up a download that stalls this long\n" \
	"      --status-fd N        the JSON progress stream to descriptor N\n" \
	"      --timeout SECONDS    stop the container after this long (exit 124)\n" \
	"      --timings            how long each state took\n" \
	"      --verbose            what pupa does, and the pupa-vmm command line\n" \
	"      --verify no|checksum check a tarball against its SHA256SUMS\n" \
	"      --volume-owner guest|host\n" \
	"                           who owns files in a volume, as the guest sees it\n" \
	"      --help               print this help\n" \
	"\n" \
	"See pupa(1).\n"
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
