/*
 * host-vsock: the host end of the vsock tests, on pupa-vmm's Unix sockets.
 *   host-vsock sink PATH OUT      accept one connection on PATH, write all of it to OUT
 *   host-vsock send UDS PORT IN   connect through the VMM to guest PORT, send IN, close
 *   host-vsock stall PATH N       accept N connections on PATH; never read the first,
 *                                 read the others to EOF and answer "ok BYTES\n"
 *   host-vsock ctl PATH MAX LINE...
 *                                 send each LINE to the control socket PATH, print what
 *                                 comes back until MAX lines, EOF or 60 s
 *   host-vsock ctl-fd PATH FILE LINE
 *                                 create FILE (emptied), send LINE to the control
 *                                 socket PATH with FILE's descriptor, print the reply
 * Each exits on its own (at most 120 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		perror("host-vsock: listen");
		exit(1);
	}
	return fd;
}

int main(int argc, char *argv[])
{
	char buf[65536];

	alarm(120);
	if (argc == 4 && strcmp(argv[1], "sink") == 0) {
		int l = listen_on(argv[2]), fd = accept(l, NULL, NULL), out;
		ssize_t n;

		out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || out < 0)
			return 1;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (write(out, buf, n) != n)
				return 1;
		return n < 0;
	}
	if (argc == 5 && strcmp(argv[1], "send") == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0), in = open(argv[4], O_RDONLY);
		char line[64];
		ssize_t n;
		int i = 0;

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
		if (fd < 0 || in < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("host-vsock: connect");
			return 1;
		}
		dprintf(fd, "CONNECT %s\n", argv[3]);
		while (i < (int)sizeof(line) - 1 && read(fd, &line[i], 1) == 1 && line[i] != '\n')
			i++;
		line[i] = '\0';
		if (strncmp(line, "OK ", 3) != 0) {
			fprintf(stderr, "host-vsock: no OK from the VMM (got '%s')\n", line);
			return 1;
		}
		while ((n = read(in, buf, sizeof(buf))) > 0)
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(fd, buf + off, n - off);

				if (w <= 0)
					return 1;
				off += w;
			}
		shutdown(fd, SHUT_WR);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "stall") == 0) {
		int l = listen_on(argv[2]), n = atoi(argv[3]), fds[64], open_n = 0;
		long got[64] = { 0 };

		for (int i = 0; i < n && i < 64; i++) {
			fds[i] = accept(l, NULL, NULL);
			if (fds[i] < 0)
				return 1;
		}
		open_n = n - 1;
		while (open_n > 0) {
			struct pollfd p[64];

			for (int i = 1; i < n; i++)
				p[i - 1] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
			if (poll(p, n - 1, -1) < 0)
				return 1;
			for (int i = 1; i < n; i++) {
				ssize_t r;

				if (!p[i - 1].revents || fds[i] < 0)
					continue;
				r = read(fds[i], buf, sizeof(buf));
				if (r > 0) {
					got[i] += r;
					continue;
				}
				dprintf(fds[i], "ok %ld\n", got[i]);
				close(fds[i]);
				fds[i] = -1;
				open_n--;
			}
		}
		printf("host: %d connections served, one stalled\n", n - 1);
		pause();	/* keep the stalled one open until killed */
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "ctl-fd") == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		int file = open(argv[3], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { argv[4], strlen(argv[4]) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		FILE *in;

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
		if (fd < 0 || file < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("host-vsock: ctl-fd");
			return 1;
		}
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &file, sizeof(int));
		if (sendmsg(fd, &mh, 0) < 0 || write(fd, "\n", 1) != 1) {
			perror("host-vsock: ctl-fd send");
			return 1;
		}
		close(file);
		alarm(60);
		in = fdopen(fd, "r");
		if (fgets(buf, sizeof(buf), in))
			fputs(buf, stdout);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "ctl") == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0), max = atoi(argv[3]), lines = 0;
		FILE *in;

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("host-vsock: ctl connect");
			return 1;
		}
		for (int i = 4; i < argc; i++)
			dprintf(fd, "%s\n", argv[i]);
		alarm(60);
		in = fdopen(fd, "r");
		while (lines < max && fgets(buf, sizeof(buf), in)) {
			fputs(buf, stdout);
			fflush(stdout);
			lines++;
		}
		return 0;
	}
	fprintf(stderr, "usage: host-vsock sink PATH OUT | send UDS PORT IN | stall PATH N | ctl PATH MAX LINE...\n");
	return 2;
}
