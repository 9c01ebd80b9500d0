#include "mptable.h"

#include <errno.h>
#include <string.h>

#include "layout.h"

struct mpf_intel {
	char signature[4];	/* "_MP_" */
	uint32_t physptr;
	uint8_t length;		/* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_table {
	char signature[4];	/* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint16_t extlength;
	uint8_t extchecksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t cpufeature, featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

#define CPU_ENABLED	1
#define CPU_BOOTPROCESSOR 2
#define APIC_VERSION	0x14
#define IOAPIC_VERSION	0x11

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return (uint8_t)-sum;
}

size_t mptable__size(unsigned int ncpus)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
	       ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) + (MPTABLE_IRQS + 2) * sizeof(struct mpc_intsrc);
}

int mptable__write(uint8_t *buf, size_t len, uint64_t gpa, unsigned int ncpus)
{
	struct mpf_intel *mpf = (struct mpf_intel *)buf;
	struct mpc_table *mpc = (struct mpc_table *)(mpf + 1);
	uint8_t *p = (uint8_t *)(mpc + 1);
	uint8_t ioapic_id = (uint8_t)ncpus;
	uint16_t count = 0;

	if (ncpus == 0 || ncpus > MPTABLE_MAX_CPUS)
		return -EINVAL;
	if (len < mptable__size(ncpus))
		return -ENOSPC;
	memset(buf, 0, mptable__size(ncpus));

	for (unsigned int i = 0; i < ncpus; i++, count++) {
		struct mpc_cpu c = {
			.type = MP_PROCESSOR, .apicid = (uint8_t)i, .apicver = APIC_VERSION,
			.cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
			.cpufeature = 0x600, .featureflag = 0x201,	/* FPU, APIC */
		};
		memcpy(p, &c, sizeof(c));
		p += sizeof(c);
	}

	struct mpc_bus bus = { .type = MP_BUS, .busid = 0, .bustype = "ISA   " };
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	count++;

	struct mpc_ioapic io = {
		.type = MP_IOAPIC, .apicid = ioapic_id, .apicver = IOAPIC_VERSION,
		.flags = 1, .apicaddr = (uint32_t)X86_IOAPIC_ADDR,
	};
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	count++;

	/* Each ISA IRQ goes to the IOAPIC pin of the same number. */
	for (unsigned int irq = 0; irq < MPTABLE_IRQS; irq++, count++) {
		struct mpc_intsrc s = {
			.type = MP_INTSRC, .irqtype = MP_INT, .srcbus = 0,
			.srcbusirq = (uint8_t)irq, .dstapic = ioapic_id, .dstirq = (uint8_t)irq,
		};
		memcpy(p, &s, sizeof(s));
		p += sizeof(s);
	}

	struct mpc_intsrc lint0 = { .type = MP_LINTSRC, .irqtype = MP_EXTINT,
				    .dstapic = 0xff, .dstirq = 0 };
	struct mpc_intsrc lint1 = { .type = MP_LINTSRC, .irqtype = MP_NMI,
				    .dstapic = 0xff, .dstirq = 1 };
	memcpy(p, &lint0, sizeof(lint0));
	p += sizeof(lint0);
	memcpy(p, &lint1, sizeof(lint1));
	p += sizeof(lint1);
	count += 2;

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "PUPA    ", 8);
	memcpy(mpc->productid, "PUPA-VMM    ", 12);
	mpc->oemcount = count;
	mpc->lapic = (uint32_t)X86_LAPIC_ADDR;
	mpc->checksum = checksum((uint8_t *)mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = checksum((uint8_t *)mpf, sizeof(*mpf));
	return 0;
}
