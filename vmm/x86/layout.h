/*
 * Where things live in the guest's physical address space on x86_64.
 *
 *   0x00500  GDT
 *   0x06000  PVH start_info, module list and memory map
 *   0x07000  zero page (struct boot_params)
 *   0x09000  page tables: PML4, PDPT, four PDs (identity map of 4 GiB)
 *   0x20000  kernel command line (up to 64 KiB)
 *   0x30000  setup_data chain: device tree, RNG seed
 *   0x9fc00  MP table (the last KiB of base memory, where Linux looks)
 *   1 MiB+   kernel, then initrd at the top of low RAM
 *   3 GiB .. 4 GiB  the MMIO hole: IOAPIC, LAPIC, virtio-mmio devices
 *   4 GiB+   the rest of RAM
 */
#ifndef PUPA_VMM_X86_LAYOUT_H
#define PUPA_VMM_X86_LAYOUT_H

#include <stdint.h>

#include "../memory.h"

#define X86_GDT_ADDR		0x500ULL
#define X86_PVH_INFO_ADDR	0x6000ULL
#define X86_ZERO_PAGE_ADDR	0x7000ULL
#define X86_PML4_ADDR		0x9000ULL
#define X86_PDPT_ADDR		0xa000ULL
#define X86_PD_ADDR		0xb000ULL	/* four pages */
#define X86_BOOT_STACK		0x8ff0ULL
#define X86_CMDLINE_ADDR	0x20000ULL
#define X86_CMDLINE_MAX		0x10000ULL
#define X86_SETUP_DATA_ADDR	0x30000ULL
#define X86_SETUP_DATA_MAX	(X86_MPTABLE_ADDR - X86_SETUP_DATA_ADDR)
#define X86_MPTABLE_ADDR	0x9fc00ULL
#define X86_EBDA_END		0xa0000ULL
#define X86_HIMEM_START		0x100000ULL
#define X86_MMIO_HOLE_START	0xc0000000ULL
#define X86_MMIO_HOLE_END	0x100000000ULL
#define X86_VIRTIO_MMIO_BASE	0xd0000000ULL
#define X86_IOAPIC_ADDR		0xfec00000ULL
#define X86_LAPIC_ADDR		0xfee00000ULL
#define X86_IDENTITY_MAP_ADDR	0xfffbc000ULL
#define X86_TSS_ADDR		0xfffbd000ULL

#define X86_MIN_MEMORY		(32ULL << 20)

#define E820_RAM		1
#define E820_RESERVED		2
#define E820_MAX_ENTRIES	128

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/*
 * Lay out ram_bytes of RAM around the MMIO hole: one region from 0 up to
 * the hole, the rest above 4 GiB. -EINVAL below X86_MIN_MEMORY.
 */
int x86_layout__ram(struct guest_mem *mem, uint64_t ram_bytes);

/*
 * The e820 map the guest sees for mem: RAM, with the MP table's KiB below
 * 640 KiB and the BIOS area reserved. Returns the number of entries.
 */
unsigned int x86_layout__e820(const struct guest_mem *mem, struct e820_entry *out,
			      unsigned int max);

#endif
