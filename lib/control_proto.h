/* SPDX-License-Identifier: MIT */
/*
 * The control socket's contract, read and written by both ends: pupa-vmm
 * (vmm/control.c, the server) and pupa (container/vmm_client.c). JSON, one
 * object per line:
 *
 *   {"request":"status"}
 *   {"request":"attach","slot":NAME,"path":PATH,"mode":"ReadOnly","fd":true}
 *   {"request":"stop","timeout_ms":N}
 *   {"request":"snapshot"}			(the file comes as SCM_RIGHTS)
 *
 * An "id" member, if any, is echoed in the reply. A reply carries "reply"
 * (the request's name, or "error" with the GuestError by type, name and
 * value and a "message"); events carry "event": "status" at every
 * GuestStatus change and "exit" at the end. The exit event is also
 * pupa-vmm's exit record (--exit-record): its last word, in a file.
 *
 * Each message is a C type with one encoder (a malloc'd line without its
 * newline) and one decoder that refuses what does not fit the type: wrong
 * member types, unknown names, values outside the seed's enums, counts over
 * the bounds below. An error reply decodes into a struct pupa_err with its
 * GuestError. jansson stays behind this file.
 */
#ifndef PUPA_CONTROL_PROTO_H
#define PUPA_CONTROL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "enums.h"
#include "error.h"
#include "publish.h"

#define CONTROL_MAX_LINE	4096		/* a request */
#define CONTROL_MAX_REPLY	(1 << 20)	/* a reply or an event */
#define CONTROL_MAX_ID		128		/* the "id" member's JSON text */
#define CONTROL_MAX_SLOT	64
#define CONTROL_MAX_THREAD	16
#define CONTROL_MAX_VOLUMES	64
#define CONTROL_MAX_STOP_MS	3600000u

enum control_request_kind {
	CONTROL_REQ_STATUS,
	CONTROL_REQ_ATTACH,
	CONTROL_REQ_STOP,
	CONTROL_REQ_SNAPSHOT,
	CONTROL_REQ_TEST_SYSCALL,	/* test builds of pupa-vmm only */
};

struct control_request {
	enum control_request_kind kind;
	char id[CONTROL_MAX_ID];	/* the "id" member as JSON text; "" for none */
	union {
		struct {
			char slot[CONTROL_MAX_SLOT];
			char path[CONTROL_MAX_LINE];
			enum block_mode mode;
			int with_fd;	/* the medium comes with the line (SCM_RIGHTS) */
		} attach;
		struct {
			unsigned int timeout_ms;
		} stop;
		struct {
			char thread[CONTROL_MAX_THREAD];
		} test_syscall;
	} u;
};

/* What status says about the network. */
struct control_net {
	const char *backend;			/* "slirp" */
	int allow_host_loopback;
	const struct port_publish *publish;
	unsigned int nr_publish;
	uint64_t rx_frames, rx_dropped, tx_frames, tx_dropped;
};

/* What status says about virtio-fs. */
struct control_fs {
	const char *tag;
	const char *const *volumes;		/* host folders, entries 0, 1, ... */
	const int *ro;
	unsigned int nr_volumes;
	uint64_t requests, nodes, open_fds, fd_budget, evictions, reopens;
	uint64_t reads, read_bytes, writes, write_bytes;
};

struct control_status {
	enum guest_status status;
	int has_net, has_fs;
	struct control_net net;
	struct control_fs fs;
	uint64_t restore_us;		/* resumed from --restore: how long it took; 0 booted */
};

struct control_attached {
	const char *slot, *path;
	enum block_mode mode;
};

struct control_snapshot {
	uint64_t pages;			/* of RAM written */
	uint64_t paused_us;		/* how long the guest stood still */
	uint64_t state_bytes;
};

/*
 * pupa-vmm's last word. reason.code 0: it ended cleanly and reason.msg says
 * how (a halt, a stop request). snapshot_refused: the snapshot given to
 * --restore was refused (damaged, cut short, another build's), so a boot
 * may take its place.
 */
struct control_exit {
	enum guest_status status;
	struct pupa_err reason;
	int snapshot_refused;
};

enum control_reply_kind {
	CONTROL_REPLY_ERROR,
	CONTROL_REPLY_STATUS,
	CONTROL_REPLY_ATTACH,
	CONTROL_REPLY_STOP,
	CONTROL_REPLY_SNAPSHOT,
	CONTROL_REPLY_TEST_SYSCALL,
	CONTROL_EVENT_STATUS,
	CONTROL_EVENT_EXIT,
};

/* A reply or an event: everything pupa-vmm writes. */
struct control_reply {
	enum control_reply_kind kind;
	char id[CONTROL_MAX_ID];		/* replies: the request's id, "" for none */
	union {
		struct pupa_err error;		/* CONTROL_REPLY_ERROR */
		struct control_status status;	/* CONTROL_REPLY_STATUS */
		struct control_attached attach;	/* CONTROL_REPLY_ATTACH */
		struct control_snapshot snapshot;	/* CONTROL_REPLY_SNAPSHOT */
		enum guest_status event_status;	/* CONTROL_EVENT_STATUS */
		struct control_exit exit;	/* CONTROL_EVENT_EXIT */
	} u;
	/* A decoded reply's storage: the strings point into doc_. */
	struct port_publish publish_[PUBLISH_MAX];
	const char *volumes_[CONTROL_MAX_VOLUMES];
	int ro_[CONTROL_MAX_VOLUMES];
	void *doc_;
};

/* "ReadOnly", "kReadOnly", "ro"; "ReadWrite", "rw"; "VolatileWrite",
 * "volatile". 0, or -EINVAL. */
int control_block_mode_parse(const char *s, enum block_mode *mode);

/* The line, malloc'd, no newline; NULL when out of memory. */
char *control_request_encode(const struct control_request *req);
char *control_reply_encode(const struct control_reply *reply);

/* An error reply: GuestError code with msg, echoing id (JSON text, may be "" or NULL). */
char *control_error_encode(const char *id, uint32_t code, const char *msg);

/*
 * 0 with *req filled, or -GUEST_ERR_BAD_CONFIG with err saying what is
 * wrong (the message pupa-vmm replies with). req->id is filled as soon as
 * it is known, so even a refused request's reply can echo it.
 */
int control_request_decode(const char *line, size_t len, struct control_request *req,
			   struct pupa_err *err);

/*
 * 0 with *reply filled (an error reply is a reply: kind CONTROL_REPLY_ERROR,
 * u.error its GuestError), or a negative code with err set when the line is
 * not a reply or event pupa-vmm can send. Free a decoded reply with
 * control_reply_free, even after a failure.
 */
int control_reply_decode(const char *line, size_t len, struct control_reply *reply,
			 struct pupa_err *err);
void control_reply_free(struct control_reply *reply);

#endif
