/* The host's values for the agent, from the device tree pupa-vmm passes. */
#include <dirent.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define SETUP_DATA_DIR "/sys/kernel/boot_params/setup_data"
#define FDT_MAX (64 * 1024)

static long read_file(const char *path, void *buf, size_t size)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, size, f);
	fclose(f);
	return (long)n;
}

static const char *prop(const void *fdt, int node, const char *name)
{
	int len;
	const char *v = fdt_getprop(fdt, node, name, &len);

	/* A string property ends with its NUL within its length. */
	if (!v || len <= 0 || v[len - 1] != '\0')
		return NULL;
	return v;
}

const void *bootfdt_load(char *err, size_t len)
{
	static char fdt[FDT_MAX];
	DIR *d = opendir(SETUP_DATA_DIR);
	struct dirent *de;
	int found = 0;

	if (!d) {
		snprintf(err, len, "no %s: was the kernel booted as a bzImage by pupa-vmm?", SETUP_DATA_DIR);
		return NULL;
	}
	while (!found && (de = readdir(d))) {
		char path[300], type[32] = { 0 };
		long n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), SETUP_DATA_DIR "/%s/type", de->d_name);
		if (read_file(path, type, sizeof(type) - 1) <= 0 || strtoul(type, NULL, 0) != 2)
			continue;
		snprintf(path, sizeof(path), SETUP_DATA_DIR "/%s/data", de->d_name);
		n = read_file(path, fdt, sizeof(fdt));
		found = n >= (long)sizeof(struct fdt_header) && fdt_check_full(fdt, (size_t)n) == 0;
	}
	closedir(d);
	if (!found) {
		snprintf(err, len, "no valid device tree (setup_data type 2) from the VMM");
		return NULL;
	}
	return fdt;
}

int bootfdt_parse(const void *fdt, size_t size, struct boot_props *p, char *err, size_t len)
{
	int node;
	const char *v;

	memset(p, 0, sizeof(*p));
	/* Version 17 is what pupa-vmm writes; older headers also take
	 * libfdt 1.6.1's fdt_check_full() down paths that crash (fuzzed). */
	if (size < sizeof(struct fdt_header) || fdt_magic(fdt) != FDT_MAGIC ||
	    fdt_version(fdt) < 17 || fdt_check_full(fdt, size) != 0) {
		snprintf(err, len, "the boot device tree is not a valid one");
		return -1;
	}
	node = fdt_path_offset(fdt, "/chosen/pupa");
	if (node < 0) {
		snprintf(err, len, "the boot device tree has no /chosen/pupa node");
		return -1;
	}
	v = prop(fdt, node, "agent-port");
	if (!v || (p->agent_port = (unsigned int)strtoul(v, NULL, 10)) == 0) {
		snprintf(err, len, "/chosen/pupa has no valid agent-port");
		return -1;
	}
	v = prop(fdt, node, "version");
	p->version = v ? (unsigned int)strtoul(v, NULL, 10) : 0;
	v = prop(fdt, node, "hostname");
	snprintf(p->hostname, sizeof(p->hostname), "%s", v ? v : "pupa");
	return 0;
}

int bootfdt_read(struct boot_props *p, char *err, size_t len)
{
	const void *fdt = bootfdt_load(err, len);

	if (!fdt) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	return bootfdt_parse(fdt, fdt_totalsize(fdt), p, err, len);
}
