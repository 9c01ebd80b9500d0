/*
 * The registry's HTTP side (registry.h). A request that gets a 401 goes
 * again after each step of registry__authorize (an anonymous token, then
 * credentials), and fails with the reason when there is no step left.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>

#include "cache.h"
#include "credentials.h"
#include "curl_lib.h"
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

/*
 * Is host (a name, a dotted quad or [IPv6]) a loopback address as written?
 * Only an address literal counts: a name such as 127.0.0.1.1 goes through
 * DNS. localhost is the exception libcurl makes itself (it never asks DNS).
 */
static int registry__loopback(const char *host)
{
	char inner[INET6_ADDRSTRLEN + 8];
	struct in6_addr a6;
	struct in_addr a4;
	size_t n = strlen(host);

	if (!strcmp(host, "localhost"))
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n < 3 || host[0] != '[' || host[n - 1] != ']' || n - 2 >= sizeof(inner))
		return 0;
	snprintf(inner, sizeof(inner), "%.*s", (int)(n - 2), host + 1);
	if (inet_pton(AF_INET6, inner, &a6) != 1)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

int registry_plain_http_ok(const char *registry, const char *insecure)
{
	char host[REF_HOST_MAX];
	const char *p = insecure;

	registry__host(registry, host, sizeof(host));
	if (registry__loopback(host))
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

void registry_open(struct registry *r, const struct image_ref *ref, const char *insecure)
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

/* The fetches' cancel hook: its argument is the registry, never the sink's data. */
static int registry__cancelled(void *cancel_opaque)
{
	const struct registry *r = cancel_opaque;

	return (r->interrupted && *r->interrupted) || (r->stop && *r->stop);
}

/* One part of a parsed URL into buf: 0, 1 when the URL has none, -1 too long. */
static int registry__url_part(const struct curl_lib *L, CURLU *u, CURLUPart what,
			      unsigned int flags, char *buf, size_t len)
{
	char *part = NULL;
	int ret = 1;

	if (L->url_get(u, what, &part, flags) == CURLUE_OK && part) {
		ret = strlen(part) < len ? 0 : -1;
		snprintf(buf, len, "%s", ret == 0 ? part : "");
	}
	if (part)
		L->free(part);
	return ret;
}

#define REGISTRY_URL_MAX 4096

int registry_url_origin(const char *url, struct registry_origin *o, const char **why)
{
	char port[8], scratch[REGISTRY_URL_MAX], zone[64];
	const struct curl_lib *L;
	CURLU *u;
	int ret = -EINVAL, part;
	char *end;
	unsigned long n;

	memset(o, 0, sizeof(*o));
	*why = "not an http(s) URL";
	if (strlen(url) >= REGISTRY_URL_MAX) {
		*why = "longer than 4095 bytes";
		return -EINVAL;
	}
	L = curl_lib__get(scratch, sizeof(scratch));
	if (!L) {
		*why = "libcurl cannot be loaded";
		return -ENOSYS;
	}
	u = L->url();
	if (!u) {
		*why = "out of memory";
		return -ENOMEM;
	}
	/* No default scheme and no guessing: the URL says what it is. */
	if (L->url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		*why = "not a URL libcurl accepts";
		goto out;
	}
	if (registry__url_part(L, u, CURLUPART_SCHEME, 0, o->scheme, sizeof(o->scheme)) != 0 ||
	    (strcmp(o->scheme, "http") != 0 && strcmp(o->scheme, "https") != 0))
		goto out;
	if (registry__url_part(L, u, CURLUPART_USER, 0, scratch, sizeof(scratch)) != 1 ||
	    registry__url_part(L, u, CURLUPART_PASSWORD, 0, scratch, sizeof(scratch)) != 1 ||
	    registry__url_part(L, u, CURLUPART_OPTIONS, 0, scratch, sizeof(scratch)) != 1) {
		*why = "it carries user information (user@ before the host)";
		ret = -EACCES;
		goto out;
	}
	if (registry__url_part(L, u, CURLUPART_HOST, 0, o->host, sizeof(o->host)) != 0 ||
	    !o->host[0]) {
		*why = "no host, or a host name longer than a registry's may be";
		goto out;
	}
	/* A link-local address's zone is part of where the bytes go. */
	part = registry__url_part(L, u, CURLUPART_ZONEID, 0, zone, sizeof(zone));
	if (part == 0) {
		size_t h = strlen(o->host);

		if (o->host[0] != '[' || h + strlen(zone) + 3 >= sizeof(o->host)) {
			*why = "an IPv6 zone too long";
			goto out;
		}
		snprintf(o->host + h - 1, sizeof(o->host) - h + 1, "%%25%s]", zone);
	} else if (part < 0) {
		*why = "an IPv6 zone too long";
		goto out;
	}
	if (registry__url_part(L, u, CURLUPART_PORT, CURLU_DEFAULT_PORT, port, sizeof(port)) != 0) {
		*why = "no port";
		goto out;
	}
	n = strtoul(port, &end, 10);
	if (*end || n == 0 || n > 65535) {
		*why = "a port outside 1-65535";
		goto out;
	}
	o->port = (unsigned int)n;
	ret = 0;
out:
	L->url_cleanup(u);
	if (ret < 0)
		memset(o, 0, sizeof(*o));
	return ret;
}

int registry_same_origin(const struct registry_origin *a, const struct registry_origin *b)
{
	return !strcmp(a->scheme, b->scheme) && !strcasecmp(a->host, b->host) && a->port == b->port;
}

/*
 * The realm as a token request's URL, the query added by libcurl's URL
 * API (a realm with its own query or a fragment stays well-formed).
 */
static int registry__token_url(const char *realm, const char *query, char *out, size_t len)
{
	char why[256];
	const struct curl_lib *L = curl_lib__get(why, sizeof(why));
	CURLU *u = L ? L->url() : NULL;
	int ret = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (L->url_set(u, CURLUPART_URL, realm, 0) == CURLUE_OK &&
	    L->url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
	    L->url_set(u, CURLUPART_QUERY, query, CURLU_APPENDQUERY) == CURLUE_OK &&
	    registry__url_part(L, u, CURLUPART_URL, 0, out, len) == 0)
		ret = 0;
	L->url_cleanup(u);
	return ret;
}

/*
 * May a request (with credentials when basic is set) go to this realm?
 * Never with user information in it (libcurl would send that as Basic,
 * and it hides where the request goes); credentials only over https, or
 * to the registry's own scheme, host and port.
 */
static int registry__realm_ok(const struct registry *r, const char *realm, int credentials,
			      struct pupa_err *err)
{
	struct registry_origin at, reg;
	const char *why;
	int ret = registry_url_origin(realm, &at, &why);

	if (ret == -EACCES)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the registry's token realm '%s' carries user information "
			       "(user@ before the host); pupa sends nothing there", r->ref.registry,
			       realm);
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the registry's token realm '%s' is not an http(s) URL: %s",
			       r->ref.registry, realm, why);
	if (!credentials || !strcmp(at.scheme, "https"))
		return 0;
	if (registry_url_origin(r->base, &reg, &why) == 0 && registry_same_origin(&at, &reg))
		return 0;
	return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
		       "%s: unauthorized (HTTP 401, realm %s): the token realm is plain http and "
		       "not the registry's own scheme, host and port (%s); pupa does not send "
		       "credentials there", r->ref.registry, realm, r->base);
}

/* The Bearer token the challenge asks for; with credentials, basic is
 * their Authorization header. */
static int registry__token(struct registry *r, const struct www_auth *wa, const char *basic,
			   struct pupa_err *err)
{
	char url[REGISTRY_URL_MAX + 1024], query[4000], svc[800], scope[3100];
	struct fetch_mem m = { 0 };
	struct fetch_sink sink = { .data = fetch_mem_data, .cancelled = registry__cancelled,
				   .opaque = &m, .cancel_opaque = r,
				   .restart = fetch_mem_restart };
	const char *headers[] = { basic, NULL };
	struct fetch_request req = { .url = url, .retries = r->retries, .stall_s = r->stall_s,
				     .max_body = REGISTRY_TOKEN_MAX, .headers = basic ? headers : NULL,
				     .deadline_s = 2 * r->stall_s };
	struct fetch_response resp;
	const char *tok;
	json_t *o;
	int ret;

	ret = registry__realm_ok(r, wa->realm, basic != NULL, err);
	if (ret < 0)
		return ret;
	registry__escape(wa->service, svc, sizeof(svc));
	registry__escape(wa->scope[0] ? wa->scope : "", scope, sizeof(scope));
	if (!wa->scope[0]) {
		char want[600];

		snprintf(want, sizeof(want), "repository:%s:pull", r->ref.name);
		registry__escape(want, scope, sizeof(scope));
	}
	snprintf(query, sizeof(query), "service=%s&scope=%s", svc, scope);
	if (registry__token_url(wa->realm, query, url, sizeof(url)) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: the registry's token realm '%s' makes no usable URL",
			       r->ref.registry, wa->realm);
	r->requests++;
	ret = fetch_run(&req, &sink, &resp, err);
	if (ret < 0) {
		free(m.buf);
		if (resp.status == 401 || resp.status == 403) {
			memset(err, 0, sizeof(*err));
			mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				"%s: the token server %s refused %s (HTTP %ld)", r->ref.registry,
				wa->realm, basic ? "the credentials" : "an anonymous token",
				resp.status);
			return -EACCES;		/* refused: the caller may try another way */
		}
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
	if (r->cache)
		cache_realm_put(r->cache, r->ref.registry, wa->realm, wa->service);
	return 0;
}

void registry_warm_token(struct registry *r)
{
	struct pupa_err ignore = { 0 };
	struct www_auth wa;

	memset(&wa, 0, sizeof(wa));
	if (!r->cache || cache_realm_get(r->cache, r->ref.registry, wa.realm, sizeof(wa.realm),
					 wa.service, sizeof(wa.service)) < 0)
		return;
	snprintf(wa.scheme, sizeof(wa.scheme), "Bearer");
	r->tried_anonymous = 1;
	if (registry__token(r, &wa, NULL, &ignore) < 0)
		r->auth[0] = '\0';
}

static int registry__unauthorized(struct registry *r, const struct www_auth *wa,
				  const char *why, struct pupa_err *err)
{
	return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: unauthorized (HTTP 401%s%s): %s",
		       r->ref.registry, wa->realm[0] ? ", realm " : "", wa->realm, why);
}

/*
 * Answer a 401's challenge, one step further each time: an anonymous
 * token, then credentials (a token asked for with them, or Basic).
 */
static int registry__authorize(struct registry *r, const char *challenge, struct pupa_err *err)
{
	char basic[6100];
	struct credentials cr;
	struct www_auth wa;
	int bearer, ret;

	if (www_auth_parse(challenge, &wa) < 0)
		memset(&wa, 0, sizeof(wa));
	bearer = !strcasecmp(wa.scheme, "Bearer");
	if (!bearer && strcasecmp(wa.scheme, "Basic"))
		return registry__unauthorized(r, &wa, "the registry's challenge is neither Bearer "
					      "nor Basic", err);
	if (bearer && !r->tried_anonymous) {
		r->tried_anonymous = 1;
		ret = registry__token(r, &wa, NULL, err);
		if (ret != -EACCES)
			return ret;
		memset(err, 0, sizeof(*err));
	}
	if (r->tried_credentials)
		return registry__unauthorized(r, &wa, "the credentials were refused", err);
	r->tried_credentials = 1;
	ret = credentials_find(r->ref.registry, &cr, err);
	if (ret < 0)
		return ret;
	if (ret == 1)
		return registry__unauthorized(r, &wa, "no credentials for it; add them to "
					      "~/.docker/config.json (docker login) or the file "
					      "REGISTRY_AUTH_FILE names", err);
	ret = credentials_basic_header(&cr, basic, sizeof(basic));
	explicit_bzero(&cr, sizeof(cr));
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: the credentials are too long",
			       r->ref.registry);
	if (bearer) {
		ret = registry__token(r, &wa, basic, err);	/* it judges the realm */
	} else {
		snprintf(r->auth, sizeof(r->auth), "%s", basic);
		ret = 0;
	}
	explicit_bzero(basic, sizeof(basic));
	return ret;
}

/* GET path under the repository, authorizing as a 401 asks. */
static int registry__get(struct registry *r, const char *path, const char *const *accept,
			 size_t max_body, unsigned int deadline_s, uint64_t offset,
			 const struct fetch_sink *sink, struct fetch_response *resp,
			 struct pupa_err *err)
{
	char url[4096];
	const char *headers[8];
	struct fetch_request req = { .url = url, .retries = r->retries, .stall_s = r->stall_s,
				     .headers = headers, .ca_file = r->ca_file[0] ? r->ca_file : NULL,
				     .max_body = max_body, .deadline_s = deadline_s };
	int ret;

	snprintf(url, sizeof(url), "%s/v2/%s/%s", r->base, r->ref.name, path);
	for (;;) {
		struct pupa_err first = { 0 };
		size_t n = 0;

		for (size_t i = 0; accept && accept[i] && n < 6; i++)
			headers[n++] = accept[i];
		if (r->auth[0])
			headers[n++] = r->auth;
		headers[n] = NULL;
		req.offset = offset;	/* a 401 brought no body */
		r->requests++;
		ret = fetch_run(&req, sink, resp, &first);
		if (ret >= 0 || resp->status != 401) {
			if (ret < 0)
				*err = first;
			return ret;
		}
		/* Each round takes a step further, or fails: at most three. */
		ret = registry__authorize(r, resp->www_authenticate, err);
		if (ret < 0)
			return ret;
	}
}

int registry_manifest(struct registry *r, const char *reference, char **body, size_t *len,
		      char *digest, struct pupa_err *err)
{
	struct fetch_mem m = { 0 };
	struct fetch_sink sink = { .data = fetch_mem_data, .cancelled = registry__cancelled,
				   .opaque = &m, .cancel_opaque = r,
				   .restart = fetch_mem_restart };
	struct fetch_response resp;
	char path[600], full[1024];
	struct digest *d;
	int ret;

	*body = NULL;
	snprintf(path, sizeof(path), "manifests/%s", reference);
	/* A document is small: twice the stall time is time enough for one. */
	ret = registry__get(r, path, registry_accept, OCI_DOC_MAX, 2 * r->stall_s, 0, &sink, &resp,
			    err);
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

int registry_blob(struct registry *r, const char *digest, uint64_t offset,
		  int (*data)(void *opaque, const void *buf, size_t len), void *opaque,
		  struct pupa_err *err)
{
	/* data() returns -1 to stop; an interrupt stops an idle transfer too. */
	struct fetch_sink sink = { .data = data, .cancelled = registry__cancelled,
				   .opaque = opaque, .cancel_opaque = r };
	struct fetch_response resp;
	char path[128];

	snprintf(path, sizeof(path), "blobs/sha256:%s", digest);
	return registry__get(r, path, NULL, 0, 0, offset, &sink, &resp, err);
}
