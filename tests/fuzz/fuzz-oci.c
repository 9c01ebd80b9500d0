/* SPDX-License-Identifier: MIT */
/*
 * What a registry or an image layout hands pupa before any layer: the
 * reference the user typed, a registry's WWW-Authenticate challenge, the
 * token realm's URL (judged through libcurl's URL API), the index,
 * manifest and config documents, and a docker save archive's
 * manifest.json.
 * The first byte picks the reader (modulo 8: 0 a reference, 1-4 and 6
 * documents, 5 a challenge, 7 a realm URL); the rest is its input.
 * Invariants are checked, not only crashes: what a reader accepts stays
 * inside its limits, and a reference formats back to one that parses the
 * same.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "docker_archive.h"
#include "fuzz.h"
#include "oci.h"
#include "reference.h"
#include "registry.h"
#include "www_auth.h"

static void fuzz__reference(const char *text)
{
	struct image_ref r, again;
	char full[1024], path[256], ref[256];
	const char *why;

	image_kind_of(text);
	image_layout_parse(text, path, sizeof(path), ref, sizeof(ref), &why);
	if (image_ref_parse(text, &r, &why) < 0)
		return;
	image_ref_format(&r, full, sizeof(full));
	if (image_ref_parse(full, &again, &why) < 0 || strcmp(r.name, again.name) ||
	    strcmp(r.registry, again.registry) || strcmp(r.tag, again.tag) ||
	    strcmp(r.digest, again.digest))
		abort();
}

/* What the docker manifest reader hands on: a relative path without "..". */
static int fuzz__bad_path(const char *p)
{
	size_t n = strlen(p);

	return !n || n >= DOCKER_ARCHIVE_PATH_MAX || p[0] == '/' || !strcmp(p, "..") ||
	       !strncmp(p, "../", 3) || strstr(p, "/../") || (n >= 3 && !strcmp(p + n - 3, "/.."));
}

/* What is accepted is a plain origin that reads back as itself; user
 * information is never let through as a host. */
static void fuzz__url(const char *text)
{
	struct registry_origin o, again;
	char url[sizeof(o.host) + 32];
	const char *why;
	int ret = registry_url_origin(text, &o, &why);

	if (ret == -EACCES && !strchr(text, '@'))
		abort();
	if (ret < 0)
		return;
	if ((strcmp(o.scheme, "http") && strcmp(o.scheme, "https")) || !o.host[0] ||
	    strlen(o.host) >= sizeof(o.host) || strchr(o.host, '@') || strchr(o.host, '/') ||
	    o.port == 0 || o.port > 65535)
		abort();
	snprintf(url, sizeof(url), "%s://%s:%u/", o.scheme, o.host, o.port);
	if (registry_url_origin(url, &again, &why) != 0 || !registry_same_origin(&o, &again))
		abort();
}

static void fuzz__documents(int which, const char *json, size_t len)
{
	struct oci_platform host, p;
	struct oci_index ix;
	struct oci_manifest m;
	struct oci_config c;
	char why[512];
	size_t sel;

	oci_platform_host(&host);
	switch (which) {
	case 1:
		if (oci_index_parse(json, len, &ix, why, sizeof(why)) == 0) {
			if (ix.n == 0 || ix.n > OCI_MANIFESTS_MAX)
				abort();
			if (oci_index_select(&ix, &host, &sel, why, sizeof(why)) == 0 && sel >= ix.n)
				abort();
			oci_index_free(&ix);
		}
		break;
	case 2:
		if (oci_manifest_parse(json, len, &m, why, sizeof(why)) == 0) {
			if (m.n > OCI_LAYERS_MAX)
				abort();
			oci_manifest_free(&m);
		}
		break;
	case 3:
		if (oci_config_parse(json, len, &c, why, sizeof(why)) == 0)
			oci_config_free(&c);
		break;
	case 6: {
		struct docker_archive_manifest dm;

		if (docker_archive_manifest_parse(json, len, &dm, why, sizeof(why)) == 0) {
			if (dm.n == 0 || dm.n > DOCKER_ARCHIVE_IMAGES_MAX)
				abort();
			for (size_t i = 0; i < dm.n; i++) {
				const struct docker_archive_image *im = &dm.images[i];

				if (im->n_layers > OCI_LAYERS_MAX || im->n_tags > DOCKER_ARCHIVE_TAGS_MAX ||
				    fuzz__bad_path(im->config))
					abort();
				for (size_t j = 0; j < im->n_layers; j++)
					if (fuzz__bad_path(im->layers[j]))
						abort();
			}
			if (docker_archive_pick(&dm, dm.images[0].n_tags ? dm.images[0].tags[0] : "",
						&sel, why, sizeof(why)) == 0 && sel >= dm.n)
				abort();
			docker_archive_manifest_free(&dm);
		}
		break;
	}
	default:
		oci_doc_kind(json, len);
		if (len < 100) {
			char text[100];

			memcpy(text, json, len);
			text[len] = '\0';
			oci_platform_parse(text, &p);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1)
		return 0;
	if (data[0] % 8 == 0 || data[0] % 8 == 5 || data[0] % 8 == 7) {
		struct www_auth a;

		text = malloc(size);
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		if (data[0] % 8 == 0)
			fuzz__reference(text);
		else if (data[0] % 8 == 7)
			fuzz__url(text);
		else if (www_auth_parse(text, &a) == 0 &&
			 (strlen(a.realm) >= sizeof(a.realm) || strlen(a.scheme) >= sizeof(a.scheme)))
			abort();
		free(text);
		return 0;
	}
	fuzz__documents(data[0] % 8, (const char *)data + 1, size - 1);
	return 0;
}

static void fuzz__seed(const char *name, int which, const char *body)
{
	size_t len = strlen(body);
	char *buf = malloc(len + 1);

	buf[0] = (char)which;
	memcpy(buf + 1, body, len);
	fuzz_seed(name, buf, len + 1);
	free(buf);
}

#define H "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

void fuzz_seeds(void)
{
	fuzz__seed("ref-short", 0, "alpine");
	fuzz__seed("ref-full", 0, "localhost:5000/a/b_c:v1.2@sha256:" H);
	fuzz__seed("ref-v6", 0, "[::1]:5000/x");
	fuzz__seed("ref-layout", 0, "oci:/srv/img:v1");
	fuzz__seed("index", 1,
		   "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" OCI_MT_MANIFEST "\","
		   "\"digest\":\"sha256:" H "\",\"size\":1,\"platform\":{\"os\":\"linux\","
		   "\"architecture\":\"amd64\"},\"annotations\":"
		   "{\"org.opencontainers.image.ref.name\":\"v1\"}}]}");
	fuzz__seed("manifest", 2,
		   "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		   "\"digest\":\"sha256:" H "\",\"size\":2},\"layers\":[{\"mediaType\":"
		   "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:" H "\",\"size\":3}]}");
	fuzz__seed("config", 3,
		   "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":[\"/bin/sh\"],"
		   "\"Cmd\":[\"-c\",\"echo hi\"],\"Env\":[\"PATH=/bin\"],\"WorkingDir\":\"/\",\"User\":\"0\"}}");
	fuzz__seed("platform", 4, "linux/arm64/v8");
	fuzz__seed("www-auth", 5, "Bearer realm=\"https://auth.example/token\",service=\"reg\","
		   "scope=\"repository:a/b:pull\", Basic realm=x");
	fuzz__seed("docker-manifest", 6,
		   "[{\"Config\":\"" H ".json\",\"RepoTags\":[\"demo/x:1\",\"team/y:latest\"],"
		   "\"Layers\":[\"" H ".tar\",\"" H "/layer.tar\"]}]");
	fuzz__seed("url", 7, "https://auth.example:8443/token?x=1#f");
	fuzz__seed("url-userinfo", 7, "http://127.0.0.1:x@127.0.0.2:18502/token");
	fuzz__seed("url-v6", 7, "http://[fe80::1%25eth0]:5000/t");
}
