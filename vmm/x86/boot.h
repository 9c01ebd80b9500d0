/*
 * Putting a Linux kernel into guest memory the way its boot protocol asks:
 * bzImage through the 64-bit entry with a zero page, or an ELF vmlinux
 * through the PVH entry with an hvm_start_info.
 */
#ifndef PUPA_VMM_X86_BOOT_H
#define PUPA_VMM_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "../memory.h"
#include "error.h"

enum x86_boot_mode { X86_BOOT_BZIMAGE, X86_BOOT_PVH };

struct x86_boot_spec {
	const char *kernel;
	const char *initrd;		/* may be NULL */
	const char *cmdline;
	const void *fdt;		/* passed as setup_data SETUP_DTB (bzImage) */
	size_t fdt_len;
};

struct x86_boot {
	enum x86_boot_mode mode;
	uint64_t entry;			/* rip of the boot vCPU */
	uint64_t boot_info;		/* rsi (zero page) or rbx (start_info) */
	uint64_t kernel_end;
	uint64_t initrd_addr, initrd_size;
};

#define SETUP_DTB		2
#define SETUP_RNG_SEED		9
#define RNG_SEED_BYTES		32

int x86_boot__load(struct guest_mem *mem, const struct x86_boot_spec *spec,
		   struct x86_boot *boot, struct pupa_err *err);

#endif
