/*
 * The Intel MultiProcessor Specification 1.4 table: how a guest without
 * ACPI finds its CPUs, its IOAPIC and how ISA interrupts reach it.
 */
#ifndef PUPA_VMM_X86_MPTABLE_H
#define PUPA_VMM_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MPTABLE_MAX_CPUS	32
#define MPTABLE_IRQS		24

/* Bytes the table needs for ncpus, floating pointer included. */
size_t mptable__size(unsigned int ncpus);

/*
 * Write the floating pointer and the configuration table into buf, which
 * the guest sees at guest address gpa. -EINVAL for 0 or too many CPUs,
 * -ENOSPC when buf is too small.
 */
int mptable__write(uint8_t *buf, size_t len, uint64_t gpa, unsigned int ncpus);

#endif
