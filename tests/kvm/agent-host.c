/*
 * agent-host: the host side of the agent protocol, for the KVM tests
 * (pupa start will do the same): wait for pupa-init's HELLO on PATH_PORT,
 * optionally attach the root disk over pupa-vmm's control socket, send
 * ATTACHED and START, relay this process's stdio over three vsock streams,
 * and exit with the container's status (128+N for a signal).
 *
 *   agent-host --uds PATH --port N --serial NAME [--mode rw|ro|overlay]
 *              [--control CTL --image FILE] [--tty] [--user U] [--cwd D]
 *              [--hostname H] [--env K=V]... [--no-stdin]
 *              [--signal-after MS:SIGNO] [--console FILE] -- ARG...
 * When the agent goes away without EXIT (a panic, a killed VMM), the last
 * lines of the guest console FILE say why.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent_proto.h"
#include "proto_io.h"

static struct proto_rbuf rb;
static struct proto_writer w;
static char listened[4][108];
static int nr_listened;

static const char *console_file;

static void console_tail(void)
{
	char cmd[600];

	if (!console_file)
		return;
	fprintf(stderr, "agent-host: last lines of the guest console:\n");
	snprintf(cmd, sizeof(cmd), "tail -n 10 '%s' >&2", console_file);
	if (system(cmd) != 0)
		fprintf(stderr, "agent-host: (no console log)\n");
}

static void unlink_listeners(void)
{
	for (int i = 0; i < nr_listened; i++)
		unlink(listened[i]);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listen_on(const char *uds, unsigned int port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, port);
	unlink(sa.sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		fprintf(stderr, "agent-host: listen %s: %s\n", sa.sun_path, strerror(errno));
		exit(125);
	}
	if (nr_listened < 4)
		memcpy(listened[nr_listened++], sa.sun_path, sizeof(sa.sun_path));
	return fd;
}

static int accept_within(int l, int ms, const char *what)
{
	struct pollfd p = { .fd = l, .events = POLLIN };

	if (poll(&p, 1, ms) != 1) {
		fprintf(stderr, "agent-host: no %s connection within %d ms\n", what, ms);
		exit(125);
	}
	return accept4(l, NULL, NULL, SOCK_CLOEXEC);
}

static void expect(int fd, struct proto_msg *m, int timeout)
{
	int ret = proto_recv(fd, &rb, m, timeout, NULL);

	if (ret < 0) {
		fprintf(stderr, "agent-host: no answer from the agent: %s\n", strerror(-ret));
		exit(125);
	}
	if (m->type == PROTO_ERROR) {
		char msg[AGENT_MAX_STR] = "?";

		proto_get_str(m, F_MESSAGE, msg, sizeof(msg));
		fprintf(stderr, "agent-host: agent error: %s\n", msg);
		exit(125);
	}
}

static void attach(const char *ctl, const char *image, const char *serial, const char *mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	char line[8192];
	ssize_t n;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctl);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("agent-host: control socket");
		exit(125);
	}
	/* As pupa does: the image as a descriptor riding with the line. */
	{
		int rw = strcmp(mode, "rw") == 0, medium = open(image, rw ? O_RDWR : O_RDONLY);
		union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } ctrl;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf,
				     .msg_controllen = sizeof(ctrl.buf) };
		struct cmsghdr *cm;

		if (medium < 0) {
			perror("agent-host: the image");
			exit(125);
		}
		snprintf(line, sizeof(line), "{\"request\":\"attach\",\"slot\":\"%s\",\"path\":\"%s\","
			 "\"mode\":\"%s\",\"fd\":true}\n", serial, image, rw ? "ReadWrite" : "ReadOnly");
		iov = (struct iovec){ line, strlen(line) };
		memset(&ctrl, 0, sizeof(ctrl));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &medium, sizeof(int));
		if (sendmsg(fd, &mh, 0) != (ssize_t)iov.iov_len) {
			perror("agent-host: sendmsg");
			exit(125);
		}
		close(medium);
	}
	n = read(fd, line, sizeof(line) - 1);
	line[n > 0 ? n : 0] = '\0';
	if (!strstr(line, "\"reply\":\"attach\"")) {
		fprintf(stderr, "agent-host: attach failed: %s", line);
		exit(125);
	}
	close(fd);
}

int main(int argc, char *argv[])
{
	const char *uds = NULL, *serial = NULL, *mode = "overlay", *ctl = NULL, *image = NULL;
	const char *user = NULL, *cwd = NULL, *hostname = NULL, *envs[64];
	unsigned int port = 0, nenv = 0;
	int tty = 0, no_stdin = 0, sig = 0, sig_after = -1, c;
	static const struct option opts[] = {
		{ "uds", 1, 0, 'u' }, { "port", 1, 0, 'p' }, { "serial", 1, 0, 's' }, { "mode", 1, 0, 'm' },
		{ "control", 1, 0, 'c' }, { "image", 1, 0, 'i' }, { "tty", 0, 0, 't' }, { "user", 1, 0, 'U' },
		{ "cwd", 1, 0, 'w' }, { "hostname", 1, 0, 'h' }, { "env", 1, 0, 'e' },
		{ "no-stdin", 0, 0, 'n' }, { "signal-after", 1, 0, 'S' }, { "console", 1, 0, 'C' },
		{ 0, 0, 0, 0 } };
	struct proto_msg m;
	int agent, lin, lout, lerr, fin = -1, fout, ferr = -1, code = -1, out_open = 1, err_open, in_open;
	static char inbuf[65536];
	size_t in_len = 0, in_off = 0;
	long t0 = now_ms(), exit_at = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': uds = optarg; break;
		case 'p': port = (unsigned int)atoi(optarg); break;
		case 's': serial = optarg; break;
		case 'm': mode = optarg; break;
		case 'c': ctl = optarg; break;
		case 'i': image = optarg; break;
		case 't': tty = 1; break;
		case 'U': user = optarg; break;
		case 'w': cwd = optarg; break;
		case 'h': hostname = optarg; break;
		case 'e': if (nenv < 64) envs[nenv++] = optarg; break;
		case 'n': no_stdin = 1; break;
		case 'C': console_file = optarg; break;
		case 'S': sig_after = atoi(optarg); sig = atoi(strchr(optarg, ':') ? strchr(optarg, ':') + 1 : "15"); break;
		default: return 125;
		}
	}
	if (!uds || !port || !serial || optind >= argc) {
		fprintf(stderr, "agent-host: --uds, --port, --serial and a command are required\n");
		return 125;
	}
	atexit(unlink_listeners);
	agent = accept_within(listen_on(uds, port), 60000, "agent");
	expect(agent, &m, 60000);
	if (m.type != PROTO_HELLO)
		return 125;
	fprintf(stderr, "agent-host: HELLO after %ld ms\n", now_ms() - t0);
	if (ctl && image)
		attach(ctl, image, serial, mode);
	proto_begin(&w, PROTO_ATTACHED);
	proto_put_str(&w, F_SERIAL, serial);
	proto_put_u32(&w, F_MOUNT_MODE, !strcmp(mode, "rw") ? MOUNT_RW : !strcmp(mode, "ro") ? MOUNT_RO : MOUNT_OVERLAY);
	proto_send(agent, &w, -1, NULL);
	expect(agent, &m, 30000);

	lin = listen_on(uds, port + 1);
	lout = listen_on(uds, port + 2);
	lerr = listen_on(uds, port + 3);
	proto_begin(&w, PROTO_START);
	for (int i = optind; i < argc; i++)
		proto_put_str(&w, F_ARG, argv[i]);
	for (unsigned int i = 0; i < nenv; i++)
		proto_put_str(&w, F_ENV, envs[i]);
	if (user)
		proto_put_str(&w, F_USER, user);
	if (cwd)
		proto_put_str(&w, F_CWD, cwd);
	if (hostname)
		proto_put_str(&w, F_HOSTNAME, hostname);
	proto_put_u32(&w, F_TTY, (uint32_t)tty);
	proto_put_u32(&w, F_STDIN_PORT, no_stdin ? 0 : port + 1);
	proto_put_u32(&w, F_STDOUT_PORT, port + 2);
	proto_put_u32(&w, F_STDERR_PORT, port + 3);
	proto_send(agent, &w, -1, NULL);

	fout = accept_within(lout, 30000, "stdout");
	if (!no_stdin)
		fin = accept_within(lin, 30000, "stdin");
	if (!tty)
		ferr = accept_within(lerr, 30000, "stderr");
	err_open = ferr >= 0;
	in_open = fin >= 0;
	if (fin >= 0)	/* never block on the guest's stdin while its stdout waits for us */
		fcntl(fin, F_SETFL, fcntl(fin, F_GETFL) | O_NONBLOCK);

	for (;;) {
		struct pollfd p[5] = { { agent, POLLIN, 0 }, { out_open ? fout : -1, POLLIN, 0 },
				       { err_open ? ferr : -1, POLLIN, 0 },
				       { in_open && !in_len ? 0 : -1, POLLIN, 0 },
				       { in_len ? fin : -1, POLLOUT, 0 } };
		char buf[65536];
		ssize_t n;

		if (code >= 0 && ((!out_open && !err_open) || now_ms() - exit_at > 5000))
			break;
		if (sig_after >= 0 && now_ms() - t0 >= sig_after) {
			proto_begin(&w, PROTO_SIGNAL);
			proto_put_u32(&w, F_SIGNO, (uint32_t)sig);
			proto_send(agent, &w, -1, NULL);
			sig_after = -1;
		}
		if (poll(p, 5, 100) < 0)
			break;
		if (p[1].revents) {
			n = read(fout, buf, sizeof(buf));
			if (n <= 0)
				out_open = 0;
			else if (write(1, buf, (size_t)n) != n)
				return 125;
		}
		if (p[2].revents) {
			n = read(ferr, buf, sizeof(buf));
			if (n <= 0)
				err_open = 0;
			else if (write(2, buf, (size_t)n) != n)
				return 125;
		}
		if (p[3].revents) {
			n = read(0, inbuf, sizeof(inbuf));
			if (n <= 0) {
				shutdown(fin, SHUT_WR);
				in_open = 0;
			} else {
				in_len = (size_t)n;
				in_off = 0;
			}
		}
		if (p[4].revents) {
			n = write(fin, inbuf + in_off, in_len - in_off);
			if (n < 0 && errno != EAGAIN) {
				in_len = 0;
				in_open = 0;
			} else if (n > 0 && (in_off += (size_t)n) == in_len) {
				in_len = 0;
			}
		}
		if (p[0].revents) {
			long r = proto_rbuf_read(&rb, agent);

			if (r <= 0 && code >= 0) {
				agent = -1;	/* it rebooted after our ACK: fine */
				continue;
			}
			if (r <= 0) {
				fprintf(stderr, "agent-host: the agent went away without EXIT\n");
				console_tail();
				exit(125);
			}
			while (proto_rbuf_next(&rb, &m) == 0) {
				uint32_t v;
				char msg[AGENT_MAX_STR];

				if (m.type != PROTO_EXIT)
					continue;
				if (proto_get_str(&m, F_MESSAGE, msg, sizeof(msg)) == 0)
					fprintf(stderr, "agent-host: %s\n", msg);
				if (proto_get_u32(&m, F_EXIT_SIGNAL, &v) == 0)
					code = 128 + (int)v;
				else if (proto_get_u32(&m, F_EXIT_CODE, &v) == 0)
					code = (int)v;
				else
					code = 125;
				exit_at = now_ms();
				proto_begin(&w, PROTO_ACK);
				proto_send(agent, &w, -1, NULL);
			}
		}
	}
	exit(code);
}
