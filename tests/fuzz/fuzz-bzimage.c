/* SPDX-License-Identifier: MIT */
/* The bzImage header parser on any bytes (the kernel file is the user's,
 * but a loader must never read outside what it was given). */
#include <string.h>

#include "fuzz.h"
#include "kernel_samples.h"
#include "x86/bzimage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bzimage_info info;
	char why[256];

	bzimage__parse(data, size, &info, why, sizeof(why));
	return 0;
}

void fuzz_seeds(void)
{
	static uint8_t img[8192];

	sample_bzimage(img, sizeof(img));
	fuzz_seed("valid-2.15", img, sizeof(img));
	sample_put16(img, BZ_VERSION, 0x206);
	fuzz_seed("old-2.06", img, sizeof(img));
}
