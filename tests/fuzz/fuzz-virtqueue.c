/* SPDX-License-Identifier: MIT */
/* Split virtqueue chain walking: direct and indirect descriptors, loops,
 * order, addresses, all written by the guest. */
#include "fuzz-virtq.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain chain;
	struct virtqueue vq;
	uint8_t buf[256];

	fv_init();
	fv_load(data, size);
	fv_queue(&vq, 0);
	if (virtq_validate(&vq) < 0)
		return 0;
	for (int i = 0; i < 2 * FV_QSIZE; i++) {
		int ret = virtq_pop(&vq, &chain);

		if (ret != VIRTQ_OK)
			break;
		virtq_iov_read(chain.out, chain.nr_out, 3, buf, sizeof(buf));
		virtq_iov_write(chain.in, chain.nr_in, 5, buf, sizeof(buf));
		virtq_push(&vq, chain.head, (uint32_t)chain.in_len);
		virtq_should_notify(&vq);
	}
	return 0;
}

void fuzz_seeds(void)
{
	static uint8_t ram[FV_INPUT_MAX];

	/* A direct chain: 16 bytes out, then 512 in, then 1 in. */
	fv_set(ram, 0, 0, 0x8000, 16, VIRTQ_DESC_F_NEXT, 1);
	fv_set(ram, 0, 1, 0x9000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	fv_set(ram, 0, 2, 0xa000, 1, VIRTQ_DESC_F_WRITE, 0);
	fv_offer(ram, 0, 0);
	/* An indirect one: a table of two at 0xb000. */
	fv_set(ram, 0, 3, 0xb000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	{
		struct fv_desc t[2] = { { 0xc000, 8, VIRTQ_DESC_F_NEXT, 1 },
					{ 0xd000, 64, VIRTQ_DESC_F_WRITE, 0 } };

		memcpy(ram + 0xb000, t, sizeof(t));
	}
	fv_offer(ram, 0, 3);
	fuzz_seed("direct-indirect", ram, 0xe000);
}
