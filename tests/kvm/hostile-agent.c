/*
 * hostile-agent: a guest agent that breaks the agent protocol on purpose,
 * run as /init of a pupa guest (static, alone in its initramfs) so that
 * the tests can show pupa failing within its deadlines, with a reason,
 * and leaving nothing behind. The behaviour is the first word of /mode:
 *
 *   garbage      bytes that are no frame, instead of HELLO
 *   oversized    a frame header that claims 4 GiB
 *   endless      a HELLO header, part of its payload, then nothing
 *   dribble      a HELLO one byte every 200 ms (never whole in time)
 *   deaf         HELLO, then it never reads nor answers again
 *   mute-start   HELLO, ACK for the disk, then no answer to START
 *   run-garbage  HELLO, ACK, STARTED, then bytes that are no frame
 *
 * It never exits (PID 1 exiting would panic the guest, a different
 * failure): it sleeps until pupa ends the VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent_proto.h"
#include "proto_io.h"

/* pupa's agent port (container/cmd_start.c); the boot FDT also says it. */
#define HOSTILE_AGENT_PORT 1024

static struct proto_writer w;
static struct proto_rbuf rb;

static void say(const char *what)
{
	/* The console is the test's only view of what happened in here. */
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY);

	if (fd >= 0) {
		dprintf(fd, "hostile-agent: %s\n", what);
		close(fd);
	}
}

static void __attribute__((noreturn)) idle(const char *what)
{
	say(what);
	for (;;)
		pause();
}

static int host_connect(void)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST,
				  .svm_port = HOSTILE_AGENT_PORT };

	for (int i = 0; i < 200; i++) {
		int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		usleep(50000);
	}
	idle("cannot connect to the host");
}

static void put(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			idle("the host closed the connection");
		p += n;
		len -= (size_t)n;
	}
}

static long hello(void)
{
	proto_begin(&w, PROTO_HELLO);
	proto_put_u32(&w, F_VERSION, AGENT_PROTO_VERSION);
	return proto_finish(&w);
}

static void send_msg(int fd, enum proto_type type)
{
	proto_begin(&w, type);
	if (proto_send(fd, &w, -1, NULL) < 0)
		idle("cannot send");
}

static void expect(int fd, enum proto_type type)
{
	struct proto_msg m;

	if (proto_recv(fd, &rb, &m, -1, NULL) < 0 || m.type != type)
		idle("the host sent something unexpected");
}

/* Bytes that can never start a frame (no "PUPA" magic), from a fixed seed. */
static void garbage(int fd)
{
	uint8_t buf[4096];
	uint32_t x = 0x9e3779b9;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
	buf[0] = 'X';
	put(fd, buf, sizeof(buf));
}

static void header(int fd, uint16_t type, uint32_t len)
{
	uint8_t h[PROTO_HEADER_SIZE];

	memcpy(h, PROTO_MAGIC, 4);
	h[4] = PROTO_VERSION;
	h[5] = 0;
	h[6] = (uint8_t)type;
	h[7] = (uint8_t)(type >> 8);
	for (int i = 0; i < 4; i++)
		h[8 + i] = (uint8_t)(len >> (8 * i));
	put(fd, h, sizeof(h));
}

int main(void)
{
	char mode[32] = "";
	int fd, mfd = open("/mode", O_RDONLY);

	if (mfd < 0 || read(mfd, mode, sizeof(mode) - 1) <= 0)
		idle("no /mode");
	mode[strcspn(mode, " \n")] = '\0';
	fd = host_connect();
	say(mode);

	if (!strcmp(mode, "garbage")) {
		garbage(fd);
	} else if (!strcmp(mode, "oversized")) {
		header(fd, PROTO_HELLO, 0xfffffff0u);
	} else if (!strcmp(mode, "endless")) {
		uint8_t part[100] = { 0 };

		header(fd, PROTO_HELLO, 60000);
		put(fd, part, sizeof(part));
	} else if (!strcmp(mode, "dribble")) {
		long len = hello();

		for (long i = 0; i < len; i++) {
			put(fd, w.buf + i, 1);
			usleep(200000);
		}
		/* Whole at last, long after the deadline: pupa is gone by now. */
	} else if (!strcmp(mode, "deaf")) {
		hello();
		put(fd, w.buf, w.len);
	} else if (!strcmp(mode, "mute-start")) {
		hello();
		put(fd, w.buf, w.len);
		expect(fd, PROTO_ATTACHED);
		send_msg(fd, PROTO_ACK);
		expect(fd, PROTO_START);
	} else if (!strcmp(mode, "run-garbage")) {
		hello();
		put(fd, w.buf, w.len);
		expect(fd, PROTO_ATTACHED);
		send_msg(fd, PROTO_ACK);
		expect(fd, PROTO_START);
		send_msg(fd, PROTO_STARTED);
		garbage(fd);
	} else {
		idle("unknown mode");
	}
	idle("done");
}
