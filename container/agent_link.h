/*
 * The host side of the agent protocol (lib/agent_proto.h): pupa-init's
 * HELLO, the root disk (ATTACHED), the command (START), its stdio on three
 * vsock streams through pupa-vmm's Unix sockets, signals and window size
 * going in, its exit status coming out. Everything the guest sends is
 * checked before use: it is untrusted input.
 */
#ifndef PUPA_AGENT_LINK_H
#define PUPA_AGENT_LINK_H

#include <signal.h>
#include <stdint.h>

#include "error.h"
#include "network.h"
#include "volumes.h"
#include "proto_io.h"

struct agent_link {
	char uds[4200];
	unsigned int port;		/* HELLO; stdin, stdout, stderr on +1, +2, +3 */
	int listen_fd[4];
	int fd;
	int reply_ms;			/* the deadline of each message */
	int resumed;			/* the last HELLO came after a FREEZE */
	volatile sig_atomic_t *cancel;	/* set by a signal: stop waiting */
	struct proto_rbuf rb;
	struct proto_writer w;
};

struct agent_command {
	char **argv;			/* NULL-terminated */
	char **env;			/* KEY=VALUE, NULL-terminated */
	const char *user, *cwd, *hostname;
	const struct net_opts *net;	/* NULL: lo only */
	const struct volume_opts *vol;	/* NULL: no volumes */
	int tty;			/* a pty, this terminal in raw mode */
	int interactive;		/* stdin attached */
};

/* What the caller wants to know while the command starts and runs. */
struct agent_hooks {
	void (*started)(void *opaque);		/* STARTED: the container runs */
	int (*vmm_gone)(void *opaque);		/* non-zero if pupa-vmm ended */
	volatile sig_atomic_t *signal;		/* SIGINT/SIGTERM arrived (signo) */
	volatile sig_atomic_t *winch;		/* the terminal was resized */
	int (*force_stop)(void *opaque);	/* second Ctrl-C: stop the VM now */
	long deadline_ms;			/* --timeout, monotonic ms; 0 none */
	void *opaque;
};

int agent_link_listen(struct agent_link *a, const char *uds, unsigned int port,
		      struct pupa_err *err);

/* The fd to poll for the agent's connection. */
int agent_link_hello_fd(const struct agent_link *a);

/* Accept the agent and read its HELLO (the connection is pending). */
int agent_link_hello(struct agent_link *a, struct pupa_err *err);

/* Forget a connection that ended before its HELLO (one pupa-init gave up
 * on while the VM stood still for a snapshot): the next comes. */
void agent_link_drop(struct agent_link *a);

/* FREEZE, wait for FROZEN, and close the connection: pupa-init connects
 * again (a new HELLO) once whichever VMM runs it goes on. */
int agent_link_freeze(struct agent_link *a, struct pupa_err *err);

/* ATTACHED for the disk with this serial; waits for ACK. */
int agent_link_attach(struct agent_link *a, const char *serial, uint32_t mount_mode,
		      struct pupa_err *err);

enum agent_run_result {
	AGENT_RUN_EXITED,		/* *code: the command's status (128+N for a signal) */
	AGENT_RUN_NOT_STARTED,		/* *code: 125-127, err says why (before STARTED) */
	AGENT_RUN_LOST,			/* the agent or the VM went away */
	AGENT_RUN_TIMEOUT,		/* --timeout passed */
	AGENT_RUN_INTERRUPTED,		/* a signal before STARTED; *code: 128+N */
};

/* START, then stdio until the command ends. */
int agent_link_run(struct agent_link *a, const struct agent_command *cmd,
		   const struct agent_hooks *hooks, int *code, struct pupa_err *err);

void agent_link_close(struct agent_link *a);

#endif
