/*
 * Parsing a Linux x86 bzImage (Documentation/arch/x86/boot.rst). Pure: it
 * reads a buffer and says what to load where, or why it cannot.
 */
#ifndef PUPA_VMM_X86_BZIMAGE_H
#define PUPA_VMM_X86_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

#define BZ_SETUP_SECTS		0x1f1
#define BZ_BOOT_FLAG		0x1fe
#define BZ_JUMP			0x200
#define BZ_HEADER_MAGIC		0x202
#define BZ_VERSION		0x206
#define BZ_TYPE_OF_LOADER	0x210
#define BZ_LOADFLAGS		0x211
#define BZ_RAMDISK_IMAGE	0x218
#define BZ_RAMDISK_SIZE		0x21c
#define BZ_HEAP_END_PTR		0x224
#define BZ_CMD_LINE_PTR		0x228
#define BZ_INITRD_ADDR_MAX	0x22c
#define BZ_KERNEL_ALIGNMENT	0x230
#define BZ_RELOCATABLE		0x234
#define BZ_XLOADFLAGS		0x236
#define BZ_CMDLINE_SIZE		0x238
#define BZ_SETUP_DATA		0x250
#define BZ_PREF_ADDRESS		0x258
#define BZ_INIT_SIZE		0x260

#define BZ_MIN_VERSION		0x206	/* 64-bit entry needs 2.12 (xloadflags) */
#define BZ_LOADED_HIGH		0x01
#define BZ_CAN_USE_HEAP		0x80
#define BZ_XLF_KERNEL_64	0x01

struct bzimage_info {
	uint16_t version;
	uint32_t setup_size;		/* real-mode part, boot sector included */
	uint32_t header_end;		/* end of the setup header in the file */
	uint64_t payload_offset;	/* protected-mode kernel in the file */
	uint64_t payload_size;
	uint64_t load_addr;		/* where the payload goes */
	uint64_t entry64;		/* load_addr + 0x200 */
	uint32_t init_size;		/* memory the kernel needs from load_addr */
	uint32_t cmdline_size;		/* longest command line it accepts */
	uint32_t initrd_addr_max;
};

/*
 * Check buf as a bzImage with a 64-bit entry point and fill info. Returns
 * 0, or -EINVAL/-ENOEXEC with a reason in why (e.g. "not a bzImage: no
 * HdrS signature").
 */
int bzimage__parse(const uint8_t *buf, size_t len, struct bzimage_info *info,
		   char *why, size_t why_len);

#endif
