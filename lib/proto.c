#include "proto.h"

#include <errno.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16; }

void proto_begin(struct proto_writer *w, enum proto_type type)
{
	memcpy(w->buf, PROTO_MAGIC, 4);
	put16(w->buf + 4, PROTO_VERSION);
	put16(w->buf + 6, (uint16_t)type);
	put32(w->buf + 8, 0);
	w->len = PROTO_HEADER_SIZE;
	w->overflow = 0;
}

void proto_put(struct proto_writer *w, uint16_t tag, const void *data, size_t len)
{
	if (w->overflow || len > UINT16_MAX ||
	    w->len + PROTO_FIELD_HEADER + len > sizeof(w->buf)) {
		w->overflow = 1;
		return;
	}
	put16(w->buf + w->len, tag);
	put16(w->buf + w->len + 2, (uint16_t)len);
	if (len)
		memcpy(w->buf + w->len + PROTO_FIELD_HEADER, data, len);
	w->len += PROTO_FIELD_HEADER + len;
}

void proto_put_u32(struct proto_writer *w, uint16_t tag, uint32_t v)
{
	uint8_t b[4];

	put32(b, v);
	proto_put(w, tag, b, sizeof(b));
}

void proto_put_str(struct proto_writer *w, uint16_t tag, const char *s)
{
	proto_put(w, tag, s, strlen(s));
}

long proto_finish(struct proto_writer *w)
{
	if (w->overflow)
		return -EMSGSIZE;
	put32(w->buf + 8, (uint32_t)(w->len - PROTO_HEADER_SIZE));
	return (long)w->len;
}

int proto_parse(const uint8_t *buf, size_t len, struct proto_msg *msg, size_t *consumed)
{
	uint32_t payload;
	size_t off;

	if (len < PROTO_HEADER_SIZE) {
		/* Refuse a bad magic as soon as its bytes are in, not after a timeout. */
		if (memcmp(buf, PROTO_MAGIC, len < 4 ? len : 4) != 0)
			return -EPROTO;
		return -EAGAIN;
	}
	if (memcmp(buf, PROTO_MAGIC, 4) != 0 || get16(buf + 4) != PROTO_VERSION)
		return -EPROTO;
	msg->type = get16(buf + 6);
	if (msg->type == 0 || msg->type > PROTO_TYPE_MAX)
		return -EPROTO;
	payload = get32(buf + 8);
	if (payload > PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (len - PROTO_HEADER_SIZE < payload)
		return -EAGAIN;

	msg->nr_fields = 0;
	for (off = PROTO_HEADER_SIZE; off < PROTO_HEADER_SIZE + payload;) {
		const uint8_t *f = buf + off;
		uint16_t flen;

		if (PROTO_HEADER_SIZE + payload - off < PROTO_FIELD_HEADER)
			return -EPROTO;
		flen = get16(f + 2);
		if (PROTO_HEADER_SIZE + payload - off - PROTO_FIELD_HEADER < flen)
			return -EPROTO;
		if (msg->nr_fields == PROTO_MAX_FIELDS)
			return -EPROTO;
		msg->fields[msg->nr_fields++] = (struct proto_field){
			.tag = get16(f), .len = flen, .data = f + PROTO_FIELD_HEADER,
		};
		off += PROTO_FIELD_HEADER + flen;
	}
	*consumed = PROTO_HEADER_SIZE + payload;
	return 0;
}

const struct proto_field *proto_get(const struct proto_msg *msg, uint16_t tag)
{
	for (unsigned int i = 0; i < msg->nr_fields; i++)
		if (msg->fields[i].tag == tag)
			return &msg->fields[i];
	return NULL;
}

int proto_get_u32(const struct proto_msg *msg, uint16_t tag, uint32_t *v)
{
	const struct proto_field *f = proto_get(msg, tag);

	if (!f)
		return -ENOENT;
	if (f->len != 4)
		return -EPROTO;
	*v = get32(f->data);
	return 0;
}

int proto_get_str(const struct proto_msg *msg, uint16_t tag, char *out, size_t size)
{
	const struct proto_field *f = proto_get(msg, tag);

	if (!f)
		return -ENOENT;
	if (memchr(f->data, '\0', f->len))
		return -EPROTO;
	if ((size_t)f->len + 1 > size)
		return -ENOSPC;
	memcpy(out, f->data, f->len);
	out[f->len] = '\0';
	return 0;
}

const char *proto_type_name(uint16_t type)
{
	static const char *const names[] = {
		[PROTO_HELLO] = "HELLO", [PROTO_ATTACHED] = "ATTACHED", [PROTO_START] = "START",
		[PROTO_STARTED] = "STARTED", [PROTO_SIGNAL] = "SIGNAL", [PROTO_WINSIZE] = "WINSIZE",
		[PROTO_EXIT] = "EXIT", [PROTO_ACK] = "ACK", [PROTO_ERROR] = "ERROR",
		[PROTO_FREEZE] = "FREEZE", [PROTO_FROZEN] = "FROZEN",
	};

	return type && type <= PROTO_TYPE_MAX ? names[type] : "unknown";
}
