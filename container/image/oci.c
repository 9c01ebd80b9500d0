/*
 * Readers for the OCI documents (oci.h). jansson parses; every field is
 * then checked for type, length and count before it is copied out, so
 * nothing downstream sees a value the limits did not pass.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oci.h"

static int oci__why(char *why, size_t wlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int oci__why(char *why, size_t wlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, wlen, fmt, ap);
	va_end(ap);
	return -1;
}

static json_t *oci__load(const char *json, size_t len, const char *what, char *why, size_t wlen)
{
	json_error_t e;
	json_t *root;

	if (len > OCI_DOC_MAX) {
		oci__why(why, wlen, "the %s is %zu bytes (at most %u)", what, len, OCI_DOC_MAX);
		return NULL;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
	if (!root) {
		oci__why(why, wlen, "the %s is not JSON: %s at line %d", what, e.text, e.line);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		oci__why(why, wlen, "the %s is not a JSON object", what);
		return NULL;
	}
	return root;
}

/* An optional string field into a fixed buffer; -1 if not a string or too long. */
static int oci__str(json_t *obj, const char *key, char *out, size_t len)
{
	json_t *v = json_object_get(obj, key);

	out[0] = '\0';
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int oci__platform(json_t *obj, struct oci_platform *p)
{
	memset(p, 0, sizeof(*p));
	if (!obj)
		return 0;
	if (!json_is_object(obj))
		return -1;
	return oci__str(obj, "os", p->os, sizeof(p->os)) < 0 ||
	       oci__str(obj, "architecture", p->arch, sizeof(p->arch)) < 0 ||
	       oci__str(obj, "variant", p->variant, sizeof(p->variant)) < 0 ? -1 : 0;
}

/* mediaType, digest (sha256 only), size; platform and ref name if there. */
static int oci__descriptor(json_t *obj, struct oci_descriptor *d, const char *what, char *why,
			   size_t wlen)
{
	char digest[8 + DIGEST_HEX_LEN + 1];
	json_t *size = json_object_get(obj, "size");
	json_t *ann = json_object_get(obj, "annotations");

	memset(d, 0, sizeof(*d));
	if (!json_is_object(obj))
		return oci__why(why, wlen, "a %s descriptor is not an object", what);
	if (oci__str(obj, "mediaType", d->media_type, sizeof(d->media_type)) < 0)
		return oci__why(why, wlen, "a %s descriptor's mediaType is not a short string", what);
	if (oci__str(obj, "digest", digest, sizeof(digest)) < 0 || !digest[0])
		return oci__why(why, wlen, "a %s descriptor has no usable digest", what);
	if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest + 7) != DIGEST_HEX_LEN ||
	    strspn(digest + 7, "0123456789abcdef") != DIGEST_HEX_LEN)
		return oci__why(why, wlen, "%s digest '%.80s' is not sha256: and 64 lowercase hex "
				"digits (the only algorithm pupa takes)", what, digest);
	memcpy(d->digest, digest + 7, DIGEST_HEX_LEN + 1);
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return oci__why(why, wlen, "%s sha256:%.12s has no size", what, d->digest);
	d->size = (uint64_t)json_integer_value(size);
	if (oci__platform(json_object_get(obj, "platform"), &d->platform) < 0)
		return oci__why(why, wlen, "%s sha256:%.12s has a malformed platform", what, d->digest);
	if (ann && (!json_is_object(ann) ||
		    oci__str(ann, "org.opencontainers.image.ref.name", d->ref_name,
			     sizeof(d->ref_name)) < 0))
		return oci__why(why, wlen, "%s sha256:%.12s has malformed annotations", what, d->digest);
	return 0;
}

enum oci_doc oci_doc_kind(const char *json, size_t len)
{
	char why[8];
	json_t *root = oci__load(json, len, "document", why, sizeof(why));
	char mt[128];
	enum oci_doc kind = OCI_DOC_UNKNOWN;

	if (!root)
		return OCI_DOC_UNKNOWN;
	if (oci__str(root, "mediaType", mt, sizeof(mt)) == 0 && mt[0]) {
		if (!strcmp(mt, OCI_MT_INDEX) || !strcmp(mt, DOCKER_MT_LIST))
			kind = OCI_DOC_INDEX;
		else if (!strcmp(mt, OCI_MT_MANIFEST) || !strcmp(mt, DOCKER_MT_MANIFEST))
			kind = OCI_DOC_MANIFEST;
	} else if (json_is_array(json_object_get(root, "manifests"))) {
		kind = OCI_DOC_INDEX;
	} else if (json_object_get(root, "config") && json_object_get(root, "layers")) {
		kind = OCI_DOC_MANIFEST;
	}
	json_decref(root);
	return kind;
}

int oci_index_parse(const char *json, size_t len, struct oci_index *ix, char *why, size_t wlen)
{
	json_t *root = oci__load(json, len, "image index", why, wlen);
	json_t *list, *v;
	size_t i;
	int ret = 0;

	memset(ix, 0, sizeof(*ix));
	if (!root)
		return -1;
	list = json_object_get(root, "manifests");
	if (!json_is_array(list))
		ret = oci__why(why, wlen, "the image index has no manifests list");
	else if (json_array_size(list) == 0 || json_array_size(list) > OCI_MANIFESTS_MAX)
		ret = oci__why(why, wlen, "the image index lists %zu manifests (1 to %u)",
			       json_array_size(list), OCI_MANIFESTS_MAX);
	else if (!(ix->manifests = calloc(json_array_size(list), sizeof(*ix->manifests))))
		ret = oci__why(why, wlen, "out of memory");
	json_array_foreach(ret == 0 ? list : NULL, i, v) {
		ret = oci__descriptor(v, &ix->manifests[i], "manifest", why, wlen);
		if (ret < 0)
			break;
		ix->n++;
	}
	json_decref(root);
	if (ret < 0)
		oci_index_free(ix);
	return ret;
}

/* The layer media types pupa unpacks, and how each is compressed. */
static int oci__layer_type(const char *mt, enum oci_compression *c)
{
	static const struct { const char *mt; enum oci_compression c; } types[] = {
		{ "application/vnd.oci.image.layer.v1.tar", OCI_LAYER_TAR },
		{ "application/vnd.oci.image.layer.v1.tar+gzip", OCI_LAYER_GZIP },
		{ "application/vnd.oci.image.layer.v1.tar+zstd", OCI_LAYER_ZSTD },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar", OCI_LAYER_TAR },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_LAYER_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", OCI_LAYER_ZSTD },
		{ "application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_LAYER_GZIP },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_LAYER_GZIP },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(mt, types[i].mt) == 0) {
			*c = types[i].c;
			return 0;
		}
	}
	return -1;
}

int oci_manifest_parse(const char *json, size_t len, struct oci_manifest *m, char *why,
		       size_t wlen)
{
	json_t *root = oci__load(json, len, "image manifest", why, wlen);
	json_t *layers, *v;
	size_t i, n;
	int ret = 0;

	memset(m, 0, sizeof(*m));
	if (!root)
		return -1;
	layers = json_object_get(root, "layers");
	n = json_array_size(layers);
	ret = oci__descriptor(json_object_get(root, "config"), &m->config, "config", why, wlen);
	if (ret == 0 && !json_is_array(layers))
		ret = oci__why(why, wlen, "the image manifest has no layers list");
	else if (ret == 0 && n > OCI_LAYERS_MAX)
		ret = oci__why(why, wlen, "the image manifest has %zu layers (at most %u)", n,
			       OCI_LAYERS_MAX);
	else if (ret == 0 && n && (!(m->layers = calloc(n, sizeof(*m->layers))) ||
				   !(m->compression = calloc(n, sizeof(*m->compression)))))
		ret = oci__why(why, wlen, "out of memory");
	json_array_foreach(ret == 0 ? layers : NULL, i, v) {
		ret = oci__descriptor(v, &m->layers[i], "layer", why, wlen);
		if (ret == 0 && oci__layer_type(m->layers[i].media_type, &m->compression[i]) < 0)
			ret = oci__why(why, wlen, "layer sha256:%.12s has the media type '%s', "
				       "which pupa cannot unpack (tar, tar+gzip, tar+zstd)",
				       m->layers[i].digest, m->layers[i].media_type);
		if (ret < 0)
			break;
		m->n++;
	}
	json_decref(root);
	if (ret < 0)
		oci_manifest_free(m);
	return ret;
}

/* An array of strings (Entrypoint, Cmd, Env), or NULL when unset or null. */
static int oci__strv(json_t *obj, const char *key, char ***out, char *why, size_t wlen)
{
	json_t *arr = json_object_get(obj, key), *v;
	size_t i;

	*out = NULL;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return oci__why(why, wlen, "the image config's %s is not a list", key);
	if (json_array_size(arr) > OCI_ARGS_MAX)
		return oci__why(why, wlen, "the image config's %s has %zu items (at most %u)", key,
				json_array_size(arr), OCI_ARGS_MAX);
	*out = calloc(json_array_size(arr) + 1, sizeof(**out));
	if (!*out)
		return oci__why(why, wlen, "out of memory");
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || json_string_length(v) >= OCI_STR_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return oci__why(why, wlen, "the image config's %s[%zu] is not a string "
					"under %u bytes without NUL", key, i, OCI_STR_MAX);
		if (!((*out)[i] = strdup(json_string_value(v))))
			return oci__why(why, wlen, "out of memory");
	}
	return 0;
}

static int oci__strdup_field(json_t *obj, const char *key, char **out, char *why, size_t wlen)
{
	char buf[OCI_STR_MAX];

	*out = NULL;
	if (oci__str(obj, key, buf, sizeof(buf)) < 0)
		return oci__why(why, wlen, "the image config's %s is not a string under %u bytes",
				key, OCI_STR_MAX);
	if (buf[0] && !(*out = strdup(buf)))
		return oci__why(why, wlen, "out of memory");
	return 0;
}

int oci_config_parse(const char *json, size_t len, struct oci_config *c, char *why, size_t wlen)
{
	json_t *root = oci__load(json, len, "image config", why, wlen);
	json_t *cfg;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	if (!root)
		return -1;
	if (oci__str(root, "os", c->platform.os, sizeof(c->platform.os)) < 0 ||
	    oci__str(root, "architecture", c->platform.arch, sizeof(c->platform.arch)) < 0 ||
	    oci__str(root, "variant", c->platform.variant, sizeof(c->platform.variant)) < 0)
		ret = oci__why(why, wlen, "the image config's platform fields are malformed");
	cfg = json_object_get(root, "config");
	if (ret == 0 && cfg && !json_is_null(cfg)) {
		if (!json_is_object(cfg))
			ret = oci__why(why, wlen, "the image config's config is not an object");
		else if (oci__strv(cfg, "Entrypoint", &c->entrypoint, why, wlen) < 0 ||
			 oci__strv(cfg, "Cmd", &c->cmd, why, wlen) < 0 ||
			 oci__strv(cfg, "Env", &c->env, why, wlen) < 0 ||
			 oci__strdup_field(cfg, "WorkingDir", &c->workdir, why, wlen) < 0 ||
			 oci__strdup_field(cfg, "User", &c->user, why, wlen) < 0)
			ret = -1;
	}
	json_decref(root);
	if (ret < 0)
		oci_config_free(c);
	return ret;
}

void oci_index_free(struct oci_index *ix)
{
	free(ix->manifests);
	memset(ix, 0, sizeof(*ix));
}

void oci_manifest_free(struct oci_manifest *m)
{
	free(m->layers);
	free(m->compression);
	memset(m, 0, sizeof(*m));
}

static void oci__strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void oci_config_free(struct oci_config *c)
{
	oci__strv_free(c->entrypoint);
	oci__strv_free(c->cmd);
	oci__strv_free(c->env);
	free(c->workdir);
	free(c->user);
	memset(c, 0, sizeof(*c));
}

int oci_platform_parse(const char *text, struct oci_platform *p)
{
	char buf[100];
	char *arch, *variant;

	memset(p, 0, sizeof(*p));
	if (strlen(text) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", text);
	arch = strchr(buf, '/');
	if (!arch || arch == buf || !arch[1])
		return -1;
	*arch++ = '\0';
	variant = strchr(arch, '/');
	if (variant) {
		*variant++ = '\0';
		if (!*variant || strchr(variant, '/'))
			return -1;
	}
	if (strlen(buf) >= sizeof(p->os) || strlen(arch) >= sizeof(p->arch) ||
	    (variant && strlen(variant) >= sizeof(p->variant)))
		return -1;
	snprintf(p->os, sizeof(p->os), "%s", buf);
	snprintf(p->arch, sizeof(p->arch), "%s", arch);
	snprintf(p->variant, sizeof(p->variant), "%s", variant ? variant : "");
	return 0;
}

void oci_platform_host(struct oci_platform *p)
{
	/* pupa-vmm runs x86-64 guests only. */
	memset(p, 0, sizeof(*p));
	snprintf(p->os, sizeof(p->os), "linux");
	snprintf(p->arch, sizeof(p->arch), "amd64");
}

void oci_platform_format(const struct oci_platform *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s%s", p->os[0] ? p->os : "?", p->arch[0] ? p->arch : "?",
		 p->variant[0] ? "/" : "", p->variant);
}

int oci_index_select(const struct oci_index *ix, const struct oci_platform *want,
		     size_t *which, char *why, size_t wlen)
{
	size_t used;

	for (size_t i = 0; i < ix->n; i++) {
		const struct oci_platform *p = &ix->manifests[i].platform;

		if (!strcmp(p->os, want->os) && !strcmp(p->arch, want->arch) &&
		    (!want->variant[0] || !strcmp(p->variant, want->variant))) {
			*which = i;
			return 0;
		}
	}
	{
		char w[100];

		oci_platform_format(want, w, sizeof(w));
		snprintf(why, wlen, "no manifest for %s (--platform); the index has", w);
	}
	for (size_t i = 0; i < ix->n && strlen(why) + 1 < wlen; i++) {
		char p[100];

		/* Attestations and the like carry unknown/unknown. */
		if (!strcmp(ix->manifests[i].platform.os, "unknown"))
			continue;
		oci_platform_format(&ix->manifests[i].platform, p, sizeof(p));
		used = strlen(why);
		snprintf(why + used, wlen - used, " %s", p);
	}
	return -1;
}
