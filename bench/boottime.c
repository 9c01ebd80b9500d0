/*
 * boottime: time a VMM from exec to a marker on its console, and measure
 * its own memory while the guest idles after that.
 *
 *   boottime MARKER GUEST_MIB -- COMMAND [ARG...]
 *   boottime - 0 -- COMMAND [ARG...]
 *
 * Prints "boot SECONDS" (monotonic clock, from just before fork to the
 * read that brought the marker), "line TEXT" (the rest of the marker's
 * line: the guest's own uptime), and "rss KIB": the VMM's resident memory
 * 0.5 s later, not counting mappings of GUEST_MIB or more (guest RAM).
 * A shell and date(1) around each run would add tens of milliseconds of
 * forks under nested emulation, the same for both VMMs but blurring the
 * ratio; here the only fork is the one of the VMM. With "-" as the marker
 * it prints "exit SECONDS", from before fork to the command's end (which
 * keeps its own stdout and stderr), and fails if the command did: how
 * `pupa start` is timed against the boot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Resident KiB of PID outside mappings of at least guest_bytes. */
static long own_rss(pid_t pid, unsigned long long guest_bytes)
{
	char path[64], line[512];
	unsigned long long lo, hi;
	long total = 0, kib;
	int guest = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			guest = hi - lo >= guest_bytes;
		else if (sscanf(line, "Rss: %ld kB", &kib) == 1 && !guest)
			total += kib;
	}
	fclose(f);
	return total;
}

static int time_to_exit(char **cmd)
{
	double t0 = now();
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		perror("boottime: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(cmd[0], cmd);
		fprintf(stderr, "boottime: %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0) {
		perror("boottime: waitpid");
		return 1;
	}
	printf("exit %.4f\n", now() - t0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "boottime: %s failed (status %#x)\n", cmd[0], status);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static char acc[1 << 20];	/* console output not yet searched past */
	size_t len = 0, from = 0, mlen, line = 0;
	const char *marker;
	double t0, seen = -1;
	int p[2], status;
	char *hit, *nl = NULL;
	pid_t pid;
	ssize_t n;

	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: boottime MARKER GUEST_MIB -- COMMAND [ARG...]\n");
		return 2;
	}
	marker = argv[1];
	mlen = strlen(marker);
	if (mlen == 0 || mlen > 256) {
		fprintf(stderr, "boottime: the marker must be 1 to 256 bytes\n");
		return 2;
	}
	if (strcmp(marker, "-") == 0)
		return time_to_exit(argv + 4);
	if (pipe(p) < 0) {
		perror("boottime: pipe");
		return 1;
	}
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("boottime: fork");
		return 1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execvp(argv[4], argv + 4);
		fprintf(stderr, "boottime: %s: %s\n", argv[4], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	while (!nl && (n = read(p[0], acc + len, sizeof(acc) - 1 - len)) > 0) {
		len += (size_t)n;
		acc[len] = '\0';
		if (seen < 0) {
			hit = memmem(acc + from, len - from, marker, mlen);
			if (hit) {
				seen = now() - t0;
				line = (size_t)(hit - acc) + mlen;
			} else if (len >= mlen) {
				from = len - mlen + 1;	/* a marker split across reads */
			}
		}
		if (seen >= 0)
			nl = strpbrk(acc + line, "\r\n");
		if (!nl && len == sizeof(acc) - 1) {
			/* Keep what a match still needs: the line, or a marker's head. */
			size_t keep = seen >= 0 ? line : from;

			memmove(acc, acc + keep, len - keep);
			len -= keep;
			from -= seen >= 0 ? 0 : keep;
			line = seen >= 0 ? 0 : line;
			if (len == sizeof(acc) - 1)
				len = 0, from = 0;	/* a line of a megabyte: drop it */
		}
	}
	if (seen >= 0) {
		if (nl)
			*nl = '\0';
		printf("boot %.4f\nline %s\n", seen, acc + line);
		usleep(500000);
		printf("rss %ld\n", own_rss(pid, strtoull(argv[2], NULL, 10) << 20));
		fflush(stdout);
	}
	/* Drain until the VMM ends, so that it never blocks on a full pipe. */
	while ((n = read(p[0], acc, sizeof(acc))) > 0 || (n < 0 && errno == EINTR))
		;
	if (waitpid(pid, &status, 0) < 0) {
		perror("boottime: waitpid");
		return 1;
	}
	if (seen < 0) {
		fprintf(stderr, "boottime: %s ended without printing %s\n", argv[4], marker);
		return 1;
	}
	return 0;
}
