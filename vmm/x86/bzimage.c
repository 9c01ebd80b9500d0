#include "bzimage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

int bzimage__parse(const uint8_t *buf, size_t len, struct bzimage_info *info,
		   char *why, size_t why_len)
{
	uint32_t setup_sects, align;

	memset(info, 0, sizeof(*info));
	if (len < BZ_INIT_SIZE + 4)
		return pupa_why(why, why_len, -ENOEXEC,
				"not a bzImage: %zu bytes is too short for a boot header", len);
	if (memcmp(buf + BZ_HEADER_MAGIC, "HdrS", 4) != 0)
		return pupa_why(why, why_len, -ENOEXEC, "not a bzImage: no \"HdrS\" signature at 0x202");
	if (rd16(buf + BZ_BOOT_FLAG) != 0xaa55)
		return pupa_why(why, why_len, -ENOEXEC, "not a bzImage: boot flag is not 0xAA55");

	info->version = rd16(buf + BZ_VERSION);
	if (info->version < BZ_MIN_VERSION)
		return pupa_why(why, why_len, -EINVAL,
				"boot protocol %u.%02u is too old (2.06 or later needed)",
				info->version >> 8, info->version & 0xff);
	if (!(buf[BZ_LOADFLAGS] & BZ_LOADED_HIGH))
		return pupa_why(why, why_len, -EINVAL, "zImage (loaded low) kernels are not supported");
	if (info->version < 0x20c || !(rd16(buf + BZ_XLOADFLAGS) & BZ_XLF_KERNEL_64))
		return pupa_why(why, why_len, -EINVAL,
				"not a 64-bit kernel: no 64-bit entry point (XLF_KERNEL_64)");

	setup_sects = buf[BZ_SETUP_SECTS] ? buf[BZ_SETUP_SECTS] : 4;
	info->setup_size = (setup_sects + 1) * 512;
	info->header_end = BZ_JUMP + 2 + buf[BZ_JUMP + 1];
	if (info->header_end > info->setup_size || info->header_end > len)
		return pupa_why(why, why_len, -EINVAL, "setup header runs past the setup code");
	if (info->setup_size >= len)
		return pupa_why(why, why_len, -EINVAL,
				"truncated: setup code (%u bytes) leaves no kernel in %zu bytes",
				info->setup_size, len);

	info->payload_offset = info->setup_size;
	info->payload_size = len - info->setup_size;
	info->init_size = rd32(buf + BZ_INIT_SIZE);
	info->cmdline_size = rd32(buf + BZ_CMDLINE_SIZE);
	info->initrd_addr_max = rd32(buf + BZ_INITRD_ADDR_MAX);
	align = rd32(buf + BZ_KERNEL_ALIGNMENT);

	/* Where the header asks; relocatable kernels state a preference. */
	info->load_addr = rd64(buf + BZ_PREF_ADDRESS);
	if (info->load_addr < 0x100000)
		info->load_addr = 0x100000;
	if (buf[BZ_RELOCATABLE] && align && (align & (align - 1)) == 0)
		info->load_addr = (info->load_addr + align - 1) & ~(uint64_t)(align - 1);
	if (info->init_size < info->payload_size)
		info->init_size = (uint32_t)info->payload_size;
	info->entry64 = info->load_addr + 0x200;
	return 0;
}
