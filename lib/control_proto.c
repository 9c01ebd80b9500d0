/* SPDX-License-Identifier: MIT */
/* The control socket's messages (control_proto.h): encoders and decoders. */
#include "control_proto.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- names -------------------------------------------------------------------- */

static const char *const request_names[] = {
	[CONTROL_REQ_STATUS] = "status",
	[CONTROL_REQ_ATTACH] = "attach",
	[CONTROL_REQ_STOP] = "stop",
	[CONTROL_REQ_SNAPSHOT] = "snapshot",
	[CONTROL_REQ_TEST_SYSCALL] = "test-syscall",
};

/* The reply to each request is named as the request. */
static const char *const reply_names[] = {
	[CONTROL_REPLY_ERROR] = "error",
	[CONTROL_REPLY_STATUS] = "status",
	[CONTROL_REPLY_ATTACH] = "attach",
	[CONTROL_REPLY_STOP] = "stop",
	[CONTROL_REPLY_SNAPSHOT] = "snapshot",
	[CONTROL_REPLY_TEST_SYSCALL] = "test-syscall",
};

#define NR(a) (sizeof(a) / sizeof((a)[0]))

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

int control_block_mode_parse(const char *s, enum block_mode *mode)
{
	uint32_t v;

	if (strcmp(s, "rw") == 0)
		*mode = BLOCK_MODE_READ_WRITE;
	else if (strcmp(s, "ro") == 0)
		*mode = BLOCK_MODE_READ_ONLY;
	else if (strcmp(s, "volatile") == 0)
		*mode = BLOCK_MODE_VOLATILE_WRITE;
	else if (pupa_enum_lookup(PUPA_BLOCK_MODE, s, &v) == 0)
		*mode = (enum block_mode)v;
	else
		return -EINVAL;
	return 0;
}

/* ---- encoding ------------------------------------------------------------------- */

static json_t *enum_json(enum pupa_enum_type type, uint32_t value)
{
	return json_pack("{s:s, s:s, s:i}", "type", pupa_enum_type_name(type), "name",
			 pupa_enum_name(type, value), "value", (json_int_t)value);
}

/* The line, and the object freed; NULL when anything failed. */
static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static void set_id(json_t *o, const char *id)
{
	json_t *v;

	if (!o || !id || !id[0])
		return;
	v = json_loads(id, JSON_DECODE_ANY, NULL);
	if (v)
		json_object_set_new(o, "id", v);
}

char *control_request_encode(const struct control_request *req)
{
	const char *what = (size_t)req->kind < NR(request_names) ? request_names[req->kind] : NULL;
	json_t *o;

	if (!what)
		return NULL;
	o = json_pack("{s:s}", "request", what);
	switch (req->kind) {
	case CONTROL_REQ_ATTACH:
		json_object_set_new(o, "slot", json_string(req->u.attach.slot));
		json_object_set_new(o, "path", json_string(req->u.attach.path));
		json_object_set_new(o, "mode", json_string(pupa_enum_human(PUPA_BLOCK_MODE,
									   req->u.attach.mode)));
		if (req->u.attach.with_fd)
			json_object_set_new(o, "fd", json_true());
		break;
	case CONTROL_REQ_STOP:
		json_object_set_new(o, "timeout_ms", json_integer(req->u.stop.timeout_ms));
		break;
	case CONTROL_REQ_TEST_SYSCALL:
		json_object_set_new(o, "thread", json_string(req->u.test_syscall.thread));
		break;
	default:
		break;
	}
	set_id(o, req->id);
	return dump(o);
}

char *control_error_encode(const char *id, uint32_t code, const char *msg)
{
	json_t *r = json_pack("{s:s, s:o, s:s}", "reply", "error", "error",
			      enum_json(PUPA_GUEST_ERROR, code), "message", msg ? msg : "");

	set_id(r, id);
	return dump(r);
}

/* "network": {"backend", "allow_host_loopback", "publish": [...], counters} */
static json_t *net_json(const struct control_net *n)
{
	json_t *fwd = json_array();

	for (unsigned int i = 0; i < n->nr_publish; i++) {
		char text[PUBLISH_TEXT_MAX];

		publish_format(&n->publish[i], text, sizeof(text));
		json_array_append_new(fwd, json_string(text));
	}
	return json_pack("{s:s, s:b, s:o, s:I, s:I, s:I, s:I}", "backend", n->backend ? n->backend : "",
			 "allow_host_loopback", n->allow_host_loopback, "publish", fwd,
			 "rx_frames", (json_int_t)n->rx_frames, "rx_dropped", (json_int_t)n->rx_dropped,
			 "tx_frames", (json_int_t)n->tx_frames, "tx_dropped", (json_int_t)n->tx_dropped);
}

/* "fs": {"tag", "volumes": [{"path", "ro"}], counters} */
#define FS_JSON_FMT "{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}"
static json_t *fs_json(const struct control_fs *f)
{
	json_t *vols = json_array();

	for (unsigned int i = 0; i < f->nr_volumes; i++)
		json_array_append_new(vols, json_pack("{s:s, s:b}", "path", f->volumes[i], "ro", f->ro[i]));
	return json_pack(FS_JSON_FMT, "tag", f->tag ? f->tag : "", "volumes", vols,
			 "requests", (json_int_t)f->requests, "nodes", (json_int_t)f->nodes,
			 "open_fds", (json_int_t)f->open_fds, "fd_budget", (json_int_t)f->fd_budget,
			 "evictions", (json_int_t)f->evictions, "reopens", (json_int_t)f->reopens,
			 "reads", (json_int_t)f->reads, "read_bytes", (json_int_t)f->read_bytes,
			 "writes", (json_int_t)f->writes, "write_bytes", (json_int_t)f->write_bytes);
}

static void status_body(json_t *o, const struct control_status *s)
{
	json_object_set_new(o, "status", enum_json(PUPA_GUEST_STATUS, s->status));
	if (s->has_net)
		json_object_set_new(o, "network", net_json(&s->net));
	if (s->has_fs)
		json_object_set_new(o, "fs", fs_json(&s->fs));
	if (s->restore_us)
		json_object_set_new(o, "restore_us", json_integer((json_int_t)s->restore_us));
}

static json_t *exit_json(const struct control_exit *e)
{
	json_t *o = json_pack("{s:s, s:o}", "event", "exit", "status",
			      enum_json(PUPA_GUEST_STATUS, e->status));

	json_object_set_new(o, "reason", e->reason.code ? enum_json(e->reason.type, e->reason.code) :
				json_null());
	json_object_set_new(o, "message", json_string(e->reason.msg));
	if (e->snapshot_refused)
		json_object_set_new(o, "snapshot_refused", json_true());
	return o;
}

char *control_reply_encode(const struct control_reply *r)
{
	json_t *o;

	if (r->kind == CONTROL_REPLY_ERROR)
		return control_error_encode(r->id, r->u.error.code, r->u.error.msg);
	if (r->kind == CONTROL_EVENT_STATUS)
		return dump(json_pack("{s:s, s:o}", "event", "status", "status",
				      enum_json(PUPA_GUEST_STATUS, r->u.event_status)));
	if (r->kind == CONTROL_EVENT_EXIT)
		return dump(exit_json(&r->u.exit));
	if ((size_t)r->kind >= NR(reply_names))
		return NULL;
	o = json_pack("{s:s}", "reply", reply_names[r->kind]);
	if (r->kind == CONTROL_REPLY_STATUS)
		status_body(o, &r->u.status);
	else if (r->kind == CONTROL_REPLY_ATTACH)
		json_object_update_new(o, json_pack("{s:s, s:s, s:o}", "slot", r->u.attach.slot,
						    "path", r->u.attach.path, "mode",
						    enum_json(PUPA_BLOCK_MODE, r->u.attach.mode)));
	else if (r->kind == CONTROL_REPLY_SNAPSHOT)
		json_object_update_new(o, json_pack("{s:I, s:I, s:I}",
						    "pages", (json_int_t)r->u.snapshot.pages,
						    "paused_us", (json_int_t)r->u.snapshot.paused_us,
						    "state_bytes", (json_int_t)r->u.snapshot.state_bytes));
	set_id(o, r->id);
	return dump(o);
}

/* ---- decoding ------------------------------------------------------------------- */

/* The document, if it is one JSON object; NULL with why set otherwise. */
static json_t *load_object(const char *line, size_t len, size_t max, const char **why)
{
	json_t *o;

	if (len > max) {
		*why = "the line is over its size limit";
		return NULL;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!o) {
		*why = "malformed JSON";
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		*why = "not a JSON object";
		return NULL;
	}
	return o;
}

/* The "id" member as JSON text; -1 when it is too long to echo. */
static int get_id(json_t *o, char *id, size_t len)
{
	json_t *v = json_object_get(o, "id");
	char *text;
	int ret = 0;

	id[0] = '\0';
	if (!v)
		return 0;
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text || strlen(text) >= len)
		ret = -1;
	else
		memcpy(id, text, strlen(text) + 1);
	free(text);
	return ret;
}

/* A string member into buf: 0, or -1 when absent (and required), not a
 * string, or too long. */
static int get_str(json_t *o, const char *key, int required, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!v)
		return required ? -1 : 0;
	if (!json_is_string(v) || (n = json_string_length(v)) >= len || memchr(json_string_value(v), 0, n))
		return -1;
	memcpy(buf, json_string_value(v), n + 1);
	return 0;
}

static int decode_attach(json_t *o, struct control_request *req, struct pupa_err *err)
{
	char mode[32] = "ReadOnly";
	json_t *fd = json_object_get(o, "fd");

	if (get_str(o, "slot", 1, req->u.attach.slot, sizeof(req->u.attach.slot)) < 0 ||
	    get_str(o, "path", 1, req->u.attach.path, sizeof(req->u.attach.path)) < 0 ||
	    get_str(o, "mode", 0, mode, sizeof(mode)) < 0 || (fd && !json_is_boolean(fd)))
		return guest_err(err, GUEST_ERR_BAD_CONFIG,
				 "attach needs \"slot\" and \"path\" strings (and optionally \"mode\" "
				 "and \"fd\")");
	req->u.attach.with_fd = fd && json_is_true(fd);
	if (control_block_mode_parse(mode, &req->u.attach.mode) < 0)
		return guest_err(err, GUEST_ERR_BAD_CONFIG,
				 "attach: mode must be ReadWrite, ReadOnly or VolatileWrite");
	return 0;
}

static int decode_stop(json_t *o, struct control_request *req, struct pupa_err *err)
{
	json_t *t = json_object_get(o, "timeout_ms");
	json_int_t ms = t ? json_integer_value(t) : 0;

	if (t && (!json_is_integer(t) || ms < 0 || ms > CONTROL_MAX_STOP_MS))
		return guest_err(err, GUEST_ERR_BAD_CONFIG,
				 "stop: timeout_ms must be an integer from 0 to %u", CONTROL_MAX_STOP_MS);
	req->u.stop.timeout_ms = (unsigned int)ms;
	return 0;
}

int control_request_decode(const char *line, size_t len, struct control_request *req,
			   struct pupa_err *err)
{
	const char *why = NULL;
	json_t *o;
	int kind, ret = 0;

	memset(req, 0, sizeof(*req));
	o = load_object(line, len, CONTROL_MAX_LINE, &why);
	if (!o)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "%s",
				 strcmp(why, "not a JSON object") == 0 ? "a request must be a JSON object"
								      : why);
	if (get_id(o, req->id, sizeof(req->id)) < 0) {
		json_decref(o);
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "\"id\" is over %d bytes of JSON",
				 CONTROL_MAX_ID - 1);
	}
	if (!json_is_string(json_object_get(o, "request")))
		ret = guest_err(err, GUEST_ERR_BAD_CONFIG, "no \"request\" string");
	else if ((kind = name_index(request_names, NR(request_names),
				    json_string_value(json_object_get(o, "request")))) < 0)
		ret = guest_err(err, GUEST_ERR_BAD_CONFIG, "unknown request");
	else
		req->kind = (enum control_request_kind)kind;
	if (!ret && req->kind == CONTROL_REQ_ATTACH)
		ret = decode_attach(o, req, err);
	else if (!ret && req->kind == CONTROL_REQ_STOP)
		ret = decode_stop(o, req, err);
	else if (!ret && req->kind == CONTROL_REQ_TEST_SYSCALL &&
		 get_str(o, "thread", 0, req->u.test_syscall.thread,
			 sizeof(req->u.test_syscall.thread)) < 0)
		ret = guest_err(err, GUEST_ERR_BAD_CONFIG, "test-syscall: \"thread\" must be a short string");
	json_decref(o);
	return ret;
}

/* -- replies: hostile until proven otherwise (pupa reads what pupa-vmm says) -- */

static int bad_reply(struct pupa_err *err, const char *what)
{
	return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "pupa-vmm's control message: %s", what);
}

/* A {"type","name","value"} naming an enumerator the seed has (of want, or of
 * any type when want is PUPA_ENUM_TYPE_COUNT): 0, or -1. */
static int get_enum(json_t *v, enum pupa_enum_type want, enum pupa_enum_type *type, uint32_t *value)
{
	const char *tname = json_string_value(json_object_get(v, "type"));
	json_t *val = json_object_get(v, "value");
	json_int_t n = json_integer_value(val);

	if (!json_is_object(v) || !tname || !json_is_integer(val) || n < 0 || n > UINT32_MAX)
		return -1;
	for (int t = 0; t < PUPA_ENUM_TYPE_COUNT; t++) {
		if (strcmp(pupa_enum_type_name((enum pupa_enum_type)t), tname) != 0)
			continue;
		if ((want != PUPA_ENUM_TYPE_COUNT && (enum pupa_enum_type)t != want) ||
		    !pupa_enum_find((enum pupa_enum_type)t, (uint32_t)n))
			return -1;
		if (type)
			*type = (enum pupa_enum_type)t;
		*value = (uint32_t)n;
		return 0;
	}
	return -1;
}

static int get_status(json_t *v, enum guest_status *st)
{
	uint32_t n;

	if (get_enum(v, PUPA_GUEST_STATUS, NULL, &n) < 0)
		return -1;
	*st = (enum guest_status)n;
	return 0;
}

/* A counter: a non-negative integer (absent: 0). */
static int get_u64(json_t *o, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(o, key);

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* A string member borrowed from the document (it lives as long as doc_). */
static const char *get_borrowed(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v)))
		return NULL;
	return json_string_value(v);
}

static int decode_net(json_t *o, struct control_reply *r)
{
	struct control_net *n = &r->u.status.net;
	json_t *fwd = json_object_get(o, "publish"), *lb = json_object_get(o, "allow_host_loopback");
	size_t i;
	json_t *e;

	if (!json_is_object(o) || !(n->backend = get_borrowed(o, "backend")) || !json_is_boolean(lb) ||
	    !json_is_array(fwd) || json_array_size(fwd) > PUBLISH_MAX)
		return -1;
	n->allow_host_loopback = json_is_true(lb);
	json_array_foreach(fwd, i, e) {
		char why[128];

		if (!json_is_string(e) ||
		    publish_parse(json_string_value(e), &r->publish_[i], why, sizeof(why)) < 0)
			return -1;
	}
	n->publish = r->publish_;
	n->nr_publish = (unsigned int)json_array_size(fwd);
	if (get_u64(o, "rx_frames", &n->rx_frames) < 0 || get_u64(o, "rx_dropped", &n->rx_dropped) < 0 ||
	    get_u64(o, "tx_frames", &n->tx_frames) < 0 || get_u64(o, "tx_dropped", &n->tx_dropped) < 0)
		return -1;
	return 0;
}

static int decode_fs(json_t *o, struct control_reply *r)
{
	struct control_fs *f = &r->u.status.fs;
	json_t *vols = json_object_get(o, "volumes"), *e;
	size_t i;

	if (!json_is_object(o) || !(f->tag = get_borrowed(o, "tag")) || !json_is_array(vols) ||
	    json_array_size(vols) > CONTROL_MAX_VOLUMES)
		return -1;
	json_array_foreach(vols, i, e) {
		json_t *ro = json_object_get(e, "ro");

		if (!(r->volumes_[i] = get_borrowed(e, "path")) || !json_is_boolean(ro))
			return -1;
		r->ro_[i] = json_is_true(ro);
	}
	f->volumes = r->volumes_;
	f->ro = r->ro_;
	f->nr_volumes = (unsigned int)json_array_size(vols);
	return get_u64(o, "requests", &f->requests) | get_u64(o, "nodes", &f->nodes) |
	       get_u64(o, "open_fds", &f->open_fds) | get_u64(o, "fd_budget", &f->fd_budget) |
	       get_u64(o, "evictions", &f->evictions) | get_u64(o, "reopens", &f->reopens) |
	       get_u64(o, "reads", &f->reads) | get_u64(o, "read_bytes", &f->read_bytes) |
	       get_u64(o, "writes", &f->writes) | get_u64(o, "write_bytes", &f->write_bytes);
}

static int decode_status(json_t *o, struct control_reply *r, struct pupa_err *err)
{
	struct control_status *s = &r->u.status;
	json_t *net = json_object_get(o, "network"), *fs = json_object_get(o, "fs");

	if (get_status(json_object_get(o, "status"), &s->status) < 0)
		return bad_reply(err, "status: \"status\" is not a GuestStatus");
	if (net && decode_net(net, r) < 0)
		return bad_reply(err, "status: \"network\" is malformed");
	if (fs && decode_fs(fs, r) < 0)
		return bad_reply(err, "status: \"fs\" is malformed");
	s->has_net = net != NULL;
	s->has_fs = fs != NULL;
	if (get_u64(o, "restore_us", &s->restore_us) < 0)
		return bad_reply(err, "status: \"restore_us\" is not a count");
	return 0;
}

/* The message as a pupa_err: sanitized, cut to fit. */
static void set_message(struct pupa_err *e, enum pupa_enum_type type, uint32_t code, const char *msg)
{
	memset(e, 0, sizeof(*e));
	pupa_err_set(e, type, code, "%s", msg);
}

static int decode_error(json_t *o, struct control_reply *r, struct pupa_err *err)
{
	const char *msg = get_borrowed(o, "message");
	uint32_t code;

	if (get_enum(json_object_get(o, "error"), PUPA_GUEST_ERROR, NULL, &code) < 0 || !msg)
		return bad_reply(err, "error: not a GuestError with a \"message\"");
	set_message(&r->u.error, PUPA_GUEST_ERROR, code, msg);
	return 0;
}

static int decode_attach_reply(json_t *o, struct control_reply *r, struct pupa_err *err)
{
	struct control_attached *a = &r->u.attach;
	uint32_t mode;

	if (!(a->slot = get_borrowed(o, "slot")) || !(a->path = get_borrowed(o, "path")) ||
	    get_enum(json_object_get(o, "mode"), PUPA_BLOCK_MODE, NULL, &mode) < 0)
		return bad_reply(err, "attach: needs \"slot\", \"path\" and a BlockMode \"mode\"");
	a->mode = (enum block_mode)mode;
	return 0;
}

static int decode_snapshot(json_t *o, struct control_reply *r, struct pupa_err *err)
{
	struct control_snapshot *s = &r->u.snapshot;

	if (get_u64(o, "pages", &s->pages) < 0 || get_u64(o, "paused_us", &s->paused_us) < 0 ||
	    get_u64(o, "state_bytes", &s->state_bytes) < 0)
		return bad_reply(err, "snapshot: its counts are not counts");
	return 0;
}

static int decode_exit(json_t *o, struct control_reply *r, struct pupa_err *err)
{
	struct control_exit *e = &r->u.exit;
	json_t *reason = json_object_get(o, "reason"), *refused = json_object_get(o, "snapshot_refused");
	const char *msg = get_borrowed(o, "message");
	enum pupa_enum_type type = PUPA_GUEST_ERROR;
	uint32_t code = 0;

	if (get_status(json_object_get(o, "status"), &e->status) < 0 || !msg || !reason ||
	    (!json_is_null(reason) && get_enum(reason, PUPA_ENUM_TYPE_COUNT, &type, &code) < 0) ||
	    (refused && !json_is_boolean(refused)))
		return bad_reply(err, "exit: needs a GuestStatus, a \"reason\" (an error or null) "
				 "and a \"message\"");
	set_message(&e->reason, type, code, msg);
	e->snapshot_refused = json_is_true(refused);
	return 0;
}

static int decode_reply_body(json_t *o, struct control_reply *r, struct pupa_err *err)
{
	switch (r->kind) {
	case CONTROL_REPLY_ERROR:
		return decode_error(o, r, err);
	case CONTROL_REPLY_STATUS:
		return decode_status(o, r, err);
	case CONTROL_REPLY_ATTACH:
		return decode_attach_reply(o, r, err);
	case CONTROL_REPLY_SNAPSHOT:
		return decode_snapshot(o, r, err);
	case CONTROL_EVENT_STATUS:
		if (get_status(json_object_get(o, "status"), &r->u.event_status) < 0)
			return bad_reply(err, "status event: \"status\" is not a GuestStatus");
		return 0;
	case CONTROL_EVENT_EXIT:
		return decode_exit(o, r, err);
	default:
		return 0;
	}
}

int control_reply_decode(const char *line, size_t len, struct control_reply *r,
			 struct pupa_err *err)
{
	const char *why = NULL, *reply, *event;
	json_t *o;
	int kind;

	memset(r, 0, sizeof(*r));
	o = load_object(line, len, CONTROL_MAX_REPLY, &why);
	if (!o)
		return bad_reply(err, why);
	r->doc_ = o;
	reply = json_string_value(json_object_get(o, "reply"));
	event = json_string_value(json_object_get(o, "event"));
	if (get_id(o, r->id, sizeof(r->id)) < 0)
		return bad_reply(err, "its \"id\" is too long");
	if (reply && !event && (kind = name_index(reply_names, NR(reply_names), reply)) >= 0)
		r->kind = (enum control_reply_kind)kind;
	else if (event && !reply && strcmp(event, "status") == 0)
		r->kind = CONTROL_EVENT_STATUS;
	else if (event && !reply && strcmp(event, "exit") == 0)
		r->kind = CONTROL_EVENT_EXIT;
	else
		return bad_reply(err, "neither a known reply nor a known event");
	return decode_reply_body(o, r, err);
}

void control_reply_free(struct control_reply *r)
{
	json_decref(r->doc_);
	r->doc_ = NULL;
}
