/*
 * pupa-init: PID 1 of the guest. It reads the boot device tree, connects
 * to the host over vsock, mounts the root disk the host attaches, starts
 * the container's process with its stdio on vsock, reaps every zombie,
 * reports the exit and reboots. Static: it runs from a bare initramfs.
 */
#ifndef PUPA_INIT_AGENT_H
#define PUPA_INIT_AGENT_H

#include <stddef.h>
#include <sys/types.h>

#define NEWROOT		"/newroot"
#define AGENT_RUN_DIR	"/run/pupa"

void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds on the monotonic clock, for deadlines. */
long agent_now_ms(void);

/* bootfdt.c: /chosen/pupa from the boot device tree */
struct boot_props {
	unsigned int agent_port;
	unsigned int version;
	char hostname[65];
};
/* The boot device tree from setup_data (type 2), checked; NULL with a reason. */
const void *bootfdt_load(char *err, size_t len);
int bootfdt_read(struct boot_props *p, char *err, size_t len);
/* The values from a device tree in memory (checked whole first). */
int bootfdt_parse(const void *fdt, size_t size, struct boot_props *p, char *err, size_t len);

/* net.c: the container's network namespace, entered by pupa-init itself
 * (the container inherits it): lo, and eth0 when on. */
struct net_settings {
	int on;
	char address[32];		/* "10.0.2.15/24" */
	char gateway[16];
	unsigned int mtu;
	char **dns;			/* nameservers, NULL-terminated */
	char **hosts;			/* "NAME:IP" (--add-host), NULL-terminated */
};
int net_prepare(void);
int net_enter(const struct net_settings *n, char *err, size_t len);

/* disk.c: the root disk, found by its virtio-blk serial */
int disk_find(const char *serial, int timeout_ms, char *dev, size_t devlen, char *err, size_t len);
int rootfs_mount(const char *dev, const char *fstype, int mode, char *err, size_t len);
/* Mounts, and /etc/hostname, hosts and resolv.conf as Docker writes them. */
int rootfs_prepare(const char *hostname, const struct net_settings *net, char *err, size_t len);

/* fresh.c: START's ENTROPY and CLOCK, which set a restored guest apart */
struct proto_msg;
int fresh_apply(const struct proto_msg *m, char *err, size_t len);

/* volumes.c: the container's volumes over virtio-fs */
struct volume {
	unsigned int index;		/* the folder in the device's root */
	int ro;
	char target[1024];		/* inside the container */
};
int volume_parse(const char *spec, struct volume *v);
int volumes_mount(const struct volume *vols, unsigned int n, uid_t uid, gid_t gid,
		  char *err, size_t len);

/* users.c: names from the container's /etc/passwd and /etc/group, never NSS */
#define CREDS_MAX_GROUPS 64
struct creds {
	uid_t uid;
	gid_t gid;
	gid_t groups[CREDS_MAX_GROUPS];
	int ngroups;
	char home[256];
};
int creds_resolve(const char *root, const char *spec, struct creds *c, char *err, size_t len);

/* process.c: the container's process */
struct spawn_req {
	char **argv;
	char **env;
	const char *cwd;
	struct creds creds;
	int tty;
	int stdin_fd, stdout_fd, stderr_fd;	/* the child's ends */
	int ctty_fd;				/* pty slave with a tty, else -1 */
};
/* The pid, or -1 with *code (125-127) and a message when it could not run. */
pid_t spawn_container(const struct spawn_req *r, int *code, char *msg, size_t len);

#endif
