/*
 * What the container runs: the image's config (OCI images have one;
 * tarballs do not) with the command line on top, by Docker's rules:
 *   - COMMAND after "--" replaces the image's Cmd;
 *   - --entrypoint replaces its Entrypoint and clears its Cmd ("" clears
 *     the Entrypoint too);
 *   - the program is Entrypoint followed by Cmd; a tarball with neither
 *     runs /bin/sh;
 *   - the image's Env first, then each -e, a later NAME replacing an
 *     earlier one in place;
 *   - -w over WorkingDir, -u over User. User is passed on as written:
 *     pupa-init resolves it in the image's own passwd and group.
 */
#ifndef PUPA_RUN_CONFIG_H
#define PUPA_RUN_CONFIG_H

#include "error.h"
#include "image/oci.h"

struct run_config {
	char **argv;		/* NULL-terminated; the strings are borrowed */
	char **env;
	const char *cwd, *user;	/* NULL: the image's or pupa-init's default */
};

struct run_request {
	const char *entrypoint;	/* --entrypoint, or NULL */
	char **command;		/* after "--", NULL-terminated, may be empty */
	char **env;		/* -e NAME=VALUE, NULL-terminated */
	const char *workdir, *user;
};

/* image NULL: a tarball. The result borrows strings from both inputs. */
int run_config_merge(const struct oci_config *image, const struct run_request *req,
		     struct run_config *out, struct pupa_err *err);
void run_config_free(struct run_config *rc);

#endif
