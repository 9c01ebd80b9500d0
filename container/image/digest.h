/*
 * SHA-256, the digest that names cache entries and that users verify.
 */
#ifndef PUPA_DIGEST_H
#define PUPA_DIGEST_H

#include <stddef.h>

#define DIGEST_HEX_LEN 64

struct digest;

struct digest *digest_new(void);
void digest_update(struct digest *d, const void *buf, size_t len);
/* Lowercase hex into hex[DIGEST_HEX_LEN + 1]; the digest can go on after. */
void digest_hex(struct digest *d, char *hex);
void digest_free(struct digest *d);

/* One call for a short string (cache keys of URLs). */
void digest_string(const char *s, char *hex);

/* 64 hex digits (either case); hex gets them lowercased. */
int digest_parse(const char *in, char *hex);

#endif
