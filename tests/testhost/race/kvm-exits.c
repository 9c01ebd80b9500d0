/*
 * kvm-exits SECONDS: a KVM guest that leaves to user space as often as it
 * can (real mode, "out %al, $0x10" in a loop), for SECONDS. Under the
 * KVM test host every exit is a VMRUN and a #VMEXIT of the emulated CPU
 * it runs on, which rewrite that CPU's hidden SVM flags each time.
 * Prints the number of exits; exits 1 on any error.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#define GUEST_SIZE	0x10000
#define GUEST_CODE	0x1000

static int
fail(const char *what)
{
	perror(what);
	return 1;
}

int
main(int argc, char **argv)
{
	static const unsigned char code[] = {
		0xe6, 0x10,	/* out %al, $0x10 */
		0xeb, 0xfc,	/* jmp back to the out */
	};
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_regs regs = { .rip = GUEST_CODE, .rflags = 0x2 };
	struct kvm_sregs sregs;
	struct kvm_run *run;
	unsigned char *mem;
	int seconds, kvm, vm, vcpu;
	long exits = 0, run_size;
	time_t end;

	seconds = argc > 1 ? atoi(argv[1]) : 10;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	mem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	memcpy(mem + GUEST_CODE, code, sizeof(code));
	region.memory_size = GUEST_SIZE;
	region.userspace_addr = (unsigned long)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || run_size <= 0)
		return fail("KVM_CREATE_VCPU");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");

	for (end = time(NULL) + seconds; time(NULL) < end; exits++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return fail("KVM_RUN");
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "kvm-exits: exit reason %u\n",
			    run->exit_reason);
			return 1;
		}
	}
	printf("kvm-exits: %ld exits in %d s\n", exits, seconds);
	return 0;
}
