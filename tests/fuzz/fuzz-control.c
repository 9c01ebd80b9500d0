/* SPDX-License-Identifier: MIT */
/* pupa-vmm's control socket: one JSON request line in, one reply out. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *reply = control__handle_line((const char *)data, size, &ops, NULL);

	/* A reply is one line: the protocol is newline-framed. */
	if (reply && strchr(reply, '\n'))
		abort();
	free(reply);
	return 0;
}

void fuzz_seeds(void)
{
	static const char *const lines[] = {
		"{\"request\":\"status\",\"id\":7}",
		"{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x.img\",\"mode\":\"VolatileWrite\"}",
		"{\"request\":\"attach\",\"slot\":\"rootfs\",\"path\":\"/x.img\",\"mode\":\"ro\",\"id\":\"a\"}",
		"{\"request\":\"stop\",\"timeout_ms\":500}",
	};
	char name[16];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(name, sizeof(name), "req-%zu", i);
		fuzz_seed(name, lines[i], strlen(lines[i]));
	}
}
