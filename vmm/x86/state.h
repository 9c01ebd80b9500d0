/*
 * What KVM holds of an x86 guest, to and from a snapshot: per vCPU its
 * registers, segments, FPU/AVX state (xsave), XCRs, debug registers, local
 * APIC, MSRs, pending events, run state and CPUID; per VM the two PICs,
 * the IOAPIC, the PIT and kvmclock.
 *
 * Restore order matters (as KVM's documentation and Firecracker's restore
 * show): the VM's clock and interrupt controllers first; per vCPU, CPUID
 * before anything that depends on it, the local APIC before the MSRs (the
 * TSC-deadline MSR needs the APIC in that mode), the TSC before the
 * deadline, the events last.
 */
#ifndef PUPA_VMM_X86_STATE_H
#define PUPA_VMM_X86_STATE_H

#include "error.h"
#include "../snapshot/format.h"

/* Save vCPU id (paused, its pending I/O completed). */
int x86_state__save_vcpu(int kvm_fd, int vcpu_fd, unsigned int id, struct snap_writer *w,
			 struct pupa_err *err);

/*
 * Restore vCPU id, created and set up for this host as a fresh boot
 * would (so its CPUID is this host's): a snapshot whose CPUID differs was
 * made on another CPU or KVM, and is refused.
 */
int x86_state__restore_vcpu(int vcpu_fd, unsigned int id, const struct snap_reader *r,
			    struct pupa_err *err);

int x86_state__save_vm(int vm_fd, struct snap_writer *w, struct pupa_err *err);
int x86_state__restore_vm(int vm_fd, const struct snap_reader *r, struct pupa_err *err);

#endif
