/*
 * What IMAGE names, and registry references with Docker's normalisation.
 *
 * One precedence, first match wins (pupa(1) documents it):
 *   1. a URL: http://, https://, file://                 -> tarball
 *   2. a path: starts with /, ./, ../ or ~               -> tarball
 *   3. an existing file                                  -> tarball
 *   4. oci:DIR[:REF], oci-archive:FILE[:REF]             -> OCI image layout
 *      docker-archive:FILE[:REF]                         -> docker save archive
 *      containers-storage:NAME, docker-daemon:NAME       -> through skopeo
 *   5. a name ending in .tar .tar.gz .tgz .tar.xz .tar.zst .tar.bz2
 *                                                        -> tarball
 *   6. anything else: [REGISTRY[:PORT]/]NAME[:TAG][@sha256:HEX]
 *
 * A reference's first component is a registry when it has a '.' or a ':'
 * or is "localhost"; otherwise the registry is docker.io, where a name of
 * one component is in "library/". No tag and no digest means ":latest".
 * docker.io's API is served by registry-1.docker.io.
 */
#ifndef PUPA_REFERENCE_H
#define PUPA_REFERENCE_H

#include <stddef.h>

#include "digest.h"

enum image_kind {
	IMAGE_TARBALL,		/* source_parse() takes it from here */
	IMAGE_OCI_LAYOUT,	/* oci:DIR[:REF] */
	IMAGE_OCI_ARCHIVE,	/* oci-archive:FILE[:REF] */
	IMAGE_REGISTRY,
	IMAGE_DOCKER_ARCHIVE,	/* docker-archive:FILE[:REF] */
	IMAGE_SKOPEO,		/* containers-storage:NAME, docker-daemon:NAME */
};

#define REF_HOST_MAX	256
#define REF_NAME_MAX	256
#define REF_TAG_MAX	128

struct image_ref {
	char registry[REF_HOST_MAX];	/* as named: docker.io, 127.0.0.1:5000 */
	char api_host[REF_HOST_MAX];	/* where the API is: registry-1.docker.io */
	char name[REF_NAME_MAX];	/* library/alpine */
	char tag[REF_TAG_MAX + 1];	/* "" when only a digest pins it */
	char digest[DIGEST_HEX_LEN + 1];	/* "" unless @sha256: */
};

/* Which of the six kinds IMAGE is (reads the file system for rule 3). */
enum image_kind image_kind_of(const char *image);

/*
 * Parse a registry reference. On error returns -1 and *why says what is
 * wrong with it, in words that fit after "IMAGE: ".
 */
int image_ref_parse(const char *text, struct image_ref *r, const char **why);

/* The full reference: docker.io/library/alpine:3.20[@sha256:...]. */
void image_ref_format(const struct image_ref *r, char *buf, size_t len);

/*
 * oci:DIR[:REF] and oci-archive:FILE[:REF]: the path and the reference
 * name inside the layout ("" when absent). As in skopeo, the path ends at
 * its first ':', so a path with a ':' in it cannot be named this way.
 */
int image_layout_parse(const char *text, char *path, size_t plen, char *ref, size_t rlen,
		       const char **why);

/*
 * A layout image named the one way the cache records it: the prefix as
 * given (oci: or oci-archive:), the path made absolute, then ":REF" when
 * given. abs gets the absolute path (PATH_MAX bytes), ref the name. 0, or
 * -1 with *why (the path's errno text when realpath fails).
 */
int image_layout_canonical(const char *text, char *out, size_t len, char *abs, char *ref,
			   size_t rlen, const char **why);

#endif
