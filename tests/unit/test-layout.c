#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "x86/layout.h"
#include "x86/mptable.h"
#include "unit.h"

START_TEST(ram_below_the_hole)
{
	struct guest_mem mem = { 0 };
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n;

	ck_assert_int_eq(x86_layout__ram(&mem, 256ULL << 20), 0);
	ck_assert_uint_eq(mem.nr, 1);
	ck_assert_uint_eq(mem.regions[0].gpa, 0);
	ck_assert_uint_eq(mem.regions[0].size, 256ULL << 20);
	n = x86_layout__e820(&mem, e, E820_MAX_ENTRIES);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(e[0].addr, 0);
	ck_assert_uint_eq(e[0].size, X86_MPTABLE_ADDR);
	ck_assert_uint_eq(e[0].type, E820_RAM);
	ck_assert_uint_eq(e[1].addr, X86_MPTABLE_ADDR);
	ck_assert_uint_eq(e[1].type, E820_RESERVED);
	ck_assert_uint_eq(e[2].addr, 0xf0000);
	ck_assert_uint_eq(e[2].type, E820_RESERVED);
	ck_assert_uint_eq(e[3].addr, X86_HIMEM_START);
	ck_assert_uint_eq(e[3].addr + e[3].size, 256ULL << 20);
	ck_assert_uint_eq(guest_mem__total(&mem), 256ULL << 20);
}
END_TEST

START_TEST(ram_split_around_the_hole)
{
	struct guest_mem mem = { 0 };
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n;

	ck_assert_int_eq(x86_layout__ram(&mem, 4ULL << 30), 0);
	ck_assert_uint_eq(mem.nr, 2);
	ck_assert_uint_eq(mem.regions[0].size, X86_MMIO_HOLE_START);
	ck_assert_uint_eq(mem.regions[1].gpa, X86_MMIO_HOLE_END);
	ck_assert_uint_eq(mem.regions[1].size, (4ULL << 30) - X86_MMIO_HOLE_START);
	n = x86_layout__e820(&mem, e, E820_MAX_ENTRIES);
	ck_assert_uint_eq(n, 5);
	ck_assert_uint_eq(e[4].addr, X86_MMIO_HOLE_END);
	ck_assert_uint_eq(e[4].type, E820_RAM);
	/* Nothing of the hole is RAM: the IOAPIC and devices live there. */
	ck_assert(!guest_mem__overlaps(&mem, X86_MMIO_HOLE_START, X86_MMIO_HOLE_END - X86_MMIO_HOLE_START));
}
END_TEST

START_TEST(too_little_ram)
{
	struct guest_mem mem = { 0 };

	ck_assert_int_eq(x86_layout__ram(&mem, 16ULL << 20), -EINVAL);
}
END_TEST

START_TEST(overlaps_and_bounds)
{
	struct guest_mem mem = { 0 };

	ck_assert_int_eq(guest_mem__add(&mem, 0, 1 << 20), 0);
	ck_assert_int_eq(guest_mem__add(&mem, 0x80000, 0x1000), -EEXIST);
	ck_assert_int_eq(guest_mem__add(&mem, 0xfffff, 2), -EEXIST);
	ck_assert_int_eq(guest_mem__add(&mem, 1 << 20, 1 << 20), 0);	/* adjacent is fine */
	ck_assert_int_eq(guest_mem__add(&mem, ~0ULL - 10, 100), -EINVAL);
	ck_assert_int_eq(guest_mem__add(&mem, 4 << 20, 0), -EINVAL);
	ck_assert_int_eq(guest_mem__map(&mem), 0);
	ck_assert_ptr_nonnull(guest_mem__ptr(&mem, 0, 1 << 20));
	ck_assert_ptr_null(guest_mem__ptr(&mem, 0, (1 << 20) + 1));	/* spans two regions */
	ck_assert_ptr_null(guest_mem__ptr(&mem, 3 << 20, 1));
	ck_assert_ptr_null(guest_mem__ptr(&mem, 0x1000, ~0ULL));	/* huge length */
	ck_assert_int_eq(guest_mem__write(&mem, (2 << 20) - 1, "ab", 2), -EFAULT);
	ck_assert_uint_eq(guest_mem__region_end(&mem, 0x1234), 1 << 20);
	guest_mem__unmap(&mem);
}
END_TEST

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

START_TEST(mptable_contents)
{
	uint8_t buf[1024];
	uint16_t len, count;
	uint32_t physptr;

	ck_assert_int_eq(mptable__write(buf, sizeof(buf), X86_MPTABLE_ADDR, 2), 0);
	ck_assert_int_eq(memcmp(buf, "_MP_", 4), 0);
	ck_assert_uint_eq(sum(buf, 16), 0);
	memcpy(&physptr, buf + 4, 4);
	ck_assert_uint_eq(physptr, X86_MPTABLE_ADDR + 16);
	ck_assert_int_eq(memcmp(buf + 16, "PCMP", 4), 0);
	memcpy(&len, buf + 16 + 4, 2);
	memcpy(&count, buf + 16 + 34, 2);
	ck_assert_uint_eq(sum(buf + 16, len), 0);
	ck_assert_uint_eq(count, 2 + 1 + 1 + MPTABLE_IRQS + 2);
	ck_assert_uint_eq(16 + len, mptable__size(2));
	/* The first entry is the boot processor, APIC id 0. */
	ck_assert_uint_eq(buf[16 + 44], 0);		/* type: processor */
	ck_assert_uint_eq(buf[16 + 44 + 1], 0);		/* APIC id */
	ck_assert_uint_eq(buf[16 + 44 + 3], 3);		/* enabled, boot processor */
	ck_assert_uint_eq(buf[16 + 64 + 1], 1);		/* second CPU's APIC id */
	ck_assert_uint_eq(buf[16 + 64 + 3], 1);		/* enabled only */
}
END_TEST

START_TEST(mptable_limits)
{
	uint8_t buf[1024];

	ck_assert_int_eq(mptable__write(buf, sizeof(buf), 0, 0), -EINVAL);
	ck_assert_int_eq(mptable__write(buf, sizeof(buf), 0, MPTABLE_MAX_CPUS + 1), -EINVAL);
	ck_assert_int_eq(mptable__write(buf, 100, 0, 1), -ENOSPC);
	/* The largest table still fits the KiB below 640 KiB. */
	ck_assert_uint_le(mptable__size(MPTABLE_MAX_CPUS), X86_EBDA_END - X86_MPTABLE_ADDR);
	ck_assert_int_eq(mptable__write(buf, sizeof(buf), 0, MPTABLE_MAX_CPUS), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("layout");
	TCase *tc = tcase_create("layout");

	tcase_add_test(tc, ram_below_the_hole);
	tcase_add_test(tc, ram_split_around_the_hole);
	tcase_add_test(tc, too_little_ram);
	tcase_add_test(tc, overlaps_and_bounds);
	tcase_add_test(tc, mptable_contents);
	tcase_add_test(tc, mptable_limits);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
