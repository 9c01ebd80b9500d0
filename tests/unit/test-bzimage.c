#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "x86/boot.h"
#include "x86/bzimage.h"
#include "x86/layout.h"
#include "kernel_samples.h"
#include "unit.h"

#define IMG_SIZE (64 * 1024)

static uint8_t img[IMG_SIZE];
static char why[256];

static void put16(size_t off, uint16_t v) { sample_put16(img, off, v); }
static void put32(size_t off, uint32_t v) { sample_put32(img, off, v); }

static void make_valid(void)
{
	sample_bzimage(img, sizeof(img));
}

START_TEST(valid_header)
{
	struct bzimage_info bi;

	make_valid();
	ck_assert_int_eq(bzimage__parse(img, sizeof(img), &bi, why, sizeof(why)), 0);
	ck_assert_uint_eq(bi.version, 0x20f);
	ck_assert_uint_eq(bi.setup_size, 5 * 512);
	ck_assert_uint_eq(bi.payload_offset, 5 * 512);
	ck_assert_uint_eq(bi.payload_size, IMG_SIZE - 5 * 512);
	ck_assert_uint_eq(bi.load_addr, 0x1000000);
	ck_assert_uint_eq(bi.entry64, 0x1000200);
	ck_assert_uint_eq(bi.init_size, 0x800000);
	ck_assert_uint_eq(bi.cmdline_size, 2047);
	ck_assert_uint_eq(bi.header_end, 0x26c);
}
END_TEST

START_TEST(zero_setup_sects_means_four)
{
	struct bzimage_info bi;

	make_valid();
	img[BZ_SETUP_SECTS] = 0;
	ck_assert_int_eq(bzimage__parse(img, sizeof(img), &bi, why, sizeof(why)), 0);
	ck_assert_uint_eq(bi.setup_size, 5 * 512);
}
END_TEST

START_TEST(unaligned_preference_is_aligned)
{
	struct bzimage_info bi;

	make_valid();
	put32(BZ_PREF_ADDRESS, 0x1000001);
	ck_assert_int_eq(bzimage__parse(img, sizeof(img), &bi, why, sizeof(why)), 0);
	ck_assert_uint_eq(bi.load_addr, 0x1200000);
}
END_TEST

START_TEST(wrong_magic)
{
	struct bzimage_info bi;

	make_valid();
	memcpy(img + BZ_HEADER_MAGIC, "HdrX", 4);
	ck_assert_int_eq(bzimage__parse(img, sizeof(img), &bi, why, sizeof(why)), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(why, "HdrS"));
	make_valid();
	put16(BZ_BOOT_FLAG, 0x1234);
	ck_assert_int_eq(bzimage__parse(img, sizeof(img), &bi, why, sizeof(why)), -ENOEXEC);
}
END_TEST

START_TEST(old_protocol)
{
	struct bzimage_info bi;

	make_valid();
	put16(BZ_VERSION, 0x205);
	ck_assert_int_eq(bzimage__parse(img, sizeof(img), &bi, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "2.05"));
}
END_TEST

START_TEST(not_64bit)
{
	struct bzimage_info bi;

	make_valid();
	put16(BZ_XLOADFLAGS, 0);
	ck_assert_int_eq(bzimage__parse(img, sizeof(img), &bi, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "64-bit"));
	make_valid();
	put16(BZ_VERSION, 0x20b);	/* before xloadflags existed */
	ck_assert_int_eq(bzimage__parse(img, sizeof(img), &bi, why, sizeof(why)), -EINVAL);
	make_valid();
	img[BZ_LOADFLAGS] = 0;	/* zImage */
	ck_assert_int_eq(bzimage__parse(img, sizeof(img), &bi, why, sizeof(why)), -EINVAL);
}
END_TEST

START_TEST(truncated)
{
	struct bzimage_info bi;

	make_valid();
	ck_assert_int_eq(bzimage__parse(img, 0x200, &bi, why, sizeof(why)), -ENOEXEC);
	ck_assert_int_eq(bzimage__parse(img, 0, &bi, why, sizeof(why)), -ENOEXEC);
	/* Header present but no kernel after the setup code. */
	ck_assert_int_eq(bzimage__parse(img, 5 * 512, &bi, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "truncated"));
}
END_TEST

static void write_img(const char *path, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(img, 1, len, f), len);
	fclose(f);
}

static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Loading into real (host) memory: zero page, e820, cmdline, setup_data. */
START_TEST(load_into_guest_memory)
{
	struct guest_mem mem = { 0 };
	struct pupa_err err = { 0 };
	struct x86_boot boot;
	char kpath[] = "/tmp/pupa-test-bz.XXXXXX";
	static const char fdt[] = "not really a tree";
	struct x86_boot_spec spec = { .kernel = kpath, .cmdline = "console=ttyS0 quiet",
				      .fdt = fdt, .fdt_len = sizeof(fdt) };
	uint8_t *zp, *sd;
	uint64_t next;

	close(mkstemp(kpath));
	make_valid();
	write_img(kpath, sizeof(img));
	ck_assert_int_eq(x86_layout__ram(&mem, 64ULL << 20), 0);
	ck_assert_int_eq(guest_mem__map(&mem), 0);
	ck_assert_int_eq(x86_boot__load(&mem, &spec, &boot, &err), 0);
	ck_assert_int_eq(boot.mode, X86_BOOT_BZIMAGE);
	ck_assert_uint_eq(boot.entry, 0x1000200);
	ck_assert_uint_eq(boot.boot_info, X86_ZERO_PAGE_ADDR);

	zp = guest_mem__ptr(&mem, X86_ZERO_PAGE_ADDR, 4096);
	ck_assert_uint_eq(zp[BZ_TYPE_OF_LOADER], 0xff);
	ck_assert_uint_eq(get32(zp + BZ_CMD_LINE_PTR), X86_CMDLINE_ADDR);
	ck_assert_str_eq((char *)guest_mem__ptr(&mem, X86_CMDLINE_ADDR, 1), "console=ttyS0 quiet");
	ck_assert_uint_eq(zp[0x1e8], 4);	/* e820: base, MP table, BIOS area, high */
	ck_assert_uint_eq(get64(zp + 0x2d0 + 8), X86_MPTABLE_ADDR);	/* first entry's size */
	/* The payload landed at the load address. */
	ck_assert_int_eq(memcmp(guest_mem__ptr(&mem, 0x1000000, 512), img + 5 * 512, 512), 0);

	/* setup_data: the device tree first, then the RNG seed. */
	sd = guest_mem__ptr(&mem, get64(zp + BZ_SETUP_DATA), 16);
	ck_assert_uint_eq(get32(sd + 8), SETUP_DTB);
	ck_assert_uint_eq(get32(sd + 12), sizeof(fdt));
	ck_assert_str_eq((char *)sd + 16, fdt);
	next = get64(sd);
	sd = guest_mem__ptr(&mem, next, 16 + RNG_SEED_BYTES);
	ck_assert_ptr_nonnull(sd);
	ck_assert_uint_eq(get32(sd + 8), SETUP_RNG_SEED);
	ck_assert_uint_eq(get32(sd + 12), RNG_SEED_BYTES);
	ck_assert_uint_eq(get64(sd), 0);

	guest_mem__unmap(&mem);
	unlink(kpath);
}
END_TEST

START_TEST(oversized_kernel_and_initrd)
{
	struct guest_mem mem = { 0 };
	struct pupa_err err = { 0 };
	struct x86_boot boot;
	char kpath[] = "/tmp/pupa-test-bz.XXXXXX", ipath[] = "/tmp/pupa-test-rd.XXXXXX";
	struct x86_boot_spec spec = { .kernel = kpath, .cmdline = "" };
	int fd;

	close(mkstemp(kpath));
	make_valid();
	put32(BZ_INIT_SIZE, 64 << 20);	/* needs 16 + 64 MiB, guest has 32 */
	write_img(kpath, sizeof(img));
	ck_assert_int_eq(x86_layout__ram(&mem, 32ULL << 20), 0);
	ck_assert_int_eq(guest_mem__map(&mem), 0);
	ck_assert_int_eq(x86_boot__load(&mem, &spec, &boot, &err), -GUEST_ERR_KERNEL_LOAD);
	ck_assert_ptr_nonnull(strstr(err.msg, "raise --memory"));

	/* A kernel that fits, with a 40 MiB initrd that does not. */
	make_valid();
	put32(BZ_PREF_ADDRESS, 0x100000);
	put32(BZ_INIT_SIZE, 1 << 20);
	write_img(kpath, sizeof(img));
	fd = mkstemp(ipath);
	ck_assert_int_eq(ftruncate(fd, 40 << 20), 0);
	close(fd);
	spec.initrd = ipath;
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(x86_boot__load(&mem, &spec, &boot, &err), -GUEST_ERR_KERNEL_LOAD);
	ck_assert_ptr_nonnull(strstr(err.msg, "initrd"));

	/* A command line longer than the kernel accepts. */
	{
		char *longline = malloc(4000);

		memset(longline, 'a', 3999);
		longline[3999] = '\0';
		spec.initrd = NULL;
		spec.cmdline = longline;
		memset(&err, 0, sizeof(err));
		ck_assert_int_eq(x86_boot__load(&mem, &spec, &boot, &err), -GUEST_ERR_KERNEL_LOAD);
		ck_assert_ptr_nonnull(strstr(err.msg, "command line"));
		free(longline);
	}
	guest_mem__unmap(&mem);
	unlink(kpath);
	unlink(ipath);
}
END_TEST

/* The kernel the build made, when it is there (make check builds it first). */
START_TEST(our_kernel)
{
	struct bzimage_info bi;
	long len;
	uint8_t *buf = unit_read_built("images/kernel/bzImage", &len);

	ck_assert_int_eq(bzimage__parse(buf, (size_t)len, &bi, why, sizeof(why)), 0);
	ck_assert_uint_ge(bi.version, 0x20c);
	ck_assert_uint_ge(bi.load_addr, 0x100000);
	ck_assert_uint_ge(bi.init_size, bi.payload_size);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bzimage");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, valid_header);
	tcase_add_test(tc, zero_setup_sects_means_four);
	tcase_add_test(tc, unaligned_preference_is_aligned);
	tcase_add_test(tc, wrong_magic);
	tcase_add_test(tc, old_protocol);
	tcase_add_test(tc, not_64bit);
	tcase_add_test(tc, truncated);
	tcase_add_test(tc, load_into_guest_memory);
	tcase_add_test(tc, oversized_kernel_and_initrd);
	tcase_add_test(tc, our_kernel);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
