/* SPDX-License-Identifier: MIT */
/*
 * pupa's end of pupa-vmm's control socket: one typed call per request (the
 * messages are lib/control_proto.h's), each on a connection of its own.
 * A call returns 0, or a negative code with err set: an error reply is
 * pupa-vmm's GuestError as it sent it; no answer, or one that is not a
 * reply, a GuestManagerError kStartFailure. Events that arrive before the
 * reply are passed over.
 */
#ifndef PUPA_VMM_CLIENT_H
#define PUPA_VMM_CLIENT_H

#include "control_proto.h"

/* How long a call waits for its reply. */
#define VMM_CLIENT_TIMEOUT_MS 30000

/* One request; *reply (free with control_reply_free) is its reply. pass_fd
 * >= 0 rides along with the request (SCM_RIGHTS). */
int vmm_client_call(const char *control, const struct control_request *req, int pass_fd,
		    struct control_reply *reply, struct pupa_err *err);

/* The status reply (free *st with control_reply_free). */
int vmm_client_status(const char *control, struct control_reply *st, struct pupa_err *err);

/* Attach the medium fd (pupa opened it: pupa-vmm opens no path) to slot. */
int vmm_client_attach(const char *control, const char *slot, const char *path, int fd,
		      enum block_mode mode, struct pupa_err *err);

/* Write a snapshot of the running guest into fd. */
int vmm_client_snapshot(const char *control, int fd, struct control_snapshot *out,
			struct pupa_err *err);

/* Ask the guest to end within timeout_ms, then be forced. */
int vmm_client_stop(const char *control, unsigned int timeout_ms, struct pupa_err *err);

/*
 * pupa-vmm's exit record (--exit-record): 0 with *out filled; -ENOENT when
 * there is none or it is unfinished (pupa-vmm was killed before its last
 * word: SIGKILL, SIGSYS); another negative code with err set when it is
 * not an exit record.
 */
int vmm_client_exit_record(const char *path, struct control_exit *out, struct pupa_err *err);

#endif
