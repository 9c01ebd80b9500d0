/*
 * Initial vCPU state for the two entry points: CPUID with each vCPU's APIC
 * id, MSRs, the FPU, the local APIC's LINT pins, and for the boot vCPU
 * the registers and segments the boot protocol asks for.
 */
#ifndef PUPA_VMM_X86_CPU_H
#define PUPA_VMM_X86_CPU_H

#include <linux/kvm.h>

#include "boot.h"
#include "error.h"

/* KVM's supported CPUID, fetched once; free() the result. */
struct kvm_cpuid2 *x86_cpu__supported_cpuid(int kvm_fd, struct pupa_err *err);

int x86_cpu__setup(int vcpu_fd, unsigned int id, unsigned int ncpus,
		   const struct kvm_cpuid2 *cpuid, const struct x86_boot *boot,
		   struct pupa_err *err);

#endif
