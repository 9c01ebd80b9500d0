/*
 * The OCI image format's JSON documents, read from untrusted bytes: an
 * image index (or Docker manifest list), an image manifest (OCI or Docker
 * schema 2) and an image config. A layout on disk and a registry hand
 * over the same documents; both go through here.
 *
 * Every limit is checked while reading: document size, number of
 * manifests and layers, string lengths, and the argument and environment
 * counts the agent protocol can carry.
 */
#ifndef PUPA_OCI_H
#define PUPA_OCI_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

#define OCI_DOC_MAX		(4u << 20)	/* manifests, indexes, configs */
#define OCI_MANIFESTS_MAX	1024
#define OCI_LAYERS_MAX		256
#define OCI_ARGS_MAX		1024		/* AGENT_MAX_ARGS, AGENT_MAX_ENV */
#define OCI_STR_MAX		4096		/* AGENT_MAX_STR */

#define OCI_MT_INDEX		"application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST		"application/vnd.oci.image.manifest.v1+json"
#define DOCKER_MT_LIST		"application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_MANIFEST	"application/vnd.docker.distribution.manifest.v2+json"

enum oci_doc { OCI_DOC_UNKNOWN, OCI_DOC_INDEX, OCI_DOC_MANIFEST };

enum oci_compression { OCI_LAYER_TAR, OCI_LAYER_GZIP, OCI_LAYER_ZSTD };

struct oci_platform {
	char os[32], arch[32], variant[32];
};

struct oci_descriptor {
	char media_type[128];
	char digest[DIGEST_HEX_LEN + 1];	/* sha256 only */
	uint64_t size;
	struct oci_platform platform;		/* index entries */
	char ref_name[256];			/* org.opencontainers.image.ref.name */
};

struct oci_index {
	struct oci_descriptor *manifests;
	size_t n;
};

struct oci_manifest {
	struct oci_descriptor config;
	struct oci_descriptor *layers;
	enum oci_compression *compression;	/* one per layer */
	size_t n;
};

struct oci_config {
	struct oci_platform platform;
	char **entrypoint, **cmd, **env;	/* NULL-terminated, or NULL when unset */
	char *workdir, *user;			/* NULL when unset */
};

/* Index or manifest, from mediaType or, where that is absent, the keys. */
enum oci_doc oci_doc_kind(const char *json, size_t len);

/* Each returns 0, or -1 with why[] saying what is wrong (for "IMAGE: "). */
int oci_index_parse(const char *json, size_t len, struct oci_index *ix, char *why, size_t wlen);
int oci_manifest_parse(const char *json, size_t len, struct oci_manifest *m, char *why,
		       size_t wlen);
int oci_config_parse(const char *json, size_t len, struct oci_config *c, char *why, size_t wlen);

void oci_index_free(struct oci_index *ix);
void oci_manifest_free(struct oci_manifest *m);
void oci_config_free(struct oci_config *c);

/* "linux/arm64/v8" -> its parts; -1 if not os/arch[/variant]. */
int oci_platform_parse(const char *text, struct oci_platform *p);
/* The platform this pupa runs containers of (linux/amd64). */
void oci_platform_host(struct oci_platform *p);
void oci_platform_format(const struct oci_platform *p, char *buf, size_t len);

/*
 * The index entry for a platform (a missing variant matches any); -1 and
 * why[] listing the platforms the index has when none fits.
 */
int oci_index_select(const struct oci_index *ix, const struct oci_platform *want,
		     size_t *which, char *why, size_t wlen);

#endif
