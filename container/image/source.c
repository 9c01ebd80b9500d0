#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fetch.h"
#include "source.h"

static int source__hexval(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* file:// URLs carry %XX escapes. */
static int source__unescape(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; *in; in++) {
		char ch = *in;

		if (ch == '%') {
			if (!isxdigit((unsigned char)in[1]) || !isxdigit((unsigned char)in[2]))
				return -1;
			ch = (char)(source__hexval((unsigned char)in[1]) * 16 +
				    source__hexval((unsigned char)in[2]));
			in += 2;
		}
		if (n + 1 >= len || ch == '\0')
			return -1;
		out[n++] = ch;
	}
	out[n] = '\0';
	return 0;
}

static int source__file(const char *image, const char *path, struct source *s,
			struct pupa_err *err)
{
	struct stat st;

	if (!realpath(path, s->path))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image %s: %s", image,
			       strerror(errno));
	if (stat(s->path, &st) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image %s: %s", image,
			       strerror(errno));
	if (!S_ISREG(st.st_mode))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "image %s: not a regular file (a root filesystem tarball is)", image);
	s->kind = SOURCE_FILE;
	s->size = (uint64_t)st.st_size;
	snprintf(s->canonical, sizeof(s->canonical), "%s", s->path);
	snprintf(s->validator, sizeof(s->validator), "file:%" PRIu64 ":%lld.%09ld:%llu",
		 s->size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		 (unsigned long long)st.st_ino);
	return 0;
}

int source_parse(const char *image, struct source *s, struct pupa_err *err)
{
	char name[4096];
	char *pin;

	memset(s, 0, sizeof(*s));
	if (!image || !*image)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "no image given");
	if (strlen(image) >= sizeof(name))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "image name too long");
	strcpy(name, image);
	pin = strstr(name, "@sha256:");
	if (pin) {
		if (digest_parse(pin + 8, s->digest) < 0)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "image %s: '@sha256:' must be followed by 64 hex digits", image);
		*pin = '\0';
	}
	if (strncmp(name, "http://", 7) == 0 || strncmp(name, "https://", 8) == 0) {
		s->kind = SOURCE_HTTP;
		snprintf(s->canonical, sizeof(s->canonical), "%s", name);
		return 0;
	}
	if (strncmp(name, "file://", 7) == 0) {
		char path[4096];
		const char *p = name + 7;

		if (strncmp(p, "localhost/", 10) == 0)
			p += 9;
		if (*p != '/' || source__unescape(p, path, sizeof(path)) < 0)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "image %s: a file URL is file:///absolute/path", image);
		return source__file(image, path, s, err);
	}
	if (strstr(name, "://"))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "image %s: unsupported scheme (http, https, file or a path)", image);
	return source__file(image, name, s, err);
}

/* Find "HEX  name" or "HEX *name" for name in a SHA256SUMS text. */
static int source__sums_find(char *text, const char *name, char *digest)
{
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' '), *file;

		if (!sp || sp - line != DIGEST_HEX_LEN)
			continue;
		file = sp + 1;
		if (*file == ' ' || *file == '*')
			file++;
		file[strcspn(file, "\r")] = '\0';
		if (strcmp(file, name) == 0 || (strncmp(file, "./", 2) == 0 && strcmp(file + 2, name) == 0)) {
			*sp = '\0';
			return digest_parse(line, digest);
		}
	}
	return -1;
}

int source_checksum_lookup(const struct source *s, char *digest, struct pupa_err *err)
{
	char sums[4200], *text = NULL;
	const char *slash = strrchr(s->canonical, '/');
	size_t len = 0;
	int ret;

	if (!slash || !slash[1])
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "%s: no file name to look up in SHA256SUMS", s->canonical);
	snprintf(sums, sizeof(sums), "%.*sSHA256SUMS", (int)(slash + 1 - s->canonical),
		 s->canonical);
	if (s->kind == SOURCE_HTTP) {
		ret = fetch_small(sums, 1u << 20, &text, &len, err);
		if (ret < 0)
			return ret;
	} else {
		FILE *f = fopen(sums, "re");
		long n;

		if (!f)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--verify=checksum: cannot read %s: %s", sums, strerror(errno));
		text = calloc(1, 1u << 20);
		n = text ? (long)fread(text, 1, (1u << 20) - 1, f) : -1;
		fclose(f);
		if (n < 0)
			return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	}
	ret = source__sums_find(text, slash + 1, digest);
	free(text);
	if (ret < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--verify=checksum: %s has no line for %s", sums, slash + 1);
	return 0;
}
