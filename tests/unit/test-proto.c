#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
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
	suite_add_tcase(s, tc);
	return unit_run(s);
}
