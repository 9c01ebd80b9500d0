/*
 * The init of the boot benchmark's initramfs: say hello on the console (the
 * point both VMMs are timed to), stay a moment so the VMM's memory can be
 * read, then reboot, which ends the VM under pupa-vmm and under QEMU's
 * -no-reboot alike.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	static const char hello[] = "PUPA-BENCH-HELLO\n";
	int fd = open("/dev/console", O_WRONLY);

	if (fd >= 0)
		(void)!write(fd, hello, strlen(hello));
	sleep(3);
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
