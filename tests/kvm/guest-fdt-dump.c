/*
 * guest-fdt-dump: run inside a test guest, find the boot device tree in
 * /sys/kernel/boot_params/setup_data (the entry of type 2) and print what
 * pupa-vmm put there, one "key=value" line each:
 *   pupa.KEY=VALUE     for every /chosen/pupa property
 *   cpus=N             the number of /cpus/cpu@ nodes
 *   memory=0xA+0xS     each /memory reg range
 * Static, so it runs in a bare busybox initramfs.
 */
#include <dirent.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_DATA_DIR "/sys/kernel/boot_params/setup_data"

static void *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	for (;;) {
		size_t r = fread(buf + n, 1, cap - n, f);

		n += r;
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
		if (!buf)
			break;
	}
	fclose(f);
	*len = n;
	return buf;
}

static void *find_fdt(void)
{
	DIR *d = opendir(SETUP_DATA_DIR);
	struct dirent *de;
	void *fdt = NULL;

	if (!d)
		return NULL;
	while (!fdt && (de = readdir(d))) {
		char path[512];
		size_t len;
		char *type;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), SETUP_DATA_DIR "/%s/type", de->d_name);
		type = read_all(path, &len);
		if (type && strtoul(type, NULL, 0) == 2) {
			snprintf(path, sizeof(path), SETUP_DATA_DIR "/%s/data", de->d_name);
			fdt = read_all(path, &len);
			if (fdt && (len < sizeof(struct fdt_header) || fdt_check_full(fdt, len))) {
				free(fdt);
				fdt = NULL;
			}
		}
		free(type);
	}
	closedir(d);
	return fdt;
}

int main(void)
{
	void *fdt = find_fdt();
	int node, prop, cpus = 0;

	if (!fdt) {
		fprintf(stderr, "fdt-dump: no valid device tree in " SETUP_DATA_DIR "\n");
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
	free(fdt);
	return 0;
}
