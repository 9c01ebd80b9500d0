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
	"       pupa --help | --version\n"
	"\n"
	"IMAGE is a root filesystem tarball (tar, .gz, .xz, .zst, .bz2): an http://,\n"
	"https:// or file:// URL or a path, optionally IMAGE@sha256:HEX; an OCI\n"
	"image layout, oci:DIR[:REF] or oci-archive:FILE[:REF]; or a registry\n"
	"reference, [REGISTRY[:PORT]/]NAME[:TAG][@sha256:HEX]. start's default is a\n"
	"small busybox image installed with pupa. Containers have no network\n"
	"(--network none). 'pupa COMMAND --help' lists a command's options.\n"
	"See pupa(1).\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "start", cmd_start },
		{ "pull", cmd_pull },
		{ "images", cmd_images },
		{ "rmi", cmd_rmi },
		{ "prune", cmd_prune },
	};

	if (argc < 2) {
		fputs(usage, stderr);
		return CMD_EXIT_FAILURE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("pupa %s\ngzip: %s\n", PACKAGE_VERSION, decompress_gzip_backend());
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "pupa: unknown command '%s'\n%s", argv[1], usage);
	return CMD_EXIT_FAILURE;
}
