#include "cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "gdt.h"
#include "layout.h"

#define CR0_PE		0x1ULL
#define CR0_ET		0x10ULL
#define CR0_PG		0x80000000ULL
#define CR4_PAE		0x20ULL
#define EFER_LME	0x100ULL
#define EFER_LMA	0x400ULL

#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_IA32_TSC		0x10
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MISC_ENABLE_FAST_STRING	0x1

#define APIC_LVT0		0x350
#define APIC_LVT1		0x360
#define APIC_MODE_NMI		0x4
#define APIC_MODE_EXTINT	0x7

#define CPUID_1_ECX_TSC_DEADLINE	(1u << 24)

/*
 * Features KVM emulates but leaves out of KVM_GET_SUPPORTED_CPUID. The
 * TSC-deadline timer matters: without it Linux calibrates the local APIC
 * timer against the PIT at boot (a quarter of a second under nested KVM),
 * and may then disable it.
 */
static void add_emulated_features(int kvm_fd, struct kvm_cpuid2 *c)
{
	int deadline = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;

	for (unsigned int i = 0; i < c->nent; i++)
		if (c->entries[i].function == 1 && deadline)
			c->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

struct kvm_cpuid2 *x86_cpu__supported_cpuid(int kvm_fd, struct pupa_err *err)
{
	for (unsigned int n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			break;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			add_emulated_features(kvm_fd, c);
			return c;
		}
		free(c);
		if (errno != E2BIG) {
			guest_err(err, GUEST_ERR_VCPU_START, "KVM_GET_SUPPORTED_CPUID: %s",
				  strerror(errno));
			return NULL;
		}
	}
	guest_err(err, GUEST_ERR_VCPU_START, "KVM_GET_SUPPORTED_CPUID: too many entries");
	return NULL;
}

static int set_cpuid(int fd, unsigned int id, unsigned int ncpus, const struct kvm_cpuid2 *sup)
{
	size_t size = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	int ret;

	if (!c)
		return -ENOMEM;
	memcpy(c, sup, size);
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* Initial APIC id, logical CPU count, "running on a hypervisor". */
			e->ebx = (e->ebx & 0x0000ffff) | (ncpus << 16) | (id << 24);
			e->ecx |= 1u << 31;
			if (ncpus > 1)
				e->edx |= 1u << 28;	/* HTT: the count field is valid */
			break;
		case 0xb:
		case 0x1f:
			e->edx = id;	/* x2APIC id */
			break;
		}
	}
	ret = ioctl(fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	return ret;
}

static int set_msrs(int fd)
{
	static const uint32_t zeroed[] = {
		MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
		MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK, MSR_KERNEL_GS_BASE,
		MSR_IA32_TSC,
	};
	const unsigned int n = sizeof(zeroed) / sizeof(zeroed[0]) + 1;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[sizeof(zeroed) / sizeof(zeroed[0]) + 1];
	} m;
	int ret;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = n;
	for (unsigned int i = 0; i < n - 1; i++)
		m.e[i].index = zeroed[i];
	m.e[n - 1].index = MSR_IA32_MISC_ENABLE;
	m.e[n - 1].data = MISC_ENABLE_FAST_STRING;
	ret = ioctl(fd, KVM_SET_MSRS, &m);
	if (ret < 0)
		return -errno;
	return ret == (int)n ? 0 : -EINVAL;
}

static int set_fpu(int fd)
{
	struct kvm_fpu fpu;

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	return ioctl(fd, KVM_SET_FPU, &fpu) < 0 ? -errno : 0;
}

/* Route the legacy PIC to LINT0 (ExtINT) and NMIs to LINT1. */
static int set_lint(int fd)
{
	struct kvm_lapic_state lapic;
	uint32_t v;

	if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	memcpy(&v, &lapic.regs[APIC_LVT0], 4);
	v = (v & ~0x700u) | (APIC_MODE_EXTINT << 8);
	memcpy(&lapic.regs[APIC_LVT0], &v, 4);
	memcpy(&v, &lapic.regs[APIC_LVT1], 4);
	v = (v & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(&lapic.regs[APIC_LVT1], &v, 4);
	return ioctl(fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

static struct kvm_segment segment_from_gdt(uint64_t d, uint16_t selector)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	int g = (int)((d >> 55) & 1);

	return (struct kvm_segment){
		.base = (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000)),
		.limit = g ? (limit << 12) | 0xfff : limit,
		.selector = selector,
		.type = (uint8_t)((d >> 40) & 0xf),
		.present = (uint8_t)((d >> 47) & 1),
		.dpl = (uint8_t)((d >> 45) & 3),
		.db = (uint8_t)((d >> 54) & 1),
		.s = (uint8_t)((d >> 44) & 1),
		.l = (uint8_t)((d >> 53) & 1),
		.g = (uint8_t)g,
		.avl = (uint8_t)((d >> 52) & 1),
	};
}

static int set_boot_sregs(int fd, const struct x86_boot *boot)
{
	int long_mode = boot->mode == X86_BOOT_BZIMAGE;
	struct kvm_sregs s;
	uint64_t gdt[GDT_ENTRIES];
	struct kvm_segment code, data;

	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	gdt_build(gdt, long_mode);
	code = segment_from_gdt(gdt[GDT_BOOT_CS / 8], GDT_BOOT_CS);
	data = segment_from_gdt(gdt[GDT_BOOT_DS / 8], GDT_BOOT_DS);
	s.gdt.base = X86_GDT_ADDR;
	s.gdt.limit = sizeof(gdt) - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr = segment_from_gdt(gdt[GDT_BOOT_TSS / 8], GDT_BOOT_TSS);

	if (long_mode) {
		s.cr3 = X86_PML4_ADDR;
		s.cr4 |= CR4_PAE;
		s.cr0 |= CR0_PE | CR0_ET | CR0_PG;
		s.efer |= EFER_LME | EFER_LMA;
	} else {
		/* PVH: 32-bit protected mode, paging off. */
		s.cr0 = (s.cr0 | CR0_PE | CR0_ET) & ~CR0_PG;
		s.cr4 = 0;
		s.efer = 0;
	}
	return ioctl(fd, KVM_SET_SREGS, &s) < 0 ? -errno : 0;
}

static int set_boot_regs(int fd, const struct x86_boot *boot)
{
	struct kvm_regs r;

	memset(&r, 0, sizeof(r));
	r.rflags = 0x2;
	r.rip = boot->entry;
	r.rsp = X86_BOOT_STACK;
	r.rbp = X86_BOOT_STACK;
	if (boot->mode == X86_BOOT_BZIMAGE)
		r.rsi = boot->boot_info;
	else
		r.rbx = boot->boot_info;
	return ioctl(fd, KVM_SET_REGS, &r) < 0 ? -errno : 0;
}

int x86_cpu__setup(int vcpu_fd, unsigned int id, unsigned int ncpus,
		   const struct kvm_cpuid2 *cpuid, const struct x86_boot *boot,
		   struct pupa_err *err)
{
	int ret;

	ret = set_cpuid(vcpu_fd, id, ncpus, cpuid);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_VCPU_START, "vCPU %u: KVM_SET_CPUID2: %s", id,
				 strerror(-ret));
	ret = set_msrs(vcpu_fd);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_VCPU_START, "vCPU %u: KVM_SET_MSRS: %s", id,
				 strerror(-ret));
	ret = set_fpu(vcpu_fd);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_VCPU_START, "vCPU %u: KVM_SET_FPU: %s", id,
				 strerror(-ret));
	ret = set_lint(vcpu_fd);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_VCPU_START, "vCPU %u: local APIC: %s", id,
				 strerror(-ret));
	if (id != 0)
		return 0;	/* application processors wait for INIT/SIPI */
	ret = set_boot_sregs(vcpu_fd, boot);
	if (ret == 0)
		ret = set_boot_regs(vcpu_fd, boot);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_VCPU_START, "vCPU 0: boot registers: %s",
				 strerror(-ret));
	return 0;
}
