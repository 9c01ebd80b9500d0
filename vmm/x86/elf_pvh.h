/*
 * Parsing an uncompressed ELF vmlinux for the PVH entry point
 * (XEN_ELFNOTE_PHYS32_ENTRY): 32-bit protected mode, paging off, %ebx
 * pointing at a struct hvm_start_info.
 */
#ifndef PUPA_VMM_X86_ELF_PVH_H
#define PUPA_VMM_X86_ELF_PVH_H

#include <stddef.h>
#include <stdint.h>

#define ELF_PVH_MAX_SEGMENTS	16
#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct elf_segment {
	uint64_t paddr;
	uint64_t offset;
	uint64_t filesz;
	uint64_t memsz;
};

struct elf_pvh_info {
	uint64_t entry;			/* physical PVH entry */
	unsigned int nr_segments;
	struct elf_segment segments[ELF_PVH_MAX_SEGMENTS];
	uint64_t end;			/* highest paddr + memsz */
};

/* Is this an ELF file at all (so the caller picks this loader)? */
int elf_pvh__is_elf(const uint8_t *buf, size_t len);

/* 0, or -ENOEXEC/-EINVAL with the reason in why. */
int elf_pvh__parse(const uint8_t *buf, size_t len, struct elf_pvh_info *info,
		   char *why, size_t why_len);

#endif
