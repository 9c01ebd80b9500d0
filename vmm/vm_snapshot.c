/* SPDX-License-Identifier: MIT */
/*
 * A snapshot of the running VM, and a VM made from one instead of a boot.
 *
 * Saving runs on the main thread (a control request) with every vCPU
 * parked, so nothing but the device worker threads could touch guest RAM
 * meanwhile; the only one that does, virtio-fs, serves a mounted file
 * system, and a snapshot is refused once the guest has mounted it (pupa
 * snapshots before any volume, and pupa-init mounts them after). vsock
 * connections are not carried over: the host ends are gone, and a restore
 * resets the guest's at once (the transport-reset event).
 *
 * Restoring builds the same machine as a boot (memory map, devices,
 * vCPUs set up for this host), then replaces what the boot would have
 * loaded with the file's contents: RAM, the clock and interrupt
 * controllers, each vCPU, the UART and each virtio device's transport.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/format.h"
#include "vm.h"
#include "x86/state.h"

/* The machine a snapshot fits: a restore compares it with its own. */
struct snap_devices {
	uint32_t ncpus, nr_mmio;
	uint32_t device_id[VM_MAX_VIRTIO];
};

static void device_set(const struct vm *vm, struct snap_devices *d)
{
	memset(d, 0, sizeof(*d));
	d->ncpus = vm->ncpus;
	d->nr_mmio = vm->nr_mmio;
	for (unsigned int i = 0; i < vm->nr_mmio; i++)
		d->device_id[i] = vm->mmio_dev[i].vdev->ops->device_id;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int save_all(struct vm *vm, struct snap_writer *w, struct pupa_err *err)
{
	struct uart8250_state uart;
	struct snap_devices devs;
	/* The clock first: read after the RAM, it would carry the time that
	 * writing took into every restored guest (measured: 0.4 s nested). */
	int ret = x86_state__save_vm(vm->vm_fd, w, err);

	for (unsigned int i = 0; !ret && i < vm->ncpus; i++)
		ret = x86_state__save_vcpu(vm->kvm_fd, vm->vcpus[i].fd, i, w, err);
	if (!ret)
		ret = snap_writer__ram(w, &vm->mem, err);
	if (ret)
		return ret;
	uart8250__get_state(&vm->uart, &uart);
	snap_writer__add(w, SNAP_TAG_UART, 0, &uart, sizeof(uart));
	for (unsigned int i = 0; i < vm->nr_mmio; i++) {
		struct virtio_mmio_state s;

		virtio_mmio__get_state(&vm->mmio_dev[i], &s);
		snap_writer__add(w, SNAP_TAG_VIRTIO, i, &s, sizeof(s));
	}
	device_set(vm, &devs);
	snap_writer__add(w, SNAP_TAG_DEVICES, 0, &devs, sizeof(devs));
	return snap_writer__finish(w, err);
}

int vm__snapshot(struct vm *vm, int fd, struct control_snapshot *out, struct pupa_err *err)
{
	struct snap_writer w;
	uint64_t t0;
	int ret;

	if (vm->fs && vm->fs->srv.minor)
		return guest_err(err, GUEST_ERR_ALREADY_RUNNING,
				 "snapshot: the guest has mounted virtio-fs; take it before volumes");
	ret = snap_writer__init(&w, fd, vm->cfg->snapshot_key, guest_mem__total(&vm->mem), err);
	if (ret < 0)
		return ret;
	t0 = now_us();
	vcpu__pause_all(vm);
	if (atomic_load(&vm->stopping))
		ret = guest_err(err, GUEST_ERR_NOT_CREATED, "snapshot: the guest is stopping");
	else
		ret = save_all(vm, &w, err);
	vcpu__resume_all(vm);
	out->paused_us = now_us() - t0;
	out->pages = w.pages_written;
	out->state_bytes = w.state_len;
	snap_writer__destroy(&w);
	if (ret < 0 && ftruncate(fd, 0) < 0) {
		/* the header is missing anyway: the file is refused as unfinished */
	}
	return ret;
}

static int restore_devices(struct vm *vm, const struct snap_reader *r, struct pupa_err *err)
{
	const struct uart8250_state *uart;
	uint32_t len = 0;

	uart = snap_reader__get(r, SNAP_TAG_UART, 0, &len);
	if (!uart || len != sizeof(*uart))
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "snapshot %s: no UART state", r->name);
	uart8250__set_state(&vm->uart, uart);
	for (unsigned int i = 0; i < vm->nr_mmio; i++) {
		const struct virtio_mmio_state *s = snap_reader__get(r, SNAP_TAG_VIRTIO, i, &len);

		if (!s || len != sizeof(*s) || virtio_mmio__set_state(&vm->mmio_dev[i], s) < 0)
			return guest_err(err, GUEST_ERR_BAD_CONFIG,
					 "snapshot %s: the state of device %u (virtio %s) does not fit it",
					 r->name, i, vm->mmio_dev[i].vdev->ops->name);
	}
	return 0;
}

/* The device set as the file has it against this VM's, before KVM. */
static int check_devices(struct vm *vm, const struct snap_reader *r, struct pupa_err *err)
{
	const struct snap_devices *saved;
	struct snap_devices devs;
	uint32_t len = 0;

	device_set(vm, &devs);
	devs.ncpus = vm->cfg->cpus;	/* no vCPU made yet */
	saved = snap_reader__get(r, SNAP_TAG_DEVICES, 0, &len);
	if (!saved || len != sizeof(devs) || memcmp(saved, &devs, sizeof(devs)) != 0)
		return guest_err(err, GUEST_ERR_BAD_CONFIG,
				 "snapshot %s: made for another set of vCPUs or devices than this "
				 "VM's (--cpus, --disk, --disk-slot, --vsock-cid, --net, --fs)", r->name);
	return 0;
}

int vm__open_snapshot(struct vm *vm, struct pupa_err *err)
{
	const char *path = vm->cfg->restore;
	int fd, ret;

	if (!(vm->snap = calloc(1, sizeof(*vm->snap))))
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	vm->snap->fd = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "--restore %s: %s", path, strerror(errno));
	ret = snap_reader__open(vm->snap, fd, path, vm->cfg->snapshot_key,
				guest_mem__total(&vm->mem), err);
	vm->snap->fd = fd;	/* closed with the reader, whatever happened */
	return ret < 0 ? ret : check_devices(vm, vm->snap, err);
}

int vm__restore(struct vm *vm, struct pupa_err *err)
{
	const struct snap_reader *r = vm->snap;
	uint64_t t0 = now_us();
	int ret = restore_devices(vm, r, err);

	if (!ret)
		ret = snap_reader__ram(vm->snap, &vm->mem, err);
	if (!ret)
		ret = x86_state__restore_vm(vm->vm_fd, r, err);
	for (unsigned int i = 0; !ret && i < vm->ncpus; i++)
		ret = x86_state__restore_vcpu(vm->vcpus[i].fd, i, r, err);
	if (!ret && vm->vsock)
		virtio_vsock__transport_reset(vm->vsock);
	for (unsigned int i = 0; !ret && i < vm->nr_mmio; i++)
		virtio_mmio__kick(&vm->mmio_dev[i]);
	vm->restore_us = now_us() - t0;
	vm__close_snapshot(vm);
	return ret;
}

void vm__close_snapshot(struct vm *vm)
{
	if (!vm->snap)
		return;
	if (vm->snap->fd >= 0)
		close(vm->snap->fd);
	snap_reader__close(vm->snap);
	free(vm->snap);
	vm->snap = NULL;
}
