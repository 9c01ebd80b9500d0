/* SPDX-License-Identifier: MIT */
/*
 * The gzip decoder layer (container/image/gunzip.c) on any bytes: the
 * stream is decoded twice, once whole into a large buffer and once in
 * pieces of sizes taken from the input (down to one byte in, one byte
 * out), and the two must agree on the outcome, the output and the bytes
 * taken. What a member claims (ISIZE, header lengths) is never trusted:
 * output is bounded by the room given, and a stream that ends well has
 * taken every input byte.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l.h>

#include "fuzz.h"
#include "gunzip.h"

#define FUZZ_OUT_MAX (4u << 20)

struct run {
	int ret;
	size_t out_len;
	uint64_t consumed;
};

/* Decode data[0..size) in pieces of in_step, room of out_step; the output
 * goes to out (at most FUZZ_OUT_MAX: past that the run stops, as the
 * pull's size caps would stop it). */
static struct run decode(const uint8_t *data, size_t size, size_t in_step, size_t out_step,
			 uint8_t *out)
{
	struct gunzip *g;
	struct run r = { GUNZIP_MORE, 0, 0 };
	size_t off = 0;

	if (gunzip_new(&g) < 0)
		abort();
	while (r.ret == GUNZIP_MORE) {
		size_t piece = size - off < in_step ? size - off : in_step;
		const uint8_t *p = data + off;
		size_t left = piece;
		int at_eof = off + piece == size;

		for (;;) {
			size_t room = FUZZ_OUT_MAX - r.out_len, made;

			if (room > out_step)
				room = out_step;
			if (!room)
				goto out;	/* the cap */
			r.ret = gunzip_step(g, &p, &left, at_eof, out + r.out_len, room, &made);
			if (made > room)
				abort();
			r.out_len += made;
			if (r.ret != GUNZIP_MORE)
				break;
			if (!left && made < room && !(at_eof && made))
				break;
		}
		off += piece - left;
		while (r.ret == GUNZIP_MORE && at_eof && !left) {
			/* No input left to give: each step must make output
			 * or finish. */
			size_t made;

			if (r.out_len == FUZZ_OUT_MAX)
				goto out;
			r.ret = gunzip_step(g, &p, &left, 1, out + r.out_len,
					    FUZZ_OUT_MAX - r.out_len, &made);
			r.out_len += made;
			if (r.ret == GUNZIP_MORE && !made)
				abort();	/* spins at the end */
		}
		if (r.ret == GUNZIP_MORE && left)
			abort();	/* said MORE with input and room left */
	}
out:
	r.consumed = gunzip_consumed(g);
	if (r.consumed > size)
		abort();
	if (r.ret == GUNZIP_END && r.consumed != size)
		abort();
	if (r.ret < 0 && (r.ret != -EBADMSG || !gunzip_error(g)[0]))
		abort();
	gunzip_free(g);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *whole, *pieces;
	struct run a, b;
	size_t in_step, out_step;

	if (size < 2)
		return 0;
	if (!whole && (!(whole = malloc(FUZZ_OUT_MAX)) || !(pieces = malloc(FUZZ_OUT_MAX))))
		abort();
	in_step = 1 + data[0] % 17;
	out_step = 1 + (size_t)data[1] * 97;
	data += 2;
	size -= 2;
	a = decode(data, size, size ? size : 1, FUZZ_OUT_MAX, whole);
	b = decode(data, size, in_step, out_step, pieces);
	/* The cap may cut the two runs at different points: compare only
	 * runs that finished. */
	if (a.out_len == FUZZ_OUT_MAX || b.out_len == FUZZ_OUT_MAX)
		return 0;
	if ((a.ret < 0) != (b.ret < 0))
		abort();
	/* Both failed: each made some of the same output before it saw the
	 * fault (ISA-L flushes in different places for different pieces). */
	if (a.ret < 0) {
		if (memcmp(whole, pieces, a.out_len < b.out_len ? a.out_len : b.out_len) != 0)
			abort();
		return 0;
	}
	if (a.out_len != b.out_len || memcmp(whole, pieces, a.out_len) != 0 ||
	    a.consumed != b.consumed)
		abort();
	return 0;
}

/* A gzip member of len bytes of text, header fields by flags, into buf. */
static size_t seed_member(uint8_t *buf, size_t cap, unsigned int flags, const char *text)
{
	struct isal_zstream z;
	size_t h = 10, len = strlen(text);
	uint32_t crc;

	memcpy(buf, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
	buf[3] = (uint8_t)flags;
	if (flags & 4) {
		memcpy(buf + h, "\x04\x00" "AB\x00\x00", 6);
		h += 6;
	}
	if (flags & 8) {
		memcpy(buf + h, "name", 5);
		h += 5;
	}
	if (flags & 16) {
		memcpy(buf + h, "comment", 8);
		h += 8;
	}
	if (flags & 2) {
		crc = crc32_gzip_refl(0, buf, h);
		buf[h++] = crc & 0xff;
		buf[h++] = (crc >> 8) & 0xff;
	}
	isal_deflate_init(&z);
	z.next_in = (uint8_t *)text;
	z.avail_in = (uint32_t)len;
	z.next_out = buf + h;
	z.avail_out = (uint32_t)(cap - h - 8);
	z.end_of_stream = 1;
	if (isal_deflate(&z) != COMP_OK)
		abort();
	h += z.total_out;
	crc = crc32_gzip_refl(0, (const uint8_t *)text, len);
	for (int i = 0; i < 4; i++)
		buf[h++] = (uint8_t)(crc >> (8 * i));
	for (int i = 0; i < 4; i++)
		buf[h++] = (uint8_t)(len >> (8 * i));
	return h;
}

void fuzz_seeds(void)
{
	static uint8_t buf[1 << 16];
	const char *text = "pupa pupa pupa: a container in its own microVM, unpacked once\n"
			   "pupa pupa pupa: a container in its own microVM, unpacked once\n";
	size_t n;

	buf[0] = 3, buf[1] = 1;
	n = 2 + seed_member(buf + 2, sizeof(buf) - 2, 0, text);
	fuzz_seed("plain.gz", buf, n);
	n = 2 + seed_member(buf + 2, sizeof(buf) - 2, 2 | 4 | 8 | 16, text);
	fuzz_seed("fields.gz", buf, n);
	n += seed_member(buf + n, sizeof(buf) - n, 8, text);
	memcpy(buf + n, "\0\0\0\0", 4);
	fuzz_seed("two-members-trailing.gz", buf, n + 4);
}
