/*
 * A registry's credentials, found where Docker and Podman keep them:
 *   REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else
 *   ~/.docker/config.json; in it
 *   - "credHelpers": {"REGISTRY": "NAME"}, then "credsStore": "NAME":
 *     docker-credential-NAME get, the server on its stdin, JSON
 *     {"Username", "Secret"} on its stdout (Docker's helper protocol);
 *   - "auths": {"REGISTRY": {"auth": base64(user:password)}}.
 * docker.io is looked up as Docker writes it, https://index.docker.io/v1/.
 */
#ifndef PUPA_CREDENTIALS_H
#define PUPA_CREDENTIALS_H

#include <stddef.h>

#include "error.h"

struct credentials {
	char user[256];
	char secret[4096];
	char from[4200];	/* where they came from, for messages */
};

/* 0 with cr filled, 1 when there are none, negative on a broken source. */
int credentials_find(const char *registry, struct credentials *cr, struct pupa_err *err);

/* "Authorization: Basic base64(user:secret)" into out. */
int credentials_basic_header(const struct credentials *cr, char *out, size_t len);

/* RFC 4648 base64; -1 on bad input or no room. */
int base64_encode_text(const void *in, size_t n, char *out, size_t len);
int base64_decode_text(const char *in, char *out, size_t len, size_t *outn);

#endif
