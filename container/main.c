/*
 * pupa: start a Linux container in its own small virtual machine.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "decompress.h"

static const char usage[] =
	"usage: " CMD_START_SYNOPSIS
	"       " CMD_PULL_SYNOPSIS
	"       " CMD_IMAGES_SYNOPSIS
	"       " CMD_RMI_SYNOPSIS
	"       " CMD_PRUNE_SYNOPSIS
	"       pupa help [COMMAND] | version | --help | --version\n"
	"\n"
	"IMAGE is a root filesystem tarball (tar, .gz, .xz, .zst, .bz2): an http://,\n"
	"https:// or file:// URL or a path, optionally IMAGE@sha256:HEX; an OCI\n"
	"image layout, oci:DIR[:REF] or oci-archive:FILE[:REF]; a docker save\n"
	"archive, docker-archive:FILE[:NAME:TAG] (or its path); Podman's or Docker's\n"
	"images (containers-storage:NAME, docker-daemon:NAME) by skopeo; or a registry\n"
	"reference, [REGISTRY[:PORT]/]NAME[:TAG][@sha256:HEX]. start's default is a\n"
	"small busybox image installed with pupa. Containers reach the network\n"
	"through a user-mode NAT (--network slirp, the default; --network none for\n"
	"none). 'pupa run' is 'pupa start', as Docker names it; 'pupa COMMAND --help'\n"
	"lists a command's options. See pupa(1).\n";

static int version(void)
{
	printf("pupa %s\ngzip: %s\n", PACKAGE_VERSION, decompress_gzip_backend());
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "start", cmd_start },
		{ "run", cmd_start },	/* what Docker users type */
		{ "pull", cmd_pull },
		{ "images", cmd_images },
		{ "rmi", cmd_rmi },
		{ "prune", cmd_prune },
	};
	const size_t ncmds = sizeof(cmds) / sizeof(cmds[0]);

	if (argc < 2) {
		fputs(usage, stderr);
		return CMD_EXIT_FAILURE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    (strcmp(argv[1], "help") == 0 && argc == 2)) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)
		return version();
	if (strcmp(argv[1], "help") == 0) {
		/* pupa help COMMAND: that command's --help. */
		char *help[] = { argv[2], "--help", NULL };

		for (size_t i = 0; i < ncmds; i++)
			if (strcmp(argv[2], cmds[i].name) == 0)
				return cmds[i].fn(2, help);
		fprintf(stderr, "pupa: unknown command '%s' (see 'pupa --help')\n", argv[2]);
		return CMD_EXIT_FAILURE;
	}
	for (size_t i = 0; i < ncmds; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		fprintf(stderr, "pupa: unknown option '%s' (see 'pupa --help')\n", argv[1]);
	else
		fprintf(stderr, "pupa: unknown command '%s' (see 'pupa --help')\n", argv[1]);
	return CMD_EXIT_FAILURE;
}
