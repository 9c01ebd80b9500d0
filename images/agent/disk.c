/* Finding the root disk by serial and mounting the container's tree. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "agent_proto.h"

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -1;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Wait for /sys/block/vdX whose serial matches and whose size is not zero. */
int disk_find(const char *serial, int timeout_ms, char *dev, size_t devlen, char *err, size_t len)
{
	long deadline = agent_now_ms() + timeout_ms;
	int seen = 0;

	for (;;) {
		DIR *d = opendir("/sys/block");
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char path[300], s[64], size[32];

			if (strncmp(de->d_name, "vd", 2) != 0)
				continue;
			snprintf(path, sizeof(path), "/sys/block/%s/serial", de->d_name);
			if (read_line(path, s, sizeof(s)) < 0 || strcmp(s, serial) != 0)
				continue;
			seen = 1;
			snprintf(path, sizeof(path), "/sys/block/%s/size", de->d_name);
			if (read_line(path, size, sizeof(size)) < 0 || strtoull(size, NULL, 10) == 0)
				continue;
			snprintf(dev, devlen, "/dev/%s", de->d_name);
			closedir(d);
			return 0;
		}
		if (d)
			closedir(d);
		if (agent_now_ms() >= deadline)
			break;
		usleep(20000);
	}
	snprintf(err, len, seen ? "disk with serial '%s' stayed empty for %d ms" :
		 "no disk with serial '%s' appeared within %d ms", serial, timeout_ms);
	return -1;
}

int rootfs_mount(const char *dev, const char *fstype, int mode, char *err, size_t len)
{
	unsigned long flags = mode == MOUNT_RW ? 0 : MS_RDONLY;
	const char *target = mode == MOUNT_OVERLAY ? AGENT_RUN_DIR "/lower" : NEWROOT;
	/* Lazy inode-table init would write behind our back, even to a volatile disk. */
	const char *opts = !strcmp(fstype, "ext4") && mode == MOUNT_RW ? "noinit_itable" : "";

	mkdir(AGENT_RUN_DIR, 0700);
	mkdir(NEWROOT, 0755);
	mkdir(target, 0755);
	if (mount(dev, target, fstype, flags, opts) < 0) {
		snprintf(err, len, "mount %s (%s) on %s: %s", dev, fstype, target, strerror(errno));
		return -1;
	}
	if (mode != MOUNT_OVERLAY)
		return 0;
	/* The container writes to a tmpfs layer; the image is never changed. */
	if (mount("tmpfs", AGENT_RUN_DIR "/rw", "tmpfs", 0, "mode=0755") < 0 &&
	    (mkdir(AGENT_RUN_DIR "/rw", 0755) < 0 ||
	     mount("tmpfs", AGENT_RUN_DIR "/rw", "tmpfs", 0, "mode=0755") < 0)) {
		snprintf(err, len, "tmpfs for the overlay: %s", strerror(errno));
		return -1;
	}
	mkdir(AGENT_RUN_DIR "/rw/upper", 0755);
	mkdir(AGENT_RUN_DIR "/rw/work", 0755);
	if (mount("overlay", NEWROOT, "overlay", 0,
		  "lowerdir=" AGENT_RUN_DIR "/lower,upperdir=" AGENT_RUN_DIR "/rw/upper,workdir="
		  AGENT_RUN_DIR "/rw/work") < 0) {
		snprintf(err, len, "overlay on %s: %s", NEWROOT, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * Give the container its /etc files: written in place when the root is
 * writable, else bind-mounted over the image's own (when it has them).
 */
static void put_etc(const char *name, const char *text)
{
	char target[256], staged[256];

	snprintf(target, sizeof(target), NEWROOT "/etc/%s", name);
	if (write_file(target, text) == 0)
		return;
	snprintf(staged, sizeof(staged), AGENT_RUN_DIR "/%s", name);
	if (write_file(staged, text) == 0 && access(target, F_OK) == 0)
		mount(staged, target, NULL, MS_BIND, NULL);
}

static int mount_in(const char *src, const char *dir, const char *type, unsigned long flags,
		    const char *opts, char *err, size_t len)
{
	char target[256];

	snprintf(target, sizeof(target), NEWROOT "%s", dir);
	mkdir(target, 0755);	/* fails on a read-only root; mount then says why */
	if (mount(src, target, type, flags, opts) < 0) {
		snprintf(err, len, "mount %s on %s: %s", type, dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Docker's /etc/hosts: loopback names, --add-host lines, then the
 * container's own address with its hostname when it has a network. */
static void put_hosts(const char *hostname, const struct net_settings *net)
{
	char text[8192], addr[32];
	size_t n;

	n = (size_t)snprintf(text, sizeof(text),
			     "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
			     "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n"
			     "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n");
	for (char **h = net->hosts; h && *h && n < sizeof(text); h++) {
		const char *colon = strchr(*h, ':');	/* NAME:IP; an IPv6 IP has more */

		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\t%.*s\n", colon + 1,
				      (int)(colon - *h), *h);
	}
	snprintf(addr, sizeof(addr), "%s", net->on ? net->address : "127.0.1.1");
	addr[strcspn(addr, "/")] = '\0';
	if (n < sizeof(text))
		snprintf(text + n, sizeof(text) - n, "%s\t%s\n", addr, hostname);
	put_etc("hosts", text);
}

static void put_resolv_conf(const struct net_settings *net)
{
	char text[512];
	size_t n = 0;

	if (!net->on) {
		put_etc("resolv.conf", "# no network: this container runs with --network none\n");
		return;
	}
	for (char **d = net->dns; d && *d && n < sizeof(text); d++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "nameserver %s\n", *d);
	put_etc("resolv.conf", n ? text : "# no DNS server given\n");
}

int rootfs_prepare(const char *hostname, const struct net_settings *net, char *err, size_t len)
{
	char line[80];

	if (mount_in("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err, len) ||
	    mount_in("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL, err, len) ||
	    mount_in("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", err, len) ||
	    mount_in("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		     "newinstance,ptmxmode=0666,mode=0620", err, len) ||
	    mount_in("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", err, len) ||
	    mount_in("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", err, len))
		return -1;
	/* /dev/ptmx must open this devpts instance, not the initramfs one. */
	mount(NEWROOT "/dev/pts/ptmx", NEWROOT "/dev/ptmx", NULL, MS_BIND, NULL);
	snprintf(line, sizeof(line), "%s\n", hostname);
	put_etc("hostname", line);
	put_hosts(hostname, net);
	put_resolv_conf(net);
	return 0;
}
