#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "enums.h"
#include "error.h"
#include "unit.h"

START_TEST(seed_names_and_values)
{
	ck_assert_str_eq(pupa_enum_name(PUPA_GUEST_ERROR, 1), "kInternalError");
	ck_assert_str_eq(pupa_enum_name(PUPA_GUEST_ERROR, 3), "kBadConfig");
	ck_assert_str_eq(pupa_enum_name(PUPA_GUEST_ERROR, 15), "kControllerForcedHalt");
	ck_assert_str_eq(pupa_enum_name(PUPA_GUEST_MANAGER_ERROR, 1), "kBadConfig");
	ck_assert_str_eq(pupa_enum_name(PUPA_GUEST_MANAGER_ERROR, 5), "kNoStorage");
	ck_assert_str_eq(pupa_enum_name(PUPA_BLOCK_MODE, 2), "kVolatileWrite");
	ck_assert_str_eq(pupa_enum_name(PUPA_KERNEL_TYPE, 0), "kZircon");
	ck_assert_str_eq(pupa_enum_name(PUPA_GUEST_STATUS, 6), "kVmmUnexpectedTermination");
	ck_assert_str_eq(pupa_enum_name(PUPA_CONTAINER_STATUS, 4), "kDownloading");
	ck_assert_str_eq(pupa_enum_name(PUPA_CONTAINER_STATUS, 8), "kFailed");
}
END_TEST

START_TEST(every_type_is_complete)
{
	static const struct { enum pupa_enum_type t; uint32_t first, last; } ranges[] = {
		{ PUPA_GUEST_ERROR, 1, 15 }, { PUPA_KERNEL_TYPE, 0, 1 },
		{ PUPA_BLOCK_MODE, 0, 2 }, { PUPA_GUEST_MANAGER_ERROR, 1, 5 },
		{ PUPA_GUEST_STATUS, 1, 6 }, { PUPA_CONTAINER_STATUS, 1, 8 },
	};
	unsigned int count, seen = 0;
	const struct pupa_enum_entry *t = pupa_enum_table(&count);

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		for (uint32_t v = ranges[i].first; v <= ranges[i].last; v++) {
			const struct pupa_enum_entry *e = pupa_enum_find(ranges[i].t, v);

			ck_assert_ptr_nonnull(e);
			ck_assert_int_eq(e->name[0], 'k');
			seen++;
		}
		ck_assert_ptr_null(pupa_enum_find(ranges[i].t, ranges[i].last + 1));
	}
	ck_assert_uint_eq(seen, count);
	ck_assert_ptr_nonnull(t);
}
END_TEST

START_TEST(human_names_and_lookup)
{
	uint32_t v = 99;

	ck_assert_str_eq(pupa_enum_human(PUPA_GUEST_ERROR, 10), "KernelLoadFailure");
	ck_assert_str_eq(pupa_enum_human(PUPA_GUEST_ERROR, 0), "Unknown");
	ck_assert_int_eq(pupa_enum_lookup(PUPA_BLOCK_MODE, "kReadOnly", &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(pupa_enum_lookup(PUPA_BLOCK_MODE, "ReadWrite", &v), 0);
	ck_assert_uint_eq(v, 0);
	/* The same name means different values in different types. */
	ck_assert_int_eq(pupa_enum_lookup(PUPA_GUEST_ERROR, "AlreadyRunning", &v), 0);
	ck_assert_uint_eq(v, 14);
	ck_assert_int_eq(pupa_enum_lookup(PUPA_GUEST_MANAGER_ERROR, "AlreadyRunning", &v), 0);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(pupa_enum_lookup(PUPA_BLOCK_MODE, "kBadConfig", &v), -ENOENT);
	ck_assert_str_eq(pupa_enum_type_name(PUPA_GUEST_MANAGER_ERROR), "GuestManagerError");
}
END_TEST

START_TEST(errors_format_and_first_wins)
{
	struct pupa_err err = { 0 };
	char line[1024];

	ck_assert_int_eq(guest_err(&err, GUEST_ERR_BAD_CONFIG, "--cpus %d: bad", 0), -3);
	ck_assert_int_eq(guest_err(&err, GUEST_ERR_INTERNAL, "later"), -1);
	pupa_err_format(&err, line, sizeof(line));
	ck_assert_str_eq(line, "--cpus 0: bad (BadConfig, GuestError 3)");
}
END_TEST

/* Outside text quoted in a message never carries a terminal escape: C0
 * controls, DEL, C1 controls (8-bit CSI as UTF-8 or as a bare byte) and
 * invalid UTF-8 become '?'; printable UTF-8 stays. */
START_TEST(messages_lose_control_characters)
{
	struct pupa_err err = { 0 };

	mgr_err(&err, GUEST_MANAGER_ERR_BAD_CONFIG, "entry '%s': %s",
		"a\x1b]0;pwned\x07" "b\x7f", "r\xc2\x9b" "2J\x9b" "K\n\xc3\xa9t\xc3\xa9");
	ck_assert_str_eq(err.msg, "entry 'a?]0;pwned?b?': r??2J?K?\xc3\xa9t\xc3\xa9");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("enums");
	TCase *tc = tcase_create("enums");

	tcase_add_test(tc, seed_names_and_values);
	tcase_add_test(tc, every_type_is_complete);
	tcase_add_test(tc, human_names_and_lookup);
	tcase_add_test(tc, errors_format_and_first_wins);
	tcase_add_test(tc, messages_lose_control_characters);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
