/*
 * The init of the boot benchmark's initramfs: say hello on the console (the
 * point both VMMs are timed to), with the guest's uptime; stay a second so
 * the VMM's memory can be read (bench/boottime does at half a second), then
 * reboot, which ends the VM under pupa-vmm and under QEMU's
 * -no-reboot alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* With "dmesg" on the kernel command line (passed on to init), copy the
 * kernel log after the hello: its timestamps show where a quiet boot went. */
static void dump_kmsg(int out)
{
	char rec[1024];
	ssize_t n;
	int fd;

	(void)mknod("/dev/kmsg", S_IFCHR | 0600, makedev(1, 11));
	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return;
	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE))
		if (n > 0)
			(void)!write(out, rec, (size_t)n);
	close(fd);
}

int main(int argc, char **argv)
{
	struct timespec up;
	char hello[64];
	int fd = open("/dev/console", O_WRONLY);

	/* The guest's own clock too: the wall time minus it is what came
	 * before the kernel's timekeeping (VMM start-up, decompression). */
	clock_gettime(CLOCK_BOOTTIME, &up);
	snprintf(hello, sizeof(hello), "PUPA-BENCH-HELLO uptime %ld.%03ld\n",
		 (long)up.tv_sec, up.tv_nsec / 1000000);
	if (fd >= 0)
		(void)!write(fd, hello, strlen(hello));
	for (int i = 1; i < argc; i++)
		if (fd >= 0 && strcmp(argv[i], "dmesg") == 0)
			dump_kmsg(fd);
	sleep(1);
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
