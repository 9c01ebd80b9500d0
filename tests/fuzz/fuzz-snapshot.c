/* SPDX-License-Identifier: MIT */
/*
 * A snapshot file, as pupa-vmm --restore reads it from the cache: the
 * input is a header and the state records after it. When the first byte
 * is odd the target makes the checksums and sizes agree first, so the
 * fuzzer reaches the record walk and the RAM load and does not stop at
 * the checks that guard them; when even, the file is taken as it comes.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "snapshot/format.h"

#define FUZZ_RAM	(16 * SNAP_PAGE)

static const uint8_t key[SNAP_KEY_LEN] = "fuzz-snapshot key, 32 bytes long";
static struct guest_mem mem;

static void setup_mem(void)
{
	if (mem.nr)
		return;
	if (guest_mem__add(&mem, 0, FUZZ_RAM) < 0 || guest_mem__map(&mem) < 0)
		abort();
}

static void make_consistent(struct snap_header *h, const uint8_t *state, size_t len)
{
	memcpy(h->magic, SNAP_MAGIC, sizeof(h->magic));
	h->version = SNAP_VERSION;
	h->header_len = sizeof(*h);
	memcpy(h->key, key, SNAP_KEY_LEN);
	h->ram_size = FUZZ_RAM;
	h->ram_offset = SNAP_RAM_OFFSET;
	h->state_offset = SNAP_RAM_OFFSET + FUZZ_RAM;
	h->state_len = len;
	h->state_sum = snap__sum(0, state, len);
	h->header_sum = snap__sum(0, h, offsetof(struct snap_header, header_sum));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_header h = { 0 };
	struct pupa_err err = { 0 };
	struct snap_reader r;
	const uint8_t *state;
	size_t len;
	uint8_t fix;
	int fd;

	if (size < 1 + sizeof(h))
		return 0;
	setup_mem();
	fix = data[0] & 1;
	memcpy(&h, data + 1, sizeof(h));
	state = data + 1 + sizeof(h);
	len = (size - 1 - sizeof(h)) & ~(size_t)7;
	if (fix)
		make_consistent(&h, state, len);
	fd = memfd_create("fuzz-snapshot", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    (len && pwrite(fd, state, len, (off_t)(SNAP_RAM_OFFSET + FUZZ_RAM)) != (ssize_t)len) ||
	    ftruncate(fd, (off_t)(SNAP_RAM_OFFSET + FUZZ_RAM + len)) < 0)
		abort();
	if (snap_reader__open(&r, fd, "fuzz", key, FUZZ_RAM, &err) == 0) {
		for (uint32_t tag = 0; tag <= SNAP_TAG_VCPU_CPUID + 1; tag++)
			for (uint32_t i = 0; i < 3; i++) {
				uint32_t l = 0;
				const uint8_t *p = snap_reader__get(&r, tag, i, &l);

				/* The whole record must be readable. */
				if (p && l && p[l - 1] == 0x5a && p[0] == 0xa5)
					err.msg[0] = 1;
			}
		snap_reader__ram(&r, &mem, &err);
	}
	snap_reader__close(&r);
	close(fd);
	return 0;
}

void fuzz_seeds(void)
{
	struct snap_writer w;
	struct pupa_err err = { 0 };
	uint8_t *buf;
	size_t n;
	int fd = memfd_create("seed", MFD_CLOEXEC);
	uint32_t v = 7;
	struct snap_header h;

	setup_mem();
	if (fd < 0 || snap_writer__init(&w, fd, key, FUZZ_RAM, &err) < 0)
		abort();
	memset(mem.regions[0].hva + SNAP_PAGE, 0x42, SNAP_PAGE);
	snap_writer__ram(&w, &mem, &err);
	snap_writer__add(&w, SNAP_TAG_VCPU, 0, &v, sizeof(v));
	snap_writer__add(&w, SNAP_TAG_UART, 0, "uart", 4);
	if (snap_writer__finish(&w, &err) < 0)
		abort();
	n = 1 + sizeof(h) + w.state_len;
	buf = malloc(n);
	if (!buf || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    pread(fd, buf + 1 + sizeof(h), w.state_len, (off_t)h.state_offset) != (ssize_t)w.state_len)
		abort();
	memcpy(buf + 1, &h, sizeof(h));
	buf[0] = 0;
	fuzz_seed("as-written", buf, n);
	buf[0] = 1;
	fuzz_seed("fixed-up", buf, n);
	free(buf);
	snap_writer__destroy(&w);
	close(fd);
}
