#include "memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int guest_mem__overlaps(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < mem->nr; i++)
		if (ranges_overlap(gpa, len, mem->regions[i].gpa, mem->regions[i].size))
			return 1;
	return 0;
}

int guest_mem__add(struct guest_mem *mem, uint64_t gpa, uint64_t size)
{
	if (size == 0 || gpa + size < gpa)
		return -EINVAL;
	if (guest_mem__overlaps(mem, gpa, size))
		return -EEXIST;
	if (mem->nr == GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;
	mem->regions[mem->nr++] = (struct mem_region){ .gpa = gpa, .size = size };
	return 0;
}

#define HUGE_2M	(2ULL << 20)

/*
 * Anonymous memory whose host address has the guest address's offset in a
 * 2 MiB page, so that KVM can map it into the guest with 2 MiB pages once
 * the host backs it with transparent huge pages: one nested page fault per
 * 2 MiB instead of one per 4 KiB. Measured under nested KVM, a boot took
 * 8261 of those faults with 4 KiB mappings.
 */
static void *map_aligned(uint64_t gpa, uint64_t size)
{
	uint64_t slack = HUGE_2M, skip;
	uint8_t *p = mmap(NULL, size + slack, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return MAP_FAILED;
	skip = (gpa - (uintptr_t)p) & (HUGE_2M - 1);
	if (skip)
		munmap(p, skip);
	if (slack - skip)
		munmap(p + skip + size, slack - skip);
	return p + skip;
}

int guest_mem__map(struct guest_mem *mem)
{
	for (unsigned int i = 0; i < mem->nr; i++) {
		struct mem_region *r = &mem->regions[i];
		void *p = map_aligned(r->gpa, r->size);

		if (p == MAP_FAILED) {
			int e = errno;

			guest_mem__unmap(mem);
			return -e;
		}
		/* Guest RAM in a core dump of the VMM is noise, and private data. */
		madvise(p, r->size, MADV_DONTDUMP);
		/* Where THP is "madvise" (Debian's default) it must be asked for. */
		madvise(p, r->size, MADV_HUGEPAGE);
		r->hva = p;
	}
	return 0;
}

void guest_mem__unmap(struct guest_mem *mem)
{
	for (unsigned int i = 0; i < mem->nr; i++) {
		if (mem->regions[i].hva) {
			munmap(mem->regions[i].hva, mem->regions[i].size);
			mem->regions[i].hva = NULL;
		}
	}
}

void *guest_mem__ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < mem->nr; i++) {
		const struct mem_region *r = &mem->regions[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa) || !r->hva)
			return NULL;
		return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int guest_mem__write(const struct guest_mem *mem, uint64_t gpa, const void *src, size_t len)
{
	void *dst = guest_mem__ptr(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

uint64_t guest_mem__region_end(const struct guest_mem *mem, uint64_t gpa)
{
	for (unsigned int i = 0; i < mem->nr; i++) {
		const struct mem_region *r = &mem->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r->gpa + r->size;
	}
	return 0;
}

uint64_t guest_mem__total(const struct guest_mem *mem)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < mem->nr; i++)
		total += mem->regions[i].size;
	return total;
}
