/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env_file.h"

static void env_file__drop(char **env, unsigned int from, unsigned int *n)
{
	while (*n > from)
		free(env[--*n]);
}

/* "NAME" or "NAME=VALUE" (line, len bytes, no newline) -> a new entry, or none. */
static int env_file__line(const char *name, unsigned int lineno, const char *line, size_t len,
			  char **out, struct pupa_err *err)
{
	const char *eq, *val = NULL;
	size_t klen;
	char *kv;

	*out = NULL;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	if (!len || *line == '#')
		return 0;
	eq = memchr(line, '=', len);
	klen = eq ? (size_t)(eq - line) : len;
	if (klen == 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--env-file %s: line %u: no variable name before '='", name, lineno);
	for (size_t i = 0; i < klen; i++)
		if (line[i] == ' ' || line[i] == '\t' || (unsigned char)line[i] < 0x20)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--env-file %s: line %u: the variable name '%.*s' has "
				       "whitespace or a control character in it", name, lineno,
				       (int)(klen > 64 ? 64 : klen), line);
	if (!eq) {
		char key[ENV_FILE_MAX_LINE + 1];

		memcpy(key, line, klen);
		key[klen] = '\0';
		val = getenv(key);
		if (!val)
			return 0;	/* Docker's habit: unset here, not set there */
		if (klen + 1 + strlen(val) > ENV_FILE_MAX_LINE)
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--env-file %s: line %u: %s's value here is longer than %u "
				       "bytes", name, lineno, key, ENV_FILE_MAX_LINE);
	}
	kv = malloc(val ? klen + 1 + strlen(val) + 1 : len + 1);
	if (!kv)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	if (val) {
		memcpy(kv, line, klen);
		kv[klen] = '=';
		strcpy(kv + klen + 1, val);
	} else {
		memcpy(kv, line, len);
		kv[len] = '\0';
	}
	*out = kv;
	return 0;
}

int env_file_parse(const char *name, const char *text, size_t len, char **env, unsigned int *n,
		   unsigned int max, struct pupa_err *err)
{
	unsigned int from = *n, lineno = 0;
	size_t pos = 0;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	if (memchr(text, '\0', len))
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--env-file %s: has a NUL byte: not a text file", name);
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;
		char *kv;

		pos += ll + (nl != NULL);
		lineno++;
		if (ll && line[ll - 1] == '\r')
			ll--;
		if (ll > ENV_FILE_MAX_LINE) {
			env_file__drop(env, from, n);
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--env-file %s: line %u is longer than %u bytes", name, lineno,
				       ENV_FILE_MAX_LINE);
		}
		if (env_file__line(name, lineno, line, ll, &kv, err) < 0) {
			env_file__drop(env, from, n);
			return -(int)err->code;
		}
		if (!kv)
			continue;
		if (*n >= max) {
			free(kv);
			env_file__drop(env, from, n);
			return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
				       "--env-file %s: line %u: more than %u variables in all", name,
				       lineno, max);
		}
		env[(*n)++] = kv;
	}
	return 0;
}

int env_file_read(const char *path, char **env, unsigned int *n, unsigned int max,
		  struct pupa_err *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "--env-file %s: %s", path,
			       strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > ENV_FILE_MAX_BYTES) {
		close(fd);
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG,
			       "--env-file %s: not a regular file of at most %u bytes", path,
			       ENV_FILE_MAX_BYTES);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	ret = env_file_parse(path, buf, got, env, n, max, err);
	free(buf);
	return ret;
}
