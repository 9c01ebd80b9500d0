#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "proto_io.h"
#include "unit.h"

static struct proto_writer w;
static struct proto_msg msg;

static long build_start(void)
{
	proto_begin(&w, PROTO_START);
	proto_put_str(&w, 1, "/bin/sh");
	proto_put_str(&w, 1, "-c");
	proto_put_u32(&w, 7, 1024);
	proto_put(&w, 9, NULL, 0);
	return proto_finish(&w);
}

START_TEST(round_trip)
{
	long n = build_start();
	size_t used = 0;
	uint32_t v;
	char s[16];

	ck_assert_int_eq(n, PROTO_HEADER_SIZE + 4 + 7 + 4 + 2 + 4 + 4 + 4);
	ck_assert_int_eq(proto_parse(w.buf, (size_t)n, &msg, &used), 0);
	ck_assert_uint_eq(used, (size_t)n);
	ck_assert_uint_eq(msg.type, PROTO_START);
	ck_assert_uint_eq(msg.nr_fields, 4);
	ck_assert_int_eq(proto_get_str(&msg, 1, s, sizeof(s)), 0);	/* the first with tag 1 */
	ck_assert_str_eq(s, "/bin/sh");
	ck_assert_int_eq(proto_get_u32(&msg, 7, &v), 0);
	ck_assert_uint_eq(v, 1024);
	ck_assert_uint_eq(proto_get(&msg, 9)->len, 0);
	ck_assert_int_eq(proto_get_u32(&msg, 8, &v), -ENOENT);
	ck_assert_int_eq(proto_get_u32(&msg, 1, &v), -EPROTO);		/* 7 bytes, not 4 */
	ck_assert_int_eq(proto_get_str(&msg, 1, s, 4), -ENOSPC);
	ck_assert_str_eq(proto_type_name(msg.type), "START");
}
END_TEST

START_TEST(two_frames_in_one_buffer)
{
	uint8_t buf[256];
	long a = build_start();
	size_t used;

	memcpy(buf, w.buf, (size_t)a);
	proto_begin(&w, PROTO_ACK);
	ck_assert_int_eq(proto_finish(&w), PROTO_HEADER_SIZE);
	memcpy(buf + a, w.buf, PROTO_HEADER_SIZE);
	ck_assert_int_eq(proto_parse(buf, (size_t)a + PROTO_HEADER_SIZE, &msg, &used), 0);
	ck_assert_uint_eq(used, (size_t)a);
	ck_assert_int_eq(proto_parse(buf + used, PROTO_HEADER_SIZE, &msg, &used), 0);
	ck_assert_uint_eq(msg.type, PROTO_ACK);
	ck_assert_uint_eq(msg.nr_fields, 0);
}
END_TEST

START_TEST(truncated)
{
	long n = build_start();
	size_t used;

	for (long cut = 0; cut < n; cut++)
		ck_assert_int_eq(proto_parse(w.buf, (size_t)cut, &msg, &used), -EAGAIN);
}
END_TEST

START_TEST(malformed)
{
	long n = build_start();
	size_t used;
	uint8_t bad[PROTO_HEADER_SIZE + 16];

	memcpy(bad, w.buf, sizeof(bad));
	bad[0] = 'X';
	ck_assert_int_eq(proto_parse(bad, 1, &msg, &used), -EPROTO);	/* at the first byte */
	ck_assert_int_eq(proto_parse(bad, sizeof(bad), &msg, &used), -EPROTO);
	memcpy(bad, w.buf, sizeof(bad));
	bad[4] = 2;							/* version 2 */
	ck_assert_int_eq(proto_parse(bad, sizeof(bad), &msg, &used), -EPROTO);
	memcpy(bad, w.buf, sizeof(bad));
	bad[6] = 0;							/* type 0 */
	ck_assert_int_eq(proto_parse(bad, sizeof(bad), &msg, &used), -EPROTO);
	bad[6] = PROTO_TYPE_MAX + 1;					/* unknown type */
	ck_assert_int_eq(proto_parse(bad, sizeof(bad), &msg, &used), -EPROTO);

	/* A field whose length runs past the payload. */
	build_start();
	w.buf[PROTO_HEADER_SIZE + 2] = 0xff;
	ck_assert_int_eq(proto_parse(w.buf, (size_t)n, &msg, &used), -EPROTO);
	/* A payload that ends inside a field header. */
	proto_begin(&w, PROTO_HELLO);
	w.buf[8] = 3;
	memset(w.buf + PROTO_HEADER_SIZE, 0, 3);
	ck_assert_int_eq(proto_parse(w.buf, PROTO_HEADER_SIZE + 3, &msg, &used), -EPROTO);
	/* A NUL inside a string field. */
	proto_begin(&w, PROTO_ERROR);
	proto_put(&w, 1, "a\0b", 3);
	n = proto_finish(&w);
	ck_assert_int_eq(proto_parse(w.buf, (size_t)n, &msg, &used), 0);
	{
		char s[8];

		ck_assert_int_eq(proto_get_str(&msg, 1, s, sizeof(s)), -EPROTO);
	}
}
END_TEST

START_TEST(oversized)
{
	uint8_t hdr[PROTO_HEADER_SIZE];
	static uint8_t big[PROTO_MAX_PAYLOAD];
	size_t used;

	proto_begin(&w, PROTO_START);
	memcpy(hdr, w.buf, sizeof(hdr));
	hdr[8] = 0x01;
	hdr[9] = 0x00;
	hdr[10] = 0x01;		/* 64 KiB + 1 */
	hdr[11] = 0x00;
	ck_assert_int_eq(proto_parse(hdr, sizeof(hdr), &msg, &used), -EMSGSIZE);
	hdr[10] = 0xff;
	hdr[11] = 0xff;
	ck_assert_int_eq(proto_parse(hdr, sizeof(hdr), &msg, &used), -EMSGSIZE);

	/* The writer refuses to build what the reader would refuse. */
	proto_begin(&w, PROTO_START);
	proto_put(&w, 1, big, 60000);
	proto_put(&w, 2, big, 60000);
	ck_assert_int_eq(proto_finish(&w), -EMSGSIZE);
	proto_begin(&w, PROTO_START);
	proto_put(&w, 1, big, 70000);	/* longer than a field can say */
	ck_assert_int_eq(proto_finish(&w), -EMSGSIZE);
}
END_TEST

START_TEST(too_many_fields)
{
	size_t used;
	long n;

	proto_begin(&w, PROTO_START);
	for (int i = 0; i <= PROTO_MAX_FIELDS; i++)
		proto_put(&w, 1, NULL, 0);
	n = proto_finish(&w);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(proto_parse(w.buf, (size_t)n, &msg, &used), -EPROTO);
}
END_TEST

START_TEST(random_bytes_never_crash)
{
	uint8_t buf[512];
	size_t used;

	srand(1);
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand() % (int)sizeof(buf));

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		if (round % 2 && len >= PROTO_HEADER_SIZE) {	/* half with a valid header */
			memcpy(buf, PROTO_MAGIC, 4);
			buf[4] = PROTO_VERSION;
			buf[5] = 0;
			buf[6] = (uint8_t)(1 + rand() % PROTO_TYPE_MAX);
			buf[7] = 0;
			buf[8] = (uint8_t)(len - PROTO_HEADER_SIZE);
			buf[9] = buf[10] = buf[11] = 0;
		}
		if (proto_parse(buf, len, &msg, &used) == 0)
			ck_assert_uint_le(used, len);
	}
}
END_TEST

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A peer that sends a valid frame a byte every 30 ms cannot keep a receive
 * alive past its deadline: one deadline per message, not per byte. */
START_TEST(recv_deadline_is_per_message)
{
	static struct proto_rbuf rb;
	long n = build_start(), t0;
	int sv[2], ret;
	pid_t pid;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	if (pid == 0) {
		for (long i = 0; i < n; i++) {
			if (write(sv[1], w.buf + i, 1) != 1)
				_exit(1);
			usleep(30000);
		}
		_exit(0);
	}
	close(sv[1]);
	t0 = now_ms();
	ret = proto_recv(sv[0], &rb, &msg, 300, NULL);
	ck_assert_int_eq(ret, -ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 600);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(sv[0]);
}
END_TEST

static volatile sig_atomic_t cancelled;

static void on_alarm(int sig)
{
	cancelled = sig;
}

/* A signal's flag ends a wait without a deadline, a receive or a send. */
START_TEST(signal_flag_ends_waits)
{
	static struct proto_rbuf rb;
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { 0, 100000 } };
	int sv[2], ret;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	cancelled = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	ret = proto_recv(sv[0], &rb, &msg, -1, &cancelled);
	ck_assert_int_eq(ret, -EINTR);
	ck_assert_int_eq(cancelled, SIGALRM);

	/* Fill the peer's buffer, then a send blocks until the flag is set. */
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	cancelled = 0;
	build_start();
	while (write(sv[0], w.buf, (size_t)proto_finish(&w)) > 0)
		;
	setitimer(ITIMER_REAL, &it, NULL);
	ret = proto_send(sv[0], &w, -1, &cancelled);
	ck_assert_int_eq(ret, -EINTR);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A peer that stops reading: a send to it ends at its deadline. */
START_TEST(send_deadline_on_a_peer_that_stops_reading)
{
	int sv[2], ret = 0, sends = 0;
	long t0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	t0 = now_ms();
	while (ret == 0 && sends < 100000) {
		build_start();
		ret = proto_send(sv[0], &w, 200, NULL);
		sends++;
	}
	ck_assert_int_eq(ret, -ETIMEDOUT);
	ck_assert_int_lt(now_ms() - t0, 2000);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("frames");

	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, two_frames_in_one_buffer);
	tcase_add_test(tc, truncated);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, oversized);
	tcase_add_test(tc, too_many_fields);
	tcase_add_test(tc, random_bytes_never_crash);
	tcase_add_test(tc, recv_deadline_is_per_message);
	tcase_add_test(tc, signal_flag_ends_waits);
	tcase_add_test(tc, send_deadline_on_a_peer_that_stops_reading);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
