/*
 * The boot device tree: memory, vCPUs, devices and the /chosen/pupa
 * properties the guest agent reads. On x86 it travels as setup_data
 * SETUP_DTB; the guest kernel itself needs no CONFIG_OF.
 */
#ifndef PUPA_VMM_VM_FDT_H
#define PUPA_VMM_VM_FDT_H

#include <stddef.h>
#include <stdint.h>

#include "memory.h"

#define VM_FDT_MAX_SIZE		(64 * 1024)
#define VM_FDT_PROP_NAME_MAX	31	/* the devicetree spec's limit */

struct boot_prop {
	const char *key;
	const char *value;
};

struct vm_fdt_device {
	uint64_t base;
	uint64_t size;
	uint32_t irq;
};

struct vm_fdt_spec {
	const struct guest_mem *mem;
	unsigned int ncpus;
	const char *cmdline;
	const struct boot_prop *props;
	unsigned int nr_props;
	const struct vm_fdt_device *devices;	/* virtio-mmio windows */
	unsigned int nr_devices;
};

/* Is key a valid property name? 0, or -EINVAL. */
int vm_fdt__check_prop_name(const char *key);

/* Build the tree into buf (up to len bytes); its size, or -errno. */
int vm_fdt__build(void *buf, size_t len, const struct vm_fdt_spec *spec);

#endif
