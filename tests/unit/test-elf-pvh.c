#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86/elf_pvh.h"
#include "kernel_samples.h"
#include "unit.h"

static uint8_t img[8192];
static char why[256];

static void make_valid(void)
{
	sample_elf_pvh(img, sizeof(img));
}

static Elf64_Phdr *phdr(int i) { return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i; }

START_TEST(valid)
{
	struct elf_pvh_info info;

	make_valid();
	ck_assert(elf_pvh__is_elf(img, sizeof(img)));
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), 0);
	ck_assert_uint_eq(info.entry, 0x1000040);
	ck_assert_uint_eq(info.nr_segments, 1);
	ck_assert_uint_eq(info.segments[0].paddr, 0x1000000);
	ck_assert_uint_eq(info.segments[0].memsz, 0x3000);
	ck_assert_uint_eq(info.end, 0x1003000);
}
END_TEST

START_TEST(no_pvh_note)
{
	struct elf_pvh_info info;

	make_valid();
	phdr(1)->p_type = PT_NULL;
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "CONFIG_PVH"));
	/* A note of another owner is not the PVH entry either. */
	make_valid();
	memcpy(img + 0x200 + sizeof(Elf64_Nhdr), "Abc", 4);
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -EINVAL);
}
END_TEST

START_TEST(wrong_class_or_machine)
{
	struct elf_pvh_info info;

	make_valid();
	img[EI_CLASS] = ELFCLASS32;
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -EINVAL);
	make_valid();
	((Elf64_Ehdr *)img)->e_machine = EM_AARCH64;
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -EINVAL);
	memset(img, 0, 16);
	ck_assert(!elf_pvh__is_elf(img, sizeof(img)));
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -ENOEXEC);
}
END_TEST

START_TEST(truncated)
{
	struct elf_pvh_info info;

	make_valid();
	/* The segment's bytes run past the end of the file. */
	ck_assert_int_eq(elf_pvh__parse(img, 0x1800, &info, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "truncated"));
	/* Program headers past the end. */
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(Elf64_Ehdr) + 8, &info, why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(elf_pvh__parse(img, 10, &info, why, sizeof(why)), -ENOEXEC);
}
END_TEST

START_TEST(hostile_sizes)
{
	struct elf_pvh_info info;

	make_valid();
	phdr(0)->p_memsz = 0x10;	/* memsz < filesz */
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -EINVAL);
	make_valid();
	phdr(0)->p_paddr = ~0ULL - 0x100;	/* wraps */
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -EINVAL);
	make_valid();
	phdr(0)->p_offset = ~0ULL;
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -EINVAL);
	make_valid();
	((Elf64_Ehdr *)img)->e_phnum = 0xffff;	/* far more headers than bytes */
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -EINVAL);
	make_valid();
	/* A note whose sizes claim more than the segment holds is ignored, not read past. */
	((Elf64_Nhdr *)(img + 0x200))->n_descsz = 0x7fffffff;
	ck_assert_int_eq(elf_pvh__parse(img, sizeof(img), &info, why, sizeof(why)), -EINVAL);
}
END_TEST

START_TEST(our_vmlinux)
{
	struct elf_pvh_info info;
	long len;
	uint8_t *buf = unit_read_built("images/kernel/vmlinux", &len);

	ck_assert_int_eq(elf_pvh__parse(buf, (size_t)len, &info, why, sizeof(why)), 0);
	ck_assert_uint_ge(info.entry, 0x100000);
	ck_assert_uint_lt(info.entry, info.end);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("elf_pvh");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, valid);
	tcase_add_test(tc, no_pvh_note);
	tcase_add_test(tc, wrong_class_or_machine);
	tcase_add_test(tc, truncated);
	tcase_add_test(tc, hostile_sizes);
	tcase_add_test(tc, our_vmlinux);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
