#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "unit.h"

static enum guest_status status = GUEST_STATUS_RUNNING;
static int attached, stopped, attached_fd = -2;
static unsigned int stop_ms;

static enum guest_status f_status(void *ctx) { return status; }

static int f_attach(void *ctx, const char *slot, const char *path, int fd, enum block_mode mode,
		    struct pupa_err *err)
{
	attached_fd = fd;
	if (strcmp(slot, "rootfs") != 0)
		return pupa_err_set(err, PUPA_GUEST_ERROR, GUEST_ERR_DEVICE_NOT_PRESENT, "no slot %s", slot);
	attached = (int)mode + 1;
	return 0;
}

static void f_stop(void *ctx, unsigned int ms) { stopped++; stop_ms = ms; }

static int f_network(void *ctx, struct control_net *n)
{
	static struct port_publish p[2];
	char why[256];

	ck_assert_int_eq(publish_parse("8080:80", &p[0], why, sizeof(why)), 0);
	ck_assert_int_eq(publish_parse("0.0.0.0:5353:53/udp", &p[1], why, sizeof(why)), 0);
	*n = (struct control_net){ .backend = "slirp", .publish = p, .nr_publish = 2,
				   .rx_frames = 7, .tx_dropped = 1 };
	return 1;
}

static int f_fs(void *ctx, struct control_fs *f)
{
	static const char *const vols[] = { "/home/u/src", "/data" };
	static const int ro[] = { 0, 1 };

	*f = (struct control_fs){ .tag = "pupa", .volumes = vols, .ro = ro, .nr_volumes = 2,
				  .requests = 42, .nodes = 5, .open_fds = 3, .fd_budget = 64,
				  .evictions = 9, .reopens = 4, .reads = 16, .read_bytes = 16777216,
				  .writes = 3, .write_bytes = 12 };
	return 1;
}

static uint64_t f_restore_us(void *ctx)
{
	(void)ctx;
	return 123456;
}

static const struct control_ops ops = { .status = f_status, .attach = f_attach, .stop = f_stop };
static const struct control_ops ops_net = { .status = f_status, .attach = f_attach,
					    .stop = f_stop, .network = f_network, .fs = f_fs,
					    .restore_us = f_restore_us };

static char *req(const char *line)
{
	return control__handle_line(line, strlen(line), &ops, NULL);
}

static void expect(const char *line, const char *needle)
{
	char *r = req(line);

	ck_assert_ptr_nonnull(r);
	ck_assert_msg(strstr(r, needle) != NULL, "reply to %s was %s, wanted %s", line, r, needle);
	ck_assert_ptr_null(strchr(r, '\n'));
	free(r);
}

START_TEST(status_and_ids)
{
	expect("{\"request\":\"status\"}",
	       "\"status\":{\"type\":\"GuestStatus\",\"name\":\"kRunning\",\"value\":3}");
	expect("{\"request\":\"status\",\"id\":\"abc\"}", "\"id\":\"abc\"");
}
END_TEST

START_TEST(status_lists_the_network)
{
	const char *line = "{\"request\":\"status\"}";
	char *r = control__handle_line(line, strlen(line), &ops_net, NULL);

	ck_assert_ptr_nonnull(r);
	ck_assert_msg(strstr(r, "\"network\":{") && strstr(r, "\"backend\":\"slirp\"") &&
		      strstr(r, "\"publish\":[\"127.0.0.1:8080:80/tcp\",\"0.0.0.0:5353:53/udp\"]") &&
		      strstr(r, "\"allow_host_loopback\":false") && strstr(r, "\"rx_frames\":7") &&
		      strstr(r, "\"tx_dropped\":1"), "status was %s", r);
	ck_assert_msg(strstr(r, "\"fs\":{") && strstr(r, "\"tag\":\"pupa\"") &&
		      strstr(r, "{\"path\":\"/data\",\"ro\":true}") && strstr(r, "\"requests\":42") &&
		      strstr(r, "\"evictions\":9") && strstr(r, "\"fd_budget\":64") &&
		      strstr(r, "\"reads\":16,") && strstr(r, "\"read_bytes\":16777216") &&
		      strstr(r, "\"writes\":3,") && strstr(r, "\"write_bytes\":12"), "status was %s", r);
	ck_assert_msg(strstr(r, "\"restore_us\":123456"), "status was %s", r);
	free(r);
	/* Without a network, virtio-fs or a restore, none of their keys. */
	r = req(line);
	ck_assert_ptr_null(strstr(r, "restore_us"));
	ck_assert_ptr_null(strstr(r, "network"));
	ck_assert_ptr_null(strstr(r, "\"fs\""));
	free(r);
}
END_TEST

START_TEST(malformed)
{
	static const char nul_line[] = "{\"request\":\"st\0atus\"}";
	char *r;

	expect("", "kBadConfig");
	expect("{", "malformed JSON");
	expect("[1,2,3]", "must be a JSON object");
	expect("\"status\"", "\"reply\":\"error\"");
	expect("{\"request\":5}", "no \\\"request\\\" string");
	expect("{\"request\":\"reboot\"}", "unknown request");
	expect("{\"request\":\"status\",\"request\":\"stop\"}", "malformed JSON");	/* duplicate keys */
	r = control__handle_line(nul_line, sizeof(nul_line) - 1, &ops, NULL);
	ck_assert_ptr_nonnull(strstr(r, "\"reply\":\"error\""));
	free(r);
	ck_assert_int_eq(stopped, 0);
	ck_assert_int_eq(attached, 0);
}
END_TEST

START_TEST(attach)
{
	expect("{\"request\":\"attach\"}", "needs \\\"slot\\\" and \\\"path\\\"");
	expect("{\"request\":\"attach\",\"slot\":1,\"path\":\"/x\"}", "kBadConfig");
	expect("{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x\",\"mode\":\"fast\"}",
	       "mode must be");
	expect("{\"request\":\"attach\",\"slot\":\"other\",\"path\":\"/x\"}",
	       "\"name\":\"kDeviceNotPresent\",\"value\":2");
	expect("{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x\",\"mode\":\"VolatileWrite\"}",
	       "\"reply\":\"attach\"");
	ck_assert_int_eq(attached, BLOCK_MODE_VOLATILE_WRITE + 1);
	status = GUEST_STATUS_STOPPING;
	expect("{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x\"}",
	       "\"name\":\"kNotCreated\",\"value\":13");
	status = GUEST_STATUS_RUNNING;
}
END_TEST

/* A medium passed as a descriptor: "fd":true takes the one that came with
 * the line, and says so when none did; a line without it leaves it. */
START_TEST(attach_with_descriptor)
{
	static const char with[] = "{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"img\",\"fd\":true}";
	static const char without[] = "{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x\"}";
	int fd = 42;
	char *r;

	r = control__handle_request(with, strlen(with), &ops, NULL, &fd);
	ck_assert_ptr_nonnull(strstr(r, "\"reply\":\"attach\""));
	ck_assert_int_eq(attached_fd, 42);
	ck_assert_int_eq(fd, -1);
	free(r);
	fd = -1;
	r = control__handle_request(with, strlen(with), &ops, NULL, &fd);
	ck_assert_ptr_nonnull(strstr(r, "no descriptor came with the request"));
	free(r);
	fd = 7;
	r = control__handle_request(without, strlen(without), &ops, NULL, &fd);
	ck_assert_int_eq(attached_fd, -1);
	ck_assert_int_eq(fd, 7);
	free(r);
}
END_TEST

START_TEST(stop)
{
	expect("{\"request\":\"stop\",\"timeout_ms\":-1}", "timeout_ms must be");
	expect("{\"request\":\"stop\",\"timeout_ms\":\"soon\"}", "timeout_ms must be");
	ck_assert_int_eq(stopped, 0);
	expect("{\"request\":\"stop\",\"timeout_ms\":2500}", "\"reply\":\"stop\"");
	ck_assert_int_eq(stopped, 1);
	ck_assert_uint_eq(stop_ms, 2500);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("lines");

	tcase_add_test(tc, status_and_ids);
	tcase_add_test(tc, status_lists_the_network);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, attach);
	tcase_add_test(tc, attach_with_descriptor);
	tcase_add_test(tc, stop);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
