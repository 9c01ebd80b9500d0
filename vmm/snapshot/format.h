/*
 * The snapshot file: a booted guest's RAM and the state of its vCPUs, its
 * interrupt controllers and its devices, written by one pupa-vmm and read
 * back by another. Little-endian, one machine's format (x86-64).
 *
 *   0       header (struct snap_header), the rest of the first page zero
 *   4096    guest RAM, every region one after another, sparse: a page
 *           that was all zeros is a hole, and the page map says which
 *           pages are there
 *   ...     state: records of (tag, index, length, bytes), 8-aligned
 *
 * The header is written last, so a file cut short has no valid header.
 * Everything is checked before any of it is used: magic, version, the
 * caller's key (a digest of what made the guest), the RAM size, every
 * record's bounds, a checksum over the header, one over the state, one
 * over the RAM pages present. The checksums catch corruption, not an
 * attacker: the file lives in the user's own cache.
 */
#ifndef PUPA_VMM_SNAPSHOT_FORMAT_H
#define PUPA_VMM_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "../memory.h"

#define SNAP_MAGIC		"PUPASNAP"
#define SNAP_VERSION		1
#define SNAP_KEY_LEN		32
#define SNAP_PAGE		4096ULL
#define SNAP_RAM_OFFSET		SNAP_PAGE
#define SNAP_MAX_STATE		(16u << 20)	/* far above what a VM needs */
#define SNAP_MAX_RAM		(64ULL << 30)

struct snap_header {
	char magic[8];
	uint32_t version;
	uint32_t header_len;		/* sizeof(struct snap_header) */
	uint8_t key[SNAP_KEY_LEN];
	uint64_t ram_size;		/* bytes of guest RAM, all regions */
	uint64_t ram_offset;		/* SNAP_RAM_OFFSET */
	uint64_t state_offset;		/* ram_offset + ram_size */
	uint64_t state_len;
	uint64_t state_sum;
	uint64_t ram_sum;		/* over the pages present, in order */
	uint64_t header_sum;		/* over everything above */
};

/* Record tags. A record's index tells instances apart (vCPU 0, 1, ...). */
enum snap_tag {
	SNAP_TAG_RAM_MAP = 1,		/* one bit per RAM page: present in the file */
	SNAP_TAG_VM = 2,		/* irqchips, PIT, clock */
	SNAP_TAG_VCPU = 3,
	SNAP_TAG_UART = 4,
	SNAP_TAG_VIRTIO = 5,		/* transport and queues, by position */
	SNAP_TAG_DEVICES = 6,		/* the device set, to compare */
	SNAP_TAG_VCPU_XSAVE = 7,
	SNAP_TAG_VCPU_MSRS = 8,
	SNAP_TAG_VCPU_CPUID = 9,
};

struct snap_record {
	uint32_t tag;
	uint32_t index;
	uint32_t len;
	uint32_t pad;
};

/* A checksum (not a digest): four multiply-xorshift lanes, then mixed. */
uint64_t snap__sum(uint64_t seed, const void *data, size_t len);

struct snap_writer {
	int fd;
	uint8_t key[SNAP_KEY_LEN];
	uint64_t ram_size;
	uint8_t *state;
	size_t state_len, state_cap;
	uint64_t *page_map;
	uint64_t ram_sum;
	uint64_t pages_written;
	int failed;			/* out of memory in add: finish says so */
};

/* Start a snapshot into fd (empty, regular, opened for writing). */
int snap_writer__init(struct snap_writer *w, int fd, const uint8_t key[SNAP_KEY_LEN],
		      uint64_t ram_size, struct pupa_err *err);
/* Append one record. */
void snap_writer__add(struct snap_writer *w, uint32_t tag, uint32_t index, const void *data,
		      uint32_t len);
/* Write the pages of RAM that are not all zeros. The guest must be paused. */
int snap_writer__ram(struct snap_writer *w, const struct guest_mem *mem, struct pupa_err *err);
/* The page map, the state, then the header; fsync. */
int snap_writer__finish(struct snap_writer *w, struct pupa_err *err);
void snap_writer__destroy(struct snap_writer *w);

struct snap_reader {
	int fd;
	const char *name;		/* for messages */
	struct snap_header h;
	uint8_t *state;
	const uint64_t *page_map;
};

/*
 * Open and check a snapshot: everything but the RAM's checksum, which
 * snap_reader__ram checks as it reads. BadConfig naming the file and what
 * is wrong with it.
 */
int snap_reader__open(struct snap_reader *r, int fd, const char *name,
		      const uint8_t key[SNAP_KEY_LEN], uint64_t ram_size, struct pupa_err *err);
/* A record's bytes and length, or NULL when there is none. */
const void *snap_reader__get(const struct snap_reader *r, uint32_t tag, uint32_t index,
			     uint32_t *len);
/*
 * Map the pages present over guest RAM (anonymous, zero) and check them.
 * The file must then stay as it is while the VM runs: pupa publishes a
 * snapshot by rename and never writes a published file again.
 */
int snap_reader__ram(struct snap_reader *r, const struct guest_mem *mem, struct pupa_err *err);
void snap_reader__close(struct snap_reader *r);

#endif
