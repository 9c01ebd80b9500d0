#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "unit.h"

static struct vmm_config cfg;
static struct pupa_err err;

/* Parse a NULL-terminated argument list; returns the parser's result. */
static int parse(const char *first, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)"pupa-vmm";
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	vmm_config__free(&cfg);
	memset(&err, 0, sizeof(err));
	return vmm_config__parse(&cfg, argc, argv, &err);
}

static void teardown(void)
{
	vmm_config__free(&cfg);
}

START_TEST(defaults)
{
	ck_assert_int_eq(parse("--kernel", "k", NULL), 0);
	ck_assert_int_eq(cfg.action, VMM_RUN);
	ck_assert_str_eq(cfg.kernel, "k");
	ck_assert_ptr_null(cfg.initrd);
	ck_assert_uint_eq(cfg.memory_mib, VMM_DEFAULT_MEMORY_MIB);
	ck_assert_uint_eq(cfg.cpus, 1);
	ck_assert_str_eq(cfg.serial, "stdio");
	ck_assert_str_eq(cfg.full_cmdline, "reboot=k panic=-1 console=ttyS0");
}
END_TEST

START_TEST(all_flags)
{
	ck_assert_int_eq(parse("--kernel", "k", "--initrd", "i", "--cmdline", "quiet",
			       "--memory", "2G", "--cpus", "4", "--serial", "/tmp/log",
			       "--boot-prop", "agent-port=1024", "--boot-prop", "hostname=a=b", NULL), 0);
	ck_assert_str_eq(cfg.initrd, "i");
	ck_assert_uint_eq(cfg.memory_mib, 2048);
	ck_assert_uint_eq(cfg.cpus, 4);
	ck_assert_str_eq(cfg.serial, "/tmp/log");
	ck_assert_str_eq(cfg.full_cmdline, "reboot=k panic=-1 quiet");
	ck_assert_uint_eq(cfg.nr_props, 2);
	ck_assert_str_eq(cfg.props[0].key, "agent-port");
	ck_assert_str_eq(cfg.props[0].value, "1024");
	ck_assert_str_eq(cfg.props[1].key, "hostname");
	ck_assert_str_eq(cfg.props[1].value, "a=b");
	ck_assert_int_eq(parse("--memory=300M", "--kernel=k", NULL), 0);
	ck_assert_uint_eq(cfg.memory_mib, 300);
}
END_TEST

START_TEST(help_and_version)
{
	ck_assert_int_eq(parse("--help", NULL), 0);
	ck_assert_int_eq(cfg.action, VMM_HELP);
	ck_assert_int_eq(parse("--version", NULL), 0);
	ck_assert_int_eq(cfg.action, VMM_VERSION);
}
END_TEST

static void expect_bad(int ret, const char *needle)
{
	ck_assert_int_eq(ret, -GUEST_ERR_BAD_CONFIG);
	ck_assert_uint_eq(err.code, GUEST_ERR_BAD_CONFIG);
	ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' not in '%s'", needle, err.msg);
}

START_TEST(missing_kernel)
{
	expect_bad(parse(NULL), "--kernel");
	expect_bad(parse("--cpus", "2", NULL), "no kernel");
}
END_TEST

START_TEST(bad_memory)
{
	expect_bad(parse("--kernel", "k", "--memory", "abc", NULL), "--memory abc");
	expect_bad(parse("--kernel", "k", "--memory", "0", NULL), "between");
	expect_bad(parse("--kernel", "k", "--memory", "16", NULL), "between");
	expect_bad(parse("--kernel", "k", "--memory", "-5", NULL), "--memory -5");
	expect_bad(parse("--kernel", "k", "--memory", "5T", NULL), "suffix");
	expect_bad(parse("--kernel", "k", "--memory", "99999999G", NULL), "between");
	expect_bad(parse("--kernel", "k", "--memory", "", NULL), "--memory");
}
END_TEST

START_TEST(bad_cpus)
{
	expect_bad(parse("--kernel", "k", "--cpus", "0", NULL), "--cpus 0");
	expect_bad(parse("--kernel", "k", "--cpus", "33", NULL), "--cpus 33");
	expect_bad(parse("--kernel", "k", "--cpus", "two", NULL), "--cpus two");
	expect_bad(parse("--kernel", "k", "--cpus", "2x", NULL), "--cpus 2x");
}
END_TEST

START_TEST(bad_boot_props)
{
	expect_bad(parse("--kernel", "k", "--boot-prop", "novalue", NULL), "KEY=VALUE");
	expect_bad(parse("--kernel", "k", "--boot-prop", "=v", NULL), "KEY=VALUE");
	expect_bad(parse("--kernel", "k", "--boot-prop", "a b=c", NULL), "key must be");
	expect_bad(parse("--kernel", "k", "--boot-prop", "abcdefghijabcdefghijabcdefghijab=1", NULL),
		   "key must be");
	expect_bad(parse("--kernel", "k", "--boot-prop", "x=1", "--boot-prop", "x=2", NULL),
		   "given twice");
}
END_TEST

START_TEST(bad_arguments)
{
	expect_bad(parse("--kernel", "k", "--frobnicate", NULL), "unknown option '--frobnicate'");
	expect_bad(parse("--kernel", "k", "extra", NULL), "unexpected argument 'extra'");
	expect_bad(parse("--kernel", NULL), "needs a value");
	/* Only whole names: getopt_long would read these as --initrd, --memory. */
	expect_bad(parse("--kernel", "k", "--init", "x", NULL), "unknown option '--init'");
	expect_bad(parse("--kernel", "k", "--mem=64", NULL), "unknown option '--mem'");
	expect_bad(parse("--kernel", "k", "--cpu", NULL), "unknown option '--cpu'");
	expect_bad(parse("--kernel", "k", "--serial", "", NULL), "--serial");
}
END_TEST

START_TEST(disks_and_sockets)
{
	ck_assert_int_eq(parse("--kernel", "k", "--disk", "a.img,rw", "--disk", "b.img,VolatileWrite,serial=data",
			       "--disk-slot", "rootfs", "--vsock-cid", "3", "--vsock-uds", "/tmp/v",
			       "--control", "/tmp/c", NULL), 0);
	ck_assert_uint_eq(cfg.nr_disks, 3);
	ck_assert_str_eq(cfg.disks[0].path, "a.img");
	ck_assert_int_eq(cfg.disks[0].mode, BLOCK_MODE_READ_WRITE);
	ck_assert_str_eq(cfg.disks[0].serial, "disk0");
	ck_assert_int_eq(cfg.disks[1].mode, BLOCK_MODE_VOLATILE_WRITE);
	ck_assert_str_eq(cfg.disks[1].serial, "data");
	ck_assert_ptr_null(cfg.disks[2].path);
	ck_assert_str_eq(cfg.disks[2].serial, "rootfs");
	ck_assert_uint_eq(cfg.vsock_cid, 3);
	ck_assert_str_eq(cfg.control, "/tmp/c");
}
END_TEST

START_TEST(bad_disks_and_sockets)
{
	expect_bad(parse("--kernel", "k", "--disk", "a.img", NULL), "PATH,MODE");
	expect_bad(parse("--kernel", "k", "--disk", "a.img,fast", NULL), "unknown mode");
	expect_bad(parse("--kernel", "k", "--disk", ",rw", NULL), "PATH,MODE");
	expect_bad(parse("--kernel", "k", "--disk", "a.img,ro,size=3", NULL), "serial=NAME");
	expect_bad(parse("--kernel", "k", "--disk", "a.img,ro,serial=abcdefghijabcdefghijX", NULL),
		   "serial=NAME");
	expect_bad(parse("--kernel", "k", "--disk-slot", "x", "--disk", "a,ro,serial=x", NULL),
		   "serial given twice");
	expect_bad(parse("--kernel", "k", "--disk-slot", "", NULL), "--disk-slot");
	expect_bad(parse("--kernel", "k", "--vsock-cid", "2", "--vsock-uds", "/v", NULL), "--vsock-cid 2");
	expect_bad(parse("--kernel", "k", "--vsock-cid", "3", NULL), "go together");
	expect_bad(parse("--kernel", "k", "--vsock-uds", "/v", NULL), "go together");
	expect_bad(parse("--kernel", "k", "--control",
			 "/a/very/long/path/that/goes/on/and/on/and/on/past/what/a/unix/socket/can/hold/in/sun_path/x", NULL),
		   "1-90 characters");
	{
		const char *many[] = { "--disk-slot", "s0", "--disk-slot", "s1", "--disk-slot", "s2",
				       "--disk-slot", "s3", "--disk-slot", "s4", "--disk-slot", "s5",
				       "--disk-slot", "s6", "--disk-slot", "s7", "--disk-slot", "s8" };

		expect_bad(parse("--kernel", "k", many[0], many[1], many[2], many[3], many[4], many[5],
				 many[6], many[7], many[8], many[9], many[10], many[11], many[12],
				 many[13], many[14], many[15], many[16], many[17], NULL), "more than 8");
	}
}
END_TEST

START_TEST(network_flags)
{
	ck_assert_int_eq(parse("--kernel", "k", NULL), 0);
	ck_assert_int_eq(cfg.net, VMM_NET_NONE);
	ck_assert_int_eq(parse("--kernel", "k", "--net", "slirp", "--publish", "8080:80",
			       "--publish", "0.0.0.0:53:53/udp", NULL), 0);
	ck_assert_int_eq(cfg.net, VMM_NET_SLIRP);
	ck_assert_int_eq(cfg.allow_host_loopback, 0);
	ck_assert_uint_eq(cfg.nr_publish, 2);
	ck_assert_uint_eq(cfg.publish[0].host_port, 8080);
	ck_assert_uint_eq(cfg.publish[1].udp, 1);
	ck_assert_int_eq(parse("--kernel", "k", "--net", "slirp,allow_host_loopback=true", NULL), 0);
	ck_assert_int_eq(cfg.allow_host_loopback, 1);
	expect_bad(parse("--kernel", "k", "--net", "tap", NULL), "the one network is slirp");
	expect_bad(parse("--kernel", "k", "--net", "slirpx", NULL), "the one network is slirp");
	expect_bad(parse("--kernel", "k", "--net", "slirp,restrict=on", NULL), "allow_host_loopback");
	expect_bad(parse("--kernel", "k", "--publish", "8080:80", NULL), "needs a network");
	expect_bad(parse("--kernel", "k", "--net", "slirp", "--publish", "80", NULL),
		   "--publish 80: give a host port");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, all_flags);
	tcase_add_test(tc, help_and_version);
	tcase_add_test(tc, missing_kernel);
	tcase_add_test(tc, bad_memory);
	tcase_add_test(tc, bad_cpus);
	tcase_add_test(tc, bad_boot_props);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, disks_and_sockets);
	tcase_add_test(tc, bad_disks_and_sockets);
	tcase_add_test(tc, network_flags);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
