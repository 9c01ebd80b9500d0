#include "uart8250.h"

#include <string.h>

/* Register offsets */
#define UART_RX		0	/* DLAB=0, read */
#define UART_TX		0	/* DLAB=0, write */
#define UART_IER	1
#define UART_IIR	2	/* read */
#define UART_FCR	2	/* write */
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IIR_NO_INT	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO_BITS	0xc0
#define FCR_ENABLE	0x01
#define FCR_CLEAR_RCVR	0x02
#define LCR_DLAB	0x80
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MCR_LOOP	0x10
#define MSR_DEFAULT	0xb0	/* DCD, DSR, CTS: a cable is plugged in */

void uart8250__init(struct uart8250 *u, uart_out_fn out, void *out_ctx, irq_line_fn irq,
		    void *irq_ctx)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->out = out;
	u->out_ctx = out_ctx;
	u->irq = irq;
	u->irq_ctx = irq_ctx;
	u->mcr = 0x08;	/* OUT2: interrupts routed */
}

void uart8250__destroy(struct uart8250 *u)
{
	pthread_mutex_destroy(&u->lock);
}

static uint8_t compute_iir(const struct uart8250 *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO_BITS : 0;

	if ((u->ier & IER_RDI) && u->rx_count)
		return fifo | IIR_RDI;
	if ((u->ier & IER_THRI) && u->thre_pending)
		return fifo | IIR_THRI;
	return fifo | IIR_NO_INT;
}

/* Called with the lock held; the line follows "an interrupt is pending". */
static void update_irq(struct uart8250 *u)
{
	int level = !(compute_iir(u) & IIR_NO_INT);

	if (level != u->irq_level) {
		u->irq_level = level;
		if (u->irq)
			u->irq(u->irq_ctx, level);
	}
}

static void rx_push(struct uart8250 *u, uint8_t c)
{
	if (u->rx_count < UART_FIFO_SIZE) {
		u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = c;
		u->rx_count++;
	}
}

static uint8_t rx_pop(struct uart8250 *u)
{
	uint8_t c;

	if (!u->rx_count)
		return 0;
	c = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	return c;
}

static uint8_t uart_read(struct uart8250 *u, unsigned int reg)
{
	uint8_t iir;

	switch (reg) {
	case UART_RX:
		return (u->lcr & LCR_DLAB) ? u->dll : rx_pop(u);
	case UART_IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case UART_IIR:
		iir = compute_iir(u);
		/* Reading IIR acknowledges a THRE interrupt. */
		if ((iir & 0x0f) == IIR_THRI)
			u->thre_pending = 0;
		return iir;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
	case UART_MSR:
		if (u->mcr & MCR_LOOP)	/* outputs wired back to inputs */
			return (uint8_t)(((u->mcr & 0x0c) << 4) | ((u->mcr & 0x01) << 5) |
					 ((u->mcr & 0x02) << 3));
		return MSR_DEFAULT;
	case UART_SCR:
		return u->scr;
	}
	return 0xff;
}

static void uart_write(struct uart8250 *u, unsigned int reg, uint8_t v)
{
	switch (reg) {
	case UART_TX:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
		} else {
			if (u->mcr & MCR_LOOP)
				rx_push(u, v);
			else if (u->out)
				u->out(u->out_ctx, &v, 1);
			u->thre_pending = 1;	/* sent at once, so the holding register is empty */
		}
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
		} else {
			if (!(u->ier & IER_THRI) && (v & IER_THRI))
				u->thre_pending = 1;
			u->ier = v & 0x0f;
		}
		break;
	case UART_FCR:
		u->fcr = v & FCR_ENABLE;
		if (v & FCR_CLEAR_RCVR)
			u->rx_count = 0;
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & 0x1f;
		break;
	case UART_SCR:
		u->scr = v;
		break;
	}
}

void uart8250__io(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write)
{
	struct uart8250 *u = dev;

	if (len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&u->lock);
	if (is_write)
		uart_write(u, (unsigned int)offset, data[0]);
	else
		data[0] = uart_read(u, (unsigned int)offset);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

size_t uart8250__receive(struct uart8250 *u, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	while (n < len && u->rx_count < UART_FIFO_SIZE)
		rx_push(u, p[n++]);
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart8250__rx_room(struct uart8250 *u)
{
	size_t room;

	pthread_mutex_lock(&u->lock);
	room = UART_FIFO_SIZE - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return room;
}

void uart8250__get_state(struct uart8250 *u, struct uart8250_state *s)
{
	pthread_mutex_lock(&u->lock);
	*s = (struct uart8250_state){
		.ier = u->ier, .lcr = u->lcr, .mcr = u->mcr, .scr = u->scr, .fcr = u->fcr,
		.dll = u->dll, .dlm = u->dlm, .thre_pending = (uint8_t)u->thre_pending,
		.irq_level = u->irq_level,
	};
	pthread_mutex_unlock(&u->lock);
}

/* The interrupt line's level came back with the interrupt controllers. */
void uart8250__set_state(struct uart8250 *u, const struct uart8250_state *s)
{
	pthread_mutex_lock(&u->lock);
	u->ier = s->ier;
	u->lcr = s->lcr;
	u->mcr = s->mcr;
	u->scr = s->scr;
	u->fcr = s->fcr;
	u->dll = s->dll;
	u->dlm = s->dlm;
	u->thre_pending = s->thre_pending != 0;
	u->irq_level = s->irq_level != 0;
	u->rx_head = u->rx_count = 0;
	pthread_mutex_unlock(&u->lock);
}
