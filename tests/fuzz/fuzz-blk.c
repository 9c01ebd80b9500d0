/* SPDX-License-Identifier: MIT */
/* virtio-blk requests in each BlockMode, from a guest that writes the
 * rings, the headers and the buffers. The disk is a 64 KiB memfd. */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz-virtq.h"
#include "fuzz.h"
#include "virtio/blk.h"

static struct virtio_blk blk[3];

static void fuzz__attach(void)
{
	static const enum block_mode modes[3] = {
		BLOCK_MODE_READ_WRITE, BLOCK_MODE_READ_ONLY, BLOCK_MODE_VOLATILE_WRITE,
	};
	int fd = memfd_create("pupa-fuzz-disk", 0);
	char path[64];

	if (fd < 0 || ftruncate(fd, 64 << 10) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (int i = 0; i < 3; i++) {
		struct pupa_err err = { 0 };

		virtio_blk__init(&blk[i], "fuzz", &fv_mem);
		if (virtio_blk__attach(&blk[i], path, modes[i], &err) < 0) {
			fprintf(stderr, "fuzz-blk: %s\n", err.msg);
			abort();
		}
	}
}

static void no_irq(void *ctx, uint32_t reason) { }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_blk *b;

	fv_init();
	if (!blk[0].path)
		fuzz__attach();
	if (size < 1)
		return 0;
	b = &blk[data[0] % 3];
	fv_load(data, size);
	fv_live(&b->vdev, 1);
	b->vdev.irq = no_irq;
	b->vdev.warn_count = 0;
	pthread_mutex_lock(&b->vdev.lock);
	virtio_blk_ops.queue_notify(&b->vdev, 0);
	pthread_mutex_unlock(&b->vdev.lock);
	return 0;
}

struct blk_hdr { uint32_t type, reserved; uint64_t sector; } __attribute__((packed));

void fuzz_seeds(void)
{
	static uint8_t ram[FV_INPUT_MAX];
	struct blk_hdr w = { 1, 0, 3 }, r = { 0, 0, 2 }, id = { 8, 0, 0 }, fl = { 4, 0, 0 };

	ram[0] = 2;	/* volatile */
	memcpy(ram + 0x8000, &w, sizeof(w));
	fv_set(ram, 0, 0, 0x8000, sizeof(w), VIRTQ_DESC_F_NEXT, 1);
	fv_set(ram, 0, 1, 0x9000, 1024, VIRTQ_DESC_F_NEXT, 2);
	fv_set(ram, 0, 2, 0xa000, 1, VIRTQ_DESC_F_WRITE, 0);
	fv_offer(ram, 0, 0);
	memcpy(ram + 0x8100, &r, sizeof(r));
	fv_set(ram, 0, 3, 0x8100, sizeof(r), VIRTQ_DESC_F_NEXT, 4);
	fv_set(ram, 0, 4, 0x9400, 2048, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 5);
	fv_set(ram, 0, 5, 0xa010, 1, VIRTQ_DESC_F_WRITE, 0);
	fv_offer(ram, 0, 3);
	memcpy(ram + 0x8200, &id, sizeof(id));
	fv_set(ram, 0, 6, 0x8200, sizeof(id), VIRTQ_DESC_F_NEXT, 7);
	fv_set(ram, 0, 7, 0x9c00, 20, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 8);
	fv_set(ram, 0, 8, 0xa020, 1, VIRTQ_DESC_F_WRITE, 0);
	fv_offer(ram, 0, 6);
	memcpy(ram + 0x8300, &fl, sizeof(fl));
	fv_set(ram, 0, 9, 0x8300, sizeof(fl), VIRTQ_DESC_F_NEXT, 10);
	fv_set(ram, 0, 10, 0xa030, 1, VIRTQ_DESC_F_WRITE, 0);
	fv_offer(ram, 0, 9);
	fuzz_seed("write-read-id-flush", ram, 0xb000);
	ram[0] = 0;
	fuzz_seed("rw", ram, 0xb000);
}
