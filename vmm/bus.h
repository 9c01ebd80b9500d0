/*
 * Port I/O and MMIO dispatch. Devices register ranges before the vCPUs
 * start, so lookups need no lock; each device guards its own state.
 * Accesses no device claims read as all-ones and are otherwise dropped.
 */
#ifndef PUPA_VMM_BUS_H
#define PUPA_VMM_BUS_H

#include <stdint.h>

#define IO_BUS_MAX_RANGES 32

typedef void (*io_fn)(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write);

struct io_range {
	uint64_t base;
	uint64_t len;
	io_fn fn;
	void *dev;
	const char *name;
};

struct io_bus {
	struct io_range ranges[IO_BUS_MAX_RANGES];
	unsigned int nr;
};

/* -EEXIST if [base, base+len) overlaps a registered range; -ENOSPC if full. */
int io_bus__register(struct io_bus *bus, uint64_t base, uint64_t len, io_fn fn, void *dev,
		     const char *name);

/* The range that overlaps [base, base+len), for error messages. */
const struct io_range *io_bus__find_overlap(const struct io_bus *bus, uint64_t base, uint64_t len);

/* 1 if a device took the access, 0 if unclaimed (reads become all-ones). */
int io_bus__access(const struct io_bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		   int is_write);

#endif
