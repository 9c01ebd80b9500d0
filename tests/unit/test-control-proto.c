/* SPDX-License-Identifier: MIT */
/*
 * The control contract (lib/control_proto.h) from both ends, without KVM:
 * every message round-trips its encoder and decoder; pupa-vmm's server
 * (vmm/control.c) answers pupa's typed client (container/vmm_client.c)
 * over a real socket; hostile replies and exit records are refused; and
 * vmm_proc judges a pupa-vmm (a stand-in script) by its exit record.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "control_proto.h"
#include "unit.h"
#include "vmm_client.h"
#include "vmm_proc.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-control-proto.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0700);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* ---- round trips ------------------------------------------------------------------ */

static void request_round_trip(const struct control_request *in, struct control_request *out)
{
	struct pupa_err err = { 0 };
	char *line = control_request_encode(in);

	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_null(strchr(line, '\n'));
	ck_assert_msg(control_request_decode(line, strlen(line), out, &err) == 0, "%s: %s", line,
		      err.msg);
	ck_assert_int_eq(out->kind, in->kind);
	ck_assert_str_eq(out->id, in->id);
	free(line);
}

START_TEST(requests_round_trip)
{
	static struct control_request in, out;

	in = (struct control_request){ .kind = CONTROL_REQ_STATUS };
	snprintf(in.id, sizeof(in.id), "%s", "{\"n\":7}");
	request_round_trip(&in, &out);

	in = (struct control_request){ .kind = CONTROL_REQ_ATTACH };
	snprintf(in.u.attach.slot, sizeof(in.u.attach.slot), "rootfs");
	snprintf(in.u.attach.path, sizeof(in.u.attach.path), "/run/x/\"disk\" \xc3\xa9.img");
	in.u.attach.mode = BLOCK_MODE_VOLATILE_WRITE;
	in.u.attach.with_fd = 1;
	request_round_trip(&in, &out);
	ck_assert_str_eq(out.u.attach.slot, "rootfs");
	ck_assert_str_eq(out.u.attach.path, in.u.attach.path);
	ck_assert_int_eq(out.u.attach.mode, BLOCK_MODE_VOLATILE_WRITE);
	ck_assert_int_eq(out.u.attach.with_fd, 1);

	in = (struct control_request){ .kind = CONTROL_REQ_STOP, .u.stop.timeout_ms = 2500 };
	snprintf(in.id, sizeof(in.id), "%s", "\"abc\"");
	request_round_trip(&in, &out);
	ck_assert_uint_eq(out.u.stop.timeout_ms, 2500);

	in = (struct control_request){ .kind = CONTROL_REQ_SNAPSHOT };
	request_round_trip(&in, &out);
}
END_TEST

static void reply_round_trip(const struct control_reply *in, struct control_reply *out)
{
	struct pupa_err err = { 0 };
	char *line = control_reply_encode(in);

	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_null(strchr(line, '\n'));
	ck_assert_msg(control_reply_decode(line, strlen(line), out, &err) == 0, "%s: %s", line, err.msg);
	ck_assert_int_eq(out->kind, in->kind);
	ck_assert_str_eq(out->id, in->id);
	free(line);
}

START_TEST(status_round_trip)
{
	static const char *const vols[] = { "/home/u/src", "/data" };
	static const int ro[] = { 0, 1 };
	struct port_publish p[2];
	static struct control_reply in, out;
	char why[128], text[PUBLISH_TEXT_MAX];

	ck_assert_int_eq(publish_parse("8080:80", &p[0], why, sizeof(why)), 0);
	ck_assert_int_eq(publish_parse("0.0.0.0:5353:53/udp", &p[1], why, sizeof(why)), 0);
	in = (struct control_reply){ .kind = CONTROL_REPLY_STATUS };
	snprintf(in.id, sizeof(in.id), "1");
	in.u.status = (struct control_status){
		.status = GUEST_STATUS_RUNNING, .has_net = 1, .has_fs = 1, .restore_us = 123456,
		.net = { .backend = "slirp", .allow_host_loopback = 1, .publish = p, .nr_publish = 2,
			 .rx_frames = 7, .tx_dropped = 1 },
		.fs = { .tag = "pupa", .volumes = vols, .ro = ro, .nr_volumes = 2, .requests = 42,
			.read_bytes = 1ull << 40, .write_bytes = 12 },
	};
	reply_round_trip(&in, &out);
	ck_assert_int_eq(out.u.status.status, GUEST_STATUS_RUNNING);
	ck_assert_uint_eq(out.u.status.restore_us, 123456);
	ck_assert(out.u.status.has_net && out.u.status.has_fs);
	ck_assert_str_eq(out.u.status.net.backend, "slirp");
	ck_assert_int_eq(out.u.status.net.allow_host_loopback, 1);
	ck_assert_uint_eq(out.u.status.net.nr_publish, 2);
	publish_format(&out.u.status.net.publish[1], text, sizeof(text));
	ck_assert_str_eq(text, "0.0.0.0:5353:53/udp");
	ck_assert_uint_eq(out.u.status.net.rx_frames, 7);
	ck_assert_uint_eq(out.u.status.net.tx_dropped, 1);
	ck_assert_str_eq(out.u.status.fs.tag, "pupa");
	ck_assert_uint_eq(out.u.status.fs.nr_volumes, 2);
	ck_assert_str_eq(out.u.status.fs.volumes[1], "/data");
	ck_assert_int_eq(out.u.status.fs.ro[1], 1);
	ck_assert_uint_eq(out.u.status.fs.read_bytes, 1ull << 40);
	control_reply_free(&out);

	/* Booted, no devices: none of their members, and the decoder says so. */
	in.u.status = (struct control_status){ .status = GUEST_STATUS_STARTING };
	reply_round_trip(&in, &out);
	ck_assert(!out.u.status.has_net && !out.u.status.has_fs && !out.u.status.restore_us);
	ck_assert_int_eq(out.u.status.status, GUEST_STATUS_STARTING);
	control_reply_free(&out);
}
END_TEST

START_TEST(replies_round_trip)
{
	static struct control_reply in, out;

	in = (struct control_reply){ .kind = CONTROL_REPLY_ERROR };
	guest_err(&in.u.error, GUEST_ERR_DEVICE_NOT_PRESENT, "no disk slot named 'x'");
	reply_round_trip(&in, &out);
	ck_assert_int_eq(out.u.error.type, PUPA_GUEST_ERROR);
	ck_assert_uint_eq(out.u.error.code, GUEST_ERR_DEVICE_NOT_PRESENT);
	ck_assert_str_eq(out.u.error.msg, "no disk slot named 'x'");
	control_reply_free(&out);

	in = (struct control_reply){ .kind = CONTROL_REPLY_ATTACH,
				     .u.attach = { "rootfs", "/x.img", BLOCK_MODE_READ_ONLY } };
	reply_round_trip(&in, &out);
	ck_assert_str_eq(out.u.attach.slot, "rootfs");
	ck_assert_str_eq(out.u.attach.path, "/x.img");
	ck_assert_int_eq(out.u.attach.mode, BLOCK_MODE_READ_ONLY);
	control_reply_free(&out);

	in = (struct control_reply){ .kind = CONTROL_REPLY_SNAPSHOT,
				     .u.snapshot = { .pages = 9, .paused_us = 8, .state_bytes = 7 } };
	reply_round_trip(&in, &out);
	ck_assert_uint_eq(out.u.snapshot.pages, 9);
	ck_assert_uint_eq(out.u.snapshot.paused_us, 8);
	ck_assert_uint_eq(out.u.snapshot.state_bytes, 7);
	control_reply_free(&out);

	in = (struct control_reply){ .kind = CONTROL_REPLY_STOP };
	reply_round_trip(&in, &out);
	control_reply_free(&out);

	in = (struct control_reply){ .kind = CONTROL_EVENT_STATUS, .u.event_status = GUEST_STATUS_STOPPING };
	reply_round_trip(&in, &out);
	ck_assert_int_eq(out.u.event_status, GUEST_STATUS_STOPPING);
	control_reply_free(&out);

	/* The exit: a GuestError, a snapshot refused; or a clean end. */
	in = (struct control_reply){ .kind = CONTROL_EVENT_EXIT,
				     .u.exit = { .status = GUEST_STATUS_STOPPED, .snapshot_refused = 1 } };
	guest_err(&in.u.exit.reason, GUEST_ERR_BAD_CONFIG, "snapshot s: made by another build");
	reply_round_trip(&in, &out);
	ck_assert_int_eq(out.u.exit.status, GUEST_STATUS_STOPPED);
	ck_assert_int_eq(out.u.exit.reason.type, PUPA_GUEST_ERROR);
	ck_assert_uint_eq(out.u.exit.reason.code, GUEST_ERR_BAD_CONFIG);
	ck_assert_str_eq(out.u.exit.reason.msg, "snapshot s: made by another build");
	ck_assert_int_eq(out.u.exit.snapshot_refused, 1);
	control_reply_free(&out);
	in.u.exit = (struct control_exit){ .status = GUEST_STATUS_STOPPED };
	snprintf(in.u.exit.reason.msg, sizeof(in.u.exit.reason.msg), "the guest halted");
	reply_round_trip(&in, &out);
	ck_assert_uint_eq(out.u.exit.reason.code, 0);
	ck_assert_str_eq(out.u.exit.reason.msg, "the guest halted");
	ck_assert_int_eq(out.u.exit.snapshot_refused, 0);
	control_reply_free(&out);
}
END_TEST

/* ---- hostile replies ------------------------------------------------------------------ */

static void refused(const char *line, size_t len)
{
	struct pupa_err err = { 0 };
	struct control_reply r;

	ck_assert_msg(control_reply_decode(line, len, &r, &err) < 0, "accepted: %.200s", line);
	ck_assert_msg(err.code != 0 && err.msg[0], "refused without a reason: %.200s", line);
	control_reply_free(&r);
}

#define REFUSED(s) refused((s), strlen(s))

START_TEST(hostile_replies)
{
	static const char nul[] = "{\"reply\":\"stop\",\"id\":\"a\0b\"}";
	char *huge, *many;
	size_t n;

	/* truncated, not an object, duplicate members */
	REFUSED("");
	REFUSED("{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"name\":\"kRunning\"");
	REFUSED("[\"reply\"]");
	REFUSED("{\"reply\":\"stop\",\"reply\":\"stop\"}");
	refused(nul, sizeof(nul) - 1);
	/* neither or both of reply and event, or names nobody sends */
	REFUSED("{}");
	REFUSED("{\"reply\":\"reboot\"}");
	REFUSED("{\"reply\":7}");
	REFUSED("{\"event\":\"boom\"}");
	REFUSED("{\"reply\":\"stop\",\"event\":\"exit\"}");
	/* wrong types, values outside the seed's enums */
	REFUSED("{\"reply\":\"status\",\"status\":\"kRunning\"}");
	REFUSED("{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":99}}");
	REFUSED("{\"reply\":\"status\",\"status\":{\"type\":\"GuestError\",\"value\":3}}");
	REFUSED("{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":-3}}");
	REFUSED("{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":3},"
		"\"restore_us\":-1}");
	REFUSED("{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":3},"
		"\"restore_us\":1.5}");
	REFUSED("{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":3},"
		"\"network\":{\"backend\":\"slirp\",\"allow_host_loopback\":false,\"publish\":[\"x\"]}}");
	REFUSED("{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":3},"
		"\"fs\":{\"tag\":\"pupa\",\"volumes\":[{\"path\":1,\"ro\":true}]}}");
	REFUSED("{\"reply\":\"error\",\"error\":{\"type\":\"GuestError\",\"value\":3}}");
	REFUSED("{\"reply\":\"error\",\"error\":{\"type\":\"GuestError\",\"value\":1000},\"message\":\"x\"}");
	REFUSED("{\"reply\":\"error\",\"error\":{\"type\":\"GuestStatus\",\"value\":3},\"message\":\"x\"}");
	REFUSED("{\"reply\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x\",\"mode\":\"ro\"}");
	REFUSED("{\"reply\":\"snapshot\",\"pages\":\"many\"}");
	REFUSED("{\"event\":\"exit\",\"status\":{\"type\":\"GuestStatus\",\"value\":5},\"message\":\"m\"}");
	REFUSED("{\"event\":\"exit\",\"status\":{\"type\":\"GuestStatus\",\"value\":5},\"reason\":7,"
		"\"message\":\"m\"}");
	REFUSED("{\"event\":\"exit\",\"status\":{\"type\":\"GuestStatus\",\"value\":5},\"reason\":null,"
		"\"message\":\"m\",\"snapshot_refused\":1}");

	/* huge: a line over the limit, an id too long to echo, arrays over their bounds */
	huge = malloc(CONTROL_MAX_REPLY + 64);
	ck_assert_ptr_nonnull(huge);
	n = (size_t)snprintf(huge, 64, "{\"reply\":\"stop\",\"x\":\"");
	memset(huge + n, 'a', CONTROL_MAX_REPLY);
	memcpy(huge + n + CONTROL_MAX_REPLY, "\"}", 3);
	REFUSED(huge);
	n = (size_t)snprintf(huge, 64, "{\"reply\":\"stop\",\"id\":\"");
	memset(huge + n, 'a', CONTROL_MAX_ID);
	memcpy(huge + n + CONTROL_MAX_ID, "\"}", 3);
	REFUSED(huge);
	many = huge;
	n = (size_t)sprintf(many, "{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":3},"
			    "\"fs\":{\"tag\":\"t\",\"volumes\":[");
	for (int i = 0; i <= CONTROL_MAX_VOLUMES; i++)
		n += (size_t)sprintf(many + n, "%s{\"path\":\"/v\",\"ro\":false}", i ? "," : "");
	sprintf(many + n, "]}}");
	REFUSED(many);
	n = (size_t)sprintf(many, "{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":3},"
			    "\"network\":{\"backend\":\"slirp\",\"allow_host_loopback\":false,\"publish\":[");
	for (int i = 0; i <= PUBLISH_MAX; i++)
		n += (size_t)sprintf(many + n, "%s\"%d:80\"", i ? "," : "", 1000 + i);
	sprintf(many + n, "]}}");
	REFUSED(many);
	free(huge);
}
END_TEST

/* An error reply decodes into a pupa_err carrying its GuestError, and its
 * message is made safe for a terminal. */
START_TEST(error_reply_is_a_pupa_err)
{
	static const char line[] = "{\"reply\":\"error\",\"error\":{\"type\":\"GuestError\","
				   "\"name\":\"kNotCreated\",\"value\":13},\"message\":\"not \\u001b[31mrunning\"}";
	struct pupa_err err = { 0 };
	struct control_reply r;

	ck_assert_int_eq(control_reply_decode(line, strlen(line), &r, &err), 0);
	ck_assert_int_eq(r.kind, CONTROL_REPLY_ERROR);
	ck_assert_int_eq(r.u.error.type, PUPA_GUEST_ERROR);
	ck_assert_uint_eq(r.u.error.code, GUEST_ERR_NOT_CREATED);
	ck_assert_str_eq(r.u.error.msg, "not ?[31mrunning");
	control_reply_free(&r);
}
END_TEST

/* ---- both ends over a socket ------------------------------------------------------------ */

static enum guest_status srv_status = GUEST_STATUS_RUNNING;
static int srv_attach_fd = -2;
static unsigned int srv_stop_ms;

static enum guest_status f_status(void *ctx) { return srv_status; }

static int f_attach(void *ctx, const char *slot, const char *path, int fd, enum block_mode mode,
		    struct pupa_err *err)
{
	srv_attach_fd = fd;
	if (fd >= 0)
		close(fd);
	if (strcmp(slot, "rootfs") != 0)
		return guest_err(err, GUEST_ERR_DEVICE_NOT_PRESENT, "no disk slot named '%s'", slot);
	return 0;
}

static void f_stop(void *ctx, unsigned int ms) { srv_stop_ms = ms; }

static uint64_t f_restore_us(void *ctx) { return 2500; }

static int f_snapshot(void *ctx, int fd, struct control_snapshot *out, struct pupa_err *err)
{
	*out = (struct control_snapshot){ .pages = 3, .paused_us = 4, .state_bytes = 5 };
	return 0;
}

static const struct control_ops srv_ops = { .status = f_status, .attach = f_attach, .stop = f_stop,
					    .restore_us = f_restore_us, .snapshot = f_snapshot };

struct server {
	struct event_loop loop;
	struct control *ctl;
	pthread_t thread;
	volatile int quit;
};

static void *serve(void *arg)
{
	struct server *s = arg;

	while (!s->quit) {
		ev_loop__run_once(&s->loop, 20);
		control__reap(s->ctl);
	}
	return NULL;
}

START_TEST(client_and_server)
{
	struct server s = { 0 };
	struct pupa_err err = { 0 };
	struct control_reply st;
	struct control_snapshot snap;
	char sock[512], img[512];
	int fd;

	make_tmpdir();
	snprintf(sock, sizeof(sock), "%s/control", tmpdir);
	snprintf(img, sizeof(img), "%s/disk.img", tmpdir);
	write_file(img, "x", 1);
	ck_assert_int_eq(ev_loop__init(&s.loop), 0);
	ck_assert_int_eq(control__open(&s.ctl, sock, &s.loop, &srv_ops, NULL, &err), 0);
	ck_assert_int_eq(pthread_create(&s.thread, NULL, serve, &s), 0);

	ck_assert_int_eq(vmm_client_status(sock, &st, &err), 0);
	ck_assert_int_eq(st.u.status.status, GUEST_STATUS_RUNNING);
	ck_assert_uint_eq(st.u.status.restore_us, 2500);
	control_reply_free(&st);

	fd = open(img, O_RDONLY);
	ck_assert_int_eq(vmm_client_attach(sock, "rootfs", img, fd, BLOCK_MODE_READ_ONLY, &err), 0);
	ck_assert_int_ge(srv_attach_fd, 0);	/* the descriptor crossed over */
	/* An error reply: pupa-vmm's GuestError, as it sent it. */
	ck_assert_int_eq(vmm_client_attach(sock, "data", img, fd, BLOCK_MODE_READ_ONLY, &err),
			 -GUEST_ERR_DEVICE_NOT_PRESENT);
	ck_assert_int_eq(err.type, PUPA_GUEST_ERROR);
	ck_assert_ptr_nonnull(strstr(err.msg, "no disk slot named 'data'"));
	memset(&err, 0, sizeof(err));
	srv_status = GUEST_STATUS_STOPPING;
	ck_assert_int_eq(vmm_client_attach(sock, "rootfs", img, fd, BLOCK_MODE_READ_ONLY, &err),
			 -GUEST_ERR_NOT_CREATED);
	srv_status = GUEST_STATUS_RUNNING;
	memset(&err, 0, sizeof(err));

	ck_assert_int_eq(vmm_client_snapshot(sock, fd, &snap, &err), 0);
	ck_assert_uint_eq(snap.pages, 3);
	ck_assert_uint_eq(snap.state_bytes, 5);
	close(fd);

	ck_assert_int_eq(vmm_client_stop(sock, 1234, &err), 0);
	ck_assert_uint_eq(srv_stop_ms, 1234);

	s.quit = 1;
	pthread_join(s.thread, NULL);
	control__close(s.ctl);
	ev_loop__destroy(&s.loop);
	/* Nobody there: a clear error, no hang. */
	ck_assert_int_lt(vmm_client_status(sock, &st, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot reach pupa-vmm"));
	control_reply_free(&st);
	remove_tmpdir();
}
END_TEST

/* A fake pupa-vmm: accepts one connection, reads the request, writes text. */
struct fake {
	int listen_fd;
	const char *text;
	size_t len;
	pthread_t thread;
};

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	int c = accept(f->listen_fd, NULL, NULL);
	char buf[4096];

	if (c < 0)
		return NULL;
	if (read(c, buf, sizeof(buf)) > 0) {
		for (size_t off = 0; off < f->len;) {
			ssize_t n = write(c, f->text + off, f->len - off);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	close(c);
	return NULL;
}

/* Ask for status from a fake that answers text; the call's result. */
static int ask_fake(const char *text, size_t len, struct control_reply *st, struct pupa_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake f = { .text = text, .len = len };
	int ret;

	ck_assert_uint_lt(strlen(tmpdir) + 6, sizeof(sa.sun_path));
	memcpy(sa.sun_path, tmpdir, strlen(tmpdir));
	memcpy(sa.sun_path + strlen(tmpdir), "/fake", 6);
	unlink(sa.sun_path);
	f.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(f.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f.listen_fd, 1), 0);
	ck_assert_int_eq(pthread_create(&f.thread, NULL, fake_serve, &f), 0);
	memset(err, 0, sizeof(*err));
	ret = vmm_client_status(sa.sun_path, st, err);
	pthread_join(f.thread, NULL);
	close(f.listen_fd);
	return ret;
}

#define STATUS_RUNNING "{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":3}}\n"

START_TEST(client_refuses_hostile_servers)
{
	struct pupa_err err;
	struct control_reply st;
	char *huge;

	make_tmpdir();
	/* Events before the reply are passed over. */
	ck_assert_int_eq(ask_fake("{\"event\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"value\":2}}\n"
				  STATUS_RUNNING, strlen(STATUS_RUNNING) + 63, &st, &err), 0);
	ck_assert_int_eq(st.u.status.status, GUEST_STATUS_RUNNING);
	control_reply_free(&st);
	/* A reply cut short (no newline before the end) */
	ck_assert_int_lt(ask_fake(STATUS_RUNNING, strlen(STATUS_RUNNING) - 1, &st, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "closed the connection"));
	control_reply_free(&st);
	/* the reply to another request */
	ck_assert_int_lt(ask_fake("{\"reply\":\"stop\"}\n", 17, &st, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "another request"));
	control_reply_free(&st);
	/* wrong types */
	ck_assert_int_lt(ask_fake("{\"reply\":\"status\",\"status\":3}\n", 31, &st, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a GuestStatus"));
	control_reply_free(&st);
	/* a line over a megabyte */
	huge = malloc(CONTROL_MAX_REPLY + 16);
	memset(huge, ' ', CONTROL_MAX_REPLY + 16);
	ck_assert_int_lt(ask_fake(huge, CONTROL_MAX_REPLY + 16, &st, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "over its 1 MiB limit"));
	control_reply_free(&st);
	free(huge);
	remove_tmpdir();
}
END_TEST

/* ---- the exit record ------------------------------------------------------------------ */

#define EXIT_LINE "{\"event\":\"exit\",\"status\":{\"type\":\"GuestStatus\",\"name\":\"kStopped\"," \
		  "\"value\":5},\"reason\":{\"type\":\"GuestError\",\"name\":\"kBadConfig\",\"value\":3}," \
		  "\"message\":\"snapshot s: cut short\",\"snapshot_refused\":true}"

static int record(const char *text, size_t len, struct control_exit *ex, struct pupa_err *err)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/vmm-exit.json", tmpdir);
	unlink(path);
	if (text)
		write_file(path, text, len);
	memset(err, 0, sizeof(*err));
	return vmm_client_exit_record(path, ex, err);
}

START_TEST(exit_records)
{
	struct control_exit ex;
	struct pupa_err err;
	char path[512], link[512];

	make_tmpdir();
	ck_assert_int_eq(record(EXIT_LINE "\n", strlen(EXIT_LINE) + 1, &ex, &err), 0);
	ck_assert_uint_eq(ex.reason.code, GUEST_ERR_BAD_CONFIG);
	ck_assert_int_eq(ex.snapshot_refused, 1);
	ck_assert_str_eq(ex.reason.msg, "snapshot s: cut short");
	/* missing, empty, unfinished: pupa-vmm never said its last word */
	ck_assert_int_eq(record(NULL, 0, &ex, &err), -ENOENT);
	ck_assert_int_eq(record("", 0, &ex, &err), -ENOENT);
	ck_assert_int_eq(record(EXIT_LINE, strlen(EXIT_LINE), &ex, &err), -ENOENT);
	ck_assert_int_eq(record(EXIT_LINE, 40, &ex, &err), -ENOENT);
	ck_assert_int_eq(record(EXIT_LINE "\n" EXIT_LINE "\n", 2 * strlen(EXIT_LINE) + 2, &ex, &err),
			 -ENOENT);
	/* a whole line that is not an exit record */
	ck_assert_int_lt(record("{\"reply\":\"stop\"}\n", 17, &ex, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "not an exit record"));
	ck_assert_int_lt(record("{\"event\":\"exit\"}\n", 17, &ex, &err), 0);
	ck_assert_uint_ne(err.code, 0);
	/* a symlink or a folder in its place is not followed */
	snprintf(path, sizeof(path), "%s/vmm-exit.json", tmpdir);
	snprintf(link, sizeof(link), "%s/real", tmpdir);
	write_file(link, EXIT_LINE "\n", strlen(EXIT_LINE) + 1);
	unlink(path);
	ck_assert_int_eq(symlink(link, path), 0);
	ck_assert_int_eq(vmm_client_exit_record(path, &ex, &err), -ENOENT);
	unlink(path);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(vmm_client_exit_record(path, &ex, &err), -ENOENT);
	rmdir(path);
	remove_tmpdir();
}
END_TEST

/* ---- vmm_proc judges pupa-vmm by its record -------------------------------------------- */

/* A stand-in pupa-vmm: a script given the flags pupa passes. */
static void spawn_fake(struct vmm_proc *v, const char *body)
{
	struct vmm_spec spec = { .kernel = "k", .initrd = "i", .rundir = tmpdir, .memory_mib = 64,
				 .cpus = 1, .agent_port = 1024 };
	struct pupa_err err = { 0 };
	char script[512], text[2048];

	snprintf(script, sizeof(script), "%s/fake-vmm", tmpdir);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "while [ $# -gt 0 ]; do [ \"$1\" = --exit-record ] && rec=$2; shift; done\n"
		 "%s\n", body);
	write_file(script, text, strlen(text));
	spec.vmm = script;
	ck_assert_int_eq(vmm_proc_spawn(v, &spec, &err), 0);
	while (!vmm_proc_reap(v))
		usleep(10000);
}

START_TEST(vmm_proc_reads_the_record)
{
	struct pupa_err err = { 0 };
	struct control_exit ex;
	struct vmm_proc v;
	char why[1400];

	make_tmpdir();
	/* SIGKILL: it wrote nothing (not even the record it had opened). */
	spawn_fake(&v, ": > \"$rec\"; echo 'pupa-vmm: BadConfig (GuestError 3): snapshot s: x' >&2; "
		       "kill -KILL $$");
	ck_assert_int_eq(vmm_proc_exit(&v, &ex, &err), -ENOENT);
	ck_assert_int_eq(vmm_proc_refused_snapshot(&v), 0);
	vmm_proc_why(&v, why, sizeof(why));
	ck_assert_msg(strstr(why, "VmmUnexpectedTermination") &&
		      strstr(why, "pupa-vmm was killed by signal 9"), "%s", why);

	/* Exited with a BadConfig, the log saying it was the snapshot, but no
	 * record: not a refused snapshot (the log is not read for that). */
	spawn_fake(&v, ": > \"$rec\"; echo 'pupa-vmm: BadConfig (GuestError 3): snapshot s: x' >&2; "
		       "exit 3");
	ck_assert_int_eq(vmm_proc_refused_snapshot(&v), 0);
	vmm_proc_why(&v, why, sizeof(why));
	/* Its own line is shown (pupa-vmm stops before its record on a bad
	 * option, and that line is all there is to say), with this side's
	 * name. */
	ck_assert_msg(strstr(why, "VmmUnexpectedTermination") &&
		      strstr(why, "snapshot s: x"), "%s", why);

	/* No record and nothing of pupa-vmm's own in its log: said so. */
	spawn_fake(&v, "echo 'something else' >&2; exit 3");
	ck_assert_int_eq(vmm_proc_refused_snapshot(&v), 0);
	vmm_proc_why(&v, why, sizeof(why));
	ck_assert_msg(strstr(why, "VmmUnexpectedTermination") &&
		      strstr(why, "pupa-vmm exited with status 3 and left no exit record"), "%s", why);

	/* The record says the snapshot was refused: that is what counts. */
	spawn_fake(&v, "printf '%s\\n' '" EXIT_LINE "' > \"$rec\"; exit 3");
	ck_assert_int_eq(vmm_proc_refused_snapshot(&v), 1);
	vmm_proc_why(&v, why, sizeof(why));
	ck_assert_msg(strstr(why, "VmmUnexpectedTermination") && strstr(why, "BadConfig") &&
		      strstr(why, "snapshot s: cut short") && !strstr(why, "no exit record"), "%s", why);

	/* A record cut short is no record. */
	spawn_fake(&v, "printf '%s' '" EXIT_LINE "' > \"$rec\"; exit 3");
	ck_assert_int_eq(vmm_proc_refused_snapshot(&v), 0);
	vmm_proc_why(&v, why, sizeof(why));
	ck_assert_msg(strstr(why, "left no exit record") != NULL, "%s", why);
	remove_tmpdir();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("control-proto");
	TCase *tc = tcase_create("core");

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, requests_round_trip);
	tcase_add_test(tc, status_round_trip);
	tcase_add_test(tc, replies_round_trip);
	tcase_add_test(tc, hostile_replies);
	tcase_add_test(tc, error_reply_is_a_pupa_err);
	tcase_add_test(tc, client_and_server);
	tcase_add_test(tc, client_refuses_hostile_servers);
	tcase_add_test(tc, exit_records);
	tcase_add_test(tc, vmm_proc_reads_the_record);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
