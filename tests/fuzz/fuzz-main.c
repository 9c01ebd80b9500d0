/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static const char *seed_dir;

void fuzz_seed(const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "fuzz: cannot write the seed %s\n", path);
		exit(1);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	seed_dir = getenv("PUPA_FUZZ_SEEDS");
	if (seed_dir && *seed_dir) {
		fuzz_seeds();
		exit(0);
	}
	return 0;
}
