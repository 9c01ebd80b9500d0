/*
 * One thread per vCPU: KVM_RUN, then hand port and MMIO exits to the buses.
 * Only KVM entry failures, internal errors and exit reasons we do not know
 * are fatal; everything a stock kernel probes is answered by the buses.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sandbox.h"
#include "vm.h"
#include "x86/cpu.h"

#define VCPU_KICK_SIGNAL SIGUSR1

#define VCPU_STACK_SIZE	(1024 * 1024)

static void kick_handler(int sig)
{
	(void)sig;	/* only here to interrupt KVM_RUN */
}

int vcpu__create(struct vm *vm, struct vcpu *vcpu, unsigned int id, struct pupa_err *err)
{
	static struct kvm_cpuid2 *cpuid;	/* KVM's answer does not change */
	int mmap_size, ret;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0) {
		vcpu->fd = -1;
		return guest_err(err, GUEST_ERR_VCPU_START, "cannot create vCPU %u: %s", id,
				 strerror(errno));
	}
	mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0)
		return guest_err(err, GUEST_ERR_VCPU_START, "KVM_GET_VCPU_MMAP_SIZE: %s",
				 strerror(errno));
	vcpu->run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		return guest_err(err, GUEST_ERR_VCPU_START, "vCPU %u: mmap kvm_run: %s", id,
				 strerror(errno));
	}
	vcpu->run_size = (size_t)mmap_size;

	if (!cpuid) {
		cpuid = x86_cpu__supported_cpuid(vm->kvm_fd, err);
		if (!cpuid)
			return -GUEST_ERR_VCPU_START;
	}
	ret = x86_cpu__setup(vcpu->fd, id, vm->cfg->cpus, cpuid, &vm->boot, err);
	return ret;
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	int is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* data_offset comes from the kernel, but check it against the mapping anyway. */
	if (run->io.data_offset > vcpu->run_size ||
	    (uint64_t)run->io.size * run->io.count > vcpu->run_size - run->io.data_offset)
		return;
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		io_bus__access(&vcpu->vm->pio, run->io.port, data, run->io.size, is_write);
}

static void handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : 0;

	if (len)
		io_bus__access(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			       run->mmio.is_write);
}

/* Returns 0 to keep running, 1 when this vCPU is done. */
static int handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return 0;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		return 0;
	case KVM_EXIT_INTR:
		return 0;
	case KVM_EXIT_HLT:
		vm__request_stop(vm, 0, "guest halted");
		return 1;
	case KVM_EXIT_SHUTDOWN:
		vm__request_stop(vm, 0, "guest shut down (triple fault or reset)");
		return 1;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH)
			vm__request_stop(vm, GUEST_ERR_VCPU_RUNTIME, "vCPU %u: guest reported a crash",
					 vcpu->id);
		else
			vm__request_stop(vm, 0, "guest system event %u", run->system_event.type);
		return 1;
	case KVM_EXIT_FAIL_ENTRY:
		vm__request_stop(vm, GUEST_ERR_VCPU_RUNTIME,
				 "vCPU %u: KVM could not enter the guest (hardware reason %#llx)",
				 vcpu->id,
				 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return 1;
	case KVM_EXIT_INTERNAL_ERROR:
		vm__request_stop(vm, GUEST_ERR_VCPU_RUNTIME, "vCPU %u: KVM internal error %u",
				 vcpu->id, run->internal.suberror);
		return 1;
	default:
		vm__request_stop(vm, GUEST_ERR_VCPU_RUNTIME, "vCPU %u: unexpected KVM exit reason %u",
				 vcpu->id, run->exit_reason);
		return 1;
	}
}

/*
 * Stay out of the guest while a pause is asked for. KVM_RUN with
 * immediate_exit set first completes an exit we answered (an MMIO read's
 * value, a port's) without running the guest, so the state a snapshot
 * reads is whole; an access split in parts may exit once more.
 */
static void vcpu__park(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	vcpu->run->immediate_exit = 1;
	while (ioctl(vcpu->fd, KVM_RUN, 0) == 0 && !handle_exit(vcpu))
		;
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_req) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	vcpu->run->immediate_exit = atomic_load(&vm->stopping);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vcpu__pause_all(struct vm *vm)
{
	unsigned int started = 0;

	atomic_store(&vm->pause_req, 1);
	for (unsigned int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].started) {
			vcpu__kick(&vm->vcpus[i]);
			started++;
		}
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < started && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

void vcpu__resume_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_req, 0);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (sandbox__enter(vm->sandbox, SANDBOX_VCPU) < 0) {
		vm__request_stop(vm, GUEST_ERR_VCPU_START, "vCPU %u: cannot load its seccomp filter",
				 vcpu->id);
		return NULL;
	}

	while (!atomic_load(&vm->stopping)) {
		if (atomic_load(&vm->pause_req)) {
			vcpu__park(vcpu);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
#ifdef PUPA_TEST_HOOKS
			if (atomic_exchange(&vm->test_forbidden, 0))
				syscall(SYS_getppid);	/* not in the vCPU filter */
#endif
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vm__request_stop(vm, GUEST_ERR_VCPU_RUNTIME, "vCPU %u: KVM_RUN: %s", vcpu->id,
					 strerror(errno));
			break;
		}
		if (handle_exit(vcpu))
			break;
	}
	/* A pause waiting for this vCPU to park waits no more. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	return NULL;
}

int vcpu__start(struct vcpu *vcpu, struct pupa_err *err)
{
	static int handler_installed;
	pthread_attr_t attr;
	sigset_t set, old;
	int ret;

	if (!handler_installed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = kick_handler;	/* no SA_RESTART: KVM_RUN must return */
		sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
		handler_installed = 1;
	}
	/*
	 * A stack smaller than a huge page: glibc's default 8 MiB one lands
	 * 2 MiB-aligned beside guest RAM, and where THP is "always" its first
	 * touch then costs 2 MiB of resident memory. Device handlers keep
	 * their buffers on the heap.
	 */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, VCPU_STACK_SIZE);
	/* The thread starts with the kick blocked and unblocks it itself. */
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	ret = pthread_create(&vcpu->thread, &attr, vcpu_thread, vcpu);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret != 0)
		return guest_err(err, GUEST_ERR_VCPU_START, "cannot start vCPU %u thread: %s",
				 vcpu->id, strerror(ret));
	vcpu->started = 1;
	return 0;
}

void vcpu__kick(struct vcpu *vcpu)
{
	/* immediate_exit covers the window before the thread enters KVM_RUN. */
	vcpu->run->immediate_exit = 1;
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu__destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->fd = -1;
}
