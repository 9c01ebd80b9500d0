/*
 * Guest physical memory: a few RAM regions backed by anonymous host
 * mappings. Every access the VMM makes on the guest's behalf goes through
 * guest_mem__ptr(), which refuses ranges that leave a RAM region.
 */
#ifndef PUPA_VMM_MEMORY_H
#define PUPA_VMM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 8

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;		/* NULL until mapped */
};

struct guest_mem {
	struct mem_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned int nr;
};

/*
 * Add a region to the map (not yet backed). -EEXIST when it overlaps one
 * already there, -ENOSPC when the table is full, -EINVAL on a zero size or
 * an address that wraps.
 */
int guest_mem__add(struct guest_mem *mem, uint64_t gpa, uint64_t size);

/* Is [gpa, gpa+len) free of every RAM region? */
int guest_mem__overlaps(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Back every region with anonymous memory; -errno on failure. */
int guest_mem__map(struct guest_mem *mem);
void guest_mem__unmap(struct guest_mem *mem);

/* Host pointer for [gpa, gpa+len) when it lies inside one region, else NULL. */
void *guest_mem__ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copy into guest memory; -EFAULT when the range is not all RAM. */
int guest_mem__write(const struct guest_mem *mem, uint64_t gpa, const void *src, size_t len);

/* End of the region that starts at or contains gpa (0 if none). */
uint64_t guest_mem__region_end(const struct guest_mem *mem, uint64_t gpa);

/* Total bytes of RAM in the map. */
uint64_t guest_mem__total(const struct guest_mem *mem);

#endif
