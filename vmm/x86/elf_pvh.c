#include "elf_pvh.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

int elf_pvh__is_elf(const uint8_t *buf, size_t len)
{
	return len >= SELFMAG && memcmp(buf, ELFMAG, SELFMAG) == 0;
}

/* Walk one PT_NOTE segment looking for the Xen PHYS32 entry note. */
static int find_pvh_note(const uint8_t *p, uint64_t size, uint64_t *entry)
{
	while (size >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_sz, desc_sz, total;

		memcpy(&nh, p, sizeof(nh));
		name_sz = ((uint64_t)nh.n_namesz + 3) & ~3ULL;
		desc_sz = ((uint64_t)nh.n_descsz + 3) & ~3ULL;
		total = sizeof(nh) + name_sz + desc_sz;
		if (total > size)
			return 0;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(p + sizeof(nh), "Xen", 4) == 0) {
			const uint8_t *d = p + sizeof(nh) + name_sz;

			if (nh.n_descsz == 4) {
				uint32_t e;
				memcpy(&e, d, 4);
				*entry = e;
				return 1;
			}
			if (nh.n_descsz == 8) {
				memcpy(entry, d, 8);
				return 1;
			}
			return 0;
		}
		p += total;
		size -= total;
	}
	return 0;
}

int elf_pvh__parse(const uint8_t *buf, size_t len, struct elf_pvh_info *info,
		   char *why, size_t why_len)
{
	Elf64_Ehdr eh;
	int have_entry = 0;

	memset(info, 0, sizeof(*info));
	if (len < sizeof(eh) || !elf_pvh__is_elf(buf, len))
		return pupa_why(why, why_len, -ENOEXEC, "not an ELF file");
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return pupa_why(why, why_len, -EINVAL, "not a 64-bit little-endian x86_64 ELF kernel");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phoff > len || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return pupa_why(why, why_len, -EINVAL, "truncated or corrupt ELF program headers");

	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return pupa_why(why, why_len, -EINVAL,
    				    "truncated: segment %u needs bytes %#llx..%#llx of a %zu-byte file", i,
    				    (unsigned long long)ph.p_offset,
    				    (unsigned long long)(ph.p_offset + ph.p_filesz), len);
		if (ph.p_type == PT_NOTE) {
			if (!have_entry)
				have_entry = find_pvh_note(buf + ph.p_offset, ph.p_filesz, &info->entry);
			continue;
		}
		if (ph.p_memsz < ph.p_filesz || ph.p_paddr + ph.p_memsz < ph.p_paddr)
			return pupa_why(why, why_len, -EINVAL, "segment %u has a bad size", i);
		if (info->nr_segments == ELF_PVH_MAX_SEGMENTS)
			return pupa_why(why, why_len, -EINVAL, "more than %d loadable segments",
    				    ELF_PVH_MAX_SEGMENTS);
		info->segments[info->nr_segments++] = (struct elf_segment){
			.paddr = ph.p_paddr, .offset = ph.p_offset,
			.filesz = ph.p_filesz, .memsz = ph.p_memsz,
		};
		if (ph.p_paddr + ph.p_memsz > info->end)
			info->end = ph.p_paddr + ph.p_memsz;
	}
	if (info->nr_segments == 0)
		return pupa_why(why, why_len, -EINVAL, "no loadable segments");
	if (!have_entry)
		return pupa_why(why, why_len, -EINVAL,
				"no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): build the kernel with "
				"CONFIG_PVH=y or boot its bzImage");
	return 0;
}
