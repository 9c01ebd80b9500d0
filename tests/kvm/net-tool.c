/* SPDX-License-Identifier: MIT */
/*
 * net-tool: what the network tests need inside a container that busybox
 * lacks. Static, put into the test image.
 *
 *   net-tool udp-echo PORT            answer every datagram with itself
 *   net-tool udp-flood IP PORT MIB    send MIB of 1400-byte datagrams, fast
 *   net-tool tcp-stall PORT SECONDS   accept one connection, never read it
 *   net-tool tcp-send PORT MIB N      N times: accept, send MIB of zeros, close
 *   net-tool tcp-recv PORT N          N times: accept, read to EOF; print
 *                                     "recv BYTES SECONDS" (from accept)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int bound(int type, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int one = 1, fd = socket(AF_INET, type, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("bind");
		exit(2);
	}
	return fd;
}

static int __attribute__((noreturn)) udp_echo(const char *port)
{
	int fd = bound(SOCK_DGRAM, port);
	char buf[65536];

	for (;;) {
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);

		if (n >= 0)
			sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
	}
}

static int udp_flood(const char *ip, const char *port, const char *mib)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	long long left = atoll(mib) * 1024 * 1024, sent = 0;
	char buf[1400];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	memset(buf, 'x', sizeof(buf));
	if (fd < 0 || inet_pton(AF_INET, ip, &to.sin_addr) != 1)
		return 2;
	while (left > 0) {
		/* Refused (ICMP from the closed port) or a full queue: go on. */
		if (sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&to, sizeof(to)) > 0)
			sent += (long long)sizeof(buf);
		left -= (long long)sizeof(buf);
	}
	printf("udp-flood: %lld bytes sent\n", sent);
	return 0;
}

static int tcp_stall(const char *port, const char *seconds)
{
	int fd = bound(SOCK_STREAM, port), c;

	listen(fd, 1);
	printf("tcp-stall: listening\n");
	fflush(stdout);
	c = accept(fd, NULL, NULL);
	if (c < 0)
		return 2;
	sleep((unsigned int)atoi(seconds));
	return 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int tcp_send(const char *port, const char *mib, const char *times)
{
	static char buf[1 << 16];
	int fd = bound(SOCK_STREAM, port);

	listen(fd, 1);
	for (int i = 0; i < atoi(times); i++) {
		long long left = atoll(mib) * 1024 * 1024;
		int c = accept(fd, NULL, NULL);

		while (c >= 0 && left > 0) {
			ssize_t n = write(c, buf, left < (long long)sizeof(buf) ? (size_t)left : sizeof(buf));

			if (n <= 0) {
				perror("tcp-send: write");
				break;
			}
			left -= n;
		}
		if (c >= 0)
			close(c);
	}
	return 0;
}

static int tcp_recv(const char *port, const char *times)
{
	static char buf[1 << 16];
	int fd = bound(SOCK_STREAM, port);

	listen(fd, 1);
	for (int i = 0; i < atoi(times); i++) {
		int c = accept(fd, NULL, NULL);
		long long total = 0;
		double t0 = now();
		ssize_t n;

		while (c >= 0 && (n = read(c, buf, sizeof(buf))) > 0)
			total += n;
		printf("recv %lld %.3f\n", total, now() - t0);
		fflush(stdout);
		if (c >= 0)
			close(c);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "tcp-send") == 0)
		return tcp_send(argv[2], argv[3], argv[4]);
	if (argc == 4 && strcmp(argv[1], "tcp-recv") == 0)
		return tcp_recv(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "udp-echo") == 0)
		return udp_echo(argv[2]);
	if (argc == 5 && strcmp(argv[1], "udp-flood") == 0)
		return udp_flood(argv[2], argv[3], argv[4]);
	if (argc == 4 && strcmp(argv[1], "tcp-stall") == 0)
		return tcp_stall(argv[2], argv[3]);
	fprintf(stderr, "usage: net-tool udp-echo PORT | udp-flood IP PORT MIB | "
		"tcp-stall PORT SECONDS | tcp-send PORT MIB N | tcp-recv PORT N\n");
	return 2;
}
