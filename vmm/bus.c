#include "bus.h"

#include <errno.h>
#include <string.h>

const struct io_range *io_bus__find_overlap(const struct io_bus *bus, uint64_t base, uint64_t len)
{
	for (unsigned int i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->ranges[i];

		if (base < r->base + r->len && r->base < base + len)
			return r;
	}
	return NULL;
}

int io_bus__register(struct io_bus *bus, uint64_t base, uint64_t len, io_fn fn, void *dev,
		     const char *name)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	if (io_bus__find_overlap(bus, base, len))
		return -EEXIST;
	if (bus->nr == IO_BUS_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[bus->nr++] = (struct io_range){ base, len, fn, dev, name };
	return 0;
}

int io_bus__access(const struct io_bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		   int is_write)
{
	for (unsigned int i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->ranges[i];

		if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base)) {
			r->fn(r->dev, addr - r->base, data, len, is_write);
			return 1;
		}
	}
	if (!is_write)
		memset(data, 0xff, len);
	return 0;
}
