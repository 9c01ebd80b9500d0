#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../images/agent/agent.h"
#include "unit.h"

static char root[] = "/tmp/pupa-test-users.XXXXXX";

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/etc/%s", root, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	char etc[256];

	strcpy(root, "/tmp/pupa-test-users.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(etc, sizeof(etc), "%s/etc", root);
	mkdir(etc, 0755);
	put("passwd", "root:x:0:0:root:/root:/bin/sh\n"
		      "broken line without fields\n"
		      "daemon:x:notanumber:1::/:/bin/false\n"
		      "tester:x:1000:1000:Tester:/home/tester:/bin/sh\n"
		      "nohome:x:1001:1001:::/bin/sh\n");
	put("group", "root:x:0:\ntester:x:1000:\nextra:x:2000:tester,nohome\nother:x:3000:nohome\n");
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(by_name_with_groups)
{
	struct creds c;
	char err[256];

	ck_assert_int_eq(creds_resolve(root, "tester", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.uid, 1000);
	ck_assert_uint_eq(c.gid, 1000);
	ck_assert_str_eq(c.home, "/home/tester");
	ck_assert_int_eq(c.ngroups, 1);
	ck_assert_uint_eq(c.groups[0], 2000);
	ck_assert_int_eq(creds_resolve(root, "nohome:other", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.gid, 3000);
	ck_assert_str_eq(c.home, "/");
	ck_assert_int_eq(c.ngroups, 2);
}
END_TEST

START_TEST(by_number)
{
	struct creds c;
	char err[256];

	ck_assert_int_eq(creds_resolve(root, "1000", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.home, "/home/tester");	/* a known uid takes its entry */
	ck_assert_int_eq(creds_resolve(root, "4242:77", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.uid, 4242);
	ck_assert_uint_eq(c.gid, 77);
	ck_assert_str_eq(c.home, "/");
	ck_assert_int_eq(creds_resolve(root, "4242", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.gid, 0);
	ck_assert_int_eq(creds_resolve(root, "", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.uid, 0);
	ck_assert_str_eq(c.home, "/root");
}
END_TEST

START_TEST(unknown_names)
{
	struct creds c;
	char err[256];

	ck_assert_int_eq(creds_resolve(root, "nobody", &c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "unable to find user nobody"));
	ck_assert_int_eq(creds_resolve(root, "tester:wheel", &c, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "unable to find group wheel"));
	ck_assert_int_eq(creds_resolve(root, "daemon", &c, err, sizeof(err)), -1);	/* malformed entry */
	ck_assert_int_eq(creds_resolve(root, "99999999999", &c, err, sizeof(err)), -1);
}
END_TEST

START_TEST(no_passwd_file)
{
	struct creds c;
	char err[256], path[256];

	snprintf(path, sizeof(path), "%s/etc/passwd", root);
	unlink(path);
	ck_assert_int_eq(creds_resolve(root, "root", &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.uid, 0);
	ck_assert_int_eq(creds_resolve(root, "tester", &c, err, sizeof(err)), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("users");
	TCase *tc = tcase_create("creds");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, by_name_with_groups);
	tcase_add_test(tc, by_number);
	tcase_add_test(tc, unknown_names);
	tcase_add_test(tc, no_passwd_file);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
