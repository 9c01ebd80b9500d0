/* SPDX-License-Identifier: MIT */
/*
 * The agent protocol both ways: what pupa reads from a guest and what
 * pupa-init reads from the host go through the same framing (a stream cut
 * anywhere, here by the first input byte), the same parser and the same
 * field getters.
 */
#include <errno.h>
#include <string.h>

#include "agent_proto.h"
#include "fuzz.h"
#include "proto_io.h"

static volatile uint8_t sink;

static void fuzz__fields(const struct proto_msg *m)
{
	char s[AGENT_MAX_STR];
	uint32_t v;

	for (uint16_t tag = 0; tag <= F_CODE + 1; tag++) {
		const struct proto_field *f = proto_get(m, tag);

		if (f && f->len)	/* the sanitizers check both ends */
			sink ^= f->data[0] ^ f->data[f->len - 1];
		proto_get_u32(m, tag, &v);
		proto_get_str(m, tag, s, sizeof(s));
		proto_get_str(m, tag, s, 8);
	}
	proto_type_name(m->type);
}

/*
 * The bytes arrive in reads of data[0] bytes each, appended to the receive
 * buffer as proto_rbuf_read() would (it is a read() into the same place;
 * the unit tests drive it through real sockets), so that a frame is cut at
 * every possible point without a system call per byte.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_rbuf rb;
	struct proto_msg m;
	size_t chunk, off = 1;

	if (size < 1)
		return 0;
	rb.len = rb.pending = 0;
	chunk = data[0] ? data[0] : 1;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		int ret;

		if (n > sizeof(rb.buf) - rb.len)
			break;	/* proto_rbuf_read() says ENOBUFS here */
		memcpy(rb.buf + rb.len, data + off, n);
		rb.len += n;
		off += n;
		while ((ret = proto_rbuf_next(&rb, &m)) == 0)
			fuzz__fields(&m);
		if (ret != -EAGAIN)
			break;	/* a malformed frame ends the connection */
	}
	return 0;
}

void fuzz_seeds(void)
{
	static struct proto_writer w;
	static uint8_t buf[65536];
	size_t n = 1;
	long len;

	buf[0] = 7;
	proto_begin(&w, PROTO_HELLO);
	proto_put_u32(&w, F_VERSION, AGENT_PROTO_VERSION);
	len = proto_finish(&w);
	memcpy(buf + n, w.buf, (size_t)len);
	n += (size_t)len;
	proto_begin(&w, PROTO_START);
	proto_put_str(&w, F_ARG, "/bin/sh");
	proto_put_str(&w, F_ARG, "-c");
	proto_put_str(&w, F_ENV, "PATH=/bin");
	proto_put_str(&w, F_USER, "nobody:nogroup");
	proto_put_u32(&w, F_TTY, 1);
	proto_put_u32(&w, F_ROWS, 24);
	len = proto_finish(&w);
	memcpy(buf + n, w.buf, (size_t)len);
	n += (size_t)len;
	proto_begin(&w, PROTO_EXIT);
	proto_put_u32(&w, F_EXIT_CODE, 3);
	proto_put_str(&w, F_MESSAGE, "done");
	len = proto_finish(&w);
	memcpy(buf + n, w.buf, (size_t)len);
	n += (size_t)len;
	fuzz_seed("hello-start-exit", buf, n);
}
