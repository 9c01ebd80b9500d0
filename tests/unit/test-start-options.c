/* SPDX-License-Identifier: MIT */
/*
 * pupa start's command line: whole option names only (pupa_getopt), the
 * docker run order (IMAGE, then the command), Docker's units for --memory
 * and --cpus, and --env-file's parser with hostile input next to good.
 */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "env_file.h"
#include "options.h"
#include "start_options.h"
#include "unit.h"

/* ---- pupa_getopt ---------------------------------------------------------------- */

static const struct option longs[] = {
	{ "initrd", required_argument, NULL, 'I' },
	{ "init", no_argument, NULL, 'N' },
	{ "memory", required_argument, NULL, 'm' },
	{ "verbose", no_argument, NULL, 'V' },
	{ 0 },
};

/* The first code pupa_getopt returns for args (NULL-terminated), bad filled. */
static int first(struct pupa_opt_bad *bad, ...)
{
	char *argv[16] = { "prog" };
	int argc = 1, c;
	va_list ap;

	va_start(ap, bad);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	optind = 0;
	memset(bad, 0, sizeof(*bad));
	c = pupa_getopt(argc, argv, "+m:v", longs, bad);
	return c;
}

START_TEST(only_whole_option_names)
{
	struct pupa_opt_bad bad;

	ck_assert_int_eq(first(&bad, "--init", NULL), 'N');
	ck_assert_int_eq(first(&bad, "--initrd", "x", NULL), 'I');
	ck_assert_str_eq(optarg, "x");
	ck_assert_int_eq(first(&bad, "--initrd=x", NULL), 'I');
	ck_assert_int_eq(first(&bad, "--memory", "--verbose", NULL), 'm');	/* a value like an option */
	ck_assert_str_eq(optarg, "--verbose");
	/* getopt_long would take these prefixes */
	ck_assert_int_eq(first(&bad, "--initr", "x", NULL), PUPA_OPT_UNKNOWN);
	ck_assert_str_eq(bad.word, "--initr");
	ck_assert_int_eq(first(&bad, "--mem=1g", NULL), PUPA_OPT_UNKNOWN);
	ck_assert_str_eq(bad.word, "--mem");
	ck_assert_int_eq(first(&bad, "--verb", NULL), PUPA_OPT_UNKNOWN);
	ck_assert_int_eq(first(&bad, "--mem", NULL), PUPA_OPT_UNKNOWN);	/* even lacking a value */
	ck_assert_int_eq(first(&bad, "--ini", NULL), PUPA_OPT_UNKNOWN);	/* ambiguous */
	ck_assert_int_eq(first(&bad, "--bogus", NULL), PUPA_OPT_UNKNOWN);
	ck_assert_str_eq(bad.word, "--bogus");
	ck_assert_int_eq(first(&bad, "-x", NULL), PUPA_OPT_UNKNOWN);
	ck_assert_str_eq(bad.word, "-x");
	ck_assert_int_eq(first(&bad, "--memory", NULL), PUPA_OPT_NO_VALUE);
	ck_assert_str_eq(bad.word, "--memory");
	ck_assert_int_eq(first(&bad, "-m", NULL), PUPA_OPT_NO_VALUE);
	ck_assert_str_eq(bad.word, "-m");
	ck_assert_int_eq(first(&bad, "--verbose=1", NULL), PUPA_OPT_HAS_VALUE);
	ck_assert_str_eq(bad.word, "--verbose");
	ck_assert_int_eq(first(&bad, "image", NULL), -1);
}
END_TEST

/* ---- start_options_parse ------------------------------------------------------------ */

static struct start_opts o;

static int parse(char **argv)
{
	struct pupa_err err = { 0 };
	int argc = 0, ret;

	while (argv[argc])
		argc++;
	start_options_free(&o);
	start_options_init(&o);
	ret = start_options_parse(argc, argv, &o, &err);
	return ret;
}

START_TEST(image_then_its_command)
{
	char *a[] = { "start", "-h", "box", "-m", "256m", "--rm", "--init", "alpine", "sh", "-c",
		      "echo $A", NULL };
	char *b[] = { "start", "alpine", "--", "ls", "-l", NULL };
	char *c[] = { "start", "--", "hostname", NULL };
	char *d[] = { "start", "-i", "alpine", "ls", "--verbose", "-h", NULL };
	char *e[] = { "start", "--read-only", "--cpus", "1.5", "x", NULL };

	ck_assert_int_eq(parse(a), 0);
	ck_assert_str_eq(o.image, "alpine");
	ck_assert_str_eq(o.hostname, "box");
	ck_assert_uint_eq(o.memory_mib, 256);
	ck_assert(o.rm && o.init);
	ck_assert_str_eq(o.argv[0], "sh");
	ck_assert_str_eq(o.argv[2], "echo $A");
	ck_assert_ptr_null(o.argv[3]);
	ck_assert_int_eq(parse(b), 0);
	ck_assert_str_eq(o.image, "alpine");
	ck_assert_str_eq(o.argv[0], "ls");
	ck_assert_int_eq(parse(c), 0);
	ck_assert_ptr_null(o.image);
	ck_assert_str_eq(o.argv[0], "hostname");
	ck_assert_int_eq(parse(d), 0);
	ck_assert(o.interactive && !o.verbose);		/* after IMAGE: the command's */
	ck_assert_str_eq(o.argv[1], "--verbose");
	ck_assert_str_eq(o.argv[2], "-h");
	ck_assert_int_eq(parse(e), 0);
	ck_assert_int_eq(o.rootfs_mode, ROOTFS_RO);
	ck_assert_uint_eq(o.cpus, 2);
	ck_assert_ptr_null(o.argv[0]);
	start_options_free(&o);
}
END_TEST

static unsigned int mib(const char *s)
{
	struct pupa_err err = { 0 };
	unsigned int v = 0;

	return start_parse_memory(s, &v, &err) < 0 ? 0 : v;
}

static unsigned int cpus(const char *s)
{
	struct pupa_err err = { 0 };
	unsigned int v = 0;

	return start_parse_cpus(s, &v, &err) < 0 ? 0 : v;
}

START_TEST(memory_and_cpus_in_dockers_units)
{
	ck_assert_uint_eq(mib("512"), 512);		/* plain: MiB */
	ck_assert_uint_eq(mib("512m"), 512);
	ck_assert_uint_eq(mib("512MB"), 512);
	ck_assert_uint_eq(mib("1g"), 1024);
	ck_assert_uint_eq(mib("1.5G"), 1536);
	ck_assert_uint_eq(mib("65536k"), 64);
	ck_assert_uint_eq(mib("67108864b"), 64);
	ck_assert_uint_eq(mib("67108865b"), 65);	/* rounded up to whole MiB */
	ck_assert_uint_eq(mib("64g"), 65536);
	ck_assert_uint_eq(mib("63"), 0);
	ck_assert_uint_eq(mib("64.0001g"), 0);
	ck_assert_uint_eq(mib("1099511627776g"), 0);	/* 2^40 g: no overflow */
	ck_assert_uint_eq(mib("18446744073709551617"), 0);
	ck_assert_uint_eq(mib(""), 0);
	ck_assert_uint_eq(mib("m"), 0);
	ck_assert_uint_eq(mib("1t"), 0);
	ck_assert_uint_eq(mib("1gg"), 0);
	ck_assert_uint_eq(mib("1 g"), 0);
	ck_assert_uint_eq(mib("-1g"), 0);
	ck_assert_uint_eq(mib("0x100"), 0);
	ck_assert_uint_eq(mib("1e3"), 0);
	ck_assert_uint_eq(cpus("1"), 1);
	ck_assert_uint_eq(cpus("1.5"), 2);
	ck_assert_uint_eq(cpus("0.000001"), 1);
	ck_assert_uint_eq(cpus("32"), 32);
	ck_assert_uint_eq(cpus("32.0"), 32);
	ck_assert_uint_eq(cpus("32.1"), 0);
	ck_assert_uint_eq(cpus("0"), 0);
	ck_assert_uint_eq(cpus("0.0"), 0);
	ck_assert_uint_eq(cpus("99999999999999999999"), 0);
	ck_assert_uint_eq(cpus(".5"), 0);
	ck_assert_uint_eq(cpus("1."), 0);
	ck_assert_uint_eq(cpus("nan"), 0);
}
END_TEST

/* ---- env_file_parse ------------------------------------------------------------------ */

static char *env[8];
static unsigned int nenv;
static struct pupa_err env_err;

static int envp(const char *text, size_t len, unsigned int max)
{
	while (nenv)
		free(env[--nenv]);
	memset(&env_err, 0, sizeof(env_err));
	return env_file_parse("f", text, len, env, &nenv, max, &env_err);
}
#define ENVP(lit, max) envp((lit), sizeof(lit) - 1, (max))

START_TEST(env_file_in_dockers_format)
{
	setenv("PUPA_TEST_HERE", "here", 1);
	unsetenv("PUPA_TEST_UNSET");
	ck_assert_int_eq(ENVP("\xef\xbb\xbf# comment\n\nA=1\n", 8), 0);	/* a BOM, a comment */
	ck_assert_uint_eq(nenv, 1);
	ck_assert_str_eq(env[0], "A=1");
	ck_assert_int_eq(ENVP("A=1\n  B = x\n", 8), -1);	/* "B " has a space */
	ck_assert_ptr_nonnull(strstr(env_err.msg, "line 2"));
	ck_assert_uint_eq(nenv, 0);				/* what it added, freed */
	ck_assert_int_eq(ENVP("A=1\n  B= x \r\nPUPA_TEST_HERE\nPUPA_TEST_UNSET\nC=\nD=a=b\n\tE=\"q\"", 8), 0);
	ck_assert_uint_eq(nenv, 6);
	ck_assert_str_eq(env[1], "B= x ");			/* the value as written */
	ck_assert_str_eq(env[2], "PUPA_TEST_HERE=here");
	ck_assert_str_eq(env[3], "C=");
	ck_assert_str_eq(env[4], "D=a=b");
	ck_assert_str_eq(env[5], "E=\"q\"");			/* no quote removal, as Docker */
	ck_assert_int_eq(ENVP("", 8), 0);
	ck_assert_uint_eq(nenv, 0);
	ck_assert_int_eq(ENVP("\n\n#x\n   \n", 8), 0);
	ck_assert_uint_eq(nenv, 0);
}
END_TEST

START_TEST(env_file_bounds)
{
	static char big[ENV_FILE_MAX_LINE + 16];

	ck_assert_int_eq(ENVP("=x\n", 8), -1);
	ck_assert_ptr_nonnull(strstr(env_err.msg, "no variable name"));
	ck_assert_int_eq(ENVP("A=1\0B=2\n", 8), -1);
	ck_assert_ptr_nonnull(strstr(env_err.msg, "NUL"));
	ck_assert_int_eq(ENVP("A\x01=1\n", 8), -1);
	ck_assert_int_eq(ENVP("A=1\nB=2\nC=3\n", 2), -1);
	ck_assert_ptr_nonnull(strstr(env_err.msg, "more than 2 variables"));
	ck_assert_uint_eq(nenv, 0);
	ck_assert_int_eq(ENVP("A=1\nB=2\n", 2), 0);
	memset(big, 'x', sizeof(big));
	memcpy(big, "A=", 2);
	ck_assert_int_eq(envp(big, ENV_FILE_MAX_LINE, 8), 0);	/* exactly the most */
	ck_assert_int_eq(envp(big, ENV_FILE_MAX_LINE + 1, 8), -1);
	ck_assert_ptr_nonnull(strstr(env_err.msg, "longer than 4096"));
	big[ENV_FILE_MAX_LINE] = '\r';				/* the \r does not count */
	ck_assert_int_eq(envp(big, ENV_FILE_MAX_LINE + 1, 8), 0);
	ck_assert_int_eq(ENVP("\xef\xbb", 8), 0);		/* half a BOM: a bare name, unset here */
	ck_assert_uint_eq(nenv, 0);
	ck_assert_int_eq(envp("A=1\n", 0, 8), 0);		/* nothing at all */
	while (nenv)
		free(env[--nenv]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("start-options");
	TCase *tc = tcase_create("start-options");

	tcase_add_test(tc, only_whole_option_names);
	tcase_add_test(tc, image_then_its_command);
	tcase_add_test(tc, memory_and_cpus_in_dockers_units);
	tcase_add_test(tc, env_file_in_dockers_format);
	tcase_add_test(tc, env_file_bounds);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
