/*
 * A 16550A UART: enough of one for Linux's 8250 driver and its console.
 * Transmitted bytes go to a console sink at once; received bytes wait in
 * the FIFO. The device raises its interrupt line through a callback.
 */
#ifndef PUPA_VMM_UART8250_H
#define PUPA_VMM_UART8250_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define UART_PORT_COM1	0x3f8
#define UART_IRQ_COM1	4
#define UART_NR_PORTS	8
#define UART_FIFO_SIZE	64

typedef void (*uart_out_fn)(void *ctx, const void *buf, size_t len);
typedef void (*irq_line_fn)(void *ctx, int level);

struct uart8250 {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	int thre_pending;
	int irq_level;
	uint8_t rx[UART_FIFO_SIZE];
	unsigned int rx_head, rx_count;
	uart_out_fn out;
	void *out_ctx;
	irq_line_fn irq;
	void *irq_ctx;
};

void uart8250__init(struct uart8250 *u, uart_out_fn out, void *out_ctx, irq_line_fn irq,
		    void *irq_ctx);
void uart8250__destroy(struct uart8250 *u);

/* The io_bus handler for the 8 ports. */
void uart8250__io(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write);

/* The registers a snapshot keeps (the receive FIFO is not: input that
 * waited in it belonged to the run that made the snapshot). */
struct uart8250_state {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm, thre_pending;
	int32_t irq_level;
};
void uart8250__get_state(struct uart8250 *u, struct uart8250_state *s);
void uart8250__set_state(struct uart8250 *u, const struct uart8250_state *s);

/* Queue bytes for the guest; returns how many fit in the FIFO. */
size_t uart8250__receive(struct uart8250 *u, const void *buf, size_t len);

/* Room left in the receive FIFO. */
size_t uart8250__rx_room(struct uart8250 *u);

#endif
