#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "vm_fdt.h"
#include "x86/cpu.h"
#include "x86/layout.h"
#include "x86/mptable.h"

#define KVM_API_VERSION_EXPECTED 12

static int open_control(struct vm *vm, struct pupa_err *err);

void vm__request_stop(struct vm *vm, int code, const char *fmt, ...)
{
	uint64_t one = 1;
	va_list ap;

	pthread_mutex_lock(&vm->stop_lock);
	if (!atomic_load(&vm->stopping)) {
		vm->stop_err.type = PUPA_GUEST_ERROR;
		vm->stop_err.code = (uint32_t)code;
		va_start(ap, fmt);
		vsnprintf(vm->stop_err.msg, sizeof(vm->stop_err.msg), fmt, ap);
		va_end(ap);
		atomic_store(&vm->stopping, 1);
		if (write(vm->stop_fd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow from one write; nothing to do */
		}
	}
	pthread_mutex_unlock(&vm->stop_lock);
}

static int open_kvm(struct vm *vm, struct pupa_err *err)
{
	int version;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		if (errno == ENOENT)
			return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
					 "/dev/kvm does not exist: this host offers no KVM. Enable "
					 "virtualization in the firmware and load kvm_intel or kvm_amd, "
					 "or run inside the KVM test host (tests/testhost/run)");
		if (errno == EACCES || errno == EPERM)
			return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
					 "no permission to open /dev/kvm: add this user to the kvm group "
					 "(usermod -aG kvm USER, then log in again)");
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION, "/dev/kvm: %s", strerror(errno));
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION_EXPECTED)
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
				 "/dev/kvm speaks API version %d, pupa-vmm needs %d", version,
				 KVM_API_VERSION_EXPECTED);
	return 0;
}

static int require_caps(struct vm *vm, struct pupa_err *err)
{
	static const struct { int cap; const char *name; } caps[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	};

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0)
			return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
					 "this KVM lacks %s, which pupa-vmm needs", caps[i].name);
	return 0;
}

static int create_machine(struct vm *vm, struct pupa_err *err)
{
	struct kvm_pit_config pit = { .flags = 0 };
	uint64_t identity = X86_IDENTITY_MAP_ADDR;

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION, "KVM_CREATE_VM: %s",
				 strerror(errno));
	fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC);
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)X86_TSS_ADDR) < 0)
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION, "KVM_SET_TSS_ADDR: %s",
				 strerror(errno));
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
				 "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION, "KVM_CREATE_IRQCHIP: %s",
				 strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION, "KVM_CREATE_PIT2: %s",
				 strerror(errno));
	return 0;
}

static int setup_memory(struct vm *vm, struct pupa_err *err)
{
	uint64_t bytes = vm->cfg->memory_mib << 20;
	int ret;

	ret = x86_layout__ram(&vm->mem, bytes);
	if (ret == -EEXIST)
		return guest_err(err, GUEST_ERR_DEVICE_MEMORY_OVERLAP,
				 "guest RAM regions overlap each other");
	if (ret < 0)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "--memory %llu: cannot lay out guest RAM",
				 (unsigned long long)vm->cfg->memory_mib);
	ret = guest_mem__map(&vm->mem);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
				 "cannot allocate %llu MiB of guest memory: %s; lower --memory",
				 (unsigned long long)vm->cfg->memory_mib, strerror(-ret));
	return 0;
}

static int register_memory(struct vm *vm, struct pupa_err *err)
{
	for (unsigned int i = 0; i < vm->mem.nr; i++) {
		const struct mem_region *r = &vm->mem.regions[i];
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
					 "KVM_SET_USER_MEMORY_REGION %#llx+%llu MiB: %s",
					 (unsigned long long)r->gpa,
					 (unsigned long long)r->size >> 20, strerror(errno));
	}
	return 0;
}

static void irq_line(void *ctx, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = UART_IRQ_COM1, .level = (uint32_t)level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

/* Where the UART and the virtio console both write: the --serial sink. */
static void console_sink(void *ctx, const void *buf, size_t len)
{
	console__write(ctx, buf, len);
}

static void kbc_reset(void *ctx)
{
	vm__request_stop(ctx, 0, "guest reset the machine (i8042)");
}

static int add_pio(struct vm *vm, uint64_t base, uint64_t len, io_fn fn, void *dev,
		   const char *name, struct pupa_err *err)
{
	const struct io_range *other = io_bus__find_overlap(&vm->pio, base, len);

	if (other)
		return guest_err(err, GUEST_ERR_DEVICE_MEMORY_OVERLAP,
				 "%s ports %#llx-%#llx overlap %s", name, (unsigned long long)base,
				 (unsigned long long)(base + len - 1), other->name);
	if (io_bus__register(&vm->pio, base, len, fn, dev, name) < 0)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION, "%s: cannot register ports",
				 name);
	return 0;
}

static void mmio_ignore(void *dev, uint64_t offset, uint8_t *data, uint32_t len, int is_write)
{
	if (!is_write)
		memset(data, 0xff, len);
}

/*
 * An MMIO range must stay clear of RAM and of every other range. The
 * in-kernel IOAPIC and LAPIC are registered the same way so that no
 * device can be placed over them.
 */
static int add_mmio(struct vm *vm, uint64_t base, uint64_t len, io_fn fn, void *dev,
		    const char *name, struct pupa_err *err)
{
	const struct io_range *other = io_bus__find_overlap(&vm->mmio, base, len);

	if (guest_mem__overlaps(&vm->mem, base, len))
		return guest_err(err, GUEST_ERR_DEVICE_MEMORY_OVERLAP,
				 "%s at %#llx-%#llx overlaps guest RAM", name,
				 (unsigned long long)base, (unsigned long long)(base + len - 1));
	if (other)
		return guest_err(err, GUEST_ERR_DEVICE_MEMORY_OVERLAP,
				 "%s at %#llx-%#llx overlaps %s", name, (unsigned long long)base,
				 (unsigned long long)(base + len - 1), other->name);
	if (io_bus__register(&vm->mmio, base, len, fn, dev, name) < 0)
		return guest_err(err, GUEST_ERR_DEVICE_INITIALIZATION, "%s: cannot register", name);
	return 0;
}

static int open_console(struct vm *vm, struct pupa_err *err)
{
	int ret = console__open(&vm->con, vm->cfg->serial, err);

	if (ret == 0)
		vm->con_open = 1;
	return ret;
}

static int setup_devices(struct vm *vm, struct pupa_err *err)
{
	int ret;

	uart8250__init(&vm->uart, console_sink, &vm->con, irq_line, vm);
	i8042__init(&vm->kbc, kbc_reset, vm);
	cmos__init(&vm->cmos);
	vm->devices_up = 1;

	ret = add_pio(vm, UART_PORT_COM1, UART_NR_PORTS, uart8250__io, &vm->uart, "COM1", err);
	if (!ret)
		ret = add_pio(vm, I8042_DATA_PORT, 1, i8042__io_data, &vm->kbc, "i8042", err);
	if (!ret)
		ret = add_pio(vm, I8042_COMMAND_PORT, 1, i8042__io_command, &vm->kbc, "i8042", err);
	if (!ret)
		ret = add_pio(vm, CMOS_PORT, CMOS_NR_PORTS, cmos__io, &vm->cmos, "CMOS RTC", err);
	return ret;
}

static int setup_reserved_mmio(struct vm *vm, struct pupa_err *err)
{
	int ret = add_mmio(vm, X86_IOAPIC_ADDR, 0x1000, mmio_ignore, NULL, "IOAPIC", err);

	if (!ret)
		ret = add_mmio(vm, X86_LAPIC_ADDR, 0x1000, mmio_ignore, NULL, "local APIC", err);
	return ret;
}

/*
 * Edge-triggered, as the MP table declares ISA interrupts: one pulse each.
 * Through the device's irqfd that is one write, which KVM turns into the
 * pulse itself; the two KVM_IRQ_LINE ioctls are the way without one.
 */
static void mmio_irq_pulse(void *ctx, uint32_t irq)
{
	struct vm *vm = ctx;
	struct kvm_irq_level hi = { .irq = irq, .level = 1 }, lo = { .irq = irq, .level = 0 };
	uint32_t i = irq - VM_VIRTIO_IRQ_BASE;
	const uint64_t one = 1;

	if (i < VM_MAX_VIRTIO && vm->irqfd[i] >= 0 && write(vm->irqfd[i], &one, sizeof(one)) == sizeof(one))
		return;
	ioctl(vm->vm_fd, KVM_IRQ_LINE, &hi);
	ioctl(vm->vm_fd, KVM_IRQ_LINE, &lo);
}

/* The line's irqfd, where KVM takes one; without, pulses use ioctls. */
static void setup_irqfd(struct vm *vm, unsigned int i, uint32_t irq)
{
	struct kvm_irqfd f = { .gsi = irq };
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		return;
	f.fd = (uint32_t)fd;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &f) < 0) {
		close(fd);
		return;
	}
	vm->irqfd[i] = fd;
}

/* Place a virtio device: next MMIO window, next IRQ, on the bus. */
static int add_virtio(struct vm *vm, struct virtio_dev *vdev, struct pupa_err *err)
{
	unsigned int i = vm->nr_mmio;
	uint64_t base = X86_VIRTIO_MMIO_BASE + (uint64_t)i * VIRTIO_MMIO_SIZE;
	uint32_t irq = VM_VIRTIO_IRQ_BASE + i;
	struct virtio_mmio *m = &vm->mmio_dev[i];
	char *name;
	int ret;

	if (i == VM_MAX_VIRTIO || irq >= MPTABLE_IRQS)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "too many devices");
	setup_irqfd(vm, i, irq);
	virtio_mmio__init(m, vdev, base, irq, mmio_irq_pulse, vm);
	name = vdev->ops == &virtio_blk_ops ? ((struct virtio_blk *)vdev->priv)->serial :
	       (char *)vdev->ops->name;
	ret = add_mmio(vm, base, VIRTIO_MMIO_SIZE, virtio_mmio__io, m, name, err);
	if (ret < 0)
		return ret;
	vm->nr_mmio++;
	return 0;
}

/* virtio-net on libslirp; the published ports listen from here on. */
static int setup_net(struct vm *vm, struct pupa_err *err)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	const struct net_slirp_config ncfg = {
		.allow_host_loopback = vm->cfg->allow_host_loopback,
		.publish = vm->cfg->publish,
		.nr_publish = vm->cfg->nr_publish,
	};
	int ret;

	vm->net = calloc(1, sizeof(*vm->net));
	if (!vm->net)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	ret = virtio_net__init(vm->net, mac, &vm->mem, &vm->loop, NULL, NULL, err);
	if (!ret)
		ret = net_slirp__new(&vm->slirp, &ncfg, vm->net, &vm->loop, err);
	if (ret < 0)
		return ret;
	vm->net->tx = net_slirp__input;
	vm->net->tx_ctx = vm->slirp;
	return add_virtio(vm, &vm->net->vdev, err);
}

/* virtio-fs and its volumes, each folder opened now, before confinement. */
static int setup_fs(struct vm *vm, struct pupa_err *err)
{
	const struct vmm_config *cfg = vm->cfg;
	struct rlimit nofile;
	int ret;

	/* A node the guest looked up holds a descriptor: as many as allowed. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	vm->fs = calloc(1, sizeof(*vm->fs));
	if (!vm->fs)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	ret = virtio_fs__init(vm->fs, cfg->fs_tag, &vm->mem, err);
	vm->fs->srv.owner_host = cfg->fs_owner_host;
	if (ret == 0 && getrlimit(RLIMIT_NOFILE, &nofile) == 0)
		fuse_server__limit_fds(&vm->fs->srv, nofile.rlim_cur);
	for (unsigned int i = 0; ret == 0 && i < cfg->nr_volumes; i++)
		ret = fuse_server__add_volume(&vm->fs->srv, cfg->volumes[i], cfg->volume_ro[i], err);
	return ret < 0 ? ret : add_virtio(vm, &vm->fs->vdev, err);
}

/* Queue notifications that KVM turns into eventfd signals (ioeventfd):
 * the guest's write to QueueNotify then never leaves the kernel. */
static void setup_notify_fds(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_mmio; i++) {
		struct virtio_dev *v = vm->mmio_dev[i].vdev;

		for (unsigned int q = 0; v->ops->notify_fd && q < v->ops->nr_queues; q++) {
			struct kvm_ioeventfd io = {
				.datamatch = q, .addr = vm->mmio_dev[i].base + VIRTIO_MMIO_QUEUE_NOTIFY,
				.len = 4, .fd = v->ops->notify_fd(v, q), .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
			};

			/* Without it the notification exits to pupa-vmm, whose
			 * register path does the same: slower, not wrong. */
			if (io.fd >= 0 && ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
				fprintf(stderr, "pupa-vmm: virtio-%s: KVM_IOEVENTFD for queue %u: %s; "
					"its notifications take the slower way\n", v->ops->name, q,
					strerror(errno));
		}
	}
}

static int setup_virtio(struct vm *vm, struct pupa_err *err)
{
	const struct vmm_config *cfg = vm->cfg;
	size_t len;
	char *p;
	int ret;

	virtio_console__init(&vm->vcon, &vm->mem, console_sink, &vm->con);
	vm->vcon_up = 1;
	ret = add_virtio(vm, &vm->vcon.vdev, err);
	for (unsigned int i = 0; !ret && i < cfg->nr_disks; i++) {
		const struct vmm_disk *d = &cfg->disks[i];
		struct virtio_blk *blk = calloc(1, sizeof(*blk));

		if (!blk)
			return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
		virtio_blk__init(blk, d->serial, &vm->mem);
		vm->blk[vm->nr_blk++] = blk;
		if (d->path)
			ret = virtio_blk__attach(blk, d->path, d->mode, err);
		else {
			blk->mode = d->mode;	/* what an empty slot offers (config.c) */
			/* Confined later, the VMM could not make it then; a failure
			 * here shows when a volatile medium is attached. */
			virtio_blk__reserve_overlay(blk);
		}
		if (!ret)
			ret = add_virtio(vm, &blk->vdev, err);
	}
	if (!ret && cfg->vsock_cid) {
		vm->vsock = calloc(1, sizeof(*vm->vsock));
		if (!vm->vsock)
			return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
		ret = virtio_vsock__init(vm->vsock, cfg->vsock_cid, cfg->vsock_uds, &vm->mem, &vm->loop,
					 err);
		if (!ret)
			ret = add_virtio(vm, &vm->vsock->vdev, err);
	}
	if (!ret && cfg->net)
		ret = setup_net(vm, err);
	if (!ret && cfg->fs_tag)
		ret = setup_fs(vm, err);
	if (ret < 0)
		return ret;

	/* The kernel learns about virtio-mmio devices from its command line. */
	len = strlen(cfg->full_cmdline) + 1 + vm->nr_mmio * 48;
	vm->cmdline = p = malloc(len);
	if (!p)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	p += sprintf(p, "%s", cfg->full_cmdline);
	for (unsigned int i = 0; i < vm->nr_mmio; i++)
		p += sprintf(p, " virtio_mmio.device=4K@%#llx:%u",
			     (unsigned long long)vm->mmio_dev[i].base, vm->mmio_dev[i].irq);
	return 0;
}

static int load_guest(struct vm *vm, struct pupa_err *err)
{
	const struct vmm_config *cfg = vm->cfg;
	struct vm_fdt_device devs[VM_MAX_VIRTIO];
	struct vm_fdt_spec fspec = {
		.mem = &vm->mem, .ncpus = cfg->cpus, .cmdline = vm->cmdline,
		.props = cfg->props, .nr_props = cfg->nr_props,
		.devices = devs, .nr_devices = vm->nr_mmio,
	};
	struct x86_boot_spec bspec = {
		.kernel = cfg->kernel, .initrd = cfg->initrd, .cmdline = vm->cmdline,
	};
	uint8_t *mpt;
	void *fdt;
	int len, ret;

	for (unsigned int i = 0; i < vm->nr_mmio; i++)
		devs[i] = (struct vm_fdt_device){ vm->mmio_dev[i].base, VIRTIO_MMIO_SIZE,
						  vm->mmio_dev[i].irq };
	fdt = malloc(VM_FDT_MAX_SIZE);
	if (!fdt)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	len = vm_fdt__build(fdt, VM_FDT_MAX_SIZE, &fspec);
	if (len < 0) {
		free(fdt);
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
				 "cannot build the boot device tree: %s", strerror(-len));
	}
	bspec.fdt = fdt;
	bspec.fdt_len = (size_t)len;
	ret = x86_boot__load(&vm->mem, &bspec, &vm->boot, err);
	free(fdt);
	if (ret < 0)
		return ret;

	mpt = guest_mem__ptr(&vm->mem, X86_MPTABLE_ADDR, X86_EBDA_END - X86_MPTABLE_ADDR);
	if (!mpt || mptable__write(mpt, X86_EBDA_END - X86_MPTABLE_ADDR, X86_MPTABLE_ADDR,
				   cfg->cpus) < 0)
		return guest_err(err, GUEST_ERR_GUEST_INITIALIZATION,
				 "cannot write the MP table for %u vCPUs", cfg->cpus);
	return 0;
}

static int create_vcpus(struct vm *vm, struct pupa_err *err)
{
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);

	if (max <= 0)
		max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && vm->cfg->cpus > (unsigned int)max)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "--cpus %u: this KVM allows at most %d",
				 vm->cfg->cpus, max);
	vm->vcpus = calloc(vm->cfg->cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	for (unsigned int i = 0; i < vm->cfg->cpus; i++) {
		int ret;

		vm->ncpus++;	/* counted first, so a half-made vCPU is still torn down */
		ret = vcpu__create(vm, &vm->vcpus[i], i, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int vm__create(struct vm *vm, const struct vmm_config *cfg, struct pupa_err *err)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->loop.epfd = -1;
	vm->timer_h.fd = -1;
	vm->status = GUEST_STATUS_NOT_STARTED;
	vm->kvm_fd = vm->vm_fd = -1;
	for (unsigned int i = 0; i < VM_MAX_VIRTIO; i++)
		vm->irqfd[i] = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_fd < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "eventfd: %s", strerror(errno));

	/* The guest is laid out and loaded before KVM is touched, so a bad
	 * kernel or initrd is reported as such even on a host without KVM. */
	ret = open_control(vm, err);
	if (!ret)
		ret = setup_memory(vm, err);
	if (!ret)
		ret = setup_reserved_mmio(vm, err);
	if (!ret)
		ret = setup_virtio(vm, err);
	if (!ret && !cfg->restore)
		ret = load_guest(vm, err);
	/* A BadConfig from the snapshot's own steps is a refused snapshot
	 * (pupa then boots instead); one from any other step is not. */
	if (!ret && cfg->restore) {
		ret = vm__open_snapshot(vm, err);
		vm->snapshot_refused = ret == -GUEST_ERR_BAD_CONFIG;
	}
	if (!ret)
		ret = open_console(vm, err);
	if (!ret)
		ret = open_kvm(vm, err);
	if (!ret)
		ret = require_caps(vm, err);
	if (!ret)
		ret = create_machine(vm, err);
	if (!ret)
		ret = register_memory(vm, err);
	if (!ret)
		ret = setup_devices(vm, err);
	if (!ret)
		setup_notify_fds(vm);
	if (!ret)
		ret = create_vcpus(vm, err);
	if (!ret && cfg->restore) {
		ret = vm__restore(vm, err);
		vm->snapshot_refused = ret == -GUEST_ERR_BAD_CONFIG;
	}
	return ret;
}

static void stop_vcpus(struct vm *vm)
{
	vcpu__resume_all(vm);	/* a parked vCPU sees the stop */
	for (unsigned int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].started)
			vcpu__kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i].started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].started = 0;
		}
	}
}

/*
 * Terminal input goes to the virtio console once its driver is up, to the
 * UART before that. Input waits in the terminal while the guest is slow.
 */
static void on_input(struct ev_handler *h, uint32_t events)
{
	struct vm *vm = h->ctx;
	char buf[UART_FIFO_SIZE];
	int to_vcon = virtio_console__ready(&vm->vcon);
	size_t room = to_vcon ? sizeof(buf) : uart8250__rx_room(&vm->uart);
	ssize_t n;
	int quit;

	if (room == 0)
		return;
	n = read(h->fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n <= 0) {
		ev_loop__del(&vm->loop, h);	/* EOF or error: stop reading, keep running */
		vm->con.in_fd = -1;
		return;
	}
	n = (ssize_t)console__filter_input(&vm->con, buf, (size_t)n, &quit);
	if (quit) {
		vm__request_stop(vm, GUEST_ERR_CONTROLLER_FORCED_HALT, "stopped from the console (Ctrl-A x)");
		return;
	}
	if (to_vcon)
		virtio_console__receive(&vm->vcon, buf, (size_t)n);
	else
		uart8250__receive(&vm->uart, buf, (size_t)n);
}

static void on_signal(struct ev_handler *h, uint32_t events)
{
	struct vm *vm = h->ctx;
	struct signalfd_siginfo si;

	if (read(h->fd, &si, sizeof(si)) == sizeof(si))
		vm__request_stop(vm, GUEST_ERR_CONTROLLER_FORCED_HALT, "stopped by signal %s",
				 strsignal((int)si.ssi_signo));
}

static void on_stop(struct ev_handler *h, uint32_t events)
{
	uint64_t v;

	if (read(h->fd, &v, sizeof(v)) < 0) {
		/* already drained; the flag is what counts */
	}
}

static void set_status(struct vm *vm, enum guest_status status)
{
	if (vm->status == status)
		return;
	vm->status = status;
	control__status_changed(vm->ctl, status);
}

static enum guest_status ctl_status(void *ctx)
{
	return ((struct vm *)ctx)->status;
}

static int ctl_attach(void *ctx, const char *slot, const char *path, int fd,
		      enum block_mode mode, struct pupa_err *err)
{
	struct vm *vm = ctx;

	for (unsigned int i = 0; i < vm->nr_blk; i++)
		if (strcmp(vm->blk[i]->serial, slot) == 0)
			return fd >= 0 ? virtio_blk__attach_fd(vm->blk[i], fd, path, mode, err) :
					 virtio_blk__attach(vm->blk[i], path, mode, err);
	if (fd >= 0)
		close(fd);
	return pupa_err_set(err, PUPA_GUEST_ERROR, GUEST_ERR_DEVICE_NOT_PRESENT,
			    "no disk slot named '%s'", slot);
}

static void on_stop_timeout(struct ev_handler *h, uint32_t events)
{
	uint64_t n;

	if (read(h->fd, &n, sizeof(n)) == sizeof(n))
		vm__request_stop(h->ctx, GUEST_ERR_CONTROLLER_FORCED_HALT,
				 "the guest did not stop in time; forced over the control socket");
}

/* Give the guest timeout_ms to end by itself (its agent has been told), then force it. */
static void ctl_stop(void *ctx, unsigned int timeout_ms)
{
	struct vm *vm = ctx;
	struct itimerspec its = { .it_value = { .tv_sec = timeout_ms / 1000,
						.tv_nsec = (long)(timeout_ms % 1000) * 1000000 } };

	if (timeout_ms == 0 || vm->timer_h.fd < 0) {
		vm__request_stop(vm, GUEST_ERR_CONTROLLER_FORCED_HALT, "stopped over the control socket");
		return;
	}
	set_status(vm, GUEST_STATUS_STOPPING);
	timerfd_settime(vm->timer_h.fd, 0, &its, NULL);
}

#ifdef PUPA_TEST_HOOKS
/* Test builds only: prove the filters bite, on either thread class. */
static int ctl_test_syscall(void *ctx, const char *thread)
{
	struct vm *vm = ctx;

	if (strcmp(thread, "vcpu") == 0) {
		atomic_store(&vm->test_forbidden, 1);
		vcpu__kick(&vm->vcpus[0]);
		return 0;
	}
	if (strcmp(thread, "main") == 0)
		return (int)syscall(SYS_getppid) < 0 ? -errno : 0;
	return -EINVAL;
}
#endif

static int ctl_network(void *ctx, struct control_net *out)
{
	struct vm *vm = ctx;
	struct net_stats st;

	if (!vm->net)
		return 0;
	virtio_net__stats(vm->net, &st);
	*out = (struct control_net){
		.backend = "slirp", .allow_host_loopback = vm->cfg->allow_host_loopback,
		.publish = vm->cfg->publish, .nr_publish = vm->cfg->nr_publish,
		.rx_frames = st.rx_frames, .rx_dropped = st.rx_dropped,
		.tx_frames = st.tx_frames, .tx_dropped = st.tx_dropped,
	};
	return 1;
}

static int ctl_fs(void *ctx, struct control_fs *out)
{
	struct vm *vm = ctx;
	struct fs_stats st;

	if (!vm->fs)
		return 0;
	virtio_fs__stats(vm->fs, &st);
	*out = (struct control_fs){
		.tag = vm->cfg->fs_tag, .volumes = vm->cfg->volumes, .ro = vm->cfg->volume_ro,
		.nr_volumes = vm->cfg->nr_volumes, .requests = st.requests, .nodes = st.nodes,
		.open_fds = st.open_fds, .fd_budget = st.fd_budget, .evictions = st.evictions,
		.reopens = st.reopens, .reads = st.io.reads, .read_bytes = st.io.read_bytes,
		.writes = st.io.writes, .write_bytes = st.io.write_bytes,
	};
	return 1;
}

static uint64_t ctl_restore_us(void *ctx)
{
	return ((struct vm *)ctx)->restore_us;
}

static int ctl_snapshot(void *ctx, int fd, struct control_snapshot *out, struct pupa_err *err)
{
	return vm__snapshot(ctx, fd, out, err);
}

static const struct control_ops vm_control_ops = {
	.status = ctl_status,
	.network = ctl_network,
	.fs = ctl_fs,
	.snapshot = ctl_snapshot,
	.restore_us = ctl_restore_us,
	.attach = ctl_attach,
	.stop = ctl_stop,
#ifdef PUPA_TEST_HOOKS
	.test_syscall = ctl_test_syscall,
#endif
};

static int open_control(struct vm *vm, struct pupa_err *err)
{
	int ret = ev_loop__init(&vm->loop);

	if (ret < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "epoll: %s", strerror(-ret));
	vm->timer_h = (struct ev_handler){ .fn = on_stop_timeout, .ctx = vm };
	vm->timer_h.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (vm->timer_h.fd >= 0)
		ev_loop__add(&vm->loop, &vm->timer_h, EPOLLIN);
	if (!vm->cfg->control)
		return 0;
	return control__open(&vm->ctl, vm->cfg->control, &vm->loop, &vm_control_ops, vm, err);
}

static int setup_loop(struct vm *vm, int sig_fd, struct pupa_err *err)
{
	int ret = 0;

	vm->stop_h = (struct ev_handler){ .fd = vm->stop_fd, .fn = on_stop, .ctx = vm };
	vm->sig_h = (struct ev_handler){ .fd = sig_fd, .fn = on_signal, .ctx = vm };
	ret = ev_loop__add(&vm->loop, &vm->stop_h, EPOLLIN);
	if (!ret)
		ret = ev_loop__add(&vm->loop, &vm->sig_h, EPOLLIN);
	if (!ret && vm->con.in_fd >= 0) {
		vm->input_h = (struct ev_handler){ .fd = vm->con.in_fd, .fn = on_input, .ctx = vm };
		ret = ev_loop__add(&vm->loop, &vm->input_h, EPOLLIN);
	}
	if (ret < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "epoll: %s", strerror(-ret));
	return 0;
}

#define IRQ_STALE_MS 100

/* Re-pulse interrupts the guest left unacknowledged; any still pending? */
static int repulse_irqs(struct vm *vm)
{
	int pending = 0;

	for (unsigned int i = 0; i < vm->nr_mmio; i++)
		pending |= virtio_mmio__repulse(&vm->mmio_dev[i], IRQ_STALE_MS);
	return pending;
}

static void main_loop(struct vm *vm)
{
	while (!atomic_load(&vm->stopping)) {
		/* A full UART FIFO leaves input unread; look again soon. Otherwise
		 * wake often enough to repeat an interrupt the guest missed. */
		int timeout = vm->con.in_fd >= 0 ? 50 : IRQ_STALE_MS;

		repulse_irqs(vm);
		if (ev_loop__run_once(&vm->loop, timeout) < 0)
			break;
		control__reap(vm->ctl);
		if (vm->vsock)
			virtio_vsock__reap(vm->vsock);
	}
}

/* A socket's folder, for Landlock: "." for a bare name. */
static const char *socket_dir(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return ".";
	snprintf(buf, len, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	return buf;
}

/* Landlock (inherited by the vCPU threads started next), the process
 * limits, and the seccomp filters built for each thread to load. */
static int confine(struct vm *vm, struct pupa_err *err)
{
	char ctl_dir[4096], uds_dir[4096];
	struct sandbox_paths paths = {
		.attach_dirs = vm->cfg->attach_dirs,
		.nr_attach_dirs = vm->cfg->nr_attach_dirs,
		.volumes = vm->cfg->volumes,
		.volume_ro = vm->cfg->volume_ro,
		.nr_volumes = vm->cfg->nr_volumes,
	};
	int ret;

	if (vm->cfg->control)
		paths.socket_dirs[paths.nr_socket_dirs++] =
			socket_dir(vm->cfg->control, ctl_dir, sizeof(ctl_dir));
	if (vm->cfg->vsock_uds)
		paths.socket_dirs[paths.nr_socket_dirs++] =
			socket_dir(vm->cfg->vsock_uds, uds_dir, sizeof(uds_dir));
	/* libslirp forwards DNS to the resolvers it reads there. */
	if (vm->cfg->net)
		paths.read_files[paths.nr_read_files++] = "/etc/resolv.conf";
	/* What libc would open later, opened now: the first gmtime_r() (the
	 * CMOS clock, which a stock kernel reads) loads /etc/localtime. */
	tzset();
	/* no_new_privs first: without it, Landlock needs CAP_SYS_ADMIN. */
	sandbox__harden_process();
	/* It serves only -v volumes: CAP_FSETID goes too (a root share, the
	 * OCI runtime's, will pass SANDBOX_KEEP_FSETID). */
	ret = sandbox__drop_caps(0, err);
	if (ret < 0)
		return ret;
	ret = sandbox__landlock(&paths, err);
	if (ret < 0)
		return ret;
	return sandbox__prepare(&vm->sandbox, err);
}

void vm__exit_record(const struct vm *vm, const struct pupa_err *reason, struct control_exit *out)
{
	*out = (struct control_exit){ .status = GUEST_STATUS_STOPPED, .reason = *reason,
				      .snapshot_refused = vm->snapshot_refused };
}

int vm__run(struct vm *vm, struct pupa_err *err)
{
	struct control_exit ex;
	sigset_t set;
	int sig_fd, ret = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sig_fd < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "signalfd: %s", strerror(errno));
	ret = setup_loop(vm, sig_fd, err);
	if (ret == 0)
		ret = confine(vm, err);

	set_status(vm, GUEST_STATUS_STARTING);
	for (unsigned int i = 0; i < vm->ncpus && ret == 0; i++)
		ret = vcpu__start(&vm->vcpus[i], err);
	if (ret == 0 && vm->fs)
		ret = virtio_fs__start(vm->fs, vm->sandbox, err);
	/* The vCPU threads confine themselves before their first KVM_RUN; the
	 * main thread before it reads anything the guest sent. */
	if (ret == 0 && (ret = sandbox__enter(vm->sandbox, SANDBOX_MAIN)) < 0)
		ret = guest_err(err, GUEST_ERR_INTERNAL, "loading the seccomp filter: %s",
				strerror(-ret));
	if (ret == 0) {
		set_status(vm, GUEST_STATUS_RUNNING);
		main_loop(vm);
	} else {
		vm__request_stop(vm, -ret, "%s", err->msg);
	}
	set_status(vm, GUEST_STATUS_STOPPING);
	stop_vcpus(vm);
	close(sig_fd);
	set_status(vm, GUEST_STATUS_STOPPED);
	vm__exit_record(vm, ret == 0 ? &vm->stop_err : err, &ex);
	control__exited(vm->ctl, &ex);

	if (ret == 0 && vm->stop_err.code) {
		*err = vm->stop_err;
		ret = -(int)vm->stop_err.code;
	} else if (ret == 0) {
		/* A clean stop still says why (halt, reset, a stop request). */
		snprintf(err->msg, sizeof(err->msg), "%s", vm->stop_err.msg);
	}
	return ret < 0 ? -ret : 0;
}

void vm__destroy(struct vm *vm)
{
	vm__close_snapshot(vm);
	sandbox__free(vm->sandbox);
	vm->sandbox = NULL;
	control__close(vm->ctl);
	vm->ctl = NULL;
	if (vm->timer_h.fd >= 0)
		close(vm->timer_h.fd);
	ev_loop__destroy(&vm->loop);
	for (unsigned int i = 0; i < vm->nr_blk; i++) {
		virtio_blk__destroy(vm->blk[i]);
		free(vm->blk[i]);
	}
	vm->nr_blk = 0;
	if (vm->vsock) {
		virtio_vsock__destroy(vm->vsock);
		free(vm->vsock);
		vm->vsock = NULL;
	}
	if (vm->fs) {
		virtio_fs__destroy(vm->fs);
		free(vm->fs);
		vm->fs = NULL;
	}
	net_slirp__free(vm->slirp);
	vm->slirp = NULL;
	if (vm->net) {
		virtio_net__destroy(vm->net);
		free(vm->net);
		vm->net = NULL;
	}
	if (vm->vcon_up)
		virtio_console__destroy(&vm->vcon);
	vm->vcon_up = 0;
	free(vm->cmdline);
	vm->cmdline = NULL;
	for (unsigned int i = 0; i < vm->ncpus; i++)
		vcpu__destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	if (vm->devices_up) {
		uart8250__destroy(&vm->uart);
		i8042__destroy(&vm->kbc);
		cmos__destroy(&vm->cmos);
		vm->devices_up = 0;
	}
	if (vm->con_open) {
		console__close(&vm->con);
		vm->con_open = 0;
	}
	for (unsigned int i = 0; i < VM_MAX_VIRTIO; i++)
		if (vm->irqfd[i] >= 0) {
			close(vm->irqfd[i]);
			vm->irqfd[i] = -1;
		}
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	guest_mem__unmap(&vm->mem);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cond);
}
