/*
 * The agent protocol: which fields each message carries (frames: proto.h).
 * One tag space for all messages; a field a message does not use is
 * ignored, a field it needs and lacks is an ERROR reply.
 *
 *   HELLO     guest->host  VERSION, RESUMED (after a FREEZE)
 *   ATTACHED  host->guest  SERIAL, FSTYPE, MOUNT_MODE     reply ACK or ERROR
 *   START     host->guest  ARG..., ENV..., CWD, USER, HOSTNAME, TTY,
 *                          STDIN_PORT, STDOUT_PORT, STDERR_PORT, ROWS, COLS,
 *                          NET, NET_ADDRESS, NET_GATEWAY, NET_MTU, DNS...,
 *                          ADD_HOST..., VOLUME..., ENTROPY, CLOCK
 *                          reply STARTED (PID) or EXIT (CODE 125-127, MESSAGE)
 *   SIGNAL    host->guest  SIGNO
 *   WINSIZE   host->guest  ROWS, COLS
 *   EXIT      guest->host  EXIT_CODE or EXIT_SIGNAL, MESSAGE   reply ACK
 *   ERROR     either way   MESSAGE, CODE
 *   FREEZE    host->guest  (before ATTACHED)                reply FROZEN
 *   FROZEN    guest->host  then the agent closes its connection, and
 *                          connects again (HELLO with RESUMED) to whatever
 *                          VMM runs it next: the same one, or one restored
 *                          from the snapshot taken meanwhile
 */
#ifndef PUPA_AGENT_PROTO_H
#define PUPA_AGENT_PROTO_H

#include "proto.h"

#define AGENT_PROTO_VERSION	1

enum agent_tag {
	F_ARG = 1,		/* str, repeated: argv in order */
	F_ENV,			/* str, repeated: KEY=VALUE */
	F_CWD,			/* str */
	F_USER,			/* str: name, uid, name:group or uid:gid */
	F_HOSTNAME,		/* str */
	F_TTY,			/* u32: 1 for a pty */
	F_STDIN_PORT,		/* u32: host vsock port, 0 for /dev/null */
	F_STDOUT_PORT,		/* u32 */
	F_STDERR_PORT,		/* u32: unused with a tty */
	F_ROWS,			/* u32 */
	F_COLS,			/* u32 */
	F_SERIAL,		/* str: virtio-blk serial of the root disk */
	F_FSTYPE,		/* str: default ext4 */
	F_MOUNT_MODE,		/* u32: enum agent_mount_mode */
	F_PID,			/* u32 */
	F_SIGNO,		/* u32 */
	F_EXIT_CODE,		/* u32 */
	F_EXIT_SIGNAL,		/* u32 */
	F_MESSAGE,		/* str */
	F_VERSION,		/* u32 */
	F_CODE,			/* u32: the exit status the host should use */
	F_NET,			/* u32: 1 moves eth0 into the container; 0 or absent: lo only */
	F_NET_ADDRESS,		/* str: eth0's IPv4 address with prefix, "10.0.2.15/24" */
	F_NET_GATEWAY,		/* str: IPv4 default gateway */
	F_NET_MTU,		/* u32 */
	F_DNS,			/* str, repeated: resolv.conf nameservers, in order */
	F_ADD_HOST,		/* str, repeated: "NAME:IP" lines for /etc/hosts */
	F_VOLUME,		/* str, repeated: "INDEX:ro|rw:/TARGET", INDEX the
				 * virtio-fs folder (pupa-vmm's --fs-volume order) */
	F_RESUMED,		/* u32: 1 in a HELLO after a FREEZE */
	F_ENTROPY,		/* bytes (AGENT_ENTROPY_LEN): mixed into the guest's
				 * random pool, which is then reseeded */
	F_CLOCK,		/* bytes: the host's wall clock, u64 seconds and
				 * u32 nanoseconds, little-endian */
};

#define AGENT_ENTROPY_LEN	64
#define AGENT_CLOCK_LEN		12

enum agent_mount_mode {
	MOUNT_RW = 0,		/* the disk itself, read-write */
	MOUNT_RO = 1,		/* read-only */
	MOUNT_OVERLAY = 2,	/* read-only disk under a tmpfs upper layer */
};

/* Limits both sides enforce. */
#define AGENT_MAX_ARGS		1024
#define AGENT_MAX_ENV		1024
#define AGENT_MAX_STR		4096
#define AGENT_MAX_DNS		3	/* what a resolver reads from resolv.conf */
#define AGENT_MAX_HOSTS		64
#define AGENT_MAX_VOLUMES	64	/* pupa-vmm's --fs-volume limit too */

/* Docker's exit statuses for failures before the process runs. */
#define EXIT_RUNTIME_FAILURE	125
#define EXIT_NOT_EXECUTABLE	126
#define EXIT_NOT_FOUND		127

#endif
