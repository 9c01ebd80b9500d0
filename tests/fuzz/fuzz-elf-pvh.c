/* SPDX-License-Identifier: MIT */
/* The ELF/PVH loader's parser: headers, program headers, the PVH note. */
#include <elf.h>
#include <string.h>

#include "fuzz.h"
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
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[2] = { 0 };
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = XEN_ELFNOTE_PHYS32_ENTRY };
	uint32_t entry = 0x1000040;
	size_t note_off = 0x200;

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
	fuzz_seed("pvh", img, sizeof(img));
}
