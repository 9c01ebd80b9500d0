/*
 * Layered images: an OCI image layout (oci:DIR[:REF]) or a registry's
 * image flattened into one ext4 image in the cache, named by its platform
 * manifest's digest.
 */
#ifndef PUPA_PULL_OCI_H
#define PUPA_PULL_OCI_H

#include "cache.h"
#include "error.h"
#include "pull.h"

int pull_oci(const struct cache *c, const struct pull_options *o, struct pull_result *res,
	     struct pupa_err *err);

/* A layout pupa made in tmp/ (image "oci:DIR[:REF]"), recorded as source. */
int pull_oci_layout_as(const struct cache *c, const struct pull_options *o, const char *layout,
		       const char *source, struct pull_result *res, struct pupa_err *err);

/* oci-archive:FILE[:REF]: the tar of a layout, unpacked in the cache's tmp/. */
int pull_oci_archive(const struct cache *c, const struct pull_options *o,
		     struct pull_result *res, struct pupa_err *err);

/* A registry reference: its layers into the cache's blobs/, then flattened. */
int pull_registry(const struct cache *c, const struct pull_options *o, struct pull_result *res,
		  struct pupa_err *err);

#endif
