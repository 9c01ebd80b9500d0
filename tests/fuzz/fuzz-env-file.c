/* SPDX-License-Identifier: MIT */
/*
 * --env-file's parser (container/env_file.c) over any bytes. Invariants are
 * checked, not only crashes: what it accepts stays inside its bounds (the
 * count, a variable's length, a name without whitespace or '='), and what
 * it refuses leaves nothing added.
 */
#include <string.h>

#include "env_file.h"
#include "fuzz.h"

#define FUZZ_ENV_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *env[FUZZ_ENV_MAX];
	unsigned int n = 0;
	struct pupa_err err = { 0 };
	int ret = env_file_parse("fuzz", (const char *)data, size, env, &n, FUZZ_ENV_MAX, &err);

	if (ret < 0 && (n != 0 || !err.msg[0]))
		abort();
	if (n > FUZZ_ENV_MAX)
		abort();
	for (unsigned int i = 0; i < n; i++) {
		size_t name = strcspn(env[i], "=");

		if (!env[i][name] || name == 0 || strlen(env[i]) > ENV_FILE_MAX_LINE ||
		    strpbrk(env[i], "\n") || memchr(env[i], ' ', name) || memchr(env[i], '\t', name))
			abort();
		free(env[i]);
	}
	return 0;
}

void fuzz_seeds(void)
{
	static const char docker[] = "# a comment\nA=1\n\n  B=two words \nHOME\nC=\r\nD=a=b\n";
	static const char bom[] = "\xef\xbb\xbfX=1\n";
	static const char bad[] = "=x\nA B=1\n";

	fuzz_seed("docker", docker, sizeof(docker) - 1);
	fuzz_seed("bom", bom, sizeof(bom) - 1);
	fuzz_seed("bad", bad, sizeof(bad) - 1);
}
