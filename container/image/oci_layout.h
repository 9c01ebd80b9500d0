/*
 * An OCI image layout on disk (oci:DIR[:REF], as skopeo and umoci write
 * it) resolved to one image: the platform's manifest, its config, and
 * where its layer blobs are. Every document is read by its digest and
 * checked against it; the layout is the user's, but what it holds may
 * come from anywhere.
 */
#ifndef PUPA_OCI_LAYOUT_H
#define PUPA_OCI_LAYOUT_H

#include <stddef.h>

#include "error.h"
#include "oci.h"

struct oci_resolved {
	char source[4096];			/* oci:/absolute/dir[:ref], or the reference */
	char blob_dir[4200];			/* DIR/blobs/sha256, or the cache's */
	int downloaded;				/* the layers came over the network */
	char manifest_digest[DIGEST_HEX_LEN + 1];
	char index_digest[DIGEST_HEX_LEN + 1];	/* "" unless an index was walked */
	char platform[100];
	struct oci_manifest manifest;
	char *config;				/* the config blob, checked */
	size_t config_len;
	char config_digest[DIGEST_HEX_LEN + 1];
};

/* want NULL: this host's platform. */
int oci_layout_resolve(const char *image, const struct oci_platform *want,
		       struct oci_resolved *r, struct pupa_err *err);

/* A layer blob in blob_dir, opened read-only; its digest is the reader's to check. */
int oci_blob_open(const struct oci_resolved *r, const char *digest, struct pupa_err *err);

/* The config (held in r->config) parsed, its platform checked against want. */
int oci_resolved_check_config(struct oci_resolved *r, const struct oci_platform *want,
			      struct pupa_err *err);

void oci_resolved_free(struct oci_resolved *r);

/*
 * oci-archive: a tar of a layout, its oci-layout, index.json and
 * the blobs under blobs/sha256 (nothing else) written below dfd; paths go through the
 * archive policy, only directories and regular files are taken.
 */
int oci_archive_extract(const char *file, int dfd, struct pupa_err *err);

#endif
