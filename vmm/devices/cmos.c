#include "cmos.h"

#include <string.h>
#include <time.h>

#define REG_SECONDS	0x00
#define REG_MINUTES	0x02
#define REG_HOURS	0x04
#define REG_WEEKDAY	0x06
#define REG_DAY		0x07
#define REG_MONTH	0x08
#define REG_YEAR	0x09
#define REG_A		0x0a
#define REG_B		0x0b
#define REG_C		0x0c
#define REG_D		0x0d
#define REG_CENTURY	0x32

void cmos__init(struct cmos *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->ram[REG_A] = 0x26;	/* 32.768 kHz, 1024 Hz periodic rate; update not in progress */
	c->ram[REG_B] = 0x02;	/* 24-hour, BCD */
	c->ram[REG_D] = 0x80;	/* battery good */
}

void cmos__destroy(struct cmos *c)
{
	pthread_mutex_destroy(&c->lock);
}

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t read_reg(struct cmos *c, uint8_t reg)
{
	struct tm tm;
	time_t now;

	if (reg > REG_YEAR && reg != REG_CENTURY)
		return reg == REG_C ? 0 : c->ram[reg];
	now = time(NULL);
	gmtime_r(&now, &tm);
	switch (reg) {
	case REG_SECONDS: return bcd(tm.tm_sec);
	case REG_MINUTES: return bcd(tm.tm_min);
	case REG_HOURS: return bcd(tm.tm_hour);
	case REG_WEEKDAY: return bcd(tm.tm_wday + 1);
	case REG_DAY: return bcd(tm.tm_mday);
	case REG_MONTH: return bcd(tm.tm_mon + 1);
	case REG_YEAR: return bcd(tm.tm_year % 100);
	case REG_CENTURY: return bcd((tm.tm_year + 1900) / 100);
	}
	return 0;	/* alarm registers */
}

void cmos__io(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write)
{
	struct cmos *c = dev;

	pthread_mutex_lock(&c->lock);
	if (offset == 0) {
		if (is_write)
			c->index = data[0] & 0x7f;	/* bit 7 is the NMI mask */
		else
			data[0] = c->index;
	} else if (is_write) {
		if (c->index > REG_D)	/* the clock itself is the host's; NVRAM is kept */
			c->ram[c->index] = data[0];
	} else {
		data[0] = read_reg(c, c->index);
	}
	pthread_mutex_unlock(&c->lock);
}
