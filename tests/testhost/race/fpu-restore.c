/*
 * fpu-restore SECONDS: FXRSTOR in a loop, for SECONDS. In QEMU's TCG
 * (10.0 and, as of 2026-12, upstream) each restore of an FPU status
 * without a pending exception clears IGNNE in CPU 0's hflags2 with a plain
 * read-modify-write from the restoring CPU's own thread
 * (cpu_set_fpus -> cpu_clear_ignne), whichever CPU that is.
 * Prints the number of restores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int
main(int argc, char **argv)
{
	static unsigned char area[512] __attribute__((aligned(16)));
	int seconds = argc > 1 ? atoi(argv[1]) : 10;
	long restores = 0;
	time_t end;
	int i;

	__asm__ volatile("fxsave %0" : "=m"(area));
	for (end = time(NULL) + seconds; time(NULL) < end; restores += 1000)
		for (i = 0; i < 1000; i++)
			__asm__ volatile("fxrstor %0" : : "m"(area));
	printf("fpu-restore: %ld restores in %d s\n", restores, seconds);
	return 0;
}
