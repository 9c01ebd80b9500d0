/* SPDX-License-Identifier: MIT */
/*
 * The control socket, both ends: pupa-vmm's server (one request line in,
 * one reply out) and pupa's decoder of replies, events and exit records
 * (what a hostile pupa-vmm could send). A reply that decodes must encode
 * again into one line that decodes to the same kind.
 */
#include <string.h>

#include "control.h"
#include "fuzz.h"

static enum guest_status f_status(void *ctx) { return GUEST_STATUS_RUNNING; }

static int f_attach(void *ctx, const char *slot, const char *path, int fd, enum block_mode mode,
		    struct pupa_err *err)
{
	if (strcmp(slot, "rootfs") != 0)
		return pupa_err_set(err, PUPA_GUEST_ERROR, GUEST_ERR_DEVICE_NOT_PRESENT, "no %s", slot);
	return 0;
}

static void f_stop(void *ctx, unsigned int ms) { }

static const struct control_ops ops = { .status = f_status, .attach = f_attach, .stop = f_stop };

static void client_side(const uint8_t *data, size_t size)
{
	struct pupa_err err = { 0 };
	struct control_reply r, again;
	char *line;

	if (control_reply_decode((const char *)data, size, &r, &err) < 0) {
		if (!err.code)
			abort();	/* refused without a reason */
		control_reply_free(&r);
		return;
	}
	line = control_reply_encode(&r);
	if (!line || strchr(line, '\n'))
		abort();
	memset(&err, 0, sizeof(err));
	if (control_reply_decode(line, strlen(line), &again, &err) < 0 || again.kind != r.kind)
		abort();
	control_reply_free(&again);
	control_reply_free(&r);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *reply = control__handle_line((const char *)data, size, &ops, NULL);

	/* A reply is one line: the protocol is newline-framed. */
	if (reply && strchr(reply, '\n'))
		abort();
	free(reply);
	client_side(data, size);
	return 0;
}

void fuzz_seeds(void)
{
	static const char *const lines[] = {
		"{\"request\":\"status\",\"id\":7}",
		"{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x.img\",\"mode\":\"VolatileWrite\"}",
		"{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x.img\",\"mode\":\"ro\",\"id\":\"a\"}",
		"{\"request\":\"stop\",\"timeout_ms\":500}",
		"{\"reply\":\"status\",\"status\":{\"type\":\"GuestStatus\",\"name\":\"kRunning\","
		"\"value\":3},\"network\":{\"backend\":\"slirp\",\"allow_host_loopback\":false,"
		"\"publish\":[\"127.0.0.1:8080:80/tcp\"],\"rx_frames\":1,\"rx_dropped\":0,"
		"\"tx_frames\":2,\"tx_dropped\":0},\"fs\":{\"tag\":\"pupa\",\"volumes\":"
		"[{\"path\":\"/d\",\"ro\":true}],\"requests\":4},\"restore_us\":9,\"id\":1}",
		"{\"reply\":\"error\",\"error\":{\"type\":\"GuestError\",\"name\":\"kNotCreated\","
		"\"value\":13},\"message\":\"attach: the guest is not running\"}",
		"{\"reply\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x\",\"mode\":"
		"{\"type\":\"BlockMode\",\"name\":\"kReadOnly\",\"value\":1}}",
		"{\"reply\":\"snapshot\",\"pages\":1,\"paused_us\":2,\"state_bytes\":3}",
		"{\"event\":\"exit\",\"status\":{\"type\":\"GuestStatus\",\"name\":\"kStopped\","
		"\"value\":5},\"reason\":{\"type\":\"GuestError\",\"name\":\"kBadConfig\","
		"\"value\":3},\"message\":\"snapshot s: cut\",\"snapshot_refused\":true}",
	};
	char name[16];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(name, sizeof(name), "req-%zu", i);
		fuzz_seed(name, lines[i], strlen(lines[i]));
	}
}
