#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm_client.h"
#include "vmm_proc.h"
#include "run_tool.h"

#define VMM_CMDLINE "console=ttyS0 quiet loglevel=1"

int vmm_proc_spawn(struct vmm_proc *v, const struct vmm_spec *s, struct pupa_err *err)
{
	char mem[16], cpus[16], port[32];
	char net[PUBLISH_MAX + 1][PUBLISH_TEXT_MAX + 32];
	const char *argv[40 + 2 + 2 * PUBLISH_MAX + 4 + 2 * AGENT_MAX_VOLUMES];
	int n = 0, logfd;
	pid_t parent = getpid();

	memset(v, 0, sizeof(*v));
	snprintf(v->control, sizeof(v->control), "%s/control", s->rundir);
	snprintf(v->vsock, sizeof(v->vsock), "%s/vsock", s->rundir);
	snprintf(v->console, sizeof(v->console), "%s/console.log", s->rundir);
	snprintf(v->log, sizeof(v->log), "%s/vmm.log", s->rundir);
	snprintf(v->record, sizeof(v->record), "%s/vmm-exit.json", s->rundir);
	snprintf(mem, sizeof(mem), "%u", s->memory_mib);
	snprintf(cpus, sizeof(cpus), "%u", s->cpus);
	snprintf(port, sizeof(port), "agent-port=%u", s->agent_port);
	argv[n++] = s->vmm;
	if (s->restore) {
		argv[n++] = "--restore";
		argv[n++] = s->restore;
	} else {
		/* The same for every start, so that one snapshot serves them
		 * all: the hostname and everything else of a run come in START. */
		argv[n++] = "--kernel";
		argv[n++] = s->kernel;
		argv[n++] = "--initrd";
		argv[n++] = s->initrd;
		argv[n++] = "--cmdline";
		argv[n++] = VMM_CMDLINE;
		argv[n++] = "--boot-prop";
		argv[n++] = port;
		argv[n++] = "--boot-prop";
		argv[n++] = "hostname=pupa";
		argv[n++] = "--boot-prop";
		argv[n++] = "version=1";
	}
	if (s->snapshot_key) {
		argv[n++] = "--snapshot-key";
		argv[n++] = s->snapshot_key;
	}
	argv[n++] = "--memory";
	argv[n++] = mem;
	argv[n++] = "--cpus";
	argv[n++] = cpus;
	argv[n++] = "--serial";
	argv[n++] = v->console;
	argv[n++] = "--vsock-cid";
	argv[n++] = "3";
	argv[n++] = "--vsock-uds";
	argv[n++] = v->vsock;
	argv[n++] = "--disk-slot";
	argv[n++] = "rootfs";
	argv[n++] = "--control";
	argv[n++] = v->control;
	argv[n++] = "--exit-record";
	argv[n++] = v->record;
	if (s->net)
		net_opts_vmm_args(s->net, argv, &n, net);
	if (s->vol)
		volume_opts_vmm_args(s->vol, argv, &n);
	argv[n] = NULL;
	if (s->verbose) {
		fprintf(stderr, "pupa: starting");
		for (int i = 0; i < n; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
	}

	logfd = open(v->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot create %s: %s",
			       v->log, strerror(errno));
	v->pid = fork();
	if (v->pid < 0) {
		close(logfd);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot start pupa-vmm: %s",
			       strerror(errno));
	}
	if (v->pid == 0) {
		/* Its own process group: the terminal's Ctrl-C is pupa's to
		 * handle. And it dies with pupa, whatever kills pupa, holding
		 * nothing of pupa's but the log (run_tool.h has the rule). */
		setpgid(0, 0);
		if (run_tool_child_init(parent, -1, logfd, logfd) < 0)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execv(s->vmm, (char *const *)argv);
		dprintf(2, "pupa: cannot run %s: %s\n", s->vmm, strerror(errno));
		_exit(127);
	}
	close(logfd);
	return 0;
}

int vmm_proc_reap(struct vmm_proc *v)
{
	if (v->exited || v->pid <= 0)
		return 1;
	if (waitpid(v->pid, &v->status, WNOHANG) == v->pid)
		v->exited = 1;
	return v->exited;
}

int vmm_proc_control_ready(struct vmm_proc *v)
{
	struct pupa_err err = { 0 };
	struct control_reply st;
	int ready;

	/* The control socket opens before the guest is loaded: only a VM
	 * whose GuestStatus is kRunning has launched. A resumed one says how
	 * long its restore took. */
	if (vmm_client_status(v->control, &st, &err) < 0) {
		control_reply_free(&st);
		return 0;
	}
	ready = st.u.status.status == GUEST_STATUS_RUNNING;
	if (st.u.status.restore_us)
		v->restore_s = (double)st.u.status.restore_us / 1e6;
	control_reply_free(&st);
	return ready;
}

int vmm_proc_attach(struct vmm_proc *v, const char *slot, const char *path, const char *mode,
		    struct pupa_err *err)
{
	struct pupa_err why = { 0 };
	enum block_mode m;
	int rc, medium;

	if (control_block_mode_parse(mode, &m) < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_BAD_CONFIG, "%s: unknown block mode", mode);
	/*
	 * pupa opens the medium and hands pupa-vmm the descriptor: pupa-vmm
	 * opens no path once the guest runs (Landlock holds it to its run
	 * folder), and the path is only the name it reports.
	 */
	medium = open(path, (m == BLOCK_MODE_READ_WRITE ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (medium < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot open the root disk %s: %s",
			       path, strerror(errno));
	rc = vmm_client_attach(v->control, slot, path, medium, m, &why);
	close(medium);
	/* pupa-vmm's GuestError stays what it is; the message says which disk. */
	if (rc < 0)
		return pupa_err_set(err, why.type, why.code, "attaching the root disk %s: %s", path,
				    why.msg);
	return 0;
}

static long vmm_proc__ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int vmm_proc_snapshot(struct vmm_proc *v, int fd, struct pupa_err *err)
{
	return vmm_client_snapshot(v->control, fd, NULL, err);
}

void vmm_proc_stop(struct vmm_proc *v, unsigned int timeout_ms)
{
	struct pupa_err err = { 0 };
	long deadline;

	if (v->pid <= 0 || vmm_proc_reap(v))
		return;
	if (vmm_client_stop(v->control, timeout_ms, &err) < 0)
		kill(v->pid, SIGTERM);
	deadline = vmm_proc__ms() + timeout_ms + 3000;
	while (!vmm_proc_reap(v)) {
		struct timespec ts = { 0, 20 * 1000000L };

		if (vmm_proc__ms() > deadline) {
			kill(v->pid, SIGKILL);
			waitpid(v->pid, &v->status, 0);
			v->exited = 1;
			break;
		}
		nanosleep(&ts, NULL);
	}
}

void vmm_proc_kill(struct vmm_proc *v)
{
	if (v->pid <= 0 || vmm_proc_reap(v))
		return;
	kill(v->pid, SIGKILL);
	while (waitpid(v->pid, &v->status, 0) < 0 && errno == EINTR)
		;
	v->exited = 1;
}

/* The last non-empty line of a file, or "". */
static void vmm_proc__last_line(const char *path, const char *match, char *buf, size_t len)
{
	char line[1024];
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *text = line;

		line[strcspn(line, "\r\n")] = '\0';
		/* The kernel's "[    1.165331] " says nothing the reader needs. */
		if (text[0] == '[' && strchr(text, ']'))
			text = strchr(text, ']') + 1 + (strchr(text, ']')[1] == ' ');
		if (text[0] && (!match || strstr(text, match)))
			snprintf(buf, len, "%s", text);
	}
	fclose(f);
}

int vmm_proc_exit(const struct vmm_proc *v, struct control_exit *out, struct pupa_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!v->exited || WIFSIGNALED(v->status))
		return -ENOENT;		/* a killed pupa-vmm said nothing */
	return vmm_client_exit_record(v->record, out, err);
}

int vmm_proc_refused_snapshot(const struct vmm_proc *v)
{
	struct pupa_err err = { 0 };
	struct control_exit ex;

	return vmm_proc_exit(v, &ex, &err) == 0 && ex.snapshot_refused &&
	       ex.reason.type == PUPA_GUEST_ERROR && ex.reason.code == GUEST_ERR_BAD_CONFIG;
}

#define VMM_PROC_NAME "VmmUnexpectedTermination, GuestStatus 6"

/* "MSG (BadConfig, GuestError 3)" gets this side's names (note) inside
 * its parentheses; a message without names gets them after it. */
static void vmm_proc__named(const char *said, const char *note, char *buf, size_t len)
{
	size_t n = strlen(said);

	if (n && said[n - 1] == ')')
		snprintf(buf, len, "%.*s; %s)", (int)n - 1, said, note);
	else
		snprintf(buf, len, "%s (%s)", said, note);
}

/* A pupa-vmm that exited and left its record: what it said. */
static void vmm_proc__said(const struct control_exit *ex, int status, char *buf, size_t len)
{
	char reason[1024];

	if (ex->reason.code) {
		pupa_err_format(&ex->reason, reason, sizeof(reason));
		vmm_proc__named(reason, VMM_PROC_NAME, buf, len);
	} else {
		snprintf(buf, len, "pupa-vmm exited with status %d: stopped: %s "
			 "(VmmUnexpectedTermination, GuestStatus 6)", status, ex->reason.msg);
	}
}

void vmm_proc_why(const struct vmm_proc *v, char *buf, size_t len)
{
	char last[1024], panic[1024];
	struct pupa_err bad = { 0 };
	struct control_exit ex;
	int rec = vmm_proc_exit(v, &ex, &bad);

	/* pupa-vmm's own log is shown, never read for a decision (what
	 * pupa-vmm said is its exit record): its own line, not whatever else
	 * the log ends with. */
	vmm_proc__last_line(v->log, "pupa-vmm: ", last, sizeof(last));
	if (!last[0])
		vmm_proc__last_line(v->log, NULL, last, sizeof(last));
	vmm_proc__last_line(v->console, "Kernel panic", panic, sizeof(panic));
	if (panic[0]) {
		char tail[1024];

		vmm_proc__last_line(v->console, NULL, tail, sizeof(tail));
		snprintf(buf, len, "the guest kernel panicked: %s%s%s", panic,
			 strcmp(tail, panic) ? " / " : "", strcmp(tail, panic) ? tail : "");
	} else if (!v->exited) {
		snprintf(buf, len, "pupa-vmm is still running");
	} else if (WIFSIGNALED(v->status)) {
		/* SIGSYS: its log names the forbidden call and the thread. */
		const char *said = WTERMSIG(v->status) == SIGSYS ? strstr(last, "seccomp: ") : NULL;

		snprintf(buf, len, "pupa-vmm was killed by signal %d (%s)%s%s (VmmUnexpectedTermination, "
			 "GuestStatus 6)", WTERMSIG(v->status), strsignal(WTERMSIG(v->status)),
			 said ? ": " : "", said ? said : "");
	} else if (rec == 0) {
		vmm_proc__said(&ex, WEXITSTATUS(v->status), buf, len);
	} else if (rec != -ENOENT) {
		char said[1200];

		snprintf(said, sizeof(said), "pupa-vmm exited with status %d; %s",
			 WEXITSTATUS(v->status), bad.msg);
		vmm_proc__named(said, VMM_PROC_NAME, buf, len);
	} else if (WEXITSTATUS(v->status) >= 1 && WEXITSTATUS(v->status) <= 15 &&
		   strncmp(last, "pupa-vmm: ", 10) == 0) {
		/* No record: pupa-vmm stopped before it opened one (on its
		 * options); its exit status is the GuestError, its own line
		 * why (shown to people; nothing is decided on it). */
		vmm_proc__named(last + 10, VMM_PROC_NAME, buf, len);
	} else {
		snprintf(buf, len, "pupa-vmm exited with status %d and left no exit record%s%s "
			 "(VmmUnexpectedTermination, GuestStatus 6)", WEXITSTATUS(v->status),
			 last[0] ? ": " : "", last);
	}
}
