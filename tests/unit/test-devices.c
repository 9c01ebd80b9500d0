#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "capped_log.h"
#include "console.h"
#include "devices/cmos.h"
#include "devices/i8042.h"
#include "devices/uart8250.h"
#include "unit.h"

static char out[256];
static size_t out_len;
static int irq_level, irq_changes;

static void sink(void *ctx, const void *buf, size_t len)
{
	memcpy(out + out_len, buf, len);
	out_len += len;
}

static void irq(void *ctx, int level)
{
	irq_level = level;
	irq_changes++;
}

static uint8_t rd(struct uart8250 *u, unsigned int reg)
{
	uint8_t v;

	uart8250__io(u, reg, &v, 1, 0);
	return v;
}

static void wr(struct uart8250 *u, unsigned int reg, uint8_t v)
{
	uart8250__io(u, reg, &v, 1, 1);
}

START_TEST(uart_transmit_and_status)
{
	struct uart8250 u;

	out_len = 0;
	uart8250__init(&u, sink, NULL, irq, NULL);
	wr(&u, 0, 'h');
	wr(&u, 0, 'i');
	ck_assert_uint_eq(out_len, 2);
	ck_assert_int_eq(memcmp(out, "hi", 2), 0);
	ck_assert_uint_eq(rd(&u, 5) & 0x60, 0x60);	/* THRE and TEMT: always ready */
	ck_assert_uint_eq(rd(&u, 5) & 0x01, 0);		/* no data */
	ck_assert_uint_eq(rd(&u, 2) & 0x0f, 0x01);	/* no interrupt */
	wr(&u, 7, 0x5a);
	ck_assert_uint_eq(rd(&u, 7), 0x5a);		/* scratch */
	wr(&u, 2, 0x01);				/* FIFO on: a 16550A */
	ck_assert_uint_eq(rd(&u, 2) & 0xc0, 0xc0);
	wr(&u, 3, 0x80);				/* DLAB: divisor latch */
	wr(&u, 0, 0x01);
	wr(&u, 1, 0x00);
	ck_assert_uint_eq(rd(&u, 0), 0x01);
	wr(&u, 3, 0x03);
	ck_assert_uint_eq(out_len, 2);			/* the divisor is not data */
	uart8250__destroy(&u);
}
END_TEST

START_TEST(uart_receive_raises_irq)
{
	struct uart8250 u;

	irq_level = 0;
	irq_changes = 0;
	uart8250__init(&u, sink, NULL, irq, NULL);
	ck_assert_uint_eq(uart8250__receive(&u, "ab", 2), 2);
	ck_assert_int_eq(irq_level, 0);			/* receive interrupt not enabled yet */
	wr(&u, 1, 0x01);				/* IER: received data */
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(rd(&u, 2) & 0x0f, 0x04);	/* IIR: data available */
	ck_assert_uint_eq(rd(&u, 5) & 0x01, 0x01);
	ck_assert_uint_eq(rd(&u, 0), 'a');
	ck_assert_uint_eq(rd(&u, 0), 'b');
	ck_assert_int_eq(irq_level, 0);			/* drained: line drops */
	ck_assert_uint_eq(rd(&u, 0), 0);		/* empty FIFO reads 0, no underflow */
	/* The FIFO holds 64 bytes and says how many it took. */
	{
		char big[100];

		memset(big, 'x', sizeof(big));
		ck_assert_uint_eq(uart8250__receive(&u, big, sizeof(big)), UART_FIFO_SIZE);
		ck_assert_uint_eq(uart8250__rx_room(&u), 0);
	}
	uart8250__destroy(&u);
}
END_TEST

START_TEST(uart_thre_interrupt)
{
	struct uart8250 u;

	irq_level = 0;
	uart8250__init(&u, sink, NULL, irq, NULL);
	wr(&u, 1, 0x02);				/* enabling THRI with THR empty fires */
	ck_assert_int_eq(irq_level, 1);
	ck_assert_uint_eq(rd(&u, 2) & 0x0f, 0x02);	/* reading IIR acknowledges it */
	ck_assert_int_eq(irq_level, 0);
	out_len = 0;
	wr(&u, 0, 'x');					/* sent: empty again, fires again */
	ck_assert_int_eq(irq_level, 1);
	uart8250__destroy(&u);
}
END_TEST

START_TEST(uart_odd_sizes_are_ignored)
{
	struct uart8250 u;
	uint8_t v[4] = { 1, 2, 3, 4 };

	out_len = 0;
	uart8250__init(&u, sink, NULL, irq, NULL);
	uart8250__io(&u, 0, v, 4, 1);
	ck_assert_uint_eq(out_len, 0);
	uart8250__io(&u, 5, v, 2, 0);
	ck_assert_uint_eq(v[0], 0xff);
	uart8250__destroy(&u);
}
END_TEST

static int resets;
static void on_reset(void *ctx) { resets++; }

START_TEST(i8042_commands_and_reset)
{
	struct i8042 k;
	uint8_t v;

	resets = 0;
	i8042__init(&k, on_reset, NULL);
	i8042__io_command(&k, 0, &v, 1, 0);
	ck_assert_uint_eq(v & 0x01, 0);			/* nothing to read */
	v = 0xaa;					/* self test */
	i8042__io_command(&k, 0, &v, 1, 1);
	i8042__io_command(&k, 0, &v, 1, 0);
	ck_assert_uint_eq(v & 0x01, 1);
	i8042__io_data(&k, 0, &v, 1, 0);
	ck_assert_uint_eq(v, 0x55);
	v = 0x60;					/* write the configuration byte */
	i8042__io_command(&k, 0, &v, 1, 1);
	v = 0x47;
	i8042__io_data(&k, 0, &v, 1, 1);
	v = 0x20;					/* and read it back */
	i8042__io_command(&k, 0, &v, 1, 1);
	i8042__io_data(&k, 0, &v, 1, 0);
	ck_assert_uint_eq(v, 0x47);
	ck_assert_int_eq(resets, 0);
	v = 0xfe;					/* pulse reset: the guest reboots */
	i8042__io_command(&k, 0, &v, 1, 1);
	ck_assert_int_eq(resets, 1);
	i8042__destroy(&k);
}
END_TEST

static uint8_t cmos_read(struct cmos *c, uint8_t reg)
{
	uint8_t v = reg;

	cmos__io(c, 0, &v, 1, 1);
	cmos__io(c, 1, &v, 1, 0);
	return v;
}

START_TEST(cmos_clock)
{
	struct cmos c;
	uint8_t sec, mon;

	cmos__init(&c);
	ck_assert_uint_eq(cmos_read(&c, 0x0a) & 0x80, 0);	/* never "update in progress" */
	ck_assert_uint_eq(cmos_read(&c, 0x0d), 0x80);		/* battery good */
	sec = cmos_read(&c, 0x00);
	mon = cmos_read(&c, 0x88);				/* NMI bit is ignored */
	ck_assert_uint_le(sec >> 4, 5);
	ck_assert_uint_le(sec & 0x0f, 9);
	ck_assert_uint_ge(mon, 1);
	ck_assert_uint_le(mon, 0x12);
	ck_assert_uint_ge(cmos_read(&c, 0x32), 0x20);		/* century */
	cmos__destroy(&c);
}
END_TEST

static int hits;
static void count_io(void *dev, uint64_t off, uint8_t *data, uint32_t len, int w)
{
	hits++;
	if (!w)
		memset(data, (int)off, len);
}

START_TEST(bus_dispatch_and_overlap)
{
	struct io_bus bus = { 0 };
	uint8_t v[4];

	hits = 0;
	ck_assert_int_eq(io_bus__register(&bus, 0x100, 8, count_io, NULL, "a"), 0);
	ck_assert_int_eq(io_bus__register(&bus, 0x104, 8, count_io, NULL, "b"), -EEXIST);
	ck_assert_int_eq(io_bus__register(&bus, 0x0fc, 5, count_io, NULL, "c"), -EEXIST);
	ck_assert_int_eq(io_bus__register(&bus, 0x108, 8, count_io, NULL, "d"), 0);
	ck_assert_int_eq(io_bus__register(&bus, 0x0, 0, count_io, NULL, "e"), -EINVAL);
	ck_assert_str_eq(io_bus__find_overlap(&bus, 0x10a, 1)->name, "d");
	ck_assert_int_eq(io_bus__access(&bus, 0x103, v, 1, 0), 1);
	ck_assert_uint_eq(v[0], 3);				/* offset within the range */
	ck_assert_int_eq(io_bus__access(&bus, 0x200, v, 4, 0), 0);
	ck_assert_uint_eq(v[0] & v[1] & v[2] & v[3], 0xff);	/* unclaimed reads all-ones */
	ck_assert_int_eq(io_bus__access(&bus, 0x106, v, 4, 0), 0); /* straddles two ranges */
	ck_assert_int_eq(hits, 1);
}
END_TEST

START_TEST(console_escape)
{
	struct console con;
	struct pupa_err err = { 0 };
	char in[] = "ab\001\001c\001qd\001x";
	size_t n;
	int quit;

	ck_assert_int_eq(console__open(&con, "none", &err), 0);
	n = console__filter_input(&con, in, strlen(in), &quit);
	ck_assert_int_eq(quit, 1);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(memcmp(in, "ab\001cd", 5), 0);	/* Ctrl-A Ctrl-A sends one Ctrl-A; Ctrl-A q is dropped */
	console__close(&con);
	ck_assert_int_eq(console__open(&con, "/nonexistent/dir/log", &err), -GUEST_ERR_BAD_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "--serial /nonexistent/dir/log"));
}
END_TEST

/* A guest that writes forever: the file keeps the head, a marker that says
 * how much was dropped, and the tail in order, and stays bounded. */
START_TEST(capped_log_keeps_head_and_tail)
{
	char path[] = "/tmp/pupa-capped-XXXXXX", buf[8192], line[16];
	struct capped_log log;
	struct stat st;
	uint64_t written = 0;
	ssize_t n;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	capped_log__init(&log, fd, 1000, 500);
	for (int i = 0; i < 100000; i++) {
		snprintf(line, sizeof(line), "%07d\n", i);
		ck_assert_int_eq(capped_log__write(&log, line, 8), 0);
		written += 8;
		ck_assert_uint_le(log.size, 1000 + 53 + 2 * 500);
	}
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, log.size);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_eq(n, (ssize_t)log.size);
	buf[n] = '\0';
	/* The head: lines 0 to 124, exactly. */
	ck_assert_int_eq(strncmp(buf, "0000000\n0000001\n", 16), 0);
	ck_assert_int_eq(strncmp(buf + 992, "0000124\n", 8), 0);
	ck_assert_ptr_nonnull(strstr(buf + 1000, "bytes dropped here]"));
	/* The tail ends with the last line, and head + marker + tail + dropped
	 * is everything written. */
	ck_assert_str_eq(buf + n - 8, "0099999\n");
	ck_assert_uint_eq(log.dropped + log.size - 53, written);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("devices");
	TCase *tc = tcase_create("legacy");

	tcase_add_test(tc, uart_transmit_and_status);
	tcase_add_test(tc, uart_receive_raises_irq);
	tcase_add_test(tc, uart_thre_interrupt);
	tcase_add_test(tc, uart_odd_sizes_are_ignored);
	tcase_add_test(tc, i8042_commands_and_reset);
	tcase_add_test(tc, cmos_clock);
	tcase_add_test(tc, bus_dispatch_and_overlap);
	tcase_add_test(tc, console_escape);
	tcase_add_test(tc, capped_log_keeps_head_and_tail);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
