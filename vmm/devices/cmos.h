/*
 * An MC146818 CMOS RTC, read-only clock: guests that read the time from it
 * (or wait for its update flag) get the host's UTC time at once instead of
 * the all-ones of an empty port, which some kernels spin on.
 */
#ifndef PUPA_VMM_CMOS_H
#define PUPA_VMM_CMOS_H

#include <pthread.h>
#include <stdint.h>

#define CMOS_PORT	0x70
#define CMOS_NR_PORTS	2

struct cmos {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[128];
};

void cmos__init(struct cmos *c);
void cmos__destroy(struct cmos *c);
void cmos__io(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write);

#endif
