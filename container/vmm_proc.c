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

#include <jansson.h>

#include "vmm_proc.h"
#include "run_tool.h"

#define VMM_CMDLINE "console=ttyS0 quiet loglevel=1"

static int vmm_proc__connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.*s", (int)sizeof(sa.sun_path) - 1, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

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

static int vmm_proc__request(struct vmm_proc *v, const char *req, int pass_fd, char *reply,
			     size_t len);

int vmm_proc_control_ready(struct vmm_proc *v)
{
	char reply[1024];
	const char *us;

	/* The control socket opens before the guest is loaded: only a VM
	 * whose GuestStatus is kRunning has launched. A resumed one says how
	 * long its restore took. */
	if (vmm_proc__request(v, "{\"request\":\"status\"}\n", -1, reply, sizeof(reply)) < 0)
		return 0;
	if ((us = strstr(reply, "\"restore_us\":")))
		v->restore_s = strtod(us + strlen("\"restore_us\":"), NULL) / 1e6;
	return strstr(reply, "\"name\":\"kRunning\"") != NULL;
}

/* Write the request line, with pass_fd (when >= 0) riding along with it. */
static int vmm_proc__send(int fd, const char *req, int pass_fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctrl;
	struct iovec iov = { (void *)req, strlen(req) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctrl, 0, sizeof(ctrl));
		mh.msg_control = ctrl.buf;
		mh.msg_controllen = sizeof(ctrl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len ? 0 : -EIO;
}

/* One request line, one reply line. */
static int vmm_proc__request(struct vmm_proc *v, const char *req, int pass_fd, char *reply,
			     size_t len)
{
	int fd = vmm_proc__connect(v->control);
	size_t got = 0;

	if (fd < 0)
		return fd;
	if (vmm_proc__send(fd, req, pass_fd) < 0) {
		close(fd);
		return -EIO;
	}
	while (got < len - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 30000) != 1)
			break;
		n = read(fd, reply + got, len - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(reply, '\n', got))
			break;
	}
	reply[got] = '\0';
	close(fd);
	return got ? 0 : -EPIPE;
}

/* text + "\n", reallocated (freed on failure). */
static char *vmm_proc__line(char *text)
{
	size_t n = strlen(text);
	char *p = realloc(text, n + 2);

	if (!p) {
		free(text);
		return NULL;
	}
	p[n] = '\n';
	p[n + 1] = '\0';
	return p;
}

int vmm_proc_attach(struct vmm_proc *v, const char *slot, const char *path, const char *mode,
		    struct pupa_err *err)
{
	char reply[2048], *req;
	json_t *o;
	int rc, medium;

	/*
	 * pupa opens the medium and hands pupa-vmm the descriptor: pupa-vmm
	 * opens no path once the guest runs (Landlock holds it to its run
	 * folder), and the path is only the name it reports.
	 */
	medium = open(path, (strcmp(mode, "ReadWrite") == 0 ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (medium < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "cannot open the root disk %s: %s",
			       path, strerror(errno));
	o = json_pack("{s:s, s:s, s:s, s:s, s:b}", "request", "attach", "slot", slot, "path", path,
		      "mode", mode, "fd", 1);
	req = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!req || !(req = vmm_proc__line(req))) {
		close(medium);
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "out of memory");
	}
	rc = vmm_proc__request(v, req, medium, reply, sizeof(reply));
	close(medium);
	free(req);
	if (rc < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "attaching the root disk: no answer from pupa-vmm (%s)", strerror(-rc));
	if (!strstr(reply, "\"reply\":\"attach\"")) {
		reply[strcspn(reply, "\n")] = '\0';
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "attaching the root disk %s: pupa-vmm said %s", path, reply);
	}
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
	char reply[2048];
	int rc = vmm_proc__request(v, "{\"request\":\"snapshot\"}\n", fd, reply, sizeof(reply));

	if (rc < 0)
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE,
			       "snapshot: no answer from pupa-vmm (%s)", strerror(-rc));
	if (!strstr(reply, "\"reply\":\"snapshot\"")) {
		reply[strcspn(reply, "\n")] = '\0';
		return mgr_err(err, GUEST_MANAGER_ERR_START_FAILURE, "snapshot: pupa-vmm said %s", reply);
	}
	return 0;
}

void vmm_proc_stop(struct vmm_proc *v, unsigned int timeout_ms)
{
	char req[128], reply[512];
	long deadline;

	if (v->pid <= 0 || vmm_proc_reap(v))
		return;
	snprintf(req, sizeof(req), "{\"request\":\"stop\",\"timeout_ms\":%u}\n", timeout_ms);
	if (vmm_proc__request(v, req, -1, reply, sizeof(reply)) < 0)
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

int vmm_proc_refused_snapshot(const struct vmm_proc *v)
{
	char last[1024];

	if (!v->exited || !WIFEXITED(v->status) || WEXITSTATUS(v->status) != GUEST_ERR_BAD_CONFIG)
		return 0;
	vmm_proc__last_line(v->log, NULL, last, sizeof(last));
	return strstr(last, "BadConfig (GuestError 3): snapshot ") != NULL;
}

void vmm_proc_why(const struct vmm_proc *v, char *buf, size_t len)
{
	char last[1024], panic[1024];

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

		snprintf(buf, len, "VmmUnexpectedTermination (GuestStatus 6): pupa-vmm was killed "
			 "by signal %d (%s)%s%s", WTERMSIG(v->status), strsignal(WTERMSIG(v->status)),
			 said ? ": " : "", said ? said : "");
	} else if (WEXITSTATUS(v->status) >= 1 && WEXITSTATUS(v->status) <= 15) {
		/* pupa-vmm's exit status is the GuestError; its message says more. */
		char *colon = strstr(last, "pupa-vmm: ");

		snprintf(buf, len, "VmmUnexpectedTermination (GuestStatus 6): %s",
			 last[0] ? (colon ? colon + 10 : last) : "pupa-vmm failed");
	} else {
		snprintf(buf, len, "VmmUnexpectedTermination (GuestStatus 6): pupa-vmm exited "
			 "with status %d%s%s", WEXITSTATUS(v->status), last[0] ? ": " : "", last);
	}
}
