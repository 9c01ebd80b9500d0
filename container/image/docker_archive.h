/*
 * Images users already have outside pupa:
 *
 *   docker-archive:FILE[:REF]   what `docker save` (or skopeo) writes: a tar
 *                               whose manifest.json lists each image's
 *                               config and layer files inside the tar; a
 *                               plain path to such a tar is read the same
 *   containers-storage:NAME     Podman's images, and
 *   docker-daemon:NAME          Docker's, both copied out by skopeo
 *
 * Each becomes an OCI image layout in the cache's tmp/ (removed after),
 * pulled as oci: layouts are: the config applied at start, every blob
 * checked. The archive is hostile input: manifest.json is bounded, its
 * paths normalised and refused when they leave the archive, only regular
 * files taken, each once.
 */
#ifndef PUPA_DOCKER_ARCHIVE_H
#define PUPA_DOCKER_ARCHIVE_H

#include <stddef.h>

#include "cache.h"
#include "error.h"
#include "pull.h"

#define DOCKER_ARCHIVE_IMAGES_MAX	64
#define DOCKER_ARCHIVE_TAGS_MAX		256
#define DOCKER_ARCHIVE_PATH_MAX		1024

struct docker_archive_image {
	char *config;		/* normalised paths inside the tar */
	char **layers;
	size_t n_layers;
	char **tags;		/* RepoTags, as written */
	size_t n_tags;
};

struct docker_archive_manifest {
	struct docker_archive_image *images;
	size_t n;
};

/* manifest.json: 0, or -1 with why[] saying what is wrong. */
int docker_archive_manifest_parse(const char *json, size_t len,
				  struct docker_archive_manifest *m, char *why, size_t wlen);
void docker_archive_manifest_free(struct docker_archive_manifest *m);

/* Which image REF names ("" : the only one); -1 and why[] listing the tags. */
int docker_archive_pick(const struct docker_archive_manifest *m, const char *ref, size_t *which,
			char *why, size_t wlen);

/* Is the file at path a docker save archive (manifest.json and
 * repositories at its root, nothing a root filesystem has)? 1 or 0. */
int docker_archive_sniff(const char *path);

/*
 * image is docker-archive:FILE[:REF], or a path (file) that sniffs as one,
 * pinned (pin, o->sha256) to the file's SHA-256 or to the image's digest.
 */
int pull_docker_archive(const struct cache *c, const struct pull_options *o, const char *file,
			const char *ref, const char *pin, const char *source,
			struct pull_result *res, struct pupa_err *err);

/* containers-storage:NAME, docker-daemon:NAME through skopeo. */
int pull_skopeo(const struct cache *c, const struct pull_options *o, struct pull_result *res,
		struct pupa_err *err);

#endif
