/*
 * A distribution (v2) registry client: manifests and blobs of one
 * repository, with what a 401 asks for: a Bearer token from the realm it
 * names (anonymous first, then with the user's credentials), or Basic
 * authentication (credentials.h says where credentials come from).
 *
 * HTTPS with verification, against the system's CAs or the registry's
 * own /etc/docker/certs.d/HOST[:PORT]/ca.crt (Docker's convention). Plain
 * http only for loopback hosts and those named with --insecure-registry.
 * The Authorization header never follows a redirect to another host
 * (blob storage). Credentials go to a token realm only over https, or over
 * plain http when the realm has the registry's own scheme, host and port;
 * never to a realm that carries user information. Documents (manifests,
 * indexes) and tokens have a deadline (twice the stall time); every
 * request stops within a second of the pull's interruption.
 */
#ifndef PUPA_REGISTRY_H
#define PUPA_REGISTRY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "reference.h"

struct cache;

struct registry {
	struct image_ref ref;
	const struct cache *cache;	/* remembers token realms; NULL: none */
	char base[REF_HOST_MAX + 16];	/* https://host[:port] */
	char auth[8300];		/* "Authorization: ..." once a token is held */
	char ca_file[4200];		/* "" for the system's CAs */
	unsigned int retries, stall_s;
	volatile sig_atomic_t *interrupted;	/* SIGINT/SIGTERM: every fetch stops */
	volatile int *stop;		/* NULL, or another download failed: stop too */
	unsigned int requests;		/* made so far, for tests and timings */
	int tried_anonymous;		/* a token without credentials was asked for */
	int tried_credentials;		/* and one with them, or Basic sent */
};

/* What of a URL decides where its bytes go, as libcurl parses it. */
struct registry_origin {
	char scheme[8];			/* "http" or "https" */
	char host[REF_HOST_MAX];	/* a name, an IPv4 address or [IPv6] */
	unsigned int port;		/* the scheme's default filled in */
};

/*
 * An http(s) URL's origin, parsed by libcurl's URL API (the parser that
 * will make the request). 0; -EINVAL: not an http(s) URL (*why says);
 * -EACCES: it carries user information (user@ or user:password@), which
 * pupa never follows; -ENOSYS: no libcurl.
 */
int registry_url_origin(const char *url, struct registry_origin *o, const char **why);

/* Same scheme, host and port. */
int registry_same_origin(const struct registry_origin *a, const struct registry_origin *b);

/* May HOST[:PORT] be spoken to over plain http? insecure: comma list. */
int registry_plain_http_ok(const char *registry, const char *insecure);

void registry_open(struct registry *r, const struct image_ref *ref, const char *insecure);

/* A token from the realm the last pull learned, before any 401 asks (0 when
 * none is known or it fails: the 401 path remains). */
void registry_warm_token(struct registry *r);

/*
 * A manifest or index by tag or "sha256:HEX", every media type pupa reads
 * accepted; *body is NUL-terminated, digest gets the SHA-256 of its bytes.
 */
int registry_manifest(struct registry *r, const char *reference, char **body, size_t *len,
		      char *digest, struct pupa_err *err);

/*
 * A blob's bytes from offset on (Range), in order, to data(); the caller
 * checks the digest. -EAGAIN: the registry sent the whole blob to a range
 * request, and the caller starts over.
 */
int registry_blob(struct registry *r, const char *digest, uint64_t offset,
		  int (*data)(void *opaque, const void *buf, size_t len), void *opaque,
		  struct pupa_err *err);

#endif
