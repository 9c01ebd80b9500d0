/* SPDX-License-Identifier: MIT */
/*
 * --env-file FILE in Docker's format: one NAME=VALUE per line, the value
 * taken as written (no quotes, no expansion); a bare NAME takes its value
 * from pupa's environment and is skipped when unset there; blank lines and
 * lines starting with '#' are ignored; leading whitespace goes, as does a
 * UTF-8 byte order mark and a line's trailing "\r". The file is the user's
 * input, so everything about it has a bound: its size, a line's length, the
 * number of variables, and no NUL byte or name with whitespace in it.
 */
#ifndef PUPA_ENV_FILE_H
#define PUPA_ENV_FILE_H

#include <stddef.h>

#include "error.h"

#define ENV_FILE_MAX_BYTES (1u << 20)
#define ENV_FILE_MAX_LINE 4096	/* AGENT_MAX_STR: what one variable may be */

/*
 * Append each variable of text (len bytes, named name in errors) to env as
 * a malloc'd "NAME=VALUE", *n counting them, at most max in all. On error
 * (BadConfig naming the file and line) the ones this call added are freed
 * and *n is as it was.
 */
int env_file_parse(const char *name, const char *text, size_t len, char **env, unsigned int *n,
		   unsigned int max, struct pupa_err *err);

/* Read path (a regular file up to ENV_FILE_MAX_BYTES) and parse it. */
int env_file_read(const char *path, char **env, unsigned int *n, unsigned int max,
		  struct pupa_err *err);

#endif
