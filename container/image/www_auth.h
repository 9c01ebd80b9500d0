/*
 * A registry's WWW-Authenticate challenge (RFC 7235, as the distribution
 * token spec uses it): the scheme, and the realm, service and scope a
 * Bearer token is asked for with. The header is the registry's, so it is
 * parsed as untrusted text: bounded copies, a value too long for its
 * buffer is an error, never a truncation.
 */
#ifndef PUPA_WWW_AUTH_H
#define PUPA_WWW_AUTH_H

struct www_auth {
	char scheme[16];	/* "Bearer" or "Basic", as sent */
	char realm[1024];
	char service[256];
	char scope[1024];
};

/* The first challenge of the header; -1 when it is not one. */
int www_auth_parse(const char *header, struct www_auth *out);

#endif
