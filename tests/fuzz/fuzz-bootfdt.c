/* SPDX-License-Identifier: MIT */
/* pupa-init's reader of the boot device tree (/chosen/pupa). */
#include <string.h>

#include "agent.h"
#include "fuzz.h"
#include "memory.h"
#include "vm_fdt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libfdt wants the tree aligned as the kernel hands it over. */
	static uint64_t buf[65536 / 8];
	struct boot_props p;
	char err[256];

	if (size > sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	bootfdt_parse(buf, size, &p, err, sizeof(err));
	return 0;
}

void fuzz_seeds(void)
{
	static const struct boot_prop props[] = {
		{ "agent-port", "1024" }, { "hostname", "box" }, { "version", "1" },
	};
	static const struct vm_fdt_device dev[] = { { 0xd0000000, 0x200, 5 } };
	static char buf[16384];
	struct guest_mem mem = { 0 };
	struct vm_fdt_spec spec = {
		.mem = &mem, .ncpus = 2, .cmdline = "console=ttyS0",
		.props = props, .nr_props = 3, .devices = dev, .nr_devices = 1,
	};
	int n;

	guest_mem__add(&mem, 0, 256 << 20);
	n = vm_fdt__build(buf, sizeof(buf), &spec);
	if (n > 0)
		fuzz_seed("pupa-vmm", buf, (size_t)n);
	spec.nr_props = 1;
	n = vm_fdt__build(buf, sizeof(buf), &spec);
	if (n > 0)
		fuzz_seed("port-only", buf, (size_t)n);
}
