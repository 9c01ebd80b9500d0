/* What every Check suite here shares: running it, and reading build products. */
#ifndef PUPA_TEST_UNIT_H
#define PUPA_TEST_UNIT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* Run one suite; the process's exit status says whether it passed. */
static inline int unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* The whole of $top_builddir/rel (make check builds it first); free() it. */
static inline unsigned char *unit_read_built(const char *rel, long *len)
{
	const char *top = getenv("top_builddir");
	char path[4096];
	unsigned char *buf;
	FILE *f;

	ck_assert_msg(top != NULL, "top_builddir is not set: run through make check");
	snprintf(path, sizeof(path), "%s/%s", top, rel);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s is missing: make builds it", path);
	fseek(f, 0, SEEK_END);
	*len = ftell(f);
	rewind(f);
	buf = malloc((size_t)*len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)*len, f), *len);
	fclose(f);
	return buf;
}

#endif
