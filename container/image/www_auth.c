/*
 * challenge   = scheme [ 1*SP ( token68 / #auth-param ) ]
 * auth-param  = token BWS "=" BWS ( token / quoted-string )
 * Parameters other than realm, service and scope are skipped; a second
 * challenge in the same header ends the first.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "www_auth.h"

static int wa__tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *wa__space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A token or a quoted-string into out; NULL when malformed or too long. */
static const char *wa__value(const char *p, char *out, size_t len)
{
	size_t n = 0;

	if (*p != '"') {
		while (wa__tchar((unsigned char)*p) || *p == '/' || *p == ':' || *p == '=') {
			if (n + 1 >= len)
				return NULL;
			out[n++] = *p++;
		}
		out[n] = '\0';
		return n ? p : NULL;
	}
	for (p++; *p != '"'; p++) {
		if (*p == '\\' && p[1])
			p++;
		if (!*p || (unsigned char)*p < 0x20 || n + 1 >= len)
			return NULL;
		out[n++] = *p;
	}
	out[n] = '\0';
	return p + 1;
}

int www_auth_parse(const char *header, struct www_auth *out)
{
	const char *p = wa__space(header);
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	while (wa__tchar((unsigned char)*p)) {
		if (n + 1 >= sizeof(out->scheme))
			return -1;
		out->scheme[n++] = *p++;
	}
	if (!n || (*p && *p != ' ' && *p != '\t'))
		return -1;
	for (;;) {
		char name[32], scratch[1024];
		const char *start;
		char *dst;
		size_t dlen;

		p = wa__space(p);
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return 0;
		start = p;
		for (n = 0; wa__tchar((unsigned char)*p); p++)
			if (n + 1 < sizeof(name))
				name[n++] = *p;
		name[n] = '\0';
		p = wa__space(p);
		if (*p != '=')
			/* a new challenge (a scheme), or a token68: this one ends */
			return p == start ? -1 : 0;
		p = wa__space(p + 1);
		if (!strcasecmp(name, "realm"))
			dst = out->realm, dlen = sizeof(out->realm);
		else if (!strcasecmp(name, "service"))
			dst = out->service, dlen = sizeof(out->service);
		else if (!strcasecmp(name, "scope"))
			dst = out->scope, dlen = sizeof(out->scope);
		else
			dst = scratch, dlen = sizeof(scratch);
		p = wa__value(p, dst, dlen);
		if (!p)
			return -1;
	}
}
