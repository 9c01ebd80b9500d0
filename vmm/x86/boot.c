#include "boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bzimage.h"
#include "elf_pvh.h"
#include "gdt.h"
#include "layout.h"

#define MIB(x) ((unsigned long long)(x) >> 20)

/* Mapped for parsing the headers; the bulk is read with pread() (below). */
struct mapped_file {
	const uint8_t *data;
	size_t len;
	int fd;
};

static int map_file(const char *path, struct mapped_file *f, const char *what,
		    struct pupa_err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	if (fd < 0)
		return guest_err(err, GUEST_ERR_KERNEL_LOAD, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return guest_err(err, GUEST_ERR_KERNEL_LOAD, "%s %s: not a regular file", what, path);
	}
	if (st.st_size == 0) {
		close(fd);
		return guest_err(err, GUEST_ERR_KERNEL_LOAD, "%s %s: file is empty", what, path);
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return guest_err(err, GUEST_ERR_KERNEL_LOAD, "%s %s: %s", what, path, strerror(errno));
	}
	f->data = p;
	f->len = st.st_size;
	f->fd = fd;
	return 0;
}

static void unmap_file(struct mapped_file *f)
{
	if (f->data) {
		munmap((void *)f->data, f->len);
		close(f->fd);
	}
	f->data = NULL;
}

/*
 * Copy len bytes at offset off of the file to guest address gpa. pread()
 * straight into guest RAM instead of memcpy() from the mapping: one copy
 * from the page cache and no page faults on the file, which under nested
 * virtualization made loading a 10 MiB vmlinux take 70 to 200 ms.
 */
static int copy_in(struct guest_mem *mem, uint64_t gpa, const struct mapped_file *f,
		   uint64_t off, uint64_t len)
{
	uint8_t *dst = guest_mem__ptr(mem, gpa, len);

	if (!dst || off > f->len || len > f->len - off)
		return -EINVAL;
	while (len > 0) {
		ssize_t n = pread(f->fd, dst, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;	/* the file shrank under us */
		dst += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static uint64_t low_ram_end(const struct guest_mem *mem)
{
	return guest_mem__region_end(mem, 0);
}

static int load_bzimage(struct guest_mem *mem, const struct mapped_file *k, const char *path,
			struct bzimage_info *bz, struct x86_boot *boot, struct pupa_err *err)
{
	char why[256];
	uint64_t end;

	if (bzimage__parse(k->data, k->len, bz, why, sizeof(why)) < 0)
		return guest_err(err, GUEST_ERR_KERNEL_LOAD, "kernel %s: %s", path, why);
	end = bz->load_addr + bz->init_size;
	if (end > low_ram_end(mem))
		return guest_err(err, GUEST_ERR_KERNEL_LOAD,
				 "kernel %s needs memory up to %llu MiB but the guest has %llu MiB "
				 "below the MMIO hole; raise --memory",
				 path, MIB(end), MIB(low_ram_end(mem)));
	if (copy_in(mem, bz->load_addr, k, bz->payload_offset, bz->payload_size) < 0)
		return guest_err(err, GUEST_ERR_KERNEL_LOAD, "kernel %s: cannot read it into guest RAM",
				 path);
	boot->mode = X86_BOOT_BZIMAGE;
	boot->entry = bz->entry64;
	boot->kernel_end = end;
	return 0;
}

static int load_pvh(struct guest_mem *mem, const struct mapped_file *k, const char *path,
		    struct x86_boot *boot, struct pupa_err *err)
{
	struct elf_pvh_info elf;
	char why[256];

	if (elf_pvh__parse(k->data, k->len, &elf, why, sizeof(why)) < 0)
		return guest_err(err, GUEST_ERR_KERNEL_LOAD, "kernel %s: %s", path, why);
	for (unsigned int i = 0; i < elf.nr_segments; i++) {
		const struct elf_segment *s = &elf.segments[i];
		uint8_t *dst = guest_mem__ptr(mem, s->paddr, s->memsz);

		if (!dst || s->paddr < X86_HIMEM_START)
			return guest_err(err, GUEST_ERR_KERNEL_LOAD,
					 "kernel %s: segment at %#llx (%llu KiB) lies outside guest RAM; "
					 "raise --memory", path, (unsigned long long)s->paddr,
					 (unsigned long long)s->memsz >> 10);
		/* The rest up to memsz (.bss) is zero already: guest RAM is
		 * fresh anonymous memory, and writing it would only fault it in. */
		if (copy_in(mem, s->paddr, k, s->offset, s->filesz) < 0)
			return guest_err(err, GUEST_ERR_KERNEL_LOAD,
					 "kernel %s: cannot read it into guest RAM", path);
	}
	boot->mode = X86_BOOT_PVH;
	boot->entry = elf.entry;
	boot->kernel_end = elf.end;
	return 0;
}

/* The initrd goes as high in low RAM as the kernel allows, page aligned. */
static int load_initrd(struct guest_mem *mem, const char *path, uint64_t addr_max,
		       struct x86_boot *boot, struct pupa_err *err)
{
	struct mapped_file f = { 0 };
	uint64_t top = low_ram_end(mem), addr;
	int ret = map_file(path, &f, "initrd", err);

	if (ret < 0)
		return ret;
	if (addr_max && top > addr_max + 1)
		top = addr_max + 1;
	addr = (top - f.len) & ~0xfffULL;
	if (f.len > top || addr < boot->kernel_end) {
		ret = guest_err(err, GUEST_ERR_KERNEL_LOAD,
				"initrd %s (%llu MiB) does not fit in guest memory above the kernel; "
				"raise --memory", path, MIB(f.len));
		goto out;
	}
	if (copy_in(mem, addr, &f, 0, f.len) < 0) {
		ret = guest_err(err, GUEST_ERR_KERNEL_LOAD, "initrd %s: cannot read it into guest RAM",
				path);
		goto out;
	}
	boot->initrd_addr = addr;
	boot->initrd_size = f.len;
out:
	unmap_file(&f);
	return ret;
}

/* Identity map the first 4 GiB with 2 MiB pages: enough for any boot. */
static void write_page_tables(struct guest_mem *mem)
{
	uint64_t *pml4 = guest_mem__ptr(mem, X86_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_mem__ptr(mem, X86_PDPT_ADDR, 4096);
	uint64_t *pd = guest_mem__ptr(mem, X86_PD_ADDR, 4 * 4096);

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = X86_PDPT_ADDR | 0x3;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (X86_PD_ADDR + i * 4096) | 0x3;
	for (int i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;	/* present, writable, 2 MiB */
}

struct setup_data_hdr {
	uint64_t next;
	uint32_t type;
	uint32_t len;
} __attribute__((packed));

/* Chain the device tree and an RNG seed; returns the first entry's address. */
static int write_setup_data(struct guest_mem *mem, const struct x86_boot_spec *spec,
			    uint64_t *head, struct pupa_err *err)
{
	uint64_t fdt_at = X86_SETUP_DATA_ADDR;
	uint64_t rng_at = (fdt_at + sizeof(struct setup_data_hdr) + spec->fdt_len + 7) & ~7ULL;
	uint64_t end = rng_at + sizeof(struct setup_data_hdr) + RNG_SEED_BYTES;
	struct setup_data_hdr h;
	uint8_t seed[RNG_SEED_BYTES];

	if (end > X86_SETUP_DATA_ADDR + X86_SETUP_DATA_MAX)
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
				 "device tree of %zu bytes is too large for the boot area",
				 spec->fdt_len);
	if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
				 "no random bytes for the guest's RNG seed: %s", strerror(errno));

	h = (struct setup_data_hdr){ .next = rng_at, .type = SETUP_DTB, .len = spec->fdt_len };
	guest_mem__write(mem, fdt_at, &h, sizeof(h));
	guest_mem__write(mem, fdt_at + sizeof(h), spec->fdt, spec->fdt_len);
	h = (struct setup_data_hdr){ .next = 0, .type = SETUP_RNG_SEED, .len = RNG_SEED_BYTES };
	guest_mem__write(mem, rng_at, &h, sizeof(h));
	guest_mem__write(mem, rng_at + sizeof(h), seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	*head = spec->fdt ? fdt_at : rng_at;
	return 0;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static int write_zero_page(struct guest_mem *mem, const struct mapped_file *k,
			   const struct bzimage_info *bz, const struct x86_boot_spec *spec,
			   struct x86_boot *boot, struct pupa_err *err)
{
	uint8_t *zp = guest_mem__ptr(mem, X86_ZERO_PAGE_ADDR, 4096);
	struct e820_entry e820[E820_MAX_ENTRIES];
	unsigned int n = x86_layout__e820(mem, e820, E820_MAX_ENTRIES);
	uint64_t setup_data = 0;
	int ret;

	memset(zp, 0, 4096);
	/* The setup header is copied as the kernel wrote it, then filled in. */
	memcpy(zp + BZ_SETUP_SECTS, k->data + BZ_SETUP_SECTS, bz->header_end - BZ_SETUP_SECTS);
	zp[BZ_TYPE_OF_LOADER] = 0xff;
	zp[BZ_LOADFLAGS] |= BZ_CAN_USE_HEAP;
	zp[BZ_HEAP_END_PTR] = 0x00;
	zp[BZ_HEAP_END_PTR + 1] = 0xfe;
	put32(zp + BZ_CMD_LINE_PTR, X86_CMDLINE_ADDR);
	put32(zp + BZ_RAMDISK_IMAGE, (uint32_t)boot->initrd_addr);
	put32(zp + BZ_RAMDISK_SIZE, (uint32_t)boot->initrd_size);
	zp[0x1fa] = 0xff;	/* vid_mode: normal */
	zp[0x1fb] = 0xff;
	zp[0x1e8] = (uint8_t)n;	/* e820_entries */
	memcpy(zp + 0x2d0, e820, n * sizeof(e820[0]));

	ret = write_setup_data(mem, spec, &setup_data, err);
	if (ret < 0)
		return ret;
	put64(zp + BZ_SETUP_DATA, setup_data);
	boot->boot_info = X86_ZERO_PAGE_ADDR;
	return 0;
}

/* struct hvm_start_info, version 1, followed by its module list and map. */
#define HVM_START_MAGIC 0x336ec578

static int write_pvh_start_info(struct guest_mem *mem, struct x86_boot *boot)
{
	uint8_t *si = guest_mem__ptr(mem, X86_PVH_INFO_ADDR, 4096);
	uint64_t mod_at = X86_PVH_INFO_ADDR + 64, map_at = X86_PVH_INFO_ADDR + 128;
	struct e820_entry e820[E820_MAX_ENTRIES];
	unsigned int n = x86_layout__e820(mem, e820, (4096 - 128) / 24);

	memset(si, 0, 4096);
	put32(si + 0, HVM_START_MAGIC);
	put32(si + 4, 1);				/* version */
	if (boot->initrd_size) {
		put32(si + 12, 1);			/* nr_modules */
		put64(si + 16, mod_at);
		put64(si + 64, boot->initrd_addr);	/* hvm_modlist_entry */
		put64(si + 72, boot->initrd_size);
	}
	put64(si + 24, X86_CMDLINE_ADDR);
	put64(si + 40, map_at);
	put32(si + 48, n);
	for (unsigned int i = 0; i < n; i++) {		/* hvm_memmap_table_entry */
		uint8_t *e = si + 128 + i * 24;

		put64(e, e820[i].addr);
		put64(e + 8, e820[i].size);
		put32(e + 16, e820[i].type);
	}
	boot->boot_info = X86_PVH_INFO_ADDR;
	return 0;
}

int x86_boot__load(struct guest_mem *mem, const struct x86_boot_spec *spec,
		   struct x86_boot *boot, struct pupa_err *err)
{
	struct mapped_file k = { 0 };
	struct bzimage_info bz = { 0 };
	uint64_t gdt[GDT_ENTRIES];
	size_t cmdlen = strlen(spec->cmdline) + 1;
	size_t cmdmax = X86_CMDLINE_MAX;
	int ret;

	memset(boot, 0, sizeof(*boot));
	ret = map_file(spec->kernel, &k, "kernel", err);
	if (ret < 0)
		return ret;

	if (elf_pvh__is_elf(k.data, k.len))
		ret = load_pvh(mem, &k, spec->kernel, boot, err);
	else
		ret = load_bzimage(mem, &k, spec->kernel, &bz, boot, err);
	if (ret < 0)
		goto out;

	if (boot->mode == X86_BOOT_BZIMAGE && bz.cmdline_size && bz.cmdline_size + 1 < cmdmax)
		cmdmax = bz.cmdline_size + 1;
	if (cmdlen > cmdmax) {
		ret = guest_err(err, GUEST_ERR_KERNEL_LOAD,
				"kernel command line is %zu bytes; kernel %s accepts at most %zu",
				cmdlen - 1, spec->kernel, cmdmax - 1);
		goto out;
	}
	guest_mem__write(mem, X86_CMDLINE_ADDR, spec->cmdline, cmdlen);

	if (spec->initrd) {
		ret = load_initrd(mem, spec->initrd,
				  boot->mode == X86_BOOT_BZIMAGE ? bz.initrd_addr_max : 0, boot, err);
		if (ret < 0)
			goto out;
	}

	if (boot->mode == X86_BOOT_BZIMAGE)
		ret = write_zero_page(mem, &k, &bz, spec, boot, err);
	else
		ret = write_pvh_start_info(mem, boot);
	if (ret < 0)
		goto out;

	write_page_tables(mem);
	gdt_build(gdt, boot->mode == X86_BOOT_BZIMAGE);
	guest_mem__write(mem, X86_GDT_ADDR, gdt, sizeof(gdt));
out:
	unmap_file(&k);
	return ret;
}
