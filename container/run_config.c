/*
 * The merge of an image's config with the command line (run_config.h).
 * Only pointer arrays are allocated; every string stays its owner's.
 */
#include <stdlib.h>
#include <string.h>

#include "agent_proto.h"
#include "run_config.h"

static size_t run__count(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* Append v to out (room was made for it). */
static size_t run__append(char **out, size_t n, char *const *v)
{
	for (size_t i = 0; v && v[i]; i++)
		out[n++] = v[i];
	return n;
}

static int run__same_name(const char *a, const char *b)
{
	size_t na = strcspn(a, "="), nb = strcspn(b, "=");

	return na == nb && strncmp(a, b, na) == 0;
}

static int run__argv(const struct oci_config *image, const struct run_request *req,
		     struct run_config *out, struct pupa_err *err)
{
	static char *const sh[] = { "/bin/sh", NULL };
	char *entry[2] = { (char *)req->entrypoint, NULL };
	char *const *ep, *const *cmd;
	size_t n = 0;

	if (req->entrypoint)
		ep = req->entrypoint[0] ? entry : NULL;
	else
		ep = image ? image->entrypoint : NULL;
	if (req->command && req->command[0])
		cmd = req->command;
	else if (req->entrypoint)
		cmd = NULL;
	else if (image)
		cmd = image->cmd;
	else
		cmd = sh;
	if (run__count(ep) + run__count(cmd) == 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "nothing to run: the image has no Entrypoint or Cmd; give a "
			       "command after '--'");
	if (run__count(ep) + run__count(cmd) > AGENT_MAX_ARGS)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "the command has %zu arguments (at most %d)",
			       run__count(ep) + run__count(cmd), AGENT_MAX_ARGS);
	out->argv = calloc(run__count(ep) + run__count(cmd) + 1, sizeof(*out->argv));
	if (!out->argv)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	n = run__append(out->argv, n, ep);
	run__append(out->argv, n, cmd);
	return 0;
}

static int run__env(const struct oci_config *image, const struct run_request *req,
		    struct run_config *out, struct pupa_err *err)
{
	size_t n = run__count(image ? image->env : NULL);

	out->env = calloc(n + run__count(req->env) + 1, sizeof(*out->env));
	if (!out->env)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	run__append(out->env, 0, image ? image->env : NULL);
	for (size_t i = 0; req->env && req->env[i]; i++) {
		size_t j = 0;

		while (j < n && !run__same_name(out->env[j], req->env[i]))
			j++;
		out->env[j] = req->env[i];
		if (j == n)
			n++;
	}
	if (n > AGENT_MAX_ENV)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "the environment has %zu variables (at most %d)", n, AGENT_MAX_ENV);
	return 0;
}

int run_config_merge(const struct oci_config *image, const struct run_request *req,
		     struct run_config *out, struct pupa_err *err)
{
	memset(out, 0, sizeof(*out));
	if (run__argv(image, req, out, err) < 0 || run__env(image, req, out, err) < 0) {
		run_config_free(out);
		return -1;
	}
	out->cwd = req->workdir ? req->workdir : image ? image->workdir : NULL;
	out->user = req->user ? req->user : image ? image->user : NULL;
	return 0;
}

void run_config_free(struct run_config *rc)
{
	free(rc->argv);
	free(rc->env);
	memset(rc, 0, sizeof(*rc));
}
