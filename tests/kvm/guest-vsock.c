/*
 * guest-vsock: the guest end of the vsock tests (static, for a busybox
 * initramfs).
 *   guest-vsock connect PORT     stdin -> host PORT, then what comes back -> stdout
 *   guest-vsock listen PORT      accept one host connection on PORT; same copying
 *   guest-vsock multi PORT N BYTES
 *       N connections to host PORT at once, each sending BYTES and then reading
 *       a reply line until EOF; prints how many completed, once all but one
 *       have (the host stalls one on purpose) or after 60 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int vsock_connect(unsigned int port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("guest-vsock: connect");
		exit(1);
	}
	return fd;
}

static int copy_both(int fd)
{
	struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	char buf[65536];
	int in_open = 1;

	for (;;) {
		ssize_t n;

		p[0].fd = in_open ? 0 : -1;
		if (poll(p, 2, -1) < 0)
			return 1;
		if (p[0].revents) {
			n = read(0, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(fd, SHUT_WR);
				in_open = 0;
			} else {
				for (ssize_t off = 0; off < n;) {
					ssize_t w = write(fd, buf + off, n - off);

					if (w <= 0)
						return 1;
					off += w;
				}
			}
		}
		if (p[1].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				return 0;
			if (write(1, buf, n) != n)
				return 1;
		}
	}
}

static int multi(unsigned int port, int n, long bytes)
{
	int fds[64], done = 0, completed = 0;
	long sent[64] = { 0 };
	int state[64] = { 0 };	/* 0 sending, 1 reading, 2 done */
	char buf[65536];
	time_t start = time(NULL);

	memset(buf, 'v', sizeof(buf));
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++) {
		fds[i] = vsock_connect(port);
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
	}
	while (completed < n - 1 && time(NULL) - start < 60) {
		struct pollfd p[64];

		for (int i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = state[i] == 2 ? -1 : fds[i],
						.events = state[i] == 0 ? POLLOUT : POLLIN };
		if (poll(p, n, 1000) < 0)
			break;
		for (int i = 0; i < n; i++) {
			ssize_t r;

			if (!p[i].revents)
				continue;
			if (state[i] == 0) {
				long want = bytes - sent[i] < (long)sizeof(buf) ? bytes - sent[i] : (long)sizeof(buf);

				r = write(fds[i], buf, want);
				if (r > 0)
					sent[i] += r;
				if (sent[i] == bytes) {
					shutdown(fds[i], SHUT_WR);
					state[i] = 1;
				}
			} else {
				r = read(fds[i], buf, sizeof(buf));
				if (r == 0 || (r < 0 && errno != EAGAIN)) {
					state[i] = 2;
					completed++;
				}
				done += r > 0;
			}
		}
	}
	printf("RESULT completed=%d\n", completed);
	for (int i = 0; i < n; i++)
		if (state[i] != 2)
			printf("RESULT unfinished_sent=%ld\n", sent[i]);
	return 0;
}

int main(int argc, char *argv[])
{
	if (argc == 3 && strcmp(argv[1], "connect") == 0)
		return copy_both(vsock_connect((unsigned int)atoi(argv[2])));
	if (argc == 3 && strcmp(argv[1], "listen") == 0) {
		struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
					  .svm_port = (unsigned int)atoi(argv[2]) };
		int l = socket(AF_VSOCK, SOCK_STREAM, 0), fd;

		if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0) {
			perror("guest-vsock: listen");
			return 1;
		}
		fprintf(stderr, "LISTENING %s\n", argv[2]);	/* stdout carries the data */
		fd = accept(l, NULL, NULL);
		if (fd < 0)
			return 1;
		return copy_both(fd);
	}
	if (argc == 5 && strcmp(argv[1], "multi") == 0)
		return multi((unsigned int)atoi(argv[2]), atoi(argv[3]), atol(argv[4]));
	fprintf(stderr, "usage: guest-vsock connect PORT | listen PORT | multi PORT N BYTES\n");
	return 2;
}
