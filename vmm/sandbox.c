/* SPDX-License-Identifier: MIT */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <linux/landlock.h>
#include <linux/fs.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

/* Which thread classes a row allows a system call in. */
#define IN_MAIN		(1u << SANDBOX_MAIN)
#define IN_VCPU		(1u << SANDBOX_VCPU)
#define IN_FS		(1u << SANDBOX_FS)
#define IN_ALL		(IN_MAIN | IN_VCPU | IN_FS)

struct sandbox_rule {
	int nr;
	unsigned int where;
	int arg;		/* -1: any arguments; else this one must match */
	uint64_t mask, value;	/* (argument & mask) == value */
};

#define ALLOW(name, where)	{ SCMP_SYS(name), (where), -1, 0, 0 }
#define IOCTL(request, where)	{ SCMP_SYS(ioctl), (where), 1, ~0ULL, (request) }
/* mknodat of one file type: its mode's S_IFMT bits (0 makes a regular file) */
#define MKNOD(type, where)	{ SCMP_SYS(mknodat), (where), 2, S_IFMT, (type) }

/* What any thread of a C program does: memory, locks, time, exit, stderr. */
static const struct sandbox_rule sandbox_libc[] = {
	ALLOW(read, IN_ALL), ALLOW(write, IN_ALL), ALLOW(close, IN_ALL),
	ALLOW(futex, IN_ALL), ALLOW(mmap, IN_ALL), ALLOW(munmap, IN_ALL),
	ALLOW(mremap, IN_ALL), ALLOW(mprotect, IN_ALL), ALLOW(madvise, IN_ALL),
	ALLOW(brk, IN_ALL), ALLOW(rt_sigreturn, IN_ALL),
	ALLOW(rt_sigprocmask, IN_ALL), ALLOW(rt_sigaction, IN_ALL),
	ALLOW(clock_gettime, IN_ALL), ALLOW(clock_nanosleep, IN_ALL),
	ALLOW(time, IN_ALL), ALLOW(gettimeofday, IN_ALL),	/* when the vDSO cannot */
	ALLOW(nanosleep, IN_ALL), ALLOW(sched_yield, IN_ALL),
	ALLOW(getpid, IN_ALL), ALLOW(gettid, IN_ALL), ALLOW(tgkill, IN_ALL),
	ALLOW(exit, IN_ALL), ALLOW(exit_group, IN_ALL),
	ALLOW(restart_syscall, IN_ALL), ALLOW(newfstatat, IN_ALL),
	ALLOW(fstat, IN_ALL), ALLOW(lseek, IN_ALL), ALLOW(getrandom, IN_ALL),
};

/* The VMM core: KVM_RUN on vCPU threads; the event loop, its signals and
 * timers, interrupts (devices raise them from either class), the control
 * socket, and the terminal restored at exit on the main thread. */
static const struct sandbox_rule sandbox_core[] = {
	IOCTL(KVM_RUN, IN_VCPU),
	IOCTL(KVM_IRQ_LINE, IN_ALL),
	ALLOW(epoll_wait, IN_MAIN), ALLOW(epoll_pwait, IN_MAIN),
	ALLOW(epoll_ctl, IN_ALL),
	ALLOW(timerfd_settime, IN_MAIN), ALLOW(timerfd_gettime, IN_MAIN),
	ALLOW(accept4, IN_MAIN), ALLOW(accept, IN_MAIN),
	ALLOW(recvfrom, IN_ALL), ALLOW(sendto, IN_ALL),
	ALLOW(recvmsg, IN_MAIN), ALLOW(sendmsg, IN_MAIN),
	ALLOW(unlink, IN_MAIN), ALLOW(unlinkat, IN_MAIN),
	IOCTL(TCGETS, IN_MAIN), IOCTL(TCSETS, IN_MAIN),
	IOCTL(TCSETSW, IN_MAIN), IOCTL(TCSETSF, IN_MAIN),
	IOCTL(TIOCGWINSZ, IN_MAIN),
};

/* virtio-blk: requests on vCPU threads; a medium attached over the control
 * socket (its file and the VolatileWrite overlay opened) on the main one. */
static const struct sandbox_rule sandbox_blk[] = {
	ALLOW(pread64, IN_VCPU), ALLOW(pwrite64, IN_VCPU),
	ALLOW(preadv, IN_VCPU), ALLOW(pwritev, IN_VCPU),
	ALLOW(fdatasync, IN_VCPU), ALLOW(fsync, IN_VCPU),
	ALLOW(openat, IN_MAIN), ALLOW(fcntl, IN_MAIN), IOCTL(BLKGETSIZE64, IN_MAIN),
};

/* virtio-vsock: a guest's connection opens a Unix socket from the vCPU
 * thread that takes its REQUEST; data moves on both classes. */
static const struct sandbox_rule sandbox_vsock[] = {
	ALLOW(socket, IN_ALL), ALLOW(connect, IN_ALL),
	ALLOW(readv, IN_ALL), ALLOW(writev, IN_ALL),
	ALLOW(shutdown, IN_ALL), ALLOW(getsockopt, IN_ALL),
	IOCTL(FIONREAD, IN_ALL),
};

/* virtio-net's libslirp, on the main thread: the guest's connections as
 * the user's sockets (listening ones are made before confinement), polled
 * with poll(); /etc/resolv.conf re-read when it changes. */
static const struct sandbox_rule sandbox_net[] = {
	ALLOW(poll, IN_MAIN), ALLOW(ppoll, IN_MAIN),
	ALLOW(bind, IN_MAIN), ALLOW(setsockopt, IN_MAIN),
	ALLOW(getsockname, IN_MAIN), ALLOW(getpeername, IN_MAIN),
	ALLOW(openat, IN_MAIN), ALLOW(fcntl, IN_MAIN),
};

/* virtio-fs workers: every call the FUSE server makes on a volume, all of
 * them relative to a descriptor it holds, or on its own /proc/self/fd.
 * mknodat only of what the server makes (a regular file, a FIFO, a
 * socket): a device node is the server's bug, and fatal here. */
static const struct sandbox_rule sandbox_fs[] = {
	ALLOW(openat, IN_FS), ALLOW(openat2, IN_FS), ALLOW(fcntl, IN_FS),
	ALLOW(fstatfs, IN_FS), ALLOW(getdents64, IN_FS),
	ALLOW(pread64, IN_FS), ALLOW(pwrite64, IN_FS),
	ALLOW(preadv, IN_FS), ALLOW(pwritev, IN_FS),	/* file data straight from/to guest RAM */
	ALLOW(fsync, IN_FS), ALLOW(fdatasync, IN_FS), ALLOW(fallocate, IN_FS),
	ALLOW(ftruncate, IN_FS), ALLOW(truncate, IN_FS),
	ALLOW(chmod, IN_FS), ALLOW(fchmodat, IN_FS), ALLOW(fchownat, IN_FS),
	ALLOW(utimensat, IN_FS),
	ALLOW(mkdirat, IN_FS), ALLOW(symlinkat, IN_FS),
	MKNOD(0, IN_FS), MKNOD(S_IFREG, IN_FS), MKNOD(S_IFIFO, IN_FS), MKNOD(S_IFSOCK, IN_FS),
	ALLOW(linkat, IN_FS), ALLOW(unlinkat, IN_FS), ALLOW(renameat2, IN_FS),
	ALLOW(renameat, IN_FS),	/* glibc's renameat2() without flags */
	ALLOW(readlinkat, IN_FS),
};

/* The console log (capped_log: pread, pwrite, ftruncate to roll it). */
static const struct sandbox_rule sandbox_console[] = {
	ALLOW(pread64, IN_ALL), ALLOW(pwrite64, IN_ALL),
	ALLOW(ftruncate, IN_ALL),
};

/* A snapshot, on the main thread with the vCPUs parked: KVM's state of
 * the VM and each vCPU read, the file (passed in) written and synced. */
static const struct sandbox_rule sandbox_snapshot[] = {
	IOCTL(KVM_GET_MP_STATE, IN_MAIN), IOCTL(KVM_GET_REGS, IN_MAIN),
	IOCTL(KVM_GET_SREGS, IN_MAIN), IOCTL(KVM_GET_XCRS, IN_MAIN),
	IOCTL(KVM_GET_DEBUGREGS, IN_MAIN), IOCTL(KVM_GET_LAPIC, IN_MAIN),
	IOCTL(KVM_GET_VCPU_EVENTS, IN_MAIN), IOCTL(KVM_GET_XSAVE, IN_MAIN),
	IOCTL(KVM_GET_XSAVE2, IN_MAIN), IOCTL(KVM_GET_MSRS, IN_MAIN),
	IOCTL(KVM_GET_MSR_INDEX_LIST, IN_MAIN), IOCTL(KVM_GET_CPUID2, IN_MAIN),
	IOCTL(KVM_CHECK_EXTENSION, IN_MAIN), IOCTL(KVM_GET_IRQCHIP, IN_MAIN),
	IOCTL(KVM_GET_PIT2, IN_MAIN), IOCTL(KVM_GET_CLOCK, IN_MAIN),
	ALLOW(pwrite64, IN_MAIN), ALLOW(ftruncate, IN_MAIN), ALLOW(fdatasync, IN_MAIN),
};

#define TABLE(rows)	{ rows, sizeof(rows) / sizeof((rows)[0]) }

/* A new device adds its table here. */
static const struct {
	const struct sandbox_rule *rules;
	size_t n;
} sandbox_tables[] = {
	TABLE(sandbox_libc), TABLE(sandbox_core), TABLE(sandbox_blk),
	TABLE(sandbox_vsock), TABLE(sandbox_net), TABLE(sandbox_console),
	TABLE(sandbox_fs), TABLE(sandbox_snapshot),
};

struct sandbox {
	scmp_filter_ctx ctx[SANDBOX_NR];
	pthread_mutex_t lock;	/* vCPU threads load one shared filter */
};

/*
 * A forbidden call: say which, then die of SIGSYS as the kill action
 * would (the message is what makes a missing row findable). Only
 * async-signal-safe calls, all of them allowed.
 */
/* The class this thread loaded, for the message below. */
static _Thread_local int sandbox__class = -1;

static void sandbox__on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[128];
	int n = snprintf(msg, sizeof(msg), "pupa-vmm: seccomp: forbidden system call %d on %s; "
			 "stopping\n", si->si_syscall,
			 sandbox__class == SANDBOX_VCPU ? "a vCPU thread" :
			 sandbox__class == SANDBOX_FS ? "a virtio-fs worker" : "the main thread");
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	if (write(STDERR_FILENO, msg, (size_t)n) < 0) {
		/* nothing more to say */
	}
	sigaction(SIGSYS, &dfl, NULL);
	raise(SIGSYS);
}

static int sandbox__build(scmp_filter_ctx *out, enum sandbox_thread cls)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int ret = ctx ? 0 : -ENOMEM;

	for (size_t t = 0; ret == 0 && t < sizeof(sandbox_tables) / sizeof(sandbox_tables[0]); t++) {
		for (size_t i = 0; ret == 0 && i < sandbox_tables[t].n; i++) {
			const struct sandbox_rule *r = &sandbox_tables[t].rules[i];

			if (!(r->where & (1u << cls)))
				continue;
			if (r->arg < 0)
				ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
			else if (r->mask == ~0ULL)
				ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
						       SCMP_CMP((unsigned int)r->arg, SCMP_CMP_EQ, r->value));
			else
				ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
						       SCMP_CMP((unsigned int)r->arg, SCMP_CMP_MASKED_EQ,
								r->mask, r->value));
			if (ret == -EEXIST)
				ret = 0;	/* two devices need the same call */
		}
	}
	if (ret < 0 && ctx)
		seccomp_release(ctx);
	*out = ret < 0 ? NULL : ctx;
	return ret;
}

int sandbox__prepare(struct sandbox **out, struct pupa_err *err)
{
	const char *env = getenv("PUPA_VMM_SECCOMP");
	struct sigaction sa = { .sa_sigaction = sandbox__on_sigsys, .sa_flags = SA_SIGINFO };
	struct sandbox *sb = calloc(1, sizeof(*sb));
	int ret;

	*out = sb;
	if (!sb)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	pthread_mutex_init(&sb->lock, NULL);
	if (env && strcmp(env, "off") == 0)
		return 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
	ret = 0;
	for (int cls = 0; cls < SANDBOX_NR && ret == 0; cls++)
		ret = sandbox__build(&sb->ctx[cls], (enum sandbox_thread)cls);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "building the seccomp filters: %s",
				 strerror(-ret));
	return 0;
}

int sandbox__enter(struct sandbox *sb, enum sandbox_thread cls)
{
	int ret;

	if (!sb || !sb->ctx[cls])
		return 0;
	/* libseccomp sets no_new_privs first (its default). */
	pthread_mutex_lock(&sb->lock);
	ret = seccomp_load(sb->ctx[cls]);
	pthread_mutex_unlock(&sb->lock);
	if (ret == 0)
		sandbox__class = (int)cls;
	return ret;
}

void sandbox__free(struct sandbox *sb)
{
	if (!sb)
		return;
	for (int i = 0; i < SANDBOX_NR; i++)
		if (sb->ctx[i])
			seccomp_release(sb->ctx[i]);
	pthread_mutex_destroy(&sb->lock);
	free(sb);
}

void sandbox__harden_process(void)
{
	struct rlimit none = { 0, 0 };

	/* One malloc arena for every thread. A thread's own arena is a heap
	 * that glibc shrinks on free, and the first shrink reads
	 * /proc/sys/vm/overcommit_memory: an openat on a vCPU thread, which
	 * its filter kills (seen with virtio-blk's bounce buffer growing). */
	mallopt(M_ARENA_MAX, 1);

	/* Guest RAM must never land in a core file. */
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* --- capabilities --------------------------------------------------------------- */

/* Dropping from the bounding set needs CAP_SETPCAP (a process without it,
 * an ordinary user's, has nothing to drop: no_new_privs keeps exec from
 * granting any). */
static int sandbox__drop_bounding(uint64_t drop)
{
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (((drop >> c) & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return -errno;
	return 0;
}

int sandbox__drop_caps(unsigned int keep, struct pupa_err *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	uint64_t drop = (1ULL << CAP_MKNOD) | (1ULL << CAP_SYS_ADMIN);
	int ret = 0;

	if (!(keep & SANDBOX_KEEP_FSETID))
		drop |= 1ULL << CAP_FSETID;
	if (syscall(SYS_capget, &hdr, data) < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "reading the capabilities: %s", strerror(errno));
	if ((data[0].effective & (1u << CAP_SETPCAP)) && (ret = sandbox__drop_bounding(drop)) < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "dropping capabilities from the bounding set: %s",
				 strerror(-ret));
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		uint32_t mask = ~(uint32_t)(drop >> (32 * i));

		data[i].effective &= mask;
		data[i].permitted &= mask;
		data[i].inheritable &= mask;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "dropping capabilities: %s", strerror(errno));
	return 0;
}

/* --- Landlock ---------------------------------------------------------------- */

/* Every file system right of Landlock ABI 1 and 2 (Linux 6.1 has 2). */
#define LL_FS_ALL_V1 ((1ULL << 13) - 1)
#define LL_FS_ALL_V2 (LL_FS_ALL_V1 | LANDLOCK_ACCESS_FS_REFER)

/* A read-write volume: everything but making a device node. */
#define LL_FS_VOLUME_RW (LL_FS_ALL_V2 & ~(uint64_t)(LANDLOCK_ACCESS_FS_MAKE_CHAR | \
						   LANDLOCK_ACCESS_FS_MAKE_BLOCK))

/* Landlock's rights that apply to a file itself, not a folder. */
#define LL_FS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		    LANDLOCK_ACCESS_FS_READ_FILE)

static int sandbox__ll_rule(int ruleset, const char *path, uint64_t access, uint64_t handled)
{
	struct landlock_path_beneath_attr attr = { .allowed_access = access & handled };
	int ret;

	attr.parent_fd = open(path, O_PATH | O_CLOEXEC | ((access & ~LL_FS_FILE) ? O_DIRECTORY : 0));
	if (attr.parent_fd < 0)
		return -errno;
	ret = (int)syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
	ret = ret < 0 ? -errno : 0;
	close(attr.parent_fd);
	return ret;
}

int sandbox__landlock(const struct sandbox_paths *p, struct pupa_err *err)
{
	const char *env = getenv("PUPA_VMM_LANDLOCK");
	int abi = (int)syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	const uint64_t file_rw = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE;
	struct landlock_ruleset_attr rs = { 0 };
	int ruleset, ret = 0;

	if (env && strcmp(env, "off") == 0)
		return 0;
	if (abi < 1) {
		fprintf(stderr, "pupa-vmm: Landlock is not available on this kernel (%s): the "
			"file system is not confined, only the system calls\n", strerror(errno));
		return 0;
	}
	rs.handled_access_fs = abi >= 2 ? LL_FS_ALL_V2 : LL_FS_ALL_V1;
	ruleset = (int)syscall(__NR_landlock_create_ruleset, &rs, sizeof(rs), 0);
	if (ruleset < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "Landlock: %s", strerror(errno));
	/* The sockets pupa-vmm removes when it ends. The VolatileWrite
	 * overlay files were made before (virtio_blk__reserve_overlay). */
	for (unsigned int i = 0; ret == 0 && i < p->nr_socket_dirs; i++)
		ret = sandbox__ll_rule(ruleset, p->socket_dirs[i], LANDLOCK_ACCESS_FS_REMOVE_FILE,
				       rs.handled_access_fs);
	for (unsigned int i = 0; ret == 0 && i < p->nr_attach_dirs; i++)
		ret = sandbox__ll_rule(ruleset, p->attach_dirs[i], file_rw, rs.handled_access_fs);
	/* virtio-fs volumes: all of a folder but device nodes, or reading it
	 * when read-only (the server refuses changes and devices itself; this
	 * is the second wall). */
	for (unsigned int i = 0; ret == 0 && i < p->nr_volumes; i++)
		ret = sandbox__ll_rule(ruleset, p->volumes[i],
				       p->volume_ro[i] ? LANDLOCK_ACCESS_FS_READ_FILE |
				       LANDLOCK_ACCESS_FS_READ_DIR : LL_FS_VOLUME_RW,
				       rs.handled_access_fs);
	/* A file that does not exist now cannot be read later either. */
	for (unsigned int i = 0; ret == 0 && i < p->nr_read_files; i++) {
		ret = sandbox__ll_rule(ruleset, p->read_files[i], LANDLOCK_ACCESS_FS_READ_FILE,
				       rs.handled_access_fs);
		if (ret == -ENOENT)
			ret = 0;
	}
	if (ret == 0 && syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
		ret = -errno;
	close(ruleset);
	if (ret < 0)
		return guest_err(err, GUEST_ERR_INTERNAL, "Landlock: %s", strerror(-ret));
	return 0;
}
