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
 *   net-tool syn ADDR PORT            one TCP SYN to ADDR (IPv4 or IPv6, any
 *                                     form: 127.0.0.1, ::, ::ffff:0.0.0.0)
 *                                     out of eth0 to slirp, as a hostile guest
 *                                     would send it: a raw IP socket with our
 *                                     own header, routed by the gateway's
 *                                     address (10.0.2.2, fec0::2), so the
 *                                     guest's own routes do not keep it home
 *   net-tool udp-from SPORT IP PORT   one datagram from port SPORT to IP:PORT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
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

static uint32_t sum16(const uint8_t *b, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A 20-byte SYN from port 40000 + a little to port, checksummed over the
 * pseudo header whose address sum is addr_sum. */
static void syn_header(uint8_t *t, uint16_t port, uint32_t addr_sum)
{
	uint16_t c;

	memset(t, 0, 20);
	t[0] = 0x9c, t[1] = (uint8_t)(0x40 + (getpid() & 0x3f));
	t[2] = (uint8_t)(port >> 8), t[3] = (uint8_t)port;
	t[4] = 0x12, t[7] = 0x01;		/* SEQ */
	t[12] = 5 << 4;
	t[13] = 0x02;				/* SYN */
	t[14] = 0xff, t[15] = 0xff;		/* window */
	c = fold(sum16(t, 20, addr_sum + 6 + 20));
	t[16] = (uint8_t)(c >> 8), t[17] = (uint8_t)c;
}

static int syn(const char *addr, const char *port)
{
	uint8_t pkt[60] = { 0 };
	uint16_t p = (uint16_t)atoi(port);
	int v6 = strchr(addr, ':') != NULL;
	struct sockaddr_in6 gw6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in gw4 = { .sin_family = AF_INET };
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, IPPROTO_RAW);
	ssize_t n;

	if (fd < 0) {
		perror("syn: socket");
		return 2;
	}
	if (v6) {
		pkt[0] = 0x60, pkt[5] = 20, pkt[6] = 6, pkt[7] = 64;
		inet_pton(AF_INET6, "fec0::15", pkt + 8);
		if (inet_pton(AF_INET6, addr, pkt + 24) != 1)
			return 2;
		syn_header(pkt + 40, p, sum16(pkt + 8, 32, 0));
		inet_pton(AF_INET6, "fec0::2", &gw6.sin6_addr);
		n = sendto(fd, pkt, 60, 0, (struct sockaddr *)&gw6, sizeof(gw6));
	} else {
		pkt[0] = 0x45, pkt[3] = 40, pkt[8] = 64, pkt[9] = 6;
		inet_pton(AF_INET, "10.0.2.15", pkt + 12);
		if (inet_pton(AF_INET, addr, pkt + 16) != 1)
			return 2;
		syn_header(pkt + 20, p, sum16(pkt + 12, 8, 0));
		inet_pton(AF_INET, "10.0.2.2", &gw4.sin_addr);
		n = sendto(fd, pkt, 40, 0, (struct sockaddr *)&gw4, sizeof(gw4));
	}
	if (n < 0) {
		fprintf(stderr, "syn %s %s: sendto: %s\n", addr, port, strerror(errno));
		return 1;
	}
	printf("syn %s %s: sent\n", addr, port);
	return 0;
}

static int udp_from(const char *sport, const char *ip, const char *port)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int fd = bound(SOCK_DGRAM, sport);

	if (inet_pton(AF_INET, ip, &to.sin_addr) != 1)
		return 2;
	return sendto(fd, "r2-probe", 8, 0, (struct sockaddr *)&to, sizeof(to)) == 8 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "syn") == 0)
		return syn(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "udp-from") == 0)
		return udp_from(argv[2], argv[3], argv[4]);
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
		"tcp-stall PORT SECONDS | tcp-send PORT MIB N | tcp-recv PORT N | syn ADDR PORT | "
		"udp-from SPORT IP PORT\n");
	return 2;
}
