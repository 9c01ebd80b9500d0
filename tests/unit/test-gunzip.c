/* SPDX-License-Identifier: MIT */
/*
 * The ISA-L gzip decoder (container/image/gunzip.c) against streams made
 * here byte by byte: every header field, concatenated members, input and
 * output in the smallest pieces, trailing data, and each way a hostile
 * stream can be wrong (CRC-32, ISIZE, header CRC, method, truncation).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l.h>

#include "gunzip.h"
#include "unit.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void put_le32(struct buf *b, uint32_t v)
{
	uint8_t le[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };

	put(b, le, 4);
}

/* Some data that compresses, but not to nothing. */
static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (i % 64 < 40) ? (uint8_t)('a' + (i / 64) % 26) : (uint8_t)(x >> 24);
	}
}

enum { F_HCRC = 2, F_EXTRA = 4, F_NAME = 8, F_COMMENT = 16 };

/* One gzip member of data[0..len) with the header fields flags asks for. */
static void member(struct buf *b, const uint8_t *data, size_t len, unsigned int flags)
{
	struct isal_zstream z;
	size_t start = b->len, cap = len + len / 2 + 1024;
	uint8_t hdr[10] = { 0x1f, 0x8b, 8, (uint8_t)flags, 0, 0, 0, 0, 0, 3 };
	uint8_t *out = malloc(cap);

	ck_assert_ptr_nonnull(out);
	put(b, hdr, sizeof(hdr));
	if (flags & F_EXTRA) {
		uint8_t xlen[2] = { 6, 0 }, extra[6] = { 'A', 'P', 2, 0, 'h', 'i' };

		put(b, xlen, 2);
		put(b, extra, 6);
	}
	if (flags & F_NAME)
		put(b, "rootfs.tar", 11);
	if (flags & F_COMMENT)
		put(b, "made by test-gunzip", 20);
	if (flags & F_HCRC) {
		uint32_t crc = crc32_gzip_refl(0, b->p + start, b->len - start);
		uint8_t c16[2] = { crc & 0xff, (crc >> 8) & 0xff };

		put(b, c16, 2);
	}
	isal_deflate_init(&z);
	z.next_in = (uint8_t *)data;
	z.avail_in = (uint32_t)len;
	z.next_out = out;
	z.avail_out = (uint32_t)cap;
	z.end_of_stream = 1;
	z.flush = NO_FLUSH;
	ck_assert_int_eq(isal_deflate(&z), COMP_OK);
	ck_assert_int_eq(z.internal_state.state, ZSTATE_END);
	put(b, out, z.total_out);
	put_le32(b, crc32_gzip_refl(0, data, len));
	put_le32(b, (uint32_t)len);
	free(out);
}

/* Decode in[0..len) fed in pieces of in_step bytes into room of out_step
 * bytes at a time; the output in *got. Returns the last step's result. */
static int decode(const uint8_t *in, size_t len, size_t in_step, size_t out_step,
		  struct buf *got, char *why, size_t why_len)
{
	struct gunzip *g;
	size_t off = 0;
	uint8_t *room = malloc(out_step);
	int ret = GUNZIP_MORE;

	ck_assert_ptr_nonnull(room);
	ck_assert_int_eq(gunzip_new(&g), 0);
	while (ret == GUNZIP_MORE) {
		size_t piece = len - off < in_step ? len - off : in_step;
		const uint8_t *p = in + off;
		size_t left = piece, made;
		int at_eof = off + piece == len;

		do {
			ret = gunzip_step(g, &p, &left, at_eof, room, out_step, &made);
			if (ret < 0)
				break;
			put(got, room, made);
		} while (ret == GUNZIP_MORE && (left || made == out_step ||
						(at_eof && made)));
		if (ret < 0)
			break;
		ck_assert_uint_eq(left, 0);
		off += piece;
		if (at_eof && ret == GUNZIP_MORE) {
			/* at the end with room left and nothing made: it must
			 * have said END or failed */
			ret = gunzip_step(g, &p, &left, 1, room, out_step, &made);
			ck_assert_int_ne(ret, GUNZIP_MORE);
		}
	}
	if (why)
		snprintf(why, why_len, "%s", ret < 0 ? gunzip_error(g) : "");
	if (ret == GUNZIP_END)
		ck_assert_uint_eq(gunzip_consumed(g), len);
	gunzip_free(g);
	free(room);
	return ret;
}

#define DATA_LEN 300000

START_TEST(one_member_every_header_field)
{
	static const unsigned int flags[] = { 0, F_NAME, F_EXTRA | F_NAME | F_COMMENT | F_HCRC,
					      F_HCRC, F_COMMENT | F_EXTRA };
	uint8_t *data = malloc(DATA_LEN);

	fill(data, DATA_LEN, 1);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		struct buf gz = { 0 }, got = { 0 };

		member(&gz, data, DATA_LEN, flags[i]);
		ck_assert_int_eq(decode(gz.p, gz.len, 65536, 1 << 20, &got, NULL, 0), GUNZIP_END);
		ck_assert_uint_eq(got.len, DATA_LEN);
		ck_assert(memcmp(got.p, data, DATA_LEN) == 0);
		free(gz.p);
		free(got.p);
	}
	free(data);
}
END_TEST

START_TEST(concatenated_members_in_the_smallest_pieces)
{
	struct buf gz = { 0 }, want = { 0 };
	uint8_t *data = malloc(DATA_LEN);
	/* (in, out) piece sizes: whole, one byte in, one byte out, odd both */
	static const size_t steps[][2] = { { 1u << 30, 1u << 20 }, { 1, 4096 }, { 65536, 1 }, { 7, 13 } };

	fill(data, DATA_LEN, 2);
	member(&gz, data, 20000, F_NAME);
	put(&want, data, 20000);
	member(&gz, data + 20000, 0, 0);		/* an empty member */
	member(&gz, data + 20000, 30000, F_EXTRA | F_HCRC);
	put(&want, data + 20000, 30000);
	member(&gz, data + 50000, 3, F_COMMENT);
	put(&want, data + 50000, 3);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct buf got = { 0 };

		ck_assert_int_eq(decode(gz.p, gz.len, steps[i][0], steps[i][1], &got, NULL, 0),
				 GUNZIP_END);
		ck_assert_uint_eq(got.len, want.len);
		ck_assert(memcmp(got.p, want.p, want.len) == 0);
		free(got.p);
	}
	free(gz.p);
	free(want.p);
	free(data);
}
END_TEST

START_TEST(trailing_data_is_taken_and_ignored)
{
	static const char *const tails[] = { "\0\0\0\0\0\0\0\0", "garbage\n", "\x1f", "\x8b\x1f" };
	static const size_t tail_len[] = { 8, 8, 1, 2 };
	uint8_t data[5000];

	fill(data, sizeof(data), 3);
	for (size_t i = 0; i < 4; i++) {
		struct buf gz = { 0 }, got = { 0 };

		member(&gz, data, sizeof(data), 0);
		put(&gz, tails[i], tail_len[i]);
		/* decode() checks that every byte was taken */
		ck_assert_int_eq(decode(gz.p, gz.len, 3, 4096, &got, NULL, 0), GUNZIP_END);
		ck_assert_uint_eq(got.len, sizeof(data));
		free(gz.p);
		free(got.p);
	}
}
END_TEST

/* Flip one byte at off (from the end when negative) and expect a refusal
 * whose message has every word of want. */
static void refused(struct buf *gz, long off, uint8_t xor, const char *want1, const char *want2)
{
	size_t at = off < 0 ? gz->len - (size_t)(-off) : (size_t)off;
	struct buf got = { 0 };
	char why[256];

	gz->p[at] ^= xor;
	ck_assert_int_eq(decode(gz->p, gz->len, 4096, 65536, &got, why, sizeof(why)), -EBADMSG);
	ck_assert_msg(strstr(why, want1) && strstr(why, want2), "message: %s", why);
	gz->p[at] ^= xor;
	free(got.p);
}

START_TEST(hostile_streams_are_refused_with_member_and_offset)
{
	struct buf gz = { 0 };
	uint8_t *data = malloc(DATA_LEN);
	size_t second;

	fill(data, DATA_LEN, 4);
	member(&gz, data, 1000, 0);
	second = gz.len;
	member(&gz, data, DATA_LEN, F_NAME | F_HCRC);
	refused(&gz, -8, 0x01, "member 2", "CRC-32 or length");		/* CRC-32 */
	refused(&gz, -1, 0x40, "member 2", "CRC-32 or length");		/* ISIZE */
	refused(&gz, (long)second + 2, 0x01, "member 2", "");		/* method 9 */
	refused(&gz, (long)second + 10 + 11, 0x01, "member 2", "");	/* header CRC */
	refused(&gz, (long)second + 4000, 0xff, "member 2", "compressed offset");
	free(gz.p);
	free(data);
}
END_TEST

START_TEST(a_cut_stream_never_ends_well)
{
	struct buf gz = { 0 };
	uint8_t data[3000];
	size_t end1;

	fill(data, sizeof(data), 5);
	member(&gz, data, sizeof(data), F_EXTRA | F_NAME | F_COMMENT | F_HCRC);
	end1 = gz.len;
	member(&gz, data, 100, 0);
	for (size_t cut = 1; cut < gz.len; cut++) {
		struct buf got = { 0 };
		char why[256];
		int ret = decode(gz.p, cut, 5, 700, &got, why, sizeof(why));

		/* Cut right after the first member it is a whole stream, and
		 * so it is with one byte of the next left (trailing data: one
		 * byte cannot start a member); two bytes start member 2. */
		if (cut == end1 || cut == end1 + 1) {
			ck_assert_msg(ret == GUNZIP_END, "cut at %zu: %s", cut, why);
			ck_assert_uint_eq(got.len, sizeof(data));
		} else {
			ck_assert_int_eq(ret, -EBADMSG);
			ck_assert_msg(strstr(why, "member"), "cut %zu: %s", cut, why);
		}
		free(got.p);
	}
	free(gz.p);
}
END_TEST

static Suite *gunzip_suite(void)
{
	Suite *s = suite_create("gunzip");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, one_member_every_header_field);
	tcase_add_test(tc, concatenated_members_in_the_smallest_pieces);
	tcase_add_test(tc, trailing_data_is_taken_and_ignored);
	tcase_add_test(tc, hostile_streams_are_refused_with_member_and_offset);
	tcase_add_test(tc, a_cut_stream_never_ends_well);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(gunzip_suite());
}
