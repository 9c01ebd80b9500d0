/*
 * pupa-vmm as pupa sees it: a child process (in its own process group, so a
 * terminal's Ctrl-C reaches pupa only, and killed if pupa dies), its
 * control socket, and, when it ends, why.
 */
#ifndef PUPA_VMM_PROC_H
#define PUPA_VMM_PROC_H

#include <sys/types.h>

#include "control_proto.h"
#include "error.h"
#include "network.h"
#include "volumes.h"

struct vmm_spec {
	const char *vmm, *kernel, *initrd;
	const char *rundir;		/* sockets and logs go here */
	unsigned int memory_mib, cpus;
	unsigned int agent_port;
	const char *restore;		/* a snapshot to resume instead of a boot */
	const char *snapshot_key;	/* 64 hex digits, or NULL */
	const struct net_opts *net;	/* NULL: no network device */
	const struct volume_opts *vol;	/* NULL: no virtio-fs device */
	int verbose;
};

struct vmm_proc {
	pid_t pid;
	int exited;
	int status;			/* wait status once exited */
	char control[4200];
	char vsock[4200];
	char console[4200];		/* the guest's serial console */
	char log[4200];			/* pupa-vmm's own stderr, for people */
	char record[4200];		/* its exit record (--exit-record) */
	double restore_s;		/* resumed: what its restore took, from status */
};

int vmm_proc_spawn(struct vmm_proc *v, const struct vmm_spec *s, struct pupa_err *err);

/* Has it ended? Non-blocking; 1 when it has. */
int vmm_proc_reap(struct vmm_proc *v);

/* Its control socket answers (the VM is set up and running). */
int vmm_proc_control_ready(struct vmm_proc *v);

/* Attach a disk image to slot; mode is a BlockMode name. */
int vmm_proc_attach(struct vmm_proc *v, const char *slot, const char *path, const char *mode,
		    struct pupa_err *err);

/* Have it write a snapshot of the running guest into fd. */
int vmm_proc_snapshot(struct vmm_proc *v, int fd, struct pupa_err *err);

/* Stop it: ask the guest to end within timeout_ms, then force; wait for it. */
void vmm_proc_stop(struct vmm_proc *v, unsigned int timeout_ms);

/* End it now (SIGKILL) and reap it: for a VM with nothing left to keep. */
void vmm_proc_kill(struct vmm_proc *v);

/* What it said as it ended (its exit record): 0; -ENOENT when it is still
 * running, was killed, or ended without finishing its record; another
 * negative code with err set when the record is not one. */
int vmm_proc_exit(const struct vmm_proc *v, struct control_exit *out, struct pupa_err *err);

/* It ended refusing the snapshot it was to resume (its exit record says
 * so, with BadConfig), not for any other reason. */
int vmm_proc_refused_snapshot(const struct vmm_proc *v);

/* Why it ended, in one line: a GuestError by name with pupa-vmm's message
 * (from its exit record), a kernel panic with the console's last lines, a
 * signal, or a missing record (VmmUnexpectedTermination). */
void vmm_proc_why(const struct vmm_proc *v, char *buf, size_t len);

#endif
