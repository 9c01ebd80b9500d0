/* SPDX-License-Identifier: MIT */
#include "state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC		0x10
#define XSAVE_LEGACY_SIZE	4096
#define MSR_LIST_MAX		1024
#define CPUID_MAX		256

/* The part of a vCPU that has a fixed size. */
struct x86_vcpu_fixed {
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
};

struct x86_vm_fixed {
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

#define KVM_FAIL(err, what) \
	guest_err(err, GUEST_ERR_INTERNAL, "snapshot: %s: %s", what, strerror(errno))

static int xsave_size(int kvm_fd)
{
	int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	return n > XSAVE_LEGACY_SIZE ? n : XSAVE_LEGACY_SIZE;
}

/*
 * The MSRs KVM says it saves (KVM_GET_MSR_INDEX_LIST) that this vCPU
 * can read: KVM_GET_MSRS stops at the first it cannot, which is then
 * dropped. The TSC goes first, so a restore sets it before the deadline.
 */
static int save_msrs(int kvm_fd, int vcpu_fd, unsigned int id, struct snap_writer *w,
		     struct pupa_err *err)
{
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + MSR_LIST_MAX * sizeof(uint32_t));
	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + (MSR_LIST_MAX + 1) * sizeof(struct kvm_msr_entry));
	unsigned int n = 0;
	int ret = 0;

	if (!list || !msrs) {
		ret = guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
		goto out;
	}
	list->nmsrs = MSR_LIST_MAX;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		ret = KVM_FAIL(err, "KVM_GET_MSR_INDEX_LIST");
		goto out;
	}
	msrs->entries[n++].index = MSR_IA32_TSC;
	for (unsigned int i = 0; i < list->nmsrs; i++)
		if (list->indices[i] != MSR_IA32_TSC)
			msrs->entries[n++].index = list->indices[i];
	for (;;) {
		int got;

		msrs->nmsrs = n;
		got = ioctl(vcpu_fd, KVM_GET_MSRS, msrs);
		if (got < 0) {
			ret = KVM_FAIL(err, "KVM_GET_MSRS");
			goto out;
		}
		if ((unsigned int)got == n)
			break;
		memmove(&msrs->entries[got], &msrs->entries[got + 1],
			(n - (unsigned int)got - 1) * sizeof(msrs->entries[0]));
		n--;
	}
	snap_writer__add(w, SNAP_TAG_VCPU_MSRS, id, msrs->entries, n * sizeof(msrs->entries[0]));
out:
	free(list);
	free(msrs);
	return ret;
}

static int save_cpuid(int vcpu_fd, unsigned int id, struct snap_writer *w, struct pupa_err *err)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CPUID_MAX * sizeof(c->entries[0]));
	int ret = 0;

	if (!c)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	c->nent = CPUID_MAX;
	if (ioctl(vcpu_fd, KVM_GET_CPUID2, c) < 0)
		ret = KVM_FAIL(err, "KVM_GET_CPUID2");
	else
		snap_writer__add(w, SNAP_TAG_VCPU_CPUID, id, c->entries,
				 c->nent * sizeof(c->entries[0]));
	free(c);
	return ret;
}

int x86_state__save_vcpu(int kvm_fd, int vcpu_fd, unsigned int id, struct snap_writer *w,
			 struct pupa_err *err)
{
	struct x86_vcpu_fixed s;
	int xs = xsave_size(kvm_fd), ret;
	void *xsave;

	memset(&s, 0, sizeof(s));
	if (ioctl(vcpu_fd, KVM_GET_MP_STATE, &s.mp) < 0)
		return KVM_FAIL(err, "KVM_GET_MP_STATE");
	if (ioctl(vcpu_fd, KVM_GET_REGS, &s.regs) < 0)
		return KVM_FAIL(err, "KVM_GET_REGS");
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &s.sregs) < 0)
		return KVM_FAIL(err, "KVM_GET_SREGS");
	if (ioctl(vcpu_fd, KVM_GET_XCRS, &s.xcrs) < 0)
		return KVM_FAIL(err, "KVM_GET_XCRS");
	if (ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &s.debugregs) < 0)
		return KVM_FAIL(err, "KVM_GET_DEBUGREGS");
	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &s.lapic) < 0)
		return KVM_FAIL(err, "KVM_GET_LAPIC");
	if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &s.events) < 0)
		return KVM_FAIL(err, "KVM_GET_VCPU_EVENTS");
	snap_writer__add(w, SNAP_TAG_VCPU, id, &s, sizeof(s));

	if (!(xsave = calloc(1, (size_t)xs)))
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	ret = ioctl(vcpu_fd, xs > XSAVE_LEGACY_SIZE ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xsave);
	if (ret < 0)
		ret = KVM_FAIL(err, "KVM_GET_XSAVE");
	else
		snap_writer__add(w, SNAP_TAG_VCPU_XSAVE, id, xsave, (uint32_t)xs);
	free(xsave);
	if (ret < 0)
		return ret;
	if ((ret = save_msrs(kvm_fd, vcpu_fd, id, w, err)) < 0)
		return ret;
	return save_cpuid(vcpu_fd, id, w, err);
}

/* A record of exactly len bytes (min_len..max_len for variable ones). */
static const void *need(const struct snap_reader *r, uint32_t tag, unsigned int id,
			uint32_t min_len, uint32_t max_len, uint32_t *len, const char *what,
			struct pupa_err *err)
{
	uint32_t l = 0;
	const void *p = snap_reader__get(r, tag, id, &l);

	if (!p || l < min_len || l > max_len) {
		guest_err(err, GUEST_ERR_BAD_CONFIG, "snapshot %s: %s of vCPU %u missing or of %u bytes",
			  r->name, what, id, l);
		return NULL;
	}
	if (len)
		*len = l;
	return p;
}

/*
 * The bits KVM keeps in step with the guest's own state (the OSXSAVE and
 * OSPKE flags follow CR4, the APIC flag the APIC base MSR, leaf 0xD's
 * sizes XCR0 and XSS): a running guest's differ from a fresh vCPU's, and
 * are set right again by the registers a restore puts back.
 */
static void cpuid_runtime_bits_clear(struct kvm_cpuid_entry2 *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (e[i].function == 1) {
			e[i].ecx &= ~(1u << 27);	/* OSXSAVE */
			e[i].edx &= ~(1u << 9);		/* APIC */
		} else if (e[i].function == 7 && e[i].index == 0) {
			e[i].ecx &= ~(1u << 4);		/* OSPKE */
		} else if (e[i].function == 0xd && e[i].index <= 1) {
			e[i].ebx = 0;			/* XSAVE area sizes */
		}
	}
}

/* The CPUID this vCPU got from this host must be the one saved, but for
 * the bits that follow the guest's state. */
static int check_cpuid(int vcpu_fd, unsigned int id, const struct snap_reader *r,
		       struct pupa_err *err)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CPUID_MAX * sizeof(c->entries[0]));
	const size_t entry = sizeof(c->entries[0]);
	const void *saved;
	uint32_t len;
	int ret = 0;

	if (!c)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	c->nent = CPUID_MAX;
	saved = need(r, SNAP_TAG_VCPU_CPUID, id, 0, CPUID_MAX * entry, &len, "CPUID", err);
	if (!saved)
		ret = -GUEST_ERR_BAD_CONFIG;
	else if (ioctl(vcpu_fd, KVM_GET_CPUID2, c) < 0)
		ret = KVM_FAIL(err, "KVM_GET_CPUID2");
	else if (len != c->nent * entry)
		ret = guest_err(err, GUEST_ERR_BAD_CONFIG,
				"snapshot %s: made on another CPU or KVM (vCPU %u's CPUID differs)",
				r->name, id);
	if (!ret) {
		struct kvm_cpuid_entry2 *was = malloc(len ? len : 1);

		if (!was) {
			free(c);
			return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
		}
		memcpy(was, saved, len);
		cpuid_runtime_bits_clear(was, c->nent);
		cpuid_runtime_bits_clear(c->entries, c->nent);
		if (memcmp(was, c->entries, len) != 0)
			ret = guest_err(err, GUEST_ERR_BAD_CONFIG,
					"snapshot %s: made on another CPU or KVM (vCPU %u's CPUID differs)",
					r->name, id);
		free(was);
	}
	free(c);
	return ret;
}

static int restore_msrs(int vcpu_fd, unsigned int id, const struct snap_reader *r,
			struct pupa_err *err)
{
	const size_t entry = sizeof(struct kvm_msr_entry);
	struct kvm_msrs *msrs;
	const void *saved;
	uint32_t len;
	int got;

	saved = need(r, SNAP_TAG_VCPU_MSRS, id, 0, (MSR_LIST_MAX + 1) * entry, &len, "MSRs", err);
	if (!saved)
		return -GUEST_ERR_BAD_CONFIG;
	if (len % entry)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "snapshot %s: MSRs of vCPU %u are torn",
				 r->name, id);
	if (!(msrs = calloc(1, sizeof(*msrs) + len)))
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	msrs->nmsrs = len / entry;
	memcpy(msrs->entries, saved, len);
	got = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
	if (got >= 0 && (uint32_t)got < msrs->nmsrs)
		guest_err(err, GUEST_ERR_BAD_CONFIG, "snapshot %s: vCPU %u: KVM refuses MSR %#x",
			  r->name, id, msrs->entries[got].index);
	else if (got < 0)
		KVM_FAIL(err, "KVM_SET_MSRS");
	free(msrs);
	return got >= 0 && (uint32_t)got == len / entry ? 0 : -GUEST_ERR_BAD_CONFIG;
}

int x86_state__restore_vcpu(int vcpu_fd, unsigned int id, const struct snap_reader *r,
			    struct pupa_err *err)
{
	const struct x86_vcpu_fixed *saved;
	struct x86_vcpu_fixed s;
	const void *xsave;
	int ret;

	if ((ret = check_cpuid(vcpu_fd, id, r, err)) < 0)
		return ret;
	saved = need(r, SNAP_TAG_VCPU, id, sizeof(s), sizeof(s), NULL, "registers", err);
	xsave = need(r, SNAP_TAG_VCPU_XSAVE, id, XSAVE_LEGACY_SIZE, 1u << 20, NULL, "xsave", err);
	if (!saved || !xsave)
		return -GUEST_ERR_BAD_CONFIG;
	memcpy(&s, saved, sizeof(s));
	/* What KVM_GET_VCPU_EVENTS does not flag but has filled in. */
	s.events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	if (ioctl(vcpu_fd, KVM_SET_MP_STATE, &s.mp) < 0)
		return KVM_FAIL(err, "KVM_SET_MP_STATE");
	if (ioctl(vcpu_fd, KVM_SET_REGS, &s.regs) < 0)
		return KVM_FAIL(err, "KVM_SET_REGS");
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &s.sregs) < 0)
		return KVM_FAIL(err, "KVM_SET_SREGS");
	if (ioctl(vcpu_fd, KVM_SET_XSAVE, xsave) < 0)
		return KVM_FAIL(err, "KVM_SET_XSAVE");
	if (ioctl(vcpu_fd, KVM_SET_XCRS, &s.xcrs) < 0)
		return KVM_FAIL(err, "KVM_SET_XCRS");
	if (ioctl(vcpu_fd, KVM_SET_DEBUGREGS, &s.debugregs) < 0)
		return KVM_FAIL(err, "KVM_SET_DEBUGREGS");
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &s.lapic) < 0)
		return KVM_FAIL(err, "KVM_SET_LAPIC");
	if ((ret = restore_msrs(vcpu_fd, id, r, err)) < 0)
		return ret;
	if (ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &s.events) < 0)
		return KVM_FAIL(err, "KVM_SET_VCPU_EVENTS");
	/* Tell a kvmclock guest it was stopped, so its watchdogs do not bark;
	 * EINVAL when it never enabled kvmclock. */
	ioctl(vcpu_fd, KVM_KVMCLOCK_CTRL, 0);
	return 0;
}

int x86_state__save_vm(int vm_fd, struct snap_writer *w, struct pupa_err *err)
{
	struct x86_vm_fixed s;

	memset(&s, 0, sizeof(s));
	s.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s.pic_master) < 0 ||
	    ioctl(vm_fd, KVM_GET_IRQCHIP, &s.pic_slave) < 0 ||
	    ioctl(vm_fd, KVM_GET_IRQCHIP, &s.ioapic) < 0)
		return KVM_FAIL(err, "KVM_GET_IRQCHIP");
	if (ioctl(vm_fd, KVM_GET_PIT2, &s.pit) < 0)
		return KVM_FAIL(err, "KVM_GET_PIT2");
	if (ioctl(vm_fd, KVM_GET_CLOCK, &s.clock) < 0)
		return KVM_FAIL(err, "KVM_GET_CLOCK");
	snap_writer__add(w, SNAP_TAG_VM, 0, &s, sizeof(s));
	return 0;
}

int x86_state__restore_vm(int vm_fd, const struct snap_reader *r, struct pupa_err *err)
{
	struct x86_vm_fixed s;
	const void *saved;
	uint32_t len = 0;

	saved = snap_reader__get(r, SNAP_TAG_VM, 0, &len);
	if (!saved || len != sizeof(s))
		return guest_err(err, GUEST_ERR_BAD_CONFIG,
				 "snapshot %s: the VM's interrupt controllers and clock are missing", r->name);
	memcpy(&s, saved, sizeof(s));
	/* The guest's clock goes on from the moment of the snapshot: its
	 * uptime does not count the time the file sat in the cache. */
	s.clock.flags = 0;
	if (ioctl(vm_fd, KVM_SET_PIT2, &s.pit) < 0)
		return KVM_FAIL(err, "KVM_SET_PIT2");
	if (ioctl(vm_fd, KVM_SET_CLOCK, &s.clock) < 0)
		return KVM_FAIL(err, "KVM_SET_CLOCK");
	if (ioctl(vm_fd, KVM_SET_IRQCHIP, &s.pic_master) < 0 ||
	    ioctl(vm_fd, KVM_SET_IRQCHIP, &s.pic_slave) < 0 ||
	    ioctl(vm_fd, KVM_SET_IRQCHIP, &s.ioapic) < 0)
		return KVM_FAIL(err, "KVM_SET_IRQCHIP");
	return 0;
}
