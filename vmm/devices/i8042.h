/*
 * The part of an i8042 keyboard controller a VM needs: Linux resets the
 * machine through it (reboot=k writes 0xFE to port 0x64), and its probe
 * must get answers rather than time out. No keyboard is attached.
 */
#ifndef PUPA_VMM_I8042_H
#define PUPA_VMM_I8042_H

#include <pthread.h>
#include <stdint.h>

#define I8042_DATA_PORT		0x60
#define I8042_COMMAND_PORT	0x64

typedef void (*i8042_reset_fn)(void *ctx);

struct i8042 {
	pthread_mutex_t lock;
	uint8_t ctr;		/* controller configuration byte */
	uint8_t outb;		/* output buffer */
	int outb_full;
	uint8_t pending_cmd;	/* command waiting for its data byte */
	i8042_reset_fn reset;
	void *reset_ctx;
};

void i8042__init(struct i8042 *k, i8042_reset_fn reset, void *ctx);
void i8042__destroy(struct i8042 *k);
/* Handler for both ports: register it for 0x60 and 0x64 with the port as dev offset base. */
void i8042__io_data(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write);
void i8042__io_command(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write);

#endif
