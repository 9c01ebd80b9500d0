#include "layout.h"

#include <errno.h>

int x86_layout__ram(struct guest_mem *mem, uint64_t ram_bytes)
{
	uint64_t low = ram_bytes < X86_MMIO_HOLE_START ? ram_bytes : X86_MMIO_HOLE_START;
	int ret;

	if (ram_bytes < X86_MIN_MEMORY)
		return -EINVAL;
	ret = guest_mem__add(mem, 0, low);
	if (ret == 0 && ram_bytes > low)
		ret = guest_mem__add(mem, X86_MMIO_HOLE_END, ram_bytes - low);
	return ret;
}

static unsigned int e820_push(struct e820_entry *out, unsigned int n, unsigned int max,
			      uint64_t addr, uint64_t size, uint32_t type)
{
	if (n < max && size > 0)
		out[n++] = (struct e820_entry){ .addr = addr, .size = size, .type = type };
	return n;
}

unsigned int x86_layout__e820(const struct guest_mem *mem, struct e820_entry *out,
			      unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < mem->nr; i++) {
		const struct mem_region *r = &mem->regions[i];

		if (r->gpa == 0 && r->size > X86_HIMEM_START) {
			/* Base memory ends where the MP table begins. */
			n = e820_push(out, n, max, 0, X86_MPTABLE_ADDR, E820_RAM);
			n = e820_push(out, n, max, X86_MPTABLE_ADDR,
				      X86_EBDA_END - X86_MPTABLE_ADDR, E820_RESERVED);
			n = e820_push(out, n, max, 0xf0000, 0x10000, E820_RESERVED);
			n = e820_push(out, n, max, X86_HIMEM_START,
				      r->size - X86_HIMEM_START, E820_RAM);
		} else {
			n = e820_push(out, n, max, r->gpa, r->size, E820_RAM);
		}
	}
	return n;
}
