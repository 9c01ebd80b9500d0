/*
 * The one VM: KVM handles, guest memory, buses, devices and vCPUs. Built
 * by vm__create(), run by vm__run(), torn down by vm__destroy() whatever
 * state creation stopped in.
 */
#ifndef PUPA_VMM_VM_H
#define PUPA_VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>

#include "bus.h"
#include "config.h"
#include "console.h"
#include "devices/cmos.h"
#include "devices/i8042.h"
#include "devices/uart8250.h"
#include "error.h"
#include "memory.h"
#include "control.h"
#include "event_loop.h"
#include "virtio/blk.h"
#include "virtio/fs.h"
#include "virtio/console.h"
#include "net/slirp.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/vsock.h"
#include "x86/boot.h"

#define VM_MAX_VIRTIO	(VMM_MAX_DISKS + 4)	/* disks, console, vsock, net, one spare */
#define VM_VIRTIO_IRQ_BASE 5

struct vm;
struct snap_reader;

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	int started;
};

struct vm {
	const struct vmm_config *cfg;
	int kvm_fd;
	int vm_fd;
	struct guest_mem mem;
	struct io_bus pio;
	struct io_bus mmio;
	struct console con;
	int con_open;
	int devices_up;
	struct uart8250 uart;
	struct i8042 kbc;
	struct cmos cmos;
	struct x86_boot boot;

	/* virtio-mmio devices, in the order they are announced */
	struct virtio_mmio mmio_dev[VM_MAX_VIRTIO];
	int irqfd[VM_MAX_VIRTIO];	/* each one's line as a KVM irqfd; -1: KVM_IRQ_LINE */
	unsigned int nr_mmio;
	struct virtio_console vcon;
	int vcon_up;
	struct virtio_blk *blk[VMM_MAX_DISKS];
	unsigned int nr_blk;
	struct virtio_vsock *vsock;
	struct virtio_net *net;
	struct net_slirp *slirp;	/* net's backend */
	struct virtio_fs *fs;
	char *cmdline;			/* config's line + device announcements */

	struct event_loop loop;
	struct ev_handler stop_h, sig_h, input_h, timer_h;
	struct control *ctl;
	enum guest_status status;	/* main thread only */
	unsigned int ncpus;
	struct vcpu *vcpus;

	/* Stopping: the first reason wins; stop_fd wakes the main loop. */
	pthread_mutex_t stop_lock;
	atomic_int stopping;
	int stop_fd;
	struct pupa_err stop_err;	/* code 0: the guest ended by itself */

	/* Pausing (for a snapshot): every started vCPU parks, its pending
	 * I/O completed, until pause_req drops. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_int pause_req;
	unsigned int parked;

	struct snap_reader *snap;	/* --restore, open until restored */
	uint64_t restore_us;		/* what vm__restore took */
	int snapshot_refused;		/* --restore's snapshot was refused (BadConfig) */

	struct sandbox *sandbox;	/* the seccomp filters, loaded per thread */
	atomic_int test_forbidden;	/* test hooks: a vCPU makes a forbidden call */
};

int vm__create(struct vm *vm, const struct vmm_config *cfg, struct pupa_err *err);

/* Run until the guest stops; returns the exit status (0 or a GuestError). */
int vm__run(struct vm *vm, struct pupa_err *err);
/* pupa-vmm's last word (the exit event, and the --exit-record) for reason. */
void vm__exit_record(const struct vm *vm, const struct pupa_err *reason, struct control_exit *out);

void vm__destroy(struct vm *vm);

/* vm_snapshot.c: pause, write the snapshot to fd, run on (main thread). */
int vm__snapshot(struct vm *vm, int fd, struct control_snapshot *out, struct pupa_err *err);
/* Open and check cfg->restore (no KVM needed); then, once the VM and its
 * vCPUs exist, put the file's contents in place of a boot. */
int vm__open_snapshot(struct vm *vm, struct pupa_err *err);
int vm__restore(struct vm *vm, struct pupa_err *err);
void vm__close_snapshot(struct vm *vm);

/*
 * Ask every vCPU to stop. code 0 is a clean end (guest reboot or halt);
 * otherwise a GuestError with its message. Safe from any thread.
 */
void vm__request_stop(struct vm *vm, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* vcpu.c */
int vcpu__create(struct vm *vm, struct vcpu *vcpu, unsigned int id, struct pupa_err *err);
int vcpu__start(struct vcpu *vcpu, struct pupa_err *err);
void vcpu__kick(struct vcpu *vcpu);
/* Park every started vCPU (returns once they all are), and let them go. */
void vcpu__pause_all(struct vm *vm);
void vcpu__resume_all(struct vm *vm);
void vcpu__destroy(struct vcpu *vcpu);

#endif
