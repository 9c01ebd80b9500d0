/*
 * Each member's header is parsed here, not by ISA-L: ISA-L 2.30 checks a
 * header CRC (FHCRC) only over the last piece of header it was handed, so
 * a valid header that arrives in two pieces was refused. The deflate data
 * and the trailer go to isal_inflate with ISAL_GZIP_NO_HDR_VER, which
 * checks CRC-32 and ISIZE. Between members the decoder holds the first two
 * bytes of what follows (they may come in two pieces) to tell another
 * member from trailing data.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l.h>

#include "gunzip.h"

enum gunzip_phase {
	GUNZIP_HEADER,		/* a member's header (RFC 1952, 2.3) */
	GUNZIP_DEFLATE,		/* its deflate data and trailer, to ISA-L */
	GUNZIP_BETWEEN,		/* a member ended: is another one next? */
	GUNZIP_TRAILING,	/* the rest is not gzip: taken and ignored */
};

/* Where the header parser is. */
enum gunzip_field { H_FIXED, H_XLEN, H_EXTRA, H_NAME, H_COMMENT, H_HCRC };

#define GZ_FHCRC 0x02
#define GZ_FEXTRA 0x04
#define GZ_FNAME 0x08
#define GZ_FCOMMENT 0x10
#define GZ_RESERVED 0xe0

struct gunzip {
	struct inflate_state st;
	enum gunzip_phase phase;
	enum gunzip_field field;
	uint8_t fixed[10];	/* ID1 ID2 CM FLG MTIME XFL OS */
	uint8_t two[2];		/* XLEN or CRC16, as they come */
	size_t have;		/* bytes of fixed[] or two[] so far */
	uint32_t extra_left;
	uint32_t hcrc;		/* CRC-32 of the header so far */
	unsigned int member;		/* 1-based, for messages */
	uint64_t member_at;		/* compressed offset where it starts */
	uint64_t consumed;
	uint8_t peek[2];
	size_t npeek;
	char why[256];
};

static void gunzip__member_start(struct gunzip *g)
{
	g->phase = GUNZIP_HEADER;
	g->field = H_FIXED;
	g->have = 0;
	g->hcrc = 0;
	g->member_at = g->consumed;
}

int gunzip_new(struct gunzip **out)
{
	struct gunzip *g = calloc(1, sizeof(*g));

	*out = NULL;
	if (!g)
		return -ENOMEM;
	g->member = 1;
	gunzip__member_start(g);
	*out = g;
	return 0;
}

void gunzip_free(struct gunzip *g)
{
	free(g);
}

const char *gunzip_error(const struct gunzip *g)
{
	return g->why;
}

uint64_t gunzip_consumed(const struct gunzip *g)
{
	return g->consumed;
}

const char *gunzip_backend(void)
{
#define GUNZIP_STR2(x) #x
#define GUNZIP_STR(x) GUNZIP_STR2(x)
	return "ISA-L " GUNZIP_STR(ISAL_MAJOR_VERSION) "." GUNZIP_STR(ISAL_MINOR_VERSION)
	       "." GUNZIP_STR(ISAL_PATCH_VERSION);
}

static const char *gunzip__what(int rc)
{
	switch (rc) {
	case ISAL_INVALID_BLOCK: return "invalid deflate block";
	case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
	case ISAL_INVALID_LOOKBACK: return "invalid back-reference distance";
	case ISAL_INVALID_WRAPPER: return "invalid gzip trailer";
	case ISAL_INCORRECT_CHECKSUM: return "CRC-32 or length (ISIZE) does not match the data";
	case ISAL_NEED_DICT: return "needs a preset dictionary";
	default: return "undecodable data";
	}
}

static int gunzip__fail(struct gunzip *g, const char *what)
{
	snprintf(g->why, sizeof(g->why),
		 "member %u (from compressed offset %" PRIu64 "): %s (at compressed offset %" PRIu64 ")",
		 g->member, g->member_at, what, g->consumed);
	return -EBADMSG;
}

/* Take one header byte; the header's own CRC covers all but FHCRC. */
static uint8_t gunzip__take(struct gunzip *g, const uint8_t **in, size_t *in_len, int crc)
{
	uint8_t c = **in;

	(*in)++;
	(*in_len)--;
	g->consumed++;
	if (crc)
		g->hcrc = crc32_gzip_refl(g->hcrc, &c, 1);
	return c;
}

/* The field after the current one, by the header's flags. */
static enum gunzip_field gunzip__next_field(const struct gunzip *g, enum gunzip_field f)
{
	uint8_t flg = g->fixed[3];

	switch (f) {
	case H_FIXED:
		if (flg & GZ_FEXTRA)
			return H_XLEN;
		/* fall through */
	case H_XLEN:
	case H_EXTRA:
		if (flg & GZ_FNAME)
			return H_NAME;
		/* fall through */
	case H_NAME:
		if (flg & GZ_FCOMMENT)
			return H_COMMENT;
		/* fall through */
	case H_COMMENT:
		if (flg & GZ_FHCRC)
			return H_HCRC;
		/* fall through */
	case H_HCRC:
		break;
	}
	return H_FIXED;		/* the header is done */
}

/* Parse header bytes: 0 for more, 1 when the header is whole (the
 * deflate data is next), or -EBADMSG. */
static int gunzip__header(struct gunzip *g, const uint8_t **in, size_t *in_len)
{
	while (*in_len) {
		enum gunzip_field f = g->field, next;

		switch (f) {
		case H_FIXED:
			g->fixed[g->have++] = gunzip__take(g, in, in_len, 1);
			if (g->have < sizeof(g->fixed))
				continue;
			if (g->fixed[0] != 0x1f || g->fixed[1] != 0x8b)
				return gunzip__fail(g, "not a gzip header (bad magic)");
			if (g->fixed[2] != 8)
				return gunzip__fail(g, "not deflate (unsupported compression method)");
			if (g->fixed[3] & GZ_RESERVED)
				return gunzip__fail(g, "reserved header flags set");
			break;
		case H_XLEN:
		case H_HCRC:
			g->two[g->have++] = gunzip__take(g, in, in_len, f == H_XLEN);
			if (g->have < 2)
				continue;
			if (f == H_XLEN) {
				g->extra_left = (uint32_t)g->two[0] | (uint32_t)g->two[1] << 8;
				if (g->extra_left) {
					g->field = H_EXTRA;
					continue;
				}
			} else if (((uint32_t)g->two[0] | (uint32_t)g->two[1] << 8) !=
				   (g->hcrc & 0xffff)) {
				return gunzip__fail(g, "header CRC (FHCRC) does not match the header");
			}
			break;
		case H_EXTRA:
			gunzip__take(g, in, in_len, 1);
			if (--g->extra_left)
				continue;
			break;
		case H_NAME:
		case H_COMMENT:
			if (gunzip__take(g, in, in_len, 1))
				continue;
			break;
		}
		/* The field f is done. */
		next = gunzip__next_field(g, f);
		g->have = 0;
		if (next == H_FIXED)
			return 1;
		g->field = next;
	}
	return 0;
}

/* One call of isal_inflate on buf[0..len), counting what it took. */
static int gunzip__inflate(struct gunzip *g, const uint8_t *buf, size_t len, size_t *taken,
			   uint8_t *out, size_t out_cap, size_t *produced)
{
	uint32_t in32 = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	uint32_t out32 = out_cap > UINT32_MAX ? UINT32_MAX : (uint32_t)out_cap;
	int rc;

	g->st.next_in = (uint8_t *)buf;
	g->st.avail_in = in32;
	g->st.next_out = out;
	g->st.avail_out = out32;
	rc = isal_inflate(&g->st);
	/* On some errors ISA-L leaves avail_in "below zero" (it had read
	 * ahead): count no more than it was given. */
	*taken = g->st.avail_in > in32 ? in32 : in32 - g->st.avail_in;
	*produced = out32 - g->st.avail_out;
	g->consumed += *taken;
	if (rc != ISAL_DECOMP_OK)
		return gunzip__fail(g, gunzip__what(rc));
	if (g->st.block_state == ISAL_BLOCK_FINISH) {
		g->phase = GUNZIP_BETWEEN;
		g->npeek = 0;
	}
	return 0;
}

/* Between members: gather two bytes, then start the next member (the two
 * bytes are its magic) or give the rest up as trailing data. */
static void gunzip__between(struct gunzip *g, const uint8_t **in, size_t *in_len, int at_eof)
{
	while (g->npeek < 2 && *in_len) {
		g->peek[g->npeek++] = **in;
		(*in)++;
		(*in_len)--;
		g->consumed++;
	}
	if (g->npeek < 2 && !at_eof)
		return;
	if (g->npeek == 2 && g->peek[0] == 0x1f && g->peek[1] == 0x8b) {
		g->member++;
		g->consumed -= 2;
		gunzip__member_start(g);
		g->consumed += 2;
		memcpy(g->fixed, g->peek, 2);
		g->have = 2;
		g->hcrc = crc32_gzip_refl(0, g->peek, 2);
		return;
	}
	g->phase = GUNZIP_TRAILING;
}

int gunzip_step(struct gunzip *g, const uint8_t **in, size_t *in_len, int at_eof,
		uint8_t *out, size_t out_cap, size_t *produced)
{
	size_t taken, made;
	int ret;

	*produced = 0;
	for (;;) {
		switch (g->phase) {
		case GUNZIP_HEADER:
			ret = gunzip__header(g, in, in_len);
			if (ret < 0)
				return ret;
			if (ret == 0) {
				if (at_eof)
					return gunzip__fail(g, "the data ends inside the header (truncated)");
				return GUNZIP_MORE;
			}
			isal_inflate_init(&g->st);
			g->st.crc_flag = ISAL_GZIP_NO_HDR_VER;
			g->phase = GUNZIP_DEFLATE;
			continue;
		case GUNZIP_BETWEEN:
			gunzip__between(g, in, in_len, at_eof);
			if (g->phase == GUNZIP_BETWEEN)
				return GUNZIP_MORE;
			continue;
		case GUNZIP_TRAILING:
			g->consumed += *in_len;
			*in += *in_len;
			*in_len = 0;
			return at_eof ? GUNZIP_END : GUNZIP_MORE;
		case GUNZIP_DEFLATE:
			break;
		}
		if (out_cap == *produced)
			return GUNZIP_MORE;
		ret = gunzip__inflate(g, *in, *in_len, &taken, out + *produced,
				      out_cap - *produced, &made);
		if (ret < 0)
			return ret;
		*in += taken;
		*in_len -= taken;
		*produced += made;
		if (g->phase != GUNZIP_DEFLATE)
			continue;
		/* Still inside the member: it wants input, or room. */
		if (*in_len == 0 && at_eof && made == 0)
			return gunzip__fail(g, "the data ends inside the member (truncated)");
		if (*in_len == 0 || *produced == out_cap)
			return GUNZIP_MORE;
		if (!taken && !made)	/* no progress with both: never spin */
			return gunzip__fail(g, "the decoder made no progress");
	}
}
