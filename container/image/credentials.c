/*
 * Where credentials come from (credentials.h). A helper program is run
 * with a deadline and its output bounded; a config file that does not
 * parse is an error that names it, not a silent anonymous pull.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "credentials.h"
#include "run_tool.h"

#define CRED_HELPER_MS 10000
#define CRED_HELPER_MAX (64u << 10)

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode_text(const void *in, size_t n, char *out, size_t len)
{
	const unsigned char *p = in;
	size_t o = 0;

	if (len < (n + 2) / 3 * 4 + 1)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		unsigned int v = (unsigned int)p[i] << 16 | (i + 1 < n ? p[i + 1] << 8 : 0) |
				 (i + 2 < n ? p[i + 2] : 0);

		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return 0;
}

int base64_decode_text(const char *in, char *out, size_t len, size_t *outn)
{
	unsigned int acc = 0, bits = 0;
	size_t o = 0;

	for (; *in && *in != '='; in++) {
		const char *c = strchr(b64, *in);

		if (!c)
			return -1;
		acc = acc << 6 | (unsigned int)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= len)
				return -1;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	out[o] = '\0';
	*outn = o;
	return 0;
}

int credentials_basic_header(const struct credentials *cr, char *out, size_t len)
{
	char pair[4400], enc[6000];
	int n = snprintf(pair, sizeof(pair), "%s:%s", cr->user, cr->secret);

	if (n < 0 || (size_t)n >= sizeof(pair) ||
	    base64_encode_text(pair, (size_t)n, enc, sizeof(enc)) < 0)
		return -1;
	explicit_bzero(pair, sizeof(pair));
	n = snprintf(out, len, "Authorization: Basic %s", enc);
	explicit_bzero(enc, sizeof(enc));
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void credentials__path(char *path, size_t len)
{
	const char *f = getenv("REGISTRY_AUTH_FILE"), *d = getenv("DOCKER_CONFIG");
	const char *home = getenv("HOME");

	if (f && *f)
		snprintf(path, len, "%s", f);
	else if (d && *d)
		snprintf(path, len, "%s/config.json", d);
	else
		snprintf(path, len, "%s/.docker/config.json", home ? home : "/");
}

/* Docker's keys for a registry in the config: docker.io has its legacy one. */
static json_t *credentials__entry(json_t *map, const char *registry)
{
	static const char *const hub[] = { "https://index.docker.io/v1/", "index.docker.io",
					   "docker.io", "registry-1.docker.io" };
	char url[320];
	json_t *v;

	if (!json_is_object(map))
		return NULL;
	if (!strcmp(registry, "docker.io")) {
		for (size_t i = 0; i < sizeof(hub) / sizeof(hub[0]); i++)
			if ((v = json_object_get(map, hub[i])))
				return v;
		return NULL;
	}
	if ((v = json_object_get(map, registry)))
		return v;
	snprintf(url, sizeof(url), "https://%s", registry);
	if ((v = json_object_get(map, url)))
		return v;
	snprintf(url, sizeof(url), "http://%s", registry);
	return json_object_get(map, url);
}

/* docker-credential-NAME get: the server in, {"Username","Secret"} out. */
static int credentials__helper(const char *name, const char *registry, struct credentials *cr,
			       struct pupa_err *err)
{
	char prog[300], *buf = NULL;
	const char *server = strcmp(registry, "docker.io") ? registry : "https://index.docker.io/v1/";
	int in[2], out[2], status = 0, ret = 0;
	size_t got = 0;
	struct timespec t0, t;
	json_t *o;
	pid_t pid, parent = getpid();

	if (!*name || strpbrk(name, "/ ") || strlen(name) > 200)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "credential helper name '%.200s' is not a plain name", name);
	snprintf(prog, sizeof(prog), "docker-credential-%s", name);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		/* Dies with pupa, inherits only its pipes and pupa's stderr. */
		if (run_tool_child_init(parent, in[0], out[1], 2) == 0)
			execlp(prog, prog, "get", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "fork: %s", strerror(errno));
	}
	/* pupa ignores SIGPIPE (cmd_catch_signals): a helper that exits early
	 * is an EPIPE here, not a death. */
	if (write(in[1], server, strlen(server)) < 0 || write(in[1], "\n", 1) < 0)
		ret = -1;
	close(in[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	buf = malloc(CRED_HELPER_MAX + 1);
	for (;;) {
		struct pollfd p = { .fd = out[0], .events = POLLIN };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = CRED_HELPER_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (!buf || left <= 0 || poll(&p, 1, (int)left) <= 0) {
			ret = -ETIMEDOUT;
			break;
		}
		n = read(out[0], buf + got, CRED_HELPER_MAX - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == CRED_HELPER_MAX) {
			ret = -E2BIG;
			break;
		}
	}
	close(out[0]);
	if (ret < 0)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (ret == -ETIMEDOUT || ret == -E2BIG || !buf) {
		free(buf);
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s get: %s", prog,
			       ret == -E2BIG ? "too much output" : "no answer within 10 s");
	}
	buf[got] = '\0';
	/* Docker's helpers exit non-zero with "credentials not found". */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

		explicit_bzero(buf, got);
		free(buf);
		if (code == 127)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "the credential helper %s is not installed (named in the "
				       "Docker config)", prog);
		return 1;
	}
	o = json_loadb(buf, got, 0, NULL);
	explicit_bzero(buf, got);
	free(buf);
	if (!json_is_string(json_object_get(o, "Username")) ||
	    !json_is_string(json_object_get(o, "Secret")) ||
	    strlen(json_string_value(json_object_get(o, "Username"))) >= sizeof(cr->user) ||
	    strlen(json_string_value(json_object_get(o, "Secret"))) >= sizeof(cr->secret)) {
		json_decref(o);
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s get: not the helper protocol's {\"Username\",\"Secret\"}", prog);
	}
	snprintf(cr->user, sizeof(cr->user), "%s", json_string_value(json_object_get(o, "Username")));
	snprintf(cr->secret, sizeof(cr->secret), "%s", json_string_value(json_object_get(o, "Secret")));
	snprintf(cr->from, sizeof(cr->from), "%s", prog);
	json_decref(o);
	return 0;
}

int credentials_find(const char *registry, struct credentials *cr, struct pupa_err *err)
{
	char path[4200], pair[4400];
	const char *helper = NULL, *auth;
	json_error_t je;
	json_t *cfg, *e;
	size_t n;
	int ret = 1;

	memset(cr, 0, sizeof(*cr));
	credentials__path(path, sizeof(path));
	if (access(path, F_OK) < 0)
		return 1;
	cfg = json_load_file(path, 0, &je);
	if (!cfg)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: not JSON: %s at line %d",
			       path, je.text, je.line);
	e = credentials__entry(json_object_get(cfg, "credHelpers"), registry);
	if (json_is_string(e))
		helper = json_string_value(e);
	else if (json_is_string(json_object_get(cfg, "credsStore")))
		helper = json_string_value(json_object_get(cfg, "credsStore"));
	if (helper)
		ret = credentials__helper(helper, registry, cr, err);
	e = credentials__entry(json_object_get(cfg, "auths"), registry);
	auth = json_string_value(json_object_get(e, "auth"));
	if (ret == 1 && auth && *auth) {
		char *colon;

		if (base64_decode_text(auth, pair, sizeof(pair), &n) < 0 ||
		    !(colon = memchr(pair, ':', n)) || strlen(pair) != n ||
		    (size_t)(colon - pair) >= sizeof(cr->user) || strlen(colon + 1) >= sizeof(cr->secret)) {
			ret = mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				      "%s: the \"auth\" for %s is not base64 of user:password",
				      path, registry);
		} else {
			*colon = '\0';
			snprintf(cr->user, sizeof(cr->user), "%s", pair);
			snprintf(cr->secret, sizeof(cr->secret), "%s", colon + 1);
			snprintf(cr->from, sizeof(cr->from), "%s", path);
			ret = 0;
		}
		explicit_bzero(pair, sizeof(pair));
	}
	json_decref(cfg);
	return ret;
}
