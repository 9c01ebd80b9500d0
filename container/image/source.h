/*
 * Where an image comes from: an http(s) URL, a file:// URL or a path, with
 * an optional @sha256:HEX pin. OCI references will be a third kind.
 */
#ifndef PUPA_SOURCE_H
#define PUPA_SOURCE_H

#include <stdint.h>

#include "digest.h"
#include "error.h"

enum source_kind { SOURCE_FILE, SOURCE_HTTP };

struct source {
	enum source_kind kind;
	char canonical[4096];	/* the URL, or the absolute path of a file */
	char path[4096];	/* SOURCE_FILE: what to open */
	char digest[DIGEST_HEX_LEN + 1];	/* from @sha256:, or "" */
	uint64_t size;		/* SOURCE_FILE */
	char validator[128];	/* SOURCE_FILE: changes when the file does */
};

int source_parse(const char *image, struct source *s, struct pupa_err *err);

/* The digest a SHA256SUMS file beside the source gives for it. */
int source_checksum_lookup(const struct source *s, char *digest, struct pupa_err *err);

#endif
