#include "i8042.h"

#include <string.h>

#define STATUS_OBF	0x01
#define STATUS_SYS	0x04
#define STATUS_CMD	0x08

#define CMD_READ_CTR	0x20
#define CMD_WRITE_CTR	0x60
#define CMD_DISABLE_AUX	0xa7
#define CMD_ENABLE_AUX	0xa8
#define CMD_TEST_AUX	0xa9
#define CMD_SELF_TEST	0xaa
#define CMD_TEST_KBD	0xab
#define CMD_DISABLE_KBD	0xad
#define CMD_ENABLE_KBD	0xae
#define CMD_WRITE_AUX	0xd4
#define CMD_PULSE_RESET	0xfe

void i8042__init(struct i8042 *k, i8042_reset_fn reset, void *ctx)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->ctr = 0x30;	/* both ports' clocks disabled, no interrupts */
	k->reset = reset;
	k->reset_ctx = ctx;
}

void i8042__destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

static void respond(struct i8042 *k, uint8_t v)
{
	k->outb = v;
	k->outb_full = 1;
}

static int command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_CTR:
		respond(k, k->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_AUX:
		k->pending_cmd = cmd;
		break;
	case CMD_SELF_TEST:
		respond(k, 0x55);
		break;
	case CMD_TEST_KBD:
		respond(k, 0x00);
		break;
	case CMD_TEST_AUX:
		respond(k, 0xff);	/* no mouse */
		break;
	case CMD_PULSE_RESET:
		return 1;
	default:	/* enable/disable ports and the rest: accepted, nothing to do */
		break;
	}
	return 0;
}

void i8042__io_command(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write)
{
	struct i8042 *k = dev;
	int reset = 0;

	pthread_mutex_lock(&k->lock);
	if (is_write)
		reset = command(k, data[0]);
	else
		data[0] = STATUS_SYS | (k->outb_full ? STATUS_OBF : 0);
	pthread_mutex_unlock(&k->lock);
	if (reset && k->reset)
		k->reset(k->reset_ctx);
}

void i8042__io_data(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write)
{
	struct i8042 *k = dev;

	pthread_mutex_lock(&k->lock);
	if (!is_write) {
		data[0] = k->outb;
		k->outb_full = 0;
	} else if (k->pending_cmd == CMD_WRITE_CTR) {
		k->ctr = data[0];
		k->pending_cmd = 0;
	} else {
		/* Bytes for the keyboard or mouse: nothing is attached to answer. */
		k->pending_cmd = 0;
	}
	pthread_mutex_unlock(&k->lock);
}
