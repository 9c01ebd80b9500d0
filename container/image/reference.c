/*
 * IMAGE's kinds and registry references (reference.h has the rules). The
 * grammar is the distribution project's: lowercase name components joined
 * by '.', '_', '__' or dashes, tags of word characters, '.' and '-'.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reference.h"

static int ref__has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static int ref__has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

enum image_kind image_kind_of(const char *image)
{
	static const char *const urls[] = { "http://", "https://", "file://" };
	static const char *const paths[] = { "/", "./", "../", "~" };
	static const char *const tarballs[] = { ".tar", ".tar.gz", ".tgz", ".tar.xz",
						 ".tar.zst", ".tar.bz2" };
	struct stat st;

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		if (ref__has_prefix(image, urls[i]))
			return IMAGE_TARBALL;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (ref__has_prefix(image, paths[i]))
			return IMAGE_TARBALL;
	if (stat(image, &st) == 0 && S_ISREG(st.st_mode))
		return IMAGE_TARBALL;
	/* Before the suffixes: oci-archive:img.tar names an archived layout. */
	if (ref__has_prefix(image, "oci:"))
		return IMAGE_OCI_LAYOUT;
	if (ref__has_prefix(image, "oci-archive:"))
		return IMAGE_OCI_ARCHIVE;
	if (ref__has_prefix(image, "docker-archive:"))
		return IMAGE_DOCKER_ARCHIVE;
	/* Never a registry reference: Docker Hub has no repository of those names. */
	if (ref__has_prefix(image, "containers-storage:") || ref__has_prefix(image, "docker-daemon:"))
		return IMAGE_SKOPEO;
	for (size_t i = 0; i < sizeof(tarballs) / sizeof(tarballs[0]); i++)
		if (ref__has_suffix(image, tarballs[i]))
			return IMAGE_TARBALL;
	return IMAGE_REGISTRY;
}

static int ref__alnum_lower(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ joined by '.', '_', '__' or '-'+. */
static int ref__component_ok(const char *s, size_t len)
{
	size_t i = 0;

	for (;;) {
		size_t run = 0;

		while (i < len && ref__alnum_lower((unsigned char)s[i]))
			i++, run++;
		if (run == 0)
			return 0;
		if (i == len)
			return 1;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (i < len && s[i] == '-')
				i++;
		else
			return 0;
	}
}

static int ref__name_ok(const char *name, const char **why)
{
	const char *p = name;

	if (!*name) {
		*why = "the repository name is empty";
		return 0;
	}
	for (const char *c = name; *c; c++) {
		if (isupper((unsigned char)*c)) {
			*why = "repository names are lowercase";
			return 0;
		}
	}
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (!ref__component_ok(p, len)) {
			*why = "a repository name is made of [a-z0-9] parts joined by '.', '_', "
			       "'__' or '-', separated by '/'";
			return 0;
		}
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

/* host[:port], host a DNS name or an [IPv6] address. */
static int ref__registry_ok(const char *reg)
{
	const char *colon, *p = reg;

	if (*p == '[') {
		const char *end = strchr(p, ']');

		if (!end || end == p + 1)
			return 0;
		for (const char *c = p + 1; c < end; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':')
				return 0;
		colon = end[1] ? end + 1 : NULL;
		if (colon && *colon != ':')
			return 0;
	} else {
		colon = strchr(p, ':');
		for (const char *c = p; c < (colon ? colon : p + strlen(p)); c++) {
			int edge = c == p || c + 1 == (colon ? colon : p + strlen(p)) ||
				   c[-1] == '.' || c[1] == '.';

			if (isalnum((unsigned char)*c) || (*c == '.' && !edge) || (*c == '-' && !edge))
				continue;
			return 0;
		}
		if (colon == p || !*p)
			return 0;
	}
	if (colon) {
		size_t n = strlen(colon + 1);

		if (n == 0 || n > 5 || strspn(colon + 1, "0123456789") != n)
			return 0;
	}
	return 1;
}

static int ref__tag_ok(const char *tag)
{
	size_t n = strlen(tag);

	if (n == 0 || n > REF_TAG_MAX || !(isalnum((unsigned char)tag[0]) || tag[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)tag[i]) && !strchr("_.-", tag[i]))
			return 0;
	return 1;
}

int image_ref_parse(const char *text, struct image_ref *r, const char **why)
{
	char buf[REF_HOST_MAX + REF_NAME_MAX + REF_TAG_MAX + DIGEST_HEX_LEN + 16];
	char *at, *rest, *slash, *colon;

	memset(r, 0, sizeof(*r));
	if (strlen(text) >= sizeof(buf)) {
		*why = "too long for a reference";
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	at = strchr(buf, '@');
	if (at) {
		*at++ = '\0';
		if (!ref__has_prefix(at, "sha256:") || strlen(at + 7) != DIGEST_HEX_LEN ||
		    strspn(at + 7, "0123456789abcdef") != DIGEST_HEX_LEN) {
			*why = "'@' must be followed by sha256: and 64 lowercase hex digits";
			return -1;
		}
		memcpy(r->digest, at + 7, DIGEST_HEX_LEN + 1);
	}
	rest = buf;
	slash = strchr(buf, '/');
	if (slash && (memchr(buf, '.', (size_t)(slash - buf)) || memchr(buf, ':', (size_t)(slash - buf)) ||
		      (slash - buf == 9 && strncmp(buf, "localhost", 9) == 0))) {
		*slash = '\0';
		if (strlen(buf) >= sizeof(r->registry) || !ref__registry_ok(buf)) {
			*why = "the registry is not HOST or HOST:PORT";
			return -1;
		}
		snprintf(r->registry, sizeof(r->registry), "%s", buf);
		rest = slash + 1;
	} else {
		snprintf(r->registry, sizeof(r->registry), "docker.io");
	}
	if (strcmp(r->registry, "index.docker.io") == 0)
		snprintf(r->registry, sizeof(r->registry), "docker.io");
	colon = strrchr(rest, ':');
	if (colon) {
		*colon++ = '\0';
		if (!ref__tag_ok(colon)) {
			*why = "a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting "
			       "with '.' or '-'";
			return -1;
		}
		snprintf(r->tag, sizeof(r->tag), "%s", colon);
	}
	if (!ref__name_ok(rest, why))
		return -1;
	{
		const char *lib = strcmp(r->registry, "docker.io") == 0 && !strchr(rest, '/') ?
				  "library/" : "";

		size_t llen = strlen(lib), rlen = strlen(rest);

		/* The limit holds for the name as normalised, registry included. */
		if (strlen(r->registry) + 1 + llen + rlen > 255 || llen + rlen >= sizeof(r->name)) {
			*why = "the name is longer than 255 characters";
			return -1;
		}
		memcpy(r->name, lib, llen);
		memcpy(r->name + llen, rest, rlen + 1);
	}
	if (!r->tag[0] && !r->digest[0])
		snprintf(r->tag, sizeof(r->tag), "latest");
	snprintf(r->api_host, sizeof(r->api_host), "%s",
		 strcmp(r->registry, "docker.io") == 0 ? "registry-1.docker.io" : r->registry);
	return 0;
}

void image_ref_format(const struct image_ref *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s%s%s%s", r->registry, r->name, r->tag[0] ? ":" : "", r->tag,
		 r->digest[0] ? "@sha256:" : "", r->digest);
}

int image_layout_parse(const char *text, char *path, size_t plen, char *ref, size_t rlen,
		       const char **why)
{
	const char *p = strchr(text, ':'), *colon;
	size_t n;

	if (!p) {
		*why = "not oci:DIR[:REF] or oci-archive:FILE[:REF]";
		return -1;
	}
	p++;
	colon = strchr(p, ':');
	n = colon ? (size_t)(colon - p) : strlen(p);
	if (n == 0 || n >= plen) {
		*why = n ? "the path is too long" : "no path after the colon";
		return -1;
	}
	memcpy(path, p, n);
	path[n] = '\0';
	if (colon && (!colon[1] || strlen(colon + 1) >= rlen)) {
		*why = colon[1] ? "the reference name is too long" : "an empty reference name after ':'";
		return -1;
	}
	snprintf(ref, rlen, "%s", colon ? colon + 1 : "");
	return 0;
}

int image_layout_canonical(const char *text, char *out, size_t len, char *abs, char *ref,
			   size_t rlen, const char **why)
{
	char path[PATH_MAX];
	int n;

	if (image_layout_parse(text, path, sizeof(path), ref, rlen, why) < 0)
		return -1;
	if (!realpath(path, abs)) {
		*why = strerror(errno);
		return -1;
	}
	n = snprintf(out, len, "%.*s%s%s%s", (int)(strchr(text, ':') - text + 1), text, abs,
		     ref[0] ? ":" : "", ref);
	if (n < 0 || (size_t)n >= len) {
		*why = "the path is too long";
		return -1;
	}
	return 0;
}
