/*
 * The boot GDT. The boot protocol fixes the selectors: __BOOT_CS is 0x10
 * and __BOOT_DS 0x18, both flat 4 GiB. The code segment is 64-bit for a
 * bzImage's 64-bit entry and 32-bit for the PVH entry.
 */
#ifndef PUPA_VMM_X86_GDT_H
#define PUPA_VMM_X86_GDT_H

#include <stdint.h>

#define GDT_BOOT_CS	0x10
#define GDT_BOOT_DS	0x18
#define GDT_BOOT_TSS	0x20
#define GDT_ENTRIES	5

/* flags: the access byte in bits 0-7 and the granularity nibble in 12-15. */
static inline uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) |
	       ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) |
	       ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

static inline void gdt_build(uint64_t gdt[GDT_ENTRIES], int long_mode)
{
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = gdt_entry(long_mode ? 0xa09b : 0xc09b, 0, 0xfffff);	/* code */
	gdt[3] = gdt_entry(0xc093, 0, 0xfffff);				/* data */
	gdt[4] = gdt_entry(0x808b, 0, 0xfffff);				/* TSS */
}

#endif
