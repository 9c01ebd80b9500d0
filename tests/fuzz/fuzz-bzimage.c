/* SPDX-License-Identifier: MIT */
/* The bzImage header parser on any bytes (the kernel file is the user's,
 * but a loader must never read outside what it was given). */
#include <string.h>

#include "fuzz.h"
#include "x86/bzimage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bzimage_info info;
	char why[256];

	bzimage__parse(data, size, &info, why, sizeof(why));
	return 0;
}

static void put16(uint8_t *img, size_t off, uint16_t v) { img[off] = v & 0xff; img[off + 1] = v >> 8; }
static void put32(uint8_t *img, size_t off, uint32_t v)
{
	put16(img, off, v & 0xffff);
	put16(img, off + 2, v >> 16);
}

void fuzz_seeds(void)
{
	static uint8_t img[8192];

	/* Protocol 2.15, 64-bit, relocatable, 4 setup sectors. */
	img[BZ_SETUP_SECTS] = 4;
	put16(img, BZ_BOOT_FLAG, 0xaa55);
	img[BZ_JUMP] = 0xeb;
	img[BZ_JUMP + 1] = 0x6a;
	memcpy(img + BZ_HEADER_MAGIC, "HdrS", 4);
	put16(img, BZ_VERSION, 0x20f);
	img[BZ_LOADFLAGS] = BZ_LOADED_HIGH;
	put32(img, BZ_INITRD_ADDR_MAX, 0x7fffffff);
	put32(img, BZ_KERNEL_ALIGNMENT, 0x200000);
	img[BZ_RELOCATABLE] = 1;
	put16(img, BZ_XLOADFLAGS, BZ_XLF_KERNEL_64);
	put32(img, BZ_CMDLINE_SIZE, 2047);
	put32(img, BZ_PREF_ADDRESS, 0x1000000);
	put32(img, BZ_INIT_SIZE, 0x800000);
	fuzz_seed("valid-2.15", img, sizeof(img));
	put16(img, BZ_VERSION, 0x206);
	fuzz_seed("old-2.06", img, sizeof(img));
}
