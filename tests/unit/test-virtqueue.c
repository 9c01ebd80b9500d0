#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "virtq_helpers.h"
#include "unit.h"

static struct guest_mem mem;
static struct virtqueue vq;
static struct virtq_chain chain;

static void setup(void)
{
	memset(&mem, 0, sizeof(mem));
	ck_assert_int_eq(guest_mem__add(&mem, 0, TQ_RAM), 0);
	ck_assert_int_eq(guest_mem__map(&mem), 0);
	tq_setup(&mem, &vq, 0);
}

static void teardown(void)
{
	guest_mem__unmap(&mem);
}

START_TEST(valid_chain)
{
	tq_set(&vq, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	tq_set(&vq, 1, 0x20000, 100, VIRTQ_DESC_F_NEXT, 2);
	tq_set(&vq, 2, 0x30000, 1, VIRTQ_DESC_F_WRITE, 0);
	tq_offer(&vq, 0);
	ck_assert(virtq_has_avail(&vq));
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_OK);
	ck_assert_uint_eq(chain.nr_out, 2);
	ck_assert_uint_eq(chain.nr_in, 1);
	ck_assert_uint_eq(chain.out_len, 116);
	ck_assert_uint_eq(chain.in_len, 1);
	ck_assert_ptr_eq(chain.in[0].base, tq_ptr(&mem, 0x30000));
	virtq_push(&vq, chain.head, 1);
	ck_assert_uint_eq(tq_used_idx(&vq), 1);
	ck_assert_uint_eq(tq_used_len(&vq, 0), 1);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_EMPTY);
}
END_TEST

START_TEST(loops)
{
	tq_set(&vq, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	tq_set(&vq, 1, 0x10000, 16, VIRTQ_DESC_F_NEXT, 0);
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_LOOP);
	/* A descriptor that names itself. */
	tq_setup(&mem, &vq, 0);
	tq_set(&vq, 3, 0x10000, 16, VIRTQ_DESC_F_NEXT, 3);
	tq_offer(&vq, 3);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_LOOP);
}
END_TEST

START_TEST(indexes)
{
	tq_set(&vq, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, TQ_SIZE);
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_INDEX);
	tq_setup(&mem, &vq, 0);
	tq_offer(&vq, TQ_SIZE + 5);	/* head beyond the table */
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_INDEX);
	/* The driver claims more chains than the ring holds. */
	tq_setup(&mem, &vq, 0);
	((uint16_t *)tq_ptr(&mem, vq.avail_gpa))[1] = TQ_SIZE + 1;
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_RING);
}
END_TEST

START_TEST(addresses)
{
	tq_set(&vq, 0, TQ_RAM - 8, 16, 0, 0);	/* runs past the end of RAM */
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_ADDR);
	tq_setup(&mem, &vq, 0);
	tq_set(&vq, 0, ~0ULL - 4, 16, 0, 0);	/* wraps around */
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_ADDR);
	tq_setup(&mem, &vq, 0);
	tq_set(&vq, 0, 0x10000, 0xffffffff, 0, 0);	/* 4 GiB long */
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_ADDR);
}
END_TEST

START_TEST(direction)
{
	tq_set(&vq, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	tq_set(&vq, 1, 0x20000, 16, 0, 0);
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_ORDER);
}
END_TEST

START_TEST(indirect)
{
	struct tq_desc *table = tq_ptr(&mem, 0x40000);

	table[0] = (struct tq_desc){ 0x10000, 16, VIRTQ_DESC_F_NEXT, 1 };
	table[1] = (struct tq_desc){ 0x20000, 8, VIRTQ_DESC_F_WRITE, 0 };
	tq_set(&vq, 0, 0x40000, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_OK);
	ck_assert_uint_eq(chain.out_len, 16);
	ck_assert_uint_eq(chain.in_len, 8);

	/* Nested indirect tables are forbidden. */
	table[1] = (struct tq_desc){ 0x40000, 32, VIRTQ_DESC_F_INDIRECT, 0 };
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_INDIRECT);
	/* A table whose length is not whole descriptors. */
	tq_setup(&mem, &vq, 0);
	tq_set(&vq, 0, 0x40000, 20, VIRTQ_DESC_F_INDIRECT, 0);
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_INDIRECT);
	/* A loop inside the table. */
	tq_setup(&mem, &vq, 0);
	table[0] = (struct tq_desc){ 0x10000, 16, VIRTQ_DESC_F_NEXT, 1 };
	table[1] = (struct tq_desc){ 0x10000, 16, VIRTQ_DESC_F_NEXT, 0 };
	tq_set(&vq, 0, 0x40000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_LOOP);
	/* A table outside RAM. */
	tq_setup(&mem, &vq, 0);
	tq_set(&vq, 0, TQ_RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	tq_offer(&vq, 0);
	ck_assert_int_eq(virtq_pop(&vq, &chain), VIRTQ_BAD_ADDR);
}
END_TEST

START_TEST(validate_rings)
{
	ck_assert_int_eq(virtq_validate(&vq), 0);
	vq.size = 12;	/* not a power of two */
	ck_assert_int_eq(virtq_validate(&vq), -EINVAL);
	vq.size = TQ_SIZE;
	vq.used_gpa = TQ_RAM - 8;	/* used ring past RAM */
	ck_assert_int_eq(virtq_validate(&vq), -EINVAL);
	vq.used_gpa = 0x3002;	/* misaligned */
	ck_assert_int_eq(virtq_validate(&vq), -EINVAL);
}
END_TEST

START_TEST(iov_copies)
{
	struct virtq_iov iov[3] = { { tq_ptr(&mem, 0x10000), 3 }, { tq_ptr(&mem, 0x20000), 0 },
				    { tq_ptr(&mem, 0x30000), 5 } };
	char out[8];

	ck_assert_uint_eq(virtq_iov_write(iov, 3, 1, "abcdefgh", 8), 7);
	ck_assert_uint_eq(virtq_iov_read(iov, 3, 0, out, 8), 8);
	ck_assert_int_eq(memcmp(out + 1, "abcdefg", 7), 0);
	ck_assert_uint_eq(virtq_iov_read(iov, 3, 20, out, 8), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtqueue");
	TCase *tc = tcase_create("hostile chains");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, valid_chain);
	tcase_add_test(tc, loops);
	tcase_add_test(tc, indexes);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, direction);
	tcase_add_test(tc, indirect);
	tcase_add_test(tc, validate_rings);
	tcase_add_test(tc, iov_copies);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
