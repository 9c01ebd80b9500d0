/*
 * guest-fdt-dump: run inside a test guest, load the boot device tree the
 * way pupa-init does (bootfdt_load) and print what pupa-vmm put there, one
 * "key=value" line each:
 *   pupa.KEY=VALUE     for every /chosen/pupa property
 *   cpus=N             the number of /cpus/cpu@ nodes
 *   memory=0xA+0xS     each /memory reg range
 * Static, so it runs in a bare busybox initramfs.
 */
#include <libfdt.h>
#include <stdio.h>

#include "../../images/agent/agent.h"

int main(void)
{
	char err[256];
	const void *fdt = bootfdt_load(err, sizeof(err));
	int node, prop, cpus = 0;

	if (!fdt) {
		fprintf(stderr, "fdt-dump: %s\n", err);
		return 1;
	}
	node = fdt_path_offset(fdt, "/chosen/pupa");
	fdt_for_each_property_offset(prop, fdt, node) {
		const char *name;
		int len;
		const char *val = fdt_getprop_by_offset(fdt, prop, &name, &len);

		printf("pupa.%s=%.*s\n", name, len > 0 ? len - 1 : 0, val);
	}
	node = fdt_path_offset(fdt, "/cpus");
	for (int c = fdt_first_subnode(fdt, node); c >= 0; c = fdt_next_subnode(fdt, c))
		cpus++;
	printf("cpus=%d\n", cpus);
	node = fdt_path_offset(fdt, "/memory@0");
	if (node >= 0) {
		int len;
		const fdt64_t *reg = fdt_getprop(fdt, node, "reg", &len);

		for (int i = 0; reg && i + 1 < len / 8; i += 2)
			printf("memory=0x%llx+0x%llx\n", (unsigned long long)fdt64_ld(&reg[i]),
			       (unsigned long long)fdt64_ld(&reg[i + 1]));
	}
	return 0;
}
