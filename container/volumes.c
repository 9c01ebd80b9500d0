/* SPDX-License-Identifier: MIT */
#include "volumes.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int vol__bad(struct pupa_err *err, const char *flag, const char *arg, const char *why)
{
	return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s '%s': %s", flag, arg, why);
}

/* The container side: absolute, "/" alone refused, "//" and a trailing
 * "/" folded, "." and ".." refused (pupa-init checks again). */
static int vol__target(const char *in, char *out, size_t len)
{
	size_t n = 0;

	if (in[0] != '/')
		return -1;
	for (const char *c = in; *c; ) {
		size_t k;

		while (*c == '/')
			c++;
		k = strcspn(c, "/");
		if (!k)
			break;
		if ((k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.') ||
		    n + 1 + k >= len)
			return -1;
		out[n++] = '/';
		memcpy(out + n, c, k);
		n += k;
		c += k;
	}
	out[n] = '\0';
	return n ? 0 : -1;
}

static int vol__add(struct volume_opts *vo, const char *flag, const char *arg, const char *host,
		    size_t host_len, const char *target, int ro, struct pupa_err *err)
{
	struct volume_spec *v = &vo->v[vo->n];
	char t[VOLUME_TARGET_MAX];

	if (vo->n == AGENT_MAX_VOLUMES)
		return vol__bad(err, flag, arg, "more than 64 volumes");
	if (!host_len)
		return vol__bad(err, flag, arg, "no host folder given");
	if (host[0] != '/' && host[0] != '.')
		return vol__bad(err, flag, arg, "named volumes are not supported: give a host "
				"folder, as an absolute path or one that starts with ./");
	if (host[0] == '.' && !(host_len == 1 || host[1] == '/' ||
				(host[1] == '.' && (host_len == 2 || host[2] == '/'))))
		return vol__bad(err, flag, arg, "a relative host folder starts with ./ or ../");
	if (vol__target(target, t, sizeof(t)) < 0)
		return vol__bad(err, flag, arg, "the container folder must be an absolute path "
				"other than /, without . or .. parts");
	for (unsigned int i = 0; i < vo->n; i++)
		if (strcmp(vo->v[i].target, t) == 0)
			return vol__bad(err, flag, arg, "that container folder already has a volume");
	v->host = strndup(host, host_len);
	if (!v->host)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	snprintf(v->target, sizeof(v->target), "%s", t);
	v->ro = ro;
	vo->n++;
	return 0;
}

/* HOSTDIR:DIR[:ro|:rw], Docker's -v for a bind mount. */
int volume_opt_bind(struct volume_opts *vo, const char *arg, struct pupa_err *err)
{
	const char *colon = strchr(arg, ':'), *mode;
	char target[VOLUME_TARGET_MAX];
	int ro = 0;

	if (!colon)
		return vol__bad(err, "-v", arg, "expected HOSTDIR:CONTAINERDIR[:ro] (pupa has no "
				"anonymous volumes)");
	mode = strchr(colon + 1, ':');
	if (mode) {
		if (strcmp(mode + 1, "ro") == 0)
			ro = 1;
		else if (strcmp(mode + 1, "rw") != 0)
			return vol__bad(err, "-v", arg, "the options after the container folder are "
					"ro or rw");
	}
	snprintf(target, sizeof(target), "%.*s",
		 (int)(mode ? (size_t)(mode - colon - 1) : strlen(colon + 1)), colon + 1);
	return vol__add(vo, "-v", arg, arg, (size_t)(colon - arg), target, ro, err);
}

/* Does the key=value item start with one of these keys? Its value, or NULL. */
static const char *vol__key(const char *item, size_t len, const char *const *keys, char *buf,
			    size_t buflen)
{
	for (const char *const *k = keys; *k; k++) {
		size_t kl = strlen(*k);

		if (len > kl && strncmp(item, *k, kl) == 0 && item[kl] == '=') {
			snprintf(buf, buflen, "%.*s", (int)(len - kl - 1), item + kl + 1);
			return buf;
		}
	}
	return NULL;
}

/* --mount type=bind,source=HOSTDIR,target=DIR[,readonly] (Docker's keys). */
int volume_opt_mount(struct volume_opts *vo, const char *arg, struct pupa_err *err)
{
	static const char *const type_k[] = { "type", NULL };
	static const char *const src_k[] = { "source", "src", NULL };
	static const char *const dst_k[] = { "target", "destination", "dst", NULL };
	static const char *const ro_k[] = { "readonly", "ro", NULL };
	char type[32] = "", src[PATH_MAX] = "", dst[VOLUME_TARGET_MAX] = "", val[PATH_MAX];
	int ro = 0;

	for (const char *c = arg; *c; ) {
		size_t len = strcspn(c, ",");

		int known = vol__key(c, len, type_k, type, sizeof(type)) ||
			    vol__key(c, len, src_k, src, sizeof(src)) ||
			    vol__key(c, len, dst_k, dst, sizeof(dst));

		if (!known && vol__key(c, len, ro_k, val, sizeof(val))) {
			ro = strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
			known = 1;
		}
		if (!known && ((len == 8 && strncmp(c, "readonly", 8) == 0) ||
			       (len == 2 && strncmp(c, "ro", 2) == 0))) {
			ro = 1;
			known = 1;
		}
		if (!known)
			return vol__bad(err, "--mount", arg, "unknown key (type, source, target and "
					"readonly are known)");
		c += len;
		c += *c == ',';
	}
	if (strcmp(type, "bind") != 0)
		return vol__bad(err, "--mount", arg, "only type=bind is supported");
	if (!src[0] || !dst[0])
		return vol__bad(err, "--mount", arg, "needs source= and target=");
	return vol__add(vo, "--mount", arg, src, strlen(src), dst, ro, err);
}

int volume_opt_owner(struct volume_opts *vo, const char *arg, struct pupa_err *err)
{
	if (strcmp(arg, "host") != 0 && strcmp(arg, "guest") != 0)
		return vol__bad(err, "--volume-owner", arg, "expected guest or host");
	vo->owner_host = strcmp(arg, "host") == 0;
	return 0;
}

int volume_opts_resolve(struct volume_opts *vo, struct pupa_err *err)
{
	for (unsigned int i = 0; i < vo->n; i++) {
		struct volume_spec *v = &vo->v[i];
		char *real = realpath(v->host, NULL);
		struct stat st;

		if (!real)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "volume %s: %s", v->host,
				       strerror(errno));
		if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
			free(real);
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "volume %s: not a folder (pupa shares folders)", v->host);
		}
		free(v->vmm_arg);
		if (asprintf(&v->vmm_arg, "%s%s", real, v->ro ? ",ro" : ",rw") < 0)
			v->vmm_arg = NULL;
		free(real);
		if (!v->vmm_arg)
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	}
	return 0;
}

void volume_opts_free(struct volume_opts *vo)
{
	for (unsigned int i = 0; i < vo->n; i++) {
		free(vo->v[i].host);
		free(vo->v[i].vmm_arg);
	}
	vo->n = 0;
}

void volume_opts_vmm_args(const struct volume_opts *vo, const char **argv, int *argc)
{
	argv[(*argc)++] = "--fs";
	argv[(*argc)++] = VOLUME_FS_TAG;
	for (unsigned int i = 0; i < vo->n; i++) {
		argv[(*argc)++] = "--fs-volume";
		argv[(*argc)++] = vo->v[i].vmm_arg;
	}
	if (vo->owner_host) {
		argv[(*argc)++] = "--fs-owner";
		argv[(*argc)++] = "host";
	}
}

void volume_field(const struct volume_opts *vo, unsigned int i, char *buf, size_t len)
{
	snprintf(buf, len, "%u:%s:%s", i, vo->v[i].ro ? "ro" : "rw", vo->v[i].target);
}
