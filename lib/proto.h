/*
 * The host<->guest agent protocol's framing, shared by pupa (host) and
 * pupa-init (guest). Every message is one frame:
 *
 *   offset  size  field
 *   0       4     magic "PUPA"
 *   4       2     version (PROTO_VERSION), little-endian
 *   6       2     message type, little-endian
 *   8       4     payload length, little-endian, at most PROTO_MAX_PAYLOAD
 *   12      ...   payload: fields, each u16 tag, u16 length, then the bytes
 *
 * The reader trusts nothing: a frame with another magic or version, an
 * unknown type, a length over the limit, a field that runs past the
 * payload or more than PROTO_MAX_FIELDS fields is refused as a whole. The
 * meaning of each type's fields is the agent protocol's (pupa-init(8)).
 */
#ifndef PUPA_PROTO_H
#define PUPA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC		"PUPA"
#define PROTO_VERSION		1
#define PROTO_HEADER_SIZE	12
#define PROTO_MAX_PAYLOAD	(64 * 1024)
#define PROTO_MAX_FIELDS	1024
#define PROTO_FIELD_HEADER	4

enum proto_type {
	PROTO_HELLO = 1,	/* guest -> host: the agent is up */
	PROTO_ATTACHED,		/* host -> guest: the root disk is there */
	PROTO_START,		/* host -> guest: run the container's process */
	PROTO_STARTED,		/* guest -> host: it runs */
	PROTO_SIGNAL,		/* host -> guest: deliver a signal */
	PROTO_WINSIZE,		/* host -> guest: terminal size */
	PROTO_EXIT,		/* guest -> host: it ended */
	PROTO_ACK,		/* host -> guest: EXIT received */
	PROTO_ERROR,		/* either way: a request failed */
	PROTO_FREEZE,		/* host -> guest: get ready for a snapshot */
	PROTO_FROZEN,		/* guest -> host: ready; it reconnects after */
	PROTO_TYPE_MAX = PROTO_FROZEN,
};

struct proto_field {
	uint16_t tag;
	uint16_t len;
	const uint8_t *data;	/* points into the frame */
};

struct proto_msg {
	uint16_t type;
	unsigned int nr_fields;
	struct proto_field fields[PROTO_MAX_FIELDS];
};

/* A frame being built; the buffer holds the largest frame allowed. */
struct proto_writer {
	uint8_t buf[PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD];
	size_t len;
	int overflow;
};

void proto_begin(struct proto_writer *w, enum proto_type type);
void proto_put(struct proto_writer *w, uint16_t tag, const void *data, size_t len);
void proto_put_u32(struct proto_writer *w, uint16_t tag, uint32_t v);
void proto_put_str(struct proto_writer *w, uint16_t tag, const char *s);
/* Seal the frame; its size, or -EMSGSIZE if the fields did not fit. */
long proto_finish(struct proto_writer *w);

/*
 * Parse one frame from the start of buf. 0 with *consumed set when whole;
 * -EAGAIN when buf holds only part of it; -EPROTO for a malformed frame
 * (bad magic, version, type or fields); -EMSGSIZE for a length over the
 * limit. msg's fields point into buf.
 */
int proto_parse(const uint8_t *buf, size_t len, struct proto_msg *msg, size_t *consumed);

/* Look a field up (the first with that tag); NULL if absent. */
const struct proto_field *proto_get(const struct proto_msg *msg, uint16_t tag);
/* A 4-byte field; -ENOENT if absent, -EPROTO if not 4 bytes. */
int proto_get_u32(const struct proto_msg *msg, uint16_t tag, uint32_t *v);
/* A string field copied with its NUL; -EPROTO if it holds a NUL, -ENOSPC if too long. */
int proto_get_str(const struct proto_msg *msg, uint16_t tag, char *out, size_t size);

const char *proto_type_name(uint16_t type);

#endif
