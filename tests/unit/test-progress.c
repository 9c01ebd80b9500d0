/* SPDX-License-Identifier: MIT */
/*
 * The progress display: plain mode prints a percentage only when it moved
 * (a layered image used to print "Extracting 100%" once per layer-apply
 * tick); a failure is said once, as Failed, and nothing is "done" after it;
 * JSON keeps the seed's names as fields beside a reason without them.
 */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "unit.h"

static char out[8192];

static struct progress *open_mode(enum progress_mode m, FILE **f)
{
	*f = tmpfile();
	ck_assert_ptr_nonnull(*f);
	return progress_new(m, *f);
}

static const char *text(FILE *f)
{
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	return out;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

START_TEST(plain_prints_a_percentage_when_it_changes)
{
	FILE *f;
	struct progress *p = open_mode(PROGRESS_PLAIN, &f);

	progress_enter(p, CONTAINER_STATUS_EXTRACTING);
	for (int tick = 0; tick < 3; tick++) {
		sleep(3);	/* past plain mode's interval */
		usleep(100000);
		progress_layers(p, (unsigned int)tick + 1, 3);
		progress_bytes(p, 100, 100, 0, -1, NULL);
	}
	ck_assert_int_eq(count(text(f), "Extracting 100%"), 1);
	sleep(3);
	usleep(100000);
	progress_bytes(p, 150, 200, 0, -1, NULL);
	ck_assert_int_eq(count(text(f), "Extracting 75%"), 1);
	progress_free(p);
	fclose(f);
}
END_TEST

START_TEST(a_failure_is_said_once)
{
	struct pupa_err err = { 0 };
	enum progress_mode modes[] = { PROGRESS_TTY, PROGRESS_PLAIN };
	FILE *f;

	mgr_err(&err, GUEST_MANAGER_ERR_BAD_CONFIG, "http://h/x: HTTP 404 Not Found");
	for (int i = 0; i < 2; i++) {
		struct progress *p = open_mode(modes[i], &f);

		progress_enter(p, CONTAINER_STATUS_DOWNLOADING);
		progress_fail_err(p, 0, err.msg, &err);
		progress_leave(p);	/* as the start's end does */
		progress_free(p);
		text(f);
		ck_assert_int_eq(count(out, "Failed in Downloading: http://h/x: HTTP 404 Not Found "
				       "(BadConfig, GuestManagerError 1)\n"), 1);
		ck_assert_int_eq(count(out, "404"), 1);
		ck_assert_ptr_null(strstr(strstr(out, "Failed"), "done"));
		ck_assert(progress_shows_failure(p = progress_new(modes[i], f)));
		progress_free(p);
		fclose(f);
	}
}
END_TEST

START_TEST(json_keeps_the_names_as_fields)
{
	struct pupa_err err = { 0 };
	FILE *f;
	struct progress *p = open_mode(PROGRESS_JSON, &f);

	ck_assert(!progress_shows_failure(p));
	mgr_err(&err, GUEST_MANAGER_ERR_BAD_CONFIG, "http://h/x: HTTP 404 Not Found");
	progress_enter(p, CONTAINER_STATUS_DOWNLOADING);
	progress_fail_err(p, 0, err.msg, &err);
	progress_free(p);
	ck_assert_ptr_nonnull(strstr(text(f), "\"failed_in_name\":\"kDownloading\",\"reason\":"
				     "\"http://h/x: HTTP 404 Not Found\",\"error_type\":"
				     "\"GuestManagerError\",\"error_name\":\"kBadConfig\",\"error_code\":1}"));
	fclose(f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("progress");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, plain_prints_a_percentage_when_it_changes);
	tcase_add_test(tc, a_failure_is_said_once);
	tcase_add_test(tc, json_keeps_the_names_as_fields);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
