/* SPDX-License-Identifier: MIT */
/*
 * The smallest kernels the loaders accept, for the unit tests to break one
 * field at a time and for the fuzz targets to start from.
 */
#ifndef PUPA_TEST_KERNEL_SAMPLES_H
#define PUPA_TEST_KERNEL_SAMPLES_H

#include <elf.h>
#include <stdint.h>
#include <string.h>

#include "x86/bzimage.h"
#include "x86/elf_pvh.h"

static inline void sample_put16(uint8_t *img, size_t off, uint16_t v)
{
	img[off] = v & 0xff;
	img[off + 1] = v >> 8;
}

static inline void sample_put32(uint8_t *img, size_t off, uint32_t v)
{
	sample_put16(img, off, v & 0xffff);
	sample_put16(img, off + 2, v >> 16);
}

/* A bzImage header: protocol 2.15, 64-bit, relocatable, 4 setup sectors
 * (img: at least 0x270 bytes, zeroed beyond the header). */
static inline void sample_bzimage(uint8_t *img, size_t len)
{
	memset(img, 0, len);
	img[BZ_SETUP_SECTS] = 4;
	sample_put16(img, BZ_BOOT_FLAG, 0xaa55);
	img[BZ_JUMP] = 0xeb;
	img[BZ_JUMP + 1] = 0x6a;	/* header ends at 0x26c */
	memcpy(img + BZ_HEADER_MAGIC, "HdrS", 4);
	sample_put16(img, BZ_VERSION, 0x20f);
	img[BZ_LOADFLAGS] = BZ_LOADED_HIGH;
	sample_put32(img, BZ_INITRD_ADDR_MAX, 0x7fffffff);
	sample_put32(img, BZ_KERNEL_ALIGNMENT, 0x200000);
	img[BZ_RELOCATABLE] = 1;
	sample_put16(img, BZ_XLOADFLAGS, BZ_XLF_KERNEL_64);
	sample_put32(img, BZ_CMDLINE_SIZE, 2047);
	sample_put32(img, BZ_PREF_ADDRESS, 0x1000000);
	sample_put32(img, BZ_INIT_SIZE, 0x800000);
}

/* ELF64 with one PT_LOAD (paddr 16 MiB) and a PT_NOTE holding the PVH
 * entry (img: at least 0x2000 bytes). */
static inline void sample_elf_pvh(uint8_t *img, size_t len)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[2] = { 0 };
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = XEN_ELFNOTE_PHYS32_ENTRY };
	uint32_t entry = 0x1000040;
	size_t note_off = 0x200;

	memset(img, 0, len);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_machine = EM_X86_64;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	ph[0].p_type = PT_LOAD;
	ph[0].p_offset = 0x1000;
	ph[0].p_paddr = 0x1000000;
	ph[0].p_filesz = 0x1000;
	ph[0].p_memsz = 0x3000;
	ph[1].p_type = PT_NOTE;
	ph[1].p_offset = note_off;
	ph[1].p_filesz = sizeof(nh) + 4 + 4;
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), ph, sizeof(ph));
	memcpy(img + note_off, &nh, sizeof(nh));
	memcpy(img + note_off + sizeof(nh), "Xen", 4);
	memcpy(img + note_off + sizeof(nh) + 4, &entry, 4);
}

#endif
