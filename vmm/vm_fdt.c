#include "vm_fdt.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

int vm_fdt__check_prop_name(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > VM_FDT_PROP_NAME_MAX)
		return -EINVAL;
	for (const char *c = key; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr(",._+?#-", *c))
			continue;
		return -EINVAL;
	}
	return 0;
}

static int add_memory(void *fdt, const struct guest_mem *mem)
{
	fdt64_t reg[2 * GUEST_MEM_MAX_REGIONS];
	int ret;

	for (unsigned int i = 0; i < mem->nr; i++) {
		reg[2 * i] = cpu_to_fdt64(mem->regions[i].gpa);
		reg[2 * i + 1] = cpu_to_fdt64(mem->regions[i].size);
	}
	ret = fdt_begin_node(fdt, "memory@0");
	if (!ret)
		ret = fdt_property_string(fdt, "device_type", "memory");
	if (!ret)
		ret = fdt_property(fdt, "reg", reg, (int)(2 * mem->nr * sizeof(reg[0])));
	if (!ret)
		ret = fdt_end_node(fdt);
	return ret;
}

static int add_cpus(void *fdt, unsigned int ncpus)
{
	char name[32];
	int ret = fdt_begin_node(fdt, "cpus");

	if (!ret)
		ret = fdt_property_cell(fdt, "#address-cells", 1);
	if (!ret)
		ret = fdt_property_cell(fdt, "#size-cells", 0);
	for (unsigned int i = 0; !ret && i < ncpus; i++) {
		snprintf(name, sizeof(name), "cpu@%u", i);
		ret = fdt_begin_node(fdt, name);
		if (!ret)
			ret = fdt_property_string(fdt, "device_type", "cpu");
		if (!ret)
			ret = fdt_property_cell(fdt, "reg", i);
		if (!ret)
			ret = fdt_end_node(fdt);
	}
	if (!ret)
		ret = fdt_end_node(fdt);
	return ret;
}

static int add_chosen(void *fdt, const struct vm_fdt_spec *spec)
{
	int ret = fdt_begin_node(fdt, "chosen");

	if (!ret && spec->cmdline)
		ret = fdt_property_string(fdt, "bootargs", spec->cmdline);
	if (!ret)
		ret = fdt_begin_node(fdt, "pupa");
	for (unsigned int i = 0; !ret && i < spec->nr_props; i++)
		ret = fdt_property_string(fdt, spec->props[i].key, spec->props[i].value);
	if (!ret)
		ret = fdt_end_node(fdt);
	if (!ret)
		ret = fdt_end_node(fdt);
	return ret;
}

static int add_virtio(void *fdt, const struct vm_fdt_device *d)
{
	fdt64_t reg[2] = { cpu_to_fdt64(d->base), cpu_to_fdt64(d->size) };
	char name[40];
	int ret;

	snprintf(name, sizeof(name), "virtio_mmio@%llx", (unsigned long long)d->base);
	ret = fdt_begin_node(fdt, name);
	if (!ret)
		ret = fdt_property_string(fdt, "compatible", "virtio,mmio");
	if (!ret)
		ret = fdt_property(fdt, "reg", reg, sizeof(reg));
	if (!ret)
		ret = fdt_property_cell(fdt, "interrupts", d->irq);
	if (!ret)
		ret = fdt_end_node(fdt);
	return ret;
}

int vm_fdt__build(void *buf, size_t len, const struct vm_fdt_spec *spec)
{
	int ret;

	for (unsigned int i = 0; i < spec->nr_props; i++)
		if (vm_fdt__check_prop_name(spec->props[i].key))
			return -EINVAL;

	ret = fdt_create(buf, (int)len);
	if (!ret)
		ret = fdt_finish_reservemap(buf);
	if (!ret)
		ret = fdt_begin_node(buf, "");
	if (!ret)
		ret = fdt_property_string(buf, "compatible", "pupa,microvm");
	if (!ret)
		ret = fdt_property_string(buf, "model", "pupa-vmm");
	if (!ret)
		ret = fdt_property_cell(buf, "#address-cells", 2);
	if (!ret)
		ret = fdt_property_cell(buf, "#size-cells", 2);
	if (!ret)
		ret = add_memory(buf, spec->mem);
	if (!ret)
		ret = add_cpus(buf, spec->ncpus);
	for (unsigned int i = 0; !ret && i < spec->nr_devices; i++)
		ret = add_virtio(buf, &spec->devices[i]);
	if (!ret)
		ret = add_chosen(buf, spec);
	if (!ret)
		ret = fdt_end_node(buf);
	if (!ret)
		ret = fdt_finish(buf);
	if (ret == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	if (ret)
		return -EINVAL;
	return (int)fdt_totalsize(buf);
}
