/* SPDX-License-Identifier: MIT */
/*
 * pupa-vmm's confinement, once the VM is built: Landlock to the few paths
 * it still opens, a seccomp filter per thread class (default action: kill
 * the process), and what the process no longer needs dropped (core dumps,
 * ambient capabilities, new privileges, root's capabilities to make
 * devices, administer the system and keep setuid bits).
 *
 * The filters follow the code as it is, not as one would like it: device
 * work runs on a vCPU thread when the guest writes a queue register
 * (virtio-blk's pread/pwrite, vsock's connect/send, the console's log), so
 * a vCPU thread may make the system calls of KVM_RUN plus those of every
 * device it can reach. Each device has a small table of its own rows in
 * sandbox.c; a new device adds its table there.
 */
#ifndef PUPA_VMM_SANDBOX_H
#define PUPA_VMM_SANDBOX_H

#include <stdint.h>

#include "error.h"

enum sandbox_thread {
	SANDBOX_MAIN,		/* the event loop: control socket, vsock host side, signals */
	SANDBOX_VCPU,		/* KVM_RUN and the device work a guest exit triggers */
	SANDBOX_FS,		/* virtio-fs workers: the FUSE server's file calls */
	SANDBOX_NR
};

struct sandbox;

/* Build every class's filter (before any thread starts); NULL filters when
 * PUPA_VMM_SECCOMP=off. 0, or InternalError. */
int sandbox__prepare(struct sandbox **out, struct pupa_err *err);

/* Load the filter of this thread's class into the calling thread. Returns
 * 0 or -errno; a vCPU thread that cannot confine itself does not run. */
int sandbox__enter(struct sandbox *sb, enum sandbox_thread cls);

void sandbox__free(struct sandbox *sb);

/* Process-wide: no core dumps, no ambient capabilities, no new privileges. */
void sandbox__harden_process(void);

/* What a VM's file sharing keeps of root's capabilities (sandbox__drop_caps). */
enum sandbox_keep {
	/* A share of a container's root file system (not yet: the OCI
	 * runtime's) keeps the image's setuid files as they are when written
	 * to; -v volumes do not: a write through one clears such a bit. */
	SANDBOX_KEEP_FSETID = 1u << 0,
};

/*
 * For a pupa-vmm run as root: CAP_MKNOD, CAP_SYS_ADMIN and (unless kept)
 * CAP_FSETID out of the bounding, permitted, effective and inheritable
 * sets, for good. A guest then makes no device node however the file
 * server errs, and a write clears the setuid and setgid bits of a host
 * file, as the kernel does for a user (the server itself never sets
 * them: an owner needs no capability to). Capabilities belong to a
 * thread: call it before any thread starts, as for Landlock. Nothing to
 * do for an ordinary user. 0, or InternalError.
 */
int sandbox__drop_caps(unsigned int keep, struct pupa_err *err);

/* The only places pupa-vmm reaches by path once the guest runs. */
struct sandbox_paths {
	const char *socket_dirs[2];		/* removes its sockets there at exit */
	unsigned int nr_socket_dirs;
	const char *const *attach_dirs;		/* --attach-dir: media by path */
	unsigned int nr_attach_dirs;
	const char *read_files[2];		/* read while running (resolv.conf) */
	unsigned int nr_read_files;
	const char *const *volumes;		/* virtio-fs folders, and whether */
	const int *volume_ro;			/* each is read-only */
	unsigned int nr_volumes;
};

/*
 * Landlock the calling thread (before the vCPU threads start, so they
 * inherit it) to those paths. A kernel without Landlock is said once on
 * stderr and is not an error; PUPA_VMM_LANDLOCK=off skips it.
 */
int sandbox__landlock(const struct sandbox_paths *p, struct pupa_err *err);

#endif
