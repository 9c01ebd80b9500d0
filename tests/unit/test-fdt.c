#include <check.h>
#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>

#include "vm_fdt.h"
#include "x86/layout.h"
#include "unit.h"

static uint8_t buf[VM_FDT_MAX_SIZE];

START_TEST(contents)
{
	struct guest_mem mem = { 0 };
	struct boot_prop props[] = { { "agent-port", "1024" }, { "hostname", "box" },
				     { "version", "1" } };
	struct vm_fdt_spec spec = { .mem = &mem, .ncpus = 3, .cmdline = "console=ttyS0",
				    .props = props, .nr_props = 3 };
	const fdt64_t *reg;
	const char *s;
	int len, node, n = 0;

	ck_assert_int_eq(x86_layout__ram(&mem, 4ULL << 30), 0);
	len = vm_fdt__build(buf, sizeof(buf), &spec);
	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(fdt_check_full(buf, len), 0);

	node = fdt_path_offset(buf, "/chosen/pupa");
	ck_assert_int_ge(node, 0);
	ck_assert_str_eq(fdt_getprop(buf, node, "agent-port", NULL), "1024");
	ck_assert_str_eq(fdt_getprop(buf, node, "hostname", NULL), "box");
	ck_assert_str_eq(fdt_getprop(buf, node, "version", NULL), "1");
	s = fdt_getprop(buf, fdt_path_offset(buf, "/chosen"), "bootargs", NULL);
	ck_assert_str_eq(s, "console=ttyS0");

	node = fdt_path_offset(buf, "/cpus");
	for (int c = fdt_first_subnode(buf, node); c >= 0; c = fdt_next_subnode(buf, c))
		n++;
	ck_assert_int_eq(n, 3);
	ck_assert_int_ge(fdt_path_offset(buf, "/cpus/cpu@2"), 0);

	reg = fdt_getprop(buf, fdt_path_offset(buf, "/memory@0"), "reg", &len);
	ck_assert_int_eq(len, 4 * 8);
	ck_assert_uint_eq(fdt64_ld(&reg[0]), 0);
	ck_assert_uint_eq(fdt64_ld(&reg[1]), X86_MMIO_HOLE_START);
	ck_assert_uint_eq(fdt64_ld(&reg[2]), X86_MMIO_HOLE_END);
	ck_assert_uint_eq(fdt64_ld(&reg[3]), (4ULL << 30) - X86_MMIO_HOLE_START);
	s = fdt_getprop(buf, 0, "compatible", NULL);
	ck_assert_str_eq(s, "pupa,microvm");
}
END_TEST

START_TEST(no_props_still_has_node)
{
	struct guest_mem mem = { 0 };
	struct vm_fdt_spec spec = { .mem = &mem, .ncpus = 1 };

	ck_assert_int_eq(x86_layout__ram(&mem, 64ULL << 20), 0);
	ck_assert_int_gt(vm_fdt__build(buf, sizeof(buf), &spec), 0);
	ck_assert_int_ge(fdt_path_offset(buf, "/chosen/pupa"), 0);
}
END_TEST

START_TEST(bad_names_and_small_buffer)
{
	struct guest_mem mem = { 0 };
	struct boot_prop bad[] = { { "no spaces", "x" } };
	struct vm_fdt_spec spec = { .mem = &mem, .ncpus = 1, .props = bad, .nr_props = 1 };

	ck_assert_int_eq(x86_layout__ram(&mem, 64ULL << 20), 0);
	ck_assert_int_eq(vm_fdt__build(buf, sizeof(buf), &spec), -EINVAL);
	spec.nr_props = 0;
	ck_assert_int_eq(vm_fdt__build(buf, 64, &spec), -ENOSPC);
	ck_assert_int_eq(vm_fdt__check_prop_name("agent-port"), 0);
	ck_assert_int_eq(vm_fdt__check_prop_name("a,b.c_d+e?f#g"), 0);
	ck_assert_int_eq(vm_fdt__check_prop_name(""), -EINVAL);
	ck_assert_int_eq(vm_fdt__check_prop_name("x/y"), -EINVAL);
	ck_assert_int_eq(vm_fdt__check_prop_name("0123456789012345678901234567890"), 0);
	ck_assert_int_eq(vm_fdt__check_prop_name("01234567890123456789012345678901"), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdt");
	TCase *tc = tcase_create("build");

	tcase_add_test(tc, contents);
	tcase_add_test(tc, no_props_still_has_node);
	tcase_add_test(tc, bad_names_and_small_buffer);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
