/*
 * The registry's HTTP side (registry.h). Each request goes once; a 401
 * with a Bearer challenge fetches a token from the realm it names and the
 * request goes again, once, with it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "digest.h"
#include "fetch.h"
#include "oci.h"
#include "registry.h"
#include "www_auth.h"

#define REGISTRY_TOKEN_MAX (64u << 10)

static const char *const registry_accept[] = {
	"Accept: " OCI_MT_INDEX,
	"Accept: " OCI_MT_MANIFEST,
	"Accept: " DOCKER_MT_LIST,
	"Accept: " DOCKER_MT_MANIFEST,
	NULL,
};

/* The host part of HOST[:PORT] or [V6]:PORT. */
static void registry__host(const char *registry, char *host, size_t len)
{
	const char *end;

	if (*registry == '[') {
		end = strchr(registry, ']');
		snprintf(host, len, "%.*s", end ? (int)(end - registry + 1) : 0, registry);
		return;
	}
	end = strchr(registry, ':');
	snprintf(host, len, "%.*s", end ? (int)(end - registry) : (int)strlen(registry), registry);
}

int registry_plain_http_ok(const char *registry, const char *insecure)
{
	char host[REF_HOST_MAX];
	const char *p = insecure;

	registry__host(registry, host, sizeof(host));
	if (!strcmp(host, "localhost") || !strcmp(host, "[::1]") ||
	    (!strncmp(host, "127.", 4) && strspn(host, "0123456789.") == strlen(host)))
		return 1;
	while (p && *p) {
		size_t n = strcspn(p, ",");

		if ((strlen(registry) == n && !strncmp(p, registry, n)) ||
		    (strlen(host) == n && !strncmp(p, host, n)))
			return 1;
		p += n + (p[n] == ',');
	}
	return 0;
}

int registry_open(struct registry *r, const struct image_ref *ref, const char *insecure,
		  struct pupa_err *err)
{
	memset(r, 0, sizeof(*r));
	r->ref = *ref;
	r->retries = 5;
	r->stall_s = 30;
	snprintf(r->base, sizeof(r->base), "%s://%s",
		 registry_plain_http_ok(ref->registry, insecure) ? "http" : "https", ref->api_host);
	snprintf(r->ca_file, sizeof(r->ca_file), "/etc/docker/certs.d/%s/ca.crt", ref->registry);
	if (access(r->ca_file, R_OK) < 0)
		r->ca_file[0] = '\0';
	(void)err;
	return 0;
}

/* Percent-encode for a query value. */
static void registry__escape(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; *in && n + 4 < len; in++) {
		unsigned char c = (unsigned char)*in;

		if (isalnum(c) || strchr("-._~", c))
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, len - n, "%%%02X", c);
	}
	out[n] = '\0';
}

struct registry_mem {
	char *buf;
	size_t len, max;
};

static int registry__mem(void *opaque, const void *buf, size_t len)
{
	struct registry_mem *m = opaque;
	char *n;

	if (m->len + len > m->max)
		return -1;
	n = realloc(m->buf, m->len + len + 1);
	if (!n)
		return -1;
	memcpy(n + m->len, buf, len);
	m->buf = n;
	m->len += len;
	m->buf[m->len] = '\0';
	return 0;
}

static int registry__cancelled(void *opaque)
{
	const struct registry *r = opaque;

	return r->interrupted && *r->interrupted;
}

/* The Bearer token the challenge asks for, anonymously. */
static int registry__token(struct registry *r, const struct www_auth *wa, struct pupa_err *err)
{
	char url[5120], svc[800], scope[3100];
	struct registry_mem m = { .max = REGISTRY_TOKEN_MAX };
	struct fetch_sink sink = { .data = registry__mem, .cancelled = registry__cancelled,
				   .opaque = &m };
	struct fetch_request req = { .url = url, .retries = r->retries, .stall_s = r->stall_s,
				     .max_body = REGISTRY_TOKEN_MAX };
	struct fetch_response resp;
	const char *tok;
	json_t *o;
	int ret;

	if (strncmp(wa->realm, "https://", 8) != 0 && strncmp(wa->realm, "http://", 7) != 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the registry's token realm '%s' is not an http(s) URL",
			       r->ref.registry, wa->realm);
	registry__escape(wa->service, svc, sizeof(svc));
	registry__escape(wa->scope[0] ? wa->scope : "", scope, sizeof(scope));
	if (!wa->scope[0]) {
		char want[600];

		snprintf(want, sizeof(want), "repository:%s:pull", r->ref.name);
		registry__escape(want, scope, sizeof(scope));
	}
	snprintf(url, sizeof(url), "%s%sservice=%s&scope=%s", wa->realm,
		 strchr(wa->realm, '?') ? "&" : "?", svc, scope);
	r->requests++;
	ret = fetch_run(&req, &sink, &resp, err);
	if (ret < 0) {
		free(m.buf);
		return ret;
	}
	o = m.buf ? json_loadb(m.buf, m.len, 0, NULL) : NULL;
	free(m.buf);
	tok = json_string_value(json_object_get(o, "token"));
	if (!tok)
		tok = json_string_value(json_object_get(o, "access_token"));
	if (!tok || !*tok || strlen(tok) > sizeof(r->auth) - 32 || strpbrk(tok, "\r\n")) {
		json_decref(o);
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the token server %s gave no usable token", r->ref.registry,
			       wa->realm);
	}
	snprintf(r->auth, sizeof(r->auth), "Authorization: Bearer %s", tok);
	json_decref(o);
	return 0;
}

/* GET path under the repository, with a token on a 401. */
static int registry__get(struct registry *r, const char *path, const char *const *accept,
			 const struct fetch_sink *sink, struct fetch_response *resp,
			 struct pupa_err *err)
{
	char url[4096];
	const char *headers[8];
	struct fetch_request req = { .url = url, .retries = r->retries, .stall_s = r->stall_s,
				     .headers = headers, .ca_file = r->ca_file[0] ? r->ca_file : NULL };
	int ret;

	snprintf(url, sizeof(url), "%s/v2/%s/%s", r->base, r->ref.name, path);
	for (int attempt = 0;; attempt++) {
		struct pupa_err first = { 0 };
		struct www_auth wa;
		size_t n = 0;

		for (size_t i = 0; accept && accept[i] && n < 6; i++)
			headers[n++] = accept[i];
		if (r->auth[0])
			headers[n++] = r->auth;
		headers[n] = NULL;
		req.offset = 0;
		r->requests++;
		ret = fetch_run(&req, sink, resp, &first);
		if (ret >= 0 || resp->status != 401 || attempt > 0 || r->auth[0]) {
			if (ret < 0)
				*err = first;
			return ret;
		}
		if (www_auth_parse(resp->www_authenticate, &wa) < 0 || strcasecmp(wa.scheme, "Bearer"))
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "%s: unauthorized (HTTP 401, challenge '%.200s'): pupa pulls "
				       "anonymously for now", r->ref.registry, resp->www_authenticate);
		ret = registry__token(r, &wa, err);
		if (ret < 0)
			return ret;
	}
}

int registry_manifest(struct registry *r, const char *reference, char **body, size_t *len,
		      char *digest, struct pupa_err *err)
{
	struct registry_mem m = { .max = OCI_DOC_MAX };
	struct fetch_sink sink = { .data = registry__mem, .cancelled = registry__cancelled,
				   .opaque = &m };
	struct fetch_response resp;
	char path[600], full[1024];
	struct digest *d;
	int ret;

	*body = NULL;
	snprintf(path, sizeof(path), "manifests/%s", reference);
	ret = registry__get(r, path, registry_accept, &sink, &resp, err);
	if (ret < 0) {
		free(m.buf);
		if (resp.status == 404) {
			image_ref_format(&r->ref, full, sizeof(full));
			memset(err, 0, sizeof(*err));
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "%s: no such image or tag on %s (HTTP 404 for manifest %s)",
				       full, r->ref.registry, reference);
		}
		return ret;
	}
	if (!m.buf && !(m.buf = calloc(1, 1)))
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	d = digest_new();
	if (!d) {
		free(m.buf);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	}
	digest_update(d, m.buf, m.len);
	digest_hex(d, digest);
	digest_free(d);
	/* What the registry says it sent must be what came. */
	if (resp.docker_digest[0] && (strncmp(resp.docker_digest, "sha256:", 7) != 0 ||
				      strcmp(resp.docker_digest + 7, digest) != 0)) {
		free(m.buf);
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: manifest %s: Docker-Content-Digest says %.80s, the bytes are "
			       "sha256:%s", r->ref.registry, reference, resp.docker_digest, digest);
	}
	*body = m.buf;
	*len = m.len;
	return 0;
}

int registry_blob(struct registry *r, const char *digest,
		  int (*data)(void *opaque, const void *buf, size_t len), void *opaque,
		  struct pupa_err *err)
{
	/* data() returns -1 to stop, an interrupt included. */
	struct fetch_sink sink = { .data = data, .opaque = opaque };
	struct fetch_response resp;
	char path[128];

	snprintf(path, sizeof(path), "blobs/sha256:%s", digest);
	return registry__get(r, path, NULL, &sink, &resp, err);
}
