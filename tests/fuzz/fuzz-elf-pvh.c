/* SPDX-License-Identifier: MIT */
/* The ELF/PVH loader's parser: headers, program headers, the PVH note. */
#include <elf.h>
#include <string.h>

#include "fuzz.h"
#include "kernel_samples.h"
#include "x86/elf_pvh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_pvh_info info;
	char why[256];

	if (!elf_pvh__is_elf(data, size))
		return 0;
	if (elf_pvh__parse(data, size, &info, why, sizeof(why)) == 0) {
		/* What it accepts lies within the file it was given. */
		for (unsigned int i = 0; i < info.nr_segments; i++)
			if (info.segments[i].offset > size ||
			    info.segments[i].filesz > size - info.segments[i].offset)
				abort();
	}
	return 0;
}

void fuzz_seeds(void)
{
	static uint8_t img[8192];

	sample_elf_pvh(img, sizeof(img));
	fuzz_seed("pvh", img, sizeof(img));
}
