/* SPDX-License-Identifier: MIT */
#include "format.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUM_K1	0x9e3779b97f4a7c15ULL
#define SUM_K2	0xc2b2ae3d27d4eb4fULL
#define SNAP_RUN_MAX	(1ULL << 20)	/* bytes per pwrite/pread of RAM */

/* Both steps are bijections of a for a given w: one changed word always
 * changes the lane. */
static uint64_t sum__mix(uint64_t a, uint64_t w)
{
	a ^= w;
	a *= SUM_K1;
	return a ^ (a >> 29);
}

uint64_t snap__sum(uint64_t seed, const void *data, size_t len)
{
	uint64_t lane[4] = { seed ^ SUM_K2, seed + SUM_K1, seed * SUM_K2 + 1, ~seed };
	const uint8_t *p = data;
	uint8_t tail[32] = { 0 };
	uint64_t h = len;
	size_t i = 0;

	for (; i + 32 <= len; i += 32)
		for (int j = 0; j < 4; j++) {
			uint64_t w;

			memcpy(&w, p + i + 8 * j, 8);
			lane[j] = sum__mix(lane[j], w);
		}
	memcpy(tail, p + i, len - i);
	for (int j = 0; j < 4; j++) {
		uint64_t w;

		memcpy(&w, tail + 8 * j, 8);
		lane[j] = sum__mix(lane[j], w);
		h = sum__mix(h * SUM_K2, lane[j]);
	}
	return h ^ (h >> 32);
}

static uint64_t header_sum(const struct snap_header *h)
{
	return snap__sum(0, h, offsetof(struct snap_header, header_sum));
}

static size_t map_words(uint64_t ram_size)
{
	uint64_t pages = (ram_size + SNAP_PAGE - 1) / SNAP_PAGE;

	return (size_t)((pages + 63) / 64);
}

static int page_present(const uint64_t *map, uint64_t page)
{
	return (map[page / 64] >> (page % 64)) & 1;
}

static int page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;

	for (size_t i = 0; i < SNAP_PAGE / 8; i++)
		acc |= w[i];
	return acc == 0;
}

/* Every byte of a pread/pwrite, or -errno (EIO for a short file). */
static int full_io(int fd, int writing, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = writing ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* --- writing ----------------------------------------------------------------------- */

int snap_writer__init(struct snap_writer *w, int fd, const uint8_t key[SNAP_KEY_LEN],
		      uint64_t ram_size, struct pupa_err *err)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	memcpy(w->key, key, SNAP_KEY_LEN);
	w->ram_size = ram_size;
	if (ram_size == 0 || ram_size > SNAP_MAX_RAM || ram_size % SNAP_PAGE)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "snapshot: guest RAM of %llu bytes",
				 (unsigned long long)ram_size);
	w->page_map = calloc(map_words(ram_size), sizeof(uint64_t));
	if (!w->page_map)
		return guest_err(err, GUEST_ERR_INTERNAL, "snapshot: out of memory");
	if (ftruncate(fd, 0) < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "snapshot: cannot truncate its file: %s",
				 strerror(errno));
	return 0;
}

void snap_writer__add(struct snap_writer *w, uint32_t tag, uint32_t index, const void *data,
		      uint32_t len)
{
	struct snap_record rec = { .tag = tag, .index = index, .len = len };
	size_t need = sizeof(rec) + ((len + 7u) & ~7u);

	if (w->failed)
		return;
	if (w->state_len + need > SNAP_MAX_STATE) {
		w->failed = E2BIG;
		return;
	}
	if (w->state_len + need > w->state_cap) {
		size_t cap = w->state_cap ? w->state_cap : 64 * 1024;
		uint8_t *p;

		while (cap < w->state_len + need)
			cap *= 2;
		if (!(p = realloc(w->state, cap))) {
			w->failed = ENOMEM;
			return;
		}
		w->state = p;
		w->state_cap = cap;
	}
	memcpy(w->state + w->state_len, &rec, sizeof(rec));
	memcpy(w->state + w->state_len + sizeof(rec), data, len);
	memset(w->state + w->state_len + sizeof(rec) + len, 0, need - sizeof(rec) - len);
	w->state_len += need;
}

/* The page checksum, page by page: a run's length never changes it. */
static uint64_t sum_pages(uint64_t sum, const uint8_t *p, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += SNAP_PAGE)
		sum = snap__sum(sum, p + off, SNAP_PAGE);
	return sum;
}

/*
 * Writing and reading walk RAM alike: region by region in linear order
 * (the checksum depends on it), in runs of consecutive pages that are in
 * the file, each at most SNAP_RUN_MAX. present() says whether a page is;
 * move() takes one run [p, p + len) at linear offset lin. The first error
 * of move() ends the walk; -EDOM for a region not made of whole pages.
 */
typedef int (*snap_present_fn)(void *ctx, uint64_t page, const uint8_t *p);
typedef int (*snap_move_fn)(void *ctx, uint8_t *p, uint64_t len, uint64_t lin);

static int walk_ram(const struct guest_mem *mem, snap_present_fn present, snap_move_fn move,
		    void *ctx)
{
	uint64_t lin = 0;

	for (unsigned int i = 0; i < mem->nr; i++) {
		const struct mem_region *r = &mem->regions[i];
		uint64_t run = 0, start = 0;

		if (r->size % SNAP_PAGE)
			return -EDOM;
		for (uint64_t off = 0; off <= r->size; off += SNAP_PAGE) {
			int here = off < r->size && present(ctx, (lin + off) / SNAP_PAGE, r->hva + off);

			if (here) {
				if (!run)
					start = off;
				run += SNAP_PAGE;
			}
			if (run && (!here || run == SNAP_RUN_MAX)) {
				int ret = move(ctx, r->hva + start, run, lin + start);

				if (ret < 0)
					return ret;
				run = 0;
			}
		}
		lin += r->size;
	}
	return 0;
}

/* A page that is not all zeros goes in the file, and in the page map. */
static int write_present(void *ctx, uint64_t page, const uint8_t *p)
{
	struct snap_writer *w = ctx;

	if (page_is_zero(p))
		return 0;
	w->page_map[page / 64] |= 1ULL << (page % 64);
	return 1;
}

static int write_run(void *ctx, uint8_t *p, uint64_t len, uint64_t lin)
{
	struct snap_writer *w = ctx;

	w->ram_sum = sum_pages(w->ram_sum, p, len);
	w->pages_written += len / SNAP_PAGE;
	return full_io(w->fd, 1, p, (size_t)len, SNAP_RAM_OFFSET + lin);
}

int snap_writer__ram(struct snap_writer *w, const struct guest_mem *mem, struct pupa_err *err)
{
	int ret;

	if (guest_mem__total(mem) != w->ram_size)
		return guest_err(err, GUEST_ERR_INTERNAL, "snapshot: RAM map and size disagree");
	ret = walk_ram(mem, write_present, write_run, w);
	if (ret == -EDOM)
		return guest_err(err, GUEST_ERR_INTERNAL, "snapshot: RAM region not in pages");
	if (ret < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "snapshot: writing RAM: %s", strerror(-ret));
	return 0;
}

int snap_writer__finish(struct snap_writer *w, struct pupa_err *err)
{
	struct snap_header h = { .version = SNAP_VERSION, .header_len = sizeof(h) };
	uint8_t page[SNAP_PAGE] = { 0 };
	int ret;

	snap_writer__add(w, SNAP_TAG_RAM_MAP, 0, w->page_map,
			 (uint32_t)(map_words(w->ram_size) * sizeof(uint64_t)));
	if (w->failed)
		return guest_err(err, GUEST_ERR_INTERNAL, "snapshot: its state: %s", strerror(w->failed));
	memcpy(h.magic, SNAP_MAGIC, sizeof(h.magic));
	memcpy(h.key, w->key, SNAP_KEY_LEN);
	h.ram_size = w->ram_size;
	h.ram_offset = SNAP_RAM_OFFSET;
	h.state_offset = SNAP_RAM_OFFSET + w->ram_size;
	h.state_len = w->state_len;
	h.state_sum = snap__sum(0, w->state, w->state_len);
	h.ram_sum = w->ram_sum;
	h.header_sum = header_sum(&h);
	memcpy(page, &h, sizeof(h));
	ret = full_io(w->fd, 1, w->state, w->state_len, h.state_offset);
	/* The header only once the rest is on disk: a torn file has none. */
	if (!ret && fdatasync(w->fd) < 0)
		ret = -errno;
	if (!ret)
		ret = full_io(w->fd, 1, page, sizeof(page), 0);
	if (!ret && fdatasync(w->fd) < 0)
		ret = -errno;
	if (ret < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "snapshot: writing: %s", strerror(-ret));
	return 0;
}

void snap_writer__destroy(struct snap_writer *w)
{
	free(w->state);
	free(w->page_map);
	w->state = NULL;
	w->page_map = NULL;
}

/* --- reading ----------------------------------------------------------------------- */

#define BAD(err, ...) guest_err(err, GUEST_ERR_BAD_CONFIG, "snapshot %s: " __VA_ARGS__)

/* Walk the records; with want_tag 0, only check that they tile the state. */
static const struct snap_record *find_record(const struct snap_reader *r, uint32_t want_tag,
					     uint32_t want_index, int *bad)
{
	size_t off = 0, len = (size_t)r->h.state_len;

	*bad = 0;
	while (off < len) {
		struct snap_record rec;
		size_t body;

		if (len - off < sizeof(rec)) {
			*bad = 1;
			return NULL;
		}
		memcpy(&rec, r->state + off, sizeof(rec));
		body = ((size_t)rec.len + 7) & ~(size_t)7;
		if (rec.pad || body > len - off - sizeof(rec)) {
			*bad = 1;
			return NULL;
		}
		if (want_tag && rec.tag == want_tag && rec.index == want_index)
			return (const struct snap_record *)(r->state + off);
		off += sizeof(rec) + body;
	}
	return NULL;
}

int snap_reader__open(struct snap_reader *r, int fd, const char *name,
		      const uint8_t key[SNAP_KEY_LEN], uint64_t ram_size, struct pupa_err *err)
{
	const struct snap_header *h = &r->h;
	const struct snap_record *map;
	struct stat st;
	int bad, ret;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->name = name;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return BAD(err, "not a regular file", name);
	if ((uint64_t)st.st_size < SNAP_RAM_OFFSET ||
	    (ret = full_io(fd, 0, &r->h, sizeof(r->h), 0)) < 0)
		return BAD(err, "shorter than its header", name);
	if (memcmp(h->magic, SNAP_MAGIC, sizeof(h->magic)) != 0)
		return BAD(err, "not a pupa-vmm snapshot (or one never finished)", name);
	if (h->version != SNAP_VERSION || h->header_len != sizeof(*h))
		return BAD(err, "format %u, this pupa-vmm reads %u", name, h->version, SNAP_VERSION);
	if (h->header_sum != header_sum(h))
		return BAD(err, "its header is corrupt", name);
	if (memcmp(h->key, key, SNAP_KEY_LEN) != 0)
		return BAD(err, "made for another kernel, initramfs, pupa-vmm or machine size", name);
	if (h->ram_size != ram_size)
		return BAD(err, "holds %llu MiB of RAM, this VM has %llu MiB", name,
			   (unsigned long long)(h->ram_size >> 20), (unsigned long long)(ram_size >> 20));
	if (h->ram_offset != SNAP_RAM_OFFSET || h->ram_size % SNAP_PAGE ||
	    h->ram_size > SNAP_MAX_RAM || h->state_offset != h->ram_offset + h->ram_size ||
	    h->state_len > SNAP_MAX_STATE || h->state_len % 8)
		return BAD(err, "its layout is inconsistent", name);
	if ((uint64_t)st.st_size < h->state_offset + h->state_len)
		return BAD(err, "cut short (%lld of %llu bytes)", name, (long long)st.st_size,
			   (unsigned long long)(h->state_offset + h->state_len));
	r->state = malloc(h->state_len ? (size_t)h->state_len : 1);
	if (!r->state)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	if ((ret = full_io(fd, 0, r->state, (size_t)h->state_len, h->state_offset)) < 0)
		return BAD(err, "cannot read its state: %s", name, strerror(-ret));
	if (snap__sum(0, r->state, (size_t)h->state_len) != h->state_sum)
		return BAD(err, "its state is corrupt", name);
	find_record(r, 0, 0, &bad);
	if (bad)
		return BAD(err, "a record runs past its state", name);
	map = find_record(r, SNAP_TAG_RAM_MAP, 0, &bad);
	if (!map || map->len != map_words(ram_size) * sizeof(uint64_t))
		return BAD(err, "no page map of the right size", name);
	r->page_map = (const uint64_t *)(map + 1);	/* 8-aligned: records are */
	return 0;
}

const void *snap_reader__get(const struct snap_reader *r, uint32_t tag, uint32_t index,
			     uint32_t *len)
{
	int bad;
	const struct snap_record *rec = find_record(r, tag, index, &bad);

	if (!rec)
		return NULL;
	*len = rec->len;
	return rec + 1;
}

/*
 * Reading maps the pages the file has over guest RAM, MAP_PRIVATE: the
 * page cache backs them, shared by every VM restored from this file,
 * until the guest writes one (copy on write). The pages it lacks stay the
 * anonymous zero memory they were. Each run is checksummed through its
 * mapping, which also faults it in for the VMM (no copy).
 * Measured nested side by side with reading the file into anonymous
 * huge pages: the restore 0.07 s against 0.14-0.37 s, the start no slower
 * for its ten times as many nested page faults (docs/benchmarks.md).
 */
struct ram_reading {
	const struct snap_reader *r;
	uint64_t sum;
};

static int read_present(void *ctx, uint64_t page, const uint8_t *p)
{
	const struct ram_reading *rr = ctx;

	(void)p;
	return page_present(rr->r->page_map, page);
}

static int read_run(void *ctx, uint8_t *p, uint64_t len, uint64_t lin)
{
	struct ram_reading *rr = ctx;

	if (mmap(p, (size_t)len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
		 rr->r->fd, (off_t)(rr->r->h.ram_offset + lin)) == MAP_FAILED)
		return -errno;
	/* a new mapping: guest RAM stays out of core dumps (guest_mem__map) */
	madvise(p, (size_t)len, MADV_DONTDUMP);
	rr->sum = sum_pages(rr->sum, p, len);
	return 0;
}

int snap_reader__ram(struct snap_reader *r, const struct guest_mem *mem, struct pupa_err *err)
{
	struct ram_reading rr = { r, 0 };
	int ret;

	if (guest_mem__total(mem) != r->h.ram_size)
		return guest_err(err, GUEST_ERR_INTERNAL, "snapshot: RAM map and size disagree");
	ret = walk_ram(mem, read_present, read_run, &rr);
	if (ret < 0)
		return BAD(err, "cannot map its RAM: %s", r->name, strerror(-ret));
	if (rr.sum != r->h.ram_sum)
		return BAD(err, "its RAM is corrupt", r->name);
	return 0;
}

void snap_reader__close(struct snap_reader *r)
{
	free(r->state);
	r->state = NULL;
	r->page_map = NULL;
}
