#include "config.h"

#include "options.h"
#include "virtio/blk.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void vmm_config__usage(FILE *out)
{
	fputs("usage: pupa-vmm --kernel PATH [--initrd PATH] [--cmdline STRING]\n"
	      "                [--memory MIB] [--cpus N] [--serial stdio | none | FILE]\n"
	      "                [--boot-prop KEY=VALUE]... [--disk PATH,MODE[,serial=NAME]]...\n"
	      "                [--disk-slot NAME]... [--vsock-cid CID --vsock-uds PATH]\n"
	      "                [--control PATH] [--exit-record PATH] [--attach-dir DIR]...\n"
	      "                [--net slirp[,allow_host_loopback=true]] [--publish SPEC]...\n"
	      "                [--fs TAG [--fs-volume DIR[,ro]]... [--fs-owner guest | host]]\n"
	      "                [--snapshot-key HEX]\n"
	      "       pupa-vmm --restore FILE [--snapshot-key HEX]\n"
	      "                [options but --kernel, --initrd, --cmdline, --boot-prop]\n"
	      "       pupa-vmm --help | --version\n"
	      "\n"
	      "Boot a Linux kernel in a KVM virtual machine.\n"
	      "\n"
	      "  --kernel PATH          bzImage (64-bit boot protocol) or ELF vmlinux (PVH entry)\n"
	      "  --initrd PATH          initial ramdisk\n"
	      "  --cmdline STRING       kernel command line (default \"" VMM_DEFAULT_CMDLINE "\");\n"
	      "                         \"" VMM_FIXED_CMDLINE "\" always goes first\n"
	      "  --memory MIB           guest memory in MiB, or with a G suffix (default 256)\n"
	      "  --cpus N               number of vCPUs, 1 to 32 (default 1)\n"
	      "  --serial stdio | none | FILE\n"
	      "                         where the COM1 console goes (default stdio; stdin\n"
	      "                         feeds it when it is a terminal, Ctrl-A x quits)\n"
	      "  --boot-prop KEY=VALUE  add a string property to /chosen/pupa in the boot\n"
	      "                         device tree (repeatable)\n"
	      "  --disk PATH,MODE[,serial=NAME]\n"
	      "                         a virtio-blk disk; MODE is rw, ro or volatile (or\n"
	      "                         ReadWrite, ReadOnly, VolatileWrite); the serial\n"
	      "                         (GET_ID) defaults to diskN (repeatable)\n"
	      "  --disk-slot NAME       an empty virtio-blk slot, filled later over the\n"
	      "                         control socket (repeatable)\n"
	      "  --vsock-cid CID        add virtio-vsock with this guest CID (3 or more)\n"
	      "  --vsock-uds PATH       its host side: connect to PATH and send CONNECT PORT;\n"
	      "                         guest connections to port P go to PATH_P\n"
	      "  --control PATH         JSON control socket (status, attach, stop, snapshot)\n"
	      "  --exit-record PATH     write the exit event there as pupa-vmm ends: why it\n"
	      "                         ended, one JSON line (created at the start)\n"
	      "  --attach-dir DIR       files under DIR may be attached by path over the\n"
	      "                         control socket; others only as a descriptor\n"
	      "                         (repeatable)\n"
	      "  --net slirp[,allow_host_loopback=true]\n"
	      "                         add virtio-net on a user-mode network (libslirp):\n"
	      "                         guest 10.0.2.15, gateway 10.0.2.2, DNS 10.0.2.3; the\n"
	      "                         gateway reaches the host's loopback only if allowed\n"
	      "  --publish [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]\n"
	      "                         forward a host port to the guest; HOSTIP defaults\n"
	      "                         to 127.0.0.1 (repeatable; needs --net)\n"
	      "  --fs TAG               add virtio-fs, mounted in the guest by TAG; its root\n"
	      "                         holds one folder per --fs-volume, named 0, 1, ...\n"
	      "  --fs-volume DIR[,ro]   share the host folder DIR (repeatable); ro refuses\n"
	      "                         every change on the host side\n"
	      "  --fs-owner guest | host\n"
	      "                         guest (default): files show the owner the guest sets\n"
	      "                         and chown changes nothing; host: the host's ids\n"
	      "  --snapshot-key HEX     64 hex digits naming what the VM is made of (kernel,\n"
	      "                         initramfs, ...): written into a snapshot, and a\n"
	      "                         restore refuses a file made under another key\n"
	      "  --restore FILE         resume the guest a \"snapshot\" request wrote to FILE\n"
	      "                         instead of booting; the rest of the machine (memory,\n"
	      "                         vCPUs, devices) must be given as it was\n"
	      "  --help                 print this help and exit\n"
	      "  --version              print the version and exit\n"
	      "\n"
	      "Exit status: 0 when the guest shuts down or reboots, otherwise the GuestError\n"
	      "value (3 BadConfig, 4 GuestInitializationFailure, 10 KernelLoadFailure, ...);\n"
	      "see pupa-vmm(1).\n", out);
}

static int bad(struct pupa_err *err, const char *fmt, const char *a, const char *b)
{
	return guest_err(err, GUEST_ERR_BAD_CONFIG, fmt, a, b);
}

static int parse_memory(const char *s, uint64_t *mib, struct pupa_err *err)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return bad(err, "--memory %s: not a number of MiB%s", s, "");
	if (*end == 'G' || *end == 'g') {
		if (v > VMM_MAX_MEMORY_MIB / 1024)
			v = VMM_MAX_MEMORY_MIB + 1ULL;
		else
			v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		end++;
	}
	if (*end)
		return bad(err, "--memory %s: unknown suffix (use MiB, or a G suffix)%s", s, "");
	if (v < VMM_MIN_MEMORY_MIB || v > VMM_MAX_MEMORY_MIB)
		return guest_err(err, GUEST_ERR_BAD_CONFIG,
				 "--memory %s: must be between %d MiB and %d MiB", s,
				 VMM_MIN_MEMORY_MIB, VMM_MAX_MEMORY_MIB);
	*mib = v;
	return 0;
}

static int parse_cpus(const char *s, unsigned int *cpus, struct pupa_err *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > VMM_MAX_CPUS)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "--cpus %s: must be a number from 1 to %d",
				 s, VMM_MAX_CPUS);
	*cpus = (unsigned int)v;
	return 0;
}

static int add_prop(struct vmm_config *cfg, const char *arg, struct pupa_err *err)
{
	const char *eq = strchr(arg, '=');
	char *copy;

	if (!eq || eq == arg)
		return bad(err, "--boot-prop %s: expected KEY=VALUE%s", arg, "");
	if (cfg->nr_props == VMM_MAX_BOOT_PROPS)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "--boot-prop %s: more than %d properties",
				 arg, VMM_MAX_BOOT_PROPS);
	copy = strdup(arg);
	if (!copy)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	copy[eq - arg] = '\0';
	cfg->prop_storage[cfg->nr_props] = copy;
	if (vm_fdt__check_prop_name(copy) < 0) {
		guest_err(err, GUEST_ERR_BAD_CONFIG,
			  "--boot-prop %s: key must be 1-31 characters of A-Z a-z 0-9 , . _ + ? # -",
			  arg);
		cfg->nr_props++;
		return -GUEST_ERR_BAD_CONFIG;
	}
	for (unsigned int i = 0; i < cfg->nr_props; i++) {
		if (strcmp(cfg->props[i].key, copy) == 0) {
			cfg->nr_props++;
			return bad(err, "--boot-prop %s: key '%s' given twice", arg, copy);
		}
	}
	cfg->props[cfg->nr_props].key = copy;
	cfg->props[cfg->nr_props].value = copy + (eq - arg) + 1;
	cfg->nr_props++;
	return 0;
}

/* PATH,MODE[,serial=NAME] for --disk; NAME for --disk-slot. */
static int add_disk(struct vmm_config *cfg, const char *arg, int slot, struct pupa_err *err)
{
	const char *flag = slot ? "--disk-slot" : "--disk";
	struct vmm_disk *d;
	char *copy, *mode, *opt;

	if (cfg->nr_disks == VMM_MAX_DISKS)
		return guest_err(err, GUEST_ERR_BAD_CONFIG, "%s %s: more than %d disks", flag, arg,
				 VMM_MAX_DISKS);
	d = &cfg->disks[cfg->nr_disks];
	memset(d, 0, sizeof(*d));
	if (slot) {
		if (!*arg || strlen(arg) > 20 || strchr(arg, ','))
			return bad(err, "--disk-slot %s: the name must be 1-20 characters without ','%s",
				   arg, "");
		snprintf(d->serial, sizeof(d->serial), "%s", arg);
		/* Not read-only: the guest reads VIRTIO_BLK_F_RO once, at probe,
		 * and a medium attached later may be writable. A read-only one
		 * has its writes refused by the device. */
		d->mode = BLOCK_MODE_READ_WRITE;
	} else {
		copy = strdup(arg);
		if (!copy)
			return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
		mode = strchr(copy, ',');
		if (!mode || mode == copy) {
			free(copy);
			return bad(err, "--disk %s: expected PATH,MODE[,serial=NAME] with MODE rw, ro or "
				   "volatile%s", arg, "");
		}
		*mode++ = '\0';
		opt = strchr(mode, ',');
		if (opt)
			*opt++ = '\0';
		if (blk_mode__parse(mode, &d->mode) < 0) {
			free(copy);
			return bad(err, "--disk %s: unknown mode (use rw, ro or volatile)%s", arg, "");
		}
		if (opt && (strncmp(opt, "serial=", 7) || !opt[7] || strlen(opt + 7) > 20)) {
			free(copy);
			return bad(err, "--disk %s: after the mode only serial=NAME (1-20 characters) may "
				   "follow%s", arg, "");
		}
		if (opt)
			snprintf(d->serial, sizeof(d->serial), "%s", opt + 7);
		else
			snprintf(d->serial, sizeof(d->serial), "disk%u", cfg->nr_disks);
		d->path = copy;	/* the path is the start of the copy */
	}
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		if (strcmp(cfg->disks[i].serial, d->serial) == 0) {
			free(d->path);
			d->path = NULL;
			return bad(err, "%s %s: serial given twice", flag, arg);
		}
	}
	cfg->nr_disks++;
	return 0;
}

static int parse_cid(const char *s, uint64_t *cid, struct pupa_err *err)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < 3 || v > 0xffffffffULL)
		return bad(err, "--vsock-cid %s: must be a number from 3 to 4294967295 (0-2 are "
			   "reserved)%s", s, "");
	*cid = v;
	return 0;
}

/* slirp[,allow_host_loopback=true|false] */
static int parse_net(struct vmm_config *cfg, const char *arg, struct pupa_err *err)
{
	const char *opt;

	if (strncmp(arg, "slirp", 5) != 0 || (arg[5] != '\0' && arg[5] != ','))
		return bad(err, "--net %s: the one network is slirp%s", arg, "");
	cfg->net = VMM_NET_SLIRP;
	opt = arg[5] ? arg + 6 : NULL;
	if (!opt)
		return 0;
	if (strcmp(opt, "allow_host_loopback=true") == 0)
		cfg->allow_host_loopback = 1;
	else if (strcmp(opt, "allow_host_loopback=false") != 0)
		return bad(err, "--net %s: the one option is allow_host_loopback=true or =false%s",
			   arg, "");
	return 0;
}

static int add_publish(struct vmm_config *cfg, const char *arg, struct pupa_err *err)
{
	char why[256];

	if (cfg->nr_publish == PUBLISH_MAX)
		return bad(err, "--publish %s: more than %s", arg, "32");
	if (publish_parse(arg, &cfg->publish[cfg->nr_publish], why, sizeof(why)) < 0)
		return bad(err, "--publish %s%s", why, "");
	cfg->nr_publish++;
	return 0;
}

/* DIR[,ro|,rw]: the folder must exist now (it is opened before the guest runs). */
static int add_volume(struct vmm_config *cfg, const char *arg, struct pupa_err *err)
{
	char *copy, *comma;
	int ro = 0;

	if (cfg->nr_volumes == VMM_MAX_VOLUMES)
		return bad(err, "--fs-volume %s: more than %s volumes", arg, "64");
	copy = strdup(arg);
	if (!copy)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	comma = strrchr(copy, ',');
	if (comma && (strcmp(comma, ",ro") == 0 || strcmp(comma, ",rw") == 0)) {
		ro = comma[1] == 'r' && comma[2] == 'o';
		*comma = '\0';
	}
	cfg->volume_storage[cfg->nr_volumes] = copy;
	if (copy[0] != '/')
		return bad(err, "--fs-volume %s: the folder must be an absolute path%s", arg, "");
	cfg->volumes[cfg->nr_volumes] = copy;
	cfg->volume_ro[cfg->nr_volumes++] = ro;
	return 0;
}

static int check_socket_path(const char *flag, const char *path, struct pupa_err *err)
{
	/* sun_path holds 108 bytes; vsock adds _PORT (up to 11) to its path. */
	if (!*path || strlen(path) > 90)
		return guest_err(err, GUEST_ERR_BAD_CONFIG,
				 "%s %s: a socket path must be 1-90 characters", flag, path);
	return 0;
}

enum { OPT_KERNEL = 1000, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_CPUS, OPT_SERIAL,
       OPT_BOOT_PROP, OPT_HELP, OPT_VERSION, OPT_DISK, OPT_DISK_SLOT, OPT_VSOCK_CID,
       OPT_VSOCK_UDS, OPT_CONTROL, OPT_ATTACH_DIR, OPT_NET, OPT_PUBLISH, OPT_FS,
       OPT_FS_VOLUME, OPT_FS_OWNER, OPT_RESTORE, OPT_SNAPSHOT_KEY,
       OPT_EXIT_RECORD };

static const struct option options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "boot-prop", required_argument, NULL, OPT_BOOT_PROP },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "disk-slot", required_argument, NULL, OPT_DISK_SLOT },
	{ "vsock-cid", required_argument, NULL, OPT_VSOCK_CID },
	{ "vsock-uds", required_argument, NULL, OPT_VSOCK_UDS },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "exit-record", required_argument, NULL, OPT_EXIT_RECORD },
	{ "attach-dir", required_argument, NULL, OPT_ATTACH_DIR },
	{ "net", required_argument, NULL, OPT_NET },
	{ "publish", required_argument, NULL, OPT_PUBLISH },
	{ "fs", required_argument, NULL, OPT_FS },
	{ "fs-volume", required_argument, NULL, OPT_FS_VOLUME },
	{ "fs-owner", required_argument, NULL, OPT_FS_OWNER },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "snapshot-key", required_argument, NULL, OPT_SNAPSHOT_KEY },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* 64 hex digits: what the snapshot is of, as its maker computed it. */
static int parse_key(const char *s, uint8_t key[VMM_SNAPSHOT_KEY_LEN], struct pupa_err *err)
{
	if (strlen(s) != 2 * VMM_SNAPSHOT_KEY_LEN)
		return bad(err, "--snapshot-key %s: %s", s, "64 hex digits");
	for (unsigned int i = 0; i < VMM_SNAPSHOT_KEY_LEN; i++) {
		unsigned int v;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return bad(err, "--snapshot-key %s: %s", s, "64 hex digits");
		key[i] = (uint8_t)v;
	}
	return 0;
}

int vmm_config__parse(struct vmm_config *cfg, int argc, char *const argv[],
		      struct pupa_err *err)
{
	struct pupa_opt_bad opt_bad;
	int c, ret = 0;
	size_t len;

	memset(cfg, 0, sizeof(*cfg));
	cfg->memory_mib = VMM_DEFAULT_MEMORY_MIB;
	cfg->cpus = 1;
	cfg->serial = "stdio";
	cfg->cmdline = VMM_DEFAULT_CMDLINE;

	optind = 0;	/* GNU: rescan from the start, so parsing can run twice */
	/* Whole option names only: "--init" is not "--initrd". */
	while (ret == 0 && (c = pupa_getopt(argc, argv, "", options, &opt_bad)) != -1) {
		switch (c) {
		case OPT_KERNEL: cfg->kernel = optarg; break;
		case OPT_INITRD: cfg->initrd = optarg; break;
		case OPT_CMDLINE: cfg->cmdline = optarg; break;
		case OPT_MEMORY: ret = parse_memory(optarg, &cfg->memory_mib, err); break;
		case OPT_CPUS: ret = parse_cpus(optarg, &cfg->cpus, err); break;
		case OPT_SERIAL:
			if (!*optarg)
				ret = bad(err, "--serial: empty; use stdio, none or a file path%s%s", "", "");
			cfg->serial = optarg;
			break;
		case OPT_BOOT_PROP: ret = add_prop(cfg, optarg, err); break;
		case OPT_DISK: ret = add_disk(cfg, optarg, 0, err); break;
		case OPT_DISK_SLOT: ret = add_disk(cfg, optarg, 1, err); break;
		case OPT_VSOCK_CID: ret = parse_cid(optarg, &cfg->vsock_cid, err); break;
		case OPT_VSOCK_UDS: ret = check_socket_path("--vsock-uds", optarg, err); cfg->vsock_uds = optarg; break;
		case OPT_CONTROL: ret = check_socket_path("--control", optarg, err); cfg->control = optarg; break;
		case OPT_EXIT_RECORD:
			if (!*optarg)
				ret = bad(err, "--exit-record: empty; give a file path%s%s", "", "");
			cfg->exit_record = optarg;
			break;
		case OPT_ATTACH_DIR:
			if (cfg->nr_attach_dirs == VMM_MAX_ATTACH_DIRS)
				ret = bad(err, "--attach-dir %s: more than %s", optarg, "8");
			else
				cfg->attach_dirs[cfg->nr_attach_dirs++] = optarg;
			break;
		case OPT_NET: ret = parse_net(cfg, optarg, err); break;
		case OPT_PUBLISH: ret = add_publish(cfg, optarg, err); break;
		case OPT_FS:
			if (!*optarg || strlen(optarg) > 36)
				ret = bad(err, "--fs %s: the tag must be 1-36 bytes%s", optarg, "");
			cfg->fs_tag = optarg;
			break;
		case OPT_FS_VOLUME: ret = add_volume(cfg, optarg, err); break;
		case OPT_FS_OWNER:
			if (strcmp(optarg, "host") != 0 && strcmp(optarg, "guest") != 0)
				ret = bad(err, "--fs-owner %s: use guest or host%s", optarg, "");
			cfg->fs_owner_host = strcmp(optarg, "host") == 0;
			break;
		case OPT_RESTORE: cfg->restore = optarg; break;
		case OPT_SNAPSHOT_KEY: ret = parse_key(optarg, cfg->snapshot_key, err); break;
		case OPT_HELP: cfg->action = VMM_HELP; return 0;
		case OPT_VERSION: cfg->action = VMM_VERSION; return 0;
		case PUPA_OPT_NO_VALUE:
			ret = bad(err, "option '%s' needs a value; see '%s --help'", opt_bad.word,
				  "pupa-vmm");
			break;
		case PUPA_OPT_HAS_VALUE:
			ret = bad(err, "option '%s' takes no value; see '%s --help'", opt_bad.word,
				  "pupa-vmm");
			break;
		default:
			ret = bad(err, "unknown option '%s'; see '%s --help'", opt_bad.word, "pupa-vmm");
			break;
		}
	}
	if (ret < 0)
		return ret;
	if (optind < argc)
		return bad(err, "unexpected argument '%s'%s", argv[optind], "");
	if (cfg->restore && (cfg->kernel || cfg->initrd || cfg->nr_props ||
			     strcmp(cfg->cmdline, VMM_DEFAULT_CMDLINE) != 0))
		return bad(err, "--restore %s: the kernel, initrd, command line and boot properties "
			   "are the snapshot's%s", cfg->restore, "");
	if (!cfg->kernel && !cfg->restore)
		return bad(err, "no kernel given: use --kernel PATH (or --restore FILE)%s%s", "", "");
	if (!!cfg->vsock_cid != !!cfg->vsock_uds)
		return bad(err, "--vsock-cid and --vsock-uds go together%s%s", "", "");
	if (cfg->nr_publish && !cfg->net)
		return bad(err, "--publish needs a network: add --net slirp%s%s", "", "");
	if (cfg->nr_volumes && !cfg->fs_tag)
		return bad(err, "--fs-volume needs the device: add --fs TAG%s%s", "", "");

	len = strlen(VMM_FIXED_CMDLINE) + 1 + strlen(cfg->cmdline) + 1;
	cfg->full_cmdline = malloc(len);
	if (!cfg->full_cmdline)
		return guest_err(err, GUEST_ERR_INTERNAL, "out of memory");
	snprintf(cfg->full_cmdline, len, "%s %s", VMM_FIXED_CMDLINE, cfg->cmdline);
	return 0;
}

void vmm_config__free(struct vmm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_props; i++)
		free(cfg->prop_storage[i]);
	cfg->nr_props = 0;
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		free(cfg->disks[i].path);
	cfg->nr_disks = 0;
	for (unsigned int i = 0; i < VMM_MAX_VOLUMES; i++) {
		free(cfg->volume_storage[i]);
		cfg->volume_storage[i] = NULL;
	}
	cfg->nr_volumes = 0;
	free(cfg->full_cmdline);
	cfg->full_cmdline = NULL;
}
