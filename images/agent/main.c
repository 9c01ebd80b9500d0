/*
 * pupa-init: see agent.h. The order of things:
 *   mount /proc /sys /dev /run; read /chosen/pupa; connect to the host;
 *   HELLO; then serve FREEZE (close, and connect again to whichever VMM
 *   runs this guest next: a snapshot may be taken in between and resumed
 *   many times), ATTACHED (mount the root disk) and START (run the
 *   process, relay its stdio, report EXIT, wait for ACK); then reboot,
 *   which ends pupa-vmm. Whatever goes wrong, it says so and reboots:
 *   PID 1 must never just exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_proto.h"
#include "proto_io.h"

#define DISK_TIMEOUT_MS		10000
#define DRAIN_AFTER_EXIT_MS	2000
#define ACK_TIMEOUT_MS		5000
/* After FREEZE: how long to keep trying the host, in guest time (which
 * stands still inside a snapshot), and how long one connect may take (one
 * in flight when the snapshot was taken is never answered). */
#define RECONNECT_TIMEOUT_MS	30000
#define RECONNECT_TRY_MS	200
#define RELAY_BUF		65536

static struct proto_rbuf rbuf;
static struct proto_writer wbuf;

void agent_log(const char *fmt, ...)
{
	va_list ap;

	fputs("pupa-init: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

long agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((noreturn)) finish(void)
{
	sync();
	reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static void __attribute__((noreturn)) die(const char *what)
{
	agent_log("%s; rebooting", what);
	finish();
}

static void mount_basics(void)
{
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	mkdir("/dev", 0755);
	mkdir("/run", 0755);
	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mkdir("/dev/pts", 0755);
	mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620");
	mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
}

static int vsock_connect_within(unsigned int port, long timeout_ms)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	if (fd < 0)
		return -errno;
	if (timeout_ms > 0)
		setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static int vsock_connect(unsigned int port)
{
	return vsock_connect_within(port, 0);
}

static int say_hello(int fd, int resumed)
{
	proto_begin(&wbuf, PROTO_HELLO);
	proto_put_u32(&wbuf, F_VERSION, AGENT_PROTO_VERSION);
	if (resumed)
		proto_put_u32(&wbuf, F_RESUMED, 1);
	return proto_send(fd, &wbuf, -1, NULL);
}

/*
 * Connect to the host again after a FREEZE, with a deadline. A connection
 * made before a snapshot was taken is reset when a restored VMM runs it,
 * so a failed HELLO or a lost connection before ATTACHED comes back here.
 */
static int reconnect(unsigned int port)
{
	long deadline = agent_now_ms() + RECONNECT_TIMEOUT_MS;

	rbuf.len = rbuf.pending = 0;	/* nothing of the old connection is read as the new one's */
	while (agent_now_ms() < deadline) {
		int fd = vsock_connect_within(port, RECONNECT_TRY_MS);

		if (fd >= 0 && say_hello(fd, 1) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		usleep(5000);
	}
	die("cannot reach the host again after FREEZE");
}

static void send_error(int fd, const char *message)
{
	proto_begin(&wbuf, PROTO_ERROR);
	proto_put_str(&wbuf, F_MESSAGE, message);
	proto_put_u32(&wbuf, F_CODE, EXIT_RUNTIME_FAILURE);
	proto_send(fd, &wbuf, -1, NULL);
}

static void send_simple(int fd, enum proto_type type)
{
	proto_begin(&wbuf, type);
	proto_send(fd, &wbuf, -1, NULL);
}

static int handle_attached(int fd, const struct proto_msg *m, int *mounted)
{
	char serial[64], fstype[32] = "ext4", dev[64], err[512];
	uint32_t mode = MOUNT_OVERLAY;

	if (*mounted) {
		send_error(fd, "the root disk is already mounted");
		return 0;
	}
	if (proto_get_str(m, F_SERIAL, serial, sizeof(serial)) < 0) {
		send_error(fd, "ATTACHED without a valid SERIAL");
		return 0;
	}
	if (proto_get(m, F_FSTYPE) && proto_get_str(m, F_FSTYPE, fstype, sizeof(fstype)) < 0) {
		send_error(fd, "ATTACHED with a bad FSTYPE");
		return 0;
	}
	if (proto_get(m, F_MOUNT_MODE) && (proto_get_u32(m, F_MOUNT_MODE, &mode) < 0 || mode > MOUNT_OVERLAY)) {
		send_error(fd, "ATTACHED with a bad MOUNT_MODE");
		return 0;
	}
	if (disk_find(serial, DISK_TIMEOUT_MS, dev, sizeof(dev), err, sizeof(err)) < 0 ||
	    rootfs_mount(dev, fstype, (int)mode, err, sizeof(err)) < 0) {
		send_error(fd, err);
		return 0;
	}
	*mounted = 1;
	send_simple(fd, PROTO_ACK);
	return 0;
}

/* --- START ------------------------------------------------------------------- */

struct start {
	char **argv, **env;
	char cwd[AGENT_MAX_STR], user[256], hostname[65];
	uint32_t tty, in_port, out_port, err_port, rows, cols;
	struct net_settings net;
	struct volume *vols;
	unsigned int nr_vols;
};

/* Every field with this tag, as a NULL-terminated, NUL-checked list. */
static char **get_list(const struct proto_msg *m, uint16_t tag, unsigned int max, unsigned int extra)
{
	unsigned int n = 0, k = 0;
	char **list;

	for (unsigned int i = 0; i < m->nr_fields; i++)
		n += m->fields[i].tag == tag;
	if (n > max)
		return NULL;
	list = calloc(n + extra + 1, sizeof(*list));
	for (unsigned int i = 0; list && i < m->nr_fields; i++) {
		const struct proto_field *f = &m->fields[i];

		if (f->tag != tag)
			continue;
		if (memchr(f->data, '\0', f->len) || !(list[k] = strndup((const char *)f->data, f->len)))
			return NULL;
		k++;
	}
	return list;
}

static int env_has(char **env, const char *key)
{
	size_t n = strlen(key);

	for (; *env; env++)
		if (strncmp(*env, key, n) == 0 && (*env)[n] == '=')
			return 1;
	return 0;
}

static void env_default(char **env, const char *key, const char *value)
{
	char **end = env;

	if (env_has(env, key))
		return;
	while (*end)
		end++;
	if (asprintf(end, "%s=%s", key, value) < 0)
		*end = NULL;
}

static const char *parse_net(const struct proto_msg *m, struct net_settings *n)
{
	uint32_t on = 0;

	proto_get_u32(m, F_NET, &on);
	n->on = on == 1;
	n->dns = get_list(m, F_DNS, AGENT_MAX_DNS, 0);
	n->hosts = get_list(m, F_ADD_HOST, AGENT_MAX_HOSTS, 0);
	if (!n->dns || !n->hosts)
		return "START has too many or malformed DNS or ADD_HOST fields";
	for (char **h = n->hosts; *h; h++)
		if (!strchr(*h, ':') || strpbrk(*h, " \t\n"))
			return "START has an ADD_HOST that is not NAME:IP";
	for (char **d = n->dns; *d; d++)
		if (strpbrk(*d, " \t\n") || !**d)
			return "START has a malformed DNS server";
	if (!n->on)
		return NULL;
	proto_get_u32(m, F_NET_MTU, &n->mtu);
	if (proto_get_str(m, F_NET_ADDRESS, n->address, sizeof(n->address)) < 0 ||
	    proto_get_str(m, F_NET_GATEWAY, n->gateway, sizeof(n->gateway)) < 0)
		return "START with NET needs NET_ADDRESS and NET_GATEWAY";
	if (n->mtu && (n->mtu < 576 || n->mtu > 65520))
		return "START has a NET_MTU outside 576-65520";
	return NULL;
}

static int parse_volumes(const struct proto_msg *m, struct start *s)
{
	char **list = get_list(m, F_VOLUME, AGENT_MAX_VOLUMES, 0);
	int bad = !list;

	for (char **v = list; v && *v; v++)
		s->nr_vols++;
	s->vols = calloc(s->nr_vols + 1, sizeof(*s->vols));
	for (unsigned int i = 0; !bad && i < s->nr_vols; i++)
		bad = !s->vols || volume_parse(list[i], &s->vols[i]) < 0;
	for (char **v = list; v && *v; v++)	/* volume_parse copied what it keeps */
		free(*v);
	free(list);
	return bad;
}

static const char *parse_start(const struct proto_msg *m, struct start *s)
{
	memset(s, 0, sizeof(*s));
	s->argv = get_list(m, F_ARG, AGENT_MAX_ARGS, 0);
	if (!s->argv || !s->argv[0])
		return "START needs at least one ARG, each without NUL bytes";
	s->env = get_list(m, F_ENV, AGENT_MAX_ENV, 4);	/* room for the defaults */
	if (!s->env)
		return "START has too many or malformed ENV fields";
	if ((proto_get(m, F_CWD) && proto_get_str(m, F_CWD, s->cwd, sizeof(s->cwd)) < 0) ||
	    (proto_get(m, F_USER) && proto_get_str(m, F_USER, s->user, sizeof(s->user)) < 0) ||
	    (proto_get(m, F_HOSTNAME) && proto_get_str(m, F_HOSTNAME, s->hostname, sizeof(s->hostname)) < 0))
		return "START has a malformed CWD, USER or HOSTNAME";
	proto_get_u32(m, F_TTY, &s->tty);
	proto_get_u32(m, F_STDIN_PORT, &s->in_port);
	proto_get_u32(m, F_STDOUT_PORT, &s->out_port);
	proto_get_u32(m, F_STDERR_PORT, &s->err_port);
	proto_get_u32(m, F_ROWS, &s->rows);
	proto_get_u32(m, F_COLS, &s->cols);
	if (!s->out_port || (!s->tty && !s->err_port))
		return "START needs STDOUT_PORT (and STDERR_PORT without a tty)";
	return parse_volumes(m, s) ? "START has a malformed VOLUME (INDEX:ro|rw:/TARGET)" :
	       parse_net(m, &s->net);
}

/* One direction of stdio: bytes move only when the other side can take them. */
struct relay {
	int in, out;
	int eof, closed;
	int is_vsock_out;	/* shutdown(SHUT_WR) at EOF instead of close */
	int shared_out;		/* the pty master: the other direction still needs it */
	size_t len, off;
	char buf[RELAY_BUF];
};

static void relay_close_out(struct relay *r)
{
	if (r->closed)
		return;
	if (r->is_vsock_out)
		shutdown(r->out, SHUT_WR);
	else if (!r->shared_out)
		close(r->out);
	r->closed = 1;
}

static void relay_events(struct relay *r, struct pollfd *pin, struct pollfd *pout)
{
	pin->fd = (!r->eof && r->len == 0 && !r->closed) ? r->in : -1;
	pin->events = POLLIN;
	pout->fd = (r->len && !r->closed) ? r->out : -1;
	pout->events = POLLOUT;
}

static void relay_step(struct relay *r, short in_ev, short out_ev)
{
	if (in_ev) {
		ssize_t n = read(r->in, r->buf, sizeof(r->buf));

		if (n > 0) {
			r->len = (size_t)n;
			r->off = 0;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->eof = 1;	/* EIO from a pty master: every slave is closed */
		}
	}
	if (out_ev && r->len) {
		ssize_t n = write(r->out, r->buf + r->off, r->len - r->off);

		if (n > 0) {
			r->off += (size_t)n;
			if (r->off == r->len)
				r->len = 0;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			r->len = 0;	/* the reader went away: drop, keep draining */
			r->eof = 1;
		}
	}
	if (r->eof && !r->len)
		relay_close_out(r);
}

static void __attribute__((noreturn)) report_exit(int fd, uint16_t tag, uint32_t value, const char *message)
{
	struct proto_msg m;

	proto_begin(&wbuf, PROTO_EXIT);
	proto_put_u32(&wbuf, tag, value);
	if (message)
		proto_put_str(&wbuf, F_MESSAGE, message);
	if (proto_send(fd, &wbuf, -1, NULL) == 0) {
		long deadline = agent_now_ms() + ACK_TIMEOUT_MS;

		while (agent_now_ms() < deadline) {
			int ret = proto_recv(fd, &rbuf, &m, (int)(deadline - agent_now_ms()), NULL);

			if (ret < 0 || m.type == PROTO_ACK)
				break;
		}
	}
	finish();
}

static void __attribute__((noreturn)) run_container(int ctl, const struct proto_msg *m)
{
	struct start s;
	struct spawn_req req = { .ctty_fd = -1 };
	struct relay *rel[3] = { NULL, NULL, NULL };
	char err[512];
	const char *bad = parse_start(m, &s);
	int in_fd = -1, out_fd = -1, errv_fd = -1, code, sfd, exited = 0, status = 0, master = -1;
	long exit_at = 0;
	sigset_t chld;
	pid_t pid;

	if (bad)
		report_exit(ctl, F_EXIT_CODE, EXIT_RUNTIME_FAILURE, bad);
	if (fresh_apply(m, err, sizeof(err)) < 0)
		report_exit(ctl, F_EXIT_CODE, EXIT_RUNTIME_FAILURE, err);
	if (s.hostname[0])
		sethostname(s.hostname, strlen(s.hostname));
	gethostname(s.hostname, sizeof(s.hostname) - 1);
	if (net_enter(&s.net, err, sizeof(err)) < 0 ||
	    rootfs_prepare(s.hostname, &s.net, err, sizeof(err)) < 0 ||
	    creds_resolve(NEWROOT, s.user, &req.creds, err, sizeof(err)) < 0 ||
	    volumes_mount(s.vols, s.nr_vols, req.creds.uid, req.creds.gid, err, sizeof(err)) < 0)
		report_exit(ctl, F_EXIT_CODE, EXIT_RUNTIME_FAILURE, err);
	env_default(s.env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	env_default(s.env, "HOSTNAME", s.hostname);
	env_default(s.env, "HOME", req.creds.home);
	if (s.tty)
		env_default(s.env, "TERM", "xterm");

	/* stdio: each stream its own vsock connection to the port the host named. */
	out_fd = vsock_connect(s.out_port);
	if (s.in_port)
		in_fd = vsock_connect(s.in_port);
	if (!s.tty)
		errv_fd = vsock_connect(s.err_port);
	if (out_fd < 0 || (s.in_port && in_fd < 0) || (!s.tty && errv_fd < 0))
		report_exit(ctl, F_EXIT_CODE, EXIT_RUNTIME_FAILURE, "cannot connect the stdio streams");

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

	for (int i = 0; i < 3; i++)
		rel[i] = calloc(1, sizeof(*rel[i]));
	if (s.tty) {
		struct winsize ws = { .ws_row = (unsigned short)(s.rows ? s.rows : 24),
				      .ws_col = (unsigned short)(s.cols ? s.cols : 80) };
		int slave;

		char path[64] = "";
		unsigned int n = 0;
		int unlock = 0;

		/* From the container's own devpts, so ttyname() works in there. */
		master = open(NEWROOT "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master >= 0 && ioctl(master, TIOCSPTLCK, &unlock) == 0 && ioctl(master, TIOCGPTN, &n) == 0)
			snprintf(path, sizeof(path), NEWROOT "/dev/pts/%u", n);
		if (master < 0 || !path[0] || (slave = open(path, O_RDWR | O_NOCTTY)) < 0)
			report_exit(ctl, F_EXIT_CODE, EXIT_RUNTIME_FAILURE, "cannot open a pty");
		ioctl(master, TIOCSWINSZ, &ws);
		req.stdin_fd = req.stdout_fd = req.stderr_fd = req.ctty_fd = slave;
		*rel[0] = (struct relay){ .in = in_fd, .out = master, .eof = in_fd < 0, .shared_out = 1 };
		rel[0]->closed = in_fd < 0;
		*rel[1] = (struct relay){ .in = master, .out = out_fd, .is_vsock_out = 1 };
		rel[2]->closed = rel[2]->eof = 1;
	} else {
		int pin[2], pout[2], perr[2];

		if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)
			report_exit(ctl, F_EXIT_CODE, EXIT_RUNTIME_FAILURE, "pipe failed");
		if (in_fd >= 0) {
			if (pipe2(pin, O_CLOEXEC) < 0)
				report_exit(ctl, F_EXIT_CODE, EXIT_RUNTIME_FAILURE, "pipe failed");
		} else {
			pin[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			pin[1] = -1;
		}
		req.stdin_fd = pin[0];
		req.stdout_fd = pout[1];
		req.stderr_fd = perr[1];
		*rel[0] = (struct relay){ .in = in_fd, .out = pin[1], .eof = in_fd < 0 };
		rel[0]->closed = in_fd < 0;
		*rel[1] = (struct relay){ .in = pout[0], .out = out_fd, .is_vsock_out = 1 };
		*rel[2] = (struct relay){ .in = perr[0], .out = errv_fd, .is_vsock_out = 1 };
	}
	/* Every relay end non-blocking: a full pipe must never stop the loop. */
	for (int i = 0; i < 3; i++) {
		if (rel[i]->in >= 0 && !rel[i]->closed)
			fcntl(rel[i]->in, F_SETFL, fcntl(rel[i]->in, F_GETFL) | O_NONBLOCK);
		if (rel[i]->out >= 0 && !rel[i]->closed)
			fcntl(rel[i]->out, F_SETFL, fcntl(rel[i]->out, F_GETFL) | O_NONBLOCK);
	}
	req.argv = s.argv;
	req.env = s.env;
	req.cwd = s.cwd;
	req.tty = (int)s.tty;
	pid = spawn_container(&req, &code, err, sizeof(err));
	/* Our copies of the child's ends go, so EOF comes when the child's do. */
	close(req.stdout_fd);
	if (!s.tty) {
		close(req.stdin_fd);
		close(req.stderr_fd);
	}
	if (pid < 0)
		report_exit(ctl, F_EXIT_CODE, (uint32_t)code, err);
	proto_begin(&wbuf, PROTO_STARTED);
	proto_put_u32(&wbuf, F_PID, (uint32_t)pid);
	proto_send(ctl, &wbuf, -1, NULL);

	for (;;) {
		struct pollfd p[8];
		int timeout = -1;

		if (exited) {
			long left = exit_at + DRAIN_AFTER_EXIT_MS - agent_now_ms();

			if ((rel[1]->closed && rel[2]->closed) || left <= 0)
				break;	/* drained, or something else holds the pipes open */
			timeout = (int)left;
		}
		p[0] = (struct pollfd){ .fd = ctl, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (int i = 0; i < 3; i++)
			relay_events(rel[i], &p[2 + 2 * i], &p[3 + 2 * i]);
		if (poll(p, 8, timeout) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			struct signalfd_siginfo si;
			int st;
			pid_t w;

			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			/* PID 1 reaps everything, orphans included. */
			while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
				if (w == pid) {
					exited = 1;
					status = st;
					exit_at = agent_now_ms();
				}
			}
		}
		if (p[0].revents) {
			struct proto_msg cm;
			long n = proto_rbuf_read(&rbuf, ctl);

			if (n <= 0 && n != -EAGAIN)
				die("lost the host connection");
			while (proto_rbuf_next(&rbuf, &cm) == 0) {
				uint32_t v, rows, cols;

				if (cm.type == PROTO_SIGNAL && proto_get_u32(&cm, F_SIGNO, &v) == 0 && v < 65 && !exited)
					kill(pid, (int)v);
				if (cm.type == PROTO_WINSIZE && master >= 0 &&
				    proto_get_u32(&cm, F_ROWS, &rows) == 0 && proto_get_u32(&cm, F_COLS, &cols) == 0) {
					struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

					ioctl(master, TIOCSWINSZ, &ws);
					kill(-pid, SIGWINCH);
				}
			}
		}
		for (int i = 0; i < 3; i++)
			relay_step(rel[i], p[2 + 2 * i].fd >= 0 ? p[2 + 2 * i].revents : 0,
				   p[3 + 2 * i].fd >= 0 ? p[3 + 2 * i].revents : 0);
	}
	for (int i = 1; i < 3; i++)
		relay_close_out(rel[i]);
	if (WIFSIGNALED(status))
		report_exit(ctl, F_EXIT_SIGNAL, (uint32_t)WTERMSIG(status), NULL);
	report_exit(ctl, F_EXIT_CODE, (uint32_t)WEXITSTATUS(status), NULL);
}

int main(int argc, char **argv)
{
	struct boot_props props;
	struct proto_msg m;
	char err[512];
	int fd = -1, mounted = 0, frozen = 0;

	/* Only these exact words: the kernel hands init the command line's
	 * words it does not know. */
	if (argc == 2 && getpid() != 1 && strcmp(argv[1], "--version") == 0) {
		printf("pupa-init %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc == 2 && getpid() != 1 && strcmp(argv[1], "--help") == 0) {
		printf("usage: pupa-init (as PID 1 of a pupa guest) | --help | --version\n"
		       "The guest agent that pupa(1) boots; see pupa-init(8).\n");
		return 0;
	}
	if (getpid() != 1) {
		fprintf(stderr, "pupa-init: must run as PID 1 of a pupa guest\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	mount_basics();
	if (bootfdt_read(&props, err, sizeof(err)) < 0)
		die(err);
	sethostname(props.hostname, strlen(props.hostname));
	if (net_prepare() < 0)
		die("cannot return to the boot network namespace");
	for (int i = 0; i < 100 && fd < 0; i++) {
		fd = vsock_connect(props.agent_port);
		if (fd < 0)
			usleep(50000);
	}
	if (fd < 0)
		die("cannot connect to the host's agent port over vsock");
	if (say_hello(fd, 0) < 0)
		die("cannot say hello to the host");

	for (;;) {
		int ret = proto_recv(fd, &rbuf, &m, -1, NULL);

		if (ret == -EPROTO || ret == -EMSGSIZE) {
			send_error(fd, "malformed frame; closing");
			die("the host sent a malformed frame");
		}
		if (ret < 0 && frozen && !mounted) {
			close(fd);
			fd = reconnect(props.agent_port);
			continue;
		}
		if (ret < 0)
			die("lost the host connection");
		switch (m.type) {
		case PROTO_FREEZE:
			if (mounted) {
				send_error(fd, "FREEZE after the root disk is mounted");
				break;
			}
			send_simple(fd, PROTO_FROZEN);
			close(fd);
			frozen = 1;
			fd = reconnect(props.agent_port);
			break;
		case PROTO_ATTACHED:
			handle_attached(fd, &m, &mounted);
			break;
		case PROTO_START:
			if (!mounted) {
				send_error(fd, "START before the root disk is mounted");
				break;
			}
			run_container(fd, &m);
		default:
			send_error(fd, "unexpected message");
			break;
		}
	}
}
