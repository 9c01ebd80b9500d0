/* The snapshot file: a round trip of RAM and records, and every way a
 * file that is not the right one is refused before any of it is used. */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/format.h"
#include "unit.h"

#define RAM_A	(16 * SNAP_PAGE)
#define RAM_B	(8 * SNAP_PAGE)

static const uint8_t key[SNAP_KEY_LEN] = "pupa test key, thirty-two bytes";
static struct guest_mem mem;
static char path[64];
static int fd = -1;

static void setup(void)
{
	memset(&mem, 0, sizeof(mem));
	ck_assert_int_eq(guest_mem__add(&mem, 0, RAM_A), 0);
	ck_assert_int_eq(guest_mem__add(&mem, 1ULL << 32, RAM_B), 0);
	ck_assert_int_eq(guest_mem__map(&mem), 0);
	snprintf(path, sizeof(path), "/tmp/pupa-snap-test.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
}

static void teardown(void)
{
	guest_mem__unmap(&mem);
	close(fd);
}

/* Pages 1, 2 and 15 of the first region and page 3 of the second hold data. */
static void fill(void)
{
	memset(mem.regions[0].hva + SNAP_PAGE, 0xa5, 2 * SNAP_PAGE);
	memcpy(mem.regions[0].hva + 15 * SNAP_PAGE + 100, "last page", 9);
	mem.regions[1].hva[3 * SNAP_PAGE + SNAP_PAGE - 1] = 7;
}

static uint64_t write_snapshot(void)
{
	struct pupa_err err = { 0 };
	struct snap_writer w;
	uint32_t v0 = 0x1234, v1 = 0x5678;
	uint64_t pages;

	ck_assert_int_eq(snap_writer__init(&w, fd, key, RAM_A + RAM_B, &err), 0);
	ck_assert_int_eq(snap_writer__ram(&w, &mem, &err), 0);
	snap_writer__add(&w, SNAP_TAG_VCPU, 0, &v0, sizeof(v0));
	snap_writer__add(&w, SNAP_TAG_VCPU, 1, &v1, sizeof(v1));
	snap_writer__add(&w, SNAP_TAG_UART, 0, "uart", 5);
	ck_assert_int_eq(snap_writer__finish(&w, &err), 0);
	pages = w.pages_written;
	snap_writer__destroy(&w);
	return pages;
}

static struct snap_header read_header(void)
{
	struct snap_header h;

	ck_assert_int_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	return h;
}

static void flip(uint64_t off)
{
	uint8_t b;

	ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x10;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
}

/* Open with the test's key and size; the error's message, or "" when it opened. */
static const char *open_error(struct snap_reader *r, uint64_t ram_size, const uint8_t *k)
{
	static struct pupa_err err;

	memset(&err, 0, sizeof(err));
	if (snap_reader__open(r, fd, "test.snap", k, ram_size, &err) == 0)
		return "";
	ck_assert_uint_eq(err.code, GUEST_ERR_BAD_CONFIG);
	snap_reader__close(r);
	return err.msg;
}

START_TEST(snapshot_round_trip)
{
	struct guest_mem back = { 0 };
	struct pupa_err err = { 0 };
	struct snap_reader r;
	const uint32_t *v;
	struct stat st;
	uint32_t len;

	fill();
	ck_assert_uint_eq(write_snapshot(), 4);	/* zero pages are holes */
	ck_assert_str_eq(open_error(&r, RAM_A + RAM_B, key), "");
	v = snap_reader__get(&r, SNAP_TAG_VCPU, 1, &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, 4);
	ck_assert_uint_eq(*v, 0x5678);
	ck_assert_str_eq(snap_reader__get(&r, SNAP_TAG_UART, 0, &len), "uart");
	ck_assert_ptr_null(snap_reader__get(&r, SNAP_TAG_VCPU, 2, &len));

	ck_assert_int_eq(guest_mem__add(&back, 0, RAM_A), 0);
	ck_assert_int_eq(guest_mem__add(&back, 1ULL << 32, RAM_B), 0);
	ck_assert_int_eq(guest_mem__map(&back), 0);
	ck_assert_int_eq(snap_reader__ram(&r, &back, &err), 0);
	ck_assert_mem_eq(back.regions[0].hva, mem.regions[0].hva, RAM_A);
	ck_assert_mem_eq(back.regions[1].hva, mem.regions[1].hva, RAM_B);
	snap_reader__close(&r);
	guest_mem__unmap(&back);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, read_header().state_offset + read_header().state_len);
}
END_TEST

START_TEST(snapshot_refuses_what_it_was_not_made_for)
{
	struct snap_reader r;
	uint8_t other[SNAP_KEY_LEN];

	fill();
	write_snapshot();
	memcpy(other, key, sizeof(other));
	other[0] ^= 1;
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A + RAM_B, other), "made for another"));
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A, key), "this VM has"));
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A, key), "test.snap"));
}
END_TEST

START_TEST(snapshot_refuses_damage)
{
	struct guest_mem back = { 0 };
	struct pupa_err err = { 0 };
	struct snap_reader r;
	struct snap_header h;

	fill();
	write_snapshot();
	h = read_header();

	flip(h.state_offset + 20);	/* a record's bytes */
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A + RAM_B, key), "state is corrupt"));
	flip(h.state_offset + 20);

	flip(offsetof(struct snap_header, ram_sum));
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A + RAM_B, key), "header is corrupt"));
	flip(offsetof(struct snap_header, ram_sum));

	/* A page of RAM: the file opens, its RAM does not load. */
	flip(SNAP_RAM_OFFSET + 15 * SNAP_PAGE + 101);
	ck_assert_str_eq(open_error(&r, RAM_A + RAM_B, key), "");
	ck_assert_int_eq(guest_mem__add(&back, 0, RAM_A), 0);
	ck_assert_int_eq(guest_mem__add(&back, 1ULL << 32, RAM_B), 0);
	ck_assert_int_eq(guest_mem__map(&back), 0);
	ck_assert_int_lt(snap_reader__ram(&r, &back, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "RAM is corrupt"));
	snap_reader__close(&r);
	guest_mem__unmap(&back);
	flip(SNAP_RAM_OFFSET + 15 * SNAP_PAGE + 101);

	ck_assert_int_eq(ftruncate(fd, (off_t)(h.state_offset + h.state_len - 1)), 0);
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A + RAM_B, key), "cut short"));

	/* Never finished: no header at all. */
	ck_assert_int_eq(pwrite(fd, "\0\0\0\0\0\0\0\0", 8, 0), 8);
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A + RAM_B, key), "never finished"));
	ck_assert_int_eq(ftruncate(fd, 100), 0);
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A + RAM_B, key), "shorter than its header"));
}
END_TEST

/* A header with a sound checksum but another format version. */
START_TEST(snapshot_refuses_another_version)
{
	struct snap_reader r;
	struct snap_header h;

	write_snapshot();
	h = read_header();
	h.version = SNAP_VERSION + 1;
	h.header_sum = snap__sum(0, &h, offsetof(struct snap_header, header_sum));
	ck_assert_int_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A + RAM_B, key), "format 2, this pupa-vmm reads 1"));
}
END_TEST

/* A record that claims more than the state holds, under sound checksums. */
START_TEST(snapshot_refuses_a_record_past_the_end)
{
	struct snap_reader r;
	struct snap_header h;
	struct snap_record rec;
	uint8_t *state;

	write_snapshot();
	h = read_header();
	state = malloc(h.state_len);
	ck_assert_int_eq(pread(fd, state, h.state_len, (off_t)h.state_offset), (ssize_t)h.state_len);
	memcpy(&rec, state, sizeof(rec));
	rec.len = (uint32_t)h.state_len;
	memcpy(state, &rec, sizeof(rec));
	h.state_sum = snap__sum(0, state, h.state_len);
	h.header_sum = snap__sum(0, &h, offsetof(struct snap_header, header_sum));
	ck_assert_int_eq(pwrite(fd, state, h.state_len, (off_t)h.state_offset), (ssize_t)h.state_len);
	ck_assert_int_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	ck_assert_ptr_nonnull(strstr(open_error(&r, RAM_A + RAM_B, key), "runs past"));
	free(state);
}
END_TEST

START_TEST(snapshot_sum_sees_one_bit)
{
	uint8_t buf[100] = { 0 };
	uint64_t a = snap__sum(0, buf, sizeof(buf));

	for (size_t i = 0; i < sizeof(buf); i++) {
		buf[i] ^= 0x80;
		ck_assert_uint_ne(snap__sum(0, buf, sizeof(buf)), a);
		buf[i] ^= 0x80;
	}
	ck_assert_uint_ne(snap__sum(0, buf, 99), a);
	ck_assert_uint_ne(snap__sum(1, buf, sizeof(buf)), a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("format");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_refuses_what_it_was_not_made_for);
	tcase_add_test(tc, snapshot_refuses_damage);
	tcase_add_test(tc, snapshot_refuses_another_version);
	tcase_add_test(tc, snapshot_refuses_a_record_past_the_end);
	tcase_add_test(tc, snapshot_sum_sees_one_bit);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
